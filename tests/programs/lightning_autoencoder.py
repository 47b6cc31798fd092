"""A Lightning program (LightningModule + LightningDataModule + callbacks); ember runs it with ember.train."""
# compare: rtol=5e-4, atol=5e-5
import logging

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from _common import same_init

logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)


class LitAutoEncoder(L.LightningModule):
    def __init__(self, lr=1e-2):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 16))

    def forward(self, x):
        return self.encoder(x)

    def training_step(self, batch, batch_idx):
        x, _ = batch
        x_hat = self.decoder(self.encoder(x))
        loss = F.mse_loss(x_hat, x)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, _ = batch
        val_loss = F.mse_loss(self.decoder(self.encoder(x)), x)
        self.log("val_loss", val_loss, prog_bar=True)

    def test_step(self, batch, batch_idx):
        x, _ = batch
        self.log("test_loss", F.mse_loss(self.decoder(self.encoder(x)), x))

    def configure_optimizers(self):
        optimizer = optim.Adam(self.parameters(), lr=self.hparams.lr)
        scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


class SignalDataModule(L.LightningDataModule):
    def __init__(self, batch_size=16):
        super().__init__()
        self.batch_size = batch_size

    def setup(self, stage):
        rng = np.random.default_rng(0)
        basis = rng.normal(size=(3, 16))
        codes = rng.normal(size=(96, 3))
        x = torch.tensor(codes @ basis, dtype=torch.float32)
        ds = TensorDataset(x, torch.zeros(96))
        self.train_set = torch.utils.data.Subset(ds, range(64))
        self.val_set = torch.utils.data.Subset(ds, range(64, 80))
        self.test_set = torch.utils.data.Subset(ds, range(80, 96))

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.test_set, batch_size=self.batch_size)


class PrintCallback(L.Callback):
    def on_train_start(self, trainer, pl_module):
        print("Training is starting")

    def on_validation_epoch_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            m = trainer.callback_metrics
            print(f"epoch {trainer.current_epoch} val_loss {float(m['val_loss']):.5f}")

    def on_train_end(self, trainer, pl_module):
        print("Training is ending")


L.seed_everything(42, verbose=False)
model = LitAutoEncoder()
same_init(model)
dm = SignalDataModule()
checkpoint = ModelCheckpoint(monitor="val_loss", mode="min", save_top_k=1)
trainer = L.Trainer(max_epochs=4, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                    enable_model_summary=False,
                    callbacks=[PrintCallback(), EarlyStopping(monitor="val_loss", patience=3), checkpoint])
trainer.fit(model, datamodule=dm)
print("global step:", trainer.global_step, "epochs:", trainer.current_epoch)
print("best score:", f"{float(checkpoint.best_model_score):.5f}")
print("lr after:", [f"{g['lr']:.5f}" for g in trainer.optimizers[0].param_groups])
result = trainer.test(model, datamodule=dm, verbose=False)
print("test:", {k: f"{v:.5f}" for k, v in result[0].items()})
best = LitAutoEncoder.load_from_checkpoint(checkpoint.best_model_path)
print("hparams:", dict(best.hparams))
with torch.no_grad():
    print("embedding:", [f"{v:.4f}" for v in best(torch.ones(1, 16))[0].tolist()])

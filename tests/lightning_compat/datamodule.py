"""A DataModule (prepare_data, setup per stage, the four *_dataloader methods, save_hyperparameters)
with a module using save_hyperparameters; EarlyStopping on val_loss (a min_delta no epoch can meet,
so the stopping epoch does not depend on the numbers), ModelCheckpoint with a filename template;
then load_from_checkpoint (saved and overridden hyperparameters), trainer.test with the datamodule
and ckpt_path="best", trainer.predict with the datamodule."""
import os

from ._common import blobs, files, loader, num, quiet_trainer, set_weights


def datamodule_program(lib, tmp_path):
    torch = lib.torch
    nn = torch.nn
    F = nn.functional
    events = []

    class Blobs(lib.DataModule):
        def __init__(self, batch_size=16, n=160):
            super().__init__()
            self.save_hyperparameters()

        def prepare_data(self):
            events.append("dm.prepare_data")

        def setup(self, stage):
            events.append(f"dm.setup:{getattr(stage, 'value', stage)}")
            x, y = blobs(self.hparams.n, d=6, k=4, seed=7)
            self.parts = {"train": (x[:96], y[:96]), "val": (x[96:128], y[96:128]), "test": (x[128:], y[128:])}

        def teardown(self, stage):
            events.append(f"dm.teardown:{getattr(stage, 'value', stage)}")

        def train_dataloader(self):
            events.append("dm.train_dataloader")
            return loader(lib, *self.parts["train"], batch_size=self.hparams.batch_size)

        def val_dataloader(self):
            events.append("dm.val_dataloader")
            return loader(lib, *self.parts["val"], batch_size=self.hparams.batch_size)

        def test_dataloader(self):
            events.append("dm.test_dataloader")
            return loader(lib, *self.parts["test"], batch_size=self.hparams.batch_size)

        def predict_dataloader(self):
            events.append("dm.predict_dataloader")
            return loader(lib, *self.parts["test"], batch_size=8)

    class Net(lib.Module):
        def __init__(self, n_in, n_classes, hidden=12, lr=0.05, activation="relu"):
            super().__init__()
            self.save_hyperparameters()
            act = nn.ReLU() if activation == "relu" else nn.Tanh()
            self.net = nn.Sequential(nn.Linear(n_in, hidden), act, nn.Linear(hidden, n_classes))

        def forward(self, x):
            return self.net(x)

        def setup(self, stage):
            events.append(f"m.setup:{getattr(stage, 'value', stage)}")

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self(x), y)
            self.log("train_loss", loss, on_epoch=True)
            return {"loss": loss, "n": len(y)}

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", F.cross_entropy(self(x), y), prog_bar=True)

        def test_step(self, batch, batch_idx):
            x, y = batch
            logits = self(x)
            self.log("test_loss", F.cross_entropy(logits, y))
            self.log("test_correct", (logits.argmax(dim=1) == y).float().sum(), reduce_fx="sum")

        def predict_step(self, batch, batch_idx, dataloader_idx=0):
            return self(batch[0]).softmax(dim=-1)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    dm = Blobs(batch_size=16)
    model = Net(6, 4, hidden=12)
    set_weights(model, lib, seed=8)
    stop = lib.callbacks.EarlyStopping(monitor="val_loss", min_delta=10.0, patience=2)
    ckpt = lib.callbacks.ModelCheckpoint(monitor="val_loss", filename="best-{epoch:02d}-{step}", save_top_k=1)
    logger = lib.loggers.CSVLogger(str(tmp_path), name="dm", version="run1")
    trainer = quiet_trainer(lib, tmp_path, max_epochs=10, callbacks=[stop, ckpt], logger=logger)
    trainer.fit(model, datamodule=dm)
    fit_events = list(events)
    del events[:]
    best = ckpt.best_model_path

    loaded = Net.load_from_checkpoint(best)
    overridden = Net.load_from_checkpoint(best, lr=0.5, activation="tanh")
    tested_best = trainer.test(datamodule=dm, ckpt_path="best", verbose=False)
    tested_loaded = trainer.test(loaded, datamodule=dm, verbose=False)
    preds = trainer.predict(model, datamodule=dm)
    eval_events = list(events)

    hparams_file = os.path.join(logger.log_dir, "hparams.yaml")
    with open(hparams_file) as f:
        hparams_lines = sorted(line.split(":")[0].strip('"\'') for line in f if line.strip())
    structure = {
        "fit_events": fit_events, "eval_events": eval_events,
        "stopped_epoch": stop.stopped_epoch, "wait_count": stop.wait_count,
        "current_epoch": trainer.current_epoch, "global_step": trainer.global_step,
        "checkpoints": files(os.path.join(logger.log_dir, "checkpoints")),
        "best_model": os.path.basename(best), "log_dir": os.path.relpath(logger.log_dir, str(tmp_path)),
        "model_hparams": dict(model.hparams), "dm_hparams": dict(dm.hparams),
        "loaded_hparams": dict(loaded.hparams), "overridden_hparams": dict(overridden.hparams),
        "overridden_act": type(overridden.net[1]).__name__,
        "hparams_yaml_keys": hparams_lines,
        "test_keys": [sorted(d) for d in tested_best],
        "same_test_results": [sorted(d.items()) for d in tested_best] == [sorted(d.items()) for d in tested_loaded],
        "predictions": [list(p.shape) for p in preds],
    }
    numbers = {
        "best_model_score": num(ckpt.best_model_score),
        "test_loss": num(tested_best[0]["test_loss"]), "test_correct": num(tested_best[0]["test_correct"]),
        "prob_sum": float(sum(float(p.sum()) for p in preds)),
    }
    return {"structure": structure, "numbers": numbers}

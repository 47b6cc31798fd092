"""The Trainer under strategy="ddp" (tests/test_distributed.py runs it on 1 and 2 processes).

    trainer_ddp.py OUT MODE [--devices N] [--ckpt PATH]

MODE: ``full`` trains up to 12 epochs with EarlyStopping + ModelCheckpoint; ``stop`` is the same run,
but rank 0 receives SIGTERM after global step 7 (every rank must stop there, rank 0 writes last.ckpt);
``resume`` continues from --ckpt. The global batch is 16 samples whatever the number of processes.
Rank 0 writes OUT/result.json and OUT/weights.ember.
"""
import json
import os
import signal
import sys

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.train import Callback, Trainer, TrainModule
from ember.train.callbacks import EarlyStopping, ModelCheckpoint
from ember.utils.data import DataLoader, TensorDataset

out, mode = sys.argv[1], sys.argv[2]
devices = int(sys.argv[sys.argv.index("--devices") + 1]) if "--devices" in sys.argv else \
    int(os.environ.get("PMI_SIZE", "1"))
ckpt = sys.argv[sys.argv.index("--ckpt") + 1] if "--ckpt" in sys.argv else None
GLOBAL_BATCH = 16


class Net(TrainModule):
    def __init__(self):
        super().__init__()
        ember.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("train_loss", loss, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y), sync_dist=True)
        if batch_idx == 0:
            g = self.all_gather(ember.tensor([float(self.global_rank)]))
            assert g.shape == ((self.trainer.world_size, 1) if self.trainer.world_size > 1 else (1,)), g.shape
            assert g.flatten().tolist() == [float(r) for r in range(self.trainer.world_size)]

    def configure_optimizers(self):
        opt = ember.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        return {"optimizer": opt, "lr_scheduler": ember.optim.lr_scheduler.StepLR(opt, 3, gamma=0.5)}


class SigtermAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == self.step and trainer.global_rank == 0:
            os.kill(os.getpid(), signal.SIGTERM)  # only rank 0 gets it: all ranks must still stop here


rng = np.random.default_rng(0)
X = rng.standard_normal((64, 4)).astype(np.float32)
Y = (X.sum(1, keepdims=True) * 0.5 + 0.3 * rng.standard_normal((64, 1))).astype(np.float32)
train = DataLoader(TensorDataset(ember.tensor(X), ember.tensor(Y)), batch_size=GLOBAL_BATCH // devices, shuffle=True)
val = DataLoader(TensorDataset(ember.tensor(X[:32] * 0.9), ember.tensor(Y[:32])), batch_size=8 // devices)
callbacks = [EarlyStopping(monitor="val_loss", patience=2, min_delta=0.02),
             ModelCheckpoint(dirpath=os.path.join(out, "ckpts"), monitor="val_loss", save_top_k=2, save_last=True)]
if mode == "stop":
    callbacks.append(SigtermAt(7))
trainer = Trainer(strategy="ddp", accelerator="cpu", devices=devices, num_nodes=1, max_epochs=12,
                  callbacks=callbacks, default_root_dir=out, enable_progress_bar=False, enable_model_summary=False,
                  num_sanity_val_steps=0)
assert trainer.world_size == devices and trainer.is_global_zero == (trainer.global_rank == 0)
model = Net()
trainer.fit(model, train, val, ckpt_path=ckpt)
trainer.strategy.barrier()
if trainer.is_global_zero:
    ember.save(model.state_dict(), os.path.join(out, "weights.ember"))
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump({"epoch": trainer.current_epoch, "global_step": trainer.global_step,
                   "stop_reason": getattr(trainer.state, "stop_reason", None),
                   "files": sorted(os.listdir(os.path.join(out, "ckpts"))),
                   "best": os.path.basename(callbacks[1].best_model_path or ""),
                   "world": trainer.world_size}, f)
print(f"TRAINER DONE {trainer.global_rank}", flush=True)

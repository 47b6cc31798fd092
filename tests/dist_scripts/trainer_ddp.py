"""The Trainer under strategy="ddp" (tests/test_distributed.py runs it on 1 and 2 processes).

    trainer_ddp.py OUT MODE [--devices N] [--ckpt PATH] [options]

MODE: ``full`` trains up to 12 epochs with EarlyStopping + ModelCheckpoint; ``stop`` is the same run,
but rank 0 receives SIGTERM after global step 7 (every rank must stop there, rank 0 writes last.ckpt);
``resume`` continues from --ckpt. The global batch is 16 samples whatever the number of processes.
Rank 0 writes OUT/result.json and OUT/weights.ember. Options (tests/test_distributed.py):

* ``--step-ckpts``: a second ModelCheckpoint writes OUT/steps/*.ckpt every 2 training steps;
* ``--kill-at K``: rank 0 kills itself with SIGKILL after global step K (the whole job dies);
* ``--sleep S``: every batch sleeps S seconds and rank r prints ``STEP r k`` (SIGTERM tests);
* ``--rank1-stop-at K``: a callback on rank 1 only sets ``trainer.should_stop`` after global step K;
* ``--raise-at K``: ``training_step`` raises on rank 1 at global step K;
* ``--bn``: the model has a (plain) BatchNorm1d; each validation records whether every rank's running
  statistics are equal as the first validation step starts (into result.json, ``bn_equal``);
* ``--progress-bar``: a TQDMProgressBar passed in callbacks, and the model summary;
* ``--max-epochs E`` (default 12).
"""
import json
import os
import signal
import sys
import time

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


def opt(name, cast=int, default=None):
    return cast(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


kill_at, sleep, rank1_stop_at, raise_at = opt("--kill-at"), opt("--sleep", float), opt("--rank1-stop-at"), \
    opt("--raise-at")
bn, max_epochs, bar = "--bn" in sys.argv, opt("--max-epochs", default=12), "--progress-bar" in sys.argv
GLOBAL_BATCH = 16


class Net(TrainModule):
    def __init__(self):
        super().__init__()
        ember.manual_seed(0)
        hidden = [nn.Linear(4, 8), nn.BatchNorm1d(8)] if bn else [nn.Linear(4, 8)]
        self.net = nn.Sequential(*hidden, nn.Tanh(), nn.Linear(8, 1))
        self.bn_equal = []

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        if raise_at is not None and self.global_step == raise_at and self.global_rank == 1:
            print(f"FAULT_AT {time.time()}", flush=True)
            raise ValueError(f"training_step failed on purpose at step {raise_at}")
        loss = F.mse_loss(self(x), y)
        self.log("train_loss", loss, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y), sync_dist=True)
        if batch_idx == 0 and bn:
            stats = self.all_gather(self.net[1].running_mean)
            self.bn_equal.append(all(bool((stats[k] == stats[0]).all()) for k in range(stats.shape[0])))
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


class Faults(Callback):
    """--kill-at, --sleep, --rank1-stop-at."""

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        k, r = trainer.global_step, trainer.global_rank
        if sleep is not None:
            print(f"STEP {r} {k}", flush=True)
            time.sleep(sleep)
        if kill_at is not None and k == kill_at and r == 0:
            print(f"KILLED AT {k}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        if rank1_stop_at is not None and k == rank1_stop_at and r == 1:
            trainer.should_stop = True  # rank 1 only: every rank must stop after this step


rng = np.random.default_rng(0)
X = rng.standard_normal((64, 4)).astype(np.float32)
Y = (X.sum(1, keepdims=True) * 0.5 + 0.3 * rng.standard_normal((64, 1))).astype(np.float32)
train = DataLoader(TensorDataset(ember.tensor(X), ember.tensor(Y)), batch_size=GLOBAL_BATCH // devices, shuffle=True)
val = DataLoader(TensorDataset(ember.tensor(X[:32] * 0.9), ember.tensor(Y[:32])), batch_size=8 // devices)
callbacks = [EarlyStopping(monitor="val_loss", patience=2, min_delta=0.02),
             ModelCheckpoint(dirpath=os.path.join(out, "ckpts"), monitor="val_loss", save_top_k=2, save_last=True)]
if mode == "stop":
    callbacks.append(SigtermAt(7))
if "--step-ckpts" in sys.argv:
    callbacks.append(ModelCheckpoint(dirpath=os.path.join(out, "steps"), every_n_train_steps=2, save_top_k=-1))
callbacks.append(Faults())
if bar:  # a progress bar passed by the user (the Trainer adds its own on rank 0 only)
    from ember.train.callbacks import TQDMProgressBar

    callbacks.append(TQDMProgressBar())
trainer = Trainer(strategy="ddp", accelerator="cpu", devices=devices, num_nodes=1, max_epochs=max_epochs,
                  callbacks=callbacks, default_root_dir=out, enable_progress_bar=bar, enable_model_summary=bar,
                  num_sanity_val_steps=0)
assert trainer.world_size == devices and trainer.is_global_zero == (trainer.global_rank == 0)
assert trainer.local_rank == trainer.global_rank and trainer.node_rank == 0  # one machine
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
                   "world": trainer.world_size, "bn_equal": model.bn_equal,
                   "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()}}, f)
print(f"TRAINER DONE {trainer.global_rank} step {trainer.global_step}", flush=True)

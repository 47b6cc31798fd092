"""Shared pieces of the Lightning-compatibility programs.

A program is written once against a "library pair" ``lib`` (see :func:`ember_lib` and
:func:`lightning_lib`): ``lib.torch`` is ``torch`` or ``ember``; ``lib.Module``, ``lib.DataModule``,
``lib.Trainer``, ``lib.Callback``, ``lib.callbacks`` and ``lib.loggers`` are Lightning's or ember's.
Only names both libraries have are used, so each program is what a user porting a LightningModule
would write.
"""
from __future__ import annotations

import csv
import math
import os
import types

import numpy as np

# callback hooks both libraries have (Lightning 2.x ``Callback`` and ``ember.train.Callback``)
CALLBACK_HOOKS = (
    "setup", "teardown", "on_fit_start", "on_fit_end", "on_sanity_check_start", "on_sanity_check_end",
    "on_train_start", "on_train_end", "on_train_epoch_start", "on_train_epoch_end",
    "on_train_batch_start", "on_train_batch_end",
    "on_validation_start", "on_validation_end", "on_validation_epoch_start", "on_validation_epoch_end",
    "on_validation_batch_start", "on_validation_batch_end",
    "on_test_start", "on_test_end", "on_test_epoch_start", "on_test_epoch_end",
    "on_test_batch_start", "on_test_batch_end",
    "on_predict_start", "on_predict_end", "on_predict_epoch_start", "on_predict_epoch_end",
    "on_predict_batch_start", "on_predict_batch_end",
    "on_before_backward", "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad",
    "on_save_checkpoint", "on_load_checkpoint", "on_exception",
)

# module hooks both have (LightningModule's batch-transfer hooks have no ember counterpart)
MODULE_HOOKS = tuple(h for h in CALLBACK_HOOKS if h not in ("on_sanity_check_start", "on_sanity_check_end")) + (
    "on_validation_model_eval", "on_validation_model_train", "on_test_model_eval", "on_test_model_train",
    "on_predict_model_eval", "prepare_data", "configure_callbacks",
)


def ember_lib():
    import ember
    import ember.train as et
    from ember.train import callbacks, loggers

    return types.SimpleNamespace(name="ember", torch=ember, Module=et.TrainModule, DataModule=et.DataModule,
                                 Trainer=et.Trainer, Callback=et.Callback, callbacks=callbacks, loggers=loggers)


def lightning_lib():
    import lightning.pytorch as L
    import torch
    from lightning.pytorch import callbacks, loggers

    return types.SimpleNamespace(name="lightning", torch=torch, Module=L.LightningModule,
                                 DataModule=L.LightningDataModule, Trainer=L.Trainer, Callback=L.Callback,
                                 callbacks=callbacks, loggers=loggers)


def quiet_trainer(lib, tmp_path, **kwargs):
    """A Trainer on one CPU device without progress bar or summary (the programs compare other things)."""
    kwargs.setdefault("enable_progress_bar", False)
    kwargs.setdefault("enable_model_summary", False)
    kwargs.setdefault("default_root_dir", str(tmp_path))
    return lib.Trainer(accelerator="cpu", devices=1, **kwargs)


def recorder(lib, calls, hooks=CALLBACK_HOOKS, prefix=""):
    """A Callback appending ``prefix + hook`` to ``calls`` for each hook (recorded on entry)."""

    def make(name):
        def hook(self, trainer, pl_module, *args, **kwargs):
            calls.append(prefix + name)
        hook.__name__ = name
        return hook

    cls = type("Recorder", (lib.Callback,), {h: make(h) for h in hooks})
    return cls()


def recording_module(lib, calls, prefix="m:"):
    """A base class (subclass of ``lib.Module``) whose hooks also append ``prefix + hook`` to ``calls``."""

    def make(name):
        def hook(self, *args, **kwargs):
            calls.append(prefix + name)
            return getattr(super(cls, self), name)(*args, **kwargs)
        hook.__name__ = name
        return hook

    cls = type("RecordingModule", (lib.Module,), {h: make(h) for h in MODULE_HOOKS})
    return cls


def set_weights(model, lib, seed=0, scale=0.3):
    """Give ``model`` the same initial weights in both libraries (drawn from NumPy by name)."""
    rng = np.random.default_rng(seed)
    state = {}
    for k, v in sorted(model.state_dict().items()):
        shape = tuple(v.shape)
        if k.endswith("bias"):
            state[k] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            state[k] = (scale * rng.standard_normal(shape) / math.sqrt(fan_in)).astype(np.float32)
    model.load_state_dict({k: lib.torch.from_numpy(a) for k, a in state.items()})


def blobs(n, d=8, k=3, seed=0, spread=2.0):
    """A learnable classification set: NumPy arrays (float32 features, int64 labels); a smaller
    ``spread`` of the class centres makes the classes overlap."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(k, d))
    y = rng.integers(0, k, size=n)
    x = centres[y] + rng.normal(size=(n, d))
    return x.astype(np.float32), y.astype(np.int64)


def loader(lib, x, y, batch_size, shuffle=False):
    t = lib.torch
    ds = t.utils.data.TensorDataset(t.from_numpy(x), t.from_numpy(y))
    return t.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle)


def num(v) -> float:
    """A logged value (tensor or number) as a Python float."""
    return float(v.item()) if hasattr(v, "item") else float(v)


def metrics_csv(log_dir):
    """``metrics.csv`` as (sorted columns, [(step, epoch, sorted non-empty metric keys) per row])."""
    with open(os.path.join(log_dir, "metrics.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    cols = sorted(rows[0].keys()) if rows else []
    summary = []
    for r in rows:
        keys = sorted(k for k, v in r.items() if v not in ("", None) and k not in ("step", "epoch"))
        epoch = r.get("epoch")
        summary.append([int(float(r["step"])), int(float(epoch)) if epoch not in ("", None) else None, keys])
    return cols, summary


def files(path, ext=".ckpt"):
    return sorted(f for f in os.listdir(path) if f.endswith(ext)) if os.path.isdir(path) else []


def lrs(optimizer):
    return [round(float(g["lr"]), 10) for g in optimizer.param_groups]


def compress(calls):
    """Run-length encode consecutive repeats of a hook list (``"name x3"``), for readable diffs."""
    out = []
    for c in calls:
        if out and out[-1][0] == c:
            out[-1][1] += 1
        else:
            out.append([c, 1])
    return [c if n == 1 else f"{c} x{n}" for c, n in out]

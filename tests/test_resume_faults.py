"""Resume after a fault is exact: an exception (or Ctrl-C) raised at any hook of a fit, inside
training_step, the optimizer step, a callback or a DataLoader worker leaves checkpoints (on-exception,
last, periodic) from which a resumed run ends with the same weights, bit for bit, as a run that was
never interrupted. The batch that raised is trained once: not skipped, not twice."""

import os
import random

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.train import Callback, Trainer, TrainModule
from ember.train.callbacks import EarlyStopping, ModelCheckpoint, OnExceptionCheckpoint
from ember.utils.data import DataLoader, Dataset

# a resumed run writes its checkpoints to the folder of the run that crashed
pytestmark = pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")

# where the fault fires: {"hook": name, "at": n-th call (1-based), "exc": class}; None = no fault
FAULT: dict = {"hook": None}
CALLS: dict = {}


class Injected(RuntimeError):
    pass


def tick(hook):
    CALLS[hook] = CALLS.get(hook, 0) + 1
    if FAULT["hook"] == hook and CALLS[hook] == FAULT["at"]:
        FAULT["hook"] = None  # once
        raise FAULT["exc"](f"injected at {hook} #{CALLS[hook]}")


class Data(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        tick("__getitem__")  # in a worker process the count is the worker's own
        return ember.tensor(self.x[i]), ember.tensor(self.y[i])


MODULE_HOOKS = ("on_fit_start", "on_train_start", "on_train_epoch_start", "on_train_batch_start",
                "on_before_zero_grad", "on_before_backward", "on_after_backward", "on_before_optimizer_step",
                "on_train_batch_end", "on_validation_start", "on_validation_epoch_start",
                "on_validation_batch_start", "on_validation_batch_end", "on_validation_epoch_end",
                "on_validation_end", "on_train_epoch_end", "on_train_end", "on_fit_end")


class Net(TrainModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.25), nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self(x), y)
        tick("training_step")  # after the forward pass (dropout drew random numbers)
        self.log("train_loss", loss, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        tick("validation_step")
        self.log("val_loss", F.mse_loss(self(x), y))

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        tick("optimizer_step")
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)

    def lr_scheduler_step(self, scheduler, metric):
        tick("lr_scheduler_step")
        super().lr_scheduler_step(scheduler, metric)

    def configure_optimizers(self):
        opt = ember.optim.Adam(self.parameters(), lr=0.02)
        sched = ember.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.9)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _module_hook(name):
    def hook(self, *args):
        tick("module." + name)
    return hook


for _n in MODULE_HOOKS:
    setattr(Net, _n, _module_hook(_n))


class Probe(Callback):
    """Fires tick("cb.<hook>") at every training hook."""


def _cb_hook(name):
    def hook(self, trainer, module, *args):
        tick("cb." + name)
    return hook


for _n in MODULE_HOOKS + ("on_sanity_check_start", "on_sanity_check_end"):
    setattr(Probe, _n, _cb_hook(_n))

BATCHES = 7  # per epoch (28 samples, batch 4)
EPOCHS = 3


def fit(root, ckpt_path=None, num_workers=0, fault=None, every_n=None):
    FAULT.update(fault or {"hook": None})
    CALLS.clear()
    ember.manual_seed(7)
    random.seed(7)
    np.random.seed(7)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((36, 4)).astype(np.float32)
    y = np.sin(x.sum(1, keepdims=True)).astype(np.float32)
    kw = {"num_workers": num_workers, "persistent_workers": num_workers > 0}
    train = DataLoader(Data(x[:28], y[:28]), batch_size=4, shuffle=True, **kw)
    val = DataLoader(Data(x[28:], y[28:]), batch_size=4, **kw)
    model = Net()
    cbs = [Probe(), OnExceptionCheckpoint(root), EarlyStopping("val_loss", patience=5),
           ModelCheckpoint(dirpath=os.path.join(root, "ck"), save_last=True, save_top_k=-1 if every_n else 1,
                           every_n_train_steps=every_n, filename="{step}")]
    t = Trainer(default_root_dir=root, max_epochs=EPOCHS, accumulate_grad_batches=2, callbacks=cbs,
                num_sanity_val_steps=1, enable_progress_bar=False, enable_model_summary=False, logger=False)
    t.fit(model, train, val, ckpt_path=ckpt_path)
    return {k: v._data.copy() for k, v in model.state_dict().items()}, t


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    w, t = fit(str(tmp_path_factory.mktemp("ref")))
    assert t.global_step == EPOCHS * 4 and t.current_epoch == EPOCHS  # 4 steps/epoch: 7 batches, accumulate 2
    return w


def _crash_and_resume(root, fault, num_workers=0, resume_from="on_exception"):
    with pytest.raises(fault["exc"], match="injected"):
        fit(root, num_workers=num_workers, fault=fault)
    ckpt = {"on_exception": os.path.join(root, "on_exception.ckpt"),
            "last": os.path.join(root, "ck", "last.ckpt")}[resume_from]
    w, t = fit(root, ckpt_path=ckpt, num_workers=num_workers)
    return w, t


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_fault_in_training_step_trains_that_batch_once(tmp_path, reference, exc):
    # the case: a fault inside training_step at step 5; the on-exception checkpoint must not
    # claim the batch that raised (the loader had already yielded it)
    root = str(tmp_path)
    with pytest.raises(exc, match="injected"):
        fit(root, fault={"hook": "training_step", "at": 5, "exc": exc})
    ck = ember.load(os.path.join(root, "on_exception.ckpt"))
    assert ck["loops"]["batches_seen"] == 4 and ck["dataloader"]["batches_yielded"] == 4
    w, t = fit(root, ckpt_path=os.path.join(root, "on_exception.ckpt"))
    assert CALLS["training_step"] == EPOCHS * BATCHES - 4  # the batch that raised is trained on resume
    assert t.global_step == EPOCHS * 4 and same(w, reference)


def test_fault_after_the_step_on_the_last_batch_is_not_trained_twice(tmp_path, reference):
    root = str(tmp_path)
    with pytest.raises(Injected):
        fit(root, fault={"hook": "module.on_train_batch_end", "at": BATCHES, "exc": Injected})
    ck = ember.load(os.path.join(root, "on_exception.ckpt"))
    assert ck["global_step"] == 4 and ck["loops"]["batches_seen"] == BATCHES  # the optimizer step was taken
    w, t = fit(root, ckpt_path=os.path.join(root, "on_exception.ckpt"))
    assert CALLS["training_step"] == (EPOCHS - 1) * BATCHES
    assert t.global_step == EPOCHS * 4 and same(w, reference)


@pytest.mark.parametrize("hook,at", [("training_step", 5), ("module.on_train_batch_end", BATCHES)])
def test_fault_with_worker_processes(tmp_path, reference, hook, at):
    w, t = _crash_and_resume(str(tmp_path), {"hook": hook, "at": at, "exc": Injected}, num_workers=2)
    assert same(w, reference)


# (hook, call that raises): per-batch hooks mid-epoch 1 or on a last batch, per-epoch hooks in epoch 1
EVERY_HOOK = [
    ("module.on_fit_start", 1), ("module.on_train_start", 1), ("cb.on_sanity_check_start", 1),
    ("cb.on_sanity_check_end", 1),
    ("module.on_train_epoch_start", 2), ("cb.on_train_epoch_start", 2),
    ("module.on_train_batch_start", 10), ("cb.on_train_batch_start", 11),
    ("training_step", 10), ("module.on_before_zero_grad", 3), ("cb.on_before_zero_grad", 6),
    ("module.on_before_backward", 9), ("cb.on_after_backward", 12), ("module.on_after_backward", 4),
    ("cb.on_before_optimizer_step", 5), ("module.on_before_optimizer_step", 4),
    ("optimizer_step", 6), ("lr_scheduler_step", 5),
    ("cb.on_train_batch_end", 9), ("module.on_train_batch_end", 14), ("cb.on_train_batch_end", 2 * BATCHES),
    ("module.on_validation_start", 2), ("cb.on_validation_epoch_start", 3), ("validation_step", 5),
    ("module.on_validation_batch_start", 4), ("cb.on_validation_batch_end", 6),
    ("module.on_validation_epoch_end", 2), ("cb.on_validation_end", 2), ("module.on_validation_end", 3),
    ("cb.on_train_epoch_end", 2), ("module.on_train_epoch_end", 1),
    ("__getitem__", 50),  # a DataLoader fetch (in the main process)
    ("cb.on_train_end", 1), ("module.on_fit_end", 1),  # after the last step: nothing left to train
]


@pytest.mark.parametrize("hook,at", EVERY_HOOK)
def test_fault_at_every_hook_then_resume_on_exception_checkpoint(tmp_path, reference, hook, at):
    w, t = _crash_and_resume(str(tmp_path), {"hook": hook, "at": at, "exc": Injected})
    assert t.global_step == EPOCHS * 4 and same(w, reference), f"{hook} #{at}"


@pytest.mark.parametrize("hook,at", [("training_step", 10), ("module.on_train_batch_end", 2 * BATCHES),
                                     ("cb.on_validation_end", 2), ("optimizer_step", 6)])
def test_fault_then_resume_from_last_and_periodic(tmp_path, reference, hook, at):
    root = str(tmp_path)
    with pytest.raises(Injected):
        fit(root, fault={"hook": hook, "at": at, "exc": Injected}, every_n=1)
    w, _ = fit(root + "_last", ckpt_path=os.path.join(root, "ck", "last.ckpt"))
    assert same(w, reference)
    periodic = sorted(f for f in os.listdir(os.path.join(root, "ck")) if f.startswith("step="))
    w, _ = fit(root + "_periodic", ckpt_path=os.path.join(root, "ck", periodic[-1]))
    assert same(w, reference)


def test_fault_in_a_worker_process(tmp_path, reference):
    # each worker counts its own fetches: the 6th fetch of a worker raises inside that worker
    w, _ = _crash_and_resume(str(tmp_path), {"hook": "__getitem__", "at": 6, "exc": Injected}, num_workers=2)
    assert same(w, reference)


_KILL_CHILD = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import test_resume_faults as T

hook, at, root = sys.argv[2], int(sys.argv[3]), sys.argv[4]
def die(msg):
    os.kill(os.getpid(), signal.SIGKILL)

T.Probe.on_save_checkpoint = lambda self, trainer, module, ckpt: T.tick("cb.on_save_checkpoint")
real_replace = os.replace
def replace(src, dst):  # the rename that publishes a checkpoint: killed between writing and renaming
    T.tick("os.replace")
    return real_replace(src, dst)
os.replace = replace
T.fit(root, fault={"hook": hook, "at": at, "exc": die}, every_n=1)
print("finished without being killed")
"""


def test_sigkill_at_hooks_and_inside_a_save_then_resume_from_last(tmp_path, reference):
    # SIGKILL (no exception, no on_exception, no cleanup) inside a step, a hook, a checkpoint's
    # on_save_checkpoint, and between writing a checkpoint's temp file and renaming it: last.ckpt is
    # always a whole checkpoint of a consistent point, and resuming from it ends bit-identical
    import signal
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONWARNINGS="ignore",
               PYTHONPATH=os.pathsep.join([os.path.join(here, "..", "src"), os.environ.get("PYTHONPATH", "")]))
    for hook, at in [("training_step", 10), ("cb.on_validation_end", 2), ("cb.on_save_checkpoint", 5),
                     ("os.replace", 7)]:
        root = str(tmp_path / hook)
        r = subprocess.run([sys.executable, "-c", _KILL_CHILD, here, hook, str(at), root], capture_output=True,
                           text=True, timeout=120, env=env)
        assert r.returncode == -signal.SIGKILL, (hook, r.returncode, r.stdout, r.stderr[-2000:])
        ck = os.path.join(root, "ck")
        if hook == "os.replace":  # the killed save left its temp file; last.ckpt is the previous checkpoint
            assert any(f.endswith(".tmp") for f in os.listdir(ck)), os.listdir(ck)
        w, t = fit(str(tmp_path / (hook + "_resumed")), ckpt_path=os.path.join(ck, "last.ckpt"))
        assert t.global_step == EPOCHS * 4 and same(w, reference), f"SIGKILL at {hook} #{at}"

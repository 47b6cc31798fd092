"""Trainer arguments are checked at construction (one error naming the argument, the value and what is
allowed); what Lightning accepts with a meaning is accepted with that meaning; every flag acts or warns.
Also the small constructor checks the issue found elsewhere: layer sizes, optimizer lr, LambdaLR."""

import os
import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.train import Trainer, TrainModule
from ember.train.callbacks import EarlyStopping
from ember.utils.data import DataLoader, TensorDataset

QUIET = dict(enable_progress_bar=False, enable_model_summary=False, logger=False, enable_checkpointing=False)

BAD = [
    ("max_epochs", "3", TypeError, "an int >= 0, -1"), ("max_epochs", -5, ValueError, "an int >= 0, -1"),
    ("max_epochs", 2.5, ValueError, "an int"), ("max_steps", -2, ValueError, "-1 \\(no limit\\)"),
    ("max_steps", "3", TypeError, "an int"), ("min_epochs", -1, ValueError, "an int >= 0"),
    ("val_check_interval", 0, ValueError, "an int >= 1"), ("val_check_interval", 1.5, ValueError, "float in"),
    ("val_check_interval", "00:00:01:00", ValueError, "time-based"), ("val_check_interval", -1, ValueError, "int"),
    ("check_val_every_n_epoch", 0, ValueError, "an int >= 1, or None"),
    ("check_val_every_n_epoch", 1.5, ValueError, "an int >= 1"),
    ("gradient_clip_val", -1.0, ValueError, "a number >= 0.*flip"), ("gradient_clip_val", "1", TypeError, "number"),
    ("log_every_n_steps", -1, ValueError, "0 \\(no step-level logging\\)"),
    ("log_every_n_steps", "2", TypeError, "an int >= 1"),
    ("num_sanity_val_steps", -5, ValueError, "-1 \\(the whole validation loader\\)"),
    ("accumulate_grad_batches", 0, ValueError, "an int >= 1"), ("accumulate_grad_batches", "2", TypeError, "int"),
    ("limit_train_batches", 1.5, ValueError, "whole number"), ("limit_val_batches", -1, ValueError, "int >= 0"),
    ("limit_train_batches", "2", TypeError, "int >= 0"), ("overfit_batches", 1.5, ValueError, "whole number"),
    ("reload_dataloaders_every_n_epochs", -1, ValueError, "int >= 0"), ("fast_dev_run", -1, ValueError, "bool"),
    ("deterministic", "x", ValueError, "'warn'"), ("inference_mode", "x", TypeError, "True or False"),
    ("barebones", 1, TypeError, "True or False"), ("use_distributed_sampler", "x", TypeError, "True or False"),
    ("callbacks", 5, TypeError, "a Callback or a list"), ("default_root_dir", 5, TypeError, "a path"),
]


@pytest.mark.parametrize("name,value,exc,allowed", BAD)
def test_bad_argument_names_argument_value_and_what_is_allowed(name, value, exc, allowed):
    with pytest.raises(exc) as e:
        Trainer(**{name: value})
    msg = str(e.value)
    assert f"Trainer({name}={value!r})" in msg
    assert __import__("re").search(allowed, msg), msg


def _lightning_accepts(**kw):
    pl = pytest.importorskip("lightning.pytorch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl.Trainer(**kw, logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")


GOOD = [("max_epochs", -1), ("max_epochs", 0), ("max_epochs", 3.0), ("max_steps", 0), ("min_steps", 2),
        ("num_sanity_val_steps", -1), ("num_sanity_val_steps", 0), ("log_every_n_steps", 0),
        ("val_check_interval", 0.0), ("val_check_interval", 3), ("check_val_every_n_epoch", None),
        ("limit_train_batches", 2.0), ("limit_val_batches", 0), ("gradient_clip_val", 0),
        ("deterministic", "warn"), ("deterministic", True), ("inference_mode", False),
        ("use_distributed_sampler", False), ("fast_dev_run", 2)]


@pytest.mark.parametrize("name,value", GOOD)
def test_what_lightning_accepts_is_accepted(name, value):
    torch = pytest.importorskip("torch")
    det, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        _lightning_accepts(**{name: value})  # Lightning's deterministic= flips torch's process-wide flag
    finally:
        torch.use_deterministic_algorithms(det, warn_only=warn)
    det, warn = ember.are_deterministic_algorithms_enabled(), ember.is_deterministic_algorithms_warn_only_enabled()
    try:
        Trainer(**{name: value}, **QUIET)
    finally:
        ember.use_deterministic_algorithms(det, warn_only=warn)


@pytest.mark.parametrize("flag,want", [(True, (True, False)), ("warn", (True, True)), (False, (False, False))])
def test_deterministic_sets_the_process_wide_flag_as_lightning_does(flag, want):
    ember.use_deterministic_algorithms(not want[0])  # the opposite: the Trainer must flip it
    try:
        Trainer(deterministic=flag, **QUIET)
        assert (ember.are_deterministic_algorithms_enabled(), ember.is_deterministic_algorithms_warn_only_enabled()) \
            == want
        ember.use_deterministic_algorithms(True)
        Trainer(deterministic=None, **QUIET)  # None: left as it is
        assert ember.are_deterministic_algorithms_enabled() is True
    finally:
        ember.use_deterministic_algorithms(False)


def test_bad_values_are_refused_by_lightning_or_fail_in_it_later():
    # each value refused above either fails in Lightning's constructor too, or is one Lightning accepts
    # and then fails on (a str compared with an int; a modulo by zero) or runs silently wrong
    pl = pytest.importorskip("lightning.pytorch")
    for name, value in [("max_epochs", -5), ("val_check_interval", 1.5), ("check_val_every_n_epoch", 1.5),
                        ("gradient_clip_val", "1"), ("limit_train_batches", 1.5)]:
        with pytest.raises(Exception):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pl.Trainer(**{name: value}, logger=False, accelerator="cpu")


class Reg(TrainModule):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 1)
        self.grad_in_val = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.lin(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.grad_in_val.append((ember.is_grad_enabled(), ember.is_inference_mode_enabled()
                                 if hasattr(ember, "is_inference_mode_enabled") else None))
        self.log("val_loss", F.mse_loss(self.lin(x), y))

    def configure_optimizers(self):
        return ember.optim.SGD(self.parameters(), lr=0.1)


def loader(n=16):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return DataLoader(TensorDataset(ember.tensor(x), ember.tensor(x.sum(1, keepdims=True))), batch_size=4)


def test_a_single_callback_is_accepted_as_lightning_does():
    es = EarlyStopping(monitor="val_loss")
    t = Trainer(callbacks=es, **QUIET)
    assert t.early_stopping_callback is es


def test_inference_mode_acts_on_evaluation():
    for flag in (True, False):
        m = Reg()
        Trainer(max_epochs=1, inference_mode=flag, num_sanity_val_steps=0, **QUIET).fit(m, loader(), loader(8))
        assert m.grad_in_val and all(g is False for g, _ in m.grad_in_val)
        if m.grad_in_val[0][1] is not None:
            assert all(i is flag for _, i in m.grad_in_val)


def test_barebones_switches_features_off_and_refuses_asking_for_them(tmp_path):
    t = Trainer(barebones=True, default_root_dir=tmp_path, max_epochs=1)
    assert t.loggers == [] and t.checkpoint_callback is None and t.num_sanity_val_steps == 0
    assert t.log_every_n_steps == 0 and t.progress_bar_callback is None
    with pytest.raises(ValueError, match=r"Trainer\(barebones=True, enable_checkpointing=True\)"):
        Trainer(barebones=True, enable_checkpointing=True)
    with pytest.raises(ValueError, match=r"barebones=True, num_sanity_val_steps=2"):
        Trainer(barebones=True, num_sanity_val_steps=2)


def test_log_every_n_steps_zero_logs_no_step_rows(tmp_path):
    from ember.train.loggers import CSVLogger

    def run(n):
        lg = CSVLogger(tmp_path, version=f"v{n}")
        kw = {k: v for k, v in QUIET.items() if k != "logger"}
        Trainer(max_epochs=1, log_every_n_steps=n, logger=lg, **kw).fit(Reg(), loader())
        path = lg.log_dir + "/metrics.csv"
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()

    assert "train_loss" in run(1)  # logged on step (4 steps)
    assert "train_loss" not in run(0)  # Lightning: 0 turns step-level logging off


def test_val_check_interval_zero_float_validates_every_batch():
    class Count(Reg):
        def on_validation_start(self):
            self.n_val = getattr(self, "n_val", 0) + 1

    m = Count()
    Trainer(max_epochs=1, val_check_interval=0.0, num_sanity_val_steps=0, **QUIET).fit(m, loader(), loader(8))
    assert m.n_val == 4  # 4 training batches


def test_max_epochs_integral_float_is_that_many_epochs():
    t = Trainer(max_epochs=2.0, **QUIET)
    assert t.max_epochs == 2 and isinstance(t.max_epochs, int)


# -- constructors elsewhere -------------------------------------------------------------------------
@pytest.mark.parametrize("make,match", [
    (lambda nn: nn.Linear(4.5, 3), "Linear: in_features must be an int, got float 4.5"),
    (lambda nn: nn.Linear(4, "3"), "Linear: out_features must be an int"),
    (lambda nn: nn.Bilinear(2, 2.0, 3), "Bilinear: in2_features must be an int"),
    (lambda nn: nn.Conv2d(3.0, 4, 3), "Conv2d: in_channels must be an int"),
    (lambda nn: nn.Conv2d(3, 4, (3, 2.5)), "Conv2d: kernel_size must be an int or a tuple"),
    (lambda nn: nn.Embedding(10.5, 3), "Embedding: num_embeddings must be an int"),
    (lambda nn: nn.BatchNorm1d(2.0), "BatchNorm1d: num_features must be an int"),
])
def test_layer_sizes_must_be_ints_as_in_torch(make, match):
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):  # torch refuses the same
        make(torch.nn)
    with pytest.raises(TypeError, match=match):
        make(nn)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_optimizer_lr_as_str_raises_like_torch(name):
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        getattr(torch.optim, name)(torch.nn.Linear(2, 2).parameters(), lr="0.1")
    with pytest.raises(TypeError, match=f"{name}: lr must be a number.*got str '0.1'"):
        getattr(ember.optim, name)(nn.Linear(2, 2).parameters(), lr="0.1")


def test_lambda_lr_returning_a_str_names_the_lambda():
    opt = ember.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"LambdaLR: lr_lambda \(param group 0\) returned 'x' of type str for epoch 0"):
        ember.optim.lr_scheduler.LambdaLR(opt, lambda e: "x")
    opt = ember.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    sched = ember.optim.lr_scheduler.MultiplicativeLR(opt, lambda e: None if e else 1.0)
    opt.step()
    with pytest.raises(TypeError, match="MultiplicativeLR: lr_lambda .*returned None"):
        sched.step()


def test_use_distributed_sampler_decides_whether_ddp_shards_the_loaders(monkeypatch):
    # (a world of 2 faked for the sampler: the flag is read where ddp prepares each loader)
    import ember.distributed as dist
    from ember.train.strategies import DDPStrategy
    from ember.utils.data import DistributedSampler

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda *a, **k: 2)
    monkeypatch.setattr(dist, "get_rank", lambda *a, **k: 1)
    dl = loader(16)  # 16 samples, batches of 4
    on = DDPStrategy(use_distributed_sampler=True).process_dataloader(dl, shuffle_default=True)
    assert isinstance(on.sampler, DistributedSampler) and len(on) == 2  # rank 1 of 2: 8 samples
    assert list(on.sampler) == list(range(1, 16, 2))                  # its share, not shuffled (dl was not)
    off = DDPStrategy(use_distributed_sampler=False).process_dataloader(dl, shuffle_default=True)
    assert off is dl and len(off) == 4                                  # every rank sees the whole loader


@pytest.mark.parametrize("stage, flag", [("fit", "limit_val_batches"), ("validate", "limit_val_batches"),
                                         ("test", "limit_test_batches"), ("predict", "limit_predict_batches")])
def test_a_fraction_that_leaves_no_batch_raises_as_lightning(stage, flag):
    # Lightning: "You requested to check 0.2 of the `val_dataloader` but 0.2 * 4 < 1" (a MisconfigurationException);
    # silently running no validation would hide every val metric, EarlyStopping and ModelCheckpoint with it
    class M(Reg):
        def test_step(self, batch, batch_idx):
            return None

        def predict_step(self, batch, batch_idx):
            return batch[0]

    t = Trainer(max_epochs=1, num_sanity_val_steps=0, **{flag: 0.2}, **QUIET)
    with pytest.raises(ValueError, match=rf"{flag}=0.2.*0.2 \* 4 < 1.*at least {flag}=0.25"):
        if stage == "fit":
            t.fit(M(), loader(), loader())
        else:
            getattr(t, stage)(M(), loader())

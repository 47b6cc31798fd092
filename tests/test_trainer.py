"""ember.train.Trainer / TrainModule: hook order, logging, optimisation, schedulers, misuse errors."""

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.train import Callback, Trainer, TrainModule
from ember.utils.data import DataLoader, TensorDataset

QUIET = dict(enable_progress_bar=False, enable_model_summary=False, logger=False, enable_checkpointing=False)


def make_data(n=32, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x @ rng.standard_normal((d, 1)).astype(np.float32) + 0.1).astype(np.float32)
    return TensorDataset(ember.tensor(x), ember.tensor(y))


def loader(n=32, bs=8, shuffle=False, seed=0):
    return DataLoader(make_data(n, seed=seed), batch_size=bs, shuffle=shuffle)


class Reg(TrainModule):
    def __init__(self, lr=0.1, opt="sgd"):
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(4, 1)

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y))

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", F.mse_loss(self(x), y))

    def configure_optimizers(self):
        if self.hparams.opt == "adam":
            return ember.optim.Adam(self.parameters(), lr=self.hparams.lr)
        return ember.optim.SGD(self.parameters(), lr=self.hparams.lr)


def weights(model):
    return {k: v._data.copy() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------------------------
# hook order: the oracle is Lightning 2.x's own recorded sequence
# ---------------------------------------------------------------------------------------------
# Source: Lightning-AI/pytorch-lightning, tests/tests_pytorch/models/test_hooks.py,
# test_trainer_model_hook_system_fit (automatic optimisation, max_epochs=1, limit_train_batches=2,
# limit_val_batches=2, default num_sanity_val_steps=2, BoringModel with SGD + StepLR, the default
# ModelCheckpoint saving at the end of the epoch). Lightning records a call when it *returns*
# (so inner calls come first). Entries for hooks ember does not have (zero_grad, train(False),
# configure_model, forward, batch-transfer hooks, on_validation_model_zero_grad) are left out.
def _lightning_eval_epoch(fn, batches):
    out = [f"Callback.on_{fn}_epoch_start", f"on_{fn}_epoch_start"]
    for _ in range(batches):
        out += [f"Callback.on_{fn}_batch_start", f"on_{fn}_batch_start", f"{fn}_step",
                f"Callback.on_{fn}_batch_end", f"on_{fn}_batch_end"]
    return out + [f"Callback.on_{fn}_epoch_end", f"on_{fn}_epoch_end"]


def _lightning_train_batches(batches):
    out = []
    for i in range(batches):
        out += ["Callback.on_train_batch_start", "on_train_batch_start", "training_step",
                "Callback.on_before_zero_grad", "on_before_zero_grad", "optimizer_zero_grad",
                "Callback.on_before_backward", "on_before_backward", "backward",
                "Callback.on_after_backward", "on_after_backward",
                "Callback.on_before_optimizer_step", "on_before_optimizer_step",
                "clip_gradients", "configure_gradient_clipping", "optimizer_step",
                *(["lr_scheduler_step"] if i == batches - 1 else []),
                "Callback.on_train_batch_end", "on_train_batch_end"]
    return out


LIGHTNING_FIT_ORDER = [
    "configure_callbacks", "prepare_data", "Callback.setup", "setup", "configure_optimizers",
    "Callback.on_fit_start", "on_fit_start",
    "Callback.on_sanity_check_start", "val_dataloader",
    "Callback.on_validation_start", "on_validation_start", *_lightning_eval_epoch("validation", 2),
    "Callback.on_validation_end", "on_validation_end", "Callback.on_sanity_check_end",
    "train_dataloader", "Callback.on_train_start", "on_train_start",
    "Callback.on_train_epoch_start", "on_train_epoch_start", *_lightning_train_batches(2),
    "Callback.on_validation_start", "on_validation_start", *_lightning_eval_epoch("validation", 2),
    "Callback.on_validation_end", "on_validation_end",
    "Callback.on_train_epoch_end", "on_train_epoch_end",
    "Callback.state_dict", "Callback.on_save_checkpoint", "on_save_checkpoint",
    "Callback.on_train_end", "on_train_end", "Callback.on_fit_end", "on_fit_end",
    "Callback.teardown", "teardown",
]

_MODULE_HOOKS = [
    "configure_callbacks", "prepare_data", "setup", "teardown", "configure_optimizers", "train_dataloader",
    "val_dataloader", "training_step", "validation_step", "backward", "optimizer_zero_grad", "optimizer_step",
    "configure_gradient_clipping", "clip_gradients", "lr_scheduler_step", "on_save_checkpoint",
    "on_load_checkpoint", *[n for n in dir(Callback) if n.startswith("on_") and n not in (
        "on_save_checkpoint", "on_load_checkpoint", "on_sanity_check_start", "on_sanity_check_end")],
]


def _record(obj, names, called, prefix=""):
    for name in names:
        fn = getattr(obj, name, None)
        if fn is None:
            continue

        def wrapper(*args, __fn=fn, __name=name, **kwargs):
            out = __fn(*args, **kwargs)
            called.append(prefix + __name)  # recorded on return, as Lightning's test does
            return out

        object.__setattr__(obj, name, wrapper)


class BoringModel(TrainModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        return F.mse_loss(self(batch[0]), batch[1])

    def validation_step(self, batch, batch_idx):
        return {"x": F.mse_loss(self(batch[0]), batch[1])}

    def configure_optimizers(self):
        opt = ember.optim.SGD(self.parameters(), lr=0.1)
        return [opt], [ember.optim.lr_scheduler.StepLR(opt, step_size=1)]

    def train_dataloader(self):
        return loader(64, 8)

    def val_dataloader(self):
        return loader(64, 8)


def test_hook_order_matches_lightning(tmp_path):
    called = []
    model = BoringModel()
    _record(model, _MODULE_HOOKS, called)
    cb = Callback()
    _record(cb, [n for n in dir(Callback) if n.startswith(("on_", "setup", "teardown", "state_dict"))
                 and n != "load_state_dict"], called, prefix="Callback.")
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=2,
                      enable_progress_bar=False, enable_model_summary=False, logger=False, callbacks=[cb])
    trainer.fit(model)
    assert called == LIGHTNING_FIT_ORDER
    assert os.path.exists(trainer.checkpoint_callback.best_model_path)


# ---------------------------------------------------------------------------------------------
# the loop trains like a hand-written loop, bit for bit
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("acc", [1, 3])
def test_fit_equals_hand_written_loop(acc):
    ember.manual_seed(0)
    model = Reg(lr=0.05, opt="adam")
    init = {k: v._data.copy() for k, v in model.state_dict().items()}
    Trainer(max_epochs=2, accumulate_grad_batches=acc, **QUIET).fit(model, loader(40, 8))

    ember.manual_seed(0)
    ref = Reg(lr=0.05, opt="adam")
    ref.load_state_dict({k: ember.tensor(v) for k, v in init.items()})
    opt = ember.optim.Adam(ref.parameters(), lr=0.05)
    dl = loader(40, 8)
    n = len(dl)
    for _ in range(2):
        for i, (x, y) in enumerate(dl):
            if i % acc == 0:
                opt.zero_grad()
            loss = F.mse_loss(ref(x), y)
            (loss / acc if acc > 1 else loss).backward()
            if (i + 1) % acc == 0 or i + 1 == n:
                opt.step()
    for k, v in weights(ref).items():
        np.testing.assert_array_equal(weights(model)[k], v)


def test_global_step_and_max_steps_and_limits():
    model = Reg()
    t = Trainer(max_epochs=10, max_steps=7, limit_train_batches=3, **QUIET)
    t.fit(model, loader(32, 4))
    assert t.global_step == 7 and t.current_epoch == 3  # 3 + 3 + 1 (a cut epoch counts, as in Lightning)
    t = Trainer(max_epochs=2, accumulate_grad_batches=2, **QUIET)
    t.fit(Reg(), loader(40, 8))  # 5 batches -> 3 steps per epoch (last partial window steps)
    assert t.global_step == 6 and t.current_epoch == 2


def test_on_train_batch_start_minus_one_ends_epoch():
    class M(Reg):
        def on_train_batch_start(self, batch, batch_idx):
            return -1 if batch_idx == 2 else None

    t = Trainer(max_epochs=3, **QUIET)
    t.fit(M(), loader(32, 4))
    assert t.global_step == 6


def test_fast_dev_run_and_val_check_interval():
    seen = []

    class M(Reg):
        def on_validation_start(self):
            seen.append(self.trainer.global_step)

    t = Trainer(fast_dev_run=True, enable_progress_bar=False, enable_model_summary=False)
    t.fit(M(), loader(32, 4), loader(16, 4))
    assert t.global_step == 1 and t.logger is None
    seen.clear()
    t = Trainer(max_epochs=1, val_check_interval=0.25, num_sanity_val_steps=0, **QUIET)
    t.fit(M(), loader(32, 4), loader(16, 4))
    assert seen == [2, 4, 6, 8]
    seen.clear()
    t = Trainer(max_epochs=4, check_val_every_n_epoch=2, num_sanity_val_steps=0, **QUIET)
    t.fit(M(), loader(16, 4), loader(16, 4))
    assert seen == [8, 16]


# ---------------------------------------------------------------------------------------------
# self.log
# ---------------------------------------------------------------------------------------------
def test_log_defaults_suffixes_and_weighted_epoch_mean():
    class M(Reg):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            self.log("both", float(batch_idx), on_step=True, on_epoch=True)
            self.log("mx", float(batch_idx), on_epoch=True, reduce_fx="max")
            self.log("bs", float(len(batch[0])), on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_x", float(len(batch[0])))  # epoch mean weighted by batch size

    t = Trainer(max_epochs=1, num_sanity_val_steps=0, **QUIET)
    # train: batches of 8, 8, 4 ; val: batches of 6, 6, 2
    t.fit(M(), loader(20, 8), DataLoader(make_data(14), batch_size=6))
    cm = t.callback_metrics
    assert "train_loss" in cm and "train_loss_epoch" not in cm  # training_step: on_step only
    assert cm["both_step"] == 2.0 and cm["both_epoch"] == pytest.approx((0 * 8 + 1 * 8 + 2 * 4) / 20)
    assert cm["both"] == cm["both_epoch"]
    assert cm["mx_epoch"] == 2.0
    assert cm["bs"] == pytest.approx((8 * 8 + 8 * 8 + 4 * 4) / 20)
    assert cm["val_x"] == pytest.approx((6 * 6 + 6 * 6 + 2 * 2) / 14)
    assert "val_x" in t.logged_metrics



def test_eval_step_metrics_reach_logged_metrics_but_not_callback_metrics():
    # Lightning (update_eval_step_metrics): a value logged per step in validation/test goes to the loggers
    # (logged_metrics) only; callback_metrics and progress_bar_metrics get the epoch values at the end.
    # So EarlyStopping/ModelCheckpoint cannot silently monitor the last validation batch's value.
    seen = []

    class M(Reg):
        def validation_step(self, batch, batch_idx):
            self.log("v_both", float(batch_idx), on_step=True, on_epoch=True, prog_bar=True)
            self.log("v_step_only", float(batch_idx), on_step=True, on_epoch=False, prog_bar=True)
            seen.append(sorted(k for k in self.trainer.callback_metrics if k.startswith("v_")))

        def test_step(self, batch, batch_idx):
            self.log("t_step_only", float(batch_idx), on_step=True, on_epoch=False)

    t = Trainer(max_epochs=1, num_sanity_val_steps=0, **QUIET)
    t.fit(M(), loader(16, 8), loader(16, 4))
    cm, lm, pm = t.callback_metrics, t.logged_metrics, t.progress_bar_metrics
    assert seen == [[]] * 4                                   # nothing per step while validating
    assert sorted(k for k in cm if k.startswith("v_")) == ["v_both", "v_both_epoch"]
    assert cm["v_both"] == cm["v_both_epoch"] == pytest.approx(1.5)
    assert lm["v_both_step"] == 3.0 and lm["v_step_only"] == 3.0 and lm["v_both_epoch"] == pytest.approx(1.5)
    assert sorted(k for k in pm if k.startswith("v_")) == ["v_both_epoch"]
    t.test(M(), loader(16, 4))
    assert "t_step_only" not in t.callback_metrics and t.logged_metrics["t_step_only"] == 3.0


def test_eval_step_metrics_are_sent_to_the_loggers_as_lightning(tmp_path):
    # Lightning (update_eval_step_metrics): after each validation/test batch (not in the sanity check),
    # the per-step values go to the loggers at a step counting that loader's eval batches (in fit: over
    # all validation runs), without "epoch"; checked against Lightning 2.6's CSVLogger rows
    from ember.train.loggers import Logger

    class Rec(Logger):
        name, version = "rec", 0
        rows = []

        def log_metrics(self, metrics, step=None):
            self.rows.append((step, dict(metrics)))

        def log_hyperparams(self, params, *args, **kwargs):
            pass

    class M(Reg):
        def validation_step(self, batch, batch_idx):
            self.log("va", float(batch_idx), on_step=True, on_epoch=True)

        def test_step(self, batch, batch_idx):
            self.log("ts", float(batch_idx), on_step=True, on_epoch=False)

    lg = Rec()
    t = Trainer(max_epochs=2, num_sanity_val_steps=2, logger=lg, log_every_n_steps=100, default_root_dir=tmp_path,
                enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    t.fit(M(), loader(8, 4), loader(8, 4))
    steps = [(s, m["va_step"]) for s, m in lg.rows if "va_step" in m]
    assert steps == [(0, 0.0), (1, 1.0), (2, 0.0), (3, 1.0)]                # none from the sanity check
    assert all("epoch" not in m for s, m in lg.rows if "va_step" in m)
    assert [(m["va_epoch"], m["epoch"]) for s, m in lg.rows if "va_epoch" in m] == [(0.5, 0), (0.5, 1)]
    lg.rows.clear()
    t.test(M(), loader(8, 4))
    assert [(s, m) for s, m in lg.rows] == [(0, {"ts": 0.0}), (1, {"ts": 1.0})]

def test_log_errors():
    class M(Reg):
        def training_step(self, batch, batch_idx):
            self.log("bad", ember.ones(3))
            return super().training_step(batch, batch_idx)

    with pytest.raises(ValueError, match=r"self.log\('bad'.*one number.*shape \(3,\)"):
        Trainer(max_epochs=1, **QUIET).fit(M(), loader())

    class R(Reg):
        def training_step(self, batch, batch_idx):
            self.log("r", 1.0, reduce_fx="median")
            return super().training_step(batch, batch_idx)

    with pytest.raises(ValueError, match="reduce_fx must be one of"):
        Trainer(max_epochs=1, **QUIET).fit(R(), loader())


# ---------------------------------------------------------------------------------------------
# optimizers and schedulers
# ---------------------------------------------------------------------------------------------
def _with_opt(fn):
    class M(Reg):
        def configure_optimizers(self):
            return fn(self)
    return M()


def _lrs(opt_factory, sched_factory, **trainer_kw):
    lrs = []

    class M(Reg):
        def configure_optimizers(self):
            opt = opt_factory(self)
            return {"optimizer": opt, "lr_scheduler": sched_factory(opt)}

        def on_train_batch_start(self, batch, batch_idx):
            lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])

    Trainer(**{**QUIET, **trainer_kw}).fit(M(), loader(16, 4), trainer_kw.pop("val", None))
    return lrs


def test_scheduler_per_epoch_and_per_step_and_frequency():
    sgd = lambda m: ember.optim.SGD(m.parameters(), lr=1.0)
    StepLR = ember.optim.lr_scheduler.StepLR
    assert _lrs(sgd, lambda o: StepLR(o, 1, gamma=0.5), max_epochs=2) == [1.0] * 4 + [0.5] * 4
    assert _lrs(sgd, lambda o: {"scheduler": StepLR(o, 1, gamma=0.5), "interval": "step"},
                max_epochs=1) == [1.0, 0.5, 0.25, 0.125]
    assert _lrs(sgd, lambda o: {"scheduler": StepLR(o, 1, gamma=0.5), "interval": "step", "frequency": 2},
                max_epochs=1) == [1.0, 1.0, 0.5, 0.5]
    assert _lrs(sgd, lambda o: {"scheduler": StepLR(o, 1, gamma=0.5), "interval": "step"},
                max_epochs=1, accumulate_grad_batches=2) == [1.0, 1.0, 0.5, 0.5]


def test_reduce_lr_on_plateau_driven_by_monitor():
    lrs = []

    class M(Reg):
        def validation_step(self, batch, batch_idx):
            self.log("val_metric", 1.0)  # never improves

        def configure_optimizers(self):
            opt = ember.optim.SGD(self.parameters(), lr=1.0)
            s = ember.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "monitor": "val_metric"}}

        def on_train_epoch_start(self):
            lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])

    Trainer(max_epochs=4, **QUIET).fit(M(), loader(8, 4), loader(8, 4))
    assert lrs == [1.0, 1.0, 0.5, 0.25]  # first value sets the best; then each epoch halves

    class Bad(M):
        def configure_optimizers(self):
            opt = ember.optim.SGD(self.parameters(), lr=1.0)
            s = ember.optim.lr_scheduler.ReduceLROnPlateau(opt)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "monitor": "val_los"}}

    with pytest.raises(RuntimeError, match=r"ReduceLROnPlateau monitors 'val_los'.*never logged.*val_metric"):
        Trainer(max_epochs=2, **QUIET).fit(Bad(), loader(8, 4), loader(8, 4))


@pytest.mark.parametrize("ret, match", [
    (lambda m: 3, "configure_optimizers\\(\\) returned a int"),
    (lambda m: [1, 2], "holding int"),
    (lambda m: {"optim": 1}, "needs 'optimizer'"),
    (lambda m: {"optimizer": ember.optim.SGD(m.parameters(), lr=0.1), "lr_scheduler": {"interval": "step"}},
     "needs a 'scheduler'"),
    (lambda m: None, "returned None"),
])
def test_configure_optimizers_wrong_shape(ret, match):
    with pytest.raises((TypeError, ValueError), match=match):
        Trainer(max_epochs=1, **QUIET).fit(_with_opt(ret), loader())


def test_plateau_without_monitor_is_an_error():
    def f(m):
        o = ember.optim.SGD(m.parameters(), lr=0.1)
        return {"optimizer": o, "lr_scheduler": ember.optim.lr_scheduler.ReduceLROnPlateau(o)}
    with pytest.raises(ValueError, match="ReduceLROnPlateau needs the metric"):
        Trainer(max_epochs=1, **QUIET).fit(_with_opt(f), loader())


class _Manual(Reg):
    """Manual optimization: one zero_grad/manual_backward/step per batch."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        loss = F.mse_loss(self(batch[0]), batch[1])
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        return loss


def test_manual_optimization():
    m = _Manual()
    before = weights(m)
    t = Trainer(max_epochs=1, **QUIET)
    t.fit(m, loader(16, 4))
    assert t.global_step == 4
    assert not all(np.array_equal(before[k], v) for k, v in weights(m).items())


@pytest.mark.parametrize("flag, value", [("gradient_clip_val", 0.5), ("accumulate_grad_batches", 2)])
def test_manual_optimization_refuses_automatic_clipping_and_accumulation(flag, value):
    # Lightning (configuration_validator): "Automatic gradient clipping/accumulation is not supported for
    # manual optimization"; ignoring the flag silently would train without the clipping asked for
    with pytest.raises(ValueError, match=rf"{flag}={value}.*not supported.*manual optimization"):
        Trainer(max_epochs=1, **{flag: value}, **QUIET).fit(_Manual(), loader(16, 4))


def test_gradient_clipping_by_value_limits_update():
    class M(Reg):
        def on_before_optimizer_step(self, optimizer):
            self.raw = max(float(np.abs(p.grad._data).max()) for p in self.parameters())

        def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
            self.clipped = max(float(np.abs(p.grad._data).max()) for p in self.parameters())
            optimizer.step()

    m = M()
    Trainer(max_steps=1, gradient_clip_val=1e-3, gradient_clip_algorithm="value", **QUIET).fit(m, loader())
    assert m.raw > 1e-3 and m.clipped == pytest.approx(1e-3)


# ---------------------------------------------------------------------------------------------
# misuse errors at fit start
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ret, match", [
    (lambda loss: 1.5, "must return the loss as an ember Tensor.*float"),
    (lambda loss: {"los": loss}, "without a 'loss' key"),
    (lambda loss: loss.detach(), "does not require grad"),
    (lambda loss: ember.ones(2, requires_grad=True) * loss, r"shape \(2,\), not a scalar"),
])
def test_training_step_returning_non_loss(ret, match):
    class M(Reg):
        def training_step(self, batch, batch_idx):
            return ret(super().training_step(batch, batch_idx))

    with pytest.raises((TypeError, ValueError), match=match):
        Trainer(max_epochs=1, **QUIET).fit(M(), loader())


def test_empty_dataloader():
    with pytest.raises(ValueError, match="training dataloader is empty"):
        Trainer(max_epochs=1, **QUIET).fit(Reg(), [])


def test_monitor_never_logged_fails_at_sanity_check_listing_keys():
    from ember.train.callbacks import EarlyStopping

    calls = []

    class M(Reg):
        def validation_step(self, batch, batch_idx):
            self.log("valid_loss", F.mse_loss(self(batch[0]), batch[1]))

        def on_train_batch_start(self, batch, batch_idx):
            calls.append(batch_idx)

    with pytest.raises(RuntimeError) as e:
        Trainer(max_epochs=3, callbacks=[EarlyStopping(patience=3)], **QUIET).fit(M(), loader(), loader())
    msg = str(e.value)
    assert "EarlyStopping monitors 'val_loss' (its default" in msg
    assert "valid_loss (validate:validation_step)" in msg
    assert calls == []  # before the first training batch


def test_train_monitor_never_logged_fails_after_first_epoch(tmp_path):
    from ember.train.callbacks import ModelCheckpoint

    with pytest.raises(RuntimeError, match=r"monitors 'train_los'.*train_loss \(train:training_step\)"):
        Trainer(max_epochs=3, callbacks=[ModelCheckpoint(monitor="train_los")], default_root_dir=tmp_path,
                enable_progress_bar=False,
                enable_model_summary=False, logger=False).fit(Reg(), loader())



def test_monitor_check_waits_for_the_first_validation(tmp_path):
    # check_val_every_n_epoch=2 without a sanity check: val_loss first appears in epoch 1, a valid
    # Lightning program (EarlyStopping then checks at validation end); the misuse check must wait for it
    from ember.train.callbacks import EarlyStopping

    es = EarlyStopping(monitor="val_loss", patience=0)
    t = Trainer(max_epochs=6, check_val_every_n_epoch=2, num_sanity_val_steps=0, callbacks=[es], **QUIET)
    t.fit(Reg(), loader(8, 4), loader(8, 4))
    assert t.current_epoch >= 2 and "val_loss" in t.callback_metrics
    with pytest.raises(RuntimeError, match=r"'val_los'.*not available"):  # a typo still fails, after validation
        Trainer(max_epochs=6, check_val_every_n_epoch=2, num_sanity_val_steps=0, **QUIET,
                callbacks=[EarlyStopping(monitor="val_los")]).fit(Reg(), loader(8, 4), loader(8, 4))

def test_early_stopping_without_monitor_watches_val_loss(tmp_path):
    from ember.train.callbacks import EarlyStopping

    class M(Reg):
        def validation_step(self, batch, batch_idx):
            self.log("val_loss", 1.0)  # constant: stops after patience epochs

    t = Trainer(max_epochs=20, callbacks=[EarlyStopping(patience=3)], **QUIET)
    t.fit(M(), loader(8, 4), loader(8, 4))
    assert t.current_epoch == 4 and t.should_stop


def test_min_epochs_overrides_early_stop():
    class M(Reg):
        def on_train_epoch_end(self):
            self.trainer.should_stop = True

    t = Trainer(max_epochs=10, min_epochs=3, **QUIET)
    t.fit(M(), loader(8, 4))
    assert t.current_epoch == 3


class StopOnce(Reg):
    """Requests a stop once (at the end of epoch 0, or at the first validation of epoch ``at_val``)."""

    def __init__(self, at_val=None):
        super().__init__()
        self.at_val, self.steps = at_val, []

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.steps.append((self.current_epoch, self.global_step))

    def on_train_epoch_end(self):
        if self.at_val is None and self.current_epoch == 0:
            self.trainer.should_stop = True

    def on_validation_end(self):
        if self.current_epoch == self.at_val and not self.trainer.sanity_checking:
            self.trainer.should_stop = True


def test_a_stop_request_before_min_epochs_or_min_steps_is_deferred_not_dropped():
    # Lightning keeps should_stop set and stops as soon as min_epochs/min_steps are met (fit_loop
    # ._can_stop_early), even when nothing asks again; min_steps can end an epoch early (values checked
    # against Lightning 2.6 with the same program)
    t = Trainer(max_epochs=10, min_epochs=3, **QUIET)
    t.fit(StopOnce(), loader(16, 4))
    assert (t.current_epoch, t.global_step, t.should_stop) == (3, 12, True)
    t = Trainer(max_epochs=10, min_steps=6, **QUIET)
    m = StopOnce()
    t.fit(m, loader(16, 4))
    assert m.steps[-1] == (1, 6) and t.global_step == 6 and t.should_stop
    # a request at a mid-epoch validation of the last epoch min_epochs needs: that epoch still ends
    t = Trainer(max_epochs=10, min_epochs=2, val_check_interval=2, num_sanity_val_steps=0, **QUIET)
    m = StopOnce(at_val=1)
    t.fit(m, loader(16, 4), loader(8, 4))
    assert m.steps[-1] == (1, 8) and t.current_epoch == 2


# ---------------------------------------------------------------------------------------------
# NaN policy
# ---------------------------------------------------------------------------------------------
class NaNAt(Reg):
    def __init__(self, bad=(5,)):
        super().__init__()
        self.bad = bad

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        if self.trainer.global_step in self.bad and batch_idx == self.trainer.global_step % 4:
            loss = loss * float("nan")
        return loss


def test_nonfinite_loss_raises_naming_step_and_batch():
    from ember.train.trainer import NonFiniteLossError

    m = NaNAt()
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at global step 5 \(epoch 1, batch 1\)"):
        Trainer(max_epochs=3, **QUIET).fit(m, loader(16, 4))
    assert all(np.isfinite(v).all() for v in weights(m).values())


def test_nonfinite_loss_skip_and_ignore():
    m = NaNAt()
    t = Trainer(max_epochs=2, on_nonfinite_loss="skip", **QUIET)
    t.fit(m, loader(16, 4))
    assert t.global_step == 7 and all(np.isfinite(v).all() for v in weights(m).values())
    m = NaNAt()
    Trainer(max_epochs=2, on_nonfinite_loss="ignore", **QUIET).fit(m, loader(16, 4))
    assert not all(np.isfinite(v).all() for v in weights(m).values())
    with pytest.raises(ValueError, match="on_nonfinite_loss='bad'"):
        Trainer(on_nonfinite_loss="bad")


# ---------------------------------------------------------------------------------------------
# validate / test / predict, hparams, checkpoints
# ---------------------------------------------------------------------------------------------
def test_validate_test_return_metric_dicts_and_print_table(capsys):
    t = Trainer(max_epochs=1, **QUIET)
    m = Reg()
    t.fit(m, loader())
    out = t.test(m, loader())
    assert isinstance(out, list) and set(out[0]) == {"test_loss"} and out[0]["test_loss"] > 0
    assert "test_loss" in capsys.readouterr().out
    v = t.validate(m, loader(), verbose=False)
    assert set(v[0]) == {"val_loss"} and capsys.readouterr().out == ""
    preds = t.predict(m, DataLoader(make_data(10), batch_size=4))
    assert [tuple(p.shape) for p in preds] == [(4, 1), (4, 1), (2, 1)]


def test_save_hyperparameters_and_load_from_checkpoint(tmp_path):
    m = Reg(lr=0.25, opt="adam")
    assert m.hparams.lr == 0.25 and dict(m.hparams) == {"lr": 0.25, "opt": "adam"}
    t = Trainer(max_epochs=1, **QUIET)
    t.fit(m, loader())
    p = tmp_path / "m.ckpt"
    t.save_checkpoint(p)
    m2 = Reg.load_from_checkpoint(p)
    assert m2.hparams.opt == "adam"
    for k, v in weights(m).items():
        np.testing.assert_array_equal(weights(m2)[k], v)


def test_checkpoint_from_other_model_names_keys(tmp_path):
    t = Trainer(max_epochs=1, **QUIET)
    t.fit(Reg(), loader())
    p = tmp_path / "m.ckpt"
    t.save_checkpoint(p)

    class Other(Reg):
        def __init__(self, **hparams):
            super().__init__(**hparams)
            self.layer = nn.Linear(4, 2)
            self.extra = nn.Linear(2, 2)

    from ember.train import CheckpointMismatchError

    msg = (r"(?s)checkpoint '.*m\.ckpt' does not match Other:\n"
           r"  missing from the checkpoint: \['extra\.weight', 'extra\.bias'\]\n"
           r"  different shapes: layer\.weight: checkpoint \(1, 4\) vs model \(2, 4\); "
           r"layer\.bias: checkpoint \(1,\) vs model \(2,\)")
    with pytest.raises(CheckpointMismatchError, match=msg):
        Trainer(max_epochs=2, **QUIET).fit(Other(), loader(), ckpt_path=p)
    with pytest.raises(CheckpointMismatchError, match=msg):
        Other.load_from_checkpoint(p)


def test_corrupt_checkpoint_raises_the_loaders_error_naming_file_and_reason(tmp_path):
    from ember.train import CheckpointMismatchError

    garbage = tmp_path / "bad.ckpt"
    garbage.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ember.CheckpointError, match=r"cannot load checkpoint '.*bad\.ckpt': .*truncated or "
                                                    r"not an ember checkpoint") as e:
        Trainer(max_epochs=1, **QUIET).fit(Reg(), loader(), ckpt_path=garbage)
    assert e.value.path == str(garbage) and e.value.reason in str(e.value)

    t = Trainer(max_epochs=1, **QUIET)
    t.fit(Reg(), loader())
    good = tmp_path / "good.ckpt"
    t.save_checkpoint(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) - 40])  # a copy interrupted before its end
    with pytest.raises(ember.CheckpointError, match=r"cut\.ckpt"):
        Reg.load_from_checkpoint(cut)
    flipped = tmp_path / "flipped.ckpt"
    flipped.write_bytes(data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:])  # bit rot in the tensor data
    with pytest.raises(ember.CheckpointError, match=r"flipped\.ckpt"):
        Trainer(max_epochs=2, **QUIET).fit(Reg(), loader(), ckpt_path=flipped)

    weights_only = tmp_path / "sd.ckpt"  # a valid ember file, but not a trainer checkpoint
    ember.save(Reg().state_dict(), weights_only)
    with pytest.raises(CheckpointMismatchError, match=r"sd\.ckpt' is not a trainer checkpoint .*"
                                                      r"model\.load_state_dict\(ember\.load\(path\)\)"):
        Reg.load_from_checkpoint(weights_only)
    with pytest.raises(FileNotFoundError, match="nope.ckpt' does not exist"):
        Trainer(max_epochs=1, **QUIET).fit(Reg(), loader(), ckpt_path=tmp_path / "nope.ckpt")


def test_misc_flag_errors():
    with pytest.raises(ValueError, match="accumulate_grad_batches"):
        Trainer(accumulate_grad_batches=0)
    with pytest.raises(ValueError, match="limit_train_batches=1.5"):
        Trainer(limit_train_batches=1.5, **QUIET).fit(Reg(), loader())
    with pytest.raises(TypeError, match="expects an ember.train.TrainModule"):
        Trainer(**QUIET).fit(nn.Linear(2, 2), loader())


def test_import_ember_train_is_fast_and_lazy():
    # `import ember.train` costs next to nothing over `import ember` (whose own budget is tested
    # with the core) and pulls in none of ember.nn / optim / data or optional packages
    code = ("import time, sys; t=time.perf_counter(); import ember; a=time.perf_counter(); "
            "import ember.train; b=time.perf_counter(); "
            "bad=[m for m in ('ember.nn', 'ember.optim', 'ember.utils.data', 'tqdm', 'matplotlib') "
            "if m in sys.modules]; print(b-a, b-t, bad)")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           timeout=300).stdout.split(" ", 2)
            for _ in range(3)]
    assert min(float(r[0]) for r in runs) < 0.02
    # the absolute cost of `import ember` (mostly NumPy) is budgeted in tests/test_package.py
    assert runs[0][2].strip() == "[]"


def test_exception_calls_on_exception():
    seen = []

    class CB(Callback):
        def on_exception(self, trainer, module, exc):
            seen.append(type(exc).__name__)

    class M(Reg):
        def training_step(self, batch, batch_idx):
            raise KeyError("boom")

    with pytest.raises(KeyError):
        Trainer(max_epochs=1, callbacks=[CB()], **QUIET).fit(M(), loader())
    assert seen == ["KeyError"]


def test_no_warnings_in_plain_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = Trainer(max_epochs=1, **QUIET)
        t.fit(Reg(), loader(), loader())
    assert math.isfinite(t.callback_metrics["val_loss"])


def test_datamodule_and_ckpt_path_best(tmp_path):
    from ember.train import DataModule
    from ember.train.callbacks import ModelCheckpoint

    calls = []

    class DM(DataModule):
        def prepare_data(self):
            calls.append("prepare_data")

        def setup(self, stage):
            calls.append(f"setup:{stage}")

        def train_dataloader(self):
            return loader(16, 4)

        def val_dataloader(self):
            return loader(8, 4)

        def test_dataloader(self):
            return loader(8, 4)

        def state_dict(self):
            return {"seen": len(calls)}

    ck = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=1)
    t = Trainer(max_epochs=3, callbacks=[ck], enable_progress_bar=False, enable_model_summary=False, logger=False)
    m = Reg()
    t.fit(m, datamodule=DM())
    assert calls[:2] == ["prepare_data", "setup:fit"]
    best = ember.load(ck.best_model_path)
    assert best["datamodule"]["seen"] >= 2 and best["epoch"] == int(ck.best_model_path.split("epoch=")[1][0])
    out = t.test(datamodule=DM(), verbose=False)  # model=None: the best checkpoint's weights
    assert t.ckpt_path == ck.best_model_path and set(out[0]) == {"test_loss"}


def test_detect_anomaly_flag_names_the_forward_op():
    class NaNGrad(Reg):
        def training_step(self, batch, batch_idx):
            x, y = batch
            z = self(x) * 0 - 1.0  # negative: sqrt's backward gives NaN
            return ember.sqrt(z).sum() * 0 + F.mse_loss(self(x), y)

    t = Trainer(max_epochs=1, limit_val_batches=0, detect_anomaly=True, on_nonfinite_loss="ignore", **QUIET)
    with pytest.raises(RuntimeError, match="SqrtBackward.*nan"):
        t.fit(NaNGrad(), loader())


def test_num_sanity_val_steps_minus_one_runs_every_validation_batch():
    seen = []

    class Count(Callback):
        def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
            if trainer.sanity_checking:
                seen.append(batch_idx)

    Trainer(max_epochs=1, limit_train_batches=1, num_sanity_val_steps=-1, callbacks=[Count()], **QUIET).fit(
        Reg(), loader(), loader(n=40, bs=8))
    assert seen == [0, 1, 2, 3, 4]


def test_flags_without_effect_warn_and_nonfinite_error_is_exported():
    with pytest.warns(UserWarning, match=r"profiler='simple'\) has no effect"):
        Trainer(profiler="simple", **QUIET)
    from ember.train import NonFiniteLossError

    assert issubclass(NonFiniteLossError, FloatingPointError)


def test_step_checkpoints_wait_for_the_validation_that_gives_their_metric(tmp_path):
    # Lightning 2.6 (ModelCheckpoint.on_train_batch_end, automatic optimization): a step-triggered save
    # whose monitored key is not logged yet, or that falls on an epoch's last batch with validation due
    # after it, is deferred to on_validation_end (scored with the fresh value). Expected scores are the
    # ones Lightning 2.6.6 gives to this program (5 batches an epoch, validation every 2 batches).
    from ember.train.callbacks import ModelCheckpoint

    vals = [1.0, 0.5, 0.7, 0.3, 0.9, 0.2]

    class M(Reg):
        n = 0

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", vals[min(self.n, len(vals) - 1)])

        def on_validation_epoch_end(self):
            self.n += 1

    ck = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", every_n_train_steps=2, save_top_k=-1)
    t = Trainer(max_epochs=3, val_check_interval=2, num_sanity_val_steps=0, callbacks=[ck],
                enable_progress_bar=False, enable_model_summary=False, logger=False)
    t.fit(M(), loader(20, 4), loader(8, 4))
    got = {os.path.basename(k): round(float(v), 4) for k, v in ck.best_k_models.items()}
    assert got == {"epoch=0-step=2.ckpt": 1.0, "epoch=0-step=4.ckpt": 1.0, "epoch=1-step=6.ckpt": 0.5,
                   "epoch=1-step=8.ckpt": 0.7, "epoch=2-step=12.ckpt": 0.3, "epoch=2-step=14.ckpt": 0.9}


def test_several_eval_loaders_put_step_epoch_before_the_loader_suffix():
    # Lightning: "vb_epoch/dataloader_idx_0" (the fork suffix, then the loader); ember used to write
    # "vb/dataloader_idx_0_epoch", and validate()'s per-loader results dropped such keys
    class M(Reg):
        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            self.log("va", float(dataloader_idx))
            self.log("vb", float(batch_idx + 10 * dataloader_idx), on_step=True, on_epoch=True)

    t = Trainer(**QUIET)
    res = t.validate(M(), [loader(8, 4), loader(12, 4)], verbose=False)
    assert res == [{"va/dataloader_idx_0": 0.0, "vb_epoch/dataloader_idx_0": 0.5},
                   {"va/dataloader_idx_1": 1.0, "vb_epoch/dataloader_idx_1": 11.0}]
    assert sorted(t.logged_metrics) == ["va/dataloader_idx_0", "va/dataloader_idx_1", "vb_epoch/dataloader_idx_0",
                                        "vb_epoch/dataloader_idx_1", "vb_step/dataloader_idx_0",
                                        "vb_step/dataloader_idx_1"]
    assert sorted(t.callback_metrics) == ["va/dataloader_idx_0", "va/dataloader_idx_1", "vb/dataloader_idx_0",
                                          "vb/dataloader_idx_1", "vb_epoch/dataloader_idx_0",
                                          "vb_epoch/dataloader_idx_1"]
    # a monitor on such a key is known at the sanity check (it is logged), and is honoured
    from ember.train.callbacks import EarlyStopping

    es = EarlyStopping(monitor="vb_epoch/dataloader_idx_1", patience=0)
    t = Trainer(max_epochs=3, callbacks=[es], **QUIET)
    t.fit(M(), loader(8, 4), [loader(8, 4), loader(12, 4)])
    assert t.current_epoch == 2 and es.best_score == 11.0

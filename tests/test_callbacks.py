"""Callbacks against a tiny fake trainer: scripted metric sequences and state_dict round trips."""

from __future__ import annotations

import io
import math
import os
import time
from datetime import timedelta

import pytest

from ember.train.callbacks.early_stopping import EarlyStopping, EarlyStoppingReason
from ember.train.callbacks.grad_accum import GradientAccumulationScheduler
from ember.train.callbacks.lambda_function import LambdaCallback
from ember.train.callbacks.lr_monitor import LearningRateMonitor
from ember.train.callbacks.model_checkpoint import ModelCheckpoint
from ember.train.callbacks.on_exception import OnExceptionCheckpoint
from ember.train.callbacks.progress import RichProgressBar, TQDMProgressBar
from ember.train.callbacks.timer import Timer


class _State:
    fn = "fit"


class FakeTrainer:
    """Just the attributes callbacks read."""

    def __init__(self, tmp_path=None, loggers=()):
        self.current_epoch = 0
        self.global_step = 0
        self.should_stop = False
        self.callback_metrics: dict = {}
        self.progress_bar_metrics: dict = {}
        self.sanity_checking = False
        self.fast_dev_run = False
        self.state = _State()
        self.default_root_dir = str(tmp_path) if tmp_path is not None else "."
        self.loggers = list(loggers)
        self.logger = self.loggers[0] if self.loggers else None
        self.optimizers: list = []
        self.lr_scheduler_configs: list = []
        self.log_every_n_steps = 1
        self.num_training_batches = 4
        self.num_val_batches = [2]
        self.val_check_interval = 1.0
        self.check_val_every_n_epoch = 1
        self.accumulate_grad_batches = 1
        self.ckpt_path = None
        self.saved: list = []

    def save_checkpoint(self, path, weights_only=False):
        with open(path, "w") as f:
            f.write(f"step={self.global_step}")
        self.saved.append(os.path.basename(path))


# -- EarlyStopping -----------------------------------------------------------------------------
def _run_es(es, values, trainer=None):
    trainer = trainer or FakeTrainer()
    es.setup(trainer, None, "fit")
    for epoch, v in enumerate(values):
        trainer.current_epoch = epoch
        trainer.callback_metrics = {es.monitor: v}
        es.on_train_epoch_end(trainer, None)
        if trainer.should_stop:
            break
    return trainer


def test_early_stopping_min_mode_patience():
    es = EarlyStopping(monitor="val_loss", patience=2)
    t = _run_es(es, [1.0, 0.8, 0.9, 0.85, 0.7])
    assert t.should_stop and t.current_epoch == 3 and es.stopped_epoch == 3
    assert es.best_score == 0.8 and es.wait_count == 2
    assert es.stopping_reason is EarlyStoppingReason.PATIENCE_EXHAUSTED
    assert "did not improve in the last 2 records" in es.stopping_reason_message


def test_early_stopping_max_mode_and_min_delta():
    es = EarlyStopping(monitor="val_acc", mode="max", patience=2, min_delta=0.05)
    t = _run_es(es, [0.5, 0.6, 0.62, 0.64, 0.9])
    # 0.62 and 0.64 are within min_delta of 0.6: two non-improvements -> stop at epoch 3
    assert t.should_stop and es.stopped_epoch == 3 and es.best_score == 0.6


def test_early_stopping_improvement_resets_wait():
    es = EarlyStopping(monitor="val_loss", patience=2)
    t = _run_es(es, [1.0, 1.1, 0.9, 1.0, 0.8, 0.85])
    assert not t.should_stop and es.wait_count == 1 and es.best_score == 0.8


def test_early_stopping_thresholds():
    es = EarlyStopping(monitor="val_loss", stopping_threshold=0.5, patience=10)
    t = _run_es(es, [1.0, 0.7, 0.49, 0.1])
    assert t.should_stop and es.stopped_epoch == 2
    assert es.stopping_reason is EarlyStoppingReason.STOPPING_THRESHOLD
    es = EarlyStopping(monitor="val_loss", divergence_threshold=5.0, patience=10)
    t = _run_es(es, [1.0, 2.0, 6.0, 0.1])
    assert t.should_stop and es.stopped_epoch == 2
    assert es.stopping_reason is EarlyStoppingReason.DIVERGENCE_THRESHOLD
    assert "Divergence threshold reached" in es.stopping_reason_message


def test_early_stopping_check_finite():
    es = EarlyStopping(monitor="val_loss", patience=10)
    t = _run_es(es, [1.0, float("nan"), 0.5])
    assert t.should_stop and es.stopped_epoch == 1
    assert es.stopping_reason is EarlyStoppingReason.NON_FINITE_METRIC
    es = EarlyStopping(monitor="val_loss", patience=10, check_finite=False)
    t = _run_es(es, [1.0, float("inf"), 0.5])
    assert not t.should_stop and es.best_score == 0.5


def test_early_stopping_default_monitor_and_missing_key(caplog):
    with caplog.at_level("INFO", logger="ember.train"):
        es = EarlyStopping(patience=3)
    assert es.monitor == "val_loss"
    assert "val_loss" in caplog.text
    t = FakeTrainer()
    es.setup(t, None, "fit")
    t.callback_metrics = {"train_loss": 1.0}
    with pytest.raises(RuntimeError, match=r"'val_loss'.*Available metrics: 'train_loss'.*by default"):
        es.on_train_epoch_end(t, None)
    lax = EarlyStopping(monitor="val_loss", strict=False)
    lax.setup(t, None, "fit")
    lax.on_train_epoch_end(t, None)
    assert not t.should_stop and lax.wait_count == 0


def test_early_stopping_mode_contradicts_name_warns():
    with pytest.warns(UserWarning, match=r"suggests that higher is better.*mode='max'"):
        EarlyStopping(monitor="val_acc", mode="min")
    with pytest.warns(UserWarning, match="lower is better"):
        ModelCheckpoint(monitor="val_loss", mode="max")


def test_early_stopping_bad_args():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(monitor="val_loss", mode="minimum")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(monitor="val_loss", patience=-1)


def test_early_stopping_check_on_validation_end_and_skips():
    es = EarlyStopping(monitor="val_loss", patience=1, check_on_train_epoch_end=False)
    t = FakeTrainer()
    es.setup(t, None, "fit")
    t.callback_metrics = {"val_loss": 1.0}
    es.on_train_epoch_end(t, None)  # not checked here
    assert es.best_score == math.inf
    t.sanity_checking = True
    es.on_validation_end(t, None)  # skipped during sanity check
    assert es.best_score == math.inf
    t.sanity_checking = False
    es.on_validation_end(t, None)
    assert es.best_score == 1.0
    t.state.fn = "validate"
    t.callback_metrics = {"val_loss": 5.0}
    es.on_validation_end(t, None)  # trainer.validate(): no early stopping
    assert es.wait_count == 0


def test_early_stopping_state_dict_round_trip():
    es = EarlyStopping(monitor="val_loss", patience=3)
    _run_es(es, [1.0, 0.5, 0.6])
    sd = es.state_dict()
    es2 = EarlyStopping(monitor="val_loss", patience=3)
    es2.load_state_dict(sd)
    assert (es2.best_score, es2.wait_count, es2.stopped_epoch) == (0.5, 1, 0)
    # the resumed one reaches the same decision as the uninterrupted one
    t1, t2 = FakeTrainer(), FakeTrainer()
    for es_, t in ((es, t1), (es2, t2)):
        es_.setup(t, None, "fit")
        for e, v in [(3, 0.7), (4, 0.8)]:
            t.current_epoch, t.callback_metrics = e, {"val_loss": v}
            es_.on_train_epoch_end(t, None)
    assert t1.should_stop and t2.should_stop and es.stopped_epoch == es2.stopped_epoch == 4
    assert es.state_key == "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}"


# -- ModelCheckpoint ---------------------------------------------------------------------------
def _ckpt_run(ck, trainer, values, key="val_loss"):
    ck.setup(trainer, None, "fit")
    ck.on_train_start(trainer, None)
    for epoch, v in enumerate(values):
        trainer.current_epoch = epoch
        trainer.global_step = (epoch + 1) * 10
        trainer.callback_metrics = {key: v}
        ck.on_validation_end(trainer, None)
        ck.on_train_epoch_end(trainer, None)


def test_checkpoint_name_templates():
    ck = ModelCheckpoint(dirpath="/ck", filename="{epoch}-{val_loss:.2f}")
    assert ck.format_checkpoint_name({"epoch": 3, "val_loss": 0.2468}) == "/ck/epoch=3-val_loss=0.25.ckpt"
    ck = ModelCheckpoint(dirpath="/ck", filename="e{epoch:02d}_{val/acc:.3f}", auto_insert_metric_name=False)
    assert ck.format_checkpoint_name({"epoch": 3, "val/acc": 0.91234}) == "/ck/e03_0.912.ckpt"
    ck = ModelCheckpoint(dirpath="/ck")
    assert ck.format_checkpoint_name({"epoch": 1, "step": 20}) == "/ck/epoch=1-step=20.ckpt"
    assert ck.format_checkpoint_name({"epoch": 1, "step": 20}, ver=2) == "/ck/epoch=1-step=20-v2.ckpt"
    assert ck.format_checkpoint_name({}, "last") == "/ck/last.ckpt"
    # a missing key formats as 0, like Lightning
    assert ModelCheckpoint(dirpath="/ck", filename="{foo:.1f}").format_checkpoint_name({}) == "/ck/foo=0.0.ckpt"


def test_checkpoint_top_k_bookkeeping_and_removal(tmp_path):
    ck = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}-{val_loss:.2f}", monitor="val_loss", save_top_k=2,
                         save_last=True)
    t = FakeTrainer(tmp_path)
    _ckpt_run(ck, t, [0.9, 0.5, 0.7, 0.3, 0.8])
    files = sorted(os.listdir(tmp_path))
    assert files == ["epoch=1-val_loss=0.50.ckpt", "epoch=3-val_loss=0.30.ckpt", "last.ckpt"]
    assert ck.best_model_path == os.path.join(ck.dirpath, "epoch=3-val_loss=0.30.ckpt")
    assert ck.best_model_score.item() == pytest.approx(0.3)
    assert ck.kth_best_model_path.endswith("epoch=1-val_loss=0.50.ckpt") and ck.kth_value == pytest.approx(0.5)
    assert {os.path.basename(k): round(v, 2) for k, v in ck.best_k_models.items()} == {
        "epoch=1-val_loss=0.50.ckpt": 0.5, "epoch=3-val_loss=0.30.ckpt": 0.3}
    assert ck.last_model_path.endswith("last.ckpt")
    with open(ck.last_model_path) as f:
        assert f.read() == "step=50"


def test_checkpoint_max_mode_keep_all_and_none(tmp_path):
    ck = ModelCheckpoint(dirpath=tmp_path / "a", monitor="val_acc", mode="max", save_top_k=-1)
    _ckpt_run(ck, FakeTrainer(tmp_path), [0.1, 0.5, 0.3], key="val_acc")
    assert len(os.listdir(tmp_path / "a")) == 3 and ck.best_model_score == pytest.approx(0.5)
    ck = ModelCheckpoint(dirpath=tmp_path / "b", monitor="val_acc", mode="max", save_top_k=0, save_last=True)
    _ckpt_run(ck, FakeTrainer(tmp_path), [0.1, 0.5], key="val_acc")
    assert os.listdir(tmp_path / "b") == ["last.ckpt"] and ck.best_model_path == ""


def test_checkpoint_no_monitor_keeps_latest_only(tmp_path):
    ck = ModelCheckpoint(dirpath=tmp_path)
    _ckpt_run(ck, FakeTrainer(tmp_path), [1, 2, 3])
    assert os.listdir(tmp_path) == ["epoch=2-step=30.ckpt"]
    with pytest.raises(ValueError, match="only if `monitor` is set"):
        ModelCheckpoint(save_top_k=3)
    with pytest.raises(ValueError, match="save_top_k"):
        ModelCheckpoint(monitor="val_loss", save_top_k=-2)
    with pytest.raises(ValueError, match="mutually exclusive"):
        ModelCheckpoint(every_n_epochs=2, every_n_train_steps=5)


def test_checkpoint_every_n_train_steps_and_time(tmp_path):
    ck = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=3, save_top_k=-1)
    t = FakeTrainer(tmp_path)
    ck.setup(t, None, "fit")
    ck.on_train_start(t, None)
    for step in range(1, 10):
        t.global_step = step
        ck.on_train_batch_end(t, None, None, None, step - 1)
        ck.on_train_epoch_end(t, None)  # every_n_epochs is off
    assert t.saved == ["epoch=0-step=3.ckpt", "epoch=0-step=6.ckpt", "epoch=0-step=9.ckpt"]
    ck = ModelCheckpoint(dirpath=tmp_path / "t", train_time_interval=timedelta(seconds=0.05))
    t = FakeTrainer(tmp_path)
    ck.setup(t, None, "fit")
    ck.on_train_start(t, None)
    t.global_step = 1
    ck.on_train_batch_end(t, None, None, None, 0)
    assert t.saved == []
    time.sleep(0.06)
    t.global_step = 2
    ck.on_train_batch_end(t, None, None, None, 1)
    assert t.saved == ["epoch=0-step=2.ckpt"]


def test_checkpoint_version_counter(tmp_path):
    (tmp_path / "epoch=0-step=10.ckpt").write_text("old")
    ck = ModelCheckpoint(dirpath=tmp_path)
    t = FakeTrainer(tmp_path)
    with pytest.warns(UserWarning, match="exists and is not empty"):
        ck.setup(t, None, "fit")
    t.global_step = 10
    t.callback_metrics = {}
    ck.on_train_epoch_end(t, None)
    assert t.saved == ["epoch=0-step=10-v1.ckpt"]
    assert (tmp_path / "epoch=0-step=10.ckpt").read_text() == "old"


def test_checkpoint_save_last_link(tmp_path):
    ck = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_last="link")
    _ckpt_run(ck, FakeTrainer(tmp_path), [0.5, 0.7])
    last = tmp_path / "last.ckpt"
    assert last.is_symlink() or last.exists()
    # epoch 1 was not in the top 1, so last is a real file with that step's state (not a stale link)
    assert last.read_text() == "step=20"
    ck = ModelCheckpoint(dirpath=tmp_path / "l", monitor="val_loss", save_last="link")
    _ckpt_run(ck, FakeTrainer(tmp_path), [0.5, 0.3])
    assert (tmp_path / "l" / "last.ckpt").is_symlink()
    assert os.path.realpath(tmp_path / "l" / "last.ckpt") == os.path.realpath(ck.best_model_path)


def test_checkpoint_missing_monitor_key(tmp_path):
    ck = ModelCheckpoint(dirpath=tmp_path, monitor="val_los")
    t = FakeTrainer(tmp_path)
    ck.setup(t, None, "fit")
    t.global_step = 5
    t.callback_metrics = {"val_loss": 1.0}
    with pytest.raises(RuntimeError, match=r"'val_los'.*Available metrics: 'epoch', 'step', 'val_loss'"):
        ck.on_validation_end(t, None)
        ck.on_train_epoch_end(t, None)


def test_checkpoint_state_dict_round_trip(tmp_path):
    ck = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2, save_last=True)
    _ckpt_run(ck, FakeTrainer(tmp_path), [0.9, 0.5, 0.7])
    sd = ck.state_dict()
    ck2 = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2, save_last=True)
    ck2.load_state_dict(sd)
    for attr in ("best_model_path", "best_model_score", "kth_best_model_path", "kth_value", "last_model_path",
                 "best_k_models"):
        assert getattr(ck2, attr) == getattr(ck, attr), attr
    ck3 = ModelCheckpoint(dirpath=tmp_path / "elsewhere", monitor="val_loss")
    with pytest.warns(UserWarning, match="dirpath has changed"):
        ck3.load_state_dict(sd)
    assert ck3.best_model_path == ck.best_model_path and ck3.best_k_models == {}
    assert "monitor': 'val_loss'" in ck.state_key


def test_checkpoint_default_dirpath(tmp_path):
    from ember.train.loggers import CSVLogger

    lg = CSVLogger(tmp_path, name="exp")
    ck = ModelCheckpoint()
    ck.setup(FakeTrainer(tmp_path, loggers=[lg]), None, "fit")
    assert ck.dirpath == os.path.realpath(tmp_path / "exp" / "version_0" / "checkpoints")
    ck = ModelCheckpoint()
    ck.setup(FakeTrainer(tmp_path), None, "fit")
    assert ck.dirpath == os.path.realpath(tmp_path / "checkpoints")


def test_checkpoint_never_removes_resumed_from(tmp_path):
    ck = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss")
    t = FakeTrainer(tmp_path)
    _ckpt_run(ck, t, [0.5])
    first = ck.best_model_path
    t.ckpt_path = first
    t.global_step = 100
    t.current_epoch = 5
    t.callback_metrics = {"val_loss": 0.1}
    ck.on_train_epoch_end(t, None)
    assert os.path.exists(first) and ck.best_model_path != first


# -- LearningRateMonitor -----------------------------------------------------------------------
class _Opt:
    def __init__(self, groups, defaults):
        self.param_groups = groups
        self.defaults = defaults


class Adam(_Opt):
    pass


class SGD(_Opt):
    pass


class _Sched:
    def __init__(self, optimizer):
        self.optimizer = optimizer


class _RecLogger:
    version = 0
    name = "x"

    def __init__(self):
        self.rows = []

    def log_metrics(self, metrics, step=None):
        self.rows.append((step, dict(metrics)))


def test_lr_monitor_keys():
    lg = _RecLogger()
    t = FakeTrainer(loggers=[lg])
    adam = Adam([{"lr": 0.1, "betas": (0.9, 0.99), "weight_decay": 0.0},
                 {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}], {"betas": (0.9, 0.999)})
    sgd = SGD([{"lr": 0.5, "momentum": 0.9, "weight_decay": 0}], {"momentum": 0})
    adam2 = Adam([{"lr": 0.2, "betas": (0.9, 0.99), "weight_decay": 0}], {"betas": (0.9, 0.999)})
    t.optimizers = [adam, sgd, adam2]
    t.lr_scheduler_configs = [{"scheduler": _Sched(sgd), "interval": "step", "name": None}]
    mon = LearningRateMonitor(log_momentum=True, log_weight_decay=True)
    mon.on_train_start(t, None)
    mon.on_train_batch_start(t, None, None, 0)
    step_keys = set(lg.rows[-1][1])
    assert {"lr-SGD", "lr-SGD-momentum", "lr-SGD-weight_decay", "lr-Adam/pg1", "lr-Adam/pg2", "lr-Adam-1",
            "lr-Adam/pg1-momentum", "lr-Adam/pg2-weight_decay"} <= step_keys
    assert lg.rows[-1][1]["lr-Adam/pg2"] == 0.01 and lg.rows[-1][1]["lr-Adam/pg2-momentum"] == 0.8
    lg.rows.clear()
    mon.on_train_epoch_start(t, None)
    # the SGD scheduler steps per "step", so it is not logged at the epoch; optimizers without one are
    assert "lr-SGD" not in lg.rows[-1][1] and "lr-Adam-1" in lg.rows[-1][1]
    assert mon.lrs["lr-Adam/pg1"] == [0.1, 0.1]
    assert t.callback_metrics["lr-Adam-1"] == 0.2


def test_lr_monitor_named_scheduler_and_errors():
    lg = _RecLogger()
    t = FakeTrainer(loggers=[lg])
    opt = Adam([{"lr": 0.1, "name": "backbone"}, {"lr": 0.2, "name": "head"}], {})
    t.optimizers = [opt]
    t.lr_scheduler_configs = [{"scheduler": _Sched(opt), "interval": "epoch", "name": "my_lr"}]
    mon = LearningRateMonitor(logging_interval="epoch")
    mon.on_train_start(t, None)
    mon.on_train_epoch_start(t, None)
    assert lg.rows[-1][1] == {"my_lr/backbone": 0.1, "my_lr/head": 0.2}
    with pytest.raises(ValueError, match="logging_interval"):
        LearningRateMonitor(logging_interval="batch")
    with pytest.raises(RuntimeError, match="no logger"):
        LearningRateMonitor().on_train_start(FakeTrainer(), None)
    t.optimizers = [Adam([{"lr": 0.1, "name": "a"}, {"lr": 0.2, "name": "a"}], {})]
    t.lr_scheduler_configs = []
    with pytest.raises(ValueError, match="duplicated parameter group names"):
        mon.on_train_start(t, None)


def test_lr_monitor_log_every_n_steps():
    lg = _RecLogger()
    t = FakeTrainer(loggers=[lg])
    t.optimizers = [SGD([{"lr": 0.1}], {})]
    t.log_every_n_steps = 5
    mon = LearningRateMonitor(logging_interval="step")
    mon.on_train_start(t, None)
    for step in range(10):
        t.global_step = step
        mon.on_train_batch_start(t, None, None, step)
    assert [s for s, _ in lg.rows] == [4, 9]


# -- progress bars -----------------------------------------------------------------------------
def _fit_with_bar(bar, trainer, epochs=2, batches=4):
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)
    for epoch in range(epochs):
        trainer.current_epoch = epoch
        bar.on_train_epoch_start(trainer, None)
        for b in range(batches):
            trainer.progress_bar_metrics = {"loss": 1.0 / (epoch * batches + b + 1)}
            bar.on_train_batch_end(trainer, None, None, None, b)
        bar.on_validation_start(trainer, None)
        for b in range(2):
            bar.on_validation_batch_end(trainer, None, None, None, b)
        trainer.progress_bar_metrics["val_loss"] = 0.5 - epoch / 10
        bar.on_validation_end(trainer, None)
        bar.on_train_epoch_end(trainer, None)
    bar.on_train_end(trainer, None)


def test_progress_bar_non_tty_prints_one_line_per_epoch():
    out = io.StringIO()
    lg = _RecLogger()
    t = FakeTrainer(loggers=[lg])
    _fit_with_bar(TQDMProgressBar(file=out), t)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[0].startswith("Epoch 0: 4/4 [") and "it/s]" in lines[0]
    assert "loss=0.25" in lines[0] and "val_loss=0.5" in lines[0] and "v_num=0" in lines[0]
    assert lines[1].startswith("Epoch 1: 4/4") and "loss=0.125" in lines[1] and "val_loss=0.4" in lines[1]


def test_progress_bar_tty_redraws_in_place(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the bar is cut to the terminal width, which varies by runner
    out = io.StringIO()
    t = FakeTrainer()
    _fit_with_bar(TQDMProgressBar(file=out, interactive=True), t, epochs=1)
    text = out.getvalue()
    assert text.count("\r") >= 4 and text.endswith("\n")
    final = text.rstrip("\n").split("\r")[-1]
    assert "Epoch 0: 100%|" in final and "4/4 [" in final and "<00:00" in final and "val_loss=0.5" in final
    assert "Validation:" in text


def test_progress_bar_disable_and_rich_style():
    out = io.StringIO()
    bar = TQDMProgressBar(file=out)
    bar.disable()
    assert bar.is_disabled
    _fit_with_bar(bar, FakeTrainer())
    assert out.getvalue() == ""
    bar.enable()
    assert bar.is_enabled and TQDMProgressBar(refresh_rate=0).is_disabled
    out = io.StringIO()
    _fit_with_bar(RichProgressBar(file=out, interactive=True), FakeTrainer(), epochs=1)
    assert "━" in out.getvalue()


def test_progress_bar_test_run_line():
    out = io.StringIO()
    t = FakeTrainer()
    t.state.fn = "test"
    t.num_test_batches = [3]
    bar = TQDMProgressBar(file=out)
    bar.setup(t, None, "test")
    bar.on_test_start(t, None)
    for b in range(3):
        bar.on_test_batch_end(t, None, None, None, b)
    bar.on_test_end(t, None)
    assert out.getvalue().startswith("Testing: 3/3 [")


# -- Timer -------------------------------------------------------------------------------------
def test_timer_duration_formats_and_stop():
    assert Timer("00:00:01:30")._duration == 90
    assert Timer({"minutes": 2})._duration == 120
    assert Timer(timedelta(seconds=5))._duration == 5
    with pytest.raises(ValueError, match="DD:HH:MM:SS"):
        Timer("1:30")
    with pytest.raises(ValueError, match="interval"):
        Timer(interval="batch")
    timer = Timer(duration=timedelta(seconds=0.05), verbose=False)
    t = FakeTrainer()
    timer.on_fit_start(t, None)
    timer.on_train_start(t, None)
    timer.on_train_batch_end(t, None, None, None, 0)
    assert not t.should_stop and 0 < timer.time_remaining() <= 0.05
    time.sleep(0.06)
    timer.on_train_batch_end(t, None, None, None, 1)
    assert t.should_stop and timer.time_elapsed("train") >= 0.05


def test_timer_state_dict_round_trip():
    timer = Timer(duration=timedelta(seconds=100))
    timer._start_time["train"], timer._end_time["train"] = 10.0, 15.5
    sd = timer.state_dict()
    assert sd["time_elapsed"]["train"] == 5.5 and sd["time_elapsed"]["test"] == 0.0
    timer2 = Timer(duration=timedelta(seconds=100))
    timer2.load_state_dict(sd)
    assert timer2.time_elapsed() == 5.5 and timer2.time_remaining() == 94.5
    t = FakeTrainer()
    timer3 = Timer(duration=timedelta(seconds=5), verbose=False)
    timer3.load_state_dict(sd)
    timer3.on_fit_start(t, None)  # a restored, already spent budget stops at once
    assert t.should_stop


# -- GradientAccumulationScheduler -------------------------------------------------------------
def test_grad_accum_scheduler():
    cb = GradientAccumulationScheduler({2: 4, 5: 8})
    t = FakeTrainer()
    cb.on_train_start(t, None)
    got = []
    for epoch in range(7):
        t.current_epoch = epoch
        cb.on_train_epoch_start(t, None)
        got.append(t.accumulate_grad_batches)
    assert got == [1, 1, 4, 4, 4, 8, 8]
    cb.on_train_start(t, None)  # a second fit: the value it set itself is not a conflict
    t.accumulate_grad_batches = 3
    with pytest.raises(ValueError, match="remove `accumulate_grad_batches`"):
        GradientAccumulationScheduler({0: 2}).on_train_start(t, None)
    with pytest.raises(ValueError, match="ints > 0"):
        GradientAccumulationScheduler({1: 0})
    with pytest.raises(ValueError, match="ints >= 0"):
        GradientAccumulationScheduler({-1: 2})
    sd = cb.state_dict()
    cb2 = GradientAccumulationScheduler({0: 1})
    cb2.load_state_dict(sd)
    assert cb2.scheduling == cb.scheduling


# -- LambdaCallback / OnExceptionCheckpoint ----------------------------------------------------
def test_lambda_callback():
    seen = []
    cb = LambdaCallback(on_train_epoch_end=lambda trainer, module: seen.append(trainer.current_epoch),
                        setup=lambda trainer, module, stage: seen.append(stage))
    t = FakeTrainer()
    cb.setup(t, None, "fit")
    t.current_epoch = 3
    cb.on_train_epoch_end(t, None)
    cb.on_train_start(t, None)  # not given: the no-op
    assert seen == ["fit", 3]
    with pytest.raises(TypeError, match="unknown hook name"):
        LambdaCallback(on_epoch_end=print)


def test_on_exception_checkpoint(tmp_path):
    cb = OnExceptionCheckpoint(tmp_path)
    t = FakeTrainer(tmp_path)
    cb.setup(t, None, "fit")
    cb.on_exception(t, None, KeyboardInterrupt())
    assert os.path.exists(cb.ckpt_path) and cb.ckpt_path.endswith("on_exception.ckpt")
    cb.teardown(t, None, "fit")  # a trainer tearing down after the crash keeps it
    assert os.path.exists(cb.ckpt_path)
    cb.setup(t, None, "fit")
    cb.teardown(t, None, "fit")  # a later clean run removes the stale one
    assert not os.path.exists(cb.ckpt_path)


def test_model_checkpoint_ranks_with_the_shared_metric_monitor(tmp_path):
    from ember.train._monitor import MetricMonitor

    ck = ModelCheckpoint(dirpath=tmp_path, monitor="val_acc", mode="max", save_top_k=2)
    es = EarlyStopping(monitor="val_acc", mode="max")
    assert type(ck._tracker) is type(es._tracker) is MetricMonitor
    assert (ck.mode, ck.monitor, ck._tracker.mode, ck._tracker.monitor) == ("max", "val_acc", "max", "val_acc")
    assert ck.kth_value == -math.inf
    with pytest.raises(ValueError, match="ModelCheckpoint: mode must be 'min' or 'max', got 'up'"):
        ModelCheckpoint(monitor="val_acc", mode="up")
    # a ModelCheckpoint state written before the monitor was shared (the same keys) still loads
    a, b = str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt")
    old = {"monitor": "val_acc", "best_model_score": 0.9, "best_model_path": a, "current_score": 0.8,
           "dirpath": ck.dirpath, "best_k_models": {a: 0.9, b: 0.8}, "kth_best_model_path": b, "kth_value": 0.8,
           "last_model_path": ""}
    ck.load_state_dict(old)
    assert ck.state_dict() == old and ck._tracker.best == 0.9 and ck.best_model_score.item() == 0.9
    assert ck.check_monitor_top_k(None, 0.85) and not ck.check_monitor_top_k(None, 0.8)
    assert not ck.check_monitor_top_k(None, float("nan"))
    assert ck._tracker.rank_value(float("nan")) == -math.inf          # a NaN ranks last
    assert ck._tracker.best_key(ck.best_k_models) == a and ck._tracker.worst_key(ck.best_k_models) == b
    ck.mode = "min"                                                   # writable, as Lightning's attribute
    assert ck._tracker.mode == "min" and ck.check_monitor_top_k(None, 0.7) and ck._tracker.best == 0.9

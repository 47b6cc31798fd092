"""The machinery behind ``self.log``: per-step values, epoch aggregation, and the three metric
dicts the trainer exposes (``callback_metrics``, ``logged_metrics``, ``progress_bar_metrics``).

Lightning's rules: in training-batch hooks ``on_step=True, on_epoch=False`` by default, elsewhere
``on_step=False, on_epoch=True``; a metric logged with both appears as ``name_step`` (each step)
and ``name_epoch`` (at epoch end), and ``callback_metrics[name]`` holds the latest of the two.
Epoch values are batch-size-weighted means unless ``reduce_fx`` says otherwise.
"""

from __future__ import annotations

__all__ = ["ResultCollection", "MetricValue"]


class MetricValue(float):
    """A logged metric as the trainer's metric dicts hold it: a Python float that also answers the
    tensor methods Lightning code calls on ``trainer.callback_metrics[...]`` values (Lightning keeps
    0-d tensors there), so ``trainer.callback_metrics["val_loss"].item()`` ports unchanged."""

    __slots__ = ()

    def item(self) -> float:
        return float(self)

    tolist = item

    def detach(self) -> MetricValue:
        return self

    cpu = clone = detach

    def numpy(self):
        import numpy as np
        return np.asarray(float(self))

    def dim(self) -> int:
        return 0

    @property
    def shape(self) -> tuple:
        return ()

# hooks in which Lightning logs per step by default
_STEP_HOOKS = frozenset({
    "training_step", "on_train_batch_start", "on_train_batch_end", "on_before_backward",
    "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad",
})
_FORBIDDEN = frozenset({"predict_step", "on_predict_batch_start", "on_predict_batch_end", "setup",
                        "teardown", "prepare_data", "configure_optimizers", "configure_callbacks",
                        "on_fit_start", "on_fit_end", "on_save_checkpoint", "on_load_checkpoint"})
_REDUCE = {"mean": "mean", "avg": "mean", "sum": "sum", "max": "max", "min": "min"}


def _to_float(value, name):
    d = getattr(value, "_data", None)
    if d is not None:
        if d.size != 1:
            raise ValueError(f"self.log({name!r}, ...): a logged tensor must hold one number, got shape "
                             f"{tuple(d.shape)}; reduce it first (e.g. .mean())")
        return MetricValue(d.item())
    try:
        return MetricValue(value)
    except (TypeError, ValueError):
        raise TypeError(f"self.log({name!r}, ...): value must be a number or a one-element tensor, "
                        f"got {type(value).__name__}") from None


def _batch_size_of(batch):
    """Size of the first array-like found in the batch (Lightning's inference rule)."""
    if hasattr(batch, "shape"):
        return int(batch.shape[0]) if len(batch.shape) else 1
    if isinstance(batch, (list, tuple)):
        for b in batch:
            n = _batch_size_of(b)
            if n is not None:
                return n
    if isinstance(batch, dict):
        for b in batch.values():
            n = _batch_size_of(b)
            if n is not None:
                return n
    return None


def _fork(name, kind):
    """Lightning's forked key: ``name_step``/``name_epoch``, with a loader suffix after the fork
    (``loss_epoch/dataloader_idx_1``)."""
    j = name.rfind("/dataloader_idx_")
    return f"{name}_{kind}" if j < 0 else f"{name[:j]}_{kind}{name[j:]}"


class _Metric:
    __slots__ = ("name", "stage", "on_step", "on_epoch", "reduce", "prog_bar", "logger", "total",
                 "weight", "step_value", "fx")

    def __init__(self, name, stage, fx, on_step, on_epoch, reduce, prog_bar, logger):
        self.name, self.stage, self.fx = name, stage, fx
        self.on_step, self.on_epoch, self.reduce = on_step, on_epoch, reduce
        self.prog_bar, self.logger = prog_bar, logger
        self.total = None
        self.weight = 0.0
        self.step_value = None

    def update(self, v, n):
        r = self.reduce
        if r == "mean":
            self.total = v * n if self.total is None else self.total + v * n
            self.weight += n
        elif r == "sum":
            self.total = v if self.total is None else self.total + v
        elif r == "max":
            self.total = v if self.total is None or v > self.total else self.total
        else:
            self.total = v if self.total is None or v < self.total else self.total

    def epoch_value(self):
        if self.total is None:
            return None
        return self.total / self.weight if self.reduce == "mean" else self.total

    def state(self):
        return [self.name, self.stage, self.fx, self.on_step, self.on_epoch, self.reduce, self.prog_bar,
                self.logger, self.total, self.weight, self.step_value]

    def storable_state(self):
        """``state()`` as checkpoint data: the running values (its last three entries) as plain floats."""
        s = self.state()
        s[8:] = [_plain(v) for v in s[8:]]
        return s


def _plain(v):
    """A running value as checkpoint data: None, an int or a float (one-element tensors and float subclasses
    such as MetricValue become floats; anything else, None)."""
    c = v.__class__
    if v is None or c is float or c is int or c is bool:
        return v
    d = getattr(v, "_data", None)
    if d is not None:
        return float(d.reshape(())) if getattr(d, "size", 2) == 1 else None
    if isinstance(v, (int, float)):
        return float(v) if isinstance(v, float) else int(v)
    return None


class ResultCollection:
    """Holds what ``self.log`` recorded during the current stage (train/validate/test)."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.metrics: dict[tuple[str, str], _Metric] = {}
        self.stage = "train"
        self.batch = None
        self._batch_size = None
        self.step_dirty = False  # something per-step was logged in this batch
        self.dl_suffix = ""  # "/dataloader_idx_N" while evaluating the N-th of several loaders
        self.epoch_end_reached = False  # in *_epoch_end hooks: epoch values are visible at once
        # where each key was logged: name -> set of "stage:hook" (for misuse errors)
        self.seen: dict[str, set] = {}

    # called by the trainer
    def new_batch(self, batch):
        self.batch = batch
        self._batch_size = None

    def reset_stage(self, stage):
        self.stage = stage
        self.metrics = {k: m for k, m in self.metrics.items() if m.stage != stage}

    def log(self, fx, name, value, prog_bar, logger, on_step, on_epoch, reduce_fx, batch_size,
            add_dataloader_idx=True, sync_dist=False):
        if fx in _FORBIDDEN:
            raise RuntimeError(f"self.log({name!r}) is not supported in {fx}(); log from the step "
                               "methods or the *_epoch_*/ *_batch_* hooks")
        if self.dl_suffix and add_dataloader_idx:
            name += self.dl_suffix  # several eval loaders: one metric per loader (Lightning's keys)
        v = _to_float(value, name)
        stage = self.stage
        key = (stage, name)
        m = self.metrics.get(key)
        if m is None:
            step_default = fx in _STEP_HOOKS
            on_step = step_default if on_step is None else on_step
            on_epoch = (not step_default) if on_epoch is None else on_epoch
            if callable(reduce_fx):
                reduce_fx = getattr(reduce_fx, "__name__", "")
            red = _REDUCE.get(str(reduce_fx).lower().replace("torch.", "").replace("ember.", ""))
            if red is None:
                raise ValueError(f"self.log({name!r}): reduce_fx must be one of mean, sum, max, min; "
                                 f"got {reduce_fx!r}")
            m = self.metrics[key] = _Metric(name, stage, fx, on_step, on_epoch, red, prog_bar, logger)
            self.seen.setdefault(name, set()).add(f"{stage}:{fx}")
        if sync_dist and getattr(self.trainer, "world_size", 1) > 1:  # the value over all processes
            v = self.trainer.strategy.reduce(v, reduce_op=m.reduce)
        if m.on_step:
            m.step_value = v
            self.step_dirty = True
            tr = self.trainer
            key_s = _fork(name, "step") if m.on_epoch else name
            if stage == "train":  # as Lightning: per-step values of validate/test reach the loggers only
                tr.callback_metrics[key_s] = v
                if m.on_epoch:
                    tr.callback_metrics[name] = v
                if m.prog_bar:
                    tr.progress_bar_metrics[key_s] = v
            if m.logger:  # Lightning's logged_metrics hold the latest values, sent to a logger or not
                tr.logged_metrics[key_s] = v
        if m.on_epoch:
            if m.reduce == "mean":
                n = batch_size
                if n is None:
                    n = self._batch_size
                    if n is None:
                        n = self._batch_size = _batch_size_of(self.batch) or 1
                m.update(v, n)
            else:
                m.update(v, 1)
            if self.epoch_end_reached:
                ev = MetricValue(m.epoch_value())
                self.trainer.callback_metrics[name] = ev
                if m.on_step:
                    self.trainer.callback_metrics[_fork(name, "epoch")] = ev

    def step_metrics_for_logger(self):
        """Per-step values logged (to the logger) in this batch."""
        out = {}
        for m in self.metrics.values():
            if m.on_step and m.logger and m.step_value is not None and m.stage == self.stage:
                out[_fork(m.name, "step") if m.on_epoch else m.name] = m.step_value
        return out

    def clear_step(self, stage=None):
        """Forget the per-step values (of ``stage`` only, when given: an eval batch inside an
        accumulation window leaves the training ones for the batch that steps)."""
        for m in self.metrics.values():
            if stage is None or m.stage == stage:
                m.step_value = None
        self.step_dirty = any(m.step_value is not None for m in self.metrics.values())

    def epoch_end(self, stage):
        """Aggregate epoch values of ``stage``; update trainer dicts; return logger dict."""
        tr = self.trainer
        out = {}
        for m in self.metrics.values():
            if m.stage != stage or not m.on_epoch:
                continue
            v = m.epoch_value()
            if v is None:
                continue
            v = MetricValue(v)
            k = _fork(m.name, "epoch") if m.on_step else m.name
            tr.callback_metrics[k] = v
            tr.callback_metrics[m.name] = v
            if m.prog_bar:
                tr.progress_bar_metrics[k] = v
            if m.logger:
                tr.logged_metrics[k] = v
                out[k] = v
        return out

    # checkpointing (exact resume of epoch aggregates)
    def state_dict(self):
        return {"stage": self.stage, "metrics": [m.state() for m in self.metrics.values()],
                "seen": {k: sorted(v) for k, v in self.seen.items()}}

    def storable_state_dict(self):
        """``state_dict()`` as checkpoint data (what the fit loop records at each consistent point)."""
        return {"stage": self.stage, "metrics": [m.storable_state() for m in self.metrics.values()],
                "seen": {k: sorted(v) for k, v in self.seen.items()}}

    def load_state_dict(self, state):
        self.metrics = {}
        for s in state.get("metrics", []):
            m = _Metric(*s[:8])
            m.total, m.weight, m.step_value = s[8], s[9], s[10]
            self.metrics[(m.stage, m.name)] = m
        self.seen = {k: set(v) for k, v in state.get("seen", {}).items()}

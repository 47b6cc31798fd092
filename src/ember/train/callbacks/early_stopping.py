"""``EarlyStopping``: stop training when a monitored metric has stopped improving (Lightning 2.x).

::

    trainer = Trainer(callbacks=[EarlyStopping(monitor="val_loss", patience=3)])

ember's one difference: ``monitor`` may be left out, in which case it watches ``"val_loss"``
(as Keras does) and says so, so ``EarlyStopping(patience=3)`` works as written.
"""

from __future__ import annotations

import enum
import math
from typing import Any

from ember.train._monitor import (
    MetricMonitor,
    check_mode_matches_name,
    is_fitting,
    log_info,
    missing_key_message,
    to_float,
)
from ember.train.callbacks.callback import Callback

__all__ = ["EarlyStopping", "EarlyStoppingReason"]


class EarlyStoppingReason(enum.Enum):
    """Why :class:`EarlyStopping` stopped (``NOT_STOPPED`` while it has not)."""

    NOT_STOPPED = 0
    STOPPING_THRESHOLD = 1
    DIVERGENCE_THRESHOLD = 2
    PATIENCE_EXHAUSTED = 3
    NON_FINITE_METRIC = 4


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` checks.

    Args:
        monitor: the logged key to watch; ``None`` means ``"val_loss"`` (ember's default).
        min_delta: an improvement of this much or less does not count (negative: a value up to
            ``-min_delta`` worse than the best still counts as an improvement, as in Lightning).
        patience: how many checks with no improvement to wait before stopping. A check happens
            after every validation run (or every training epoch, see ``check_on_train_epoch_end``).
        verbose: log each improvement and the reason for stopping.
        mode: ``"min"`` (lower is better) or ``"max"``.
        strict: raise if ``monitor`` is missing from the logged metrics (else warn when verbose
            and skip the check).
        check_finite: stop as soon as the metric is NaN or infinite.
        stopping_threshold: stop as soon as the metric is better than this.
        divergence_threshold: stop as soon as the metric is worse than this.
        check_on_train_epoch_end: check at the end of the training epoch rather than after each
            validation run; ``None`` picks it when validation runs once per epoch.
        log_rank_zero_only: accepted for Lightning compatibility (ember runs one process).

    After a stop, ``stopped_epoch``, ``stopping_reason`` and ``stopping_reason_message`` say when and why.

    Example::

        >>> es = EarlyStopping(monitor="val_loss", patience=2)
        >>> es.monitor, es.mode, es.patience
        ('val_loss', 'min', 2)
    """

    mode_dict = {"min": "<", "max": ">"}
    order_dict = {"min": "<", "max": ">"}

    def __init__(
        self,
        monitor: str | None = None,
        min_delta: float = 0.0,
        patience: int = 3,
        verbose: bool = False,
        mode: str = "min",
        strict: bool = True,
        check_finite: bool = True,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        check_on_train_epoch_end: bool | None = None,
        log_rank_zero_only: bool = False,
    ):
        super().__init__()
        if mode not in self.mode_dict:
            raise ValueError(f"EarlyStopping: `mode` can be {', '.join(self.mode_dict)}, got {mode!r}")
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 0:
            raise ValueError(f"EarlyStopping: `patience` must be an int >= 0, got {patience!r}")
        self._monitor_defaulted = monitor is None
        if monitor is None:
            monitor = "val_loss"
            log_info("EarlyStopping: no `monitor` given, watching 'val_loss' (pass monitor=... to change).")
        check_mode_matches_name("EarlyStopping", monitor, mode)
        self.monitor = monitor
        self.min_delta = float(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.strict = strict
        self.check_finite = check_finite
        self.stopping_threshold = stopping_threshold
        self.divergence_threshold = divergence_threshold
        self.log_rank_zero_only = log_rank_zero_only
        self._check_on_train_epoch_end = check_on_train_epoch_end
        self._tracker = MetricMonitor(monitor, mode, min_delta, owner="EarlyStopping")
        self.wait_count = 0
        self.stopped_epoch = 0
        self.stopping_reason = EarlyStoppingReason.NOT_STOPPED
        self.stopping_reason_message: str | None = None

    # -- identity / state ----------------------------------------------------------------------
    @property
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    @property
    def best_score(self) -> float:
        """Best value seen so far (``inf`` / ``-inf`` before the first check)."""
        return self._tracker.best

    @best_score.setter
    def best_score(self, value: float) -> None:
        self._tracker.best = to_float(value)

    @property
    def monitor_op(self):
        return (lambda a, b: a < b) if self.mode == "min" else (lambda a, b: a > b)

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait_count": self.wait_count,
            "stopped_epoch": self.stopped_epoch,
            "best_score": self.best_score,
            "patience": self.patience,
            "stopping_reason": self.stopping_reason.name,
            "stopping_reason_message": self.stopping_reason_message or "",
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.wait_count = int(state_dict["wait_count"])
        self.stopped_epoch = int(state_dict["stopped_epoch"])
        self.best_score = to_float(state_dict["best_score"])
        self.patience = int(state_dict["patience"])
        self.stopping_reason = EarlyStoppingReason[state_dict.get("stopping_reason", "NOT_STOPPED")]
        self.stopping_reason_message = state_dict.get("stopping_reason_message") or None

    # -- hooks ---------------------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        if self._check_on_train_epoch_end is None:
            self._check_on_train_epoch_end = (
                getattr(trainer, "val_check_interval", 1.0) == 1.0
                and getattr(trainer, "check_val_every_n_epoch", 1) == 1
            )

    def _should_skip_check(self, trainer) -> bool:
        return bool(getattr(trainer, "sanity_checking", False)) or not is_fitting(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self._check_on_train_epoch_end or self._should_skip_check(trainer):
            return
        self._run_early_stopping_check(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._check_on_train_epoch_end or self._should_skip_check(trainer):
            return
        self._run_early_stopping_check(trainer)

    # -- the check -----------------------------------------------------------------------------
    def _validate_condition_metric(self, logs: dict) -> bool:
        if self.monitor in logs:
            return True
        msg = missing_key_message("EarlyStopping", self.monitor, logs)
        if self._monitor_defaulted:
            msg += " (EarlyStopping was created without `monitor`, so it watches 'val_loss' by default.)"
        if self.strict:
            raise RuntimeError(msg)
        if self.verbose:
            import warnings

            warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return False

    def _run_early_stopping_check(self, trainer) -> None:
        logs = trainer.callback_metrics
        if getattr(trainer, "fast_dev_run", False) or not self._validate_condition_metric(logs):
            return
        current = to_float(logs[self.monitor])
        should_stop, reason = self._evaluate_stopping_criteria(current)
        trainer.should_stop = bool(trainer.should_stop or should_stop)
        if should_stop:
            self.stopped_epoch = int(trainer.current_epoch)
        if reason and self.verbose:
            log_info(reason)

    def _evaluate_stopping_criteria(self, current: float) -> tuple[bool, str | None]:
        """Apply the criteria to ``current``; return (should_stop, message). Updates the state."""
        op = self.monitor_op
        sym = self.order_dict[self.mode]
        should_stop = False
        reason = None
        if self.check_finite and not math.isfinite(current):
            should_stop = True
            self.stopping_reason = EarlyStoppingReason.NON_FINITE_METRIC
            reason = (f"Monitored metric {self.monitor} = {current} is not finite. Previous best value was "
                      f"{self.best_score:.3f}. Signaling Trainer to stop.")
        elif self.stopping_threshold is not None and op(current, self.stopping_threshold):
            should_stop = True
            self.stopping_reason = EarlyStoppingReason.STOPPING_THRESHOLD
            reason = (f"Stopping threshold reached: {self.monitor} = {current} {sym} "
                      f"{self.stopping_threshold}. Signaling Trainer to stop.")
        elif self.divergence_threshold is not None and op(-current, -self.divergence_threshold):
            should_stop = True
            self.stopping_reason = EarlyStoppingReason.DIVERGENCE_THRESHOLD
            reason = (f"Divergence threshold reached: {self.monitor} = {current} {sym} "
                      f"{self.divergence_threshold}. Signaling Trainer to stop.")
        elif self._tracker.improved(current):
            reason = self._improvement_message(current)
            self.best_score = current
            self.wait_count = 0
        else:
            self.wait_count += 1
            if self.wait_count >= self.patience:
                should_stop = True
                self.stopping_reason = EarlyStoppingReason.PATIENCE_EXHAUSTED
                reason = (f"Monitored metric {self.monitor} did not improve in the last {self.wait_count} "
                          f"records. Best score: {self.best_score:.3f}. Signaling Trainer to stop.")
        if should_stop:
            self.stopping_reason_message = reason
        return should_stop, reason

    def _improvement_message(self, current: float) -> str:
        if math.isfinite(self.best_score):
            return (f"Metric {self.monitor} improved by {abs(self.best_score - current):.3f} >= "
                    f"min_delta = {abs(self.min_delta)}. New best score: {current:.3f}")
        return f"Metric {self.monitor} improved. New best score: {current:.3f}"

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, mode={self.mode!r}, patience={self.patience}, "
                f"min_delta={self.min_delta})")

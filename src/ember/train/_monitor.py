"""Shared "watch a metric" logic for EarlyStopping and ModelCheckpoint (and ReduceLROnPlateau-like code).

A :class:`MetricMonitor` knows the monitored key, the mode (``"min"`` or ``"max"``), ``min_delta``
and the best value seen; :meth:`MetricMonitor.improved` says whether a new value beats the best by
more than ``min_delta``. Helpers turn tensors into floats, warn when the mode contradicts the key's
name (``mode="min"`` on ``"val_acc"``) and word the "key not logged" error the same way everywhere.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import warnings
from typing import Any

__all__ = ["MetricMonitor", "to_float", "check_mode_matches_name", "missing_key_message", "log_info"]

_MODES = ("min", "max")

# Name fragments that say which direction is better. Matched against the key's tokens (split at
# anything not a letter), so "val_acc", "val/accuracy", "train_f1_epoch" are all found.
_MAX_WORDS = ("acc", "accuracy", "f1", "auc", "auroc", "precision", "recall", "iou", "dice", "map",
              "top1", "top5", "r2", "psnr", "ssim", "bleu", "rouge", "reward", "return", "score")
_MIN_WORDS = ("loss", "err", "error", "mse", "mae", "rmse", "mape", "nll", "perplexity", "ppl", "wer", "cer",
              "distance", "regret")

_LOGGER_NAME = "ember.train"


def log_info(message: str) -> None:
    """Log ``message`` at INFO on the ``ember.train`` logger.

    If neither that logger nor the root logger has a handler, one writing to stdout is added first
    (what Lightning does for its own logger), so verbose callbacks are visible by default.
    """
    logger = logging.getLogger(_LOGGER_NAME)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
    logger.info(message)


def to_float(value: Any) -> float:
    """A Python float from a number, a 0-d/one-element ember or NumPy array, or a torch tensor."""
    if isinstance(value, (int, float)):
        return float(value)
    item = getattr(value, "item", None)
    if item is not None:
        try:
            return float(item())
        except (TypeError, ValueError) as e:
            shape = getattr(value, "shape", None)
            raise TypeError(f"expected a scalar metric value, got {type(value).__name__} of shape {shape}") from e
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"expected a scalar metric value, got {type(value).__name__}: {value!r}") from None


def _tokens(key: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", key.lower()) if t]


def guess_mode(key: str) -> str | None:
    """``"max"`` for names like ``val_acc``, ``"min"`` for ``val_loss``, ``None`` when unclear."""
    toks = _tokens(key)
    is_max = any(t == w or (t.startswith(w) and len(w) >= 3) for t in toks for w in _MAX_WORDS)
    is_min = any(t == w or (t.startswith(w) and len(w) >= 3) for t in toks for w in _MIN_WORDS)
    if is_max and not is_min:
        return "max"
    if is_min and not is_max:
        return "min"
    return None


def check_mode_matches_name(owner: str, monitor: str | None, mode: str) -> None:
    """Warn (UserWarning) when ``mode`` contradicts what the key's name says is better."""
    if not monitor:
        return
    guessed = guess_mode(monitor)
    if guessed is not None and guessed != mode:
        better = "higher" if guessed == "max" else "lower"
        warnings.warn(
            f"{owner}(monitor={monitor!r}, mode={mode!r}): the name {monitor!r} suggests that {better} "
            f"is better, but mode={mode!r} treats {'lower' if mode == 'min' else 'higher'} values as "
            f"improvements. Pass mode={guessed!r} if {better} is better.",
            UserWarning,
            stacklevel=3,
        )


def missing_key_message(owner: str, monitor: str, available: Any) -> str:
    keys = sorted(str(k) for k in available)
    shown = ", ".join(repr(k) for k in keys) if keys else "(none: nothing was logged yet)"
    return (
        f"{owner} is conditioned on metric {monitor!r}, which is not available. Available metrics: "
        f"{shown}. Log it with `self.log({monitor!r}, value)` in your TrainModule (in validation_step for "
        f"a 'val_' key), or pass one of the available keys as `monitor`."
    )


def check_mode(owner: str, mode: str) -> str:
    if mode not in _MODES:
        raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
    return mode


class MetricMonitor:
    """Track the best value of one metric.

    >>> m = MetricMonitor("val_loss", mode="min", min_delta=0.1)
    >>> m.update(1.0), m.update(0.95), m.update(0.8)
    (True, False, True)
    """

    def __init__(self, monitor: str | None, mode: str = "min", min_delta: float = 0.0, owner: str = "monitor"):
        self.monitor = monitor
        self.mode = check_mode(owner, mode)
        # signed, as Lightning's EarlyStopping: a negative min_delta lets a slightly worse value count
        self.min_delta = float(min_delta)
        self.best = math.inf if mode == "min" else -math.inf

    @property
    def worst(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    def better(self, a: float, b: float) -> bool:
        """Strictly better, ignoring ``min_delta``."""
        return a < b if self.mode == "min" else a > b

    def rank_value(self, value: Any) -> float:
        """``value`` as a float to rank by; NaN becomes the worst value (it never ranks above a real one)."""
        v = to_float(value)
        return self.worst if math.isnan(v) else v

    def best_key(self, scores: dict) -> Any:
        """The key of ``scores`` (key -> value) whose value is best (the first of equal ones)."""
        return (min if self.mode == "min" else max)(scores, key=scores.get)

    def worst_key(self, scores: dict) -> Any:
        """The key of ``scores`` whose value is worst (the first of equal ones)."""
        return (max if self.mode == "min" else min)(scores, key=scores.get)

    def improved(self, value: Any) -> bool:
        """``value`` beats the best by more than ``min_delta`` (Lightning's test: ``current - min_delta >
        best`` in max mode, ``current + min_delta < best`` in min mode; ``min_delta`` may be negative)."""
        v = to_float(value)
        if self.mode == "min":
            return v + self.min_delta < self.best
        return v - self.min_delta > self.best

    def update(self, value: Any) -> bool:
        """Record ``value`` as the new best if it improved; return whether it did."""
        if self.improved(value):
            self.best = to_float(value)
            return True
        return False

    def reset(self) -> None:
        self.best = self.worst

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "mode": self.mode, "min_delta": self.min_delta, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])


def trainer_fn(trainer: Any) -> str | None:
    """What the trainer is doing: ``"fit" "validate" "test" "predict"`` (``trainer.state.fn``), or None."""
    state = getattr(trainer, "state", None)
    fn = getattr(state, "fn", None)
    if fn is None:
        return None
    return str(getattr(fn, "value", fn))


def is_fitting(trainer: Any) -> bool:
    """True while ``trainer.fit`` runs (assumed when the trainer does not say)."""
    fn = trainer_fn(trainer)
    return fn is None or fn == "fit"

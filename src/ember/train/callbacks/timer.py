"""``Timer``: stop training after a time budget and measure time per stage (Lightning 2.x).

::

    trainer = Trainer(callbacks=[Timer(duration="00:12:00:00")])   # DD:HH:MM:SS
    timer.time_elapsed("train"), timer.time_remaining()
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

from ember.train._monitor import log_info
from ember.train.callbacks.callback import Callback

__all__ = ["Timer"]

_STAGES = ("train", "validate", "test")


def _parse_duration(duration: Any) -> float | None:
    """Seconds from ``"DD:HH:MM:SS"``, a ``timedelta``, a dict of timedelta arguments, or None."""
    if duration is None:
        return None
    if isinstance(duration, str):
        if not re.fullmatch(r"\s*\d+:\d+:\d+:\d+\s*", duration):
            raise ValueError(f"Timer: `duration` string must look like 'DD:HH:MM:SS' (e.g. '00:12:00:00'), "
                             f"got {duration!r}")
        d, h, m, s = (int(x) for x in duration.strip().split(":"))
        duration = timedelta(days=d, hours=h, minutes=m, seconds=s)
    elif isinstance(duration, dict):
        try:
            duration = timedelta(**duration)
        except TypeError as e:
            raise ValueError(f"Timer: `duration` dict must hold timedelta arguments (days, hours, minutes, "
                             f"seconds...), got {duration!r}: {e}") from None
    if not isinstance(duration, timedelta):
        raise TypeError(f"Timer: `duration` must be a 'DD:HH:MM:SS' string, a timedelta or a dict, "
                        f"got {type(duration).__name__}")
    return duration.total_seconds()


class Timer(Callback):
    """Track time spent in training, validation and testing; stop fit once ``duration`` is spent.

    Args:
        duration: the training budget (``None``: only measure).
        interval: check after every ``"step"`` or every ``"epoch"``.
        verbose: say when the time limit is reached.

    ``time_elapsed``/``time_remaining`` are in seconds; the elapsed training time rides in checkpoints,
    so a resumed run keeps counting from where it stopped.
    """

    def __init__(self, duration: str | timedelta | dict | None = None, interval: str = "step", verbose: bool = True):
        if interval not in ("step", "epoch"):
            raise ValueError(f"Unsupported parameter value `Timer(interval={interval!r})`. Possible values are: "
                             "step, epoch.")
        self._duration = _parse_duration(duration)
        self._interval = interval
        self._verbose = verbose
        self._start_time: dict[str, float | None] = {s: None for s in _STAGES}
        self._end_time: dict[str, float | None] = {s: None for s in _STAGES}
        self._offset = 0.0

    def start_time(self, stage: str = "train") -> float | None:
        return self._start_time[self._stage(stage)]

    def end_time(self, stage: str = "train") -> float | None:
        return self._end_time[self._stage(stage)]

    @staticmethod
    def _stage(stage: Any) -> str:
        s = str(getattr(stage, "value", stage))
        if s not in _STAGES:
            raise ValueError(f"Timer: stage must be one of {_STAGES}, got {stage!r}")
        return s

    def time_elapsed(self, stage: str = "train") -> float:
        stage = self._stage(stage)
        start, end = self._start_time[stage], self._end_time[stage]
        offset = self._offset if stage == "train" else 0.0
        if start is None:
            return offset
        if end is None:
            return time.monotonic() - start + offset
        return end - start + offset

    def time_remaining(self, stage: str = "train") -> float | None:
        if self._duration is not None:
            return self._duration - self.time_elapsed(stage)
        return None

    # -- hooks ---------------------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        self._start_time["train"] = time.monotonic()
        self._end_time["train"] = None

    def on_train_end(self, trainer, pl_module) -> None:
        self._end_time["train"] = time.monotonic()

    def on_validation_start(self, trainer, pl_module) -> None:
        self._start_time["validate"] = time.monotonic()

    def on_validation_end(self, trainer, pl_module) -> None:
        self._end_time["validate"] = time.monotonic()

    def on_test_start(self, trainer, pl_module) -> None:
        self._start_time["test"] = time.monotonic()

    def on_test_end(self, trainer, pl_module) -> None:
        self._end_time["test"] = time.monotonic()

    def on_fit_start(self, trainer, pl_module) -> None:
        # a restored state may already be past the budget
        if self._duration is not None:
            self._check_time_remaining(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._interval == "step" and self._duration is not None:
            self._check_time_remaining(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._interval == "epoch" and self._duration is not None:
            self._check_time_remaining(trainer)

    def _check_time_remaining(self, trainer) -> None:
        should_stop = self.time_elapsed() >= self._duration
        trainer.should_stop = bool(trainer.should_stop or should_stop)
        if should_stop and self._verbose:
            log_info(f"Time limit reached. Elapsed time is {timedelta(seconds=int(self.time_elapsed()))}. "
                     "Signaling Trainer to stop.")

    def state_dict(self) -> dict[str, Any]:
        return {"time_elapsed": {s: self.time_elapsed(s) for s in _STAGES}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._offset = float(state_dict.get("time_elapsed", {}).get("train", 0.0))

    def __repr__(self) -> str:
        return f"Timer(duration={self._duration}, interval={self._interval!r})"

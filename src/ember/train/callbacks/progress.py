"""Progress bars: ``ProgressBar`` (base), ``TQDMProgressBar`` and ``RichProgressBar``.

ember draws its own bar and needs neither ``tqdm`` nor ``rich``. On a terminal the line is redrawn
in place (``\\r``) with epoch, step/total, it/s, ETA and the ``prog_bar=True`` metrics::

    Epoch 3: 100%|████████████████████| 50/50 [00:02<00:00, 22.10it/s, loss=0.123, val_loss=0.2, v_num=0]

When output is not interactive (a log file, CI) nothing is redrawn: one line per epoch is printed
instead, after that epoch's validation, so logs stay readable::

    Epoch 3: 50/50 [00:02, 22.10it/s] loss=0.123, val_loss=0.2, v_num=0

``RichProgressBar`` is the same renderer with a different style (a thin bar, colours on a terminal);
ember does not use the ``rich`` package even when it is installed.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from typing import Any

from ember.train._monitor import is_fitting
from ember.train.callbacks.callback import Callback

__all__ = ["ProgressBar", "TQDMProgressBar", "RichProgressBar"]


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _fmt_num(v: Any) -> str:
    item = getattr(v, "item", None)
    if item is not None and not isinstance(v, (int, float)):
        try:
            v = item()
        except (TypeError, ValueError):
            return str(v)
    if isinstance(v, bool) or isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


class ProgressBar(Callback):
    """Base class of progress bars: enable/disable and the metrics to show.

    ``trainer.progress_bar_metrics`` (what was logged with ``prog_bar=True``) plus ``v_num``, the
    logger's version, are shown; override :meth:`get_metrics` to change that.
    """

    def __init__(self) -> None:
        self._enabled = True
        self._trainer = None
        self._redraw = None  # whether batches redraw the line: None = not decided yet

    # -- enable / disable ----------------------------------------------------------------------
    def enable(self) -> None:
        self._enabled = True
        self._redraw = None

    def disable(self) -> None:
        self._enabled = False
        self._redraw = None

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    @property
    def is_disabled(self) -> bool:
        return not self._enabled

    @property
    def trainer(self):
        if self._trainer is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a Trainer yet (setup has not run).")
        return self._trainer

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._trainer = trainer
        if not getattr(trainer, "is_global_zero", True):
            self.disable()  # ddp: a progress bar the user passed prints on rank 0 only (as Lightning's)

    # -- totals --------------------------------------------------------------------------------
    @property
    def total_train_batches(self) -> int | float:
        return getattr(self.trainer, "num_training_batches", float("inf"))

    @property
    def total_val_batches(self) -> int | float:
        n = getattr(self.trainer, "num_sanity_val_batches" if self.trainer.sanity_checking else "num_val_batches", 0)
        return sum(n) if isinstance(n, (list, tuple)) else n

    def _total_for(self, stage: str) -> int | float:
        attr = {"test": "num_test_batches", "predict": "num_predict_batches"}.get(stage)
        if attr is None:
            return self.total_val_batches if stage in ("validate", "sanity") else self.total_train_batches
        n = getattr(self.trainer, attr, float("inf"))
        return sum(n) if isinstance(n, (list, tuple)) else n

    def get_metrics(self, trainer, pl_module) -> dict[str, Any]:
        """What is shown after the bar: ``prog_bar`` metrics and ``v_num``."""
        items = dict(getattr(trainer, "progress_bar_metrics", {}) or {})
        logger = getattr(trainer, "logger", None)
        if logger is not None:
            version = getattr(logger, "_version", None)
            if version is None and getattr(logger, "version", None) is not None:
                version = logger.version
            if version is not None and "v_num" not in items:
                items["v_num"] = version[-4:] if isinstance(version, str) else version
        return items


class TQDMProgressBar(ProgressBar):
    """A tqdm-style bar drawn by ember (no tqdm needed).

    Args:
        refresh_rate: redraw every this many batches (0 disables the bar).
        process_position: accepted for Lightning compatibility.
        leave: keep each epoch's final line on a terminal (ember keeps them by default; ``False``
            redraws the next epoch on the same line, as Lightning does).
        file: stream to write to (default: ``sys.stdout`` at the time of writing).
        interactive: force redraw (True) or one-line-per-epoch (False) mode; default: ``file.isatty()``.
    """

    _BAR_FULL, _BAR_EMPTY, _BAR_WIDTH = "█", " ", 20

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = True,
                 file: Any = None, interactive: bool | None = None):
        super().__init__()
        if not isinstance(refresh_rate, int) or refresh_rate < 0:
            raise ValueError(f"{type(self).__name__}: refresh_rate must be an int >= 0, got {refresh_rate!r}")
        self._refresh_rate = refresh_rate
        self._process_position = process_position
        self._leave = leave
        self._file = file
        self._interactive = interactive
        self._stage = "train"
        self._n = 0
        self._t0 = 0.0
        self._last_len = 0
        self._saved_train: tuple | None = None
        if refresh_rate == 0:
            self.disable()

    @property
    def refresh_rate(self) -> int:
        return self._refresh_rate

    @property
    def file(self):
        return self._file if self._file is not None else sys.stdout

    @property
    def interactive(self) -> bool:
        if self._interactive is not None:
            return self._interactive
        isatty = getattr(self.file, "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:  # closed stream
            return False

    # -- rendering -----------------------------------------------------------------------------
    def _desc(self, stage: str) -> str:
        if stage == "train":
            return f"Epoch {self.trainer.current_epoch}"
        return {"sanity": "Sanity Checking", "validate": "Validation", "test": "Testing",
                "predict": "Predicting"}[stage]

    def _postfix(self) -> str:
        metrics = self.get_metrics(self.trainer, getattr(self.trainer, "lightning_module", None))
        return ", ".join(f"{k}={_fmt_num(v)}" for k, v in metrics.items())

    def _bar(self, frac: float) -> str:
        w = self._BAR_WIDTH
        full = int(frac * w)
        return self._BAR_FULL * full + self._BAR_EMPTY * (w - full)

    def render(self, stage: str, n: int, total: int | float, elapsed: float, with_metrics: bool = True) -> str:
        """The redrawn (terminal) line for ``n`` of ``total`` batches after ``elapsed`` seconds."""
        rate = n / elapsed if elapsed > 0 and n else 0.0
        rate_s = f"{rate:.2f}it/s" if rate >= 1 or rate == 0 else f"{1 / rate:.2f}s/it"
        desc = self._desc(stage)
        post = self._postfix() if with_metrics and stage == "train" else ""  # (Lightning: the train bar)
        post = f", {post}" if post else ""
        if isinstance(total, (int, float)) and math.isfinite(total) and total > 0:
            frac = min(1.0, n / total)
            eta = (total - n) / rate if rate > 0 else float("inf")
            return (f"{desc}: {int(frac * 100):3d}%|{self._bar(frac)}| {n}/{int(total)} "
                    f"[{_fmt_time(elapsed)}<{_fmt_time(eta)}, {rate_s}{post}]")
        return f"{desc}: {n}it [{_fmt_time(elapsed)}, {rate_s}{post}]"

    def summary_line(self, stage: str, n: int, total: int | float, elapsed: float) -> str:
        """The one line printed per epoch (or per evaluation run) when output is not interactive."""
        rate = n / elapsed if elapsed > 0 and n else 0.0
        tot = f"/{int(total)}" if isinstance(total, (int, float)) and math.isfinite(total) else ""
        post = self._postfix() if stage == "train" else ""
        return f"{self._desc(stage)}: {n}{tot} [{_fmt_time(elapsed)}, {rate:.2f}it/s]" + (f" {post}" if post else "")

    def _write_inplace(self, line: str) -> None:
        width = shutil.get_terminal_size((120, 20)).columns - 1
        if len(line) > width:
            line = line[: max(10, width - 1)] + "…"
        pad = " " * max(0, self._last_len - len(line))
        self.file.write("\r" + line + pad)
        self.file.flush()
        self._last_len = len(line)

    def _newline(self) -> None:
        if self._last_len:
            self.file.write("\n")
            self.file.flush()
        self._last_len = 0

    def _start(self, stage: str) -> None:
        self._stage, self._n, self._t0 = stage, 0, time.monotonic()
        self._redraw = None  # (decided once per stage, not asked again at every batch)

    def _update(self, n: int, force: bool = False) -> None:
        self._n = n
        redraw = self._redraw
        if redraw is None:
            redraw = self._redraw = self.is_enabled and self.interactive
        if not redraw:
            return
        total = self._total_for(self._stage)
        if force or n % self._refresh_rate == 0 or (isinstance(total, int) and n == total):
            self._write_inplace(self.render(self._stage, n, total, time.monotonic() - self._t0))

    def _finish(self, stage: str, keep: bool = True) -> None:
        if self.is_disabled:
            return
        total = self._total_for(stage)
        elapsed = time.monotonic() - self._t0
        if self.interactive:
            self._write_inplace(self.render(stage, self._n, total, elapsed))
            if keep:
                self._newline()
        else:
            print(self.summary_line(stage, self._n, total, elapsed), file=self.file, flush=True)

    # -- hooks: fit ----------------------------------------------------------------------------
    def on_sanity_check_start(self, trainer, pl_module) -> None:
        self._start("sanity")

    def on_sanity_check_end(self, trainer, pl_module) -> None:
        if self.is_enabled and self.interactive and self._last_len:
            self._write_inplace("")
            self.file.write("\r")
            self._last_len = 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start("train")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._update(batch_idx + 1)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._finish("train", keep=self._leave)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.is_enabled and self.interactive:
            self._newline()

    # -- hooks: evaluation ---------------------------------------------------------------------
    def _eval_stage(self, trainer, stage: str) -> str:
        if stage == "validate" and getattr(trainer, "sanity_checking", False):
            return "sanity"
        return stage

    def on_validation_start(self, trainer, pl_module) -> None:
        if self._eval_stage(trainer, "validate") == "sanity":
            return
        if is_fitting(trainer):  # remember the train bar to redraw it afterwards
            self._saved_train = (self._stage, self._n, self._t0)
        self._start("validate")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update(batch_idx + 1)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._eval_stage(trainer, "validate") == "sanity":
            return
        if is_fitting(trainer) and self._saved_train is not None:
            # inside fit: validation shares the epoch's line; the epoch line is printed at epoch end
            self._stage, self._n, self._t0 = self._saved_train
            self._saved_train = None
            self._update(self._n, force=True)
        else:
            self._finish("validate")

    def on_test_start(self, trainer, pl_module) -> None:
        self._start("test")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update(batch_idx + 1)

    def on_test_end(self, trainer, pl_module) -> None:
        self._finish("test")

    def on_predict_start(self, trainer, pl_module) -> None:
        self._start("predict")

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update(batch_idx + 1)

    def on_predict_end(self, trainer, pl_module) -> None:
        self._finish("predict")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(refresh_rate={self._refresh_rate})"


class RichProgressBar(TQDMProgressBar):
    """The same renderer as :class:`TQDMProgressBar` in a "rich" style: a thin bar, coloured on a
    terminal. ember does not import the ``rich`` package."""

    _BAR_FULL, _BAR_EMPTY, _BAR_WIDTH = "━", "╺", 30

    def __init__(self, refresh_rate: int = 1, leave: bool = True, theme: Any = None,
                 console_kwargs: dict | None = None, file: Any = None, interactive: bool | None = None):
        super().__init__(refresh_rate=refresh_rate, leave=leave, file=file, interactive=interactive)
        self.theme = theme
        self._console_kwargs = console_kwargs or {}

    def _bar(self, frac: float) -> str:
        w = self._BAR_WIDTH
        full = int(frac * w)
        bar = self._BAR_FULL * full
        rest = (self._BAR_EMPTY + "━" * (w - full - 1)) if full < w else ""
        if self.interactive:
            return f"\x1b[35m{bar}\x1b[0m\x1b[2m{rest}\x1b[0m"
        return bar + rest

    def _write_inplace(self, line: str) -> None:  # ANSI codes do not take columns: no truncation
        pad = " " * max(0, self._last_len - len(line))
        self.file.write("\r" + line + pad)
        self.file.flush()
        self._last_len = len(line)

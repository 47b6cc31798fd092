"""``ModelCheckpoint``: save the model periodically, keeping the top-k by a monitored metric (Lightning 2.x).

::

    ckpt = ModelCheckpoint(monitor="val_loss", filename="{epoch}-{val_loss:.2f}", save_top_k=2, save_last=True)
    trainer = Trainer(callbacks=[ckpt]); trainer.fit(model, train_dl, val_dl)
    ckpt.best_model_path, ckpt.best_model_score, ckpt.best_k_models, ckpt.last_model_path

File names come from ``filename``, a template whose ``{key}`` / ``{key:fmt}`` fields are filled from
the logged metrics plus ``epoch`` and ``step``; with ``auto_insert_metric_name`` (the default)
``"{epoch}-{val_loss:.2f}"`` gives ``epoch=3-val_loss=0.25.ckpt``. Checkpoints that fall out of the
top-k are deleted (only inside ``dirpath``, and never the checkpoint the run resumed from).
"""

from __future__ import annotations

import os
import re
import time
import warnings
from datetime import timedelta
from typing import Any

from ember.train._monitor import (MetricMonitor, check_mode_matches_name, is_fitting, log_info,
                                  missing_key_message, to_float)
from ember.train.callbacks.callback import Callback


def _on_rank_zero() -> bool:
    """False on the other ranks of a multi-process job (they make the same decisions, rank 0 writes)."""
    import sys

    dist = sys.modules.get("ember.distributed")
    return dist is None or not dist.is_initialized() or dist.get_rank() == 0

__all__ = ["ModelCheckpoint"]


class _Score(float):
    """A float that also answers ``.item()``, so Lightning code ``ckpt.best_model_score.item()`` works."""

    def item(self) -> float:
        return float(self)

    def __repr__(self) -> str:
        return float.__repr__(self)


def _plain(value: Any) -> Any:
    """An int or float for formatting a file name (ints stay ints, so ``{epoch}`` gives ``3``)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    item = getattr(value, "item", None)
    if item is not None:
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return to_float(value)


def _safe_component(text: str) -> str:
    """Text from a metric name or value put into a checkpoint path: a '/' still makes a subfolder, as
    in Lightning ('val/loss' -> 'val/loss=0.25.ckpt'), but no part may be '..', '.' or empty, so the
    file stays inside ``dirpath`` (``{../../x}`` -> ``_/_/x=...``); a leading '/' is dropped."""
    parts = text.replace(os.sep, "/").split("/")
    if len(parts) == 1:
        return text
    return "/".join("_" if p in ("", ".", "..") else p for p in parts).lstrip("/")


_FIELD = re.compile(r"\{([^{}:]+)(?::([^{}]*))?\}")


class ModelCheckpoint(Callback):
    """Save checkpoints during ``fit``.

    Args:
        dirpath: where to write; default ``<log_dir>/checkpoints`` of the first logger (or
            ``<default_root_dir>/checkpoints`` without a logger).
        filename: template such as ``"{epoch}-{val_loss:.2f}"``; default ``"{epoch}-{step}"``.
        monitor: key to rank checkpoints by; ``None`` keeps only the latest (``save_top_k=1``).
        verbose: log every save decision.
        save_last: also keep ``last.ckpt`` (``CHECKPOINT_NAME_LAST``); ``"link"`` makes it a symlink
            to the latest checkpoint instead of a second copy.
        save_top_k: how many best checkpoints to keep; ``-1`` keeps all, ``0`` none.
        save_weights_only: write only the model weights.
        mode: ``"min"`` or ``"max"`` for ``monitor``.
        auto_insert_metric_name: write ``epoch=3`` rather than ``3`` for ``{epoch}``.
        every_n_train_steps / train_time_interval / every_n_epochs: when to save (mutually exclusive;
            default: every epoch).
        save_on_train_epoch_end: save at the end of the training epoch rather than after validation;
            ``None`` decides from the trainer's validation schedule.
        enable_version_counter: append ``-v1``, ``-v2``... rather than overwrite an existing file.
    """

    CHECKPOINT_JOIN_CHAR = "-"
    CHECKPOINT_EQUALS_CHAR = "="
    CHECKPOINT_NAME_LAST = "last"
    FILE_EXTENSION = ".ckpt"
    STARTING_VERSION = 1

    def __init__(
        self,
        dirpath: str | os.PathLike | None = None,
        filename: str | None = None,
        monitor: str | None = None,
        verbose: bool = False,
        save_last: bool | str | None = None,
        save_top_k: int = 1,
        save_weights_only: bool = False,
        mode: str = "min",
        auto_insert_metric_name: bool = True,
        every_n_train_steps: int | None = None,
        train_time_interval: timedelta | None = None,
        every_n_epochs: int | None = None,
        save_on_train_epoch_end: bool | None = None,
        enable_version_counter: bool = True,
    ):
        super().__init__()
        # mode, the monitored key, "better", the worst value and the best so far: shared with EarlyStopping
        self._tracker = MetricMonitor(monitor, mode, 0.0, owner="ModelCheckpoint")
        if save_last not in (None, True, False, "link"):
            raise ValueError(f"ModelCheckpoint: `save_last` must be True, False, None or 'link', got {save_last!r}")
        if not isinstance(save_top_k, int) or save_top_k < -1:
            raise ValueError(f"ModelCheckpoint: invalid value for save_top_k={save_top_k!r}. Must be >= -1")
        if monitor is None and save_top_k not in (-1, 0, 1):
            raise ValueError(
                f"ModelCheckpoint(save_top_k={save_top_k}, monitor=None) is not a valid configuration: "
                "you can keep the top k checkpoints only if `monitor` is set (or use save_top_k=-1 to keep all)."
            )
        check_mode_matches_name("ModelCheckpoint", monitor, mode)
        self.verbose = verbose
        self.save_last = save_last
        self.save_top_k = save_top_k
        self.save_weights_only = save_weights_only
        self.auto_insert_metric_name = auto_insert_metric_name
        self._save_on_train_epoch_end = save_on_train_epoch_end
        self._enable_version_counter = enable_version_counter
        self._last_global_step_saved = 0  # no checkpoint before the first step was taken
        self._last_time_checked: float | None = None
        self._last_checkpoint_saved = ""
        self._val_has_run = False
        self._defer_save_until_validation = False  # a step-triggered save waits for on_validation_end
        self.current_score: _Score | None = None
        self.best_k_models: dict[str, _Score] = {}
        self.kth_best_model_path = ""
        self.best_model_score: _Score | None = None
        self.best_model_path = ""
        self.last_model_path = ""
        self.kth_value = _Score(self._tracker.worst)
        self._init_triggers(every_n_train_steps, every_n_epochs, train_time_interval)
        self.dirpath = os.path.realpath(os.path.expanduser(os.fspath(dirpath))) if dirpath is not None else None
        self.filename = filename

    def _init_triggers(self, every_n_train_steps, every_n_epochs, train_time_interval) -> None:
        for name, value in (("every_n_train_steps", every_n_train_steps), ("every_n_epochs", every_n_epochs)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"ModelCheckpoint: `{name}` must be an int >= 0 or None, got {value!r}")
        if train_time_interval is not None and not isinstance(train_time_interval, timedelta):
            raise TypeError(f"ModelCheckpoint: `train_time_interval` must be a datetime.timedelta, got "
                            f"{type(train_time_interval).__name__}")
        if every_n_train_steps is None and every_n_epochs is None and train_time_interval is None:
            every_n_epochs, every_n_train_steps = 1, 0
        else:
            set_ = [bool(every_n_train_steps), bool(every_n_epochs), train_time_interval is not None]
            if sum(set_) > 1:
                raise ValueError(
                    f"ModelCheckpoint: every_n_train_steps={every_n_train_steps}, every_n_epochs={every_n_epochs} "
                    f"and train_time_interval={train_time_interval} are mutually exclusive; set only one."
                )
            every_n_epochs = every_n_epochs or 0
            every_n_train_steps = every_n_train_steps or 0
        self._every_n_train_steps = every_n_train_steps
        self._every_n_epochs = every_n_epochs
        self._train_time_interval = train_time_interval

    @property
    def monitor(self) -> str | None:
        return self._tracker.monitor

    @monitor.setter
    def monitor(self, value: str | None) -> None:
        self._tracker.monitor = value

    @property
    def mode(self) -> str:
        return self._tracker.mode

    @mode.setter
    def mode(self, value: str) -> None:
        self._tracker = MetricMonitor(self._tracker.monitor, value, 0.0, owner="ModelCheckpoint")
        if self.best_model_score is not None:
            self._tracker.best = float(self.best_model_score)

    # -- identity / state ----------------------------------------------------------------------
    @property
    def state_key(self) -> str:
        return self._generate_state_key(
            monitor=self.monitor, mode=self.mode, every_n_train_steps=self._every_n_train_steps,
            every_n_epochs=self._every_n_epochs, train_time_interval=self._train_time_interval,
        )

    def state_dict(self) -> dict[str, Any]:
        def f(v):
            return None if v is None else float(v)

        return {
            "monitor": self.monitor,
            "best_model_score": f(self.best_model_score),
            "best_model_path": self.best_model_path,
            "current_score": f(self.current_score),
            "dirpath": self.dirpath,
            "best_k_models": {k: float(v) for k, v in self.best_k_models.items()},
            "kth_best_model_path": self.kth_best_model_path,
            "kth_value": float(self.kth_value),
            "last_model_path": self.last_model_path,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        dirpath_from_ckpt = state_dict.get("dirpath", self.dirpath)
        if self.dirpath == dirpath_from_ckpt:
            score = state_dict.get("best_model_score")
            self.best_model_score = None if score is None else _Score(score)
            self._tracker.reset()
            if score is not None:
                self._tracker.best = float(score)
            cur = state_dict.get("current_score")
            self.current_score = None if cur is None else _Score(cur)
            self.kth_best_model_path = state_dict.get("kth_best_model_path", "")
            self.kth_value = _Score(state_dict.get("kth_value", self.kth_value))
            self.best_k_models = {k: _Score(v) for k, v in state_dict.get("best_k_models", {}).items()}
            self.last_model_path = state_dict.get("last_model_path", "")
        else:
            warnings.warn(
                f"ModelCheckpoint: the dirpath has changed from {dirpath_from_ckpt!r} to {self.dirpath!r}, "
                "so `best_model_score`, `kth_best_model_path`, `kth_value`, `last_model_path` and "
                "`best_k_models` are not reloaded; only `best_model_path` is.",
                UserWarning, stacklevel=2,
            )
        self.best_model_path = state_dict["best_model_path"]

    # -- hooks ---------------------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        self.dirpath = self._resolve_ckpt_dir(trainer)
        if stage == "fit" and self.save_top_k != 0 and os.path.isdir(self.dirpath) and os.listdir(self.dirpath):
            warnings.warn(f"Checkpoint directory {self.dirpath} exists and is not empty.", UserWarning, stacklevel=2)

    def on_train_start(self, trainer, pl_module) -> None:
        self._last_time_checked = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = self._every_n_train_steps
        if self._train_time_interval is None and (n < 1 or trainer.global_step % n != 0):
            return  # the usual case, decided cheaply (this runs after every batch)
        skip_batch = n < 1 or (trainer.global_step % n != 0)
        skip_time = True
        now = time.monotonic()
        if self._train_time_interval is not None:
            prev = self._last_time_checked
            skip_time = prev is None or (now - prev) < self._train_time_interval.total_seconds()
        if skip_batch and skip_time:
            return
        if not skip_time:
            self._last_time_checked = now
        candidates = self._monitor_candidates(trainer)
        if self.monitor is not None and is_fitting(trainer) and (
                self.monitor not in candidates or (pl_module.automatic_optimization
                                                   and self._val_follows_this_batch(trainer))):
            # as Lightning 2.6: the key is not logged yet, or the validation right after this (last)
            # batch will refresh it: save at on_validation_end, scored with the fresh value
            self._defer_save_until_validation = True
            return
        if self._should_skip_saving_checkpoint(trainer):
            return
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def _val_follows_this_batch(self, trainer) -> bool:
        if self._should_save_on_train_epoch_end(trainer) or not getattr(trainer, "is_last_batch", False):
            return False
        if not getattr(trainer, "_val_on", False):
            return False
        nvb = getattr(trainer, "num_val_batches", 0)
        nvb = sum(nvb) if isinstance(nvb, (list, tuple)) else nvb
        cve = getattr(trainer, "check_val_every_n_epoch", 1)
        return bool(nvb) and (cve is None or (trainer.current_epoch + 1) % cve == 0)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self._should_skip_saving_checkpoint(trainer) and self._should_save_on_train_epoch_end(trainer):
            self._epoch_save(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if getattr(trainer, "sanity_checking", False) or not is_fitting(trainer):
            return
        self._val_has_run = True
        if not self._should_skip_saving_checkpoint(trainer) and not self._should_save_on_train_epoch_end(trainer):
            if self._defer_save_until_validation:  # a step-triggered save waiting for this validation
                self._defer_save_until_validation = False
                candidates = self._monitor_candidates(trainer)
                self._save_topk_checkpoint(trainer, candidates)
                self._save_last_checkpoint(trainer, candidates)
                return
            self._epoch_save(trainer)

    def _epoch_save(self, trainer) -> None:
        candidates = self._monitor_candidates(trainer)
        if self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0:
            self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    # -- decisions -----------------------------------------------------------------------------
    def _should_skip_saving_checkpoint(self, trainer) -> bool:
        return (
            bool(getattr(trainer, "fast_dev_run", False))
            or not is_fitting(trainer)
            or bool(getattr(trainer, "sanity_checking", False))
            or self._last_global_step_saved == trainer.global_step
        )

    def _should_save_on_train_epoch_end(self, trainer) -> bool:
        if self._save_on_train_epoch_end is not None:
            return self._save_on_train_epoch_end
        if getattr(trainer, "check_val_every_n_epoch", 1) != 1:
            return False
        nvb = getattr(trainer, "num_val_batches", 0)
        if isinstance(nvb, (list, tuple)):
            nvb = sum(nvb)
        if not nvb:
            return True
        return getattr(trainer, "val_check_interval", 1.0) == 1.0

    def _monitor_candidates(self, trainer) -> dict[str, Any]:
        candidates = dict(trainer.callback_metrics)
        candidates["epoch"] = int(_plain(candidates["epoch"])) if "epoch" in candidates else int(trainer.current_epoch)
        candidates["step"] = int(_plain(candidates["step"])) if "step" in candidates else int(trainer.global_step)
        return candidates

    def check_monitor_top_k(self, trainer, current: Any = None) -> bool:
        """Whether ``current`` earns a place among the top-k."""
        if current is None:
            return False
        if self.save_top_k == -1:
            return True
        if len(self.best_k_models) < self.save_top_k:
            return True
        return self._tracker.better(to_float(current), float(self.best_k_models[self.kth_best_model_path]))

    # -- saving --------------------------------------------------------------------------------
    def _save_topk_checkpoint(self, trainer, candidates: dict[str, Any]) -> None:
        if self.save_top_k == 0:
            return
        if self.monitor is not None:
            if self.monitor not in candidates:
                msg = missing_key_message(f"ModelCheckpoint(monitor={self.monitor!r})", self.monitor, candidates)
                if self._val_has_run or not self.monitor.startswith("val"):
                    raise RuntimeError(msg)
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
                return
            self._save_monitor_checkpoint(trainer, candidates)
        else:
            self._save_none_monitor_checkpoint(trainer, candidates)

    def _save_monitor_checkpoint(self, trainer, candidates: dict[str, Any]) -> None:
        current = candidates.get(self.monitor)
        if self.check_monitor_top_k(trainer, current):
            self._update_best_and_save(current, trainer, candidates)
        elif self.verbose:
            log_info(f"Epoch {candidates['epoch']:d}, global step {candidates['step']:d}: "
                     f"{self.monitor!r} was not in top {self.save_top_k}")

    def _save_none_monitor_checkpoint(self, trainer, candidates: dict[str, Any]) -> None:
        filepath = self._get_metric_interpolated_filepath_name(candidates, trainer, self.best_model_path)
        previous, self.best_model_path = self.best_model_path, filepath
        self._save_checkpoint(trainer, filepath)
        if self.save_top_k == 1 and previous and self._should_remove_checkpoint(trainer, previous, filepath):
            self._remove_checkpoint(previous)

    def _update_best_and_save(self, current: Any, trainer, candidates: dict[str, Any]) -> None:
        k = len(self.best_k_models) + 1 if self.save_top_k == -1 else self.save_top_k
        del_filepath = None
        if len(self.best_k_models) == k and k > 0:
            del_filepath = self.kth_best_model_path
            self.best_k_models.pop(del_filepath)
        cur = self._tracker.rank_value(current)  # a NaN never ranks above a real value
        score = _Score(cur)
        filepath = self._get_metric_interpolated_filepath_name(candidates, trainer, del_filepath)
        self.current_score = score
        self.best_k_models[filepath] = score
        if len(self.best_k_models) == k:
            self.kth_best_model_path = self._tracker.worst_key(self.best_k_models)
            self.kth_value = self.best_k_models[self.kth_best_model_path]
        self.best_model_path = self._tracker.best_key(self.best_k_models)
        self.best_model_score = self.best_k_models[self.best_model_path]
        self._tracker.update(cur)  # (the best of the top-k is the best seen: it is never the one dropped)
        if self.verbose:
            log_info(f"Epoch {candidates['epoch']:d}, global step {candidates['step']:d}: {self.monitor!r} reached "
                     f"{cur:0.5f} (best {float(self.best_model_score):0.5f}), saving model to {filepath!r} as top {k}")
        self._save_checkpoint(trainer, filepath)
        if del_filepath and self._should_remove_checkpoint(trainer, del_filepath, filepath):
            self._remove_checkpoint(del_filepath)

    def _save_last_checkpoint(self, trainer, candidates: dict[str, Any]) -> None:
        if not self.save_last:
            return
        filepath = self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST)
        if self._enable_version_counter:
            ver = self.STARTING_VERSION
            while os.path.lexists(filepath) and filepath != self.last_model_path:
                filepath = self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST, ver=ver)
                ver += 1
        previous, self.last_model_path = self.last_model_path, filepath
        # Link only to a checkpoint written at this very step: unlike Lightning, "last" never points at
        # an older state when this step's checkpoint did not make the top-k.
        if (self.save_last == "link" and self._last_checkpoint_saved and self.save_top_k != 0
                and self._last_global_step_saved == trainer.global_step):
            self._link_checkpoint(self._last_checkpoint_saved, filepath)
        else:
            self._save_checkpoint(trainer, filepath)
        if previous and self._should_remove_checkpoint(trainer, previous, filepath):
            self._remove_checkpoint(previous)

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        parent = os.path.dirname(filepath)
        if parent:
            os.makedirs(parent, exist_ok=True)
        trainer.save_checkpoint(filepath, self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        for logger in getattr(trainer, "loggers", None) or []:
            after = getattr(logger, "after_save_checkpoint", None)
            if after is not None:
                after(self)

    @staticmethod
    def _link_checkpoint(target: str, linkpath: str) -> None:
        """Point ``linkpath`` at ``target`` atomically (a relative symlink; a copy where links fail)."""
        if not _on_rank_zero():
            return  # several processes (strategy="ddp"): files are rank 0's business
        tmp = f"{linkpath}.tmp-{os.getpid()}"
        if os.path.lexists(tmp):
            os.remove(tmp)
        try:
            rel = os.path.relpath(target, os.path.dirname(linkpath) or ".")
            os.symlink(rel, tmp)
        except (OSError, NotImplementedError):
            import shutil

            shutil.copyfile(target, tmp)
        os.replace(tmp, linkpath)

    def _should_remove_checkpoint(self, trainer, previous: str, current: str) -> bool:
        if previous == current:
            return False
        prev_real = os.path.realpath(previous) if not os.path.islink(previous) else os.path.abspath(previous)
        resume = getattr(trainer, "ckpt_path", None)
        if resume and os.path.realpath(os.fspath(resume)) == os.path.realpath(previous):
            return False  # never delete the checkpoint this run resumed from
        dirpath = os.path.realpath(self.dirpath) if self.dirpath else None
        return dirpath is not None and os.path.commonpath([dirpath, prev_real]) == dirpath

    @staticmethod
    def _remove_checkpoint(filepath: str) -> None:
        if _on_rank_zero() and os.path.lexists(filepath):
            os.remove(filepath)

    # -- names ---------------------------------------------------------------------------------
    @classmethod
    def _format_checkpoint_name(cls, filename: str | None, metrics: dict[str, Any],
                                auto_insert_metric_name: bool = True) -> str:
        if not filename:
            filename = "{epoch}" + cls.CHECKPOINT_JOIN_CHAR + "{step}"

        def fill(m: re.Match) -> str:
            name, spec = m.group(1), m.group(2) or ""
            value = _plain(metrics[name]) if name in metrics else 0
            try:
                text = format(value, spec)
            except ValueError as e:
                raise ValueError(f"ModelCheckpoint: cannot format {name}={value!r} with ':{spec}' in "
                                 f"filename {filename!r}: {e}") from None
            if auto_insert_metric_name:
                text = f"{_safe_component(name)}{cls.CHECKPOINT_EQUALS_CHAR}{text}"
            return _safe_component(text)

        return _FIELD.sub(fill, filename)

    def format_checkpoint_name(self, metrics: dict[str, Any], filename: str | None = None,
                               ver: int | None = None) -> str:
        """The path a checkpoint with these ``metrics`` gets.

        >>> ModelCheckpoint(dirpath="/ck", filename="{epoch}-{val_loss:.2f}").format_checkpoint_name(
        ...     {"epoch": 3, "val_loss": 0.2468})
        '/ck/epoch=3-val_loss=0.25.ckpt'
        """
        name = self._format_checkpoint_name(filename or self.filename, metrics, self.auto_insert_metric_name)
        if ver is not None:
            name = self.CHECKPOINT_JOIN_CHAR.join((name, f"v{ver}"))
        name = f"{name}{self.FILE_EXTENSION}"
        if not self.dirpath:
            return name
        path = os.path.join(self.dirpath, name)
        inside = os.path.normpath(path)
        if os.path.isabs(name) or os.path.commonpath([self.dirpath, inside]) != os.path.normpath(self.dirpath):
            raise ValueError(f"ModelCheckpoint: filename {filename or self.filename!r} gives {name!r}, which is "
                             f"outside dirpath {self.dirpath!r}; checkpoints are written inside dirpath")
        return path

    def _get_metric_interpolated_filepath_name(self, candidates, trainer, del_filepath: str | None = None) -> str:
        filepath = self.format_checkpoint_name(candidates)
        if self._enable_version_counter:
            ver = self.STARTING_VERSION
            while os.path.lexists(filepath) and filepath != del_filepath:
                filepath = self.format_checkpoint_name(candidates, ver=ver)
                ver += 1
        return filepath

    def _resolve_ckpt_dir(self, trainer) -> str:
        if self.dirpath is not None:
            return self.dirpath
        loggers = getattr(trainer, "loggers", None) or []
        if loggers:
            lg = loggers[0]
            log_dir = getattr(lg, "log_dir", None)
            if log_dir is None:
                save_dir = getattr(lg, "save_dir", None) or trainer.default_root_dir
                version = lg.version if isinstance(lg.version, str) else f"version_{lg.version}"
                log_dir = os.path.join(save_dir, str(lg.name), version)
            path = os.path.join(log_dir, "checkpoints")
        else:
            path = os.path.join(trainer.default_root_dir, "checkpoints")
        return os.path.realpath(os.path.expanduser(path))

    def to_yaml(self, filepath: str | os.PathLike | None = None) -> None:
        """Write ``best_k_models`` (path: score) to ``filepath`` (default ``<dirpath>/best_k_models.yaml``)."""
        from ember.train.loggers.csv_logs import _atomic_write, _yaml_dump

        filepath = os.fspath(filepath) if filepath is not None else os.path.join(self.dirpath, "best_k_models.yaml")
        _atomic_write(filepath, _yaml_dump({k: float(v) for k, v in self.best_k_models.items()}))

    def __repr__(self) -> str:
        return (f"ModelCheckpoint(dirpath={self.dirpath!r}, monitor={self.monitor!r}, mode={self.mode!r}, "
                f"save_top_k={self.save_top_k}, save_last={self.save_last!r})")

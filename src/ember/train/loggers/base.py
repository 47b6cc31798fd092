"""The ``Logger`` base class (Lightning 2.x's interface) and shared helpers for the concrete loggers.

A logger receives ``log_metrics(metrics, step)`` and ``log_hyperparams(params)`` from the trainer, is
``save()``-d now and then and ``finalize(status)``-d at the end. File loggers lay their files out as
Lightning does: ``<save_dir>/<name>/version_<N>/``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["Logger", "DummyLogger", "rank_zero_experiment"]


def rank_zero_experiment(fn):
    """Lightning compatibility: ember runs one process, so this decorator returns ``fn`` unchanged."""
    return fn


def _convert_params(params: Any) -> dict[str, Any]:
    """A dict from a dict, an ``argparse.Namespace`` or an object with ``__dict__`` (None -> {})."""
    if params is None:
        return {}
    if isinstance(params, argparse.Namespace):
        return dict(vars(params))
    if isinstance(params, Mapping):
        return dict(params)
    if hasattr(params, "__dict__"):
        return {k: v for k, v in vars(params).items() if not k.startswith("_")}
    raise TypeError(f"log_hyperparams expects a dict or an argparse.Namespace, got {type(params).__name__}")


def _flatten_dict(params: Mapping[str, Any], delimiter: str = "/", parent: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a/b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        key = f"{parent}{delimiter}{k}" if parent else str(k)
        if isinstance(v, argparse.Namespace):
            v = vars(v)
        if isinstance(v, Mapping):
            out.update(_flatten_dict(v, delimiter, key))
        else:
            out[key] = v
    return out


def _scalar(value: Any) -> Any:
    """A Python number from a tensor / NumPy scalar (other values unchanged)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    item = getattr(value, "item", None)
    if item is not None:
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return value


def _add_prefix(metrics: Mapping[str, Any], prefix: str, separator: str = "-") -> dict[str, Any]:
    if not prefix:
        return dict(metrics)
    return {f"{prefix}{separator}{k}": v for k, v in metrics.items()}


def _next_version(root_dir: str) -> int:
    """One more than the largest ``version_<N>`` in ``root_dir`` (0 if none)."""
    try:
        entries = os.listdir(root_dir)
    except FileNotFoundError:
        return 0
    versions = []
    for d in entries:
        if d.startswith("version_") and d[len("version_"):].isdigit() and os.path.isdir(os.path.join(root_dir, d)):
            versions.append(int(d[len("version_"):]))
    return max(versions) + 1 if versions else 0


def _claim_version(root_dir: str) -> int:
    """Find the next free version and create its directory at once, so two runs never share one."""
    os.makedirs(root_dir, exist_ok=True)
    while True:
        v = _next_version(root_dir)
        try:
            os.mkdir(os.path.join(root_dir, f"version_{v}"))
            return v
        except FileExistsError:  # another process claimed it first
            continue


class Logger:
    """Base class of experiment loggers.

    Subclasses implement :meth:`log_metrics` and :meth:`log_hyperparams` and the identity
    properties; :meth:`save` and :meth:`finalize` may flush or close files.
    """

    @property
    def name(self) -> str | None:
        """The experiment name (``<save_dir>/<name>/version_N``)."""
        return None

    @property
    def version(self) -> int | str | None:
        """The experiment version (an int gives ``version_<N>``, a str is used as is)."""
        return None

    @property
    def root_dir(self) -> str | None:
        """``<save_dir>/<name>``: the directory holding the versions."""
        return None

    @property
    def log_dir(self) -> str | None:
        """The directory this run writes into."""
        return None

    @property
    def save_dir(self) -> str | None:
        """The directory given at construction."""
        return None

    @property
    def group_separator(self) -> str:
        return "/"

    @property
    def experiment(self) -> Any:
        """The object that actually writes (the logger itself by default)."""
        return self

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Record ``metrics`` (name -> number) at ``step``."""
        raise NotImplementedError(f"{type(self).__name__} must implement log_metrics(metrics, step)")

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Record the run's hyperparameters (a dict or an ``argparse.Namespace``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement log_hyperparams(params)")

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Record the model's graph (no-op unless a logger supports it)."""

    def save(self) -> None:
        """Flush whatever is buffered."""

    def finalize(self, status: str) -> None:
        """Called at the end of a run with ``status`` ``"success"``, ``"failed"`` or ``"finished"``."""
        self.save()

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Called after a ``ModelCheckpoint`` wrote a checkpoint."""


class DummyLogger(Logger):
    """A logger that records nothing (used where a logger is required but logging is off)."""

    @property
    def name(self) -> str:
        return ""

    @property
    def version(self) -> str:
        return ""

    def log_metrics(self, metrics, step=None) -> None:
        pass

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass


class _VersionedDirLogger(Logger):
    """Lightning's directory layout, shared by the file loggers: ``save_dir/name/version_N[/sub_dir]``.
    Subclasses set ``_save_dir``, ``_name``, ``_version`` (None: claim the next free number) and
    optionally ``_sub_dir``."""

    _sub_dir = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> int | str:
        if self._version is None:
            self._version = _claim_version(self.root_dir)
        return self._version

    @property
    def save_dir(self) -> str:
        return self._save_dir

    @property
    def root_dir(self) -> str:
        return os.path.join(self._save_dir, self._name) if self._name else self._save_dir

    @property
    def log_dir(self) -> str:
        v = self.version
        d = os.path.join(self.root_dir, v if isinstance(v, str) else f"version_{v}")
        if self._sub_dir:
            d = os.path.join(d, self._sub_dir)
        return os.path.expanduser(d)

"""``TensorBoardLogger``: real TensorBoard event files, written without tensorflow or tensorboard.

::

    logger = TensorBoardLogger("logs", name="mnist")   # logs/mnist/version_0/events.out.tfevents.*
    trainer = Trainer(logger=logger)
    # then: tensorboard --logdir logs

Scalars go in as ``simple_value`` summaries, hyperparameters through TensorBoard's hparams plugin
(plus ``hparams.yaml`` as Lightning writes), and with ``log_graph=True`` the model graph (from one
forward pass on the module's ``example_input_array``, when the Trainer starts fitting) and histograms of
the model's weights: at :meth:`log_graph`, then every time a new ``epoch`` value is logged.
:func:`read_events` reads a file back without TensorBoard.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from ember.train.loggers import _tfevents as tfe
from ember.train.loggers.base import _add_prefix, _convert_params, _flatten_dict, _scalar, _VersionedDirLogger
from ember.train.loggers.csv_logs import _atomic_write, _yaml_dump

__all__ = ["TensorBoardLogger", "read_events"]

read_events = tfe.read_events
_file_counter = 0


class _EventFileWriter:
    """Appends framed events to one ``events.out.tfevents.<time>.<host>.<pid>.<n>`` file."""

    def __init__(self, log_dir: str):
        global _file_counter
        os.makedirs(log_dir, exist_ok=True)
        _file_counter += 1
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{_file_counter}"
        self.path = os.path.join(log_dir, name)
        self._fh = open(self.path, "ab")
        self.write(tfe.file_version_event(time.time()))
        self.flush()

    def write(self, event: bytes) -> None:
        self._fh.write(tfe.frame_record(event))

    def flush(self) -> None:
        if not self._fh.closed:
            self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            self._fh.close()


class TensorBoardLogger(_VersionedDirLogger):
    """Log to TensorBoard event files in ``<save_dir>/<name>/version_<N>[/<sub_dir>]``.

    Args:
        save_dir: the root directory.
        name: experiment name (``""``/``None``: versions go straight into ``save_dir``).
        version: an int, a str (directory name) or ``None`` (next free ``version_<N>``).
        log_graph: write the model graph (needs ``example_input_array``) and histograms of the weights
            (at :meth:`log_graph`, which the Trainer calls when fit starts, and at each new epoch).
        default_hp_metric: log ``hp_metric = -1`` with the hyperparameters so the HPARAMS tab shows them.
        prefix: put before every metric key.
        sub_dir: an extra sub-directory inside the version directory.
    """

    NAME_HPARAMS_FILE = "hparams.yaml"
    LOGGER_JOIN_CHAR = "-"

    def __init__(self, save_dir: str | os.PathLike, name: str | None = "ember_logs", version: int | str | None = None,
                 log_graph: bool = False, default_hp_metric: bool = True, prefix: str = "",
                 sub_dir: str | os.PathLike | None = None, **kwargs: Any):
        if kwargs:
            raise TypeError(f"TensorBoardLogger got unexpected arguments {sorted(kwargs)} (ember writes event "
                            "files itself and takes no SummaryWriter options)")
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version
        self._log_graph = log_graph
        self._default_hp_metric = default_hp_metric
        self._prefix = prefix
        self._sub_dir = None if sub_dir is None else os.fspath(sub_dir)
        self.hparams: dict[str, Any] = {}
        self._writer: _EventFileWriter | None = None
        self._model = None
        self._last_epoch = None

    @property
    def sub_dir(self) -> str | None:
        return self._sub_dir

    @property
    def experiment(self) -> _EventFileWriter:
        """The event-file writer (created on first use)."""
        if self._writer is None or self._writer._fh.closed:
            self._writer = _EventFileWriter(self.log_dir)
        return self._writer

    @property
    def event_file(self) -> str:
        """Path of the current (or last) event file."""
        return self._writer.path if self._writer is not None else self.experiment.path

    # -- logging -------------------------------------------------------------------------------
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        metrics = _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR)
        w = self.experiment
        now = time.time()
        step = 0 if step is None else int(step)
        for k, v in metrics.items():
            v = _scalar(v)
            if isinstance(v, dict):
                for sub, x in v.items():
                    w.write(tfe.scalar_event(f"{k}/{sub}", float(_scalar(x)), step, now))
                continue
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"TensorBoardLogger.log_metrics: value of {k!r} must be a number or a "
                                f"one-element tensor, got {type(v).__name__}") from None
            w.write(tfe.scalar_event(k, x, step, now))
        if self._log_graph and self._model is not None and "epoch" in metrics:
            epoch = _scalar(metrics["epoch"])
            if epoch != self._last_epoch:
                self._last_epoch = epoch
                self.log_histograms(self._model, step)
        w.flush()

    def log_hyperparams(self, params: Any = None, metrics: dict[str, Any] | None = None) -> None:
        params = _convert_params(params)
        self.hparams.update(params)
        _atomic_write(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE), _yaml_dump(self.hparams))
        flat = {k: _sanitize(v) for k, v in _flatten_dict(params).items()}
        if metrics is None:
            metrics = {"hp_metric": -1} if self._default_hp_metric else {}
        elif not isinstance(metrics, dict):
            metrics = {"hp_metric": metrics}
        if metrics:
            self.log_metrics(metrics, 0)
        w = self.experiment
        for ev in tfe.hparams_events(flat, list(metrics), time.time()):
            w.write(ev)
        w.flush()

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """With ``log_graph=True``: the model graph (GRAPHS tab) from one forward pass on ``input_array``
        (default: the module's ``example_input_array``; without one, a warning and no graph, as Lightning),
        and histograms of every parameter now and again at each new logged epoch."""
        if not self._log_graph:
            return
        self._model = model
        if input_array is None:
            input_array = getattr(model, "example_input_array", None)
        if input_array is None:
            import warnings

            warnings.warn("Could not log computational graph to TensorBoard: The `model.example_input_array` "
                          "attribute is not set or `input_array` was not given.", UserWarning, stacklevel=2)
        elif callable(model):
            from ember.train.loggers._graph import build_graph_def, graph_event

            was_training = getattr(model, "training", False)
            try:
                if hasattr(model, "eval"):
                    model.eval()  # one pass that must not move BatchNorm statistics or draw dropout masks
                gd = build_graph_def(model, input_array)
            finally:
                if hasattr(model, "train"):
                    model.train(was_training)
            self.experiment.write(graph_event(gd, time.time()))
        self.log_histograms(model, 0)
        self.experiment.flush()

    def log_histograms(self, model_or_arrays: Any, step: int) -> None:
        """Write one histogram per parameter (``weights/<name>``) of a module, or per entry of a dict."""
        import numpy as np

        if hasattr(model_or_arrays, "named_parameters"):
            items = list(model_or_arrays.named_parameters())
        else:
            items = list(dict(model_or_arrays).items())
        w = self.experiment
        now = time.time()
        for name, p in items:
            arr = getattr(p, "_data", None)
            if arr is None:
                arr = p.detach().cpu().numpy() if hasattr(p, "detach") else p
            w.write(tfe.histogram_event(f"weights/{name}", np.asarray(arr), int(step), now))

    def save(self) -> None:
        if self._writer is not None:
            self._writer.flush()
        path = os.path.join(self.log_dir, self.NAME_HPARAMS_FILE)
        if not os.path.exists(path):
            _atomic_write(path, _yaml_dump(self.hparams))

    def finalize(self, status: str) -> None:
        self.save()
        if self._writer is not None:
            self._writer.close()
        self._model = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_writer"] = None
        state["_model"] = None
        return state

    def __repr__(self) -> str:
        return f"TensorBoardLogger(save_dir={self._save_dir!r}, name={self._name!r}, version={self._version!r})"


def _sanitize(v: Any) -> Any:
    v = _scalar(v)
    if isinstance(v, (bool, int, float, str)):
        return v
    return str(v)

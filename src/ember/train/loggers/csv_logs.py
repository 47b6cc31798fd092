"""``CSVLogger``: metrics to ``<save_dir>/<name>/version_<N>/metrics.csv``, hyperparameters to ``hparams.yaml``.

::

    logger = CSVLogger("logs", name="mnist")      # logs/mnist/version_0/metrics.csv
    trainer = Trainer(logger=logger)

Needs no server and no extra package; it is what ``Trainer(logger=True)`` uses. As in Lightning, rows
are buffered and written every ``flush_logs_every_n_steps`` steps: appended to ``metrics.csv``, which is
rewritten whole (atomically: a temporary file, then ``os.replace``) only when a new column appears.
An interrupted append can at worst leave a torn last line, which :func:`read_metrics_csv` skips.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import stat
import tempfile
from typing import Any

from ember.train.loggers.base import _add_prefix, _convert_params, _scalar, _VersionedDirLogger

__all__ = ["CSVLogger", "read_metrics_csv"]


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:  # read without changing it (os.umask would, briefly)
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: str, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory, then replace),
    with the permissions an ordinary ``open()`` would give (mkstemp's are 0600)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ./-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def _yaml_scalar(v: Any) -> str:
    v = _scalar(v)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        return repr(v)
    s = v if isinstance(v, str) else repr(v)
    if _PLAIN.match(s) and s.lower() not in _YAML_WORDS and s == s.strip():
        return s
    return json.dumps(s)  # a JSON string is a valid double-quoted YAML scalar


def _yaml_dump(obj: Any, indent: int = 0) -> str:
    """YAML for dicts/lists of simple values (no PyYAML needed). Other objects become quoted reprs."""
    pad = "  " * indent
    obj = _scalar(obj)
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        obj = obj.tolist()
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        out = []
        for k, v in obj.items():
            v = _scalar(v)
            if hasattr(v, "tolist") and not isinstance(v, str):
                v = v.tolist()
            key = _yaml_scalar(str(k))
            if isinstance(v, dict) and v:
                out.append(f"{pad}{key}:\n{_yaml_dump(v, indent + 1)}")
            elif isinstance(v, (list, tuple)) and v:
                out.append(f"{pad}{key}:\n{_yaml_dump(list(v), indent + 1)}")
            elif isinstance(v, (list, tuple)):
                out.append(f"{pad}{key}: []\n")
            elif isinstance(v, dict):
                out.append(f"{pad}{key}: {{}}\n")
            else:
                out.append(f"{pad}{key}: {_yaml_scalar(v)}\n")
        return "".join(out)
    if isinstance(obj, (list, tuple)):
        if not obj:
            return pad + "[]\n"
        out = []
        for v in obj:
            v = _scalar(v)
            if isinstance(v, (dict, list, tuple)) and v:
                body = _yaml_dump(v if not isinstance(v, tuple) else list(v), indent + 1)
                out.append(f"{pad}-\n{body}")
            else:
                out.append(f"{pad}- {_yaml_scalar(v) if not isinstance(v, (dict, list, tuple)) else ('{}' if isinstance(v, dict) else '[]')}\n")
        return "".join(out)
    return pad + _yaml_scalar(obj) + "\n"


def read_metrics_csv(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a ``metrics.csv`` as dicts of floats (empty cells left out; ``step``/``epoch`` as ints).

    A last line without its newline (a run killed in the middle of an append) is skipped."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
    for row in csv.DictReader(io.StringIO(text, newline="")):
        d: dict[str, Any] = {}
        for k, v in row.items():
            if v in ("", None):
                continue
            x = float(v)
            d[k] = int(x) if k in ("step", "epoch") and x.is_integer() else x
        rows.append(d)
    return rows


class CSVLogger(_VersionedDirLogger):
    """Log metrics to a CSV file and hyperparameters to YAML, in Lightning's directory layout.

    Args:
        save_dir: the root directory.
        name: experiment name (a sub-directory; ``""``/``None`` writes versions straight into ``save_dir``).
        version: an int (``version_<N>``), a str (used as the directory name) or ``None`` (next free).
        prefix: put before every metric key (``prefix-key``).
        flush_logs_every_n_steps: buffered rows are written to ``metrics.csv`` once this many steps
            have passed since the last write (and always at ``save()``: the trainer saves at each
            epoch end, after each checkpoint and at the end of the run).

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> lg = CSVLogger(d, name="run")
    >>> lg.log_metrics({"loss": 0.5}, step=0); lg.save()
    >>> os.path.relpath(lg.log_dir, d), open(os.path.join(lg.log_dir, "metrics.csv")).read().split()
    ('run/version_0', ['loss,step', '0.5,0'])
    """

    NAME_HPARAMS_FILE = "hparams.yaml"
    NAME_METRICS_FILE = "metrics.csv"
    LOGGER_JOIN_CHAR = "-"

    def __init__(self, save_dir: str | os.PathLike, name: str | None = "ember_logs", version: int | str | None = None,
                 prefix: str = "", flush_logs_every_n_steps: int = 100):
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version
        self._prefix = prefix
        self._flush_every = max(1, int(flush_logs_every_n_steps))
        self.hparams: dict[str, Any] = {}
        self.metrics: list[dict[str, Any]] = []  # every row logged so far
        self.metrics_keys: list[str] = []  # the columns of metrics.csv as written
        self._keyset: set[str] = set()
        self._pending: list[dict[str, Any]] = []  # rows not yet in metrics.csv
        self._new_keys = False
        self._flushed_step = -1
        self._hparams_written = False

    @property
    def metrics_file_path(self) -> str:
        return os.path.join(self.log_dir, self.NAME_METRICS_FILE)

    @property
    def metrics_rows(self) -> list[dict[str, Any]]:
        """All rows logged so far (what :func:`ember.train._plots.write_learning_curves` takes)."""
        return self.metrics

    # -- logging -------------------------------------------------------------------------------
    def log_hyperparams(self, params: Any = None, *args: Any, **kwargs: Any) -> None:
        self.hparams.update(_convert_params(params))
        self._write_hparams()

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        row = {k: _scalar(v) for k, v in _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR).items()}
        for k, v in row.items():
            if not isinstance(v, (int, float)):
                raise TypeError(f"CSVLogger.log_metrics: value of {k!r} must be a number or a one-element "
                                f"tensor, got {type(v).__name__}")
        if step is None:
            step = len(self.metrics)
        step = int(step)
        row["step"] = step
        self.metrics.append(row)
        self._pending.append(row)
        keyset = self._keyset
        for k in row:
            if k not in keyset:
                keyset.add(k)
                self._new_keys = True
        # every n steps (counted from the last flush, so that any log_every_n_steps works)
        if step - self._flushed_step >= self._flush_every:
            self.save()

    def _write_hparams(self) -> None:
        _atomic_write(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE), _yaml_dump(self.hparams))
        self._hparams_written = True

    def save(self) -> None:
        """Write the buffered rows: appended to ``metrics.csv``, or the whole file rewritten
        (atomically) when a new column appeared since the last write."""
        if not self._hparams_written:
            self._write_hparams()
        if not self._pending:
            return
        path = self.metrics_file_path
        if self._new_keys or not os.path.exists(path):
            self.metrics_keys = sorted(self._keyset)
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=self.metrics_keys, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.metrics)
            _atomic_write(path, buf.getvalue())
            self._new_keys = False
        else:
            buf = io.StringIO()
            csv.DictWriter(buf, fieldnames=self.metrics_keys, lineterminator="\n").writerows(self._pending)
            # one write() on an O_APPEND file: at worst an interrupted run loses its last line, which
            # read_metrics_csv skips
            with open(path, "a", encoding="utf-8", newline="") as f:
                f.write(buf.getvalue())
        self._pending = []
        self._flushed_step = self.metrics[-1]["step"]

    def finalize(self, status: str) -> None:
        self.save()

    def __repr__(self) -> str:
        return f"CSVLogger(save_dir={self._save_dir!r}, name={self._name!r}, version={self._version!r})"

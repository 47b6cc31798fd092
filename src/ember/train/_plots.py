"""Learning curves without a server: a PNG of every logged metric and a single-file HTML report.

::

    from ember.train._plots import write_learning_curves
    paths = write_learning_curves(csv_logger.metrics_rows, "runs/exp/version_0")
    paths["png"], paths["html"]      # .../learning_curves.png (None without matplotlib), .../learning_curves.html

Metrics are grouped into panels by their base name (``train_loss``, ``val_loss`` and
``train_loss_epoch`` share the "loss" panel; train is blue, validation orange and test green on
every panel, per-step values thin). A panel whose metrics are logged once per epoch is drawn
against the epoch, any other against the step, with the epochs marked on a top axis; a loss
spanning decades gets a log axis. The HTML report draws its own inline SVG, so it works without
matplotlib; when the PNG exists it is embedded too (base64). Files are written atomically.

The Trainer refreshes both at each epoch end through one :class:`LearningCurves`, which keeps its
matplotlib figure (Agg canvas, no pyplot) and only updates the lines' data (about half the cost
of a new figure), and skips a refresh when drawing would take over ~10% of the training time.
"""

from __future__ import annotations

import base64
import html
import itertools
import math
import os
import re
import sys
import time
from typing import Any

from ember.train.loggers.csv_logs import _atomic_write

__all__ = ["write_learning_curves", "group_metrics", "LearningCurves"]

PNG_NAME = "learning_curves.png"
HTML_NAME = "learning_curves.html"
_warned_no_matplotlib = False
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
_PREFIX = re.compile(r"^(train|val|valid|validation|test)[_/]")
_SUFFIX = re.compile(r"[_/](step|epoch)$")


def _num(v: Any) -> float | None:
    item = getattr(v, "item", None)
    if item is not None and not isinstance(v, (int, float)):
        v = item()
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _base_name(key: str) -> str:
    return _SUFFIX.sub("", _PREFIX.sub("", key)) or key


def group_metrics(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{panel: {key: {"x": [...], "y": [...], "axis": "epoch"|"step"}}}`` from logged rows."""
    series: dict[str, list[tuple[float, float | None, float]]] = {}
    for i, row in enumerate(rows):
        step = _num(row.get("step", i))
        epoch = _num(row["epoch"]) if "epoch" in row else None
        for k, v in row.items():
            if k in ("step", "epoch"):
                continue
            y = _num(v)
            if y is None:
                continue
            series.setdefault(k, []).append((step if step is not None else i, epoch, y))
    panels: dict[str, dict[str, dict[str, Any]]] = {}
    for key, pts in series.items():
        epochs = [e for _, e, _ in pts]
        per_epoch = all(e is not None for e in epochs) and len(set(epochs)) == len(epochs)
        panels.setdefault(_base_name(key), {})[key] = {
            "x_step": [s for s, _, _ in pts], "x_epoch": epochs, "y": [y for _, _, y in pts], "per_epoch": per_epoch}
    for curves in panels.values():
        axis = "epoch" if all(c["per_epoch"] for c in curves.values()) else "step"
        for c in curves.values():
            c["axis"] = axis
            c["x"] = c["x_epoch"] if axis == "epoch" else c["x_step"]
    return dict(sorted(panels.items()))


_STAGE_COLORS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
_STAGE_ORDER = {"train": 0, "val": 1, "test": 2}


def _stage(key: str) -> str | None:
    m = _PREFIX.match(key)
    if m is None:
        return None
    return {"valid": "val", "validation": "val"}.get(m.group(1), m.group(1))


def _ordered(curves: dict) -> list[str]:
    """Keys of a panel in a stable order: train, val, test; per-step before per-epoch values."""
    def rank(k):
        st = _stage(k)
        return (_STAGE_ORDER.get(st, 3) if st else 3, 0 if k.endswith("_step") else 1, k)
    return sorted(curves, key=rank)


def _colors(curves: dict) -> dict[str, str]:
    """The same colour for a stage on every panel (train blue, val orange, test green; a metric's
    per-step and per-epoch curves share it and differ in line style); other keys take the rest."""
    free = itertools.cycle([c for c in _COLORS if c not in _STAGE_COLORS.values()])
    return {k: _STAGE_COLORS.get(_stage(k) or "") or next(free) for k in _ordered(curves)}


def _epoch_ticks(rows: list[dict[str, Any]], max_ticks: int = 12) -> tuple[list[float], list[str]]:
    """Where each epoch ended, in steps (its last logged step), for the top axis of step panels."""
    last: dict[int, float] = {}
    for i, row in enumerate(rows):
        e, st = _num(row.get("epoch")), _num(row.get("step", i))
        if e is not None and st is not None and float(e).is_integer():
            last[int(e)] = max(st, last.get(int(e), st))
    epochs = sorted(last)
    every = max(1, math.ceil(len(epochs) / max_ticks))
    keep = [e for i, e in enumerate(epochs) if i % every == 0 or e == epochs[-1]]
    if len(keep) > 1 and keep[-1] - keep[-2] < every:
        keep.pop(-2)  # no crowded last pair
    return [last[e] for e in keep], [str(e) for e in keep]


def _log_scale(name: str, curves: dict) -> bool:
    """Losses spanning more than a decade and a half read better on a log axis."""
    ys = [y for c in curves.values() for y in c["y"]]
    return "loss" in name and bool(ys) and min(ys) > 0 and max(ys) / min(ys) > 30


class _Figure:
    """One matplotlib figure (Agg canvas, no pyplot) kept between calls: when the panels and keys
    are unchanged, only the lines' data, scales and epoch ticks are updated before drawing, which
    costs a fraction of building the figure again. No ``tight_layout`` (a second full draw): the
    margins are fixed in inches."""

    def __init__(self, FigureCanvasAgg, Figure):
        self._canvas_cls, self._figure_cls = FigureCanvasAgg, Figure
        self.signature = None
        self.fig = None
        self.axes: dict[str, Any] = {}
        self.lines: dict[tuple[str, str], Any] = {}
        self.tops: dict[str, Any] = {}

    def _build(self, panels: dict) -> None:
        n = len(panels)
        ncols = min(3, n)
        nrows = math.ceil(n / ncols)
        w, h = 4.4 * ncols, 3.3 * nrows
        fig = self._figure_cls(figsize=(w, h), dpi=90)
        self._canvas_cls(fig)
        # margins in inches: room for 7-character tick labels, the y label and the top epoch axis
        fig.subplots_adjust(left=0.9 / w, right=1 - 0.15 / w, bottom=0.55 / h, top=1 - 0.6 / h,
                            wspace=1.0 / (w / ncols - 1.05), hspace=1.15 / (h / nrows - 1.15))
        self.fig, self.axes, self.lines, self.tops = fig, {}, {}, {}
        for i, (name, curves) in enumerate(panels.items()):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            colors = _colors(curves)
            for key in _ordered(curves):
                per_step = key.endswith("_step") or (curves[key]["axis"] == "step" and not curves[key]["per_epoch"])
                (line,) = ax.plot([], [], color=colors[key], label=key, linewidth=1.0 if per_step else 1.6,
                                  alpha=0.55 if per_step and len(curves) > 1 else 1.0, markersize=3.5)
                self.lines[(name, key)] = line
            axis = next(iter(curves.values()))["axis"]
            ax.set_xlabel(axis)
            ax.set_ylabel(name)
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelsize=8)
            ax.legend(fontsize=8, loc="best")
            if axis == "step":
                top = ax.secondary_xaxis("top")
                top.set_xlabel("epoch", fontsize=8)
                top.tick_params(labelsize=7, length=2)
                self.tops[name] = top
            self.axes[name] = ax

    def update(self, panels: dict, rows: list[dict[str, Any]]) -> bytes:
        import io

        sig = tuple((name, next(iter(c.values()))["axis"], tuple(_ordered(c))) for name, c in panels.items())
        if sig != self.signature:
            self._build(panels)
            self.signature = sig
        ticks = _epoch_ticks(rows) if self.tops else ([], [])
        for name, curves in panels.items():
            ax = self.axes[name]
            for key, c in curves.items():
                line = self.lines[(name, key)]
                line.set_data(c["x"], c["y"])
                line.set_marker("o" if len(c["x"]) < 30 and not key.endswith("_step") else "")
            log = _log_scale(name, curves)
            ax.set_yscale("log" if log else "linear")
            if not log:  # plain numbers (no "1e-2" offset text, which the top epoch axis would hide)
                ax.ticklabel_format(axis="y", useOffset=False)
            ax.relim()
            ax.autoscale_view()
            if name in self.tops:
                self.tops[name].set_xticks(ticks[0], labels=ticks[1])
            if next(iter(curves.values()))["axis"] == "epoch":
                ax.xaxis.get_major_locator().set_params(integer=True)
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", pil_kwargs={"compress_level": 1})
        return buf.getvalue()


def _png(panels: dict, path: str, rows: list[dict[str, Any]] = (), figure: _Figure | None = None) -> bool:
    """Draw the panels into ``path`` (atomically); ``figure`` is reused when given."""
    global _warned_no_matplotlib
    mpl = _matplotlib()
    if mpl is None:
        if not _warned_no_matplotlib:
            print("ember: matplotlib is not installed, so learning_curves.png is skipped "
                  "(pip install matplotlib); learning_curves.html still has the curves.", file=sys.stderr)
            _warned_no_matplotlib = True
        return False
    figure = figure or _Figure(*mpl)
    _atomic_write(path, figure.update(panels, list(rows)))
    return True


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _tint(color: str) -> str:
    """A lighter shade of ``#rrggbb`` (per-step curves: same hue as their epoch curve, lighter)."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#%02x%02x%02x" % tuple(int(c + (255 - c) * 0.45) for c in (r, g, b))


def _chart_data(panels: dict) -> list[dict[str, Any]]:
    """What the page's renderer draws: one chart per panel, one series per logged key."""
    charts = []
    for name, curves in panels.items():
        colors = _colors(curves)
        axis = next(iter(curves.values()))["axis"]
        series = []
        for key in _ordered(curves):
            c = curves[key]
            per_step = key.endswith("_step") or (axis == "step" and not c["per_epoch"])
            kind = "test" if _stage(key) == "test" else ("step" if per_step else "epoch")
            color = _tint(colors[key]) if kind == "step" and len(curves) > 1 else colors[key]
            n = len(c["y"])
            series.append({"name": key, "kind": kind, "color": color, "dash": kind == "epoch",
                           "x": c["x"], "y": c["y"],
                           "step": [_int_or_none(v) for v in c["x_step"]][:n],
                           "epoch": [_int_or_none(v) for v in c["x_epoch"]][:n]})
        charts.append({"title": name, "xlabel": axis, "ylabel": name, "log": _log_scale(name, curves),
                       "integerX": axis == "epoch", "series": series})
    return charts


def _int_or_none(v):
    if v is None:
        return "-"
    return int(v) if float(v).is_integer() else round(float(v), 4)


def _html(panels: dict, png_path: str | None, title: str) -> str:
    """One self-contained interactive page (no server, no network): the charts are drawn by the small
    renderer shared with ``ember.viz.to_html`` (hover readout of step, epoch and value of every series,
    wheel zoom and drag pan, log/linear toggle, series on/off), then a table of final values and, when
    matplotlib made one, the PNG."""
    import json

    from ember._html import page

    parts = []
    if not panels:
        parts.append("<p>No metrics were logged.</p>")
    else:
        parts.append('<div id="charts" class="panels"></div>')
        parts.append('<p class="hint">hover for step, epoch and value; wheel to zoom, drag to pan, double-click '
                     'or "reset zoom" to reset; click a legend entry to hide a series. Thin light lines: per-step '
                     'values; dashed: per-epoch values; squares: test metrics.</p>')
        parts.append('<h2>Final values</h2><table class="metrics"><tr><th>metric</th><th>last</th><th>min</th>'
                     "<th>max</th><th>points</th></tr>")
        for curves in panels.values():
            for key, c in curves.items():
                parts.append(f"<tr><th>{html.escape(key)}</th><td>{_fmt(c['y'][-1])}</td><td>{_fmt(min(c['y']))}"
                             f"</td><td>{_fmt(max(c['y']))}</td><td>{len(c['y'])}</td></tr>")
        parts.append("</table>")
        if png_path and os.path.exists(png_path):
            with open(png_path, "rb") as f:
                b64 = base64.b64encode(f.read()).decode("ascii")
            parts.append(f'<h2>Matplotlib rendering</h2><img alt="learning curves" '
                         f'src="data:image/png;base64,{b64}" style="max-width:100%">')
    script = ("EmberView.renderCharts(document.getElementById('charts'), " + json.dumps(_chart_data(panels)) + ");"
              if panels else "document.body.dataset.rendered = 'ok';")
    return page(html.escape(title), "\n".join(parts), script)


def _rows_from_trainer(trainer: Any) -> tuple[list[dict[str, Any]], str]:
    rows: list[dict[str, Any]] = []
    for lg in getattr(trainer, "loggers", None) or []:
        if hasattr(lg, "metrics_rows"):
            rows = list(lg.metrics_rows)
            break
    else:
        for lg in getattr(trainer, "loggers", None) or []:
            path = getattr(lg, "_writer", None) and lg._writer.path
            if path and os.path.exists(path):
                import glob

                from ember.train.loggers.tensorboard import read_events

                # every event file of the run (trainer.test() after fit opens a new one), oldest first;
                # one row per step (TensorBoard stores one scalar per event): a metric then sits beside the
                # "epoch" logged with it, so per-epoch metrics are drawn against epochs; the placeholder
                # hp_metric (-1, written for the HPARAMS tab) is not a curve
                files = sorted(glob.glob(os.path.join(os.path.dirname(path), "events.out.tfevents.*")),
                               key=os.path.getmtime)
                by_step: dict[int, dict[str, Any]] = {}
                for f in files:
                    for ev in read_events(f):
                        vals = {v["tag"]: v["simple_value"] for v in ev.get("summary", [])
                                if "simple_value" in v and v["tag"] != "hp_metric"}
                        if vals:
                            by_step.setdefault(int(ev.get("step", 0)), {}).update(vals)
                rows = [{**vals, "step": st} for st, vals in sorted(by_step.items())]
                break
    return rows, trainer.log_dir


class LearningCurves:
    """Writes ``learning_curves.png`` and ``.html`` again and again during a run (the trainer
    keeps one per fit), reusing one matplotlib figure.

    ``write(..., throttle=True)`` (used at epoch ends) skips the refresh when less training time
    has passed since the last one than ``budget`` times what drawing costs, so that very short
    epochs are not slowed down by their own plots; the end of the run always writes.
    """

    def __init__(self, budget: float = 10.0):
        self.budget = budget
        self._figure: _Figure | None = None
        self._last_end = None
        self._last_cost = 0.0
        self._rows_written = -1

    def write(self, metrics_rows: Any, out_dir: str | os.PathLike | None = None,
              title: str = "ember learning curves", throttle: bool = False) -> dict[str, str | None] | None:
        """Same arguments and result as :func:`write_learning_curves`; ``None`` when skipped."""
        now = time.perf_counter()
        if throttle and self._last_end is not None and now - self._last_end < self.budget * self._last_cost:
            return None
        rows, out_dir = _rows_and_dir(metrics_rows, out_dir)
        if len(rows) == self._rows_written and os.path.exists(os.path.join(out_dir, HTML_NAME)):
            return None  # nothing new since the last refresh
        if self._figure is None and _matplotlib() is not None:
            self._figure = _Figure(*_matplotlib())  # (the import is not counted as drawing cost)
            now = time.perf_counter()
        paths = _write(rows, out_dir, title, self._figure)
        self._rows_written = len(rows)
        self._last_end = time.perf_counter()
        self._last_cost = self._last_end - now
        return paths

    def close(self) -> None:
        """Drop the figure (its memory)."""
        self._figure = None


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return FigureCanvasAgg, Figure


def _rows_and_dir(metrics_rows: Any, out_dir: Any) -> tuple[list[dict[str, Any]], str]:
    if hasattr(metrics_rows, "loggers") and hasattr(metrics_rows, "log_dir"):
        rows, default_dir = _rows_from_trainer(metrics_rows)
        out_dir = default_dir if out_dir is None else out_dir
    else:
        rows = list(metrics_rows)
    if out_dir is None:
        raise TypeError("write_learning_curves(metrics_rows, out_dir): out_dir is required when rows are given")
    return rows, os.fspath(out_dir)


def _write(rows: list[dict[str, Any]], out_dir: str, title: str, figure: _Figure | None) -> dict[str, str | None]:
    panels = group_metrics(rows)
    png_path: str | None = os.path.join(out_dir, PNG_NAME)
    if not panels or not _png(panels, png_path, rows, figure):
        png_path = None
    html_path = os.path.join(out_dir, HTML_NAME)
    _atomic_write(html_path, _html(panels, png_path, title).encode("utf-8"))
    return {"png": png_path, "html": html_path}


def write_learning_curves(metrics_rows: Any, out_dir: str | os.PathLike | None = None,
                          title: str = "ember learning curves") -> dict[str, str | None]:
    """Write ``learning_curves.png`` (if matplotlib is installed) and ``learning_curves.html``.

    Args:
        metrics_rows: rows as logged (dicts with ``step``, optionally ``epoch``, and metric values),
            e.g. ``CSVLogger.metrics_rows`` -- or a ``Trainer``, whose first logger and ``log_dir`` are used.
        out_dir: where to write (required unless a Trainer is passed).

    Returns ``{"png": path or None, "html": path}``.
    """
    rows, out_dir = _rows_and_dir(metrics_rows, out_dir)
    return _write(rows, out_dir, title, None)

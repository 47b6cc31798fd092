"""``ModelSummary``: print a table of the model's layers when fit starts (Lightning 2.x).

::

      | Name | Type       | Params | Mode  | In sizes | Out sizes
    ---------------------------------------------------------------
    0 | net  | Sequential | 4.6 K  | train | [8, 64]  | [8, 10]
    ---------------------------------------------------------------
    4.6 K     Trainable params
    0         Non-trainable params
    4.6 K     Total params
    0.018     Total estimated model params size (MB)

Input and output sizes are filled in when the module defines ``example_input_array``: one forward
pass (no gradients, eval mode, then the previous mode restored) with forward hooks records them.
"""

from __future__ import annotations

from typing import Any

from ember.train._monitor import log_info
from ember.train.callbacks.callback import Callback

__all__ = ["ModelSummary", "summarize", "ModelSummaryTable", "get_human_readable_count"]

UNKNOWN_SIZE = "?"


def get_human_readable_count(number: int) -> str:
    """``123`` -> ``"123"``, ``1234`` -> ``"1.2 K"``, ``2e6`` -> ``"2.0 M"`` (Lightning's format)."""
    labels = ["", "K", "M", "B", "T"]
    n = float(number)
    i = 0
    while abs(n) >= 1000 and i < len(labels) - 1:
        n /= 1000.0
        i += 1
    if i == 0:
        return f"{int(number):,d}".replace(",", " ") if abs(number) >= 1000 else str(int(number))
    return f"{n:,.1f} {labels[i]}"


def _numel(p: Any) -> int:
    data = getattr(p, "_data", None)
    if data is not None:
        return int(data.size)
    n = getattr(p, "numel", None)
    if callable(n):
        return int(n())
    size = 1
    for d in getattr(p, "shape", ()):
        size *= int(d)
    return size


def _nbytes(p: Any) -> int:
    data = getattr(p, "_data", None)
    if data is not None:
        return int(data.nbytes)
    return _numel(p) * 4


def _shape_of(x: Any) -> Any:
    if hasattr(x, "shape"):
        return list(x.shape)
    if isinstance(x, (list, tuple)):
        return [_shape_of(e) for e in x]
    if isinstance(x, dict):
        return {k: _shape_of(v) for k, v in x.items()}
    return UNKNOWN_SIZE


class ModelSummaryTable:
    """The summary of a module: one row per sub-module down to ``max_depth`` (-1: all), plus totals."""

    def __init__(self, model: Any, max_depth: int = 1):
        if not isinstance(max_depth, int) or max_depth < -1:
            raise ValueError(f"ModelSummary: max_depth must be an int >= -1, got {max_depth!r}")
        self._model = model
        self._max_depth = max_depth
        self.layers = self._layers()
        self.in_sizes, self.out_sizes = self._forward_example_input()

    def _layers(self) -> list[tuple[str, Any]]:
        if self._max_depth == 0:
            return []
        mods = [(n, m) for n, m in self._model.named_modules() if n]
        if self._max_depth > 0:
            mods = [(n, m) for n, m in mods if n.count(".") < self._max_depth]
        return mods

    def _forward_example_input(self) -> tuple[list, list]:
        n = len(self.layers)
        ins, outs = [UNKNOWN_SIZE] * n, [UNKNOWN_SIZE] * n
        x = getattr(self._model, "example_input_array", None)
        if x is None or not n or not all(hasattr(m, "register_forward_hook") for _, m in self.layers):
            return ins, outs
        handles = []
        for i, (_, m) in enumerate(self.layers):
            def hook(module, inp, out, i=i):
                ins[i] = _shape_of(inp[0] if isinstance(inp, tuple) and len(inp) == 1 else inp)
                outs[i] = _shape_of(out)
            handles.append(m.register_forward_hook(hook))
        mode = getattr(self._model, "training", True)
        try:
            import ember

            self._model.eval()
            with ember.no_grad():
                if isinstance(x, (list, tuple)):
                    self._model(*x)
                elif isinstance(x, dict):
                    self._model(**x)
                else:
                    self._model(x)
        finally:
            self._model.train(mode)
            for h in handles:
                try:
                    h.remove()
                except TypeError:  # ember.nn RemovableHandle.remove fails on its set members after
                    pass           # popping the hook itself (reported); the hook is gone already
        return ins, outs

    @property
    def layer_names(self) -> list[str]:
        return [n for n, _ in self.layers]

    @property
    def layer_types(self) -> list[str]:
        return [type(m).__name__ for _, m in self.layers]

    @property
    def param_nums(self) -> list[int]:
        return [sum(_numel(p) for p in m.parameters()) for _, m in self.layers]

    @property
    def training_modes(self) -> list[bool]:
        return [bool(getattr(m, "training", True)) for _, m in self.layers]

    @property
    def total_parameters(self) -> int:
        return sum(_numel(p) for p in self._model.parameters())

    @property
    def trainable_parameters(self) -> int:
        return sum(_numel(p) for p in self._model.parameters() if getattr(p, "requires_grad", True))

    @property
    def model_size(self) -> float:
        """Size of the parameters in MB (10**6 bytes), from their actual dtypes."""
        return sum(_nbytes(p) for p in self._model.parameters()) / 1e6

    def __str__(self) -> str:
        cols = [("", [str(i) for i in range(len(self.layers))]),
                ("Name", self.layer_names), ("Type", self.layer_types),
                ("Params", [get_human_readable_count(n) for n in self.param_nums]),
                ("Mode", ["train" if t else "eval" for t in self.training_modes])]
        if any(s != UNKNOWN_SIZE for s in self.in_sizes + self.out_sizes):
            cols += [("In sizes", [str(s) for s in self.in_sizes]), ("Out sizes", [str(s) for s in self.out_sizes])]
        widths = [max([len(h)] + [len(v) for v in vals]) for h, vals in cols]
        header = " | ".join(h.ljust(w) for (h, _), w in zip(cols, widths))
        rule = "-" * len(header)
        lines = [header, rule]
        for r in range(len(self.layers)):
            lines.append(" | ".join(vals[r].ljust(w) for (_, vals), w in zip(cols, widths)))
        if self.layers:
            lines.append(rule)
        trainable = self.trainable_parameters
        total = self.total_parameters
        lines += [f"{get_human_readable_count(trainable):<10}Trainable params",
                  f"{get_human_readable_count(total - trainable):<10}Non-trainable params",
                  f"{get_human_readable_count(total):<10}Total params",
                  f"{self.model_size:<10.3f}Total estimated model params size (MB)"]
        return "\n".join(lines)

    __repr__ = __str__


def summarize(model: Any, max_depth: int = 1) -> ModelSummaryTable:
    """The summary table of ``model`` (``print(summarize(model))``)."""
    return ModelSummaryTable(model, max_depth)


class ModelSummary(Callback):
    """Print :func:`summarize` of the module at fit start (``max_depth=0`` turns it off, -1 shows all)."""

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any):
        if not isinstance(max_depth, int) or max_depth < -1:
            raise ValueError(f"ModelSummary: max_depth must be an int >= -1, got {max_depth!r}")
        self._max_depth = max_depth
        self._summarize_kwargs = summarize_kwargs
        self.summary: ModelSummaryTable | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        if not self._max_depth:
            return
        self.summary = summarize(pl_module, self._max_depth)
        if getattr(trainer, "is_global_zero", True):
            log_info("\n" + str(self.summary))

    def __repr__(self) -> str:
        return f"ModelSummary(max_depth={self._max_depth})"

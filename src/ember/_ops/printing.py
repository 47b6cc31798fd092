"""``repr`` of tensors (torch's layout)."""
from __future__ import annotations

import sys

import numpy as np

from .. import _dtype as D
from ._helpers import _public


_PRINT = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}
_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": float("inf"), "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """Set how tensors print (torch's ``set_printoptions``): ``precision`` digits after the point,
    ``threshold`` elements before the middle is summarised with ``...``, ``edgeitems`` shown at each
    end when summarised, ``linewidth`` characters per line, ``profile`` ("default", "short", "full")
    for presets, ``sci_mode`` True/False to force or forbid scientific notation (None: automatic)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        _PRINT.update(_PROFILES[profile])
    for k, v in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                 ("linewidth", linewidth)):
        if v is not None:
            _PRINT[k] = v
    _PRINT["sci_mode"] = sci_mode


def _edges(a, e):
    """The values a summarised print shows: the first and last ``e`` along every dimension."""
    for ax in range(a.ndim):
        n = a.shape[ax]
        if n > 2 * e:
            a = np.concatenate([a.take(range(e), ax), a.take(range(n - e, n), ax)], ax)
    return a


def _repr(t):
    a = t.__array__()
    o = _PRINT
    thr = o["threshold"]
    kw = dict(separator=", ", prefix="tensor(", threshold=sys.maxsize if thr == float("inf") else int(thr),
              edgeitems=o["edgeitems"], max_line_width=o["linewidth"])
    p = o["precision"]
    summarised = a.size > kw["threshold"]
    if a.dtype.kind == "f" and a.size:
        shown = _edges(a, o["edgeitems"]) if summarised else a  # torch formats by the values it shows
        fin = shown[np.isfinite(shown)].astype(np.float64)
        sci = o["sci_mode"]
        nz = fin[fin != 0]
        # torch's integer mode: every nonzero finite value is whole (none at all counts), widths from those values
        ints = (not nz.size or np.all(nz == np.round(nz))) and (not fin.size or np.abs(fin).max() < 1e8)
        if sci is None:
            sci = not ints and fin.size and (
                np.abs(fin).max() >= 1e8 or (np.abs(fin[fin != 0]).min() if (fin != 0).any() else 1) < 1e-4)
        if sci:
            width = max(len(f"{v:.{p}e}") for v in shown.flat)
            body = np.array2string(a, formatter={"float_kind": lambda v: f"{v:.{p}e}".rjust(width)}, **kw)
        elif ints:
            width = max((len(f"{v:.0f}") + 1 for v in nz.flat), default=1)

            def whole(v):  # "3." for finite values, "inf"/"nan" bare, right-aligned to the finite values' width
                s = f"{v:.0f}" if not np.isfinite(v) else f"{v:.0f}."
                return s.rjust(width)

            body = np.array2string(a, formatter={"float_kind": whole}, **kw)
        else:
            body = np.array2string(a, floatmode="fixed", precision=p, suppress_small=o["sci_mode"] is False, **kw)
    else:
        body = np.array2string(a, **kw)
    if summarised:
        body = body.replace(", ..., ", ",  ..., ")  # torch right-aligns the ellipsis in a row
    extras = []
    if a.size == 0:
        body = "[]"
        if a.ndim != 1:
            extras.append(f"size={tuple(a.shape)}")
    if a.dtype.kind == "f" and a.dtype != D.get_default_dtype().np:
        extras.append(f"dtype={D._by_np[a.dtype]}")
    if a.dtype.kind in "iu" and a.dtype != np.int64:
        extras.append(f"dtype={D._by_np[a.dtype]}")
    if str(t.device) != "cpu":
        extras.append(f"device='{t.device}'")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"


__all__ = _public(globals())

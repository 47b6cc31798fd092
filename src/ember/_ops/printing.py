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


class _Formatter:
    """torch's element formatter for one real array (the real or the imaginary parts of a complex tensor)."""

    def __init__(self, vals):
        p = _PRINT["precision"]
        self.int_mode, self.sci_mode, self.max_width = True, False, 1
        v = vals.reshape(-1).astype(np.float64)
        v = v[np.isfinite(v) & (v != 0)]
        if v.size:
            av = np.abs(v)
            mn, mx = av.min(), av.max()
            self.int_mode = bool(np.all(v == np.ceil(v)))
            sci = _PRINT["sci_mode"]
            self.sci_mode = bool(mx / mn > 1000.0 or mx > 1.0e8 or mn < 1.0e-4) if sci is None else sci
            if self.sci_mode:
                self.max_width = max(len(f"{x:.{p}e}") for x in v)
            elif self.int_mode:
                self.max_width = max(len(f"{x:.0f}") + 1 for x in v)
            else:
                self.max_width = max(len(f"{x:.{p}f}") for x in v)

    def format(self, x):
        p = _PRINT["precision"]
        if self.sci_mode:
            r = f"{x:{self.max_width}.{p}e}"
        elif self.int_mode:
            r = f"{x:.0f}" + ("" if x != x or x in (float("inf"), float("-inf")) else ".")
        else:
            r = f"{x:.{p}f}"
        return (self.max_width - len(r)) * " " + r


def _complex_body(a, summarised):
    """torch's layout of a complex array: real and imaginary parts formatted separately, ``a+bj``."""
    e = _PRINT["edgeitems"]
    shown = _edges(a, e) if summarised else a
    f1, f2 = _Formatter(shown.real), _Formatter(shown.imag)

    def one(z):
        re = f1.format(float(z.real))
        im = (f2.format(float(z.imag)) + "j").lstrip()
        return re + im if im[0] in "+-" else re + "+" + im

    def vec(v, indent):
        per_line = max(1, int((_PRINT["linewidth"] - indent) // (f1.max_width + 2 + f2.max_width + 1)))
        if summarised and not e:
            data = ["..."]
        elif summarised and v.shape[0] > 2 * e:
            data = [one(z) for z in v[:e]] + [" ..."] + [one(z) for z in v[-e:]]
        else:
            data = [one(z) for z in v]
        lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"

    def rec(x, indent):
        if x.ndim == 0:
            return one(x[()])
        if x.ndim == 1:
            return vec(x, indent)
        n = x.shape[0]
        if summarised and n > 2 * e:
            parts = [rec(x[i], indent + 1) for i in range(e)] + ["..."] + [rec(x[i], indent + 1) for i in range(n - e, n)]
        else:
            parts = [rec(x[i], indent + 1) for i in range(n)]
        return "[" + ("," + "\n" * (x.ndim - 1) + " " * (indent + 1)).join(parts) + "]"

    return rec(a, len("tensor("))


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
    elif a.dtype.kind == "c" and a.size:
        body = _complex_body(a, summarised)
    else:
        body = np.array2string(a, **kw)
    if summarised and a.dtype.kind != "c":
        body = body.replace(", ..., ", ",  ..., ")  # torch right-aligns the ellipsis in a row
    extras = []
    if a.size == 0:
        body = "[]"
        if a.ndim != 1:
            extras.append(f"size={tuple(a.shape)}")
    dflt = D.get_default_dtype().np
    if (a.dtype != dflt if a.size == 0 else  # torch: an empty tensor shows any dtype but the default float one
            a.dtype not in (dflt, D.complex_of(D.get_default_dtype()).np, np.int64, np.bool_)):
        extras.append(f"dtype={D._by_np[a.dtype]}")
    if str(t.device) != "cpu":
        extras.append(f"device='{t.device}'")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    out = "tensor(" + body
    last = len(out) - out.rfind("\n") + 1  # torch's _add_suffixes: a suffix that would pass linewidth wraps
    for e in extras:
        if last + len(e) + 2 > o["linewidth"]:
            out += ",\n" + " " * len("tensor(") + e
            last = len("tensor(") + len(e)
        else:
            out += ", " + e
            last += len(e) + 2
    return out + ")"


__all__ = _public(globals())

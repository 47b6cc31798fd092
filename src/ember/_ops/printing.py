"""``repr`` of tensors (torch's layout)."""
from __future__ import annotations


import numpy as np

from .. import _dtype as D
from ._helpers import _public


def _repr(t):
    a = t.__array__()
    kw = dict(separator=", ", prefix="tensor(", threshold=1000, edgeitems=3, max_line_width=80)
    if a.dtype.kind == "f" and a.size:
        fin = a[np.isfinite(a)].astype(np.float64)
        if fin.size and np.all(fin == np.round(fin)) and np.abs(fin).max() < 1e8:
            body = np.array2string(a, floatmode="maxprec", precision=4, **kw)
        elif fin.size and (np.abs(fin).max() >= 1e8 or (np.abs(fin[fin != 0]).min() if (fin != 0).any() else 1) < 1e-4):
            body = np.array2string(a, formatter={"float_kind": lambda v: f"{v:.4e}"}, **kw)
        else:
            body = np.array2string(a, floatmode="fixed", precision=4, suppress_small=False, **kw)
    else:
        body = np.array2string(a, **kw)
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

"""torch's ``out=`` argument: write an op's result into a given tensor and return that tensor.

As torch: the result is cast to ``out``'s dtype when the cast keeps the kind (int -> float yes,
float -> int no; the matrix products want the exact dtype); ``out`` is resized when its shape differs
(silently when it is empty, else with torch's deprecation ``UserWarning``); and with grad mode on, an
``out=`` call where an input or ``out`` requires grad raises (torch records no graph for them).
An op takes ``out`` as ``def op(..., *, out=None)`` and starts with
``if out is not None: return _out.into(out, "op", op, args...)``.
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from . import _dtype as D
from ._tensor import Tensor

_EMBER = os.path.dirname(os.path.abspath(__file__)) + os.sep
_KIND = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _any_requires_grad(args):
    for a in args:
        if isinstance(a, Tensor):
            if a.requires_grad:
                return True
        elif isinstance(a, (list, tuple)) and _any_requires_grad(a):
            return True
    return False


def into(out, op, fn, *args, exact_dtype=False, **kwargs):
    """``fn(*args, **kwargs)`` (called without ``out``) written into ``out``; returns ``out`` (for an op
    returning several tensors, ``out`` is a tuple of as many tensors and the result holds them)."""
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(o).__name__}")
    from .autograd import is_grad_enabled

    if is_grad_enabled() and (_any_requires_grad(outs) or _any_requires_grad(args)
                              or _any_requires_grad(kwargs.values())):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic differentiation, but "
                           "one of the arguments requires grad.")
    res = fn(*args, **kwargs)
    if isinstance(res, (tuple, list)):
        if not isinstance(out, (tuple, list)) or len(out) != len(res):
            raise TypeError(f"{op}(): this call returns {len(res)} tensors, so out= must be a tuple of {len(res)} "
                            f"tensors, got {type(out).__name__}")
        written = [write(o, r, op, exact_dtype) for o, r in zip(out, res)]
        return res._make(written) if hasattr(res, "_make") else type(res)(written)
    if isinstance(out, (tuple, list)):
        raise TypeError(f"{op}(): this call returns one tensor, so out= must be a Tensor, not {type(out).__name__}")
    return write(out, res, op, exact_dtype)


def _user_level():
    """The ``stacklevel`` that points a warning raised in ``write`` at the first frame outside ember."""
    f, level = sys._getframe(1), 1
    while f is not None and f.f_code.co_filename.startswith(_EMBER):
        f, level = f.f_back, level + 1
    return level


def write(out, res, op, exact_dtype=False):
    """Copy the tensor ``res`` into ``out`` (resizing and casting as torch); returns ``out``."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")
    rd = res._data if isinstance(res, Tensor) else np.asarray(res)
    od = out._data
    if rd.dtype != od.dtype:
        if exact_dtype:
            raise RuntimeError(f"{op}(): expected out tensor to have dtype {D._by_np[rd.dtype]}, but got "
                               f"{D._by_np[od.dtype]} instead")
        if _KIND.get(rd.dtype.kind, 9) > _KIND.get(od.dtype.kind, 9):
            raise RuntimeError(f"{op}(): result type {D._by_np[rd.dtype]} can't be cast to the desired output type "
                               f"{D._by_np[od.dtype]}")
    if rd.shape != od.shape:
        if od.size != 0:
            warnings.warn(
                f"An output with one or more elements was resized since it had shape {list(od.shape)}, which does "
                f"not match the required output shape {list(rd.shape)}. This behavior is deprecated, and in a "
                "future PyTorch release outputs will not be resized unless they have zero elements. You can "
                "explicitly reuse an out tensor t by resizing it, inplace, to zero elements with t.resize_(0).",
                UserWarning, stacklevel=_user_level())
        out._data = rd.astype(od.dtype, copy=True)
    else:
        if not od.flags.writeable:
            raise RuntimeError(f"{op}(): out= is a read-only (expanded/broadcast) tensor; pass a tensor that owns its "
                               "memory, e.g. torch.empty(shape)")
        od[...] = rd
    out._bump()
    return out

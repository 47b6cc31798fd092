"""The softmax family (fused nodes for speed)."""
from __future__ import annotations


import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.engine import Node
from ._registry import tensor_method
from ._helpers import _dim, _public
from .casting import cast
from .reduce import sum
from .shape import reshape
from .. import _out


class Softmax(Node):
    name = "SoftmaxBackward0"
    saves = {}
    save_out = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        if not x.size:
            return x.copy()
        m = np.max(x, axis=self.axis, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            e = np.exp(x - m)  # an inf max gives nan, as torch's
            return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, ns, g, ins, out):
        go = g * out
        return (go - out * ns.sum(go, self.axis, True),)


class LogSoftmax(Node):
    name = "LogSoftmaxBackward0"
    saves = {}
    save_out = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        if not x.size:
            return x.copy()
        m = np.max(x, axis=self.axis, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = x - m  # an inf max gives nan, as torch's
            return s - np.log(np.exp(s).sum(axis=self.axis, keepdims=True))

    def backward(self, ns, g, ins, out):
        return (g - ns.exp(out) * ns.sum(g, self.axis, True),)


def _softmax_prep(x, dim, dtype, name):
    if dtype is not None:
        x = cast(x, D.as_dtype(dtype))
    elif x._data.dtype == np.float16:
        x = cast(x, D.float32)
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{name}: expected a floating-point input, got {x.dtype}; use x.float()")
    if dim is None:
        raise TypeError(f"{name}() missing required argument 'dim' (e.g. dim=-1 for the last dimension)")
    if x.ndim == 0:
        return x, None
    return x, _dim(dim, x.ndim, name)


@tensor_method
def softmax(input, dim=None, dtype=None, *, out=None):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably."""
    if out is not None:
        return _out.into(out, "softmax", softmax, input, dim, dtype)
    half = dtype is None and isinstance(input, Tensor) and input._data.dtype == np.float16
    input, ax = _softmax_prep(input, dim, dtype, "softmax")
    out = Softmax(None)(reshape(input, (1,))).reshape(()) if ax is None else Softmax(ax)(input)
    return cast(out, D.float16) if half else out  # float16 computes in float32, like torch


@tensor_method
def log_softmax(input, dim=None, dtype=None, *, out=None):
    """log(softmax(x)) along ``dim``, computed stably (finite for logits of +-1e4)."""
    if out is not None:
        return _out.into(out, "log_softmax", log_softmax, input, dim, dtype)
    half = dtype is None and isinstance(input, Tensor) and input._data.dtype == np.float16
    input, ax = _softmax_prep(input, dim, dtype, "log_softmax")
    out = LogSoftmax(None)(reshape(input, (1,))).reshape(()) if ax is None else LogSoftmax(ax)(input)
    return cast(out, D.float16) if half else out  # float16 computes in float32, like torch


def ns_sum_keep(x, axis):
    return sum(x, axis, True)


__all__ = _public(globals())

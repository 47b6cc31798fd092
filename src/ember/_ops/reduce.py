"""Reductions and statistics: ``sum``, ``mean``, ``max``, ``var``, ``norm``, cumulative ops, ``cov``..."""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.engine import Node
from ._registry import tensor_method
from ._helpers import _check_tensor, _dim, _dims, _public, _rdims, _pyslice
from .creation import ones_like, tensor, zeros_like
from .casting import cast
from .unary import abs, exp, isfinite, log, logical_xor, sqrt
from .binary import clamp, maximum, minimum, pow, where
from .. import _autocast as _ac


class Sum(Node):
    """Sum (or, with ``scale``, mean) over ``axes``. float16 accumulates in float32, as torch does."""

    name = "SumBackward0"
    saves = {}

    def __init__(self, axes, keepdim, scale=None):
        self.axes, self.keepdim, self.scale = axes, keepdim, scale

    def forward(self, x):
        self.shape = x.shape
        if x.dtype == np.float16:
            r = x.sum(axis=self.axes, keepdims=self.keepdim, dtype=np.float32)
            if self.scale is not None:
                r = r * np.float32(self.scale)
            return np.asarray(r.astype(np.float16))
        # integers keep their dtype (NumPy sums int32 into int64; ember's int32 only reaches here for dtype=int32)
        r = x.sum(axis=self.axes, keepdims=self.keepdim, dtype=x.dtype if x.dtype.kind in "iu" else None)
        if self.scale is not None:
            r = r * r.dtype.type(self.scale) if r.dtype.kind == "f" else r * self.scale
        return r

    def backward(self, ns, g, ins, out):
        if not self.keepdim and self.axes is not None:
            g = ns.reshape(g, _keep_shape(self.shape, self.axes))
        elif self.axes is None and not self.keepdim:
            g = ns.reshape(g, (1,) * len(self.shape))
        if self.scale is not None:
            g = g * self.scale
        return (ns.expand(g, self.shape),)


def _keep_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _reduce_dtype(x, dtype):
    if dtype is not None:
        return cast(x, D.as_dtype(dtype))
    if x._data.dtype.kind in "bu" or x._data.dtype in (np.int32, np.int16, np.int8):
        return cast(x, D.int64)
    return x


@tensor_method
def sum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Sum over ``dim`` (an int, a tuple, or all); integer inputs sum in int64 like torch."""
    if out is not None:
        return _out.into(out, "sum", sum, input, dim, keepdim, dtype=dtype)
    if not isinstance(input, Tensor):
        return builtins.sum(input) if dim is None else builtins.sum(input, dim)
    input = _reduce_dtype(input, dtype)
    axes = _dims(dim, input.ndim, "sum")
    if axes == () and isinstance(dim, (tuple, list)):
        axes = None
    node = Sum(axes, keepdim)
    out = node(input)
    if dim is not None and out.grad_fn is not None:
        node._grad_name = "SumBackward1"
    return out


def ns_sum(x, axis=None, keepdims=False):
    return sum(x, axis, keepdims)


def ns_sum_to(g, shape):
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    nd = g.ndim - len(shape)
    axes = tuple(range(nd)) + tuple(i + nd for i, s in enumerate(shape) if s == 1 and g.shape[i + nd] != 1)
    out = sum(g, axes, keepdim=True) if axes else g
    return reshape(out, shape) if nd else out


@tensor_method
def mean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Mean over ``dim``; needs a floating tensor (or a dtype=)."""
    if out is not None:
        return _out.into(out, "mean", mean, input, dim, keepdim, dtype=dtype)
    if dtype is not None:
        input = cast(input, D.as_dtype(dtype))
    if input._data.dtype.kind not in "fc":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be floating point, got {input.dtype}; "
            "use x.float().mean() or mean(dtype=ember.float32)"
        )
    axes = _rdims(dim, input.ndim, "mean")
    n = input._data.size if axes is None else int(np.prod([input.shape[a] for a in axes]))
    return (Mean if dim is None else MeanDim)(axes, keepdim, (1.0 / n) if n else math.nan)(input)


class Mean(Sum):
    name = "MeanBackward0"


class MeanDim(Sum):
    name = "MeanBackward1"


class Prod(Node):
    name = "ProdBackward0"
    saves = {0: (0,)}
    save_out = True
    complex_ok = True

    def __init__(self, axis, keepdim):
        self.axis, self.keepdim = axis, keepdim

    def forward(self, x):
        return np.prod(x, axis=self.axis, keepdims=self.keepdim, dtype=x.dtype if x.dtype.kind in "iu" else None)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        axes = None if self.axis is None else (self.axis,)
        if not self.keepdim:
            shp = _keep_shape(x.shape, axes) if axes else (1,) * len(x.shape)
            g = ns.reshape(g, shp)
            out = ns.reshape(out, shp)
        xv = ns.value(x)
        if not (xv == 0).any():
            return (g * ns.conj(out / x),)
        # with zeros: product of the others, computed directly (exclusive products)
        return (g * ns.conj(_prod_others(ns, x, self.axis)),)


def _prod_others(ns, x, axis):
    if axis is None:
        flat = ns.reshape(x, (-1,))
        res = _prod_others(ns, flat, 0)
        return ns.reshape(res, x.shape)
    n = x.shape[axis]
    parts = []
    for i in range(n):
        idx = [_pyslice(None)] * x.ndim
        keep = [j for j in range(n) if j != i]
        idx[axis] = keep
        sel = ns.index(x, tuple(idx))
        parts.append(ns.prod(sel, axis=axis, keepdims=True))
    if isinstance(x, Tensor):
        return cat(parts, axis)
    return np.concatenate(parts, axis=axis)


def ns_prod(x, axis=None, keepdims=False):
    return prod(x, axis, keepdims)


@tensor_method
def prod(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Product over one ``dim`` (or all elements)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, prod, input, dim, keepdim, dtype=dtype, out=out)
    if out is not None:
        return _out.into(out, "prod", prod, input, dim, keepdim, dtype=dtype)
    input = _reduce_dtype(input, dtype)
    axis = None if dim is None else _dim(dim, input.ndim, "prod")
    return Prod(axis, keepdim)(input)


class _ValuesIndices(tuple):
    """(values, indices) as returned by max/min/sort/topk with a dim."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]

    def __repr__(self):
        return f"(values={self[0]!r},\nindices={self[1]!r})"


class TakeAlong(Node):
    name = "GatherBackward0"
    saves = {}

    def __init__(self, idx, axis):
        self.idx, self.axis = idx, axis

    def forward(self, x):
        self.shape = x.shape
        return np.take_along_axis(x, self.idx, self.axis)

    def backward(self, ns, g, ins, out):
        return (ns.put_along_zeros(self.shape, self.idx, g, self.axis),)


class PutAlongZeros(Node):
    name = "PutAlongZerosBackward0"
    saves = {}

    def __init__(self, shape, idx, axis):
        self.shape, self.idx, self.axis = shape, idx, axis

    def forward(self, g):
        from ..autograd.functional_ns import _put_along_add

        z = np.zeros(self.shape, dtype=g.dtype)
        _put_along_add(z, self.idx, g, self.axis)
        return z

    def backward(self, ns, g, ins, out):
        return (ns.take_along(g, self.idx, self.axis),)


def ns_take_along(x, idx, axis):
    return TakeAlong(idx, axis)(x)


def ns_put_along_zeros(shape, idx, g, axis):
    return PutAlongZeros(shape, idx, axis)(g)


def _minmax_dim(x, dim, keepdim, argf, name):
    ax = _dim(dim, x.ndim, name)
    if x.shape[ax] == 0 if x.ndim else False:
        raise IndexError(f"{name}(): Expected reduction dim {ax} to have non-zero size (shape {tuple(x.shape)})")
    a = x._data if x.ndim else x._data.reshape(1)
    idx = argf(a, axis=ax if x.ndim else 0, keepdims=True)
    if x._data.dtype.kind == "f":
        # torch propagates NaN: the index of the first NaN wins
        nanmask = np.isnan(a)
        if nanmask.any():
            has = nanmask.any(axis=ax, keepdims=True)
            idx = np.where(has, np.argmax(nanmask, axis=ax, keepdims=True), idx)
    vals = (MaxDim if name == "max" else MinDim)(idx, ax if x.ndim else 0, keepdim)(x)
    if not keepdim:
        idx = np.squeeze(idx, ax) if x.ndim else idx.reshape(())
    return _ValuesIndices((vals, Tensor._wrap(idx.astype(np.int64))))


class MinMaxDim(Node):
    """The values of ``max(x, dim)`` / ``min(x, dim)``: x at ``idx`` (keepdim-shaped, found by the caller) along
    ``axis``; the gradient goes to those positions (torch's ``MaxBackward0`` / ``MinBackward0``)."""

    saves = {}

    def __init__(self, idx, axis, keepdim):
        self.idx, self.axis, self.keepdim = idx, axis, keepdim

    def forward(self, x):
        self.shape = x.shape
        v = np.take_along_axis(x if x.ndim else x.reshape(1), self.idx, self.axis)
        if not self.keepdim:
            v = v.reshape(self.shape[:self.axis] + self.shape[self.axis + 1:]) if x.ndim else v.reshape(())
        return v

    def backward(self, ns, g, ins, out):
        shape1 = self.shape or (1,)
        g = ns.reshape(g, tuple(self.idx.shape))
        gx = ns.put_along_zeros(shape1, self.idx, g, self.axis)
        return (ns.reshape(gx, ()) if not self.shape else gx,)


class MaxDim(MinMaxDim):
    name = "MaxBackward0"


class MinDim(MinMaxDim):
    name = "MinBackward0"


@tensor_method
def max(input, dim=None, keepdim=False, *, other=None, out=None):
    """Largest value; with ``dim`` returns ``(values, indices)``. ``max(a, b)`` (or ``other=b``) is ``maximum``."""
    if other is not None:
        dim = other
    if out is not None:
        return _out.into(out, "max", max, input, dim, keepdim)
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    if dim is None:
        return _extreme(input, None, False, True, "max")
    return _minmax_dim(input, dim, keepdim, np.argmax, "max")


@tensor_method
def min(input, dim=None, keepdim=False, *, other=None, out=None):
    """Smallest value; with ``dim`` returns ``(values, indices)``. ``min(a, b)`` (or ``other=b``) is ``minimum``."""
    if other is not None:
        dim = other
    if out is not None:
        return _out.into(out, "min", min, input, dim, keepdim)
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    if dim is None:
        return _extreme(input, None, False, False, "min")
    return _minmax_dim(input, dim, keepdim, np.argmin, "min")


class AMax(Node):
    name = "AmaxBackward0"
    saves = {0: (0,)}
    save_out = True
    nan_aware = False

    def __init__(self, axes, keepdim, is_max):
        self.axes, self.keepdim, self.is_max = axes, keepdim, is_max

    def forward(self, x):
        f = np.max if self.is_max else np.min
        return f(x, axis=self.axes, keepdims=self.keepdim)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        shp = _keep_shape(x.shape, self.axes) if self.axes is not None else (1,) * x.ndim
        if not self.keepdim:
            g = ns.reshape(g, shp)
            out = ns.reshape(out, shp)
        mask = ns.value(x) == ns.value(out)
        if self.nan_aware:  # max()/min() of all elements: a NaN result's gradient goes to the NaNs, as torch's
            xv, ov = (np.asarray(v._data if isinstance(v, Tensor) else v) for v in (ns.value(x), ns.value(out)))
            if ov.dtype.kind == "f" and np.isnan(ov).any():
                nanm = np.isnan(xv) & np.isnan(ov)
                mask = mask | (Tensor._wrap(nanm) if isinstance(mask, Tensor) else nanm)
        # evenly distribute among ties, like torch's amax/amin
        m = mask * 1.0
        cnt = m.sum(axis=self.axes, keepdims=True) if not isinstance(m, Tensor) else sum(m, self.axes, True)
        return (ns.where(mask, g / cnt, 0 * g),) if not isinstance(g, Tensor) else (g * (m / cnt),)


@tensor_method
def amax(input, dim=None, keepdim=False, *, out=None):
    """Maximum over ``dim`` (gradient shared evenly between ties)."""
    if out is not None:
        return _out.into(out, "amax", amax, input, dim, keepdim)
    return _extreme(input, dim, keepdim, True, "amax")


class _MaxAll(AMax):
    name = "MaxBackward1"  # torch's name for max() of all elements (amax's gradient: ties share it)
    nan_aware = True


class _MinAll(AMax):
    name = "MinBackward1"
    nan_aware = True


_EXTREME_NODES = {"amax": AMax, "amin": AMax, "max": _MaxAll, "min": _MinAll}


def _extreme(x, dim, keepdim, is_max, op):
    axes = _rdims(dim, x.ndim, op)
    if x._data.size == 0 and (axes is None or builtins.any(x.shape[a] == 0 for a in axes)):
        raise RuntimeError(f"{op}(): cannot reduce over an empty dimension (shape {tuple(x.shape)})")
    return _EXTREME_NODES[op](axes, keepdim, is_max)(x)


@tensor_method
def amin(input, dim=None, keepdim=False, *, out=None):
    """Minimum over ``dim``."""
    if out is not None:
        return _out.into(out, "amin", amin, input, dim, keepdim)
    return _extreme(input, dim, keepdim, False, "amin")


@tensor_method
def argmax(input, dim=None, keepdim=False, *, out=None):
    """Index of the largest value (flattened when ``dim`` is None)."""
    if out is not None:
        return _out.into(out, "argmax", argmax, input, dim, keepdim)
    if dim is None:
        return Tensor._wrap(np.asarray(np.argmax(input._data.reshape(-1)), dtype=np.int64))
    return max(input, dim, keepdim)[1]


@tensor_method
def argmin(input, dim=None, keepdim=False, *, out=None):
    if out is not None:
        return _out.into(out, "argmin", argmin, input, dim, keepdim)
    if dim is None:
        return Tensor._wrap(np.asarray(np.argmin(input._data.reshape(-1)), dtype=np.int64))
    return min(input, dim, keepdim)[1]


@tensor_method
def var(input, dim=None, unbiased=True, keepdim=False, *, correction=None, out=None):
    """Variance; ``correction`` (or ``unbiased``) as torch (default: Bessel's correction 1)."""
    if out is not None:
        return _out.into(out, "var", var, input, dim, unbiased, keepdim, correction=correction)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if input._data.dtype.kind == "c":  # torch: the mean squared modulus of the deviations, a real tensor
        axes = _rdims(dim, input.ndim, "var")
        n = input._data.size if axes is None else int(np.prod([input.shape[a] for a in axes]))
        d = input - mean(input, axes, keepdim=True)
        from .complex_ops import imag, real

        dr, di = real(d), imag(d)
        s = sum(dr * dr + di * di, axes, keepdim)
        denom = n - correction
        return s / denom if denom > 0 else s / 0.0
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"var(): input dtype must be floating point, got {input.dtype}")
    if input._data.dtype == np.float16:  # accumulate in float32 and return float16, as torch does
        return cast(var(cast(input, D.float32), dim, unbiased, keepdim, correction=correction), D.float16)
    axes = _rdims(dim, input.ndim, "var")
    n = input._data.size if axes is None else int(np.prod([input.shape[a] for a in axes]))
    mu = mean(input, axes, keepdim=True)
    d = input - mu
    s = sum(d * d, axes, keepdim)
    denom = n - correction
    return s / denom if denom > 0 else s / 0.0  # torch: max(0, n - correction), so s / 0 (inf, or nan for s = 0)


@tensor_method
def std(input, dim=None, unbiased=True, keepdim=False, *, correction=None, out=None):
    """Standard deviation (sqrt of ``var``)."""
    if out is not None:
        return _out.into(out, "std", std, input, dim, unbiased, keepdim, correction=correction)
    # like torch, the gradient is 0 (not nan) where the values are constant (std == 0)
    return _safe_sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def var_mean(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


@tensor_method
def logsumexp(input, dim, keepdim=False, *, out=None):
    """log(sum(exp(x))) over ``dim``, computed stably (finite for logits of +-1e4)."""
    if out is not None:
        return _out.into(out, "logsumexp", logsumexp, input, dim, keepdim)
    axes = _rdims(dim, input.ndim, "logsumexp")
    if input._data.dtype.kind == "c":  # torch: log(sum(exp(z))), shifted by the largest real part
        from .complex_ops import real

        m = amax(real(input), axes, keepdim=True).detach()
        m = where(isfinite(m), m, zeros_like(m))
        s = log(sum(exp(input - m), axes, keepdim=True)) + m
        return s if keepdim else squeeze(s, axes)
    if input._data.dtype.kind != "f":
        input = cast(input, D.get_default_dtype())
    m = amax(input, axes, keepdim=True).detach()
    m = where(isfinite(m), m, zeros_like(m))
    s = log(sum(exp(input - m), axes, keepdim=True)) + m
    return s if keepdim else squeeze(s, axes)


@tensor_method
def norm(input, p='fro', dim=None, keepdim=False, dtype=None, *, out=None):
    """Vector p-norm over ``dim`` (all elements by default); 'fro' is the 2-norm."""
    if out is not None:
        return _out.into(out, "norm", norm, input, p, dim, keepdim, dtype)
    if dtype is not None:
        input = cast(input, D.as_dtype(dtype))
    if input._data.dtype.kind == "c":  # torch: the norm of the moduli (a real tensor)
        if p in ("fro", 2, 2.0):  # sqrt(sum |z|^2), gradient z / norm (0 at a zero norm)
            from .complex_ops import imag, real

            zr, zi = real(input), imag(input)
            return _safe_sqrt(sum(zr * zr + zi * zi, dim, keepdim))
        return norm(abs(input), p, dim, keepdim)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"norm(): input dtype must be floating point, got {input.dtype}")
    if input._data.dtype == np.float16:
        return cast(norm(cast(input, D.float32), p, dim, keepdim), D.float16)
    if p in ("fro", 2, 2.0):
        s = sum(input * input, dim, keepdim)
        return _safe_sqrt(s)
    if p in (math.inf, float("inf"), "inf"):
        return amax(abs(input), dim, keepdim)
    if p in (-math.inf, float("-inf")):
        return amin(abs(input), dim, keepdim)
    if p == 1:
        return sum(abs(input), dim, keepdim)
    if p == 0:
        return sum(cast(input != 0, input.dtype), dim, keepdim)
    return pow(sum(pow(abs(input), p), dim, keepdim), 1.0 / p)


class _SafeSqrt(Node):
    """sqrt whose gradient at 0 is 0 (torch's norm subgradient)."""

    name = "SqrtBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, ns, g, ins, out):
        ov = ns.value(out)
        safe = ns.where(ov == 0, 1 + 0 * out, out)
        return (ns.where(ov == 0, 0 * g, g / (2 * safe)),)


def _safe_sqrt(x):
    return _SafeSqrt()(x)


class Cumsum(Node):
    name = "CumsumBackward0"
    saves = {}
    complex_ok = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        r = np.cumsum(x, axis=self.axis, dtype=x.dtype if x.dtype.kind in "iu" else None)
        if r.dtype.kind == "f":
            r += 0.0  # torch accumulates from +0.0: a leading -0.0 gives 0.0 (NumPy's starts at x[0] itself)
        return r

    def backward(self, ns, g, ins, out):
        return (ns.flip(ns.cumsum(ns.flip(g, (self.axis,)), self.axis), (self.axis,)),)


@tensor_method(inplace=True)
def cumsum(input, dim, *, dtype=None, out=None):
    """Cumulative sum along ``dim``."""
    if out is not None:
        return _out.into(out, "cumsum", cumsum, input, dim, dtype=dtype)
    input = _reduce_dtype(input, dtype)
    ax = _dim(dim, input.ndim, "cumsum")
    if input.ndim == 0:
        return input * 1
    return Cumsum(ax)(input)


def ns_cumsum(x, axis):
    return Cumsum(axis)(x)


@tensor_method(inplace=True)
def cumprod(input, dim, *, dtype=None, out=None):
    if out is not None:
        return _out.into(out, "cumprod", cumprod, input, dim, dtype=dtype)
    input = _reduce_dtype(input, dtype)  # int32/bool accumulate in int64, as torch
    ax = _dim(dim, input.ndim, "cumprod")
    if input.ndim == 0 or input.shape[ax] == 0:
        return input * 1
    parts = []
    acc = None
    for xi in unbind(input, ax):
        acc = xi if acc is None else acc * xi
        parts.append(acc)
    return stack(parts, ax)


@tensor_method
def all(input, dim=None, keepdim=False, *, out=None):
    """True where every element (over ``dim``) is nonzero."""
    if out is not None:
        return _out.into(out, "all", all, input, dim, keepdim)
    axes = _dims(dim, input.ndim, "all")
    return Tensor._wrap(np.all(input._data, axis=axes, keepdims=keepdim))


@tensor_method
def any(input, dim=None, keepdim=False, *, out=None):
    """True where some element (over ``dim``) is nonzero."""
    if out is not None:
        return _out.into(out, "any", any, input, dim, keepdim)
    axes = _dims(dim, input.ndim, "any")
    return Tensor._wrap(np.any(input._data, axis=axes, keepdims=keepdim))


@tensor_method
def count_nonzero(input, dim=None, *args):
    """The number of non-zero values (over ``dim``: an int, a tuple, or several ints as in ``x.count_nonzero(0, 1)``)."""
    if args:
        dim = (dim,) + args
    axes = _rdims(dim, input.ndim, "count_nonzero")
    return Tensor._wrap(np.asarray(np.count_nonzero(input._data, axis=axes), dtype=np.int64))


@tensor_method
def logcumsumexp(input, dim, *, out=None):
    """log(cumsum(exp(x))) along ``dim``, shifted by the maximum for stability."""
    if out is not None:
        return _out.into(out, "logcumsumexp", logcumsumexp, input, dim)
    ax = _dim(dim, input.ndim, "logcumsumexp")
    m = np.max(input._data, axis=ax, keepdims=True) if input.ndim else input._data
    m = np.where(np.isfinite(m), m, 0)
    mt = Tensor._wrap(m.astype(input._data.dtype))
    return log(cumsum(exp(input - mt), ax)) + mt


@tensor_method
def nansum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Sum treating NaN as zero."""
    if out is not None:
        return _out.into(out, "nansum", nansum, input, dim, keepdim, dtype=dtype)
    nanm = np.isnan(input._data)
    xx = where(Tensor._wrap(nanm), zeros_like(input), input) if nanm.any() else input
    return sum(xx, dim, keepdim, dtype=dtype)


@tensor_method
def nanmean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Mean over the non-NaN elements."""
    if out is not None:
        return _out.into(out, "nanmean", nanmean, input, dim, keepdim, dtype=dtype)
    cnt = (~np.isnan(input._data)).sum(axis=_rdims(dim, input.ndim, "nanmean"), keepdims=keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / Tensor._wrap(np.asarray(cnt, dtype=input._data.dtype))


def _cum_extreme(x, dim, is_max, name):
    ax = _dim(dim, x.ndim, name)
    if x.ndim == 0:
        return _ValuesIndices((x * 1, Tensor._wrap(np.zeros((), np.int64))))
    a = x._data
    run = (np.maximum if is_max else np.minimum).accumulate(a, axis=ax)
    shape = [1] * a.ndim
    shape[ax] = a.shape[ax]
    pos = np.arange(a.shape[ax]).reshape(shape)
    # a new running extreme (ties move the index forward, like torch); NaN stays once seen
    rec = (a == run) | np.isnan(a)
    idx = np.maximum.accumulate(np.where(rec, pos, 0), axis=ax)
    if np.isnan(a).any():
        first_nan = np.where(np.isnan(a), pos, a.shape[ax])
        first_nan = np.minimum.accumulate(first_nan, axis=ax)
        idx = np.where(first_nan < a.shape[ax], np.maximum.accumulate(np.where(np.isnan(a), pos, 0), axis=ax), idx)
    return _ValuesIndices((TakeAlong(idx, ax)(x), Tensor._wrap(idx.astype(np.int64))))


@tensor_method
def cummax(input, dim, *, out=None):
    """Running maximum along ``dim``: ``(values, indices)``."""
    if out is not None:
        return _out.into(out, "cummax", cummax, input, dim)
    return _cum_extreme(input, dim, True, "cummax")


@tensor_method
def cummin(input, dim, *, out=None):
    """Running minimum along ``dim``: ``(values, indices)``."""
    if out is not None:
        return _out.into(out, "cummin", cummin, input, dim)
    return _cum_extreme(input, dim, False, "cummin")


@tensor_method
def aminmax(input, *, dim=None, keepdim=False, out=None):
    """``(min, max)`` over ``dim`` (all elements by default)."""
    if out is not None:
        return _out.into(out, "aminmax", aminmax, input, dim=dim, keepdim=keepdim)
    return _MinMax((amin(input, dim, keepdim), amax(input, dim, keepdim)))


class _MinMax(tuple):
    @property
    def min(self):
        return self[0]

    @property
    def max(self):
        return self[1]


@tensor_method
def diff(input, n=1, dim=-1, prepend=None, append=None, *, out=None):
    """n-th forward difference along ``dim``."""
    if out is not None:
        return _out.into(out, "diff", diff, input, n, dim, prepend, append)
    ax = _dim(dim, input.ndim, "diff")
    if prepend is not None or append is not None:
        parts = [p for p in (prepend, input, append) if p is not None]
        input = cat([p if isinstance(p, Tensor) else tensor(p, dtype=input.dtype) for p in parts], ax)
    for _ in range(n):
        L = input.shape[ax]
        if L == 0:
            break
        nxt, prev = narrow(input, ax, 1, L - 1), narrow(input, ax, 0, L - 1)
        input = logical_xor(nxt, prev) if input._data.dtype == np.bool_ else nxt - prev
    return input


@tensor_method
def nanmedian(input, dim=None, keepdim=False, *, out=None):  # noqa: A002
    """Median ignoring NaNs (the lower of the two middle values, as torch); with ``dim``, (values, indices)."""
    if out is not None:
        return _out.into(out, "nanmedian", nanmedian, input, dim, keepdim)
    _check_tensor(input, "nanmedian")
    x = input
    if dim is None:
        flat = x.reshape(-1)
        keep = ~np.isnan(flat._data)
        if not keep.any():  # all NaN: NaN, its gradient shared by the NaNs as torch's (not a constant)
            return median(x) if flat.shape[0] else tensor(np.nan, dtype=x.dtype)
        vals = flat[Tensor._wrap(np.flatnonzero(keep))]
        return median(vals)
    ax = _dim(dim, x.ndim, "nanmedian")
    if x.ndim == 0:
        return _values_indices_nt(x * 1, tensor(0))
    d = np.moveaxis(x._data, ax, -1)
    n_valid = (~np.isnan(d)).sum(-1)
    order = np.argsort(np.where(np.isnan(d), np.inf, d), axis=-1, kind="stable")
    k = np.maximum((n_valid - 1) // 2, 0)
    idx = np.take_along_axis(order, k[..., None], -1)
    idx = np.where((n_valid == 0)[..., None], 0, idx)
    idx_t = Tensor._wrap(np.moveaxis(idx, -1, ax))
    vals = gather(x, ax, idx_t)
    allnan = np.moveaxis((n_valid == 0)[..., None], -1, ax)
    if allnan.any():
        vals = where(Tensor._wrap(allnan), Tensor._wrap(np.full((), np.nan, x._data.dtype)), vals)
    if not keepdim:
        vals, idx_t = squeeze(vals, ax), squeeze(idx_t, ax)
    return _values_indices_nt(vals, idx_t)


def _values_indices_nt(values, indices):
    from collections import namedtuple

    global _VI
    if "_VI" not in globals():
        _VI = namedtuple("torch_return_type", ["values", "indices"])
    return _VI(values, indices)


@tensor_method
def mode(input, dim=-1, keepdim=False, *, out=None):  # noqa: A002
    """The most frequent value along ``dim`` (smallest on ties) and an index where it occurs."""
    if out is not None:
        return _out.into(out, "mode", mode, input, dim, keepdim)
    _check_tensor(input, "mode")
    x = input
    if x.ndim == 0:
        return _values_indices_nt(x.clone() if x.requires_grad else x, tensor(0))
    ax = _dim(dim, x.ndim, "mode")
    d = np.moveaxis(x._data, ax, -1)
    flat = d.reshape(-1, d.shape[-1])
    idx = np.empty(flat.shape[0], dtype=np.int64)
    for r in range(flat.shape[0]):
        row = flat[r]
        u, inv, cnt = np.unique(row, return_inverse=True, return_counts=True)
        best = int(np.argmax(cnt))  # first (smallest) value among the most frequent
        idx[r] = int(np.flatnonzero(inv.reshape(-1) == best)[-1])  # torch reports the last occurrence
    idx = idx.reshape(d.shape[:-1])
    idx_t = Tensor._wrap(np.moveaxis(idx[..., None], -1, ax))
    vals = gather(x, ax, idx_t)
    if not keepdim:
        vals, idx_t = squeeze(vals, ax), squeeze(idx_t, ax)
    return _values_indices_nt(vals, idx_t)


@tensor_method
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation='linear', out=None):  # noqa: A002
    """``quantile`` leaving NaNs out (an all-NaN slice gives NaN); differentiable as ``quantile``."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, nanquantile, input, q, dim, keepdim, interpolation=interpolation, out=out)
    if out is not None:
        return _out.into(out, "nanquantile", nanquantile, input, q, dim, keepdim, interpolation=interpolation)
    _check_tensor(input, "nanquantile")
    if interpolation not in ("linear", "lower", "higher", "nearest", "midpoint"):
        raise RuntimeError(f"nanquantile() interpolation must be one of linear, lower, higher, midpoint or "
                           f"nearest. Got {interpolation!r}")
    return _quantile(input, q, dim, keepdim, interpolation, "nanquantile", skip_nan=True)


@tensor_method
def histc(input, bins=100, min=0, max=0, *, out=None):  # noqa: A002
    """Histogram of ``bins`` equal bins over [min, max] (the data's range when both are 0)."""
    if out is not None:
        return _out.into(out, "histc", histc, input, bins, min, max)
    _check_tensor(input, "histc")
    d = input._data
    lo, hi = float(min), float(max)
    if lo == hi and d.size:
        lo, hi = float(d.min()), float(d.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"torch.histc: max must be larger than min, got min={min} max={max}")
    h, _ = np.histogram(d[(d >= lo) & (d <= hi)], bins=bins, range=(lo, hi))
    return Tensor._wrap(h.astype(d.dtype))


@tensor_method
def histogram(input, bins=100, *, range=None, weight=None, density=False, out=None):  # noqa: A002
    """(hist, bin_edges) as ``numpy.histogram`` (float results, torch's layout)."""
    if out is not None:
        return _out.into(out, "histogram", histogram, input, bins, range=range, weight=weight, density=density)
    _check_tensor(input, "histogram")
    d = input._data
    b = bins._data if isinstance(bins, Tensor) else bins
    w = weight._data if isinstance(weight, Tensor) else weight
    h, edges = np.histogram(d, bins=b, range=range, weights=w, density=density)
    from collections import namedtuple

    rt = namedtuple("histogram", ["hist", "bin_edges"])
    return rt(Tensor._wrap(h.astype(d.dtype)), Tensor._wrap(edges.astype(d.dtype)))


def histogramdd(input, bins, range=None, weight=None, density=False):  # noqa: A002
    """(hist, bin_edges) of the points in the rows of ``input`` (last dim N: N-dimensional points; leading dims
    flattened), as ``torch.histogramdd``: ``bins`` is an int, N ints or N 1-D tensors of increasing edges;
    ``range`` is ``[min_0, max_0, ..., min_{N-1}, max_{N-1}]`` (default: the data's range per dim)."""
    from collections import namedtuple

    op = "histogramdd"
    _check_tensor(input, op)
    d = input._data
    if d.ndim < 2:
        raise RuntimeError(f"{op}: input must have at least 2 dimensions (points in the last one), got shape "
                           f"{tuple(d.shape)}")
    if d.dtype.kind != "f":
        raise RuntimeError(f"{op}: input must be a floating-point tensor, got {input.dtype}; use input.float()")
    nd = d.shape[-1]
    pts = d.reshape(-1, nd)
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        b = [int(bins)] * nd
    else:
        b = [x._data.astype(d.dtype) if isinstance(x, Tensor) else x for x in bins]
        if len(b) != nd:
            raise RuntimeError(f"{op}: expected {nd} sequences of bin edges or bin counts (one per dimension of the "
                               f"points, input.shape[-1]), got {len(b)}")
    for x in b:
        if isinstance(x, (int, np.integer)) and x < 1:
            raise RuntimeError(f"{op}: bins must be positive, got {list(bins) if not isinstance(bins, int) else bins}")
    rng = None
    if range is not None:
        r = [float(v) for v in range]
        if len(r) != 2 * nd:
            raise RuntimeError(f"{op}: range should have {2 * nd} elements ([min, max] per dimension), got {len(r)}")
        rng = [(r[2 * i], r[2 * i + 1]) for i in builtins.range(nd)]
        for lo, hi in rng:
            if lo > hi:
                raise RuntimeError(f"{op}: range min {lo} is larger than max {hi}")
    w = None
    if weight is not None:
        w = weight._data.reshape(-1) if isinstance(weight, Tensor) else np.asarray(weight).reshape(-1)
        if w.size != pts.shape[0]:
            raise RuntimeError(f"{op}: weight should have the same shape as input excluding its innermost dimension "
                               f"({tuple(d.shape[:-1])}), got {tuple(np.shape(weight._data if isinstance(weight, Tensor) else weight))}")
    edges = []
    for i, x in enumerate(b):
        if isinstance(x, np.ndarray):
            edges.append(x.astype(np.float64))
            continue
        lo, hi = rng[i] if rng is not None else ((float(pts[:, i].min()), float(pts[:, i].max())) if len(pts)
                                                  else (0.0, 0.0))
        if lo == hi:  # torch widens an empty range as numpy does
            lo, hi = lo - 0.5, hi + 0.5
        edges.append(np.linspace(lo, hi, x + 1, dtype=d.dtype).astype(np.float64))
    h, _ = np.histogramdd(pts.astype(np.float64), bins=edges, weights=w, density=density)
    rt = namedtuple("histogramdd", ["hist", "bin_edges"])
    return rt(Tensor._wrap(h.astype(d.dtype)), tuple(Tensor._wrap(e.astype(d.dtype)) for e in edges))


@tensor_method
def dist(input, other, p=2):  # noqa: A002
    """The p-norm of ``input - other`` (differentiable)."""
    return norm(input - other, p)


@tensor_method
def cov(input, *, correction=1, fweights=None, aweights=None):  # noqa: A002
    """Covariance of the rows (variables) over the columns (observations), differentiable."""
    x = input if input.ndim == 2 else input.reshape(1, -1)
    if x._data.dtype.kind in "biu":  # torch: integer observations give a default-float covariance
        x = cast(x, D.get_default_dtype())
    if fweights is not None or aweights is not None:
        w = None
        if fweights is not None:
            w = fweights.to(x.dtype)
        if aweights is not None:
            w = aweights.to(x.dtype) if w is None else w * aweights.to(x.dtype)
        wsum = w.sum()
        avg = (x * w).sum(1, keepdim=True) / wsum
        if aweights is None:
            norm = wsum - correction
        else:
            norm = wsum - correction * (w * aweights.to(x.dtype)).sum() / wsum
        xm = x - avg
        c = matmul(xm * w, xm.t()) / norm
    else:
        n = x.shape[1]
        xm = x - x.mean(1, keepdim=True)
        c = matmul(xm, xm.t()) / (n - correction)
    return c.reshape(()) if input.ndim < 2 else c


@tensor_method
def corrcoef(input):  # noqa: A002
    """Pearson correlation coefficients of the rows (differentiable)."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = sqrt(diagonal(c))
    c = c / d.reshape(-1, 1) / d.reshape(1, -1)
    return clamp(c, -1, 1)


def trapezoid(y, x=None, *, dx=1, dim=-1):
    """Trapezoidal rule along ``dim`` (spacing ``dx`` or sample points ``x``), differentiable."""
    ax = _dim(dim, y.ndim, "trapezoid")
    n = y.shape[ax]
    if n == 0:
        return sum(y, ax)
    lo = narrow(y, ax, 0, n - 1)
    hi = narrow(y, ax, 1, n - 1)
    if x is not None:
        xt = x if isinstance(x, Tensor) else tensor(x, dtype=y.dtype)
        if xt.ndim == 1:
            shape = [1] * y.ndim
            shape[ax] = n - 1
            dxs = diff(xt).reshape(shape)
        else:
            dxs = diff(xt, dim=ax)
        return sum((lo + hi) * dxs, ax) / 2
    return sum(lo + hi, ax) * ((1.0 if dx is None else dx) / 2)


def trapz(y, x=None, *, dx=1, dim=-1):
    """Alias of ``trapezoid``."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=1, dim=-1):
    """Cumulative trapezoidal rule along ``dim`` (one element shorter), differentiable."""
    ax = _dim(dim, y.ndim, "cumulative_trapezoid")
    n = y.shape[ax]
    lo = narrow(y, ax, 0, builtins.max(n - 1, 0))
    hi = narrow(y, ax, 1, builtins.max(n - 1, 0))
    if x is not None:
        xt = x if isinstance(x, Tensor) else tensor(x, dtype=y.dtype)
        if xt.ndim == 1:
            shape = [1] * y.ndim
            shape[ax] = n - 1
            dxs = diff(xt).reshape(shape)
        else:
            dxs = diff(xt, dim=ax)
        return cumsum((lo + hi) * dxs / 2, ax)
    return cumsum((lo + hi) * ((1.0 if dx is None else dx) / 2), ax)


@tensor_method(inplace=True)
def renorm(input, p, dim, maxnorm, *, out=None):  # noqa: A002
    """Each slice along ``dim`` rescaled so its p-norm is at most ``maxnorm`` (differentiable)."""
    if out is not None:
        return _out.into(out, "renorm", renorm, input, p, dim, maxnorm)
    ax = _dim(dim, input.ndim, "renorm")
    others = tuple(i for i in range(input.ndim) if i != ax)
    norms = norm(input, p, dim=others, keepdim=True)
    over = Tensor._wrap(norms._data > maxnorm)
    return input * where(over, maxnorm / (norms + 1e-7), ones_like(norms))


@tensor_method
def sum_to_size(input, *args, size=None):  # noqa: A002
    """Sum ``input`` down to ``size`` (the reverse of broadcasting), differentiable."""
    size = args if size is None else (size,)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    nd = input.ndim - len(size)
    if nd < 0 or builtins.any(s != 1 and s != input.shape[nd + i] for i, s in enumerate(size)):
        raise RuntimeError(f"size {{{', '.join(map(str, size))}}} is not expandable to size "
                           f"{{{', '.join(map(str, input.shape))}}}.")
    out = input
    if nd:
        out = sum(out, tuple(builtins.range(nd)))
    axes = tuple(i for i, s in enumerate(size) if s == 1 and out.shape[i] != 1)
    if axes:
        out = sum(out, axes, keepdim=True)
    return out


def gradient(input, *, spacing=None, dim=None, edge_order=1):  # noqa: A002
    """Central-difference estimate of the derivative along each of ``dim`` (all dims when None), as
    ``numpy.gradient`` / ``torch.gradient``: a tuple with one tensor per dimension. ``spacing`` is one
    number (the step everywhere), one number per dimension, or one coordinate tensor per dimension;
    ``edge_order`` (1 or 2) is the accuracy of the one-sided differences at the ends. Differentiable in
    ``input`` (coordinates are constants)."""
    if edge_order not in (1, 2):
        raise ValueError(f"torch.gradient only supports edge_order=1 and edge_order=2, got {edge_order}")
    nd = input.ndim
    dims = list(range(nd)) if dim is None else ([dim] if isinstance(dim, int) else list(dim))
    dims = [_dim(d, nd) for d in dims]
    if spacing is None:
        spacing = 1.0
    if isinstance(spacing, (int, float)) or (isinstance(spacing, Tensor) and spacing.ndim == 0):
        spacing = [float(spacing)] * len(dims)
    spacing = list(spacing)
    if len(spacing) != len(dims) and dim is None:
        raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar, or a list of length equal "
                           f"to 'self.dim() = {nd}', since dim argument was not given, but got a list of length "
                           f"{len(spacing)}")
    if len(spacing) != len(dims):
        raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim "
                           f"arguments to have the same length, but got a spacing argument of length "
                           f"{len(spacing)} and a dim argument of length {len(dims)}.")
    outs = []
    for d, sp in zip(dims, spacing):
        n = input.shape[d]
        if n < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least edge_order+1")
        if isinstance(sp, Tensor) and sp.ndim == 1:
            if sp.shape[0] != n:
                raise RuntimeError(f"torch.gradient expected each tensor to be on the same device and the "
                                   f"coordinates along dim {d} to have {n} values, got {sp.shape[0]}")
            dx = np.diff(np.asarray(sp.detach().__array__(), dtype=np.float64))
        else:
            dx = np.full(n - 1, float(sp))
        outs.append(_gradient_1d(input, d, dx, edge_order))
    return tuple(outs)


def _gradient_1d(f, d, dx, edge_order):
    nd = f.ndim

    def coef(v):  # a per-position coefficient broadcast along dim d
        shape = [1] * nd
        shape[d] = -1
        return tensor(np.asarray(v, dtype=np.float64).reshape(shape), dtype=f.dtype)

    def sl(start, stop):
        return f.narrow(d, start, stop - start)

    n = f.shape[d]
    parts = []
    if edge_order == 1 or n < 3:
        parts.append((sl(1, 2) - sl(0, 1)) / coef(dx[:1]))
    else:
        d1, d2 = dx[0], dx[1]
        a = -(2 * d1 + d2) / (d1 * (d1 + d2))
        b = (d1 + d2) / (d1 * d2)
        c = -d1 / (d2 * (d1 + d2))
        parts.append(sl(0, 1) * coef([a]) + sl(1, 2) * coef([b]) + sl(2, 3) * coef([c]))
    if n > 2:
        hd, hs = dx[:-1], dx[1:]
        a = -hs / (hd * (hd + hs))
        b = (hs - hd) / (hd * hs)
        c = hd / (hs * (hd + hs))
        parts.append(sl(0, n - 2) * coef(a) + sl(1, n - 1) * coef(b) + sl(2, n) * coef(c))
    if edge_order == 1 or n < 3:
        parts.append((sl(n - 1, n) - sl(n - 2, n - 1)) / coef(dx[-1:]))
    else:
        d1, d2 = dx[-2], dx[-1]
        a = d2 / (d1 * (d1 + d2))
        b = -(d2 + d1) / (d1 * d2)
        c = (2 * d2 + d1) / (d2 * (d1 + d2))
        parts.append(sl(n - 3, n - 2) * coef([a]) + sl(n - 2, n - 1) * coef([b]) + sl(n - 1, n) * coef([c]))
    from .shape import cat

    return cat(parts, d)


__all__ = _public(globals())

# Ops of later families, used at call time only. They are imported here, at the end, and every family in
# between is imported first, so the family modules always load in the order of ember/_ops/__init__.py.
from .shape import cat, diagonal, narrow, reshape, squeeze, stack, unbind  # noqa: E402
from .index import gather  # noqa: E402
from . import inplace_ops  # noqa: E402,F401  (keeps the modules loading in order)
from .linalg import matmul  # noqa: E402
from .sorting import _quantile, median  # noqa: E402
from .. import _out  # noqa: E402


"""The two namespaces that backward formulas are written against.

``ARRAY_NS`` works on raw arrays (first-order backward: no tensors, no recording);
``TENSOR_NS`` works on tensors through ember's differentiable ops (``create_graph=True``).
Both expose the same functions with the same signatures.
"""
from __future__ import annotations

import math

import numpy as np


def _sum_to_array(g, shape):
    if g.shape == tuple(shape):
        return g
    nd = g.ndim - len(shape)
    if nd < 0:
        return np.broadcast_to(g, shape)
    axes = tuple(range(nd)) + tuple(i + nd for i, s in enumerate(shape) if s == 1 and g.shape[i + nd] != 1)
    out = g.sum(axis=axes, keepdims=True) if axes else g
    if nd:
        out = out.reshape(tuple(shape))
    return out


# erf(x) ~= tanh(x P(x^2)) in float32, P of degree 6 fitted (weighted minimax, in float64) to atanh(erf(x)) / x on
# [0, 4]: max abs error 1.4e-7 against the exact erf over all floats (Eigen's/XLA's rational form: 4e-7), in 15
# array passes instead of 25. Past |x| ~ 3.9, x P(x^2) > 9.1 so tanh rounds to +-1 exactly as erf does in float32;
# huge |x| overflow to +-inf on the way, still +-1. Near 0, tanh(1.1284 x) keeps the relative accuracy.
_C32 = tuple(np.float32(c) for c in (
    1.1283797054979434, 0.10276548116264576, -0.00018438294984765577, -0.0006257202751127486,
    8.971287300884508e-05, -5.985740663190356e-06, 1.5896325816144792e-07))

BLOCK = 32768  # elements per block of the blocked elementwise kernels (128 KiB: fits L2 with a few temporaries)


def _blocks(kernel, out, *arrays):
    """Run ``kernel(*blocks, out_block)`` over flat contiguous arrays in cache-sized blocks: a multi-pass
    formula then reads and writes its temporaries in cache instead of main memory."""
    n = out.size
    fo = out.reshape(-1)
    flats = [a.reshape(-1) for a in arrays]
    if n <= BLOCK:
        kernel(*flats, fo)
        return out
    for i in range(0, n, BLOCK):
        j = i + BLOCK
        kernel(*[f[i:j] for f in flats], fo[i:j])
    return out


def _erf32(x, out):
    """float32 erf of a flat block ``x`` into ``out`` (see ``_C32``)."""
    c = _C32
    with np.errstate(over="ignore"):
        v = x * x
        np.multiply(v, c[6], out=out)
        out += c[5]
        for k in (4, 3, 2, 1, 0):
            out *= v
            out += c[k]
        out *= x
    np.tanh(out, out=out)
    return out


_math_erf = np.vectorize(math.erf, otypes=[np.float64])


def erf_array(x):
    """erf for NumPy arrays: exact (math.erf) in float64; float32 (and float16 through float32) by a
    blocked kernel, tanh(x P(x^2)), accurate to 1.4e-7."""
    if x.dtype == np.float64 or x.dtype.kind != "f":
        return _math_erf(x).astype(x.dtype, copy=False) if x.size else np.zeros(x.shape, x.dtype)
    dt = x.dtype
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    out = _blocks(_erf32, np.empty(x.shape, np.float32), x32)  # x.shape: ascontiguousarray makes 0-d 1-d
    return out if dt == np.float32 else out.astype(dt)


def add_at(z, idx, g):
    """``np.add.at(z, idx, g)`` (duplicates accumulate), with a fast path for the common case of one
    integer array indexing the first axis (embedding and row-gather backward): sort the indices and
    sum each run with ``np.add.reduceat`` instead of NumPy's slow unbuffered loop."""
    a = idx[0] if isinstance(idx, tuple) and len(idx) == 1 else idx
    if isinstance(a, np.ndarray) and a.dtype.kind in "iu" and a.size > 16 and z.ndim >= 1:
        flat = a.reshape(-1)
        if flat.dtype.kind == "i" and flat.min() < 0:
            flat = np.where(flat < 0, flat + z.shape[0], flat)
        rows = g.reshape((flat.size,) + z.shape[1:])
        order = np.argsort(flat, kind="stable")
        s = flat[order]
        starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
        z[s[starts]] += np.add.reduceat(rows[order], starts, axis=0)
        return
    np.add.at(z, idx, g)


_F16 = np.dtype(np.float16)


def matmul(a, b):
    """``np.matmul``, except that float16 operands are multiplied in float32 and the product rounded once to
    float16, as torch's CPU half-precision GEMM accumulates (NumPy's own float16 loops are ~100x slower)."""
    if a.dtype is _F16 and b.dtype is _F16:
        return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(_F16)
    return np.matmul(a, b)


class _ArrayNS:
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    sqrt = staticmethod(np.sqrt)
    sign = staticmethod(np.sign)
    abs = staticmethod(np.abs)
    tanh = staticmethod(np.tanh)
    erf = staticmethod(erf_array)
    sgn = staticmethod(np.sign)  # z / |z| for complex (NumPy >= 2)
    real = staticmethod(np.real)
    imag = staticmethod(np.imag)

    @staticmethod
    def sum_to(g, shape):
        return _sum_to_array(g, shape)

    @staticmethod
    def cast(g, np_dtype):
        if g.dtype.kind == "c" and np_dtype.kind != "c":  # a real input's gradient is the real part (torch)
            g = g.real
        return g.astype(np_dtype, copy=False)

    @staticmethod
    def conj(x):
        """The complex conjugate of a complex array or number; anything real is returned unchanged."""
        if isinstance(x, complex):
            return x.conjugate()
        dt = getattr(x, "dtype", None)
        return x.conj() if dt is not None and dt.kind == "c" else x

    @staticmethod
    def where(cond, a, b):
        return np.where(cond, a, b)

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return x.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def expand(x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def reshape(x, shape):
        return x.reshape(shape)

    @staticmethod
    def transpose(x, axes):
        return x.transpose(axes)

    @staticmethod
    def swap_last(x):
        return np.swapaxes(x, -1, -2)

    @staticmethod
    def matmul(a, b):
        return matmul(a, b)

    @staticmethod
    def index(x, idx):
        return x[idx]

    @staticmethod
    def index_zeros(shape, idx, g, accumulate=True):
        z = np.zeros(shape, dtype=g.dtype)
        if accumulate:
            add_at(z, idx, g)
        else:
            z[idx] = g
        return z

    @staticmethod
    def take_along(x, idx, axis):
        return np.take_along_axis(x, idx, axis)

    @staticmethod
    def put_along_zeros(shape, idx, g, axis):
        z = np.zeros(shape, dtype=g.dtype)
        _put_along_add(z, idx, g, axis)
        return z

    @staticmethod
    def zeros_like(x):
        return np.zeros_like(x)

    @staticmethod
    def cumsum(x, axis):
        return np.cumsum(x, axis=axis)

    @staticmethod
    def flip(x, axes):
        return np.flip(x, axes)

    @staticmethod
    def roll(x, shifts, axes):
        return np.roll(x, shifts, axes)

    @staticmethod
    def tril(x, k):
        return np.tril(x, k)

    @staticmethod
    def triu(x, k):
        return np.triu(x, k)

    @staticmethod
    def pad_zeros(g, shape, slices):
        z = np.zeros(shape, dtype=g.dtype)
        z[slices] = g
        return z

    @staticmethod
    def maximum(a, b):
        return np.maximum(a, b)

    @staticmethod
    def value(x):
        return x

    @staticmethod
    def prod(x, axis=None, keepdims=False):
        return np.prod(x, axis=axis, keepdims=keepdims)


def _put_along_add(z, idx, g, axis):
    """z[..., idx, ...] += g along ``axis``, accumulating duplicates (np.put_along_axis overwrites)."""
    idx = np.broadcast_to(idx, g.shape) if idx.shape != g.shape else idx
    grids = list(np.indices(idx.shape, sparse=True))
    grids[axis] = idx
    np.add.at(z, tuple(grids), g)


class _TensorNS:
    """Same functions on tensors, through ember's recorded ops (bound lazily to avoid import cycles)."""

    def __getattr__(self, name):
        from .. import _ops

        fn = getattr(_ops, "ns_" + name, None) or getattr(_ops, name)
        setattr(self, name, fn)
        return fn


ARRAY_NS = _ArrayNS()
TENSOR_NS = _TensorNS()

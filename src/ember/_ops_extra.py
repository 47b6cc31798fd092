"""More of torch's tensor functions: special functions (lgamma, digamma, polygamma, erfinv, i0, ...),
inverse hyperbolics, bitwise shifts, copysign/nextafter/ldexp/frexp, extra reductions (nanmedian, mode,
histc, cov, ...), shape helpers (hsplit/vsplit/dsplit, block_diag, kron, the ``*_copy`` and ``*_scatter``
ops), matrix products (addmv, addr, baddbmm, ...) and small predicates. Differentiable ops have backward
formulas checked against torch (tests/test_ops_extra.py).

``TENSOR_METHODS`` / ``INPLACE`` list what becomes a ``Tensor`` method; ``bind()`` (called by
``ember/__init__``) attaches them.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from . import _dtype as D
from . import _ops as _o
from . import _special_math as S
from ._tensor import Tensor
from .autograd.engine import UnaryNode
from .autograd.functional_ns import ARRAY_NS

_LN2 = math.log(2.0)


def _check_tensor(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(x).__name__}")


def _floatify(x, op):
    _check_tensor(x, op)
    if x._data.dtype.kind != "f":
        x = _o.cast(x, D.get_default_dtype())
    return x


class _Lib:
    """The functions a derivative formula needs, on arrays (first-order backward) or on tensors
    (``create_graph=True``, so the derivative is itself differentiable)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __getattr__(self, name):
        if self.arrays:
            fn = getattr(np, name, None) if name in ("exp", "log", "sqrt", "sin", "cos", "tan", "sign", "abs",
                                                     "log1p", "cosh", "sinh", "exp2") else getattr(S, name)
        else:
            fn = globals().get(name) or getattr(_o, name)
        setattr(self, name, fn)
        return fn

    def polygamma_n(self, n, x):
        return S.polygamma(n, x) if self.arrays else polygamma(n, x)

    def where(self, c, a, b):
        if self.arrays:
            return np.where(c, a, b)
        return _o.where(c if isinstance(c, Tensor) else Tensor._wrap(np.asarray(c)), a, b)

    def val(self, x):
        return x if self.arrays else x._data


_ARR, _TEN = _Lib(True), _Lib(False)


def _elementwise(opname, fwd, deriv, doc):
    """A differentiable elementwise op: ``fwd(array)``; ``deriv(L, x)`` is d fwd / dx written with ``L``."""

    class _Node(UnaryNode):
        op = opname

        def forward(self, x):
            with np.errstate(all="ignore"):
                return np.asarray(fwd(x)).astype(x.dtype, copy=False)

        def backward(self, ns, g, ins, out):
            L = _ARR if ns is ARRAY_NS else _TEN
            with np.errstate(all="ignore"):
                return (g * deriv(L, ins[0]),)

    _Node.__name__ = "".join(p.capitalize() for p in opname.split("_"))

    def f(input):  # noqa: A002  (torch's name)
        return _Node()(_floatify(input, opname))

    f.__name__ = opname
    f.__doc__ = doc
    return f


lgamma = _elementwise("lgamma", S.lgamma, lambda L, x: L.digamma(x), "log|Gamma(x)| (differentiable).")
digamma = _elementwise("digamma", S.digamma, lambda L, x: L.polygamma_n(1, x),
                       "The digamma function psi(x) = d/dx lgamma(x) (differentiable).")
erfc = _elementwise("erfc", S.erfc, lambda L, x: -2.0 / math.sqrt(math.pi) * L.exp(-x * x),
                    "1 - erf(x), accurate in the tails (differentiable).")
erfinv = _elementwise("erfinv", S.erfinv, lambda L, x: math.sqrt(math.pi) / 2.0 * L.exp(L.erfinv(x) ** 2),
                      "The inverse of erf on (-1, 1) (differentiable).")
i0 = _elementwise("i0", S.i0, lambda L, x: L.i1(x), "Modified Bessel function of the first kind, order 0.")
sinc = _elementwise(
    "sinc", S.sinc,
    lambda L, x: L.where(L.val(x) == 0, 0.0 * x, (L.cos(math.pi * x) - L.sinc(x)) / L.where(L.val(x) == 0, 1.0 + 0 * x, x)),
    "Normalised sinc: sin(pi x) / (pi x), 1 at 0 (differentiable).")
acosh = arccosh = _elementwise("acosh", np.arccosh, lambda L, x: 1.0 / L.sqrt(x * x - 1.0),
                               "Inverse hyperbolic cosine (differentiable).")
asinh = arcsinh = _elementwise("asinh", np.arcsinh, lambda L, x: 1.0 / L.sqrt(x * x + 1.0),
                               "Inverse hyperbolic sine (differentiable).")
atanh = arctanh = _elementwise("atanh", np.arctanh, lambda L, x: 1.0 / (1.0 - x * x),
                               "Inverse hyperbolic tangent (differentiable).")
exp2 = _elementwise("exp2", np.exp2, lambda L, x: _LN2 * L.exp2(x), "2 ** x (differentiable).")
i0e = _elementwise("i0e", S.i0e, lambda L, x: L.i1e(x) - L.sign(x) * L.i0e(x),
                   "exp(-|x|) * i0(x) (differentiable).")
i1 = _elementwise("i1", S.i1, lambda L, x: L.where(L.val(x) == 0, 0.5 + 0 * x, L.i0(x) - L.i1(x) / L.where(L.val(x) == 0, 1.0 + 0 * x, x)),
                  "Modified Bessel function of the first kind, order 1 (differentiable).")
i1e = _elementwise(
    "i1e", S.i1e,
    lambda L, x: L.where(L.val(x) == 0, 0.5 + 0 * x,
                         L.i0e(x) - L.i1e(x) * (L.sign(x) + 1.0 / L.where(L.val(x) == 0, 1.0 + 0 * x, x))),
    "exp(-|x|) * i1(x) (differentiable).")
ndtr = _elementwise("ndtr", S.ndtr, lambda L, x: L.exp(-0.5 * x * x) / math.sqrt(2 * math.pi),
                    "The standard normal CDF (differentiable).")
log_ndtr = _elementwise("log_ndtr", S.log_ndtr, lambda L, x: L.exp(-0.5 * x * x - L.log_ndtr(x)) / math.sqrt(2 * math.pi),
                        "log of the standard normal CDF, accurate far into the lower tail (differentiable).")
ndtri = _elementwise("ndtri", S.ndtri, lambda L, x: math.sqrt(2 * math.pi) * L.exp(0.5 * L.ndtri(x) ** 2),
                     "The inverse of the standard normal CDF (differentiable).")
erfcx = _elementwise("erfcx", S.erfcx, lambda L, x: 2.0 * x * L.erfcx(x) - 2.0 / math.sqrt(math.pi),
                     "exp(x**2) * erfc(x), without overflow (differentiable).")


def polygamma(n, input):  # noqa: A002
    """The n-th derivative of digamma (``polygamma(0, x)`` is digamma), differentiable in ``input``."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise RuntimeError(f"polygamma(n, input): n must be a non-negative integer, got {n!r}")
    n = int(n)
    if n == 0:
        return digamma(input)
    return _polygamma_n(n)(input)


_POLY = {}


def _polygamma_n(n):
    if n not in _POLY:
        _POLY[n] = _elementwise("polygamma", lambda a: S.polygamma(n, a), lambda L, x: L.polygamma_n(n + 1, x),
                                "polygamma")
    return _POLY[n]


def mvlgamma(input, p):  # noqa: A002
    """Multivariate log-gamma of dimension ``p`` (elementwise; all elements must exceed (p - 1) / 2)."""
    x = _floatify(input, "mvlgamma")
    if not isinstance(p, int) or p < 1:
        raise RuntimeError(f"mvlgamma: p has to be greater than or equal to 1, got {p!r}")
    if x.numel() and float(x._data.min()) <= (p - 1) / 2:
        raise RuntimeError(f"mvlgamma: All elements must be greater than (p-1)/2 = {(p - 1) / 2}")
    out = p * (p - 1) / 4 * math.log(math.pi)
    for j in range(p):
        out = lgamma(x - j / 2) + out
    return out


def positive(input):  # noqa: A002
    """``input`` itself (torch.positive returns the same tensor)."""
    _check_tensor(input, "positive")
    if input.dtype == D.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def fix(input):  # noqa: A002
    """Alias of ``trunc``."""
    return _o.trunc(input)


def logaddexp2(input, other):  # noqa: A002
    """log2(2**a + 2**b), computed stably (differentiable)."""
    a, b = _o._promote(input, other, "logaddexp2", to_float=True)
    return _o.logaddexp(a * _LN2, b * _LN2) / _LN2


def xlog1py(input, other):  # noqa: A002
    """``input * log1p(other)``, 0 where ``input`` is 0 (even if ``other`` is nan... as torch: nan stays)."""
    a, b = _o._promote(input, other, "xlog1py", to_float=True)
    a, b = _o._t(a, b if isinstance(b, Tensor) else None), _o._t(b, a if isinstance(a, Tensor) else None)
    a, b = _o.broadcast_tensors(a, b)
    prod = a * _o.log1p(b)
    zero = (a._data == 0) & ~np.isnan(b._data)
    return _o.where(Tensor._wrap(zero), _o.zeros_like(prod), prod)


def _entr_np(x):
    return np.where(x > 0, -x * np.log(np.where(x > 0, x, 1.0)), np.where(x == 0, 0.0, np.where(np.isnan(x), np.nan, -np.inf)))


entr = _elementwise("entr", _entr_np, lambda L, x: -(L.log(x) + 1.0), "-x * log(x) elementwise (0 at 0, -inf for x < 0).")


def copysign(input, other):  # noqa: A002
    """|input| with the sign of ``other`` (gradient flows to ``input``)."""
    a, b = _o._promote(input, other, "copysign", to_float=True)
    bd = b._data if isinstance(b, Tensor) else np.asarray(b)
    sign = np.where(np.signbit(bd), -1.0, 1.0)
    a = _o._t(a, b if isinstance(b, Tensor) else None)
    dt = a._data.dtype
    # the gradient, sign(input) * sign(result), is 0 where input == 0 (as torch)
    return _o.abs(a) * Tensor._wrap(sign.astype(dt))


def nextafter(input, other):  # noqa: A002
    """The next float after ``input`` towards ``other`` (not differentiable)."""
    a, b = _o._promote(input, other, "nextafter")
    return Tensor._wrap(np.nextafter(_o._arr(a), _o._arr(b)))


def ldexp(input, other):  # noqa: A002
    """``input * 2 ** other`` (differentiable in ``input``)."""
    x = _floatify(input, "ldexp") if isinstance(input, Tensor) else input
    e = other._data if isinstance(other, Tensor) else np.asarray(other)
    dt = x._data.dtype if isinstance(x, Tensor) else D.get_default_dtype().np
    return x * Tensor._wrap(np.exp2(e.astype(np.float64)).astype(dt))


def float_power(input, exponent):  # noqa: A002
    """``input ** exponent`` in float64 (differentiable)."""
    a = _o.cast(input, D.float64) if isinstance(input, Tensor) else float(input)
    b = _o.cast(exponent, D.float64) if isinstance(exponent, Tensor) else float(exponent)
    if not isinstance(a, Tensor):
        a = _o.tensor(a, dtype=D.float64)
    return _o.pow(a, b)


def frexp(input):  # noqa: A002
    """(mantissa, exponent) with ``input = mantissa * 2 ** exponent`` (exponent int32)."""
    _check_tensor(input, "frexp")
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"torch.frexp() only supports floating-point dtypes, got {input.dtype}")
    m, e = np.frexp(input._data)
    return Tensor._wrap(m), Tensor._wrap(e.astype(np.int32))


def heaviside(input, values):  # noqa: A002
    """0 where input < 0, ``values`` where input == 0, 1 where input > 0 (not differentiable)."""
    _check_tensor(input, "heaviside")
    v = values._data if isinstance(values, Tensor) else np.asarray(values)
    if isinstance(values, Tensor) and values.dtype != input.dtype:
        raise RuntimeError(f"heaviside is not yet implemented for tensors with different dtypes: "
                           f"{input.dtype} and {values.dtype}")
    x = input._data
    return Tensor._wrap(np.where(x == 0, v, x > 0).astype(x.dtype))


def _intop(npf, name):
    def f(input, other):  # noqa: A002
        a, b = _o._promote(input, other, name)
        for t in (a, b):
            if isinstance(t, Tensor) and t._data.dtype.kind not in "iub":
                raise RuntimeError(f"{name}: expected integer tensors, got {t.dtype}")
        return Tensor._wrap(np.asarray(npf(_o._arr(a), _o._arr(b))))

    f.__name__ = name
    f.__doc__ = f"Elementwise {name} of integer tensors (not differentiable)."
    return f


gcd = _intop(np.gcd, "gcd")
lcm = _intop(np.lcm, "lcm")
bitwise_left_shift = _intop(np.left_shift, "bitwise_left_shift")
bitwise_right_shift = _intop(np.right_shift, "bitwise_right_shift")


def igamma(input, other):  # noqa: A002
    """The regularized lower incomplete gamma function P(a, x) (not differentiable)."""
    a, x = _o._promote(input, other, "igamma", to_float=True)
    return _o.tensor(_igamma_arr(_o._arr(a), _o._arr(x), lower=True), dtype=(a if isinstance(a, Tensor) else x).dtype)


def igammac(input, other):  # noqa: A002
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x) (not differentiable)."""
    a, x = _o._promote(input, other, "igammac", to_float=True)
    return _o.tensor(_igamma_arr(_o._arr(a), _o._arr(x), lower=False), dtype=(a if isinstance(a, Tensor) else x).dtype)


def _igamma_scalar(a, x, lower):
    if math.isnan(a) or math.isnan(x) or a < 0 or x < 0:
        return math.nan
    if a == 0:
        return (1.0 if x > 0 else math.nan) if lower else (0.0 if x > 0 else math.nan)
    if x == 0:
        return 0.0 if lower else 1.0
    if math.isinf(x):
        return 1.0 if lower else 0.0
    lg = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:  # series
        term = s = 1.0 / a
        ap = a
        for _ in range(10000):
            ap += 1
            term *= x / ap
            s += term
            if abs(term) < abs(s) * 1e-17:
                break
        p = s * math.exp(lg)
        return p if lower else 1.0 - p
    # continued fraction (modified Lentz)
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-17:
            break
    q = math.exp(lg) * h
    return 1.0 - q if lower else q


def _igamma_arr(a, x, lower):
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    return np.vectorize(lambda u, v: _igamma_scalar(u, v, lower), otypes=[np.float64])(a, x)


# ------------------------------------------------------------------ reductions and statistics


def nanmedian(input, dim=None, keepdim=False):  # noqa: A002
    """Median ignoring NaNs (the lower of the two middle values, as torch); with ``dim``, (values, indices)."""
    _check_tensor(input, "nanmedian")
    x = input
    if dim is None:
        flat = x.reshape(-1)
        keep = ~np.isnan(flat._data)
        if not keep.any():
            return _o.tensor(np.nan, dtype=x.dtype)
        vals = flat[Tensor._wrap(np.flatnonzero(keep))]
        return _o.median(vals)
    ax = _o._dim(dim, x.ndim, "nanmedian")
    d = np.moveaxis(x._data, ax, -1)
    n_valid = (~np.isnan(d)).sum(-1)
    order = np.argsort(np.where(np.isnan(d), np.inf, d), axis=-1, kind="stable")
    k = np.maximum((n_valid - 1) // 2, 0)
    idx = np.take_along_axis(order, k[..., None], -1)
    idx = np.where((n_valid == 0)[..., None], 0, idx)
    idx_t = Tensor._wrap(np.moveaxis(idx, -1, ax))
    vals = _o.gather(x, ax, idx_t)
    allnan = np.moveaxis((n_valid == 0)[..., None], -1, ax)
    if allnan.any():
        vals = _o.where(Tensor._wrap(allnan), Tensor._wrap(np.full((), np.nan, x._data.dtype)), vals)
    if not keepdim:
        vals, idx_t = _o.squeeze(vals, ax), _o.squeeze(idx_t, ax)
    return _ValuesIndices(vals, idx_t)


def _ValuesIndices(values, indices):
    from collections import namedtuple

    global _VI
    if "_VI" not in globals():
        _VI = namedtuple("torch_return_type", ["values", "indices"])
    return _VI(values, indices)


def mode(input, dim=-1, keepdim=False):  # noqa: A002
    """The most frequent value along ``dim`` (smallest on ties) and an index where it occurs."""
    _check_tensor(input, "mode")
    x = input
    if x.ndim == 0:
        return _ValuesIndices(x.clone() if x.requires_grad else x, _o.tensor(0))
    ax = _o._dim(dim, x.ndim, "mode")
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
    vals = _o.gather(x, ax, idx_t)
    if not keepdim:
        vals, idx_t = _o.squeeze(vals, ax), _o.squeeze(idx_t, ax)
    return _ValuesIndices(vals, idx_t)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):  # noqa: A002
    """``quantile`` ignoring NaNs (not differentiable)."""
    _check_tensor(input, "nanquantile")
    qv = q._data if isinstance(q, Tensor) else np.asarray(q, dtype=np.float64)
    if np.any((qv < 0) | (qv > 1)):
        raise RuntimeError("nanquantile() q values must be in the range [0, 1]")
    method = {"linear": "linear", "lower": "lower", "higher": "higher", "midpoint": "midpoint",
              "nearest": "nearest"}.get(interpolation)
    if method is None:
        raise RuntimeError(f"nanquantile() interpolation must be one of linear, lower, higher, midpoint or "
                           f"nearest. Got {interpolation!r}")
    d = input._data
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = np.nanquantile(d if dim is None else d, qv, axis=None if dim is None else dim, keepdims=keepdim,
                               method=method)
    return Tensor._wrap(np.asarray(r).astype(d.dtype))


def histc(input, bins=100, min=0, max=0):  # noqa: A002
    """Histogram of ``bins`` equal bins over [min, max] (the data's range when both are 0)."""
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


def histogram(input, bins=100, *, range=None, weight=None, density=False):  # noqa: A002
    """(hist, bin_edges) as ``numpy.histogram`` (float results, torch's layout)."""
    _check_tensor(input, "histogram")
    d = input._data
    b = bins._data if isinstance(bins, Tensor) else bins
    w = weight._data if isinstance(weight, Tensor) else weight
    h, edges = np.histogram(d, bins=b, range=range, weights=w, density=density)
    from collections import namedtuple

    rt = namedtuple("histogram", ["hist", "bin_edges"])
    return rt(Tensor._wrap(h.astype(d.dtype)), Tensor._wrap(edges.astype(d.dtype)))


def dist(input, other, p=2):  # noqa: A002
    """The p-norm of ``input - other`` (differentiable)."""
    return _o.norm(input - other, p)


def cov(input, *, correction=1, fweights=None, aweights=None):  # noqa: A002
    """Covariance of the rows (variables) over the columns (observations), differentiable."""
    x = input if input.ndim == 2 else input.reshape(1, -1)
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
        c = _o.matmul(xm * w, xm.t()) / norm
    else:
        n = x.shape[1]
        xm = x - x.mean(1, keepdim=True)
        c = _o.matmul(xm, xm.t()) / (n - correction)
    return c.reshape(()) if input.ndim < 2 else c


def corrcoef(input):  # noqa: A002
    """Pearson correlation coefficients of the rows (differentiable)."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = _o.sqrt(_o.diagonal(c))
    c = c / d.reshape(-1, 1) / d.reshape(1, -1)
    return _o.clamp(c, -1, 1)


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """Trapezoidal rule along ``dim`` (spacing ``dx`` or sample points ``x``), differentiable."""
    ax = _o._dim(dim, y.ndim, "trapezoid")
    n = y.shape[ax]
    if n == 0:
        return _o.sum(y, ax)
    lo = _o.narrow(y, ax, 0, n - 1)
    hi = _o.narrow(y, ax, 1, n - 1)
    if x is not None:
        xt = x if isinstance(x, Tensor) else _o.tensor(x, dtype=y.dtype)
        if xt.ndim == 1:
            shape = [1] * y.ndim
            shape[ax] = n - 1
            dxs = _o.diff(xt).reshape(shape)
        else:
            dxs = _o.diff(xt, dim=ax)
        return _o.sum((lo + hi) * dxs, ax) / 2
    return _o.sum(lo + hi, ax) * ((1.0 if dx is None else dx) / 2)


def trapz(y, x=None, *, dx=None, dim=-1):
    """Alias of ``trapezoid``."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """Cumulative trapezoidal rule along ``dim`` (one element shorter), differentiable."""
    ax = _o._dim(dim, y.ndim, "cumulative_trapezoid")
    n = y.shape[ax]
    lo = _o.narrow(y, ax, 0, builtins.max(n - 1, 0))
    hi = _o.narrow(y, ax, 1, builtins.max(n - 1, 0))
    if x is not None:
        xt = x if isinstance(x, Tensor) else _o.tensor(x, dtype=y.dtype)
        if xt.ndim == 1:
            shape = [1] * y.ndim
            shape[ax] = n - 1
            dxs = _o.diff(xt).reshape(shape)
        else:
            dxs = _o.diff(xt, dim=ax)
        return _o.cumsum((lo + hi) * dxs / 2, ax)
    return _o.cumsum((lo + hi) * ((1.0 if dx is None else dx) / 2), ax)


def renorm(input, p, dim, maxnorm):  # noqa: A002
    """Each slice along ``dim`` rescaled so its p-norm is at most ``maxnorm`` (differentiable)."""
    ax = _o._dim(dim, input.ndim, "renorm")
    others = tuple(i for i in range(input.ndim) if i != ax)
    norms = _o.norm(input, p, dim=others, keepdim=True)
    over = Tensor._wrap(norms._data > maxnorm)
    return input * _o.where(over, maxnorm / (norms + 1e-7), _o.ones_like(norms))


# ------------------------------------------------------------------ matrix products


def addmv(input, mat, vec, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * (mat @ vec)."""
    return _scaled_sum(input, _o.mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * outer(vec1, vec2)."""
    return _scaled_sum(input, _o.outer(vec1, vec2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * sum_i batch1[i] @ batch2[i]."""
    return _scaled_sum(input, _o.sum(_o.bmm(batch1, batch2), 0), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * (batch1 @ batch2), per batch."""
    return _scaled_sum(input, _o.bmm(batch1, batch2), beta, alpha)


def _scaled_sum(inp, prod, beta, alpha):
    p = prod if alpha == 1 else prod * alpha
    if beta == 0:  # torch ignores input then (nan/inf in it do not propagate)
        return p
    return (inp if beta == 1 else inp * beta) + p


def chain_matmul(*matrices):
    from .linalg import multi_dot

    return multi_dot(list(matrices))


def adjoint(input):  # noqa: A002
    """The transpose of the last two dims (ember has no complex numbers, so no conjugation)."""
    return _o.transpose(input, -2, -1)


def kron(input, other):  # noqa: A002
    """Kronecker product (differentiable)."""
    a, b = _o._promote(input, other, "kron")
    nd = builtins.max(a.ndim, b.ndim)
    a = a.reshape((1,) * (nd - a.ndim) + tuple(a.shape))
    b = b.reshape((1,) * (nd - b.ndim) + tuple(b.shape))
    ia, ib = [], []
    for i in range(nd):
        ia.extend([a.shape[i], 1])
        ib.extend([1, b.shape[i]])
    prod = a.reshape(ia) * b.reshape(ib)
    return prod.reshape([a.shape[i] * b.shape[i] for i in range(nd)])


def block_diag(*tensors):
    """A block-diagonal matrix from 0-, 1- or 2-d tensors (differentiable)."""
    mats = []
    for t in tensors:
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input has {t.ndim}")
        mats.append(t.reshape(1, -1) if t.ndim < 2 else t)
    if not mats:
        return _o.zeros(1, 0)
    dt = mats[0].dtype
    for m in mats[1:]:
        dt = D.promote_types(dt, m.dtype)
    rows = builtins.sum(m.shape[0] for m in mats)
    cols = builtins.sum(m.shape[1] for m in mats)
    out = []
    c0 = 0
    for m in mats:
        m = m.to(dt)
        r, c = m.shape
        left = _o.zeros(r, c0, dtype=dt)
        right = _o.zeros(r, cols - c0 - c, dtype=dt)
        out.append(_o.cat([left, m, right], 1))
        c0 += c
    res = _o.cat(out, 0)
    assert tuple(res.shape) == (rows, cols)
    return res


def vander(x, N=None, increasing=False):  # noqa: N803  (torch's name)
    """The Vandermonde matrix of a 1-d ``x`` (columns x**(N-1) ... x**0, or increasing), differentiable."""
    if x.ndim != 1:
        raise RuntimeError(f"x must be a one-dimensional tensor, got {x.ndim} dims")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if n == 0:
        return _o.zeros(x.shape[0], 0, dtype=x.dtype if x.is_floating_point() else D.int64)
    cols = [_o.ones_like(x)]
    for _ in range(1, n):
        cols.append(cols[-1] * x)
    if not increasing:
        cols = cols[::-1]
    return _o.stack(cols, 1)


# ------------------------------------------------------------------ shape helpers


def _split_dim(op, x, indices_or_sections, dim, min_dim):
    if x.ndim < min_dim:
        raise RuntimeError(f"torch.{op} requires a tensor with at least {min_dim} dimension, but got a tensor "
                           f"with {x.ndim} dimensions!")
    if isinstance(indices_or_sections, int) and x.shape[dim] % indices_or_sections:
        raise RuntimeError(f"torch.{op} attempted to split along dimension {dim}, but the size of the dimension "
                           f"{x.shape[dim]} is not divisible by the split_size {indices_or_sections}!")
    return _o.tensor_split(x, indices_or_sections, dim)


def hsplit(input, indices_or_sections):  # noqa: A002
    return _split_dim("hsplit", input, indices_or_sections, 1 if input.ndim > 1 else 0, 1)


def vsplit(input, indices_or_sections):  # noqa: A002
    return _split_dim("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):  # noqa: A002
    return _split_dim("dsplit", input, indices_or_sections, 2, 3)


def atleast_3d(*tensors):
    """Views with at least three dims: (N,) -> (1, N, 1), (M, N) -> (M, N, 1)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(atleast_3d(t) for t in tensors[0])
    if len(tensors) != 1:
        return tuple(atleast_3d(t) for t in tensors)
    t = tensors[0]
    if t.ndim == 0:
        return t.reshape(1, 1, 1)
    if t.ndim == 1:
        return t.reshape(1, -1, 1)
    if t.ndim == 2:
        return t.unsqueeze(-1)
    return t


def dstack(tensors):
    """Stack along the third dim (after ``atleast_3d``)."""
    return _o.cat([atleast_3d(t) for t in tensors], 2)


def row_stack(tensors):
    """Alias of ``vstack``."""
    return _o.vstack(tensors)


def narrow_copy(input, dim, start, length):  # noqa: A002
    return _o.narrow(input, dim, start, length).clone()


def split_with_sizes(input, split_sizes, dim=0):  # noqa: A002
    return _o.split(input, list(split_sizes), dim)


def unsafe_split(input, split_size, dim=0):  # noqa: A002
    return _o.split(input, split_size, dim)


def unsafe_split_with_sizes(input, split_sizes, dim=0):  # noqa: A002
    return _o.split(input, list(split_sizes), dim)


def unsafe_chunk(input, chunks, dim=0):  # noqa: A002
    return _o.chunk(input, chunks, dim)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):  # noqa: A002
    """Tensors whose diagonals (over dim1, dim2 of the result) are the last dim of ``input`` (differentiable)."""
    m = input.shape[-1]
    k = offset
    n = m + builtins.abs(k)
    if k:
        z = _o.zeros(*input.shape[:-1], builtins.abs(k), dtype=input.dtype)
        w = _o.cat([z, input], -1) if k > 0 else _o.cat([input, z], -1)
    else:
        w = input
    res = w.unsqueeze(-2) * Tensor._wrap(np.eye(n, k=k, dtype=input._data.dtype))
    nd = res.ndim
    d1, d2 = dim1 % nd, dim2 % nd
    if d1 == d2:
        raise RuntimeError(f"diag_embed(): diagonal dimensions cannot be identical {dim1}, {dim2}")
    rest = iter(builtins.range(nd - 2))
    axes = [nd - 2 if i == d1 else nd - 1 if i == d2 else next(rest) for i in builtins.range(nd)]
    return _o.permute(res, axes)


def diagflat(input, offset=0):  # noqa: A002
    return _o.diag(input.reshape(-1), offset)


def _copy_of(fn, name):
    def f(*args, **kwargs):
        out = fn(*args, **kwargs)
        if isinstance(out, (tuple, list)):
            return type(out)(o.clone() for o in out)
        return out.clone()

    f.__name__ = name
    f.__doc__ = f"``{fn.__name__}`` returning a copy instead of a view."
    return f


alias_copy = _copy_of(lambda x: x, "alias_copy")
detach_copy = _copy_of(lambda x: x.detach(), "detach_copy")
diagonal_copy = _copy_of(_o.diagonal, "diagonal_copy")
expand_copy = _copy_of(lambda x, size, *, implicit=False: _o.expand(x, size), "expand_copy")
permute_copy = _copy_of(_o.permute, "permute_copy")
select_copy = _copy_of(_o.select, "select_copy")
split_copy = _copy_of(_o.split, "split_copy")
split_with_sizes_copy = _copy_of(split_with_sizes, "split_with_sizes_copy")
squeeze_copy = _copy_of(_o.squeeze, "squeeze_copy")
t_copy = _copy_of(_o.t, "t_copy")
transpose_copy = _copy_of(_o.transpose, "transpose_copy")
unbind_copy = _copy_of(_o.unbind, "unbind_copy")
unfold_copy = _copy_of(_o.unfold, "unfold_copy")
unsqueeze_copy = _copy_of(_o.unsqueeze, "unsqueeze_copy")
view_copy = _copy_of(lambda x, *shape: x.view(*shape), "view_copy")


def slice_copy(input, dim=0, start=None, end=None, step=1):  # noqa: A002
    idx = (slice(None),) * _o._dim(dim, input.ndim, "slice_copy") + (slice(start, end, step),)
    return input[idx].clone()


def _scatter_into(input, src, idx):
    out = input.clone()
    out[idx] = src
    return out


def select_scatter(input, src, dim, index):  # noqa: A002
    """``input`` with ``input.select(dim, index)`` replaced by ``src`` (differentiable in both)."""
    ax = _o._dim(dim, input.ndim, "select_scatter")
    return _scatter_into(input, src, (slice(None),) * ax + (index,))


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):  # noqa: A002
    """``input`` with a slice along ``dim`` replaced by ``src`` (differentiable in both)."""
    ax = _o._dim(dim, input.ndim, "slice_scatter")
    return _scatter_into(input, src, (slice(None),) * ax + (slice(start, end, step),))


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):  # noqa: A002
    """``input`` with its diagonal (offset, dim1, dim2) replaced by ``src`` (differentiable in both)."""
    nd = input.ndim
    d1, d2 = dim1 % nd, dim2 % nd
    n1, n2 = input.shape[d1], input.shape[d2]
    if offset >= 0:
        k = builtins.max(0, builtins.min(n1, n2 - offset))
        r, c = np.arange(k), np.arange(k) + offset
    else:
        k = builtins.max(0, builtins.min(n1 + offset, n2))
        r, c = np.arange(k) - offset, np.arange(k)
    perm = [i for i in builtins.range(nd) if i not in (d1, d2)] + [d1, d2]
    out = _o.permute(input, perm).clone()
    out[(Ellipsis, r, c)] = src
    return _o.permute(out, [int(i) for i in np.argsort(perm)])


def masked_scatter(input, mask, source):  # noqa: A002
    """Copies of ``source``'s leading elements into ``input`` where ``mask`` is True (row-major order)."""
    m = np.broadcast_to(mask._data.astype(bool), tuple(input.shape))
    n = int(m.sum())
    if source.numel() < n:
        raise RuntimeError(f"masked_scatter: expected source to have at least {n} elements, got {source.numel()}")
    src = source.reshape(-1)[:n]
    out = input.clone() if tuple(input.shape) == m.shape else _o.expand(input, m.shape).clone()
    out[Tensor._wrap(m)] = src
    return out


def put(input, index, source, accumulate=False):  # noqa: A002
    """A copy of ``input`` with ``source`` written (or added) at flat ``index``."""
    flat = input.reshape(-1).clone()
    idx = index.reshape(-1)
    if accumulate:
        flat = _o.index_add(flat, 0, idx, source.reshape(-1))
    else:
        flat[idx] = source.reshape(-1)
    return flat.reshape(input.shape)


def index_reduce(input, dim, index, source, reduce, *, include_self=True):  # noqa: A002
    """Reduce ``source`` slices into ``input`` at ``index`` along ``dim`` ('prod', 'mean', 'amax', 'amin').
    Not differentiable."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    ax = _o._dim(dim, input.ndim, "index_reduce")
    out = np.moveaxis(input._data.copy(), ax, 0)
    src = np.moveaxis(source._data, ax, 0)
    idx = index._data.reshape(-1)
    ufunc = {"prod": np.multiply, "mean": np.add, "amax": np.maximum, "amin": np.minimum}[reduce]
    touched = np.unique(idx)
    if not include_self:
        init = {"prod": 1, "mean": 0, "amax": -np.inf, "amin": np.inf}[reduce]
        out[touched] = init
    ufunc.at(out, idx, src)
    if reduce == "mean":
        cnt = np.zeros(out.shape[0]) + (1 if include_self else 0)
        np.add.at(cnt, idx, 1)
        cnt = np.maximum(cnt, 1).reshape((-1,) + (1,) * (out.ndim - 1))
        out = out / cnt
        if out.dtype != input._data.dtype and input._data.dtype.kind in "iu":
            out = np.floor_divide(out, 1)
    return Tensor._wrap(np.moveaxis(out, 0, ax).astype(input._data.dtype))


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):  # noqa: A002
    """torch.scatter_reduce ('sum', 'prod', 'mean', 'amax', 'amin'); differentiable for 'sum' and 'mean'."""
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    ax = _o._dim(dim, input.ndim, "scatter_reduce")
    if reduce == "sum":
        base = input if include_self else _o.scatter(input, ax, index, _o.zeros_like(src))
        return _o.scatter_add(base, ax, index, src)
    if reduce == "mean":
        ones = _o.ones_like(src)
        base = input if include_self else _o.scatter(input, ax, index, _o.zeros_like(src))
        total = _o.scatter_add(base, ax, index, src)
        cnt0 = _o.ones_like(input) if include_self else _o.scatter(_o.ones_like(input), ax, index, _o.zeros_like(src))
        cnt = _o.scatter_add(cnt0, ax, index, ones)
        res = total / _o.clamp_min(cnt, 1)
        return res if input.is_floating_point() else _o.floor_divide(total, _o.clamp_min(cnt, 1)).to(input.dtype)
    out = input._data.copy()
    idx = index._data
    s = src._data[tuple(slice(0, n) for n in idx.shape)]
    grids = list(np.indices(idx.shape, sparse=True))
    grids[ax] = idx
    g = tuple(grids)
    ufunc = {"prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
    if not include_self:
        init = {"prod": 1, "amax": -np.inf, "amin": np.inf}[reduce]
        if out.dtype.kind in "iu" and reduce != "prod":
            info = np.iinfo(out.dtype)
            init = info.min if reduce == "amax" else info.max
        out[g] = init
    ufunc.at(out, g, s)
    return Tensor._wrap(out)


# ------------------------------------------------------------------ creation and small predicates


def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """An uninitialised tensor of ``size`` (ember chooses its own strides; ``stride`` is not kept)."""
    return _o.empty(*size, dtype=dtype, requires_grad=requires_grad)


def empty_permuted(size, physical_layout, *, dtype=None, layout=None, device=None, requires_grad=False,
                   pin_memory=False):
    """An uninitialised tensor of ``size`` (the physical layout is NumPy's choice)."""
    return _o.empty(*size, dtype=dtype, requires_grad=requires_grad)


def scalar_tensor(s, *, dtype=None, layout=None, device=None, pin_memory=False):
    """A 0-d tensor holding ``s`` (default dtype when ``dtype`` is None)."""
    return _o.tensor(float(s) if dtype is None else s, dtype=dtype or D.get_default_dtype())


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    """A tensor from ``obj``, sharing memory when possible (as torch.asarray)."""
    if isinstance(obj, Tensor):
        t = obj if dtype is None else obj.to(dtype)
        if copy:
            t = t.clone()
        return t.requires_grad_(requires_grad) if requires_grad else t
    if copy is None and isinstance(obj, np.ndarray) and (dtype is None or D.as_dtype(dtype).np == obj.dtype):
        t = _o.from_numpy(obj)
    else:
        t = _o.tensor(obj, dtype=dtype)
    return t.requires_grad_(requires_grad) if requires_grad else t


def torch_range(start=0, end=None, step=1, *, dtype=None, layout=None, device=None, requires_grad=False):
    """Deprecated torch.range: like arange but including ``end`` (float dtype by default)."""
    if end is None:
        start, end = 0, start
    n = int(math.floor((end - start) / step)) + 1
    dt = dtype or D.get_default_dtype()
    return _o.tensor([start + i * step for i in builtins.range(builtins.max(n, 0))], dtype=dt,
                     requires_grad=requires_grad)


def _window(name, fn):
    def f(window_length, periodic=True, *, dtype=None, layout=None, device=None, requires_grad=False):
        if window_length < 0:
            raise RuntimeError(f"{name} requires non-negative window_length, got window_length={window_length}")
        dt = dtype or D.get_default_dtype()
        if window_length == 0:
            return _o.zeros(0, dtype=dt)
        if window_length == 1:
            return _o.ones(1, dtype=dt)
        n = window_length + 1 if periodic else window_length
        w = fn(n)
        if periodic:
            w = w[:-1]
        return _o.tensor(w, dtype=dt, requires_grad=requires_grad)

    f.__name__ = name
    f.__doc__ = f"The {name.replace('_', ' ')} (periodic by default, as torch)."
    return f


bartlett_window = _window("bartlett_window", np.bartlett)
blackman_window = _window("blackman_window", np.blackman)
hann_window = _window("hann_window", np.hanning)


def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None, layout=None, device=None,
                   requires_grad=False):
    dt = dtype or D.get_default_dtype()
    if window_length == 0:
        return _o.zeros(0, dtype=dt)
    if window_length == 1:
        return _o.ones(1, dtype=dt)
    n = window_length + 1 if periodic else window_length
    w = alpha - beta * np.cos(2 * math.pi * np.arange(n) / (n - 1))
    return _o.tensor(w[:-1] if periodic else w, dtype=dt, requires_grad=requires_grad)


def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None, device=None,
                  requires_grad=False):
    dt = dtype or D.get_default_dtype()
    if window_length == 0:
        return _o.zeros(0, dtype=dt)
    if window_length == 1:
        return _o.ones(1, dtype=dt)
    n = window_length + 1 if periodic else window_length
    w = np.kaiser(n, beta)
    return _o.tensor(w[:-1] if periodic else w, dtype=dt, requires_grad=requires_grad)


def unravel_index(indices, shape):
    """Coordinates (a tuple of int64 tensors) of flat ``indices`` in an array of ``shape``."""
    idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"expected 'indices' to be integer dtype, but got {idx.dtype}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    total = int(np.prod(shape))
    if idx.size and (idx.max() >= total or idx.min() < -total):
        raise RuntimeError(f"unravel_index: index out of bounds for shape {shape}")
    res = np.unravel_index(np.where(idx < 0, idx + total, idx), shape)
    return tuple(Tensor._wrap(np.asarray(r, dtype=np.int64)) for r in res)


def result_type(tensor1, tensor2):
    """The dtype torch's promotion gives ``tensor1 op tensor2`` (tensors or numbers)."""
    a, b = _o._promote(tensor1, tensor2, "result_type")
    return (a if isinstance(a, Tensor) else b).dtype


def can_cast(from_, to):
    """Whether ``from_`` casts to ``to`` under torch's same-kind rule."""
    f, t = D.as_dtype(from_), D.as_dtype(to)
    if f.np.kind == "f" and t.np.kind in "iub":
        return False
    if f.np.kind in "iu" and t.np.kind == "b":
        return False
    return True


def is_complex(input):  # noqa: A002
    """Always False: ember has no complex dtypes."""
    _check_tensor(input, "is_complex")
    return False


def is_signed(input):  # noqa: A002
    _check_tensor(input, "is_signed")
    return input._data.dtype.kind in "if"


def is_nonzero(input):  # noqa: A002
    _check_tensor(input, "is_nonzero")
    if input.numel() != 1:
        raise RuntimeError(f"Boolean value of Tensor with {'no values' if input.numel() == 0 else 'more than one value'} "
                           "is ambiguous")
    return bool(input._data.reshape(-1)[0] != 0)


def is_same_size(input, other):  # noqa: A002
    return tuple(input.shape) == tuple(other.shape)


def is_inference(input):  # noqa: A002
    """False: ember's inference_mode does not mark tensors."""
    return False


def is_conj(input):  # noqa: A002
    return False


def is_neg(input):  # noqa: A002
    return False


def fill(input, value):  # noqa: A002
    """A copy of ``input`` filled with ``value`` (out-of-place ``fill_``)."""
    v = value.item() if isinstance(value, Tensor) else value
    return _o.full_like(input, v)


def not_equal(input, other):  # noqa: A002
    return _o.ne(input, other)


def sum_to_size(input, *size):  # noqa: A002
    """Sum ``input`` down to ``size`` (the reverse of broadcasting), differentiable."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    nd = input.ndim - len(size)
    if nd < 0 or builtins.any(s != 1 and s != input.shape[nd + i] for i, s in enumerate(size)):
        raise RuntimeError(f"size {{{', '.join(map(str, size))}}} is not expandable to size "
                           f"{{{', '.join(map(str, input.shape))}}}.")
    out = input
    if nd:
        out = _o.sum(out, tuple(builtins.range(nd)))
    axes = tuple(i for i, s in enumerate(size) if s == 1 and out.shape[i] != 1)
    if axes:
        out = _o.sum(out, axes, keepdim=True)
    return out


def binomial(count, prob, generator=None):
    """Binomial samples with ``count`` trials and success probability ``prob`` (elementwise)."""
    from ._random import _gen

    g = _gen(generator)
    return Tensor._wrap(g.np.binomial(count._data.astype(np.int64), prob._data).astype(count._data.dtype))


def poisson(input, generator=None):  # noqa: A002
    """Poisson samples with rates ``input``."""
    from ._random import _gen

    g = _gen(generator)
    return Tensor._wrap(g.np.poisson(input._data).astype(input._data.dtype))


def combinations(input, r=2, with_replacement=False):  # noqa: A002
    """All length-``r`` combinations of the 1-d ``input``'s elements, as rows (differentiable)."""
    import itertools

    n = input.shape[0]
    gen = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = np.array(list(gen(builtins.range(n), r)), dtype=np.int64).reshape(-1, r)
    if idx.size == 0:
        return _o.zeros(0, r, dtype=input.dtype) if r else _o.zeros(0, dtype=input.dtype)
    return input[Tensor._wrap(idx)]


def from_dlpack(ext_tensor):
    """A tensor sharing memory with any DLPack-capable array (NumPy, torch CPU tensors, ...)."""
    return _o.from_numpy(np.from_dlpack(ext_tensor))


def swapaxes_(self, axis0, axis1):
    return _shape_inplace(self, _o.transpose(self, axis0, axis1), "swapaxes_")


# ------------------------------------------------------------------ shape-changing in-place methods


def _shape_inplace(self, result, op):
    if self.requires_grad:
        raise RuntimeError(f"{op}: shape-changing in-place ops on tensors that require grad are not supported "
                           "in ember; use the out-of-place op (e.g. x = x.t())")
    self._data = result._data
    self._bump()
    return self


def t_(self):
    return _shape_inplace(self, _o.t(self), "t_")


def transpose_(self, dim0, dim1):
    return _shape_inplace(self, _o.transpose(self, dim0, dim1), "transpose_")


def squeeze_(self, dim=None):
    return _shape_inplace(self, _o.squeeze(self) if dim is None else _o.squeeze(self, dim), "squeeze_")


def unsqueeze_(self, dim):
    return _shape_inplace(self, _o.unsqueeze(self, dim), "unsqueeze_")


def resize_(self, *sizes, memory_format=None):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    n = int(np.prod(sizes))
    flat = self._data.reshape(-1)
    data = flat[:n] if n <= flat.size else np.concatenate([flat, np.zeros(n - flat.size, flat.dtype)])
    return _shape_inplace(self, Tensor._wrap(data.reshape(sizes).copy()), "resize_")


def resize_as_(self, the_template, memory_format=None):
    return resize_(self, tuple(the_template.shape))


def _random_fill(kind):
    def method(self, *args, generator=None):
        from ._random import _gen

        g = _gen(generator)
        shape = self._data.shape
        if kind == "cauchy":
            median, sigma = (list(args) + [0.0, 1.0][len(args):])[:2]
            vals = median + sigma * np.tan(math.pi * (g.np.random(shape) - 0.5))
        elif kind == "log_normal":
            mean, std = (list(args) + [1.0, 2.0][len(args):])[:2]
            vals = np.exp(g.np.normal(mean, std, size=shape))
        else:  # geometric
            p = args[0]
            vals = g.np.geometric(p, size=shape)
        if self.requires_grad and self.is_leaf:
            raise RuntimeError(f"a leaf Variable that requires grad is being used in an in-place operation ({kind}_)")
        self._data[...] = vals
        self._bump()
        return self

    method.__name__ = kind + "_"
    return method


cauchy_ = _random_fill("cauchy")
log_normal_ = _random_fill("log_normal")
geometric_ = _random_fill("geometric")


# ------------------------------------------------------------------ what becomes a Tensor method


TENSOR_METHODS = (
    "lgamma digamma polygamma_m erfc erfinv i0 sinc acosh arccosh asinh arcsinh atanh arctanh exp2 mvlgamma positive "
    "fix logaddexp2 copysign nextafter ldexp float_power frexp heaviside gcd lcm bitwise_left_shift "
    "bitwise_right_shift igamma igammac nanmedian mode nanquantile histc histogram dist cov corrcoef renorm "
    "addmv addr addbmm baddbmm adjoint kron hsplit vsplit dsplit narrow_copy split_with_sizes unsafe_split "
    "unsafe_split_with_sizes unsafe_chunk diag_embed diagflat select_scatter slice_scatter diagonal_scatter "
    "masked_scatter put index_reduce scatter_reduce is_complex is_signed is_nonzero is_same_size is_inference "
    "is_conj is_neg not_equal sum_to_size t_ transpose_ squeeze_ unsqueeze_ resize_ resize_as_ swapaxes_ "
    "cauchy_ log_normal_ geometric_"
).split()

# ``x.name_(...)`` for these (the op written into x)
INPLACE = (
    "lgamma digamma erfc erfinv i0 sinc acosh arccosh asinh arcsinh atanh arctanh exp2 fix copysign nextafter "
    "ldexp float_power heaviside gcd lcm bitwise_left_shift bitwise_right_shift igamma igammac renorm addmv addr "
    "addbmm baddbmm masked_scatter put index_reduce scatter_reduce not_equal"
).split()


def polygamma_m(self, n):
    """``x.polygamma(n)``: torch's method takes n after the tensor."""
    return polygamma(n, self)


def _inplace_of(fn, name):
    key = "extra:" + name

    def method(self, *args, **kwargs):
        return _o.inplace(self, key, (kwargs, *args))

    _o._INPLACE[key] = lambda a, b: fn(a, *b[1:], **b[0])
    method.__name__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: the result is written into this tensor."
    return method


def _method_aliases():
    """Tensor methods that are another name (or an in-place form) of something ember already has."""
    T = Tensor
    out = {
        "absolute": _o.abs, "arccos": _o.acos, "arcsin": _o.asin, "arctan": _o.atan,
        "greater": _o.gt, "greater_equal": _o.ge, "less": _o.lt, "less_equal": _o.le, "subtract": _o.sub,
        "signbit": _o.signbit, "bitwise_and": _o.bitwise_and, "bitwise_or": _o.bitwise_or,
        "bitwise_xor": _o.bitwise_xor, "bitwise_not": _o.bitwise_not, "broadcast_to": _o.expand,
        "unique_consecutive": _o.unique_consecutive, "addmm": _o.addmm, "multinomial": None, "bernoulli": None,
        "polygamma": polygamma_m,
    }
    from . import _random

    out["multinomial"] = _random.multinomial
    out["bernoulli"] = lambda self, p=None, *, generator=None: _random.bernoulli(
        self if p is None else _o.full_like(self, p), generator=generator)
    out["char"] = lambda self: self.to(D.int8)
    out["bfloat16"] = lambda self: self.to(D.bfloat16)
    out["is_cpu"] = property(lambda self: self.device.type == "cpu")
    for name in ("cumsum", "cumprod"):
        out[name + "_"] = _make_inplace_o(name)
    # comparison / logical / arithmetic in-place forms via the ops ember has
    for name in ("eq ne lt le gt ge greater greater_equal less less_equal logical_and logical_or logical_xor "
                 "logical_not bitwise_and bitwise_or bitwise_xor bitwise_not acos asin atan sinh cosh tan "
                 "neg negative deg2rad rad2deg sgn arccos arcsin arctan arctan2 absolute divide multiply "
                 "subtract true_divide").split():
        if not hasattr(T, name + "_"):
            out[name + "_"] = _make_inplace_o(name)
    return out


def _make_inplace_o(name):
    fn = getattr(_o, name, None)
    if fn is None:
        fn = {"greater": _o.gt, "greater_equal": _o.ge, "less": _o.lt, "less_equal": _o.le,
              "arctan2": _o.atan2}.get(name)
    return _inplace_of(fn, name)


def bind():
    """Attach the methods above to ``Tensor`` (those it does not have yet)."""
    g = globals()
    for name in TENSOR_METHODS:
        attr = "polygamma" if name == "polygamma_m" else name
        if attr not in Tensor.__dict__ and not _has(attr):
            setattr(Tensor, attr, g[name])
    for name in INPLACE:
        if not _has(name + "_"):
            setattr(Tensor, name + "_", _inplace_of(g[name], name))
    for name, fn in {**_method_aliases(), **_late_methods(), **_late_tensor_functional()}.items():
        if not _has(name):
            setattr(Tensor, name, fn)


def _has(name):
    return any(name in k.__dict__ for k in Tensor.__mro__)


# ------------------------------------------------------------------ more small ops (torch.* and Tensor)


def angle(input):  # noqa: A002
    """The argument of a real number: 0 for x >= 0, pi for x < 0 (nan stays nan); gradient 0."""
    x = _floatify(input, "angle")
    d = x._data
    return Tensor._wrap(np.where(d < 0, math.pi, np.where(np.isnan(d), np.nan, 0.0)).astype(d.dtype))


def isneginf(input):  # noqa: A002
    _check_tensor(input, "isneginf")
    return Tensor._wrap(np.isneginf(input._data) if input._data.dtype.kind == "f" else np.zeros(input.shape, bool))


def isposinf(input):  # noqa: A002
    _check_tensor(input, "isposinf")
    return Tensor._wrap(np.isposinf(input._data) if input._data.dtype.kind == "f" else np.zeros(input.shape, bool))


def isreal(input):  # noqa: A002
    """All True: ember has no complex numbers."""
    _check_tensor(input, "isreal")
    return Tensor._wrap(np.ones(input._data.shape, dtype=bool))


def vdot(input, other):  # noqa: A002
    """Dot product of two 1-d tensors (no conjugation: ember is real-only)."""
    return _o.dot(input, other)


def rsub(input, other, *, alpha=1):  # noqa: A002
    """``other - alpha * input``."""
    return _o.sub(other, input, alpha=alpha) if isinstance(other, Tensor) else other - input * alpha


def typename(obj):
    """torch.typename: 'torch.FloatTensor' style names for tensors, the qualified type name otherwise."""
    if isinstance(obj, Tensor):
        names = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
                 "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
                 "uint8": "ByteTensor", "bool": "BoolTensor"}
        return "torch." + names.get(str(obj.dtype).split(".")[-1], "Tensor")
    t = type(obj)
    return t.__qualname__ if t.__module__ in ("builtins", "__builtin__", None) else f"{t.__module__}.{t.__qualname__}"


def detach(input):  # noqa: A002
    return input.detach()


def nonzero_static(input, *, size, fill_value=-1):  # noqa: A002
    """The first ``size`` rows of ``nonzero(input)``, padded with ``fill_value``."""
    nz = np.argwhere(input._data)
    out = np.full((size, input.ndim), fill_value, dtype=np.int64)
    k = builtins.min(size, nz.shape[0])
    out[:k] = nz[:k]
    return Tensor._wrap(out)


def _torch_inplace_function(name):
    def f(input, *args, **kwargs):  # noqa: A002
        return getattr(input, name)(*args, **kwargs)

    f.__name__ = name
    f.__doc__ = f"``torch.{name}(x, ...)``: the same as ``x.{name}(...)``."
    return f


_TORCH_INPLACE = ("abs_ acos_ acosh_ arccos_ arccosh_ arcsin_ arcsinh_ arctan_ arctanh_ asin_ asinh_ atan_ atanh_ "
                  "ceil_ clamp_ clamp_max_ clamp_min_ clip_ cos_ cosh_ deg2rad_ detach_ erf_ erfc_ exp2_ exp_ expm1_ "
                  "fill_ fix_ floor_ frac_ gcd_ i0_ index_put_ lcm_ ldexp_ log10_ log1p_ log2_ log_ logit_ "
                  "nan_to_num_ neg_ negative_ rad2deg_ reciprocal_ relu_ round_ rsqrt_ sigmoid_ sin_ "
                  "sinc_ sinh_ sqrt_ square_ tan_ tanh_ trunc_ xlogy_ zero_ addmv_").split()
for _n in _TORCH_INPLACE:
    globals()[_n] = _torch_inplace_function(_n)
del _n


def _late_methods():
    """Tensor methods bound after the in-place machinery above exists."""
    return {
        "addmm_": _inplace_of(_o.addmm, "addmm"),
        "log10_": _inplace_of(_o.log10, "log10"),
        "mvlgamma_": _inplace_of(mvlgamma, "mvlgamma"),
        "polygamma_": _inplace_of(lambda x, n: polygamma(n, x), "polygamma"),
        "swapdims_": swapaxes_,
        "resize": lambda self, *sizes: resize_(self.clone(), *sizes),
        "resize_as": lambda self, tensor: resize_(self.clone(), tuple(tensor.shape)),
        "new_empty_strided": lambda self, size, stride, *, dtype=None, device=None, requires_grad=False: _o.empty(
            *size, dtype=dtype or self.dtype, requires_grad=requires_grad),
        "is_shared": lambda self: False,
        "angle": angle, "isneginf": isneginf, "isposinf": isposinf, "isreal": isreal, "vdot": vdot,
        "nonzero_static": nonzero_static,
        "det": det, "inverse": inverse, "logdet": logdet, "slogdet": slogdet, "pinverse": pinverse,
        "matrix_power": matrix_power, "matrix_exp": matrix_exp, "svd": svd, "qr": qr, "cholesky": cholesky,
        "cholesky_solve": cholesky_solve, "cholesky_inverse": cholesky_inverse,
        "triangular_solve": triangular_solve,
    }


# ------------------------------------------------------------------ torch.* / Tensor forms of linalg


def _la():
    from . import linalg

    return linalg


def det(input):  # noqa: A002
    return _la().det(input)


def inverse(input):  # noqa: A002
    return _la().inv(input)


def logdet(input):  # noqa: A002
    """log(det(A)): nan for a negative determinant, -inf for zero (differentiable)."""
    s, l = _la().slogdet(input)
    return l + Tensor._wrap(np.where(s._data < 0, np.nan, np.where(s._data == 0, -np.inf, 0.0)).astype(l._data.dtype))


def slogdet(input):  # noqa: A002
    return _la().slogdet(input)


def pinverse(input, rcond=1e-15):  # noqa: A002
    return _la().pinv(input, rtol=rcond)


def matrix_power(input, n):  # noqa: A002
    return _la().matrix_power(input, n)


def matrix_exp(input):  # noqa: A002
    return _la().matrix_exp(input)


def svd(input, some=True, compute_uv=True):  # noqa: A002
    """torch.svd: (U, S, V) with V not transposed (``some=False`` gives full U and V)."""
    from collections import namedtuple

    rt = namedtuple("torch_return_types_svd", ["U", "S", "V"])
    if not compute_uv:
        S = _la().svdvals(input)
        return rt(_o.zeros(0, dtype=input.dtype), S, _o.zeros(0, dtype=input.dtype))
    U, S, Vh = _la().svd(input, full_matrices=not some)
    return rt(U, S, Vh.transpose(-2, -1))


def qr(input, some=True):  # noqa: A002
    return _la().qr(input, "reduced" if some else "complete")


def cholesky(input, upper=False):  # noqa: A002
    return _la().cholesky(input, upper=upper)


def cholesky_solve(input, input2, upper=False):  # noqa: A002
    """Solve A X = B given A's Cholesky factor ``input2`` (differentiable)."""
    L = input2.transpose(-2, -1) if upper else input2
    y = _la().solve_triangular(L, input, upper=False)
    return _la().solve_triangular(L.transpose(-2, -1), y, upper=True)


def cholesky_inverse(input, upper=False):  # noqa: A002
    """The inverse of A from its Cholesky factor (differentiable)."""
    L = input.transpose(-2, -1) if upper else input
    Li = _la().inv(L)
    return _o.matmul(Li.transpose(-2, -1), Li)


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):  # noqa: N803
    """Deprecated torch.triangular_solve: (solution, A clone)."""
    from collections import namedtuple

    M = A.transpose(-2, -1) if transpose else A
    X = _la().solve_triangular(M, b, upper=upper != transpose, unitriangular=unitriangular)
    return namedtuple("torch_return_types_triangular_solve", ["solution", "cloned_coefficient"])(X, A.clone())


# ------------------------------------------------------------------ torch.* forms of nn.functional ops


def _functional(name):
    def f(*args, **kwargs):
        from .nn import functional as F

        return getattr(F, name)(*args, **kwargs)

    f.__name__ = name
    f.__doc__ = f"``torch.{name}``: the same as ``torch.nn.functional.{name}``."
    return f


for _n in ("adaptive_avg_pool1d avg_pool1d max_pool1d max_pool2d max_pool3d conv1d conv2d conv3d conv_transpose1d "
           "conv_transpose2d conv_transpose3d bilinear celu selu hardshrink threshold pixel_shuffle pixel_unshuffle "
           "pairwise_distance").split():
    globals()[_n] = _functional(_n)
del _n


def _dropout_form(name, fname):
    def f(input, p, train):  # noqa: A002
        from .nn import functional as F

        return getattr(F, fname)(input, p, train)

    f.__name__ = name
    f.__doc__ = f"``torch.{name}(input, p, train)``: ``torch.nn.functional.{fname}(input, p, training=train)``."
    return f


dropout = _dropout_form("dropout", "dropout")
alpha_dropout = _dropout_form("alpha_dropout", "alpha_dropout")


def _late_tensor_functional():
    return {"hardshrink": lambda self, lambd=0.5: _functional("hardshrink")(self, lambd)}


# ------------------------------------------------------------------ global switches


class _Flags:
    deterministic = False
    warn_only = False
    matmul_precision = "highest"
    warn_always = False


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Recorded for ``are_deterministic_algorithms_enabled``; ember's CPU ops are deterministic anyway."""
    _Flags.deterministic, _Flags.warn_only = bool(mode), bool(warn_only)


def are_deterministic_algorithms_enabled():
    return _Flags.deterministic


def is_deterministic_algorithms_warn_only_enabled():
    return _Flags.warn_only


def set_deterministic_debug_mode(debug_mode):
    modes = {"default": 0, "warn": 1, "error": 2}
    mode = modes.get(debug_mode, debug_mode)
    if mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected one of 'default', 'warn', 'error', 0, 1, 2 but "
                           f"got {debug_mode!r}")
    use_deterministic_algorithms(mode > 0, warn_only=mode == 1)


def get_deterministic_debug_mode():
    return 0 if not _Flags.deterministic else (1 if _Flags.warn_only else 2)


def set_float32_matmul_precision(precision):
    """Recorded only: ember's float32 matmul is always full precision ('highest')."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid precision {precision!r}: expected 'highest', 'high' or 'medium'")
    _Flags.matmul_precision = precision


def get_float32_matmul_precision():
    return _Flags.matmul_precision


def set_warn_always(b):
    _Flags.warn_always = bool(b)


def is_warn_always_enabled():
    return _Flags.warn_always


def is_anomaly_enabled():
    from .autograd import is_anomaly_enabled as f

    return f()


def set_anomaly_enabled(enabled, check_nan=True):
    from .autograd import set_detect_anomaly

    set_detect_anomaly(enabled, check_nan)


def is_anomaly_check_nan_enabled():
    from .autograd.anomaly import ANOMALY

    return bool(ANOMALY.enabled)  # ember's anomaly mode always checks for nan


has_lapack = True  # NumPy's LAPACK
has_mkl = False
has_openmp = False
has_spectral = False  # no complex FFTs (see ember.fft)


_PRIVATE = {"bind", "polygamma_m", "swapaxes_", "t_", "transpose_", "squeeze_", "unsqueeze_", "resize_",
            "cauchy_", "log_normal_", "geometric_", "Node", "UnaryNode", "Tensor", "ARRAY_NS", "S",
            "D", "builtins", "math", "np", "torch_range", "MultiNode"}
__all__ = [n for n, v in list(globals().items())
           if not n.startswith("_") and n not in _PRIVATE and callable(v) and not isinstance(v, type)
           and n.upper() != n] + ["has_lapack", "has_mkl", "has_openmp", "has_spectral"]

"""Special functions (``lgamma``, ``digamma``, ``polygamma``, ``erfinv``, Bessel ``i0``/``i1``, ``igamma``...),
differentiable, with derivative formulas written once for arrays and tensors."""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import _special_math as S
from .._tensor import Tensor
from ..autograd.engine import UnaryNode
from ..autograd.functional_ns import ARRAY_NS
from ._registry import tensor_method
from ._helpers import _floatify, _package, _public, _t
from .creation import tensor, zeros_like
from .unary import _arr, log1p
from .binary import _LN2, _promote, where
from .shape import broadcast_tensors
from .. import _out


class _Lib:
    """The functions a derivative formula needs, on arrays (first-order backward) or on tensors
    (``create_graph=True``, so the derivative is itself differentiable)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __getattr__(self, name):
        if self.arrays:
            fn = getattr(np, name, None) if name in ("exp", "log", "sqrt", "sin", "cos", "tan", "sign", "abs",
                                                     "log1p", "cosh", "sinh", "exp2", "conj") else getattr(S, name)
        else:
            fn = globals().get(name) or getattr(_package(), name)
        setattr(self, name, fn)
        return fn

    def polygamma_n(self, n, x):
        return S.polygamma(n, x) if self.arrays else polygamma(n, x)

    def where(self, c, a, b):
        if self.arrays:
            return np.where(c, a, b)
        return where(c if isinstance(c, Tensor) else Tensor._wrap(np.asarray(c)), a, b)

    def val(self, x):
        return x if self.arrays else x._data


_ARR, _TEN = _Lib(True), _Lib(False)


def _elementwise(opname, fwd, deriv, doc, cderiv=None):
    """A differentiable elementwise op: ``fwd(array)``; ``deriv(L, x)`` is d fwd / dx written with ``L``.
    ``cderiv(L, x)``, where given, is the complex derivative f'(z) of a holomorphic op that takes complex inputs
    (the backward is then torch's ``g * conj(f'(z))``)."""

    class _Node(UnaryNode):
        op = opname
        complex_ok = cderiv is not None

        def forward(self, x):
            with np.errstate(all="ignore"):
                return np.asarray(fwd(x)).astype(x.dtype, copy=False)

        def backward(self, ns, g, ins, out):
            L = _ARR if ns is ARRAY_NS else _TEN
            x = ins[0]
            with np.errstate(all="ignore"):
                if cderiv is not None and (x._data if isinstance(x, Tensor) else x).dtype.kind == "c":
                    return (g * L.conj(cderiv(L, x)),)
                return (g * deriv(L, x),)

    _Node.__name__ = "".join(p.capitalize() for p in opname.split("_"))

    def f(input, *, out=None):  # noqa: A002  (torch's name)
        if out is not None:
            return _out.into(out, opname, f, input)
        return _Node()(_floatify(input, opname))

    f.__name__ = opname
    f.__doc__ = doc
    return f


lgamma = _elementwise("lgamma", S.lgamma, lambda L, x: L.digamma(x), "log|Gamma(x)| (differentiable).")
tensor_method(lgamma, inplace=True)


digamma = _elementwise("digamma", S.digamma, lambda L, x: L.polygamma_n(1, x),
                       "The digamma function psi(x) = d/dx lgamma(x) (differentiable).")
tensor_method(digamma, inplace=True)


erfc = _elementwise("erfc", S.erfc, lambda L, x: -2.0 / math.sqrt(math.pi) * L.exp(-x * x),
                    "1 - erf(x), accurate in the tails (differentiable).")
tensor_method(erfc, inplace=True)


erfinv = _elementwise("erfinv", S.erfinv, lambda L, x: math.sqrt(math.pi) / 2.0 * L.exp(L.erfinv(x) ** 2),
                      "The inverse of erf on (-1, 1) (differentiable).")
tensor_method(erfinv, inplace=True)


i0 = _elementwise("i0", S.i0, lambda L, x: L.i1(x), "Modified Bessel function of the first kind, order 0.")
tensor_method(i0, inplace=True)


def _sinc_fwd(x):
    if x.dtype.kind == "c":  # sin(pi z) / (pi z), 1 at 0
        with np.errstate(all="ignore"):
            px = math.pi * x
            return np.where(x == 0, 1.0 + 0j, np.sin(px) / np.where(x == 0, 1.0, px))
    return S.sinc(x)


def _sinc_cderiv(L, x):  # noqa: N803
    """(cos(pi z) - sinc(z)) / z, 0 at 0 (torch's formula, conjugated by the backward)."""
    zero = L.val(x) == 0
    safe = L.where(zero, 1.0 + 0 * x, x)
    return L.where(zero, 0.0 * x, (L.cos(math.pi * x) - L.sin(math.pi * safe) / (math.pi * safe)) / safe)


sinc = _elementwise(
    "sinc", _sinc_fwd,
    lambda L, x: L.where(L.val(x) == 0, 0.0 * x, (L.cos(math.pi * x) - L.sinc(x)) / L.where(L.val(x) == 0, 1.0 + 0 * x, x)),
    "Normalised sinc: sin(pi x) / (pi x), 1 at 0 (differentiable).", _sinc_cderiv)
tensor_method(sinc, inplace=True)


acosh = arccosh = _elementwise("acosh", np.arccosh, lambda L, x: 1.0 / L.sqrt(x * x - 1.0),
                               "Inverse hyperbolic cosine (differentiable).",
                               lambda L, x: 1.0 / (L.sqrt(x - 1.0) * L.sqrt(x + 1.0)))
tensor_method(acosh, "acosh", "arccosh", inplace=True)


asinh = arcsinh = _elementwise("asinh", np.arcsinh, lambda L, x: 1.0 / L.sqrt(x * x + 1.0),
                               "Inverse hyperbolic sine (differentiable).", lambda L, x: 1.0 / L.sqrt(x * x + 1.0))
tensor_method(asinh, "asinh", "arcsinh", inplace=True)


atanh = arctanh = _elementwise("atanh", np.arctanh, lambda L, x: 1.0 / (1.0 - x * x),
                               "Inverse hyperbolic tangent (differentiable).", lambda L, x: 1.0 / (1.0 - x * x))
tensor_method(atanh, "atanh", "arctanh", inplace=True)


exp2 = _elementwise("exp2", np.exp2, lambda L, x: _LN2 * L.exp2(x), "2 ** x (differentiable).",
                    lambda L, x: _LN2 * L.exp2(x))
tensor_method(exp2, inplace=True)


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


def polygamma(n, input, *, out=None):  # noqa: A002
    """The n-th derivative of digamma (``polygamma(0, x)`` is digamma), differentiable in ``input``."""
    if out is not None:
        return _out.into(out, "polygamma", polygamma, n, input)
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


@tensor_method(inplace=True)
def mvlgamma(input, p, *, out=None):  # noqa: A002
    """Multivariate log-gamma of dimension ``p`` (elementwise; all elements must exceed (p - 1) / 2)."""
    if out is not None:
        return _out.into(out, "mvlgamma", mvlgamma, input, p)
    x = _floatify(input, "mvlgamma")
    if not isinstance(p, int) or p < 1:
        raise RuntimeError(f"mvlgamma: p has to be greater than or equal to 1, got {p!r}")
    if x.numel() and float(x._data.min()) <= (p - 1) / 2:
        raise RuntimeError(f"mvlgamma: All elements must be greater than (p-1)/2 = {(p - 1) / 2}")
    out = p * (p - 1) / 4 * math.log(math.pi)
    for j in range(p):
        out = lgamma(x - j / 2) + out
    return out


def xlog1py(input, other, *, out=None):  # noqa: A002
    """``input * log1p(other)``, 0 where ``input`` is 0 (even if ``other`` is nan... as torch: nan stays)."""
    if out is not None:
        return _out.into(out, "xlog1py", xlog1py, input, other)
    a, b = _promote(input, other, "xlog1py", to_float=True)
    a, b = _t(a, b if isinstance(b, Tensor) else None), _t(b, a if isinstance(a, Tensor) else None)
    a, b = broadcast_tensors(a, b)
    prod = a * log1p(b)
    zero = (a._data == 0) & ~np.isnan(b._data)
    return where(Tensor._wrap(zero), zeros_like(prod), prod)


def _entr_np(x):
    return np.where(x > 0, -x * np.log(np.where(x > 0, x, 1.0)), np.where(x == 0, 0.0, np.where(np.isnan(x), np.nan, -np.inf)))


entr = _elementwise("entr", _entr_np, lambda L, x: -(L.log(x) + 1.0), "-x * log(x) elementwise (0 at 0, -inf for x < 0).")


@tensor_method(inplace=True)
def igamma(input, other, *, out=None):  # noqa: A002
    """The regularized lower incomplete gamma function P(a, x) (not differentiable)."""
    if out is not None:
        return _out.into(out, "igamma", igamma, input, other)
    a, x = _promote(input, other, "igamma", to_float=True)
    return tensor(_igamma_arr(_arr(a), _arr(x), lower=True), dtype=(a if isinstance(a, Tensor) else x).dtype)


@tensor_method(inplace=True)
def igammac(input, other, *, out=None):  # noqa: A002
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x) (not differentiable)."""
    if out is not None:
        return _out.into(out, "igammac", igammac, input, other)
    a, x = _promote(input, other, "igammac", to_float=True)
    return tensor(_igamma_arr(_arr(a), _arr(x), lower=False), dtype=(a if isinstance(a, Tensor) else x).dtype)


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
            if builtins.abs(term) < builtins.abs(s) * 1e-17:
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
        d = tiny if builtins.abs(d) < tiny else d
        c = b + an / c
        c = tiny if builtins.abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if builtins.abs(delta - 1) < 1e-17:
            break
    q = math.exp(lg) * h
    return 1.0 - q if lower else q


def _igamma_arr(a, x, lower):
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    return np.vectorize(lambda u, v: _igamma_scalar(u, v, lower), otypes=[np.float64])(a, x)


@tensor_method("polygamma", inplace=True)
def polygamma_m(self, n):
    """``x.polygamma(n)``: torch's method takes n after the tensor."""
    return polygamma(n, self)


__all__ = _public(globals(), private=('polygamma_m',))

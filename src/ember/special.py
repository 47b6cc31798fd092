"""``ember.special``: torch.special's functions on real tensors.

The differentiable ones (expit, erf/erfc/erfinv/erfcx, gammaln, digamma/psi, polygamma, multigammaln,
i0/i0e/i1/i1e, ndtr/ndtri/log_ndtr, xlogy/xlog1py, sinc, entr, logit, softmax, ...) have torch's
gradients. Those torch does not differentiate either (zeta, gammainc/gammaincc, the orthogonal
polynomials, bessel_j0/j1/y0/y1, modified_bessel_i0/i1/k0/k1, scaled_modified_bessel_k0/k1,
spherical_bessel_j0, airy_ai) return tensors without a graph, as torch's do.
"""
from __future__ import annotations

import numpy as np

from . import _ops as _o
from . import _ops as _x
from . import _special_cephes as _C
from . import _special_math as _S
from ._tensor import Tensor

expit = _o.sigmoid
erf = _o.erf
erfc = _x.erfc
erfcx = _x.erfcx
erfinv = _x.erfinv
exp2 = _x.exp2
expm1 = _o.expm1
log1p = _o.log1p
logit = _o.logit
xlogy = _o.xlogy
xlog1py = _x.xlog1py
logsumexp = _o.logsumexp
gammaln = _x.lgamma
digamma = psi = _x.digamma
polygamma = _x.polygamma
multigammaln = _x.mvlgamma
i0 = _x.i0
i0e = _x.i0e
i1 = _x.i1
i1e = _x.i1e
ndtr = _x.ndtr
ndtri = _x.ndtri
log_ndtr = _x.log_ndtr
sinc = _x.sinc
entr = _x.entr
round = _o.round  # noqa: A001  (torch's name)
gammainc = _x.igamma
gammaincc = _x.igammac


def softmax(input, dim, *, dtype=None):  # noqa: A002
    """Softmax over ``dim`` (optionally cast to ``dtype`` first)."""
    return _o.softmax(input if dtype is None else input.to(dtype), dim)


def log_softmax(input, dim, *, dtype=None):  # noqa: A002
    """Log-softmax over ``dim`` (optionally cast to ``dtype`` first)."""
    return _o.log_softmax(input if dtype is None else input.to(dtype), dim)


def _values(fn, *args):
    arrays = [a._data if isinstance(a, Tensor) else np.asarray(a) for a in args]
    like = next((a for a in args if isinstance(a, Tensor) and a._data.dtype.kind == "f"), None)
    dt = like._data.dtype if like is not None else np.dtype(np.float32)
    with np.errstate(all="ignore"):
        return Tensor._wrap(np.asarray(fn(*[np.asarray(a, np.float64) for a in arrays])).astype(dt))


def zeta(input, other, *, out=None):  # noqa: A002
    """The Hurwitz zeta function sum_k (other + k) ** -input (not differentiable)."""
    if out is not None:
        return _out.into(out, "zeta", zeta, input, other)
    return _values(_S.zeta, input, other)


def _cephes(name, fn, what):
    def f(input, *, out=None):  # noqa: A002  (torch's name)
        if out is not None:
            return _out.into(out, name, f, input)
        if not isinstance(input, Tensor):
            raise TypeError(f"special.{name}(): argument 'input' must be a Tensor, not {type(input).__name__}")
        return _values(fn, input)

    f.__name__ = name
    f.__doc__ = (f"{what} (torch's Cephes approximation, computed in float64 and cast to the input's dtype; "
                 "not differentiable, as in torch: the result has no grad_fn).")
    return f


airy_ai = _cephes("airy_ai", _C.airy_ai, "The Airy function Ai(x)")
bessel_j0 = _cephes("bessel_j0", _C.j0, "The Bessel function of the first kind J0(x)")
bessel_j1 = _cephes("bessel_j1", _C.j1, "The Bessel function of the first kind J1(x)")
bessel_y0 = _cephes("bessel_y0", _C.y0, "The Bessel function of the second kind Y0(x) (nan for x < 0, -inf at 0)")
bessel_y1 = _cephes("bessel_y1", _C.y1, "The Bessel function of the second kind Y1(x) (nan for x < 0, -inf at 0)")
modified_bessel_i0 = _cephes("modified_bessel_i0", _C.i0, "The modified Bessel function of the first kind I0(x)")
modified_bessel_i1 = _cephes("modified_bessel_i1", _C.i1, "The modified Bessel function of the first kind I1(x)")
modified_bessel_k0 = _cephes("modified_bessel_k0", _C.k0,
                             "The modified Bessel function of the second kind K0(x) (nan for x < 0, inf at 0)")
modified_bessel_k1 = _cephes("modified_bessel_k1", _C.k1,
                             "The modified Bessel function of the second kind K1(x) (nan for x < 0, inf at 0)")
scaled_modified_bessel_k0 = _cephes("scaled_modified_bessel_k0", _C.k0e, "exp(x) K0(x)")
scaled_modified_bessel_k1 = _cephes("scaled_modified_bessel_k1", _C.k1e, "exp(x) K1(x)")
spherical_bessel_j0 = _cephes("spherical_bessel_j0", _C.spherical_j0, "sin(x) / x (1 at 0, 0 at +-inf)")


def _poly(name, p0, p1, step, shift=False):
    def f(input, n, *, out=None):  # noqa: A002
        if out is not None:
            return _out.into(out, name, f, input, n)

        def run(x, nn):
            if shift:
                x = 2 * x - 1
            nn = np.broadcast_to(nn, np.broadcast_shapes(x.shape, np.shape(nn))).astype(np.int64)
            x = np.broadcast_to(x, nn.shape)
            out = np.where(nn == 0, 1.0, 0.0) * np.ones_like(x)
            if nn.size == 0 or nn.max() < 1:
                return np.where(nn < 0, 0.0, out)
            prev, cur = np.ones_like(x), p1(x)
            out = np.where(nn == 1, cur, out)
            for k in range(1, int(nn.max())):
                prev, cur = cur, step(x, k, cur, prev)
                out = np.where(nn == k + 1, cur, out)
            return np.where(nn < 0, 0.0, out)

        return _values(run, input, n)

    f.__name__ = name
    f.__doc__ = f"The {name.replace('_', ' ')} of degree ``n`` at ``input`` (not differentiable, as torch)."
    return f


_cheb = lambda x, k, cur, prev: 2 * x * cur - prev  # noqa: E731
chebyshev_polynomial_t = _poly("chebyshev_polynomial_t", 1, lambda x: x, _cheb)
chebyshev_polynomial_u = _poly("chebyshev_polynomial_u", 1, lambda x: 2 * x, _cheb)
chebyshev_polynomial_v = _poly("chebyshev_polynomial_v", 1, lambda x: 2 * x - 1, _cheb)
chebyshev_polynomial_w = _poly("chebyshev_polynomial_w", 1, lambda x: 2 * x + 1, _cheb)
shifted_chebyshev_polynomial_t = _poly("shifted_chebyshev_polynomial_t", 1, lambda x: x, _cheb, shift=True)
shifted_chebyshev_polynomial_u = _poly("shifted_chebyshev_polynomial_u", 1, lambda x: 2 * x, _cheb, shift=True)
shifted_chebyshev_polynomial_v = _poly("shifted_chebyshev_polynomial_v", 1, lambda x: 2 * x - 1, _cheb, shift=True)
shifted_chebyshev_polynomial_w = _poly("shifted_chebyshev_polynomial_w", 1, lambda x: 2 * x + 1, _cheb, shift=True)
hermite_polynomial_h = _poly("hermite_polynomial_h", 1, lambda x: 2 * x,
                             lambda x, k, cur, prev: 2 * x * cur - 2 * k * prev)
hermite_polynomial_he = _poly("hermite_polynomial_he", 1, lambda x: x, lambda x, k, cur, prev: x * cur - k * prev)
laguerre_polynomial_l = _poly("laguerre_polynomial_l", 1, lambda x: 1 - x,
                              lambda x, k, cur, prev: ((2 * k + 1 - x) * cur - k * prev) / (k + 1))
legendre_polynomial_p = _poly("legendre_polynomial_p", 1, lambda x: x,
                              lambda x, k, cur, prev: ((2 * k + 1) * x * cur - k * prev) / (k + 1))

from ._compat import module_getattr as _module_getattr  # noqa: E402
from . import _out  # noqa: E402

__getattr__ = _module_getattr("torch.special", "ember.special")  # listed torch names raise a clear error

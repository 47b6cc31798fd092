"""Special functions on NumPy arrays (no SciPy): gamma family, Hurwitz zeta, erfinv/erfc/erfcx, normal
CDF and its inverse, modified Bessel functions I0/I1. Everything is computed in float64 and returned in
the input's dtype. Accuracy is close to float64 rounding (tested against torch).
"""
from __future__ import annotations

import math

import numpy as np

from .autograd.functional_ns import erf_array

_SQRT_PI = math.sqrt(math.pi)


def _in(x):
    return np.asarray(x, dtype=np.float64)


def _out(r, like):
    like = np.asarray(like)
    dt = like.dtype if like.dtype.kind == "f" else np.float64
    return np.asarray(r).astype(dt, copy=False)


def _scalar_safe(f):
    def g(v):
        try:
            return f(v)
        except (ValueError, OverflowError):
            return math.inf

    return np.vectorize(g, otypes=[np.float64])


_lgamma_v = _scalar_safe(math.lgamma)
_erfc_v = np.vectorize(math.erfc, otypes=[np.float64])


def lgamma(x):
    return _out(_lgamma_v(_in(x)), x)


def erfc(x):
    return _out(_erfc_v(_in(x)), x)


def digamma(x):
    z = _in(x)
    with np.errstate(all="ignore"):
        neg = z < 0.5
        refl = np.where(neg, -math.pi / np.tan(math.pi * z), 0.0)
        v = np.where(neg, 1.0 - z, z)
        res = np.zeros_like(v)
        for _ in range(12):
            m = v < 12.0
            if not m.any():
                break
            res = np.where(m, res - 1.0 / v, res)
            v = np.where(m, v + 1.0, v)
        inv = 1.0 / v
        i2 = inv * inv
        res = res + np.log(v) - 0.5 * inv - i2 * (1 / 12 - i2 * (1 / 120 - i2 * (1 / 252 - i2 * (
            1 / 240 - i2 * (1 / 132 - i2 * (691 / 32760 - i2 / 12))))))
        res = res + refl
        res = np.where((z < 0) & (z == np.floor(z)), np.nan, res)
        res = np.where(z == 0, np.copysign(np.inf, -z), res)  # torch's: -inf at +0, +inf at -0
        res = np.where(z == np.inf, np.inf, res)
    return _out(res, x)


_ZA = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
       -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15, 1.8152105401943546773e17,
       -7.1661652561756670113e18)


def zeta(s, q):
    """Hurwitz zeta sum_{k>=0} (q + k)^-s (s > 1), by direct summation and Euler-Maclaurin (Cephes)."""
    s, q = np.broadcast_arrays(_in(s), _in(q))
    with np.errstate(all="ignore"):
        n = np.maximum(9, np.ceil(9.0 - q) + 1)
        n = np.where(np.isfinite(n), n, 9).astype(np.int64)
        total = np.zeros(s.shape)
        kmax = int(n.max()) if n.size else 0
        for k in range(kmax):
            total = total + np.where(k < n, np.power(q + k, -s), 0.0)
        w = q + n
        b = np.power(w, -s)
        total = total + b * w / (s - 1.0) + 0.5 * b
        a = np.ones_like(s)
        k = 0.0
        for coef in _ZA:
            a = a * (s + k)
            b = b / w
            total = total + a * b / coef
            k += 1.0
            a = a * (s + k)
            b = b / w
            k += 1.0
        total = np.where(s == 1, np.inf, total)
        total = np.where(s < 1, np.nan, total)
        total = np.where((q <= 0) & (q == np.floor(q)), np.inf, total)
    return total


def polygamma(n, x):
    if n == 0:
        return digamma(x)
    z = _in(x)
    r = (-1.0) ** (n + 1) * math.factorial(n) * zeta(np.full(z.shape, n + 1.0), z)
    return _out(r, x)


def erfinv(y):
    z = _in(y)
    with np.errstate(all="ignore"):
        w = -np.log((1.0 - z) * (1.0 + z))
        ws = w - 2.5
        p1 = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                  -0.00417768164, 0.246640727, 1.50140941):
            p1 = c + p1 * ws
        wl = np.sqrt(w) - 3.0
        p2 = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                  0.00943887047, 1.00167406, 2.83297682):
            p2 = c + p2 * wl
        x = np.where(w < 5.0, p1, p2) * z
        for _ in range(4):  # Newton on erf(x) = z
            tail = np.where(x >= 0, (1.0 - z) - _erfc_v(np.abs(x)), _erfc_v(np.abs(x)) - (1.0 + z))
            err = np.where(np.abs(x) < 0.5, erf_array(x) - z, tail)  # erfc keeps precision near +-1
            x = x - err / (2.0 / _SQRT_PI * np.exp(-x * x))
        x = np.where(z == 1, np.inf, np.where(z == -1, -np.inf, x))
        x = np.where(np.abs(z) > 1, np.nan, x)
    return _out(x, y)


def erfcx(x):
    """exp(x^2) * erfc(x), without overflow for large x."""
    z = _in(x)
    with np.errstate(all="ignore"):
        small = np.exp(z * z) * _erfc_v(np.minimum(z, 25.0))
        i2 = 1.0 / (2.0 * z * z)
        series = 1.0 / (z * _SQRT_PI) * (1 - i2 * (1 - 3 * i2 * (1 - 5 * i2 * (1 - 7 * i2 * (1 - 9 * i2 * (
            1 - 11 * i2 * (1 - 13 * i2)))))))
        r = np.where(z < 25.0, small, series)
    return _out(r, x)


def ndtr(x):
    z = _in(x)
    return _out(0.5 * _erfc_v(-z / math.sqrt(2.0)), x)


def log_ndtr(x):
    z = _in(x)
    with np.errstate(all="ignore"):
        t = -z / math.sqrt(2.0)
        direct = np.log(0.5 * _erfc_v(np.minimum(t, 20.0)))
        tail = np.log(0.5 * erfcx(np.maximum(t, 20.0))) - t * t
        r = np.where(t < 20.0, direct, tail)
        r = np.where(z > 6, np.log1p(-0.5 * _erfc_v(np.maximum(-t, 0.0))), r)
    return _out(r, x)


def ndtri(p):
    z = _in(p)
    with np.errstate(all="ignore"):
        q = np.where(z > 0.5, 1.0 - z, z)  # lower tail
        t = np.sqrt(-2.0 * np.log(q))
        y = -(t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t
                                                                 + 0.001308 * t ** 3))
        lq = np.log(q)
        for _ in range(4):  # Newton on log ndtr(y) = log q
            ln = log_ndtr(y)
            dens = np.exp(-0.5 * y * y - ln) / math.sqrt(2 * math.pi)
            y = y - (ln - lq) / dens
        y = np.where(z > 0.5, -y, y)
        y = np.where(z == 0, -np.inf, np.where(z == 1, np.inf, y))
        y = np.where((z < 0) | (z > 1), np.nan, y)
    return _out(y, p)


def _bessel_ie(nu, x):
    """exp(-|x|) I_nu(x) for nu in (0, 1): power series for |x| <= 30, asymptotic expansion beyond."""
    z = _in(x)
    a = np.abs(z)
    with np.errstate(all="ignore"):
        xs = np.minimum(a, 30.0)
        h = xs / 2.0
        term = h ** nu / math.factorial(nu)
        ser = term.copy()
        for k in range(1, 120):
            term = term * h * h / (k * (k + nu))
            ser = ser + term
        ser = ser * np.exp(-xs)
        xl = np.maximum(a, 30.0)
        mu = 4.0 * nu * nu
        term = np.ones_like(xl)
        asym = term.copy()
        for k in range(1, 30):
            term = term * -(mu - (2 * k - 1) ** 2) / (k * 8.0 * xl)
            asym = asym + term
        asym = asym / np.sqrt(2 * math.pi * xl)
        r = np.where(a <= 30.0, ser, asym)
        if nu == 1:
            r = np.sign(z) * r
    return r


def i0e(x):
    return _out(_bessel_ie(0, x), x)


def i1e(x):
    return _out(_bessel_ie(1, x), x)


def i0(x):
    with np.errstate(over="ignore"):
        return _out(_bessel_ie(0, x) * np.exp(np.abs(_in(x))), x)


def i1(x):
    with np.errstate(over="ignore", invalid="ignore"):
        return _out(_bessel_ie(1, x) * np.exp(np.abs(_in(x))), x)


def sinc(x):
    z = _in(x)
    with np.errstate(all="ignore"):
        px = math.pi * z
        r = np.where(z == 0, 1.0, np.sin(px) / px)
    return _out(r, x)

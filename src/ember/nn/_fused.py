"""Fused kernels for ``ember.nn.functional``: one node per activation, normalisation, softmax and attention,
each with a hand-written backward that reads the minimum (usually the input, or the output, plus a few
per-row statistics).

Elementwise float32 kernels run over the flattened array in blocks of ``BLOCK`` elements, so that the
temporaries of a multi-pass formula stay in the CPU cache; every pass writes into a preallocated block
(``out=``) instead of allocating. float64 inputs use the same formulas with exact transcendental
functions. Under ``create_graph=True`` each backward switches to a composed form built from ember's
recorded ops, so second derivatives work (and are checked by the tests).
"""
from __future__ import annotations

import math
import sys
import weakref

import numpy as np

from .. import _ops as O
from ..autograd.engine import Node, UnaryNode
from ..autograd.functional_ns import _C32, ARRAY_NS, _blocks, _math_erf

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715



_ONES = {}


def _rowsum(a):
    """Sums over the last axis of a contiguous float32/float64 array, keepdims: a GEMV against a vector of
    ones (BLAS), several times faster than NumPy's reduction over short rows; other arrays: np.add.reduce."""
    n = a.shape[-1]
    if a.dtype in (np.float32, np.float64) and a.flags.c_contiguous and a.size and n > 1:
        key = (n, a.dtype)
        ones = _ONES.get(key)
        if ones is None:
            ones = _ONES[key] = np.ones(n, a.dtype)
        return np.matmul(a.reshape(-1, n), ones).reshape(a.shape[:-1] + (1,))
    return np.add.reduce(a, axis=-1, keepdims=True)


def _colsum(a):
    """Sums over the first axis of a 2-D float32/float64 array (a bias gradient): a GEMV of a vector of ones
    against it (several times faster than NumPy's reduction over axis 0); other arrays: np.add.reduce (float16:
    accumulated in float32)."""
    m = a.shape[0]
    if a.dtype in (np.float32, np.float64) and a.ndim == 2 and m > 1 and a.size:
        key = (m, a.dtype)
        ones = _ONES.get(key)
        if ones is None:
            ones = _ONES[key] = np.ones(m, a.dtype)
        return np.matmul(ones, a)
    if a.dtype == np.float16:  # accumulate in float32 and round once, as torch's CPU sum of float16
        return np.add.reduce(a, axis=0, dtype=np.float32).astype(np.float16)
    return np.add.reduce(a, axis=0)


_vecdot = getattr(np, "vecdot", None)


def _rowdot(a, b):
    """Per-row dot products of two (M, N) arrays (NumPy >= 2: vecdot, one pass, no temporary)."""
    if _vecdot is not None:
        return _vecdot(a, b)
    return np.einsum("ij,ij->i", a, b)


def _flat_inputs(*arrays):
    return [np.ascontiguousarray(a) for a in arrays]


# ---------------------------------------------------------------------------- activation kernels
# fwd(x, out) and bwd(x, g, out) on flat blocks of one dtype (float32 or float64)


# float32 GELU: Phi(x) = (1 + erf(x / sqrt 2)) / 2 with erf(t) = tanh(t P(t^2)) (``functional_ns._C32``); the
# 1/sqrt(2) is folded into the coefficients, so tanh(x Pg(x^2)) with Pg(v) = P(v / 2) / sqrt(2), and the
# backward reuses v = x^2 for phi(x) = exp(-v / 2) / sqrt(2 pi): 18 passes forward, 23 backward.
_CG32 = tuple(np.float32(c / (2.0 ** k * math.sqrt(2.0))) for k, c in enumerate(_C32))


def _phi32_into(x, out):
    """tanh(x Pg(x^2)) (= erf(x / sqrt 2)) into ``out``; returns v = x^2."""
    c = _CG32
    v = x * x
    with np.errstate(over="ignore"):
        np.multiply(v, c[6], out=out)
        out += c[5]
        for k in (4, 3, 2, 1, 0):
            out *= v
            out += c[k]
        out *= x
    np.tanh(out, out=out)
    return v


def _gelu_fwd(x, out):
    if x.dtype == np.float64:
        out[...] = _math_erf(x * _SQRT1_2)
    else:
        _phi32_into(x, out)
    out += 1
    out *= x
    out *= 0.5
    return out


def _gelu_bwd(x, g, out):
    dt = x.dtype.type
    if x.dtype == np.float64:
        out[...] = _math_erf(x * _SQRT1_2)
        v = x * x
    else:
        v = _phi32_into(x, out)
    out += 1
    out *= 0.5  # Phi(x)
    v *= dt(-0.5)
    np.exp(v, out=v)
    v *= x
    v *= dt(_INV_SQRT_2PI)  # x phi(x)
    out += v
    out *= g
    return out


_LOG_INV_SQRT_2PI = math.log(_INV_SQRT_2PI)


def _gelu_bwd_from_out(x, y, g, out):
    """GELU backward from the saved input x and output y = x Phi(x): Phi(x) = y / x, so only x phi(x) is
    computed (8 passes instead of the 23 that recompute erf). Where some |x| < 1e-15 (x = 0, subnormals:
    y / x is 0/0 or inexact there), the block recomputes Phi instead."""
    v = x * x
    if v.min() < 1e-30:
        return _gelu_bwd(x, g, out)
    np.divide(y, x, out=out)  # Phi(x)
    v *= x.dtype.type(-0.5)
    v += x.dtype.type(_LOG_INV_SQRT_2PI)
    np.exp(v, out=v)
    v *= x  # x phi(x)
    out += v
    out *= g
    return out


def _gelu_tanh_fwd(x, out):
    dt = x.dtype.type
    np.multiply(x, x, out=out)
    out *= dt(_GELU_C)
    out += 1
    out *= x
    out *= dt(_SQRT_2_PI)
    np.tanh(out, out=out)
    out += 1
    out *= x
    out *= 0.5
    return out


def _gelu_tanh_bwd(x, g, out):
    # d/dx 0.5 x (1 + tanh(u)) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3c x^2)
    dt = x.dtype.type
    x2 = x * x
    np.multiply(x2, dt(_GELU_C), out=out)
    out += 1
    out *= x
    out *= dt(_SQRT_2_PI)
    np.tanh(out, out=out)  # t
    x2 *= dt(3 * _GELU_C)
    x2 += 1
    x2 *= x
    x2 *= dt(0.5 * _SQRT_2_PI)  # 0.5 x sqrt(2/pi) (1 + 3c x^2)
    s = out * out
    np.subtract(1, s, out=s)
    s *= x2
    out += 1
    out *= 0.5
    out += s
    out *= g
    return out


def _sigmoid_into(x, out):
    with np.errstate(over="ignore"):
        np.negative(x, out=out)
        np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)
    return out


def _silu_fwd(x, out):
    _sigmoid_into(x, out)
    out *= x
    return out


def _silu_bwd(x, g, out):
    # s (1 + x (1 - s))
    _sigmoid_into(x, out)
    t = 1 - out
    t *= x
    t += 1
    out *= t
    out *= g
    return out


def _mish_parts(x, out):
    """out = tanh(softplus(x)) = n / (n + 2) with n = e (e + 2), e = exp(min(x, 20)); returns e."""
    e = np.minimum(x, 20.0, dtype=x.dtype)
    np.exp(e, out=e)
    np.add(e, 2, out=out)
    out *= e
    d = out + 2
    out /= d
    return e


def _mish_fwd(x, out):
    _mish_parts(x, out)
    out *= x
    return out


def _mish_bwd(x, g, out):
    # tsp + x (1 - tsp^2) sigmoid(x), sigmoid(x) = e / (1 + e)
    e = _mish_parts(x, out)
    s = e + 1
    np.divide(e, s, out=e)
    np.multiply(out, out, out=s)
    np.subtract(1, s, out=s)
    s *= e
    s *= x
    out += s
    out *= g
    return out


def _log1p_into(e, out):
    """log1p for e in [0, 1] with fast log: log(u) * e / (u - 1), u = 1 + e (exact where u == 1)."""
    u = e + 1
    np.log(u, out=out)
    u -= 1
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(e, u, out=u)
        np.multiply(out, u, out=out)
    small = e < np.finfo(e.dtype).eps
    if small.any():
        np.copyto(out, e, where=small)
    return out


def _softplus_kernels(beta, threshold):
    def fwd(x, out):
        bx = x * x.dtype.type(beta) if beta != 1 else x.copy()
        big = bx > threshold
        e = np.abs(bx)
        np.negative(e, out=e)
        np.exp(e, out=e)
        _log1p_into(e, out)
        np.maximum(bx, 0, out=bx)
        out += bx
        if beta != 1:
            out /= x.dtype.type(beta)
        np.copyto(out, x, where=big)
        return out

    def bwd(x, g, out):
        bx = x * x.dtype.type(beta) if beta != 1 else x
        _sigmoid_into(bx, out)
        np.copyto(out, 1, where=bx > threshold)
        out *= g
        return out

    return fwd, bwd


# composed (recorded) derivatives, for create_graph=True


def _gelu_grad_t(x, approximate):
    if approximate == "tanh":
        inner = (x + x * x * x * _GELU_C) * _SQRT_2_PI
        t = O.tanh(inner)
        return (t + 1.0) * 0.5 + x * (1.0 - t * t) * (x * x * (3 * _GELU_C) + 1.0) * (0.5 * _SQRT_2_PI)
    return (O.erf(x * _SQRT1_2) + 1.0) * 0.5 + x * O.exp(x * x * -0.5) * _INV_SQRT_2PI


def _silu_grad_t(x):
    s = O.sigmoid(x)
    return s * (x * (1.0 - s) + 1.0)


def _softplus_grad_t(x, beta, threshold):
    bx = x * beta if beta != 1 else x
    return O.where(bx._data > threshold, O.ones_like(x), O.sigmoid(bx))


def _mish_grad_t(x):
    from .functional import softplus as _sp

    tsp = O.tanh(_sp(x))
    return tsp + x * (1.0 - tsp * tsp) * O.sigmoid(x)


class _Activation(UnaryNode):
    """y = f(x) elementwise; backward recomputes f' from the saved input in one blocked pass.
    Subclasses set ``fwd(x, out)``, ``bwd(x, g, out)`` (array kernels) and ``grad_t(x)`` (recorded f')."""

    needs_inputs = True
    needs_out = False
    saves = {0: (0,)}
    save_out = False
    grad_name = "ActivationBackward0"

    def name(self):
        return self.grad_name

    def forward(self, x):
        dt = x.dtype
        if dt == np.float16:
            return self.forward(x.astype(np.float32)).astype(dt)
        xc = np.ascontiguousarray(x)
        return _blocks(self.fwd, np.empty(x.shape, dt), xc)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        if ns is not ARRAY_NS:
            return (g * self.grad_t(x),)
        dt = x.dtype
        if dt == np.float16:
            return (self.bwd_array(x.astype(np.float32), g.astype(np.float32)).astype(dt),)
        return (self.bwd_array(x, g),)

    def bwd_array(self, x, g):
        xc, gc = _flat_inputs(x, np.broadcast_to(g, x.shape).astype(x.dtype, copy=False))
        return _blocks(self.bwd, np.empty(x.shape, x.dtype), xc, gc)


class _Gelu(_Activation):
    grad_name = "GeluBackward0"
    fwd = staticmethod(_gelu_fwd)
    bwd = staticmethod(_gelu_bwd)
    kept = None  # (output array, weakref to the output tensor, its version): see ``gelu(keep_out=True)``

    @staticmethod
    def grad_t(x):
        return _gelu_grad_t(x, "none")

    def backward(self, ns, g, ins, out):
        kept = self.kept
        if kept is not None:
            self.kept = None  # used once (a retained graph's second backward recomputes)
            x = ins[0]
            y, ref, ver = kept
            del kept
            t = ref()
            if ns is ARRAY_NS and x.dtype in (np.float32, np.float64) and (t is None or t._version == ver):
                del t
                xc, yc, gc = _flat_inputs(x, y, np.broadcast_to(g, x.shape).astype(x.dtype, copy=False))
                # the output's buffer is ours alone once its tensor is gone and linear2 has freed it (no view,
                # no other holder): the gradient is then written over it, so the step's peak does not grow
                own = yc is y and y.flags.writeable and sys.getrefcount(y) <= 3  # y, yc and the call's argument
                out = yc if own else np.empty(x.shape, x.dtype)
                with np.errstate(over="ignore", invalid="ignore"):  # |x| > 1e19 and +-inf, as the other path
                    return (_blocks(_gelu_bwd_from_out, out, xc, yc, gc),)
        return super().backward(ns, g, ins, out)


class _GeluTanh(_Gelu):
    fwd = staticmethod(_gelu_tanh_fwd)
    bwd = staticmethod(_gelu_tanh_bwd)

    @staticmethod
    def grad_t(x):
        return _gelu_grad_t(x, "tanh")


class _Silu(_Activation):
    grad_name = "SiluBackward0"
    fwd = staticmethod(_silu_fwd)
    bwd = staticmethod(_silu_bwd)
    grad_t = staticmethod(_silu_grad_t)


class _Mish(_Activation):
    grad_name = "MishBackward0"
    fwd = staticmethod(_mish_fwd)
    bwd = staticmethod(_mish_bwd)
    grad_t = staticmethod(_mish_grad_t)


class _Softplus(_Activation):
    grad_name = "SoftplusBackward0"

    def __init__(self, beta, threshold):
        self.fwd, self.bwd = _softplus_kernels(beta, threshold)
        self.beta, self.threshold = beta, threshold

    def grad_t(self, x):
        return _softplus_grad_t(x, self.beta, self.threshold)


def gelu(x, approximate="none", keep_out=False):
    """GELU node. ``keep_out=True`` (for callers whose next op saves the output anyway, e.g. the transformer's
    feed-forward block, where ``linear2`` keeps its input): the exact GELU's backward then reads Phi(x) from
    the output instead of recomputing erf, unless the output was changed in place since."""
    if approximate == "tanh":
        return _GeluTanh()(x)
    node = _Gelu()
    y = node(x)
    if keep_out and y.grad_fn is node:
        node.kept = (y._data, weakref.ref(y), y._version)
    return y


def silu(x):
    return _Silu()(x)


def mish(x):
    return _Mish()(x)


def softplus(x, beta=1.0, threshold=20.0):
    return _Softplus(float(beta), float(threshold))(x)


# ---------------------------------------------------------------------------- normalisation


class _LayerNorm(Node):
    """(x - mean) / sqrt(var + eps) * w + b over the last dims, flattened to (M, N). Saves x, w and the
    per-row mean and 1/std; backward recomputes x-hat."""

    needs_inputs = True
    needs_out = False
    saves = {0: (0, 1), 1: (0,), 2: ()}
    save_out = False

    def __init__(self, n, eps, req, rms=False, pshape=None):
        self.n, self.eps, self.req, self.rms, self.pshape = n, eps, req, rms, pshape

    def name(self):
        return "NativeLayerNormBackward0" if not self.rms else "RmsNormBackward0"

    def forward(self, x, w, b):
        if x.dtype == np.float16:  # accumulate in float32, as torch does
            f = np.float32
            return self.forward(x.astype(f), None if w is None else w.astype(f),
                                None if b is None else b.astype(f)).astype(np.float16)
        n = self.n
        x2 = x.reshape(-1, n)
        if self.rms:
            self.mean = None
            sq = x2 * x2
            ms = _rowsum(sq)
            ms *= 1.0 / n
            ms += self.eps
            rstd = np.sqrt(ms, out=ms)
            np.divide(1, rstd, out=rstd)
            out = np.multiply(x2, rstd, out=sq)
        else:
            mean = _rowsum(x2)
            mean *= 1.0 / n
            out = x2 - mean
            if out.dtype in (np.float32, np.float64):  # sum of squares without a squared temporary
                var = _rowdot(out, out).reshape(-1, 1)
            else:
                var = _rowsum(out * out)
            var *= 1.0 / n
            var += self.eps
            rstd = np.sqrt(var, out=var)
            np.divide(1, rstd, out=rstd)
            out *= rstd
            self.mean = mean
        self.rstd = rstd
        if w is not None:
            out *= w.reshape(n)
        if b is not None:
            out += b.reshape(n)
        return out.reshape(x.shape)

    def _stats_t(self, x2):
        if self.rms:
            return None, O.rsqrt((x2 * x2).mean(1, keepdim=True) + self.eps)
        mean = x2.mean(1, keepdim=True)
        xc = x2 - mean
        return mean, O.rsqrt((xc * xc).mean(1, keepdim=True) + self.eps)

    def backward(self, ns, g, ins, out):
        x, w, _ = ins
        if x is None:  # only the bias needs a gradient (nothing was saved): the sum of g over the rows
            g2 = ns.reshape(g, (-1, self.n))
            if ns is not ARRAY_NS:
                gb = ns.sum(g2, 0)
            elif g2.dtype == np.float16:  # accumulate in float32, as torch does
                gb = _colsum(g2.astype(np.float32)).astype(np.float16)
            else:
                gb = _colsum(g2)
            return None, None, ns.reshape(gb, self.pshape)
        if ns is ARRAY_NS and x.dtype == np.float16:
            f = np.float32
            grads = self.backward(ns, g.astype(f), (x.astype(f), None if w is None else w.astype(f), None), out)
            return tuple(None if a is None else a.astype(np.float16) for a in grads)
        n = self.n
        shape = tuple(x.shape)
        tensor_mode = ns is not ARRAY_NS
        if not tensor_mode and not self.rms and x.dtype in (np.float32, np.float64) and g.dtype == x.dtype:
            return self._backward_ln(x, w, g, shape)
        x2 = ns.reshape(x, (-1, n))
        g2 = ns.reshape(g, (-1, n))
        if tensor_mode:
            mean, rstd = self._stats_t(x2)
            xhat = (x2 - mean) * rstd if mean is not None else x2 * rstd
        else:
            mean, rstd = self.mean, self.rstd
            xhat = x2 - mean if mean is not None else x2.copy()
            xhat *= rstd
        gx = gw = gb = None
        if self.req[1]:
            gw = ns.reshape(ns.sum(g2 * xhat, 0), self.pshape)
        if self.req[2]:
            gb = ns.reshape(ns.sum(g2, 0), self.pshape)
        if self.req[0]:
            gxh = g2 * ns.reshape(w, (n,)) if w is not None else g2
            inv_n = 1.0 / n
            if tensor_mode:
                c2 = ns.sum(gxh * xhat, 1, keepdims=True) * inv_n
            else:
                c2 = gxh * xhat
                c2 = _rowsum(c2)
                c2 *= inv_n
            if tensor_mode:
                gx = gxh - xhat * c2
                if mean is not None:
                    gx = gx - ns.sum(gxh, 1, keepdims=True) * inv_n
                gx = gx * rstd
            else:
                xhat *= c2
                gx = gxh - xhat
                if mean is not None:
                    m1 = _rowsum(np.ascontiguousarray(gxh))
                    m1 *= inv_n
                    gx -= m1
                gx *= rstd
            gx = ns.reshape(gx, shape)
        return gx, gw, gb


    def _backward_ln(self, x, w, g, shape):
        """Layer norm backward on arrays, torch's formulation (ATen's layer_norm_backward): with xc = x - mean,
        gw = sum_rows(g xc) rstd, gb = sum_rows(g), and per row, with gh = g w, dx = rstd (gh - mean(gh))
        - xc rstd^3 mean(gh xc). Row and column sums are GEMVs (with rstd, w or ones as the vector), so
        only xc, g xc and dx are full passes over the array."""
        n = self.n
        x2 = x.reshape(-1, n)
        g2 = g.reshape(-1, n)
        if not g2.flags.c_contiguous:
            g2 = np.ascontiguousarray(g2)
        mean, rstd = self.mean, self.rstd  # (M, 1)
        req = self.req
        wv = None if w is None else w.reshape(n)
        gx = gw = gb = None
        if req[0] or req[1]:
            xc = x2 - mean
            t = np.multiply(g2, xc)  # g xc
        if req[1]:
            gw = np.matmul(rstd.reshape(-1), t).reshape(self.pshape)
        if req[2]:
            gb = _colsum(g2).reshape(self.pshape)
        if req[0]:
            dt = x.dtype.type
            inv_n = dt(1.0 / n)
            if wv is None:
                s1 = _rowsum(g2)  # sum(gh) per row, (M, 1)
                s2 = _rowsum(t)  # sum(gh xc)
                gx = g2 * rstd
            else:
                s1 = np.matmul(g2, wv).reshape(-1, 1)
                s2 = np.matmul(t, wv).reshape(-1, 1)
                gx = g2 * wv
                gx *= rstd
            # dx = gh rstd - xc (rstd^3 s2 / n) - rstd s1 / n
            k = rstd * rstd
            k *= rstd
            k *= s2
            k *= inv_n
            xc *= k
            gx -= xc
            s1 *= rstd
            s1 *= inv_n
            gx -= s1
            gx = gx.reshape(shape)
        return gx, gw, gb



def _norm(x, k, weight, bias, eps, rms):
    n = 1
    for s in tuple(x.shape)[x.ndim - k:]:
        n *= int(s)
    req = (x.requires_grad, weight is not None and weight.requires_grad, bias is not None and bias.requires_grad)
    if n == 0 or x._data.size == 0:
        return None
    return _LayerNorm(n, float(eps), req, rms, tuple(x.shape)[x.ndim - k:])(x, weight, bias)


def layer_norm(x, k, weight, bias, eps):
    """Fused layer norm over the last ``k`` dims (shapes already checked by the caller)."""
    return _norm(x, k, weight, bias, eps, False)


def rms_norm(x, k, weight, eps):
    return _norm(x, k, weight, None, eps, True)


# ---------------------------------------------------------------------------- softmax


class _Softmax(UnaryNode):
    """softmax along ``axis``; saves only the output."""

    needs_inputs = False
    needs_out = True
    saves = {}
    save_out = True

    def __init__(self, axis):
        self.axis = axis

    def name(self):
        return "SoftmaxBackward0"

    def forward(self, x):
        ax = self.axis
        if not x.size:
            return x.copy()
        m = np.max(x, axis=ax, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):  # a row of -inf or with +inf gives NaN, as torch's
            e = np.subtract(x, m)
            np.exp(e, out=e)
            s = e.sum(axis=ax, keepdims=True)
            e /= s
        return e

    def backward(self, ns, g, ins, out):
        ax = self.axis
        if ns is not ARRAY_NS:
            go = g * out
            return (go - out * ns.sum(go, ax, True),)
        go = g * out
        t = out * go.sum(axis=ax, keepdims=True)
        go -= t
        return (go,)


class _LogSoftmax(UnaryNode):
    needs_inputs = False
    needs_out = True
    saves = {}
    save_out = True

    def __init__(self, axis):
        self.axis = axis

    def name(self):
        return "LogSoftmaxBackward0"

    def forward(self, x):
        ax = self.axis
        if not x.size:
            return x.copy()
        m = np.max(x, axis=ax, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):  # a row of -inf or with +inf gives NaN, as torch's
            s = np.subtract(x, m)
            e = np.exp(s)
            lse = np.log(e.sum(axis=ax, keepdims=True))
            s -= lse
        return s

    def backward(self, ns, g, ins, out):
        ax = self.axis
        if ns is not ARRAY_NS:
            return (g - ns.exp(out) * ns.sum(g, ax, True),)
        p = np.exp(out)
        p *= g.sum(axis=ax, keepdims=True)
        return (np.subtract(g, p, out=p),)


def softmax(x, axis):
    return _Softmax(axis)(x)


def log_softmax(x, axis):
    return _LogSoftmax(axis)(x)


# ---------------------------------------------------------------------------- attention


class _SDPA(Node):
    """softmax(q k^T * scale + mask) v over (..., L, E) x (..., S, E) x (..., S, Ev) in one node.

    The mask (an additive float array, or the causal flag) is a constant. Saves q, k, v and two per-row
    statistics of the softmax (the row maximum and the row sum of exp, (..., L, 1) each), not the (..., L, S)
    probabilities P: backward recomputes P from q and k by the same operations as forward (bit-identical), like
    torch's flash attention, which keeps the per-row logsumexp. Backward is dV = P^T dO, dP = dO V^T,
    dS = P (dP - rowsum(dP P)) * scale, dQ = dS K, dK = dS^T Q."""

    needs_inputs = True
    needs_out = False
    saves = {0: (0, 1, 2), 1: (0, 1, 2), 2: (0, 1)}  # q and k to recompute P
    save_out = False

    def __init__(self, scale, mask, causal, req):
        self.scale, self.mask, self.causal, self.req = scale, mask, causal, req

    def name(self):
        return "ScaledDotProductAttentionBackward0"

    def _scores(self, q, k):
        """The masked, scaled scores q k^T * scale + mask (a new array)."""
        s = np.matmul(q, np.swapaxes(k, -1, -2))
        s *= s.dtype.type(self.scale)
        if self.causal:  # a broadcast masked fill (one pass; boolean-index assignment is ~4x slower)
            L, S = s.shape[-2], s.shape[-1]
            np.copyto(s, s.dtype.type(-np.inf), where=np.triu(np.ones((L, S), dtype=bool), 1))
        elif self.mask is not None:
            s = s + self.mask if s.shape != np.broadcast_shapes(s.shape, self.mask.shape) else \
                np.add(s, self.mask, out=s)
        return s

    def _probs(self, s, m, d):
        """P = exp(s - m) / d in place of the scores ``s``."""
        s -= m
        np.exp(s, out=s)
        with np.errstate(invalid="ignore", divide="ignore"):
            s /= d
        return s

    def forward(self, q, k, v):
        s = self._scores(q, k)
        m = s.max(axis=-1, keepdims=True)
        if not np.isfinite(m).all():
            m = np.where(np.isfinite(m), m, 0)
        s -= m
        np.exp(s, out=s)
        d = _rowsum(s)
        if not d.all():  # rows whose scores are all -inf attend nothing: zeros, as torch's _safe_softmax
            d = np.where(d == 0, d.dtype.type(np.inf), d)
        with np.errstate(invalid="ignore", divide="ignore"):
            s /= d
        self.stats = (m, d)  # per row: enough to rebuild P exactly in backward
        return np.matmul(s, v)

    def backward(self, ns, g, ins, out):
        q, k, v = ins
        req = self.req
        sc = self.scale
        if ns is not ARRAY_NS:
            kt = O.transpose(k, -2, -1)
            s = O.matmul(q, kt) * sc
            if self.causal:
                L, S = s.shape[-2], s.shape[-1]
                s = s + O.tensor(np.triu(np.full((L, S), -np.inf, dtype=s._data.dtype), 1))
            elif self.mask is not None:
                s = s + O.tensor(self.mask)
            p = safe_softmax(s)
            gv = O.matmul(O.transpose(p, -2, -1), g) if req[2] else None
            dp = O.matmul(g, O.transpose(v, -2, -1))
            ds = p * (dp - (dp * p).sum(-1, keepdim=True)) * sc
            gq = O.matmul(ds, k) if req[0] else None
            gk = O.matmul(O.transpose(ds, -2, -1), q) if req[1] else None
            return gq, gk, gv
        p = self._probs(self._scores(q, k), *self.stats)
        gv = np.matmul(np.swapaxes(p, -1, -2), g) if req[2] else None
        if not (req[0] or req[1]):
            return None, None, gv
        dp = np.matmul(g, np.swapaxes(v, -1, -2))
        t = dp * p
        r = _rowsum(t)
        del t
        dp -= r
        dp *= p
        del p
        dp *= dp.dtype.type(sc)
        gq = np.matmul(dp, k) if req[0] else None
        gk = np.matmul(np.swapaxes(dp, -1, -2), q) if req[1] else None
        return gq, gk, gv


def safe_softmax(s):
    """softmax over the last dim with zeros (and zero gradients) for rows whose entries are all -inf, as torch's
    ``_safe_softmax`` in scaled_dot_product_attention (plain softmax gives NaN there)."""
    dead = np.all(s._data == -np.inf, axis=-1, keepdims=True)
    if not dead.any():
        return O.softmax(s, -1)
    dead, zero = O.tensor(dead), O.tensor(np.zeros((), dtype=s._data.dtype))
    return O.where(dead, zero, O.softmax(O.where(dead, zero, s), -1))  # no NaN in either direction


def sdpa(q, k, v, scale, mask=None, causal=False):
    """Fused attention; ``mask`` a NumPy additive float mask broadcastable to the scores, or None."""
    req = (q.requires_grad, k.requires_grad, v.requires_grad)
    return _SDPA(float(scale), mask, bool(causal), req)(q, k, v)

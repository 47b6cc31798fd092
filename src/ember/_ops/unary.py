"""Elementwise unary ops: one node per op (forward + backward side by side) and its function."""
from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.engine import UnaryNode
from ..autograd.functional_ns import ARRAY_NS, erf_array
from ._registry import tensor_method
from ._helpers import _check_tensor, _floatify, _public
from .casting import cast


class _Unary(UnaryNode):
    pass


class Neg(_Unary):
    name = "NegBackward0"
    saves = {}

    def forward(self, x):
        return -x

    def backward(self, ns, g, ins, out):
        return (-g,)


class Exp(_Unary):
    name = "ExpBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        return np.exp(x)

    def backward(self, ns, g, ins, out):
        return (g * ns.conj(out),)


class Expm1(_Unary):
    name = "Expm1Backward0"
    saves = {}
    save_out = True

    def forward(self, x):
        return np.expm1(x)

    def backward(self, ns, g, ins, out):
        return (g * ns.conj(out + 1),)


class Log(_Unary):
    name = "LogBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    def backward(self, ns, g, ins, out):
        return (g / ns.conj(ins[0]),)


class Log1p(_Unary):
    name = "Log1PBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    def backward(self, ns, g, ins, out):
        return (g / ns.conj(ins[0] + 1),)


class Log2(_Unary):
    name = "Log2Backward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log2(x)

    def backward(self, ns, g, ins, out):
        return (g / (ns.conj(ins[0]) * math.log(2.0)),)


class Log10(_Unary):
    name = "Log10Backward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(x)

    def backward(self, ns, g, ins, out):
        return (g / (ns.conj(ins[0]) * math.log(10.0)),)


class Sqrt(_Unary):
    name = "SqrtBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(x)

    def backward(self, ns, g, ins, out):
        return (g / (2 * ns.conj(out)),)


class Rsqrt(_Unary):
    name = "RsqrtBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        if x.dtype == _F16:  # torch's half kernels: computed in float32, rounded once
            return self.forward(x.astype(np.float32)).astype(_F16)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1 / np.sqrt(x)

    def backward(self, ns, g, ins, out):
        # torch: -0.5 * grad * result.pow(3).conj(); a float16 pow is computed in float32 and rounded once
        out = ns.conj(out)
        if ns is ARRAY_NS and out.dtype == _F16:
            o = out.astype(np.float32)
            return (g * (-0.5) * (o * o * o).astype(_F16),)
        return (g * (-0.5) * (out * out * out),)


_F16 = np.dtype(np.float16)


def _rsqrt_array(t):
    """1 / sqrt(t) as torch's rsqrt kernel: a float16 array is computed in float32 and rounded once."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if t.dtype == _F16:
            return (1 / np.sqrt(t.astype(np.float32))).astype(_F16)
        return 1 / np.sqrt(t)


def _cplx(x):
    return getattr(getattr(x, "dtype", None), "kind", None) == "c" or (
        isinstance(x, Tensor) and x._data.dtype.kind == "c")


class Abs(_Unary):
    name = "AbsBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.abs(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        if _cplx(x):  # torch: g * sgn(z), sgn(z) = z / |z| (0 at 0)
            return (g * ns.sgn(x),)
        return (g * ns.sign(x),)


class Reciprocal(_Unary):
    name = "ReciprocalBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        with np.errstate(divide="ignore"):
            return 1 / x

    def backward(self, ns, g, ins, out):
        out = ns.conj(out)
        return (-g * (out * out),)  # torch's -grad * (result * result).conj(): same roundings


class Sin(_Unary):
    name = "SinBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.sin(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        if ns is ARRAY_NS and g.dtype == x.dtype and x.dtype.kind == "f":  # arrays: no temporary beyond the result
            r = np.cos(x)
            r *= g
            return (r,)
        return (g * ns.conj(ns.cos(x)),)


class Cos(_Unary):
    name = "CosBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.cos(x)

    def backward(self, ns, g, ins, out):
        return (-g * ns.conj(ns.sin(ins[0])),)


class Tan(_Unary):
    name = "TanBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        return np.tan(x)

    def backward(self, ns, g, ins, out):
        return (g * ns.conj(1 + out * out),)


class Tanh(_Unary):
    name = "TanhBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        return np.tanh(x)

    def backward(self, ns, g, ins, out):
        if ns is ARRAY_NS and out.dtype == _F16:  # torch's tanh_backward: float32 inside, rounded once
            o = out.astype(np.float32)
            return ((g.astype(np.float32) * (1 - o * o)).astype(_F16),)
        if ns is ARRAY_NS and g.dtype == out.dtype and out.ndim:  # arrays: in place on one temporary (same bits)
            r = np.multiply(out, out)
            np.subtract(1, r, out=r)
            if r.dtype.kind == "c":
                np.conjugate(r, out=r)
            r *= g
            return (r,)
        return (g * ns.conj(1 - out * out),)


class Sigmoid(_Unary):
    name = "SigmoidBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        # 1 / (1 + exp(-x)) keeps full relative precision for very negative x; exp may overflow
        # to inf there, which gives the correct limit 0
        if x.dtype == _F16:  # torch's half kernel: computed in float32, rounded once
            return self.forward(x.astype(np.float32)).astype(_F16)
        with np.errstate(over="ignore"):
            e = np.exp(-x)
        if e.__class__ is not np.ndarray:  # a 0-d input gives a NumPy scalar
            e = np.array(e)
        e += 1
        return np.reciprocal(e, out=e)

    def backward(self, ns, g, ins, out):
        # torch's sigmoid_backward: grad * (1 - y) * y, in that order (also for float16: its roundings)
        if ns is ARRAY_NS and g.dtype == out.dtype and out.dtype.kind == "f":  # arrays: one temporary
            r = np.subtract(1, out)
            r *= g
            r *= out
            return (r,)
        return (g * ns.conj(1 - out) * ns.conj(out),)


_F32 = np.dtype(np.float32)
_ZEROS32 = [np.zeros(0, np.float32)]


def _zeros32(n):
    """A read-only float32 zero array of ``n`` elements (a view of one cached buffer, grown as needed).

    ``np.maximum(x, 0)`` runs NumPy's scalar-operand loop, which is not vectorised: for float32, the maximum
    against a contiguous zero array is ~3x faster (measured 25 -> 8 us for 64Ki elements, 448 -> 196 us for
    4.7M; float64 and float16 gain nothing). The buffer comes from ``np.zeros`` (calloc): its untouched pages
    are the kernel's shared zero page, so it costs address space, not memory."""
    z = _ZEROS32[0]
    if z.size < n:
        z = np.zeros(max(n, 2 * z.size), np.float32)
        z.flags.writeable = False
        _ZEROS32[0] = z
    return z[:n]


class Relu(_Unary):
    name = "ReluBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        if x.dtype is _F32 and x.size >= 256 and x.flags.c_contiguous:
            return np.maximum(_zeros32(x.size).reshape(x.shape), x)
        if x.dtype is _F16:  # torch's half kernel keeps -0.0
            return np.maximum(x, 0)
        return np.maximum(0, x)  # zero first: relu(-0.0) is +0.0, as torch's

    def backward(self, ns, g, ins, out):
        # zero where out <= 0; NaN passes the gradient, like torch's threshold_backward
        if isinstance(g, Tensor) or g.dtype.kind != "f" or g.size < 4096:  # small: fewer NumPy calls win
            return (ns.where(ns.value(out) <= 0, 0.0, g),)
        r, nan = _relu_grad(g, out)  # exact unless g holds inf/NaN where it is zeroed (0 * inf = NaN)
        if nan:
            return (_mask_bits(g, ~(out <= 0)),)
        return (r,)


_RELU_BLOCK = 1 << 17  # elements per block of the ReLU gradient's bool mask (128 KiB)


def _relu_grad(g, out):
    """(g * ~(out <= 0), whether that holds a NaN), with a block-sized bool mask instead of a whole-array one
    (a quarter of g for float32, and a second one for the NaN check): the backward of a large ReLU then
    allocates only its result, as torch's threshold_backward."""
    n = g.size
    # blocks over the arrays' memory order (one order for both: equal strides; channels-last conv outputs
    # included), when both are dense (ravel('K') is then a view, not a copy)
    fg = fo = None
    if n > 2 * _RELU_BLOCK and g.shape == out.shape and g.strides == out.strides and min(g.strides) > 0:
        fg, fo = g.ravel("K"), out.ravel("K")
        r = np.empty_like(g, np.result_type(g.dtype, np.bool_))  # g's layout: ravel('K') is the same order
        if not (r.strides == g.strides and np.may_share_memory(fg, g) and np.may_share_memory(fo, out)):
            fg = None
    if fg is None:
        keep = np.less_equal(out, 0)
        r = np.multiply(g, np.logical_not(keep, out=keep))
        del keep
        return r, np.isnan(r).any()
    fr = r.ravel("K")
    buf = np.empty(_RELU_BLOCK, np.bool_)
    nan = False
    for i in range(0, n, _RELU_BLOCK):
        j = min(n, i + _RELU_BLOCK)
        k = buf[:j - i]
        rb = fr[i:j]
        np.less_equal(fo[i:j], 0, out=k)
        np.logical_not(k, out=k)
        np.multiply(fg[i:j], k, out=rb)
        if not nan:
            nan = np.isnan(rb, out=k).any()
    return r, nan


_INT_OF_SIZE = {2: np.int16, 4: np.int32, 8: np.int64}


def _mask_bits(g, keep):
    """``where(keep, g, 0)`` for float arrays, exactly (inf/NaN in g included), via an AND of the bits:
    branch-free, so ~8x faster than np.where on a random mask."""
    it = _INT_OF_SIZE[g.itemsize]
    m = keep.astype(it)
    np.negative(m, out=m)  # True -> all ones
    return (np.broadcast_to(g, m.shape).view(it) & m).view(g.dtype)


class Erf(_Unary):
    name = "ErfBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        if x.dtype == _F16:  # the float32 kernel, rounded once (as torch's half erf)
            return erf_array(x.astype(np.float32)).astype(_F16)
        return erf_array(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        # torch: 2 / sqrt(pi) * exp(-x.pow(2)) * grad, in that order; the constant multiplies in float32
        e = ns.exp(-(x * x))
        c = 2.0 / math.sqrt(math.pi)
        if ns is ARRAY_NS and e.dtype == _F16:
            return ((e.astype(np.float32) * c).astype(_F16) * g,)
        return (e * c * g,)


class Asin(_Unary):
    name = "AsinBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.arcsin(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        if ns is ARRAY_NS and x.dtype.kind == "f":  # torch: grad * (1 - x * x).rsqrt(), its roundings
            return (g * _rsqrt_array(1 - x * x),)
        return (g / ns.conj(ns.sqrt(1 - x * x)),)


class Acos(_Unary):
    name = "AcosBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.arccos(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        if ns is ARRAY_NS and x.dtype.kind == "f":  # torch: grad * -(1 - x * x).rsqrt(), its roundings
            return (g * -_rsqrt_array(1 - x * x),)
        return (-g / ns.conj(ns.sqrt(1 - x * x)),)


class Atan(_Unary):
    name = "AtanBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.arctan(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        return (g / ns.conj(1 + x * x),)


class Sinh(_Unary):
    name = "SinhBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.sinh(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        if ns is ARRAY_NS:  # torch: grad * cosh(x).conj()
            return (g * np.conj(np.cosh(x)),)
        return (g * ns.conj(ns.exp(x) + ns.exp(-x)) * 0.5,)


class Cosh(_Unary):
    name = "CoshBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.cosh(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        if ns is ARRAY_NS:  # torch: grad * sinh(x).conj()
            return (g * np.conj(np.sinh(x)),)
        return (g * ns.conj(ns.exp(x) - ns.exp(-x)) * 0.5,)


def _unary(cls, name):
    def f(input, *, out=None):
        if out is not None:
            return _out.into(out, name, f, input)
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(input).__name__}")
        if input._data.dtype.kind not in "fc":
            input = cast(input, D.get_default_dtype())
        return cls()(input)

    f.__name__ = name
    f.__doc__ = f"Elementwise {name} (differentiable)."
    return f


exp = _unary(Exp, "exp")
tensor_method(exp)


expm1 = _unary(Expm1, "expm1")
tensor_method(expm1, inplace=True)


log = _unary(Log, "log")
tensor_method(log, inplace=True)


log1p = _unary(Log1p, "log1p")
tensor_method(log1p, inplace=True)


log2 = _unary(Log2, "log2")
tensor_method(log2, inplace=True)


log10 = _unary(Log10, "log10")
tensor_method(log10, inplace=True)


sqrt = _unary(Sqrt, "sqrt")
tensor_method(sqrt)


rsqrt = _unary(Rsqrt, "rsqrt")
tensor_method(rsqrt, inplace=True)


reciprocal = _unary(Reciprocal, "reciprocal")
tensor_method(reciprocal, inplace=True)


sin = _unary(Sin, "sin")
tensor_method(sin, inplace=True)


cos = _unary(Cos, "cos")
tensor_method(cos, inplace=True)


tan = _unary(Tan, "tan")
tensor_method(tan, inplace=True)


tanh = _unary(Tanh, "tanh")
tensor_method(tanh, inplace=True)


sigmoid = _unary(Sigmoid, "sigmoid")
tensor_method(sigmoid, inplace=True)


erf = _unary(Erf, "erf")
tensor_method(erf, inplace=True)


asin = arcsin = _unary(Asin, "asin")
tensor_method(asin, "asin", "arcsin", inplace=True)


acos = arccos = _unary(Acos, "acos")
tensor_method(acos, "acos", "arccos", inplace=True)


atan = arctan = _unary(Atan, "atan")
tensor_method(atan, "atan", "arctan", inplace=True)


sinh = _unary(Sinh, "sinh")
tensor_method(sinh, inplace=True)


cosh = _unary(Cosh, "cosh")
tensor_method(cosh, inplace=True)


@tensor_method(dunder="__neg__")
def neg(input, *, out=None):
    """Elementwise negation."""
    if out is not None:
        return _out.into(out, "neg", neg, input)
    if input._data.dtype == np.bool_:
        raise TypeError("neg: negation, the `-` operator, on a bool tensor is not supported; use ~ or logical_not()")
    return Neg()(input)


negative = neg
tensor_method(negative, "negative", inplace=True)


@tensor_method("abs", "absolute", inplace=("abs",))
def abs(input, *, out=None):
    """Elementwise absolute value (gradient sign(x), 0 at 0)."""
    if out is not None:
        return _out.into(out, "abs", abs, input)
    return Abs()(input)


absolute = abs
tensor_method(absolute, "absolute", inplace=True, method=False)


@tensor_method
def relu(input):
    """max(x, 0) elementwise."""
    return Relu()(input)


@tensor_method(inplace=True)
def sign(input, *, out=None):
    """Elementwise sign (no gradient: it is zero almost everywhere)."""
    if out is not None:
        return _out.into(out, "sign", sign, input)
    if input._data.dtype == np.bool_:
        return Tensor._wrap(input._data.copy())
    if input._data.dtype.kind == "c":
        raise RuntimeError("sign: unlike NumPy, sign is not defined for complex tensors (as in torch); use "
                           "sgn(z), which is z / |z|")
    r = np.asarray(np.sign(input._data))
    if r.dtype.kind == "f":
        r = np.nan_to_num(r, nan=0.0, copy=False)  # torch: sign(nan) is 0
    return Tensor._wrap(r)




def _nograd(fn_np, name):
    def f(input, *, out=None):
        if out is not None:
            return _out.into(out, name, f, input)
        return Tensor._wrap(fn_np(input._data))

    f.__name__ = name
    f.__doc__ = f"Elementwise {name} (not differentiable: returns a tensor without grad)."
    return f


floor = _nograd(np.floor, "floor")
tensor_method(floor, inplace=True)


ceil = _nograd(np.ceil, "ceil")
tensor_method(ceil, inplace=True)


trunc = _nograd(np.trunc, "trunc")
tensor_method(trunc, inplace=True)


isnan = _nograd(np.isnan, "isnan")
tensor_method(isnan)


isinf = _nograd(np.isinf, "isinf")
tensor_method(isinf)


isfinite = _nograd(np.isfinite, "isfinite")
tensor_method(isfinite)


signbit = _nograd(np.signbit, "signbit")
tensor_method(signbit)


@tensor_method(inplace=True)
def round(input, *, decimals=0, out=None):
    """Round half to even, like torch (not differentiable)."""
    if out is not None:
        return _out.into(out, "round", round, input, decimals=decimals)
    return Tensor._wrap(np.round(input._data, decimals))


@tensor_method(inplace=True)
def logical_not(input, *, out=None):
    if out is not None:
        return _out.into(out, "logical_not", logical_not, input)
    return Tensor._wrap(np.logical_not(input._data))


@tensor_method(inplace=True)
def logical_and(input, other, *, out=None):
    if out is not None:
        return _out.into(out, "logical_and", logical_and, input, other)
    return Tensor._wrap(np.logical_and(_arr(input), _arr(other)))


@tensor_method(inplace=True)
def logical_or(input, other, *, out=None):
    if out is not None:
        return _out.into(out, "logical_or", logical_or, input, other)
    return Tensor._wrap(np.logical_or(_arr(input), _arr(other)))


@tensor_method(inplace=True)
def logical_xor(input, other, *, out=None):
    if out is not None:
        return _out.into(out, "logical_xor", logical_xor, input, other)
    return Tensor._wrap(np.logical_xor(_arr(input), _arr(other)))


def _arr(x):
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _bitwise(npf, name):
    if name == "bitwise_not":
        def f(input, *, out=None):
            if out is not None:
                return _out.into(out, name, f, input)
            if input._data.dtype.kind not in "iub":
                raise TypeError(f"{name}: only integer and bool tensors are supported, got {input.dtype}")
            return Tensor._wrap(npf(input._data))
    else:
        def f(input, other, *, out=None):
            if out is not None:
                return _out.into(out, name, f, input, other)
            from .binary import _promote, _weak_pair

            ad, bd = _weak_pair(*_promote(input, other, name))  # torch's promotion: int32 | 3 stays int32
            for v in (ad, bd):
                if v.dtype.kind not in "iub":
                    raise TypeError(f"{name}: only integer and bool tensors are supported, got {v.dtype}")
            return Tensor._wrap(np.asarray(npf(ad, bd)))

    f.__name__ = name
    return f


bitwise_not = _bitwise(np.invert, "bitwise_not")
tensor_method(bitwise_not, inplace=True)


bitwise_and = _bitwise(np.bitwise_and, "bitwise_and")
tensor_method(bitwise_and, inplace=True)


bitwise_or = _bitwise(np.bitwise_or, "bitwise_or")
tensor_method(bitwise_or, inplace=True)


bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor")
tensor_method(bitwise_xor, inplace=True)


@tensor_method(inplace=True)
def frac(input, *, out=None):
    if out is not None:
        return _out.into(out, "frac", frac, input)
    return input - trunc(input)


@tensor_method(inplace=True)
def deg2rad(input, *, out=None):
    if out is not None:
        return _out.into(out, "deg2rad", deg2rad, input)
    return input * (np.pi / 180.0)


@tensor_method(inplace=True)
def rad2deg(input, *, out=None):
    if out is not None:
        return _out.into(out, "rad2deg", rad2deg, input)
    return input * (180.0 / np.pi)


@tensor_method(inplace=True)
def logit(input, eps=None, *, out=None):
    """log(x / (1 - x)), with x clamped to [eps, 1 - eps] when ``eps`` is given."""
    if out is not None:
        return _out.into(out, "logit", logit, input, eps)
    if eps is not None:
        input = clamp(input, eps, 1 - eps)
    elif input._data.dtype.kind != "f":
        input = cast(input, D.get_default_dtype())
    return Logit()(input)


class Logit(_Unary):
    """log(x / (1 - x)); the gradient 1 / (x (1 - x)) is nan outside [0, 1], as torch's."""

    name = "LogitBackward0"
    saves = {0: (0,)}

    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x / (1 - x))

    def backward(self, ns, g, ins, out):
        x = ins[0]
        gx = g / (x * (1 - x))
        xv = x._data if isinstance(x, Tensor) else x
        bad = (xv < 0) | (xv > 1)
        return (ns.where(bad, math.nan, gx) if bad.any() else gx,)


@tensor_method(inplace=True)
def nan_to_num(input, nan=None, posinf=None, neginf=None, *, out=None):
    """Replace NaN (by 0 by default), +inf and -inf by finite numbers (the gradient passes where x was finite)."""
    if out is not None:
        return _out.into(out, "nan_to_num", nan_to_num, input, nan, posinf, neginf)
    if nan is None:
        nan = 0.0
    a = input._data
    if a.dtype.kind != "f":
        return input.clone()
    fi = np.finfo(a.dtype)
    rep = np.where(np.isnan(a), nan, np.where(a > 0, fi.max if posinf is None else posinf,
                                                     fi.min if neginf is None else neginf)).astype(a.dtype)
    return where(Tensor._wrap(np.isfinite(a)), input, Tensor._wrap(rep))


@tensor_method
def positive(input):  # noqa: A002
    """``input`` itself (torch.positive returns the same tensor)."""
    _check_tensor(input, "positive")
    if input.dtype == D.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


@tensor_method(inplace=True)
def fix(input, *, out=None):  # noqa: A002
    """Alias of ``trunc``."""
    if out is not None:
        return _out.into(out, "fix", fix, input)
    return trunc(input)


@tensor_method
def frexp(input, *, out=None):  # noqa: A002
    """(mantissa, exponent) with ``input = mantissa * 2 ** exponent`` (exponent int32)."""
    if out is not None:
        return _out.into(out, "frexp", frexp, input)
    _check_tensor(input, "frexp")
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"torch.frexp() only supports floating-point dtypes, got {input.dtype}")
    m, e = np.frexp(input._data)
    return Tensor._wrap(m), Tensor._wrap(e.astype(np.int32))


@tensor_method
def angle(input, *, out=None):  # noqa: A002
    """The argument of a real number: 0 for x >= 0, pi for x < 0 (nan stays nan); gradient 0."""
    if out is not None:
        return _out.into(out, "angle", angle, input)
    if isinstance(input, Tensor) and input._data.dtype.kind == "c":
        from .complex_ops import Angle

        return Angle()(input)
    x = _floatify(input, "angle")
    d = x._data
    return Tensor._wrap(np.where(d < 0, math.pi, np.where(np.isnan(d), np.nan, 0.0)).astype(d.dtype))


@tensor_method
def isneginf(input, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "isneginf", isneginf, input)
    _check_tensor(input, "isneginf")
    return Tensor._wrap(np.isneginf(input._data) if input._data.dtype.kind == "f" else np.zeros(input.shape, bool))


@tensor_method
def isposinf(input, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "isposinf", isposinf, input)
    _check_tensor(input, "isposinf")
    return Tensor._wrap(np.isposinf(input._data) if input._data.dtype.kind == "f" else np.zeros(input.shape, bool))


@tensor_method
def isreal(input):  # noqa: A002
    """True where the imaginary part is zero (everywhere for a real tensor)."""
    _check_tensor(input, "isreal")
    if input._data.dtype.kind == "c":
        return Tensor._wrap(np.asarray(input._data.imag == 0))
    return Tensor._wrap(np.ones(input._data.shape, dtype=bool))


__all__ = _public(globals())

# Ops of later families, used at call time only. They are imported here, at the end, and every family in
# between is imported first, so the family modules always load in the order of ember/_ops/__init__.py.
from .binary import clamp, where  # noqa: E402
from .. import _out  # noqa: E402

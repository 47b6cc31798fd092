"""Elementwise binary ops: arithmetic with broadcasting and type promotion, ``where``, ``clamp``, and friends."""
from __future__ import annotations

import builtins
import cmath
import math
import numbers

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.engine import BinaryNode, Node
from ._registry import tensor_method
from ._helpers import _check_tensor, _public, _t
from .creation import ones_like, tensor
from .casting import cast
from .unary import _arr, abs


def _promote(a, b, op, to_float=False):
    """Apply torch's type promotion to two operands (tensors or Python numbers)."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if not ta and not tb:
        raise TypeError(f"{op}: expected at least one Tensor")
    if ta and tb:
        da, db = a._data.dtype, b._data.dtype
        if da != db:
            rt = D.result_type_np(da, a._data.ndim == 0, db, b._data.ndim == 0)
            if to_float and rt.kind not in "fc":
                # an integer result type that the op turns into floats: each operand goes to the float type from
                # its own dtype, as torch's (uint8 / tensor(-3) divides by -3, not by -3 as uint8 = 253)
                rt = D.get_default_dtype().np
            if da != rt:
                a = cast(a, D._by_np[rt])
            if db != rt:
                b = cast(b, D._by_np[rt])
    else:
        t, s = (a, b) if ta else (b, a)
        if isinstance(s, (np.ndarray, list, tuple)):
            s = tensor(s)
            return _promote(a if ta else s, s if ta else b, op, to_float)
        if isinstance(s, np.generic):
            s = s.item()
        if not isinstance(s, numbers.Number):
            raise TypeError(f"{op}: unsupported operand type {type(s).__name__} (expected a Tensor or a number)")
        k = t._data.dtype.kind
        if isinstance(s, builtins.bool):
            pass
        elif isinstance(s, numbers.Integral):
            if k == "b":
                t = cast(t, D.int64)
            elif k in "iu" and not to_float:  # (a float result takes the number as it is: uint8 / -3)
                info = np.iinfo(t._data.dtype)
                if not info.min <= s <= info.max and -(2 ** 63) <= s < 2 ** 63:
                    # torch converts the number to the tensor's dtype, wrapping around: uint8 + -3 adds 253,
                    # int8 * 300 multiplies by 44 (and uint8 < 300 compares with 44)
                    s = int(np.array(s, dtype=np.int64).astype(t._data.dtype))
        elif isinstance(s, numbers.Real):
            if k not in "fc":
                t = cast(t, D.get_default_dtype())
            s = float(s)
        else:  # a Python complex: float tensors become complex of their precision, others the default complex
            if k != "c":
                if t._data.dtype == np.float16:
                    raise TypeError(f"{op}: a float16 tensor with a complex number would be complex32, which ember "
                                    "does not have; convert the tensor to float32 first")
                t = cast(t, D.complex_of(D.from_numpy(t._data.dtype) if k == "f" else D.get_default_dtype()))
            s = complex(s)
        a, b = (t, s) if ta else (s, t)
    if to_float:
        for_dt = a._data.dtype if isinstance(a, Tensor) else b._data.dtype
        if for_dt.kind not in "fc":
            dflt = D.get_default_dtype()
            a = cast(a, dflt) if isinstance(a, Tensor) else float(a)
            b = cast(b, dflt) if isinstance(b, Tensor) else float(b)
    return a, b


def _broadcast_error(op, a, b):
    sa = tuple(a.shape) if isinstance(a, Tensor) else ()
    sb = tuple(b.shape) if isinstance(b, Tensor) else ()
    return RuntimeError(
        f"{op}: the shapes {sa} and {sb} are not broadcastable: trailing dimensions must be equal or 1. "
        "Reshape one operand (e.g. with unsqueeze/view) so the dimensions line up."
    )


class _Binary(BinaryNode):
    pass


def _is_complex(x):
    if isinstance(x, complex):
        return True
    dt = getattr(x, "dtype", None)
    if dt is None:
        return False
    return (dt.np if isinstance(dt, D.dtype) else dt).kind == "c"


class Add(_Binary):
    name = "AddBackward0"
    saves = {}
    op = "add"

    def forward(self, a, b):
        return a + b

    def backward(self, ns, g, ins, out):
        return g, g


class Sub(_Binary):
    name = "SubBackward0"
    saves = {}
    op = "sub"

    def forward(self, a, b):
        try:
            return a - b
        except TypeError:  # NumPy refuses bool - bool (the dtype fast path skips sub()'s own check)
            raise TypeError(
                "sub: subtraction, the `-` operator, with bool tensors is not supported; use ^ or logical_xor()"
            ) from None

    def backward(self, ns, g, ins, out):
        return g, (-g if self.needs[1] else None)


class Mul(_Binary):
    name = "MulBackward0"
    saves = {0: (1,), 1: (0,)}
    op = "mul"

    def forward(self, a, b):
        return a * b

    def backward(self, ns, g, ins, out):
        a, b = ins
        need = self.needs
        cj = ns.conj
        return (g * cj(b) if need[0] else None, g * cj(a) if need[1] else None)


class Div(_Binary):
    name = "DivBackward0"
    saves = {0: (1,), 1: (0, 1)}
    op = "div"

    def forward(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return a / b

    def backward(self, ns, g, ins, out):
        a, b = ins
        need = self.needs
        cj = ns.conj
        b = cj(b)
        gb = -g * cj(a) / (b * b) if need[1] else None
        return (g / b if need[0] else None), gb


class Pow(_Binary):
    name = "PowBackward0"
    saves = {0: (0, 1), 1: (0, 1)}
    op = "pow"

    def forward(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.power(a, b)

    def backward(self, ns, g, ins, out):
        a, b = ins
        ga = gb = None
        need = self.needs
        if _is_complex(a) or _is_complex(b):  # holomorphic: g * conj(d out / d input)
            cj = ns.conj
            if need[0]:
                ga = g * cj(b * a ** (b - 1))
                if not isinstance(b, (int, float, complex)):
                    ga = ns.where(ns.value(b) == 0, 0 * ga, ga)
                elif b == 0:
                    ga = 0 * ga
            if need[1]:
                la = ns.log(a) if not isinstance(a, (int, float, complex)) else cmath.log(a)
                gb = g * cj(a ** b * la)
            return ga, gb
        a_t, b_t = not isinstance(a, (int, float)), not isinstance(b, (int, float))
        if need[0]:
            if b_t:
                ga = ns.where(ns.value(b) == 0, 0 * g, g * b * a ** (b - 1))
            else:
                ga = g * 0 if b == 0 else g * b * a ** (b - 1)
        if need[1]:
            if a_t:
                av = ns.value(a)
                safe = ns.where(av < 0, 1 + 0 * a, a)  # log(0) = -inf stays: 0 ** -1 gives inf * -inf, as torch
                gb = ns.where((av == 0) & (ns.value(b) >= 0), 0 * g, g * a ** b * ns.log(safe))
                gb = ns.where(av < 0, math.nan, gb)  # a constant: a nan branch would poison double backward
            elif a > 0:
                gb = g * (a ** b) * math.log(a)
            elif a == 0:  # torch: 0 where the exponent is >= 0, else result * log(0) = inf * -inf
                gb = ns.where(ns.value(b) >= 0, 0 * g, g * (a ** b) * -math.inf)
            else:
                gb = g * math.nan
        return ga, gb


class Maximum(_Binary):
    name = "MaximumBackward0"
    saves = {0: (0, 1), 1: (0, 1)}
    op = "maximum"

    def forward(self, a, b):
        return np.maximum(a, b)

    def backward(self, ns, g, ins, out):
        a, b = ns.value(ins[0]), ns.value(ins[1])
        # ties split the gradient evenly, like torch; a NaN passes the whole gradient to both sides
        tie = (a == b) * 0.5
        return g * ((~(a < b)) * 1.0 - tie), g * ((~(a > b)) * 1.0 - tie)


class Minimum(_Binary):
    name = "MinimumBackward0"
    saves = {0: (0, 1), 1: (0, 1)}
    op = "minimum"

    def forward(self, a, b):
        return np.minimum(a, b)

    def backward(self, ns, g, ins, out):
        a, b = ns.value(ins[0]), ns.value(ins[1])
        tie = (a == b) * 0.5
        return g * ((~(a > b)) * 1.0 - tie), g * ((~(a < b)) * 1.0 - tie)


def _same(a, b):
    """Fast path: both operands already agree on dtype (no promotion needed)."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            return a._data.dtype == b._data.dtype
        return b.__class__ is float and a._data.dtype.kind == "f"
    return a.__class__ is float and isinstance(b, Tensor) and b._data.dtype.kind == "f"



def _alpha_scaled(input, other, alpha, op):
    """``(input, alpha * other)`` for ``add``/``sub`` with ``alpha != 1``: the operands are promoted first, so
    ``alpha * other`` is computed in the result dtype (an int8 or uint8 ``other`` does not wrap around before
    it meets a float ``input``), as torch's."""
    input, other = _promote(input, other, op)
    kind = (input if isinstance(input, Tensor) else other)._data.dtype.kind
    if kind in "iub" and not isinstance(alpha, numbers.Integral):
        raise RuntimeError(f"{op}: for integer or bool tensors, alpha must be an integer, got {alpha!r}; "
                           "convert the tensors to a floating dtype first")
    if kind == "b":  # torch: alpha becomes a bool (add(mask, mask, alpha=2) is mask | mask)
        if not isinstance(other, Tensor):
            return input, builtins.bool(other) and builtins.bool(alpha)
        return input, other * builtins.bool(alpha)
    if isinstance(alpha, builtins.bool):
        raise RuntimeError(f"{op}: a bool alpha is only supported for bool results, got {alpha!r} with "
                           f"{D.from_numpy((input if isinstance(input, Tensor) else other)._data.dtype)} operands")
    return input, other * alpha

@tensor_method(dunder="__add__")
def add(input, other, *, alpha=1, out=None):
    """a + alpha * b with broadcasting."""
    if out is not None:
        return _out.into(out, "add", add, input, other, alpha=alpha)
    if input.__class__ is Tensor and alpha.__class__ is int and alpha == 1:  # the common case first: no promotion
        c = other.__class__
        if (c is Tensor and input._data.dtype is other._data.dtype) or (c is float and input._data.dtype.kind == "f"):
            return Add()(input, other)
    if alpha.__class__ is not bool and alpha == 1 and _same(input, other):
        return Add()(input, other)
    if alpha != 1 or alpha is True:
        input, other = _alpha_scaled(input, other, alpha, "add")
    input, other = _promote(input, other, "add")
    if input.__class__ is not Tensor and not isinstance(input, Tensor):
        return Add()(other, input) if isinstance(other, Tensor) else Add()(input, other)
    return Add()(input, other)


@tensor_method("sub", "subtract", dunder="__sub__")
def sub(input, other, *, alpha=1, out=None):
    """a - alpha * b with broadcasting."""
    if out is not None:
        return _out.into(out, "sub", sub, input, other, alpha=alpha)
    if input.__class__ is Tensor and alpha.__class__ is int and alpha == 1:  # the common case first: no promotion
        c = other.__class__
        if (c is Tensor and input._data.dtype is other._data.dtype) or (c is float and input._data.dtype.kind == "f"):
            return Sub()(input, other)
    if alpha.__class__ is not bool and alpha == 1 and _same(input, other):
        return Sub()(input, other)
    for v in (input, other):
        if isinstance(v, Tensor) and v._data.dtype == np.bool_:
            raise TypeError("sub: subtraction, the `-` operator, with bool tensors is not supported; use ^ or logical_xor()")
    if alpha != 1 or alpha is True:
        input, other = _alpha_scaled(input, other, alpha, "sub")
    input, other = _promote(input, other, "sub")
    return Sub()(input, other)


subtract = sub
tensor_method(subtract, "subtract", inplace=True, method=False)


@tensor_method(dunder="__mul__")
def mul(input, other, *, out=None):
    """a * b with broadcasting."""
    if out is not None:
        return _out.into(out, "mul", mul, input, other)
    if input.__class__ is Tensor:  # the common case first: same dtype, no promotion, no helper call
        c = other.__class__
        if (c is Tensor and input._data.dtype is other._data.dtype) or (c is float and input._data.dtype.kind == "f"):
            return Mul()(input, other)
    if not _same(input, other):
        input, other = _promote(input, other, "mul")
    return Mul()(input, other)


multiply = mul
tensor_method(multiply, "multiply", inplace=True)


@tensor_method(dunder="__truediv__")
def div(input, other, *, rounding_mode=None, out=None):
    """a / b (true division; integer inputs give floats). ``rounding_mode``: None, 'floor' or 'trunc'."""
    if out is not None:
        return _out.into(out, "div", div, input, other, rounding_mode=rounding_mode)
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        a2, b2 = _promote(input, other, "div")
        r = Tensor._wrap(np.trunc(np.true_divide(_arr(a2), _arr(b2))).astype(_res_dtype(a2, b2)))
        return r
    if rounding_mode is not None:
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
    if _same(input, other) and (input if isinstance(input, Tensor) else other)._data.dtype.kind == "f":
        return Div()(input, other)
    input, other = _promote(input, other, "div", to_float=True)
    return Div()(input, other)


divide = true_divide = div
tensor_method(divide, "divide", "true_divide", inplace=True)


def _res_dtype(a, b):
    return (a if isinstance(a, Tensor) else b)._data.dtype


@tensor_method(inplace=True)
def floor_divide(input, other, *, out=None):
    """Floor division (not differentiable)."""
    if out is not None:
        return _out.into(out, "floor_divide", floor_divide, input, other)
    input, other = _promote(input, other, "floor_divide")
    ad, bd = _arr(input), _arr(other)
    if ad.dtype.kind in "iu" and np.any(bd == 0):
        raise ZeroDivisionError("floor_divide: integer division by zero")
    with np.errstate(divide="ignore", invalid="ignore"):
        return Tensor._wrap(np.floor_divide(ad, bd).astype(_res_dtype(input, other), copy=False))


def _plain(x):
    return x._data if isinstance(x, Tensor) else np.asarray(x)


class Remainder(_Binary):
    """``a - round(a / b) * b`` with ``round`` = floor (remainder, the divisor's sign) or trunc (fmod, the
    dividend's sign). The gradient w.r.t. ``b`` is ``-round(a / b)`` (a constant in double backward)."""

    saves = {0: (), 1: (0, 1)}

    def __init__(self, trunc):
        self.trunc = trunc
        self._grad_name = "FmodBackward1" if trunc else "RemainderBackward1"

    def forward(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.fmod(a, b)
            if self.trunc:
                return r
            # torch's float remainder: fmod, then + b where the signs differ; a zero keeps the dividend's sign
            # (-2.5 % 1.25 is -0.0), where NumPy's remainder gives the divisor's
            return np.where((r != 0) & ((r < 0) != (np.asarray(b) < 0)), r + b, r)

    def backward(self, ns, g, ins, out):
        gb = None
        if self.needs[1]:
            a, b = ins
            with np.errstate(divide="ignore", invalid="ignore"):
                av, bv = _plain(a), _plain(b)
                q = np.trunc(np.divide(av, bv)) if self.trunc else np.floor_divide(av, bv)  # -0.5 // inf is -1
            gb = -g * q
        return (g if self.needs[0] else None), gb


def _remainder(input, other, trunc, name):
    input, other = _promote(input, other, name)
    ad, bd = _arr(input), _arr(other)
    if ad.dtype.kind in "iu" and np.any(bd == 0):
        raise ZeroDivisionError(f"{name}: integer division by zero")
    if ad.dtype.kind == "f" or (isinstance(other, Tensor) and bd.dtype.kind == "f"):
        node = Remainder(trunc)
        res = node(input, other)
        if res.grad_fn is not None and not isinstance(other, Tensor):
            node._grad_name = node._grad_name[:-1] + "0"
        return res
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.fmod(ad, bd) if trunc else np.remainder(ad, bd)
        return Tensor._wrap(np.asarray(r).astype(_res_dtype(input, other), copy=False))


@tensor_method(inplace=True)
def remainder(input, other, *, out=None):
    """Python-style remainder (sign of the divisor); gradient 1 w.r.t. a and -floor(a / b) w.r.t. b."""
    if out is not None:
        return _out.into(out, "remainder", remainder, input, other)
    return _remainder(input, other, False, "remainder")


@tensor_method(inplace=True)
def fmod(input, other, *, out=None):
    """C-style remainder (sign of the dividend, as ``math.fmod``); gradient 1 w.r.t. a and -trunc(a / b) w.r.t. b."""
    if out is not None:
        return _out.into(out, "fmod", fmod, input, other)
    return _remainder(input, other, True, "fmod")


@tensor_method(dunder="__pow__")
def pow(input, exponent, *, out=None):
    """a ** b elementwise (also a number ** tensor)."""
    if out is not None:
        return _out.into(out, "pow", pow, input, exponent)
    if isinstance(input, Tensor) and isinstance(exponent, numbers.Integral) and not isinstance(exponent, builtins.bool):
        if input._data.dtype.kind in "iu" and exponent < 0:
            raise RuntimeError("pow: integers to negative integer powers are not allowed; use a float tensor")
    input, exponent = _promote(input, exponent, "pow")
    if builtins.all(isinstance(v, builtins.bool) or (isinstance(v, Tensor) and v._data.dtype == np.bool_)
                    for v in (input, exponent)):  # NumPy's bool ** bool is int8; torch's stays bool (a or not b)
        return Tensor._wrap(np.asarray(np.power(_arr(input), _arr(exponent)).astype(np.bool_)))
    node = Pow()
    out = node(input, exponent)
    if out.grad_fn is not None:
        if isinstance(exponent, Tensor):
            node._grad_name = "PowBackward1" if isinstance(input, Tensor) else "PowBackward2"
            if not isinstance(input, Tensor):
                node._shown_inputs = (1,)  # torch's PowBackward2 has the exponent as its only input
        else:
            node._shown_inputs = (0,)  # PowBackward0: tensor ** number
    return out


@tensor_method(inplace=True)
def square(input, *, out=None):
    if out is not None:
        return _out.into(out, "square", square, input)
    if isinstance(input, Tensor) and input._data.dtype == np.bool_:
        input = cast(input, D.int64)  # torch's square is pow(x, 2): bool gives int64
    return input * input


@tensor_method
def maximum(input, other, *, out=None):
    """Elementwise maximum (NaN propagates; ties split the gradient)."""
    if out is not None:
        return _out.into(out, "maximum", maximum, input, other)
    input, other = _promote(_t(input), _t(other), "maximum")
    return Maximum()(input, other)


@tensor_method
def minimum(input, other, *, out=None):
    """Elementwise minimum."""
    if out is not None:
        return _out.into(out, "minimum", minimum, input, other)
    input, other = _promote(_t(input), _t(other), "minimum")
    return Minimum()(input, other)


class Fmax(_Binary):
    """``fmax``/``fmin``: NaN loses to a number; the gradient goes to the chosen operand, ``input`` at ties
    and where both are NaN (torch's rule)."""

    saves = {0: (0, 1), 1: (0, 1)}

    def __init__(self, is_max):
        self.is_max = is_max
        self._grad_name = "FmaxBackward0" if is_max else "FminBackward0"

    def forward(self, a, b):
        return np.fmax(a, b) if self.is_max else np.fmin(a, b)

    def backward(self, ns, g, ins, out):
        a, b = (_plain(ns.value(v)) for v in ins)
        with np.errstate(invalid="ignore"):
            first = ((a >= b) if self.is_max else (a <= b)) | np.isnan(b)
        z = 0 * g
        need = self.needs
        return (ns.where(first, g, z) if need[0] else None), (ns.where(first, z, g) if need[1] else None)


@tensor_method
def fmax(input, other, *, out=None):
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    if out is not None:
        return _out.into(out, "fmax", fmax, input, other)
    input, other = _promote(_t(input), _t(other), "fmax")
    return Fmax(True)(input, other)


@tensor_method
def fmin(input, other, *, out=None):
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    if out is not None:
        return _out.into(out, "fmin", fmin, input, other)
    input, other = _promote(_t(input), _t(other), "fmin")
    return Fmax(False)(input, other)


class Where(Node):
    """``where(cond, a, b)``; the condition is input 0, so it is saved and version-checked like any value."""

    name = "WhereBackward0"
    saves = {1: (0,), 2: (0,)}

    def forward(self, cond, a, b):
        return np.where(cond, a, b)

    def backward(self, ns, g, ins, out):
        cond = ins[0]
        if isinstance(cond, Tensor):
            cond = cond._data
        z = 0 * g
        need = self.needs
        return None, (ns.where(cond, g, z) if need[1] else None), (ns.where(cond, z, g) if need[2] else None)


def _where_method(self, condition, other):
    """``x.where(condition, y)`` is ``where(condition, x, y)``, as torch."""
    return where(condition, self, other)


tensor_method(_where_method, "where")


def where(condition, input=None, other=None, *, out=None):
    """Pick from ``input`` where ``condition`` holds, else from ``other`` (both differentiable)."""
    if out is not None:
        return _out.into(out, "where", where, condition, input, other)
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    cond = _arr(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: expected condition to be a bool tensor, got {cond.dtype}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = tensor(input)
    for t, s in ((input, other), (other, input)):
        if (isinstance(t, Tensor) and t._data.dtype.kind in "iu" and isinstance(s, numbers.Integral)
                and not isinstance(s, builtins.bool)):
            info = np.iinfo(t._data.dtype)
            lo = -info.max if info.kind == "u" else info.min  # torch's overflow check lets uint8 take -255 .. -1
            if not lo <= s <= info.max:
                raise RuntimeError(f"where: the value {s} cannot be converted to {D.from_numpy(t._data.dtype)} "
                                   f"without overflow (it holds {info.min} .. {info.max}); convert the tensor first")
    a, b = _promote(input, other, "where")
    if isinstance(a, Tensor):
        b = _t(b, like=a)
    else:
        a = _t(a, like=b)  # where(c, 3, float32) is float32, as torch's
    try:
        node = Where()
        res = node(condition if isinstance(condition, Tensor) else cond, a, b)
        if res.grad_fn is not None:
            node._shown_inputs = (1, 2)  # torch's WhereBackward0 lists self and other, not the condition
        return res
    except ValueError:
        raise RuntimeError(
            f"where: condition {tuple(cond.shape)}, input {tuple(a.shape)} and other {tuple(b.shape)} are not broadcastable"
        ) from None


def ns_where(cond, a, b):
    if isinstance(cond, Tensor):
        cond = cond._data
    a, b = _t(a), _t(b)
    return Where()(cond, a, b)


class Clamp(Node):
    name = "ClampBackward1"
    saves = {0: (0,)}
    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        out = x
        if self.lo is not None:
            out = np.maximum(out, self.lo)
        if self.hi is not None:
            out = np.minimum(out, self.hi)
        return out.astype(x.dtype, copy=False)

    def backward(self, ns, g, ins, out):
        x = ns.value(ins[0])
        m = np.ones(x.shape, dtype=bool) if not isinstance(x, Tensor) else ones_like(x, dtype=D.bool_)
        if self.lo is not None:
            m = m & (x >= self.lo)
        if self.hi is not None:
            m = m & (x <= self.hi)
        return (ns.where(m, g, 0 * g),)


@tensor_method
def clamp(input, min=None, max=None, *, out=None):
    """Limit values to [min, max]; the gradient passes where min <= x <= max."""
    if out is not None:
        return _out.into(out, "clamp", clamp, input, min, max, exact_dtype=True)
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_tensor(input, min, max)
    lo = min._data if isinstance(min, Tensor) else min
    hi = max._data if isinstance(max, Tensor) else max
    kind = input._data.dtype.kind
    if kind != "f" and (isinstance(lo, float) or isinstance(hi, float)):
        input = cast(input, D.get_default_dtype())
    elif kind == "b" and any(isinstance(v, numbers.Integral) and not isinstance(v, builtins.bool) for v in (lo, hi)):
        input = cast(input, D.int64)  # torch's promotion: bool with an int bound is int64 (clamp(mask, min=2) is 2)
    return Clamp(lo, hi)(input)


clip = clamp
tensor_method(clip, "clip")


class ClampTensor(Node):
    """``clamp(x, lo, hi)`` with tensor bounds (a missing bound is an infinite constant): torch's gradients,
    x where lo <= x <= hi, lo where x < lo < hi, hi where x > hi or hi < lo (not split at ties)."""

    name = "ClampBackward1"
    saves = {0: (0, 1, 2), 1: (0, 1, 2), 2: (0, 1, 2)}

    def forward(self, x, lo, hi):
        return np.minimum(np.maximum(x, lo), hi)

    def backward(self, ns, g, ins, out):
        x, lo, hi = (_plain(ns.value(v)) for v in ins)
        need = self.needs
        z = 0 * g
        with np.errstate(invalid="ignore"):
            gx = ns.where((x >= lo) & (x <= hi), g, z) if need[0] else None
            glo = ns.where((x < lo) & (lo < hi), g, z) if need[1] else None
            ghi = ns.where((x > hi) | (hi < lo), g, z) if need[2] else None
        return gx, glo, ghi


def _result_type_many(tensors):
    """torch's result type of several tensors: the dimensioned ones promote together, the zero-dim ones
    together, and the zero-dim result decides only where its category is higher."""
    dims = [t._data.dtype for t in tensors if t._data.ndim]
    zeros = [t._data.dtype for t in tensors if not t._data.ndim]
    rd = rz = None
    for d in dims:
        rd = d if rd is None else D.promote_np(rd, d)
    for z in zeros:
        rz = z if rz is None else D.promote_np(rz, z)
    if rd is None or rz is None:
        return rd if rz is None else rz
    return D.result_type_np(rd, False, rz, True)


def _clamp_tensor(input, min, max):  # noqa: A002
    # one result type for input and both bounds, as torch's (pairwise promotion made clamp(int64, 0-d float64,
    # float32) float64: the first pair turned the input into a dimensioned float64)
    ts = [v for v in (input, min, max) if isinstance(v, Tensor)]
    rt = _result_type_many(ts)
    x = cast(input, D._by_np[rt]) if input._data.dtype != rt else input
    if min is not None:
        x, min = _promote(x, min if not isinstance(min, Tensor) or min._data.dtype == rt else cast(min, D._by_np[rt]),
                          "clamp")
    if max is not None:
        x, max = _promote(x, max if not isinstance(max, Tensor) or max._data.dtype == rt else cast(max, D._by_np[rt]),
                          "clamp")
    dt = x._data.dtype
    if dt.kind == "f":
        big = np.inf
    elif dt.kind == "b":
        big = True
    else:
        big = np.iinfo(dt).max
    bounds = []
    small = -big if dt.kind == "f" else (False if dt.kind == "b" else np.iinfo(dt).min)
    for b, default in ((min, small), (max, big)):
        if b is None:
            b = Tensor._wrap(np.asarray(default, dtype=dt))
        b = _t(b, like=x)
        if b._data.dtype != dt:
            b = cast(b, D._by_np[dt])
        bounds.append(b)
    try:
        return ClampTensor()(x, *bounds)
    except ValueError:
        raise RuntimeError(
            f"clamp: input {tuple(input.shape)} and bounds "
            f"{[tuple(b.shape) for b in bounds]} are not broadcastable"
        ) from None


@tensor_method(inplace=True)
def clamp_min(input, min, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "clamp_min", clamp_min, input, min)
    return clamp(input, min=min)


@tensor_method(inplace=True)
def clamp_max(input, max, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "clamp_max", clamp_max, input, max)
    return clamp(input, max=max)


@tensor_method
def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    """x + value * tensor1 * tensor2."""
    if out is not None:
        return _out.into(out, "addcmul", addcmul, input, tensor1, tensor2, value=value)
    return input + tensor1 * tensor2 * value if value != 1 else input + tensor1 * tensor2


@tensor_method
def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    """x + value * tensor1 / tensor2."""
    if out is not None:
        return _out.into(out, "addcdiv", addcdiv, input, tensor1, tensor2, value=value)
    return input + tensor1 / tensor2 * value if value != 1 else input + tensor1 / tensor2


@tensor_method
def lerp(input, end, weight, *, out=None):
    """start + weight * (end - start)."""
    if out is not None:
        return _out.into(out, "lerp", lerp, input, end, weight)
    return input + weight * (end - input)


class Atan2(BinaryNode):
    name = "Atan2Backward0"
    saves = {0: (0, 1), 1: (0, 1)}
    def forward(self, y, x):
        return np.arctan2(y, x)

    def backward(self, ns, g, ins, out):
        y, x = ins
        r2 = x * x + y * y
        return g * x / r2, -g * y / r2


@tensor_method(inplace=True)
def atan2(input, other, *, out=None):  # noqa: A002
    """Elementwise arctan(input / other) in the right quadrant (differentiable)."""
    if out is not None:
        return _out.into(out, "atan2", atan2, input, other)
    y, x = _promote(input, other, "atan2", to_float=True)
    return Atan2()(y, x)


arctan2 = atan2
tensor_method(arctan2, "arctan2", inplace=True)


class Hypot(BinaryNode):
    """``sqrt(a**2 + b**2)`` without overflow (NumPy's ``hypot``); gradients ``g * a / out``, ``g * b / out``."""

    name = "HypotBackward0"
    saves = {0: (0,), 1: (1,)}
    save_out = True

    def forward(self, a, b):
        return np.hypot(a, b)

    def backward(self, ns, g, ins, out):
        a, b = ins
        need = self.needs
        return (g * a / out if need[0] else None), (g * b / out if need[1] else None)


@tensor_method(inplace=True)
def hypot(input, other, *, out=None):
    """``sqrt(input**2 + other**2)`` elementwise, in the promoted floating dtype (integer operands are not
    squared in their own dtype, and large values do not overflow)."""
    if out is not None:
        return _out.into(out, "hypot", hypot, input, other)
    input, other = _promote(input, other, "hypot", to_float=True)
    return Hypot()(input, other)


@tensor_method(inplace=True)
def xlogy(input, other, *, out=None):
    """x * log(y), 0 where x == 0 (like torch.xlogy)."""
    if out is not None:
        return _out.into(out, "xlogy", xlogy, input, other)
    input, other = _promote(input, other, "xlogy", to_float=True)  # torch's result dtype
    if not isinstance(input, Tensor):
        input = _t(input, like=other)
    if not isinstance(other, Tensor):
        other = _t(other, like=input)
    return Xlogy()(input, other)


class Xlogy(_Binary):
    """x * log(y), 0 where x == 0 and y is not NaN. torch's gradients: log(y) for x (0 where x == 0 and
    y <= 0), x / y for y."""

    name = "XlogyBackward0"
    saves = {0: (0, 1), 1: (0, 1)}

    def forward(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((a == 0) & ~np.isnan(b), np.zeros((), a.dtype), a * np.log(b))

    def backward(self, ns, g, ins, out):
        a, b = ins
        av, bv = _plain(ns.value(a)), _plain(ns.value(b))
        need = self.needs
        ga = gb = None
        if need[0]:
            ok = bv > 0
            if ok.all():
                ga = g * ns.log(b)
            else:  # y <= 0 or nan: a constant (a nan branch would poison double backward)
                safe = ns.where(ok, b, 1 + 0 * b)
                gv = _plain(g)
                with np.errstate(divide="ignore", invalid="ignore"):
                    c = np.where((av == 0) & (bv <= 0), 0.0, gv * np.log(bv)).astype(gv.dtype, copy=False)
                ga = ns.where(ok, g * ns.log(safe), c)
        if need[1]:
            gb = g * a / b
        return ga, gb


@tensor_method
def logaddexp(input, other, *, out=None):
    """log(exp(a) + exp(b)), computed stably."""
    if out is not None:
        return _out.into(out, "logaddexp", logaddexp, input, other)
    input, other = broadcast_tensors(*_promote(input, other, "logaddexp"))
    return logsumexp(stack([input, other]), 0)


_LN2 = math.log(2.0)


@tensor_method
def logaddexp2(input, other, *, out=None):  # noqa: A002
    """log2(2**a + 2**b), computed stably (differentiable)."""
    if out is not None:
        return _out.into(out, "logaddexp2", logaddexp2, input, other)
    a, b = _promote(input, other, "logaddexp2", to_float=True)
    return logaddexp(a * _LN2, b * _LN2) / _LN2


@tensor_method(inplace=True)
def copysign(input, other, *, out=None):  # noqa: A002
    """|input| with the sign of ``other`` (gradient flows to ``input``)."""
    if out is not None:
        return _out.into(out, "copysign", copysign, input, other)
    a, b = _promote(input, other, "copysign", to_float=True)
    bd = b._data if isinstance(b, Tensor) else np.asarray(b)
    sign = np.where(np.signbit(bd), -1.0, 1.0)
    a = _t(a, b if isinstance(b, Tensor) else None)
    dt = a._data.dtype
    # the gradient, sign(input) * sign(result), is 0 where input == 0 (as torch)
    return abs(a) * Tensor._wrap(sign.astype(dt))


@tensor_method(inplace=True)
def nextafter(input, other, *, out=None):  # noqa: A002
    """The next float after ``input`` towards ``other`` (not differentiable)."""
    if out is not None:
        return _out.into(out, "nextafter", nextafter, input, other)
    a, b = _promote(input, other, "nextafter")
    return Tensor._wrap(np.nextafter(_arr(a), _arr(b)))


@tensor_method(inplace=True)
def ldexp(input, other, *, out=None):  # noqa: A002
    """``input * 2 ** other`` (differentiable in ``input``)."""
    if out is not None:
        return _out.into(out, "ldexp", ldexp, input, other)
    x, e = _promote(input, other, "ldexp", to_float=True)  # torch's result dtype: float64 exponents widen
    dt = (x if isinstance(x, Tensor) else e)._data.dtype
    e = e._data if isinstance(e, Tensor) else np.asarray(e)
    return x * Tensor._wrap(np.exp2(e.astype(np.float64)).astype(dt))


@tensor_method(inplace=True)
def float_power(input, exponent, *, out=None):  # noqa: A002
    """``input ** exponent`` in float64 (differentiable)."""
    if out is not None:
        return _out.into(out, "float_power", float_power, input, exponent)
    a = cast(input, D.float64) if isinstance(input, Tensor) else float(input)
    b = cast(exponent, D.float64) if isinstance(exponent, Tensor) else float(exponent)
    if not isinstance(a, Tensor):
        a = tensor(a, dtype=D.float64)
    return pow(a, b)


@tensor_method(inplace=True)
def heaviside(input, values, *, out=None):  # noqa: A002
    """0 where input < 0, ``values`` where input == 0, 1 where input > 0 (not differentiable)."""
    if out is not None:
        return _out.into(out, "heaviside", heaviside, input, values)
    _check_tensor(input, "heaviside")
    v = values._data if isinstance(values, Tensor) else np.asarray(values)
    if isinstance(values, Tensor) and values.dtype != input.dtype:
        raise RuntimeError(f"heaviside is not yet implemented for tensors with different dtypes: "
                           f"{input.dtype} and {values.dtype}")
    x = input._data
    return Tensor._wrap(np.where(x == 0, v, x > 0).astype(x.dtype))


def _weak_pair(a, b):
    """The arrays of two promoted operands; a Python number takes the other operand's dtype (as torch)."""
    if not isinstance(a, Tensor):
        bd = b._data
        return np.array(a).astype(bd.dtype), bd
    ad = a._data
    if not isinstance(b, Tensor):
        return ad, np.array(b).astype(ad.dtype)
    return ad, b._data


def _intop(npf, name):
    def f(input, other, *, out=None):  # noqa: A002
        if out is not None:
            return _out.into(out, name, f, input, other)
        a, b = _promote(input, other, name)
        for t in (a, b):
            if isinstance(t, Tensor) and t._data.dtype.kind not in "iub":
                raise RuntimeError(f"{name}: expected integer tensors, got {t.dtype}")
        return Tensor._wrap(np.asarray(npf(*_weak_pair(a, b))))

    f.__name__ = name
    f.__doc__ = f"Elementwise {name} of integer tensors (not differentiable)."
    return f


gcd = _intop(np.gcd, "gcd")
tensor_method(gcd, inplace=True)


lcm = _intop(np.lcm, "lcm")
tensor_method(lcm, inplace=True)


bitwise_left_shift = _intop(np.left_shift, "bitwise_left_shift")
tensor_method(bitwise_left_shift, inplace=True)


bitwise_right_shift = _intop(np.right_shift, "bitwise_right_shift")
tensor_method(bitwise_right_shift, inplace=True)


def rsub(input, other, *, alpha=1):  # noqa: A002
    """``other - alpha * input``."""
    return sub(other, input, alpha=alpha) if isinstance(other, Tensor) else other - input * alpha


__all__ = _public(globals())

# Ops of later families, used at call time only. They are imported here, at the end, and every family in
# between is imported first, so the family modules always load in the order of ember/_ops/__init__.py.
from . import compare  # noqa: E402,F401  (keeps the modules loading in order)
from .reduce import logsumexp  # noqa: E402
from .shape import broadcast_tensors, stack  # noqa: E402
from .index import nonzero  # noqa: E402
from .. import _out  # noqa: E402

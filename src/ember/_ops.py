"""ember's primitive ops: one ``Node`` class per op (forward and backward side by side) and the thin
public functions that call them. Composite ops are written with the primitives and need no
derivative code."""
from __future__ import annotations

import builtins
import math
import numbers

import numpy as np

from . import _dtype as D
from ._backend import device as _device
from ._backend import module_for, to_device as _to_device_array
from ._tensor import CLOCK, Size, Tensor, _View
from .autograd.engine import BinaryNode, MultiNode, Node, UnaryNode
from .autograd.functional_ns import add_at, erf_array
from .autograd.grad_mode import STATE

_pyslice = builtins.slice
_pymax, _pymin, _pysum, _pyabs, _pyround = builtins.max, builtins.min, builtins.sum, builtins.abs, builtins.round

# ============================================================================ argument helpers


def _dim(d, ndim, op="op"):
    """Normalise a possibly negative dimension, with torch's error for one out of range."""
    try:
        d = d.__index__()
    except AttributeError:
        raise TypeError(f"{op}: dim must be an int, got {type(d).__name__}") from None
    n = _pymax(ndim, 1)
    if d < -n or d >= n:
        raise IndexError(
            f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
        )
    return d + n if d < 0 else d


def _dims(dim, ndim, op="op"):
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        out = tuple(_dim(d, ndim, op) for d in dim)
        if len(set(out)) != len(out):
            raise RuntimeError(f"{op}: dim {tuple(dim)} appears multiple times in the list of dims")
        return out
    return (_dim(dim, ndim, op),)


def _shape_arg(shape, op="op"):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        shape = shape[0]
    try:
        return tuple(int(s.__index__()) for s in shape)
    except (AttributeError, TypeError):
        raise TypeError(f"{op}: size must be a tuple of ints, got {shape!r}") from None


def _t(x, like=None):
    """Make ``x`` a Tensor (numbers and arrays become constants)."""
    if isinstance(x, Tensor):
        return x
    return tensor(x) if like is None else tensor(x, dtype=_scalar_dtype(x, like))


def _scalar_dtype(x, like):
    if isinstance(x, builtins.bool):
        return like.dtype
    if isinstance(x, numbers.Integral):
        return like.dtype if like.dtype._kind >= 1 else D.int64
    if isinstance(x, numbers.Real):
        return like.dtype if like.dtype._kind == 2 else D.get_default_dtype()
    return None


# ============================================================================ creation


def _infer_np(data, dtype):
    if isinstance(data, Tensor):
        arr = data._data
        return arr.astype(dtype.np) if dtype is not None and arr.dtype != dtype.np else arr.copy()
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data)
        if dtype is None:
            if arr.dtype.kind == "f" or arr.dtype.kind in "iub":
                D.from_numpy(arr.dtype)
            else:
                raise TypeError(f"ember.tensor: can't convert NumPy array of dtype {arr.dtype}")
        return arr if dtype is None else arr.astype(dtype.np)
    if isinstance(data, (list, tuple)) and builtins.any(isinstance(x, Tensor) for x in _flat(data)):
        data = _to_nested(data)
    try:
        arr = np.array(data, dtype=np.float64) if dtype is not None and dtype.np.kind == "f" else np.array(data)
    except ValueError as e:
        raise ValueError(f"ember.tensor: the data is ragged or malformed ({e}); all rows must have the same length") from None
    except OverflowError:
        arr = np.array(data, dtype=object)
    if arr.dtype == np.uint64 or (arr.dtype == object and _has_big_int(arr)):
        raise RuntimeError(
            "ember.tensor: Overflow when unpacking long: a Python int in the data does not fit in int64 "
            "(range -2**63 .. 2**63-1); pass dtype=ember.float64 to store it as a float"
        )
    if arr.dtype == object:
        raise TypeError(f"ember.tensor: could not infer dtype of {type(data).__name__} data {data!r:.60}")
    if dtype is not None and dtype.np.kind in "iu" and arr.dtype.kind in "iu" and arr.size:
        info = np.iinfo(dtype.np)
        if arr.max() > info.max or arr.min() < info.min:
            raise RuntimeError(f"ember.tensor: value cannot be converted to type {dtype} without overflow "
                               f"(values span {arr.min()} .. {arr.max()}, {dtype} holds {info.min} .. {info.max})")
    if dtype is not None:
        return arr.astype(dtype.np)
    k = arr.dtype.kind
    if k == "f":
        return arr.astype(D.get_default_dtype().np) if not isinstance(data, np.ndarray) else arr
    if k in "iu":
        return arr.astype(np.int64)
    if k == "b":
        return arr
    if k == "c":
        raise TypeError("ember.tensor: complex numbers are not supported")
    raise TypeError(f"ember.tensor: could not infer dtype of {type(data).__name__} data")


class _LegacyType(type):
    """Metaclass of ``FloatTensor`` & co: calling one builds an ember Tensor of its dtype, and
    ``isinstance(t, ember.FloatTensor)`` tests the dtype, as in torch."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj._data.dtype == cls._legacy_dtype.np

    def __call__(cls, *args, device=None):
        return Tensor._wrap(_legacy_new(cls, args, None, device))


def _legacy_type(name, dt):
    return _LegacyType(name, (), {"_legacy_dtype": dt, "__doc__": f"torch's legacy ``{name}``: tensors of {dt}.",
                                  "__module__": __name__})


FloatTensor = _legacy_type("FloatTensor", D.float32)
DoubleTensor = _legacy_type("DoubleTensor", D.float64)
HalfTensor = _legacy_type("HalfTensor", D.float16)
LongTensor = _legacy_type("LongTensor", D.int64)
IntTensor = _legacy_type("IntTensor", D.int32)
ShortTensor = _legacy_type("ShortTensor", D.int16)
CharTensor = _legacy_type("CharTensor", D.int8)
ByteTensor = _legacy_type("ByteTensor", D.uint8)
BoolTensor = _legacy_type("BoolTensor", D.bool_)


def _has_big_int(arr):
    return builtins.any(isinstance(v, numbers.Integral) and not -2 ** 63 <= v < 2 ** 63 for v in arr.reshape(-1))


def _legacy_new(cls, args, dtype, device):
    """The array for torch's legacy constructors: ``Tensor(data)``, ``Tensor(*sizes)``, ``LongTensor(...)``."""
    dt = D.as_dtype(dtype) if dtype is not None else getattr(cls, "_legacy_dtype", None) or D.get_default_dtype()
    if len(args) == 1 and isinstance(args[0], Tensor) and dtype is None and cls is Tensor:
        return args[0]._data  # Tensor(t) shares t's storage, like torch
    if len(args) == 1 and not isinstance(args[0], numbers.Integral) and not isinstance(args[0], Size):
        data = args[0]
        if isinstance(data, (numbers.Number, np.generic)) and not isinstance(data, builtins.bool):
            raise TypeError(
                f"{getattr(cls, '__name__', 'Tensor')}(): new(): data must be a sequence (got {type(data).__name__}); "
                "use ember.tensor(value) for a 0-d tensor"
            )
        return _infer_np(data, dt)
    shape = _shape_arg(args, getattr(cls, "__name__", "Tensor")) if args else (0,)
    if builtins.any(s_ < 0 for s_ in shape):
        raise RuntimeError(f"Tensor(): trying to create tensor with negative dimension in size {shape}")
    arr = np.zeros(shape, dtype=dt.np)
    return _to_device_array(arr, _device(device)) if device is not None else arr


def _flat(x):
    for y in x:
        if isinstance(y, (list, tuple)):
            yield from _flat(y)
        else:
            yield y


def _to_nested(x):
    if isinstance(x, Tensor):
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [_to_nested(y) for y in x]
    return x


def tensor(data, dtype=None, device=None, requires_grad=False):
    """Copy ``data`` (nested lists, numbers, arrays, tensors) into a new leaf tensor.

    >>> ember.tensor([[1, 2], [3, 4]], dtype=ember.float32)
    """
    dt = D.as_dtype(dtype) if dtype is not None else None
    arr = _infer_np(data, dt)
    if device is not None:
        arr = _to_device_array(arr, _device(device))
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with a NumPy array or tensor when no conversion is needed."""
    if isinstance(data, Tensor):
        return data if dtype is None else cast(data, D.as_dtype(dtype))
    if isinstance(data, np.ndarray) and (dtype is None or D.as_dtype(dtype).np == data.dtype):
        D.from_numpy(data.dtype)
        return Tensor._wrap(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a):
    """A tensor sharing memory with NumPy array ``a``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(a).__name__})")
    D.from_numpy(a.dtype)
    return Tensor._wrap(a)


def _creation(fill, size, dtype, device, requires_grad, op, default=None):
    shape = _shape_arg(size, op)
    if builtins.any(s < 0 for s in shape):
        raise RuntimeError(f"{op}: trying to create tensor with negative dimension in size {shape}")
    dt = D.as_dtype(dtype) if dtype is not None else (default or D.get_default_dtype())
    xp = module_for(device)
    arr = xp.full(shape, fill, dtype=dt.np) if fill is not None else xp.empty(shape, dtype=dt.np)
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros: ``ember.zeros(2, 3)``."""
    return _creation(0, size, dtype, device, requires_grad, "zeros")


def ones(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of ones: ``ember.ones(2, 3)``."""
    return _creation(1, size, dtype, device, requires_grad, "ones")


def empty(*size, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor (ember fills it with zeros)."""
    return _creation(0, size, dtype, device, requires_grad, "empty")


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor filled with ``fill_value``; the dtype follows the value's type like torch."""
    if dtype is None:
        if isinstance(fill_value, builtins.bool):
            dtype = D.bool_
        elif isinstance(fill_value, numbers.Integral):
            dtype = D.int64
    if isinstance(size, numbers.Integral):
        size = (size,)
    if isinstance(fill_value, numbers.Integral) and not isinstance(fill_value, builtins.bool) \
            and (dtype is None or not D.as_dtype(dtype).is_floating_point) and not -2 ** 63 <= fill_value < 2 ** 63:
        raise RuntimeError(f"full: value {fill_value} cannot be converted to type int64 without overflow")
    return _creation(fill_value, (tuple(size),), dtype, device, requires_grad, "full")


def _like(x, dtype):
    return D.as_dtype(dtype) if dtype is not None else x.dtype


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    return _creation(0, (x.shape,), _like(x, dtype), device or x.device, requires_grad, "zeros_like")


def ones_like(x, dtype=None, device=None, requires_grad=False):
    return _creation(1, (x.shape,), _like(x, dtype), device or x.device, requires_grad, "ones_like")


def empty_like(x, dtype=None, device=None, requires_grad=False):
    return zeros_like(x, dtype, device, requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    return _creation(fill_value, (x.shape,), _like(x, dtype), device or x.device, requires_grad, "full_like")


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive) by ``step``: ``ember.arange(5)``."""
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if vals[2] == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (vals[1] - vals[0]) * vals[2] < 0:
        raise RuntimeError(
            f"arange: upper bound and larger bound inconsistent with step sign (start={vals[0]}, end={vals[1]}, step={vals[2]})"
        )
    if dtype is None:
        dtype = D.int64 if builtins.all(isinstance(v, numbers.Integral) for v in vals) else D.get_default_dtype()
    dt = D.as_dtype(dtype)
    n = int(math.ceil((vals[1] - vals[0]) / vals[2]))
    arr = (vals[0] + np.arange(n, dtype=np.float64 if dt.is_floating_point else np.int64) * vals[2]).astype(dt.np)
    t = Tensor._wrap(_to_device_array(arr, _device(device)) if device is not None else arr)
    return t.requires_grad_(True) if requires_grad else t


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    arr = np.linspace(start, end, steps, dtype=np.float64).astype(dt.np)
    t = Tensor._wrap(_to_device_array(arr, _device(device)) if device is not None else arr)
    return t.requires_grad_(True) if requires_grad else t


def logspace(start, end, steps, base=10.0, dtype=None):
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    return Tensor._wrap((base ** np.linspace(start, end, steps, dtype=np.float64)).astype(dt.np))


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The identity matrix (``n`` x ``m``)."""
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    arr = np.eye(n, m, dtype=dt.np)
    t = Tensor._wrap(_to_device_array(arr, _device(device)) if device is not None else arr)
    return t.requires_grad_(True) if requires_grad else t


# ============================================================================ casting, devices


class Cast(Node):
    name = "ToCopyBackward0"
    saves = {}

    def __init__(self, np_dtype):
        self.dt = np_dtype

    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dt)

    def backward(self, ns, g, ins, out):
        return (ns.cast(g, self.src),)


def cast(x, dtype):
    """``x`` converted to ``dtype`` (differentiable between floating dtypes)."""
    dt = dtype.np if isinstance(dtype, D.dtype) else D.as_dtype(dtype).np
    if x._data.dtype == dt:
        return x
    if x.requires_grad and dt.kind != "f":
        return Tensor._wrap(x._data.astype(dt))
    return Cast(dt)(x)


def ns_cast(g, np_dtype):
    return cast(g, D.from_numpy(np_dtype))


class ToDevice(Node):
    name = "ToCopyBackward0"
    saves = {}

    def __init__(self, dev):
        self.dev = dev

    def forward(self, x):
        from ._backend import device_of

        self.src = device_of(x)
        return _to_device_array(x, self.dev)

    def backward(self, ns, g, ins, out):
        if isinstance(g, Tensor):
            return (to_device(g, self.src),)
        return (_to_device_array(g, self.src),)


def to_device(x, dev):
    dev = _device(dev)
    if x.device == dev:
        return x
    return ToDevice(dev)(x)


# ============================================================================ elementwise unary


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
        return (g * out,)


class Expm1(_Unary):
    name = "Expm1Backward0"
    saves = {}
    save_out = True

    def forward(self, x):
        return np.expm1(x)

    def backward(self, ns, g, ins, out):
        return (g * (out + 1),)


class Log(_Unary):
    name = "LogBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    def backward(self, ns, g, ins, out):
        return (g / ins[0],)


class Log1p(_Unary):
    name = "Log1PBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    def backward(self, ns, g, ins, out):
        return (g / (ins[0] + 1),)


class Log2(_Unary):
    name = "Log2Backward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log2(x)

    def backward(self, ns, g, ins, out):
        return (g / (ins[0] * math.log(2.0)),)


class Log10(_Unary):
    name = "Log10Backward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(x)

    def backward(self, ns, g, ins, out):
        return (g / (ins[0] * math.log(10.0)),)


class Sqrt(_Unary):
    name = "SqrtBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(x)

    def backward(self, ns, g, ins, out):
        return (g / (2 * out),)


class Rsqrt(_Unary):
    name = "RsqrtBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1 / np.sqrt(x)

    def backward(self, ns, g, ins, out):
        return (g * (-0.5) * out * out * out,)


class Abs(_Unary):
    name = "AbsBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.abs(x)

    def backward(self, ns, g, ins, out):
        return (g * ns.sign(ins[0]),)


class Reciprocal(_Unary):
    name = "ReciprocalBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        with np.errstate(divide="ignore"):
            return 1 / x

    def backward(self, ns, g, ins, out):
        return (-g * out * out,)


class Sin(_Unary):
    name = "SinBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.sin(x)

    def backward(self, ns, g, ins, out):
        return (g * ns.cos(ins[0]),)


class Cos(_Unary):
    name = "CosBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.cos(x)

    def backward(self, ns, g, ins, out):
        return (-g * ns.sin(ins[0]),)


class Tan(_Unary):
    name = "TanBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        return np.tan(x)

    def backward(self, ns, g, ins, out):
        return (g * (1 + out * out),)


class Tanh(_Unary):
    name = "TanhBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        return np.tanh(x)

    def backward(self, ns, g, ins, out):
        return (g * (1 - out * out),)


class Sigmoid(_Unary):
    name = "SigmoidBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        # 1 / (1 + exp(-x)) keeps full relative precision for very negative x; exp may overflow
        # to inf there, which gives the correct limit 0
        with np.errstate(over="ignore"):
            e = np.exp(-x)
        e += 1
        return np.reciprocal(e, out=e)

    def backward(self, ns, g, ins, out):
        return (g * out * (1 - out),)


class Relu(_Unary):
    name = "ReluBackward0"
    saves = {}
    save_out = True

    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, ns, g, ins, out):
        # zero where out <= 0; NaN passes the gradient, like torch's threshold_backward
        if isinstance(g, Tensor) or g.dtype.kind != "f" or g.size < 4096:  # small: fewer NumPy calls win
            return (ns.where(ns.value(out) <= 0, 0.0, g),)
        return (_mask_bits(g, ~(out <= 0)),)


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
        return erf_array(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        return (g * (2.0 / math.sqrt(math.pi)) * ns.exp(-(x * x)),)


class Asin(_Unary):
    name = "AsinBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.arcsin(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        return (g / ns.sqrt(1 - x * x),)


class Acos(_Unary):
    name = "AcosBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.arccos(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        return (-g / ns.sqrt(1 - x * x),)


class Atan(_Unary):
    name = "AtanBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.arctan(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        return (g / (1 + x * x),)


class Sinh(_Unary):
    name = "SinhBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.sinh(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        return (g * (ns.exp(x) + ns.exp(-x)) * 0.5,)


class Cosh(_Unary):
    name = "CoshBackward0"
    saves = {0: (0,)}
    def forward(self, x):
        return np.cosh(x)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        return (g * (ns.exp(x) - ns.exp(-x)) * 0.5,)


def _unary(cls, name):
    def f(x):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(x).__name__}")
        if x._data.dtype.kind != "f":
            x = cast(x, D.get_default_dtype())
        return cls()(x)

    f.__name__ = name
    f.__doc__ = f"Elementwise {name} (differentiable)."
    return f


exp = _unary(Exp, "exp")
expm1 = _unary(Expm1, "expm1")
log = _unary(Log, "log")
log1p = _unary(Log1p, "log1p")
log2 = _unary(Log2, "log2")
log10 = _unary(Log10, "log10")
sqrt = _unary(Sqrt, "sqrt")
rsqrt = _unary(Rsqrt, "rsqrt")
reciprocal = _unary(Reciprocal, "reciprocal")
sin = _unary(Sin, "sin")
cos = _unary(Cos, "cos")
tan = _unary(Tan, "tan")
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")
erf = _unary(Erf, "erf")
asin = arcsin = _unary(Asin, "asin")
acos = arccos = _unary(Acos, "acos")
atan = arctan = _unary(Atan, "atan")
sinh = _unary(Sinh, "sinh")
cosh = _unary(Cosh, "cosh")


def neg(x):
    """Elementwise negation."""
    if x._data.dtype == np.bool_:
        raise TypeError("neg: negation, the `-` operator, on a bool tensor is not supported; use ~ or logical_not()")
    return Neg()(x)


negative = neg


def abs(x):
    """Elementwise absolute value (gradient sign(x), 0 at 0)."""
    return Abs()(x)


absolute = abs


def relu(x):
    """max(x, 0) elementwise."""
    return Relu()(x)


def sign(x):
    """Elementwise sign (no gradient: it is zero almost everywhere)."""
    return Tensor._wrap(np.sign(x._data))


sgn = sign


def _nograd(fn_np, name):
    def f(x, *a, **k):
        return Tensor._wrap(fn_np(x._data, *a, **k))

    f.__name__ = name
    f.__doc__ = f"Elementwise {name} (not differentiable: returns a tensor without grad)."
    return f


floor = _nograd(np.floor, "floor")
ceil = _nograd(np.ceil, "ceil")
trunc = _nograd(np.trunc, "trunc")
isnan = _nograd(np.isnan, "isnan")
isinf = _nograd(np.isinf, "isinf")
isfinite = _nograd(np.isfinite, "isfinite")
signbit = _nograd(np.signbit, "signbit")


def round(x, decimals=0):
    """Round half to even, like torch (not differentiable)."""
    return Tensor._wrap(np.round(x._data, decimals))


def logical_not(x):
    return Tensor._wrap(np.logical_not(x._data))


def logical_and(a, b):
    return Tensor._wrap(np.logical_and(_arr(a), _arr(b)))


def logical_or(a, b):
    return Tensor._wrap(np.logical_or(_arr(a), _arr(b)))


def logical_xor(a, b):
    return Tensor._wrap(np.logical_xor(_arr(a), _arr(b)))


def _arr(x):
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _bitwise(npf, name):
    def f(a, b=None):
        if b is None:  # bitwise_not
            if a._data.dtype.kind not in "iub":
                raise TypeError(f"{name}: only integer and bool tensors are supported, got {a.dtype}")
            return Tensor._wrap(npf(a._data))
        ad, bd = _arr(a), _arr(b)
        for v in (ad, bd):
            if v.dtype.kind not in "iub":
                raise TypeError(f"{name}: only integer and bool tensors are supported, got {v.dtype}")
        return Tensor._wrap(npf(ad, bd))

    f.__name__ = name
    return f


bitwise_not = _bitwise(np.invert, "bitwise_not")
bitwise_and = _bitwise(np.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(np.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor")


# ============================================================================ binary arithmetic


def _promote(a, b, op, to_float=False):
    """Apply torch's type promotion to two operands (tensors or Python numbers)."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if not ta and not tb:
        raise TypeError(f"{op}: expected at least one Tensor")
    if ta and tb:
        da, db = a._data.dtype, b._data.dtype
        if da != db:
            rt = D.result_type_np(da, a._data.ndim == 0, db, b._data.ndim == 0)
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
        elif isinstance(s, numbers.Real):
            if k != "f":
                t = cast(t, D.get_default_dtype())
            s = float(s)
        else:
            raise TypeError(f"{op}: complex numbers are not supported")
        a, b = (t, s) if ta else (s, t)
    if to_float:
        for_dt = a._data.dtype if isinstance(a, Tensor) else b._data.dtype
        if for_dt.kind != "f":
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
        return (g * b if need[0] else None, g * a if need[1] else None)


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
        gb = -g * a / (b * b) if need[1] else None
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
        a_t, b_t = not isinstance(a, (int, float)), not isinstance(b, (int, float))
        if need[0]:
            if b_t:
                ga = ns.where(ns.value(b) == 0, 0 * g, g * b * a ** (b - 1))
            else:
                ga = g * 0 if b == 0 else g * b * a ** (b - 1)
        if need[1]:
            if a_t:
                av = ns.value(a)
                safe = ns.where(av > 0, a, 1 + 0 * a)
                gb = ns.where((av == 0) & (ns.value(b) >= 0), 0 * g, g * a ** b * ns.log(safe))
                gb = ns.where(av < 0, math.nan, gb)  # a constant: a nan branch would poison double backward
            else:
                gb = g * (a ** b) * math.log(a) if a > 0 else (g * 0 if a == 0 else g * math.nan)
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


def add(a, b, *, alpha=1):
    """a + alpha * b with broadcasting."""
    if alpha == 1 and _same(a, b):
        return Add()(a, b)
    if alpha != 1:
        b = b * alpha
    a, b = _promote(a, b, "add")
    if a.__class__ is not Tensor and not isinstance(a, Tensor):
        return Add()(b, a) if isinstance(b, Tensor) else Add()(a, b)
    return Add()(a, b)


def sub(a, b, *, alpha=1):
    """a - alpha * b with broadcasting."""
    if alpha == 1 and _same(a, b):
        return Sub()(a, b)
    if alpha != 1:
        b = b * alpha
    for v in (a, b):
        if isinstance(v, Tensor) and v._data.dtype == np.bool_:
            raise TypeError("sub: subtraction, the `-` operator, with bool tensors is not supported; use ^ or logical_xor()")
    a, b = _promote(a, b, "sub")
    return Sub()(a, b)


subtract = sub


def mul(a, b):
    """a * b with broadcasting."""
    if not _same(a, b):
        a, b = _promote(a, b, "mul")
    return Mul()(a, b)


multiply = mul


def div(a, b, *, rounding_mode=None):
    """a / b (true division; integer inputs give floats). ``rounding_mode``: None, 'floor' or 'trunc'."""
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        a2, b2 = _promote(a, b, "div")
        r = Tensor._wrap(np.trunc(np.true_divide(_arr(a2), _arr(b2))).astype(_res_dtype(a2, b2)))
        return r
    if rounding_mode is not None:
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
    if _same(a, b) and (a if isinstance(a, Tensor) else b)._data.dtype.kind == "f":
        return Div()(a, b)
    a, b = _promote(a, b, "div", to_float=True)
    return Div()(a, b)


divide = true_divide = div


def _res_dtype(a, b):
    return (a if isinstance(a, Tensor) else b)._data.dtype


def floor_divide(a, b):
    """Floor division (not differentiable)."""
    a, b = _promote(a, b, "floor_divide")
    ad, bd = _arr(a), _arr(b)
    if ad.dtype.kind in "iu" and np.any(bd == 0):
        raise ZeroDivisionError("floor_divide: integer division by zero")
    with np.errstate(divide="ignore", invalid="ignore"):
        return Tensor._wrap(np.floor_divide(ad, bd).astype(_res_dtype(a, b), copy=False))


def remainder(a, b):
    """Python-style remainder (sign of the divisor); gradient 1 w.r.t. a."""
    a, b = _promote(a, b, "remainder")
    ad, bd = _arr(a), _arr(b)
    if ad.dtype.kind in "iu" and np.any(bd == 0):
        raise ZeroDivisionError("remainder: integer division by zero")
    if isinstance(a, Tensor) and a.requires_grad:
        q = Tensor._wrap(np.floor_divide(ad, bd))
        return a - q * b
    with np.errstate(divide="ignore", invalid="ignore"):
        return Tensor._wrap(np.remainder(ad, bd).astype(_res_dtype(a, b), copy=False))


fmod = remainder


def pow(a, b):
    """a ** b elementwise (also a number ** tensor)."""
    if isinstance(a, Tensor) and isinstance(b, numbers.Integral) and not isinstance(b, builtins.bool):
        if a._data.dtype.kind in "iu" and b < 0:
            raise RuntimeError("pow: integers to negative integer powers are not allowed; use a float tensor")
    a, b = _promote(a, b, "pow")
    node = Pow()
    out = node(a, b)
    if out.grad_fn is not None and isinstance(b, Tensor):
        node._grad_name = "PowBackward1" if isinstance(a, Tensor) else "PowBackward2"
    return out


def square(x):
    return x * x


def maximum(a, b):
    """Elementwise maximum (NaN propagates; ties split the gradient)."""
    a, b = _promote(_t(a), _t(b), "maximum")
    return Maximum()(a, b)


def minimum(a, b):
    """Elementwise minimum."""
    a, b = _promote(_t(a), _t(b), "minimum")
    return Minimum()(a, b)


fmax, fmin = maximum, minimum


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


def where(condition, input=None, other=None):
    """Pick from ``input`` where ``condition`` holds, else from ``other`` (both differentiable)."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    cond = _arr(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: expected condition to be a bool tensor, got {cond.dtype}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = tensor(input)
    a, b = _promote(input, other, "where")
    a, b = _t(a), _t(b, like=a)
    try:
        return Where()(condition if isinstance(condition, Tensor) else cond, a, b)
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


def clamp(x, min=None, max=None):
    """Limit values to [min, max]; the gradient passes where min <= x <= max."""
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    if builtins.any(isinstance(b, Tensor) and b.requires_grad for b in (min, max)):
        # tensor bounds that require grad get their gradient where they are active, like torch
        out = x if min is None else maximum(x, min)
        return out if max is None else minimum(out, max)
    lo = min._data if isinstance(min, Tensor) else min
    hi = max._data if isinstance(max, Tensor) else max
    if x._data.dtype.kind != "f" and (isinstance(lo, float) or isinstance(hi, float)):
        x = cast(x, D.get_default_dtype())
    return Clamp(lo, hi)(x)


clip = clamp


# ============================================================================ comparisons (no gradient)


def _cmp(npf, name):
    def f(a, b):
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            raise TypeError(f"{name}: expected a Tensor")
        if b is None or a is None:
            return False if name == "eq" else True
        try:
            a2, b2 = _promote(a, b, name)
        except TypeError:
            return NotImplemented
        try:
            return Tensor._wrap(npf(_arr(a2), _arr(b2)))
        except ValueError:
            raise _broadcast_error(name, a2, b2) from None

    f.__name__ = name
    return f


eq = _cmp(np.equal, "eq")
ne = _cmp(np.not_equal, "ne")
lt = less = _cmp(np.less, "lt")
le = less_equal = _cmp(np.less_equal, "le")
gt = greater = _cmp(np.greater, "gt")
ge = greater_equal = _cmp(np.greater_equal, "ge")


def equal(a, b):
    """True if both tensors have the same shape and values."""
    return tuple(a.shape) == tuple(b.shape) and bool(np.array_equal(a._data, b._data))


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.allclose(_arr(a), _arr(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return Tensor._wrap(np.isclose(_arr(a), _arr(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


# ============================================================================ reductions


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
        r = x.sum(axis=self.axes, keepdims=self.keepdim)
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


def sum(x, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim`` (an int, a tuple, or all); integer inputs sum in int64 like torch."""
    if not isinstance(x, Tensor):
        return builtins.sum(x) if dim is None else builtins.sum(x, dim)
    x = _reduce_dtype(x, dtype)
    axes = _dims(dim, x.ndim, "sum")
    if axes == () and isinstance(dim, (tuple, list)):
        axes = None
    node = Sum(axes, keepdim)
    out = node(x)
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


def mean(x, dim=None, keepdim=False, *, dtype=None):
    """Mean over ``dim``; needs a floating tensor (or a dtype=)."""
    if dtype is not None:
        x = cast(x, D.as_dtype(dtype))
    if x._data.dtype.kind != "f":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be floating point, got {x.dtype}; "
            "use x.float().mean() or mean(dtype=ember.float32)"
        )
    axes = _dims(dim, x.ndim, "mean")
    n = x._data.size if axes is None else int(np.prod([x.shape[a] for a in axes]))
    node = Sum(axes if axes != () else None, keepdim, (1.0 / n) if n else math.nan)
    out = node(x)
    if out.grad_fn is not None:
        node._grad_name = "MeanBackward0" if dim is None else "MeanBackward1"
    return out


class Prod(Node):
    name = "ProdBackward0"
    saves = {0: (0,)}
    save_out = True

    def __init__(self, axis, keepdim):
        self.axis, self.keepdim = axis, keepdim

    def forward(self, x):
        return np.prod(x, axis=self.axis, keepdims=self.keepdim)

    def backward(self, ns, g, ins, out):
        x = ins[0]
        axes = None if self.axis is None else (self.axis,)
        if not self.keepdim:
            shp = _keep_shape(x.shape, axes) if axes else (1,) * len(x.shape)
            g = ns.reshape(g, shp)
            out = ns.reshape(out, shp)
        xv = ns.value(x)
        if not (xv == 0).any():
            return (g * out / x,)
        # with zeros: product of the others, computed directly (exclusive products)
        return (g * _prod_others(ns, x, self.axis),)


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


def prod(x, dim=None, keepdim=False, *, dtype=None):
    """Product over one ``dim`` (or all elements)."""
    x = _reduce_dtype(x, dtype)
    axis = None if dim is None else _dim(dim, x.ndim, "prod")
    return Prod(axis, keepdim)(x)


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
        from .autograd.functional_ns import _put_along_add

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
    xx = x if x.ndim else reshape(x, (1,))
    vals = TakeAlong(idx, ax if x.ndim else 0)(xx)
    if not keepdim:
        vals = squeeze(vals, ax) if x.ndim else reshape(vals, ())
        idx = np.squeeze(idx, ax) if x.ndim else idx.reshape(())
    return _ValuesIndices((vals, Tensor._wrap(idx.astype(np.int64))))


def max(x, dim=None, keepdim=False):
    """Largest value; with ``dim`` returns ``(values, indices)``. ``max(a, b)`` is ``maximum``."""
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    if dim is None:
        return amax(x)
    return _minmax_dim(x, dim, keepdim, np.argmax, "max")


def min(x, dim=None, keepdim=False):
    """Smallest value; with ``dim`` returns ``(values, indices)``. ``min(a, b)`` is ``minimum``."""
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    if dim is None:
        return amin(x)
    return _minmax_dim(x, dim, keepdim, np.argmin, "min")


class AMax(Node):
    name = "AmaxBackward0"
    saves = {0: (0,)}
    save_out = True

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
        # evenly distribute among ties, like torch's amax/amin
        m = mask * 1.0
        cnt = m.sum(axis=self.axes, keepdims=True) if not isinstance(m, Tensor) else sum(m, self.axes, True)
        return (ns.where(mask, g / cnt, 0 * g),) if not isinstance(g, Tensor) else (g * (m / cnt),)


def amax(x, dim=None, keepdim=False):
    """Maximum over ``dim`` (gradient shared evenly between ties)."""
    axes = _dims(dim, x.ndim, "amax") if dim not in ((), []) else None
    if x._data.size == 0 and (axes is None or builtins.any(x.shape[a] == 0 for a in axes)):
        raise RuntimeError(f"amax(): cannot reduce over an empty dimension (shape {tuple(x.shape)})")
    return AMax(axes, keepdim, True)(x)


def amin(x, dim=None, keepdim=False):
    """Minimum over ``dim``."""
    axes = _dims(dim, x.ndim, "amin") if dim not in ((), []) else None
    if x._data.size == 0 and (axes is None or builtins.any(x.shape[a] == 0 for a in axes)):
        raise RuntimeError(f"amin(): cannot reduce over an empty dimension (shape {tuple(x.shape)})")
    return AMax(axes, keepdim, False)(x)


def argmax(x, dim=None, keepdim=False):
    """Index of the largest value (flattened when ``dim`` is None)."""
    if dim is None:
        return Tensor._wrap(np.asarray(np.argmax(x._data.reshape(-1)), dtype=np.int64))
    return max(x, dim, keepdim)[1]


def argmin(x, dim=None, keepdim=False):
    if dim is None:
        return Tensor._wrap(np.asarray(np.argmin(x._data.reshape(-1)), dtype=np.int64))
    return min(x, dim, keepdim)[1]


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance; ``correction`` (or ``unbiased``) as torch (default: Bessel's correction 1)."""
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"var(): input dtype must be floating point, got {x.dtype}")
    if x._data.dtype == np.float16:  # accumulate in float32 and return float16, as torch does
        return cast(var(cast(x, D.float32), dim, unbiased, keepdim, correction=correction), D.float16)
    axes = _dims(dim, x.ndim, "var")
    n = x._data.size if axes is None else int(np.prod([x.shape[a] for a in axes]))
    mu = mean(x, axes, keepdim=True)
    d = x - mu
    s = sum(d * d, axes, keepdim)
    denom = n - correction
    return s / denom if denom > 0 else s * math.nan


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation (sqrt of ``var``)."""
    # like torch, the gradient is 0 (not nan) where the values are constant (std == 0)
    return _safe_sqrt(var(x, dim, unbiased, keepdim, correction=correction))


def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


def logsumexp(x, dim, keepdim=False):
    """log(sum(exp(x))) over ``dim``, computed stably (finite for logits of +-1e4)."""
    axes = _dims(dim, x.ndim, "logsumexp")
    if x._data.dtype.kind != "f":
        x = cast(x, D.get_default_dtype())
    m = amax(x, axes, keepdim=True).detach()
    m = where(isfinite(m), m, zeros_like(m))
    s = log(sum(exp(x - m), axes, keepdim=True)) + m
    return s if keepdim else squeeze(s, axes)


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm over ``dim`` (all elements by default); 'fro' is the 2-norm."""
    if dtype is not None:
        x = cast(x, D.as_dtype(dtype))
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"norm(): input dtype must be floating point, got {x.dtype}")
    if x._data.dtype == np.float16:
        return cast(norm(cast(x, D.float32), p, dim, keepdim), D.float16)
    if p in ("fro", 2, 2.0):
        s = sum(x * x, dim, keepdim)
        return _safe_sqrt(s)
    if p in (math.inf, float("inf"), "inf"):
        return amax(abs(x), dim, keepdim)
    if p in (-math.inf, float("-inf")):
        return amin(abs(x), dim, keepdim)
    if p == 1:
        return sum(abs(x), dim, keepdim)
    if p == 0:
        return sum(cast(x != 0, x.dtype), dim, keepdim)
    return pow(sum(pow(abs(x), p), dim, keepdim), 1.0 / p)


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

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return np.cumsum(x, axis=self.axis)

    def backward(self, ns, g, ins, out):
        return (ns.flip(ns.cumsum(ns.flip(g, (self.axis,)), self.axis), (self.axis,)),)


def cumsum(x, dim, *, dtype=None):
    """Cumulative sum along ``dim``."""
    x = _reduce_dtype(x, dtype)
    ax = _dim(dim, x.ndim, "cumsum")
    if x.ndim == 0:
        return x * 1
    return Cumsum(ax)(x)


def ns_cumsum(x, axis):
    return Cumsum(axis)(x)


def cumprod(x, dim):
    ax = _dim(dim, x.ndim, "cumprod")
    parts = []
    acc = None
    for xi in unbind(x, ax):
        acc = xi if acc is None else acc * xi
        parts.append(acc)
    return stack(parts, ax)


def all(x, dim=None, keepdim=False):
    """True where every element (over ``dim``) is nonzero."""
    axes = _dims(dim, x.ndim, "all")
    return Tensor._wrap(np.all(x._data, axis=axes, keepdims=keepdim))


def any(x, dim=None, keepdim=False):
    """True where some element (over ``dim``) is nonzero."""
    axes = _dims(dim, x.ndim, "any")
    return Tensor._wrap(np.any(x._data, axis=axes, keepdims=keepdim))


def count_nonzero(x, dim=None):
    axes = _dims(dim, x.ndim, "count_nonzero")
    return Tensor._wrap(np.asarray(np.count_nonzero(x._data, axis=axes), dtype=np.int64))


# ============================================================================ shape ops


class Reshape(Node):
    name = "ViewBackward0"
    saves = {}

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.src = x.shape
        return x.reshape(self.shape)

    def backward(self, ns, g, ins, out):
        return (ns.reshape(g, self.src),)


def _infer_shape(shape, numel, op, src):
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred (-1), got shape {shape}")
    if builtins.any(s < -1 for s in shape):
        raise RuntimeError(f"{op}: invalid shape dimension in {shape}")
    known = int(np.prod([s for s in shape if s != -1])) if shape else 1
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape {list(shape)} is invalid for input of size {numel} (shape {src})")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(
            f"{op}: shape {list(shape)} is invalid for input of size {numel} (input shape {src}); "
            "the number of elements must stay the same"
        )
    return shape


def reshape(x, *shape):
    """The same values in a new shape (one dim may be -1)."""
    shape = _shape_arg(shape, "reshape")
    shape = _infer_shape(shape, x._data.size, "reshape", tuple(x.shape))
    out = Reshape(shape)(x)
    if np.may_share_memory(out._data, x._data):
        return _make_view(out, x, (reshape, (shape,)))
    return out


def view(x, *shape):
    """Like ``reshape``; ember also accepts non-contiguous inputs (it copies when it must)."""
    shape = _shape_arg(shape, "view")
    shape = _infer_shape(shape, x._data.size, "view", tuple(x.shape))
    if not _viewable(x._data, shape):
        # torch would refuse; ember's kernels may return non-contiguous layouts where torch's are contiguous
        # (e.g. channels-last convolution outputs), so a view that needs a copy is a copy, as reshape does
        return Reshape(shape)(x)
    return _make_view(Reshape(shape)(x), x, (view, (shape,)))


def _viewable(a, shape):
    """Whether NumPy can reshape ``a`` to ``shape`` without a copy (torch's view rule)."""
    try:
        b = a.view()
        b.shape = shape  # raises instead of copying
        return True
    except (AttributeError, ValueError):
        return False


def ns_reshape(x, shape):
    return Reshape(tuple(shape))(x)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim``..``end_dim`` into one."""
    if x.ndim == 0:
        return reshape(x, (1,))
    s = _dim(start_dim, x.ndim, "flatten")
    e = _dim(end_dim, x.ndim, "flatten")
    if s > e:
        raise RuntimeError(f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim})")
    shp = tuple(x.shape)
    return reshape(x, shp[:s] + (-1 if 0 not in shp[s:e + 1] else 0,) + shp[e + 1:])


def unflatten(x, dim, sizes):
    """Split dim ``dim`` into ``sizes``."""
    d = _dim(dim, x.ndim, "unflatten")
    shp = tuple(x.shape)
    sizes = tuple(sizes)
    known = int(np.prod([s for s in sizes if s != -1]))
    if -1 not in sizes and known != shp[d]:
        raise RuntimeError(f"unflatten: provided sizes {sizes} don't multiply up to the size of dim {dim} ({shp[d]}) in the input tensor")
    return reshape(x, shp[:d] + sizes + shp[d + 1:])


class Permute(Node):
    name = "PermuteBackward0"
    saves = {}

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, ns, g, ins, out):
        return (ns.transpose(g, tuple(np.argsort(self.axes))),)


def permute(x, *dims):
    """Reorder dimensions: ``x.permute(2, 0, 1)``."""
    dims = _shape_arg(dims, "permute")
    if len(dims) != x.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the length of the "
            f"desired ordering of dimensions i.e. input.dim() = {x.ndim} is not equal to len(dims) = {len(dims)}"
        )
    axes = _dims(dims, x.ndim, "permute")
    return _make_view(Permute(axes)(x), x, (permute, (axes,)))


def ns_transpose(x, axes):
    return Permute(tuple(axes))(x)


def transpose(x, dim0, dim1):
    """Swap two dimensions."""
    if x.ndim == 0:
        return x
    a, b = _dim(dim0, x.ndim, "transpose"), _dim(dim1, x.ndim, "transpose")
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    node = Permute(tuple(axes))
    node._grad_name = "TransposeBackward0"
    return _make_view(node(x), x, (transpose, (a, b)))


swapaxes = swapdims = transpose


def ns_swap_last(x):
    return transpose(x, -1, -2)


def t(x):
    """Transpose of a tensor of at most 2 dims."""
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D; use transpose or mT")
    if x.ndim < 2:
        return _reshape_view(x, tuple(x.shape), "TBackward0", (t, ()))
    node = Permute((1, 0))
    out = node(x)
    if out.grad_fn is not None:
        node._grad_name = "TBackward0"
    return _make_view(out, x, (t, ()))


def squeeze(x, dim=None):
    """Remove dims of size 1 (all, or those in ``dim``)."""
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        axes = _dims(dim, x.ndim, "squeeze")
        if x.ndim == 0:
            return x
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in axes and s == 1))
    return _reshape_view(x, shape, "SqueezeBackward0" if dim is None else "SqueezeBackward1", (squeeze, (dim,)))


def unsqueeze(x, dim):
    """Insert a dim of size 1 at ``dim``."""
    d = _dim(dim, x.ndim + 1, "unsqueeze")
    shp = tuple(x.shape)
    return _reshape_view(x, shp[:d] + (1,) + shp[d:], "UnsqueezeBackward0", (unsqueeze, (d,)))


def _reshape_view(x, shape, grad_name, step):
    node = Reshape(tuple(shape))
    out = node(x)
    if out.grad_fn is not None:
        node._grad_name = grad_name
    return _make_view(out, x, step)


class Expand(Node):
    name = "ExpandBackward0"
    saves = {}

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.src = x.shape
        return np.broadcast_to(x, self.shape)

    def backward(self, ns, g, ins, out):
        return (ns.sum_to(g, self.src),)


def expand(x, *sizes):
    """Broadcast to a larger shape without copying (-1 keeps a dim)."""
    sizes = _shape_arg(sizes, "expand")
    if len(sizes) < x.ndim:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({x.ndim})"
        )
    lead = len(sizes) - x.ndim
    shape = tuple(
        (x.shape[i - lead] if s == -1 else s) if i >= lead else s for i, s in enumerate(sizes)
    )
    for i in range(x.ndim):
        if x.shape[i] != 1 and x.shape[i] != shape[i + lead]:
            raise RuntimeError(
                f"expand: the expanded size of the tensor ({shape[i + lead]}) must match the existing size "
                f"({x.shape[i]}) at non-singleton dimension {i + lead}. Target sizes: {list(sizes)}. "
                f"Tensor sizes: {list(x.shape)}"
            )
    if shape == tuple(x.shape) and not x.requires_grad:
        return x
    return _make_view(Expand(shape)(x), x, (expand, (shape,)))


broadcast_to = expand


def ns_expand(x, shape):
    return Expand(tuple(shape))(x)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*[tuple(t.shape) for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


def broadcast_shapes(*shapes):
    return Size(np.broadcast_shapes(*shapes))


class Cat(Node):
    name = "CatBackward0"
    saves = {}

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return np.concatenate(xs, axis=self.axis)

    def backward(self, ns, g, ins, out):
        grads = []
        start = 0
        for n in self.sizes:
            idx = (_pyslice(None),) * self.axis + (_pyslice(start, start + n),)
            grads.append(ns.index(g, idx))
            start += n
        return grads


def cat(tensors, dim=0):
    """Join tensors along an existing dim."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
    # torch skips legacy empty 1-D tensors
    tensors = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    ref = tensors[0]
    if ref.ndim == 0:
        raise RuntimeError("cat(): zero-dimensional tensor cannot be concatenated; use stack or unsqueeze first")
    ax = _dim(dim, ref.ndim, "cat")
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or builtins.any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != ax):
            raise RuntimeError(
                f"cat(): sizes of tensors must match except in dimension {ax}: tensor 0 has shape {tuple(ref.shape)} "
                f"but tensor {i} has shape {tuple(t.shape)}"
            )
    dt = ref._data.dtype
    for t in tensors[1:]:
        if t._data.dtype != dt:
            dt = D.promote_np(dt, t._data.dtype)
    tensors = [cast(t, D._by_np[dt]) for t in tensors]
    return Cat(ax)(*tensors)


concat = concatenate = cat


def stack(tensors, dim=0):
    """Join tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack(): expected a non-empty list of Tensors")
    ref = tensors[0]
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"stack(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
        if tuple(t.shape) != tuple(ref.shape):
            raise RuntimeError(
                f"stack(): stack expects each tensor to be equal size, but got {tuple(ref.shape)} at entry 0 "
                f"and {tuple(t.shape)} at entry {i}"
            )
    d = _dim(dim, ref.ndim + 1, "stack")
    if not builtins.any(t.requires_grad for t in tensors):
        dt = np.result_type(*[t._data for t in tensors]) if len({t._data.dtype for t in tensors}) > 1 else ref._data.dtype
        return Tensor._wrap(np.stack([t._data for t in tensors], axis=d).astype(dt, copy=False))
    return cat([unsqueeze(t, d) for t in tensors], d)


def hstack(tensors):
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([t if t.ndim > 1 else unsqueeze(t, 0) for t in tensors], 0)


class Split(MultiNode):
    """All pieces of a split in one node, so backward joins them once (O(n), not O(n^2))."""

    name = "SplitBackward0"
    saves = {}

    def __init__(self, axis, sizes, squeeze):
        self.axis, self.sizes, self.squeeze = axis, sizes, squeeze
        self.n_out = len(sizes)

    def forward(self, x):
        self.meta = (x.shape, x.dtype)
        pre = (_pyslice(None),) * self.axis
        out, start = [], 0
        for n in self.sizes:
            out.append(x[pre + (start if self.squeeze else _pyslice(start, start + n),)])
            start += n
        return tuple(out)

    def backward(self, ns, g, ins, out):
        shape, dt = self.meta
        ax = self.axis
        if builtins.any(isinstance(a, Tensor) for a in g):
            parts = []
            for a, n in zip(g, self.sizes):
                if a is None:
                    sh = shape[:ax] + ((n,) if not self.squeeze else ()) + shape[ax + 1:]
                    a = Tensor._wrap(np.zeros(sh, dtype=dt))
                parts.append(a)
            return ((stack(parts, ax) if self.squeeze else cat(parts, ax)),)
        res = np.empty(shape, dtype=dt)
        pre = (_pyslice(None),) * ax
        start = 0
        for a, n in zip(g, self.sizes):
            idx = pre + (start if self.squeeze else _pyslice(start, start + n),)
            if a is None:
                res[idx] = 0
            else:
                res[idx] = a
            start += n
        return (res,)


def _split_views(x, ax, sizes, squeeze):
    node = Split(ax, tuple(sizes), squeeze)
    outs = node(x)
    if squeeze:
        node._grad_name = "UnbindBackward0"
    res = []
    start = 0
    for t, n in zip(outs, sizes):
        v = _make_view(t, x, (select, (ax, start)) if squeeze else (narrow, (ax, start, n)))
        v._multi = ("Unbind" if squeeze else "Split", len(res))
        res.append(v)
        start += n
    return tuple(res)


def split(x, split_size_or_sections, dim=0):
    """Split into chunks of a size (the last may be smaller) or of the given sizes."""
    ax = _dim(dim, x.ndim, "split")
    n = x.shape[ax]
    if isinstance(split_size_or_sections, numbers.Integral):
        s = int(split_size_or_sections)
        if s <= 0 and n > 0:
            raise RuntimeError(f"split: split_size must be positive, got {s}")
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s > 0 else [0]
    else:
        sizes = [int(v) for v in split_size_or_sections]
        if builtins.any(v < 0 for v in sizes) or builtins.sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {ax}), "
                f"but got split_sizes={sizes}"
            )
    if not sizes:
        return ()
    return _split_views(x, ax, sizes, False)


def chunk(x, chunks, dim=0):
    """Split into ``chunks`` pieces of equal size (the last may be smaller), like torch."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    ax = _dim(dim, x.ndim, "chunk")
    n = x.shape[ax]
    size = -(-n // chunks) if n else 1
    return split(x, _pymax(size, 1), ax)


def tensor_split(x, sections, dim=0):
    ax = _dim(dim, x.ndim, "tensor_split")
    n = x.shape[ax]
    if isinstance(sections, numbers.Integral):
        q, r = divmod(n, sections)
        sizes = [q + 1] * r + [q] * (sections - r)
    else:
        bounds = [0] + list(sections) + [n]
        sizes = [_pymax(0, b - a) for a, b in zip(bounds[:-1], bounds[1:])]
    return split(x, sizes, ax)


def unbind(x, dim=0):
    """Remove ``dim``, returning the slices along it (one node: backward stacks the gradients once)."""
    ax = _dim(dim, x.ndim, "unbind")
    n = x.shape[ax]
    if n == 0:
        return ()
    return _split_views(x, ax, [1] * n, True)


def narrow(x, dim, start, length):
    """The slice ``start:start+length`` of dim ``dim`` (a view)."""
    ax = _dim(dim, x.ndim, "narrow")
    n = x.shape[ax]
    if start < 0:
        start += n
    if start < 0 or length < 0 or start + length > n:
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n}) of dim {ax}")
    idx = (_pyslice(None),) * ax + (_pyslice(start, start + length),)
    return getitem(x, idx)


def select(x, dim, index):
    """Index ``index`` along ``dim``, removing the dim."""
    ax = _dim(dim, x.ndim, "select")
    n = x.shape[ax]
    if index < -n or index >= n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {tuple(x.shape)} at dimension {ax}")
    return getitem(x, (_pyslice(None),) * ax + (index,))


class Flip(Node):
    name = "FlipBackward0"
    saves = {}

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return np.flip(x, self.axes)

    def backward(self, ns, g, ins, out):
        return (ns.flip(g, self.axes),)


def flip(x, dims):
    """Reverse the order of elements along ``dims``."""
    axes = _dims(dims if isinstance(dims, (tuple, list)) else (dims,), x.ndim, "flip")
    return Flip(axes)(x)


def ns_flip(x, axes):
    return Flip(tuple(axes))(x)


def fliplr(x):
    return flip(x, (1,))


def flipud(x):
    return flip(x, (0,))


class Roll(Node):
    name = "RollBackward0"
    saves = {}

    def __init__(self, shifts, axes):
        self.shifts, self.axes = shifts, axes

    def forward(self, x):
        return np.roll(x, self.shifts, self.axes)

    def backward(self, ns, g, ins, out):
        neg_ = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return (ns.roll(g, neg_, self.axes),)


def roll(x, shifts, dims=None):
    """Shift elements cyclically along ``dims`` (flattened when None)."""
    if dims is None:
        return reshape(Roll(int(shifts) if not isinstance(shifts, (tuple, list)) else shifts[0], None)(flatten(x)), x.shape)
    if isinstance(shifts, (tuple, list)):
        axes = _dims(dims, x.ndim, "roll")
        if len(shifts) != len(axes):
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims: {len(axes)}")
        return Roll(tuple(shifts), axes)(x)
    return Roll(int(shifts), _dim(dims, x.ndim, "roll"))(x)


def ns_roll(x, shifts, axes):
    return Roll(shifts, axes)(x)


class Tri(Node):
    name = "TrilBackward0"
    saves = {}

    def __init__(self, k, lower):
        self.k, self.lower = k, lower

    def forward(self, x):
        return np.tril(x, self.k) if self.lower else np.triu(x, self.k)

    def backward(self, ns, g, ins, out):
        return ((ns.tril if self.lower else ns.triu)(g, self.k),)


def tril(x, diagonal=0):
    """Lower triangle (the rest zeroed)."""
    if x.ndim < 2:
        raise RuntimeError(f"tril: input tensor must have at least 2 dimensions, got {x.ndim}")
    return Tri(diagonal, True)(x)


def triu(x, diagonal=0):
    """Upper triangle (the rest zeroed)."""
    if x.ndim < 2:
        raise RuntimeError(f"triu: input tensor must have at least 2 dimensions, got {x.ndim}")
    return Tri(diagonal, False)(x)


def ns_tril(x, k):
    return Tri(k, True)(x)


def ns_triu(x, k):
    return Tri(k, False)(x)


def repeat(x, *sizes):
    """Tile the tensor ``sizes`` times along each dim (torch's ``repeat``)."""
    sizes = _shape_arg(sizes, "repeat")
    if len(sizes) < x.ndim:
        raise RuntimeError(
            f"repeat: number of repeat dims ({len(sizes)}) can not be smaller than number of dimensions of tensor ({x.ndim})"
        )
    lead = len(sizes) - x.ndim
    xs = reshape(x, (1,) * lead + tuple(x.shape))
    shp = tuple(xs.shape)
    # (r0, s0, r1, s1, ...) -> expand then merge
    inter = []
    for s in shp:
        inter += [1, s]
    y = reshape(xs, tuple(inter))
    target = []
    for r, s in zip(sizes, shp):
        target += [r, s]
    y = expand(y, tuple(target))
    return reshape(y, tuple(r * s for r, s in zip(sizes, shp)))


def tile(x, dims):
    """Like ``repeat``; missing leading dims count as 1."""
    dims = tuple(dims)
    if len(dims) < x.ndim:
        dims = (1,) * (x.ndim - len(dims)) + dims
    return repeat(x, dims)


def repeat_interleave(x, repeats, dim=None):
    if dim is None:
        x = flatten(x)
        dim = 0
    ax = _dim(dim, x.ndim, "repeat_interleave")
    if isinstance(repeats, Tensor):
        repeats = repeats._data
    idx = np.repeat(np.arange(x.shape[ax]), repeats)
    return index_select(x, ax, Tensor._wrap(idx))


def contiguous(x):
    """``x`` itself when its memory is C-contiguous, else a C-contiguous copy (in the graph)."""
    return x if x._data.flags.c_contiguous else clone(x)


def clone(x):
    """A copy that stays in the graph (gradient flows back to ``x``)."""
    return Clone()(x)


class Clone(Node):
    name = "CloneBackward0"
    saves = {}

    def forward(self, x):
        return x.copy()

    def backward(self, ns, g, ins, out):
        return (g,)


# ============================================================================ indexing


def _norm_index(x, idx, op="index"):
    """Turn a Python/tensor index into a NumPy index, checking bounds with a clear error."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    out = []
    dim = 0
    ndim = x.ndim
    n_consumed = builtins.sum(
        (i.ndim if isinstance(i, Tensor) and i._data.dtype == np.bool_ else
         (np.asarray(i).ndim if isinstance(i, np.ndarray) and i.dtype == np.bool_ else
          (0 if i is None or i is Ellipsis else 1)))
        for i in idx
    )
    if n_consumed > ndim:
        raise IndexError(f"{op}: too many indices for tensor of dimension {ndim} (got {n_consumed})")
    guards = []
    for i in idx:
        if i is Ellipsis:
            out.append(i)
            dim = ndim - (n_consumed - dim)
            continue
        if i is None:
            out.append(None)
            continue
        if isinstance(i, Tensor):
            a = i._data
            guards.append(i)
        elif isinstance(i, (list, tuple)):
            a = np.asarray(i)
            if a.dtype == object or (a.size and a.dtype.kind not in "iub"):
                raise IndexError(f"{op}: tensors used as indices must be long, int, bool or byte tensors")
            if a.size == 0:
                a = a.astype(np.int64)
        elif isinstance(i, np.ndarray):
            a = i.copy()  # like torch, a NumPy index is taken by value: later changes to it change nothing
        else:
            a = None
        if a is not None:
            if a.dtype == np.bool_:
                shp = tuple(x.shape[dim:dim + a.ndim])
                if a.shape != shp:
                    raise IndexError(
                        f"{op}: the shape of the mask {a.shape} at index {dim} does not match the shape of the "
                        f"indexed tensor {tuple(x.shape)}"
                    )
                out.append(a)
                dim += a.ndim
                continue
            if a.dtype.kind not in "iu":
                raise IndexError(
                    f"{op}: tensors used as indices must be long, int, bool or byte tensors, got {a.dtype}"
                )
            n = x.shape[dim]
            if a.size and (a.max() >= n or a.min() < -n):
                bad = a.max() if a.max() >= n else a.min()
                raise IndexError(
                    f"{op}: index {int(bad)} is out of bounds for dimension {dim} with size {n}"
                )
            out.append(a)
            dim += 1
            continue
        if isinstance(i, _pyslice):
            out.append(i)
            dim += 1
            continue
        try:
            k = i.__index__()
        except AttributeError:
            raise IndexError(
                f"{op}: only integers, slices (`:`), ellipsis (`...`), None and long or bool tensors are valid "
                f"indices (got {type(i).__name__})"
            ) from None
        n = x.shape[dim]
        if k >= n or k < -n:
            raise IndexError(f"{op}: index {k} is out of bounds for dimension {dim} with size {n}")
        out.append(k)
        dim += 1
    return tuple(out), guards


def _is_basic(idx):
    return builtins.all(i is None or i is Ellipsis or isinstance(i, (int, _pyslice)) for i in idx)


class Index(Node):
    name = "IndexBackward0"
    saves = {}

    def __init__(self, idx):
        self.idx = idx

    def forward(self, x):
        self.shape = x.shape
        r = x[self.idx]
        if r.__class__ is not np.ndarray and _is_basic(self.idx):
            r = x[self.idx + (Ellipsis,)]  # all-integer index: a 0-d view, not a scalar copy
        return r

    def backward(self, ns, g, ins, out):
        return (ns.index_zeros(self.shape, self.idx, g, not _is_basic(self.idx)),)


class IndexZeros(Node):
    name = "IndexZerosBackward0"
    saves = {}

    def __init__(self, shape, idx, accumulate):
        self.shape, self.idx, self.accumulate = shape, idx, accumulate

    def forward(self, g):
        z = np.zeros(self.shape, dtype=g.dtype)
        if self.accumulate:
            add_at(z, self.idx, g)
        else:
            z[self.idx] = g
        return z

    def backward(self, ns, g, ins, out):
        return (ns.index(g, self.idx),)


def ns_index(x, idx):
    return Index(idx)(x)


def ns_index_zeros(shape, idx, g, accumulate=True):
    return IndexZeros(shape, idx, accumulate)(g)


def ns_value(x):
    return x.detach() if isinstance(x, Tensor) else x


def getitem(x, idx):
    """``x[idx]`` with ints, slices, None, ..., integer and boolean tensors/lists."""
    if x.ndim == 0 and not (idx is None or idx is Ellipsis or (isinstance(idx, tuple) and builtins.all(i is None or i is Ellipsis for i in idx))):
        if not (isinstance(idx, Tensor) and idx._data.dtype == np.bool_):
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` to convert a 0-dim tensor to a number")
    nidx, guards = _norm_index(x, idx, "index")
    node = Index(nidx)
    out = node(x)
    if _is_basic(nidx):
        if out.grad_fn is not None:
            node._grad_name = _basic_index_name(nidx)
        return _make_view(out, x, (getitem, (nidx,)))
    if guards and out.grad_fn is not None:
        node.guard(guards)
    return out


def _basic_index_name(nidx):
    real = [i for i in nidx if i is not None and i is not Ellipsis]
    if builtins.any(isinstance(i, builtins.int) for i in real):
        return "SelectBackward0"
    if builtins.any(isinstance(i, _pyslice) and i != _pyslice(None) for i in real):
        return "SliceBackward0"
    return "AliasBackward0" if not builtins.any(i is None for i in nidx) else "UnsqueezeBackward0"


def _make_view(out, x, step):
    """Mark ``out`` (whose array is a NumPy view of ``x``'s) as a view of ``x``'s root, re-derivable by
    replaying the view ops ``step`` after those of ``x`` (see ``_tensor._View``)."""
    base = x._base
    if base is None:
        root, steps = x, (step,)
    else:
        root, steps = base, x._vsteps + (step,)
    d = out.__dict__
    gf = d.pop("grad_fn", None)
    rg = d.pop("requires_grad", False)
    out.__class__ = _View
    out._gf, out._rg = gf, rg
    out._base = root
    vr = x._vroot
    out._vroot = x if vr is None else vr
    out._vsteps = steps
    out._stamp = root._hist
    out._vgrad = STATE.enabled
    return out


class IndexPut(Node):
    """``x[idx] = v`` as a recorded out-of-place op (the base for ``__setitem__`` in graphs)."""

    name = "IndexPutBackward0"
    saves = {}

    def __init__(self, idx):
        self.idx = idx

    def forward(self, x, v):
        out = x.copy()
        out[self.idx] = v
        self.vshape = np.shape(v)
        return out

    def backward(self, ns, g, ins, out):
        gv = ns.index(g, self.idx)
        # the overwritten positions of x get no gradient; the written value gets what reached them
        gx = g - ns.index_zeros(g.shape, self.idx, gv, False)
        return gx, gv


def setitem(x, idx, value):
    nidx, guards = _norm_index(x, idx, "index assignment")
    if isinstance(value, Tensor):
        vdata = value._data
    else:
        vdata = value
    recording = STATE.enabled and (x.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
    if not recording:
        _check_writable(x, "index assignment")
        try:
            x._data[nidx] = vdata
        except ValueError as e:
            raise RuntimeError(
                f"index assignment: cannot assign a value of shape {np.shape(vdata)} to the selection of shape "
                f"{x._data[nidx].shape} of a tensor of shape {tuple(x.shape)} ({e})"
            ) from None
        x._bump()
        return
    v = value if isinstance(value, Tensor) else tensor(value, dtype=x.dtype)
    if v._data.dtype != x._data.dtype:
        v = cast(v, x.dtype)

    def make(old):
        out = IndexPut(nidx)(old, v)
        if guards and out.grad_fn is not None:
            out.grad_fn.guard(guards)
        return out

    _rebase(x, make, "index assignment")


def _leaf_inplace_msg(op):
    return (
        f"a leaf Variable that requires grad is being used in an in-place operation ({op}). "
        "Wrap the update in `with ember.no_grad():` (e.g. for parameter updates), or clone() the tensor first."
    )


def _check_writable(x, op):
    if not x._data.flags.writeable:
        if x._base is not None:
            raise RuntimeError(
                f"{op}: unsupported operation: more than one element of the written-to tensor (shape "
                f"{tuple(x.shape)}, a view made by expand/broadcast) refers to a single memory location. "
                "Please clone() the tensor before performing the operation."
            )
        x._data = x._data.copy()  # a tensor made from a read-only array (torch warns and writes too)


def _snapshot(x):
    """A copy of ``x``'s values with ``x``'s autograd identity: what an in-place op reads as its 'self'."""
    old = Tensor._wrap(x._data.copy())
    if x.requires_grad:
        old.requires_grad = True
        old.grad_fn = x.grad_fn
        old._out_idx = x._out_idx
    return old


def _apply_steps(t, steps):
    """Re-derive a view from its root by replaying its view ops (tensors: recorded; arrays: plain)."""
    if isinstance(t, Tensor):
        for fn, args in steps:
            t = fn(t, *args)
        return t
    with _no_record():
        r = Tensor._wrap(t)
        for fn, args in steps:
            r = fn(r, *args)
    return r._data


class CopySlices(Node):
    """A root's new history after an in-place op on one of its views (torch's ``CopySlices``): the root
    with the view's region replaced by ``value``. Recorded with ``record_as`` after the write; it saves
    nothing: backward routes the view region of the gradient to ``value`` and the rest to the old root."""

    name = "CopySlices"
    saves = {}

    def __init__(self, steps, shape, np_dtype):
        self.steps, self.shape, self.dt = steps, shape, np_dtype

    def backward(self, ns, g, ins, out):
        need = self.needs
        gv = None
        if need[1]:
            gv = _apply_steps(g, self.steps)
            if not isinstance(gv, Tensor):
                gv = gv.copy()
        gb = None
        if need[0]:
            m = np.ones(self.shape, dtype=self.dt)
            _apply_steps(m, self.steps)[...] = 0
            gb = g * (Tensor._wrap(m) if isinstance(g, Tensor) else m)
        return gb, gv


def _rebase(x, make, op):
    """Run a recorded in-place op on ``x``: compute ``make(old)`` out of place, write the result into ``x``'s
    storage, and rewrite the history: ``x``'s own (a root), or its root's through ``CopySlices`` (a view),
    as torch's rebase_history does. Views of the root regenerate their grad_fn on next use."""
    root = x._base
    if root is None and x.requires_grad and x.grad_fn is None:
        raise RuntimeError(_leaf_inplace_msg(op))
    if root is not None and root.requires_grad and root.grad_fn is None:
        raise RuntimeError(
            f"a view of a leaf Variable that requires grad is being used in an in-place operation ({op}; the "
            f"view has shape {tuple(x.shape)}, its leaf {tuple(root.shape)}). Wrap the update in "
            "`with ember.no_grad():`, or clone() the leaf first."
        )
    multi = x.__dict__.get("_multi")
    if multi is not None and root is not None and root.requires_grad:
        raise RuntimeError(
            f"Output {multi[1]} of {multi[0]} is a view and is being modified inplace ({op}, shape {tuple(x.shape)}). "
            "This view is one of several outputs of split/chunk/unbind, and in-place changes to such views are "
            "forbidden as in torch. Replace the in-place op with an out-of-place one, or clone() the piece first."
        )
    old = _snapshot(x)
    res = make(old)
    rd = res._data
    if rd.shape != x._data.shape:
        raise RuntimeError(
            f"{op}: the result of shape {tuple(res.shape)} cannot be written into the tensor of shape "
            f"{tuple(x.shape)} (in-place ops can't broadcast the tensor being changed)"
        )
    if rd.dtype != x._data.dtype:
        if not np.can_cast(rd.dtype, x._data.dtype, "same_kind"):
            raise RuntimeError(f"{op}: result type {D._by_np[rd.dtype]} can't be cast to the desired output type "
                               f"{x.dtype}")
        res = cast(res, x.dtype)
        rd = res._data
    _check_writable(x, op)
    x._data[...] = rd
    x._bump()
    if root is None:
        fn = res.grad_fn
        x.grad_fn = fn
        x.requires_grad = res.requires_grad
        x._out_idx = res._out_idx
        if fn is not None and fn.out_saved is not None and not isinstance(fn.out_saved[0], tuple):
            # the op's saved output is now x's storage: a later change of x must be caught
            import weakref

            fn.out_saved = (x._data, (weakref.ref(x),), x._version)
            fn.rec_clock = CLOCK.now
        x._hist += 1
        return x
    node = CopySlices(x._vsteps, root._data.shape, root._data.dtype)
    node.record_as((root,), (root, res))
    root._hist += 1  # every view of root (x too) now derives its grad_fn from CopySlices
    return x


def _needs_record(x, other):
    if not STATE.enabled:
        return False
    if x.requires_grad:
        return True
    if isinstance(other, Tensor):
        return other.requires_grad
    if isinstance(other, tuple):
        return builtins.any(isinstance(o, Tensor) and o.requires_grad for o in other)
    return False


_INPLACE = {
    "add": lambda a, b: add(a, b),
    "sub": lambda a, b: sub(a, b),
    "mul": lambda a, b: mul(a, b),
    "div": lambda a, b: div(a, b),
    "pow": lambda a, b: pow(a, b),
    "clamp": lambda a, b: clamp(a, *b),
    "copy": lambda a, b: _copy_src(a, b),
    "masked_fill": lambda a, b: masked_fill(a, *b),
    "exp": lambda a, b: exp(a),
    "neg": lambda a, b: neg(a),
    "relu": lambda a, b: relu(a),
    "sqrt": lambda a, b: sqrt(a),
}


def _copy_src(a, src):
    src = src if isinstance(src, Tensor) else tensor(src)
    s = cast(src, a.dtype) if src._data.dtype != a._data.dtype else src
    if tuple(s.shape) != tuple(a.shape):
        s = expand(s, tuple(a.shape))
    return a * 0 + s if a.requires_grad else s * 1


def inplace(x, opname, other):
    """The in-place ops (``add_`` ...): written into ``x``'s storage, recorded when needed."""
    if _needs_record(x, other):
        return _rebase(x, lambda old: _INPLACE[opname](old, other), opname + "_")
    with _no_record():
        res = _INPLACE[opname](x, other)
    rd = res._data
    if rd.shape != x._data.shape:
        raise RuntimeError(
            f"{opname}_: output with shape {tuple(x.shape)} doesn't match the broadcast shape {tuple(rd.shape)}"
        )
    if rd.dtype != x._data.dtype and not np.can_cast(rd.dtype, x._data.dtype, "same_kind"):
        raise RuntimeError(
            f"{opname}_: result type {D._by_np[rd.dtype]} can't be cast to the desired output type {x.dtype}"
        )
    _check_writable(x, opname + "_")
    x._data[...] = rd
    x._bump()
    return x


class _no_record:
    def __enter__(self):
        self.prev = STATE.enabled
        STATE.enabled = False

    def __exit__(self, *a):
        STATE.enabled = self.prev


def inplace_fill(x, value):
    if _needs_record(x, value):
        if isinstance(value, Tensor) and value.requires_grad:
            return _rebase(x, lambda old: old * 0 + expand(cast(value, x.dtype), tuple(x.shape)), "fill_")
        v = value.item() if isinstance(value, Tensor) else value
        return _rebase(x, lambda old: old * 0 + v, "fill_")
    _check_writable(x, "fill_")
    x._data[...] = value._data if isinstance(value, Tensor) else value
    x._bump()
    return x


def inplace_random(x, kind, a, b, generator):
    from ._random import _gen

    g = _gen(generator)
    with _no_record():
        if kind == "uniform":
            vals = g.np.uniform(a, b, size=x._data.shape)
        elif kind == "bernoulli":
            vals = g.np.random(size=x._data.shape) < _arr(a)
        elif kind == "exponential":
            vals = g.np.exponential(1.0 / a, size=x._data.shape)
        elif kind == "random":
            vals = g.np.integers(a, b, size=x._data.shape)
        else:
            vals = g.np.normal(a, b, size=x._data.shape)
    if STATE.enabled and x.requires_grad:
        vt = Tensor._wrap(np.asarray(vals).astype(x._data.dtype))
        return _rebase(x, lambda old: old * 0 + vt, kind + "_")
    _check_writable(x, kind + "_")
    x._data[...] = vals
    x._bump()
    return x


def index_select(x, dim, index):
    """Rows of ``x`` along ``dim`` picked by a 1-D integer ``index``."""
    ax = _dim(dim, x.ndim, "index_select")
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got shape {idx.shape}")
    if idx.dtype.kind not in "iu":
        raise IndexError(f"index_select(): Expected dtype int32/int64 for index but got {idx.dtype}")
    n = x.shape[ax] if x.ndim else 1
    if idx.size and (idx.max() >= n or idx.min() < -n):
        bad = int(idx.max() if idx.max() >= n else idx.min())
        raise IndexError(f"index_select(): index {bad} is out of range for dimension {ax} with size {n}")
    return getitem(x, (_pyslice(None),) * ax + (idx.reshape(-1),))


def _check_gather_index(x, ax, idx, op):
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {idx.dtype}")
    if idx.ndim != x.ndim:
        raise RuntimeError(
            f"{op}(): Index tensor must have the same number of dimensions as input tensor "
            f"(index {idx.shape}, input {tuple(x.shape)})"
        )
    n = x.shape[ax]
    if idx.size and (idx.max() >= n or idx.min() < -n):
        bad = int(idx.max() if idx.max() >= n else idx.min())
        raise IndexError(f"{op}(): index {bad} is out of bounds for dimension {ax} with size {n}")


def gather(x, dim, index):
    """out[i][j] = x[i][index[i][j]] along ``dim`` (torch.gather)."""
    ax = _dim(dim, x.ndim, "gather")
    idx = index._data
    _check_gather_index(x, ax, idx, "gather")
    for d in range(x.ndim):
        if d != ax and idx.shape[d] > x.shape[d]:
            raise RuntimeError(
                f"gather(): Size does not match at dimension {d} expected index {idx.shape} to be smaller than "
                f"self {tuple(x.shape)} apart from dimension {ax}"
            )
    if idx.shape != tuple(x.shape):
        sl = tuple(_pyslice(0, idx.shape[d]) if d != ax else _pyslice(None) for d in range(x.ndim))
        x = getitem(x, sl)
    return TakeAlong(idx.astype(np.int64), ax)(x)


def take_along_dim(x, indices, dim=None):
    """``np.take_along_axis`` with broadcasting (flattened when ``dim`` is None)."""
    if dim is None:
        return TakeAlong(indices._data.reshape(-1), 0)(flatten(x))
    ax = _dim(dim, x.ndim, "take_along_dim")
    idx = indices._data
    shp = list(np.broadcast_shapes(tuple(x.shape[:ax] + (1,) + x.shape[ax + 1:]), idx.shape[:ax] + (1,) + idx.shape[ax + 1:]))
    xs = expand(x, tuple(shp[:ax] + [x.shape[ax]] + shp[ax + 1:]))
    idx = np.broadcast_to(idx, tuple(shp[:ax] + [idx.shape[ax]] + shp[ax + 1:]))
    _check_gather_index(xs, ax, idx, "take_along_dim")
    return TakeAlong(idx, ax)(xs)


class ScatterAdd(Node):
    name = "ScatterAddBackward0"
    saves = {}

    def __init__(self, idx, axis):
        self.idx, self.axis = idx, axis

    def forward(self, x, src):
        from .autograd.functional_ns import _put_along_add

        out = x.copy()
        s = src[tuple(_pyslice(0, n) for n in self.idx.shape)]
        _put_along_add(out, self.idx, s, self.axis)
        self.src_shape = src.shape
        return out

    def backward(self, ns, g, ins, out):
        gs = ns.take_along(_index_region(ns, g, self.idx, self.axis), self.idx, self.axis)
        if tuple(gs.shape) != tuple(self.src_shape):
            pad = tuple(_pyslice(0, n) for n in self.idx.shape)
            gs = ns.pad_zeros(gs, self.src_shape, pad)
        return g, gs


def _index_region(ns, g, idx, axis):
    """``g`` cut to ``idx``'s extent in the dims other than ``axis`` (an index may be smaller than self there)."""
    if builtins.all(n == m for d, (n, m) in enumerate(zip(idx.shape, g.shape)) if d != axis):
        return g
    return ns.index(g, tuple(_pyslice(0, n) if d != axis else _pyslice(None) for d, n in enumerate(idx.shape)))


class Scatter(Node):
    name = "ScatterBackward0"
    saves = {}

    def __init__(self, idx, axis):
        self.idx, self.axis = idx, axis

    def forward(self, x, src):
        out = x.copy()
        s = src[tuple(_pyslice(0, n) for n in self.idx.shape)] if np.ndim(src) else src
        region = tuple(_pyslice(0, n) if d != self.axis else _pyslice(None) for d, n in enumerate(self.idx.shape))
        np.put_along_axis(out[region], self.idx, s, self.axis)  # a view: writes into out
        self.src_shape = np.shape(src)
        mask = np.zeros(x.shape, dtype=bool)
        np.put_along_axis(mask[region], self.idx, True, self.axis)
        self.mask = mask
        return out

    def backward(self, ns, g, ins, out):
        gx = ns.where(self.mask, 0 * g, g)
        gs = None
        if len(self.src_shape):
            gs = ns.take_along(_index_region(ns, g, self.idx, self.axis), self.idx, self.axis)
            if tuple(gs.shape) != tuple(self.src_shape):
                gs = ns.pad_zeros(gs, self.src_shape, tuple(_pyslice(0, n) for n in self.idx.shape))
        return gx, gs


class PadZeros(Node):
    name = "PadZerosBackward0"
    saves = {}

    def __init__(self, shape, slices):
        self.shape, self.slices = shape, slices

    def forward(self, g):
        z = np.zeros(self.shape, dtype=g.dtype)
        z[self.slices] = g
        return z

    def backward(self, ns, g, ins, out):
        return (ns.index(g, self.slices),)


def ns_pad_zeros(g, shape, slices):
    return PadZeros(tuple(shape), slices)(g)


def scatter_add(x, dim, index, src):
    """out = x; out[index[i][j]][j] += src[i][j] along ``dim`` (duplicates accumulate)."""
    ax = _dim(dim, x.ndim, "scatter_add")
    idx = index._data.astype(np.int64)
    _check_gather_index(x, ax, idx, "scatter_add")
    src = src if isinstance(src, Tensor) else tensor(src, dtype=x.dtype)
    return ScatterAdd(idx, ax)(x, cast(src, x.dtype))


def scatter(x, dim, index, src=None, value=None, reduce=None):
    """out = x; out[index[i][j]][j] = src[i][j] (or ``value``) along ``dim``."""
    if reduce == "add":
        return scatter_add(x, dim, index, src)
    if reduce is not None:
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported; use 'add' or scatter_reduce")
    ax = _dim(dim, x.ndim, "scatter")
    idx = index._data.astype(np.int64)
    _check_gather_index(x, ax, idx, "scatter")
    if src is None:
        src = value
    if isinstance(src, Tensor):
        return Scatter(idx, ax)(x, cast(src, x.dtype))
    return Scatter(idx, ax)(x, tensor(src, dtype=x.dtype))


def index_add(x, dim, index, source, *, alpha=1):
    """out = x; out[..., index[i], ...] += alpha * source[..., i, ...] along ``dim``."""
    ax = _dim(dim, x.ndim, "index_add")
    idx = index._data.astype(np.int64)
    if idx.ndim != 1:
        raise IndexError(f"index_add(): index must be a vector, got shape {idx.shape}")
    n = x.shape[ax]
    if idx.size and (idx.max() >= n or idx.min() < -n):
        raise IndexError(f"index_add(): index {int(idx.max())} is out of bounds for dimension {ax} with size {n}")
    if source.shape[ax] != idx.shape[0]:
        raise RuntimeError(
            f"index_add(): number of indices ({idx.shape[0]}) should be equal to source.size(dim) ({source.shape[ax]})"
        )
    full_idx = idx.reshape((1,) * ax + (-1,) + (1,) * (x.ndim - ax - 1))
    full_idx = np.broadcast_to(full_idx, tuple(source.shape))
    src = source * alpha if alpha != 1 else source
    return ScatterAdd(np.ascontiguousarray(full_idx), ax)(x, cast(src, x.dtype))


def masked_fill(x, mask, value):
    """Set elements where ``mask`` is True to ``value`` (the gradient is zero there)."""
    m = _arr(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype {m.dtype}")
    try:
        np.broadcast_shapes(m.shape, tuple(x.shape))
    except ValueError:
        raise RuntimeError(
            f"masked_fill: the mask of shape {m.shape} is not broadcastable to the tensor of shape {tuple(x.shape)}"
        ) from None
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s)")
        v = cast(value, x.dtype)
    else:
        v = tensor(value, dtype=x.dtype)
    out = Where()(mask if isinstance(mask, Tensor) else m, v, x)
    if tuple(out.shape) != tuple(x.shape):
        raise RuntimeError(f"masked_fill: mask {m.shape} can't grow the tensor of shape {tuple(x.shape)}")
    return out


def masked_select(x, mask):
    """The elements where ``mask`` is True, as a 1-D tensor."""
    m = _arr(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {m.dtype}")
    shape = np.broadcast_shapes(m.shape, tuple(x.shape))
    xe = expand(x, shape) if tuple(x.shape) != shape else x
    return getitem(xe, np.broadcast_to(m, shape))


def nonzero(x, as_tuple=False):
    nz = np.nonzero(x._data)
    if as_tuple:
        return tuple(Tensor._wrap(a.astype(np.int64)) for a in nz)
    return Tensor._wrap(np.stack(nz, axis=1).astype(np.int64) if nz else np.zeros((0, 0), np.int64))


def argwhere(x):
    return nonzero(x)


# ============================================================================ linear algebra


class MatMul(Node):
    name = "MmBackward0"
    saves = {0: (1,), 1: (0,)}

    def forward(self, a, b):
        self.sa, self.sb = a.shape, b.shape
        return np.matmul(a, b)

    def backward(self, ns, g, ins, out):
        a, b = ins
        need = self.needs
        ga = gb = None
        a1, b1 = len(self.sa) == 1, len(self.sb) == 1
        if a1 and b1:  # dot
            return (g * b if need[0] else None), (g * a if need[1] else None)
        if need[0]:
            if b1:
                ga = ns.matmul(ns.reshape(g, tuple(g.shape) + (1,)), ns.reshape(b, (1, b.shape[0])))
            elif a1:
                ga = ns.matmul(ns.reshape(g, tuple(g.shape[:-1]) + (1, g.shape[-1])), ns.swap_last(b))
                ga = ns.reshape(ga, tuple(ga.shape[:-2]) + (ga.shape[-1],))
            else:
                ga = ns.matmul(g, ns.swap_last(b))
        if need[1]:
            if a1:
                gb = ns.matmul(ns.reshape(a, (a.shape[0], 1)), ns.reshape(g, tuple(g.shape[:-1]) + (1, g.shape[-1])))
            elif b1:
                gb = ns.matmul(ns.swap_last(a), ns.reshape(g, tuple(g.shape) + (1,)))
                gb = ns.reshape(gb, tuple(gb.shape[:-1]))
            else:
                gb = ns.matmul(ns.swap_last(a), g)
        return ga, gb


def _mm_error(op, a, b, why):
    return RuntimeError(f"{op}: {why}")


def matmul(a, b):
    """Matrix product with torch's rules: 1-D vectors, batch broadcasting, ``@``."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(
            f"matmul: both arguments must be Tensors, got {type(a).__name__} and {type(b).__name__}"
        )
    sa, sb = tuple(a.shape), tuple(b.shape)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"matmul: both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D "
            f"(shapes {sa} and {sb}); use * for scalar multiplication"
        )
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(
            f"matmul: expected both tensors to have the same dtype, but got {a.dtype} and {b.dtype} "
            f"(shapes {sa} and {sb}); convert one, e.g. b.to({a.dtype})"
        )
    k_a = sa[-1]
    k_b = sb[0] if b.ndim == 1 else sb[-2]
    if k_a != k_b:
        rows = "x".join(map(str, sa))
        cols = "x".join(map(str, sb))
        hint = ""
        if a.ndim >= 2 and b.ndim >= 2:
            if sa[-1] == sb[-1]:
                hint = " Did you mean a @ b.T (or b.mT)? Transposing the second operand gives shape " + str(sb[:-2] + (sb[-1], sb[-2]))
            elif sa[-2] == sb[-2]:
                hint = " Did you mean a.T @ b (a.mT @ b)?"
        raise RuntimeError(
            f"matmul: shapes {sa} and {sb} cannot be multiplied ({rows} and {cols}): the last dimension of the "
            f"first ({k_a}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} dimension of the second "
            f"({k_b}).{hint}"
        )
    if a.ndim > 2 or b.ndim > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise RuntimeError(
                f"matmul: the batch dimensions {sa[:-2]} and {sb[:-2]} of shapes {sa} and {sb} are not broadcastable"
            ) from None
    if a._data.dtype.kind == "b":
        raise RuntimeError("matmul: bool tensors are not supported")
    node = MatMul()
    out = node(a, b)
    if out.grad_fn is not None and (a.ndim != 2 or b.ndim != 2):
        node._grad_name = ("DotBackward0" if a.ndim == 1 and b.ndim == 1 else "MvBackward0" if b.ndim == 1 and a.ndim == 2
                           else "BmmBackward0" if a.ndim == 3 and b.ndim == 3 else "MatmulBackward0")
    return out


def ns_matmul(a, b):
    return MatMul()(a, b)


def mm(a, b):
    """2-D matrix product (strict shapes)."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def bmm(a, b):
    """Batched 3-D matrix product (no broadcasting)."""
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def mv(a, v):
    """Matrix-vector product."""
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"mv: expected a 2-D matrix and a 1-D vector, got shapes {tuple(a.shape)} and {tuple(v.shape)}")
    return matmul(a, v)


def dot(a, b):
    """Dot product of two 1-D tensors."""
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"dot: 1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(
            f"dot: inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to have the same number of elements"
        )
    return matmul(a, b)


inner = dot


def outer(a, b):
    """Outer product of two 1-D tensors."""
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"outer: 1D tensors expected, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return unsqueeze(a, 1) * unsqueeze(b, 0)


ger = outer


def addmm(input, a, b, *, beta=1, alpha=1):
    return input * beta + matmul(a, b) * alpha


def einsum(equation, *operands):
    """Einstein summation, composed from permute/reshape/mul/sum/matmul (so it is differentiable)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"einsum(): {len(terms)} operand subscripts given for {len(operands)} operands in '{equation}'")
    # expand ellipsis
    ell_letters = "".join(chr(0x3b1 + i) for i in range(10))
    new_terms = []
    for term, op in zip(terms, operands):
        if "..." in term:
            n_ell = op.ndim - (len(term) - 3)
            term = term.replace("...", ell_letters[:n_ell] if n_ell > 0 else "")
        if len(term) != op.ndim:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(term)}) does not match the number of "
                f"dimensions ({op.ndim}) for operand {len(new_terms)} (shape {tuple(op.shape)})"
            )
        new_terms.append(term)
    if rhs is None:
        counts = {}
        for term in new_terms:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        ells = "".join(c for c in ell_letters if c in counts)
        rhs = ells + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell_letters))
    elif "..." in rhs:
        n_ell = builtins.max(op.ndim - (len(t.replace("...", "")) ) for t, op in zip(terms, operands) if "..." in t)
        rhs = rhs.replace("...", ell_letters[:n_ell])
    sizes = {}
    for term, op in zip(new_terms, operands):
        for c, s in zip(term, op.shape):
            if c in sizes and sizes[c] != s and s != 1 and sizes[c] != 1:
                raise RuntimeError(f"einsum(): subscript {c} has size {s} for one operand which does not broadcast with previously seen size {sizes[c]}")
            sizes[c] = builtins.max(sizes.get(c, 1), s)
    # handle repeated letters within one operand (diagonal)
    ops = []
    for term, op in zip(new_terms, operands):
        while len(set(term)) != len(term):
            for c in term:
                if term.count(c) > 1:
                    i = term.index(c)
                    j = term.index(c, i + 1)
                    op = diagonal(op, 0, i, j)
                    term = term[:i] + term[i + 1:j] + term[j + 1:] + c
                    break
        ops.append((term, op))
    # contract pairwise, summing each letter out as soon as no later operand or the output needs it
    term, acc = ops[0]
    for k in range(1, len(ops)):
        t2, op2 = ops[k]
        letters = list(dict.fromkeys(term + t2))
        acc = _align(acc, term, letters) * _align(op2, t2, letters)
        term = "".join(letters)
        later = set(rhs).union(*(set(tt) for tt, _ in ops[k + 1:]))
        drop = [i for i, c in enumerate(term) if c not in later]
        if drop:
            acc = sum(acc, tuple(drop))
            term = "".join(c for i, c in enumerate(term) if i not in drop)
    drop = [i for i, c in enumerate(term) if c not in rhs]
    if drop:
        acc = sum(acc, tuple(drop))
        term = "".join(c for i, c in enumerate(term) if i not in drop)
    perm = [term.index(c) for c in rhs]
    if perm != list(range(len(perm))):
        acc = permute(acc, perm)
    return acc


def _align(x, term, letters):
    perm = [term.index(c) for c in letters if c in term]
    y = permute(x, perm) if perm != list(range(len(perm))) else x
    shape = []
    j = 0
    order = [c for c in letters if c in term]
    for c in letters:
        if c in term:
            shape.append(y.shape[order.index(c)])
            j += 1
        else:
            shape.append(1)
    return reshape(y, tuple(shape))


def diagonal(x, offset=0, dim1=0, dim2=1):
    """The diagonal over ``dim1`` and ``dim2`` (moved to the last dim)."""
    d1, d2 = _dim(dim1, x.ndim, "diagonal"), _dim(dim2, x.ndim, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal: dim1 and dim2 cannot be identical, but both are {d1}")
    return _make_view(Diagonal(offset, d1, d2)(x), x, (diagonal, (offset, d1, d2)))


def _diag_view(a, offset, d1, d2):
    """The (offset) diagonal of dims d1, d2 of array ``a`` as a writable strided view (last dim)."""
    y = np.moveaxis(a, (d1, d2), (-2, -1))
    y = y[..., _pymax(0, -offset):, _pymax(0, offset):]
    n = _pymax(0, _pymin(y.shape[-2], y.shape[-1]))
    return np.lib.stride_tricks.as_strided(y, y.shape[:-2] + (n,), y.strides[:-2] + (y.strides[-2] + y.strides[-1],),
                                           writeable=a.flags.writeable)


class Diagonal(UnaryNode):
    name = "DiagonalBackward0"
    saves = {}

    def __init__(self, offset, d1, d2):
        self.args = (offset, d1, d2)

    def forward(self, x):
        self.shape = x.shape
        return _diag_view(x, *self.args)

    def backward(self, ns, g, ins, out):
        if isinstance(g, Tensor):
            return (DiagonalScatter(self.shape, self.args)(g),)
        z = np.zeros(self.shape, dtype=g.dtype)
        _diag_view(z, *self.args)[...] = g
        return (z,)


class DiagonalScatter(UnaryNode):
    """Zeros of ``shape`` with ``g`` on the diagonal (the backward of ``diagonal``, recorded for create_graph)."""

    name = "DiagonalBackwardBackward0"
    saves = {}

    def __init__(self, shape, args):
        self.shape, self.args = shape, args

    def forward(self, g):
        z = np.zeros(self.shape, dtype=g.dtype)
        _diag_view(z, *self.args)[...] = g
        return z

    def backward(self, ns, g, ins, out):
        return (Diagonal(*self.args)(g) if isinstance(g, Tensor) else _diag_view(g, *self.args).copy(),)


def trace(x):
    return sum(diagonal(x))


def diag(x, diagonal_=0):
    if x.ndim == 1:
        n = x.shape[0] + _pyabs(diagonal_)
        z = zeros(n, n, dtype=x.dtype)
        i = np.arange(x.shape[0])
        idx = (i, i + diagonal_) if diagonal_ >= 0 else (i - diagonal_, i)
        return IndexPut(idx)(z, x)
    return diagonal(x, diagonal_)


# ============================================================================ sorting


def sort(x, dim=-1, descending=False, stable=False):
    """Sorted values (differentiable) and their indices."""
    ax = _dim(dim, x.ndim, "sort")
    a = x._data if x.ndim else x._data.reshape(1)
    if descending:
        # stable descending order that keeps NaN first like torch
        idx = np.flip(np.argsort(np.flip(a, ax if x.ndim else 0), axis=ax if x.ndim else 0, kind="stable"), ax if x.ndim else 0)
        n = a.shape[ax if x.ndim else 0]
        idx = n - 1 - idx
    else:
        idx = np.argsort(a, axis=ax if x.ndim else 0, kind="stable")
    if x.ndim == 0:
        return _ValuesIndices((x * 1, Tensor._wrap(np.zeros((), np.int64))))
    vals = TakeAlong(idx, ax)(x)
    return _ValuesIndices((vals, Tensor._wrap(idx.astype(np.int64))))


def argsort(x, dim=-1, descending=False, stable=False):
    return sort(x, dim, descending, stable)[1]


def topk(x, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) values along ``dim`` and their indices."""
    ax = _dim(dim, x.ndim, "topk")
    n = x.shape[ax] if x.ndim else 1
    if k < 0 or k > n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dimension {ax} of size {n}")
    vals, idx = sort(x, ax, descending=largest)
    sl = (_pyslice(None),) * ax + (_pyslice(0, k),)
    return _ValuesIndices((getitem(vals, sl), Tensor._wrap(np.ascontiguousarray(idx._data[sl]))))


def kthvalue(x, k, dim=-1, keepdim=False):
    vals, idx = sort(x, dim)
    ax = _dim(dim, x.ndim, "kthvalue")
    v = select(vals, ax, k - 1)
    i = Tensor._wrap(np.take(idx._data, k - 1, axis=ax))
    if keepdim:
        v, i = unsqueeze(v, ax), Tensor._wrap(np.expand_dims(i._data, ax))
    return _ValuesIndices((v, i))


def median(x, dim=None, keepdim=False):
    if dim is None:
        flat = flatten(x)
        vals, _ = sort(flat)
        return vals[(flat.shape[0] - 1) // 2]
    ax = _dim(dim, x.ndim, "median")
    return kthvalue(x, (x.shape[ax] + 1) // 2, ax, keepdim)


def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    res = np.unique(x._data, return_inverse=return_inverse, return_counts=return_counts)
    if not (return_inverse or return_counts):
        return Tensor._wrap(res)
    out = [Tensor._wrap(res[0])]
    i = 1
    if return_inverse:
        out.append(Tensor._wrap(res[i].reshape(x._data.shape).astype(np.int64)))
        i += 1
    if return_counts:
        out.append(Tensor._wrap(res[i].astype(np.int64)))
    return tuple(out)


def bincount(x, weights=None, minlength=0):
    return Tensor._wrap(np.bincount(x._data, None if weights is None else weights._data, minlength))


def searchsorted(sorted_sequence, values, right=False):
    side = "right" if right else "left"
    return Tensor._wrap(np.searchsorted(sorted_sequence._data, _arr(values), side=side).astype(np.int64))


def one_hot(x, num_classes=-1):
    """Integer class labels -> an int64 one-hot tensor with a new last dim."""
    if x._data.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensors (int64), got {x.dtype}")
    if x._data.size and x._data.min() < 0:
        raise RuntimeError(f"one_hot: Class values must be non-negative, got {int(x._data.min())}")
    if num_classes == -1:
        num_classes = int(x._data.max()) + 1 if x._data.size else 0
    if x._data.size and x._data.max() >= num_classes:
        raise RuntimeError(f"one_hot: Class values must be smaller than num_classes ({num_classes}), got {int(x._data.max())}")
    return Tensor._wrap((x._data[..., None] == np.arange(num_classes)).astype(np.int64))


def zeros_like_ns(x):
    return zeros_like(x)


# ============================================================================ repr


def _repr(t):
    a = t.__array__()
    kw = dict(separator=", ", prefix="tensor(", threshold=1000, edgeitems=3, max_line_width=80)
    if a.dtype.kind == "f" and a.size:
        fin = a[np.isfinite(a)].astype(np.float64)
        if fin.size and np.all(fin == np.round(fin)) and np.abs(fin).max() < 1e8:
            body = np.array2string(a, floatmode="maxprec", precision=4, **kw)
        elif fin.size and (np.abs(fin).max() >= 1e8 or (np.abs(fin[fin != 0]).min() if (fin != 0).any() else 1) < 1e-4):
            body = np.array2string(a, formatter={"float_kind": lambda v: f"{v:.4e}"}, **kw)
        else:
            body = np.array2string(a, floatmode="fixed", precision=4, suppress_small=False, **kw)
    else:
        body = np.array2string(a, **kw)
    extras = []
    if a.size == 0:
        body = "[]"
        if a.ndim != 1:
            extras.append(f"size={tuple(a.shape)}")
    if a.dtype.kind == "f" and a.dtype != D.get_default_dtype().np:
        extras.append(f"dtype={D._by_np[a.dtype]}")
    if a.dtype.kind in "iu" and a.dtype != np.int64:
        extras.append(f"dtype={D._by_np[a.dtype]}")
    if str(t.device) != "cpu":
        extras.append(f"device='{t.device}'")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"


# ============================================================================ softmax family (fused for speed)


class Softmax(Node):
    name = "SoftmaxBackward0"
    saves = {}
    save_out = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        m = np.max(x, axis=self.axis, keepdims=True) if x.size else 0
        e = np.exp(x - np.where(np.isfinite(m), m, 0))
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
        m = np.max(x, axis=self.axis, keepdims=True) if x.size else 0
        s = x - np.where(np.isfinite(m), m, 0)
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


def softmax(x, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably."""
    half = dtype is None and isinstance(x, Tensor) and x._data.dtype == np.float16
    x, ax = _softmax_prep(x, dim, dtype, "softmax")
    out = Softmax(None)(reshape(x, (1,))).reshape(()) if ax is None else Softmax(ax)(x)
    return cast(out, D.float16) if half else out  # float16 computes in float32, like torch


def log_softmax(x, dim=None, dtype=None):
    """log(softmax(x)) along ``dim``, computed stably (finite for logits of +-1e4)."""
    half = dtype is None and isinstance(x, Tensor) and x._data.dtype == np.float16
    x, ax = _softmax_prep(x, dim, dtype, "log_softmax")
    out = LogSoftmax(None)(reshape(x, (1,))).reshape(()) if ax is None else LogSoftmax(ax)(x)
    return cast(out, D.float16) if half else out  # float16 computes in float32, like torch


def ns_sum_keep(x, axis):
    return sum(x, axis, True)


# ============================================================================ more of torch's API (composed)
# Functions users reach for in ordinary scripts; each is built from the differentiable ops above (no new
# derivative code) unless noted.


class _TypeInfo:
    def __init__(self, dt, **fields):
        self.dtype = dt.name
        self.bits = dt.itemsize * 8
        self.__dict__.update(fields)

    def __repr__(self):
        body = ", ".join(f"{k}={v}" for k, v in self.__dict__.items() if k != "dtype")
        return f"{type(self).__name__.lstrip('_').lower()}({body}, dtype={self.dtype})"


class _FInfo(_TypeInfo):
    pass


class _IInfo(_TypeInfo):
    pass


def finfo(type=None):  # noqa: A002  (torch's name)
    """Machine limits of a floating dtype (``ember.finfo(ember.float32).eps``), like ``torch.finfo``."""
    dt = D.get_default_dtype() if type is None else D.as_dtype(type)
    if not dt.is_floating_point:
        raise TypeError(f"finfo: {dt} is not a floating-point dtype; use ember.iinfo for integer dtypes")
    fi = np.finfo(dt.np)
    return _FInfo(dt, eps=builtins.float(fi.eps), max=builtins.float(fi.max), min=builtins.float(fi.min),
                  tiny=builtins.float(fi.tiny), smallest_normal=builtins.float(fi.smallest_normal),
                  resolution=builtins.float(fi.resolution))


def iinfo(type):  # noqa: A002
    """Limits of an integer dtype (``ember.iinfo(ember.int64).max``), like ``torch.iinfo``."""
    dt = D.as_dtype(type)
    if dt.is_floating_point:
        raise TypeError(f"iinfo: {dt} is a floating-point dtype; use ember.finfo")
    if dt is D.bool_:
        return _IInfo(dt, max=1, min=0)
    ii = np.iinfo(dt.np)
    return _IInfo(dt, max=builtins.int(ii.max), min=builtins.int(ii.min))


def clamp_min(x, min):  # noqa: A002
    return clamp(x, min=min)


def clamp_max(x, max):  # noqa: A002
    return clamp(x, max=max)


def addcmul(x, tensor1, tensor2, *, value=1):
    """x + value * tensor1 * tensor2."""
    return x + tensor1 * tensor2 * value if value != 1 else x + tensor1 * tensor2


def addcdiv(x, tensor1, tensor2, *, value=1):
    """x + value * tensor1 / tensor2."""
    return x + tensor1 / tensor2 * value if value != 1 else x + tensor1 / tensor2


def lerp(start, end, weight):
    """start + weight * (end - start)."""
    return start + weight * (end - start)


def frac(x):
    return x - trunc(x)


def deg2rad(x):
    return x * (np.pi / 180.0)


def rad2deg(x):
    return x * (180.0 / np.pi)


class Atan2(BinaryNode):
    name = "Atan2Backward0"
    saves = {0: (0, 1), 1: (0, 1)}
    def forward(self, y, x):
        return np.arctan2(y, x)

    def backward(self, ns, g, ins, out):
        y, x = ins
        r2 = x * x + y * y
        return g * x / r2, -g * y / r2


def atan2(input, other):  # noqa: A002
    """Elementwise arctan(input / other) in the right quadrant (differentiable)."""
    y, x = _promote(input, other, "atan2")
    if y._data.dtype.kind != "f":
        y, x = cast(y, D.get_default_dtype()), cast(x, D.get_default_dtype())
    return Atan2()(y, x)


arctan2 = atan2


def hypot(a, b):
    return sqrt(a * a + b * b)


def xlogy(x, y):
    """x * log(y), 0 where x == 0 (like torch.xlogy)."""
    if not isinstance(x, Tensor):
        x = tensor(x, dtype=y.dtype if isinstance(y, Tensor) else None)
    if not isinstance(y, Tensor):
        y = tensor(y, dtype=x.dtype if x.is_floating_point() else None)
    zero = x._data == 0
    safe_y = where(Tensor._wrap(zero), ones_like(y), y) if zero.any() else y
    return where(Tensor._wrap(zero & ~np.isnan(_arr(y))), zeros_like(x, dtype=D.get_default_dtype())
                 if not x.is_floating_point() else zeros_like(x), x * log(safe_y))


def logit(x, eps=None):
    """log(x / (1 - x)), with x clamped to [eps, 1 - eps] when ``eps`` is given."""
    if eps is not None:
        x = clamp(x, eps, 1 - eps)
    return log(x / (1 - x))


def logaddexp(a, b):
    """log(exp(a) + exp(b)), computed stably."""
    a, b = broadcast_tensors(*_promote(a, b, "logaddexp"))
    return logsumexp(stack([a, b]), 0)


def logcumsumexp(x, dim):
    """log(cumsum(exp(x))) along ``dim``, shifted by the maximum for stability."""
    ax = _dim(dim, x.ndim, "logcumsumexp")
    m = np.max(x._data, axis=ax, keepdims=True) if x.ndim else x._data
    m = np.where(np.isfinite(m), m, 0)
    mt = Tensor._wrap(m.astype(x._data.dtype))
    return log(cumsum(exp(x - mt), ax)) + mt


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """Replace NaN, +inf and -inf by finite numbers (the gradient passes where x was finite)."""
    a = x._data
    if a.dtype.kind != "f":
        return x.clone()
    fi = np.finfo(a.dtype)
    rep = np.where(np.isnan(a), nan, np.where(a > 0, fi.max if posinf is None else posinf,
                                                     fi.min if neginf is None else neginf)).astype(a.dtype)
    return where(Tensor._wrap(np.isfinite(a)), x, Tensor._wrap(rep))


def nansum(x, dim=None, keepdim=False, *, dtype=None):
    """Sum treating NaN as zero."""
    nanm = np.isnan(x._data)
    xx = where(Tensor._wrap(nanm), zeros_like(x), x) if nanm.any() else x
    return sum(xx, dim, keepdim, dtype=dtype)


def nanmean(x, dim=None, keepdim=False, *, dtype=None):
    """Mean over the non-NaN elements."""
    cnt = (~np.isnan(x._data)).sum(axis=_dims(dim, x.ndim, "nanmean"), keepdims=keepdim)
    return nansum(x, dim, keepdim, dtype=dtype) / Tensor._wrap(np.asarray(cnt, dtype=x._data.dtype))


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


def cummax(x, dim):
    """Running maximum along ``dim``: ``(values, indices)``."""
    return _cum_extreme(x, dim, True, "cummax")


def cummin(x, dim):
    """Running minimum along ``dim``: ``(values, indices)``."""
    return _cum_extreme(x, dim, False, "cummin")


def aminmax(x, *, dim=None, keepdim=False):
    """``(min, max)`` over ``dim`` (all elements by default)."""
    if dim is None:
        return _MinMax((amin(x), amax(x)))
    return _MinMax((amin(x, dim, keepdim), amax(x, dim, keepdim)))


class _MinMax(tuple):
    @property
    def min(self):
        return self[0]

    @property
    def max(self):
        return self[1]


def diff(x, n=1, dim=-1, prepend=None, append=None):
    """n-th forward difference along ``dim``."""
    ax = _dim(dim, x.ndim, "diff")
    if prepend is not None or append is not None:
        parts = [p for p in (prepend, x, append) if p is not None]
        x = cat([p if isinstance(p, Tensor) else tensor(p, dtype=x.dtype) for p in parts], ax)
    for _ in range(n):
        L = x.shape[ax]
        if L == 0:
            break
        nxt, prev = narrow(x, ax, 1, L - 1), narrow(x, ax, 0, L - 1)
        x = logical_xor(nxt, prev) if x._data.dtype == np.bool_ else nxt - prev
    return x


def movedim(x, source, destination):
    """Move dims ``source`` to positions ``destination`` (ints or sequences), keeping the others' order."""
    src = [source] if isinstance(source, builtins.int) else list(source)
    dst = [destination] if isinstance(destination, builtins.int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src}) and destination ({dst}) "
                           "must have the same number of elements")
    src = [_dim(d, x.ndim, "movedim") for d in src]
    dst = [_dim(d, x.ndim, "movedim") for d in dst]
    perm = [None] * x.ndim
    for s_, d_ in zip(src, dst):
        perm[d_] = s_
    rest = iter(d for d in range(x.ndim) if d not in src)
    return permute(x, tuple(p if p is not None else next(rest) for p in perm))


moveaxis = movedim


def ravel(x):
    return reshape(x, (-1,))


def take(x, index):
    """Elements of the flattened ``x`` at ``index`` (output has ``index``'s shape)."""
    return getitem(reshape(x, (-1,)), index)


def rot90(x, k=1, dims=(0, 1)):
    """Rotate by 90 degrees k times in the plane ``dims`` (from the first towards the second)."""
    d0, d1 = (_dim(d, x.ndim, "rot90") for d in dims)
    k %= 4
    if k == 1:
        return transpose(flip(x, (d1,)), d0, d1)
    if k == 2:
        return flip(x, (d0, d1))
    if k == 3:
        return flip(transpose(x, d0, d1), (d1,))
    return x * 1


def unfold(x, dimension, size, step):
    """All windows of ``size`` along ``dimension`` with stride ``step``, as a new last dim (Tensor.unfold)."""
    ax = _dim(dimension, x.ndim, "unfold")
    n = x.shape[ax] if x.ndim else 1
    if size > n:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {ax} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    if x.ndim == 0:
        return unsqueeze(x, 0)
    return _make_view(Unfold(ax, size, step)(x), x, (unfold, (ax, size, step)))


def _unfold_view(a, ax, size, step):
    w = np.lib.stride_tricks.sliding_window_view(a, size, axis=ax, writeable=a.flags.writeable)
    return w[(_pyslice(None),) * ax + (_pyslice(None, None, step),)]


class Unfold(UnaryNode):
    """Windows of ``size`` every ``step`` along ``ax`` as a new last dim: a strided view (Tensor.unfold)."""

    name = "UnfoldBackward0"
    saves = {}

    def __init__(self, ax, size, step):
        self.args = (ax, size, step)

    def forward(self, x):
        self.shape = x.shape
        return _unfold_view(x, *self.args)

    def backward(self, ns, g, ins, out):
        return (UnfoldScatter(self.shape, self.args)(g) if isinstance(g, Tensor) else
                UnfoldScatter(self.shape, self.args).forward(g),)


class UnfoldScatter(UnaryNode):
    """The sum of the windows' gradients back into the unfolded dim (unfold's backward)."""

    name = "UnfoldBackwardBackward0"
    saves = {}

    def __init__(self, shape, args):
        self.shape, self.args = shape, args

    def forward(self, g):
        ax, size, step = self.args
        z = np.zeros(self.shape, dtype=g.dtype)
        nwin = g.shape[ax]
        pre = (_pyslice(None),) * ax
        for k in range(size):  # window offset k of every window
            z[pre + (_pyslice(k, k + (nwin - 1) * step + 1, step),)] += g[..., k]
        return z

    def backward(self, ns, g, ins, out):
        return (Unfold(*self.args)(g) if isinstance(g, Tensor) else _unfold_view(g, *self.args).copy(),)


def as_strided(x, size, stride, storage_offset=None):
    """A view of ``x``'s storage with the given sizes and strides (in elements), as torch's ``as_strided``."""
    size, stride = tuple(int(v) for v in size), tuple(int(v) for v in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"as_strided: mismatch in length of strides and shape ({len(size)} sizes, {len(stride)} strides)")
    root = x._data
    while isinstance(root.base, np.ndarray):
        root = root.base
    if not root.flags.c_contiguous:
        root = None
    off = x.storage_offset() if storage_offset is None else int(storage_offset)
    need = off + builtins.sum((n - 1) * s for n, s in zip(size, stride) if n > 0) + 1 if builtins.all(size) else 0
    total = root.size if root is not None else x.numel()
    if root is None or need > total or builtins.any(s < 0 for s in stride):
        raise RuntimeError(
            f"as_strided: size {list(size)} and stride {list(stride)} with storage offset {off} need {need} elements, "
            f"but the storage of the tensor of shape {tuple(x.shape)} has {total}"
        )
    return _make_view(AsStrided(size, stride, off, root.size, x)(x), x, (as_strided, (size, stride, off)))


class AsStrided(UnaryNode):
    name = "AsStridedBackward0"
    saves = {}

    def __init__(self, size, stride, off, storage_size, x):
        self.geom = (size, stride, off)
        self.xgeom = (tuple(x.shape), x.stride(), x.storage_offset())
        self.n = storage_size

    def forward(self, x):
        root = x
        while isinstance(root.base, np.ndarray):
            root = root.base
        flat = root.reshape(-1)
        size, stride, off = self.geom
        it = flat.itemsize
        return np.lib.stride_tricks.as_strided(flat[off:], size, tuple(s * it for s in stride),
                                               writeable=root.flags.writeable)

    @staticmethod
    def _flat_index(size, stride, off):
        idx = np.full(size, off, dtype=np.int64)
        for d, (n, s) in enumerate(zip(size, stride)):
            sh = [1] * len(size)
            sh[d] = n
            idx = idx + (np.arange(n) * s).reshape(sh)
        return idx

    def backward(self, ns, g, ins, out):
        oi = self._flat_index(*self.geom).reshape(-1)
        xi = self._flat_index(*self.xgeom)
        gf = ns.reshape(g, (-1,))
        store = ns.index_zeros((self.n,), (oi,), gf, True)
        return (ns.index(store, (xi,)),)


def isin(elements, test_elements, *, invert=False):
    """True where an element of ``elements`` is in ``test_elements``."""
    return Tensor._wrap(np.isin(_arr(elements), _arr(test_elements), invert=invert))


def bucketize(input, boundaries, *, right=False, out_int32=False):  # noqa: A002
    """Index of the bucket of each value, given sorted 1-D ``boundaries``."""
    res = np.searchsorted(_arr(boundaries), _arr(input), side="right" if right else "left")
    return Tensor._wrap(res.astype(np.int32 if out_int32 else np.int64))


def unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    """Collapse runs of equal consecutive elements (of the flattened tensor)."""
    if dim is not None:
        raise NotImplementedError("unique_consecutive: dim is not supported; flatten first")
    a = x._data.reshape(-1)
    start = np.ones(a.shape, dtype=bool)
    start[1:] = a[1:] != a[:-1]
    out = [Tensor._wrap(a[start])]
    if return_inverse:
        out.append(Tensor._wrap((np.cumsum(start) - 1).reshape(x._data.shape).astype(np.int64)))
    if return_counts:
        out.append(Tensor._wrap(np.diff(np.append(np.flatnonzero(start), a.size)).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def msort(x):
    return sort(x, 0)[0]


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-D tensors (``indexing='ij'`` or ``'xy'``); differentiable."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = list(tensors)
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.numel() for t in ts)
    n = len(ts)
    out = [expand(reshape(t, tuple(-1 if i == k else 1 for i in range(n))), shape) for k, t in enumerate(ts)]
    if swap:
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def cartesian_prod(*tensors):
    grids = meshgrid(*tensors, indexing="ij")
    if len(grids) == 1:
        return grids[0]
    return stack([reshape(g, (-1,)) for g in grids], 1)


def tril_indices(row, col, offset=0, *, dtype=None):
    r, c = np.tril_indices(row, offset, col)
    return Tensor._wrap(np.stack([r, c]).astype(np.int64 if dtype is None else D.as_dtype(dtype).np))


def triu_indices(row, col, offset=0, *, dtype=None):
    r, c = np.triu_indices(row, offset, col)
    return Tensor._wrap(np.stack([r, c]).astype(np.int64 if dtype is None else D.as_dtype(dtype).np))


def atleast_1d(*tensors):
    res = [reshape(t, (1,)) if t.ndim == 0 else t for t in tensors]
    return res[0] if len(res) == 1 else tuple(res)


def atleast_2d(*tensors):
    res = [reshape(t, (1,) * (2 - t.ndim) + tuple(t.shape)) if t.ndim < 2 else t for t in tensors]
    return res[0] if len(res) == 1 else tuple(res)


def column_stack(tensors):
    return cat([reshape(t, (-1, 1)) if t.ndim <= 1 else t for t in tensors], 1)


def cross(input, other, dim=None):  # noqa: A002
    """Cross product of 3-vectors along ``dim`` (the first dim of size 3 when None)."""
    a, b = broadcast_tensors(*_promote(input, other, "cross"))
    if dim is None:
        dim = next((i for i, s in enumerate(a.shape) if s == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dimension of size 3 in input of shape {tuple(a.shape)}")
    ax = _dim(dim, a.ndim, "cross")
    if a.shape[ax] != 3:
        raise RuntimeError(f"cross: inputs dimension {ax} must have length 3, got shape {tuple(a.shape)}")
    a0, a1, a2 = unbind(a, ax)
    b0, b1, b2 = unbind(b, ax)
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], ax)


def cdist(x1, x2, p=2.0, compute_mode=None):
    """Pairwise p-norm distances between the rows of ``x1`` (..., P, M) and ``x2`` (..., R, M)."""
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(
            f"cdist: expected x1 (..., P, M) and x2 (..., R, M) with the same M, got {tuple(x1.shape)} and "
            f"{tuple(x2.shape)}"
        )
    d = unsqueeze(x1, -2) - unsqueeze(x2, -3)
    return norm(d, p, dim=-1)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    from .nn.functional import cosine_similarity as f

    return f(x1, x2, dim=dim, eps=eps)


def tensordot(a, b, dims=2):
    """Contract the last ``dims`` dims of ``a`` with the first of ``b`` (or explicit dim lists)."""
    if isinstance(dims, builtins.int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, builtins.int) else list(d) for d in dims)
    da = [_dim(d, a.ndim, "tensordot") for d in da]
    db = [_dim(d, b.ndim, "tensordot") for d in db]
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    sa = list(letters[: a.ndim])
    sb = list(letters[a.ndim: a.ndim + b.ndim])
    for i, j in zip(da, db):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in da] + [c for j, c in enumerate(sb) if j not in db]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def quantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    """q-th quantiles along ``dim`` (of all elements when None), differentiable through the sorted values."""
    if interpolation not in ("linear", "lower", "higher", "nearest", "midpoint"):
        raise ValueError(f"quantile: interpolation {interpolation!r} is not one of linear, lower, higher, "
                         "nearest, midpoint")
    scalar_q = not isinstance(q, Tensor) and np.ndim(q) == 0
    qa = np.atleast_1d(np.asarray(_arr(q), dtype=np.float64))
    if ((qa < 0) | (qa > 1)).any():
        raise RuntimeError(f"quantile() q values must be in the range [0, 1], got {qa.tolist()}")
    if dim is None:
        src, ax = reshape(x, (-1,)), 0
    else:
        src, ax = x, _dim(dim, x.ndim, "quantile")
    s = sort(src, ax)[0]
    n = s.shape[ax]
    pos = qa * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.ceil(pos).astype(np.int64)
    frac_ = pos - lo
    if interpolation == "lower":
        hi, frac_ = lo, frac_ * 0
    elif interpolation == "higher":
        lo, frac_ = hi, frac_ * 0
    elif interpolation == "nearest":
        lo = hi = np.round(pos).astype(np.int64)  # round half to even, as torch does
        frac_ = frac_ * 0
    elif interpolation == "midpoint":
        frac_ = np.where(hi > lo, 0.5, 0.0)
    pre = (_pyslice(None),) * ax
    vlo, vhi = getitem(s, pre + (Tensor._wrap(lo),)), getitem(s, pre + (Tensor._wrap(hi),))
    w = Tensor._wrap(frac_.astype(s._data.dtype).reshape((-1,) + (1,) * (s.ndim - ax - 1)))
    res = vlo + (vhi - vlo) * w  # (..., Q, ...) with Q at ``ax``
    res = movedim(res, ax, 0)  # torch puts the q dim first
    if keepdim:
        if dim is None:
            res = reshape(res, (len(qa),) + (1,) * x.ndim)
        else:
            res = unsqueeze(res, ax + 1)
    return res[0] if scalar_q else res


class IndexPutAccumulate(Node):
    """``out = x; out[idx] += v`` with repeated indices adding up (index_put_ with accumulate=True)."""

    name = "IndexPutBackward0"
    saves = {}

    def __init__(self, idx):
        self.idx = idx

    def forward(self, x, v):
        out = x.copy()
        np.add.at(out, self.idx, v)
        return out

    def backward(self, ns, g, ins, out):
        return g, ns.index(g, self.idx)


def index_put(x, indices, values, accumulate=False):
    """``x`` with ``x[indices] = values`` (or ``+=`` with repeats adding up when ``accumulate``)."""
    if not isinstance(indices, tuple):
        indices = tuple(indices)
    nidx, guards = _norm_index(x, indices, "index_put")
    v = values if isinstance(values, Tensor) else tensor(values, dtype=x.dtype)
    if v._data.dtype != x._data.dtype:
        v = cast(v, x.dtype)
    out = (IndexPutAccumulate if accumulate else IndexPut)(nidx)(x, v)
    if guards and out.grad_fn is not None:
        out.grad_fn.guard(guards)
    return out


def index_fill(x, dim, index, value):
    """``x`` with the slices ``index`` along ``dim`` set to ``value``."""
    ax = _dim(dim, x.ndim, "index_fill")
    v = value if isinstance(value, Tensor) else tensor(value, dtype=x.dtype)
    return index_put(x, (_pyslice(None),) * ax + (index,), v)


def index_copy(x, dim, index, source):
    """``x`` with the slices ``index`` along ``dim`` replaced by ``source``'s."""
    ax = _dim(dim, x.ndim, "index_copy")
    return index_put(x, (_pyslice(None),) * ax + (index,), source)


def _fill_diagonal(x, value, wrap=False):
    if x.ndim < 2 or (x.ndim > 2 and len(set(x.shape)) != 1):
        raise RuntimeError(f"fill_diagonal_: dimensions must be at least 2 and all of equal length, got shape "
                           f"{tuple(x.shape)}")
    n = builtins.min(x.shape)
    if x.ndim == 2 and wrap and x.shape[0] > x.shape[1] + 1:
        rows = np.arange(x.shape[0])
        keep = (rows % (x.shape[1] + 1)) < x.shape[1]
        rows = rows[keep]
        cols = rows % (x.shape[1] + 1)
        idx = (Tensor._wrap(rows), Tensor._wrap(cols))
    else:
        idx = (Tensor._wrap(np.arange(n)),) * x.ndim
    return index_put(x, idx, value)


_INPLACE.update({
    "scatter": lambda a, b: scatter(a, *b),
    "scatter_add": lambda a, b: scatter_add(a, *b),
    "index_add": lambda a, b: index_add(a, *b[:3], alpha=b[3]),
    "index_put": lambda a, b: index_put(a, *b),
    "index_fill": lambda a, b: index_fill(a, *b),
    "index_copy": lambda a, b: index_copy(a, *b),
    "fill_diagonal": lambda a, b: _fill_diagonal(a, *b),
    # ``x.op_(*args)`` for the elementwise ops: other = (name, *args)
    "call": lambda a, b: globals()[b[0]](a, *b[2:], **b[1]),
})


_PRIVATE = {"inplace", "inplace_fill", "inplace_random", "getitem", "setitem", "to_device", "cast", "zeros_like_ns",
            "tensor_split_sizes"}
__all__ = [
    n for n, v in list(globals().items())
    if not n.startswith(("_", "ns_")) and n not in _PRIVATE and callable(v)
    and (not isinstance(v, type) or isinstance(v, _LegacyType))
    and getattr(v, "__module__", None) == __name__
]

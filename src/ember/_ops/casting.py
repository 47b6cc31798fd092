"""dtype casts, device moves, dtype information (``finfo``/``iinfo``, ``result_type``) and small predicates."""
from __future__ import annotations

import builtins
import sys
import warnings

import numpy as np

from .. import _dtype as D
from .._backend import device as _device, to_device as _to_device_array
from .._tensor import Tensor
from ..autograd.engine import Node
from ._registry import tensor_method
from ._helpers import _check_tensor, _public


class Cast(Node):
    name = "ToCopyBackward0"
    saves = {}

    def __init__(self, np_dtype):
        self.dt = np_dtype

    def forward(self, x):
        self.src = x.dtype
        if x.dtype.kind == "c" and self.dt.kind not in "cb":
            x = x.real
        return x.astype(self.dt)

    def backward(self, ns, g, ins, out):
        return (ns.cast(g, self.src),)


def cast(x, dtype, explicit=False):
    """``x`` converted to ``dtype`` (differentiable between floating and complex dtypes). A complex tensor
    converts to a real dtype only when the user asked for it (``explicit``: ``.to``, ``.float()``, ...; torch
    warns that the imaginary part is discarded); an op that casts its input on the way refuses it."""
    dt = dtype.np if isinstance(dtype, D.dtype) else D.as_dtype(dtype).np
    if x._data.dtype == dt:
        return x
    if x._data.dtype.kind == "c" and dt.kind not in "cb":
        if not explicit:
            op = sys._getframe(1).f_code.co_name
            raise RuntimeError(f"{op}: complex tensors are not supported by this op (got {x.dtype} input); apply it "
                               "to x.real / x.imag or x.abs() instead")
        warnings.warn("Casting complex values to real discards the imaginary part", UserWarning, stacklevel=3)
    if dt.kind == "c":
        D.CPLX[0] = True
    if x.requires_grad and dt.kind not in "fc":
        return Tensor._wrap(x._data.astype(dt))
    return Cast(dt)(x)


def ns_cast(g, np_dtype):
    if g._data.dtype.kind == "c" and np_dtype.kind != "c":  # a real input's gradient is the real part (torch)
        from .complex_ops import real

        g = real(g)
    return cast(g, D.from_numpy(np_dtype))


class ToDevice(Node):
    name = "ToCopyBackward0"
    saves = {}

    def __init__(self, dev):
        self.dev = dev

    def forward(self, x):
        from .._backend import device_of

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


def result_type(tensor1, tensor2):
    """The dtype torch's promotion gives ``tensor1 op tensor2`` (tensors or numbers)."""
    a, b = _promote(tensor1, tensor2, "result_type")
    return (a if isinstance(a, Tensor) else b).dtype


def can_cast(from_, to):
    """Whether ``from_`` casts to ``to`` under torch's same-kind rule."""
    f, t = D.as_dtype(from_), D.as_dtype(to)
    if f.np.kind == "f" and t.np.kind in "iub":
        return False
    if f.np.kind in "iu" and t.np.kind == "b":
        return False
    return True


@tensor_method
def is_complex(input):  # noqa: A002
    """Whether ``input`` has a complex dtype (complex64, complex128)."""
    _check_tensor(input, "is_complex")
    return input._data.dtype.kind == "c"


@tensor_method
def is_signed(input):  # noqa: A002
    _check_tensor(input, "is_signed")
    return input._data.dtype.kind in "if"


def is_nonzero(input):  # noqa: A002
    _check_tensor(input, "is_nonzero")
    if input.numel() != 1:
        raise RuntimeError(f"Boolean value of Tensor with {'no values' if input.numel() == 0 else 'more than one value'} "
                           "is ambiguous")
    return bool(input._data.reshape(-1)[0] != 0)


@tensor_method
def is_same_size(input, other):  # noqa: A002
    return tuple(input.shape) == tuple(other.shape)


@tensor_method
def is_inference(input):  # noqa: A002
    """False: ember's inference_mode does not mark tensors."""
    return False


@tensor_method
def is_conj(input):  # noqa: A002
    """True for the lazy conjugate view that ``conj()`` returns of a complex tensor (torch's conjugate bit)."""
    return getattr(input, "_is_conj", False)


@tensor_method
def is_neg(input):  # noqa: A002
    return False


tensor_method(lambda self: self.to(D.int8), "char")
tensor_method(lambda self: self.to(D.bfloat16), "bfloat16")
tensor_method(property(lambda self: self.device.type == "cpu"), "is_cpu")


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


__all__ = _public(globals(), private=('cast', 'to_device'))

# Ops of later families, used at call time only. They are imported here, at the end, and every family in
# between is imported first, so the family modules always load in the order of ember/_ops/__init__.py.
from . import unary  # noqa: E402,F401  (keeps the modules loading in order)
from .binary import _promote  # noqa: E402

"""Tensor creation: ``tensor``, ``zeros``, ``arange``, windows, legacy typed constructors (``FloatTensor``)."""
from __future__ import annotations

import builtins
import math
import numbers

import numpy as np

from .. import _dtype as D
from .._backend import device as _device, module_for, to_device as _to_device_array
from .._tensor import Size, Tensor
from ._registry import tensor_method
from ._helpers import _public, _shape_arg


def _infer_np(data, dtype):
    if isinstance(data, (Tensor, np.ndarray, np.generic)) and dtype is not None and dtype.np.kind != "c" and (
            np.asarray(data._data if isinstance(data, Tensor) else data).dtype.kind == "c"):
        raise TypeError(f"ember.tensor: complex data cannot be stored as {dtype} (it would discard the imaginary "
                        "part); use a complex dtype, or pass the real part (x.real)")
    if isinstance(data, Tensor):
        arr = data._data
        return arr.astype(dtype.np) if dtype is not None and arr.dtype != dtype.np else arr.copy()
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data)
        if dtype is None:
            if arr.dtype.kind in "fciub":
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
    except TypeError:
        if dtype is not None and np.array(data).dtype.kind == "c":
            raise TypeError(f"ember.tensor: complex data cannot be stored as {dtype} (it would discard the imaginary "
                            "part); use a complex dtype, or pass the real part (x.real)") from None
        raise
    if arr.dtype == object and _has_big_int(arr) and builtins.any(
            isinstance(v, float) for v in arr.reshape(-1)) and (dtype is None or dtype.np.kind == "f"):
        arr = arr.astype(np.float64)  # a float anywhere makes the tensor floating (torch: [1.5, 2**70] is fine)
    if arr.dtype == np.uint64 or (arr.dtype == object and _has_big_int(arr)):
        raise RuntimeError(
            "ember.tensor: Overflow when unpacking long: a Python int in the data does not fit in int64 "
            "(range -2**63 .. 2**63-1); pass dtype=ember.float64 to store it as a float"
        )
    if (dtype is None and arr.dtype.kind == "f" and arr.size and not isinstance(data, (np.ndarray, np.generic))
            and np.abs(arr).max() >= 2.0 ** 63):
        # NumPy turns [1, 2**63] into float64; torch infers int64 from a list of ints and overflows
        vals = list(_flat(data)) if isinstance(data, (list, tuple)) else [data]  # ember.tensor(1e20), tensor(-inf)
        if not builtins.any(isinstance(v, float) for v in vals) and _has_big_int(np.array(vals, dtype=object)):
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
    if arr.dtype.kind == "c":
        D.CPLX[0] = True
        if dtype is not None and dtype.np.kind != "c":
            raise TypeError(f"ember.tensor: complex data cannot be stored as {dtype} (it would discard the imaginary "
                            "part); use a complex dtype, or pass the real part (x.real)")
    if dtype is not None:
        with np.errstate(over="ignore"):  # 1e300 as float32 is inf, silently as torch's
            return arr.astype(dtype.np)
    k = arr.dtype.kind
    if k == "f":
        with np.errstate(over="ignore"):
            return arr.astype(D.get_default_dtype().np) if not isinstance(data, np.ndarray) else arr
    if k in "iu":
        return arr.astype(np.int64)
    if k == "b":
        return arr
    if k == "c":  # Python complex numbers: the default complex dtype; NumPy arrays keep theirs
        if isinstance(data, (np.ndarray, np.generic)):
            return arr
        return arr.astype(D.complex_of(D.get_default_dtype()).np)
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


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """Copy ``data`` (nested lists, numbers, arrays, tensors) into a new leaf tensor.

    >>> ember.tensor([[1, 2], [3, 4]], dtype=ember.float32)
    """
    if pin_memory:
        _layout.check("tensor", None, pin_memory)
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


def from_numpy(ndarray):
    """A tensor sharing memory with the NumPy array ``ndarray``."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(ndarray).__name__})")
    D.from_numpy(ndarray.dtype)
    return Tensor._wrap(ndarray)


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


def zeros(*args, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """A tensor of zeros: ``ember.zeros(2, 3)``."""
    if out is not None:
        return _out.into(out, "zeros", zeros, *args, size=size, dtype=out.dtype if dtype is None else dtype)
    if layout is not None or pin_memory:
        _layout.check("zeros", layout, pin_memory)
    return _creation(0, args if size is None else (size,), dtype, device, requires_grad, "zeros")


def ones(*args, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """A tensor of ones: ``ember.ones(2, 3)``."""
    if out is not None:
        return _out.into(out, "ones", ones, *args, size=size, dtype=out.dtype if dtype is None else dtype)
    if layout is not None or pin_memory:
        _layout.check("ones", layout, pin_memory)
    return _creation(1, args if size is None else (size,), dtype, device, requires_grad, "ones")


def empty(*args, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False, memory_format=None):
    """An uninitialised tensor (ember fills it with zeros)."""
    if out is not None:
        return _out.into(out, "empty", empty, *args, size=size, dtype=out.dtype if dtype is None else dtype)
    if layout is not None or pin_memory or memory_format is not None:
        _layout.check("empty", layout, pin_memory, memory_format)
    return _creation(0, args if size is None else (size,), dtype, device, requires_grad, "empty")


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, pin_memory=False, requires_grad=False):
    """A tensor filled with ``fill_value``; the dtype follows the value's type like torch."""
    if out is not None:
        return _out.into(out, "full", full, size, fill_value, dtype=out.dtype if dtype is None else dtype)
    if layout is not None or pin_memory:
        _layout.check("full", layout, pin_memory)
    if dtype is None:
        if isinstance(fill_value, builtins.bool):
            dtype = D.bool_
        elif isinstance(fill_value, numbers.Integral):
            dtype = D.int64
        elif isinstance(fill_value, builtins.complex):  # torch: the default dtype's complex counterpart
            dtype = D.complex_of(D.get_default_dtype())
    _complex_fill(fill_value, dtype, "full")
    if isinstance(size, numbers.Integral):
        size = (size,)
    if isinstance(fill_value, numbers.Integral) and not isinstance(fill_value, builtins.bool) \
            and (dtype is None or not D.as_dtype(dtype).is_floating_point) and not -2 ** 63 <= fill_value < 2 ** 63:
        raise RuntimeError(f"full: value {fill_value} cannot be converted to type int64 without overflow")
    return _creation(fill_value, (tuple(size),), dtype, device, requires_grad, "full")


def _complex_fill(value, dtype, op):
    """A complex fill value needs a complex dtype (torch refuses to drop the imaginary part)."""
    if isinstance(value, builtins.complex) and not isinstance(value, numbers.Real) and dtype is not None and \
            not D.as_dtype(dtype).is_complex:
        raise RuntimeError(f"{op}: value cannot be converted to type {D.as_dtype(dtype)} without overflow (the fill "
                           f"value {value} is complex); pass a complex dtype such as ember.complex64")
    if isinstance(value, builtins.complex) or (dtype is not None and D.as_dtype(dtype).is_complex):
        D.CPLX[0] = True


def _like(x, dtype):
    return D.as_dtype(dtype) if dtype is not None else x.dtype


def zeros_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
               pin_memory=False):
    if layout is not None or pin_memory or memory_format is not None:
        _layout.check("zeros_like", layout, pin_memory, memory_format)
    return _creation(0, (input.shape,), _like(input, dtype), device or input.device, requires_grad, "zeros_like")


def ones_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
              pin_memory=False):
    if layout is not None or pin_memory or memory_format is not None:
        _layout.check("ones_like", layout, pin_memory, memory_format)
    return _creation(1, (input.shape,), _like(input, dtype), device or input.device, requires_grad, "ones_like")


def empty_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
               pin_memory=False):
    if layout is not None or pin_memory or memory_format is not None:
        _layout.check("empty_like", layout, pin_memory, memory_format)
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
              pin_memory=False):
    if layout is not None or pin_memory or memory_format is not None:
        _layout.check("full_like", layout, pin_memory, memory_format)
    _complex_fill(fill_value, _like(input, dtype), "full_like")
    return _creation(fill_value, (input.shape,), _like(input, dtype), device or input.device, requires_grad, "full_like")


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None, pin_memory=False,
           requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive) by ``step``: ``ember.arange(5)``."""
    if out is not None:
        return _out.into(out, "arange", arange, start, end, step, dtype=out.dtype if dtype is None else dtype)
    if layout is not None or pin_memory:
        _layout.check("arange", layout, pin_memory)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if builtins.any(isinstance(v, builtins.complex) for v in vals) or (dtype is not None and D.as_dtype(dtype).is_complex):
        raise RuntimeError("arange: complex numbers are not supported (as in torch: \"arange_cpu\" is not implemented "
                           "for complex dtypes); use linspace(start, end, steps, dtype=ember.complex64) or "
                           "arange(...).to(ember.complex64)")
    if vals[2] == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (vals[1] - vals[0]) * vals[2] < 0:
        raise RuntimeError(
            f"arange: upper bound and larger bound inconsistent with step sign (start={vals[0]}, end={vals[1]}, step={vals[2]})"
        )
    if dtype is None:
        dtype = D.int64 if builtins.all(isinstance(v, numbers.Integral) for v in vals) else D.get_default_dtype()
    dt = D.as_dtype(dtype)
    if dt.is_floating_point:
        n = int(math.ceil((vals[1] - vals[0]) / vals[2]))
        arr = (vals[0] + np.arange(n, dtype=np.float64) * vals[2]).astype(dt.np)
    else:
        # torch's integer arange: start and step truncated to integers for the values; for int64 the end too
        # and the length from them (arange(0.5, 3.7, dtype=int64) is [0, 1, 2]), for the other integer dtypes
        # the length from the numbers as given ([0, 1, 2, 3])
        xs, xe, xst = (builtins.int(v) for v in vals)
        if dt.np == np.int64:
            if xst == 0:
                raise RuntimeError(f"arange: step must be nonzero (step {vals[2]} is 0 as an integer)")
            sgn = (xst > 0) - (xst < 0)
            n = builtins.max(0, (xe - xs + xst - sgn) // xst)
        else:
            n = builtins.max(0, int(math.ceil((vals[1] - vals[0]) / vals[2])))
        arr = (xs + np.arange(n, dtype=np.int64) * xst).astype(dt.np)
    t = Tensor._wrap(_to_device_array(arr, _device(device)) if device is not None else arr)
    return t.requires_grad_(True) if requires_grad else t


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None, pin_memory=False,
             requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    if out is not None:
        return _out.into(out, "linspace", linspace, start, end, steps, dtype=out.dtype if dtype is None else dtype)
    if layout is not None or pin_memory:
        _layout.check("linspace", layout, pin_memory)
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    dt = _range_dtype(start, end, dtype, "linspace")
    arr = np.linspace(start, end, steps, dtype=np.complex128 if dt.is_complex else np.float64).astype(dt.np)
    t = Tensor._wrap(_to_device_array(arr, _device(device)) if device is not None else arr)
    return t.requires_grad_(True) if requires_grad else t


def _range_dtype(start, end, dtype, op):
    """linspace/logspace: complex endpoints give the default complex dtype, and refuse a real ``dtype``."""
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end)]
    cplx = builtins.any(isinstance(v, builtins.complex) for v in vals)
    if dtype is not None:
        dt = D.as_dtype(dtype)
        if cplx and not dt.is_complex:
            raise RuntimeError(f"torch.{op}(): inferred dtype complex can't be safely cast to passed dtype {dt} "
                               f"(start={vals[0]}, end={vals[1]}); pass a complex dtype or real endpoints")
    else:
        dt = D.complex_of(D.get_default_dtype()) if cplx else D.get_default_dtype()
    if dt.is_complex:
        D.CPLX[0] = True
    return dt


def logspace(start, end, steps, base=10.0, *, out=None, dtype=None, layout=None, device=None, pin_memory=False,
             requires_grad=False):
    if out is not None:
        return _out.into(out, "logspace", logspace, start, end, steps, base, dtype=out.dtype if dtype is None else dtype)
    if layout is not None or pin_memory:
        _layout.check("logspace", layout, pin_memory)
    dt = _range_dtype(start, end, dtype, "logspace")
    arr = (base ** np.linspace(start, end, steps, dtype=np.complex128 if dt.is_complex else np.float64)).astype(dt.np)
    t = Tensor._wrap(_to_device_array(arr, _device(device)) if device is not None else arr)
    return t.requires_grad_(True) if requires_grad else t


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, pin_memory=False, requires_grad=False):
    """The identity matrix (``n`` x ``m``)."""
    if out is not None:
        return _out.into(out, "eye", eye, n, m, dtype=out.dtype if dtype is None else dtype)
    if layout is not None or pin_memory:
        _layout.check("eye", layout, pin_memory)
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    arr = np.eye(n, m, dtype=dt.np)
    t = Tensor._wrap(_to_device_array(arr, _device(device)) if device is not None else arr)
    return t.requires_grad_(True) if requires_grad else t


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None, pin_memory=False,
             requires_grad=False):
    if layout is not None or pin_memory:
        _layout.check("tril_indices", layout, pin_memory)
    r, c = np.tril_indices(row, offset, col)
    arr = np.stack([r, c]).astype(np.int64 if dtype is None else D.as_dtype(dtype).np)
    t = Tensor._wrap(_to_device_array(arr, _device(device)) if device is not None else arr)
    return t.requires_grad_(True) if requires_grad else t


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None, pin_memory=False,
             requires_grad=False):
    if layout is not None or pin_memory:
        _layout.check("triu_indices", layout, pin_memory)
    r, c = np.triu_indices(row, offset, col)
    arr = np.stack([r, c]).astype(np.int64 if dtype is None else D.as_dtype(dtype).np)
    t = Tensor._wrap(_to_device_array(arr, _device(device)) if device is not None else arr)
    return t.requires_grad_(True) if requires_grad else t


def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """An uninitialised tensor of ``size`` (ember chooses its own strides; ``stride`` is not kept)."""
    return empty(*size, dtype=dtype, requires_grad=requires_grad)


def _new_empty_strided(self, size, stride, *, dtype=None, layout=None, device=None, pin_memory=False,
                       requires_grad=False):
    """An uninitialised tensor of ``size`` like ``self`` (ember chooses its own strides)."""
    if layout is not None or pin_memory:
        _layout.check("new_empty_strided", layout, pin_memory)
    return empty(*size, dtype=dtype or self.dtype, requires_grad=requires_grad,
                 device=self.device if device is None else device)


tensor_method(_new_empty_strided, "new_empty_strided")


def empty_permuted(size, physical_layout, *, dtype=None, layout=None, device=None, requires_grad=False,
                   pin_memory=False):
    """An uninitialised tensor of ``size`` (the physical layout is NumPy's choice)."""
    return empty(*size, dtype=dtype, requires_grad=requires_grad)


def scalar_tensor(s, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """A 0-d tensor holding ``s`` (default dtype when ``dtype`` is None)."""
    if isinstance(s, builtins.complex) and not (dtype is not None and D.as_dtype(dtype).is_complex):
        raise RuntimeError(f"scalar_tensor: value cannot be converted to type {D.as_dtype(dtype or D.get_default_dtype())} "
                           f"without overflow (the value {s} is complex); pass dtype=ember.complex64")
    return tensor(float(s) if dtype is None else s, dtype=dtype or D.get_default_dtype(), device=device,
                  requires_grad=requires_grad)


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=None):
    """A tensor from ``obj``, sharing memory when possible (as torch.asarray)."""
    if isinstance(obj, Tensor):
        t = obj if dtype is None else obj.to(dtype)
        if copy:
            t = t.clone()
        return t.requires_grad_(requires_grad) if requires_grad else t
    if copy is None and isinstance(obj, np.ndarray) and (dtype is None or D.as_dtype(dtype).np == obj.dtype):
        t = from_numpy(obj)
    else:
        t = tensor(obj, dtype=dtype)
    return t.requires_grad_(requires_grad) if requires_grad else t


def torch_range(start=0, end=None, step=1, *, dtype=None, layout=None, device=None, requires_grad=False, out=None):
    """Deprecated torch.range: like arange but including ``end`` (float dtype by default)."""
    if out is not None:
        return _out.into(out, "torch_range", torch_range, start, end, step, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)
    if end is None:
        start, end = 0, start
    n = int(math.floor((end - start) / step)) + 1
    dt = dtype or D.get_default_dtype()
    return tensor([start + i * step for i in builtins.range(builtins.max(n, 0))], dtype=dt,
                     requires_grad=requires_grad)


def _window(name, fn):
    def f(window_length, periodic=True, *, dtype=None, layout=None, device=None, pin_memory=False, requires_grad=False):
        if window_length < 0:
            raise RuntimeError(f"{name} requires non-negative window_length, got window_length={window_length}")
        dt = dtype or D.get_default_dtype()
        if window_length == 0:
            return zeros(0, dtype=dt)
        if window_length == 1:
            return ones(1, dtype=dt)
        n = window_length + 1 if periodic else window_length
        w = fn(n)
        if periodic:
            w = w[:-1]
        return tensor(w, dtype=dt, requires_grad=requires_grad)

    f.__name__ = name
    f.__doc__ = f"The {name.replace('_', ' ')} (periodic by default, as torch)."
    return f


bartlett_window = _window("bartlett_window", np.bartlett)


blackman_window = _window("blackman_window", np.blackman)


hann_window = _window("hann_window", np.hanning)


def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None, layout=None, device=None,
                   pin_memory=False, requires_grad=False):
    dt = dtype or D.get_default_dtype()
    if window_length == 0:
        return zeros(0, dtype=dt)
    if window_length == 1:
        return ones(1, dtype=dt)
    n = window_length + 1 if periodic else window_length
    w = alpha - beta * np.cos(2 * math.pi * np.arange(n) / (n - 1))
    return tensor(w[:-1] if periodic else w, dtype=dt, requires_grad=requires_grad)


def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None, device=None,
                  pin_memory=False, requires_grad=False):
    dt = dtype or D.get_default_dtype()
    if window_length == 0:
        return zeros(0, dtype=dt)
    if window_length == 1:
        return ones(1, dtype=dt)
    n = window_length + 1 if periodic else window_length
    w = np.kaiser(n, beta)
    return tensor(w[:-1] if periodic else w, dtype=dt, requires_grad=requires_grad)


def fill(input, value):  # noqa: A002
    """A copy of ``input`` filled with ``value`` (out-of-place ``fill_``)."""
    v = value.item() if isinstance(value, Tensor) else value
    return full_like(input, v)


def binomial(count, prob, generator=None):
    """Binomial samples with ``count`` trials and success probability ``prob`` (elementwise)."""
    from .._random import _gen

    g = _gen(generator)
    return Tensor._wrap(g.np.binomial(count._data.astype(np.int64), prob._data).astype(count._data.dtype))


def poisson(input, generator=None):  # noqa: A002
    """Poisson samples with rates ``input``."""
    from .._random import _gen

    g = _gen(generator)
    return Tensor._wrap(g.np.poisson(input._data).astype(input._data.dtype))


class _Capsule:
    """Wraps a bare DLPack capsule (from ``to_dlpack``) so ``numpy.from_dlpack`` can import it."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, stream=None, **kwargs):
        if self.capsule is None:
            raise RuntimeError("from_dlpack: this DLPack capsule was already consumed (a capsule can be imported "
                               "once; call to_dlpack again)")
        c, self.capsule = self.capsule, None
        return c

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


def from_dlpack(ext_tensor, *, device=None, copy=None):
    """A tensor sharing memory with a DLPack-capable CPU array (NumPy, torch CPU tensors, ...) or a DLPack
    capsule (``to_dlpack``). ``copy=True`` copies, ``copy=False`` refuses to copy (as torch);
    ``device`` must be None or the CPU."""
    if device is not None and _device(device).type != "cpu":
        raise NotImplementedError(f"from_dlpack(device={str(device)!r}): ember imports DLPack data on the CPU "
                                  "only; import it, then move it with .to(device)")
    if copy not in (None, True, False):
        raise TypeError(f"from_dlpack: copy must be None, True or False, got {copy!r}")
    src = ext_tensor
    if type(ext_tensor).__name__ == "PyCapsule":
        src = _Capsule(ext_tensor)
    elif not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a NumPy array, a torch tensor, ...) "
                        f"or a DLPack capsule, got {type(ext_tensor).__name__}")
    try:
        arr = np.from_dlpack(src) if copy is None else np.from_dlpack(src, copy=copy)
    except (BufferError, RuntimeError, TypeError, ValueError) as e:
        raise RuntimeError(f"from_dlpack: could not import {type(ext_tensor).__name__} as a CPU array "
                           f"({type(e).__name__}: {e}); ember's DLPack import is NumPy's (CPU only), and a DLPack capsule "
                           "can be consumed only once") from None
    return from_numpy(arr)


def to_dlpack(tensor):
    """A DLPack capsule of ``tensor``'s data (shared memory), for ``from_dlpack`` of any DLPack library."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dlpack: expected an ember Tensor, got {type(tensor).__name__}")
    return tensor._data.__dlpack__()


def _tensor_dlpack(self, *, stream=None, max_version=None, dl_device=None, copy=None):
    """``Tensor.__dlpack__``: NumPy's (CuPy's for GPU tensors) DLPack export of the data."""
    kw = {k: v for k, v in (("max_version", max_version), ("dl_device", dl_device), ("copy", copy)) if v is not None}
    if self.requires_grad:
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
    return self._data.__dlpack__(stream=stream, **kw) if stream is not None else self._data.__dlpack__(**kw)


def _tensor_dlpack_device(self):
    return self._data.__dlpack_device__()


tensor_method(_tensor_dlpack, dunder="__dlpack__", method=False)
tensor_method(_tensor_dlpack_device, dunder="__dlpack_device__", method=False)


def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """A 1-D tensor sharing memory with an object that implements the buffer protocol (``bytearray``,
    ``array.array``, ``memoryview``, ...): ``count`` elements of ``dtype`` after ``offset`` bytes
    (``count=-1``: all the rest). A read-only buffer (``bytes``) gives a tensor that cannot be written."""
    dt = D.as_dtype(dtype)
    try:
        mv = memoryview(buffer)
    except TypeError:
        raise TypeError(f"frombuffer: expected an object implementing the buffer protocol (bytearray, array.array, "
                        f"memoryview, ...), got {type(buffer).__name__}") from None
    n, it = mv.nbytes, dt.itemsize
    count, offset = int(count), int(offset)
    if n <= 0 and count <= 0:
        raise ValueError(f"frombuffer: both buffer length ({n}) and count ({count}) must not be 0")
    if offset < 0 or offset >= n:
        raise ValueError(f"frombuffer: offset ({offset} bytes) must be non-negative and no greater than buffer "
                         f"length ({n} bytes) minus 1")
    if count <= 0:
        if (n - offset) % it:
            raise ValueError(f"frombuffer: buffer length ({n - offset} bytes) after offset ({offset} bytes) must be "
                             f"a multiple of element size ({it}) of {dt}")
        count = (n - offset) // it
    elif offset + count * it > n:
        raise ValueError(f"frombuffer: requested buffer length ({count} * {it} bytes) after offset ({offset} bytes) "
                         f"must not be greater than actual buffer length ({n} bytes)")
    arr = np.frombuffer(mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv, dtype=dt.np, count=count,
                        offset=offset)
    t = Tensor._wrap(arr)
    return t.requires_grad_(True) if requires_grad else t


__all__ = _public(globals(), private=('torch_range',), types=(_LegacyType,))

# Ops of later families, used at call time only. They are imported here, at the end, and every family in
# between is imported first, so the family modules always load in the order of ember/_ops/__init__.py.
from .casting import cast  # noqa: E402
from .. import _layout, _out  # noqa: E402

"""Move tensors between ember, PyTorch and NumPy, in nested structures such as state dicts.

Each function walks dicts (their type kept, e.g. ``OrderedDict``), lists, tuples and
namedtuples, converts the leaves it knows and leaves every other value as it is. Values are
copied bit for bit (the result never shares memory with the input), and a tensor that appears
twice (tied weights) is converted once, so the result keeps the sharing.

>>> sd = ember.interop.from_torch(torch_model.state_dict())   # torch -> ember
>>> ember_model.load_state_dict(sd)
>>> torch_model.load_state_dict(ember.interop.to_torch(ember_model.state_dict()))

PyTorch is imported only when ``to_torch`` / ``from_torch`` are called.
"""

from __future__ import annotations

import numpy as np

from .serialization import load_safetensors

__all__ = ["to_torch", "from_torch", "to_numpy", "from_numpy", "load_safetensors"]


def _torch(fn):
    try:
        import torch
    except ImportError:
        raise ImportError(f"ember.interop.{fn} needs PyTorch, which is not installed; "
                          f"install it with `pip install torch`") from None
    return torch


def _fmt(parts):
    return "obj" + "".join(f"[{p!r}]" for p in parts)


def _walk(obj, leaf, parts, memo, active):
    """Rebuild ``obj`` with ``leaf(x, parts)`` applied to every leaf (None: keep it as is)."""
    if id(obj) in memo:
        return memo[id(obj)][1]
    if type(obj) not in (dict, list, tuple):
        out = leaf(obj, parts)
        if out is not None:
            memo[id(obj)] = (obj, out)  # keep obj alive so its id cannot be reused during the walk
            return out
    if isinstance(obj, dict):
        kind = "dict"
    elif isinstance(obj, (list, tuple)):
        kind = "seq"
    else:
        return obj
    if id(obj) in active:
        raise ValueError(f"circular reference at {_fmt(parts)} (the object contains itself)")
    active.add(id(obj))
    try:
        if kind == "dict":
            items = [(k, _walk(v, leaf, parts + [k], memo, active)) for k, v in obj.items()]
            if hasattr(obj, "default_factory"):  # defaultdict
                return type(obj)(obj.default_factory, items)
            try:
                return type(obj)(items)
            except TypeError:  # a dict subclass whose constructor takes other arguments
                return dict(items)
        items = [_walk(v, leaf, parts + [i], memo, active) for i, v in enumerate(obj)]
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
            return type(obj)(*items)
        try:
            return type(obj)(items)
        except TypeError:
            return list(items) if isinstance(obj, list) else tuple(items)
    finally:
        active.discard(id(obj))


def _convert(obj, leaf):
    return _walk(obj, leaf, [], {}, set())


def _ember():
    from . import _dtype
    from ._backend import to_device
    from ._tensor import Tensor
    return Tensor, _dtype, to_device


def _host_copy(t):
    Tensor, _, to_device = _ember()
    arr = t._data
    if type(arr) is not np.ndarray:
        arr = np.asarray(to_device(arr, "cpu"))
    return np.array(arr, copy=True, order="C")


def to_torch(obj):
    """Replace every ember Tensor in ``obj`` by a ``torch.Tensor`` (CPU, detached, same dtype and
    bits) and every ember dtype by the torch dtype; other values are kept.

    >>> torch_model.load_state_dict(ember.interop.to_torch(ember_model.state_dict()))
    """
    torch = _torch("to_torch")
    Tensor, D, _ = _ember()

    def leaf(x, parts):
        if isinstance(x, Tensor):
            return torch.from_numpy(_host_copy(x))
        if isinstance(x, D.dtype):
            return getattr(torch, x.name)
        return None

    return _convert(obj, leaf)


def from_torch(obj):
    """Replace every ``torch.Tensor`` in ``obj`` by an ember Tensor (detached copy, same dtype and
    bits), every torch dtype by the ember dtype and ``torch.Size`` by a tuple; other values are kept.

    >>> ember.save(ember.interop.from_torch(torch.load("model.pt", weights_only=True)), "model.ember")
    """
    torch = _torch("from_torch")
    Tensor, D, _ = _ember()

    def leaf(x, parts):
        if isinstance(x, torch.Tensor):
            if x.layout != torch.strided or x.is_quantized:
                raise TypeError(f"ember.interop.from_torch: the tensor at {_fmt(parts)} is "
                                f"{'quantized' if x.is_quantized else x.layout}; only dense tensors "
                                f"convert (use .dequantize() / .to_dense() first)")
            if x.dtype not in _TORCH_OK(torch):
                raise TypeError(f"ember.interop.from_torch: the tensor at {_fmt(parts)} has dtype {x.dtype}, "
                                f"which ember does not have; ember has "
                                f"{', '.join(d.name for d in D._all)} (convert, e.g. with .float())")
            arr = x.detach().cpu().resolve_conj().resolve_neg().contiguous().numpy()
            if arr.dtype.kind == "c":
                D.CPLX[0] = True  # ember's ops check complex inputs from now on
            return Tensor._wrap(np.array(arr, copy=True))
        if isinstance(x, torch.dtype):
            d = D._by_name.get(str(x).removeprefix("torch."))
            if d is None:
                raise TypeError(f"ember.interop.from_torch: {x} at {_fmt(parts)} has no ember dtype")
            return d
        if isinstance(x, torch.Size):
            return tuple(int(s) for s in x)
        return None

    return _convert(obj, leaf)


def _TORCH_OK(torch):
    return (torch.float16, torch.float32, torch.float64, torch.uint8, torch.int8, torch.int16,
            torch.int32, torch.int64, torch.bool, torch.complex64, torch.complex128)


def to_numpy(obj):
    """Replace every ember Tensor in ``obj`` by a NumPy array (a copy) and every ember dtype by
    the NumPy dtype; other values are kept."""
    Tensor, D, _ = _ember()

    def leaf(x, parts):
        if isinstance(x, Tensor):
            return _host_copy(x)
        if isinstance(x, D.dtype):
            return x.np
        return None

    return _convert(obj, leaf)


def from_numpy(obj):
    """Replace every NumPy array in ``obj`` by an ember Tensor (a copy, same dtype and bits) and
    every NumPy dtype by the ember dtype; other values (NumPy scalars included) are kept."""
    Tensor, D, _ = _ember()

    def leaf(x, parts):
        if isinstance(x, np.ndarray):
            try:
                D.from_numpy(x.dtype.newbyteorder("="))
            except TypeError as e:
                raise TypeError(f"ember.interop.from_numpy: the array at {_fmt(parts)}: {e}") from None
            return Tensor._wrap(np.array(x, dtype=x.dtype.newbyteorder("="), copy=True, order="C"))
        if isinstance(x, np.dtype):
            try:
                return D.from_numpy(x)
            except TypeError as e:
                raise TypeError(f"ember.interop.from_numpy: the dtype at {_fmt(parts)}: {e}") from None
        return None

    return _convert(obj, leaf)

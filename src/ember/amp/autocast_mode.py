"""``torch.amp.autocast`` and the ``custom_fwd`` / ``custom_bwd`` decorators, on ember's CPU."""
from __future__ import annotations

import collections.abc
import functools
import warnings

import numpy as np

from .. import _autocast as _ac
from .._autocast import is_autocast_available

__all__ = ["autocast_decorator", "autocast", "is_autocast_available", "custom_fwd", "custom_bwd"]


def autocast_decorator(autocast_instance, func):
    @functools.wraps(func)
    def decorate_autocast(*args, **kwargs):
        with autocast_instance:
            return func(*args, **kwargs)

    return decorate_autocast


def _name(d):
    return "torch.bfloat16" if d == _ac.BF16 else f"torch.{d.name}"


class autocast:
    """Run a region (``with``) or a function (decorator) in mixed precision, as ``torch.autocast``.

    Inside an enabled region, the ops torch's CPU autocast runs in lower precision (``matmul``, ``mm``,
    ``bmm``, ``addmm``, ``baddbmm``, ``addbmm``, ``linear``, ``conv1d/2d/3d``, ``conv_transpose1d/2d/3d``,
    ``prelu``, ``scaled_dot_product_attention``, the LSTM/GRU/RNN cells and layers, ...) cast their
    floating-point inputs (not float64 ones) to ``dtype``; the ops it runs in float32 (the losses,
    ``binary_cross_entropy``, ...) cast them to float32. Other ops run in their inputs' dtype. Gradients
    flow back through the casts, so float32 parameters get float32 gradients, as in torch.

    ``dtype`` defaults to :func:`ember.get_autocast_dtype` of the device type: bfloat16 for 'cpu' as in
    torch. ember has no bfloat16 (NumPy has none), so entering an enabled CPU region in bfloat16 raises:
    pass ``dtype=torch.float16``, or ``enabled=False``. With ``enabled=False`` the region changes nothing
    (also for ``device_type="cuda"``); an enabled 'cuda' region without a GPU warns and is disabled, as
    torch does. The state is thread-local; regions nest.
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled=None):
        _ac.check_device_type(device_type, "autocast")
        self.device = device_type
        self.fast_dtype = _ac._internal(dtype) if dtype is not None else _ac._internal(
            _ac.get_autocast_dtype(device_type))
        if not is_autocast_available(device_type):
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        self._cache_enabled = _ac.is_autocast_cache_enabled() if cache_enabled is None else cache_enabled
        enabled = bool(enabled)
        if enabled:
            if device_type == "cuda":
                from .. import cuda

                if not cuda.is_available():
                    warnings.warn("CUDA is not available (ember runs on the CPU; ember.cuda.is_available() is "
                                  "False). Disabling autocast.", stacklevel=2)
                    enabled = False
            elif not (self.fast_dtype == _ac.BF16 or getattr(self.fast_dtype, "name", None) == "float16"):
                dev = device_type.upper() if device_type != "privateuseone" else device_type
                warnings.warn(f"In {dev} autocast, but the target dtype is not supported. Disabling autocast.\n"
                              f"{dev} Autocast only supports dtypes of torch.bfloat16, torch.float16 currently.",
                              stacklevel=2)
                enabled = False
        self._enabled = enabled

    def __enter__(self):
        if self._enabled and self.fast_dtype == _ac.BF16 and self.device in ("cpu", "cuda"):
            raise RuntimeError(
                f"autocast(device_type={self.device!r}, dtype=torch.bfloat16, enabled=True): ember has no bfloat16 "
                "(NumPy has none), and bfloat16 is torch's default autocast dtype on the CPU. Pass "
                f"dtype=torch.float16 (autocast(device_type={self.device!r}, dtype=torch.float16)) to run the "
                "ops torch's autocast lists in float16, or enabled=False to run everything in float32")
        self.prev_cache_enabled = _ac.is_autocast_cache_enabled()
        self.prev = _ac.is_autocast_enabled(self.device)
        self.prev_fastdtype = _ac._state.dtype.get(self.device)
        _ac.set_autocast_enabled(self.device, self._enabled)
        _ac._state.dtype[self.device] = self.fast_dtype
        _ac.autocast_increment_nesting()
        _ac.set_autocast_cache_enabled(self._cache_enabled)
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        if _ac.autocast_decrement_nesting() == 0:
            _ac.clear_autocast_cache()
        _ac.set_autocast_enabled(self.device, self.prev)
        if self.prev_fastdtype is None:
            _ac._state.dtype.pop(self.device, None)
        else:
            _ac._state.dtype[self.device] = self.prev_fastdtype
        _ac.set_autocast_cache_enabled(self.prev_cache_enabled)
        return False

    def __call__(self, func):
        if not callable(func):
            raise TypeError(
                f"autocast()(func) requires a callable, but got {type(func).__name__}. "
                f"Did you mean to use autocast as a context manager? For example:\n"
                f"    with torch.autocast(device_type=...):\n"
                f"        output = model(input)")
        return autocast_decorator(self, func)

    def __repr__(self):
        dt = "torch.bfloat16" if self.fast_dtype == _ac.BF16 else repr(self.fast_dtype)
        return f"autocast(device_type={self.device!r}, dtype={dt}, enabled={self._enabled})"


def _cast(value, device_type: str, dtype):
    from .._tensor import Tensor

    if isinstance(value, Tensor):
        eligible = value.is_floating_point() and value.device.type == device_type and value.dtype.name != "float64"
        return value.to(dtype) if eligible else value
    if isinstance(value, (str, bytes, np.ndarray)):
        return value
    if isinstance(value, collections.abc.Mapping):
        return {_cast(k, device_type, dtype): _cast(v, device_type, dtype) for k, v in value.items()}
    if isinstance(value, collections.abc.Iterable):
        it = (_cast(v, device_type, dtype) for v in value)
        return type(value)(it) if isinstance(value, (list, tuple)) else it
    return value


def custom_fwd(fwd=None, *, device_type: str, cast_inputs=None):
    """Decorator for the ``forward`` of a custom ``autograd.Function``, as torch's.

    With ``cast_inputs=None``, ``forward`` runs under the caller's autocast state (and :func:`custom_bwd`
    runs ``backward`` under the same). With a dtype, inside an enabled autocast region the floating-point
    tensors among the arguments are cast to it and ``forward`` runs with autocast disabled; outside one,
    the decorator does nothing.
    """
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        args[0]._dtype = _ac.get_autocast_dtype(device_type)
        if cast_inputs is None:
            args[0]._fwd_used_autocast = _ac.is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        in_autocast = _ac.is_autocast_enabled(device_type)
        args[0]._fwd_used_autocast = False
        if in_autocast:
            with autocast(device_type=device_type, enabled=False):
                return fwd(*_cast(args, device_type, cast_inputs), **_cast(kwargs, device_type, cast_inputs))
        return fwd(*args, **kwargs)

    return decorate_fwd


def custom_bwd(bwd=None, *, device_type: str):
    """Decorator for the ``backward`` of a custom ``autograd.Function``: runs it under the autocast state
    its ``forward`` (decorated with :func:`custom_fwd`) saw, as torch's."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        ctx = args[0]
        with autocast(device_type=device_type, enabled=ctx._fwd_used_autocast, dtype=ctx._dtype):
            return bwd(*args, **kwargs)

    return decorate_bwd

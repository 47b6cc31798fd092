"""Autocast state (torch's ``torch.is_autocast_enabled`` & co.) and the casts autocast applies at op entry.

The state is thread-local, per device type, as torch's: whether autocast is enabled, its dtype, the
nesting depth and whether the cast cache is enabled. The ops torch's CPU autocast runs in lower
precision (matmuls, linear, convolutions, ...) or in float32 (losses, ...) call :func:`lower` or
:func:`fp32` at their entry, behind the module flag ``armed``: it is False unless some thread has
autocast enabled, so with autocast off an op pays one attribute lookup.

ember has no bfloat16 (NumPy has none): the dtype ``bfloat16`` (torch's default for CPU autocast) is
recorded as the name below and :data:`ember.bfloat16` (None) is what :func:`get_autocast_dtype`
returns for it; entering an enabled autocast region with it raises (``ember.amp.autocast``).
"""
from __future__ import annotations

import threading
import warnings

BF16 = "bfloat16"  # torch.bfloat16, which ember cannot compute in

# torch's device types (its error for any other string lists them)
DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia",
                "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")
_NOT_AUTOCAST = ("meta", "mkldnn", "opengl", "opencl", "ideep", "ve", "fpga", "lazy", "vulkan")
_BF16_DEFAULT = ("cpu", "hpu", "xla")

armed = False  # True while some thread has autocast enabled for some device type
_lock = threading.Lock()
_n_enabled = 0


class _State(threading.local):
    def __init__(self):
        self.on = False  # autocast enabled for some device type in this thread (and not inside an autocast op)
        self.enabled = {}  # device type -> bool (absent: False)
        self.dtype = {}  # device type -> ember dtype or BF16 (absent: the device's default)
        self.nesting = 0
        self.cache_enabled = True
        self.cache = {}  # (id(weight), grad mode) -> (weight, its version, the cast copy)


_state = _State()


def check_device_type(device_type, what="autocast"):
    if not isinstance(device_type, str):
        raise ValueError(f"{what}: Expected `device_type` of type `str`, got: `{type(device_type)}` (pass a device's `.type`, e.g. 'cpu')")
    if device_type not in DEVICE_TYPES:
        raise RuntimeError(f"{what}: Expected one of {', '.join(DEVICE_TYPES)} device type at start of device "
                           f"string: {device_type}")
    return device_type


def _default_dtype(device_type):
    if device_type in _BF16_DEFAULT:
        return BF16
    from ._dtype import float16

    return float16


def _public(d):
    return None if d == BF16 else d  # ember.bfloat16 is None


def _internal(d):
    if d is None or d == BF16 or getattr(d, "name", None) == "bfloat16":
        return BF16
    from ._dtype import as_dtype

    return as_dtype(d)


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast can be used with ``device_type`` (as torch: True for 'cpu', 'cuda', 'mps', 'xpu', ...,
    False for 'meta'); on ember only 'cpu' (and 'cuda' with CuPy) tensors exist for it to act on."""
    check_device_type(device_type, "is_autocast_available")
    return device_type not in _NOT_AUTOCAST


def is_autocast_enabled(device_type=None) -> bool:
    """Whether autocast is enabled for ``device_type`` in this thread (no argument: 'cuda', as torch)."""
    if device_type is None:
        device_type = "cuda"
    return _state.enabled.get(check_device_type(device_type, "is_autocast_enabled"), False)


def set_autocast_enabled(device_type, enabled=None) -> None:
    """``set_autocast_enabled(device_type, enabled)``, or torch's older ``set_autocast_enabled(enabled)`` for 'cuda'."""
    global armed, _n_enabled
    if enabled is None:
        device_type, enabled = "cuda", device_type
    check_device_type(device_type, "set_autocast_enabled")
    enabled = bool(enabled)
    was = _state.enabled.get(device_type, False)
    _state.enabled[device_type] = enabled
    _state.on = any(_state.enabled.values())
    if was != enabled:
        with _lock:
            _n_enabled += 1 if enabled else -1
            armed = _n_enabled > 0


def get_autocast_dtype(device_type):
    """The dtype autocast uses for ``device_type`` in this thread (default: bfloat16 for 'cpu', float16 for
    'cuda'). ember has no bfloat16: it is returned as ``ember.bfloat16``, which is None."""
    check_device_type(device_type, "get_autocast_dtype")
    return _public(_state.dtype.get(device_type) or _default_dtype(device_type))


def set_autocast_dtype(device_type, dtype) -> None:
    check_device_type(device_type, "set_autocast_dtype")
    _state.dtype[device_type] = _internal(dtype)


def _legacy(old, new):
    warnings.warn(f"torch.{old}() is deprecated. Please use torch.{new} instead.", DeprecationWarning, stacklevel=3)


def get_autocast_cpu_dtype():
    _legacy("get_autocast_cpu_dtype", "get_autocast_dtype('cpu')")
    return get_autocast_dtype("cpu")


def get_autocast_gpu_dtype():
    _legacy("get_autocast_gpu_dtype", "get_autocast_dtype('cuda')")
    return get_autocast_dtype("cuda")


def get_autocast_ipu_dtype():
    _legacy("get_autocast_ipu_dtype", "get_autocast_dtype('ipu')")
    return get_autocast_dtype("ipu")


def get_autocast_xla_dtype():
    _legacy("get_autocast_xla_dtype", "get_autocast_dtype('xla')")
    return get_autocast_dtype("xla")


def set_autocast_cpu_dtype(dtype) -> None:
    _legacy("set_autocast_cpu_dtype", "set_autocast_dtype('cpu', dtype)")
    set_autocast_dtype("cpu", dtype)


def set_autocast_gpu_dtype(dtype) -> None:
    _legacy("set_autocast_gpu_dtype", "set_autocast_dtype('cuda', dtype)")
    set_autocast_dtype("cuda", dtype)


def set_autocast_ipu_dtype(dtype) -> None:
    _legacy("set_autocast_ipu_dtype", "set_autocast_dtype('ipu', dtype)")
    set_autocast_dtype("ipu", dtype)


def set_autocast_xla_dtype(dtype) -> None:
    _legacy("set_autocast_xla_dtype", "set_autocast_dtype('xla', dtype)")
    set_autocast_dtype("xla", dtype)


def is_autocast_cpu_enabled() -> bool:
    _legacy("is_autocast_cpu_enabled", "is_autocast_enabled('cpu')")
    return is_autocast_enabled("cpu")


def is_autocast_ipu_enabled() -> bool:
    _legacy("is_autocast_ipu_enabled", "is_autocast_enabled('ipu')")
    return is_autocast_enabled("ipu")


def is_autocast_xla_enabled() -> bool:
    _legacy("is_autocast_xla_enabled", "is_autocast_enabled('xla')")
    return is_autocast_enabled("xla")


def set_autocast_cpu_enabled(enabled) -> None:
    _legacy("set_autocast_cpu_enabled", "set_autocast_enabled('cpu', enabled)")
    set_autocast_enabled("cpu", enabled)


def set_autocast_ipu_enabled(enabled) -> None:
    _legacy("set_autocast_ipu_enabled", "set_autocast_enabled('ipu', enabled)")
    set_autocast_enabled("ipu", enabled)


def set_autocast_xla_enabled(enabled) -> None:
    _legacy("set_autocast_xla_enabled", "set_autocast_enabled('xla', enabled)")
    set_autocast_enabled("xla", enabled)


def autocast_increment_nesting() -> int:
    """Enter one autocast level in this thread; returns the new depth."""
    _state.nesting += 1
    return _state.nesting


def autocast_decrement_nesting() -> int:
    """Leave one autocast level in this thread; returns the new depth (the cast cache is cleared at 0)."""
    _state.nesting -= 1
    return _state.nesting


def clear_autocast_cache() -> None:
    """Drop the lower-precision copies of weights autocast cached in this thread (done when the outermost
    autocast region exits)."""
    _state.cache.clear()


def is_autocast_cache_enabled() -> bool:
    return _state.cache_enabled


def set_autocast_cache_enabled(enabled) -> None:
    _state.cache_enabled = bool(enabled)


# ---- the casts at op entry -------------------------------------------------------------------------------------
# An op on torch's lists starts with
#     if _ac.armed and _ac._state.on:
#         return _ac.run(_ac.LOWER, op, *args, **kwargs)
# run() casts the eligible tensor arguments (floating point, not float64, on a device type whose autocast is
# enabled) and calls the op again with autocast off in this thread, so the ops it is made of run in the dtypes
# it was given (as torch's autocast excludes its dispatch key inside an autocast op).

LOWER = "lower"  # torch's "lower_precision_fp" list: run in the autocast dtype
FP32 = "fp32"  # torch's "fp32" list: run in float32
NONE = "none"  # not on torch's lists, made of ops that are: run as given, with autocast off inside (as torch's ATen op)


def _target(kind, device_type):
    from ._dtype import float32

    if kind == FP32:
        return float32
    d = _state.dtype.get(device_type) or _default_dtype(device_type)
    if d == BF16:
        raise RuntimeError(
            f"autocast is enabled for device_type {device_type!r} with dtype torch.bfloat16, which ember has no "
            "dtype for (NumPy has none): set a float16 autocast dtype (torch.autocast(device_type, "
            "dtype=torch.float16) or torch.set_autocast_dtype(device_type, torch.float16)), or disable autocast")
    return d


def _cached(v, target):
    """torch's autocast weight cache: a float32 leaf that requires grad (a parameter) is cast once per autocast
    region (per grad mode; an in-place change of the weight, e.g. an optimizer step, makes a new copy)."""
    from .autograd.grad_mode import is_grad_enabled

    key = (id(v), is_grad_enabled())
    hit = _state.cache.get(key)
    if hit is not None and hit[0] is v and hit[1] == v._version:
        fn = hit[2].grad_fn
        if fn is None or not fn.freed:  # (a backward without retain_graph freed the cast's node: cast again)
            return hit[2]
    out = v.to(target)
    _state.cache[key] = (v, v._version, out)
    return out


def _cast_arg(v, kind):
    from ._tensor import Tensor

    if isinstance(v, Tensor):
        dt = v.dtype
        if dt.is_floating_point and dt.name != "float64":
            dev = v.device.type
            if _state.enabled.get(dev, False):
                target = _target(kind, dev)
                if dt is not target:
                    if kind is LOWER and _state.cache_enabled and v.requires_grad and v.is_leaf and dt.name == "float32":
                        return _cached(v, target)
                    return v.to(target)
        return v
    if type(v) in (list, tuple):
        return type(v)(_cast_arg(x, kind) for x in v)
    return v


def cast(kind, *args):
    """The arguments cast for autocast (``kind`` LOWER or FP32), for ops that are one node inside."""
    return [_cast_arg(a, kind) for a in args]


def run(kind, op, *args, **kwargs):
    """Call ``op`` with its tensor arguments cast for autocast (``kind`` LOWER or FP32) and autocast off
    inside it, as torch's autocast wrapper does."""
    if kind is not NONE:
        args = [_cast_arg(a, kind) for a in args]
        kwargs = {k: _cast_arg(v, kind) for k, v in kwargs.items()}
    st = _state
    st.on = False
    try:
        return op(*args, **kwargs)
    finally:
        st.on = any(st.enabled.values())

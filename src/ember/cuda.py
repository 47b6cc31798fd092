"""ember.cuda: GPU availability through CuPy (optional extra ``ember[gpu]``).

The queries torch programs make (``is_available``, ``device_count``, ``manual_seed_all``,
``synchronize``, ``empty_cache``, memory statistics) answer truthfully: without CuPy or without a
visible GPU, ``is_available()`` is False, ``device_count()`` is 0, seeding and cache calls do
nothing, and calls that need a device (``synchronize``, ``current_device``, ...) raise a clear ``RuntimeError``.
"""
from __future__ import annotations

import sys as _sys

_peak = {}


def _cupy_or_none():
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def is_available() -> bool:
    """True if CuPy is installed and sees at least one NVIDIA GPU."""
    cupy = _cupy_or_none()
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver / no device
        return False


def is_initialized() -> bool:
    return is_available()


def device_count() -> int:
    if not is_available():
        return 0
    import cupy

    return int(cupy.cuda.runtime.getDeviceCount())


def _require(what):
    if not is_available():
        raise RuntimeError(
            f"ember.cuda.{what}: CUDA is not available (ember.cuda.is_available() is False: "
            "CuPy is not installed or sees no GPU); install it with `pip install ember[gpu]` on a machine "
            "with an NVIDIA GPU, or run on the CPU"
        )
    import cupy

    return cupy


def _index(device):
    if device is None:
        return None
    if isinstance(device, int):
        return device
    from ._backend import device as _device

    d = _device(device)
    if d.type != "cuda":
        raise ValueError(f"ember.cuda: expected a CUDA device, got {device!r}")
    return d.index


def current_device() -> int:
    cupy = _require("current_device")
    return int(cupy.cuda.runtime.getDevice())


def set_device(device) -> None:
    cupy = _require("set_device")
    cupy.cuda.runtime.setDevice(_index(device))


def get_device_name(device=None) -> str:
    cupy = _require("get_device_name")
    idx = _index(device)
    props = cupy.cuda.runtime.getDeviceProperties(current_device() if idx is None else idx)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def get_device_capability(device=None) -> tuple:
    cupy = _require("get_device_capability")
    idx = _index(device)
    props = cupy.cuda.runtime.getDeviceProperties(current_device() if idx is None else idx)
    return (int(props["major"]), int(props["minor"]))


def manual_seed(seed: int) -> None:
    """Seeds ember's generator when a GPU is in use (GPU arrays are drawn from the same stream).

    Without a GPU it does nothing, as ``torch.cuda.manual_seed`` on a CPU-only machine: the CPU
    stream is seeded by ``ember.manual_seed`` alone."""
    if is_available():
        from ._random import manual_seed as _ms

        _ms(seed)


manual_seed_all = manual_seed


def seed() -> None:
    """Seed from the OS when a GPU is in use (a no-op without one, as torch on a CPU-only machine)."""
    if is_available():
        from ._random import seed as _seed

        _seed()


seed_all = seed


def initial_seed() -> int:
    _require("initial_seed")
    from ._random import initial_seed as _is

    return _is()


def synchronize(device=None) -> None:
    """Wait for queued GPU work; raises without a GPU, as torch's CPU-only build does."""
    cupy = _require("synchronize")
    cupy.cuda.runtime.deviceSynchronize()


def empty_cache() -> None:
    """Release CuPy's cached, unused GPU memory (a no-op without a GPU)."""
    if is_available():
        import cupy

        cupy.get_default_memory_pool().free_all_blocks()


def memory_allocated(device=None) -> int:
    """Bytes held by tensors on the GPU (0 without one)."""
    if not is_available():
        return 0
    import cupy

    used = int(cupy.get_default_memory_pool().used_bytes())
    _peak["allocated"] = max(_peak.get("allocated", 0), used)
    return used


def memory_reserved(device=None) -> int:
    if not is_available():
        return 0
    import cupy

    total = int(cupy.get_default_memory_pool().total_bytes())
    _peak["reserved"] = max(_peak.get("reserved", 0), total)
    return total


def max_memory_allocated(device=None) -> int:
    return max(memory_allocated(device), _peak.get("allocated", 0))


def max_memory_reserved(device=None) -> int:
    return max(memory_reserved(device), _peak.get("reserved", 0))


def reset_peak_memory_stats(device=None) -> None:
    _peak.clear()


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return False


# torch.cuda.amp (deprecated aliases of ember.amp for 'cuda'); registered so `from ember.cuda.amp import
# GradScaler` imports it although ember.cuda is a module, not a package (as os registers os.path).
from .amp import _cuda_amp as amp  # noqa: E402

_sys.modules[__name__ + ".amp"] = amp

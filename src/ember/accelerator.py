"""``ember.accelerator``: torch.accelerator's device-agnostic queries, answered truthfully.

ember's only accelerator is an NVIDIA GPU through CuPy (the optional ``ember[gpu]`` extra). On a
machine without one, ``is_available()`` is False, ``current_accelerator()`` is None and
``device_count()`` is 0, exactly as torch answers on a CPU-only machine, so the usual idiom runs::

    device = ember.accelerator.current_accelerator().type if ember.accelerator.is_available() else "cpu"
"""
from __future__ import annotations

from . import cuda as _cuda
from ._backend import device as _device

__all__ = [
    "current_accelerator", "current_device_idx", "current_device_index", "device_count", "empty_cache",
    "is_available", "set_device_idx", "set_device_index", "synchronize", "memory_allocated",
    "max_memory_allocated", "memory_reserved", "max_memory_reserved", "reset_peak_memory_stats",
]


def is_available() -> bool:
    """True if an accelerator (a CUDA GPU visible to CuPy) can be used."""
    return _cuda.is_available()


def device_count() -> int:
    """Number of accelerator devices (0 without one)."""
    return _cuda.device_count()


def current_accelerator(check_available: bool = False):
    """``ember.device('cuda')`` when a GPU is usable, else None (as torch on a CPU-only build)."""
    if _cuda.is_available():
        return _device("cuda", _cuda.current_device())
    return None


def _require(what):
    if not _cuda.is_available():
        raise RuntimeError(f"ember.accelerator.{what}: no accelerator is available (ember.accelerator."
                           f"is_available() is False); run on the CPU or install CuPy on a machine with a GPU")


def current_device_index() -> int:
    """Index of the current accelerator device (raises without one)."""
    _require("current_device_index")
    return _cuda.current_device()


current_device_idx = current_device_index


def set_device_index(device) -> None:
    _require("set_device_index")
    _cuda.set_device(device)


set_device_idx = set_device_index


def synchronize(device=None) -> None:
    """Wait for the accelerator's queued work; raises without an accelerator, as torch does."""
    _require("synchronize")
    _cuda.synchronize(device)


def empty_cache() -> None:
    _cuda.empty_cache()


def memory_allocated(device_index=None) -> int:
    return _cuda.memory_allocated(device_index)


def max_memory_allocated(device_index=None) -> int:
    return _cuda.max_memory_allocated(device_index)


def memory_reserved(device_index=None) -> int:
    return _cuda.memory_reserved(device_index)


def max_memory_reserved(device_index=None) -> int:
    return _cuda.max_memory_reserved(device_index)


def reset_peak_memory_stats(device_index=None) -> None:
    _cuda.reset_peak_memory_stats(device_index)

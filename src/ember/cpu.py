"""``ember.cpu``: torch.cpu's device-agnostic queries, answered for ember's one CPU device.

Streams and events exist so device-agnostic code (``torch.get_device_module(device).stream(s)``) runs:
ember executes every op synchronously on the calling thread, so they order nothing.
"""
from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["is_available", "is_initialized", "synchronize", "current_device", "current_stream", "stream",
           "set_device", "device_count", "Stream", "StreamContext", "Event", "get_capabilities"]


def _check_device(what, device):
    if device is None:
        return
    from ._backend import device as _device

    if isinstance(device, int):
        if device != 0:
            raise ValueError(f"ember.cpu.{what}: the CPU device has index 0, got {device}")
        return
    d = _device(device)
    if d.type != "cpu":
        raise ValueError(f"ember.cpu.{what}: expected a CPU device, got {str(d)!r}")


def is_available() -> bool:
    """Always True: ember always runs on the CPU."""
    return True


def is_initialized() -> bool:
    return True


def device_count() -> int:
    """1: all CPU cores form one device, as in torch."""
    return 1


def current_device() -> str:
    return "cpu"


def set_device(device) -> None:
    """Accepts ``'cpu'``, ``ember.device('cpu')``, ``0`` or None (a no-op, as in torch)."""
    _check_device("set_device", device)


def synchronize(device=None) -> None:
    """Returns at once: ember's CPU ops finish before they return."""
    _check_device("synchronize", device)


class Stream:
    """A CPU stream (a placeholder for device-agnostic code: CPU ops run in program order)."""

    def __init__(self, priority: int = -1) -> None:
        self.priority = priority

    def wait_stream(self, stream) -> None:
        pass

    def record_event(self) -> None:
        pass

    def wait_event(self, event) -> None:
        pass


class Event:
    def query(self) -> bool:
        return True

    def record(self, stream=None) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def wait(self, stream=None) -> None:
        pass


_default_stream = Stream()
_current = [_default_stream]


def current_stream(device=None) -> Stream:
    _check_device("current_stream", device)
    return _current[-1]


class StreamContext(contextlib.AbstractContextManager):
    """Makes ``stream`` the current CPU stream for a block (``None`` leaves it unchanged)."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        if self.stream is not None:
            _current.append(self.stream)
        return self.stream

    def __exit__(self, *exc):
        if self.stream is not None:
            _current.pop()
        return False


def stream(stream) -> contextlib.AbstractContextManager:
    return StreamContext(stream)


def get_capabilities() -> dict:
    """What ember knows about the CPU: its logical core count and architecture (torch also lists ISA flags)."""
    import platform

    return {"architecture": platform.machine(), "num_logical_cores": os.cpu_count() or 1}


# torch.cpu.amp (deprecated aliases of ember.amp for 'cpu'); registered so `from ember.cpu.amp import autocast`
# imports it although ember.cpu is a module, not a package (as os registers os.path).
from .amp import _cpu_amp as amp  # noqa: E402

sys.modules[__name__ + ".amp"] = amp

"""The one seam between ember and its array libraries (NumPy on the CPU; CuPy on NVIDIA GPUs).

Ops call NumPy functions; CuPy arrays dispatch through NumPy's ``__array_ufunc__`` /
``__array_function__`` protocols, so only array *creation* needs to know the device.
"""
from __future__ import annotations

import numpy as np


class device:
    """Where a tensor's array lives: ``ember.device("cpu")`` or ``ember.device("cuda:0")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        spec = str(spec)
        typ, _, idx = spec.partition(":")
        if typ not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {spec!r}: use 'cpu' or 'cuda[:N]'")
        self.type = typ
        self.index = int(idx) if idx else index
        if typ == "cuda" and self.index is None:
            self.index = 0

    def __eq__(self, other):
        try:
            other = device(other)
        except (ValueError, TypeError):
            return NotImplemented
        return self.type == other.type and (self.type == "cpu" or self.index == other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __repr__(self):
        return f"device(type='{self.type}')" if self.type == "cpu" else f"device(type='cuda', index={self.index})"

    def __str__(self):
        return self.type if self.type == "cpu" else f"cuda:{self.index}"


CPU = device("cpu")


def _cupy():
    try:
        import cupy  # noqa: F401  (optional extra: pip install ember[gpu])
    except ImportError:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "CUDA tensors need CuPy: install it with `pip install ember[gpu]` on a machine with an NVIDIA GPU"
        ) from None
    return cupy


def xp_of(array):
    """The array module (numpy or cupy) that owns ``array``."""
    if type(array) is np.ndarray:
        return np
    mod = type(array).__module__
    if mod.startswith("cupy"):
        return _cupy()
    return np


def device_of(array) -> device:
    if type(array) is np.ndarray or not type(array).__module__.startswith("cupy"):
        return CPU
    return device("cuda", array.device.id)


def to_device(array, dev: device):
    """Copy ``array`` to ``dev`` (a no-op when it is already there)."""
    dev = device(dev)
    if dev.type == "cpu":
        if type(array).__module__.startswith("cupy"):
            return array.get()
        return array
    cp = _cupy()
    with cp.cuda.Device(dev.index):
        return cp.asarray(array)


def module_for(dev) -> object:
    """The array module for a device: numpy for 'cpu', cupy for 'cuda'."""
    if dev is None or device(dev).type == "cpu":
        return np
    return _cupy()

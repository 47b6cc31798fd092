"""``ember.nn.attention``: torch's ``SDPBackend`` and the ``sdpa_kernel`` context manager.

On the CPU ember has one kernel for ``F.scaled_dot_product_attention`` (the math one). ``sdpa_kernel``
accepts what torch accepts and answers as torch's CPU build does: with ``MATH`` or ``FLASH_ATTENTION``
enabled (torch's two CPU kernels, which agree to float tolerance) attention runs; with only
backends torch has no CPU kernel for (``EFFICIENT_ATTENTION``, ``CUDNN_ATTENTION``, ``OVERRIDEABLE``,
``ERROR``) it raises torch's "No viable backend" error.

>>> import ember
>>> import ember.nn.functional as F
>>> from ember.nn.attention import SDPBackend, sdpa_kernel
>>> q = ember.randn(1, 2, 4, 8)
>>> with sdpa_kernel(SDPBackend.MATH):
...     F.scaled_dot_product_attention(q, q, q).shape
ember.Size([1, 2, 4, 8])
"""
from __future__ import annotations

import contextlib
import enum

__all__ = ["SDPBackend", "sdpa_kernel", "WARN_FOR_UNFUSED_KERNELS"]

WARN_FOR_UNFUSED_KERNELS = False


class SDPBackend(enum.IntEnum):
    """The backends of scaled dot product attention (torch's values)."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


_ALL = (SDPBackend.MATH, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION,
        SDPBackend.OVERRIDEABLE)
_CPU = frozenset((SDPBackend.MATH, SDPBackend.FLASH_ATTENTION))  # the backends with a CPU kernel in torch
_enabled = [frozenset(_ALL)]


def _check_enabled():
    """Called by ``F.scaled_dot_product_attention``: raise torch's error when no enabled backend runs on CPU."""
    if not (_enabled[0] & _CPU):
        raise RuntimeError(
            "No viable backend for scaled_dot_product_attention was found. This is likely due to turning off "
            f"both the math kernel and the fused kernels (enabled: {sorted(b.name for b in _enabled[0])}; on the "
            "CPU only SDPBackend.MATH and SDPBackend.FLASH_ATTENTION run)."
        )


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority=False):
    """Enable only ``backends`` (one ``SDPBackend`` or a list) for ``scaled_dot_product_attention`` inside the
    block; the previous set is restored on exit. ``set_priority`` is accepted (ember has one CPU kernel)."""
    if not isinstance(backends, (list, SDPBackend)):
        raise AssertionError(
            f"Backend must be an instance of SDPBackend or a list of SDPBackend instances, got {type(backends).__name__}"
        )
    if isinstance(backends, SDPBackend):
        backends = [backends]
    for b in backends:
        if not isinstance(b, SDPBackend):
            raise AssertionError(f"sdpa_kernel: every backend must be an SDPBackend, got {b!r}")
    previous = _enabled[0]
    _enabled[0] = frozenset(b for b in backends if b is not SDPBackend.ERROR)
    try:
        yield {}
    finally:
        _enabled[0] = previous

"""Constructor argument checks shared by layers: a size is an int, as in torch (``nn.Linear(4.5, 3)``
raises instead of silently building a 4-input layer)."""

from __future__ import annotations

import numbers

__all__ = ["size_arg"]


def size_arg(layer: str, name: str, value) -> int:
    """``value`` as an int >= 0, or a TypeError/ValueError naming the layer, the argument and the value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{layer}: {name} must be >= 0, got {value}")
    return int(value)

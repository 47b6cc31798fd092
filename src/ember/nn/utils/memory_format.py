"""``ember.nn.utils.memory_format``: torch's helpers that convert convolution weights to a memory format.

ember's arrays have one layout (NumPy's, row-major); ``channels_last`` is accepted everywhere and changes
no values, so converting a module's convolution weights returns the module unchanged (what torch's
conversion means for the values: the numbers and results are the same)."""
from __future__ import annotations

__all__ = ["convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format"]


def _convert(module, memory_format, op):
    from ..._layout import memory_format as _memory_format
    from ..modules.module import Module

    if not isinstance(module, Module):
        raise TypeError(f"{op}: module must be an nn.Module, got {type(module).__name__}")
    if not isinstance(memory_format, _memory_format):
        raise TypeError(f"{op}: memory_format must be a memory format such as ember.channels_last or "
                        f"ember.contiguous_format, got {memory_format!r}")
    return module


def convert_conv2d_weight_memory_format(module, memory_format):
    """Convert the weights of the ``Conv2d``/``ConvTranspose2d`` layers of ``module`` to ``memory_format``
    (a no-op on ember's arrays: the module is returned as it is)."""
    return _convert(module, memory_format, "convert_conv2d_weight_memory_format")


def convert_conv3d_weight_memory_format(module, memory_format):
    """Convert the weights of the ``Conv3d``/``ConvTranspose3d`` layers of ``module`` to ``memory_format``
    (a no-op on ember's arrays: the module is returned as it is)."""
    return _convert(module, memory_format, "convert_conv3d_weight_memory_format")

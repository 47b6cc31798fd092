"""``Upsample``: resize by a scale factor or to a size (nearest, linear, bilinear)."""
from __future__ import annotations

from .._functional_interp import interpolate
from .module import Module

__all__ = ["Upsample"]


class Upsample(Module):
    """Resize (N, C, L) / (N, C, H, W) input; see ``ember.nn.functional.interpolate``.

    >>> ember.nn.Upsample(scale_factor=2, mode="bilinear")(ember.randn(1, 3, 4, 4)).shape
    ember.Size([1, 3, 8, 8])
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) else (
            tuple(float(f) for f in scale_factor) if scale_factor is not None else None)
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def extra_repr(self):
        info = f"size={self.size}" if self.scale_factor is None else f"scale_factor={self.scale_factor}"
        return info + f", mode='{self.mode}'"

    def forward(self, input):
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           recompute_scale_factor=self.recompute_scale_factor)

"""``ember.version``: build facts, as ``torch.version`` reports them.

ember is pure Python on NumPy: it is not compiled against CUDA, ROCm/HIP or XPU (a GPU is used through the
optional CuPy at run time), so those are None, as in torch's CPU build; ``debug`` is False.
"""
from __future__ import annotations

from . import __version__

cuda = None
hip = None
rocm = None
xpu = None
debug = False
git_version = "Unknown"  # ember is not stamped with a commit at build time (torch writes 'Unknown' then too)

__all__ = ["__version__", "cuda", "debug", "git_version", "hip", "rocm", "xpu"]

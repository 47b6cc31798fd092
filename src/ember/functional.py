"""``ember.functional``: the module ``torch.functional``, re-exporting its public functions from ``ember``.

Names torch has there that ember does not implement (``stft``, ``istft``, ``lu``, ...) raise the same
clear ``NotImplementedError`` as ``ember.<name>``.
"""
from __future__ import annotations

import ember as _ember

_TORCH_ALL = ["atleast_1d", "atleast_2d", "atleast_3d", "broadcast_shapes", "broadcast_tensors", "cartesian_prod",
              "block_diag", "cdist", "chain_matmul", "einsum", "istft", "lu", "norm", "meshgrid", "pca_lowrank",
              "split", "stft", "svd_lowrank", "tensordot", "unique", "unique_consecutive", "unravel_index"]

__all__ = []
for _n in _TORCH_ALL:
    try:
        globals()[_n] = getattr(_ember, _n)
    except AttributeError:  # listed in _compat_exclusions.txt: __getattr__ below raises ember's error
        continue
    __all__.append(_n)
del _n


def __getattr__(name):
    if name in _TORCH_ALL:
        return getattr(_ember, name)  # raises ember's NotSupportedError naming the feature
    raise AttributeError(f"module 'ember.functional' has no attribute {name!r}")

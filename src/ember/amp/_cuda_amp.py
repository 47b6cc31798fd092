"""``ember.cuda.amp`` (torch.cuda.amp): deprecated aliases of ``ember.amp`` for device 'cuda', with torch's
FutureWarning. Without a GPU, an enabled ``autocast``/``GradScaler`` warns and disables itself, as torch's;
``enabled=False`` ones are silent no-ops, so GPU scripts run on the CPU as written."""
from __future__ import annotations

import warnings

from .. import amp as _amp

__all__ = ["autocast", "GradScaler", "custom_fwd", "custom_bwd", "amp_definitely_not_available"]


def amp_definitely_not_available() -> bool:
    from .. import cuda

    return not cuda.is_available()


def _deprecated(old, new):
    warnings.warn(f"`{old}(args...)` is deprecated. Please use `{new}` instead.", FutureWarning, stacklevel=3)


class autocast(_amp.autocast):
    """``torch.cuda.amp.autocast``: ``ember.amp.autocast("cuda", ...)`` (deprecated in torch)."""

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True):
        _deprecated("torch.cuda.amp.autocast", "torch.amp.autocast('cuda', args...)")
        from .._dtype import float16

        super().__init__("cuda", enabled=enabled, dtype=float16 if dtype is None else dtype,
                         cache_enabled=cache_enabled)


class GradScaler(_amp.GradScaler):
    """``torch.cuda.amp.GradScaler``: ``ember.amp.GradScaler("cuda", ...)`` (deprecated in torch)."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        _deprecated("torch.cuda.amp.GradScaler", "torch.amp.GradScaler('cuda', args...)")
        super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor, backoff_factor=backoff_factor,
                         growth_interval=growth_interval, enabled=enabled)


def custom_fwd(fwd=None, *, cast_inputs=None):
    _deprecated("torch.cuda.amp.custom_fwd", "torch.amp.custom_fwd(args..., device_type='cuda')")
    return _amp.custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd):
    _deprecated("torch.cuda.amp.custom_bwd", "torch.amp.custom_bwd(args..., device_type='cuda')")
    return _amp.custom_bwd(bwd, device_type="cuda")

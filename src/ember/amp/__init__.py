"""``ember.amp``: torch.amp's automatic mixed precision on ember's CPU.

* :class:`autocast` (also ``ember.autocast``): a context manager / decorator that runs the ops torch's
  CPU autocast lists in lower precision (matmuls, ``linear``, convolutions, ...) with their inputs cast
  to float16, and the ops it lists as float32 (losses, ...) in float32. ember has no bfloat16, torch's
  default CPU autocast dtype: pass ``dtype=torch.float16``, or ``enabled=False`` (then every call is a no-op,
  also for ``device_type="cuda"``, so GPU scripts run on the CPU as written).
* :class:`GradScaler`: torch's loss scaling (scale, unscale\\_, skipped steps on inf/NaN, update).
* :func:`custom_fwd` / :func:`custom_bwd`: decorators for custom ``autograd.Function`` s.
"""
from . import autocast_mode, grad_scaler
from .autocast_mode import autocast, custom_bwd, custom_fwd, is_autocast_available
from .grad_scaler import GradScaler

__all__ = ["autocast", "custom_fwd", "custom_bwd", "is_autocast_available", "GradScaler", "autocast_mode",
           "grad_scaler"]

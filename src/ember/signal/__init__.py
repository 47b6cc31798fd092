"""``ember.signal``: torch.signal (``ember.signal.windows``: window functions)."""
from . import windows

__all__ = ["windows"]

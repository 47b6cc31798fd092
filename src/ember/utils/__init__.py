"""ember.utils: helpers around the core (``ember.utils.data`` for data loading)."""
from . import data

__all__ = ["data"]

"""ember.utils: helpers around the core (``ember.utils.data`` for data loading, ``ember.utils.dlpack``)."""
from . import checkpoint, data, dlpack

__all__ = ["checkpoint", "data", "dlpack"]

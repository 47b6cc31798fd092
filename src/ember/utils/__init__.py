"""ember.utils: helpers around the core (``ember.utils.data`` for data loading, ``ember.utils.dlpack``)."""
from . import data, dlpack

__all__ = ["data", "dlpack"]

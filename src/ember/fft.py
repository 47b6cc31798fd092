"""``ember.fft``: the parts of torch.fft that work without a complex dtype."""
from __future__ import annotations

from ._compat import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("torch.fft", "ember.fft")  # listed torch names raise a clear error

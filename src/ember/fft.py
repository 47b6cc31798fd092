"""``ember.fft``: the parts of torch.fft that work without a complex dtype.

ember has no complex tensors, so the transforms themselves (``fft``, ``rfft``, ``irfft``, ``fft2``, ...,
which return or take complex tensors) are not provided: reaching for one raises ``NotImplementedError``
saying so. The sample-frequency helpers and the shifts, which are real, are here:
``fftfreq``, ``rfftfreq``, ``fftshift``, ``ifftshift`` (the shifts are differentiable).
"""
from __future__ import annotations

import numpy as np

from . import _dtype as D
from . import _ops as _o


def fftfreq(n, d=1.0, *, dtype=None, layout=None, device=None, requires_grad=False, out=None):
    """Sample frequencies of an ``n``-point FFT with sample spacing ``d``."""
    if out is not None:
        return _out.into(out, "fftfreq", fftfreq, n, d, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)
    return _o.tensor(np.fft.fftfreq(n, d), dtype=dtype or D.get_default_dtype(), requires_grad=requires_grad)


def rfftfreq(n, d=1.0, *, dtype=None, layout=None, device=None, requires_grad=False, out=None):
    """Sample frequencies of an ``n``-point real FFT (the non-negative half)."""
    if out is not None:
        return _out.into(out, "rfftfreq", rfftfreq, n, d, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)
    return _o.tensor(np.fft.rfftfreq(n, d), dtype=dtype or D.get_default_dtype(), requires_grad=requires_grad)


def _shift(x, dim, sign):
    dims = tuple(range(x.ndim)) if dim is None else ((dim,) if isinstance(dim, int) else tuple(dim))
    shifts = tuple(sign * (x.shape[d] // 2) if sign > 0 else -(x.shape[d] // 2) for d in dims)
    return _o.roll(x, shifts, dims)


def fftshift(input, dim=None):  # noqa: A002
    """Move the zero-frequency term to the centre (a roll by n // 2 over ``dim``; differentiable)."""
    return _shift(input, dim, 1)


def ifftshift(input, dim=None):  # noqa: A002
    """The inverse of ``fftshift`` (a roll by -(n // 2); differentiable)."""
    return _shift(input, dim, -1)


from ._compat import module_getattr as _module_getattr  # noqa: E402
from . import _out  # noqa: E402

__getattr__ = _module_getattr("torch.fft", "ember.fft")  # listed torch names raise a clear error

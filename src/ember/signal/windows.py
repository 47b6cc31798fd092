"""``ember.signal.windows``: torch.signal.windows' window functions, with torch's parameters.

Each is computed as torch computes it (a ``linspace`` in the requested dtype, then elementwise ops); values
agree with torch's to rounding (a few ulps). ``requires_grad=True`` records the graph from that
``linspace`` as torch does.

>>> ember.signal.windows.hann(5)
tensor([0.0000, 0.5000, 1.0000, 0.5000, 0.0000])
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import ember as _e

__all__ = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "general_cosine", "general_hamming",
           "hamming", "hann", "kaiser", "nuttall"]


def _checks(name, M, dtype, layout):
    if dtype is None:
        dtype = _e.get_default_dtype()
    dtype = _e.as_dtype(dtype)
    if isinstance(M, bool) or not isinstance(M, int):
        raise TypeError(f"{name}: the window length M must be an int, got {type(M).__name__} {M!r}")
    if M < 0:
        raise ValueError(f"{name} requires non-negative window length, got M={M}")
    if layout not in (None, _e.strided):
        raise ValueError(f"{name} is implemented for strided tensors only, got: {layout}")
    if dtype not in (_e.float32, _e.float64):
        raise ValueError(f"{name} expects float32 or float64 dtypes, got: {dtype}")
    return dtype


def _trivial(M, dtype, device, requires_grad, ones_at_1=True):
    if M == 0:
        return _e.empty((0,), dtype=dtype, device=device, requires_grad=requires_grad)
    if M == 1 and ones_at_1:
        return _e.ones((1,), dtype=dtype, device=device, requires_grad=requires_grad)
    return None


def _lin(start, end, M, dtype, device, requires_grad):
    return _e.linspace(start, end, M, dtype=dtype, device=device, requires_grad=requires_grad)


def exponential(M: int, *, center: float | None = None, tau: float = 1.0, sym: bool = True, dtype=None,
                layout=_e.strided, device=None, requires_grad: bool = False):
    """exp(-|n - center| / tau) for n = 0..M-1 (``center`` defaults to the window's middle)."""
    dtype = _checks("exponential", M, dtype, layout)
    if tau <= 0:
        raise ValueError(f"exponential: tau must be positive, got: {tau} instead.")
    if sym and center is not None:
        raise ValueError("exponential: center must be None for symmetric windows (pass sym=False to set it)")
    if M == 0:
        return _trivial(M, dtype, device, requires_grad)
    if center is None:
        center = (M if not sym and M > 1 else M - 1) / 2.0
    c = 1 / tau
    k = _lin(-center * c, (-center + (M - 1)) * c, M, dtype, device, requires_grad)
    return _e.exp(-_e.abs(k))


def cosine(M: int, *, sym: bool = True, dtype=None, layout=_e.strided, device=None, requires_grad: bool = False):
    """The sine window sin(pi (n + 1/2) / M)."""
    dtype = _checks("cosine", M, dtype, layout)
    if M == 0:
        return _trivial(M, dtype, device, requires_grad)
    c = math.pi / (M + 1 if not sym and M > 1 else M)
    return _e.sin(_lin(0.5 * c, (0.5 + (M - 1)) * c, M, dtype, device, requires_grad))


def gaussian(M: int, *, std: float = 1.0, sym: bool = True, dtype=None, layout=_e.strided, device=None,
             requires_grad: bool = False):
    """exp(-(n - (M-1)/2)^2 / (2 std^2))."""
    dtype = _checks("gaussian", M, dtype, layout)
    if std <= 0:
        raise ValueError(f"gaussian: standard deviation must be positive, got: {std} instead.")
    if M == 0:
        return _trivial(M, dtype, device, requires_grad)
    start = -(M if not sym and M > 1 else M - 1) / 2.0
    c = 1 / (std * math.sqrt(2))
    k = _lin(start * c, (start + (M - 1)) * c, M, dtype, device, requires_grad)
    return _e.exp(-(k ** 2))


def kaiser(M: int, *, beta: float = 12.0, sym: bool = True, dtype=None, layout=_e.strided, device=None,
           requires_grad: bool = False):
    """I0(beta sqrt(1 - (2n/(M-1) - 1)^2)) / I0(beta)."""
    dtype = _checks("kaiser", M, dtype, layout)
    if beta < 0:
        raise ValueError(f"kaiser: beta must be non-negative, got: {beta} instead.")
    t = _trivial(M, dtype, device, requires_grad)
    if t is not None:
        return t
    b = _e.tensor(beta, dtype=dtype, device=device)
    start = -b
    c = 2.0 * b / (M if not sym else M - 1)
    end = _e.minimum(b, start + (M - 1) * c)
    k = _lin(start.item(), end.item(), M, dtype, device, requires_grad)
    return _e.i0(_e.sqrt(b * b - _e.pow(k, 2))) / _e.i0(b)


def general_cosine(M, *, a: Iterable, sym: bool = True, dtype=None, layout=_e.strided, device=None,
                   requires_grad: bool = False):
    """sum_i (-1)^i a_i cos(2 pi i n / (M-1)) (``M`` in the denominator when ``sym=False``)."""
    return _general_cosine("general_cosine", M, a, sym, dtype, layout, device, requires_grad)


def _general_cosine(name, M, a, sym, dtype, layout, device, requires_grad):
    dtype = _checks(name, M, dtype, layout)
    t = _trivial(M, dtype, device, requires_grad)
    if t is not None:
        return t
    if not isinstance(a, Iterable):
        raise TypeError(f"{name}: coefficients a must be a list/tuple, got {type(a).__name__}")
    a = list(a)
    if not a:
        raise ValueError(f"{name}: coefficients a cannot be empty")
    c = 2 * math.pi / (M if not sym else M - 1)
    k = _lin(0, (M - 1) * c, M, dtype, device, requires_grad)
    a_i = _e.tensor([(-1) ** i * w for i, w in enumerate(a)], dtype=dtype, device=device, requires_grad=requires_grad)
    i = _e.arange(a_i.shape[0], dtype=dtype, device=device, requires_grad=requires_grad)
    return (a_i.unsqueeze(-1) * _e.cos(i.unsqueeze(-1) * k)).sum(0)


def general_hamming(M, *, alpha: float = 0.54, sym: bool = True, dtype=None, layout=_e.strided, device=None,
                    requires_grad: bool = False):
    """alpha - (1 - alpha) cos(2 pi n / (M-1))."""
    return _general_cosine("general_hamming", M, [alpha, 1.0 - alpha], sym, dtype, layout, device, requires_grad)


def hamming(M: int, *, sym: bool = True, dtype=None, layout=_e.strided, device=None, requires_grad: bool = False):
    return _general_cosine("hamming", M, [0.54, 1.0 - 0.54], sym, dtype, layout, device, requires_grad)


def hann(M: int, *, sym: bool = True, dtype=None, layout=_e.strided, device=None, requires_grad: bool = False):
    return _general_cosine("hann", M, [0.5, 0.5], sym, dtype, layout, device, requires_grad)


def blackman(M: int, *, sym: bool = True, dtype=None, layout=_e.strided, device=None, requires_grad: bool = False):
    return _general_cosine("blackman", M, [0.42, 0.5, 0.08], sym, dtype, layout, device, requires_grad)


def nuttall(M: int, *, sym: bool = True, dtype=None, layout=_e.strided, device=None, requires_grad: bool = False):
    return _general_cosine("nuttall", M, [0.3635819, 0.4891775, 0.1365995, 0.0106411], sym, dtype, layout, device,
                           requires_grad)


def bartlett(M: int, *, sym: bool = True, dtype=None, layout=_e.strided, device=None, requires_grad: bool = False):
    """The triangular window 1 - |2n/(M-1) - 1|."""
    dtype = _checks("bartlett", M, dtype, layout)
    t = _trivial(M, dtype, device, requires_grad)
    if t is not None:
        return t
    c = 2 / (M if not sym else M - 1)
    return 1 - _e.abs(_lin(-1, -1 + (M - 1) * c, M, dtype, device, requires_grad))

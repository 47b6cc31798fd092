"""``ember.fft``: torch.fft's discrete Fourier transforms, differentiable, on NumPy's pocketfft.

``fft``/``ifft``/``fft2``/``ifft2``/``fftn``/``ifftn`` (complex to complex), ``rfft``/``irfft`` and their 2-D and
n-D forms (real to half-spectrum and back), ``hfft``/``ihfft`` and their 2-D and n-D forms (Hermitian), with
torch's arguments (``n``/``s`` crop or zero-pad the input, ``dim``, ``norm`` = "backward" / "ortho" /
"forward", ``out=``) and dtypes (float32 -> complex64, float64 -> complex128, integers as the default float
dtype). Gradients follow torch's convention for complex tensors (see ``ember._ops.complex_ops``); the gradient
of a transform is the adjoint transform. ``fftfreq``, ``rfftfreq``, ``fftshift`` and ``ifftshift`` are here too.
"""
from __future__ import annotations

import numpy as np

from . import _dtype as D
from . import _ops as _o
from ._tensor import Tensor
from .autograd.engine import Node

_DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _norm(norm, op):
    if norm is None:
        return "backward"
    if norm not in _DUAL:
        raise ValueError(f'{op}: Invalid normalization mode: "{norm}" (use "backward", "ortho" or "forward")')
    return norm


def _input(x, op, real_only=False):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    k = x._data.dtype.kind
    if k == "c":
        if real_only:
            raise RuntimeError(f"{op} expects a real input tensor, but got {x.dtype}; use fft for complex input")
        return x
    if x._data.dtype == np.float16:
        raise TypeError(f"{op}: float16 transforms are not supported (torch supports them on CUDA only); convert "
                        "the input to float32")
    if k != "f":
        x = _o.cast(x, D.get_default_dtype())
    D.CPLX[0] = True
    return x


def _cdt(a):
    """The complex NumPy dtype of the precision of array ``a``."""
    return np.complex128 if a.dtype in (np.float64, np.complex128) else np.complex64


def _rdt(a):
    return np.float64 if a.dtype in (np.float64, np.complex128) else np.float32


class _C2C(Node):
    """fftn (inverse=False) or ifftn over ``axes``; its adjoint is the other one with the dual norm."""

    name = "FftC2CBackward0"
    saves = {}
    complex_ok = True

    def __init__(self, axes, norm, inverse):
        self.axes, self.norm, self.inverse = axes, norm, inverse

    def forward(self, x):
        f = np.fft.ifftn if self.inverse else np.fft.fftn
        return f(x, axes=self.axes, norm=self.norm).astype(_cdt(x), copy=False)

    def backward(self, ns, g, ins, out):
        if isinstance(g, Tensor):
            return (_C2C(self.axes, _DUAL[self.norm], not self.inverse)(g),)
        f = np.fft.fftn if self.inverse else np.fft.ifftn
        return (f(g, axes=self.axes, norm=_DUAL[self.norm]).astype(g.dtype, copy=False),)


class _R2C(Node):
    """rfftn over ``axes`` (the last one halved); adjoint: zero-extend the half spectrum, ifftn with the dual
    norm, real part."""

    name = "FftR2CBackward0"
    saves = {}
    complex_ok = True

    def __init__(self, axes, norm):
        self.axes, self.norm = axes, norm

    def forward(self, x):
        self.n = x.shape[self.axes[-1]]
        return np.fft.rfftn(x, axes=self.axes, norm=self.norm).astype(_cdt(x), copy=False)

    def backward(self, ns, g, ins, out):
        ax, n = self.axes[-1], self.n
        if isinstance(g, Tensor):
            full = _resize(g, ax, n)
            return (_o.real(_C2C(self.axes, _DUAL[self.norm], True)(full)),)
        full = np.zeros(g.shape[:ax] + (n,) + g.shape[ax + 1:], g.dtype)
        idx = [slice(None)] * g.ndim
        idx[ax] = slice(0, g.shape[ax])
        full[tuple(idx)] = g
        return (np.fft.ifftn(full, axes=self.axes, norm=_DUAL[self.norm]).real.astype(_rdt(g), copy=False),)


def _c2r_weights(m, n, ndim, ax, dtype):
    """irfft's adjoint doubles the bins that stand for two (conjugate) bins of the full spectrum."""
    w = np.full(m, 2.0, dtype)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    shape = [1] * ndim
    shape[ax] = m
    return w.reshape(shape)


class _C2R(Node):
    """irfftn over ``axes`` with output sizes ``s`` (the input's last axis has s[-1] // 2 + 1 bins); adjoint:
    rfftn with the dual norm, the bins that stand for two doubled."""

    name = "FftC2RBackward0"
    saves = {}
    complex_ok = True

    def __init__(self, axes, s, norm):
        self.axes, self.s, self.norm = axes, s, norm

    def forward(self, x):
        return np.fft.irfftn(x, s=self.s, axes=self.axes, norm=self.norm).astype(_rdt(x), copy=False)

    def backward(self, ns, g, ins, out):
        ax, n = self.axes[-1], self.s[-1]
        m = n // 2 + 1
        if isinstance(g, Tensor):
            w = Tensor._wrap(_c2r_weights(m, n, g.ndim, ax, _rdt(g._data)))
            return (_R2C(self.axes, _DUAL[self.norm])(g) * w,)
        r = np.fft.rfftn(g, axes=self.axes, norm=_DUAL[self.norm]).astype(_cdt(g), copy=False)
        return (r * _c2r_weights(m, n, g.ndim, ax, _rdt(g)),)


def _resize(x, ax, n):
    """``x`` cropped or zero-padded at the end of dim ``ax`` to length ``n`` (differentiable)."""
    cur = x.shape[ax]
    if cur == n:
        return x
    if cur > n:
        return _o.narrow(x, ax, 0, n)
    shape = list(x.shape)
    shape[ax] = n - cur
    return _o.cat([x, _o.zeros(shape, dtype=x.dtype)], ax)


def _dims(x, s, dim, op, default_all):
    """torch's (s, dim) rules: the dims transformed and the size of each (None: keep the input's)."""
    nd = x.ndim
    if dim is None:
        if s is None:
            dims = list(range(nd)) if default_all else [nd - 2, nd - 1]
        else:
            s = [s] if isinstance(s, int) else list(s)
            if len(s) > nd:
                raise RuntimeError(f"{op}: got shape with {len(s)} values but input tensor only has {nd} dimensions")
            dims = list(range(nd - len(s), nd))
    else:
        dims = [dim] if isinstance(dim, int) else list(dim)
        dims = [_o._dim(d, nd, op) for d in dims]
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"{op}: dims must be unique, got {tuple(dim)}")
    if s is None:
        sizes = [None] * len(dims)
    else:
        s = [s] if isinstance(s, int) else list(s)
        if len(s) != len(dims):
            raise RuntimeError(f"{op}: when given, dim and shape arguments must have the same length, got {len(dims)} "
                               f"dims and {len(s)} sizes")
        sizes = [None if v == -1 else int(v) for v in s]
    for v in sizes:
        if v is not None and v < 1:
            raise RuntimeError(f"{op}: Invalid number of data points ({v}) specified")
    if not dims and nd == 0 and default_all:
        pass
    return dims, sizes


def _c2c(op, input, s, dim, norm, inverse, default_all=True):
    x = _input(input, op)
    norm = _norm(norm, op)
    dims, sizes = _dims(x, s, dim, op, default_all)
    for d, n in zip(dims, sizes):
        if n is not None:
            x = _resize(x, d, n)
    for d in dims:
        if x.shape[d] < 1:
            raise RuntimeError(f"{op}: Invalid number of data points (0) specified")
    if not dims:
        return _o.cast(x, D.complex_of(D.from_numpy(x._data.dtype)))
    return _C2C(tuple(dims), norm, inverse)(x)


def _r2c(op, input, s, dim, norm, default_all=True):
    x = _input(input, op, real_only=True)
    norm = _norm(norm, op)
    dims, sizes = _dims(x, s, dim, op, default_all)
    if not dims:
        raise RuntimeError(f"{op} must transform at least one axis")
    for d, n in zip(dims, sizes):
        if n is not None:
            x = _resize(x, d, n)
    for d in dims:
        if x.shape[d] < 1:
            raise RuntimeError(f"{op}: Invalid number of data points (0) specified")
    return _R2C(tuple(dims), norm)(x)


def _c2r(op, input, s, dim, norm, default_all=True):
    x = _input(input, op)
    if x._data.dtype.kind != "c":
        x = _o.cast(x, D.complex_of(D.from_numpy(x._data.dtype)))
    norm = _norm(norm, op)
    dims, sizes = _dims(x, s, dim, op, default_all)
    if not dims:
        raise RuntimeError(f"{op} must transform at least one axis")
    last = dims[-1]
    out_s = [x.shape[d] if n is None else n for d, n in zip(dims[:-1], sizes[:-1])]
    n_last = sizes[-1] if sizes[-1] is not None else 2 * (x.shape[last] - 1)
    if n_last < 1:
        raise RuntimeError(f"{op}: Invalid number of data points ({n_last}) specified")
    for d, n in zip(dims[:-1], out_s):
        x = _resize(x, d, n)
    x = _resize(x, last, n_last // 2 + 1)
    return _C2R(tuple(dims), tuple(out_s) + (n_last,), norm)(x)


# ---------------------------------------------------------------------------- complex to complex
def fft(input, n=None, dim=-1, norm=None, *, out=None):  # noqa: A002
    """The 1-D discrete Fourier transform over ``dim`` (``n``: crop or zero-pad the input to n points first)."""
    if out is not None:
        return _out.into(out, "fft", fft, input, n, dim, norm)
    return _c2c("fft", input, None if n is None else [n], [dim], norm, False)


def ifft(input, n=None, dim=-1, norm=None, *, out=None):  # noqa: A002
    """The 1-D inverse discrete Fourier transform over ``dim``."""
    if out is not None:
        return _out.into(out, "ifft", ifft, input, n, dim, norm)
    return _c2c("ifft", input, None if n is None else [n], [dim], norm, True)


def fft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):  # noqa: A002
    """The 2-D discrete Fourier transform over ``dim`` (two dims)."""
    if out is not None:
        return _out.into(out, "fft2", fft2, input, s, dim, norm)
    return _c2c("fft2", input, s, dim, norm, False)


def ifft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):  # noqa: A002
    """The 2-D inverse discrete Fourier transform over ``dim``."""
    if out is not None:
        return _out.into(out, "ifft2", ifft2, input, s, dim, norm)
    return _c2c("ifft2", input, s, dim, norm, True)


def fftn(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
    """The N-D discrete Fourier transform over ``dim`` (all dims, or the last len(s) when only ``s`` is given)."""
    if out is not None:
        return _out.into(out, "fftn", fftn, input, s, dim, norm)
    return _c2c("fftn", input, s, dim, norm, False)


def ifftn(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
    """The N-D inverse discrete Fourier transform over ``dim``."""
    if out is not None:
        return _out.into(out, "ifftn", ifftn, input, s, dim, norm)
    return _c2c("ifftn", input, s, dim, norm, True)


# ---------------------------------------------------------------------------- real <-> half spectrum
def rfft(input, n=None, dim=-1, norm=None, *, out=None):  # noqa: A002
    """The 1-D transform of a real signal: the n // 2 + 1 non-negative frequencies."""
    if out is not None:
        return _out.into(out, "rfft", rfft, input, n, dim, norm)
    return _r2c("rfft", input, None if n is None else [n], [dim], norm)


def irfft(input, n=None, dim=-1, norm=None, *, out=None):  # noqa: A002
    """The inverse of ``rfft``: a real signal of ``n`` points (default 2 * (m - 1)) from a half spectrum of m
    bins (the imaginary parts of the zero and Nyquist bins are ignored, as torch does)."""
    if out is not None:
        return _out.into(out, "irfft", irfft, input, n, dim, norm)
    return _c2r("irfft", input, None if n is None else [n], [dim], norm)


def rfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):  # noqa: A002
    """The 2-D transform of a real signal (the last of ``dim`` halved)."""
    if out is not None:
        return _out.into(out, "rfft2", rfft2, input, s, dim, norm)
    return _r2c("rfft2", input, s, dim, norm)


def irfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):  # noqa: A002
    """The inverse of ``rfft2``."""
    if out is not None:
        return _out.into(out, "irfft2", irfft2, input, s, dim, norm)
    return _c2r("irfft2", input, s, dim, norm)


def rfftn(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
    """The N-D transform of a real signal (the last of ``dim`` halved)."""
    if out is not None:
        return _out.into(out, "rfftn", rfftn, input, s, dim, norm)
    return _r2c("rfftn", input, s, dim, norm)


def irfftn(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
    """The inverse of ``rfftn``."""
    if out is not None:
        return _out.into(out, "irfftn", irfftn, input, s, dim, norm)
    return _c2r("irfftn", input, s, dim, norm)


# ---------------------------------------------------------------------------- Hermitian signals
def hfft(input, n=None, dim=-1, norm=None, *, out=None):  # noqa: A002
    """The transform of a signal with Hermitian symmetry given by its first half: a real spectrum of ``n``
    points (default 2 * (m - 1)); irfft of the conjugate with the dual norm."""
    if out is not None:
        return _out.into(out, "hfft", hfft, input, n, dim, norm)
    x = _input(input, "hfft")
    return _c2r("hfft", _o.conj(x), None if n is None else [n], [dim], _DUAL[_norm(norm, "hfft")])


def ihfft(input, n=None, dim=-1, norm=None, *, out=None):  # noqa: A002
    """The inverse of ``hfft``: the half Hermitian signal of a real one (conjugate of rfft with the dual norm)."""
    if out is not None:
        return _out.into(out, "ihfft", ihfft, input, n, dim, norm)
    return _o.conj(_r2c("ihfft", input, None if n is None else [n], [dim], _DUAL[_norm(norm, "ihfft")]))


def hfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):  # noqa: A002
    """The 2-D ``hfft`` (the last of ``dim`` is the Hermitian half)."""
    if out is not None:
        return _out.into(out, "hfft2", hfft2, input, s, dim, norm)
    x = _input(input, "hfft2")
    return _c2r("hfft2", _o.conj(x), s, dim, _DUAL[_norm(norm, "hfft2")])


def ihfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):  # noqa: A002
    """The inverse of ``hfft2``."""
    if out is not None:
        return _out.into(out, "ihfft2", ihfft2, input, s, dim, norm)
    return _o.conj_physical(_r2c("ihfft2", input, s, dim, _DUAL[_norm(norm, "ihfft2")]))


def hfftn(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
    """The N-D ``hfft`` (the last of ``dim`` is the Hermitian half)."""
    if out is not None:
        return _out.into(out, "hfftn", hfftn, input, s, dim, norm)
    x = _input(input, "hfftn")
    return _c2r("hfftn", _o.conj(x), s, dim, _DUAL[_norm(norm, "hfftn")])


def ihfftn(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
    """The inverse of ``hfftn``."""
    if out is not None:
        return _out.into(out, "ihfftn", ihfftn, input, s, dim, norm)
    return _o.conj_physical(_r2c("ihfftn", input, s, dim, _DUAL[_norm(norm, "ihfftn")]))


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

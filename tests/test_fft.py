"""ember.fft against torch.fft: values, dtypes and gradients of every transform (real and complex inputs, odd and
even lengths, n/s cropping and zero-padding, dims, the three norms), gradcheck, out=, and the errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from _helpers import backward_with, to_numpy
from ember.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(1)


def _r(*s, dtype=np.float64):
    return RNG.standard_normal(s).astype(dtype)


def _c(*s, dtype=np.complex128):
    return (RNG.standard_normal(s) + 1j * RNG.standard_normal(s)).astype(dtype)


_np = to_numpy


def _compare(name, x, **kw):
    tol = dict(rtol=1e-4, atol=1e-5) if x.dtype in (np.float32, np.complex64) else dict(rtol=1e-9, atol=1e-11)
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    to, eo = getattr(torch.fft, name)(tx, **kw), getattr(ember.fft, name)(ex, **kw)
    assert str(eo.dtype).split(".")[-1] == str(to.dtype).split(".")[-1]
    assert tuple(eo.shape) == tuple(to.shape)
    np.testing.assert_allclose(_np(eo), _np(to), **tol)
    v = RNG.standard_normal(to.shape) + (1j * RNG.standard_normal(to.shape) if to.is_complex() else 0)
    v = v.astype(_np(to).dtype)
    backward_with(to, eo, v)
    assert str(ex.grad.dtype).split(".")[-1] == str(tx.grad.dtype).split(".")[-1]
    np.testing.assert_allclose(_np(ex.grad), _np(tx.grad), **tol)


NORMS = [None, "backward", "ortho", "forward"]
CASES = [
    ("fft", [_r(7), _c(6), _r(3, 8, dtype=np.float32), _c(4, 5, dtype=np.complex64)], {}),
    ("fft", [_r(7), _c(6)], {"n": 5}), ("fft", [_r(7), _c(6)], {"n": 10}), ("fft", [_c(3, 4)], {"dim": 0}),
    ("ifft", [_r(7), _c(6), _c(5, 3)], {}), ("ifft", [_c(6)], {"n": 9}), ("ifft", [_c(6)], {"n": 3, "dim": -1}),
    ("rfft", [_r(7), _r(6), _r(4, 5), _r(8, dtype=np.float32)], {}), ("rfft", [_r(7), _r(6)], {"n": 9}),
    ("rfft", [_r(7), _r(6)], {"n": 4}), ("rfft", [_r(3, 5)], {"dim": 0}),
    ("irfft", [_c(4), _c(5), _r(5), _c(3, 4, dtype=np.complex64)], {}), ("irfft", [_c(4), _c(5)], {"n": 7}),
    ("irfft", [_c(4), _c(5)], {"n": 4}), ("irfft", [_c(4)], {"n": 12}), ("irfft", [_c(4, 3)], {"dim": 0, "n": 5}),
    ("hfft", [_c(4), _c(5)], {}), ("hfft", [_c(4)], {"n": 7}), ("ihfft", [_r(7), _r(6)], {}), ("ihfft", [_r(6)], {"n": 9}),
    ("fft2", [_r(3, 4, 5), _c(4, 5)], {}), ("ifft2", [_c(4, 5)], {"s": (3, 7)}),
    ("fftn", [_r(3, 4, 5), _c(4, 5)], {}), ("ifftn", [_c(3, 4, 5)], {"dim": (0, 2)}), ("fftn", [_c(3, 4, 5)], {"s": (2, 6)}),
    ("rfft2", [_r(3, 4, 5)], {}), ("irfft2", [_c(3, 4, 5)], {}), ("irfft2", [_c(4, 5)], {"s": (3, 7)}),
    ("rfftn", [_r(3, 4, 5)], {}), ("irfftn", [_c(3, 4, 5)], {}), ("rfftn", [_r(3, 4, 5)], {"s": (5, 6), "dim": (0, 1)}),
    ("irfftn", [_c(3, 4)], {"s": (2, 9)}),
    ("hfft2", [_c(3, 4)], {}), ("ihfft2", [_r(3, 4)], {}), ("hfftn", [_c(3, 4, 3)], {}), ("ihfftn", [_r(3, 4, 5)], {"s": (3, 6)}),
    ("hfftn", [_c(2, 3, 4)], {"s": (4, 5), "dim": (0, 2)}),
]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_values_and_gradients_match_torch(case, norm):
    name, xs, kw = CASES[case]
    for x in xs:
        _compare(name, x, norm=norm, **kw)


def test_integer_input_promotes_to_the_default_complex_dtype():
    for f in ("fft", "rfft", "ihfft"):
        t = getattr(torch.fft, f)(torch.arange(6))
        e = getattr(ember.fft, f)(ember.arange(6))
        assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1] == "complex64"
        np.testing.assert_allclose(_np(e), _np(t), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("name,make", [
    ("fft", lambda: _c(5)), ("rfft", lambda: _r(6)), ("irfft", lambda: _c(4)), ("hfft", lambda: _c(4)),
    ("ihfft", lambda: _r(5)), ("fft2", lambda: _c(3, 4)), ("rfftn", lambda: _r(3, 4)), ("irfft2", lambda: _c(3, 4)),
])
def test_gradcheck(name, make):
    x = ember.tensor(make(), requires_grad=True)
    for norm in ("backward", "ortho"):
        f = lambda t, norm=norm: getattr(ember.fft, name)(t, norm=norm)  # noqa: E731
        assert gradcheck(f, (x,))
        assert gradgradcheck(f, (x,))


def test_fft_of_a_real_signal_gives_a_real_gradient_through_abs():
    x = _r(16)
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    torch.fft.rfft(tx).abs().sum().backward()
    ember.fft.rfft(ex).abs().sum().backward()
    assert ex.grad.dtype == ember.float64
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    # round trip
    np.testing.assert_allclose(ember.fft.irfft(ember.fft.rfft(ember.tensor(x)), n=16).numpy(), x, atol=1e-12)


def test_out_argument():
    x = _c(6)
    out = ember.empty(6, dtype=ember.complex128)
    r = ember.fft.fft(ember.tensor(x), out=out)
    assert r is out
    np.testing.assert_allclose(out.numpy(), np.fft.fft(x))
    o2 = ember.empty(4)
    ember.fft.irfft(ember.tensor(_c(3)), out=o2)
    assert o2.dtype == ember.float32


def test_errors():
    with pytest.raises(RuntimeError, match="rfft expects a real input tensor"):
        ember.fft.rfft(ember.tensor([1j, 2]))
    with pytest.raises(ValueError, match='Invalid normalization mode: "unit"'):
        ember.fft.fft(ember.ones(4), norm="unit")
    with pytest.raises(RuntimeError, match=r"Invalid number of data points \(0\)"):
        ember.fft.fft(ember.ones(4), n=0)
    with pytest.raises(RuntimeError, match=r"Invalid number of data points \(0\)"):
        ember.fft.irfft(ember.ones(1, dtype=ember.complex64))
    with pytest.raises(RuntimeError, match="dim and shape arguments must have the same length"):
        ember.fft.fftn(ember.ones(3, 4), s=(3,), dim=(0, 1))
    with pytest.raises(TypeError, match="float16"):
        ember.fft.fft(ember.ones(4, dtype=ember.float16))
    with pytest.raises(IndexError):
        ember.fft.fft(ember.ones(4), dim=2)


def test_freq_and_shift_helpers_match_torch():
    for n, d in ((8, 1.0), (7, 0.1)):
        np.testing.assert_allclose(ember.fft.fftfreq(n, d).numpy(), torch.fft.fftfreq(n, d).numpy())
        np.testing.assert_allclose(ember.fft.rfftfreq(n, d).numpy(), torch.fft.rfftfreq(n, d).numpy())
    x = _c(4, 5)
    for dim in (None, 0, (0, 1), -1):
        np.testing.assert_allclose(ember.fft.fftshift(ember.tensor(x), dim).numpy(),
                                   _np(torch.fft.fftshift(torch.tensor(x), dim)))
        np.testing.assert_allclose(ember.fft.ifftshift(ember.tensor(x), dim).numpy(),
                                   _np(torch.fft.ifftshift(torch.tensor(x), dim)))

"""torch.stft / torch.istft (and the Tensor methods) against torch: values and gradients for windows, hops,
win_length padding, center and pad modes, normalized, onesided, complex input, align_to_window, length; errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
from _helpers import backward_with, to_numpy
from ember.autograd import gradcheck

RNG = np.random.default_rng(2)


_np = to_numpy


def _cmp(x, fn):
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        to, eo = fn(torch, tx), fn(ember, ex)
    assert str(eo.dtype).split(".")[-1] == str(to.dtype).split(".")[-1]
    np.testing.assert_allclose(_np(eo), _np(to), rtol=1e-9, atol=1e-11)
    a = _np(to)
    v = RNG.standard_normal(a.shape) + (1j * RNG.standard_normal(a.shape) if np.iscomplexobj(a) else 0)
    backward_with(to, eo, v)
    np.testing.assert_allclose(_np(ex.grad), _np(tx.grad), rtol=1e-9, atol=1e-11)


def _hann(L, n):
    return L.hann_window(n, dtype=L.float64)


X1 = RNG.standard_normal(50)
X2 = RNG.standard_normal((2, 37))
XC = RNG.standard_normal(40) + 1j * RNG.standard_normal(40)
STFT = [dict(n_fft=16), dict(n_fft=16, hop_length=3), dict(n_fft=15, hop_length=4, center=False),
        dict(n_fft=16, win_length=10), dict(n_fft=16, pad_mode="constant"), dict(n_fft=16, pad_mode="replicate"),
        dict(n_fft=16, pad_mode="circular"), dict(n_fft=16, normalized=True), dict(n_fft=16, onesided=False)]


@pytest.mark.parametrize("kw", STFT, ids=str)
def test_stft_matches_torch(kw):
    for x in (X1, X2):
        _cmp(x, lambda L, t: L.stft(t, return_complex=True, **kw))
        _cmp(x, lambda L, t: L.stft(t, window=_hann(L, kw.get("win_length", kw["n_fft"])), return_complex=True, **kw))


def test_stft_variants_match_torch():
    _cmp(X1, lambda L, t: L.stft(t, 8, hop_length=2, win_length=4, window=_hann(L, 4), center=False,
                                 return_complex=True, align_to_window=True))
    _cmp(XC, lambda L, t: L.stft(t, 8, window=_hann(L, 8), pad_mode="constant"))  # complex: return_complex default
    _cmp(X1, lambda L, t: L.stft(t, 8, window=_hann(L, 8), return_complex=False))
    _cmp(X1, lambda L, t: t.stft(8, window=_hann(L, 8), return_complex=True))
    with pytest.warns(UserWarning, match="return_complex=False is deprecated"):
        ember.stft(ember.ones(16), 8, return_complex=False)


ISTFT = [dict(n_fft=16), dict(n_fft=16, hop_length=3), dict(n_fft=15, hop_length=4), dict(n_fft=16, normalized=True),
         dict(n_fft=16, win_length=12)]


@pytest.mark.parametrize("kw", ISTFT, ids=str)
def test_istft_matches_torch(kw):
    w = kw.get("win_length", kw["n_fft"])
    S = torch.stft(torch.tensor(X1), window=_hann(torch, w), return_complex=True, **kw).numpy()
    _cmp(S, lambda L, t: L.istft(t, window=_hann(L, w), **kw))
    _cmp(S, lambda L, t: L.istft(t, window=_hann(L, w), length=45, **kw))
    if "win_length" not in kw:
        _cmp(S, lambda L, t: L.istft(t, window=_hann(L, w), length=60, **kw))


def test_istft_variants_and_round_trip():
    S = torch.stft(torch.tensor(X2), 16, window=_hann(torch, 16), return_complex=True).numpy()
    _cmp(S, lambda L, t: L.istft(t, 16, window=_hann(L, 16)))
    S = torch.stft(torch.tensor(X1), 16, return_complex=True, center=False).numpy()
    _cmp(S, lambda L, t: L.istft(t, 16, center=False))
    _cmp(S, lambda L, t: t.istft(16, center=False))
    S = torch.stft(torch.tensor(XC), 16, window=_hann(torch, 16), return_complex=True).numpy()
    _cmp(S, lambda L, t: L.istft(t, 16, window=_hann(L, 16), return_complex=True, onesided=False))
    w = ember.hann_window(16, dtype=ember.float64)
    back = ember.istft(ember.stft(ember.tensor(X1), 16, window=w, return_complex=True), 16, window=w, length=50)
    np.testing.assert_allclose(back.numpy(), X1, atol=1e-12)


def test_gradcheck():
    x = ember.tensor(RNG.standard_normal(20), requires_grad=True)
    w = ember.hann_window(8, dtype=ember.float64)
    assert gradcheck(lambda t: ember.stft(t, 8, hop_length=2, window=w, return_complex=True), (x,))
    s = ember.stft(x.detach(), 8, hop_length=2, window=w, return_complex=True).requires_grad_()
    assert gradcheck(lambda t: ember.istft(t, 8, hop_length=2, window=w), (s,))


def test_errors():
    x = ember.ones(32)
    with pytest.raises(RuntimeError, match="return_complex parameter be given for real inputs"):
        ember.stft(x, 8)
    with pytest.raises(RuntimeError, match="window tensor of size equal to win_length=8"):
        ember.stft(x, 8, window=ember.ones(5), return_complex=True)
    with pytest.raises(RuntimeError, match="align_to_window should only be set when center = false"):
        ember.stft(x, 8, return_complex=True, align_to_window=True)
    with pytest.raises(RuntimeError, match="Cannot have onesided output"):
        ember.stft(ember.ones(32, dtype=ember.complex64), 8, onesided=True)
    with pytest.raises(RuntimeError, match="istft requires a complex-valued input"):
        ember.istft(ember.ones(5, 3), 8)
    with pytest.raises(RuntimeError, match="n_fft // 2 \\+ 1 = 5"):
        ember.istft(ember.ones(4, 3, dtype=ember.complex64), 8)
    with pytest.raises(RuntimeError, match="window overlap add min"):
        ember.istft(ember.stft(x, 16, window=ember.hann_window(16), return_complex=True, center=False), 16,
                    window=ember.hann_window(16), center=False)

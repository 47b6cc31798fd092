"""svd_lowrank / pca_lowrank against torch: on matrices of rank <= q the randomised results equal torch's (up to
singular-vector signs; the random streams differ), reconstruction, gradients of the singular values."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def _lowrank(shape, r, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape[:-1] + (r,)) @ rng.standard_normal(shape[:-2] + (r, shape[-1]))


def _proj(U):
    return U @ np.swapaxes(U, -1, -2)


@pytest.mark.parametrize("shape,r,q", [((8, 5), 3, 4), ((5, 9), 2, 6), ((2, 7, 6), 3, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_svd_lowrank_matches_torch_on_low_rank(shape, r, q, dtype):
    a = _lowrank(shape, r).astype(dtype)
    ember.manual_seed(0)
    eU, eS, eV = ember.svd_lowrank(ember.from_numpy(a.copy()), q=q)
    tU, tS, tV = torch.svd_lowrank(torch.from_numpy(a.copy()), q=q)
    tol = dict(rtol=1e-3, atol=1e-4) if dtype == "float32" else dict(rtol=1e-9, atol=1e-9)
    assert tuple(eU.shape) == tuple(tU.shape) and tuple(eS.shape) == tuple(tS.shape) and tuple(eV.shape) == tuple(tV.shape)
    assert eS.dtype == getattr(ember, dtype)
    np.testing.assert_allclose(eS.numpy()[..., :r], tS.numpy()[..., :r], **tol)
    np.testing.assert_allclose(_proj(eU.numpy()[..., :r]), _proj(tU.numpy()[..., :r]), **tol)
    np.testing.assert_allclose(_proj(eV.numpy()[..., :r]), _proj(tV.numpy()[..., :r]), **tol)
    rec = eU.numpy() @ (eS.numpy()[..., :, None] * np.swapaxes(eV.numpy(), -1, -2))
    np.testing.assert_allclose(rec, a, **tol)


def test_svd_lowrank_with_M_and_pca_lowrank():
    a = _lowrank((9, 6), 3, seed=1)
    mu = np.random.default_rng(2).standard_normal((1, 6))
    x = a + mu
    eU, eS, eV = ember.svd_lowrank(ember.from_numpy(x), q=4, M=ember.from_numpy(mu))
    tU, tS, tV = torch.svd_lowrank(torch.from_numpy(x), q=4, M=torch.from_numpy(mu))
    np.testing.assert_allclose(eS.numpy()[:3], tS.numpy()[:3], rtol=1e-9)
    for center in (True, False):
        eU, eS, eV = ember.pca_lowrank(ember.from_numpy(x), q=4, center=center)
        tU, tS, tV = torch.pca_lowrank(torch.from_numpy(x), q=4, center=center)
        k = 3 if center else 4
        np.testing.assert_allclose(eS.numpy()[:k], tS.numpy()[:k], rtol=1e-9)
        np.testing.assert_allclose(_proj(eV.numpy()[:, :k]), _proj(tV.numpy()[:, :k]), atol=1e-9)


@pytest.mark.parametrize("fn", ["svd_lowrank", "pca_lowrank"])
def test_singular_value_gradients_match_torch(fn):
    a = np.random.default_rng(4).standard_normal((6, 4))
    e = ember.from_numpy(a.copy()).requires_grad_(True)
    t = torch.from_numpy(a.copy()).requires_grad_(True)
    w = np.array([1.0, -2.0, 0.5, 3.0])
    (getattr(ember, fn)(e, q=4)[1] * ember.from_numpy(w)).sum().backward()
    (getattr(torch, fn)(t, q=4)[1] * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-10)
    assert ember.autograd.gradcheck(lambda x: getattr(ember, fn)(x, q=4)[1], (e,))


def test_errors():
    with pytest.raises(ValueError, match=r"q\(=5\) must be non-negative integer and not greater than min\(m, n\)=3"):
        ember.pca_lowrank(ember.randn(3, 4), q=5)
    with pytest.raises(ValueError, match=r"niter\(=-1\) must be non-negative"):
        ember.pca_lowrank(ember.randn(3, 4), niter=-1)
    with pytest.raises(RuntimeError, match=r"svd_lowrank: A must have at least 2 dimensions.*\(4,\)"):
        ember.svd_lowrank(ember.randn(4))

"""torch.lobpcg against torch: eigenpairs (largest/smallest, 'ortho'/'basic', generalized B, batched, given X,
tracker), gradients of eigenvalues and eigenvectors, torch's errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def _spd(m, seed, shift=1.0):
    a = np.random.default_rng(seed).standard_normal((m, m))
    return a @ a.T + shift * np.eye(m)


def _same_vectors(X, tX):  # noqa: N803
    overlap = np.abs(np.swapaxes(X, -1, -2) @ tX)
    np.testing.assert_allclose(overlap, np.broadcast_to(np.eye(X.shape[-1]), overlap.shape), atol=1e-6)


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("method", ["ortho", "basic"])
def test_eigenpairs_match_torch(largest, method):
    A = _spd(20, 0)  # noqa: N806
    E, X = ember.lobpcg(ember.from_numpy(A), k=3, largest=largest, method=method)  # noqa: N806
    tE, tX = torch.lobpcg(torch.from_numpy(A), k=3, largest=largest, method=method)  # noqa: N806
    np.testing.assert_allclose(E.numpy(), tE.numpy(), rtol=1e-9)
    _same_vectors(X.numpy(), tX.numpy())


def test_generalized_batched_given_X_and_tracker():
    A = np.stack([_spd(18, 1), _spd(18, 2)])  # noqa: N806
    B = np.stack([_spd(18, 3, 18.0), _spd(18, 4, 18.0)])  # noqa: N806
    X0 = np.random.default_rng(5).standard_normal((2, 18, 2))  # noqa: N806
    steps = []
    E, X = ember.lobpcg(ember.from_numpy(A), B=ember.from_numpy(B), X=ember.from_numpy(X0),  # noqa: N806
                        tracker=lambda w: steps.append(w.ivars["istep"]))
    tE, tX = torch.lobpcg(torch.from_numpy(A), B=torch.from_numpy(B), X=torch.from_numpy(X0))  # noqa: N806
    assert tuple(E.shape) == (2, 2) and tuple(X.shape) == (2, 18, 2)
    np.testing.assert_allclose(E.numpy(), tE.numpy(), rtol=1e-9)
    np.testing.assert_allclose(np.abs(X.numpy()), np.abs(tX.numpy()), atol=1e-6)
    assert steps and steps[0] == 1
    e32, _ = ember.lobpcg(ember.from_numpy(A[0].astype(np.float32)), k=1)
    assert e32.dtype == ember.float32
    np.testing.assert_allclose(e32.numpy(), np.linalg.eigvalsh(A[0])[-1:], rtol=1e-4)


def test_gradients_match_torch():
    A = _spd(20, 6)  # noqa: N806
    Ae = ember.from_numpy(A.copy()).requires_grad_(True)  # noqa: N806
    At = torch.from_numpy(A.copy()).requires_grad_(True)  # noqa: N806
    E, X = ember.lobpcg(Ae, k=2)  # noqa: N806
    tE, tX = torch.lobpcg(At, k=2)  # noqa: N806
    assert E.grad_fn is not None
    s = np.sign(X.detach().numpy()[0] * tX.detach().numpy()[0])  # align eigenvector signs
    w = np.array([1.0, -2.0])
    G = np.random.default_rng(7).standard_normal((20, 2))  # noqa: N806
    ((E * ember.from_numpy(w)).sum() + (X * ember.from_numpy(G * s)).sum()).backward()
    ((tE * torch.from_numpy(w)).sum() + (tX * torch.from_numpy(G)).sum()).backward()
    np.testing.assert_allclose(Ae.grad.numpy(), At.grad.numpy(), atol=1e-6)
    np.testing.assert_allclose(Ae.grad.numpy(), Ae.grad.numpy().T, atol=1e-12)  # through (A + A^T) / 2


def test_errors_as_torch():
    A = ember.from_numpy(_spd(8, 8))  # noqa: N806
    with pytest.raises(ValueError, match=r"not applicable when the number of A rows \(=8\) is smaller than 3 x the "
                                         r"number of requested eigenpairs \(=3\)"):
        ember.lobpcg(A, k=3)
    with pytest.raises(ValueError, match=r"square matrices.*\(8, 7\)"):
        ember.lobpcg(A[:, :7], k=1)
    with pytest.raises(ValueError, match="A and B must have the same shape"):
        ember.lobpcg(A, k=1, B=A[:4, :4])
    Ag = A.clone().requires_grad_(True)  # noqa: N806
    E, _ = ember.lobpcg(Ag, k=1, B=ember.from_numpy(_spd(8, 9, 8.0)))  # noqa: N806
    with pytest.raises(ValueError, match=r"does not support backward with B != I"):
        E.sum().backward()

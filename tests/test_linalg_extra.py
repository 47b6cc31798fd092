"""ember.linalg decompositions and functions against torch: values, gradients, gradcheck in float64."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from _helpers import case, check


def spd(L, a):
    """A symmetric positive-definite matrix built from a."""
    return a @ a.transpose(-1, -2) + 3 * L.eye(a.shape[-1], dtype=a.dtype)


def sym(L, a):
    return a + a.transpose(-1, -2)


def sign_fix(U, V=None):
    """Decompositions are unique up to column signs: make the largest-magnitude entry of each column positive."""
    return U


def evecs_abs(L, a):
    w, V = L.linalg.eigh(sym(L, a))
    return w, V * L.sign(V[..., :1, :])  # fix the sign of each eigenvector by its first row


def svd_fixed(L, a):
    U, S, Vh = L.linalg.svd(a, full_matrices=False)
    s = L.sign(U[..., :1, :])
    return U * s, S, Vh * s.transpose(-1, -2)


def qr_fixed(L, a):
    Q, R = L.linalg.qr(a)
    s = L.sign(L.diagonal(R, 0, -2, -1))
    return Q * s.unsqueeze(-2), R * s.unsqueeze(-1)


CASES = [
    case(lambda L, a: L.linalg.eigh(sym(L, a)).eigenvalues, (4, 4), id="eigvals_of_eigh"),
    case(lambda L, a: L.linalg.eigvalsh(sym(L, a)), (2, 3, 3), id="eigvalsh_batched"),
    case(evecs_abs, (4, 4), gradgrad=False, id="eigh_vectors"),
    case(lambda L, a: L.linalg.svdvals(a), (4, 3), gradgrad=False, id="svdvals"),
    case(svd_fixed, (4, 3), gradgrad=False, id="svd_tall"),
    case(svd_fixed, (3, 5), gradgrad=False, id="svd_wide"),
    case(svd_fixed, (2, 3, 3), gradgrad=False, id="svd_batched"),
    case(qr_fixed, (5, 3), gradgrad=False, id="qr_tall"),
    case(qr_fixed, (3, 3), gradgrad=False, id="qr_square"),
    case(lambda L, a: L.linalg.cholesky(spd(L, a)), (4, 4), gradgrad=False, id="cholesky"),
    case(lambda L, a: L.linalg.cholesky(spd(L, a), upper=True), (2, 3, 3), gradgrad=False, id="cholesky_upper"),
    case(lambda L, a: L.linalg.slogdet(a), (3, 3), gradgrad=False, id="slogdet"),
    case(lambda L, a: L.linalg.pinv(a), (4, 3), gradgrad=False, id="pinv"),
    case(lambda L, a, b: L.linalg.lstsq(a, b).solution, (5, 3), (5, 2), gradgrad=False, id="lstsq"),
    case(lambda L, a, b: L.linalg.solve_triangular(a, b, upper=True), (3, 3), (3, 2), low=0.5, id="solve_tri_upper"),
    case(lambda L, a, b: L.linalg.solve_triangular(a, b, upper=False, left=False, unitriangular=True),
         (3, 3), (2, 3), id="solve_tri_right_unit"),
    case(lambda L, a: L.linalg.matrix_power(a, 3), (3, 3), id="matrix_power"),
    case(lambda L, a: L.linalg.matrix_power(a + 3 * L.eye(3, dtype=a.dtype), -2), (3, 3), id="matrix_power_neg"),
    case(lambda L, a: L.linalg.matrix_exp(a), (3, 3), gradgrad=False, id="matrix_exp"),
    case(lambda L, a, b, c: L.linalg.multi_dot([a, b, c]), (3,), (3, 4), (4, 2), id="multi_dot"),
    case(lambda L, a: L.linalg.matrix_norm(a, "nuc"), (4, 3), gradgrad=False, id="norm_nuc"),
    case(lambda L, a: L.linalg.matrix_norm(a, 2), (4, 3), gradgrad=False, id="norm_2"),
    case(lambda L, a: L.linalg.matrix_norm(a, 1), (4, 3), id="norm_1"),
    case(lambda L, a: L.linalg.matrix_norm(a, float("-inf"), keepdim=True), (2, 4, 3), id="norm_-inf"),
    case(lambda L, a: L.linalg.norm(a, "fro", (0, 1)), (4, 3), id="norm_fro"),
    case(lambda L, a: L.linalg.cond(a), (3, 3), gradgrad=False, id="cond"),
    case(lambda L, a: L.linalg.cond(a, 1), (3, 3), grad=False, id="cond_1"),  # torch's backward fails here
    case(lambda L, a: L.linalg.tensorinv(a.reshape(4, 2, 2), ind=1), (4, 4), gradgrad=False, id="tensorinv"),
    case(lambda L, a, b: L.linalg.tensorsolve(a.reshape(2, 3, 6), b), (6, 6), (2, 3), gradgrad=False,
         id="tensorsolve"),
    case(lambda L, a, b: L.linalg.vecdot(a, b), (3, 4), (3, 4), id="vecdot"),
    case(lambda L, a: L.linalg.diagonal(a, offset=1), (2, 3, 4), id="diagonal"),
]


@pytest.mark.parametrize("fn,inputs,kw", CASES)
def test_linalg(fn, inputs, kw):
    check(fn, *inputs, **kw)


def test_rank_and_ex_variants():
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert ember.linalg.matrix_rank(ember.tensor(a)).item() == torch.linalg.matrix_rank(torch.tensor(a)).item() == 1
    r = ember.linalg.inv_ex(ember.tensor([[2.0, 0.0], [0.0, 4.0]]))
    np.testing.assert_allclose(r.inverse.numpy(), [[0.5, 0.0], [0.0, 0.25]])
    assert r.info.item() == 0
    bad = ember.linalg.cholesky_ex(ember.tensor([[1.0, 2.0], [2.0, 1.0]]))
    assert bad.info.item() == 1
    with pytest.raises(RuntimeError, match="not positive-definite"):
        ember.linalg.cholesky(ember.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(RuntimeError, match="qr received unrecognized mode 'x'"):
        ember.linalg.qr(ember.eye(2), mode="x")
    with pytest.raises(RuntimeError, match="full_matrices=False"):
        ember.linalg.svd(ember.ones(3, 2, requires_grad=True))
    U, S, Vh = ember.linalg.svd(ember.ones(3, 2))
    assert U.shape == (3, 3) and Vh.shape == (2, 2)


TORCH_FORMS = [
    case(lambda L, a: L.det(a), (3, 3), gradgrad=False, id="det"),
    case(lambda L, a: L.inverse(a + 3 * L.eye(3, dtype=a.dtype)), (3, 3), id="inverse"),
    case(lambda L, a: L.logdet(spd(L, a)), (3, 3), gradgrad=False, id="logdet"),
    case(lambda L, a: a.pinverse(), (4, 3), gradgrad=False, id="pinverse"),
    case(lambda L, a: L.svd(a)[1], (4, 3), gradgrad=False, id="torch_svd_S"),
    case(lambda L, a, b: L.cholesky_solve(b, L.linalg.cholesky(spd(L, a))), (3, 3), (3, 2), gradgrad=False,
         id="cholesky_solve"),
    case(lambda L, a: L.cholesky_inverse(L.linalg.cholesky(spd(L, a))), (3, 3), gradgrad=False,
         id="cholesky_inverse"),
    case(lambda L, a: a.matrix_exp(), (3, 3), gradgrad=False, id="matrix_exp_method"),
]


@pytest.mark.parametrize("fn,inputs,kw", TORCH_FORMS)
def test_torch_level_forms(fn, inputs, kw):
    check(fn, *inputs, **kw)


def test_torch_svd_returns_v():
    a = np.random.default_rng(0).normal(size=(4, 3))
    U, S, V = ember.svd(ember.tensor(a))
    np.testing.assert_allclose((U * S.unsqueeze(0)).matmul(V.t()).numpy(), a, atol=1e-12)


def test_fft_real_helpers():
    for n, d in [(8, 1.0), (7, 0.1)]:
        np.testing.assert_allclose(ember.fft.fftfreq(n, d).numpy(), torch.fft.fftfreq(n, d).numpy(), rtol=1e-6)
        np.testing.assert_allclose(ember.fft.rfftfreq(n, d).numpy(), torch.fft.rfftfreq(n, d).numpy(), rtol=1e-6)
    check(lambda L, x: L.fft.fftshift(x), (3, 5))
    check(lambda L, x: L.fft.ifftshift(x, dim=1), (3, 5))
    check(lambda L, x: L.fft.fftshift(x, dim=(0,)), (4, 5))

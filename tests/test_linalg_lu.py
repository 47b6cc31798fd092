"""LU factorisation (linalg.lu_factor / lu_factor_ex / lu / lu_solve, torch.lu / lu_unpack / lu_solve and the
Tensor methods) against torch: LAPACK's pivots and factors, gradients, gradcheck, and error messages."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from _helpers import case, check


def _lu_factor(L, a):
    LU, piv = L.linalg.lu_factor(a)
    return LU, piv


def _lu_solve(left, adjoint):
    def f(L, a, b):
        LU, piv = L.linalg.lu_factor(a)
        return L.linalg.lu_solve(LU, piv, b, left=left, adjoint=adjoint)

    return f


CASES = [
    case(_lu_factor, (4, 4), id="lu_factor_square"),
    case(_lu_factor, (2, 3, 3), id="lu_factor_batched"),
    case(_lu_factor, (3, 5), gradgrad=False, id="lu_factor_wide"),
    case(_lu_factor, (5, 3), gradgrad=False, id="lu_factor_tall"),
    case(lambda L, a: L.linalg.lu_factor_ex(a), (3, 3), id="lu_factor_ex"),
    case(lambda L, a: L.linalg.lu(a), (4, 4), id="lu_square"),
    case(lambda L, a: L.linalg.lu(a), (2, 3, 5), gradgrad=False, id="lu_wide"),
    case(lambda L, a: L.linalg.lu(a), (5, 3), gradgrad=False, id="lu_tall"),
    case(lambda L, a: L.linalg.lu(a).L, (5, 3), gradgrad=False, id="lu_tall_L_only"),
    case(lambda L, a: L.linalg.lu(a).U, (3, 5), gradgrad=False, id="lu_wide_U_only"),
    case(lambda L, a: L.lu_unpack(*L.linalg.lu_factor(a)), (3, 4), gradgrad=False, id="lu_unpack"),
    case(_lu_solve(True, False), (3, 3), (3, 2), id="lu_solve"),
    case(_lu_solve(True, True), (3, 3), (3, 2), id="lu_solve_adjoint"),
    case(_lu_solve(False, False), (3, 3), (2, 3), id="lu_solve_right"),
    case(_lu_solve(False, True), (3, 3), (2, 3), id="lu_solve_right_adjoint"),
    case(_lu_solve(True, False), (2, 3, 3), (4, 1, 3, 2), gradgrad=False, id="lu_solve_broadcast"),
    pytest.param(lambda L, a, b: L.lu_solve(b, *L.lu(a)), ((3, 3), (3, 1)), dict(gradgrad=False),
                 id="torch_lu_solve", marks=pytest.mark.filterwarnings("ignore:torch.lu")),
    pytest.param(lambda L, a, b: b.lu_solve(*a.lu()), ((3, 3), (3, 2)), dict(gradgrad=False),
                 id="tensor_lu_solve", marks=pytest.mark.filterwarnings("ignore:torch.lu")),
]


@pytest.mark.parametrize("fn,inputs,kw", CASES)
def test_against_torch(fn, inputs, kw):
    check(fn, *inputs, **kw)


@pytest.mark.parametrize("shape", [(6, 6), (4, 7), (7, 4), (3, 2, 5, 5), (1, 1), (0, 3, 3), (2, 0, 0),
                                   (2, 70, 70), (40, 75), (75, 40)])  # several 32-column panels
def test_pivots_and_factors_are_lapacks(shape):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(shape)
    for dt in ("float32", "float64"):
        x = a.astype(dt)
        e = ember.linalg.lu_factor_ex(ember.from_numpy(x.copy()))
        t = torch.linalg.lu_factor_ex(torch.from_numpy(x.copy()))
        assert e.pivots.dtype == ember.int32 and e.info.dtype == ember.int32
        np.testing.assert_array_equal(e.pivots.numpy(), t.pivots.numpy())
        np.testing.assert_array_equal(e.info.numpy(), t.info.numpy())
        np.testing.assert_allclose(e.LU.numpy(), t.LU.numpy(), rtol=1e-4 if dt == "float32" else 1e-12,
                                   atol=1e-5 if dt == "float32" else 1e-12)


@pytest.mark.parametrize("M", [
    [[1.0, 2.0], [2.0, 4.0]],
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
    [[0.0, 1.0], [0.0, 2.0]],
    [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 1.0, 1.0]],
    [[[1.0, 2.0], [2.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]]],
    [[1.0, 1.0], [1.0, 1.0]],  # ties: the first largest entry is the pivot, as idamax
    np.ones((40, 40)).tolist(),  # zero pivots across panels
    np.kron(np.eye(20), [[0.0, 1.0], [1.0, 0.0]]).tolist(),  # a swap at every step, across panels
])
def test_singular_and_ties_as_lapack(M):
    M = np.array(M)
    e = ember.linalg.lu_factor_ex(ember.from_numpy(M.copy()))
    t = torch.linalg.lu_factor_ex(torch.from_numpy(M.copy()))
    np.testing.assert_array_equal(e.pivots.numpy(), t.pivots.numpy())
    np.testing.assert_array_equal(e.info.numpy(), t.info.numpy())
    np.testing.assert_allclose(e.LU.numpy(), t.LU.numpy())
    P, L, U = ember.linalg.lu(ember.from_numpy(M.copy()))
    np.testing.assert_allclose((P @ L @ U).numpy(), M, atol=1e-12)


@pytest.mark.filterwarnings("ignore:torch.lu")
def test_torch_lu_forms():
    a = np.random.default_rng(2).standard_normal((2, 3, 3))
    e = ember.lu(ember.from_numpy(a), get_infos=True)
    t = torch.lu(torch.from_numpy(a), get_infos=True)
    for u, v in zip(e, t):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-12)
    eLU, ep = ember.from_numpy(a).lu()
    np.testing.assert_array_equal(ep.numpy(), t.pivots.numpy())
    for ud in (True, False):
        for up in (True, False):
            er = ember.lu_unpack(eLU, ep, ud, up)
            tr = torch.lu_unpack(t.LU, t.pivots, ud, up)
            for u, v in zip(er, tr):
                assert tuple(u.shape) == tuple(v.shape)
                np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-12)


def test_pivots_are_constants_and_names():
    a = ember.randn(3, 3, requires_grad=True)
    LU, piv, info = ember.linalg.lu_factor_ex(a)
    assert not piv.requires_grad and not info.requires_grad
    assert LU.grad_fn.name() == "LinalgLuFactorExBackward0"
    b = ember.randn(3, 2, requires_grad=True)
    assert ember.linalg.lu_solve(LU, piv, b).grad_fn.name() == "LinalgLuSolveBackward0"


def _msg(fn):
    with pytest.raises(Exception) as ei:
        fn()
    return ei.type, str(ei.value)


def test_deprecated_forms_warn_once_as_torch():
    from ember import _linalg_lu

    _linalg_lu._WARNED.clear()
    a = ember.randn(3, 3, dtype=ember.float64)
    with pytest.warns(UserWarning, match="torch.lu is deprecated in favor of torch.linalg.lu_factor"):
        LU, piv = ember.lu(a)
    with pytest.warns(UserWarning, match="torch.linalg.lu_solve has its arguments reversed"):
        ember.lu_solve(ember.randn(3, 1, dtype=ember.float64), LU, piv)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ember.lu(a)  # once per process, as torch's TORCH_WARN_ONCE


@pytest.mark.filterwarnings("ignore:torch.lu")
def test_errors():
    A = ember.randn(3, 3)
    LU, piv = ember.linalg.lu_factor(A)
    t, m = _msg(lambda: ember.linalg.lu_factor(ember.zeros(3, 3)))
    assert t is RuntimeError and "linalg.lu_factor: U[1,1] is zero" in m and "lu_factor_ex" in m
    t, m = _msg(lambda: ember.linalg.lu_factor_ex(ember.tensor([[[1.0, 0], [0, 1]], [[1.0, 2], [2, 4]]]),
                                                     check_errors=True))
    assert "(Batch element 1): U[2,2] is zero" in m
    t, m = _msg(lambda: ember.lu(ember.zeros(2, 2)))
    assert t is RuntimeError and "U[1,1] is zero" in m
    t, m = _msg(lambda: ember.linalg.lu_factor(ember.ones(3, 3, dtype=ember.int64)))
    assert t is NotImplementedError and "float32 or float64" in m and "int64" in m
    t, m = _msg(lambda: ember.linalg.lu_factor(ember.ones(3)))
    assert t is RuntimeError and "at least 2 dimensions" in m and "(3,)" in m
    t, m = _msg(lambda: ember.linalg.lu_factor(A, pivot=False))
    assert t is RuntimeError and "without pivoting is not implemented on the CPU" in m
    t, m = _msg(lambda: ember.linalg.lu_solve(LU, piv, ember.randn(4, 2)))
    assert t is RuntimeError and "AX = B" in m and "3x3" in m and "(4, 2)" in m
    t, m = _msg(lambda: ember.linalg.lu_solve(LU, piv, ember.randn(3, 2), left=False))
    assert "XA = B" in m and "(3, 2)" in m
    t, m = _msg(lambda: ember.linalg.lu_solve(LU, piv, ember.randn(3)))
    assert "at least 2 dimensions" in m and "unsqueeze(-1)" in m
    t, m = _msg(lambda: ember.linalg.lu_solve(LU, piv, ember.randn(3, 2, dtype=ember.float64)))
    assert "same dtype" in m and "float32" in m and "float64" in m
    t, m = _msg(lambda: ember.linalg.lu_solve(LU, piv.long(), ember.randn(3, 2)))
    assert "int32" in m and "pivots.int()" in m
    t, m = _msg(lambda: ember.linalg.lu_solve(LU[:2], piv[:2], ember.randn(2, 2)))
    assert "square" in m and "(2, 3)" in m
    t, m = _msg(lambda: ember.linalg.lu_solve(LU, piv.expand(5, 3), ember.randn(3, 2)))
    assert "pivots of shape (5, 3)" in m
    t, m = _msg(lambda: ember.linalg.lu_solve(LU.expand(2, 3, 3), piv.expand(2, 3), ember.randn(3, 3, 2)))
    assert "not broadcastable" in m
    t, m = _msg(lambda: ember.linalg.lu_solve(LU, piv * 0, ember.randn(3, 2)))
    assert "1-based" in m

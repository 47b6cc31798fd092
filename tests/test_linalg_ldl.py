"""linalg.ldl_factor / ldl_factor_ex / ldl_solve against torch (LAPACK sytrf/sytrs, lower, Bunch-Kaufman):
pivots, factors and solutions on definite, indefinite, non-symmetric (lower read), tied and singular inputs;
no derivative, as torch; error messages."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def _inputs(seed, n, kind):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n))
    if kind == "indefinite":
        return a + a.T
    if kind == "definite":
        return a @ a.T + 0.1 * np.eye(n)
    if kind == "lower_only":
        return a
    return np.round(a + a.T)  # integers: ties, zeros, 2x2 pivots


@pytest.mark.parametrize("kind", ["indefinite", "definite", "lower_only", "ties"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_factor_and_solve_match_torch(kind, dtype):
    count2 = 0
    for seed in range(40):
        n = 1 + seed % 8
        x = _inputs(seed, n, kind).astype(dtype)
        e = ember.linalg.ldl_factor_ex(ember.from_numpy(x.copy()))
        t = torch.linalg.ldl_factor_ex(torch.from_numpy(x.copy()))
        np.testing.assert_array_equal(e.pivots.numpy(), t.pivots.numpy())
        np.testing.assert_array_equal(e.info.numpy(), t.info.numpy())
        tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(e.LD.numpy(), t.LD.numpy(), **tol)
        count2 += int((t.pivots.numpy() < 0).any())
        if t.info.item() == 0:
            b = np.random.default_rng(seed + 100).standard_normal((n, 2)).astype(dtype)
            ex = ember.linalg.ldl_solve(e.LD, e.pivots, ember.from_numpy(b))
            tx = torch.linalg.ldl_solve(t.LD, t.pivots, torch.from_numpy(b))
            np.testing.assert_allclose(ex.numpy(), tx.numpy(), rtol=1e-3 if dtype == "float32" else 1e-8,
                                       atol=1e-3 if dtype == "float32" else 1e-8)
    if kind != "definite":
        assert count2 > 0  # the 2x2 Bunch-Kaufman pivots were exercised


def test_batched_blocked_sizes_and_broadcast_solve():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((2, 70, 70))
    S = a + np.swapaxes(a, -1, -2)
    e = ember.linalg.ldl_factor(ember.from_numpy(S), hermitian=True)
    t = torch.linalg.ldl_factor(torch.from_numpy(S), hermitian=True)
    np.testing.assert_array_equal(e.pivots.numpy(), t.pivots.numpy())
    np.testing.assert_allclose(e.LD.numpy(), t.LD.numpy(), rtol=1e-9, atol=1e-9)
    b = rng.standard_normal((3, 1, 70, 2))
    ex = ember.linalg.ldl_solve(e.LD, e.pivots, ember.from_numpy(b))
    # torch 2.13 crashes (segfault) when B's batch dims broadcast against LD's, so torch gets them expanded
    tx = torch.linalg.ldl_solve(t.LD.expand(3, 2, 70, 70).contiguous(), t.pivots.expand(3, 2, 70).contiguous(),
                                torch.from_numpy(b).expand(3, 2, 70, 2).contiguous())
    assert tuple(ex.shape) == tuple(tx.shape) == (3, 2, 70, 2)
    np.testing.assert_allclose(ex.numpy(), tx.numpy(), rtol=1e-8, atol=1e-9)


def test_singular_info_and_error():
    z = np.zeros((3, 3))
    e = ember.linalg.ldl_factor_ex(ember.from_numpy(z))
    t = torch.linalg.ldl_factor_ex(torch.from_numpy(z))
    np.testing.assert_array_equal(e.pivots.numpy(), t.pivots.numpy())
    assert e.info.item() == t.info.item() == 1
    with pytest.raises(RuntimeError, match=r"linalg.ldl_factor: D\[1,1\] is exactly zero.*ldl_factor_ex"):
        ember.linalg.ldl_factor(ember.from_numpy(z))
    with pytest.raises(RuntimeError, match=r"\(Batch element 1\): D\[2,2\]"):
        ember.linalg.ldl_factor_ex(ember.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 0.0]]]),
                                   check_errors=True)


def test_no_derivative_as_torch():
    S = ember.tensor([[2.0, 1.0], [1.0, -3.0]], dtype=ember.float64, requires_grad=True)
    LD, piv = ember.linalg.ldl_factor(S)
    with pytest.raises(RuntimeError, match="derivative for aten::linalg_ldl_factor_ex is not implemented"):
        LD.sum().backward()
    b = ember.ones(2, 1, dtype=ember.float64, requires_grad=True)
    x = ember.linalg.ldl_solve(LD.detach(), piv, b)
    with pytest.raises(RuntimeError, match="derivative for aten::linalg_ldl_solve is not implemented"):
        x.sum().backward()


def test_errors():
    LD, piv = ember.linalg.ldl_factor(ember.tensor([[4.0, 1.0, 0.0], [1.0, -2.0, 1.0], [0.0, 1.0, 3.0]]))
    cases = [
        (lambda: ember.linalg.ldl_factor(ember.randn(3, 4)), RuntimeError, r"square matrices.*\(3, 4\)"),
        (lambda: ember.linalg.ldl_factor(ember.randn(3)), RuntimeError, r"at least 2 dimensions.*\(3,\)"),
        (lambda: ember.linalg.ldl_factor(ember.ones(3, 3, dtype=ember.int64)), NotImplementedError, "float32 or float64"),
        (lambda: ember.linalg.ldl_solve(LD, piv, ember.randn(2, 2)), RuntimeError, r"each A matrix is 3 by 3.*2 by 2"),
        (lambda: ember.linalg.ldl_solve(LD, piv, ember.randn(3)), RuntimeError, "unsqueeze"),
        (lambda: ember.linalg.ldl_solve(LD, piv, ember.randn(3, 1, dtype=ember.float64)), RuntimeError, "same dtype"),
        (lambda: ember.linalg.ldl_solve(LD, piv[:2], ember.randn(3, 1)), RuntimeError, r"pivots of shape \(2,\)"),
        (lambda: ember.linalg.ldl_solve(LD.expand(2, 3, 3), piv.expand(2, 3), ember.randn(3, 3, 1)), RuntimeError,
         "not broadcastable"),
        (lambda: ember.linalg.ldl_solve(LD, piv * 0, ember.randn(3, 1)), RuntimeError, "nonzero 1-based"),
    ]
    for fn, typ, pat in cases:
        with pytest.raises(typ, match=pat):
            fn()

"""geqrf / householder_product (orgqr) / ormqr against torch: LAPACK's compact Householder form, gradients,
gradcheck, torch's missing geqrf derivative, and error messages."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from _helpers import case, check


def _ormqr(left, transpose):
    return lambda L, a, tau, c: L.ormqr(a, tau, c, left, transpose)


CASES = [
    case(lambda L, a, tau: L.linalg.householder_product(a, tau), (4, 3), (3,), id="householder_product"),
    case(lambda L, a, tau: L.linalg.householder_product(a, tau), (2, 5, 3), (2, 2), gradgrad=False,
         id="householder_product_batched_fewer_tau"),
    case(lambda L, a, tau: L.orgqr(a, tau), (3, 3), (3,), gradgrad=False, id="orgqr"),
    case(lambda L, a, tau: a.orgqr(tau), (3, 2), (2,), gradgrad=False, id="tensor_orgqr"),
    case(_ormqr(True, False), (4, 3), (3,), (4, 2), id="ormqr"),
    case(_ormqr(True, True), (4, 3), (3,), (4, 2), gradgrad=False, id="ormqr_transpose"),
    case(_ormqr(False, False), (4, 3), (3,), (2, 4), gradgrad=False, id="ormqr_right"),
    case(_ormqr(False, True), (2, 3, 2), (2, 2), (2, 2, 3), gradgrad=False, id="ormqr_right_transpose_batched"),
    case(lambda L, a, tau, c: a.ormqr(tau, c, transpose=True), (3, 4), (3,), (3, 2), gradgrad=False,
         id="tensor_ormqr_wide"),
]


@pytest.mark.parametrize("fn,inputs,kw", CASES)
def test_against_torch(fn, inputs, kw):
    check(fn, *inputs, **kw)


@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (2, 5), (2, 3, 4, 2), (1, 1), (5, 1), (1, 4), (0, 3), (2, 0, 0)])
def test_geqrf_is_lapacks(shape):
    a = np.random.default_rng(3).standard_normal(shape)
    for dt in ("float32", "float64"):
        x = a.astype(dt)
        e = ember.geqrf(ember.from_numpy(x.copy()))
        t = torch.geqrf(torch.from_numpy(x.copy()))
        tol = dict(rtol=1e-4, atol=1e-5) if dt == "float32" else dict(rtol=1e-11, atol=1e-12)
        for u, v in zip(e, t):
            assert tuple(u.shape) == tuple(v.shape) and str(u.dtype).split(".")[-1] == str(v.dtype).split(".")[-1]
            np.testing.assert_allclose(u.numpy(), v.numpy(), **tol)
        if shape[-2] >= shape[-1]:  # the reflectors rebuild Q of linalg.qr (up to LAPACK's signs, which are R's)
            Q = ember.linalg.householder_product(e.a, e.tau)
            np.testing.assert_allclose((Q @ e.a.triu()[..., : shape[-1], :]).numpy(), x, **tol)


@pytest.mark.parametrize("M", [[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], [[1.0, 2.0], [0.0, 3.0], [0.0, 0.0]],
                               [[-1.0, 2.0], [0.0, 3.0], [0.0, 1.0]]])
def test_geqrf_zero_columns_give_tau_zero(M):
    M = np.array(M)
    e, t = ember.geqrf(ember.from_numpy(M.copy())), torch.geqrf(torch.from_numpy(M.copy()))
    np.testing.assert_allclose(e.a.numpy(), t.a.numpy(), atol=1e-15)
    np.testing.assert_allclose(e.tau.numpy(), t.tau.numpy(), atol=1e-15)


def test_geqrf_has_no_derivative_as_torch():
    a = ember.randn(4, 3, dtype=ember.float64, requires_grad=True)
    r, tau = a.geqrf()
    assert r.grad_fn.name() == "GeqrfBackward0"
    with pytest.raises(NotImplementedError, match="the derivative for 'geqrf' is not implemented"):
        r.sum().backward()


def _msg(fn):
    with pytest.raises(Exception) as ei:
        fn()
    return ei.type, str(ei.value)


def test_errors():
    hp = ember.linalg.householder_product
    t, m = _msg(lambda: hp(ember.randn(3, 4), ember.randn(2)))
    assert t is RuntimeError and "input.shape[-2] must be greater than or equal to input.shape[-1]" in m and "(3, 4)" in m
    t, m = _msg(lambda: hp(ember.randn(4, 3), ember.randn(4)))
    assert "greater than or equal to tau.shape[-1]" in m and "(4,)" in m
    t, m = _msg(lambda: hp(ember.randn(4, 3), ember.randn(2, 2)))
    assert "one dimension less than input" in m
    t, m = _msg(lambda: hp(ember.randn(4, 3), ember.randn(2, dtype=ember.float64)))
    assert "tau dtype ember.float64 does not match input dtype ember.float32" in m
    t, m = _msg(lambda: hp(ember.randn(4), ember.randn(2)))
    assert "at least 2 dimensions" in m
    t, m = _msg(lambda: ember.ormqr(ember.randn(4, 3), ember.randn(3), ember.randn(5, 2)))
    assert "other.shape[-2] must be equal to input.shape[-2]" in m and "(5, 2)" in m
    t, m = _msg(lambda: ember.ormqr(ember.randn(4, 3), ember.randn(4), ember.randn(4, 2)))
    assert "tau.shape[-1] must be equal to min(other.shape[-2], input.shape[-1]) = 3" in m
    t, m = _msg(lambda: ember.geqrf(ember.randn(3)))
    assert t is RuntimeError and "at least 2 dimensions" in m
    t, m = _msg(lambda: ember.geqrf(ember.ones(3, 3, dtype=ember.int64)))
    assert t is NotImplementedError and "float32 or float64" in m

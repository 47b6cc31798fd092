"""float16 reductions, norms, softmax and losses accumulate in float32 and return float16, as torch's.

Issue 7: ``mean/var/std`` of 10,000 float16 values of 10.0 gave inf or nan (torch: 10, 0, 0). Each case
is written once as ``f(L, x)`` and run with torch (the oracle) and ember on the same float16 input:
the output dtype must be float16 and the values equal torch's to within a float16 rounding step
(``inf`` where torch gives ``inf``: ``sum`` of 10,000 tens is 100,000 > 65,504).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember

N = 10_000
TENS = np.full(N, 10.0, dtype=np.float16)
RAND = np.random.default_rng(0).uniform(-4.0, 12.0, size=N).astype(np.float16)


def _ce_target(L, n):
    return L.tensor(np.arange(n) % 7, dtype=L.int64)


CASES = {
    "sum": lambda L, F, x: x.sum(),
    "sum-dim": lambda L, F, x: x.view(100, 100).sum(1),
    "mean-dim": lambda L, F, x: x.view(100, 100).mean(0),
    "var-dim": lambda L, F, x: x.view(100, 100).var(1),
    "std-unbiased-false": lambda L, F, x: x.std(unbiased=False),
    "norm": lambda L, F, x: x.norm(),
    "layer_norm": lambda L, F, x: F.layer_norm(x.view(1, N), (N,)),
    "layer_norm-rows": lambda L, F, x: F.layer_norm(x.view(100, 100), (100,)),
    "mse_loss-sum": lambda L, F, x: F.mse_loss(x, x * 0.5, reduction="sum"),
    "softmax": lambda L, F, x: F.softmax(x.view(2, N // 2), dim=1),
    "log_softmax": lambda L, F, x: F.log_softmax(x.view(2, N // 2), dim=1),
    "softmax-method": lambda L, F, x: x.view(100, 100).softmax(0),
    "cross_entropy": lambda L, F, x: F.cross_entropy(x.view(1000, 10), _ce_target(L, 1000)),
}

# What main gets wrong today (strict xfails; empty since issue 7: float16 accumulates in float32).
XFAIL: dict = {}


def _run(L, name, values):
    F = L.nn.functional
    x = L.from_numpy(values.copy())
    return CASES[name](L, F, x)


def _param(name, data):
    key = f"{name}-{data}"
    marks = [pytest.mark.xfail(strict=True, reason=f"issue 7: float16 {XFAIL[key]}")] if key in XFAIL else []
    return pytest.param(name, data, id=key, marks=marks)


@pytest.mark.parametrize("name,data", [_param(n, d) for n in CASES for d in ("tens", "random")])
def test_float16_matches_torch(name, data):
    values = TENS if data == "tens" else RAND
    ref = _run(torch, name, values)
    with warnings.catch_warnings():
        if not torch.isfinite(ref).all():  # torch overflows to inf silently; NumPy may warn on the cast
            warnings.simplefilter("ignore", RuntimeWarning)
        got = _run(ember, name, values)
    assert ref.dtype == torch.float16
    assert got.dtype == ember.float16, f"{name}: ember returns {got.dtype}, torch float16"
    assert tuple(got.shape) == tuple(ref.shape)
    r = ref.float().numpy()
    g = got.numpy().astype(np.float32)
    assert np.isfinite(g).all() == np.isfinite(r).all(), f"{name}: ember {g.ravel()[:4]}, torch {r.ravel()[:4]}"
    # one float16 rounding step apart at most (torch rounds a float32 result once)
    np.testing.assert_allclose(g, r, rtol=2e-3, atol=2e-3)


EXACT = {
    "mean": lambda L, F, x: x.mean(),
    "var": lambda L, F, x: x.var(),
    "std": lambda L, F, x: x.std(),
    "layer_norm": CASES["layer_norm"],
    "mse_loss": lambda L, F, x: F.mse_loss(x, L.zeros_like(x)),
}


@pytest.mark.parametrize("name", list(EXACT))
def test_float16_of_tens_is_exact(name):
    """The values the issue names: 10, 0, 0, 0 (layer_norm of a constant row), 100 (torch gives the same)."""
    expected = {"mean": 10.0, "var": 0.0, "std": 0.0, "layer_norm": 0.0, "mse_loss": 100.0}[name]
    ref = EXACT[name](torch, torch.nn.functional, torch.from_numpy(TENS.copy())).numpy()
    got = EXACT[name](ember, ember.nn.functional, ember.from_numpy(TENS.copy())).numpy()
    assert got.dtype == ref.dtype == np.float16
    assert np.all(ref == expected) and np.all(got == expected), got.ravel()[:4]


@pytest.mark.parametrize("name", ["mean", "mse_loss", "softmax", "layer_norm-rows"])
def test_float16_gradients_match_torch(name):
    def grad(L):
        x = L.from_numpy(RAND[:1000].copy() if name != "layer_norm-rows" else RAND.copy()).requires_grad_()
        F = L.nn.functional
        n = x.numel()
        f = {
            "mean": lambda: x.mean(),
            "mse_loss": lambda: F.mse_loss(x, L.zeros_like(x)),
            "softmax": lambda: (F.softmax(x.view(10, n // 10), dim=1)[:, 0]).sum(),
            "layer_norm-rows": lambda: (F.layer_norm(x.view(100, 100), (100,))[:, :3]).sum(),
        }[name]
        f().backward()
        return x.grad

    ref, got = grad(torch), grad(ember)
    assert got.dtype == ember.float16
    np.testing.assert_allclose(got.numpy().astype(np.float32), ref.float().numpy(), rtol=1e-2, atol=1e-3)

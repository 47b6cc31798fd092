"""torch.special's Bessel / Airy functions (Cephes approximations) against torch: values over wide ranges
with 0, negatives, large arguments, inf and nan, in float64 and float32; no graph, as torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

NAMES = ["airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0",
         "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0",
         "scaled_modified_bessel_k1", "spherical_bessel_j0"]

X = np.concatenate([
    np.linspace(-60, 60, 4001),
    np.logspace(-12, 3, 400), -np.logspace(-12, 3, 400),
    [0.0, -0.0, 1e-5, 0.5, 2.0, 2.09, -2.09, 5.0, 8.0, 8.3203353, 85.0, 103.8, 103.9, 700.0, 710.0, 1e5, 1e10,
     -1e5, 1e300, np.inf, -np.inf, np.nan],
])


@pytest.mark.parametrize("name", NAMES)
def test_float64_matches_torch(name):
    e = getattr(ember.special, name)(ember.from_numpy(X.copy())).numpy()
    t = getattr(torch.special, name)(torch.from_numpy(X.copy())).numpy()
    assert e.dtype == np.float64
    np.testing.assert_allclose(e, t, rtol=1e-12, atol=1e-300, equal_nan=True)
    np.testing.assert_array_equal(np.isnan(e), np.isnan(t))
    np.testing.assert_array_equal(np.isposinf(e), np.isposinf(t))
    np.testing.assert_array_equal(np.isneginf(e), np.isneginf(t))


@pytest.mark.parametrize("name", NAMES)
def test_float32_matches_torch(name):
    x32 = X[np.abs(np.nan_to_num(X)) < 1e30].astype(np.float32)
    e = getattr(ember.special, name)(ember.from_numpy(x32.copy())).numpy()
    assert e.dtype == np.float32
    # ember computes in float64 and rounds: it agrees with torch's float64 result rounded to float32 ...
    t64 = getattr(torch.special, name)(torch.from_numpy(x32.astype(np.float64))).numpy()
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(e, t64.astype(np.float32), rtol=1e-6, atol=1e-30, equal_nan=True)
    # ... and with torch's float32 kernel to float32 accuracy (torch evaluates in float32; it overflows to
    # inf a little earlier for I0/I1 near float32's maximum, and its float32 phase of the oscillating
    # functions drifts for |x| in the hundreds: both are left out here)
    t32 = getattr(torch.special, name)(torch.from_numpy(x32.copy())).numpy()
    keep = (np.isfinite(t32) | ~np.isfinite(e)) & ~(np.abs(x32) > 50)
    np.testing.assert_allclose(e[keep], t32[keep], rtol=1e-4, atol=2e-5, equal_nan=True)


@pytest.mark.parametrize("name", NAMES)
def test_no_graph_as_torch(name):
    x = ember.tensor([0.5, 1.5], requires_grad=True)
    y = getattr(ember.special, name)(x)
    ty = getattr(torch.special, name)(torch.tensor([0.5, 1.5], requires_grad=True))
    assert y.requires_grad is ty.requires_grad is False
    assert y.grad_fn is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_integer_input_gives_float32_and_out():
    e = ember.special.bessel_j0(ember.tensor([1, 2, 3]))
    t = torch.special.bessel_j0(torch.tensor([1, 2, 3]))
    assert str(e.dtype) == "ember.float32" and t.dtype == torch.float32
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
    buf = ember.empty(3, dtype=ember.float64)
    r = ember.special.modified_bessel_k1(ember.tensor([0.5, 1.0, 3.0], dtype=ember.float64), out=buf)
    assert r is buf
    np.testing.assert_allclose(buf.numpy(), torch.special.modified_bessel_k1(
        torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)).numpy(), rtol=1e-12)


def test_non_tensor_input_error():
    with pytest.raises(TypeError, match=r"special.bessel_y1\(\): argument 'input' must be a Tensor, not list"):
        ember.special.bessel_y1([1.0, 2.0])

"""tanh / sigmoid / sin: the array backward computes in place on one temporary (``_ops/unary.py``); values and
gradients against torch for 0-d, broadcast-gradient and n-d inputs, float32 and float64, plus double backward
(the tensor path) and a float64 gradient into a float32 op (the fast path is skipped)."""
import numpy as np
import pytest

import ember
from _helpers import check

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("op", ["tanh", "sigmoid", "sin"])
@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_unary_backward_matches_torch(op, shape):
    check(lambda L, x: getattr(x, op)(), shape)
    # a gradient that arrives as a broadcast (stride-0) array: sum's backward
    check(lambda L, x: getattr(x, op)().sum(), shape)


@pytest.mark.parametrize("op", ["tanh", "sigmoid", "sin"])
def test_unary_backward_gradient_of_another_dtype(op):
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((3, 4))  # float64 upstream gradient
    x, t = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    getattr(x, op)().backward(ember.tensor(g))
    getattr(t, op)().backward(torch.tensor(g, dtype=torch.float32))
    assert x.grad.dtype == ember.float32
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_sigmoid_of_a_0d_tensor():
    # used to raise "return arrays must be of ArrayType" (np.exp of a 0-d array is a NumPy scalar)
    for v in (0.5, -1000.0, 1000.0):
        x, t = ember.tensor(v, requires_grad=True), torch.tensor(v, dtype=torch.float32, requires_grad=True)
        y, ty = x.sigmoid(), t.sigmoid()
        assert y.shape == () and y.item() == pytest.approx(ty.item(), rel=1e-6, abs=0)
        y.backward()
        ty.backward()
        assert x.grad.item() == pytest.approx(t.grad.item(), rel=1e-6, abs=1e-30)

"""float16 activations as torch's CPU kernels: computed in float32 and rounded once (forward bit-exact, backward
within one float16 unit), not rounded after every elementary op."""
import math

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

ACTS = {
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.1),
    "elu": lambda F, x: F.elu(x, 0.7),
    "selu": lambda F, x: F.selu(x),
    "celu": lambda F, x: F.celu(x, 1.3),
    "logsigmoid": lambda F, x: F.logsigmoid(x),
    "hardsigmoid": lambda F, x: F.hardsigmoid(x),
    "hardswish": lambda F, x: F.hardswish(x),
    "hardtanh": lambda F, x: F.hardtanh(x, -0.5, 2.0),
    "relu": lambda F, x: F.relu(x),
    "softplus": lambda F, x: F.softplus(x),
    "ELU-module": lambda F, x: (ember if F is ember.nn.functional else torch).nn.ELU(0.5)(x),
}


def _ulps(a, b):
    a, b = a.astype(np.float16), b.astype(np.float16)
    same = (a == b) | (np.isnan(a) & np.isnan(b))  # +0.0 == -0.0
    ia, ib = a.view(np.int16).astype(np.int64), b.view(np.int16).astype(np.int64)
    return np.where(same, 0, np.abs(ia - ib))


@pytest.mark.parametrize("name", list(ACTS))
def test_float16_activation_rounds_once_as_torch(name):
    rng = np.random.default_rng(7)
    x0 = (rng.standard_normal(3000) * 3).astype(np.float16)
    g0 = rng.standard_normal(3000).astype(np.float16)
    out = []
    for L in (torch, ember):
        x = L.tensor(x0.copy()).requires_grad_()
        y = ACTS[name](L.nn.functional, x)
        assert y.dtype == L.float16
        y.backward(L.tensor(g0.copy()))
        assert x.grad.dtype == L.float16
        out.append((y.detach().numpy(), x.grad.numpy()))
    assert _ulps(out[0][0], out[1][0]).max() == 0, "forward differs from torch's"
    assert _ulps(out[0][1], out[1][1]).max() <= 1, "backward differs from torch's by more than one float16 unit"


OPS = {  # tensor ops whose float16 results torch's CPU kernels round once (or in a formula's own order)
    "tanh": (lambda L, x: x.tanh(), "normal"),
    "sigmoid": (lambda L, x: x.sigmoid(), "normal"),
    "rsqrt": (lambda L, x: x.rsqrt(), "positive"),
    "reciprocal": (lambda L, x: x.reciprocal(), "positive"),
    "asin": (lambda L, x: x.asin(), "unit"),
    "acos": (lambda L, x: x.acos(), "unit"),
    "sinh": (lambda L, x: x.sinh(), "half"),
    "cosh": (lambda L, x: x.cosh(), "half"),
    "erf": (lambda L, x: x.erf(), "normal"),
    "exp": (lambda L, x: x.exp(), "half"),
    "sqrt": (lambda L, x: x.sqrt(), "positive"),
    "sin": (lambda L, x: x.sin(), "normal"),
}


def _inputs(kind, rng):
    x = rng.standard_normal(4000) * 2
    x = {"normal": x, "positive": np.abs(x) + 0.1, "unit": np.clip(x / 4, -0.95, 0.95), "half": x / 2}[kind]
    return x.astype(np.float16)


@pytest.mark.parametrize("name", list(OPS))
def test_float16_unary_ops_round_as_torch(name):
    f, kind = OPS[name]
    rng = np.random.default_rng(3)
    x0, g0 = _inputs(kind, rng), rng.standard_normal(4000).astype(np.float16)
    out = []
    for L in (torch, ember):
        x = L.tensor(x0.copy()).requires_grad_()
        y = f(L, x)
        y.backward(L.tensor(g0.copy()))
        out.append((y.detach().numpy(), x.grad.numpy()))
    if name == "erf":  # torch's half erf is off by up to 2 units near 0; ember's is correctly rounded there
        exact = np.array([math.erf(float(v)) for v in x0]).astype(np.float16)
        assert _ulps(exact, out[1][0]).max() <= 1 and (_ulps(exact, out[1][0]) > 0).mean() <= 0.002
        out[0] = (out[1][0], out[0][1])
    for i, what in ((0, "forward"), (1, "backward")):
        u = _ulps(out[0][i], out[1][i])
        # before: 17-58 % of the values differed (a rounding after every elementary step, or another order)
        assert u.max() <= 1 and (u > 0).mean() <= 0.002, f"{name} {what}: {(u > 0).mean():.1%} differ from torch"

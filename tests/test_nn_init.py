"""nn.init: distributions (moments and bounds against torch's formulas), gains and fans vs torch,
reproducibility from ember.manual_seed / generator=, and errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
from ember.nn import init


def _v(t):
    return t.detach().numpy().astype(np.float64)


@pytest.mark.parametrize("args", [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                                  ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu",)])
def test_calculate_gain_matches_torch(args):
    assert init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args), rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape", [(3, 5), (4, 3, 2), (6, 2, 3, 3)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(ember.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_fans_need_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(ember.empty(5))


SHAPE = (400, 300)
FAN_IN, FAN_OUT = 300, 400


def _uniform_check(vals, bound):
    assert np.abs(vals).max() <= bound + 1e-7
    assert np.abs(vals).max() > 0.99 * bound  # fills the whole interval
    assert abs(vals.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(vals.mean()) < 0.01 * bound


def _normal_check(vals, std, mean=0.0):
    assert abs(vals.mean() - mean) < 0.01 * std + 1e-12
    assert abs(vals.std() - std) < 0.01 * std


def test_uniform_and_normal():
    ember.manual_seed(0)
    u = _v(init.uniform_(ember.empty(*SHAPE), -2.0, 3.0))
    assert u.min() >= -2 and u.max() < 3 and abs(u.mean() - 0.5) < 0.02
    n = _v(init.normal_(ember.empty(*SHAPE), 1.5, 0.3))
    _normal_check(n, 0.3, 1.5)


def test_xavier():
    ember.manual_seed(0)
    gain = 1.7
    _uniform_check(_v(init.xavier_uniform_(ember.empty(*SHAPE), gain=gain)),
                   gain * math.sqrt(6.0 / (FAN_IN + FAN_OUT)))
    _normal_check(_v(init.xavier_normal_(ember.empty(*SHAPE), gain=gain)), gain * math.sqrt(2.0 / (FAN_IN + FAN_OUT)))


@pytest.mark.parametrize("a,mode,nl", [(0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
                                        (0.1, "fan_out", "leaky_relu"), (0, "fan_in", "relu"),
                                        (0, "fan_out", "tanh")])
def test_kaiming(a, mode, nl):
    ember.manual_seed(1)
    fan = FAN_IN if mode == "fan_in" else FAN_OUT
    std = torch.nn.init.calculate_gain(nl, a) / math.sqrt(fan)
    _uniform_check(_v(init.kaiming_uniform_(ember.empty(*SHAPE), a=a, mode=mode, nonlinearity=nl)), math.sqrt(3) * std)
    _normal_check(_v(init.kaiming_normal_(ember.empty(*SHAPE), a=a, mode=mode, nonlinearity=nl)), std)
    # and torch draws from the same distribution
    tv = torch.nn.init.kaiming_normal_(torch.empty(*SHAPE), a=a, mode=mode, nonlinearity=nl).numpy()
    assert abs(tv.std() - std) < 0.01 * std


def test_kaiming_conv_fan_and_bad_mode():
    ember.manual_seed(2)
    w = init.kaiming_normal_(ember.empty(64, 16, 5, 5), mode="fan_out", nonlinearity="relu")
    _normal_check(_v(w), math.sqrt(2) / math.sqrt(64 * 25))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(ember.empty(3, 3), mode="fan_avg")


def test_trunc_normal():
    ember.manual_seed(3)
    vals = _v(init.trunc_normal_(ember.empty(*SHAPE), mean=0.5, std=1.0, a=-1.0, b=1.5))
    assert vals.min() >= -1.0 and vals.max() <= 1.5
    # moments of the truncated normal, from its closed form
    alpha, beta = (-1.0 - 0.5), (1.5 - 0.5)
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    Z = Phi(beta) - Phi(alpha)
    mean = 0.5 + (phi(alpha) - phi(beta)) / Z
    var = 1 + (alpha * phi(alpha) - beta * phi(beta)) / Z - ((phi(alpha) - phi(beta)) / Z) ** 2
    assert abs(vals.mean() - mean) < 0.01
    assert abs(vals.std() - math.sqrt(var)) < 0.01
    t = torch.nn.init.trunc_normal_(torch.empty(*SHAPE), mean=0.5, std=1.0, a=-1.0, b=1.5).numpy()
    assert abs(t.mean() - vals.mean()) < 0.02 and abs(t.std() - vals.std()) < 0.02


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 2, 3)])
def test_orthogonal(shape):
    ember.manual_seed(4)
    w = _v(init.orthogonal_(ember.empty(*shape), gain=2.0)).reshape(shape[0], -1)
    r, c = w.shape
    if r >= c:
        np.testing.assert_allclose(w.T @ w, 4 * np.eye(c), atol=1e-5)
    else:
        np.testing.assert_allclose(w @ w.T, 4 * np.eye(r), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(ember.empty(3))


def test_constant_ones_zeros_eye_dirac_match_torch():
    for efn, tfn, shape, args in [
        (init.constant_, torch.nn.init.constant_, (2, 3), (0.25,)),
        (init.ones_, torch.nn.init.ones_, (2, 3), ()),
        (init.zeros_, torch.nn.init.zeros_, (2, 3), ()),
        (init.eye_, torch.nn.init.eye_, (3, 5), ()),
        (init.dirac_, torch.nn.init.dirac_, (4, 2, 3, 3), ()),
    ]:
        np.testing.assert_array_equal(_v(efn(ember.empty(*shape), *args)), tfn(torch.empty(*shape), *args).numpy())
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        init.eye_(ember.empty(2, 2, 2))


def test_init_on_parameter_is_in_place_and_not_recorded():
    p = nn.Parameter(ember.empty(3, 4))
    out = init.xavier_uniform_(p)
    assert out is p and p.is_leaf and p.grad_fn is None and p.requires_grad
    init.zeros_(p)
    assert not p.detach().numpy().any()


def test_reproducible_from_seed_and_generator():
    ember.manual_seed(11)
    a = _v(init.kaiming_uniform_(ember.empty(5, 5)))
    ember.manual_seed(11)
    b = _v(init.kaiming_uniform_(ember.empty(5, 5)))
    np.testing.assert_array_equal(a, b)
    g1, g2 = ember.Generator().manual_seed(5), ember.Generator().manual_seed(5)
    ember.manual_seed(0)
    c = _v(init.normal_(ember.empty(5), generator=g1))
    ember.manual_seed(1)
    d = _v(init.normal_(ember.empty(5), generator=g2))
    np.testing.assert_array_equal(c, d)  # the explicit generator, not the default one, was used


def test_zero_element_kaiming_warns():
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(ember.empty(0, 3))

"""ember.utils.checkpoint against torch.utils.checkpoint: values, gradients (first and second order), dropout
masks replayed in the recomputation, both use_reentrant modes and their errors."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import ember


def _cp(T):
    return torch.utils.checkpoint if T is torch else importlib.import_module("ember.utils.checkpoint")


def _t(T, v):
    return T.tensor(v, dtype=T.float64, requires_grad=True)


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpoint_gradients_and_recompute_count_match_torch(reentrant):
    res = []
    for T in (ember, torch):
        x, w = _t(T, [1.0, 2.0]), _t(T, [0.5, -1.0])
        calls = []

        def f(a, k, w=w, calls=calls):
            calls.append(1)
            return (a * w).sin() * k, a.exp()

        y, z = _cp(T).checkpoint(f, x, 3.0, use_reentrant=reentrant)
        (y ** 2 * z).sum().backward()
        res.append((x.grad.numpy(), w.grad.numpy(), len(calls), y.requires_grad))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-12)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-12)
    assert res[0][2:] == res[1][2:] == (2, True)


def test_nonreentrant_checkpoint_double_backward_and_autograd_grad():
    res = []
    for T in (ember, torch):
        x = _t(T, [1.0, 2.0])
        y = _cp(T).checkpoint(lambda a: a.exp() * a.tanh(), x, use_reentrant=False)
        (g,) = T.autograd.grad(y.sum(), x, create_graph=True)
        (g2,) = T.autograd.grad(g.sum(), x)
        res.append((g.detach().numpy(), g2.numpy()))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-12)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-12)


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpoint_replays_dropout_mask(reentrant):
    ember.manual_seed(0)
    x = _t(ember, np.linspace(1.0, 2.0, 50))
    y = ember.utils.checkpoint.checkpoint(lambda a: ember.nn.functional.dropout(a, 0.5, training=True) * a, x,
                                          use_reentrant=reentrant)
    y.sum().backward()
    mask = (y.detach().numpy() != 0)
    np.testing.assert_allclose(x.grad.numpy(), np.where(mask, 4 * x.detach().numpy(), 0.0))


def test_reentrant_checkpoint_refuses_autograd_grad_and_no_grad_inputs():
    x, w = _t(ember, [1.0, 2.0]), _t(ember, [3.0, 4.0])
    y = ember.utils.checkpoint.checkpoint(lambda a: a * 2, x, use_reentrant=True)
    with pytest.raises(RuntimeError, match="incompatible with autograd.grad"):
        ember.autograd.grad(y.sum(), x)
    with pytest.warns(UserWarning, match="None of the inputs"):
        y = ember.utils.checkpoint.checkpoint(lambda a: a * w, x.detach(), use_reentrant=True)
    assert not y.requires_grad  # as torch: w gets no gradient through a reentrant checkpoint then
    y = ember.utils.checkpoint.checkpoint(lambda a: a * w, x.detach(), use_reentrant=False)
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0])


def test_checkpoint_sequential_matches_torch():
    res = []
    for T in (ember, torch):
        seq = T.nn.Sequential(T.nn.Linear(4, 4), T.nn.Tanh(), T.nn.Linear(4, 4), T.nn.Tanh()).double()
        with T.no_grad():
            seq[0].weight.copy_(T.arange(16.0).reshape(4, 4) / 10)
            seq[2].weight.copy_(T.arange(16.0).reshape(4, 4) / 20)
            seq[0].bias.fill_(0.1)
            seq[2].bias.fill_(-0.1)
        x = _t(T, [1.0, 2.0, 3.0, 4.0])
        y = _cp(T).checkpoint_sequential(seq, 2, x, use_reentrant=False)
        y.sum().backward()
        res.append((y.detach().numpy(), x.grad.numpy(), seq[0].weight.grad.numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15)

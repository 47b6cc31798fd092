"""Loss functions and modules against torch (values, gradients, gradcheck, gradgradcheck) and their errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
import ember.nn.functional as F
from _helpers import case, check

A = np.array
REDUCTIONS = ["mean", "sum", "none"]


def Fn(L):
    return L.nn.functional


def idx(L, a):
    return L.from_numpy(np.array(a, dtype=np.int64))


def const(L, x, a):
    """A constant (no grad) tensor of x's dtype."""
    return L.tensor(np.array(a), dtype=x.dtype)


T1 = [0, 2, 1, 2]
T_IGN = [0, -100, 1, 2]
T_K = [[[0, 1], [2, 2], [1, 0]], [[2, 0], [1, 1], [0, 2]]]  # (N=2, d1=3, d2=2)
W3 = [0.2, 1.0, 2.5]

CE = [
    case(lambda L, x, r: Fn(L).cross_entropy(x, idx(L, T1), reduction=r), (4, 3), id="plain"),
    case(lambda L, x, r: Fn(L).cross_entropy(x, idx(L, T1), weight=const(L, x, W3), reduction=r), (4, 3),
         id="weight"),
    case(lambda L, x, r: Fn(L).cross_entropy(x, idx(L, T_IGN), reduction=r), (4, 3), id="ignore_index"),
    case(lambda L, x, r: Fn(L).cross_entropy(x, idx(L, [0, 5, 1, 5]), ignore_index=5, weight=const(L, x, W3),
                                             reduction=r), (4, 3), id="ignore_index_custom_weight"),
    case(lambda L, x, r: Fn(L).cross_entropy(x, idx(L, T1), label_smoothing=0.2, reduction=r), (4, 3),
         id="label_smoothing"),
    case(lambda L, x, r: Fn(L).cross_entropy(x, idx(L, T_IGN), label_smoothing=0.1, weight=const(L, x, W3),
                                             reduction=r), (4, 3), id="smoothing_weight_ignore"),
    case(lambda L, x, r: Fn(L).cross_entropy(x, idx(L, T_K), reduction=r), (2, 3, 3, 2), id="k_dim"),
    case(lambda L, x, r: Fn(L).cross_entropy(x, idx(L, T_K), weight=const(L, x, W3), label_smoothing=0.3,
                                             reduction=r), (2, 3, 3, 2), id="k_dim_weight_smoothing"),
    case(lambda L, x, r: Fn(L).cross_entropy(x, idx(L, 2), reduction=r), (3,), id="unbatched"),
    case(lambda L, x, p, r: Fn(L).cross_entropy(x, L.softmax(p, 1), reduction=r), (4, 3), (4, 3),
         id="probabilities"),
    case(lambda L, x, p, r: Fn(L).cross_entropy(x, L.softmax(p, 1), weight=const(L, x, W3),
                                                label_smoothing=0.25, reduction=r), (4, 3), (4, 3),
         id="probabilities_weight_smoothing"),
    case(lambda L, x, p, r: Fn(L).cross_entropy(x, L.softmax(p, 1), reduction=r), (2, 3, 2), (2, 3, 2),
         id="probabilities_k_dim"),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fn,inputs,kw", CE)
def test_cross_entropy_matches_torch(fn, inputs, kw, reduction):
    check(fn, *inputs, reduction, **kw)


OTHER = [
    case(lambda L, x, r: Fn(L).nll_loss(L.log_softmax(x, 1), idx(L, T1), reduction=r), (4, 3), id="nll"),
    case(lambda L, x, r: Fn(L).nll_loss(x, idx(L, T_IGN), weight=const(L, x, W3), reduction=r), (4, 3),
         id="nll_weight_ignore"),
    case(lambda L, x, r: Fn(L).nll_loss(x, idx(L, T_K), reduction=r), (2, 3, 3, 2), id="nll_k_dim"),
    case(lambda L, x, y, r: Fn(L).mse_loss(x, y, reduction=r), (3, 4), (3, 4), id="mse"),
    case(lambda L, x, y, r: Fn(L).l1_loss(x, y, reduction=r), (3, 4), (3, 4), id="l1"),
    case(lambda L, x, y, r: Fn(L).smooth_l1_loss(x, y, reduction=r), (3, 4), (3, 4), id="smooth_l1"),
    case(lambda L, x, y, r: Fn(L).smooth_l1_loss(x, y, reduction=r, beta=0.5), (3, 4), (3, 4), id="smooth_l1_beta"),
    case(lambda L, x, y, r: Fn(L).smooth_l1_loss(x, y, reduction=r, beta=0.0), (3, 4), (3, 4), id="smooth_l1_beta0"),
    case(lambda L, x, y, r: Fn(L).huber_loss(x, y, reduction=r), (3, 4), (3, 4), id="huber"),
    case(lambda L, x, y, r: Fn(L).huber_loss(x, y, reduction=r, delta=0.4), (3, 4), (3, 4), id="huber_delta"),
    case(lambda L, x, y, r: Fn(L).binary_cross_entropy(L.sigmoid(x), L.sigmoid(y), reduction=r),
         (3, 4), (3, 4), id="bce"),
    case(lambda L, x, y, r: Fn(L).binary_cross_entropy(L.sigmoid(x), L.sigmoid(y), weight=const(L, x, [1.0, 2.0, 0.5, 0.1]),
                                                       reduction=r), (3, 4), (3, 4), id="bce_weight"),
    case(lambda L, x, y, r: Fn(L).binary_cross_entropy_with_logits(x, L.sigmoid(y), reduction=r),
         (3, 4), (3, 4), id="bce_logits"),
    case(lambda L, x, y, r: Fn(L).binary_cross_entropy_with_logits(
        x, L.sigmoid(y), weight=const(L, x, [[0.5], [2.0], [1.0]]), pos_weight=const(L, x, [3.0, 1.0, 0.5, 2.0]),
        reduction=r), (3, 4), (3, 4), id="bce_logits_weight_pos_weight"),
    case(lambda L, x, y, r: Fn(L).kl_div(L.log_softmax(x, 1), L.softmax(y, 1), reduction=r),
         (3, 4), (3, 4), id="kl_div"),
    case(lambda L, x, y, r: Fn(L).kl_div(L.log_softmax(x, 1), L.log_softmax(y, 1), reduction=r,
                                         log_target=True), (3, 4), (3, 4), id="kl_div_log_target"),
    case(lambda L, x, y, r: Fn(L).cosine_embedding_loss(x, y, idx(L, [1, -1, 1]), reduction=r), (3, 4), (3, 4),
         id="cosine_embedding"),
    case(lambda L, x, y, r: Fn(L).cosine_embedding_loss(x, y, idx(L, [-1, -1, 1]), margin=-0.3, reduction=r),
         (3, 4), (3, 4), id="cosine_embedding_margin"),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fn,inputs,kw", OTHER)
@pytest.mark.filterwarnings("ignore:.*'mean' divides the total loss")  # torch warns the same way
def test_loss_matches_torch(fn, inputs, kw, reduction):
    check(fn, *inputs, reduction, **kw)


def test_bce_clamps_log_at_minus_100_like_torch():
    x = A([0.0, 1.0, 0.5, 1e-45], dtype=np.float32)
    y = A([1.0, 0.0, 1.0, 1.0], dtype=np.float32)
    e = F.binary_cross_entropy(ember.tensor(x), ember.tensor(y), reduction="none")
    t = torch.nn.functional.binary_cross_entropy(torch.tensor(x), torch.tensor(y), reduction="none")
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
    assert e.numpy()[0] == 100.0


def test_kl_div_batchmean_divides_by_batch_size():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    lp = torch.log_softmax(torch.tensor(x), 1)
    q = torch.softmax(torch.tensor(y), 1)
    t = torch.nn.functional.kl_div(lp, q, reduction="batchmean")
    e = F.kl_div(ember.tensor(lp.numpy()), ember.tensor(q.numpy()), reduction="batchmean")
    np.testing.assert_allclose(e.item(), t.item(), rtol=1e-12)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(ember.tensor(lp.numpy()), ember.tensor(q.numpy()))


def test_kl_div_zero_target_contributes_zero():
    e = F.kl_div(ember.tensor([-1.0, -2.0]), ember.tensor([0.0, 1.0]), reduction="sum")
    np.testing.assert_allclose(e.item(), 0.0 * 1 + 1.0 * (0 - (-2.0)))


# ---------------------------------------------------------------------------- loss modules


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


MODULES = [
    ("CrossEntropyLoss", dict(weight=W3, ignore_index=1, label_smoothing=0.1), "cls"),
    ("NLLLoss", dict(weight=W3), "cls_logp"),
    ("MSELoss", {}, "reg"),
    ("L1Loss", dict(reduction="sum"), "reg"),
    ("SmoothL1Loss", dict(beta=0.3), "reg"),
    ("HuberLoss", dict(delta=0.7, reduction="none"), "reg"),
    ("BCELoss", dict(weight=[1.0, 2.0, 0.5, 1.0]), "prob"),
    ("BCEWithLogitsLoss", dict(pos_weight=[3.0, 1.0, 0.5, 2.0]), "logit"),
    ("KLDivLoss", dict(reduction="batchmean", log_target=False), "kl"),
    ("CosineEmbeddingLoss", dict(margin=0.1), "cos"),
]


def _module_inputs(kind, L):
    x = _rand(4, 3) if kind.startswith("cls") else _rand(3, 4)
    y = _rand(3, 4, seed=1)
    xt = L.tensor(x, requires_grad=True)
    if kind == "cls":
        return xt, (xt, L.tensor(np.array(T1)))
    if kind == "cls_logp":
        return xt, (L.log_softmax(xt, 1), L.tensor(np.array(T1)))
    if kind == "reg":
        return xt, (xt, L.tensor(y))
    if kind == "prob":
        return xt, (L.sigmoid(xt), L.sigmoid(L.tensor(y)))
    if kind == "logit":
        return xt, (xt, L.sigmoid(L.tensor(y)))
    if kind == "kl":
        return xt, (L.log_softmax(xt, 1), L.softmax(L.tensor(y), 1))
    return xt, (xt, L.tensor(y), L.tensor(np.array([1, -1, 1])))


@pytest.mark.parametrize("name,kw,kind", MODULES, ids=[m[0] for m in MODULES])
def test_loss_modules_match_torch(name, kw, kind):
    outs = []
    for L in (ember, torch):
        kwl = {k: (L.tensor(v) if isinstance(v, list) else v) for k, v in kw.items()}
        mod = getattr(L.nn, name)(**kwl)
        x, args = _module_inputs(kind, L)
        out = mod(*args)
        out.sum().backward()
        outs.append((out.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-5, atol=1e-6)


def test_loss_module_repr_and_buffers():
    m = nn.CrossEntropyLoss(weight=ember.tensor(W3))
    assert repr(m) == "CrossEntropyLoss()"
    assert list(m.state_dict()) == ["weight"]
    with pytest.raises(ValueError, match="'avg' is not a valid value for reduction"):
        nn.MSELoss(reduction="avg")


# ---------------------------------------------------------------------------- errors


def test_cross_entropy_label_out_of_range():
    x = ember.randn(4, 10)
    with pytest.raises(IndexError, match=r"target 12 is out of bounds.*\[0, 9\].*C=10.*subtract 1"):
        F.cross_entropy(x, ember.tensor([1, 12, 3, 4]))
    with pytest.raises(IndexError, match=r"target -3 is out of bounds"):
        F.cross_entropy(x, ember.tensor([1, -3, 3, 4]))
    with pytest.raises(IndexError, match=r"target 10 is out of bounds"):
        nn.CrossEntropyLoss()(x, ember.tensor([1, 10, 3, 4]))


def test_cross_entropy_float_labels():
    x = ember.randn(4, 10)
    with pytest.raises(RuntimeError, match=r"integer class indices.*float32.*target\.long\(\).*probabilities"):
        F.cross_entropy(x, ember.tensor([1.0, 2.0, 3.0, 4.0]))


def test_cross_entropy_target_shape():
    with pytest.raises(ValueError, match=r"expected target of shape \(4,\).*got target shape \(5,\)"):
        F.cross_entropy(ember.randn(4, 3), ember.tensor([0, 1, 2, 0, 1]))


def test_cross_entropy_bad_weight_and_smoothing():
    with pytest.raises(RuntimeError, match=r"weight must be a 1-D tensor of size C=3"):
        F.cross_entropy(ember.randn(4, 3), ember.tensor([0, 1, 2, 0]), weight=ember.ones(4))
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(ember.randn(4, 3), ember.tensor([0, 1, 2, 0]), label_smoothing=1.5)


def test_mse_loss_mismatched_shapes_is_an_error():
    x, y = ember.randn(32, 1), ember.randn(32)
    with pytest.raises(ValueError, match=r"input shape \(32, 1\) and target shape \(32,\) differ.*"
                                         r"torch would silently broadcast both to \(32, 32\)"):
        F.mse_loss(x, y)
    with pytest.raises(ValueError, match="differ"):
        nn.MSELoss()(x, y)
    with pytest.raises(ValueError, match="not even broadcastable"):
        F.l1_loss(ember.randn(3), ember.randn(4))


def test_bce_input_out_of_range():
    with pytest.raises(RuntimeError, match=r"between 0 and 1.*binary_cross_entropy_with_logits"):
        F.binary_cross_entropy(ember.tensor([0.5, 1.5]), ember.tensor([0.0, 1.0]))


def test_bad_reduction():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(ember.randn(3), ember.randn(3), reduction="avg")


@pytest.mark.parametrize("vshape", [(4, 5), (4,), (4, 1), "float"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_gaussian_nll_loss_var_shapes_and_small_var_gradient(vshape, reduction):
    # var of shape input.shape[:-1] is homoscedastic (torch unsqueezes it); entries below eps are clamped
    # without cutting their gradient (torch clamps under no_grad)
    rng = np.random.RandomState(0)
    x, y = rng.randn(4, 5), rng.randn(4, 5)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y)
    ex, ey = ember.tensor(x, requires_grad=True), ember.tensor(y)
    if vshape == "float":
        tv, ev = 0.3, 0.3
    else:
        v = rng.rand(*vshape) + 0.1
        v.flat[0] = 1e-9
        tv, ev = torch.tensor(v, requires_grad=True), ember.tensor(v, requires_grad=True)
    tl = torch.nn.functional.gaussian_nll_loss(tx, ty, tv, full=True, eps=1e-3, reduction=reduction)
    el = F.gaussian_nll_loss(ex, ey, ev, full=True, eps=1e-3, reduction=reduction)
    np.testing.assert_allclose(el.detach().numpy(), tl.detach().numpy(), rtol=1e-10)
    w = np.linspace(0.5, 1.5, tl.numel()).reshape(tl.shape)
    (tl * torch.tensor(w)).sum().backward()
    (el * ember.tensor(w)).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    if vshape != "float":
        np.testing.assert_allclose(ev.grad.numpy(), tv.grad.numpy(), rtol=1e-10)


def test_gaussian_nll_loss_rejects_negative_or_misshapen_var():
    x = ember.zeros(4, 5)
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -ember.ones(4, 5))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match="incorrect size"):
        F.gaussian_nll_loss(x, x, ember.ones(3))


@pytest.mark.parametrize("p", [1, 2])
def test_margin_losses_no_gradient_exactly_at_the_margin_like_torch(p):
    # torch's kernels count a term only where margin - x[y] + x[j] > 0
    x = np.array([[1.0, 0.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0], [2.0, 1.0, 1.5, 0.0]])
    y = np.array([0, 1, 1])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    tl = torch.nn.functional.multi_margin_loss(tx, torch.tensor(y), p=p, weight=torch.tensor(w))
    el = F.multi_margin_loss(ex, ember.tensor(y), p=p, weight=ember.tensor(w))
    np.testing.assert_allclose(el.detach().numpy(), tl.detach().numpy(), rtol=1e-12)
    tl.backward()
    el.backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    yl = np.array([[0, -1, 2, 3], [1, -1, 0, 0], [2, 3, -1, 0]])
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    tl = torch.nn.functional.multilabel_margin_loss(tx, torch.tensor(yl), reduction="sum")
    el = F.multilabel_margin_loss(ex, ember.tensor(yl), reduction="sum")
    np.testing.assert_allclose(el.detach().numpy(), tl.detach().numpy(), rtol=1e-12)
    tl.backward()
    el.backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_cross_entropy_probability_targets_refuse_ignore_index_like_torch():
    x = ember.randn(3, 4)
    p = ember.softmax(ember.randn(3, 4), 1)
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        F.cross_entropy(x, p, ignore_index=1)
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        torch.nn.functional.cross_entropy(torch.randn(3, 4), torch.rand(3, 4), ignore_index=1)
    F.cross_entropy(x, p)  # the default ignore_index is fine

"""ember.nn.functional against torch.nn.functional: values, gradients, gradcheck and gradgradcheck
(through tests/_helpers.check), numerical stability at extreme logits, and error messages."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F
from _helpers import case, check

A = np.array


def Fn(L):
    return L.nn.functional


# Values exactly at the kinks (0, the clamp bounds) pin torch's choice of subgradient.
KINKS = A([[-2.0, -1.0, -0.5, 0.0, 0.3], [0.8, 1.0, 1.5, 6.0, 7.0]])

ACTIVATIONS = [
    case(lambda L, x: Fn(L).relu(x), KINKS, gradcheck=False, gradgrad=False, id="relu_kinks"),
    case(lambda L, x: Fn(L).relu6(x), KINKS, gradcheck=False, gradgrad=False, id="relu6_kinks"),
    case(lambda L, x: Fn(L).leaky_relu(x, 0.2), KINKS, gradcheck=False, gradgrad=False, id="leaky_relu_kinks"),
    case(lambda L, x: Fn(L).relu(x), (3, 4), id="relu"),
    case(lambda L, x: Fn(L).relu6(x), (3, 4), low=-3, high=8, id="relu6"),
    case(lambda L, x: Fn(L).leaky_relu(x, 0.2), (3, 4), id="leaky_relu"),
    case(lambda L, x: Fn(L).elu(x, alpha=0.7), (3, 4), id="elu"),
    case(lambda L, x: Fn(L).selu(x), (3, 4), id="selu"),
    case(lambda L, x: Fn(L).celu(x, alpha=1.3), (3, 4), id="celu"),
    case(lambda L, x: Fn(L).gelu(x), (3, 4), id="gelu"),
    case(lambda L, x: Fn(L).gelu(x, approximate="tanh"), (3, 4), id="gelu_tanh"),
    case(lambda L, x: Fn(L).silu(x), (3, 4), id="silu"),
    case(lambda L, x: Fn(L).mish(x), (3, 4), id="mish"),
    case(lambda L, x: Fn(L).softplus(x), (3, 4), id="softplus"),
    case(lambda L, x: Fn(L).softplus(x, beta=2.0, threshold=3.0), (3, 4), id="softplus_beta_threshold"),
    case(lambda L, x: Fn(L).hardtanh(x), KINKS, gradcheck=False, gradgrad=False, id="hardtanh_kinks"),
    case(lambda L, x: Fn(L).hardtanh(x, -0.5, 1.5), KINKS, gradcheck=False, gradgrad=False, id="hardtanh_bounds"),
    case(lambda L, x: Fn(L).hardtanh(x), (3, 4), id="hardtanh"),
    case(lambda L, x: Fn(L).sigmoid(x), (3, 4), id="sigmoid"),
    case(lambda L, x: Fn(L).tanh(x), (3, 4), id="tanh"),
    case(lambda L, x: Fn(L).logsigmoid(x), (3, 4), id="logsigmoid"),
    case(lambda L, x: Fn(L).softsign(x), (3, 4), id="softsign"),
    case(lambda L, x: Fn(L).hardswish(x), (3, 4), low=-5, high=5, id="hardswish"),
    case(lambda L, x: Fn(L).softmax(x, dim=1), (3, 4), id="softmax1"),
    case(lambda L, x: Fn(L).softmax(x, dim=0), (3, 4), id="softmax0"),
    case(lambda L, x: Fn(L).log_softmax(x, dim=-1), (2, 3, 4), id="log_softmax"),
    case(lambda L, x: Fn(L).softmin(x, dim=1), (3, 4), id="softmin"),
    case(lambda L, x: Fn(L).glu(x, dim=-1), (3, 4), id="glu"),
]


@pytest.mark.parametrize("fn,inputs,kw", ACTIVATIONS)
def test_activation_matches_torch(fn, inputs, kw):
    check(fn, *inputs, **kw)


LAYERS = [
    case(lambda L, x, w, b: Fn(L).linear(x, w, b), (4, 3), (5, 3), (5,), id="linear"),
    case(lambda L, x, w: Fn(L).linear(x, w), (2, 4, 3), (5, 3), id="linear_3d_nobias"),
    case(lambda L, x, w, b: Fn(L).linear(x, w, b), (3,), (5, 3), (5,), id="linear_1d"),
    case(lambda L, x1, x2, w, b: Fn(L).bilinear(x1, x2, w, b), (4, 3), (4, 2), (5, 3, 2), (5,), id="bilinear"),
    case(lambda L, x: Fn(L).pad(x, (1, 2)), (2, 3), id="pad_constant"),
    case(lambda L, x: Fn(L).pad(x, (1, 0, 2, 1), value=0.5), (2, 3, 4), id="pad_constant_2d"),
    case(lambda L, x: Fn(L).pad(x, (-1, 2)), (2, 4), id="pad_constant_negative"),
    case(lambda L, x: Fn(L).pad(x, (2, 1), mode="reflect"), (2, 3, 4), id="pad_reflect"),
    case(lambda L, x: Fn(L).pad(x, (1, 2, 2, 1), mode="reflect"), (1, 2, 3, 4), id="pad_reflect_2d"),
    case(lambda L, x: Fn(L).pad(x, (2, 3), mode="replicate"), (2, 3, 4), id="pad_replicate"),
    case(lambda L, x: Fn(L).pad(x, (1, 1, 2, 0), mode="replicate"), (1, 2, 3, 4), id="pad_replicate_2d"),
    case(lambda L, x: Fn(L).pad(x, (1, 2), mode="circular"), (1, 2, 4), id="pad_circular"),
    case(lambda L, x: Fn(L).normalize(x), (3, 4), id="normalize"),
    case(lambda L, x: Fn(L).normalize(x, p=1.0, dim=0), (3, 4), id="normalize_p1"),
    case(lambda L, x, y: Fn(L).cosine_similarity(x, y), (3, 4), (3, 4), id="cosine_similarity"),
    case(lambda L, x, y: Fn(L).cosine_similarity(x, y, dim=-1), (2, 3, 4), (1, 3, 4), id="cosine_similarity_bcast"),
    case(lambda L, x, w, b: Fn(L).layer_norm(x, (4,), w, b), (3, 4), (4,), (4,), id="layer_norm"),
    case(lambda L, x: Fn(L).layer_norm(x, (3, 4)), (2, 3, 4), id="layer_norm_2d_noaffine"),
    case(lambda L, x, w, b: Fn(L).group_norm(x, 2, w, b), (3, 4, 5), (4,), (4,), id="group_norm"),
    case(lambda L, x: Fn(L).group_norm(x, 3, eps=1e-3), (2, 6, 2, 2), id="group_norm_4d"),
    case(lambda L, x, w, b: Fn(L).batch_norm(x, None, None, w, b, training=True), (5, 3), (3,), (3,),
         id="batch_norm_train"),
    case(lambda L, x: Fn(L).batch_norm(x, None, None, training=True, eps=1e-3), (4, 3, 2, 2), id="batch_norm_train_4d"),
    case(lambda L, x, w, b: Fn(L).batch_norm(x, L.tensor([0.1, -0.2, 0.3], dtype=x.dtype),
                                             L.tensor([1.5, 0.5, 2.0], dtype=x.dtype), w, b, training=False),
         (5, 3), (3,), (3,), id="batch_norm_eval"),
]


@pytest.mark.parametrize("fn,inputs,kw", LAYERS)
def test_layer_functional_matches_torch(fn, inputs, kw):
    check(fn, *inputs, **kw)


def test_embedding_padding_idx_matches_torch():
    idx = A([[0, 2, 1], [2, 2, 3]])
    # gradcheck would disagree on purpose: the padding row gets no gradient although it feeds the output
    check(lambda L, w: Fn(L).embedding(L.from_numpy(idx.copy()), w, padding_idx=2), (5, 3), gradcheck=False,
          gradgrad=False)
    check(lambda L, w: Fn(L).embedding(L.from_numpy(idx.copy()), w), (5, 3))
    w = ember.randn(5, 3, requires_grad=True)
    F.embedding(ember.tensor(idx), w, padding_idx=2).sum().backward()
    assert (w.grad.numpy()[2] == 0).all() and (w.grad.numpy()[0] == 1).all()


def test_embedding_max_norm_renormalizes_rows_like_torch():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((6, 4)).astype(np.float32) * 3
    idx = A([0, 3, 3, 5])
    ew, tw = ember.tensor(w0.copy()), torch.tensor(w0.copy())
    eo = F.embedding(ember.tensor(idx), ew, max_norm=1.0)
    to = torch.nn.functional.embedding(torch.tensor(idx), tw, max_norm=1.0)
    np.testing.assert_allclose(eo.numpy(), to.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ew.numpy(), tw.numpy(), rtol=1e-5)  # rows renormalized in place, others untouched


def test_embedding_errors():
    w = ember.randn(5, 3)
    with pytest.raises(IndexError, match=r"index 7 is out of range.*\[0, 4\].*num_embeddings=5"):
        F.embedding(ember.tensor([1, 7]), w)
    with pytest.raises(RuntimeError, match=r"integer index tensor.*\.long\(\)"):
        F.embedding(ember.tensor([1.0, 2.0]), w)


def test_one_hot():
    t = torch.nn.functional.one_hot(torch.tensor([0, 3, 1]), 5)
    e = F.one_hot(ember.tensor([0, 3, 1]), 5)
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert e.dtype == ember.int64


def test_pad_errors():
    x = ember.randn(2, 3)
    with pytest.raises(ValueError, match="divisible by 2"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="padding size should be less than"):
        F.pad(x, (3, 3), mode="reflect")
    with pytest.raises(ValueError, match="covers 3 dimensions"):
        F.pad(x, (1, 1, 1, 1, 1, 1))


def test_linear_errors_name_shapes():
    with pytest.raises(RuntimeError, match=r"input of shape \(4, 6\).*weight of shape \(5, 3\).*in_features=3"):
        F.linear(ember.randn(4, 6), ember.randn(5, 3))
    with pytest.raises(RuntimeError, match=r"dtype.*float64.*float32"):
        F.linear(ember.randn(4, 3, dtype=ember.float64), ember.randn(5, 3))


# ---------------------------------------------------------------------------- dropout


def test_dropout_scaling_and_reproducibility():
    x = ember.ones(200, 100)
    ember.manual_seed(3)
    y = F.dropout(x, 0.3)
    vals = np.unique(y.numpy())
    np.testing.assert_allclose(vals, [0.0, 1 / 0.7], rtol=1e-6)
    frac = (y.numpy() == 0).mean()
    assert abs(frac - 0.3) < 0.02
    ember.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.3).numpy(), y.numpy())
    assert F.dropout(x, 0.3, training=False) is x
    assert (F.dropout(x, 1.0).numpy() == 0).all()


def test_dropout_gradient_uses_same_mask():
    x = ember.randn(50, 40, requires_grad=True)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    mask = y.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), mask * 2.0)


def test_dropout2d_zeroes_whole_channels():
    ember.manual_seed(0)
    y = F.dropout2d(ember.ones(8, 16, 3, 3), 0.5).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert ((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1)).all()
    assert 0 < (per_channel == 0).all(-1).mean() < 1


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_validates_p(p):
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.dropout(ember.ones(3), p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        ember.nn.Dropout(p)


# ---------------------------------------------------------------------------- stability at extreme logits

EXTREME = A([[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, -1e4, -1e4 + 1.0], [1e4, 1e4 - 3.0, -1e4, 2.0]], dtype=np.float32)


def _exact(name, x):
    """float64 reference values and the gradient of sum(g * out) for upstream g."""
    m = x.max(1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(1, keepdims=True))
    p = np.exp(x - lse)
    if name == "softmax":
        return p, lambda g: p * (g - (g * p).sum(1, keepdims=True))
    if name == "log_softmax":
        return x - lse, lambda g: g - p * g.sum(1, keepdims=True)
    return lse[:, 0], lambda g: p * g[:, None]


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family_stable_at_extreme_logits(name):
    e = ember.tensor(EXTREME, requires_grad=True)
    t = torch.tensor(EXTREME, requires_grad=True)
    if name == "logsumexp":
        eo, to = ember.logsumexp(e, 1), torch.logsumexp(t, 1)
    else:
        eo, to = getattr(F, name)(e, dim=1), getattr(torch.nn.functional, name)(t, dim=1)
    ref, vjp = _exact(name, EXTREME.astype(np.float64))
    assert np.isfinite(eo.detach().numpy()).all()
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(eo.detach().numpy(), ref, rtol=1e-6, atol=1e-6)
    g = np.random.default_rng(0).standard_normal(tuple(to.shape)).astype(np.float32)
    eo.backward(ember.tensor(g))
    to.backward(torch.tensor(g))
    assert np.isfinite(e.grad.numpy()).all()
    # exact in float32 (against float64 math); torch itself is only within its rounding of lse near 1e4
    np.testing.assert_allclose(e.grad.numpy(), vjp(g.astype(np.float64)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=2e-3, atol=1e-6)


def test_cross_entropy_stable_at_extreme_logits():
    target = A([1, 2, 3])
    e = ember.tensor(EXTREME, requires_grad=True)
    t = torch.tensor(EXTREME, requires_grad=True)
    eo = F.cross_entropy(e, ember.tensor(target), reduction="none")
    to = torch.nn.functional.cross_entropy(t, torch.tensor(target), reduction="none")
    assert np.isfinite(eo.detach().numpy()).all()
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-6)
    eo.sum().backward()
    to.sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), atol=1e-6)


def test_bce_with_logits_stable_at_extreme_logits():
    x = A([1e4, -1e4, 0.0, 30.0, -30.0, 1e4], dtype=np.float32)
    y = A([0.0, 1.0, 1.0, 0.0, 1.0, 1.0], dtype=np.float32)
    pw = A([2.0], dtype=np.float32)
    e, t = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    eo = F.binary_cross_entropy_with_logits(e, ember.tensor(y), reduction="none", pos_weight=ember.tensor(pw))
    to = torch.nn.functional.binary_cross_entropy_with_logits(t, torch.tensor(y), reduction="none",
                                                              pos_weight=torch.tensor(pw))
    assert np.isfinite(eo.detach().numpy()).all()
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-6)
    eo.sum().backward()
    to.sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_softmax_implicit_dim_warns_like_torch():
    x = ember.randn(3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        y = F.softmax(x)
    np.testing.assert_allclose(y.numpy(), F.softmax(x, dim=1).numpy())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(-1, 2), (2, -1), (-2, -1), (3, -2), (1, 2, -1, 1), (-1, -1, 2, 0)])
def test_pad_negative_widths_crop_in_every_mode_like_torch(mode, pad):
    x = np.random.RandomState(0).randn(2, 5, 6)
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    to, eo = torch.nn.functional.pad(tx, pad, mode=mode), F.pad(ex, pad, mode=mode)
    np.testing.assert_array_equal(eo.detach().numpy(), to.detach().numpy())
    w = np.random.RandomState(1).randn(*to.shape)
    (to * torch.tensor(w)).sum().backward()
    (eo * ember.tensor(w)).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape,pad", [((2, 4), (1, 1, 1, 1)), ((2, 3, 4), (1,) * 6), ((1, 2, 3, 4), (1, 1)),
                                       ((3,), (1, 1)), ((1, 2, 3, 4, 5), (1, 1, 1, 1))])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_non_constant_refuses_batch_and_channel_dims_like_torch(shape, pad, mode):
    # torch pads only the spatial dims of a (N, C, *) or (C, *) input in these modes
    with pytest.raises(NotImplementedError, match="padding size"):
        F.pad(ember.zeros(*shape), pad, mode=mode)


def test_pad_non_constant_output_must_be_positive():
    with pytest.raises(RuntimeError, match="too small"):
        F.pad(ember.zeros(2, 3, 6), (-3, -3), mode="reflect")


def test_celu_zero_alpha_and_softshrink_negative_lambda_raise_like_torch():
    x = np.random.RandomState(0).randn(3)
    for lib, t in ((torch, torch.tensor(x)), (ember, ember.tensor(x))):
        with pytest.raises(RuntimeError, match="alpha cannot be 0"):
            lib.nn.functional.celu(t, alpha=0.0)
        with pytest.raises(RuntimeError, match="lambda must be"):
            lib.nn.functional.softshrink(t, -0.5)
        with pytest.raises(RuntimeError, match="alpha cannot be 0"):
            lib.nn.CELU(0.0)(t)
    np.testing.assert_array_equal(F.softshrink(ember.tensor(x), 0.0).numpy(),
                                  torch.nn.functional.softshrink(torch.tensor(x), 0.0).numpy())

"""Small torch names: nn.utils fusion, utils.data.StackDataset, autograd.anomaly_mode / is_tensor_like."""
import numpy as np
import pytest
import torch

import ember
from tests._helpers import case, check


def _copy_params(src, dst):
    for (_n, p), (_, q) in zip(src.named_parameters(), dst.named_parameters()):
        q.data = ember.tensor(p.detach().numpy().copy())
    for (n, b), (_, c) in zip(src.named_buffers(), dst.named_buffers()):
        c.data = ember.tensor(b.detach().numpy().copy()) if n != "num_batches_tracked" else c.data


@pytest.mark.parametrize("kind", ["conv2d", "conv1d-nobias", "convT2d", "linear"])
def test_fusion_matches_torch_and_unfused(kind):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    fused = []
    for L in (torch, ember):
        nn = L.nn
        if kind == "conv2d":
            layer, bn, x = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), rng.normal(size=(2, 3, 5, 5))
        elif kind == "conv1d-nobias":
            layer, bn, x = nn.Conv1d(3, 4, 3, bias=False), nn.BatchNorm1d(4), rng.normal(size=(2, 3, 6))
        elif kind == "convT2d":
            layer, bn, x = nn.ConvTranspose2d(3, 4, 3), nn.BatchNorm2d(4), rng.normal(size=(2, 3, 4, 4))
        else:
            layer, bn, x = nn.Linear(3, 4), nn.BatchNorm1d(4), rng.normal(size=(5, 3))
        fused.append((layer, bn, x))
    (tl, tb, x), (el, eb, _) = fused
    with torch.no_grad():
        tb.running_mean.uniform_(-1, 1)
        tb.running_var.uniform_(0.5, 2)
        tb.weight.uniform_(0.5, 2)
        tb.bias.uniform_(-1, 1)
    _copy_params(tl, el)
    _copy_params(tb, eb)
    tl.eval(), tb.eval(), el.eval(), eb.eval()
    U = torch.nn.utils
    if kind == "linear":
        tf, ef = U.fuse_linear_bn_eval(tl, tb), ember.nn.utils.fuse_linear_bn_eval(el, eb)
    else:
        tr = kind == "convT2d"
        tf, ef = U.fuse_conv_bn_eval(tl, tb, transpose=tr), ember.nn.utils.fuse_conv_bn_eval(el, eb, transpose=tr)
    assert isinstance(ef.weight, ember.nn.Parameter) and ef.weight.requires_grad
    np.testing.assert_allclose(ef.weight.detach().numpy(), tf.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ef.bias.detach().numpy(), tf.bias.detach().numpy(), rtol=1e-5, atol=1e-6)
    ex = ember.tensor(x, dtype=ember.float32)
    np.testing.assert_allclose(ef(ex).detach().numpy(), eb(el(ex)).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert el.weight is not ef.weight  # the original layer is left unchanged
    el.train()
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        ember.nn.utils.fuse_linear_bn_eval(el, eb) if kind == "linear" else ember.nn.utils.fuse_conv_bn_eval(el, eb)


def test_fuse_weights_values_and_leaves_as_torch():
    # torch returns new leaf Parameters (no graph back to the inputs); values compared in float64
    rng = np.random.default_rng(1)
    vals = [rng.normal(size=(4, 3, 2)), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4),
            rng.normal(size=4), rng.normal(size=4)]
    outs = []
    for L in (torch, ember):
        w, b, rm, rv, g, beta = [L.tensor(v, requires_grad=True) for v in vals]
        res = list(L.nn.utils.fuse_conv_bn_weights(w, b, rm, rv, 1e-5, g, beta, transpose=False))
        res += L.nn.utils.fuse_conv_bn_weights(w.transpose(0, 1), None, rm, rv, 1e-3, None, None, transpose=True)
        res += L.nn.utils.fuse_linear_bn_weights(w[..., 0], None, rm, rv, 1e-5, g, beta)
        assert all(r.is_leaf and r.grad_fn is None for r in res)
        outs.append([r.detach().numpy() for r in res] + [[r.requires_grad for r in res]])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_stack_dataset_as_torch():
    D, TD = ember.utils.data, torch.utils.data
    a, b = list(range(5)), [str(i) for i in range(5)]
    assert D.StackDataset(a, b)[3] == TD.StackDataset(a, b)[3] == (3, "3")
    assert D.StackDataset(x=a, y=b)[1] == {"x": 1, "y": "1"} and len(D.StackDataset(x=a, y=b)) == 5
    for args, kwargs in [((a, b[:3]), {}), ((), {}), ((a,), {"y": b}), ((), {"x": a, "y": b[:2]})]:
        with pytest.raises(ValueError) as e:
            D.StackDataset(*args, **kwargs)
        with pytest.raises(ValueError) as t:
            TD.StackDataset(*args, **kwargs)
        assert str(e.value) == str(t.value)
    loader = D.DataLoader(D.StackDataset(D.TensorDataset(ember.arange(6)), list(range(6))), batch_size=3)
    batches = list(loader)
    assert batches[1][0][0].tolist() == [3, 4, 5] and batches[1][1].tolist() == [3, 4, 5]


def test_autograd_anomaly_mode_and_is_tensor_like():
    A = ember.autograd
    assert A.anomaly_mode.detect_anomaly is A.detect_anomaly
    assert A.anomaly_mode.set_detect_anomaly is A.set_detect_anomaly

    class WithTF:
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return NotImplemented

    for v in (ember.zeros(1), WithTF(), 1.0, [1], np.zeros(1), None):
        tv = torch.zeros(1) if isinstance(v, ember.Tensor) else v
        assert A.is_tensor_like(v) == torch.overrides.is_tensor_like(tv)


POOL_CASES = [
    case(lambda L, x: L.nn.functional.lp_pool1d(x, 2, 3), (2, 3, 7), id="lp1d-p2"),
    case(lambda L, x: L.nn.functional.lp_pool1d(x, 3.0, 2, stride=1, ceil_mode=True), (2, 3, 6), id="lp1d-p3-s1"),
    case(lambda L, x: L.nn.functional.lp_pool2d(x, 2, (2, 3), stride=2), (1, 2, 5, 6), id="lp2d"),
    case(lambda L, x: L.nn.functional.lp_pool2d(x, 1.5, 2, ceil_mode=True), (1, 2, 5, 5), id="lp2d-ceil"),
    case(lambda L, x: L.nn.functional.lp_pool3d(x, 2, 2), (1, 2, 4, 4, 4), id="lp3d"),
    case(lambda L, x: L.nn.LPPool2d(2, 2)(x), (2, 3, 4, 4), id="LPPool2d"),
    case(lambda L, x: L.nn.LPPool1d(2, 3, 2)(x), (2, 3, 7), id="LPPool1d"),
    case(lambda L, x: L.nn.LPPool3d(3, 2)(x), (1, 1, 4, 4, 2), id="LPPool3d"),
    case(lambda L, x: L.nn.functional.max_pool1d_with_indices(x, 2), (2, 3, 6), id="max1d-idx"),
    case(lambda L, x: L.nn.functional.max_pool2d_with_indices(x, 3, 2, 1), (1, 2, 5, 5), id="max2d-idx"),
    case(lambda L, x: L.nn.functional.max_pool3d_with_indices(x, 2), (1, 1, 4, 4, 4), id="max3d-idx"),
    case(lambda L, x: L.nn.functional.adaptive_max_pool1d_with_indices(x, 3), (2, 3, 7), id="amax1d-idx"),
    case(lambda L, x: L.nn.functional.adaptive_max_pool2d_with_indices(x, (2, 3)), (1, 2, 5, 7), id="amax2d-idx"),
    case(lambda L, x: L.nn.functional.adaptive_max_pool3d_with_indices(x, 2), (1, 1, 4, 5, 4), id="amax3d-idx"),
]


@pytest.mark.parametrize("fn,inputs,kw", POOL_CASES)
def test_pooling_forms_match_torch(fn, inputs, kw):
    # positive inputs: x**p of a negative value to a fractional power is NaN in both libraries
    check(fn, *inputs, low=0.2, high=2.0, gradgrad=False, **kw)


def test_lppool_repr_as_torch():
    for name, args in [("LPPool1d", (2, 3)), ("LPPool2d", (1.5, (2, 3), 1, True)), ("LPPool3d", (2, 2))]:
        assert repr(getattr(ember.nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


IDX3 = np.array([[0, 2], [1, 0]])
SIGN = np.array([1.0, -1.0, 1.0]).astype(np.int64)
ATEN_CASES = [
    case(lambda L, x, w, b: L.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, False), (4, 3), (3,), (3,),
         id="batch_norm"),
    case(lambda L, x, w, b: L.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False), (2, 3, 5), (3,), (3,),
         id="instance_norm"),
    case(lambda L, x, w, b: L.layer_norm(x, [4], w, b), (2, 4), (4,), (4,), id="layer_norm"),
    case(lambda L, x, w, b: L.group_norm(x, 2, w, b, 1e-5, True), (2, 4, 3), (4,), (4,), id="group_norm"),
    case(lambda L, x, w: L.rms_norm(x, [4], w), (2, 4), (4,), id="rms_norm"),
    case(lambda L, w, i: L.embedding(w, i), (4, 3), IDX3, id="embedding"),
    case(lambda L, w, i: L.embedding(w, i, 2), (4, 3), IDX3, id="embedding-pad", gradcheck=False),  # row 2 gets no grad
    case(lambda L, x, y: L.kl_div(x, y.abs()), (2, 3), (2, 3), id="kl_div"),
    case(lambda L, x, y: L.kl_div(x, y.abs(), 1), (2, 3), (2, 3), id="kl_div-mean"),
    case(lambda L, x, y: L.kl_div(x, y, 2, log_target=True), (2, 3), (2, 3), id="kl_div-sum-log"),
    case(lambda L, x, y: L.kl_div(x, y.abs(), 0), (2, 3), (2, 3), id="kl_div-none"),
    case(lambda L, x, y: L.binary_cross_entropy_with_logits(x, L.sigmoid(y), None, L.tensor([0.5, 1.0, 2.0], dtype=x.dtype),
                                                         2), (2, 3), (2, 3), id="bce_logits"),
    case(lambda L, a, b, t: L.cosine_embedding_loss(a, b, t, 0.1, 1), (3, 4), (3, 4), SIGN, id="cosine_emb"),
    case(lambda L, x, t: L.hinge_embedding_loss(x, t, 0.5, 0), (3,), SIGN, id="hinge_emb"),
    case(lambda L, a, b, t: L.margin_ranking_loss(a, b, t, 0.2, 2), (3,), (3,), SIGN, id="margin_ranking"),
    case(lambda L, x, y: L.poisson_nll_loss(x, y.abs(), True, False, 1e-8, 1), (2, 3), (2, 3), id="poisson_nll"),
    case(lambda L, a, p, n: L.triplet_margin_loss(a, p, n, 1.0, 2, 1e-6, True, 1), (3, 4), (3, 4), (3, 4),
         id="triplet"),
    case(lambda L, x, t: L.hinge_embedding_loss(x, t), (3,), SIGN, id="hinge_emb-default-unreduced"),
    case(lambda L, a, t: L.cosine_embedding_loss(a, a * 2, t), (3, 4), SIGN, id="cosine_emb-default-unreduced"),
    case(lambda L, x, w: L.prelu(x, w), (2, 3, 4), (3,), id="prelu"),
    case(lambda L, x: L.pdist(x), (4, 3), id="pdist"),
    case(lambda L, x: L.pdist(x, 1.5), (4, 3), id="pdist-p"),
    case(lambda L, x: L.channel_shuffle(x, 2), (1, 4, 2, 2), id="channel_shuffle"),
    case(lambda L, x: L.rrelu(x), (2, 5), id="rrelu-eval"),
    case(lambda L, x: L.selu_(x * 1), (2, 5), id="selu_"),
    case(lambda L, x: L.celu_(x * 1, 0.7), (2, 5), id="celu_"),
    case(lambda L, x: L.threshold_(x * 1, 0.1, -2.0), (2, 5), id="threshold_"),
    case(lambda L, x: L.dropout_(x * 1, 0.3, False), (2, 5), id="dropout_-eval"),
    case(lambda L, x: L.alpha_dropout_(x * 1, 0.3, False), (2, 5), id="alpha_dropout_-eval"),
    case(lambda L, x: L.feature_alpha_dropout(x, 0.3, False), (2, 3, 4), id="feature_alpha_dropout-eval"),
    case(lambda L, x: L.adaptive_max_pool1d(x, 3), (2, 3, 7), id="adaptive_max_pool1d"),
    case(lambda L, x: L.max_pool1d_with_indices(x, 2), (2, 3, 7), id="max_pool1d_with_indices"),
    case(lambda L, x: L.max_pool1d_with_indices(x, 3, 1, 1, 1, True), (2, 3, 7), id="max_pool1d_with_indices-args"),
]


@pytest.mark.parametrize("fn,inputs,kw", ATEN_CASES)
def test_torch_namespace_forms_match_torch(fn, inputs, kw):
    check(fn, *inputs, gradgrad=False, **kw)


def test_torch_namespace_forms_train_mode_and_errors():
    ember.manual_seed(0)
    x = ember.ones(1000)
    y = ember.dropout_(x, 0.25, True)
    assert y is x and abs(float((x == 0).double().mean()) - 0.25) < 0.05
    assert np.all(np.isclose(x.numpy(), 0.0) | np.isclose(x.numpy(), 1 / 0.75))
    z = ember.rrelu(-ember.ones(2000), 0.1, 0.3, True)
    assert 0.1 <= -float(z.max()) and -float(z.min()) <= 0.3
    with pytest.raises(ValueError, match="reduction is ATen's integer code"):
        ember.kl_div(ember.zeros(2), ember.zeros(2), "mean")
    with pytest.raises(NotImplementedError, match="generator"):
        ember.rrelu(ember.zeros(2), generator=ember.Generator())


@pytest.mark.parametrize("opts", [{}, dict(precision=2), dict(sci_mode=True), dict(sci_mode=False),
                                  dict(profile="short"), dict(profile="full", linewidth=40),
                                  dict(threshold=5, edgeitems=1), dict(precision=6, sci_mode=False)])
def test_set_printoptions_repr_as_torch(opts):
    vals = [np.array([1.123456, -2.5, 3.0]), np.array([1e-6, 2.0]), np.arange(12.0), np.linspace(0, 1, 2000),
            np.array([[1.5, -2.25], [3.0, 4e5]]), np.array([1.0, 2.0])]
    try:
        for L in (torch, ember):
            L.set_printoptions(**opts)
        for v in vals:
            assert repr(ember.tensor(v, dtype=ember.float32)) == repr(torch.tensor(v, dtype=torch.float32))
        assert repr(ember.arange(5000)) == repr(torch.arange(5000))
    finally:
        for L in (torch, ember):
            L.set_printoptions(profile="default", sci_mode=None)
    with pytest.raises(ValueError, match="profile must be one of"):
        ember.set_printoptions(profile="long")


COORDS = np.array([0.0, 1.0, 3.0, 4.5, 7.0])
GRADIENT_CASES = [
    case(lambda L, x: L.gradient(x), (5,), id="1d"),
    case(lambda L, x: L.gradient(x, spacing=2.0, edge_order=2), (5,), id="1d-h-order2"),
    case(lambda L, x: L.gradient(x, dim=1), (3, 4), id="dim1"),
    case(lambda L, x: L.gradient(x, spacing=[2.0, 0.5], edge_order=2), (3, 4), id="per-dim-spacing"),
    case(lambda L, x: L.gradient(x, spacing=(L.tensor(COORDS, dtype=x.dtype),), dim=0), (5, 2), id="coords"),
    case(lambda L, x: L.gradient(x, spacing=(L.tensor(COORDS, dtype=x.dtype),), dim=[-1], edge_order=2), (2, 5),
         id="coords-order2"),
    case(lambda L, x: L.gradient(x, dim=(0, 2)), (2, 3, 3), id="two-dims"),
]


@pytest.mark.parametrize("fn,inputs,kw", GRADIENT_CASES)
def test_gradient_matches_torch(fn, inputs, kw):
    check(fn, *inputs, **kw)


def test_gradient_errors_as_torch():
    for args, kw in [((ember.zeros(1),), {}), ((ember.zeros(2),), dict(edge_order=2)),
                     ((ember.zeros(3, 3),), dict(spacing=[1.0, 2.0, 3.0])),
                     ((ember.zeros(3, 3),), dict(spacing=[1.0, 2.0, 3.0], dim=[0, 1]))]:
        with pytest.raises(RuntimeError) as e:
            ember.gradient(*args, **kw)
        with pytest.raises(RuntimeError) as t:
            torch.gradient(torch.zeros(tuple(args[0].shape)), **kw)
        assert str(e.value) == str(t.value)

"""torch.nn.functional names added for issue 9: values and gradients against torch (float32/float64),
gradcheck, and the errors for bad input."""
import warnings

import numpy as np
import pytest
import torch

import ember
from tests._helpers import check

F_ = "nn.functional"


def _idx(a):
    return np.asarray(a, dtype=np.int64)


@pytest.mark.parametrize("name,args", [
    ("elu_", (0.7,)), ("celu_", (1.3,)), ("selu_", ()), ("leaky_relu_", (0.2,)), ("hardtanh_", (-0.5, 0.8)),
    ("threshold_", (0.1, -2.0)), ("rrelu_", ()),
])
def test_inplace_activations(name, args):
    def fn(L, x):
        y = x * 1.0
        out = getattr(L.nn.functional, name)(y, *args)
        assert out is y
        return y
    check(fn, (3, 5), gradgrad=False)


def test_rrelu_eval_and_train():
    check(lambda L, x: L.nn.functional.rrelu(x, 0.1, 0.3, training=False), (4, 6))
    ember.manual_seed(0)
    x = ember.randn(2000, requires_grad=True)
    y = ember.nn.functional.rrelu(x, 0.1, 0.3, training=True)
    xs, ys = x.detach().numpy(), y.detach().numpy()
    pos = xs >= 0
    np.testing.assert_array_equal(ys[pos], xs[pos])
    slopes = ys[~pos] / xs[~pos]
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.3 + 1e-6
    assert abs(slopes.mean() - 0.2) < 0.01 and slopes.std() > 0.04   # U(0.1, 0.3): std 0.0577
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[~pos], slopes, rtol=1e-5)   # gradient is the drawn slope
    with pytest.raises(ValueError, match="rrelu: lower bound"):
        ember.nn.functional.rrelu(x, 0.5, 0.1)


def test_prelu():
    check(lambda L, x, w: L.nn.functional.prelu(x, w), (2, 3, 4), (3,))
    check(lambda L, x, w: L.nn.functional.prelu(x, w), (2, 3), (1,))
    with pytest.raises(RuntimeError, match="prelu: weight of shape"):
        ember.nn.functional.prelu(ember.randn(2, 3), ember.randn(4))


@pytest.mark.parametrize("shape,size", [((2, 5, 4), 3), ((2, 6, 3, 3), 2), ((1, 4, 2, 2, 2), 5)])
def test_local_response_norm(shape, size):
    check(lambda L, x: L.nn.functional.local_response_norm(x, size, alpha=0.3, beta=0.6, k=1.5), shape)


def test_local_response_norm_error():
    with pytest.raises(ValueError, match="local_response_norm: expected 3D"):
        ember.nn.functional.local_response_norm(ember.randn(3, 4), 2)


def test_channel_shuffle():
    check(lambda L, x: L.nn.functional.channel_shuffle(x, 3), (2, 6, 2, 2), gradcheck=False, gradgrad=False)
    check(lambda L, x: L.nn.ChannelShuffle(2)(x), (1, 4, 3), gradcheck=False, gradgrad=False)
    with pytest.raises(ValueError, match="channel_shuffle: number of channels"):
        ember.nn.functional.channel_shuffle(ember.randn(1, 5, 2), 2)


def test_pdist():
    check(lambda L, x: L.nn.functional.pdist(x), (5, 3))
    check(lambda L, x: L.nn.functional.pdist(x, 1.5), (4, 2), gradgrad=False)
    with pytest.raises(RuntimeError, match="pdist: only supports 2D"):
        ember.nn.functional.pdist(ember.randn(2, 3, 4))


def test_gumbel_softmax():
    ember.manual_seed(0)
    x = ember.randn(500, 4, requires_grad=True)
    y = ember.nn.functional.gumbel_softmax(x, tau=0.5)
    np.testing.assert_allclose(y.sum(-1).detach().numpy(), 1.0, rtol=1e-6)
    h = ember.nn.functional.gumbel_softmax(x, tau=0.5, hard=True)
    hv = h.detach().numpy()
    assert set(np.unique(hv)) <= {0.0, 1.0} and (hv.sum(-1) == 1).all()
    (h * ember.arange(4.0)).sum().backward()
    assert x.grad is not None and np.abs(x.grad.numpy()).sum() > 0
    # the sampled class follows softmax(logits): a large logit wins almost always
    z = ember.tensor([[0.0, 0.0, 8.0]] * 200)
    assert ember.nn.functional.gumbel_softmax(z, hard=True).argmax(-1).float().mean().item() > 1.9


@pytest.mark.parametrize("p,w", [(1, False), (2, True)])
def test_multi_margin_loss(p, w):
    t = _idx([0, 2, 1, 3])
    if w:
        check(lambda L, x, t: L.nn.functional.multi_margin_loss(
            x, t, p=p, margin=0.7, weight=L.tensor([0.5, 1.0, 1.5, 2.0], dtype=x.dtype)), (4, 4), t, gradgrad=False)
    else:
        for red in ("mean", "sum", "none"):
            check(lambda L, x, t, red=red: L.nn.functional.multi_margin_loss(x, t, p=p, reduction=red), (4, 4), t,
                  gradgrad=False)
        check(lambda L, x, t: L.nn.MultiMarginLoss()(x, t), (5,), np.array(3), gradgrad=False)
    with pytest.raises(ValueError, match="only p == 1 and p == 2"):
        ember.nn.functional.multi_margin_loss(ember.randn(2, 3), ember.tensor([0, 1]), p=3)


def test_multilabel_margin_loss():
    t = _idx([[3, 0, -1, 1], [0, 1, 2, 3], [-1, 1, 0, 0]])
    for red in ("mean", "sum", "none"):
        check(lambda L, x, t, red=red: L.nn.functional.multilabel_margin_loss(x, t, reduction=red), (3, 4), t, gradgrad=False)
    check(lambda L, x, t: L.nn.MultiLabelMarginLoss()(x, t), (4,), _idx([2, 1, -1, 0]), gradgrad=False)
    with pytest.raises(RuntimeError, match="multilabel_margin_loss: expected input and target of the same shape"):
        ember.nn.functional.multilabel_margin_loss(ember.randn(2, 3), ember.tensor([0, 1]))


def test_multilabel_soft_margin_loss():
    y = np.array([[1, 0, 1], [0, 0, 1]], dtype=np.float64)
    for red in ("mean", "sum", "none"):
        check(lambda L, x, t, red=red: L.nn.functional.multilabel_soft_margin_loss(x, t, reduction=red), (2, 3), y)
    check(lambda L, x, t, w: L.nn.MultiLabelSoftMarginLoss(weight=w)(x, t), (2, 3), y,
          np.array([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match="multilabel_soft_margin_loss: target size"):
        ember.nn.functional.multilabel_soft_margin_loss(ember.randn(2, 3), ember.randn(2, 4))


def test_triplet_margin_with_distance_loss():
    check(lambda L, a, p, n: L.nn.functional.triplet_margin_with_distance_loss(a, p, n, margin=2.0), (4, 3), (4, 3),
          (4, 3))
    cos = lambda L: (lambda x, y: 1.0 - L.nn.functional.cosine_similarity(x, y))  # noqa: E731
    check(lambda L, a, p, n: L.nn.TripletMarginWithDistanceLoss(distance_function=cos(L), swap=True,
                                                                reduction="none")(a, p, n), (4, 3), (4, 3), (4, 3))
    with pytest.raises(ValueError, match="triplet_margin_with_distance_loss: margin must be greater than 0"):
        ember.nn.functional.triplet_margin_with_distance_loss(ember.randn(2), ember.randn(2), ember.randn(2), margin=0)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool(nd):
    shape = (2, 3) + (4,) * nd
    x = np.random.default_rng(nd).standard_normal(shape)
    pool = [None, torch.nn.functional.max_pool1d, torch.nn.functional.max_pool2d, torch.nn.functional.max_pool3d][nd]
    _, ind = pool(torch.from_numpy(x), 2, return_indices=True)
    ind = ind.numpy()
    fn = f"max_unpool{nd}d"
    check(lambda L, y, i: getattr(L.nn.functional, fn)(y, i, 2), shape[:2] + (2,) * nd, ind)
    check(lambda L, y, i: getattr(L.nn, f"MaxUnpool{nd}d")(2, stride=2)(y, i, output_size=shape[2:]),
          shape[:2] + (2,) * nd, ind, gradgrad=False)
    with pytest.raises(ValueError, match=f"{fn}: invalid output_size"):
        getattr(ember.nn.functional, fn)(ember.randn(*shape[:2], *(2,) * nd), ember.from_numpy(ind), 2,
                                         output_size=(9,) * nd)


def test_max_unpool_roundtrip_with_ember_pool():
    x = ember.randn(1, 2, 4, 4)
    y, i = ember.nn.functional.max_pool2d(x, 2, return_indices=True)
    u = ember.nn.MaxUnpool2d(2)(y, i)
    t = torch.nn.functional.max_unpool2d(torch.from_numpy(y.numpy()), torch.from_numpy(i.numpy()), 2)
    np.testing.assert_array_equal(u.numpy(), t.numpy())


def test_feature_alpha_dropout_statistics():
    ember.manual_seed(0)
    x = ember.randn(400, 50, 4)
    y = ember.nn.functional.feature_alpha_dropout(x, 0.3, training=True)
    assert abs(y.mean().item()) < 0.05 and abs(y.std().item() - 1.0) < 0.05
    yv, xv = y.numpy(), x.numpy()
    # a channel is either kept (affine in x) or dropped (constant)
    const = np.ptp(yv, axis=2) < 1e-6
    assert 0.25 < const.mean() < 0.35
    assert np.array_equal(ember.nn.functional.feature_alpha_dropout(x, 0.3).numpy(), xv)   # training=False
    m = ember.nn.FeatureAlphaDropout(0.2)
    m.eval()
    assert np.array_equal(m(x).numpy(), xv)
    with pytest.raises(ValueError, match="feature_alpha_dropout: dropout probability"):
        ember.nn.functional.feature_alpha_dropout(x, 1.5, True)


def test_dropout2d_on_2d_input_warns_and_runs():
    x = ember.ones(8, 5)
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        y = ember.nn.functional.dropout2d(x, 0.5)
    assert set(np.unique(y.numpy())) <= {0.0, 2.0}
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        ember.nn.functional.dropout2d(ember.ones(2, 3, 4))
    z = ember.nn.functional.dropout1d(ember.ones(6, 100), 0.5)        # unbatched (C, L)
    assert (np.ptp(z.numpy(), axis=1) == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = ember.nn.functional.dropout3d(ember.ones(3, 2, 2, 2), 0.5)  # unbatched (C, D, H, W): no warning
    assert w.shape == (3, 2, 2, 2)
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        ember.nn.functional.dropout1d(ember.ones(2, 2, 2, 2))

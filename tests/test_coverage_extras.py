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

"""Small torch names: nn.utils fusion, utils.data.StackDataset, autograd.anomaly_mode / is_tensor_like."""
import numpy as np
import pytest
import torch

import ember


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

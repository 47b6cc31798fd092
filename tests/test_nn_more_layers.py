"""torch.nn layers added for issue 9 (EmbeddingBag, LRN, RReLU, 3-d padding, deprecated aliases...):
values and gradients against torch, and the errors for bad input."""
import numpy as np
import pytest
import torch

import ember
from tests._helpers import check


def _idx(a):
    return np.asarray(a, dtype=np.int64)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_offsets(mode):
    inp = _idx([1, 2, 4, 5, 4, 3, 2, 9, 0])
    off = _idx([0, 4, 4, 6])          # includes an empty bag
    check(lambda L, w, i, o: L.nn.functional.embedding_bag(i, w, o, mode=mode), (10, 3), inp, off,
          gradgrad=mode != "max")
    check(lambda L, w, i, o: L.nn.functional.embedding_bag(i, w, o, mode=mode, padding_idx=4,
                                                           include_last_offset=True), (10, 3), inp,
          _idx([0, 4, 4, 6, 9]), gradgrad=False)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d(mode):
    inp = _idx([[1, 2, 4], [4, 3, 2], [0, 0, 0]])
    check(lambda L, w, i: L.nn.functional.embedding_bag(i, w, mode=mode, padding_idx=0), (6, 4), inp,
          gradgrad=False)


def test_embedding_bag_per_sample_weights():
    inp = _idx([1, 2, 4, 5, 4, 3])
    off = _idx([0, 2])
    check(lambda L, w, i, o, p: L.nn.functional.embedding_bag(i, w, o, mode="sum", per_sample_weights=p),
          (7, 3), inp, off, (6,))


def test_embedding_bag_module_and_errors():
    ember.manual_seed(0)
    bag = ember.nn.EmbeddingBag(10, 3, mode="max", padding_idx=2)
    assert np.all(bag.weight.detach().numpy()[2] == 0)
    tb = torch.nn.EmbeddingBag(10, 3, mode="max", padding_idx=2)
    with torch.no_grad():
        tb.weight.copy_(torch.from_numpy(bag.weight.detach().numpy()))
    i, o = [1, 2, 4, 5, 4, 3], [0, 3]
    np.testing.assert_allclose(bag(ember.tensor(i), ember.tensor(o)).detach().numpy(),
                               tb(torch.tensor(i), torch.tensor(o)).detach().numpy(), rtol=1e-6)
    pre = ember.nn.EmbeddingBag.from_pretrained(ember.ones(4, 2), mode="sum")
    assert not pre.weight.requires_grad
    np.testing.assert_array_equal(pre(ember.tensor([[0, 1, 3]])).numpy(), [[3.0, 3.0]])
    F = ember.nn.functional
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum'"):
        F.embedding_bag(ember.tensor([0, 1]), ember.ones(3, 2), ember.tensor([0]), per_sample_weights=ember.ones(2))
    with pytest.raises(ValueError, match="embedding_bag: if input is 2D, then offsets has to be None"):
        F.embedding_bag(ember.tensor([[0, 1]]), ember.ones(3, 2), ember.tensor([0]))
    with pytest.raises(ValueError, match="embedding_bag: offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(ember.tensor([0, 1]), ember.ones(3, 2))
    with pytest.raises(ValueError, match="embedding_bag: mode has to be one of"):
        F.embedding_bag(ember.tensor([[0, 1]]), ember.ones(3, 2), mode="median")
    with pytest.raises(IndexError, match="embedding: index 5 is out of range"):
        F.embedding_bag(ember.tensor([[0, 5]]), ember.ones(3, 2))


def test_lrn_rrelu_modules():
    check(lambda L, x: L.nn.LocalResponseNorm(3, alpha=0.5, k=2.0)(x), (2, 5, 3, 3), gradgrad=False)
    check(lambda L, x: L.nn.CrossMapLRN2d(3, alpha=0.5, beta=0.7, k=2.0)(x), (2, 5, 3, 3), grad=False)
    check(lambda L, x: L.nn.RReLU(0.1, 0.4).eval()(x), (3, 4), gradgrad=False)
    m = ember.nn.RReLU()
    assert "lower=0.125" in repr(m)
    with pytest.raises(ValueError, match="CrossMapLRN2d: expected 4D input"):
        ember.nn.CrossMapLRN2d(3)(ember.randn(2, 3, 4))


@pytest.mark.parametrize("name,args", [("ZeroPad3d", ((1, 0, 2, 1, 0, 1),)), ("ConstantPad3d", (1, 0.5)),
                                       ("ReflectionPad3d", (1,)), ("ReplicationPad3d", ((2, 1, 0, 1, 1, 0),)),
                                       ("CircularPad3d", (1,))])
def test_pad3d(name, args):
    check(lambda L, x: getattr(L.nn, name)(*args)(x), (1, 2, 3, 3, 3), gradgrad=False, gradcheck=False)
    with pytest.raises(ValueError, match=f"{name}: padding must be an int or 6 ints"):
        getattr(ember.nn, name)((1, 2), *args[1:])


@pytest.mark.filterwarnings("ignore:.*is deprecated")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_deprecated_aliases():
    check(lambda L, x: L.nn.UpsamplingNearest2d(scale_factor=2)(x), (1, 2, 3, 3), gradgrad=False, gradcheck=False)
    check(lambda L, x: L.nn.UpsamplingBilinear2d(size=(5, 4))(x), (1, 2, 3, 3), gradgrad=False, gradcheck=False)
    check(lambda L, x: L.nn.functional.upsample_bilinear(x, scale_factor=2), (1, 1, 2, 3), gradgrad=False,
          gradcheck=False)
    check(lambda L, x: L.nn.functional.upsample_nearest(x, size=5), (1, 1, 3), gradgrad=False, gradcheck=False)
    t = _idx([0, 2])
    check(lambda L, x, t: L.nn.NLLLoss2d()(x, t), (2, 3), t, gradgrad=False)
    with pytest.warns(FutureWarning, match="NLLLoss2d` has been deprecated"):
        ember.nn.NLLLoss2d()
    with pytest.warns(UserWarning, match="upsample_bilinear` is deprecated"):
        ember.nn.functional.upsample_bilinear(ember.ones(1, 1, 2, 2), scale_factor=2)
    assert issubclass(ember.nn.LSTM, ember.nn.RNNBase) and issubclass(ember.nn.GRUCell, ember.nn.RNNCellBase)
    with pytest.warns(UserWarning, match="nn.Container is deprecated"):
        c = ember.nn.Container(lin=ember.nn.Linear(2, 2))
    assert "lin.weight" in c.state_dict()


def test_data_parallel_runs_module_on_cpu():
    ember.manual_seed(0)
    lin = ember.nn.Linear(3, 2)
    dp = ember.nn.DataParallel(lin)
    x = ember.randn(4, 3)
    np.testing.assert_array_equal(dp(x).detach().numpy(), lin(x).detach().numpy())
    assert sorted(dp.state_dict()) == ["module.bias", "module.weight"]
    with pytest.raises(ValueError, match="DataParallel: device_ids"):
        ember.nn.DataParallel(lin, device_ids=[0, 1])


def test_adaptive_log_softmax_matches_torch():
    e = ember.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0, head_bias=True).double()
    t = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0, head_bias=True).double()
    assert sorted(e.state_dict()) == sorted(t.state_dict())
    for k, v in t.state_dict().items():
        assert tuple(e.state_dict()[k].shape) == tuple(v.shape), k
    e.load_state_dict({k: ember.from_numpy(v.numpy().copy()) for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((6, 8))
    tg = np.array([0, 4, 9, 2, 7, 5])
    oe, le = e(ember.from_numpy(x), ember.from_numpy(tg))
    ot, lt = t(torch.from_numpy(x), torch.from_numpy(tg))
    np.testing.assert_allclose(oe.detach().numpy(), ot.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(le.item(), lt.item(), rtol=1e-10)
    le.backward()
    lt.backward()
    for (n, p), (_, tp) in zip(e.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=n)
    np.testing.assert_allclose(e.log_prob(ember.from_numpy(x)).detach().numpy(),
                               t.log_prob(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)
    np.testing.assert_array_equal(e.predict(ember.from_numpy(x)).numpy(), t.predict(torch.from_numpy(x)).numpy())
    o1, _ = e(ember.from_numpy(x[0]), ember.tensor(4))
    assert o1.shape == ()
    with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 9\]"):
        e(ember.from_numpy(x), ember.tensor([0, 1, 2, 3, 4, 10]))
    with pytest.raises(ValueError, match="cutoffs should be a sequence of unique, positive integers"):
        ember.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [6, 3])


def test_linear_cross_entropy_and_instance_norm3d():
    t = _idx([0, 2, 1, 2])
    check(lambda L, x, w, t: L.nn.functional.linear_cross_entropy(x, w, t, label_smoothing=0.1), (4, 5), (3, 5), t,
          gradgrad=False)
    check(lambda L, x, w, b, t: L.nn.functional.linear_cross_entropy(x, w, t, linear_bias=b, reduction="none"),
          (4, 5), (3, 5), (3,), t, gradgrad=False)
    e = ember.nn.LinearCrossEntropyLoss(5, 3)
    assert [n for n, _ in e.named_parameters()] == ["linear.weight"]
    with pytest.raises(NotImplementedError, match="linear_cross_entropy: only a 2-D linear_weight"):
        ember.nn.functional.linear_cross_entropy(ember.randn(2, 5), ember.randn(3, 2, 5), ember.tensor([0, 1]))
    check(lambda L, x: L.nn.InstanceNorm3d(2, affine=False)(x), (2, 2, 3, 2, 2), gradgrad=False)
    m = ember.nn.LazyInstanceNorm3d()
    m(ember.randn(1, 3, 2, 2, 2))
    assert type(m) is ember.nn.InstanceNorm3d and m.num_features == 3


@pytest.mark.parametrize("track", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_instance_norm_one_spatial_element_raises_like_torch(track, train):
    # one value per instance normalizes to zeros: torch refuses whenever the input statistics are used
    for lib, x in ((torch, torch.zeros(2, 4, 1)), (ember, ember.zeros(2, 4, 1))):
        m = lib.nn.InstanceNorm1d(4, track_running_stats=track).train(train)
        if train or not track:
            with pytest.raises(ValueError, match="more than 1 spatial element"):
                m(x)
        else:
            m(x)
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        ember.nn.functional.instance_norm(ember.zeros(2, 3, 1, 1))

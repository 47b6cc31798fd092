"""Convolution, pooling, unfold/fold and interpolation against torch (values and gradients), gradcheck in
float64 (first and second order), layers with torch's weights, and error messages."""
import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from ember.nn.modules import (
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, Conv1d, Conv2d, ConvTranspose1d,
    ConvTranspose2d, MaxPool1d, MaxPool2d, Upsample,
)

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(shapes, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(s).astype(dtype) for s in shapes]
    return ([ember.tensor(a, requires_grad=True) for a in arrs], [torch.tensor(a, requires_grad=True) for a in arrs],
            rng)


def check(ef, tf, shapes, seed=0, dtype=np.float64, atol=1e-10, indices=False):
    """Same inputs to ember and torch: compare outputs, then gradients of all inputs for a random upstream grad."""
    et, tt, rng = _pair(shapes, seed, dtype)
    ey, ty = ef(*et), tf(*tt)
    if indices:
        np.testing.assert_array_equal(ey[1].numpy(), ty[1].numpy())
        ey, ty = ey[0], ty[0]
    assert tuple(ey.shape) == tuple(ty.shape)
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), atol=atol, rtol=1e-5)
    g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    for e, t in zip(et, tt):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), atol=atol, rtol=1e-5)


CONV2D = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1)),
    dict(padding="same", dilation=2),
    dict(padding="valid"),
    dict(stride=3, dilation=2, padding=2),
]


@pytest.mark.parametrize("kw", CONV2D)
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(kw, groups, bias):
    shapes = [(2, 4, 9, 8), (6, 4 // groups, 3, 2)] + ([(6,)] if bias else [])
    check(lambda *a: F.conv2d(*a, groups=groups, **kw), lambda *a: TF.conv2d(*a, groups=groups, **kw), shapes)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(dilation=2, padding="same"), dict(groups=3)])
def test_conv1d_matches_torch(kw):
    g = kw.get("groups", 1)
    check(lambda x, w, b: F.conv1d(x, w, b, **kw), lambda x, w, b: TF.conv1d(x, w, b, **kw),
          [(2, 3, 11), (6, 3 // g, 4), (6,)])


def test_conv_unbatched_and_float32():
    check(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1), [(3, 7, 7), (5, 3, 3, 3)])
    check(lambda x, w: F.conv1d(x, w), lambda x, w: TF.conv1d(x, w), [(3, 7), (5, 3, 3)])
    check(lambda x, w, b: F.conv2d(x, w, b, stride=2), lambda x, w, b: TF.conv2d(x, w, b, stride=2),
          [(4, 3, 16, 16), (8, 3, 5, 5), (8,)], dtype=np.float32, atol=2e-5)


@pytest.mark.parametrize("kw", [
    dict(), dict(stride=2, padding=1, output_padding=1), dict(stride=(2, 3), padding=(0, 2), output_padding=(1, 0)),
    dict(stride=2, dilation=2, output_padding=1), dict(groups=2, stride=2),
])
def test_conv_transpose2d_matches_torch(kw):
    g = kw.get("groups", 1)
    check(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
          [(2, 4, 5, 6), (4, 6 // g, 3, 3), (6,)])


def test_conv_transpose1d_matches_torch():
    kw = dict(stride=3, padding=1, output_padding=2, dilation=1, groups=2)
    check(lambda x, w, b: F.conv_transpose1d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw),
          [(2, 4, 5), (4, 3, 3), (6,)])


def test_conv_gradcheck_first_and_second_order():
    rng = np.random.default_rng(1)

    def t(*s):
        return ember.tensor(rng.standard_normal(s), requires_grad=True)

    x, w, b = t(1, 2, 5, 4), t(4, 1, 3, 2), t(4)
    f = lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)  # noqa: E731
    assert gradcheck(f, (x, w, b))
    assert gradgradcheck(f, (x, w, b))
    ft = lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)  # noqa: E731
    assert gradcheck(ft, (t(1, 2, 3, 3), t(2, 2, 3, 3)))
    assert gradgradcheck(ft, (t(1, 2, 3, 3), t(2, 2, 3, 3)))
    f1 = lambda x, w: F.conv1d(x, w, padding="same")  # noqa: E731
    assert gradgradcheck(f1, (t(2, 2, 6), t(3, 2, 3)))


POOL2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 1), dilation=2),
    dict(kernel_size=3, stride=1),
    dict(kernel_size=2, stride=3, ceil_mode=True),
]


@pytest.mark.parametrize("kw", POOL2D)
def test_max_pool2d_matches_torch_with_indices(kw):
    check(lambda x: F.max_pool2d(x, return_indices=True, **kw), lambda x: TF.max_pool2d(x, return_indices=True, **kw),
          [(2, 3, 9, 10)], indices=True)


def test_max_pool_ties_and_1d():
    x = np.zeros((1, 1, 4, 4))  # all ties: the first maximum of each window gets the gradient, like torch
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.max_pool2d(ex, 3, 1).sum().backward()
    TF.max_pool2d(tx, 3, 1).sum().backward()
    np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())
    check(lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True, return_indices=True),
          lambda x: TF.max_pool1d(x, 3, 2, 1, ceil_mode=True, return_indices=True), [(2, 3, 10)], indices=True)
    check(lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), [(3, 8, 8)])  # unbatched


@pytest.mark.parametrize("kw", [
    dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 3), divisor_override=4), dict(kernel_size=3, stride=2, ceil_mode=True),
])
def test_avg_pool2d_matches_torch(kw):
    check(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), [(2, 3, 9, 10)])


def test_avg_pool1d_and_adaptive_pools():
    check(lambda x: F.avg_pool1d(x, 4, 3, 2, ceil_mode=True, count_include_pad=False),
          lambda x: TF.avg_pool1d(x, 4, 3, 2, ceil_mode=True, count_include_pad=False), [(2, 3, 10)])
    for size in [(3, 4), 1, (4, 5), (None, 3), (9, 10)]:
        check(lambda x, s=size: F.adaptive_avg_pool2d(x, s), lambda x, s=size: TF.adaptive_avg_pool2d(x, s), [(2, 3, 8, 10)])
    for size in [(3, 4), (4, 5), 1]:
        check(lambda x, s=size: F.adaptive_max_pool2d(x, s, True), lambda x, s=size: TF.adaptive_max_pool2d(x, s, True),
              [(2, 3, 8, 10)], indices=True)
    for size in [3, 5, 1]:
        check(lambda x, s=size: F.adaptive_avg_pool1d(x, s), lambda x, s=size: TF.adaptive_avg_pool1d(x, s), [(2, 3, 10)])
        check(lambda x, s=size: F.adaptive_max_pool1d(x, s, True), lambda x, s=size: TF.adaptive_max_pool1d(x, s, True),
              [(2, 3, 10)], indices=True)


def test_pool_gradcheck_first_and_second_order():
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.standard_normal((1, 2, 5, 6)), requires_grad=True)  # distinct values: max is smooth
    for f in (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), lambda x: F.max_pool2d(x, 2),
              lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), lambda x: F.adaptive_avg_pool2d(x, (2, 4)),
              lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear")):
        assert gradcheck(f, (x,))
        assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("mode,ac", [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                                     ("bilinear", True)])
@pytest.mark.parametrize("kw", [dict(size=(5, 13)), dict(scale_factor=2.0), dict(scale_factor=(0.6, 1.7))])
def test_interpolate_matches_torch(mode, ac, kw):
    check(lambda x: F.interpolate(x, mode=mode, align_corners=ac, **kw),
          lambda x: TF.interpolate(x, mode=mode, align_corners=ac, **kw), [(2, 3, 6, 7)])


def test_interpolate_linear_1d_and_upsample_module():
    check(lambda x: F.interpolate(x, scale_factor=2.5, mode="linear"),
          lambda x: TF.interpolate(x, scale_factor=2.5, mode="linear"), [(2, 3, 6)])
    check(lambda x: F.interpolate(x, size=4, mode="linear", align_corners=True),
          lambda x: TF.interpolate(x, size=4, mode="linear", align_corners=True), [(2, 3, 6)])
    check(Upsample(scale_factor=2, mode="bilinear"), torch.nn.Upsample(scale_factor=2, mode="bilinear"),
          [(1, 2, 3, 4)])


def test_unfold_fold_match_torch_and_are_adjoint():
    kw = dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    check(lambda x: F.unfold(x, **kw), lambda x: TF.unfold(x, **kw), [(2, 3, 7, 8)])
    check(lambda x: F.fold(x, (7, 8), **kw), lambda x: TF.fold(x, (7, 8), **kw), [(2, 18, 24)])
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((1, 2, 4, 5)), requires_grad=True)
    assert gradgradcheck(lambda x: F.unfold(x, 2, padding=1), (x,))


# ---------------------------------------------------------------------------- layers


def _load(em, tm):
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


@pytest.mark.parametrize("ecls,tcls,args,kw,shape", [
    (Conv2d, torch.nn.Conv2d, (4, 6, 3), dict(stride=2, padding=1, groups=2), (2, 4, 9, 9)),
    (Conv2d, torch.nn.Conv2d, (3, 5, (3, 2)), dict(padding="same", bias=False), (2, 3, 6, 7)),
    (Conv2d, torch.nn.Conv2d, (3, 5, 3), dict(padding=1, padding_mode="circular"), (2, 3, 6, 7)),
    (Conv1d, torch.nn.Conv1d, (3, 5, 3), dict(dilation=2), (2, 3, 12)),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 6, 3), dict(stride=2, padding=1, output_padding=1), (2, 4, 5, 5)),
    (ConvTranspose1d, torch.nn.ConvTranspose1d, (4, 2, 3), dict(stride=2, groups=2), (2, 4, 5)),
    (MaxPool2d, torch.nn.MaxPool2d, (3,), dict(stride=2, padding=1), (2, 3, 9, 9)),
    (MaxPool1d, torch.nn.MaxPool1d, (2,), dict(), (2, 3, 9)),
    (AvgPool2d, torch.nn.AvgPool2d, (3,), dict(stride=2, ceil_mode=True), (2, 3, 9, 9)),
    (AvgPool1d, torch.nn.AvgPool1d, (3,), dict(padding=1), (2, 3, 9)),
    (AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool2d, ((2, 3),), dict(), (2, 3, 9, 7)),
    (AdaptiveAvgPool1d, torch.nn.AdaptiveAvgPool1d, (4,), dict(), (2, 3, 9)),
    (AdaptiveMaxPool2d, torch.nn.AdaptiveMaxPool2d, (4,), dict(), (2, 3, 9, 7)),
])
def test_layers_match_torch_with_copied_weights(ecls, tcls, args, kw, shape):
    torch.manual_seed(0)
    tm = tcls(*args, **kw).double()
    em = ecls(*args, **kw)
    assert sorted(em.state_dict()) == sorted(tm.state_dict())
    for k, v in em.state_dict().items():
        assert tuple(v.shape) == tuple(tm.state_dict()[k].shape)
    em.to(ember.float64)
    _load(em, tm)
    check(em, tm, [shape])
    for (_n, p), (_, q) in zip(em.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-10)


def test_default_init_matches_torch_distribution():
    ember.manual_seed(0)
    c = Conv2d(8, 16, 3)
    bound = 1 / np.sqrt(8 * 9)  # kaiming_uniform_(a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w = c.weight.detach().numpy()
    assert c.weight.dtype == ember.float32 and np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.9 * bound and abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound
    assert np.abs(c.bias.detach().numpy()).max() <= bound
    t = ConvTranspose2d(8, 4, 3, groups=2)  # torch: fan_in from weight.size(1) = out_channels / groups
    assert tuple(t.weight.shape) == (8, 2, 3, 3)
    assert np.abs(t.weight.detach().numpy()).max() <= 1 / np.sqrt(2 * 9)


def test_repr_like_torch():
    assert repr(Conv2d(3, 16, 3, stride=2, padding=1)) == repr(torch.nn.Conv2d(3, 16, 3, stride=2, padding=1))
    assert repr(Conv1d(3, 16, 3, bias=False, dilation=2)) == repr(torch.nn.Conv1d(3, 16, 3, bias=False, dilation=2))


# ---------------------------------------------------------------------------- errors


def test_conv_wrong_channels_names_layer_and_shapes():
    conv = Conv2d(3, 16, 3)
    msg = r"Conv2d\(3, 16, kernel_size=\(3, 3\)\): expected input with 3 channels \(shape \(N, 3, H, W\) or \(3, H, W\)\), got shape \(8, 1, 28, 28\)"
    with pytest.raises(RuntimeError, match=msg):
        conv(ember.zeros(8, 1, 28, 28))
    with pytest.raises(RuntimeError, match=r"Conv2d.*3-D \(unbatched\) or 4-D .*got shape \(28, 28\)"):
        conv(ember.zeros(28, 28))
    with pytest.raises(RuntimeError, match=r"Conv1d\(2, 4, kernel_size=\(3,\)\): expected input with 2 channels"):
        Conv1d(2, 4, 3)(ember.zeros(1, 5, 10))


def test_conv_kernel_larger_than_input_and_bad_args():
    with pytest.raises(RuntimeError, match=r"conv2d: the \(dilated\) kernel size \(5, 5\) is larger than the padded input size \(3, 3\)"):
        F.conv2d(ember.zeros(1, 1, 3, 3), ember.zeros(1, 1, 5, 5))
    with pytest.raises(RuntimeError, match=r"conv2d: weight of shape \(4, 2, 3, 3\) with groups=1 expects input with 2 channels"):
        F.conv2d(ember.zeros(1, 3, 5, 5), ember.zeros(4, 2, 3, 3))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        F.conv2d(ember.zeros(1, 1, 5, 5), ember.zeros(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="in_channels .3. must be divisible by groups .2."):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(RuntimeError, match="input type .* and weight type .* should be the same"):
        F.conv2d(ember.zeros(1, 1, 5, 5, dtype=ember.float64), ember.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match="output_padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(ember.zeros(1, 1, 3, 3), ember.zeros(1, 1, 3, 3), output_padding=1)


def test_pool_errors():
    with pytest.raises(ValueError, match="pad should be at most half of effective kernel size"):
        F.max_pool2d(ember.zeros(1, 1, 5, 5), 2, padding=2)
    with pytest.raises(RuntimeError, match=r"max_pool2d: the \(dilated\) kernel size 7 is larger than the padded input size 5"):
        F.max_pool2d(ember.zeros(1, 1, 5, 5), 7)
    with pytest.raises(RuntimeError, match=r"MaxPool2d: expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, got shape \(5, 5\)"):
        MaxPool2d(2)(ember.zeros(5, 5))
    with pytest.raises(ValueError, match="exactly one of size or scale_factor"):
        F.interpolate(ember.zeros(1, 1, 4, 4))
    with pytest.raises(NotImplementedError, match="mode 'cubic' is not supported"):
        F.interpolate(ember.zeros(1, 1, 4, 4), scale_factor=2, mode="cubic")


@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("pool", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
def test_channels_last_chain_conv_relu_pool_conv_matches_torch(dtype, atol, pool):
    """Conv outputs are channels-last views: ReLU and max-pooling keep that layout (forward and backward), and
    the next conv's input gradient (per-offset GEMM blocks added into a channels-last buffer) matches torch."""
    from ember.nn._functional_conv import _is_cl

    seen = {}

    def run(L, x, w1, b1, w2):
        y = L.nn.functional.max_pool2d(L.relu(L.nn.functional.conv2d(x, w1, b1, padding=1)), **pool)
        if L is ember:
            seen["pool_cl"] = _is_cl(y._data)
        return L.nn.functional.conv2d(y, w2, stride=(1, 2), dilation=(2, 1), groups=2)

    check(lambda *a: run(ember, *a), lambda *a: run(torch, *a), [(2, 3, 12, 10), (6, 3, 3, 3), (6,), (4, 3, 3, 2)],
          dtype=dtype, atol=atol)
    assert seen["pool_cl"]


@pytest.mark.parametrize("nc_run", [0, 10 ** 9], ids=["channels-last-columns", "channel-major-columns"])
@pytest.mark.parametrize("nd,kw", [
    (1, dict(stride=2, padding=1)),
    (2, dict(padding=(1, 2), dilation=(2, 1))),
    (2, dict(stride=(2, 1))),
    (3, dict(padding=1, stride=(1, 2, 1))),
])
def test_conv_both_column_layouts_match_torch(monkeypatch, nc_run, nd, kw):
    """Both im2col layouts (channels-last columns; channel-major columns for few-channel contiguous inputs),
    forced either way, against torch: output, input and weight gradients, float64 and float32."""
    import ember.nn._functional_conv as C

    monkeypatch.setattr(C, "_NC_RUN", nc_run)
    xs = {1: (2, 3, 11), 2: (2, 3, 9, 8), 3: (1, 2, 5, 6, 5)}[nd]
    ws = (4, xs[1]) + (3,) * nd
    name = f"conv{nd}d"
    for dtype, atol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        check(lambda x, w, b: getattr(F, name)(x, w, b, **kw), lambda x, w, b: getattr(TF, name)(x, w, b, **kw),
              [xs, ws, (4,)], dtype=dtype, atol=atol)


@pytest.mark.parametrize("op", ["max_pool1d", "avg_pool1d", "lp_pool1d"])
@pytest.mark.parametrize("k,s", [(4, 2), (4, 3), (3, 5)])
def test_pool_ceil_mode_window_larger_than_input_like_torch(op, k, s):
    # ceil_mode fits one partial window when the kernel is longer than the input (torch's div_rtn)
    x = np.abs(np.random.RandomState(0).randn(2, 3, 3)) + 0.1
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    extra = (2.0,) if op == "lp_pool1d" else ()
    to = getattr(torch.nn.functional, op)(tx, *extra, k, s, ceil_mode=True)
    eo = getattr(F, op)(ex, *extra, k, s, ceil_mode=True)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-12)
    to.sum().backward()
    eo.sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    if k > 3:  # without ceil_mode no window fits, as torch
        with pytest.raises(RuntimeError, match="larger than the padded input"):
            getattr(F, op)(ex, *extra, k, s, ceil_mode=False)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_window_of_minus_inf_picks_an_input_element_like_torch(nd):
    # a padded window whose values are all -inf: torch's index (and gradient) is its first element inside the
    # input, never the padding
    shape = (1, 2) + (5, 4, 3)[:nd]
    x = np.full(shape, -np.inf)
    x[(0, 0) + (1,) * nd] = 2.0
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    top = getattr(torch.nn.functional, f"max_pool{nd}d")
    eop = getattr(F, f"max_pool{nd}d")
    to, ti = top(tx, 3, 2, 1, return_indices=True)
    eo, ei = eop(ex, 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(eo.detach().numpy(), to.detach().numpy())
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    to.sum().backward()
    eo.sum().backward()
    np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())

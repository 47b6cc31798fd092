"""3-D convolutions, transposed 3-D convolutions, padding modes and the channels-last conv kernels
against torch: values and gradients in float32 and float64, gradcheck and gradgradcheck."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from _helpers import case, check

F = lambda L: L.nn.functional  # noqa: E731

CONV = [
    case(lambda L, x, w, b: F(L).conv3d(x, w, b), (2, 3, 4, 5, 4), (4, 3, 2, 3, 2), (4,), id="conv3d"),
    case(lambda L, x, w: F(L).conv3d(x, w, stride=(1, 2, 2), padding=1, dilation=(2, 1, 1)), (1, 2, 5, 6, 5),
         (3, 2, 2, 2, 3), id="conv3d-stride-pad-dilation"),
    case(lambda L, x, w: F(L).conv3d(x, w, groups=2, padding="same"), (1, 4, 3, 4, 3), (6, 2, 3, 1, 3),
         id="conv3d-groups-same"),
    case(lambda L, x, w: F(L).conv3d(x, w, padding="valid"), (3, 4, 3, 4), (2, 3, 2, 2, 2), id="conv3d-unbatched"),
    case(lambda L, x, w, b: F(L).conv_transpose3d(x, w, b, stride=2, padding=1, output_padding=1), (1, 3, 3, 2, 3),
         (3, 2, 3, 3, 2), (2,), id="conv_transpose3d"),
    case(lambda L, x, w: F(L).conv_transpose3d(x, w, groups=2, dilation=(1, 2, 1)), (2, 4, 2, 3, 2),
         (4, 1, 2, 2, 2), id="conv_transpose3d-groups-dilation"),
    case(lambda L, x, w: F(L).conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=3),
         (2, 6, 7, 8), (9, 2, 3, 3), id="conv2d-all"),
    case(lambda L, x, w: F(L).conv1d(x, w, stride=2, padding="valid", groups=2), (2, 4, 11), (6, 2, 3),
         id="conv1d-groups"),
    case(lambda L, x, w: F(L).conv_transpose1d(x, w, stride=3, output_padding=2), (2, 3, 5), (3, 2, 4),
         id="conv_transpose1d"),
    case(lambda L, x, w: F(L).conv2d(F(L).relu(x), w), (2, 3, 6, 6), (4, 3, 3, 3), id="conv2d-after-relu"),
]


@pytest.mark.parametrize("fn,inputs,kw", CONV)
def test_conv_vs_torch(fn, inputs, kw):
    check(fn, *inputs, **kw)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("nd,padding", [(1, 2), (2, (1, 2)), (3, 1), (2, "same")])
def test_conv_module_padding_modes(mode, nd, padding):
    name = f"Conv{nd}d"
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(2, 3, 3, padding=padding, padding_mode=mode).double()
    em = getattr(ember.nn, name)(2, 3, 3, padding=padding, padding_mode=mode).double()
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 2) + (5,) * nd)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ey, ty = em(ex), tm(tx)
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(em.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv3d_modules_match_torch_and_report_errors():
    torch.manual_seed(0)
    for E, T, kw in [(ember.nn.Conv3d, torch.nn.Conv3d, {}), (ember.nn.ConvTranspose3d, torch.nn.ConvTranspose3d,
                                                                {"stride": 2})]:
        tm = T(2, 4, (2, 3, 2), **kw)
        em = E(2, 4, (2, 3, 2), **kw)
        assert tuple(em.weight.shape) == tuple(tm.weight.shape)
        em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
        x = np.random.default_rng(0).standard_normal((2, 2, 4, 5, 4)).astype(np.float32)
        np.testing.assert_allclose(em(ember.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match=r"Conv3d.*\(N, 2, D, H, W\)"):
        ember.nn.Conv3d(2, 4, 3)(ember.randn(2, 4, 4))
    with pytest.raises(ValueError, match='only "zeros" padding_mode'):
        ember.nn.ConvTranspose3d(2, 4, 3, padding_mode="reflect")
    with pytest.raises(RuntimeError, match="conv3d: .*kernel size"):
        F(ember).conv3d(ember.randn(1, 1, 2, 2, 2), ember.randn(1, 1, 3, 3, 3))


def test_conv_output_is_channels_last_view_and_reshapes():
    x = ember.randn(2, 3, 6, 6)
    y = F(ember).conv2d(x, ember.randn(4, 3, 3, 3))
    t = torch.nn.functional.conv2d(torch.tensor(x.numpy()), torch.tensor(np.zeros((4, 3, 3, 3), np.float32)))
    assert tuple(y.shape) == tuple(t.shape)
    flat = y.view(2, -1)  # torch-style flatten of a conv output works whatever the memory layout
    np.testing.assert_array_equal(flat.numpy(), y.numpy().reshape(2, -1))


POOL3 = [
    case(lambda L, x: F(L).max_pool3d(x, 2), (2, 3, 4, 6, 4), id="max_pool3d"),
    case(lambda L, x: F(L).max_pool3d(x, (2, 3, 2), stride=(1, 2, 2), padding=1, dilation=(1, 1, 2),
                                      ceil_mode=True), (1, 2, 5, 7, 6), id="max_pool3d-all"),
    case(lambda L, x: F(L).avg_pool3d(x, 2), (2, 3, 4, 6, 4), id="avg_pool3d"),
    case(lambda L, x: F(L).avg_pool3d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
         (1, 2, 5, 6, 7), id="avg_pool3d-no-pad-count"),
    case(lambda L, x: F(L).avg_pool3d(x, (2, 2, 3), stride=2, padding=1, ceil_mode=True, divisor_override=5),
         (1, 2, 5, 4, 7), id="avg_pool3d-divisor"),
    case(lambda L, x: F(L).adaptive_avg_pool3d(x, (2, 3, None)), (2, 2, 5, 7, 3), id="adaptive_avg_pool3d"),
    case(lambda L, x: F(L).adaptive_max_pool3d(x, (3, 2, 4)), (1, 2, 5, 5, 7), id="adaptive_max_pool3d"),
    case(lambda L, x: F(L).max_pool3d(x, 2), (3, 4, 4, 4), id="max_pool3d-unbatched"),
]


@pytest.mark.parametrize("fn,inputs,kw", POOL3)
def test_pool3d_vs_torch(fn, inputs, kw):
    check(fn, *inputs, gradgrad=False, **kw)


@pytest.mark.parametrize("fn,args", [("max_pool3d", ((2, 3, 2), (1, 2, 1), 1)), ("adaptive_max_pool3d", ((3, 2, 4),))])
def test_pool3d_indices_and_ties_match_torch(fn, args):
    x = np.random.default_rng(0).integers(0, 3, (2, 2, 5, 6, 7)).astype(np.float64)  # many ties
    ey, ei = getattr(F(ember), fn)(ember.tensor(x, requires_grad=True), *args, return_indices=True)
    ty, ti = getattr(torch.nn.functional, fn)(torch.tensor(x, requires_grad=True), *args, return_indices=True)
    np.testing.assert_array_equal(ey.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())


def test_pool3d_modules():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 6, 4)).astype(np.float32)
    for name, args in [("MaxPool3d", (2,)), ("AvgPool3d", (3, 1, 1)), ("AdaptiveAvgPool3d", ((1, 2, 3),)),
                       ("AdaptiveMaxPool3d", (2,))]:
        e = getattr(ember.nn, name)(*args)(ember.tensor(x)).numpy()
        t = getattr(torch.nn, name)(*args)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-6, err_msg=name)
    with pytest.raises(RuntimeError, match=r"MaxPool3d: expected a 4-D \(C, D, H, W\) or 5-D"):
        ember.nn.MaxPool3d(2)(ember.randn(2, 3, 4))


def test_fold_unfold_modules_vs_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7))
    eu = ember.nn.Unfold((2, 3), dilation=(1, 2), padding=1, stride=2)
    tu = torch.nn.Unfold((2, 3), dilation=(1, 2), padding=1, stride=2)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ec, tc = eu(ex), tu(tx)
    np.testing.assert_allclose(ec.detach().numpy(), tc.detach().numpy())
    ef = ember.nn.Fold((6, 7), (2, 3), dilation=(1, 2), padding=1, stride=2)
    tf = torch.nn.Fold((6, 7), (2, 3), dilation=(1, 2), padding=1, stride=2)
    ey, ty = ef(ec), tf(tc)
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    assert "kernel_size=(2, 3)" in repr(eu)

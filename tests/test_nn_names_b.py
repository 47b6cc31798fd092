"""torch.nn.grad, nn.attention, nn.common_types, nn.factory_kwargs and nn.utils memory-format helpers,
tested against torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn as enn
import ember.nn.functional as EF
from tests._helpers import check


@pytest.mark.parametrize("nd,kw", [
    (1, dict()), (1, dict(stride=2, padding=1, dilation=2)),
    (2, dict()), (2, dict(stride=(2, 1), padding=(1, 0), groups=2)),
    (3, dict(stride=2, padding=1)),
])
def test_conv_input_and_weight_grads_match_torch(nd, kw):
    sp = (7, 6, 5)[:nd]
    ks = (3, 2, 2)[:nd]
    g = kw.get("groups", 1)
    xs, ws = (2, 4) + sp, (6, 4 // g) + ks
    name = f"conv{nd}d"
    with torch.no_grad():
        out_shape = getattr(torch.nn.functional, name)(torch.zeros(xs), torch.zeros(ws), None, **kw).shape

    def f_input(L, w, go):
        return getattr(L.nn.grad, f"{name}_input")(xs, w, go, **kw)

    def f_weight(L, x, go):
        return getattr(L.nn.grad, f"{name}_weight")(x, ws, go, **kw)

    check(f_input, ws, tuple(out_shape), gradgrad=False, noncontig=False)
    check(f_weight, xs, tuple(out_shape), gradgrad=False, noncontig=False)


def test_functional_grad_is_nn_grad_and_doc_example():
    assert EF.grad is enn.grad
    x = ember.randn(1, 1, 3, 3, requires_grad=True)
    w = ember.randn(1, 1, 1, 2, requires_grad=True)
    y = EF.conv2d(x, w)
    go = ember.randn(*y.shape)
    (gx,) = ember.autograd.grad(y, x, go)
    np.testing.assert_allclose(EF.grad.conv2d_input(x.shape, w, go).detach().numpy(), gx.numpy(), rtol=1e-6)
    assert not EF.grad.conv2d_input(x.shape, w.detach(), go).requires_grad
    assert EF.grad.conv2d_input(x.shape, w, go).requires_grad
    with ember.no_grad():
        assert not EF.grad.conv2d_input(x.shape, w, go).requires_grad


def test_conv_grad_errors():
    w = ember.randn(2, 3, 3, 3)
    with pytest.raises(RuntimeError, match=r"conv2d_input: grad_output has shape \[1, 2, 9, 9\]"):
        enn.grad.conv2d_input((1, 3, 8, 8), w, ember.randn(1, 2, 9, 9))
    with pytest.raises(RuntimeError, match="conv2d_input: input_size must have 4"):
        enn.grad.conv2d_input((8, 8), w, ember.randn(1, 2, 6, 6))
    with pytest.raises(TypeError, match="conv2d_weight: input must be a Tensor"):
        enn.grad.conv2d_weight([1.0], (2, 3, 3, 3), ember.randn(1, 2, 6, 6))
    with pytest.raises(RuntimeError, match="conv1d_weight: weight_size must have 3"):
        enn.grad.conv1d_weight(ember.randn(1, 3, 8), (2, 3), ember.randn(1, 2, 6))


def test_sdpa_kernel_accepts_torch_cpu_backends():
    from ember.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention import SDPBackend as TB, sdpa_kernel as tk

    assert {b.name: int(b) for b in SDPBackend} == {b.name: int(b) for b in TB.__members__.values()}
    q = np.random.default_rng(0).standard_normal((1, 2, 4, 8))
    for name in ("MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION", "OVERRIDEABLE", "ERROR"):
        try:
            with tk(getattr(TB, name)):
                ref = torch.nn.functional.scaled_dot_product_attention(*[torch.from_numpy(q)] * 3)
        except RuntimeError as e:
            assert "No viable backend" in str(e)
            with sdpa_kernel(getattr(SDPBackend, name)):
                with pytest.raises(RuntimeError, match="No viable backend"):
                    EF.scaled_dot_product_attention(*[ember.from_numpy(q)] * 3)
        else:
            with sdpa_kernel([getattr(SDPBackend, name), SDPBackend.EFFICIENT_ATTENTION], set_priority=True) as r:
                assert r == {}
                out = EF.scaled_dot_product_attention(*[ember.from_numpy(q)] * 3)
            np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-10)
    EF.scaled_dot_product_attention(*[ember.from_numpy(q)] * 3)  # restored on exit
    with pytest.raises(AssertionError, match="Backend must be an instance of SDPBackend"):
        with sdpa_kernel("math"):
            pass


def test_factory_kwargs_and_common_types():
    assert enn.factory_kwargs({"dtype": ember.float64, "factory_kwargs": {"device": "cpu"}}) == \
        {"dtype": ember.float64, "device": "cpu"}
    assert enn.factory_kwargs(None) == {}
    with pytest.raises(TypeError, match="unexpected kwargs"):
        enn.factory_kwargs({"bogus": 1})
    with pytest.raises(TypeError, match="specified twice"):
        enn.factory_kwargs({"dtype": 1, "factory_kwargs": {"dtype": 2}})
    from ember.nn.common_types import _size_2_t  # noqa: F401  (the aliases exist for annotations)
    assert enn.common_types.Tensor is ember.Tensor


def test_convert_conv_weight_memory_format_returns_module():
    m = enn.Sequential(enn.Conv2d(2, 3, 3), enn.ReLU())
    before = [p.detach().clone() for p in m.parameters()]
    assert enn.utils.convert_conv2d_weight_memory_format(m, ember.channels_last) is m
    assert enn.utils.memory_format.convert_conv3d_weight_memory_format(m, ember.channels_last_3d) is m
    for a, b in zip(before, m.parameters()):
        assert ember.equal(a, b)
    with pytest.raises(TypeError, match="memory_format must be a memory format"):
        enn.utils.convert_conv2d_weight_memory_format(m, "channels_last")

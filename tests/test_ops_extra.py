"""More of torch's ops (special functions, shape helpers, extra reductions; in ember/_ops/) against torch: values, dtypes, gradients, gradcheck, gradgradcheck."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from _helpers import case, check


def A(*vals):
    return np.array(vals, dtype=np.float64)


def I(*vals):  # noqa: E743
    return np.array(vals, dtype=np.int64)


CASES = [
    # special functions (differentiable)
    case(lambda L, x: L.lgamma(x), (3, 4), low=0.2, high=6, id="lgamma"),
    case(lambda L, x: L.lgamma(x), A(-2.5, -0.3, 0.7, 12.0), id="lgamma_neg"),
    case(lambda L, x: L.digamma(x), (3, 4), low=0.2, high=8, id="digamma"),
    case(lambda L, x: L.digamma(x), A(-2.5, -0.3, 0.7, 30.0), id="digamma_neg"),
    case(lambda L, x: L.polygamma(1, x), (3, 4), low=0.2, high=8, rtol=1e-6, id="polygamma1"),
    case(lambda L, x: x.polygamma(2), (5,), low=0.5, high=4, rtol=1e-6, gradgrad=False, id="polygamma2_method"),
    case(lambda L, x: L.mvlgamma(x, 3), (4,), low=1.5, high=5, id="mvlgamma"),
    case(lambda L, x: L.erfc(x), (3, 4), low=-3, high=3, id="erfc"),
    case(lambda L, x: L.erfinv(x), (3, 4), low=-0.95, high=0.95, id="erfinv"),
    case(lambda L, x: L.i0(x), (3, 4), low=-5, high=5, id="i0"),
    case(lambda L, x: L.special.i0e(x), (3, 4), low=-5, high=5, id="i0e"),
    case(lambda L, x: L.special.i1(x), (3, 4), low=-5, high=5, id="i1"),
    case(lambda L, x: L.special.i1e(x), (3, 4), low=-5, high=5, id="i1e"),
    case(lambda L, x: L.sinc(x), (3, 4), low=-3, high=3, id="sinc"),
    case(lambda L, x: L.special.ndtr(x), (3, 4), low=-4, high=4, id="ndtr"),
    case(lambda L, x: L.special.log_ndtr(x), A(-40.0, -8.0, -1.0, 0.0, 2.0, 9.0), id="log_ndtr"),
    case(lambda L, x: L.special.ndtri(x), (3, 4), low=0.02, high=0.98, rtol=1e-6, id="ndtri"),
    case(lambda L, x: L.special.erfcx(x), (3, 4), low=-2, high=30, id="erfcx"),
    case(lambda L, x: L.special.entr(x), A(0.0, 0.5, 1.5, 3.0), gradgrad=False, id="entr"),
    case(lambda L, x, y: L.special.xlog1py(x, y), (3, 4), (3, 4), low=0.1, high=3, id="xlog1py"),
    case(lambda L, x: L.acosh(x), (3, 4), low=1.2, high=4, id="acosh"),
    case(lambda L, x: L.arcsinh(x), (3, 4), id="asinh"),
    case(lambda L, x: x.atanh(), (3, 4), low=-0.9, high=0.9, id="atanh"),
    case(lambda L, x: L.exp2(x), (3, 4), id="exp2"),
    case(lambda L, x, y: L.logaddexp2(x, y), (3, 4), (4,), id="logaddexp2"),
    case(lambda L, x, y: L.copysign(x, y), (3, 4), (3, 4), gradgrad=False, id="copysign"),
    case(lambda L, x: L.ldexp(x, L.tensor([1, 2, 3, 0])), (3, 4), id="ldexp"),
    case(lambda L, x, y: L.float_power(x, y), (3, 4), (3, 4), low=0.5, high=2, id="float_power"),
    case(lambda L, x: L.positive(x) * 1, (3,), id="positive"),
    case(lambda L, x: L.fix(x), (3,), grad=False, id="fix"),
    case(lambda L, x: L.angle(x), A(-1.0, 0.0, 2.0), id="angle"),
    # reductions and statistics
    case(lambda L, x: L.nanmedian(x, 1), A(1.0, 5.0, 2.0, 7.0).reshape(2, 2), id="nanmedian_dim"),
    case(lambda L, x: L.mode(x, 1), A(1, 2, 2, 3, 3, 3, 1, 1, 2).reshape(3, 3), gradcheck=False, gradgrad=False,
         id="mode"),
    case(lambda L, x, y: L.dist(x, y, 3), (3, 4), (3, 4), id="dist"),
    case(lambda L, x: L.cov(x), (3, 6), id="cov"),
    case(lambda L, x: L.cov(x, correction=0, aweights=L.tensor([1.0, 2.0, 3.0, 1.0, 1.0, 2.0], dtype=x.dtype)),
         (3, 6), id="cov_aweights"),
    case(lambda L, x: L.corrcoef(x), (3, 6), id="corrcoef"),
    case(lambda L, x: L.trapezoid(x, dim=1), (3, 5), id="trapezoid"),
    case(lambda L, x, t: L.trapezoid(x, t), (3, 5), (5,), id="trapezoid_x"),
    case(lambda L, x: L.cumulative_trapezoid(x, dx=0.5), (3, 5), id="cumulative_trapezoid"),
    case(lambda L, x: L.renorm(x, 2, 0, 1.0), (3, 4), id="renorm"),
    # products
    case(lambda L, i, m, v: L.addmv(i, m, v, beta=0.5, alpha=2), (3,), (3, 4), (4,), id="addmv"),
    case(lambda L, i, a, b: L.addr(i, a, b), (3, 4), (3,), (4,), id="addr"),
    case(lambda L, i, a, b: L.baddbmm(i, a, b, alpha=0.5), (2, 3, 4), (2, 3, 5), (2, 5, 4), id="baddbmm"),
    case(lambda L, i, a, b: L.addbmm(i, a, b), (3, 4), (2, 3, 5), (2, 5, 4), id="addbmm"),
    case(lambda L, a, b: L.kron(a, b), (2, 3), (3, 2), id="kron"),
    case(lambda L, a, b: L.block_diag(a, b), (2, 3), (1, 2), id="block_diag"),
    case(lambda L, x: L.vander(x, 4), (3,), grad=False, id="vander"),  # torch.vander has no usable backward
    case(lambda L, x: L.vander(x, increasing=True), (3,), grad=False, id="vander_increasing"),
    case(lambda L, x: L.linalg.vander(x), (3,), id="linalg_vander"),
    case(lambda L, x: L.adjoint(x), (2, 3, 4), id="adjoint"),
    case(lambda L, a, b: L.vdot(a, b), (4,), (4,), id="vdot"),
    # shape helpers
    case(lambda L, x: L.hsplit(x, 2), (3, 4), id="hsplit"),
    case(lambda L, x: L.vsplit(x, [1]), (3, 4), id="vsplit"),
    case(lambda L, x: L.dsplit(x, 2), (2, 3, 4), id="dsplit"),
    case(lambda L, x, y: L.dstack([x, y]), (3, 4), (3, 4), id="dstack"),
    case(lambda L, x: L.atleast_3d(x), (4,), id="atleast_3d"),
    case(lambda L, x: L.narrow_copy(x, 1, 1, 2), (3, 4), id="narrow_copy"),
    case(lambda L, x: L.diag_embed(x), (2, 3), id="diag_embed"),
    case(lambda L, x: L.diag_embed(x, 1, 0, 2), (2, 3), id="diag_embed_offset_dims"),
    case(lambda L, x: L.diag_embed(x, -1), (2, 3), id="diag_embed_neg"),
    case(lambda L, x: L.diagflat(x, 1), (2, 2), id="diagflat"),
    case(lambda L, x, s: L.select_scatter(x, s, 1, 0), (3, 4), (3,), id="select_scatter"),
    case(lambda L, x, s: L.slice_scatter(x, s, 1, 0, 4, 2), (3, 4), (3, 2), id="slice_scatter"),
    case(lambda L, x, s: L.diagonal_scatter(x, s, 1), (3, 4), (3,), id="diagonal_scatter"),
    case(lambda L, x, s: L.diagonal_scatter(x, s, -1, 1, 0), (3, 4), (3,), id="diagonal_scatter_neg"),
    case(lambda L, x, s: L.masked_scatter(x, L.tensor([[True, False], [False, True]]), s), (2, 2), (5,),
         id="masked_scatter"),
    case(lambda L, x, s: L.put(x, L.tensor([0, 5]), s), (2, 3), (2,), id="put"),
    case(lambda L, x, s: L.put(x, L.tensor([0, 0]), s, accumulate=True), (2, 3), (2,), id="put_accumulate"),
    case(lambda L, x, s: x.scatter_reduce(0, L.tensor([0, 1, 0]), s, "sum"), (3,), (3,), id="scatter_reduce_sum"),
    case(lambda L, x, s: x.scatter_reduce(0, L.tensor([0, 1, 0]), s, "mean", include_self=False), (3,), (3,),
         id="scatter_reduce_mean"),
    case(lambda L, x, s: L.scatter_reduce(x, 0, L.tensor([0, 1, 0]), s, "amax"), (3,), (3,), grad=False,
         id="scatter_reduce_amax"),
    case(lambda L, x: L.combinations(x, 2), (4,), id="combinations"),
    case(lambda L, x: x.sum_to_size(1, 4), (3, 4), id="sum_to_size"),
    case(lambda L, x: x.unsafe_chunk(2, 1), (3, 4), id="unsafe_chunk"),
]


@pytest.mark.parametrize("fn,inputs,kw", CASES)
def test_op(fn, inputs, kw):
    check(fn, *inputs, **kw)


@pytest.mark.parametrize("name,args", [
    ("gcd", ([12, 18, -4], [8, 27, 6])), ("lcm", ([4, 6, 0], [6, 4, 3])),
    ("bitwise_left_shift", ([1, 2, 3], [1, 2, 3])), ("bitwise_right_shift", ([16, 9, -8], [1, 2, 1])),
])
def test_integer_ops(name, args):
    a, b = (np.array(v) for v in args)
    e = getattr(ember, name)(ember.tensor(a), ember.tensor(b))
    t = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    with pytest.raises(RuntimeError, match=f"{name}: expected integer tensors"):
        getattr(ember, name)(ember.tensor([1.5]), ember.tensor([1.0]))


def test_not_differentiable_values():
    x = np.array([-2.0, -0.0, 0.0, 1.5, np.inf, np.nan])
    y = np.array([1.0, -1.0, 2.0, -3.0, 1.0, 2.0])
    for name in ["nextafter", "heaviside"]:
        e = getattr(ember, name)(ember.tensor(x), ember.tensor(y))
        t = getattr(torch, name)(torch.tensor(x), torch.tensor(y))
        np.testing.assert_array_equal(e.numpy(), t.numpy())
    m, ex = ember.frexp(ember.tensor(x[:4]))
    tm, tex = torch.frexp(torch.tensor(x[:4]))
    np.testing.assert_array_equal(m.numpy(), tm.numpy())
    np.testing.assert_array_equal(ex.numpy(), tex.numpy())
    assert ex.dtype == ember.int32
    for name in ["isneginf", "isposinf", "isreal"]:
        np.testing.assert_array_equal(getattr(ember, name)(ember.tensor(x)).numpy(),
                                      getattr(torch, name)(torch.tensor(x)).numpy())
    a, xx = np.array([0.5, 1.0, 3.0, 7.0]), np.array([0.2, 1.0, 2.5, 10.0])
    for name in ["igamma", "igammac"]:
        np.testing.assert_allclose(getattr(ember, name)(ember.tensor(a), ember.tensor(xx)).numpy(),
                                   getattr(torch, name)(torch.tensor(a), torch.tensor(xx)).numpy(), rtol=1e-12)


def test_histograms_and_quantiles():
    rng = np.random.default_rng(0)
    v = rng.normal(size=50)
    v[[3, 7]] = np.nan
    np.testing.assert_allclose(ember.nanquantile(ember.tensor(v), 0.3).numpy(),
                               torch.nanquantile(torch.tensor(v), 0.3).numpy())
    np.testing.assert_allclose(ember.nanmedian(ember.tensor(v)).numpy(), torch.nanmedian(torch.tensor(v)).numpy())
    w = rng.normal(size=40)
    np.testing.assert_allclose(ember.histc(ember.tensor(w), 7).numpy(), torch.histc(torch.tensor(w), 7).numpy())
    np.testing.assert_allclose(ember.histc(ember.tensor(w), 5, -1, 1).numpy(),
                               torch.histc(torch.tensor(w), 5, -1, 1).numpy())
    h, edges = ember.histogram(ember.tensor(w), 6)
    th, tedges = torch.histogram(torch.tensor(w), 6)
    np.testing.assert_allclose(h.numpy(), th.numpy())
    np.testing.assert_allclose(edges.numpy(), tedges.numpy())


def test_creation_and_predicates():
    for name in ["bartlett_window", "blackman_window", "hann_window", "hamming_window", "kaiser_window"]:
        for periodic in (True, False):
            np.testing.assert_allclose(getattr(ember, name)(7, periodic).numpy(),
                                       getattr(torch, name)(7, periodic).numpy(), atol=1e-6)
    with pytest.warns(UserWarning, match="deprecated"):
        expected = torch.range(1, 4, 0.5)
    np.testing.assert_array_equal(ember.range(1, 4, 0.5).numpy(), expected.numpy())
    assert ember.empty_strided((2, 3), (3, 1)).shape == (2, 3)
    assert ember.scalar_tensor(3).dtype == ember.float32 and ember.scalar_tensor(3).item() == 3.0
    r = ember.unravel_index(ember.tensor([4, 7, -1]), (2, 4))
    tr = torch.unravel_index(torch.tensor([4, 7, -1]), (2, 4))
    for a, b in zip(r, tr):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert str(ember.result_type(ember.tensor([1]), 1.0)) == "ember.float32"
    assert ember.can_cast(ember.float32, ember.int32) is torch.can_cast(torch.float32, torch.int32)
    assert ember.can_cast(ember.int32, ember.float32) is torch.can_cast(torch.int32, torch.float32)
    x = ember.tensor([1.0, 2.0])
    assert not ember.is_complex(x) and ember.is_signed(x) and ember.is_same_size(x, ember.zeros(2))
    assert ember.is_nonzero(ember.tensor([1]))
    with pytest.raises(RuntimeError, match="more than one value"):
        ember.is_nonzero(x)
    assert ember.typename(ember.zeros(2)) == torch.typename(torch.zeros(2))
    np.testing.assert_array_equal(ember.fill(x, 5).numpy(), [5.0, 5.0])
    np.testing.assert_array_equal(ember.nonzero_static(ember.tensor([0, 3, 0, 4]), size=3).numpy(),
                                  torch.nonzero_static(torch.tensor([0, 3, 0, 4]), size=3).numpy())
    a = ember.asarray(np.arange(3.0))
    assert a.dtype == ember.float64
    np.testing.assert_array_equal(ember.from_dlpack(torch.arange(3)).numpy(), [0, 1, 2])


def test_inplace_methods_and_functions():
    x = ember.tensor([0.5, 1.5])
    t = torch.tensor([0.5, 1.5])
    for name in ["lgamma_", "digamma_", "erfinv_", "exp2_", "asinh_", "sinc_"]:
        v, tv = x.clone(), t.clone()
        if name == "erfinv_":
            v, tv = v / 2, tv / 2
        out = getattr(v, name)()
        assert out is v
        getattr(tv, name)()
        np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-5)
    v = x.clone()
    ember.abs_(v.neg_())
    np.testing.assert_array_equal(v.numpy(), [0.5, 1.5])
    v = x.clone()
    v.polygamma_(1)
    np.testing.assert_allclose(v.numpy(), torch.polygamma(1, t).numpy(), rtol=1e-6)
    b = ember.tensor([1.0, 3.0])
    b.lt_(2)
    np.testing.assert_array_equal(b.numpy(), [1.0, 0.0])
    w = ember.ones(2, 3)
    w.t_()
    assert w.shape == (3, 2)
    w.unsqueeze_(0).squeeze_(0)
    assert w.shape == (3, 2)
    leaf = ember.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="t_: shape-changing in-place ops"):
        leaf.t_()
    with pytest.raises(RuntimeError, match="leaf Variable"):
        ember.ones(2, requires_grad=True).lgamma_()
    y = ember.ones(2, requires_grad=True) * 2
    y.lgamma_()
    y.sum().backward()


def test_bad_input_errors():
    with pytest.raises(TypeError, match=r"lgamma\(\): argument 'input' must be a Tensor, not list"):
        ember.lgamma([1.0])
    with pytest.raises(RuntimeError, match="polygamma.*non-negative integer"):
        ember.polygamma(-1, ember.ones(2))
    with pytest.raises(RuntimeError, match="hsplit attempted to split along dimension 1"):
        ember.hsplit(ember.ones(2, 3), 2)
    with pytest.raises(RuntimeError, match="vsplit requires a tensor with at least 2"):
        ember.vsplit(ember.ones(3), 1)
    with pytest.raises(RuntimeError, match="mvlgamma: All elements must be greater than"):
        ember.mvlgamma(ember.tensor([0.5]), 3)
    with pytest.raises(RuntimeError, match="nanquantile.*range"):
        ember.nanquantile(ember.ones(3), 1.5)
    with pytest.raises(RuntimeError, match="diag_embed.*identical"):
        ember.diag_embed(ember.ones(2), 0, 0, -2)


def test_integer_inputs_promote_like_torch():
    for name in ["lgamma", "digamma", "erfc", "sinc", "exp2", "asinh"]:
        e = getattr(ember, name)(ember.tensor([1, 2, 3]))
        t = getattr(torch, name)(torch.tensor([1, 2, 3]))
        assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6, atol=1e-6)


def test_torch_level_functional_forms():
    check(lambda L, x, w: L.conv1d(x, w, padding=1), (2, 3, 5), (4, 3, 3), gradgrad=False)
    check(lambda L, x: L.max_pool2d(x, 2), (1, 2, 4, 4), gradcheck=False, gradgrad=False)
    check(lambda L, x: L.threshold(x, 0.1, 20.0), (3, 4), gradgrad=False)
    check(lambda L, x: x.hardshrink(0.3), (3, 4), gradgrad=False)
    x = ember.ones(4, 5)
    assert ember.dropout(x, 0.5, False) is x or np.array_equal(ember.dropout(x, 0.5, False).numpy(), x.numpy())
    assert (ember.dropout(x, 1.0, True).numpy() == 0).all()


def test_global_switches():
    assert not ember.are_deterministic_algorithms_enabled()
    ember.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert ember.are_deterministic_algorithms_enabled() and ember.get_deterministic_debug_mode() == 1
    finally:
        ember.use_deterministic_algorithms(False)
    assert ember.get_deterministic_debug_mode() == 0
    with pytest.raises(RuntimeError, match="invalid value of debug_mode"):
        ember.set_deterministic_debug_mode("loud")
    ember.set_float32_matmul_precision("high")
    assert ember.get_float32_matmul_precision() == "high"
    ember.set_float32_matmul_precision("highest")
    with pytest.raises(RuntimeError, match="Invalid precision"):
        ember.set_float32_matmul_precision("fast")
    ember.set_anomaly_enabled(True)
    try:
        assert ember.is_anomaly_enabled() and ember.is_anomaly_check_nan_enabled()
    finally:
        ember.set_anomaly_enabled(False)
    assert not ember.is_anomaly_enabled()
    assert ember.has_lapack is True and ember.has_spectral is True

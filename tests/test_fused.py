"""The fused kernels of ember.nn._fused (activations, layer/RMS norm, softmax, attention) against torch:
values and gradients in float32 and float64, gradcheck and gradgradcheck (through the composed backward
that create_graph uses), plus the float32 accuracy targets (<= 1e-6 against torch) on wide inputs."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as EF
from ember.autograd.functional_ns import erf_array

from _helpers import case, check

F = lambda L: L.nn.functional  # noqa: E731

ACTS = [
    case(lambda L, x: F(L).gelu(x), (4, 5), id="gelu"),
    case(lambda L, x: F(L).gelu(x, approximate="tanh"), (4, 5), id="gelu-tanh"),
    case(lambda L, x: F(L).silu(x), (4, 5), id="silu"),
    case(lambda L, x: F(L).mish(x), (4, 5), id="mish"),
    case(lambda L, x: F(L).softplus(x), (4, 5), id="softplus"),
    case(lambda L, x: F(L).softplus(x, 2.0, 1.5), (4, 5), id="softplus-beta-threshold"),
    case(lambda L, x: L.nn.GELU()(x), (3, 7), id="nn.GELU"),
    case(lambda L, x: L.nn.SiLU()(x), (3, 7), id="nn.SiLU"),
    case(lambda L, x: L.erf(x), (3, 7), id="erf"),
]


@pytest.mark.parametrize("fn,inputs,kw", ACTS)
def test_activation_vs_torch(fn, inputs, kw):
    check(fn, *inputs, low=-4, high=4, **kw)


@pytest.mark.parametrize("name,kw", [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("mish", {}),
                                     ("softplus", {}), ("softplus", {"beta": 0.5, "threshold": 3.0})])
def test_activation_float32_accuracy(name, kw):
    # wide range incl. the large-|x| tails, exact zeros and the blocked path (more than one block)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(40000) * 4).astype(np.float32)
    x[:8] = [0.0, -0.0, 30.0, -30.0, 100.0, -100.0, 1e-20, -1e-20]
    g = rng.standard_normal(x.shape).astype(np.float32)
    ex = ember.tensor(x, requires_grad=True)
    ey = getattr(EF, name)(ex, **kw)
    ey.backward(ember.tensor(g))
    assert ey.dtype == ember.float32 and ex.grad.dtype == ember.float32
    ref = {}
    for dt in (torch.float32, torch.float64):
        tx = torch.tensor(x, dtype=dt, requires_grad=True)
        ty = getattr(torch.nn.functional, name)(tx, **kw)
        ty.backward(torch.tensor(g, dtype=dt))
        ref[dt] = (ty.detach().double().numpy(), tx.grad.double().numpy())
    exact, gexact = ref[torch.float64]
    scale, gscale = np.maximum(np.abs(exact), 1.0), np.maximum(np.abs(gexact), 1.0)
    # values: within 1e-6 of the exact result (relative where |y| > 1); torch's float32 is as far itself
    assert np.max(np.abs(ey.detach().numpy() - exact) / scale) <= 1e-6
    # gradients: no worse than twice torch's own float32 error (and 1e-6 at most when torch's is tiny)
    torch_err = np.max(np.abs(ref[torch.float32][1] - gexact) / gscale)
    assert np.max(np.abs(ex.grad.numpy() - gexact) / gscale) <= max(1e-6, 2 * torch_err)
    assert np.isfinite(ey.detach().numpy()).all() and np.isfinite(ex.grad.numpy()).all()


def test_erf_float32_accuracy_and_dtypes():
    x = np.linspace(-7, 7, 70001).astype(np.float32)
    ref = torch.erf(torch.tensor(x.astype(np.float64))).numpy()
    assert np.abs(erf_array(x) - ref).max() <= 2e-7
    tiny = np.array([1e-30, -1e-12, 3e-8], np.float32)  # relative accuracy near 0 (tanh(x P(x^2)) form)
    np.testing.assert_allclose(erf_array(tiny), torch.erf(torch.tensor(tiny.astype(np.float64))).numpy(), rtol=1e-6)
    ext = np.array([np.inf, -np.inf, 3e38, -1e20, 4.5, -4.2, 50.0, np.nan], np.float32)  # overflow inside: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = erf_array(ext)
    np.testing.assert_array_equal(got, [1, -1, 1, -1, 1, -1, 1, np.nan])
    assert erf_array(x.astype(np.float16)).dtype == np.float16
    assert erf_array(x[:0]).shape == (0,)


def test_activation_grad_fn_names_and_noncontiguous():
    x = ember.randn(6, 8, requires_grad=True)
    assert EF.gelu(x).grad_fn.name() == "GeluBackward0"
    assert EF.silu(x).grad_fn.name() == "SiluBackward0"
    assert EF.mish(x).grad_fn.name() == "MishBackward0"
    assert EF.softplus(x).grad_fn.name() == "SoftplusBackward0"
    xt = x.detach().numpy()
    y = EF.gelu(ember.tensor(xt)[:, ::2].T)  # strided input
    np.testing.assert_allclose(y.numpy(), torch.nn.functional.gelu(torch.tensor(xt)[:, ::2].T).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        EF.gelu(x, approximate="fast")


NORMS = [
    case(lambda L, x, w, b: F(L).layer_norm(x, (5,), w, b), (3, 4, 5), (5,), (5,), id="layer_norm"),
    case(lambda L, x, w, b: F(L).layer_norm(x, (4, 5), w, b, 1e-3), (3, 4, 5), (4, 5), (4, 5), id="layer_norm-2d"),
    case(lambda L, x: F(L).layer_norm(x, (5,)), (3, 5), id="layer_norm-no-affine"),
    case(lambda L, x, w: F(L).layer_norm(x, (5,), w), (3, 5), (5,), id="layer_norm-weight-only"),
    case(lambda L, x, w: F(L).rms_norm(x, (5,), w), (3, 4, 5), (5,), id="rms_norm"),
    case(lambda L, x: F(L).rms_norm(x, (4, 5), eps=1e-4), (2, 4, 5), id="rms_norm-no-weight"),
    case(lambda L, x: F(L).softmax(x, 1), (3, 4, 5), id="softmax-mid"),
    case(lambda L, x: F(L).softmax(x, -1), (3, 5), id="softmax-last"),
    case(lambda L, x: F(L).log_softmax(x, 0), (3, 4), id="log_softmax-first"),
    case(lambda L, x: F(L).log_softmax(x, -1), (2, 3, 6), id="log_softmax-last"),
]


@pytest.mark.parametrize("fn,inputs,kw", NORMS)
def test_norm_softmax_vs_torch(fn, inputs, kw):
    check(fn, *inputs, **kw)


def test_layer_norm_module_uses_one_node_and_checks_shapes():
    ln = ember.nn.LayerNorm(8)
    y = ln(ember.randn(2, 3, 8, requires_grad=True))
    assert y.grad_fn.name() == "NativeLayerNormBackward0"
    assert ember.nn.RMSNorm(8)(ember.randn(2, 8)).grad_fn.name() == "RmsNormBackward0"
    with pytest.raises(RuntimeError, match=r"layer_norm: weight must have the normalized shape \[8\], got \[7\]"):
        EF.layer_norm(ember.randn(2, 8), (8,), ember.ones(7))
    assert EF.layer_norm(ember.randn(0, 8), (8,)).shape == (0, 8)


def test_softmax_all_masked_row_is_nan_like_torch():
    x = np.array([[1.0, 2.0], [-np.inf, -np.inf]], np.float32)
    e = EF.softmax(ember.tensor(x), -1).numpy()
    t = torch.softmax(torch.tensor(x), -1).numpy()
    np.testing.assert_allclose(e, t, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(EF.log_softmax(ember.tensor(x), -1).numpy(),
                               torch.log_softmax(torch.tensor(x), -1).numpy(), rtol=1e-6, equal_nan=True)


def _causal_bool(L, S):
    return np.tril(np.ones((L, S), bool))


SDPA = [
    case(lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v), (2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7),
         id="plain"),
    case(lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v, is_causal=True), (2, 5, 4), (2, 5, 4),
         (2, 5, 3), id="causal"),
    case(lambda L, q, k, v, m: F(L).scaled_dot_product_attention(q, k, v, attn_mask=m), (2, 4, 3), (2, 5, 3),
         (2, 5, 3), (4, 5), id="float-mask"),
    case(lambda L, q, k, v, m: F(L).scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3), (2, 4, 3),
         (2, 4, 3), (2, 4, 2), _causal_bool(4, 4), id="bool-mask-scale"),
    case(lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v), (2, 3, 4, 5), (1, 3, 6, 5), (3, 6, 5),
         id="broadcast-batch"),
]


@pytest.mark.parametrize("fn,inputs,kw", SDPA)
def test_sdpa_vs_torch(fn, inputs, kw):
    check(fn, *inputs, **kw)


def test_sdpa_is_one_node_and_mha_uses_it():
    q = ember.randn(2, 4, 3, requires_grad=True)
    out = EF.scaled_dot_product_attention(q, q, q, is_causal=True)
    assert out.grad_fn.name() == "ScaledDotProductAttentionBackward0"
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    em = ember.nn.MultiheadAttention(8, 2, batch_first=True)
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 5, 8)).astype(np.float32)
    mask = np.triu(np.ones((5, 5), bool), 1)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    eo, _ = em(ex, ex, ex, attn_mask=ember.tensor(mask), need_weights=False)
    to, _ = tm(tx, tx, tx, attn_mask=torch.tensor(mask), need_weights=False)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-5, atol=1e-6)
    eo.sum().backward()
    to.sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(em.in_proj_weight.grad.numpy(), tm.in_proj_weight.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("which", ["all", "x-only", "params-only", "bias-only", "no-weight-bias", "no-affine"])
def test_layer_norm_backward_grad_subsets_and_offsets_vs_torch(dtype, which):
    # the array backward (torch's a*dy*w + b*x + c formulation, GEMV row/column sums) for every subset of
    # inputs needing a gradient, with a large common offset (cancellation) and a non-contiguous gradient;
    # float32 results are compared with torch's float64 ones and must be no further off than torch's float32
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 16)) * 0.5 + 300.0
    w, b = rng.standard_normal(16) + 1.0, rng.standard_normal(16)
    g = rng.standard_normal((6, 16, 5)).transpose(0, 2, 1)  # upstream gradient as a strided view
    req = {"all": (1, 1, 1), "x-only": (1, 0, 0), "params-only": (0, 1, 1), "bias-only": (0, 0, 1),
           "no-weight-bias": (1, None, 1), "no-affine": (1, None, None)}[which]

    def run(L, dt):
        def mk(a, r):
            if r is None:
                return None
            t = L.tensor(a.astype(dt))
            return t.requires_grad_(True) if r else t
        tx, tw, tb = mk(x, req[0]), mk(w, req[1]), mk(b, req[2])
        y = L.nn.functional.layer_norm(tx, (16,), tw, tb, 1e-5)
        assert y.dtype == getattr(L, dt)
        y.backward(L.tensor(g.astype(dt)))
        return [y.detach().numpy()] + [t.grad.numpy() if t is not None and t.grad is not None else None
                                       for t in (tx, tw, tb)]

    mine, exact, theirs = run(ember, dtype), run(torch, "float64"), run(torch, dtype)
    for e, r, t in zip(mine, exact, theirs):
        assert (e is None) == (r is None)
        if e is None:
            continue
        assert e.dtype == np.dtype(dtype)
        scale = np.maximum(np.abs(r), 1.0)
        err, torch_err = np.max(np.abs(e - r) / scale), np.max(np.abs(t - r) / scale)
        assert err <= (max(1e-5, 2 * torch_err) if dtype == "float32" else 1e-9), (err, torch_err)


def test_layer_norm_bias_only_gradient_half_and_double_backward():
    # only the bias needs a gradient: nothing else is saved (this crashed before); float16 sums in float32
    g = np.random.default_rng(4).standard_normal((3, 4, 8))
    for dt in ("float16", "float32"):
        b = ember.zeros(8, dtype=getattr(ember, dt), requires_grad=True)
        EF.layer_norm(ember.randn(3, 4, 8, dtype=getattr(ember, dt)), (8,), None, b).backward(
            ember.tensor(g.astype(dt)))
        assert b.grad.dtype == getattr(ember, dt)
        np.testing.assert_allclose(b.grad.numpy().astype(np.float64), g.astype(dt).astype(np.float64).sum((0, 1)),
                                   rtol=2e-3 if dt == "float16" else 1e-5)
    b = ember.zeros(8, dtype=ember.float64, requires_grad=True)
    y = EF.layer_norm(ember.randn(3, 8, dtype=ember.float64), (8,), None, b)
    (gb,) = ember.autograd.grad((y * y).sum(), b, create_graph=True)
    assert gb.requires_grad and gb.shape == (8,)


def _gelu_nodes(y):
    """The GELU nodes of a graph (walked from ``y``)."""
    seen, todo, found = set(), [y.grad_fn], []
    while todo:
        fn = todo.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        if fn.name() == "GeluBackward0":
            found.append(fn)
        todo.extend(f for f, _ in fn.next_functions)
    return found


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cfg", [dict(norm_first=True, batch_first=True), dict(norm_first=False, bias=False),
                                 dict(norm_first=True, decoder=True)])
def test_transformer_gelu_reads_phi_from_kept_output_vs_torch(dtype, cfg):
    # with dropout 0 the feed-forward GELU keeps its output (linear2 keeps it anyway) and its backward reads
    # Phi(x) = y / x from it; values and every gradient against torch, float32 and float64
    cfg = dict(cfg)
    decoder = cfg.pop("decoder", False)
    kw = dict(dim_feedforward=32, dropout=0.0, activation="gelu", **cfg)
    torch.manual_seed(0)
    tl = (torch.nn.TransformerDecoderLayer if decoder else torch.nn.TransformerEncoderLayer)(16, 4, **kw)
    el = (ember.nn.TransformerDecoderLayer if decoder else ember.nn.TransformerEncoderLayer)(16, 4, **kw)
    tl = tl.to(getattr(torch, dtype))
    el.to(getattr(ember, dtype))
    el.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tl.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 6, 16)).astype(dtype)
    x[0, 0] = 0.0  # zero rows reach the GELU as exact zeros when bias=False (the y / x guard)
    g = np.random.default_rng(1).standard_normal((3, 6, 16)).astype(dtype)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    eo = el(ex, ex) if decoder else el(ex)
    to = tl(tx, tx) if decoder else tl(tx)
    nodes = _gelu_nodes(eo)
    assert nodes and all(n.kept is not None for n in nodes)
    eo.backward(ember.tensor(g))
    to.backward(torch.tensor(g))
    assert all(n.kept is None for n in nodes)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), **tol)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **tol)
    tp = dict(tl.named_parameters())
    for n, p in el.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[n].grad.numpy(), err_msg=n, **tol)


def test_gelu_kept_output_changed_in_place_or_retained_graph_falls_back():
    from ember.nn import _fused

    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 50)).astype(np.float32)
    x[0, :3] = [0.0, -0.0, 1e-30]
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.gelu(tx).backward(torch.ones(4, 50))
    ref = tx.grad.numpy()
    # zeros and tiny x in a block: that block recomputes Phi instead of reading y / x
    ex = ember.tensor(x, requires_grad=True)
    y = _fused.gelu(ex, "none", keep_out=True)
    (y * 1.0).sum().backward(retain_graph=True)
    np.testing.assert_allclose(ex.grad.numpy(), ref, rtol=1e-6, atol=1e-6)
    ex.grad = None
    (y * 1.0).sum().backward()  # retained graph: the second backward recomputes (the kept output was used once)
    np.testing.assert_allclose(ex.grad.numpy(), ref, rtol=1e-6, atol=1e-6)
    ex.grad = None
    y = _fused.gelu(ex, "none", keep_out=True)  # output modified in place after the forward: recomputed
    z = y * 2.0
    with ember.no_grad():
        y.mul_(3.0)
    z.sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), 2 * ref, rtol=1e-6, atol=1e-6)
    # the output's buffer is reused for the gradient only when nothing else holds it: a NumPy view kept by
    # the caller stays intact
    ex.grad = None
    y = _fused.gelu(ex, "none", keep_out=True)
    arr = y.detach().numpy()
    before = arr.copy()
    z = y * 1.0
    del y
    z.sum().backward()
    np.testing.assert_array_equal(arr, before)
    np.testing.assert_allclose(ex.grad.numpy(), ref, rtol=1e-6, atol=1e-6)
    # dropout active, or the activation a user callable: nothing is kept
    layer = ember.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, activation="gelu")
    assert all(n.kept is None for n in _gelu_nodes(layer(ember.randn(3, 2, 8))))
    layer = ember.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=lambda t: EF.gelu(t))
    assert all(n.kept is None for n in _gelu_nodes(layer(ember.randn(3, 2, 8))))

"""scaled_dot_product_attention, MultiheadAttention and the Transformer layers against torch with identical
weights (values and gradients of inputs and parameters), gradcheck, masks, and errors."""
import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from ember.nn.modules import (
    LayerNorm, MultiheadAttention, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer,
)
from ember.nn.modules.transformer import Transformer, generate_square_subsequent_mask

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _load(em, tm):
    sd = tm.state_dict()
    assert sorted(em.state_dict()) == sorted(sd)
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in sd.items()})


def _flat(o):
    if isinstance(o, (tuple, list)):
        return [z for y in o for z in _flat(y)]
    return [] if o is None else [o]


def both(a):
    """The same array as an (ember, torch) pair of constants."""
    return ember.tensor(a), torch.tensor(a)


def run_pair(em, tm, shapes, kwargs=None, seed=0, atol=1e-10):
    """Copy torch's weights into ember, run both on the same inputs, compare outputs and all gradients."""
    kwargs = kwargs or {}
    tm = tm.double()
    em.to(ember.float64)
    _load(em, tm)
    em.eval()
    tm.eval()
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(s) for s in shapes]
    ex = [ember.tensor(a, requires_grad=True) for a in arrs]
    tx = [torch.tensor(a, requires_grad=True) for a in arrs]
    eo = _flat(em(*ex, **{k: v[0] for k, v in kwargs.items()}))
    to = _flat(tm(*tx, **{k: v[1] for k, v in kwargs.items()}))
    assert len(eo) == len(to)
    for a, b in zip(eo, to):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=atol, rtol=1e-6)
    gs = [rng.standard_normal(tuple(b.shape)) for b in to]
    sum((a * ember.tensor(g)).sum() for a, g in zip(eo, gs)).backward()
    sum((b * torch.tensor(g)).sum() for b, g in zip(to, gs)).backward()
    for a, b in zip(ex, tx):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=atol, rtol=1e-6)
    tp = dict(tm.named_parameters())
    for n, p in em.named_parameters():
        if tp[n].grad is None:
            assert p.grad is None or not p.grad.numpy().any(), n
        else:
            np.testing.assert_allclose(p.grad.numpy(), tp[n].grad.numpy(), atol=atol, rtol=1e-6, err_msg=n)


# ---------------------------------------------------------------------------- sdpa


@pytest.mark.parametrize("case", ["plain", "causal", "scale", "bool", "float", "causal_rect"])
def test_sdpa_matches_torch(case):
    rng = np.random.default_rng(1)
    L = 5 if case != "causal_rect" else 4
    q, k, v = rng.standard_normal((2, 3, L, 4)), rng.standard_normal((2, 3, 6, 4)), rng.standard_normal((2, 3, 6, 7))
    ke, kt = {}, {}
    if case in ("causal", "causal_rect"):
        ke["is_causal"] = kt["is_causal"] = True
    if case == "scale":
        ke["scale"] = kt["scale"] = 0.3
    if case == "bool":
        m = rng.random((L, 6)) > 0.3
        m[:, 0] = True
        ke["attn_mask"], kt["attn_mask"] = both(m)
    if case == "float":
        ke["attn_mask"], kt["attn_mask"] = both(rng.standard_normal((3, L, 6)))
    eq, ek, ev = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    a = F.scaled_dot_product_attention(eq, ek, ev, **ke)
    b = TF.scaled_dot_product_attention(tq, tk, tv, **kt)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(tuple(b.shape))
    a.backward(ember.tensor(g))
    b.backward(torch.tensor(g))
    for x, y in ((eq, tq), (ek, tk), (ev, tv)):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), atol=1e-12)


def test_sdpa_gradcheck_and_dropout():
    rng = np.random.default_rng(2)
    q, k, v = (ember.tensor(rng.standard_normal(s), requires_grad=True) for s in ((1, 3, 2), (1, 4, 2), (1, 4, 3)))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v))
    assert gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), (q, k, v))
    ember.manual_seed(0)
    x = ember.ones(1, 64, 8)
    out = F.scaled_dot_product_attention(x, x, x, dropout_p=0.5)
    # uniform attention over 64 keys of ones, half dropped and the rest scaled by 2: rows average to about 1
    assert 0.6 < out.mean().item() < 1.4 and not np.allclose(out.numpy(), 1.0)


def test_sdpa_errors():
    x = ember.zeros(2, 3, 4)
    with pytest.raises(RuntimeError, match="explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=ember.ones(3, 3, dtype=ember.bool), is_causal=True)
    with pytest.raises(RuntimeError, match=r"query and key must have the same feature size, got query \(2, 3, 4\) and key \(2, 3, 5\)"):
        F.scaled_dot_product_attention(x, ember.zeros(2, 3, 5), x)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(4, 4\) is not broadcastable to the attention scores of shape \(2, 3, 3\)"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=ember.zeros(4, 4))


# ---------------------------------------------------------------------------- multi-head attention


MHA_KW = [dict(), dict(batch_first=True), dict(add_bias_kv=True, add_zero_attn=True), dict(kdim=6, vdim=4),
          dict(bias=False)]


@pytest.mark.parametrize("kw", MHA_KW)
@pytest.mark.parametrize("masks", [False, True])
def test_mha_matches_torch(kw, masks):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, **kw)
    em = MultiheadAttention(8, 2, **kw)
    kd, vd = kw.get("kdim", 8), kw.get("vdim", 8)
    bf = kw.get("batch_first", False)
    shapes = [(3, 5, 8), (3, 7, kd), (3, 7, vd)] if bf else [(5, 3, 8), (7, 3, kd), (7, 3, vd)]
    extra = {}
    if masks:
        rng = np.random.default_rng(3)
        extra["key_padding_mask"] = both(np.array([[0, 0, 0, 0, 0, 1, 1]] * 3, dtype=bool))
        extra["attn_mask"] = both(rng.standard_normal((5, 7)))
        extra["average_attn_weights"] = (False, False)
    run_pair(em, tm, shapes, extra)


def test_mha_self_attention_bool_mask_unbatched_and_need_weights():
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2).double()
    em = MultiheadAttention(8, 2)
    em.to(ember.float64)
    _load(em, tm)
    rng = np.random.default_rng(4)
    ex, tx = both(rng.standard_normal((5, 3, 8)))
    em_, tm_ = both(np.triu(np.ones((5, 5), bool), 1))  # True = not allowed (MHA convention)
    eo, ew = em(ex, ex, ex, attn_mask=em_)
    to, tw = tm(tx, tx, tx, attn_mask=tm_)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ew.detach().numpy(), tw.detach().numpy(), atol=1e-12)
    eo, ew = em(ex[:, 0], ex[:, 0], ex[:, 0], need_weights=False)
    to, _ = tm(tx[:, 0], tx[:, 0], tx[:, 0], need_weights=False)
    assert ew is None
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), atol=1e-12)


def test_mha_parameters_and_init():
    m = MultiheadAttention(16, 4)
    t = torch.nn.MultiheadAttention(16, 4)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
    assert not m.in_proj_bias.detach().numpy().any() and not m.out_proj.bias.detach().numpy().any()
    bound = np.sqrt(6 / (16 + 48))  # xavier_uniform_ on (3E, E)
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound


def test_mha_errors():
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(3\)"):
        MultiheadAttention(10, 3)
    m = MultiheadAttention(8, 2, batch_first=True)
    with pytest.raises(RuntimeError, match=r"MultiheadAttention\(embed_dim=8, num_heads=2\): expected query of shape \(N, L, E\) or \(L, E\) with E=8, got shape \(2, 5, 6\)"):
        m(ember.zeros(2, 5, 6), ember.zeros(2, 5, 8), ember.zeros(2, 5, 8))
    x = ember.zeros(5, 2, 8)
    with pytest.raises(RuntimeError, match=r"the shape of the 2D attn_mask is \(4, 4\), but should be \(5, 5\)"):
        MultiheadAttention(8, 2)(x, x, x, attn_mask=ember.zeros(4, 4))
    with pytest.raises(RuntimeError, match="need attn_mask if specifying the is_causal hint"):
        MultiheadAttention(8, 2)(x, x, x, is_causal=True)


# ---------------------------------------------------------------------------- transformer


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_matches_torch(norm_first, activation):
    torch.manual_seed(0)
    kw = dict(dim_feedforward=16, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=True)
    te = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, **kw), 2, norm=torch.nn.LayerNorm(8),
                                     enable_nested_tensor=False)
    ee = TransformerEncoder(TransformerEncoderLayer(8, 2, **kw), 2, norm=LayerNorm(8))
    mask = np.triu(np.full((5, 5), -np.inf), 1)
    run_pair(ee, te, [(3, 5, 8)], {
        "mask": both(mask),
        "src_key_padding_mask": both(np.array([[0, 0, 0, 0, 1]] * 3, dtype=bool)),
    })


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_matches_torch(norm_first):
    torch.manual_seed(0)
    kw = dict(dim_feedforward=16, dropout=0.0, norm_first=norm_first)
    td = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(8, 2, **kw), 2)
    ed = TransformerDecoder(TransformerDecoderLayer(8, 2, **kw), 2)
    run_pair(ed, td, [(5, 3, 8), (6, 3, 8)], {
        "tgt_mask": both(np.triu(np.full((5, 5), -np.inf), 1)),
        "tgt_is_causal": (True, True),
        "memory_key_padding_mask": both(np.array([[0, 0, 0, 0, 0, 1]] * 3, dtype=bool)),
    })


def test_full_transformer_and_callable_activation_match_torch():
    torch.manual_seed(0)
    run_pair(Transformer(8, 2, 1, 1, 16, dropout=0.0), torch.nn.Transformer(8, 2, 1, 1, 16, dropout=0.0),
             [(5, 3, 8), (4, 3, 8)])
    torch.manual_seed(0)
    run_pair(TransformerEncoderLayer(8, 2, 16, 0.0, activation=F.silu),
             torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0, activation=TF.silu), [(4, 8)])  # unbatched


def test_encoder_layers_are_independent_deep_copies_and_mask_helper():
    enc = TransformerEncoder(TransformerEncoderLayer(8, 2, 16), 3)
    assert len(enc.layers) == 3
    w0, w1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert w0 is not w1
    np.testing.assert_array_equal(w0.detach().numpy(), w1.detach().numpy())
    w0._data[...] = 0.0  # changing one copy leaves the others alone
    assert w1.detach().numpy().any()
    assert len({id(p) for p in enc.parameters()}) == len(list(enc.parameters()))
    m = generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(m.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    assert TransformerEncoder.generate_square_subsequent_mask(3).shape == (3, 3)


def test_dropout_active_in_training_only():
    ember.manual_seed(0)
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = ember.randn(4, 2, 8)
    assert not np.allclose(layer(x).detach().numpy(), layer(x).detach().numpy())
    layer.eval()
    np.testing.assert_array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())


def test_transformer_errors():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu or a callable, not 'swish'"):
        TransformerEncoderLayer(8, 2, activation="swish")
    layer = TransformerEncoderLayer(8, 2, 16, batch_first=True)
    with pytest.raises(RuntimeError, match=r"TransformerEncoderLayer\(d_model=8\): expected src of shape \(N, S, E\) or \(S, E\) with E=8, got shape \(2, 5, 7\)"):
        layer(ember.zeros(2, 5, 7))
    with pytest.raises(ValueError, match=r"embed_dim \(8\) must be divisible by num_heads \(3\)"):
        TransformerEncoderLayer(8, 3)


@pytest.mark.parametrize("masked", ["bool", "float"])
@pytest.mark.parametrize("grad_mask", [False, True])
def test_sdpa_fully_masked_row_gives_zeros_like_torch(masked, grad_mask):
    # torch's sdpa uses _safe_softmax: a query row with every key masked attends nothing (zeros, zero gradients)
    rng = np.random.RandomState(0)
    q, k, v = rng.randn(1, 2, 3, 4), rng.randn(1, 2, 5, 4), rng.randn(1, 2, 5, 4)
    if masked == "bool":
        m = np.ones((3, 5), bool)
        m[1] = False
    else:
        m = rng.randn(3, 5)
        m[1] = -np.inf
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    eq, ek, ev = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
    tm = torch.tensor(m, requires_grad=grad_mask and masked == "float")
    em = ember.tensor(m, requires_grad=grad_mask and masked == "float")
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm)
    eo = ember.nn.functional.scaled_dot_product_attention(eq, ek, ev, attn_mask=em)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = rng.randn(*to.shape)
    (to * torch.tensor(w)).sum().backward()
    (eo * ember.tensor(w)).sum().backward()
    for a, b in ((eq, tq), (ek, tk), (ev, tv)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_fully_masked_row_matches_torch(need_weights):
    # need_weights=False runs torch's sdpa (zeros for a query with every key masked); True its softmax (NaN)
    rng = np.random.RandomState(1)
    tm = torch.nn.MultiheadAttention(6, 2, dtype=torch.float64)
    em = ember.nn.MultiheadAttention(6, 2, dtype=ember.float64)
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    q, k = rng.randn(4, 2, 6), rng.randn(5, 2, 6)
    mask = rng.rand(4, 4, 5) < 0.3
    mask[3, 1] = True  # batch 1, head 1: query 1 sees no key
    to = tm(torch.tensor(q), torch.tensor(k), torch.tensor(k), attn_mask=torch.tensor(mask), need_weights=need_weights)
    eo = em(ember.tensor(q), ember.tensor(k), ember.tensor(k), attn_mask=ember.tensor(mask), need_weights=need_weights)
    np.testing.assert_allclose(eo[0].detach().numpy(), to[0].detach().numpy(), rtol=1e-10, atol=1e-12, equal_nan=True)

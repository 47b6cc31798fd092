"""Layers against torch with identical weights (torch's state_dict loaded into ember): outputs and the
gradients w.r.t. inputs and parameters; running statistics; default initialisation; shape errors; and the
dynamic-graph showcase (a hand-written LSTM cell in a Python loop with data-dependent control flow)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn


def _np(t):
    return t.detach().numpy()


def pair(name, *args, **kw):
    """The same layer in torch and ember, ember's weights loaded from torch's state_dict."""
    tm = getattr(torch.nn, name)(*args, **kw)
    em = getattr(nn, name)(*args, **kw)
    em.load_state_dict({k: ember.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    return em, tm


def compare(em, tm, *arrays, rtol=1e-5, atol=1e-6, steps=1, grad_inputs=True):
    """Run both ``steps`` times on the same inputs; compare outputs, input grads, parameter grads, buffers."""
    for step in range(steps):
        e_in = [ember.tensor(a, requires_grad=grad_inputs and a.dtype.kind == "f") for a in arrays]
        t_in = [torch.tensor(a, requires_grad=grad_inputs and a.dtype.kind == "f") for a in arrays]
        em.zero_grad()
        tm.zero_grad()
        eo, to = em(*e_in), tm(*t_in)
        np.testing.assert_allclose(_np(eo), _np(to), rtol=rtol, atol=atol, err_msg=f"output, step {step}")
        if not to.requires_grad:
            continue
        g = np.random.default_rng(step).standard_normal(tuple(to.shape)).astype(np.float32)
        eo.backward(ember.tensor(g))
        to.backward(torch.tensor(g))
        for i, (e, t) in enumerate(zip(e_in, t_in)):
            if t.grad is not None:
                np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"input {i}")
        tp = dict(tm.named_parameters())
        for n, p in em.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), tp[n].grad.numpy(), rtol=rtol, atol=atol, err_msg=n)
    tb = dict(tm.named_buffers())
    for n, b in em.named_buffers():
        np.testing.assert_allclose(b.numpy(), tb[n].numpy(), rtol=rtol, atol=atol, err_msg=n)


def rnd(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


LAYERS = [
    ("Linear", (5, 3), {}, [(4, 5)]),
    ("Linear", (5, 3), {"bias": False}, [(2, 4, 5)]),
    ("Bilinear", (4, 3, 2), {}, [(5, 4), (5, 3)]),
    ("Identity", (), {}, [(3, 2)]),
    ("Flatten", (), {}, [(2, 3, 4)]),
    ("Flatten", (0, 1), {}, [(2, 3, 4)]),
    ("Unflatten", (1, (2, 3)), {}, [(4, 6)]),
    ("LayerNorm", (6,), {}, [(3, 6)]),
    ("LayerNorm", ((2, 3),), {"elementwise_affine": False}, [(4, 2, 3)]),
    ("LayerNorm", (6,), {"bias": False, "eps": 1e-3}, [(3, 6)]),
    ("GroupNorm", (2, 4), {}, [(3, 4, 5)]),
    ("GroupNorm", (3, 6), {"affine": False}, [(2, 6, 2, 2)]),
    ("ReLU", (), {}, [(3, 4)]),
    ("ReLU6", (), {}, [(3, 4)]),
    ("LeakyReLU", (0.1,), {}, [(3, 4)]),
    ("ELU", (0.5,), {}, [(3, 4)]),
    ("GELU", (), {}, [(3, 4)]),
    ("GELU", (), {"approximate": "tanh"}, [(3, 4)]),
    ("SiLU", (), {}, [(3, 4)]),
    ("Mish", (), {}, [(3, 4)]),
    ("Softplus", (), {"beta": 2.0, "threshold": 4.0}, [(3, 4)]),
    ("Tanh", (), {}, [(3, 4)]),
    ("Sigmoid", (), {}, [(3, 4)]),
    ("Hardtanh", (-0.5, 0.5), {}, [(3, 4)]),
    ("Softmax", (), {"dim": 1}, [(3, 4)]),
    ("LogSoftmax", (), {"dim": -1}, [(2, 3, 4)]),
]


@pytest.mark.parametrize("name,args,kw,shapes", LAYERS, ids=[f"{layer[0]}-{i}" for i, layer in enumerate(LAYERS)])
def test_layer_matches_torch(name, args, kw, shapes):
    em, tm = pair(name, *args, **kw)
    assert repr(em) == repr(tm)
    assert list(em.state_dict()) == list(tm.state_dict())
    compare(em, tm, *[rnd(*s, seed=i) for i, s in enumerate(shapes)])


@pytest.mark.parametrize("name,shape,kw", [
    ("BatchNorm1d", (6, 3), {}),
    ("BatchNorm1d", (4, 3, 5), {"momentum": 0.3}),
    ("BatchNorm1d", (6, 3), {"momentum": None}),
    ("BatchNorm1d", (6, 3), {"affine": False}),
    ("BatchNorm1d", (6, 3), {"track_running_stats": False}),
    ("BatchNorm2d", (2, 3, 4, 4), {}),
    ("BatchNorm2d", (2, 3, 2, 2), {"eps": 1e-3, "momentum": None, "bias": False}),
])
def test_batchnorm_train_then_eval_matches_torch(name, shape, kw):
    em, tm = pair(name, shape[1], **kw)
    assert repr(em) == repr(tm)
    x = rnd(*shape, scale=2.0) + 0.5
    compare(em, tm, x, steps=3)  # running stats after 3 training steps (unbiased var, momentum / cumulative)
    em.eval()
    tm.eval()
    compare(em, tm, rnd(*shape, seed=5))


def test_embedding_matches_torch_with_padding_idx():
    em, tm = pair("Embedding", 7, 3, padding_idx=1)
    assert repr(em) == repr(tm)
    assert not em.weight.detach().numpy()[1].any()
    idx = np.array([[0, 1, 2], [1, 6, 6]])
    compare(em, tm, idx, grad_inputs=False)
    assert not em.weight.grad.numpy()[1].any()


def test_embedding_from_pretrained():
    w = rnd(4, 2)
    e = nn.Embedding.from_pretrained(ember.tensor(w))
    t = torch.nn.Embedding.from_pretrained(torch.tensor(w))
    assert not e.weight.requires_grad
    np.testing.assert_array_equal(_np(e(ember.tensor([3, 0]))), _np(t(torch.tensor([3, 0]))))
    assert nn.Embedding.from_pretrained(ember.tensor(w), freeze=False).weight.requires_grad


def test_dropout_modules_train_and_eval():
    d = nn.Dropout(0.4)
    x = ember.ones(100, 100)
    ember.manual_seed(0)
    y = d(x)
    assert abs((y.numpy() == 0).mean() - 0.4) < 0.03
    d.eval()
    assert d(x) is x
    assert repr(d) == repr(torch.nn.Dropout(0.4))
    d2 = nn.Dropout2d(0.5)
    y2 = d2(ember.ones(4, 8, 3, 3)).numpy().reshape(4, 8, 9)
    assert ((y2 == 0).all(-1) | (y2 == 2).all(-1)).all()


# ---------------------------------------------------------------------------- default initialisation


def test_default_init_is_reproducible_from_manual_seed():
    ember.manual_seed(7)
    a = nn.Sequential(nn.Linear(8, 4), nn.Embedding(5, 3), nn.Bilinear(2, 3, 4))
    ember.manual_seed(7)
    b = nn.Sequential(nn.Linear(8, 4), nn.Embedding(5, 3), nn.Bilinear(2, 3, 4))
    for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)
    c = nn.Linear(8, 4)
    assert not np.array_equal(c.weight.detach().numpy(), a[0].weight.detach().numpy())


def test_linear_default_init_distribution_matches_torch_formula():
    ember.manual_seed(0)
    fan_in = 400
    m = nn.Linear(fan_in, 300)
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound
    t = torch.nn.Linear(fan_in, 300)
    assert abs(t.weight.detach().numpy().std() - w.std()) < 0.01 * bound


def test_embedding_and_norm_default_init():
    ember.manual_seed(0)
    e = nn.Embedding(1000, 50).weight.detach().numpy()
    assert abs(e.mean()) < 0.01 and abs(e.std() - 1) < 0.01
    bn = nn.BatchNorm1d(3)
    assert bn.weight.detach().numpy().tolist() == [1, 1, 1] and bn.bias.detach().numpy().tolist() == [0, 0, 0]
    assert bn.running_var.numpy().tolist() == [1, 1, 1] and bn.num_batches_tracked.item() == 0


# ---------------------------------------------------------------------------- wrong input shapes


def test_linear_wrong_input_shape_names_layer():
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=784, out_features=10\): expected input with last "
                                           r"dimension 784, got shape \(32, 100\)"):
        nn.Linear(784, 10)(ember.randn(32, 100))


def test_norm_layers_wrong_input_shape():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected 4D input, got shape \(2, 3\)"):
        nn.BatchNorm2d(3)(ember.randn(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\): expected input with 4 channels in dimension 1, got "
                                         r"shape \(2, 3\)"):
        nn.BatchNorm1d(4)(ember.randn(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(ember.randn(1, 3))
    with pytest.raises(RuntimeError, match=r"LayerNorm\(\(5,\).*trailing dimensions \(5,\), got shape \(2, 4\)"):
        nn.LayerNorm(5)(ember.randn(2, 4))
    with pytest.raises(RuntimeError, match=r"GroupNorm\(2, 4.*\(N, 4, \*\), got shape \(2, 6\)"):
        nn.GroupNorm(2, 4)(ember.randn(2, 6))
    with pytest.raises(ValueError, match="must be divisible by num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(RuntimeError, match=r"Bilinear.*last dimensions 3 and 2"):
        nn.Bilinear(3, 2, 1)(ember.randn(4, 3), ember.randn(4, 3))


# ---------------------------------------------------------------------------- dynamic-graph showcase


def _hand_lstm(L, xs, w_ih, w_hh, b, threshold):
    """An LSTM cell unrolled in a Python loop. Control flow depends on the data: the loop stops early once
    the hidden state's norm exceeds ``threshold``, and a step whose gate pre-activations are mostly
    negative takes a different update (a leaky skip connection)."""
    n, hdim = xs.shape[1], w_hh.shape[1]
    h = L.zeros(n, hdim, dtype=xs.dtype)
    c = L.zeros(n, hdim, dtype=xs.dtype)
    outputs, path = [], []
    for t in range(xs.shape[0]):
        gates = xs[t] @ w_ih.T + h @ w_hh.T + b
        i, f, g, o = gates.chunk(4, 1)
        c = L.sigmoid(f) * c + L.sigmoid(i) * L.tanh(g)
        h_new = L.sigmoid(o) * L.tanh(c)
        if float((gates.detach() < 0).float().mean()) > 0.5:
            h = 0.5 * h + 0.5 * h_new
            path.append("skip")
        else:
            h = h_new
            path.append("lstm")
        outputs.append(h)
        if float(h.detach().norm()) > threshold:
            path.append(f"stop@{t}")
            break
    out = L.stack(outputs).sum() + (h * h).sum()
    return out, path


@pytest.mark.parametrize("threshold", [1e9, 0.8])
def test_dynamic_hand_written_lstm_matches_torch(threshold):
    rng = np.random.default_rng(3)
    T, N, D, H = 12, 3, 5, 4
    arrays = [rng.standard_normal((T, N, D)), rng.standard_normal((4 * H, D)) * 0.6,
              rng.standard_normal((4 * H, H)) * 0.6, rng.standard_normal(4 * H) * 0.3]
    arrays = [a.astype(np.float32) for a in arrays]
    e_in = [ember.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    eo, epath = _hand_lstm(ember, *e_in, threshold)
    to, tpath = _hand_lstm(torch, *t_in, threshold)
    assert epath == tpath
    assert ("skip" in epath) and ("lstm" in epath)
    if threshold < 1e9:
        assert epath[-1].startswith("stop@") and len(epath) < T + 1  # stopped early, data-dependently
    np.testing.assert_allclose(eo.item(), to.item(), rtol=1e-5)
    eo.backward()
    to.backward()
    for e, t in zip(e_in, t_in):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_dynamic_lstm_double_backward_matches_torch():
    """create_graph through the same hand-written loop (gradient-norm penalty), against torch."""
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((4, 2, 3)), rng.standard_normal((8, 3)) * 0.5, rng.standard_normal((8, 2)) * 0.5,
              rng.standard_normal(8) * 0.1]
    res = []
    for L in (ember, torch):
        ins = [L.tensor(a, requires_grad=True) for a in arrays]
        out, _ = _hand_lstm(L, *ins, 1e9)
        (gx,) = L.autograd.grad(out, [ins[1]], create_graph=True)
        (gx * gx).sum().backward()
        res.append([x.grad.numpy() for x in ins])
    for e, t in zip(*res):
        np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("padding_idx", [None, 2])
@pytest.mark.parametrize("max_norm", [None, 0.7])
def test_embedding_scale_grad_by_freq_matches_torch(padding_idx, max_norm):
    # each row's gradient is divided by how many times the input picks it
    idx = np.array([[0, 2, 4, 2], [1, 2, 0, 3]])
    tm = torch.nn.Embedding(5, 3, padding_idx=padding_idx, max_norm=max_norm, scale_grad_by_freq=True,
                            dtype=torch.float64)
    em = ember.nn.Embedding(5, 3, padding_idx=padding_idx, max_norm=max_norm, scale_grad_by_freq=True,
                            dtype=ember.float64)
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    w = np.random.RandomState(0).randn(2, 4, 3)
    to, eo = tm(torch.tensor(idx)), em(ember.tensor(idx))
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-12)
    (to * torch.tensor(w)).sum().backward()
    (eo * ember.tensor(w)).sum().backward()
    np.testing.assert_allclose(em.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-12)
    # functional form, and differentiable twice
    x = ember.tensor(np.random.RandomState(1).randn(5, 3), requires_grad=True)
    (g,) = ember.autograd.grad((nn.functional.embedding(ember.tensor(idx), x, scale_grad_by_freq=True) ** 2).sum(), x,
                               create_graph=True)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    (tg,) = torch.autograd.grad((torch.nn.functional.embedding(torch.tensor(idx), tx, scale_grad_by_freq=True) ** 2)
                                .sum(), tx, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-12)
    g.sum().backward()
    tg.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("case", ["plain", "norm", "float_mask", "not_left_aligned", "grad", "train", "odd_heads",
                                  "norm_first", "seq_first", "all_padded", "mask_check_off"])
def test_transformer_encoder_inference_padding_matches_torch_fast_path(case):
    # torch's eval/no-grad path runs the stack on nested tensors: padded positions come out as zeros (then the
    # final norm); every other configuration computes them
    nhead = 1 if case == "odd_heads" else 2
    kw = dict(d_model=8, nhead=nhead, dim_feedforward=16, dropout=0.0, batch_first=case != "seq_first",
              norm_first=case == "norm_first")
    tnorm, enorm = (torch.nn.LayerNorm(8, dtype=torch.float64), nn.LayerNorm(8, dtype=ember.float64)) \
        if case == "norm" else (None, None)
    with warnings.catch_warnings():  # torch says why its fast path is off
        warnings.simplefilter("ignore")
        te = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**kw, dtype=torch.float64), 2, norm=tnorm,
                                         mask_check=case != "mask_check_off")
    ee = nn.TransformerEncoder(nn.TransformerEncoderLayer(**kw, dtype=ember.float64), 2, norm=enorm,
                               mask_check=case != "mask_check_off")
    ee.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in te.state_dict().items()})
    te.train(case == "train")
    ee.train(case == "train")
    x = np.random.RandomState(0).randn(2, 5, 8)
    if case == "seq_first":
        x = x.transpose(1, 0, 2).copy()
    pad = np.array([[False, False, False, True, True], [False] * 5])
    if case == "not_left_aligned":
        pad = np.array([[False, True, False, False, True], [False] * 5])
    if case == "all_padded":
        pad = np.array([[False, False, False, True, True], [True] * 5])
    kpm_t, kpm_e = torch.tensor(pad), ember.tensor(pad)
    if case == "float_mask":
        kpm_t, kpm_e = torch.tensor(np.where(pad, -np.inf, 0.0)), ember.tensor(np.where(pad, -np.inf, 0.0))
    grad = case == "grad"
    with torch.set_grad_enabled(grad):
        to = te(torch.tensor(x, requires_grad=grad), src_key_padding_mask=kpm_t)
    with ember.set_grad_enabled(grad):
        eo = ee(ember.tensor(x, requires_grad=grad), src_key_padding_mask=kpm_e)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12, equal_nan=True)

"""RNN / LSTM / GRU and their cells against torch with identical weights: outputs, final states and
gradients (inputs, initial states, every parameter); gradcheck of the fused cells; errors."""
import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from ember.nn.modules import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from ember.nn.modules.rnn import RNNBase

torch = pytest.importorskip("torch")


def _flat(o):
    if isinstance(o, (tuple, list)):
        return [z for y in o for z in _flat(y)]
    return [o]


def _load(em, tm):
    sd = tm.state_dict()
    assert list(em.state_dict()) == list(sd)  # same names, same order
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in sd.items()})


def run_pair(ecls, tcls, args, kw, xshape, hx_shapes=None, seed=0, dtype=np.float64, atol=1e-10):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tm = tcls(*args, **kw).to(torch.float64 if dtype == np.float64 else torch.float32)
    em = ecls(*args, **kw)
    if dtype == np.float64:
        em.to(ember.float64)
    _load(em, tm)
    x = rng.standard_normal(xshape).astype(dtype)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    eh = th = None
    if hx_shapes is not None:
        hs = [rng.standard_normal(s).astype(dtype) for s in hx_shapes]
        eh = [ember.tensor(h, requires_grad=True) for h in hs]
        th = [torch.tensor(h, requires_grad=True) for h in hs]
        eh, th = (eh[0], th[0]) if len(hs) == 1 else (tuple(eh), tuple(th))
    eo, to = _flat(em(ex, eh)), _flat(tm(tx, th))
    assert len(eo) == len(to)
    for a, b in zip(eo, to):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=atol, rtol=1e-5)
    gs = [rng.standard_normal(tuple(b.shape)).astype(dtype) for b in to]
    sum((a * ember.tensor(g)).sum() for a, g in zip(eo, gs)).backward()
    sum((b * torch.tensor(g)).sum() for b, g in zip(to, gs)).backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), atol=atol, rtol=1e-5)
    if hx_shapes is not None:
        for a, b in zip(_flat(eh), _flat(th)):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=atol, rtol=1e-5)
    tp = dict(tm.named_parameters())
    for n, p in em.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[n].grad.numpy(), atol=atol, rtol=1e-5, err_msg=n)


@pytest.mark.parametrize("kw,xshape,hx", [
    (dict(), (6, 3, 5), None),
    (dict(num_layers=2, bidirectional=True, batch_first=True), (3, 6, 5), [(4, 3, 7), (4, 3, 7)]),
    (dict(num_layers=2, proj_size=3), (6, 3, 5), [(2, 3, 3), (2, 3, 7)]),
    (dict(bias=False), (6, 5), [(1, 7), (1, 7)]),  # unbatched
    (dict(bidirectional=True, proj_size=4), (4, 2, 5), None),
])
def test_lstm_matches_torch(kw, xshape, hx):
    run_pair(LSTM, torch.nn.LSTM, (5, 7), kw, xshape, hx)


@pytest.mark.parametrize("kw,xshape,hx", [
    (dict(num_layers=2, bidirectional=True), (6, 3, 5), [(4, 3, 7)]),
    (dict(batch_first=True, bias=False), (3, 6, 5), None),
    (dict(), (6, 5), [(1, 7)]),
])
def test_gru_matches_torch(kw, xshape, hx):
    run_pair(GRU, torch.nn.GRU, (5, 7), kw, xshape, hx)


@pytest.mark.parametrize("kw,xshape,hx", [
    (dict(num_layers=2, nonlinearity="relu"), (6, 3, 5), [(2, 3, 7)]),
    (dict(bidirectional=True, batch_first=True), (3, 6, 5), None),
])
def test_rnn_matches_torch(kw, xshape, hx):
    run_pair(RNN, torch.nn.RNN, (5, 7), kw, xshape, hx)


@pytest.mark.parametrize("ecls,tcls,kw,xshape,hx", [
    (LSTMCell, torch.nn.LSTMCell, {}, (3, 5), [(3, 7), (3, 7)]),
    (LSTMCell, torch.nn.LSTMCell, dict(bias=False), (3, 5), None),
    (GRUCell, torch.nn.GRUCell, {}, (3, 5), [(3, 7)]),
    (RNNCell, torch.nn.RNNCell, dict(nonlinearity="relu"), (5,), [(7,)]),
    (RNNCell, torch.nn.RNNCell, {}, (3, 5), None),
])
def test_cells_match_torch(ecls, tcls, kw, xshape, hx):
    run_pair(ecls, tcls, (5, 7), kw, xshape, hx)


def test_lstm_float32_long_sequence_bptt():
    run_pair(LSTM, torch.nn.LSTM, (8, 16), dict(num_layers=2), (40, 4, 8), dtype=np.float32, atol=2e-5)


def test_lstm_cell_loop_with_data_dependent_control_flow_matches_torch():
    """Dynamic graph: a hand-unrolled LSTMCell loop whose step count and branch depend on the data."""
    torch.manual_seed(0)
    tc = torch.nn.LSTMCell(4, 6).double()
    ec = LSTMCell(4, 6)
    ec.to(ember.float64)
    _load(ec, tc)
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((9, 2, 4))

    def run(cell, lib, x):
        h = c = None
        total = 0
        for t in range(x.shape[0]):
            h, c = cell(x[t], None if h is None else (h, c))
            if h.sum().item() > 0:  # branch on a value
                total = total + (h * h).sum()
            else:
                total = total + h.sum()
            if c.abs().max().item() > 0.6:  # stop early on a value
                break
        return total

    ex, tx = ember.tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
    el, tl = run(ec, ember, ex), run(tc, torch, tx)
    np.testing.assert_allclose(el.item(), tl.item(), rtol=1e-12)
    el.backward()
    tl.backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ec.weight_hh.grad.numpy(), tc.weight_hh.grad.numpy(), atol=1e-12)


def test_fused_cells_gradcheck_first_and_second_order():
    rng = np.random.default_rng(0)

    def t(*s):
        return ember.tensor(rng.standard_normal(s) * 0.5, requires_grad=True)

    x, h, c = t(2, 3), t(2, 4), t(2, 4)
    assert gradcheck(lambda *a: F.lstm_cell(a[0], (a[1], a[2]), *a[3:]),
                     (x, h, c, t(16, 3), t(16, 4), t(16), t(16)))
    assert gradgradcheck(lambda *a: F.lstm_cell(a[0], (a[1], a[2]), *a[3:]),
                         (x, h, c, t(16, 3), t(16, 4), t(16), t(16)))
    assert gradcheck(F.gru_cell, (x, h, t(12, 3), t(12, 4), t(12), t(12)))
    assert gradgradcheck(F.gru_cell, (x, h, t(12, 3), t(12, 4), t(12), t(12)))
    assert gradgradcheck(F.rnn_tanh_cell, (x, h, t(4, 3), t(4, 4), t(4), t(4)))
    # only one of the LSTM outputs used: the engine hands the node None for the other
    assert gradcheck(lambda *a: F.lstm_cell(a[0], (a[1], a[2]), *a[3:])[1], (x, h, c, t(16, 3), t(16, 4)))


def test_parameter_names_shapes_and_init():
    m = LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    t = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
    bound = 1 / np.sqrt(5)
    for p in m.parameters():
        assert p.dtype == ember.float32 and np.abs(p.detach().numpy()).max() <= bound
    assert repr(GRU(3, 5, num_layers=2, batch_first=True)) == repr(torch.nn.GRU(3, 5, num_layers=2, batch_first=True))


def test_dropout_between_layers_only_in_training():
    ember.manual_seed(0)
    m = LSTM(3, 4, num_layers=2, dropout=0.5)
    x = ember.randn(5, 2, 3)
    a, _ = m(x)
    b, _ = m(x)
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())  # different dropout masks
    m.eval()
    c, _ = m(x)
    d, _ = m(x)
    np.testing.assert_array_equal(c.detach().numpy(), d.detach().numpy())


def test_errors_name_layer_and_shapes():
    m = LSTM(5, 7, num_layers=2)
    with pytest.raises(RuntimeError, match=r"LSTM: expected hidden state h_0 of shape \(2, 3, 7\) .* got shape \(1, 3, 7\)"):
        m(ember.zeros(6, 3, 5), (ember.zeros(1, 3, 7), ember.zeros(2, 3, 7)))
    with pytest.raises(RuntimeError, match=r"LSTM: expected cell state c_0 of shape \(2, 3, 7\)"):
        m(ember.zeros(6, 3, 5), (ember.zeros(2, 3, 7), ember.zeros(2, 3, 6)))
    with pytest.raises(RuntimeError, match=r"LSTM: input.size\(-1\) must be equal to input_size. Expected 5, got 4"):
        m(ember.zeros(6, 3, 4))
    with pytest.raises(RuntimeError, match=r"GRU: expected a 2-D \(L, H_in\) or 3-D \(L, N, H_in\) input, got shape \(5,\)"):
        GRU(5, 7)(ember.zeros(5))
    with pytest.raises(RuntimeError, match=r"GRU: expected hidden state h_0 of shape \(1, 3, 7\)"):
        GRU(5, 7)(ember.zeros(6, 3, 5), ember.zeros(3, 7))
    with pytest.raises(RuntimeError, match=r"LSTMCell: expected hidden state h of shape \(3, 7\), got \(3, 6\)"):
        LSTMCell(5, 7)(ember.zeros(3, 5), (ember.zeros(3, 6), ember.zeros(3, 7)))
    with pytest.raises(RuntimeError, match=r"RNNCell: input has 4 features .* but input_size=5"):
        RNNCell(5, 7)(ember.zeros(3, 4))
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        RNNBase("GRU", 5, 7, proj_size=2)
    with pytest.raises(ValueError, match="unknown nonlinearity 'sigmoid'"):
        RNN(5, 7, nonlinearity="sigmoid")


# ---------------------------------------------------------------- whole-sequence node (nn.RNN/LSTM/GRU)


@pytest.mark.parametrize("ecls,tcls,kw", [
    (GRU, torch.nn.GRU, dict(num_layers=2, bidirectional=True)),
    (RNN, torch.nn.RNN, dict(nonlinearity="relu", bidirectional=True)),
    (LSTM, torch.nn.LSTM, dict(bidirectional=True, batch_first=True)),
])
def test_sequence_node_float32_matches_torch(ecls, tcls, kw):
    xshape = (3, 9, 5) if kw.get("batch_first") else (9, 3, 5)
    run_pair(ecls, tcls, (5, 7), kw, xshape, dtype=np.float32, atol=2e-5)


@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("use", ["out", "h_n"])
@pytest.mark.parametrize("ecls,tcls,kw", [
    (GRU, torch.nn.GRU, dict()),
    (GRU, torch.nn.GRU, dict(bias=False, bidirectional=True)),
    (RNN, torch.nn.RNN, dict(num_layers=2)),
    (RNN, torch.nn.RNN, dict(bias=False, nonlinearity="relu")),
])
def test_sequence_node_one_output_used_matches_torch(ecls, tcls, kw, use, dtype, atol):
    # the gate-major GRU and the RNN node when only ``out`` or only ``h_n`` gets a gradient (the other is None)
    torch.manual_seed(3)
    tm = tcls(6, 8, **kw).to(torch.float64 if dtype == np.float64 else torch.float32)
    em = ecls(6, 8, **kw)
    if dtype == np.float64:
        em.to(ember.float64)
    _load(em, tm)
    x = np.random.default_rng(3).standard_normal((7, 4, 6)).astype(dtype)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    eo, eh = em(ex)
    to, th = tm(tx)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), atol=atol, rtol=1e-5)
    np.testing.assert_allclose(eh.detach().numpy(), th.detach().numpy(), atol=atol, rtol=1e-5)
    ((eo if use == "out" else eh) ** 2).sum().backward()
    ((to if use == "out" else th) ** 2).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), atol=atol, rtol=1e-5)
    tp = dict(tm.named_parameters())
    for n, p in em.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[n].grad.numpy(), atol=atol, rtol=1e-5, err_msg=n)


@pytest.mark.parametrize("kind", ["gru", "rnn_tanh"])
@pytest.mark.parametrize("bias", ["ih", "hh", "none"])
def test_sequence_node_one_bias_gradcheck(kind, bias):
    # b_ih without b_hh and the reverse (the GRU folds b_hr, b_hz into the input GEMM but keeps b_hn apart)
    from ember.nn._functional_rnn import rnn_sequence

    rng = np.random.default_rng(4)
    g = 3 if kind == "gru" else 1

    def t(*s):
        return ember.tensor(rng.standard_normal(s) * 0.5, requires_grad=True)

    x, h0 = t(4, 3, 2), t(3, 3)
    wih, whh = t(g * 3, 2), t(g * 3, 3)
    bih = t(g * 3) if bias == "ih" else None
    bhh = t(g * 3) if bias == "hh" else None
    args = [a for a in (x, h0, wih, whh, bih, bhh) if a is not None]

    def f(*a):
        it = iter(a)
        xx, hh, wi, wh = next(it), next(it), next(it), next(it)
        bi = next(it) if bih is not None else None
        bh = next(it) if bhh is not None else None
        return rnn_sequence(kind, xx, hh, None, wi, wh, bi, bh)

    assert gradcheck(f, tuple(args))


def test_sequence_node_is_one_node_per_layer_and_direction():
    m = LSTM(3, 4, num_layers=2, bidirectional=True)
    out, (h, c) = m(ember.randn(6, 2, 3))
    fn = out.grad_fn  # cat of the two directions of the last layer
    assert fn.name() == "CatBackward0"
    seq = [nxt for nxt, _ in fn.next_functions]
    assert all(s.name() == "LSTMBackward" for s in seq)
    # the reverse direction's node reaches the first layer's nodes through one cat: no per-step nodes
    assert {nxt.name() for nxt, _ in seq[1].next_functions if nxt is not None} >= {"CatBackward0"}


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_sequence_node_gradcheck_both_directions_with_mask(kind):
    from ember.nn._functional_rnn import rnn_sequence

    rng = np.random.default_rng(1)
    g = {"lstm": 4, "gru": 3}.get(kind, 1)

    def t(*s):
        return ember.tensor(rng.standard_normal(s) * 0.5, requires_grad=True)

    x, h0, c0 = t(4, 3, 2), t(3, 3), t(3, 3)
    w = (t(g * 3, 2), t(g * 3, 3), t(g * 3), t(g * 3))
    mask = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=bool)  # packed lengths 4, 3, 2
    for reverse in (False, True):
        for m in (None, mask):
            def f(x, h0, c0, *w, reverse=reverse, m=m):
                return rnn_sequence(kind, x, h0, c0 if kind == "lstm" else None, *w, reverse=reverse, mask=m)
            assert gradcheck(f, (x, h0, c0, *w))
    # create_graph=True takes the step-by-step path, which is differentiable again
    assert gradgradcheck(lambda *a: rnn_sequence(kind, a[0], a[1], a[2] if kind == "lstm" else None, *a[3:],
                                                 reverse=True, mask=mask), (x, h0, c0, *w))


def test_sequence_node_double_backward_matches_torch():
    torch.manual_seed(0)
    tm = torch.nn.GRU(3, 4, bidirectional=True).double()
    em = GRU(3, 4, bidirectional=True)
    em.to(ember.float64)
    _load(em, tm)
    x = np.random.default_rng(2).standard_normal((5, 2, 3))
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (eg,) = ember.autograd.grad((em(ex)[0] ** 2).sum(), ex, create_graph=True)
    (tg,) = torch.autograd.grad((tm(tx)[0] ** 2).sum(), tx, create_graph=True)
    np.testing.assert_allclose(eg.detach().numpy(), tg.detach().numpy(), atol=1e-10)
    (eg * eg).sum().backward()
    (tg * tg).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), atol=1e-9)
    tp = dict(tm.named_parameters())
    for n, p in em.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[n].grad.numpy(), atol=1e-9, err_msg=n)


def test_sequence_node_output_changed_in_place_is_caught():
    m = LSTM(3, 4)
    out, (h, c) = m(ember.randn(5, 2, 3))
    loss = out.sum() + h.sum()
    h.mul_(2)  # h_n is its own tensor: changing it leaves out alone
    assert not np.allclose(out[-1].detach().numpy(), h.detach().numpy())
    out.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


@pytest.mark.parametrize("ecls,tcls,hx", [
    (LSTMCell, torch.nn.LSTMCell, [(3, 7), (3, 7)]),
    (GRUCell, torch.nn.GRUCell, [(3, 7)]),
])
def test_cells_float32_match_torch(ecls, tcls, hx):
    # the LSTM cell runs every gate through one tanh on arrays (sigmoid = (1 + tanh(x/2)) / 2)
    run_pair(ecls, tcls, (5, 7), {}, (3, 5), hx, dtype=np.float32, atol=2e-6)


@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-10), (np.float32, 3e-6)])
@pytest.mark.parametrize("bias", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("use", ["h", "c", "both"])
def test_lstm_cell_feature_major_path_matches_torch(dtype, atol, bias, use):
    """The array path of the LSTM cell (gates as (4H, B), see ``_Cell._forward_lstm``): two chained steps with
    either or both biases, only h, only c or both used downstream, a strided input slice, values and every
    gradient (including leaf states) against torch; outputs and leaf gradients are C-contiguous as torch's."""
    rng = np.random.default_rng(3)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    n_in, n_h, b = 5, 6, 3
    w = [rng.standard_normal(s).astype(dtype) * 0.4 for s in ((4 * n_h, n_in), (4 * n_h, n_h), (4 * n_h,), (4 * n_h,))]
    xs = rng.standard_normal((b, 2, n_in)).astype(dtype)  # x[:, t] is a strided slice, as in a char model
    h0, c0 = (rng.standard_normal((b, n_h)).astype(dtype) for _ in range(2))
    gy = rng.standard_normal((2, b, n_h)).astype(dtype)

    def run(lib, fn, T):
        ws = [T(a) for a in w]
        bih = ws[2] if bias[0] else None
        bhh = ws[3] if bias[1] else None
        x, h, c = T(xs), T(h0), T(c0)
        hc = (h, c)
        loss = 0
        outs = []
        for t in range(2):
            hc = fn(x[:, t], hc, ws[0], ws[1], bih, bhh)
            outs.append(hc)
            y = hc[0] if use == "h" else hc[1] if use == "c" else hc[0] * hc[1]
            loss = loss + (y * T(gy[t], False)).sum()
        loss.backward()
        return outs, [x, h, c] + ws[:2] + [v for v in (bih, bhh) if v is not None]

    eo, ei = run(ember, F.lstm_cell, lambda a, g=True: ember.tensor(a, requires_grad=g))
    to, ti = run(torch, torch.lstm_cell, lambda a, g=True: torch.tensor(a, dtype=tdt, requires_grad=g))
    for (eh, ec), (th, tc) in zip(eo, to):
        np.testing.assert_allclose(eh.detach().numpy(), th.detach().numpy(), atol=atol, rtol=1e-5)
        np.testing.assert_allclose(ec.detach().numpy(), tc.detach().numpy(), atol=atol, rtol=1e-5)
        assert eh.is_contiguous() and ec.is_contiguous()
        assert eh.dtype == (ember.float64 if dtype == np.float64 else ember.float32)
    for k, (a, t) in enumerate(zip(ei, ti)):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), atol=atol * 10, rtol=1e-5, err_msg=str(k))
    assert ei[1].grad.is_contiguous() and ei[2].grad.is_contiguous()


def test_lstm_cell_feature_major_path_unbatched_and_batch_one():
    torch.manual_seed(1)
    tc = torch.nn.LSTMCell(4, 5).double()
    ec = LSTMCell(4, 5)
    ec.to(ember.float64)
    _load(ec, tc)
    rng = np.random.default_rng(4)
    for shape in ((4,), (1, 4)):
        x = rng.standard_normal(shape)
        ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        (eh, ec2), (th, tc2) = ec(ex), tc(tx)
        assert tuple(eh.shape) == tuple(th.shape) and tuple(ec2.shape) == tuple(tc2.shape)
        ((eh * 2).sum() + ec2.sum()).backward()
        ((th * 2).sum() + tc2.sum()).backward()
        np.testing.assert_allclose(eh.detach().numpy(), th.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), atol=1e-12)

"""ember.nn.utils additions for issue 9 against torch: weight_norm and spectral_norm (both APIs),
parametrize, rnn packing helpers (and RNN/LSTM/GRU on PackedSequence), functional_call, clip_grads_with_norm_."""
import warnings

import numpy as np
import pytest
import torch

import ember

TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def _pair(ecls, tcls, *args, dtype="float64", seed=0):
    e, t = ecls(*args), tcls(*args)
    t = t.double() if dtype == "float64" else t.float()
    e = e.double() if dtype == "float64" else e.float()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for tp, ep in zip(t.parameters(), e.parameters()):
            v = rng.standard_normal(tuple(tp.shape)).astype(dtype)
            tp.copy_(torch.from_numpy(v))
            ep._data[...] = v
    return e, t


def _close(e, t, dtype, what=""):
    ev = e.detach().numpy() if isinstance(e, ember.Tensor) else np.asarray(e)
    np.testing.assert_allclose(ev, t.detach().numpy(), err_msg=what, **TOL[dtype])


def _grads_match(e_mod, t_mod, dtype):
    for (n, tp), (en, ep) in zip(t_mod.named_parameters(), e_mod.named_parameters()):
        assert n == en
        _close(ep.grad, tp.grad, dtype, n)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_old_api(dtype, dim):
    e, t = _pair(ember.nn.Linear, torch.nn.Linear, 4, 3, dtype=dtype)
    with pytest.warns(FutureWarning, match="weight_norm` is deprecated"):
        ember.nn.utils.weight_norm(e, dim=dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.nn.utils.weight_norm(t, dim=dim)
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    _close(e.weight_g, t.weight_g, dtype)
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(dtype)
    ye, yt = e(ember.from_numpy(x)), t(torch.from_numpy(x))
    _close(ye, yt, dtype)
    (ye ** 2).sum().backward()
    (yt ** 2).sum().backward()
    _grads_match(e, t, dtype)
    ember.nn.utils.remove_weight_norm(e)
    torch.nn.utils.remove_weight_norm(t)
    _close(e.weight, t.weight, dtype)
    assert sorted(e.state_dict()) == ["bias", "weight"]
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found in Linear"):
        ember.nn.utils.remove_weight_norm(e)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_weight_norm_parametrization(dtype):
    e, t = _pair(ember.nn.Conv1d, torch.nn.Conv1d, 2, 3, 3, dtype=dtype)
    ember.nn.utils.parametrizations.weight_norm(e)
    torch.nn.utils.parametrizations.weight_norm(t)
    assert sorted(e.state_dict()) == sorted(t.state_dict())
    _close(e.parametrizations.weight.original0, t.parametrizations.weight.original0, dtype)
    x = np.random.default_rng(1).standard_normal((2, 2, 6)).astype(dtype)
    ye, yt = e(ember.from_numpy(x)), t(torch.from_numpy(x))
    _close(ye, yt, dtype)
    (ye ** 2).sum().backward()
    (yt ** 2).sum().backward()
    _grads_match(e, t, dtype)
    e.load_state_dict({k: ember.from_numpy(v.detach().numpy().copy()) for k, v in t.state_dict().items()})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_spectral_norm_old_api(dtype):
    e, t = _pair(ember.nn.Linear, torch.nn.Linear, 5, 4, dtype=dtype)
    ember.nn.utils.spectral_norm(e, n_power_iterations=2)
    torch.nn.utils.spectral_norm(t, n_power_iterations=2)
    assert sorted(e.state_dict()) == sorted(t.state_dict())
    e.weight_u._data[...] = t.weight_u.numpy()    # same initial u and v: power iteration is then identical
    e.weight_v._data[...] = t.weight_v.numpy()
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(dtype)
    for _ in range(3):
        ye, yt = e(ember.from_numpy(x)), t(torch.from_numpy(x))
        _close(ye, yt, dtype)
        _close(e.weight_u, t.weight_u, dtype)
    (ye ** 2).sum().backward()
    (yt ** 2).sum().backward()
    _grads_match(e, t, dtype)
    e.eval()
    t.eval()
    u_before = e.weight_u.numpy().copy()
    _close(e(ember.from_numpy(x)), t(torch.from_numpy(x)), dtype)
    np.testing.assert_array_equal(e.weight_u.numpy(), u_before)   # eval: no power iteration
    ember.nn.utils.remove_spectral_norm(e)
    torch.nn.utils.remove_spectral_norm(t)
    _close(e.weight, t.weight, dtype)
    with pytest.raises(ValueError, match="spectral_norm: expected n_power_iterations to be positive"):
        ember.nn.utils.spectral_norm(ember.nn.Linear(2, 2), n_power_iterations=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_spectral_norm_parametrization(dtype):
    e, t = _pair(ember.nn.ConvTranspose2d, torch.nn.ConvTranspose2d, 3, 2, 2, dtype=dtype)
    ember.nn.utils.parametrizations.spectral_norm(e)
    torch.nn.utils.parametrizations.spectral_norm(t)
    assert sorted(e.state_dict()) == sorted(t.state_dict())
    sn_e, sn_t = e.parametrizations.weight[0], t.parametrizations.weight[0]
    assert sn_e.dim == sn_t.dim == 1
    sn_e._u._data[...] = sn_t._u.numpy()
    sn_e._v._data[...] = sn_t._v.numpy()
    x = np.random.default_rng(1).standard_normal((1, 3, 3, 3)).astype(dtype)
    for _ in range(2):
        ye, yt = e(ember.from_numpy(x)), t(torch.from_numpy(x))
        _close(ye, yt, dtype)
        _close(sn_e._v, sn_t._v, dtype)
    (ye ** 2).sum().backward()
    (yt ** 2).sum().backward()
    _grads_match(e, t, dtype)
    # sigma of the parametrized weight is ~1 after enough power iterations
    w = e.weight.detach().numpy().transpose(1, 0, 2, 3).reshape(2, -1)
    assert abs(np.linalg.svd(w, compute_uv=False)[0] - 1.0) < 1e-3
    with pytest.raises(IndexError, match="spectral_norm: dim must be in the range"):
        ember.nn.utils.parametrizations.spectral_norm(ember.nn.Linear(2, 2), dim=3)


class _Sym(ember.nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)

    def right_inverse(self, A):
        return A.triu()


def test_parametrize_register_cached_remove():
    P = ember.nn.utils.parametrize
    m = ember.nn.Linear(3, 3)
    assert not P.is_parametrized(m)
    P.register_parametrization(m, "weight", _Sym())
    assert P.is_parametrized(m) and P.is_parametrized(m, "weight") and not P.is_parametrized(m, "bias")
    assert type(m).__name__ == "ParametrizedLinear" and P.type_before_parametrizations(m) is ember.nn.Linear
    w = m.weight.detach().numpy()
    np.testing.assert_array_equal(w, w.T)
    orig = m.parametrizations.weight.original
    assert isinstance(orig, ember.nn.Parameter)
    with P.cached():
        assert m.weight is m.weight
    assert m.weight is not m.weight
    # gradient flows to the original through the parametrization
    m(ember.ones(2, 3)).sum().backward()
    assert orig.grad is not None and np.abs(orig.grad.numpy()).sum() > 0
    # assignment goes through right_inverse
    a = ember.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 5.0, 6.0]])
    m.weight = a
    np.testing.assert_array_equal(m.weight.detach().numpy(), a.numpy())
    P.remove_parametrizations(m, "weight")
    assert type(m) is ember.nn.Linear and isinstance(m.weight, ember.nn.Parameter) and m.weight is orig
    np.testing.assert_array_equal(m.weight.detach().numpy(), a.numpy())
    assert sorted(m.state_dict()) == ["bias", "weight"]


def test_parametrize_matches_torch_and_errors():
    class TSym(torch.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

    e, t = _pair(ember.nn.Linear, torch.nn.Linear, 3, 3)
    ember.nn.utils.parametrize.register_parametrization(e, "weight", _Sym())
    torch.nn.utils.parametrize.register_parametrization(t, "weight", TSym())
    assert sorted(e.state_dict()) == sorted(t.state_dict())
    x = np.random.default_rng(2).standard_normal((4, 3))
    ye, yt = e(ember.from_numpy(x)), t(torch.from_numpy(x))
    _close(ye, yt, "float64")
    ye.sum().backward()
    yt.sum().backward()
    _close(e.parametrizations.weight.original.grad, t.parametrizations.weight.original.grad, "float64")

    class Shrink(ember.nn.Module):
        def forward(self, X):
            return X[:2]

    with pytest.raises(ValueError, match="may not change the shape"):
        ember.nn.utils.parametrize.register_parametrization(ember.nn.Linear(3, 3), "weight", Shrink())
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element with name"):
        ember.nn.utils.parametrize.register_parametrization(ember.nn.Linear(3, 3), "kernel", _Sym())
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        ember.nn.utils.parametrize.remove_parametrizations(ember.nn.Linear(3, 3), "weight")


def _seqs(lib, dtype="float64", requires_grad=False):
    rng = np.random.default_rng(3)
    out = []
    for n in (2, 4, 1, 3):
        v = rng.standard_normal((n, 3)).astype(dtype)
        t = lib.from_numpy(v)
        if requires_grad:
            t.requires_grad_(True)
        out.append(t)
    return out


def test_pack_pad_roundtrip_matches_torch():
    R, TR = ember.nn.utils.rnn, torch.nn.utils.rnn
    es, ts = _seqs(ember, requires_grad=True), _seqs(torch, requires_grad=True)
    for side in ("right", "left"):
        _close(R.pad_sequence(es, True, -1.0, side), TR.pad_sequence(ts, True, -1.0, side), "float64")
    pe, pt = R.pack_sequence(es, enforce_sorted=False), TR.pack_sequence(ts, enforce_sorted=False)
    _close(pe.data, pt.data, "float64")
    for f in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        np.testing.assert_array_equal(getattr(pe, f).numpy(), getattr(pt, f).numpy())
    (ue, le), (ut, lt) = R.pad_packed_sequence(pe, True, 0.5, 6), TR.pad_packed_sequence(pt, True, 0.5, 6)
    _close(ue, ut, "float64")
    np.testing.assert_array_equal(le.numpy(), lt.numpy())
    w = np.random.default_rng(4).standard_normal(tuple(ut.shape))
    (ue * ember.from_numpy(w)).sum().backward()
    (ut * torch.from_numpy(w)).sum().backward()
    for a, b in zip(es, ts):
        _close(a.grad, b.grad, "float64")
    back = R.unpack_sequence(pe)
    for a, b in zip(back, es):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    with pytest.raises(RuntimeError, match="`lengths` array must be sorted in decreasing order"):
        R.pack_sequence(es)
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        R.pack_padded_sequence(ember.zeros(3, 2, 1), [3, 0])
    with pytest.raises(ValueError, match="Expected total_length to be at least"):
        R.pad_packed_sequence(pe, total_length=2)


@pytest.mark.parametrize("kind,bi", [("LSTM", True), ("GRU", False), ("GRU", True), ("RNN", True)])
def test_rnn_on_packed_sequence_matches_torch(kind, bi):
    e, t = _pair(getattr(ember.nn, kind), getattr(torch.nn, kind), 3, 4, 2, dtype="float64")
    if bi:
        e, t = _pair(lambda *a: getattr(ember.nn, kind)(*a, bidirectional=True),
                     lambda *a: getattr(torch.nn, kind)(*a, bidirectional=True), 3, 4, 1)
    es, ts = _seqs(ember, requires_grad=True), _seqs(torch, requires_grad=True)
    pe = ember.nn.utils.rnn.pack_sequence(es, enforce_sorted=False)
    pt = torch.nn.utils.rnn.pack_sequence(ts, enforce_sorted=False)
    oe, he = e(pe)
    ot, ht = t(pt)
    assert isinstance(oe, ember.nn.utils.rnn.PackedSequence)
    _close(oe.data, ot.data, "float64")
    he, ht = (he[0], ht[0]) if kind == "LSTM" else (he, ht)
    _close(he, ht, "float64")
    (oe.data.sum() + he.sum()).backward()
    (ot.data.sum() + ht.sum()).backward()
    for a, b in zip(es, ts):
        _close(a.grad, b.grad, "float64")
    _grads_match(e, t, "float64")


def test_functional_call_and_clip_grads_with_norm():
    lin = ember.nn.Linear(2, 2)
    w = ember.ones(2, 2)
    out = ember.nn.utils.stateless.functional_call(lin, {"weight": w, "bias": ember.zeros(2)}, (ember.ones(1, 2),))
    np.testing.assert_array_equal(out.numpy(), [[2.0, 2.0]])
    assert lin.weight is not w and isinstance(lin.weight, ember.nn.Parameter)
    with pytest.raises(RuntimeError, match="functional_call: strict=True"):
        ember.nn.utils.stateless.functional_call(lin, {"weight": w}, (ember.ones(1, 2),), strict=True)
    p = ember.nn.Parameter(ember.zeros(3))
    p.grad = ember.tensor([3.0, 4.0, 0.0])
    tp = torch.nn.Parameter(torch.zeros(3))
    tp.grad = torch.tensor([3.0, 4.0, 0.0])
    n = ember.nn.utils.get_total_norm([p.grad])
    ember.nn.utils.clip_grads_with_norm_([p], 1.0, n)
    torch.nn.utils.clip_grads_with_norm_([tp], 1.0, torch.nn.utils.get_total_norm([tp.grad]))
    _close(p.grad, tp.grad, "float32")
    with pytest.raises(RuntimeError, match="skip_init: Module must support a 'device' arg"):
        ember.nn.utils.skip_init(ember.nn.ReLU)
    assert ember.nn.utils.skip_init(ember.nn.Linear, 3, 2).weight.shape == (2, 3)

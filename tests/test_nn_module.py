"""nn.Module, Parameter, containers, state_dict round trips with torch, hooks, and nn.utils."""
from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
import ember.nn.functional as F


class Net(nn.Module):
    def __init__(self, L=nn):
        super().__init__()
        self.fc1 = L.Linear(4, 8)
        self.bn = L.BatchNorm1d(8)
        self.blocks = L.ModuleList([L.Linear(8, 8), L.Linear(8, 8)])
        self.head = L.Sequential(L.ReLU(), L.Linear(8, 3))
        self.scale = L.Parameter(ember.ones(3) if L is nn else torch.ones(3))

    def forward(self, x):
        x = self.bn(self.fc1(x))
        for b in self.blocks:
            x = b(x).relu()
        return self.head(x) * self.scale


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        L = torch.nn
        self.fc1 = L.Linear(4, 8)
        self.bn = L.BatchNorm1d(8)
        self.blocks = L.ModuleList([L.Linear(8, 8), L.Linear(8, 8)])
        self.head = L.Sequential(L.ReLU(), L.Linear(8, 3))
        self.scale = L.Parameter(torch.ones(3))

    def forward(self, x):
        x = self.bn(self.fc1(x))
        for b in self.blocks:
            x = b(x).relu()
        return self.head(x) * self.scale


def torch_to_ember(tm, em):
    em.load_state_dict({k: ember.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


# ---------------------------------------------------------------------------- registration and iteration


def test_state_dict_keys_match_torch_and_values_round_trip():
    tm, em = TorchNet(), Net()
    assert list(em.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in em.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in em.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in em.named_children()] == [n for n, _ in tm.named_children()]
    torch_to_ember(tm, em)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    ex, tx = ember.tensor(x), torch.tensor(x)
    eo, to = em(ex), tm(tx)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-5, atol=1e-6)
    eo.sum().backward()
    to.sum().backward()
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(ep.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=n)
    # running stats were updated identically
    np.testing.assert_allclose(em.bn.running_var.numpy(), tm.bn.running_var.numpy(), rtol=1e-5)
    assert int(em.bn.num_batches_tracked.item()) == 1


def test_state_dict_is_detached_and_keep_vars():
    m = nn.Linear(3, 2)
    sd = m.state_dict()
    assert not sd["weight"].requires_grad and not isinstance(sd["weight"], nn.Parameter)
    assert np.shares_memory(sd["weight"].numpy(), m.weight.detach().numpy())
    assert m.state_dict(keep_vars=True)["weight"] is m.weight
    assert list(m.state_dict(prefix="enc.")) == ["enc.weight", "enc.bias"]


def test_parameters_shared_between_modules_counted_once():
    a = nn.Linear(3, 3)
    m = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(m.parameters())) == 2
    assert len(list(m.named_parameters(remove_duplicate=False))) == 4
    tied = nn.Module()
    tied.enc = nn.Linear(4, 5)
    tied.dec = nn.Linear(5, 4)
    tied.dec.weight = nn.Parameter(ember.zeros(4, 5))
    tied.dec2 = nn.Module()
    tied.dec2.w = tied.enc.weight
    assert len(list(tied.parameters())) == 4


def test_register_buffer_persistent_and_non_persistent():
    m = nn.Module()
    m.register_buffer("a", ember.zeros(2))
    m.register_buffer("b", ember.ones(2), persistent=False)
    m.register_buffer("c", None)
    assert [n for n, _ in m.named_buffers()] == ["a", "b"]
    assert list(m.state_dict()) == ["a"]
    with pytest.raises(KeyError, match="can not contain"):
        m.register_buffer("x.y", ember.zeros(1))
    with pytest.raises(TypeError, match="cannot assign 'list' object to buffer 'z'"):
        m.register_buffer("z", [1, 2])
    m.a = ember.full((2,), 5.0)
    assert m.state_dict()["a"].tolist() == [5.0, 5.0]
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer 'a'"):
        m.a = 3


def test_setattr_type_errors_and_init_order():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"cannot assign 'Tensor' as parameter 'weight' \(ember.nn.Parameter or None"):
        m.weight = ember.zeros(2, 2)
    m.bias = None
    assert m.bias is None and "bias" not in m.state_dict()

    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ember.zeros(1))

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call"):
        Bad()
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        _ = m.nope


def test_register_parameter_add_module_get_submodule():
    m = nn.Module()
    m.register_parameter("w", nn.Parameter(ember.ones(2)))
    m.add_module("child", nn.Sequential(nn.Linear(2, 3)))
    m.register_module("other", nn.Identity())
    assert m.get_submodule("child.0") is m.child[0]
    assert m.get_parameter("child.0.bias") is m.child[0].bias
    assert m.get_parameter("w") is m.w
    with pytest.raises(AttributeError, match="has no attribute `zz`"):
        m.get_submodule("child.zz")
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("bad", 3)
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("nl", nn.Parameter(ember.ones(2)) * 2 if False else _nonleaf_param())
    assert "w" in dir(m) and "child" in dir(m)
    del m.w
    assert "w" not in dict(m.named_parameters())


def _nonleaf_param():
    p = nn.Parameter(ember.ones(2))
    q = nn.Parameter(ember.ones(2))
    q.grad_fn = (p * 2).grad_fn  # a parameter object that claims to be a graph output
    return q


def test_train_eval_apply_requires_grad_zero_grad():
    m = Net()
    m.eval()
    assert not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())
    with pytest.raises(ValueError, match="expected to be boolean"):
        m.train("yes")
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Net" and seen[0] == "Linear"
    m(ember.randn(3, 4)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_to_dtype_keeps_parameter_identity():
    m = Net()
    w = m.fc1.weight
    m.double()
    assert m.fc1.weight is w and w.dtype == ember.float64
    assert m.bn.running_mean.dtype == ember.float64
    assert m.bn.num_batches_tracked.dtype == ember.int64  # integer buffers untouched
    out = m(ember.randn(3, 4, dtype=ember.float64))
    assert out.dtype == ember.float64
    m.to(ember.float32)
    assert w.dtype == ember.float32
    assert m.cpu() is m and m.to("cpu") is m
    with pytest.raises(TypeError, match="floating point dtypes"):
        m.to(ember.int64)


def test_deepcopy_is_independent():
    m = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    m[0].weight.grad = ember.ones(3, 3)
    c = copy.deepcopy(m)
    assert c[0].weight is not m[0].weight and isinstance(c[0].weight, nn.Parameter)
    np.testing.assert_array_equal(c[0].weight.detach().numpy(), m[0].weight.detach().numpy())
    np.testing.assert_array_equal(c[0].weight.grad.numpy(), np.ones((3, 3)))
    with ember.no_grad():
        c[0].weight.fill_(0.0)
    assert m[0].weight.detach().numpy().any()
    shared = nn.Linear(2, 2)
    s2 = copy.deepcopy(nn.Sequential(shared, shared))
    assert s2[0].weight is s2[1].weight


def test_parameter_basics():
    p = nn.Parameter(ember.tensor([1.0, 2.0]))
    assert p.requires_grad and p.is_leaf and isinstance(p, ember.Tensor)
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    assert not nn.Parameter(ember.zeros(1), requires_grad=False).requires_grad
    y = p * 2
    assert type(y) is ember.Tensor
    with pytest.raises(RuntimeError, match="floating-point"):
        nn.Parameter(ember.tensor([1, 2]))


# ---------------------------------------------------------------------------- load_state_dict


def test_load_state_dict_all_or_nothing():
    m = Net()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    sd = {k: ember.zeros(tuple(v.shape), dtype=v.dtype) for k, v in m.state_dict().items()}
    del sd["fc1.bias"], sd["head.1.weight"]
    sd["extra.weight"] = ember.zeros(2)
    sd["blocks.0.weight"] = ember.zeros(8, 7)
    with pytest.raises(RuntimeError) as ei:
        m.load_state_dict(sd)
    msg = str(ei.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "fc1.bias", "head.1.weight"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    assert ("size mismatch for blocks.0.weight: copying a param with shape ember.Size([8, 7]) from checkpoint, "
            "the shape in current model is ember.Size([8, 8])") in msg
    for k, v in m.state_dict().items():  # nothing changed, not even the keys that were fine
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)


def test_load_state_dict_shape_mismatch_only_still_changes_nothing():
    m = nn.Linear(3, 2)
    w0 = m.weight.detach().numpy().copy()
    with pytest.raises(RuntimeError, match=r"size mismatch for bias.*\[3\].*\[2\]"):
        m.load_state_dict({"weight": ember.zeros(2, 3), "bias": ember.zeros(3)}, strict=False)
    np.testing.assert_array_equal(m.weight.detach().numpy(), w0)


def test_load_state_dict_non_strict_returns_named_tuple():
    m = nn.Linear(3, 2)
    res = m.load_state_dict({"weight": ember.ones(2, 3), "junk": ember.ones(1)}, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["junk"]
    assert (m.weight.detach().numpy() == 1).all()
    ok = m.load_state_dict(m.state_dict())
    assert repr(ok) == "<All keys matched successfully>"
    assert ok == ([], [])


def test_load_state_dict_copies_in_place_and_assign_replaces():
    m = nn.Linear(3, 2)
    w = m.weight
    src = ember.full((2, 3), 2.0)
    m.load_state_dict({"weight": src, "bias": ember.zeros(2)})
    assert m.weight is w and (w.detach().numpy() == 2).all()
    src.add_(1.0)
    assert (w.detach().numpy() == 2).all()  # copied, not aliased
    m.load_state_dict({"weight": ember.ones(2, 3, dtype=ember.float64), "bias": ember.zeros(2)})
    assert w.dtype == ember.float32  # copy_ semantics cast to the parameter's dtype
    m.load_state_dict({"weight": ember.full((2, 3), 4.0), "bias": ember.zeros(2)}, assign=True)
    assert m.weight is not w and isinstance(m.weight, nn.Parameter) and m.weight.requires_grad


def test_load_torch_state_dict_directly():
    tm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    em = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    em.load_state_dict(tm.state_dict())  # torch tensors are accepted as values
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(em(ember.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5)


# ---------------------------------------------------------------------------- hooks


def test_forward_hooks_and_handles():
    m = nn.Linear(3, 2)
    calls = []

    def pre(mod, args):
        calls.append("pre")
        return (args[0] * 0,)

    def post(mod, args, out):
        calls.append("post")
        return out + 1

    h1 = m.register_forward_pre_hook(pre)
    h2 = m.register_forward_hook(post)
    out = m(ember.randn(4, 3))
    np.testing.assert_allclose(out.detach().numpy(), (m.bias.detach().numpy() + 1)[None].repeat(4, 0), rtol=1e-6)
    assert calls == ["pre", "post"]
    h1.remove()
    h2.remove()
    m(ember.randn(4, 3))
    assert calls == ["pre", "post"]
    with m.register_forward_hook(lambda mod, a, kw, o: calls.append(sorted(kw)), with_kwargs=True):
        m(input=ember.randn(1, 3))
    assert calls[-1] == ["input"]
    m(ember.randn(1, 3))
    assert len(calls) == 3


def test_forward_pre_hook_with_kwargs_and_prepend():
    m = nn.Identity()
    order = []
    m.register_forward_pre_hook(lambda mod, a: order.append(1))
    m.register_forward_pre_hook(lambda mod, a: order.append(0), prepend=True)
    m.register_forward_pre_hook(lambda mod, a, kw: ((a[0] + 1,), kw), with_kwargs=True)
    assert m(ember.tensor(1.0)).item() == 2.0
    assert order == [0, 1]


def test_full_backward_hook_matches_torch():
    got = {}
    for L, lib in ((nn, ember), (torch.nn, torch)):
        m = L.Linear(3, 2)
        with lib.no_grad():
            m.weight.copy_(lib.tensor(np.arange(6.0).reshape(2, 3).astype(np.float32)))
        rec = []
        m.register_full_backward_hook(lambda mod, gi, go, rec=rec: rec.append(
            ([None if g is None else g.detach().numpy().copy() for g in gi], [g.detach().numpy().copy() for g in go])))
        x = lib.tensor(np.ones((4, 3), np.float32), requires_grad=True)
        (m(x) * 2).sum().backward()
        got[lib.__name__] = (rec, x.grad.numpy().copy())
    (er, eg), (tr, tg) = got["ember"], got["torch"]
    assert len(er) == len(tr) == 1
    np.testing.assert_allclose(er[0][0][0], tr[0][0][0])
    np.testing.assert_allclose(er[0][1][0], tr[0][1][0])
    np.testing.assert_allclose(eg, tg)


# ---------------------------------------------------------------------------- repr


def test_repr_matches_torch_layout():
    em = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2),
                       nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2), nn.Tanh()]),
                       nn.LayerNorm(8), nn.BatchNorm2d(3), nn.GELU(approximate="tanh"), nn.Embedding(10, 3, padding_idx=0))
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                             torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 2),
                                                  torch.nn.Tanh()]),
                             torch.nn.LayerNorm(8), torch.nn.BatchNorm2d(3), torch.nn.GELU(approximate="tanh"),
                             torch.nn.Embedding(10, 3, padding_idx=0))
    assert repr(em) == repr(tm)


# ---------------------------------------------------------------------------- containers


def test_sequential_indexing_slicing_mutation():
    layers = [nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 3), nn.Tanh()]
    s = nn.Sequential(*layers)
    assert len(s) == 4 and s[0] is layers[0] and s[-1] is layers[3]
    sub = s[1:3]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:3]
    assert list(dict(sub.named_children())) == ["1", "2"]
    with pytest.raises(IndexError, match="index 9 is out of range"):
        s[9]
    s.append(nn.Identity())
    assert len(s) == 5
    del s[0]
    assert list(dict(s.named_children())) == ["0", "1", "2", "3"] and s[0] is layers[1]
    s.insert(0, layers[0])
    assert s[0] is layers[0] and len(s) == 5
    s.extend([nn.Sigmoid()])
    assert isinstance(s[-1], nn.Sigmoid)
    s[1] = nn.ELU()
    assert isinstance(s[1], nn.ELU)
    od = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(od.state_dict()) == ["fc.weight", "fc.bias"] and od.fc is od[0]
    assert od(ember.ones(1, 2)).shape == (1, 2)


def test_modulelist_moduledict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml.insert(1, nn.Identity())
    assert len(ml) == 6 and isinstance(ml[1], nn.Identity) and isinstance(ml[-1], nn.Tanh)
    assert isinstance(ml[1:3], nn.ModuleList)
    del ml[1]
    assert len(ml) == 5 and list(dict(ml.named_children())) == ["0", "1", "2", "3", "4"]
    assert len(list(ml.parameters())) == 6
    md = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.ReLU()})
    md["c"] = nn.Tanh()
    assert list(md.keys()) == ["a", "b", "c"] and "a" in md and len(md) == 3
    assert list(md.state_dict()) == ["a.weight", "a.bias"]
    md.pop("a")
    assert list(md) == ["b", "c"]
    md.update([("d", nn.Identity())])
    assert list(md) == ["b", "c", "d"]


def test_parameterlist_parameterdict():
    pl = nn.ParameterList([nn.Parameter(ember.ones(2)), ember.zeros(3)])
    assert len(pl) == 2 and all(isinstance(p, nn.Parameter) for p in pl)
    pl.append(ember.ones(1))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pd = nn.ParameterDict({"w": ember.ones(2, 2), "b": nn.Parameter(ember.zeros(2))})
    assert list(pd.keys()) == ["b", "w"] and isinstance(pd["w"], nn.Parameter)  # a plain dict is sorted, like torch
    pd["a"] = ember.ones(1)
    assert list(pd.keys()) == ["b", "w", "a"]
    m = nn.Module()
    m.pl, m.pd = pl, pd
    assert list(m.state_dict()) == ["pl.0", "pl.1", "pl.2", "pd.b", "pd.w", "pd.a"]
    tm = torch.nn.Module()
    tm.pl = torch.nn.ParameterList([torch.ones(2), torch.zeros(3), torch.ones(1)])
    tm.pd = torch.nn.ParameterDict({"w": torch.ones(2, 2), "b": torch.zeros(2)})
    tm.pd["a"] = torch.ones(1)
    assert list(tm.state_dict()) == list(m.state_dict())


# ---------------------------------------------------------------------------- nn.utils


def _grads_pair(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2)]
    vals = [rng.standard_normal(s).astype(np.float32) * 3 for s in shapes]
    eps_ = [nn.Parameter(ember.tensor(v.copy())) for v in vals]
    tps = [torch.nn.Parameter(torch.tensor(v.copy())) for v in vals]
    for e, t, v in zip(eps_, tps, vals):
        e.grad = ember.tensor(v * 2)
        t.grad = torch.tensor(v * 2)
    return eps_, tps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    eps_, tps = _grads_pair()
    en = nn.utils.clip_grad_norm_(eps_, max_norm, norm_type)
    tn = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
    assert isinstance(en, ember.Tensor) and en.ndim == 0
    np.testing.assert_allclose(en.item(), tn.item(), rtol=1e-5)
    for e, t in zip(eps_, tps):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-5)


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(ember.ones(2))
    p.grad = ember.tensor([1.0, float("inf")])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert math.isinf(nn.utils.clip_grad_norm_([p], 1.0).item())


def test_clip_grad_value_matches_torch():
    eps_, tps = _grads_pair(1)
    nn.utils.clip_grad_value_(eps_, 1.5)
    torch.nn.utils.clip_grad_value_(tps, 1.5)
    for e, t in zip(eps_, tps):
        np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())


def test_parameters_vector_round_trip():
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (3 * 2 + 2 + 2 + 1,)
    tv = torch.nn.utils.parameters_to_vector([torch.tensor(p.detach().numpy()) for p in m.parameters()])
    np.testing.assert_array_equal(v.detach().numpy(), tv.numpy())
    nn.utils.vector_to_parameters(ember.arange(11, dtype=ember.float32), m.parameters())
    assert m[0].weight.detach().numpy().ravel().tolist() == [0, 1, 2, 3, 4, 5]
    assert m[1].bias.item() == 10
    with pytest.raises(RuntimeError, match="has 3 elements but the parameters need 11"):
        nn.utils.vector_to_parameters(ember.zeros(3), m.parameters())


def test_mlp_training_matches_torch_step_by_step():
    """A small MLP trained with plain SGD for a few steps stays equal to torch's."""
    tm = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    em = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    torch_to_ember(tm, em)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.integers(0, 4, 32)
    for _ in range(5):
        for m, lib, Fx in ((em, ember, F), (tm, torch, torch.nn.functional)):
            m.zero_grad()
            loss = Fx.cross_entropy(m(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            with lib.no_grad():
                for p in m.parameters():
                    p -= 0.1 * p.grad
    for (n, ep), tp in zip(em.state_dict().items(), tm.state_dict().values()):
        np.testing.assert_allclose(ep.numpy(), tp.numpy(), rtol=1e-4, atol=1e-6, err_msg=n)

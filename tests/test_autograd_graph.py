"""ember.autograd.graph against torch.autograd.graph: saved-tensor hooks (pack/unpack on what nodes save),
save_on_cpu, disable_saved_tensors_hooks, register_multi_grad_hook, Node, GradientEdge, increment_version."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def _mlp(L, seed=0):
    rng = np.random.default_rng(seed)
    w1 = L.tensor(rng.standard_normal((8, 5)) * 0.4, requires_grad=True)
    b1 = L.tensor(rng.standard_normal(8) * 0.1, requires_grad=True)
    w2 = L.tensor(rng.standard_normal((3, 8)) * 0.4, requires_grad=True)
    x = L.tensor(rng.standard_normal((6, 5)))
    y = L.tensor(rng.integers(0, 3, 6))
    return [w1, b1, w2], x, y


def _loss(L, ps, x, y):
    w1, b1, w2 = ps
    h = L.nn.functional.linear(x, w1, b1).relu()
    h = L.tanh(h) * L.sigmoid(h) + h.exp() * 0.01
    logits = L.nn.functional.linear(h, w2)
    return L.nn.functional.cross_entropy(logits, y)


class _Offload:
    """Activation offloading as users write it: pack copies the values out (to 'host' NumPy), unpack rebuilds."""

    def __init__(self, L):
        self.L, self.packed, self.unpacked = L, 0, 0

    def pack(self, t):
        self.packed += 1
        return (t.dtype, t.detach().numpy().copy())

    def unpack(self, p):
        self.unpacked += 1
        return self.L.from_numpy(p[1])


@pytest.mark.parametrize("L", [ember, torch], ids=["ember", "torch"])
def test_offloading_hooks_give_identical_gradients(L):
    ps, x, y = _mlp(L)
    ref = L.autograd.grad(_loss(L, ps, x, y), ps)
    off = _Offload(L)
    with L.autograd.graph.saved_tensors_hooks(off.pack, off.unpack):
        loss = _loss(L, ps, x, y)
    got = L.autograd.grad(loss, ps)
    assert off.packed > 0 and off.unpacked == off.packed
    for a, b in zip(got, ref):
        assert L.equal(a, b)


def test_offloaded_gradients_match_torch_and_counts():
    e_ps, ex, ey = _mlp(ember)
    t_ps, tx, ty = _mlp(torch)
    eo, to = _Offload(ember), _Offload(torch)
    with ember.autograd.graph.saved_tensors_hooks(eo.pack, eo.unpack):
        el = _loss(ember, e_ps, ex, ey)
    with torch.autograd.graph.saved_tensors_hooks(to.pack, to.unpack):
        tl = _loss(torch, t_ps, tx, ty)
    for a, b in zip(ember.autograd.grad(el, e_ps), torch.autograd.grad(tl, t_ps)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)
    assert eo.unpacked == eo.packed and to.unpacked == to.packed


@pytest.mark.parametrize("x_requires_grad", [False, True])
def test_linear_relu_packs_what_torch_packs(x_requires_grad):
    """Linear + ReLU (+ y*y and exp): the number of packed tensors and their shapes agree with torch, except that
    torch's addmm saves the transposed weight (a TBackward0 view) where ember's fused linear saves the weight."""
    def run(L):
        seen = []

        def pack(t):
            seen.append((tuple(t.shape), L.is_grad_enabled(), t.grad_fn.name() if t.grad_fn is not None else None))
            return t

        lin = L.nn.Linear(4, 3)
        x = L.randn(2, 4, requires_grad=x_requires_grad)
        with L.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            y = L.relu(lin(x))
            (y * y).sum()
            y.exp()
        return seen

    e, t = run(ember), run(torch)
    assert len(e) == len(t) == (6 if x_requires_grad else 5)
    norm = [(s if g != "TBackward0" else s[::-1], m, None if g == "TBackward0" else g) for s, m, g in t]
    assert e == norm


def test_hooks_nested_disabled_and_errors():
    calls = []
    x = ember.randn(3, requires_grad=True)
    with ember.autograd.graph.saved_tensors_hooks(lambda t: calls.append("outer") or t, lambda t: t):
        with ember.autograd.graph.saved_tensors_hooks(lambda t: calls.append("inner") or t, lambda t: t):
            x.exp()
        x.sin()
    assert calls == ["inner", "outer"]
    x.cos()  # no hooks outside
    assert calls == ["inner", "outer"]
    for L in (torch, ember):
        with L.autograd.graph.disable_saved_tensors_hooks("no hooks in this region"):
            with pytest.raises(RuntimeError, match="no hooks in this region"):
                with L.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                    pass
        with L.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):  # allowed again after the block
            pass
    with ember.autograd.graph.saved_tensors_hooks(lambda t: 1, lambda p: "not a tensor"):
        y = ember.randn(2, requires_grad=True).exp().sum()
    with pytest.raises(TypeError, match="ExpBackward0: the unpack hook of saved_tensors_hooks must return a Tensor"):
        y.backward()
    with pytest.raises(TypeError, match="must be callables"):
        ember.autograd.graph.saved_tensors_hooks(None, lambda t: t)


def test_packed_values_retain_graph_double_backward_and_multi_output():
    for L in (ember, torch):
        n = [0]

        def unpack(t, n=n):
            n[0] += 1
            return t

        x = L.tensor([0.3, -1.2, 2.0], dtype=L.float64, requires_grad=True)
        with L.autograd.graph.saved_tensors_hooks(lambda t: t, unpack):
            y = (x.exp() * x.sin()).sum()
            m = L.stack([x, x * 2]).max(dim=0).values.sum()
        (g,) = L.autograd.grad(y, x, create_graph=True)
        (gg,) = L.autograd.grad(g.sum(), x)
        (gm,) = L.autograd.grad(m, x)
        if L is ember:
            res_e = (g.detach().numpy(), gg.numpy(), gm.numpy())
        else:
            res_t = (g.detach().numpy(), gg.numpy(), gm.numpy())
    for a, b in zip(res_e, res_t):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_save_on_cpu_calls_pack_and_matches():
    for L in (ember, torch):
        ps, x, y = _mlp(L)
        ref = L.autograd.grad(_loss(L, ps, x, y), ps)
        for pin in (False,) if L is torch else (False, True):
            with L.autograd.graph.save_on_cpu(pin_memory=pin):
                loss = _loss(L, ps, x, y)
            for a, b in zip(L.autograd.grad(loss, ps), ref):
                assert L.equal(a, b)


def test_inplace_change_of_packed_value_is_not_checked_but_unhooked_is():
    x = ember.randn(3, requires_grad=True)
    with ember.autograd.graph.saved_tensors_hooks(lambda t: t.detach().clone(), lambda t: t):
        a = x * 1
        y = (a * a).sum()  # a saved through the hook (a copy)
    with ember.no_grad():
        a.add_(1.0)
    y.backward()  # the copy is what backward reads, as torch
    np.testing.assert_allclose(x.grad.numpy(), 2 * (a.detach().numpy() - 1), rtol=1e-6)
    b = x * 1
    z = (b * b).sum()
    with ember.no_grad():
        b.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


@pytest.mark.parametrize("mode", ["all", "any"])
def test_register_multi_grad_hook_matches_torch(mode):
    def run(L):
        log = []
        a = L.tensor([1.0, 2.0], requires_grad=True)
        b = L.tensor([3.0], requires_grad=True)
        c = a * 2
        d = L.tensor([5.0], requires_grad=True)  # not reached by the first backward

        def fn(arg):
            if mode == "all":
                log.append([None if g is None else g.tolist() for g in arg])
            else:
                log.append(arg.tolist())

        h = L.autograd.graph.register_multi_grad_hook((c, b, d), fn, mode=mode)
        ((c * c).sum() + (b * 3).sum()).backward(retain_graph=True)
        ((c * c).sum() * 0 + (d * b).sum()).backward()
        h.remove()
        (b * 2).sum().backward()
        return log

    assert run(ember) == run(torch)


def test_register_multi_grad_hook_errors():
    a = ember.randn(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"Expects mode to be one of \('all', 'any'\) but got some"):
        ember.autograd.graph.register_multi_grad_hook([a], print, mode="some")


def test_node_gradient_edge_and_increment_version():
    G = ember.autograd.graph
    x = ember.randn(3, requires_grad=True)
    y = x.exp()
    z = y.split(1)[1]
    assert isinstance(y.grad_fn, G.Node) and isinstance(G.get_gradient_edge(x).node, G.Node)
    assert not isinstance(object(), G.Node)
    assert G.get_gradient_edge(y)[:2] == (y.grad_fn, 0)
    assert G.get_gradient_edge(z).output_nr == 1
    assert G.get_gradient_edge(x).node.name() == "AccumulateGrad"
    y.grad_fn.metadata["tag"] = 1
    assert y.grad_fn.metadata == {"tag": 1}
    with pytest.raises(RuntimeError, match="does not require gradients"):
        G.get_gradient_edge(ember.randn(2))
    t = torch.randn(3, requires_grad=True)
    assert torch.autograd.graph.get_gradient_edge(t.split(1)[1]).output_nr == 1
    for L in (torch, ember):
        w = L.randn(3, requires_grad=True)
        v = w.detach()
        out = (w * v).sum()
        before = v._version
        L.autograd.graph.increment_version(v)
        L.autograd.graph.increment_version([v])
        assert v._version == before + 2
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.backward()


def test_autograd_grad_accepts_gradient_edges_as_torch():
    res = []
    for L in (ember, torch):
        x = L.tensor([0.5, -1.0, 2.0], dtype=L.float64, requires_grad=True)
        y = x.exp()
        a, b = y.split([1, 2])
        z = (a * 3).sum() + b.sin().sum() + y.sum()
        G = L.autograd.graph
        edges = (G.get_gradient_edge(y), G.get_gradient_edge(b), G.get_gradient_edge(x))
        res.append([g.numpy() for g in L.autograd.grad(z, edges, retain_graph=True)])
        (gy,) = L.autograd.grad(z, G.get_gradient_edge(y))
        res[-1].append(gy.numpy())
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_accumulate_grad_node_hooks_as_torch():
    logs = []
    for L in (torch, ember):
        log = []
        x = L.tensor([1.0, 2.0], requires_grad=True)
        acc = L.autograd.graph.get_gradient_edge(x).node
        assert isinstance(acc, L.autograd.graph.Node) and acc.variable is x and acc.metadata == {}
        h1 = acc.register_prehook(lambda go, log=log: log.append(("pre", [g.tolist() for g in go])) or (go[0] * 10,))
        h2 = acc.register_hook(lambda gi, go, x=x, log=log: log.append(("post", gi, [g.tolist() for g in go], x.grad.tolist())))
        (x * 3).sum().backward()
        h1.remove()
        h2.remove()
        (x * 3).sum().backward()
        log.append(x.grad.tolist())
        logs.append(log)
    assert logs[0] == logs[1]

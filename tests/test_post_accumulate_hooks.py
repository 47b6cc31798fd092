"""``Tensor.register_post_accumulate_grad_hook`` and ``Variable._execution_engine.queue_callback`` against
torch: a leaf's hook runs as soon as its gradient for this backward is final (all of its edges
processed), in torch's order, once per backward, with ``.grad`` already accumulated; callbacks run after
the whole backward. DDP's communication/backward overlap is built on this."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

# --------------------------------------------------------------------------- scenarios, run on both libraries

VALS = {
    "a": [0.5, -1.0, 2.0],
    "b": [1.5, 0.25, -0.75],
    "c": [-0.3, 0.8, 1.2],
}


def _leaves(L, dtype, names="abc"):
    dt = getattr(L, dtype)
    return {n: L.tensor(VALS[n], dtype=dt, requires_grad=True) for n in names}


def _record(leaves, log):
    for n, t in leaves.items():
        t.register_post_accumulate_grad_hook(
            lambda t, n=n: log.append((n, t.grad.detach().numpy().copy(), t.grad.requires_grad)))


SCENARIOS = {
    # c gets its last gradient before a and b (torch runs the most recently recorded branch first)
    "three_terms": lambda L, v: ((v["a"] * v["b"]).sum() + (v["b"] * v["c"]).sum() + v["c"].sin().sum()),
    "add": lambda L, v: (v["a"] + v["b"]).sum(),
    "add_reversed": lambda L, v: (v["b"] + v["a"]).sum(),
    "mul3": lambda L, v: (v["a"] * v["b"] * v["c"]).sum(),
    "used_twice": lambda L, v: (v["a"] * v["a"] + v["a"].exp() + v["b"]).sum(),
    "chain": lambda L, v: ((v["a"] * 2).tanh() * v["b"] + v["c"]).pow(2).sum(),
    "unused_leaf": lambda L, v: (v["a"] * 3).sum(),
}


def _run(L, scenario, dtype, backward):
    v = _leaves(L, dtype)
    log = []
    _record(v, log)
    backward(SCENARIOS[scenario](L, v), v)
    return log, v


def _compare(elog, tlog, dtype):
    assert [n for n, _, _ in elog] == [n for n, _, _ in tlog]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    for (n, eg, er), (_, tg, tr) in zip(elog, tlog):
        np.testing.assert_allclose(eg, tg, **tol, err_msg=f"leaf {n}")
        assert er == tr, f"leaf {n}: grad.requires_grad {er} vs torch {tr}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_order_and_values_like_torch(scenario, dtype):
    def bw(y, v):
        y.backward()

    elog, _ = _run(ember, scenario, dtype, bw)
    tlog, _ = _run(torch, scenario, dtype, bw)
    assert elog, "no hook ran"
    _compare(elog, tlog, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_retain_graph_and_accumulation_across_backwards(dtype):
    def bw(y, v):
        y.backward(retain_graph=True)   # the same graph twice: every hook twice, .grad accumulated
        y.backward()
        L = ember if isinstance(y, ember.Tensor) else torch
        SCENARIOS["three_terms"](L, v).backward()   # a new forward: accumulates on top

    elog, ev = _run(ember, "three_terms", dtype, bw)
    tlog, tv = _run(torch, "three_terms", dtype, bw)
    assert len(elog) == 9
    _compare(elog, tlog, dtype)
    for n in "abc":
        np.testing.assert_allclose(ev[n].grad.numpy(), tv[n].grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_create_graph(dtype):
    def bw(y, v):
        y.backward(create_graph=True)

    elog, ev = _run(ember, "chain", dtype, bw)
    tlog, tv = _run(torch, "chain", dtype, bw)
    _compare(elog, tlog, dtype)   # the hook sees a .grad that has a graph (requires_grad True)
    # and that graph differentiates again like torch's
    (ev["a"].grad * ev["b"].grad).sum().backward()
    (tv["a"].grad * tv["b"].grad).sum().backward()
    np.testing.assert_allclose(ev["c"].grad.detach().numpy(), tv["c"].grad.detach().numpy(), rtol=1e-5)


def test_runs_during_backward_not_after():
    # the hook of the last layer's weight runs while the first layer's gradient is not computed yet
    for L in (ember, torch):
        L.manual_seed(0)
        net = L.nn.Sequential(L.nn.Linear(4, 8), L.nn.Tanh(), L.nn.Linear(8, 3))
        seen = {}
        for name, p in net.named_parameters():
            def hook(t, name=name, seen=seen, net=net):
                seen[name] = net[0].weight.grad is None
            p.register_post_accumulate_grad_hook(hook)
        net(L.ones(2, 4)).sum().backward()
        assert set(seen) == {"0.weight", "0.bias", "2.weight", "2.bias"}
        assert seen["2.weight"] and seen["2.bias"], L.__name__
        assert not seen["0.weight"], L.__name__


def test_autograd_grad_and_backward_inputs():
    for L in (ember, torch):
        v = _leaves(L, "float64")
        log = []
        _record(v, log)
        L.autograd.grad(SCENARIOS["mul3"](L, v), [v["a"], v["b"]])
        assert log == [], L.__name__      # autograd.grad accumulates nothing: no hook
        SCENARIOS["mul3"](L, v).backward(inputs=[v["b"]])
        assert [n for n, _, _ in log] == ["b"], L.__name__
        assert v["a"].grad is None and v["c"].grad is None


def _tensor_hook_then_post(L):
    events = []
    a = L.tensor([1.0, 2.0], requires_grad=True)
    a.register_hook(lambda g: (events.append(("pre", g.tolist())), g * 10)[1])
    a.register_post_accumulate_grad_hook(lambda t: events.append(("post", t.grad.tolist())))
    (a * 3).sum().backward()
    return events


def test_tensor_hook_runs_first_and_modifies():
    assert _tensor_hook_then_post(ember) == _tensor_hook_then_post(torch) == [("pre", [3.0, 3.0]),
                                                                            ("post", [30.0, 30.0])]


def test_in_place_change_in_hook_does_not_leak_into_the_rest_of_backward():
    # a + b*2: the add passes the same gradient to a (a leaf, done first) and to the mul still to run
    res = {}
    for L in (ember, torch):
        a = L.tensor([1.0, 2.0], requires_grad=True)
        b = L.tensor([3.0, 4.0], requires_grad=True)
        a.register_post_accumulate_grad_hook(lambda t: [t.grad.mul_(0)] and None)
        ((a + b * 2) * 3).sum().backward()
        res[L.__name__] = (a.grad.tolist(), b.grad.tolist())
    assert res["ember"] == res["torch"] == ([0.0, 0.0], [6.0, 6.0])


def test_errors_and_remove():
    a = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (a * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        ember.ones(2).register_post_accumulate_grad_hook(lambda t: None)
    h = a.register_post_accumulate_grad_hook(lambda t: t * 2)
    with pytest.raises(RuntimeError, match="should return None"):
        (a * 2).sum().backward()
    h.remove()
    calls = []
    h = a.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    (a * 2).sum().backward()
    h.remove()
    (a * 2).sum().backward()
    assert calls == [1]


def _callbacks(L):
    engine = L.autograd.Variable._execution_engine
    with pytest.raises(RuntimeError, match="only be installed during backward"):
        engine.queue_callback(lambda: None)
    log = []
    v = _leaves(L, "float64")

    def second():
        log.append("second")

    def first():
        log.append(("first", v["a"].grad is not None and v["b"].grad is not None))
        engine.queue_callback(second)   # a callback may queue another: it runs too

    def hook(t, n):
        log.append(n)
        if n == "c":
            engine.queue_callback(first)

    for n, t in v.items():
        t.register_post_accumulate_grad_hook(lambda t, n=n: hook(t, n))
    SCENARIOS["three_terms"](L, v).backward()
    SCENARIOS["add"](L, v).backward()    # no callback queued in this one: nothing left over
    return log


def test_queue_callback_like_torch():
    assert _callbacks(ember) == _callbacks(torch) == ["c", "a", "b", ("first", True), "second", "a", "b"]

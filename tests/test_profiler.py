"""ember.profiler against torch.profiler: names and counts of recorded ops, record_function nesting, shapes,
memory, schedule, table, traces, and that the hooks are gone once no profile runs."""
from __future__ import annotations

import inspect
import json
import warnings

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
from ember.autograd import engine
from ember.profiler import ProfilerAction, ProfilerActivity, profile, record_function, schedule


def _prog(L):
    x = L.ones(3, 4, requires_grad=True)
    y = L.full((3, 4), 2.0)
    return (x * y + y).exp().sum()


def _keys(prof):
    return {e.key: e.count for e in prof.key_averages()}


def test_signatures_match_torch():
    import ember.profiler as EP

    for n in ("profile", "schedule", "record_function", "tensorboard_trace_handler"):
        assert list(inspect.signature(getattr(EP, n)).parameters) == list(
            inspect.signature(getattr(torch.profiler, n)).parameters), n
    assert [a.name for a in ProfilerActivity] == list(torch.profiler.ProfilerActivity.__members__)
    assert [a.name for a in ProfilerAction] == list(torch.profiler.ProfilerAction.__members__)
    for n in ("table",):
        assert list(inspect.signature(getattr(EP.EventList, n)).parameters) == list(
            inspect.signature(getattr(torch.autograd.profiler_util.EventList, n)).parameters)


def test_forward_and_backward_events_match_torchs_names():
    res = {}
    for L in (ember, torch):
        with L.profiler.profile(activities=[L.profiler.ProfilerActivity.CPU]) as prof:
            _prog(L).backward()
        res[L.__name__] = _keys(prof)
    e, t = res["ember"], res["torch"]
    for k, v in e.items():  # every event ember records is one torch records, as often
        if k.startswith("aten::") and k != "aten::mul":
            assert t.get(k) == v, (k, v, t.get(k))
        elif not k.startswith("aten::"):
            assert t.get(k) == v, (k, v, t.get(k))
    assert {"aten::mul", "aten::add", "aten::exp", "aten::sum", "MulBackward0", "AddBackward0", "ExpBackward0",
            "SumBackward0"} <= set(e)


def test_hooks_cost_nothing_outside_a_profile():
    classes = [engine.Node, engine.UnaryNode, engine.BinaryNode, engine.MultiNode]
    before = [(c.__dict__["__call__"], c.__dict__.get("backward")) for c in classes]
    with profile():
        assert engine.UnaryNode.__dict__["__call__"] is not before[1][0]  # wrapped while recording
        _prog(ember)
    assert [(c.__dict__["__call__"], c.__dict__.get("backward")) for c in classes] == before
    with record_function("nothing"):  # no profiler: a no-op
        _prog(ember)


def test_record_function_nesting_shapes_and_memory():
    m = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    x = ember.randn(4, 8)
    with profile(record_shapes=True, profile_memory=True) as prof:
        with record_function("model_inference"):
            y = m(x)
        y.sum().backward()
    evs = prof.events()
    top = [e for e in evs if e.name == "model_inference"]
    assert len(top) == 1
    top = top[0]
    kids = {c.name for c in top.cpu_children}
    assert "aten::relu" in kids and "aten::addmm" in kids
    assert top.cpu_time_total >= sum(c.cpu_time_total for c in top.cpu_children) - 1e-6
    assert abs(top.self_cpu_time_total - (top.cpu_time_total - sum(c.cpu_time_total for c in top.cpu_children))) < 1e-6
    relu = [e for e in evs if e.name == "aten::relu"][0]
    assert relu.input_shapes == [[4, 16]] and relu.cpu_memory_usage == 4 * 16 * 4
    assert top.cpu_memory_usage == 4 * 16 * 4 + 4 * 16 * 4 + 4 * 2 * 4 and top.self_cpu_memory_usage == 0
    avg = prof.key_averages(group_by_input_shape=True)
    assert {(a.key, str(a.input_shapes)) for a in avg} >= {("aten::addmm", "[[4, 8], [16, 8], [16]]"),
                                                           ("aten::addmm", "[[4, 16], [2, 16], [2]]")}
    k = {a.key: a for a in prof.key_averages()}
    assert k["aten::addmm"].count == 2 and k["AddmmBackward0"].count == 2
    assert abs(k["aten::addmm"].cpu_time - k["aten::addmm"].cpu_time_total / 2) < 1e-9


def test_table():
    with profile(profile_memory=True, record_shapes=True) as prof:
        with record_function("block"):
            _prog(ember).backward()
    t = prof.key_averages().table(sort_by="cpu_time_total", row_limit=3)
    lines = t.splitlines()
    assert lines[1].split()[:3] == ["Name", "Self", "CPU"] and "# of Calls" in lines[1] and "CPU Mem" in lines[1]
    assert lines[3].startswith("block")  # the enclosing range has the largest total
    assert len([ln for ln in lines if ln and not ln.startswith("-")]) == 1 + 3 + 1  # header, 3 rows, total
    assert lines[-1].startswith("Self CPU time total: ")
    by_count = prof.key_averages().table(sort_by="count", row_limit=100, time_unit="ms")
    assert "ms" in by_count and "us" not in by_count.replace("us ", "")
    with pytest.raises(ValueError, match="table: sort_by='bogus' is not an event attribute"):
        prof.key_averages().table(sort_by="bogus")
    assert isinstance(str(prof.key_averages()), str)


def test_schedule_matches_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kw in (dict(wait=1, warmup=1, active=2), dict(wait=2, warmup=0, active=1, repeat=2),
                   dict(wait=1, warmup=2, active=3, repeat=1, skip_first=3),
                   dict(wait=5, warmup=1, active=1, skip_first=2, skip_first_wait=1)):
            es, ts = schedule(**kw), torch.profiler.schedule(**kw)
            assert [es(i).name for i in range(30)] == [ts(i).name for i in range(30)], kw
    with pytest.raises(AssertionError, match="active=0 \\(need > 0\\)"):
        schedule(wait=1, warmup=1, active=0)
    with pytest.warns(UserWarning, match="won't be using warmup"):
        schedule(wait=1, warmup=0, active=1)


def test_scheduled_profile_hands_over_each_cycle():
    seen = []

    def ready(p):
        seen.append((p.step_num, _keys(p)))

    with profile(schedule=schedule(wait=1, warmup=1, active=2, repeat=2), on_trace_ready=ready) as prof:
        for step in range(10):
            x = ember.ones(2)
            for _ in range(step + 1):  # step k runs k+1 sins
                x = x.sin()
            prof.step()
    # cycle 1 records steps 2 and 3 (3 + 4 exps), cycle 2 steps 6 and 7 (7 + 8 exps)
    assert [(s, k.get("aten::sin")) for s, k in seen] == [(4, 7), (8, 15)]
    assert not hasattr(engine.UnaryNode.__dict__["__call__"], "__wrapped__")


def test_traces(tmp_path):
    with profile(record_shapes=True) as prof:
        with record_function("r"):
            _prog(ember).backward()
    path = tmp_path / "t.json"
    prof.export_chrome_trace(str(path))
    doc = json.loads(path.read_text())
    names = [e["name"] for e in doc["traceEvents"]]
    assert "r" in names and "aten::exp" in names and "ExpBackward0" in names
    assert all(e["ph"] == "X" and e["dur"] >= 0 for e in doc["traceEvents"])
    h = ember.profiler.tensorboard_trace_handler(str(tmp_path / "tb"), worker_name="w0")
    with profile(on_trace_ready=h):
        _prog(ember)
    files = list((tmp_path / "tb").iterdir())
    assert len(files) == 1 and files[0].name.startswith("w0.") and files[0].name.endswith(".pt.trace.json")


def test_profile_errors_and_warnings():
    with pytest.warns(UserWarning, match="ember's profiler times CPU ops only; the activities \\['CUDA'\\]"):
        profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
    with pytest.warns(UserWarning, match="with_stack=True is not supported"):
        profile(with_stack=True)
    with profile() as prof:
        with pytest.raises(RuntimeError, match="profile.key_averages\\(\\): the profile is still recording"):
            prof.key_averages()
    with pytest.raises(RuntimeError, match="the profiler is not running"):
        prof.step()
    with pytest.raises(RuntimeError, match="needs profile\\(record_shapes=True\\)"):
        prof.key_averages(group_by_input_shape=True)
    with pytest.raises(TypeError, match="activities must be ProfilerActivity values"):
        profile(activities=["cpu"])


def test_nested_profiles_and_values_unchanged():
    x = ember.randn(5, 3)
    ref = (x.exp() * 2).sum().item()
    with profile() as outer:
        with profile() as inner:
            v = (x.exp() * 2).sum().item()
        w = x.exp().sum().item()
    assert v == ref and np.isfinite(w)
    assert _keys(inner) == {"aten::exp": 1, "aten::mul": 1, "aten::sum": 1}
    assert _keys(outer) == {"aten::exp": 1, "aten::sum": 1}  # the innermost running profile gets the events
    assert not hasattr(engine.BinaryNode.__dict__["__call__"], "__wrapped__")

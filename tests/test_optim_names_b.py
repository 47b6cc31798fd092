"""optim.Adafactor, optim.Muon and optim.swap_in_optimizer_params_and_state against torch, step by step."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import ember

SHAPES = ((5, 4), (3,), (2, 3, 4))
MATS = ((5, 4), (3, 6))


def _loss(ps):
    return sum((p ** 2).sum() * 0.5 + (p ** 3).sum() * 0.1 for p in ps)


def _params(lib, shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [lib.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def _run(lib, cls, kw, dtype, shapes, steps=20, sched=False):
    ps = _params(lib, shapes, dtype)
    opt = getattr(lib.optim, cls)(ps, **kw)
    sch = lib.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5) if sched else None
    out = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(ps).backward()
        opt.step()
        if sch is not None:
            sch.step()
        out.append([p.detach().numpy().copy() for p in ps])
    return out, opt, ps


CASES = [
    ("Adafactor", {}, SHAPES),
    ("Adafactor", dict(lr=0.05, weight_decay=0.1, d=1.5), SHAPES),
    ("Adafactor", dict(eps=(1e-20, 1e-3), maximize=True, beta2_decay=-0.5, foreach=False), SHAPES),
    ("Muon", {}, MATS),
    ("Muon", dict(lr=0.02, weight_decay=0.0, nesterov=False, adjust_lr_fn="match_rms_adamw"), MATS),
    ("Muon", dict(lr=0.01, momentum=0.5, ns_steps=3, ns_coefficients=(3.0, -3.0, 1.0), eps=1e-5,
                  adjust_lr_fn="original"), MATS),
]


@pytest.mark.parametrize("cls,kw,shapes", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sched", [False, True])
def test_matches_torch_step_by_step(cls, kw, shapes, dtype, sched):
    e, _, _ = _run(ember, cls, kw, dtype, shapes, sched=sched)
    t, _, _ = _run(torch, cls, kw, dtype, shapes, sched=sched)
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    for i, (es, ts) in enumerate(zip(e, t)):
        for a, b in zip(es, ts):
            np.testing.assert_allclose(a, b, err_msg=f"{cls} step {i + 1}", **tol)


@pytest.mark.parametrize("cls,kw,shapes", [CASES[1], CASES[3]])
def test_state_dict_round_trip_and_resume(cls, kw, shapes):
    full, _, _ = _run(ember, cls, kw, "float64", shapes, steps=20)
    _, opt, ps = _run(ember, cls, kw, "float64", shapes, steps=10)
    buf = io.BytesIO()
    ember.save({"opt": opt.state_dict(), "params": [p.detach() for p in ps]}, buf)
    buf.seek(0)
    ck = ember.load(buf)
    ps2 = [ember.tensor(p.numpy(), requires_grad=True) for p in ck["params"]]
    opt2 = getattr(ember.optim, cls)(ps2, **kw)
    opt2.load_state_dict(ck["opt"])
    for _ in range(10):
        opt2.zero_grad()
        _loss(ps2).backward()
        opt2.step()
    for a, b in zip(ps2, full[-1]):
        np.testing.assert_allclose(a.detach().numpy(), b, rtol=1e-13, atol=1e-13)
    # torch loads ember's state dict and continues identically
    tps = [torch.tensor(p.numpy(), requires_grad=True) for p in ck["params"]]
    topt = getattr(torch.optim, cls)(tps, **kw)
    tsd = {"state": {k: {n: torch.tensor(v.numpy()) for n, v in s.items()} for k, s in ck["opt"]["state"].items()},
           "param_groups": ck["opt"]["param_groups"]}
    topt.load_state_dict(tsd)
    for _ in range(10):
        topt.zero_grad()
        _loss(tps).backward()
        topt.step()
    for a, b in zip(tps, full[-1]):
        np.testing.assert_allclose(a.detach().numpy(), b, rtol=1e-12, atol=1e-12)


def test_adafactor_state_layout_matches_torch():
    _, eo, _ = _run(ember, "Adafactor", {}, "float32", SHAPES, steps=1)
    _, to, _ = _run(torch, "Adafactor", {}, "float32", SHAPES, steps=1)
    es, ts = eo.state_dict(), to.state_dict()
    assert es["param_groups"][0].keys() == ts["param_groups"][0].keys()
    for k in ts["state"]:
        assert es["state"][k].keys() == ts["state"][k].keys()
        for n in ts["state"][k]:
            assert tuple(es["state"][k][n].shape) == tuple(ts["state"][k][n].shape), n
    bad = es["state"][0]["row_var"]
    es["state"][0]["row_var"] = ember.zeros(5, 4)
    with pytest.raises(ValueError, match=r"row_var.*expected \(5, 1\)"):
        eo.load_state_dict(es)
    es["state"][0]["row_var"] = bad


@pytest.mark.parametrize("cls,kw,msg", [
    ("Adafactor", dict(lr=-1.0), "Learning rate should be >= 0"),
    ("Adafactor", dict(beta2_decay=0.5), "beta2_decay should be <= 0"),
    ("Adafactor", dict(eps=(-1.0, 1e-3)), "epsilon1 should be >= 0"),
    ("Adafactor", dict(eps=(None, -1.0)), "epsilon2 should be >= 0"),
    ("Adafactor", dict(d=0.5), "Clipping threshold d should be >= 1"),
    ("Adafactor", dict(weight_decay=-0.1), "weight_decay should be >= 0"),
    ("Muon", dict(lr=-1.0), "Learning rate should be >= 0"),
    ("Muon", dict(momentum=-1.0), "momentum should be >= 0"),
    ("Muon", dict(weight_decay=-1.0), "weight decay should be >= 0"),
    ("Muon", dict(adjust_lr_fn="bogus"), "Adjust learning rate function bogus is not supported"),
])
def test_bad_hyperparameters_raise_as_torch(cls, kw, msg):
    for lib in (torch, ember):
        with pytest.raises(ValueError, match=msg):
            getattr(lib.optim, cls)(_params(lib, MATS, "float32"), **kw)


def test_muon_rejects_non_matrices_and_too_many_ns_steps():
    for lib in (torch, ember):
        with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
            lib.optim.Muon(_params(lib, ((3,),), "float32"))
        ps = _params(lib, MATS, "float32")
        opt = lib.optim.Muon(ps, ns_steps=100)
        _loss(ps).backward()
        with pytest.raises(ValueError, match="Number of steps must be less than 100"):
            opt.step()


def _swap(lib):
    m = lib.nn.Linear(3, 2)
    with torch.no_grad() if lib is torch else ember.no_grad():
        m.weight.copy_(lib.tensor([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]))
        m.bias.copy_(lib.tensor([0.05, -0.05]))
    opt = lib.optim.AdamW(m.parameters(), lr=0.1)
    x = lib.tensor([[1.0, 2.0, 3.0]])
    m(x).sum().backward()
    opt.step()
    shadow = {n: lib.nn.Parameter(p.detach().clone()) for n, p in m.named_parameters()}
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.5
    for p in shadow.values():
        p.grad = lib.ones_like(p)
    with lib.optim.swap_in_optimizer_params_and_state(opt, shadow, sd):
        assert opt.param_groups[0]["lr"] == 0.5
        opt.step()
    assert opt.param_groups[0]["lr"] == 0.1
    return ([p.detach().numpy().copy() for p in shadow.values()], [p.detach().numpy().copy() for p in m.parameters()],
            float(sd["state"][0]["step"]), float(opt.state[m.weight]["step"]))


def test_swap_in_optimizer_params_and_state_matches_torch():
    e, t = _swap(ember), _swap(torch)
    for a, b in zip(e[0] + e[1], t[0] + t[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert e[2:] == t[2:] == (2.0, 2.0)  # state_dict shares the step tensor, updated in place (as torch)


def test_swap_in_errors():
    w = ember.nn.Parameter(ember.ones(2))
    opt = ember.optim.SGD([w], lr=0.1)
    with pytest.raises(RuntimeError, match="requires initialized optimizer state"):
        with ember.optim.swap_in_optimizer_params_and_state(opt, {"w": w}, opt.state_dict()):
            pass
    opt = ember.optim.Adam([w])
    w.grad = ember.ones(2)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(RuntimeError, match="different number of parameter groups"):
        with ember.optim.swap_in_optimizer_params_and_state(opt, {"w": w}, {"state": {}, "param_groups": []}):
            pass
    sd["param_groups"][0]["bogus"] = 1
    with pytest.raises(RuntimeError, match=r"Keys only in swap-in: \['bogus'\]"):
        with ember.optim.swap_in_optimizer_params_and_state(opt, {"w": w}, sd):
            pass

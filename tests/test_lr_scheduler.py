"""ember.optim.lr_scheduler against torch.optim.lr_scheduler: 30-step lr sequences, state dicts, errors."""

import math

import numpy as np
import pytest

import ember
import ember.optim as eoptim
from ember.optim import lr_scheduler as E

torch = pytest.importorskip("torch")
T = torch.optim.lr_scheduler


def _opts(opt_name="SGD", lrs=(0.1, 0.05), **kw):
    tp = [torch.zeros(2, requires_grad=True) for _ in lrs]
    ep = [ember.tensor(np.zeros(2, np.float32), requires_grad=True) for _ in lrs]
    tgroups = [{"params": [p], "lr": lr} for p, lr in zip(tp, lrs)]
    egroups = [{"params": [p], "lr": lr} for p, lr in zip(ep, lrs)]
    return getattr(torch.optim, opt_name)(tgroups, **kw), getattr(eoptim, opt_name)(egroups, **kw)


def _momenta(opt):
    out = []
    for g in opt.param_groups:
        out.append(g["betas"][0] if "betas" in g else g.get("momentum"))
    return out


def _compare(make, steps=30, opt_name="SGD", opt_kw=None, lrs=(0.1, 0.05), check_momentum=False):
    topt, eopt = _opts(opt_name, lrs, **(opt_kw if opt_kw is not None else {"momentum": 0.9}))
    ts, es = make(T, topt), make(E, eopt)
    assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12, abs=0)
    for step in range(steps):
        topt.step()
        eopt.step()
        ts.step()
        es.step()
        tl, el = ts.get_last_lr(), es.get_last_lr()
        assert el == pytest.approx(tl, rel=1e-12, abs=1e-300), f"step {step + 1}: {el} != {tl}"
        assert [g["lr"] for g in eopt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups],
                                                                        rel=1e-12, abs=1e-300)
        if check_momentum:
            assert _momenta(eopt) == pytest.approx(_momenta(topt), rel=1e-12), f"momentum, step {step + 1}"
    # same state-dict keys as torch, so checkpoints map one to one
    assert set(es.state_dict()) == set(ts.state_dict())
    return ts, es


class Scale:
    """A callable object: its __dict__ is saved in the scheduler's state dict (as torch)."""

    def __init__(self, k):
        self.k = k

    def __call__(self, epoch):
        return self.k ** epoch


SCHEDULES = {
    "lambda": lambda M, o: M.LambdaLR(o, lambda e: 0.9**e + 0.01 * e),
    "lambda-per-group": lambda M, o: M.LambdaLR(o, [lambda e: 1 / (e + 1), Scale(0.95)]),
    "multiplicative": lambda M, o: M.MultiplicativeLR(o, lambda e: 0.95 if e % 2 else 0.99),
    "step": lambda M, o: M.StepLR(o, step_size=7, gamma=0.5),
    "step-default": lambda M, o: M.StepLR(o, step_size=3),
    "multistep": lambda M, o: M.MultiStepLR(o, milestones=[3, 8, 8, 20], gamma=0.3),
    "constant": lambda M, o: M.ConstantLR(o, factor=0.25, total_iters=6),
    "constant-default": lambda M, o: M.ConstantLR(o),
    "linear": lambda M, o: M.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=10),
    "linear-decay": lambda M, o: M.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=25),
    "exponential": lambda M, o: M.ExponentialLR(o, gamma=0.87),
    "polynomial": lambda M, o: M.PolynomialLR(o, total_iters=20, power=2.0),
    "polynomial-default": lambda M, o: M.PolynomialLR(o),
    "cosine": lambda M, o: M.CosineAnnealingLR(o, T_max=10),
    "cosine-eta-min": lambda M, o: M.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "cosine-long": lambda M, o: M.CosineAnnealingLR(o, T_max=40, eta_min=1e-4),
    "warm-restarts": lambda M, o: M.CosineAnnealingWarmRestarts(o, T_0=5),
    "warm-restarts-mult": lambda M, o: M.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.002),
    "sequential": lambda M, o: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.1, total_iters=5), M.CosineAnnealingLR(o, T_max=20)], milestones=[5]),
    "sequential-3": lambda M, o: M.SequentialLR(
        o, [M.ConstantLR(o, factor=0.5, total_iters=4), M.ExponentialLR(o, gamma=0.9),
            M.StepLR(o, step_size=4, gamma=0.5)], milestones=[6, 15]),
    "chained": lambda M, o: M.ChainedScheduler(
        [M.ConstantLR(o, factor=0.1, total_iters=8), M.ExponentialLR(o, gamma=0.9)]),
    "chained-3": lambda M, o: M.ChainedScheduler(
        [M.LinearLR(o, start_factor=0.2, total_iters=6), M.MultiStepLR(o, [10, 20], 0.5),
         M.CosineAnnealingLR(o, T_max=12)], optimizer=o),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_lr_sequence_matches_torch(name):
    _compare(SCHEDULES[name])


CYCLIC = {
    "triangular": dict(base_lr=0.01, max_lr=0.1, step_size_up=4),
    "triangular-asym": dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.2], step_size_up=3, step_size_down=5),
    "triangular2": dict(base_lr=0.01, max_lr=0.1, step_size_up=3, mode="triangular2"),
    "exp_range": dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="exp_range", gamma=0.95),
    "custom": dict(base_lr=0.01, max_lr=0.1, step_size_up=4, scale_fn=lambda x: 1 / (1 + x),
                   scale_mode="iterations"),
    "momentum": dict(base_lr=0.01, max_lr=0.1, step_size_up=5, base_momentum=0.7, max_momentum=0.95),
}


@pytest.mark.parametrize("name", list(CYCLIC))
def test_cyclic_lr(name):
    kw = CYCLIC[name]
    _compare(lambda M, o: M.CyclicLR(o, **kw), check_momentum=True)


def test_cyclic_lr_with_adam_betas_and_without_momentum():
    _compare(lambda M, o: M.CyclicLR(o, 0.001, 0.01, step_size_up=6), opt_name="Adam", opt_kw={},
             check_momentum=True)
    _compare(lambda M, o: M.CyclicLR(o, 0.001, 0.01, step_size_up=6, cycle_momentum=False), opt_name="Adagrad",
             opt_kw={})


ONECYCLE = {
    "cos": dict(max_lr=0.1, total_steps=30),
    "linear": dict(max_lr=[0.1, 0.3], total_steps=30, anneal_strategy="linear", pct_start=0.4),
    "three-phase": dict(max_lr=0.2, epochs=3, steps_per_epoch=10, three_phase=True, div_factor=10.0),
    "no-momentum": dict(max_lr=0.1, total_steps=35, cycle_momentum=False, final_div_factor=100.0),
    "momentum-range": dict(max_lr=0.1, total_steps=31, base_momentum=0.8, max_momentum=0.9),
}


@pytest.mark.parametrize("name", list(ONECYCLE))
def test_one_cycle_lr(name):
    kw = ONECYCLE[name]
    _compare(lambda M, o: M.OneCycleLR(o, **kw), steps=29, check_momentum=True)


def test_one_cycle_with_adam_betas():
    _compare(lambda M, o: M.OneCycleLR(o, max_lr=0.01, total_steps=40, three_phase=True), opt_name="Adam",
             opt_kw={"betas": (0.9, 0.99)}, check_momentum=True)


def test_one_cycle_past_total_steps():
    _, eopt = _opts()
    s = E.OneCycleLR(eopt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        eopt.step()
        s.step()
    eopt.step()
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
        s.step()


PLATEAU = {
    "min-rel": dict(),
    "min-abs-cooldown": dict(threshold_mode="abs", threshold=0.05, patience=2, cooldown=3, factor=0.5),
    "max-rel": dict(mode="max", patience=1, factor=0.3, threshold=0.01),
    "max-abs-minlr": dict(mode="max", threshold_mode="abs", patience=0, factor=0.5, min_lr=[0.02, 0.001]),
    "eps": dict(patience=0, factor=0.5, min_lr=0.09, eps=1e-3),
}


@pytest.mark.parametrize("name", list(PLATEAU))
def test_reduce_lr_on_plateau(name):
    kw = PLATEAU[name]
    metrics = [1.0, 0.9, 0.9, 0.95, 0.9, 0.89999, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.79, 0.85,
               0.85, 0.85, 0.6, 0.7, 0.9, 1.1, 1.1, 1.1, 1.0, 0.95, 1.2, 1.25] * 2
    topt, eopt = _opts()
    ts, es = T.ReduceLROnPlateau(topt, **kw), E.ReduceLROnPlateau(eopt, **kw)
    seen = set()
    for step, m in enumerate(metrics):
        topt.step()
        eopt.step()
        ts.step(m)
        es.step(ember.tensor(m, dtype=ember.float64) if step % 2 else m)
        assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12), f"step {step}"
        assert (es.best, es.num_bad_epochs, es.cooldown_counter) == (ts.best, ts.num_bad_epochs, ts.cooldown_counter)
        seen.add(tuple(es.get_last_lr()))
    assert len(seen) > 1  # the schedule did reduce
    assert set(es.state_dict()) == set(ts.state_dict())


def test_plateau_state_dict_round_trip():
    _, eopt = _opts()
    s = E.ReduceLROnPlateau(eopt, mode="max", patience=1, factor=0.5)
    for m in [1, 2, 2, 2, 3]:
        s.step(m)
    sd = s.state_dict()
    _, eopt2 = _opts()
    s2 = E.ReduceLROnPlateau(eopt2)
    s2.load_state_dict(sd)
    assert (s2.mode, s2.best, s2.patience, s2.factor) == ("max", 3.0, 1, 0.5)
    for m in [3, 3, 3]:
        s.step(m)
        s2.step(m)
        assert s.num_bad_epochs == s2.num_bad_epochs and s.best == s2.best


ROUND_TRIP = ["lambda-per-group", "multiplicative", "step", "multistep", "linear", "polynomial", "cosine-eta-min",
              "warm-restarts-mult", "sequential", "chained"]


@pytest.mark.parametrize("name", ROUND_TRIP + ["cyclic", "onecycle"])
def test_state_dict_round_trip(name, tmp_path):
    make = SCHEDULES.get(name) or {
        "cyclic": lambda M, o: M.CyclicLR(o, 0.01, 0.1, step_size_up=4, mode="triangular2"),
        "onecycle": lambda M, o: M.OneCycleLR(o, 0.1, total_steps=40),
    }[name]
    _, opt = _opts()
    sched = make(E, opt)
    for _ in range(10):
        opt.step()
        sched.step()
    opt_sd, sched_sd = opt.state_dict(), sched.state_dict()
    # through a checkpoint file: nothing in either state dict needs code to load
    ember.save({"opt": opt_sd, "sched": sched_sd}, tmp_path / "ckpt")
    loaded = ember.load(tmp_path / "ckpt")
    opt_sd, sched_sd = loaded["opt"], loaded["sched"]
    _, opt2 = _opts(lrs=(0.7, 0.7))
    sched2 = make(E, opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sched_sd)
    for step in range(20):
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr(), f"step {step}"
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]


def test_lambda_state_dict_stores_only_callable_objects():
    _, opt = _opts()
    scale = Scale(0.9)
    s = E.LambdaLR(opt, [lambda e: 1.0, scale])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [None, {"k": 0.9}]
    assert "optimizer" not in sd
    other = Scale(0.5)
    s2 = E.LambdaLR(opt, [lambda e: 1.0, other])
    s2.load_state_dict(sd)
    assert other.k == 0.9


def test_first_step_at_construction_and_initial_lr():
    _, opt = _opts()
    s = E.StepLR(opt, step_size=2, gamma=0.5)
    assert s.last_epoch == 0
    assert s.base_lrs == [0.1, 0.05]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.05]
    with pytest.raises(KeyError, match="initial_lr"):
        _, fresh = _opts()
        E.StepLR(fresh, step_size=2, last_epoch=4)


def test_resume_with_last_epoch_matches_torch():
    topt, eopt = _opts()
    for o in (topt, eopt):
        for g in o.param_groups:
            g["initial_lr"] = g["lr"]
    ts = T.CosineAnnealingLR(topt, T_max=10, last_epoch=3)
    es = E.CosineAnnealingLR(eopt, T_max=10, last_epoch=3)
    for _ in range(8):
        topt.step()
        eopt.step()
        ts.step()
        es.step()
        assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)


def test_step_with_epoch_uses_closed_form():
    topt, eopt = _opts()
    ts, es = T.StepLR(topt, 3, 0.5), E.StepLR(eopt, 3, 0.5)
    topt.step()
    eopt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        ts.step(7)
    with pytest.warns(UserWarning, match="epoch parameter"):
        es.step(7)
    assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)


def test_warm_restarts_fractional_epochs():
    topt, eopt = _opts()
    ts = T.CosineAnnealingWarmRestarts(topt, T_0=4, T_mult=2)
    es = E.CosineAnnealingWarmRestarts(eopt, T_0=4, T_mult=2)
    for epoch in np.arange(0, 20, 0.25):
        ts.step(float(epoch))
        es.step(float(epoch))
        assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)


def test_scheduler_before_optimizer_step_warns():
    _, opt = _opts()
    s = E.ExponentialLR(opt, gamma=0.5)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()


def test_get_lr_outside_step_warns():
    _, opt = _opts()
    s = E.ExponentialLR(opt, gamma=0.5)
    with pytest.warns(UserWarning, match="get_last_lr"):
        s.get_lr()


def test_scheduler_errors():
    _, opt = _opts()
    _, adagrad = _opts("Adagrad")
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        E.StepLR([], step_size=2)
    with pytest.raises(ValueError, match="step_size must be a positive number"):
        E.StepLR(opt, step_size=0)
    lr0 = [g["lr"] for g in opt.param_groups]
    sched = E.StepLR(opt, 1.0, gamma=0.5)  # torch takes a float step size (the text-classification tutorial)
    opt.step()
    sched.step()
    assert sched.get_last_lr() == [lr / 2 for lr in lr0]
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas|expected 2 lr_lambdas"):
        E.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(TypeError, match="lr_lambda should be a function, but got float"):
        E.MultiplicativeLR(opt, 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        E.ConstantLR(opt, factor=2.0)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        E.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="Expected positive integer T_0, but got 0"):
        E.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="Expected integer T_mult >= 1, but got 0"):
        E.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="mode 'bogus' is invalid"):
        E.CyclicLR(opt, 0.01, 0.1, mode="bogus")
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        E.CyclicLR(adagrad, 0.01, 0.1)
    with pytest.raises(ValueError, match="max_lr must have the same length as optimizer.param_groups"):
        E.CyclicLR(opt, 0.01, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="total_steps OR \\(epochs AND steps_per_epoch\\)"):
        E.OneCycleLR(opt, 0.1)
    with pytest.raises(ValueError, match="pct_start"):
        E.OneCycleLR(opt, 0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy must be one of"):
        E.OneCycleLR(opt, 0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        E.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode 'mean' is unknown"):
        E.ReduceLROnPlateau(opt, mode="mean")
    with pytest.raises(ValueError, match="threshold mode 'pct' is unknown"):
        E.ReduceLROnPlateau(opt, threshold_mode="pct")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        E.ReduceLROnPlateau(opt, min_lr=[0, 0, 0])
    with pytest.raises(TypeError, match="metrics must be a number"):
        E.ReduceLROnPlateau(opt).step("low")
    a = E.StepLR(opt, 3)
    with pytest.raises(ValueError, match="one more than the number of milestone points"):
        E.SequentialLR(opt, [a], milestones=[3])
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        E.ChainedScheduler([a, E.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="same optimizer"):
        E.SequentialLR(adagrad, [E.StepLR(adagrad, 2), a], milestones=[2])
    with pytest.raises(ValueError, match="at least one scheduler"):
        E.ChainedScheduler([])


def test_bad_scheduler_state_dicts():
    _, opt = _opts()
    s = E.StepLR(opt, 3)
    cos_sd = E.CosineAnnealingLR(opt, T_max=5).state_dict()
    with pytest.raises(ValueError, match=r"StepLR\.load_state_dict: unexpected keys \['T_max', 'eta_min'\]"):
        s.load_state_dict(cos_sd)
    with pytest.raises(ValueError, match=r"unexpected keys \['optimizer'\]"):
        s.load_state_dict({"optimizer": None})
    with pytest.raises(TypeError, match="expected a dict, got list"):
        s.load_state_dict([])
    seq = E.SequentialLR(opt, [E.StepLR(opt, 3), E.StepLR(opt, 4)], milestones=[2])
    sd = seq.state_dict()
    sd["_schedulers"] = sd["_schedulers"][:1]
    with pytest.raises(ValueError, match="holds 1 schedulers, this one has 2"):
        seq.load_state_dict(sd)


def test_state_dict_holds_no_code():
    _, opt = _opts()
    for s in [E.LambdaLR(opt, lambda e: 1.0), E.CyclicLR(opt, 0.01, 0.1, scale_fn=lambda x: 1.0),
              E.OneCycleLR(opt, 0.1, total_steps=10), E.MultiStepLR(opt, [2, 3])]:
        def walk(v):
            assert not callable(v), v
            if isinstance(v, dict):
                for x in v.values():
                    walk(x)
            elif isinstance(v, (list, tuple)):
                for x in v:
                    walk(x)
        walk(s.state_dict())
    assert math.isinf(E.ReduceLROnPlateau(opt).state_dict()["best"])

"""ember.optim against torch.optim: 10-step trajectories, param groups, state dicts, errors."""

import numpy as np
import pytest

import ember
import ember.optim as eoptim

torch = pytest.importorskip("torch")

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def _params(dtype, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    tp = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    ep = [ember.tensor(a.copy(), requires_grad=True) for a in arrays]
    return tp, ep


def _grads(dtype, steps, seed=1, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]


def _set_grads(tp, ep, gs, skip=()):
    for i, (t, e, g) in enumerate(zip(tp, ep, gs)):
        if i in skip:
            t.grad = None
            e.grad = None
        else:
            t.grad = torch.tensor(g.copy())
            e.grad = ember.tensor(g.copy())


def _np(t):
    return np.array(t.detach().numpy() if hasattr(t, "detach") else t._data)


def _assert_params(tp, ep, rtol, atol, where=""):
    for i, (t, e) in enumerate(zip(tp, ep)):
        np.testing.assert_allclose(_np(e), t.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"param {i} {where}")


def _tol(dtype):
    return (1e-6, 1e-9) if dtype == np.float64 else (1e-5, 1e-6)


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True, weight_decay=0.1)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), maximize=True, amsgrad=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.02, weight_decay=0.5, amsgrad=True)),
    ("AdamW", dict(lr=0.02, maximize=True, eps=1e-3)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, maximize=True, eps=1e-4)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, maximize=True, eps=1e-5)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.5, weight_decay=0.1, eps=1e-4)),
    ("Adadelta", dict(maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.9), maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, momentum_decay=1e-2, maximize=True, betas=(0.8, 0.95))),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, betas=(0.9, 0.99))),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, maximize=True)),
]


def _case_id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


def _run_pair(name, kw, dtype, steps=10, skip_every=None):
    tp, ep = _params(dtype)
    topt = getattr(torch.optim, name)(tp, **kw)
    eopt = getattr(eoptim, name)(ep, **kw)
    rtol, atol = _tol(dtype)
    for step, gs in enumerate(_grads(dtype, steps)):
        skip = (1,) if skip_every and step % skip_every == 0 else ()
        _set_grads(tp, ep, gs, skip)
        topt.step()
        eopt.step()
        _assert_params(tp, ep, rtol, atol, f"after step {step + 1}")
    return topt, eopt


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_trajectory_float64(case):
    name, kw = case
    topt, eopt = _run_pair(name, kw, np.float64)
    # the optimizer state matches torch's too, key for key
    tsd, esd = topt.state_dict(), eopt.state_dict()
    assert sorted(tsd["state"]) == sorted(esd["state"])
    for i, tstate in tsd["state"].items():
        assert sorted(tstate) == sorted(esd["state"][i])
        for k, v in tstate.items():
            ev = esd["state"][i][k]
            assert isinstance(ev, ember.Tensor), (k, type(ev))
            np.testing.assert_allclose(_np(ev), v.numpy(), rtol=1e-6, atol=1e-9, err_msg=k)
            assert _np(ev).dtype == v.numpy().dtype, k


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
                                  "RAdam"])
def test_trajectory_float32_with_missing_grads(name):
    kw = {"lr": 0.01} if name != "SGD" else {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}
    if name in ("Adam", "AdamW", "NAdam", "RAdam", "Adamax", "RMSprop", "Adagrad", "Adadelta"):
        kw["weight_decay"] = 0.01
    # param 1 gets no gradient every other step: its state must stay untouched then
    _run_pair(name, kw, np.float32, skip_every=2)


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, maximize=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adadelta", dict(weight_decay=0.1)),
    ("Adamax", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
])
def test_chunked_parallel_update_matches_torch(name, kw, monkeypatch):
    # big parameters are updated in chunks by worker threads: force that path (3 uneven chunks)
    from ember.optim import optimizer as base
    from ember.optim import sgd as sgd_module

    monkeypatch.setattr(base, "_PAR_MIN", 4)
    monkeypatch.setattr(base, "_num_threads", lambda: 3)
    monkeypatch.setattr(sgd_module, "_SGD_PARALLEL", True)
    _run_pair(name, kw, np.float64, steps=8, skip_every=3)
    noncontig = ember.tensor(np.ones((6, 4)).T, requires_grad=True)  # not C-contiguous: serial path
    opt = getattr(eoptim, name)([noncontig], **kw)
    ref = torch.ones((6, 4), dtype=torch.float64).T.clone().requires_grad_()
    topt = getattr(torch.optim, name)([ref], **kw)
    for gs in _grads(np.float64, 3, shapes=[(4, 6)]):
        noncontig.grad = ember.tensor(gs[0])
        ref.grad = torch.tensor(gs[0])
        opt.step()
        topt.step()
    np.testing.assert_allclose(_np(noncontig), ref.detach().numpy(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1)),
    ("Adadelta", dict(weight_decay=0.1)),
    ("Adamax", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01)),
])
def test_one_thread_chunked_update_matches_torch(name, kw, monkeypatch):
    # one thread: big contiguous parameters are updated chunk by chunk (cache-sized); force uneven chunks
    from ember.optim import optimizer as base

    monkeypatch.setattr(base, "_CHUNK", 5)
    monkeypatch.setattr(base, "_num_threads", lambda: 1)
    _run_pair(name, kw, np.float64, steps=6, skip_every=3)


def test_params_stay_float32_and_in_place():
    _, ep = _params(np.float32)
    ids = [id(e._data) for e in ep]
    opt = eoptim.Adam(ep, lr=0.1)
    for gs in _grads(np.float32, 3):
        for e, g in zip(ep, gs):
            e.grad = ember.tensor(g)
        opt.step()
    assert [id(e._data) for e in ep] == ids
    assert all(e._data.dtype == np.float32 for e in ep)
    assert all(s["exp_avg"]._data.dtype == np.float32 for s in opt.state.values())


def test_param_groups_with_different_hyperparameters():
    tp, ep = _params(np.float64)
    tgroups = [{"params": tp[:2], "lr": 0.1}, {"params": tp[2:], "lr": 0.01, "momentum": 0.5}]
    egroups = [{"params": ep[:2], "lr": 0.1}, {"params": ep[2:], "lr": 0.01, "momentum": 0.5}]
    topt = torch.optim.SGD(tgroups, lr=1.0, momentum=0.9, nesterov=False)
    eopt = eoptim.SGD(egroups, lr=1.0, momentum=0.9)
    assert eopt.param_groups[0]["momentum"] == 0.9 and eopt.param_groups[1]["momentum"] == 0.5
    for step, gs in enumerate(_grads(np.float64, 10)):
        _set_grads(tp, ep, gs)
        topt.step()
        eopt.step()
        _assert_params(tp, ep, 1e-6, 1e-9, f"step {step}")
    assert ({k for k in topt.param_groups[0] if k != "params"} ==
            {k for k in eopt.param_groups[0] if k != "params"})


def test_add_param_group_and_lr_change_mid_run():
    tp, ep = _params(np.float64)
    topt = torch.optim.Adam(tp[:1], lr=0.01)
    eopt = eoptim.Adam(ep[:1], lr=0.01)
    gs_all = _grads(np.float64, 10)
    for step, gs in enumerate(gs_all):
        if step == 3:
            topt.add_param_group({"params": tp[1:], "lr": 0.05, "amsgrad": True})
            eopt.add_param_group({"params": ep[1:], "lr": 0.05, "amsgrad": True})
        if step == 6:
            topt.param_groups[0]["lr"] = 0.002
            eopt.param_groups[0]["lr"] = 0.002
        _set_grads(tp, ep, gs)
        topt.step()
        eopt.step()
        _assert_params(tp, ep, 1e-6, 1e-9, f"step {step}")


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adadelta", dict()),
    ("Adamax", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01)),
])
def test_state_dict_round_trip_mid_run(name, kw):
    gs_all = _grads(np.float64, 10)
    # uninterrupted reference
    _, ref = _params(np.float64)
    ref_opt = getattr(eoptim, name)([{"params": ref[:1]}, {"params": ref[1:], "lr": 0.03}], **kw)
    for gs in gs_all:
        for e, g in zip(ref, gs):
            e.grad = ember.tensor(g)
        ref_opt.step()
    # interrupted at step 5: state dict into a brand-new optimizer over copies of the parameters
    _, ep = _params(np.float64)
    opt = getattr(eoptim, name)([{"params": ep[:1]}, {"params": ep[1:], "lr": 0.03}], **kw)
    for gs in gs_all[:5]:
        for e, g in zip(ep, gs):
            e.grad = ember.tensor(g)
        opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1, 2]
    ep2 = [ember.tensor(_np(e).copy(), requires_grad=True) for e in ep]
    opt2 = getattr(eoptim, name)([{"params": ep2[:1]}, {"params": ep2[1:]}], **kw)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.03
    # the loaded state is a copy: the old optimizer moving on must not change it
    for gs in gs_all[5:7]:
        for e, g in zip(ep, gs):
            e.grad = ember.tensor(g)
        opt.step()
    for gs in gs_all[5:]:
        for e, g in zip(ep2, gs):
            e.grad = ember.tensor(g)
        opt2.step()
    for r, e in zip(ref, ep2):
        np.testing.assert_allclose(_np(e), _np(r), rtol=1e-12, atol=1e-14)


def test_state_dict_matches_torch_layout_and_loads_torch_state():
    tp, ep = _params(np.float64)
    topt = torch.optim.Adam(tp, lr=0.01)
    eopt = eoptim.Adam(ep, lr=0.01)
    for gs in _grads(np.float64, 3):
        _set_grads(tp, ep, gs)
        topt.step()
        eopt.step()
    tsd, esd = topt.state_dict(), eopt.state_dict()
    assert [g["params"] for g in tsd["param_groups"]] == [g["params"] for g in esd["param_groups"]]
    assert set(tsd["param_groups"][0]) == set(esd["param_groups"][0])
    # a torch state dict (tensors converted to ember) continues identically in ember
    converted = {
        "state": {i: {k: ember.tensor(v.numpy()) for k, v in s.items()} for i, s in tsd["state"].items()},
        "param_groups": tsd["param_groups"],
    }
    ep2 = [ember.tensor(t.detach().numpy().copy(), requires_grad=True) for t in tp]
    eopt2 = eoptim.Adam(ep2, lr=0.5)
    eopt2.load_state_dict(converted)
    assert eopt2.param_groups[0]["lr"] == 0.01
    for gs in _grads(np.float64, 4, seed=7):
        _set_grads(tp, ep2, gs)
        topt.step()
        eopt2.step()
    _assert_params(tp, ep2, 1e-6, 1e-9)


def test_state_dict_with_string_indices_and_ember_save(tmp_path):
    _, ep = _params(np.float32)
    opt = eoptim.SGD(ep, lr=0.1, momentum=0.9)
    for gs in _grads(np.float32, 2):
        for e, g in zip(ep, gs):
            e.grad = ember.tensor(g)
        opt.step()
    sd = opt.state_dict()
    # a file format may bring integer keys back as strings: accepted
    as_str = {"state": {str(k): v for k, v in sd["state"].items()}, "param_groups": sd["param_groups"]}
    opt2 = eoptim.SGD([ember.tensor(_np(e).copy(), requires_grad=True) for e in ep], lr=0.1, momentum=0.9)
    opt2.load_state_dict(as_str)
    assert sorted(opt2.state_dict()["state"]) == [0, 1, 2]
    if not hasattr(ember, "save"):
        pytest.skip("ember.save not available yet")
    path = tmp_path / "opt.ckpt"
    ember.save(sd, path)
    loaded = ember.load(path)
    opt3 = eoptim.SGD([ember.tensor(_np(e).copy(), requires_grad=True) for e in ep], lr=0.1, momentum=0.9)
    opt3.load_state_dict(loaded)
    for i, s in sd["state"].items():
        np.testing.assert_array_equal(_np(opt3.state_dict()["state"][i]["momentum_buffer"]),
                                      _np(s["momentum_buffer"]))


def test_zero_grad():
    _, ep = _params(np.float32)
    opt = eoptim.SGD(ep, lr=0.1)
    for e in ep:
        e.grad = ember.tensor(np.ones(e.shape, np.float32))
    opt.zero_grad(set_to_none=False)
    assert all(e.grad is not None and not _np(e.grad).any() for e in ep)
    opt.zero_grad()
    assert all(e.grad is None for e in ep)
    opt.step()  # no grads: nothing happens
    assert len(opt.state) == 0


def test_closure_is_called_and_its_loss_returned():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    opt = eoptim.SGD([w], lr=0.5)
    calls = []

    def closure():
        calls.append(1)
        w.grad = ember.tensor([1.0, -1.0])
        return 3.5

    assert opt.step(closure) == 3.5
    assert calls == [1]
    np.testing.assert_allclose(_np(w), [0.5, 2.5])


def test_state_keyed_by_parameter_and_repr():
    _, ep = _params(np.float32)
    opt = eoptim.Adam(ep, lr=0.1)
    for e in ep:
        e.grad = ember.tensor(np.ones(e.shape, np.float32))
    opt.step()
    assert set(map(id, opt.state)) == set(map(id, ep))
    assert float(opt.state[ep[0]]["step"]) == 1.0
    r = repr(opt)
    assert r.startswith("Adam (") and "Parameter Group 0" in r and "lr: 0.1" in r


# ----------------------------------------------------------------------------- errors
BAD = [
    ("SGD", dict(lr=-1), "Invalid learning rate: -1"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    ("SGD", dict(lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "zero dampening"),
    ("Adam", dict(lr=-1), "Invalid learning rate: -1"),
    ("Adam", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("Adam", dict(betas=0.9), "betas must be a pair"),
    ("AdamW", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("RMSprop", dict(alpha=-0.1), "Invalid alpha value: -0.1"),
    ("RMSprop", dict(momentum=-1), "Invalid momentum value: -1"),
    ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("Adamax", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("NAdam", dict(momentum_decay=-1), "Invalid momentum_decay value: -1"),
    ("RAdam", dict(eps=-1), "Invalid epsilon value: -1"),
    ("SGD", dict(lr="fast"), "lr must be a number"),
    ("Adam", dict(fused=True), "fused=True is not supported"),
]


@pytest.mark.parametrize("name,kw,msg", BAD, ids=[f"{n}-{m[:20]}" for n, _, m in BAD])
def test_bad_hyperparameters(name, kw, msg):
    w = ember.tensor([1.0], requires_grad=True)
    kw = {"lr": 0.1, **kw} if name == "SGD" else kw
    exc = (ValueError, TypeError, NotImplementedError)
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(".", r"\.")):
        getattr(eoptim, name)([w], **kw)


def test_bad_group_override_is_checked():
    a = ember.tensor([1.0], requires_grad=True)
    b = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.5"):
        eoptim.Adam([{"params": [a]}, {"params": [b], "lr": -0.5}])


def test_bad_params():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="single Tensor"):
        eoptim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        eoptim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors.*params\\[1\\].*ndarray"):
        eoptim.SGD([a, np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        eoptim.SGD({a}, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        eoptim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)
    opt = eoptim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": a})
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([a])
    with pytest.raises(TypeError, match="floating-point"):
        eoptim.SGD([ember.tensor([1, 2])], lr=0.1)
    with pytest.warns(UserWarning, match="more than once"):
        eoptim.SGD([ember.tensor([1.0]), ember.tensor([2.0])] * 2, lr=0.1)


def test_non_leaf_rejected():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    b = a * 2
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        eoptim.Adam([b])


def test_grad_shape_mismatch_is_a_clear_error():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    opt = eoptim.SGD([a], lr=0.1)
    with pytest.raises(RuntimeError, match="attempting to assign a gradient of size"):  # torch's check
        a.grad = ember.tensor([1.0, 2.0, 3.0])
    a.__dict__["grad"] = ember.tensor([1.0, 2.0, 3.0])  # past the setter: the optimizer still names it
    with pytest.raises(RuntimeError, match=r"SGD\.step: gradient shape \(3,\) does not match parameter shape \(2,\)"):
        opt.step()


def test_bad_state_dicts():
    _, ep = _params(np.float64)
    opt = eoptim.Adam([{"params": ep[:2]}, {"params": ep[2:]}], lr=0.1)
    for e in ep:
        e.grad = ember.tensor(np.ones(e.shape))
    opt.step()
    sd = opt.state_dict()
    other = eoptim.Adam(ep, lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups \\(2\\) than the optimizer \\(1\\)"):
        other.load_state_dict(sd)
    swapped = eoptim.Adam([{"params": ep[:1]}, {"params": ep[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group: group 0 has 2"):
        swapped.load_state_dict(sd)
    with pytest.raises(ValueError, match="expected a dict with keys 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    with pytest.raises(ValueError, match="expected a dict with keys"):
        opt.load_state_dict([1, 2])
    shapes = [(4, 3), (3,), (8,)]
    _, ep2 = _params(np.float64, shapes=shapes)
    opt2 = eoptim.Adam([{"params": ep2[:2]}, {"params": ep2[2:]}], lr=0.1)
    before = opt2.state_dict()
    with pytest.raises(ValueError, match=r"state\[2\]\['exp_avg'\] has shape \(2, 2, 2\) but its parameter has shape \(8,\)"):
        opt2.load_state_dict(sd)
    assert opt2.state_dict()["state"] == before["state"]  # unchanged on error
    bad = {"state": {7: {}}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match="state entry 7 refers to no parameter"):
        opt.load_state_dict(bad)


def test_state_dict_from_another_optimizer_is_rejected_clearly():
    _, ep = _params(np.float64)
    sgd = eoptim.SGD(ep, lr=0.1, momentum=0.9)
    for e in ep:
        e.grad = ember.tensor(np.ones(e.shape))
    sgd.step()
    adam = eoptim.Adam(ep)
    with pytest.raises(ValueError, match=r"param_groups\[0\] lacks the hyperparameters \['betas', 'eps'"):
        adam.load_state_dict(sgd.state_dict())
    sd = eoptim.Adam(ep).state_dict()
    amsgrad = eoptim.Adam(ep, amsgrad=True)
    amsgrad.step()
    sd_ams = amsgrad.state_dict()
    sd_ams["param_groups"][0]["amsgrad"] = True
    del sd_ams["state"][1]["max_exp_avg_sq"]
    with pytest.raises(ValueError, match=r"state of param 1 of group 0 lacks \['max_exp_avg_sq'\]"):
        eoptim.Adam(ep, amsgrad=True).load_state_dict(sd_ams)
    assert sd["state"] == {}


def test_numeric_step_from_old_checkpoints_and_frozen_params():
    _, ep = _params(np.float64)
    frozen = ember.tensor(np.ones(3))  # requires_grad=False: accepted and skipped, as torch does
    opt = eoptim.Adam(ep + [frozen], lr=0.1)
    for e in ep:
        e.grad = ember.tensor(np.ones(e.shape))
    opt.step()
    np.testing.assert_array_equal(_np(frozen), np.ones(3))
    sd = opt.state_dict()
    for s in sd["state"].values():
        s["step"] = float(s["step"])
    opt2 = eoptim.Adam(ep + [frozen], lr=0.1)
    opt2.load_state_dict(sd)
    opt2.step()
    assert float(opt2.state[ep[0]]["step"]) == 2.0

"""LBFGS, Rprop, ASGD and SparseAdam against torch.optim, step for step, plus state_dict round trips."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import ember

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 3))
Y = RNG.normal(size=(16, 2))
W0 = [RNG.normal(size=(3, 4)) * 0.7, RNG.normal(size=(4,)) * 0.1, RNG.normal(size=(4, 2)) * 0.7]


def _params(L, dtype):
    dt = L.float64 if dtype == "float64" else L.float32
    return [L.tensor(w, dtype=dt, requires_grad=True) for w in W0]


def _loss(L, ps, dtype):
    dt = L.float64 if dtype == "float64" else L.float32
    x, y = L.tensor(X, dtype=dt), L.tensor(Y, dtype=dt)
    h = L.tanh(x @ ps[0] + ps[1])
    return ((h @ ps[2] - y) ** 2).mean() + 0.01 * sum((p ** 4).sum() for p in ps)


def _closure(L, opt, ps, dtype):
    def closure():
        opt.zero_grad()
        loss = _loss(L, ps, dtype)
        loss.backward()
        return loss
    return closure


def _trajectory(L, make, dtype, steps, closure_always=False, resume_at=None):
    """Parameters after each step; with resume_at, the optimizer is rebuilt from its saved state dict."""
    ps = _params(L, dtype)
    opt = make(L, ps)
    out, losses = [], []
    for i in range(steps):
        if resume_at is not None and i == resume_at:
            buf = io.BytesIO()
            L.save(opt.state_dict(), buf)
            buf.seek(0)
            sd = L.load(buf)
            opt = make(L, ps)
            opt.load_state_dict(sd)
        cl = _closure(L, opt, ps, dtype)
        if closure_always:
            losses.append(opt.step(cl).item())
        else:
            losses.append(cl().item())
            opt.step()
        out.append([p.detach().numpy().copy() for p in ps])
    return out, losses


OPTIMIZERS = {
    "lbfgs": lambda L, ps: L.optim.LBFGS(ps),
    "lbfgs_small": lambda L, ps: L.optim.LBFGS(ps, lr=0.5, max_iter=5, history_size=3),
    "lbfgs_wolfe": lambda L, ps: L.optim.LBFGS(ps, lr=1, max_iter=8, line_search_fn="strong_wolfe"),
    "lbfgs_wolfe_h2": lambda L, ps: L.optim.LBFGS(ps, history_size=2, max_iter=6, max_eval=9,
                                                  tolerance_grad=1e-5, tolerance_change=1e-7,
                                                  line_search_fn="strong_wolfe"),
    "rprop": lambda L, ps: L.optim.Rprop(ps),
    "rprop_opts": lambda L, ps: L.optim.Rprop(ps, lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2),
                                              maximize=False),
    "asgd": lambda L, ps: L.optim.ASGD(ps, lr=0.05),
    "asgd_avg": lambda L, ps: L.optim.ASGD(ps, lr=0.1, lambd=1e-3, alpha=0.5, t0=4, weight_decay=0.01),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_trajectory_matches_torch(name, dtype):
    make = OPTIMIZERS[name]
    lbfgs = name.startswith("lbfgs")
    steps = 4 if lbfgs else 12  # one LBFGS step runs up to max_iter iterations
    ref, ref_loss = _trajectory(torch, make, dtype, steps, closure_always=lbfgs)
    got, got_loss = _trajectory(ember, make, dtype, steps, closure_always=lbfgs)
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == "float64" else dict(rtol=2e-4, atol=2e-5)
    if lbfgs and dtype == "float32":  # up to 20 inner iterations per step amplify float32 rounding
        tol = dict(rtol=5e-3, atol=5e-4)
    for i, (a, b) in enumerate(zip(ref, got)):
        for j, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_allclose(y, x, err_msg=f"{name} step {i} param {j}", **tol)
    np.testing.assert_allclose(got_loss, ref_loss, **tol)
    assert ref_loss[-1] < ref_loss[0]
    # state dict round trip mid-run: identical to the uninterrupted run
    resumed, _ = _trajectory(ember, make, dtype, steps, closure_always=lbfgs, resume_at=steps // 2)
    for a, b in zip(got, resumed):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(y, x)


def test_asgd_average_and_state_match_torch():
    for L in (torch, ember):
        ps = _params(L, "float64")
        opt = L.optim.ASGD(ps, lr=0.1, t0=3)
        for _ in range(8):
            _closure(L, opt, ps, "float64")()
            opt.step()
        st = opt.state[ps[0]]
        vals = (float(st["eta"]), float(st["mu"]), float(st["step"]), st["ax"].detach().numpy().copy())
        if L is torch:
            ref = vals
    assert sorted(opt.state[ps[0]]) == ["ax", "eta", "mu", "step"]
    np.testing.assert_allclose(vals[:3], ref[:3], rtol=1e-6)
    np.testing.assert_allclose(vals[3], ref[3], rtol=1e-9)


def test_lbfgs_state_dict_layout_matches_torch():
    sds = {}
    for L in (torch, ember):
        ps = _params(L, "float64")
        opt = L.optim.LBFGS(ps, history_size=3, max_iter=4)
        for _ in range(3):
            opt.step(_closure(L, opt, ps, "float64"))
        sds[L.__name__] = opt.state_dict()
    t, e = sds["torch"], sds["ember"]
    assert sorted(e["state"][0]) == sorted(t["state"][0])
    assert e["param_groups"] == t["param_groups"]
    for key in ("func_evals", "n_iter"):
        assert e["state"][0][key] == t["state"][0][key]
    assert len(e["state"][0]["old_dirs"]) == len(t["state"][0]["old_dirs"]) == 3
    np.testing.assert_allclose(e["state"][0]["d"].numpy(), t["state"][0]["d"].numpy(), rtol=1e-8)


def test_sparse_adam_matches_torch_embedding_rows():
    weight = RNG.normal(size=(10, 3))
    idx = [[1, 2, 4], [4, 7, 1], [0, 0, 9], [3, 1, 2]]
    target = RNG.normal(size=(3, 3))
    res = {}
    for L in (torch, ember):
        emb = L.nn.Embedding(10, 3, sparse=True)
        with L.no_grad():
            emb.weight.copy_(L.tensor(weight, dtype=L.float32))
        opt = L.optim.SparseAdam(emb.parameters(), lr=0.05, betas=(0.8, 0.99))
        traj = []
        for step in range(12):
            if step == 6 and L is ember:  # round trip mid-run
                buf = io.BytesIO()
                ember.save(opt.state_dict(), buf)
                buf.seek(0)
                opt = L.optim.SparseAdam(emb.parameters(), lr=0.05, betas=(0.8, 0.99))
                opt.load_state_dict(ember.load(buf))
            opt.zero_grad()
            out = emb(L.tensor(idx[step % 4]))
            ((out - L.tensor(target, dtype=L.float32)) ** 2).sum().backward()
            opt.step()
            traj.append(emb.weight.detach().numpy().copy())
        res[L.__name__] = traj
    for i, (a, b) in enumerate(zip(res["torch"], res["ember"])):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=f"step {i}")
    # rows never looked up (5, 6, 8) are untouched
    np.testing.assert_array_equal(res["ember"][-1][[5, 6, 8]], weight[[5, 6, 8]].astype(np.float32))


def test_errors():
    w = ember.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="LBFGS.step: a closure is required"):
        ember.optim.LBFGS([w]).step()
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe'"):
        ember.optim.LBFGS([w], line_search_fn="armijo")
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        ember.optim.LBFGS([{"params": [w]}, {"params": [ember.zeros(2, requires_grad=True)]}])
    with pytest.raises(ValueError, match=r"Rprop: Invalid eta values: 1.5, 1.2"):
        ember.optim.Rprop([w], etas=(1.5, 1.2))
    with pytest.raises(ValueError, match=r"ASGD: Invalid learning rate: -1"):
        ember.optim.ASGD([w], lr=-1)
    with pytest.raises(ValueError, match=r"SparseAdam: Invalid beta parameter at index 0"):
        ember.optim.SparseAdam([w], betas=(1.0, 0.9))
    other = ember.zeros(4, requires_grad=True)
    opt = ember.optim.LBFGS([w])
    opt.step(lambda: (w ** 2 + 1).sum().backward() or (w ** 2 + 1).sum())  # converged at once: no history
    opt.state[w]["d"] = ember.zeros(3)
    with pytest.raises(ValueError, match=r"LBFGS.load_state_dict: state\['d'\] has shape \(3,\) but the parameters"):
        ember.optim.LBFGS([other]).load_state_dict(opt.state_dict())

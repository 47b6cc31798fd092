"""ember.amp against torch.amp: GradScaler step by step, autocast state, custom_fwd/custom_bwd, the
deprecated torch.cuda.amp / torch.cpu.amp aliases and the enabled=False pass-through."""
from __future__ import annotations

import pickle
import threading
import warnings

import numpy as np
import pytest
import torch

import ember


def _models(seed=0):
    rng = np.random.default_rng(seed)
    w1, b1 = rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    w2, b2 = rng.standard_normal((1, 8)).astype(np.float32), rng.standard_normal(1).astype(np.float32)
    out = []
    for L in (ember, torch):
        m = L.nn.Sequential(L.nn.Linear(4, 8), L.nn.Tanh(), L.nn.Linear(8, 1))
        with L.no_grad():
            for p, v in zip(m.parameters(), (w1, b1, w2, b2)):
                p.copy_(L.tensor(v))
        out.append(m)
    return out


def _train(L, model, steps, poison, scaler_kwargs, unscale_first=False, clip=None):
    """A short loop with gradients poisoned (inf or nan) at the steps in ``poison``; returns the trace."""
    rng = np.random.default_rng(1)
    opt = L.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = L.amp.GradScaler("cpu", **scaler_kwargs)
    trace = []
    for i in range(steps):
        x = L.tensor(rng.standard_normal((16, 4)).astype(np.float32))
        y = L.tensor(rng.standard_normal((16, 1)).astype(np.float32))
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        scaled = scaler.scale(loss)
        scaled.backward()
        if i in poison:
            with L.no_grad():
                model[0].weight.grad[0, 0] = poison[i]
        if unscale_first:
            scaler.unscale_(opt)
            if clip is not None:
                L.nn.utils.clip_grad_norm_(model.parameters(), clip)
        before = model[0].weight.detach().numpy().copy()
        ret = scaler.step(opt)
        assert ret is None  # SGD.step() returns None; a skipped step too
        scaler.update()
        skipped = np.array_equal(before, model[0].weight.detach().numpy())
        trace.append((float(scaled.item()), scaler.get_scale(), skipped, scaler._get_growth_tracker(),
                      model[0].weight.detach().numpy().copy(), model[2].bias.detach().numpy().copy()))
    return trace, scaler


@pytest.mark.parametrize("unscale_first,clip", [(False, None), (True, 1.0)])
def test_grad_scaler_matches_torch_step_by_step(unscale_first, clip):
    em, tm = _models()
    kw = dict(init_scale=2.0 ** 10, growth_factor=4.0, backoff_factor=0.25, growth_interval=3)
    poison = {1: float("inf"), 2: float("nan"), 7: float("-inf")}
    te, se = _train(ember, em, 12, poison, kw, unscale_first, clip)
    tt, st = _train(torch, tm, 12, poison, kw, unscale_first, clip)
    for i, (a, b) in enumerate(zip(te, tt)):
        assert a[0] == pytest.approx(b[0], rel=1e-5), i  # scaled loss
        assert a[1:4] == b[1:4], i  # scale, skipped step, growth tracker
        np.testing.assert_allclose(a[4], b[4], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a[5], b[5], rtol=1e-5, atol=1e-6)
    skipped = [i for i, t in enumerate(te) if t[2]]
    assert skipped == [1, 2, 7]
    assert se.state_dict() == st.state_dict()


def test_grad_scaler_growth_overflow_keeps_scale_finite():
    # growth that would overflow float32 leaves the scale unchanged (torch._amp_update_scale_)
    for L in (ember, torch):
        p = L.nn.Parameter(L.ones(2))
        opt = L.optim.SGD([p], lr=0.1)
        s = L.amp.GradScaler("cpu", init_scale=2.0 ** 127, growth_factor=2.0, growth_interval=1)
        s.scale((p * 1e-40).sum()).backward()
        s.step(opt)
        s.update()
        assert s.get_scale() == 2.0 ** 127


def test_grad_scaler_state_dict_round_trip_and_pickle():
    em, tm = _models()
    _, se = _train(ember, em, 5, {1: float("inf")}, dict(init_scale=256.0, growth_interval=2))
    _, st = _train(torch, tm, 5, {1: float("inf")}, dict(init_scale=256.0, growth_interval=2))
    sd = se.state_dict()
    assert sd == st.state_dict()
    assert set(sd) == {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"}
    fresh = ember.amp.GradScaler("cpu")
    fresh.load_state_dict(sd)
    assert fresh.state_dict() == sd
    assert fresh.get_scale() == sd["scale"] and fresh.get_growth_interval() == 2
    back = pickle.loads(pickle.dumps(se))
    assert back.state_dict() == sd
    # a torch state dict loads into ember's scaler and back
    fresh2 = ember.amp.GradScaler("cpu")
    fresh2.load_state_dict(st.state_dict())
    assert fresh2.state_dict() == st.state_dict()
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        ember.amp.GradScaler("cpu").load_state_dict({})


def test_grad_scaler_errors_match_torch():
    for L in (ember, torch):
        p = L.nn.Parameter(L.ones(3))
        opt = L.optim.SGD([p], lr=0.1)
        s = L.amp.GradScaler("cpu")
        with pytest.raises(AssertionError, match="did not use scaler.scale"):
            s.step(opt)
        s.scale(p.sum()).backward()
        s.unscale_(opt)
        with pytest.raises(RuntimeError, match=r"unscale_\(\) has already been called on this optimizer"):
            s.unscale_(opt)
        s.step(opt)
        with pytest.raises(RuntimeError, match=r"step\(\) has already been called since the last update"):
            s.step(opt)
        with pytest.raises(RuntimeError, match=r"unscale_\(\) is being called after step\(\)"):
            s.unscale_(opt)
        with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
            s.step(opt, closure=lambda: None)
        s.update()
        with pytest.raises(AssertionError, match="growth factor must be > 1.0"):
            L.amp.GradScaler("cpu", growth_factor=1.0)
        with pytest.raises(AssertionError, match="backoff factor must be < 1.0"):
            L.amp.GradScaler("cpu", backoff_factor=1.0)
        with pytest.raises(ValueError, match="outputs must be a Tensor or an iterable"):
            s.scale([p.sum(), 3])
        h = L.nn.Parameter(L.ones(2, dtype=L.float16))
        o2 = L.optim.SGD([h], lr=0.1)
        s.scale(h.float().sum()).backward()
        with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
            s.step(o2)


def test_grad_scaler_scale_containers_and_setters():
    for L in (ember, torch):
        s = L.amp.GradScaler("cpu", init_scale=8.0)
        a, b = L.ones(2), L.full((3,), 2.0)
        out = s.scale([a, (b, a)])
        assert isinstance(out, list) and isinstance(out[1], tuple)
        assert out[0].tolist() == [8.0, 8.0] and out[1][0].tolist() == [16.0] * 3
        assert s.scale(L.ones(2, dtype=L.float16)).dtype == L.float16
        s.set_growth_factor(3.0)
        s.set_backoff_factor(0.125)
        s.set_growth_interval(7)
        assert (s.get_growth_factor(), s.get_backoff_factor(), s.get_growth_interval()) == (3.0, 0.125, 7)
        p = L.nn.Parameter(L.ones(1))
        opt = L.optim.SGD([p], lr=0.1)
        s.scale(p.sum()).backward()
        s.step(opt)
        s.update(new_scale=5.0)
        assert s.get_scale() == 5.0
        s.update(new_scale=L.tensor(6.0))
        assert s.get_scale() == 6.0


def test_grad_scaler_disabled_is_pass_through():
    em, tm = _models()
    for L, m in ((ember, em), (torch, tm)):
        opt = L.optim.SGD(m.parameters(), lr=0.1)
        s = L.amp.GradScaler("cpu", enabled=False)
        loss = m(L.ones(2, 4)).sum()
        assert s.scale(loss) is loss
        loss.backward()
        assert s.unscale_(opt) is None
        assert s.step(opt) is None  # SGD.step() returns None
        s.update()
        assert (s.get_scale(), s.is_enabled(), s.state_dict(), s._get_growth_tracker()) == (1.0, False, {}, 0)
        s.load_state_dict({"scale": 3.0})  # a no-op when disabled
    np.testing.assert_allclose(em[0].weight.detach().numpy(), tm[0].weight.detach().numpy(), rtol=1e-6)


def test_cuda_scaler_without_gpu_warns_and_disables_as_torch():
    with pytest.warns(UserWarning, match="CUDA is not available.*Disabling"):
        s = ember.amp.GradScaler()
    assert not s.is_enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not ember.amp.GradScaler("cuda", enabled=False).is_enabled()
    with pytest.warns(FutureWarning, match=r"torch.cuda.amp.GradScaler\(args...\)` is deprecated"):
        s = ember.cuda.amp.GradScaler(enabled=False)
    assert not s.is_enabled()
    with pytest.warns(FutureWarning, match=r"torch.cpu.amp.GradScaler\(args...\)` is deprecated"):
        s = ember.cpu.amp.GradScaler(init_scale=4.0)
    assert s.is_enabled() and s.get_scale() == 4.0 and s._device == "cpu"
    from ember.cpu.amp import autocast as cpu_autocast
    from ember.cuda.amp import GradScaler, autocast  # importable as torch's

    assert cpu_autocast is ember.cpu.amp.autocast and issubclass(cpu_autocast, ember.amp.autocast)

    assert issubclass(GradScaler, ember.amp.GradScaler) and issubclass(autocast, ember.amp.autocast)
    assert ember.GradScaler is ember.amp.GradScaler and ember.autocast is ember.amp.autocast


def test_autocast_state_matches_torch():
    for L in (ember, torch):
        assert not L.is_autocast_enabled("cpu") and not L.is_autocast_enabled()
        assert L.is_autocast_cache_enabled()
        assert L.get_autocast_dtype("cuda") == L.float16 and L.get_autocast_dtype("cpu") == L.bfloat16
        with L.autocast("cpu", dtype=L.float16) as ac:
            assert isinstance(ac, L.autocast)
            assert L.is_autocast_enabled("cpu") and not L.is_autocast_enabled("cuda")
            assert L.get_autocast_dtype("cpu") == L.float16
            with L.autocast("cpu", enabled=False):
                assert not L.is_autocast_enabled("cpu") and L.get_autocast_dtype("cpu") == L.float16
            assert L.is_autocast_enabled("cpu")
            with L.autocast("cpu", dtype=L.float16, cache_enabled=False):
                assert not L.is_autocast_cache_enabled()
            assert L.is_autocast_cache_enabled()
        assert not L.is_autocast_enabled("cpu") and L.get_autocast_dtype("cpu") == L.bfloat16
        assert L.autocast_increment_nesting() == 1 and L.autocast_decrement_nesting() == 0
        L.set_autocast_enabled("cpu", True)
        L.set_autocast_dtype("cpu", L.float16)
        assert L.is_autocast_enabled("cpu") and L.get_autocast_dtype("cpu") == L.float16
        L.set_autocast_enabled("cpu", False)
        L.set_autocast_dtype("cpu", L.bfloat16)
        L.set_autocast_enabled(True)  # torch's older form: cuda
        assert L.is_autocast_enabled("cuda") and L.is_autocast_enabled()
        L.set_autocast_enabled(False)
        with pytest.warns(DeprecationWarning):
            assert L.get_autocast_cpu_dtype() == L.bfloat16
        with pytest.warns(DeprecationWarning):
            assert L.get_autocast_gpu_dtype() == L.float16
        with pytest.warns(DeprecationWarning):
            assert not L.is_autocast_cpu_enabled()
        assert L.amp.is_autocast_available("cpu") and L.amp.is_autocast_available("cuda")
        assert L.amp.is_autocast_available("mps") and not L.amp.is_autocast_available("meta")
        with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
            L.amp.is_autocast_available("foo")
        with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
            L.autocast("foo")
        with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
            L.autocast(L.device("cpu"))
        with pytest.warns(UserWarning, match="target dtype is not supported. Disabling autocast"):
            a = L.autocast("cpu", dtype=L.float64)
        with a:
            assert not L.is_autocast_enabled("cpu")
        with pytest.warns(UserWarning, match="CUDA is not available.*Disabling autocast"):
            a = L.autocast("cuda")
        with a:
            assert not L.is_autocast_enabled("cuda")
        with pytest.raises(TypeError, match=r"autocast\(\)\(func\) requires a callable"):
            L.autocast("cpu", enabled=False)(3)


def test_autocast_bfloat16_raises_clearly_and_disabled_is_silent():
    with pytest.raises(RuntimeError, match=r"ember has no bfloat16.*dtype=torch.float16.*enabled=False"):
        with ember.autocast(device_type="cpu"):
            pass
    with pytest.raises(RuntimeError, match="ember has no bfloat16"):
        with ember.autocast(device_type="cpu", dtype=ember.bfloat16):
            pass
    assert not ember.is_autocast_enabled("cpu") and ember.autocast_increment_nesting() == 1
    ember.autocast_decrement_nesting()
    with pytest.warns(FutureWarning, match=r"torch.cpu.amp.autocast\(args...\)` is deprecated"):
        a = ember.cpu.amp.autocast()
    with pytest.raises(RuntimeError, match="ember has no bfloat16"):
        a.__enter__()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dev in ("cpu", "cuda", "mps"):
            with ember.autocast(device_type=dev, dtype=ember.bfloat16, enabled=False):
                assert not ember.is_autocast_enabled(dev)
                x = ember.ones(2, 3, requires_grad=True)
                y = ember.nn.functional.linear(x, ember.ones(4, 3))
                assert y.dtype == ember.float32
    with pytest.warns(FutureWarning, match=r"torch.cuda.amp.autocast\(args...\)` is deprecated"):
        with ember.cuda.amp.autocast(enabled=False):
            assert not ember.is_autocast_enabled("cuda")


def test_autocast_decorator_and_thread_locality():
    seen = {}

    @ember.autocast("cpu", dtype=ember.float16)
    def inside(tag):
        seen[tag] = ember.is_autocast_enabled("cpu")
        t = threading.Thread(target=lambda: seen.__setitem__("thread", ember.is_autocast_enabled("cpu")))
        t.start()
        t.join(timeout=30)

    assert inside.__name__ == "inside"
    inside("main")
    assert seen == {"main": True, "thread": False}
    assert not ember.is_autocast_enabled("cpu") and not ember._autocast.armed


def test_autocast_state_restored_after_exception():
    with pytest.raises(KeyError):
        with ember.autocast("cpu", dtype=ember.float16):
            raise KeyError("x")
    assert not ember.is_autocast_enabled("cpu") and not ember._autocast.armed
    assert ember.get_autocast_dtype("cpu") == ember.bfloat16


# ---- what autocast does to ops: dtypes, values and gradients against torch's CPU autocast in float16 ----------

def _F(L):
    return L.nn.functional


# name -> (fn(L, *tensors), input shapes, input dtype): float32 inputs for torch's lower-precision list (and ops
# made of them), float16 inputs for its float32 list, float32 for ops on neither list (they must stay float32).
AUTOCAST_OPS = {
    "matmul": (lambda L, a, b: L.matmul(a, b), [(3, 4), (4, 5)], "float32"),
    "@ batched": (lambda L, a, b: a @ b, [(2, 3, 4), (4, 5)], "float32"),
    "Tensor.matmul": (lambda L, a, b: a.matmul(b), [(3, 4), (4,)], "float32"),
    "mm": (lambda L, a, b: L.mm(a, b), [(3, 4), (4, 5)], "float32"),
    "bmm": (lambda L, a, b: L.bmm(a, b), [(2, 3, 4), (2, 4, 5)], "float32"),
    "addmm": (lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2.0), [(3, 5), (3, 4), (4, 5)], "float32"),
    "baddbmm": (lambda L, c, a, b: L.baddbmm(c, a, b), [(2, 3, 5), (2, 3, 4), (2, 4, 5)], "float32"),
    "addbmm": (lambda L, c, a, b: L.addbmm(c, a, b), [(3, 5), (2, 3, 4), (2, 4, 5)], "float32"),
    "einsum": (lambda L, a, b: L.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)], "float32"),
    "tensordot": (lambda L, a, b: L.tensordot(a, b, dims=([1], [0])), [(3, 4), (4, 5)], "float32"),
    "linear": (lambda L, x, w, b: _F(L).linear(x, w, b), [(2, 3, 4), (5, 4), (5,)], "float32"),
    "conv1d": (lambda L, x, w, b: _F(L).conv1d(x, w, b, padding=1), [(2, 3, 8), (4, 3, 3), (4,)], "float32"),
    "conv2d": (lambda L, x, w, b: _F(L).conv2d(x, w, b, stride=2), [(1, 2, 7, 7), (3, 2, 3, 3), (3,)], "float32"),
    "conv3d": (lambda L, x, w: _F(L).conv3d(x, w), [(1, 2, 4, 4, 4), (3, 2, 2, 2, 2)], "float32"),
    "conv_transpose1d": (lambda L, x, w: _F(L).conv_transpose1d(x, w, stride=2), [(1, 2, 5), (2, 3, 3)], "float32"),
    "conv_transpose2d": (lambda L, x, w, b: _F(L).conv_transpose2d(x, w, b), [(1, 2, 4, 4), (2, 3, 3, 3), (3,)],
                         "float32"),
    "conv_transpose3d": (lambda L, x, w: _F(L).conv_transpose3d(x, w), [(1, 2, 3, 3, 3), (2, 2, 2, 2, 2)], "float32"),
    "prelu": (lambda L, x, w: _F(L).prelu(x, w), [(2, 3, 4), (3,)], "float32"),
    "scaled_dot_product_attention": (lambda L, q, k, v: _F(L).scaled_dot_product_attention(q, k, v, is_causal=True),
                                     [(2, 5, 8), (2, 5, 8), (2, 5, 8)], "float32"),
    # torch's float32 list: float16 inputs run in float32
    "mse_loss": (lambda L, a, b: _F(L).mse_loss(a, b), [(3, 4), (3, 4)], "float16"),
    "l1_loss": (lambda L, a, b: _F(L).l1_loss(a, b), [(3, 4), (3, 4)], "float16"),
    "smooth_l1_loss": (lambda L, a, b: _F(L).smooth_l1_loss(a, b), [(3, 4), (3, 4)], "float16"),
    "huber_loss": (lambda L, a, b: _F(L).huber_loss(a, b), [(3, 4), (3, 4)], "float16"),
    "cross_entropy": (lambda L, a: _F(L).cross_entropy(a, L.tensor([0, 3, 1])), [(3, 4)], "float16"),
    "nll_loss": (lambda L, a: _F(L).nll_loss(a, L.tensor([0, 3, 1])), [(3, 4)], "float16"),
    "binary_cross_entropy_with_logits": (lambda L, a, b: _F(L).binary_cross_entropy_with_logits(a, b.sigmoid()),
                                         [(3, 4), (3, 4)], "float16"),
    "kl_div": (lambda L, a, b: _F(L).kl_div(a, b.softmax(-1), reduction="batchmean"), [(3, 4), (3, 4)], "float16"),
    "cosine_embedding_loss": (lambda L, a, b: _F(L).cosine_embedding_loss(a, b, L.tensor([1, -1, 1])),
                              [(3, 4), (3, 4)], "float16"),
    "avg_pool3d": (lambda L, x: _F(L).avg_pool3d(x, 2), [(1, 1, 4, 4, 4)], "float16"),
    "pad reflect": (lambda L, x: _F(L).pad(x, (2, 1), mode="reflect"), [(1, 2, 5)], "float16"),
    "cdist": (lambda L, a, b: L.cdist(a, b), [(3, 4), (5, 4)], "float16"),
    "prod": (lambda L, a: L.prod(a, 1), [(3, 4)], "float16"),
    "linalg.inv": (lambda L, a: L.linalg.inv(a + 4 * L.eye(3, dtype=a.dtype)), [(3, 3)], "float16"),
    # on neither list: the inputs' dtype is kept
    "mv": (lambda L, a, b: L.mv(a, b), [(3, 4), (4,)], "float32"),
    "dot": (lambda L, a, b: L.dot(a, b), [(4,), (4,)], "float32"),
    "softmax": (lambda L, a: a.softmax(-1), [(3, 4)], "float16"),
    "layer_norm": (lambda L, a: _F(L).layer_norm(a, (4,)), [(3, 4)], "float16"),
    "add mixed": (lambda L, a, b: a + b.half(), [(3, 4), (3, 4)], "float32"),
    "pad circular": (lambda L, x: _F(L).pad(x, (2, 1), mode="circular"), [(1, 2, 5)], "float16"),
}


@pytest.mark.parametrize("name", list(AUTOCAST_OPS))
def test_autocast_float16_op_matches_torch(name):
    fn, shapes, dt = AUTOCAST_OPS[name]
    rng = np.random.default_rng(abs(hash(name)) % 2 ** 32)
    arrays = [rng.uniform(-1, 1, s).astype(dt) for s in shapes]
    outs, grads = [], []
    for L in (ember, torch):
        xs = [L.tensor(a, requires_grad=True) for a in arrays]
        with L.autocast(device_type="cpu", dtype=L.float16):
            y = fn(L, *xs)
        y.float().sum().backward()
        outs.append((str(y.dtype).split(".")[-1], y.detach().float().numpy()))
        grads.append([(str(x.grad.dtype).split(".")[-1], x.grad.float().numpy()) for x in xs])
    (de, ve), (dt_, vt) = outs
    assert de == dt_, f"{name}: ember gives {de}, torch {dt_}"
    tol = dict(rtol=2e-2, atol=2e-2) if "float16" in (de, dt) else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ve, vt, **tol)
    for (ge_dt, ge), (gt_dt, gt) in zip(*grads):
        assert ge_dt == gt_dt == dt  # gradients arrive in each input's own dtype, as torch's
        np.testing.assert_allclose(ge, gt, rtol=3e-2, atol=3e-2)


def test_autocast_model_step_float32_params_float32_grads():
    em, tm = _models()
    res = []
    for L, m in ((ember, em), (torch, tm)):
        x = L.tensor(np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4))
        with L.autocast("cpu", dtype=L.float16):
            h = m[0](x)
            out = m(x)
            loss = _F(L).mse_loss(out, L.zeros(6, 1))
        assert h.dtype == L.float16 and out.dtype == L.float16 and loss.dtype == L.float32
        loss.backward()
        assert all(p.grad.dtype == L.float32 and p.dtype == L.float32 for p in m.parameters())
        res.append((loss.item(), [p.grad.numpy().copy() for p in m.parameters()]))
    assert res[0][0] == pytest.approx(res[1][0], rel=1e-2)
    for ge, gt in zip(res[0][1], res[1][1]):
        np.testing.assert_allclose(ge, gt, rtol=2e-2, atol=2e-2)


def test_autocast_nesting_disabled_region_and_float64():
    a = ember.ones(2, 3)
    b = ember.ones(3, 2)
    with ember.autocast("cpu", dtype=ember.float16):
        assert (a @ b).dtype == ember.float16
        with ember.autocast("cpu", enabled=False):
            assert (a @ b).dtype == ember.float32
            with ember.autocast("cpu", dtype=ember.float16):
                assert (a @ b).dtype == ember.float16
        assert (a @ b).dtype == ember.float16
        assert (a.double() @ b.double()).dtype == ember.float64  # float64 is never cast (torch)
        c = ember.zeros(2, 2)
        assert ember.matmul(a, b, out=c) is c and c.dtype == ember.float32  # out= is not autocast (torch)
        assert ember.matmul(a.int(), b.int()).dtype == ember.int32
    assert (a @ b).dtype == ember.float32
    # a disabled-by-default bfloat16 state set by hand fails clearly at the op
    ember.set_autocast_enabled("cpu", True)
    try:
        with pytest.raises(RuntimeError, match=r"matmul|bfloat16.*float16"):
            a @ b
    finally:
        ember.set_autocast_enabled("cpu", False)
    assert not ember._autocast.armed


def test_autocast_decorated_forward_in_threads_is_thread_local():
    out = {}

    def work(tag, enabled):
        with ember.autocast("cpu", dtype=ember.float16, enabled=enabled):
            out[tag] = (ember.ones(2, 2) @ ember.ones(2, 2)).dtype

    ts = [threading.Thread(target=work, args=(i, i % 2 == 0)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=30)
    assert out == {0: ember.float16, 1: ember.float32, 2: ember.float16, 3: ember.float32}
    assert not ember._autocast.armed


def _mymm(L, rec):
    class MyMM(L.autograd.Function):
        @staticmethod
        @L.amp.custom_fwd(device_type="cpu", cast_inputs=L.float32)
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            rec["inner"] = (L.is_autocast_enabled("cpu"), a.dtype, (a @ b).dtype)
            return a.mm(b)

        @staticmethod
        @L.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            rec["bwd"] = L.is_autocast_enabled("cpu")
            return g.mm(b.t()), a.t().mm(g)

    class Plain(L.autograd.Function):
        @staticmethod
        @L.amp.custom_fwd(device_type="cpu")
        def forward(ctx, a, b):
            rec["inner2"] = (L.is_autocast_enabled("cpu"), (a @ b).dtype)
            return a @ b

        @staticmethod
        @L.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            rec["bwd2"] = (L.is_autocast_enabled("cpu"), L.get_autocast_dtype("cpu"))
            return g, g

    return MyMM, Plain


def test_custom_fwd_bwd_match_torch():
    seen = []
    for L in (ember, torch):
        rec = {}
        MyMM, Plain = _mymm(L, rec)
        a = L.ones(2, 3, dtype=L.float16, requires_grad=True)
        b = L.ones(3, 2, requires_grad=True)
        with L.autocast("cpu", dtype=L.float16):
            y = MyMM.apply(a, b)
        y.sum().backward()
        row = [rec["inner"], y.dtype, rec["bwd"], a.grad.dtype, b.grad.dtype, a.grad.tolist(), b.grad.tolist()]
        y2 = MyMM.apply(a.detach().float(), b)  # outside autocast: no cast, no change
        row.append(y2.dtype)
        c = L.ones(2, 2, requires_grad=True)
        with L.autocast("cpu", dtype=L.float16):
            z = Plain.apply(c, c)
        z.sum().backward()
        row += [rec["inner2"], z.dtype, rec["bwd2"]]
        seen.append([str(v).replace("torch.", "").replace("ember.", "") for v in row])
    assert seen[0] == seen[1]
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        ember.amp.custom_fwd(device_type=None)


@pytest.mark.parametrize("kind", ["RNN", "RNNCell", "GRU", "GRUCell", "LSTMCell", "rnn_tanh_cell"])
def test_autocast_recurrent_layers_match_torch(kind):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (5, 3, 4) if kind in ("RNN", "GRU") else (3, 4)).astype(np.float32)
    res = []
    for L in (ember, torch):
        if kind == "rnn_tanh_cell":
            ws = [L.tensor(rng.uniform(-0.5, 0.5, s).astype(np.float32), requires_grad=True)
                  for s in ((6, 4), (6, 6), (6,), (6,))]
            rng = np.random.default_rng(3)
            rng.uniform(size=x.shape)
            params = ws
            fn = (lambda xx, ws=ws, L=L: _F(L).rnn_tanh_cell(xx, L.zeros(3, 6), *ws)) if L is ember else (
                lambda xx, ws=ws, L=L: L.rnn_tanh_cell(xx, L.zeros(3, 6), *ws))
        else:
            m = getattr(L.nn, kind)(4, 6)
            with L.no_grad():
                for p in m.parameters():
                    p.copy_(L.tensor(np.random.default_rng(p.numel()).uniform(-0.5, 0.5, tuple(p.shape)).astype(np.float32)))
            params = list(m.parameters())
            fn = m
        xx = L.tensor(x, requires_grad=True)
        with L.autocast("cpu", dtype=L.float16):
            out = fn(xx)
        y = out[0] if isinstance(out, tuple) else out
        y.float().sum().backward()
        res.append((str(y.dtype).split(".")[-1], y.detach().float().numpy(), xx.grad.dtype == L.float32,
                    [p.grad.float().numpy() for p in params]))
    (de, ve, ge, pe), (dt, vt, gt, pt) = res
    assert de == dt and ge and gt
    np.testing.assert_allclose(ve, vt, rtol=2e-2, atol=2e-2)
    for a, b in zip(pe, pt):
        np.testing.assert_allclose(a, b, rtol=3e-2, atol=3e-2)


def test_autocast_weight_cache_as_torch():
    # parameters are cast once per region (torch's cache); repeated forward/backward passes and a no_grad pass
    # inside one region give torch's gradients
    res = []
    for L in (ember, torch):
        lin = L.nn.Linear(3, 2)
        with L.no_grad():
            lin.weight.copy_(L.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 10))
            lin.bias.zero_()
        x = L.ones(4, 3)
        with L.autocast("cpu", dtype=L.float16):
            for _ in range(2):
                lin(x).float().sum().backward()
            with L.no_grad():
                y = lin(x)
            z = lin(x)
            z.float().pow(2).sum().backward()
            if L is ember:
                assert ember._autocast._state.cache  # the weight's float16 copy, kept for the region
        res.append((y.grad_fn is None, z.detach().float().tolist(), lin.weight.grad.tolist(), lin.bias.grad.tolist()))
    assert res[0] == res[1]
    assert not ember._autocast._state.cache  # cleared when the outermost region exits
    with ember.autocast("cpu", dtype=ember.float16, cache_enabled=False):
        ember.nn.Linear(3, 2)(ember.ones(1, 3))
        assert not ember._autocast._state.cache
    # unlike torch's cache (which keeps the stale copy), an in-place change of a weight inside the region is seen
    lin = ember.nn.Linear(3, 2, bias=False)
    with ember.autocast("cpu", dtype=ember.float16):
        a = lin(ember.ones(1, 3))
        with ember.no_grad():
            lin.weight.mul_(2)
        b = lin(ember.ones(1, 3))
    np.testing.assert_allclose(b.detach().float().numpy(), 2 * a.detach().float().numpy(), rtol=1e-3)


def test_autocast_linear_gradients_match_torch_bit_for_bit():
    # the float16 bias gradient is accumulated in float32 and rounded once, as torch's CPU sum of float16
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 16)).astype(np.float32)
    w, b = rng.standard_normal((8, 16)).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    g = (rng.standard_normal((64, 8)) * 300).astype(np.float32)
    grads = []
    for L in (ember, torch):
        lin = L.nn.Linear(16, 8)
        with L.no_grad():
            lin.weight.copy_(L.tensor(w))
            lin.bias.copy_(L.tensor(b))
        xt = L.tensor(x, requires_grad=True)
        with L.autocast("cpu", dtype=L.float16):
            out = L.relu(lin(xt))
        out.backward(L.tensor(g).to(L.float16))
        grads.append([t.grad.numpy().copy() for t in (xt, lin.weight, lin.bias)])
    for a, b_ in zip(*grads):
        np.testing.assert_array_equal(a, b_)

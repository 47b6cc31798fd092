"""ember.autograd.functional and ember.func against torch.autograd.functional and torch.func."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

AF = {"ember": lambda: ember.autograd.functional, "torch": lambda: torch.autograd.functional}
RTOL = {"float32": 2e-5, "float64": 1e-10}


def _same(a, b, dtype="float64", path="result"):
    """Same structure (tuple/tensor nesting), shapes and values."""
    if isinstance(b, (tuple, list)):
        assert isinstance(a, tuple), f"{path}: expected a tuple like torch, got {type(a).__name__}"
        assert len(a) == len(b), f"{path}: length {len(a)} vs torch {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, dtype, f"{path}[{i}]")
        return
    if isinstance(b, dict):
        assert isinstance(a, dict) and list(a) == list(b), path
        for k in b:
            _same(a[k], b[k], dtype, f"{path}[{k!r}]")
        return
    assert isinstance(a, ember.Tensor), f"{path}: expected a Tensor like torch, got {type(a).__name__}"
    assert tuple(a.shape) == tuple(b.shape), f"{path}: shape {tuple(a.shape)} vs torch {tuple(b.shape)}"
    assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], f"{path}: dtype {a.dtype} vs {b.dtype}"
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=RTOL[dtype], atol=RTOL[dtype],
                               err_msg=path)


def _inputs(shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    arrs = [rng.uniform(0.5, 1.5, size=s).astype(dtype) for s in shapes]
    return [ember.from_numpy(a.copy()) for a in arrs], [torch.from_numpy(a.copy()) for a in arrs]


# functions written once against a torch-like library L
def f_one_one(L, x):
    return (x ** 3).sin() * 2


def f_two_one(L, x, y):
    return (x.unsqueeze(1) * y).exp().sum(0) + (x ** 2).sum()


def f_one_two(L, x):
    return x.tanh(), (x * x).sum()


def f_two_two(L, x, y):
    return x @ y, (x.sin().sum(1, keepdim=True) * y.t()).cos()


def f_scalar_one(L, x):
    return (x ** 3).sum() + (x[0] * x[1]).exp()


def f_scalar_two(L, x, y):
    return ((x ** 2).sum() * y.sin()).sum() + (x.unsqueeze(1) * y).tanh().sum()


def f_linear(L, x):
    return x * 3.0


def f_indep(L, x, y):
    return x * 2.0


CASES_J = [
    (f_one_one, [(3,)], False),
    (f_one_one, [(2, 3)], True),
    (f_two_one, [(3,), (3, 2)], True),
    (f_one_two, [(4,)], True),
    (f_two_two, [(2, 3), (3, 2)], True),
]


def _call(fn, L, xs, as_tuple):
    g = lambda *a: fn(L, *a)
    return g, (tuple(xs) if as_tuple or len(xs) > 1 else xs[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn,shapes,as_tuple", CASES_J)
def test_jacobian_matches_torch(fn, shapes, as_tuple, dtype):
    ex, tx = _inputs(shapes, dtype)
    ge, ie = _call(fn, ember, ex, as_tuple)
    gt, it = _call(fn, torch, tx, as_tuple)
    je = ember.autograd.functional.jacobian(ge, ie)
    jt = torch.autograd.functional.jacobian(gt, it)
    _same(je, jt, dtype)
    # vectorize / strategy are accepted and give the same values
    _same(ember.autograd.functional.jacobian(ge, ie, vectorize=True, strategy="forward-mode"), jt, dtype)
    assert not any(t.requires_grad for t in _leaves(je))


def _leaves(x):
    if isinstance(x, tuple):
        return [y for el in x for y in _leaves(el)]
    return [x]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn,shapes,as_tuple", CASES_J)
def test_vjp_jvp_match_torch(fn, shapes, as_tuple, dtype):
    ex, tx = _inputs(shapes, dtype)
    ge, ie = _call(fn, ember, ex, as_tuple)
    gt, it = _call(fn, torch, tx, as_tuple)
    out_t = gt(*(it if isinstance(it, tuple) else (it,)))
    outs = out_t if isinstance(out_t, tuple) else (out_t,)
    rng = np.random.default_rng(1)
    v_arr = [rng.standard_normal(tuple(o.shape)).astype(dtype) for o in outs]
    vt = tuple(torch.from_numpy(a) for a in v_arr) if isinstance(out_t, tuple) else torch.from_numpy(v_arr[0])
    ve = tuple(ember.from_numpy(a) for a in v_arr) if isinstance(out_t, tuple) else ember.from_numpy(v_arr[0])
    _same(ember.autograd.functional.vjp(ge, ie, ve), torch.autograd.functional.vjp(gt, it, vt), dtype)
    ins = it if isinstance(it, tuple) else (it,)
    u_arr = [rng.standard_normal(tuple(x.shape)).astype(dtype) for x in ins]
    ut = tuple(torch.from_numpy(a) for a in u_arr) if isinstance(it, tuple) else torch.from_numpy(u_arr[0])
    ue = tuple(ember.from_numpy(a) for a in u_arr) if isinstance(it, tuple) else ember.from_numpy(u_arr[0])
    _same(ember.autograd.functional.jvp(ge, ie, ue), torch.autograd.functional.jvp(gt, it, ut), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn,shapes,as_tuple", [(f_scalar_one, [(3,)], False), (f_scalar_one, [(3,)], True),
                                                 (f_scalar_two, [(2,), (3,)], True)])
def test_hessian_hvp_vhp_match_torch(fn, shapes, as_tuple, dtype):
    ex, tx = _inputs(shapes, dtype)
    ge, ie = _call(fn, ember, ex, as_tuple)
    gt, it = _call(fn, torch, tx, as_tuple)
    _same(ember.autograd.functional.hessian(ge, ie), torch.autograd.functional.hessian(gt, it), dtype)
    ins = it if isinstance(it, tuple) else (it,)
    rng = np.random.default_rng(2)
    u_arr = [rng.standard_normal(tuple(x.shape)).astype(dtype) for x in ins]
    ut = tuple(torch.from_numpy(a) for a in u_arr) if isinstance(it, tuple) else torch.from_numpy(u_arr[0])
    ue = tuple(ember.from_numpy(a) for a in u_arr) if isinstance(it, tuple) else ember.from_numpy(u_arr[0])
    for name in ("hvp", "vhp"):
        got = getattr(ember.autograd.functional, name)(ge, ie, ue)
        want = getattr(torch.autograd.functional, name)(gt, it, ut)
        _same(got, want, dtype, name)


def test_create_graph_keeps_results_differentiable():
    x = ember.tensor([0.3, 0.7, 1.1], dtype=ember.float64, requires_grad=True)
    xt = torch.tensor([0.3, 0.7, 1.1], dtype=torch.float64, requires_grad=True)
    je = ember.autograd.functional.jacobian(lambda a: (a ** 3).sin(), x, create_graph=True)
    jt = torch.autograd.functional.jacobian(lambda a: (a ** 3).sin(), xt, create_graph=True)
    assert je.requires_grad
    (ge,) = ember.autograd.grad(je.sum(), x)
    (gt,) = torch.autograd.grad(jt.sum(), xt)
    _same(ge, gt)
    _, ve = ember.autograd.functional.vjp(lambda a: (a ** 2).sum(), x, create_graph=True)
    ve.sum().backward()
    _, vt = torch.autograd.functional.vjp(lambda a: (a ** 2).sum(), xt, create_graph=True)
    vt.sum().backward()
    _same(x.grad, xt.grad)
    # without create_graph the caller's tensor is untouched and results carry no graph
    x2 = ember.tensor([1.0, 2.0], requires_grad=True)
    out, g = ember.autograd.functional.vjp(lambda a: (a * a).sum(), x2)
    assert not out.requires_grad and not g.requires_grad and x2.grad is None


def test_strict_and_independent_inputs():
    ex, tx = _inputs([(2,), (2,)], "float64")
    # not strict: zeros for the input the output does not use, like torch
    _same(ember.autograd.functional.jacobian(lambda a, b: f_indep(ember, a, b), tuple(ex)),
          torch.autograd.functional.jacobian(lambda a, b: f_indep(torch, a, b), tuple(tx)))
    _same(ember.autograd.functional.hessian(lambda a: f_linear(ember, a).sum(), ex[0]),
          torch.autograd.functional.hessian(lambda a: f_linear(torch, a).sum(), tx[0]))
    with pytest.raises(RuntimeError, match="independent of input 1"):
        ember.autograd.functional.jacobian(lambda a, b: f_indep(ember, a, b), tuple(ex), strict=True)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        ember.autograd.functional.vjp(lambda a, b: f_indep(ember, a, b).sum(), tuple(ex), strict=True)
    with pytest.raises(RuntimeError, match="does not require gradients"):
        ember.autograd.functional.vjp(lambda a: ember.ones(2).sum(), ex[0], strict=True)


def test_errors_name_the_problem():
    F = ember.autograd.functional
    x = ember.ones(3)
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        F.jacobian(lambda a: a, [1.0, 2.0])
    with pytest.raises(RuntimeError, match="v can only be None"):
        F.vjp(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match=r"v has invalid size: should be \(3,\) but got \(2,\)"):
        F.vjp(lambda a: a * 2, x, ember.ones(2))
    with pytest.raises(RuntimeError, match="single element"):
        F.hessian(lambda a: a * 2, x)
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        F.jacobian(lambda a: a * 2, x, strategy="forward-mode")
    with pytest.raises(ValueError, match="strategy"):
        F.jacobian(lambda a: a * 2, x, strategy="sideways")


# ---------------------------------------------------------------------------- ember.func


def _pair(dtype="float64", shapes=((3,), (3, 2))):
    return _inputs(list(shapes), dtype, seed=5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_func_grad_and_value(dtype):
    (ex, ey), (tx, ty) = _pair(dtype)
    f = lambda L: (lambda x, y: f_scalar_two(L, x, y))
    for argnums in (0, 1, (0, 1), (1,)):
        _same(ember.func.grad(f(ember), argnums)(ex, ey), torch.func.grad(f(torch), argnums)(tx, ty), dtype)
        _same(ember.func.grad_and_value(f(ember), argnums)(ex, ey),
              torch.func.grad_and_value(f(torch), argnums)(tx, ty), dtype)
    aux = lambda L: (lambda x: ((x ** 2).sum(), {"m": x.mean()}))
    _same(ember.func.grad(aux(ember), has_aux=True)(ex), torch.func.grad(aux(torch), has_aux=True)(tx), dtype)
    _same(ember.func.grad_and_value(aux(ember), has_aux=True)(ex),
          torch.func.grad_and_value(aux(torch), has_aux=True)(tx), dtype)
    # grad of grad (second derivative of a scalar function of a scalar)
    s = lambda L: (lambda x: (x ** 3).sin())
    _same(ember.func.grad(ember.func.grad(s(ember)))(ex[0]), torch.func.grad(torch.func.grad(s(torch)))(tx[0]), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_func_jacrev_hessian_vjp(dtype):
    (ex, ey), (tx, ty) = _pair(dtype)
    for fn in (f_two_one, lambda L, x, y: f_two_two(L, x.reshape(1, 3), y)):
        for argnums in (0, 1, (0, 1)):
            _same(ember.func.jacrev(lambda x, y, fn=fn: fn(ember, x, y), argnums)(ex, ey),
                  torch.func.jacrev(lambda x, y, fn=fn: fn(torch, x, y), argnums)(tx, ty), dtype)
    for argnums in (0, (0, 1)):
        _same(ember.func.hessian(lambda x, y: f_scalar_two(ember, x, y), argnums)(ex, ey),
              torch.func.hessian(lambda x, y: f_scalar_two(torch, x, y), argnums)(tx, ty), dtype)
    oe, fe = ember.func.vjp(lambda x, y: f_two_two(ember, x.reshape(1, 3), y), ex, ey)
    ot, ft = torch.func.vjp(lambda x, y: f_two_two(torch, x.reshape(1, 3), y), tx, ty)
    _same(oe, ot, dtype)
    ct = [np.full(tuple(o.shape), 0.5, dtype) for o in ot]
    _same(fe(tuple(ember.from_numpy(c) for c in ct)), ft(tuple(torch.from_numpy(c) for c in ct)), dtype)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        fe((ember.ones(2), ember.ones(1, 2)))
    with pytest.raises(RuntimeError, match="argnums"):
        ember.func.grad(lambda x: x.sum(), argnums=3)(ex)
    with pytest.raises(RuntimeError, match="scalar"):
        ember.func.grad(lambda x: x * 2)(ex)


def test_functional_call_swaps_and_restores():
    ember.manual_seed(0)
    m = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.BatchNorm1d(4), ember.nn.Linear(4, 2))
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    m.eval()
    tm.eval()
    rng = np.random.default_rng(0)
    new = {k: rng.standard_normal(tuple(v.shape)).astype("float32") for k, v in m.state_dict().items()
           if k.endswith("weight") or k.endswith("running_mean")}
    x = rng.standard_normal((5, 3)).astype("float32")
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    ye = ember.func.functional_call(m, {k: ember.from_numpy(v) for k, v in new.items()}, ember.from_numpy(x))
    yt = torch.func.functional_call(tm, {k: torch.from_numpy(v) for k, v in new.items()}, (torch.from_numpy(x),))
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)
    # gradients flow to the substituted tensors (per-example-gradient style use)
    params = {k: v.detach().requires_grad_() for k, v in m.named_parameters()}
    loss = ember.func.functional_call(m, params, (ember.from_numpy(x),)).sum()
    loss.backward()
    assert all(p.grad is not None for p in params.values())
    assert all(p.grad is None for p in m.parameters())
    # torch.func.grad over functional_call, the usual idiom
    ge = ember.func.grad(lambda p: ember.func.functional_call(m, p, ember.from_numpy(x)).sum())(
        {k: v.detach() for k, v in m.named_parameters()})
    gt = torch.func.grad(lambda p: torch.func.functional_call(tm, p, torch.from_numpy(x)).sum())(
        {k: v.detach() for k, v in tm.named_parameters()})
    _same(ge, gt, "float32")
    with pytest.raises(RuntimeError, match="not parameters or buffers"):
        ember.func.functional_call(m, {"0.wieght": ember.ones(4, 3)}, ember.from_numpy(x))
    # restored even when forward raises
    w0 = m[0].weight
    with pytest.raises(RuntimeError):
        ember.func.functional_call(m, {"0.weight": ember.ones(4, 7)}, ember.from_numpy(x))
    assert m[0].weight is w0


def test_strict_create_graph_refuses_constant_jacobian_as_torch():

    for T in (ember, torch):
        x = T.tensor([1.0, 2.0], dtype=T.float64)
        with pytest.raises(RuntimeError, match="strict mode when create_graph=True"):
            T.autograd.functional.vjp(lambda a: a.sum(), x, strict=True, create_graph=True)
        out, g = T.autograd.functional.vjp(lambda a: (a ** 2).sum(), x, strict=True, create_graph=True)
        assert g.requires_grad

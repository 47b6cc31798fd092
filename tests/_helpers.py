"""The one helper that drives every op test: ``check(fn, *inputs)``.

``fn(L, *tensors)`` is written once against a torch-like library ``L`` and is called with ``L = ember``
and with ``L = torch`` on identical, seeded inputs. The helper then compares

1. forward values, shapes and dtypes (float32 and float64, the float64 pass on non-contiguous inputs);
2. gradients against torch for a random upstream gradient (``autograd.grad`` on every float output);
3. ``ember.autograd.gradcheck`` in float64 (random upstream gradient, central differences);
4. ``ember.autograd.gradgradcheck`` (second order).

Inputs are given as shapes (random floats in ``[low, high]``), NumPy arrays (float arrays take the
dtype under test; integer/bool arrays become index/mask tensors without grad) or anything else
(Python numbers, lists, dims), which is passed to both libraries unchanged.
"""
from __future__ import annotations

import numpy as np
import torch

import ember

FLOATS = ("float32", "float64")
TOL = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-7, atol=1e-9)}


def _flatten(out):
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_flatten(o))
        return res
    return [out]


def _is_float_input(x):
    return isinstance(x, tuple) or (isinstance(x, np.ndarray) and x.dtype.kind == "f")


def make_arrays(inputs, seed, low, high):
    """Float64 NumPy values for every float input (shapes drawn at random, seeded)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for x in inputs:
        if isinstance(x, tuple):
            arrays.append(rng.uniform(low, high, size=x))
        elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
            arrays.append(x.astype(np.float64))
        else:
            arrays.append(x)
    return arrays


def _strided(a):
    """A non-contiguous copy of ``a`` with the same values (every other element of a wider array)."""
    if a.ndim == 0:
        return a.copy()
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    view = wide[..., ::2]
    view[...] = a
    return view


def build(arrays, lib, dtype, requires_grad=True, noncontig=False):
    """Tensors for ``lib`` (ember or torch) from the values of ``make_arrays``."""
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray):
            if a.dtype.kind == "f":
                v = a.astype(dtype)
                if noncontig and v.ndim >= 1 and v.size > 1:
                    v = _strided(v)
                    assert not v.flags.c_contiguous
                t = lib.from_numpy(v)
                if requires_grad:
                    t.requires_grad_(True)
            else:
                t = lib.from_numpy(a.copy())
            out.append(t)
        else:
            out.append(a)
    return out


def _dtype_name(t):
    return str(t.dtype).replace("torch.", "").replace("ember.", "")


def assert_close_tensor(e, t, rtol, atol, what="value"):
    """An ember tensor against a torch tensor: shape, dtype and values (NaN where torch has NaN)."""
    assert isinstance(e, ember.Tensor), f"{what}: expected an ember.Tensor, got {type(e).__name__}"
    assert tuple(e.shape) == tuple(t.shape), f"{what}: shape {tuple(e.shape)} != torch {tuple(t.shape)}"
    assert _dtype_name(e) == _dtype_name(t), f"{what}: dtype {e.dtype} != torch {t.dtype}"
    ev = e.detach().numpy()
    tv = t.detach().numpy()
    if tv.dtype.kind in "iub":
        np.testing.assert_array_equal(ev, tv, err_msg=what)
    else:
        np.testing.assert_allclose(ev, tv, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _compare_outputs(eo, to, tol):
    eo, to = _flatten(eo), _flatten(to)
    assert len(eo) == len(to), f"ember returned {len(eo)} outputs, torch {len(to)}"
    for i, (e, t) in enumerate(zip(eo, to)):
        if isinstance(t, torch.Tensor):
            assert_close_tensor(e, t, what=f"output {i}", **tol)
        else:
            assert not isinstance(e, ember.Tensor), f"output {i}: torch gives {t!r}, ember a tensor"
            if isinstance(t, float):
                np.testing.assert_allclose(e, t, **tol)
            else:
                assert e == t, f"output {i}: {e!r} != torch {t!r}"
    return eo, to


def _compare_grads(fn, tfn, arrays, dtype, tol, seed, noncontig):
    e_in = build(arrays, ember, dtype, noncontig=noncontig)
    t_in = build(arrays, torch, dtype, noncontig=noncontig)
    eo = _flatten(fn(ember, *e_in))
    to = _flatten(tfn(torch, *t_in))
    e_wrt = [x for x in e_in if isinstance(x, ember.Tensor) and x.requires_grad]
    t_wrt = [x for x in t_in if isinstance(x, torch.Tensor) and x.requires_grad]
    rng = np.random.default_rng(seed + 7)
    e_outs, e_vs, t_outs, t_vs = [], [], [], []
    for e, t in zip(eo, to):
        if not (isinstance(t, torch.Tensor) and t.requires_grad and t.is_floating_point()):
            continue
        v = rng.standard_normal(tuple(t.shape)).astype(dtype)
        t_outs.append(t)
        t_vs.append(torch.from_numpy(v))
        if isinstance(e, ember.Tensor) and e.requires_grad:
            e_outs.append(e)
            e_vs.append(ember.from_numpy(v.copy()))
    if not t_outs or not t_wrt:
        return
    t_grads = torch.autograd.grad(t_outs, t_wrt, t_vs, allow_unused=True)
    if e_outs:
        e_grads = ember.autograd.grad(e_outs, e_wrt, e_vs, allow_unused=True)
    else:
        e_grads = [None] * len(e_wrt)
    for i, (x, eg, tg) in enumerate(zip(e_wrt, e_grads, t_grads)):
        tv = np.zeros(tuple(x.shape), dtype) if tg is None else tg.numpy()
        if eg is None:
            ev = np.zeros(tuple(x.shape), dtype)
        else:
            assert tuple(eg.shape) == tuple(x.shape), f"grad {i}: shape {tuple(eg.shape)} != input {tuple(x.shape)}"
            assert eg.dtype == x.dtype, f"grad {i}: dtype {eg.dtype} != input {x.dtype}"
            ev = eg.numpy()
        np.testing.assert_allclose(ev, tv, equal_nan=True, err_msg=f"gradient of input {i} ({dtype})", **tol)


def check(fn, *inputs, torch_fn=None, dtypes=FLOATS, grad=True, gradcheck=True, gradgrad=True, noncontig=True,
          low=-2.0, high=2.0, seed=0, rtol=None, atol=None, gc_atol=1e-5, gc_rtol=1e-3):
    """Compare ``fn(ember, *inputs)`` with ``(torch_fn or fn)(torch, *inputs)``: values, dtypes, gradients,
    gradcheck and gradgradcheck (see the module docstring)."""
    tfn = torch_fn or fn
    arrays = make_arrays(inputs, seed, low, high)
    has_float = any(_is_float_input(x) for x in inputs)
    for dt in dtypes if has_float else ("float64",):
        tol = dict(TOL[dt])
        if rtol is not None:
            tol["rtol"] = rtol
        if atol is not None:
            tol["atol"] = atol
        nc = noncontig and dt == "float64"
        eo = fn(ember, *build(arrays, ember, dt, requires_grad=False, noncontig=nc))
        to = tfn(torch, *build(arrays, torch, dt, requires_grad=False, noncontig=nc))
        _compare_outputs(eo, to, tol)
        if grad and has_float:
            _compare_grads(fn, tfn, arrays, dt, tol, seed, nc)
    if not has_float or not grad:
        return
    if gradcheck or gradgrad:
        e_in = build(arrays, ember, "float64")
        wrapped = lambda *xs: fn(ember, *xs)  # noqa: E731
        outs = [o for o in _flatten(wrapped(*e_in)) if isinstance(o, ember.Tensor) and o.requires_grad]
        if not outs:
            return
        wrapped_t = lambda *xs: tuple(  # noqa: E731
            o for o in _flatten(fn(ember, *xs)) if isinstance(o, ember.Tensor)
        )
        if gradcheck:
            assert ember.autograd.gradcheck(wrapped_t, tuple(e_in), atol=gc_atol, rtol=gc_rtol, seed=seed)
        if gradgrad:
            assert ember.autograd.gradgradcheck(wrapped_t, tuple(e_in), atol=gc_atol, rtol=gc_rtol, seed=seed)


def case(fn, *inputs, id=None, **kw):  # noqa: A002
    """One pytest parameter: ``case(lambda L, x: L.exp(x), (3, 2))``."""
    import pytest

    return pytest.param(fn, inputs, kw, id=id)


def to_numpy(t):
    """A torch or ember tensor as a NumPy array, its conjugate (and torch's negative) bits resolved: a
    conjugate view (``conj()``, ``mH``, ``ihfft``) refuses ``numpy()``, as torch's does."""
    if isinstance(t, torch.Tensor):
        return t.detach().resolve_conj().resolve_neg().numpy()
    return t.detach().resolve_conj().numpy()


def backward_with(to, eo, v):
    """Backward through torch's output ``to`` and ember's ``eo`` with the cotangent ``v`` (an array of their
    shape): ``Re(sum(out * conj(v)))`` for complex outputs, ``sum(out * v)`` for real ones."""
    if to.is_complex():
        (to * torch.tensor(np.conj(v))).real.sum().backward()
        (eo * ember.tensor(np.conj(v))).real.sum().backward()
    else:
        (to * torch.tensor(v)).sum().backward()
        (eo * ember.tensor(v)).sum().backward()

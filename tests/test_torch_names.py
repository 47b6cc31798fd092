"""grad_fn names and graph structure as torch's (issue 7): tutorials print them.

Each case builds ``y`` once against a torch-like library ``L``; torch's ``type(y.grad_fn).__name__``,
``y.grad_fn.name()`` and ``repr(y)``'s ``grad_fn=<...>`` are the expected ones. ``next_functions``
must have torch's shape: one ``(node_or_None, output_index)`` per input, ``AccumulateGrad`` nodes for
leaves with ``.variable`` the leaf itself.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember



def _leaves(L):
    x = L.tensor(np.linspace(0.5, 2.0, 6).reshape(2, 3), dtype=L.float32, requires_grad=True)
    w = L.tensor([0.5, 1.5, -1.0], dtype=L.float32, requires_grad=True)
    return x, w


def _linear(L, x):
    L.manual_seed(0)
    return L.nn.Linear(3, 4)(x)


CASES = {
    "add": lambda L, F, x, w: x + w,
    "add-scalar": lambda L, F, x, w: x + 1,
    "sub": lambda L, F, x, w: x - w,
    "mul": lambda L, F, x, w: x * w,
    "div": lambda L, F, x, w: x / w,
    "pow-tensor-scalar": lambda L, F, x, w: x ** 2,
    "pow-tensor-tensor": lambda L, F, x, w: x ** w,
    "pow-scalar-tensor": lambda L, F, x, w: 2 ** x,
    "matmul-2d": lambda L, F, x, w: x @ x.t(),
    "mm": lambda L, F, x, w: L.mm(x, x.t()),
    "linear-2d": lambda L, F, x, w: _linear(L, x),
    "sum": lambda L, F, x, w: x.sum(),
    "sum-dim": lambda L, F, x, w: x.sum(1),
    "mean": lambda L, F, x, w: x.mean(),
    "mean-dim": lambda L, F, x, w: x.mean(0),
    "exp": lambda L, F, x, w: x.exp(),
    "log": lambda L, F, x, w: x.log(),
    "relu": lambda L, F, x, w: x.relu(),
    "F.relu": lambda L, F, x, w: F.relu(x),
    "sigmoid": lambda L, F, x, w: x.sigmoid(),
    "tanh": lambda L, F, x, w: x.tanh(),
    "view": lambda L, F, x, w: x.view(3, 2),
    "reshape": lambda L, F, x, w: x.reshape(6),
    "transpose": lambda L, F, x, w: x.transpose(0, 1),
    "t": lambda L, F, x, w: x.t(),
    "permute": lambda L, F, x, w: x.permute(1, 0),
    "unsqueeze": lambda L, F, x, w: x.unsqueeze(0),
    "squeeze": lambda L, F, x, w: x.unsqueeze(0).squeeze(),
    "squeeze-dim": lambda L, F, x, w: x.unsqueeze(0).squeeze(0),
    "expand": lambda L, F, x, w: w.expand(2, 3),
    "cat": lambda L, F, x, w: L.cat([x, x]),
    "stack": lambda L, F, x, w: L.stack([x, x]),
    "clone": lambda L, F, x, w: x.clone(),
    "to-dtype": lambda L, F, x, w: x.to(L.float64),
    "double": lambda L, F, x, w: x.double(),
    "neg": lambda L, F, x, w: -x,
    "softmax": lambda L, F, x, w: F.softmax(x, dim=1),
    "log_softmax": lambda L, F, x, w: F.log_softmax(x, dim=1),
    "mse_loss": lambda L, F, x, w: F.mse_loss(x, L.zeros(2, 3)),
    "cross_entropy": lambda L, F, x, w: F.cross_entropy(x, L.tensor([0, 2])),
    "select": lambda L, F, x, w: x[0],
    "slice": lambda L, F, x, w: x[:, 1:],
    "index": lambda L, F, x, w: x[L.tensor([1, 0, 1])],
    "where": lambda L, F, x, w: L.where(x > 1, x, w),
    "masked_fill": lambda L, F, x, w: x.masked_fill(x > 1, 0.0),
    "abs": lambda L, F, x, w: x.abs(),
    "sqrt": lambda L, F, x, w: x.sqrt(),
    "max": lambda L, F, x, w: x.max(),
    "max-dim": lambda L, F, x, w: x.max(1)[0],
    "min": lambda L, F, x, w: x.min(),
    "min-dim": lambda L, F, x, w: x.min(0, keepdim=True)[0],
    "amax": lambda L, F, x, w: x.amax(),
    "linear-no-bias": lambda L, F, x, w: F.linear(x, x),
    "linear-3d": lambda L, F, x, w: _linear(L, x.view(1, 2, 3)),
    "linear-1d": lambda L, F, x, w: _linear(L, w),
    "linear-1d-no-bias": lambda L, F, x, w: F.linear(w, x),
    "masked_fill-tensor": lambda L, F, x, w: x.masked_fill(x > 1, w[0]),
    "stack-dim1": lambda L, F, x, w: L.stack([x, x * 2], 1),
    "mse_loss-sum": lambda L, F, x, w: F.mse_loss(x, x * 0.5, reduction="sum"),
    "mse_loss-none": lambda L, F, x, w: F.mse_loss(x, L.zeros(2, 3), reduction="none"),
    "nll-2d": lambda L, F, x, w: F.cross_entropy(x.view(1, 3, 2, 1), L.tensor([[[0], [2]]])),
}

def _build(L, case):
    x, w = _leaves(L)
    return CASES[case](L, L.nn.functional, x, w)


@pytest.mark.parametrize("case", list(CASES))
def test_grad_fn_name_as_torch(case):
    ref = _build(torch, case).grad_fn
    y = _build(ember, case)
    want = type(ref).__name__
    assert want == ref.name()
    assert y.grad_fn.name() == want
    assert f"grad_fn=<{want}>" in repr(y)
    assert repr(y.grad_fn).startswith(f"<{want} object at ")  # print(y.grad_fn), as tutorials do


# ------------------------------------------------------------------ next_functions
def _shape(fn, depth=2):
    """``next_functions`` as nested ``(type name, index, children)`` tuples, leaves as 'AccumulateGrad'."""
    if fn is None:
        return None
    if type(fn).__name__ == "AccumulateGrad":
        return "AccumulateGrad"
    name = fn.name()
    if depth == 0:
        return name
    return (name, tuple((_shape(f, depth - 1), i) for f, i in fn.next_functions))


STRUCT = {
    "mul-two-leaves": lambda L, x, w: x * w,
    "mul-scalar": lambda L, x, w: x * 2,
    "mul-constant": lambda L, x, w: x * L.ones(3),
    "sum-of-mul": lambda L, x, w: (x * w).sum(),
    "chain": lambda L, x, w: ((x + 1) * w).exp().sum(),
    "same-leaf-twice": lambda L, x, w: x * x,
    "linear": lambda L, x, w: _linear(L, x),
    "linear-frozen-weight": lambda L, x, w: L.nn.functional.linear(x, x.detach(), w[:2]),
    "linear-input-without-grad": lambda L, x, w: _linear(L, x.detach()),
    "linear-no-bias": lambda L, x, w: L.nn.functional.linear(x, x),
    "linear-3d": lambda L, x, w: _linear(L, x.view(1, 2, 3)),
    "linear-1d": lambda L, x, w: _linear(L, w),
    "linear-1d-no-bias": lambda L, x, w: L.nn.functional.linear(w, x),
    "stack": lambda L, x, w: L.stack([x, x * w]),
    "mse_loss-two-inputs": lambda L, x, w: L.nn.functional.mse_loss(x, x * w),
    "cross_entropy": lambda L, x, w: L.nn.functional.cross_entropy(x, L.tensor([0, 2])),
    "masked_fill-scalar": lambda L, x, w: x.masked_fill(x > 1, 0.0),
    "masked_fill-tensor": lambda L, x, w: x.masked_fill(x > 1, w[0]),
    "max": lambda L, x, w: x.max(),
    "max-dim": lambda L, x, w: x.max(1)[0],
    "unbind-output-index": lambda L, x, w: x.unbind(0)[1] * 1,
}


@pytest.mark.parametrize("case", list(STRUCT))
def test_next_functions_as_torch(case):
    x, w = _leaves(torch)
    ref = _shape(STRUCT[case](torch, x, w).grad_fn)
    x, w = _leaves(ember)
    got = _shape(STRUCT[case](ember, x, w).grad_fn)
    assert got == ref


def test_accumulate_grad_variable_is_the_leaf():
    x, w = _leaves(ember)
    y = x * w
    nf = y.grad_fn.next_functions
    assert isinstance(nf, tuple) and len(nf) == 2
    assert [type(f).__name__ for f, _ in nf] == ["AccumulateGrad", "AccumulateGrad"]
    assert nf[0][0].variable is x and nf[1][0].variable is w
    assert [i for _, i in nf] == [0, 0]
    z = (x * 2).sum()
    (mul, idx), = z.grad_fn.next_functions
    assert idx == 0 and mul.next_functions[1] == (None, 0)  # the constant 2 has no node, as torch's
    assert mul.next_functions[0][0].variable is x


def test_grad_fn_is_none_for_leaves_and_no_grad():
    x, _ = _leaves(ember)
    assert x.grad_fn is None
    with ember.no_grad():
        assert (x * 2).grad_fn is None
    assert "grad_fn" not in repr(x)
    assert "requires_grad=True" in repr(x)


@pytest.mark.parametrize("case", list(CASES))
def test_grad_fn_name_and_structure_survive_backward(case):
    """backward frees what a node saved; its name and next_functions stay (torch prints them after backward)."""
    y = _build(ember, case)
    before = (y.grad_fn.name(), _shape(y.grad_fn))
    assert before[0] == _build(torch, case).grad_fn.name()
    y.sum().backward()
    assert (y.grad_fn.name(), _shape(y.grad_fn)) == before

"""``inplace=True`` (functional and module forms) and the ``F.*_`` functions write into their input, as torch.

They used to return a new tensor and leave the input unchanged, so ``F.relu_(x)`` (return value unused) or a
module-level ``nn.ReLU(inplace=True)`` whose input was read again afterwards gave silently different numbers.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

VALS = np.array([[-2.5, -1.0, -0.2, 0.0], [0.3, 1.0, 2.0, 7.5]])

# (name, extra positional args) of every torch.nn.functional function with an inplace flag that is deterministic
FUNCS = [
    ("relu", ()), ("relu6", ()), ("hardtanh", (-1.0, 1.0)), ("leaky_relu", (0.1,)), ("elu", (0.7,)),
    ("selu", ()), ("celu", (0.5,)), ("silu", ()), ("mish", ()), ("hardsigmoid", ()), ("hardswish", ()),
    ("threshold", (0.25, -3.0)),
]
UNDERSCORE = [
    ("relu_", ()), ("hardtanh_", (-0.5, 0.5)), ("leaky_relu_", (0.2,)), ("elu_", (1.5,)), ("selu_", ()),
    ("celu_", (2.0,)), ("threshold_", (0.0, 9.0)),
]


def _call(lib, name, x, args, inplace):
    fn = getattr(lib.nn.functional, name)
    return fn(x, *args, inplace=True) if inplace else fn(x, *args)


@pytest.mark.parametrize("name,args", FUNCS, ids=[f[0] for f in FUNCS])
def test_inplace_flag_writes_into_input(name, args):
    for lib in (ember, torch):
        x = lib.tensor(VALS.copy())
        y = _call(lib, name, x, args, True)
        assert y is x, f"{lib.__name__}.{name}(inplace=True) must return its input"
        if lib is ember:
            ev = x.numpy().copy()
        else:
            np.testing.assert_allclose(ev, x.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,args", UNDERSCORE, ids=[f[0] for f in UNDERSCORE])
def test_underscore_functions_write_into_input(name, args):
    res = {}
    for lib in (ember, torch):
        x = lib.tensor(VALS.copy())
        getattr(lib.nn.functional, name)(x, *args)  # return value unused: the input itself must change
        res[lib.__name__] = x.numpy().copy()
    np.testing.assert_allclose(res["ember"], res["torch"], rtol=1e-12, atol=1e-12)
    assert not np.allclose(res["ember"], VALS)


@pytest.mark.parametrize("name,args", FUNCS, ids=[f[0] for f in FUNCS])
def test_inplace_flag_gradient_through_non_leaf(name, args):
    grads, outs = {}, {}
    for lib in (ember, torch):
        a = lib.tensor(VALS.copy(), requires_grad=True)
        w = lib.tensor(np.arange(8.0).reshape(2, 4) - 3.0)
        h = a * 1.5  # a non-leaf: in place is allowed on it
        _call(lib, name, h, args, True)
        (h * w).sum().backward()  # h itself now holds the activation
        grads[lib.__name__], outs[lib.__name__] = a.grad.numpy(), h.detach().numpy()
    np.testing.assert_allclose(outs["ember"], outs["torch"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["ember"], grads["torch"], rtol=1e-7, atol=1e-12)  # torch: 1/6 in float32


@pytest.mark.parametrize("name,args", FUNCS, ids=[f[0] for f in FUNCS])
def test_inplace_flag_on_leaf_requiring_grad_raises(name, args):
    with pytest.raises(RuntimeError) as t_err:
        _call(torch, name, torch.tensor(VALS.copy(), requires_grad=True), args, True)
    with pytest.raises(RuntimeError, match="leaf") as e_err:
        _call(ember, name, ember.tensor(VALS.copy(), requires_grad=True), args, True)
    assert "leaf" in str(t_err.value)
    assert "no_grad" in str(e_err.value) or "clone" in str(e_err.value)


def test_inplace_after_op_that_saved_its_output_raises_as_torch():
    for lib in (ember, torch):
        x = lib.tensor(VALS.copy(), requires_grad=True)
        y = x.sigmoid()  # sigmoid's backward reads its output
        lib.nn.functional.relu(y, inplace=True)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


MODULES = [
    ("ReLU", ()), ("ReLU6", ()), ("SiLU", ()), ("Mish", ()), ("SELU", ()), ("Hardsigmoid", ()),
    ("Hardswish", ()), ("LeakyReLU", (0.05,)), ("ELU", (0.9,)), ("CELU", (1.1,)), ("Hardtanh", (-0.3, 0.4)),
    ("Threshold", (0.1, 20.0)),
]


@pytest.mark.parametrize("name,args", MODULES, ids=[m[0] for m in MODULES])
def test_modules_with_inplace_true(name, args):
    res = {}
    for lib in (ember, torch):
        m = getattr(lib.nn, name)(*args, inplace=True)
        a = lib.tensor(VALS.copy(), requires_grad=True)
        h = a * 2.0
        out = m(h)
        assert out is h
        (h * h).sum().backward()  # reads h after the module: it holds the activation, as in torch
        res[lib.__name__] = (h.detach().numpy(), a.grad.numpy(), repr(m))
    assert res["ember"][2] == res["torch"][2]
    for i in range(2):
        np.testing.assert_allclose(res["ember"][i], res["torch"][i], rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("name", ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                                  "feature_alpha_dropout"])
def test_dropout_inplace_writes_into_input(name):
    shape = {"dropout1d": (2, 3, 8), "dropout2d": (2, 3, 4, 4), "dropout3d": (2, 3, 2, 2, 2)}.get(name, (4, 6, 5))
    x = ember.ones(shape) * 2.0
    before = x.numpy().copy()
    y = getattr(ember.nn.functional, name)(x, 0.5, True, True)
    assert y is x
    assert not np.array_equal(x.numpy(), before)  # p = 0.5 over 100+ elements: some were dropped
    x = ember.ones(shape)
    assert getattr(ember.nn.functional, name)(x, 0.5, False, True) is x  # eval: identity, same object
    np.testing.assert_array_equal(x.numpy(), np.ones(shape))


def test_dropout_module_inplace():
    ember.manual_seed(0)
    m = ember.nn.Dropout(0.5, inplace=True)
    x = ember.ones(64)
    assert m(x) is x
    vals = set(np.unique(x.numpy()).tolist())
    assert vals == {0.0, 2.0}

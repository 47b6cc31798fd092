"""The layout of ember._ops (one module per op family): what the package promises to the rest of ember."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import _ops
from ember._ops import _registry


def test_importing_the_core_does_not_load_nn():
    code = "import sys, ember._ops, ember; print([m for m in sys.modules if m.startswith('ember.nn')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env=dict(os.environ)).stdout
    assert out.strip() == "[]"


def test_cosine_similarity_is_in_the_core_and_nn_functional_uses_it():
    import ember.nn.functional as F

    assert F.cosine_similarity is ember.cosine_similarity
    a = ember.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = ember.tensor([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(ember.cosine_similarity(a, b).numpy(), [1.0, 2 ** -0.5], rtol=1e-6)
    with pytest.raises(RuntimeError, match="cosine_similarity.*floating-point"):
        ember.cosine_similarity(ember.tensor([1, 2]), ember.tensor([1, 2]))


def test_all_is_the_union_of_the_families_and_every_name_resolves():
    names = [n for m in _ops._FAMILIES for n in m.__all__]
    assert len(names) == len(set(names)), "an op is public in two family modules"
    assert sorted(_ops.__all__) == sorted(names)
    for n in _ops.__all__:
        assert getattr(_ops, n) is getattr(ember, n) or n == "range", n


def test_every_ns_function_is_reachable_from_the_package():
    # ember.autograd.functional_ns.TENSOR_NS looks ns_<name> up on ember._ops, falling back to <name>
    for m in _ops._FAMILIES:
        for n in vars(m):
            if n.startswith("ns_"):
                assert getattr(_ops, n) is getattr(m, n), f"{m.__name__}.{n} is not exported by ember._ops"


def test_registered_methods_are_bound_and_inplace_forms_write_into_the_tensor():
    for fn, names, inplace_names, dunder in _registry.REGISTERED:
        for n in names:
            assert hasattr(ember.Tensor, n), n
        for n in inplace_names:
            assert hasattr(ember.Tensor, n + "_"), n + "_"
        if dunder:
            assert getattr(ember.Tensor, dunder) is fn
    x = ember.tensor([-1.5, 2.0])
    assert x.abs_() is x and x.tolist() == [1.5, 2.0]
    y = ember.tensor([0.25, 4.0])
    y.log2_()
    assert y.tolist() == [-2.0, 2.0]
    z = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    z.scatter_(1, ember.tensor([[0], [1]]), ember.tensor([[10.0], [10.0]]), reduce="add")  # the "call" path
    assert z.tolist() == [[11.0, 2.0], [3.0, 14.0]]


def test_inplace_method_errors_name_the_op():
    x = ember.zeros(3)
    with pytest.raises(RuntimeError, match=r"^copysign_: output with shape \(3,\) doesn't match .* \(2, 3\)"):
        x.copysign_(ember.zeros(2, 3))


def test_tensor_method_decorator_forms():
    reg = list(_registry.REGISTERED)
    try:
        @_registry.tensor_method
        def f1(x):
            return x

        @_registry.tensor_method("g1", "g2", inplace=("g1",))
        def f2(x):
            return x

        _registry.tensor_method(f1, "h1", inplace=True, method=False)
        assert _registry.REGISTERED[-3:] == [(f1, ("f1",), (), None), (f2, ("g1", "g2"), ("g1",), None),
                                             (f1, (), ("h1",), None)]
    finally:
        _registry.REGISTERED[:] = reg

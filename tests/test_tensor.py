"""Tensor creation, random streams, dtypes and promotion, metadata, conversions and repr, against torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def same(e, t):
    """Same shape, dtype name and values as a torch tensor."""
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], (e.dtype, t.dtype)
    np.testing.assert_allclose(np.asarray(e.numpy(), dtype=np.float64), t.numpy().astype(np.float64), rtol=1e-6)


# ------------------------------------------------------------------ creation

CREATION = [
    lambda L: L.tensor([[1, 2], [3, 4]]),
    lambda L: L.tensor([1.5, 2.0]),
    lambda L: L.tensor(3.0),
    lambda L: L.tensor(7),
    lambda L: L.tensor([True, False]),
    lambda L: L.tensor([1, 2], dtype=L.float64),
    lambda L: L.tensor(np.array([1.0, 2.0])),  # NumPy float64 keeps its dtype
    lambda L: L.tensor(np.array([1, 2], dtype=np.int32)),
    lambda L: L.tensor([]),
    lambda L: L.as_tensor([1, 2, 3]),
    lambda L: L.as_tensor(np.arange(3.0), dtype=L.float32),
    lambda L: L.zeros(2, 3),
    lambda L: L.zeros((2, 3), dtype=L.int64),
    lambda L: L.ones(4),
    lambda L: L.ones(()),
    lambda L: L.full((2, 2), 1.5),
    lambda L: L.full((2,), 3),
    lambda L: L.full((2,), True),
    lambda L: L.empty(2, 3).shape,
    lambda L: L.zeros_like(L.ones(2, 3, dtype=L.float64)),
    lambda L: L.ones_like(L.zeros(2, dtype=L.int32)),
    lambda L: L.full_like(L.zeros(3), 7.0),
    lambda L: L.empty_like(L.zeros(2, 1)).shape,
    lambda L: L.arange(5),
    lambda L: L.arange(1, 4, 0.5),
    lambda L: L.arange(5, 0, -2),
    lambda L: L.arange(0.0, 1.0, 0.1),
    lambda L: L.linspace(0, 1, 5),
    lambda L: L.linspace(-2, 2, 1),
    lambda L: L.eye(3),
    lambda L: L.eye(2, 4, dtype=L.int64),
    lambda L: L.zeros(0, 3),
]


@pytest.mark.parametrize("f", CREATION)
def test_creation_matches_torch(f):
    e, t = f(ember), f(torch)
    if isinstance(t, torch.Size):
        assert tuple(e) == tuple(t)
    else:
        same(e, t)


def test_tensor_copies_and_from_numpy_shares():
    a = np.array([1.0, 2.0])
    t = ember.tensor(a)
    f = ember.from_numpy(a)
    s = ember.as_tensor(a)
    a[0] = 9.0
    assert t.tolist() == [1.0, 2.0]
    assert f.tolist() == [9.0, 2.0] and s.tolist() == [9.0, 2.0]
    f[1] = 5.0
    assert a[1] == 5.0
    assert f.numpy() is a or np.shares_memory(f.numpy(), a)
    with pytest.raises(TypeError, match="from_numpy"):
        ember.from_numpy([1, 2])


def test_creation_requires_grad_flags():
    for x in (ember.zeros(2, requires_grad=True), ember.ones(2, requires_grad=True),
              ember.tensor([1.0], requires_grad=True), ember.rand(2, requires_grad=True),
              ember.randn(2, requires_grad=True), ember.linspace(0, 1, 3, requires_grad=True),
              ember.arange(3.0, requires_grad=True), ember.full((2,), 1.0, requires_grad=True)):
        assert x.requires_grad and x.is_leaf


# ------------------------------------------------------------------ random


def test_manual_seed_reproducible_streams():
    ember.manual_seed(123)
    a = [ember.rand(3), ember.randn(2, 2), ember.randint(0, 10, (5,)), ember.randperm(6)]
    ember.manual_seed(123)
    b = [ember.rand(3), ember.randn(2, 2), ember.randint(0, 10, (5,)), ember.randperm(6)]
    for x, y in zip(a, b):
        assert x.tolist() == y.tolist()
    ember.manual_seed(124)
    assert ember.rand(3).tolist() != a[0].tolist()


def test_random_dtypes_shapes_and_ranges():
    ember.manual_seed(0)
    r = ember.rand(1000)
    assert r.dtype == ember.float32 and 0 <= r.min().item() and r.max().item() < 1
    n = ember.randn(2000, dtype=ember.float64)
    assert n.dtype == ember.float64 and abs(n.mean().item()) < 0.1 and abs(n.std().item() - 1) < 0.1
    i = ember.randint(3, 7, (50,))
    assert i.dtype == ember.int64 and set(i.tolist()) <= {3, 4, 5, 6}
    assert ember.randint(5, (2, 3)).shape == (2, 3) and ember.randint(5, size=(2,)).shape == (2,)
    p = ember.randperm(10)
    assert p.dtype == ember.int64 and sorted(p.tolist()) == list(range(10))
    x = ember.zeros(2, 3, dtype=ember.float64)
    assert ember.rand_like(x).shape == (2, 3) and ember.rand_like(x).dtype == ember.float64
    assert ember.randn_like(x).dtype == ember.float64
    assert ember.randint_like(ember.zeros(4, dtype=ember.int64), 0, 3).dtype == ember.int64


def test_generator_independent_streams_and_state_round_trip():
    g1 = ember.Generator().manual_seed(7)
    g2 = ember.Generator().manual_seed(7)
    assert ember.rand(4, generator=g1).tolist() == ember.rand(4, generator=g2).tolist()
    state = g1.get_state()
    assert state.dtype == ember.uint8
    a = ember.randn(5, generator=g1).tolist()
    g1.set_state(state)
    assert ember.randn(5, generator=g1).tolist() == a
    # the default generator's state
    ember.manual_seed(1)
    s = ember.get_rng_state()
    x = ember.rand(3).tolist()
    ember.set_rng_state(s)
    assert ember.rand(3).tolist() == x
    assert ember.initial_seed() == 1
    # drawing from a private generator does not move the default stream
    ember.manual_seed(5)
    ember.rand(3, generator=ember.Generator().manual_seed(0))
    y = ember.rand(2).tolist()
    ember.manual_seed(5)
    assert ember.rand(2).tolist() == y


# ------------------------------------------------------------------ dtypes and promotion


def test_dtype_objects_and_defaults():
    assert ember.tensor([1.0]).dtype == ember.float32 == ember.get_default_dtype()
    assert ember.tensor([1]).dtype == ember.int64
    assert ember.tensor([True]).dtype == ember.bool
    assert ember.float is ember.float32 and ember.double is ember.float64 and ember.long is ember.int64
    assert ember.half is ember.float16 and ember.int is ember.int32
    assert repr(ember.float32) == "ember.float32"
    assert ember.float32.is_floating_point and not ember.int64.is_floating_point
    assert ember.float64.itemsize == 8
    for name in ("float16", "float32", "float64", "int64", "int32", "uint8", "bool"):
        d = getattr(ember, name)
        assert ember.zeros(1, dtype=d).dtype == d
        assert ember.zeros(1, dtype=name).dtype == d


def test_set_default_dtype():
    try:
        ember.set_default_dtype(ember.float64)
        assert ember.tensor([1.0]).dtype == ember.float64
        assert ember.zeros(2).dtype == ember.float64
        assert (ember.tensor([1, 2]) / 2).dtype == ember.float64
    finally:
        ember.set_default_dtype(ember.float32)
    with pytest.raises(TypeError, match="floating"):
        ember.set_default_dtype(ember.int64)


NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("a", NAMES)
def test_promote_types_matches_torch(a):
    for b in NAMES:
        e = ember.promote_types(getattr(ember, a), getattr(ember, b))
        t = torch.promote_types(getattr(torch, a), getattr(torch, b))
        assert e.name == str(t).split(".")[-1], (a, b)


@pytest.mark.parametrize("a", NAMES)
def test_binary_result_dtype_with_dims_and_0d_matches_torch(a):
    for b in NAMES:
        for sa, sb in (((2,), (2,)), ((2,), ()), ((), (2,)), ((), ())):
            ea, eb = ember.ones(sa, dtype=getattr(ember, a)), ember.ones(sb, dtype=getattr(ember, b))
            ta, tb = torch.ones(sa, dtype=getattr(torch, a)), torch.ones(sb, dtype=getattr(torch, b))
            assert (ea * eb).dtype.name == str(torch.result_type(ta, tb)).split(".")[-1], (a, sa, b, sb)


@pytest.mark.parametrize("a", NAMES)
def test_python_scalar_promotion_matches_torch(a):
    for s in (2, 2.5, True):
        e = ember.ones(2, dtype=getattr(ember, a)) * s
        t = torch.ones(2, dtype=getattr(torch, a)) * s
        assert e.dtype.name == str(t.dtype).split(".")[-1], (a, s)


# ------------------------------------------------------------------ metadata, conversion


def test_metadata():
    x = ember.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert isinstance(x.shape, tuple) and repr(x.shape) == "ember.Size([2, 3, 4])"
    assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24 and len(x) == 2
    assert x.dtype == ember.float32 and str(x.device) == "cpu" and x.device == ember.device("cpu")
    assert x.is_floating_point() and not ember.zeros(1, dtype=ember.int64).is_floating_point()
    assert ember.tensor(1.0).dim() == 0 and ember.tensor(1.0).numel() == 1
    assert x.element_size() == 4


def test_numpy_item_tolist():
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().dtype == np.float32
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert ember.tensor(2.5).item() == 2.5 and isinstance(ember.tensor(2.5).item(), float)
    assert ember.tensor([7]).item() == 7 and isinstance(ember.tensor([7]).item(), int)
    assert ember.tensor(True).item() is True
    assert ember.tensor(3).tolist() == 3
    assert float(ember.tensor(1.5)) == 1.5 and int(ember.tensor(2)) == 2
    assert [10, 20, 30][ember.tensor(1)] == 20  # __index__
    y = ember.tensor([1.0], requires_grad=True)
    assert y.detach().numpy().tolist() == [1.0]


def test_clone_is_a_copy_in_the_graph():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert not np.shares_memory(c._data, x._data) and c.requires_grad and not c.is_leaf
    (c * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("method,dtype", [("float", "float32"), ("double", "float64"), ("long", "int64"),
                                          ("int", "int32"), ("bool", "bool"), ("half", "float16")])
def test_conversion_methods(method, dtype):
    vals = [[0.0, 1.7], [-2.2, 3.0]]
    e = getattr(ember.tensor(vals), method)()
    t = getattr(torch.tensor(vals), method)()
    same(e, t)
    assert e.dtype == getattr(ember, dtype)


def test_to_dtype_and_to_like_torch():
    x = ember.tensor([1.5, -2.5])
    assert x.to(ember.float64).dtype == ember.float64
    assert x.to(dtype=ember.int64).tolist() == torch.tensor([1.5, -2.5]).to(torch.int64).tolist()
    assert x.to("cpu") is x
    assert x.to(ember.float32) is x
    assert x.to(ember.zeros(1, dtype=ember.float64)).dtype == ember.float64
    assert x.to(ember.float32, copy=True) is not x


def test_to_float64_is_differentiable():
    x = ember.tensor([1.5, -2.5], requires_grad=True)
    y = x.double()
    assert y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == ember.float32 and x.grad.tolist() == [3.0, -5.0]


def test_len_iteration_and_array_protocol():
    x = ember.tensor([[1, 2], [3, 4], [5, 6]])
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and rows[1].tolist() == [3, 4]
    assert [r.sum().item() for r in x] == [3, 7, 11]
    a = np.asarray(x)
    assert a.shape == (3, 2) and a.dtype == np.int64
    assert np.array(x, dtype=np.float64).dtype == np.float64


def test_iteration_gradient_flows():
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    total = sum((row * row).sum() for row in x)
    total.backward()
    assert x.grad.tolist() == [[2.0, 4.0], [6.0, 8.0]]


# ------------------------------------------------------------------ repr

REPRS = [
    "tensor([[1., 2.]], requires_grad=True)",
    "tensor([1, 2, 3])",
    "tensor([1.5000, 2.2500])",
    "tensor(3.)",
    "tensor([ True, False])",
    "zeros(2, 3)",
    "tensor([1., 2.], dtype=DT.float64)",
    "tensor([1, 2], dtype=DT.int32)",
    "zeros(0)",
    "zeros(2, 0)",
    "tensor([1e-5, 1.])",
    "tensor([1e10, 1.])",
    "tensor([0.1, float('nan'), float('inf')])",
    "arange(12).reshape(3, 4)",
    "tensor([-1.5, 2.0])",
    "ones(2, 2, 2)",
    "tensor(2)",
    "tensor([0.12345678, -3.5])",
    "tensor(2.5, requires_grad=True)",
    "tensor([float('inf'), -float('inf')])",
    "tensor([1., float('inf'), -float('inf')])",
    "tensor([0., float('nan')])",
    "tensor([[float('inf'), 1.], [-float('inf'), float('nan')]])",
    "tensor([100., -float('inf'), float('nan'), -0.])",
    "tensor([-12., 3.])",
]


@pytest.mark.parametrize("expr", REPRS)
def test_repr_matches_torch(expr):
    e = eval("ember." + expr.replace("DT", "ember"))
    t = eval("torch." + expr.replace("DT", "torch"))
    assert repr(e) == repr(t).replace("torch.", "ember.")
    assert str(e) == repr(e)


def test_repr_of_the_brief():
    assert repr(ember.tensor([[1.0, 2.0]], requires_grad=True)) == "tensor([[1., 2.]], requires_grad=True)"
    assert repr(ember.tensor([[1.0, 2.0]], requires_grad=True) * 2).startswith("tensor([[2., 4.]], grad_fn=<Mul")
    assert f"{ember.tensor(0.5):.2f}" == "0.50"

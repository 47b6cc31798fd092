"""torch's parameter names, order, defaults and keyword-only markers, checked by calling torch and ember
the same way (``torch.matmul(input=a, other=b)``), and torch's ``out=`` semantics.

tests/test_api_coverage.py compares the signatures themselves (torch's from its type stubs); here each
call of the table runs in both libraries, by keyword, and the results must agree.
"""
import importlib.util
import inspect
import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ember  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lib(mod):
    return torch if mod == "torch" else ember


def _conv(lib, v, keep_numpy=False):
    """Arguments given as numpy arrays become tensors of the library; dtype names become dtypes."""
    if isinstance(v, np.ndarray) and not keep_numpy:
        return lib.tensor(v)
    if isinstance(v, str) and v.startswith("dtype:"):
        return getattr(lib, v[6:])
    if isinstance(v, (list, tuple)) and v and isinstance(v[0], np.ndarray):
        return type(v)(_conv(lib, x) for x in v)
    return v


def _resolve(lib, path):
    obj = lib
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _val(r):
    if isinstance(r, (tuple, list)):
        return [_val(x) for x in r]
    if hasattr(r, "detach") and hasattr(r, "numpy"):
        return r.detach().numpy()
    if isinstance(r, (torch.dtype, ember.dtype)):
        return str(r).split(".")[-1]
    return r


A = np.arange(6, dtype=np.float32).reshape(2, 3) / 7 + 0.5
SQ = np.array([[2.0, 0.5], [0.25, 3.0]])
V = np.array([0.5, -1.5, 2.0])

# (function path, positional args, keyword args): the same call in both libraries
CALLS = [
    ("numel", (), {"input": A}),
    ("is_floating_point", (), {"input": A}),
    ("promote_types", (), {"type1": "dtype:int32", "type2": "dtype:float32"}),
    ("linalg.inv", (), {"A": SQ}),
    ("linalg.det", (), {"A": SQ}),
    ("linalg.norm", (), {"input": SQ, "ord": 1, "dim": (0, 1), "keepdim": True}),
    ("linalg.norm", (V,), {"ord": 3}),
    ("linalg.svdvals", (), {"A": SQ, "driver": None}),
    # the op families: every parameter by its torch name
    ("matmul", (), {"input": A, "other": A.T}),
    ("add", (), {"input": A, "other": A, "alpha": 2}),
    ("sub", (), {"input": A, "other": 1.5, "alpha": 2}),
    ("mul", (), {"input": A, "other": A}),
    ("div", (), {"input": A, "other": 0.3, "rounding_mode": "trunc"}),
    ("pow", (), {"input": A, "exponent": 3}),
    ("maximum", (), {"input": A, "other": A.T.T * 0.5}),
    ("max", (A,), {"other": A * 0}),
    ("sum", (), {"input": A, "dim": 1, "keepdim": True, "dtype": "dtype:float64"}),
    ("mean", (), {"input": A, "dim": (0, 1)}),
    ("var", (A,), {"dim": 1, "unbiased": False}),
    ("std", (A,), {"dim": 0, "correction": 0}),
    ("cat", (), {"tensors": [A, A], "dim": 1}),
    ("stack", (), {"tensors": [A, A], "dim": 0}),
    ("clamp", (), {"input": A, "min": 0.6, "max": 0.9}),
    ("where", (), {"condition": A > 0.7, "input": A, "other": -A}),
    ("gather", (), {"input": A, "dim": 1, "index": np.array([[0, 0], [2, 1]])}),
    ("transpose", (), {"input": A, "dim0": 0, "dim1": 1}),
    ("reshape", (), {"input": A, "shape": (3, 2)}),
    ("permute", (), {"input": A, "dims": (1, 0)}),
    ("flatten", (), {"input": A, "start_dim": 0, "end_dim": -1}),
    ("unsqueeze", (), {"input": A, "dim": 0}),
    ("argmax", (), {"input": A, "dim": 1, "keepdim": False}),
    ("cumsum", (), {"input": A, "dim": 1}),
    ("exp", (), {"input": A}),
    ("tanh", (), {"input": A}),
    ("abs", (), {"input": -A}),
    ("eq", (), {"input": A, "other": A}),
    ("diag", (), {"input": V, "diagonal": 1}),
    ("dot", (), {"input": V, "tensor": V}),
    ("swapaxes", (), {"input": A, "axis0": 0, "axis1": 1}),
    ("zeros", (), {"size": (2, 3), "dtype": "dtype:float64"}),
    ("ones", (2,), {"dtype": "dtype:int64", "layout": None}),
    ("full", (), {"size": (2,), "fill_value": 3.5}),
    ("arange", (), {"start": 1, "end": 7, "step": 2}),
    ("linspace", (), {"start": 0.0, "end": 1.0, "steps": 4}),
    ("eye", (), {"n": 2, "m": 3}),
    ("zeros_like", (), {"input": A, "dtype": "dtype:int64"}),
    ("full_like", (), {"input": A, "fill_value": 2.0}),
    ("nan_to_num", (), {"input": np.array([np.nan, np.inf, 1.0])}),
    ("nn.functional.softmax", (), {"input": A, "dim": 1}),
    ("special.expit", (), {"input": A}),
    ("linalg.cross", (np.arange(9.0).reshape(3, 3), np.eye(3)[::-1].copy()), {}),  # dim=-1 by default
    ("searchsorted", (np.array([[1, 3, 5], [2, 4, 6]]), np.array([[3], [5]])), {"side": "right"}),
    ("searchsorted", (np.array([1.0, 2.0, 3.0]),), {"input": np.array([2.0]), "out_int32": True}),
    ("repeat_interleave", (np.array([1, 2]),), {}),
    ("repeat_interleave", (), {"input": V, "repeats": 2, "dim": 0, "output_size": 6}),
    ("meshgrid", (V, V[:2]), {"indexing": "xy"}),
    ("cdist", (A, A), {"p": 1.0}),
    ("trapezoid", (V,), {"dx": 0.5}),
    ("mm", (), {"input": A, "mat2": A.T}),
    ("asarray", ([1.0, 2.0],), {"requires_grad": None}),
    ("hsplit", (np.arange(12.0).reshape(2, 6),), {"indices": [1, 4]}),
    ("vsplit", (np.arange(12.0).reshape(2, 6),), {"sections": 2}),
    ("tensor_split", (np.arange(7.0),), {"indices": [1, 5]}),
    ("tensor_split", (np.arange(7.0), 3), {"dim": 0}),
]

# Tensor methods: (method, positional args, keyword args), on a fresh copy of A in both libraries
METHODS = [
    ("addcmul_", (), {"tensor1": A, "tensor2": A, "value": 0.5}),
    ("addcdiv_", (A,), {"tensor2": A + 1, "value": 2}),
    ("copy_", (), {"other": A * 2, "non_blocking": False}),
    ("pow_", (), {"exponent": 2}),
    ("div_", (A + 1,), {"rounding_mode": "floor"}),
    ("div_", (), {"other": 3.0, "rounding_mode": "trunc"}),
    ("new_full", (), {"size": (2, 2), "fill_value": 3, "dtype": "dtype:int64"}),
    ("new_zeros", ((2, 1),), {"dtype": "dtype:float64", "requires_grad": False}),
    ("new_ones", (2, 3), {"layout": None}),
    ("new_tensor", ([1, 2],), {"dtype": "dtype:float64", "requires_grad": False}),
    ("to", ("dtype:float64", False, True), {}),
    ("to", (), {"dtype": "dtype:float16", "copy": True}),
    ("view", (), {"size": (3, 2)}),
    ("cpu", (), {}),
    ("type", ("dtype:float64",), {"non_blocking": False}),
    ("scatter_", (1, np.array([[0], [2]]), 9.0), {}),
    ("where", (A > 0.7, -A), {}),  # x.where(condition, y) is where(condition, x, y)
    ("flip", (0, 1), {}),
    ("flip", (), {"dims": (1,)}),
    ("tile", (2, 1), {}),
    ("swapdims_", (), {"dim0": 0, "dim1": 1}),
    ("repeat", (), {"repeats": (2, 1)}),
    ("expand", (), {"size": (3, 2, 3)}),
    ("broadcast_to", (), {"size": (2, 2, 3)}),
    ("count_nonzero", (0, 1), {}),
    ("squeeze", (), {"dim": 0}),
    ("unsqueeze", (0,), {}),
    ("std", (), {"dim": 1, "unbiased": False, "keepdim": True}),
]


def _ids(table):
    return [f"{c[0]}-{i}" for i, c in enumerate(table)]


@pytest.mark.parametrize("path,args,kwargs", CALLS, ids=_ids(CALLS))
def test_keyword_calls_agree_with_torch(path, args, kwargs):
    res = {}
    for name in ("torch", "ember"):
        lib = _lib(name)
        fn = _resolve(lib, path)
        res[name] = _val(fn(*[_conv(lib, a) for a in args],
                            **{k: _conv(lib, v, keep_numpy=k == "ndarray") for k, v in kwargs.items()}))
    if isinstance(res["torch"], (str, bool)):
        assert res["ember"] == res["torch"]
    elif isinstance(res["torch"], list):  # several tensors (split, sort, ...)
        assert len(res["ember"]) == len(res["torch"])
        for e, t in zip(res["ember"], res["torch"]):
            np.testing.assert_allclose(np.asarray(e, dtype=float), np.asarray(t, dtype=float), rtol=1e-6)
    else:
        np.testing.assert_allclose(np.asarray(res["ember"], dtype=float), np.asarray(res["torch"], dtype=float),
                                   rtol=1e-6)


@pytest.mark.parametrize("method,args,kwargs", METHODS, ids=_ids(METHODS))
def test_tensor_method_keyword_calls_agree_with_torch(method, args, kwargs):
    res = {}
    for name in ("torch", "ember"):
        lib = _lib(name)
        t = lib.tensor(A.copy())
        if method == "scatter_":
            args = (args[0], np.asarray(args[1]), args[2])
            conv = [args[0], lib.tensor(args[1]), args[2]]
        else:
            conv = [_conv(lib, a) for a in args]
        r = getattr(t, method)(*conv, **{k: _conv(lib, v) for k, v in kwargs.items()})
        res[name] = (str(r.dtype).split(".")[-1], tuple(r.shape), r.detach().numpy())
    assert res["ember"][:2] == res["torch"][:2]
    np.testing.assert_allclose(res["ember"][2], res["torch"][2], rtol=1e-6)


def test_random_functions_take_torchs_keywords():
    for lib in (torch, ember):
        lib.manual_seed(0)
        assert lib.randint(high=10, size=(3,)).shape == (3,)
        assert lib.randint(2, 10, (4,), dtype=lib.int32).dtype == lib.int32
        assert lib.rand(2, 3, layout=lib.strided, pin_memory=False).shape == (2, 3)
        assert lib.randn(size=(2,)).shape == (2,) if lib is torch else True
        assert lib.randn_like(input=lib.zeros(2, 3), dtype=lib.float64).dtype == lib.float64
        assert lib.rand_like(lib.zeros(2), memory_format=lib.preserve_format).shape == (2,)
        r = lib.randint_like(lib.zeros(4), low=3, high=5)
        assert ((r >= 3) & (r < 5)).all()
        assert lib.multinomial(input=lib.ones(4), num_samples=2).shape == (2,)
        assert lib.normal(mean=0.0, std=1.0, size=(3,)).shape == (3,)
        assert lib.normal(lib.zeros(3)).shape == (3,)
        assert float(lib.bernoulli(lib.zeros(3), p=1.0).sum()) == 3.0
        with pytest.raises(TypeError):
            lib.rand_like(lib.zeros(2), lib.float64)  # dtype is keyword-only in torch
    with pytest.raises(NotImplementedError, match=r"layout=.*only layout=torch.strided"):
        ember.zeros(2).new_zeros(2, layout="sparse")
    with pytest.raises(RuntimeError, match="pin_memory=True"):
        ember.rand(2, pin_memory=True)


def test_layout_and_memory_format_objects():
    t = ember.zeros(2, 3)
    assert t.layout is ember.strided and repr(ember.strided) == "ember.strided"
    assert isinstance(ember.channels_last, ember.memory_format) and isinstance(ember.strided, ember.layout)
    assert t.to(memory_format=ember.contiguous_format).shape == (2, 3)
    with pytest.raises(TypeError, match="memory_format must be a torch.memory_format"):
        ember.rand_like(t, memory_format="channels_last")


def test_instance_norm_bias_false_as_torch():
    for lib in (torch, ember):
        m = lib.nn.InstanceNorm1d(3, affine=True, bias=False)
        assert m.bias is None and tuple(m.weight.shape) == (3,)


# ---------------------------------------------------------------------- out=
def test_out_writes_resizes_and_returns_the_tensor():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    for lib in (torch, ember):
        o = lib.empty(0, dtype=lib.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = lib.linalg.inv(lib.tensor(a), out=o)  # empty out: resized silently
        assert r is o and tuple(o.shape) == (2, 2)
        np.testing.assert_allclose(o.numpy(), np.linalg.inv(a))
        o = lib.zeros(5, dtype=lib.float64)
        with pytest.warns(UserWarning, match=r"An output with one or more elements was resized since it had shape "
                                             r"\[5\], which does not match the required output shape \[2, 2\]"):
            lib.linalg.inv(lib.tensor(a), out=o)
        assert tuple(o.shape) == (2, 2)
        before = o._version
        lib.linalg.inv(lib.tensor(a), out=o)  # same shape: written in place, version bumped
        assert o._version > before


def test_out_with_autograd_raises_like_torch():
    for lib in (torch, ember):
        x = lib.tensor([[2.0, 0.0], [0.0, 4.0]], requires_grad=True)
        with pytest.raises(RuntimeError, match=r"functions with out=\.\.\. arguments don't support automatic "
                                               r"differentiation, but one of the arguments requires grad"):
            lib.linalg.inv(x, out=lib.empty(2, 2))
        with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
            lib.linalg.inv(x.detach(), out=lib.empty(2, 2, requires_grad=True))
        with lib.no_grad():
            o = lib.empty(2, 2)
            assert lib.linalg.inv(x, out=o) is o and not o.requires_grad


def test_out_dtype_rules():
    from ember import _out

    r = ember.tensor([1.5, 2.5])
    with pytest.raises(RuntimeError, match="result type ember.float32 can.t be cast to the desired output type ember.int64"):
        _out.write(ember.zeros(2, dtype=ember.int64), r.float(), "add")
    o = ember.zeros(2, dtype=ember.float64)
    assert _out.write(o, ember.tensor([1, 2]), "add") is o and o.tolist() == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="expected out tensor to have dtype ember.float32, but got ember.float64"):
        _out.write(o, r.float(), "matmul", exact_dtype=True)
    with pytest.raises(TypeError, match="argument 'out' must be Tensor, not int"):
        _out.into(5, "add", lambda: r)


def test_out_into_a_view_writes_the_base():
    base = ember.zeros(4, 2, dtype=ember.float64)
    ember.linalg.inv(ember.eye(2, dtype=ember.float64) * 2, out=base[:2])
    np.testing.assert_allclose(base.numpy(), [[0.5, 0], [0, 0.5], [0, 0], [0, 0]])


# ---------------------------------------------------------------------- the harness's own check
def _tool():
    spec = importlib.util.spec_from_file_location("api_coverage", os.path.join(ROOT, "tools", "api_coverage.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_signature_check_sees_names_order_defaults_and_keyword_only_markers():
    tool = _tool()
    ovs = tool.torch_overloads("torch", "matmul", torch.matmul)
    assert [p.name for p in ovs[0]] == ["input", "other", "out"]

    def params(f):
        return list(inspect.signature(f).parameters.values())

    def good(input, other, *, out=None):
        pass

    def renamed(a, b, *, out=None):
        pass

    assert tool.signature_diff(ovs, params(good)) is None
    assert "positional: torch (input, other) vs ember (a, b)" in tool.signature_diff(ovs, params(renamed))
    sums = tool.torch_overloads("torch", "sum", torch.sum)

    def sum_ok(input, dim=None, keepdim=False, *, dtype=None, out=None):
        pass

    def sum_positional_dtype(input, dim=None, keepdim=False, dtype=None):
        pass

    def sum_keepdim_true(input, dim=None, keepdim=True, *, dtype=None):
        pass

    assert tool.signature_diff(sums, params(sum_ok)) is None
    assert tool.signature_diff(sums, params(sum_positional_dtype)) == "'dtype' is keyword-only in torch"
    assert tool.signature_diff(sums, params(sum_keepdim_true)) == "'keepdim' defaults to True (torch: False)"
    assert tool.takes_out(sums) and not tool.takes_out(tool.torch_overloads("torch", "numel", torch.numel))
    # deprecated scalar-first overloads (addmv(beta, self, alpha, mat, vec)) are not torch's API to match
    assert all(ov[0].name == "input" for ov in tool.torch_overloads("torch", "addmv", torch.addmv))
    # Tensor methods come without self; builtins without a stub come from their docstring
    assert [p.name for p in tool.torch_overloads("torch.Tensor", "add", torch.Tensor.add)[0]][:1] == ["other"]
    assert [p.name for p in tool.torch_overloads("torch.linalg", "inv", torch.linalg.inv)[0]] == ["A", "out"]


# ---------------------------------------------------------------------- nn, data and autograd parameters
def test_module_parameters_as_torch():
    for lib in (torch, ember):
        with pytest.warns(FutureWarning, match="min_value` is deprecated and renamed to `min_val"):
            m = lib.nn.Hardtanh(min_value=-2.0)
        assert m.min_val == -2.0
        assert lib.nn.ConstantPad1d(padding=1, value=3.5)(lib.zeros(1, 2)).tolist() == [[3.5, 0.0, 0.0, 3.5]]
        with pytest.raises(TypeError):
            lib.nn.ConstantPad1d(1)  # value is required in torch
        base = lib.nn.RNNCellBase(3, 4, bias=True, num_chunks=2)
        assert tuple(base.weight_ih.shape) == (8, 3)
        assert tuple(lib.nn.LSTMCell(3, 4).weight_ih.shape) == (16, 3)
        assert tuple(lib.nn.GRUCell(3, 4, bias=False).weight_hh.shape) == (12, 4)
        loader = lib.utils.data.DataLoader(lib.utils.data.TensorDataset(lib.arange(4)), batch_size=2, in_order=True,
                                           pin_memory_device="")
        assert [b[0].tolist() for b in loader] == [[0, 1], [2, 3]]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_l1_loss_weight_matches_torch(reduction):
    rng = np.random.default_rng(0)
    x, y, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random((3, 4))
    res = {}
    for lib in (torch, ember):
        xt = lib.tensor(x, requires_grad=True)
        loss = lib.nn.functional.l1_loss(xt, lib.tensor(y), reduction=reduction, weight=lib.tensor(w))
        loss.sum().backward()
        res[lib.__name__] = (loss.detach().numpy(), xt.grad.numpy())
    for a, b in zip(res["ember"], res["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(ValueError, match="weight must have the input's shape"):
        ember.nn.functional.l1_loss(ember.zeros(2), ember.zeros(2), weight=ember.ones(3))


def test_autograd_deprecated_parameters_as_torch():
    for lib in (torch, ember):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.warns(FutureWarning, match="`grad_variables` is deprecated. Use `grad_tensors` instead."):
            lib.autograd.backward(x * 3, grad_variables=lib.ones(2))
        assert x.grad.tolist() == [3.0, 3.0]
        with pytest.warns(FutureWarning, match="only_inputs argument is deprecated"):
            (g,) = lib.autograd.grad((x * x).sum(), x, only_inputs=False)
        assert g.tolist() == [2.0, 4.0]
        xd = lib.tensor([0.5], dtype=lib.float64, requires_grad=True)
        assert lib.autograd.gradcheck(lib.sin, (xd,), check_grad_dtypes=True, masked=None)
    with pytest.raises(NotImplementedError, match=r"gradcheck\(check_forward_ad=True\): ember has no forward-mode"):
        ember.autograd.gradcheck(ember.sin, (ember.ones(1, dtype=ember.float64, requires_grad=True),),
                                 check_forward_ad=True)


# ---------------------------------------------------------------------- 0-d index in gather/scatter
ZERO_D = [
    lambda L: L.zeros(3).scatter_(0, L.tensor(1), value=1),  # the one-hot transform of the data tutorial
    lambda L: L.zeros(3).scatter(0, L.tensor(2), L.tensor(5.0)),
    lambda L: L.zeros(3).scatter(0, L.tensor(0), L.tensor([5.0, 6.0])),
    lambda L: L.tensor(2.0).scatter(0, L.tensor(0), 7.0),
    lambda L: L.tensor(2.0).scatter(-1, L.tensor([0]), 7.0),
    lambda L: L.arange(4.0).gather(0, L.tensor(3)),
    lambda L: L.tensor(4.0).gather(0, L.tensor([0, 0])),
    lambda L: L.zeros(3).scatter_add(0, L.tensor(1), L.tensor(2.0)),
    lambda L: L.zeros(3, dtype=L.int64).scatter_(0, L.tensor(2), 4),
]


@pytest.mark.parametrize("f", ZERO_D)
def test_zero_dim_index_follows_torch(f):
    t, e = f(torch), f(ember)
    assert tuple(e.shape) == tuple(t.shape) and str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_zero_dim_index_gradients_match_torch():
    res = {}
    for lib in (torch, ember):
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        s = lib.tensor(5.0, dtype=lib.float64, requires_grad=True)
        y = x.scatter(0, lib.tensor(1), s) * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)
        z = x.gather(0, lib.tensor(2)) * 4
        (y.sum() + z).backward()
        res[lib.__name__] = (x.grad.numpy(), s.grad.numpy())
    for a, b in zip(res["ember"], res["torch"]):
        np.testing.assert_allclose(a, b)


def test_zero_dim_index_errors_like_torch():
    with pytest.raises(RuntimeError, match=r"scatter\(\): Index tensor must have the same number of dimensions"):
        ember.zeros(2, 3).scatter(0, ember.tensor(1), 1.0)
    with pytest.raises(IndexError, match=r"scatter\(\): index 5 is out of bounds for dimension 0 with size 3"):
        ember.zeros(3).scatter(0, ember.tensor(5), 1.0)
    with pytest.raises(RuntimeError, match=r"gather\(\): Index tensor must have the same number of dimensions"):
        ember.zeros(2, 2).gather(1, ember.tensor(0))


# ---------------------------------------------------------------------- out= on the common functions, vs torch
M = np.arange(6, dtype=np.float32).reshape(2, 3) / 4 - 0.5
SQ3 = np.arange(9, dtype=np.float32).reshape(3, 3) / 5
OUT_CALLS = [  # (name, function of the library returning the call's (args, kwargs), out dtype)
    ("matmul", lambda L: ((L.tensor(M), L.tensor(M.T)), {}), "float32"),
    ("mm", lambda L: ((L.tensor(M), L.tensor(M.T)), {}), "float32"),
    ("bmm", lambda L: ((L.tensor(M[None]), L.tensor(M.T[None])), {}), "float32"),
    ("addmm", lambda L: ((L.tensor(SQ3), L.tensor(SQ3), L.tensor(SQ3)), {"alpha": 2}), "float32"),
    ("add", lambda L: ((L.tensor(M), 2.0), {"alpha": 3}), "float32"),
    ("add", lambda L: ((L.tensor([1, 2]), 3), {}), "float64"),  # int result into a float out: cast
    ("sub", lambda L: ((L.tensor(M), L.tensor(M[0])), {}), "float32"),
    ("mul", lambda L: ((L.tensor(M), L.tensor(M)), {}), "float32"),
    ("div", lambda L: ((L.tensor(M), 3.0), {"rounding_mode": "floor"}), "float32"),
    ("pow", lambda L: ((L.tensor(M), 2), {}), "float32"),
    ("maximum", lambda L: ((L.tensor(M), L.tensor(-M)), {}), "float32"),
    ("sum", lambda L: ((L.tensor(M), 1), {"keepdim": True}), "float32"),
    ("mean", lambda L: ((L.tensor(M),), {"dim": 0}), "float32"),
    ("cumsum", lambda L: ((L.tensor(M), 1), {}), "float32"),
    ("argmax", lambda L: ((L.tensor(M),), {"dim": 1}), "int64"),
    ("cat", lambda L: (([L.tensor(M), L.tensor(M)],), {"dim": 1}), "float32"),
    ("stack", lambda L: (([L.tensor(M), L.tensor(M)],), {}), "float32"),
    ("clamp", lambda L: ((L.tensor(M),), {"min": -0.25, "max": 0.5}), "float32"),
    ("where", lambda L: ((L.tensor(M) > 0, L.tensor(M), L.tensor(-M)), {}), "float32"),
    ("exp", lambda L: ((L.tensor(M),), {}), "float32"),
    ("tanh", lambda L: ((L.tensor(M),), {}), "float32"),
    ("sqrt", lambda L: ((L.tensor(M).abs(),), {}), "float32"),
    ("abs", lambda L: ((L.tensor(M),), {}), "float32"),
    ("floor", lambda L: ((L.tensor(M),), {}), "float32"),
    ("eq", lambda L: ((L.tensor(M), 0.0), {}), "bool"),
    ("arange", lambda L: ((0, 5), {}), "float32"),  # the out's dtype decides, as torch
    ("zeros", lambda L: ((2, 3), {}), "int64"),
    ("full", lambda L: (((2,), 7), {}), "int64"),
    ("linspace", lambda L: ((0.0, 1.0, 5), {}), "float32"),
    ("eye", lambda L: ((3,), {}), "float32"),
    ("acosh", lambda L: ((L.tensor(M) + 2,), {}), "float32"),
    ("gcd", lambda L: ((L.tensor([12, 18]), L.tensor([8, 27])), {}), "int64"),
    ("t_copy", lambda L: ((L.tensor(M),), {}), "float32"),
    ("linalg.solve", lambda L: ((L.tensor(SQ3 + 3 * np.eye(3, dtype=np.float32)), L.tensor(M.T)), {}), "float32"),
    ("linalg.vector_norm", lambda L: ((L.tensor(M),), {"ord": 3, "dim": 1}), "float32"),
    ("linalg.inv", lambda L: ((L.tensor(SQ3 + 3 * np.eye(3, dtype=np.float32)),), {}), "float32"),
    ("special.erfc", lambda L: ((L.tensor(M),), {}), "float32"),
    ("special.xlogy", lambda L: ((L.tensor(M), L.tensor(M).abs() + 1), {}), "float32"),
    ("special.hermite_polynomial_h", lambda L: ((L.tensor(M), 3), {}), "float32"),
    ("hardshrink", lambda L: ((L.tensor(M),), {"lambd": 0.3}), "float32"),
    ("threshold", lambda L: ((L.tensor(M), 0.1, -1.0), {}), "float32"),
    ("nn.functional.hardshrink", lambda L: ((L.tensor(M), 0.3), {}), "float32"),
]


@pytest.mark.parametrize("name,make,dtype", OUT_CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(OUT_CALLS)])
def test_out_argument_matches_torch(name, make, dtype):
    res = {}
    for lib in (torch, ember):
        args, kwargs = make(lib)
        out = lib.empty(0, dtype=getattr(lib, dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an empty out is resized silently
            r = _resolve(lib, name)(*args, **kwargs, out=out)
        assert r is out
        res[lib.__name__] = (tuple(out.shape), str(out.dtype).split(".")[-1], out.numpy().copy())
        assert np.array_equal(out.numpy(), _resolve(lib, name)(*args, **kwargs).numpy().astype(out.numpy().dtype))
    assert res["ember"][:2] == res["torch"][:2]
    np.testing.assert_allclose(res["ember"][2], res["torch"][2], rtol=1e-6, atol=1e-7)


def test_out_tuple_for_values_and_indices_and_the_warning_points_at_the_caller():
    x = np.array([[1.0, 5.0], [3.0, 2.0]], dtype=np.float32)
    for lib in (torch, ember):
        v, i = lib.empty(0), lib.empty(0, dtype=lib.int64)
        r = lib.max(lib.tensor(x), 1, out=(v, i))
        assert r.values is v and r.indices is i and v.tolist() == [5.0, 3.0] and i.tolist() == [1, 0]
        with pytest.warns(UserWarning, match="was resized since it had shape") as rec:
            lib.add(lib.ones(3), 1, out=lib.zeros(2))
        assert rec[0].filename == __file__
    with pytest.raises(TypeError, match=r"max\(\): this call returns 2 tensors, so out= must be a tuple of 2"):
        ember.max(ember.tensor(x), 1, out=ember.empty(0))


def test_thread_settings_as_torch():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info()]
    try:
        ember.set_num_threads(1)
        assert ember.get_num_threads() == 1
        assert all(i["num_threads"] == 1 for i in threadpoolctl.threadpool_info())
    finally:
        for info, n in zip(threadpoolctl.threadpool_info(), before):
            threadpoolctl.threadpool_limits(n, user_api=info["user_api"])
        ember._threads["intra"] = None
    for lib in (torch, ember):
        with pytest.raises(RuntimeError, match="set_num_threads expects a positive integer"):
            lib.set_num_threads(0)
        assert lib.get_device(lib.zeros(1)) == -1
    ember.set_num_interop_threads(2)
    assert ember.get_num_interop_threads() == 2
    ember._threads["interop"] = None


def test_split_squeeze_and_random_fill_keywords():
    for lib in (torch, ember):
        x = lib.arange(5.0)
        assert [c.tolist() for c in x.split(split_size=2)] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
        assert tuple(lib.zeros(1, 3, 1).squeeze(0, 2).shape) == (3,)
        y = lib.zeros(4)
        y.cauchy_(median=0.0, sigma=1.0)
        y.log_normal_(mean=0.0, std=0.5)
        assert bool((y > 0).all())
        y.geometric_(p=0.5)
        assert bool((y >= 1).all())
        with pytest.warns(UserWarning, match="it will be required to pass the indexing argument"):
            lib.meshgrid(lib.arange(2), lib.arange(3))
    with pytest.raises(NotImplementedError, match=r"mm\(out_dtype=\.\.\.\): torch runs it only on CUDA"):
        ember.mm(ember.ones(2, 2), ember.ones(2, 2), out_dtype=ember.float64)

"""Complex tensors, second round, against torch: the elementwise functions (values on and off their branch
cuts, gradients in torch's conjugate-Wirtinger convention for real losses, gradcheck), random and filled
complex creation, ``linalg.eig``/``eigvals`` with their gradient, and saving/loading complex tensors."""
from __future__ import annotations

import hashlib
import io
import json
import struct

import numpy as np
import pytest
import torch

import ember
from _helpers import to_numpy
from ember.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(1)


def _c(*shape, dtype=np.complex128, scale=1.0):
    return ((RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)) * scale).astype(dtype)


_np = to_numpy


def _name(d):
    return str(d).split(".")[-1]


def _tol(dtype):
    return dict(rtol=3e-4, atol=3e-5) if dtype == np.complex64 else dict(rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------------------- elementwise functions

UNARY = {
    "sin": lambda L, z: L.sin(z), "cos": lambda L, z: L.cos(z), "tan": lambda L, z: L.tan(z),
    "sinh": lambda L, z: L.sinh(z), "cosh": lambda L, z: L.cosh(z), "tanh": lambda L, z: L.tanh(z),
    "asin": lambda L, z: L.asin(z), "acos": lambda L, z: L.acos(z), "atan": lambda L, z: L.atan(z),
    "asinh": lambda L, z: L.asinh(z), "acosh": lambda L, z: L.acosh(z), "atanh": lambda L, z: L.atanh(z),
    "arcsin": lambda L, z: L.arcsin(z), "arctanh": lambda L, z: z.arctanh(),
    "sigmoid": lambda L, z: L.sigmoid(z), "reciprocal": lambda L, z: L.reciprocal(z), "rsqrt": lambda L, z: L.rsqrt(z),
    "square": lambda L, z: L.square(z), "pow_int": lambda L, z: L.pow(z, 3), "pow_complex": lambda L, z: z ** (0.5 - 1j),
    "rpow_complex": lambda L, z: (1.5 + 0.5j) ** z, "pow_tensor": lambda L, z: z ** z.flip(0),
    "log10": lambda L, z: L.log10(z), "log2": lambda L, z: L.log2(z), "log1p": lambda L, z: L.log1p(z),
    "expm1": lambda L, z: L.expm1(z), "exp2": lambda L, z: L.exp2(z), "sinc": lambda L, z: L.sinc(z),
    "method_chain": lambda L, z: z.sin().tanh().sigmoid() * z.cosh().log1p(),
    "tanh_module": lambda L, z: L.nn.Tanh()(z),
}


def _losses(L, out, w):
    """Two real losses of a complex output: torch's |f|^2 and a weighted sum of the real and imaginary parts."""
    wt = L.tensor(w)
    return (out.abs() ** 2).sum() + (out.real * wt.real + out.imag * wt.imag).sum()


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_unary_values_and_gradients_match_torch(name, dtype):
    fn = UNARY[name]
    a = _c(6, dtype=dtype, scale=0.8)
    zt = torch.tensor(a, requires_grad=True)
    ze = ember.tensor(a, requires_grad=True)
    ot, oe = fn(torch, zt), fn(ember, ze)
    assert _name(oe.dtype) == _name(ot.dtype) and tuple(oe.shape) == tuple(ot.shape)
    np.testing.assert_allclose(_np(oe), _np(ot), **_tol(dtype))
    w = _c(*ot.shape, dtype=dtype)
    _losses(torch, ot, w).backward()
    _losses(ember, oe, w).backward()
    assert _name(ze.grad.dtype) == _name(zt.grad.dtype)
    np.testing.assert_allclose(_np(ze.grad), _np(zt.grad), **_tol(dtype))
    # the loss of the brief's two forms, separately
    for loss in (lambda o: (o.abs() ** 2).sum(), lambda o: o.real.sum() + o.imag.sum()):
        gt, = torch.autograd.grad(loss(fn(torch, zt)), zt)
        ge, = ember.autograd.grad(loss(fn(ember, ze)), ze)
        np.testing.assert_allclose(_np(ge), _np(gt), **_tol(dtype))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradcheck_complex128(name):
    fn = UNARY[name]
    z = ember.tensor(_c(4, scale=0.7), requires_grad=True)
    assert gradcheck(lambda x: fn(ember, x), (z,))


@pytest.mark.parametrize("name", ["sin", "tanh", "asin", "acosh", "sigmoid", "log1p", "rsqrt", "exp2"])
def test_unary_gradgradcheck_complex128(name):
    fn = UNARY[name]
    z = ember.tensor(_c(3, scale=0.7), requires_grad=True)
    assert gradgradcheck(lambda x: fn(ember, x), (z,))


BRANCH = {  # points on and near each function's branch cuts, with both signs of zero
    "asin": [(2, 0.0), (2, -0.0), (-3, 0.0), (-3, -0.0), (0.5, 0.0), (1.5, 1e-9)],
    "acos": [(2, 0.0), (2, -0.0), (-3, 0.0), (-3, -0.0), (0.5, -0.0)],
    "atan": [(0.0, 2), (-0.0, 2), (0.0, -3), (-0.0, -3), (0.0, 0.5)],
    "asinh": [(0.0, 2), (-0.0, 2), (0.0, -3), (-0.0, -3), (1e-9, 1.5)],
    "acosh": [(0.5, 0.0), (0.5, -0.0), (-2, 0.0), (-2, -0.0), (3, 0.0)],
    "atanh": [(2, 0.0), (2, -0.0), (-3, 0.0), (-3, -0.0), (0.5, 0.0)],
    "log10": [(-2, 0.0), (-2, -0.0), (0.0, 0.0), (3, 0.0)],
    "log2": [(-2, 0.0), (-2, -0.0), (3, -0.0)],
    "log1p": [(-3, 0.0), (-3, -0.0), (1e-10, 1e-10)],
    "rsqrt": [(-4, 0.0), (-4, -0.0), (4, 0.0)],
    "sqrt": [(-4, 0.0), (-4, -0.0)],
    "log": [(-4, 0.0), (-4, -0.0)],
    "expm1": [(1e-10, -1e-10), (-1e-8, 1e-8)],
}


@pytest.mark.parametrize("name", sorted(BRANCH))
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_branch_cuts_match_torch(name, dtype):
    a = np.array([complex(r, i) for r, i in BRANCH[name]], dtype=dtype)
    # NumPy's complex() keeps the sign of a zero imaginary part; make sure the array did too
    assert np.signbit(a.imag).tolist() == [np.signbit(i) for _, i in BRANCH[name]]
    t = getattr(torch, name)(torch.tensor(a))
    e = getattr(ember, name)(ember.tensor(a))
    np.testing.assert_allclose(_np(e), _np(t), **_tol(dtype))
    assert np.signbit(_np(e).imag).tolist() == np.signbit(_np(t).imag).tolist()


def test_sigmoid_and_tanh_of_large_complex_values():
    a = np.array([50 + 1j, -50 + 1j, 1 + 100j, -800 + 0.5j], dtype=np.complex128)
    for name in ("sigmoid", "tanh"):
        t = getattr(torch, name)(torch.tensor(a))
        with np.errstate(all="ignore"):
            e = getattr(ember, name)(ember.tensor(a))
        np.testing.assert_allclose(_np(e), _np(t), rtol=1e-9, atol=1e-12)


def test_inplace_complex_elementwise():
    a = _c(4)
    for name in ("sin_", "tanh_", "sigmoid_", "log1p_", "acosh_", "exp2_"):
        t, e = torch.tensor(a), ember.tensor(a)
        getattr(t, name)()
        getattr(e, name)()
        np.testing.assert_allclose(_np(e), _np(t), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------- creation


def _part_stats(t):
    a = _np(t).reshape(-1)
    return np.array([a.real.mean(), a.real.var(), a.imag.mean(), a.imag.var(), a.real.min(), a.real.max()])


RANDOM = {
    "randn": lambda L, n: L.randn(n, dtype=L.complex64),
    "randn128": lambda L, n: L.randn(n // 100, 100, dtype=L.complex128),
    "rand": lambda L, n: L.rand(n, dtype=L.complex64),
    "randn_like": lambda L, n: L.randn_like(L.zeros(n, dtype=L.complex128)),
    "rand_like": lambda L, n: L.rand_like(L.zeros(n), dtype=L.complex64),
    "normal_": lambda L, n: L.zeros(n, dtype=L.complex64).normal_(1.0, 2.0),
    "uniform_": lambda L, n: L.zeros(n, dtype=L.complex128).uniform_(2.0, 4.0),
    "normal_tensor_mean": lambda L, n: L.normal(L.full((n,), 1 - 1j), 2.0),
    "normal_float_mean": lambda L, n: L.normal(0.5, 3.0, (n,), dtype=L.complex64),
    "init_normal_": lambda L, n: L.nn.init.normal_(L.empty(n, dtype=L.complex64), 0.5, 2.0),
    "init_uniform_": lambda L, n: L.nn.init.uniform_(L.empty(n, dtype=L.complex64), -1.0, 3.0),
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_complex_draws_have_torchs_distribution(name):
    n = 200_000
    t, e = RANDOM[name](torch, n), RANDOM[name](ember, n)
    assert _name(e.dtype) == _name(t.dtype) and tuple(e.shape) == tuple(t.shape)
    st, se = _part_stats(t), _part_stats(e)
    # means and variances of each part agree to sampling error (std of a variance estimate ~ var * sqrt(2 / n))
    np.testing.assert_allclose(se[:4], st[:4], rtol=0.03, atol=0.02)
    if name in ("rand", "rand_like") or "uniform" in name:  # the support: [low, high) for each part
        np.testing.assert_allclose(se[4:], st[4:], atol=1e-3)


def test_random_complex_is_seeded_and_takes_a_generator():
    ember.manual_seed(3)
    a = ember.randn(5, dtype=ember.complex64)
    ember.manual_seed(3)
    b = ember.randn(5, dtype=ember.complex64)
    assert a.tolist() == b.tolist() and (a.imag != 0).all()
    g = ember.Generator().manual_seed(7)
    c = ember.rand(3, 2, dtype=ember.complex128, generator=g, requires_grad=True)
    assert c.requires_grad and c.dtype == ember.complex128 and tuple(c.shape) == (3, 2)


FILLED = {
    "zeros": lambda L: L.zeros(2, 3, dtype=L.complex64), "ones": lambda L: L.ones(2, dtype=L.complex128),
    "full": lambda L: L.full((2,), 1 + 2j), "full_c128": lambda L: L.full((2,), 1j, dtype=L.complex128),
    "full_real_value": lambda L: L.full((2,), 3.0, dtype=L.complex64), "eye": lambda L: L.eye(2, 3, dtype=L.complex64),
    "full_like": lambda L: L.full_like(L.zeros(2, dtype=L.complex64), 1 - 2j),
    "ones_like": lambda L: L.ones_like(L.ones(2), dtype=L.complex128),
    "empty": lambda L: L.empty(2, dtype=L.complex64).zero_(), "new_full": lambda L: L.ones(2).new_full((2,), 1j, dtype=L.complex64),
    "linspace": lambda L: L.linspace(0, 1, 5, dtype=L.complex64), "linspace_c": lambda L: L.linspace(-1j, 2 + 1j, 4),
    "logspace_c": lambda L: L.logspace(0, 1j, 3), "fill_": lambda L: L.zeros(2, dtype=L.complex64).fill_(2 - 1j),
}


@pytest.mark.parametrize("name", sorted(FILLED))
def test_filled_complex_creation_matches_torch(name):
    t, e = FILLED[name](torch), FILLED[name](ember)
    assert _name(e.dtype) == _name(t.dtype) and tuple(e.shape) == tuple(t.shape)
    np.testing.assert_allclose(_np(e), _np(t), rtol=1e-6, atol=1e-7)


def test_complex_creation_errors_as_torch():
    cases = {
        "randint": (lambda L: L.randint(0, 3, (2,), dtype=L.complex64), "randint: complex dtypes are not supported"),
        "randperm": (lambda L: L.randperm(3, dtype=L.complex64), "randperm: complex"),
        "arange": (lambda L: L.arange(3, dtype=L.complex64), "arange: complex numbers are not supported"),
        "full_like": (lambda L: L.full_like(L.zeros(2), 1j), "full_like: value cannot be converted to type ember.float32"),
        "full": (lambda L: L.full((2,), 1j, dtype=L.float64), "full: value cannot be converted"),
        "fill_": (lambda L: L.zeros(2).fill_(1 + 1j), "fill_: value cannot be converted"),
        "scalar_tensor": (lambda L: L.scalar_tensor(1 + 1j), "scalar_tensor: value cannot be converted"),
        "linspace": (lambda L: L.linspace(0, 1j, 3, dtype=L.float32), "linspace.*can't be safely cast"),
        "exponential_": (lambda L: L.zeros(2, dtype=L.complex64).exponential_(), "exponential_: complex"),
        "bernoulli": (lambda L: L.bernoulli(L.ones(2, dtype=L.complex64) / 2), "bernoulli: complex"),
        "multinomial": (lambda L: L.multinomial(L.ones(2, dtype=L.complex64), 1), "multinomial only supports floating"),
        "cauchy_": (lambda L: L.zeros(2, dtype=L.complex64).cauchy_(), "cauchy_: complex"),
        "std_complex": (lambda L: L.normal(L.zeros(2), L.ones(2, dtype=L.complex64)), "non-complex"),
        "randn_int": (lambda L: L.randn(2, dtype=L.int64), "randn: expected a floating or complex dtype"),
    }
    for f, msg in cases.values():
        with pytest.raises(Exception):
            f(torch)
        with pytest.raises((RuntimeError, TypeError), match=msg):
            f(ember)


# ---------------------------------------------------------------------------- ember.save / ember.load

def _save_bytes(obj):
    buf = io.BytesIO()
    ember.save(obj, buf)
    return buf.getvalue()


def _split(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header, payload, resign=True):
    """A file from a header and a payload, with ember's checksum recomputed (docs/checkpoints.md's recipe)."""
    header = json.loads(json.dumps(header))
    meta = header["__metadata__"]
    if resign:
        meta.pop("ember.sha256", None)
        canon = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        meta["ember.sha256"] = hashlib.sha256(b"ember checkpoint v1\n" + canon + b"\n" + payload).hexdigest()
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + payload


def _bits(dtype, shape, seed):
    """Every bit pattern of each part (NaN payloads, infinities, subnormals, -0.0)."""
    rng = np.random.default_rng(seed)
    part = np.dtype(dtype).itemsize // 2
    u = np.dtype(f"u{part}")
    raw = rng.integers(0, np.iinfo(u).max, size=tuple(shape) + (2,), dtype=u, endpoint=True)
    return np.ascontiguousarray(raw).view(np.dtype(f"f{part}")).view(dtype)[..., 0]


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (5,), (3, 4)])
def test_complex_tensors_round_trip_bit_exact(dtype, shape):
    a = _bits(dtype, shape, len(shape) * 7 + len(dtype))
    t = ember.tensor(a)
    out = ember.load(io.BytesIO(_save_bytes({"t": t})))["t"]
    assert out.dtype == getattr(ember, dtype) and tuple(out.shape) == shape
    assert out.numpy().tobytes() == a.tobytes()
    assert out._data.flags.writeable and out._data.flags.c_contiguous


def test_complex_checkpoint_layout_is_safetensors():
    z64 = ember.tensor(_c(2, 3, dtype=np.complex64))
    z128 = ember.tensor(_c(4), requires_grad=True)
    header, payload = _split(_save_bytes({"a": z64, "b": z128, "c": z128, "n": np.array([1 - 2j]),
                                          "s": np.complex128(3 + 4j), "s64": np.complex64(1j)}))
    meta = header.pop("__metadata__")
    # complex64 is safetensors' C64 (two little-endian float32s per element)
    assert header["a"]["dtype"] == "C64" and header["a"]["shape"] == [2, 3]
    b, e = header["a"]["data_offsets"]
    assert payload[b:e] == z64.numpy().astype("<c8").tobytes()
    # complex128 has no safetensors code: F64 (real, imaginary) pairs, listed in the metadata, format 2
    assert header["b"]["dtype"] == "F64" and header["b"]["shape"] == [4, 2] and "c" not in header
    b, e = header["b"]["data_offsets"]
    assert payload[b:e] == ember.view_as_real(z128.detach()).numpy().astype("<f8").tobytes()
    assert json.loads(meta["ember.complex128"]) == ["b", "n", "s"] and meta["ember.format"] == "2"
    assert header["s"]["shape"] == [2] and header["s64"]["dtype"] == "C64" and header["s64"]["shape"] == []
    # a file without complex128 stays format 1
    h1, _ = _split(_save_bytes({"a": z64}))
    assert h1["__metadata__"]["ember.format"] == "1" and "ember.complex128" not in h1["__metadata__"]


def test_complex_objects_load_back_with_their_types_and_sharing():
    z = ember.tensor(_c(2, 2), requires_grad=True)
    obj = {"z": z, "again": z, "w": ember.tensor(_c(3, dtype=np.complex64)), "n": np.array([1 - 2j, 3j]),
           "s": np.complex128(3 + 4j), "s64": np.complex64(1j), "dt": ember.complex64}
    out = ember.load(io.BytesIO(_save_bytes(obj)))
    assert out["z"] is out["again"] and out["z"].requires_grad and out["z"].is_leaf
    np.testing.assert_array_equal(out["z"].detach().numpy(), z.detach().numpy())
    assert out["w"].dtype == ember.complex64 and out["w"].tolist() == obj["w"].tolist()
    assert out["n"].dtype == np.complex128 and out["n"].tolist() == [1 - 2j, 3j]
    assert type(out["s"]) is np.complex128 and out["s"] == 3 + 4j
    assert type(out["s64"]) is np.complex64 and out["s64"] == 1j and out["dt"] is ember.complex64
    # a module with complex parameters: state_dict round trip, and the whole module through pickle
    lin = ember.nn.Linear(2, 2)
    lin.weight = ember.nn.Parameter(ember.randn(2, 2, dtype=ember.complex128))
    sd = ember.load(io.BytesIO(_save_bytes(lin.state_dict())))
    assert sd["weight"].dtype == ember.complex128 and sd["weight"].tolist() == lin.weight.tolist()
    m = ember.load(io.BytesIO(_save_bytes(lin)), weights_only=False)
    assert m.weight.dtype == ember.complex128 and m.weight.tolist() == lin.weight.tolist()


def test_load_safetensors_reads_complex():
    from ember.interop import load_safetensors

    z64, z128 = _c(3, dtype=np.complex64), _c(2, 2)
    got = load_safetensors(io.BytesIO(_save_bytes({"a": ember.tensor(z64), "b": ember.tensor(z128)})))
    assert got["a"].dtype == ember.complex64 and got["b"].dtype == ember.complex128
    assert got["a"].numpy().tobytes() == z64.tobytes() and got["b"].numpy().tobytes() == z128.tobytes()
    # another writer's C64 tensor (a plain safetensors file, built by hand)
    header = {"x": {"dtype": "C64", "shape": [3], "data_offsets": [0, 24]}}
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    got = load_safetensors(io.BytesIO(struct.pack("<Q", len(text)) + text + z64.astype("<c8").tobytes()))
    assert got["x"].dtype == ember.complex64 and got["x"].numpy().tobytes() == z64.tobytes()


def _complex_file():
    return _split(_save_bytes({"a": ember.tensor(_c(3)), "b": ember.tensor(_c(2, dtype=np.complex64))}))


def _edit(mutate):
    header, payload = _complex_file()
    mutate(header)
    return _join(header, payload)


def _meta(**kw):
    return lambda h: h["__metadata__"].update(kw)


COMPLEX_FILE_ERRORS = {
    "list not json": (_meta(**{"ember.complex128": "[a"}), r"'ember.complex128' must be a JSON list of tensor names"),
    "list of ints": (_meta(**{"ember.complex128": "[1]"}), r"'ember.complex128' must be a JSON list of tensor names"),
    "missing tensor": (_meta(**{"ember.complex128": '["a","zz"]'}), r"names tensor 'zz', which the file does not contain"),
    "twice": (_meta(**{"ember.complex128": '["a","a"]'}), r"names a tensor twice"),
    "not F64": (_meta(**{"ember.complex128": '["a","b"]'}), r"complex128 tensor 'b' must be stored as F64 .* got C64 \[2\]"),
    "format 1 with list": (_meta(**{"ember.format": "1"}), r"checkpoint format '1' has the 'ember.complex128' list"),
    "format 2 without list": (lambda h: h["__metadata__"].pop("ember.complex128"),
                              r"checkpoint format '2' lacks the 'ember.complex128' list"),
    "pairs last dim": (lambda h: h["a"].update(shape=[2, 3]), r"complex128 tensor 'a' must be stored as F64 with a last "
                                                                r"dimension of 2 .* got F64 \[2, 3\]"),
    "C64 byte count": (lambda h: h["b"].update(shape=[3]), r"dtype C64 and shape \[3\] need 24 bytes"),
    "C128 code": (lambda h: h["a"].update(dtype="C128", shape=[3]), r"'C128' is a dtype NumPy cannot hold"),
}


@pytest.mark.parametrize("case", sorted(COMPLEX_FILE_ERRORS))
def test_malformed_complex_checkpoints_raise_checkpoint_error(case):
    mutate, pattern = COMPLEX_FILE_ERRORS[case]
    with pytest.raises(ember.CheckpointError, match=pattern):
        ember.load(io.BytesIO(_edit(mutate)))


def test_complex_checkpoint_checksum_covers_the_complex_list():
    header, payload = _complex_file()
    header["__metadata__"]["ember.complex128"] = "[]"
    with pytest.raises(ember.CheckpointError, match="checksum mismatch"):
        ember.load(io.BytesIO(_join(header, payload, resign=False)))


def test_interop_converts_complex_tensors_both_ways():
    from ember import interop

    t = torch.tensor(_c(3))
    out = interop.from_torch({"a": t, "c": torch.tensor(_c(2, dtype=np.complex64)).conj()})
    assert out["a"].dtype == ember.complex128 and out["a"].numpy().tobytes() == t.numpy().tobytes()
    assert out["c"].dtype == ember.complex64 and not out["c"].is_conj()
    np.testing.assert_array_equal(out["c"].numpy(), torch.tensor(out["c"].numpy()).numpy())
    back = interop.to_torch({"z": out["a"], "d": ember.complex64})
    assert back["z"].dtype == torch.complex128 and torch.equal(back["z"], t) and back["d"] is torch.complex64


# ---------------------------------------------------------------------------- linalg.eig / eigvals


def _eig_input(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def _canon(V):  # noqa: N803
    """Eigenvectors with the phase fixed (largest-|.| component real positive): LAPACK builds differ by signs."""
    if V.size == 0:
        return V
    idx = np.argmax(np.abs(V), axis=-2)[..., None, :]
    ph = np.take_along_axis(V, idx, axis=-2)
    return V * (np.abs(ph) / ph)


EIG_DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


@pytest.mark.parametrize("dtype", EIG_DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (2, 3, 5, 5), (0, 0), (2, 0, 0)])
def test_eig_values_match_torch(dtype, shape):
    a = _eig_input(shape, dtype, sum(shape) + len(shape))
    Lt, Vt = torch.linalg.eig(torch.tensor(a))  # noqa: N806
    res = ember.linalg.eig(ember.tensor(a))
    Le, Ve = res  # noqa: N806
    assert res.eigenvalues is Le and res.eigenvectors is Ve
    assert _name(Le.dtype) == _name(Lt.dtype) and _name(Ve.dtype) == _name(Vt.dtype)
    assert tuple(Le.shape) == tuple(Lt.shape) and tuple(Ve.shape) == tuple(Vt.shape)
    single = dtype in (np.float32, np.complex64)
    tol = dict(rtol=1e-3, atol=1e-3) if single else dict(rtol=1e-9, atol=1e-9)
    le, lt, ve, vt = Le.numpy(), _np(Lt), Ve.numpy(), _np(Vt)
    if single:  # LAPACK builds may order the eigenvalues of a float32 matrix differently: compare sorted pairs
        oe, ot = np.argsort(np.round(le, 3), axis=-1), np.argsort(np.round(lt, 3), axis=-1)
        le, lt = np.take_along_axis(le, oe, -1), np.take_along_axis(lt, ot, -1)
        ve, vt = np.take_along_axis(ve, oe[..., None, :], -1), np.take_along_axis(vt, ot[..., None, :], -1)
    np.testing.assert_allclose(le, lt, **tol)  # float64/complex128: LAPACK's order, as torch's
    np.testing.assert_allclose(_canon(ve), _canon(vt), **tol)
    np.testing.assert_allclose(np.sort_complex(ember.linalg.eigvals(ember.tensor(a)).numpy().ravel()),
                               np.sort_complex(_np(Lt).ravel()), **tol)
    # A V = V diag(L), unit-norm columns
    np.testing.assert_allclose(a @ Ve.numpy(), Ve.numpy() * Le.numpy()[..., None, :], **tol)
    if a.size:
        np.testing.assert_allclose(np.linalg.norm(Ve.numpy(), axis=-2), 1.0, **tol)


EIG_LOSSES = {  # phase-invariant losses (well defined): of |V|, V V^H, and of the eigenvalues
    "abs_V": lambda L, V, w: (V.abs() ** 2 * w).sum(),
    "projector": lambda L, V, w: ((V[..., :, :1] @ V[..., :, :1].mH) * w).real.sum(),
    "values": lambda L, V, w: (L.abs() ** 2).sum() + (L ** 3).real.sum(),
    "both": lambda L, V, w: (V.abs() * w).sum() + L.real.sum() + (L.imag ** 2).sum(),
}


@pytest.mark.parametrize("loss", sorted(EIG_LOSSES))
@pytest.mark.parametrize("dtype", EIG_DTYPES)
def test_eig_gradients_match_torch(loss, dtype):
    f = EIG_LOSSES[loss]
    a = _eig_input((2, 4, 4), dtype, len(loss))
    w = np.random.default_rng(5).standard_normal((2, 4, 4))
    At, Ae = torch.tensor(a, requires_grad=True), ember.tensor(a, requires_grad=True)  # noqa: N806
    f(*torch.linalg.eig(At), torch.tensor(w)).backward()
    f(*ember.linalg.eig(Ae), ember.tensor(w)).backward()
    assert _name(Ae.grad.dtype) == _name(At.grad.dtype)
    tol = dict(rtol=2e-3, atol=2e-3) if dtype in (np.float32, np.complex64) else dict(rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(Ae.grad.numpy(), _np(At.grad), **tol)


@pytest.mark.parametrize("dtype", EIG_DTYPES)
def test_eigvals_gradient_matches_torch(dtype):
    a = _eig_input((3, 3, 3), dtype, 11)
    wt = np.random.default_rng(3).standard_normal((3, 3)) + 1j * np.random.default_rng(4).standard_normal((3, 3))
    At, Ae = torch.tensor(a, requires_grad=True), ember.tensor(a, requires_grad=True)  # noqa: N806
    lt, le = torch.linalg.eigvals(At), ember.linalg.eigvals(Ae)
    assert le.grad_fn.name() == lt.grad_fn.name() == "LinalgEigBackward0"
    if dtype in (np.float32, np.complex64):  # the order of the eigenvalues may differ: an order-invariant loss
        wt = np.full_like(wt, 0.3 - 0.7j)
    ((lt * torch.tensor(wt).to(lt.dtype)).real.sum() + (lt.abs() ** 2).sum()).backward()
    ((le * ember.tensor(wt).to(le.dtype)).real.sum() + (le.abs() ** 2).sum()).backward()
    tol = dict(rtol=2e-3, atol=2e-3) if dtype in (np.float32, np.complex64) else dict(rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(Ae.grad.numpy(), _np(At.grad), **tol)


def test_eig_gradcheck_complex128_and_float64():
    for dtype in (np.complex128, np.float64):
        a = _eig_input((2, 3, 3), dtype, 21)
        A = ember.tensor(a, requires_grad=True)  # noqa: N806
        w = ember.tensor(np.random.default_rng(2).standard_normal((2, 3, 3)))
        assert gradcheck(lambda x, w=w: (ember.linalg.eig(x)[1].abs() ** 2 * w).sum(1), (A,))
        assert gradcheck(lambda x: ember.linalg.eig(x)[0], (A,))
        assert gradcheck(lambda x: ember.linalg.eigvals(x) * (1 - 2j), (A,))


def test_eig_phase_dependent_loss_raises_torchs_error():
    a = _eig_input((3, 3), np.complex128, 7)
    msg = ("linalg_eig_backward: The eigenvectors in the complex case are specified up to multiplication by "
           r"e\^\{i phi\}. The specified loss function depends on this quantity, so it is ill-defined.")
    for lib in (torch, ember):
        A = lib.tensor(a, requires_grad=True)  # noqa: N806
        L, V = lib.linalg.eig(A)  # noqa: N806
        with pytest.raises(RuntimeError, match=msg):
            V.real.sum().backward()
    # a real input too (its eigenvectors are complex as well)
    a = np.array([[0.0, -1.0, 0.3], [1.0, 0.2, 0.0], [0.5, 0.0, 1.0]])
    for lib in (torch, ember):
        A = lib.tensor(a, requires_grad=True)  # noqa: N806
        with pytest.raises(RuntimeError, match=msg):
            lib.linalg.eig(A)[1][0].imag.sum().backward()


def test_eig_errors():
    cases = {
        r"linalg.eig: A must be batches of square matrices, but they are 2 by 3 matrices": ember.ones(2, 3),
        r"linalg.eig: The input tensor A must have at least 2 dimensions": ember.ones(2),
        r"linalg.eig: input tensor should not contain infs or NaNs": ember.tensor([[1.0, float("nan")], [0.0, 1.0]]),
        r"linalg.eig: expected a float32, float64, complex64 or complex128 tensor, got ember.int64": ember.ones(2, 2, dtype=ember.int64),
    }
    for msg, x in cases.items():
        with pytest.raises(RuntimeError, match=msg):
            ember.linalg.eig(x)
    with pytest.raises(RuntimeError, match="linalg.eigvals: A must be batches of square matrices"):
        ember.linalg.eigvals(ember.ones(3, 2))
    A = ember.tensor(_eig_input((3, 3), np.float64, 1), requires_grad=True)  # noqa: N806
    (g,) = ember.autograd.grad(ember.linalg.eigvals(A).abs().sum(), A, create_graph=False)
    assert g.shape == (3, 3)
    with pytest.raises(NotImplementedError, match=r"linalg.eig: the gradient of the gradient \(create_graph=True\)"):
        ember.autograd.grad(ember.linalg.eig(A)[0].abs().sum(), A, create_graph=True)


def test_eig_out_and_repr():
    a = _eig_input((3, 3), np.float64, 2)
    L, V = ember.empty(3, dtype=ember.complex128), ember.empty(3, 3, dtype=ember.complex128)  # noqa: N806
    r = ember.linalg.eig(ember.tensor(a), out=(L, V))
    assert r[0] is L and r[1] is V
    np.testing.assert_allclose(L.numpy(), np.linalg.eigvals(a), rtol=1e-12)
    t = torch.linalg.eig(torch.ones(2, 2, dtype=torch.float64))
    e = ember.linalg.eig(ember.ones(2, 2, dtype=ember.float64))
    assert repr(e.eigenvalues).replace("ember", "torch") == repr(t.eigenvalues)
    assert repr(e.eigenvectors).replace("ember", "torch") == repr(t.eigenvectors)


def test_conjugate_transposes_conjugate():
    a = _c(3, 2)
    for name, f in {"mH": lambda L, x: x.mH, "H": lambda L, x: x.H, "adjoint": lambda L, x: L.adjoint(x),
                    "adjoint_method": lambda L, x: x.adjoint(), "outer": lambda L, x: x[:, :1] @ x[:, :1].mH}.items():
        xt, xe = torch.tensor(a, requires_grad=True), ember.tensor(a, requires_grad=True)
        ot, oe = f(torch, xt), f(ember, xe)
        np.testing.assert_allclose(_np(oe), _np(ot), rtol=1e-12, err_msg=name)
        w = _c(*ot.shape)
        _losses(torch, ot, w).backward()
        _losses(ember, oe, w).backward()
        np.testing.assert_allclose(_np(xe.grad), _np(xt.grad), rtol=1e-12, err_msg=name)
    x = ember.ones(2, 3)
    assert x.mH.shape == (3, 2) and x.H.tolist() == x.T.tolist() and ember.adjoint(x).dtype == ember.float32


def test_isreal_of_complex():
    a = np.array([1 + 0j, 1 + 1j, complex(1, -0.0), 1e-300j])
    assert ember.isreal(ember.tensor(a)).tolist() == torch.isreal(torch.tensor(a)).tolist()
    assert ember.isreal(ember.ones(2)).tolist() == [True, True]


# ---------------------------------------------------------------------------- reductions and linear

REDUCE = {
    "prod": lambda L, z: z.prod(), "prod_dim": lambda L, z: z.reshape(2, 3).prod(1),
    "prod_zero": lambda L, z: (z * L.tensor([1, 0, 1, 1, 1, 1]).to(z.dtype)).reshape(3, 2).prod(0),
    "cumsum": lambda L, z: z.cumsum(0), "cumprod": lambda L, z: L.cumprod(z.reshape(2, 3), 1),
    "var": lambda L, z: z.var(), "var_dim": lambda L, z: z.reshape(2, 3).var(1, correction=0),
    "std": lambda L, z: z.std(), "std_dim": lambda L, z: L.std(z.reshape(3, 2), 0, keepdim=True),
    "var_mean": lambda L, z: L.var_mean(z.reshape(2, 3), 1)[0] * 2 + L.var_mean(z.reshape(2, 3), 1)[1].real,
    "norm": lambda L, z: z.norm(), "norm_p1": lambda L, z: z.norm(p=1), "norm_dim": lambda L, z: z.reshape(2, 3).norm(dim=1),
    "norm_p3": lambda L, z: L.norm(z, p=3),
    "vector_norm": lambda L, z: L.linalg.vector_norm(z), "vector_norm_inf": lambda L, z: L.linalg.vector_norm(z, float("inf")),
    "vector_norm_0": lambda L, z: L.linalg.vector_norm(z, 0) * 1.0,
    "linalg_norm": lambda L, z: L.linalg.norm(z.reshape(2, 3)), "matrix_norm_1": lambda L, z: L.linalg.matrix_norm(z.reshape(2, 3), 1),
    "matrix_norm_fro": lambda L, z: L.linalg.matrix_norm(z.reshape(3, 2)),
    "linear": lambda L, z: L.nn.functional.linear(z.reshape(3, 2), z.reshape(2, 3)[:, :2] * 2, z[:2]),
    "linear_1d": lambda L, z: L.nn.functional.linear(z[:2], z.reshape(3, 2)),
    "linear_3d": lambda L, z: L.nn.functional.linear(z.reshape(1, 3, 2), z.reshape(3, 2) + 1j),
    "mm_bmm": lambda L, z: L.mm(z.reshape(2, 3), z.reshape(3, 2)) + L.bmm(z.reshape(1, 2, 3), z.reshape(1, 3, 2))[0],
    "logsumexp": lambda L, z: L.logsumexp(z.reshape(2, 3), 1), "logsumexp_all": lambda L, z: z.logsumexp((0,)),
}


LINALG = {
    "inv": lambda L, a, b: L.linalg.inv(a), "inverse": lambda L, a, b: a.inverse(),
    "det": lambda L, a, b: L.linalg.det(a), "det_method": lambda L, a, b: a.det(),
    "solve": lambda L, a, b: L.linalg.solve(a, b), "solve_right": lambda L, a, b: L.linalg.solve(a, b.mT, left=False),
    "matrix_power": lambda L, a, b: L.linalg.matrix_power(a, -2) + L.matrix_power(a, 3),
    "matrix_exp": lambda L, a, b: L.linalg.matrix_exp(a * 0.3),
}


@pytest.mark.parametrize("name", sorted(LINALG))
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_linalg_matches_torch(name, dtype):
    fn = LINALG[name]
    a, b = _c(2, 3, 3, dtype=dtype) + 2 * np.eye(3, dtype=dtype), _c(2, 3, 2, dtype=dtype)
    ts, es = [torch.tensor(x, requires_grad=True) for x in (a, b)], [ember.tensor(x, requires_grad=True) for x in (a, b)]
    ot, oe = fn(torch, *ts), fn(ember, *es)
    assert _name(oe.dtype) == _name(ot.dtype) and tuple(oe.shape) == tuple(ot.shape)
    tol = dict(rtol=2e-3, atol=2e-4) if dtype == np.complex64 else dict(rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(_np(oe), _np(ot), **tol)
    w = _c(*ot.shape, dtype=dtype)
    _losses(torch, ot, w).backward()
    _losses(ember, oe, w).backward()
    for xt, xe in zip(ts, es):
        if xt.grad is not None:
            np.testing.assert_allclose(_np(xe.grad), _np(xt.grad), **tol)


@pytest.mark.parametrize("name", ["inv", "det", "solve", "matrix_power"])
def test_complex_linalg_gradcheck(name):
    a, b = _c(2, 3, 3) + 2 * np.eye(3), _c(2, 3, 2)
    xs = (ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True))
    assert gradcheck(lambda *x: LINALG[name](ember, *x), xs)
    assert gradgradcheck(lambda *x: LINALG[name](ember, *x), xs)


@pytest.mark.parametrize("name", sorted(REDUCE))
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_reductions_and_linear_match_torch(name, dtype):
    fn = REDUCE[name]
    a = _c(6, dtype=dtype)
    zt, ze = torch.tensor(a, requires_grad=True), ember.tensor(a, requires_grad=True)
    ot, oe = fn(torch, zt), fn(ember, ze)
    assert _name(oe.dtype) == _name(ot.dtype) and tuple(oe.shape) == tuple(ot.shape)
    np.testing.assert_allclose(_np(oe), _np(ot), **_tol(dtype))
    if name == "vector_norm_0":  # piecewise constant: torch backpropagates zeros, ember records no graph (documented)
        return
    w = _c(*ot.shape, dtype=dtype) if ot.is_complex() else RNG.standard_normal(ot.shape)
    loss = (lambda L, o: _losses(L, o, w)) if ot.is_complex() else (lambda L, o: (o * L.tensor(w)).sum())
    loss(torch, ot).backward()
    loss(ember, oe).backward()
    np.testing.assert_allclose(_np(ze.grad), _np(zt.grad), **_tol(dtype))


@pytest.mark.parametrize("name", ["prod", "prod_zero", "cumprod", "var_dim", "std", "norm", "norm_p3", "linear"])
def test_reductions_gradcheck_complex128(name):
    z = ember.tensor(_c(6), requires_grad=True)
    assert gradcheck(lambda x: REDUCE[name](ember, x), (z,))


# ---------------------------------------------------------------------------- optimizers with complex parameters

OPTIMIZERS = [
    ("SGD", dict(lr=0.1, momentum=0.9)), ("SGD", dict(lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.1)), ("Adam", dict(lr=0.1, amsgrad=True, weight_decay=0.01, maximize=True)),
    ("AdamW", dict(lr=0.1)), ("Adamax", dict(lr=0.1)), ("NAdam", dict(lr=0.1)), ("RAdam", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)), ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adadelta", dict(lr=1.0)),
]


@pytest.mark.parametrize("case", range(len(OPTIMIZERS)))
@pytest.mark.parametrize("size", [3, 70_000])  # 70k complex = 140k reals: the chunked/threaded update path
def test_optimizers_update_complex_parameters_as_torch(case, size):
    name, kw = OPTIMIZERS[case]
    z0 = _c(size)
    target = _c(size)
    out = []
    for L in (torch, ember):
        p = L.nn.Parameter(L.tensor(z0))
        opt = getattr(L.optim, name)([p], **kw)
        for _ in range(4):
            opt.zero_grad()
            ((p * L.tensor(target) - 1).abs() ** 2).sum().backward()
            opt.step()
        out.append((_np(p), opt.state_dict()["state"][0]))
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=1e-9, atol=1e-12)
    st, se = out[0][1], out[1][1]
    assert sorted(se) == sorted(st)
    for k in st:
        if isinstance(st[k], torch.Tensor) and st[k].ndim:
            assert _name(se[k].dtype) == _name(st[k].dtype) and tuple(se[k].shape) == tuple(st[k].shape), k
            np.testing.assert_allclose(_np(se[k]), _np(st[k]), rtol=1e-9, atol=1e-12, err_msg=k)


def test_optimizers_without_complex_support_say_so():
    p = ember.nn.Parameter(ember.randn(2, dtype=ember.complex64))
    for name in ("LBFGS", "Rprop", "ASGD"):
        with pytest.raises(TypeError, match=f"{name}: complex parameters are not supported by this optimizer"):
            getattr(ember.optim, name)([p])


def test_clip_grad_norm_with_complex_gradients():
    a, x = _c(3, 4, dtype=np.complex64), _c(5, 4, dtype=np.complex64)
    res = []
    for L in (torch, ember):
        lin = L.nn.Linear(4, 3, dtype=L.complex64)
        with L.no_grad():
            lin.weight.copy_(L.tensor(a))
            lin.bias.zero_()
        lin(L.tensor(x)).abs().sum().backward()
        total = L.nn.utils.clip_grad_norm_(lin.parameters(), 0.5)
        res.append((total, _np(lin.weight.grad), _np(lin.bias.grad)))
    assert _name(res[1][0].dtype) == _name(res[0][0].dtype) == "float32"
    np.testing.assert_allclose(float(res[1][0]), float(res[0][0]), rtol=1e-5)
    for e, t in zip(res[1][1:], res[0][1:]):
        np.testing.assert_allclose(e, t, rtol=1e-4, atol=1e-6)
    p = ember.nn.Parameter(ember.randn(2, dtype=ember.complex64))
    p.grad = ember.randn(2, dtype=ember.complex64)
    with pytest.raises(RuntimeError, match="clip_grad_value_: clamp is not supported for complex types"):
        ember.nn.utils.clip_grad_value_([p], 0.1)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_loading_complex_arms_the_complex_checks(dtype):
    # in a fresh process nothing complex was seen yet; a loaded complex tensor must still be refused by real-only ops
    data = _save_bytes({"z": ember.tensor(np.array([1 + 2j, -3 + 1j], dtype))})
    flag = ember._dtype.CPLX
    old, flag[0] = flag[0], False
    try:
        z = ember.load(io.BytesIO(data))["z"]
        assert flag[0]
        with pytest.raises(RuntimeError, match="relu: complex tensors are not supported"):
            ember.relu(z)
    finally:
        flag[0] = old or flag[0]


def test_default_collate_of_complex_arrays():
    from torch.utils.data import default_collate as torch_collate

    batch = [np.array([1 + 2j], np.complex64), np.array([3j], np.complex64)]
    e, t = ember.utils.data.default_collate(batch), torch_collate(batch)
    assert e.dtype == ember.complex64 and e.tolist() == t.tolist()
    flag = ember._dtype.CPLX
    old, flag[0] = flag[0], False
    try:  # a complex batch arms the complex-input checks, as every other way of making a complex tensor does
        e = ember.utils.data.default_collate(batch)
        with pytest.raises(RuntimeError, match="relu: complex tensors are not supported"):
            ember.relu(e)
    finally:
        flag[0] = old or flag[0]


# ---------------------------------------------------------------------------- conj(): torch's lazy conjugate view

CONJ_DERIVED = {
    "conj": lambda L, z, c: c, "clone": lambda L, z, c: c.clone(), "detach": lambda L, z, c: c.detach(),
    "T": lambda L, z, c: c.T, "reshape": lambda L, z, c: c.reshape(4), "view": lambda L, z, c: c.view(4),
    "contiguous": lambda L, z, c: c.contiguous(), "mul": lambda L, z, c: c * 1, "to": lambda L, z, c: c.to(L.complex128),
    "conj_conj": lambda L, z, c: c.conj(), "resolve_conj": lambda L, z, c: c.resolve_conj(),
    "conj_physical": lambda L, z, c: z.conj_physical(), "index": lambda L, z, c: c[0], "slice": lambda L, z, c: c[:, 1:],
    "real": lambda L, z, c: c.real, "mH": lambda L, z, c: z.mH, "adjoint": lambda L, z, c: z.adjoint(),
    "torch_conj": lambda L, z, c: L.conj(z), "real_tensor": lambda L, z, c: L.ones(2).conj(),
}


@pytest.mark.parametrize("name", sorted(CONJ_DERIVED))
def test_conj_views_carry_the_conjugate_bit_as_torch(name):
    a = np.array([[1 + 2j, 3 - 1j], [0.5j, 2]], np.complex64)
    res = []
    for L in (torch, ember):
        z = L.tensor(a)
        r = CONJ_DERIVED[name](L, z, z.conj())
        res.append((r.is_conj(), r.resolve_conj().tolist(), repr(r).replace("torch", "ember")))
    assert res[1] == res[0]


def test_conj_view_shares_storage_both_ways():
    a = np.array([[1 + 2j, 3 - 1j], [0.5j, 2]], np.complex128)
    seen = []
    for L in (torch, ember):
        z = L.tensor(a)
        c = z.conj()
        assert c.is_conj() and c._base is z and c._is_view()
        c[0, 0] = 5 + 5j          # a write through the view lands in z, conjugated
        c.T[1, 0] = 7j            # and through a view of the view
        c.mul_(2)
        s1 = z.tolist()
        z[1, 1] = 9 + 9j          # a write into z shows in the view
        z.add_(1)
        s2 = c.tolist()
        c2 = c.conj()             # the conjugate of a conjugate view: a plain view of z
        c2[0, 1] = 4.0
        seen.append((s1, s2, z.tolist(), c2.is_conj()))
    assert seen[1] == seen[0]


def test_conj_view_errors_and_gradients():
    a = np.array([1 + 2j, 3 - 1j])
    msg = r"Can't call numpy\(\) on Tensor that has conjugate bit set. Use tensor.resolve_conj\(\).numpy\(\) instead."
    for L in (torch, ember):
        with pytest.raises(RuntimeError, match=msg):
            L.tensor(a).conj().numpy()
    assert ember.tensor(a).conj().resolve_conj().numpy().tolist() == np.conj(a).tolist()
    grads = []
    for L in (torch, ember):
        z = L.tensor(a, requires_grad=True)
        c = z.conj()
        assert c.grad_fn.name() == "ConjBackward0"
        ((c * L.tensor([1j, 2.0 + 0j])).real.sum() + (c[None].mT.abs() ** 2).sum()).backward()
        grads.append(_np(z.grad))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)
    z = ember.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        z.conj().add_(1)
    y = z * 1
    with pytest.raises(RuntimeError, match="mul_: in-place ops on a conjugate view .* are not supported in ember"):
        y.conj().mul_(2j)
    assert gradcheck(lambda x: x.conj() * x[0], (ember.tensor(a, requires_grad=True),))

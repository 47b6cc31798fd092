"""Complex tensors (complex64/complex128) against torch: dtypes and promotion, repr, the complex ops, values and
gradients (torch's conjugate-Wirtinger convention), gradcheck with complex inputs, and the clear errors of the
ops that do not take complex numbers."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
from _helpers import to_numpy
from ember.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(0)


def _c(*shape, dtype=np.complex128):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


def _r(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


_np = to_numpy


def _name(d):
    return str(d).split(".")[-1]


# ---------------------------------------------------------------------------- dtypes


def test_dtypes_and_predicates():
    assert ember.cfloat is ember.complex64 and ember.cdouble is ember.complex128
    for e, t in [(ember.complex64, torch.complex64), (ember.complex128, torch.complex128), (ember.float32, torch.float32)]:
        assert e.is_complex == t.is_complex and e.is_floating_point == t.is_floating_point
        assert e.is_signed == t.is_signed and e.itemsize == t.itemsize
        assert _name(e.to_real()) == _name(t.to_real()) and _name(e.to_complex()) == _name(t.to_complex())
    for e in (ember.int64, ember.bool):
        assert e.to_real() is e
        with pytest.raises(RuntimeError, match="Complex ScalarType"):
            e.to_complex()
    z = ember.tensor([1 + 2j])
    assert z.dtype == ember.complex64 and z.is_complex() and not z.is_floating_point()
    assert ember.is_complex(z) and not ember.ones(2).is_complex()
    assert ember.tensor(np.array([1j])).dtype == ember.complex128  # NumPy arrays keep their dtype
    assert ember.zeros(2, dtype=ember.complex128).dtype == ember.complex128
    assert ember.ones(2).to(ember.complex64).dtype == ember.complex64 and ember.ones(2).cdouble().dtype == ember.complex128
    assert z.item() == 1 + 2j and z.tolist() == [1 + 2j] and z.type() == "ember.ComplexTensor"


@pytest.mark.parametrize("default", ["float32", "float64"])
def test_promotion_matches_torch(default):
    kinds = ["float16", "float32", "float64", "int64", "int32", "bool", "complex64", "complex128"]
    old = ember.get_default_dtype(), torch.get_default_dtype()
    ember.set_default_dtype(getattr(ember, default))
    torch.set_default_dtype(getattr(torch, default))
    try:
        for a in kinds:
            for b in kinds:
                if "complex" not in a + b:
                    continue
                if "float16" in (a, b):
                    continue  # torch: complex32 with float16, which ember does not have
                ta, tb = getattr(torch, a), getattr(torch, b)
                ea, eb = getattr(ember, a), getattr(ember, b)
                assert _name(ember.promote_types(ea, eb)) == _name(torch.promote_types(ta, tb)), (a, b)
                for sa, sb in [((2,), ()), ((), (2,)), ((2,), (2,))]:
                    r_t = torch.result_type(torch.ones(sa, dtype=ta), torch.ones(sb, dtype=tb))
                    r_e = ember.result_type(ember.ones(sa, dtype=ea), ember.ones(sb, dtype=eb))
                    assert _name(r_e) == _name(r_t), (a, sa, b, sb)
                    e_sum = (ember.ones(sa, dtype=ea) + ember.ones(sb, dtype=eb)).dtype
                    assert _name(e_sum) == _name(r_t)
            if a == "float16":
                continue
            for s in (1j, 2.5, 3, True):  # Python scalars: a complex one makes a non-complex tensor complex
                ta, ea = torch.ones(2, dtype=getattr(torch, a)), ember.ones(2, dtype=getattr(ember, a))
                assert _name((ea + s).dtype) == _name((ta + s).dtype), (a, s)
                assert _name(ember.result_type(ea, s)) == _name(torch.result_type(ta, s))
    finally:
        ember.set_default_dtype(old[0])
        torch.set_default_dtype(old[1])
    assert _name(ember.tensor([1j]).dtype) == "complex64"


def test_float16_with_a_complex_scalar_is_refused():
    with pytest.raises(TypeError, match="complex32"):
        ember.ones(2, dtype=ember.float16) * 1j


# ---------------------------------------------------------------------------- repr


def _reprs(L):
    g = np.random.default_rng(3)
    a = g.standard_normal((3, 4, 5)) + 1j * g.standard_normal((3, 4, 5))
    out = [repr(L.tensor(c)) for c in (
        [1 + 2j, -3.5 - 0.25j, 0j], [[1 + 2j, 1e-5j], [3, 4]], [1e10 + 1j], 2 + 3j, [1j, -1j],
        [float("nan") + 1j, float("inf") - 2j], [0j, 0j], [-0.0 - 0.0j])]
    out.append(repr(L.tensor([1.5 + 2j], requires_grad=True)))
    out.append(repr(L.tensor([[1 + 2j, 3.25 - 1j]], dtype=L.complex128)))
    out.append(repr(L.tensor(a.astype(np.complex64))))
    out.append(repr(L.tensor(g.standard_normal(2000) + 1j * g.standard_normal(2000))))
    out.append(repr(L.tensor((g.standard_normal((40, 40)) + 1j * g.standard_normal((40, 40))).astype(np.complex64))))
    out.append(repr(L.tensor([], dtype=L.complex64)))
    out.append(repr(L.tensor([1 + 2j]).real) + repr(L.tensor([1 + 2j]).imag))
    x = L.tensor([1.0, 2.0], requires_grad=True)
    out.append(repr(L.complex(x, x * 2)))
    return [s.replace("torch.", "ember.") for s in out]


def test_repr_matches_torch():
    for e, t in zip(_reprs(ember), _reprs(torch)):
        assert e == t.replace("ComplexBackward0", "ComplexBackward0")


def test_repr_matches_torch_with_printoptions():
    try:
        for kw in (dict(precision=2), dict(sci_mode=True), dict(linewidth=40)):
            ember.set_printoptions(**kw)
            torch.set_printoptions(**kw)
            v = np.array([[1.23456 + 2j, -3.5 - 0.001j], [100 + 1j, 0.5]])
            assert repr(ember.tensor(v)) == repr(torch.tensor(v)).replace("torch.", "ember.")
    finally:
        ember.set_printoptions(profile="default", sci_mode=None)
        torch.set_printoptions(profile="default", sci_mode=None)


# ---------------------------------------------------------------------------- ops: values and gradients vs torch


def _loss(L, out, v):
    """Re(sum(conj(v) * out)) for complex outputs, sum(v * out) for real ones: a real loss whose gradient with
    respect to ``out`` is ``v`` in torch's convention."""
    if out.is_complex():
        return (out * L.tensor(np.conj(v).astype(_np(out).dtype))).real.sum()
    return (out * L.tensor(v.astype(_np(out).dtype))).sum()


def _compare(fn, arrays, rtol=1e-6, atol=1e-9):
    xs_t = [torch.tensor(a, requires_grad=True) for a in arrays]
    xs_e = [ember.tensor(a, requires_grad=True) for a in arrays]
    ot, oe = fn(torch, *xs_t), fn(ember, *xs_e)
    assert _name(ot.dtype) == _name(oe.dtype), (ot.dtype, oe.dtype)
    assert tuple(ot.shape) == tuple(oe.shape)
    np.testing.assert_allclose(_np(oe), _np(ot), rtol=rtol, atol=atol)
    v = RNG.standard_normal(ot.shape) + (1j * RNG.standard_normal(ot.shape) if ot.is_complex() else 0)
    _loss(torch, ot, v).backward()
    _loss(ember, oe, v).backward()
    for xt, xe in zip(xs_t, xs_e):
        assert xe.grad is not None and _name(xe.grad.dtype) == _name(xt.grad.dtype)
        np.testing.assert_allclose(_np(xe.grad), _np(xt.grad), rtol=rtol, atol=atol)


OPS = {
    "add": (lambda L, a, b: a + b, "cc"), "sub": (lambda L, a, b: a - b, "cc"), "mul": (lambda L, a, b: a * b, "cc"),
    "div": (lambda L, a, b: a / b, "cc"), "pow": (lambda L, a, b: a ** b, "cc"),
    "mul_real": (lambda L, a, b: a * b, "cr"), "div_real": (lambda L, a, b: b / a, "cr"),
    "add_real": (lambda L, a, b: a + b * 2, "rc"), "pow_scalar": (lambda L, a: a ** 3, "c"),
    "pow_float": (lambda L, a: a ** 0.5, "c"), "rpow": (lambda L, a: 2.0 ** a, "c"),
    "scalar_mul": (lambda L, a: a * (2 - 1j) + 1j, "c"), "real_times_complex_scalar": (lambda L, a: (a * 1j) / (2 + 1j), "r"),
    "neg": (lambda L, a: -a, "c"), "reciprocal": (lambda L, a: a.reciprocal(), "c"), "square": (lambda L, a: a.square(), "c"),
    "exp": (lambda L, a: L.exp(a), "c"), "log": (lambda L, a: L.log(a), "c"), "sqrt": (lambda L, a: L.sqrt(a), "c"),
    "abs": (lambda L, a: L.abs(a), "c"), "angle": (lambda L, a: L.angle(a), "c"), "sgn": (lambda L, a: L.sgn(a), "c"),
    "conj": (lambda L, a: L.conj(a) * a[0], "c"), "conj_physical": (lambda L, a: L.conj_physical(a) * 1j, "c"),
    "real": (lambda L, a: a.real * 3, "c"), "imag": (lambda L, a: a.imag ** 2, "c"),
    "torch_real_imag": (lambda L, a: L.real(a) * L.imag(a), "c"),
    "complex": (lambda L, a, b: L.complex(a, b) ** 2, "rr"), "polar": (lambda L, a, b: L.polar(a, b) * (1 + 2j), "rr"),
    "view_as_real": (lambda L, a: L.view_as_real(a) ** 2, "c"),
    "view_as_complex": (lambda L, a: L.view_as_complex(a.reshape(3, 2)) * (1 - 1j), "r6"),
    "sum": (lambda L, a: (a * a).sum(), "c"), "sum_dim": (lambda L, a: a.reshape(2, 2).sum(0), "c4"),
    "mean": (lambda L, a: a.mean(), "c"), "mean_dim": (lambda L, a: (a * a).reshape(2, 2).mean(1), "c4"),
    "matmul": (lambda L, a, b: a.reshape(2, 3) @ b.reshape(3, 2), "c6c6"),
    "matvec": (lambda L, a, b: a.reshape(2, 3) @ b[:3], "c6c"), "dot": (lambda L, a, b: a @ b, "cc"),
    "mm_real": (lambda L, a, b: L.mm(a.reshape(2, 3), b.reshape(3, 2).to(a.dtype)), "c6r6"),
    "shape_ops": (lambda L, a: L.cat([a.reshape(3, 1).t(), a.flip(0)[None]], 0).permute(1, 0)[1:].sum(1), "c"),
    "index_ops": (lambda L, a: a[L.tensor([0, 2, 2])] * a[1:].unsqueeze(0).expand(2, 2)[:, :1], "c"),
    "where": (lambda L, a: L.where(a.abs() > 1, a, a * 2), "c"),
    "exp_log_chain": (lambda L, a: L.log(L.exp(a) + 1) * L.sqrt(a + 2j), "c"),
}


def _args(spec, dtype):
    out = []
    i = 0
    cd = np.complex64 if dtype == "32" else np.complex128
    rd = np.float32 if dtype == "32" else np.float64
    while i < len(spec):
        k = spec[i]
        n = 3
        if i + 1 < len(spec) and spec[i + 1].isdigit():
            n = int(spec[i + 1])
            i += 1
        out.append(_c(n, dtype=cd) if k == "c" else np.abs(_r(n, dtype=rd)) + 0.5)
        i += 1
    return out


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("prec", ["32", "64"])
def test_op_values_and_gradients_match_torch(name, prec):
    fn, spec = OPS[name]
    tol = dict(rtol=2e-4, atol=2e-5) if prec == "32" else dict(rtol=1e-7, atol=1e-10)
    _compare(fn, _args(spec, prec), **tol)


@pytest.mark.parametrize("name", ["mul", "div", "pow", "exp", "log", "sqrt", "abs", "angle", "sgn", "conj", "real",
                                  "imag", "complex", "polar", "view_as_real", "view_as_complex", "matmul", "mean",
                                  "reciprocal", "exp_log_chain"])
def test_gradcheck_with_complex_inputs(name):
    fn, spec = OPS[name]
    xs = [ember.tensor(a, requires_grad=True) for a in _args(spec, "64")]
    assert gradcheck(lambda *a: fn(ember, *a), tuple(xs))
    assert gradgradcheck(lambda *a: fn(ember, *a), tuple(xs))


def test_gradcheck_catches_a_wrong_complex_gradient():
    class Wrong(ember.autograd.Function):  # the plain derivative instead of its conjugate
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return z * z

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g * 2 * z

    z = ember.tensor(_c(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        gradcheck(Wrong.apply, (z,))


def test_backward_of_abs_sum_and_complex_leaf_grads():
    a = _c(4)
    zt, ze = torch.tensor(a, requires_grad=True), ember.tensor(a, requires_grad=True)
    torch.abs(zt).sum().backward()
    ember.abs(ze).sum().backward()
    assert ze.grad.dtype == ember.complex128
    np.testing.assert_allclose(_np(ze.grad), _np(zt.grad), rtol=1e-12)
    # view_as_real on a leaf: each part gets its own gradient
    zt.grad = None
    ze.grad = None
    w = np.arange(8.0).reshape(4, 2)
    (torch.view_as_real(zt) * torch.tensor(w)).sum().backward()
    (ember.view_as_real(ze) * ember.tensor(w)).sum().backward()
    np.testing.assert_allclose(_np(ze.grad), _np(zt.grad))
    # a real leaf that went through complex arithmetic gets a real gradient (the real part)
    xt, xe = torch.tensor(_r(3), requires_grad=True), None
    xe = ember.tensor(xt.detach().numpy(), requires_grad=True)
    (xt * (1 + 2j)).abs().sum().backward()
    (xe * (1 + 2j)).abs().sum().backward()
    assert xe.grad.dtype == ember.float64
    np.testing.assert_allclose(_np(xe.grad), _np(xt.grad), rtol=1e-12)


def test_backward_needs_a_gradient_for_a_complex_output():
    z = ember.tensor(_c(3), requires_grad=True)
    y = (z * z).sum()
    with pytest.raises(RuntimeError, match="scalar"):
        (z * z).backward()
    y.backward(ember.tensor(1 + 0j, dtype=ember.complex128))
    np.testing.assert_allclose(z.grad.numpy(), 2 * np.conj(z.detach().numpy()))


def test_real_and_imag_are_views():
    for L in (torch, ember):
        z = L.tensor([1 + 2j, 3 - 4j])
        z.real[0] = 10.0
        z.imag.mul_(2)
        assert z.tolist() == [10 + 4j, 3 - 8j]
        r = L.view_as_real(z)
        r[1, 0] = -1.0
        assert z.tolist() == [10 + 4j, -1 - 8j]
    x = ember.tensor([1.0, 2.0])
    assert ember.real(x) is x and x.real is x
    with pytest.raises(RuntimeError, match="imag is not implemented for tensors with non-complex dtypes"):
        _ = x.imag


def test_conj_helpers():
    z = ember.tensor([1 + 2j])
    assert ember.conj(z).tolist() == [1 - 2j] and ember.conj(z).is_conj() and ember.resolve_conj(z) is z
    assert ember.resolve_neg(z) is z and not z.is_neg()
    x = ember.ones(2)
    assert ember.conj(x) is x
    z.conj_physical_()
    assert z.tolist() == [1 - 2j]
    torch_c = torch.complex(torch.ones(2), torch.zeros(2))
    assert ember.complex(ember.ones(2), ember.zeros(2)).tolist() == torch_c.tolist()
    assert ember.view_as_real_copy(z).tolist() == [[1.0, -2.0]]
    assert ember.view_as_complex_copy(ember.tensor([[1.0, 2.0]])).tolist() == [1 + 2j]


# ---------------------------------------------------------------------------- errors


def test_ops_without_complex_support_raise_naming_the_op():
    z = ember.tensor(_c(2, 2))
    cases = {
        "relu": lambda: ember.relu(z), "lgamma": lambda: ember.lgamma(z), "logit": lambda: ember.logit(z),
        "floor": lambda: ember.floor(z), "ceil": lambda: z.ceil(), "round": lambda: z.round(), "frac": lambda: z.frac(),
        "lt": lambda: z < z, "gt": lambda: ember.gt(z, 0), "ge": lambda: z >= 1, "clamp": lambda: z.clamp(min=0),
        "max": lambda: z.max(), "min": lambda: ember.min(z, 0), "argmax": lambda: z.argmax(), "sort": lambda: z.sort(),
        "topk": lambda: z.topk(1), "maximum": lambda: ember.maximum(z, z), "softmax": lambda: z.softmax(0),
        "cummax": lambda: z.cummax(0), "cummin": lambda: z.cummin(0), "remainder": lambda: z % 2,
        "floor_divide": lambda: z // 2, "atan2": lambda: ember.atan2(z, z), "digamma": lambda: z.digamma(),
        "sign": lambda: z.sign(), "erf": lambda: ember.erf(z), "log_softmax": lambda: ember.log_softmax(z, 0),
        "mse_loss": lambda: ember.nn.functional.mse_loss(z, z), "logcumsumexp": lambda: ember.logcumsumexp(z, 0),
        "median": lambda: z.median(), "signbit": lambda: z.signbit(), "nuc_norm": lambda: ember.linalg.matrix_norm(z, "nuc"),
    }
    for name, f in cases.items():
        with pytest.raises((RuntimeError, TypeError), match="complex") as ei:
            f()
        msg = str(ei.value)
        assert "Traceback" not in msg and ("ufunc" not in msg), (name, msg)


def test_mean_of_complex_and_sum_dtype():
    z = ember.tensor(_c(4))
    assert z.mean().dtype == ember.complex128 and z.sum().dtype == ember.complex128


def test_casting_complex_to_real_warns_as_torch_and_keeps_the_real_part():
    z = ember.tensor([1 + 2j, 3 - 4j])
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        assert z.float().tolist() == [1.0, 3.0]
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        assert z.to(ember.float64).tolist() == [1.0, 3.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert z.bool().tolist() == [True, True]
    with pytest.raises(TypeError, match="complex data cannot be stored as ember.float32"):
        ember.tensor([1j], dtype=ember.float32)
    with pytest.raises(TypeError, match="complex data cannot be stored"):
        ember.tensor(np.array([1j]), dtype=ember.int64)


def test_complex_and_polar_argument_errors():
    with pytest.raises(RuntimeError, match="complex: expected both inputs to be float32 or float64"):
        ember.complex(ember.ones(2, dtype=ember.int64), ember.ones(2, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="imaginary part"):
        ember.complex(ember.ones(2), ember.ones(2, dtype=ember.float64))
    with pytest.raises(RuntimeError, match="polar: expected abs and angle"):
        ember.polar(ember.ones(2), ember.ones(2, dtype=ember.float64))
    with pytest.raises(RuntimeError, match="last dimension of size 2"):
        ember.view_as_complex(ember.ones(3))
    with pytest.raises(RuntimeError, match="only supported for complex tensors"):
        ember.view_as_real(ember.ones(3))
    with pytest.raises(RuntimeError, match="stride 1"):
        ember.view_as_complex(ember.ones(2, 4)[:, ::2])

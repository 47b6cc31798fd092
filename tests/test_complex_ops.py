"""Complex tensors, second round, against torch: the elementwise functions (values on and off their branch
cuts, gradients in torch's conjugate-Wirtinger convention for real losses, gradcheck), random and filled
complex creation, ``linalg.eig``/``eigvals`` with their gradient, and saving/loading complex tensors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(1)


def _c(*shape, dtype=np.complex128, scale=1.0):
    return ((RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)) * scale).astype(dtype)


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().resolve_conj().resolve_neg().numpy()
    return t.detach().numpy()


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
    "expm1": lambda L, z: L.expm1(z), "exp2": lambda L, z: L.exp2(z),
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

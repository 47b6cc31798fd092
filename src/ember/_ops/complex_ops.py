"""Complex numbers: ``real``/``imag``, ``conj``, ``complex``, ``polar``, ``view_as_real``/``view_as_complex``,
``angle``/``sgn`` of complex tensors, and the list of ops that accept complex inputs.

Complex tensors hold NumPy ``complex64``/``complex128`` arrays. Gradients follow torch's convention: the
gradient of a real loss L with respect to z = x + iy is dL/dx + i dL/dy (the conjugate Wirtinger derivative
times two), so for a holomorphic op the backward is ``g * conj(f'(z))``. Ops not marked ``complex_ok`` refuse a
complex input with an error naming the op (``Node.check_real``).
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.engine import Node, UnaryNode
from ._registry import tensor_method
from ._helpers import _check_tensor, _public
from . import binary, casting, index, inplace_ops, linalg, reduce, shape, unary
from .shape import _make_view
from .._tensor import _View


def _is_c(x):
    return x._data.dtype.kind == "c"


class Real(UnaryNode):
    name = "RealBackward0"
    saves = {}
    complex_ok = True

    def forward(self, x):
        return x.real

    def backward(self, ns, g, ins, out):
        return (g,)  # the engine casts the real gradient to the input's complex dtype (imaginary part 0)


class Imag(UnaryNode):
    name = "ImagBackward0"
    saves = {}
    complex_ok = True

    def forward(self, x):
        return x.imag

    def backward(self, ns, g, ins, out):
        return (g * 1j,)


def real(input):  # noqa: A002
    """The real part of a complex tensor (a view sharing its memory, as torch's); a real tensor itself."""
    _check_tensor(input, "real")
    if not _is_c(input):
        return input
    return _make_view(Real()(input), input, (real, ()))


def imag(input):  # noqa: A002
    """The imaginary part of a complex tensor (a view sharing its memory, as torch's)."""
    _check_tensor(input, "imag")
    if not _is_c(input):
        raise RuntimeError(f"imag is not implemented for tensors with non-complex dtypes (got {input.dtype}); "
                           "a real tensor's imaginary part is zeros_like(x)")
    return _make_view(Imag()(input), input, (imag, ()))


tensor_method(property(real), "real")
tensor_method(property(imag), "imag")


class Conj(UnaryNode):
    name = "ConjPhysicalBackward0"
    saves = {}
    complex_ok = True

    def forward(self, x):
        return np.conj(x)

    def backward(self, ns, g, ins, out):
        return (ns.conj(g),)


class ConjView(Conj):
    name = "ConjBackward0"


class _ConjView(_View):
    """``z.conj()`` of a complex tensor: torch's lazy conjugate view (``is_conj()`` is True).

    It shares ``z``'s storage. NumPy has no conjugate bit, so the view holds a conjugated copy of ``z``'s
    values, refreshed whenever ``z``'s version counter (shared by all its views) has moved, and an in-place
    write through the view (every in-place op ends with ``_bump``) is written back into ``z``, conjugated. View
    ops on a conjugate view (transpose, indexing, reshape, ...) return conjugate views of the same view of
    ``z``, as torch's views keep the conjugate bit; ``real`` of it is ``real`` of ``z``."""

    _is_conj = True

    @property
    def _data(self):
        src = self._src
        v = src._version
        if v != self._synced:
            self._cache = np.conj(src._data)
            self._synced = v
        return self._cache

    @_data.setter
    def _data(self, value):
        self._cache = value
        self._src._data[...] = np.conj(value)

    def _bump(self):
        self._src._data[...] = np.conj(self._cache)  # the write lands in the viewed tensor, conjugated
        super()._bump()
        self._synced = self._src._version

    def numpy(self, *, force=False):
        raise RuntimeError("Can't call numpy() on Tensor that has conjugate bit set. Use tensor.resolve_conj().numpy() "
                           "instead.")

    def detach(self):
        return conj(self._src.detach())


def _conj_view(input):
    """The lazy conjugate view of the complex tensor ``input`` (see ``_ConjView``)."""
    out = _make_view(ConjView()(input), input, (conj, ()))
    out.__class__ = _ConjView
    out._cache = out.__dict__.pop("_data")
    out._src = input
    out._synced = input._version
    return out


def view_of_conj(out, x, step):
    """``_make_view`` for a view op applied to the conjugate view ``x``: the conjugate view of that view of the
    viewed tensor (``real`` is the viewed tensor's real part; ``imag`` a new tensor, where torch has a negative
    bit)."""
    fn, args = step
    if fn is real:
        return real(x._src)
    if fn is imag:
        return out
    return _conj_view(fn(x._src, *args))


@tensor_method
def conj(input):  # noqa: A002
    """The complex conjugate as torch's lazy conjugate view (``is_conj()`` True, sharing ``input``'s storage:
    writes through either show in the other); the conjugate of a conjugate view is a plain view of its tensor;
    a real tensor itself."""
    _check_tensor(input, "conj")
    if not _is_c(input):
        return input
    if getattr(input, "_is_conj", False):
        src = input._src
        return shape.view(src, tuple(src.shape))
    return _conj_view(input)


@tensor_method(inplace=True)
def conj_physical(input, *, out=None):  # noqa: A002
    """The complex conjugate, computed now (a new tensor); for a real tensor the tensor itself."""
    if out is not None:
        return _out.into(out, "conj_physical", conj_physical, input)
    _check_tensor(input, "conj_physical")
    if not _is_c(input):
        return input
    return Conj()(input)


@tensor_method
def resolve_conj(input):  # noqa: A002
    """A conjugate view's values as a new tensor (``is_conj()`` False); any other tensor itself."""
    _check_tensor(input, "resolve_conj")
    if getattr(input, "_is_conj", False):
        return Conj()(input._src)
    return input


@tensor_method
def resolve_neg(input):  # noqa: A002
    """``input`` itself: ember's negations are always materialised."""
    _check_tensor(input, "resolve_neg")
    return input


def ns_conj(x):
    if isinstance(x, Tensor):
        return conj(x) if _is_c(x) else x
    if isinstance(x, builtins.complex):
        return x.conjugate()
    return x


class Complex(Node):
    name = "ComplexBackward0"
    saves = {}
    complex_ok = True

    def forward(self, re, im):
        out = np.empty(np.broadcast_shapes(re.shape, im.shape), np.complex128 if re.dtype == np.float64 else np.complex64)
        out.real = re
        out.imag = im
        return out

    def backward(self, ns, g, ins, out):
        need = self.needs
        return (ns.real(g) if need[0] else None), (ns.imag(g) if need[1] else None)


def complex(real, imag, *, out=None):  # noqa: A001
    """``real + i imag`` from two floating tensors of the same dtype (float32 -> complex64, float64 ->
    complex128), broadcast together; differentiable in both."""
    if out is not None:
        return _out.into(out, "complex", complex, real, imag)
    _check_tensor(real, "complex")
    _check_tensor(imag, "complex")
    dr, di = real._data.dtype, imag._data.dtype
    if dr.kind != "f" or di.kind != "f" or dr == np.float16 or di == np.float16:
        raise RuntimeError(f"complex: expected both inputs to be float32 or float64 tensors, but got {real.dtype} "
                           f"and {imag.dtype}")
    if dr != di:
        raise RuntimeError(f"complex: expected object of scalar type {real.dtype} but got {imag.dtype} for the "
                           "imaginary part; convert both to the same dtype")
    D.CPLX[0] = True
    return Complex()(real, imag)


class Polar(Node):
    name = "PolarBackward0"
    saves = {0: (1,), 1: (0, 1)}
    complex_ok = True

    def forward(self, r, th):
        out = np.empty(np.broadcast_shapes(r.shape, th.shape), np.complex128 if r.dtype == np.float64 else np.complex64)
        out.real = r * np.cos(th)
        out.imag = r * np.sin(th)
        return out

    def backward(self, ns, g, ins, out):
        r, th = ins
        need = self.needs
        gx, gy = ns.real(g), ns.imag(g)
        c, s = ns.cos(th), ns.sin(th)
        gr = (gx * c + gy * s) if need[0] else None
        gt = (r * (gy * c - gx * s)) if need[1] else None
        return gr, gt


def polar(abs, angle, *, out=None):  # noqa: A002
    """``abs * (cos(angle) + i sin(angle))`` from two floating tensors of the same dtype; differentiable."""
    if out is not None:
        return _out.into(out, "polar", polar, abs, angle)
    _check_tensor(abs, "polar")
    _check_tensor(angle, "polar")
    dr, di = abs._data.dtype, angle._data.dtype
    if dr.kind != "f" or di.kind != "f" or dr == np.float16 or dr != di:
        raise RuntimeError(f"polar: expected abs and angle to be float32 or float64 tensors of the same dtype, "
                           f"but got {abs.dtype} and {angle.dtype}")
    D.CPLX[0] = True
    return Polar()(abs, angle)


class ViewAsReal(UnaryNode):
    name = "ViewAsRealBackward0"
    saves = {}
    complex_ok = True

    def forward(self, z):
        r = z.real  # a strided view of the real parts; the imaginary part sits one real itemsize further
        return np.lib.stride_tricks.as_strided(r, r.shape + (2,), r.strides + (r.itemsize,),
                                               writeable=z.flags.writeable)

    def backward(self, ns, g, ins, out):
        if isinstance(g, Tensor):
            return (complex(g[..., 0], g[..., 1]),)
        r = np.empty(g.shape[:-1], np.complex128 if g.dtype == np.float64 else np.complex64)
        r.real = g[..., 0]
        r.imag = g[..., 1]
        return (r,)


@tensor_method
def view_as_real(input):  # noqa: A002
    """A real view of a complex tensor with a last dimension of size 2 (real, imaginary), sharing memory."""
    _check_tensor(input, "view_as_real")
    if not _is_c(input):
        raise RuntimeError(f"view_as_real is only supported for complex tensors, got {input.dtype}")
    return _make_view(ViewAsReal()(input), input, (view_as_real, ()))


class ViewAsComplex(UnaryNode):
    name = "ViewAsComplexBackward0"
    saves = {}
    complex_ok = True

    def forward(self, x):
        return x.view(np.complex128 if x.dtype == np.float64 else np.complex64)[..., 0]

    def backward(self, ns, g, ins, out):
        if isinstance(g, Tensor):
            return (view_as_real(g.contiguous()),)
        return (np.ascontiguousarray(g)[..., None].view(g.real.dtype),)


@tensor_method
def view_as_complex(input):  # noqa: A002
    """A complex view of a float32/float64 tensor whose last dimension is (real, imaginary) of size 2 and
    stride 1, sharing memory."""
    _check_tensor(input, "view_as_complex")
    d = input._data
    if d.dtype not in (np.float32, np.float64):
        raise RuntimeError(f"view_as_complex is only supported for float32 and float64 tensors, but got {input.dtype}")
    if d.ndim == 0 or d.shape[-1] != 2:
        raise RuntimeError(f"view_as_complex: the tensor must have a last dimension of size 2, got shape {tuple(d.shape)}")
    if d.strides[-1] != d.itemsize or any(s % (2 * d.itemsize) for s in d.strides[:-1]):
        raise RuntimeError("view_as_complex: the tensor must have a last dimension with stride 1 and the other "
                           "strides divisible by 2; call .contiguous() first")
    D.CPLX[0] = True
    return _make_view(ViewAsComplex()(input), input, (view_as_complex, ()))


def view_as_real_copy(input, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "view_as_real_copy", view_as_real_copy, input)
    return view_as_real(input).clone()


def view_as_complex_copy(input, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "view_as_complex_copy", view_as_complex_copy, input)
    return view_as_complex(input).clone()


class Angle(UnaryNode):
    name = "AngleBackward0"
    saves = {0: (0,)}
    complex_ok = True

    def forward(self, z):
        return np.angle(z).astype(z.real.dtype, copy=False)

    def backward(self, ns, g, ins, out):
        z = ins[0]
        a2 = ns.real(z * ns.conj(z))  # |z|^2
        if isinstance(a2, Tensor):
            safe = binary.where(a2 == 0, 1.0, a2)
            return (binary.where(a2 == 0, 0.0, g / safe) * (z * 1j),)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = g * (1j * z) / a2
        r[a2 == 0] = 0
        return (r,)


class Sgn(UnaryNode):
    name = "SgnBackward0"
    saves = {0: (0,)}
    save_out = True
    complex_ok = True

    def forward(self, z):
        return np.sign(z)  # z / |z| (0 at 0) for complex, NumPy >= 2

    def backward(self, ns, g, ins, out):
        z = ins[0]
        a = ns.abs(z)
        if isinstance(a, Tensor):
            safe = binary.where(a == 0, 1.0, a)
            return (binary.where(a == 0, 0.0, 1.0 / (2 * safe)) * (g - out * out * conj(g)),)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (g - out * out * np.conj(g)) / (2 * a)
        r[a == 0] = 0
        return (r,)


@tensor_method(inplace=True)
def sgn(input, *, out=None):  # noqa: A002
    """``z / |z|`` (0 at 0) for complex tensors, differentiable; the sign for real ones."""
    if out is not None:
        return _out.into(out, "sgn", sgn, input)
    _check_tensor(input, "sgn")
    if not _is_c(input):
        return unary.sign(input)
    return Sgn()(input)


def ns_sgn(x):
    return sgn(x)


def _mark_complex_ok():
    """The existing ops that are correct for complex inputs, values and (conjugate-Wirtinger) gradients: the
    arithmetic and the reductions whose backward uses conj, and every op that only moves values (shape and
    indexing ops, copies, casts), whose backward is the same for complex numbers."""
    names = {
        binary: ("Add", "Sub", "Mul", "Div", "Pow", "Where"),
        unary: ("Neg", "Exp", "Log", "Sqrt", "Abs", "Reciprocal", "Expm1", "Log1p", "Log2", "Log10", "Rsqrt", "Sin",
                "Cos", "Tan", "Tanh", "Sigmoid", "Asin", "Acos", "Atan", "Sinh", "Cosh"),
        reduce: ("Sum", "Mean", "MeanDim"),
        linalg: ("MatMul",),
        casting: ("Cast", "ToDevice"),
    }
    for mod, ns in names.items():
        for n in ns:
            getattr(mod, n).complex_ok = True
    for mod in (shape, index, inplace_ops):
        for v in vars(mod).values():
            if isinstance(v, type) and issubclass(v, Node) and v.__module__ == mod.__name__:
                v.complex_ok = True


_mark_complex_ok()

COMPLEX_MSG = ("complex tensors are not supported by this op (got {dt} input). ember supports complex numbers in "
               "arithmetic, matmul, sum/mean, exp/log/sqrt, abs/angle, real/imag/conj, shape and indexing ops and "
               "ember.fft; apply this op to x.real / x.imag or x.abs() instead.")

# the ops that are not autograd nodes (nodes check in Node.check_real) and would give NumPy's answer for
# complex numbers (lexicographic comparisons and sorting, a discarded imaginary part) or a NumPy TypeError
REAL_ONLY = {
    "compare": "lt le gt ge less less_equal greater greater_equal",
    "unary": "floor ceil trunc fix frac round signbit deg2rad rad2deg isneginf isposinf",
    "binary": "floor_divide remainder fmod maximum minimum fmax fmin clamp clip clamp_min clamp_max atan2 hypot "
              "xlogy logaddexp logaddexp2 copysign nextafter heaviside",
    "reduce": "max min amax amin argmax argmin aminmax logcumsumexp nansum nanmean cummax cummin "
              "nanmedian mode nanquantile histc",
    "sorting": "sort argsort msort topk kthvalue median quantile unique searchsorted bucketize bincount",
    "softmax_family": "softmax log_softmax",
}


def _real_only(fn, name):
    import functools

    @functools.wraps(fn)
    def f(*args, **kwargs):
        if D.CPLX[0]:
            for a in args[:2] + tuple(kwargs.values()):
                if isinstance(a, Tensor) and a._data.dtype.kind == "c":
                    raise RuntimeError(f"{name}: " + COMPLEX_MSG.format(dt=a.dtype))
        return fn(*args, **kwargs)

    return f


def guard_real_only(pkg):
    """Wrap the ops of ``REAL_ONLY`` (in their modules, and their Tensor-method registrations) so a complex
    input raises an error naming the op. Called by ``ember._ops`` once every family is imported."""
    from . import _registry

    done = {}
    for modname, names in REAL_ONLY.items():
        mod = getattr(pkg, modname)
        for n in names.split():
            fn = getattr(mod, n, None)
            if fn is None or not callable(fn):
                continue
            w = done.get(id(fn))
            if w is None:
                w = done[id(fn)] = (fn, _real_only(fn, n))
            setattr(mod, n, w[1])
    reg = _registry.REGISTERED
    for i, (fn, names, ips, dunder) in enumerate(reg):
        w = done.get(id(fn))
        if w is not None and w[0] is fn:
            reg[i] = (w[1], names, ips, dunder)

__all__ = _public(globals(), private=("ns_conj", "ns_sgn"))

from .. import _out  # noqa: E402

"""dtype objects (``ember.float32`` ...) and torch's type-promotion rules."""
from __future__ import annotations

import builtins

import numpy as np


class dtype:
    """A tensor element type, such as ``ember.float32``. Compare with ``==``; ``.np`` is NumPy's dtype."""

    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_complex", "is_signed", "_kind")

    def __init__(self, name, np_dtype, kind):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self._kind = kind  # 0 bool, 1 integer, 2 floating, 3 complex
        self.is_floating_point = kind == 2
        self.is_complex = kind == 3
        self.is_signed = kind != 0 and name != "uint8"

    def __repr__(self):
        return "ember." + self.name

    def to_real(self):
        """The real dtype of a complex dtype's parts (complex64 -> float32); any other dtype itself."""
        return real_of(self)

    def to_complex(self):
        """The complex dtype with this floating dtype's parts (float32 -> complex64); complex dtypes themselves."""
        if self._kind == 3:
            return self
        if self is float16:
            raise RuntimeError("to_complex: float16's complex dtype is complex32, which ember does not have")
        if self._kind != 2:
            raise RuntimeError(f"Unknown Complex ScalarType for {self.name}: only floating dtypes have a complex dtype")
        return complex_of(self)

    def __reduce__(self):  # dtypes are singletons
        return (_by_name.__getitem__, (self.name,))


float16 = half = dtype("float16", np.float16, 2)
float32 = float = dtype("float32", np.float32, 2)
float64 = double = dtype("float64", np.float64, 2)
bfloat16 = None  # not available on NumPy
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = short = dtype("int16", np.int16, 1)
int32 = int = dtype("int32", np.int32, 1)
int64 = long = dtype("int64", np.int64, 1)
bool_ = dtype("bool", np.bool_, 0)
complex64 = cfloat = dtype("complex64", np.complex64, 3)
complex128 = cdouble = dtype("complex128", np.complex128, 3)

_all = (float16, float32, float64, uint8, int8, int16, int32, int64, bool_, complex64, complex128)

# CPLX[0]: a complex dtype was ever asked for or seen. Until then the nodes skip their check that a complex
# input reached an op that does not support complex (zero cost for programs without complex tensors).
CPLX = [False]
_by_name = {d.name: d for d in _all}
_by_np = {d.np: d for d in _all}

_default_float = float32


def get_default_dtype():
    """The dtype of floating tensors created from Python floats (``ember.float32`` unless changed)."""
    return _default_float


def set_default_dtype(d):
    """Set the default floating dtype (``ember.float32`` or ``ember.float64``)."""
    global _default_float
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {d}")
    _default_float = d


def from_numpy(np_dtype) -> dtype:
    """Map a NumPy dtype to the ember dtype, with a clear error for unsupported ones."""
    d = _by_np.get(np.dtype(np_dtype))
    if d is not None and d._kind == 3:
        CPLX[0] = True
    if d is None:
        raise TypeError(
            f"ember has no dtype for NumPy's {np.dtype(np_dtype)}; supported: "
            + ", ".join(x.name for x in _all)
        )
    return d


def as_dtype(d) -> dtype:
    """Accept an ember dtype, a NumPy dtype/type, a name or a Python type (float, int, bool)."""
    if isinstance(d, dtype):
        if d._kind == 3:
            CPLX[0] = True
        return d
    if d is None:
        return None
    if d is builtins.complex:
        CPLX[0] = True
        return complex_of(_default_float)
    if d is builtins.float:
        return _default_float
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    if isinstance(d, str):
        name = {"bool": "bool", "float": "float32", "double": "float64", "half": "float16",
                "long": "int64", "int": "int32", "short": "int16", "cfloat": "complex64",
                "cdouble": "complex128"}.get(d, d)
        name = name.removeprefix("ember.").removeprefix("torch.")
        if name in _by_name:
            return as_dtype(_by_name[name])
        raise TypeError(f"unknown dtype {d!r}; supported: " + ", ".join(x.name for x in _all))
    try:
        return from_numpy(np.dtype(d))
    except TypeError:
        raise
    except Exception:
        raise TypeError(f"cannot interpret {d!r} as an ember dtype") from None


def promote_types(type1: dtype, type2: dtype) -> dtype:
    """The smallest dtype both ``type1`` and ``type2`` convert to without loss (torch.promote_types)."""
    if type1 is type2:
        return type1
    return _by_np[promote_np(type1.np, type2.np)]


def complex_of(d: dtype) -> dtype:
    """The complex dtype whose parts are ``d`` (float64 -> complex128; float32, float16 and non-floating
    dtypes -> complex64, as torch's default complex dtype)."""
    if d._kind == 3:
        return d
    CPLX[0] = True
    return complex128 if d is float64 else complex64


def real_of(d: dtype) -> dtype:
    """The real dtype of a complex dtype's parts (complex64 -> float32); other dtypes unchanged."""
    return float64 if d is complex128 else (float32 if d is complex64 else d)


def result_type_np(a_dt: np.dtype, a_0d: bool, b_dt: np.dtype, b_0d: bool) -> np.dtype:
    """torch's rule for two tensors: zero-dim tensors only decide the dtype when they are of a higher
    category (bool < integer < floating < complex) than the dimensioned ones; a complex zero-dim tensor
    with a floating dimensioned one gives the complex dtype of the floating one's precision."""
    if a_dt == b_dt:
        return a_dt
    if a_0d == b_0d:
        return promote_np(a_dt, b_dt)
    if a_0d:  # b dimensioned
        dim, zero = b_dt, a_dt
    else:
        dim, zero = a_dt, b_dt
    kd, kz = _kind_np(dim), _kind_np(zero)
    if kz > kd:
        if kz == 3 and kd == 2:
            return np.dtype(np.complex128) if dim == np.float64 else np.dtype(np.complex64)
        return zero
    return dim


def promote_np(a: np.dtype, b: np.dtype) -> np.dtype:
    """torch.promote_types on NumPy dtypes: a higher category (bool < integer < floating < complex) wins
    outright (int32 with float16 is float16, where NumPy would widen to float32/float64); floating with
    complex keeps the wider precision (float64 with complex64 is complex128)."""
    ka, kb = _kind_np(a), _kind_np(b)
    if ka != kb:
        if ka + kb == 5:  # floating with complex
            return np.promote_types(a, b)
        return a if ka > kb else b
    return np.promote_types(a, b)


def _kind_np(d: np.dtype):
    k = d.kind
    return 2 if k == "f" else (3 if k == "c" else (0 if k == "b" else 1))

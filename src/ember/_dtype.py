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
        self._kind = kind  # 0 bool, 1 integer, 2 floating
        self.is_floating_point = kind == 2
        self.is_complex = False
        self.is_signed = kind != 0 and name != "uint8"

    def __repr__(self):
        return "ember." + self.name

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

_all = (float16, float32, float64, uint8, int8, int16, int32, int64, bool_)
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
    if d is None:
        raise TypeError(
            f"ember has no dtype for NumPy's {np.dtype(np_dtype)}; supported: "
            + ", ".join(x.name for x in _all)
        )
    return d


def as_dtype(d) -> dtype:
    """Accept an ember dtype, a NumPy dtype/type, a name or a Python type (float, int, bool)."""
    if isinstance(d, dtype):
        return d
    if d is None:
        return None
    if d is builtins.float:
        return _default_float
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    if isinstance(d, str):
        name = {"bool": "bool", "float": "float32", "double": "float64", "half": "float16",
                "long": "int64", "int": "int32", "short": "int16"}.get(d, d)
        name = name.removeprefix("ember.").removeprefix("torch.")
        if name in _by_name:
            return _by_name[name]
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


def result_type_np(a_dt: np.dtype, a_0d: bool, b_dt: np.dtype, b_0d: bool) -> np.dtype:
    """torch's rule for two tensors: zero-dim tensors only decide the dtype when they are of a higher
    category (bool < integer < floating) than the dimensioned ones."""
    if a_dt == b_dt:
        return a_dt
    if a_0d == b_0d:
        return promote_np(a_dt, b_dt)
    ka, kb = _kind_np(a_dt), _kind_np(b_dt)
    if a_0d:  # b dimensioned
        return a_dt if ka > kb else (b_dt if ka < kb else b_dt)
    return b_dt if kb > ka else a_dt


def promote_np(a: np.dtype, b: np.dtype) -> np.dtype:
    """torch.promote_types on NumPy dtypes: a higher category (bool < integer < floating) wins outright
    (int32 with float16 is float16, where NumPy would widen to float32/float64)."""
    ka, kb = _kind_np(a), _kind_np(b)
    if ka != kb:
        return a if ka > kb else b
    return np.promote_types(a, b)


def _kind_np(d: np.dtype):
    k = d.kind
    return 2 if k in "fc" else (0 if k == "b" else 1)

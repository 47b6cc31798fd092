"""Argument helpers shared by every op family (dims, shapes, scalars, input checks)."""
from __future__ import annotations

import builtins
import numbers
import sys

from .. import _dtype as D
from .._tensor import Size, Tensor


def _package():
    """The package ``ember._ops`` (its public namespace: every op by name)."""
    return sys.modules[__package__]


def _public(namespace, private=(), types=()):
    """A family module's public ops (its ``__all__``): the callables it defines, less private ones."""
    mod = namespace["__name__"]
    return sorted(
        n for n, v in namespace.items()
        if not n.startswith(("_", "ns_")) and n not in private and callable(v)
        and (not isinstance(v, type) or isinstance(v, types)) and getattr(v, "__module__", None) == mod
    )


_pyslice = builtins.slice


_pymax, _pymin, _pysum, _pyabs, _pyround = builtins.max, builtins.min, builtins.sum, builtins.abs, builtins.round


def _dim(d, ndim, op="op"):
    """Normalise a possibly negative dimension, with torch's error for one out of range."""
    try:
        d = d.__index__()
    except AttributeError:
        raise TypeError(f"{op}: dim must be an int, got {type(d).__name__}") from None
    n = _pymax(ndim, 1)
    if d < -n or d >= n:
        raise IndexError(
            f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
        )
    return d + n if d < 0 else d


def _dims(dim, ndim, op="op"):
    """Normalised dims as a tuple (None stays None). A 0-d tensor takes dim 0 or -1, as torch's, and has no
    axis to name: its dims come back as ``()`` (``sum(scalar, 0)`` is the scalar, ``flip(scalar, 0)`` too)."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        out = tuple(_dim(d, ndim, op) for d in dim)
        if len(set(out)) != len(out):
            raise RuntimeError(f"{op}: dim {tuple(dim)} appears multiple times in the list of dims")
        return out if ndim else ()
    d = _dim(dim, ndim, op)
    return (d,) if ndim else ()


def _rdims(dim, ndim, op="op"):
    """The axes of a reduction over ``dim``: as ``_dims``, but an empty tuple or list means every dim (None),
    as torch's ``sum``/``mean``/``var``/``std``/``amax``/``count_nonzero``/... take ``dim=()``."""
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        return None
    return _dims(dim, ndim, op)


def _shape_arg(shape, op="op"):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        shape = shape[0]
    try:
        return tuple(int(s.__index__()) for s in shape)
    except (AttributeError, TypeError):
        raise TypeError(f"{op}: size must be a tuple of ints, got {shape!r}") from None


def _t(x, like=None):
    """Make ``x`` a Tensor (numbers and arrays become constants)."""
    if isinstance(x, Tensor):
        return x
    return tensor(x) if like is None else tensor(x, dtype=_scalar_dtype(x, like))


def _scalar_dtype(x, like):
    if isinstance(x, builtins.bool):
        return like.dtype
    if isinstance(x, numbers.Integral):
        return like.dtype if like.dtype._kind >= 1 else D.int64
    if isinstance(x, numbers.Real):
        return like.dtype if like.dtype._kind == 2 else D.get_default_dtype()
    return None


def _check_tensor(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(x).__name__}")


def _floatify(x, op):
    _check_tensor(x, op)
    if x._data.dtype.kind not in "fc":  # complex stays complex (ops that do not take it refuse it by name)
        x = cast(x, D.get_default_dtype())
    return x


__all__ = []

# Ops of later families, used at call time only. They are imported here, at the end, and every family in
# between is imported first, so the family modules always load in the order of ember/_ops/__init__.py.
from .creation import tensor  # noqa: E402
from .casting import cast  # noqa: E402

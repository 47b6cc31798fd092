"""Comparisons (no gradient): ``eq``/``lt``/..., ``equal``, ``allclose``, ``isin``."""
from __future__ import annotations


import numpy as np

from .._tensor import Tensor
from ._registry import tensor_method
from ._helpers import _public
from .unary import _arr
from .binary import _broadcast_error, _promote
from .. import _out


def _cmp(npf, name):
    def f(input, other, *, out=None):
        if out is not None:
            return _out.into(out, name, f, input, other)
        if not isinstance(input, Tensor) and not isinstance(other, Tensor):
            raise TypeError(f"{name}: expected a Tensor")
        if other is None or input is None:
            return False if name == "eq" else True
        try:
            a2, b2 = _promote(input, other, name)
        except TypeError:
            return NotImplemented
        try:
            return Tensor._wrap(npf(_arr(a2), _arr(b2)))
        except ValueError:
            raise _broadcast_error(name, a2, b2) from None

    f.__name__ = name
    return f


eq = _cmp(np.equal, "eq")
tensor_method(eq, inplace=True)


ne = _cmp(np.not_equal, "ne")
tensor_method(ne, inplace=True)


lt = less = _cmp(np.less, "lt")
tensor_method(lt, "lt", "less", inplace=True)


le = less_equal = _cmp(np.less_equal, "le")
tensor_method(le, "le", "less_equal", inplace=True)


gt = greater = _cmp(np.greater, "gt")
tensor_method(gt, "gt", "greater", inplace=True)


ge = greater_equal = _cmp(np.greater_equal, "ge")
tensor_method(ge, "ge", "greater_equal", inplace=True)


@tensor_method
def equal(input, other):
    """True if both tensors have the same shape and values."""
    return tuple(input.shape) == tuple(other.shape) and bool(np.array_equal(input._data, other._data))


@tensor_method
def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.allclose(_arr(input), _arr(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


@tensor_method
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return Tensor._wrap(np.isclose(_arr(input), _arr(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


@tensor_method
def isin(elements, test_elements, *, invert=False, out=None):
    """True where an element of ``elements`` is in ``test_elements``."""
    if out is not None:
        return _out.into(out, "isin", isin, elements, test_elements, invert=invert)
    return Tensor._wrap(np.isin(_arr(elements), _arr(test_elements), invert=invert))


@tensor_method(inplace=True)
def not_equal(input, other, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "not_equal", not_equal, input, other)
    return ne(input, other)


__all__ = _public(globals())

"""Comparisons (no gradient): ``eq``/``lt``/..., ``equal``, ``allclose``, ``isin``."""
from __future__ import annotations


import numpy as np

from .._tensor import Tensor
from ._registry import tensor_method
from ._helpers import _public
from .unary import _arr
from .binary import _broadcast_error, _promote


def _cmp(npf, name):
    def f(a, b):
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            raise TypeError(f"{name}: expected a Tensor")
        if b is None or a is None:
            return False if name == "eq" else True
        try:
            a2, b2 = _promote(a, b, name)
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
def equal(a, b):
    """True if both tensors have the same shape and values."""
    return tuple(a.shape) == tuple(b.shape) and bool(np.array_equal(a._data, b._data))


@tensor_method
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.allclose(_arr(a), _arr(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


@tensor_method
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return Tensor._wrap(np.isclose(_arr(a), _arr(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


@tensor_method
def isin(elements, test_elements, *, invert=False):
    """True where an element of ``elements`` is in ``test_elements``."""
    return Tensor._wrap(np.isin(_arr(elements), _arr(test_elements), invert=invert))


@tensor_method(inplace=True)
def not_equal(input, other):  # noqa: A002
    return ne(input, other)


__all__ = _public(globals())

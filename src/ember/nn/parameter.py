"""``nn.Parameter``: a tensor that a ``Module`` registers as one of its learnable parameters."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor (``requires_grad=True`` by default) that modules register automatically.

    >>> w = ember.nn.Parameter(ember.zeros(2, 3))
    >>> w.requires_grad
    True

    The parameter shares the storage of ``data`` (like torch); it is always a graph leaf.
    """

    def __new__(cls, data=None, requires_grad=True):
        t = object.__new__(cls)
        if data is None:
            arr = np.zeros(0, dtype=np.float32)
        elif isinstance(data, Tensor):
            arr = data._data
        else:
            raise TypeError(f"Parameter: data must be an ember Tensor, got {type(data).__name__}")
        t._data = arr
        if requires_grad:
            if arr.dtype.kind not in "fc":
                raise RuntimeError(
                    f"Parameter: only floating-point and complex tensors can require gradients, got dtype {Tensor._wrap(arr).dtype}; "
                    "pass requires_grad=False or convert the data with .float()"
                )
            t.requires_grad = True
        return t

    def __init__(self, data=None, requires_grad=True):  # all the work is done in __new__
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(Tensor._wrap(self._data.copy()), self.requires_grad)
        extra = {k: v for k, v in self.__dict__.items() if k not in ("_data", "grad", "_base", "requires_grad")}
        p.__dict__.update(extra)
        if self.grad is not None:
            p.grad = Tensor._wrap(self.grad._data.copy())
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, protocol):
        if self._shm is not None:  # shared (module.share_memory()): the receiver maps the same memory
            from ..multiprocessing import reduce_shared

            return reduce_shared(self, parameter=True)
        return (_rebuild_parameter, (np.array(self._data), self.requires_grad))


def _rebuild_parameter(array, requires_grad):
    return Parameter(Tensor._wrap(array), requires_grad)


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a module attribute (torch's ``nn.Buffer``)."""

    def __new__(cls, data=None, *, persistent=True):
        t = object.__new__(cls)
        t._data = np.zeros(0, dtype=np.float32) if data is None else data._data
        t.persistent = persistent
        return t

    def __init__(self, data=None, *, persistent=True):
        pass

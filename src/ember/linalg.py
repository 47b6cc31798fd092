"""``ember.linalg``: the parts of ``torch.linalg`` that training scripts use (norms, inverse, det, solve)."""
from __future__ import annotations

import numpy as np

from . import _ops as _o
from ._tensor import Tensor
from .autograd.engine import UnaryNode

cross = _o.cross


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """The vector ``ord``-norm over ``dim`` (all elements when None)."""
    if dtype is not None:
        x = x.to(dtype)
    if ord == float("inf"):
        return _o.amax(_o.abs(x), dim, keepdim) if dim is not None else _o.amax(_o.abs(x))
    if ord == float("-inf"):
        return _o.amin(_o.abs(x), dim, keepdim) if dim is not None else _o.amin(_o.abs(x))
    if ord == 0:
        return _o.sum(_o.ne(x, 0).to(x.dtype), dim, keepdim)
    return _o.norm(x, ord, dim=dim, keepdim=keepdim)


def matrix_norm(x, ord="fro", dim=(-2, -1), keepdim=False):  # noqa: A002
    if ord != "fro":
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} is not supported; only 'fro'")
    return _o.norm(x, 2, dim=tuple(dim), keepdim=keepdim)


def norm(x, ord=None, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """``torch.linalg.norm``: a vector norm for 1 dim (or all when ``dim``/``ord`` are None), else a matrix norm."""
    if dim is None and ord is None:
        return vector_norm(x, 2, None, keepdim, dtype=dtype)
    if isinstance(dim, int) or (dim is None and x.ndim == 1):
        return vector_norm(x, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if dtype is not None:
        x = x.to(dtype)
    return matrix_norm(x, "fro" if ord is None else ord, (-2, -1) if dim is None else dim, keepdim)


def _check_square(x, op):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"linalg.{op}: A must be a batch of square matrices, but got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise RuntimeError(f"linalg.{op}: expected a floating-point tensor, got {x.dtype}")


class Inv(UnaryNode):
    needs_inputs = False
    needs_out = True

    def forward(self, a):
        try:
            return np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise RuntimeError("linalg.inv: the input matrix is singular (not invertible)") from None

    def backward(self, ns, g, ins, out):
        t = ns.swap_last(out)
        return (-ns.matmul(ns.matmul(t, g), t),)


def inv(x):
    """The inverse of a (batch of) square matrices (differentiable)."""
    _check_square(x, "inv")
    return Inv()(x)


class Det(UnaryNode):
    needs_out = True

    def forward(self, a):
        return np.linalg.det(a)

    def backward(self, ns, g, ins, out):
        a = ins[0]
        ia = inv(a) if isinstance(a, Tensor) else np.linalg.inv(a)
        scale = g * out
        if isinstance(scale, Tensor):
            scale = scale.unsqueeze(-1).unsqueeze(-1)
        else:
            scale = np.asarray(scale)[..., None, None]
        return (scale * ns.swap_last(ia),)


def det(x):
    """The determinant of a (batch of) square matrices (differentiable where invertible)."""
    _check_square(x, "det")
    return Det()(x)


def solve(A, B, *, left=True):
    """X with A @ X = B (or X @ A = B when ``left=False``), through the inverse (differentiable)."""
    _check_square(A, "solve")
    Ai = inv(A)
    if not left:
        return _o.matmul(B, Ai)
    if B.ndim == A.ndim - 1:
        return _o.matmul(Ai, B.unsqueeze(-1)).squeeze(-1)
    return _o.matmul(Ai, B)



def vander(x, *, N=None):  # noqa: N803  (torch's name)
    """``x ** 0, x ** 1, ..., x ** (N-1)`` along a new last dim (batched; differentiable)."""
    n = x.shape[-1] if N is None else N
    if n < 1:
        raise RuntimeError(f"linalg.vander: N must be greater than 1, got {n}")
    cols = [_o.ones_like(x)]
    for _ in range(1, n):
        cols.append(cols[-1] * x)
    return _o.stack(cols, -1)

from ._compat import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("torch.linalg", "ember.linalg")  # listed torch names raise a clear error

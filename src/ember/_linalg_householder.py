"""Householder QR in LAPACK's compact form: ``torch.geqrf``, ``linalg.householder_product`` (``torch.orgqr``)
and ``torch.ormqr``.

``geqrf`` is LAPACK's ``geqr2`` (``larfg`` reflectors: beta = -sign(alpha) * ||(alpha, x)||, tau = (beta -
alpha) / beta, v = (1, x / (alpha - beta)); tau = 0 when x is zero) vectorised over the batch dims, so the
packed R, the reflectors below the diagonal and tau are torch's up to rounding. ``geqrf`` has no derivative
(as in torch); ``householder_product`` and ``ormqr`` are compositions of differentiable ops (each reflector
applied as X - tau v (v^T X)), so their gradients (and higher derivatives) are exact.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import _ops as _o
from ._linalg_lu import _check_float
from ._tensor import Tensor
from .autograd.engine import MultiNode

_Geqrf = namedtuple("torch_return_types_geqrf", ["a", "tau"])


def geqrf_array(a):
    """LAPACK geqrf on a (..., m, n) array: (packed a, tau (..., min(m, n)))."""
    a = np.array(a, dtype=a.dtype, copy=True)
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = a.shape[:-2]
    nb = int(np.prod(batch, dtype=np.int64))
    a = a.reshape((nb, m, n))
    tau = np.zeros((nb, k), a.dtype)
    with np.errstate(all="ignore"):
        for i in range(k):
            if i == m - 1:  # a 1-element reflector: H = I (larfg with n = 1)
                continue
            alpha = a[:, i, i].copy()
            x = a[:, i + 1:, i]
            xnorm = np.sqrt(np.sum(x * x, axis=1))
            act = xnorm != 0
            beta = -np.copysign(np.hypot(alpha, xnorm), alpha)
            t = np.where(act, (beta - alpha) / np.where(act, beta, 1.0), 0.0)
            scale = np.where(act, 1.0 / np.where(act, alpha - beta, 1.0), 1.0)
            a[:, i + 1:, i] = x * scale[:, None]
            a[:, i, i] = np.where(act, beta, alpha)
            tau[:, i] = t
            if i + 1 < n:
                v = np.concatenate([np.ones((nb, 1), a.dtype), a[:, i + 1:, i]], axis=1)  # (nb, m - i)
                w = np.einsum("bi,bij->bj", v, a[:, i:, i + 1:])
                a[:, i:, i + 1:] -= t[:, None, None] * v[:, :, None] * w[:, None, :]
    return a.reshape(batch + (m, n)), tau.reshape(batch + (k,))


class Geqrf(MultiNode):
    name = "GeqrfBackward0"
    op = "geqrf"
    n_out = 2
    saves = {0: ()}

    def forward(self, a):
        return geqrf_array(a)

    def backward(self, ns, grads, ins, out):
        raise NotImplementedError("the derivative for 'geqrf' is not implemented (as in torch). For a "
                                  "differentiable QR use ember.linalg.qr; householder_product and ormqr are "
                                  "differentiable in the reflectors and tau.")


def geqrf(input, *, out=None):  # noqa: A002  (torch's name)
    """LAPACK's geqrf: (a, tau) with R on and above a's diagonal and the Householder vectors below it (not
    differentiable, as in torch; use linalg.qr, or householder_product / ormqr on the result)."""
    if out is not None:
        from . import _out

        return _out.into(out, "geqrf", geqrf, input)
    _check_float(input, "geqrf", "input")
    if input.ndim < 2:
        raise RuntimeError(f"torch.geqrf: input must have at least 2 dimensions, but got shape {tuple(input.shape)}")
    return _Geqrf(*Geqrf()(input))


def _reflectors(A, k):  # noqa: N803
    """The Householder vectors v_i (unit at i, A's column i below it, zero above), as (..., m) tensors."""
    m = A.shape[-2]
    dt = A._data.dtype
    low = _o.tril(A, -1)
    vs = []
    for i in range(k):
        unit = np.zeros(m, dt)
        unit[i] = 1.0
        vs.append(low[..., :, i] + Tensor._wrap(unit))
    return vs


def _apply(X, v, t, left):
    """H X (``left``) or X H with H = I - t v v^T, for v (..., m), t (...)."""
    if left:
        w = _o.matmul(v.unsqueeze(-2), X)                        # (..., 1, n)
        return X - (t.unsqueeze(-1).unsqueeze(-1) * v.unsqueeze(-1)) * w
    w = _o.matmul(X, v.unsqueeze(-1))                            # (..., p, 1)
    return X - w * (t.unsqueeze(-1).unsqueeze(-1) * v.unsqueeze(-2))


def _check_tau(A, tau, op):  # noqa: N803
    _check_float(tau, op, "tau")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: input must have at least 2 dimensions, but got shape {tuple(A.shape)}")
    if tau.ndim != A.ndim - 1:
        raise RuntimeError(f"{op}: expected tau to have one dimension less than input, but got tau of shape "
                           f"{tuple(tau.shape)} and input of shape {tuple(A.shape)}")
    if A._data.dtype != tau._data.dtype:
        raise RuntimeError(f"{op}: tau dtype {tau.dtype} does not match input dtype {A.dtype}")
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise RuntimeError(f"{op}: expected the batch dimensions of tau {tuple(tau.shape)} to equal those of input "
                           f"{tuple(A.shape)}")


def householder_product(A, tau, *, out=None):  # noqa: N803
    """The first n columns of H_1 ... H_k with H_i = I - tau_i v_i v_i^T (v_i from A's i-th column below the
    diagonal, unit at i): LAPACK's orgqr. Differentiable in A (its strict lower part) and tau."""
    if out is not None:
        from . import _out

        return _out.into(out, "linalg.householder_product", householder_product, A, tau)
    op = "torch.linalg.householder_product"
    _check_float(A, op, "input")
    _check_tau(A, tau, op)
    m, n = A.shape[-2:]
    k = tau.shape[-1]
    if m < n:
        raise RuntimeError(f"{op}: input.shape[-2] must be greater than or equal to input.shape[-1], but got input "
                           f"of shape {tuple(A.shape)}")
    if k > n:
        raise RuntimeError(f"{op}: input.shape[-1] must be greater than or equal to tau.shape[-1], but got input of "
                           f"shape {tuple(A.shape)} and tau of shape {tuple(tau.shape)}")
    eye = np.broadcast_to(np.eye(m, n, dtype=A._data.dtype), tuple(A.shape)).copy()
    Q = Tensor._wrap(eye)
    vs = _reflectors(A, k)
    for i in reversed(range(k)):
        Q = _apply(Q, vs[i], tau[..., i], True)
    return Q


def orgqr(input, tau):  # noqa: A002  (torch's name)
    """Alias of linalg.householder_product (LAPACK's orgqr)."""
    return householder_product(input, tau)


def ormqr(input, tau, other, left=True, transpose=False, *, out=None):  # noqa: A002  (torch's names)
    """op(Q) @ other (``left``) or other @ op(Q), Q = H_1 ... H_k from geqrf's (input, tau), op = transpose when
    ``transpose``: LAPACK's ormqr. Differentiable in input, tau and other."""
    if out is not None:
        from . import _out

        return _out.into(out, "ormqr", ormqr, input, tau, other, left, transpose)
    op = "torch.ormqr"
    _check_float(input, op, "input")
    _check_float(other, op, "other")
    _check_tau(input, tau, op)
    if other.ndim != input.ndim:
        raise RuntimeError(f"{op}: other must have the same number of dimensions as input, but got other of shape "
                           f"{tuple(other.shape)} and input of shape {tuple(input.shape)}")
    if other._data.dtype != input._data.dtype:
        raise RuntimeError(f"{op}: other dtype {other.dtype} does not match input dtype {input.dtype}")
    if tuple(other.shape[:-2]) != tuple(input.shape[:-2]):
        raise RuntimeError(f"{op}: the batch dimensions of other {tuple(other.shape)} must equal those of input "
                           f"{tuple(input.shape)}")
    mn = other.shape[-2] if left else other.shape[-1]
    if input.shape[-2] != mn:
        which = "other.shape[-2]" if left else "other.shape[-1]"
        raise RuntimeError(f"{op}: {which} must be equal to input.shape[-2], but got other of shape "
                           f"{tuple(other.shape)} and input of shape {tuple(input.shape)} (left={left})")
    k = tau.shape[-1]
    if k != min(mn, input.shape[-1]):
        raise RuntimeError(f"{op}: tau.shape[-1] must be equal to min(other.shape[{-2 if left else -1}], "
                           f"input.shape[-1]) = {min(mn, input.shape[-1])}, but got tau of shape {tuple(tau.shape)}")
    vs = _reflectors(input, k)
    # Q = H_1 ... H_k. Q C applies H_k first; Q^T C applies H_1 first; C Q applies H_1 first; C Q^T H_k first.
    order = range(k) if (left == transpose) else reversed(range(k))
    X = other
    for i in order:
        X = _apply(X, vs[i], tau[..., i], left)
    return X

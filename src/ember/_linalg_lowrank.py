"""``torch.svd_lowrank`` and ``torch.pca_lowrank``: Halko et al.'s randomised range finder (Algorithm 4.4 with
``niter`` power iterations, then Algorithm 5.1), written as torch's ``torch/_lowrank.py`` with ember's
differentiable ``matmul`` / ``linalg.qr`` / ``linalg.svd``, so the results are differentiable through those ops.

The random test matrix comes from ember's generator (``ember.randn``), whose stream differs from torch's: for
a matrix of rank <= q the results equal torch's (up to the signs of singular-vector pairs); otherwise they
are an equally good approximation from different random numbers.
"""
from __future__ import annotations

from . import _ops as _o
from ._tensor import Tensor


def _approx_basis(A, q, niter, M):  # noqa: N803
    from .linalg import qr

    from ._random import randn

    R = randn(A.shape[-1], q, dtype=A.dtype)
    X = _o.matmul(A, R)
    if M is not None:
        X = X - _o.matmul(M, R)
    Q = qr(X).Q
    for _ in range(niter):
        X = _o.matmul(A.mT, Q)
        if M is not None:
            X = X - _o.matmul(M.mT, Q)
        Q = qr(X).Q
        X = _o.matmul(A, Q)
        if M is not None:
            X = X - _o.matmul(M, Q)
        Q = qr(X).Q
    return Q


def _svd_lowrank(A, q, niter, M):  # noqa: N803
    from .linalg import svd

    m, n = A.shape[-2:]
    if M is not None:
        M = M.broadcast_to(tuple(A.shape))
    if m < n:
        A = A.mT
        if M is not None:
            M = M.mT
    Q = _approx_basis(A, q, niter, M)
    B = _o.matmul(Q.mT, A)
    if M is not None:
        B = B - _o.matmul(Q.mT, M)
    U, S, Vh = svd(B, full_matrices=False)
    V = Vh.mT
    U = _o.matmul(Q, U)
    if m < n:
        U, V = V, U
    return U, S, V


def _check(A, op):  # noqa: N803
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: argument 'A' must be a Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: A must have at least 2 dimensions (a batch of matrices), got shape {tuple(A.shape)}")
    if not A.is_floating_point():
        raise RuntimeError(f"{op}: A must be a floating-point tensor, got {A.dtype}; convert it, e.g. A.float()")


def svd_lowrank(A, q=6, niter=2, M=None):  # noqa: N803  (torch's names)
    """U, S, V with A - M ~ U diag(S) V^T of rank q (randomised; differentiable through matmul/qr/svd)."""
    _check(A, "svd_lowrank")
    q = 6 if q is None else q
    niter = 2 if niter is None else niter
    return _svd_lowrank(A, q, niter, M)


def pca_lowrank(A, q=None, center=True, niter=2):  # noqa: N803  (torch's names)
    """U, S, V of a randomised rank-q SVD of A centred over its rows (``center``), as torch.pca_lowrank."""
    _check(A, "pca_lowrank")
    m, n = A.shape[-2:]
    if q is None:
        q = min(6, m, n)
    elif not (q >= 0 and q <= min(m, n)):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}")
    if not niter >= 0:
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    if not center:
        return _svd_lowrank(A, q, niter, None)
    C = _o.mean(A, -2, keepdim=True)
    return _svd_lowrank(A - C, q, niter, None)

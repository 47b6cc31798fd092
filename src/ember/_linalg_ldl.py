"""``linalg.ldl_factor`` / ``ldl_factor_ex`` / ``ldl_solve``: LAPACK's ``sytrf`` / ``sytrs`` with ``uplo='L'``
(Bunch-Kaufman diagonal pivoting, alpha = (1 + sqrt(17)) / 8), as torch calls them.

The factorisation follows the unblocked ``sytf2``: only the lower triangle of A is read; at step k the pivot
is 1x1 at k, 1x1 at the row of the largest off-diagonal entry, or the 2x2 block (k, k+1) after swapping that
row in; the interchanges touch only the trailing submatrix; ``pivots`` use LAPACK's 1-based convention
(negative pairs for 2x2 blocks) and ``LD`` holds L below the diagonal and D on it (and D's sub-diagonal for
2x2 blocks), upper triangle zero as torch returns it. Pivot decisions are per matrix, so a batch is
factorised one matrix at a time (the work inside each step is vectorised).

As in torch, neither function has a derivative: backward raises.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ._linalg_lu import _check_float, _check_matrix
from ._tensor import Tensor
from .autograd.engine import Node

_ALPHA = (1.0 + np.sqrt(17.0)) / 8.0

_LdlFactor = namedtuple("torch_return_types_linalg_ldl_factor", ["LD", "pivots"])
_LdlFactorEx = namedtuple("torch_return_types_linalg_ldl_factor_ex", ["LD", "pivots", "info"])


def _idamax(v):
    return int(np.argmax(np.abs(v))) if v.size else 0


def sytf2_lower(a):
    """One real symmetric matrix (only its lower triangle read): (LD, 1-based pivots, info)."""
    n = a.shape[-1]
    low = np.tril(a)
    w = low + np.tril(low, -1).T  # symmetric working copy; LAPACK's lower-only operations are its lower half
    ipiv = np.zeros(n, np.int32)
    info = 0
    k = 0
    while k < n:
        kstep = 1
        absakk = abs(w[k, k])
        if k < n - 1:
            imax = k + 1 + _idamax(w[k + 1:, k])
            colmax = abs(w[imax, k])
        else:
            imax, colmax = k, 0.0
        if max(absakk, colmax) == 0 or np.isnan(absakk):
            if info == 0:
                info = k + 1
            kp = k
        else:
            if absakk >= _ALPHA * colmax:
                kp = k
            else:
                rowmax = abs(w[imax, k + _idamax(w[imax, k:imax])])
                if imax < n - 1:
                    jmax = imax + 1 + _idamax(w[imax + 1:, imax])
                    rowmax = max(rowmax, abs(w[jmax, imax]))
                if absakk >= _ALPHA * colmax * (colmax / rowmax):
                    kp = k
                elif abs(w[imax, imax]) >= _ALPHA * rowmax:
                    kp = imax
                else:
                    kp, kstep = imax, 2
            kk = k + kstep - 1
            if kp != kk:  # swap rows and columns kk and kp of the trailing submatrix w[k:, k:]
                idx = np.arange(k, n)
                idx[kk - k], idx[kp - k] = kp, kk
                w[k:, k:] = w[np.ix_(idx, idx)]
            if kstep == 1:
                if k < n - 1:
                    d11 = 1.0 / w[k, k]
                    x = w[k + 1:, k].copy()
                    w[k + 1:, k + 1:] -= d11 * np.outer(x, x)
                    w[k + 1:, k] = x * d11
                    w[k, k + 1:] = w[k + 1:, k]
            elif k < n - 2:
                d21 = w[k + 1, k]
                d11 = w[k + 1, k + 1] / d21
                d22 = w[k, k] / d21
                t = 1.0 / (d11 * d22 - 1.0)
                d21 = t / d21
                c0 = w[k + 2:, k].copy()
                c1 = w[k + 2:, k + 1].copy()
                wk = d21 * (d11 * c0 - c1)
                wkp1 = d21 * (d22 * c1 - c0)
                w[k + 2:, k + 2:] -= np.outer(c0, wk) + np.outer(c1, wkp1)
                w[k + 2:, k] = wk
                w[k + 2:, k + 1] = wkp1
                w[k, k + 2:] = wk
                w[k + 1, k + 2:] = wkp1
        if kstep == 1:
            ipiv[k] = kp + 1
        else:
            ipiv[k] = ipiv[k + 1] = -(kp + 1)
        k += kstep
    return np.tril(w), ipiv, info


def sytrs_lower(ld, ipiv, b):
    """X with A X = B from sytf2_lower's (LD, pivots) for one matrix; b is (n, nrhs)."""
    n = ld.shape[-1]
    b = b.copy()
    k = 0
    while k < n:  # L D Y = B
        if ipiv[k] > 0:
            kp = ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            b[k + 1:] -= np.outer(ld[k + 1:, k], b[k])
            b[k] /= ld[k, k]
            k += 1
        else:
            kp = -ipiv[k] - 1
            if kp != k + 1:
                b[[k + 1, kp]] = b[[kp, k + 1]]
            b[k + 2:] -= np.outer(ld[k + 2:, k], b[k]) + np.outer(ld[k + 2:, k + 1], b[k + 1])
            akm1k = ld[k + 1, k]
            akm1 = ld[k, k] / akm1k
            ak = ld[k + 1, k + 1] / akm1k
            denom = akm1 * ak - 1.0
            bkm1 = b[k] / akm1k
            bk = b[k + 1] / akm1k
            b[k] = (ak * bkm1 - bk) / denom
            b[k + 1] = (akm1 * bk - bkm1) / denom
            k += 2
    k = n - 1
    while k >= 0:  # L^T X = Y
        if ipiv[k] > 0:
            b[k] -= ld[k + 1:, k] @ b[k + 1:]
            kp = ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 1
        else:
            b[k] -= ld[k + 1:, k] @ b[k + 1:]
            b[k - 1] -= ld[k + 1:, k - 1] @ b[k + 1:]
            kp = -ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 2
    return b


class LdlFactor(Node):
    name = "LinalgLdlFactorExBackward0"
    op = "linalg.ldl_factor"
    saves = {0: ()}

    def forward(self, a):
        batch, n = a.shape[:-2], a.shape[-1]
        flat = a.reshape((-1, n, n))
        ld = np.empty_like(flat)
        piv = np.empty((flat.shape[0], n), np.int32)
        info = np.zeros(flat.shape[0], np.int32)
        with np.errstate(all="ignore"):
            for i in range(flat.shape[0]):
                ld[i], piv[i], info[i] = sytf2_lower(flat[i])
        self.piv, self.info = piv.reshape(batch + (n,)), info.reshape(batch)
        return ld.reshape(a.shape)

    def backward(self, ns, g, ins, out):
        raise RuntimeError("derivative for aten::linalg_ldl_factor_ex is not implemented (as in torch)")


class LdlSolve(Node):
    name = "LinalgLdlSolveBackward0"
    op = "linalg.ldl_solve"
    saves = {0: (), 1: ()}

    def __init__(self, piv):
        self.piv = piv

    def forward(self, ld, b):
        n = ld.shape[-1]
        lds = ld.reshape((-1, n, n))
        bs = b.reshape((-1,) + b.shape[-2:])
        pv = self.piv.reshape((-1, n))
        out = np.empty_like(bs)
        with np.errstate(all="ignore"):
            for i in range(bs.shape[0]):
                out[i] = sytrs_lower(lds[i], pv[i], bs[i])
        return out.reshape(b.shape)

    def backward(self, ns, g, ins, out):
        raise RuntimeError("derivative for aten::linalg_ldl_solve is not implemented (as in torch)")


def _factor(A, op):  # noqa: N803
    _check_matrix(A, op)
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{op}: A must be a batch of square matrices, but got shape {tuple(A.shape)}")
    node = LdlFactor()
    ld = node(A)
    return ld, Tensor._wrap(node.piv), Tensor._wrap(np.asarray(node.info))


def _raise_singular(op, info):
    flat = np.asarray(info).reshape(-1)
    bad = np.flatnonzero(flat > 0)
    if bad.size:
        j = int(flat[bad[0]])
        where = f"(Batch element {int(bad[0])}): " if np.ndim(info) else ""
        raise RuntimeError(f"torch.{op}: {where}D[{j},{j}] is exactly zero: the factorization was completed but D is "
                           "singular, so it cannot be used to solve a system. Use linalg.ldl_factor_ex to get the "
                           "factors and `info` without this check.")


def ldl_factor_ex(A, *, hermitian=False, check_errors=False, out=None):  # noqa: N803
    """LAPACK sytrf (lower) of a symmetric matrix: (LD, pivots, info); only A's lower triangle is read.
    ``hermitian`` changes nothing for real matrices. Not differentiable (as in torch)."""
    if out is not None:
        from . import _out

        return _out.into(out, "linalg.ldl_factor_ex", ldl_factor_ex, A, hermitian=hermitian, check_errors=check_errors)
    ld, piv, info = _factor(A, "linalg.ldl_factor_ex")
    if check_errors:
        _raise_singular("linalg.ldl_factor_ex", info._data)
    return _LdlFactorEx(ld, piv, info)


def ldl_factor(A, *, hermitian=False, out=None):  # noqa: N803
    """LAPACK sytrf (lower) of a symmetric matrix: (LD, pivots); raises when D is singular (torch fails there
    with an internal error). Not differentiable (as in torch)."""
    if out is not None:
        from . import _out

        return _out.into(out, "linalg.ldl_factor", ldl_factor, A, hermitian=hermitian)
    ld, piv, info = _factor(A, "linalg.ldl_factor")
    _raise_singular("linalg.ldl_factor", info._data)
    return _LdlFactor(ld, piv)


def ldl_solve(LD, pivots, B, *, hermitian=False, out=None):  # noqa: N803
    """X with A X = B from ldl_factor's (LD, pivots) (LAPACK sytrs, lower); batch dims broadcast. Not
    differentiable (as in torch)."""
    if out is not None:
        from . import _out

        return _out.into(out, "linalg.ldl_solve", ldl_solve, LD, pivots, B, hermitian=hermitian)
    op = "linalg.ldl_solve"
    _check_matrix(LD, op, "LD")
    _check_float(B, op, "B")
    n = LD.shape[-1]
    if LD.shape[-2] != n:
        raise RuntimeError(f"{op}: LD must be a batch of square matrices, but got shape {tuple(LD.shape)}")
    if B.ndim < 2:
        raise RuntimeError(f"{op}: B must have at least 2 dimensions (use B.unsqueeze(-1) for a vector), but got "
                           f"shape {tuple(B.shape)}")
    if B._data.dtype != LD._data.dtype:
        raise RuntimeError(f"{op}: expected B and LD to have the same dtype, but got B of dtype {B.dtype} and LD of "
                           f"dtype {LD.dtype}")
    if not isinstance(pivots, Tensor) or pivots._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: pivots must be an integer Tensor as ldl_factor returns it")
    if tuple(pivots.shape) != tuple(LD.shape[:-1]):
        raise RuntimeError(f"{op}: expected LD.shape[:-1] {tuple(LD.shape[:-1])} and pivots.shape to be the same, "
                           f"but got pivots of shape {tuple(pivots.shape)}")
    p = pivots._data
    if p.size and (np.abs(p).max() > n or (p == 0).any()):
        raise RuntimeError(f"{op}: pivots must be LAPACK's nonzero 1-based indices with |pivot| <= {n}, as "
                           "ldl_factor returns them")
    if B.shape[-2] != n:
        raise RuntimeError(f"{op}: incompatible matrix sizes: each A matrix is {n} by {n} (LD shape "
                           f"{tuple(LD.shape)}) but each B matrix is {B.shape[-2]} by {B.shape[-1]} (B shape "
                           f"{tuple(B.shape)})")
    try:
        batch = tuple(np.broadcast_shapes(tuple(LD.shape[:-2]), tuple(B.shape[:-2])))
    except ValueError:
        raise RuntimeError(f"{op}: the batch dimensions of LD {tuple(LD.shape)} and B {tuple(B.shape)} are not "
                           "broadcastable") from None
    if tuple(LD.shape[:-2]) != batch:
        LD = LD.expand(*(batch + (n, n)))
    if tuple(B.shape[:-2]) != batch:
        B = B.expand(*(batch + tuple(B.shape[-2:])))
    piv = np.broadcast_to(p.astype(np.int64), batch + (n,))
    return LdlSolve(piv)(LD, B)

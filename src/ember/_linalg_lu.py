"""LU factorisation with partial pivoting for ``ember.linalg`` (lu_factor, lu_factor_ex, lu, lu_solve) and the
``torch.lu`` / ``torch.lu_unpack`` / ``torch.lu_solve`` forms.

The factorisation is LAPACK's ``getrf`` (right-looking, blocked, ``getf2`` on each panel) vectorised over the
batch dims: the pivot of column j is the first entry of largest magnitude at or below the diagonal (``idamax``);
a zero pivot column is left unswapped and unscaled and recorded in ``info`` (1-based), as LAPACK does. So
the factors and the 1-based int32 pivots are torch's up to rounding.

Backward formulas are torch's (FunctionsManual.cpp: ``linalg_lu_backward``, ``linalg_lu_solve_LU``), written
with operations that work on NumPy arrays and on ember tensors, so ``create_graph=True`` records them.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import _ops as _o
from ._tensor import Tensor
from .autograd.engine import Node

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_float(x, op, name="A"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: argument '{name}' must be a Tensor, not {type(x).__name__}")
    if x._data.dtype not in _FLOAT_DTYPES:
        raise NotImplementedError(
            f"{op}: {name} must be float32 or float64, got {x.dtype} (shape {tuple(x.shape)}); convert it "
            f"first, e.g. {name}.double()")


def _check_matrix(x, op, name="A"):
    _check_float(x, op, name)
    if x.ndim < 2:
        raise RuntimeError(f"{op}: {name} must have at least 2 dimensions (a batch of matrices), but got shape "
                           f"{tuple(x.shape)}")


# ---------------------------------------------------------------------------------------------- kernels
def getrf(a, nb=32):
    """LAPACK getrf on a (..., m, n) array: (LU, 1-based int32 pivots (..., k), int32 info (...)).

    Blocked as LAPACK's right-looking getrf: each panel of ``nb`` columns is factorised column by column
    (getf2: idamax pivot, full-row swaps, scaling, rank-1 update inside the panel), then the block row is
    solved with the panel's unit lower triangle and the trailing matrix updated with one matmul."""
    a = np.array(a, dtype=a.dtype, copy=True)
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = a.shape[:-2]
    nbt = int(np.prod(batch, dtype=np.int64))
    a = a.reshape((nbt, m, n))
    piv = np.empty((nbt, k), np.int32)
    info = np.zeros(nbt, np.int32)
    rows = np.arange(nbt)
    with np.errstate(all="ignore"):
        for j0 in range(0, k, nb):
            j1 = min(j0 + nb, k)
            for j in range(j0, j1):
                col = np.abs(a[:, j:, j])
                p = j + np.argmax(np.where(np.isnan(col), -1.0, col), axis=1)
                pv = a[rows, p, j]
                nz = pv != 0
                p = np.where(nz, p, j)
                piv[:, j] = p + 1
                info = np.where((info == 0) & ~nz, j + 1, info)
                swap = p != j
                if swap.any():
                    r = rows[swap]
                    pj = a[r, j, :].copy()
                    a[r, j, :] = a[r, p[swap], :]
                    a[r, p[swap], :] = pj
                if j + 1 < m:
                    safe = np.where(nz, a[:, j, j], 1.0)
                    a[:, j + 1:, j] /= safe[:, None]
                    if j + 1 < j1:
                        a[:, j + 1:, j + 1:j1] -= a[:, j + 1:, j:j + 1] * a[:, j:j + 1, j + 1:j1]
            if j1 < n:
                L11 = np.tril(a[:, j0:j1, j0:j1], -1) + np.eye(j1 - j0, dtype=a.dtype)  # noqa: N806
                a[:, j0:j1, j1:] = np.linalg.solve(L11, a[:, j0:j1, j1:])
                if j1 < m:
                    a[:, j1:, j1:] -= a[:, j1:, j0:j1] @ a[:, j0:j1, j1:]
    return a.reshape(batch + (m, n)), piv.reshape(batch + (k,)), info.reshape(batch)


def perm_from_pivots(piv, m):
    """The row order (..., m) that LAPACK's sequence of swaps produces: (P^T A)[i] = A[perm[i]]."""
    batch = piv.shape[:-1]
    pv = piv.reshape((-1, piv.shape[-1])).astype(np.int64) - 1
    perm = np.broadcast_to(np.arange(m), (pv.shape[0], m)).copy()
    rows = np.arange(pv.shape[0])
    for i in range(pv.shape[1]):
        t = perm[rows, i].copy()
        perm[rows, i] = perm[rows, pv[:, i]]
        perm[rows, pv[:, i]] = t
    return perm.reshape(batch + (m,))


def perm_matrix(piv, m, dtype):
    """P with A = P L U, (..., m, m)."""
    perm = perm_from_pivots(piv, m)
    P = np.zeros(perm.shape + (m,), dtype)
    np.put_along_axis(P, perm[..., :, None], 1, axis=-1)  # P^T[i, perm[i]] = 1
    return np.swapaxes(P, -1, -2)


# ---------------------------------------------------------------------------------------------- helpers for
# backward formulas written once for arrays and tensors
def _is_t(x):
    return isinstance(x, Tensor)


def _mT(x):
    return x.transpose(-1, -2) if _is_t(x) else np.swapaxes(x, -1, -2)


def _tril(x, k=0):
    return _o.tril(x, k) if _is_t(x) else np.tril(x, k)


def _triu(x, k=0):
    return _o.triu(x, k) if _is_t(x) else np.triu(x, k)


def _const(arr, like):
    return Tensor._wrap(np.ascontiguousarray(arr)) if _is_t(like) else arr


def _cat(xs, dim):
    return _o.cat(list(xs), dim) if _is_t(xs[0]) else np.concatenate(xs, axis=dim)


def _zeros(shape, like):
    z = np.zeros(shape, (like._data if _is_t(like) else like).dtype)
    return _const(z, like)


def _eye_like(n, like):
    return np.eye(n, dtype=(like._data if _is_t(like) else like).dtype)


def trsolve(T, B, *, upper, left=True, unit=False):  # noqa: N803
    """X with op(T) X = B (``left``) or X T = B, reading only T's triangle (arrays or tensors)."""
    if _is_t(T) or _is_t(B):
        from .linalg import solve_triangular

        T = T if _is_t(T) else Tensor._wrap(T)
        B = B if _is_t(B) else Tensor._wrap(B)
        return solve_triangular(T, B, upper=upper, left=left, unitriangular=unit)
    n = T.shape[-1]
    Tm = np.triu(T) if upper else np.tril(T)
    if unit:
        Tm = Tm * (1 - np.eye(n, dtype=T.dtype)) + np.eye(n, dtype=T.dtype)
    if n == 0:
        return np.zeros(np.broadcast_shapes(T.shape[:-2], B.shape[:-2]) + B.shape[-2:], B.dtype)
    if left:
        return np.linalg.solve(Tm, B)
    return np.swapaxes(np.linalg.solve(np.swapaxes(Tm, -1, -2), np.swapaxes(B, -1, -2)), -1, -2)


def _unpack(LU, m, n):
    """L (m x k, unit lower) and U (k x n) from packed LU (arrays or tensors)."""
    k = min(m, n)
    L = _tril(LU[..., :, :k], -1) + _const(_eye_like(m, LU)[:, :k], LU)
    U = _triu(LU[..., :k, :])
    return L, U


def lu_backward(gL, gU, P, L, U, m, n):
    """torch's linalg_lu_backward: the gradient of A from those of L (m x k) and U (k x n); P constant."""
    k = min(m, n)
    if m == n:
        gA = None
        if gL is not None:
            gA = _tril(_mT(L) @ gL, -1)
        if gU is not None:
            t = _triu(gU @ _mT(U))
            gA = t if gA is None else gA + t
        gA = trsolve(_mT(U), gA, upper=False, left=False)
        gA = trsolve(_mT(L), gA, upper=True, left=True, unit=True)
        return P @ gA
    if m < n:
        U1 = U[..., :, :k]
        gA = _mT(L) @ gL if gL is not None else None
        if gU is not None:
            t = _triu(gU) @ _mT(U)
            gA = -t if gA is None else gA - t
        gA = trsolve(_mT(U1), _tril(gA, -1), upper=False, left=False)
        if gU is not None:
            gA = _cat([gA + _triu(gU[..., :, :k]), gU[..., :, k:]], -1)
        gA = trsolve(_mT(L), gA, upper=True, left=True, unit=True)
        if gU is None:
            gA = _cat([gA, _zeros(tuple(gA.shape[:-1]) + (n - k,), gA)], -1)
        return P @ gA
    L1 = L[..., :k, :]
    gA = gU @ _mT(U) if gU is not None else None
    if gL is not None:
        t = _mT(L) @ gL
        gA = -t if gA is None else gA - t
    gA = trsolve(_mT(L1), _triu(gA), upper=True, left=True, unit=True)
    if gL is not None:
        gA = _cat([gA + _tril(gL[..., :k, :], -1), gL[..., k:, :]], -2)
    gA = trsolve(_mT(U), gA, upper=False, left=False)
    if gL is None:
        gA = _cat([gA, _zeros(tuple(gA.shape[:-2]) + (m - k, gA.shape[-1]), gA)], -2)
    return P @ gA


# ---------------------------------------------------------------------------------------------- nodes
class LuFactor(Node):
    """A -> packed LU; the pivots and info are kept on the node (constants of the backward)."""

    name = "LinalgLuFactorExBackward0"
    op = "linalg.lu_factor"
    saves = {0: ()}
    save_out = True

    def forward(self, a):
        lu, self.piv, self.info = getrf(a)
        self.m, self.n = a.shape[-2:]
        return lu

    def backward(self, ns, g, ins, out):
        m, n = self.m, self.n
        k = min(m, n)
        L, U = _unpack(out, m, n)
        P = _const(perm_matrix(self.piv, m, (out._data if _is_t(out) else out).dtype), out)
        gL = _tril(g[..., :, :k], -1)
        gU = _triu(g[..., :k, :])
        return (lu_backward(gL, gU, P, L, U, m, n),)


class LuSolveLeft(Node):
    """X with A X = B (``adjoint``: A^T X = B) for A = P L U given as (LU, pivots); batch dims already equal."""

    name = "LinalgLuSolveBackward0"
    op = "linalg.lu_solve"
    saves = {0: (0,), 1: (0,)}
    save_out = True

    def __init__(self, piv, adjoint):
        self.piv, self.adjoint = piv, adjoint

    def forward(self, lu, b):
        n = lu.shape[-1]
        L, U = _unpack(lu, n, n)
        perm = perm_from_pivots(self.piv, n)
        if n == 0:
            return np.zeros(b.shape, b.dtype)
        if not self.adjoint:
            pb = np.take_along_axis(b, perm[..., :, None], axis=-2)
            return trsolve(U, trsolve(L, pb, upper=False, unit=True), upper=True)
        w = trsolve(_mT(L), trsolve(_mT(U), b, upper=False), upper=True, unit=True)
        inv = np.argsort(perm, axis=-1)
        return np.take_along_axis(w, inv[..., :, None], axis=-2)

    def backward(self, ns, g, ins, out):
        lu = ins[0]
        n = lu.shape[-1]
        L, U = _unpack(lu, n, n)
        P = _const(perm_matrix(self.piv, n, (lu._data if _is_t(lu) else lu).dtype), lu)
        X = out
        need_lu, need_b = self.needs
        if not self.adjoint:
            gY = trsolve(_mT(U), g, upper=False)              # U^-T gX
            t = trsolve(_mT(L), gY, upper=True, unit=True)     # L^-T U^-T gX
            gB = P @ t
            gLU = None
            if need_lu:
                Y = U @ X
                gLU = -_triu(gY @ _mT(X)) - _tril(t @ _mT(Y), -1)
            return gLU, (gB if need_b else None)
        gW = _mT(P) @ g
        gZ = trsolve(L, gW, upper=False, unit=True)
        gB = trsolve(U, gZ, upper=True)
        gLU = None
        if need_lu:
            W = _mT(P) @ X
            Z = _mT(L) @ W
            gLU = -_tril(W @ _mT(gZ), -1) - _triu(Z @ _mT(gB))
        return gLU, (gB if need_b else None)


# ---------------------------------------------------------------------------------------------- public API
_LuFactor = namedtuple("torch_return_types_linalg_lu_factor", ["LU", "pivots"])
_LuFactorEx = namedtuple("torch_return_types_linalg_lu_factor_ex", ["LU", "pivots", "info"])
_Lu = namedtuple("torch_return_types_linalg_lu", ["P", "L", "U"])
_LuUnpack = namedtuple("torch_return_types_lu_unpack", ["P", "L", "U"])
_LuWithInfo = namedtuple("torch_return_types__lu_with_info", ["LU", "pivots", "info"])


def _no_pivot(op, pivot):
    if not pivot:
        raise RuntimeError(f"{op}: LU without pivoting is not implemented on the CPU (as in torch); "
                           "use pivot=True")


def _raise_singular(op, info):
    flat = np.asarray(info).reshape(-1)
    bad = np.flatnonzero(flat > 0)
    if bad.size == 0:
        return
    j = int(flat[bad[0]])
    where = f"(Batch element {int(bad[0])}): " if np.ndim(info) else ""
    raise RuntimeError(
        f"torch.{op}: {where}U[{j},{j}] is zero and using it on lu_solve would result in a division by zero. "
        f"If you still want to perform the factorization, consider calling linalg.lu(A, pivot) or "
        f"linalg.lu_factor_ex(A, pivot)")


def _factor(A, op, pivot):  # noqa: N803
    _check_matrix(A, op)
    _no_pivot(op, pivot)
    node = LuFactor()
    lu = node(A)
    piv = Tensor._wrap(node.piv)
    info = Tensor._wrap(np.asarray(node.info))
    return lu, piv, info


def lu_factor_ex(A, *, pivot=True, check_errors=False, out=None):  # noqa: N803
    """LU factorisation with partial pivoting, packed as LAPACK's getrf: (LU, 1-based int32 pivots, info),
    info[b] > 0 the (1-based) index of the first zero pivot. Differentiable in LU."""
    if out is not None:
        from . import _out

        return _out.into(out, "linalg.lu_factor_ex", lu_factor_ex, A, pivot=pivot, check_errors=check_errors)
    lu, piv, info = _factor(A, "linalg.lu_factor_ex", pivot)
    if check_errors:
        _raise_singular("linalg.lu_factor_ex", info._data)
    return _LuFactorEx(lu, piv, info)


def lu_factor(A, *, pivot=True, out=None):  # noqa: N803
    """LU factorisation with partial pivoting, packed as LAPACK's getrf: (LU, 1-based int32 pivots).
    Raises for a singular matrix (use lu_factor_ex to get ``info`` instead). Differentiable in LU."""
    if out is not None:
        from . import _out

        return _out.into(out, "linalg.lu_factor", lu_factor, A, pivot=pivot)
    lu, piv, info = _factor(A, "linalg.lu_factor", pivot)
    _raise_singular("linalg.lu_factor", info._data)
    return _LuFactor(lu, piv)


def _unpack_tensors(LU, piv, m, n, unpack_data=True, unpack_pivots=True):  # noqa: N803
    empty = _o.zeros(0, dtype=LU.dtype)
    P = Tensor._wrap(perm_matrix(piv._data, m, LU._data.dtype)) if unpack_pivots else empty
    if not unpack_data:
        return P, empty, empty
    L, U = _unpack(LU, m, n)
    return P, L, U


def lu(A, *, pivot=True, out=None):  # noqa: N803
    """P, L, U with A = P L U (L unit lower m x k, U upper k x n). Differentiable in L and U."""
    if out is not None:
        from . import _out

        return _out.into(out, "linalg.lu", lu, A, pivot=pivot)
    lu_, piv, _ = _factor(A, "linalg.lu", pivot)
    m, n = A.shape[-2:]
    return _Lu(*_unpack_tensors(lu_, piv, m, n))


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True, *, out=None):  # noqa: N803
    """P, L, U from ``lu_factor``'s (LU, pivots) (P empty when ``unpack_pivots=False``; L and U empty when
    ``unpack_data=False``). Differentiable in LU_data."""
    if out is not None:
        from . import _out

        return _out.into(out, "lu_unpack", lu_unpack, LU_data, LU_pivots, unpack_data, unpack_pivots)
    _check_matrix(LU_data, "lu_unpack", "LU_data")
    m, n = LU_data.shape[-2:]
    _check_pivots(LU_pivots, LU_data, "lu_unpack", min(m, n))
    return _LuUnpack(*_unpack_tensors(LU_data, LU_pivots, m, n, unpack_data, unpack_pivots))


def _check_pivots(piv, LU, op, k):  # noqa: N803
    if not isinstance(piv, Tensor):
        raise TypeError(f"{op}: pivots must be a Tensor, not {type(piv).__name__}")
    if piv._data.dtype != np.int32:
        raise RuntimeError(f"{op}: pivots should be a Tensor of scalar type int32 (as lu_factor returns), got "
                           f"{piv.dtype}; convert with pivots.int()")
    if tuple(piv.shape) != tuple(LU.shape[:-2]) + (k,):
        raise RuntimeError(f"{op}: expected pivots of shape LU.shape[:-2] + (min(m, n),) = "
                           f"{tuple(LU.shape[:-2]) + (k,)}, but got pivots of shape {tuple(piv.shape)} for LU of "
                           f"shape {tuple(LU.shape)}")
    p = piv._data
    if p.size and (p.min() < 1 or p.max() > LU.shape[-2]):
        raise RuntimeError(f"{op}: pivots must be 1-based row indices in [1, {LU.shape[-2]}], got values from "
                           f"{int(p.min())} to {int(p.max())}")


def lu_solve(LU, pivots, B, *, left=True, adjoint=False, out=None):  # noqa: N803
    """X with A X = B (``adjoint``: A^T X = B; ``left=False``: X A = B / X A^T = B) for A = P L U given by
    ``lu_factor``. Batch dims broadcast. Differentiable in LU and B."""
    if out is not None:
        from . import _out

        return _out.into(out, "linalg.lu_solve", lu_solve, LU, pivots, B, left=left, adjoint=adjoint)
    op = "linalg.lu_solve"
    _check_matrix(LU, op, "LU")
    _check_float(B, op, "B")
    if LU.shape[-1] != LU.shape[-2]:
        raise RuntimeError(f"{op}: LU must be a batch of square matrices, but got shape {tuple(LU.shape)}")
    if B.ndim < 2:
        raise RuntimeError(f"{op}: B must have at least 2 dimensions (use B.unsqueeze(-1) for a vector), but got "
                           f"shape {tuple(B.shape)}")
    if LU._data.dtype != B._data.dtype:
        raise RuntimeError(f"{op}: expected LU and B to have the same dtype, but got LU of dtype {LU.dtype} and B "
                           f"of dtype {B.dtype}")
    n = LU.shape[-1]
    _check_pivots(pivots, LU, op, n)
    if (B.shape[-2] if left else B.shape[-1]) != n:
        eq = "AX = B" if left else "XA = B"
        raise RuntimeError(f"{op}: incompatible shapes of A and B for the equation {eq}: A is {n}x{n} (LU shape "
                           f"{tuple(LU.shape)}) and B has shape {tuple(B.shape)}")
    try:
        batch = tuple(np.broadcast_shapes(tuple(LU.shape[:-2]), tuple(B.shape[:-2])))
    except ValueError:
        raise RuntimeError(f"{op}: the batch dimensions of LU {tuple(LU.shape)} and B {tuple(B.shape)} are not "
                           "broadcastable") from None
    if not left:
        return lu_solve(LU, pivots, B.transpose(-1, -2), left=True, adjoint=not adjoint).transpose(-1, -2)
    if tuple(LU.shape[:-2]) != batch:
        LU = LU.expand(*(batch + (n, n)))
    if tuple(B.shape[:-2]) != batch:
        B = B.expand(*(batch + tuple(B.shape[-2:])))
    piv = np.broadcast_to(pivots._data, batch + (n,))
    return LuSolveLeft(piv, adjoint)(LU, B)


# ---------------------------------------------------------------------------------------------- torch.* forms
_WARNED = set()


def _deprecated(msg):
    """torch's TORCH_WARN_ONCE: a UserWarning the first time in the process."""
    if msg not in _WARNED:
        _WARNED.add(msg)
        import warnings

        warnings.warn(msg, UserWarning, stacklevel=3)


def lu_deprecated(A, pivot=True, get_infos=False, out=None):  # noqa: N803
    """``torch.lu`` (deprecated in torch): (LU, pivots) or, with ``get_infos``, (LU, pivots, infos); raises
    on a singular matrix unless ``get_infos``."""
    if out is not None:
        from . import _out

        return _out.into(out, "lu", lu_deprecated, A, pivot, get_infos)
    _deprecated("torch.lu is deprecated in favor of torch.linalg.lu_factor / torch.linalg.lu_factor_ex and will "
                "be removed in a future PyTorch release: LU, pivots = torch.lu(A, compute_pivots) should be replaced "
                "with LU, pivots = torch.linalg.lu_factor(A, compute_pivots)")
    lu_, piv, info = _factor(A, "lu", pivot)
    if get_infos:
        return _LuWithInfo(lu_, piv, info)
    _raise_singular("lu", info._data)
    return lu_, piv


def lu_solve_deprecated(b, LU_data, LU_pivots, *, out=None):  # noqa: N803
    """``torch.lu_solve(b, LU_data, LU_pivots)``: X with A X = b (torch.linalg.lu_solve's argument order differs)."""
    if out is not None:
        from . import _out

        return _out.into(out, "lu_solve", lu_solve_deprecated, b, LU_data, LU_pivots)
    _deprecated("torch.lu_solve is deprecated in favor of torch.linalg.lu_solve and will be removed in a future "
                "PyTorch release. Note that torch.linalg.lu_solve has its arguments reversed: X = torch.lu_solve(B, "
                "LU, pivots) should be replaced with X = torch.linalg.lu_solve(LU, pivots, B)")
    return lu_solve(LU_data, LU_pivots, b)

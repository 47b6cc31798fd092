"""``ember.linalg``: the parts of ``torch.linalg`` that training scripts use (norms, inverse, det, solve)."""
from __future__ import annotations

import numpy as np

from . import _ops as _o
from . import _out
from ._tensor import Tensor
from .autograd.engine import UnaryNode
from . import _autocast as _ac


def cross(input, other, *, dim=-1, out=None):
    """The cross product of 3-vectors along ``dim`` (default: the last dim, as torch.linalg.cross)."""
    return _o.cross(input, other, dim, out=out)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A002
    """The vector ``ord``-norm over ``dim`` (all elements when None)."""
    if out is not None:
        return _out.into(out, "vector_norm", vector_norm, x, ord, dim, keepdim, dtype=dtype)
    if dtype is not None:
        x = x.to(dtype)
    if x._data.dtype.kind == "c" and ord not in (2, 2.0):  # the norm of the moduli (a real tensor), as torch
        x = _o.abs(x)
    if ord in (float("inf"), float("-inf")):
        red = _o.amax if ord > 0 else _o.amin
        if dim is not None:
            return red(_o.abs(x), dim, keepdim)
        r = red(_o.abs(x))
        return r.reshape((1,) * x.ndim) if keepdim else r
    if ord == 0:
        return _o.sum(_o.ne(x, 0).to(x.dtype), dim, keepdim)
    return _o.norm(x, ord, dim=dim, keepdim=keepdim)


def matrix_norm(A, ord='fro', dim=(-2, -1), keepdim=False, *, dtype=None, out=None):  # noqa: A002,N803
    """Matrix norms: 'fro', 'nuc', 2, -2, 1, -1, inf, -inf over ``dim`` (differentiable)."""
    if out is not None:
        return _out.into(out, "matrix_norm", matrix_norm, A, ord, dim, keepdim, dtype=dtype)
    if dtype is not None:
        A = A.to(dtype)
    return _matrix_norm(A, ord, tuple(dim), keepdim)


def norm(input, ord=None, dim=None, keepdim=False, *, out=None, dtype=None):
    """``torch.linalg.norm``: a vector norm for 1 dim (or all when ``dim``/``ord`` are None), else a matrix norm."""
    if out is not None:
        return _out.into(out, "linalg.norm", norm, input, ord, dim, keepdim, dtype=dtype)
    if dim is None and ord is None:
        return vector_norm(input, 2, None, keepdim, dtype=dtype)
    if isinstance(dim, int) or (dim is None and input.ndim == 1):
        return vector_norm(input, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if dtype is not None:
        input = input.to(dtype)
    return matrix_norm(input, "fro" if ord is None else ord, (-2, -1) if dim is None else dim, keepdim)


def _check_square(x, op):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"linalg.{op}: A must be a batch of square matrices, but got shape {tuple(x.shape)}")
    if not (x.is_floating_point() or x.is_complex()):
        raise RuntimeError(f"linalg.{op}: expected a floating-point or complex tensor, got {x.dtype}")


class Inv(UnaryNode):
    needs_inputs = False
    needs_out = True
    complex_ok = True  # the gradient -A^-H g A^-H

    def forward(self, a):
        try:
            return np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise RuntimeError("linalg.inv: the input matrix is singular (not invertible)") from None

    def backward(self, ns, g, ins, out):
        t = ns.conj(ns.swap_last(out))
        return (-ns.matmul(ns.matmul(t, g), t),)


def inv(A, *, out=None):  # noqa: N803  (torch's name)
    """The inverse of a (batch of) square matrices (differentiable)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, inv, A, out=out)
    if out is not None:
        return _out.into(out, "linalg.inv", inv, A)
    _check_square(A, "inv")
    return Inv()(A)


class Det(UnaryNode):
    needs_out = True
    complex_ok = True  # the gradient g conj(det(A) A^-T)

    def forward(self, a):
        return np.linalg.det(a)

    def backward(self, ns, g, ins, out):
        a = ins[0]
        if not isinstance(a, Tensor):
            od = np.asarray(out)
            if (od == 0).any() or not np.isfinite(od).all():  # singular: the adjugate (A^-1 does not exist)
                return (g[..., None, None] * np.conj(np.swapaxes(_adjugate(a), -1, -2)),)
        ia = inv(a) if isinstance(a, Tensor) else np.linalg.inv(a)
        scale = g * ns.conj(out)
        if isinstance(scale, Tensor):
            scale = scale.unsqueeze(-1).unsqueeze(-1)
        else:
            scale = np.asarray(scale)[..., None, None]
        return (scale * ns.conj(ns.swap_last(ia)),)


def _adjugate(a):
    """adj(A) (= det(A) A^-1 where A is invertible) of a batch of matrices, also where they are singular, from the
    SVD A = U S Vh: adj(A) = det(U) det(Vh) Vh^H diag(prod_{j != i} s_j) U^H."""
    u, s, vh = np.linalg.svd(a)
    one = np.ones_like(s[..., :1])
    left = np.cumprod(np.concatenate([one, s[..., :-1]], -1), -1)
    right = np.cumprod(np.concatenate([one, s[..., :0:-1]], -1), -1)[..., ::-1]
    scale = (np.linalg.det(u) * np.linalg.det(vh))[..., None, None]
    return scale * (np.swapaxes(vh.conj(), -1, -2) * (left * right)[..., None, :]) @ np.swapaxes(u.conj(), -1, -2)


def det(A, *, out=None):  # noqa: N803  (torch's name)
    """The determinant of a (batch of) square matrices, differentiable (the gradient of a singular matrix is its
    adjugate's transpose, where torch 2.13 gives zeros)."""
    if out is not None:
        return _out.into(out, "linalg.det", det, A)
    _check_square(A, "det")
    return Det()(A)


def solve(A, B, *, left=True, out=None):
    """X with A @ X = B (or X @ A = B when ``left=False``), through the inverse (differentiable)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, solve, A, B, left=left, out=out)
    if out is not None:
        return _out.into(out, "solve", solve, A, B, left=left)
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


from ._linalg_extra import cholesky, eigh, qr, slogdet, svd, svdvals  # noqa: E402,F401
from ._linalg_lu import lu, lu_factor, lu_factor_ex, lu_solve  # noqa: E402,F401
from ._linalg_householder import householder_product  # noqa: E402,F401
from ._linalg_ldl import ldl_factor, ldl_factor_ex, ldl_solve  # noqa: E402,F401
from ._linalg_eig import eig, eigvals  # noqa: E402,F401


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError (ember's linalg functions raise RuntimeError with the reason)."""


def _rt(name, fields):
    from collections import namedtuple

    return namedtuple(name, fields)


def eigvalsh(A, UPLO='L', *, out=None):  # noqa: N803
    """Eigenvalues (ascending) of a symmetric matrix (differentiable)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, eigvalsh, A, UPLO, out=out)
    if out is not None:
        return _out.into(out, "eigvalsh", eigvalsh, A, UPLO)
    return eigh(A, UPLO)[0]


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):  # noqa: N803
    return _o.diagonal(A, offset, dim1, dim2)


def matmul(input, other, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "matmul", matmul, input, other, exact_dtype=True)
    return _o.matmul(input, other)


def vecdot(x, y, *, dim=-1, out=None):
    """Dot products along ``dim`` (no conjugation: ember is real-only)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list (out=: not cast)
        return _ac.run(_ac.LOWER if out is None else _ac.NONE, vecdot, x, y, dim=dim, out=out)
    if out is not None:
        return _out.into(out, "vecdot", vecdot, x, y, dim=dim)
    return _o.sum(x * y, dim)


def multi_dot(tensors):
    """The product of a chain of matrices (the first/last may be 1-d), differentiable."""
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    first_1d, last_1d = ts[0].ndim == 1, ts[-1].ndim == 1
    if first_1d:
        ts[0] = ts[0].unsqueeze(0)
    if last_1d:
        ts[-1] = ts[-1].unsqueeze(-1)
    out = ts[0]
    for t in ts[1:]:
        out = _o.matmul(out, t)
    if first_1d:
        out = out.squeeze(0)
    if last_1d:
        out = out.squeeze(-1)
    return out


def matrix_power(A, n, *, out=None):  # noqa: N803
    """A ** n for an integer n (negative: powers of the inverse), differentiable."""
    if out is not None:
        return _out.into(out, "matrix_power", matrix_power, A, n)
    _check_square(A, "matrix_power")
    if not isinstance(n, int):
        raise TypeError(f"linalg.matrix_power: n must be an int, got {type(n).__name__}")
    if n == 0:
        return _o.zeros_like(A) + Tensor._wrap(np.eye(A.shape[-1], dtype=A._data.dtype))
    base = inv(A) if n < 0 else A
    result, p = None, abs(n)
    while p:
        if p & 1:
            result = base if result is None else _o.matmul(result, base)
        p >>= 1
        if p:
            base = _o.matmul(base, base)
    return result


def matrix_exp(A):  # noqa: N803
    """exp(A) by scaling and squaring with a Taylor series (differentiable)."""
    _check_square(A, "matrix_exp")
    nrm = float(np.max(np.abs(A._data).sum(-1))) if A.numel() else 0.0
    s = max(0, int(np.ceil(np.log2(nrm))) + 1) if nrm > 0.5 else 0
    X = A / (2 ** s)
    eye = Tensor._wrap(np.broadcast_to(np.eye(A.shape[-1], dtype=A._data.dtype), tuple(A.shape)).copy())
    term, out = eye, eye
    for k in range(1, 20):
        term = _o.matmul(term, X) / k
        out = out + term
    for _ in range(s):
        out = _o.matmul(out, out)
    return out


def solve_triangular(A, B, *, upper, left=True, unitriangular=False, out=None):  # noqa: N803
    """X with A X = B (``left=False``: X A = B) for a triangular A (differentiable; only A's triangle is read)."""
    if out is not None:
        return _out.into(out, "solve_triangular", solve_triangular, A, B, upper=upper, left=left, unitriangular=unitriangular)
    T = _o.triu(A) if upper else _o.tril(A)
    if unitriangular:
        n = A.shape[-1]
        eye = Tensor._wrap(np.eye(n, dtype=A._data.dtype))
        T = T * Tensor._wrap(1 - np.eye(n, dtype=A._data.dtype)) + eye
    return solve(T, B, left=left)


def lstsq(A, B, rcond=None, *, driver=None):  # noqa: N803
    """Least-squares solution of A X = B for full-rank A (through the pseudo-inverse, differentiable).
    As torch's default CPU driver ('gelsy'), residuals and singular_values are empty."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, lstsq, A, B, rcond, driver=driver)
    X = _o.matmul(pinv(A), B)
    rank = matrix_rank(A)
    empty = _o.zeros(0, dtype=A.dtype)
    return _rt("torch_return_types_linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])(
        X, empty, rank, empty)


def pinv(A, *, atol=None, rtol=None, hermitian=False, out=None):  # noqa: N803
    """The Moore-Penrose pseudo-inverse through the SVD (differentiable where the rank is constant)."""
    if out is not None:
        return _out.into(out, "pinv", pinv, A, atol=atol, rtol=rtol, hermitian=hermitian)
    U, S, Vh = svd(A, full_matrices=False)
    smax = S.detach().numpy().max(-1, keepdims=True) if S.numel() else np.zeros(S.shape[:-1] + (1,))
    if rtol is None:
        rtol = (max(A.shape[-2:]) * np.finfo(A._data.dtype).eps) if atol is None or atol == 0 else 0.0
    at = 0.0 if atol is None else (atol.numpy()[..., None] if isinstance(atol, Tensor) else atol)
    rt = rtol.numpy()[..., None] if isinstance(rtol, Tensor) else rtol
    tol = np.maximum(at, rt * smax)
    keep = Tensor._wrap(S.detach().numpy() > tol)
    Sinv = _o.where(keep, 1.0 / _o.where(keep, S, _o.ones_like(S)), _o.zeros_like(S))
    return _o.matmul(Vh.transpose(-1, -2) * Sinv.unsqueeze(-2), U.transpose(-1, -2))


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False, out=None):  # noqa: N803
    """The number of singular values above the tolerance (int64, not differentiable)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, matrix_rank, A, atol=atol, rtol=rtol, hermitian=hermitian, out=out)
    if out is not None:
        return _out.into(out, "matrix_rank", matrix_rank, A, atol=atol, rtol=rtol, hermitian=hermitian)
    S = np.linalg.svd(A._data, compute_uv=False)
    smax = S.max(-1, keepdims=True) if S.size else np.zeros(S.shape[:-1] + (1,))
    if rtol is None:
        rtol = (max(A.shape[-2:]) * np.finfo(A._data.dtype).eps) if atol is None or atol == 0 else 0.0
    tol = np.maximum(0.0 if atol is None else atol, rtol * smax)
    return Tensor._wrap((S > tol).sum(-1).astype(np.int64))


def _matrix_norm(x, ord, dim, keepdim):  # noqa: A002
    d0, d1 = dim
    if ord == "fro":
        return _o.norm(x, 2, dim=tuple(dim), keepdim=keepdim)
    if ord in ("nuc", 2, -2):
        xm = _o.movedim(x, (d0, d1), (-2, -1))
        s = svdvals(xm)
        r = _o.sum(s, -1) if ord == "nuc" else (_o.amax(s, -1) if ord == 2 else _o.amin(s, -1))
        if keepdim:
            r = r.unsqueeze(-1).unsqueeze(-1)
            r = _o.movedim(r, (-2, -1), (d0 % x.ndim, d1 % x.ndim))
        return r
    if ord in (1, -1, float("inf"), float("-inf")):
        sum_dim, red_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = _o.sum(_o.abs(x), sum_dim, keepdim=True)
        r = _o.amax(sums, red_dim, keepdim=True) if ord in (1, float("inf")) else _o.amin(sums, red_dim, keepdim=True)
        if not keepdim:
            r = _o.squeeze(r, tuple(sorted((d0 % x.ndim, d1 % x.ndim))))
        return r
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def cond(A, p=None, *, out=None):  # noqa: N803
    """The condition number in the p-norm (2 by default: largest / smallest singular value)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, cond, A, p, out=out)
    if out is not None:
        return _out.into(out, "cond", cond, A, p)
    if p in (None, 2, -2):
        s = svdvals(A)
        r = _o.amax(s, -1) / _o.amin(s, -1)
        return r if p != -2 else 1 / r
    return matrix_norm(A, p) * matrix_norm(inv(A), p)


def tensorinv(A, ind=2, *, out=None):  # noqa: N803
    """The inverse of A for ``tensordot`` with ``ind`` leading dims (differentiable)."""
    if out is not None:
        return _out.into(out, "tensorinv", tensorinv, A, ind)
    out_shape = tuple(A.shape[ind:]) + tuple(A.shape[:ind])
    n = int(np.prod(A.shape[:ind]))
    return inv(A.reshape(n, -1)).reshape(out_shape)


def tensorsolve(A, B, dims=None, *, out=None):  # noqa: N803
    """X with tensordot(A, X, X.ndim) = B (differentiable)."""
    if out is not None:
        return _out.into(out, "tensorsolve", tensorsolve, A, B, dims)
    if dims is not None:
        A = _o.movedim(A, tuple(dims), tuple(range(A.ndim - len(dims), A.ndim)))
    x_shape = tuple(A.shape[B.ndim:])
    n = int(np.prod(B.shape))
    return solve(A.reshape(n, -1), B.reshape(n)).reshape(x_shape)


def inv_ex(A, *, check_errors=False, out=None):  # noqa: N803
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, inv_ex, A, check_errors=check_errors, out=out)
    if out is not None:
        return _out.into(out, "inv_ex", inv_ex, A, check_errors=check_errors)
    return _rt("torch_return_types_linalg_inv_ex", ["inverse", "info"])(inv(A), _info(A))


def cholesky_ex(A, *, upper=False, check_errors=False, out=None):  # noqa: N803
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, cholesky_ex, A, upper=upper, check_errors=check_errors, out=out)
    if out is not None:
        return _out.into(out, "cholesky_ex", cholesky_ex, A, upper=upper, check_errors=check_errors)
    try:
        L = cholesky(A, upper=upper)
        info = _info(A)
    except RuntimeError:
        if check_errors:
            raise
        L, info = _o.zeros_like(A), Tensor._wrap(np.ones(tuple(A.shape[:-2]), np.int32))
    return _rt("torch_return_types_linalg_cholesky_ex", ["L", "info"])(L, info)


def solve_ex(A, B, *, left=True, check_errors=False, out=None):  # noqa: N803
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, solve_ex, A, B, left=left, check_errors=check_errors, out=out)
    if out is not None:
        return _out.into(out, "solve_ex", solve_ex, A, B, left=left, check_errors=check_errors)
    return _rt("torch_return_types_linalg_solve_ex", ["result", "info"])(solve(A, B, left=left), _info(A))


def _info(A):  # noqa: N803
    return Tensor._wrap(np.zeros(tuple(A.shape[:-2]), np.int32))

from ._compat import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("torch.linalg", "ember.linalg")  # listed torch names raise a clear error

"""Matrix decompositions with gradients for ``ember.linalg``: eigh, svd, qr, cholesky, slogdet.

Backward formulas follow torch's (FunctionsManual.cpp / derivatives.yaml; Murray 2016 for Cholesky,
Townsend 2016 for the SVD). They are written with operators that work on NumPy arrays and on ember
tensors alike, so under ``create_graph=True`` the backward is itself recorded.
"""
from __future__ import annotations

import numpy as np

from . import _ops as _o
from ._tensor import Tensor
from .autograd.engine import MultiNode, UnaryNode
from . import _out
from . import _autocast as _ac


def _mT(x):
    return x.swapaxes(-1, -2)


def _tril(x, k=0):
    return _o.tril(x, k) if isinstance(x, Tensor) else np.tril(x, k)


def _diag_embed(v):
    """(..., n) -> (..., n, n) with v on the diagonal."""
    n = v.shape[-1]
    eye = np.eye(n, dtype=(v._data if isinstance(v, Tensor) else v).dtype)
    return v[..., None, :] * eye if not isinstance(v, Tensor) else v.unsqueeze(-2) * Tensor._wrap(eye)


def _diagonal(x):
    return _o.diagonal(x, 0, -2, -1) if isinstance(x, Tensor) else np.diagonal(x, 0, -2, -1)


def _inv(x):
    if isinstance(x, Tensor):
        from .linalg import inv

        return inv(x)
    return np.linalg.inv(x)


def _zeros_like(x):
    return _o.zeros_like(x) if isinstance(x, Tensor) else np.zeros_like(x)


def _lin_err(op, e):
    return RuntimeError(f"linalg.{op}: {e}. The input may be singular or not positive-definite; check it "
                        "(e.g. add a small multiple of the identity) or use a more robust decomposition.")


class Eigh(MultiNode):
    n_out = 2
    op = "linalg.eigh"

    def forward(self, a, uplo):
        self.uplo = uplo
        try:
            w, v = np.linalg.eigh(a, UPLO=uplo)
        except np.linalg.LinAlgError as e:
            raise _lin_err("eigh", e) from None
        return w, v

    def backward(self, ns, grads, ins, out):
        gw, gV = grads
        a = ins[0]
        w, V = eigh(a, self.uplo) if isinstance(a, Tensor) else np.linalg.eigh(a, UPLO=self.uplo)
        inner = _zeros_like(a) if gw is None else _diag_embed(gw)
        if gV is not None:
            VhgV = _mT(V) @ gV
            E = w[..., None, :] - w[..., :, None] if not isinstance(w, Tensor) else w.unsqueeze(-2) - w.unsqueeze(-1)
            n = a.shape[-1]
            off = 1 - np.eye(n, dtype=(a._data if isinstance(a, Tensor) else a).dtype)
            Esafe = E + np.eye(n, dtype=off.dtype) if not isinstance(E, Tensor) else E + Tensor._wrap(np.eye(n, dtype=off.dtype))
            inner = inner + VhgV / Esafe * (off if not isinstance(E, Tensor) else Tensor._wrap(off))
        return (V @ inner @ _mT(V), None)


def eigh(A, UPLO='L', *, out=None):  # noqa: N803
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix (differentiable; the eigenvalues
    must be distinct for the eigenvector gradient)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, eigh, A, UPLO, out=out)
    if out is not None:
        return _out.into(out, "eigh", eigh, A, UPLO)
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    from collections import namedtuple

    w, v = Eigh()(A, UPLO)
    return namedtuple("torch_return_types_linalg_eigh", ["eigenvalues", "eigenvectors"])(w, v)


class Svd(MultiNode):
    n_out = 3
    op = "linalg.svd"

    def forward(self, a):
        try:
            return tuple(np.linalg.svd(a, full_matrices=False))
        except np.linalg.LinAlgError as e:
            raise _lin_err("svd", e) from None

    def backward(self, ns, grads, ins, out):
        gU, gS, gVh = grads
        a = ins[0]
        if isinstance(a, Tensor):
            U, S, Vh = Svd()(a)
        else:
            U, S, Vh = np.linalg.svd(a, full_matrices=False)
        tens = isinstance(a, Tensor)
        m, n = a.shape[-2], a.shape[-1]
        k = S.shape[-1]
        dt = (a._data if tens else a).dtype
        eye = np.eye(k, dtype=dt)
        W = (lambda x: Tensor._wrap(x)) if tens else (lambda x: x)
        col = (lambda v: v.unsqueeze(-2)) if tens else (lambda v: v[..., None, :])
        row = (lambda v: v.unsqueeze(-1)) if tens else (lambda v: v[..., :, None])
        if gU is None and gVh is None:
            gA = U @ (_diag_embed(gS) if gS is not None else _zeros_like(S)[..., None] * W(eye)) @ Vh
            return (gA,)
        S2 = S * S
        E = col(S2) - row(S2) + W(eye)
        V = _mT(Vh)
        inner = _diag_embed(gS) if gS is not None else W(np.zeros(tuple(S.shape) + (k,), dt))
        if gU is not None:
            UhgU = _mT(U) @ gU
            inner = inner + (UhgU - _mT(UhgU)) / E * col(S)
        if gVh is not None:
            gV = _mT(gVh)
            VhgV = _mT(V) @ gV
            inner = inner + row(S) * ((VhgV - _mT(VhgV)) / E)
        gA = U @ inner @ Vh
        if gU is not None and m > k:
            gA = gA + ((gU - U @ (_mT(U) @ gU)) / col(S)) @ Vh
        if gVh is not None and n > k:
            gV = _mT(gVh)
            gA = gA + U @ _mT((gV - V @ (_mT(V) @ gV)) / col(S))
        return (gA,)


def svd(A, full_matrices=True, *, driver=None, out=None):  # noqa: N803
    """U, S, Vh with A = U diag(S) Vh. Differentiable with ``full_matrices=False`` (as torch requires);
    singular values must be distinct (and non-zero for non-square inputs) for the U/Vh gradient."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, svd, A, full_matrices, driver=driver, out=out)
    if out is not None:
        return _out.into(out, "svd", svd, A, full_matrices, driver=driver)
    from collections import namedtuple

    rt = namedtuple("torch_return_types_linalg_svd", ["U", "S", "Vh"])
    if full_matrices and A.requires_grad and A.shape[-1] != A.shape[-2]:
        U, S, Vh = np.linalg.svd(A._data, full_matrices=True)
        raise RuntimeError("linalg.svd: the gradient of full_matrices=True is not defined for non-square "
                           "inputs (as in torch); call linalg.svd(A, full_matrices=False)")
    if full_matrices and A.shape[-1] != A.shape[-2]:
        U, S, Vh = np.linalg.svd(A._data, full_matrices=True)
        return rt(Tensor._wrap(U), Tensor._wrap(S), Tensor._wrap(Vh))
    return rt(*Svd()(A))


def svdvals(A, *, driver=None, out=None):  # noqa: N803
    """The singular values, descending (differentiable). ``driver`` (a cuSOLVER choice) is ignored."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, svdvals, A, driver=driver, out=out)
    if out is not None:
        return _out.into(out, "svdvals", svdvals, A, driver=driver)
    return Svd()(A)[1]


class Qr(MultiNode):
    n_out = 2
    op = "linalg.qr"

    def forward(self, a):
        q, r = np.linalg.qr(a, mode="reduced")
        return q, r

    def backward(self, ns, grads, ins, out):
        gQ, gR = grads
        a = ins[0]
        tens = isinstance(a, Tensor)
        if a.shape[-2] < a.shape[-1]:
            raise RuntimeError("linalg.qr: the gradient is implemented for inputs with rows >= columns only")
        Q, R = Qr()(a) if tens else np.linalg.qr(a, mode="reduced")
        gQ = _zeros_like(Q) if gQ is None else gQ
        gR = _zeros_like(R) if gR is None else gR
        M = R @ _mT(gR) - _mT(gQ) @ Q
        L = _tril(M, -1)
        copyltu = L + _mT(L) + _diag_embed(_diagonal(M))
        B = gQ + Q @ copyltu
        return (_mT(_inv(R) @ _mT(B)) if not tens else _mT(_inv(R) @ _mT(B)),)


def qr(A, mode='reduced', *, out=None):  # noqa: N803
    """Q, R with A = Q R ('reduced' or 'complete'; 'r' returns an empty Q). Differentiable in 'reduced'
    mode for tall or square inputs."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, qr, A, mode, out=out)
    if out is not None:
        return _out.into(out, "qr", qr, A, mode)
    from collections import namedtuple

    rt = namedtuple("torch_return_types_linalg_qr", ["Q", "R"])
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                           "'r', or 'complete'")
    if mode == "reduced" or A.shape[-2] <= A.shape[-1]:
        q, r = Qr()(A)
        if mode == "r":
            return rt(_o.zeros(0, dtype=A.dtype), r)
        return rt(q, r)
    q, r = np.linalg.qr(A._data, mode="complete")
    return rt(Tensor._wrap(q), Tensor._wrap(r))


class Cholesky(UnaryNode):
    op = "linalg.cholesky"

    def forward(self, a):
        try:
            return np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            raise RuntimeError("linalg.cholesky: The factorization could not be completed because the input is "
                               "not positive-definite.") from None

    def backward(self, ns, g, ins, out):
        a = ins[0]
        L = Cholesky()(a) if isinstance(a, Tensor) else np.linalg.cholesky(a)
        P = _tril(_mT(L) @ g)
        P = P - 0.5 * _diag_embed(_diagonal(P))  # Phi: lower triangle, halved diagonal
        Li = _inv(L)
        gA = _mT(Li) @ P @ Li
        return (0.5 * (gA + _mT(gA)),)


def cholesky(A, *, upper=False, out=None):  # noqa: N803
    """The Cholesky factor of a symmetric positive-definite matrix (lower; ``upper=True`` for U = L^T)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, cholesky, A, upper=upper, out=out)
    if out is not None:
        return _out.into(out, "cholesky", cholesky, A, upper=upper)
    L = Cholesky()(A)
    return _mT(L) if upper else L


class Slogdet(MultiNode):
    n_out = 2
    op = "linalg.slogdet"

    def forward(self, a):
        s, l = np.linalg.slogdet(a)
        return np.asarray(s), np.asarray(l)

    def backward(self, ns, grads, ins, out):
        _, gl = grads
        a = ins[0]
        ia = _inv(a)
        g = gl.unsqueeze(-1).unsqueeze(-1) if isinstance(gl, Tensor) else np.asarray(gl)[..., None, None]
        return (g * _mT(ia),)


def slogdet(A, *, out=None):  # noqa: N803
    """(sign, log|det|) of square matrices; log|det| is differentiable."""
    if out is not None:
        return _out.into(out, "slogdet", slogdet, A)
    from collections import namedtuple

    s, l = Slogdet()(A)
    return namedtuple("torch_return_types_linalg_slogdet", ["sign", "logabsdet"])(s.detach(), l)

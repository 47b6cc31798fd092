"""``torch.lobpcg``: the k largest (or smallest) eigenpairs of a symmetric positive-definite generalized
eigenproblem A X = B X E by LOBPCG, ported from torch's ``torch/_lobpcg.py`` (methods 'ortho' (default) and
'basic', the same parameters, convergence test and tracker hook) onto NumPy arrays.

The random initial block X (when not given) comes from ember's generator (``ember.randn``), whose stream
differs from torch's; the converged eigenpairs are the same (eigenvectors up to sign).

Gradient (A only, B None, as torch): with A symmetrised as (A + A^T) / 2, the eigenpair gradient of the
returned pairs, computed by completing them with the remaining eigenvectors of A (the complete-eigenspace
formula; torch reaches the same value through a characteristic-polynomial construction). First order only.
"""
from __future__ import annotations

import numpy as np

from ._tensor import Tensor
from .autograd.engine import MultiNode


def _mm(A, X):  # noqa: N803
    return X if A is None else A @ X


def _qform(A, S):  # noqa: N803
    return S.T @ _mm(A, S)


def _symeig(M, largest=False):  # noqa: N803
    E, Z = np.linalg.eigh(M, UPLO="U")
    if largest:
        E, Z = E[::-1].copy(), Z[:, ::-1].copy()
    return E, Z


def _norm(x):
    return float(np.sqrt(np.sum(x * x)))


class _Worker:
    """torch's LOBPCG worker class on arrays (``tracker(worker)`` sees the same attributes)."""

    def __init__(self, A, B, X, iK, iparams, fparams, bparams, method, tracker):  # noqa: N803
        self.A, self.B, self.iK = A, B, iK
        self.iparams, self.fparams, self.bparams = iparams, fparams, bparams
        self.method, self.tracker = method, tracker
        m, n = iparams["m"], iparams["n"]
        self.X = X
        self.E = np.zeros((n,), X.dtype)
        self.R = np.zeros((m, n), X.dtype)
        self.S = np.zeros((m, 3 * n), X.dtype)
        self.tvars, self.ivars, self.fvars, self.bvars = {}, {"istep": 0}, {"_": 0.0}, {"_": False}

    def update(self):
        if self.ivars["istep"] == 0:
            X_norm = _norm(self.X)  # noqa: N806
            iX_norm = X_norm ** -1  # noqa: N806
            self.fvars["X_norm"] = X_norm
            self.fvars["A_norm"] = _norm(_mm(self.A, self.X)) * iX_norm
            self.fvars["B_norm"] = _norm(_mm(self.B, self.X)) * iX_norm
            self.ivars["iterations_left"] = self.iparams["niter"]
            self.ivars["converged_count"] = 0
            self.ivars["converged_end"] = 0
        if self.method == "ortho":
            self._update_ortho()
        else:
            self._update_basic()
        self.ivars["iterations_left"] -= 1
        self.ivars["istep"] += 1

    def update_residual(self):
        self.R = _mm(self.A, self.X) - _mm(self.B, self.X) * self.E

    def update_converged_count(self):
        prev = self.ivars["converged_count"]
        E, X, R = self.E, self.X, self.R  # noqa: N806
        rerr = np.sqrt((R * R).sum(0)) / (np.sqrt((X * X).sum(0)) * (self.fvars["A_norm"] + np.abs(E[: X.shape[-1]])
                                                                       * self.fvars["B_norm"]))
        count = 0
        for b in rerr < self.fparams["tol"]:
            if not b:
                break
            count += 1
        if count < prev:
            raise AssertionError(f"the number of converged eigenpairs (was {prev}, got {count}) cannot decrease")
        self.ivars["converged_count"] = count
        self.tvars["rerr"] = Tensor._wrap(rerr)
        return count

    def stop_iteration(self):
        return (self.bvars.get("force_stop", False) or self.ivars["iterations_left"] == 0
                or self.ivars["converged_count"] >= self.iparams["k"])

    def run(self):
        self.update()
        if self.tracker is not None:
            self.tracker(self)
        while not self.stop_iteration():
            self.update()
            if self.tracker is not None:
                self.tracker(self)

    def _update_basic(self):
        ns, nc = self.ivars["converged_end"], self.ivars["converged_count"]
        n, largest = self.iparams["n"], self.bparams["largest"]
        if self.ivars["istep"] == 0:
            Ri = self._rr(self.X)  # noqa: N806
            E, Z = _symeig(_qform(_qform(self.A, self.X), Ri), largest)  # noqa: N806
            self.X[:] = self.X @ (Ri @ Z)
            self.E[:] = E
            np_ = 0
            self.update_residual()
            nc = self.update_converged_count()
            self.S[..., :n] = self.X
            W = _mm(self.iK, self.R)  # noqa: N806
            self.ivars["converged_end"] = ns = n + np_ + W.shape[-1]
            self.S[:, n + np_: ns] = W
        else:
            S_ = self.S[:, nc:ns]  # noqa: N806
            Ri = self._rr(S_)  # noqa: N806
            E_, Z = _symeig(_qform(_qform(self.A, S_), Ri), largest)  # noqa: N806
            self.X[:, nc:] = S_ @ (Ri @ Z[:, : n - nc])
            self.E[nc:] = E_[: n - nc]
            P = S_ @ (Ri @ Z[:, n: 2 * n - nc])  # noqa: N806
            np_ = P.shape[-1]
            self.update_residual()
            nc = self.update_converged_count()
            self.S[..., :n] = self.X
            self.S[:, n: n + np_] = P
            W = _mm(self.iK, self.R[:, nc:])  # noqa: N806
            self.ivars["converged_end"] = ns = n + np_ + W.shape[-1]
            self.S[:, n + np_: ns] = W

    def _update_ortho(self):
        ns, nc = self.ivars["converged_end"], self.ivars["converged_count"]
        n, largest = self.iparams["n"], self.bparams["largest"]
        if self.ivars["istep"] == 0:
            Ri = self._rr(self.X)  # noqa: N806
            _E, Z = _symeig(_qform(_qform(self.A, self.X), Ri), largest)  # noqa: N806
            self.X = self.X @ (Ri @ Z)
            self.update_residual()
            np_ = 0
            nc = self.update_converged_count()
            self.S[:, :n] = self.X
            W = self._get_ortho(self.R, self.X)  # noqa: N806
            ns = self.ivars["converged_end"] = n + np_ + W.shape[-1]
            self.S[:, n + np_: ns] = W
        else:
            S_ = self.S[:, nc:ns]  # noqa: N806
            E_, Z = _symeig(_qform(self.A, S_), largest)  # noqa: N806
            self.X[:, nc:] = S_ @ Z[:, : n - nc]
            self.E[nc:] = E_[: n - nc]
            P = S_ @ (Z[:, n - nc:] @ np.linalg.qr(Z[: n - nc, n - nc:].T)[0])  # noqa: N806
            np_ = P.shape[-1]
            self.update_residual()
            nc = self.update_converged_count()
            self.S[:, :n] = self.X
            self.S[:, n: n + np_] = P
            W = self._get_ortho(self.R[:, nc:], self.S[:, : n + np_])  # noqa: N806
            ns = self.ivars["converged_end"] = n + np_ + W.shape[-1]
            self.S[:, n + np_: ns] = W

    def _rr(self, S):  # noqa: N803  (the Rayleigh-Ritz transform)
        SBS = _qform(self.B, S)  # noqa: N806
        d_row = np.diagonal(SBS) ** -0.5
        d_col = d_row.reshape(d_row.shape[0], 1)
        R = np.linalg.cholesky((SBS * d_row) * d_col).T  # noqa: N806  (upper)
        return np.linalg.solve(R.T, np.diag(d_row).T).T  # X R = diag(d)

    def _get_svqb(self, U, drop, tau):  # noqa: N803
        if U.size == 0:
            return U
        UBU = _qform(self.B, U)  # noqa: N806
        d = np.diagonal(UBU)
        nz = np.nonzero(np.abs(d) != 0.0)[0]
        if len(nz) < len(d):
            U = U[:, nz]  # noqa: N806
            if U.size == 0:
                return U
            UBU = _qform(self.B, U)  # noqa: N806
            d = np.diagonal(UBU)
        d_col = (d ** -0.5).reshape(d.shape[0], 1)
        E, Z = _symeig((UBU * d_col) * d_col.T)  # noqa: N806
        t = tau * np.abs(E).max()
        if drop:
            keep = np.nonzero(E > t)[0]
            E, Z, d_col = E[keep], Z[:, keep], d_col[keep]  # noqa: N806
        else:
            E = np.where(E < t, t, E)  # noqa: N806
        return (U * d_col.T) @ (Z * E ** -0.5)

    def _get_ortho(self, U, V):  # noqa: N803
        m = self.iparams["m"]
        tau_ortho = self.fparams["ortho_tol"]
        tau_drop = self.fparams["ortho_tol_drop"]
        tau_replace = self.fparams["ortho_tol_replace"]
        i_max, j_max = self.iparams["ortho_i_max"], self.iparams["ortho_j_max"]
        use_drop = self.bparams["ortho_use_drop"]
        for vkey in list(self.fvars.keys()):
            if vkey.startswith("ortho_") and vkey.endswith("_rerr"):
                self.fvars.pop(vkey)
        self.ivars.pop("ortho_i", 0)
        self.ivars.pop("ortho_j", 0)
        BV_norm = _norm(_mm(self.B, V))  # noqa: N806
        BU = _mm(self.B, U)  # noqa: N806
        VBU = V.T @ BU  # noqa: N806
        i = j = 0
        for i in range(i_max):
            U = U - V @ VBU  # noqa: N806
            drop = False
            tau_svqb = tau_drop
            for j in range(j_max):
                if use_drop:
                    U = self._get_svqb(U, drop, tau_svqb)  # noqa: N806
                    drop = True
                    tau_svqb = tau_replace
                else:
                    U = self._get_svqb(U, False, tau_replace)  # noqa: N806
                if U.size == 0:
                    self.ivars["ortho_i"], self.ivars["ortho_j"] = i, j
                    return U
                BU = _mm(self.B, U)  # noqa: N806
                UBU = U.T @ BU  # noqa: N806
                R_norm = _norm(UBU - np.eye(UBU.shape[-1], dtype=UBU.dtype))  # noqa: N806
                rerr = R_norm * (_norm(BU) * _norm(U)) ** -1
                self.fvars[f"ortho_UBUmI_rerr[{i}, {j}]"] = rerr
                if rerr < tau_ortho:
                    break
            VBU = V.T @ BU  # noqa: N806
            rerr = _norm(VBU) * (BV_norm * _norm(U)) ** -1
            self.fvars[f"ortho_VBU_rerr[{i}]"] = rerr
            if rerr < tau_ortho:
                break
            if m < U.shape[-1] + V.shape[-1]:
                raise ValueError(f"Overdetermined shape of U: #B-cols(={m}) >= #U-cols(={U.shape[-1]}) + "
                                 f"#V-cols(={V.shape[-1]}) must hold")
        self.ivars["ortho_i"], self.ivars["ortho_j"] = i, j
        return U


def _arr(t):
    return None if t is None else np.ascontiguousarray(t._data)


def _lobpcg_arrays(A, k, B, X, n, iK, niter, tol, largest, method, tracker,  # noqa: N803
                   ortho_iparams, ortho_fparams, ortho_bparams):
    dtype = A.dtype if A.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    if tol is None:
        tol = {np.dtype(np.float32): 1.2e-07, np.dtype(np.float64): 2.23e-16}.get(np.dtype(dtype), 1.2e-07) ** 0.5
    m = A.shape[-1]
    k = (1 if X is None else X.shape[-1]) if k is None else k
    n = (k if n is None else n) if X is None else X.shape[-1]
    if m < 3 * n:
        raise ValueError(f"LOBPCG algorithm is not applicable when the number of A rows (={m}) is smaller than 3 x "
                         f"the number of requested eigenpairs (={n})")
    method = "ortho" if method is None else method
    if method not in ("ortho", "basic"):
        raise ValueError(f"lobpcg: method must be 'ortho' or 'basic', got {method!r}")
    iparams = {"m": m, "n": n, "k": k, "niter": 1000 if niter is None else niter}
    fparams = {"tol": tol}
    bparams = {"largest": True if largest is None else largest}
    if method == "ortho":
        iparams.update(ortho_iparams or {})
        fparams.update(ortho_fparams or {})
        bparams.update(ortho_bparams or {})
        iparams.setdefault("ortho_i_max", 3)
        iparams.setdefault("ortho_j_max", 3)
        fparams.setdefault("ortho_tol", tol)
        fparams.setdefault("ortho_tol_drop", tol)
        fparams.setdefault("ortho_tol_replace", tol)
        bparams.setdefault("ortho_use_drop", False)
    from ._random import randn

    batch = A.shape[:-2]
    N = int(np.prod(batch, dtype=np.int64))  # noqa: N806
    bA = A.reshape((N, m, m)).astype(dtype, copy=False)  # noqa: N806
    bB = None if B is None else B.reshape((N, m, m)).astype(dtype, copy=False)  # noqa: N806
    bX = None if X is None else X.reshape((N,) + X.shape[-2:])  # noqa: N806
    E_out = np.empty((N, k), dtype)  # noqa: N806
    X_out = np.empty((N, m, k), dtype)  # noqa: N806
    for i in range(N):
        X_ = randn(m, n, dtype=Tensor._wrap(np.zeros(0, dtype)).dtype)._data if bX is None else bX[i]  # noqa: N806
        if X_.shape != (m, n):
            raise ValueError(f"lobpcg: X must have shape (m, n) = {(m, n)} per matrix, got {tuple(X_.shape)}")
        if batch:
            iparams["batch_index"] = i
        w = _Worker(bA[i], None if bB is None else bB[i], np.array(X_, dtype=dtype), iK, iparams, fparams, bparams,
                    method, tracker)
        w.run()
        E_out[i] = w.E[:k]
        X_out[i] = w.X[:, :k]
    return E_out.reshape(batch + (k,)), X_out.reshape(batch + (m, k))


class Lobpcg(MultiNode):
    name = "LOBPCGAutogradFunctionBackward"
    op = "lobpcg"
    n_out = 2
    saves = {0: (0,), 1: ()}
    save_out = True

    def __init__(self, args):
        self.args = args

    def forward(self, a, b=None):
        self.largest = True if self.args[7] is None else self.args[7]
        self.has_b = b is not None
        args = list(self.args)
        args[1] = b
        return _lobpcg_arrays(a, *args)

    def backward(self, ns, grads, ins, out):
        if self.has_b:
            raise ValueError("lobpcg.backward does not support backward with B != I yet (as in torch).")
        if not isinstance(ins[0], np.ndarray):
            raise NotImplementedError("lobpcg: the gradient of the gradient (create_graph=True) is not implemented "
                                      "in ember; use linalg.eigh for higher derivatives")
        gD, gU = grads  # noqa: N806
        A = ins[0]  # noqa: N806
        D, U = out  # noqa: N806
        m, k = U.shape[-2], U.shape[-1]
        gD = np.zeros_like(D) if gD is None else gD  # noqa: N806
        gU = np.zeros_like(U) if gU is None else gU  # noqa: N806
        W, V = np.linalg.eigh(A)  # noqa: N806  (ascending)
        rest = slice(0, m - k) if self.largest else slice(k, m)
        Vf = np.concatenate([U, V[..., :, rest]], -1)  # noqa: N806
        Df = np.concatenate([D, W[..., rest]], -1)  # noqa: N806
        gDf = np.concatenate([gD, np.zeros_like(W[..., rest])], -1)  # noqa: N806
        gVf = np.concatenate([gU, np.zeros_like(V[..., :, rest])], -1)  # noqa: N806
        with np.errstate(divide="ignore"):
            F = Df[..., None, :] - Df[..., :, None]  # noqa: N806
            idx = np.arange(m)
            F[..., idx, idx] = np.inf
            F = 1.0 / F  # noqa: N806
        Vt = np.swapaxes(Vf, -1, -2)  # noqa: N806
        inner = gDf[..., None, :] * np.eye(m, dtype=A.dtype) + (Vt @ gVf) * F
        return (Vf @ inner @ Vt,)


def lobpcg(A, k=None, B=None, X=None, n=None, iK=None, niter=None, tol=None, largest=None, method=None,  # noqa: N803
           tracker=None, ortho_iparams=None, ortho_fparams=None, ortho_bparams=None):
    """The k largest (``largest=False``: smallest) eigenpairs (E, X) of A X = B X E for symmetric A and
    positive-definite B by LOBPCG (torch's algorithm and parameters). Differentiable in A when B is None."""
    for name, t in (("A", A), ("B", B), ("X", X), ("iK", iK)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"lobpcg: {name} must be a Tensor or None, not {type(t).__name__}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"lobpcg: A must be a (batch of) square matrices, got shape {tuple(A.shape)}")
    if B is not None and tuple(B.shape) != tuple(A.shape):
        raise ValueError(f"lobpcg: A and B must have the same shape, got {tuple(A.shape)} and {tuple(B.shape)}")
    if iK is not None and tuple(iK.shape) != tuple(A.shape[-2:]):
        raise ValueError(f"lobpcg: iK must be an (m, m) preconditioner with m = {A.shape[-1]}, got shape "
                         f"{tuple(iK.shape)}")
    args = (k, _arr(B), _arr(X), n, _arr(iK), niter, tol, largest, method, tracker, ortho_iparams, ortho_fparams,
            ortho_bparams)
    if A.requires_grad or (B is not None and B.requires_grad):
        A_sym = (A + A.mT) / 2  # noqa: N806
        if B is None:
            return Lobpcg(args)(A_sym)
        return Lobpcg(args)(A_sym, (B + B.mT) / 2)
    E, V = _lobpcg_arrays(np.ascontiguousarray(A._data), *args)  # noqa: N806
    return Tensor._wrap(E), Tensor._wrap(V)

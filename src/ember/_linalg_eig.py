"""``ember.linalg.eig`` / ``eigvals``: eigen-decomposition of general (non-symmetric) square matrices.

The eigenvalues and eigenvectors are complex (complex64 for float32/complex64 input, complex128 for
float64/complex128), as torch's, computed by LAPACK's geev through NumPy: each eigenvector has unit norm and
its largest component real. Eigenvectors are defined only up to a phase e^{i phi} per column (and LAPACK
builds may choose different signs), so a loss is well defined only if it does not depend on that phase.

Backward (torch's ``linalg_eig_backward``, facts from its derivation): with VhgV = V^H gV,
    gA = V^{-H} (diag(gL) + (VhgV - V^H V Re(diag(VhgV))) / conj(E)) V^H,   E_ij = L_j - L_i (i != j),
where the off-diagonal part is divided elementwise and the diagonal holds gL; for a real input the gradient is
its real part. The loss must be phase invariant: Im(diag(V^H gV)) = 0 (checked, with torch's tolerance and
error message). The eigenvalues must be distinct for the eigenvector gradient (E_ij = 0 gives inf/nan, as
torch). First-order only: the backward is not itself differentiable (create_graph=True raises).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import _dtype as D
from . import _out
from ._tensor import Tensor
from .autograd.engine import MultiNode, UnaryNode
from .autograd.functional_ns import ARRAY_NS

_EigResult = namedtuple("torch_return_types_linalg_eig", ["eigenvalues", "eigenvectors"])

_GAUGE_MSG = ("linalg_eig_backward: The eigenvectors in the complex case are specified up to multiplication by "
              "e^{i phi}. The specified loss function depends on this quantity, so it is ill-defined.")


def _check(A, op):  # noqa: N803
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg.{op}(): argument 'A' must be Tensor, not {type(A).__name__}")
    a = A._data
    if a.ndim < 2:
        raise RuntimeError(f"linalg.{op}: The input tensor A must have at least 2 dimensions (got shape "
                           f"{tuple(a.shape)}); pass a square matrix or a batch of them")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"linalg.{op}: A must be batches of square matrices, but they are {a.shape[-2]} by "
                           f"{a.shape[-1]} matrices")
    if a.dtype not in (np.float32, np.float64, np.complex64, np.complex128):
        raise RuntimeError(f"linalg.{op}: expected a float32, float64, complex64 or complex128 tensor, got "
                           f"{A.dtype}; convert it, e.g. A.double()")
    if a.size and not np.isfinite(a).all():
        raise RuntimeError(f"torch.linalg.{op}: input tensor should not contain infs or NaNs.")


def _ctype(a):
    return np.complex64 if a.dtype in (np.float32, np.complex64) else np.complex128


def _geev(a, op):
    try:
        w, v = np.linalg.eig(a)
    except np.linalg.LinAlgError as e:
        raise RuntimeError(f"linalg.{op}: the eigenvalue algorithm did not converge ({e}); check the input "
                           "for extreme or badly scaled entries") from None
    ct = _ctype(a)
    return w.astype(ct, copy=False), v.astype(ct, copy=False)


def _mH(x):  # noqa: N802
    return np.conj(np.swapaxes(x, -1, -2))


def _first_order(ns, op):
    if ns is not ARRAY_NS:
        raise NotImplementedError(f"linalg.{op}: the gradient of the gradient (create_graph=True) is not "
                                  "implemented in ember; for symmetric or Hermitian matrices use linalg.eigh")


def _grad_a(L, V, gL, gV):  # noqa: N803
    """torch's eig backward on arrays (see the module docstring)."""
    n = V.shape[-1]
    VH = _mH(V)  # noqa: N806
    eye = np.eye(n, dtype=bool)
    if gV is not None:
        VhgV = VH @ gV  # noqa: N806
        d = np.diagonal(VhgV, 0, -2, -1)
        if not np.allclose(d.imag, 0.0, rtol=1e-2, atol=1e-2):
            raise RuntimeError(_GAUGE_MSG)
        VhgV = VhgV - VH @ (V * d.real[..., None, :])  # noqa: N806
        Lc = np.conj(L)  # noqa: N806
        E = Lc[..., None, :] - Lc[..., :, None]  # noqa: N806
        with np.errstate(divide="ignore", invalid="ignore"):
            ret = VhgV / np.where(eye, 1, E)
    else:
        ret = np.zeros(V.shape, V.dtype)
    ret = np.where(eye, 0, ret)
    if gL is not None:
        ret = ret + gL[..., :, None] * eye
    return np.linalg.solve(VH, ret @ VH)


class LinalgEig(MultiNode):
    name = "LinalgEigBackward0"
    op = "linalg.eig"
    n_out = 2
    saves = {0: ()}
    save_out = True
    complex_ok = True

    def forward(self, a):
        return _geev(a, "eig")

    def backward(self, ns, grads, ins, out):
        _first_order(ns, "eig")
        gL, gV = grads  # noqa: N806
        L, V = out  # noqa: N806
        return (_grad_a(L, V, gL, gV),)


class LinalgEigvals(UnaryNode):
    name = "LinalgEigBackward0"  # torch's eigvals records the same node as eig
    op = "linalg.eigvals"
    saves = {0: ()}
    save_out = True
    complex_ok = True

    def forward(self, a):
        L, V = _geev(a, "eigvals")  # noqa: N806
        self.V = V  # the eigenvectors, kept for backward only
        return L

    def backward(self, ns, g, ins, out):
        _first_order(ns, "eigvals")
        return (_grad_a(out, self.V, g, None),)


def eig(A, *, out=None):  # noqa: N803
    """Eigenvalues and eigenvectors of a square matrix (or a batch), both complex, with ``A V = V diag(L)``
    (torch.linalg.eig; differentiable for phase-invariant losses, see ``ember._linalg_eig``)."""
    if out is not None:
        return _out.into(out, "linalg.eig", eig, A)
    _check(A, "eig")
    D.CPLX[0] = True
    L, V = LinalgEig()(A)  # noqa: N806
    return _EigResult(L, V)


def eigvals(A, *, out=None):  # noqa: N803
    """The eigenvalues of a square matrix (or a batch), complex, in LAPACK's order (torch.linalg.eigvals;
    differentiable)."""
    if out is not None:
        return _out.into(out, "linalg.eigvals", eigvals, A)
    _check(A, "eigvals")
    D.CPLX[0] = True
    return LinalgEigvals()(A)

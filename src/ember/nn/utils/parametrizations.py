"""``ember.nn.utils.parametrizations``: ``weight_norm`` and ``spectral_norm`` as parametrizations
(``module.parametrizations.weight.original0/original1`` and ``...weight.0._u/_v``), as in torch."""
from __future__ import annotations

from ... import _ops as O
from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ..modules.module import Module
from . import parametrize
from .weight_norm import _weight_norm, norm_except_dim

__all__ = ["weight_norm", "spectral_norm", "orthogonal"]


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        if dim is None:
            dim = -1
        self.dim = dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """``module.<name> = g * v / ||v||`` with ``original0 = g`` (norms over every dim but ``dim``) and
    ``original1 = v`` under ``module.parametrizations.<name>``."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(
                f"spectral_norm: dim must be in the range [{-ndim}, {ndim - 1}] for a weight of shape "
                f"{tuple(weight.shape)}, but got dim={dim}"
            )
        if n_power_iterations <= 0:
            raise ValueError(
                f"spectral_norm: expected n_power_iterations to be positive, but got n_power_iterations="
                f"{n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight.detach())
            h, w = weight_mat.shape
            u = O.empty(h, dtype=weight.dtype).normal_(0, 1)
            v = O.empty(w, dtype=weight.dtype).normal_(0, 1)
            self.register_buffer("_u", self._normalize(u))
            self.register_buffer("_v", self._normalize(v))
            self._power_method(weight_mat, 15)

    def _normalize(self, x):
        from .. import functional as F

        return F.normalize(x, dim=0, eps=self.eps)

    def _reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat, n_power_iterations):
        with no_grad():
            wm = weight_mat.detach()
            for _ in range(n_power_iterations):
                self._u._data[...] = self._normalize(O.mv(wm, self._v))._data
                self._v._data[...] = self._normalize(O.mv(wm.t(), self._u))._data
            self._u._bump()
            self._v._bump()

    def forward(self, weight):
        if weight.ndim == 1:
            return self._normalize(weight)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = O.dot(u, O.mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Register ``W / sigma(W)`` (largest singular value by power iteration, 15 warm-up steps at registration,
    ``n_power_iterations`` per forward in training) as a parametrization of ``module.<name>``."""
    from .spectral_norm import _conv_transpose_types

    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"spectral_norm: module '{type(module).__name__}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, _conv_transpose_types()) else 0
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    raise NotImplementedError(
        "ember.nn.utils.parametrizations.orthogonal is not implemented yet; use "
        "ember.nn.utils.parametrize.register_parametrization with your own map (e.g. a QR-based one)"
    )

"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``."""
from __future__ import annotations

import math

import numpy as np

from ..._tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def _params(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _norm_of(a, norm_type):
    if a.dtype.kind == "c":  # the norm of the moduli, as torch's vector_norm of complex gradients
        a = np.abs(a)
    a = a.astype(np.float64, copy=False).ravel()
    if norm_type == math.inf:
        return float(np.abs(a).max()) if a.size else 0.0
    if norm_type == -math.inf:
        return float(np.abs(a).min()) if a.size else math.inf
    if norm_type == 2:
        return float(np.sqrt(np.dot(a, a)))
    if norm_type == 1:
        return float(np.abs(a).sum())
    if norm_type == 0:
        return float(np.count_nonzero(a))
    return float((np.abs(a) ** norm_type).sum() ** (1.0 / norm_type))


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of all the given tensors together (as if concatenated)."""
    ts = [t for t in _params(tensors) if t is not None]
    norm_type = float(norm_type)
    if not ts:
        return Tensor._wrap(np.array(0.0, dtype=np.float32))
    norms = [_norm_of(t._data, norm_type) for t in ts]
    total = _norm_of(np.array(norms), norm_type) if len(norms) > 1 or norm_type not in (math.inf, -math.inf) else norms[0]
    dtype = ts[0]._data.real.dtype  # a real norm, also for complex gradients
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    return Tensor._wrap(np.array(total, dtype=dtype))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together so their total ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm before clipping (a 0-d tensor). ``norm_type`` may be ``inf``."""
    params = [p for p in _params(parameters) if p.grad is not None]
    grads = [p.grad for p in params]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    if not grads:
        return total
    t = float(total._data)
    coef = float(max_norm) / (t + 1e-6)
    if coef < 1.0 or math.isnan(coef):  # torch clamps the coefficient at 1 (never scales up); NaN spreads like torch
        with np.errstate(invalid="ignore"):
            for g in grads:
                g._data *= np.asarray(coef, dtype=g._data.dtype)
                g._bump()
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for p in _params(parameters):
        if p.grad is not None:
            if p.grad._data.dtype.kind == "c":
                raise RuntimeError(f"clip_grad_value_: clamp is not supported for complex types (a gradient of dtype "
                                   f"{p.grad.dtype}); use clip_grad_norm_, which scales complex gradients")
            np.clip(p.grad._data, -clip_value, clip_value, out=p.grad._data)
            p.grad._bump()


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients by ``max_norm / (total_norm + 1e-6)`` clamped at 1, given a precomputed ``total_norm``
    (``get_total_norm``): the second half of ``clip_grad_norm_``."""
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    t = float(total_norm._data if isinstance(total_norm, Tensor) else total_norm)
    coef = min(float(max_norm) / (t + 1e-6), 1.0)
    with np.errstate(invalid="ignore"):
        for g in grads:
            g._data *= np.asarray(coef, dtype=g._data.dtype)
            g._bump()

"""Adafactor (factored second moments) and Muon (orthogonalised momentum): torch's update rules.

Both follow torch 2.13's single-tensor code step for step (the same order of operations, the same
``lerp`` formula), so a run matches torch's to float rounding. torch runs Muon's Newton-Schulz iteration
in bfloat16; NumPy has no bfloat16, so ember computes each step in float32 and rounds the result to
bfloat16's 8-bit mantissa (round to nearest even) where torch's bfloat16 tensors are rounded, which
reproduces torch's orthogonalised update (bit for bit in the tests).
"""

from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, _scalar, _wrap

__all__ = ["Adafactor", "Muon"]


def _lerp_(a, end, w):
    """``a.lerp_(end, w)`` with torch's formula (``a + w (end - a)`` for ``|w| < 0.5``, else ``end - (end - a)(1 - w)``)."""
    diff = end - a
    if abs(w) < 0.5:
        a += w * diff
    else:
        np.subtract(end, diff * (1 - w), out=a)


def _norm(x, axis=None, keepdims=False):
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def _nonneg(cls_name, value, name, label):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{cls_name}: {name} must be a number, got {type(value).__name__}") from None
    if not v >= 0.0:
        raise ValueError(f"{label} should be >= 0 but is: {value}")
    return v


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018), torch's variant (torch >= 2.5): second moments factored into row and
    column statistics over the last two dimensions of matrices (``row_var``, ``col_var``; a full ``variance``
    for vectors), relative step size ``min(lr, 1/sqrt(t))`` scaled by the parameter's RMS, update clipping at
    ``d`` and decoupled weight decay. ``eps = (eps1, eps2)``; ``eps1=None`` means the dtype's machine epsilon.
    ``foreach`` is accepted (ember has one implementation).

    Example:
        >>> opt = ember.optim.Adafactor(model.parameters(), lr=1e-2)
    """

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *,
                 foreach=None, maximize=False):
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        lr = group["lr"]
        if hasattr(lr, "numel") and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        _nonneg("Adafactor", lr, "lr", "Learning rate")
        if not float(group["beta2_decay"]) <= 0.0:
            raise ValueError(f"beta2_decay should be <= 0 but is: {group['beta2_decay']}")
        eps = group["eps"]
        try:
            eps1, eps2 = eps
        except (TypeError, ValueError):
            raise ValueError(f"Adafactor: eps must be a pair (eps1 or None, eps2), got {eps!r}") from None
        if eps1 is not None:
            _nonneg("Adafactor", eps1, "eps[0]", "epsilon1")
        _nonneg("Adafactor", eps2, "eps[1]", "epsilon2")
        if not float(group["d"]) >= 1.0:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {group['d']}")
        _nonneg("Adafactor", group["weight_decay"], "weight_decay", "weight_decay")

    def _state_keys(self, group):
        return ("step",)

    def _state_shape(self, key, p):
        shape = list(p.shape)
        if key == "row_var" and len(shape) > 1:
            shape[-1] = 1
            return tuple(shape)
        if key == "col_var" and len(shape) > 1:
            shape[-2] = 1
            return tuple(shape)
        return None

    def _step_group(self, group):
        lr = float(group["lr"])
        beta2_decay = float(group["beta2_decay"])
        eps1_opt, eps2 = group["eps"]
        d = float(group["d"])
        wd = float(group["weight_decay"])
        maximize = group["maximize"]
        for p, x, g, _ in self._grads(group, 1):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar(0.0)
                if g.ndim > 1:
                    state["row_var"] = _wrap(np.zeros(g.shape[:-1] + (1,), dtype=x.dtype))
                    state["col_var"] = _wrap(np.zeros(g.shape[:-2] + (1,) + g.shape[-1:], dtype=x.dtype))
                else:
                    state["variance"] = _wrap(np.zeros_like(x))
            if maximize:
                g = -g
            eps1 = float(np.finfo(x.dtype).eps) if eps1_opt is None else float(eps1_opt)
            state["step"]._data += 1
            t = float(state["step"]._data)
            one_minus_beta2_t = t ** beta2_decay
            rho_t = min(lr, 1 / (t ** 0.5))
            alpha = max(eps2, float(_norm(x)) / (x.size ** 0.5)) * rho_t
            if wd != 0:
                x *= x.dtype.type(1 - lr * wd)
            if g.ndim > 1:
                row_var = state["row_var"]._data
                col_var = state["col_var"]._data
                row_mean = np.square(_norm(g, axis=-1, keepdims=True)) / g.shape[-1]
                _lerp_(row_var, row_mean, one_minus_beta2_t)
                col_mean = np.square(_norm(g, axis=-2, keepdims=True)) / g.shape[-2]
                _lerp_(col_var, col_mean, one_minus_beta2_t)
                var_estimate = row_var @ col_var
                var_estimate /= np.maximum(row_var.mean(axis=-2, keepdims=True), eps1).astype(x.dtype)
            else:
                variance = state["variance"]._data
                _lerp_(variance, g * g, one_minus_beta2_t)
                var_estimate = variance.copy()
            update = 1 / np.sqrt(np.maximum(var_estimate, x.dtype.type(eps1 * eps1)))
            update *= g
            denom = max(1.0, float(_norm(update)) / ((update.size ** 0.5) * d))
            x += x.dtype.type(-alpha / denom) * update


DEFAULT_NS = (3.4445, -4.775, 2.0315)


def _bf16(a):
    """Round float32 values to the nearest bfloat16 (ties to even), kept in float32."""
    a = np.array(a, dtype=np.float32, order="C")
    u = a.view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    r = u.view(np.float32)
    return np.where(np.isnan(a), a, r)


def _zeropower_via_newtonschulz(grad, ns_coefficients, ns_steps, eps):
    """torch's quintic Newton-Schulz orthogonalisation of a matrix, in emulated bfloat16 as torch's."""
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if grad.ndim != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = (float(v) for v in ns_coefficients)
    x = _bf16(grad)
    if grad.shape[0] > grad.shape[1]:
        x = x.T
    n = _bf16(np.sqrt(np.sum(x * x, dtype=np.float32)))
    x = _bf16(x / np.float32(max(float(n), eps)))
    for _ in range(ns_steps):
        gram = _bf16(x @ x.T)
        gram_update = _bf16(np.float32(b) * gram + np.float32(c) * (gram @ gram))
        x = _bf16(np.float32(a) * x + gram_update @ x)
    if grad.shape[0] > grad.shape[1]:
        x = x.T
    return x.astype(grad.dtype)


def _adjust_lr(lr, adjust_lr_fn, shape):
    a, b = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, a / b))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(a, b))
    else:
        ratio = 1.0
    return lr * ratio


class Muon(Optimizer):
    """Muon (Jordan et al.): SGD momentum (Nesterov by default) whose update is orthogonalised by a quintic
    Newton-Schulz iteration, with decoupled weight decay and a shape-dependent learning-rate adjustment
    (``adjust_lr_fn``: ``None``/``"original"``: ``sqrt(max(1, A/B))``; ``"match_rms_adamw"``: ``0.2 sqrt(max(A, B))``).
    For 2-D parameters only (optimise biases and embeddings with AdamW). torch's rule, with its Newton-Schulz
    iteration in (emulated) bfloat16 as torch's (see the module docstring).

    Example:
        >>> opt = ember.optim.Muon([p for p in model.parameters() if p.ndim == 2], lr=0.02)
    """

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=DEFAULT_NS, eps=1e-7, ns_steps=5, adjust_lr_fn=None):
        if adjust_lr_fn is not None and adjust_lr_fn not in ("original", "match_rms_adamw"):
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        lr = group["lr"]
        if hasattr(lr, "numel") and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        _nonneg("Muon", lr, "lr", "Learning rate")
        _nonneg("Muon", group["momentum"], "momentum", "momentum")
        _nonneg("Muon", group["weight_decay"], "weight_decay", "weight decay")
        for i, p in enumerate(group["params"]):
            if p.ndim != 2:
                raise ValueError(
                    f"Muon only supports 2D parameters whereas we found a parameter with size: {tuple(p.shape)} "
                    f"(params[{i}] of the group); optimise biases, norms and embeddings with AdamW")

    def _state_keys(self, group):
        return ("momentum_buffer",)

    def _step_group(self, group):
        lr = float(group["lr"])
        wd = float(group["weight_decay"])
        momentum = float(group["momentum"])
        for p, x, g, _ in self._grads(group, 1):
            if g.ndim != 2:
                raise ValueError("Param gradient must be a 2D matrix")
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = _wrap(np.zeros_like(x))
            buf = state["momentum_buffer"]._data
            _lerp_(buf, g, 1 - momentum)
            if group["nesterov"]:
                update = g.copy()
                _lerp_(update, buf, momentum)
            else:
                update = buf
            update = _zeropower_via_newtonschulz(update, group["ns_coefficients"], int(group["ns_steps"]),
                                                 float(group["eps"]))
            adjusted = _adjust_lr(lr, group["adjust_lr_fn"], x.shape)
            x *= x.dtype.type(1 - lr * wd)
            x += x.dtype.type(-adjusted) * update


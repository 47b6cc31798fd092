"""Adam and its relatives (AdamW, Adamax, NAdam, RAdam): torch's update rules on raw NumPy arrays."""

from __future__ import annotations

import math

import numpy as np

from .optimizer import (
    Optimizer,
    _apply,
    _check_betas,
    _check_param,
    _effective_grad,
    _reject_unsupported,
    _scalar,
    _wrap,
)

__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


def _lerp_(a, b, w, tmp):
    """``a += w * (b - a)`` in place (torch's ``lerp_`` for weights below 0.5)."""
    np.subtract(b, a, out=tmp)
    tmp *= w
    a += tmp


def _ema_sq_(v, g, beta, tmp):
    """``v = beta * v + (1 - beta) * g * g`` in place."""
    v *= beta
    np.multiply(g, g, out=tmp)
    tmp *= 1 - beta
    v += tmp


def _adam_update(p, g, m, v, vmax, t0, t1, *, step, lr, beta1, beta2, eps, weight_decay, decoupled, maximize):
    """One Adam/AdamW step on raw arrays, in place (``vmax`` is the AMSGrad buffer or None)."""
    if weight_decay != 0 and decoupled:
        p *= 1 - lr * weight_decay
        g = _effective_grad(p, g, 0, maximize, out=t0)
    else:
        g = _effective_grad(p, g, weight_decay, maximize, out=t0)
    _lerp_(m, g, 1 - beta1, t1)
    _ema_sq_(v, g, beta2, t1)
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    step_size = lr / bias_correction1
    if vmax is not None:
        np.maximum(vmax, v, out=vmax)
        v = vmax
    # p -= step_size * m / (sqrt(v) / bc2_sqrt + eps), folded as p += m / denom' with
    # denom' = sqrt(v) / (bc2_sqrt * -step_size) + eps / -step_size (torch's capturable form).
    np.sqrt(v, out=t1)
    t1 *= 1.0 / (bias_correction2_sqrt * -step_size)
    t1 += eps / -step_size
    np.divide(m, t1, out=t1)
    p += t1



def _validate_adam_group(name, group):
    """The hyperparameter checks shared by the Adam family (torch's messages)."""
    _check_param(name, group["lr"], "lr", label="learning rate")
    _check_param(name, group["eps"], "eps", label="epsilon value")
    group["betas"] = _check_betas(name, group["betas"])
    _check_param(name, group["weight_decay"], "weight_decay")

class Adam(Optimizer):
    """Adam (Kingma & Ba), with optional AMSGrad, L2 or decoupled weight decay, and maximize.

    Same rule as ``torch.optim.Adam``: ``m = lerp(m, g, 1-b1)``, ``v = b2*v + (1-b2)*g²``,
    ``p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``.

    Example:
        >>> opt = ember.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
        >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    _complex_ok = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        name = type(self).__name__
        _reject_unsupported(name, capturable=capturable, differentiable=differentiable, fused=fused)
        betas = _check_betas(name, betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=False, differentiable=False,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        _validate_adam_group(type(self).__name__, group)

    def _state_keys(self, group):
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _step_group(self, group):
        amsgrad = group["amsgrad"]
        beta1, beta2 = group["betas"]
        hp = dict(lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=group["eps"],
                  weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
                  maximize=group["maximize"])
        for p, d, g, (t0, t1) in self._grads(group, 2):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar(0.0)
                state["exp_avg"] = _wrap(np.zeros_like(d))
                state["exp_avg_sq"] = _wrap(np.zeros_like(d))
                if amsgrad:
                    state["max_exp_avg_sq"] = _wrap(np.zeros_like(d))
            step_arr = state["step"]._data
            step_arr += 1
            vmax = state["max_exp_avg_sq"]._data if amsgrad else None
            _apply(_adam_update, (d, g, state["exp_avg"]._data, state["exp_avg_sq"]._data, vmax, t0, t1),
                   step=float(step_arr), **hp)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr*wd`` before the Adam step.

    Example:
        >>> opt = ember.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


def _adamax_update(p, g, m, u, t0, t1, *, step, lr, beta1, beta2, eps, weight_decay, maximize):
    """One Adamax step: ``u = max(b2*u, |g| + eps)``, ``p -= lr/(1-b1^t) * m / u``."""
    g = _effective_grad(p, g, weight_decay, maximize, out=t0)
    _lerp_(m, g, 1 - beta1, t1)
    u *= beta2
    np.abs(g, out=t1)
    t1 += eps
    np.maximum(u, t1, out=u)
    clr = lr / (1 - beta1**step)
    np.divide(m, u, out=t1)
    t1 *= -clr
    p += t1


class Adamax(Optimizer):
    """Adamax: the infinity-norm variant of Adam (torch's rule and defaults, lr=2e-3).

    Example:
        >>> opt = ember.optim.Adamax(model.parameters(), lr=2e-3)
    """

    _complex_ok = True

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _reject_unsupported("Adamax", capturable=capturable, differentiable=differentiable)
        betas = _check_betas("Adamax", betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=False, capturable=False)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        _validate_adam_group("Adamax", group)

    def _state_keys(self, group):
        return ("step", "exp_avg", "exp_inf")

    def _step_group(self, group):
        beta1, beta2 = group["betas"]
        hp = dict(lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=group["eps"],
                  weight_decay=group["weight_decay"], maximize=group["maximize"])
        for p, d, g, (t0, t1) in self._grads(group, 2):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar(0.0)
                state["exp_avg"] = _wrap(np.zeros_like(d))
                state["exp_inf"] = _wrap(np.zeros_like(d))
            step_arr = state["step"]._data
            step_arr += 1
            _apply(_adamax_update, (d, g, state["exp_avg"]._data, state["exp_inf"]._data, t0, t1),
                   step=float(step_arr), **hp)


def _nadam_coefficients(step, mu_product, beta1, momentum_decay):
    """Advance the 0-d ``mu_product`` array in place; return (c_grad, c_avg) of the two addcdiv's."""
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    # torch keeps mu_product as a 0-d tensor of the scalar dtype: multiply in that precision.
    mu_product *= mu_product.dtype.type(mu)
    prod = float(mu_product)
    return (1.0 - mu) / (1.0 - prod), mu_next / (1.0 - prod * mu_next)


def _nadam_update(p, g, m, v, t0, t1, *, lr, beta1, beta2, eps, weight_decay, decoupled, maximize,
                  bias_correction2, c_grad, c_avg):
    """One NAdam step, in place: ``p -= lr*c_grad * g/denom + lr*c_avg * m/denom``."""
    if weight_decay != 0 and decoupled:
        p *= 1 - lr * weight_decay
        g = _effective_grad(p, g, 0, maximize, out=t0)
    else:
        g = _effective_grad(p, g, weight_decay, maximize, out=t0)
    _lerp_(m, g, 1 - beta1, t1)
    _ema_sq_(v, g, beta2, t1)
    denom = np.divide(v, bias_correction2, out=t1)
    np.sqrt(denom, out=denom)
    denom += eps
    np.divide(g, denom, out=t0)
    t0 *= -lr * c_grad
    p += t0
    np.divide(m, denom, out=t0)
    t0 *= -lr * c_avg
    p += t0


class NAdam(Optimizer):
    """NAdam: Adam with Nesterov momentum and momentum decay (torch's rule and defaults, lr=2e-3).

    Example:
        >>> opt = ember.optim.NAdam(model.parameters(), lr=2e-3, momentum_decay=4e-3)
    """

    _complex_ok = True

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _reject_unsupported("NAdam", capturable=capturable, differentiable=differentiable)
        betas = _check_betas("NAdam", betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=False, differentiable=False)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        _validate_adam_group("NAdam", group)
        _check_param("NAdam", group["momentum_decay"], "momentum_decay")

    def _state_keys(self, group):
        return ("step", "mu_product", "exp_avg", "exp_avg_sq")

    def _step_group(self, group):
        beta1, beta2 = group["betas"]
        hp = dict(lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=group["eps"],
                  weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
                  maximize=group["maximize"])
        for p, d, g, (t0, t1) in self._grads(group, 2):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar(0.0)
                state["mu_product"] = _scalar(1.0)
                state["exp_avg"] = _wrap(np.zeros_like(d))
                state["exp_avg_sq"] = _wrap(np.zeros_like(d))
            step_arr = state["step"]._data
            step_arr += 1
            step = float(step_arr)
            c_grad, c_avg = _nadam_coefficients(step, state["mu_product"]._data, beta1, group["momentum_decay"])
            _apply(_nadam_update, (d, g, state["exp_avg"]._data, state["exp_avg_sq"]._data, t0, t1),
                   bias_correction2=1 - beta2**step, c_grad=c_grad, c_avg=c_avg, **hp)


def _radam_update(p, g, m, v, t0, t1, *, step, lr, beta1, beta2, eps, weight_decay, decoupled, maximize):
    """One RAdam step: Adam with the variance rectification term once rho_t > 5, SGD-with-momentum before."""
    if weight_decay != 0 and decoupled:
        p *= 1 - lr * weight_decay
        g = _effective_grad(p, g, 0, maximize, out=t0)
    else:
        g = _effective_grad(p, g, weight_decay, maximize, out=t0)
    _lerp_(m, g, 1 - beta1, t1)
    _ema_sq_(v, g, beta2, t1)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
    np.divide(m, bias_correction1, out=t0)  # bias-corrected first moment (g is no longer needed)
    t0 *= lr
    if rho_t > 5.0:
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        np.sqrt(v, out=t1)
        t1 += eps
        np.divide(bias_correction2**0.5, t1, out=t1)
        t0 *= t1
        t0 *= rect
    p -= t0


class RAdam(Optimizer):
    """RAdam: Adam with a rectified adaptive learning rate (torch's rule and defaults).

    Example:
        >>> opt = ember.optim.RAdam(model.parameters(), lr=1e-3)
    """

    _complex_ok = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _reject_unsupported("RAdam", capturable=capturable, differentiable=differentiable)
        betas = _check_betas("RAdam", betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=False, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=False)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        _validate_adam_group("RAdam", group)

    def _state_keys(self, group):
        return ("step", "exp_avg", "exp_avg_sq")

    def _step_group(self, group):
        beta1, beta2 = group["betas"]
        hp = dict(lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=group["eps"],
                  weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
                  maximize=group["maximize"])
        for p, d, g, (t0, t1) in self._grads(group, 2):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar(0.0)
                state["exp_avg"] = _wrap(np.zeros_like(d))
                state["exp_avg_sq"] = _wrap(np.zeros_like(d))
            step_arr = state["step"]._data
            step_arr += 1
            _apply(_radam_update, (d, g, state["exp_avg"]._data, state["exp_avg_sq"]._data, t0, t1),
                   step=float(step_arr), **hp)

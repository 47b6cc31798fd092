"""Per-coordinate adaptive methods: RMSprop, Adagrad, Adadelta (torch's update rules)."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _apply, _check_param, _effective_grad, _reject_unsupported, _scalar, _wrap

__all__ = ["RMSprop", "Adagrad", "Adadelta"]


def _rmsprop_update(p, g, sq, gavg, buf, t0, t1, *, lr, alpha, eps, weight_decay, momentum, maximize):
    """One RMSprop step, in place (``gavg`` for centered, ``buf`` for momentum; either may be None)."""
    g = _effective_grad(p, g, weight_decay, maximize, out=t0)
    sq *= alpha
    np.multiply(g, g, out=t1)
    t1 *= 1 - alpha
    sq += t1
    if gavg is not None:
        np.subtract(g, gavg, out=t1)
        t1 *= 1 - alpha
        gavg += t1
        np.multiply(gavg, gavg, out=t1)
        np.subtract(sq, t1, out=t1)
        np.sqrt(t1, out=t1)
    else:
        np.sqrt(sq, out=t1)
    t1 += eps
    if buf is not None:
        buf *= momentum
        np.divide(g, t1, out=t1)
        buf += t1
        np.multiply(buf, lr, out=t1)
    else:
        np.divide(g, t1, out=t1)
        t1 *= lr
    p -= t1


class RMSprop(Optimizer):
    """RMSprop (Hinton), optionally centered and with momentum (torch's rule and defaults, lr=1e-2).

    Example:
        >>> opt = ember.optim.RMSprop(model.parameters(), lr=1e-2, alpha=0.99)
    """

    _complex_ok = True

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _reject_unsupported("RMSprop", capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=False, foreach=foreach, maximize=maximize,
                        differentiable=False)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        _check_param("RMSprop", group["lr"], "lr", label="learning rate")
        _check_param("RMSprop", group["eps"], "eps", label="epsilon value")
        _check_param("RMSprop", group["momentum"], "momentum")
        _check_param("RMSprop", group["weight_decay"], "weight_decay")
        _check_param("RMSprop", group["alpha"], "alpha")

    def _state_keys(self, group):
        return (("step", "square_avg") + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def _step_group(self, group):
        momentum, centered = group["momentum"], group["centered"]
        hp = dict(lr=float(group["lr"]), alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                  momentum=momentum, maximize=group["maximize"])
        for p, d, g, (t0, t1) in self._grads(group, 2):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar(0.0)
                state["square_avg"] = _wrap(np.zeros_like(d))
                if momentum > 0:
                    state["momentum_buffer"] = _wrap(np.zeros_like(d))
                if centered:
                    state["grad_avg"] = _wrap(np.zeros_like(d))
            state["step"]._data += 1
            _apply(_rmsprop_update, (d, g, state["square_avg"]._data,
                                     state["grad_avg"]._data if centered else None,
                                     state["momentum_buffer"]._data if momentum > 0 else None, t0, t1), **hp)


def _adagrad_update(p, g, acc, t0, t1, *, step, lr, lr_decay, eps, weight_decay, maximize):
    """One Adagrad step: ``acc += g²``; ``p -= lr / (1 + (t-1)*lr_decay) * g / (sqrt(acc) + eps)``."""
    g = _effective_grad(p, g, weight_decay, maximize, out=t0)
    clr = lr / (1 + (step - 1) * lr_decay)
    np.multiply(g, g, out=t1)
    acc += t1
    np.sqrt(acc, out=t1)
    t1 += eps
    np.divide(g, t1, out=t1)
    t1 *= clr
    p -= t1


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), with lr decay and an initial accumulator value (torch's rule and defaults).

    State is created for every parameter at construction, as torch does.

    Example:
        >>> opt = ember.optim.Adagrad(model.parameters(), lr=1e-2)
    """

    _complex_ok = True

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _reject_unsupported("Adagrad", differentiable=differentiable, fused=fused)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=False, fused=fused)
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        self._init_state(self.param_groups[-1])

    def _init_state(self, group):
        for p in group["params"]:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar(0.0)
                state["sum"] = _wrap(np.full_like(p._data, group["initial_accumulator_value"]))

    def _validate_group(self, group):
        _check_param("Adagrad", group["lr"], "lr", label="learning rate")
        _check_param("Adagrad", group["lr_decay"], "lr_decay")
        _check_param("Adagrad", group["weight_decay"], "weight_decay")
        _check_param("Adagrad", group["initial_accumulator_value"], "initial_accumulator_value")
        _check_param("Adagrad", group["eps"], "eps", label="epsilon value")

    def _state_keys(self, group):
        return ("step", "sum")

    def _step_group(self, group):
        hp = dict(lr=float(group["lr"]), lr_decay=group["lr_decay"], eps=group["eps"],
                  weight_decay=group["weight_decay"], maximize=group["maximize"])
        for p, d, g, (t0, t1) in self._grads(group, 2):
            state = self.state[p]
            if len(state) == 0:  # e.g. after load_state_dict of a state without this parameter
                self._init_state({"params": [p], "initial_accumulator_value": group["initial_accumulator_value"]})
            step_arr = state["step"]._data
            step_arr += 1
            _apply(_adagrad_update, (d, g, state["sum"]._data, t0, t1), step=float(step_arr), **hp)


def _adadelta_update(p, g, sq, acc_delta, t0, t1, t2, *, lr, rho, eps, weight_decay, maximize):
    """One Adadelta step: ``delta = sqrt(acc_delta+eps)/sqrt(sq+eps) * g``; ``p -= lr * delta``."""
    g = _effective_grad(p, g, weight_decay, maximize, out=t0)
    sq *= rho
    np.multiply(g, g, out=t1)
    t1 *= 1 - rho
    sq += t1
    np.add(sq, eps, out=t1)
    np.sqrt(t1, out=t1)
    np.add(acc_delta, eps, out=t2)
    np.sqrt(t2, out=t2)
    t2 /= t1
    t2 *= g
    acc_delta *= rho
    np.multiply(t2, t2, out=t1)
    t1 *= 1 - rho
    acc_delta += t1
    t2 *= lr
    p -= t2


class Adadelta(Optimizer):
    """Adadelta (Zeiler): step sizes from running averages of squared gradients and updates (lr=1.0).

    Example:
        >>> opt = ember.optim.Adadelta(model.parameters(), rho=0.9)
    """

    _complex_ok = True

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _reject_unsupported("Adadelta", capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=False, foreach=foreach, differentiable=False)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        _check_param("Adadelta", group["lr"], "lr", label="learning rate")
        _check_param("Adadelta", group["rho"], "rho", 0.0, 1.0, high_inclusive=True)
        _check_param("Adadelta", group["eps"], "eps", label="epsilon value")
        _check_param("Adadelta", group["weight_decay"], "weight_decay")

    def _state_keys(self, group):
        return ("step", "square_avg", "acc_delta")

    def _step_group(self, group):
        hp = dict(lr=float(group["lr"]), rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                  maximize=group["maximize"])
        for p, d, g, (t0, t1, t2) in self._grads(group, 3):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar(0.0)
                state["square_avg"] = _wrap(np.zeros_like(d))
                state["acc_delta"] = _wrap(np.zeros_like(d))
            state["step"]._data += 1
            _apply(_adadelta_update, (d, g, state["square_avg"]._data, state["acc_delta"]._data, t0, t1, t2), **hp)

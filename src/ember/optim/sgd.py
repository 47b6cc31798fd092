"""Stochastic gradient descent (optionally with momentum / Nesterov), torch's update rule."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _check_param, _effective_grad, _reject_unsupported, _wrap

__all__ = ["SGD"]


def _sgd_update(p, g, buf, tmp, lr, momentum, dampening, nesterov, weight_decay, maximize):
    """One SGD step on raw arrays; returns the (possibly new) momentum buffer array or None."""
    t0, t1 = tmp
    g = _effective_grad(p, g, weight_decay, maximize, out=t0)
    if momentum != 0:
        if buf is None:
            buf = g.copy()
        else:
            buf *= momentum
            if dampening == 0:
                buf += g
            else:
                np.multiply(g, 1 - dampening, out=t1)
                buf += t1
        if nesterov:
            np.multiply(buf, momentum, out=t1)
            np.add(g, t1, out=t1)
            g = t1
        else:
            g = buf
    np.multiply(g, lr, out=t1)
    np.subtract(p, t1, out=p)
    return buf


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay.

    Same rule as ``torch.optim.SGD``: ``g += wd*p``; ``buf = momentum*buf + (1-dampening)*g``
    (``buf = g`` on the first step); ``g = g + momentum*buf`` if nesterov else ``buf``; ``p -= lr*g``.

    Example:
        >>> opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _reject_unsupported("SGD", differentiable=differentiable, fused=fused)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=False, fused=fused)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        _check_param("SGD", group["lr"], "lr", label="learning rate")
        _check_param("SGD", group["momentum"], "momentum")
        _check_param("SGD", group["weight_decay"], "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: Nesterov momentum requires a momentum and zero dampening "
                f"(got momentum={group['momentum']}, dampening={group['dampening']})"
            )

    def _step_group(self, group):
        lr = float(group["lr"])
        momentum = group["momentum"]
        dampening = group["dampening"]
        nesterov = group["nesterov"]
        wd = group["weight_decay"]
        maximize = group["maximize"]
        for p, d, g, tmp in self._grads(group, 2):
            if momentum != 0:
                state = self.state[p]
                old = state.get("momentum_buffer")
                buf = _sgd_update(d, g, None if old is None else old._data, tmp, lr, momentum, dampening,
                                  nesterov, wd, maximize)
                if old is None:
                    state["momentum_buffer"] = _wrap(buf)
            else:
                _sgd_update(d, g, None, tmp, lr, 0, dampening, nesterov, wd, maximize)

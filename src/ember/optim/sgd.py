"""Stochastic gradient descent (optionally with momentum / Nesterov), torch's update rule."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _apply, _check_param, _effective_grad, _reject_unsupported, _wrap

__all__ = ["SGD"]

# SGD's few cheap passes are memory-bound: measured slower split across threads than in one.
_SGD_PARALLEL = False


def _sgd_update(p, g, buf, t0, t1, *, lr, momentum, dampening, nesterov, weight_decay, maximize, first):
    """One SGD step on raw arrays, in place (``buf`` is the momentum buffer or None; filled when ``first``)."""
    g = _effective_grad(p, g, weight_decay, maximize, out=t0)
    if buf is not None:
        if first:
            np.copyto(buf, g)
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


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay.

    Same rule as ``torch.optim.SGD``: ``g += wd*p``; ``buf = momentum*buf + (1-dampening)*g``
    (``buf = g`` on the first step); ``g = g + momentum*buf`` if nesterov else ``buf``; ``p -= lr*g``.

    Example:
        >>> opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    _complex_ok = True

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

    def _state_keys(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _step_group(self, group):
        hp = dict(lr=float(group["lr"]), momentum=group["momentum"], dampening=group["dampening"],
                  nesterov=group["nesterov"], weight_decay=group["weight_decay"], maximize=group["maximize"])
        use_momentum = hp["momentum"] != 0
        for p, d, g, (t0, t1) in self._grads(group, 2):
            buf, first = None, False
            if use_momentum:
                state = self.state[p]
                if "momentum_buffer" not in state or state["momentum_buffer"] is None:
                    state["momentum_buffer"] = _wrap(np.empty_like(d))
                    first = True
                buf = state["momentum_buffer"]._data
            _apply(_sgd_update, (d, g, buf, t0, t1), parallel=_SGD_PARALLEL, first=first, **hp)

"""Rprop, ASGD and SparseAdam: torch's update rules (single-tensor CPU path), step for step."""

from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, _check_betas, _check_param, _reject_unsupported, _scalar, _wrap

__all__ = ["Rprop", "ASGD", "SparseAdam"]


class Rprop(Optimizer):
    """Resilient backpropagation: per-element step sizes grown by ``etas[1]`` while the gradient
    keeps its sign and shrunk by ``etas[0]`` when it flips (then that element skips one update).

    Same rule and defaults as ``torch.optim.Rprop`` (full-batch method: each step uses only the
    gradients' signs).

    Example:
        >>> opt = ember.optim.Rprop(model.parameters(), lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50))
    """

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
                 foreach=None, maximize=False, differentiable=False):
        _reject_unsupported("Rprop", capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                        differentiable=False, capturable=False)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        _check_param("Rprop", group["lr"], "lr", label="learning rate")
        try:
            em, ep = group["etas"]
            smin, smax = group["step_sizes"]
        except (TypeError, ValueError):
            raise ValueError("Rprop: etas and step_sizes must be pairs, e.g. etas=(0.5, 1.2), "
                             f"step_sizes=(1e-6, 50); got {group['etas']!r} and {group['step_sizes']!r}") from None
        if not 0.0 < em < 1.0 < ep:
            raise ValueError(f"Rprop: Invalid eta values: {em}, {ep} (need 0 < etaminus < 1 < etaplus)")

    def _state_keys(self, group):
        return ("step", "prev", "step_size")

    def _step_group(self, group):
        etaminus, etaplus = group["etas"]
        smin, smax = group["step_sizes"]
        for p, d, g, _ in self._grads(group, 1):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar(0.0)
                state["prev"] = _wrap(np.zeros_like(d))
                state["step_size"] = _wrap(np.full_like(d, float(group["lr"])))
            state["step"]._data += 1
            prev, step_size = state["prev"]._data, state["step_size"]._data
            if group["maximize"]:
                g = -g
            sign = np.sign(g * prev)
            factor = np.where(sign > 0, etaplus, np.where(sign < 0, etaminus, 1.0)).astype(d.dtype)
            step_size *= factor
            np.clip(step_size, smin, smax, out=step_size)
            g = np.where(sign < 0, 0, g).astype(d.dtype)
            d -= np.sign(g) * step_size
            np.copyto(prev, g)


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky): SGD with a decaying step ``eta`` and a running average
    ``state['ax']`` of the iterates, averaged from step ``t0`` on. Same rule and defaults as
    ``torch.optim.ASGD``.

    Example:
        >>> opt = ember.optim.ASGD(model.parameters(), lr=0.01, t0=100)
        >>> averaged = [opt.state[p]["ax"] for p in model.parameters()]
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _reject_unsupported("ASGD", capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=False, capturable=False)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        _check_param("ASGD", group["lr"], "lr", label="learning rate")
        _check_param("ASGD", group["weight_decay"], "weight_decay")

    def _state_keys(self, group):
        return ("step", "eta", "mu", "ax")

    def _step_group(self, group):
        lr, lambd, alpha, t0, wd = (float(group["lr"]), group["lambd"], group["alpha"], group["t0"],
                                    group["weight_decay"])
        for p, d, g, _ in self._grads(group, 1):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar(0.0)
                state["eta"] = _scalar(lr)
                state["mu"] = _scalar(1.0)
                state["ax"] = _wrap(np.zeros_like(d))
            if group["maximize"]:
                g = -g
            step_t, eta, mu, ax = state["step"]._data, state["eta"]._data, state["mu"]._data, state["ax"]._data
            step_t += 1
            if wd != 0:
                g = g + d * d.dtype.type(wd)
            eta_value = float(eta)
            d *= d.dtype.type(1 - lambd * eta_value)
            d -= g * d.dtype.type(eta_value)
            if float(mu) != 1:
                ax += (d - ax) * mu.astype(d.dtype)
            else:
                np.copyto(ax, d)
            step = float(step_t)
            eta[...] = lr / ((1 + lambd * lr * step) ** alpha)
            mu[...] = 1 / max(1, step - t0)


class SparseAdam(Optimizer):
    """Adam that updates only the entries a gradient touches (torch's ``SparseAdam`` rule).

    ember's gradients are dense, so "touched" is read from the dense gradient: for a parameter
    with two or more dimensions (an embedding table), the rows (slices along dim 0) with any
    nonzero gradient entry; for a 1-d parameter, the nonzero entries. Those rows' moments and
    values are updated exactly as torch updates the rows of a sparse gradient from
    ``nn.Embedding(sparse=True)``; other rows (and their moments) are left untouched. A row
    looked up but whose summed gradient is exactly zero is skipped here, where torch would decay
    its moments; in float arithmetic that is rare. torch raises for dense gradients; ember accepts
    them because it has no sparse gradients.

    Example:
        >>> emb = ember.nn.Embedding(1000, 16, sparse=True)
        >>> opt = ember.optim.SparseAdam(emb.parameters(), lr=1e-2)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        betas = _check_betas("SparseAdam", betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        _check_param("SparseAdam", group["lr"], "lr", low=math.ulp(0.0), label="learning rate")
        _check_param("SparseAdam", group["eps"], "eps", low=math.ulp(0.0), label="epsilon value")

    def _state_keys(self, group):
        return ("step", "exp_avg", "exp_avg_sq")

    def _step_group(self, group):
        beta1, beta2 = group["betas"]
        lr, eps = float(group["lr"]), group["eps"]
        for p, d, g, _ in self._grads(group, 1):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0
                state["exp_avg"] = _wrap(np.zeros_like(d))
                state["exp_avg_sq"] = _wrap(np.zeros_like(d))
            step = state["step"]
            if not isinstance(step, int):  # loaded from a state dict as a 0-d tensor
                step = int(float(step))
            state["step"] = step = step + 1
            if group["maximize"]:
                g = -g
            if d.ndim >= 2:
                rows = np.flatnonzero(g.reshape(g.shape[0], -1).any(axis=1))
                idx = (rows,)
            else:
                idx = np.nonzero(g)
            gv = g[idx]
            if gv.size == 0:
                continue
            m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
            old_m, old_v = m[idx], v[idx]
            m_upd = (gv - old_m) * d.dtype.type(1 - beta1)
            m[idx] += m_upd
            v_upd = (gv * gv - old_v) * d.dtype.type(1 - beta2)
            v[idx] += v_upd
            numer = m_upd + old_m
            denom = np.sqrt(v_upd + old_v) + d.dtype.type(eps)
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            step_size = lr * math.sqrt(bias_correction2) / bias_correction1
            d[idx] += (-step_size * (numer / denom)).astype(d.dtype)

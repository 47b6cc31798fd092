"""Stochastic weight averaging and EMA (``torch.optim.swa_utils``): AveragedModel, SWALR, update_bn.

Example:
    >>> swa_model = ember.optim.swa_utils.AveragedModel(model)
    >>> swa_scheduler = ember.optim.swa_utils.SWALR(optimizer, swa_lr=0.05)
    >>> ...  # each epoch after swa_start:
    >>> swa_model.update_parameters(model); swa_scheduler.step()
    >>> ember.optim.swa_utils.update_bn(loader, swa_model)
"""
from __future__ import annotations

import copy
import itertools
import math

import numpy as np

from .lr_scheduler import LRScheduler, _format_param

__all__ = ["AveragedModel", "SWALR", "update_bn", "get_ema_avg_fn", "get_swa_avg_fn",  # noqa: F822 (lazy)
           "get_ema_multi_avg_fn", "get_swa_multi_avg_fn"]


def _check_decay(decay):
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def get_ema_multi_avg_fn(decay=0.999):
    """In-place EMA over lists of tensors: ``ema = lerp(ema, current, 1 - decay)``."""
    _check_decay(decay)

    def ema_update(ema_param_list, current_param_list, _):
        for p_ema, p_model in zip(ema_param_list, current_param_list):
            a, b = p_ema._data, p_model._data
            if np.issubdtype(a.dtype, np.floating):
                a += (b - a) * a.dtype.type(1 - decay)
            else:
                a[...] = a * decay + b * (1 - decay)
    return ema_update


def get_swa_multi_avg_fn():
    """In-place equal-weight average over lists of tensors."""
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        n = float(num_averaged)
        for p_avg, p_model in zip(averaged_param_list, current_param_list):
            a, b = p_avg._data, p_model._data
            if np.issubdtype(a.dtype, np.floating):
                a += (b - a) * a.dtype.type(1 / (n + 1))
            else:
                a[...] = a + (b - a) / (n + 1)
    return swa_update


def get_ema_avg_fn(decay=0.999):
    """``decay * ema + (1 - decay) * current`` for one tensor."""
    _check_decay(decay)

    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    """``avg + (current - avg) / (n + 1)`` for one tensor."""
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


def _module_base():
    from ..nn import Module
    return Module


def _make_averaged_model():
    import ember
    Module = _module_base()

    class AveragedModel(Module):
        """A copy of ``model`` whose parameters are a running average (SWA by default, or EMA with
        ``multi_avg_fn=get_ema_multi_avg_fn(decay)``), as ``torch.optim.swa_utils.AveragedModel``.
        Buffers are copied from the model unless ``use_buffers=True`` averages them too."""

        def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
            super().__init__()
            if avg_fn is not None and multi_avg_fn is not None:
                raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
            self.module = copy.deepcopy(model)
            if device is not None:
                self.module = self.module.to(device)
            self.register_buffer("n_averaged", ember.tensor(0, dtype=ember.long))
            self.avg_fn = avg_fn
            self.multi_avg_fn = multi_avg_fn
            self.use_buffers = use_buffers

        def forward(self, *args, **kwargs):
            return self.module(*args, **kwargs)

        def update_parameters(self, model):
            """Fold ``model``'s current parameters into the average (copied on the first call)."""
            self_param = (itertools.chain(self.module.parameters(), self.module.buffers())
                          if self.use_buffers else self.parameters())
            model_param = (itertools.chain(model.parameters(), model.buffers())
                           if self.use_buffers else model.parameters())
            mine, theirs = [], []
            n = int(self.n_averaged.item())
            for p_avg, p_model in zip(self_param, model_param):
                mine.append(p_avg.detach())
                theirs.append(p_model.detach())
                if n == 0:
                    np.copyto(p_avg._data, p_model._data)
            if n > 0:
                with ember.no_grad():
                    if self.avg_fn is not None and self.multi_avg_fn is None:
                        for p_avg, p_model in zip(mine, theirs):
                            p_avg.copy_(self.avg_fn(p_avg, p_model, self.n_averaged))
                    else:
                        (self.multi_avg_fn or get_swa_multi_avg_fn())(mine, theirs, self.n_averaged)
            if not self.use_buffers:
                for b_swa, b_model in zip(self.module.buffers(), model.buffers()):
                    np.copyto(b_swa._data, b_model._data)
            self.n_averaged._data += 1

    return AveragedModel


def __getattr__(name):
    if name == "AveragedModel":  # built on first use: ember.nn imports ember.optim's siblings lazily
        cls = _make_averaged_model()
        cls.__module__ = __name__
        globals()["AveragedModel"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def update_bn(loader, model, device=None):
    """One pass over ``loader`` in train mode to recompute every BatchNorm's running statistics
    (cumulative averages), as ``torch.optim.swa_utils.update_bn``."""
    import ember
    from ..nn.modules.normalization import _BatchNorm

    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with ember.no_grad():
        for input in loader:
            if isinstance(input, (list, tuple)):
                input = input[0]
            if device is not None:
                input = input.to(device)
            model(input)
    for bn_module in momenta:
        bn_module.momentum = momenta[bn_module]
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to ``swa_lr`` over ``anneal_epochs`` (cosine or linear), then hold it
    (``torch.optim.swa_utils.SWALR``)."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        swa_lrs = _format_param("swa_lr", optimizer, swa_lr)
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._anneal_strategy = anneal_strategy
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t):
        return t if self._anneal_strategy == "linear" else (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        self._warn_if_outside_step()
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in self.optimizer.param_groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(self.optimizer.param_groups, prev_lrs)]

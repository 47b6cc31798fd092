"""``SyncBatchNorm``: batch normalization whose statistics cover the whole global batch (all ranks)."""
from __future__ import annotations

import numpy as np

from ... import _ops as O
from ..._tensor import Tensor
from ...autograd.function import Function
from ...autograd.grad_mode import no_grad
from .. import functional as F
from ..modules.normalization import _BatchNorm

__all__ = ["SyncBatchNorm"]


class _AllReduceSum(Function):
    """Sum over the ranks of a group, differentiable: the gradient of a sum that every rank uses is
    the sum of every rank's gradient, i.e. another all-reduce."""

    @staticmethod
    def forward(ctx, x, group):
        import ember.distributed as dist

        ctx.group = group
        y = Tensor._wrap(x._data.copy())
        dist.all_reduce(y, group=group)
        return y

    @staticmethod
    def backward(ctx, g):
        import ember.distributed as dist

        g = Tensor._wrap(np.array(g._data, copy=True))
        dist.all_reduce(g, group=ctx.group)
        return g, None


class SyncBatchNorm(_BatchNorm):
    """torch's ``nn.SyncBatchNorm``: in training, mean and variance are those of the *global* batch
    (every rank's samples), so N ranks with batch B/N each normalize exactly as one process with
    batch B. Outside a process group, or in a group of one, it behaves as BatchNorm.
    Convert a model with ``SyncBatchNorm.convert_sync_batchnorm(model)`` before wrapping it in DDP.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if not isinstance(input, Tensor) or input.ndim < 2:
            got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (N, C, ...), got {got}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm({self.num_features}): expected {self.num_features} channels in dimension "
                             f"1, got shape {tuple(input.shape)}")

    def _group_size(self):
        import sys

        dist = sys.modules.get("ember.distributed")
        if dist is None or not dist.is_initialized():
            return 1
        return dist.get_world_size(self.process_group)

    def forward(self, input):
        if not self.training or self._group_size() <= 1:
            return super().forward(input)
        self._check_input_dim(input)
        F._float_input(input, "SyncBatchNorm")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked._data += 1
            self.num_batches_tracked._bump()
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked._data)
        c = input.shape[1]
        axes = (0,) + tuple(range(2, input.ndim))
        cs = F._channel_shape(input)
        import ember.distributed as dist

        count = Tensor._wrap(np.array([input._data.size // c], np.int64))
        dist.all_reduce(count, group=self.process_group)
        n = int(count._data[0])
        if n <= 1:
            raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel when training, got {n} over all ranks")
        mean = _AllReduceSum.apply(input.sum(axes), self.process_group) / n
        xc = input - mean.reshape(cs)
        var = _AllReduceSum.apply((xc * xc).sum(axes), self.process_group) / n
        if self.track_running_stats and self.running_mean is not None:
            with no_grad():
                m = float(factor)
                rm, rv = self.running_mean._data, self.running_var._data
                rm *= 1 - m
                rm += m * mean._data.astype(rm.dtype)
                rv *= 1 - m
                rv += m * (var._data * (n / (n - 1))).astype(rv.dtype)
                self.running_mean._bump()
                self.running_var._bump()
        out = xc * O.rsqrt(var + self.eps).reshape(cs)
        if self.weight is not None:
            out = out * self.weight.reshape(cs)
        if self.bias is not None:
            out = out + self.bias.reshape(cs)
        return out

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm*d replaced by a SyncBatchNorm holding the same parameters and
        running statistics (torch's helper of the same name)."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      process_group, bias=module.bias is not None or not module.affine)
            if module.affine:
                with no_grad():
                    out.weight = module.weight
                    out.bias = module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in list(module._modules.items()):
            if child is not None:
                new = cls.convert_sync_batchnorm(child, process_group)
                if new is not child:
                    out._modules[name] = new
        return out

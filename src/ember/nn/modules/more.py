"""More of ``torch.nn``'s layers: ``RReLU``, ``LocalResponseNorm``/``CrossMapLRN2d``, ``ChannelShuffle``,
``EmbeddingBag``, ``MaxUnpool1d/2d/3d``, ``FeatureAlphaDropout``, margin losses, ``CTCLoss``, the 3-d padding
layers, ``UpsamplingNearest2d``/``UpsamplingBilinear2d``, ``DataParallel`` (CPU: runs the module) and
``Container`` (deprecated)."""
from __future__ import annotations

import warnings
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from ... import _ops as O
from ..._tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .dropout import _DropoutNd
from .extra import _pad_class
from .loss import _Loss, _WeightedLoss
from .container import ModuleList, Sequential
from .linear import Linear
from .module import Module
from .upsampling import Upsample

__all__ = [
    "RReLU", "LocalResponseNorm", "CrossMapLRN2d", "ChannelShuffle", "EmbeddingBag", "MaxUnpool1d", "MaxUnpool2d",
    "MaxUnpool3d", "FeatureAlphaDropout", "MultiMarginLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss",
    "TripletMarginWithDistanceLoss", "NLLLoss2d", "CTCLoss", "ZeroPad3d", "ConstantPad3d", "ReflectionPad3d",
    "ReplicationPad3d", "CircularPad3d", "UpsamplingNearest2d", "UpsamplingBilinear2d", "DataParallel", "Container",
    "AdaptiveLogSoftmaxWithLoss", "LinearCrossEntropyLoss", "LinearCrossEntropyOptions",
]


class RReLU(Module):
    """Randomized leaky ReLU: slopes ~ U(lower, upper) per element in training, their mean in eval."""

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class LocalResponseNorm(Module):
    """Normalize each channel by the squares of its ``size`` neighbours (AlexNet's LRN)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class CrossMapLRN2d(LocalResponseNorm):
    """torch's legacy cross-map LRN on 4-D (N, C, H, W) input. It reproduces torch's window exactly, including its
    quirk that channel 0 stays in every window (use ``LocalResponseNorm`` for the textbook formula)."""

    def forward(self, input):
        import numpy as np

        from ..._tensor import Tensor

        if input.ndim != 4:
            raise ValueError(
                f"CrossMapLRN2d: expected 4D input (N, C, H, W), got {input.ndim}D input of shape {tuple(input.shape)}"
            )
        c = input.shape[1]
        pre = int((self.size - 1) / 2 + 1)
        m = np.zeros((c, c), dtype=input._data.dtype)
        for ch in range(c):
            m[ch, 0] = 1
            m[ch, max(ch - pre + 1, 0):min(ch + pre - 1, c - 1) + 1] = 1
        sq = (input * input).permute(0, 2, 3, 1)
        scale = O.matmul(sq, Tensor._wrap(m.T.copy())).permute(0, 3, 1, 2) * (self.alpha / self.size) + self.k
        return input * scale ** (-self.beta)


class ChannelShuffle(Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


class EmbeddingBag(Module):
    """Sums / means / maxes of bags of embeddings without building the (bags, length, dim) intermediate.

    >>> bag = ember.nn.EmbeddingBag(10, 3, mode="sum")
    >>> bag(ember.tensor([1, 2, 4, 5, 4, 3]), ember.tensor([0, 4])).shape
    ember.Size([2, 3])
    """

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None, device=None,
                 dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise AssertionError(
                    f"EmbeddingBag: padding_idx must be within num_embeddings ({self.num_embeddings}), got {padding_idx}"
                )
            if padding_idx < 0:
                padding_idx += self.num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(O.empty(self.num_embeddings, self.embedding_dim, dtype=dtype))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(
                    f"EmbeddingBag: _weight of shape {tuple(_weight.shape)} does not match "
                    f"({self.num_embeddings}, {self.embedding_dim})"
                )
            self.weight = Parameter(_weight)
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            from ...autograd.grad_mode import no_grad

            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                               self.mode, self.sparse, per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        s += f", mode='{self.mode}'"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        if embeddings.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D, got shape {tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        bag = cls(rows, cols, _weight=embeddings, max_norm=max_norm, norm_type=norm_type,
                  scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=sparse,
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag


class _MaxUnpoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, input, indices, output_size=None):
        fn = getattr(F, f"max_unpool{self._nd}d")
        return fn(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    _nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    _nd = 2


class MaxUnpool3d(_MaxUnpoolNd):
    _nd = 3


class FeatureAlphaDropout(_DropoutNd):
    def forward(self, input):
        return F.feature_alpha_dropout(input, self.p, self.training, self.inplace)


class MultiMarginLoss(_WeightedLoss):
    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got p={p}")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    def forward(self, input, target):
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(reduction=reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: margin must be greater than 0, got {margin}")
        self.distance_function = distance_function
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_with_distance_loss(anchor, positive, negative, distance_function=self.distance_function,
                                                   margin=self.margin, swap=self.swap, reduction=self.reduction)


class NLLLoss2d(Module):
    """Deprecated alias of ``NLLLoss`` (torch keeps it for old programs)."""

    def __new__(cls, *args, **kwargs):
        from .loss import NLLLoss

        warnings.warn("`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in replacement.",
                      FutureWarning, stacklevel=2)
        return NLLLoss(*args, **kwargs)


class CTCLoss(_Loss):
    """Connectionist Temporal Classification loss over (T, N, C) log-probabilities; see ``F.ctc_loss``."""

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                          self.zero_infinity)


ZeroPad3d = _pad_class("ZeroPad3d", 3, "constant", zero=True)
ConstantPad3d = _pad_class("ConstantPad3d", 3, "constant")
ReflectionPad3d = _pad_class("ReflectionPad3d", 3, "reflect")
ReplicationPad3d = _pad_class("ReplicationPad3d", 3, "replicate")
CircularPad3d = _pad_class("CircularPad3d", 3, "circular")


class UpsamplingNearest2d(Upsample):
    """Deprecated: ``Upsample(mode='nearest')`` on (N, C, H, W) input."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Deprecated: ``Upsample(mode='bilinear', align_corners=True)`` on (N, C, H, W) input."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class DataParallel(Module):
    """CPU ``DataParallel``: there are no devices to split the batch over, so it runs ``module`` directly (what
    torch does without CUDA). The wrapped module's state dict keys get the ``module.`` prefix, as in torch."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if device_ids:
            raise ValueError(
                f"DataParallel: device_ids={device_ids} names accelerator devices, which ember (CPU only) does not "
                "have; leave device_ids=None"
            )
        self.module = module
        self.device_ids, self.output_device, self.dim = [], None, dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


class Container(Module):
    """Deprecated: a ``Module`` whose constructor keyword arguments become submodules."""

    def __init__(self, **kwargs):
        super().__init__()
        warnings.warn("nn.Container is deprecated. All of it's functionality is now implemented in nn.Module. "
                      "Subclass that instead.", stacklevel=2)
        for key, value in kwargs.items():
            self.add_module(key, value)


_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation for large vocabularies (Grave et al.): frequent classes (below
    ``cutoffs[0]``) in the head, the rest in clusters reached through one head logit each and a low-rank
    projection of size ``in_features // div_value ** (i + 1)``. ``forward(input, target)`` returns
    ``(output, loss)``: the target log-probabilities and their negative mean."""

    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False, device=None, dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError(
                "AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of unique, positive integers sorted in an "
                f"increasing order, where each value is between 1 and n_classes-1 ({n_classes - 1}); got {cutoffs}"
            )
        self.in_features, self.n_classes = in_features, n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hsz, bias=False, dtype=dtype),
                                        Linear(hsz, osz, bias=False, dtype=dtype)))

    def reset_parameters(self):
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_, target_):
        name = "AdaptiveLogSoftmaxWithLoss"
        t = target_._data if isinstance(target_, Tensor) else np.asarray(target_)
        if t.ndim == 1:
            if input_.ndim != 2:
                raise RuntimeError(f"{name}: 1D target tensor expects 2D input tensors, but found inputs with size "
                                   f"{tuple(input_.shape)}")
            if input_.shape[0] != t.shape[0]:
                raise RuntimeError(f"{name}: Input and target should have the same size in the batch dimension "
                                   f"(input {tuple(input_.shape)}, target {tuple(t.shape)})")
        elif t.ndim == 0:
            if input_.ndim != 1:
                raise RuntimeError(f"{name}: 0D target tensor expects 1D input tensors, but found inputs with size "
                                   f"{tuple(input_.shape)}")
        else:
            raise RuntimeError(f"{name}: 0D or 1D target tensor expected, multi-target not supported")
        batched = t.ndim > 0
        x = input_ if batched else input_.unsqueeze(0)
        t = t.reshape(-1).astype(np.int64)
        b = t.shape[0]
        if b and (t.min() < 0 or t.max() >= self.n_classes):
            raise RuntimeError(
                f"{name}: Target values should be in [0, {self.n_classes - 1}], but values in range "
                f"[{int(t.min())}, {int(t.max())}] were found. "
            )
        gather_inds = t.copy()
        output = None
        for i in range(self.n_clusters):
            lo, hi = self.cutoffs[i], self.cutoffs[i + 1]
            rows = np.flatnonzero((t >= lo) & (t < hi))
            if rows.size == 0:
                continue
            gather_inds[rows] = self.shortlist_size + i
            sub = O.index_select(x, 0, Tensor._wrap(rows))
            logp = F.log_softmax(self.tail[i](sub), dim=1)
            local = O.gather(logp, 1, Tensor._wrap((t[rows] - lo).reshape(-1, 1))).reshape(-1)
            place = np.zeros((b, rows.size), dtype=x._data.dtype)
            place[rows, np.arange(rows.size)] = 1.0
            part = O.matmul(Tensor._wrap(place), local)
            output = part if output is None else output + part
        head_logprob = F.log_softmax(self.head(x), dim=1)
        head_part = O.gather(head_logprob, 1, Tensor._wrap(gather_inds.reshape(-1, 1))).reshape(-1)
        output = head_part if output is None else output + head_part
        loss = (-output).mean()
        if not batched:
            output = output.squeeze(0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input, head_output):  # noqa: A002
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            parts.append(cluster_logprob + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return O.cat(parts, 1)

    def log_prob(self, input):  # noqa: A002
        """Log-probabilities of all ``n_classes`` classes, (N, n_classes)."""
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input):  # noqa: A002
        """The most likely class of each row (``log_prob(input).argmax(1)``)."""
        return O.argmax(self.log_prob(input), 1)


@dataclass
class LinearCrossEntropyOptions:
    """torch's tuning knobs for its chunked ``linear_cross_entropy`` (accepted for compatibility; ember computes
    the logits in one piece and ignores them)."""

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: str = "auto"
    acc_dtype: object = None


class LinearCrossEntropyLoss(Module):
    """A bias-free (by default) ``Linear(in_features, num_classes)`` followed by cross entropy, in one module."""

    def __init__(self, in_features, num_classes, *, out_features=(), bias=False, device=None, dtype=None,
                 reduction="mean", weight=None, ignore_index=None, label_smoothing=0.0, options=None):
        super().__init__()
        if tuple(out_features) != ():
            raise NotImplementedError(
                f"LinearCrossEntropyLoss: out_features={tuple(out_features)} (K-dimensional loss) is not supported in "
                "ember; use nn.Linear then nn.CrossEntropyLoss"
            )
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"LinearCrossEntropyLoss: {reduction!r} is not a valid value for reduction")
        self.in_features, self.num_classes, self.out_features = in_features, num_classes, tuple(out_features)
        self.reduction, self.ignore_index, self.label_smoothing, self.options = (reduction, ignore_index,
                                                                                 label_smoothing, options)
        self.linear = Linear(in_features, num_classes, bias=bias, dtype=dtype)
        self.register_buffer("weight", weight)

    def forward(self, input, target):  # noqa: A002
        return F.linear_cross_entropy(input, self.linear.weight, target, linear_bias=self.linear.bias,
                                      weight=self.weight, reduction=self.reduction, ignore_index=self.ignore_index,
                                      label_smoothing=self.label_smoothing, options=self.options)

    def extra_repr(self):
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, out_features={self.out_features}, "
                f"bias={self.linear.bias is not None}, reduction={self.reduction}, ignore_index={self.ignore_index}, "
                f"label_smoothing={self.label_smoothing}, options={self.options}")

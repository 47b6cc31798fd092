"""More of ``torch.nn.functional``, composed from ember's differentiable ops: in-place activation
variants, ``rrelu``, ``prelu``, ``local_response_norm``, ``channel_shuffle``, ``gumbel_softmax``, ``pdist``,
margin losses (``multi_margin_loss``, ``multilabel_margin_loss``, ``multilabel_soft_margin_loss``,
``triplet_margin_with_distance_loss``), ``max_unpool1d/2d/3d``, ``feature_alpha_dropout``, ``embedding_bag``
and the deprecated ``upsample_nearest`` / ``upsample_bilinear``."""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import _ops as O
from .._random import _gen
from .._tensor import Tensor
from .. import _autocast as _ac

__all__ = [
    "elu_", "celu_", "selu_", "leaky_relu_", "hardtanh_", "threshold_", "rrelu", "rrelu_", "prelu",
    "local_response_norm", "channel_shuffle", "native_channel_shuffle", "gumbel_softmax", "pdist",
    "multi_margin_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss", "triplet_margin_with_distance_loss",
    "max_unpool1d", "max_unpool2d", "max_unpool3d", "feature_alpha_dropout", "embedding_bag",
    "upsample_nearest", "upsample_bilinear", "linear_cross_entropy",
]


def _F():
    from . import functional

    return functional


def _shape(t):
    return tuple(t.shape)


def _need_tensor(x, name, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be an ember Tensor, not {type(x).__name__}")


def _need_float(x, name, op):
    _need_tensor(x, name, op)
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{op}(): expected a floating-point {name}, got {x.dtype}; convert it with .float()")


# ============================================================================ in-place activations


def _inplace(input, fn):
    return _F()._inplace(input, fn)


def elu_(input, alpha=1.0):
    return _inplace(input, lambda x: _F().elu(x, alpha))


def celu_(input, alpha=1.0):
    return _inplace(input, lambda x: _F().celu(x, alpha))


def selu_(input):
    return _inplace(input, _F().selu)


def leaky_relu_(input, negative_slope=0.01):
    return _inplace(input, lambda x: _F().leaky_relu(x, negative_slope))


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return _inplace(input, lambda x: _F().hardtanh(x, min_val, max_val))


def threshold_(input, threshold, value):
    return _inplace(input, lambda x: _F().threshold(x, threshold, value))


# ============================================================================ rrelu / prelu


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """x for x >= 0, a * x below, with a ~ U(lower, upper) per element when ``training``, else a = (lower + upper) / 2."""
    _need_float(input, "input", "rrelu")
    if not lower <= upper:
        raise ValueError(f"rrelu: lower bound ({lower}) must not be greater than upper bound ({upper})")
    if inplace:
        return _inplace(input, lambda x: rrelu(x, lower, upper, training))
    if not training:
        return _F().leaky_relu(input, (lower + upper) / 2)
    a = input._data
    slopes = _gen(None).np.uniform(lower, upper, a.shape).astype(a.dtype)
    return O.where(Tensor._wrap(a >= 0), input, input * Tensor._wrap(slopes))


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):
    if generator is not None:
        raise NotImplementedError("rrelu_(generator=...): ember's rrelu draws from ember's default generator; "
                                  "seed it with ember.manual_seed")
    return rrelu(input, lower, upper, training, inplace=True)


def prelu(input, weight):
    """x for x > 0, weight * x below; ``weight`` has 1 element or one per channel (dim 1)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list
        return _ac.run(_ac.LOWER, prelu, input, weight)
    _need_float(input, "input", "prelu")
    _need_tensor(weight, "weight", "prelu")
    n = weight.numel()
    c = input.shape[1] if input.ndim >= 2 else (input.shape[0] if input.ndim == 1 else 1)
    if weight.ndim > 1 or n not in (1, c):
        raise RuntimeError(
            f"prelu: weight of shape {_shape(weight)} must have 1 element or one per channel ({c}) of the input "
            f"of shape {_shape(input)}"
        )
    w = weight.reshape(-1)
    if n > 1 and input.ndim >= 2:
        w = w.reshape((c,) + (1,) * (input.ndim - 2))
    return O.where(Tensor._wrap(input._data > 0), input, input * w)


# ============================================================================ normalization / shuffles


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha / size * sum of x^2 over ``size`` neighbouring channels) ** beta."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, local_response_norm, input, size, alpha, beta, k)
    _need_float(input, "input", "local_response_norm")
    if input.ndim < 3:
        raise ValueError(
            f"local_response_norm: expected 3D or higher dimensionality input (N, C, ...), got {input.ndim} "
            f"dimensions (shape {_shape(input)})"
        )
    if input.numel() == 0:
        return input
    c = input.shape[1]
    sq = input * input
    lo, hi = size // 2, (size - 1) // 2
    widths = [0, 0] * (input.ndim - 2) + [lo, hi]
    padded = _F().pad(sq, tuple(widths))
    acc = None
    for j in range(size):
        part = O.narrow(padded, 1, j, c)
        acc = part if acc is None else acc + part
    div = (acc * (alpha / size) + k) ** beta
    return input / div


def channel_shuffle(input, groups):
    """Split the channels (dim 1) into ``groups`` and interleave them: (N, g*k, ...) -> (N, k*g, ...)."""
    _need_tensor(input, "input", "channel_shuffle")
    g = int(groups)
    if input.ndim < 3:
        raise ValueError(
            f"channel_shuffle: expected an input with at least 3 dimensions (N, C, *), got shape {_shape(input)}"
        )
    c = input.shape[1]
    if g <= 0 or c % g:
        raise ValueError(
            f"channel_shuffle: number of channels ({c}) must be divisible by groups ({groups}); got input of shape "
            f"{_shape(input)}"
        )
    n, rest = input.shape[0], tuple(input.shape[2:])
    x = input.reshape((n, g, c // g) + rest)
    return x.transpose(1, 2).reshape((n, c) + rest)


native_channel_shuffle = channel_shuffle


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + g) / tau) with g ~ Gumbel(0, 1); ``hard=True`` returns the one-hot argmax in the forward
    pass with the soft sample's gradient (straight-through)."""
    _need_float(logits, "logits", "gumbel_softmax")
    a = logits._data
    gumbels = -np.log(_gen(None).np.exponential(1.0, a.shape)).astype(a.dtype)
    y_soft = O.softmax((logits + Tensor._wrap(gumbels)) / tau, dim)
    if not hard:
        return y_soft
    idx = np.argmax(y_soft._data, axis=dim)
    one = np.zeros_like(y_soft._data)
    np.put_along_axis(one, np.expand_dims(idx, dim), 1.0, axis=dim)
    return Tensor._wrap(one) - y_soft.detach() + y_soft


def pdist(input, p=2):
    """The p-norm distances between all pairs of rows of an (N, M) input: the upper triangle, N*(N-1)/2 values."""
    _need_float(input, "input", "pdist")
    if input.ndim != 2:
        raise RuntimeError(f"pdist: only supports 2D tensors (N, M), got {input.ndim}D input of shape {_shape(input)}")
    if p < 0:
        raise RuntimeError(f"pdist: only supports non-negative p values, got p={p}")
    n = input.shape[0]
    i, j = np.triu_indices(n, 1)
    if i.size == 0:
        return O.zeros((0,), dtype=input.dtype)
    d = input[Tensor._wrap(i.astype(np.int64))] - input[Tensor._wrap(j.astype(np.int64))]
    return O.norm(d, p, dim=1) if p != 0 else (d != 0).to(input.dtype).sum(1)


# ============================================================================ margin losses


def _reduction(size_average, reduce, reduction):
    return _F()._legacy_reduction(size_average, reduce, reduction)


def _int_target(target, op):
    _need_tensor(target, "target", op)
    if target._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected an integer (int64) target, got {target.dtype}; convert it with .long()")
    return target._data.astype(np.int64)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """sum_{j != y} max(0, margin - x[y] + x[j]) ** p * weight[y] / C for each sample (input (N, C) or (C,))."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, multi_margin_loss, input, target, p, margin, weight, size_average, reduce, reduction)
    op = "multi_margin_loss"
    _need_float(input, "input", op)
    reduction = _reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 are supported, got p={p}")
    t = _int_target(target, op)
    x = input if input.ndim == 2 else input.reshape(1, -1)
    if input.ndim not in (1, 2) or t.size != x.shape[0] or t.ndim > 1:
        raise RuntimeError(
            f"{op}: expected input of shape (N, C) or (C,) and target of shape (N,) or (); got input "
            f"{_shape(input)} and target {_shape(target)}"
        )
    n, c = x.shape
    t = t.reshape(-1)
    if t.size and (t.min() < 0 or t.max() >= c):
        raise IndexError(f"{op}: target values must be in [0, {c - 1}] for {c} classes, got {t.tolist()}")
    tt = Tensor._wrap(t.reshape(n, 1))
    xy = O.gather(x, 1, tt)
    z = O.relu(x - xy + margin)  # torch counts only z > 0 (no gradient at exactly the margin)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * O.gather(weight.reshape(1, -1).expand(n, c), 1, tt)
    notself = np.ones((n, c), dtype=bool)
    notself[np.arange(n), t] = False
    z = O.where(Tensor._wrap(notself), z, O.zeros_like(z))
    loss = z.sum(1) / c
    if input.ndim == 1:
        loss = loss.reshape(())
    return _F()._reduce(loss, reduction, op)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over target labels j and non-target classes i of max(0, 1 - (x[j] - x[i])) / C; ``target`` holds class
    indices padded with -1 (only the labels before the first -1 count)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, multilabel_margin_loss, input, target, size_average, reduce, reduction)
    op = "multilabel_margin_loss"
    _need_float(input, "input", op)
    reduction = _reduction(size_average, reduce, reduction)
    t = _int_target(target, op)
    if input.ndim not in (1, 2) or t.shape != tuple(input.shape):
        raise RuntimeError(
            f"{op}: expected input and target of the same shape (N, C) or (C,); got input {_shape(input)} and "
            f"target {_shape(target)}"
        )
    x = input if input.ndim == 2 else input.reshape(1, -1)
    t = t.reshape(x.shape)
    n, c = x.shape
    if t.size and (t.max() >= c or t.min() < -1):
        raise IndexError(f"{op}: target values must be in [-1, {c - 1}] for {c} classes")
    is_target = np.zeros((n, c), dtype=bool)
    valid = np.ones((n, c), dtype=bool)
    for r in range(n):
        stop = np.flatnonzero(t[r] < 0)
        k = stop[0] if stop.size else c
        valid[r, k:] = False
        is_target[r, t[r, :k]] = True
    # pairs (j target slot, i class): hinge on 1 - x[t_j] + x[i] where class i is not a target
    tj = np.where(valid, t, 0)
    xt = O.gather(x, 1, Tensor._wrap(tj))  # (n, c): x at target slot j
    h = O.relu(x.reshape(n, 1, c) - xt.reshape(n, c, 1) + 1.0)  # no gradient at exactly the margin (torch)
    mask = valid[:, :, None] & ~is_target[:, None, :]
    h = O.where(Tensor._wrap(mask), h, O.zeros_like(h))
    loss = h.sum((1, 2)) / c
    if input.ndim == 1:
        loss = loss.reshape(())
    return _F()._reduce(loss, reduction, op)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-mean over classes of y log sigmoid(x) + (1 - y) log sigmoid(-x) (times ``weight``) per sample."""
    op = "multilabel_soft_margin_loss"
    _need_float(input, "input", op)
    _need_tensor(target, "target", op)
    reduction = _reduction(size_average, reduce, reduction)
    if _shape(input) != _shape(target):
        raise ValueError(
            f"{op}: target size ({_shape(target)}) must be the same as input size ({_shape(input)})"
        )
    F = _F()
    y = target.to(input.dtype)
    loss = -(y * F.logsigmoid(input) + (1 - y) * F.logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(-1) / input.shape[-1] if input.ndim else loss
    return F._reduce(loss, reduction, op)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with a user ``distance_function`` (default: pairwise_distance)."""
    op = "triplet_margin_with_distance_loss"
    for name, v in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        _need_tensor(v, name, op)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; use 'mean', 'sum' or 'none'")
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError(
            f"{op}: the anchor, positive and negative tensors must have the same number of dimensions, got shapes "
            f"{_shape(anchor)}, {_shape(positive)}, {_shape(negative)}"
        )
    F = _F()
    dist = distance_function if distance_function is not None else F.pairwise_distance
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = O.minimum(d_neg, dist(positive, negative))
    return F._reduce(O.clamp(d_pos - d_neg + margin, min=0.0), reduction, op)


# ============================================================================ max_unpool


def _ntuple(v, n, name, op):
    if isinstance(v, numbers.Integral):
        return (int(v),) * n
    t = tuple(int(a) for a in v)
    if len(t) != n:
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


def _max_unpoolnd(nd, input, indices, kernel_size, stride, padding, output_size, op):
    _need_float(input, "input", op)
    _need_tensor(indices, "indices", op)
    if indices._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: indices must be an integer (int64) tensor, got {indices.dtype}")
    if input.ndim not in (nd + 1, nd + 2) or _shape(indices) != _shape(input):
        raise RuntimeError(
            f"{op}: expected a {nd + 1}-D or {nd + 2}-D input with indices of the same shape, got input "
            f"{_shape(input)} and indices {_shape(indices)}"
        )
    k = _ntuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None else _ntuple(stride, nd, "stride", op)
    p = _ntuple(padding, nd, "padding", op)
    ins = tuple(input.shape[-nd:])
    default = tuple((i - 1) * st - 2 * pp + kk for i, st, pp, kk in zip(ins, s, p, k))
    if output_size is None:
        outs = default
    else:
        outs = tuple(int(v) for v in output_size)
        if len(outs) == nd + 2 or len(outs) == nd + 1:
            outs = outs[-nd:]
        if len(outs) != nd:
            raise ValueError(f"{op}: output_size must have {nd} elements (or {nd + 2}), got {output_size!r}")
        for o, d, st in zip(outs, default, s):
            if not d - st < o < d + st:
                raise ValueError(
                    f"{op}: invalid output_size {tuple(output_size)}: each size must be within (default - stride, "
                    f"default + stride) of the default {default}"
                )
    lead = tuple(input.shape[:-nd])
    total = int(np.prod(outs))
    idx = indices._data.astype(np.int64).reshape(lead + (-1,))
    if idx.size and (idx.min() < 0 or idx.max() >= total):
        raise IndexError(
            f"{op}: found an invalid max index {int(idx.max() if idx.max() >= total else idx.min())} for an output "
            f"of spatial size {outs} ({total} elements); the indices must come from the matching max_pool with "
            "return_indices=True"
        )
    flat = input.reshape(lead + (-1,))
    out = O.scatter(O.zeros(lead + (total,), dtype=input.dtype), len(lead), Tensor._wrap(idx), flat)
    return out.reshape(lead + outs)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of ``max_pool1d``: values go back to the positions in ``indices``, zeros elsewhere."""
    return _max_unpoolnd(1, input, indices, kernel_size, stride, padding, output_size, "max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of ``max_pool2d``: values go back to the positions in ``indices``, zeros elsewhere."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, max_unpool2d, input, indices, kernel_size, stride, padding, output_size)
    return _max_unpoolnd(2, input, indices, kernel_size, stride, padding, output_size, "max_unpool2d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of ``max_pool3d``: values go back to the positions in ``indices``, zeros elsewhere."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, max_unpool3d, input, indices, kernel_size, stride, padding, output_size)
    return _max_unpoolnd(3, input, indices, kernel_size, stride, padding, output_size, "max_unpool3d")


# ============================================================================ dropout variants


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels (dim 1): dropped channels take SELU's negative saturation value, then the
    output is rescaled to keep zero mean and unit variance."""
    op = "feature_alpha_dropout"
    _need_float(input, "input", op)
    if inplace:
        return _inplace(input, lambda x: feature_alpha_dropout(x, p, training))
    if not isinstance(p, numbers.Real) or p < 0 or p > 1:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if input.ndim < 2:
        raise RuntimeError(f"{op}: expected an input with at least 2 dimensions (N, C, ...), got shape {_shape(input)}")
    if p == 1:
        return input * 0.0
    alpha = 1.7580993408473766
    mshape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    dt = input._data.dtype
    keep = (_gen(None).np.random(mshape) >= p).astype(dt)
    a = 1.0 / np.sqrt((alpha * alpha * p + 1) * (1 - p))
    b = (keep - 1) * (alpha * a) + alpha * a * p
    return input * Tensor._wrap((keep * a).astype(dt)) + Tensor._wrap(b.astype(dt))


# ============================================================================ embedding_bag


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, means or maxes of bags of embedding rows. ``input`` is (B, L) (one bag per row) or 1-D with
    ``offsets`` giving where each bag starts; entries equal to ``padding_idx`` are left out; an empty bag gives
    zeros. ``per_sample_weights`` (mode='sum' only) scales each looked-up row."""
    op = "embedding_bag"
    F = _F()
    _need_float(weight, "weight", op)
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (num_embeddings, embedding_dim), got shape {_shape(weight)}")
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise ValueError(f"{op}: input must be an integer (int64) tensor of indices, got {idx.dtype}; use .long()")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode has to be one of 'sum', 'mean' or 'max', got {mode!r}")
    if scale_grad_by_freq:
        raise NotImplementedError(f"{op}: scale_grad_by_freq=True is not supported in ember")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                f"{op}: per_sample_weights was not None; per_sample_weights is only supported for mode='sum' "
                f"(got mode={mode!r}). Please open a feature request on GitHub."
            )
        if _shape(per_sample_weights) != tuple(idx.shape):
            raise ValueError(
                f"{op}: per_sample_weights of shape {_shape(per_sample_weights)} must have the same shape as the "
                f"input {tuple(idx.shape)}"
            )
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(
                f"{op}: if input is 2D, then offsets has to be None, as input is treated as a mini-batch of fixed "
                f"length sequences. However, found offsets of type {type(offsets).__name__}"
            )
        b, ln = idx.shape
        starts = np.arange(b, dtype=np.int64) * ln
        flat = idx.reshape(-1)
        psw = per_sample_weights.reshape(-1) if per_sample_weights is not None else None
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError(f"{op}: offsets has to be a 1D Tensor but got None (input is 1-D of shape {idx.shape})")
        off = offsets._data if isinstance(offsets, Tensor) else np.asarray(offsets)
        if off.ndim != 1:
            raise ValueError(f"{op}: offsets has to be a 1D Tensor, got shape {off.shape}")
        off = off.astype(np.int64)
        if off.size and (off[0] != 0 or (np.diff(off) < 0).any() or off[-1] > idx.size):
            raise ValueError(
                f"{op}: offsets must start at 0, be non-decreasing and not exceed the input length ({idx.size}); "
                f"got {off.tolist()}"
            )
        if include_last_offset:
            if off.size == 0:
                raise ValueError(f"{op}: include_last_offset=True needs at least one offset")
            starts = off[:-1]
            ends_last = int(off[-1])
        else:
            starts = off
            ends_last = idx.size
        flat = idx[:ends_last] if include_last_offset else idx
        psw = per_sample_weights if per_sample_weights is not None else None
        if include_last_offset and psw is not None:
            psw = psw[:ends_last]
    else:
        raise ValueError(f"{op}: input has to be 1D or 2D Tensor, but got Tensor of dimension {idx.ndim}")
    nb = starts.size
    n_rows, d = weight.shape
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += n_rows
        if not 0 <= padding_idx < n_rows:
            raise ValueError(f"{op}: padding_idx must be within num_embeddings ({n_rows})")
    m = flat.size
    ends = np.append(starts[1:], m) if nb else starts
    bag_of = np.zeros(m, dtype=np.int64)
    for bi in range(nb):
        bag_of[starts[bi]:ends[bi]] = bi
    valid = np.ones(m, dtype=bool) if padding_idx is None else flat != padding_idx
    rows = F.embedding(Tensor._wrap(flat), weight, max_norm=max_norm, norm_type=norm_type)  # (m, d)
    if mode in ("sum", "mean"):
        s = np.zeros((nb, m), dtype=weight._data.dtype)
        cols = np.flatnonzero(valid)
        s[bag_of[cols], cols] = 1.0
        if mode == "mean":
            cnt = s.sum(1, keepdims=True)
            s = s / np.maximum(cnt, 1)
        sm = Tensor._wrap(s)
        if psw is not None:
            rows = rows * psw.reshape(-1, 1)
        return O.matmul(sm, rows)
    # max: per bag and column, the first row holding the maximum
    w = rows._data
    arg = np.zeros((nb, d), dtype=np.int64)
    nonempty = np.zeros(nb, dtype=bool)
    for bi in range(nb):
        members = np.flatnonzero(valid[starts[bi]:ends[bi]]) + starts[bi]
        if members.size:
            nonempty[bi] = True
            arg[bi] = members[np.argmax(w[members], axis=0)]
    out = O.gather(rows, 0, Tensor._wrap(arg))
    if not nonempty.all():
        out = O.where(Tensor._wrap(nonempty[:, None]), out, O.zeros_like(out))
    return out


# ============================================================================ deprecated upsampling wrappers


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode='nearest')``."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return _F().interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode='bilinear', align_corners=True)``."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return _F().interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ============================================================================ linear_cross_entropy


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None, reduction="mean",  # noqa: A002
                         ignore_index=None, label_smoothing=0.0, options=None):
    """``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)`` (ember computes the logits in
    one piece; ``options`` only tunes torch's chunking and is accepted and ignored)."""
    op = "linear_cross_entropy"
    F = _F()
    _need_float(input, "input", op)
    _need_float(linear_weight, "linear_weight", op)
    if linear_weight.ndim != 2:
        raise NotImplementedError(
            f"{op}: only a 2-D linear_weight (num_classes, in_features) is supported in ember, got shape "
            f"{_shape(linear_weight)}; compute linear() then cross_entropy() for K-dimensional outputs"
        )
    if input.shape[-1] != linear_weight.shape[1]:
        raise RuntimeError(
            f"{op}: input of shape {_shape(input)} does not match linear_weight of shape {_shape(linear_weight)}: "
            f"the last input dim must equal in_features ({linear_weight.shape[1]})"
        )
    if input.ndim not in (1, 2):
        raise RuntimeError(f"{op}: expected input with dimensionality 1 or 2, got {input.ndim} (shape {_shape(input)})")
    logits = F.linear(input, linear_weight, linear_bias)
    return F.cross_entropy(logits, target, weight=weight, reduction=reduction,
                           ignore_index=-100 if ignore_index is None else ignore_index,
                           label_smoothing=label_smoothing)

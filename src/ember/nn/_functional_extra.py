"""More of ``torch.nn.functional``, composed from ember's differentiable ops: ``rms_norm``,
``pixel_shuffle``/``pixel_unshuffle``, ``hardshrink``/``softshrink``, ``triplet_margin_loss``."""
from __future__ import annotations

import numpy as np

from .. import _ops as O
from .._tensor import Tensor
from .. import _autocast as _ac

__all__ = ["rms_norm", "pixel_shuffle", "pixel_unshuffle", "hardshrink", "softshrink", "triplet_margin_loss"]


def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002
    """x / sqrt(mean(x^2 over the last dims) + eps) * weight; ``eps`` defaults to the dtype's machine epsilon."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape or k > input.ndim:
        raise RuntimeError(
            f"rms_norm: normalized_shape {list(normalized_shape)} does not match the last dims of the input of "
            f"shape {tuple(input.shape)}"
        )
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps)
    if weight is not None and tuple(weight.shape) != normalized_shape:
        raise RuntimeError(
            f"rms_norm: weight must have the normalized shape {list(normalized_shape)}, got {list(weight.shape)}"
        )
    if input._data.dtype.kind == "f" and k > 0:
        from ._fused import rms_norm as _fused_rms

        out = _fused_rms(input, k, weight, eps)
        if out is not None:
            return out
    dims = tuple(range(input.ndim - k, input.ndim))
    out = input * O.rsqrt(O.mean(input * input, dims, keepdim=True) + eps)
    return out * weight if weight is not None else out


def pixel_shuffle(input, upscale_factor):  # noqa: A002
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    r = int(upscale_factor)
    *lead, c, h, w = input.shape
    if input.ndim < 3 or c % (r * r):
        raise RuntimeError(
            f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor "
            f"({r * r}), but input of shape {tuple(input.shape)} has {c} channels"
        )
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    n = len(lead)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):  # noqa: A002
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    r = int(downscale_factor)
    *lead, c, h, w = input.shape
    if input.ndim < 3 or h % r or w % r:
        raise RuntimeError(
            f"pixel_unshuffle expects height and width divisible by downscale_factor ({r}), got input of shape "
            f"{tuple(input.shape)}"
        )
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def hardshrink(input, lambd=0.5, *, out=None):  # noqa: A002
    """x where |x| > lambd, else 0."""
    if out is not None:
        from .. import _out

        return _out.into(out, "hardshrink", hardshrink, input, lambd)
    a = input._data
    return O.where(Tensor._wrap(~(np.abs(a) <= lambd)), input, O.zeros_like(input))  # nan stays nan, as torch


def softshrink(input, lambd=0.5):  # noqa: A002
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    if not lambd >= 0:
        raise RuntimeError(f"softshrink: lambda must be non-negative (in [0, inf)), but found {lambd}")
    a = input._data
    shift = np.where(a > lambd, -lambd, np.where(a < -lambd, lambd, 0)).astype(a.dtype)
    keep = Tensor._wrap(~(np.abs(a) <= lambd))  # nan stays nan, as torch
    return O.where(keep, input + Tensor._wrap(shift), O.zeros_like(input))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with d the pairwise p-norm distance."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, triplet_margin_loss, anchor, positive, negative, margin, p, eps, swap, size_average, reduce, reduction)
    from .functional import _legacy_reduction, _reduce, pairwise_distance

    reduction = _legacy_reduction(size_average, reduce, reduction)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = O.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(O.clamp(d_pos - d_neg + margin, min=0.0), reduction, "triplet_margin_loss")

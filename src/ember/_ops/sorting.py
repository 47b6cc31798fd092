"""Sorting and searching: ``sort``, ``topk``, ``unique``, ``searchsorted``, ``quantile``..."""
from __future__ import annotations


import numpy as np

from .._tensor import Tensor
from ._registry import tensor_method
from ._helpers import _dim, _public, _pyslice
from .creation import zeros_like
from .unary import _arr
from .reduce import TakeAlong, _ValuesIndices
from .shape import flatten, movedim, reshape, select, squeeze, unsqueeze
from .index import getitem
from .binary import where
from .. import _out
from .. import _autocast as _ac


@tensor_method
def sort(input, dim=-1, descending=False, *, stable=False, out=None):
    """Sorted values (differentiable) and their indices."""
    if out is not None:
        return _out.into(out, "sort", sort, input, dim, descending, stable=stable)
    ax = _dim(dim, input.ndim, "sort")
    a = input._data if input.ndim else input._data.reshape(1)
    if descending:
        # stable descending order that keeps NaN first like torch
        idx = np.flip(np.argsort(np.flip(a, ax if input.ndim else 0), axis=ax if input.ndim else 0, kind="stable"), ax if input.ndim else 0)
        n = a.shape[ax if input.ndim else 0]
        idx = n - 1 - idx
    else:
        idx = np.argsort(a, axis=ax if input.ndim else 0, kind="stable")
    if input.ndim == 0:
        return _ValuesIndices((input * 1, Tensor._wrap(np.zeros((), np.int64))))
    vals = TakeAlong(idx, ax)(input)
    return _ValuesIndices((vals, Tensor._wrap(idx.astype(np.int64))))


@tensor_method
def argsort(input, dim=-1, descending=False, *, stable=False, out=None):
    if out is not None:
        return _out.into(out, "argsort", argsort, input, dim, descending, stable=stable)
    return sort(input, dim, descending, stable=stable)[1]


@tensor_method
def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):
    """The ``k`` largest (or smallest) values along ``dim`` and their indices."""
    if out is not None:
        return _out.into(out, "topk", topk, input, k, dim, largest, sorted)
    ax = _dim(dim, input.ndim, "topk")
    n = input.shape[ax] if input.ndim else 1
    if k < 0 or k > n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dimension {ax} of size {n}")
    vals, idx = sort(input, ax, descending=largest)
    if input.ndim == 0:  # k is 0 or 1 here; torch gives the 0-d value itself (k = 0 is not checked further)
        return _ValuesIndices((vals, idx))
    sl = (_pyslice(None),) * ax + (_pyslice(0, k),)
    return _ValuesIndices((getitem(vals, sl), Tensor._wrap(np.ascontiguousarray(idx._data[sl]))))


@tensor_method
def kthvalue(input, k, dim=-1, keepdim=False, *, out=None):
    if out is not None:
        return _out.into(out, "kthvalue", kthvalue, input, k, dim, keepdim)
    vals, idx = sort(input, dim)
    ax = _dim(dim, input.ndim, "kthvalue")
    if input.ndim == 0:
        if k != 1:
            raise RuntimeError(f"kthvalue(): selected number k ({k}) out of range for a 0-d tensor (k must be 1)")
        return _ValuesIndices((vals, idx))
    n = input.shape[ax]
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k ({k}) out of range for dimension {ax} of size {n}")
    v = select(vals, ax, k - 1)
    i = Tensor._wrap(np.take(idx._data, k - 1, axis=ax))
    if keepdim:
        v, i = unsqueeze(v, ax), Tensor._wrap(np.expand_dims(i._data, ax))
    return _ValuesIndices((v, i))


def _share_ties(x, value):
    """``value`` (an element of ``x`` picked by a reduction over all of ``x``) with its gradient shared evenly
    by every element equal to it (every NaN when it is NaN), as torch's ``median()``/``nanmedian()``."""
    if not value.requires_grad:
        return value
    v = value._data
    xd = x._data
    tie = (xd == v) | (np.isnan(xd) & np.isnan(v)) if xd.dtype.kind == "f" else xd == v
    k = int(tie.sum())
    if k <= 1:
        return value
    xs = x - x.detach()  # zeros (NaN at NaNs) carrying x's gradient
    z = Tensor._wrap(np.zeros((), xd.dtype))
    out = value.detach() + (where(Tensor._wrap(tie), xs, z)).sum() / k
    if out.grad_fn is not None:
        out.grad_fn._grad_name = value.grad_fn.name()
    return out


@tensor_method
def median(input, dim=None, keepdim=False, *, out=None):
    if out is not None:
        return _out.into(out, "median", median, input, dim, keepdim)
    nan = np.isnan(input._data) if input._data.dtype.kind == "f" else None
    if dim is None:
        flat = flatten(input)
        vals, _ = sort(flat)
        n_nan = int(nan.sum()) if nan is not None else 0
        # torch: a NaN anywhere makes the median NaN (the first one, NaNs sort last)
        return _share_ties(input, vals[flat.shape[0] - n_nan if n_nan else (flat.shape[0] - 1) // 2])
    ax = _dim(dim, input.ndim, "median")
    if input.ndim == 0:
        return _ValuesIndices((input * 1, Tensor._wrap(np.zeros((), np.int64))))
    if nan is None or input.ndim == 0 or not nan.any():
        return kthvalue(input, (input.shape[ax] + 1) // 2, ax, keepdim)
    # slices holding a NaN give NaN and the index of their first NaN, as torch's (the stable sort puts it at n - count)
    vals, idx = sort(input, ax)
    n = input.shape[ax]
    cnt = nan.sum(axis=ax, keepdims=True)
    k = np.where(cnt > 0, n - cnt, (n - 1) // 2).astype(np.int64)
    v = TakeAlong(k, ax)(vals)
    i = np.take_along_axis(idx._data, k, ax)
    if not keepdim:
        v, i = squeeze(v, ax), np.squeeze(i, ax)
    return _ValuesIndices((v, Tensor._wrap(i)))


@tensor_method
def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """Sorted unique values (or slices along ``dim``); each NaN is its own value, as torch's."""
    axis = None if dim is None else _dim(dim, x.ndim, "unique")
    if axis is not None and x.shape[axis] and 0 in x.shape:
        raise RuntimeError("unique: there are 0 sized dimensions, and they aren't selected, so unique cannot be "
                           "applied")
    res = np.unique(x._data, return_inverse=return_inverse, return_counts=return_counts, axis=axis,
                    equal_nan=False)
    if not (return_inverse or return_counts):
        return Tensor._wrap(res)
    out = [Tensor._wrap(res[0])]
    i = 1
    if return_inverse:
        inv = res[i].reshape(x._data.shape if axis is None else (x.shape[axis],))
        out.append(Tensor._wrap(inv.astype(np.int64)))
        i += 1
    if return_counts:
        out.append(Tensor._wrap(res[i].astype(np.int64)))
    return tuple(out)


@tensor_method
def bincount(input, weights=None, minlength=0):
    return Tensor._wrap(np.bincount(input._data, None if weights is None else weights._data, minlength))


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None, out=None):
    """Indices where ``input``'s values would be inserted in the (last dim of the) sorted sequence."""
    if out is not None:
        return _out.into(out, "searchsorted", searchsorted, sorted_sequence, input, out_int32=out_int32, right=right,
                         side=side, sorter=sorter)
    if side is not None and side not in ("left", "right"):
        raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side!r}")
    if side == "left" and right:
        raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left while "
                           "right was True")
    side = side or ("right" if right else "left")
    seq = sorted_sequence._data
    if sorter is not None:
        seq = np.take_along_axis(seq, _arr(sorter).astype(np.int64), -1)
    vals = _arr(input)
    if seq.ndim <= 1:
        res = np.searchsorted(seq, vals, side=side)
    else:
        flat_s, flat_v = seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1])
        res = np.stack([np.searchsorted(a, v, side=side) for a, v in zip(flat_s, flat_v)]).reshape(vals.shape)
    return Tensor._wrap(np.asarray(res).astype(np.int32 if out_int32 else np.int64))


def one_hot(x, num_classes=-1):
    """Integer class labels -> an int64 one-hot tensor with a new last dim."""
    if x._data.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensors (int64), got {x.dtype}")
    if x._data.size and x._data.min() < 0:
        raise RuntimeError(f"one_hot: Class values must be non-negative, got {int(x._data.min())}")
    if num_classes == -1:
        num_classes = int(x._data.max()) + 1 if x._data.size else 0
    if x._data.size and x._data.max() >= num_classes:
        raise RuntimeError(f"one_hot: Class values must be smaller than num_classes ({num_classes}), got {int(x._data.max())}")
    return Tensor._wrap((x._data[..., None] == np.arange(num_classes)).astype(np.int64))


def zeros_like_ns(x):
    return zeros_like(x)


def bucketize(input, boundaries, *, right=False, out_int32=False, out=None):  # noqa: A002
    """Index of the bucket of each value, given sorted 1-D ``boundaries``."""
    if out is not None:
        return _out.into(out, "bucketize", bucketize, input, boundaries, right=right, out_int32=out_int32)
    res = np.searchsorted(_arr(boundaries), _arr(input), side="right" if right else "left")
    return Tensor._wrap(res.astype(np.int32 if out_int32 else np.int64))


@tensor_method
def unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    """Collapse runs of equal consecutive elements (of the flattened tensor)."""
    if dim is not None:
        raise NotImplementedError("unique_consecutive: dim is not supported; flatten first")
    a = x._data.reshape(-1)
    start = np.ones(a.shape, dtype=bool)
    start[1:] = a[1:] != a[:-1]
    out = [Tensor._wrap(a[start])]
    if return_inverse:
        out.append(Tensor._wrap((np.cumsum(start) - 1).reshape(x._data.shape).astype(np.int64)))
    if return_counts:
        out.append(Tensor._wrap(np.diff(np.append(np.flatnonzero(start), a.size)).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


@tensor_method
def msort(input, *, out=None):
    if out is not None:
        return _out.into(out, "msort", msort, input)
    return sort(input, 0)[0]


@tensor_method
def quantile(input, q, dim=None, keepdim=False, *, interpolation='linear', out=None):
    """q-th quantiles along ``dim`` (of all elements when None), differentiable through the sorted values."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, quantile, input, q, dim, keepdim, interpolation=interpolation, out=out)
    if out is not None:
        return _out.into(out, "quantile", quantile, input, q, dim, keepdim, interpolation=interpolation)
    if interpolation not in ("linear", "lower", "higher", "nearest", "midpoint"):
        raise ValueError(f"quantile: interpolation {interpolation!r} is not one of linear, lower, higher, "
                         "nearest, midpoint")
    return _quantile(input, q, dim, keepdim, interpolation, "quantile", skip_nan=False)


def _quantile(input, q, dim, keepdim, interpolation, op, skip_nan):
    """``quantile`` (a NaN in a slice makes its quantiles NaN) or ``nanquantile`` (``skip_nan``: NaNs are left
    out, an all-NaN slice gives NaN), differentiable through the sorted values as torch's."""
    scalar_q = np.ndim(_arr(q)) == 0  # a number or a 0-d tensor: no q dim, as torch's
    qa = np.atleast_1d(np.asarray(_arr(q), dtype=np.float64))
    if qa.ndim > 1:
        raise RuntimeError(f"{op}() q must be a scalar or 1D tensor, got {qa.ndim} dims")
    if ((qa < 0) | (qa > 1)).any():
        raise RuntimeError(f"{op}() q values must be in the range [0, 1], got {qa.tolist()}")
    if dim is None:
        src, ax = reshape(input, (-1,)), 0
    else:
        src, ax = input, _dim(dim, input.ndim, op)
    if src.ndim == 0:
        src, ax = reshape(src, (1,)), 0
    s = movedim(sort(src, ax)[0], ax, -1)  # (..., N), NaNs last
    nan = np.isnan(s._data) if s._data.dtype.kind == "f" else np.zeros(s.shape, dtype=bool)
    n_nan = nan.sum(-1, keepdims=True)
    n = s.shape[-1] - n_nan if skip_nan else np.full(n_nan.shape, s.shape[-1])
    pos = qa * np.maximum(n - 1, 0)  # (..., Q)
    lo = np.floor(pos).astype(np.int64)
    hi = np.ceil(pos).astype(np.int64)
    frac_ = pos - lo
    if interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    elif interpolation == "nearest":
        lo = hi = np.round(pos).astype(np.int64)  # round half to even, as torch does
    elif interpolation == "midpoint":
        frac_ = np.where(hi > lo, 0.5, 0.0)
    if s.shape[-1] == 0:
        raise RuntimeError(f"{op}() input tensor must be non-empty")
    # a slice with a NaN (quantile) is its last sorted value, an all-NaN slice (nanquantile) its first: NaN,
    # with the gradient on that element, as torch's
    bad = np.broadcast_to((n == 0) if skip_nan else (n_nan > 0), lo.shape)
    if bad.any():
        lo = np.where(bad, 0 if skip_nan else s.shape[-1] - 1, lo)
        hi = np.where(bad, lo, hi)
    vlo = TakeAlong(lo, -1)(s)
    if interpolation in ("linear", "midpoint"):
        vhi = TakeAlong(hi, -1)(s)
        frac_ = np.where(hi > lo, frac_, 0.0)
        w = frac_.astype(s._data.dtype)
        d = vhi - vlo
        # torch's lerp: start + w * d below w = 0.5, end - d * (1 - w) from there (the same values, signed zeros too)
        res = where(Tensor._wrap(w < 0.5), vlo + d * Tensor._wrap(w), vhi - d * Tensor._wrap(1 - w))
    else:
        res = vlo
    res = movedim(res, -1, 0)  # torch puts the q dim first
    if keepdim:
        if dim is None:
            res = reshape(res, (len(qa),) + (1,) * input.ndim)
        elif input.ndim:
            res = unsqueeze(res, ax + 1)
    elif input.ndim == 0 and dim is not None:
        res = reshape(res, (len(qa),))
    return res[0] if scalar_q else res


__all__ = _public(globals(), private=('zeros_like_ns',))

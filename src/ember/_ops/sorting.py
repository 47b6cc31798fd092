"""Sorting and searching: ``sort``, ``topk``, ``unique``, ``searchsorted``, ``quantile``..."""
from __future__ import annotations


import numpy as np

from .._tensor import Tensor
from ._registry import tensor_method
from ._helpers import _dim, _public, _pyslice
from .creation import zeros_like
from .unary import _arr
from .reduce import TakeAlong, _ValuesIndices
from .shape import flatten, movedim, reshape, select, unsqueeze
from .index import getitem
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
    sl = (_pyslice(None),) * ax + (_pyslice(0, k),)
    return _ValuesIndices((getitem(vals, sl), Tensor._wrap(np.ascontiguousarray(idx._data[sl]))))


@tensor_method
def kthvalue(input, k, dim=-1, keepdim=False, *, out=None):
    if out is not None:
        return _out.into(out, "kthvalue", kthvalue, input, k, dim, keepdim)
    vals, idx = sort(input, dim)
    ax = _dim(dim, input.ndim, "kthvalue")
    v = select(vals, ax, k - 1)
    i = Tensor._wrap(np.take(idx._data, k - 1, axis=ax))
    if keepdim:
        v, i = unsqueeze(v, ax), Tensor._wrap(np.expand_dims(i._data, ax))
    return _ValuesIndices((v, i))


@tensor_method
def median(input, dim=None, keepdim=False, *, out=None):
    if out is not None:
        return _out.into(out, "median", median, input, dim, keepdim)
    if dim is None:
        flat = flatten(input)
        vals, _ = sort(flat)
        return vals[(flat.shape[0] - 1) // 2]
    ax = _dim(dim, input.ndim, "median")
    return kthvalue(input, (input.shape[ax] + 1) // 2, ax, keepdim)


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
    scalar_q = not isinstance(q, Tensor) and np.ndim(q) == 0
    qa = np.atleast_1d(np.asarray(_arr(q), dtype=np.float64))
    if ((qa < 0) | (qa > 1)).any():
        raise RuntimeError(f"quantile() q values must be in the range [0, 1], got {qa.tolist()}")
    if dim is None:
        src, ax = reshape(input, (-1,)), 0
    else:
        src, ax = input, _dim(dim, input.ndim, "quantile")
    s = sort(src, ax)[0]
    n = s.shape[ax]
    pos = qa * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.ceil(pos).astype(np.int64)
    frac_ = pos - lo
    if interpolation == "lower":
        hi, frac_ = lo, frac_ * 0
    elif interpolation == "higher":
        lo, frac_ = hi, frac_ * 0
    elif interpolation == "nearest":
        lo = hi = np.round(pos).astype(np.int64)  # round half to even, as torch does
        frac_ = frac_ * 0
    elif interpolation == "midpoint":
        frac_ = np.where(hi > lo, 0.5, 0.0)
    pre = (_pyslice(None),) * ax
    vlo, vhi = getitem(s, pre + (Tensor._wrap(lo),)), getitem(s, pre + (Tensor._wrap(hi),))
    w = Tensor._wrap(frac_.astype(s._data.dtype).reshape((-1,) + (1,) * (s.ndim - ax - 1)))
    res = vlo + (vhi - vlo) * w  # (..., Q, ...) with Q at ``ax``
    res = movedim(res, ax, 0)  # torch puts the q dim first
    if keepdim:
        if dim is None:
            res = reshape(res, (len(qa),) + (1,) * input.ndim)
        else:
            res = unsqueeze(res, ax + 1)
    return res[0] if scalar_q else res


__all__ = _public(globals(), private=('zeros_like_ns',))

"""Indexing: ``x[idx]`` / ``x[idx] = v``, ``gather``/``scatter``, ``index_*``, ``masked_*``, ``*_scatter``."""
from __future__ import annotations

import builtins

import numpy as np

from .._tensor import Tensor
from ..autograd.engine import Node
from ..autograd.functional_ns import add_at
from ..autograd.grad_mode import STATE
from ._registry import tensor_method
from ._helpers import _dim, _public, _pyslice
from .creation import ones_like, tensor, zeros_like
from .casting import cast
from .unary import _arr
from .binary import clamp_min, floor_divide, where
from .reduce import TakeAlong
from .shape import _make_view, expand, flatten, permute, reshape


def _norm_index(x, idx, op="index"):
    """Turn a Python/tensor index into a NumPy index, checking bounds with a clear error."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    out = []
    dim = 0
    ndim = x.ndim
    n_consumed = builtins.sum(
        (i.ndim if isinstance(i, Tensor) and i._data.dtype == np.bool_ else
         (np.asarray(i).ndim if isinstance(i, np.ndarray) and i.dtype == np.bool_ else
          (0 if i is None or i is Ellipsis else 1)))
        for i in idx
    )
    if n_consumed > ndim:
        raise IndexError(f"{op}: too many indices for tensor of dimension {ndim} (got {n_consumed})")
    guards = []
    for i in idx:
        if i is Ellipsis:
            out.append(i)
            dim = ndim - (n_consumed - dim)
            continue
        if i is None:
            out.append(None)
            continue
        if isinstance(i, Tensor):
            a = i._data
            guards.append(i)
        elif isinstance(i, (list, tuple, range)):
            a = np.asarray(i)
            if a.dtype == object or (a.size and a.dtype.kind not in "iub"):
                raise IndexError(f"{op}: tensors used as indices must be long, int, bool or byte tensors")
            if a.size == 0:
                a = a.astype(np.int64)
        elif isinstance(i, np.ndarray):
            a = i.copy()  # like torch, a NumPy index is taken by value: later changes to it change nothing
        else:
            a = None
        if a is not None:
            if a.dtype == np.bool_:
                shp = tuple(x.shape[dim:dim + a.ndim])
                if a.shape != shp:
                    raise IndexError(
                        f"{op}: the shape of the mask {a.shape} at index {dim} does not match the shape of the "
                        f"indexed tensor {tuple(x.shape)}"
                    )
                out.append(a)
                dim += a.ndim
                continue
            if a.dtype.kind not in "iu":
                raise IndexError(
                    f"{op}: tensors used as indices must be long, int, bool or byte tensors, got {a.dtype}"
                )
            n = x.shape[dim]
            if a.size and (a.max() >= n or a.min() < -n):
                bad = a.max() if a.max() >= n else a.min()
                raise IndexError(
                    f"{op}: index {int(bad)} is out of bounds for dimension {dim} with size {n}"
                )
            out.append(a)
            dim += 1
            continue
        if isinstance(i, _pyslice):
            out.append(i)
            dim += 1
            continue
        try:
            k = i.__index__()
        except AttributeError:
            raise IndexError(
                f"{op}: only integers, slices (`:`), ellipsis (`...`), None and long or bool tensors are valid "
                f"indices (got {type(i).__name__})"
            ) from None
        n = x.shape[dim]
        if k >= n or k < -n:
            raise IndexError(f"{op}: index {k} is out of bounds for dimension {dim} with size {n}")
        out.append(k)
        dim += 1
    return tuple(out), guards


def _torch_order(nidx, ndim):
    """``(ints_and_slices or None, advanced)`` where NumPy would order an index's dims differently from torch.

    torch applies integer indices first (as ``select``), then the advanced (tensor/mask) ones; NumPy counts
    integers as advanced indices, so ``x[0, :, mask]`` would move the mask's dim to the front. Applying the
    two parts one after the other gives torch's order. NumPy also lets an ``...`` that stands for no dims
    separate two advanced indices; torch does not, so ``...`` is spelled out as slices."""
    if not builtins.any(isinstance(i, np.ndarray) for i in nidx):
        return None
    has_ellipsis = builtins.any(i is Ellipsis for i in nidx)
    has_int = builtins.any(isinstance(i, builtins.int) for i in nidx)
    if not has_ellipsis and not has_int:
        return None
    if has_ellipsis:
        used = builtins.sum(
            (i.ndim if i.dtype == np.bool_ else 1) if isinstance(i, np.ndarray) else (0 if i is None or i is Ellipsis else 1)
            for i in nidx)
        full = []
        for i in nidx:
            full.extend([_pyslice(None)] * (ndim - used) if i is Ellipsis else [i])
        nidx = tuple(full)
        if not has_int:
            return None, nidx
    first, second = [], []
    for i in nidx:
        if isinstance(i, builtins.int):
            first.append(i)
        elif isinstance(i, np.ndarray):
            first.extend([_pyslice(None)] * (i.ndim if i.dtype == np.bool_ else 1))
            second.append(i)
        else:  # None or a slice
            first.append(i)
            second.append(_pyslice(None))
    return tuple(first), tuple(second)


def _is_basic(idx):
    return builtins.all(i is None or i is Ellipsis or isinstance(i, (int, _pyslice)) for i in idx)


class Index(Node):
    name = "IndexBackward0"
    saves = {}

    def __init__(self, idx):
        self.idx = idx

    def forward(self, x):
        self.shape = x.shape
        r = x[self.idx]
        if r.__class__ is not np.ndarray and _is_basic(self.idx):
            r = x[self.idx + (Ellipsis,)]  # all-integer index: a 0-d view, not a scalar copy
        return r

    def backward(self, ns, g, ins, out):
        return (ns.index_zeros(self.shape, self.idx, g, not _is_basic(self.idx)),)


class IndexZeros(Node):
    name = "IndexZerosBackward0"
    saves = {}

    def __init__(self, shape, idx, accumulate):
        self.shape, self.idx, self.accumulate = shape, idx, accumulate

    def forward(self, g):
        z = np.zeros(self.shape, dtype=g.dtype)
        if self.accumulate:
            add_at(z, self.idx, g)
        else:
            z[self.idx] = g
        return z

    def backward(self, ns, g, ins, out):
        return (ns.index(g, self.idx),)


def ns_index(x, idx):
    return Index(idx)(x)


def ns_index_zeros(shape, idx, g, accumulate=True):
    return IndexZeros(shape, idx, accumulate)(g)


def ns_value(x):
    return x.detach() if isinstance(x, Tensor) else x


@tensor_method(dunder="__getitem__", method=False)
def getitem(x, idx):
    """``x[idx]`` with ints, slices, None, ..., integer and boolean tensors/lists."""
    if x.ndim == 0 and not (idx is None or idx is Ellipsis or (isinstance(idx, tuple) and builtins.all(i is None or i is Ellipsis for i in idx))):
        if not (isinstance(idx, Tensor) and idx._data.dtype == np.bool_):
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` to convert a 0-dim tensor to a number")
    nidx, guards = _norm_index(x, idx, "index")
    split = _torch_order(nidx, x.ndim)
    if split is not None:
        return getitem(x if split[0] is None else getitem(x, split[0]), split[1])
    node = Index(nidx)
    out = node(x)
    if _is_basic(nidx):
        if out.grad_fn is not None:
            node._grad_name = _basic_index_name(nidx)
        return _make_view(out, x, (getitem, (nidx,)))
    if guards and out.grad_fn is not None:
        node.guard(guards)
    return out


def _basic_index_name(nidx):
    real = [i for i in nidx if i is not None and i is not Ellipsis]
    if builtins.any(isinstance(i, builtins.int) for i in real):
        return "SelectBackward0"
    if builtins.any(isinstance(i, _pyslice) and i != _pyslice(None) for i in real):
        return "SliceBackward0"
    return "AliasBackward0" if not builtins.any(i is None for i in nidx) else "UnsqueezeBackward0"


class IndexPut(Node):
    """``x[idx] = v`` as a recorded out-of-place op (the base for ``__setitem__`` in graphs)."""

    name = "IndexPutBackward0"
    saves = {}

    def __init__(self, idx):
        self.idx = idx

    def forward(self, x, v):
        out = x.copy()
        out[self.idx] = v
        self.vshape = np.shape(v)
        return out

    def backward(self, ns, g, ins, out):
        gv = ns.index(g, self.idx)
        # the overwritten positions of x get no gradient; the written value gets what reached them
        gx = g - ns.index_zeros(g.shape, self.idx, gv, False)
        return gx, gv


def _is_basic(nidx):
    parts = nidx if isinstance(nidx, tuple) else (nidx,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


def setitem(x, idx, value):
    nidx, guards = _norm_index(x, idx, "index assignment")
    split = _torch_order(nidx, x.ndim)
    if split is not None:
        return setitem(x if split[0] is None else getitem(x, split[0]), split[1], value)
    if isinstance(value, Tensor):
        vdata = value._data
    else:
        vdata = value
    a = x._data
    if (not a.flags.writeable and x._base is not None and _internal_overlap(a) and _is_basic(nidx)
            and not _internal_overlap(a[nidx])):
        # x is an expanded view, the selection is not (expand(...)[0, 0] = v): torch writes through the
        # selection's view, whose elements are distinct memory locations
        return setitem(getitem(x, nidx), Ellipsis, value)
    if STATE.enabled and x._base is not None:
        from .inplace_ops import check_nograd_view

        check_nograd_view(x, "index assignment")
    recording = STATE.enabled and (x.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
    if not recording:
        _check_writable(x, "index assignment")
        try:
            x._data[nidx] = vdata
        except ValueError as e:
            raise RuntimeError(
                f"index assignment: cannot assign a value of shape {np.shape(vdata)} to the selection of shape "
                f"{x._data[nidx].shape} of a tensor of shape {tuple(x.shape)} ({e})"
            ) from None
        x._bump()
        return
    v = value if isinstance(value, Tensor) else tensor(value, dtype=x.dtype)
    if v._data.dtype != x._data.dtype:
        v = cast(v, x.dtype)

    def make(old):
        out = IndexPut(nidx)(old, v)
        if guards and out.grad_fn is not None:
            out.grad_fn.guard(guards)
        return out

    _rebase(x, make, "index assignment")


@tensor_method
def index_select(input, dim, index, *, out=None):
    """Rows of ``input`` along ``dim`` picked by a 1-D integer ``index``."""
    if out is not None:
        return _out.into(out, "index_select", index_select, input, dim, index)
    ax = _dim(dim, input.ndim, "index_select")
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got shape {idx.shape}")
    if idx.dtype.kind not in "iu":
        raise IndexError(f"index_select(): Expected dtype int32/int64 for index but got {idx.dtype}")
    n = input.shape[ax] if input.ndim else 1
    if idx.size and (idx.max() >= n or idx.min() < 0):  # torch's refuses negative indices here
        bad = int(idx.max() if idx.max() >= n else idx.min())
        raise IndexError(f"index_select(): index {bad} is out of range for dimension {ax} with size {n}")
    return getitem(input, (_pyslice(None),) * ax + (idx.reshape(-1),))


def _nonempty_1d(input, idx):
    """torch counts a 0-d tensor as 1-d in gather/scatter (``ensure_nonempty_dim``): a 0-d ``input`` or
    index of a 1-d (or 0-d) op becomes shape (1,); returns (input, idx, input was 0-d, idx was 0-d)."""
    x0, i0 = input.ndim == 0, idx.ndim == 0
    if (x0 or i0) and builtins.max(input.ndim, idx.ndim) <= 1:
        return (reshape(input, (1,)) if x0 else input), (idx.reshape(1) if i0 else idx), x0, i0
    return input, idx, False, False


def _check_gather_index(x, ax, idx, op, negative_ok=False):
    """Index checks of gather/scatter: torch's take negative indices in ``take_along_dim`` only."""
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {idx.dtype}")
    if idx.ndim != x.ndim:
        raise RuntimeError(
            f"{op}(): Index tensor must have the same number of dimensions as input tensor "
            f"(index {idx.shape}, input {tuple(x.shape)})"
        )
    n = x.shape[ax]
    lo = -n if negative_ok else 0
    if idx.size and (idx.max() >= n or idx.min() < lo):
        bad = int(idx.max() if idx.max() >= n else idx.min())
        raise IndexError(f"{op}(): index {bad} is out of bounds for dimension {ax} with size {n}")


@tensor_method
def gather(input, dim, index, *, sparse_grad=False, out=None):
    """out[i][j] = x[i][index[i][j]] along ``dim`` (torch.gather)."""
    if out is not None:
        return _out.into(out, "gather", gather, input, dim, index)
    input, idx, _, i0 = _nonempty_1d(input, index._data)
    if i0:
        return reshape(gather(input, dim, Tensor._wrap(idx)), ())
    ax = _dim(dim, input.ndim, "gather")
    _check_gather_index(input, ax, idx, "gather")
    for d in range(input.ndim):
        if d != ax and idx.shape[d] > input.shape[d]:
            raise RuntimeError(
                f"gather(): Size does not match at dimension {d} expected index {idx.shape} to be smaller than "
                f"self {tuple(input.shape)} apart from dimension {ax}"
            )
    if idx.shape != tuple(input.shape):
        sl = tuple(_pyslice(0, idx.shape[d]) if d != ax else _pyslice(None) for d in range(input.ndim))
        input = getitem(input, sl)
    return TakeAlong(idx.astype(np.int64), ax)(input)


@tensor_method
def take_along_dim(input, indices, dim=None, *, out=None):
    """``np.take_along_axis`` with broadcasting (flattened when ``dim`` is None)."""
    if out is not None:
        return _out.into(out, "take_along_dim", take_along_dim, input, indices, dim)
    if dim is None:
        return TakeAlong(indices._data.reshape(-1), 0)(flatten(input))
    ax = _dim(dim, input.ndim, "take_along_dim")
    idx = indices._data
    shp = list(np.broadcast_shapes(tuple(input.shape[:ax] + (1,) + input.shape[ax + 1:]), idx.shape[:ax] + (1,) + idx.shape[ax + 1:]))
    xs = expand(input, tuple(shp[:ax] + [input.shape[ax]] + shp[ax + 1:]))
    idx = np.broadcast_to(idx, tuple(shp[:ax] + [idx.shape[ax]] + shp[ax + 1:]))
    _check_gather_index(xs, ax, idx, "take_along_dim", negative_ok=True)
    return TakeAlong(idx, ax)(xs)


class ScatterAdd(Node):
    name = "ScatterAddBackward0"
    saves = {}

    def __init__(self, idx, axis):
        self.idx, self.axis = idx, axis

    def forward(self, x, src):
        from ..autograd.functional_ns import _put_along_add

        out = x.copy()
        s = src[tuple(_pyslice(0, n) for n in self.idx.shape)]
        _put_along_add(out, self.idx, s, self.axis)
        self.src_shape = src.shape
        return out

    def backward(self, ns, g, ins, out):
        gs = ns.take_along(_index_region(ns, g, self.idx, self.axis), self.idx, self.axis)
        if tuple(gs.shape) != tuple(self.src_shape):
            pad = tuple(_pyslice(0, n) for n in self.idx.shape)
            gs = ns.pad_zeros(gs, self.src_shape, pad)
        return g, gs


def _index_region(ns, g, idx, axis):
    """``g`` cut to ``idx``'s extent in the dims other than ``axis`` (an index may be smaller than self there)."""
    if builtins.all(n == m for d, (n, m) in enumerate(zip(idx.shape, g.shape)) if d != axis):
        return g
    return ns.index(g, tuple(_pyslice(0, n) if d != axis else _pyslice(None) for d, n in enumerate(idx.shape)))


class Scatter(Node):
    name = "ScatterBackward0"
    saves = {}

    def __init__(self, idx, axis):
        self.idx, self.axis = idx, axis

    def forward(self, x, src):
        out = x.copy()
        s = src[tuple(_pyslice(0, n) for n in self.idx.shape)] if np.ndim(src) else src
        region = tuple(_pyslice(0, n) if d != self.axis else _pyslice(None) for d, n in enumerate(self.idx.shape))
        np.put_along_axis(out[region], self.idx, s, self.axis)  # a view: writes into out
        self.src_shape = np.shape(src)
        mask = np.zeros(x.shape, dtype=bool)
        np.put_along_axis(mask[region], self.idx, True, self.axis)
        self.mask = mask
        return out

    def backward(self, ns, g, ins, out):
        gx = ns.where(self.mask, 0 * g, g)
        gs = None
        if len(self.src_shape):
            gs = ns.take_along(_index_region(ns, g, self.idx, self.axis), self.idx, self.axis)
            if tuple(gs.shape) != tuple(self.src_shape):
                gs = ns.pad_zeros(gs, self.src_shape, tuple(_pyslice(0, n) for n in self.idx.shape))
        return gx, gs


class PadZeros(Node):
    name = "PadZerosBackward0"
    saves = {}

    def __init__(self, shape, slices):
        self.shape, self.slices = shape, slices

    def forward(self, g):
        z = np.zeros(self.shape, dtype=g.dtype)
        z[self.slices] = g
        return z

    def backward(self, ns, g, ins, out):
        return (ns.index(g, self.slices),)


def ns_pad_zeros(g, shape, slices):
    return PadZeros(tuple(shape), slices)(g)


@tensor_method
def scatter_add(input, dim, index, src, *, out=None):
    """out = x; out[index[i][j]][j] += src[i][j] along ``dim`` (duplicates accumulate)."""
    if out is not None:
        return _out.into(out, "scatter_add", scatter_add, input, dim, index, src)
    input, idx, x0, _ = _nonempty_1d(input, index._data.astype(np.int64))
    if x0:
        return reshape(scatter_add(input, dim, Tensor._wrap(idx), src), ())
    ax = _dim(dim, input.ndim, "scatter_add")
    _check_gather_index(input, ax, idx, "scatter_add")
    src = src if isinstance(src, Tensor) else tensor(src, dtype=input.dtype)
    if src.ndim == 0 and idx.ndim == 1:
        src = reshape(src, (1,))
    return ScatterAdd(idx, ax)(input, cast(src, input.dtype))


@tensor_method
def scatter(input, dim, index, src=None, value=None, *, reduce=None, out=None):
    """out = x; out[index[i][j]][j] = src[i][j] (or ``value``) along ``dim``."""
    if out is not None:
        return _out.into(out, "scatter", scatter, input, dim, index, src, value, reduce=reduce)
    if reduce == "add":
        return scatter_add(input, dim, index, src)
    if reduce is not None:
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported; use 'add' or scatter_reduce")
    input, idx, x0, _ = _nonempty_1d(input, index._data.astype(np.int64))
    if x0:
        return reshape(scatter(input, dim, Tensor._wrap(idx), src, value), ())
    ax = _dim(dim, input.ndim, "scatter")
    _check_gather_index(input, ax, idx, "scatter")
    if src is None:
        src = value
    if isinstance(src, Tensor):
        if src.ndim == 0 and idx.shape == (1,):
            src = reshape(src, (1,))  # a 0-d src is one element (its gradient flows), as torch
        return Scatter(idx, ax)(input, cast(src, input.dtype))
    return Scatter(idx, ax)(input, tensor(src, dtype=input.dtype))


@tensor_method
def index_add(input, dim, index, source, *, alpha=1, out=None):
    """out = x; out[..., index[i], ...] += alpha * source[..., i, ...] along ``dim``."""
    if out is not None:
        return _out.into(out, "index_add", index_add, input, dim, index, source, alpha=alpha)
    ax = _dim(dim, input.ndim, "index_add")
    idx = index._data.astype(np.int64)
    if idx.ndim != 1:
        raise IndexError(f"index_add(): index must be a vector, got shape {idx.shape}")
    n = input.shape[ax]
    if idx.size and (idx.max() >= n or idx.min() < 0):  # torch's refuses negative indices here
        bad = int(idx.max() if idx.max() >= n else idx.min())
        raise IndexError(f"index_add(): index {bad} is out of bounds for dimension {ax} with size {n}")
    if source.shape[ax] != idx.shape[0]:
        raise RuntimeError(
            f"index_add(): number of indices ({idx.shape[0]}) should be equal to source.size(dim) ({source.shape[ax]})"
        )
    full_idx = idx.reshape((1,) * ax + (-1,) + (1,) * (input.ndim - ax - 1))
    full_idx = np.broadcast_to(full_idx, tuple(source.shape))
    src = source * alpha if alpha != 1 else source
    return ScatterAdd(np.ascontiguousarray(full_idx), ax)(input, cast(src, input.dtype))


class MaskedFill(Node):
    """``masked_fill`` with a Python scalar (torch's ``MaskedFillBackward0``: input x) or a 0-d tensor value
    (``MaskedFillBackward1``: inputs x, value). The mask is a constant of the node, version-checked by the caller."""

    name = "MaskedFillBackward0"
    saves = {}

    def __init__(self, mask, value=None):
        self.mask, self.value = mask, value

    def forward(self, x, v=None):
        return np.where(self.mask, self.value if v is None else v, x)

    def backward(self, ns, g, ins, out):
        z = 0 * g
        need = self.needs
        gx = ns.where(self.mask, z, g) if need[0] else None
        if len(need) == 1:
            return (gx,)
        return gx, (ns.where(self.mask, g, z) if need[1] else None)


class MaskedFillTensor(MaskedFill):
    name = "MaskedFillBackward1"


@tensor_method
def masked_fill(input, mask, value):
    """Set elements where ``mask`` is True to ``value`` (the gradient is zero there)."""
    m = _arr(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype {m.dtype}")
    try:
        np.broadcast_shapes(m.shape, tuple(input.shape))
    except ValueError:
        raise RuntimeError(
            f"masked_fill: the mask of shape {m.shape} is not broadcastable to the tensor of shape {tuple(input.shape)}"
        ) from None
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s)")
        node = MaskedFillTensor(m)
        out = node(input, cast(value, input.dtype))
    else:
        node = MaskedFill(m, tensor(value, dtype=input.dtype)._data)
        out = node(input)
    if tuple(out.shape) != tuple(input.shape):
        raise RuntimeError(f"masked_fill: mask {m.shape} can't grow the tensor of shape {tuple(input.shape)}")
    if isinstance(mask, Tensor) and out.grad_fn is not None:
        node.guard((mask,))  # backward reads the mask: writing to it afterwards is an error, as in torch
    return out


@tensor_method
def masked_select(input, mask, *, out=None):
    """The elements where ``mask`` is True, as a 1-D tensor."""
    if out is not None:
        return _out.into(out, "masked_select", masked_select, input, mask)
    m = _arr(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {m.dtype}")
    shape = np.broadcast_shapes(m.shape, tuple(input.shape))
    xe = expand(input, shape) if tuple(input.shape) != shape else input
    return getitem(xe, np.broadcast_to(m, shape))


@tensor_method
def nonzero(input, *, as_tuple=False, out=None):
    if out is not None:
        return _out.into(out, "nonzero", nonzero, input, as_tuple=as_tuple)
    nz = np.nonzero(input._data)
    if as_tuple:
        return tuple(Tensor._wrap(a.astype(np.int64)) for a in nz)
    return Tensor._wrap(np.stack(nz, axis=1).astype(np.int64) if nz else np.zeros((0, 0), np.int64))


@tensor_method
def argwhere(input):
    return nonzero(input)


@tensor_method
def take(input, index, *, out=None):
    """Elements of the flattened ``input`` at ``index`` (output has ``index``'s shape)."""
    if out is not None:
        return _out.into(out, "take", take, input, index)
    return getitem(reshape(input, (-1,)), index)


class IndexPutAccumulate(Node):
    """``out = x; out[idx] += v`` with repeated indices adding up (index_put_ with accumulate=True)."""

    name = "IndexPutBackward0"
    saves = {}

    def __init__(self, idx):
        self.idx = idx

    def forward(self, x, v):
        out = x.copy()
        np.add.at(out, self.idx, v)
        return out

    def backward(self, ns, g, ins, out):
        return g, ns.index(g, self.idx)


@tensor_method
def index_put(input, indices, values, accumulate=False):
    """``input`` with ``input[indices] = values`` (or ``+=`` with repeats adding up when ``accumulate``)."""
    if not isinstance(indices, tuple):
        indices = tuple(indices)
    nidx, guards = _norm_index(input, indices, "index_put")
    v = values if isinstance(values, Tensor) else tensor(values, dtype=input.dtype)
    if v._data.dtype != input._data.dtype:
        v = cast(v, input.dtype)
    out = (IndexPutAccumulate if accumulate else IndexPut)(nidx)(input, v)
    if guards and out.grad_fn is not None:
        out.grad_fn.guard(guards)
    return out


@tensor_method
def index_fill(input, dim, index, value):
    """``input`` with the slices ``index`` along ``dim`` set to ``value``."""
    ax = _dim(dim, input.ndim, "index_fill")
    v = value if isinstance(value, Tensor) else tensor(value, dtype=input.dtype)
    return index_put(input, (_pyslice(None),) * ax + (index,), v)


@tensor_method
def index_copy(input, dim, index, source, *, out=None):
    """``input`` with the slices ``index`` along ``dim`` replaced by ``source``'s."""
    if out is not None:
        return _out.into(out, "index_copy", index_copy, input, dim, index, source)
    ax = _dim(dim, input.ndim, "index_copy")
    idx = _arr(index)
    n = input.shape[ax] if input.ndim else 1
    if idx.size and (idx.max() >= n or idx.min() < 0):  # torch's refuses negative indices here
        bad = int(idx.max() if idx.max() >= n else idx.min())
        raise IndexError(f"index_copy(): index {bad} is out of bounds for dimension {ax} with size {n}")
    return index_put(input, (_pyslice(None),) * ax + (index,), source)


def _fill_diagonal(x, value, wrap=False):
    if x.ndim < 2 or (x.ndim > 2 and len(set(x.shape)) != 1):
        raise RuntimeError(f"fill_diagonal_: dimensions must be at least 2 and all of equal length, got shape "
                           f"{tuple(x.shape)}")
    n = builtins.min(x.shape)
    if x.ndim == 2 and wrap and x.shape[0] > x.shape[1] + 1:
        rows = np.arange(x.shape[0])
        keep = (rows % (x.shape[1] + 1)) < x.shape[1]
        rows = rows[keep]
        cols = rows % (x.shape[1] + 1)
        idx = (Tensor._wrap(rows), Tensor._wrap(cols))
    else:
        idx = (Tensor._wrap(np.arange(n)),) * x.ndim
    return index_put(x, idx, value)


def _scatter_into(input, src, idx):
    out = input.clone()
    out[idx] = src
    return out


@tensor_method
def select_scatter(input, src, dim, index):  # noqa: A002
    """``input`` with ``input.select(dim, index)`` replaced by ``src`` (differentiable in both)."""
    ax = _dim(dim, input.ndim, "select_scatter")
    return _scatter_into(input, src, (slice(None),) * ax + (index,))


@tensor_method
def slice_scatter(input, src, dim=0, start=None, end=None, step=1, *, out=None):  # noqa: A002
    """``input`` with a slice along ``dim`` replaced by ``src`` (differentiable in both)."""
    if out is not None:
        return _out.into(out, "slice_scatter", slice_scatter, input, src, dim, start, end, step)
    ax = _dim(dim, input.ndim, "slice_scatter")
    return _scatter_into(input, src, (slice(None),) * ax + (slice(start, end, step),))


@tensor_method
def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):  # noqa: A002
    """``input`` with its diagonal (offset, dim1, dim2) replaced by ``src`` (differentiable in both)."""
    nd = input.ndim
    d1, d2 = dim1 % nd, dim2 % nd
    n1, n2 = input.shape[d1], input.shape[d2]
    if offset >= 0:
        k = builtins.max(0, builtins.min(n1, n2 - offset))
        r, c = np.arange(k), np.arange(k) + offset
    else:
        k = builtins.max(0, builtins.min(n1 + offset, n2))
        r, c = np.arange(k) - offset, np.arange(k)
    perm = [i for i in builtins.range(nd) if i not in (d1, d2)] + [d1, d2]
    out = permute(input, perm).clone()
    out[(Ellipsis, r, c)] = src
    return permute(out, [int(i) for i in np.argsort(perm)])


@tensor_method(inplace=True)
def masked_scatter(input, mask, source):  # noqa: A002
    """Copies of ``source``'s leading elements into ``input`` where ``mask`` is True (row-major order)."""
    m = np.broadcast_to(mask._data.astype(bool), tuple(input.shape))
    n = int(m.sum())
    if source.numel() < n:
        raise RuntimeError(f"masked_scatter: expected source to have at least {n} elements, got {source.numel()}")
    src = source.reshape(-1)[:n]
    out = input.clone() if tuple(input.shape) == m.shape else expand(input, m.shape).clone()
    out[Tensor._wrap(m)] = src
    return out


@tensor_method(inplace=True)
def put(input, index, source, accumulate=False):  # noqa: A002
    """A copy of ``input`` with ``source`` written (or added) at flat ``index``."""
    flat = input.reshape(-1).clone()
    idx = index.reshape(-1)
    if accumulate:
        n = flat.shape[0]
        i = _arr(idx)
        if i.size and (i.max() >= n or i.min() < -n):
            raise IndexError(f"put(): index {int(i.max() if i.max() >= n else i.min())} is out of range for a "
                             f"tensor of {n} elements")
        flat = index_add(flat, 0, Tensor._wrap(np.where(i < 0, i + n, i)), source.reshape(-1))  # put wraps negatives
    else:
        flat[idx] = source.reshape(-1)
    return flat.reshape(input.shape)


@tensor_method(inplace=True)
def index_reduce(input, dim, index, source, reduce, *, include_self=True, out=None):  # noqa: A002
    """Reduce ``source`` slices into ``input`` at ``index`` along ``dim`` ('prod', 'mean', 'amax', 'amin'),
    differentiable as torch's (``scatter_reduce`` with the index spread over ``source``)."""
    if out is not None:
        return _out.into(out, "index_reduce", index_reduce, input, dim, index, source, reduce, include_self=include_self)
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    ax = _dim(dim, input.ndim, "index_reduce")
    idx = _arr(index)
    if idx.ndim > 1 or idx.dtype.kind not in "iu":
        raise IndexError(f"index_reduce(): index must be a 1-d integer tensor, got {idx.ndim}-d {idx.dtype}")
    n = input.shape[ax] if input.ndim else 1
    if idx.size and (idx.max() >= n or idx.min() < 0):  # torch's refuses negative indices here
        raise IndexError(f"index_reduce(): index out of range for dimension {ax} of size {n} "
                         f"(index values span {idx.min()} .. {idx.max()})")
    if source.ndim != input.ndim or builtins.any(a != b for d, (a, b) in enumerate(zip(source.shape, input.shape))
                                                 if d != ax) or (input.ndim and source.shape[ax] != idx.size):
        raise RuntimeError(f"index_reduce(): source {tuple(source.shape)} must have input's shape "
                           f"{tuple(input.shape)} except in dim {ax}, where it must have len(index) = {idx.size}")
    # the same reduction as scatter_reduce with the index spread over source's shape (and its gradients)
    full = np.broadcast_to(idx.reshape((1,) * ax + (-1,) + (1,) * (source.ndim - ax - 1)),
                           tuple(source.shape)).astype(np.int64)
    res = scatter_reduce(input, ax, Tensor._wrap(np.ascontiguousarray(full)), source, reduce, include_self=include_self)
    if res.grad_fn is not None and reduce != "mean":
        res.grad_fn._grad_name = "IndexReduceBackward0"
    return res


@tensor_method(inplace=True)
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True, out=None):  # noqa: A002
    """torch.scatter_reduce ('sum', 'prod', 'mean', 'amax', 'amin'), differentiable with torch's gradients."""
    if out is not None:
        return _out.into(out, "scatter_reduce", scatter_reduce, input, dim, index, src, reduce, include_self=include_self)
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    ax = _dim(dim, input.ndim, "scatter_reduce")
    _check_gather_index(input, ax, _arr(index), "scatter_reduce")
    if reduce == "sum":
        base = input if include_self else scatter(input, ax, index, zeros_like(src))
        return scatter_add(base, ax, index, src)
    if reduce == "mean":
        ones = ones_like(src)
        base = input if include_self else scatter(input, ax, index, zeros_like(src))
        total = scatter_add(base, ax, index, src)
        cnt0 = ones_like(input) if include_self else scatter(ones_like(input), ax, index, zeros_like(src))
        cnt = scatter_add(cnt0, ax, index, ones)
        res = total / clamp_min(cnt, 1)
        return res if input.is_floating_point() else floor_divide(total, clamp_min(cnt, 1)).to(input.dtype)
    return ScatterReduceExtreme(index._data, ax, reduce, include_self)(input, src)


def _scatter_reduce_np(x, idx, s, ax, reduce, include_self):
    """``x`` with ``s`` (cut to ``idx``'s shape) reduced into it at ``idx`` along ``ax`` ('prod', 'amax', 'amin');
    also the mask of the positions written."""
    out = x.copy()
    grids = list(np.indices(idx.shape, sparse=True))
    grids[ax] = idx
    g = tuple(grids)
    mask = np.zeros(x.shape, dtype=bool)
    mask[g] = True
    ufunc = {"prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
    if not include_self:
        init = {"prod": 1, "amax": -np.inf, "amin": np.inf}[reduce]
        if out.dtype.kind in "iu" and reduce != "prod":
            info = np.iinfo(out.dtype)
            init = info.min if reduce == "amax" else info.max
        out[g] = init
    ufunc.at(out, g, s)
    return out, mask


class ScatterReduceExtreme(Node):
    """``scatter_reduce`` with 'prod', 'amax' or 'amin', with torch's gradients: amax/amin share the gradient
    evenly among the values equal to the result (self included when it is one); prod divides the result by
    each factor, with the product of the others for a single zero factor."""

    name = "ScatterReduceBackward0"
    saves = {0: (0, 1), 1: (0, 1)}
    save_out = True

    def __init__(self, idx, axis, reduce, include_self):
        self.idx, self.axis, self.reduce, self.include_self = idx, axis, reduce, include_self

    def _src(self, src):
        return src[tuple(_pyslice(0, n) for n in self.idx.shape)]

    def forward(self, x, src):
        self.src_shape = src.shape
        out, self.mask = _scatter_reduce_np(x, self.idx, self._src(src), self.axis, self.reduce, self.include_self)
        return out

    def backward(self, ns, g, ins, out):
        from ..autograd.functional_ns import _put_along_add

        idx, ax = self.idx, self.axis
        x, sv, res = (np.asarray(ns.value(v)._data if isinstance(ns.value(v), Tensor) else ns.value(v)) for v in (ins[0], ins[1], out))
        sv = self._src(sv)
        region = tuple(_pyslice(0, n) if d != ax else _pyslice(None) for d, n in enumerate(idx.shape))

        def gather(a):  # a (self-shaped) at the scattered positions, src-shaped
            return ns.take_along(_index_region(ns, a, idx, ax), idx, ax)

        with np.errstate(divide="ignore", invalid="ignore"):
            if self.reduce == "prod":
                zero = sv == 0
                nz = np.zeros(x.shape, dtype=x.dtype)
                _put_along_add(nz[region], idx, zero.astype(x.dtype), ax)
                single = zero & (np.take_along_axis(nz[region], idx, ax) == 1)
                if isinstance(g, Tensor):  # create_graph: the same formulas from differentiable ops
                    xt, st = ins[0], self._src(ins[1]) if tuple(ins[1].shape) != idx.shape else ins[1]
                    it = Tensor._wrap(idx)
                    msk_self = where(Tensor._wrap(x == 0), Tensor._wrap(np.ones((), x.dtype)), xt)
                    cx = scatter_reduce(msk_self, ax, it, st, "prod", include_self=self.include_self) / msk_self
                    one = Tensor._wrap(np.ones((), x.dtype))
                    msr = scatter_reduce(xt, ax, it, where(Tensor._wrap(single), one, st), "prod",
                                         include_self=self.include_self)
                    gx = g * cx
                    gs = where(Tensor._wrap(single), gather(g * msr), gather(g * out) / where(Tensor._wrap(zero), one, st))
                else:
                    msk_self = np.where(x == 0, 1, x).astype(x.dtype)
                    cx = _scatter_reduce_np(msk_self, idx, sv, ax, "prod", self.include_self)[0] / msk_self
                    gx = g * cx
                    msr = _scatter_reduce_np(x, idx, np.where(single, 1, sv).astype(x.dtype), ax, "prod",
                                             self.include_self)[0]
                    gs = ns.where(single, gather(g * msr), gather(g * res) / np.where(zero, 1, sv).astype(x.dtype))
            else:
                self_is = (x == res).astype(x.dtype)
                src_is = (sv == np.take_along_axis(res[region], idx, ax)).astype(x.dtype)
                n = self_is.copy()
                _put_along_add(n[region], idx, src_is, ax)
                gd = g / n
                gx = gd * self_is
                gs = gather(gd) * src_is
        if not self.include_self:
            gx = ns.where(self.mask, 0 * gx, gx)
        if tuple(gs.shape) != tuple(self.src_shape):
            gs = ns.pad_zeros(gs, self.src_shape, tuple(_pyslice(0, n) for n in idx.shape))
        return (gx if self.needs[0] else None), (gs if self.needs[1] else None)


def unravel_index(indices, shape):
    """Coordinates (a tuple of int64 tensors) of flat ``indices`` in an array of ``shape``."""
    idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"expected 'indices' to be integer dtype, but got {idx.dtype}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    total = int(np.prod(shape))
    if idx.size and (idx.max() >= total or idx.min() < -total):
        raise RuntimeError(f"unravel_index: index out of bounds for shape {shape}")
    res = np.unravel_index(np.where(idx < 0, idx + total, idx), shape)
    return tuple(Tensor._wrap(np.asarray(r, dtype=np.int64)) for r in res)


@tensor_method
def nonzero_static(input, *, size, fill_value=-1, out=None):  # noqa: A002
    """The first ``size`` rows of ``nonzero(input)``, padded with ``fill_value``."""
    if out is not None:
        return _out.into(out, "nonzero_static", nonzero_static, input, size=size, fill_value=fill_value)
    nz = np.argwhere(input._data)
    out = np.full((size, input.ndim), fill_value, dtype=np.int64)
    k = builtins.min(size, nz.shape[0])
    out[:k] = nz[:k]
    return Tensor._wrap(out)


__all__ = _public(globals(), private=('getitem', 'setitem'))

# Ops of later families, used at call time only. They are imported here, at the end, and every family in
# between is imported first, so the family modules always load in the order of ember/_ops/__init__.py.
from .inplace_ops import _check_writable, _internal_overlap, _rebase  # noqa: E402
from .. import _out  # noqa: E402

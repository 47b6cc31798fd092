"""Shape ops and views: ``reshape``/``view``, ``permute``/``transpose``, ``expand``, ``cat``/``stack``, ``split``, ``diagonal``, ``unfold``, ``as_strided`` and the ``*_copy`` forms."""
from __future__ import annotations

import builtins
import numbers

import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import _View, Size, Tensor, _storage_root
from ..autograd.engine import BinaryNode, MultiNode, Node, UnaryNode
from ..autograd.grad_mode import STATE
from ._registry import tensor_method
from ._helpers import _dim, _dims, _public, _pymax, _pymin, _pyslice, _shape_arg
from .creation import zeros
from .casting import cast


class Reshape(Node):
    name = "ViewBackward0"
    saves = {}

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.src = x.shape
        return x.reshape(self.shape)

    def backward(self, ns, g, ins, out):
        return (ns.reshape(g, self.src),)


def _infer_shape(shape, numel, op, src):
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred (-1), got shape {shape}")
    if builtins.any(s < -1 for s in shape):
        raise RuntimeError(f"{op}: invalid shape dimension in {shape}")
    known = int(np.prod([s for s in shape if s != -1])) if shape else 1
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape {list(shape)} is invalid for input of size {numel} (shape {src})")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(
            f"{op}: shape {list(shape)} is invalid for input of size {numel} (input shape {src}); "
            "the number of elements must stay the same"
        )
    return shape


@tensor_method
def reshape(input, *args, shape=None):
    """The same values in a new shape (one dim may be -1): ``reshape(x, (2, 3))``, ``x.reshape(2, 3)``,
    ``reshape(input=x, shape=(2, 3))``."""
    shape = _shape_arg(args if shape is None else (shape,), "reshape")
    shape = _infer_shape(shape, input._data.size, "reshape", tuple(input.shape))
    out = Reshape(shape)(input)
    if np.may_share_memory(out._data, input._data):
        return _make_view(out, input, (reshape, (shape,)))
    return out


def view(x, *shape):
    """Like ``reshape``; ember also accepts non-contiguous inputs (it copies when it must)."""
    shape = _shape_arg(shape, "view")
    shape = _infer_shape(shape, x._data.size, "view", tuple(x.shape))
    if not _viewable(x._data, shape):
        # torch would refuse; ember's kernels may return non-contiguous layouts where torch's are contiguous
        # (e.g. channels-last convolution outputs), so a view that needs a copy is a copy, as reshape does
        return Reshape(shape)(x)
    return _make_view(Reshape(shape)(x), x, (view, (shape,)))


def _viewable(a, shape):
    """Whether NumPy can reshape ``a`` to ``shape`` without a copy (torch's view rule)."""
    try:
        b = a.view()
        b.shape = shape  # raises instead of copying
        return True
    except (AttributeError, ValueError):
        return False


def ns_reshape(x, shape):
    return Reshape(tuple(shape))(x)


@tensor_method
def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim``..``end_dim`` into one."""
    if input.ndim == 0:
        return reshape(input, (1,))
    s = _dim(start_dim, input.ndim, "flatten")
    e = _dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise RuntimeError(f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim})")
    shp = tuple(input.shape)
    return reshape(input, shp[:s] + (-1 if 0 not in shp[s:e + 1] else 0,) + shp[e + 1:])


@tensor_method
def unflatten(input, dim, sizes):
    """Split dim ``dim`` into ``sizes``."""
    d = _dim(dim, input.ndim, "unflatten")
    shp = tuple(input.shape)
    sizes = tuple(sizes)
    known = int(np.prod([s for s in sizes if s != -1]))
    if -1 not in sizes and known != shp[d]:
        raise RuntimeError(f"unflatten: provided sizes {sizes} don't multiply up to the size of dim {dim} ({shp[d]}) in the input tensor")
    return reshape(input, shp[:d] + sizes + shp[d + 1:])


class Permute(Node):
    name = "PermuteBackward0"
    saves = {}

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, ns, g, ins, out):
        return (ns.transpose(g, tuple(np.argsort(self.axes))),)


@tensor_method
def permute(input, *args, dims=None):
    """Reorder dimensions: ``x.permute(2, 0, 1)``, ``permute(x, (2, 0, 1))``, ``permute(x, dims=(2, 0, 1))``."""
    dims = _shape_arg(args if dims is None else (dims,), "permute")
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the length of the "
            f"desired ordering of dimensions i.e. input.dim() = {input.ndim} is not equal to len(dims) = {len(dims)}"
        )
    axes = _dims(dims, input.ndim, "permute")
    return _make_view(Permute(axes)(input), input, (permute, (axes,)))


def ns_transpose(x, axes):
    return Permute(tuple(axes))(x)


@tensor_method
def transpose(input, dim0, dim1):
    """Swap two dimensions."""
    if input.ndim == 0:
        return input
    a, b = _dim(dim0, input.ndim, "transpose"), _dim(dim1, input.ndim, "transpose")
    axes = list(range(input.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    node = Permute(tuple(axes))
    node._grad_name = "TransposeBackward0"
    return _make_view(node(input), input, (transpose, (a, b)))


swapdims = transpose
tensor_method(swapdims, "swapdims")


@tensor_method
def swapaxes(input, axis0, axis1):
    """``transpose`` under NumPy's parameter names."""
    return transpose(input, axis0, axis1)


def ns_swap_last(x):
    return transpose(x, -1, -2)


@tensor_method
def t(input):
    """Transpose of a tensor of at most 2 dims."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D; use transpose or mT")
    if input.ndim < 2:
        return _reshape_view(input, tuple(input.shape), "TBackward0", (t, ()))
    node = Permute((1, 0))
    out = node(input)
    if out.grad_fn is not None:
        node._grad_name = "TBackward0"
    return _make_view(out, input, (t, ()))


@tensor_method
def squeeze(input, dim=None, *args):
    """Remove dims of size 1 (all, or those in ``dim``: an int, a tuple, or several ints as ``x.squeeze(0, 1)``)."""
    if args:
        dim = (dim,) + args
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        axes = _dims(dim, input.ndim, "squeeze")
        if input.ndim == 0:
            return input
        shape = tuple(s for i, s in enumerate(input.shape) if not (i in axes and s == 1))
    return _reshape_view(input, shape, "SqueezeBackward0" if dim is None else "SqueezeBackward1", (squeeze, (dim,)))


@tensor_method
def unsqueeze(input, dim):
    """Insert a dim of size 1 at ``dim``."""
    d = _dim(dim, input.ndim + 1, "unsqueeze")
    shp = tuple(input.shape)
    return _reshape_view(input, shp[:d] + (1,) + shp[d:], "UnsqueezeBackward0", (unsqueeze, (d,)))


def _reshape_view(x, shape, grad_name, step):
    node = Reshape(tuple(shape))
    out = node(x)
    if out.grad_fn is not None:
        node._grad_name = grad_name
    return _make_view(out, x, step)


class Expand(Node):
    name = "ExpandBackward0"
    saves = {}

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.src = x.shape
        return np.broadcast_to(x, self.shape)

    def backward(self, ns, g, ins, out):
        return (ns.sum_to(g, self.src),)


@tensor_method("expand")
def expand(input, *args, size=None, implicit=False):
    """Broadcast to a larger shape without copying (-1 keeps a dim)."""
    sizes = _shape_arg(args if size is None else (size,), "expand")
    if len(sizes) < input.ndim:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({input.ndim})"
        )
    lead = len(sizes) - input.ndim
    shape = tuple(
        (input.shape[i - lead] if s == -1 else s) if i >= lead else s for i, s in enumerate(sizes)
    )
    for i in range(input.ndim):
        if input.shape[i] != 1 and input.shape[i] != shape[i + lead]:
            raise RuntimeError(
                f"expand: the expanded size of the tensor ({shape[i + lead]}) must match the existing size "
                f"({input.shape[i]}) at non-singleton dimension {i + lead}. Target sizes: {list(sizes)}. "
                f"Tensor sizes: {list(input.shape)}"
            )
    if shape == tuple(input.shape) and not input.requires_grad:
        return input
    return _make_view(Expand(shape)(input), input, (expand, (shape,)))


@tensor_method
def broadcast_to(input, size):
    """``expand`` to ``size`` (torch.broadcast_to)."""
    return expand(input, size)


def ns_expand(x, shape):
    return Expand(tuple(shape))(x)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*[tuple(t.shape) for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


def broadcast_shapes(*shapes):
    return Size(np.broadcast_shapes(*shapes))


class Cat(Node):
    name = "CatBackward0"
    saves = {}

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return np.concatenate(xs, axis=self.axis)

    def backward(self, ns, g, ins, out):
        grads = []
        start = 0
        for n in self.sizes:
            idx = (_pyslice(None),) * self.axis + (_pyslice(start, start + n),)
            grads.append(ns.index(g, idx))
            start += n
        return grads


def cat(tensors, dim=0, *, out=None):
    """Join tensors along an existing dim."""
    if out is not None:
        return _out.into(out, "cat", cat, tensors, dim)
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
    # torch skips legacy empty 1-D tensors
    tensors = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    ref = tensors[0]
    if ref.ndim == 0:
        raise RuntimeError("cat(): zero-dimensional tensor cannot be concatenated; use stack or unsqueeze first")
    ax = _dim(dim, ref.ndim, "cat")
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or builtins.any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != ax):
            raise RuntimeError(
                f"cat(): sizes of tensors must match except in dimension {ax}: tensor 0 has shape {tuple(ref.shape)} "
                f"but tensor {i} has shape {tuple(t.shape)}"
            )
    dt = ref._data.dtype
    for t in tensors[1:]:
        if t._data.dtype != dt:
            dt = D.promote_np(dt, t._data.dtype)
    tensors = [cast(t, D._by_np[dt]) for t in tensors]
    return Cat(ax)(*tensors)


concat = concatenate = cat


class Stack(Node):
    name = "StackBackward0"
    saves = {}

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.n = len(xs)
        return np.stack(xs, axis=self.axis)

    def backward(self, ns, g, ins, out):
        pre = (_pyslice(None),) * self.axis
        return [ns.index(g, pre + (i,)) for i in range(self.n)]


def stack(tensors, dim=0, *, out=None):
    """Join tensors along a new dim."""
    if out is not None:
        return _out.into(out, "stack", stack, tensors, dim)
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack(): expected a non-empty list of Tensors")
    ref = tensors[0]
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"stack(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
        if tuple(t.shape) != tuple(ref.shape):
            raise RuntimeError(
                f"stack(): stack expects each tensor to be equal size, but got {tuple(ref.shape)} at entry 0 "
                f"and {tuple(t.shape)} at entry {i}"
            )
    d = _dim(dim, ref.ndim + 1, "stack")
    dt = ref._data.dtype
    for t in tensors[1:]:
        if t._data.dtype != dt:
            dt = D.promote_np(dt, t._data.dtype)  # torch's promotion (NumPy's would make int32 + float32 float64)
    if not builtins.any(t.requires_grad for t in tensors):
        return Tensor._wrap(np.stack([t._data for t in tensors], axis=d).astype(dt, copy=False))
    return Stack(d)(*[cast(t, D._by_np[dt]) for t in tensors])


def hstack(tensors, *, out=None):
    if out is not None:
        return _out.into(out, "hstack", hstack, tensors)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors, *, out=None):
    if out is not None:
        return _out.into(out, "vstack", vstack, tensors)
    return cat([t if t.ndim > 1 else unsqueeze(t, 0) for t in tensors], 0)


class Split(MultiNode):
    """All pieces of a split in one node, so backward joins them once (O(n), not O(n^2))."""

    name = "SplitBackward0"
    saves = {}

    def __init__(self, axis, sizes, squeeze):
        self.axis, self.sizes, self.squeeze = axis, sizes, squeeze
        self.n_out = len(sizes)

    def forward(self, x):
        self.meta = (x.shape, x.dtype)
        pre = (_pyslice(None),) * self.axis
        out, start = [], 0
        for n in self.sizes:
            out.append(x[pre + (start if self.squeeze else _pyslice(start, start + n),)])
            start += n
        return tuple(out)

    def backward(self, ns, g, ins, out):
        shape, dt = self.meta
        ax = self.axis
        if builtins.any(isinstance(a, Tensor) for a in g):
            parts = []
            for a, n in zip(g, self.sizes):
                if a is None:
                    sh = shape[:ax] + ((n,) if not self.squeeze else ()) + shape[ax + 1:]
                    a = Tensor._wrap(np.zeros(sh, dtype=dt))
                parts.append(a)
            return ((stack(parts, ax) if self.squeeze else cat(parts, ax)),)
        res = np.empty(shape, dtype=dt)
        pre = (_pyslice(None),) * ax
        start = 0
        for a, n in zip(g, self.sizes):
            idx = pre + (start if self.squeeze else _pyslice(start, start + n),)
            if a is None:
                res[idx] = 0
            else:
                res[idx] = a
            start += n
        return (res,)


def _split_views(x, ax, sizes, squeeze):
    node = Split(ax, tuple(sizes), squeeze)
    outs = node(x)
    if squeeze:
        node._grad_name = "UnbindBackward0"
    res = []
    start = 0
    for t, n in zip(outs, sizes):
        v = _make_view(t, x, (select, (ax, start)) if squeeze else (narrow, (ax, start, n)))
        v._multi = ("Unbind" if squeeze else "Split", len(res))
        res.append(v)
        start += n
    return tuple(res)


def _split_method(self, split_size, dim=0):
    """``x.split(split_size, dim)`` (torch's method names the sizes ``split_size``)."""
    return split(self, split_size, dim)


tensor_method(_split_method, "split")


def split(tensor, split_size_or_sections, dim=0):
    """Split into chunks of a size (the last may be smaller) or of the given sizes."""
    ax = _dim(dim, tensor.ndim, "split")
    n = tensor.shape[ax]
    if isinstance(split_size_or_sections, numbers.Integral):
        s = int(split_size_or_sections)
        if s <= 0 and n > 0:
            raise RuntimeError(f"split: split_size must be positive, got {s}")
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s > 0 else [0]
    else:
        sizes = [int(v) for v in split_size_or_sections]
        if builtins.any(v < 0 for v in sizes) or builtins.sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {ax}), "
                f"but got split_sizes={sizes}"
            )
    if not sizes:
        return ()
    return _split_views(tensor, ax, sizes, False)


@tensor_method
def chunk(input, chunks, dim=0):
    """Split into ``chunks`` pieces of equal size (the last may be smaller), like torch."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    ax = _dim(dim, input.ndim, "chunk")
    n = input.shape[ax]
    size = -(-n // chunks) if n else 1
    return split(input, _pymax(size, 1), ax)


def _one_of(op, **given):
    """The one argument given among torch's alternative spellings of a parameter."""
    vals = [v for v in given.values() if v is not None]
    if len(vals) != 1:
        raise TypeError(f"{op}(): pass exactly one of {', '.join(given)}")
    return vals[0]


@tensor_method
def tensor_split(input, sections=None, dim=0, *, indices=None, tensor_indices_or_sections=None):
    """Split into ``sections`` near-equal parts, or at ``indices`` (torch's three spellings)."""
    sections = _one_of("tensor_split", sections=sections, indices=indices,
                       tensor_indices_or_sections=tensor_indices_or_sections)
    if isinstance(sections, Tensor):
        sections = sections.item() if sections.ndim == 0 else sections.tolist()
    ax = _dim(dim, input.ndim, "tensor_split")
    n = input.shape[ax]
    if isinstance(sections, numbers.Integral):
        if sections <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {sections}")
        q, r = divmod(n, sections)
        sizes = [q + 1] * r + [q] * (sections - r)
    else:
        # each piece is input[a:b] with Python's slice rules, as torch's: indices past the end clamp, negative
        # ones count from the end, and decreasing ones give an empty piece followed by an overlapping one
        bounds = [0] + [i.__index__() for i in sections] + [n]
        pieces = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            start, stop, _ = _pyslice(a, b).indices(n)
            pieces.append(narrow(input, ax, start, _pymax(0, stop - start)))
        return tuple(pieces)
    return split(input, sizes, ax)


@tensor_method
def unbind(input, dim=0):
    """Remove ``dim``, returning the slices along it (one node: backward stacks the gradients once)."""
    ax = _dim(dim, input.ndim, "unbind")
    n = input.shape[ax]
    if n == 0:
        return ()
    return _split_views(input, ax, [1] * n, True)


@tensor_method
def narrow(input, dim, start, length):
    """The slice ``start:start+length`` of dim ``dim`` (a view)."""
    ax = _dim(dim, input.ndim, "narrow")
    n = input.shape[ax]
    if start < 0:
        start += n
    if start < 0 or length < 0 or start + length > n:
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n}) of dim {ax}")
    idx = (_pyslice(None),) * ax + (_pyslice(start, start + length),)
    return getitem(input, idx)


@tensor_method
def select(input, dim, index):
    """Index ``index`` along ``dim``, removing the dim."""
    ax = _dim(dim, input.ndim, "select")
    n = input.shape[ax]
    if index < -n or index >= n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {tuple(input.shape)} at dimension {ax}")
    return getitem(input, (_pyslice(None),) * ax + (index,))


class Flip(Node):
    name = "FlipBackward0"
    saves = {}

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return np.flip(x, self.axes)

    def backward(self, ns, g, ins, out):
        return (ns.flip(g, self.axes),)


def _dims_method(fn):
    """The Tensor method form of ``fn(input, dims)``, taking the dims also spread (``x.flip(0, 1)``), as torch."""
    def method(self, *args, dims=None):
        if dims is None:
            dims = args[0] if len(args) == 1 else args
        return fn(self, dims)

    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def flip(input, dims):
    """Reverse the order of elements along ``dims``."""
    axes = _dims(dims if isinstance(dims, (tuple, list)) else (dims,), input.ndim, "flip")
    return Flip(axes)(input)


def ns_flip(x, axes):
    return Flip(tuple(axes))(x)


@tensor_method
def fliplr(input):
    return flip(input, (1,))


@tensor_method
def flipud(input):
    return flip(input, (0,))


class Roll(Node):
    name = "RollBackward0"
    saves = {}

    def __init__(self, shifts, axes):
        self.shifts, self.axes = shifts, axes

    def forward(self, x):
        return np.roll(x, self.shifts, self.axes)

    def backward(self, ns, g, ins, out):
        neg_ = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return (ns.roll(g, neg_, self.axes),)


@tensor_method
def roll(input, shifts, dims=None):
    """Shift elements cyclically along ``dims`` (flattened when None)."""
    if dims is None:
        return reshape(Roll(int(shifts) if not isinstance(shifts, (tuple, list)) else shifts[0], None)(flatten(input)), input.shape)
    if isinstance(shifts, (tuple, list)):
        axes = _dims(dims, input.ndim, "roll")
        if len(shifts) != len(axes):
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims: {len(axes)}")
        return Roll(tuple(shifts), axes)(input)
    return Roll(int(shifts), _dim(dims, input.ndim, "roll"))(input)


def ns_roll(x, shifts, axes):
    return Roll(shifts, axes)(x)


class Tri(Node):
    name = "TrilBackward0"
    saves = {}

    def __init__(self, k, lower):
        self.k, self.lower = k, lower

    def forward(self, x):
        return np.tril(x, self.k) if self.lower else np.triu(x, self.k)

    def backward(self, ns, g, ins, out):
        return ((ns.tril if self.lower else ns.triu)(g, self.k),)


@tensor_method(inplace=True)
def tril(input, diagonal=0, *, out=None):
    """Lower triangle (the rest zeroed)."""
    if out is not None:
        return _out.into(out, "tril", tril, input, diagonal)
    if input.ndim < 2:
        raise RuntimeError(f"tril: input tensor must have at least 2 dimensions, got {input.ndim}")
    return Tri(diagonal, True)(input)


@tensor_method(inplace=True)
def triu(input, diagonal=0, *, out=None):
    """Upper triangle (the rest zeroed)."""
    if out is not None:
        return _out.into(out, "triu", triu, input, diagonal)
    if input.ndim < 2:
        raise RuntimeError(f"triu: input tensor must have at least 2 dimensions, got {input.ndim}")
    return Tri(diagonal, False)(input)


def ns_tril(x, k):
    return Tri(k, True)(x)


def ns_triu(x, k):
    return Tri(k, False)(x)


@tensor_method
def repeat(x, *args, repeats=None):
    """Tile the tensor ``repeats`` times along each dim (torch's ``repeat``: ``x.repeat(2, 1)``)."""
    sizes = _shape_arg(args if repeats is None else (repeats,), "repeat")
    if len(sizes) < x.ndim:
        raise RuntimeError(
            f"repeat: number of repeat dims ({len(sizes)}) can not be smaller than number of dimensions of tensor ({x.ndim})"
        )
    lead = len(sizes) - x.ndim
    xs = reshape(x, (1,) * lead + tuple(x.shape))
    shp = tuple(xs.shape)
    # (r0, s0, r1, s1, ...) -> expand then merge
    inter = []
    for s in shp:
        inter += [1, s]
    y = reshape(xs, tuple(inter))
    target = []
    for r, s in zip(sizes, shp):
        target += [r, s]
    y = expand(y, tuple(target))
    out = reshape(y, tuple(r * s for r, s in zip(sizes, shp)))
    # torch's repeat always returns new memory; the reshape of the expanded view may still be a view
    # (repeats along leading dims, or all ones), and writing into it in place would hit x or raise
    if np.may_share_memory(out._data, x._data):
        out = clone(out)
    return out


def tile(input, dims):
    """Like ``repeat``; missing leading dims count as 1."""
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


@tensor_method
def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element ``repeats`` times along ``dim`` (flattened when None); ``repeat_interleave(r)``
    of an int tensor ``r`` alone repeats the indices ``0..len(r)-1``. ``output_size`` is a hint (checked)."""
    if repeats is None:  # torch.repeat_interleave(repeats)
        input, repeats = Tensor._wrap(np.arange(input.shape[0])), input
    if dim is None:
        input = flatten(input)
        dim = 0
    ax = _dim(dim, input.ndim, "repeat_interleave")
    if isinstance(repeats, Tensor):
        repeats = repeats._data
    idx = np.repeat(np.arange(input.shape[ax]), repeats)
    if output_size is not None and output_size != idx.size:
        raise RuntimeError(f"repeat_interleave: output_size={output_size} but the repeats give {idx.size} elements")
    return index_select(input, ax, Tensor._wrap(idx))


@tensor_method
def contiguous(x, memory_format=None):
    """``x`` itself when its memory is C-contiguous, else a C-contiguous copy (in the graph).
    ``memory_format`` is accepted (torch.contiguous_format, channels_last, ...) and changes no value."""
    return x if x._data.flags.c_contiguous else clone(x)


@tensor_method
def clone(input, *, memory_format=None):
    """A copy that stays in the graph (gradient flows back to ``input``); ``memory_format`` changes no value."""
    return Clone()(input)


class Clone(Node):
    name = "CloneBackward0"
    saves = {}

    def forward(self, x):
        return x.copy()

    def backward(self, ns, g, ins, out):
        return (g,)


def _make_view(out, x, step):
    """Mark ``out`` (whose array is a NumPy view of ``x``'s) as a view of ``x``'s root, re-derivable by
    replaying the view ops ``step`` after those of ``x`` (see ``_tensor._View``)."""
    if x._is_conj:  # a view of a conjugate view: the conjugate view of the same view
        from .complex_ops import view_of_conj

        return view_of_conj(out, x, step)
    base = x._base
    if base is None:
        root, steps = x, (step,)
    else:
        root, steps = base, x._vsteps + (step,)
    d = out.__dict__
    gf = d.pop("grad_fn", None)
    rg = d.pop("requires_grad", False)
    out.__class__ = _View
    out._gf, out._rg = gf, rg
    out._base = root
    vr = x._vroot
    out._vroot = x if vr is None else vr
    out._vsteps = steps
    out._stamp = root._hist
    out._vgrad = STATE.enabled
    return out


@tensor_method
def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal over ``dim1`` and ``dim2`` (moved to the last dim)."""
    d1, d2 = _dim(dim1, input.ndim, "diagonal"), _dim(dim2, input.ndim, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal: dim1 and dim2 cannot be identical, but both are {d1}")
    return _make_view(Diagonal(offset, d1, d2)(input), input, (diagonal, (offset, d1, d2)))


def _diag_view(a, offset, d1, d2):
    """The (offset) diagonal of dims d1, d2 of array ``a`` as a writable strided view (last dim)."""
    y = np.moveaxis(a, (d1, d2), (-2, -1))
    y = y[..., _pymax(0, -offset):, _pymax(0, offset):]
    n = _pymax(0, _pymin(y.shape[-2], y.shape[-1]))
    return np.lib.stride_tricks.as_strided(y, y.shape[:-2] + (n,), y.strides[:-2] + (y.strides[-2] + y.strides[-1],),
                                           writeable=a.flags.writeable)


class Diagonal(UnaryNode):
    name = "DiagonalBackward0"
    saves = {}

    def __init__(self, offset, d1, d2):
        self.args = (offset, d1, d2)

    def forward(self, x):
        self.shape = x.shape
        return _diag_view(x, *self.args)

    def backward(self, ns, g, ins, out):
        if isinstance(g, Tensor):
            return (DiagonalScatter(self.shape, self.args)(g),)
        z = np.zeros(self.shape, dtype=g.dtype)
        _diag_view(z, *self.args)[...] = g
        return (z,)


class DiagonalScatter(UnaryNode):
    """Zeros of ``shape`` with ``g`` on the diagonal (the backward of ``diagonal``, recorded for create_graph)."""

    name = "DiagonalBackwardBackward0"
    saves = {}

    def __init__(self, shape, args):
        self.shape, self.args = shape, args

    def forward(self, g):
        z = np.zeros(self.shape, dtype=g.dtype)
        _diag_view(z, *self.args)[...] = g
        return z

    def backward(self, ns, g, ins, out):
        return (Diagonal(*self.args)(g) if isinstance(g, Tensor) else _diag_view(g, *self.args).copy(),)


@tensor_method
def movedim(input, source, destination):
    """Move dims ``source`` to positions ``destination`` (ints or sequences), keeping the others' order."""
    src = [source] if isinstance(source, builtins.int) else list(source)
    dst = [destination] if isinstance(destination, builtins.int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src}) and destination ({dst}) "
                           "must have the same number of elements")
    src = [_dim(d, input.ndim, "movedim") for d in src]
    dst = [_dim(d, input.ndim, "movedim") for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in source ({src}) or destination ({dst})")
    if input.ndim == 0:  # dim 0 / -1 of a 0-d tensor, as torch's
        return view(input, ())
    perm = [None] * input.ndim
    for s_, d_ in zip(src, dst):
        perm[d_] = s_
    rest = iter(d for d in range(input.ndim) if d not in src)
    return permute(input, tuple(p if p is not None else next(rest) for p in perm))


moveaxis = movedim
tensor_method(moveaxis, "moveaxis")


@tensor_method
def ravel(input):
    return reshape(input, (-1,))


@tensor_method
def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees k times in the plane ``dims`` (from the first towards the second)."""
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"rot90: expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = (_dim(d, input.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return flip(transpose(input, d0, d1), (d1,))
    return input * 1


@tensor_method
def unfold(x, dimension, size, step):
    """All windows of ``size`` along ``dimension`` with stride ``step``, as a new last dim (Tensor.unfold)."""
    ax = _dim(dimension, x.ndim, "unfold")
    n = x.shape[ax] if x.ndim else 1
    if size > n:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {ax} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    if x.ndim == 0:
        return unsqueeze(x, 0)
    return _make_view(Unfold(ax, size, step)(x), x, (unfold, (ax, size, step)))


def _unfold_view(a, ax, size, step):
    w = np.lib.stride_tricks.sliding_window_view(a, size, axis=ax, writeable=a.flags.writeable)
    return w[(_pyslice(None),) * ax + (_pyslice(None, None, step),)]


class Unfold(UnaryNode):
    """Windows of ``size`` every ``step`` along ``ax`` as a new last dim: a strided view (Tensor.unfold)."""

    name = "UnfoldBackward0"
    saves = {}

    def __init__(self, ax, size, step):
        self.args = (ax, size, step)

    def forward(self, x):
        self.shape = x.shape
        return _unfold_view(x, *self.args)

    def backward(self, ns, g, ins, out):
        return (UnfoldScatter(self.shape, self.args)(g) if isinstance(g, Tensor) else
                UnfoldScatter(self.shape, self.args).forward(g),)


class UnfoldScatter(UnaryNode):
    """The sum of the windows' gradients back into the unfolded dim (unfold's backward)."""

    name = "UnfoldBackwardBackward0"
    saves = {}

    def __init__(self, shape, args):
        self.shape, self.args = shape, args

    def forward(self, g):
        ax, size, step = self.args
        z = np.zeros(self.shape, dtype=g.dtype)
        nwin = g.shape[ax]
        pre = (_pyslice(None),) * ax
        for k in range(size):  # window offset k of every window
            z[pre + (_pyslice(k, k + (nwin - 1) * step + 1, step),)] += g[..., k]
        return z

    def backward(self, ns, g, ins, out):
        return (Unfold(*self.args)(g) if isinstance(g, Tensor) else _unfold_view(g, *self.args).copy(),)


def _strided_geom(op, input, size, stride, storage_offset):
    """Validated ``(size, stride, offset, storage size)`` of an as_strided view of ``input``'s storage."""
    size, stride = tuple(int(v) for v in size), tuple(int(v) for v in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"{op}: mismatch in length of strides and shape ({len(size)} sizes, {len(stride)} strides)")
    root = _storage_root(input._data)
    if not root.flags.c_contiguous:
        root = None
    off = input.storage_offset() if storage_offset is None else int(storage_offset)
    need = off + builtins.sum((n - 1) * s for n, s in zip(size, stride) if n > 0) + 1 if builtins.all(size) else 0
    total = root.size if root is not None else input.numel()
    if root is None or need > total or builtins.any(s < 0 for s in stride) or off < 0:
        raise RuntimeError(
            f"{op}: size {list(size)} and stride {list(stride)} with storage offset {off} need {need} elements, "
            f"but the storage of the tensor of shape {tuple(input.shape)} has {total}"
        )
    return size, stride, off, root.size


@tensor_method
def as_strided(input, size, stride, storage_offset=None):
    """A view of ``input``'s storage with the given sizes and strides (in elements), as torch's ``as_strided``."""
    size, stride, off, n = _strided_geom("as_strided", input, size, stride, storage_offset)
    return _make_view(AsStrided(size, stride, off, n, input)(input), input, (as_strided, (size, stride, off)))


def as_strided_copy(input, size, stride, storage_offset=None, *, out=None):
    """``as_strided`` returning a copy instead of a view."""
    if out is not None:
        return _out.into(out, "as_strided_copy", as_strided_copy, input, size, stride, storage_offset)
    _strided_geom("as_strided_copy", input, size, stride, storage_offset)
    return as_strided(input, size, stride, storage_offset).clone()


@tensor_method
def as_strided_(input, size, stride, storage_offset=None):
    """Make ``input`` itself the as_strided view of its storage (sizes, strides, offset in elements)."""
    if input.requires_grad:
        raise RuntimeError("as_strided_: shape-changing in-place ops on tensors that require grad are not supported "
                           "in ember; use the out-of-place y = x.as_strided(size, stride, storage_offset)")
    size, stride, off, n = _strided_geom("as_strided_", input, size, stride, storage_offset)
    return _shape_inplace(input, Tensor._wrap(AsStrided(size, stride, off, n, input).forward(input._data)),
                          "as_strided_")


@tensor_method
def as_strided_scatter(input, src, size, stride, storage_offset=None):
    """A copy of ``input`` with ``src`` written into the positions of ``input.as_strided(size, stride,
    storage_offset)`` (positions in ``input``'s storage, as torch); differentiable in both."""
    size, stride, off, n = _strided_geom("as_strided_scatter", input, size, stride, storage_offset)
    if not isinstance(src, Tensor):
        raise TypeError(f"as_strided_scatter: src must be a tensor, got {type(src).__name__}")
    if tuple(src.shape) != size:
        raise RuntimeError(f"as_strided_scatter: expected src to have a size equal to the slice of self. src size = "
                           f"{list(src.shape)}, slice size = {list(size)}")
    if src.dtype != input.dtype:
        raise RuntimeError(f"as_strided_scatter: expected src to have the dtype of input ({input.dtype}), got "
                           f"{src.dtype}; cast it with src.to(input.dtype)")
    return AsStridedScatter((size, stride, off), (tuple(input.shape), input.stride(), input.storage_offset()), n)(
        input, src)


class AsStrided(UnaryNode):
    name = "AsStridedBackward0"
    saves = {}

    def __init__(self, size, stride, off, storage_size, x):
        self.geom = (size, stride, off)
        self.xgeom = (tuple(x.shape), x.stride(), x.storage_offset())
        self.n = storage_size

    def forward(self, x):
        root = _storage_root(x)
        size, stride, off = self.geom
        it = root.itemsize
        strides = tuple(s * it for s in stride)
        try:  # a view whose .base is the storage itself, so storage_offset() / _base see it as torch's
            return np.ndarray(size, root.dtype, buffer=root, offset=off * it, strides=strides)
        except (TypeError, ValueError):  # an empty view at the end of its storage
            return np.lib.stride_tricks.as_strided(root.reshape(-1)[off:], size, strides,
                                                   writeable=root.flags.writeable)

    @staticmethod
    def _flat_index(size, stride, off):
        idx = np.full(size, off, dtype=np.int64)
        for d, (n, s) in enumerate(zip(size, stride)):
            sh = [1] * len(size)
            sh[d] = n
            idx = idx + (np.arange(n) * s).reshape(sh)
        return idx

    def backward(self, ns, g, ins, out):
        oi = self._flat_index(*self.geom).reshape(-1)
        xi = self._flat_index(*self.xgeom)
        gf = ns.reshape(g, (-1,))
        store = ns.index_zeros((self.n,), (oi,), gf, True)
        return (ns.index(store, (xi,)),)


class AsStridedScatter(BinaryNode):
    name = "AsStridedScatterBackward0"
    saves = {}

    def __init__(self, geom, xgeom, n):
        oi = AsStrided._flat_index(*geom)
        self.xi = AsStrided._flat_index(*xgeom)
        self.oi, self.n = oi, n
        # input positions the scatter overwrites read their gradient from a slot that stays zero (index n), and
        # so do src elements a later element of src overwrites (overlapping windows: the last write wins)
        self.xi_kept = np.where(np.isin(self.xi, oi), n, self.xi)
        flat = oi.reshape(-1)
        last = np.zeros(flat.size, bool)
        last[flat.size - 1 - np.unique(flat[::-1], return_index=True)[1]] = True
        self.oi_kept = np.where(last, flat, n).reshape(oi.shape)

    def forward(self, x, src):
        store = np.zeros(self.n + 1, dtype=np.result_type(x, src))
        store[self.xi.reshape(-1)] = x.reshape(-1)
        store[self.oi.reshape(-1)] = src.reshape(-1)
        return store[self.xi]

    def backward(self, ns, g, ins, out):
        need = self.needs
        store = ns.index_zeros((self.n + 1,), (self.xi.reshape(-1),), ns.reshape(g, (-1,)), True)
        return (ns.index(store, (self.xi_kept,)) if need[0] else None,
                ns.index(store, (self.oi_kept,)) if need[1] else None)


def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 1-D tensors (``indexing='ij'`` or ``'xy'``; None is 'ij' with torch's warning)."""
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = list(tensors)
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.numel() for t in ts)
    n = len(ts)
    out = [expand(reshape(t, tuple(-1 if i == k else 1 for i in range(n))), shape) for k, t in enumerate(ts)]
    if swap:
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def cartesian_prod(*tensors):
    grids = meshgrid(*tensors, indexing="ij")
    if len(grids) == 1:
        return grids[0]
    return stack([reshape(g, (-1,)) for g in grids], 1)


def atleast_1d(*tensors):
    res = [reshape(t, (1,)) if t.ndim == 0 else t for t in tensors]
    return res[0] if len(res) == 1 else tuple(res)


def atleast_2d(*tensors):
    res = [reshape(t, (1,) * (2 - t.ndim) + tuple(t.shape)) if t.ndim < 2 else t for t in tensors]
    return res[0] if len(res) == 1 else tuple(res)


def column_stack(tensors, *, out=None):
    if out is not None:
        return _out.into(out, "column_stack", column_stack, tensors)
    return cat([reshape(t, (-1, 1)) if t.ndim <= 1 else t for t in tensors], 1)


def _split_dim(op, x, indices_or_sections, dim, min_dim):
    if x.ndim < min_dim:
        raise RuntimeError(f"torch.{op} requires a tensor with at least {min_dim} dimension, but got a tensor "
                           f"with {x.ndim} dimensions!")
    if isinstance(indices_or_sections, int) and x.shape[dim] % indices_or_sections:
        raise RuntimeError(f"torch.{op} attempted to split along dimension {dim}, but the size of the dimension "
                           f"{x.shape[dim]} is not divisible by the split_size {indices_or_sections}!")
    return tensor_split(x, indices_or_sections, dim)


@tensor_method
def hsplit(input, sections=None, *more, indices=None):  # noqa: A002
    """Split along dim 1 if input.ndim > 1 else 0 into ``sections`` equal parts or at ``indices`` (also spread: ``x.hsplit(1, 3)``)."""
    sections = _one_of("hsplit", sections=(sections,) + more if more else sections, indices=indices)
    return _split_dim("hsplit", input, sections, 1 if input.ndim > 1 else 0, 1)


@tensor_method
def vsplit(input, sections=None, *more, indices=None):  # noqa: A002
    """Split along dim 0 into ``sections`` equal parts or at ``indices`` (also spread: ``x.vsplit(1, 3)``)."""
    sections = _one_of("vsplit", sections=(sections,) + more if more else sections, indices=indices)
    return _split_dim("vsplit", input, sections, 0, 2)


@tensor_method
def dsplit(input, sections=None, *more, indices=None):  # noqa: A002
    """Split along dim 2 into ``sections`` equal parts or at ``indices`` (also spread: ``x.dsplit(1, 3)``)."""
    sections = _one_of("dsplit", sections=(sections,) + more if more else sections, indices=indices)
    return _split_dim("dsplit", input, sections, 2, 3)


def atleast_3d(*tensors):
    """Views with at least three dims: (N,) -> (1, N, 1), (M, N) -> (M, N, 1)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(atleast_3d(t) for t in tensors[0])
    if len(tensors) != 1:
        return tuple(atleast_3d(t) for t in tensors)
    t = tensors[0]
    if t.ndim == 0:
        return t.reshape(1, 1, 1)
    if t.ndim == 1:
        return t.reshape(1, -1, 1)
    if t.ndim == 2:
        return t.unsqueeze(-1)
    return t


def dstack(tensors, *, out=None):
    """Stack along the third dim (after ``atleast_3d``)."""
    if out is not None:
        return _out.into(out, "dstack", dstack, tensors)
    return cat([atleast_3d(t) for t in tensors], 2)


def row_stack(tensors, *, out=None):
    """Alias of ``vstack``."""
    if out is not None:
        return _out.into(out, "row_stack", row_stack, tensors)
    return vstack(tensors)


@tensor_method
def narrow_copy(input, dim, start, length, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "narrow_copy", narrow_copy, input, dim, start, length)
    return narrow(input, dim, start, length).clone()


@tensor_method
def split_with_sizes(input, split_sizes, dim=0):  # noqa: A002
    return split(input, list(split_sizes), dim)


@tensor_method
def unsafe_split(input, split_size, dim=0):  # noqa: A002
    return split(input, split_size, dim)


@tensor_method
def unsafe_split_with_sizes(input, split_sizes, dim=0):  # noqa: A002
    return split(input, list(split_sizes), dim)


@tensor_method
def unsafe_chunk(input, chunks, dim=0):  # noqa: A002
    return chunk(input, chunks, dim)


def _copy_of(fn, name):
    def f(*args, out=None, **kwargs):
        if out is not None:
            return _out.into(out, name, f, *args, **kwargs)
        res = fn(*args, **kwargs)
        if isinstance(res, (tuple, list)):
            return type(res)(o.clone() for o in res)
        return res.clone()

    f.__name__ = name
    f.__doc__ = f"``{fn.__name__}`` returning a copy instead of a view."
    return f


alias_copy = _copy_of(lambda x: x, "alias_copy")


detach_copy = _copy_of(lambda x: x.detach(), "detach_copy")


diagonal_copy = _copy_of(diagonal, "diagonal_copy")


expand_copy = _copy_of(lambda x, size, *, implicit=False: expand(x, size), "expand_copy")


permute_copy = _copy_of(permute, "permute_copy")


select_copy = _copy_of(select, "select_copy")


split_copy = _copy_of(split, "split_copy")


split_with_sizes_copy = _copy_of(split_with_sizes, "split_with_sizes_copy")


squeeze_copy = _copy_of(squeeze, "squeeze_copy")


t_copy = _copy_of(t, "t_copy")


transpose_copy = _copy_of(transpose, "transpose_copy")


unbind_copy = _copy_of(unbind, "unbind_copy")


unfold_copy = _copy_of(unfold, "unfold_copy")


unsqueeze_copy = _copy_of(unsqueeze, "unsqueeze_copy")


view_copy = _copy_of(lambda x, *shape: x.view(*shape), "view_copy")


def slice_copy(input, dim=0, start=None, end=None, step=1, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "slice_copy", slice_copy, input, dim, start, end, step)
    idx = (slice(None),) * _dim(dim, input.ndim, "slice_copy") + (slice(start, end, step),)
    return input[idx].clone()


def combinations(input, r=2, with_replacement=False):  # noqa: A002
    """All length-``r`` combinations of the 1-d ``input``'s elements, as rows (differentiable)."""
    import itertools

    n = input.shape[0]
    gen = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = np.array(list(gen(builtins.range(n), r)), dtype=np.int64).reshape(-1, r)
    if idx.size == 0:
        return zeros(0, r, dtype=input.dtype) if r else zeros(0, dtype=input.dtype)
    return input[Tensor._wrap(idx)]


@tensor_method("swapaxes_")
def swapaxes_(self, axis0, axis1):
    return _shape_inplace(self, transpose(self, axis0, axis1), "swapaxes_")


@tensor_method("swapdims_")
def swapdims_(self, dim0, dim1):
    return _shape_inplace(self, transpose(self, dim0, dim1), "swapdims_")


def _shape_inplace(self, result, op):
    if self.requires_grad:
        raise RuntimeError(f"{op}: shape-changing in-place ops on tensors that require grad are not supported "
                           "in ember; use the out-of-place op (e.g. x = x.t())")
    self._data = result._data
    self._bump()
    return self


@tensor_method
def t_(self):
    return _shape_inplace(self, t(self), "t_")


@tensor_method
def transpose_(self, dim0, dim1):
    return _shape_inplace(self, transpose(self, dim0, dim1), "transpose_")


@tensor_method
def squeeze_(self, dim=None):
    return _shape_inplace(self, squeeze(self) if dim is None else squeeze(self, dim), "squeeze_")


@tensor_method
def unsqueeze_(self, dim):
    return _shape_inplace(self, unsqueeze(self, dim), "unsqueeze_")


@tensor_method
def resize_(self, *args, size=None, memory_format=None):
    sizes = args if size is None else (size,)
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    n = int(np.prod(sizes))
    flat = self._data.reshape(-1)
    data = flat[:n] if n <= flat.size else np.concatenate([flat, np.zeros(n - flat.size, flat.dtype)])
    return _shape_inplace(self, Tensor._wrap(data.reshape(sizes).copy()), "resize_")


@tensor_method
def resize_as_(input, the_template, *, memory_format=None):
    return resize_(input, tuple(the_template.shape))


tensor_method(lambda self, *sizes: resize_(self.clone(), *sizes), "resize")
tensor_method(lambda self, tensor: resize_(self.clone(), tuple(tensor.shape)), "resize_as")


tensor_method(_dims_method(flip), "flip")
tensor_method(_dims_method(tile), "tile")

__all__ = _public(globals(), private=('resize_', 'squeeze_', 'swapaxes_', 'swapdims_', 't_', 'tensor_split_sizes', 'transpose_', 'unsqueeze_'))

# Ops of later families, used at call time only. They are imported here, at the end, and every family in
# between is imported first, so the family modules always load in the order of ember/_ops/__init__.py.
from .index import getitem, index_select  # noqa: E402
from .. import _out  # noqa: E402

"""In-place ops (``x.add_(y)``, ``x.abs_()``...): written into the tensor's storage and, when autograd
records them, rebased on the graph as torch does (``CopySlices`` for writes through views)."""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import _dtype as D
from .._tensor import CLOCK, Tensor
from ..autograd.engine import Node
from ..autograd.grad_mode import STATE
from ._registry import tensor_method
from ._helpers import _package, _public
from .creation import tensor
from .casting import cast
from .unary import _arr, exp, neg, relu, sqrt
from .binary import add, clamp, div, mul, pow, sub
from .shape import clone, expand
from .index import _fill_diagonal, index_add, index_copy, index_fill, index_put, masked_fill, scatter, scatter_add


def _leaf_inplace_msg(op):
    return (
        f"a leaf Variable that requires grad is being used in an in-place operation ({op}). "
        "Wrap the update in `with ember.no_grad():` (e.g. for parameter updates), or clone() the tensor first."
    )


def _internal_overlap(a):
    """torch's MemOverlap::Yes: a dimension of size > 1 with stride 0 (an expanded/broadcast view), so that
    several elements of the array are one memory location."""
    return any(s == 0 and n > 1 for s, n in zip(a.strides, a.shape))


def _alias_ranks(a):
    """For a view whose elements may share memory locations (an overlapping ``unfold`` or ``as_strided``; not
    stride 0, which ``_check_writable`` refuses as torch): each element's rank among the elements at its memory
    location, in row-major order, or None when every element is its own location."""
    if a.base is None or a.ndim == 0:
        return None
    span = a.itemsize
    for st, n in sorted((abs(st), n) for st, n in zip(a.strides, a.shape) if n > 1):
        if st < span:
            break
        span += st * (n - 1)
    else:
        return None  # strides that cannot make two elements meet
    offs = np.zeros((), np.int64)
    for d, (st, n) in enumerate(zip(a.strides, a.shape)):
        offs = np.add.outer(offs, np.arange(n, dtype=np.int64) * st) if d else np.arange(n, dtype=np.int64) * st
    offs = offs.ravel()
    order = np.argsort(offs, kind="stable")
    so = offs[order]
    first = np.r_[True, so[1:] != so[:-1]]
    if first.all():
        return None
    pos = np.arange(so.size)
    rank = np.empty(so.size, np.int64)
    rank[order] = pos - np.maximum.accumulate(np.where(first, pos, 0))
    return rank.reshape(a.shape)


def _write_through(x, rd, again):
    """``x[...] = rd`` for an in-place op; where ``x``'s elements share memory (an overlapping unfold), the op
    is applied once per element, in row-major order, as torch's element-by-element kernels do: the k-th
    element at a location sees the location after the op ran for the k-1 before it (``again()`` recomputes
    the op from ``x``'s current values)."""
    ranks = _alias_ranks(x._data)
    if ranks is None:
        x._data[...] = rd
        return
    for r in range(int(ranks.max()) + 1):
        if r:
            rd = again()
        m = ranks == r
        x._data[m] = rd[m]


def _writable_alias(a):
    """A writable array over the same memory as the read-only view ``a`` (one NumPy derived from a broadcast);
    None when its storage cannot be addressed as a buffer."""
    from .._tensor import _storage_root

    root = _storage_root(a)
    if not root.flags.writeable or not root.flags.c_contiguous:
        return None
    off = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    try:
        return np.ndarray(a.shape, a.dtype, buffer=root, offset=off, strides=a.strides)
    except (TypeError, ValueError):
        return None


def _check_writable(x, op):
    if not x._data.flags.writeable:
        alias = _writable_alias(x._data) if x._base is not None and not _internal_overlap(x._data) else None
        if alias is not None:  # e.g. expand(...)[0]: read-only in NumPy, but each element is its own location
            x._data = alias
            return
        if x._base is not None:
            raise RuntimeError(
                f"{op}: unsupported operation: more than one element of the written-to tensor (shape "
                f"{tuple(x.shape)}, a view made by expand/broadcast) refers to a single memory location. "
                "Please clone() the tensor before performing the operation."
            )
        x._data = x._data.copy()  # a tensor made from a read-only array (torch warns and writes too)


def _snapshot(x):
    """A copy of ``x``'s values with ``x``'s autograd identity: what an in-place op reads as its 'self'."""
    old = Tensor._wrap(x._data.copy())
    if x.requires_grad:
        old.requires_grad = True
        old.grad_fn = x.grad_fn
        old._out_idx = x._out_idx
    return old


def _apply_steps(t, steps):
    """Re-derive a view from its root by replaying its view ops (tensors: recorded; arrays: plain)."""
    if isinstance(t, Tensor):
        for fn, args in steps:
            t = fn(t, *args)
        return t
    with _no_record():
        r = Tensor._wrap(t)
        for fn, args in steps:
            r = fn(r, *args)
    return r._data


class CopySlices(Node):
    """A root's new history after an in-place op on one of its views (torch's ``CopySlices``): the root
    with the view's region replaced by ``value``. Recorded with ``record_as`` after the write; it saves
    nothing: backward routes the view region of the gradient to ``value`` and the rest to the old root."""

    name = "CopySlices"
    saves = {}

    def __init__(self, steps, shape, np_dtype):
        self.steps, self.shape, self.dt = steps, shape, np_dtype

    def backward(self, ns, g, ins, out):
        need = self.needs
        gv = None
        if need[1]:
            gv = _apply_steps(g, self.steps)
            if not isinstance(gv, Tensor):
                gv = gv.copy()
        gb = None
        if need[0]:
            m = np.ones(self.shape, dtype=self.dt)
            _apply_steps(m, self.steps)[...] = 0
            gb = g * (Tensor._wrap(m) if isinstance(g, Tensor) else m)
        return gb, gv


def _rebase(x, make, op):
    """Run a recorded in-place op on ``x``: compute ``make(old)`` out of place, write the result into ``x``'s
    storage, and rewrite the history: ``x``'s own (a root), or its root's through ``CopySlices`` (a view),
    as torch's rebase_history does. Views of the root regenerate their grad_fn on next use."""
    root = x._base
    if root is None and x.requires_grad and x.grad_fn is None:
        raise RuntimeError(_leaf_inplace_msg(op))
    if root is not None and root.requires_grad and root.grad_fn is None:
        raise RuntimeError(
            f"a view of a leaf Variable that requires grad is being used in an in-place operation ({op}; the "
            f"view has shape {tuple(x.shape)}, its leaf {tuple(root.shape)}). Wrap the update in "
            "`with ember.no_grad():`, or clone() the leaf first."
        )
    if getattr(x, "_is_conj", False) and root is not None and root.requires_grad:
        raise RuntimeError(
            f"{op}: in-place ops on a conjugate view (z.conj(), z.mH, ...) of a tensor that requires grad are not "
            "supported in ember (torch records them through the conjugate bit); use an out-of-place op, or "
            "resolve_conj() / conj_physical() for a tensor of its own"
        )
    multi = x.__dict__.get("_multi")
    if multi is not None and root is not None and root.requires_grad:
        raise RuntimeError(
            f"Output {multi[1]} of {multi[0]} is a view and is being modified inplace ({op}, shape {tuple(x.shape)}). "
            "This view is one of several outputs of split/chunk/unbind, and in-place changes to such views are "
            "forbidden as in torch. Replace the in-place op with an out-of-place one, or clone() the piece first."
        )
    old = _snapshot(x)
    res = make(old)
    rd = res._data
    if rd.shape != x._data.shape:
        raise RuntimeError(
            f"{op}: the result of shape {tuple(res.shape)} cannot be written into the tensor of shape "
            f"{tuple(x.shape)} (in-place ops can't broadcast the tensor being changed)"
        )
    if rd.dtype != x._data.dtype:
        if not _can_cast(rd.dtype, x._data.dtype):
            raise RuntimeError(f"{op}: result type {D._by_np[rd.dtype]} can't be cast to the desired output type "
                               f"{x.dtype}")
        res = cast(res, x.dtype)
        rd = res._data
    _check_writable(x, op)
    if _alias_ranks(x._data) is not None:
        raise RuntimeError(
            f"{op}: the tensor of shape {tuple(x.shape)} is a view whose elements share memory locations (an "
            "overlapping unfold or as_strided), and ember does not record in-place ops on such views for "
            "autograd; clone() the view first, or write under `with ember.no_grad():`")
    x._data[...] = rd
    x._bump()
    if root is None:
        fn = res.grad_fn
        if x._retains_grad:
            from ..autograd.engine import move_retain_grad

            move_retain_grad(x, fn)
        x.grad_fn = fn
        x.requires_grad = res.requires_grad
        x._out_idx = res._out_idx
        if fn is not None and fn.out_saved is not None and not isinstance(fn.out_saved[0], tuple):
            # the op's saved output is now x's storage: a later change of x must be caught
            import weakref

            fn.out_saved = (x._data, (weakref.ref(x),), x._version)
            fn.rec_clock = CLOCK.now
        x._hist += 1
        return x
    node = CopySlices(x._vsteps, root._data.shape, root._data.dtype)
    node.record_as((root,), (root, res))
    root._hist += 1  # every view of root (x too) now derives its grad_fn from CopySlices
    return x


_KIND = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _can_cast(src, dst):
    """torch's ``can_cast`` for in-place results: not to a lower category (complex > float > integer > bool);
    any width within one, signed and unsigned alike (uint8 += int64 wraps, as torch's)."""
    return _KIND.get(src.kind, 9) <= _KIND.get(dst.kind, 9)


def check_nograd_view(x, op):
    """torch's rule: a view made under ``no_grad`` of a tensor that requires grad may not be written in place
    while grad mode is on (the write could be neither recorded nor ignored consistently)."""
    root = x._base
    if root is None or x.__dict__.get("_vgrad", True) or not root.requires_grad:
        return
    raise RuntimeError(
        f"{op}: A view was created in no_grad mode and is being modified inplace with grad mode enabled. Given that "
        "this use case is ambiguous and error-prone, it is forbidden. Move both the view and the in-place op "
        "inside the no_grad block (if the write should not be tracked) or both outside (if it should).")


def _needs_record(x, other):
    if not STATE.enabled:
        return False
    if x._base is not None:
        check_nograd_view(x, "in-place op")
    if x.requires_grad:
        return True
    if isinstance(other, Tensor):
        return other.requires_grad
    if isinstance(other, tuple):
        return builtins.any(isinstance(o, Tensor) and o.requires_grad for o in other)
    return False


_INPLACE = {
    "add": lambda a, b: add(a, b),
    "sub": lambda a, b: sub(a, b),
    "mul": lambda a, b: mul(a, b),
    "div": lambda a, b: div(a, b),
    "pow": lambda a, b: pow(a, b),
    "clamp": lambda a, b: clamp(a, *b),
    "copy": lambda a, b: _copy_src(a, b),
    "masked_fill": lambda a, b: masked_fill(a, *b),
    "exp": lambda a, b: exp(a),
    "neg": lambda a, b: neg(a),
    "relu": lambda a, b: relu(a),
    "sqrt": lambda a, b: sqrt(a),
}


def _copy_src(a, src):
    src = src if isinstance(src, Tensor) else tensor(src)
    s = cast(src, a.dtype) if src._data.dtype != a._data.dtype else src
    if tuple(s.shape) != tuple(a.shape):
        s = expand(s, tuple(a.shape))
    if a.requires_grad:
        return _overwrite(a, s)
    return clone(s)  # (s * 1 would make a bool source int64)


def _overwrite(old, new):
    """``new`` (broadcast to ``old``'s shape) recorded as replacing ``old``: a zero gradient for ``old``, ``new``'s
    own for it. (``old * 0 + new`` would turn the inf/NaN of ``old`` into NaN.)"""
    from .binary import where

    if not isinstance(new, Tensor):
        new = Tensor._wrap(np.asarray(new, dtype=old._data.dtype))
    return where(Tensor._wrap(np.ones(old._data.shape, dtype=bool)), new, old)


def inplace(x, opname, other):
    """The in-place ops (``add_`` ...): written into ``x``'s storage, recorded when needed."""
    if _needs_record(x, other):
        return _rebase(x, lambda old: _INPLACE[opname](old, other), opname + "_")
    with _no_record():
        res = _INPLACE[opname](x, other)
    rd = res._data
    if rd.shape != x._data.shape:
        raise RuntimeError(
            f"{opname}_: output with shape {tuple(x.shape)} doesn't match the broadcast shape {tuple(rd.shape)}"
        )
    if rd.dtype != x._data.dtype and not _can_cast(rd.dtype, x._data.dtype):
        raise RuntimeError(
            f"{opname}_: result type {D._by_np[rd.dtype]} can't be cast to the desired output type {x.dtype}"
        )
    _check_writable(x, opname + "_")

    def again():
        with _no_record():
            return _INPLACE[opname](x, other)._data

    _write_through(x, rd, again)
    x._bump()
    return x


class _no_record:
    def __enter__(self):
        self.prev = STATE.enabled
        STATE.enabled = False

    def __exit__(self, *a):
        STATE.enabled = self.prev


def inplace_fill(x, value):
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions; "
                           "use copy_() to write a tensor's values")
    if _needs_record(x, value):
        if isinstance(value, Tensor) and value.requires_grad:
            return _rebase(x, lambda old: _overwrite(old, cast(value, x.dtype)), "fill_")
        v = value.item() if isinstance(value, Tensor) else value
        return _rebase(x, lambda old: _overwrite(old, v), "fill_")
    _check_writable(x, "fill_")
    if x._data.dtype.kind != "c" and (isinstance(value, complex) or (
            isinstance(value, Tensor) and value._data.dtype.kind == "c")):
        raise RuntimeError(f"fill_: value cannot be converted to type {x.dtype} without overflow (a complex value "
                           "into a real tensor); fill a complex tensor or pass value.real")
    x._data[...] = value._data if isinstance(value, Tensor) else value
    x._bump()
    return x


def inplace_random(x, kind, a, b, generator):
    from .._random import _gen

    g = _gen(generator)
    with _no_record():
        if x._data.dtype.kind == "c":  # torch: the real and imaginary parts drawn independently
            if kind not in ("uniform", "normal"):
                raise RuntimeError(f"{kind}_: complex tensors are not supported (got {x.dtype}); torch draws complex "
                                   "numbers only with uniform_ and normal_")
            if kind == "uniform":  # each part uniform in [from, to)
                parts = g.np.uniform(a, b, size=x._data.shape + (2,))
            else:  # each part normal around the (real) mean with std / sqrt(2), so E|z - mean|^2 = std^2
                parts = g.np.normal(a, b * math.sqrt(0.5), size=x._data.shape + (2,))
            vals = parts[..., 0] + 1j * parts[..., 1]
        elif kind == "uniform":
            vals = g.np.uniform(a, b, size=x._data.shape)
        elif kind == "bernoulli":
            vals = g.np.random(size=x._data.shape) < _arr(a)
        elif kind == "exponential":
            vals = g.np.exponential(1.0 / a, size=x._data.shape)
        elif kind == "random":
            vals = g.np.integers(a, b, size=x._data.shape)
        else:
            vals = g.np.normal(a, b, size=x._data.shape)
    if STATE.enabled and x.requires_grad:
        vt = Tensor._wrap(np.asarray(vals).astype(x._data.dtype))
        return _rebase(x, lambda old: _overwrite(old, vt), kind + "_")
    _check_writable(x, kind + "_")
    x._data[...] = vals
    x._bump()
    return x


_INPLACE.update({
    "scatter": lambda a, b: scatter(a, *b),
    "scatter_add": lambda a, b: scatter_add(a, *b),
    "index_add": lambda a, b: index_add(a, *b[:3], alpha=b[3]),
    "index_put": lambda a, b: index_put(a, *b),
    "index_fill": lambda a, b: index_fill(a, *b),
    "index_copy": lambda a, b: index_copy(a, *b),
    "fill_diagonal": lambda a, b: _fill_diagonal(a, *b),
    # ``x.op_(*args)`` for the elementwise ops: other = (name, *args)
    "call": lambda a, b: getattr(_package(), b[0])(a, *b[2:], **b[1]),
})


def _random_fill(kind):
    def fill(self, draw, generator):
        from .._random import _gen

        if self._data.dtype.kind == "c":
            raise RuntimeError(f"{kind}_: complex tensors are not supported (got {self.dtype}); a {kind} draw is "
                               "real: fill x.real / x.imag instead")
        vals = draw(_gen(generator).np, self._data.shape)
        if self.requires_grad and self.is_leaf:
            raise RuntimeError(f"a leaf Variable that requires grad is being used in an in-place operation ({kind}_)")
        self._data[...] = vals
        self._bump()
        return self

    if kind == "cauchy":
        def method(self, median=0, sigma=1, *, generator=None):
            return fill(self, lambda g, shape: median + sigma * np.tan(math.pi * (g.random(shape) - 0.5)), generator)
    elif kind == "log_normal":
        def method(self, mean=1, std=2, *, generator=None):
            return fill(self, lambda g, shape: np.exp(g.normal(mean, std, size=shape)), generator)
    else:
        def method(self, p, *, generator=None):
            return fill(self, lambda g, shape: g.geometric(p, size=shape), generator)
    method.__name__ = kind + "_"
    return method


cauchy_ = _random_fill("cauchy")
tensor_method(cauchy_)


log_normal_ = _random_fill("log_normal")
tensor_method(log_normal_)


geometric_ = _random_fill("geometric")
tensor_method(geometric_)


def _torch_inplace_function(name):
    def f(input, *args, **kwargs):  # noqa: A002
        return getattr(input, name)(*args, **kwargs)

    f.__name__ = name
    f.__doc__ = f"``torch.{name}(x, ...)``: the same as ``x.{name}(...)``."
    return f


_TORCH_INPLACE = ("abs_ acos_ acosh_ arccos_ arccosh_ arcsin_ arcsinh_ arctan_ arctanh_ asin_ asinh_ atan_ atanh_ "
                  "ceil_ clamp_ clamp_max_ clamp_min_ clip_ cos_ cosh_ deg2rad_ detach_ erf_ erfc_ exp2_ exp_ expm1_ "
                  "fill_ fix_ floor_ frac_ gcd_ i0_ index_put_ lcm_ ldexp_ log10_ log1p_ log2_ log_ logit_ "
                  "nan_to_num_ neg_ negative_ rad2deg_ reciprocal_ relu_ round_ rsqrt_ sigmoid_ sin_ "
                  "sinc_ sinh_ sqrt_ square_ tan_ tanh_ trunc_ xlogy_ zero_ addmv_ conj_physical_").split()


for _n in _TORCH_INPLACE:
    globals()[_n] = _torch_inplace_function(_n)


__all__ = _public(globals(), private=('cauchy_', 'geometric_', 'inplace', 'inplace_fill', 'inplace_random', 'log_normal_'))

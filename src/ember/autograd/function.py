"""Custom differentiable operations with torch's ``ctx`` API."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from .engine import Node
from .grad_mode import STATE


class FunctionCtx:
    """What ``forward`` and ``backward`` of a custom ``Function`` share."""

    def __init__(self):
        self.needs_input_grad = ()
        self._saved = ()
        self._saved_versions = ()
        self._non_diff = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors):
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save tensors (or None), got {type(t).__name__}; "
                    "store other values as attributes of ctx instead"
                )
        self._saved = tensors
        self._saved_versions = tuple(None if t is None else t._current_version() for t in tensors)

    def _pack_saved(self):
        """Under ``saved_tensors_hooks``: keep ``pack_hook(t)`` of each saved tensor instead of the tensor (torch's);
        ``saved_tensors`` unpacks them (no version check then, as torch)."""
        from . import engine

        pack, unpack = engine.PACK_HOOKS[-1]
        engine.PACKED_EVER[0] = True
        prev = STATE.enabled
        STATE.enabled = False
        try:
            self._packed = (unpack, [None if t is None else pack(t) for t in self._saved])
        finally:
            STATE.enabled = prev
        self._saved = ()
        self._saved_versions = ()

    @property
    def saved_tensors(self):
        packed = self.__dict__.get("_packed")
        if packed is not None and self._saved is not None:
            unpack, items = packed
            return tuple(None if p is None else unpack(p) for p in items)
        if self._saved is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (saved tensors were freed); "
                "use retain_graph=True on the first backward"
            )
        for t, v in zip(self._saved, self._saved_versions):
            if t is not None and t._current_version() != v:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: a tensor of shape {tuple(t.shape)} saved with save_for_backward is at version "
                    f"{t._current_version()}; expected version {v} instead"
                )
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self._non_diff.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool):
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors):
        self._dirty = {id(t) for t in tensors}


class _CustomNode(Node):
    needs_inputs = False
    fcls = None  # class attribute of the per-Function subclass (``<Function name>Backward``, as torch's)

    def __init__(self, ctx, out_meta):
        self.ctx, self.out_meta = ctx, out_meta
        self.n_out = len(out_meta)
        self.multi = self.n_out > 1

    @classmethod
    def for_function(cls, fcls):
        sub = fcls.__dict__.get("_ember_node_cls")
        if sub is None:
            sub = type(fcls.__name__ + "Backward", (cls,), {"fcls": fcls})
            fcls._ember_node_cls = sub
        return sub

    def name(self):
        return self.fcls.__name__ + "Backward"

    def __getattr__(self, attr):
        # torch's ctx is the grad_fn: ``y.grad_fn.saved_tensors``, ``y.grad_fn.needs_input_grad``, ``ctx`` attributes
        if attr.startswith("__"):
            raise AttributeError(attr)
        ctx = self.__dict__.get("ctx")
        if ctx is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{attr}'")
        return getattr(ctx, attr)

    def backward(self, ns, g, ins, out):
        create = STATE.enabled
        gs = g if self.multi else [g]
        grads_in = []
        for gi, (shape, dt) in zip(gs, self.out_meta):
            if gi is None:
                if self.ctx.materialize_grads:
                    grads_in.append(Tensor._wrap(np.zeros(shape, dtype=dt)))
                else:
                    grads_in.append(None)
            else:
                grads_in.append(gi if isinstance(gi, Tensor) else Tensor._wrap(gi))
        if self.__dict__.get("ctx") is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time through {self.name()}; "
                "use retain_graph=True on the first backward"
            )
        res = self.fcls.backward(self.ctx, *grads_in)
        if not isinstance(res, tuple):
            res = (res,)
        n_in = len(self.inputs)
        if len(res) < n_in or any(r is not None for r in res[n_in:]):
            raise RuntimeError(
                f"function {self.name()} returned an incorrect number of gradients (expected {n_in}, got {len(res)}); "
                "backward must return one gradient (or None) per argument of forward"
            )
        out_grads = []
        for i, (x, r) in enumerate(zip(self.inputs, res[:n_in])):
            if not isinstance(x, Tensor):
                continue  # the gradients are indexed by tensor argument (the node's edges)
            if r is None or not x.requires_grad:
                out_grads.append(None)
                continue
            if not isinstance(r, Tensor):
                raise TypeError(f"function {self.name()} returned a {type(r).__name__} as gradient {i}; expected a Tensor or None")
            try:
                np.broadcast_shapes(tuple(r.shape), tuple(x.shape))
                ok = len(r.shape) >= len(x.shape) or tuple(r.shape) == tuple(x.shape)
                if np.broadcast_shapes(tuple(r.shape), tuple(x.shape)) != tuple(r.shape):
                    ok = False
            except ValueError:
                ok = False
            if not ok:
                raise RuntimeError(
                    f"function {self.name()} returned an invalid gradient at index {i} - got {list(r.shape)} but "
                    f"expected shape compatible with {list(x.shape)}"
                )
            out_grads.append(r if create else r._data)
        return out_grads


class Function:
    """Base class for custom differentiable operations (torch's ``autograd.Function``).

    >>> class Square(ember.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 2 * x * g
    >>> y = Square.apply(ember.tensor([3.0], requires_grad=True))
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("subclasses of ember.autograd.Function must implement forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("subclasses of ember.autograd.Function must implement backward(ctx, ...)")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        # torch's two styles: forward(ctx, *args), or forward(*args) with a separate setup_context
        separate = getattr(cls.setup_context, "__func__", cls.setup_context) is not Function.__dict__[
            "setup_context"].__func__
        prev = STATE.enabled
        STATE.enabled = False
        try:
            if separate:
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
            else:
                outputs = cls.forward(ctx, *args, **kwargs)
        finally:
            STATE.enabled = prev
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        record = prev and any(ctx.needs_input_grad)
        dirty = getattr(ctx, "_dirty", ())
        if dirty:
            for a in args:
                if isinstance(a, Tensor) and id(a) in dirty and a.requires_grad and a.grad_fn is None and record:
                    raise RuntimeError(
                        f"{cls.__name__}: a leaf Variable that requires grad has been used in an in-place operation "
                        "(marked with ctx.mark_dirty); clone() it first"
                    )
        if not record:
            return outputs
        from . import engine

        if engine.PACK_HOOKS and ctx._saved:
            ctx._pack_saved()
        fixed = []
        for o in outs:
            if isinstance(o, Tensor) and id(o) not in dirty and any(o is a for a in args):
                o = Tensor._wrap(o._data)  # an input returned as is (not dirty) becomes a new node output
            fixed.append(o)
        meta = [(tuple(o.shape), o._data.dtype) if isinstance(o, Tensor) else ((), np.float32) for o in fixed]
        node = _CustomNode.for_function(cls)(ctx, meta)
        node.inputs = args
        # torch's next_functions: one entry per tensor argument
        node.needs = tuple(a.requires_grad for a in args if isinstance(a, Tensor))
        node._shown_inputs = None
        # the engine walks the edges captured at record time (see Node._record)
        tpos = {}
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                tpos[i] = len(tpos)
        # edges index the tensor arguments (next_functions); backward maps them back through ``inputs``
        node.edges = [
            (tpos[i], a if a.grad_fn is None else a.grad_fn, a.grad_fn is None, a._out_idx, a._data.shape,
             a._data.dtype)
            for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad
        ]
        from .anomaly import ANOMALY, creation_stack

        if ANOMALY.enabled:
            node.stack = creation_stack()
        for i, o in enumerate(fixed):
            if isinstance(o, Tensor) and id(outs[i]) not in ctx._non_diff and o._data.dtype.kind == "f":
                o.requires_grad = True
                o.grad_fn = node
                o._out_idx = i
        return fixed[0] if single else tuple(fixed)


class InplaceFunction(Function):
    pass


class _DelayedError(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


def once_differentiable(fn):
    """Run ``backward`` without recording; its results raise if differentiated again (torch's)."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        prev = STATE.enabled
        STATE.enabled = False
        try:
            outputs = fn(ctx, *args)
        finally:
            STATE.enabled = prev
        if not (prev and any(isinstance(a, Tensor) and a.requires_grad for a in args)):
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        res = []
        for o in outs:
            if isinstance(o, Tensor) and o._data.dtype.kind in "fc":
                o = o.detach().requires_grad_(True)
                o = _DelayedError.apply(o)
            res.append(o)
        return res[0] if single else tuple(res)

    return wrapper

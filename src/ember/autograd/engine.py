"""The autograd engine: graph nodes (``Node``) and the iterative reverse-mode walk.

Every recorded op is a ``Node`` subclass holding its forward and its backward side by side.
``backward(ns, g, ins, out)`` is written once, with the functions of ``ns`` and Python operators:
the engine passes raw arrays and ``ARRAY_NS`` for a plain first-order backward (fast: no tensors are
built), or tensors and ``TENSOR_NS`` under ``create_graph=True`` so the backward is itself recorded
and can be differentiated again.
"""
from __future__ import annotations

import weakref

import numpy as np

from .._tensor import CLOCK, Tensor
from .anomaly import ANOMALY, creation_stack
from .grad_mode import STATE


_new = object.__new__


class Node:
    """A recorded operation. Subclasses define ``forward(*arrays)`` and ``backward(ns, g, ins, out)``."""

    n_out = 1
    needs_out = False  # backward reads the output value (kept through a weak reference)
    needs_inputs = True  # backward reads input values (checked against in-place changes)
    inputs = ()
    edges = ()
    out_ref = None
    rec_clock = None  # CLOCK.now when recorded, for nodes whose backward reads saved values
    stack = None
    freed = False
    pre_hooks = None  # tensor hooks registered on this node's output(s)

    def __call__(self, *inputs):
        datas = []
        record = False
        for x in inputs:
            if isinstance(x, Tensor):
                datas.append(x._data)
                if x.requires_grad:
                    record = True
            else:
                datas.append(x)
        try:
            out = self.forward(*datas)
        except ValueError as e:
            raise self.forward_error(e, inputs) from None
        if out.__class__ is not np.ndarray and isinstance(out, np.generic):
            out = np.asarray(out)
        t = _new(Tensor)
        t._data = out
        if record and STATE.enabled:
            self._record(t, inputs)
        return t

    def forward_error(self, e, inputs):
        """Turn a NumPy error in forward into one that names the op and the shapes."""
        shapes = ", ".join(str(tuple(x.shape)) for x in inputs if isinstance(x, Tensor))
        if "broadcast" in str(e):
            return RuntimeError(
                f"{self.opname()}: the shapes {shapes} are not broadcastable: trailing dimensions must be equal "
                "or 1. Reshape one operand (e.g. with unsqueeze/view) so the dimensions line up."
            )
        return RuntimeError(f"{self.opname()}: invalid input of shapes {shapes}: {e}")

    def opname(self):
        return getattr(self, "op", None) or type(self).__name__.lower()

    def _record(self, t, inputs):
        t.requires_grad = True
        t.grad_fn = self
        self.inputs = inputs
        # Edges are captured now (like torch's next_functions): a later in-place op that rebinds an
        # input's grad_fn must not reroute gradients that belong to this op.
        edges = []
        i = 0
        for x in inputs:
            if isinstance(x, Tensor) and x.requires_grad:
                fn = x.grad_fn
                d = x._data
                edges.append((i, x if fn is None else fn, fn is None, x._out_idx, d.shape, d.dtype))
            i += 1
        self.edges = edges
        if self.needs_inputs:
            self.rec_clock = CLOCK.now
        if self.needs_out:
            self.rec_clock = CLOCK.now
            self.out_ref = weakref.ref(t)
        if ANOMALY.enabled:
            self.stack = creation_stack()

    def name(self):
        return type(self).__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name()}>"

    @property
    def next_functions(self):
        return tuple((None if leaf else nxt, idx) for _, nxt, leaf, idx, _, _ in self.edges)

    def forward(self, *arrays):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, ns, g, ins, out):  # pragma: no cover - abstract
        raise NotImplementedError


class UnaryNode(Node):
    """A node with one tensor input: the same as ``Node.__call__`` without the generic loops."""

    def __call__(self, x):
        xd = x._data
        try:
            out = self.forward(xd)
        except ValueError as e:
            raise self.forward_error(e, (x,)) from None
        if out.__class__ is not np.ndarray and isinstance(out, np.generic):
            out = np.asarray(out)
        t = _new(Tensor)
        t._data = out
        if x.requires_grad and STATE.enabled:
            t.requires_grad = True
            t.grad_fn = self
            self.inputs = (x,)
            fn = x.grad_fn
            self.edges = ((0, x if fn is None else fn, fn is None, x._out_idx, xd.shape, xd.dtype),)
            if self.needs_inputs:
                self.rec_clock = CLOCK.now
            if self.needs_out:
                self.rec_clock = CLOCK.now
                self.out_ref = weakref.ref(t)
            if ANOMALY.enabled:
                self.stack = creation_stack()
        return t


class BinaryNode(Node):
    """A node with two inputs (tensors or Python numbers), with a specialised call."""

    def __call__(self, a, b):
        ta = isinstance(a, Tensor)
        tb = isinstance(b, Tensor)
        try:
            out = self.forward(a._data if ta else a, b._data if tb else b)
        except ValueError as e:
            raise self.forward_error(e, (a, b)) from None
        if out.__class__ is not np.ndarray and isinstance(out, np.generic):
            out = np.asarray(out)
        t = _new(Tensor)
        t._data = out
        ra = ta and a.requires_grad
        rb = tb and b.requires_grad
        if (ra or rb) and STATE.enabled:
            t.requires_grad = True
            t.grad_fn = self
            self.inputs = (a, b)
            if ra:
                fn = a.grad_fn
                d = a._data
                ea = (0, a if fn is None else fn, fn is None, a._out_idx, d.shape, d.dtype)
            if rb:
                fn = b.grad_fn
                d = b._data
                eb = (1, b if fn is None else fn, fn is None, b._out_idx, d.shape, d.dtype)
            self.edges = (ea, eb) if ra and rb else ((ea,) if ra else (eb,))
            if self.needs_inputs:
                self.rec_clock = CLOCK.now
            if self.needs_out:
                self.rec_clock = CLOCK.now
                self.out_ref = weakref.ref(t)
            if ANOMALY.enabled:
                self.stack = creation_stack()
        return t


class MultiNode(Node):
    """A node with several outputs (``n_out`` of them, set by the subclass). ``forward`` returns a tuple of
    arrays; ``backward`` receives a list of output gradients with ``None`` for outputs that got none."""

    n_out = 2

    def __call__(self, *inputs):
        datas = []
        record = False
        for x in inputs:
            if isinstance(x, Tensor):
                datas.append(x._data)
                if x.requires_grad:
                    record = True
            else:
                datas.append(x)
        outs = self.forward(*datas)
        ts = []
        for a in outs:
            t = _new(Tensor)
            t._data = a
            ts.append(t)
        if record and STATE.enabled:
            self._record(ts[0], inputs)
            for i in range(1, len(ts)):
                t = ts[i]
                t.requires_grad = True
                t.grad_fn = self
                t._out_idx = i
        return tuple(ts)


class _Hook:
    """Handle returned by ``register_hook``; ``remove()`` detaches the hook."""

    def __init__(self, lst, fn):
        self._lst, self._fn = lst, fn

    def remove(self):
        if self._fn in self._lst:
            self._lst.remove(self._fn)


def register_tensor_hook(t: Tensor, hook):
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if t.grad_fn is None:
        hooks = t.__dict__.setdefault("_hooks", [])
    else:
        fn = t.grad_fn
        if fn.pre_hooks is None:
            fn.pre_hooks = []
        hooks = fn.pre_hooks
    hooks.append(hook)
    return _Hook(hooks, hook)


def retain_grad(t: Tensor):
    if not t.requires_grad:
        raise RuntimeError("can't retain_grad on a tensor that has requires_grad=False")
    if t.grad_fn is None or t._retains_grad:
        return
    t._retains_grad = True
    ref = weakref.ref(t)

    def _retain(g):
        tt = ref()
        if tt is not None:
            gg = g.detach() if isinstance(g, Tensor) else Tensor._wrap(g)
            tt.grad = gg if tt.grad is None else Tensor._wrap(tt.grad._data + gg._data)
        return None

    _retain._ember_retain = True
    register_tensor_hook(t, _retain)


# ---------------------------------------------------------------------------- the walk


def _freed_error(fn):
    return RuntimeError(
        f"Trying to backward through the graph a second time (through {fn.name()}), but its saved "
        "values were already freed by the first backward. Specify retain_graph=True on the first "
        "backward() (or autograd.grad()) if you need to backward through the graph again."
    )


def _check_versions(fn):
    """Raise if a value this node saved was changed in place after it was recorded."""
    c = fn.rec_clock
    if fn.needs_inputs:
        for x in fn.inputs:
            if isinstance(x, Tensor):
                root = x if x._base is None else x._base
                if root._vclock > c:
                    raise RuntimeError(
                        f"one of the variables needed for gradient computation has been modified by an "
                        f"inplace operation: a tensor of shape {tuple(x.shape)} used by {fn.name()} is at "
                        f"version {root._version}, newer than the version {fn.name()} saved. Use an "
                        "out-of-place op (e.g. x = x + 1 instead of x += 1) or .clone() the tensor before "
                        "changing it."
                    )
    if fn.needs_out:
        t = fn.out_ref()
        if t is not None and (t if t._base is None else t._base)._vclock > c:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: the output of {fn.name()} (shape {tuple(t.shape)}) is at version {t._version}, "
                "newer than the version saved for backward. Use an out-of-place op or .clone() it first."
            )


def _run_hooks(hooks, g, create_graph):
    for h in list(hooks):
        if getattr(h, "_ember_retain", False):
            h(g)
            continue
        gt = g if isinstance(g, Tensor) else Tensor._wrap(g)
        r = h(gt)
        if r is not None:
            if not isinstance(r, Tensor):
                raise TypeError(f"a tensor hook must return a Tensor or None, got {type(r).__name__}")
            g = r if create_graph else r._data
    return g


def _collect(roots):
    """Count how many times each node is consumed, walking iteratively (no recursion limit)."""
    deps = {}
    stack = []
    for fn in roots:
        if fn not in deps:
            deps[fn] = 0
            stack.append(fn)
    while stack:
        fn = stack.pop()
        if fn.freed:
            raise _freed_error(fn)
        for _, nxt, leaf, _, _, _ in fn.edges:
            if leaf:
                continue
            if nxt in deps:
                deps[nxt] += 1
            else:
                deps[nxt] = 1
                stack.append(nxt)
    return deps


def run_backward(outputs, grad_outputs, retain_graph, create_graph, capture=None, accumulate=True):
    """Propagate ``grad_outputs`` from ``outputs`` to the leaves.

    ``capture``: dict id(tensor) -> None, filled with the gradients of those tensors (autograd.grad).
    ``accumulate``: add into leaves' ``.grad``.
    """
    from .functional_ns import ARRAY_NS, TENSOR_NS

    ns = TENSOR_NS if create_graph else ARRAY_NS
    if not create_graph:
        grad_outputs = [g._data for g in grad_outputs]
    prev_mode = STATE.enabled
    STATE.enabled = bool(create_graph)
    try:
        buf = {}  # node -> gradient of its output (or list, for multi-output nodes)
        leaf_buf = {}  # id(leaf) -> [leaf, grad]
        roots = []
        for t, g in zip(outputs, grad_outputs):
            fn = t.grad_fn
            if fn is None:
                _add_leaf(leaf_buf, t, g)
                continue
            _add_buf(buf, fn, t._out_idx, g)
            roots.append(fn)
        deps = _collect(roots)
        anomaly = ANOMALY.enabled
        ready = [fn for fn in dict.fromkeys(roots) if deps.get(fn, 0) == 0]
        processed = []
        while ready:
            fn = ready.pop()
            g = buf.pop(fn)
            processed.append(fn)
            if fn.rec_clock is not None and fn.rec_clock != CLOCK.now:
                _check_versions(fn)
            if fn.pre_hooks:
                g = _run_hooks(fn.pre_hooks, g, create_graph)
            if capture is not None and fn in capture_nodes(capture):
                _capture_node(capture, fn, g)
            out = None
            if fn.needs_out:
                out = fn.out_ref()
                if out is None:
                    raise RuntimeError(f"{fn.name()}: the output saved for backward no longer exists")
            if create_graph:
                vals = fn.inputs
            else:
                # nodes that declare needs_inputs = False get None: they must not read input values
                vals = [x._data if isinstance(x, Tensor) else x for x in fn.inputs] if fn.needs_inputs else None
                if out is not None:
                    out = out._data
            grads = fn.backward(ns, g, vals, out)
            if len(grads) < len(fn.inputs):
                raise RuntimeError(
                    f"{fn.name()} returned {len(grads)} gradients for {len(fn.inputs)} inputs (an ember bug, or a "
                    "custom node whose backward must return one gradient or None per input)"
                )
            if anomaly:
                _check_nan(fn, grads)
            for i, nxt, leaf, oidx, shape, dt in fn.edges:
                gx = grads[i]
                if gx is None:
                    continue
                gd = gx._data if create_graph else gx
                if gd.shape != shape:
                    gx = ns.sum_to(gx, shape)
                    gd = gx._data if create_graph else gx
                if gd.dtype != dt:
                    gx = ns.cast(gx, dt)
                if leaf:
                    _add_leaf(leaf_buf, nxt, gx)
                elif nxt.n_out == 1:
                    old = buf.get(nxt)
                    buf[nxt] = gx if old is None else old + gx
                    d = deps[nxt] - 1
                    deps[nxt] = d
                    if d == 0:
                        ready.append(nxt)
                else:
                    _add_buf(buf, nxt, oidx, gx)
                    d = deps[nxt] - 1
                    deps[nxt] = d
                    if d == 0:
                        ready.append(nxt)
        if not retain_graph:
            # freed only now: a node's output is kept alive by its consumers' inputs until here
            for fn in processed:
                _free(fn)
        handed = {id(g) for g in grad_outputs} if not create_graph else set()
        for leaf, g in leaf_buf.values():
            if not create_graph:
                if id(g) in handed or _may_alias(g):
                    g = g.copy()
                handed.add(id(g))
            hooks = leaf.__dict__.get("_hooks")
            if hooks:
                g = _run_hooks(hooks, g, create_graph)
            if capture is not None and id(leaf) in capture:
                capture[id(leaf)] = g if create_graph else Tensor._wrap(g)
                continue
            if not accumulate:
                continue
            _accumulate_grad(leaf, g, create_graph)
    finally:
        STATE.enabled = prev_mode


def capture_nodes(capture):
    return capture.get("__nodes__", ())


def _capture_node(capture, fn, g):
    for tid in capture["__nodes__"][fn]:
        capture[tid] = g if isinstance(g, Tensor) else Tensor._wrap(g)


def _add_buf(buf, fn, idx, g):
    if fn.n_out == 1:
        old = buf.get(fn)
        buf[fn] = g if old is None else old + g
    else:
        lst = buf.get(fn)
        if lst is None:
            lst = buf[fn] = [None] * fn.n_out
        lst[idx] = g if lst[idx] is None else lst[idx] + g


def _add_leaf(leaf_buf, t, g):
    e = leaf_buf.get(id(t))
    if e is None:
        leaf_buf[id(t)] = [t, g]
    else:
        e[1] = e[1] + g


def _accumulate_grad(leaf, g, create_graph):
    if create_graph:
        gt = g if isinstance(g, Tensor) else Tensor._wrap(g)
        leaf.grad = gt if leaf.grad is None else leaf.grad + gt
        return
    if leaf.grad is None:
        # the engine may hand back an array that aliases another (e.g. add passes g through): own it
        leaf.grad = Tensor._wrap(g.copy() if _may_alias(g) else g)
    else:
        old = leaf.grad
        if old.requires_grad or not old._data.flags.writeable or old._data.shape != g.shape:
            leaf.grad = Tensor._wrap((old._data + g).astype(leaf._data.dtype, copy=False))
        else:
            np.add(old._data, g, out=old._data, casting="unsafe")
            old._bump()


def _may_alias(g):
    return g.base is not None or not g.flags.owndata or not g.flags.writeable


def _free(fn):
    # drop everything the node holds (inputs, saved arrays) but keep what error messages need
    d = fn.__dict__
    if "pre_hooks" in d or "stack" in d:
        keep = {k: d[k] for k in ("pre_hooks", "stack") if k in d}
        d.clear()
        d.update(keep)
    else:
        d.clear()
    fn.freed = True


def _check_nan(fn, grads):
    for g in grads:
        if g is None:
            continue
        a = g._data if isinstance(g, Tensor) else g
        if a.dtype.kind == "f" and np.isnan(np.asarray(a)).any():
            where = f"\nThe forward call that created it:\n{fn.stack}" if fn.stack else ""
            raise RuntimeError(f"Function '{fn.name()}' returned nan values in its gradient.{where}")


# ---------------------------------------------------------------------------- public entry points


def _make_grads(outputs, grad_outputs, create_graph, who):
    grads = []
    for i, (t, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: outputs must be Tensors, got {type(t).__name__} at position {i}")
        if not t.requires_grad:
            raise RuntimeError(
                f"{who}: element {i} of tensors does not require grad and does not have a grad_fn "
                "(was it computed under no_grad(), or from tensors without requires_grad=True?)"
            )
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(
                    f"{who}: grad can be implicitly created only for scalar outputs, but the output has "
                    f"shape {tuple(t.shape)}. Pass gradient= (a tensor of that shape), or reduce the "
                    "output first, e.g. y.sum().backward()."
                )
            g = Tensor._wrap(np.ones_like(t._data))
        else:
            if not isinstance(g, Tensor):
                g = Tensor._wrap(np.asarray(g, dtype=t._data.dtype))
            if tuple(g.shape) != tuple(t.shape):
                raise RuntimeError(
                    f"{who}: mismatch in shape: gradient has shape {tuple(g.shape)} but the output has shape "
                    f"{tuple(t.shape)}; pass a gradient of the output's shape"
                )
        grads.append(g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Compute gradients of ``tensors`` w.r.t. graph leaves and accumulate them into ``.grad``."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    if retain_graph is None:
        retain_graph = create_graph
    grads = _make_grads(tensors, list(grad_tensors), create_graph, "backward")
    if inputs is None:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # torch never warns in backward
            run_backward(tensors, grads, retain_graph, create_graph)
        return
    # backward(inputs=...): gradients reach only these tensors (leaves or not), into their .grad
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if len(inputs) == 0:
        raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"backward: inputs[{i}] does not require grad; set requires_grad=True on it")
    capture = {id(t): None for t in inputs}
    nodes = {}
    for t in inputs:
        if t.grad_fn is not None:
            nodes.setdefault(t.grad_fn, []).append(id(t))
    capture["__nodes__"] = nodes
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        run_backward(tensors, grads, retain_graph, create_graph, capture=capture, accumulate=False)
    for t in dict.fromkeys(inputs):
        g = capture[id(t)]
        if g is not None:
            _accumulate_grad(t, g if create_graph else g._data.copy(), create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False,
         materialize_grads=False):
    """Return the gradients of ``outputs`` w.r.t. ``inputs`` (a tuple), without touching ``.grad``."""
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    inputs_t = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    for i, t in enumerate(inputs_t):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"autograd.grad: input {i} does not require grad; set requires_grad=True on it")
    grads = _make_grads(outputs, list(grad_outputs), create_graph, "autograd.grad")
    capture = {id(t): None for t in inputs_t}
    nodes = {}
    for t in inputs_t:
        if t.grad_fn is not None:
            nodes.setdefault(t.grad_fn, []).append(id(t))
    capture["__nodes__"] = nodes
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        run_backward(outputs, grads, retain_graph, create_graph, capture=capture, accumulate=False)
    result = []
    for i, t in enumerate(inputs_t):
        g = capture[id(t)]
        if g is None:
            if materialize_grads:
                g = Tensor._wrap(np.zeros_like(t._data))
            elif not allow_unused:
                raise RuntimeError(
                    f"autograd.grad: input {i} (shape {tuple(t.shape)}) was not used to compute the outputs. "
                    "Pass allow_unused=True if this is expected (its gradient is then None)."
                )
        result.append(g)
    return tuple(result)

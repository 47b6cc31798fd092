"""The autograd engine: graph nodes (``Node``) and the iterative reverse-mode walk.

Every recorded op is a ``Node`` subclass holding its forward and its backward side by side.
``backward(ns, g, ins, out)`` is written once, with the functions of ``ns`` and Python operators:
the engine passes raw arrays and ``ARRAY_NS`` for a plain first-order backward (fast: no tensors are
built), or tensors and ``TENSOR_NS`` under ``create_graph=True`` so the backward is itself recorded
and can be differentiated again.

**Saved values per operand** (torch's saved variables, Chainer's ``retain_inputs``). A node class
declares what its backward reads::

    class Mul(BinaryNode):
        name = "MulBackward0"        # torch's grad_fn name
        saves = {0: (1,), 1: (0,)}   # the gradient of input i reads the values of these inputs
        save_out = False             # True: backward reads the output

When the node is recorded, ``_record`` (the one record path) keeps exactly the inputs that the
gradients of the inputs that need one will read, with their version counters; nothing else is held
(edges point at the producing nodes, not at tensors). Only saved tensors are version-checked at
backward time. Index, mask and condition tensors that backward reads are node *inputs*, so the same
rule saves and checks them. A class that declares no ``saves`` is a legacy node: it keeps every input
(``self.inputs``) and the old ``needs_inputs``/``needs_out`` flags decide what is checked.
"""
from __future__ import annotations

import warnings

import weakref

import numpy as np

from .. import _dtype as _D
from .._tensor import CLOCK, Tensor
from .anomaly import ANOMALY, EVER as _ANOMALY_EVER, creation_stack
from .grad_mode import STATE

_new = object.__new__
_CPLX = _D.CPLX  # [True] once a complex dtype was seen: nodes then check their inputs (see Node.complex_ok)


def _saved_value(x):
    if isinstance(x, Tensor):
        r = x._vroot
        return (x, (x if r is None else r)._ver)
    return (x, None)


def _bits(plan):
    return sum(1 << j for j in plan if j < 2)


# the stack of active ``autograd.graph.saved_tensors_hooks`` (pack, unpack) pairs; empty (the usual case): a
# recorded op checks this list once, only when it saves something
PACK_HOOKS = []
PACKED_EVER = [False]  # some node was packed: until then the backward walk does not look for packed nodes

# HOOKED[0]: some node hook (tensor hook on a non-leaf, retain_grad, node.register_hook/prehook) was ever
# registered; until then the backward walk does not look for hooks on each node
HOOKED = [False]

_T1 = (True,)
_TF = (True, False)
_FT = (False, True)
_TT = (True, True)
_NEEDS2 = (None, _TF, _FT, _TT)  # indexed by (input 0 needs grad) | (input 1 needs grad) << 1


class Node:
    """A recorded operation. Subclasses define ``forward(*arrays)`` and ``backward(ns, g, ins, out)``."""

    n_out = 1
    multi = False  # True: outputs come as a tuple and backward gets a list of gradients (even of one)
    saves = None  # {grad index: (input indices read)}; None: legacy node (keeps all inputs)
    save_out = False  # backward reads the output value(s)
    needs_inputs = True  # legacy flag: backward reads input values
    needs_out = False  # legacy flag: backward reads the output
    needs = ()  # per input: does it need a gradient
    edges = ()
    saved = None  # per input: None or (value, version at record time)
    out_saved = None  # (array(s), weakref to the output tensor(s), version)
    packed = None  # under saved_tensors_hooks: (unpack hook, [per input: packed or None], [per output: packed])
    rec_clock = None  # CLOCK.now when recorded, for nodes whose backward reads saved values
    stack = None
    freed = False
    pre_hooks = None  # tensor hooks registered on this node's output(s)
    _grad_name = None
    _post_hooks = None  # hooks registered with ``node.register_hook``
    _plans = None
    _legacy = True
    complex_ok = False  # True: forward and backward handle complex inputs (torch's conjugate-Wirtinger gradients)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        nm = cls.__dict__.get("name")
        if isinstance(nm, str):  # ``name = "MulBackward0"`` in the class body; name() stays a method
            cls._grad_name = nm
            delattr(cls, "name")
        cls._plans = {}
        cls._legacy = cls.saves is None
        if cls._legacy:  # old flags: all inputs kept when needs_inputs, the output when needs_out
            cls.save_out = cls.needs_out
        # the plans of the one- and two-input call paths, cached from ``_plan`` (the one rule): bit 0 keep
        # input 0, bit 1 keep input 1, bit 2 keep the output, bit 3 legacy (keep ``inputs``); 0 = keep nothing
        extra = (4 if cls.save_out else 0) | (8 if cls._legacy else 0)
        cls._rec1 = _bits(cls._plan_for((True,))) | extra
        cls._rec2 = (0,) + tuple(_bits(cls._plan_for(n)) | extra for n in _NEEDS2[1:])

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
        if _CPLX[0] and not self.complex_ok:
            self.check_real(datas)
        try:
            out = self.forward(*datas)
        except ValueError as e:
            raise self.forward_error(e, inputs) from None
        if out.__class__ is not np.ndarray and isinstance(out, np.generic):
            out = np.asarray(out)
        t = _new(Tensor)
        t._data = out
        if record and STATE.enabled:
            self._record((t,), inputs)
        return t

    def check_real(self, datas):
        """Refuse complex inputs for an op that does not support them (instead of NumPy's silent discarding of
        the imaginary part, its comparisons of complex numbers, or a deep TypeError)."""
        for a in datas:
            if getattr(getattr(a, "dtype", None), "kind", None) == "c" or isinstance(a, complex):
                raise RuntimeError(
                    f"{self.opname()}: complex tensors are not supported by this op (got "
                    f"{'ember.' + str(a.dtype) if hasattr(a, 'dtype') else 'a complex'} input). ember supports "
                    "complex numbers in arithmetic, matmul, sum/mean, exp/log/sqrt, abs/angle, real/imag/conj, shape "
                    "and indexing ops and ember.fft; apply this op to x.real / x.imag or x.abs() instead."
                )

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
        return getattr(self, "op", None) or self.name().removesuffix("Backward0").removesuffix("Backward").lower()

    # ------------------------------------------------------------------ the one record path
    def _record(self, outs, inputs):
        """Make ``outs`` the outputs of this node and keep what its backward reads (see module doc)."""
        needs = []
        edges = []
        i = 0
        for x in inputs:
            if isinstance(x, Tensor) and x.requires_grad:
                fn = x.grad_fn
                d = x._data
                # edges are captured now (like torch's next_functions): a later in-place op that rebinds
                # an input's grad_fn must not reroute gradients that belong to this op
                edges.append((i, x if fn is None else fn, fn is None, x._out_idx, d.shape, d.dtype))
                needs.append(True)
            else:
                needs.append(False)
            i += 1
        self.edges = edges
        needs = tuple(needs)
        self.needs = needs
        for k, t in enumerate(outs):
            t.requires_grad = True
            t.grad_fn = self
            if k:
                t._out_idx = k
        if self._legacy:
            self.inputs = inputs
        plans = self._plans
        plan = plans.get(needs)
        if plan is None:
            plan = plans[needs] = self._plan(needs)
        if plan:
            saved = [None] * len(inputs)
            for j in plan:
                x = inputs[j]
                saved[j] = (x, x._version) if isinstance(x, Tensor) else (x, None)
            self.saved = saved
            self.rec_clock = CLOCK.now
        if self.save_out:
            self.rec_clock = CLOCK.now
            if len(outs) == 1:
                t = outs[0]
                self.out_saved = (t._data, (weakref.ref(t),), t._version)
            else:
                self.out_saved = (tuple(t._data for t in outs), tuple(weakref.ref(t) for t in outs), 0)
        if PACK_HOOKS and (plan or self.save_out):
            _pack(self, outs)
        if _ANOMALY_EVER[0] and ANOMALY.enabled:
            self.stack = creation_stack()

    @classmethod
    def _plan_for(cls, needs):
        """The input indices to keep, given which inputs need a gradient: the one rule of what is saved
        (cached per class in ``_plans``, ``_rec1`` and ``_rec2``)."""
        if cls.saves is None:
            return tuple(range(len(needs))) if cls.needs_inputs else ()
        keep = set()
        for gi, reads in cls.saves.items():
            if gi < len(needs) and needs[gi]:
                keep.update(reads)
        return tuple(sorted(j for j in keep if j < len(needs)))

    def _plan(self, needs):
        return self._plan_for(needs)

    def guard(self, tensors):
        """Version-check ``tensors`` (index/mask arrays a backward reads but that are not inputs) at backward."""
        self.guards = [(t, t._version) for t in tensors]
        self.rec_clock = CLOCK.now

    def record_as(self, outs, inputs):
        """Record this node for outputs computed elsewhere (in-place writes) without running forward."""
        for t in outs:
            if t._retains_grad:
                move_retain_grad(t, self)
        self._record(outs, inputs)

    # ------------------------------------------------------------------ introspection (torch's API)
    def name(self):
        n = self._grad_name
        return n if n is not None else type(self).__name__ + "Backward0"

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"

    @property
    def next_functions(self):
        """One ``(node, output index)`` per input, ``AccumulateGrad`` for leaves, ``(None, 0)`` for inputs
        that need no gradient (torch's layout)."""
        res = [(None, 0)] * len(self.needs)
        for i, nxt, leaf, idx, _, _ in self.edges:
            res[i] = (AccumulateGrad.of(nxt), 0) if leaf else (nxt, idx)
        shown = self.__dict__.get("_shown_inputs")
        if shown is not None:  # torch's node has fewer inputs (a number operand, a condition) than ember's
            return tuple(res[i] for i in shown)
        return tuple(res)

    @property
    def metadata(self):
        d = self.__dict__.get("_metadata")
        if d is None:
            d = self._metadata = {}
        return d

    def register_hook(self, hook):
        """``hook(grad_inputs, grad_outputs) -> None or new grad_inputs`` after this node ran (torch's)."""
        HOOKED[0] = True
        lst = self._post_hooks
        if lst is None:
            lst = self._post_hooks = []
        lst.append(hook)
        return _Hook(lst, hook)

    def register_prehook(self, hook):
        """``hook(grad_outputs) -> None or new grad_outputs`` before this node runs (after the tensor hooks)."""
        HOOKED[0] = True
        if self.pre_hooks is None:
            self.pre_hooks = []

        def pre(gs, _hook=hook):
            return _hook(gs)

        pre._ember_node_pre = True
        self.pre_hooks.append(pre)
        return _Hook(self.pre_hooks, pre)

    def saved_info(self):
        """What this node keeps for backward: a list of (label, shape, dtype name, nbytes)."""
        info = []
        for j, s in enumerate(self.saved or ()):
            if s is None:
                continue
            v = s[0]
            a = v._data if isinstance(v, Tensor) else v
            if isinstance(a, np.ndarray):
                info.append((f"input {j}", tuple(a.shape), str(a.dtype), int(a.nbytes)))
        if self.out_saved is not None and self.out_saved[0] is not None:
            arrs = self.out_saved[0] if isinstance(self.out_saved[0], tuple) else (self.out_saved[0],)
            for k, a in enumerate(arrs):
                info.append(("result" if len(arrs) == 1 else f"result {k}", tuple(a.shape), str(a.dtype),
                             int(a.nbytes)))
        return info

    def forward(self, *arrays):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, ns, g, ins, out):  # pragma: no cover - abstract
        raise NotImplementedError


class AccumulateGrad:
    """The node that accumulates into a leaf's ``.grad`` (what ``next_functions`` shows for leaves)."""

    def __init__(self, variable):
        self.variable = variable

    @staticmethod
    def of(leaf):
        acc = leaf.__dict__.get("_acc_node")
        if acc is None:
            acc = AccumulateGrad(leaf)
            leaf.__dict__["_acc_node"] = acc
        return acc

    def name(self):
        return "AccumulateGrad"

    next_functions = ()

    @property
    def metadata(self):
        d = self.__dict__.get("_metadata")
        if d is None:
            d = self._metadata = {}
        return d

    def register_prehook(self, hook):
        """``hook(grad_outputs) -> None or (grad,)`` before the leaf's gradient is accumulated (torch's)."""
        leaf = self.variable

        def h(g):
            r = hook((g,))
            return None if r is None else r[0]

        lst = leaf.__dict__.setdefault("_hooks", [])
        lst.append(h)
        return _Hook(lst, h)

    def register_hook(self, hook):
        """``hook(grad_inputs=(), grad_outputs=(grad,))`` after the leaf's gradient was accumulated (torch's)."""
        leaf = self.variable
        seen = []

        def rec(g):
            seen[:] = [g]

        def post(_leaf):
            g = seen[0] if seen else None
            seen.clear()
            hook((), (g,))

        pre = leaf.__dict__.setdefault("_hooks", [])
        pre.append(rec)
        acc = leaf.__dict__.setdefault("_post_acc_hooks", [])
        acc.append(post)
        return _Hooks(((pre, rec), (acc, post)))

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


class ShownNode:
    """A node of torch's graph that ember computes inside a fused node: ``nn.Linear`` is one ember node where
    torch has ``TBackward0`` under ``AddmmBackward0``. The fused node lists these in ``next_functions`` so the
    structure reads as torch's (tutorials print it); they compute nothing, and hooks go on the fused node."""

    def __init__(self, name, next_functions):
        self._name = name
        self.next_functions = tuple(next_functions)

    def name(self):
        return self._name

    def __repr__(self):
        return f"<{self._name} object at {hex(id(self))}>"

    def register_hook(self, hook):
        raise RuntimeError(
            f"{self._name} is part of a node ember fuses (it is shown for torch's graph structure only); "
            "register the hook on the output's grad_fn instead"
        )

    register_prehook = register_hook


class UnaryNode(Node):
    """A node with one tensor input: ``Node.__call__`` without the generic loops.

    Its record step applies the class's cached plan (``_rec1``, from ``_plan``) inline; it must leave the
    node exactly as ``Node._record`` would (tests/test_graph_memory.py checks this for every op class)."""

    def __call__(self, x):
        xd = x._data
        if _CPLX[0] and not self.complex_ok:
            self.check_real((xd,))
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
            fn = x.grad_fn
            self.edges = ((0, x if fn is None else fn, fn is None, x._out_idx, xd.shape, xd.dtype),)
            self.needs = _T1
            rec = self._rec1
            if rec:
                if rec & 1:
                    r = x._vroot
                    self.saved = [(x, (x if r is None else r)._ver)]
                    self.rec_clock = CLOCK.now
                if rec & 4:
                    self.out_saved = (out, (weakref.ref(t),), 0)
                    self.rec_clock = CLOCK.now
                if rec & 8:
                    self.inputs = (x,)
                if PACK_HOOKS:
                    _pack(self, (t,))
            if _ANOMALY_EVER[0] and ANOMALY.enabled:
                self.stack = creation_stack()
        return t


class BinaryNode(Node):
    """A node with two inputs (tensors or Python numbers), with a specialised call.

    Like ``UnaryNode``, its record step applies the cached plan (``_rec2``) inline, leaving the node as
    ``Node._record`` would."""

    def __call__(self, a, b):
        ta = isinstance(a, Tensor)
        tb = isinstance(b, Tensor)
        if _CPLX[0] and not self.complex_ok:
            self.check_real((a._data if ta else a, b._data if tb else b))
        try:
            out = self.forward(a._data if ta else a, b._data if tb else b)
        except ValueError as e:
            raise self.forward_error(e, (a, b)) from None
        if out.__class__ is not np.ndarray and isinstance(out, np.generic):
            out = np.asarray(out)
        t = _new(Tensor)
        t._data = out
        k = (1 if ta and a.requires_grad else 0) | (2 if tb and b.requires_grad else 0)
        if k and STATE.enabled:
            t.requires_grad = True
            t.grad_fn = self
            if k == 1:
                fn = a.grad_fn
                d = a._data
                self.edges = ((0, a if fn is None else fn, fn is None, a._out_idx, d.shape, d.dtype),)
                self.needs = _TF
            elif k == 2:
                fn = b.grad_fn
                d = b._data
                self.edges = ((1, b if fn is None else fn, fn is None, b._out_idx, d.shape, d.dtype),)
                self.needs = _FT
            else:
                fn = a.grad_fn
                d = a._data
                fb = b.grad_fn
                e = b._data
                self.edges = ((0, a if fn is None else fn, fn is None, a._out_idx, d.shape, d.dtype),
                              (1, b if fb is None else fb, fb is None, b._out_idx, e.shape, e.dtype))
                self.needs = _TT
            rec = self._rec2[k]
            if rec:
                if rec & 3:
                    self.saved = [_saved_value(a) if rec & 1 else None, _saved_value(b) if rec & 2 else None]
                    self.rec_clock = CLOCK.now
                if rec & 4:
                    self.out_saved = (out, (weakref.ref(t),), 0)
                    self.rec_clock = CLOCK.now
                if rec & 8:
                    self.inputs = (a, b)
                if PACK_HOOKS:
                    _pack(self, (t,))
            if _ANOMALY_EVER[0] and ANOMALY.enabled:
                self.stack = creation_stack()
        return t


class MultiNode(Node):
    """A node with several outputs (``n_out`` of them, set by the subclass). ``forward`` returns a tuple of
    arrays; ``backward`` receives a list of output gradients with ``None`` for outputs that got none."""

    n_out = 2
    multi = True

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
        if _CPLX[0] and not self.complex_ok:
            self.check_real(datas)
        outs = self.forward(*datas)
        ts = []
        for a in outs:
            t = _new(Tensor)
            t._data = a
            ts.append(t)
        if record and STATE.enabled:
            self._record(ts, inputs)
        return tuple(ts)


class _Hook:
    """Handle returned by ``register_hook``; ``remove()`` detaches the hook."""

    def __init__(self, lst, fn):
        self._lst, self._fn = lst, fn

    def remove(self):
        if self._fn in self._lst:
            self._lst.remove(self._fn)


class _Hooks:
    """One handle for several (list, hook) registrations."""

    def __init__(self, pairs):
        self._pairs = pairs

    def remove(self):
        for lst, fn in self._pairs:
            if fn in lst:
                lst.remove(fn)


def register_tensor_hook(t: Tensor, hook):
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    fn = t.grad_fn
    if fn is None:
        hooks = t.__dict__.setdefault("_hooks", [])
    else:
        HOOKED[0] = True
        if fn.pre_hooks is None:
            fn.pre_hooks = []
        hooks = fn.pre_hooks
        if fn.multi:  # a hook sees only the gradient of its own output
            idx = t._out_idx
            inner = hook

            def hook(g, _inner=inner, _idx=idx):
                return _inner(g)

            hook._ember_out_idx = idx
            hook._ember_inner = inner
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
            if isinstance(g, Tensor):  # create_graph: .grad keeps its history, as torch's clone / sum
                tt.grad = g.clone() if tt.grad is None else tt.grad + g
            else:
                gg = Tensor._wrap(g)
                tt.grad = gg if tt.grad is None else Tensor._wrap(tt.grad._data + gg._data)
        return None

    _retain._ember_retain = True
    register_tensor_hook(t, _retain)
    t.__dict__["_retain_hook"] = _retain


def move_retain_grad(t: Tensor, new_fn):
    """An in-place op made ``new_fn`` the grad_fn of ``t``: its ``retain_grad`` now keeps the gradient of the new
    version (torch moves the retains_grad hook to the new grad_fn; other tensor hooks stay on the old one)."""
    h = t.__dict__.get("_retain_hook")
    old = t.grad_fn
    if h is None or old is None or new_fn is None or old is new_fn:
        return
    lst = old.pre_hooks or []
    for x in list(lst):
        if x is h or getattr(x, "_ember_inner", None) is h:
            lst.remove(x)
    prev_fn, prev_idx = t.grad_fn, t._out_idx
    t.grad_fn = new_fn
    try:
        register_tensor_hook(t, h)
    finally:
        t.grad_fn, t._out_idx = prev_fn, prev_idx


# ---------------------------------------------------------------------------- the walk


def _freed_error(fn):
    return RuntimeError(
        f"Trying to backward through the graph a second time (through {fn.name()}), but its saved "
        "values were already freed by the first backward. Specify retain_graph=True on the first "
        "backward() (or autograd.grad()) if you need to backward through the graph again."
    )


def _version_error(fn, what, shape, now, then):
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"{what} of shape {list(shape)} saved by {fn.name()} is at version {now}; expected version {then} "
        f"instead. Use an out-of-place op (e.g. x = x + 1 instead of x += 1) or .clone() the tensor before "
        "changing it."
    )


def _check_versions(fn):
    """Raise if a value this node saved was changed in place after it was recorded."""
    saved = fn.saved
    if saved is not None:
        for j, s in enumerate(saved):
            if s is not None and s[1] is not None:
                x = s[0]
                v = x._version
                if v != s[1]:
                    raise _version_error(fn, f"input {j} (a tensor)", x.shape, v, s[1])
    for t, v in fn.__dict__.get("guards", ()):
        if t._version != v:
            raise _version_error(fn, "an index/mask tensor", t.shape, t._version, v)
    os_ = fn.out_saved
    if os_ is not None:
        for k, r in enumerate(os_[1]):
            t = r()
            if t is not None and t._version != os_[2]:
                raise _version_error(fn, f"output {k}", t.shape, t._version, os_[2])


def _out_tensor(fn, a, k):
    t = _new(Tensor)
    t._data = a
    t.requires_grad = True
    t.grad_fn = fn
    if k:
        t._out_idx = k
    return t


def _pack(fn, outs):
    """Under ``saved_tensors_hooks``: replace what ``fn`` saved by ``pack_hook(tensor)`` of each saved tensor
    (inputs, then outputs), with grad mode off as torch's. The originals are no longer referenced by the node,
    and no version check applies to packed values (as torch)."""
    pack, unpack = PACK_HOOKS[-1]
    PACKED_EVER[0] = True
    prev = STATE.enabled
    STATE.enabled = False
    try:
        ins = None
        saved = fn.saved
        if saved is not None:
            ins = []
            for s in saved:
                if s is None:
                    ins.append(None)
                elif isinstance(s[0], Tensor):
                    ins.append((True, pack(s[0])))
                else:
                    ins.append((False, s[0]))
        outp = None
        if fn.out_saved is not None:
            # an alias of each output with this node as grad_fn (torch's pack hook sees the output's grad_fn)
            outp = [pack(_out_tensor(fn, t._data, k)) for k, t in enumerate(outs)]
    finally:
        STATE.enabled = prev
    fn.packed = (unpack, ins, outp, len(outs) > 1)
    fn.saved = None
    fn.out_saved = None


def _unpack_hooked(fn, create_graph):
    """The values a packed node's backward reads: ``unpack_hook`` of each packed value."""
    unpack, ins, outp, multi = fn.packed

    def get(obj):
        t = unpack(obj)
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn.name()}: the unpack hook of saved_tensors_hooks must return a Tensor, got "
                            f"{type(t).__name__}")
        return t

    vals = [None] * len(fn.needs)
    if ins is not None:
        for j, e in enumerate(ins):
            if e is None:
                continue
            if e[0]:
                t = get(e[1])
                vals[j] = t if create_graph else t._data
            else:
                vals[j] = e[1]
    out = None
    if outp is not None:
        arrs = [get(o)._data for o in outp]
        if create_graph:
            ts = [_out_tensor(fn, a, k) for k, a in enumerate(arrs)]
            out = tuple(ts) if multi else ts[0]
        else:
            out = tuple(arrs) if multi else arrs[0]
    return vals, out


def _unpack(fn, create_graph):
    """The values a node's backward reads: saved inputs (None where not saved) and its output(s)."""
    if fn.packed is not None:
        return _unpack_hooked(fn, create_graph)
    saved = fn.saved
    if saved is None:
        vals = [None] * len(fn.needs)
    elif create_graph:
        vals = [None if s is None else s[0] for s in saved]
    else:
        vals = [None if s is None else (s[0]._data if isinstance(s[0], Tensor) else s[0]) for s in saved]
    out = None
    os_ = fn.out_saved
    if os_ is not None:
        arr = os_[0]
        if arr is None:
            raise RuntimeError(f"{fn.name()}: the output saved for backward no longer exists")
        if create_graph:
            out = tuple(_out_tensor(fn, a, k) for k, a in enumerate(arr)) if isinstance(arr, tuple) \
                else _out_tensor(fn, arr, 0)
        else:
            out = arr
    return vals, out


def _run_hooks(hooks, g, create_graph):
    # torch's order: tensor hooks (in registration order), then retain_grad (sees their result), then node
    # pre-hooks (``grad_fn.register_prehook``, handled by the caller)
    retain = None
    for h in list(hooks):
        if getattr(h, "_ember_retain", False) or getattr(getattr(h, "_ember_inner", None), "_ember_retain", False):
            retain = h
            continue
        if getattr(h, "_ember_node_pre", False):
            continue
        gt = g if g is None or isinstance(g, Tensor) else Tensor._wrap(g)
        r = h(gt)
        if r is not None:
            if not isinstance(r, Tensor):
                raise TypeError(f"a tensor hook must return a Tensor or None, got {type(r).__name__}")
            if gt is not None and tuple(r.shape) != tuple(gt.shape):
                raise RuntimeError(
                    f"hook returned a gradient of shape {tuple(r.shape)} for a tensor of shape {tuple(gt.shape)}; "
                    "a hook must return a tensor of the gradient's shape (or None)"
                )
            g = r if create_graph else r._data
    if retain is not None and g is not None:
        retain(g)
    return g


def _run_node_prehooks(fn, g, create_graph):
    hooks = list(fn.pre_hooks)
    if not fn.multi:
        g = _run_hooks(hooks, g, create_graph)
        gs = [g]
    else:
        gs = list(g)
        for idx in range(len(gs)):
            # an output that got no gradient: its hooks still run, with None (torch's)
            mine = [h for h in hooks if getattr(h, "_ember_out_idx", None) == idx]
            if mine:
                gs[idx] = _run_hooks(mine, gs[idx], create_graph)
    for h in hooks:
        if not getattr(h, "_ember_node_pre", False):
            continue
        r = h(tuple(_as_t(x) for x in gs))
        if r is not None:
            r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
            if len(r) != len(gs):
                raise RuntimeError(f"a pre-hook of {fn.name()} returned {len(r)} gradients; expected {len(gs)}")
            gs = [x if x is None or create_graph else (x._data if isinstance(x, Tensor) else x) for x in r]
    return gs if fn.multi else gs[0]


def _collect(roots, leaves):
    """Count how many times each node is consumed, walking iteratively (no recursion limit). Leaves are
    counted too, in ``leaves`` (id(leaf) -> edges still to come), so that a leaf's gradient is final (and
    its hooks run) as soon as its last edge has been processed."""
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
                k = id(nxt)
                if k in leaves:
                    leaves[k] += 1
                else:
                    leaves[k] = 1
            elif nxt in deps:
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
    callbacks = _Task()  # Variable._execution_engine.queue_callback's, run when this backward has finished
    callbacks.accumulate = accumulate
    cb_stack = _callback_stack()
    cb_stack.append(callbacks)
    STATE.enabled = bool(create_graph)  # thread-local: other threads keep their own mode
    try:
        buf = {}  # node -> gradient of its output (or list, for multi-output nodes)
        leaf_left = {}  # id(leaf) -> edges still to come
        leaf_buf = {}  # id(leaf) -> (leaf, gradient so far, owned), while more edges are to come; owned: an
        # array this walk made (a sum), so later gradients are added into it in place
        roots = []
        root_leaves = []
        for t, g in zip(outputs, grad_outputs):
            fn = t.grad_fn
            if fn is None:
                root_leaves.append((t, g))
                continue
            _add_buf(buf, fn, t._out_idx, g)
            roots.append(fn)
        deps = _collect(roots, leaf_left)
        callbacks.deps = deps  # what this backward will run (autograd.graph.register_multi_grad_hook asks)
        callbacks.leaves = leaf_left
        for t, g in root_leaves:  # backward() called on a leaf itself: its gradient is the one given
            e = leaf_buf.get(id(t))
            leaf_buf[id(t)] = (t, g, False) if e is None else (t, e[1] + g, False)
        handed = {id(g) for g in grad_outputs} if not create_graph else set()
        anomaly = ANOMALY.enabled
        ready = [fn for fn in dict.fromkeys(roots) if deps.get(fn, 0) == 0]
        free = not retain_graph
        cap_nodes = capture.get("__nodes__", ()) if capture is not None else ()
        hooked = HOOKED[0]
        packed_ever = PACKED_EVER[0]
        while ready:
            fn = ready.pop()
            g = buf.pop(fn)
            rc = fn.rec_clock
            if rc is not None and rc != CLOCK.now:
                _check_versions(fn)
            captured = False
            if hooked and fn.pre_hooks:
                if cap_nodes and fn in cap_nodes and not capture["__acc__"] and \
                        _leads_to_capture(fn, capture, cap_nodes):
                    # torch's engine: an input of autograd.grad whose node must run anyway (another input lies
                    # behind it) is captured before its tensor hooks; one only captured, after them
                    _capture_node(capture, fn, g)
                    captured = True
                g = _run_node_prehooks(fn, g, create_graph)
            if cap_nodes and not captured and fn in cap_nodes:
                _capture_node(capture, fn, g)
            needs = fn.needs
            if create_graph or packed_ever and fn.packed is not None:
                vals, out = _unpack(fn, create_graph)
            else:  # _unpack's first-order case, inlined: saved input arrays (None where not saved), output
                saved = fn.saved
                if saved is None:
                    vals = [None] * len(needs)
                else:  # s[1] (the version) is None exactly when the saved value is not a tensor
                    vals = [None if s is None else (s[0] if s[1] is None else s[0]._data) for s in saved]
                out = fn.out_saved
                if out is not None:
                    out = out[0]
            grads = fn.backward(ns, g, vals, out)
            if len(grads) < len(needs):
                raise RuntimeError(
                    f"{fn.name()} returned {len(grads)} gradients for {len(needs)} inputs (an ember bug, or a "
                    "custom node whose backward must return one gradient or None per input)"
                )
            if anomaly:
                _check_nan(fn, grads)
            post = fn._post_hooks if hooked else None
            if post:
                for h in list(post):
                    r = h(tuple(_as_t(x) for x in grads), tuple(_as_t(x) for x in (g if fn.multi else [g])))
                    if r is not None:  # torch's: a returned tuple replaces the gradients of the inputs
                        r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
                        if len(r) != len(grads):
                            raise RuntimeError(f"a hook of {fn.name()} returned {len(r)} gradients; expected "
                                               f"{len(grads)}")
                        grads = [x if x is None or create_graph else (x._data if isinstance(x, Tensor) else x)
                                 for x in r]
            for i, nxt, leaf, oidx, shape, dt in fn.edges:
                gx = grads[i]
                if gx is None:
                    if leaf:  # no gradient along this edge: the leaf waits for one edge less
                        k = id(nxt)
                        c = leaf_left[k] = leaf_left[k] - 1
                        if c == 0 and k in leaf_buf:
                            _finish_leaf(nxt, leaf_buf.pop(k)[1], create_graph, capture, accumulate, handed)
                    continue
                gd = gx._data if create_graph else gx
                if gd.shape != shape:
                    gx = ns.sum_to(gx, shape)
                    gd = gx._data if create_graph else gx
                    if gd.shape != shape:
                        raise RuntimeError(
                            f"{fn.name()} returned a gradient of shape {tuple(gd.shape)} for input {i} of shape "
                            f"{tuple(shape)} (an ember bug, or a custom node with a wrong backward)"
                        )
                gdt = gd.dtype
                if gdt is not dt and gdt != dt:
                    gx = ns.cast(gx, dt)
                if leaf:
                    k = id(nxt)
                    c = leaf_left[k] - 1
                    if c:
                        leaf_left[k] = c
                        old = leaf_buf.get(k)
                        if old is None:
                            leaf_buf[k] = (nxt, gx, False)
                        elif old[2] and not create_graph:  # a weight used many times (an RNN loop): no new array
                            np.add(old[1], gx, out=old[1])
                        else:  # owned only if a real array (0-d sums come back as NumPy scalars)
                            gx = old[1] + gx
                            leaf_buf[k] = (nxt, gx, gx.__class__ is np.ndarray)
                        continue
                    # the leaf's gradient is final: hooks, .grad and post-accumulate hooks run now (torch's
                    # AccumulateGrad runs as soon as it is ready), so DDP can start communicating mid-backward
                    if leaf_buf and k in leaf_buf:
                        old = leaf_buf.pop(k)
                        if old[2] and not create_graph:
                            gx = np.add(old[1], gx, out=old[1])
                        else:
                            gx = old[1] + gx
                    elif gx is g and not create_graph:
                        gx = gx.copy()  # passed through (e.g. by an add): a node still to run holds it too
                    _finish_leaf(nxt, gx, create_graph, capture, accumulate, handed)
                elif not nxt.multi:
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
            if free:
                # like torch, a node drops what it saved as soon as its backward ran (values it shares with
                # nodes still to run stay alive through their references), so memory falls during backward
                d = fn.__dict__
                if "pre_hooks" in d or "stack" in d or "_post_hooks" in d or "_metadata" in d:
                    _free(fn)
                else:  # keep only the graph's structure (and a per-instance grad_fn name: printed after backward)
                    e = d.get("edges", ())
                    n = d.get("needs", ())
                    gn = d.get("_grad_name")
                    si = d.get("_shown_inputs")  # torch's input list (pow with a number, where): next_functions
                    d.clear()
                    d["edges"] = e
                    d["needs"] = n
                    d["freed"] = True
                    if gn is not None:
                        d["_grad_name"] = gn
                    if si is not None:
                        d["_shown_inputs"] = si
            grads = vals = out = g = None
        for t, g, _ in list(leaf_buf.values()):  # leaves whose last edge carried no gradient, backward() on a leaf
            _finish_leaf(t, g, create_graph, capture, accumulate, handed)
        # callbacks queued during this backward (Variable._execution_engine.queue_callback), in order; a
        # callback may queue more
        k = 0
        while k < len(callbacks):
            callbacks[k]()
            k += 1
    finally:
        STATE.enabled = prev_mode
        cb_stack.pop()


def _finish_leaf(leaf, g, create_graph, capture, accumulate, handed):
    """A leaf's gradient for this backward is complete: run its tensor hooks, then capture it
    (autograd.grad) or accumulate it into ``.grad`` and run its post-accumulate-grad hooks."""
    if not create_graph:
        if id(g) in handed or _may_alias(g):
            g = g.copy()
        handed.add(id(g))
    d = leaf.__dict__
    hooks = d.get("_hooks")
    if hooks:
        g = _run_hooks(hooks, g, create_graph)
    gdt = d.get("_grad_dtype")  # Tensor.grad_dtype: gradients reaching this leaf are cast to it
    if gdt is not None and (g.dtype is not gdt if create_graph else g.dtype != gdt.np):
        g = g.to(gdt) if create_graph else g.astype(gdt.np)
    if capture is not None and id(leaf) in capture:
        if not capture["__acc__"]:  # autograd.grad: returned, not accumulated
            capture[id(leaf)] = g if create_graph else Tensor._wrap(g)
            return
        capture[id(leaf)] = _DONE  # backward(inputs=[leaf, ...]): accumulated now, like any leaf
    elif not accumulate:
        return
    _accumulate_grad(leaf, g, create_graph)
    post = d.get("_post_acc_hooks")
    if post:
        for h in list(post):
            if h(leaf) is not None:
                raise RuntimeError("Tensor post accumulate grad hooks should return None.")


# per thread: the callback lists of the backward passes running now (several when nested: a backward
# inside a hook or a checkpointed forward)
_TLS = __import__("threading").local()


class _Task(list):
    """One running backward pass: its queued callbacks (the list) and the nodes/leaves it will reach."""

    deps = None
    leaves = None
    accumulate = True  # False: autograd.grad or backward(inputs=...) (reentrant checkpoint refuses those)


def _callback_stack():
    st = _TLS.__dict__.get("stack")
    if st is None:
        st = _TLS.stack = []
    return st


def queue_callback(callback):
    """Run ``callback()`` once the backward pass running now has finished (torch's
    ``Variable._execution_engine.queue_callback``): after every gradient is computed and accumulated and
    every hook has run. Only callable during backward (from a hook)."""
    st = _callback_stack()
    if not st:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    st[-1].append(callback)


class _ExecutionEngine:
    """torch's ``Variable._execution_engine``: only ``queue_callback`` and ``run_backward``'s callers
    need it."""

    queue_callback = staticmethod(queue_callback)


def register_post_accumulate_grad_hook(t: Tensor, hook):
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if t.grad_fn is not None:
        raise RuntimeError(
            "post accumulate grad hooks cannot be registered on non-leaf tensors; register it on a leaf "
            "(a tensor created by the user with requires_grad=True), or use register_hook for a non-leaf"
        )
    hooks = t.__dict__.setdefault("_post_acc_hooks", [])
    hooks.append(hook)
    return _Hook(hooks, hook)


def _as_t(x):
    return None if x is None else (x if isinstance(x, Tensor) else Tensor._wrap(x))


def _leads_to_capture(fn, capture, cap_nodes):
    """Whether another input of this autograd.grad call lies behind ``fn`` (so torch's engine runs ``fn``)."""
    seen = set()
    stack = [fn]
    while stack:
        n = stack.pop()
        for _, nxt, leaf, _, _, _ in n.edges:
            if leaf:
                if id(nxt) in capture:
                    return True
            elif nxt in cap_nodes:
                return True
            elif nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _capture_node(capture, fn, g):
    for tid, idx in capture["__nodes__"][fn]:
        gi = g if not fn.multi else g[idx]
        if gi is None:
            continue
        capture[tid] = gi if isinstance(gi, Tensor) else Tensor._wrap(gi)


def _add_buf(buf, fn, idx, g):
    if not fn.multi:
        old = buf.get(fn)
        buf[fn] = g if old is None else old + g
    else:
        lst = buf.get(fn)
        if lst is None:
            lst = buf[fn] = [None] * fn.n_out
        lst[idx] = g if lst[idx] is None else lst[idx] + g


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


_KEEP_AFTER_FREE = ("pre_hooks", "stack", "edges", "needs", "_post_hooks", "_metadata", "_grad_name", "_shown_inputs")


def _free(fn):
    # drop the saved values (and whatever forward stored) but keep the graph's structure, like torch
    d = fn.__dict__
    keep = {k: d[k] for k in _KEEP_AFTER_FREE if k in d}
    d.clear()
    d.update(keep)
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


_DONE = object()  # capture's mark for an input leaf already accumulated by the walk


def _is_edge(x):
    return isinstance(x, tuple) and hasattr(x, "node") and hasattr(x, "output_nr")


def _edge_input(edge):
    """A stand-in input for ``autograd.grad``: the leaf of an ``AccumulateGrad`` edge, else an empty tensor
    that names the edge's node and output (its gradient is captured when that node runs)."""
    node = edge.node
    if isinstance(node, AccumulateGrad):
        return node.variable
    if not isinstance(node, Node):
        raise TypeError(f"autograd.grad: a GradientEdge must point at a graph node, got {type(node).__name__}")
    return _out_tensor(node, np.empty(0), int(edge.output_nr))


def _capture_for(inputs, accumulate=False):
    capture = {id(t): None for t in inputs}
    capture["__acc__"] = accumulate
    nodes = {}
    for t in inputs:
        fn = t.grad_fn
        if fn is not None:
            nodes.setdefault(fn, []).append((id(t), t._out_idx))
    capture["__nodes__"] = nodes
    return capture


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None, inputs=None):
    """Compute gradients of ``tensors`` w.r.t. graph leaves and accumulate them into ``.grad``
    (``grad_variables``: torch's deprecated name of ``grad_tensors``)."""
    if grad_variables is not None:
        warnings.warn("`grad_variables` is deprecated. Use `grad_tensors` instead.", FutureWarning, stacklevel=2)
        if grad_tensors is not None:
            raise RuntimeError("'grad_tensors' and 'grad_variables' (deprecated) arguments both passed to "
                               "backward(). Please only use 'grad_tensors'.")
        grad_tensors = grad_variables
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
    capture = _capture_for(inputs, accumulate=True)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        run_backward(tensors, grads, retain_graph, create_graph, capture=capture, accumulate=False)
    for t in dict.fromkeys(inputs):  # non-leaf inputs (leaves were accumulated during the walk)
        g = capture[id(t)]
        if t._retains_grad and t.grad_fn is not None:
            continue  # its retain_grad hook already put this gradient into .grad (torch counts it once)
        if g is not None and g is not _DONE:
            _accumulate_grad(t, g if create_graph else g._data.copy(), create_graph)


def _grad_batched(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused, materialize_grads):
    """``is_grads_batched=True``: the first dim of each grad_output is a batch; one backward per batch entry
    (torch vmaps it), the gradients stacked along a new first dim."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    gos = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs or [])
    if len(gos) != len(outs) or any(not isinstance(g, Tensor) for g in gos):
        raise RuntimeError("autograd.grad(is_grads_batched=True): pass one batched grad_output tensor per output")
    sizes = {int(g.shape[0]) if g.dim() else None for g in gos}
    if len(sizes) != 1 or None in sizes:
        raise RuntimeError(f"autograd.grad(is_grads_batched=True): the grad_outputs need the same leading batch "
                           f"dim, got shapes {[tuple(g.shape) for g in gos]}")
    n = sizes.pop()
    if retain_graph is None:
        retain_graph = create_graph
    per = []
    for b in range(n):
        per.append(grad(outputs, inputs, [g[b] for g in gos], retain_graph=True if b < n - 1 else retain_graph,
                        create_graph=create_graph, allow_unused=allow_unused, materialize_grads=materialize_grads))
    from .._ops.shape import stack

    res = []
    for k in range(len(per[0]) if per else 0):
        col = [p[k] for p in per]
        if all(c is None for c in col):
            res.append(None)
            continue
        ref = next(c for c in col if c is not None)
        col = [c if c is not None else Tensor._wrap(np.zeros_like(ref._data)) for c in col]
        res.append(stack(col) if create_graph else Tensor._wrap(np.stack([c._data for c in col])))
    return tuple(res)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Return the gradients of ``outputs`` w.r.t. ``inputs`` (a tuple), without touching ``.grad``
    (``only_inputs`` is deprecated and ignored in torch too)."""
    if not only_inputs:
        warnings.warn("only_inputs argument is deprecated and is ignored now (defaults to True). To accumulate "
                      "gradient for other parts of the graph, please use torch.autograd.backward.", FutureWarning,
                      stacklevel=2)
    if is_grads_batched:
        return _grad_batched(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                             materialize_grads)
    if allow_unused is None:
        allow_unused = materialize_grads
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    inputs_t = (inputs,) if isinstance(inputs, Tensor) or _is_edge(inputs) else tuple(inputs)
    if any(_is_edge(t) for t in inputs_t):  # autograd.graph.GradientEdge inputs: the gradient flowing into them
        inputs_t = tuple(_edge_input(t) if _is_edge(t) else t for t in inputs_t)
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
    capture = _capture_for(inputs_t)
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

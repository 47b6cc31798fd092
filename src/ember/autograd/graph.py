"""``ember.autograd.graph`` (torch's ``torch.autograd.graph``): hooks on what the graph saves and on gradients.

- ``saved_tensors_hooks(pack_hook, unpack_hook)``: every tensor a recorded op saves for backward (per operand,
  see ``autograd/engine.py``) goes through ``pack_hook`` when it is saved (grad mode off, as torch) and the
  node keeps only what ``pack_hook`` returned; ``unpack_hook`` turns it back into a tensor when backward
  needs it. ``save_on_cpu`` is the CPU-offloading pair (on ember's CPU tensors it keeps the tensor, or a
  copy with ``pin_memory=True``). ``disable_saved_tensors_hooks(msg)`` refuses new hooks inside its block.
- ``register_multi_grad_hook(tensors, fn, mode="all"|"any")``.
- ``Node`` (the base of every ``grad_fn``), ``GradientEdge``/``get_gradient_edge`` (``autograd.grad`` accepts edges as
  inputs), ``increment_version``.

What is saved follows ember's nodes, which mostly save what torch's do (``relu`` its result, ``mul`` the other
operand, ``linear`` the input and the weight, ``exp``/``tanh``/``sigmoid`` their result). Differences: nodes
ember fuses save what the fused node needs (``nn.Linear`` is one node where torch has ``t`` and ``addmm``),
and the few legacy nodes that keep inputs outside the per-operand mechanism keep them unhooked; values that
are not tensors (shapes, Python numbers) are never packed, as torch. Packed values are not version-checked
(torch: modifying a packed tensor in place is undefined behaviour).

>>> import ember
>>> from ember.autograd.graph import saved_tensors_hooks
>>> packed = []
>>> def pack(t):
...     packed.append(t.shape)
...     return t.clone()
>>> x = ember.randn(3, requires_grad=True)
>>> with saved_tensors_hooks(pack, lambda t: t):
...     y = (x.exp() * x).sum()
>>> y.backward()
>>> len(packed)
3
"""
from __future__ import annotations

import abc
import contextlib
import threading
from typing import NamedTuple

from .._tensor import Tensor
from . import engine as _engine

__all__ = ["saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks", "register_multi_grad_hook",
           "Node", "GradientEdge", "get_gradient_edge", "increment_version"]


class Node(abc.ABC):
    """The base of autograd graph nodes (every ``grad_fn``, ``AccumulateGrad``): ``name()``, ``next_functions``,
    ``metadata``, ``register_hook``, ``register_prehook``. ``isinstance(t.grad_fn, Node)`` is True."""

    @abc.abstractmethod
    def name(self):
        ...

    @property
    @abc.abstractmethod
    def next_functions(self):
        ...

    @property
    @abc.abstractmethod
    def metadata(self):
        ...

    @abc.abstractmethod
    def register_hook(self, fn):
        ...

    @abc.abstractmethod
    def register_prehook(self, fn):
        ...

    @classmethod
    def __subclasshook__(cls, C):
        if cls is Node and issubclass(C, (_engine.Node, _engine.AccumulateGrad, _engine.ShownNode)):
            return True
        return NotImplemented


class GradientEdge(NamedTuple):
    """The place a tensor's gradient flows into: its node and which of the node's outputs it is."""

    node: object
    output_nr: int
    ownership_token: object = None


def get_gradient_edge(tensor):
    """The ``GradientEdge`` of ``tensor``: ``(tensor.grad_fn, output index)``, or ``(AccumulateGrad, 0)`` for a
    leaf that requires grad. ``autograd.grad`` takes edges as ``inputs`` (the gradient flowing into them), so
    a gradient can be asked for after the tensor itself is gone."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"get_gradient_edge: expected a Tensor, got {type(tensor).__name__}")
    if not tensor.requires_grad:
        raise RuntimeError("It is not possible to get the gradient edge for a Tensor that does not require gradients")
    fn = tensor.grad_fn
    if fn is None:
        return GradientEdge(_engine.AccumulateGrad.of(tensor), 0)
    return GradientEdge(fn, tensor._out_idx)


def increment_version(tensor):
    """Bump the version counter of ``tensor`` (or of each tensor of an iterable), as an in-place change does:
    a node that saved it will refuse to use it in backward."""
    ts = [tensor] if isinstance(tensor, Tensor) else list(tensor)
    for t in ts:
        if not isinstance(t, Tensor):
            raise TypeError(f"increment_version: expected a Tensor or an iterable of Tensors, got {type(t).__name__}")
        t._bump()


_DISABLED = []  # the messages of the active disable_saved_tensors_hooks blocks


class saved_tensors_hooks:  # noqa: N801  (torch's name)
    """Context manager: ``pack_hook(tensor) -> anything`` runs on every tensor an op saves for backward inside
    the block, ``unpack_hook(packed) -> tensor`` when backward reads it (see the module docstring). Nested
    blocks: the innermost pair applies."""

    def __init__(self, pack_hook, unpack_hook):
        if not callable(pack_hook) or not callable(unpack_hook):
            raise TypeError("saved_tensors_hooks: pack_hook and unpack_hook must be callables, got "
                            f"{type(pack_hook).__name__} and {type(unpack_hook).__name__}")
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self):
        if _DISABLED:
            raise RuntimeError(_DISABLED[-1])
        _engine.PACK_HOOKS.append((self.pack_hook, self.unpack_hook))
        return self

    def __exit__(self, *args):
        stack = _engine.PACK_HOOKS
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] is self.pack_hook and stack[i][1] is self.unpack_hook:
                del stack[i]
                break


class save_on_cpu(saved_tensors_hooks):  # noqa: N801  (torch's name)
    """Saved tensors are moved to the CPU when saved and back to their device when backward needs them
    (torch's activation offloading). ember's tensors are CPU tensors already: the tensor is kept as it is
    (``pin_memory=True``: a copy, as torch's pinned buffer)."""

    def __init__(self, pin_memory=False, device_type="cuda"):
        def pack_to_cpu(tensor):
            if not pin_memory:
                return (tensor.device, tensor.cpu())
            return (tensor.device, tensor.detach().clone())

        def unpack_from_cpu(packed):
            device, tensor = packed
            return tensor.to(device)

        super().__init__(pack_to_cpu, unpack_from_cpu)


@contextlib.contextmanager
def disable_saved_tensors_hooks(error_message):
    """Inside the block, entering ``saved_tensors_hooks`` raises ``RuntimeError(error_message)``."""
    _DISABLED.append(str(error_message))
    try:
        yield
    finally:
        _DISABLED.pop()


class _MultiHandle:
    def __init__(self, handles):
        self.handles = handles

    def remove(self):
        for h in self.handles:
            h.remove()

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.remove()


def _current_task(what):
    st = _engine._callback_stack()
    if not st:
        raise AssertionError(f"{what}: expected this hook to be called inside a backward call")
    return st[-1]


def _will_run(task, t):
    fn = t.grad_fn
    if fn is None:
        return task.leaves is not None and id(t) in task.leaves
    return task.deps is not None and fn in task.deps


def register_multi_grad_hook(tensors, fn, *, mode="all"):
    """Call ``fn`` once per backward pass over several tensors' gradients.

    ``mode="all"``: ``fn(grads)`` (a list, ``None`` for tensors this backward gives no gradient) once the
    gradients of all the tensors the backward reaches are computed. ``mode="any"``: ``fn(grad)`` with the first
    gradient computed. Returns a handle whose ``remove()`` unregisters it."""
    supported = ("all", "any")
    if mode not in supported:
        raise ValueError(f"Expects mode to be one of {supported} but got {mode}")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"register_multi_grad_hook: tensors[{i}] is a {type(t).__name__}, not a Tensor")
    lock = threading.Lock()
    if mode == "all":
        n = len(tensors)
        state = {}  # id(task) -> [buffer, count, expected, fired]

        def make(idx):
            def inner(grad):
                task = _current_task("register_multi_grad_hook")
                key = id(task)
                with lock:
                    st = state.get(key)
                    if st is None:
                        expected = sum(_will_run(task, t) for t in tensors)
                        st = state[key] = [[None] * n, 0, expected, False]

                        def finish(key=key):  # a tensor the walk reached got no gradient: fire at the end
                            s = state.pop(key, None)
                            if s is not None and not s[3]:
                                fn(s[0])

                        task.append(finish)
                    st[0][idx] = grad
                    st[1] += 1
                    fire = st[1] >= st[2] and not st[3]
                    if fire:
                        st[3] = True
                if fire:
                    fn(st[0])
                    state.pop(key, None)
                return None

            return inner

        handles = tuple(t.register_hook(make(i)) for i, t in enumerate(tensors))
    else:
        ran = {}

        def wrapped(grad):
            task = _current_task("register_multi_grad_hook")
            key = id(task)
            with lock:
                if key in ran:
                    return None
                ran[key] = True

            def forget(key=key):
                ran.pop(key, None)

            task.append(forget)
            fn(grad)
            return None

        handles = tuple(t.register_hook(wrapped) for t in tensors if t.requires_grad)
    return _MultiHandle(handles)

"""Activation checkpointing (torch's ``torch.utils.checkpoint``): run a function without keeping what its ops
save for backward, and recompute it when backward needs those values.

* ``use_reentrant=False`` (torch's recommendation): the forward records the graph as usual, but every tensor an
  op inside saves is replaced (through ``saved_tensors_hooks``) by its position; the first time backward reads
  one, the function is run again with grad enabled on the same inputs and the recomputed values are handed
  out. The recomputed graph is connected to the inputs, so double backward (``create_graph=True``) works.
* ``use_reentrant=True``: the function runs under ``no_grad`` inside a custom ``autograd.Function``; its backward
  reruns it on detached inputs and backpropagates through that. As torch's: outputs do not require grad when
  no tensor input does (parameters used inside get no gradient then), keyword arguments are refused and it
  is first-order only.

With ``preserve_rng_state=True`` (the default) the default generator's state is restored for the recomputation,
so dropout masks are the same as in the forward.
"""
from __future__ import annotations

import warnings

from .. import _random
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.graph import saved_tensors_hooks
from ..autograd.grad_mode import enable_grad, no_grad

__all__ = ["checkpoint", "checkpoint_sequential"]


def _warn_reentrant(name):
    warnings.warn(
        f"{name}: the use_reentrant parameter should be passed explicitly (as torch asks); use_reentrant=False "
        "is recommended. Defaulting to use_reentrant=True as torch does.", stacklevel=3)


class _CheckpointFunction(Function):
    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        ctx.run_function = run_function
        ctx.preserve = preserve_rng_state
        if preserve_rng_state:
            ctx.rng_state = _random.get_rng_state()
        ctx.save_for_backward(*[a if isinstance(a, Tensor) else None for a in args])
        ctx.args = [None if isinstance(a, Tensor) else a for a in args]
        with no_grad():
            return run_function(*args)

    @staticmethod
    def backward(ctx, *grads):
        from ..autograd.engine import _callback_stack

        st = _callback_stack()
        if st and not st[-1].accumulate:
            raise RuntimeError(
                "When use_reentrant=True, ember.utils.checkpoint is incompatible with autograd.grad() or passing an "
                "`inputs` parameter to .backward(). Use use_reentrant=False, or call .backward() without `inputs`.")
        saved = ctx.saved_tensors
        inputs = []
        for t, a in zip(saved, ctx.args):
            if t is None:
                inputs.append(a)
            else:
                d = t.detach()
                d.requires_grad = t.requires_grad
                inputs.append(d)
        state = None
        if ctx.preserve:
            state = _random.get_rng_state()
            _random.set_rng_state(ctx.rng_state)
        try:
            with enable_grad():
                outs = ctx.run_function(*inputs)
        finally:
            if state is not None:
                _random.set_rng_state(state)
        outs = outs if isinstance(outs, tuple) else (outs,)
        pairs = [(o, g) for o, g in zip(outs, grads)
                 if isinstance(o, Tensor) and o.requires_grad and g is not None]
        if not pairs:
            raise RuntimeError("checkpoint: none of the outputs has requires_grad=True; this checkpoint() is not "
                               "necessary")
        from ..autograd import backward

        with enable_grad():
            backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None) + tuple(x.grad if isinstance(x, Tensor) else None for x in inputs)


def _checkpoint_nonreentrant(function, args, kwargs, preserve_rng_state):
    rng = _random.get_rng_state() if preserve_rng_state else None
    recomputed = {}
    count = [0]
    done = [False]

    def pack(t):
        count[0] += 1
        return count[0] - 1

    def recompute():
        rec = []

        def pack2(t):
            rec.append(t)
            return len(rec) - 1

        state = None
        if rng is not None:
            state = _random.get_rng_state()
            _random.set_rng_state(rng)
        try:
            with enable_grad(), saved_tensors_hooks(pack2, rec.__getitem__):
                function(*args, **kwargs)
        finally:
            if state is not None:
                _random.set_rng_state(state)
        if len(rec) != count[0]:
            raise RuntimeError(
                f"checkpoint: the recomputation saved {len(rec)} tensors for backward but the forward saved "
                f"{count[0]}; the checkpointed function must do the same ops when run again (no data-dependent "
                "control flow or global state changes)")
        recomputed.update(enumerate(rec))
        done[0] = True

    def unpack(i):
        if not done[0]:
            recompute()
        return recomputed[i]

    with saved_tensors_hooks(pack, unpack):
        return function(*args, **kwargs)


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check="default", debug=False,
               preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)``, recomputed in backward instead of keeping its saved tensors (torch's)."""
    if context_fn is not None:
        raise NotImplementedError("checkpoint: context_fn is not supported by ember; leave it out")
    if use_reentrant is None:
        _warn_reentrant("ember.utils.checkpoint")
        use_reentrant = True
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)
        return _CheckpointFunction.apply(function, preserve_rng_state, *args)
    return _checkpoint_nonreentrant(function, args, kwargs, preserve_rng_state)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run the modules of ``functions`` (a ``Sequential`` or a list) in ``segments`` chunks, each but the last
    checkpointed (torch's)."""
    if use_reentrant is None:
        _warn_reentrant("ember.utils.checkpoint.checkpoint_sequential")
        use_reentrant = True
    fns = list(functions.children()) if hasattr(functions, "children") else list(functions)

    def run(start, end):
        def f(x):
            for j in range(start, end + 1):
                x = fns[j](x)
            return x
        return f

    size = len(fns) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant, **kwargs)
    return run(end + 1, len(fns) - 1)(input)

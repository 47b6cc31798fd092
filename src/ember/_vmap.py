"""``torch.vmap`` / ``torch.func.vmap`` for ember: map a function over a dimension of its inputs.

ember has no batching transform. ``vmap(func)`` runs ``func`` once per sample: it slices every mapped
input along its ``in_dim`` (``x.select(in_dim, i)``, a differentiable view), calls ``func`` on the slices and
stacks the per-sample outputs along ``out_dims`` with ``ember.stack``. So the result has torch's values,
gradients flow back through ``vmap`` to its inputs, and it composes with the other ``ember.func`` transforms
(``vmap(grad(f))`` for per-sample gradients, ``vmap(vmap(f))``). Differences from torch, all consequences of
the loop: the cost is one Python call of ``func`` per sample; data-dependent control flow and ``.item()`` work
inside ``func`` (torch raises); a batch of size 0 is refused (there is no sample to learn the output's shape
from); with ``out_dims=None`` an output is accepted when every sample produced the same value.

Randomness is watched through ``ember._random._draw_hooks``: every draw from any ``ember.Generator`` (the
default one or one passed as ``generator=``) goes through ``Generator.np``, which runs the hooks first; a
hook only looks at draws on the thread that called ``vmap`` (not at data-loading workers).
``randomness='error'`` raises on the first draw inside ``func``; ``'different'`` lets every sample draw on from
the stream; ``'same'`` records each generator's state at its first draw in the first sample and puts it back
at its first draw in every later sample, so all samples see the same numbers.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from . import _random
from ._tensor import Tensor

__all__ = ["vmap"]

_RANDOMNESS = ("error", "different", "same")


def _name(func):
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({_name(func.func)}, ...)"
    return repr(func)


# ---------------------------------------------------------------------------- pytrees of dims


def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [x for t in tree for x in _leaves(t)]
    if isinstance(tree, dict):
        return [x for k in tree for x in _leaves(tree[k])]
    return [tree]


def _rebuild(tree, it):
    """``tree``'s structure with its leaves taken in order from the iterator ``it``."""
    if isinstance(tree, (tuple, list)):
        parts = [_rebuild(t, it) for t in tree]
        kind = type(tree)
        return kind(parts) if kind in (tuple, list) else kind(*parts)
    if isinstance(tree, dict):
        return {k: _rebuild(tree[k], it) for k in tree}
    return next(it)


def _structure(tree):
    """A short picture of a pytree: ``(*, [*, *], {'a': *})``."""
    if isinstance(tree, tuple):
        inner = ", ".join(_structure(t) for t in tree)
        return f"({inner},)" if len(tree) == 1 else f"({inner})"
    if isinstance(tree, list):
        return "[" + ", ".join(_structure(t) for t in tree) + "]"
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k!r}: {_structure(v)}" for k, v in tree.items()) + "}"
    return "*"


def _broadcast(dims, tree):
    """One dim per leaf of ``tree``: a leaf of ``dims`` (an int, None or anything not a container) covers the
    whole subtree under it; containers must match (same type, length, keys). None when they do not."""
    if not isinstance(dims, (tuple, list, dict)):
        return [dims] * len(_leaves(tree))
    if isinstance(dims, dict):
        if not isinstance(tree, dict) or set(dims) != set(tree):
            return None
        pairs = [(dims[k], tree[k]) for k in tree]
    else:
        if type(dims) is not type(tree) or len(dims) != len(tree):
            return None
        pairs = list(zip(dims, tree))
    out = []
    for d, t in pairs:
        sub = _broadcast(d, t)
        if sub is None:
            return None
        out.extend(sub)
    return out


# ---------------------------------------------------------------------------- randomness


class _Randomness:
    """The draw hook of one ``vmap`` call (see the module docstring)."""

    def __init__(self, mode):
        self.mode = mode
        self.thread = threading.get_ident()  # draws on other threads (data-loading workers) are not this call's
        self.saved = {}  # id(generator) -> (generator, its bit-generator state before the first sample's draw)
        self.seen = set()

    def next_sample(self):
        self.seen = set()

    def __call__(self, gen):
        if threading.get_ident() != self.thread:
            return
        if self.mode == "error":
            raise RuntimeError(
                "vmap: called random operation while in randomness error mode. Please either use the 'same' or "
                "'different' randomness flags on vmap or perform the randomness operation out of vmap"
            )
        if self.mode != "same" or id(gen) in self.seen:
            return
        self.seen.add(id(gen))
        bits = gen._np.bit_generator
        if id(gen) in self.saved:
            bits.state = self.saved[id(gen)][1]
        else:
            self.saved[id(gen)] = (gen, bits.state)


# ---------------------------------------------------------------------------- vmap


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``torch.vmap``: ``vmap(func)(*args)`` maps ``func`` over dimension ``in_dims`` of its inputs and stacks
    the results along ``out_dims``.

    ``in_dims`` is an int (every input mapped along that dimension) or a tuple with one entry per positional
    argument, each an int, ``None`` (not mapped: passed whole to every call) or a nested tuple/list/dict that
    matches that argument's structure. ``out_dims`` is an int, ``None`` (an output that does not depend on the
    mapped inputs, returned once) or a pytree matching the output. Keyword arguments are not mapped.
    ``randomness`` is ``'error'`` (random ops inside ``func`` raise), ``'different'`` or ``'same'``;
    ``chunk_size`` is accepted for torch's signature (ember calls ``func`` one sample at a time anyway).

    ember calls ``func`` once per sample and stacks the outputs (see ``ember._vmap``'s docstring): torch's
    values and gradients, at the cost of a Python call per sample.

    >>> import ember
    >>> x, y = ember.ones(3, 2), ember.arange(6.0).reshape(2, 3)
    >>> ember.vmap(ember.dot, in_dims=(0, 1))(x, y).tolist()
    [3.0, 5.0, 7.0]
    """
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        return _vmap_call(func, in_dims, out_dims, randomness, args, kwargs)

    return wrapped


def _vmap_call(func, in_dims, out_dims, randomness, args, kwargs):
    name = _name(func)
    _check_out_dims(out_dims, name)
    batch, flat_dims, flat_args = _mapped_inputs(func, name, in_dims, args)
    if batch == 0:
        raise ValueError(
            f"vmap({name}, ...)(<inputs>): the mapped dimension has size 0. ember runs {name} once per sample and "
            "stacks the results, so with no sample it cannot tell the outputs' shapes; skip the call for an "
            "empty batch")

    hook = _Randomness(randomness)
    results = []
    _random._draw_hooks.append(hook)
    try:
        for i in range(batch):
            hook.next_sample()
            it = iter([a if d is None else a.select(d, i) for a, d in zip(flat_args, flat_dims)])
            results.append(func(*_rebuild(args, it), **kwargs))
    finally:
        _random._draw_hooks.remove(hook)
    return _stack_outputs(name, results, out_dims)


def _check_out_dims(out_dims, name):
    for d in _leaves(out_dims):
        if d is not None and (not isinstance(d, int) or isinstance(d, bool)):
            raise ValueError(
                f"vmap({name}, ..., out_dims={out_dims}): `out_dims` must be an int, None or a python collection "
                "of ints representing where in the outputs the vmapped dimension should appear.")


def _mapped_inputs(func, name, in_dims, args):
    if not isinstance(in_dims, (int, tuple)) or isinstance(in_dims, bool):
        raise ValueError(
            f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a (potentially "
            f"nested) tuple matching the structure of inputs, got: {type(in_dims)}.")
    if not args:
        raise ValueError(
            f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are trying to vmap "
            "over a function with no inputs. The latter is unsupported.")
    flat_args = _leaves(args)
    flat_dims = _broadcast(in_dims, args)
    where = f"vmap({name}, in_dims={in_dims}, ...)(<inputs>)"
    if flat_dims is None:
        raise ValueError(
            f"{where}: in_dims is not compatible with the structure of `inputs`. in_dims has structure "
            f"{_structure(in_dims)} but inputs has structure {_structure(args)} (give one in_dim per positional "
            "argument, or a nested tuple/list/dict shaped like that argument)")
    for k, (a, d) in enumerate(zip(flat_args, flat_dims)):
        if d is None:
            continue
        if not isinstance(d, int) or isinstance(d, bool):
            raise ValueError(f"{where}: Got in_dim={d} for an input but in_dim must be either an integer "
                             "dimension or None.")
        if not isinstance(a, Tensor):
            raise ValueError(f"{where}: Got in_dim={d} for an input but the input is of type {type(a)}. We cannot "
                             "vmap over non-Tensor arguments, please use None as the respective in_dim")
        n = a.dim()
        if not -n <= d < n:
            raise ValueError(f"{where}: Got in_dim={d} for some input, but that input is a Tensor of "
                             f"dimensionality {n} so expected in_dim to satisfy -{n} <= in_dim < {n}.")
        flat_dims[k] = d % n
    sizes = [a.shape[d] for a, d in zip(flat_args, flat_dims) if d is not None]
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over (every in_dim is None)")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
                         f"{sizes} for the mapped dimension")
    return sizes[0], flat_dims, flat_args


def _stack_outputs(name, results, out_dims):
    from . import _ops

    first = results[0]
    flat_first = _leaves(first)
    if isinstance(first, Tensor):
        if isinstance(out_dims, tuple) and len(out_dims) == 1:
            flat_dims = list(out_dims)
        elif isinstance(out_dims, int) or out_dims is None:
            flat_dims = [out_dims]
        else:
            flat_dims = None
    else:
        flat_dims = _broadcast(out_dims, first)
    if flat_dims is None:
        raise ValueError(
            f"vmap({name}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible with the structure of "
            f"`outputs`. out_dims has structure {_structure(out_dims)} but outputs has structure "
            f"{_structure(first)}.")
    per_sample = [_leaves(r) for r in results]
    for i, r in enumerate(results[1:], 1):
        if _structure(r) != _structure(first):
            raise ValueError(
                f"vmap({name}, ...): sample 0 returned outputs of structure {_structure(first)} but sample {i} "
                f"returned {_structure(r)}; ember runs {name} once per sample, and every sample must return the "
                "same structure to be stacked")
    stacked = []
    for k, (out0, d) in enumerate(zip(flat_first, flat_dims)):
        column = [p[k] for p in per_sample]
        if d is None:
            if isinstance(out0, Tensor) and not all(
                    c is out0 or (isinstance(c, Tensor) and c.shape == out0.shape
                                  and np.array_equal(c._data, out0._data, equal_nan=out0.is_floating_point()))
                    for c in column[1:]):
                raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None "
                                 "(this output differs between samples; give it an int out_dim)")
            stacked.append(out0)
            continue
        if not all(isinstance(c, Tensor) for c in column):
            bad = next(c for c in column if not isinstance(c, Tensor))
            raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(bad)}. Did you "
                             "mean to set out_dims= to None for output?")
        shapes = {tuple(c.shape) for c in column}
        if len(shapes) > 1:
            raise ValueError(
                f"vmap({name}, ...): output {k} has different shapes in different samples ({sorted(shapes)}); "
                f"ember runs {name} once per sample and can only stack outputs of one shape")
        r = out0.dim()
        if not -(r + 1) <= d <= r:
            raise IndexError(f"vmap({name}, ..., out_dims={out_dims}): Dimension out of range (expected to be in "
                             f"range of [{-(r + 1)}, {r}], but got {d})")
        stacked.append(_ops.stack(column, d))
    return _rebuild(first, iter(stacked))

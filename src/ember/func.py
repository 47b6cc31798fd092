"""``torch.func``: function transforms over ember's autograd, and ``functional_call``.

``grad``, ``grad_and_value``, ``vjp``, ``jacrev`` and ``hessian`` take a function and return a new
function. They are built on ember's reverse-mode engine: each call runs ``func`` on fresh tensors that
require grad and differentiates it. They compose (``jacrev(jacrev(f))``, ``grad(grad(f))``) because
an input that already requires grad (from an enclosing transform or from the caller) is kept connected
and the inner derivatives are recorded with ``create_graph=True``.

Inputs and outputs may be tensors or (nested) tuples, lists and dicts of tensors (pytrees).
``hessian`` is ``jacrev(jacrev(f))``.

Forward mode (``jvp``, ``jacfwd``, ``linearize``) rides on the same engine with the double-backward trick
(as ``ember.autograd.forward_ad``): ``func`` runs once, ``g(u) = J^T u`` is recorded for zero cotangents ``u``
that require grad, and since ``g`` is linear in ``u``, differentiating ``g . t`` with respect to ``u`` gives
``J t``. ``linearize`` keeps that graph, so each call of its ``jvp_fn`` is one reverse pass over it; ``jacfwd``
takes one pass per input element (the Jacobian column by column, as forward mode does).

``vmap`` (``ember._vmap``) runs ``func`` once per sample and stacks the outputs. ``functionalize`` and
``debug_unwrap`` are identities: ember has no functionalization pass and no wrapper tensors. ``rearrange``
(einops' pattern language) lives in ``ember._rearrange``.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np

from . import _random
from ._tensor import Tensor
from ._rearrange import rearrange
from ._vmap import _RANDOMNESS, _Randomness, vmap
from .autograd.engine import grad as _autograd_grad
from .autograd.grad_mode import enable_grad

__all__ = ["functional_call", "grad", "grad_and_value", "vjp", "jacrev", "hessian", "vmap", "jvp", "jacfwd",
           "linearize", "stack_module_state", "replace_all_batch_norm_modules_", "functionalize", "debug_unwrap",
           "rearrange"]


# ---------------------------------------------------------------------------- pytrees


def _flatten(tree):
    """(leaves, rebuild): ``rebuild(new_leaves)`` gives the same structure with the new leaves."""
    if isinstance(tree, (tuple, list)):
        parts = [_flatten(t) for t in tree]
        leaves = [x for p in parts for x in p[0]]
        kind = type(tree)

        def rebuild(new):
            out, k = [], 0
            for p in parts:
                n = len(p[0])
                out.append(p[1](new[k:k + n]))
                k += n
            return kind(out) if kind in (tuple, list) else kind(*out)

        return leaves, rebuild
    if isinstance(tree, dict):
        keys = list(tree)
        parts = [_flatten(tree[k]) for k in keys]
        leaves = [x for p in parts for x in p[0]]

        def rebuild(new):
            out, k = {}, 0
            for key, p in zip(keys, parts):
                n = len(p[0])
                out[key] = p[1](new[k:k + n])
                k += n
            return out

        return leaves, rebuild
    return [tree], lambda new: new[0]


def _leaves_checked(tree, what, fn_name):
    leaves, rebuild = _flatten(tree)
    for x in leaves:
        if not isinstance(x, Tensor):
            raise TypeError(f"{fn_name}: expected {what} to be a Tensor or a pytree of Tensors, got an element of "
                            f"type {type(x).__name__}")
    return leaves, rebuild


def _lift(x):
    """A tensor to differentiate with respect to: connected to ``x``'s graph when ``x`` requires grad."""
    return x.view_as(x) if x.requires_grad else x.detach().requires_grad_(True)


def _grads(outputs, inputs, grad_outputs, create_graph):
    live_out = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not live_out:
        return [None] * len(inputs)
    return list(_autograd_grad([o for o, _ in live_out], inputs, [g for _, g in live_out], allow_unused=True,
                               retain_graph=True, create_graph=create_graph))


def _zeros(t):
    return Tensor._wrap(np.zeros_like(t._data))


def _check_argnums(argnums, n, fn_name):
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    if isinstance(argnums, tuple) and len(argnums) == 0:
        raise RuntimeError(f"{fn_name}: argnums must be non-empty")
    for a in nums:
        if not isinstance(a, int) or isinstance(a, bool):
            raise RuntimeError(f"{fn_name}: argnums must be int or Tuple[int, ...], got {type(a).__name__}")
        if not -n <= a < n:
            raise RuntimeError(
                f"{fn_name}: Got argnums={a}, but only {n} positional inputs were given (argnums must be in "
                f"[-{n}, {n}))"
            )
    return tuple(a % n for a in nums)


def _split_aux(out, has_aux, fn_name):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(
            f"{fn_name}(f, ...)(*args): output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    return out


def _detach_tree(tree, keep):
    leaves, rebuild = _flatten(tree)
    return rebuild([x.detach() if isinstance(x, Tensor) and not keep else x for x in leaves])


# ---------------------------------------------------------------------------- transforms


def grad_and_value(func, argnums=0, has_aux=False):
    """``f -> (lambda *args: (grad of f w.r.t. args[argnums], f(*args)))``; with ``has_aux`` f returns
    ``(output, aux)`` and the result is ``(grad, (output, aux))``. ``f`` must return a one-element tensor."""

    def wrapper(*args, **kwargs):
        nums = _check_argnums(argnums, len(args), "grad_and_value")
        outer = any(isinstance(x, Tensor) and x.requires_grad for x in _flatten(args)[0])
        with enable_grad():
            args = list(args)
            diff = []  # (leaves, rebuild) per differentiated argument
            for a in nums:
                leaves, rebuild = _leaves_checked(args[a], "inputs", "grad_and_value")
                lifted = [_lift(x) for x in leaves]
                diff.append((lifted, rebuild))
                args[a] = rebuild(lifted)
            out = func(*args, **kwargs)
            out, aux = _split_aux(out, has_aux, "grad_and_value")
            if not isinstance(out, Tensor):
                raise RuntimeError(
                    f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got {type(out).__name__}"
                )
            if out.numel() != 1:
                raise RuntimeError(
                    "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor with "
                    f"{out.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
                )
            flat = [x for lifted, _ in diff for x in lifted]
            g = _grads([out], flat, [None], create_graph=outer)
        g = [_zeros(x) if gi is None else gi for gi, x in zip(g, flat)]
        res, k = [], 0
        for lifted, rebuild in diff:
            res.append(rebuild(g[k:k + len(lifted)]))
            k += len(lifted)
        res = tuple(res) if isinstance(argnums, tuple) else res[0]
        value = out if outer else out.detach()
        if has_aux:
            return res, (value, _detach_tree(aux, outer))
        return res, value

    return wrapper


def grad(func, argnums=0, has_aux=False):
    """``torch.func.grad``: ``f -> (lambda *args: gradient of f w.r.t. args[argnums])``. ``argnums`` may be
    a tuple (then a tuple of gradients); with ``has_aux`` the result is ``(grad, aux)``."""
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        if has_aux:
            return g, value[1]
        return g

    return wrapper


def vjp(func, *primals, has_aux=False):
    """``torch.func.vjp``: returns ``(func(*primals), vjp_fn)`` (plus ``aux`` with ``has_aux``);
    ``vjp_fn(cotangents)`` returns a tuple with one gradient per primal."""
    outer = any(isinstance(x, Tensor) and x.requires_grad for x in _flatten(primals)[0])
    with enable_grad():
        parts = [_leaves_checked(p, "primals", "vjp") for p in primals]
        lifted = [[_lift(x) for x in leaves] for leaves, _ in parts]
        args = [rebuild(lf) for (_, rebuild), lf in zip(parts, lifted)]
        out = func(*args)
        out, aux = _split_aux(out, has_aux, "vjp")
        out_leaves, _ = _leaves_checked(out, "outputs", "vjp")
    flat_in = [x for lf in lifted for x in lf]

    def vjp_fn(cotangents, *, retain_graph=True, create_graph=None):
        cg = outer if create_graph is None else create_graph
        ct_leaves, _ = _leaves_checked(cotangents, "cotangents", "vjp_fn")
        if len(ct_leaves) != len(out_leaves):
            raise RuntimeError(
                f"vjp_fn: Expected pytree structure of cotangents to be the same as pytree structure of outputs "
                f"to the function: got {len(ct_leaves)} tensors for {len(out_leaves)} outputs"
            )
        for c, o in zip(ct_leaves, out_leaves):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(
                    f"vjp_fn: Mismatch in shape: a cotangent has shape {tuple(c.shape)} but the output it "
                    f"belongs to has shape {tuple(o.shape)}"
                )
        with enable_grad():
            g = _grads(out_leaves, flat_in, ct_leaves, create_graph=cg or any(c.requires_grad for c in ct_leaves))
        g = [_zeros(x) if gi is None else gi for gi, x in zip(g, flat_in)]
        res, k = [], 0
        for lf, (_, rebuild) in zip(lifted, parts):
            res.append(rebuild(g[k:k + len(lf)]))
            k += len(lf)
        return tuple(res)

    value = _detach_tree(out, outer)
    if has_aux:
        return value, vjp_fn, _detach_tree(aux, outer)
    return value, vjp_fn


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """``torch.func.jacrev``: the Jacobian by reverse mode, one backward pass per output element.

    For one output and ``argnums`` an int, a tensor of shape ``output.shape + input.shape``; a tuple over
    ``argnums`` when it is a tuple; the output's pytree structure (e.g. a tuple) around those."""
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    def wrapper(*args, **kwargs):
        from . import _ops

        nums = _check_argnums(argnums, len(args), "jacrev")
        outer = any(isinstance(x, Tensor) and x.requires_grad for x in _flatten(args)[0])
        with enable_grad():
            args = list(args)
            diff = []
            for a in nums:
                leaves, rebuild = _leaves_checked(args[a], "inputs", "jacrev")
                lifted = [_lift(x) for x in leaves]
                diff.append((lifted, rebuild))
                args[a] = rebuild(lifted)
            out = func(*args, **kwargs)
            out, aux = _split_aux(out, has_aux, "jacrev")
            out_leaves, out_rebuild = _leaves_checked(out, "outputs", "jacrev")
            flat_in = [x for lifted, _ in diff for x in lifted]
            per_out = []
            for o in out_leaves:
                rows = [[] for _ in flat_in]
                flat = o.reshape(-1)
                for j in range(flat.numel()):
                    g = _grads([flat[j]], flat_in, [None], create_graph=outer)
                    for r, gi, x in zip(rows, g, flat_in):
                        r.append(_zeros(x) if gi is None else gi)
                jacs = []
                for r, x in zip(rows, flat_in):
                    shape = tuple(o.shape) + tuple(x.shape)
                    j = _ops.stack(r, 0).reshape(shape) if r else Tensor._wrap(np.zeros(shape, x._data.dtype))
                    jacs.append(j if outer else j.detach())
                res, k = [], 0
                for lifted, rebuild in diff:
                    res.append(rebuild(jacs[k:k + len(lifted)]))
                    k += len(lifted)
                per_out.append(tuple(res) if isinstance(argnums, tuple) else res[0])
        jac = out_rebuild(per_out)
        if has_aux:
            return jac, _detach_tree(aux, outer)
        return jac

    return wrapper


def hessian(func, argnums=0):
    """``torch.func.hessian``: the Hessian of a scalar function (``jacrev(jacrev(func))`` in ember)."""
    return jacrev(jacrev(func, argnums), argnums)


# ---------------------------------------------------------------------------- forward mode


class _Linearized:
    """``func`` run once on ``primals`` (a flat list of floating tensors, put back into ``args`` by
    ``rebuild``), with ``g(u) = J^T u`` recorded so that ``J t`` is one reverse pass (see the module
    docstring). ``outer``: the caller's tensors require grad, so results stay connected to them."""

    def __init__(self, func, args, kwargs, primals, rebuild_args, has_aux, api, randomness="different"):
        self.api = api
        self.outer = any(isinstance(x, Tensor) and x.requires_grad for x in _flatten(args)[0])
        hook = _Randomness(randomness) if randomness == "error" else None
        with enable_grad():
            self.inputs = [_lift(x) for x in primals]
            if hook is not None:
                _random._draw_hooks.append(hook)
            try:
                out = func(*rebuild_args(self.inputs), **kwargs)
            finally:
                if hook is not None:
                    _random._draw_hooks.remove(hook)
            out, self.aux = _split_aux(out, has_aux, api)
            self.out = out
            self.out_leaves, self.out_rebuild = _flatten(out)
            for o in self.out_leaves:
                if not isinstance(o, Tensor):
                    raise RuntimeError(f"{api}: expected f(*primals) to return only tensors, got unsupported type "
                                       f"{type(o)}")
            # one zero cotangent per output that depends on the inputs
            self.live = [k for k, o in enumerate(self.out_leaves) if o.requires_grad and o.is_floating_point()]
            self.us = [Tensor._wrap(np.zeros_like(self.out_leaves[k]._data)).requires_grad_() for k in self.live]
            if self.live:
                g = _autograd_grad([self.out_leaves[k] for k in self.live], self.inputs, self.us, allow_unused=True,
                                   retain_graph=True, create_graph=True)
            else:
                g = [None] * len(self.inputs)
            self.g = list(g)

    def depends(self):
        """For each output leaf: whether it depends on the inputs."""
        live = set(self.live)
        return [k in live for k in range(len(self.out_leaves))]

    def _cotangent_grads(self, scalar, create_graph):
        """d scalar / d u for each output leaf (zeros where the output does not depend on the inputs)."""
        res = [_zeros(o) for o in self.out_leaves]
        if scalar is None or not scalar.requires_grad or not self.live:
            return res
        gs = _autograd_grad([scalar], self.us, allow_unused=True, retain_graph=True, create_graph=create_graph)
        for k, gk in zip(self.live, gs):
            if gk is not None:
                res[k] = gk
        return res

    def apply(self, tangents):
        """``J t`` for one tangent per input (flat list, same shapes), one tensor per output leaf."""
        cg = self.outer or any(t.requires_grad for t in tangents)
        with enable_grad():
            s = None
            for gi, t in zip(self.g, tangents):
                if gi is None:
                    continue
                term = (gi * t).sum()
                s = term if s is None else s + term
            res = self._cotangent_grads(s, cg)
        return res if cg else [r.detach() for r in res]

    def columns(self):
        """The Jacobian column by column: for output leaf k and input m, a tensor ``out_k.shape + in_m.shape``."""
        from . import _ops

        jac = []
        with enable_grad():
            per_input = []
            for gi in self.g:
                cols = []
                if gi is not None:
                    flat = gi.reshape(-1)
                    for j in range(flat.numel()):
                        cols.append(self._cotangent_grads(flat[j], self.outer))
                per_input.append(cols)
            for k, o in enumerate(self.out_leaves):
                row = []
                for cols, x in zip(per_input, self.inputs):
                    shape = tuple(o.shape) + tuple(x.shape)
                    if cols:
                        j = _ops.stack([c[k] for c in cols], -1).reshape(shape)
                    else:
                        j = Tensor._wrap(np.zeros(shape, o._data.dtype))
                    row.append(j if self.outer else j.detach())
                jac.append(row)
        return jac

    def value(self):
        return _detach_tree(self.out, self.outer)

    def aux_value(self):
        return _detach_tree(self.aux, self.outer)


def _check_floating(xs):
    for x in xs:
        if not (x.is_floating_point() or x.is_complex()):
            raise ValueError(f"Expected primal to be floating point or complex, but got: {x.dtype}")


def _matched_tangents(primals, tangents, api, strict_structure_msg):
    """The flat tangents, checked against the flat primals (structure, shape) and cast to their dtypes."""
    p_leaves, _ = _flatten(primals)
    t_leaves, _ = _flatten(tangents)
    if _vmap_structure(primals) != _vmap_structure(tangents):
        raise RuntimeError(strict_structure_msg(_vmap_structure(primals), _vmap_structure(tangents)))
    out = []
    for k, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        if not isinstance(t, Tensor):
            raise RuntimeError(f"{api}: Expected tangents to only contain Tensors, got {type(t)}")
        if tuple(t.shape) != tuple(p.shape):
            raise RuntimeError(
                f"{api}: tangent:{k} with shape {tuple(t.shape)} in flattened pytree doesn't match the shape "
                f"{tuple(p.shape)} of the corresponding primal (a tangent has its primal's shape)")
        out.append(t if t.dtype == p.dtype else t.to(p.dtype))
    return out


def _vmap_structure(tree):
    from ._vmap import _structure

    return _structure(tree)


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``torch.func.jvp``: ``(func(*primals), J @ tangents)`` — the Jacobian-vector product, with ``tangents``
    shaped like ``primals`` (a tuple). With ``has_aux`` ``func`` returns ``(output, aux)`` and the result is
    ``(output, jvp_out, aux)``. ``strict=True`` raises when an output does not depend on the inputs.

    >>> import ember
    >>> from ember.func import jvp
    >>> x = ember.tensor([0.0, 1.0])
    >>> out, tangent = jvp(ember.sin, (x,), (ember.ones(2),))
    >>> [round(v, 4) for v in tangent.tolist()]
    [1.0, 0.5403]
    """
    api = "jvp(f, primals, tangents)"
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{api}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals).")
    p_leaves, p_rebuild = _flatten(primals)
    if not p_leaves:
        raise RuntimeError(f"{api}: Expected primals to contain at least one Tensor.")
    for x in p_leaves:
        if not isinstance(x, Tensor):
            raise RuntimeError(f"{api}: Expected primals to only contain Tensors, got {type(x)}")
    if not isinstance(tangents, tuple):
        raise RuntimeError(f"{api}: Expected tangents to be a tuple. E.g. it should be valid to call f(*tangents).")
    t_flat = _matched_tangents(primals, tangents, api, lambda p, t: (
        f"{api}: Expected primals and tangents to have the same python structure. For example, if primals is a "
        f"tuple of 3 tensors, tangents also must be. Got primals with structure {p} and tangents with "
        f"structure {t}"))
    _check_floating(p_leaves)
    lin = _Linearized(func, primals, {}, p_leaves, lambda new: p_rebuild(new), has_aux, api)
    if strict and not all(lin.depends()):
        raise RuntimeError("jvp(f, primals, tangents, strict=True): The output of f is independent of the inputs. "
                           "This is not allowed with strict=True.")
    tan = lin.out_rebuild(lin.apply(t_flat))
    if has_aux:
        return lin.value(), tan, lin.aux_value()
    return lin.value(), tan


def linearize(func, *primals):
    """``torch.func.linearize``: ``(func(*primals), jvp_fn)`` where ``jvp_fn(*tangents)`` gives the
    Jacobian-vector product at ``primals``. ``func`` runs once; each ``jvp_fn`` call is one reverse pass over
    the recorded graph.

    >>> import ember
    >>> from ember.func import linearize
    >>> out, jvp_fn = linearize(lambda x: x ** 2, ember.tensor([1.0, 3.0]))
    >>> jvp_fn(ember.ones(2)).tolist()
    [2.0, 6.0]
    """
    api = "linearize"
    p_leaves, p_rebuild = _flatten(primals)
    if not p_leaves:
        raise RuntimeError("linearize: Expected primals to contain at least one Tensor.")
    for x in p_leaves:
        if not isinstance(x, Tensor):
            raise RuntimeError(f"linearize: Expected primals to only contain Tensors, got {type(x)}")
    _check_floating(p_leaves)
    lin = _Linearized(func, primals, {}, p_leaves, lambda new: p_rebuild(new), False, api)

    def jvp_fn(*tangents):
        t_flat = _matched_tangents(primals, tangents, "linearize: jvp_fn", lambda p, t: (
            f"Expected the tangents {t} to have the same argspec as the primals {p}"))
        return lin.out_rebuild(lin.apply(t_flat))

    return lin.value(), jvp_fn


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """``torch.func.jacfwd``: the Jacobian by forward mode, one Jacobian-vector product per input element
    (the double-backward trick; ``jacrev`` gives the same numbers). Same return conventions as ``jacrev``:
    ``output.shape + input.shape`` per output leaf, a tuple over ``argnums`` when it is a tuple, the
    output's structure around those; with ``has_aux`` ``(jacobian, aux)``. ``func`` runs once, so
    ``randomness`` only decides whether a random op inside it raises (``'error'``) or not.

    >>> import ember
    >>> from ember.func import jacfwd
    >>> jacfwd(lambda x: x ** 2)(ember.tensor([1.0, 2.0])).tolist()
    [[2.0, 0.0], [0.0, 4.0]]
    """
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")

    def wrapper(*args, **kwargs):
        nums = _check_argnums(argnums, len(args), "jacfwd")
        leaves, spans = [], []
        for a in nums:
            ls, _ = _leaves_checked(args[a], "inputs", "jacfwd")
            spans.append((len(leaves), len(ls)))
            leaves.extend(ls)
        _check_floating(leaves)

        def rebuild_args(new):
            full = list(args)
            for a, (start, n) in zip(nums, spans):
                full[a] = _flatten(args[a])[1](new[start:start + n])
            return full

        lin = _Linearized(func, args, kwargs, leaves, rebuild_args, has_aux, "jacfwd", randomness)
        per_out = []
        for row in lin.columns():
            res = [_flatten(args[a])[1](row[start:start + n]) for a, (start, n) in zip(nums, spans)]
            per_out.append(tuple(res) if isinstance(argnums, tuple) else res[0])
        jac = lin.out_rebuild(per_out)
        if has_aux:
            return jac, lin.aux_value()
        return jac

    return wrapper


# ---------------------------------------------------------------------------- modules


def stack_module_state(models):
    """``torch.func.stack_module_state``: ``(params, buffers)``, dicts from each name (as in
    ``named_parameters``/``named_buffers``) to the models' tensors stacked along a new dimension 0, ready for
    ``vmap(lambda p, b, x: functional_call(model, (p, b), (x,)), in_dims=(0, 0, None))``. Stacked
    parameters are new leaves that require grad (an optimizer can train them), detached from the models'.

    >>> import ember
    >>> from ember.func import stack_module_state
    >>> params, buffers = stack_module_state([ember.nn.Linear(3, 2) for _ in range(4)])
    >>> tuple(params["weight"].shape), params["weight"].is_leaf, params["weight"].requires_grad
    ((4, 2, 3), True, True)
    """
    from . import _ops

    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    if any(type(m) is not type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")

    def stacked(tables):
        out = {}
        for name in tables[0]:
            ts = [t[name] for t in tables]
            grads = {t.requires_grad for t in ts}
            if len(grads) > 1:
                raise RuntimeError(f"Expected {name} from each model to have the same .requires_grad")
            res = _ops.stack(ts)
            out[name] = res.detach().requires_grad_() if grads == {True} else res
        return out

    return (stacked([dict(m.named_parameters()) for m in models]),
            stacked([dict(m.named_buffers()) for m in models]))


def replace_all_batch_norm_modules_(root):
    """``torch.func.replace_all_batch_norm_modules_``: in place, every batch-norm module under ``root``
    (``root`` included) stops tracking running statistics (``running_mean``, ``running_var`` and
    ``num_batches_tracked`` become None, ``track_running_stats`` False), so it normalises with the batch's own
    statistics, as ``vmap`` over models wants. Returns ``root``."""
    from .nn.modules.normalization import _BatchNorm

    for m in root.modules():
        if isinstance(m, _BatchNorm) and m.track_running_stats:
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None
            m.track_running_stats = False
    return root


def functionalize(func, *, remove="mutations"):
    """``torch.func.functionalize``: in torch, a transform that removes in-place ops and views from a
    program for compilers, with the same results. ember has no such pass and no compiler to feed, so the
    returned function just calls ``func`` (same values, same effect on its inputs)."""
    if remove not in ("mutations", "mutations_and_views"):
        raise RuntimeError(f"functionalize(f, remove='mutations'): received invalid argument for remove={remove}. "
                           "Valid options are: remove='mutations' or remove='mutations_and_views'")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def debug_unwrap(tensor, *, recurse=True):
    """``torch.func.debug_unwrap``: in torch, unwraps a functorch wrapper tensor for debugging. ember's
    transforms do not wrap tensors, so this returns ``tensor`` itself."""
    return tensor


# ---------------------------------------------------------------------------- functional_call


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True,
                    strict=False):
    """Call ``module`` with some of its parameters and buffers replaced by the given tensors (dotted
    names, as in ``state_dict``); the module is restored afterwards, even on error. ``args`` is one
    tensor or a tuple of positional arguments."""
    if isinstance(parameter_and_buffer_dicts, dict):
        mapping = dict(parameter_and_buffer_dicts)
    elif isinstance(parameter_and_buffer_dicts, (list, tuple)):
        mapping = {}
        for d in parameter_and_buffer_dicts:
            dup = set(mapping) & set(d)
            if dup:
                raise ValueError(f"functional_call: {sorted(dup)} appeared in multiple dictionaries; behavior of "
                                 "functional call is ambiguous")
            mapping.update(d)
    else:
        raise ValueError(f"functional_call: expected a dict (or a sequence of dicts) of tensors, got "
                         f"{type(parameter_and_buffer_dicts).__name__}")
    known = dict(module.named_parameters(remove_duplicate=False))
    known.update(dict(module.named_buffers(remove_duplicate=False)))
    unknown = [k for k in mapping if k not in known]
    if strict:
        missing = [k for k in known if k not in mapping]
        if unknown or missing:
            raise RuntimeError(f"functional_call: strict mode: unexpected keys {unknown}, missing keys {missing}")
    if unknown:
        raise RuntimeError(
            f"functional_call: {unknown} are not parameters or buffers of {type(module).__name__} (known names: "
            f"{sorted(known)[:12]}{' ...' if len(known) > 12 else ''})"
        )
    if tie_weights:
        # a tensor shared by several names (tied weights) is replaced under all of them
        by_id = {}
        for k, t in known.items():
            by_id.setdefault(id(t), []).append(k)
        for names in by_id.values():
            given = [n for n in names if n in mapping]
            if len(given) > 1 and len({id(mapping[n]) for n in given}) != 1:
                raise ValueError(f"functional_call got multiple values for keys {sorted(names)}, which are tied. "
                                 "Consider using tie_weights=False")
        for k in list(mapping):
            for other in by_id.get(id(known[k]), ()):
                mapping.setdefault(other, mapping[k])
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    kwargs = kwargs or {}
    with _swapped(module, mapping):
        return module(*args, **kwargs)


@contextlib.contextmanager
def _swapped(module, mapping):
    saved = []
    try:
        for name, value in mapping.items():
            owner, attr = _owner(module, name)
            store = "_parameters" if attr in owner.__dict__.get("_parameters", {}) else "_buffers"
            table = owner.__dict__[store]
            saved.append((table, attr, table[attr]))
            table[attr] = value
        yield
    finally:
        for table, attr, old in reversed(saved):
            table[attr] = old


def _owner(module, name):
    parts = name.split(".")
    m = module
    for p in parts[:-1]:
        m = getattr(m, p)
    return m, parts[-1]


from ._compat import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("torch.func", "ember.func")  # listed torch names raise a clear error

"""``torch.func``: function transforms over ember's autograd, and ``functional_call``.

``grad``, ``grad_and_value``, ``vjp``, ``jacrev`` and ``hessian`` take a function and return a new
function. They are built on ember's reverse-mode engine: each call runs ``func`` on fresh tensors that
require grad and differentiates it. They compose (``jacrev(jacrev(f))``, ``grad(grad(f))``) because
an input that already requires grad (from an enclosing transform or from the caller) is kept connected
and the inner derivatives are recorded with ``create_graph=True``.

Inputs and outputs may be tensors or (nested) tuples, lists and dicts of tensors (pytrees).
``vmap`` and ``jacfwd`` (forward mode) are not provided; ``hessian`` is ``jacrev(jacrev(f))``.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ._tensor import Tensor
from .autograd.engine import grad as _autograd_grad
from .autograd.grad_mode import enable_grad

__all__ = ["functional_call", "grad", "grad_and_value", "vjp", "jacrev", "hessian"]


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

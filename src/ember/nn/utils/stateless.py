"""``ember.nn.utils.stateless.functional_call``: run a module with some parameters/buffers swapped for given tensors."""
from __future__ import annotations

from contextlib import contextmanager

__all__ = ["functional_call"]


def _owner(module, dotted):
    *path, leaf = dotted.split(".")
    m = module
    for p in path:
        m = getattr(m, p)
    return m, leaf


@contextmanager
def _reparametrize(module, tensors, tie_weights=False, strict=False):
    from ..modules.module import Module

    if strict:
        expected = set(dict(module.named_parameters())) | set(dict(module.named_buffers()))
        missing = sorted(expected - set(tensors))
        unexpected = sorted(set(tensors) - expected)
        if missing or unexpected:
            raise RuntimeError(
                f"functional_call: strict=True and the given tensors do not match the module: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
    saved = []
    try:
        for name, t in tensors.items():
            owner, leaf = _owner(module, name)
            if not isinstance(owner, Module):
                raise AttributeError(f"functional_call: '{name}' does not name a parameter or buffer of the module")
            for reg in ("_parameters", "_buffers"):
                d = owner.__dict__[reg]
                if leaf in d:
                    saved.append((d, leaf, d[leaf]))
                    d[leaf] = t
                    break
            else:
                saved.append((owner.__dict__, leaf, owner.__dict__.get(leaf, _MISSING)))
                owner.__dict__[leaf] = t
        yield
    finally:
        for d, leaf, old in reversed(saved):
            if old is _MISSING:
                d.pop(leaf, None)
            else:
                d[leaf] = old


_MISSING = object()


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """``module(*args, **kwargs)`` with the named parameters/buffers replaced by the given tensors for this one
    call (the module itself is left unchanged)."""
    if isinstance(parameter_and_buffer_dicts, dict):
        tensors = dict(parameter_and_buffer_dicts)
    else:
        tensors = {}
        for d in parameter_and_buffer_dicts:
            for k, v in d.items():
                if k in tensors:
                    raise ValueError(f"functional_call: {k} appeared in multiple dictionaries")
                tensors[k] = v
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize(module, tensors, tie_weights, strict):
        return module(*args, **(kwargs or {}))

"""Tensor-method registration: each op declares, next to its definition, which ``Tensor`` methods it is.

``@tensor_method`` above a function (or ``tensor_method(fn, ...)`` after an assignment) records the op;
``ember._tensor._bind_methods`` attaches everything recorded here once, at the end of ``import ember``.
A name the ``Tensor`` class already defines is left alone (the class's own method wins)."""
from __future__ import annotations

REGISTERED = []  # (fn, method names, in-place names, dunder), in registration order


def tensor_method(*args, inplace=False, method=True, dunder=None):
    """Make an op a ``Tensor`` method: ``x.name(*a, **k)`` is ``fn(x, *a, **k)``.

    ``@tensor_method`` (the function's own name), ``@tensor_method("name", "alias")``, or
    ``tensor_method(fn, "name", ...)`` after an assignment. ``inplace=True`` also gives ``x.name_(...)``
    for each name, the result written into ``x`` through ``ember._ops.inplace`` (``inplace=("name",)``:
    only for those); ``method=False`` gives only the in-place form. ``dunder="__add__"`` binds the
    operator straight to ``fn`` (one Python frame less on hot operators).
    """
    fn = args[0] if args and not isinstance(args[0], str) else None
    names = args[1:] if fn is not None else args

    def register(f):
        ns = tuple(names) or (f.__name__,)
        ips = ns if inplace is True else tuple(inplace or ())
        REGISTERED.append((f, ns if method else (), ips, dunder))
        return f

    return register(fn) if fn is not None else register

"""``skip_init``: build a module whose parameters the caller will overwrite."""
from __future__ import annotations

import inspect

__all__ = ["skip_init"]


def skip_init(module_cls, *args, **kwargs):
    """``module_cls(*args, **kwargs)`` for a caller that overwrites every parameter afterwards. ember has no
    ``meta`` device to allocate without initialising, so the module is built normally: treat its values as
    uninitialised (as torch's are). Like torch, the class must accept a ``device`` keyword argument."""
    from ..modules.module import Module

    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"skip_init: expected a Module subclass, got {module_cls!r}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError(
            f"skip_init: Module must support a 'device' arg to skip initialization ({module_cls.__name__} has none)"
        )
    return module_cls(*args, **kwargs)

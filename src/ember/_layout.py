"""torch's ``layout`` and ``memory_format`` objects, and the checks behind the ``layout=``,
``pin_memory=`` and ``memory_format=`` arguments of ember's factory functions.

ember tensors are dense NumPy (or CuPy) arrays, so ``strided`` is the only layout, and the memory
format is NumPy's business: ``memory_format=`` is accepted and changes no value (a
``channels_last`` request gives the same numbers, in whatever element order NumPy keeps).
"""
from __future__ import annotations


class layout:  # noqa: N801  (torch's name)
    """A tensor layout; ember has only ``ember.strided`` (dense)."""

    def __init__(self, name: str):
        self._name = name

    def __repr__(self):
        return f"ember.{self._name}"

    def __reduce__(self):
        return self._name


class memory_format:  # noqa: N801  (torch's name)
    """A memory format request (``ember.contiguous_format``, ``ember.channels_last``, ...)."""

    def __init__(self, name: str):
        self._name = name

    def __repr__(self):
        return f"ember.{self._name}"

    def __reduce__(self):
        return self._name


strided = layout("strided")
preserve_format = memory_format("preserve_format")
contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")


def check(op: str, layout=None, pin_memory=False, memory_format=None):
    """Refuse what ember cannot honour, in torch's words; accept the rest (a no-op)."""
    if layout is not None and layout is not strided:
        raise NotImplementedError(f"{op}(layout={layout!r}): ember tensors are dense; only layout=torch.strided "
                                  "(the default) is available")
    if pin_memory:
        from . import cuda

        if not cuda.is_available():
            raise RuntimeError(f"{op}(pin_memory=True) requires a CUDA or other accelerator backend; no pinned "
                               "memory allocator is available on this system (drop pin_memory=True)")
    if memory_format is not None and not isinstance(memory_format, globals()["memory_format"]):
        raise TypeError(f"{op}(): memory_format must be a torch.memory_format such as torch.contiguous_format, "
                        f"got {memory_format!r}")

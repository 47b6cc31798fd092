"""The torch names ember does not provide, and the clear error a program gets when it reaches for one.

The list lives in ``_compat_exclusions.txt`` next to this file (one section per torch namespace, one
line per name: ``name  category  [what to use instead]``). It is read when a lookup in a namespace fails,
and once at import (under a millisecond) for ``torch.Tensor``'s names, which ``ember._tensor`` installs as
descriptors (a ``__getattr__`` on ``Tensor`` would slow down every attribute access of every op). ``tests/test_api_coverage.py`` keeps the file true: every public
name of torch's namespaces is either present in ember or listed, and no listed name is present.

Looking up a listed name raises :class:`NotSupportedError`, a ``NotImplementedError`` that is also an
``AttributeError`` so ``hasattr(torch, "name")`` and ``getattr(torch, "name", default)`` keep working
in programs that probe for optional features.
"""
from __future__ import annotations

import os

# torch namespace -> the ember object that mirrors it
EMBER_NAMESPACE = {
    "torch": "ember",
    "torch.Tensor": "ember.Tensor",
    "torch.nn": "ember.nn",
    "torch.nn.functional": "ember.nn.functional",
    "torch.nn.init": "ember.nn.init",
    "torch.nn.utils": "ember.nn.utils",
    "torch.optim": "ember.optim",
    "torch.optim.lr_scheduler": "ember.optim.lr_scheduler",
    "torch.utils.data": "ember.utils.data",
    "torch.autograd": "ember.autograd",
    "torch.linalg": "ember.linalg",
    "torch.special": "ember.special",
    "torch.fft": "ember.fft",
    "torch.func": "ember.func",
}

# category -> (heading used in docs, what the error says)
CATEGORIES = {
    "gpu": ("GPU / accelerator only", "it is specific to CUDA/MPS/XPU or another accelerator backend; ember runs on "
            "the CPU (NumPy), with optional CuPy arrays"),
    "quantization": ("Quantization", "ember has no quantized dtypes or quantized kernels"),
    "sparse": ("Sparse tensors", "ember has no sparse layouts; use dense tensors"),
    "complex": ("Complex numbers", "ember's complex tensors are complex64 and complex128 (no complex32/chalf, no "
                "complex storages), and this name is not among what they cover (see 'Complex numbers' in "
                "docs/differences.md)"),
    "distributed": ("Distributed internals", "ember's multi-process training is ember.distributed (MPI, see docs/distributed.md); this torch internal has no counterpart"),
    "internal": ("Compiler / JIT / dispatcher internals", "it belongs to torch's compiler, TorchScript, "
                 "dispatcher or C++ internals, which ember does not have"),
    "deprecated": ("Deprecated in torch", "it is deprecated in torch"),
    "not-yet": ("Not implemented yet", "ember does not implement it yet"),
    "signature": ("Present, but parameters differ from torch", ""),
}


class NotSupportedError(NotImplementedError, AttributeError):
    """A torch name ember does not provide (also an AttributeError, so ``hasattr`` answers False)."""


_cache: dict | None = None


def exclusions() -> dict:
    """``{torch_namespace: {name: (category, note)}}`` parsed from ``_compat_exclusions.txt``."""
    global _cache
    if _cache is None:
        path = os.path.join(os.path.dirname(__file__), "_compat_exclusions.txt")
        out: dict = {}
        section = None
        with open(path, encoding="utf-8") as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("[") and line.endswith("]"):
                    section = line[1:-1]
                    if section not in EMBER_NAMESPACE:
                        raise ValueError(f"_compat_exclusions.txt:{lineno}: unknown namespace [{section}]")
                    out.setdefault(section, {})
                    continue
                parts = line.split(None, 2)
                if section is None or len(parts) < 2 or parts[1] not in CATEGORIES:
                    raise ValueError(f"_compat_exclusions.txt:{lineno}: expected 'name category [note]' under a "
                                     f"[namespace] header with a category in {sorted(CATEGORIES)}, got {line!r}")
                out[section][parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
        _cache = out
    return _cache


def error(namespace: str, name: str):
    """The error for ``namespace.name`` if it is listed as unsupported (not for 'signature'), else None."""
    if name.startswith("_"):
        return None
    entry = exclusions().get(namespace, {}).get(name)
    if entry is None or entry[0] == "signature":
        return None
    category, note = entry
    why = CATEGORIES[category][1]
    msg = f"{EMBER_NAMESPACE[namespace]}.{name} ({namespace}.{name}) is not available in ember: {why}"
    if note:
        msg += f". {note[0].upper()}{note[1:]}"
    msg += ". See docs/differences.md for what ember covers."
    return NotSupportedError(msg)


def module_getattr(namespace: str, module_name: str):
    """A module-level ``__getattr__`` raising the clear error for listed names, AttributeError otherwise."""

    def __getattr__(name):
        err = error(namespace, name)
        if err is not None:
            raise err
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__

"""``ember.autograd.forward_ad`` (torch's ``torch.autograd.forward_ad``): forward-mode AD with dual tensors.

ember has no per-op tangent rules; the tangents ride on the reverse-mode graph instead. ``make_dual(p, t)``
returns ``p`` tied to a hidden zero leaf; ``unpack_dual(y)`` computes ``y``'s tangent ``J t`` by the
double-backward trick (the vector-Jacobian product is linear in its cotangent ``u``, so differentiating
``(J^T u) . t`` with respect to ``u`` gives ``J t``) — two reverse passes over the graph between the dual
inputs and ``y``. So every op with a differentiable backward (nearly all of ember's) is covered, with
torch's values, and an op whose backward cannot be differentiated raises a clear error at ``unpack_dual``.

Differences from torch, all consequences of riding on the graph:

- a dual tensor and what is computed from it require grad (``requires_grad`` is True where torch says
  False), and computations under ``no_grad`` lose their tangent (``unpack_dual`` gives ``None``; torch
  tracks tangents regardless of grad mode);
- a tangent is a plain tensor (it has no graph of its own: for higher order use
  ``ember.autograd.functional.jvp(..., create_graph=True)`` or ``ember.func``);
- ``unpack_dual`` costs two reverse passes, not a forward-mode pass (compute several tangents of one
  output at once by stacking them into one dual input where possible).

>>> import ember
>>> import ember.autograd.forward_ad as fwAD
>>> x = ember.tensor([1.0, 2.0, 3.0])
>>> with fwAD.dual_level():
...     d = fwAD.make_dual(x, ember.ones(3))
...     y = (d * d).sin()
...     tangent = fwAD.unpack_dual(y).tangent
>>> [round(v, 4) for v in tangent.tolist()]
[1.0806, -2.6146, -5.4668]
"""
from __future__ import annotations

from typing import NamedTuple

from .._tensor import Tensor

__all__ = ["UnpackedDualTensor", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual", "dual_level"]

_STATE = {"level": None, "duals": []}  # one level at a time (torch: nested levels are not supported)


class UnpackedDualTensor(NamedTuple):
    """What ``unpack_dual`` returns: the primal and its tangent (``None`` when it has none at this level)."""

    primal: Tensor
    tangent: Tensor | None


def enter_dual_level():
    """Start a forward-AD level (the ``dual_level`` context manager calls it); returns the level's index."""
    if _STATE["level"] is not None:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _STATE["level"] = 0
    _STATE["duals"] = []
    return 0


def exit_dual_level(*, level=None):
    """End the current level: the tangents of its dual tensors are dropped."""
    cur = _STATE["level"]
    if cur is None:
        raise RuntimeError("exit_dual_level: there is no forward AD level to exit (enter one with "
                           "enter_dual_level() or `with dual_level():`)")
    if level is not None and level != cur:
        raise RuntimeError(f"exit_dual_level: level {level} is not the current forward AD level ({cur})")
    _STATE["level"] = None
    _STATE["duals"] = []


class dual_level:  # noqa: N801  (torch's name)
    """Context manager for forward AD: dual tensors made inside carry their tangents until it exits.
    Also usable as a decorator."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *args):
        exit_dual_level()

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with dual_level():
                return fn(*a, **k)

        return wrapper


def _check_level(level, who):
    cur = _STATE["level"]
    if cur is None:
        if who == "make_dual":
            raise RuntimeError("Trying to create a dual Tensor for forward AD but no level exists, make sure to "
                               "enter_dual_level() first.")
        return None
    if level is not None and level != cur:
        raise RuntimeError(f"Invalid level given to _{who}")
    return cur


def make_dual(tensor, tangent, *, level=None):
    """A tensor with ``tensor``'s values carrying ``tangent`` (same shape) as its forward gradient."""
    _check_level(level, "make_dual")
    from .. import _ops as O
    from .grad_mode import enable_grad

    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError(f"make_dual: expected Tensors for tensor and tangent, got {type(tensor).__name__} and "
                        f"{type(tangent).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(f"make_dual: forward AD needs a floating-point tensor, got dtype {tensor.dtype}")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the original Tensor, this is "
            f"not supported. Tensor is of size {list(tensor.shape)} while the given forward gradient is of size "
            f"{list(tangent.shape)}.")
    z = O.zeros_like(tensor).requires_grad_()
    with enable_grad():
        d = tensor + z
    t = tangent.detach()
    if t.dtype != tensor.dtype:
        t = t.to(tensor.dtype)
    _STATE["duals"].append((z, t))
    d.__dict__["_ember_fw"] = (_STATE["duals"], t)
    return d


def unpack_dual(tensor, *, level=None):
    """``(primal, tangent)`` of ``tensor`` at the current level; the tangent is ``None`` for a tensor that
    does not depend on a dual tensor of this level (or when no level is active)."""
    if _check_level(level, "unpack_dual") is None or not isinstance(tensor, Tensor) or not tensor.requires_grad:
        return UnpackedDualTensor(tensor, None)
    mark = tensor.__dict__.get("_ember_fw")
    if mark is not None and mark[0] is _STATE["duals"]:
        return UnpackedDualTensor(tensor, mark[1])
    duals = list(_STATE["duals"])
    if not duals or not tensor.is_floating_point():
        return UnpackedDualTensor(tensor, None)
    from .. import _ops as O
    from .engine import grad
    from .grad_mode import enable_grad

    zs = [z for z, _ in duals]
    try:
        with enable_grad():
            u = O.zeros_like(tensor).requires_grad_()
            gs = grad(tensor, zs, u, retain_graph=True, create_graph=True, allow_unused=True)
            used = [(g, t) for g, (_, t) in zip(gs, duals) if g is not None]
            if not used:
                return UnpackedDualTensor(tensor, None)
            s = None
            for g, t in used:
                term = (g * t).sum()
                s = term if s is None else s + term
            if not s.requires_grad:  # the vjp does not depend on u: the tangent is zero
                return UnpackedDualTensor(tensor, O.zeros_like(tensor).detach())
            (tan,) = grad(s, u, retain_graph=True, allow_unused=True)
    except (RuntimeError, NotImplementedError, TypeError) as e:
        raise RuntimeError(
            f"forward_ad.unpack_dual: ember computes tangents by differentiating the backward pass (the "
            f"double-backward trick) and an op between the dual inputs and this tensor does not support it: {e}"
        ) from e
    if tan is None:
        tan = O.zeros_like(tensor)
    return UnpackedDualTensor(tensor, tan.detach())

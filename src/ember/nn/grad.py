"""``ember.nn.grad`` (torch's ``torch.nn.grad``, also ``nn.functional.grad``): the gradients of a convolution
with respect to its input or its weight, given the gradient of its output.

``conv2d_input(input_size, weight, grad_output)`` is what ``autograd.grad(conv2d(x, weight), x, grad_output)``
returns for an ``x`` of shape ``input_size``; ``conv2d_weight(input, weight_size, grad_output)`` the same for
the weight. Both are differentiable (the result has a graph when ``weight``/``input`` or ``grad_output``
require a gradient and grad mode is on).

>>> import ember
>>> from ember.nn import grad
>>> x, w = ember.randn(1, 1, 3, 3), ember.randn(1, 1, 1, 2)
>>> go = ember.ones(1, 1, 3, 2)
>>> grad.conv2d_input(x.shape, w, go).shape
ember.Size([1, 1, 3, 3])
"""
from __future__ import annotations

from .. import _ops as O
from .._tensor import Tensor
from ..autograd.engine import grad as _autograd_grad
from ..autograd.grad_mode import STATE, enable_grad

__all__ = ["conv1d_input", "conv1d_weight", "conv2d_input", "conv2d_weight", "conv3d_input", "conv3d_weight"]


def _size(size, nd, op, what):
    try:
        s = tuple(int(d) for d in size)
    except TypeError:
        raise TypeError(f"{op}: {what} must be a sequence of ints (e.g. input.shape), got {size!r}") from None
    if len(s) not in (nd + 1, nd + 2) or any(d < 0 for d in s):
        raise RuntimeError(f"{op}: {what} must have {nd + 2} non-negative entries (N, C, {nd} spatial sizes) "
                           f"or {nd + 1} without the batch, got {list(s)}")
    return s


def _conv(nd):
    from . import functional as F

    return (F.conv1d, F.conv2d, F.conv3d)[nd - 1]


def _check(t, name, op):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")


def _input_grad(nd, input_size, weight, grad_output, stride, padding, dilation, groups):
    op = f"conv{nd}d_input"
    _check(weight, "weight", op)
    _check(grad_output, "grad_output", op)
    size = _size(input_size, nd, op, "input_size")
    create = STATE.enabled and (weight.requires_grad or grad_output.requires_grad)
    with enable_grad():
        x = O.zeros(*size, dtype=grad_output.dtype).requires_grad_()
        w = weight if create else weight.detach()
        y = _conv(nd)(x, w, None, stride, padding, dilation, groups)
        if tuple(y.shape) != tuple(grad_output.shape):
            raise RuntimeError(
                f"{op}: grad_output has shape {list(grad_output.shape)} but a conv{nd}d of an input of size "
                f"{list(size)} with weight {list(weight.shape)} (stride={stride}, padding={padding}, "
                f"dilation={dilation}, groups={groups}) gives {list(y.shape)}")
        (g,) = _autograd_grad(y, x, grad_output, create_graph=create)
    return g


def _weight_grad(nd, input, weight_size, grad_output, stride, padding, dilation, groups):
    op = f"conv{nd}d_weight"
    _check(input, "input", op)
    _check(grad_output, "grad_output", op)
    try:
        size = tuple(int(d) for d in weight_size)
    except TypeError:
        raise TypeError(f"{op}: weight_size must be a sequence of ints (e.g. weight.shape), got "
                        f"{weight_size!r}") from None
    if len(size) != nd + 2:
        raise RuntimeError(f"{op}: weight_size must have {nd + 2} entries (out_channels, in_channels/groups, "
                           f"{nd} kernel sizes), got {list(size)}")
    create = STATE.enabled and (input.requires_grad or grad_output.requires_grad)
    with enable_grad():
        w = O.zeros(*size, dtype=grad_output.dtype).requires_grad_()
        x = input if create else input.detach()
        y = _conv(nd)(x, w, None, stride, padding, dilation, groups)
        if tuple(y.shape) != tuple(grad_output.shape):
            raise RuntimeError(
                f"{op}: grad_output has shape {list(grad_output.shape)} but a conv{nd}d of the input "
                f"{list(input.shape)} with a weight of size {list(size)} (stride={stride}, padding={padding}, "
                f"dilation={dilation}, groups={groups}) gives {list(y.shape)}")
        (g,) = _autograd_grad(y, w, grad_output, create_graph=create)
    return g


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of ``conv1d`` with respect to an input of size ``input_size``."""
    return _input_grad(1, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of ``conv1d`` with respect to a weight of size ``weight_size``."""
    return _weight_grad(1, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of ``conv2d`` with respect to an input of size ``input_size``."""
    return _input_grad(2, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of ``conv2d`` with respect to a weight of size ``weight_size``."""
    return _weight_grad(2, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv3d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of ``conv3d`` with respect to an input of size ``input_size``."""
    return _input_grad(3, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv3d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of ``conv3d`` with respect to a weight of size ``weight_size``."""
    return _weight_grad(3, input, weight_size, grad_output, stride, padding, dilation, groups)

"""Convolution layers: ``Conv1d``/``2d``/``3d`` and ``ConvTranspose1d``/``2d``/``3d`` (torch's parameters,
names and default initialisation; ``padding_mode`` 'zeros', 'reflect', 'replicate' or 'circular')."""
from __future__ import annotations

import math
import numbers

from ... import _ops as E
from .._functional_conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from ..parameter import Parameter
from .module import Module
from ._checks import size_arg

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


def _ntuple(v, n, name, layer):
    if isinstance(v, numbers.Integral):
        return (int(v),) * n
    if not isinstance(v, (tuple, list)) or not all(isinstance(a, numbers.Integral) for a in v):
        raise TypeError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    t = tuple(int(a) for a in v)
    if len(t) != n:
        raise ValueError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


def _uniform_(p, bound):
    p.uniform_(-bound, bound)


def reset_conv_parameters(weight, bias, fan_in):
    """torch's default: kaiming_uniform_(a=sqrt(5)) for the weight (bound 1/sqrt(fan_in)), the same bound for the bias."""
    from ...autograd.grad_mode import no_grad

    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    with no_grad():
        # kaiming_uniform_ with a=sqrt(5): gain sqrt(2/6), bound gain*sqrt(3/fan_in) = 1/sqrt(fan_in)
        _uniform_(weight, bound)
        if bias is not None:
            _uniform_(bias, bound)


class _ConvNd(Module):
    _nd = 2
    _transposed = False
    __constants__ = ("stride", "padding", "dilation", "groups", "padding_mode", "output_padding",
                     "in_channels", "out_channels", "kernel_size")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None, output_padding=0):
        super().__init__()
        name = type(self).__name__
        nd = self._nd
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(
                f"{name}: padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got {padding_mode!r}"
            )
        if padding_mode != "zeros" and self._transposed:
            raise ValueError(f'{name}: only "zeros" padding_mode is supported for {name}')
        self.in_channels = size_arg(name, "in_channels", in_channels)
        self.out_channels = size_arg(name, "out_channels", out_channels)
        self.kernel_size = _ntuple(kernel_size, nd, "kernel_size", name)
        self.stride = _ntuple(stride, nd, "stride", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: invalid padding string {padding!r}, expected one of 'same', 'valid'")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, nd, "padding", name)
        self.dilation = _ntuple(dilation, nd, "dilation", name)
        self.output_padding = _ntuple(output_padding, nd, "output_padding", name)
        self.groups = groups
        self.padding_mode = padding_mode
        if self._transposed:
            wshape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            wshape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(E.empty(*wshape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(E.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
        reset_conv_parameters(self.weight, self.bias, fan_in)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self._transposed and self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _short(self):
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"

    def _check_input(self, x):
        nd = self._nd
        c = self.in_channels if not self._transposed else self.in_channels
        sp = {1: "L", 2: "H, W"}.get(nd, "D, H, W")
        expect = f"(N, {c}, {sp}) or ({c}, {sp})"
        shape = tuple(getattr(x, "shape", ()))
        if x.ndim not in (nd + 1, nd + 2):
            raise RuntimeError(
                f"{self._short()}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input of shape "
                f"{expect}, got shape {shape}"
            )
        if shape[-nd - 1] != c:
            raise RuntimeError(
                f"{self._short()}: expected input with {c} channels (shape {expect}), got shape {shape}"
            )


def _circular_pad(x, pads_last_first):
    """Wrap-around padding; ``pads_last_first`` is (left, right) per spatial dim from the last dim backwards."""
    nd = len(pads_last_first)
    for i, (lo, hi) in enumerate(pads_last_first):
        ax = x.ndim - 1 - i
        n = x.shape[ax]
        if lo > n or hi > n:
            raise RuntimeError(f"circular padding ({lo}, {hi}) is larger than the input size {n}")
        parts = []
        if lo:
            parts.append(E.narrow(x, ax, n - lo, lo))
        parts.append(x)
        if hi:
            parts.append(E.narrow(x, ax, 0, hi))
        x = E.cat(parts, ax) if len(parts) > 1 else x
    del nd
    return x


class _Conv(_ConvNd):
    def _conv(self, x, fn):
        self._check_input(x)
        if self.padding_mode != "zeros":
            if isinstance(self.padding, str):
                if self.padding == "valid":
                    pads = [(0, 0)] * self._nd
                else:
                    pads = []
                    for k, d in zip(reversed(self.kernel_size), reversed(self.dilation)):
                        t = d * (k - 1)
                        pads.append((t // 2, t - t // 2))
            else:
                pads = [(p, p) for p in reversed(self.padding)]
            if self.padding_mode == "circular":
                x = _circular_pad(x, pads)
            else:
                from ..functional import pad as _pad

                x = _pad(x, tuple(v for lohi in pads for v in lohi), mode=self.padding_mode)
            return fn(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return fn(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) or (C_in, L): weight (C_out, C_in/groups, k)."""

    _nd = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)

    def forward(self, input):
        return self._conv(input, conv1d)


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) or (C_in, H, W): weight (C_out, C_in/groups, kh, kw).

    >>> conv = ember.nn.Conv2d(1, 8, 3, padding=1)
    >>> conv(ember.randn(4, 1, 28, 28)).shape
    ember.Size([4, 8, 28, 28])
    """

    _nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)

    def forward(self, input):
        return self._conv(input, conv2d)


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W) or (C_in, D, H, W): weight (C_out, C_in/groups, kd, kh, kw)."""

    _nd = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)

    def forward(self, input):
        return self._conv(input, conv3d)


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: string padding is not supported")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype, output_padding=output_padding)

    def _output_padding(self, x, output_size):
        if output_size is None:
            return self.output_padding
        nd = self._nd
        out = tuple(int(v) for v in output_size)[-nd:]
        res = []
        for i in range(nd):
            size = x.shape[x.ndim - nd + i]
            base = (size - 1) * self.stride[i] - 2 * self.padding[i] + self.dilation[i] * (self.kernel_size[i] - 1) + 1
            extra = out[i] - base
            if extra < 0 or extra >= max(self.stride[i], self.dilation[i]):
                raise ValueError(
                    f"{self._short()}: requested output_size {tuple(output_size)} is not reachable from input of shape "
                    f"{tuple(x.shape)} (valid sizes along dim {i}: {base}..{base + max(self.stride[i], self.dilation[i]) - 1})"
                )
            res.append(extra)
        return tuple(res)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution: weight (C_in, C_out/groups, k)."""

    _nd = 1

    def forward(self, input, output_size=None):
        self._check_input(input)
        op = self._output_padding(input, output_size)
        return conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution: weight (C_in, C_out/groups, kh, kw)."""

    _nd = 2

    def forward(self, input, output_size=None):
        self._check_input(input)
        op = self._output_padding(input, output_size)
        return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                self.dilation)


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution: weight (C_in, C_out/groups, kd, kh, kw)."""

    _nd = 3

    def forward(self, input, output_size=None):
        self._check_input(input)
        op = self._output_padding(input, output_size)
        return conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                self.dilation)

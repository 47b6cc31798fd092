"""``Identity``, ``Linear``, ``Bilinear``."""
from __future__ import annotations

import math

from ... import _ops as O
from ..._tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module
from ._checks import size_arg

__all__ = ["Identity", "Linear", "Bilinear", "LazyLinear"]


def _empty(*shape, dtype=None):
    return O.empty(*shape, dtype=dtype)


class Identity(Module):
    """Returns its input unchanged (accepts and ignores any constructor arguments)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ weight.T + bias. weight: (out_features, in_features), initialised like torch
    (kaiming_uniform_ with a=sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)); bias likewise)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = size_arg("Linear", "in_features", in_features)
        self.out_features = size_arg("Linear", "out_features", out_features)
        self.weight = Parameter(_empty(self.out_features, self.in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        if not isinstance(input, Tensor) or input.ndim == 0 or input.shape[-1] != self.in_features:
            got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise RuntimeError(
                f"Linear(in_features={self.in_features}, out_features={self.out_features}): expected input with "
                f"last dimension {self.in_features}, got shape {got}"
            )
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class LazyLinear(Linear):
    """A ``Linear`` whose ``in_features`` is taken from the first input."""

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = size_arg("LazyLinear", "out_features", out_features)
        self._dtype = dtype
        self._has_bias = bias
        self.register_parameter("weight", None)
        self.register_parameter("bias", None)

    def forward(self, input):
        if self.weight is None:
            self.in_features = input.shape[-1]
            self.weight = Parameter(_empty(self.out_features, self.in_features, dtype=self._dtype or input.dtype))
            if self._has_bias:
                self.bias = Parameter(_empty(self.out_features, dtype=self._dtype or input.dtype))
            self.reset_parameters()
        return super().forward(input)


class Bilinear(Module):
    """y = x1 @ weight[k] @ x2 + bias[k]. weight: (out_features, in1_features, in2_features),
    initialised U(-1/sqrt(in1), 1/sqrt(in1)) like torch."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = (
            size_arg("Bilinear", n, v) for n, v in (("in1_features", in1_features), ("in2_features", in2_features),
                                                    ("out_features", out_features)))
        self.weight = Parameter(_empty(self.out_features, self.in1_features, self.in2_features, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        if input1.shape[-1] != self.in1_features or input2.shape[-1] != self.in2_features:
            raise RuntimeError(
                f"{self!r}: expected inputs with last dimensions {self.in1_features} and {self.in2_features}, "
                f"got shapes {tuple(input1.shape)} and {tuple(input2.shape)}"
            )
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class NonDynamicallyQuantizableLinear(Linear):
    """torch's name for ``MultiheadAttention.out_proj`` (a plain ``Linear``), at torch's path
    ``nn.modules.linear``, so checkpoint code that names it (``safe_globals``) finds it."""

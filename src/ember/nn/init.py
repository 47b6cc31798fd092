"""``ember.nn.init``: in-place initialisers with torch's formulas.

Every function writes into ``tensor._data`` under ``no_grad`` and draws from ember's default generator
(or ``generator=``), so ``ember.manual_seed`` makes initialisation reproducible.

>>> w = ember.empty(3, 5)
>>> ember.nn.init.kaiming_uniform_(w, a=5 ** 0.5) is w
True
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .._random import _gen
from .._tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
]


def _write(tensor, values):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init: expected an ember Tensor, got {type(tensor).__name__}")
    tensor._data[...] = values
    tensor._bump()
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for an activation: 1 (linear, conv, sigmoid), 5/3 (tanh), sqrt(2) (relu),
    sqrt(2 / (1 + slope^2)) (leaky_relu, slope default 0.01), 3/4 (selu)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, numbers.Real):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    rf = 1
    for s in tensor.shape[2:]:
        rf *= s
    return tensor.shape[1] * rf, tensor.shape[0] * rf


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b) (a complex tensor: each part, as torch)."""
    if isinstance(tensor, Tensor) and tensor._data.dtype.kind == "c":
        return _write(tensor, _complex_draw(tensor, _gen(generator).np.uniform(a, b, size=tensor._data.shape + (2,))))
    return _write(tensor, _gen(generator).np.uniform(a, b, size=tensor._data.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std^2) (a complex tensor: each part N(mean, std^2 / 2), as torch's ``normal_``)."""
    if isinstance(tensor, Tensor) and tensor._data.dtype.kind == "c":
        parts = _gen(generator).np.normal(mean, std * math.sqrt(0.5), size=tensor._data.shape + (2,))
        return _write(tensor, _complex_draw(tensor, parts))
    return _write(tensor, _gen(generator).np.normal(mean, std, size=tensor._data.shape))


def _complex_draw(tensor, parts):
    return parts[..., 0] + 1j * parts[..., 1]


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) truncated to [a, b] (values outside are redrawn)."""
    if a >= b:
        raise ValueError(f"trunc_normal_: a ({a}) must be less than b ({b})")
    g = _gen(generator).np
    n = tensor._data.size
    out = np.empty(n)
    filled = 0
    lo, hi = (a - mean) / std, (b - mean) / std
    if hi < -5 or lo > 5:
        warnings.warn("trunc_normal_: mean is more than 2 std from [a, b]; the distribution of values may be incorrect.",
                      stacklevel=2)
    while filled < n:
        draw = g.standard_normal(max(2 * (n - filled), 16))
        draw = draw[(draw >= lo) & (draw <= hi)][: n - filled]
        out[filled:filled + draw.size] = draw
        filled += draw.size
    return _write(tensor, np.clip(out * std + mean, a, b).reshape(tensor._data.shape))


def constant_(tensor, val):
    return _write(tensor, val)


def ones_(tensor):
    return _write(tensor, 1)


def zeros_(tensor):
    return _write(tensor, 0)


def eye_(tensor):
    """The identity matrix (2-D tensors only)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _write(tensor, np.eye(*tensor._data.shape))


def dirac_(tensor, groups=1):
    """Identity-preserving convolution kernels for 3-, 4- and 5-D tensors."""
    d = tensor.ndim
    if d not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups:
        raise ValueError("dim 0 must be divisible by groups")
    out_per = sizes[0] // groups
    vals = np.zeros(tensor._data.shape)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for i in range(min(out_per, sizes[1])):
            vals[(g * out_per + i, i) + centre] = 1
    return _write(tensor, vals)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al.)."""
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2) with std = gain / sqrt(fan) (He et al.)."""
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix (from the QR decomposition of a Gaussian one) times ``gain``."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor._data.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor._data.size // rows
    flat = _gen(generator).np.standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, (q * gain).reshape(tensor._data.shape))


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """A 2-D tensor with a fraction ``sparsity`` of each column zeroed and the rest N(0, std^2)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    g = _gen(generator).np
    vals = g.normal(0, std, size=(rows, cols))
    nz = int(math.ceil(sparsity * rows))
    for c in range(cols):
        vals[g.permutation(rows)[:nz], c] = 0
    return _write(tensor, vals)


# deprecated torch aliases without the trailing underscore
uniform = uniform_
normal = normal_
constant = constant_
xavier_uniform = xavier_uniform_
xavier_normal = xavier_normal_
kaiming_uniform = kaiming_uniform_
kaiming_normal = kaiming_normal_
orthogonal = orthogonal_
dirac = dirac_
eye = eye_
sparse = sparse_


from .._compat import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("torch.nn.init", "ember.nn.init")  # listed torch names raise a clear error

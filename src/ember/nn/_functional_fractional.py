"""Fractional max pooling (Graham, 2014): ``fractional_max_pool2d/3d`` and their ``_with_indices`` forms.

The window starts come from torch's own rule (ATen's ``generate_intervals``, computed in the input's
dtype): for a sample ``u`` in [0, 1) of each plane and dimension, ``alpha = (in - k) / (out - 1)`` and
``start[i] = int((i + u) * alpha) - int(u * alpha)``, the last window ending at the input's edge. With
``_random_samples`` given (shape (N, C, 2) or (N, C, 3): W then H, or T, H, W as torch orders them) the
outputs, indices and gradients equal torch's. Without it, the samples are drawn from ember's generator
(``ember.manual_seed``), which is not torch's stream: the same seed gives other windows than torch.
Within a window the first maximum wins and a NaN wins over numbers (the last NaN), as in torch's kernel.
"""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from ..autograd.engine import Node
from .. import _autocast as _ac

__all__ = ["fractional_max_pool2d", "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
           "fractional_max_pool3d_with_indices"]

_DIMS = {2: ("height", "width"), 3: ("time", "height", "width")}


def _tuple(v, n, what, op):
    if isinstance(v, (tuple, list)):
        if len(v) not in (1, n):
            raise ValueError(f"{op} requires {what} to either be a single Int or tuple of Ints.")
        return tuple(v) * (n if len(v) == 1 else 1)
    return (v,) * n


def _intervals(sample, in_size, out_size, pool, dt):
    """torch's ``generate_intervals`` for one sample per plane (``sample``: array of shape (P,)), in dtype ``dt``."""
    seq = np.empty(sample.shape + (out_size,), dtype=np.int64)
    if out_size > 1:
        alpha = dt(in_size - pool) / dt(out_size - 1)
        i = np.arange(out_size - 1).astype(dt)
        s = sample.astype(dt)[:, None]
        seq[:, :-1] = ((i + s) * alpha).astype(np.int64) - (s * alpha).astype(np.int64)
    if out_size > 0:
        seq[:, -1] = in_size - pool
    return seq


class FractionalMaxPoolBackward(Node):
    """Max over windows given per plane; backward scatters the gradient to the argmax positions."""

    saves = {0: ()}

    def __init__(self, nd, kernel, out_size, samples):
        self.nd, self.kernel, self.out_size, self.samples = nd, kernel, out_size, samples
        self._grad_name = f"FractionalMaxPool{nd}DBackward0"

    def forward(self, x):
        nd, k, osz = self.nd, self.kernel, self.out_size
        lead = x.shape[:-nd - 1]
        C = x.shape[-nd - 1]
        sp = x.shape[-nd:]
        planes = x.reshape((-1,) + sp)  # (P, *sp), P = N*C
        P = planes.shape[0]
        smp = self.samples.reshape(P, nd)
        self.samples = None  # only forward reads them
        dt = x.dtype.type
        # torch's sample order: 2-D (W, H), 3-D (T, H, W)
        order = (1, 0) if nd == 2 else (0, 1, 2)
        starts = [_intervals(smp[:, order[d]], sp[d], osz[d], k[d], dt) for d in range(nd)]
        # positions along each dim: (P, out_d, k_d)
        pos = [starts[d][:, :, None] + np.arange(k[d])[None, None, :] for d in range(nd)]
        pidx = np.arange(P).reshape((P,) + (1,) * (2 * nd))
        idx = [pidx]
        for d in range(nd):
            shape = [P] + [1] * (2 * nd)
            shape[1 + d] = osz[d]
            shape[1 + nd + d] = k[d]
            idx.append(pos[d].reshape(shape))
        win = planes[tuple(idx)].reshape((P,) + tuple(osz) + (-1,))  # window scan order: first dim slowest
        K = win.shape[-1]
        nan = np.isnan(win)
        am = np.argmax(win, axis=-1)
        if nan.any():
            last_nan = K - 1 - np.argmax(nan[..., ::-1], axis=-1)
            am = np.where(nan.any(-1), last_nan, am)
        out = np.take_along_axis(win, am[..., None], -1)[..., 0]
        # the flat index within the plane of each chosen element (torch's indices)
        offs = []
        rem = am
        for d in reversed(range(nd)):
            offs.append(rem % k[d])
            rem = rem // k[d]
        offs = offs[::-1]
        flat = np.zeros_like(am)
        for d in range(nd):
            shape = [P] + [1] * nd
            shape[1 + d] = osz[d]
            flat = flat * sp[d] + (starts[d].reshape(shape) + offs[d])
        self.flat = flat.reshape(P, -1)
        self.in_shape = x.shape
        self.indices = flat.reshape(lead + (C,) + tuple(osz))
        return out.reshape(lead + (C,) + tuple(osz)).astype(x.dtype, copy=False)

    def backward(self, ns, g, ins, out):
        P, per = self.flat.shape
        plane = 1
        for s in self.in_shape[-self.nd:]:
            plane *= s
        gi = ns.put_along_zeros((P, plane), self.flat, ns.reshape(g, (P, per)), 1)
        return (ns.reshape(gi, self.in_shape),)


def _fractional(nd, input, kernel_size, output_size, output_ratio, return_indices, _random_samples):
    op = f"fractional_max_pool{nd}d"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    names = _DIMS[nd]
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}(): expected a {nd + 1}-D (C, {', '.join(n[0].upper() for n in names)}) or "
                           f"{nd + 2}-D (N, C, ...) input, got shape {tuple(input.shape)}")
    if not input.is_floating_point():
        raise RuntimeError(f"{op}(): expected a floating-point input, got dtype {input.dtype}")
    k = tuple(int(v) for v in _tuple(kernel_size, nd, "kernel_size", op))
    sp = tuple(int(s) for s in input.shape[-nd:])
    if output_size is None:
        r = _tuple(output_ratio, nd, "output_ratio", op)
        osz = tuple(int(sp[d] * float(r[d])) for d in range(nd))
    else:
        osz = tuple(int(v) for v in _tuple(output_size, nd, "output_size", op))
    for d in range(nd):
        if k[d] <= 0:
            raise RuntimeError(f"{op}(): kernel_size must be positive, got {k}")
        if osz[d] <= 0:
            raise RuntimeError(f"{op}(): output_size must be positive, got {osz} (input {tuple(input.shape)})")
        if osz[d] + k[d] - 1 > sp[d]:
            raise RuntimeError(f"{op}(): pool {names[d]} {k[d]} too large relative to input {names[d]} {sp[d]} "
                               f"(output {names[d]} {osz[d]} + pool {k[d]} - 1 must be <= {sp[d]})")
    n = 1 if input.ndim == nd + 1 else int(input.shape[0])
    C = int(input.shape[-nd - 1])
    if _random_samples is None:
        from .._random import rand

        smp = rand(n, C, nd, dtype=input.dtype)._data
    else:
        if not isinstance(_random_samples, Tensor):
            raise TypeError(f"{op}: _random_samples must be a Tensor, got {type(_random_samples).__name__}")
        smp = _random_samples._data
        if smp.ndim != 3:
            raise RuntimeError(f"Expect _random_samples to be 3-D (N, C, {nd}); got shape {tuple(smp.shape)}.")
        if smp.dtype != input._data.dtype:
            raise RuntimeError("Expect _random_samples to have the same dtype as input")
        if smp.shape[2] != nd:
            raise RuntimeError(f"Expect _random_samples.size(2) equals to {nd}; got {smp.shape[2]}.")
        if smp.shape[0] < n:
            raise RuntimeError("Expect _random_samples.size(0) no less then input batch size.")
        if smp.shape[1] != C:
            raise RuntimeError(f"Expect _random_samples.size(1) equals to input channel size ({C}); got "
                               f"{smp.shape[1]}.")
        smp = smp[:n]
    node = FractionalMaxPoolBackward(nd, k, osz, np.ascontiguousarray(smp))
    out = node(input)
    if return_indices:
        return out, Tensor._wrap(node.indices.astype(np.int64))
    return out


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                                       _random_samples=None):
    """2-D fractional max pooling returning ``(output, indices)`` (indices flat within each H*W plane)."""
    return _fractional(2, input, kernel_size, output_size, output_ratio, True, _random_samples)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """2-D fractional max pooling over (N, C, H, W) or (C, H, W): windows of ``kernel_size`` at pseudo-random
    fractional strides, giving ``output_size`` or ``output_ratio`` times the input size (torch's rule; see the
    module docstring for ``_random_samples``).

    >>> ember.nn.functional.fractional_max_pool2d(ember.randn(1, 2, 9, 9), 2, output_size=4).shape
    ember.Size([1, 2, 4, 4])
    """
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, fractional_max_pool2d, input, kernel_size, output_size, output_ratio, return_indices, _random_samples)
    return _fractional(2, input, kernel_size, output_size, output_ratio, return_indices, _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                                       _random_samples=None):
    """3-D fractional max pooling returning ``(output, indices)`` (indices flat within each T*H*W volume)."""
    return _fractional(3, input, kernel_size, output_size, output_ratio, True, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """3-D fractional max pooling over (N, C, T, H, W) or (C, T, H, W) (torch's rule)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, fractional_max_pool3d, input, kernel_size, output_size, output_ratio, return_indices, _random_samples)
    return _fractional(3, input, kernel_size, output_size, output_ratio, return_indices, _random_samples)

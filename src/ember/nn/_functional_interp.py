"""Resampling in ``ember.nn.functional``: ``interpolate`` (nearest, nearest-exact, linear, bilinear, bicubic,
trilinear, area; ``antialias`` for bilinear/bicubic), ``grid_sample`` (bilinear, nearest, bicubic; zeros,
border, reflection padding) and ``affine_grid``.

Everything is composed from ember's differentiable ops, so first and second derivatives come for free.
``interpolate`` is separable: each resized axis is one matrix product with an (out, in) weight matrix built
in NumPy with torch's source-index rules (``nearest`` picks rows with ``index_select``). ``grid_sample``
gathers the 4 (8 in 3-D, 16 for bicubic) neighbours of every sample point and weights them with
coefficients computed from the grid as tensors, so the gradient reaches both the input and the grid.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _ops as O
from .._tensor import Tensor
from .. import _autocast as _ac

__all__ = ["interpolate", "upsample", "grid_sample", "affine_grid"]

_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_NEEDS_ND = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_A = -0.75  # torch's cubic convolution coefficient (PIL/OpenCV use it too); -0.5 for the antialias filter


# ============================================================================ weight matrices


def _area_scale(in_size, out_size, align_corners, scale):
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    if scale is not None and scale > 0:
        return 1.0 / scale
    return in_size / out_size


def _nearest_index(in_size, out_size, scale, exact):
    if scale is not None and scale > 0:
        s = np.float32(1.0 / scale)
    else:
        s = np.float32(in_size / out_size)
    i = np.arange(out_size, dtype=np.float32)
    src = np.floor((i + np.float32(0.5)) * s) if exact else np.floor(i * s)
    if not exact and out_size == in_size:
        src = i
    return np.minimum(src.astype(np.int64), in_size - 1)


def _linear_matrix(in_size, out_size, scale, align_corners):
    r = _area_scale(in_size, out_size, align_corners, scale)
    i = np.arange(out_size, dtype=np.float64)
    src = i * r if align_corners else np.maximum((i + 0.5) * r - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.where(i0 < in_size - 1, i0 + 1, i0)
    lam = src - i0
    m = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(m, (rows, i0), 1.0 - lam)
    np.add.at(m, (rows, i1), lam)
    return m


def _cc1(x, a):
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _cc2(x, a):
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def _cubic_matrix(in_size, out_size, scale, align_corners):
    r = _area_scale(in_size, out_size, align_corners, scale)
    i = np.arange(out_size, dtype=np.float64)
    src = i * r if align_corners else (i + 0.5) * r - 0.5
    i0 = np.floor(src).astype(np.int64)
    t = src - i0
    w = [_cc2(t + 1.0, _A), _cc1(t, _A), _cc1(1.0 - t, _A), _cc2(2.0 - t, _A)]
    m = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    for k in range(4):
        np.add.at(m, (rows, np.clip(i0 - 1 + k, 0, in_size - 1)), w[k])
    return m


def _area_matrix(in_size, out_size):
    m = np.zeros((out_size, in_size))
    for i in range(out_size):
        s = (i * in_size) // out_size
        e = -((-(i + 1) * in_size) // out_size)
        m[i, s:e] = 1.0 / (e - s)
    return m


def _aa_matrix(in_size, out_size, scale, align_corners, cubic):
    """torch's antialiased kernels (``_upsample_bilinear2d_aa`` / ``_upsample_bicubic2d_aa``): a triangle
    (or a = -0.5 cubic) filter stretched by the downscaling factor, weights normalised per output."""
    s = _area_scale(in_size, out_size, align_corners, scale)
    interp = 4 if cubic else 2
    support = interp * 0.5 * s if s >= 1.0 else interp * 0.5
    invscale = 1.0 / s if s >= 1.0 else 1.0

    def filt(x):
        x = abs(x)
        if cubic:
            a = -0.5
            return _cc1(x, a) if x < 1.0 else (_cc2(x, a) if x < 2.0 else 0.0)
        return 1.0 - x if x < 1.0 else 0.0

    m = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = s * (i + 0.5)
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        w = np.array([filt((j - center + 0.5) * invscale) for j in range(xmin, xmax)])
        total = w.sum()
        if total != 0:
            w = w / total
        m[i, xmin:xmax] = w
    return m


def _apply_axis(y, axis, m):
    """Contract spatial ``axis`` of ``y`` with the (out, in) matrix ``m``."""
    if m.shape[0] == m.shape[1] and np.array_equal(m, np.eye(m.shape[0])):
        return y
    mt = Tensor._wrap(np.ascontiguousarray(m.T).astype(y._data.dtype))
    moved = O.movedim(y, axis, -1)
    return O.movedim(O.matmul(moved, mt), -1, axis)


# ============================================================================ interpolate


def _output_size(x, nd, size, scale_factor, recompute_scale_factor, op):
    ins = tuple(x.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError(f"{op}: exactly one of size or scale_factor must be given: only one of size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit size.")
        if isinstance(size, numbers.Integral):
            outs = (int(size),) * nd
        else:
            outs = tuple(int(s) for s in size)
            if len(outs) != nd:
                raise ValueError(
                    f"{op}: Input and output must have the same number of spatial dimensions, but got input with "
                    f"spatial dimensions of {list(ins)} and output size of {list(outs)}. Please provide input tensor "
                    "in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format."
                )
        return outs, (None,) * nd
    if scale_factor is None:
        raise ValueError(f"{op}: exactly one of size or scale_factor must be given: either size or scale_factor should be defined")
    if isinstance(scale_factor, numbers.Real):
        sf = (float(scale_factor),) * nd
    else:
        sf = tuple(float(v) for v in scale_factor)
        if len(sf) != nd:
            raise ValueError(
                f"{op}: Input and scale_factor must have the same number of spatial dimensions, but got input with "
                f"spatial dimensions of {list(ins)} and scale_factor of shape {list(sf)}. Please provide input "
                "tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
            )
    outs = tuple(int(math.floor(float(i) * s)) for i, s in zip(ins, sf))
    return outs, ((None,) * nd if recompute_scale_factor else sf)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,  # noqa: A002
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of an (N, C, L), (N, C, H, W) or (N, C, D, H, W) input to ``size`` or by
    ``scale_factor``. Modes: 'nearest', 'nearest-exact', 'linear' (3-D), 'bilinear'/'bicubic' (4-D),
    'trilinear' (5-D), 'area'; ``antialias=True`` (bilinear/bicubic) low-pass filters when downsampling."""
    op = "interpolate"
    x = input
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be an ember Tensor, got {type(x).__name__}")
    if mode not in _MODES:
        raise NotImplementedError(
            f"{op}: Input Error: mode {mode!r} is not supported; use one of {', '.join(_MODES)}"
        )
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise NotImplementedError(
            f"{op}: Input Error: only 3D, 4D and 5D input Tensors supported (got {x.ndim}D of shape "
            f"{tuple(x.shape)}) for the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
            "nearest-exact"
        )
    if mode in _NEEDS_ND and _NEEDS_ND[mode] != nd:
        raise NotImplementedError(
            f"{op}: Got {x.ndim}D input of shape {tuple(x.shape)}, but mode {mode!r} needs a "
            f"{_NEEDS_ND[mode] + 2}D input"
        )
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError(
                f"{op}: align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    if antialias and not (mode in ("bilinear", "bicubic") and nd == 2):
        raise ValueError(
            f"{op}: Anti-alias option is restricted to bilinear and bicubic modes and requires a 4-D tensor as input "
            f"(got mode={mode!r}, input of shape {tuple(x.shape)})"
        )
    if mode != "nearest" and mode != "nearest-exact" and x._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: mode {mode!r} needs a floating-point input, got {x.dtype}")
    outs, scales = _output_size(x, nd, size, scale_factor, recompute_scale_factor, op)
    if any(o <= 0 for o in outs):
        raise ValueError(
            f"{op}: the output size {list(outs)} must be positive (input of shape {tuple(x.shape)}); "
            "use a larger size or scale_factor"
        )
    ins = tuple(x.shape[2:])
    y = x
    if mode in ("nearest", "nearest-exact"):
        for ax in range(nd):
            idx = _nearest_index(ins[ax], outs[ax], scales[ax], mode == "nearest-exact")
            if not (ins[ax] == outs[ax] and np.array_equal(idx, np.arange(ins[ax]))):
                y = O.index_select(y, 2 + ax, Tensor._wrap(idx))
        return y
    for ax in range(nd):
        i, o, s = ins[ax], outs[ax], scales[ax]
        if mode == "area":
            m = _area_matrix(i, o)
        elif antialias:
            m = _aa_matrix(i, o, s, align_corners, mode == "bicubic")
        elif mode == "bicubic":
            m = _cubic_matrix(i, o, s, align_corners)
        else:
            m = _linear_matrix(i, o, s, align_corners)
        y = _apply_axis(y, 2 + ax, m)
    return y


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None,  # noqa: A002
             recompute_scale_factor=None):
    """Deprecated alias of ``interpolate``."""
    return interpolate(input, size, scale_factor, mode, align_corners, recompute_scale_factor)


# ============================================================================ grid_sample


def _unnormalize(c, size, align_corners):
    if align_corners:
        return (c + 1.0) * ((size - 1) / 2.0)
    return ((c + 1.0) * size - 1.0) / 2.0


def _reflect(c, twice_low, twice_high):
    """torch's reflect_coordinates on a tensor (differentiable: the gradient flips sign on odd reflections)."""
    if twice_low == twice_high:
        return c * 0.0
    mn = twice_low / 2.0
    span = (twice_high - twice_low) / 2.0
    d = O.abs(c - mn)
    flips = np.floor(d._data / span)
    extra = d - Tensor._wrap((flips * span).astype(d._data.dtype))
    even = Tensor._wrap(flips % 2 == 0)
    return O.where(even, extra + mn, (extra * -1.0) + (span + mn))


def _reflect_np(c, twice_low, twice_high):
    if twice_low == twice_high:
        return np.zeros_like(c)
    mn = twice_low / 2.0
    span = (twice_high - twice_low) / 2.0
    d = np.abs(c - mn)
    flips = np.floor(d / span)
    extra = d - flips * span
    return np.where(flips % 2 == 0, extra + mn, span - extra + mn)


def _pad_coord(c, size, padding_mode, align_corners):
    """torch's compute_coordinates (on tensors): border clips, reflection reflects then clips."""
    if padding_mode == "border":
        return O.clamp(c, 0.0, float(size - 1))
    if padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (size - 1)) if align_corners else _reflect(c, -1, 2 * size - 1)
        return O.clamp(c, 0.0, float(size - 1))
    return c


def _pad_coord_np(c, size, padding_mode, align_corners):
    if padding_mode == "border":
        return np.clip(c, 0, size - 1)
    if padding_mode == "reflection":
        c = _reflect_np(c, 0, 2 * (size - 1)) if align_corners else _reflect_np(c, -1, 2 * size - 1)
        return np.clip(c, 0, size - 1)
    return c


def _gather_points(flat, idx_list, sizes, n, p):
    """Values of ``flat`` (N, C, prod(sizes)) at integer coordinates (one (N, P) array per spatial axis, in
    the input's axis order); out-of-range points give 0. Returns (N, C, P)."""
    valid = np.ones((n, p), dtype=bool)
    lin = np.zeros((n, p), dtype=np.int64)
    for idx, size in zip(idx_list, sizes):
        valid &= (idx >= 0) & (idx < size)
        lin = lin * size + np.clip(idx, 0, size - 1)
    c = flat.shape[1]
    vals = O.gather(flat, 2, Tensor._wrap(np.broadcast_to(lin[:, None, :], (n, c, p)).copy()))
    if not valid.all():
        vals = O.where(Tensor._wrap(valid[:, None, :]), vals, O.zeros_like(vals))
    return vals


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):  # noqa: A002
    """Sample ``input`` (N, C, H, W) / (N, C, D, H, W) at the normalised coordinates of ``grid``
    (N, H_out, W_out, 2) / (N, D_out, H_out, W_out, 3), last dim ordered (x, y[, z]) in [-1, 1].
    Modes 'bilinear' (trilinear in 3-D), 'nearest', 'bicubic' (4-D only); padding 'zeros', 'border',
    'reflection'. Gradients reach both ``input`` and ``grid`` (except through 'nearest')."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, grid_sample, input, grid, mode, padding_mode, align_corners)
    op = "grid_sample"
    for name, t in (("input", input), ("grid", grid)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be an ember Tensor, got {type(t).__name__}")
        if t._data.dtype.kind != "f":
            raise RuntimeError(f"{op}: {name} must be floating point, got {t.dtype}")
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            f"{op}: nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: "
            f"'{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            f"{op}: nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or 'reflection', "
            f"but got: '{padding_mode}'"
        )
    nd = input.ndim - 2
    if nd not in (2, 3) or grid.ndim != input.ndim or grid.shape[-1] != nd or grid.shape[0] != input.shape[0]:
        raise RuntimeError(
            f"{op}: expected a 4-D input (N, C, H, W) with a grid (N, H_out, W_out, 2), or a 5-D input with a grid "
            f"(N, D_out, H_out, W_out, 3); got input {tuple(input.shape)} and grid {tuple(grid.shape)}"
        )
    if mode == "bicubic" and nd != 2:
        raise ValueError(f"{op}: bicubic interpolation only supports 4D input, got input of shape {tuple(input.shape)}")
    if input._data.dtype != grid._data.dtype:
        raise RuntimeError(f"{op}: input ({input.dtype}) and grid ({grid.dtype}) must have the same dtype")
    align = bool(align_corners)
    n, c = input.shape[0], input.shape[1]
    in_sp = tuple(input.shape[2:])
    out_sp = tuple(grid.shape[1:-1])
    p = int(np.prod(out_sp))
    flat = input.reshape(n, c, -1)
    g = grid.reshape(n, p, nd)
    # coordinate k of the grid indexes spatial axis nd-1-k (x -> W, y -> H, z -> D)
    coords = [None] * nd
    for k in range(nd):
        ax = nd - 1 - k
        coords[ax] = _unnormalize(O.select(g, 2, k), in_sp[ax], align)
    if mode == "bicubic":
        out = _bicubic(flat, coords, in_sp, padding_mode, align, n, p)
    else:
        coords = [_pad_coord(cd, s, padding_mode, align) for cd, s in zip(coords, in_sp)]
        if mode == "nearest":
            idx = [np.rint(cd._data).astype(np.int64) for cd in coords]
            out = _gather_points(flat, idx, in_sp, n, p)
        else:
            lo = [np.floor(cd._data).astype(np.int64) for cd in coords]
            frac = [cd - Tensor._wrap(lw.astype(cd._data.dtype)) for cd, lw in zip(coords, lo)]
            out = None
            for corner in range(2 ** nd):
                bits = [(corner >> (nd - 1 - a)) & 1 for a in range(nd)]
                w = None
                for a in range(nd):
                    wa = frac[a] if bits[a] else (frac[a] * -1.0) + 1.0
                    w = wa if w is None else w * wa
                vals = _gather_points(flat, [lw + b for lw, b in zip(lo, bits)], in_sp, n, p)
                term = vals * w.reshape(n, 1, p)
                out = term if out is None else out + term
    return out.reshape((n, c) + out_sp)


def _bicubic(flat, coords, in_sp, padding_mode, align, n, p):
    cy, cx = coords
    y0 = np.floor(cy._data)
    x0 = np.floor(cx._data)
    ty = cy - Tensor._wrap(y0.astype(cy._data.dtype))
    tx = cx - Tensor._wrap(x0.astype(cx._data.dtype))

    def weights(t):
        return [_cc2(t + 1.0, _A), _cc1(t, _A), _cc1((t * -1.0) + 1.0, _A), _cc2((t * -1.0) + 2.0, _A)]

    wy, wx = weights(ty), weights(tx)
    h, w = in_sp
    out = None
    for i in range(4):
        yy = _pad_coord_np(y0 - 1 + i, h, padding_mode, align)
        row = None
        for j in range(4):
            xx = _pad_coord_np(x0 - 1 + j, w, padding_mode, align)
            vals = _gather_points(flat, [yy.astype(np.int64), xx.astype(np.int64)], in_sp, n, p)
            term = vals * wx[j].reshape(n, 1, p)
            row = term if row is None else row + term
        term = row * wy[i].reshape(n, 1, p)
        out = term if out is None else out + term
    return out


# ============================================================================ affine_grid


def _base_coords(steps, align_corners, dtype):
    if steps <= 1:
        return np.zeros(1, dtype=dtype)
    r = np.linspace(-1.0, 1.0, steps)
    if not align_corners:
        r = r * (steps - 1) / steps
    return r.astype(dtype)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid of an affine transform for ``grid_sample``: ``theta`` (N, 2, 3) with ``size``
    (N, C, H, W) gives (N, H, W, 2); ``theta`` (N, 3, 4) with ``size`` (N, C, D, H, W) gives (N, D, H, W, 3)."""
    op = "affine_grid"
    if not isinstance(theta, Tensor) or theta._data.dtype.kind != "f":
        raise TypeError(f"{op}: expected theta to be a floating-point ember Tensor, got {type(theta).__name__}")
    size = [int(s) for s in size]
    align = bool(align_corners)
    if len(size) == 4:
        n, _, h, w = size
        if theta.ndim != 3 or tuple(theta.shape) != (n, 2, 3):
            raise ValueError(
                f"{op}: Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. Got "
                f"{list(theta.shape)}."
            )
        if min(size) <= 0:
            raise ValueError(f"{op}: Expected non-zero, positive output size. Got {size}")
        dt = theta._data.dtype
        xs, ys = _base_coords(w, align, dt), _base_coords(h, align, dt)
        base = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], np.ones((1, 1), dtype=dt)), -1)  # (H, W, 3)
        base = Tensor._wrap(np.ascontiguousarray(base.reshape(1, h * w, 3)))
        grid = O.matmul(base, theta.transpose(1, 2))
        return grid.reshape(n, h, w, 2)
    if len(size) == 5:
        n, _, d, h, w = size
        if theta.ndim != 3 or tuple(theta.shape) != (n, 3, 4):
            raise ValueError(
                f"{op}: Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. Got "
                f"{list(theta.shape)}."
            )
        if min(size) <= 0:
            raise ValueError(f"{op}: Expected non-zero, positive output size. Got {size}")
        dt = theta._data.dtype
        xs, ys, zs = _base_coords(w, align, dt), _base_coords(h, align, dt), _base_coords(d, align, dt)
        base = np.stack(np.broadcast_arrays(xs[None, None, :], ys[None, :, None], zs[:, None, None],
                                            np.ones((1, 1, 1), dtype=dt)), -1)
        base = Tensor._wrap(np.ascontiguousarray(base.reshape(1, d * h * w, 4)))
        grid = O.matmul(base, theta.transpose(1, 2))
        return grid.reshape(n, d, h, w, 3)
    raise NotImplementedError(
        f"{op}: affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, respectively. Got size "
        f"{size}."
    )

"""Convolution, pooling, unfold/fold and interpolation for ``ember.nn.functional``.

Convolutions are fused primitives: the forward is im2col (a strided view of the padded input,
copied once into a ``(C, kh, kw, N, oh, ow)`` block) and one matrix product; the input gradient is
the adjoint (col2im: a loop over kernel offsets adding strided slices, no ``np.add.at``) and the
weight gradient one more matrix product. Three nodes close the set under differentiation, so
higher-order gradients work: ``_Conv`` (x, w -> y), its adjoint in x ``_ConvT`` (y, w -> x, which is
also the transposed convolution) and ``_ConvW`` (x, g -> dw). 1-D ops run as 2-D ops with height 1.
"""
from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import _ops as E
from .._tensor import Tensor
from ..autograd.engine import Node
from .. import _autocast as _ac

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "unfold", "fold",
]


# ============================================================================ argument helpers


def _tuple(v, n, name, op):
    if isinstance(v, numbers.Integral):
        return (int(v),) * n
    try:
        t = tuple(int(a) for a in v)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}") from None
    if len(t) == 1:
        return t * n
    if len(t) != n:
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


def _check_positive(vals, name, op):
    if any(v <= 0 for v in vals):
        raise ValueError(f"{op}: {name} must be positive, got {vals}")


class _P:
    """Geometry of a 2-D sliding window: kernel, stride, per-side padding, dilation, groups."""

    __slots__ = ("k", "s", "pads", "d", "groups")

    def __init__(self, k, s, pads, d, groups=1):
        self.k, self.s, self.pads, self.d, self.groups = k, s, pads, d, groups

    def out_hw(self, h, w):
        (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw) = self.k, self.s, self.pads, self.d
        return ((h + pt + pb - dh * (kh - 1) - 1) // sh + 1, (w + pl + pr - dw * (kw - 1) - 1) // sw + 1)


def _is_cl(x):
    """Is (N, C, *S) ``x`` laid out channels-last (what the conv kernels return)?"""
    return x.ndim >= 3 and not x.flags.c_contiguous and np.moveaxis(x, 1, -1).flags.c_contiguous


def _empty(shape, dtype, cl):
    """An uninitialised (N, C, *S) array, channels-last in memory when ``cl``: elementwise work between
    arrays of one layout runs over contiguous memory, mixed layouts make NumPy transpose on the fly."""
    if not cl:
        return np.empty(shape, dtype)
    return np.moveaxis(np.empty((shape[0],) + tuple(shape[2:]) + (shape[1],), dtype), -1, 1)


def _as_layout(a, cl):
    """``a`` in the channels-last layout when ``cl`` (one copy if it is not already), else as it is."""
    if not cl or _is_cl(a):
        return a
    out = _empty(a.shape, a.dtype, True)
    out[...] = a
    return out


def _pad4(x, pads, value=0.0):
    pt, pb, pl, pr = pads
    if not (pt or pb or pl or pr):
        return x
    n, c, h, w = x.shape
    out = _empty((n, c, h + pt + pb, w + pl + pr), x.dtype, _is_cl(x))
    out.fill(value)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


def _windows(xp, p, oh, ow):
    """Strided view (N, C, kh, kw, oh, ow) of the padded input ``xp``: no copy."""
    (kh, kw), (sh, sw), (dh, dw) = p.k, p.s, p.d
    sn, sc, s_h, s_w = xp.strides
    return as_strided(
        xp, shape=(xp.shape[0], xp.shape[1], kh, kw, oh, ow),
        strides=(sn, sc, s_h * dh, s_w * dw, s_h * sh, s_w * sw), writeable=False,
    )


def _col2im(cols, p, padded_shape):
    """Adjoint of ``_windows``: add cols (N, C, kh, kw, oh, ow) into a zero padded image."""
    (kh, kw), (sh, sw), (dh, dw) = p.k, p.s, p.d
    oh, ow = cols.shape[-2:]
    out = np.zeros(padded_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            hs, ws = i * dh, j * dw
            out[:, :, hs:hs + sh * (oh - 1) + 1:sh, ws:ws + sw * (ow - 1) + 1:sw] += cols[:, :, i, j]
    return out


def _crop(xp, pads, h, w):
    pt, _, pl, _ = pads
    if xp.shape[2] == h and xp.shape[3] == w:
        return xp
    return xp[:, :, pt:pt + h, pl:pl + w].copy(order="K")


# ============================================================================ raw convolution kernels
# Channels-last: the input is copied once into a padded (N, *S, C) buffer, whose sliding windows
# (N, *O, *K, C) are a strided view; the columns (M = N*prod(O), prod(K)*C) of a batch chunk are one
# contiguous copy of that view whose inner runs are kw*C elements long (not ow as with NCHW columns),
# and one GEMM per chunk (per group) gives the output directly in channels-last order. The output is
# returned as an (N, O, *S) view of that channels-last array (torch's channels_last memory format): the
# next conv reads it without a copy. Nothing but the inputs is kept for backward: the weight gradient
# rebuilds the columns chunk by chunk (cheaper than holding them; see docs/performance.md).

_CHUNK = 1 << 20  # elements of one chunk of columns (4 MiB in float32): stays in cache, bounds memory


class _G:
    """Geometry of an N-d convolution: kernel, stride, (lo, hi) padding per dim, dilation, groups."""

    __slots__ = ("k", "s", "pads", "d", "groups")

    def __init__(self, k, s, pads, d, groups=1):
        self.k, self.s, self.pads, self.d, self.groups = tuple(k), tuple(s), tuple(pads), tuple(d), groups

    def out_size(self, sizes):
        return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                     for n, (lo, hi), k, s, d in zip(sizes, self.pads, self.k, self.s, self.d))

    def padded(self, sizes):
        return tuple(n + lo + hi for n, (lo, hi) in zip(sizes, self.pads))

    def interior(self, sizes):
        return tuple(slice(lo, lo + n) for n, (lo, _) in zip(sizes, self.pads))


def _prod(t):
    r = 1
    for v in t:
        r *= int(v)
    return r


def _cl_padded(x, G):
    """(N, C, *S) -> contiguous padded channels-last (N, *Sp, C) (no copy if x is a channels-last view
    and there is no padding)."""
    xl = np.moveaxis(x, 1, -1)
    if not any(lo or hi for lo, hi in G.pads):
        return np.ascontiguousarray(xl)
    buf = np.zeros((x.shape[0],) + G.padded(x.shape[2:]) + (x.shape[1],), x.dtype)
    buf[(slice(None),) + G.interior(x.shape[2:])] = xl
    return buf


def _cl_windows(xp, G, osz):
    """Strided view (N, *O, *K, C) of a padded channels-last buffer: no copy."""
    st = xp.strides
    nd = len(G.k)
    shape = (xp.shape[0],) + tuple(osz) + G.k + (xp.shape[-1],)
    strides = ((st[0],) + tuple(st[1 + i] * G.s[i] for i in range(nd))
               + tuple(st[1 + i] * G.d[i] for i in range(nd)) + (st[-1],))
    return as_strided(xp, shape=shape, strides=strides, writeable=False)


def _cols(v, g):
    """Columns (g, m, prod(K)*C/g) of a window view chunk (n, *O, *K, C)."""
    c = v.shape[-1]
    m = _prod(v.shape[:1 + (v.ndim - 2) // 2])
    if g == 1:
        return np.ascontiguousarray(v).reshape(1, m, -1)
    v = v.reshape(v.shape[:-1] + (g, c // g))
    perm = (v.ndim - 2,) + tuple(range(v.ndim - 2)) + (v.ndim - 1,)
    return np.ascontiguousarray(v.transpose(perm)).reshape(g, m, -1)


def _wmat(w, g):
    """Weight (O, C/g, *K) -> (g, prod(K)*C/g, O/g), the right operand of the column GEMM."""
    o, cg = w.shape[:2]
    nd = w.ndim - 2
    wr = w.reshape((g, o // g, cg) + tuple(w.shape[2:]))
    return np.ascontiguousarray(wr.transpose((0,) + tuple(range(3, 3 + nd)) + (2, 1))).reshape(g, -1, o // g)


def _chunks(n, per_sample):
    step = max(1, _CHUNK // max(1, per_sample))
    return [(i, min(n, i + step)) for i in range(0, n, step)]


def _cl_grad(gy, g):
    """Output gradient (N, O, *O) -> channels-last (N, prod(O), O) and its group split (g, N*prod(O), O/g)."""
    gl = np.ascontiguousarray(np.moveaxis(gy, 1, -1))
    o = gl.shape[-1]
    flat = gl.reshape(-1, o)
    if g == 1:
        return flat[None]
    return flat.reshape(-1, g, o // g).transpose(1, 0, 2)


# Few input channels in (N, C, *S) order (an image batch entering the first layer): channels-last columns
# would have inner runs of only kw*C elements, so the columns are built channel-major instead, (C, *K, N, *O)
# (runs of ow elements); the GEMMs read them transposed and still write channels-last output.
_NC_RUN = 32  # use the channel-major columns when C * kw is below this


def _nc_path(x, G):
    return G.groups == 1 and x.flags.c_contiguous and x.shape[1] * G.k[-1] < _NC_RUN


def _nc_cols(x, G, osz, a, z):
    """Columns (C*prod(K), m) of batch rows a:z of a (N, C, *S) contiguous input, channel-major."""
    nd = len(G.k)
    xs = x[a:z]
    if any(lo or hi for lo, hi in G.pads):
        buf = np.zeros(xs.shape[:2] + G.padded(xs.shape[2:]), xs.dtype)
        buf[(slice(None), slice(None)) + G.interior(xs.shape[2:])] = xs
        xs = buf
    st = xs.strides
    shape = (xs.shape[1],) + G.k + (xs.shape[0],) + tuple(osz)
    strides = ((st[1],) + tuple(st[2 + i] * G.d[i] for i in range(nd)) + (st[0],)
               + tuple(st[2 + i] * G.s[i] for i in range(nd)))
    v = as_strided(xs, shape=shape, strides=strides, writeable=False)
    return np.ascontiguousarray(v).reshape(_prod(shape[:1 + nd]), -1)


_F16 = np.dtype(np.float16)


def _conv_raw(x, w, b, G):
    """y (N, O, *O) = conv(x (N, C, *S), w (O, C/g, *K)) + b, as a view of a channels-last array."""
    if x.dtype is _F16 and w.dtype is _F16:  # float32 accumulation, one rounding (torch's CPU half conv)
        return _conv_raw(x.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32), G).astype(_F16)
    n = x.shape[0]
    g = G.groups
    o = w.shape[0]
    osz = G.out_size(x.shape[2:])
    mo = _prod(osz)
    if _nc_path(x, G):
        wm = w.reshape(o, -1).T  # (C*K, O)
        yl = np.empty((n, mo, o), dtype=np.result_type(x.dtype, w.dtype))
        for a, z in _chunks(n, mo * _prod(G.k) * x.shape[1]):
            np.matmul(_nc_cols(x, G, osz, a, z).T, wm, out=yl[a:z].reshape(-1, o))
        if b is not None:
            yl += b
        return np.moveaxis(yl.reshape((n,) + osz + (o,)), -1, 1)
    v = _cl_windows(_cl_padded(x, G), G, osz)
    wm = _wmat(w, g)
    yl = np.empty((n, mo, o), dtype=np.result_type(x.dtype, w.dtype))
    for a, z in _chunks(n, mo * _prod(G.k) * x.shape[1]):
        cols = _cols(v[a:z], g)
        if g == 1:
            np.matmul(cols[0], wm[0], out=yl[a:z].reshape(-1, o))
        else:
            yl[a:z].reshape(-1, g, o // g)[...] = np.matmul(cols, wm).transpose(1, 0, 2)
        cols = None  # freed before the next chunk's columns are built (else two chunks live at once)
    if b is not None:
        yl += b
    return np.moveaxis(yl.reshape((n,) + osz + (o,)), -1, 1)


def _convT_raw(gy, w, b, G, xsz):
    """Adjoint of the convolution in its input: gy (N, O, *O) -> x (N, C, *xsz) (also the transposed
    convolution). Per batch chunk, one batched GEMM gives every kernel offset's contribution as its own
    contiguous (m, C) block (offset-major, not (m, *K, C): the adds below then read contiguous memory and
    write runs of ow*C, where offset-interleaved columns made NumPy step C elements at a time), each added
    into a padded channels-last buffer at its offset."""
    if gy.dtype is _F16 and w.dtype is _F16:  # float32 accumulation, one rounding (torch's CPU half conv)
        return _convT_raw(gy.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32), G, xsz).astype(_F16)
    n = gy.shape[0]
    osz = tuple(gy.shape[2:])
    g = G.groups
    o, cg = w.shape[:2]
    c = cg * g
    nd = len(osz)
    kp = _prod(G.k)
    # (O, Cg, *K) -> (prod(K), g, O/g, Cg): for each offset and group, the right operand of the GEMM
    wr = w.reshape((g, o // g, cg) + tuple(w.shape[2:]))
    wk = np.ascontiguousarray(wr.transpose(tuple(range(3, 3 + nd)) + (0, 1, 2))).reshape(kp, g, o // g, cg)
    gm = _cl_grad(gy, g)  # (g, N*mo, O/g)
    mo = _prod(osz)
    sp = G.padded(xsz)
    dt = np.result_type(gy.dtype, w.dtype)
    buf = np.zeros((n,) + sp + (g, cg), dtype=dt)
    offsets = list(np.ndindex(*G.k))
    to_cl = tuple(range(1, nd + 2)) + (0, nd + 2)  # (g, m', *O, Cg) -> (m', *O, g, Cg)
    for a, z in _chunks(n, mo * kp * c):
        cols = np.matmul(gm[None, :, a * mo:z * mo], wk)  # (prod(K), g, m, Cg)
        for kk, off in enumerate(offsets):
            sl = (slice(a, z),) + tuple(slice(i * d, i * d + s * (q - 1) + 1, s)
                                        for i, d, s, q in zip(off, G.d, G.s, osz))
            src = cols[kk].reshape((g, z - a) + osz + (cg,))
            buf[sl] += src[0][..., None, :] if g == 1 else src.transpose(to_cl)
        cols = src = None  # one chunk alive at a time
    xl = buf[(slice(None),) + G.interior(xsz)].reshape((n,) + tuple(xsz) + (c,))
    if b is not None:
        xl += b
    return np.moveaxis(xl, -1, 1)


def _convW_raw(x, gy, G, wshape):
    """Gradient of the convolution in its weight: x (N, C, *S), gy (N, O, *O) -> (O, C/g, *K)."""
    if x.dtype is _F16 and gy.dtype is _F16:  # float32 accumulation, one rounding (torch's CPU half conv)
        return _convW_raw(x.astype(np.float32), gy.astype(np.float32), G, wshape).astype(_F16)
    n = x.shape[0]
    g = G.groups
    osz = tuple(gy.shape[2:])
    mo = _prod(osz)
    o, cg = wshape[:2]
    nd = len(osz)
    gm = _cl_grad(gy, g)
    if _nc_path(x, G):
        acc = None
        for a, z in _chunks(n, mo * _prod(G.k) * x.shape[1]):
            part = np.matmul(_nc_cols(x, G, osz, a, z), gm[0, a * mo:z * mo])  # (C*K, O)
            acc = part if acc is None else np.add(acc, part, out=acc)
        return np.ascontiguousarray(acc.T).reshape(wshape)
    v = _cl_windows(_cl_padded(x, G), G, osz)
    acc = None
    for a, z in _chunks(n, mo * _prod(G.k) * x.shape[1]):
        cols = _cols(v[a:z], g)  # (g, m, K*Cg)
        part = np.matmul(cols.transpose(0, 2, 1), gm[:, a * mo:z * mo])  # (g, K*Cg, O/g)
        cols = None  # one chunk of columns alive at a time
        acc = part if acc is None else np.add(acc, part, out=acc)
    gw = acc.reshape((g,) + tuple(wshape[2:]) + (cg, o // g))
    perm = (0, nd + 2, nd + 1) + tuple(range(1, nd + 1))
    return np.ascontiguousarray(gw.transpose(perm)).reshape(wshape)


# ============================================================================ convolution nodes


def _needs(node, i):
    return node.req[i] if i < len(node.req) else False


def _tensor_mode(g):
    return isinstance(g, Tensor)


def _bias_axes(nd):
    return (0,) + tuple(range(2, 2 + nd))


class _Conv(Node):
    """y = conv(x, w) (+ b). Keeps only its inputs."""

    saves = {0: (1,), 1: (0,), 2: ()}

    def __init__(self, G, req):
        self.G, self.req = G, req

    def name(self):
        return "ConvolutionBackward0"

    def forward(self, x, w, b=None):
        self.xsz, self.wshape = tuple(x.shape[2:]), tuple(w.shape)
        return _conv_raw(x, w, b, self.G)

    def backward(self, ns, g, ins, out):
        x, w = ins[0], ins[1]
        nd = len(self.G.k)
        gb = ns.sum(g, _bias_axes(nd)) if _needs(self, 2) else None
        if _tensor_mode(g):
            gx = _ConvT(self.G, self.xsz, _req(g, w))(g, w) if _needs(self, 0) else None
            gw = _ConvW(self.G, self.wshape, _req(x, g))(x, g) if _needs(self, 1) else None
            return gx, gw, gb
        gx = _convT_raw(g, w, None, self.G, self.xsz) if _needs(self, 0) else None
        gw = _convW_raw(x, g, self.G, self.wshape) if _needs(self, 1) else None
        return gx, gw, gb


class _ConvT(Node):
    """x = conv^T(y, w) (+ b): the adjoint of ``_Conv`` in its input (the transposed convolution)."""

    saves = {0: (1,), 1: (0,), 2: ()}

    def __init__(self, G, xsz, req):
        self.G, self.xsz, self.req = G, tuple(xsz), req

    def name(self):
        return "ConvolutionBackward0"

    def forward(self, y, w, b=None):
        self.wshape = tuple(w.shape)
        return _convT_raw(y, w, b, self.G, self.xsz)

    def backward(self, ns, g, ins, out):
        y, w = ins[0], ins[1]
        nd = len(self.G.k)
        gb = ns.sum(g, _bias_axes(nd)) if _needs(self, 2) else None
        if _tensor_mode(g):
            gy = _Conv(self.G, _req(g, w))(g, w) if _needs(self, 0) else None
            gw = _ConvW(self.G, self.wshape, _req(g, y))(g, y) if _needs(self, 1) else None
            return gy, gw, gb
        gy = _conv_raw(g, w, None, self.G) if _needs(self, 0) else None
        gw = _convW_raw(g, y, self.G, self.wshape) if _needs(self, 1) else None
        return gy, gw, gb


class _ConvW(Node):
    """dw = gradient of conv(x, w) in w against the output gradient gy."""

    saves = {0: (1,), 1: (0,)}

    def __init__(self, G, wshape, req):
        self.G, self.wshape, self.req = G, tuple(wshape), req

    def name(self):
        return "ConvolutionBackwardBackward0"

    def forward(self, x, gy):
        self.xsz = tuple(x.shape[2:])
        return _convW_raw(x, gy, self.G, self.wshape)

    def backward(self, ns, g, ins, out):
        x, gy = ins
        if _tensor_mode(g):
            gx = _ConvT(self.G, self.xsz, _req(gy, g))(gy, g) if _needs(self, 0) else None
            ggy = _Conv(self.G, _req(x, g))(x, g) if _needs(self, 1) else None
            return gx, ggy
        gx = _convT_raw(gy, g, None, self.G, self.xsz) if _needs(self, 0) else None
        ggy = _conv_raw(x, g, None, self.G) if _needs(self, 1) else None
        return gx, ggy


def _req(*ts):
    return tuple(isinstance(t, Tensor) and t.requires_grad for t in ts)


# ============================================================================ conv functionals


def _batchify(x, nd, op, what="input"):
    """Accept (N, C, *spatial) or unbatched (C, *spatial); return the batched tensor and a flag."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {what} must be a Tensor, got {type(x).__name__}")
    if x.ndim == nd + 2:
        return x, False
    if x.ndim == nd + 1:
        return E.unsqueeze(x, 0), True
    dims = {1: "(N, C, L) or (C, L)", 2: "(N, C, H, W) or (C, H, W)"}.get(nd, "(N, C, D, H, W) or (C, D, H, W)")
    raise RuntimeError(
        f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) {what} of shape {dims}, "
        f"got {x.ndim}-D {what} of shape {tuple(x.shape)}"
    )


def _same_pads(k, d):
    pads = []
    for kk, dd in zip(k, d):
        total = dd * (kk - 1)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def _conv_geometry(nd, weight_shape, stride, padding, dilation, op):
    k = tuple(weight_shape[2:])
    s = _tuple(stride, nd, "stride", op)
    d = _tuple(dilation, nd, "dilation", op)
    _check_positive(s, "stride", op)
    _check_positive(d, "dilation", op)
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nd
        elif padding == "same":
            if any(v != 1 for v in s):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={s})")
            pads = _same_pads(k, d)
        else:
            raise ValueError(f"{op}: invalid padding string {padding!r}, expected 'same' or 'valid'")
    else:
        pv = _tuple(padding, nd, "padding", op)
        if any(v < 0 for v in pv):
            raise ValueError(f"{op}: negative padding is not supported, got {pv}")
        pads = tuple((v, v) for v in pv)
    return _G(k, s, pads, d), k, s, d


def _check_float(x, w, op):
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating-point input, got {x.dtype}; use x.float()")
    if x._data.dtype != w._data.dtype:
        raise RuntimeError(
            f"{op}: input type ({x.dtype}) and weight type ({w.dtype}) should be the same; convert one, "
            f"e.g. x.to({w.dtype})"
        )


def _convnd(nd, x, weight, bias, stride, padding, dilation, groups, op):
    x, unbatched = _batchify(x, nd, op)
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{op}: expected a {nd + 2}-D weight, got shape {tuple(weight.shape)}")
    _check_float(x, weight, op)
    groups = int(groups)
    if groups <= 0:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups}")
    c = x.shape[1]
    o = weight.shape[0]
    if c != weight.shape[1] * groups:
        raise RuntimeError(
            f"{op}: weight of shape {tuple(weight.shape)} with groups={groups} expects input with "
            f"{weight.shape[1] * groups} channels, but got input of shape {tuple(x.shape)} "
            f"({c} channels)"
        )
    if o % groups:
        raise RuntimeError(f"{op}: out_channels ({o}) must be divisible by groups ({groups})")
    if bias is not None and tuple(bias.shape) != (o,):
        raise RuntimeError(f"{op}: expected bias of shape ({o},), got {tuple(bias.shape)}")
    G, k, s, d = _conv_geometry(nd, tuple(weight.shape), stride, padding, dilation, op)
    G.groups = groups
    sizes = tuple(x.shape[2:])
    eff = tuple((kk - 1) * dd + 1 for kk, dd in zip(k, d))
    padded = G.padded(sizes)
    if any(pz < e for pz, e in zip(padded, eff)):
        raise RuntimeError(
            f"{op}: the (dilated) kernel size {eff} is larger than the padded input "
            f"size {padded} (input shape {tuple(x.shape)}); use a smaller kernel or more padding"
        )
    args = (x, weight) if bias is None else (x, weight, bias)
    y = _Conv(G, _req(*args))(*args)
    return E.squeeze(y, 0) if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over (N, C, L) or (C, L) input (cross-correlation, as torch)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list
        return _ac.run(_ac.LOWER, conv1d, input, weight, bias, stride, padding, dilation, groups)
    return _convnd(1, input, weight, bias, stride, padding, dilation, groups, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution over (N, C, H, W) or (C, H, W) input (cross-correlation, as torch)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list
        return _ac.run(_ac.LOWER, conv2d, input, weight, bias, stride, padding, dilation, groups)
    return _convnd(2, input, weight, bias, stride, padding, dilation, groups, "conv2d")


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution over (N, C, D, H, W) or (C, D, H, W) input (cross-correlation, as torch)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list
        return _ac.run(_ac.LOWER, conv3d, input, weight, bias, stride, padding, dilation, groups)
    return _convnd(3, input, weight, bias, stride, padding, dilation, groups, "conv3d")


def _conv_transposend(nd, x, weight, bias, stride, padding, output_padding, groups, dilation, op):
    x, unbatched = _batchify(x, nd, op)
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{op}: expected a {nd + 2}-D weight, got shape {tuple(weight.shape)}")
    _check_float(x, weight, op)
    groups = int(groups)
    cin = x.shape[1]
    if cin != weight.shape[0]:
        raise RuntimeError(
            f"{op}: weight of shape {tuple(weight.shape)} expects input with {weight.shape[0]} channels, "
            f"but got input of shape {tuple(x.shape)} ({cin} channels)"
        )
    if cin % groups:
        raise RuntimeError(f"{op}: in_channels ({cin}) must be divisible by groups ({groups})")
    cout = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (cout,):
        raise RuntimeError(f"{op}: expected bias of shape ({cout},), got {tuple(bias.shape)}")
    if isinstance(padding, str):
        raise ValueError(f"{op}: string padding is not supported for transposed convolutions")
    G, k, s, d = _conv_geometry(nd, tuple(weight.shape), stride, padding, dilation, op)
    G.groups = groups
    op_ = _tuple(output_padding, nd, "output_padding", op)
    for a, ss, dd in zip(op_, s, d):
        if a < 0 or (a >= ss and a >= dd):
            raise ValueError(
                f"{op}: output_padding must be smaller than either stride or dilation, got "
                f"output_padding={op_}, stride={s}, dilation={d}"
            )
    pv = _tuple(padding, nd, "padding", op)
    ins = tuple(x.shape[2:])
    out_sz = tuple((i - 1) * ss - 2 * pp + dd * (kk - 1) + a + 1 for i, ss, pp, dd, kk, a in zip(ins, s, pv, d, k, op_))
    if any(v <= 0 for v in out_sz):
        raise RuntimeError(f"{op}: the computed output size {out_sz} is too small for input of shape {tuple(x.shape)}")
    args = (x, weight) if bias is None else (x, weight, bias)
    y = _ConvT(G, out_sz, _req(*args))(*args)
    return E.squeeze(y, 0) if unbatched else y


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution (the gradient of conv1d in its input); weight (C_in, C_out/groups, k)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list
        return _ac.run(_ac.LOWER, conv_transpose1d, input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _conv_transposend(1, input, weight, bias, stride, padding, output_padding, groups, dilation,
                             "conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution (the gradient of conv2d in its input); weight (C_in, C_out/groups, kh, kw)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list
        return _ac.run(_ac.LOWER, conv_transpose2d, input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _conv_transposend(2, input, weight, bias, stride, padding, output_padding, groups, dilation,
                             "conv_transpose2d")


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution (the gradient of conv3d in its input); weight (C_in, C_out/groups, kd, kh, kw)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list
        return _ac.run(_ac.LOWER, conv_transpose3d, input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _conv_transposend(3, input, weight, bias, stride, padding, output_padding, groups, dilation,
                             "conv_transpose3d")


# ============================================================================ unfold / fold


class _Unfold(Node):
    needs_inputs = False

    def __init__(self, p, hw):
        self.p, self.hw = p, hw

    def forward(self, x):
        n, c = x.shape[:2]
        oh, ow = self.p.out_hw(*x.shape[2:])
        cols = np.ascontiguousarray(_windows(_pad4(x, self.p.pads), self.p, oh, ow))
        return cols.reshape(n, c * self.p.k[0] * self.p.k[1], oh * ow)

    def backward(self, ns, g, ins, out):
        if _tensor_mode(g):
            return (_Fold(self.p, self.hw)(g),)
        return (_fold_raw(g, self.p, self.hw),)


def _fold_raw(cols, p, hw):
    n, ck, _ = cols.shape
    kh, kw = p.k
    c = ck // (kh * kw)
    oh, ow = p.out_hw(*hw)
    pt, pb, pl, pr = p.pads
    xp = _col2im(cols.reshape(n, c, kh, kw, oh, ow), p, (n, c, hw[0] + pt + pb, hw[1] + pl + pr))
    return _crop(xp, p.pads, *hw)


class _Fold(Node):
    needs_inputs = False

    def __init__(self, p, hw):
        self.p, self.hw = p, hw

    def forward(self, cols):
        return _fold_raw(cols, self.p, self.hw)

    def backward(self, ns, g, ins, out):
        if _tensor_mode(g):
            return (_Unfold(self.p, self.hw)(g),)
        return (_Unfold(self.p, self.hw).forward(g),)


def _fold_params(kernel_size, dilation, padding, stride, op):
    k = _tuple(kernel_size, 2, "kernel_size", op)
    d = _tuple(dilation, 2, "dilation", op)
    pv = _tuple(padding, 2, "padding", op)
    s = _tuple(stride, 2, "stride", op)
    _check_positive(k, "kernel_size", op)
    _check_positive(d, "dilation", op)
    _check_positive(s, "stride", op)
    return _P(k, s, (pv[0], pv[0], pv[1], pv[1]), d)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding local blocks: (N, C, H, W) -> (N, C*kh*kw, L) (torch's im2col)."""
    x, unbatched = _batchify(input, 2, "unfold")
    p = _fold_params(kernel_size, dilation, padding, stride, "unfold")
    oh, ow = p.out_hw(*x.shape[2:])
    if oh <= 0 or ow <= 0:
        raise RuntimeError(
            f"unfold: kernel_size {p.k} with dilation {p.d} is larger than the padded input of shape "
            f"{tuple(x.shape)} (padding {padding})"
        )
    y = _Unfold(p, tuple(x.shape[2:]))(x)
    return E.squeeze(y, 0) if unbatched else y


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combine sliding local blocks into a tensor, summing overlaps: (N, C*kh*kw, L) -> (N, C, H, W)."""
    x = input
    unbatched = x.ndim == 2
    if unbatched:
        x = E.unsqueeze(x, 0)
    if x.ndim != 3:
        raise RuntimeError(f"fold: expected a 2-D or 3-D input (N, C*kh*kw, L), got shape {tuple(input.shape)}")
    p = _fold_params(kernel_size, dilation, padding, stride, "fold")
    hw = _tuple(output_size, 2, "output_size", "fold")
    kk = p.k[0] * p.k[1]
    oh, ow = p.out_hw(*hw)
    if x.shape[1] % kk or x.shape[2] != oh * ow:
        raise RuntimeError(
            f"fold: input of shape {tuple(input.shape)} does not match output_size={hw}, kernel_size={p.k}: expected "
            f"dim 1 divisible by {kk} and dim 2 == {oh * ow} blocks"
        )
    y = _Fold(p, hw)(x)
    return E.squeeze(y, 0) if unbatched else y


# ============================================================================ pooling


def _pool_geometry(nd, kernel_size, stride, padding, dilation, ceil_mode, hw, op):
    k = _tuple(kernel_size, nd, "kernel_size", op)
    s = _tuple(stride if stride is not None and stride != [] and stride != () else k, nd, "stride", op)
    pv = _tuple(padding, nd, "padding", op)
    d = _tuple(dilation, nd, "dilation", op)
    _check_positive(k, "kernel_size", op)
    _check_positive(s, "stride", op)
    _check_positive(d, "dilation", op)
    for pp, kk in zip(pv, k):
        if pp < 0 or pp * 2 > kk:
            raise ValueError(
                f"{op}: pad should be at most half of effective kernel size, but got pad={pv} and kernel_size={k}"
            )
    if nd == 1:
        k, s, pv, d, hw = (1,) + k, (1,) + s, (0,) + pv, (1,) + d, (1,) + tuple(hw)
    outs = []
    extra = []
    for size, kk, ss, pp, dd in zip(hw, k, s, pv, d):
        span = size + 2 * pp - dd * (kk - 1) - 1
        o = (-(-span // ss) if ceil_mode else span // ss) + 1  # torch's div_rtn: ceil_mode may fit one window
        if ceil_mode and (o - 1) * ss >= size + pp:
            o -= 1
        if o < 1:
            raise RuntimeError(
                f"{op}: the (dilated) kernel size {kk if dd == 1 else dd * (kk - 1) + 1} is larger than the padded "
                f"input size {size + 2 * pp}"
            )
        outs.append(o)
        # how far the last window reaches past the right padding (ceil_mode)
        extra.append(max(0, (o - 1) * ss + dd * (kk - 1) + 1 - (size + 2 * pp)))
    p = _P(k, s, (pv[0], pv[0] + extra[0], pv[1], pv[1] + extra[1]), d)
    return p, tuple(outs), pv


class _MaxPool(Node):
    """Max over each window. The forward is k*k elementwise maxima of strided views (NaN propagates, as
    torch); which element won (the first maximum in window order, as torch) is worked out only when
    the backward or ``return_indices`` needs it."""

    def __init__(self, p, oh, ow):
        self.p, self.oh, self.ow = p, oh, ow

    def name(self):
        return "MaxPoolBackward"

    def forward(self, x):
        self.shape = x.shape
        p = self.p
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp = _pad4(x, p.pads, fill)
        self.xp = xp
        v = _windows(xp, p, self.oh, self.ow)
        kh, kw = p.k
        best = v[:, :, 0, 0].copy(order="K")  # keeps a channels-last input's layout
        for o in range(1, kh * kw):
            np.maximum(best, v[:, :, o // kw, o % kw], out=best)
        self.best = best
        return best

    def _masks(self):
        """Yield (offset, mask of the windows whose first maximum sits at that offset)."""
        p = self.p
        kh, kw = p.k
        v = _windows(self.xp, p, self.oh, self.ow)
        best = self.best
        nan = best.dtype.kind == "f" and np.isnan(best).any()
        inside = None
        if any(p.pads):
            fill = -np.inf if best.dtype.kind == "f" else np.iinfo(best.dtype).min
            if (best == fill).any():  # a window of fill values: its first element inside the input wins (torch)
                h, w = self.shape[2], self.shape[3]
                inside = _windows(_pad4(np.ones((1, 1, h, w), dtype=bool), p.pads, False), p, self.oh, self.ow)
        free = None  # windows whose maximum has not been claimed by an earlier offset
        last = kh * kw - 1
        for o in range(kh * kw):
            cur = v[:, :, o // kw, o % kw]
            m = cur == best
            if inside is not None:
                m &= inside[:, :, o // kw, o % kw]
            if nan:
                m |= np.isnan(cur) & np.isnan(best)
            if free is None:
                if o < last:
                    free = ~m
            else:
                m &= free
                if o < last:
                    free ^= m  # m lies inside free: this clears m's windows
            yield o, m

    def arg(self):
        arg = np.zeros(self.best.shape, dtype=np.int64)
        for o, m in self._masks():
            if o:
                arg[m] = o
        return arg

    def indices(self):
        """Flat index into each input plane (H*W) of every maximum, like torch's return_indices."""
        p = self.p
        kh, kw = p.k
        (sh, sw), (dh, dw) = p.s, p.d
        pt, _, pl, _ = p.pads
        w = self.shape[3]
        arg = self.arg()
        rows = (np.arange(self.oh) * sh - pt)[:, None] + (arg // kw) * dh
        cols = (np.arange(self.ow) * sw - pl)[None, :] + (arg % kw) * dw
        return (rows * w + cols).astype(np.int64)

    def backward(self, ns, g, ins, out):
        n, c, h, w = self.shape
        if _tensor_mode(g):
            idx = self.indices().reshape(n, c, -1)
            flat = ns.put_along_zeros((n, c, h * w), idx, ns.reshape(g, (n, c, -1)), 2)
            return (ns.reshape(flat, (n, c, h, w)),)
        p = self.p
        kh, kw = p.k
        (sh, sw), (dh, dw) = p.s, p.d
        oh, ow = self.oh, self.ow
        overlap = sh < (kh - 1) * dh + 1 or sw < (kw - 1) * dw + 1
        gx = (np.zeros_like if overlap else np.empty_like)(self.xp, dtype=g.dtype)  # the input's layout
        g = _as_layout(g, _is_cl(self.best))
        if not overlap:
            # every covered element belongs to exactly one window: assign, and zero the uncovered edges
            gx[:, :, (oh - 1) * sh + (kh - 1) * dh + 1:] = 0
            gx[:, :, :, (ow - 1) * sw + (kw - 1) * dw + 1:] = 0
            if sh > (kh - 1) * dh + 1 or sw > (kw - 1) * dw + 1 or dh > 1 or dw > 1:
                gx[...] = 0
        for o, m in self._masks():
            i, j = divmod(o, kw)
            dst = gx[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            if overlap:
                dst += np.where(m, g, 0)
            else:
                np.multiply(g, m, out=dst)
        return (_crop(gx, p.pads, h, w),)


def _max_poolnd(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, op):
    x, unbatched = _batchify(x, nd, op)
    hw = (1, x.shape[2]) if nd == 1 else tuple(x.shape[2:])
    p, (oh, ow), _ = _pool_geometry(nd, kernel_size, stride, padding, dilation, ceil_mode,
                                    hw[1:] if nd == 1 else hw, op)
    node = _MaxPool(p, oh, ow)
    x4 = E.unsqueeze(x, 2) if nd == 1 else x
    y = node(x4)
    if nd == 1:
        y = E.squeeze(y, 2)
    if unbatched:
        y = E.squeeze(y, 0)
    if not return_indices:
        return y
    idx = node.indices()
    if nd == 1:
        idx = idx[:, :, 0]
    if unbatched:
        idx = idx[0]
    return y, Tensor._wrap(idx)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L)."""
    return _max_poolnd(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling over (N, C, H, W) or (C, H, W)."""
    return _max_poolnd(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool2d")


class _WinSum(Node):
    """Sum over each window divided by ``div`` (oh, ow): average pooling. Linear; adjoint ``_WinSumT``."""

    needs_inputs = False

    def __init__(self, p, hw, div):
        self.p, self.hw, self.div = p, hw, div

    def name(self):
        return "AvgPoolBackward"

    def forward(self, x):
        p = self.p
        oh, ow = self.div.shape
        v = _windows(_pad4(x, p.pads), p, oh, ow)
        kh, kw = p.k
        acc = v[:, :, 0, 0].copy()
        for o in range(1, kh * kw):
            acc += v[:, :, o // kw, o % kw]
        acc /= self.div
        return acc

    def backward(self, ns, g, ins, out):
        if _tensor_mode(g):
            return (_WinSumT(self.p, self.hw, self.div)(g),)
        return (_winsumT_raw(g, self.p, self.hw, self.div),)


def _winsumT_raw(g, p, hw, div):
    n, c, oh, ow = g.shape
    gd = (g / div).astype(g.dtype, copy=False)
    kh, kw = p.k
    pt, pb, pl, pr = p.pads
    cols = np.broadcast_to(gd[:, :, None, None], (n, c, kh, kw, oh, ow))
    return _crop(_col2im(cols, p, (n, c, hw[0] + pt + pb, hw[1] + pl + pr)), p.pads, *hw)


class _WinSumT(Node):
    needs_inputs = False

    def __init__(self, p, hw, div):
        self.p, self.hw, self.div = p, hw, div

    def forward(self, g):
        return _winsumT_raw(g, self.p, self.hw, self.div)

    def backward(self, ns, g, ins, out):
        if _tensor_mode(g):
            return (_WinSum(self.p, self.hw, self.div)(g),)
        return (_WinSum(self.p, self.hw, self.div).forward(g),)


def _avg_divisor(hw, p, pv, outs, count_include_pad, divisor_override, dtype):
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool: divisor_override must be non-zero")
        return np.full(outs, float(divisor_override), dtype=dtype)
    axes = []
    for size, kk, ss, pp, o in zip(hw, p.k, p.s, pv, outs):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, size + pp)
        full = end - start
        cs, ce = np.maximum(start, 0), np.minimum(end, size)
        axes.append((full, ce - cs))
    (fh, vh), (fw, vw) = axes
    div = np.outer(fh, fw) if count_include_pad else np.outer(vh, vw)
    return div.astype(dtype)


def _avg_poolnd(nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, op):
    x, unbatched = _batchify(x, nd, op)
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating-point input, got {x.dtype}")
    hw = (1, x.shape[2]) if nd == 1 else tuple(x.shape[2:])
    p, outs, pv = _pool_geometry(nd, kernel_size, stride, padding, 1, ceil_mode, hw[1:] if nd == 1 else hw, op)
    div = _avg_divisor(hw, p, pv, outs, count_include_pad, divisor_override, x._data.dtype)
    x4 = E.unsqueeze(x, 2) if nd == 1 else x
    y = _WinSum(p, hw, div)(x4)
    if nd == 1:
        y = E.squeeze(y, 2)
    return E.squeeze(y, 0) if unbatched else y


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L)."""
    return _avg_poolnd(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, "avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling over (N, C, H, W) or (C, H, W)."""
    return _avg_poolnd(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                       "avg_pool2d")


# ============================================================================ adaptive pooling


def _adaptive_bounds(size, out):
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _avg_matrix(size, out, dtype):
    s, e = _adaptive_bounds(size, out)
    m = np.zeros((out, size), dtype=dtype)
    for r in range(out):
        m[r, s[r]:e[r]] = 1.0 / (e[r] - s[r])
    return m


def _out_sizes(output_size, in_sizes, nd, op):
    if isinstance(output_size, numbers.Integral) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        raise ValueError(f"{op}: output_size must be an int or a tuple of {nd}, got {output_size!r}")
    res = tuple(int(i) if o is None else int(o) for o, i in zip(output_size, in_sizes))
    if any(v <= 0 for v in res):
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return res


def _adaptive_avg(nd, x, output_size, op):
    x, unbatched = _batchify(x, nd, op)
    ins = tuple(x.shape[2:])
    outs = _out_sizes(output_size, ins, nd, op)
    if all(o == 1 for o in outs):
        y = E.mean(x, tuple(range(2, 2 + nd)), keepdim=True)
    elif all(i % o == 0 for i, o in zip(ins, outs)):
        ks = tuple(i // o for i, o in zip(ins, outs))
        y = (avg_pool1d(x, ks) if nd == 1 else avg_pool2d(x, ks))
    else:
        dt = x._data.dtype
        y = E.matmul(x, Tensor._wrap(_avg_matrix(ins[-1], outs[-1], dt).T.copy()))
        if nd == 2:
            y = E.matmul(Tensor._wrap(_avg_matrix(ins[0], outs[0], dt)), y)
    return E.squeeze(y, 0) if unbatched else y


def adaptive_avg_pool1d(input, output_size):
    """Average pooling to a fixed output length (torch's window bounds)."""
    return _adaptive_avg(1, input, output_size, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed (H, W) output (``None`` keeps a size)."""
    return _adaptive_avg(2, input, output_size, "adaptive_avg_pool2d")


def _adaptive_max(nd, x, output_size, return_indices, op):
    x, unbatched = _batchify(x, nd, op)
    ins = tuple(x.shape[2:])
    outs = _out_sizes(output_size, ins, nd, op)
    if all(i % o == 0 for i, o in zip(ins, outs)):
        ks = tuple(i // o for i, o in zip(ins, outs))
        res = _max_poolnd(nd, x, ks, ks, 0, 1, False, return_indices, op)
    else:
        x4 = E.unsqueeze(x, 2) if nd == 1 else x
        ins4 = tuple(x4.shape[2:])
        outs4 = (1,) + outs if nd == 1 else outs
        (hs, he), (ws, we) = _adaptive_bounds(ins4[0], outs4[0]), _adaptive_bounds(ins4[1], outs4[1])
        vals, idxs = [], []
        n, c = x4.shape[:2]
        for i in range(outs4[0]):
            for j in range(outs4[1]):
                blk = x4[:, :, int(hs[i]):int(he[i]), int(ws[j]):int(we[j])]
                flat = E.reshape(blk, (n, c, -1))
                a = np.argmax(flat._data, axis=2)
                vals.append(E.gather(flat, 2, Tensor._wrap(a[:, :, None])))
                bw = int(we[j] - ws[j])
                idxs.append((hs[i] + a // bw) * ins4[1] + ws[j] + a % bw)
        y = E.reshape(E.cat(vals, 2), (n, c) + outs4)
        idx = np.stack(idxs, 2).reshape((n, c) + outs4)
        if nd == 1:
            y, idx = E.squeeze(y, 2), idx[:, :, 0]
        res = (y, Tensor._wrap(idx.astype(np.int64))) if return_indices else y
    if not unbatched:
        return res
    if return_indices:
        return E.squeeze(res[0], 0), Tensor._wrap(res[1]._data[0])
    return E.squeeze(res, 0)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling to a fixed output length."""
    return _adaptive_max(1, input, output_size, return_indices, "adaptive_max_pool1d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed (H, W) output (``None`` keeps a size)."""
    return _adaptive_max(2, input, output_size, return_indices, "adaptive_max_pool2d")


# ============================================================================ interpolation


def _pool3_args(x, kernel_size, stride, padding, dilation, op):
    x, unbatched = _batchify(x, 3, op)
    k = _tuple(kernel_size, 3, "kernel_size", op)
    s = _tuple(stride if stride is not None and stride != [] and stride != () else k, 3, "stride", op)
    p = _tuple(padding, 3, "padding", op)
    d = _tuple(dilation, 3, "dilation", op)
    return x, unbatched, k, s, p, d


def _sep3(x, f2, f1, with_idx=False):
    n, c, dd, h, w = (int(v) for v in x.shape)
    r2 = f2(E.reshape(x, (n, c * dd, h, w)))
    y2, i2 = r2 if with_idx else (r2, None)
    oh, ow = int(y2.shape[2]), int(y2.shape[3])
    t = E.reshape(E.permute(E.reshape(y2, (n, c, dd, oh, ow)), (0, 1, 3, 4, 2)), (n, c * oh * ow, dd))
    r1 = f1(t)
    y1, i1 = r1 if with_idx else (r1, None)
    od = int(y1.shape[2])
    y = E.permute(E.reshape(y1, (n, c, oh, ow, od)), (0, 1, 4, 2, 3))
    if not with_idx:
        return y
    d_idx = i1._data.reshape(n, c, oh, ow, od)
    hw = np.take_along_axis(i2._data.reshape(n, c, dd, oh, ow).transpose(0, 1, 3, 4, 2), d_idx, axis=-1)
    idx = (d_idx * (h * w) + hw).transpose(0, 1, 4, 2, 3)
    return y, Tensor._wrap(np.ascontiguousarray(idx).astype(np.int64))


def _unbatch(res, unbatched, with_idx):
    if not unbatched:
        return res
    if with_idx:
        return E.squeeze(res[0], 0), Tensor._wrap(res[1]._data[0])
    return E.squeeze(res, 0)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, max_pool3d, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    op = "max_pool3d"
    x, unbatched, k, s, p, d = _pool3_args(input, kernel_size, stride, padding, dilation, op)
    res = _sep3(x, lambda t: max_pool2d(t, k[1:], s[1:], p[1:], d[1:], ceil_mode, return_indices),
                lambda t: max_pool1d(t, k[0], s[0], p[0], d[0], ceil_mode, return_indices), return_indices)
    return _unbatch(res, unbatched, return_indices)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, avg_pool3d, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    op = "avg_pool3d"
    x, unbatched, k, s, p, _ = _pool3_args(input, kernel_size, stride, padding, 1, op)
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating-point input, got {x.dtype}")
    cip = True if divisor_override is not None else count_include_pad
    y = _sep3(x, lambda t: avg_pool2d(t, k[1:], s[1:], p[1:], ceil_mode, cip),
              lambda t: avg_pool1d(t, k[0], s[0], p[0], ceil_mode, cip))
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be non-zero")
        full = []  # the count_include_pad divisor of each window, per dim (windows clipped by ceil_mode)
        for size, kk, ss, pp, o in zip(x.shape[2:], k, s, p, y.shape[2:]):
            start = np.arange(int(o)) * ss - pp
            full.append(np.minimum(start + kk, int(size) + pp) - start)
        scale = np.einsum("i,j,k->ijk", *full) / float(divisor_override)
        y = y * Tensor._wrap(scale.astype(x._data.dtype))
    return _unbatch(y, unbatched, False)


def adaptive_avg_pool3d(input, output_size):
    """Average pooling to a fixed (D, H, W) output (``None`` keeps a size)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, adaptive_avg_pool3d, input, output_size)
    op = "adaptive_avg_pool3d"
    x, unbatched = _batchify(input, 3, op)
    outs = _out_sizes(output_size, tuple(x.shape[2:]), 3, op)
    y = _sep3(x, lambda t: adaptive_avg_pool2d(t, outs[1:]), lambda t: adaptive_avg_pool1d(t, outs[0]))
    return _unbatch(y, unbatched, False)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pooling to a fixed (D, H, W) output (``None`` keeps a size)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, adaptive_max_pool3d, input, output_size, return_indices)
    op = "adaptive_max_pool3d"
    x, unbatched = _batchify(input, 3, op)
    outs = _out_sizes(output_size, tuple(x.shape[2:]), 3, op)
    res = _sep3(x, lambda t: adaptive_max_pool2d(t, outs[1:], return_indices),
                lambda t: adaptive_max_pool1d(t, outs[0], return_indices), return_indices)
    return _unbatch(res, unbatched, return_indices)


__all__ += ["max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d"]

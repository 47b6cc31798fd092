"""Recurrent cell steps as fused primitives (one graph node per time step).

A step of an LSTM written with tensor ops records a dozen nodes; this module records one: the node
computes both matrix products and the pointwise cell function in its forward and the whole cell's
vector-Jacobian product in its backward. The formulas are written once against a small namespace
(``_NP`` on arrays for the plain backward, ``_EM`` on tensors under ``create_graph=True``, where the
forward is recomputed with ember ops so the backward is itself differentiable).

``unbind_steps`` splits a (T, ...) sequence into T steps with one node (the generic ``unbind``
records one slice node per step, each of whose backward allocates a full-size gradient).
"""
from __future__ import annotations

import numpy as np

from .. import _ops as E
from .._tensor import Tensor
from ..autograd.engine import MultiNode

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell"]

_new = object.__new__


_MultiNode = MultiNode  # several outputs in one node (the engine's)


# ---------------------------------------------------------------------------- namespaces


class _NP:
    @staticmethod
    def sigmoid(x):
        with np.errstate(over="ignore"):
            e = np.exp(-x)
        e += 1
        return np.reciprocal(e, out=e)

    tanh = staticmethod(np.tanh)

    @staticmethod
    def relu(x):
        return np.maximum(x, 0)

    @staticmethod
    def mm(a, b):
        return a @ b

    @staticmethod
    def mmT(a, b):  # a @ b.T
        return a @ b.T

    @staticmethod
    def Tmm(a, b):  # a.T @ b
        return a.T @ b

    @staticmethod
    def cat(xs):
        return np.concatenate(xs, axis=-1)

    @staticmethod
    def sum0(a):
        return a.sum(0)

    @staticmethod
    def step(x):  # derivative of relu at its output
        return (x > 0).astype(x.dtype)


class _EM:
    sigmoid = staticmethod(E.sigmoid)
    tanh = staticmethod(E.tanh)
    relu = staticmethod(E.relu)

    @staticmethod
    def mm(a, b):
        return E.matmul(a, b)

    @staticmethod
    def mmT(a, b):
        return E.matmul(a, E.t(b))

    @staticmethod
    def Tmm(a, b):
        return E.matmul(E.t(a), b)

    @staticmethod
    def cat(xs):
        return E.cat(xs, -1)

    @staticmethod
    def sum0(a):
        return E.sum(a, 0)

    @staticmethod
    def step(x):
        return Tensor._wrap((x._data > 0).astype(x._data.dtype))


# ---------------------------------------------------------------------------- cell math


def _proj(M, x, w, b):
    y = M.mmT(x, w)
    return y if b is None else y + b


def _cell_fwd(M, kind, gx, gh, h, c):
    """Pointwise cell on precomputed projections; returns (outputs, saved)."""
    if kind == "lstm":
        a = gx + gh
        n = a.shape[-1] // 4
        i = M.sigmoid(a[:, :n])
        f = M.sigmoid(a[:, n:2 * n])
        g = M.tanh(a[:, 2 * n:3 * n])
        o = M.sigmoid(a[:, 3 * n:])
        c2 = f * c + i * g
        tc = M.tanh(c2)
        return (o * tc, c2), (i, f, g, o, tc)
    if kind == "gru":
        n = gx.shape[-1] // 3
        r = M.sigmoid(gx[:, :n] + gh[:, :n])
        z = M.sigmoid(gx[:, n:2 * n] + gh[:, n:2 * n])
        ghn = gh[:, 2 * n:]
        nn_ = M.tanh(gx[:, 2 * n:] + r * ghn)
        return ((1 - z) * nn_ + z * h,), (r, z, nn_, ghn)
    y = M.tanh(gx + gh) if kind == "rnn_tanh" else M.relu(gx + gh)
    return (y,), (y,)


def _cell_bwd(M, kind, gouts, saved, h, c):
    """Gradients (d gx, d gh, d h through the direct path or None, d c or None)."""
    if kind == "lstm":
        i, f, g, o, tc = saved
        gh_, gc_ = gouts
        dc = None
        if gh_ is not None:
            dc = gh_ * o * (1 - tc * tc)
            do = gh_ * tc * o * (1 - o)
        if gc_ is not None:
            dc = gc_ if dc is None else dc + gc_
        if dc is None:  # pragma: no cover - the engine only calls with some gradient
            return None, None, None, None
        if gh_ is None:
            do = dc * 0
        di = dc * g * i * (1 - i)
        df = dc * c * f * (1 - f)
        dg = dc * i * (1 - g * g)
        da = M.cat([di, df, dg, do])
        return da, da, None, dc * f
    if kind == "gru":
        r, z, nn_, ghn = saved
        (gy,) = gouts
        dn = gy * (1 - z) * (1 - nn_ * nn_)
        dz = gy * (h - nn_) * z * (1 - z)
        dr = dn * ghn * r * (1 - r)
        dgx = M.cat([dr, dz, dn])
        dgh = M.cat([dr, dz, dn * r])
        return dgx, dgh, gy * z, None
    (y,) = saved
    (gy,) = gouts
    da = gy * (1 - y * y) if kind == "rnn_tanh" else gy * M.step(y)
    return da, da, None, None


class _Cell(_MultiNode):
    """One step: inputs (x, h, c, w_ih, w_hh, b_ih, b_hh); ``w_ih`` None means x is already x @ w_ih.T + b_ih."""

    def __init__(self, kind):
        self.kind = kind
        self.n_out = 2 if kind == "lstm" else 1

    def name(self):
        return {"lstm": "LSTMCell", "gru": "GRUCell"}.get(self.kind, "RNNCell") + "Backward"

    def forward(self, x, h, c, wih, whh, bih, bhh):
        gx = x if wih is None else _proj(_NP, x, wih, bih)
        gh = _proj(_NP, h, whh, bhh)
        outs, self._cell_saved = _cell_fwd(_NP, self.kind, gx, gh, h, c)
        return outs

    def backward(self, ns, g, ins, out):
        x, h, c, wih, whh, bih, bhh = ins
        gouts = g  # a MultiNode gets a list of gradients, even for one output
        if isinstance(gouts[0] if gouts[0] is not None else gouts[-1], Tensor):
            M = _EM
            gx = x if wih is None else _proj(M, x, wih, bih)
            gh = _proj(M, h, whh, bhh)
            _, saved = _cell_fwd(M, self.kind, gx, gh, h, c)
        else:
            M, saved = _NP, self._cell_saved
        dgx, dgh, dh_direct, dc = _cell_bwd(M, self.kind, gouts, saved, h, c)
        need = [isinstance(t, Tensor) and t.requires_grad for t in self.inputs]
        dx = dwih = dbih = None
        if wih is None:
            dx = dgx
        else:
            dx = M.mm(dgx, wih) if need[0] else None
            dwih = M.Tmm(dgx, x) if need[3] else None
            dbih = M.sum0(dgx) if bih is not None and need[5] else None
        dh = None
        if need[1]:
            dh = M.mm(dgh, whh)
            if dh_direct is not None:
                dh = dh + dh_direct
        dwhh = M.Tmm(dgh, h) if need[4] else None
        dbhh = M.sum0(dgh) if bhh is not None and need[6] else None
        return dx, dh, dc, dwih, dwhh, dbih, dbhh


def _check_cell(name, x, h, w_ih, gates):
    if x.ndim != 2:
        raise RuntimeError(f"{name}: expected a 2-D input (batch, input_size), got shape {tuple(x.shape)}")
    if x.shape[1] != w_ih.shape[1]:
        raise RuntimeError(
            f"{name}: input has {x.shape[1]} features (shape {tuple(x.shape)}) but the layer expects "
            f"input_size={w_ih.shape[1]}"
        )
    hidden = w_ih.shape[0] // gates
    if tuple(h.shape) != (x.shape[0], hidden):
        raise RuntimeError(
            f"{name}: expected hidden state of shape {(x.shape[0], hidden)}, got {tuple(h.shape)}"
        )


def rnn_tanh_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) for (batch, features) tensors."""
    _check_cell("rnn_tanh_cell", x, h, w_ih, 1)
    return _Cell("rnn_tanh")(x, h, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_relu_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    _check_cell("rnn_relu_cell", x, h, w_ih, 1)
    return _Cell("rnn_relu")(x, h, None, w_ih, w_hh, b_ih, b_hh)[0]


def lstm_cell(x, hc, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step (torch's gate order i, f, g, o); returns (h', c')."""
    h, c = hc
    _check_cell("lstm_cell", x, h, w_ih, 4)
    if tuple(c.shape) != tuple(h.shape):
        raise RuntimeError(f"lstm_cell: expected cell state of shape {tuple(h.shape)}, got {tuple(c.shape)}")
    return _Cell("lstm")(x, h, c, w_ih, w_hh, b_ih, b_hh)


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step (torch's gate order r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)))."""
    _check_cell("gru_cell", x, h, w_ih, 3)
    return _Cell("gru")(x, h, None, w_ih, w_hh, b_ih, b_hh)[0]


def cell_step(kind, gx, h, c, w_hh, b_hh):
    """A step on a precomputed input projection ``gx`` (= x W_ih^T + b_ih); returns a tuple of outputs."""
    return _Cell(kind)(gx, h, c, None, w_hh, None, b_hh)


# ---------------------------------------------------------------------------- sequence split


def unbind_steps(x):
    """``x.unbind(0)`` (one node in ember's core)."""
    return E.unbind(x, 0)

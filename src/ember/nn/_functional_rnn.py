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

from .. import _autocast as _ac
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


_SCALES = {}


def _lstm_scales(n, dt):
    """Row vectors (pre, post, offset) turning tanh into sigmoid on the i, f, o gates (torch's order i, f, g, o)."""
    key = (n, dt)
    r = _SCALES.get(key)
    if r is None:
        pre = np.full(4 * n, 0.5, dt)
        pre[2 * n:3 * n] = 1
        off = np.full(4 * n, 0.5, dt)
        off[2 * n:3 * n] = 0
        r = _SCALES[key] = (pre, pre, off)
    return r


def _cell_fwd(M, kind, gx, gh, h, c):
    """Pointwise cell on precomputed projections; returns (outputs, saved)."""
    if kind == "lstm":
        a = gx + gh
        n = a.shape[-1] // 4
        if M is _NP and a.dtype.kind == "f":
            # every gate through one tanh: sigmoid(x) = (1 + tanh(x / 2)) / 2, row scales per gate
            pre, post, off = _lstm_scales(n, a.dtype)
            a *= pre
            np.tanh(a, out=a)
            a *= post
            a += off
            i, f, g, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
            c2 = f * c + i * g
            tc = np.tanh(c2)
            return (o * tc, c2), (i, f, g, o, tc)
        else:
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
        i, f, g, o, tc = saved[:5]
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
        if self.kind == "lstm" and wih is not None and x.dtype.kind == "f":
            return self._forward_lstm(x, h, c, wih, whh, bih, bhh)
        gx = x if wih is None else _proj(_NP, x, wih, bih)
        gh = _proj(_NP, h, whh, bhh)
        outs, self._cell_saved = _cell_fwd(_NP, self.kind, gx, gh, h, c)
        return outs

    # The LSTM cell on arrays runs feature-major: the gates are the (4H, B) product W_ih x^T + W_hh h^T, so
    # that both GEMMs read the weights as stored (OpenBLAS takes ~45 % longer for x @ W^T with W (4H, I) than
    # for W @ x^T at these sizes) and every gate is a contiguous (H, B) block; the weight gradients are
    # then D x and D h with D the (4H, B) gate gradients, again without a transposed operand.

    def _forward_lstm(self, x, h, c, wih, whh, bih, bhh):
        n = whh.shape[1]
        a = np.matmul(wih, x.T)
        a += np.matmul(whh, h.T)
        dt = a.dtype
        if bih is not None:
            a += (bih[:, None] if bhh is None else (bih + bhh)[:, None])
        elif bhh is not None:
            a += bhh[:, None]
        # every gate through one tanh: sigmoid(z) = (1 + tanh(z / 2)) / 2 on the i, f, o rows (two contiguous
        # row blocks: slices are cheaper than a column broadcast over all 4H rows)
        s1, s2 = a[:2 * n], a[3 * n:]
        s1 *= 0.5
        s2 *= 0.5
        np.tanh(a, out=a)
        for s_ in (s1, s2):
            s_ *= 0.5
            s_ += 0.5
        i, f, g, o = a[:n], a[n:2 * n], a[2 * n:3 * n], a[3 * n:]
        c2t = np.multiply(f, c.T)
        tmp = np.multiply(i, g)
        c2t += tmp
        tc = np.tanh(c2t)
        h2 = np.empty((x.shape[0], n), dt)  # outputs (B, H) and C-contiguous, as torch's
        np.multiply(o.T, tc.T, out=h2)
        self._cell_saved = (a, tc)
        return h2, np.ascontiguousarray(c2t.T)

    def _backward_lstm(self, g, ins):
        x, h, c, wih, whh, bih, bhh = ins
        need = self.needs
        a, tc = self._cell_saved
        n = tc.shape[0]
        gh, gc = g
        dt = a.dtype
        D = np.empty_like(a)  # d loss / d pre-activation, (4H, B), torch's gate order
        i, f, gg, o = a[:n], a[n:2 * n], a[2 * n:3 * n], a[3 * n:]
        Di, Df, Dg, Do = D[:n], D[n:2 * n], D[2 * n:3 * n], D[3 * n:]
        if gh is not None:
            ght = np.ascontiguousarray(gh.T, dtype=dt)
            dc = np.multiply(tc, tc)  # dc = gh o (1 - tanh(c)^2) + gc
            np.subtract(1, dc, out=dc)
            dc *= o
            dc *= ght
            if gc is not None:
                dc += gc.T
            np.multiply(o, o, out=Do)  # do = gh tanh(c) o (1 - o)
            np.subtract(o, Do, out=Do)
            Do *= tc
            Do *= ght
        else:
            dc = np.array(gc.T, dtype=dt)
            Do[...] = 0
        S, DS = a[:2 * n], D[:2 * n]  # i (1 - i), f (1 - f)
        np.multiply(S, S, out=DS)
        np.subtract(S, DS, out=DS)
        Di *= gg
        Df *= c.T
        np.multiply(gg, gg, out=Dg)  # (1 - g^2) i
        np.subtract(1, Dg, out=Dg)
        Dg *= i
        D3 = D[:3 * n].reshape(3, n, -1)
        D3 *= dc
        dx = np.matmul(D.T, wih) if need[0] else None
        dh = np.matmul(D.T, whh) if need[1] else None
        dcp = None
        if need[2]:
            dc *= f
            dcp = dc.T  # feature-major: the previous cell reads it transposed; a leaf gets it C-contiguous
            cin = getattr(self, "inputs", None)
            if cin is not None and isinstance(cin[2], Tensor) and cin[2].grad_fn is None:
                dcp = np.ascontiguousarray(dcp)
        dwih = np.matmul(D, x) if need[3] else None
        dwhh = np.matmul(D, h) if need[4] else None
        dbih = dbhh = None
        want = (bih is not None and need[5], bhh is not None and need[6])
        if want[0] or want[1]:
            db = np.matmul(D, np.ones(D.shape[1], dt))  # row sums as a GEMV
            dbih = db if want[0] else None
            dbhh = (db.copy() if want[0] else db) if want[1] else None
        return dx, dh, dcp, dwih, dwhh, dbih, dbhh

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
            if self.kind == "lstm" and wih is not None and len(saved) == 2:
                return self._backward_lstm(gouts, ins)
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
    if _ac.armed and _ac._state.on:  # autocast: torch's RNN cells run in lower precision (their linear parts)
        x, h, w_ih, w_hh, b_ih, b_hh = _ac.cast(_ac.LOWER, x, h, w_ih, w_hh, b_ih, b_hh)
    _check_cell("rnn_tanh_cell", x, h, w_ih, 1)
    return _Cell("rnn_tanh")(x, h, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_relu_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's RNN cells run in lower precision (their linear parts)
        x, h, w_ih, w_hh, b_ih, b_hh = _ac.cast(_ac.LOWER, x, h, w_ih, w_hh, b_ih, b_hh)
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


# ---------------------------------------------------------------------------- whole-sequence layer


def _with_ones(x2, wt, b, dt):
    """Operands of ``x2 @ wt + b`` as one GEMM: ``x2`` (N, I) gains a column of ones and ``wt`` (..., I, M)
    a row holding ``b`` (shape (..., M)); unchanged when ``b`` is None. Both come back in dtype ``dt``."""
    if b is None:
        return x2.astype(dt, copy=False), np.ascontiguousarray(wt, dtype=dt)  # OpenBLAS: no transposed view
    N, In = x2.shape
    xa = np.empty((N, In + 1), dt)
    xa[:, :In] = x2
    xa[:, In] = 1
    wa = np.empty(wt.shape[:-2] + (In + 1, wt.shape[-1]), dt)
    wa[..., :In, :] = wt
    wa[..., In, :] = b
    return xa, wa


class _Seq(_MultiNode):
    """One layer in one direction over a whole (T, B, I) sequence, as one node.

    Inputs ``(x, h0, c0, w_ih, w_hh, b_ih, b_hh, mask)``; ``c0`` is None except for LSTM and ``mask`` is
    None or a (T, B) bool array (packed sequences: where it is False the state is carried over unchanged).
    Outputs ``(out, h_n)`` (``(out, h_n, c_n)`` for LSTM). Forward projects every time step's input with
    one GEMM and runs the recurrence over preallocated buffers (one small GEMM and a few in-place ufuncs
    per step); backward runs back through time over the saved gate activations and forms each weight's
    gradient with one GEMM over all steps. Under ``create_graph=True`` the backward is instead recomputed
    step by step with ember ops (the same formulas as ``_Cell``), so it can be differentiated again.
    """

    saves = {i: tuple(range(8)) for i in range(7)}  # every input (the create_graph path recomputes)
    save_out = True  # ``out`` shares memory with the saved hidden states: in-place changes must be caught

    def __init__(self, kind, reverse=False):
        self.kind = kind
        self.reverse = reverse
        self.n_out = 3 if kind == "lstm" else 2

    def name(self):
        return {"lstm": "LSTM", "gru": "GRU"}.get(self.kind, "RNN") + "Backward"

    # ------------------------------------------------------------------ forward

    def forward(self, x, h0, c0, wih, whh, bih, bhh, mask):
        if self.kind == "lstm":
            return self._forward_lstm(x, h0, c0, wih, whh, bih, bhh, mask)
        if self.kind == "gru":
            return self._forward_gru(x, h0, wih, whh, bih, bhh, mask)
        kind, rev = self.kind, self.reverse
        T, B, In = x.shape
        H = whh.shape[1]
        dt = np.result_type(x, wih, whh)
        b = bih if bhh is None else (bhh if bih is None else bih + bhh)
        # one GEMM projects every step's input; the bias rides in it as a column of ones (see _forward_lstm)
        G = np.matmul(*_with_ones(x.reshape(T * B, In), wih.T, b, dt)).reshape(T, B, H)
        whhT = np.ascontiguousarray(whh.T, dtype=dt)
        Hb = np.empty((T + 1, B, H), dt)
        first = T if rev else 0
        Hb[first] = h0
        tmp = np.empty((B, H), dt)
        for t in (range(T - 1, -1, -1) if rev else range(T)):
            p, c = (t + 1, t) if rev else (t, t + 1)
            hp, h = Hb[p], Hb[c]
            np.matmul(hp, whhT, out=tmp)
            np.add(G[t], tmp, out=h)
            if kind == "rnn_tanh":
                np.tanh(h, out=h)
            else:
                np.maximum(h, 0, out=h)
            if mask is not None and not mask[t].all():
                inv = ~mask[t]
                h[inv] = hp[inv]
        self._G, self._H, self._ghn = None, Hb, None
        last = 0 if rev else T
        out = Hb[:T] if rev else Hb[1:]
        return out, Hb[last].copy()

    # ------------------------------------------------------------------ backward

    def backward(self, ns, g, ins, out):
        if any(isinstance(v, Tensor) for v in g if v is not None):
            return self._backward_graph(g, ins)
        if self.kind == "lstm":
            return self._backward_lstm(g, ins)
        if self.kind == "gru":
            return self._backward_gru(g, ins)
        x, h0, c0, wih, whh, bih, bhh, mask = ins
        kind, rev = self.kind, self.reverse
        need = self.needs
        T, B, In = x.shape
        H = whh.shape[1]
        Hb = self._H
        dt = Hb.dtype
        Hprev = Hb[1:] if rev else Hb[:T]
        gout = g[0]
        dh = np.zeros((B, H), dt) if g[1] is None else np.array(g[1], dtype=dt)
        D = np.empty((T, B, H), dt)
        Hcur = Hb[:T] if rev else Hb[1:]
        if kind == "rnn_tanh":
            np.multiply(Hcur, Hcur, out=D)
            np.subtract(1, D, out=D)
        else:
            np.greater(Hcur, 0, out=D, casting="unsafe")
        whh_ = whh if whh.dtype == dt else whh.astype(dt)
        dhb = np.empty((B, H), dt)
        dht = np.empty((B, H), dt)
        for t in (range(T) if rev else range(T - 1, -1, -1)):
            if gout is None:
                dht, dh = dh, dht
            else:
                np.add(dh, gout[t], out=dht)
            Dt = D[t]
            Dt *= dht
            inv = None
            if mask is not None and not mask[t].all():
                inv = ~mask[t]
                Dt[inv] = 0
            np.matmul(Dt, whh_, out=dhb)
            if inv is not None:
                dhb[inv] = dht[inv]
            dh, dhb = dhb, dh
        # weight gradients: one GEMM per weight over all steps; the bias gradient a GEMV against ones
        dx = dwih = dwhh = dbih = dbhh = None
        D2 = D.reshape(T * B, H)
        if need[0]:
            dx = np.matmul(D2, wih).reshape(T, B, In)
        if need[3]:
            dwih = np.matmul(D2.T, x.reshape(T * B, In))
        if need[4]:
            dwhh = np.matmul(D2.T, Hprev.reshape(T * B, H))
        if (bih is not None and need[5]) or (bhh is not None and need[6]):
            db = np.matmul(np.ones(T * B, dt), D2)
            dbih = db if bih is not None and need[5] else None
            dbhh = (db.copy() if dbih is not None else db) if bhh is not None and need[6] else None
        return dx, (dh if need[1] else None), None, dwih, dwhh, dbih, dbhh, None

    # ------------------------------------------------------------------ GRU, gate-major
    # As the LSTM below: the gates live in planes (3, T, B, H) in torch's order r, z, n, so every gate of a
    # step is a contiguous (B, H) block (a ufunc over a (B, H) column slice of the interleaved (B, 3H) rows
    # costs ~4x a contiguous one at these sizes), the recurrent GEMMs are batched over the gates, and the
    # sigmoid gates go through one tanh on halved rows: sigmoid(x) = (1 + tanh(x / 2)) / 2.

    def _forward_gru(self, x, h0, wih, whh, bih, bhh, mask):
        rev = self.reverse
        T, B, In = x.shape
        H = whh.shape[1]
        dt = np.result_type(x, wih, whh)
        sc = np.array([0.5, 0.5, 1.0], dt)
        # input-side bias: b_ir + b_hr and b_iz + b_hz (halved), b_in; b_hn stays inside r * (W_hn h + b_hn)
        b = None
        if bih is not None or bhh is not None:
            b = np.zeros((3, H), dt)
            if bih is not None:
                b += bih.reshape(3, H)
            if bhh is not None:
                b[:2] += bhh.reshape(3, H)[:2]
            b *= sc[:, None]
        bhn = None if bhh is None else bhh[2 * H:].astype(dt, copy=False)
        wt3 = (wih.reshape(3, H, In) * sc[:, None, None]).transpose(0, 2, 1)
        xa, wt3 = _with_ones(x.reshape(T * B, In), wt3, b, dt)
        G = np.matmul(xa, wt3).reshape(3, T, B, H)
        del xa, wt3
        whhT3 = np.ascontiguousarray((whh.reshape(3, H, H) * sc[:, None, None]).transpose(0, 2, 1), dtype=dt)
        Hb = np.empty((T + 1, B, H), dt)
        first = T if rev else 0
        Hb[first] = h0
        GHN = np.empty((T, B, H), dt)  # W_hn h + b_hn, for backward
        tmp3 = np.empty((3, B, H), dt)
        tmpn = np.empty((B, H), dt)
        for t in (range(T - 1, -1, -1) if rev else range(T)):
            p, c = (t + 1, t) if rev else (t, t + 1)
            hp, h = Hb[p], Hb[c]
            np.matmul(hp, whhT3, out=tmp3)
            rz = G[:2, t]
            rz += tmp3[:2]
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            ghn = GHN[t]
            if bhn is None:
                ghn[...] = tmp3[2]
            else:
                np.add(tmp3[2], bhn, out=ghn)
            nn_ = G[2, t]
            np.multiply(G[0, t], ghn, out=tmpn)
            nn_ += tmpn
            np.tanh(nn_, out=nn_)
            np.subtract(hp, nn_, out=h)  # h' = n + z (h - n)
            h *= G[1, t]
            h += nn_
            if mask is not None and not mask[t].all():
                inv = ~mask[t]
                h[inv] = hp[inv]
        self._G, self._H, self._ghn = G, Hb, GHN
        last = 0 if rev else T
        out = Hb[:T] if rev else Hb[1:]
        return out, Hb[last].copy()

    def _backward_gru(self, g, ins):
        x, h0, c0, wih, whh, bih, bhh, mask = ins
        rev = self.reverse
        need = self.needs
        T, B, In = x.shape
        H = whh.shape[1]
        G, Hb = self._G, self._H
        dt = Hb.dtype
        Hprev = Hb[1:] if rev else Hb[:T]
        gout = g[0]
        dh = np.zeros((B, H), dt) if g[1] is None else np.array(g[1], dtype=dt)
        r, z, nn_ = G[0], G[1], G[2]
        # planes [Kn, Kr, Kz, Kh]; times dh_t they become [dn, dr, dz, r dn]: the input side's gradient is
        # planes 1, 2, 0 (torch's r, z, n) and the hidden side's planes 1, 2, 3
        D = np.empty((4, T, B, H), dt)
        Kn, Kr, Kz, Kh = D
        np.multiply(nn_, nn_, out=Kn)
        np.subtract(1, Kn, out=Kn)
        np.subtract(1, z, out=Kz)
        Kn *= Kz  # (1 - z)(1 - n^2)
        np.subtract(Hprev, nn_, out=Kz)
        np.multiply(z, z, out=Kh)
        np.subtract(z, Kh, out=Kh)
        Kz *= Kh  # (h - n) z (1 - z)
        np.multiply(r, r, out=Kr)
        np.subtract(r, Kr, out=Kr)
        Kr *= self._ghn
        Kr *= Kn  # (1 - z)(1 - n^2) (W_hn h + b_hn) r (1 - r)
        np.multiply(Kn, r, out=Kh)
        whh3 = whh.reshape(3, H, H).astype(dt, copy=False)
        Dh = D[1:]
        tmp3 = np.empty((3, B, H), dt)
        dhb = np.empty((B, H), dt)
        dht = np.empty((B, H), dt)
        tmpn = np.empty((B, H), dt)
        for t in (range(T) if rev else range(T - 1, -1, -1)):
            if gout is None:
                dht, dh = dh, dht
            else:
                np.add(dh, gout[t], out=dht)
            D[:, t] *= dht
            inv = None
            if mask is not None and not mask[t].all():
                inv = ~mask[t]
                D[:, t, inv] = 0
            np.matmul(Dh[:, t], whh3, out=tmp3)
            np.add.reduce(tmp3, axis=0, out=dhb)
            np.multiply(dht, z[t], out=tmpn)
            dhb += tmpn
            if inv is not None:
                dhb[inv] = dht[inv]
            dh, dhb = dhb, dh
        D4 = D.reshape(4, T * B, H)
        D4T = D4.transpose(0, 2, 1)
        xin = [1, 2, 0]  # torch's r, z, n blocks of the input side, as planes
        dx = dwih = dwhh = dbih = dbhh = None
        if need[3]:
            dwih = np.empty((3 * H, In), dt)
            dwih.reshape(3, H, In)[[2, 0, 1]] = np.matmul(D4T[:3], x.reshape(T * B, In))
        if need[4]:
            dwhh = np.matmul(D4T[1:], Hprev.reshape(T * B, H)).reshape(3 * H, H)
        want = (bih is not None and need[5], bhh is not None and need[6])
        if want[0] or want[1]:
            db = np.matmul(np.ones(T * B, dt), D4)  # (4, H) row sums as GEMVs
            dbih = db[xin].reshape(3 * H) if want[0] else None
            dbhh = db[1:].reshape(3 * H) if want[1] else None
        if need[0]:  # last: plane 3 (r dn) is free by now and holds the partial products where it is large enough
            wih3 = wih.reshape(3, H, In)
            dx = np.matmul(D4[xin[0]], wih3[0])
            tmp = D4[3].reshape(-1)[:T * B * In].reshape(T * B, In) if In <= H else None
            for k in (1, 2):
                dx += np.matmul(D4[xin[k]], wih3[k], out=tmp)
            dx = dx.reshape(T, B, In)
        return dx, (dh if need[1] else None), None, dwih, dwhh, dbih, dbhh, None

    # ------------------------------------------------------------------ LSTM, gate-major
    # The gates live in planes (4, T, B, H) in the order g, i, f, o: every gate of every step is a
    # contiguous (B, H) block and each gate over all steps a contiguous plane, so the ufuncs run over long
    # contiguous rows (NumPy's per-row cost dominates on the interleaved (T, B, 4H) layout) and the GEMMs
    # are batched over the four gates.

    _BLOCKS = (2, 0, 1, 3)  # plane k holds torch's row block _BLOCKS[k] (i, f, g, o -> g, i, f, o)

    def _forward_lstm(self, x, h0, c0, wih, whh, bih, bhh, mask):
        rev = self.reverse
        T, B, In = x.shape
        H = whh.shape[1]
        blk = list(self._BLOCKS)
        # sigmoid(x) = (1 + tanh(x / 2)) / 2: the rows of i, f, o are halved (exact) so that one tanh covers
        # every gate of a step
        dt = np.result_type(x, wih, whh)
        sc = np.array([1.0, 0.5, 0.5, 0.5], dt)
        b = bih if bhh is None else (bhh if bih is None else bih + bhh)
        # one GEMM projects every step's input, (4, T*B, H); the bias rides in it as a column of ones in the
        # input and a row of the weights (free, where a separate pass over G cost ~15 % of the GEMM)
        nb = 0 if b is None else 1
        wt4 = np.empty((4, In + nb, H), dt)
        wt4[:, :In] = (wih.reshape(4, H, In)[blk] * sc[:, None, None]).transpose(0, 2, 1)
        xa = np.empty((T, B, In + nb), dt)
        xa[..., :In] = x
        if b is not None:
            wt4[:, In] = b.reshape(4, H)[blk] * sc[:, None]
            xa[..., In] = 1
        G = np.matmul(xa.reshape(T * B, In + nb), wt4).reshape(4, T, B, H)
        whhT4 = np.ascontiguousarray((whh.reshape(4, H, H)[blk] * sc[:, None, None]).transpose(0, 2, 1), dtype=dt)
        Hb = np.empty((T + 1, B, H), dt)
        Cb = np.empty((T + 1, B, H), dt)
        TC = np.empty((T, B, H), dt)  # tanh(c_t), for backward
        first = T if rev else 0
        Hb[first] = h0
        Cb[first] = c0
        tmp4 = np.empty((4, B, H), dt)
        tmpn = np.empty((B, H), dt)
        Gs = G[1:]
        for t in (range(T - 1, -1, -1) if rev else range(T)):
            p, c = (t + 1, t) if rev else (t, t + 1)
            a = G[:, t]
            np.matmul(Hb[p], whhT4, out=tmp4)
            a += tmp4
            np.tanh(a, out=a)
            s = Gs[:, t]
            s *= 0.5
            s += 0.5
            cc = Cb[c]
            np.multiply(G[2, t], Cb[p], out=cc)
            np.multiply(G[1, t], G[0, t], out=tmpn)
            cc += tmpn
            tc = TC[t]
            np.tanh(cc, out=tc)
            h = Hb[c]
            np.multiply(tc, G[3, t], out=h)
            if mask is not None and not mask[t].all():
                inv = ~mask[t]
                h[inv] = Hb[p][inv]
                cc[inv] = Cb[p][inv]
        self._G, self._H, self._C, self._TC = G, Hb, Cb, TC
        last = 0 if rev else T
        out = Hb[:T] if rev else Hb[1:]
        return out, Hb[last].copy(), Cb[last].copy()

    def _backward_lstm(self, g, ins):
        x, h0, c0, wih, whh, bih, bhh, mask = ins
        rev = self.reverse
        need = self.needs
        T, B, In = x.shape
        H = whh.shape[1]
        blk = list(self._BLOCKS)
        G, Hb, Cb, TC = self._G, self._H, self._C, self._TC
        dt = Hb.dtype
        Hprev = Hb[1:] if rev else Hb[:T]
        Cprev = Cb[1:] if rev else Cb[:T]
        gout = g[0]
        dh = np.zeros((B, H), dt) if g[1] is None else np.array(g[1], dtype=dt)
        dc = np.zeros((B, H), dt) if g[2] is None else np.array(g[2], dtype=dt)
        # R = o (1 - tanh(c)^2): dc_t = dh_t R_t + dc_{t+1} f_{t+1}
        R = np.multiply(TC, TC)
        np.subtract(1, R, out=R)
        R *= G[3]
        # D: derivative of each gate's output w.r.t. its pre-activation times its partner in the cell
        # (g: (1 - g^2) i; i: i (1 - i) g; f: f (1 - f) c_{t-1}; o: o (1 - o) tanh(c_t)), turned into the
        # pre-activation gradients in place, step by step
        D = np.empty_like(G)
        S, Ds = G[1:], D[1:]
        np.multiply(S, S, out=Ds)
        np.subtract(S, Ds, out=Ds)
        D[1] *= G[0]
        D[2] *= Cprev
        D[3] *= TC
        np.multiply(G[0], G[0], out=D[0])
        np.subtract(1, D[0], out=D[0])
        D[0] *= G[1]
        whh4 = np.ascontiguousarray(whh.reshape(4, H, H)[blk], dtype=dt)
        tmp4 = np.empty((4, B, H), dt)
        dhb = np.empty((B, H), dt)
        Dc = D[:3]
        for t in (range(T) if rev else range(T - 1, -1, -1)):
            dht = dh if gout is None else dh + gout[t]
            dct = np.multiply(dht, R[t])
            dct += dc
            Dc[:, t] *= dct
            D[3, t] *= dht
            if mask is not None and not mask[t].all():
                inv = ~mask[t]
                D[:, t, inv] = 0
                dct[inv] = dc[inv]
                np.multiply(dct, G[2, t], out=dc)
                dc[inv] = dct[inv]
            else:
                inv = None
                np.multiply(dct, G[2, t], out=dc)
            np.matmul(D[:, t], whh4, out=tmp4)
            np.add.reduce(tmp4, axis=0, out=dhb)
            if inv is not None:
                dhb[inv] = dht[inv]
            dh, dhb = dhb, dh
        D3 = D.reshape(4, T * B, H)
        D3T = D3.transpose(0, 2, 1)
        dx = dwih = dwhh = dbih = dbhh = None
        if need[0]:
            wih4 = wih.reshape(4, H, In)[blk]
            dx = np.matmul(D3[0], wih4[0])
            for k in range(1, 4):
                dx += np.matmul(D3[k], wih4[k])
            dx = dx.reshape(T, B, In)

        def unblock(a4):  # (4, H, ...) in plane order -> torch's (4H, ...)
            out = np.empty((4 * H,) + a4.shape[2:], a4.dtype)
            out.reshape((4,) + a4.shape[1:])[blk] = a4
            return out

        if need[3]:
            dwih = unblock(np.matmul(D3T, x.reshape(T * B, In)))
        if need[4]:
            dwhh = unblock(np.matmul(D3T, Hprev.reshape(T * B, H)))
        if (bih is not None and need[5]) or (bhh is not None and need[6]):
            db = unblock(np.matmul(np.ones(T * B, dt), D3))  # row sums as a GEMV (NumPy's sum is ~3x slower)
            dbih = db if bih is not None and need[5] else None
            dbhh = (db.copy() if dbih is not None else db) if bhh is not None and need[6] else None
        return dx, (dh if need[1] else None), (dc if need[2] else None), dwih, dwhh, dbih, dbhh, None

    def _backward_graph(self, g, ins):
        """create_graph=True: recompute the sequence with ember ops step by step and go back through it
        with the per-step formulas, so that the gradient is itself differentiable."""
        x, h0, c0, wih, whh, bih, bhh, mask = ins
        kind, rev = self.kind, self.reverse
        M = _EM
        T, B, In = x.shape
        need = self.needs
        x2 = E.reshape(x, (T * B, In))
        gx = E.unbind(E.reshape(_proj(M, x2, wih, bih), (T, B, whh.shape[0])), 0)
        order = list(range(T - 1, -1, -1) if rev else range(T))
        h, c = h0, c0
        rec = {}
        for t in order:
            gh = _proj(M, h, whh, bhh)
            outs, saved = _cell_fwd(M, kind, gx[t], gh, h, c)
            rec[t] = (h, c, saved)
            h2, c2 = (outs if kind == "lstm" else (outs[0], None))
            if mask is not None and not mask[t].all():
                m = Tensor._wrap(mask[t][:, None].astype(x._data.dtype))
                h2 = m * h2 + (1 - m) * h
                if c2 is not None:
                    c2 = m * c2 + (1 - m) * c
            h, c = h2, c2
        gout = g[0]
        gout_t = E.unbind(gout, 0) if gout is not None else None
        dh, dc = g[1], (g[2] if kind == "lstm" else None)
        dgxs, dghs = [None] * T, [None] * T
        for t in reversed(order):
            hp, cp, saved = rec[t]
            dht = dh if gout_t is None else (gout_t[t] if dh is None else dh + gout_t[t])
            if dht is None:
                dht = E.zeros_like(hp)
            gouts = [dht, dc] if kind == "lstm" else [dht]
            dgx, dgh, direct, dcp = _cell_bwd(M, kind, gouts, saved, hp, cp)
            dhp = M.mm(dgh, whh)
            if direct is not None:
                dhp = dhp + direct
            if mask is not None and not mask[t].all():
                m = Tensor._wrap(mask[t][:, None].astype(x._data.dtype))
                dgx, dgh = dgx * m, dgh * m
                dhp = m * dhp + (1 - m) * dht
                if kind == "lstm":
                    dcp = m * dcp + (1 - m) * (dc if dc is not None else E.zeros_like(cp))
            dgxs[t], dghs[t] = dgx, dgh
            dh, dc = dhp, dcp
        DX = E.reshape(E.stack(dgxs, 0), (T * B, whh.shape[0]))
        DH = E.reshape(E.stack(dghs, 0), (T * B, whh.shape[0]))
        hprev = [rec[t][0] for t in range(T)]
        HP = E.reshape(E.stack(hprev, 0), (T * B, whh.shape[1]))
        dx = E.reshape(M.mm(DX, wih), (T, B, In)) if need[0] else None
        dwih = M.Tmm(DX, x2) if need[3] else None
        dwhh = M.Tmm(DH, HP) if need[4] else None
        dbih = M.sum0(DX) if bih is not None and need[5] else None
        dbhh = M.sum0(DH) if bhh is not None and need[6] else None
        return (dx, dh if need[1] else None, dc if (kind == "lstm" and need[2]) else None, dwih, dwhh, dbih,
                dbhh, None)


def rnn_sequence(kind, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, mask=None):
    """Run one recurrent layer over a whole (T, B, I) sequence as one graph node (see ``_Seq``).

    ``kind`` is "lstm", "gru", "rnn_tanh" or "rnn_relu"; returns ``(out, h_n)`` or ``(out, h_n, c_n)``."""
    if _ac.armed and _ac._state.on and kind in ("rnn_tanh", "rnn_relu"):  # autocast: as torch's RNN (LSTM/GRU: kept)
        x, h0, w_ih, w_hh, b_ih, b_hh = _ac.cast(_ac.LOWER, x, h0, w_ih, w_hh, b_ih, b_hh)
    return _Seq(kind, reverse)(x, h0, c0, w_ih, w_hh, b_ih, b_hh, mask)


# ---------------------------------------------------------------------------- sequence split


def unbind_steps(x):
    """``x.unbind(0)`` (one node in ember's core)."""
    return E.unbind(x, 0)

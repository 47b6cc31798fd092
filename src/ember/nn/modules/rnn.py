"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their single-step ``*Cell`` forms.

Parameter names, shapes, gate order and default initialisation follow torch, so state dicts map one to
one (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``weight_hr_l0`` with
``proj_size``, and ``*_reverse`` for the backward direction). ``RNN``/``LSTM``/``GRU`` run each layer and direction over the whole sequence as one graph node
(``ember.nn._functional_rnn.rnn_sequence``: one GEMM projects every time step's input, the recurrence and
its backward through time loop over NumPy buffers, each weight's gradient is one GEMM over all steps);
with ``proj_size`` (and in the cells) each step is one fused node.
"""
from __future__ import annotations

import math

import numpy as np

from ... import _autocast as _ac
from ... import _ops as E
from ..._random import default_generator
from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from .. import _functional_rnn as R
from ..parameter import Parameter
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_KIND = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}


def _dropout(x, p):
    mask = default_generator.np.random(tuple(x.shape)) >= p
    return x * Tensor._wrap((mask / (1.0 - p)).astype(x._data.dtype))


def _fmt(shape):
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class RNNBase(Module):
    """Shared machinery of ``RNN``, ``LSTM`` and ``GRU``."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive int, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
        if not (0.0 <= float(dropout) <= 1.0) or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing the probability "
                             f"of an element being zeroed, got {dropout!r}")
        if proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size ({proj_size}) has to be smaller than hidden_size ({hidden_size})")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        dirs = 2 if bidirectional else 1
        gate = _GATES[mode] * hidden_size
        real_h = proj_size or hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                in_sz = input_size if layer == 0 else real_h * dirs
                params = [("weight_ih" + sfx, (gate, in_sz)), ("weight_hh" + sfx, (gate, real_h))]
                if bias:
                    params += [("bias_ih" + sfx, (gate,)), ("bias_hh" + sfx, (gate,))]
                if proj_size:
                    params.append(("weight_hr" + sfx, (proj_size, hidden_size)))
                for pname, shape in params:
                    setattr(self, pname, Parameter(E.empty(*shape, dtype=dtype, device=device)))
                    self._flat_weights_names.append(pname)
        self.reset_parameters()

    def reset_parameters(self):
        std = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        with no_grad():
            for p in self.parameters():
                p.uniform_(-std, std)

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in self._flat_weights_names if n.endswith(f"_l{layer}" + sfx)]
                for layer in range(self.num_layers) for sfx in ([""] + (["_reverse"] if self.bidirectional else []))]

    def flatten_parameters(self):
        """Nothing to do: torch packs the weights into one buffer for cuDNN; ember keeps each weight
        its own array (as torch on the CPU, where this is a no-op too)."""

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s

    # ------------------------------------------------------------------ checks

    def _check_input(self, x):
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
        if x.ndim not in (2, 3):
            order = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
            raise RuntimeError(
                f"{name}: expected a 2-D (L, H_in) or 3-D {order} input, got shape {_fmt(x.shape)}"
            )
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                f"{x.shape[-1]} (input shape {_fmt(x.shape)})"
            )
        if x._data.dtype.kind != "f":
            raise RuntimeError(f"{name}: expected a floating-point input, got {x.dtype}")

    def _check_hidden(self, h, expected, what):
        if not isinstance(h, Tensor):
            raise TypeError(f"{type(self).__name__}: {what} must be a Tensor, got {type(h).__name__}")
        if tuple(h.shape) != tuple(expected):
            raise RuntimeError(
                f"{type(self).__name__}: expected {what} of shape {_fmt(expected)} (num_layers * num_directions, "
                f"batch, hidden), got shape {_fmt(h.shape)}"
            )

    # ------------------------------------------------------------------ forward

    def forward(self, input, hx=None):
        from ..utils.rnn import PackedSequence, _repack, pad_packed_sequence

        packed = input if isinstance(input, PackedSequence) else None
        if packed is not None:
            # run the padded (T, B, *) batch in the caller's order; each sequence's state stops at its length
            input, lengths = pad_packed_sequence(packed)
            steps_valid = np.arange(input.shape[0])[:, None] < lengths._data[None, :]
        self._check_input(input)
        x = input
        unbatched = x.ndim == 2 and packed is None
        if unbatched:
            x = E.unsqueeze(x, 1)
        elif self.batch_first and packed is None:
            x = E.transpose(x, 0, 1)
        t_len, batch = x.shape[0], x.shape[1]
        dirs = 2 if self.bidirectional else 1
        real_h = self.proj_size or self.hidden_size
        nl = self.num_layers * dirs
        is_lstm = self.mode == "LSTM"
        h_shape = (nl, batch, real_h)
        c_shape = (nl, batch, self.hidden_size)
        dt = x._data.dtype
        if hx is None:
            h0 = Tensor._wrap(np.zeros(h_shape, dtype=dt))
            c0 = Tensor._wrap(np.zeros(c_shape, dtype=dt)) if is_lstm else None
        else:
            if is_lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError("LSTM: hx must be a tuple (h_0, c_0)")
                h0, c0 = hx
            else:
                h0, c0 = hx, None
            ush = (h_shape[0], h_shape[2]) if unbatched else h_shape
            self._check_hidden(h0, ush, "hidden state h_0" if is_lstm else "hidden state h_0")
            if unbatched:
                h0 = E.unsqueeze(h0, 1)
            if is_lstm:
                ucs = (c_shape[0], c_shape[2]) if unbatched else c_shape
                self._check_hidden(c0, ucs, "cell state c_0")
                if unbatched:
                    c0 = E.unsqueeze(c0, 1)
        h0s = R.unbind_steps(h0) if nl > 1 else (E.reshape(h0, h_shape[1:]),)
        c0s = (R.unbind_steps(c0) if nl > 1 else (E.reshape(c0, c_shape[1:]),)) if is_lstm else None
        kind = _KIND[self.mode]
        mask = None
        if packed is not None and not steps_valid.all():
            mask = steps_valid
        h_n, c_n = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs_dir = []
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                w_ih = getattr(self, "weight_ih" + sfx)
                w_hh = getattr(self, "weight_hh" + sfx)
                b_ih = getattr(self, "bias_ih" + sfx) if self.bias else None
                b_hh = getattr(self, "bias_hh" + sfx) if self.bias else None
                w_hr = getattr(self, "weight_hr" + sfx) if self.proj_size else None
                idx = layer * dirs + d
                if w_hr is None:  # the whole sequence of this layer and direction is one node
                    res = R.rnn_sequence(kind, layer_in, h0s[idx], c0s[idx] if is_lstm else None, w_ih, w_hh,
                                         b_ih, b_hh, reverse=bool(d), mask=mask)
                    outs_dir.append(res[0])
                    h_n.append(res[1])
                    if is_lstm:
                        c_n.append(res[2])
                    continue
                # proj_size: one fused cell node per step and a projection
                flat = E.reshape(layer_in, (t_len * batch, layer_in.shape[2]))
                gx = E.matmul(flat, E.t(w_ih))
                if b_ih is not None:
                    gx = gx + b_ih
                steps = R.unbind_steps(E.reshape(gx, (t_len, batch, gx.shape[1])))
                h = h0s[idx]
                c = c0s[idx] if is_lstm else None
                outs = [None] * t_len
                order = range(t_len - 1, -1, -1) if d else range(t_len)
                for t in order:
                    h_prev, c_prev = h, c
                    res = R._Cell(kind)(steps[t], h, c, None, w_hh, None, b_hh)
                    if is_lstm:
                        h, c = res
                        if w_hr is not None:
                            h = E.matmul(h, E.t(w_hr))
                    else:
                        h = res[0]
                    if packed is not None and not steps_valid[t].all():
                        keep = Tensor._wrap(steps_valid[t][:, None])
                        h = E.where(keep, h, h_prev)
                        if is_lstm:
                            c = E.where(keep, c, c_prev)
                    outs[t] = h
                h_n.append(h)
                if is_lstm:
                    c_n.append(c)
                outs_dir.append(E.stack(outs, 0))
            layer_out = outs_dir[0] if dirs == 1 else E.cat(outs_dir, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_out = _dropout(layer_out, self.dropout)
            layer_in = layer_out
        out = layer_in
        hn = E.stack(h_n, 0)
        cn = E.stack(c_n, 0) if is_lstm else None
        if packed is not None:
            out = _repack(out, packed)
        elif unbatched:
            out = E.squeeze(out, 1)
            hn = E.squeeze(hn, 1)
            cn = E.squeeze(cn, 1) if is_lstm else None
        elif self.batch_first:
            out = E.transpose(out, 0, 1)
        return (out, (hn, cn)) if is_lstm else (out, hn)


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    >>> rnn = ember.nn.RNN(10, 20, num_layers=2)
    >>> out, h = rnn(ember.randn(5, 3, 10))
    >>> out.shape, h.shape
    (ember.Size([5, 3, 20]), ember.Size([2, 3, 20]))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype)


class LSTM(RNNBase):
    """Long short-term memory (torch's gate order i, f, g, o); returns output, (h_n, c_n).

    >>> lstm = ember.nn.LSTM(10, 20, batch_first=True)
    >>> out, (h, c) = lstm(ember.randn(3, 5, 10))
    >>> out.shape
    ember.Size([3, 5, 20])
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (torch's gate order r, z, n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         device, dtype)


# ============================================================================ cells


class RNNCellBase(Module):
    _gates = 1

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        g = num_chunks * hidden_size
        self.weight_ih = Parameter(E.empty(g, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(E.empty(g, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(E.empty(g, dtype=dtype, device=device))
            self.bias_hh = Parameter(E.empty(g, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        std = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        with no_grad():
            for p in self.parameters():
                p.uniform_(-std, std)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity='{self.nonlinearity}'"
        return s

    def _prep(self, x, hx, names):
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
        if x.ndim not in (1, 2):
            raise RuntimeError(
                f"{name}: expected a 1-D (input_size,) or 2-D (batch, input_size) input, got shape {_fmt(x.shape)}"
            )
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{name}: input has {x.shape[-1]} features (shape {_fmt(x.shape)}) but input_size={self.input_size}"
            )
        unbatched = x.ndim == 1
        if unbatched:
            x = E.unsqueeze(x, 0)
        exp = (x.shape[0], self.hidden_size)
        states = []
        hs = hx if len(names) > 1 else (hx,)
        if hx is None:
            hs = (None,) * len(names)
        elif len(names) > 1 and (not isinstance(hx, (tuple, list)) or len(hx) != len(names)):
            raise TypeError(f"{name}: hx must be a tuple (h, c)")
        for h, what in zip(hs, names):
            if h is None:
                states.append(Tensor._wrap(np.zeros(exp, dtype=x._data.dtype)))
                continue
            want = exp[1:] if unbatched else exp
            if not isinstance(h, Tensor) or tuple(h.shape) != want:
                got = _fmt(h.shape) if isinstance(h, Tensor) else type(h).__name__
                raise RuntimeError(f"{name}: expected {what} of shape {_fmt(want)}, got {got}")
            states.append(E.unsqueeze(h, 0) if unbatched else h)
        return x, states, unbatched


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), unb = self._prep(input, hx, ("hidden state",))
        w = (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if _ac.armed and _ac._state.on:  # autocast: torch's RNNCell runs in lower precision
            x, h, *w = _ac.cast(_ac.LOWER, x, h, *w)
        y = R._Cell("rnn_" + self.nonlinearity)(x, h, None, *w)[0]
        return E.squeeze(y, 0) if unb else y


class LSTMCell(RNNCellBase):
    """One LSTM step; returns (h', c').

    >>> cell = ember.nn.LSTMCell(10, 20)
    >>> h, c = cell(ember.randn(3, 10))
    """

    _gates = 4

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        x, (h, c), unb = self._prep(input, hx, ("hidden state h", "cell state c"))
        h2, c2 = R._Cell("lstm")(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if unb:
            return E.squeeze(h2, 0), E.squeeze(c2, 0)
        return h2, c2


class GRUCell(RNNCellBase):
    """One GRU step."""

    _gates = 3

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), unb = self._prep(input, hx, ("hidden state",))
        y = R._Cell("gru")(x, h, None, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)[0]
        return E.squeeze(y, 0) if unb else y

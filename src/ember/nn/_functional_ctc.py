"""``ctc_loss``: Connectionist Temporal Classification, forward-backward in log space.

The node runs the alpha (forward) and beta (backward) recursions over the blank-extended target for the
whole batch at once (vectorised over samples and label positions, one NumPy step per time step) and keeps
the gradient it implies. Like torch, the gradient it returns with respect to ``log_probs`` is
``exp(log_probs) - exp(log_alpha_beta - log_probs + nll)``: the gradient of the loss with respect to the
*logits* when ``log_probs = log_softmax(logits)`` (the ``exp(log_probs)`` term vanishes through
log_softmax), so chained through ``log_softmax`` it is exact, and it matches torch's values bit for bit in
spirit. Time steps past a sample's input length get zero gradient.
"""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from ..autograd.engine import Node
from .. import _autocast as _ac

__all__ = ["ctc_loss"]

_NEG = -np.inf


def _lse(*xs):
    m = xs[0]
    for x in xs[1:]:
        m = np.maximum(m, x)
    safe = np.where(np.isfinite(m), m, 0.0)
    s = sum(np.exp(x - safe) for x in xs)
    with np.errstate(divide="ignore"):
        return np.log(s) + safe


def _ctc_forward_backward(lp, targets, in_len, tg_len, blank):
    """lp (T, N, C) float64, targets (N, S) int64 padded. Returns nll (N,) and grad (T, N, C)."""
    t_max, n, c = lp.shape
    s_max = targets.shape[1] if targets.ndim == 2 else 0
    width = 2 * s_max + 1
    ext = np.full((n, width), blank, dtype=np.int64)
    if s_max:
        ext[:, 1::2] = targets
    pos = np.arange(width)
    valid_s = pos[None, :] < (2 * tg_len[:, None] + 1)  # (n, width)
    # s-2 transition allowed where the label is not blank and differs from the one two back
    skip = np.zeros((n, width), dtype=bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    bi = np.arange(n)[:, None]
    lpl = lp[:, bi, ext]  # (T, n, width)
    lpl = np.where(valid_s[None], lpl, _NEG)

    alpha = np.full((t_max, n, width), _NEG)
    if t_max:
        alpha[0, :, 0] = lpl[0, :, 0]
        if width > 1:
            alpha[0, :, 1] = np.where(tg_len > 0, lpl[0, :, 1], _NEG)
    for t in range(1, t_max):
        a = alpha[t - 1]
        a1 = np.concatenate([np.full((n, 1), _NEG), a[:, :-1]], 1)
        a2 = np.concatenate([np.full((n, 2), _NEG), a[:, :-2]], 1)
        a2 = np.where(skip, a2, _NEG)
        alpha[t] = _lse(a, a1, a2) + lpl[t]
    last = np.clip(in_len - 1, 0, max(t_max - 1, 0))
    rows = np.arange(n)
    end_b = 2 * tg_len
    a_last = alpha[last, rows] if t_max else np.full((n, width), _NEG)
    ll = _lse(a_last[rows, end_b], np.where(tg_len > 0, a_last[rows, np.maximum(end_b - 1, 0)], _NEG))
    ll = np.where(in_len > 0, ll, np.where(tg_len == 0, 0.0, _NEG))
    nll = -ll

    beta = np.full((t_max, n, width), _NEG)
    for t in range(t_max - 1, -1, -1):
        if t + 1 < t_max:
            b = beta[t + 1]
            b1 = np.concatenate([b[:, 1:], np.full((n, 1), _NEG)], 1)
            b2 = np.concatenate([b[:, 2:], np.full((n, 2), _NEG)], 1)
            skip2 = np.concatenate([skip[:, 2:], np.zeros((n, 2), dtype=bool)], 1)
            b2 = np.where(skip2, b2, _NEG)
            cur = _lse(b, b1, b2) + lpl[t]
        else:
            cur = np.full((n, width), _NEG)
        init = np.full((n, width), _NEG)
        init[rows, end_b] = lpl[t, rows, end_b]
        init[rows, np.maximum(end_b - 1, 0)] = np.where(
            tg_len > 0, lpl[t, rows, np.maximum(end_b - 1, 0)], init[rows, np.maximum(end_b - 1, 0)])
        is_last = (in_len - 1) == t
        cur = np.where(is_last[:, None], init, cur)
        cur = np.where((t >= in_len)[:, None], _NEG, cur)
        beta[t] = cur

    ab = alpha + beta  # (T, n, width), log of alpha*beta (the emission counted twice)
    m = np.max(ab, axis=2, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    acc = np.zeros((t_max, n, c))
    tt = np.arange(t_max)[:, None, None]
    nn_ = np.arange(n)[None, :, None]
    np.add.at(acc, (tt, nn_, ext[None, :, :]), np.exp(ab - m_safe))
    with np.errstate(divide="ignore"):
        lcab = np.log(acc) + m_safe
    with np.errstate(invalid="ignore", over="ignore"):
        grad = np.exp(lp) - np.exp(lcab + nll[None, :, None] - lp)
    grad = np.where((np.arange(t_max)[:, None] < in_len[None, :])[:, :, None], grad, 0.0)
    return nll, grad


class _CTC(Node):
    """Per-sample negative log-likelihoods (N,); backward scales the gradient kept from forward."""

    needs_inputs = False
    saves = {}

    def name(self):
        return "CtcLossBackward0"

    def __init__(self, targets, in_len, tg_len, blank, zero_infinity):
        self.targets, self.in_len, self.tg_len = targets, in_len, tg_len
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, lp):
        dt = lp.dtype
        nll, grad = _ctc_forward_backward(lp.astype(np.float64), self.targets, self.in_len, self.tg_len, self.blank)
        if self.zero_infinity:
            bad = ~np.isfinite(nll)
            nll = np.where(bad, 0.0, nll)
            grad = np.where(bad[None, :, None], 0.0, grad)
        self.grad = grad.astype(dt)
        return nll.astype(dt)

    def backward(self, ns, g, ins, out):
        if isinstance(g, Tensor):
            return (Tensor._wrap(self.grad) * g.reshape(1, -1, 1),)
        return (self.grad * g.reshape(1, -1, 1),)


def _lengths(v, n, what, op):
    a = v._data if isinstance(v, Tensor) else np.asarray(v)
    if a.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: {what} must be integers (a list or an int64 tensor), got {a.dtype}")
    a = a.astype(np.int64).reshape(-1)
    if a.size != n:
        raise RuntimeError(f"{op}: {what} must have one entry per batch element ({n}), got {a.size}")
    return a


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """The CTC loss of (T, N, C) (or unbatched (T, C)) log-probabilities against ``targets`` given as (N, S)
    padded labels or one 1-D concatenation of all target sequences. ``reduction='mean'`` divides each loss by
    its target length and averages over the batch; ``zero_infinity`` turns impossible alignments (infinite
    loss) into 0 with zero gradient."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, ctc_loss, log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
    op = "ctc_loss"
    if not isinstance(log_probs, Tensor) or log_probs._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: log_probs must be a floating-point ember Tensor of shape (T, N, C)")
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(
            f"{op}: log_probs must be 3-D (T, N, C) or 2-D (T, C) for an unbatched input, got shape "
            f"{tuple(log_probs.shape)}"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; use 'mean', 'sum' or 'none'")
    unbatched = log_probs.ndim == 2
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    t_max, n, c = lp.shape
    if not 0 <= blank < c:
        raise RuntimeError(f"{op}: blank must be in label range [0, {c - 1}], got blank={blank}")
    tg = targets._data if isinstance(targets, Tensor) else np.asarray(targets)
    if tg.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: targets must be integer class indices (int64), got {tg.dtype}")
    tg = tg.astype(np.int64)
    in_len = _lengths(input_lengths, n, "input_lengths", op)
    tg_len = _lengths(target_lengths, n, "target_lengths", op)
    if (in_len < 0).any() or (in_len > t_max).any():
        raise RuntimeError(
            f"{op}: input_lengths must be in [0, {t_max}] (the time dimension of log_probs), got {in_len.tolist()}"
        )
    if (tg_len < 0).any():
        raise RuntimeError(f"{op}: target_lengths must be non-negative, got {tg_len.tolist()}")
    if unbatched and tg.ndim == 1 or tg.ndim == 2 and not unbatched:
        padded = tg.reshape(n, -1)
        if padded.shape[1] < (tg_len.max() if n else 0):
            raise RuntimeError(
                f"{op}: targets of shape {tuple(tg.shape)} are shorter than the largest target length "
                f"{int(tg_len.max())}"
            )
    elif tg.ndim == 1:
        if tg.size < tg_len.sum():
            raise RuntimeError(
                f"{op}: 1-D concatenated targets have {tg.size} labels but target_lengths sum to {int(tg_len.sum())}"
            )
        s_max = int(tg_len.max()) if n else 0
        padded = np.full((n, s_max), blank, dtype=np.int64)
        start = 0
        for i, ln in enumerate(tg_len):
            padded[i, :ln] = tg[start:start + ln]
            start += ln
    else:
        raise RuntimeError(
            f"{op}: targets must be (N, S) padded or 1-D concatenated, got shape {tuple(tg.shape)} for log_probs "
            f"of shape {tuple(log_probs.shape)}"
        )
    s_max = int(tg_len.max()) if n else 0
    padded = padded[:, :s_max]
    mask = np.arange(s_max)[None, :] < tg_len[:, None]
    if (mask & ((padded < 0) | (padded >= c))).any():
        raise RuntimeError(f"{op}: target labels must be in [0, {c - 1}] for {c} classes")
    if (mask & (padded == blank)).any():
        raise RuntimeError(f"{op}: targets must not contain the blank label ({blank})")
    padded = np.where(mask, padded, blank)
    loss = _CTC(padded, in_len, tg_len, blank, zero_infinity)(lp)
    if reduction == "none":
        return loss.squeeze(0) if unbatched else loss
    if reduction == "sum":
        return loss.sum()
    div = Tensor._wrap(np.maximum(tg_len, 1).astype(loss._data.dtype))
    return (loss / div).mean()

"""ctc_loss / CTCLoss against torch: values and gradients (float32 and float64), every reduction,
zero_infinity, padded and concatenated targets, unbatched input; gradcheck through log_softmax."""
import numpy as np
import pytest

import ember
from tests._helpers import check

T, N, C = 7, 4, 5
TARGETS = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [4, 4, 4, 0], [2, 0, 0, 0]], dtype=np.int64)  # 0 = padding
TLEN = np.array([3, 2, 3, 1], dtype=np.int64)
ILEN = np.array([7, 5, 6, 2], dtype=np.int64)


def _ctc(L, x, tg, il, tl, **kw):
    return L.nn.functional.ctc_loss(x.log_softmax(2), tg, il, tl, **kw)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_padded_targets(reduction):
    check(lambda L, x, tg, il, tl: _ctc(L, x, tg, il, tl, reduction=reduction), (T, N, C), TARGETS, ILEN, TLEN,
          gradgrad=False)


def test_ctc_concatenated_targets_and_blank():
    flat = np.concatenate([TARGETS[i, :TLEN[i]] for i in range(N)])
    flat = np.where(flat == 4, 0, flat)   # blank = 4 below: relabel so no target is 4
    check(lambda L, x, tg, il, tl: _ctc(L, x, tg, il, tl, blank=4), (T, N, C), flat, ILEN, TLEN, gradgrad=False)


def test_ctc_grad_wrt_log_probs_matches_torch():
    # torch's gradient w.r.t. log_probs is exp(lp) - posterior (the logit gradient); ember returns the same
    check(lambda L, lp, tg, il, tl: L.nn.functional.ctc_loss(lp, tg, il, tl), (T, N, C), TARGETS, ILEN, TLEN,
          gradcheck=False, gradgrad=False, low=-3.0, high=-0.5)


def test_ctc_zero_infinity_and_impossible():
    il = np.array([7, 5, 2, 2], dtype=np.int64)    # sample 2 needs >= 5 frames for "4 4 4": impossible
    for zi in (True, False):
        check(lambda L, x, tg, i, tl, zi=zi: _ctc(L, x, tg, i, tl, reduction="none", zero_infinity=zi),
              (T, N, C), TARGETS, il, TLEN, grad=zi, gradcheck=False, gradgrad=False)
    check(lambda L, x, tg, i, tl: _ctc(L, x, tg, i, tl, reduction="sum", zero_infinity=True), (T, N, C), TARGETS,
          il, TLEN, gradgrad=False)


def test_ctc_unbatched_and_module():
    check(lambda L, x, tg: L.nn.CTCLoss(blank=0)(x.log_softmax(1), tg, [6], [3]), (6, C),
          np.array([1, 3, 3], dtype=np.int64), gradgrad=False)
    check(lambda L, x, tg: L.nn.CTCLoss(reduction="none")(x.log_softmax(2), tg, (7, 7, 7, 7), (3, 2, 3, 1)),
          (T, N, C), TARGETS, gradgrad=False)


def test_ctc_errors():
    F = ember.nn.functional
    lp = ember.randn(T, N, C).log_softmax(2)
    tg, il, tl = ember.from_numpy(TARGETS), ember.from_numpy(ILEN), ember.from_numpy(TLEN)
    with pytest.raises(RuntimeError, match=r"ctc_loss: log_probs must be 3-D \(T, N, C\)"):
        F.ctc_loss(ember.randn(2, 3, 4, 5), tg, il, tl)
    with pytest.raises(RuntimeError, match=r"ctc_loss: input_lengths must be in \[0, 7\]"):
        F.ctc_loss(lp, tg, ember.tensor([8, 1, 1, 1]), tl)
    with pytest.raises(RuntimeError, match="ctc_loss: targets must not contain the blank label"):
        F.ctc_loss(lp, ember.zeros(4, 3, dtype=ember.int64), il, tl)
    with pytest.raises(RuntimeError, match="ctc_loss: target_lengths must have one entry per batch element"):
        F.ctc_loss(lp, tg, il, ember.tensor([1, 2]))
    with pytest.raises(ValueError, match="ctc_loss: 'avg' is not a valid value for reduction"):
        F.ctc_loss(lp, tg, il, tl, reduction="avg")
    assert _ctc(ember, ember.randn(T, N, C, requires_grad=True), tg, il, tl, reduction="none").grad_fn.name() == "CtcLossBackward0"

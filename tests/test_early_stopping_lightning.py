"""EarlyStopping's stopping criteria against Lightning's own, on scripted metric sequences: every
branch of _evaluate_stopping_criteria (non-finite, stopping/divergence thresholds, improvement with a
positive, zero or negative min_delta, patience)."""

import itertools
import math
import warnings

import pytest

from ember.train.callbacks import EarlyStopping

SEQS = [
    [1.0, 0.9, 0.95, 0.92, 0.91, 0.5, 0.6, 0.61, 0.62, 0.63],
    [1.0, 1.05, 1.08, 1.02, 1.1, 1.2, 0.7, 0.71, 0.69],
    [0.5, 0.5, 0.5, 0.5, 0.49, 0.48],
    [2.0, 1.0, float("nan"), 0.5],
    [1.0, 3.0, 0.1, 0.05, 9.0],
]


@pytest.mark.parametrize("seq,mode,min_delta,extra", list(itertools.product(
    range(len(SEQS)), ["min", "max"], [0.0, 0.04, -0.04, -0.2],
    [{}, {"stopping_threshold": 0.3}, {"divergence_threshold": 2.5}, {"check_finite": False}])))
def test_stopping_criteria_match_lightning(seq, mode, min_delta, extra):
    torch = pytest.importorskip("torch")
    pl_es = pytest.importorskip("lightning.pytorch.callbacks.early_stopping")
    if mode == "max":
        extra = {k: (-v if isinstance(v, float) else v) for k, v in extra.items()}
    kw = dict(monitor="val_loss" if mode == "min" else "val_acc", mode=mode, min_delta=min_delta, patience=2, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pl_es.EarlyStopping(**kw)
        ours = EarlyStopping(**kw)
    values = SEQS[seq] if mode == "min" else [-v for v in SEQS[seq]]
    for i, v in enumerate(values):
        want_stop, _ = ref._evaluate_stopping_criteria(torch.tensor(v, dtype=torch.float64))
        got_stop, _ = ours._evaluate_stopping_criteria(v)
        assert got_stop == want_stop, (i, v)
        assert ours.wait_count == ref.wait_count, (i, v)
        best = float(ref.best_score)
        assert ours.best_score == best or (math.isnan(best) and math.isnan(ours.best_score)), (i, v)

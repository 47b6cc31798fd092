"""What the fit loop records at each consistent point, cheaply (the Trainer's per-step overhead budget).

The RNG capture (ember.train._checkpoint.capture_rng) reads Python's and NumPy's global states through a
cheap change check; whatever was drawn in between, it must return exactly what getstate()/get_state()
return. The logged results are recorded as plain data without the generic walk."""
import random

import numpy as np
import pytest

from ember.train import _checkpoint as C


def _same_numpy(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


DRAWS = [
    lambda: None,  # nothing drawn: the cached state comes back
    lambda: random.random(),
    lambda: random.gauss(0, 1),  # computes two values, caches one in gauss_next
    lambda: random.gauss(0, 1),  # uses the cached value: the generator's words do not change
    lambda: random.seed(7),
    lambda: random.setstate(random.getstate()),
    lambda: random.getrandbits(64),
    lambda: np.random.random(3),
    lambda: np.random.randn(1),  # legacy gaussian: draws a pair, caches one (has_gauss)
    lambda: np.random.randn(1),  # uses the cache: the bit generator does not change
    lambda: np.random.randn(1),
    lambda: np.random.seed(3),
    lambda: np.random.set_state(np.random.get_state()),
    lambda: np.random.randint(0, 10, 1000),  # wraps the 624-word key
]


@pytest.mark.parametrize("order", [0, 1, 2])
def test_capture_equals_getstate_after_every_kind_of_draw(order):
    rng = np.random.default_rng(order)
    seq = [DRAWS[i] for i in rng.permutation(len(DRAWS))] * 2 if order else DRAWS * 2
    for draw in seq:
        draw()
        st = C.capture_rng(raw=True)
        assert st[1] == random.getstate()
        assert _same_numpy(st[2], np.random.get_state())
        st2 = C.capture_rng(raw=True)  # twice without a draw: the cached states, equal too
        assert st2[1] == random.getstate() and _same_numpy(st2[2], np.random.get_state())


def test_capture_fast_paths_are_taken_and_restore_round_trips():
    C.capture_rng(raw=True)
    np.random.random()
    random.random()
    C.capture_rng(raw=True)
    assert C._PY_FAST[0] is True and C._NP_FAST[0] is True  # the layout check passed on this build
    saved = C.capture_rng()
    a = (random.random(), np.random.randn(3).tolist())
    C.restore_rng(saved)
    assert (random.random(), np.random.randn(3).tolist()) == a


def test_capture_falls_back_when_the_layout_check_failed(monkeypatch):
    monkeypatch.setattr(C, "_PY_FAST", [False])
    monkeypatch.setattr(C, "_NP_FAST", [False])
    random.random()
    np.random.random()
    st = C.capture_rng(raw=True)
    assert st[1] == random.getstate() and _same_numpy(st[2], np.random.get_state())


def test_results_storable_state_matches_the_generic_conversion():
    import ember
    from ember.train._ckpt_connector import _storable
    from ember.train._logging import MetricValue, ResultCollection

    class T:
        pass

    rc = ResultCollection(T())
    ms = rc.metrics
    from ember.train._logging import _Metric

    for i, (total, step) in enumerate([(ember.tensor(2.5), ember.tensor([1.5])), (3, 1.25), (MetricValue(0.5), None),
                                       (np.float64(4.0), True)]):
        m = _Metric(f"m{i}", "train", "training_step", True, True, "mean", False, True)
        m.total, m.weight, m.step_value = total, 2.0, step
        ms[(m.stage, m.name)] = m
    rc.seen = {"m0": {"train:training_step"}}
    fast, slow = rc.storable_state_dict(), _storable(rc.state_dict())
    assert fast == slow
    for row in fast["metrics"]:
        assert all(type(v) in (str, bool, int, float, type(None)) for v in row)

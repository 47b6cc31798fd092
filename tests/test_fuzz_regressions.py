"""Minimal regression tests for the bugs that the differential fuzzer (tests/test_fuzz_torch.py) found.

Each test pins one mismatch against torch: the input that showed it and torch's answer.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


# ------------------------------------------------------------------------------------------- indexing
@pytest.mark.parametrize("idx", [
    lambda m, i: (0, slice(None), m),                  # int, slice, mask: torch keeps the mask's dim in place
    lambda m, i: (slice(None), 0, slice(None), i),     # numpy would move the advanced dims first
    lambda m, i: (0, slice(0, 1), m, slice(None, None, 2), None),
    lambda m, i: (i, 1, i),                            # adjacent once the int is gone
    lambda m, i: (slice(None), i, 0),
])
def test_getitem_int_with_advanced_index_keeps_torch_dim_order(idx):
    x = np.arange(4 * 4 * 3 * 4, dtype=np.float64).reshape(4, 4, 3, 4)
    res = []
    for L in (torch, ember):
        t = L.from_numpy(x.copy()).requires_grad_(True)
        y = t[idx(L.tensor([True, False, True]), L.tensor([2, -1, 0]))]
        w = L.from_numpy(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)))
        (y * w).sum().backward()
        res.append((tuple(y.shape), y.detach().numpy(), t.grad.numpy()))
    assert res[1][0] == res[0][0]
    np.testing.assert_array_equal(res[1][1], res[0][1])
    np.testing.assert_array_equal(res[1][2], res[0][2])


def test_setitem_int_with_mask_keeps_torch_dim_order():
    x = np.zeros((4, 4, 3, 4))
    v = np.arange(4 * 2 * 4, dtype=np.float64).reshape(4, 2, 4)
    res = []
    for L in (torch, ember):
        t = L.from_numpy(x.copy())
        t[0, :, L.tensor([True, False, True])] = L.from_numpy(v.copy())
        res.append(t.numpy())
    np.testing.assert_array_equal(res[1], res[0])


# -------------------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("s", [3, 3.0, True])
@pytest.mark.parametrize("first", [True, False])
def test_where_python_scalar_keeps_the_tensor_dtype(s, first):
    for L in (torch, ember):
        c, t = L.tensor([True, False]), L.zeros(2)
        out = L.where(c, s, t) if first else L.where(c, t, s)
        assert str(out.dtype).split(".")[-1] == "float32"


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_of_empty_float32_stays_float32(fn):
    out = getattr(ember.zeros(0, 3), fn)(-1)
    assert out.dtype == ember.float32 and tuple(out.shape) == (0, 3)
    out = getattr(ember.zeros(3, 0), fn)(-1)
    assert out.dtype == ember.float32 and tuple(out.shape) == (3, 0)

"""Fractional max pooling (F.fractional_max_pool2d/3d, nn.FractionalMaxPool2d/3d) against torch: with the same
``_random_samples``, outputs, indices and gradients are equal to torch's exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as EF
import torch.nn.functional as TF

CASES = [
    (2, (2, 3, 9, 8), 3, dict(output_size=(4, 5))),
    (2, (3, 10, 7), (2, 3), dict(output_size=(6, 4))),
    (2, (1, 2, 5, 5), 2, dict(output_size=1)),
    (2, (2, 2, 12, 11), 2, dict(output_ratio=(0.5, 0.5))),
    (2, (2, 2, 12, 11), (3, 2), dict(output_ratio=(0.4, 0.7))),
    (3, (2, 2, 7, 6, 8), (2, 2, 3), dict(output_size=(4, 3, 5))),
    (3, (2, 7, 7, 7), 2, dict(output_ratio=(0.5, 0.5, 0.5))),
]


def _run(lib, nd, x, k, kw, s, g, with_indices):
    t = lib.tensor(x, requires_grad=True)
    f = getattr(lib.nn.functional, f"fractional_max_pool{nd}d" + ("_with_indices" if with_indices else ""))
    out, idx = (f(t, k, **kw, _random_samples=lib.tensor(s)) if with_indices
                else f(t, k, **kw, return_indices=True, _random_samples=lib.tensor(s)))
    out.backward(lib.tensor(g))
    return out.detach().numpy(), idx.numpy(), t.grad.numpy(), out.grad_fn.name()


@pytest.mark.parametrize("nd,shape,k,kw", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_torch_exactly_with_samples(nd, shape, k, kw, dtype):
    rng = np.random.default_rng(len(shape) * 7 + nd)
    x = rng.standard_normal(shape).astype(dtype)
    x[(0,) * (len(shape) - 2) + (1, 1)] = x[(0,) * (len(shape) - 2) + (1, 2)]  # a tie: the first max wins
    n = 1 if len(shape) == nd + 1 else shape[0]
    s = rng.random((n, shape[-nd - 1], nd)).astype(dtype)
    with torch.no_grad():
        out_shape = getattr(TF, f"fractional_max_pool{nd}d")(torch.tensor(x), k, **kw,
                                                             _random_samples=torch.tensor(s)).shape
    g = rng.standard_normal(tuple(out_shape)).astype(dtype)
    for wi in (False, True):
        e = _run(ember, nd, x, k, kw, s, g, wi)
        t = _run(torch, nd, x, k, kw, s, g, wi)
        for a, b in zip(e[:3], t[:3]):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        assert e[3] == t[3]


def test_nan_and_inf_in_windows_as_torch():
    x = np.arange(2 * 1 * 6 * 6, dtype=np.float64).reshape(2, 1, 6, 6) % 7
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 1, 0] = np.nan
    x[1, 0] = -np.inf
    s = np.full((2, 1, 2), 0.3)
    res = [L.nn.functional.fractional_max_pool2d(L.tensor(x), 2, output_size=3, return_indices=True,
                                                             _random_samples=L.tensor(s)) for L in (ember, torch)]
    np.testing.assert_array_equal(res[0][0].numpy(), res[1][0].numpy())
    np.testing.assert_array_equal(res[0][1].numpy(), res[1][1].numpy())


def test_gradcheck_and_double_backward():
    x = ember.randn(1, 2, 7, 7, dtype=ember.float64, requires_grad=True)
    s = ember.rand(1, 2, 2, dtype=ember.float64)

    def f(t):
        return EF.fractional_max_pool2d(t, 2, output_size=(4, 3), _random_samples=s)

    assert ember.autograd.gradcheck(f, (x,))
    assert ember.autograd.gradgradcheck(f, (x,))


def test_modules_match_torch_and_draw_from_embers_generator():
    x = np.random.default_rng(1).standard_normal((2, 3, 10, 9)).astype(np.float32)
    s = np.random.default_rng(2).random((2, 3, 2)).astype(np.float32)
    em = ember.nn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.6), return_indices=True, _random_samples=ember.tensor(s))
    tm = torch.nn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.6), return_indices=True, _random_samples=torch.tensor(s))
    (eo, ei), (to, ti) = em(ember.tensor(x)), tm(torch.tensor(x))
    np.testing.assert_array_equal(eo.numpy(), to.numpy())
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    assert repr(em) == repr(tm) == "FractionalMaxPool2d()"
    assert list(em.state_dict()) == list(tm.state_dict()) == ["_random_samples"]
    m3 = ember.nn.FractionalMaxPool3d(2, output_size=3)
    assert tuple(m3(ember.randn(1, 2, 6, 6, 6)).shape) == (1, 2, 3, 3, 3)
    # no samples: drawn from ember's generator, reproducible with manual_seed (the stream is not torch's)
    m = ember.nn.FractionalMaxPool2d(2, output_size=5)
    xe = ember.randn(2, 3, 11, 11)
    ember.manual_seed(5)
    a = m(xe)
    ember.manual_seed(5)
    assert ember.equal(a, m(xe))


@pytest.mark.parametrize("call,exc,msg", [
    (lambda L: L.nn.functional.fractional_max_pool2d(L.randn(2, 3, 9, 8), 3), ValueError,
     "requires specifying either an output_size or an output_ratio"),
    (lambda L: L.nn.functional.fractional_max_pool2d(L.randn(2, 3, 9, 8), 3, output_size=8), RuntimeError,
     "pool height 3 too large relative to input height 9"),
    (lambda L: L.nn.functional.fractional_max_pool2d(L.randn(2, 3, 9, 8), 3, output_ratio=(0.5, 0.5, 0.5)),
     ValueError, "output_ratio to either be a single Int or tuple of Ints"),
    (lambda L: L.nn.functional.fractional_max_pool2d(L.randn(2, 3, 9, 8), 3, output_size=4,
                                                     _random_samples=L.rand(2, 3, 3)), RuntimeError,
     r"Expect _random_samples.size\(2\) equals to 2; got 3"),
    (lambda L: L.nn.functional.fractional_max_pool2d(L.randn(2, 3, 9, 8), 3, output_size=4,
                                                     _random_samples=L.rand(1, 3, 2)), RuntimeError,
     r"Expect _random_samples.size\(0\) no less then input batch size"),
    (lambda L: L.nn.functional.fractional_max_pool2d(L.randn(2, 3, 9, 8), 3, output_size=4,
                                                     _random_samples=L.rand(2, 3, 2, dtype=L.float64)),
     RuntimeError, "Expect _random_samples to have the same dtype as input"),
    (lambda L: L.nn.FractionalMaxPool2d(3), ValueError, "requires specifying either an output size, or a pooling ratio"),
    (lambda L: L.nn.FractionalMaxPool2d(3, output_size=2, output_ratio=0.5), ValueError,
     "only one of output_size and output_ratio may be specified"),
    (lambda L: L.nn.FractionalMaxPool3d(3, output_ratio=1.5), ValueError, r"output_ratio must be between 0 and 1"),
])
def test_errors_as_torch(call, exc, msg):
    for L in (torch, ember):
        with pytest.raises(exc, match=msg):
            call(L)


def test_ember_only_errors():
    with pytest.raises(RuntimeError, match=r"fractional_max_pool2d\(\): expected a 3-D \(C, H, W\) or 4-D"):
        EF.fractional_max_pool2d(ember.randn(9, 8), 3, output_size=4)
    with pytest.raises(RuntimeError, match="kernel_size must be positive"):
        EF.fractional_max_pool2d(ember.randn(1, 1, 9, 8), 0, output_size=4)
    with pytest.raises(RuntimeError, match="expected a floating-point input"):
        EF.fractional_max_pool2d(ember.ones(1, 1, 9, 8, dtype=ember.int64), 2, output_size=4)

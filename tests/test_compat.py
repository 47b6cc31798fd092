"""The promise "a torch script runs after changing its import and gives torch's numbers", tested.

Each program in ``tests/compat/`` is written once against a torch-like module and run twice: with
``torch`` and with ``ember`` passed as ``torch``. Initial weights are copied from the torch run into
the ember run (their random streams differ); data comes from NumPy with fixed seeds. The final
numbers (losses, accuracies, parameter checksums, sampled text, ...) must agree.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

import ember
import ember.linalg  # noqa: F401  (until ember/__init__ loads it lazily like nn and optim)
from compat.char_lstm import char_lstm
from compat.cnn import small_cnn
from compat.custom_autograd import custom_autograd
from compat.gan import tiny_gan
from compat.mlp import mlp_classifier
from compat.sampling_accum import sampling_accum
from compat.tensor_ops import tensor_ops
from compat.transformer import tiny_transformer


class _Record:
    """torch run: remember each model's initial state dict as NumPy arrays."""

    def __init__(self):
        self.states = {}

    def __call__(self, name, model):
        self.states[name] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


class _Load:
    """ember run: load the torch run's initial weights."""

    def __init__(self, states):
        self.states = states

    def __call__(self, name, model):
        model.load_state_dict({k: ember.from_numpy(v.copy()) for k, v in self.states[name].items()})


@functools.lru_cache(maxsize=None)
def _run_pair(program, **kwargs):
    rec = _Record()
    torch.manual_seed(0)
    ref = program(torch, rec, **kwargs)
    ember.manual_seed(0)
    got = program(ember, _Load(rec.states), **kwargs)
    return ref, got


def _close(a, b, rtol, atol, path="result"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            _close(a[k], b[k], rtol, atol, f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{path}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, rtol, atol, f"{path}[{i}]")
    elif isinstance(a, bool) or isinstance(a, str) or a is None:
        assert type(b) is type(a) and a == b, f"{path}: torch {a!r}, ember {b!r}"
    elif isinstance(a, int):
        assert type(b) is int and a == b, f"{path}: torch {a!r}, ember {b!r} ({type(b).__name__})"
    elif isinstance(a, float):
        assert type(b) is float, f"{path}: ember gave {type(b).__name__} {b!r}, torch a float"
        assert math.isclose(a, b, rel_tol=rtol, abs_tol=atol) or (math.isnan(a) and math.isnan(b)), (
            f"{path}: torch {a!r}, ember {b!r}"
        )
    else:
        raise TypeError(f"{path}: unexpected {type(a).__name__}")


def _compare(ref, got, rtol=1e-4, atol=1e-5, skip=()):
    _close({k: v for k, v in ref.items() if k not in skip}, {k: v for k, v in got.items() if k not in skip},
           rtol, atol)


# ----------------------------------------------------------------------------- the programs, both libraries

def test_mlp_classifier():
    ref, got = _run_pair(mlp_classifier)
    _compare(ref, got, skip=("history",))
    assert ref["acc"] > 0.7 and got["restored_same"]
    # the printed history agrees to its printed digits but for float32 noise in the last one
    for a, b in zip(ref["history"], got["history"]):
        assert a.split()[:2] == b.split()[:2]


def test_char_lstm():
    ref, got = _run_pair(char_lstm)
    _compare(ref, got, rtol=2e-4)
    assert ref["final_loss"] < ref["first_loss"]


def test_small_cnn():
    ref, got = _run_pair(small_cnn)
    _compare(ref, got, rtol=2e-4)
    assert ref["acc"] > 0.8


def test_tiny_transformer():
    ref, got = _run_pair(tiny_transformer)
    _compare(ref, got, rtol=1e-3, atol=1e-4)
    assert ref["eval_acc"] > 0.9


def test_tiny_gan():
    ref, got = _run_pair(tiny_gan)
    _compare(ref, got, rtol=2e-4)


def test_custom_autograd():
    ref, got = _run_pair(custom_autograd)
    _compare(ref, got)


def test_sampling_and_accumulation():
    ref, got = _run_pair(sampling_accum)
    _compare(ref, got, atol=1e-6)


def test_sampling_weighted_rebalances():
    # WeightedRandomSampler and random_split draw from each library's RNG: the class balance must agree
    ref, got = _run_pair(sampling_accum, exact=False, epochs=2)
    assert got["split_sizes"] == ref["split_sizes"] == (320, 80)
    for p in ref["pos_frac"] + got["pos_frac"]:
        assert 0.35 < p < 0.65  # ~15% positives rebalanced to about one half


def test_tensor_ops():
    ref, got = _run_pair(tensor_ops)
    _compare(ref, got)


# ----------------------------------------------------------------------------- API gaps the programs found
# Each line: the same function run with ember and torch (values, gradients, gradcheck, gradgradcheck).

from _helpers import case, check  # noqa: E402

IDX = np.array([[0, 2], [1, 0], [2, 2]])


@pytest.mark.parametrize("fn,inputs,kw", [
    case(lambda L, x: L.zeros(3, 4, dtype=x.dtype).scatter_(1, L.tensor(IDX[:2]), x[:2, :2]), (3, 4),
         id="scatter_"),
    case(lambda L, x: L.ones(3, 4, dtype=x.dtype).scatter_(1, L.tensor(IDX), 2.5), (3, 4), id="scatter_value",
         grad=False),
    case(lambda L, x: x.clone().scatter_add_(1, L.tensor(IDX), x[:, 1:3]), (3, 4), id="scatter_add_"),
    case(lambda L, x: x.scatter_add(0, L.tensor(IDX[:2]), x[1:, 2:]), (3, 4), id="scatter_add_small_index"),
    case(lambda L, x: x.clone().index_add_(0, L.tensor([2, 0, 2]), x[:3] * 2, alpha=0.5), (3, 4),
         id="index_add_"),
    case(lambda L, x, v: x.clone().index_put_((L.tensor([0, 2, 0]), L.tensor([1, 1, 1])), v, accumulate=True),
         (3, 4), (3,), id="index_put_accumulate"),
    case(lambda L, x, v: x.index_put((L.tensor([0, 2]),), v), (3, 4), (4,), id="index_put"),
    case(lambda L, x: x.index_fill(1, L.tensor([0, 3]), -1.0), (3, 4), id="index_fill"),
    case(lambda L, x, s: x.clone().index_copy_(0, L.tensor([2, 0]), s), (3, 4), (2, 4), id="index_copy_"),
    case(lambda L, x: x.clone().fill_diagonal_(0.5), (4, 4), id="fill_diagonal_"),
    case(lambda L, x: (x * 1).abs_().clamp_min_(0.5).sigmoid_(), (3, 4), id="inplace_chain"),
    case(lambda L, x: [x.clamp_min(0.1), L.clamp_max(x, 0.2)], (3, 4), id="clamp_min_max"),
    case(lambda L, x, a, b: [L.addcmul(x, a, b, value=0.5), x.addcdiv(a, b + 3)], (3, 4), (3, 4), (3, 4),
         id="addcmul_addcdiv"),
    case(lambda L, x, y: [L.lerp(x, y, 0.3), L.atan2(x, y + 3), L.hypot(x, y)], (3, 4), (3, 4), id="lerp_atan2"),
    case(lambda L, x: [L.logit(x), L.logit(x, eps=0.2)], (3, 4), low=0.05, high=0.95, id="logit"),
    case(lambda L, x, y: [L.xlogy(x, y), L.logaddexp(x, y)], (3, 4), (3, 4), low=0.1, id="xlogy_logaddexp"),
    case(lambda L, x: [L.logcumsumexp(x, 1), L.logcumsumexp(x, 0)], (3, 4), id="logcumsumexp"),
    case(lambda L, x: [L.cummax(x, 1).values, L.cummin(x, 0)[0], L.cummax(x, 0).indices], (4, 5), id="cummax"),
    case(lambda L, x: list(L.aminmax(x, dim=1)) + [x.aminmax().max], (3, 4), id="aminmax"),
    case(lambda L, x: [L.diff(x), x.diff(n=2, dim=0), L.diff(x, prepend=x[:, :1], dim=1)], (4, 5), id="diff"),
    case(lambda L, x: [L.movedim(x, 0, -1), x.moveaxis((0, 1), (2, 0)), x.ravel(), L.take(x, L.tensor([[0, 5]]))],
         (2, 3, 4), id="movedim_ravel_take"),
    case(lambda L, x: [L.rot90(x), L.rot90(x, 2, (1, 2)), L.rot90(x, -1)], (2, 3, 4), id="rot90"),
    case(lambda L, x: [x.unfold(1, 3, 2), x.unfold(0, 2, 1)], (3, 7), id="unfold"),
    case(lambda L, x: [L.nan_to_num(x / 0.0, posinf=9.0), x.nansum(), L.nanmean(x, 1)], (3, 4), id="nan_to_num",
         gradcheck=False, gradgrad=False),
    case(lambda L, a, b: list(L.meshgrid(a, b, indexing="xy")) + [L.cartesian_prod(a, b)], (3,), (2,),
         id="meshgrid"),
    case(lambda L, a, b: [L.cross(a, b, dim=1), L.cdist(a, b + 1)], (4, 3), (4, 3), id="cross_cdist"),
    case(lambda L, a, b: [L.tensordot(a, b, dims=([1, 0], [0, 1])), L.tensordot(a, b, 1)],
         (2, 3), (3, 2), id="tensordot"),
    case(lambda L, x: [L.quantile(x, 0.3), L.quantile(x, L.tensor([0.25, 0.5, 1.0], dtype=x.dtype), dim=1),
                       x.quantile(0.75, dim=0, keepdim=True, interpolation="midpoint")], (5, 4), id="quantile"),
    case(lambda L, x: [L.frac(x * 3), L.deg2rad(x), L.rad2deg(x)], (3, 4), id="frac_deg2rad", gradgrad=False),
    case(lambda L, x: [L.linalg.inv(x + 3 * L.eye(3, dtype=x.dtype)), L.linalg.det(x),
                       L.linalg.solve(x + 3 * L.eye(3, dtype=x.dtype), x[:, :1])], (3, 3), id="linalg"),
    case(lambda L, x: [L.linalg.norm(x), L.linalg.norm(x, dim=1), L.linalg.vector_norm(x, ord=float("inf"), dim=0),
                       L.linalg.matrix_norm(x)], (3, 3), id="linalg_norm"),
])
def test_added_op_matches_torch(fn, inputs, kw):
    check(fn, *inputs, **kw)


def test_added_nograd_helpers_match_torch():
    x = np.array([[1, 3, 3, 2, 2, 2, 5]])
    for name, f in {
        "isin": lambda L: L.isin(L.tensor(x), L.tensor([2, 5])).tolist(),
        "bucketize": lambda L: L.bucketize(L.tensor([0.5, 2.0, 7.0]), L.tensor([1.0, 2.0, 5.0]), right=True).tolist(),
        "unique_consecutive": lambda L: [t.tolist() for t in L.unique_consecutive(
            L.tensor(x), return_inverse=True, return_counts=True)],
        "tril_indices": lambda L: L.tril_indices(3, 4, 1).tolist() + L.triu_indices(4, 3, -1).tolist(),
        "atleast": lambda L: [list(L.atleast_2d(L.tensor(1.0)).shape), list(L.atleast_1d(L.tensor(2)).shape)],
        "column_stack": lambda L: L.column_stack([L.arange(3), L.ones(3, 2, dtype=L.int64)]).tolist(),
        "msort": lambda L: L.msort(L.tensor([[3, 1], [2, 5]])).tolist(),
        "finfo": lambda L: [L.finfo(L.float16).eps, L.finfo().tiny, L.iinfo(L.int32).min, L.iinfo(L.uint8).max,
                            L.finfo(L.float64).bits],
        "stride": lambda L: [L.zeros(2, 3, 4).stride(), L.zeros(2, 3).t().stride(1), L.zeros(3).itemsize,
                             L.zeros(2, 3).nbytes, L.zeros(2).get_device()],
        "bernoulli_": lambda L: sorted(set(L.zeros(50).bernoulli_(0.5).tolist())),
        "random_": lambda L: bool(((L.zeros(50).random_(3, 7) >= 3) & (L.zeros(50).random_(3, 7) < 7)).all()),
    }.items():
        assert f(ember) == f(torch), name


def test_added_op_errors():
    with pytest.raises(TypeError, match="finfo: ember.int64 is not a floating-point dtype"):
        ember.finfo(ember.int64)
    with pytest.raises(RuntimeError, match=r"unfold: maximum size for tensor at dimension 1 is 3 but size is 4"):
        ember.zeros(2, 3).unfold(1, 4, 1)
    with pytest.raises(RuntimeError, match=r"cross: inputs dimension 1 must have length 3"):
        ember.cross(ember.zeros(2, 4), ember.zeros(2, 4), dim=1)
    with pytest.raises(RuntimeError, match=r"linalg.inv: A must be a batch of square matrices.*\(2, 3\)"):
        ember.linalg.inv(ember.zeros(2, 3))
    with pytest.raises(RuntimeError, match=r"linalg.inv: the input matrix is singular"):
        ember.linalg.inv(ember.zeros(2, 2))
    with pytest.raises(RuntimeError, match=r"quantile\(\) q values must be in the range \[0, 1\]"):
        ember.quantile(ember.zeros(3), 1.5)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad .* in-place"):
        ember.zeros(3, requires_grad=True).abs_()


def test_inplace_methods_record_gradients():
    # x.op_() on a non-leaf is recorded like torch's: the gradient flows through the in-place op
    for L in (ember, torch):
        w = L.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = w * 2
        y.sigmoid_()
        z = y.clone().scatter_(0, L.tensor([1]), 0.0).addcmul_(y, y, value=2.0)
        z.sum().backward()
        if L is torch:
            ref = w.grad.numpy()
        else:
            got = w.grad.numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6)


@pytest.mark.parametrize("fn,inputs,kw", [
    case(lambda L, x, w: [L.nn.functional.rms_norm(x, (4,), w), L.nn.functional.rms_norm(x, [3, 4], eps=1e-3)],
         (2, 3, 4), (4,), id="rms_norm"),
    case(lambda L, x: [L.nn.functional.pixel_shuffle(x, 2), L.nn.functional.pixel_unshuffle(x, 2)], (2, 8, 4, 6),
         id="pixel_shuffle", gradgrad=False),
    case(lambda L, x: [L.nn.functional.hardshrink(x, 0.7), L.nn.functional.softshrink(x)], (3, 4), id="shrink"),
    case(lambda L, a, p, n: [L.nn.functional.triplet_margin_loss(a, p, n, margin=2.0),
                             L.nn.functional.triplet_margin_loss(a, p, n, swap=True, p=1.0, reduction="none")],
         (5, 3), (5, 3), (5, 3), id="triplet_margin_loss"),
])
def test_added_functional_matches_torch(fn, inputs, kw):
    check(fn, *inputs, **kw)


def test_added_layers_match_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 5, 6)).astype(np.float32)
    y = rng.normal(size=(2, 4, 5, 6)).astype(np.float32)
    layers = [
        ("RMSNorm", (6,), {}), ("RMSNorm", ([5, 6],), {"eps": 1e-4}), ("ZeroPad2d", ((1, 0, 2, 1),), {}),
        ("ConstantPad1d", (2, 3.5), {}), ("ConstantPad2d", (1, -1.0), {}), ("ReflectionPad1d", ((2, 1),), {}),
        ("ReflectionPad2d", (2,), {}), ("ReplicationPad1d", (3,), {}), ("ReplicationPad2d", ((0, 1, 2, 0),), {}),
        ("CircularPad2d", (1,), {}), ("PixelShuffle", (2,), {}), ("PixelUnshuffle", (1,), {}),
        ("Softmax2d", (), {}), ("Hardshrink", (0.3,), {}), ("Softshrink", (), {}),
    ]
    for name, args, kw in layers:
        tm, em = getattr(torch.nn, name)(*args, **kw), getattr(ember.nn, name)(*args, **kw)
        assert sorted(em.state_dict()) == sorted(tm.state_dict()), name
        xi = x[0] if name.endswith("1d") else x  # torch's 1-d pads take (C, W) or (N, C, W)
        tx, ex = torch.tensor(xi, requires_grad=True), ember.tensor(xi, requires_grad=True)
        to, eo = tm(tx), em(ex)
        np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        to.pow(2).sum().backward()
        eo.pow(2).sum().backward()
        np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
    for name, args in [("CosineSimilarity", (1,)), ("PairwiseDistance", (1.5,))]:
        t = getattr(torch.nn, name)(*args)(torch.tensor(x[:, :, 0]), torch.tensor(y[:, :, 0]))
        e = getattr(ember.nn, name)(*args)(ember.tensor(x[:, :, 0]), ember.tensor(y[:, :, 0]))
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-5, err_msg=name)
    a, p, n = (torch.tensor(v[:, :, 0, 0]) for v in (x, y, x[::-1].copy()))
    ea, ep, en = (ember.tensor(v[:, :, 0, 0]) for v in (x, y, x[::-1].copy()))
    np.testing.assert_allclose(ember.nn.TripletMarginLoss(margin=3.0)(ea, ep, en).item(),
                               torch.nn.TripletMarginLoss(margin=3.0)(a, p, n).item(), rtol=1e-5)


def test_added_layer_errors():
    with pytest.raises(RuntimeError, match=r"rms_norm: normalized_shape \[5\] does not match .* \(2, 4\)"):
        ember.nn.RMSNorm(5)(ember.zeros(2, 4))
    with pytest.raises(RuntimeError, match=r"pixel_shuffle expects .* divisible by the square of upscale_factor"):
        ember.nn.PixelShuffle(2)(ember.zeros(1, 6, 2, 2))
    with pytest.raises(ValueError, match=r"ZeroPad2d: padding must be an int or 4 ints"):
        ember.nn.ZeroPad2d((1, 2))


def test_legacy_variable():
    from ember.autograd import Variable

    x = Variable(ember.tensor([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    assert x.is_leaf and x.grad.tolist() == [2.0, 4.0]
    assert not Variable(ember.ones(2)).requires_grad

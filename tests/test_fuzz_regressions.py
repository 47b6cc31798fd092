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


def _grads(fn, *arrays):
    """Values and float64 gradients of ``fn(L, *tensors)`` (summed with weights 1..n) in torch and ember."""
    res = []
    for L in (torch, ember):
        ts = [L.from_numpy(np.array(a, dtype=np.float64)).requires_grad_(True) for a in arrays]
        y = fn(L, *ts)
        w = L.from_numpy(np.arange(1.0, y.numel() + 1).reshape(tuple(y.shape)))
        gs = L.autograd.grad((y * w).sum(), ts, allow_unused=True)
        res.append((y.detach().numpy(), [np.zeros(np.shape(a)) if g is None else g.numpy() for g, a in zip(gs, arrays)]))
    (tv, tg), (ev, eg) = res
    assert ev.shape == tv.shape, f"shape {ev.shape} != torch {tv.shape}"
    np.testing.assert_allclose(ev, tv, rtol=1e-10, atol=1e-12, equal_nan=True)
    for e, t in zip(eg, tg):
        np.testing.assert_allclose(e, t, rtol=1e-10, atol=1e-12, equal_nan=True)


# ------------------------------------------------------------------------------------------ gradients
BASES = [0.0, 2.0, -2.0, 0.5, -1.0]  # not -0.0: torch's own kernels disagree on its infinities' signs
EXPS = [0.0, 0.5, 1.0, 2.0, 3.0, -1.0, -0.5, -2.0, 1.5]


def test_pow_gradients_at_zero_and_negative_bases_match_torch():
    a, b = np.meshgrid(BASES, EXPS)
    _grads(lambda L, x, y: L.pow(x, y), a, b)
    _grads(lambda L, x, y: x ** y, a, b)
    _grads(lambda L, x, y: L.float_power(x, y), a, b)


@pytest.mark.parametrize("base", [0.0, 2.0, 0.5, -2.0])
def test_pow_scalar_base_gradient_matches_torch(base):
    _grads(lambda L, y: L.pow(base, y), np.array(EXPS))
    _grads(lambda L, y: base ** y, np.array(EXPS))


@pytest.mark.parametrize("e", EXPS + [0, 1, 2, 3, -1, -2])
def test_pow_scalar_exponent_gradient_matches_torch(e):
    _grads(lambda L, x: L.pow(x, e), np.array(BASES))


def test_getitem_ints_and_tensors_around_an_empty_ellipsis():
    x = np.arange(4 * 3 * 2 * 3, dtype=np.float64).reshape(4, 3, 2, 3)
    i = np.array([2, 0, 1])
    res = [tuple(L.from_numpy(x.copy())[:3, L.from_numpy(i), -1, ..., L.from_numpy(i)].shape) for L in (torch, ember)]
    assert res[1] == res[0]


# ------------------------------------------------------------------------------------------ values
@pytest.mark.parametrize("fn", ["softmax", "softmin", "log_softmax"])
def test_softmax_family_with_inf_logits_matches_torch(fn):
    x = np.array([[np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, 1.0], [-np.inf, np.inf, 0.0]])
    res = [getattr(L.nn.functional, fn)(L.from_numpy(x.copy()), dim=1).numpy() for L in (torch, ember)]
    np.testing.assert_allclose(res[1], res[0], rtol=1e-12, equal_nan=True)


def test_diag_embed_keeps_zeros_off_the_diagonal_of_nan_and_inf():
    x = np.array([[np.nan, 1.0, np.inf], [2.0, -np.inf, 3.0]])
    for off in (0, 1, -2):
        _grads(lambda L, t, off=off: L.diag_embed(t, off), x)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cosine_similarity_normalizes_after_broadcasting(dim):
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    y = np.array([[1.0, 0.5]])
    _grads(lambda L, a, b: L.nn.functional.cosine_similarity(a, b, dim=dim), x, y)


def test_cosine_similarity_of_fewer_dims_broadcasts():
    x = np.arange(1.0, 13.0).reshape(2, 3, 2)
    y = np.array([1.0, -2.0])
    _grads(lambda L, a, b: L.nn.functional.cosine_similarity(a, b, dim=-1), x, y)
    _grads(lambda L, a, b: L.nn.functional.cosine_similarity(a, b, dim=0), np.ones((3, 2)) + x[0], y)


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_poisson_nll_loss_full_adds_stirling_term(log_input, reduction):
    x = np.array([0.5, 1.5, 2.0, 0.2, 3.0])
    t = np.array([0.0, 1.0, 2.0, 3.0, 7.0])
    res = []
    for L in (torch, ember):
        xi = L.from_numpy(x.copy()).requires_grad_(True)
        y = L.nn.functional.poisson_nll_loss(xi, L.from_numpy(t.copy()), log_input=log_input, full=True,
                                             reduction=reduction)
        y.sum().backward()
        res.append((y.detach().numpy(), xi.grad.numpy()))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-12)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-12)


# ------------------------------------------------------------------------------------- cumprod
@pytest.mark.parametrize("dt", ["int32", "bool", "int64", "float32"])
def test_cumprod_dtype_matches_torch(dt):
    x = np.array([[1, 2, 0], [3, 1, 1]]).astype(dt)
    res = [L.cumprod(L.from_numpy(x.copy()), 1) for L in (torch, ember)]
    assert str(res[1].dtype).split(".")[-1] == str(res[0].dtype).split(".")[-1]
    np.testing.assert_array_equal(res[1].numpy(), res[0].numpy())


@pytest.mark.parametrize("shape,dim", [((), 0), ((2, 0), 1), ((0, 3), 1), ((2, 0), 0)])
def test_cumprod_of_0d_and_empty(shape, dim):
    _grads(lambda L, t: L.cumprod(t, dim), np.ones(shape) * 2)


@pytest.mark.parametrize("shape", [(2, 3, 1, 3), (2, 3, 1, 2, 3)])
def test_getitem_advanced_indices_around_an_ellipsis(shape):
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    i, j = np.array([-2, -1, 0]), np.array([2, 0, 0])
    for idx in (lambda a, b: (slice(None, 3), a, -1, ..., b), lambda a, b: (slice(None), a, 0, ..., b),
                lambda a, b: (slice(None), a, ..., b), lambda a, b: (..., b)):
        _grads(lambda L, t, idx=idx: t[idx(L.from_numpy(i), L.from_numpy(j))], x)


# ------------------------------------------------------------------------------------- fmod / remainder
A_ = np.array([5.0, -5.0, 3.5, -3.5, 0.0, 7.25, -7.25])
B_ = np.array([-3.0, 3.0, -2.0, 2.0, 1.5, 2.0, -0.5])


@pytest.mark.parametrize("fn", ["fmod", "remainder"])
def test_fmod_and_remainder_values_and_gradients_match_torch(fn):
    _grads(lambda L, a, b: getattr(L, fn)(a, b), A_, B_)
    for s in (-3.0, 2.5, 3):
        _grads(lambda L, a, s=s: getattr(L, fn)(a, s), A_)
        _grads(lambda L, a, s=s: getattr(a, fn)(s), A_)


@pytest.mark.parametrize("fn", ["fmod", "remainder"])
@pytest.mark.parametrize("dt", ["int64", "int32"])
def test_integer_fmod_and_remainder_match_torch(fn, dt):
    a, b = np.array([5, -5, 7, -7, 0]).astype(dt), np.array([-3, 3, 2, -2, 4]).astype(dt)
    res = [getattr(L, fn)(L.from_numpy(a.copy()), L.from_numpy(b.copy())) for L in (torch, ember)]
    np.testing.assert_array_equal(res[1].numpy(), res[0].numpy())
    assert str(res[1].dtype).split(".")[-1] == str(res[0].dtype).split(".")[-1]
    res = [getattr(L, fn)(L.from_numpy(a.copy()), -3) for L in (torch, ember)]
    np.testing.assert_array_equal(res[1].numpy(), res[0].numpy())


# ------------------------------------------------------------------------------------- clamp
X_ = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0, np.nan, 3.0])
LO_ = np.array([-1.0, -1.0, -1.0, 0.5, -1.0, -1.0, 0.0, 2.0])
HI_ = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # the last: lo > hi


def test_clamp_with_tensor_bounds_gives_torch_gradients_at_ties():
    _grads(lambda L, x, lo, hi: L.clamp(x, lo, hi), X_, LO_, HI_)
    _grads(lambda L, x, lo: L.clamp(x, min=lo), X_, LO_)
    _grads(lambda L, x, hi: L.clamp(x, max=hi), X_, HI_)
    _grads(lambda L, x, hi: x.clip(None, hi[:1]), X_, HI_)
    _grads(lambda L, x, lo, hi: L.clamp(x, lo.reshape(2, 4)[:, :1], hi[:4]), X_.reshape(2, 4), LO_, HI_)


@pytest.mark.parametrize("bounds", [("f", None), (None, "f"), ("f", "f"), ("i", "f"), ("i", None), ("i", "i")])
def test_clamp_with_tensor_bounds_promotes_like_torch(bounds):
    x = np.array([1, 2, 3, 4])
    res = []
    for L in (torch, ember):
        def mk(b, L=L):
            if b == "f":
                return L.tensor([1.5, 2.5, 2.5, 3.5])
            if b == "i":
                return L.tensor([2, 2, 2, 2], dtype=L.int32)
            return b
        y = L.clamp(L.from_numpy(x.copy()), *[mk(b) for b in bounds])
        res.append((str(y.dtype).split(".")[-1], y.numpy()))
    assert res[1][0] == res[0][0]
    np.testing.assert_array_equal(res[1][1], res[0][1])


# ------------------------------------------------------------------------------------- unique
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("inv,cnt", [(False, False), (True, False), (False, True), (True, True)])
def test_unique_with_dim_and_nan_matches_torch(dim, inv, cnt):
    xs = [np.array([[1, 2, 1], [1, 2, 1], [0, 1, 0]])]
    if dim is None:  # the order of slices holding NaN (with dim) follows torch's comparisons: not compared
        xs += [np.array([[np.nan, 2.0, np.nan], [np.nan, 2.0, np.nan]]), np.array([[3.0, np.nan, 1.0, 3.0]])]
    for x in xs:
        res = []
        for L in (torch, ember):
            out = L.unique(L.from_numpy(x.copy()), return_inverse=inv, return_counts=cnt, dim=dim)
            res.append([o.numpy() for o in (out if isinstance(out, tuple) else (out,))])
        for e, t in zip(*res[::-1]):
            np.testing.assert_array_equal(e, t)


# ------------------------------------------------------------------------------------- losses
@pytest.mark.parametrize("fn", ["cross_entropy", "cross_entropy_ls", "nll_loss", "cross_entropy_3d"])
def test_mean_loss_with_every_target_ignored_is_nan_with_zero_gradient(fn):
    x = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]])
    t = np.array([-100, -100])
    res = []
    for L in (torch, ember):
        xi = L.from_numpy(x.copy()).requires_grad_(True)
        ti = L.from_numpy(t.copy())
        F = L.nn.functional
        if fn == "cross_entropy":
            y = F.cross_entropy(xi, ti)
        elif fn == "cross_entropy_ls":
            y = F.cross_entropy(xi, ti, label_smoothing=0.2)
        elif fn == "cross_entropy_3d":
            y = F.cross_entropy(xi.reshape(1, 2, 3).transpose(1, 2), ti.reshape(1, 2))
        else:
            y = F.nll_loss(F.log_softmax(xi, 1), ti)
        y.backward()
        res.append((y.detach().numpy(), xi.grad.numpy()))
    np.testing.assert_array_equal(res[1][0], res[0][0])
    np.testing.assert_array_equal(res[1][1], res[0][1])


# ------------------------------------------------------------------------------------- shapes and dtypes
@pytest.mark.parametrize("a,b", [("int32", "float32"), ("int64", "float16"), ("uint8", "int8"), ("bool", "int8"),
                                 ("float32", "float64")])
def test_stack_promotes_like_torch(a, b):
    res = [L.stack([L.zeros(2, dtype=getattr(L, a)), L.ones(2, dtype=getattr(L, b))]).dtype for L in (torch, ember)]
    assert str(res[1]).split(".")[-1] == str(res[0]).split(".")[-1]


@pytest.mark.parametrize("fn", ["softplus", "mish", "gelu", "silu"])
def test_activations_of_0d_tensors_stay_0d(fn):
    _grads(lambda L, x: getattr(L.nn.functional, fn)(x), np.array(0.5))


def test_logit_gradient_outside_0_1_is_nan_as_torch():
    x = np.array([-0.5, 0.0, 0.25, 0.5, 1.0, 1.5])
    _grads(lambda L, t: L.logit(t), x)
    _grads(lambda L, t: L.logit(t, eps=0.25), x)
    _grads(lambda L, t: L.logit(t, 1e-6), x)


@pytest.mark.parametrize("fn", ["sign", "sgn"])
def test_sign_of_nan_is_zero_as_torch(fn):
    x = np.array([np.nan, -np.inf, -2.0, 0.0, 3.0, np.inf])
    res = [getattr(L, fn)(L.from_numpy(x.astype(np.float32))).numpy() for L in (torch, ember)]
    np.testing.assert_array_equal(res[1], res[0])


@pytest.mark.parametrize("ord", [float("inf"), float("-inf"), 2])
def test_vector_norm_keepdim_over_all_dims_keeps_every_dim(ord):
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    _grads(lambda L, t: L.linalg.vector_norm(t, ord, keepdim=True), x)


@pytest.mark.parametrize("op", ["bitwise_or", "bitwise_and", "bitwise_xor", "bitwise_left_shift", "gcd"])
@pytest.mark.parametrize("dt", ["int32", "uint8", "int16", "bool"])
def test_integer_binary_ops_with_scalars_keep_torch_dtype(op, dt):
    if dt == "bool" and op in ("bitwise_left_shift", "gcd"):
        return
    for other in (3, True, "t0", "t1"):
        res = []
        for L in (torch, ember):
            x = L.tensor([1, 2, 0]).to(getattr(L, dt))
            o = L.tensor(3) if other == "t0" else (L.tensor([3, 1, 2], dtype=L.int8) if other == "t1" else other)
            try:
                y = getattr(L, op)(x, o)
                res.append((str(y.dtype).split(".")[-1], y.numpy().tolist()))
            except (RuntimeError, TypeError):
                res.append("error")
        if res[0] != "error":  # torch.gcd wants a tensor; ember also takes a number
            assert res[1] == res[0], (other, res)


@pytest.mark.parametrize("a,b", [("f64_0d", "bool"), ("int", "f32"), ("f32", "int"), ("bool", "f64_0d"), (2, "f32"),
                                 ("f32", 3.0), ("int", 2)])
def test_xlogy_promotes_like_torch(a, b):
    def mk(L, k):
        return {"f64_0d": L.tensor(2.5, dtype=L.float64), "bool": L.tensor([True, False]), "int": L.tensor([0, 3]),
                "f32": L.tensor([0.0, 1.5])}.get(k, k) if isinstance(k, str) else k
    res = [L.xlogy(mk(L, a), mk(L, b)) for L in (torch, ember)]
    assert str(res[1].dtype).split(".")[-1] == str(res[0].dtype).split(".")[-1]
    np.testing.assert_allclose(res[1].numpy(), res[0].numpy(), rtol=1e-6)


@pytest.mark.parametrize("fn", ["fmax", "fmin"])
def test_fmax_fmin_ignore_nan_and_give_ties_to_the_first_operand(fn):
    nan = np.nan
    x = np.array([1.0, nan, 3.0, nan, 2.0, -1.0])
    y = np.array([1.0, 1.0, nan, nan, 5.0, -2.0])
    _grads(lambda L, a, b: getattr(L, fn)(a, b), x, y)
    _grads(lambda L, a, b: getattr(a, fn)(b[:1]), x, y)


def test_addmm_with_beta_0_ignores_nan_and_inf_in_input():
    c = np.array([[np.nan, np.inf, -np.inf]])
    a, b = np.arange(6.0).reshape(2, 3), np.arange(9.0).reshape(3, 3) - 4
    _grads(lambda L, c, a, b: L.addmm(c, a, b, beta=0, alpha=2), c, a, b)
    _grads(lambda L, c, a, b: L.addmm(c, a, b, beta=0), c, a, b)


@pytest.mark.parametrize("fn", ["hardshrink", "softshrink"])
def test_shrink_keeps_nan(fn):
    x = np.array([np.nan, 0.2, -0.7, 1.5, np.inf])
    _grads(lambda L, t: getattr(L.nn.functional, fn)(t), x)


def test_erf_of_0d_float32_stays_0d():
    assert tuple(ember.erf(ember.tensor(0.5)).shape) == ()
    assert tuple(ember.erfc(ember.tensor(0.5)).shape) == ()


def test_sgn_of_bool():
    assert ember.sgn(ember.tensor([True, False])).tolist() == torch.sgn(torch.tensor([True, False])).tolist()


@pytest.mark.parametrize("dt", ["bool", "int32", "float32"])
def test_diag_embed_keeps_the_dtype(dt):
    x = np.array([[1, 0, 1]]).astype(dt)
    res = [L.diag_embed(L.from_numpy(x.copy()), 1) for L in (torch, ember)]
    assert str(res[1].dtype).split(".")[-1] == str(res[0].dtype).split(".")[-1]
    np.testing.assert_array_equal(res[1].numpy(), res[0].numpy())


def test_batch_norm_eval_gradient_with_a_strided_weight():
    """torch 2.13 gets this wrong (it reads a strided weight as contiguous in the eval backward); ember must
    give the gradient torch gives for a contiguous copy of the same weight."""
    x = np.random.default_rng(0).standard_normal((4, 3, 1))
    wide = np.zeros(6)
    wide[::2] = [1.0, 2.0, 3.0]
    res = []
    for L, w in ((torch, wide[::2].copy()), (ember, wide[::2])):
        xi = L.from_numpy(x.copy()).requires_grad_(True)
        wi = L.from_numpy(w).requires_grad_(True)
        y = L.nn.functional.batch_norm(xi, L.zeros(3, dtype=L.float64), L.ones(3, dtype=L.float64) * 1.5, wi, None,
                                       training=False)
        y.backward(L.from_numpy(np.arange(12.0).reshape(4, 3, 1)))
        res.append((xi.grad.numpy(), wi.grad.numpy()))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-12)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-12)


def test_xlogy_gradient_at_x_zero_is_log_y_as_torch():
    x = np.array([[0.0, 1.0, 0.0, -1.0, 0.0]])
    y = np.array([[2.0, 0.5, 0.0, 3.0, -1.0], [0.5, 2.0, 1.5, 0.25, np.nan]])
    _grads(lambda L, a, b: L.xlogy(a, b), x, y)

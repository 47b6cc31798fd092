"""The bad-input catalogue: every mistake gets ember's documented error type (as torch's) and a message
that names the operation, the shapes or values, and the fix; never a bare NumPy error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember as E


def r(*shape, **kw):
    return E.randn(*shape, **kw)


def _backward_twice():
    x = r(3, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    y.backward()


def _grad_twice():
    x = r(3, requires_grad=True)
    y = (x.sin() * 2).sum()
    E.autograd.grad(y, x)
    E.autograd.grad(y, x)


def _inplace_needed_by_backward():
    x = r(3, requires_grad=True)
    y = x * 2
    z = y.sin()  # Sin saves y for backward
    y.mul_(3)
    z.sum().backward()


def _setitem_mismatch():
    x = r(3, 2)
    x[0] = E.ones(3)


# (id, callable, error type, regex that must be in the message)
CASES = [
    ("matmul_seed", lambda: E.matmul(r(10, 5), r(10, 5)), RuntimeError,
     r"matmul.*\(10, 5\) and \(10, 5\).*b\.T"),
    ("matmul_op", lambda: r(2, 3) @ r(2, 3), RuntimeError, r"matmul: shapes \(2, 3\) and \(2, 3\)"),
    ("matmul_vec", lambda: E.matmul(r(3, 4), r(5)), RuntimeError, r"matmul.*\(3, 4\) and \(5,\)"),
    ("matmul_batch", lambda: E.matmul(r(2, 3, 4), r(3, 4, 5)), RuntimeError, r"batch dimensions \(2,\) and \(3,\)"),
    ("matmul_dtype", lambda: r(2, 3) @ r(3, 2, dtype=E.float64), RuntimeError,
     r"matmul.*same dtype.*float32 and ember\.float64.*\.to\("),
    ("matmul_0d", lambda: E.matmul(E.tensor(2.0), r(3)), RuntimeError, r"matmul.*at least 1D.*use \*"),
    ("mm_not_2d", lambda: E.mm(r(3), r(3, 2)), RuntimeError, r"mm: expected 2-D.*\(3,\)"),
    ("bmm_batch", lambda: E.bmm(r(2, 3, 4), r(3, 4, 2)), RuntimeError, r"bmm.*\(2, 3, 4\) and \(3, 4, 2\)"),
    ("dot_size", lambda: E.dot(r(3), r(4)), RuntimeError, r"dot.*\[3\].*\[4\]"),
    ("broadcast_add", lambda: r(3, 2) + r(4), RuntimeError, r"add.*\(3, 2\).*\(4,\).*not broadcastable.*unsqueeze"),
    ("broadcast_mul", lambda: r(3, 2) * r(2, 3), RuntimeError, r"mul.*\(3, 2\).*\(2, 3\).*not broadcastable"),
    ("broadcast_cmp", lambda: r(3, 2) < r(3), RuntimeError, r"lt.*not broadcastable"),
    ("backward_freed", _backward_twice, RuntimeError, r"second time.*retain_graph=True"),
    ("grad_freed", _grad_twice, RuntimeError, r"retain_graph=True"),
    ("backward_nonscalar", lambda: (r(3, requires_grad=True) * 2).backward(), RuntimeError,
     r"scalar outputs.*shape \(3,\).*gradient=.*sum\(\)"),
    ("backward_gradient_shape", lambda: (r(3, requires_grad=True) * 2).backward(E.ones(4)), RuntimeError,
     r"gradient has shape \(4,\).*output has shape \(3,\)"),
    ("backward_no_grad", lambda: r(3).sum().backward(), RuntimeError, r"does not require grad"),
    ("inplace_saved_input", _inplace_needed_by_backward, RuntimeError,
     r"modified by an inplace operation.*SinBackward.*version"),
    ("inplace_leaf", lambda: r(3, requires_grad=True).add_(1), RuntimeError,
     r"leaf.*requires grad.*in-place.*add_.*no_grad"),
    ("inplace_view_of_leaf", lambda: r(3, requires_grad=True)[0].add_(1), RuntimeError,
     r"leaf.*requires grad.*in-place.*view.*no_grad"),
    ("setitem_leaf", lambda: r(3, requires_grad=True).__setitem__(0, 1.0), RuntimeError,
     r"leaf.*in-place.*index assignment"),
    ("int_requires_grad", lambda: E.tensor([1, 2], requires_grad=True), RuntimeError,
     r"floating-point.*int64.*float\(\)"),
    ("int_requires_grad_", lambda: E.arange(3).requires_grad_(), RuntimeError, r"floating-point.*int64"),
    ("index_out_of_range", lambda: r(3, 2)[3], IndexError, r"index 3 is out of bounds for dimension 0 with size 3"),
    ("index_dim1", lambda: r(3, 2)[:, -3], IndexError, r"index -3 is out of bounds for dimension 1 with size 2"),
    ("index_tensor", lambda: r(3, 2)[E.tensor([0, 7])], IndexError, r"index 7 is out of bounds.*size 3"),
    ("index_too_many", lambda: r(3)[0, 0], IndexError, r"too many indices.*dimension 1"),
    ("index_float", lambda: r(3)[1.5], IndexError, r"only integers, slices.*got float"),
    ("index_0d", lambda: E.tensor(1.0)[0], IndexError, r"0-dim tensor.*item\(\)"),
    ("mask_shape", lambda: r(3, 2)[E.tensor([True, False])], IndexError, r"mask \(2,\).*\(3, 2\)"),
    ("masked_fill_shape", lambda: r(3, 2).masked_fill(E.tensor([True, False, True]), 0.0), RuntimeError,
     r"masked_fill.*\(3,\).*\(3, 2\)"),
    ("masked_fill_not_bool", lambda: r(3).masked_fill(E.tensor([1, 0, 1]), 0.0), RuntimeError,
     r"masked_fill.*boolean.*int64"),
    ("setitem_shape", _setitem_mismatch, RuntimeError, r"index assignment.*shape \(3,\).*\(2,\)"),
    ("reshape_size", lambda: r(3, 2).reshape(4, 2), RuntimeError, r"reshape.*\[4, 2\].*size 6"),
    ("view_size", lambda: r(3, 2).view(-1, 4), RuntimeError, r"view.*\[-1, 4\].*size 6"),
    ("reshape_two_minus_one", lambda: r(3, 2).reshape(-1, -1), RuntimeError, r"only one dimension.*-1"),
    ("cat_shapes", lambda: E.cat([r(3, 2), r(3, 3)]), RuntimeError,
     r"cat.*dimension 0.*\(3, 2\).*tensor 1 has shape \(3, 3\)"),
    ("cat_empty", lambda: E.cat([]), RuntimeError, r"cat.*non-empty"),
    ("cat_0d", lambda: E.cat([E.tensor(1.0), E.tensor(2.0)]), RuntimeError, r"zero-dimensional.*stack"),
    ("stack_shapes", lambda: E.stack([r(3, 2), r(2, 2)]), RuntimeError, r"stack.*\(3, 2\) at entry 0.*\(2, 2\) at entry 1"),
    ("squeeze_dim", lambda: r(3, 2).squeeze(2), IndexError, r"squeeze.*Dimension out of range.*\[-2, 1\].*got 2"),
    ("unsqueeze_dim", lambda: r(3, 2).unsqueeze(4), IndexError, r"unsqueeze.*\[-3, 2\].*got 4"),
    ("transpose_dim", lambda: r(3, 2).transpose(0, 2), IndexError, r"transpose.*got 2"),
    ("sum_dim", lambda: r(3, 2).sum(-3), IndexError, r"sum.*got -3"),
    ("permute_len", lambda: r(3, 2).permute(0, 1, 2), RuntimeError, r"permute.*input.dim\(\) = 2.*len\(dims\) = 3"),
    ("T_3d", lambda: r(2, 3, 4).T, RuntimeError, r"Tensor\.T.*mT"),
    ("gather_index", lambda: r(3, 2).gather(1, E.tensor([[0], [2], [1]])), IndexError,
     r"gather.*index 2 is out of bounds for dimension 1 with size 2"),
    ("gather_ndim", lambda: r(3, 2).gather(1, E.tensor([0, 1])), RuntimeError, r"gather.*same number of dimensions"),
    ("scatter_index", lambda: r(3, 2).scatter(0, E.tensor([[4, 0]]), r(1, 2)), IndexError, r"scatter.*index 4.*size 3"),
    ("index_select_index", lambda: r(3, 2).index_select(0, E.tensor([5])), IndexError,
     r"index_select.*index 5.*dimension 0 with size 3"),
    ("one_hot_range", lambda: E.one_hot(E.tensor([0, 5]), 3), RuntimeError, r"one_hot.*smaller than num_classes \(3\).*5"),
    ("one_hot_negative", lambda: E.one_hot(E.tensor([-1, 0])), RuntimeError, r"one_hot.*non-negative.*-1"),
    ("one_hot_float", lambda: E.one_hot(E.tensor([0.0, 1.0])), RuntimeError, r"one_hot.*index tensors.*float32"),
    ("item_multi", lambda: r(3).item(), RuntimeError, r"3 elements.*Python scalar"),
    ("bool_multi", lambda: bool(r(3)), RuntimeError, r"3 elements is ambiguous.*any\(\).*all\(\)"),
    ("if_multi", lambda: 1 if r(2) > 0 else 0, RuntimeError, r"ambiguous"),
    ("numpy_requires_grad", lambda: r(3, requires_grad=True).numpy(), RuntimeError, r"requires grad.*detach\(\)\.numpy\(\)"),
    ("dtype_name", lambda: E.zeros(3, dtype="float33"), TypeError, r"unknown dtype 'float33'.*float32"),
    ("dtype_object", lambda: E.tensor([1.0]).to(dtype=object), TypeError, r"dtype"),
    ("expand_shape", lambda: r(3, 2).expand(3, 4), RuntimeError, r"expand.*\(4\).*existing size \(2\).*dimension 1"),
    ("expand_fewer", lambda: r(3, 2).expand(2), RuntimeError, r"expand.*number of sizes provided \(1\)"),
    ("split_sizes", lambda: r(5).split([2, 2]), RuntimeError, r"split.*sum exactly to 5.*\[2, 2\]"),
    ("chunk_zero", lambda: r(3).chunk(0), RuntimeError, r"chunk.*greater than 0"),
    ("narrow_range", lambda: r(3).narrow(0, 2, 2), IndexError, r"narrow.*start \(2\) \+ length \(2\).*\(3\)"),
    ("topk_k", lambda: r(5).topk(6), RuntimeError, r"topk.*k \(6\).*size 5"),
    ("repeat_dims", lambda: r(3, 2).repeat(2), RuntimeError, r"repeat.*\(1\).*\(2\)"),
    ("flatten_order", lambda: r(3, 2, 2).flatten(2, 1), RuntimeError, r"flatten.*start_dim \(2\).*end_dim \(1\)"),
    ("sub_bool", lambda: E.tensor([True]) - E.tensor([False]), TypeError, r"sub.*bool.*logical_xor"),
    ("neg_bool", lambda: -E.tensor([True]), TypeError, r"neg.*bool.*logical_not"),
    ("int_neg_pow", lambda: E.tensor([2]) ** -1, RuntimeError, r"pow.*negative integer powers.*float"),
    ("mean_int", lambda: E.tensor([1, 2]).mean(), RuntimeError, r"mean.*floating point.*int64.*float\(\)"),
    ("arange_step", lambda: E.arange(0, 5, 0), RuntimeError, r"arange.*step must be nonzero"),
    ("zeros_negative", lambda: E.zeros(-1, 2), RuntimeError, r"zeros.*negative dimension.*\(-1, 2\)"),
    ("ragged", lambda: E.tensor([[1, 2], [3]]), ValueError, r"ember\.tensor.*ragged.*same length"),
    ("tensor_str", lambda: E.tensor("abc"), TypeError, r"ember\.tensor.*str"),
    ("where_cond", lambda: E.where(r(3), r(3), r(3)), TypeError, r"where.*bool.*float32"),
    ("len_0d", lambda: len(E.tensor(1.0)), TypeError, r"len\(\) of a 0-d tensor"),
    ("iter_0d", lambda: iter(E.tensor(1.0)), TypeError, r"iteration over a 0-d tensor"),
    ("device", lambda: r(3).to("tpu"), ValueError, r"unknown device 'tpu'.*cpu"),
    ("max_empty", lambda: r(0).max(), RuntimeError, r"empty"),
    ("floordiv_zero", lambda: E.tensor([1, 2]) // 0, ZeroDivisionError, r"floor_divide.*division by zero"),
    ("softmax_dim", lambda: E.softmax(r(3)), TypeError, r"softmax.*dim"),
    ("grad_input_unused", lambda: E.autograd.grad((r(2, requires_grad=True) * 2).sum(), r(2, requires_grad=True)),
     RuntimeError, r"not used.*allow_unused=True"),
    ("grad_input_no_grad", lambda: E.autograd.grad((r(2, requires_grad=True) * 2).sum(), r(2)), RuntimeError,
     r"input 0 does not require grad"),
    ("hook_no_grad", lambda: r(2).register_hook(lambda g: g), RuntimeError, r"hook.*doesn't require gradient"),
    ("data_setter", lambda: setattr(r(2), "data", np.zeros(2)), TypeError, r"Tensor\.data.*Tensor"),
    ("set_rng_state", lambda: E.set_rng_state(E.zeros(3)), RuntimeError, r"set_state.*uint8.*41"),
    ("randint_range", lambda: E.randint(5, 2, (3,)), RuntimeError, r"randint.*from=5.*to=2"),
]


NUMPY_MESSAGES = ("operands could not be broadcast", "ufunc", "numpy boolean", "matmul: Input operand",
                  "object of type", "axis ", "cannot reshape array", "all the input array dimensions")


@pytest.mark.parametrize("fn,exc,pattern", [pytest.param(f, e, p, id=i) for i, f, e, p in CASES])
def test_error(fn, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        fn()
    assert type(info.value) is exc or issubclass(type(info.value), exc)
    msg = str(info.value)
    # raised by ember (with its message), not bubbled up from NumPy's internals
    for raw in NUMPY_MESSAGES:
        assert raw not in msg, msg
    tb = info.traceback[-1]
    assert "/numpy/" not in str(tb.path), f"raised inside NumPy: {tb.path}"


def test_catalogue_is_large_enough():
    assert len(CASES) >= 25


def test_seed_example_with_fitting_shapes_gives_torch_numbers():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((10, 5)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)
    x, y = E.tensor(a, requires_grad=True), E.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, tout = E.matmul(x, y), torch.matmul(tx, ty)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-5, atol=1e-6)
    # the transpose the error message suggests is the fitting product
    z = E.matmul(x, E.tensor(rng.standard_normal((10, 5)).astype(np.float32)).T)
    assert tuple(z.shape) == (10, 10)


def test_torch_raises_the_same_error_types():
    # ember's error types follow torch's for the same mistakes
    pairs = [
        (lambda L: L.matmul(L.ones(10, 5), L.ones(10, 5)), RuntimeError),
        (lambda L: L.ones(3, 2) + L.ones(4), RuntimeError),
        (lambda L: L.ones(3, 2)[3], IndexError),
        (lambda L: L.ones(3, 2).squeeze(2), IndexError),
        (lambda L: L.ones(3, 2).reshape(4, 2), RuntimeError),
        (lambda L: L.cat([L.ones(3, 2), L.ones(3, 3)]), RuntimeError),
        (lambda L: L.ones(3).item(), RuntimeError),
        (lambda L: bool(L.ones(3)), RuntimeError),
        (lambda L: L.ones(3, requires_grad=True).add_(1), RuntimeError),
        (lambda L: L.tensor([1, 2], requires_grad=True), RuntimeError),
        (lambda L: L.ones(5).topk(6), RuntimeError),
        (lambda L: L.ones(3, 2).expand(3, 4), RuntimeError),
    ]
    for f, exc in pairs:
        for L in (E, torch):
            with pytest.raises(exc):
                f(L)

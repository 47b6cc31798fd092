"""Autograd API against torch: backward options, autograd.grad, higher order, grad modes, hooks,
custom Functions, gradcheck, anomaly detection, accumulation, deep graphs and freeing memory."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch

import ember
from ember.autograd import Function, gradcheck, gradgradcheck


def pair(values, dtype="float64"):
    a = np.asarray(values, dtype=dtype)
    return ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def close(e, t, **kw):
    np.testing.assert_allclose(np.asarray(e.detach().numpy() if isinstance(e, ember.Tensor) else e),
                               t.detach().numpy() if isinstance(t, torch.Tensor) else t, **kw)


# ------------------------------------------------------------------ leaves, grad_fn


def test_leaf_and_grad_fn():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    c = ember.tensor([1.0, 2.0])
    y = x * 2
    assert x.is_leaf and x.grad_fn is None and x.requires_grad
    assert c.is_leaf and not c.requires_grad
    assert not y.is_leaf and y.requires_grad and y.grad_fn is not None
    assert "Mul" in y.grad_fn.name()
    assert (c * 2).grad_fn is None and not (c * 2).requires_grad
    nf = (y + x).grad_fn.next_functions
    assert nf[0][0] is y.grad_fn and type(nf[1][0]).__name__ == "AccumulateGrad" and nf[1][0].variable is x


def test_backward_gradient_argument():
    (x, tx) = pair([[1.0, -2.0], [3.0, 0.5]])
    v = np.array([[0.3, -1.0], [2.0, 0.1]])
    (x.sin() * x).backward(ember.tensor(v))
    (tx.sin() * tx).backward(torch.tensor(v))
    close(x.grad, tx.grad)


def test_backward_inputs_restricts_accumulation():
    (x, tx), (y, ty) = pair([1.0, 2.0]), pair([3.0, 4.0])
    (x * y).sum().backward(inputs=[x])
    (tx * ty).sum().backward(inputs=[tx])
    close(x.grad, tx.grad)
    assert y.grad is None and ty.grad is None


def test_retain_graph_allows_second_backward_and_accumulates():
    x, tx = pair([1.0, 2.0])
    y, ty = (x.exp() * x).sum(), (tx.exp() * tx).sum()
    y.backward(retain_graph=True)
    y.backward()
    ty.backward(retain_graph=True)
    ty.backward()
    close(x.grad, tx.grad)


def test_backward_twice_without_retain_graph_raises():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_gradient_accumulates_across_backward_calls():
    x, tx = pair([0.5, -1.5])
    for _ in range(2):
        (x * x * x).sum().backward()
        (tx * tx * tx).sum().backward()
    close(x.grad, tx.grad)
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_same_leaf_used_twice_and_diamond():
    x, tx = pair([0.3, 0.7])

    def f(L, x):
        a = x.sin()
        b = a * x
        c = a + b
        return (c * a).sum()

    f(ember, x).backward()
    f(torch, tx).backward()
    close(x.grad, tx.grad)


def test_autograd_grad_basics():
    (x, tx), (y, ty) = pair([1.0, 2.0]), pair([0.5, -1.0])
    gx, gy = ember.autograd.grad((x * y.exp()).sum(), (x, y))
    tgx, tgy = torch.autograd.grad((tx * ty.exp()).sum(), (tx, ty))
    close(gx, tgx)
    close(gy, tgy)
    assert x.grad is None and y.grad is None  # grad() does not touch .grad


def test_autograd_grad_outputs_and_allow_unused():
    (x, tx), (y, ty) = pair([1.0, 2.0]), pair([0.5, -1.0])
    v = np.array([0.3, -2.0])
    (gx, gy) = ember.autograd.grad(x * x, (x, y), grad_outputs=ember.tensor(v), allow_unused=True)
    (tgx, tgy) = torch.autograd.grad(tx * tx, (tx, ty), grad_outputs=torch.tensor(v), allow_unused=True)
    close(gx, tgx)
    assert gy is None and tgy is None
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        ember.autograd.grad((x * x).sum(), (x, y))


def test_autograd_grad_of_intermediate_tensor():
    x, tx = pair([1.0, 2.0])
    h, th = x * 3, tx * 3
    (gh,) = ember.autograd.grad((h * h).sum(), h)
    (tgh,) = torch.autograd.grad((th * th).sum(), th)
    close(gh, tgh)


def test_autograd_grad_create_graph_second_derivative():
    x, tx = pair([0.4, 1.3])
    (g,) = ember.autograd.grad((x.tanh() * x).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad((tx.tanh() * tx).sum(), tx, create_graph=True)
    assert g.requires_grad
    (gg,) = ember.autograd.grad(g.sum(), x)
    (tgg,) = torch.autograd.grad(tg.sum(), tx)
    close(gg, tgg)


def test_third_derivative_of_x4_sin_x_matches_torch():
    x, tx = pair([0.3, -1.2, 2.0])

    def d3(L, x):
        y = (x ** 4 * L.sin(x)).sum()
        (g1,) = L.autograd.grad(y, x, create_graph=True)
        (g2,) = L.autograd.grad(g1.sum(), x, create_graph=True)
        (g3,) = L.autograd.grad(g2.sum(), x)
        return g1, g2, g3

    for e, t in zip(d3(ember, x), d3(torch, tx)):
        close(e, t, rtol=1e-10)
    # and the closed form: d3/dx3 x^4 sin x = 24x sin x + 36x^2 cos x - 12x^3 sin x - x^4 cos x
    v = np.array([0.3, -1.2, 2.0])
    exact = 24 * v * np.sin(v) + 36 * v**2 * np.cos(v) - 12 * v**3 * np.sin(v) - v**4 * np.cos(v)
    close(d3(ember, x)[2], exact, rtol=1e-10)


def test_backward_create_graph_then_grad_of_grad():
    x, tx = pair([0.5, 1.5])
    (x ** 3).sum().backward(create_graph=True)
    (tx ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (gg,) = ember.autograd.grad(x.grad.sum(), x)
    (tgg,) = torch.autograd.grad(tx.grad.sum(), tx)
    close(gg, tgg)


def test_hessian_vector_product_of_matmul_softplus():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4))
    (x, tx) = pair(rng.standard_normal(4))
    v = rng.standard_normal(4)

    def hvp(L, x):
        y = L.log(1 + L.exp(L.from_numpy(W) @ x)).sum()
        (g,) = L.autograd.grad(y, x, create_graph=True)
        (h,) = L.autograd.grad((g * L.from_numpy(v)).sum(), x)
        return h

    close(hvp(ember, x), hvp(torch, tx))


# ------------------------------------------------------------------ grad modes


def test_no_grad_context_and_decorator():
    x = ember.tensor([1.0], requires_grad=True)
    with ember.no_grad():
        assert not ember.is_grad_enabled()
        assert not (x * 2).requires_grad
        with ember.enable_grad():
            assert (x * 2).requires_grad
    assert ember.is_grad_enabled()

    @ember.no_grad()
    def f(t):
        return t * 2

    @ember.enable_grad()
    def g(t):
        return t * 2

    assert not f(x).requires_grad
    with ember.no_grad():
        assert g(x).requires_grad
    assert ember.is_grad_enabled()


def test_set_grad_enabled_call_context_and_decorator():
    x = ember.tensor([1.0], requires_grad=True)
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ember.is_grad_enabled()
    ember.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        ember.set_grad_enabled(True)
    assert (x * 2).requires_grad

    @ember.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert ember.is_grad_enabled()  # decorating does not switch the mode
    assert not f(x).requires_grad
    assert ember.is_grad_enabled()


def test_inference_mode_context_and_decorator():
    x = ember.tensor([1.0], requires_grad=True)
    with ember.inference_mode():
        assert not (x * 2).requires_grad
    with ember.inference_mode(False):
        assert (x * 2).requires_grad

    @ember.inference_mode()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert ember.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with ember.no_grad():
            raise ValueError("boom")
    assert ember.is_grad_enabled()


# ------------------------------------------------------------------ detach, requires_grad_


def test_detach_shares_storage_and_cuts_graph():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y._data)
    z = (y * d).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * d.numpy())


def test_detach_inplace_and_requires_grad_():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.detach_()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    c = ember.tensor([1.0, 2.0])
    assert c.requires_grad_() is c and c.requires_grad
    c.requires_grad_(False)
    assert not c.requires_grad
    y = x * 2
    assert y.requires_grad_() is y  # a no-op on a non-leaf, as torch
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


# ------------------------------------------------------------------ hooks, retain_grad


def test_register_hook_modifies_gradient_and_remove():
    x, tx = pair([1.0, 2.0])
    seen = []
    h = x.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 3)
    th = tx.register_hook(lambda g: g * 3)
    (x * x).sum().backward()
    (tx * tx).sum().backward()
    close(x.grad, tx.grad)
    assert len(seen) == 1
    h.remove()
    th.remove()
    x.grad, tx.grad = None, None
    (x * x).sum().backward()
    (tx * tx).sum().backward()
    close(x.grad, tx.grad)
    assert len(seen) == 1


def test_hook_on_intermediate_tensor():
    x, tx = pair([1.0, 2.0])
    y, ty = x * 2, tx * 2
    y.register_hook(lambda g: g + 1)
    ty.register_hook(lambda g: g + 1)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    close(x.grad, tx.grad)


def test_retain_grad():
    x, tx = pair([1.0, -2.0])
    y, ty = x * 3, tx * 3
    y.retain_grad()
    ty.retain_grad()
    assert y.retains_grad
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    close(y.grad, ty.grad)
    z = x * 2
    (z * z).sum().backward()
    assert z.grad is None  # not retained


# ------------------------------------------------------------------ custom Function


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x  # written with ember ops, so it is differentiable again


class WrongCube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x * x  # wrong derivative


class MulAdd(Function):
    """Two inputs, two outputs, an integer output marked non-differentiable."""

    @staticmethod
    def forward(ctx, a, b, k):
        ctx.save_for_backward(a, b)
        ctx.k = k
        seen.append(ctx.needs_input_grad)
        idx = (a > b).long()
        ctx.mark_non_differentiable(idx)
        return a * b, a + k * b, idx

    @staticmethod
    def backward(ctx, g_prod, g_sum, g_idx):
        a, b = ctx.saved_tensors
        return g_prod * b + g_sum, g_prod * a + g_sum * ctx.k, None


seen = []


def test_custom_function_matches_builtin_ops():
    x, tx = pair([0.5, -1.0, 2.0])
    y = Cube.apply(x)
    assert y.grad_fn is not None and "Cube" in y.grad_fn.name()
    y.sum().backward()
    (tx ** 3).sum().backward()
    close(x.grad, tx.grad)


def test_custom_function_multiple_outputs_needs_input_grad_non_differentiable():
    seen.clear()
    (a, ta), (b, tb) = pair([1.0, 2.0]), pair([3.0, -1.0])
    c = ember.tensor([0.5, 0.5])
    p, s, idx = MulAdd.apply(a, b, 2.0)
    assert not idx.requires_grad and idx.dtype == ember.int64
    (p * s).sum().backward()
    (ta * tb * (ta + 2.0 * tb)).sum().backward()
    close(a.grad, ta.grad)
    close(b.grad, tb.grad)
    MulAdd.apply(a, c, 1.0)
    assert seen[0] == (True, True, False)
    assert seen[1] == (True, False, False)


def test_custom_function_double_backward():
    x, tx = pair([0.5, -1.0, 2.0])
    (g,) = ember.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    (gg,) = ember.autograd.grad(g.sum(), x)
    close(gg, 6 * tx.detach())
    assert gradgradcheck(Cube.apply, (x,))


def test_custom_function_without_grad_inputs_is_not_recorded():
    y = Cube.apply(ember.tensor([2.0]))
    assert y.grad_fn is None and not y.requires_grad


def test_custom_function_wrong_gradient_count_is_an_error():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    x = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Bad.apply(x).sum().backward()


# ------------------------------------------------------------------ gradcheck as public API


def test_gradcheck_passes_on_correct_ops():
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    assert gradcheck(lambda x, w: (x @ w).tanh(), (x, w))
    assert gradgradcheck(lambda x, w: (x @ w).tanh(), (x, w))
    assert gradcheck(Cube.apply, (x,))


def test_gradcheck_fails_on_a_wrong_function():
    x = ember.tensor([0.5, -1.0, 2.0], dtype=ember.float64, requires_grad=True)
    with pytest.raises(ember.autograd.GradcheckError, match="Jacobian mismatch"):
        gradcheck(WrongCube.apply, (x,))
    assert gradcheck(WrongCube.apply, (x,), raise_exception=False) is False


def test_gradgradcheck_fails_on_a_wrong_second_derivative():
    class FirstOrderOnly(Function):
        # right first derivative, but its backward is written with a detached x: wrong second order
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * (x * x).detach()

    x = ember.tensor([0.5, -1.0, 2.0], dtype=ember.float64, requires_grad=True)
    assert gradcheck(FirstOrderOnly.apply, (x,))
    with pytest.raises(ember.autograd.GradcheckError):
        gradgradcheck(FirstOrderOnly.apply, (x,))


# ------------------------------------------------------------------ anomaly detection


def test_detect_anomaly_names_the_op_and_where_it_was_created():
    x = ember.tensor([-1.0, 4.0], requires_grad=True)
    with ember.autograd.detect_anomaly():
        y = ember.sqrt(x)  # sqrt(-1) = nan; its backward produces nan
        with pytest.raises(RuntimeError, match="Sqrt") as info:
            y.sum().backward()
    msg = str(info.value)
    assert "nan" in msg.lower()
    assert "test_autograd.py" in msg and "ember.sqrt(x)" in msg


def test_detect_anomaly_zero_times_inf_in_backward():
    x = ember.tensor([0.0, 1.0], requires_grad=True)
    with ember.autograd.detect_anomaly():
        y = (x * 0).sqrt()  # sqrt's backward gives inf at 0, and Mul's backward then 0 * inf = nan
        with pytest.raises(RuntimeError, match="MulBackward"):
            y.sum().backward()


def test_without_anomaly_mode_nan_gradient_is_silent_like_torch():
    x = ember.tensor([-1.0, 4.0], requires_grad=True)
    ember.sqrt(x).sum().backward()
    assert np.isnan(x.grad.numpy()[0])


# ------------------------------------------------------------------ deep graphs, freeing


def test_100k_op_chain_backward_iterative():
    x = ember.tensor([1.0], dtype=ember.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1e-6
    y.backward()
    assert x.grad.tolist() == [1.0]
    np.testing.assert_allclose(y.item(), 1.1, rtol=1e-9)


def test_graph_is_freed_after_backward_and_retained_on_request():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sin().sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2 * np.array([1.0, 2.0]) * np.cos([1.0, 4.0]), rtol=1e-6)
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


class _Arr(np.ndarray):
    """An ndarray that supports weak references (plain ones don't)."""


def test_no_intermediate_stays_alive_after_a_training_step():
    rng = np.random.default_rng(0)
    W = ember.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = ember.tensor(np.zeros(3), requires_grad=True)
    xb = ember.tensor(rng.standard_normal((8, 4)))
    yb = ember.tensor(rng.standard_normal((8, 3)))
    gc.collect()
    gc.disable()
    try:
        refs = []
        node_refs = []
        arr_refs = []
        h = xb @ W + b
        a = h.tanh()
        d = a - yb
        loss = (d * d).mean()
        for t in (h, a, d, loss):
            refs.append(weakref.ref(t))
            node_refs.append(weakref.ref(t.grad_fn))
            t._data = t._data.view(_Arr)  # swap in a weak-referenceable view of the same values
            arr_refs.append(weakref.ref(t._data))
        loss.backward()
        with ember.no_grad():
            for p in (W, b):
                p -= 0.1 * p.grad
                p.grad = None
        del h, a, d, loss, t
        alive = [r for r in refs + node_refs + arr_refs if r() is not None]
        assert not alive, f"{len(alive)} intermediate objects still alive after the step: {alive}"
    finally:
        gc.enable()


def test_saved_arrays_released_from_node_after_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x.sin()
    node = y.grad_fn
    y.sum().backward()
    assert node.saved is None and not hasattr(node, "inputs")  # the node no longer holds its inputs


def test_inplace_on_leaf_under_no_grad_is_allowed_and_bumps_version():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    v0 = w._version
    with ember.no_grad():
        w.mul_(2)
    assert w._version > v0 and w.requires_grad and w.is_leaf
    np.testing.assert_allclose(w.detach().numpy(), [2.0, 4.0])


def test_inplace_on_saved_output_is_detected_like_torch():
    # exp saves its output; changing it in place makes the saved value stale: an error naming the op
    x = ember.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match="ExpBackward0.*version 1; expected version 0"):
        y.sum().backward()


def test_inplace_on_saved_input_is_detected():
    x = ember.tensor([0.5, 1.0], requires_grad=True)
    y = x * 2
    z = y.sin()
    y.mul_(3)
    with pytest.raises(RuntimeError, match="inplace"):
        z.sum().backward()


def test_setitem_on_non_leaf_gradient_flows_like_torch():
    x, tx = pair([[1.0, 2.0], [3.0, 4.0]])
    v, tv = pair([5.0, 6.0])
    for a, b in ((x, v), (tx, tv)):
        y = a * 2
        y[0] = b * b
        (y * y).sum().backward()
    close(x.grad, tx.grad)
    close(v.grad, tv.grad)


def test_backward_inputs_reach_only_those_tensors_leaf_or_not():
    import torch

    res = []
    for L in (ember, torch):
        x = L.tensor([1.0, 2.0], requires_grad=True)
        w = L.tensor([3.0, 4.0], requires_grad=True)
        h = x * w
        L.sin(h).sum().backward(inputs=[h, w])
        res.append((x.grad, w.grad.tolist(), h.grad.tolist()))
    (ex, ew, eh), (tx, tw, th) = res
    assert ex is None and tx is None
    np.testing.assert_allclose(ew, tw, rtol=1e-6)
    np.testing.assert_allclose(eh, th, rtol=1e-6)
    x = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="cannot be empty"):
        (x * 2).sum().backward(inputs=[])


@pytest.mark.parametrize("how", ["unbind", "split", "chunk", "tensor_split", "split_list"])
@pytest.mark.parametrize("create_graph", [False, True])
def test_single_piece_split_gradient_matches_torch(how, create_graph):
    # a split into ONE piece is still a multi-output node: its backward must get a list of gradients
    # (it used to get the bare gradient and index it, giving a wrong gradient silently)
    import numpy as np
    import torch

    import ember

    xv = np.random.default_rng(0).normal(size=(1, 4))
    w = np.arange(4.0)
    res = []
    for L in (torch, ember):
        x = L.tensor(xv, requires_grad=True)
        args = {"unbind": (0,), "split": (1,), "chunk": (1,), "tensor_split": (1,), "split_list": ([1],)}[how]
        (p,) = getattr(x, how.replace("_list", ""))(*args)
        seen = []
        p.register_hook(seen.append)
        y = (p * p * L.tensor(w)).sum()
        (g,) = L.autograd.grad(y, x, create_graph=create_graph)
        out = [g.detach().numpy().copy(), seen[0].detach().numpy()]
        if create_graph:
            (gg,) = L.autograd.grad(g.sum(), x)
            out.append(gg.numpy())
        res.append(out)
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_leaf_used_many_times_accumulates_like_torch():
    # the walk sums a reused leaf's gradients in a buffer it owns (in place from the third use on); pass-through
    # gradients (add) and broadcast ones must neither be changed nor alias the result
    def run(lib):
        w = lib.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
        b = lib.tensor([0.5, -0.25, 2.0], requires_grad=True)
        h = lib.zeros(2, 3)
        outs = []
        for i in range(5):
            h = (h + w) * (0.5 + i) + b  # w and b reach the leaves 5 times each; b broadcasts
            outs.append(h.sum())
        (w + 0).sum().backward(retain_graph=False)  # a pure pass-through first: w.grad = ones
        lib.stack(outs).sum().backward()
        return w.grad.numpy(), b.grad.numpy()

    ew, eb = run(ember)
    tw, tb = run(torch)
    np.testing.assert_allclose(ew, tw, rtol=1e-6)
    np.testing.assert_allclose(eb, tb, rtol=1e-6)


# ---------------------------------------------------------------- custom Function details (torch's behaviour)


def _fn_classes(T):
    class Cube(T.autograd.Function):
        @staticmethod
        def forward(x, k):
            return x ** 3 * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2 * ctx.k, None

    class Double(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class Once(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @T.autograd.function.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    class Scale(T.autograd.Function):
        @staticmethod
        def forward(ctx, x, k, y):
            return x * k * y

        @staticmethod
        def backward(ctx, g):
            return g * ctx.needs_input_grad[0], None, g

    return Cube, Double, Once, Scale


def test_function_setup_context_style_matches_torch():
    res = []
    for T in (ember, torch):
        Cube = _fn_classes(T)[0]
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        (g,) = T.autograd.grad(Cube.apply(x, 2.0).sum(), x, create_graph=True)
        (g2,) = T.autograd.grad(g.sum(), x)
        res.append((g.detach().numpy(), g2.numpy()))
    np.testing.assert_allclose(res[0][0], res[1][0])
    np.testing.assert_allclose(res[0][1], res[1][1])


def test_function_mark_dirty_returns_the_input_and_refuses_leaves():
    for T in (ember, torch):
        Double = _fn_classes(T)[1]
        a = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        x = a.clone()
        o = Double.apply(x)
        assert o is x
        (o * o).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), [8.0, 16.0])
        with pytest.raises(RuntimeError, match="leaf"):
            Double.apply(a)


def test_once_differentiable_backward_does_not_record():
    for T in (ember, torch):
        Once = _fn_classes(T)[2]
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        (g,) = T.autograd.grad(Once.apply(x).sum(), x, create_graph=True)
        assert not g.requires_grad
        np.testing.assert_allclose(g.detach().numpy(), [3.0, 12.0])
        # a grad output that requires grad: the result raises when differentiated again
        y = Once.apply(x)
        v = T.ones(2, dtype=T.float64, requires_grad=True)
        (g,) = T.autograd.grad(y, x, v, create_graph=True)
        with pytest.raises(RuntimeError, match="once_differentiable"):
            g.sum().backward()


def test_function_grad_fn_name_next_functions_and_ctx():
    names = []
    for T in (ember, torch):
        Scale = _fn_classes(T)[3]
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        y = T.tensor([3.0, 4.0], dtype=T.float64)
        o = Scale.apply(x, 2.0, y)
        nf = o.grad_fn.next_functions
        names.append((type(o.grad_fn).__name__, [None if n is None else type(n).__name__ for n, _ in nf],
                      tuple(o.grad_fn.needs_input_grad)))
        o.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])
        assert type(o.grad_fn).__name__ == "ScaleBackward"  # still named after backward freed it
    assert names[0] == names[1] == ("ScaleBackward", ["AccumulateGrad", None], (True, False, False))


def test_function_second_backward_raises_freed_error():
    for T in (ember, torch):
        Once = _fn_classes(T)[2]
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        o = Once.apply(x)
        o.sum().backward()
        with pytest.raises(RuntimeError, match="second time"):
            o.sum().backward()


# ---------------------------------------------------------------- hook order and return values (torch's)


def _hook_program(T):
    x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
    log = []
    y = x * 2
    y.retain_grad()  # registered first, still sees the gradient after the tensor hooks
    y.register_hook(lambda g: g * 10)
    z = y.exp()
    z.grad_fn.register_prehook(lambda go: log.append(("pre", go[0].detach().numpy().copy())))
    z.grad_fn.register_hook(lambda gi, go: (gi[0] * 5,))  # a returned tuple replaces grad_inputs
    y.grad_fn.register_prehook(lambda go: (go[0] * 2,))
    z.sum().backward()
    w = x * 1
    w.retain_grad()
    w.mul_(3)  # retain_grad follows the new version of w
    w.sum().backward()
    return log, y.grad.numpy(), x.grad.numpy(), w.grad.numpy()


def test_hook_order_and_return_values_match_torch():
    e, t = _hook_program(ember), _hook_program(torch)
    assert len(e[0]) == len(t[0]) == 1
    np.testing.assert_allclose(e[0][0][1], t[0][0][1])
    for a, b in zip(e[1:], t[1:]):
        np.testing.assert_allclose(a, b)


def test_node_prehook_on_multi_output_node():
    res = []
    for T in (ember, torch):
        x = T.tensor([[1.0, 5.0], [3.0, 2.0]], dtype=T.float64, requires_grad=True)
        v, i = x.max(dim=1)
        seen = []
        v.grad_fn.register_prehook(lambda go, seen=seen: seen.append(len(go)) or (go[0] * 3,) + tuple(go[1:]))
        (v * v).sum().backward()
        res.append((seen, x.grad.numpy()))
    assert res[0][0] == res[1][0]
    np.testing.assert_allclose(res[0][1], res[1][1])


# ---------------------------------------------------------------- grad-mode decorators (torch's forms)


def _mode_program(T):
    x = T.tensor([1.0], dtype=T.float64, requires_grad=True)
    r = []

    @T.no_grad
    def f(x):
        return x * 2

    @T.inference_mode
    def h(x):
        return x * 2

    @T.enable_grad
    def e(x):
        return x * 2

    r.append(f(x).requires_grad)
    r.append(h(x).requires_grad)
    with T.no_grad():
        r.append(e(x).requires_grad)

    def gen(x):
        for _ in range(2):
            yield (x * 2).requires_grad, T.is_grad_enabled()

    for deco in (T.no_grad(), T.inference_mode(), T.set_grad_enabled(False)):
        r.append(list(deco(gen)(x)))
    r.append(T.is_grad_enabled())
    y = x * 2
    r.append(y.requires_grad_() is y)
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    return r


def test_grad_mode_decorators_without_parentheses_and_on_generators():
    assert _mode_program(ember) == _mode_program(torch)


def test_saved_tensors_hooks_apply_to_custom_function_saves():
    res = []
    for T in (ember, torch):
        class F(T.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * x

        log = []
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        with T.autograd.graph.saved_tensors_hooks(lambda t, log=log: log.append("p") or t,
                                                  lambda t, log=log: log.append("u") or t * 10):
            y = F.apply(x)
        y.sum().backward()
        res.append((log, x.grad.numpy()))
    assert res[0][0] == res[1][0] == ["p", "u"]
    np.testing.assert_allclose(res[0][1], res[1][1])


def _capture_program(T):
    out = []
    for inputs in ("y", "yx"):
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: g * 10)
        ins = [y] if inputs == "y" else [y, x]
        out.append([g.numpy() for g in T.autograd.grad((y * y).sum(), ins)])
    for retain in (False, True):
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: g * 10)
        if retain:
            y.retain_grad()
        (y * y).sum().backward(inputs=[y, x])
        out.append([y.grad.numpy(), x.grad.numpy()])
    x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
    y = x * 1
    y.retain_grad()
    y.view(2, 1).mul_(3)  # y's history now goes through the in-place write on its view
    y.sum().backward()
    out.append([y.grad.numpy(), x.grad.numpy()])
    return out


def test_grad_capture_of_hooked_non_leaf_inputs_matches_torch():
    for a, b in zip(_capture_program(ember), _capture_program(torch)):
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v)


def test_grad_is_grads_batched_matches_torch():
    res = []
    for T in (ember, torch):
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        y = T.tensor([3.0, 4.0], dtype=T.float64, requires_grad=True)
        z = T.tensor([5.0], dtype=T.float64, requires_grad=True)
        o = x ** 3 * y
        gx, gy, gz = T.autograd.grad([o, x.sum()], [x, y, z], grad_outputs=[T.eye(2), T.tensor([1.0, 2.0])],
                                     is_grads_batched=True, create_graph=True, allow_unused=True)
        (gg,) = T.autograd.grad(gx.sum(), x)
        res.append((gx.detach().numpy(), gy.detach().numpy(), gz, gg.numpy()))
    for a, b in zip(*res):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b)


def test_retain_grad_keeps_history_under_create_graph():
    res = []
    for T in (ember, torch):
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        y = x.exp()
        y.retain_grad()
        (y ** 2).sum().backward(create_graph=True)
        assert y.grad.requires_grad
        (gg,) = T.autograd.grad(y.grad.sum(), x)
        res.append((y.grad.detach().numpy(), gg.numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b)


def test_hook_of_multi_output_node_output_without_gradient_gets_none():
    res = []
    for T in (ember, torch):
        x = T.tensor([[1.0, 5.0], [3.0, 2.0]], dtype=T.float64, requires_grad=True)
        q, r = T.linalg.qr(x)
        log = []
        r.register_hook(lambda g, log=log: log.append(g))
        r.retain_grad()
        q.sum().backward()
        res.append((log, r.grad, x.grad.numpy()))
    assert res[0][0] == res[1][0] == [None]
    assert res[0][1] is None and res[1][1] is None
    np.testing.assert_allclose(res[0][2], res[1][2], atol=1e-12)


def _inference_nesting(T):
    x = T.tensor([1.0], requires_grad=True)
    r = []
    with T.inference_mode():
        with T.enable_grad():
            r.append(((x * 2).requires_grad, T.is_grad_enabled()))
        with T.set_grad_enabled(True):
            r.append(((x * 2).requires_grad, T.is_grad_enabled()))
        r.append(T.is_grad_enabled())
        with T.inference_mode(False):
            r.append(((x * 2).requires_grad, T.is_grad_enabled()))
        r.append(T.is_grad_enabled())
    r.append(((x * 2).requires_grad, T.is_grad_enabled()))
    return r


def test_enable_grad_inside_inference_mode_records_nothing():
    assert _inference_nesting(ember) == _inference_nesting(torch)


def test_assigning_grad_checks_shape_dtype_and_type_as_torch():
    for T in (ember, torch):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="size"):
            x.grad = T.zeros(3)
        with pytest.raises(RuntimeError, match="dtype"):
            x.grad = T.zeros(2, dtype=T.float64)
        with pytest.raises(TypeError):
            x.grad = [1.0, 2.0]
        x.grad = T.ones(2)
        (x * 2).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
        del x.grad
        assert x.grad is None

"""ember.vmap / ember.func (vmap, jvp, jacfwd, linearize, stack_module_state, ...) against torch.func."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.func as tf

import ember
import ember.func as ef

RNG = np.random.default_rng(0)


def arr(*shape, dtype="float64"):
    return RNG.standard_normal(shape).astype(dtype)


def both(*arrays, requires_grad=False):
    """The same values as ember and torch tensors: ([ember...], [torch...])."""
    e = [ember.tensor(a, requires_grad=requires_grad) for a in arrays]
    t = [torch.tensor(a, requires_grad=requires_grad) for a in arrays]
    return e, t


def np_(x):
    if isinstance(x, (tuple, list)):
        return [np_(v) for v in x]
    if isinstance(x, dict):
        return {k: np_(v) for k, v in x.items()}
    return x.detach().numpy()


def close(a, b, rtol=1e-10, atol=1e-12):
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            close(a[k], b[k], rtol, atol)
        return
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), (type(a), type(b))
        for x, y in zip(a, b):
            close(x, y, rtol, atol)
        return
    assert tuple(a.shape) == tuple(b.shape), (tuple(a.shape), tuple(b.shape))
    np.testing.assert_allclose(np_(a), np_(b), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------- vmap values


def test_vmap_is_exported_like_torch():
    assert ember.vmap is ef.vmap
    assert ember.func.vmap is ef.vmap


CASES = {
    # name: (function of the library L, in_dims, out_dims, shapes of the inputs)
    "dot_in0": (lambda L: L.dot, (0, 0), 0, [(5, 3), (5, 3)]),
    "dot_in_none": (lambda L: L.dot, (0, None), 0, [(5, 3), (3,)]),
    "mv_in1": (lambda L: L.mv, (None, 1), 0, [(4, 3), (3, 6)]),
    "negative_in_dim": (lambda L: (lambda a, b: a * b.sum()), (-1, -2), 0, [(3, 4, 5), (5, 2)]),
    "out_dim_1": (lambda L: (lambda a: a.exp() @ a.T), 0, 1, [(6, 3, 2)]),
    "out_dim_negative": (lambda L: (lambda a: a.sin() * 2), 2, -1, [(2, 3, 4)]),
    "tuple_out_dims": (lambda L: (lambda a, b: (a + b, (a * b).sum())), (0, None), (1, 0), [(4, 3, 2), (3, 2)]),
    "int_in_dims_broadcast": (lambda L: (lambda a, b: a @ b), 1, 0, [(3, 5, 2), (2, 5, 4)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_vmap_values_and_gradients_match_torch(name):
    make, in_dims, out_dims, shapes = CASES[name]
    arrays = [arr(*s) for s in shapes]
    (e_in, t_in) = both(*arrays, requires_grad=True)
    e_out = ef.vmap(make(ember), in_dims, out_dims)(*e_in)
    t_out = tf.vmap(make(torch), in_dims, out_dims)(*t_in)
    close(e_out, t_out)
    # gradients flow back through vmap to the inputs (random cotangents, not just sum())
    e_flat = e_out if isinstance(e_out, tuple) else (e_out,)
    t_flat = t_out if isinstance(t_out, tuple) else (t_out,)
    cots = [arr(*o.shape) for o in t_flat]
    e_g = ember.autograd.grad(list(e_flat), e_in, [ember.tensor(c) for c in cots])
    t_g = torch.autograd.grad(list(t_flat), t_in, [torch.tensor(c) for c in cots])
    close(list(e_g), list(t_g))


def test_vmap_pytree_inputs_and_outputs():
    a, b, c = arr(4, 3), arr(3), arr(2, 4)

    def f(L):
        def g(d, pair):
            x, y = pair
            return {"s": d["a"] * d["b"] + x.sum(), "t": [y * 2, d["a"]]}
        return g

    in_dims = ({"a": 0, "b": None}, [None, 1])
    for out_dims in (0, {"s": 1, "t": [0, None]}):
        if out_dims != 0:
            # d["a"] is mapped, so out_dim None for it must fail in both
            with pytest.raises(ValueError, match="BatchedTensor when out_dim is None"):
                tf.vmap(f(torch), in_dims, out_dims)({"a": torch.tensor(a), "b": torch.tensor(b)},
                                                     [torch.tensor(c[0]), torch.tensor(c)])
            with pytest.raises(ValueError, match="BatchedTensor when out_dim is None"):
                ef.vmap(f(ember), in_dims, out_dims)({"a": ember.tensor(a), "b": ember.tensor(b)},
                                                     [ember.tensor(c[0]), ember.tensor(c)])
            continue
        e = ef.vmap(f(ember), in_dims, out_dims)({"a": ember.tensor(a), "b": ember.tensor(b)},
                                                 [ember.tensor(c[0]), ember.tensor(c)])
        t = tf.vmap(f(torch), in_dims, out_dims)({"a": torch.tensor(a), "b": torch.tensor(b)},
                                                 [torch.tensor(c[0]), torch.tensor(c)])
        close(e, t)


def test_vmap_out_dims_none_and_unbatched_outputs():
    x, w = arr(5, 3), arr(3)
    (ex, ew), (tx, tw) = both(x, w)
    # an output that does not depend on the mapped input: None returns it once, an int expands it
    e = ef.vmap(lambda a: (a * 2, ew.sum()), out_dims=(0, None))(ex)
    t = tf.vmap(lambda a: (a * 2, tw.sum()), out_dims=(0, None))(tx)
    close(e, t)
    close(ef.vmap(lambda a: ew * 3)(ex), tf.vmap(lambda a: tw * 3)(tx))
    # non-tensor outputs with out_dims None come back as they are
    assert ef.vmap(lambda a: 3, out_dims=None)(ex) == tf.vmap(lambda a: 3, out_dims=None)(tx) == 3


def test_vmap_kwargs_are_not_mapped():
    x, y = arr(3, 4), arr(3, 4)
    (ex, ey), (tx, ty) = both(x, y)
    close(ef.vmap(lambda a, b=1: a * b)(ex, b=ey), tf.vmap(lambda a, b=1: a * b)(tx, b=ty))


def test_nested_vmap_matches_torch():
    x, y = arr(4, 3), arr(5, 3)
    (ex, ey), (tx, ty) = both(x, y, requires_grad=True)

    def pairwise(L):
        return L.vmap(L.vmap(lambda a, b: (a - b).pow(2).sum().sqrt(), in_dims=(None, 0)), in_dims=(0, None))

    e, t = pairwise(ember)(ex, ey), pairwise(torch)(tx, ty)
    assert tuple(e.shape) == (4, 5)
    close(e, t)
    c = arr(4, 5)
    close(list(ember.autograd.grad(e, [ex, ey], ember.tensor(c))), list(torch.autograd.grad(t, [tx, ty], torch.tensor(c))))
    # batch dims moved around at both levels
    z = arr(3, 2, 4)
    e2 = ef.vmap(ef.vmap(lambda a: a.cumsum(0), in_dims=1, out_dims=1), in_dims=2, out_dims=0)(ember.tensor(z))
    t2 = tf.vmap(tf.vmap(lambda a: a.cumsum(0), in_dims=1, out_dims=1), in_dims=2, out_dims=0)(torch.tensor(z))
    close(e2, t2)


def test_chunk_size_gives_the_same_result():
    x = arr(7, 3)
    (ex,), (tx,) = both(x)
    for cs in (1, 3, 7, 100):
        close(ef.vmap(lambda a: a.softmax(0), chunk_size=cs)(ex), tf.vmap(lambda a: a.softmax(0), chunk_size=cs)(tx))
    for bad in (0, -1):
        with pytest.raises(ValueError, match=r"chunk_size should be None or greater than 0. \(got"):
            ef.vmap(lambda a: a, chunk_size=bad)
        with pytest.raises(ValueError, match=r"chunk_size should be None or greater than 0. \(got"):
            tf.vmap(lambda a: a, chunk_size=bad)(tx)


def test_data_dependent_control_flow_works_in_ember():
    # torch's batching raises here; ember runs the function once per sample (docs/differences.md)
    x = arr(6, 3)
    out = ef.vmap(lambda a: a if a.sum() > 0 else -a)(ember.tensor(x))
    expected = np.where(x.sum(1, keepdims=True) > 0, x, -x)
    np.testing.assert_allclose(out.numpy(), expected)
    with pytest.raises(RuntimeError, match="data-dependent control flow"):
        tf.vmap(lambda a: a if a.sum() > 0 else -a)(torch.tensor(x))
    vals = ef.vmap(lambda a: ember.tensor(a.sum().item()))(ember.tensor(x))
    np.testing.assert_allclose(vals.numpy(), x.sum(1))


# ---------------------------------------------------------------------------- vmap errors

def _both_raise(call, exc, match):
    """``call(L)`` raises ``exc`` matching ``match`` with torch and with ember."""
    for L in (torch, ember):
        with pytest.raises(exc, match=match):
            call(L)


def test_vmap_error_messages():
    x = arr(3, 4)

    def v(L, f, *a, **k):
        return L.vmap(f, *a, **k)

    _both_raise(lambda L: v(L, lambda a, b: a, in_dims=(0,))(L.tensor(x), L.tensor(x)), ValueError,
                r"in_dims is not compatible with the structure of `inputs`")
    _both_raise(lambda L: v(L, lambda a: a[0], in_dims=((0, 0),))([L.tensor(x), L.tensor(x)]), ValueError,
                r"in_dims is not compatible with the structure of `inputs`")
    _both_raise(lambda L: v(L, lambda d: d["a"], in_dims=({"a": 0},))({"a": L.tensor(x), "b": L.tensor(x)}),
                ValueError, r"in_dims is not compatible with the structure of `inputs`")
    _both_raise(lambda L: v(L, lambda a: a, in_dims=[0])(L.tensor(x)), ValueError,
                r"expected `in_dims` to be int or a \(potentially nested\) tuple")
    _both_raise(lambda L: v(L, lambda a: a, in_dims=None)(L.tensor(x)), ValueError,
                r"expected `in_dims` to be int or a \(potentially nested\) tuple")
    _both_raise(lambda L: v(L, lambda a, b: a + b)(L.tensor(x), L.tensor(arr(4, 4))), ValueError,
                r"Expected all tensors to have the same size in the mapped dimension, got sizes \[3, 4\]")
    _both_raise(lambda L: v(L, lambda a: a, in_dims=2)(L.tensor(x)), ValueError,
                r"Got in_dim=2 for some input, but that input is a Tensor of dimensionality 2 so expected in_dim "
                r"to satisfy -2 <= in_dim < 2")
    _both_raise(lambda L: v(L, lambda a: a, in_dims=-3)(L.tensor(x)), ValueError, r"-2 <= in_dim < 2")
    _both_raise(lambda L: v(L, lambda a, b: a, in_dims=(0, 0))(L.tensor(x), 3), ValueError,
                r"We cannot vmap over non-Tensor arguments, please use None as the respective in_dim")
    _both_raise(lambda L: v(L, lambda a: a, in_dims=(1.0,))(L.tensor(x)), ValueError,
                r"in_dim must be either an integer dimension or None")
    _both_raise(lambda L: v(L, lambda: 1)(), ValueError, r"got no inputs")
    _both_raise(lambda L: v(L, lambda a: a, out_dims=1.0)(L.tensor(x)), ValueError,
                r"`out_dims` must be an int, None or a python collection of ints")
    _both_raise(lambda L: v(L, lambda a: (a, a), out_dims=(0, 0, 0))(L.tensor(x)), ValueError,
                r"out_dims is not compatible with the structure of `outputs`")
    _both_raise(lambda L: v(L, lambda a: 3)(L.tensor(x)), ValueError,
                r"must only return Tensors, got type <class 'int'>. Did you mean to set out_dims= to None")
    _both_raise(lambda L: v(L, lambda a: None)(L.tensor(x)), ValueError, r"must only return Tensors")
    _both_raise(lambda L: v(L, lambda a: a, out_dims=None)(L.tensor(x)), ValueError,
                r"can not return a BatchedTensor when out_dim is None")
    _both_raise(lambda L: v(L, lambda a: a, out_dims=2)(L.tensor(x)), IndexError,
                r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)")
    _both_raise(lambda L: v(L, lambda a: a, out_dims=-3)(L.tensor(x)), IndexError,
                r"Dimension out of range \(expected to be in range of \[-2, 1\], but got -3\)")
    _both_raise(lambda L: v(L, lambda a: a, randomness="foo")(L.tensor(x)), RuntimeError,
                r"Only allowed values for randomness are 'error', 'different', or 'same'. Got foo")
    with pytest.raises(ValueError, match=r"the mapped dimension has size 0.*skip the call for an empty batch"):
        ef.vmap(lambda a: a)(ember.zeros(0, 3))
    with pytest.raises(ValueError, match=r"sample 0 returned outputs of structure \(\*, \*\) but sample 1"):
        ef.vmap(lambda a: (a, a) if a.sum() > 0 else a)(ember.tensor([[1.0], [-1.0]]))
    with pytest.raises(ValueError, match=r"different shapes in different samples \(\[\(1,\), \(2,\)\]\)"):
        ef.vmap(lambda a: a[: int(a.sum().item())])(ember.tensor([[1.0, 0.0], [1.0, 1.0]]))


# ---------------------------------------------------------------------------- randomness


def test_randomness_error_raises_for_any_generator():
    x = ember.randn(3, 4)
    msg = r"vmap: called random operation while in randomness error mode. Please either use the 'same' or"
    for f in (lambda a: a + ember.rand(4), lambda a: ember.nn.functional.dropout(a, 0.5),
              lambda a: a + ember.randn(4, generator=ember.Generator().manual_seed(1)),
              lambda a: a.clone().normal_()):
        with pytest.raises(RuntimeError, match=msg):
            ef.vmap(f)(x)
    with pytest.raises(RuntimeError, match=msg):
        tf.vmap(lambda a: a + torch.rand(4))(torch.randn(3, 4))
    # the hook is gone afterwards, also after an error
    assert ember.rand(2).shape == (2,)
    assert not ember._random._draw_hooks
    # random ops on the outside of vmap, and dropout in eval mode, are fine
    drop = ember.nn.Dropout(0.5).eval()
    close(ef.vmap(drop)(x), x)


def test_randomness_same_and_different():
    x = ember.zeros(4, 3)
    ember.manual_seed(7)
    same = ef.vmap(lambda a: a + ember.rand(3), randomness="same")(x)
    after_same = ember.rand(2)
    ember.manual_seed(7)
    one = ember.rand(3)
    assert np.array_equal(same.numpy(), np.broadcast_to(one.numpy(), (4, 3)))
    assert np.array_equal(after_same.numpy(), ember.rand(2).numpy())  # the stream moved on by one sample's draws
    ember.manual_seed(7)
    diff = ef.vmap(lambda a: a + ember.rand(3), randomness="different")(x)
    ember.manual_seed(7)
    assert np.array_equal(diff.numpy(), ember.rand(4, 3).numpy())  # sample i gets the i-th draw of the stream
    # an explicit generator is replayed too; dropout masks agree between samples with 'same'
    g = ember.Generator().manual_seed(3)
    same_g = ef.vmap(lambda a: a + ember.randn(3, generator=g), randomness="same")(x)
    assert np.array_equal(same_g.numpy()[0], same_g.numpy()[3])
    masks = ef.vmap(lambda a: ember.nn.functional.dropout(a + 1, 0.5), randomness="same")(ember.zeros(5, 40))
    assert all(np.array_equal(masks.numpy()[0], m) for m in masks.numpy())
    masks = ef.vmap(lambda a: ember.nn.functional.dropout(a + 1, 0.5), randomness="different")(ember.zeros(5, 40))
    assert not np.array_equal(masks.numpy()[0], masks.numpy()[1])
    # torch's 'same' has the same meaning
    t = tf.vmap(lambda a: a + torch.rand(3), randomness="same")(torch.zeros(4, 3))
    assert all(torch.equal(t[0], r) for r in t)


def test_randomness_hook_watches_only_the_calling_thread():
    import threading

    drawn = []

    def f(a):
        t = threading.Thread(target=lambda: drawn.append(ember.rand(2)))  # e.g. a data-loading worker
        t.start()
        t.join()
        return a * 2

    close(ef.vmap(f)(ember.ones(3, 2)), torch.ones(3, 2) * 2)
    assert len(drawn) == 3


def test_nested_randomness():
    x = ember.zeros(3, 2, 4)
    out = ef.vmap(ef.vmap(lambda a: a + ember.rand(4), randomness="same"), randomness="different")(x).numpy()
    assert np.array_equal(out[0, 0], out[0, 1]) and not np.array_equal(out[0, 0], out[1, 0])
    out = ef.vmap(ef.vmap(lambda a: a + ember.rand(4), randomness="different"), randomness="same")(x).numpy()
    assert not np.array_equal(out[0, 0], out[0, 1]) and np.array_equal(out[0], out[2])
    with pytest.raises(RuntimeError, match="randomness error mode"):
        ef.vmap(ef.vmap(lambda a: a + ember.rand(4), randomness="same"))(x)


# ---------------------------------------------------------------------------- per-sample gradients, ensembles


def _mlp(L, seed, bn=False):
    layers = [L.nn.Linear(6, 8), L.nn.Tanh(), L.nn.Linear(8, 3)]
    if bn:
        layers.insert(1, L.nn.BatchNorm1d(8))
    m = L.nn.Sequential(*layers).double()
    rng = np.random.default_rng(seed)
    m.load_state_dict({k: L.tensor(rng.uniform(-0.5, 0.5, tuple(v.shape))) if v.is_floating_point() else v
                       for k, v in m.state_dict().items()})
    return m


def test_per_sample_gradients_match_torch():
    x, y = arr(10, 6), RNG.integers(0, 3, 10)
    res = {}
    for L, F in ((ember, ef), (torch, tf)):
        model = _mlp(L, 1)
        params = {k: v.detach() for k, v in model.named_parameters()}
        buffers = {k: v.detach() for k, v in model.named_buffers()}

        def loss_fn(params, buffers, sample, target, model=model, L=L, F=F):
            pred = F.functional_call(model, (params, buffers), (sample.unsqueeze(0),))
            return L.nn.functional.cross_entropy(pred, target.unsqueeze(0))

        res[L.__name__] = F.vmap(F.grad(loss_fn), in_dims=(None, None, 0, 0))(params, buffers, L.tensor(x),
                                                                              L.tensor(y))
    assert set(res["ember"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    close(res["ember"], res["torch"])
    assert res["ember"]["0.weight"].shape == (10, 8, 6)
    # and equal to one backward per sample
    model = _mlp(ember, 1)
    for i in (0, 7):
        model.zero_grad()
        ember.nn.functional.cross_entropy(model(ember.tensor(x[i:i + 1])), ember.tensor(y[i:i + 1])).backward()
        np.testing.assert_allclose(res["ember"]["2.weight"][i].numpy(), model[2].weight.grad.numpy(), rtol=1e-12)


def test_ensembling_with_stack_module_state_matches_torch():
    x = arr(4, 6)
    xs = arr(3, 4, 6)
    res = {}
    for L, F in ((ember, ef), (torch, tf)):
        models = [_mlp(L, s) for s in range(3)]
        params, buffers = F.stack_module_state(models)
        base = _mlp(L, 9)

        def fmodel(p, b, data, base=base, F=F):
            return F.functional_call(base, (p, b), (data,))

        same_batch = F.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, L.tensor(x))
        per_model = F.vmap(fmodel)(params, buffers, L.tensor(xs))
        (same_batch.square().sum() + per_model.tanh().sum()).backward()
        res[L.__name__] = (same_batch, per_model, {k: v.grad for k, v in params.items()}, params)
    e, t = res["ember"], res["torch"]
    close(e[0], t[0])
    close(e[1], t[1])
    close(e[2], t[2])
    for k, p in e[3].items():
        tp = t[3][k]
        assert (p.is_leaf, p.requires_grad, tuple(p.shape)) == (tp.is_leaf, tp.requires_grad, tuple(tp.shape))
    # the stacked model i is model i
    models = [_mlp(ember, s) for s in range(3)]
    np.testing.assert_allclose(e[0][1].detach().numpy(), models[1](ember.tensor(x)).detach().numpy(), rtol=1e-12)


def test_stack_module_state_properties_and_errors():
    for L, F in ((ember, ef), (torch, tf)):
        models = [L.nn.Sequential(L.nn.Linear(2, 3), L.nn.BatchNorm1d(3)) for _ in range(2)]
        models[0][0].weight.requires_grad_(False)
        with pytest.raises(RuntimeError, match=r"Expected 0.weight from each model to have the same .requires_grad"):
            F.stack_module_state(models)
        models[1][0].weight.requires_grad_(False)
        params, buffers = F.stack_module_state(models)
        assert not params["0.weight"].requires_grad and params["0.bias"].requires_grad
        assert params["0.bias"].is_leaf and params["0.bias"].grad_fn is None
        assert sorted(buffers) == ["1.num_batches_tracked", "1.running_mean", "1.running_var"]
        assert tuple(buffers["1.num_batches_tracked"].shape) == (2,) and not buffers["1.running_mean"].requires_grad
        # the stacked tensors are copies, not views of the models' tensors
        params["0.bias"].data.add_(1)
        assert float(models[0][0].bias.detach().abs().max()) < 1.0
        with pytest.raises(RuntimeError, match=r"stack_module_state: Expected at least one model, got 0."):
            F.stack_module_state([])
        with pytest.raises(RuntimeError, match=r"Expected all models to have the same training/eval mode."):
            F.stack_module_state([models[0].train(), L.nn.Sequential(L.nn.Linear(2, 3), L.nn.BatchNorm1d(3)).eval()])
        with pytest.raises(RuntimeError, match=r"Expected all models to be of the same class."):
            F.stack_module_state([L.nn.Linear(2, 3), L.nn.Bilinear(2, 2, 3)])


def test_replace_all_batch_norm_modules_and_ensembles_in_train_mode():
    x = arr(3, 5, 6)
    res = {}
    for L, F in ((ember, ef), (torch, tf)):
        models = [_mlp(L, s, bn=True) for s in range(3)]
        root = L.nn.Sequential(*models)
        assert F.replace_all_batch_norm_modules_(root) is root
        bn = models[0][1]
        assert (bn.running_mean, bn.running_var, bn.num_batches_tracked, bn.track_running_stats) == (
            None, None, None, False)
        params, buffers = F.stack_module_state(models)
        assert buffers == {}
        res[L.__name__] = F.vmap(lambda p, b, d, m=models[0], F=F: F.functional_call(m, (p, b), (d,)))(
            params, buffers, L.tensor(x))
    close(res["ember"], res["torch"])


# ---------------------------------------------------------------------------- jvp, linearize, jacfwd


def f_tree(L):
    def f(a, b):
        return (a.sin() * b[0], [(a @ b[1]).tanh(), a.exp().sum()])
    return f


def test_jvp_matches_torch():
    a, b0, b1 = arr(3), arr(3), arr(3, 2)
    ta, tb0, tb1 = arr(3), arr(3), arr(3, 2)
    res = []
    for L, F in ((ember, ef), (torch, tf)):
        primals = (L.tensor(a), (L.tensor(b0), L.tensor(b1)))
        tangents = (L.tensor(ta), (L.tensor(tb0), L.tensor(tb1)))
        res.append(F.jvp(f_tree(L), primals, tangents))
    close(res[0], res[1])
    # has_aux, float32 tangents for float64 primals, an output that does not depend on the input
    res = []
    for L, F in ((ember, ef), (torch, tf)):
        x, c = L.tensor(a), L.tensor(b0)
        res.append(F.jvp(lambda u, c=c: ((u * c).cumsum(0), c * 2, {"aux": u.cos()}), (x,),
                         (L.tensor(ta.astype("float32")),), has_aux=False))
    close(res[0], res[1])
    e = ef.jvp(lambda u: (u.exp(), u.cos()), (ember.tensor(a),), (ember.tensor(ta),), has_aux=True)
    t = tf.jvp(lambda u: (u.exp(), u.cos()), (torch.tensor(a),), (torch.tensor(ta),), has_aux=True)
    assert len(e) == 3
    close(list(e), list(t))


def test_jvp_of_grad_is_a_hessian_vector_product_and_differentiable():
    x, v = arr(4), arr(4)
    res = []
    for L, F in ((ember, ef), (torch, tf)):
        xt = L.tensor(x, requires_grad=True)

        def f(u, L=L):
            return (u.sin() * u.pow(2)).sum() + u.prod()

        _, hvp = F.jvp(F.grad(f), (xt,), (L.tensor(v),))
        (gx,) = L.autograd.grad(hvp.square().sum(), xt)  # jvp's result is differentiable w.r.t. the primal
        res.append((hvp, gx))
    close(list(res[0]), list(res[1]), rtol=1e-9)


def test_jvp_errors():
    x = arr(3)
    _both_raise(lambda L: L.func.jvp(L.sin, L.tensor(x), L.tensor(x)), RuntimeError,
                r"jvp\(f, primals, tangents\): Expected primals to be a tuple. E.g. it should be valid to call f")
    _both_raise(lambda L: L.func.jvp(L.sin, (L.tensor(x),), (L.tensor(x), L.tensor(x))), RuntimeError,
                r"Expected primals and tangents to have the same python structure")
    _both_raise(lambda L: L.func.jvp(lambda a, b: a * b, (L.tensor(x), 2.0), (L.tensor(x), 1.0)), RuntimeError,
                r"Expected primals to only contain Tensors, got <class 'float'>")
    _both_raise(lambda L: L.func.jvp(lambda: 1, (), ()), RuntimeError,
                r"Expected primals to contain at least one Tensor")
    _both_raise(lambda L: L.func.jvp(lambda a: a.sin(), (L.tensor(x),), (L.tensor(x),), has_aux=True),
                RuntimeError, r"output of function f should be a tuple: \(output, aux\) if has_aux is True")
    _both_raise(lambda L: L.func.jvp(lambda a: a.sum() * 0 + 3.0 if False else 3, (L.tensor(x),), (L.tensor(x),)),
                RuntimeError, r"expected f\(\*primals\) to return only tensors, got unsupported type <class 'int'>")
    c = arr(3)
    _both_raise(lambda L: L.func.jvp(lambda a, c=c: L.tensor(c) * 2, (L.tensor(x),), (L.tensor(x),), strict=True),
                RuntimeError, r"The output of f is independent of the inputs. This is not allowed with strict=True")
    _both_raise(lambda L: L.func.jvp(lambda a: a * 2, (L.arange(3),), (L.arange(3),)), ValueError,
                r"Expected primal to be floating point or complex, but got")
    with pytest.raises(RuntimeError, match=r"tangent:0 with shape \(4,\) in flattened pytree doesn't match the shape"):
        ef.jvp(ember.sin, (ember.tensor(x),), (ember.ones(4),))


def test_linearize_matches_torch():
    a, b0, b1 = arr(3), arr(3), arr(3, 2)
    tans = [(arr(3), (arr(3), arr(3, 2))) for _ in range(3)]
    res = []
    for L, F in ((ember, ef), (torch, tf)):
        out, jvp_fn = F.linearize(f_tree(L), L.tensor(a), (L.tensor(b0), L.tensor(b1)))
        outs = [jvp_fn(L.tensor(t0), (L.tensor(t1), L.tensor(t2))) for t0, (t1, t2) in tans]
        res.append((out, outs))
    close(res[0][0], res[1][0])
    for e, t in zip(res[0][1], res[1][1]):
        close(e, t)
    # jvp_fn agrees with jvp
    out, jvp_fn = ef.linearize(ember.sin, ember.tensor(a))
    close(jvp_fn(ember.tensor(b0)), ef.jvp(ember.sin, (ember.tensor(a),), (ember.tensor(b0),))[1])
    with pytest.raises(RuntimeError, match=r"to have the same argspec as the primals"):
        jvp_fn(ember.tensor(a), ember.tensor(a))
    with pytest.raises(RuntimeError, match=r"tangent:0 with shape \(4,\) in flattened pytree doesn't match the shape"
                                           r" \(3,\) of the corresponding primal"):
        jvp_fn(ember.ones(4))
    with pytest.raises(RuntimeError, match=r"to have the same argspec as the primals"):
        tf.linearize(torch.sin, torch.tensor(a))[1](torch.tensor(a), torch.tensor(a))


def test_jacfwd_matches_torch_and_jacrev():
    a, b = arr(3), arr(3, 2)
    res = []
    for L, F in ((ember, ef), (torch, tf)):
        def f(x, y, L=L):
            return ((x @ y).sin(), {"s": (x * x).sum(), "v": x.cumprod(0)})
        res.append([F.jacfwd(f)(L.tensor(a), L.tensor(b)), F.jacfwd(f, argnums=(0, 1))(L.tensor(a), L.tensor(b)),
                    F.jacfwd(f, argnums=1)(L.tensor(a), L.tensor(b))])
    close(res[0], res[1])
    close(ef.jacfwd(f_tree(ember), argnums=(0, 1))(ember.tensor(a), (ember.tensor(a), ember.tensor(b))),
          ef.jacrev(f_tree(ember), argnums=(0, 1))(ember.tensor(a), (ember.tensor(a), ember.tensor(b))))
    # has_aux
    e = ef.jacfwd(lambda x: (x.sin(), {"c": x.cos()}), has_aux=True)(ember.tensor(a))
    t = tf.jacfwd(lambda x: (x.sin(), {"c": x.cos()}), has_aux=True)(torch.tensor(a))
    close(list(e), list(t))


def test_hessians_by_forward_over_reverse_match_torch():
    x = arr(4)
    res = []
    for L, F in ((ember, ef), (torch, tf)):
        def f(u, L=L):
            return (u.sin() * u.roll(1)).sum() + u.pow(3).prod()
        res.append([F.jacfwd(F.jacrev(f))(L.tensor(x)), F.jacrev(F.jacfwd(f))(L.tensor(x)),
                    F.jacfwd(F.jacfwd(f))(L.tensor(x)), F.hessian(f)(L.tensor(x))])
    close(res[0], res[1], rtol=1e-9, atol=1e-11)


def test_jacfwd_randomness_and_errors():
    x = ember.tensor(arr(3))
    with pytest.raises(RuntimeError, match="randomness error mode"):
        ef.jacfwd(lambda a: a * ember.rand(3))(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        tf.jacfwd(lambda a: a * torch.rand(3, dtype=torch.float64))(torch.tensor(arr(3)))
    ember.manual_seed(0)
    j = ef.jacfwd(lambda a: a * ember.rand(3, dtype=ember.float64), randomness="same")(x)
    ember.manual_seed(0)
    np.testing.assert_allclose(j.numpy(), np.diag(ember.rand(3, dtype=ember.float64).numpy()))
    _both_raise(lambda L: L.func.jacfwd(L.sin, randomness="x")(L.tensor(arr(3))), RuntimeError,
                r"Only allowed values for randomness are 'error', 'different', or 'same'. Got x")
    _both_raise(lambda L: L.func.jacfwd(lambda a: a * 2)(L.arange(3)), ValueError,
                r"Expected primal to be floating point or complex, but got")
    with pytest.raises(RuntimeError, match=r"jacfwd: Got argnums=3, but only 1 positional inputs"):
        ef.jacfwd(ember.sin, argnums=3)(x)


def test_vmap_of_jacfwd_and_jvp():
    xs, vs = arr(5, 3), arr(5, 3)
    res = []
    for L, F in ((ember, ef), (torch, tf)):
        def f(u, L=L):
            return u.sin().cumsum(0) * u.norm()
        res.append([F.vmap(F.jacfwd(f))(L.tensor(xs)),
                    F.vmap(lambda p, t, F=F, f=f: F.jvp(f, (p,), (t,))[1])(L.tensor(xs), L.tensor(vs))])
    close(res[0], res[1])


# ---------------------------------------------------------------------------- functionalize, debug_unwrap


def test_functionalize_and_debug_unwrap():
    x = arr(4)
    res = []
    for L, F in ((ember, ef), (torch, tf)):
        def f(a, L=L):
            b = a.clone()
            b.mul_(2)
            a.add_(1)  # input mutation: functionalize keeps it visible to the caller
            return b.view(2, 2).exp()
        inp = L.tensor(x)
        out = F.functionalize(f)(inp)
        inp2 = L.tensor(x)
        out2 = F.functionalize(f, remove="mutations_and_views")(inp2)
        res.append((out, inp, out2, inp2))
    close(list(res[0]), list(res[1]))
    _both_raise(lambda L: L.func.functionalize(lambda a: a, remove="views")(L.ones(2)), RuntimeError,
                r"received invalid argument for remove=views")
    t = ember.ones(3)
    assert ef.debug_unwrap(t) is t and ef.debug_unwrap(t, recurse=False) is t
    close(ef.vmap(lambda a: ef.debug_unwrap(a) * 2)(ember.tensor(x)), torch.tensor(x) * 2)


# ---------------------------------------------------------------------------- rearrange

PATTERNS = [
    ("b h w c -> (b h) w c", {}), ("b h w c -> h (b w) c", {}), ("b h w c -> b c h w", {}),
    ("b (h1 h) (w1 w) c -> (b h1 w1) h w c", {"h1": 2, "w1": 2}), ("b (h h1) (w w1) c -> b h w (c h1 w1)", {"h1": 2, "w1": 5}),
    ("b ... c -> c b ...", {}), ("... c -> (...) c", {}), ("b h w c -> b 1 h w 1 c", {}), ("b h w c -> b () (h w) c", {}),
    ("b ... -> b (...)", {}), ("b h w c -> (c b) (w h)", {}), ("b h (w2 w) c -> w2 b h w c", {"w2": 5}),
]


@pytest.mark.parametrize("pattern,lengths", PATTERNS)
def test_rearrange_matches_torch(pattern, lengths):
    x = arr(4, 6, 10, 3)
    (ex,), (tx,) = both(x, requires_grad=True)
    e, t = ef.rearrange(ex, pattern, **lengths), tf.rearrange(tx, pattern, **lengths)
    close(e, t, rtol=0, atol=0)
    c = arr(*t.shape)
    close(ember.autograd.grad(e, ex, ember.tensor(c))[0], torch.autograd.grad(t, tx, torch.tensor(c))[0])


def test_rearrange_stacks_sequences_and_squeezes_unit_axes():
    a, b = arr(2, 3), arr(2, 3)
    close(ef.rearrange([ember.tensor(a), ember.tensor(b)], "n h w -> h (n w)"),
          tf.rearrange((torch.tensor(a), torch.tensor(b)), "n h w -> h (n w)"))
    y = arr(4, 1, 3)
    close(ef.rearrange(ember.tensor(y), "a 1 b -> b a"), tf.rearrange(torch.tensor(y), "a 1 b -> b a"))
    close(ef.rearrange(ember.tensor(y), "a () b -> b a"), torch.tensor(y).squeeze(1).T)


def test_rearrange_errors():
    z = (4, 6, 10, 3)
    cases = [
        ("b h w c -> b h w", {}, ValueError, r"Identifiers only on one side of rearrange expression"),
        ("b h w -> b h w", {}, ValueError, r"Number of dimensions in pattern \(3\) must be equal to the number of "
                                           r"dimensions in the tensor \(4\)"),
        ("b h w c - b h w c", {}, ValueError, r"Pattern must contain a single '->' separator"),
        ("b h w 2 -> b h w", {}, ValueError, r"rearrange only supports unnamed axes of size 1"),
        ("b h h c -> b h c", {}, ValueError, r"Indexing expression contains duplicate dimension 'h'"),
        ("b ((h) w) c -> b h w c", {}, ValueError, r"Axis composition is one-level"),
        ("b h w c -> b h w c", {"x": 3}, ValueError, r"Identifiers not found in rearrange expression"),
        ("b h w c -> b h w c", {"h": 2.0}, TypeError, r"rearrange axis lengths must be integers"),
        ("b (... h) -> b h", {}, ValueError, r"Ellipsis is parenthesis in the left side is not allowed"),
        ("b . c d -> b c d", {}, ValueError, r"dots only"),
    ]
    for pattern, lengths, exc, match in cases:
        _both_raise(lambda L, p=pattern, k=lengths: L.func.rearrange(L.zeros(*z), p, **k), exc, match)
    with pytest.raises(ValueError, match=r"cannot infer the lengths of \['h', 'w'\] from dimension 1 \(size 6\)"):
        ef.rearrange(ember.zeros(*z), "b (h w) c d -> b h w c d")
    with pytest.raises(ValueError, match=r"dimension 1 of size 6 .* cannot be split into \['h', 'h1'\] with h1=4"):
        ef.rearrange(ember.zeros(*z), "b (h h1) w c -> b h h1 w c", h1=4)
    with pytest.raises(ValueError, match=r"dimension 1 has size 6 .* but the pattern's \(h\) has length 5"):
        ef.rearrange(ember.zeros(*z), "b h w c -> b h w c", h=5)



def _tied_module(T):
    class M(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = T.nn.Linear(2, 2, bias=False)
            self.b = T.nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    return M()


def test_functional_call_refuses_different_values_for_tied_weights():
    for T in (ember, torch):
        m = _tied_module(T)
        w = T.ones(2, 2)
        x = T.ones(2)
        out = T.func.functional_call(m, {"a.weight": w}, (x,))
        np.testing.assert_allclose(out.detach().numpy(), [4.0, 4.0])
        np.testing.assert_allclose(T.func.functional_call(m, {"a.weight": w, "b.weight": w}, (x,)).detach().numpy(),
                                   [4.0, 4.0])
        with pytest.raises(ValueError, match="tied"):
            T.func.functional_call(m, {"a.weight": w, "b.weight": w * 0}, (x,))

"""ember.autograd.forward_ad (dual tensors; tangents by the double-backward trick) against torch's forward AD."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

OPS = {
    "elementwise": lambda L, x, w: (L.tanh(x) * x.exp() + L.sigmoid(x).log() - x.sin() ** 2 / (1 + x.abs())),
    "matmul_softmax": lambda L, x, w: L.nn.functional.softmax(L.tanh(x @ w) * 2, dim=-1),
    "reductions": lambda L, x, w: (x.sum(0) * x.mean(1, keepdim=True) + x.amax(1, keepdim=True)).norm(),
    "shape_ops": lambda L, x, w: L.cat([x.t(), w[:, :3]], dim=1).reshape(-1).flip(0)[::2].cumsum(0),
    "nn": lambda L, x, w: L.nn.functional.layer_norm(L.nn.functional.gelu(x @ w), (5,)) * 0.5
    + L.nn.functional.log_softmax(x @ w, -1),
    "where_clamp": lambda L, x, w: L.where(x > 0, x.clamp(max=0.7), x * x).pow(3),
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tangents_match_torch(name, dtype):
    rng = np.random.default_rng(3)
    xa, wa = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    tx, tw = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    res = []
    for L in (ember, torch):
        F = L.autograd.forward_ad
        with F.dual_level():
            x = F.make_dual(L.tensor(xa), L.tensor(tx))
            w = F.make_dual(L.tensor(wa), L.tensor(tw))
            p, t = F.unpack_dual(OPS[name](L, x, w))
            res.append((p.detach().numpy(), t.numpy()))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res[0][0], res[1][0], **tol)
    np.testing.assert_allclose(res[0][1], res[1][1], **tol)
    assert res[0][1].dtype == res[1][1].dtype


def test_module_jvp_matches_torch_and_functional_jvp():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(12, 2))
    em = ember.nn.Sequential(ember.nn.Conv2d(2, 3, 3), ember.nn.ReLU(), ember.nn.Flatten(), ember.nn.Linear(12, 2))
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal((2, 2, 4, 4)).astype(np.float32), rng.standard_normal((2, 2, 4, 4)).astype(np.float32)
    out = []
    for L, m in ((ember, em), (torch, tm)):
        F = L.autograd.forward_ad
        with F.dual_level():
            out.append(F.unpack_dual(m(F.make_dual(L.tensor(x), L.tensor(v)))).tangent.detach().numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6)
    _, jv = ember.autograd.functional.jvp(em, ember.tensor(x), ember.tensor(v))
    np.testing.assert_allclose(out[0], jv.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_levels_none_tangents_and_errors_as_torch():
    for L in (torch, ember):
        F = L.autograd.forward_ad
        x = L.tensor([1.0, 2.0])
        with pytest.raises(RuntimeError, match="no level exists, make sure to enter_dual_level"):
            F.make_dual(x, L.ones(2))
        assert F.unpack_dual(x).tangent is None
        with F.dual_level() as lvl:
            assert lvl == 0
            d = F.make_dual(x, L.tensor([3.0, 4.0]))
            assert F.unpack_dual(d).tangent.tolist() == [3.0, 4.0]
            y = d * 2
            assert F.unpack_dual(L.ones(2)).tangent is None
            assert F.unpack_dual(y * 0 + L.ones(2)).tangent.tolist() == [0.0, 0.0]
            with pytest.raises(RuntimeError, match="different size than that of the original Tensor"):
                F.make_dual(x, L.ones(3))
            with pytest.raises(RuntimeError, match="Invalid level given to _make_dual"):
                F.make_dual(x, L.ones(2), level=5)
            with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported"):
                F.enter_dual_level()
        assert F.unpack_dual(y).tangent is None  # dropped with the level
        lvl = F.enter_dual_level()
        F.exit_dual_level(level=lvl)
        assert tuple(F.UnpackedDualTensor._fields) == ("primal", "tangent")


def test_unpack_leaves_the_reverse_graph_usable():
    F = ember.autograd.forward_ad
    w = ember.tensor([0.5, -1.0], requires_grad=True)
    with F.dual_level():
        d = F.make_dual(ember.tensor([1.0, 2.0]), ember.tensor([1.0, 0.0]))
        y = (d * w).exp().sum()
        t = F.unpack_dual(y).tangent
        y.backward()
    tw = torch.tensor([0.5, -1.0], requires_grad=True)
    import torch.autograd.forward_ad as tF
    with tF.dual_level():
        td = tF.make_dual(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0]))
        ty = (td * tw).exp().sum()
        tt = tF.unpack_dual(ty).tangent
        ty.backward()
    assert tt.requires_grad and not t.requires_grad  # torch's tangent has a graph to w; ember's is plain
    np.testing.assert_allclose(t.numpy(), tt.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-6)


def test_ember_only_errors():
    F = ember.autograd.forward_ad
    with pytest.raises(RuntimeError, match="no forward AD level to exit"):
        F.exit_dual_level()
    with F.dual_level():
        with pytest.raises(TypeError, match="forward AD needs a floating-point tensor"):
            F.make_dual(ember.tensor([1, 2]), ember.tensor([1, 1]))

"""Lazy modules: shapes inferred on the first call, then the module is its regular class and matches torch."""
import numpy as np
import pytest
import torch

import ember


@pytest.mark.parametrize("name,args,shape", [
    ("LazyConv1d", (4, 3), (2, 3, 8)),
    ("LazyConv2d", (4, 3, 2, 1), (2, 3, 6, 6)),
    ("LazyConvTranspose1d", (4, 3, 2), (2, 3, 5)),
    ("LazyConvTranspose2d", (2, 3), (3, 5, 5)),            # unbatched (C, H, W)
    ("LazyBatchNorm1d", (), (4, 3)),
    ("LazyBatchNorm2d", (), (4, 3, 2, 2)),
    ("LazyInstanceNorm1d", (), (2, 3, 6)),
    ("LazyInstanceNorm2d", (), (2, 3, 4, 4)),
])
def test_lazy_matches_torch(name, args, shape):
    e = getattr(ember.nn, name)(*args)
    t = getattr(torch.nn, name)(*args).double()
    assert e.has_uninitialized_params() == t.has_uninitialized_params()
    x = np.random.default_rng(0).standard_normal(shape)
    t(torch.from_numpy(x))           # materialize torch's, then copy its values into ember's after ours runs
    ye = e(ember.from_numpy(x))
    regular = name.replace("Lazy", "")
    assert type(e) is getattr(ember.nn, regular) and type(t) is getattr(torch.nn, regular)
    assert e.num_features == t.num_features if hasattr(t, "num_features") else e.in_channels == t.in_channels
    es, ts = e.state_dict(), t.state_dict()
    assert sorted(es) == sorted(ts)
    for k in ts:
        assert tuple(es[k].shape) == tuple(ts[k].shape), k
    e.load_state_dict({k: ember.from_numpy(v.numpy().copy()) for k, v in ts.items()})
    ye = e(ember.from_numpy(x))
    yt = t(torch.from_numpy(x))
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    ye.sum().backward()
    yt.sum().backward()
    for (n, p), (_, tp) in zip(e.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=n)


@pytest.mark.parametrize("dim", [1, 2])
def test_instance_norm_running_stats_match_torch(dim):
    shape = (3, 4, 5) if dim == 1 else (3, 4, 3, 2)
    e = getattr(ember.nn, f"InstanceNorm{dim}d")(4, affine=True, track_running_stats=True, momentum=0.3).double()
    t = getattr(torch.nn, f"InstanceNorm{dim}d")(4, affine=True, track_running_stats=True, momentum=0.3).double()
    assert sorted(e.state_dict()) == sorted(t.state_dict())
    rng = np.random.default_rng(1)
    for _ in range(2):
        x = rng.standard_normal(shape) * 2 + 1
        np.testing.assert_allclose(e(ember.from_numpy(x)).detach().numpy(), t(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(e.running_mean.numpy(), t.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(e.running_var.numpy(), t.running_var.numpy(), rtol=1e-12)
    e.eval()
    t.eval()
    xe = ember.from_numpy(x).requires_grad_(True)
    xt = torch.from_numpy(x).requires_grad_(True)
    ye, yt = e(xe), t(xt)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    (ye * ye).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(e.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="instance_norm: use_input_stats=False needs running_mean"):
        ember.nn.functional.instance_norm(xe, use_input_stats=False)


def test_lazy_errors_and_placeholders():
    m = ember.nn.LazyConv2d(4, 3)
    assert isinstance(m.weight, ember.nn.UninitializedParameter)
    with pytest.raises(RuntimeError, match="the shape of a lazy module's parameter is unknown"):
        m.weight.shape  # noqa: B018
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d"):
        m(ember.randn(3, 5))
    p = ember.nn.UninitializedParameter()
    p.materialize((2, 3))
    assert type(p) is ember.nn.Parameter and p.shape == (2, 3)
    b = ember.nn.UninitializedBuffer()
    b.materialize(4, dtype=ember.float64)
    assert type(b) is ember.Tensor and b.dtype == ember.float64
    lin = ember.nn.LazyLinear(3)
    assert lin(ember.randn(2, 5)).shape == (2, 3)

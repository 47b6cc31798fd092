"""torch.optim.swa_utils against torch: AveragedModel (SWA and EMA), SWALR, update_bn."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 3)).astype(np.float32)
Y = RNG.normal(size=(32, 1)).astype(np.float32)


def _run(L, ema, strategy):
    net = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.BatchNorm1d(4), L.nn.ReLU(), L.nn.Linear(4, 1))
    with L.no_grad():
        for i, p in enumerate(net.parameters()):
            p.copy_(L.tensor(np.random.default_rng(i).normal(size=tuple(p.shape)).astype(np.float32) * 0.5))
    opt = L.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    swa = L.optim.swa_utils
    avg = (swa.AveragedModel(net, multi_avg_fn=swa.get_ema_multi_avg_fn(0.8), use_buffers=True) if ema
           else swa.AveragedModel(net))
    sched = swa.SWALR(opt, swa_lr=0.02, anneal_epochs=3, anneal_strategy=strategy)
    lrs = []
    x, y = L.tensor(X), L.tensor(Y)
    for _ in range(6):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()
        avg.update_parameters(net)
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    loader = L.utils.data.DataLoader(L.utils.data.TensorDataset(x, y), batch_size=8)
    swa.update_bn(loader, avg)
    avg.eval()
    with L.no_grad():
        out = avg(x).numpy().copy()
    return lrs, out, int(avg.n_averaged), avg.module[1].running_var.numpy().copy(), sorted(avg.state_dict())


@pytest.mark.parametrize("ema,strategy", [(False, "cos"), (True, "linear")])
def test_swa_matches_torch(ema, strategy):
    ref, got = _run(torch, ema, strategy), _run(ember, ema, strategy)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], ref[1], rtol=2e-4, atol=2e-5)
    assert got[2] == ref[2] == 6
    np.testing.assert_allclose(got[3], ref[3], rtol=2e-4)
    assert got[4] == ref[4]


def test_swa_errors():
    m = ember.nn.Linear(2, 1)
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        ember.optim.swa_utils.AveragedModel(m, avg_fn=lambda *a: a[0], multi_avg_fn=lambda *a: None)
    opt = ember.optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear'"):
        ember.optim.swa_utils.SWALR(opt, swa_lr=0.1, anneal_strategy="exp")
    with pytest.raises(ValueError, match=r"Invalid decay value 1.5"):
        ember.optim.swa_utils.get_ema_multi_avg_fn(1.5)

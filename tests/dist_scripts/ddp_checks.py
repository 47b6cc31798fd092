"""Run under ``mpiexec -n 3`` (after collectives.py in suite.py): DistributedDataParallel's contract."""
import numpy as np

import ember
import ember.distributed as dist
import ember.nn as nn
from ember.nn.parallel import DistributedDataParallel as DDP
from ember.utils.data import DistributedSampler


def expect_error(exc, text, fn, *a, **k):
    try:
        fn(*a, **k)
    except exc as e:
        assert text in str(e), (text, str(e))
        return
    raise AssertionError(f"{getattr(fn, '__name__', fn)} did not raise {exc.__name__} ({text})")


expect_error(RuntimeError, "init_process_group() first", DDP, nn.Linear(2, 2))
if not dist.is_initialized():
    dist.init_process_group("gloo")  # accepted as an alias of mpi
r, n = dist.get_rank(), dist.get_world_size()

# construction: rank 0's parameters and buffers everywhere
ember.manual_seed(r)
net = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))
net[1].running_mean._data[...] = r
ddp = DDP(net, bucket_cap_mb=40 / 2**20)  # 40-byte buckets: one per parameter or so
assert ddp.module is net
assert sorted(ddp.state_dict()) == sorted("module." + k for k in net.state_dict())
state = {k: v.clone() for k, v in net.state_dict().items()}
for k, v in state.items():
    ref = v.clone()
    dist.broadcast(ref, src=0)
    assert np.array_equal(ref.numpy(), v.numpy()), k
assert float(net[1].running_mean.sum()) == 0.0

# gradients are the average of each rank's
x = ember.tensor(np.random.default_rng(r).standard_normal((6, 4)).astype(np.float32))
ref_model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))
ref_model.load_state_dict(state)
ref_model(x).pow(2).sum().backward()
local = {k: p.grad.clone() for k, p in ref_model.named_parameters()}
ddp(x).pow(2).sum().backward()
avg_of = {}
for k, p in net.named_parameters():
    avg = local[k].clone()
    dist.all_reduce(avg, dist.ReduceOp.AVG)
    np.testing.assert_allclose(p.grad.numpy(), avg.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    avg_of[k] = avg.numpy()

# overlap: when backward reaches the first layer, the last layer's first bucket is already being all-reduced
# (its hooks ran as soon as its gradients were final), the first layer's are not
seen = []


def _watch(m, inp, out):
    inp[0].register_hook(lambda g: seen.append([b.request is not None or b.stage > 0 for b in ddp._buckets]))


fh = net[2].register_forward_hook(_watch)
ddp(x).pow(2).sum().backward()
fh.remove()
assert ddp._buckets[0].params == [5] and ddp._buckets[1].params == [4], ddp._bucket_sizes()  # 2.bias, 2.weight
assert seen and seen[0][0] and seen[0][1] and not any(seen[0][2:]), seen
for k, p in net.named_parameters():
    np.testing.assert_allclose(p.grad.numpy(), 2 * avg_of[k], rtol=1e-5, atol=1e-6, err_msg=k)  # accumulated

# a slow rank (a hook that sleeps before a parameter of the second bucket gets its gradient) must not make
# the others read its half-written bucket: collectives are entered in the same order on every rank
issued = []
if ddp._shm is not None:  # the shared-memory steps this rank takes
    shm, start0, reduce0 = ddp._shm, ddp._shm.start, ddp._shm._reduce
    shm.start = lambda b: (issued.append((b.index, 1)), start0(b))[1]
    shm._reduce = lambda b: (issued.append((b.index, 2)), reduce0(b))[1]
for slow_param in (net[2].weight, net[1].bias, net[0].bias):
    slow = slow_param.register_hook(lambda g: __import__("time").sleep(0.1 if r == 1 else 0) or None)
    net.zero_grad()
    ddp(x).pow(2).sum().backward()
    slow.remove()
    for k, p in net.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), avg_of[k], rtol=1e-5, atol=1e-6, err_msg=k)
if ddp._shm is not None:
    del shm.start, shm._reduce
    # each bucket published and summed exactly once per backward (the order may differ between ranks:
    # every bucket has its own flags in shared memory)
    assert sorted(issued) == sorted((k, s) for k in range(5) for s in (1, 2) for _ in range(3)), issued

# no_sync: two local backwards, then one synced one, average the total
net.zero_grad()
ref_model.zero_grad()
with ddp.no_sync():
    ddp(x).sum().backward()
    ddp(x * 2).sum().backward()
ddp(x * 3).sum().backward()
ref_model.load_state_dict(net.state_dict())
for m in (1, 2, 3):
    ref_model(x * m).sum().backward()
for k, p in net.named_parameters():
    avg = dict(ref_model.named_parameters())[k].grad.clone()
    dist.all_reduce(avg, dist.ReduceOp.AVG)
    np.testing.assert_allclose(p.grad.numpy(), avg.numpy(), rtol=1e-5, atol=1e-5, err_msg=k)
# a second backward through a synced graph is refused
y = ddp(x).sum()
y.backward(retain_graph=True)
expect_error(RuntimeError, "second backward", y.backward)
# (the failed hook leaves this iteration over; a new forward starts cleanly)


# unused parameters
class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(3, 2)
        self.never = nn.Linear(3, 2)

    def forward(self, x, use_b):
        return self.a(x) + (self.b(x) if use_b else 0)


ember.manual_seed(0)
m = Branchy()
d = DDP(m, find_unused_parameters=True)
xb = ember.ones(2, 3)
d(xb, use_b=(r == 1)).sum().backward()
assert m.never.weight.grad is None  # unused on every rank: stays None, as in torch
np.testing.assert_allclose(m.b.weight.grad.numpy(), np.full((2, 3), 2.0 / n), rtol=1e-6)
np.testing.assert_allclose(m.a.weight.grad.numpy(), np.full((2, 3), 2.0), rtol=1e-6)
d2 = DDP(Branchy())
d2(xb, use_b=True).sum().backward()
expect_error(RuntimeError, "find_unused_parameters=True", d2, xb, use_b=True)
try:
    d2(xb, use_b=True).sum().backward()
    d2(xb, use_b=True)
except RuntimeError as e:
    assert "'never.weight'" in str(e) and "'b.weight'" not in str(e), str(e)
else:
    raise AssertionError("expected the unfinished-reduction error")

# several DDP models in one process, in one backward and alternately; uneven buckets (sizes that 3 ranks do
# not divide, float32 and float64 buckets); a frozen parameter (not in any bucket, its .grad stays None).
# The average is exact: the ranks' gradients summed in rank order, then times 1/n, bit for bit.
def exact_avg(g):
    parts = [None] * n
    dist.all_gather_object(parts, g)
    acc = parts[0].copy()
    for q in parts[1:]:
        acc += q
    return acc * acc.dtype.type(1.0 / n)


ember.manual_seed(1)
m1 = nn.Sequential(nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 3))
m1[0].bias.requires_grad_(False)
m2 = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).double()
r1 = nn.Sequential(nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 3))
r2 = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).double()
d1 = DDP(m1, bucket_cap_mb=64 / 2**20)  # 64-byte buckets: 3, 15 and 35 floats
d2 = DDP(m2, bucket_cap_mb=1)
assert len(d1._buckets) == 3 and any(b.flat.size % 3 for b in d1._buckets), d1._bucket_sizes()
rng = np.random.default_rng(100 + r)
for it in range(3):
    r1.load_state_dict(m1.state_dict())
    r2.load_state_dict(m2.state_dict())
    xa = ember.tensor(rng.standard_normal((4, 7)).astype(np.float32))
    both = it != 1  # iterations 0 and 2: one backward through both models; 1: one after the other
    for mod, ref in ((m1, r1), (m2, r2)):
        mod.zero_grad()
        ref.zero_grad()
    a = d1(xa)
    la = a.pow(2).sum()
    lb = d2(a.detach().double()).sum() * 3
    ra = r1(xa)
    (ra.pow(2).sum() + r2(ra.detach().double()).sum() * 3).backward()
    if both:
        (la + lb.float()).backward()
    else:
        la.backward()
        lb.backward()
    for mod, ref in ((m1, r1), (m2, r2)):
        for (k, p_), q_ in zip(mod.named_parameters(), ref.parameters()):
            if not p_.requires_grad:
                assert p_.grad is None, k
                continue
            want = exact_avg(q_.grad.numpy())
            assert p_.grad.dtype == q_.grad.dtype and np.array_equal(p_.grad.numpy(), want), (it, k)
    with ember.no_grad():
        for mod in (m1, m2):
            for p_ in mod.parameters():
                if p_.grad is not None:
                    p_ -= 0.1 * p_.grad
assert d1._shm is None or d1._shm.win is not None

# broadcast_buffers, torch's rule: rank 0's buffers are broadcast before the first forward and before a forward
# that follows a synchronized forward with grad enabled; a no_sync or no_grad forward turns it off until the
# next synchronized one. A forward pre-hook on the BatchNorm sees the buffers as the forward starts.
def buffer_check(broadcast_buffers):
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    dd = DDP(model, broadcast_buffers=broadcast_buffers)
    model[1].running_mean._data[...] = r  # diverged buffers (as after local BatchNorm updates)
    at_entry = []
    h = model[1].register_forward_pre_hook(lambda mod, inp: at_entry.append(mod.running_mean.numpy().copy()))
    rng_b = np.random.default_rng(50 + r)

    def fwd(ctx=None):
        xb = ember.tensor(rng_b.standard_normal((5, 3)).astype(np.float32))
        if ctx == "no_grad":
            with ember.no_grad():
                dd(xb)
            return
        if ctx == "no_sync":
            with dd.no_sync():
                dd(xb).sum().backward()
            return
        dd(xb).sum().backward()

    for ctx in (None, None, "no_sync", None, "no_grad", "no_grad", None):
        fwd(ctx)
    h.remove()
    seen = [None] * n
    dist.all_gather_object(seen, at_entry)
    return [all(np.array_equal(seen[q][i], seen[0][i]) for q in range(n)) for i in range(len(at_entry))]


assert buffer_check(True) == [True, True, True, False, True, False, False], buffer_check(True)
assert buffer_check(False) == [False] * 7
# bucket_cap_mb defaults to 25 MiB: 33.6 MB of float32 gradients make two buckets, filled in reverse order
big_model = nn.Sequential(nn.Linear(1024, 4096), nn.Linear(4096, 1024))
d_big = DDP(big_model)
assert d_big.bucket_cap_mb == 25 and d_big._bucket_sizes() == [3, 1], d_big._bucket_sizes()
assert [b.params for b in d_big._buckets] == [[3, 2, 1], [0]]
del d_big, big_model

# every rank must build the same model
expect_error(RuntimeError, "the model differs between ranks: ranks [", DDP, nn.Linear(3, 2 + (r == n - 1)))

# DistributedSampler takes world size and rank from the group; the ranks partition the data
s = DistributedSampler(range(10), shuffle=True, seed=3)
assert (s.num_replicas, s.rank) == (n, r) and len(s) == 4
allidx = [None] * n
dist.all_gather_object(allidx, list(s))
flat = [i for lst in allidx for i in lst]
assert sorted(set(flat)) == list(range(10)) and len(flat) == 12

# SyncBatchNorm: the statistics of the global batch
ember.manual_seed(0)
bn = nn.SyncBatchNorm(3)
xs = ember.tensor(np.random.default_rng(7).standard_normal((4 * n, 3, 2)).astype(np.float64))
part = xs[4 * r:4 * r + 4].detach().requires_grad_()
bn.double()
out = bn(part)
(out * ember.arange(out.numel(), dtype=ember.float64).reshape(out.shape)).sum().backward()
ref_bn = nn.BatchNorm1d(3).double()
xr = xs.detach().requires_grad_()
full = ref_bn(xr)
(full * ember.arange(out.numel() * n, dtype=ember.float64).reshape(full.shape)[...]).sum()
wts = np.concatenate([np.arange(out.numel()).reshape(out.shape)] * n)
(full * ember.tensor(wts.astype(np.float64))).sum().backward()
np.testing.assert_allclose(out.detach().numpy(), full.detach().numpy()[4 * r:4 * r + 4], rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(part.grad.numpy(), xr.grad.numpy()[4 * r:4 * r + 4], rtol=1e-8, atol=1e-10)
np.testing.assert_allclose(bn.running_var.numpy(), ref_bn.running_var.numpy(), rtol=1e-10)
# destroy_process_group frees DDP's shared-memory windows (a collective) on every rank
# a DDP that one rank has garbage-collected and the others have not: destroy_process_group still frees the
# same windows on every rank (freeing is collective; a mismatch would hang)
gone = DDP(nn.Linear(2, 2))
if r == 0:
    del gone
    __import__("gc").collect()
dd = [ddp, d, d1, d2]
want_shm = __import__("os").environ.get("EMBER_DDP_SHM", "1") != "0"
assert all((x._shm is not None) == want_shm for x in dd)  # one machine: the shared-memory reducer
dist.destroy_process_group()
assert all(x._shm is None for x in dd) and not dist.is_initialized()
print(f"DDP OK {r}", flush=True)

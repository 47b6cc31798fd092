"""Run under ``mpiexec -n 3``: every collective of ember.distributed against NumPy, plus error messages.
Prints ``COLLECTIVES OK <rank>`` on success (the test counts those lines)."""
import numpy as np

import ember
import ember.distributed as dist


def expect_error(exc, text, fn, *a, **k):
    try:
        fn(*a, **k)
    except exc as e:
        assert text in str(e), (text, str(e))
        return
    raise AssertionError(f"{fn.__name__} did not raise {exc.__name__} ({text})")


expect_error(RuntimeError, "init_process_group() first", dist.get_rank)
dist.init_process_group("mpi")
expect_error(RuntimeError, "twice", dist.init_process_group)
r, n = dist.get_rank(), dist.get_world_size()
assert n == 3 and dist.is_initialized() and dist.get_backend() == "mpi"
vals = [np.arange(6, dtype=np.float32).reshape(2, 3) * (k + 1) - k for k in range(n)]
mine = vals[r]
R = dist.ReduceOp
for op, ref in [(R.SUM, sum(vals)), (R.AVG, sum(vals) / n), (R.MAX, np.max(vals, 0)), (R.MIN, np.min(vals, 0)),
                (R.PRODUCT, np.prod(vals, 0))]:
    for dt in (ember.float32, ember.float64):
        t = ember.tensor(mine).to(dt)
        v0 = t._version
        dist.all_reduce(t, op)
        np.testing.assert_allclose(t.numpy(), ref, rtol=1e-6, err_msg=str(op))
        assert t._version > v0
# zero copies: a contiguous tensor's own array goes to MPI (same memory afterwards)
t = ember.tensor(mine)
arr = t._data
dist.all_reduce(t)
assert t._data is arr
# non-contiguous tensors and ints / bools / float16
t = ember.tensor(np.stack(vals[r:r + 1] * 2, -1))[..., 0]
dist.all_reduce(t)
np.testing.assert_allclose(t.numpy(), sum(vals))
t = ember.tensor([r, 10 * r], dtype=ember.int64)
dist.all_reduce(t, R.MAX)
assert t.tolist() == [n - 1, 10 * (n - 1)] and t.dtype == ember.int64
t = ember.tensor([r == 0, False])
dist.all_reduce(t)
assert t.tolist() == [True, False]
t = ember.tensor([1.5, 2.0], dtype=ember.float16)
dist.all_reduce(t)
assert t.tolist() == [1.5 * n, 2.0 * n] and t.dtype == ember.float16
expect_error(TypeError, "AVG needs a floating-point", dist.all_reduce, ember.tensor([1]), R.AVG)
expect_error(TypeError, "must be an ember Tensor", dist.all_reduce, np.ones(2))
# async
w = dist.all_reduce(ember.ones(4), async_op=True)
assert w.wait() and w.is_completed()
t = ember.ones(3) * r
w = dist.all_reduce(t, op=R.SUM, async_op=True)
w.wait()
assert t.tolist() == [3.0] * 3
# broadcast
t = ember.tensor([float(r)] * 3)
dist.broadcast(t, src=2)
assert t.tolist() == [2.0] * 3
w = dist.broadcast(t := ember.tensor([r, r]), src=1, async_op=True)
w.wait()
assert t.tolist() == [1, 1]
expect_error(ValueError, "src=5 is not a rank", dist.broadcast, t, 5)
# all_gather / all_gather_into_tensor
out = [ember.zeros(2, 3) for _ in range(n)]
dist.all_gather(out, ember.tensor(mine))
for k in range(n):
    np.testing.assert_array_equal(out[k].numpy(), vals[k])
expect_error(ValueError, "has 2 tensors but the group has 3 ranks", dist.all_gather, out[:2], ember.tensor(mine))
expect_error(ValueError, "every tensor must match", dist.all_gather, [ember.zeros(3)] * n, ember.tensor(mine))
cat = ember.zeros(2 * n, 3)
dist.all_gather_into_tensor(cat, ember.tensor(mine))
np.testing.assert_array_equal(cat.numpy(), np.concatenate(vals))
st = ember.zeros(n, 2, 3)
dist.all_gather_into_tensor(st, ember.tensor(mine), async_op=True).wait()
np.testing.assert_array_equal(st.numpy(), np.stack(vals))
expect_error(ValueError, "must be [6, 3] or [3, 2, 3]", dist.all_gather_into_tensor, ember.zeros(5, 3), ember.tensor(mine))
expect_error(TypeError, "dtype", dist.all_gather_into_tensor, ember.zeros(6, 3, dtype=ember.float64), ember.tensor(mine))
# reduce_scatter / reduce_scatter_tensor / reduce
big = [np.arange(3 * n, dtype=np.float64) * (k + 1) for k in range(n)]
o = ember.zeros(3, dtype=ember.float64)
dist.reduce_scatter_tensor(o, ember.tensor(big[r]))
np.testing.assert_allclose(o.numpy(), sum(big)[3 * r:3 * r + 3])
o = ember.zeros(3, dtype=ember.float64)
dist.reduce_scatter(o, [ember.tensor(big[r][3 * k:3 * k + 3]) for k in range(n)], op=R.MAX)
np.testing.assert_allclose(o.numpy(), np.max(big, 0)[3 * r:3 * r + 3])
t = ember.tensor(mine)
dist.reduce(t, dst=1)
np.testing.assert_allclose(t.numpy(), sum(vals) if r == 1 else mine)
# gather / scatter
gl = [ember.zeros(2, 3) for _ in range(n)] if r == 0 else None
dist.gather(ember.tensor(mine), gl, dst=0)
if r == 0:
    for k in range(n):
        np.testing.assert_array_equal(gl[k].numpy(), vals[k])
else:
    expect_error(ValueError, "only the destination rank", dist.gather, ember.tensor(mine), [ember.zeros(2, 3)] * n, 0)
t = ember.zeros(2, 3)
dist.scatter(t, [ember.tensor(v) for v in vals] if r == 2 else None, src=2)
np.testing.assert_array_equal(t.numpy(), vals[r])
# all_to_all_single
a = ember.tensor(np.arange(n, dtype=np.float32) + 10 * r)
b = ember.zeros(n)
dist.all_to_all_single(b, a)
assert b.tolist() == [float(r + 10 * k) for k in range(n)]
# uneven splits: rank r sends r + j + 1 rows (filled with 100 r + j) to rank j, async too
ins = [r + j + 1 for j in range(n)]
outs = [i + r + 1 for i in range(n)]
a = ember.tensor(np.concatenate([np.full((c, 2), 100 * r + j, np.float64) for j, c in enumerate(ins)]))
want = np.concatenate([np.full((c, 2), 100 * i + r, np.float64) for i, c in enumerate(outs)])
b = ember.zeros(sum(outs), 2, dtype=ember.float64)
dist.all_to_all_single(b, a, output_split_sizes=outs, input_split_sizes=ins)
np.testing.assert_array_equal(b.numpy(), want)
b2 = ember.zeros(sum(outs), 2, dtype=ember.float64)
dist.all_to_all_single(b2, a, outs, ins, async_op=True).wait()
np.testing.assert_array_equal(b2.numpy(), want)
# split sizes that do not agree between ranks raise on every rank, naming the ranks
expect_error(RuntimeError, "ranks [0] expect other amounts", dist.all_to_all_single,
             ember.zeros(sum(outs) + (r == 0), 2, dtype=ember.float64), a,
             [o + (r == 0 and i == 1) for i, o in enumerate(outs)], ins)
expect_error(ValueError, "one non-negative size per rank", dist.all_to_all_single, b, a, outs[:-1], ins)
# all_to_all: a list of tensors of any shapes, one per rank
sent = [ember.full((j + 1, r + 1), float(10 * r + j)) for j in range(n)]
got = [ember.zeros(r + 1, i + 1) for i in range(n)]
dist.all_to_all(got, sent)
for i in range(n):
    assert got[i].shape == (r + 1, i + 1) and got[i].tolist() == [[float(10 * i + r)] * (i + 1)] * (r + 1)
expect_error(ValueError, "one input and one output tensor per rank", dist.all_to_all, got[:1], sent[:1])
# send / recv / isend / irecv in a ring
nxt, prv = (r + 1) % n, (r - 1) % n
w = dist.isend(ember.tensor([float(r)] * 2), nxt)
got = ember.zeros(2)
src = dist.recv(got, src=prv)
w.wait()
assert src == prv and got.tolist() == [float(prv)] * 2
w = dist.irecv(got2 := ember.zeros(2, dtype=ember.int64))
dist.send(ember.tensor([r, r], dtype=ember.int64), nxt)
w.wait()
assert got2.tolist() == [prv, prv]
# objects: JSON-able values, tensors, arrays; no pickle
objs = [{"rank": r, "t": ember.ones(2) * r}, (1, "x"), None] if r == 1 else [None, None, None]
dist.broadcast_object_list(objs, src=1)
assert objs[0]["rank"] == 1 and objs[0]["t"].tolist() == [1.0, 1.0] and objs[1] == (1, "x") and objs[2] is None
lst = [None] * n
dist.all_gather_object(lst, {"r": r, "a": np.arange(r)})
assert [d["r"] for d in lst] == list(range(n)) and lst[2]["a"].tolist() == [0, 1]
gl = [None] * n if r == 0 else None
dist.gather_object(r * 2, gl, dst=0)
assert r != 0 or gl == [0, 2, 4]
so = [None]
dist.scatter_object_list(so, [f"to{k}" for k in range(n)] if r == 0 else None, src=0)
assert so == [f"to{r}"]


class Custom:
    pass


# an object that cannot travel fails on every rank with the same clear error (no hang, no pickle)
expect_error(TypeError, "no pickle", dist.broadcast_object_list, [Custom() if r == 0 else None], 0)
expect_error(TypeError, "no pickle", dist.all_gather_object, [None] * n, Custom() if r == 2 else 1)
# groups: global ranks in, group ranks out
g = dist.new_group([2, 0])
if r in (0, 2):
    assert dist.get_world_size(g) == 2 and dist.get_rank(g) == [0, 2].index(r)
    assert dist.get_process_group_ranks(g) == [0, 2] and dist.get_global_rank(g, 1) == 2
    t = ember.tensor([float(r)])
    dist.all_reduce(t, group=g)
    assert t.tolist() == [2.0]
    t = ember.tensor([float(r)])
    dist.broadcast(t, src=2, group=g)
    assert t.tolist() == [2.0]
else:
    assert dist.get_rank(g) == -1 and dist.get_world_size(g) == -1
    assert dist.all_reduce(ember.ones(1), group=g) is None  # a no-op on non-members, as in torch
# async_op=True on every collective that takes it: a Work whose wait() leaves the result in place
ws = []
t_red = ember.tensor(mine)
ws.append(dist.reduce(t_red, dst=2, op=R.MAX, async_op=True))
ag = [ember.zeros(2, 3) for _ in range(n)]
ws.append(dist.all_gather(ag, ember.tensor(mine), async_op=True))
rs = ember.zeros(3, dtype=ember.float64)
ws.append(dist.reduce_scatter(rs, [ember.tensor(big[r][3 * k:3 * k + 3]) for k in range(n)], async_op=True))
rst = ember.zeros(3, dtype=ember.float64)
ws.append(dist.reduce_scatter_tensor(rst, ember.tensor(big[r]), op=R.MIN, async_op=True))
gl = [ember.zeros(2, 3) for _ in range(n)] if r == 1 else None
ws.append(dist.gather(ember.tensor(mine), gl, dst=1, async_op=True))
sc = ember.zeros(2, 3)
ws.append(dist.scatter(sc, [ember.tensor(v) for v in vals] if r == 0 else None, src=0, async_op=True))
a2a = [ember.zeros(r + 1, i + 1) for i in range(n)]
ws.append(dist.all_to_all(a2a, [ember.full((j + 1, r + 1), float(10 * r + j)) for j in range(n)], async_op=True))
assert all(isinstance(w, dist.Work) for w in ws), ws
for w in reversed(ws):  # any order of waiting
    assert w.wait() is True and w.is_completed()
np.testing.assert_array_equal(t_red.numpy(), np.max(vals, 0) if r == 2 else mine)
for k in range(n):
    np.testing.assert_array_equal(ag[k].numpy(), vals[k])
    if r == 1:
        np.testing.assert_array_equal(gl[k].numpy(), vals[k])
    assert a2a[k].tolist() == [[float(10 * k + r)] * (k + 1)] * (r + 1)
np.testing.assert_allclose(rs.numpy(), sum(big)[3 * r:3 * r + 3])
np.testing.assert_allclose(rst.numpy(), np.min(big, 0)[3 * r:3 * r + 3])
np.testing.assert_array_equal(sc.numpy(), vals[r])
# async_op really does not block: rank 0 starts an all_reduce and only then sends rank 1 the message rank 1
# waits for before it joins the all_reduce; a blocking all_reduce on rank 0 would deadlock here
t = ember.ones(2) * (r + 1)
if r == 0:
    w = dist.all_reduce(t, async_op=True)
    dist.send(ember.tensor([7.0]), 1)
    w.wait()
elif r == 1:
    got = ember.zeros(1)
    dist.recv(got, src=0)
    assert got.tolist() == [7.0]
    dist.all_reduce(t)
else:
    dist.all_reduce(t)
assert t.tolist() == [float(n * (n + 1) // 2)] * 2
assert dist.SigtermGuard().should_stop() is False
assert dist.any_rank(r == 1) is True
dist.barrier()
dist.barrier(async_op=True).wait()
dist.destroy_process_group()
assert not dist.is_initialized()
print(f"COLLECTIVES OK {r}", flush=True)

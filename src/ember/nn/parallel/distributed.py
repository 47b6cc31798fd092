"""``DistributedDataParallel``: the same model on every rank, gradients averaged in buckets.

How the gradient averaging is wired (torch's design, on ember's autograd hooks):

* At construction the parameters that require grad are split into buckets of at most
  ``bucket_cap_mb`` MiB (one dtype each), in *reverse* registration order, the order backward
  usually produces their gradients. Rank 0's parameters and buffers are broadcast to all ranks.
* Each parameter gets a post-accumulate-grad hook (``Tensor.register_post_accumulate_grad_hook``),
  which the engine runs as soon as that parameter's ``.grad`` is final for this backward, while the
  rest of backward goes on. A forward pass with grad enabled and outside ``no_sync()`` *arms* the next
  backward. In an armed backward the hook copies ``.grad`` (which includes what was accumulated under
  ``no_sync()``) into its bucket's flat buffer; when a bucket's last parameter arrives, its reduction
  starts at once, while the rest of backward goes on: on one machine through ``_ShmReducer`` (shared
  memory, synchronized by sequence-number flags; the buffer is the rank's segment of the window and its
  own slice is read from ``.grad`` directly), across machines a non-blocking ``MPI_Iallreduce``.
* **End of backward**: the first hook queues a callback with the engine
  (``Variable._execution_engine.queue_callback``, as torch's DDP does); it runs when backward has
  finished, waits for every bucket and writes the averages into the ``.grad`` arrays, so when
  ``loss.backward()`` returns every ``.grad`` is averaged. With ``find_unused_parameters=True`` the
  parameters the forward graph does not reach are marked ready (their ``.grad``, or zeros) by that
  first hook, as torch does.
* If a backward ends with parameters that received no gradient and ``find_unused_parameters=False``,
  the next forward raises an error naming them (as torch does), instead of silently training on
  unaveraged gradients or hanging.

``state_dict()`` of the wrapper has keys prefixed ``module.`` (torch's behaviour); save
``ddp.module.state_dict()`` to get the plain model's keys, loadable with or without DDP.
"""
from __future__ import annotations

import contextlib
import os
import time
import weakref

import numpy as np

from ..._tensor import Tensor
from ...autograd.grad_mode import STATE, no_grad
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    __slots__ = ("index", "params", "offsets", "flat", "out", "pending", "request", "dtype", "stage", "ins", "seq",
                 "own", "export", "srcs")

    def __init__(self, index, params, dtype):
        self.index = index
        self.params = params  # list of param indices
        self.dtype = dtype
        self.offsets = {}
        self.flat = None  # this rank's gradients, flat
        self.out = None  # where the sum lands (flat itself for MPI_Iallreduce; shared memory for _ShmReducer)
        self.ins = None  # _ShmReducer: every rank's flat
        self.pending = 0
        self.request = None
        self.stage = 0
        self.seq = 0  # _ShmReducer: how many times this bucket was started (the same on every rank)
        self.own = ()  # _ShmReducer: (param, start, stop): the parts of this rank's slice, per parameter
        self.export = None  # _ShmReducer: param -> [(start, stop)]: its parts the other ranks sum
        self.srcs = {}  # _ShmReducer: param -> its flat gradient, where this rank's slice is read from


class _CommStats:
    """Where a rank's communication time goes (read by bench/bench_distributed.py; off unless enabled):
    CPU seconds of the work (copying gradients into the buckets, summing this rank's slice, writing the
    averages back into ``.grad``) and wall/CPU seconds spent waiting for the other ranks."""

    __slots__ = ("copy_cpu", "reduce_cpu", "finalize_cpu", "wait_wall", "wait_cpu", "backwards", "reduces",
                 "early_reduces", "finalizing")

    def __init__(self):
        self.copy_cpu = self.reduce_cpu = self.finalize_cpu = self.wait_wall = self.wait_cpu = 0.0
        self.backwards = self.reduces = self.early_reduces = 0  # early: a slice summed before backward ended
        self.finalizing = False

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__ if k != "finalizing"}


class _ShmReducer:
    """All-reduce (sum) of the buckets of ranks that share one machine, through an MPI-3 shared-memory
    window, synchronized by sequence numbers in that window instead of MPI calls.

    Each rank's segment holds two int64 flags per bucket (``ready``, ``done``) and the rank's copy of
    every bucket; rank 0's segment also holds the shared result. The hooks write each gradient straight
    into the rank's segment. When a bucket is complete the rank publishes ``ready[b] = seq`` (seq counts
    the bucket's reductions, the same on every rank). As soon as every rank's ``ready[b]`` has reached
    seq -- checked without blocking from every later hook, so while backward goes on -- the rank sums
    its own 1/p slice of the bucket over all segments into the result (reduce-scatter: each byte is read
    by one rank only) and publishes ``done[b] = seq``; once every rank's ``done[b]`` has reached seq, the
    whole sum is readable (all-gather by reading shared memory). ``MPI_Win_sync`` (a memory barrier) is
    issued before each flag is published and after one is observed. A rank's own slice is never copied:
    the hooks copy into the segment only the parts of a gradient that other ranks sum, and the rank sums
    its slice reading its own part straight from the ``.grad`` arrays.

    No MPI call is needed to progress a reduction, so a rank never waits for another to be scheduled
    just to enter a barrier, and buckets need not start in the same order on every rank. Reuse is safe
    without more synchronization: a rank overwrites its segment (next backward) only after seeing every
    rank's ``done`` (nobody reads it any more), and the result is overwritten only after every rank
    has published the next ``ready`` (so has finished reading the previous result). Waiting spins for
    ~50 us, then yields the core with short sleeps (the ranks may share cores with other processes).

    Used when every rank of the group is on this machine (else DDP uses ``MPI_Iallreduce``);
    ``EMBER_DDP_SHM=0`` turns it off."""

    SPIN_S = 50e-6
    SLEEP_S = 20e-6

    def __init__(self, MPI, comm, buckets, stats, sizes, ranks=None, timeout=1800.0):
        self.MPI = MPI
        self.timeout = timeout  # init_process_group(timeout=...): then wait_step raises naming the late ranks
        node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
        same = node.Get_size() == comm.Get_size()
        if not comm.allreduce(same, op=MPI.LAND):
            node.Free()
            raise RuntimeError("not every rank on one machine")
        self.comm = node
        self.stats = stats
        self.p, self.r = node.Get_size(), node.Get_rank()
        self.ranks = list(ranks) if ranks is not None else list(range(self.p))  # node rank -> global rank
        nb = len(buckets)
        head = -(-16 * nb // 64) * 64  # ready[nb], done[nb] (int64), padded to a cache line
        offs, total = [], head
        for b in buckets:
            offs.append(total)
            total += -(-b.flat.nbytes // 64) * 64  # 64-byte aligned
        res = total
        self.win = MPI.Win.Allocate_shared(total + (total - head) if self.r == 0 else total, 1, comm=node)
        segs = []
        for q in range(self.p):
            buf, _ = self.win.Shared_query(q)
            segs.append(np.frombuffer(buf, np.uint8))
        self.win.Lock_all(MPI.MODE_NOCHECK)
        self.ready = [seg[:8 * nb].view(np.int64) for seg in segs]
        self.done = [seg[8 * nb:16 * nb].view(np.int64) for seg in segs]
        self.ready[self.r][...] = 0
        self.done[self.r][...] = 0
        for b, off in zip(buckets, offs):
            nbytes = b.flat.nbytes
            b.ins = [seg[off:off + nbytes].view(b.dtype) for seg in segs]
            b.flat = b.ins[self.r]
            b.flat[...] = 0
            b.seq = 0
            b.out = segs[0][res + off - head:res + off - head + nbytes].view(b.dtype)
        n = [b.flat.size for b in buckets]
        self.slices = [(self.r * m // self.p, (self.r + 1) * m // self.p) for m in n]  # this rank sums these
        for b, (lo, hi) in zip(buckets, self.slices):
            b.own, b.export, b.srcs = [], {}, {}
            for i in b.params:
                off, size = b.offsets[i], sizes[i]
                a, z = max(lo - off, 0), min(hi - off, size)
                if a < z:
                    b.own.append((i, a, z))
                    b.export[i] = [(x, y) for x, y in ((0, a), (z, size)) if x < y]
                else:
                    b.export[i] = [(0, size)]
        self.win.Sync()
        node.Barrier()  # every rank's flags are zero before anybody looks at them

    def put(self, b, i, g):
        """Parameter ``i``'s gradient ``g`` (an array, or None for zeros) is final: copy the parts the
        other ranks sum into this rank's segment and remember ``g`` for this rank's own slice."""
        off = b.offsets[i]
        flat = b.flat
        if g is None:
            for x, y in b.export[i]:
                flat[off + x:off + y] = 0
            b.srcs[i] = None
            return
        gf = g.reshape(-1)
        for x, y in b.export[i]:
            flat[off + x:off + y] = gf[x:y]
        b.srcs[i] = gf

    def start(self, b):
        """This rank's part of ``b`` is in its segment: publish it."""
        b.seq += 1
        self.win.Sync()  # the gradients are visible before the flag
        self.ready[self.r][b.index] = b.seq
        b.stage = 1

    def _all(self, flags, i, seq):
        for f in flags:
            if f[i] < seq:
                return False
        return True

    def _reduce(self, b):
        st = self.stats
        c0 = time.thread_time() if st is not None else 0.0
        self.win.Sync()  # see the other ranks' gradients, published before their flags
        ins, r, srcs = b.ins, self.r, b.srcs
        for i, a, z in b.own:  # the sum in rank order (bit-identical results for a given number of ranks)
            s0, s1 = b.offsets[i] + a, b.offsets[i] + z
            g = srcs.get(i, False)  # False: not put this time (bench's all-reduce alone): the segment's
            if g is None:
                parts = [x[s0:s1] for q, x in enumerate(ins) if q != r]
                if len(parts) == 1:
                    np.copyto(b.out[s0:s1], parts[0])
                    continue
            else:
                mine = ins[r][s0:s1] if g is False else g[a:z]
                parts = [mine if q == r else x[s0:s1] for q, x in enumerate(ins)]
            out = b.out[s0:s1]
            np.add(parts[0], parts[1], out=out)
            for x in parts[2:]:
                np.add(out, x, out=out)
        srcs.clear()
        self.win.Sync()
        self.done[self.r][b.index] = b.seq
        b.stage = 2
        if st is not None:
            st.reduce_cpu += time.thread_time() - c0
            st.reduces += 1
            st.early_reduces += not st.finalizing

    def progress(self, b):
        """Advance ``b`` without blocking; True once its sum is readable."""
        if b.stage == 1 and self._all(self.ready, b.index, b.seq):
            self._reduce(b)
        if b.stage == 2 and self._all(self.done, b.index, b.seq):
            self.win.Sync()
            b.stage = 3
        return b.stage == 3

    def wait_step(self, b):
        """Block until ``b`` moves to its next stage (spin briefly, then sleep in short steps)."""
        st = b.stage
        if self.progress(b) or b.stage != st:
            return
        stats = self.stats
        t0 = time.perf_counter()
        if stats is not None:
            c0, r0 = time.thread_time(), stats.reduce_cpu
        spin_until, deadline = t0 + self.SPIN_S, t0 + self.timeout
        while True:
            self.progress(b)
            if b.stage != st:
                break
            now = time.perf_counter()
            if now > spin_until:
                if now > deadline:
                    self._timed_out(b, st)
                time.sleep(self.SLEEP_S)
        if stats is not None:
            stats.wait_wall += time.perf_counter() - t0
            stats.wait_cpu += time.thread_time() - c0 - (stats.reduce_cpu - r0)  # the sum is work, not waiting

    def _timed_out(self, b, st):
        flags = self.ready if st == 1 else self.done
        late = [self.ranks[q] for q in range(self.p) if flags[q][b.index] < b.seq]
        what = "publish their gradients for" if st == 1 else "sum their slices of"
        raise RuntimeError(
            f"DistributedDataParallel: waited {self.timeout:g} s for ranks {late} to {what} bucket {b.index} of "
            "this backward. A rank that skipped a backward (a rank-dependent skip: a None loss, a skipped "
            "batch, fewer batches) or that is stuck leaves the others waiting; every rank must run the same "
            "number of synchronized backwards. The limit is init_process_group(timeout=...)."
        )

    def free(self):
        try:
            self.win.Unlock_all()
            self.win.Free()
            self.comm.Free()
        except Exception:  # noqa: BLE001 - MPI already finalized
            pass


def _walk_outputs(obj, out, depth=0):
    if depth > 50:
        return
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            _walk_outputs(x, out, depth + 1)
    elif isinstance(obj, dict):
        for x in obj.values():
            _walk_outputs(x, out, depth + 1)


def _reachable_leaves(outputs):
    """ids of the leaf tensors the autograd graph of ``outputs`` reaches."""
    seen, leaves, stack = set(), set(), []
    for t in outputs:
        if t.grad_fn is not None:
            stack.append(t.grad_fn)
        elif t.requires_grad:
            leaves.add(id(t))
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for edge in getattr(fn, "edges", ()) or ():
            nxt, leaf = edge[1], edge[2]
            if leaf:
                leaves.add(id(nxt))
            elif id(nxt) not in seen:
                stack.append(nxt)
    return leaves


class DistributedDataParallel(Module):
    """Data parallelism across the ranks of a process group (torch's ``DistributedDataParallel``).

    Every rank runs the same model on its own part of the batch; ``loss.backward()`` leaves the
    gradients averaged over ranks, so an optimizer step keeps the replicas identical.

    Example (run with ``ember run -n 2 train.py``)::

        >>> dist.init_process_group("mpi")
        >>> model = DistributedDataParallel(nn.Linear(4, 2))
        >>> model(x).pow(2).mean().backward()     # grads are averaged over the ranks here
        >>> ember.save(model.module.state_dict(), "model.ember")   # plain keys, no 'module.'

    ``device_ids``/``output_device``/``dim``/``gradient_as_bucket_view``/``static_graph`` are
    accepted for torch compatibility (CPU processes only; no effect).
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 init_sync=True, process_group=None, bucket_cap_mb=None, find_unused_parameters=False,
                 check_reduction=False, gradient_as_bucket_view=False, static_graph=False, **kwargs):
        super().__init__()
        import ember.distributed as dist

        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an ember nn.Module, got {type(module).__name__}")
        if not dist.is_initialized():
            raise RuntimeError(
                "DistributedDataParallel: the default process group has not been initialized; call "
                "ember.distributed.init_process_group() first (and start with `ember run -n N script.py`)"
            )
        if bucket_cap_mb is None:
            bucket_cap_mb = 25
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.bucket_cap_mb = bucket_cap_mb
        self.require_backward_grad_sync = True
        # torch's rule for broadcast_buffers: rank 0's buffers are broadcast before a forward that follows
        # a synchronized forward with grad enabled (and before the first); a no_sync or no_grad forward
        # turns it off until the next synchronized one
        self.require_forward_param_sync = True
        self.device_ids, self.output_device, self.dim = device_ids, output_device, dim
        self.gradient_as_bucket_view, self.static_graph = gradient_as_bucket_view, static_graph
        pg = process_group if process_group is not None else dist.GroupMember.WORLD
        object.__setattr__(self, "process_group", pg)
        object.__setattr__(self, "_dist", dist)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        object.__setattr__(self, "_params", [p for _, p in named])
        object.__setattr__(self, "_names", [n for n, _ in named])
        self._world = pg.size()
        self._check_same_model()
        if init_sync and self._world > 1:
            self._broadcast_state()
        self._stats = None  # a _CommStats while the bench measures (_enable_comm_stats)
        self._build_buckets(bucket_cap_mb)
        self._handles = [p.register_post_accumulate_grad_hook(self._make_hook(i)) for i, p in enumerate(self._params)]
        self._reset_iteration(armed=False)
        self.comm_seconds = 0.0  # time spent waiting for all-reduces at the end of backward (bench)

    # ------------------------------------------------------------------ construction
    def _check_same_model(self):
        sig = [(n, list(p.shape), p.dtype.__str__()) for n, p in zip(self._names, self._params)]
        sig += [(n, list(b.shape), b.dtype.__str__()) for n, b in self.module.named_buffers()]
        sigs = [None] * self._world
        self._dist.all_gather_object(sigs, sig, group=self.process_group)
        bad = [self.process_group.ranks[i] for i, s in enumerate(sigs) if s != sigs[0]]
        if bad:
            mine = sigs[bad[0] if bad[0] < len(sigs) else 0]
            diff = next(((a, b) for a, b in zip(sigs[0], mine) if a != b), (len(sigs[0]), len(mine)))
            raise RuntimeError(
                f"DistributedDataParallel: the model differs between ranks: ranks {bad} have parameters or "
                f"buffers that do not match rank {self.process_group.ranks[0]}'s (first difference: {diff[0]} vs "
                f"{diff[1]}). Every rank must build the same model."
            )

    def _broadcast_state(self):
        src = self.process_group.ranks[0]
        with no_grad():
            for t in list(self.module.parameters()) + [b for b in self.module.buffers() if b is not None]:
                self._dist.broadcast(t, src=src, group=self.process_group)

    def _build_buckets(self, cap_mb):
        cap = int(cap_mb * 1024 * 1024)
        buckets, cur, size, dtype = [], [], 0, None
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            nb = p._data.nbytes
            if cur and (p._data.dtype != dtype or size + nb > cap):
                buckets.append((cur, dtype))
                cur, size = [], 0
            cur.append(i)
            size += nb
            dtype = p._data.dtype
        if cur:
            buckets.append((cur, dtype))
        self._buckets = []
        self._bucket_of = {}
        for k, (idx, dt) in enumerate(buckets):
            b = _Bucket(k, idx, dt)
            off = 0
            for i in idx:
                b.offsets[i] = off
                off += self._params[i]._data.size
                self._bucket_of[i] = b
            b.flat = np.zeros(off, dt)
            b.out = b.flat
            self._buckets.append(b)
        self._shm = None
        if self._world > 1 and os.environ.get("EMBER_DDP_SHM", "1") != "0":
            try:
                core = self._dist._core._S
                self._shm = _ShmReducer(core.mpi, self.process_group.comm, self._buckets, self._stats,
                                        [p._data.size for p in self._params], self.process_group.ranks, core.timeout)
            except Exception:  # noqa: BLE001 - ranks on several machines, or no shared memory: MPI_Iallreduce
                self._local_buffers()
            else:  # freeing a window is collective: done by destroy_process_group, on every rank, in the
                # order the windows were made. The reducer itself is held (not the DDP through a weak
                # reference): a DDP that one rank's garbage collector has already collected and another's
                # not must not make the ranks free different windows (a hang).
                shm, ref = self._shm, weakref.ref(self)

                def release():
                    ddp = ref()
                    if ddp is not None and ddp._shm is shm:
                        ddp._local_buffers()
                    shm.free()

                self._dist._core._S.on_destroy.append(release)

    def _local_buffers(self):
        self._shm = None
        for b in self._buckets:
            b.flat = np.zeros(b.flat.size, b.dtype)
            b.out = b.flat
            b.ins = None

    def _enable_comm_stats(self):
        """Start counting where the communication time goes (a fresh ``_CommStats``, returned)."""
        self._stats = _CommStats()
        if self._shm is not None:
            self._shm.stats = self._stats
        return self._stats

    def _bucket_sizes(self):
        return [len(b.params) for b in self._buckets]

    # ------------------------------------------------------------------ per-iteration state
    def _reset_iteration(self, armed):
        self._armed = armed
        self._after_final = False
        self._started = False  # the first hook of this backward has run (callback queued)
        self._ready = [False] * len(self._params)
        self._n_ready = 0
        self._unused = ()
        self._used = None
        self._inflight = []
        self._next_bucket = 0  # buckets start in index order on every rank (torch's rule), so the
        for b in self._buckets:  # collectives match even when ranks finish them in another order
            b.pending = len(b.params)
            b.request = None
            b.stage = 0

    def _check_finished(self):
        if self._armed and 0 < self._n_ready < len(self._params):
            missing = [n for n, r in zip(self._names, self._ready) if not r]
            self._reset_iteration(armed=False)
            raise RuntimeError(
                "DistributedDataParallel: expected to have finished reduction in the prior iteration before "
                f"starting a new one: these parameters received no gradient in the last backward: {missing}. "
                "Pass find_unused_parameters=True if some parameters do not take part in the loss, and make sure "
                "every forward output that depends on them is used in the loss."
            )

    def _prepare(self, output):
        """Arm the next backward (torch's ``reducer.prepare_for_backward``); ``output``: the forward's
        output (or the loss), searched for the parameters it does not reach when find_unused_parameters."""
        self._check_finished()
        self._reset_iteration(armed=True)
        if self.find_unused_parameters:
            outs = []
            _walk_outputs(output, outs)
            reach = _reachable_leaves(outs)
            self._used = np.array([id(p) in reach for p in self._params], np.uint8)
            self._unused = [i for i, used in enumerate(self._used) if not used]

    # ------------------------------------------------------------------ hooks
    def _make_hook(self, i):
        def hook(param):
            self._on_grad(i, param)
        hook._ember_ddp = True
        return hook

    def _on_grad(self, i, p):
        if not self._armed:
            if self._after_final:
                raise RuntimeError(
                    "DistributedDataParallel: a second backward through the same forward pass (retain_graph=True) "
                    "is not supported: the gradients were already averaged. Run a new forward first."
                )
            return  # under no_sync(): accumulate locally
        if STATE.enabled:
            raise RuntimeError("DistributedDataParallel: backward with create_graph=True is not supported")
        if self._ready[i]:
            raise RuntimeError(
                f"DistributedDataParallel: parameter {self._names[i]!r} received a gradient twice in one backward "
                "(a module reused in a way DDP cannot see, or a backward under a hook); this is not supported"
            )
        if not self._started:
            self._started = True
            from ...autograd.engine import queue_callback

            queue_callback(self._end_of_backward)
            for j in self._unused:  # not reached by the forward graph: ready now, as in torch
                self._mark_ready(j)
        self._mark_ready(i)

    def _mark_ready(self, i):
        b = self._bucket_of[i]
        off = b.offsets[i]
        p = self._params[i]
        g = p.grad
        st = self._stats
        if st is not None:
            c0 = time.thread_time()
        if self._shm is not None:
            self._shm.put(b, i, None if g is None else g._data)
        else:
            dst = b.flat[off:off + p._data.size].reshape(p._data.shape)
            if g is None:
                dst[...] = 0
            else:
                dst[...] = g._data
        if st is not None:
            st.copy_cpu += time.thread_time() - c0
        self._ready[i] = True
        self._n_ready += 1
        b.pending -= 1
        if b.pending == 0:
            self._start_ready()
        elif self._inflight:
            self._progress()

    def _start_ready(self):
        """Start the complete buckets and advance the started ones, without blocking.

        ``MPI_Iallreduce``: buckets start in index order on every rank (torch's rule), so the collectives
        match even when ranks complete them in another order. Shared memory: a bucket starts as soon as it
        is complete (its flags are its own, so the order does not matter), and every started bucket whose
        data has arrived from all ranks gets this rank's slice summed at once."""
        bs, shm = self._buckets, self._shm
        if shm is not None:
            while self._next_bucket < len(bs):  # (index order only to find the complete ones quickly)
                b = bs[self._next_bucket]
                if b.pending:
                    break
                self._next_bucket += 1
            for b in bs:
                if b.pending == 0 and b.stage == 0:
                    shm.start(b)
                    self._inflight.append(b)
            for b in self._inflight:
                if b.stage != 3:
                    shm.progress(b)
            return
        while self._next_bucket < len(bs) and bs[self._next_bucket].pending == 0:
            b = bs[self._next_bucket]
            self._next_bucket += 1
            MPI = self._dist._core._S.mpi
            b.request = self.process_group.comm.Iallreduce(MPI.IN_PLACE, b.flat, op=MPI.SUM)
            self._inflight.append(b)
        if self._inflight:  # MPI progresses non-blocking collectives inside MPI calls
            self._dist._core._S.mpi.Request.Testall([b.request for b in self._inflight])

    _progress = _start_ready

    def _wait_all(self):
        self._start_ready()
        if self._shm is None:
            if self._inflight:
                st = self._stats
                if st is not None:
                    t0, c0 = time.perf_counter(), time.thread_time()
                self._dist._core._S.mpi.Request.Waitall([b.request for b in self._inflight])
                if st is not None:
                    st.wait_wall += time.perf_counter() - t0
                    st.wait_cpu += time.thread_time() - c0
            return
        for b in self._inflight:
            while b.stage != 3:
                self._shm.wait_step(b)

    def _allreduce_buckets(self):
        """The buckets' all-reduces alone, blocking (what the bench compares the overlap against)."""
        self._reset_iteration(armed=False)
        for b in self._buckets:
            b.pending = 0
        self._start_ready()
        self._wait_all()
        self._reset_iteration(armed=False)

    def _end_of_backward(self):
        if self._armed and self._n_ready == len(self._params):
            self._finalize()
        # otherwise some parameters got no gradient: the next forward raises naming them (as torch)

    def _finalize(self):
        t0 = time.perf_counter()
        MPI = self._dist._core._S.mpi
        st = self._stats
        if st is not None:
            st.finalizing = True
        self._wait_all()
        used = None
        if self._used is not None:
            used = self._used.copy()
            self.process_group.comm.Allreduce(MPI.IN_PLACE, used, op=MPI.MAX)
        self.comm_seconds += time.perf_counter() - t0
        if st is not None:
            st.finalizing = False
            c0 = time.thread_time()
        inv = 1.0 / self._world
        for b in self._buckets:
            scale = b.dtype.type(inv) if b.dtype.kind in "fc" else None
            for i in b.params:
                p = self._params[i]
                if used is not None and not used[i]:
                    continue  # unused on every rank: .grad stays as it was (None), as in torch
                off = b.offsets[i]
                val = b.out[off:off + p._data.size].reshape(p._data.shape)
                g = p.grad
                if g is None or g.requires_grad or not g._data.flags.writeable or g._data.shape != val.shape:
                    p.grad = Tensor._wrap(val * scale if scale is not None else val.copy())
                elif scale is not None:
                    np.multiply(val, scale, out=g._data)  # the average, written into .grad in one pass
                    g._bump()
                else:
                    g._data[...] = val
                    g._bump()
        if st is not None:
            st.finalize_cpu += time.thread_time() - c0
            st.backwards += 1
        self._armed = False
        self._after_final = True

    # ------------------------------------------------------------------ forward
    def _sync_buffers(self):
        bufs = [b for b in self.module.buffers() if b is not None]
        if bufs:
            src = self.process_group.ranks[0]
            for t in bufs:
                self._dist.broadcast(t, src=src, group=self.process_group)

    def forward(self, *inputs, **kwargs):
        sync = self._pre_forward()
        out = self.module(*inputs, **kwargs)
        self._post_forward(out, sync)
        return out

    # the two halves of forward, for wrappers that call another method than forward (the Trainer's
    # ddp strategy runs training_step between them)
    def _pre_forward(self) -> bool:
        sync = STATE.enabled and self.require_backward_grad_sync
        if self.require_forward_param_sync and self.broadcast_buffers and self._world > 1:
            self._sync_buffers()
        return sync

    def _post_forward(self, out, sync) -> None:
        self.require_forward_param_sync = bool(sync)
        if sync:
            self._prepare(out)
        else:
            self._check_finished()
            self._reset_iteration(armed=False)

    @contextlib.contextmanager
    def no_sync(self):
        """Skip the gradient averaging for forward/backward passes run inside: gradients accumulate
        locally and are averaged (together) by the first backward of a forward outside the block."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self):
        return f"world_size={self._world}, buckets={self._bucket_sizes()}"

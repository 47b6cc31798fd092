"""torch.distributed's collectives over MPI (mpi4py): process groups, collectives, point-to-point, objects.

Every tensor argument is an ember CPU tensor; its NumPy array goes to MPI directly (no copy) when it
is C-contiguous and of a dtype MPI reduces natively, otherwise through a contiguous temporary that is
copied back. Collectives change tensors in place (their version counter is bumped) and are not
recorded by autograd, as in torch.
"""
from __future__ import annotations

import io
import os
import struct
import sys
import threading

import numpy as np

__all__ = [
    "Backend", "ReduceOp", "ProcessGroup", "Work", "GroupMember", "group",
    "is_available", "is_mpi_available", "is_initialized", "init_process_group", "destroy_process_group",
    "get_rank", "get_world_size", "get_backend", "new_group", "get_process_group_ranks",
    "get_global_rank", "get_group_rank", "barrier", "all_reduce", "broadcast", "all_gather",
    "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor", "reduce", "gather", "scatter",
    "all_to_all_single", "all_to_all", "send", "recv", "isend", "irecv", "broadcast_object_list", "all_gather_object",
    "gather_object", "scatter_object_list",
]


# ----------------------------------------------------------------------------- names torch users expect
class Backend(str):
    """Backend names. ember has one engine, MPI; ``"gloo"`` (torch's CPU backend) is accepted as an
    alias so torch scripts run unchanged."""

    UNDEFINED = "undefined"
    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"

    def __new__(cls, name: str):
        return str.__new__(cls, str(name).lower())


class _Op:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<RedOpType.{self.name}>"

    def __reduce__(self):  # pragma: no cover - not meant to be pickled
        raise TypeError("ReduceOp values are not picklable")


class ReduceOp:
    """Reduction operators (torch.distributed.ReduceOp). AVG is computed as SUM / group size and
    needs a floating-point tensor."""

    SUM = _Op("SUM")
    AVG = _Op("AVG")
    PRODUCT = _Op("PRODUCT")
    MIN = _Op("MIN")
    MAX = _Op("MAX")
    BAND = _Op("BAND")
    BOR = _Op("BOR")
    BXOR = _Op("BXOR")
    RedOpType = _Op


_OPS = {o.name: o for o in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX,
                            ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR)}


class ProcessGroup:
    """A set of ranks with its own MPI communicator. ``ranks`` are global ranks, sorted."""

    def __init__(self, comm, ranks):
        self.comm = comm
        self.ranks = list(ranks)

    def rank(self):
        return self.comm.Get_rank()

    def size(self):
        return self.comm.Get_size()

    def name(self):
        return "mpi"

    def __repr__(self):
        return f"ProcessGroup(backend='mpi', ranks={self.ranks})"


class GroupMember:
    """``GroupMember.WORLD`` is the default group; ``NON_GROUP_MEMBER`` is what ``new_group`` returns
    on ranks outside the new group (collectives on it are no-ops there, as in torch)."""

    WORLD = None
    NON_GROUP_MEMBER = None


class _GroupNS:
    @property
    def WORLD(self):
        return GroupMember.WORLD


group = _GroupNS()


class _State:
    world: ProcessGroup | None = None
    mpi = None
    owns_init = False
    prev_excepthook = None
    prev_thread_hook = None
    # collective clean-ups run by destroy_process_group on every rank (DDP's shared-memory windows)
    on_destroy: list = []
    # init_process_group(timeout=...), seconds: how long DDP's shared-memory reducer waits for another rank
    timeout: float = 1800.0


_S = _State()


def _debug_on() -> bool:
    return os.environ.get("EMBER_DISTRIBUTED_DEBUG", "0") not in ("", "0", "false", "False")


# ----------------------------------------------------------------------------- setup
def is_available() -> bool:
    """True: ember.distributed is always built in. Whether MPI can be used is ``is_mpi_available()``."""
    return True


def is_mpi_available() -> bool:
    """True when mpi4py can be imported (``pip install ember[mpi]``)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def _import_mpi(who):
    if _S.mpi is not None:
        return _S.mpi
    try:
        import mpi4py
    except ImportError as e:
        raise ImportError(
            f"{who}: ember.distributed runs on MPI through mpi4py, which is not installed. "
            "Install it with `pip install ember[mpi]` (mpi4py and the MPICH wheel, which brings mpiexec)."
        ) from e
    mpi4py.rc.finalize = True
    from mpi4py import MPI

    _S.mpi = MPI
    return MPI


def is_initialized() -> bool:
    """Whether ``init_process_group`` has run (and ``destroy_process_group`` has not)."""
    return _S.world is not None


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join the MPI world started by ``mpiexec``/``srun``/``ember run`` (or a world of one process
    when started plainly). ``backend`` may be None, ``"mpi"`` or ``"gloo"`` (an alias: ember's CPU
    engine is MPI). ``world_size``/``rank`` are optional; when given they must match MPI's.

    It also installs the fault handling that keeps jobs from hanging (see docs/distributed.md): an
    uncaught exception on any rank prints that rank's traceback with its rank number and aborts the
    whole MPI job.
    """
    if _S.world is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process group twice! "
                           "Call destroy_process_group() first.")
    if backend is not None:
        b = str(backend).lower()
        if b.startswith("cpu:"):
            b = b[4:]
        if b not in ("mpi", "gloo"):
            raise ValueError(
                f"init_process_group: backend {backend!r} is not available in ember; its only engine is MPI "
                "for CPU tensors: use backend='mpi' (or 'gloo', accepted as an alias)."
            )
    if init_method not in (None, "env://") and not str(init_method).startswith(("env://", "mpi://")):
        raise ValueError(f"init_process_group: init_method {init_method!r} is not supported; the MPI launcher "
                         "(mpiexec / ember run / srun) sets up the world")
    secs = 1800.0 if timeout is None else (timeout.total_seconds() if hasattr(timeout, "total_seconds")
                                             else float(timeout))
    if not secs > 0:
        raise ValueError(f"init_process_group: timeout must be positive (a datetime.timedelta or seconds), "
                         f"got {timeout!r}")
    MPI = _import_mpi("init_process_group")
    if not MPI.Is_initialized():
        MPI.Init_thread(MPI.THREAD_MULTIPLE)
        _S.owns_init = True
    comm = MPI.COMM_WORLD.Dup()
    n, r = comm.Get_size(), comm.Get_rank()
    if world_size not in (-1, None) and int(world_size) != n:
        comm.Free()
        raise ValueError(f"init_process_group: world_size={world_size} but the MPI job has {n} processes; "
                         f"start it with `ember run -n {world_size} script.py` or leave world_size out")
    if rank not in (-1, None) and int(rank) != r:
        comm.Free()
        raise ValueError(f"init_process_group: rank={rank} but MPI says this process is rank {r}; leave rank out")
    _S.world = ProcessGroup(comm, range(n))
    _S.timeout = secs
    GroupMember.WORLD = _S.world
    if n > 1:
        _install_fault_handlers()
    _write_rank_env(r, n)
    if _debug_on():
        _check_signature(_S.world, "init_process_group", "")


def _write_rank_env(r, n):
    os.environ.setdefault("RANK", str(r))
    os.environ.setdefault("WORLD_SIZE", str(n))
    local = os.environ.get("MPI_LOCALRANKID") or os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK") \
        or os.environ.get("SLURM_LOCALID")
    os.environ.setdefault("LOCAL_RANK", local if local is not None else str(r))


def destroy_process_group(group=None):
    """Free the group (the default group and every group made from it when ``group`` is None)."""
    if group is None or group is _S.world:
        if _S.world is None:
            return
        cleanups, _S.on_destroy = _S.on_destroy, []
        for fn in cleanups:
            fn()
        try:
            _S.world.comm.Free()
        except Exception:  # pragma: no cover - already freed by MPI finalisation
            pass
        _S.world = None
        GroupMember.WORLD = None
        _restore_fault_handlers()
        return
    if isinstance(group, ProcessGroup) and group.comm is not None:
        group.comm.Free()
        group.comm = None


# ----------------------------------------------------------------------------- faults
def _abort_with_traceback(exc_type, exc, tb, where="") -> None:
    import traceback

    r = _S.world.rank() if _S.world is not None else -1
    n = _S.world.size() if _S.world is not None else -1
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    head = f"[ember.distributed] rank {r} of {n} failed{where}; aborting the whole job:\n"
    body = "".join(f"[rank {r}] {line}\n" for line in text.rstrip("\n").split("\n"))
    try:
        sys.stdout.flush()
    except Exception:  # pragma: no cover
        pass
    try:
        sys.stderr.write(head + body)
        sys.stderr.flush()
        # the text is in the pipe to mpiexec's proxy, which Abort makes kill every process: give it a moment
        # to forward the traceback first (a loaded CI run once lost it)
        import time

        time.sleep(0.3)
    finally:
        _S.mpi.COMM_WORLD.Abort(1)


def _excepthook(exc_type, exc, tb):
    if _S.world is None or issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
        return (_S.prev_excepthook or sys.__excepthook__)(exc_type, exc, tb)
    _abort_with_traceback(exc_type, exc, tb)


def _thread_excepthook(args):
    if _S.world is None or args.exc_type is SystemExit:
        return (_S.prev_thread_hook or threading.__excepthook__)(args)
    where = f" in thread {args.thread.name!r}" if args.thread is not None else ""
    _abort_with_traceback(args.exc_type, args.exc_value, args.exc_traceback, where)


def _install_fault_handlers():
    if os.environ.get("EMBER_DISTRIBUTED_ABORT_ON_ERROR", "1") in ("0", "false", "False"):
        return
    _S.prev_excepthook = sys.excepthook
    _S.prev_thread_hook = threading.excepthook
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def _restore_fault_handlers():
    if _S.prev_excepthook is not None:
        sys.excepthook = _S.prev_excepthook
        threading.excepthook = _S.prev_thread_hook
        _S.prev_excepthook = _S.prev_thread_hook = None


# ----------------------------------------------------------------------------- groups and ranks
def _world(who) -> ProcessGroup:
    if _S.world is None:
        raise RuntimeError(
            f"{who}: the default process group has not been initialized; call "
            "ember.distributed.init_process_group() first (and start the script with `ember run -n N script.py`)"
        )
    return _S.world


def _group(group, who) -> ProcessGroup:
    w = _world(who)
    if group is None:
        return w
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"{who}: group must be a ProcessGroup from new_group() or None, got {type(group).__name__}")
    return group


def _member(g) -> bool:
    return g.comm is not None


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (the world by default); -1 if it is not a member."""
    g = _group(group, "get_rank")
    return g.rank() if _member(g) else -1


def get_world_size(group=None) -> int:
    """Number of processes in ``group`` (the world by default); -1 on a non-member."""
    g = _group(group, "get_world_size")
    return g.size() if _member(g) else -1


def get_backend(group=None) -> str:
    _group(group, "get_backend")
    return Backend.MPI


def get_process_group_ranks(group) -> list:
    """The global ranks in ``group``."""
    return list(_group(group, "get_process_group_ranks").ranks)


def get_global_rank(group, group_rank: int) -> int:
    g = _group(group, "get_global_rank")
    if not 0 <= group_rank < len(g.ranks):
        raise ValueError(f"get_global_rank: group rank {group_rank} is not in a group of {len(g.ranks)} ranks")
    return g.ranks[group_rank]


def get_group_rank(group, global_rank: int) -> int:
    g = _group(group, "get_group_rank")
    if global_rank not in g.ranks:
        raise ValueError(f"get_group_rank: global rank {global_rank} is not part of the group (ranks {g.ranks})")
    return g.ranks.index(global_rank)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None):
    """A group of the given global ranks (all of them when None). Every rank of the world must call it,
    in the same order as the other ranks; on ranks outside ``ranks`` it returns a non-member group."""
    w = _world("new_group")
    n = w.size()
    if ranks is None:
        ranks = list(range(n))
    ranks = sorted(int(r) for r in ranks)
    if len(set(ranks)) != len(ranks) or any(not 0 <= r < n for r in ranks):
        raise ValueError(f"new_group: ranks must be distinct global ranks in [0, {n}), got {ranks}")
    if _debug_on():
        _check_signature(w, "new_group", f"ranks={ranks}")
    wg = w.comm.Get_group()
    sub = wg.Incl(ranks)
    comm = w.comm.Create(sub)
    sub.Free()
    wg.Free()
    MPI = _S.mpi
    return ProcessGroup(None if comm == MPI.COMM_NULL else comm, ranks)


def _peer(g, global_rank, who, what):
    if not isinstance(global_rank, (int, np.integer)) or isinstance(global_rank, bool):
        raise TypeError(f"{who}: {what} must be an int (a global rank), got {type(global_rank).__name__}")
    if global_rank not in g.ranks:
        raise ValueError(f"{who}: {what}={global_rank} is not a rank of the group (global ranks {g.ranks})")
    return g.ranks.index(int(global_rank))


# ----------------------------------------------------------------------------- buffers
def _array(t, who, name="tensor"):
    from .._tensor import Tensor

    if not isinstance(t, Tensor):
        raise TypeError(f"{who}: {name} must be an ember Tensor, got {type(t).__name__}")
    a = t._data
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{who}: {name} is on {t.device}; the MPI backend moves CPU tensors only (call .cpu() first)")
    return a


def _sig_tensor(a):
    return f"{a.dtype.name}{list(a.shape)}"


# dtypes MPI reduces natively; others go through a temporary of the dtype on the right
_REDUCE_NATIVE = {np.dtype(x) for x in (np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                        np.uint16, np.uint32, np.uint64, np.complex64, np.complex128)}


def _reduce_dtype(dt, op, who):
    if op is ReduceOp.AVG and dt.kind not in "fc":
        raise TypeError(f"{who}: ReduceOp.AVG needs a floating-point tensor, got {dt.name}; use SUM and divide")
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and dt.kind not in "iub":
        raise TypeError(f"{who}: bitwise ReduceOp.{op.name} needs an integer or bool tensor, got {dt.name}")
    if dt.kind == "c" and op in (ReduceOp.MIN, ReduceOp.MAX):
        raise TypeError(f"{who}: ReduceOp.{op.name} is not defined for complex tensors")
    if dt in _REDUCE_NATIVE:
        return dt
    if dt.kind == "f":
        return np.dtype(np.float32) if dt.itemsize < 4 else np.dtype(np.float64)
    if dt.kind == "b":
        return np.dtype(np.uint8)
    raise TypeError(f"{who}: tensors of dtype {dt.name} cannot be reduced over MPI")


def _mpi_op(op, dt, who):
    MPI = _S.mpi
    if not isinstance(op, _Op):
        raise TypeError(f"{who}: op must be an ember.distributed.ReduceOp (e.g. ReduceOp.SUM), got {op!r}")
    if dt.kind == "b":  # torch: SUM/MAX on bool are OR, PRODUCT/MIN are AND
        return {"SUM": MPI.MAX, "MAX": MPI.MAX, "BOR": MPI.MAX, "PRODUCT": MPI.MIN, "MIN": MPI.MIN,
                "BAND": MPI.MIN, "BXOR": MPI.BXOR, "AVG": MPI.MAX}[op.name]
    return {"SUM": MPI.SUM, "AVG": MPI.SUM, "PRODUCT": MPI.PROD, "MIN": MPI.MIN, "MAX": MPI.MAX,
            "BAND": MPI.BAND, "BOR": MPI.BOR, "BXOR": MPI.BXOR}[op.name]


def _direct(a, dt=None):
    """``a`` itself when MPI can read/write it in place (contiguous, writeable, dtype ``dt``)."""
    return a.flags.c_contiguous and a.flags.writeable and (dt is None or a.dtype == dt)


def _work_buf(a, dt=None):
    """(buffer, write_back) for ``a``: the array itself when possible, else a contiguous temporary."""
    if _direct(a, dt):
        return a, None
    tmp = np.ascontiguousarray(a, dtype=dt if dt is not None else a.dtype)

    def back():
        if a.dtype.kind == "b":
            a[...] = tmp != 0
        else:
            a[...] = tmp.astype(a.dtype, copy=False)
    return tmp, back


def _raw(a):
    """A contiguous byte view for moving (not reducing) data; any dtype."""
    return a.reshape(-1).view(np.uint8)


def _bump(*tensors):
    for t in tensors:
        t._bump()


# ----------------------------------------------------------------------------- work objects
class Work:
    """What an ``async_op=True`` collective returns: ``wait()`` blocks until it finished (and, for
    reductions, the result is in the tensor); ``is_completed()`` polls."""

    def __init__(self, requests, finish=None, result=None):
        self._reqs = list(requests)
        self._finish = finish
        self._result = result
        self._done = False

    def _complete(self):
        if self._done:
            return
        self._done = True
        f, self._finish = self._finish, None
        if f is not None:
            f()

    def wait(self, timeout=None):
        if not self._done:
            if self._reqs:
                _S.mpi.Request.Waitall(self._reqs)
            self._complete()
        return True

    def is_completed(self) -> bool:
        if self._done:
            return True
        if not self._reqs or _S.mpi.Request.Testall(self._reqs):
            self._complete()
            return True
        return False

    def is_success(self) -> bool:
        return self.is_completed()

    def result(self):
        self.wait()
        return self._result

    def __repr__(self):
        return f"Work(completed={self._done})"


def _finish(requests, finish, async_op, result=None):
    w = Work(requests, finish, result)
    if async_op:
        return w
    w.wait()
    return None


# ----------------------------------------------------------------------------- debug signatures
def _check_signature(g, who, desc):
    """EMBER_DISTRIBUTED_DEBUG=1: every rank shares what it is about to call; ranks that differ
    are named in a RuntimeError raised on every rank (instead of a deadlock or garbage)."""
    comm = g.comm
    sig = f"{who}({desc})".encode()
    n = comm.Get_size()
    lens = np.zeros(n, np.int64)
    comm.Allgather(np.array([len(sig)], np.int64), lens)
    buf = np.empty(int(lens.sum()), np.uint8)
    comm.Allgatherv(np.frombuffer(sig, np.uint8), [buf, lens, _S.mpi.BYTE])
    sigs, off = [], 0
    for k in lens:
        sigs.append(bytes(buf[off:off + int(k)]).decode())
        off += int(k)
    if len(set(sigs)) == 1:
        return
    counts = {}
    for s in sigs:
        counts[s] = counts.get(s, 0) + 1
    common = max(counts, key=lambda s: (counts[s], -sigs.index(s)))
    odd = [g.ranks[i] for i, s in enumerate(sigs) if s != common]
    lines = "\n".join(f"  rank {g.ranks[i]}: {s}" for i, s in enumerate(sigs))
    raise RuntimeError(
        f"{who}: ranks {odd} called a different collective or different shapes than the others "
        f"(EMBER_DISTRIBUTED_DEBUG found it before MPI could deadlock):\n{lines}"
    )


def _pre(group, who, desc_fn):
    g = _group(group, who)
    if not _member(g):
        return None
    if _debug_on():
        _check_signature(g, who, desc_fn())
    return g


# ----------------------------------------------------------------------------- collectives
def barrier(group=None, async_op=False, device_ids=None):
    """Block until every rank of the group reached the barrier."""
    g = _pre(group, "barrier", lambda: "")
    if g is None:
        return None
    return _finish([g.comm.Ibarrier()], None, async_op)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across ranks in place: every rank gets the result."""
    a = _array(tensor, "all_reduce")
    g = _pre(group, "all_reduce", lambda: f"{_sig_tensor(a)}, op={getattr(op, 'name', op)}")
    if g is None:
        return None
    dt = _reduce_dtype(a.dtype, op, "all_reduce")
    mop = _mpi_op(op, a.dtype, "all_reduce")
    buf, back = _work_buf(a, dt)
    n = g.size()

    def finish():
        if op is ReduceOp.AVG:
            buf[...] /= n
        if back is not None:
            back()
        _bump(tensor)

    MPI = _S.mpi
    return _finish([g.comm.Iallreduce(MPI.IN_PLACE, buf, op=mop)], finish, async_op)


def reduce(tensor, dst=0, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across ranks into rank ``dst`` (global rank); other ranks' tensors are unchanged."""
    a = _array(tensor, "reduce")
    g = _pre(group, "reduce", lambda: f"{_sig_tensor(a)}, dst={dst}, op={getattr(op, 'name', op)}")
    if g is None:
        return None
    root = _peer(g, dst, "reduce", "dst")
    dt = _reduce_dtype(a.dtype, op, "reduce")
    mop = _mpi_op(op, a.dtype, "reduce")
    mine = g.rank() == root
    buf, back = _work_buf(a, dt) if mine else (np.ascontiguousarray(a, dtype=dt), None)
    n = g.size()
    MPI = _S.mpi

    def finish():
        if mine:
            if op is ReduceOp.AVG:
                buf[...] /= n
            if back is not None:
                back()
            _bump(tensor)

    sendbuf = MPI.IN_PLACE if mine else buf
    recvbuf = buf if mine else None
    return _finish([g.comm.Ireduce(sendbuf, recvbuf, op=mop, root=root)], finish, async_op)


def broadcast(tensor, src, group=None, async_op=False):
    """Copy ``tensor`` of rank ``src`` (a global rank) into ``tensor`` on every rank."""
    a = _array(tensor, "broadcast")
    g = _pre(group, "broadcast", lambda: f"{_sig_tensor(a)}, src={src}")
    if g is None:
        return None
    root = _peer(g, src, "broadcast", "src")
    buf, back = _work_buf(a)
    raw = _raw(buf)

    def finish():
        if back is not None:
            back()
        if g.rank() != root:
            _bump(tensor)

    return _finish([g.comm.Ibcast(raw, root=root)], finish, async_op)


def _check_like(t, ref, who, name):
    a = _array(t, who, name)
    if a.shape != ref.shape or a.dtype != ref.dtype:
        raise ValueError(f"{who}: {name} has shape {list(a.shape)} and dtype {a.dtype.name}, but the tensor "
                         f"is {list(ref.shape)} {ref.dtype.name}; every tensor must match it")
    return a


def _check_list(lst, n, ref, who, name):
    if not isinstance(lst, (list, tuple)):
        raise TypeError(f"{who}: {name} must be a list of tensors, got {type(lst).__name__}")
    if len(lst) != n:
        raise ValueError(f"{who}: {name} has {len(lst)} tensors but the group has {n} ranks; it needs one per rank")
    return [_check_like(t, ref, who, f"{name}[{i}]") for i, t in enumerate(lst)]


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[i]`` becomes rank i's ``tensor`` on every rank."""
    a = _array(tensor, "all_gather")
    g = _pre(group, "all_gather", lambda: _sig_tensor(a))
    if g is None:
        return None
    n = g.size()
    outs = _check_list(tensor_list, n, a, "all_gather", "tensor_list")
    send = np.ascontiguousarray(a)
    recv = np.empty((n,) + a.shape, a.dtype)

    def finish():
        for o, t, r in zip(outs, tensor_list, recv):
            o[...] = r
            _bump(t)

    return _finish([g.comm.Iallgather(_raw(send), _raw(recv))], finish, async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Gather every rank's ``input_tensor`` into ``output_tensor``: either concatenated along dim 0
    (shape ``(world*d0, ...)``) or stacked (shape ``(world, *input.shape)``)."""
    a = _array(input_tensor, "all_gather_into_tensor", "input_tensor")
    o = _array(output_tensor, "all_gather_into_tensor", "output_tensor")
    g = _pre(group, "all_gather_into_tensor", lambda: f"{_sig_tensor(o)}, {_sig_tensor(a)}")
    if g is None:
        return None
    n = g.size()
    cat = (a.shape[0] * n,) + a.shape[1:] if a.ndim else (n,)
    if o.dtype != a.dtype:
        raise TypeError(f"all_gather_into_tensor: output dtype {o.dtype.name} differs from input dtype {a.dtype.name}")
    if o.shape not in (cat, (n,) + a.shape):
        raise ValueError(f"all_gather_into_tensor: output_tensor has shape {list(o.shape)}; with {n} ranks and an "
                         f"input of shape {list(a.shape)} it must be {list(cat)} or {[n, *a.shape]}")
    buf, back = _work_buf(o)
    send = np.ascontiguousarray(a)

    def finish():
        if back is not None:
            back()
        _bump(output_tensor)

    return _finish([g.comm.Iallgather(_raw(send), _raw(buf))], finish, async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` (shape ``(world*d0, ...)`` or ``(world, *output.shape)``) across ranks and keep
    chunk ``rank`` of the result in ``output``."""
    o = _array(output, "reduce_scatter_tensor", "output")
    a = _array(input, "reduce_scatter_tensor", "input")
    g = _pre(group, "reduce_scatter_tensor", lambda: f"{_sig_tensor(o)}, {_sig_tensor(a)}, op={getattr(op, 'name', op)}")
    if g is None:
        return None
    n = g.size()
    if a.dtype != o.dtype:
        raise TypeError(f"reduce_scatter_tensor: output dtype {o.dtype.name} differs from input dtype {a.dtype.name}")
    if a.size != o.size * n:
        raise ValueError(f"reduce_scatter_tensor: input has shape {list(a.shape)}; with {n} ranks and an output of "
                         f"shape {list(o.shape)} it must hold {n} x {o.size} elements")
    return _reduce_scatter(g, output, o, np.ascontiguousarray(a), op, async_op, "reduce_scatter_tensor")


def _reduce_scatter(g, output, o, send, op, async_op, who):
    dt = _reduce_dtype(o.dtype, op, who)
    mop = _mpi_op(op, o.dtype, who)
    send = send.astype(dt, copy=False)
    buf, back = _work_buf(o, dt)
    n = g.size()

    def finish():
        if op is ReduceOp.AVG:
            buf[...] /= n
        if back is not None:
            back()
        _bump(output)

    return _finish([g.comm.Ireduce_scatter_block(send, buf, op=mop)], finish, async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """``output`` on rank i becomes the reduction over ranks of their ``input_list[i]``."""
    o = _array(output, "reduce_scatter", "output")
    g = _pre(group, "reduce_scatter", lambda: f"{_sig_tensor(o)}, op={getattr(op, 'name', op)}")
    if g is None:
        return None
    ins = _check_list(input_list, g.size(), o, "reduce_scatter", "input_list")
    return _reduce_scatter(g, output, o, np.stack(ins) if ins else np.empty(0, o.dtype), op, async_op,
                           "reduce_scatter")


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """Rank ``dst`` receives every rank's ``tensor`` into ``gather_list`` (other ranks pass None)."""
    a = _array(tensor, "gather")
    g = _pre(group, "gather", lambda: f"{_sig_tensor(a)}, dst={dst}")
    if g is None:
        return None
    root = _peer(g, dst, "gather", "dst")
    mine = g.rank() == root
    n = g.size()
    if mine:
        if gather_list is None:
            raise ValueError(f"gather: rank {dst} is the destination and must pass gather_list ({n} tensors)")
        outs = _check_list(gather_list, n, a, "gather", "gather_list")
        recv = np.empty((n,) + a.shape, a.dtype)
    elif gather_list:
        raise ValueError(f"gather: only the destination rank {dst} passes gather_list; got one on rank {get_rank()}")
    send = np.ascontiguousarray(a)

    def finish():
        if mine:
            for o, t, r in zip(outs, gather_list, recv):
                o[...] = r
                _bump(t)

    rb = _raw(recv) if mine else None
    return _finish([g.comm.Igather(_raw(send), rb, root=root)], finish, async_op)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Rank i's ``tensor`` becomes ``scatter_list[i]`` of rank ``src`` (other ranks pass None)."""
    a = _array(tensor, "scatter")
    g = _pre(group, "scatter", lambda: f"{_sig_tensor(a)}, src={src}")
    if g is None:
        return None
    root = _peer(g, src, "scatter", "src")
    mine = g.rank() == root
    n = g.size()
    if mine:
        if scatter_list is None:
            raise ValueError(f"scatter: rank {src} is the source and must pass scatter_list ({n} tensors)")
        ins = _check_list(scatter_list, n, a, "scatter", "scatter_list")
        send = np.stack(ins) if ins else None
    elif scatter_list:
        raise ValueError(f"scatter: only the source rank {src} passes scatter_list; got one on rank {get_rank()}")
    buf, back = _work_buf(a)

    def finish():
        if back is not None:
            back()
        _bump(tensor)

    sb = _raw(send) if mine else None
    return _finish([g.comm.Iscatter(sb, _raw(buf), root=root)], finish, async_op)


def _split_sizes(sizes, total, n, who, name, dim0):
    if sizes is None or len(sizes) == 0:  # torch: None or [] means equal splits
        if total % n:
            raise ValueError(f"{who}: {dim0} {total} is not divisible by the {n} ranks; pass {name} "
                             f"(one size per rank) for uneven splits")
        return [total // n] * n
    sizes = [int(x) for x in sizes]
    if len(sizes) != n or any(x < 0 for x in sizes) or sum(sizes) != total:
        raise ValueError(f"{who}: {name}={sizes} must have one non-negative size per rank ({n}) summing to "
                         f"{dim0} ({total})")
    return sizes


def _agree_counts(g, who, send_counts, recv_counts):
    """Uneven exchange: each rank tells each other how much it sends; a mismatch with what the receiver
    expects raises on every rank (MPI would truncate, or leave garbage), before any data moves."""
    n = g.size()
    sent_to_me = np.zeros(n, np.int64)
    g.comm.Alltoall(np.asarray(send_counts, np.int64), sent_to_me)
    bad = np.array([int(np.any(sent_to_me != np.asarray(recv_counts, np.int64)))], np.int32)
    flags = np.zeros(n, np.int32)
    g.comm.Allgather(bad, flags)
    if flags.any():
        ranks = [g.ranks[i] for i in np.flatnonzero(flags)]
        mine = f"this rank expects {list(map(int, recv_counts))} and is sent {sent_to_me.tolist()}"
        raise RuntimeError(f"{who}: the split sizes do not match between ranks: ranks {ranks} expect other amounts "
                           f"than the other ranks send them ({mine}, in elements of dim 0's slices); rank i's "
                           f"input_split_sizes[j] must equal rank j's output_split_sizes[i]")


def _alltoallv(g, send, send_bytes, recv, recv_bytes, async_op, finish):
    MPI = _S.mpi
    sd = np.concatenate([[0], np.cumsum(send_bytes)[:-1]]).astype(np.int64)
    rd = np.concatenate([[0], np.cumsum(recv_bytes)[:-1]]).astype(np.int64)
    sb = [_raw(send), (list(map(int, send_bytes)), list(map(int, sd))), MPI.BYTE]
    rb = [_raw(recv), (list(map(int, recv_bytes)), list(map(int, rd))), MPI.BYTE]
    return _finish([g.comm.Ialltoallv(sb, rb)], finish, async_op)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None,
                      async_op=False):
    """Split ``input`` along dim 0 into one chunk per rank, send chunk j to rank j, and concatenate what
    arrives (rank i's chunk first) into ``output``. Equal splits by default; ``input_split_sizes`` /
    ``output_split_sizes`` (one dim-0 size per rank) give uneven ones, which must agree between ranks
    (rank i's ``input_split_sizes[j]`` is rank j's ``output_split_sizes[i]``; checked, raising on every rank)."""
    o = _array(output, "all_to_all_single", "output")
    a = _array(input, "all_to_all_single", "input")
    uneven = bool(output_split_sizes) or bool(input_split_sizes)
    g = _pre(group, "all_to_all_single",
             lambda: f"{a.dtype.name}[*, {list(a.shape[1:])}] uneven" if uneven else f"{_sig_tensor(o)}, {_sig_tensor(a)}")
    if g is None:
        return None
    n = g.size()
    if not uneven:
        if o.shape != a.shape or o.dtype != a.dtype or (a.shape[0] if a.ndim else 0) % n:
            raise ValueError(f"all_to_all_single: input {_sig_tensor(a)} and output {_sig_tensor(o)} must have the "
                             f"same shape and dtype, with dim 0 divisible by the {n} ranks (or pass "
                             f"input_split_sizes/output_split_sizes for uneven splits)")
    elif a.ndim == 0 or o.ndim == 0 or o.dtype != a.dtype or o.shape[1:] != a.shape[1:]:
        raise ValueError(f"all_to_all_single: input {_sig_tensor(a)} and output {_sig_tensor(o)} must have the "
                         "same dtype and the same sizes after dim 0")
    buf, back = _work_buf(o)
    send = np.ascontiguousarray(a)

    def finish():
        if back is not None:
            back()
        _bump(output)

    if not uneven:
        return _finish([g.comm.Ialltoall(_raw(send), _raw(buf))], finish, async_op)
    ins = _split_sizes(input_split_sizes, a.shape[0], n, "all_to_all_single", "input_split_sizes", "input's dim 0")
    outs = _split_sizes(output_split_sizes, o.shape[0], n, "all_to_all_single", "output_split_sizes",
                        "output's dim 0")
    _agree_counts(g, "all_to_all_single", ins, outs)
    row = a.dtype.itemsize * int(np.prod(a.shape[1:], dtype=np.int64))
    return _alltoallv(g, send, np.asarray(ins, np.int64) * row, buf, np.asarray(outs, np.int64) * row,
                      async_op, finish)


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """Send ``input_tensor_list[j]`` to rank j; ``output_tensor_list[i]`` receives rank i's tensor. Shapes
    may differ between the pairs (each received tensor must have the size its sender sends: checked), one
    dtype throughout."""
    who = "all_to_all"
    if not isinstance(input_tensor_list, (list, tuple)) or not isinstance(output_tensor_list, (list, tuple)):
        raise TypeError(f"{who}: output_tensor_list and input_tensor_list must be lists of tensors")
    ins = [_array(t, who, f"input_tensor_list[{j}]") for j, t in enumerate(input_tensor_list)]
    outs = [_array(t, who, f"output_tensor_list[{j}]") for j, t in enumerate(output_tensor_list)]
    dts = {x.dtype for x in ins + outs}
    g = _pre(group, who, lambda: f"{len(ins)} inputs, {len(outs)} outputs, {'/'.join(sorted(d.name for d in dts))}")
    if g is None:
        return None
    n = g.size()
    if len(ins) != n or len(outs) != n:
        raise ValueError(f"{who}: expected one input and one output tensor per rank ({n}), got {len(ins)} inputs "
                         f"and {len(outs)} outputs")
    if len(dts) > 1:
        raise TypeError(f"{who}: every tensor must have the same dtype, got {sorted(d.name for d in dts)}")
    send_counts = [x.size for x in ins]
    recv_counts = [x.size for x in outs]
    _agree_counts(g, who, send_counts, recv_counts)
    send = np.concatenate([x.reshape(-1) for x in ins]) if ins else np.empty(0)
    recv = np.empty(sum(recv_counts), ins[0].dtype if ins else np.float32)

    def finish():
        off = 0
        for t, x in zip(output_tensor_list, outs):
            x[...] = recv[off:off + x.size].reshape(x.shape)
            off += x.size
            _bump(t)

    item = send.dtype.itemsize
    return _alltoallv(g, send, np.asarray(send_counts, np.int64) * item, recv,
                      np.asarray(recv_counts, np.int64) * item, async_op, finish)


# ----------------------------------------------------------------------------- point to point
def _typed(a):
    """A typed MPI buffer spec, so a receive of the wrong dtype or size is an MPI error, not garbage."""
    MPI = _S.mpi
    try:
        return [a, MPI._typedict[a.dtype.char]]
    except (KeyError, AttributeError):
        return _raw(a)


def send(tensor, dst, group=None, tag=0):
    """Send ``tensor`` to global rank ``dst`` (blocks until it can be reused)."""
    a = _array(tensor, "send")
    g = _group(group, "send")
    peer = _peer(g, dst, "send", "dst")
    if peer == g.rank():
        raise ValueError(f"send: dst={dst} is this rank itself")
    g.comm.Send(_typed(np.ascontiguousarray(a)), dest=peer, tag=tag)


def recv(tensor, src=None, group=None, tag=0):
    """Receive into ``tensor`` from global rank ``src`` (any rank when None); returns the sender's rank."""
    a = _array(tensor, "recv")
    g = _group(group, "recv")
    MPI = _S.mpi
    peer = MPI.ANY_SOURCE if src is None else _peer(g, src, "recv", "src")
    buf, back = _work_buf(a)
    st = MPI.Status()
    g.comm.Recv(_typed(buf), source=peer, tag=tag, status=st)
    if back is not None:
        back()
    _bump(tensor)
    return g.ranks[st.Get_source()]


def isend(tensor, dst, group=None, tag=0):
    """Non-blocking ``send``; returns a Work."""
    a = _array(tensor, "isend")
    g = _group(group, "isend")
    peer = _peer(g, dst, "isend", "dst")
    buf = np.ascontiguousarray(a)
    return Work([g.comm.Isend(_typed(buf), dest=peer, tag=tag)], result=buf)


def irecv(tensor, src=None, group=None, tag=0):
    """Non-blocking ``recv``; returns a Work whose ``wait()`` leaves the data in ``tensor``."""
    a = _array(tensor, "irecv")
    g = _group(group, "irecv")
    MPI = _S.mpi
    peer = MPI.ANY_SOURCE if src is None else _peer(g, src, "irecv", "src")
    buf, back = _work_buf(a)

    def finish():
        if back is not None:
            back()
        _bump(tensor)

    return Work([g.comm.Irecv(_typed(buf), source=peer, tag=tag)], finish)


# ----------------------------------------------------------------------------- objects (no pickle)
_OBJ_HELP = ("objects travel in ember's safe checkpoint format (no pickle): dicts, lists, tuples, None, bool, int, "
             "float, str, bytes, ember Tensors, NumPy arrays and scalars")


def _encode(obj, who):
    from ..serialization import save

    f = io.BytesIO()
    try:
        save(obj, f)
    except TypeError as e:
        return None, f"{who}: cannot send {type(obj).__name__}: {e}. {_OBJ_HELP}."
    raw = f.getvalue()
    (hlen,) = struct.unpack("<Q", raw[:8])
    if b'"ember.pickle"' in raw[8:8 + hlen]:  # ember.save pickles what its safe format cannot hold: refuse
        return None, (f"{who}: cannot send {type(obj).__name__}: it holds objects that would need pickle. "
                      f"{_OBJ_HELP}; send e.g. a state_dict() instead.")
    return np.frombuffer(raw, np.uint8), None


def _decode(raw):
    from ..serialization import load

    return load(io.BytesIO(raw.tobytes()))


def _gather_bytes(g, data, err, who):
    """Every rank's encoded bytes (allgatherv); raises on all ranks if any rank failed to encode."""
    n = g.size()
    lens = np.zeros(n, np.int64)
    g.comm.Allgather(np.array([-1 if data is None else data.size], np.int64), lens)
    bad = [g.ranks[i] for i in range(n) if lens[i] < 0]
    if bad:
        raise TypeError(err if err is not None else f"{who}: rank(s) {bad} could not encode their object; {_OBJ_HELP}")
    buf = np.empty(int(lens.sum()), np.uint8)
    g.comm.Allgatherv(data, [buf, lens, _S.mpi.BYTE])
    out, off = [], 0
    for k in lens:
        out.append(buf[off:off + int(k)])
        off += int(k)
    return out


def all_gather_object(object_list, obj, group=None):
    """``object_list[i]`` becomes rank i's ``obj`` (JSON-able values, tensors and arrays; no pickle)."""
    g = _pre(group, "all_gather_object", lambda: "")
    if g is None:
        return None
    if not isinstance(object_list, list) or len(object_list) != g.size():
        raise ValueError(f"all_gather_object: object_list must be a list of length {g.size()} (one per rank), "
                         f"got {type(object_list).__name__} of length {len(object_list) if hasattr(object_list, '__len__') else '?'}")
    data, err = _encode(obj, "all_gather_object")
    for i, raw in enumerate(_gather_bytes(g, data, err, "all_gather_object")):
        object_list[i] = _decode(raw)
    return None


def gather_object(obj, object_gather_list=None, dst=0, group=None):
    """Rank ``dst`` receives every rank's ``obj`` in ``object_gather_list`` (no pickle)."""
    g = _pre(group, "gather_object", lambda: f"dst={dst}")
    if g is None:
        return None
    root = _peer(g, dst, "gather_object", "dst")
    if g.rank() == root and (not isinstance(object_gather_list, list) or len(object_gather_list) != g.size()):
        raise ValueError(f"gather_object: the destination rank must pass object_gather_list, a list of {g.size()}")
    data, err = _encode(obj, "gather_object")
    raws = _gather_bytes(g, data, err, "gather_object")
    if g.rank() == root:
        for i, raw in enumerate(raws):
            object_gather_list[i] = _decode(raw)
    return None


def _bcast_bytes(g, root, data, err, who):
    n = np.array([-1 if data is None else data.size] if g.rank() == root else [0], np.int64)
    g.comm.Bcast(n, root=root)
    if n[0] < 0:
        raise TypeError(err if err is not None else f"{who}: the source rank {g.ranks[root]} could not encode "
                        f"its objects; {_OBJ_HELP}")
    buf = data if g.rank() == root else np.empty(int(n[0]), np.uint8)
    g.comm.Bcast(buf, root=root)
    return buf


def broadcast_object_list(object_list, src=0, group=None, device=None):
    """Replace ``object_list``'s items on every rank with those of rank ``src`` (same length on all
    ranks). Objects must be JSON-able values, tensors or arrays: ember's safe format, no pickle."""
    g = _pre(group, "broadcast_object_list", lambda: f"src={src}, n={len(object_list)}")
    if g is None:
        return None
    if not isinstance(object_list, list):
        raise TypeError(f"broadcast_object_list: object_list must be a list, got {type(object_list).__name__}")
    root = _peer(g, src, "broadcast_object_list", "src")
    data, err = _encode(list(object_list), "broadcast_object_list") if g.rank() == root else (None, None)
    raw = _bcast_bytes(g, root, data, err, "broadcast_object_list")
    if g.rank() != root:
        got = _decode(raw)
        if len(got) != len(object_list):
            raise ValueError(f"broadcast_object_list: rank {src} sent {len(got)} objects but this rank's list has "
                             f"{len(object_list)}; the lists must have the same length on every rank")
        object_list[:] = got
    return None


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=0, group=None):
    """``scatter_object_output_list[0]`` on rank i becomes ``scatter_object_input_list[i]`` of rank ``src``."""
    g = _pre(group, "scatter_object_list", lambda: f"src={src}")
    if g is None:
        return None
    root = _peer(g, src, "scatter_object_list", "src")
    if not isinstance(scatter_object_output_list, list) or len(scatter_object_output_list) < 1:
        raise ValueError("scatter_object_list: scatter_object_output_list must be a list with at least one slot")
    data = err = None
    if g.rank() == root:
        if not isinstance(scatter_object_input_list, list) or len(scatter_object_input_list) != g.size():
            raise ValueError(f"scatter_object_list: the source rank must pass a list of {g.size()} objects")
        data, err = _encode(list(scatter_object_input_list), "scatter_object_list")
    got = _decode(_bcast_bytes(g, root, data, err, "scatter_object_list"))
    scatter_object_output_list[0] = got[g.rank()]
    return None

"""Worker processes for ``DataLoader(num_workers > 0)``: the worker loop, the pool and the transport.

Each worker owns one duplex pipe to the main process. The main process sends small task messages
(batch indices, or "next batch" for iterable datasets); the worker answers with the collated batch.
``multiprocessing.connection.wait`` watches every pipe and every worker's sentinel at once, so a
worker that dies is noticed at once rather than after a timeout. Sending pickles synchronously
inside the worker, so an unpicklable batch becomes a clear error instead of a silent hang.
"""
from __future__ import annotations

import collections.abc
import itertools
import sys
import time
import numpy as np

__all__ = ["WorkerInfo", "get_worker_info"]


class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker: ``id``, ``num_workers``, ``seed``, ``dataset``."""

    __slots__ = ("id", "num_workers", "seed", "dataset")

    def __init__(self, id, num_workers, seed, dataset):
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """Information about the current DataLoader worker, or None in the main process.

    Use it in an ``IterableDataset.__iter__`` to give each worker its own shard.

    Example::

        >>> class Numbers(IterableDataset):
        ...     def __iter__(self):
        ...         info = get_worker_info()
        ...         start, step = (0, 1) if info is None else (info.id, info.num_workers)
        ...         return iter(range(start, 10, step))
    """
    return _worker_info


def _derive(base: int, *key: int) -> int:
    """A 63-bit seed that depends only on ``base`` and ``key`` (NumPy's SeedSequence mixing)."""
    state = np.random.SeedSequence(entropy=base, spawn_key=key).generate_state(2, np.uint64)
    return int(state[0]) & (2**63 - 1)


def _seed_all(seed: int) -> None:
    """Seed every RNG a dataset might use inside a worker: Python's, NumPy's global and ember's."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    import ember

    ember.manual_seed(seed)


# ---- transport: ember tensors travel as their NumPy arrays ------------------------------------


class _Packed:
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __reduce__(self):
        return (_Packed, (self.array,))


def _map_nested(obj, leaf):
    """Apply ``leaf`` to every non-container value inside lists, tuples, namedtuples and dicts."""
    if isinstance(obj, (list, tuple)):
        items = [_map_nested(x, leaf) for x in obj]
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):
            return type(obj)(*items)
        try:
            return type(obj)(items)
        except TypeError:
            return items
    if isinstance(obj, collections.abc.Mapping):
        items = {k: _map_nested(v, leaf) for k, v in obj.items()}
        try:
            return type(obj)(items)
        except TypeError:
            return items
    return leaf(obj)


def _pack(obj):
    import ember

    def leaf(x):
        if isinstance(x, ember.Tensor):
            arr = x._data
            if not isinstance(arr, np.ndarray):  # e.g. a CuPy array: bring it to the host
                arr = arr.get()
            return _Packed(arr)
        return x

    return _map_nested(obj, leaf)


def _unpack(obj):
    import ember

    return _map_nested(obj, lambda x: ember.Tensor._wrap(x.array) if isinstance(x, _Packed) else x)


# ---- the worker ---------------------------------------------------------------------------------


def _tensor_batch(dataset, indices, collate_fn):
    """Fast path for a TensorDataset (or Subsets of one) + default_collate: one fancy-index per tensor
    instead of a per-sample loop and a stack (the same values, dtypes and list-of-tensors structure)."""
    import ember

    from ._collate import default_collate
    from .dataset import Subset, TensorDataset

    if collate_fn is not default_collate:
        return None
    while type(dataset) is Subset:  # e.g. the pieces of random_split
        indices = [dataset.indices[i] for i in indices]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset:
        return None
    for t in dataset.tensors:
        if not isinstance(t, ember.Tensor) or t.requires_grad or not isinstance(t._data, np.ndarray):
            return None
    idx = np.asarray(indices, dtype=np.intp)
    return [ember.Tensor._wrap(t._data[idx]) for t in dataset.tensors]


def _fetch_map(dataset, payload, auto_collation, collate_fn):
    """Fetch and collate one batch (a list of indices) or one sample (batching off)."""
    if auto_collation:
        fast = _tensor_batch(dataset, payload, collate_fn)
        if fast is not None:
            return fast
        getitems = getattr(dataset, "__getitems__", None)
        data = getitems(payload) if getitems else [dataset[i] for i in payload]
        return collate_fn(data)
    return collate_fn(dataset[payload])


def _fetch_iter(it, auto_collation, collate_fn, batch_size, drop_last):
    """The next batch from a dataset iterator; raises StopIteration at the end of the stream."""
    if not auto_collation:
        return collate_fn(next(it))
    data = list(itertools.islice(it, batch_size))
    if not data or (drop_last and len(data) < batch_size):
        raise StopIteration
    return collate_fn(data)


def _error_message(worker_id):
    import traceback

    return (
        f"Caught {sys.exc_info()[0].__name__} in DataLoader worker process {worker_id}.\n"
        f"Original {traceback.format_exc()}"
    )


def _worker_loop(conn, dataset, is_iterable, auto_collation, collate_fn, batch_size, drop_last,
                 worker_id, num_workers, seed, worker_init_fn):
    """Serve tasks until the main process sends None or goes away."""
    global _worker_info
    try:
        _seed_all(seed)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        init_error = None
        if worker_init_fn is not None:
            try:
                worker_init_fn(worker_id)
            except Exception as e:
                init_error = (type(e), _error_message(worker_id))
        it, exhausted = None, True
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if msg is None:
                return
            if msg[0] == "reset":  # iterable datasets: start a new pass over the stream
                _, seed = msg
                _worker_info.seed = seed
                if init_error is None:
                    _seed_all(seed)
                    try:
                        it, exhausted = iter(dataset), False
                    except Exception as e:
                        init_error = (type(e), _error_message(worker_id))
                continue
            _, token, task, payload, seed = msg
            if init_error is not None:
                reply = (token, task, "err", init_error)
            else:
                try:
                    if is_iterable:
                        if exhausted:
                            raise StopIteration
                        data = _fetch_iter(it, auto_collation, collate_fn, batch_size, drop_last)
                    else:
                        _seed_all(seed)
                        data = _fetch_map(dataset, payload, auto_collation, collate_fn)
                    reply = (token, task, "ok", _pack(data))
                except StopIteration:
                    exhausted = True
                    reply = (token, task, "stop", None)
                except Exception as e:
                    reply = (token, task, "err", (type(e), _error_message(worker_id)))
            try:
                conn.send(reply)
            except (BrokenPipeError, EOFError, ConnectionResetError):
                return
            except Exception as e:  # the batch could not be pickled
                conn.send((token, task, "err", (type(e), _error_message(worker_id)
                                                 + "\nThe batch could not be sent to the main process.")))
    except KeyboardInterrupt:
        pass


# ---- the pool, in the main process --------------------------------------------------------------


class _KeyErrorMessage(str):
    """KeyError prints the repr of its argument; this keeps the worker's traceback readable."""

    def __repr__(self):
        return str(self)


def _reraise(exc_type, message):
    """Raise the worker's exception type in the main process (like torch), with the worker's traceback."""
    if isinstance(exc_type, type) and issubclass(exc_type, KeyError):
        message = _KeyErrorMessage(message)
    try:
        err = exc_type(message)
    except Exception:
        err = None
    if not isinstance(err, BaseException):
        err = RuntimeError(message)
    raise err


def default_start_method() -> str:
    """'fork' on Linux when available (fast, no pickling of the dataset), 'spawn' elsewhere."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return "fork" if sys.platform.startswith("linux") and "fork" in methods else "spawn"


class _WorkerPool:
    """``num_workers`` processes, each with its own pipe; ``recv`` waits on all of them at once."""

    def __init__(self, loader, seed):
        import multiprocessing  # lazily: keeps `import ember` fast

        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = multiprocessing.get_context(default_start_method())
        self.num_workers = loader.num_workers
        self.timeout = loader.timeout
        self.conns, self.procs = [], []
        self.inflight = {}  # worker id -> {task number: payload} sent and not answered
        self.closed = False
        from .dataset import IterableDataset

        is_iterable = isinstance(loader.dataset, IterableDataset)
        try:
            for wid in range(self.num_workers):
                parent, child = ctx.Pipe(duplex=True)
                p = ctx.Process(
                    target=_worker_loop,
                    args=(child, loader.dataset, is_iterable, loader._auto_collation, loader.collate_fn,
                          loader.batch_size, loader.drop_last, wid, self.num_workers,
                          _derive(seed, wid), loader.worker_init_fn),
                    daemon=True,
                )
                p.start()
                child.close()
                self.conns.append(parent)
                self.procs.append(p)
        except Exception as e:
            self.shutdown()
            raise RuntimeError(
                f"DataLoader: could not start worker processes ({type(e).__name__}: {e}). With the "
                "'spawn' start method the dataset, collate_fn and worker_init_fn must be picklable "
                "(no lambdas or local functions); or use num_workers=0"
            ) from e

    def send(self, wid, msg):
        try:
            self.conns[wid].send(msg)
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            raise self._died(wid) from None
        if msg[0] == "task":
            self.inflight.setdefault(wid, {})[msg[2]] = msg[3]

    def _died(self, wid):
        """The error for worker ``wid`` gone: its exit code and the batch it was loading."""
        p = self.procs[wid]
        p.join(0.1)
        tasks = self.inflight.get(wid) or {}
        doing = ""
        if tasks:
            task = min(tasks)
            what = tasks[task]
            doing = (f" while loading batch {task} of this iteration"
                     + (f" (dataset indices {list(what)[:16]})" if isinstance(what, (list, tuple)) else
                        f" (dataset index {what})" if isinstance(what, int) else ""))
        self.shutdown()
        code = p.exitcode
        how = (f"was killed by signal {-code}" if code is not None and code < 0
               else f"exited unexpectedly with exit code {code}")
        return RuntimeError(
            f"DataLoader worker {wid} (pid {p.pid}) {how}{doing}; it may have been killed (out of memory?), "
            "called os._exit, or crashed in native code. Try num_workers=0 to see the error in the main process")

    def recv(self):
        """One (worker_id, message) reply; raises on timeout or when a worker died."""
        import multiprocessing.connection

        deadline = time.monotonic() + self.timeout if self.timeout > 0 else None
        sentinels = {p.sentinel: wid for wid, p in enumerate(self.procs)}
        by_conn = {c: wid for wid, c in enumerate(self.conns)}
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait(list(by_conn) + list(sentinels), timeout=wait)
            for r in ready:  # replies first: a worker may have answered, then exited
                if r in by_conn:
                    try:
                        wid, reply = by_conn[r], r.recv()
                        if isinstance(reply, tuple) and len(reply) > 1:
                            self.inflight.get(wid, {}).pop(reply[1], None)
                        return wid, reply
                    except (EOFError, OSError):
                        del by_conn[r]  # the worker is gone: its sentinel says how
            for r in ready:
                if r in sentinels:
                    raise self._died(sentinels[r])
            if deadline is not None and time.monotonic() >= deadline:
                self.shutdown()
                raise RuntimeError(
                    f"DataLoader timed out after {self.timeout} seconds waiting for a batch from its "
                    f"{self.num_workers} worker processes; raise timeout= or check the dataset for stalls"
                )

    def shutdown(self):
        if self.closed:
            return
        self.closed = True
        for c in self.conns:
            try:
                c.send(None)
            except Exception:
                pass
            try:
                c.close()
            except Exception:
                pass
        deadline = time.monotonic() + 1.0  # one grace period for all, then terminate the rest
        for p in self.procs:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=1.0)

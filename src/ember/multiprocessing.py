"""``torch.multiprocessing`` for ember: Python's :mod:`multiprocessing` plus tensors in shared memory.

Everything of :mod:`multiprocessing` is here (``Process``, ``Queue``, ``set_start_method``,
``get_context``, ...), and, as in torch:

* ``tensor.share_memory_()`` moves a tensor's data into a POSIX shared-memory block
  (:class:`multiprocessing.shared_memory.SharedMemory`); ``module.share_memory()`` does it for every
  parameter and buffer. A shared tensor sent to another process (as a ``Process`` argument under
  the ``spawn`` start method, or through a ``Queue``) arrives as a tensor on the *same* memory, so
  in-place updates (an optimizer's ``step()``) are seen by every process: Hogwild training.
  Under ``fork`` the children inherit the mapping anyway. The block is unlinked when the tensor
  that created it is garbage-collected or its process exits.
* ``spawn(fn, args, nprocs)`` runs ``fn(i, *args)`` in ``nprocs`` processes and raises in the parent
  if one of them fails.

Tensors that are not shared are copied when pickled, as before.
"""
from __future__ import annotations

import multiprocessing as _mp
import os
import weakref
from multiprocessing import *  # noqa: F401,F403
from multiprocessing import shared_memory as _shm

import numpy as np

__all__ = list(_mp.__all__) + ["spawn", "start_processes", "ProcessContext", "ProcessRaisedException",
                               "ProcessExitedException", "get_sharing_strategy", "set_sharing_strategy",
                               "get_all_sharing_strategies"]


# ---- shared tensors ------------------------------------------------------------------------------

def _unlink(name, owner_pid):
    if os.getpid() != owner_pid:  # a forked child dropping its inherited copy must not unlink the parent's block
        return
    try:
        block = _shm.SharedMemory(name=name)
    except FileNotFoundError:
        return
    try:
        block.unlink()
    finally:
        try:
            block.close()
        except BufferError:  # pragma: no cover  (a NumPy view still exports it)
            pass


def share_tensor_(t):
    """Move ``t``'s data into a new shared-memory block (in place); no-op when already shared."""
    if getattr(t, "_shm", None) is not None:
        return t
    from ._tensor import _View

    if isinstance(t, _View):
        raise RuntimeError("share_memory_: a view cannot be moved to shared memory on its own (ember keeps the "
                           "view's storage with its base); call share_memory_() on the base tensor, or on "
                           "t.clone()")
    if t._data.__class__ is not np.ndarray:
        raise RuntimeError("share_memory_: only CPU (NumPy) tensors can be shared between processes")
    a = t._data
    block = _shm.SharedMemory(create=True, size=max(a.nbytes, 1))
    arr = np.ndarray(a.shape, dtype=a.dtype, buffer=block.buf)
    arr[...] = a
    t._data = arr
    t._shm = block
    weakref.finalize(t, _unlink, block.name, os.getpid())
    return t


def _attach(name, shape, dtype):
    block = _shm.SharedMemory(name=name)
    try:  # the creating process owns (and unlinks) the block; attaching must not register it again
        from multiprocessing import resource_tracker

        resource_tracker.unregister(block._name, "shared_memory")
    except Exception:  # pragma: no cover
        pass
    arr = np.ndarray(shape, dtype=np.dtype(dtype), buffer=block.buf)
    return arr, block


def rebuild_shared(name, shape, dtype, requires_grad, parameter):
    from ._tensor import Tensor

    arr, block = _attach(name, shape, dtype)
    t = Tensor._wrap(arr)
    if parameter:
        from .nn.parameter import Parameter

        t = Parameter(t, requires_grad)
        t._data = arr
    elif requires_grad:
        t.requires_grad = True
    t._shm = block  # keeps the mapping open as long as the tensor lives
    return t


def reduce_shared(t, parameter=False):
    """Pickle recipe for a shared tensor: the block's name, not its bytes."""
    block = t._shm
    return (rebuild_shared, (block.name, tuple(t._data.shape), t._data.dtype.str, bool(t.requires_grad), parameter))


# ---- torch.multiprocessing's extras ----------------------------------------------------------------

_SHARING = "file_system"


def get_all_sharing_strategies():
    """ember shares tensors through named POSIX shared memory: one strategy, ``"file_system"``."""
    return {"file_system"}


def get_sharing_strategy():
    return _SHARING


def set_sharing_strategy(new_strategy):
    if new_strategy not in ("file_system", "file_descriptor"):
        raise RuntimeError(f"set_sharing_strategy: unknown strategy {new_strategy!r}; torch's are "
                           "'file_descriptor' and 'file_system'")
    # accepted for torch compatibility; ember always uses named shared memory


class ProcessRaisedException(Exception):
    def __init__(self, msg, error_index, error_pid):
        super().__init__(msg)
        self.error_index, self.pid = error_index, error_pid


class ProcessExitedException(ProcessRaisedException):
    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code, self.signal_name = exit_code, signal_name


class ProcessContext:
    """The processes ``spawn(..., join=False)`` started; ``join()`` waits and raises if one failed."""

    def __init__(self, processes):
        self.processes = processes

    def pids(self):
        return [p.pid for p in self.processes]

    def join(self, timeout=None):
        for p in self.processes:
            p.join(timeout)
        if any(p.exitcode is None for p in self.processes):
            return False
        for i, p in enumerate(self.processes):
            if p.exitcode != 0:
                for q in self.processes:
                    if q.is_alive():
                        q.terminate()
                raise ProcessExitedException(f"process {i} terminated with exit code {p.exitcode}", i, p.pid,
                                             p.exitcode)
        return True


def _wrap(fn, i, args):
    fn(i, *args)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Run ``fn(i, *args)`` for ``i`` in ``range(nprocs)``, each in its own process."""
    ctx = _mp.get_context(start_method)
    procs = [ctx.Process(target=_wrap, args=(fn, i, tuple(args)), daemon=daemon) for i in range(nprocs)]
    for p in procs:
        p.start()
    pc = ProcessContext(procs)
    if not join:
        return pc
    while not pc.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """torch's ``multiprocessing.spawn``: :func:`start_processes` with the ``spawn`` start method."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)

"""DataLoader: batches from a dataset, shuffled reproducibly, optionally in worker processes, resumable.

Randomness. The first time a loader that shuffles (or uses workers) is iterated, it draws one *base
seed* from ``generator`` (or the sampler's generator, or ``ember.default_generator``), so
``ember.manual_seed`` makes runs repeatable; it never touches the default generator again, and a
loader without randomness never touches it at all.
Epoch ``e`` shuffles with a seed derived from ``(base seed, e)``; with workers, batch ``b`` of epoch
``e`` is fetched with Python's, NumPy's and ember's RNGs seeded from ``(base seed, e, b)``, so random
transforms do not depend on which worker fetched the batch.

Position. ``state_dict()`` is a small JSON-able dict: the base seed, the epoch and the number of
batches already yielded in it. ``load_state_dict(d)`` makes the next iteration yield exactly the
remaining batches of that epoch, in the same order; later epochs continue the uninterrupted stream.
"""
from __future__ import annotations

import itertools
import weakref

from ._collate import default_collate, default_convert
from ._worker import _derive, _fetch_map, _reraise, _unpack, _WorkerPool
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, _draw_seed, _is_pos_int

__all__ = ["DataLoader"]

_STATE_KEYS = ("base_seed", "epoch", "batches_yielded", "in_epoch", "num_batches")
_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


def _has_len(obj):
    try:
        len(obj)
        return True
    except TypeError:
        return False


class DataLoader:
    """Iterate over a dataset in batches (the same arguments and behaviour as ``torch.utils.data.DataLoader``).

    Args:
        dataset: a map-style dataset (``__getitem__`` + ``__len__``) or an :class:`IterableDataset`.
        batch_size: samples per batch (default 1); ``None`` turns batching off (one sample at a time).
        shuffle: a new random order every epoch (map-style datasets only).
        sampler / batch_sampler: custom index order / custom batches (exclusive with the options above).
        num_workers: worker processes that load batches in parallel (0: in the main process).
        collate_fn: how a list of samples becomes a batch (default :func:`default_collate`).
        drop_last: drop the last, incomplete batch.
        timeout: seconds to wait for a batch from the workers (0: forever).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after seeding.
        multiprocessing_context: a start method name or context ('fork' on Linux by default, else 'spawn').
        generator: an ``ember.Generator`` for the shuffling seed (default ``ember.default_generator``).
        prefetch_factor: batches each worker loads ahead (default 2 when ``num_workers > 0``).
        persistent_workers: keep the workers alive between epochs.

    Example::

        >>> ds = TensorDataset(ember.arange(10).float(), ember.arange(10))
        >>> loader = DataLoader(ds, batch_size=4, shuffle=True)
        >>> [len(y) for x, y in loader]
        [4, 4, 2]
        >>> len(loader)
        3
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="", in_order=True):
        # pin_memory_device: a CUDA-transfer detail (ignored, as pin_memory); in_order: ember's workers
        # always deliver batches in order
        self.__initialized = False
        if batch_size is not None and not _is_pos_int(batch_size):
            raise ValueError(
                f"DataLoader: batch_size must be a positive integer, or None to disable automatic batching; "
                f"got batch_size={batch_size!r}"
            )
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(
                f"DataLoader: num_workers option should be a non-negative integer, got {num_workers!r}; "
                "use num_workers=0 to disable multiprocessing"
            )
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "DataLoader: prefetch_factor option could only be specified in multiprocessing; "
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None"
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (not isinstance(prefetch_factor, int) or prefetch_factor < 1):
            raise ValueError(f"DataLoader: prefetch_factor should be a positive integer, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            multiprocessing_context = self._check_context(multiprocessing_context, num_workers)

        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (False, None):
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                    f"shuffle={shuffle!r}; shuffle inside the dataset's __iter__ instead"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler!r}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler option, but got "
                    f"batch_sampler={batch_sampler!r}"
                )
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "DataLoader: batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )
        if not iterable and _has_len(dataset) and len(dataset) == 0:
            raise ValueError(
                f"DataLoader: the dataset is empty (len(dataset) == 0 for {type(dataset).__name__}), so there "
                "is nothing to load; check the files, filters or split that built it"
            )

        if sampler is None and not iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.persistent_workers = persistent_workers
        self._auto_collation = batch_sampler is not None or (iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

        self._base_seed = None
        self._epoch = -1           # index of the current (or last) epoch
        self._yielded = 0          # batches yielded in it
        self._in_epoch = False     # whether that epoch is still unfinished
        self._resume = None        # (epoch, batches to skip) set by load_state_dict
        self._active = None        # weakref to the iterator whose progress state_dict reports
        self._pool = None          # persistent workers
        self.__initialized = True
        if not iterable and self._len_or_none() == 0:
            raise ValueError(
                f"DataLoader: the dataset is empty after sampling and batching: {len(dataset)} samples, "
                f"a sampler of length {len(sampler)}, batch_size={batch_size} and drop_last={drop_last} "
                "give 0 batches per epoch; lower batch_size or set drop_last=False"
            )

    @staticmethod
    def _check_context(ctx, num_workers):
        import multiprocessing
        import multiprocessing.context

        if num_workers == 0:
            raise ValueError(
                "DataLoader: multiprocessing_context can only be used with multi-process loading "
                f"(num_workers > 0), but got num_workers={num_workers}"
            )
        if isinstance(ctx, str):
            methods = multiprocessing.get_all_start_methods()
            if ctx not in methods:
                raise ValueError(
                    f"DataLoader: multiprocessing_context should specify a valid start method in {methods!r}, "
                    f"but got multiprocessing_context={ctx!r}"
                )
            ctx = multiprocessing.get_context(ctx)
        if not isinstance(ctx, multiprocessing.context.BaseContext):
            raise TypeError(
                "DataLoader: multiprocessing_context option should be a valid context object or a string "
                f"specifying the start method, but got multiprocessing_context={ctx!r}"
            )
        return ctx

    def __setattr__(self, name, value):
        if name in _FROZEN and getattr(self, "_DataLoader__initialized", False):
            raise ValueError(f"DataLoader: {name} attribute should not be set after DataLoader is initialized")
        super().__setattr__(name, value)

    # ---- length -------------------------------------------------------------------------------

    def _len_or_none(self):
        try:
            return len(self)
        except TypeError:
            return None

    def __len__(self):
        """Batches per epoch (for an IterableDataset: estimated from ``len(dataset)``, as torch does)."""
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    # ---- iteration ----------------------------------------------------------------------------

    def _seed_source(self):
        if self.generator is not None:
            return self.generator
        return getattr(self.sampler, "generator", None)

    def __iter__(self):
        if self._resume is not None:
            epoch, skip = self._resume
            self._resume = None
        else:
            epoch, skip = self._epoch + 1, 0
        if self._base_seed is None and self._needs_seed():
            self._base_seed = _draw_seed(self._seed_source())
        self._epoch, self._yielded, self._in_epoch = epoch, skip, True
        if self.num_workers == 0:
            it = _SingleProcessIter(self, epoch, skip)
        else:
            it = _MultiProcessIter(self, epoch, skip)
        self._active = weakref.ref(it)  # weak: an abandoned iterator must free its workers at once
        return it

    def _needs_seed(self):
        """Whether anything random happens: a random sampler or workers (per-batch seeds). Loaders that
        need no seed never touch the default generator, so adding one leaves other random streams alone."""
        if self.num_workers > 0:
            return True
        src = self.batch_sampler if self.batch_sampler is not None else self.sampler
        if isinstance(src, BatchSampler):
            src = src.sampler
        return bool(getattr(src, "_uses_seed", False))

    def _index_iter(self, epoch_seed):
        """The epoch's stream of batch indices (or single indices when batching is off)."""
        source = self.batch_sampler if self.batch_sampler is not None else self.sampler
        if hasattr(source, "_iter_seeded"):
            return source._iter_seeded(epoch_seed)
        return iter(source)

    def _empty_epoch_error(self):
        if isinstance(self.dataset, IterableDataset):
            why = "the IterableDataset yielded no samples"
            if self.drop_last:
                why += f" (or fewer than batch_size={self.batch_size}, with drop_last=True)"
        else:
            why = "the sampler yielded no indices"
        return ValueError(f"DataLoader: the dataset is empty: this epoch produced no batches ({why})")

    # ---- position -----------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Where the loader stands, as plain ints (JSON-able): restore it with :meth:`load_state_dict`.

        ``in_epoch`` is False once the epoch's last batch was yielded; set it to False yourself to
        make the next iteration start a fresh epoch after abandoning one early.

        Example::

            >>> loader = DataLoader(range(10), batch_size=4, shuffle=True)
            >>> it = iter(loader); batch = next(it)
            >>> loader.state_dict()["batches_yielded"], loader.state_dict()["num_batches"]
            (1, 3)
        """
        if self._resume is not None:
            epoch, yielded, in_epoch = self._resume[0], self._resume[1], True
        else:
            epoch, yielded, in_epoch = self._epoch, self._yielded, self._in_epoch
        n = self._len_or_none()
        if n is not None and yielded >= n:
            in_epoch = False
        return {"base_seed": self._base_seed, "epoch": epoch, "batches_yielded": yielded,
                "in_epoch": in_epoch, "num_batches": n}

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`: the next iteration yields the rest of the saved epoch.

        Example::

            >>> loader = DataLoader(range(10), batch_size=4, shuffle=True)
            >>> it = iter(loader); first = next(it)
            >>> saved = loader.state_dict()
            >>> fresh = DataLoader(range(10), batch_size=4, shuffle=True)
            >>> fresh.load_state_dict(saved)
            >>> [b.tolist() for b in fresh] == [b.tolist() for b in it]   # the rest of the epoch
            True
        """
        if not isinstance(state, dict) or set(state) != set(_STATE_KEYS):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"DataLoader.load_state_dict: expected a dict with keys {sorted(_STATE_KEYS)}, got {got}")
        seed, epoch, yielded = state["base_seed"], state["epoch"], state["batches_yielded"]
        ok = (seed is None or (isinstance(seed, int) and seed >= 0)) and isinstance(epoch, int) and epoch >= -1 \
            and isinstance(yielded, int) and yielded >= 0 and isinstance(state["in_epoch"], bool)
        if not ok:
            raise ValueError(f"DataLoader.load_state_dict: malformed state {state!r}")
        n = self._len_or_none()
        if state["num_batches"] is not None and n is not None and state["num_batches"] != n:
            raise ValueError(
                f"DataLoader.load_state_dict: the state was saved by a loader with {state['num_batches']} batches "
                f"per epoch, but this one has {n}; the dataset, batch_size, sampler or drop_last differ"
            )
        self._base_seed = seed
        self._active = None
        if state["in_epoch"]:
            self._resume = (epoch, yielded)
            self._epoch, self._yielded, self._in_epoch = epoch, yielded, True
        else:
            self._resume = None
            self._epoch, self._yielded, self._in_epoch = epoch, yielded, False

    def _progress(self, it, count, finished=False):
        if self._active is not None and self._active() is it:
            self._yielded = count
            if finished:
                self._in_epoch = False


class _LoaderIter:
    """Shared bookkeeping: counts yielded batches and reports them to the loader."""

    def __init__(self, loader, epoch, skip):
        self._loader = loader
        self._base = loader._base_seed if loader._base_seed is not None else 0
        self._epoch_seed = _derive(self._base, 0, epoch)
        self._epoch = epoch
        self._count = skip
        self._skip = skip
        self._done = False

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def __next__(self):
        if self._done:
            raise StopIteration
        try:
            data = self._next_data()
        except StopIteration:
            self._done = True
            self._finish()
            self._loader._progress(self, self._count, finished=True)
            if self._count == 0:
                raise self._loader._empty_epoch_error() from None
            raise
        except BaseException:
            self._done = True
            self._finish()
            raise
        self._count += 1
        self._loader._progress(self, self._count)
        return data

    def _finish(self):
        pass


class _SingleProcessIter(_LoaderIter):
    def __init__(self, loader, epoch, skip):
        super().__init__(loader, epoch, skip)
        if isinstance(loader.dataset, IterableDataset):
            self._it = iter(loader.dataset)
            for _ in range(skip):  # replay the stream up to the saved position
                self._fetch_iterable(collate=False)
        else:
            self._indices = itertools.islice(loader._index_iter(self._epoch_seed), skip, None)

    def _fetch_iterable(self, collate=True):
        ld = self._loader
        if not ld._auto_collation:
            item = next(self._it)
            return ld.collate_fn(item) if collate else None
        data = list(itertools.islice(self._it, ld.batch_size))
        if not data or (ld.drop_last and len(data) < ld.batch_size):
            raise StopIteration
        return ld.collate_fn(data) if collate else None

    def _next_data(self):
        ld = self._loader
        if isinstance(ld.dataset, IterableDataset):
            return self._fetch_iterable()
        return _fetch_map(ld.dataset, next(self._indices), ld._auto_collation, ld.collate_fn)


class _MultiProcessIter(_LoaderIter):
    """Hands tasks round-robin to the workers, keeps ``prefetch_factor`` per worker in flight,
    and yields the results in task order."""

    _tokens = itertools.count()

    def __init__(self, loader, epoch, skip):
        super().__init__(loader, epoch, skip)
        self._token = next(self._tokens)
        if loader.persistent_workers:
            if loader._pool is None or loader._pool.closed:
                loader._pool = _WorkerPool(loader, _derive(self._base, 2, epoch))
                weakref.finalize(loader, loader._pool.shutdown)
            self._pool = loader._pool
        else:
            self._pool = _WorkerPool(loader, _derive(self._base, 2, epoch))
            weakref.finalize(self, self._pool.shutdown)
        self._iterable = isinstance(loader.dataset, IterableDataset)
        n = loader.num_workers
        self._active_workers = list(range(n))
        self._rr = itertools.cycle(range(n))
        if self._iterable:
            for wid in range(n):
                self._pool.send(wid, ("reset", _derive(self._base, 3, epoch, wid)))
            self._to_discard = skip  # replay the stream: the workers rebuild it from the start
            self._indices = itertools.count()  # iterable tasks carry no indices
        else:
            self._to_discard = 0
            self._indices = itertools.islice(loader._index_iter(self._epoch_seed), skip, None)
        self._batch_no = itertools.count(skip)  # batch number within the epoch, for per-batch seeds
        self._sent = 0        # tasks sent
        self._next = 0        # next task to yield
        self._ready = {}      # task -> reply
        self._exhausted = False
        for _ in range(loader.prefetch_factor * n):
            self._send_one()

    def _send_one(self):
        if self._exhausted or not self._active_workers:
            return
        payload = next(self._indices, None)
        if payload is None:
            self._exhausted = True
            return
        wid = next(self._rr)
        while wid not in self._active_workers:
            wid = next(self._rr)
        seed = _derive(self._base, 1, self._epoch, next(self._batch_no))
        self._pool.send(wid, ("task", self._token, self._sent, payload, seed))
        self._sent += 1

    def _next_data(self):
        while True:
            if self._next >= self._sent:
                raise StopIteration
            while self._next not in self._ready:
                wid, (token, task, status, body) = self._pool.recv()
                if token != self._token:
                    continue  # a reply for an abandoned earlier epoch (persistent workers)
                if status == "stop" and wid in self._active_workers:
                    self._active_workers.remove(wid)
                self._ready[task] = (status, body)
            status, body = self._ready.pop(self._next)
            self._next += 1
            if status == "err":
                _reraise(*body)
            self._send_one()
            if status == "stop":
                continue
            if self._to_discard:
                self._to_discard -= 1
                continue
            return _unpack(body)

    def _finish(self):
        if not self._loader.persistent_workers:
            self._pool.shutdown()
        elif self._pool.closed:
            self._loader._pool = None

"""Samplers: which dataset indices a DataLoader visits, in which order (torch semantics).

Random samplers draw one seed per pass from their ``generator`` (``ember.default_generator`` when
None), so ``ember.manual_seed`` makes them repeatable. A DataLoader drives them through the private
``_iter_seeded(seed)`` hook instead, which is how it can report and restore its position.
"""
from __future__ import annotations

import numpy as np

from .dataset import _gen_np

__all__ = [
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "BatchSampler",
]


def _draw_seed(generator) -> int:
    """One 63-bit seed drawn from an ember Generator (the default one when None)."""
    return int(_gen_np(generator).integers(0, 2**63 - 1))


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def _is_pos_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0


class Sampler:
    """Base class: an iterable over dataset indices (or over lists of indices, for batch samplers).

    Example::

        >>> class Evens(Sampler):
        ...     def __init__(self, n): self.n = n
        ...     def __iter__(self): return iter(range(0, self.n, 2))
        ...     def __len__(self): return (self.n + 1) // 2
        >>> list(Evens(5))
        [0, 2, 4]
    """

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def _iter_seeded(self, seed: int):
        return iter(self)


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1``.

    Example::

        >>> list(SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices, or ``num_samples`` draws with ``replacement=True``.

    Without replacement and ``num_samples > len(data_source)``, whole permutations follow one
    another (as in torch).

    Example::

        >>> s = RandomSampler(range(4), generator=ember.Generator().manual_seed(0))
        >>> sorted(s)
        [0, 1, 2, 3]
    """

    _uses_seed = True  # the DataLoader drives it with _iter_seeded(seed)

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(
                f"RandomSampler: replacement should be a boolean value, but got replacement={replacement!r}"
            )
        if not _is_pos_int(self.num_samples):
            hint = " (the dataset is empty)" if num_samples is None else ""
            raise ValueError(
                f"RandomSampler: num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples!r}{hint}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        return self._iter_seeded(_draw_seed(self.generator))

    def _iter_seeded(self, seed):
        n, m, rng = len(self.data_source), self.num_samples, _rng(seed)
        if self.replacement:
            return iter(rng.integers(0, n, size=m).tolist())
        parts = [rng.permutation(n) for _ in range(m // n)]
        parts.append(rng.permutation(n)[: m % n])
        return iter(np.concatenate(parts).tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order.

    Example::

        >>> sorted(SubsetRandomSampler([7, 3, 5]))
        [3, 5, 7]
    """

    _uses_seed = True  # the DataLoader drives it with _iter_seeded(seed)

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        return self._iter_seeded(_draw_seed(self.generator))

    def _iter_seeded(self, seed):
        perm = _rng(seed).permutation(len(self.indices)).tolist()
        return (self.indices[i] for i in perm)

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``.

    Example::

        >>> s = WeightedRandomSampler([0.0, 1.0, 0.0], num_samples=3)
        >>> list(s)
        [1, 1, 1]
    """

    _uses_seed = True  # the DataLoader drives it with _iter_seeded(seed)

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not _is_pos_int(num_samples):
            raise ValueError(
                f"WeightedRandomSampler: num_samples should be a positive integer value, but got "
                f"num_samples={num_samples!r}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"WeightedRandomSampler: replacement should be a boolean value, but got "
                f"replacement={replacement!r}"
            )
        w = np.asarray(getattr(weights, "_data", weights), dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(
                f"WeightedRandomSampler: weights should be a 1d sequence but given weights have shape "
                f"{tuple(w.shape)}"
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                "WeightedRandomSampler: weights must be finite and non-negative with a positive sum, "
                f"got {w.tolist() if w.size <= 10 else 'an array with such entries'}"
            )
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(
                f"WeightedRandomSampler: cannot draw num_samples={num_samples} without replacement from "
                f"{np.count_nonzero(w)} indices with non-zero weight"
            )
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        return self._iter_seeded(_draw_seed(self.generator))

    def _iter_seeded(self, seed):
        p = self.weights / self.weights.sum()
        idx = _rng(seed).choice(len(p), size=self.num_samples, replace=self.replacement, p=p)
        return iter(idx.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless ``drop_last``).

    Example::

        >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size, drop_last):
        if not _is_pos_int(batch_size):
            raise ValueError(
                f"BatchSampler: batch_size should be a positive integer value, but got batch_size={batch_size!r}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(
                f"BatchSampler: drop_last should be a boolean value, but got drop_last={drop_last!r}"
            )
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self):
        return self._batches(iter(self.sampler))

    def _iter_seeded(self, seed):
        inner = self.sampler._iter_seeded(seed) if hasattr(self.sampler, "_iter_seeded") else iter(self.sampler)
        return self._batches(inner)

    def _batches(self, it):
        bs, batch = self.batch_size, []
        for idx in it:
            batch.append(idx)
            if len(batch) == bs:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size

"""``DistributedSampler``: each rank's share of a dataset, with exactly torch's indices."""
from __future__ import annotations

import math

import numpy as np

from .sampler import Sampler

__all__ = ["DistributedSampler", "torch_randperm"]


def _mt19937_raw(seed: int, n: int) -> np.ndarray:
    """The first ``n`` 32-bit outputs of MT19937 seeded as torch seeds its CPU generator
    (``init_genrand`` with the low 32 bits of the seed)."""
    key = np.empty(624, np.uint32)
    x = seed & 0xFFFFFFFF
    key[0] = x
    for j in range(1, 624):
        x = (1812433253 * (x ^ (x >> 30)) + j) & 0xFFFFFFFF
        key[j] = x
    bg = np.random.MT19937()
    bg.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": 624}}
    return bg.random_raw(n) if n > 0 else np.empty(0, np.uint64)


def torch_randperm(n: int, seed: int) -> list:
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()``, computed without
    torch (its CPU algorithm: a Fisher-Yates shuffle drawing ``random() % (n - i)`` from MT19937)."""
    n = int(n)
    if n >= 1 << 24:
        raise ValueError(f"torch_randperm: n={n} is beyond the sizes whose torch order ember reproduces (< 2**24)")
    r = list(range(n))
    if n < 2:
        return r
    z = (_mt19937_raw(seed, n - 1) % np.arange(n, 1, -1, dtype=np.uint64)).tolist()
    for i, k in enumerate(z):
        k += i
        r[i], r[k] = r[k], r[i]
    return r


class DistributedSampler(Sampler):
    """The part of ``dataset`` that rank ``rank`` of ``num_replicas`` visits (torch's sampler, index for index).

    The dataset is (optionally) shuffled with ``seed + epoch``, padded by repeating its start up to a
    multiple of ``num_replicas`` (or cut down to one with ``drop_last=True``), then dealt round-robin:
    rank r gets positions r, r + num_replicas, ... Call ``set_epoch(epoch)`` at the start of every
    epoch for a new order (the Trainer does it for you). ``num_replicas``/``rank`` default to the
    process group's world size and rank.

    Example::

        >>> list(DistributedSampler(range(10), num_replicas=4, rank=1, shuffle=False))
        [1, 5, 9]
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            import sys

            dist = sys.modules.get("ember.distributed")
            if dist is None or not dist.is_initialized():
                raise RuntimeError(
                    "DistributedSampler: num_replicas and rank default to the process group's, but "
                    "ember.distributed.init_process_group() has not been called; initialize it or pass both"
                )
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        num_replicas, rank = int(num_replicas), int(rank)
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = bool(drop_last)
        n = len(dataset)
        if self.drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = bool(shuffle)
        self.seed = int(seed)

    def global_indices(self) -> list:
        """The padded (or cut) order of the whole epoch, before it is dealt to the ranks."""
        n = len(self.dataset)
        indices = torch_randperm(n, self.seed + self.epoch) if self.shuffle else list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            elif indices:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[: self.total_size]
        return indices

    def __iter__(self):
        return iter(self.global_indices()[self.rank:self.total_size:self.num_replicas])

    def _iter_seeded(self, seed: int):
        return iter(self)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``seed + epoch`` for the next pass's shuffle (the same on every rank)."""
        self.epoch = int(epoch)

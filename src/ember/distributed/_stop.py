"""Agreeing to stop: SIGTERM reaches every rank, but each notices it at a different moment."""
from __future__ import annotations

import numpy as np

from ._core import _S, _group, _member

__all__ = ["any_rank", "SigtermGuard"]


def any_rank(flag, group=None) -> bool:
    """True on every rank if ``flag`` is true on at least one (a collective: all ranks must call it)."""
    g = _group(group, "any_rank")
    if not _member(g):
        return bool(flag)
    buf = np.array([1 if flag else 0], np.uint8)
    g.comm.Allreduce(_S.mpi.IN_PLACE, buf, op=_S.mpi.MAX)
    return bool(buf[0])


class SigtermGuard:
    """Finish the current step on SIGTERM, then stop on *every* rank at the same step.

    ::

        with dist.SigtermGuard() as guard:
            for step in range(steps):
                train_step()
                if guard.should_stop():   # collective: one rank got SIGTERM -> all stop here
                    save_checkpoint(); break
    """

    def __init__(self, group=None):
        from ..train._signals import SigtermGuard as _Local

        self._local = _Local()
        self.group = group

    @property
    def received(self) -> bool:
        return self._local.received

    def should_stop(self) -> bool:
        return any_rank(self._local.received, self.group)

    def __enter__(self):
        self._local.__enter__()
        return self

    def __exit__(self, *exc):
        return self._local.__exit__(*exc)

"""Data-parallel building blocks with torch.distributed's API, on MPI (mpi4py).

Start a script on N processes with ``ember run -n N script.py`` (or ``mpiexec``/``srun``), then::

    import ember.distributed as dist
    dist.init_process_group("mpi")
    t = ember.ones(3) * dist.get_rank()
    dist.all_reduce(t)                    # every rank now holds the sum

``import ember`` never imports this package (nor mpi4py); see docs/distributed.md.
"""
from ._core import *  # noqa: F401,F403
from ._core import __all__ as _core_all
from ._stop import SigtermGuard, any_rank

__all__ = list(_core_all) + ["SigtermGuard", "any_rank"]

"""Data parallelism across processes: ``DistributedDataParallel`` and ``SyncBatchNorm`` (on ember.distributed)."""
from .distributed import DistributedDataParallel
from .sync_batchnorm import SyncBatchNorm

__all__ = ["DistributedDataParallel", "SyncBatchNorm"]

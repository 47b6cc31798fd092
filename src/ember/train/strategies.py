"""Training strategies: one process (the default) or data parallel over MPI (``strategy="ddp"``).

The Trainer talks to its strategy through a handful of hooks (``trainer.strategy``); everything that
is specific to several processes lives here:

* **launch or join** -- ``Trainer(strategy="ddp", devices=N, num_nodes=M)`` outside an MPI job
  re-executes the script under ``mpiexec -n N*M`` (as Lightning's launcher re-runs it per device);
  inside one (``ember run``, ``mpiexec``, ``srun``) it joins it and checks its size.
* **gradients** -- the module's parameters are hooked by ``DistributedDataParallel`` (rank 0's weights
  broadcast at setup); ``training_step`` runs between DDP's two forward halves so its backward
  averages the gradients; accumulation windows use ``no_sync``. Under manual optimization every
  ``manual_backward`` averages the gradients of its backward (outside ``ddp.no_sync()``).
* **data** -- training and validation loaders get a ``DistributedSampler`` (``use_distributed_sampler``),
  ``set_epoch`` is called every epoch.
* **agreement** -- ``self.log(..., sync_dist=True)`` reduces over ranks; before monitoring callbacks run
  every rank takes rank 0's ``callback_metrics``, and ``should_stop``/SIGTERM are OR-ed over ranks every
  step, so EarlyStopping, ModelCheckpoint and SIGTERM reach the same decision on all ranks.
* **rank 0 writes** -- loggers, progress bar and checkpoint files act on rank 0 only (the other ranks'
  loggers report rank 0's version and write nothing).
"""
from __future__ import annotations

import os
import sys
import warnings

__all__ = ["Strategy", "SingleDeviceStrategy", "DDPStrategy", "make_strategy", "in_mpi_job"]

_MPI_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALRANKID")


def in_mpi_job() -> bool:
    """Whether this process was started by an MPI launcher (mpiexec, ember run, srun with PMI)."""
    return any(k in os.environ for k in _MPI_ENV)


class Strategy:
    """One process: every collective is the identity."""

    strategy_name = "single_device"
    world_size = 1
    global_rank = local_rank = node_rank = 0
    is_global_zero = True
    num_nodes = 1

    @property
    def root_device(self):
        from ember._backend import device

        return device("cpu")

    # -- collectives (Lightning's names) -------------------------------------------------------
    def barrier(self, name=None) -> None:
        pass

    def broadcast(self, obj, src: int = 0):
        return obj

    def reduce(self, value, group=None, reduce_op="mean"):
        return value

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return bool(decision)

    def all_gather(self, tensor, group=None, sync_grads: bool = False):
        return tensor

    # -- trainer hooks --------------------------------------------------------------------------
    def setup(self, trainer) -> None:
        pass

    def setup_module(self, module) -> None:
        pass

    def pre_training_step(self, accumulating: bool):
        return None

    def post_training_step(self, output, token) -> None:
        pass

    def pre_manual_step(self) -> None:
        """Before ``training_step`` under manual optimization (its backward calls run inside it)."""

    def pre_backward(self, loss) -> None:
        """``manual_backward(loss)`` is about to run ``loss.backward()``."""

    def post_manual_step(self) -> None:
        pass

    def pre_eval_step(self) -> None:
        """Before a validation/test/predict step (ddp: rank 0's buffers, by DDP's rule)."""

    def process_dataloader(self, loader, shuffle_default: bool):
        return loader

    def on_epoch_start(self, loader, epoch: int) -> None:
        pass

    def sync_metrics(self, trainer) -> None:
        pass

    def teardown(self) -> None:
        pass


SingleDeviceStrategy = Strategy


class DDPStrategy(Strategy):
    """Data parallel over MPI (see the module docstring). ``find_unused_parameters`` and
    ``bucket_cap_mb`` go to ``DistributedDataParallel``."""

    strategy_name = "ddp"

    def __init__(self, devices=1, num_nodes=1, find_unused_parameters=False, bucket_cap_mb=25,
                 use_distributed_sampler=True, sync_batchnorm=False):
        self.devices = int(devices)
        self.num_nodes = int(num_nodes)
        self.find_unused_parameters = find_unused_parameters
        self.bucket_cap_mb = bucket_cap_mb
        self.use_distributed_sampler = use_distributed_sampler
        self.sync_batchnorm = sync_batchnorm
        self.ddp = None
        self._manual = False
        self._dist = None

    # -- processes ------------------------------------------------------------------------------
    def launch_or_join(self) -> None:
        expected = self.devices * self.num_nodes
        if not in_mpi_job():
            if expected == 1:
                pass  # a world of one: nothing to launch
            else:
                self._relaunch(expected)
        import ember.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("mpi")
        self._dist = dist
        n = dist.get_world_size()
        if n != expected:
            raise ValueError(
                f"Trainer(strategy='ddp', devices={self.devices}, num_nodes={self.num_nodes}) expects "
                f"{expected} processes but this MPI job has {n}; start it with `ember run -n {expected} "
                f"script.py` (or set devices/num_nodes to match)"
            )

    def _relaunch(self, n) -> None:
        if os.environ.get("EMBER_DDP_RELAUNCHED"):
            raise RuntimeError("Trainer(strategy='ddp'): relaunched under mpiexec but the processes are not in an "
                               "MPI job (no PMI_RANK/PMI_SIZE); start the script with `ember run -n N script.py`")
        if self.num_nodes > 1:
            raise RuntimeError(
                f"Trainer(strategy='ddp', devices={self.devices}, num_nodes={self.num_nodes}): outside an MPI job "
                f"the Trainer can only start processes on this machine; start the {n} processes on "
                f"{self.num_nodes} machines with `ember run -n {n} --hostfile HOSTS --ppn {self.devices} script.py` "
                "(HOSTS: one 'host:slots' line per machine) or under srun"
            )
        if "PYTEST_CURRENT_TEST" in os.environ or not (sys.argv and (sys.argv[0] or "-c" in sys.orig_argv)):
            raise RuntimeError(
                f"Trainer(strategy='ddp', devices={n}) cannot relaunch this program under mpiexec (it is not a "
                f"script: an interactive session or a test runner); start it with `ember run -n {n} script.py`"
            )
        from ember.distributed.launch import find_mpiexec

        mpiexec = find_mpiexec()
        argv = [mpiexec, "-n", str(n), sys.executable, *sys.orig_argv[1:]]
        os.environ["EMBER_DDP_RELAUNCHED"] = "1"
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(mpiexec, argv)  # this process becomes the launcher; the ranks re-run the script

    @property
    def world_size(self):
        return self._dist.get_world_size() if self._dist is not None else self.devices * self.num_nodes

    @property
    def global_rank(self):
        return self._dist.get_rank() if self._dist is not None else 0

    @property
    def local_rank(self):
        return int(os.environ.get("LOCAL_RANK", self.global_rank % max(self.devices, 1)))

    @property
    def node_rank(self):
        return self.global_rank // max(self.devices, 1)

    @property
    def is_global_zero(self):
        return self.global_rank == 0

    # -- collectives -----------------------------------------------------------------------------
    def barrier(self, name=None) -> None:
        self._dist.barrier()

    def broadcast(self, obj, src: int = 0):
        box = [obj]
        self._dist.broadcast_object_list(box, src=src)
        return box[0]

    def reduce(self, value, group=None, reduce_op="mean"):
        import ember

        op = {"mean": "AVG", "avg": "AVG", "sum": "SUM", "max": "MAX", "min": "MIN"}.get(str(reduce_op).lower())
        if op is None:
            raise ValueError(f"strategy.reduce: reduce_op must be mean, sum, max or min, got {reduce_op!r}")
        is_tensor = isinstance(value, ember.Tensor)
        t = value.detach().clone() if is_tensor else ember.tensor(float(value), dtype=ember.float64)
        if t.dtype not in (ember.float32, ember.float64) and op == "AVG":
            t = t.double()
        self._dist.all_reduce(t, getattr(self._dist.ReduceOp, op), group=group)
        return t if is_tensor else float(t.item())

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        from ember.distributed import any_rank

        if all:
            return not any_rank(not decision)
        return any_rank(bool(decision))

    def all_gather(self, tensor, group=None, sync_grads: bool = False):
        import ember

        if isinstance(tensor, dict):
            return {k: self.all_gather(v, group) for k, v in tensor.items()}
        if isinstance(tensor, (list, tuple)):
            return type(tensor)(self.all_gather(v, group) for v in tensor)
        t = tensor if isinstance(tensor, ember.Tensor) else ember.tensor(tensor)
        n = self._dist.get_world_size(group)
        out = ember.zeros((n,) + tuple(t.shape), dtype=t.dtype)
        self._dist.all_gather_into_tensor(out, t.detach().contiguous(), group=group)
        return out

    # -- trainer hooks ----------------------------------------------------------------------------
    def setup(self, trainer) -> None:
        """Rank 0 decides the loggers' versions; the other ranks' loggers write nothing."""
        for lg in trainer.loggers:
            version = getattr(lg, "version", None) if self.is_global_zero else None
            version = self.broadcast(version)
            if not self.is_global_zero:
                if hasattr(lg, "_version"):
                    lg._version = version
                _silence(lg)

    def setup_module(self, module) -> None:
        from ember.nn import SyncBatchNorm
        from ember.nn.parallel import DistributedDataParallel

        if self.sync_batchnorm:
            SyncBatchNorm.convert_sync_batchnorm(module)
        if self.ddp is None or self.ddp.module is not module:
            self.ddp = DistributedDataParallel(module, find_unused_parameters=self.find_unused_parameters,
                                               bucket_cap_mb=self.bucket_cap_mb)

    def pre_training_step(self, accumulating: bool):
        self.ddp.require_backward_grad_sync = not accumulating
        return self.ddp._pre_forward()

    def post_training_step(self, output, token) -> None:
        self.ddp._post_forward(output, token)
        self.ddp.require_backward_grad_sync = True

    # manual optimization: the backward calls run inside training_step, so each manual_backward arms
    # the all-reduce with its loss (Lightning's DDPStrategy.pre_backward -> prepare_for_backward)
    def pre_manual_step(self) -> None:
        self._manual = True
        self.ddp._pre_forward()  # rank 0's buffers, as before any synchronized forward

    def pre_backward(self, loss) -> None:
        if self._manual and self.ddp is not None and self.ddp.require_backward_grad_sync:
            self.ddp._prepare(loss)  # the gradients of this backward are averaged over the ranks

    def post_manual_step(self) -> None:
        self._manual = False
        sync = self.ddp.require_backward_grad_sync
        self.ddp._post_forward(None, False)  # a backward that left parameters without gradient raises here
        self.ddp.require_forward_param_sync = sync  # a synchronized forward with grad: buffers before the next

    def pre_eval_step(self) -> None:
        """Before a validation step in fit: Lightning runs it through DDP's forward, whose pre-forward
        broadcasts rank 0's buffers (BatchNorm running statistics) when the last forward was a synchronized
        training one, so every rank evaluates the same model; a forward without grad turns that off."""
        if self.ddp is not None:
            self.ddp._pre_forward()
            self.ddp.require_forward_param_sync = False

    def process_dataloader(self, loader, shuffle_default: bool):
        from ember.utils.data import DataLoader, DistributedSampler, RandomSampler

        if not self.use_distributed_sampler or not isinstance(loader, DataLoader):
            return loader
        if isinstance(loader.sampler, DistributedSampler) or isinstance(
                getattr(loader.batch_sampler, "sampler", None), DistributedSampler):
            return loader
        if loader.batch_size is None or type(loader.batch_sampler).__name__ != "BatchSampler":
            warnings.warn("Trainer(strategy='ddp'): this DataLoader uses a custom batch_sampler, so no "
                          "DistributedSampler was injected: every rank sees the whole dataset; shard it yourself "
                          "or pass use_distributed_sampler=False to silence this", UserWarning, stacklevel=3)
            return loader
        shuffle = isinstance(loader.sampler, RandomSampler) if shuffle_default else False
        sampler = DistributedSampler(loader.dataset, shuffle=shuffle, seed=int(os.environ.get("PL_GLOBAL_SEED", 0)))
        kw = dict(batch_size=loader.batch_size, sampler=sampler, num_workers=loader.num_workers,
                  collate_fn=loader.collate_fn, drop_last=loader.drop_last, timeout=loader.timeout,
                  worker_init_fn=loader.worker_init_fn, generator=loader.generator)
        if loader.num_workers > 0:
            kw.update(prefetch_factor=loader.prefetch_factor, persistent_workers=loader.persistent_workers)
        return DataLoader(loader.dataset, **kw)

    def on_epoch_start(self, loader, epoch: int) -> None:
        from ember.utils.data import DistributedSampler

        s = getattr(loader, "sampler", None)
        if isinstance(s, DistributedSampler):
            s.set_epoch(epoch)

    def sync_metrics(self, trainer) -> None:
        """Every rank takes rank 0's callback metrics, so monitoring callbacks decide alike."""
        from ember.train._logging import MetricValue

        mine = {k: float(v) for k, v in trainer.callback_metrics.items() if _is_scalar(v)}
        got = self.broadcast(mine if self.is_global_zero else None)
        for k, v in got.items():
            trainer.callback_metrics[k] = MetricValue(v)

    def agree_to_stop(self, should_stop: bool, sigterm: bool) -> tuple:
        """(should_stop, sigterm) OR-ed over ranks: one small all-reduce per step."""
        import numpy as np

        from ember.distributed._core import _S

        buf = np.array([bool(should_stop), bool(sigterm)], np.uint8)
        self._dist.GroupMember.WORLD.comm.Allreduce(_S.mpi.IN_PLACE, buf, op=_S.mpi.MAX)
        return bool(buf[0]), bool(buf[1])

    def teardown(self) -> None:
        if self.ddp is not None:
            for h in self.ddp._handles:
                h.remove()
            self.ddp = None


def _is_scalar(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _silence(logger) -> None:
    """Make a logger of a non-zero rank write nothing (Lightning's rank_zero_only)."""
    def nothing(*a, **k):
        return None

    for name in ("log_metrics", "log_hyperparams", "log_graph", "save", "finalize", "after_save_checkpoint",
                 "log_text", "log_image"):
        if hasattr(logger, name):
            setattr(logger, name, nothing)


def make_strategy(strategy, accelerator, devices, num_nodes, use_distributed_sampler=True, sync_batchnorm=False):
    """The strategy object for ``Trainer(strategy=..., accelerator=..., devices=..., num_nodes=...)``."""
    if isinstance(strategy, Strategy):
        return strategy
    name = str(strategy).lower()
    if accelerator not in ("auto", "cpu"):
        raise ValueError(f"Trainer(accelerator={accelerator!r}): ember trains on CPU processes; use 'cpu' or 'auto'")
    if name in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "mpi"):
        if isinstance(devices, (list, tuple)):
            devices = len(devices)
        if devices in ("auto", None, -1, "-1"):
            devices = 1
        try:
            devices = int(devices)
        except (TypeError, ValueError):
            raise ValueError(f"Trainer(devices={devices!r}): give the number of processes per node") from None
        if devices < 1 or not isinstance(num_nodes, int) or num_nodes < 1:
            raise ValueError(f"Trainer(devices={devices}, num_nodes={num_nodes}): both must be >= 1")
        return DDPStrategy(devices, num_nodes, use_distributed_sampler=use_distributed_sampler,
                           sync_batchnorm=sync_batchnorm)
    if name not in ("auto", "single_device"):
        raise ValueError(f"Trainer(strategy={strategy!r}): ember has 'auto'/'single_device' (one process) and "
                         "'ddp' (data parallel over MPI)")
    if devices not in ("auto", 1, "1", [0], None) or num_nodes != 1:
        raise ValueError(f"Trainer(devices={devices!r}, num_nodes={num_nodes}): several processes need "
                         "strategy='ddp' (data parallel over MPI, see docs/distributed.md)")
    return Strategy()

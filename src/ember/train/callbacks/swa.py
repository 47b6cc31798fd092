"""``StochasticWeightAveraging`` (SWA): average the weights of the last epochs (Lightning 2.x semantics).

::

    trainer = Trainer(max_epochs=20, callbacks=[StochasticWeightAveraging(swa_lrs=1e-2)])

From epoch ``swa_epoch_start`` on (a fraction of ``max_epochs`` when a float) the learning rate is
annealed to ``swa_lrs`` over ``annealing_epochs`` (cosine or linear, replacing the module's
scheduler) and, after every epoch, the running average of the weights is updated. When training
ends the averaged weights are copied into the module and, if it has BatchNorm layers, their
running statistics are recomputed with one forward pass over the training data (no gradients):
that pass feeds ``batch[0]`` of list/tuple batches to ``module(...)``, as ``torch.optim.swa_utils.update_bn``.

ember differs from Lightning in two places, both documented here: the averaged weights are kept
as arrays (not a deep copy of the module), and they are swapped in also when training stopped
before the last epoch (e.g. by EarlyStopping), provided at least one epoch was averaged.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ember.train._monitor import log_info
from ember.train.callbacks.callback import Callback

__all__ = ["StochasticWeightAveraging"]


def _default_avg_fn(averaged, current, num_averaged):
    return averaged + (current - averaged) / (num_averaged + 1)


class _SWALR:
    """torch's ``SWALR`` rule: anneal each group's rate from its current value to ``swa_lr``."""

    def __init__(self, optimizer, swa_lrs: list[float], anneal_epochs: int, anneal_strategy: str):
        self.optimizer = optimizer
        for pg, lr in zip(optimizer.param_groups, swa_lrs):
            pg["swa_lr"] = lr
        self.anneal_epochs = anneal_epochs
        self.anneal_strategy = anneal_strategy
        self._step_count = 0
        self.step()

    def _alpha(self, t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2 if self.anneal_strategy == "cos" else t

    def step(self, *args: Any, **kwargs: Any) -> None:
        self._step_count += 1
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self._alpha(max(0.0, min(1.0, (step - 1) / max(1, self.anneal_epochs))))
        alpha = self._alpha(max(0.0, min(1.0, step / max(1, self.anneal_epochs))))
        for pg in self.optimizer.param_groups:
            lr, swa_lr = pg["lr"], pg["swa_lr"]
            prev = swa_lr if prev_alpha == 1 else (lr - prev_alpha * swa_lr) / (1 - prev_alpha)
            pg["lr"] = swa_lr * alpha + prev * (1 - alpha)

    def get_last_lr(self) -> list[float]:
        return [pg["lr"] for pg in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"step_count": self._step_count, "anneal_epochs": self.anneal_epochs,
                "anneal_strategy": self.anneal_strategy}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._step_count = int(state["step_count"])


def _is_batch_norm(m: Any) -> bool:
    return "BatchNorm" in type(m).__name__ and hasattr(m, "running_mean") and hasattr(m, "running_var")


class StochasticWeightAveraging(Callback):
    """Stochastic Weight Averaging.

    Args:
        swa_lrs: the SWA learning rate (a float for all parameter groups, or one per group).
        swa_epoch_start: first SWA epoch; an int >= 1 (1-based, as Lightning) or a float in (0, 1]
            (that fraction of ``max_epochs``).
        annealing_epochs: epochs to anneal the rate to ``swa_lrs``.
        annealing_strategy: ``"cos"`` or ``"linear"``.
        avg_fn: ``avg_fn(averaged, current, num_averaged) -> new averaged`` on NumPy arrays
            (default: the running mean).
        device: accepted for Lightning compatibility (ember runs on one device).
    """

    def __init__(self, swa_lrs: float | list[float], swa_epoch_start: int | float = 0.8,
                 annealing_epochs: int = 10, annealing_strategy: str = "cos",
                 avg_fn: Callable | None = None, device: Any = None):
        err = ValueError("SWA: swa_epoch_start should be an integer >= 1 or a float in (0, 1], "
                         f"got {swa_epoch_start!r}")
        if isinstance(swa_epoch_start, bool) or not isinstance(swa_epoch_start, (int, float)):
            raise err
        if isinstance(swa_epoch_start, int) and swa_epoch_start < 1:
            raise err
        if isinstance(swa_epoch_start, float) and not (0 < swa_epoch_start <= 1):
            raise err
        lrs_ok = (isinstance(swa_lrs, (int, float)) and not isinstance(swa_lrs, bool) and swa_lrs > 0) or (
            isinstance(swa_lrs, (list, tuple)) and len(swa_lrs) > 0
            and all(isinstance(lr, (int, float)) and lr > 0 for lr in swa_lrs))
        if not lrs_ok:
            raise ValueError(f"SWA: `swa_lrs` should be a positive float or a list of positive floats, got {swa_lrs!r}")
        if not isinstance(annealing_epochs, int) or annealing_epochs < 0:
            raise ValueError(f"SWA: annealing_epochs should be an int >= 0, got {annealing_epochs!r}")
        if annealing_strategy not in ("cos", "linear"):
            raise ValueError(f"SWA: annealing_strategy should be 'cos' or 'linear', got {annealing_strategy!r}")
        self._swa_epoch_start = swa_epoch_start
        self._swa_lrs = swa_lrs
        self._annealing_epochs = annealing_epochs
        self._annealing_strategy = annealing_strategy
        self._avg_fn = avg_fn or _default_avg_fn
        self._device = device
        self._max_epochs: int | None = None
        self._swa_scheduler: _SWALR | None = None
        self._scheduler_state: dict | None = None
        self._initialized = False
        self.n_averaged = 0
        self._latest_update_epoch = -1
        self.average_model_state: dict[str, np.ndarray] | None = None
        self._model_contains_batch_norm = False

    # -- epochs --------------------------------------------------------------------------------
    @property
    def swa_start(self) -> int:
        return max(int(self._swa_epoch_start) - 1, 0)

    @property
    def swa_end(self) -> int:
        return self._max_epochs - 1

    def on_fit_start(self, trainer, pl_module) -> None:
        if len(trainer.optimizers) != 1:
            raise ValueError(f"SWA works with exactly 1 optimizer, got {len(trainer.optimizers)}.")
        if len(trainer.lr_scheduler_configs) > 1:
            raise ValueError("SWA is not supported with more than 1 lr_scheduler.")
        max_epochs = getattr(trainer, "max_epochs", None)
        if max_epochs is None or max_epochs < 1:
            raise ValueError("SWA needs Trainer(max_epochs=...) to know when averaging ends.")
        self._max_epochs = int(max_epochs)
        if isinstance(self._swa_epoch_start, float):
            self._swa_epoch_start = max(1, int(self._max_epochs * self._swa_epoch_start))
        self._model_contains_batch_norm = any(_is_batch_norm(m) for m in pl_module.modules())

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        if self._initialized or not (self.swa_start <= epoch <= self.swa_end):
            return
        self._initialized = True
        optimizer = trainer.optimizers[0]
        optimizer = optimizer if hasattr(optimizer, "param_groups") else optimizer.optimizer
        lrs = self._swa_lrs
        if isinstance(lrs, (int, float)):
            lrs = [float(lrs)] * len(optimizer.param_groups)
        if len(lrs) != len(optimizer.param_groups):
            raise ValueError(f"SWA: {len(lrs)} swa_lrs given for {len(optimizer.param_groups)} parameter groups")
        for lr, pg in zip(lrs, optimizer.param_groups):
            pg["initial_lr"] = lr
        self._swa_scheduler = _SWALR(optimizer, list(lrs), self._annealing_epochs, self._annealing_strategy)
        if self._scheduler_state is not None:
            self._swa_scheduler.load_state_dict(self._scheduler_state)
        configs = trainer.lr_scheduler_configs
        if configs:
            cfg = configs[0]
            if getattr(cfg, "interval", "epoch") != "epoch" or getattr(cfg, "frequency", 1) != 1:
                import warnings

                warnings.warn(f"SWA is currently only supported every epoch; replacing the '{cfg.interval}' "
                              f"scheduler {type(cfg.scheduler).__name__}", UserWarning, stacklevel=2)
            log_info(f"Swapping scheduler `{type(cfg.scheduler).__name__}` for `SWALR`")
            cfg.scheduler, cfg.interval, cfg.frequency = self._swa_scheduler, "epoch", 1
            if hasattr(cfg, "reduce_on_plateau"):
                cfg.reduce_on_plateau = False
        else:
            configs.append(self._make_config(trainer))

    def _make_config(self, trainer):
        try:
            from ember.train._optim_config import LRSchedulerConfig

            return LRSchedulerConfig(self._swa_scheduler)
        except ImportError:  # pragma: no cover - the trainer always ships it
            from types import SimpleNamespace

            return SimpleNamespace(scheduler=self._swa_scheduler, name=None, interval="epoch", frequency=1,
                                   reduce_on_plateau=False, monitor=None, strict=True)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        if self.swa_start <= epoch <= self.swa_end and epoch > self._latest_update_epoch:
            self.update_parameters(pl_module)
            self._latest_update_epoch = epoch

    def on_train_end(self, trainer, pl_module) -> None:
        if self.n_averaged > 0 and self.average_model_state is not None:
            self.transfer_weights(pl_module)
            if self._model_contains_batch_norm:
                self.update_batch_norm(trainer, pl_module)

    # -- averaging -----------------------------------------------------------------------------
    def update_parameters(self, pl_module) -> None:
        """Fold the module's current weights into the average."""
        params = dict(pl_module.named_parameters())
        if self.average_model_state is None or self.n_averaged == 0:
            self.average_model_state = {n: np.array(p._data, copy=True) for n, p in params.items()}
        else:
            for n, p in params.items():
                avg = self._avg_fn(self.average_model_state[n], p._data, self.n_averaged)
                self.average_model_state[n] = np.asarray(getattr(avg, "_data", avg), dtype=p._data.dtype)
        self.n_averaged += 1

    def transfer_weights(self, pl_module) -> None:
        """Copy the averaged weights into ``pl_module`` (in place: optimizers keep their parameters)."""
        for n, p in pl_module.named_parameters():
            np.copyto(p._data, self.average_model_state[n])
            bump = getattr(p, "_bump", None)
            if bump is not None:
                bump()

    def update_batch_norm(self, trainer, pl_module) -> None:
        """Recompute BatchNorm running statistics for the averaged weights (cumulative mean over one pass)."""
        import ember

        loader = getattr(trainer, "train_dataloader", None)
        if loader is None:
            log_info("SWA: no train_dataloader on the trainer; BatchNorm statistics were not updated.")
            return
        bns = [m for m in pl_module.modules() if _is_batch_norm(m)]
        saved = [(m, m.momentum) for m in bns]
        for m in bns:
            m.running_mean._data[...] = 0
            m.running_var._data[...] = 1
            nbt = getattr(m, "num_batches_tracked", None)
            if nbt is not None:
                nbt._data[...] = 0
        mode = pl_module.training
        pl_module.train()
        try:
            with ember.no_grad():
                for k, batch in enumerate(loader):
                    for m in bns:  # running = (1 - m) * running + m * batch: m = 1/(k+1) is the plain mean
                        m.momentum = 1.0 / (k + 1)
                    x = batch[0] if isinstance(batch, (list, tuple)) else batch
                    pl_module(x)
        finally:
            for m, momentum in saved:
                m.momentum = momentum
            pl_module.train(mode)

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "n_averaged": int(self.n_averaged),
            "latest_update_epoch": int(self._latest_update_epoch),
            "scheduler_state": None if self._swa_scheduler is None else self._swa_scheduler.state_dict(),
            "average_model_state": None if self.average_model_state is None else dict(self.average_model_state),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.n_averaged = int(state_dict["n_averaged"])
        self._latest_update_epoch = int(state_dict["latest_update_epoch"])
        self._scheduler_state = state_dict.get("scheduler_state")
        avg = state_dict.get("average_model_state")
        self.average_model_state = None if avg is None else {
            k: np.array(getattr(v, "_data", v), copy=True) for k, v in avg.items()}

    def __repr__(self) -> str:
        return (f"StochasticWeightAveraging(swa_lrs={self._swa_lrs}, swa_epoch_start={self._swa_epoch_start}, "
                f"annealing_epochs={self._annealing_epochs}, annealing_strategy={self._annealing_strategy!r})")

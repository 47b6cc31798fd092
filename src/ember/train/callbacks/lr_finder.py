"""Learning-rate range test: ``lr_find`` and the ``LearningRateFinder`` callback (Lightning 2.x semantics).

::

    result = lr_find(trainer, model, train_dataloaders=train_dl, min_lr=1e-6, max_lr=1.0)
    result.suggestion()        # the rate where the (smoothed) loss falls fastest
    result.plot(suggest=True)  # a matplotlib figure (or result.plot(path="lr.png"))

The test trains for ``num_training`` steps while the rate grows from ``min_lr`` to ``max_lr``
(exponentially or linearly), recording a smoothed loss, and stops early once the loss exceeds
``early_stop_threshold`` times the best seen. It runs in a private trainer with the user's
trainer's optimisation flags, then puts everything back **exactly**: the model's parameters and
buffers bit for bit, every optimizer state it touched, the train/eval mode, the module's
trainer, and the Python/NumPy/ember random streams (so a fit after ``lr_find`` is the same fit as
without it, apart from the rate it picks).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from ember.train._monitor import log_info, to_float
from ember.train.callbacks.callback import Callback

__all__ = ["lr_find", "LRFinderResult", "LearningRateFinder"]


class _RangeSchedule:
    """Sets the optimizer's rates for step ``k``: ``min * (max/min)**(k/n)`` or ``min + k/n * (max-min)``."""

    def __init__(self, optimizer, min_lr: float, max_lr: float, num_iter: int, mode: str):
        self.optimizer = optimizer
        self.min_lr, self.max_lr, self.num_iter, self.mode = min_lr, max_lr, num_iter, mode
        self.last_epoch = -1
        self.step()

    def _value(self, k: int) -> float:
        r = k / self.num_iter
        if self.mode == "exponential":
            return self.min_lr * (self.max_lr / self.min_lr) ** r
        return self.min_lr + r * (self.max_lr - self.min_lr)

    @property
    def lr(self) -> list[float]:
        return [pg["lr"] for pg in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return self.lr

    def step(self, *args: Any, **kwargs: Any) -> None:
        self.last_epoch += 1
        v = self._value(self.last_epoch)
        for pg in self.optimizer.param_groups:
            pg["lr"] = v

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_epoch = int(state["last_epoch"])


class LRFinderResult:
    """What :func:`lr_find` found: ``results = {"lr": [...], "loss": [...]}`` (smoothed losses)."""

    def __init__(self, mode: str, min_lr: float, max_lr: float, num_training: int):
        self.mode, self.lr_min, self.lr_max, self.num_training = mode, min_lr, max_lr, num_training
        self.results: dict[str, list[float]] = {"lr": [], "loss": []}
        self._optimal_idx: int | None = None

    def suggestion(self, skip_begin: int = 10, skip_end: int = 1) -> float | None:
        """The rate at the steepest descent of the loss curve (after dropping ``skip_begin`` points at
        the start and ``skip_end`` at the end); ``None`` (with a message) when there are too few points."""
        losses = np.asarray(self.results["loss"][skip_begin:len(self.results["loss"]) - skip_end], dtype=np.float64)
        lrs = np.asarray(self.results["lr"][skip_begin:len(self.results["lr"]) - skip_end], dtype=np.float64)
        finite = np.isfinite(losses)
        idx_map = np.nonzero(finite)[0]
        losses, lrs = losses[finite], lrs[finite]
        if len(losses) < 2:
            log_info("lr_find: failed to compute a suggestion for the learning rate because there are not enough "
                     "points. Increase num_training or the size of your dataloader.")
            self._optimal_idx = None
            return None
        gradients = np.gradient(losses)
        i = int(np.argmin(gradients))
        self._optimal_idx = int(idx_map[i]) + skip_begin
        return float(lrs[i])

    def plot(self, suggest: bool = False, show: bool = False, ax: Any = None, path: str | None = None):
        """Loss against rate (log x axis in exponential mode). Returns the matplotlib Figure; with
        ``path`` also writes a PNG there. Needs matplotlib (imported only here)."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError("LRFinderResult.plot needs matplotlib: pip install matplotlib") from e
        lrs, losses = self.results["lr"], self.results["loss"]
        if ax is None:
            if show:
                import matplotlib.pyplot as plt

                fig, ax = plt.subplots()
            else:
                fig = Figure(figsize=(6, 4), dpi=100)
                FigureCanvasAgg(fig)
                ax = fig.add_subplot(1, 1, 1)
        else:
            fig = ax.figure
        ax.plot(lrs, losses)
        if self.mode == "exponential":
            ax.set_xscale("log")
        ax.set_xlabel("Learning rate")
        ax.set_ylabel("Loss")
        if suggest:
            lr = self.suggestion()
            if self._optimal_idx is not None:
                ax.plot(lrs[self._optimal_idx], losses[self._optimal_idx], markersize=10, marker="o", color="red")
                ax.set_title(f"suggested lr = {lr:.3g}")
        if path is not None:
            fig.savefig(path, format="png")
        if show:
            import matplotlib.pyplot as plt

            plt.show()
        return fig

    def __repr__(self) -> str:
        return f"LRFinderResult(mode={self.mode!r}, points={len(self.results['lr'])})"


class _LRCallback(Callback):
    """Records the rate of each optimizer step and the smoothed loss after it; stops on divergence."""

    def __init__(self, result: LRFinderResult, schedule_ref: list, early_stop_threshold: float | None,
                 beta: float = 0.98):
        self.result = result
        self.schedule_ref = schedule_ref
        self.early_stop_threshold = early_stop_threshold
        self.beta = beta
        self.avg_loss = 0.0
        self.best_loss = 0.0
        self._lr = None
        self._n = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches != 0:
            return
        self._lr = self.schedule_ref[0].lr[0]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches != 0:
            return
        if outputs is None:
            trainer.should_stop = True
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            trainer.should_stop = True
            return
        current = to_float(loss)
        if not math.isfinite(current):  # diverged: stop without recording a NaN
            trainer.should_stop = True
            return
        step = self._n
        self._n += 1
        self.avg_loss = self.beta * self.avg_loss + (1 - self.beta) * current
        smoothed = self.avg_loss / (1 - self.beta ** (step + 1))
        if self.early_stop_threshold is not None and step > 0 and smoothed > self.early_stop_threshold * self.best_loss:
            trainer.should_stop = True
        if smoothed < self.best_loss or step == 0:
            self.best_loss = smoothed
        self.result.results["lr"].append(float(self._lr))
        self.result.results["loss"].append(float(smoothed))


# -- exact snapshot / restore -------------------------------------------------------------------
def _tensors(model) -> list[tuple[str, Any]]:
    out = list(model.named_parameters())
    named_buffers = getattr(model, "named_buffers", None)
    if named_buffers is not None:
        out += [(n, b) for n, b in named_buffers() if b is not None]
    return out


def _snapshot_model(model) -> dict[str, Any]:
    arrays = {}
    for name, t in _tensors(model):
        grad = getattr(t, "grad", None)
        arrays[name] = (t, np.array(t._data, copy=True), None if grad is None else np.array(grad._data, copy=True))
    modes = [(m, m.training) for _, m in model.named_modules()]
    return {"arrays": arrays, "modes": modes, "trainer": getattr(model, "_trainer", None)}


def _restore_model(model, snap: dict[str, Any]) -> None:
    import ember

    current = dict(_tensors(model))
    for name, (t, data, grad) in snap["arrays"].items():
        t = current.get(name, t)
        if t._data.shape == data.shape and t._data.dtype == data.dtype:
            np.copyto(t._data, data)
        else:
            t._data = data
        if grad is None:
            t.grad = None
        else:
            t.grad = ember.Tensor._wrap(grad)
        bump = getattr(t, "_bump", None)
        if bump is not None:
            bump()
    for m, mode in snap["modes"]:
        m.training = mode
    object.__setattr__(model, "_trainer", snap["trainer"])


def _first_optimizer(cfg: Any):
    if isinstance(cfg, dict):
        return cfg["optimizer"]
    if isinstance(cfg, (list, tuple)):
        if len(cfg) == 2 and isinstance(cfg[0], (list, tuple)):
            cfg = cfg[0]
        if len(cfg) != 1:
            raise ValueError(f"lr_find works with one optimizer; configure_optimizers() returned {len(cfg)}")
        return _first_optimizer(cfg[0])
    if cfg is None:
        raise ValueError("lr_find needs an optimizer, but configure_optimizers() returned None")
    return cfg


def _find_lr_attr(model, attr_name: str) -> tuple[Any, str]:
    """(object, attribute) holding the rate: ``model.<name>`` or ``model.hparams[<name>]``."""
    names = [attr_name] if attr_name else ["lr", "learning_rate"]
    hp = getattr(model, "hparams", None)
    for n in names:
        if n in vars(model) or hasattr(type(model), n):
            return model, n
        if hp is not None and n in hp:
            return hp, n
    if attr_name:
        raise AttributeError(f"lr_find: model has no attribute {attr_name!r} (nor in model.hparams) to update; "
                             "pass update_attr=False or the right attr_name")
    raise AttributeError("When using the learning rate finder either specify in your model an attribute `lr` or "
                         "`learning_rate` (or in model.hparams), pass `attr_name=`, or use update_attr=False.")


def _set_attr(holder, name: str, value: float) -> None:
    if isinstance(holder, dict) or hasattr(holder, "__setitem__") and not hasattr(holder, "named_parameters"):
        holder[name] = value
    else:
        setattr(holder, name, value)


def _capture_rng():
    try:
        from ember.train._checkpoint import capture_rng, restore_rng

        return capture_rng(), restore_rng
    except (ImportError, AttributeError):  # trainer helpers absent: Python and NumPy only
        import random

        st = (random.getstate(), np.random.get_state())

        def restore(s):
            random.setstate(s[0])
            np.random.set_state(s[1])

        return st, restore


def lr_find(trainer, model, train_dataloaders=None, val_dataloaders=None, dataloaders=None, datamodule=None,
            min_lr: float = 1e-8, max_lr: float = 1.0, num_training: int = 100, mode: str = "exponential",
            early_stop_threshold: float | None = 4.0, update_attr: bool = True,
            attr_name: str = "") -> LRFinderResult | None:
    """Run a learning-rate range test on ``model`` and put everything back exactly afterwards.

    Args:
        trainer: the user's Trainer; its optimisation flags (accumulation, clipping, batch limits,
            NaN policy) are reused by a private trainer, and it is not modified.
        model: the TrainModule (its ``configure_optimizers`` supplies the optimizer).
        train_dataloaders / dataloaders / datamodule: the data (else the module's ``train_dataloader``).
        min_lr, max_lr: the range; num_training: optimizer steps; mode: ``"exponential"`` or ``"linear"``.
        early_stop_threshold: stop once the smoothed loss exceeds this times the best (None: never).
        update_attr: write the suggestion into ``model.lr`` / ``model.learning_rate`` /
            ``model.hparams[...]`` (or ``attr_name``).

    Returns an :class:`LRFinderResult`.
    """
    if mode not in ("exponential", "linear"):
        raise ValueError(f"lr_find: mode must be 'exponential' or 'linear', got {mode!r}")
    if not (0 < min_lr < max_lr):
        raise ValueError(f"lr_find: need 0 < min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    if not isinstance(num_training, int) or num_training < 2:
        raise ValueError(f"lr_find: num_training must be an int >= 2, got {num_training!r}")
    holder = _find_lr_attr(model, attr_name) if update_attr else None
    if dataloaders is not None and train_dataloaders is None:
        train_dataloaders = dataloaders

    result = LRFinderResult(mode, min_lr, max_lr, num_training)
    schedule_ref: list = []
    touched: list = []  # (optimizer, deep-copied state_dict)
    snap = _snapshot_model(model)
    rng, restore_rng = _capture_rng()
    outer_opts = [(o, copy.deepcopy(o.state_dict())) for o in getattr(trainer, "optimizers", []) or []]
    had_own = "configure_optimizers" in vars(model)
    own = vars(model).get("configure_optimizers")
    original = model.configure_optimizers

    def configure_for_range_test():
        opt = _first_optimizer(original())
        touched.append((opt, copy.deepcopy(opt.state_dict())))
        sched = _RangeSchedule(opt, min_lr, max_lr, num_training, mode)
        schedule_ref[:] = [sched]
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    flags = dict(max_steps=num_training, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                 enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                 default_root_dir=getattr(trainer, "default_root_dir", None),
                 accumulate_grad_batches=getattr(trainer, "accumulate_grad_batches", 1),
                 gradient_clip_val=getattr(trainer, "gradient_clip_val", None),
                 gradient_clip_algorithm=getattr(trainer, "gradient_clip_algorithm", None),
                 limit_train_batches=getattr(trainer, "limit_train_batches", None),
                 callbacks=[_LRCallback(result, schedule_ref, early_stop_threshold)])
    if hasattr(trainer, "on_nonfinite_loss"):
        flags["on_nonfinite_loss"] = "ignore"  # a diverging loss ends the test, not the program
    finder = type(trainer)(**flags)
    object.__setattr__(model, "configure_optimizers", configure_for_range_test)
    try:
        finder.fit(model, train_dataloaders=train_dataloaders, datamodule=datamodule)
    finally:
        if had_own:
            object.__setattr__(model, "configure_optimizers", own)
        else:
            object.__delattr__(model, "configure_optimizers")
        for opt, state in touched + outer_opts:
            opt.load_state_dict(state)
        _restore_model(model, snap)
        restore_rng(rng)

    lr = result.suggestion()
    if update_attr and lr is not None:
        _set_attr(holder[0], holder[1], lr)
        log_info(f"Learning rate set to {lr:.6g}")
    return result


class LearningRateFinder(Callback):
    """Run :func:`lr_find` when fit starts and apply the suggested rate to the fit's optimizers.

    Args mirror :func:`lr_find` (``num_training_steps`` is its ``num_training``). ``optimal_lr``
    holds the :class:`LRFinderResult`.
    """

    SUPPORTED_MODES = ("linear", "exponential")

    def __init__(self, min_lr: float = 1e-8, max_lr: float = 1.0, num_training_steps: int = 100,
                 mode: str = "exponential", early_stop_threshold: float | None = 4.0, update_attr: bool = True,
                 attr_name: str = ""):
        if mode not in self.SUPPORTED_MODES:
            raise ValueError(f"LearningRateFinder: mode must be one of {self.SUPPORTED_MODES}, got {mode!r}")
        self._min_lr, self._max_lr, self._num_training_steps = min_lr, max_lr, num_training_steps
        self._mode, self._early_stop_threshold = mode, early_stop_threshold
        self._update_attr, self._attr_name = update_attr, attr_name
        self.optimal_lr: LRFinderResult | None = None
        self._done = False

    def lr_find(self, trainer, pl_module) -> None:
        loaders = getattr(trainer, "train_dataloader", None) or getattr(trainer, "_train_loader_arg", None)
        datamodule = getattr(trainer, "datamodule", None) if loaders is None else None
        self.optimal_lr = lr_find(trainer, pl_module, train_dataloaders=loaders, datamodule=datamodule,
                                  min_lr=self._min_lr, max_lr=self._max_lr, num_training=self._num_training_steps,
                                  mode=self._mode, early_stop_threshold=self._early_stop_threshold,
                                  update_attr=self._update_attr, attr_name=self._attr_name)
        lr = self.optimal_lr.suggestion() if self.optimal_lr is not None else None
        if self._update_attr and lr is not None:
            # the fit's optimizers were built before on_fit_start: give them the new rate too
            for opt in getattr(trainer, "optimizers", []) or []:
                for pg in opt.param_groups:
                    pg["lr"] = lr
                    if "initial_lr" in pg:
                        pg["initial_lr"] = lr
            for cfg in getattr(trainer, "lr_scheduler_configs", []) or []:
                sch = getattr(cfg, "scheduler", None)
                if sch is not None and hasattr(sch, "base_lrs"):
                    sch.base_lrs = [lr] * len(sch.base_lrs)

    def on_fit_start(self, trainer, pl_module) -> None:
        if not self._done:
            self._done = True
            self.lr_find(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"done": self._done}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._done = bool(state_dict.get("done", False))  # a resumed fit does not search again

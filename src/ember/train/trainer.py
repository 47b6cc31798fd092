"""The ``Trainer``: runs a ``TrainModule``'s steps and calls hooks, Lightning 2.x style.

Where each hook fires during ``fit`` (callbacks first, in list order, then the module;
``[cb]`` = callbacks only, ``[m]`` = module only)::

    configure_callbacks [m]; prepare_data [dm, m]
    setup("fit")                                  # datamodule, callbacks, module
    (ckpt_path: on_load_checkpoint [m], on_load_checkpoint [cb], cb.load_state_dict)
    configure_optimizers [m]                      # checked: shapes, schedulers
    on_fit_start
    on_sanity_check_start [cb]                    # num_sanity_val_steps batches of validation
        validation loop (below)                   # (skipped when resuming mid-epoch; RNG restored after)
    on_sanity_check_end [cb]
    on_train_start
    for epoch in epochs:
        on_train_epoch_start
        for batch_idx, batch in train loader:
            (on_before_batch_transfer; transfer_batch_to_device; on_after_batch_transfer)  # [dm or m]
            on_train_batch_start                  # module returning -1 ends the epoch
            out = training_step(batch, batch_idx)
            on_before_zero_grad; optimizer_zero_grad [m]    # first batch of an accumulation
            on_before_backward; backward [m]; on_after_backward
            on_before_optimizer_step; configure_gradient_clipping [m]; optimizer_step [m]
            (step-interval schedulers; epoch-interval ones after the last batch)
            on_train_batch_end(out)
            if validation is due:
                on_validation_model_eval [m]; on_validation_start; on_validation_epoch_start
                for each val batch: on_validation_batch_start; validation_step; on_validation_batch_end
                on_validation_epoch_end; on_validation_end; on_validation_model_train [m]
            (ReduceLROnPlateau with interval "step"; deferred checkpoints written; SIGTERM check)
        on_train_epoch_end [cb]; on_train_epoch_end [m]; on_train_epoch_end [EarlyStopping, ModelCheckpoint]
        (ReduceLROnPlateau with interval "epoch"; epoch metrics to the loggers; checkpoints written;
         loggers flushed; learning curves refreshed)
    on_train_end; on_fit_end; (loggers finalized; learning curves written); teardown("fit")
    on_exception                                  # if anything above raised

``validate``/``test``/``predict`` run the same evaluation loop with their own hooks.

This file is the loop and the public API. Around it: ``_args.py`` (the constructor's arguments),
``_ckpt_connector.py`` (what a checkpoint holds, when it is written, restoring; the loop's consistent
points), ``_data_connector.py`` (loaders, batch limits, when validation is due), ``_optimization.py``
(``configure_optimizers``, the loss check, the scheduler stepper), ``_signals.py`` (SIGTERM),
``_logging.py`` (``self.log``), ``_plots.py`` (learning curves) and ``strategies.py`` (ddp).

Beyond Lightning: exact resume (a run resumed from any checkpoint, even one saved mid-epoch, ends
with the same weights bit for bit), SIGTERM saves ``<log_dir>/checkpoints/last.ckpt`` and exits
(status 143) after the current step, a NaN policy (``on_nonfinite_loss``), and misuse errors at
fit start rather than epochs later.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

from ember.train._args import check_trainer_args, warn_inert
from ember.train._checkpoint import capture_rng, restore_rng
from ember.train._ckpt_connector import CheckpointConnector, SigtermStop
from ember.train._data_connector import DataConnector, _as_list, _sized
from ember.train._optimization import NonFiniteLossError, OptimizationConnector  # noqa: F401 (public here)
from ember.train._logging import ResultCollection
from ember.train._optim_config import LRSchedulerConfig
from ember.train._signals import SigtermGuard
from ember.train.callbacks.callback import Callback

__all__ = ["Trainer", "TrainerState", "NonFiniteLossError", "LRSchedulerConfig"]

_BATCH_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
SIGTERM_EXIT_CODE = 143  # 128 + SIGTERM: "stopped by a signal" to shells and job schedulers


@dataclass
class TrainerState:
    fn: str | None = None          # "fit" "validate" "test" "predict"
    stage: str | None = None       # "train" "sanity_check" "validate" "test" "predict"
    status: str = "initializing"   # "running" "finished" "interrupted"
    stop_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.status == "finished"


class Trainer(DataConnector, OptimizationConnector):
    """Runs fit/validate/test/predict for a :class:`~ember.train.TrainModule` (Lightning 2.x flags).

    >>> trainer = Trainer(max_epochs=5, callbacks=[EarlyStopping(patience=3)])  # doctest: +SKIP
    >>> trainer.fit(model, train_loader, val_loader)                             # doctest: +SKIP

    ``on_nonfinite_loss``: ``"raise"`` (default; names the step and batch), ``"skip"`` (drop the
    batch: no backward, no step) or ``"ignore"`` (no check at all).
    """

    def __init__(self, *, accelerator="auto", strategy="auto", devices="auto", num_nodes=1, precision=None,
                 logger=True, callbacks=None, fast_dev_run=False, max_epochs=None, min_epochs=None,
                 max_steps=-1, min_steps=None, max_time=None, limit_train_batches=None,
                 limit_val_batches=None, limit_test_batches=None, limit_predict_batches=None,
                 overfit_batches=0.0, val_check_interval=None, check_val_every_n_epoch=1,
                 num_sanity_val_steps=None, log_every_n_steps=None, enable_checkpointing=None,
                 enable_progress_bar=None, enable_model_summary=None, accumulate_grad_batches=1,
                 gradient_clip_val=None, gradient_clip_algorithm=None, deterministic=None, benchmark=None,
                 inference_mode=True, use_distributed_sampler=True, profiler=None, detect_anomaly=False,
                 barebones=False, plugins=None, sync_batchnorm=False,
                 reload_dataloaders_every_n_epochs=0, default_root_dir=None,
                 on_nonfinite_loss="raise"):
        from ember.train.strategies import make_strategy

        a = check_trainer_args({k: v for k, v in locals().items() if k != "self"})  # see _args.py
        # one process, or strategy="ddp": data parallel over MPI (launches or joins the MPI job here)
        self.strategy = make_strategy(strategy, accelerator, devices, num_nodes, use_distributed_sampler,
                                      sync_batchnorm)
        if self.strategy.strategy_name == "ddp":
            self.strategy.launch_or_join()
            a.update(strategy="auto", sync_batchnorm=False)  # both take effect: no "inert flag" warning
        warn_inert(a)
        self.barebones, self.use_distributed_sampler = a["barebones"], a["use_distributed_sampler"]
        if a["fast_dev_run"] is True:
            a["fast_dev_run"] = 1
        if a["fast_dev_run"]:
            n = int(a["fast_dev_run"])
            a.update(limit_train_batches=n, limit_val_batches=n, limit_test_batches=n, limit_predict_batches=n,
                     max_epochs=1, max_steps=n, num_sanity_val_steps=0, val_check_interval=1.0, logger=None,
                     enable_checkpointing=False)
        self.fast_dev_run = a["fast_dev_run"]
        self.default_root_dir = os.fspath(default_root_dir) if default_root_dir is not None else os.getcwd()
        if a["max_epochs"] is None and a["max_steps"] in (None, -1) and max_time is None:
            a["max_epochs"] = 1000  # Lightning's default when nothing bounds the run
        self.max_epochs, self.min_epochs = a["max_epochs"], a["min_epochs"]
        self.max_steps = -1 if a["max_steps"] is None else a["max_steps"]
        self.min_steps = a["min_steps"]
        self.max_time = max_time
        self.limit_train_batches, self.limit_val_batches = a["limit_train_batches"], a["limit_val_batches"]
        self.limit_test_batches, self.limit_predict_batches = a["limit_test_batches"], a["limit_predict_batches"]
        self.overfit_batches = a["overfit_batches"]
        if self.overfit_batches:
            self.limit_train_batches = self.limit_val_batches = self.overfit_batches
        self.val_check_interval = 1.0 if a["val_check_interval"] is None else a["val_check_interval"]
        self.check_val_every_n_epoch = check_val_every_n_epoch
        self.num_sanity_val_steps = 2 if a["num_sanity_val_steps"] is None else a["num_sanity_val_steps"]
        self.log_every_n_steps = 50 if a["log_every_n_steps"] is None else a["log_every_n_steps"]
        self.accumulate_grad_batches = accumulate_grad_batches
        self.gradient_clip_val, self.gradient_clip_algorithm = gradient_clip_val, gradient_clip_algorithm
        self.deterministic, self.detect_anomaly = deterministic, detect_anomaly  # (ember's CPU ops are deterministic)
        self.reload_dataloaders_every_n_epochs = reload_dataloaders_every_n_epochs
        self.on_nonfinite_loss = on_nonfinite_loss
        self.inference_mode = inference_mode

        # loggers
        logger = a["logger"]
        if logger is True:
            from ember.train.loggers import CSVLogger

            logger = CSVLogger(save_dir=self.default_root_dir)
        self.loggers = _as_list(logger) if logger not in (None, False) else []

        # callbacks (user order kept; checkpoint callbacks moved last, as Lightning does)
        self._user_callbacks = list(a["callbacks"] or [])
        for cb in self._user_callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer(callbacks=...): {cb!r} is not an ember.train.Callback")
        self._enable_checkpointing = a["enable_checkpointing"] is not False and not self.fast_dev_run
        rank0 = self.strategy.is_global_zero  # progress bar and summary print on rank 0 only
        self._enable_progress_bar = a["enable_progress_bar"] is not False and rank0
        self._enable_model_summary = a["enable_model_summary"] is not False and rank0
        self.callbacks = self._default_callbacks(self._user_callbacks)

        # state
        self.state = TrainerState()
        self.current_epoch = 0
        self.global_step = 0
        self.should_stop = False
        self.callback_metrics: dict = {}
        self.logged_metrics: dict = {}
        self.progress_bar_metrics: dict = {}
        self.optimizers: list = []
        self.lr_scheduler_configs: list[LRSchedulerConfig] = []
        self.lightning_module = None
        self.datamodule = None
        self.ckpt_path = None
        self.sanity_checking = False
        self.received_sigterm = False
        self.interrupted = False
        self.num_training_batches = 0
        self.num_val_batches: list[int] = []
        self.num_sanity_val_batches: list[int] = []
        self.num_test_batches: list[int] = []
        self.num_predict_batches: list[int] = []
        self.train_dataloader = None
        self.val_dataloaders = None
        self.is_last_batch = False
        self._results: ResultCollection | None = None
        self._manual_optimizers: list = []
        self._hooks: dict = {}
        self._batch_hooks: list = []
        self._user_code_after_step = True
        self._ckpt = CheckpointConnector(self)
        self._batches_seen = 0           # batches of the current epoch already trained
        self._batches_that_stepped = 0   # logger step counter (Lightning's)
        self._total_batch_idx = 0
        self._epoch_rng = None
        self._redo_after_batch = False   # resumed from a checkpoint taken after a batch's step
        self._monitors_checked = False
        self._sigterm = None
        self._curves = None

    # ------------------------------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------------------------------
    def fit(self, model, train_dataloaders=None, val_dataloaders=None, datamodule=None, ckpt_path=None):
        """Train ``model``; ``ckpt_path`` (a path, ``"last"`` or ``"best"``) resumes exactly."""
        from ember.train.module import DataModule

        if isinstance(train_dataloaders, DataModule):
            datamodule, train_dataloaders = train_dataloaders, None
        self._attach(model, datamodule, "fit")
        self._train_loader_arg, self._val_loader_arg = train_dataloaders, val_dataloaders
        with SigtermGuard() as guard:
            self._sigterm = guard
            try:
                self._run_guarded(self._fit_impl, ckpt_path)
            finally:
                self._sigterm = None

    def validate(self, model=None, dataloaders=None, ckpt_path=None, verbose=True, datamodule=None):
        """Run one validation epoch; returns ``[{metric: value}, ...]`` (one dict per loader)."""
        return self._evaluate("validate", model, dataloaders, ckpt_path, verbose, datamodule)

    def test(self, model=None, dataloaders=None, ckpt_path=None, verbose=True, datamodule=None):
        """Run one test epoch; returns ``[{metric: value}, ...]`` (one dict per loader). The learning-curve
        report in ``log_dir`` is rewritten with the test metrics."""
        out = self._evaluate("test", model, dataloaders, ckpt_path, verbose, datamodule)
        self._write_learning_curves()
        return out

    def predict(self, model=None, dataloaders=None, datamodule=None, return_predictions=True, ckpt_path=None):
        """Run ``predict_step`` over the loader(s); returns the outputs (a list per loader)."""
        return self._evaluate("predict", model, dataloaders, ckpt_path, False, datamodule, return_predictions)

    def save_checkpoint(self, filepath, weights_only: bool = False, storage_options=None) -> None:
        """Write a checkpoint. During ``fit`` it is written at the end of the current batch (or
        epoch), once every hook has run, so that resuming from it is exact."""
        self._ckpt.save(filepath, weights_only)

    def print(self, *args, **kwargs) -> None:
        if self.is_global_zero:
            print(*args, **kwargs)

    # -- read-only state ------------------------------------------------------------------------
    @property
    def model(self):
        return self.lightning_module

    @property
    def logger(self):
        return self.loggers[0] if self.loggers else None

    @property
    def log_dir(self) -> str:
        lg = self.logger
        d = getattr(lg, "log_dir", None) if lg is not None else None
        return d if d is not None else self.default_root_dir

    @property
    def checkpoint_callbacks(self):
        from ember.train.callbacks.model_checkpoint import ModelCheckpoint
        return [c for c in self.callbacks if isinstance(c, ModelCheckpoint)]

    @property
    def checkpoint_callback(self):
        c = self.checkpoint_callbacks
        return c[0] if c else None

    @property
    def early_stopping_callbacks(self):
        from ember.train.callbacks.early_stopping import EarlyStopping
        return [c for c in self.callbacks if isinstance(c, EarlyStopping)]

    @property
    def early_stopping_callback(self):
        c = self.early_stopping_callbacks
        return c[0] if c else None

    @property
    def progress_bar_callback(self):
        return next((c for c in self.callbacks if hasattr(c, "get_metrics") and "Progress" in type(c).__name__),
                    None)

    @property
    def training(self) -> bool:
        return self.state.stage == "train"

    @property
    def validating(self) -> bool:
        return self.state.stage == "validate"

    @property
    def testing(self) -> bool:
        return self.state.stage == "test"

    @property
    def predicting(self) -> bool:
        return self.state.stage == "predict"

    @property
    def evaluating(self) -> bool:
        return self.state.stage in ("validate", "test", "sanity_check")

    @property
    def world_size(self) -> int:
        return self.strategy.world_size

    @property
    def num_devices(self) -> int:
        return getattr(self.strategy, "devices", 1)

    @property
    def num_nodes(self) -> int:
        return self.strategy.num_nodes

    @property
    def device_ids(self) -> list:
        return list(range(self.num_devices))

    @property
    def enable_validation(self) -> bool:
        return bool(getattr(self, "_val_on", False))

    @property
    def precision(self) -> str:
        return "32-true"

    def init_module(self, empty_init=None):
        """A context for building the module (Lightning picks device and dtype there); a no-op."""
        import contextlib
        return contextlib.nullcontext()

    @property
    def global_rank(self) -> int:
        return self.strategy.global_rank

    @property
    def local_rank(self) -> int:
        return self.strategy.local_rank

    @property
    def node_rank(self) -> int:
        return self.strategy.node_rank

    @property
    def is_global_zero(self) -> bool:
        return self.strategy.is_global_zero

    @property
    def estimated_stepping_batches(self) -> int | float:
        """Total optimizer steps the fit will take (for OneCycleLR's ``total_steps``)."""
        if self.train_dataloader is None and self.state.fn == "fit":
            self._connect_train_loaders()  # configure_optimizers may ask (OneCycleLR total_steps)
        n = self.num_training_batches
        if n is None or n == float("inf"):
            return float("inf") if self.max_steps == -1 else self.max_steps
        per_epoch = math.ceil(n / self.accumulate_grad_batches)
        total = per_epoch * self.max_epochs if self.max_epochs not in (None, -1) else float("inf")
        return min(total, self.max_steps) if self.max_steps != -1 else total

    # ------------------------------------------------------------------------------------------
    # the fit loop: fit -> epoch -> batch
    # ------------------------------------------------------------------------------------------
    def _fit_impl(self, ckpt_path):
        m = self.lightning_module
        self._reset_metrics()
        self._setup("fit")
        self._ckpt.restore(ckpt_path)
        self._configure_optimizers()
        self._ckpt.restore_training_state()
        self._ckpt.mark_resumed()
        self._ckpt.defer = True  # checkpoints are written at consistent points: see _ckpt_connector
        self._call("on_fit_start")
        self._log_hparams()
        if self._sanity_wanted() and not self._batches_seen:  # Lightning: none when resuming mid-epoch
            self._sanity_check()
        self._connect_loaders()
        self.state.stage = "train"
        m.train()
        self._call("on_train_start")
        while not self._fit_done():
            self._train_epoch()
        self._ckpt.flush()
        self._ckpt.end_fit()
        self._call("on_train_end")
        self.state.status = "finished"
        self._call("on_fit_end")
        self._finalize_loggers("success")
        self._write_learning_curves()
        self._teardown("fit")

    def _train_epoch(self):
        if self.reload_dataloaders_every_n_epochs and self.current_epoch % self.reload_dataloaders_every_n_epochs == 0 \
                and self.current_epoch > 0:
            self._train_loader_arg is None and self._connect_train_loaders()
        skip, resume = self._batches_seen, self._ckpt.resume  # skip > 0 only when resuming mid-epoch
        dl = self.train_dataloader
        self.strategy.on_epoch_start(dl, self.current_epoch)  # DistributedSampler.set_epoch
        # a loader with state_dict() resumes its own position; any other iterable is replayed from
        # the RNG state at the start of the epoch and the batches already trained are skipped
        stateful = resume is not None and resume.get("dataloader") is not None and hasattr(dl, "load_state_dict")
        if resume is not None and skip:
            if stateful:
                dl.load_state_dict(resume["dataloader"])
            self._epoch_rng = resume["rng_epoch_start"]
            if not stateful:
                restore_rng(self._epoch_rng)
        else:
            if resume is not None:
                if stateful:
                    dl.load_state_dict(resume["dataloader"])
                restore_rng(resume["rng"])
            self._epoch_rng = capture_rng(raw=True)
        if not skip:
            self._results.reset_stage("train")
        self._results.stage = "train"
        self.lightning_module.train()
        self._call("on_train_epoch_start")
        n = self.num_training_batches
        completed = n is not None and skip >= n  # resumed after the last batch, before epoch end
        it = iter(()) if completed else iter(dl)
        for _ in range(0 if stateful or completed else skip):
            next(it)
        stop = False
        if resume is not None:
            if skip:
                restore_rng(resume["rng"])
            self._ckpt.resume = None
            if self._redo_after_batch:  # the checkpoint was taken after the step of batch skip - 1
                self._redo_after_batch = False
                self.is_last_batch = completed
                self._finish_batch(skip - 1, replay=True)
                stop = self._stop_mid_epoch()
        end = skip if stop else (n if n is not None else sys.maxsize)
        for batch_idx in range(skip, end):
            try:
                batch = next(it)
            except StopIteration:
                completed = True
                break
            if self._batch_hooks:
                batch = self._transfer_batch(batch, 0)
            self.is_last_batch = n is not None and batch_idx + 1 == n
            if self._train_batch(batch, batch_idx) == -1:
                break
            if self.is_last_batch:
                completed = True
            if self._stop_mid_epoch():
                break
        self._train_epoch_end(completed)

    def _train_batch(self, batch, batch_idx):
        m = self.lightning_module
        self._results.new_batch(batch)
        if self._call("on_train_batch_start", batch, batch_idx) == -1:
            return -1
        if m.automatic_optimization:
            out = self._optimization_step(batch, batch_idx)
        else:
            out = self._run_step("training_step", batch, batch_idx)
            self._check_loss(out, batch_idx, manual=True)
        self._advance(batch_idx)
        out = {"loss": out} if out is not None and not isinstance(out, dict) else out
        self._finish_batch(batch_idx, out, batch)
        return None

    def _advance(self, batch_idx):
        """The batch is trained (its step taken, or its gradient accumulated): the one place where the
        loop's position moves, and a consistent point for checkpoints (see _ckpt_connector)."""
        self._batches_seen = batch_idx + 1
        self._total_batch_idx += 1
        self._ckpt.mark("trained")

    def _optimization_step(self, batch, batch_idx):
        m, opt, acc = self.lightning_module, self.optimizers[0] if self.optimizers else None, self.accumulate_grad_batches
        first = batch_idx % acc == 0
        last = (batch_idx + 1) % acc == 0 or self.is_last_batch
        token = self.strategy.pre_training_step(accumulating=not last)  # ddp: arm the gradient all-reduce
        out = self._run_step("training_step", batch, batch_idx)
        self.strategy.post_training_step(out, token)
        loss = self._check_loss(out, batch_idx)
        if first and opt is not None:
            self._call("on_before_zero_grad", opt)
            m.optimizer_zero_grad(self.current_epoch, batch_idx, opt)
            self._window_has_grad = False
        if loss is not None:
            if acc > 1:
                loss = loss / acc
            self._call("on_before_backward", loss)
            m.backward(loss)
            self._call("on_after_backward")
            self._window_has_grad = True
        if last and opt is not None and self._window_has_grad:
            self._call("on_before_optimizer_step", opt)
            m.configure_gradient_clipping(opt, gradient_clip_val=self.gradient_clip_val,
                                          gradient_clip_algorithm=self.gradient_clip_algorithm)
            m.optimizer_step(self.current_epoch, batch_idx, opt)
            self.global_step += 1
            self._stepped = True
        return out

    def _finish_batch(self, batch_idx, out=None, batch=None, replay=False):
        """Work after a batch's step: schedulers, on_train_batch_end, validation if due, plateau
        schedulers, checkpoint files, SIGTERM. ``replay``: resuming from a checkpoint taken after the
        step, whose batch and outputs are gone (its on_train_batch_end is not called again)."""
        if self._user_code_after_step:  # it may draw random numbers (see CheckpointConnector.mark)
            self._ckpt.fix_rng()
        self._step_schedulers("step", plateau=False, batch_idx=batch_idx)
        if self.is_last_batch:
            self._step_schedulers("epoch", plateau=False)
        if not replay:
            self._call("on_train_batch_end", out, batch, batch_idx)
            self._log_step_metrics(batch_idx)
        if self._val_due(batch_idx):
            self._ckpt.fix_rng()
            self._run_validation()
        self._step_schedulers("step", plateau=True, batch_idx=batch_idx)
        if not self._accumulating(batch_idx):
            self._batches_that_stepped += 1
        self._ckpt.mark("done")
        self._ckpt.flush()
        if self.world_size > 1:  # a stop (EarlyStopping, SIGTERM) on one rank is a stop on all, at this step
            sig = self._sigterm is not None and self._sigterm.received
            self.should_stop, sig = self.strategy.agree_to_stop(self.should_stop, sig)
            if sig and self._sigterm is not None:
                self._sigterm.received = True
        if self._sigterm is not None and self._sigterm.received:
            self._ckpt.save_on_sigterm()

    def _train_epoch_end(self, completed):
        self._results.epoch_end("train")
        self._results.epoch_end_reached = True
        monitoring = [c for c in self.callbacks if self._is_monitoring(c)]
        for cb in self.callbacks:
            if cb not in monitoring and self._overrides(cb, "on_train_epoch_end"):
                cb.on_train_epoch_end(self, self.lightning_module)
        self._call_module("on_train_epoch_end")
        if not self._monitors_checked:
            self._check_monitors_logged()
        if self.world_size > 1:
            self.strategy.sync_metrics(self)  # monitoring callbacks decide on rank 0's values everywhere
        for cb in monitoring:
            cb.on_train_epoch_end(self, self.lightning_module)
        self._results.epoch_end_reached = False
        if completed:
            self._step_schedulers("epoch", plateau=True)
        out = self._results.epoch_end("train")
        if out:  # no row holding only "epoch"
            self._log_to_loggers(out, max(self._batches_that_stepped - 1, 0))
        self._ckpt.mark("epoch")
        self._ckpt.flush()
        self._save_loggers()
        self.current_epoch += 1
        self._batches_seen = 0
        if self._sigterm is not None and self._sigterm.received:
            self._ckpt.save_on_sigterm()
        if not self._fit_done():  # (the last epoch's curves are written at fit end)
            self._write_learning_curves(epoch_end=True)

    # ------------------------------------------------------------------------------------------
    # evaluation loops
    # ------------------------------------------------------------------------------------------
    def _sanity_check(self):
        """A few validation batches before training; RNG states are restored afterwards (Lightning's
        isolate_rng), so that training does not depend on it."""
        saved = (dict(self.callback_metrics), dict(self.logged_metrics), dict(self.progress_bar_metrics))
        rng = capture_rng()
        self.sanity_checking = True
        self.state.stage = "sanity_check"
        self._call_callbacks("on_sanity_check_start")
        self._connect_val_loaders()
        if self._val_enabled():
            n = self.num_sanity_val_steps
            self._eval_loop("validate", self.val_dataloaders, limit=None if n == -1 else n, log=False)  # -1: all
        self._call_callbacks("on_sanity_check_end")
        self.sanity_checking = False
        self._check_monitors_logged(sanity=True)
        self.callback_metrics, self.logged_metrics, self.progress_bar_metrics = (
            saved[0], saved[1], saved[2])
        restore_rng(rng)

    def _run_validation(self):
        prev = self.state.stage
        self.state.stage = "validate"
        self._eval_loop("validate", self.val_dataloaders, limit=None, log=True)
        self.state.stage = prev
        self._results.stage = "train"

    def _eval_loop(self, stage, loaders, limit=None, log=True, return_predictions=False):
        """One epoch over each of ``loaders`` with ``{stage}_step`` and its hooks; returns metric
        dicts (or predictions)."""
        import ember

        m = self.lightning_module
        noun = {"validate": "validation", "test": "test", "predict": "predict"}[stage]
        step_name = f"{noun}_step"
        res = self._results
        res.reset_stage(stage)
        res.stage = stage
        nums = [self._num_eval_batches(stage, dl) for dl in loaders]
        if limit is not None:
            nums = [limit if n is None else min(limit, n) for n in nums]
        setattr(self, "num_sanity_val_batches" if self.sanity_checking else
                {"validate": "num_val_batches", "test": "num_test_batches", "predict": "num_predict_batches"}[stage],
                [float("inf") if n is None else n for n in nums])
        was_training = getattr(m, "training", True)
        getattr(m, f"on_{noun}_model_eval")()
        results, preds = [], []
        multi = len(loaders) > 1
        with ember.inference_mode() if self.inference_mode else ember.no_grad():
            self._call(f"on_{noun}_start")
            self._call(f"on_{noun}_epoch_start")
            for dl_idx, (dl, n) in enumerate(zip(loaders, nums)):
                extra = (dl_idx,) if multi else ()
                res.dl_suffix = f"/dataloader_idx_{dl_idx}" if multi else ""
                outs = []
                it = iter(dl)
                for batch_idx in range(n if n is not None else sys.maxsize):
                    try:
                        batch = next(it)
                    except StopIteration:
                        break
                    if self._batch_hooks:
                        batch = self._transfer_batch(batch, dl_idx)
                    res.new_batch(batch)
                    self._call(f"on_{noun}_batch_start", batch, batch_idx, *extra)
                    out = self._run_step(step_name, batch, batch_idx, *extra)
                    if stage == "predict" and return_predictions:
                        outs.append(out)
                    self._call(f"on_{noun}_batch_end", out, batch, batch_idx, *extra)
                preds.append(outs)
            res.dl_suffix = ""
            if stage != "predict":
                res.epoch_end(stage)
                res.epoch_end_reached = True
            self._call(f"on_{noun}_epoch_end")
            if stage != "predict":
                res.epoch_end_reached = False
                metrics = res.epoch_end(stage)
                if log and metrics:  # epoch-end rows carry the epoch, as in Lightning
                    self._log_to_loggers(dict(metrics), self._batches_that_stepped)
                results = [{k: v for k, v in metrics.items() if _of_loader(k, i)} for i in range(len(loaders))]
                if self.world_size > 1:
                    self.strategy.sync_metrics(self)
            self._call(f"on_{noun}_end")
        if was_training:
            getattr(m, f"on_{noun}_model_train", m.train)()
        if stage == "predict":
            return preds if multi else (preds[0] if preds else [])
        return results

    def _evaluate(self, fn, model, dataloaders, ckpt_path, verbose, datamodule, return_predictions=True):
        from ember.train.module import DataModule

        if isinstance(dataloaders, DataModule):
            datamodule, dataloaders = dataloaders, None
        if model is None:
            if self.lightning_module is None:
                raise ValueError(f"Trainer.{fn}() needs a model: pass it, or call fit() first")
            model = self.lightning_module
            if ckpt_path is None and self.checkpoint_callback is not None and \
                    getattr(self.checkpoint_callback, "best_model_path", ""):
                ckpt_path = "best"
        self._attach(model, datamodule or self.datamodule, fn)
        return self._run_guarded(self._evaluate_impl, fn, dataloaders, ckpt_path, verbose, return_predictions)

    def _evaluate_impl(self, fn, dataloaders, ckpt_path, verbose, return_predictions):
        self._setup(fn)
        if ckpt_path is not None:
            self._ckpt.restore(ckpt_path, weights_only=True)
        noun = {"validate": "val", "test": "test", "predict": "predict"}[fn]
        loaders = _as_list(dataloaders) if dataloaders is not None else _as_list(self._loader_from_hooks(noun))
        if not loaders:
            raise ValueError(f"Trainer.{fn}(): no dataloader; pass dataloaders=... or define "
                             f"{noun}_dataloader() on the module or datamodule")
        for dl in loaders:
            if _sized(dl) == 0:
                raise ValueError(f"Trainer.{fn}(): the {noun} dataloader is empty (len 0)")
        self.state.stage = fn
        self._reset_metrics()
        out = self._eval_loop(fn, loaders, log=True, return_predictions=return_predictions)
        self._save_loggers()
        self.state.status = "finished"
        if fn != "predict" and verbose:
            self._print_table(fn, out)
        self._teardown(fn)
        return out if (fn != "predict" or return_predictions) else None

    # ------------------------------------------------------------------------------------------
    # helpers: attach, setup, hooks
    # ------------------------------------------------------------------------------------------
    def _attach(self, model, datamodule, fn):
        from ember.train.module import TrainModule

        if not isinstance(model, TrainModule):
            raise TypeError(f"Trainer.{fn}() expects an ember.train.TrainModule, got {type(model).__name__}; "
                            "subclass TrainModule (Lightning's LightningModule) and define training_step")
        self.lightning_module = model
        model.trainer = self
        self.datamodule = datamodule
        if datamodule is not None:
            datamodule.trainer = self
        self.state = TrainerState(fn=fn, status="running")
        self.should_stop = False
        self.train_dataloader = self.val_dataloaders = None
        self._val_on = False
        if self._results is None or fn == "fit":
            self._results = ResultCollection(self)

    def _run_guarded(self, body, *args):
        from ember.autograd import detect_anomaly

        try:
            if self.detect_anomaly:  # Trainer(detect_anomaly=True): NaN in backward names the forward op
                with detect_anomaly():
                    return body(*args)
            return body(*args)
        except SigtermStop:
            self.state.status = "interrupted"
            self.interrupted = True
            self._finalize_loggers("interrupted")
            self._teardown(self.state.fn)
            raise SystemExit(SIGTERM_EXIT_CODE) from None
        except BaseException as e:
            self.state.status = "interrupted"
            self.interrupted = True
            # saves requested in a batch that did not finish would hold a half-done step: dropped;
            # saves made in on_exception (OnExceptionCheckpoint) are written at once
            self._ckpt.drop_pending()
            self._call_callbacks("on_exception", e)
            self._call_module("on_exception", e)
            self._finalize_loggers("failed")
            raise

    def _setup(self, stage):
        m, dm = self.lightning_module, self.datamodule
        extra = _as_list(m.configure_callbacks())
        if extra:
            types = {type(c) for c in extra}
            self.callbacks = [c for c in self.callbacks if type(c) not in types] + extra
            self.callbacks = self._order_checkpoints_last(self.callbacks)
        if dm is not None:
            dm.prepare_data()
        m.prepare_data()
        if dm is not None:
            dm.setup(stage)
        self._build_hook_cache()
        self.strategy.setup(self)  # ddp: rank 0 picks the loggers' version; other ranks' loggers go quiet
        self._call_callbacks("setup", stage)
        m.setup(stage)
        if stage == "fit":
            self.strategy.setup_module(m)  # ddp: rank 0's weights everywhere, gradient hooks

    def _teardown(self, stage):
        self._ckpt.defer = False
        if stage == "fit":
            self.strategy.teardown()
        if self.datamodule is not None:
            self.datamodule.teardown(stage)
        self._call_callbacks("teardown", stage)
        self.lightning_module.teardown(stage)

    def _default_callbacks(self, user):
        from ember.train.callbacks.model_checkpoint import ModelCheckpoint

        cbs = list(user)
        names = {type(c).__name__ for c in cbs}
        if self._enable_progress_bar and not any("ProgressBar" in n for n in names):
            from ember.train.callbacks.progress import TQDMProgressBar
            cbs.append(TQDMProgressBar())
        if self._enable_model_summary and not any("ModelSummary" in n for n in names):
            from ember.train.callbacks.model_summary import ModelSummary
            cbs.append(ModelSummary())
        if self.max_time is not None and "Timer" not in names:
            from ember.train.callbacks.timer import Timer
            cbs.append(Timer(duration=self.max_time, interval="step"))
        if self._enable_checkpointing and not any(isinstance(c, ModelCheckpoint) for c in cbs):
            cbs.append(ModelCheckpoint())
        elif not self._enable_checkpointing and any(isinstance(c, ModelCheckpoint) for c in cbs) \
                and not self.fast_dev_run:
            raise ValueError("Trainer(enable_checkpointing=False) but a ModelCheckpoint is in callbacks; "
                             "remove one of the two")
        return self._order_checkpoints_last(cbs)

    @staticmethod
    def _order_checkpoints_last(cbs):
        from ember.train.callbacks.model_checkpoint import ModelCheckpoint
        return [c for c in cbs if not isinstance(c, ModelCheckpoint)] + \
            [c for c in cbs if isinstance(c, ModelCheckpoint)]

    @staticmethod
    def _is_monitoring(cb):
        """EarlyStopping and ModelCheckpoint run after the module's on_train_epoch_end (Lightning)."""
        from ember.train.callbacks.early_stopping import EarlyStopping
        from ember.train.callbacks.model_checkpoint import ModelCheckpoint
        return isinstance(cb, (EarlyStopping, ModelCheckpoint))

    @staticmethod
    def _overrides(obj, name):
        f = getattr(obj, name, None)
        if f is None:
            return False
        base = Callback if isinstance(obj, Callback) else None
        if base is None:
            from ember.train.module import _HookDefaults as base
        return getattr(f, "__func__", None) is not getattr(base, name, None)

    def _build_hook_cache(self):
        """For each hook, the callbacks and module methods that actually override it; a hook
        nobody overrides is left out, so that calling it costs one dict lookup per step."""
        hooks = [n for n in dir(Callback) if n.startswith("on_")]
        m = self.lightning_module
        self._hooks = {}
        for name in hooks:
            cbs = [getattr(c, name) for c in self.callbacks if self._overrides(c, name)]
            mod = getattr(m, name) if self._overrides(m, name) else None
            if cbs or mod is not None:
                self._hooks[name] = (cbs, mod)
        # batch-transfer hooks: the datamodule's when it overrides one, else the module's (Lightning)
        from ember.train.module import DataModule, _HookDefaults

        self._batch_hooks = []
        for name in _BATCH_HOOKS:
            dm = self.datamodule
            if dm is not None and getattr(type(dm), name, None) is not getattr(DataModule, name, None):
                self._batch_hooks.append((name, getattr(dm, name)))
            elif getattr(type(m), name, None) is not getattr(_HookDefaults, name):
                self._batch_hooks.append((name, getattr(m, name)))
        # user code between a batch's step and its end (ember's own callbacks draw no random numbers)
        cbs, mod = self._hooks.get("on_train_batch_end", ((), None))
        self._user_code_after_step = mod is not None or "lr_scheduler_step" in _overridden(m) or any(
            not type(f.__self__).__module__.startswith("ember.train.callbacks.") for f in cbs)

    def _transfer_batch(self, batch, dataloader_idx):
        """on_before_batch_transfer -> transfer_batch_to_device -> on_after_batch_transfer, for the
        ones overridden (before on_*_batch_start, as in Lightning)."""
        for name, fn in self._batch_hooks:
            if name == "transfer_batch_to_device":
                batch = fn(batch, self.lightning_module.device, dataloader_idx)
            else:
                batch = fn(batch, dataloader_idx)
        return batch

    def _call(self, name, *args):
        """Fire hook ``name``: callbacks (in order), then the module. Returns the module's result."""
        entry = self._hooks.get(name)
        if entry is None:
            return None
        cbs, mod = entry
        m = self.lightning_module
        for f in cbs:
            f(self, m, *args)
        if mod is not None:
            d = m.__dict__  # _current_fx is a plain attribute: skip nn.Module.__setattr__
            prev, d["_current_fx"] = d["_current_fx"], name
            try:
                return mod(*args)
            finally:
                d["_current_fx"] = prev
        return None

    def _call_callbacks(self, name, *args):
        for cb in self.callbacks:
            getattr(cb, name)(self, self.lightning_module, *args)

    def _call_module(self, name, *args):
        m = self.lightning_module
        prev, m._current_fx = m._current_fx, name
        try:
            return getattr(m, name)(*args)
        finally:
            m._current_fx = prev

    def _run_step(self, name, batch, batch_idx, *extra):
        m = self.lightning_module
        d = m.__dict__
        d["_current_fx"] = name
        try:
            return getattr(m, name)(batch, batch_idx, *extra)
        finally:
            d["_current_fx"] = None

    # ------------------------------------------------------------------------------------------
    # helpers: stopping
    # ------------------------------------------------------------------------------------------
    def _can_stop(self, between_epochs=False):
        done = self.current_epoch if between_epochs else self.current_epoch + 1  # epochs finished
        if self.min_epochs is not None and done < self.min_epochs:
            return False
        if self.min_steps is not None and self.global_step < self.min_steps:
            return False
        return True

    def _stop_mid_epoch(self):
        if self.max_steps != -1 and self.global_step >= self.max_steps:
            self.state.stop_reason = self.state.stop_reason or "max_steps"
            return True
        return self.should_stop and self._can_stop()

    def _fit_done(self):
        if self.max_steps != -1 and self.global_step >= self.max_steps:
            self.state.stop_reason = self.state.stop_reason or "max_steps"
            return True
        if self.max_epochs not in (None, -1) and self.current_epoch >= self.max_epochs:
            self.state.stop_reason = self.state.stop_reason or "max_epochs"
            return True
        if self.should_stop:
            if self._can_stop(between_epochs=True):
                self.state.stop_reason = self.state.stop_reason or "should_stop"
                return True
            self.should_stop = False  # min_epochs/min_steps not met yet: keep going (Lightning)
        return False

    # ------------------------------------------------------------------------------------------
    # helpers: logging
    # ------------------------------------------------------------------------------------------
    def _log_step_metrics(self, batch_idx):
        res = self._results
        if not res.step_dirty:
            return
        if self._accumulating(batch_idx) and self.lightning_module.automatic_optimization:
            return  # as Lightning: per-step values reach the loggers only on batches that step
        n = self.log_every_n_steps  # 0: no step-level logging (Lightning)
        if n and ((self._batches_that_stepped + 1) % n == 0 or self.should_stop):
            metrics = res.step_metrics_for_logger()
            if metrics:
                self._log_to_loggers(metrics, self._batches_that_stepped)
        res.clear_step()

    def _reset_metrics(self):
        """Each fit/validate/test/predict starts with empty metric dicts (as Lightning's do)."""
        self.callback_metrics, self.logged_metrics, self.progress_bar_metrics = {}, {}, {}

    def _log_to_loggers(self, metrics, step):
        """Send ``metrics`` (plus the current ``epoch``, which ``logged_metrics`` does not get, as in
        Lightning) to every logger at ``step``."""
        if not metrics:
            return
        self.logged_metrics.update(metrics)
        metrics["epoch"] = self.current_epoch
        for lg in self.loggers:
            lg.log_metrics(metrics, step)

    def _save_loggers(self):
        """Flush what the loggers buffered (epoch end, after a checkpoint, end of validate/test)."""
        for lg in self.loggers:
            lg.save()

    def _log_hparams(self):
        m = self.lightning_module
        hp = dict(m.hparams)
        if self.datamodule is not None:
            hp.update(getattr(self.datamodule, "hparams", {}) or {})
        if self.loggers and getattr(m, "_log_hyperparams", True):
            for lg in self.loggers:
                lg.log_hyperparams(hp)
        if self.state.fn == "fit":
            for lg in self.loggers:  # Lightning logs the graph at fit start (a no-op unless log_graph=True)
                lg.log_graph(m)

    def _finalize_loggers(self, status):
        for lg in self.loggers:
            try:
                lg.save()
                lg.finalize(status)
            except Exception:  # a failing logger must not hide the original error
                if status == "success":
                    raise

    def _write_learning_curves(self, epoch_end=False):
        """learning_curves.png/.html in log_dir: at fit end, and at each epoch end that is not the
        last (throttled so that drawing takes at most ~10% of the training time)."""
        if not self.loggers or self.fast_dev_run or not self.is_global_zero:
            return
        from ember.train._plots import LearningCurves

        if self._curves is None:
            self._curves = LearningCurves()
        self._curves.write(self, throttle=epoch_end)
        if not epoch_end:
            self._curves = None

    def _logged_keys_report(self):
        seen = self._results.seen if self._results is not None else {}
        if not seen:
            return "Nothing has been logged with self.log yet."
        parts = []
        for name in sorted(seen):
            where = sorted(seen[name])
            parts.append(f"{name} ({', '.join(where)})")
        return "Logged so far: " + "; ".join(parts) + "."

    def _check_monitors_logged(self, sanity=False):
        """Misuse check: a monitored key that is never logged fails early, listing what is."""
        keys = set(self.callback_metrics)
        for name in self._results.seen:
            keys.update((name, name + "_step", name + "_epoch"))
        watchers = [(type(c).__name__, c.monitor, getattr(c, "strict", True))
                    for c in self.callbacks if getattr(c, "monitor", None)]
        watchers += [("ReduceLROnPlateau", c.monitor, c.strict) for c in self.lr_scheduler_configs
                     if c.reduce_on_plateau]
        for owner, key, strict in watchers:
            if key in keys or not strict:
                continue
            if sanity and not any(k in key for k in ("val", "valid")):
                continue  # a train metric: judged at the end of the first epoch
            default = " (its default, as in Keras)" if owner == "EarlyStopping" and \
                getattr(self._find(owner), "_monitor_defaulted", False) else ""
            where = "validation_step" if sanity else "training_step, validation_step or an epoch-end hook"
            raise RuntimeError(f"{owner} monitors {key!r}{default}, but it is never logged. "
                               f"{self._logged_keys_report()} Log it with self.log({key!r}, ...) in {where}, "
                               f"or pass monitor=<one of the keys above>.")
        if not sanity:
            self._monitors_checked = True

    def _find(self, clsname):
        return next((c for c in self.callbacks if type(c).__name__ == clsname), None)

    def _print_table(self, fn, results):
        if not results or not any(results):
            return
        title = {"validate": "Validate metric", "test": "Test metric"}[fn]
        rows = [(k, f"{v:.6g}") for d in results for k, v in sorted(d.items())]
        w0 = max(len(title), *(len(r[0]) for r in rows))
        w1 = max(len("DataLoader 0"), *(len(r[1]) for r in rows))
        line = "─" * (w0 + w1 + 7)
        print(line)
        print(f"  {title:<{w0}}   {'DataLoader 0':>{w1}}")
        print(line)
        for k, v in rows:
            print(f"  {k:<{w0}}   {v:>{w1}}")
        print(line)


def _overridden(m):
    """Names of TrainModule methods that ``type(m)`` overrides (of a few the loop cares about)."""
    from ember.train.module import TrainModule
    return {n for n in ("lr_scheduler_step",) if getattr(type(m), n, None) is not getattr(TrainModule, n, None)}


def _of_loader(key, i):
    """Whether metric ``key`` belongs in the results of eval loader ``i`` (its own suffix, or none)."""
    j = key.rfind("/dataloader_idx_")
    return j < 0 or key[j + 16:] == str(i)

"""The ``Trainer``: runs a ``TrainModule``'s steps and calls hooks, Lightning 2.x style.

Where each hook fires during ``fit`` (callbacks first, in list order, then the module;
``[cb]`` = callbacks only, ``[m]`` = module only)::

    configure_callbacks [m]; prepare_data [dm, m]
    setup("fit")                                  # datamodule, callbacks, module
    (the precision converts the module: "64-true" float64, "16-true" float16)
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
            (precision's input conversion: "64-true"/"16-true" cast the batch's floating tensors)
            (on_before_batch_transfer; transfer_batch_to_device; on_after_batch_transfer)  # [dm or m]
            on_train_batch_start                  # module returning -1 ends the epoch
            out = training_step(batch, batch_idx) # every *_step under the precision's context (autocast)
            on_before_zero_grad; optimizer_zero_grad [m]    # first batch of an accumulation
            on_before_backward; backward [m]; on_after_backward          # ("16-mixed": of the scaled loss)
            on_before_optimizer_step; configure_gradient_clipping [m]; optimizer_step [m]  # ("16-mixed":
                                                  # unscaled first; the step is skipped on inf/NaN gradients)
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

This file is the training loop and the public API. Around it, each a small mixin or helper whose
docstring names the hooks it serves:

* ``_args.py``               the constructor's arguments, checked and resolved
* ``_hooks.py``              who answers each hook; calling them in order
* ``_callback_connector.py`` default callbacks, their order, monitored keys
* ``_ckpt_connector.py``     what a checkpoint holds, when it is written, restoring, where a resumed
  epoch starts; the loop's consistent points
* ``_data_connector.py``     loaders, batch limits, when validation is due
* ``_optimization.py``       ``configure_optimizers``, the automatic optimization step, the loss check,
  the scheduler stepper
* ``_evaluation_loop.py``    sanity check, validation, ``validate``/``test``/``predict``
* ``_logger_connector.py``   what reaches the loggers, and when; learning curves (``_plots.py``)
* ``_logging.py``            ``self.log``
* ``_signals.py``            SIGTERM, ``on_exception``
* ``_precision.py``          ``precision=``: module and batch conversion, autocast and loss scaling
* ``strategies.py``          ddp

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
from ember.train._callback_connector import CallbackConnector
from ember.train._ckpt_connector import CheckpointConnector
from ember.train._data_connector import DataConnector
from ember.train._evaluation_loop import EvaluationLoop
from ember.train._hooks import HookCaller
from ember.train._logger_connector import LoggerConnector
from ember.train._logging import ResultCollection
from ember.train._optimization import NonFiniteLossError, OptimizationConnector  # noqa: F401 (public here)
from ember.train._optim_config import LRSchedulerConfig
from ember.train._precision import make_precision_plugin
from ember.train._signals import SIGTERM_EXIT_CODE, SignalConnector, SigtermGuard  # noqa: F401

__all__ = ["Trainer", "TrainerState", "NonFiniteLossError", "LRSchedulerConfig"]



@dataclass
class TrainerState:
    fn: str | None = None          # "fit" "validate" "test" "predict"
    stage: str | None = None       # "train" "sanity_check" "validate" "test" "predict"
    status: str = "initializing"   # "running" "finished" "interrupted"
    stop_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.status == "finished"


class Trainer(DataConnector, OptimizationConnector, EvaluationLoop, CallbackConnector, LoggerConnector,
              HookCaller, SignalConnector):
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
        self.precision_plugin = make_precision_plugin(a["precision"])  # see _precision.py
        self.barebones, self.use_distributed_sampler = a["barebones"], a["use_distributed_sampler"]
        self.fast_dev_run = a["fast_dev_run"]
        # Lightning's fast_dev_run mutes the loggers (a DummyLogger) rather than removing them: callbacks that
        # need a logger (LearningRateMonitor) still accept the Trainer, unless logger=False was asked for
        self._fdr_muted_logger = bool(self.fast_dev_run) and logger is not False
        self.default_root_dir = os.fspath(default_root_dir) if default_root_dir is not None else os.getcwd()
        self.max_epochs, self.min_epochs, self.max_steps, self.min_steps = (a["max_epochs"], a["min_epochs"],
                                                                            a["max_steps"], a["min_steps"])
        self.max_time = max_time
        self.limit_train_batches, self.limit_val_batches = a["limit_train_batches"], a["limit_val_batches"]
        self.limit_test_batches, self.limit_predict_batches = a["limit_test_batches"], a["limit_predict_batches"]
        self.overfit_batches = a["overfit_batches"]
        self.val_check_interval, self.check_val_every_n_epoch = a["val_check_interval"], check_val_every_n_epoch
        self.num_sanity_val_steps, self.log_every_n_steps = a["num_sanity_val_steps"], a["log_every_n_steps"]
        self.accumulate_grad_batches = accumulate_grad_batches
        self.gradient_clip_val, self.gradient_clip_algorithm = gradient_clip_val, gradient_clip_algorithm
        self.deterministic, self.detect_anomaly = deterministic, detect_anomaly
        if deterministic is not None:  # as Lightning: the process-wide flag (ember's CPU ops are deterministic)
            import ember
            ember.use_deterministic_algorithms(bool(deterministic), warn_only=deterministic == "warn")
        self.reload_dataloaders_every_n_epochs = reload_dataloaders_every_n_epochs
        self.on_nonfinite_loss = on_nonfinite_loss
        self.inference_mode = inference_mode

        self.loggers = self._connect_loggers(a["logger"])  # logger=True: a CSVLogger in default_root_dir
        self._connect_callbacks(a)  # user order kept, defaults added, checkpoint callbacks last (Lightning)

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
        """The normalised precision flag: ``"32-true"``, ``"64-true"``, ``"16-mixed"`` or ``"16-true"``."""
        return self.precision_plugin.precision

    @property
    def scaler(self):
        """The ``GradScaler`` of ``precision="16-mixed"`` (None otherwise), as Lightning's."""
        return self.precision_plugin.scaler

    def init_module(self, empty_init=None):
        """A context for building the module: the default dtype is the precision's (float64 for
        ``"64-true"``, float16 for ``"16-true"``), as Lightning's; otherwise a no-op."""
        return self.precision_plugin.init_context()

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
        skip = self._batches_seen  # > 0 only when resuming mid-epoch
        dl = self.train_dataloader
        self.strategy.on_epoch_start(dl, self.current_epoch)  # DistributedSampler.set_epoch
        self._ckpt.start_epoch(dl, skip)  # the epoch's RNG state (a resumed one's: restored)
        if not skip:
            self._results.reset_stage("train")
        self._results.stage = "train"
        self.lightning_module.train()
        self._call("on_train_epoch_start")
        n = self.num_training_batches
        it, completed = self._ckpt.epoch_iterator(dl, skip, n)  # resumed: past the batches already trained
        stop = False
        if self._redo_after_batch:  # resumed from a checkpoint taken after the step of batch skip - 1
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
            if self._convert_input is not None:
                batch = self._convert_input(batch)
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
            self.strategy.pre_manual_step()  # ddp: each manual_backward averages its gradients
            try:
                out = self._run_step("training_step", batch, batch_idx)
            finally:
                self.strategy.post_manual_step()
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
        if self.world_size > 1:  # a stop requested on one rank runs the stop's validation on every rank
            self.should_stop = self.strategy.agree_to_stop(self.should_stop, False)[0]
        if self._val_due(batch_idx):
            self._ckpt.fix_rng()
            self._run_validation()
        self._step_schedulers("step", plateau=True, batch_idx=batch_idx)
        if not self._accumulating(batch_idx):
            self._batches_that_stepped += 1
        self._ckpt.mark("done")
        self._ckpt.flush()
        self._check_stop_requests(agree=self.world_size > 1)

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
        self._check_stop_requests()
        if not self._fit_done():  # (the last epoch's curves are written at fit end)
            self._write_learning_curves(epoch_end=True)

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
        self._eval_log_steps = {}  # (stage, loader index) -> eval batches logged (Lightning's step)
        self._val_ran = False  # a validation of this fit has run (the monitor misuse check waits for it)
        if self._results is None or fn == "fit":
            self._results = ResultCollection(self)

    def _setup(self, stage):
        m, dm = self.lightning_module, self.datamodule
        self._merge_module_callbacks()
        if dm is not None:
            dm.prepare_data()
        m.prepare_data()
        if dm is not None:
            dm.setup(stage)
        self._build_hook_cache()
        self.strategy.setup(self)  # ddp: rank 0 picks the loggers' version; other ranks' loggers go quiet
        self._call_callbacks("setup", stage)
        m.setup(stage)
        self.precision_plugin.convert_module(m)  # (before a checkpoint's weights are loaded: exact resume)
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

    # ------------------------------------------------------------------------------------------
    # helpers: stopping
    # ------------------------------------------------------------------------------------------
    def _can_stop(self):
        """Lightning's ``_can_stop_early``: min_epochs counts the epochs finished (mid-epoch: not the
        running one, so a request made during the last epoch min_epochs needs still lets it end)."""
        done = self.current_epoch  # epochs finished (between epochs current_epoch has moved on)
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
            if self._can_stop():
                self.state.stop_reason = self.state.stop_reason or "should_stop"
                return True
            # min_epochs/min_steps not met yet: keep going, and stop as soon as they are (Lightning keeps
            # should_stop set: the request is deferred, not dropped)
        return False

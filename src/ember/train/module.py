"""``TrainModule`` (Lightning's ``LightningModule``) and ``DataModule`` (``LightningDataModule``).

A ``TrainModule`` is an :class:`ember.nn.Module` that also says how to train itself::

    class Classifier(TrainModule):
        def __init__(self, lr=1e-3):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Linear(4, 3)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return ember.optim.Adam(self.parameters(), lr=self.hparams.lr)

A LightningModule ports by changing its import and base class.
"""

from __future__ import annotations

import inspect
from typing import Any

from ember.nn import Module

__all__ = ["TrainModule", "DataModule", "AttributeDict"]


class AttributeDict(dict):
    """A dict whose keys are also attributes (``hparams.lr``)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(f"hyperparameter {key!r} was not saved; saved: {sorted(self)}") from e

    def __setattr__(self, key, value):
        self[key] = value

    def __repr__(self):
        return "AttributeDict(" + ", ".join(f"{k}={v!r}" for k, v in self.items()) + ")"


def _init_args_of_caller(frame, owner) -> dict[str, Any]:
    """The arguments of the ``__init__`` calls (subclass chain included) that built ``owner``."""
    # walk up to the outermost __init__ frame of this object (subclass chains call super().__init__)
    found = {}
    f = frame
    while f is not None:
        code = f.f_code
        if code.co_name == "__init__" and f.f_locals.get("self") is owner:
            nargs = code.co_argcount + code.co_kwonlyargcount
            names = list(code.co_varnames[:nargs])
            if code.co_flags & inspect.CO_VARKEYWORDS:
                names.append(code.co_varnames[nargs + bool(code.co_flags & inspect.CO_VARARGS)])
            local = f.f_locals
            args = {}
            for n in names[1:]:
                v = local.get(n)
                if isinstance(v, dict) and code.co_flags & inspect.CO_VARKEYWORDS and n == names[-1]:
                    args.update(v)
                else:
                    args[n] = v
            found.update(args)  # every level of the subclass chain; the outermost wins
        f = f.f_back
    return found


class _HookDefaults:
    """All hooks of a TrainModule, as no-ops (Lightning's ModelHooks / DataHooks)."""

    # setup and teardown
    def prepare_data(self) -> None: ...
    def setup(self, stage: str) -> None: ...
    def teardown(self, stage: str) -> None: ...
    def configure_callbacks(self):
        return []

    # fit / train
    def on_fit_start(self) -> None: ...
    def on_fit_end(self) -> None: ...
    def on_train_start(self) -> None: ...
    def on_train_end(self) -> None: ...
    def on_train_epoch_start(self) -> None: ...
    def on_train_epoch_end(self) -> None: ...
    def on_train_batch_start(self, batch, batch_idx: int):
        """Return -1 to skip the rest of the epoch."""
    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None: ...

    # validation / test / predict
    def on_validation_start(self) -> None: ...
    def on_validation_end(self) -> None: ...
    def on_validation_epoch_start(self) -> None: ...
    def on_validation_epoch_end(self) -> None: ...
    def on_validation_batch_start(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None: ...
    def on_validation_batch_end(self, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None: ...
    def on_validation_model_eval(self) -> None:
        self.eval()
    def on_validation_model_train(self) -> None:
        self.train()
    def on_test_start(self) -> None: ...
    def on_test_end(self) -> None: ...
    def on_test_epoch_start(self) -> None: ...
    def on_test_epoch_end(self) -> None: ...
    def on_test_batch_start(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None: ...
    def on_test_batch_end(self, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None: ...
    def on_test_model_eval(self) -> None:
        self.eval()
    def on_test_model_train(self) -> None:
        self.train()
    def on_predict_start(self) -> None: ...
    def on_predict_end(self) -> None: ...
    def on_predict_epoch_start(self) -> None: ...
    def on_predict_epoch_end(self) -> None: ...
    def on_predict_batch_start(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None: ...
    def on_predict_batch_end(self, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None: ...
    def on_predict_model_eval(self) -> None:
        self.eval()

    # batches (the datamodule's versions win when it overrides them)
    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        return batch

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        """ember arrays live where the model's do; override to move custom batch types."""
        return batch

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """E.g. data augmentation on whole batches; return the batch."""
        return batch

    # optimisation
    def on_before_backward(self, loss) -> None: ...
    def on_after_backward(self) -> None: ...
    def on_before_optimizer_step(self, optimizer) -> None: ...
    def on_before_zero_grad(self, optimizer) -> None: ...

    # checkpoints and errors
    def on_save_checkpoint(self, checkpoint: dict) -> None: ...
    def on_load_checkpoint(self, checkpoint: dict) -> None: ...
    def on_exception(self, exception: BaseException) -> None: ...


class TrainModule(_HookDefaults, Module):
    """An ``nn.Module`` that defines its own training: steps, optimizers and hooks.

    Override ``training_step`` and ``configure_optimizers`` at least; see the module docstring
    of :mod:`ember.train.trainer` for where every hook fires.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "_trainer", None)
        object.__setattr__(self, "_hparams", AttributeDict())
        object.__setattr__(self, "automatic_optimization", True)
        object.__setattr__(self, "_current_fx", None)

    # -- steps (override) ----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined; define forward() "
                                  "or call your layers directly in training_step()")

    def training_step(self, batch, batch_idx):
        raise NotImplementedError(f"{type(self).__name__} must define training_step(self, batch, batch_idx) "
                                  "returning the loss to train with Trainer.fit")

    def validation_step(self, batch, batch_idx):
        """Optional; define it to run validation."""
        raise NotImplementedError

    def test_step(self, batch, batch_idx):
        raise NotImplementedError(f"{type(self).__name__} must define test_step(self, batch, batch_idx) "
                                  "for Trainer.test")

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        """By default calls ``self(batch)`` (or ``self(batch[0])`` for an (x, y) pair)."""
        if isinstance(batch, (tuple, list)) and len(batch) == 2:
            batch = batch[0]
        return self(batch)

    def configure_optimizers(self):
        raise NotImplementedError(f"{type(self).__name__} must define configure_optimizers() returning "
                                  "an optimizer, a list of them, or a dict "
                                  "{'optimizer': opt, 'lr_scheduler': sched}")

    # -- optimisation hooks with default behaviour ---------------------------------------------
    def backward(self, loss, *args, **kwargs) -> None:
        loss.backward(*args, **kwargs)

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer, optimizer_closure=None) -> None:
        optimizer.step(optimizer_closure) if optimizer_closure is not None else optimizer.step()

    def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer) -> None:
        optimizer.zero_grad()

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def clip_gradients(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        if not gradient_clip_val:
            return
        from ember.nn.utils import clip_grad_norm_, clip_grad_value_

        params = [p for g in optimizer.param_groups for p in g["params"]]
        if (gradient_clip_algorithm or "norm") == "norm":
            clip_grad_norm_(params, gradient_clip_val)
        elif gradient_clip_algorithm == "value":
            clip_grad_value_(params, gradient_clip_val)
        else:
            raise ValueError(f"gradient_clip_algorithm must be 'norm' or 'value', got {gradient_clip_algorithm!r}")

    def lr_scheduler_step(self, scheduler, metric=None) -> None:
        scheduler.step() if metric is None else scheduler.step(metric)

    # -- manual optimisation -------------------------------------------------------------------
    def optimizers(self, use_pl_optimizer: bool = True):
        """The optimizer(s) from ``configure_optimizers`` (one, or a list when several).

        In manual optimisation their ``step()`` fires ``on_before_optimizer_step`` and counts
        ``global_step``, as Lightning's wrapped optimizers do.
        """
        t = self._require_trainer("optimizers()")
        opts = t._manual_optimizers if (use_pl_optimizer and t._manual_optimizers) else t.optimizers
        return opts[0] if len(opts) == 1 else list(opts)

    def lr_schedulers(self):
        """The scheduler(s) from ``configure_optimizers``: None, one, or a list."""
        t = self._require_trainer("lr_schedulers()")
        s = [c.scheduler for c in t.lr_scheduler_configs]
        return None if not s else s[0] if len(s) == 1 else s

    def manual_backward(self, loss, *args, **kwargs) -> None:
        """``loss.backward()`` with the ``on_before_backward`` / ``on_after_backward`` hooks; under
        ``strategy="ddp"`` the gradients are averaged over the ranks, as Lightning's DDP does."""
        t = self._require_trainer("manual_backward()")
        if t.precision_plugin.scaler is not None:  # precision="16-mixed": backward of the scaled loss (Lightning)
            loss = t.precision_plugin.scale_loss(loss)
        t._call("on_before_backward", loss)
        t.strategy.pre_backward(loss)  # ddp: this backward's gradients are averaged over the ranks
        self.backward(loss, *args, **kwargs)
        t._call("on_after_backward")

    def toggle_optimizer(self, optimizer) -> None:  # kept for porting; single-process no-op
        pass

    def untoggle_optimizer(self, optimizer) -> None:
        pass

    # -- logging -------------------------------------------------------------------------------
    def log(self, name: str, value, prog_bar: bool = False, logger: bool | None = None,
            on_step: bool | None = None, on_epoch: bool | None = None, reduce_fx="mean",
            enable_graph: bool = False, sync_dist: bool = False, batch_size: int | None = None,
            add_dataloader_idx: bool = True, **_ignored) -> None:
        """Record a scalar metric. Defaults follow Lightning: in ``training_step`` and the train
        batch hooks ``on_step=True, on_epoch=False``; elsewhere ``on_step=False, on_epoch=True``.
        With both, the metric appears as ``name_step`` and ``name_epoch``. Epoch values are the
        batch-size-weighted mean (or ``reduce_fx``: "mean", "sum", "max", "min"). With several
        validation/test loaders the name gets a ``/dataloader_idx_N`` suffix unless
        ``add_dataloader_idx=False``."""
        t = self._trainer
        if t is None or t._results is None:
            return  # Lightning also ignores self.log outside a trainer
        t._results.log(self._current_fx, name, value, prog_bar, True if logger is None else logger,
                       on_step, on_epoch, reduce_fx, batch_size, add_dataloader_idx, sync_dist=sync_dist)

    def log_dict(self, dictionary: dict, prog_bar: bool = False, logger: bool | None = None,
                 on_step: bool | None = None, on_epoch: bool | None = None, reduce_fx="mean",
                 enable_graph: bool = False, sync_dist: bool = False, batch_size: int | None = None,
                 add_dataloader_idx: bool = True, **_ignored) -> None:
        """``self.log`` for every item of ``dictionary``."""
        for k, v in dictionary.items():
            self.log(k, v, prog_bar=prog_bar, logger=logger, on_step=on_step, on_epoch=on_epoch,
                     reduce_fx=reduce_fx, batch_size=batch_size, add_dataloader_idx=add_dataloader_idx,
                     sync_dist=sync_dist)

    # -- hyperparameters -----------------------------------------------------------------------
    def save_hyperparameters(self, *args, ignore=None, frame=None, logger: bool = True) -> None:
        """Store the ``__init__`` arguments (all, or those named) in ``self.hparams`` and in
        every checkpoint; ``load_from_checkpoint`` passes them back to ``__init__``."""
        ignore = [ignore] if isinstance(ignore, str) else list(ignore or [])
        if len(args) == 1 and isinstance(args[0], dict):
            hp = dict(args[0])
        else:
            init_args = _init_args_of_caller(frame or inspect.currentframe().f_back, self)
            if args:
                missing = [a for a in args if a not in init_args]
                if missing:
                    raise ValueError(f"save_hyperparameters: {missing} are not arguments of "
                                     f"{type(self).__name__}.__init__ (which has {sorted(init_args)})")
                hp = {a: init_args[a] for a in args}
            else:
                hp = init_args
        for k in ignore:
            hp.pop(k, None)
        self._hparams.clear()
        self._hparams.update(hp)
        object.__setattr__(self, "_hparams_initial", dict(hp))
        object.__setattr__(self, "_log_hyperparams", logger)

    @property
    def hparams(self) -> AttributeDict:
        return self._hparams

    # -- trainer state -------------------------------------------------------------------------
    @property
    def trainer(self):
        if self._trainer is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a Trainer; call "
                               "Trainer.fit/validate/test/predict with it first")
        return self._trainer

    @trainer.setter
    def trainer(self, t) -> None:
        object.__setattr__(self, "_trainer", t)

    def _require_trainer(self, what):
        if self._trainer is None:
            raise RuntimeError(f"{what} needs a Trainer: call it from inside a step or hook "
                               "during Trainer.fit")
        return self._trainer

    @property
    def current_epoch(self) -> int:
        return self._trainer.current_epoch if self._trainer is not None else 0

    @property
    def global_step(self) -> int:
        return self._trainer.global_step if self._trainer is not None else 0

    @property
    def logger(self):
        return self._trainer.logger if self._trainer is not None else None

    # -- what LightningModule code reads (single process, so ranks are 0) ------------------------
    @property
    def device(self):
        """The device of the parameters (``torch.randn(n, device=self.device)`` ports unchanged)."""
        for p in self.parameters():
            return p.device
        import ember
        return ember.device("cpu")

    @property
    def dtype(self):
        """The dtype of the floating-point parameters (float32 when there are none)."""
        for p in self.parameters():
            if p.dtype.is_floating_point:
                return p.dtype
        import ember
        return ember.float32

    @property
    def global_rank(self) -> int:
        """This process's rank among all (0 without a trainer or with one process)."""
        t = self.__dict__.get("_trainer")
        return t.global_rank if t is not None else 0

    @property
    def local_rank(self) -> int:
        t = self.__dict__.get("_trainer")
        return t.local_rank if t is not None else 0

    on_gpu = False

    @property
    def example_input_array(self):
        """An input for ``ModelSummary``'s shape columns (``None`` unless set)."""
        return self.__dict__.get("_example_input_array")

    @example_input_array.setter
    def example_input_array(self, value) -> None:
        object.__setattr__(self, "_example_input_array", value)

    @property
    def hparams_initial(self) -> AttributeDict:
        """The hyperparameters as ``save_hyperparameters`` saved them (a copy: later edits of
        ``self.hparams`` do not show here)."""
        return AttributeDict(self.__dict__.get("_hparams_initial", {}))

    def print(self, *args, **kwargs) -> None:
        """``print`` on process 0 only (as Lightning)."""
        if self.global_rank == 0:
            print(*args, **kwargs)

    def freeze(self) -> None:
        """No parameter requires grad, and eval mode (for fine-tuning a frozen backbone)."""
        for p in self.parameters():
            p.requires_grad = False
        self.eval()

    def unfreeze(self) -> None:
        """Every parameter requires grad again, and train mode."""
        for p in self.parameters():
            p.requires_grad = True
        self.train()

    def all_gather(self, data, group=None, sync_grads: bool = False):
        """Every process's ``data`` (a tensor, number, or dict/list/tuple of them), stacked along a new
        first dim of size world_size; with one process ``data`` unchanged (as Lightning)."""
        t = self.__dict__.get("_trainer")
        if t is None or t.world_size == 1:
            return data
        return t.strategy.all_gather(data, group, sync_grads)

    @property
    def loggers(self):
        return self._trainer.loggers if self._trainer is not None else []

    # -- checkpoints ---------------------------------------------------------------------------
    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, strict: bool = True, **kwargs):
        """Build the module from the hyperparameters saved in the checkpoint (overridden by
        ``kwargs``) and load its weights."""
        from ember.train._checkpoint import load_checkpoint, restore_model

        ckpt = load_checkpoint(checkpoint_path)
        hp = dict(ckpt.get("hyper_parameters") or {})
        hp.update(kwargs)
        model = cls(**hp)
        model.on_load_checkpoint(ckpt)
        restore_model(model, ckpt, checkpoint_path, strict=strict)
        return model


class DataModule:
    """Data for fit/validate/test/predict in one place (Lightning's ``LightningDataModule``).

    ``prepare_data`` runs once (download), ``setup(stage)`` builds datasets, and the
    ``*_dataloader`` methods return loaders. ``state_dict``/``load_state_dict`` ride in
    checkpoints.
    """

    def __init__(self):
        self.trainer = None
        self.hparams = AttributeDict()

    def prepare_data(self) -> None: ...
    def setup(self, stage: str) -> None: ...
    def teardown(self, stage: str) -> None: ...

    def train_dataloader(self):
        raise NotImplementedError(f"{type(self).__name__} defines no train_dataloader()")

    def val_dataloader(self):
        return None

    def test_dataloader(self):
        raise NotImplementedError(f"{type(self).__name__} defines no test_dataloader()")

    def predict_dataloader(self):
        raise NotImplementedError(f"{type(self).__name__} defines no predict_dataloader()")

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: dict) -> None: ...

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        return batch

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        return batch

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        return batch

    def save_hyperparameters(self, *args, ignore=None) -> None:
        ignore = [ignore] if isinstance(ignore, str) else list(ignore or [])
        if len(args) == 1 and isinstance(args[0], dict):
            hp = dict(args[0])
        else:
            init_args = _init_args_of_caller(inspect.currentframe().f_back, self)
            hp = {a: init_args[a] for a in args} if args else init_args
        for k in ignore:
            hp.pop(k, None)
        self.hparams.update(hp)

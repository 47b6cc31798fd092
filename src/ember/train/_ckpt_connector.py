"""The Trainer's checkpoint connector: what a checkpoint holds, when it is written, how it comes back.

Serves ``Trainer.save_checkpoint``, ``fit(ckpt_path=...)``/``validate(ckpt_path=...)`` and the hooks
``on_save_checkpoint`` / ``on_load_checkpoint`` (callbacks, then the module) and the callbacks'
``state_dict`` / ``load_state_dict``. The file layout is described in :mod:`ember.train._checkpoint`.

**Consistent by design.** A checkpoint must describe a point from which the loop can go on as if it
had never stopped. During ``fit`` the loop calls :meth:`CheckpointConnector.mark` at each such point
and nowhere else:

* ``"done"``    a batch (and the validation, schedulers and saves after it) is finished;
* ``"trained"`` a batch's optimizer step (or backward, when accumulating) is taken, the work after it
  (schedulers, ``on_train_batch_end``, validation) is not: resuming runs that work, not the batch;
* ``"epoch"``   the epoch-end work is finished.

``mark`` records everything but the parameters (they change only at the optimizer step, right before
a ``"trained"`` mark): counters, loader positions, RNG states, buffers, gradients of an unfinished
accumulation window, optimizer/scheduler state, the state of ember's callbacks and metrics. (The
``state_dict()`` of user callbacks and of the datamodule is called when a file is written, as in
Lightning, so their state is the one at that moment.) Every checkpoint written during
``fit`` — periodic, ``last``, on SIGTERM, or from ``on_exception`` half-way through a hook — is that
record plus the parameters, so a fault at any point resumes exactly: the batch that raised is trained
again if its step was not taken, and not again if it was.
"""

from __future__ import annotations

import os
import sys
import warnings

from ember.train._checkpoint import (CheckpointMismatchError, capture_rng, find_last, load_checkpoint,
                                     restore_model, restore_rng, save_file, storable_rng)

__all__ = ["CheckpointConnector", "SigtermStop"]


class SigtermStop(Exception):
    """Internal: the SIGTERM checkpoint is written; leave fit."""


_TRAINING_KEYS = ("lr_schedulers", "callbacks", "rng", "rng_epoch_start", "results",
                  "metrics", "datamodule", "dataloader", "val_dataloaders", "should_stop", "grads",
                  "MixedPrecision")  # (the loss scaler of precision="16-mixed": Lightning's key)


class CheckpointConnector:
    def __init__(self, trainer):
        self.trainer = trainer
        self.pending: dict = {}        # path -> weights_only, written at the next consistent point
        self.defer = False             # during fit, saves wait for the next consistent point
        self.snapshot: dict | None = None
        self.resume: dict | None = None  # the checkpoint being resumed, until the loop has used it
        self.resume_path = None
        self._stateful = False           # this epoch's loader position came from the checkpoint
        self._buffer_slots: list = []    # (state_dict key, owning module, buffer name)
        self._own_key, self._own = None, []

    # -- the loop's consistent points -----------------------------------------------------------
    def mark(self, phase: str) -> None:
        """Record the loop's state at a consistent point (see the module docstring).

        After a ``"trained"`` mark the RNG states are read only when needed: by :meth:`fix_rng`, which
        the loop calls before running code that may draw random numbers (validation, user hooks), or
        by a checkpoint written before that (then nothing has drawn since the mark). Reading them costs
        more than the rest of the record, and most batches run no such code after their step.
        """
        self.snapshot = self._loop_state(trained=phase == "trained", epoch_done=phase == "epoch", marking=True)

    def fix_rng(self) -> None:
        """Code that may draw random numbers is about to run: record the RNG states of the last mark now."""
        if self.snapshot is not None and self.snapshot["rng"] is None:
            self.snapshot["rng"] = capture_rng(raw=True)

    def mark_resumed(self) -> None:
        """Before the first batch: the state just restored (or the fresh start) is the consistent point."""
        m = self.trainer.lightning_module
        keys = set(m.state_dict())
        self._buffer_slots = [(f"{mn}.{bn}" if mn else bn, mod, bn) for mn, mod in m.named_modules()
                              for bn in mod._buffers if (f"{mn}.{bn}" if mn else bn) in keys]
        ck = self.resume
        if ck is None:
            self.mark("done")
            return
        snap = {k: ck[k] for k in ("epoch", "global_step", "loops", *_TRAINING_KEYS) if k in ck}
        snap["buffers"] = self._buffers()
        snap["optimizer_groups"] = self._optimizer_groups()
        self.snapshot = snap

    def start_epoch(self, dl, skip) -> None:
        """Before ``on_train_epoch_start``: the RNG state the epoch starts from. Resuming, the loader's
        own position comes back (a loader with ``load_state_dict``); mid-epoch (``skip`` batches already
        trained) the epoch's starting RNG state is restored so that any other iterable is replayed."""
        t, resume = self.trainer, self.resume
        stateful = resume is not None and resume.get("dataloader") is not None and hasattr(dl, "load_state_dict")
        if stateful:
            dl.load_state_dict(resume["dataloader"])
        self._stateful = stateful
        if resume is not None and skip:
            t._epoch_rng = resume["rng_epoch_start"]
            if not stateful:
                restore_rng(t._epoch_rng)
        else:
            if resume is not None:
                restore_rng(resume["rng"])
            t._epoch_rng = capture_rng(raw=True)

    def epoch_iterator(self, dl, skip, n):
        """After ``on_train_epoch_start``: an iterator over ``dl`` past the ``skip`` batches already
        trained, and whether the epoch is already complete (resumed after its last batch, before its
        end). Resuming mid-epoch, the RNG states of the checkpoint come back; the checkpoint is used up."""
        completed = n is not None and skip >= n
        it = iter(()) if completed else iter(dl)
        for _ in range(0 if self._stateful or completed else skip):
            next(it)
        if self.resume is not None:
            if skip:
                restore_rng(self.resume["rng"])
            self.resume = None
        self._stateful = False
        return it, completed

    def end_fit(self) -> None:
        self.snapshot, self.defer = None, False

    def _buffers(self):
        """Copies of the persistent buffers (a forward pass updates BatchNorm's running statistics)."""
        out = {}
        for key, mod, name in self._buffer_slots:
            b = mod._buffers.get(name)
            if b is not None:
                out[key] = b._data.copy()
        return out

    def _own_callbacks(self):
        """ember's own callbacks among the trainer's (see ``_own``), cached while the same callbacks are there."""
        cbs = self.trainer.callbacks
        key = tuple(map(id, cbs))
        if self._own_key != key:
            self._own_key, self._own = key, [cb for cb in cbs if _own(cb)]
        return self._own

    def _optimizer_groups(self):
        """The optimizers' hyperparameters (schedulers change them after the step; the per-parameter
        state changes only in the step, which is followed by a mark)."""
        return [[{k: (list(v) if type(v) is list else v) for k, v in g.items() if k != "params"}
                 for g in o.param_groups] for o in self.trainer.optimizers]

    def _loop_state(self, trained=False, epoch_done=False, marking=False) -> dict:
        """Everything a checkpoint holds except the parameters, copied where it may change later."""
        t = self.trainer
        m = t.lightning_module
        st = {
            "epoch": int(t.current_epoch),
            "global_step": int(t.global_step),
            "loops": {"batches_seen": int(t._batches_seen), "epoch_done": bool(epoch_done),
                      "batches_that_stepped": int(t._batches_that_stepped),
                      "total_batch_idx": int(t._total_batch_idx),
                      "window_has_grad": bool(getattr(t, "_window_has_grad", False)),
                      "after_batch": bool(trained)},
            "optimizer_groups": self._optimizer_groups(),
            "lr_schedulers": [_copy(c.scheduler.state_dict()) for c in t.lr_scheduler_configs],
            "callbacks": {cb.state_key: _copy(cb.state_dict()) for cb in self._own_callbacks()},
            "rng": None if trained else capture_rng(raw=True),  # None: see fix_rng
            "metrics": {"callback": dict(t.callback_metrics), "logged": dict(t.logged_metrics),
                        "progress_bar": dict(t.progress_bar_metrics)},
            "val_dataloaders": [_loader_state(d, finished=True) if hasattr(d, "state_dict") else None
                                for d in (t.val_dataloaders or [])],
            "should_stop": bool(t.should_stop),
            "buffers": self._buffers() if marking else {},  # (a live dump reads them from the model)
        }
        if t._epoch_rng is not None:
            st["rng_epoch_start"] = t._epoch_rng
        prec = t.precision_plugin.state_dict()  # (changes only at the step, which a mark follows)
        if prec:
            st[type(t.precision_plugin).__qualname__] = prec
        if t._results is not None:
            st["results"] = t._results.storable_state_dict()
        if hasattr(t.train_dataloader, "state_dict"):
            n = t.num_training_batches  # (the epoch's batches may be fewer than the loader's: limit_train_batches)
            st["dataloader"] = _loader_state(t.train_dataloader,
                                             finished=epoch_done or (n is not None and t._batches_seen >= n))
        if t._batches_seen and t._accumulating(t._batches_seen - 1):
            # copies: the next backward accumulates into these arrays in place
            import ember

            st["grads"] = {k: ember.Tensor._wrap(p.grad._data.copy()) for k, p in m.named_parameters()
                           if p.grad is not None}
        return st

    # -- writing ----------------------------------------------------------------------------------
    def dump(self, weights_only=False) -> dict:
        """The checkpoint dict: the last consistent point during fit, the live state otherwise."""
        import ember

        t = self.trainer
        m = t.lightning_module
        st = self.snapshot if self.snapshot is not None else self._loop_state()
        sd = m.state_dict()
        sd.update({k: ember.Tensor._wrap(v) for k, v in st["buffers"].items() if k in sd})
        ck = {"ember_version": str(getattr(ember, "__version__", "0")), "epoch": st["epoch"],
              "global_step": st["global_step"], "loops": dict(st["loops"]), "state_dict": sd,
              "hyper_parameters": _storable(dict(m.hparams))}
        if not weights_only:
            ck["optimizer_states"] = [o.state_dict() for o in t.optimizers]
            for sd_o, groups in zip(ck["optimizer_states"], st["optimizer_groups"]):
                for g_sd, g in zip(sd_o["param_groups"], groups):
                    g_sd.update(_copy(g))
            for k in _TRAINING_KEYS:
                if k in st:
                    ck[k] = st[k]
            # user callbacks and the datamodule: their state now (state_dict() is called only when a
            # file is written, as in Lightning); ember's callbacks: at the consistent point
            ck["callbacks"] = {cb.state_key: (st["callbacks"][cb.state_key] if cb.state_key in st["callbacks"]
                                              else cb.state_dict()) for cb in t.callbacks}
            if t.datamodule is not None:
                ck["datamodule"] = t.datamodule.state_dict()
            ck["rng"] = storable_rng(ck["rng"] if ck["rng"] is not None else capture_rng(raw=True))
            if "rng_epoch_start" in ck:
                ck["rng_epoch_start"] = storable_rng(ck["rng_epoch_start"])
            ck["metrics"] = _storable(ck["metrics"])
            ck = _copy(ck)  # on_save_checkpoint may edit it: the snapshot stays as it was
            for cb in t.callbacks:
                cb.on_save_checkpoint(t, m, ck)
        m.on_save_checkpoint(ck)
        return _plain_floats(ck)

    def save(self, filepath, weights_only=False) -> None:
        """``Trainer.save_checkpoint``: during fit the file is written at the next consistent point."""
        filepath = os.fspath(filepath)
        if self.defer:
            self.pending[filepath] = weights_only or self.pending.get(filepath, False)
            d = os.path.dirname(filepath)
            if d:
                os.makedirs(d, exist_ok=True)
        elif self.trainer.is_global_zero:
            save_file(self.dump(weights_only), filepath)

    def flush(self) -> None:
        """Write the saves requested since the last consistent point (called right after ``mark``)."""
        if not self.pending:
            return
        pending, self.pending = self.pending, {}
        t = self.trainer
        if t.is_global_zero:  # ddp: every rank decided the same saves; rank 0 writes them
            for path, wo in pending.items():  # one dump per file: on_save_checkpoint fires per file (Lightning)
                save_file(self.dump(wo), path)
            t._save_loggers()  # metrics.csv is as complete as the checkpoint
        if t.world_size > 1:
            t.strategy.barrier()  # the files exist for every rank before anyone decides the next name

    def drop_pending(self) -> None:
        """After an exception: saves requested in the unfinished batch are dropped; saves made from
        ``on_exception`` (OnExceptionCheckpoint) are written at once, from the last consistent point."""
        self.pending, self.defer = {}, False

    def save_on_sigterm(self) -> None:
        t = self.trainer
        t.received_sigterm = True
        path = os.path.join(t.log_dir, "checkpoints", "last.ckpt")
        if not t.is_global_zero:  # ddp: rank 0 writes last.ckpt, the others stop with it
            t.strategy.barrier()
            t.state.stop_reason = "sigterm"
            raise SigtermStop
        save_file(self.dump(False), path)
        t._save_loggers()
        t.state.stop_reason = "sigterm"
        print(f"SIGTERM received: saved {path}; resume with trainer.fit(..., ckpt_path='last')",
              file=sys.stderr, flush=True)
        if t.world_size > 1:
            t.strategy.barrier()
        raise SigtermStop

    # -- reading ------------------------------------------------------------------------------------
    def resolve(self, ckpt_path):
        """The file that ``ckpt_path`` names: ``"last"`` (newest ``last`` or any checkpoint under
        ``default_root_dir``), ``"best"`` (the ModelCheckpoint's best) or a path."""
        t = self.trainer
        if ckpt_path == "last":
            path = None
            for cb in t.checkpoint_callbacks:
                p = getattr(cb, "last_model_path", "")
                if p and os.path.exists(p):
                    path = p
            newest = find_last(t.default_root_dir)
            if newest is not None and (path is None or os.stat(newest).st_mtime_ns > os.stat(path).st_mtime_ns):
                path = newest
            if path is None:
                warnings.warn(f"ckpt_path='last': no checkpoint found under {t.default_root_dir!r}; "
                              "starting from scratch", UserWarning, stacklevel=4)
            return path
        if ckpt_path == "best":
            cb = t.checkpoint_callback
            p = getattr(cb, "best_model_path", "") if cb is not None else ""
            if not p:
                raise ValueError("ckpt_path='best' but no best checkpoint is known: it needs a ModelCheckpoint "
                                 "that has saved (pass a path, or 'last')")
            return p
        return os.fspath(ckpt_path)

    def restore(self, ckpt_path, weights_only=False) -> None:
        """Model weights, callback states and the datamodule now; the training state is kept for
        :meth:`restore_training_state` (after ``configure_optimizers``) unless ``weights_only``."""
        t = self.trainer
        self.resume = None
        if ckpt_path is None:
            return
        path = self.resolve(ckpt_path)
        if path is None:
            return
        t.ckpt_path = path
        ck = load_checkpoint(path)
        m = t.lightning_module
        m.on_load_checkpoint(ck)
        cb_states = ck.get("callbacks") or {}
        for cb in t.callbacks:  # also for validate/test/predict (Lightning restores callbacks there too)
            cb.on_load_checkpoint(t, m, ck)
        for cb in t.callbacks:
            st = cb_states.get(cb.state_key)
            if st is not None:
                cb.load_state_dict(st)
        restore_model(m, ck, path)
        if t.datamodule is not None and "datamodule" in ck:
            t.datamodule.load_state_dict(ck["datamodule"])
        if not weights_only:
            self.resume, self.resume_path = ck, path

    def restore_training_state(self) -> None:
        """Optimizers, schedulers, loop counters, metrics and gradients from the checkpoint being resumed."""
        t, ck = self.trainer, self.resume
        if ck is None:
            return
        path = self.resume_path
        if "optimizer_states" not in ck:
            raise CheckpointMismatchError(f"{path!r} was saved with weights_only=True: it has no optimizer "
                                          "state to resume training from; load it with "
                                          "Module.load_from_checkpoint instead")
        opt_states, sched_states = ck["optimizer_states"], ck.get("lr_schedulers", [])
        if len(opt_states) != len(t.optimizers) or len(sched_states) != len(t.lr_scheduler_configs):
            raise CheckpointMismatchError(
                f"{path!r} holds {len(opt_states)} optimizer(s) and {len(sched_states)} scheduler(s), but "
                f"configure_optimizers() returned {len(t.optimizers)} and {len(t.lr_scheduler_configs)}")
        for o, s in zip(t.optimizers, opt_states):
            o.load_state_dict(s)
        for c, s in zip(t.lr_scheduler_configs, sched_states):
            c.scheduler.load_state_dict(s)
        prec_key = type(t.precision_plugin).__qualname__
        if prec_key in ck:  # (a checkpoint of another precision: the scaler starts fresh, as in Lightning)
            t.precision_plugin.load_state_dict(ck[prec_key])
        loops = ck["loops"]
        t.global_step = int(ck["global_step"])
        t._batches_that_stepped = int(loops.get("batches_that_stepped", 0))
        t._total_batch_idx = int(loops.get("total_batch_idx", 0))
        t._window_has_grad = bool(loops.get("window_has_grad", False))
        if loops.get("epoch_done"):
            t.current_epoch, t._batches_seen = int(ck["epoch"]) + 1, 0
        else:
            t.current_epoch, t._batches_seen = int(ck["epoch"]), int(loops["batches_seen"])
        t._redo_after_batch = bool(loops.get("after_batch", False)) and t._batches_seen > 0
        if "results" in ck:
            t._results.load_state_dict(ck["results"])
        met = ck.get("metrics") or {}
        t.callback_metrics, t.logged_metrics, t.progress_bar_metrics = (
            _metric_values(met.get(k, {})) for k in ("callback", "logged", "progress_bar"))
        t.should_stop = bool(ck.get("should_stop", False))
        t._monitors_checked = True
        grads = ck.get("grads") or {}
        if grads:  # mid-accumulation: the gradients gathered so far in this window
            params = dict(t.lightning_module.named_parameters())
            for k, g in grads.items():
                params[k].grad = g
        if t._batches_seen and "rng_epoch_start" not in ck:
            raise CheckpointMismatchError(f"{path!r} was saved mid-epoch without the epoch's RNG state; "
                                          "it cannot be resumed exactly")


def _own(cb) -> bool:
    """One of ember's callbacks, whose state_dict() is cheap and has no side effects: its state is
    recorded at each consistent point."""
    mod = type(cb).__module__
    return mod.startswith("ember.train.callbacks.") and mod != "ember.train.callbacks.callback"


def _copy(obj):
    """A copy of plain nested data (dicts, lists, tuples); other objects (tensors, numbers) shared."""
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_copy(v) for v in obj)
    return obj


def _plain_floats(obj):
    """``obj`` with float subclasses (MetricValue, taken from callback_metrics into a callback's or
    module's checkpoint state) turned into floats, which ember.save stores."""
    if isinstance(obj, dict):
        return {k: _plain_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain_floats(v) for v in obj) if type(obj) in (list, tuple) else obj
    if isinstance(obj, float) and type(obj) is not float:
        return float(obj)
    return obj


def _metric_values(d):
    from ember.train._logging import MetricValue
    return {k: MetricValue(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
            for k, v in d.items()}


def _loader_state(dl, finished):
    st = dict(dl.state_dict())
    if finished and "in_epoch" in st:
        st["in_epoch"] = False  # the next iteration starts a fresh epoch (even after limit_*_batches)
    return st


def _storable(obj):
    """Plain data for a checkpoint: dicts/lists of numbers and strings (others dropped)."""
    if isinstance(obj, dict):
        return {str(k): _storable(v) for k, v in obj.items() if _storable_ok(v)}
    if isinstance(obj, (list, tuple)):
        return [_storable(v) for v in obj if _storable_ok(v)]
    if hasattr(obj, "_data") and getattr(obj._data, "size", 2) == 1:
        return float(obj._data.reshape(()))
    if isinstance(obj, float) and type(obj) is not float:
        return float(obj)  # MetricValue: checkpoints store plain floats
    return obj


def _storable_ok(v):
    if v is None or isinstance(v, (bool, int, float, str, dict, list, tuple)):
        return True
    return hasattr(v, "_data") and getattr(v._data, "size", 2) == 1

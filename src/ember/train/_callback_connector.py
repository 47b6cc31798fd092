"""The Trainer's callback connector: which callbacks a run has, in which order, and what they watch.

Serves ``Trainer(callbacks=...)`` and the module's ``configure_callbacks`` (merged at ``setup``; a
returned callback replaces the user's of the same type), the default callbacks (progress bar, model
summary, ``Timer`` for ``max_time``, a ``ModelCheckpoint``), Lightning's order (``ModelCheckpoint``
last; ``EarlyStopping`` and ``ModelCheckpoint`` run their ``on_train_epoch_end`` after the module's)
and the misuse check that a monitored key is logged (at the end of the sanity check and of the first
training epoch). A mixin of :class:`~ember.train.Trainer`: its methods read and set the trainer's own
attributes.
"""

from __future__ import annotations

from ember.train._data_connector import _as_list
from ember.train.callbacks.callback import Callback

__all__ = ["CallbackConnector"]


class CallbackConnector:
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

    def _connect_callbacks(self, a):
        """The run's callbacks from the checked ``Trainer`` arguments ``a``: the user's, in their order,
        then the default ones the flags ask for; ``ModelCheckpoint`` last."""
        self._user_callbacks = list(a["callbacks"] or [])
        for cb in self._user_callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer(callbacks=...): {cb!r} is not an ember.train.Callback")
        self._enable_checkpointing = a["enable_checkpointing"] is not False and not self.fast_dev_run
        rank0 = self.strategy.is_global_zero  # progress bar and summary print on rank 0 only
        self._enable_progress_bar = a["enable_progress_bar"] is not False and rank0
        self._enable_model_summary = a["enable_model_summary"] is not False and rank0
        self.callbacks = self._default_callbacks(self._user_callbacks)

    def _merge_module_callbacks(self):
        """``configure_callbacks()`` of the module: each replaces the trainer's callback of its type."""
        extra = _as_list(self.lightning_module.configure_callbacks())
        if extra:
            types = {type(c) for c in extra}
            self.callbacks = [c for c in self.callbacks if type(c) not in types] + extra
            self.callbacks = self._order_checkpoints_last(self.callbacks)

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
        from ember.train._logging import _fork

        if not sanity and getattr(self, "_val_on", False) and not getattr(self, "_val_ran", True):
            return  # validation is due in a later epoch (check_val_every_n_epoch): judge after it ran
        keys = set(self.callback_metrics)
        for name in self._results.seen:
            keys.update((name, _fork(name, "step"), _fork(name, "epoch")))
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

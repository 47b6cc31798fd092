"""The Trainer's hook caller: who answers each hook, and calling them in Lightning's order.

Serves every ``on_*`` hook of :class:`~ember.train.Callback` and the module (callbacks first, in list
order, then the module), the step methods (``training_step``, ``validation_step``, ``test_step``,
``predict_step``, each inside the precision's context: autocast for ``"16-mixed"``, the default dtype for
``"64-true"``/``"16-true"``) and the batch-transfer hooks (``on_before_batch_transfer``,
``transfer_batch_to_device``, ``on_after_batch_transfer``: the datamodule's when it overrides one,
else the module's). A hook nobody overrides is skipped at the cost of one dict lookup. A mixin of
:class:`~ember.train.Trainer`: its methods read and set the trainer's own attributes.
"""

from __future__ import annotations

from ember.train.callbacks.callback import Callback

__all__ = ["HookCaller"]

_BATCH_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")


class HookCaller:
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
            if self.precision_plugin.precision == "32-true":
                return getattr(m, name)(batch, batch_idx, *extra)
            with self.precision_plugin.step_context():  # autocast, or the default dtype (see _precision.py)
                return getattr(m, name)(batch, batch_idx, *extra)
        finally:
            d["_current_fx"] = None

    @property
    def _convert_input(self):
        """The precision's conversion of a batch's floating tensors (None: nothing to convert)."""
        p = self.precision_plugin
        return p.convert_input if p.precision in ("64-true", "16-true") else None


def _overridden(m):
    """Names of TrainModule methods that ``type(m)`` overrides (of a few the loop cares about)."""
    from ember.train.module import TrainModule
    return {n for n in ("lr_scheduler_step",) if getattr(type(m), n, None) is not getattr(TrainModule, n, None)}

"""``LambdaCallback``: a callback made of plain functions, one per hook.

::

    cb = LambdaCallback(on_train_epoch_end=lambda trainer, module: print(trainer.current_epoch))
"""

from __future__ import annotations

from typing import Callable

from ember.train.callbacks.callback import Callback

__all__ = ["LambdaCallback"]

_HOOKS = frozenset(
    name for name, v in vars(Callback).items()
    if callable(v) and (name.startswith("on_") or name in ("setup", "teardown"))
)


class LambdaCallback(Callback):
    """Each keyword names a hook (``on_train_start=...``); its value is called with the hook's arguments."""

    def __init__(self, **hooks: Callable | None):
        unknown = sorted(set(hooks) - _HOOKS)
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook name(s) {unknown}; valid hooks are {sorted(_HOOKS)}")
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable, got {type(fn).__name__}")
            setattr(self, name, fn)
        self._hooks = sorted(k for k, v in hooks.items() if v is not None)

    def __repr__(self) -> str:
        return f"LambdaCallback({', '.join(self._hooks)})"

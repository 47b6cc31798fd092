"""ember.train: a Lightning-2.x-compatible trainer (Trainer, TrainModule, callbacks, loggers).

Public names are imported lazily so that ``import ember.train`` stays fast.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Trainer": "ember.train.trainer",
    "TrainModule": "ember.train.module",
    "DataModule": "ember.train.module",
    "Callback": "ember.train.callbacks.callback",
    "callbacks": "ember.train.callbacks",
    "loggers": "ember.train.loggers",
    "CheckpointMismatchError": "ember.train._checkpoint",
    "NonFiniteLossError": "ember.train.trainer",
    "seed_everything": "ember.train._seed",
}

__all__ = ["Trainer", "TrainModule", "DataModule", "Callback", "callbacks", "loggers", "CheckpointMismatchError",
           "NonFiniteLossError", "seed_everything"]


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'ember.train' has no attribute {name!r}")
    m = importlib.import_module(mod)
    value = m if mod.endswith("." + name) else getattr(m, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

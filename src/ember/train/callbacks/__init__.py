"""Trainer callbacks (Lightning 2.x semantics). See :class:`Callback` for the hooks."""

from ember.train.callbacks.callback import Callback

__all__ = ["Callback"]

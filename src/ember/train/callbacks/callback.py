"""The ``Callback`` base class: every hook of the training loop, each a no-op.

Subclass it and override only the hooks you need. Hook names, arguments and the order in which
the :class:`~ember.train.Trainer` calls them are Lightning 2.x's, so a Lightning callback ports by
changing its import. Every hook receives the trainer and the module being trained::

    class PrintLoss(Callback):
        def on_train_epoch_end(self, trainer, module):
            print(trainer.current_epoch, trainer.callback_metrics.get("train_loss"))

A callback's state rides in checkpoints: ``state_dict()`` returns a plain dict (of numbers,
strings, lists, dicts, arrays -- whatever :func:`ember.save` stores) and ``load_state_dict()``
restores it. The checkpoint keys it by :attr:`Callback.state_key`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Callback"]


class Callback:
    """Base class for trainer callbacks. Every hook does nothing unless overridden.

    Hooks that fire during :meth:`Trainer.fit`, in order, are shown in the docstring of
    :mod:`ember.train.trainer`.
    """

    # -- identity and state --------------------------------------------------------------------
    @property
    def state_key(self) -> str:
        """Key of this callback's state in a checkpoint.

        The class name by default. A callback of which several instances may coexist (say two
        ``ModelCheckpoint`` with different monitors) should override it, typically with
        ``self._generate_state_key(monitor=..., mode=...)``.
        """
        return type(self).__qualname__

    def _generate_state_key(self, **kwargs: Any) -> str:
        """A state key made of the class name and the given (identifying) arguments."""
        return f"{type(self).__qualname__}{kwargs!r}"

    def state_dict(self) -> dict[str, Any]:
        """The callback's state to store in a checkpoint (empty by default)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict`."""

    # -- setup / teardown ----------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        """Called when fit, validate, test or predict begins; ``stage`` is one of
        ``"fit" "validate" "test" "predict"``."""

    def teardown(self, trainer, pl_module, stage: str) -> None:
        """Called when fit, validate, test or predict ends."""

    # -- fit -----------------------------------------------------------------------------------
    def on_fit_start(self, trainer, pl_module) -> None:
        """Called when fit begins (after ``setup`` and after a checkpoint was restored)."""

    def on_fit_end(self, trainer, pl_module) -> None:
        """Called when fit ends."""

    def on_sanity_check_start(self, trainer, pl_module) -> None:
        """Called before the sanity-check validation run."""

    def on_sanity_check_end(self, trainer, pl_module) -> None:
        """Called after the sanity-check validation run."""

    # -- train loop ----------------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        """Called when the train loop begins."""

    def on_train_end(self, trainer, pl_module) -> None:
        """Called when the train loop ends."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        """Called when a training epoch begins."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        """Called when a training epoch ends (after the validation run of that epoch, and after
        epoch-level metrics were aggregated, so ``trainer.callback_metrics`` holds them)."""

    def on_train_batch_start(self, trainer, pl_module, batch: Any, batch_idx: int) -> None:
        """Called before ``training_step``."""

    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """Called after ``training_step`` and the optimizer step; ``outputs`` is what
        ``training_step`` returned (a dict with ``"loss"`` when it returned a tensor)."""

    # -- validation loop -----------------------------------------------------------------------
    def on_validation_start(self, trainer, pl_module) -> None:
        """Called when a validation run begins."""

    def on_validation_end(self, trainer, pl_module) -> None:
        """Called when a validation run ends."""

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        """Called when the validation epoch begins."""

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        """Called when the validation epoch ends (epoch metrics are aggregated)."""

    def on_validation_batch_start(self, trainer, pl_module, batch: Any, batch_idx: int,
                                  dataloader_idx: int = 0) -> None:
        """Called before ``validation_step``."""

    def on_validation_batch_end(self, trainer, pl_module, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called after ``validation_step``."""

    # -- test loop -----------------------------------------------------------------------------
    def on_test_start(self, trainer, pl_module) -> None:
        """Called when the test run begins."""

    def on_test_end(self, trainer, pl_module) -> None:
        """Called when the test run ends."""

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        """Called when the test epoch begins."""

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        """Called when the test epoch ends."""

    def on_test_batch_start(self, trainer, pl_module, batch: Any, batch_idx: int,
                            dataloader_idx: int = 0) -> None:
        """Called before ``test_step``."""

    def on_test_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int,
                          dataloader_idx: int = 0) -> None:
        """Called after ``test_step``."""

    # -- predict loop --------------------------------------------------------------------------
    def on_predict_start(self, trainer, pl_module) -> None:
        """Called when the predict run begins."""

    def on_predict_end(self, trainer, pl_module) -> None:
        """Called when the predict run ends."""

    def on_predict_epoch_start(self, trainer, pl_module) -> None:
        """Called when the predict epoch begins."""

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        """Called when the predict epoch ends."""

    def on_predict_batch_start(self, trainer, pl_module, batch: Any, batch_idx: int,
                               dataloader_idx: int = 0) -> None:
        """Called before ``predict_step``."""

    def on_predict_batch_end(self, trainer, pl_module, outputs: Any, batch: Any,
                             batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called after ``predict_step``."""

    # -- optimisation --------------------------------------------------------------------------
    def on_before_backward(self, trainer, pl_module, loss) -> None:
        """Called before ``loss.backward()``."""

    def on_after_backward(self, trainer, pl_module) -> None:
        """Called after ``loss.backward()``, before gradients are clipped and the step taken."""

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        """Called before ``optimizer.step()`` (after gradient accumulation, before clipping)."""

    def on_before_zero_grad(self, trainer, pl_module, optimizer) -> None:
        """Called before ``optimizer.zero_grad()``."""

    # -- checkpoints and errors ----------------------------------------------------------------
    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        """Called when a checkpoint dict was built, before it is written; may add entries."""

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        """Called when a checkpoint is being restored (before ``load_state_dict``)."""

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """Called when fit, validate, test or predict raises (including KeyboardInterrupt)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

"""``GradientAccumulationScheduler``: change ``accumulate_grad_batches`` by epoch (Lightning 2.x).

::

    # accumulate 1 batch until epoch 4, then 4 batches, from epoch 8 on 8 batches
    trainer = Trainer(callbacks=[GradientAccumulationScheduler(scheduling={4: 4, 8: 8})])

The callback sets ``trainer.accumulate_grad_batches`` at each training epoch start.
"""

from __future__ import annotations

from typing import Any

from ember.train.callbacks.callback import Callback

__all__ = ["GradientAccumulationScheduler"]


class GradientAccumulationScheduler(Callback):
    """Accumulate ``scheduling[e]`` batches per optimizer step from epoch ``e`` (0-based) on."""

    def __init__(self, scheduling: dict[int, int]):
        if not isinstance(scheduling, dict) or not scheduling:
            raise TypeError(f"GradientAccumulationScheduler: `scheduling` must be a non-empty dict "
                            f"{{epoch: factor}}, got {scheduling!r}")
        for key, value in scheduling.items():
            if not isinstance(key, int) or isinstance(key, bool) or key < 0:
                raise ValueError(f"GradientAccumulationScheduler: epoch keys must be ints >= 0, got {key!r}")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GradientAccumulationScheduler: accumulation factors must be ints > 0, got "
                                 f"{value!r} for epoch {key}")
        scheduling = dict(scheduling)
        if min(scheduling) != 0:
            scheduling[0] = 1
        self.scheduling = scheduling
        self.epochs = sorted(scheduling)
        self._set_by_us: int | None = None

    def going_to_accumulate_grad_batches(self) -> bool:
        return any(v > 1 for v in self.scheduling.values())

    def get_accumulate_grad_batches(self, epoch: int) -> int:
        for e in reversed(self.epochs):
            if epoch >= e:
                return self.scheduling[e]
        return 1

    def on_train_start(self, trainer, pl_module) -> None:
        if not self.going_to_accumulate_grad_batches():
            return
        if getattr(pl_module, "automatic_optimization", True) is False:
            raise RuntimeError("Automatic gradient accumulation and the `GradientAccumulationScheduler` are not "
                               "supported with manual optimization: remove the callback and accumulate in "
                               "`training_step` yourself.")
        current = getattr(trainer, "accumulate_grad_batches", 1)
        if current != 1 and current != self._set_by_us:
            raise ValueError("You have set `accumulate_grad_batches` and are using the "
                             "`GradientAccumulationScheduler` callback. Either remove `accumulate_grad_batches` "
                             "from the Trainer or remove the callback.")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._set_by_us = self.get_accumulate_grad_batches(trainer.current_epoch)
        trainer.accumulate_grad_batches = self._set_by_us

    def state_dict(self) -> dict[str, Any]:
        return {"scheduling": {str(k): v for k, v in self.scheduling.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "scheduling" in state_dict:
            self.scheduling = {int(k): int(v) for k, v in state_dict["scheduling"].items()}
            self.epochs = sorted(self.scheduling)

    def __repr__(self) -> str:
        return f"GradientAccumulationScheduler(scheduling={self.scheduling})"

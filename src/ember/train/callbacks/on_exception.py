"""``OnExceptionCheckpoint``: save a checkpoint when fit raises (including Ctrl-C) (Lightning 2.x).

::

    trainer = Trainer(callbacks=[OnExceptionCheckpoint(dirpath="ckpts")])
    # after a crash: trainer.fit(model, ckpt_path="ckpts/on_exception.ckpt")
"""

from __future__ import annotations

import os

from ember.train.callbacks.callback import Callback

__all__ = ["OnExceptionCheckpoint"]


class OnExceptionCheckpoint(Callback):
    """Write ``<dirpath>/<filename>.ckpt`` from ``on_exception``; remove it after a run that ends normally."""

    FILE_EXTENSION = ".ckpt"

    def __init__(self, dirpath: str | os.PathLike, filename: str = "on_exception"):
        self.dirpath = os.path.realpath(os.path.expanduser(os.fspath(dirpath)))
        self.filename = filename
        self._saved = False

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.dirpath, self.filename + self.FILE_EXTENSION)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        os.makedirs(self.dirpath, exist_ok=True)
        trainer.save_checkpoint(self.ckpt_path)
        self._saved = True

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._saved = False

    def teardown(self, trainer, pl_module, stage: str) -> None:
        # a stale checkpoint from an earlier crash must not be mistaken for this run's state (but keep
        # the one this run just wrote, should the trainer call teardown after an exception)
        if not self._saved and os.path.lexists(self.ckpt_path):
            os.remove(self.ckpt_path)

    def __repr__(self) -> str:
        return f"OnExceptionCheckpoint(dirpath={self.dirpath!r}, filename={self.filename!r})"

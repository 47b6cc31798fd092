"""The Trainer's data connector: which loaders a run uses, how many batches, and when validation runs.

Serves ``fit``/``validate``/``test``/``predict`` loader wiring (``train_dataloader()``,
``val_dataloader()`` … of the module or datamodule, ``limit_*_batches``, ``overfit_batches``,
``num_sanity_val_steps``, ``val_check_interval``, ``check_val_every_n_epoch``) and the strategy's
loader processing (a ``DistributedSampler`` under ddp). A mixin of :class:`~ember.train.Trainer`:
its methods read and set the trainer's own attributes.
"""

from __future__ import annotations


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _sized(loader):
    try:
        return len(loader)
    except TypeError:
        return None


def _limit(n, limit, what):
    """Number of batches to use given a limit_* flag (int count or float fraction)."""
    if limit is None:
        return n
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0:
        raise ValueError(f"Trainer({what}={limit!r}): expected an int >= 0 (batches) or a float in [0, 1]")
    if isinstance(limit, float):
        if limit > 1.0:
            raise ValueError(f"Trainer({what}={limit}): a float is a fraction of the loader and must be <= 1.0;"
                             " pass an int for a number of batches")
        if n is None:
            if limit == 1.0:
                return None
            raise ValueError(f"Trainer({what}={limit}): a fraction needs a loader with len()")
        k = int(n * limit)
        if k == 0 and limit > 0.0:  # Lightning raises here rather than silently running no batch
            raise ValueError(f"Trainer({what}={limit}): {limit} * {n} < 1 batches of the loader; use at least "
                             f"{what}={1.0 / n:.4g}, an int (a number of batches), or 0 to skip")
        return k
    return limit if n is None else min(n, limit)



class DataConnector:
    def _loader_from_hooks(self, noun):
        for owner in (self.datamodule, self.lightning_module):
            fn = getattr(owner, f"{noun}_dataloader", None) if owner is not None else None
            if fn is not None:
                try:
                    return fn()
                except NotImplementedError:
                    continue
        return None

    def _connect_loaders(self):
        if self.val_dataloaders is None:
            self._connect_val_loaders()
        if self.train_dataloader is None:
            self._connect_train_loaders()
        vci, nt = self.val_check_interval, self.num_training_batches
        if isinstance(vci, float):
            self._val_check_batch = max(1, int(nt * vci)) if nt else None
        else:
            if nt is not None and vci > nt and self.check_val_every_n_epoch is not None:
                raise ValueError(f"Trainer(val_check_interval={vci}) is larger than the {nt} training batches "
                                 "of an epoch; use a smaller value or check_val_every_n_epoch=None")
            self._val_check_batch = vci
        self._val_on = self._val_enabled()
        resume = self._ckpt.resume
        if resume is not None:  # loaders draw their shuffling seed once: give them the saved one
            for d, st in zip(self.val_dataloaders, resume.get("val_dataloaders") or []):
                if st is not None and hasattr(d, "load_state_dict"):
                    d.load_state_dict(st)

    def _connect_train_loaders(self):
        train = self._train_loader_arg if self._train_loader_arg is not None else self._loader_from_hooks("train")
        if train is None:
            raise ValueError("Trainer.fit(): no training data; pass train_dataloaders=..., a datamodule, or "
                             "define train_dataloader() on the module")
        train = self.strategy.process_dataloader(train, shuffle_default=True)  # ddp: DistributedSampler
        n = _sized(train)
        if n == 0:
            raise ValueError("Trainer.fit(): the training dataloader is empty (len 0): check the dataset "
                             "size, batch_size and drop_last")
        self.train_dataloader = train
        self.num_training_batches = _limit(n, self.limit_train_batches, "limit_train_batches")
        if self.num_training_batches == 0 and self.limit_train_batches not in (0, 0.0):
            raise ValueError(f"Trainer.fit(): limit_train_batches={self.limit_train_batches} leaves no "
                             f"training batch out of {n}")

    def _connect_val_loaders(self):
        if self.overfit_batches:
            if self.train_dataloader is None:
                self._connect_train_loaders()
            val = self.train_dataloader
        else:
            val = self._val_loader_arg if self._val_loader_arg is not None else self._loader_from_hooks("val")
            val = [self.strategy.process_dataloader(d, shuffle_default=False) for d in _as_list(val)]
        self.val_dataloaders = _as_list(val)
        for dl in self.val_dataloaders:
            if _sized(dl) == 0:
                raise ValueError("Trainer.fit(): a validation dataloader is empty (len 0): check the dataset "
                                 "size, batch_size and drop_last")
        self.num_val_batches = [self._num_eval_batches("validate", dl) for dl in self.val_dataloaders]

    def _has_validation_step(self):
        from ember.train.module import TrainModule

        m = self.lightning_module
        return getattr(type(m), "validation_step", None) is not TrainModule.validation_step or \
            "validation_step" in vars(m)

    def _sanity_wanted(self):
        return bool(self.num_sanity_val_steps) and self.limit_val_batches not in (0, 0.0) \
            and self._has_validation_step()

    def _num_eval_batches(self, stage, dl):
        lim = {"validate": self.limit_val_batches, "test": self.limit_test_batches,
               "predict": self.limit_predict_batches}[stage]
        return _limit(_sized(dl), lim, {"validate": "limit_val_batches", "test": "limit_test_batches",
                                         "predict": "limit_predict_batches"}[stage])

    def _val_enabled(self):
        return bool(self.val_dataloaders) and self._has_validation_step() \
            and any(n != 0 for n in self.num_val_batches)

    def _val_due(self, batch_idx):
        if not self._val_on:
            return False
        ce = self.check_val_every_n_epoch
        if ce is not None and (self.current_epoch + 1) % ce != 0:
            return False
        if self.should_stop and self._can_stop():
            return True
        vcb = self._val_check_batch
        if vcb is None:
            return self.is_last_batch
        idx = self._total_batch_idx - 1 if ce is None else batch_idx
        if isinstance(self.val_check_interval, float) and self.val_check_interval == 1.0:
            return self.is_last_batch
        return (idx + 1) % vcb == 0


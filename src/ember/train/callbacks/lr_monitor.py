"""``LearningRateMonitor``: log each optimizer's learning rate (and optionally momentum, weight decay).

Keys follow Lightning: ``lr-<OptimizerClass>``; ``lr-Adam/pg1``, ``lr-Adam/pg2`` for several parameter
groups (or ``lr-Adam/<group name>`` when groups have a ``"name"``); ``lr-Adam-1`` for a second Adam;
the scheduler config's ``"name"`` when given; ``-momentum`` / ``-weight_decay`` suffixes.

::

    trainer = Trainer(callbacks=[LearningRateMonitor(logging_interval="step")])
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ember.train.callbacks.callback import Callback

__all__ = ["LearningRateMonitor"]


def _cfg(config: Any, key: str, default: Any = None) -> Any:
    """Read a scheduler-config field whether the config is an object or a dict."""
    if isinstance(config, dict):
        return config.get(key, default)
    return getattr(config, key, default)


class LearningRateMonitor(Callback):
    """Log learning rates to the trainer's loggers.

    Args:
        logging_interval: ``"step"``, ``"epoch"``, or ``None`` to follow each scheduler's interval.
            Optimizers without a scheduler are logged at every logging point.
        log_momentum: also log momentum (``betas[0]`` for Adam-like optimizers).
        log_weight_decay: also log weight decay.

    ``lrs`` maps each key to the list of values logged so far.
    """

    def __init__(self, logging_interval: str | None = None, log_momentum: bool = False,
                 log_weight_decay: bool = False):
        if logging_interval not in (None, "step", "epoch"):
            raise ValueError(f"LearningRateMonitor: logging_interval should be 'step', 'epoch' or None, "
                             f"got {logging_interval!r}")
        self.logging_interval = logging_interval
        self.log_momentum = log_momentum
        self.log_weight_decay = log_weight_decay
        self.lrs: dict[str, list[float]] = {}
        self.last_momentum_values: dict[str, float | None] = {}
        self.last_weight_decay_values: dict[str, float | None] = {}

    # -- hooks ---------------------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        if not getattr(trainer, "loggers", None) and not getattr(trainer, "_fdr_muted_logger", False):
            raise RuntimeError("Cannot use `LearningRateMonitor` callback with a `Trainer` that has no logger "
                               "(pass logger=True or a logger, or remove the callback).")
        optimizers = list(self._optimizers(trainer))
        if self.log_momentum and not all(("betas" in o.defaults or "momentum" in o.defaults) for o in optimizers):
            import warnings

            warnings.warn("You have set log_momentum=True, but some optimizers do not have momentum. "
                          "This will log a value 0 for the momentum.", RuntimeWarning, stacklevel=2)
        sched_names, seen, seen_types = self._find_names_from_schedulers(trainer.lr_scheduler_configs)
        opt_names, _ = self._find_names_from_optimizers(optimizers, seen, seen_types)
        names = [n for group in sched_names + opt_names for n in group]
        self.lrs = {n: [] for n in names}
        self.last_momentum_values = {n + "-momentum": None for n in names}
        self.last_weight_decay_values = {n + "-weight_decay": None for n in names}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self._should_update_logs(trainer):
            return
        if self.logging_interval != "epoch":
            interval = "step" if self.logging_interval is None else "any"
            stats = self._extract_stats(trainer, interval)
            if stats:
                for logger in trainer.loggers:
                    logger.log_metrics(stats, step=trainer.global_step)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self.logging_interval != "step":
            interval = "epoch" if self.logging_interval is None else "any"
            stats = self._extract_stats(trainer, interval)
            if stats:
                for logger in trainer.loggers:
                    logger.log_metrics(stats, step=trainer.global_step)

    @staticmethod
    def _should_update_logs(trainer) -> bool:
        n = getattr(trainer, "log_every_n_steps", 50) or 1
        return (trainer.global_step + 1) % n == 0 or bool(trainer.should_stop)

    @staticmethod
    def _optimizers(trainer):
        for opt in trainer.optimizers:  # unwrap manual-optimization / Lightning-style wrappers
            inner = getattr(opt, "optimizer", None)
            yield inner if inner is not None and hasattr(inner, "param_groups") else opt

    # -- extraction ----------------------------------------------------------------------------
    def _extract_stats(self, trainer, interval: str) -> dict[str, float]:
        stats: dict[str, float] = {}
        configs = list(trainer.lr_scheduler_configs)
        sched_names, seen, seen_types = self._find_names_from_schedulers(configs)
        self._remap_keys(sched_names)
        for names, config in zip(sched_names, configs):
            if interval in (_cfg(config, "interval", "epoch"), "any"):
                stats.update(self._get_optimizer_stats(_cfg(config, "scheduler").optimizer, names))
        opt_names, without_sched = self._find_names_from_optimizers(list(self._optimizers(trainer)), seen, seen_types)
        self._remap_keys(opt_names)
        for opt, names in zip(without_sched, opt_names):
            stats.update(self._get_optimizer_stats(opt, names))
        cm = getattr(trainer, "callback_metrics", None)
        if isinstance(cm, dict):
            cm.update(stats)
        return stats

    def _get_optimizer_stats(self, optimizer, names: list[str]) -> dict[str, float]:
        stats: dict[str, float] = {}
        use_betas = "betas" in getattr(optimizer, "defaults", {})
        for pg, name in zip(optimizer.param_groups, names):
            lr = float(pg["lr"])
            self.lrs.setdefault(name, []).append(lr)
            stats[name] = lr
            if self.log_momentum:
                m = pg["betas"][0] if use_betas else pg.get("momentum", 0)
                self.last_momentum_values[f"{name}-momentum"] = float(m)
                stats[f"{name}-momentum"] = float(m)
            if self.log_weight_decay:
                wd = float(pg.get("weight_decay", 0.0))
                self.last_weight_decay_values[f"{name}-weight_decay"] = wd
                stats[f"{name}-weight_decay"] = wd
        return stats

    def _remap_keys(self, names: list[list[str]], token: str = "/pg1") -> None:
        """A single-group name becomes ``.../pg1`` once a second group appears: carry its history over."""
        for group in names:
            for new in group:
                old = new.replace(token, "")
                if token in new and old in self.lrs:
                    self.lrs[new] = self.lrs.pop(old)
                elif new not in self.lrs:
                    self.lrs[new] = []

    # -- naming --------------------------------------------------------------------------------
    def _find_names_from_schedulers(self, configs) -> tuple[list[list[str]], list, dict]:
        names: list[list[str]] = []
        seen: list = []
        seen_types: dict = defaultdict(int)
        for config in configs:
            sch = _cfg(config, "scheduler")
            cname = _cfg(config, "name")
            name = cname if cname is not None else "lr-" + type(sch.optimizer).__name__
            names.append(self._check_duplicates_and_update_name(sch.optimizer, name, seen, seen_types, config))
        return names, seen, seen_types

    def _find_names_from_optimizers(self, optimizers, seen: list, seen_types: dict) -> tuple[list[list[str]], list]:
        names: list[list[str]] = []
        without: list = []
        for opt in optimizers:
            if any(opt is s for s in seen):
                continue
            name = "lr-" + type(opt).__name__
            names.append(self._check_duplicates_and_update_name(opt, name, seen, seen_types, None))
            without.append(opt)
        return names, without

    def _check_duplicates_and_update_name(self, optimizer, name: str, seen: list, seen_types: dict,
                                          config: Any) -> list[str]:
        seen.append(optimizer)
        cls = type(optimizer)
        if config is None or _cfg(config, "name") is None:
            seen_types[cls] += 1
        groups = optimizer.param_groups
        dups = self._duplicate_param_group_names(groups)
        if dups:
            raise ValueError(f"LearningRateMonitor: a single optimizer cannot have several parameter groups with "
                             f"the same `name`: {name} has duplicated parameter group names {sorted(dups)}")
        if cls in seen_types and seen_types[cls] > 1:
            name = f"{name}-{seen_types[cls] - 1}"
        return [self._add_suffix(name, groups, i) for i in range(len(groups))]

    @staticmethod
    def _add_suffix(name: str, groups: list, i: int) -> str:
        if len(groups) > 1:
            return f"{name}/{groups[i].get('name', f'pg{i + 1}')}"
        pg_name = groups[i].get("name")
        return f"{name}/{pg_name}" if pg_name else name

    @staticmethod
    def _duplicate_param_group_names(groups: list) -> set:
        names = [g.get("name", f"pg{i}") for i, g in enumerate(groups, start=1)]
        return {n for n in names if names.count(n) > 1}

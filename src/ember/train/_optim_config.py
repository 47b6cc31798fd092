"""Turn what ``configure_optimizers`` returned into optimizers and scheduler configs, or say
clearly what shape was wrong. The accepted shapes are Lightning's:

* an optimizer;  a list/tuple of optimizers;  ``([optimizers], [schedulers])``;
* a dict ``{"optimizer": opt, "lr_scheduler": sched_or_config, "monitor": key}``, or a list of them;
* a scheduler config is ``{"scheduler": s, "interval": "epoch"|"step", "frequency": 1,
  "monitor": key, "strict": True, "name": None}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LRSchedulerConfig", "parse_optimizers"]

_SCHED_KEYS = {"scheduler", "interval", "frequency", "monitor", "strict", "name", "reduce_on_plateau",
               "opt_idx"}
_OPT_KEYS = {"optimizer", "lr_scheduler", "monitor"}
_SHAPES = ("an optimizer, a list of optimizers, ([optimizers], [schedulers]), or a dict "
           "{'optimizer': opt, 'lr_scheduler': scheduler or {'scheduler': s, 'interval': 'epoch'|'step', "
           "'frequency': n, 'monitor': key}}")


@dataclass
class LRSchedulerConfig:
    scheduler: Any
    name: str | None = None
    interval: str = "epoch"
    frequency: int = 1
    reduce_on_plateau: bool = False
    monitor: str | None = None
    strict: bool = True


def _is_optimizer(o) -> bool:
    return hasattr(o, "step") and hasattr(o, "param_groups") and hasattr(o, "zero_grad")


def _is_plateau(s) -> bool:
    try:
        from ember.optim.lr_scheduler import ReduceLROnPlateau
    except ImportError:  # pragma: no cover
        return type(s).__name__ == "ReduceLROnPlateau"
    return isinstance(s, ReduceLROnPlateau)


def _bad(what, got):
    return TypeError(f"configure_optimizers() returned {what}: {got!r:.200}. Expected {_SHAPES}.")


def _sched_config(s, monitor=None) -> LRSchedulerConfig:
    if isinstance(s, dict):
        unknown = set(s) - _SCHED_KEYS
        if unknown:
            raise ValueError(f"configure_optimizers(): unknown lr_scheduler key(s) {sorted(unknown)}; "
                             f"allowed: {sorted(_SCHED_KEYS - {'opt_idx', 'reduce_on_plateau'})}")
        if "scheduler" not in s:
            raise ValueError("configure_optimizers(): an lr_scheduler dict needs a 'scheduler' entry, got keys "
                             f"{sorted(s)}")
        sch = s["scheduler"]
        interval = s.get("interval", "epoch")
        if interval not in ("epoch", "step"):
            raise ValueError(f"configure_optimizers(): lr_scheduler 'interval' must be 'epoch' or 'step', "
                             f"got {interval!r}")
        freq = s.get("frequency", 1)
        if not isinstance(freq, int) or freq < 1:
            raise ValueError(f"configure_optimizers(): lr_scheduler 'frequency' must be an int >= 1, got {freq!r}")
        cfg = LRSchedulerConfig(sch, s.get("name"), interval, freq,
                                s.get("reduce_on_plateau", _is_plateau(sch)),
                                s.get("monitor", monitor), bool(s.get("strict", True)))
    else:
        sch = s
        cfg = LRSchedulerConfig(sch, reduce_on_plateau=_is_plateau(sch), monitor=monitor)
    if not hasattr(sch, "step") or not hasattr(sch, "state_dict"):
        raise _bad("an lr_scheduler that is not a scheduler", sch)
    if cfg.reduce_on_plateau and cfg.monitor is None:
        raise ValueError("configure_optimizers(): ReduceLROnPlateau needs the metric it watches: return "
                         "{'optimizer': opt, 'lr_scheduler': {'scheduler': sched, 'monitor': 'val_loss'}}")
    return cfg


def parse_optimizers(out) -> tuple[list, list[LRSchedulerConfig]]:
    """(optimizers, scheduler configs) from ``configure_optimizers()``'s return value."""
    if out is None:
        return [], []
    if _is_optimizer(out):
        return [out], []
    if isinstance(out, dict):
        out = [out]
    if isinstance(out, (list, tuple)):
        if len(out) == 2 and isinstance(out[0], (list, tuple)) and isinstance(out[1], (list, tuple)):
            opts, scheds = list(out[0]), list(out[1])
            for o in opts:
                if not _is_optimizer(o):
                    raise _bad("a first list holding a non-optimizer", o)
            return opts, [_sched_config(s) for s in scheds]
        if out and all(isinstance(o, dict) for o in out):
            opts, cfgs = [], []
            for d in out:
                unknown = set(d) - _OPT_KEYS
                if unknown or "optimizer" not in d:
                    raise ValueError(f"configure_optimizers() returned a dict with keys {sorted(d)}; it needs "
                                     f"'optimizer' and may have 'lr_scheduler' and 'monitor'"
                                     + (f" (unknown: {sorted(unknown)})" if unknown else ""))
                if not _is_optimizer(d["optimizer"]):
                    raise _bad("an 'optimizer' that is not an optimizer", d["optimizer"])
                opts.append(d["optimizer"])
                if d.get("lr_scheduler") is not None:
                    cfgs.append(_sched_config(d["lr_scheduler"], d.get("monitor")))
            return opts, cfgs
        if out and all(_is_optimizer(o) for o in out):
            return list(out), []
        bad = next((o for o in out if not _is_optimizer(o)), out)
        raise _bad(f"a {type(out).__name__} holding {type(bad).__name__}", bad)
    raise _bad(f"a {type(out).__name__}", out)

"""``Trainer(...)`` arguments, checked in one place at construction.

Each bad value raises one error naming the argument, the value and what is allowed (``TypeError``
for a wrong type, ``ValueError`` for a value out of range), instead of failing epochs later. What
Lightning 2.x accepts with a meaning is accepted with the same meaning: ``max_epochs=-1`` (no limit),
``num_sanity_val_steps=-1`` (all batches), ``log_every_n_steps=0`` (no step-level logging),
``val_check_interval=0.0`` (every batch), ``limit_*_batches=2.0`` (2 batches), a single callback.
What it accepts and then fails on, or runs silently wrong (``max_epochs="3"``,
``check_val_every_n_epoch=0``, ``gradient_clip_val=-1.0``), is refused here.
"""

from __future__ import annotations

import os
import warnings

__all__ = ["check_trainer_args", "BAREBONES_OFF"]

# features that Trainer(barebones=True) switches off (as Lightning's barebones mode)
BAREBONES_OFF = ("enable_checkpointing", "logger", "enable_progress_bar", "log_every_n_steps",
                 "enable_model_summary", "num_sanity_val_steps")


def _fail(name, value, allowed, exc=ValueError):
    raise exc(f"Trainer({name}={value!r}): expected {allowed}")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _int(name, value, allowed, low, none_ok=True, integral_float=False):
    """An int >= ``low`` (or None); a float with an integral value is taken as that int if asked."""
    if value is None and none_ok:
        return None
    if integral_float and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not _is_int(value):
        _fail(name, value, allowed, TypeError if not isinstance(value, (int, float)) else ValueError)
    if value < low:
        _fail(name, value, allowed)
    return value


def _limit(name, value):
    """Lightning's rule for limit_*_batches / overfit_batches: an int >= 0, or a float in [0.0, 1.0]
    (a fraction of the loader), or a float > 1 with an integral value (that many batches)."""
    allowed = "an int >= 0 (batches) or a float in [0.0, 1.0] (a fraction of the loader)"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(name, value, allowed, TypeError)
    if value < 0:
        _fail(name, value, allowed)
    if isinstance(value, float) and value > 1.0:
        if not value.is_integer():
            raise ValueError(f"Trainer({name}={value!r}): expected {allowed}; a float above 1.0 must be a whole "
                             "number of batches (pass an int)")
        return int(value)
    return value


def check_trainer_args(a: dict) -> dict:
    """Check and normalise the keyword arguments of ``Trainer.__init__`` (a dict, edited in place)."""
    if a["on_nonfinite_loss"] not in ("raise", "skip", "ignore"):
        raise ValueError(f"Trainer(on_nonfinite_loss={a['on_nonfinite_loss']!r}): use 'raise', 'skip' or 'ignore'")
    if a["gradient_clip_algorithm"] not in (None, "norm", "value"):
        raise ValueError(f"Trainer(gradient_clip_algorithm={a['gradient_clip_algorithm']!r}): use 'norm' or 'value'")

    a["max_epochs"] = _int("max_epochs", a["max_epochs"], "an int >= 0, -1 (no limit) or None", -1,
                           integral_float=True)
    a["min_epochs"] = _int("min_epochs", a["min_epochs"], "an int >= 0 or None", 0, integral_float=True)
    a["max_steps"] = _int("max_steps", a["max_steps"], "an int >= 0, -1 (no limit) or None", -1, integral_float=True)
    a["min_steps"] = _int("min_steps", a["min_steps"], "an int >= 0 or None", 0, integral_float=True)
    a["accumulate_grad_batches"] = _int("accumulate_grad_batches", a["accumulate_grad_batches"], "an int >= 1", 1,
                                        none_ok=False)
    a["check_val_every_n_epoch"] = _int("check_val_every_n_epoch", a["check_val_every_n_epoch"],
                                        "an int >= 1, or None (validate every val_check_interval batches "
                                        "across epochs)", 1)
    a["num_sanity_val_steps"] = _int("num_sanity_val_steps", a["num_sanity_val_steps"],
                                     "an int >= 0 (batches), -1 (the whole validation loader) or None", -1)
    a["log_every_n_steps"] = _int("log_every_n_steps", a["log_every_n_steps"],
                                  "an int >= 1, 0 (no step-level logging) or None", 0)
    a["reload_dataloaders_every_n_epochs"] = _int("reload_dataloaders_every_n_epochs",
                                                  a["reload_dataloaders_every_n_epochs"], "an int >= 0", 0,
                                                  none_ok=False)
    for name in ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
                 "overfit_batches"):
        a[name] = _limit(name, a[name])

    vci = a["val_check_interval"]
    allowed = "an int >= 1 (every that many training batches), a float in [0.0, 1.0] (a fraction of the epoch) or None"
    if vci is not None:
        if isinstance(vci, str) or hasattr(vci, "total_seconds") or isinstance(vci, dict):
            raise ValueError(f"Trainer(val_check_interval={vci!r}): time-based validation intervals are not "
                             f"supported by ember; expected {allowed}")
        if isinstance(vci, bool) or not isinstance(vci, (int, float)):
            _fail("val_check_interval", vci, allowed, TypeError)
        if (_is_int(vci) and vci < 1) or (isinstance(vci, float) and not 0.0 <= vci <= 1.0):
            _fail("val_check_interval", vci, allowed)

    gcv = a["gradient_clip_val"]
    if gcv is not None:
        if isinstance(gcv, bool) or not isinstance(gcv, (int, float)):
            _fail("gradient_clip_val", gcv, "a number >= 0 (0 or None: no clipping)", TypeError)
        if not gcv >= 0:  # (NaN too)
            _fail("gradient_clip_val", gcv, "a number >= 0 (0 or None: no clipping); a negative value would "
                  "flip the gradients' sign")

    fdr = a["fast_dev_run"]
    if not isinstance(fdr, bool) and not (_is_int(fdr) and fdr >= 0):
        _fail("fast_dev_run", fdr, "a bool or an int >= 0 (batches)", TypeError if not isinstance(fdr, int) else ValueError)

    if a["deterministic"] not in (None, True, False, "warn") or _is_int(a["deterministic"]):
        _fail("deterministic", a["deterministic"], "True, False, 'warn' or None")
    for name in ("inference_mode", "use_distributed_sampler", "barebones", "detect_anomaly"):
        if not isinstance(a[name], bool):
            _fail(name, a[name], "True or False", TypeError)
    for name in ("enable_checkpointing", "enable_progress_bar", "enable_model_summary"):
        if a[name] is not None and not isinstance(a[name], bool):
            _fail(name, a[name], "True, False or None", TypeError)
    if a["default_root_dir"] is not None and not isinstance(a["default_root_dir"], (str, os.PathLike)):
        _fail("default_root_dir", a["default_root_dir"], "a path (str or os.PathLike) or None", TypeError)

    cbs = a["callbacks"]
    if cbs is not None and not isinstance(cbs, (list, tuple)):
        from ember.train.callbacks.callback import Callback
        if not isinstance(cbs, Callback):
            _fail("callbacks", cbs, "a Callback or a list of Callbacks", TypeError)
        a["callbacks"] = [cbs]  # one callback, as Lightning accepts

    from ember.train._precision import resolve_precision
    a["precision"] = resolve_precision(a["precision"])  # "32-true", "64-true", "16-mixed" or "16-true"

    if a["barebones"]:
        _barebones(a)
    _resolve_defaults(a)
    return a


def _resolve_defaults(a):
    """What ``fast_dev_run``, ``overfit_batches`` and the ``None`` defaults stand for (Lightning's values)."""
    if a["fast_dev_run"] is True:
        a["fast_dev_run"] = 1
    if a["fast_dev_run"]:
        n = int(a["fast_dev_run"])
        a.update(limit_train_batches=n, limit_val_batches=n, limit_test_batches=n, limit_predict_batches=n,
                 max_epochs=1, max_steps=n, num_sanity_val_steps=0, val_check_interval=1.0, logger=None,
                 enable_checkpointing=False)
    if a["max_epochs"] is None and a["max_steps"] in (None, -1) and a["max_time"] is None:
        a["max_epochs"] = 1000  # Lightning's default when nothing bounds the run
    if a["max_steps"] is None:
        a["max_steps"] = -1
    if a["overfit_batches"]:
        a["limit_train_batches"] = a["limit_val_batches"] = a["overfit_batches"]
    defaults = {"val_check_interval": 1.0, "num_sanity_val_steps": 2, "log_every_n_steps": 50}
    for name, value in defaults.items():
        if a[name] is None:
            a[name] = value


def _barebones(a):
    """Lightning's barebones mode: the features that cost speed are off; asking for one is an error."""
    opt_out = {"enable_checkpointing": lambda v: v, "logger": lambda v: v not in (None, False, True),  # (True: ember's default)
               "enable_progress_bar": lambda v: v, "log_every_n_steps": lambda v: v is not None and v != 0,
               "enable_model_summary": lambda v: v,
               "num_sanity_val_steps": lambda v: v is not None and v != 0,
               "fast_dev_run": lambda v: v is not False and v != 0, "detect_anomaly": lambda v: v,
               "profiler": lambda v: v is not None}
    for name, asked in opt_out.items():
        if asked(a[name]):
            raise ValueError(f"Trainer(barebones=True, {name}={a[name]!r}): barebones mode switches off "
                             f"{name.replace('_', ' ')}; drop one of the two")
    a.update(enable_checkpointing=False, logger=False, enable_progress_bar=False, log_every_n_steps=0,
             enable_model_summary=False, num_sanity_val_steps=0)


def warn_inert(a):
    """Flags ember accepts for porting but cannot act on: say so instead of silently ignoring them."""
    inert = {"benchmark": (None, False), "profiler": (None,),
             "sync_batchnorm": (False,), "plugins": (None,), "strategy": ("auto", "single_device")}
    for name, ok in inert.items():
        if a[name] not in ok:
            warnings.warn(f"Trainer({name}={a[name]!r}) has no effect in ember (single CPU process); the run "
                          "proceeds without it", UserWarning, stacklevel=3)

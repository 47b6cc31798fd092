"""Checkpoint files: what goes in, how it comes back, and which file ``"last"`` / ``"best"`` mean.

A checkpoint is a plain dict written with :func:`ember.save` (ember's secure format: no pickle;
atomic write)::

    ember_version, epoch, global_step,
    loops:            {batches_seen, epoch_done, ...}   # where in the epoch it was taken
    state_dict:       the model's weights and buffers
    optimizer_states: [optimizer.state_dict(), ...]
    lr_schedulers:    [scheduler.state_dict(), ...]
    callbacks:        {callback.state_key: callback.state_dict(), ...}
    rng:              Python `random`, NumPy's global and ember's default generator, now and at
                      the start of the epoch (to replay the epoch's shuffle on mid-epoch resume)
    dataloader:       the train loader's state_dict() when it has one
    hyper_parameters, datamodule, results (epoch aggregates), metrics (callback/logged/prog-bar)
    MixedPrecision:   the GradScaler's state_dict() with precision="16-mixed" (Lightning's key)
"""

from __future__ import annotations

import os
import random

import numpy as np

__all__ = ["save_file", "load_checkpoint", "restore_model", "capture_rng", "storable_rng", "restore_rng",
           "find_last", "CheckpointMismatchError"]


class CheckpointMismatchError(RuntimeError):
    """A readable checkpoint that does not fit the model, optimizer or trainer it is loaded into
    (the message says which keys differ). An unreadable file raises ``ember.CheckpointError``."""


def _ember_version():
    try:
        import ember

        return str(getattr(ember, "__version__", "0"))
    except Exception:  # pragma: no cover
        return "0"


def save_file(obj, path) -> None:
    """Write ``obj`` with ember's secure, atomic ``ember.save``."""
    from ember.serialization import save

    d = os.path.dirname(os.fspath(path))
    if d:
        os.makedirs(d, exist_ok=True)
    save(obj, path)


def load_checkpoint(path) -> dict:
    """Read a trainer checkpoint.

    A corrupt, truncated or foreign file raises ``ember.CheckpointError`` from the secure loader,
    unchanged: it names the file and what is wrong with it. A valid ember file that is not a
    trainer checkpoint raises :class:`CheckpointMismatchError`.
    """
    from ember.serialization import load

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    ckpt = load(path)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointMismatchError(f"{path!r} is not a trainer checkpoint (no 'state_dict' entry; "
                                      "was it written by ember.save(model.state_dict())? then use "
                                      "model.load_state_dict(ember.load(path)))")
    return ckpt


def restore_model(model, ckpt, path="checkpoint", strict=True) -> None:
    """Load the weights, naming keys that are missing, unexpected, or of another shape."""
    sd = ckpt["state_dict"]
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if shapes or (strict and (missing or unexpected)):
        lines = [f"checkpoint {os.fspath(path)!r} does not match {type(model).__name__}:"]
        if missing:
            lines.append(f"  missing from the checkpoint: {missing[:10]}{' ...' if len(missing) > 10 else ''}")
        if unexpected:
            lines.append(f"  not in the model: {unexpected[:10]}{' ...' if len(unexpected) > 10 else ''}")
        if shapes:
            lines.append("  different shapes: " + "; ".join(shapes[:10]))
        lines.append("  (was it saved from another model or another configuration of this one?"
                     + (" pass strict=False to load the keys that match)" if not shapes else ")"))
        raise CheckpointMismatchError("\n".join(lines))
    model.load_state_dict({k: v for k, v in sd.items() if k in own}, strict=False) if not strict \
        else model.load_state_dict(sd)


# -- random number generators ------------------------------------------------------------------
def capture_rng(raw: bool = False):
    """The state of Python's ``random``, NumPy's global and ember's default generator.

    ``raw=True`` returns the states as the libraries give them (cheap: the fit loop takes one per
    batch); :func:`storable_rng` turns either form into the plain data a checkpoint stores.
    """
    import ember

    st = ("raw", random.getstate(), np.random.get_state(), ember.get_rng_state())
    return st if raw else storable_rng(st)


def storable_rng(st):
    """``capture_rng(raw=True)``'s tuple as plain data (a dict passes through unchanged)."""
    if st is None or isinstance(st, dict):
        return st
    _, (version, state, gauss), npst, em = st
    return {
        "python": {"version": int(version), "state": [int(x) for x in state], "gauss": gauss},
        "numpy": {"key": npst[1].tolist(), "pos": int(npst[2]), "has_gauss": int(npst[3]),
                  "gauss": float(npst[4])},
        "ember": em,
    }


def restore_rng(st) -> None:
    import ember

    st = storable_rng(st)
    p = st["python"]
    random.setstate((int(p["version"]), tuple(int(x) for x in p["state"]), p["gauss"]))
    n = st["numpy"]
    np.random.set_state(("MT19937", np.asarray(n["key"], dtype=np.uint32), int(n["pos"]),
                         int(n["has_gauss"]), float(n["gauss"])))
    ember.set_rng_state(st["ember"])


# -- "last" ---------------------------------------------------------------------------------------
def find_last(root) -> str | None:
    """The most recently written ``*.ckpt`` below ``root`` (any version directory)."""
    best, best_t = None, -1
    for d, _dirs, files in os.walk(root):
        for f in files:
            if f.endswith(".ckpt"):
                p = os.path.join(d, f)
                try:
                    t = os.stat(p).st_mtime_ns
                except OSError:
                    continue
                # equal times: prefer last.ckpt-like names
                if t > best_t or (t == best_t and "last" in f):
                    best, best_t = p, t
    return best

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

    st = ("raw", _python_random_state(), _numpy_global_state(), ember.get_rng_state())
    return st if raw else storable_rng(st)


# Python's ``random``, likewise: ``random.getstate()`` costs ~9 us (a tuple of 625 ints). The generator's
# C object holds ``int index; uint32 state[624]`` right after the object header; those 2500 bytes are
# compared with the last call's, and ``gauss_next`` (the cached value of ``random.gauss``, a plain
# attribute) too. The layout is checked once against ``getstate()``; where it differs (another Python
# build), every call uses ``getstate()``.
_PY_LAST: list = [None, None, None, None]  # generator, raw state, gauss_next, getstate() taken with them
_PY_FAST: list = [None]


def _python_random_state():
    inst = getattr(random, "_inst", None)
    if _PY_FAST[0] is False or type(inst) is not random.Random:
        return random.getstate()
    import ctypes

    raw = ctypes.string_at(id(inst) + object.__basicsize__, 4 + 624 * 4)
    gauss = inst.gauss_next
    last = _PY_LAST
    if last[0] is inst and last[1] == raw and last[2] == gauss:
        return last[3]
    st = inst.getstate()
    if _PY_FAST[0] is None:
        words = np.frombuffer(raw[4:], np.uint32).tolist()
        _PY_FAST[0] = tuple(words) + (int.from_bytes(raw[:4], "little", signed=True),) == st[1]
    last[:] = [inst, raw, gauss, st]
    return st


# NumPy's global state, read cheaply when it has not changed. ``np.random.get_state()`` costs ~30 us (it
# copies the 624-word MT19937 key element by element) and the fit loop takes the states once per batch, so
# the bit generator's raw state (2.5 KB through its ctypes interface, ~0.5 us) is compared with the one
# read at the last call: if equal, nothing drew from the generator since then, and the state is the last
# one. One exception: the legacy normal draws cache a second value (``has_gauss``) outside the bit
# generator, and using it changes no bit, so a state whose cache was full is always read again.
_NP_LAST: list = [None, None, None]  # bit generator, its raw state, get_state() taken with it
_NP_FAST: list = [None]  # None: not checked yet; True/False: the raw layout matched get_state()'s (once)


def _numpy_global_state():
    rs = np.random.mtrand._rand
    bg = getattr(rs, "_bit_generator", None)
    if _NP_FAST[0] is False or type(bg) is not np.random.MT19937:
        return np.random.get_state()
    import ctypes

    raw = ctypes.string_at(bg.ctypes.state_address, 624 * 4 + 4)  # struct {uint32 key[624]; int pos;}
    last = _NP_LAST
    if last[0] is bg and last[1] == raw and last[2][3] == 0:
        return last[2]
    st = np.random.get_state()
    if _NP_FAST[0] is None:  # check the layout once against NumPy's own reading
        _NP_FAST[0] = bool(np.array_equal(np.frombuffer(raw[:2496], np.uint32), st[1])
                           and int.from_bytes(raw[2496:], "little", signed=True) == st[2])
    last[:] = [bg, raw, st]
    return st


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

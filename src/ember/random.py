"""``ember.random``: torch.random's module of the default generator's controls.

``manual_seed``, ``seed``, ``initial_seed``, ``get_rng_state``, ``set_rng_state`` act on
``ember.default_generator`` (the same functions as ``ember.manual_seed`` & co.); ``fork_rng`` restores
the CPU stream (and, with CuPy and a GPU, the CUDA streams) when its block ends.
"""
from __future__ import annotations

import contextlib

from ._random import Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state

__all__ = ["Generator", "default_generator", "fork_rng", "get_rng_state", "initial_seed", "manual_seed", "seed",
           "set_rng_state"]


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices", device_type=None):
    """Run a block and restore the random state afterwards, as ``torch.random.fork_rng``.

    The CPU stream (``ember.default_generator``) is always forked. ``devices`` (CUDA device indices) and
    ``device_type`` are accepted for torch's signature; without a GPU there are no device streams to fork.
    ``enabled=False`` runs the block without forking.

    >>> with ember.random.fork_rng():
    ...     a = ember.rand(2)
    """
    if device_type == "meta" or not enabled:
        yield
        return
    if device_type not in (None, "cuda", "cpu"):
        raise RuntimeError(f"fork_rng: ember has no device module for device_type={device_type!r}; "
                           "use None, 'cpu' or 'cuda'")
    if devices is not None:
        devices = list(devices)  # a generator would be exhausted by a second pass
    dev_states = []
    if device_type != "cpu":
        from . import cuda as _cuda

        if devices is None:
            devices = list(range(_cuda.device_count()))
        if devices and not _cuda.is_available():
            raise RuntimeError(f"{_caller}: {_devices_kw}={devices} names CUDA devices, but CUDA is not available "
                               "(ember.cuda.is_available() is False); pass devices=[] to fork only the CPU stream")
        dev_states = [(d, _cuda.get_rng_state(d)) for d in devices] if hasattr(_cuda, "get_rng_state") else []
    cpu_state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(cpu_state)
        if dev_states:
            from . import cuda as _cuda

            for d, st in dev_states:
                _cuda.set_rng_state(st, d)

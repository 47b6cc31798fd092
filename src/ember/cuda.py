"""ember.cuda: GPU availability through CuPy (optional extra ``ember[gpu]``)."""
from __future__ import annotations


def is_available() -> bool:
    """True if CuPy is installed and sees at least one NVIDIA GPU."""
    try:
        import cupy
    except ImportError:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver / no device
        return False


def device_count() -> int:
    if not is_available():
        return 0
    import cupy

    return int(cupy.cuda.runtime.getDeviceCount())


def manual_seed(seed: int) -> None:
    """Seeds ember's generator (GPU arrays are created from the same stream)."""
    from ._random import manual_seed as _ms

    _ms(seed)


manual_seed_all = manual_seed


def synchronize() -> None:
    if is_available():
        import cupy

        cupy.cuda.runtime.deviceSynchronize()

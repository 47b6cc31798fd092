"""Global switches: deterministic algorithms, float32 matmul precision, warn-always, anomaly mode, build flags."""
from __future__ import annotations

from ._helpers import _public


class _Flags:
    deterministic = False
    warn_only = False
    matmul_precision = "highest"
    warn_always = False


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Recorded for ``are_deterministic_algorithms_enabled``; ember's CPU ops are deterministic anyway."""
    _Flags.deterministic, _Flags.warn_only = bool(mode), bool(warn_only)


def are_deterministic_algorithms_enabled():
    return _Flags.deterministic


def is_deterministic_algorithms_warn_only_enabled():
    return _Flags.warn_only


def set_deterministic_debug_mode(debug_mode):
    modes = {"default": 0, "warn": 1, "error": 2}
    mode = modes.get(debug_mode, debug_mode)
    if mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected one of 'default', 'warn', 'error', 0, 1, 2 but "
                           f"got {debug_mode!r}")
    use_deterministic_algorithms(mode > 0, warn_only=mode == 1)


def get_deterministic_debug_mode():
    return 0 if not _Flags.deterministic else (1 if _Flags.warn_only else 2)


def set_float32_matmul_precision(precision):
    """Recorded only: ember's float32 matmul is always full precision ('highest')."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid precision {precision!r}: expected 'highest', 'high' or 'medium'")
    _Flags.matmul_precision = precision


def get_float32_matmul_precision():
    return _Flags.matmul_precision


def set_warn_always(b):
    _Flags.warn_always = bool(b)


def is_warn_always_enabled():
    return _Flags.warn_always


def is_anomaly_enabled():
    from ..autograd import is_anomaly_enabled as f

    return f()


def set_anomaly_enabled(enabled, check_nan=True):
    from ..autograd import set_detect_anomaly

    set_detect_anomaly(enabled, check_nan)


def is_anomaly_check_nan_enabled():
    from ..autograd.anomaly import ANOMALY

    return bool(ANOMALY.enabled)  # ember's anomaly mode always checks for nan


has_lapack = True  # NumPy's LAPACK


has_mkl = False


has_openmp = False


has_spectral = True  # ember.fft has torch's complex FFTs


__all__ = _public(globals()) + ["has_lapack", "has_mkl", "has_openmp", "has_spectral"]

"""Anomaly detection: remember where each op was created and stop at the first NaN in backward."""
from __future__ import annotations

import functools
import threading
import traceback


class _Anomaly(threading.local):
    enabled = False  # thread-local, like grad mode


ANOMALY = _Anomaly()
# EVER[0]: anomaly mode was turned on in some thread at some point. The per-op record paths test this
# module-level flag first and read the thread-local only when it is set (a thread-local read costs as much
# as a few attribute reads, on every recorded op).
EVER = [False]


class detect_anomaly:
    """Context manager / decorator: while active, every recorded op keeps the stack that created it,
    and a backward that produces a NaN gradient raises ``RuntimeError`` naming that op and its stack.

    >>> with ember.autograd.detect_anomaly():
    ...     loss.backward()
    """

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = ANOMALY.enabled
        if self.check_nan:
            EVER[0] = True
        ANOMALY.enabled = self.check_nan
        return self

    def __exit__(self, *exc):
        ANOMALY.enabled = self._prev
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*a, **k):
            with detect_anomaly(self.check_nan):
                return func(*a, **k)

        return wrapper


class set_detect_anomaly(detect_anomaly):
    """Turn anomaly detection on or off (immediately, and as a context manager)."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self.check_nan = bool(mode) and check_nan
        self._prev = ANOMALY.enabled
        if self.check_nan:
            EVER[0] = True
        ANOMALY.enabled = self.check_nan

    def __enter__(self):
        return self


def is_anomaly_enabled() -> bool:
    return ANOMALY.enabled


def creation_stack() -> str:
    frames = traceback.extract_stack()[:-3]
    keep = [f for f in frames if "/ember/" not in f.filename.replace("\\", "/") or "/tests/" in f.filename]
    return "".join(traceback.format_list(keep[-6:] or frames[-6:]))

"""SIGTERM during ``fit``: note it, let the current step finish, then checkpoint and stop."""

from __future__ import annotations

import signal
import threading

__all__ = ["SigtermGuard"]


class SigtermGuard:
    """Context manager that turns SIGTERM into a flag (main thread only; elsewhere a no-op)."""

    def __init__(self):
        self.received = False
        self._prev = None
        self._installed = False

    def _handler(self, signum, frame):
        self.received = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
            try:
                self._prev = signal.signal(signal.SIGTERM, self._handler)
                self._installed = True
            except (ValueError, OSError):  # pragma: no cover - e.g. embedded interpreters
                self._installed = False
        return self

    def __exit__(self, *exc):
        if self._installed:
            signal.signal(signal.SIGTERM, self._prev if self._prev is not None else signal.SIG_DFL)
            self._installed = False
        return False

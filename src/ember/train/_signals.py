"""SIGTERM and exceptions during a run: note a SIGTERM, let the current step finish, then checkpoint and
stop; on an exception, call ``on_exception``.

Serves ``on_exception`` (callbacks, then the module, for any exception or ``KeyboardInterrupt`` out of
``fit``/``validate``/``test``/``predict``; then the loggers are finalized with ``"failed"``) and the stop
points after each training batch (after ``on_train_batch_end``, validation and the checkpoints) and
after each epoch end: under ddp a stop (``should_stop``, SIGTERM) on one rank becomes a stop on all;
a SIGTERM writes ``<log_dir>/checkpoints/last.ckpt`` and leaves with exit status 143. The
:class:`SignalConnector` is a mixin of :class:`~ember.train.Trainer`: its methods read and set the
trainer's own attributes.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["SigtermGuard", "SignalConnector", "SIGTERM_EXIT_CODE"]

SIGTERM_EXIT_CODE = 143  # 128 + SIGTERM: "stopped by a signal" to shells and job schedulers


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


class SignalConnector:
    def _run_guarded(self, body, *args):
        """Run ``body`` (fit/validate/test/predict): SIGTERM leaves with status 143 after its checkpoint;
        any other exception calls ``on_exception`` and propagates."""
        from ember.autograd import detect_anomaly
        from ember.train._ckpt_connector import SigtermStop

        try:
            if self.detect_anomaly:  # Trainer(detect_anomaly=True): NaN in backward names the forward op
                with detect_anomaly():
                    return body(*args)
            return body(*args)
        except SigtermStop:
            self.state.status = "interrupted"
            self.interrupted = True
            self._finalize_loggers("interrupted")
            self._teardown(self.state.fn)
            raise SystemExit(SIGTERM_EXIT_CODE) from None
        except BaseException as e:
            self.state.status = "interrupted"
            self.interrupted = True
            # saves requested in a batch that did not finish would hold a half-done step: dropped;
            # saves made in on_exception (OnExceptionCheckpoint) are written at once
            self._ckpt.drop_pending()
            self._call_callbacks("on_exception", e)
            self._call_module("on_exception", e)
            self._finalize_loggers("failed")
            raise

    def _check_stop_requests(self, agree=False):
        """A stop point of the fit loop. ``agree`` (ddp, after a batch): a stop (EarlyStopping, SIGTERM)
        on one rank is a stop on all, at this step. A SIGTERM received: write the checkpoint and leave
        (``SigtermStop``, handled in :meth:`_run_guarded`)."""
        sigterm = self._sigterm
        if agree:
            sig = sigterm is not None and sigterm.received
            self.should_stop, sig = self.strategy.agree_to_stop(self.should_stop, sig)
            if sig and sigterm is not None:
                sigterm.received = True
        if sigterm is not None and sigterm.received:
            self._ckpt.save_on_sigterm()

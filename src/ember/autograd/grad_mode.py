"""Gradient-recording modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

Grad mode is thread-local, like torch's: every thread starts with recording on, and ``no_grad`` in one
thread (or a ``backward()`` running there) never changes what another thread records.
"""
from __future__ import annotations

import functools
import inspect
import threading


class _State(threading.local):
    enabled = True  # the class default is what each new thread sees
    inference = False  # inside inference_mode(True)
    inf_grad = False  # grad mode as set inside inference_mode (enable_grad there records nothing, as torch)


STATE = _State()


def is_grad_enabled() -> bool:
    """Whether grad mode is on (inside ``inference_mode`` an inner ``enable_grad`` turns it on, but nothing is
    recorded there, as torch)."""
    return STATE.inf_grad if STATE.inference else STATE.enabled


def _set_mode(value):
    if STATE.inference:
        STATE.inf_grad = value
    else:
        STATE.enabled = value


def is_inference_mode_enabled() -> bool:
    """Whether the calling thread is inside ``inference_mode()`` (and not inside an inner
    ``inference_mode(False)``), as ``torch.is_inference_mode_enabled``."""
    return STATE.inference


def _wrap(func, make):
    """``func`` run inside the context ``make()`` (a new one per call); generator functions keep the mode around
    each step of the generator, not just its creation (torch's ``_DecoratorContextManager``)."""
    if inspect.isgeneratorfunction(func):
        @functools.wraps(func)
        def gen_wrapper(*args, **kwargs):
            gen = func(*args, **kwargs)
            try:
                with make():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with make():
                            gen.close()
                        raise
                    except BaseException as e:
                        with make():
                            response = gen.throw(e)
                    else:
                        with make():
                            response = gen.send(request)
            except StopIteration as e:
                return e.value

        return gen_wrapper

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with make():
            return func(*args, **kwargs)

    return wrapper


class _Mode:
    _value = True

    def __new__(cls, *args, **kwargs):
        # ``@ember.no_grad`` without parentheses decorates the function directly (torch's)
        if cls in (no_grad, enable_grad) and len(args) == 1 and not kwargs and callable(args[0]) \
                and not isinstance(args[0], bool):
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self):
        self._prev = STATE.enabled
        self._prev_ig = STATE.inf_grad
        _set_mode(self._value)
        return self

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        STATE.inf_grad = self._prev_ig
        return False

    def __call__(self, func):
        return _wrap(func, self.__class__)


class no_grad(_Mode):
    """Context manager / decorator that stops recording operations.

    >>> with ember.no_grad():
    ...     y = x * 2        # y.requires_grad is False
    """

    _value = False


class enable_grad(_Mode):
    """Context manager / decorator that turns recording back on inside ``no_grad``."""

    _value = True


class inference_mode(_Mode):
    """Like ``no_grad`` (ember has no separate inference tensors); ``is_inference_mode_enabled()`` is True
    inside. ``inference_mode(False)`` records again (as ``enable_grad``), also inside an outer one."""

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):  # ``@ember.inference_mode`` without parentheses
            return cls()(mode)
        return object.__new__(cls)

    def __init__(self, mode=True):
        self._value = not mode if mode else STATE.enabled
        self._mode = mode

    def __enter__(self):
        self._prev = STATE.enabled
        self._prev_inf = STATE.inference
        self._prev_ig = STATE.inf_grad
        STATE.inf_grad = False
        STATE.inference = bool(self._mode)
        STATE.enabled = not self._mode  # inference_mode(False) turns recording on, as torch's does
        return self

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        STATE.inference = self._prev_inf
        STATE.inf_grad = self._prev_ig
        return False

    def __call__(self, func):
        mode = self._mode
        return _wrap(func, lambda: inference_mode(mode))


class set_grad_enabled(_Mode):
    """Set recording on or off: as a function call, a context manager, or a decorator."""

    def __init__(self, mode: bool):
        self._value = bool(mode)
        self._prev = STATE.enabled
        self._prev_ig = STATE.inf_grad
        _set_mode(self._value)  # takes effect immediately, like torch

    def __enter__(self):
        return self

    def __call__(self, func):
        STATE.enabled = self._prev  # used as a decorator: undo the immediate effect
        STATE.inf_grad = self._prev_ig
        value = self._value
        return _wrap(func, lambda: set_grad_enabled(value))

"""Grad modes: whether ops record the tape. Thread-local, like PyTorch."""
from __future__ import annotations

import functools
import inspect
import threading


class _State(threading.local):
    def __init__(self):
        self.enabled = True
        self.inference = False
        self.anomaly = False
        self.anomaly_check_nan = True
        # diagnostics watching every op (anomaly mode, profiler...): see observe.py
        self.observers = ()


state = _State()


def is_grad_enabled() -> bool:
    return state.enabled


def is_inference_mode_enabled() -> bool:
    return state.inference


class _DecoratorContextManager:
    """Context manager that also works as a decorator (on functions and generators)."""

    def __call__(self, func):
        if inspect.isclass(func):
            raise TypeError(f"{type(self).__name__} cannot decorate a class")
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def gen_wrapper(*args, **kwargs):
                gen = func(*args, **kwargs)
                response = None
                while True:
                    with self.clone():
                        try:
                            response = gen.send(response)
                        except StopIteration as e:
                            return e.value
                    response = yield response
            return gen_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.clone():
                return func(*args, **kwargs)
        return wrapper

    def clone(self):
        return type(self)()


class _NoParamDecoratorContextManager(_DecoratorContextManager):
    """Also usable as a bare decorator: ``@no_grad`` as well as ``@no_grad()``."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamDecoratorContextManager):
    """Disable recording: ops inside create no graph nodes.

    >>> x = tapegrad.ones(2, requires_grad=True)
    >>> with tapegrad.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = False

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False


class enable_grad(_NoParamDecoratorContextManager):
    """Re-enable recording inside a ``no_grad`` block."""

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = True

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False


class set_grad_enabled(_DecoratorContextManager):
    """Set grad mode on or off; takes effect at once and also works as a context manager."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._prev = state.enabled
        state.enabled = self.mode

    def __call__(self, func):
        # used as a decorator: undo the mode change made by __init__ (as PyTorch does)
        state.enabled = self._prev
        return super().__call__(func)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def clone(self):
        return type(self)(self.mode)


class inference_mode(_DecoratorContextManager):
    """Like ``no_grad``; tapegrad has no separate inference tensors, so this is ``no_grad``
    plus ``is_inference_mode_enabled()`` reporting True."""

    def __new__(cls, mode_or_orig_func=True):
        if mode_or_orig_func is None or isinstance(mode_or_orig_func, bool):
            return super().__new__(cls)
        return cls()(mode_or_orig_func)

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = (state.enabled, state.inference)
        if self.mode:
            state.enabled = False
            state.inference = True

    def __exit__(self, *exc):
        state.enabled, state.inference = self._prev
        return False

    def clone(self):
        return type(self)(self.mode)

"""Grad modes: whether ops record the tape. Thread-local, like PyTorch.

Every mode here is a small object that, on entry, overwrites a few fields of the
thread's ``state`` and, on exit, puts the old values back. The same object works as
a decorator: ``_decorate`` wraps plain functions, generator functions (each resumption
of the generator runs under the mode, nothing in between) and, as PyTorch still allows
with a ``FutureWarning``, classes (their construction runs under the mode).
"""
from __future__ import annotations

import functools
import inspect
import threading
import warnings


class _State(threading.local):
    """Per-thread switches read by the engine, the ops and the diagnostics."""

    def __init__(self):
        self.enabled = True           # grad mode: ops record graph nodes
        self.inference = False        # inside inference_mode(True)
        self.anomaly = False          # detect_anomaly / set_detect_anomaly
        self.anomaly_check_nan = True
        # the thread's transform stack (vmap levels, dual levels, observers), outermost
        # first, and the part of it that watches every recorded op: see observe.py
        self.transforms = ()
        self.observers = ()


state = _State()


def is_grad_enabled() -> bool:
    """True when operations are being recorded for autograd."""
    return state.enabled


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()`` (with its default ``mode=True``)."""
    return state.inference


_CLASS_DECORATION_WARNING = (
    "Decorating classes is deprecated and will be disabled in future versions. You should only "
    "decorate functions or methods. To preserve the current behavior of class decoration, you "
    "can directly decorate the `__init__` method and nothing else.")


def _run_generator_under(fresh_mode, gen):
    """Drive ``gen`` so that its code only ever runs inside ``fresh_mode()``.

    The caller's ``send``/``throw``/``close`` are relayed to ``gen`` one step at a time;
    between two steps (while the caller holds the yielded value) the caller's own mode
    is in force.
    """
    resume, payload = gen.send, None
    while True:
        with fresh_mode():
            try:
                produced = resume(payload)
            except StopIteration as finished:
                return finished.value
        try:
            payload = yield produced
        except GeneratorExit:
            with fresh_mode():
                gen.close()
            raise
        except BaseException as thrown:  # noqa: BLE001 - relayed into the generator
            resume, payload = gen.throw, thrown
        else:
            resume = gen.send


def _wrap_function(fresh_mode, func):
    @functools.wraps(func)
    def under_mode(*args, **kwargs):
        with fresh_mode():
            return func(*args, **kwargs)
    return under_mode


def _wrap_generator_function(fresh_mode, func):
    @functools.wraps(func)
    def under_mode(*args, **kwargs):
        return (yield from _run_generator_under(fresh_mode, func(*args, **kwargs)))
    return under_mode


def _wrap_class(fresh_mode, cls):
    # still allowed by PyTorch, with a warning: construction runs under the mode
    warnings.warn(_CLASS_DECORATION_WARNING, FutureWarning, stacklevel=4)

    def construct(*args, **kwargs):
        with fresh_mode():
            return cls(*args, **kwargs)
    return construct


# first matching kind wins; anything else is wrapped as a plain callable
_WRAPPERS = ((inspect.isclass, _wrap_class),
             (inspect.isgeneratorfunction, _wrap_generator_function))


def _decorate(fresh_mode, target):
    """``target`` wrapped so that its body runs under a new mode made by ``fresh_mode()``."""
    wrap = next((w for applies, w in _WRAPPERS if applies(target)), _wrap_function)
    return wrap(fresh_mode, target)


class _DecoratorContextManager:
    """Base of every mode: a context manager that is also a decorator.

    Subclasses define ``__enter__``/``__exit__``; ``clone()`` must return an equivalent,
    not yet entered, object (a decorated function enters a new one on every call, so
    that recursion and threads do not share saved state).
    """

    def __call__(self, func):
        return _decorate(self.clone, func)

    def clone(self):
        return type(self)()


class _SwitchMode(_DecoratorContextManager):
    """Sets the ``state`` fields named in ``self._settings()`` on entry, restores them on exit.

    A mode whose ``_decorates_directly(first_argument)`` is true was applied bare
    (``@no_grad`` rather than ``@no_grad()``): constructing it returns the decorated
    function instead.
    """

    _saved = {}  # nothing to restore before the first switch

    @staticmethod
    def _decorates_directly(first_argument):
        return False

    def __new__(cls, *args, **kwargs):
        if args and cls._decorates_directly(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def _settings(self):
        raise NotImplementedError

    def _switch(self):
        settings = self._settings()
        self._saved = {name: getattr(state, name) for name in settings}
        for name, value in settings.items():
            setattr(state, name, value)

    def _restore(self):
        for name, value in self._saved.items():
            setattr(state, name, value)

    def __enter__(self):
        self._switch()

    def __exit__(self, exc_type, exc_value, traceback):
        self._restore()
        return False


class _ForcedGradMode(_SwitchMode):
    """``no_grad``/``enable_grad``: grad mode forced to ``_grad`` inside; usable bare."""

    _grad = None

    def __init__(self, orig_func=None):
        pass

    @staticmethod
    def _decorates_directly(first_argument):
        return first_argument is not None

    def _settings(self):
        return {"enabled": self._grad}


class no_grad(_ForcedGradMode):
    """Disable recording: ops inside create no graph nodes.

    >>> x = tapegrad.ones(2, requires_grad=True)
    >>> with tapegrad.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    _grad = False


class enable_grad(_ForcedGradMode):
    """Re-enable recording inside a ``no_grad`` block.

    >>> with tapegrad.no_grad():
    ...     with tapegrad.enable_grad():
    ...         y = x * 2          # recorded
    """

    _grad = True


class set_grad_enabled(_SwitchMode):
    """Set grad mode on or off.

    The switch happens when the object is created, so the plain call
    ``set_grad_enabled(False)`` works as a function; used in a ``with`` statement the old
    mode comes back at the end of the block. Used as a decorator the creation-time switch
    is undone at once and each call of the function runs under ``mode``.
    """

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._switch()

    def _settings(self):
        return {"enabled": self.mode}

    def __call__(self, func):
        self._restore()
        return super().__call__(func)

    def __enter__(self):
        pass  # already switched by __init__

    def clone(self):
        return type(self)(self.mode)


class inference_mode(_SwitchMode):
    """``inference_mode(True)``: no recording, and ``is_inference_mode_enabled()`` is True;
    ``inference_mode(False)`` turns both back (grad mode on) inside an inference block.

    tapegrad has no separate inference tensors, so apart from the flag this is ``no_grad``.
    Usable bare (``@inference_mode``), called, or as a context manager.
    """

    def __init__(self, mode_or_orig_func=True):
        self.mode = mode_or_orig_func

    @staticmethod
    def _decorates_directly(first_argument):
        return not isinstance(first_argument, bool)

    def _settings(self):
        return {"enabled": not self.mode, "inference": self.mode}

    def clone(self):
        return type(self)(self.mode)

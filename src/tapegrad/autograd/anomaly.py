"""Anomaly mode: find the op that first produced NaN/Inf, forward or backward.

``detect_anomaly()`` / ``set_detect_anomaly(True)`` install an observer (see
``observe.py``); while it is off nothing is installed and nothing is paid.
While it is on:

* every forward op's outputs are checked: the first that holds NaN or inf raises
  at once, naming the op (PyTorch's name: ``Log`` for ``LogBackward0``), the
  statistics of each input and the user's source line;
* every node remembers the stack of the forward call that created it (frames as
  ``(code, line)`` pairs: formatted only when an error needs them);
* every backward node's gradients are checked for NaN (PyTorch checks NaN only):
  the error is PyTorch's ``Function 'LogBackward0' returned nan values in its 0th
  output.`` followed by the traceback of the forward call that created the node.
  An infinite gradient passes, as in PyTorch, unless ``check_inf=True`` (a tapegrad
  extension) is given: then ``... returned inf values ...`` stops it too.
"""
from __future__ import annotations

import linecache
import math
import os
import sys
import warnings

from .. import backend as B
from ..tensor import Tensor
from . import grad_mode
from .grad_mode import _DecoratorContextManager

_state = grad_mode.state
_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../tapegrad
_ndarray = B.ndarray
_xp = B.xp
_getframe = sys._getframe
_isfinite = math.isfinite
_isfin = _xp.isfinite
_isnan = _xp.isnan
_vdot = _xp.vdot

#: frames kept per node (innermost first); deeper callers are summarised as "..."
TRACE_DEPTH = 16

_ENABLED_WARNING = ("Anomaly Detection has been enabled. This mode will increase the runtime and "
                    "should only be enabled for debugging.")


def is_anomaly_enabled() -> bool:
    return _state.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    return _state.anomaly_check_nan


# --------------------------------------------------------------------------- the observer
class _AnomalyObserver:
    """Checks every op's outputs (forward) and every node's gradients (backward).

    NOTE: runs for every op while anomaly mode is on; kept inline (no helper calls on
    the common path) so the mode stays within 2x of the plain run on tiny ops.
    """

    def __init__(self, check_inf=False):
        #: also stop at infinite gradients in the backward (tapegrad's extension)
        self.check_inf = check_inf

    def on_forward(self, cls, args, outputs, seconds, options=None):
        # the stack from Node.apply outwards (frames 0/1: this method, observed_apply)
        f = _getframe(2)
        stack = []
        n = TRACE_DEPTH
        while f is not None:
            if not n:
                stack.append(None)
                break
            stack.append((f.f_code, f.f_lineno))
            f = f.f_back
            n -= 1
        check = _state.anomaly_check_nan
        for r in outputs:
            fn = r._grad_fn
            if fn is not None:
                fn._trace = stack
            if check:
                d = r._data
                k = d.dtype.kind
                # np.vdot (a sum of squares; unlike dot it never warns on overflow) is finite
                # unless an element is not, or it overflowed: then the exact check decides
                if (k == "f" and not _isfinite(_vdot(d, d)) and not _isfin(d).all()) or \
                        (k == "c" and not _isfin(d).all()):
                    _raise_forward(cls, args, outputs, outputs.index(r), stack)

    def on_backward(self, node, grads, seconds):
        if _state.anomaly_check_nan:
            for g in grads:
                if g is None:
                    continue
                d = g if type(g) is _ndarray else getattr(g, "_data", None)
                if type(d) is _ndarray:
                    k = d.dtype.kind
                    if k not in "fc" or (k == "f" and _isfinite(_vdot(d, d))):
                        continue
                    if _isnan(d).any() or (self.check_inf and not _isfin(d).all()):
                        check_backward(node, grads, self.check_inf)


def _set_anomaly(enabled, check_nan, check_inf=False):
    from . import observe
    was = _state.anomaly
    _state.anomaly, _state.anomaly_check_nan = bool(enabled), bool(check_nan)
    if enabled and not was:
        _state._anomaly_observer = observe.add(_AnomalyObserver(bool(check_inf)))
    elif was and not enabled:
        observe.remove(getattr(_state, "_anomaly_observer", None))
        _state._anomaly_observer = None
    elif enabled:
        _state._anomaly_observer.check_inf = bool(check_inf)


def _current():
    """(enabled, check_nan, check_inf) now: what a context manager restores on exit."""
    obs = getattr(_state, "_anomaly_observer", None)
    return _state.anomaly, _state.anomaly_check_nan, bool(obs is not None and obs.check_inf)


class detect_anomaly(_DecoratorContextManager):
    """Inside, forward outputs are checked for NaN and inf, backward gradients for NaN
    (as PyTorch does: an infinite gradient passes), and every node remembers the forward
    call that created it.

    ``check_inf=True`` (a tapegrad extension, keyword only) also stops the backward at
    the first node that returns an infinite gradient (``sqrt`` at 0, ``log`` at 0...).
    Warns, as PyTorch does, that the mode slows the program down (when constructed).
    """

    def __init__(self, check_nan=True, *, check_inf=False, _warn=True):
        self.check_nan = check_nan
        self.check_inf = check_inf
        if _warn:
            warnings.warn(_ENABLED_WARNING, UserWarning, stacklevel=2)

    def __enter__(self):
        self._prev = _current()
        _set_anomaly(True, self.check_nan, self.check_inf)

    def __exit__(self, *exc):
        _set_anomaly(*self._prev)
        return False

    def clone(self):
        return type(self)(self.check_nan, check_inf=self.check_inf, _warn=False)


class set_detect_anomaly(_DecoratorContextManager):
    """Anomaly mode on or off: takes effect at once; as a context manager, restores on exit."""

    def __init__(self, mode, check_nan=True, *, check_inf=False):
        self._prev = _current()
        _set_anomaly(bool(mode), check_nan, check_inf)
        self.mode, self.check_nan, self.check_inf = mode, check_nan, check_inf

    def __call__(self, func):
        _set_anomaly(*self._prev)  # used as a decorator: only while the function runs
        return super().__call__(func)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _set_anomaly(*self._prev)
        return False

    def clone(self):
        return type(self)(self.mode, self.check_nan, check_inf=self.check_inf)


# --------------------------------------------------------------------------- stacks
def _capture_stack(skip):
    """The caller's stack as ``[(code, line), ...]``, innermost first, at most TRACE_DEPTH
    frames (a trailing None marks a cut). Cheap: no source is read until it is formatted."""
    f = sys._getframe(skip + 1)
    out = []
    n = TRACE_DEPTH
    while f is not None:
        if not n:
            out.append(None)
            break
        out.append((f.f_code, f.f_lineno))
        f = f.f_back
        n -= 1
    return out


def record_trace(node):
    """Remember where ``node`` was created (what anomaly mode does for every node)."""
    node._trace = _capture_stack(1)


def format_trace(stack, skip_package=True) -> str:
    """A recorded stack as Python prints a traceback (most recent call last)."""
    if not stack:
        return ""
    lines = []
    cut = stack[-1] is None
    frames = [s for s in stack if s is not None]
    if skip_package:
        user = [s for s in frames if not s[0].co_filename.startswith(_PKG_DIR + os.sep)]
        frames = user or frames
    if cut:
        lines.append("  ...\n")
    for code, line in reversed(frames):
        lines.append(f'  File "{code.co_filename}", line {line}, in {code.co_name}\n')
        src = linecache.getline(code.co_filename, line).strip()
        if src:
            lines.append(f"    {src}\n")
    return "".join(lines)


def _site(stack):
    """``file:line in func`` of the innermost frame outside tapegrad in a recorded stack."""
    for s in stack or ():
        if s is not None and not s[0].co_filename.startswith(_PKG_DIR + os.sep):
            return f"{s[0].co_filename}:{s[1]} in {s[0].co_name}"
    return None


# --------------------------------------------------------------------------- checks
def _bad(a):
    """True when a floating (or complex) array holds NaN or inf."""
    if type(a) is not _ndarray or a.dtype.kind not in "fc":
        return False
    if a.dtype.kind == "f" and _isfinite(_vdot(a, a)):
        return False
    return not _isfin(a).all()


def _has_nan(a):
    if type(a) is not _ndarray or a.dtype.kind not in "fc":
        return False
    if a.dtype.kind == "f" and _isfinite(_vdot(a, a)):
        return False
    return bool(_isnan(a).any())


def _fwd_name(cls):
    name = cls._bw_name or cls.__name__
    return name[:-len("Backward0")] if name.endswith("Backward0") else name


def _describe(i, a):
    if isinstance(a, Tensor):
        d = a._data
        head = f"  input {i}: shape {list(d.shape)}, {d.dtype}"
        if d.dtype.kind in "fc" and d.size:
            nan = int(_xp.isnan(d).sum())
            inf = int(_xp.isinf(d).sum())
            fin = d[_xp.isfinite(d)]
            if fin.size:
                rng = f"min {fin.min():.6g}, max {fin.max():.6g}, mean {fin.mean():.6g}"
            else:
                rng = "no finite values"
            extra = " (over finite values)" if nan or inf else ""
            return f"{head}: {rng}{extra}, nan {nan}, inf {inf}"
        if d.size and d.dtype.kind in "iub":
            return f"{head}: min {d.min()}, max {d.max()}"
        return head
    if B.is_array(a):
        return f"  input {i}: array of shape {list(a.shape)}, {a.dtype}"
    return f"  input {i}: {a!r} ({type(a).__name__})"


def _what(arr, check_inf=True):
    nan = int(_xp.isnan(arr).sum())
    inf = int(_xp.isinf(arr).sum()) if check_inf else 0
    kind = "nan" if nan and not inf else "inf" if inf and not nan else "nan and inf"
    return kind, f"{nan} nan, {inf} inf of {arr.size} elements"


def _raise_forward(cls, args, outputs, i, stack):
    arr = outputs[i]._data
    kind, counts = _what(arr)
    site = _site(stack)
    msg = [f"Function '{_fwd_name(cls)}' returned {kind} values in its {i}th output "
           f"(forward of {cls._bw_name}; {counts})."]
    if site:
        msg.append(f"  at {site}")
    msg.append("Inputs:")
    msg.extend(_describe(j, a) for j, a in enumerate(args))
    msg.append("Traceback of forward call that caused the error:")
    msg.append(format_trace(stack).rstrip("\n"))
    raise RuntimeError("\n".join(msg))


def check_forward(cls, args, results):
    """Raise if an output of the op ``cls`` holds NaN/inf (anomaly mode's forward check)."""
    if not _state.anomaly_check_nan:
        return
    for i, r in enumerate(results):
        if _bad(r._data):
            _raise_forward(cls, args, results, i, _capture_stack(1))


def check_backward(node, grads, check_inf=False):
    """Raise PyTorch's error if ``node``'s backward returned NaN (or, with ``check_inf``,
    inf) in any gradient."""
    for i, g in enumerate(grads):
        arr = g._data if isinstance(g, Tensor) else g
        kind = "nan" if _has_nan(arr) else "inf" if check_inf and _bad(arr) else None
        if kind:
            msg = f"Function '{node.name()}' returned {kind} values in its {i}th output."
            stack = node.__dict__.get("_trace")
            if stack:
                msg += "\nTraceback of forward call that caused the error:\n" + \
                    format_trace(stack).rstrip("\n")
            else:
                msg += ("\n(No forward traceback: the node was created outside anomaly mode; run "
                        "the forward pass inside detect_anomaly() too.)")
            raise RuntimeError(msg)

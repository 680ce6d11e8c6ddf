"""Anomaly mode: find the op that first produced NaN/Inf, forward or backward."""
from __future__ import annotations

import traceback

from .. import backend as B
from ..tensor import Tensor
from . import grad_mode
from .grad_mode import _DecoratorContextManager

_state = grad_mode.state


def is_anomaly_enabled() -> bool:
    return _state.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    return _state.anomaly_check_nan


class _AnomalyObserver:
    """Checks every op's outputs (forward) and every node's gradients (backward)."""

    def on_forward(self, cls, args, outputs, seconds):
        for r in outputs:
            if isinstance(r, Tensor) and r.grad_fn is not None:
                record_trace(r.grad_fn)
        check_forward(cls, args, outputs)

    def on_backward(self, node, grads, seconds):
        check_backward(node, grads)


def _set_anomaly(enabled, check_nan):
    from . import observe
    was = _state.anomaly
    _state.anomaly, _state.anomaly_check_nan = enabled, check_nan
    if enabled and not was:
        _state._anomaly_observer = observe.add(_AnomalyObserver())
    elif was and not enabled:
        observe.remove(getattr(_state, "_anomaly_observer", None))


class detect_anomaly(_DecoratorContextManager):
    """Inside, every op checks its output for NaN/Inf and nodes remember where they were made."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = (_state.anomaly, _state.anomaly_check_nan)
        _set_anomaly(True, self.check_nan)

    def __exit__(self, *exc):
        _set_anomaly(*self._prev)
        return False

    def clone(self):
        return type(self)(self.check_nan)


class set_detect_anomaly(_DecoratorContextManager):
    def __init__(self, mode, check_nan=True):
        self._prev = (_state.anomaly, _state.anomaly_check_nan)
        _set_anomaly(bool(mode), check_nan)
        self.mode, self.check_nan = mode, check_nan

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _set_anomaly(*self._prev)
        return False

    def clone(self):
        return type(self)(self.mode, self.check_nan)


def record_trace(node):
    node._trace = "".join(traceback.format_stack()[:-3])


def _bad(a):
    return a is not None and B.is_array(a) and a.dtype.kind == "f" and not B.xp.isfinite(a).all()


def check_forward(cls, args, results):
    if not _state.anomaly_check_nan:
        return
    for r in results:
        if _bad(r._data):
            from ..tensor import Tensor
            stats = []
            for i, a in enumerate(args):
                if isinstance(a, Tensor) and a._data.dtype.kind == "f" and a._data.size:
                    d = a._data
                    stats.append(f"input {i}: shape {list(d.shape)}, min {d.min():.4g}, max {d.max():.4g}, "
                                 f"nan {int(B.xp.isnan(d).sum())}, inf {int(B.xp.isinf(d).sum())}")
            from .graph import user_frame_summary
            raise RuntimeError(
                f"Function '{cls._bw_name[:-len('Backward0')] if cls._bw_name.endswith('Backward0') else cls.__name__}' "
                f"returned nan/inf values in its output at {user_frame_summary()}.\n" + "\n".join(stats))


def check_backward(node, grads):
    if not _state.anomaly_check_nan:
        return
    from ..tensor import Tensor
    for i, g in enumerate(grads):
        arr = g._data if isinstance(g, Tensor) else g
        if _bad(arr):
            trace = node.__dict__.get("_trace", "")
            raise RuntimeError(
                f"Function '{node.name()}' returned nan values in its {i}th output."
                + (f"\nThe forward call that created it:\n{trace}" if trace else ""))

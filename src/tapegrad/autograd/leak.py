"""Opt-in check for graphs that survive across training steps.

``with detect_graph_leaks():`` (or ``set_graph_leak_check(True)``) installs an observer.
A *step* ends at a backward pass: the first forward op after backward nodes ran starts
the next one. Every node made in the mode carries its step and its source line. Two
patterns warn (``GraphLeakWarning``, once per source line):

1. an op links a graph from an earlier step, made by the same line, into this step:
   ``total = total + loss`` (or ``h = cell(x, h)`` without ``h.detach()``). Every step's
   graph then stays alive through the accumulated tensor;
2. the number of live nodes from steps before the previous one grows at every step
   boundary (three in a row): something keeps each step's graph (``losses.append(loss)``).

Off by default; while it is off nothing is installed.
"""
from __future__ import annotations

import collections
import sys
import warnings
import weakref

from ..tensor import Tensor
from . import grad_mode
from ._version import user_frame_summary
from .grad_mode import _DecoratorContextManager

_state = grad_mode.state
_PKG = __name__.rsplit(".", 2)[0]


class GraphLeakWarning(UserWarning):
    """A graph from an earlier training step is kept alive (memory grows every step)."""


_ADVICE = ("If you accumulate a value for logging, accumulate a number: `total += loss.item()` "
           "(or a tensor outside the graph: `loss.detach()`).")


def _stacklevel():
    """warnings.warn stacklevel that points at the innermost frame outside tapegrad."""
    f = sys._getframe(2)
    level = 2
    while f is not None:
        mod = f.f_globals.get("__name__", "")
        if not (mod == _PKG or mod.startswith(_PKG + ".")):
            return level
        f = f.f_back
        level += 1
    return 2


class _LeakObserver:
    GROWTH_STEPS = 3

    def __init__(self):
        self.step = 0
        self.in_backward = False
        self.warned = set()
        self.by_step = {}           # step -> [weakref(node)]
        self.old_alive = []         # live nodes from steps before the previous, per boundary
        self.growth_warned = False
        self.prune_at = 4096

    def on_forward(self, cls, args, outputs, seconds, options=None):
        if self.in_backward:
            self.in_backward = False
            self.step += 1
            self._check_growth()
        step = self.step
        site = None
        for r in outputs:
            fn = r._grad_fn
            if fn is None or "_leak_step" in fn.__dict__:
                continue
            if site is None:
                site = user_frame_summary()
            fn._leak_step = step
            fn._leak_site = site
            refs = self.by_step.setdefault(step, [])
            refs.append(weakref.ref(fn))
            if len(refs) >= self.prune_at:  # a long step without backward: drop dead refs
                refs[:] = [r for r in refs if r() is not None]
                self.prune_at = max(4096, 2 * len(refs))
        if site is None:
            return
        for a in args:
            if isinstance(a, Tensor):
                g = a._grad_fn
                if g is None:
                    continue
                d = g.__dict__
                s = d.get("_leak_step")
                if s is not None and s < step and d.get("_leak_site") == site and \
                        site not in self.warned:
                    self.warned.add(site)
                    warnings.warn(
                        f"{site}: this op extends a graph that the same line built in an earlier "
                        f"training step (before the last backward()), so the graphs of all steps "
                        f"stay alive and memory grows every step (the `total = total + loss` "
                        f"pattern). {_ADVICE} If you carry a state across steps on purpose "
                        f"(an RNN's hidden state), cut it with `.detach()` at each step.",
                        GraphLeakWarning, stacklevel=_stacklevel())

    def on_backward(self, node, grads, seconds):
        self.in_backward = True

    def _check_growth(self):
        k = self.step
        old = 0
        alive_old = []
        for s in list(self.by_step):
            refs = [r for r in self.by_step[s] if r() is not None]
            if not refs:
                del self.by_step[s]
                continue
            self.by_step[s] = refs
            if s <= k - 2:   # older than the previous step (whose loss may still be referenced)
                old += len(refs)
                alive_old.extend(refs)
        hist = self.old_alive
        hist.append(old)
        n = self.GROWTH_STEPS
        if self.growth_warned or len(hist) <= n:
            return
        recent = hist[-n - 1:]
        if all(b > a for a, b in zip(recent, recent[1:], strict=False)):
            self.growth_warned = True
            nodes = [r() for r in alive_old]
            nodes = [x for x in nodes if x is not None]
            ids = {id(x) for x in nodes}
            used = set()
            for x in nodes:
                for e in getattr(x, "_next", ()) or ():
                    if e is not None and id(e[0]) in ids:
                        used.add(id(e[0]))
            heads = collections.Counter(x._leak_site for x in nodes if id(x) not in used)
            sites = "; ".join(f"{s} ({c} graph(s))" for s, c in heads.most_common(3))
            warnings.warn(
                f"the graphs of earlier training steps stay alive and their number grows at every "
                f"step ({old} nodes from {len({x._leak_step for x in nodes})} earlier steps): "
                f"something keeps a reference to each step's graph, e.g. a list of losses "
                f"(`losses.append(loss)`). The kept graphs end in tensors computed at: {sites}. "
                f"{_ADVICE}", GraphLeakWarning, stacklevel=_stacklevel())


def _set(enabled):
    from . import observe
    obs = getattr(_state, "_leak_observer", None)
    if enabled and obs is None:
        _state._leak_observer = observe.add(_LeakObserver())
    elif not enabled and obs is not None:
        observe.remove(obs)
        _state._leak_observer = None


def is_graph_leak_check_enabled() -> bool:
    return getattr(_state, "_leak_observer", None) is not None


class detect_graph_leaks(_DecoratorContextManager):
    """Inside, warn (``GraphLeakWarning``) when graphs survive across training steps."""

    def __enter__(self):
        self._prev = is_graph_leak_check_enabled()
        _set(True)
        return self

    def __exit__(self, *exc):
        if not self._prev:
            _set(False)
        return False


class set_graph_leak_check(_DecoratorContextManager):
    """Turn the graph-leak check on or off: at once; as a context manager, restored on exit."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self._prev = is_graph_leak_check_enabled()
        _set(self.mode)

    def __call__(self, func):
        _set(self._prev)
        return super().__call__(func)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def clone(self):
        return type(self)(self.mode)

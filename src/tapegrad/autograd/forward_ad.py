"""Forward-mode AD, like ``torch.autograd.forward_ad``: dual tensors and JVPs.

    >>> import tapegrad as torch
    >>> import tapegrad.autograd.forward_ad as fwAD
    >>> x, v = torch.randn(3), torch.ones(3)
    >>> with fwAD.dual_level():
    ...     y = fwAD.make_dual(x, v).exp()
    ...     primal, jvp = fwAD.unpack_dual(y)      # jvp == exp(x) * v

How it works. A dual tensor is an ordinary tensor whose tangent sits in the
current level's side table (keyed by ``id``, dropped by a weakref callback
when the tensor dies, cleared when the level exits). A level is an entry of
its thread's transform stack (``autograd/observe.py``), so levels in
different threads are independent (each thread numbers its own from 0). While
it is active the level sees every op run on tensors (``on_forward``); when an
input carries a tangent it computes the output tangents:

* a few common elementwise ops have hand-written rules, a ``jvp`` attribute of their
  node class beside ``backward`` (ops/elementwise.py: add, sub, mul, div, neg, exp, log,
  sin, cos, tanh, sigmoid); only the class's own rule counts, not an inherited one;
* every other op gets its JVP from its own reverse-mode formula with the
  "double-vjp trick": re-run the op on the inputs, take a dummy cotangent
  ``u`` (requiring grad), form ``g_i(u) = VJP(u)`` w.r.t. the dual inputs
  under ``create_graph``, and differentiate ``sum_i <g_i(u), t_i>`` w.r.t.
  ``u``. ``g_i`` is linear in ``u``, so that gradient is ``J t``. Every op
  with a backward (and every nn.functional layer built from ops) thus has
  a forward derivative with no per-op code.

Outputs that are not floating point (comparisons, argmax, indices) carry no
tangent. Tangents are themselves differentiable in reverse mode while grad
mode is on (reverse-over-forward). Nothing is on the stack outside a level,
so ordinary code pays nothing.

In-place methods (``add_``, ``relu_``, ``F.relu(inplace=True)``...) are an
out-of-place op plus a write (ops/inplace.py), which asks the transform stack
about every write: a write involving a dual tensor takes the op + write path
(``tracks_write``), and the written tensor then takes the result's tangent
(``wrote``; the root of a dual view has the region updated). ``x[idx] = v``
with no graph and no dual tensor involved writes storage directly and is NOT
tracked.

Not supported (yet): ``__setitem__`` outside a graph, forward-over-reverse
(ops inside a backward pass are not observed), and nested levels in one thread
(PyTorch refuses those too).
"""
from __future__ import annotations

import functools
import weakref
from typing import NamedTuple

from .. import backend as B
from ..tensor import Tensor
from . import grad_mode
from . import observe as _observe
from .graph import replay_view

__all__ = ["UnpackedDualTensor", "enter_dual_level", "exit_dual_level", "make_dual",
           "unpack_dual", "dual_level"]

_state = grad_mode.state


class _Level:
    """One forward-AD level: the tangents of its dual tensors.

    The level is an entry of its thread's transform stack (``observe.push``): it watches
    every recorded op (``on_forward`` propagates tangents) and follows in-place writes
    (``tracks_write``/``wrote``, asked by ``ops/inplace.py``).
    """

    def __init__(self, idx):
        self.idx = idx
        self.table = {}  # id(tensor) -> (weakref to tensor, tangent)
        self.aliases = {}  # make_dual's outputs (views whose root does not share the tangent)

    def get(self, t):
        e = self.table.get(id(t))
        if e is not None and e[0]() is t:
            return e[1]
        return None

    def set(self, t, tangent, table=None):
        key = id(t)
        if table is None:
            table = self.table

        def drop(ref, key=key, table=table):
            e = table.get(key)
            if e is not None and e[0] is ref:
                del table[key]

        table[key] = (weakref.ref(t, drop), tangent)

    def clear(self):
        self.table.clear()
        self.aliases.clear()

    # -- the transform hooks
    def on_forward(self, cls, args, outputs, seconds, options=None):
        _propagate(self, cls, args, outputs, options)

    def on_backward(self, node, grad_inputs, seconds):
        pass

    def tracks_write(self, tensor, args):
        """A dual tensor is written or read: take the op + write path, so the tangent follows."""
        if not self.table:
            return False
        base = tensor._base
        if self.get(tensor) is not None or (base is not None and self.get(base) is not None):
            return True
        return any(isinstance(a, Tensor) and self.get(a) is not None for a in args)

    def wrote(self, tensor, result, through_view):
        """``tensor`` now holds ``result``'s value: it takes ``result``'s tangent."""
        t = self.get(result)
        if t is None:
            return
        self.set(tensor, t)
        if through_view:
            self._update_root(tensor, t)

    def _update_root(self, view, t):
        root = view._base
        rt = self.get(root)
        e = self.aliases.get(id(view))
        if rt is None and e is not None and e[0]() is view:
            return  # (like PyTorch: the root of a make_dual alias keeps no tangent)
        # a view's tangent is a view of its root's: write the region of the root's tangent
        new = rt._data.copy() if rt is not None else B.xp.zeros(root._data.shape, t._data.dtype)
        obs = _state.observers
        _state.observers = ()
        try:
            replay_view(new, view._view_chain)[...] = t._data
        finally:
            _state.observers = obs
        self.set(root, Tensor._wrap(new))


# ----------------------------------------------------------------------------- levels
def _thread_levels():
    return [e for e in _state.transforms if isinstance(e, _Level)]


def _innermost():
    levels = _thread_levels()
    return levels[-1] if levels else None


def _current_index():
    lvl = _innermost()
    return -1 if lvl is None else lvl.idx


class _ThreadLevels:
    """This thread's dual levels by index (a read-only view of its transform stack)."""

    def get(self, idx, default=None):
        for lvl in _thread_levels():
            if lvl.idx == idx:
                return lvl
        return default

    def __getitem__(self, idx):
        lvl = self.get(idx)
        if lvl is None:
            raise KeyError(idx)
        return lvl


_levels = _ThreadLevels()


def enter_dual_level():
    """Enter a new forward grad level (only one may be active per thread) and return its index."""
    if _innermost() is not None:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    lvl = _observe.push(_Level(0))
    return lvl.idx


def exit_dual_level(*, level=None):
    """Exit the last entered level, deleting every tangent associated with it."""
    current = _current_index()
    if level is None:
        level = current
    if level != current:
        raise RuntimeError("Trying to exit a forward AD level that was not the last one "
                           "that was created. This is not supported.")
    if level < 0:
        raise RuntimeError("Dual level must be a positive number.")
    lvl = _innermost()
    _observe.pop(lvl)
    lvl.clear()


class dual_level:
    """Context manager (and decorator) for forward AD: ``with dual_level(): ...``.

    Only a single level is supported, like PyTorch.
    """

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, exc_type, exc_value, traceback):
        exit_dual_level()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with dual_level():
                return fn(*args, **kwargs)
        return wrapper


def _quiet_alias(tensor):
    """An alias (view) of ``tensor`` made without any observer seeing it."""
    obs = _state.observers
    _state.observers = ()
    try:
        return tensor.view(tuple(tensor.shape))
    finally:
        _state.observers = obs


def _is_float(t):
    return t._data.dtype.kind in "fc"


def _dtype_name(t):
    return str(t.dtype)


def make_dual(tensor, tangent, *, level=None):
    """A new tensor aliasing ``tensor`` (a view, backward differentiable) with ``tangent``
    as its forward gradient at ``level`` (the current level by default)."""
    if level is None:
        level = _current_index()
    if level < 0:
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level "
                           "exists, make sure to enter_dual_level() first.")
    if not _is_float(tensor):
        raise ValueError(f"Expected primal to be floating point or complex, but got: {_dtype_name(tensor)}")
    if not isinstance(tangent, Tensor) or not _is_float(tangent):
        got = _dtype_name(tangent) if isinstance(tangent, Tensor) else type(tangent).__name__
        raise ValueError(f"Expected tangent to be floating point or complex, but got: {got}")
    lvl = _levels.get(level)
    if lvl is None:
        raise RuntimeError("Invalid level given to _make_dual")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the original "
            "Tensor, this is not supported. Tensor is of size "
            f"{list(tensor.shape)} while the given forward gradient is of size {list(tangent.shape)}.")
    if lvl.get(tensor) is not None:
        raise RuntimeError("Making a dual Tensor based on a Tensor that already has a forward "
                           f"gradient at the same level {level} is not supported.")
    out = _quiet_alias(tensor)
    lvl.set(out, tangent)
    lvl.set(out, True, lvl.aliases)
    return out


class UnpackedDualTensor(NamedTuple):
    """``(primal, tangent)`` returned by :func:`unpack_dual`."""

    primal: Tensor
    tangent: Tensor | None


def unpack_dual(tensor, *, level=None):
    """``(primal, tangent)``: a view of ``tensor`` without tangent, and its tangent as-is
    (None when ``tensor`` has none at ``level``)."""
    if level is None:
        level = _current_index()
    if level < 0:
        return UnpackedDualTensor(tensor, None)
    lvl = _levels.get(level)
    if lvl is None:
        return UnpackedDualTensor(tensor, None)
    tangent = lvl.get(tensor)
    return UnpackedDualTensor(_quiet_alias(tensor), tangent)


# ----------------------------------------------------------------------------- propagation
def _propagate(lvl, cls, args, outputs, options):
    """Set the tangents of ``outputs`` of the op ``cls`` when an input has one at ``lvl``."""
    tans = None
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            t = lvl.get(a)
            if t is not None:
                if tans is None:
                    tans = [None] * len(args)
                tans[i] = t
    if tans is None:
        return
    if not any(isinstance(o, Tensor) and _is_float(o) for o in outputs):
        return
    options = options or {}
    user_grad = _state.enabled
    obs = _state.observers
    _state.observers = ()  # the JVP's own ops are not reported (nor propagated)
    try:
        with grad_mode.enable_grad():
            rule = cls.__dict__.get("jvp")  # a hand-written rule in the op's unit
            res = None
            if rule is not None:
                res = rule(args, options, tans, outputs)
            if res is None:
                res = _generic_jvp(cls, args, options, tans, outputs, user_grad)
        # strict=False: a fast rule promises one tangent per output, but that contract is not
        # checked here, and a short result must keep meaning "no tangent" for the rest
        for o, t in zip(outputs, res, strict=False):
            if t is None or not isinstance(o, Tensor) or not _is_float(o):
                continue
            if not user_grad and t.requires_grad:
                t = t.detach()
            if t.dtype != o.dtype:
                t = t.to(o.dtype)
            if tuple(t.shape) != tuple(o.shape):
                t = t.expand(tuple(o.shape)).contiguous()
            lvl.set(o, t)
    finally:
        _state.observers = obs


def _zeros(o):
    return Tensor._wrap(B.xp.zeros(o._data.shape, o._data.dtype))


def _generic_jvp(cls, args, options, tans, outputs, user_grad):
    """Output tangents of ``cls`` from its reverse-mode formula (the double-vjp trick)."""
    from . import grad as _grad

    keep = user_grad and any(
        (isinstance(a, Tensor) and a._requires_grad) or (t is not None and t._requires_grad)
        for a, t in zip(args, tans, strict=True))
    xs = []
    wrt = []
    for a, t in zip(args, tans, strict=True):  # tans is [None] * len(args)
        if isinstance(a, Tensor):
            if t is not None and _is_float(a):
                x = a if (keep and a._requires_grad) else a.detach().requires_grad_()
                wrt.append((x, t))
            elif keep:
                x = a
            else:
                x = a.detach()
            xs.append(x)
        else:
            xs.append(a)
    if not wrt:
        return [None] * len(outputs)
    y = cls.apply(*xs, **options)
    ys = y if isinstance(y, tuple) else (y,)
    live = []
    us = []
    for yk in ys:
        if isinstance(yk, Tensor) and _is_float(yk) and yk.requires_grad:
            u = _zeros(yk).requires_grad_()
            live.append(yk)
            us.append(u)
        else:
            us.append(None)
    if not live:
        return [_zeros(o) if _is_float(o) else None for o in outputs]
    gs = _grad(live, [x for x, _ in wrt], grad_outputs=[u for u in us if u is not None],
               create_graph=True, allow_unused=True)
    s = None
    for g, (_, t) in zip(gs, wrt, strict=True):  # grad() returns one per input
        if g is None:
            continue
        term = (g * t).sum()
        s = term if s is None else s + term
    if s is None or not s.requires_grad:
        return [_zeros(o) if _is_float(o) else None for o in outputs]
    used = [u for u in us if u is not None]
    jv = _grad(s, used, create_graph=keep, allow_unused=True)
    it = iter(jv)
    res = []
    # strict=False: us follows the outputs of the re-run op, which should match the recorded
    # outputs, but nothing here checks it
    for o, u in zip(outputs, us, strict=False):
        if u is None:
            res.append(_zeros(o) if _is_float(o) else None)
        else:
            j = next(it)
            res.append(_zeros(o) if j is None else j)
    return res

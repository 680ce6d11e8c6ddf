"""The transform stack: everything that watches or transforms the ops of a thread.

Each thread has one stack, ``grad_mode.state.transforms`` (outermost first), holding
its active transforms: ``vmap`` levels, forward-mode dual levels, and observers such as
anomaly mode, the profiler, leak detection and origin tracking. :func:`push` and
:func:`pop` are the only ways on and off it. An entry says what it takes part in by
the hooks it defines:

* ``intercept(fn, name, kind, args, kwargs)``: it takes over calls of public ops
  (``vmap`` levels; see ``ops/_dispatch.py``, the dispatch point).
* ``on_forward(cls, args, outputs, seconds, options)`` and
  ``on_backward(node, grad_inputs, seconds)``: it watches every recorded op, forward and
  backward (observers, dual levels). ``outputs`` is a tuple of tensors, ``options`` the
  op's keyword options, ``grad_inputs`` what the node's backward returned.
* ``tracks_write(tensor, args)`` and ``wrote(tensor, result, through_view)``: it follows
  in-place writes (dual levels; see ``ops/inplace.py``).

Two cheap views of the stacks serve the hot paths, both kept up to date by push/pop:
``state.observers``, this thread's entries with ``on_forward`` (``Node.apply`` and the
engine test it: one attribute check while it is empty), and :data:`active`, the number
of entries on all threads' stacks together (a plain module attribute that the dispatch
point and the in-place writes test before they look at their own thread's stack).

While an entry watches ops, each op on tensors runs through ``observed_apply`` and each
backward node through ``observed_backward``, which time it and hand it to every
observer. Ops run *inside* an observed op (a backward formula under create_graph, say)
are not reported separately: their time belongs to the op that ran them.
"""
from __future__ import annotations

import threading
import time

from ..tensor import Tensor
from . import grad_mode
from .backward_steps import call_backward

_state = grad_mode.state

#: Transforms on the stacks of all threads together; 0 means nothing to consult anywhere.
active = 0
_count_lock = threading.Lock()


def _recount(delta):
    global active
    with _count_lock:
        active += delta


def push(entry):
    """Put ``entry`` on top of this thread's transform stack; returns it."""
    _state.transforms = _state.transforms + (entry,)
    if hasattr(entry, "on_forward"):
        _state.observers = _state.observers + (entry,)
    _recount(1)
    return entry


def pop(entry):
    """Take ``entry`` off this thread's stack (wherever it is: observers may end out of order)."""
    kept = tuple(e for e in _state.transforms if e is not entry)
    if len(kept) == len(_state.transforms):
        return
    _state.transforms = kept
    _state.observers = tuple(o for o in _state.observers if o is not entry)
    _recount(-1)


def add(observer):
    """Activate ``observer`` in this thread (returns a token for ``remove``)."""
    return push(observer)


def remove(observer):
    """Deactivate ``observer`` (a no-op if it is not active)."""
    pop(observer)


def observed_apply(cls, args, options):
    obs = _state.observers
    if not any(isinstance(a, Tensor) for a in args):
        # a backward formula on raw arrays: part of the node's backward time
        _state.observers = ()
        try:
            return cls.apply(*args, **options)
        finally:
            _state.observers = obs
    _state.observers = ()
    t0 = time.perf_counter()
    try:
        out = cls.apply(*args, **options)
    finally:
        _state.observers = obs
    dt = time.perf_counter() - t0
    outs = out if isinstance(out, tuple) else (out,)
    for o in obs:
        o.on_forward(cls, args, outs, dt, options)
    return out


def observed_backward(node, grads, retain_graph, create_graph):
    obs = _state.observers
    _state.observers = ()
    t0 = time.perf_counter()
    try:
        res = call_backward(node, grads, retain_graph, create_graph)
    finally:
        _state.observers = obs
    dt = time.perf_counter() - t0
    for o in obs:
        o.on_backward(node, res, dt)
    return res

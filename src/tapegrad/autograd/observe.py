"""Observers: diagnostics that watch every recorded op, forward and backward.

Anomaly mode and the profiler are observers. While none is active the hot
paths pay one attribute check (``_state.observers``); while one is, each op
on tensors runs through ``observed_apply`` and each backward node through
``observed_backward``, which time it and hand it to every observer:

    observer.on_forward(cls, args, outputs, seconds, options)   # outputs: a tuple of tensors;
                                                                 # options: the op's keyword options
    observer.on_backward(node, grad_inputs, seconds)   # grad_inputs: what the node returned

Ops run *inside* an observed op (a backward formula under create_graph, say)
are not reported separately: their time belongs to the op that ran them.
"""
from __future__ import annotations

import time

from ..tensor import Tensor
from . import grad_mode
from .engine import _call_backward

_state = grad_mode.state


def add(observer):
    """Activate ``observer`` in this thread (returns a token for ``remove``)."""
    _state.observers = _state.observers + (observer,)
    return observer


def remove(observer):
    _state.observers = tuple(o for o in _state.observers if o is not observer)


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
        res = _call_backward(node, grads, retain_graph, create_graph)
    finally:
        _state.observers = obs
    dt = time.perf_counter() - t0
    for o in obs:
        o.on_backward(node, res, dt)
    return res

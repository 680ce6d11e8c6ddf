"""``tapegrad.profiler.profile`` and ``record_function``: where the time (and memory) goes.

The profiler is an observer (``autograd/observe.py``): while a ``profile`` block runs,
every op on tensors and every backward node the engine runs is timed and handed to it.
It keeps one event per call:

* forward ops, named after their node without the ``Backward<n>`` suffix (``Mul``,
  ``Addmm``); memory = bytes of the output arrays;
* backward nodes, named like PyTorch's (``MulBackward0``); memory = bytes of the
  gradient arrays the node returned;
* ``record_function("name")`` ranges (``user_annotation``), which may nest and contain ops.

Ops never nest inside each other (an op's inner work is part of its own time), so the
self times of all events plus the time outside every op and range ("other / Python
overhead": the Python between ops, and the profiler's own bookkeeping) add up exactly to
the wall time of the ``with`` block, which the profile measures too.

Only the thread that entered the profile is recorded (observers are thread-local).
Custom ``autograd.Function.apply`` calls are not ops here: the ops they run inside are
recorded one by one, and their backward node is recorded as a backward event.
"""
from __future__ import annotations

import contextlib
import enum
import os
import re
import sys
import threading
import time
import warnings

from ..autograd import grad_mode, observe
from ..tensor import Tensor
from ._events import EventList, FunctionEvent, write_chrome_trace

_state = grad_mode.state
_now = time.perf_counter
_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_SUFFIX = re.compile(r"Backward\d*$")
_fwd_names: dict = {}


class ProfilerActivity(enum.Enum):
    CPU = "CPU"
    CUDA = "CUDA"
    XPU = "XPU"
    MTIA = "MTIA"
    HPU = "HPU"
    PrivateUse1 = "PrivateUse1"


def supported_activities():
    return {ProfilerActivity.CPU}


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait, warmup, active, repeat=0, skip_first=0, skip_first_wait=0):
    raise NotImplementedError(
        "tapegrad.profiler.schedule is not supported: profile only the steps you want, e.g. "
        "run the warm-up steps first and put the steps to record inside `with profile():`")


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False):
    """An ``on_trace_ready`` that writes a Chrome trace into ``dir_name`` (like torch's)."""
    if use_gzip:
        raise NotImplementedError("tensorboard_trace_handler(use_gzip=True) is not supported")

    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{os.uname().nodename}_{os.getpid()}"
        prof.export_chrome_trace(os.path.join(
            dir_name, f"{worker}.{time.time_ns() // 1_000_000}.pt.trace.json"))
    return handler


def _forward_name(cls):
    name = _fwd_names.get(cls)
    if name is None:
        bw = getattr(cls, "_bw_name", None) or cls.__name__
        name = _SUFFIX.sub("", bw) or cls.__name__
        _fwd_names[cls] = name
    return name


def _user_stack(limit=10):
    """``file(line): function`` of the caller's frames outside tapegrad, innermost first."""
    out = []
    f = sys._getframe(2)
    while f is not None and len(out) < limit:
        fn = f.f_code.co_filename
        if not fn.startswith(_PKG_DIR):
            out.append(f"{fn}({f.f_lineno}): {f.f_code.co_name}")
        f = f.f_back
    return out


def _shape(a):
    if isinstance(a, Tensor):
        return list(a._data.shape)
    return []


class _Recorder:
    """The observer: turns callbacks into events (times in microseconds from ``t0``)."""

    def __init__(self, record_shapes, profile_memory, with_stack):
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.events = []
        self.open = []  # open record_function ranges, innermost last
        self.t0 = None
        self.tid = threading.get_native_id()

    # -- observer protocol
    def on_forward(self, cls, args, outputs, seconds, options=None):
        end = _now()
        mem = 0
        seq = -1
        if outputs:
            o = outputs[0]
            fn = getattr(o, "_grad_fn", None)
            if fn is not None:
                seq = getattr(fn, "_seq", -1)
            if self.profile_memory:
                seen = set()
                for o in outputs:
                    d = getattr(o, "_data", None)
                    if d is not None and id(d) not in seen:
                        seen.add(id(d))
                        mem += d.nbytes
        shapes = [_shape(a) for a in args] if self.record_shapes else None
        self._add(_forward_name(cls), "forward", end, seconds, mem, shapes, seq)

    def on_backward(self, node, grads, seconds):
        end = _now()
        mem = 0
        if self.profile_memory and grads:
            seen = set()
            for g in grads:
                if g is None:
                    continue
                d = g._data if isinstance(g, Tensor) else g
                if id(d) not in seen:
                    seen.add(id(d))
                    mem += getattr(d, "nbytes", 0)
        shapes = None
        if self.record_shapes:
            shapes = [list(m[0]) for m in (getattr(node, "_meta", None) or ())]
        self._add(node.name(), "backward", end, seconds, mem, shapes, getattr(node, "_seq", -1))

    def _add(self, name, kind, end, seconds, mem, shapes, seq):
        t0 = self.t0
        end_us = (end - t0) * 1e6
        start_us = max(end_us - seconds * 1e6, 0.0)
        ev = FunctionEvent(len(self.events), name, kind, start_us, end_us, mem, shapes,
                           _user_stack() if self.with_stack else None, self.tid, seq)
        if self.open:
            parent = self.open[-1]
            ev.cpu_parent = parent
            parent.cpu_children.append(ev)
            parent._child_us += end_us - start_us
            parent.cpu_memory_usage += mem
        self.events.append(ev)

    # -- record_function ranges
    def open_range(self, name):
        start_us = (_now() - self.t0) * 1e6
        ev = FunctionEvent(len(self.events), name, "user_annotation", start_us, start_us, 0,
                           [] if self.record_shapes else None,
                           _user_stack() if self.with_stack else None, self.tid)
        if self.open:
            parent = self.open[-1]
            ev.cpu_parent = parent
            parent.cpu_children.append(ev)
        self.open.append(ev)
        self.events.append(ev)
        return ev

    def close_range(self, ev, end=None):
        if ev not in self.open:
            return  # already closed (by stop())
        end_us = ((end if end is not None else _now()) - self.t0) * 1e6
        # a range closed out of order closes the ones opened inside it as well
        while self.open:
            top = self.open.pop()
            self._finish_range(top, end_us)
            if top is ev:
                break

    def _finish_range(self, ev, end_us):
        ev.time_range.end = max(end_us, ev.time_range.start)
        dur = ev.time_range.end - ev.time_range.start
        ev.self_cpu_time_total = max(dur - ev._child_us, 0.0)
        parent = ev.cpu_parent
        if parent is not None:
            parent._child_us += dur
            parent.cpu_memory_usage += ev.cpu_memory_usage


def _active_recorders():
    return [o for o in _state.observers if type(o) is _Recorder and o.t0 is not None]


class profile:
    """Profile the ops, backward nodes and ``record_function`` ranges run in the block.

    >>> with tapegrad.profiler.profile() as prof:
    ...     loss = model(x).sum(); loss.backward()
    >>> print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))

    ``activities`` is accepted (only CPU is profiled); ``schedule`` is not supported;
    ``on_trace_ready(prof)`` is called when the profile stops.
    """

    def __init__(self, activities=None, schedule=None, on_trace_ready=None, record_shapes=False,
                 profile_memory=True, with_stack=False, with_flops=False, with_modules=False,
                 experimental_config=None, execution_trace_observer=None, acc_events=False,
                 use_cuda=None, custom_trace_id_callback=None):
        if schedule is not None:
            raise NotImplementedError(
                "tapegrad.profiler.profile(schedule=...) is not supported: put only the steps "
                "to record inside the `with profile():` block")
        if activities is not None:
            acts = set(activities)
            unsupported = acts - {ProfilerActivity.CPU}
            if unsupported:
                warnings.warn(f"tapegrad profiles the CPU only; ignoring activities "
                              f"{sorted(a.name for a in unsupported)}", stacklevel=2)
        self.activities = {ProfilerActivity.CPU}
        self.on_trace_ready = on_trace_ready
        self.record_shapes = bool(record_shapes)
        self.profile_memory = bool(profile_memory)
        self.with_stack = bool(with_stack)
        self.with_flops = with_flops
        self.with_modules = with_modules
        self.step_num = 0
        self._rec = None
        self._running = False
        self._events = None
        self.wall_time_us = None
        self.other_time_us = None

    # -- lifecycle
    def start(self):
        if self._running:
            raise RuntimeError("this profile is already running")
        self._running = True
        rec = self._rec = _Recorder(self.record_shapes, self.profile_memory, self.with_stack)
        self._events = None
        observe.add(rec)
        rec.t0 = _now()  # last: the wall time starts here
        return self

    def stop(self):
        t1 = _now()  # first: the wall time ends here
        rec = self._rec
        if not self._running:
            raise RuntimeError("this profile is not running")
        self._running = False
        try:
            observe.remove(rec)
        finally:
            while rec.open:
                rec.close_range(rec.open[0], t1)
            wall = (t1 - rec.t0) * 1e6
            busy = sum(e.self_cpu_time_total for e in rec.events)
            self.wall_time_us = wall
            self.other_time_us = max(wall - busy, 0.0)
            self._events = rec.events
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def step(self):
        """Mark the end of a training step (counted; tapegrad has no schedule to advance)."""
        self.step_num += 1

    # -- results
    def _finished(self):
        if self._events is None:
            raise RuntimeError(
                "the profile has not finished: read its results after the `with` block")
        return self._events

    def events(self):
        """Every recorded event (ops, backward nodes, ranges) in the order they started or ran."""
        return EventList(self._finished(), wall_time_us=self.wall_time_us,
                         other_time_us=self.other_time_us, profile_memory=self.profile_memory,
                         with_shapes=False)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0,
                     group_by_overload_name=False):
        """Events grouped by name (and input shapes / the first ``group_by_stack_n`` frames)."""
        if group_by_input_shape and not self.record_shapes:
            raise RuntimeError("key_averages(group_by_input_shape=True) needs "
                               "profile(record_shapes=True)")
        if group_by_stack_n and not self.with_stack:
            raise RuntimeError("key_averages(group_by_stack_n=...) needs profile(with_stack=True)")
        return self.events().key_averages(group_by_input_shape, group_by_stack_n)

    def table(self, sort_by="cpu_time_total", row_limit=100, **kw):
        return self.key_averages().table(sort_by=sort_by, row_limit=row_limit, **kw)

    def export_chrome_trace(self, path):
        """Write the events as Chrome trace JSON (chrome://tracing, Perfetto), atomically."""
        write_chrome_trace(path, self._finished(), self.wall_time_us, self.other_time_us)
        return path

    @property
    def self_cpu_time_total(self):
        """The wall time of the block in microseconds (= all self times + other)."""
        self._finished()
        return self.wall_time_us


class record_function(contextlib.ContextDecorator):
    """A named range in the profile (table row and trace event); free when no profile runs.

    >>> with tapegrad.profiler.record_function("forward"):
    ...     out = model(x)
    """

    def __init__(self, name, args=None):
        self.name = str(name)
        self.args = args
        self._open = []  # per entry: [(recorder, event), ...] (a decorated function may recurse)

    def __enter__(self):
        recs = _active_recorders() if _state.observers else ()
        self._open.append([(r, r.open_range(self.name)) for r in recs])
        return self

    def __exit__(self, *exc):
        t = _now()
        for r, ev in self._open.pop() if self._open else ():
            if r.t0 is not None:
                r.close_range(ev, t)
        return False

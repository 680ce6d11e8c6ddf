"""Profiler results: events, per-key averages, the table and the Chrome trace.

Shaped like ``torch.autograd.profiler_util`` (``FunctionEvent``, ``FunctionEventAvg``,
``EventList``) so code that reads torch's profiler results reads these too. Times are
microseconds (floats), memory is bytes.
"""
from __future__ import annotations

import json
import os
import tempfile

#: the name of the row that holds the time spent outside every recorded op and range
OTHER = "[other / Python overhead]"


def _format_time(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_memory(nbytes):
    if nbytes is None:
        return "-"
    a = abs(nbytes)
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if a >= size:
            return f"{nbytes / size:.2f} {unit}"
    return f"{int(nbytes)} B"


class Interval:
    __slots__ = ("start", "end")

    def __init__(self, start, end):
        self.start, self.end = start, end

    def elapsed_us(self):
        return self.end - self.start

    def __repr__(self):
        return f"Interval(start={self.start:.3f}, end={self.end:.3f})"


class FunctionEvent:
    """One recorded op call, backward node call or ``record_function`` range.

    ``kind`` is ``"forward"``, ``"backward"`` or ``"user_annotation"``; times are
    microseconds from the start of the profile.
    """

    __slots__ = ("id", "name", "kind", "time_range", "self_cpu_time_total", "cpu_memory_usage",
                 "self_cpu_memory_usage", "input_shapes", "stack", "thread", "sequence_nr",
                 "cpu_parent", "cpu_children", "_child_us")

    def __init__(self, id, name, kind, start_us, end_us, memory=0, input_shapes=None, stack=None,
                 thread=0, sequence_nr=-1):
        self.id = id
        self.name = name
        self.kind = kind
        self.time_range = Interval(start_us, end_us)
        self.self_cpu_time_total = end_us - start_us
        self.cpu_memory_usage = memory
        self.self_cpu_memory_usage = memory
        self.input_shapes = input_shapes
        self.stack = stack
        self.thread = thread
        self.sequence_nr = sequence_nr
        self.cpu_parent = None
        self.cpu_children = []
        self._child_us = 0.0

    key = property(lambda self: self.name)
    count = property(lambda self: 1)
    is_user_annotation = property(lambda self: self.kind == "user_annotation")
    is_async = property(lambda self: False)

    @property
    def cpu_time_total(self):
        return self.time_range.elapsed_us()

    cpu_time = cpu_time_total

    @property
    def cpu_time_str(self):
        return _format_time(self.cpu_time)

    @property
    def cpu_time_total_str(self):
        return _format_time(self.cpu_time_total)

    @property
    def self_cpu_time_total_str(self):
        return _format_time(self.self_cpu_time_total)

    def __repr__(self):
        return (f"<FunctionEvent id={self.id} name={self.name} kind={self.kind} "
                f"cpu_time_total={_format_time(self.cpu_time_total)} "
                f"self_cpu_time_total={_format_time(self.self_cpu_time_total)} "
                f"cpu_memory_usage={self.cpu_memory_usage} input_shapes={self.input_shapes}>")


class FunctionEventAvg:
    """The events of one key added up (``count`` calls)."""

    def __init__(self):
        self.key = None
        self.kind = None
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0
        self.input_shapes = None
        self.stack = None
        self.is_user_annotation = False
        self.is_async = False
        self.cpu_parent = None
        self.cpu_children = None
        self.node_id = 0

    def add(self, other):
        if self.key is None:
            self.key = other.key
            self.kind = other.kind
            self.input_shapes = other.input_shapes
            self.stack = other.stack
            self.is_user_annotation = other.is_user_annotation
        elif other.key != self.key:
            raise AssertionError(f"cannot add {other.key!r} to the average of {self.key!r}")
        self.count += other.count
        self.cpu_time_total += other.cpu_time_total
        self.self_cpu_time_total += other.self_cpu_time_total
        self.cpu_memory_usage += other.cpu_memory_usage
        self.self_cpu_memory_usage += other.self_cpu_memory_usage
        return self

    __iadd__ = add

    @property
    def cpu_time(self):
        return self.cpu_time_total / self.count if self.count else 0.0

    @property
    def cpu_time_str(self):
        return _format_time(self.cpu_time)

    @property
    def cpu_time_total_str(self):
        return _format_time(self.cpu_time_total)

    @property
    def self_cpu_time_total_str(self):
        return _format_time(self.self_cpu_time_total)

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} count={self.count} "
                f"self_cpu_time={_format_time(self.self_cpu_time_total)} "
                f"cpu_time={_format_time(self.cpu_time_total)} "
                f"cpu_memory_usage={self.cpu_memory_usage} input_shapes={self.input_shapes}>")


class EventList(list):
    """A list of events (or of averages) with ``table``, ``key_averages`` and the profile's totals.

    ``wall_time_us`` is the wall time of the profiled block and ``other_time_us`` the part
    of it spent outside every recorded op and range (``None`` for a list not made by a
    profile); the self times of the events plus ``other_time_us`` add up to ``wall_time_us``.
    """

    def __init__(self, items=(), *, wall_time_us=None, other_time_us=None, profile_memory=True,
                 with_shapes=False, stack_n=0, trace=None):
        super().__init__(items)
        self.wall_time_us = wall_time_us
        self.other_time_us = other_time_us
        self._profile_memory = profile_memory
        self._with_shapes = with_shapes
        self._stack_n = stack_n
        self._trace = trace  # the events for export_chrome_trace (the raw events themselves)

    @property
    def self_cpu_time_total(self):
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0):
        groups = {}
        for e in self:
            key = (e.key,)
            if group_by_input_shape:
                key += (str(e.input_shapes),)
            if group_by_stack_n:
                key += (tuple((e.stack or ())[:group_by_stack_n]),)
            avg = groups.get(key)
            if avg is None:
                avg = groups[key] = FunctionEventAvg()
            avg.add(e)
        return EventList(groups.values(), wall_time_us=self.wall_time_us,
                         other_time_us=self.other_time_us, profile_memory=self._profile_memory,
                         with_shapes=group_by_input_shape, stack_n=group_by_stack_n,
                         trace=self._trace if self._trace is not None else list(self))

    def total_average(self):
        total = FunctionEventAvg()
        total.key = "Total"
        for e in self:
            total.count += e.count
            total.cpu_time_total += e.cpu_time_total
            total.self_cpu_time_total += e.self_cpu_time_total
            total.cpu_memory_usage += e.cpu_memory_usage
            total.self_cpu_memory_usage += e.self_cpu_memory_usage
        return total

    def table(self, sort_by="cpu_time_total", row_limit=100, max_src_column_width=75,
              max_name_column_width=55, max_shapes_column_width=80, header=None,
              top_level_events_only=False):
        return build_table(self, sort_by=sort_by, row_limit=row_limit, header=header,
                           max_name_column_width=max_name_column_width,
                           max_shapes_column_width=max_shapes_column_width,
                           max_src_column_width=max_src_column_width,
                           top_level_events_only=top_level_events_only)

    def __str__(self):
        return self.table()

    def export_chrome_trace(self, path):
        events = self._trace if self._trace is not None else list(self)
        write_chrome_trace(path, events, self.wall_time_us, self.other_time_us)


# ----------------------------------------------------------------------------------- table
_SORT_KEYS = {
    "cpu_time_total": lambda e: e.cpu_time_total,
    "self_cpu_time_total": lambda e: e.self_cpu_time_total,
    "cpu_time": lambda e: e.cpu_time,
    "self_cpu_time": lambda e: e.self_cpu_time_total,
    "cpu_memory_usage": lambda e: e.cpu_memory_usage,
    "self_cpu_memory_usage": lambda e: e.self_cpu_memory_usage,
    "count": lambda e: e.count,
}


# long: one pass that sizes and fills every column of the table; the columns share their state
def build_table(events, sort_by="cpu_time_total", row_limit=100, header=None,  # noqa: C901 - a branch per column
                max_name_column_width=55, max_shapes_column_width=80, max_src_column_width=75,
                top_level_events_only=False):
    """torch's profiler table, plus an explicit row for the time outside every op and range."""
    rows = list(events)
    if top_level_events_only:
        rows = [e for e in rows if getattr(e, "cpu_parent", None) is None]
    if sort_by is not None:
        if sort_by not in _SORT_KEYS:
            raise ValueError(
                f"sort_by must be one of {sorted(_SORT_KEYS)} (or None), got {sort_by!r}")
        rows.sort(key=_SORT_KEYS[sort_by], reverse=True)
    if row_limit is not None and row_limit > 0:
        rows = rows[:row_limit]

    wall = getattr(events, "wall_time_us", None)
    other = getattr(events, "other_time_us", None)
    total = wall if wall is not None else sum(e.self_cpu_time_total for e in events)
    mem = getattr(events, "_profile_memory", True)
    shapes = getattr(events, "_with_shapes", False)
    stack_n = getattr(events, "_stack_n", 0)

    def pct(x):
        return f"{100.0 * x / total:.2f}%" if total else "-"

    names = [e.key for e in rows] + ([OTHER] if other is not None else [])
    name_w = min(max([len("Name")] + [len(n) for n in names]) + 4, max_name_column_width)
    cols = [("Name", name_w), ("Self CPU %", 12), ("Self CPU", 12), ("CPU total %", 12),
            ("CPU total", 12), ("CPU time avg", 12)]
    if mem:
        cols += [("CPU Mem", 12), ("Self CPU Mem", 12)]
    cols += [("# of Calls", 12)]
    shape_w = src_w = 0
    if shapes:
        shape_w = min(max([len("Input Shapes")] + [len(str(e.input_shapes)) for e in rows]) + 4,
                      max_shapes_column_width)
        cols.append(("Input Shapes", shape_w))
    if stack_n:
        src_w = min(max([len("Source Location")] + [len(s) for e in rows for s in (e.stack or ())
                                                    [:stack_n]]) + 4, max_src_column_width)
        cols.append(("Source Location", src_w))

    sep = "".join("-" * w + "  " for _, w in cols)

    def fit(s, w):
        s = str(s)
        return s if len(s) <= w else s[:w - 3] + "..."

    def line(cells):
        return "".join(fit(c, w).rjust(w) + "  " for c, (_, w) in zip(cells, cols, strict=True))

    out = []
    if header:
        out.append("=" * len(sep))
        out.append(header)
    out += [sep, line([c for c, _ in cols]), sep]
    for e in rows:
        cells = [fit(e.key, name_w - 4), pct(e.self_cpu_time_total),
                 _format_time(e.self_cpu_time_total),
                 pct(e.cpu_time_total), _format_time(e.cpu_time_total), _format_time(e.cpu_time)]
        if mem:
            cells += [_format_memory(e.cpu_memory_usage), _format_memory(e.self_cpu_memory_usage)]
        cells.append(e.count)
        if shapes:
            cells.append(fit(e.input_shapes, shape_w - 4))
        if stack_n:
            st = list(e.stack or ())[:stack_n] or [""]
            cells.append(fit(st[0], src_w - 4))
            out.append(line(cells))
            for s in st[1:]:
                out.append(line([""] * (len(cols) - 1) + [fit(s, src_w - 4)]))
            continue
        out.append(line(cells))
    out.append(sep)
    if other is not None:
        cells = [OTHER, pct(other), _format_time(other), pct(other), _format_time(other), "-"]
        if mem:
            cells += ["-", "-"]
        cells.append("-")
        cells += [""] * (len(cols) - len(cells))
        out.append(line(cells))
        out.append(sep)
    out.append(f"Self CPU time total: {_format_time(total)}")
    if wall is not None:
        fwd = sum(e.self_cpu_time_total for e in events if e.kind == "forward")
        bwd = sum(e.self_cpu_time_total for e in events if e.kind == "backward")
        usr = sum(e.self_cpu_time_total for e in events if e.kind == "user_annotation")
        out.append(f"Wall time of the profiled block: {_format_time(wall)} = forward ops "
                   f"{_format_time(fwd)} + backward nodes {_format_time(bwd)} + user ranges (self) "
                   f"{_format_time(usr)} + other / Python overhead {_format_time(other or 0.0)}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- chrome trace
def chrome_trace(events, wall_time_us=None, other_time_us=None):
    """The ``{"traceEvents": [...]}`` object for ``events`` (sorted by start, parents first)."""
    pid = os.getpid()
    evs = []
    for e in sorted(events, key=lambda e: (e.time_range.start, -e.time_range.elapsed_us(), e.id)):
        args = {}
        if e.kind != "user_annotation":
            args["Sequence number"] = e.sequence_nr
        args["bytes"] = e.cpu_memory_usage
        if e.input_shapes is not None:
            args["Input Dims"] = e.input_shapes
        if e.stack:
            args["Call stack"] = ";".join(e.stack)
        evs.append({"name": e.name, "ph": "X", "ts": round(e.time_range.start, 3),
                    "dur": round(e.time_range.elapsed_us(), 3), "pid": pid, "tid": e.thread,
                    "cat": e.kind, "args": args})
    doc = {"traceEvents": evs, "displayTimeUnit": "ms"}
    if wall_time_us is not None:
        doc["otherData"] = {"wall_time_us": round(wall_time_us, 3),
                            "other_python_overhead_us": round(other_time_us or 0.0, 3)}
    return doc


def write_chrome_trace(path, events, wall_time_us=None, other_time_us=None):
    """Write the trace atomically: a temporary file next to ``path``, then ``os.replace``."""
    doc = chrome_trace(events, wall_time_us, other_time_us)
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".trace-", suffix=".json.tmp", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

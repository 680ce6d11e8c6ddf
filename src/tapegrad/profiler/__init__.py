"""tapegrad.profiler: ``torch.profiler``'s API over tapegrad's observers.

>>> with tapegrad.profiler.profile(record_shapes=True) as prof:
...     with tapegrad.profiler.record_function("step"):
...         model(x).sum().backward()
>>> print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
>>> prof.export_chrome_trace("trace.json")
"""
from __future__ import annotations

from ._events import EventList, FunctionEvent, FunctionEventAvg, OTHER  # noqa: F401
from .profiler import (  # noqa: F401
    ProfilerAction, ProfilerActivity, profile, record_function, schedule, supported_activities,
    tensorboard_trace_handler,
)

__all__ = ["profile", "record_function", "ProfilerActivity", "ProfilerAction", "schedule",
           "supported_activities", "tensorboard_trace_handler", "EventList", "FunctionEvent",
           "FunctionEventAvg"]

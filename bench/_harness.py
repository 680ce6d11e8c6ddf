"""The one timing function every workload goes through, plus the registry and reporting.

A workload is a name, a target and, per library, a pair ``setup() -> state`` and
``step(state) -> None``. :func:`time_interleaved` builds every library's state, warms
each step up, calibrates an inner loop count per library so that one repetition lasts
about ``rep_time`` seconds, then runs *rounds*: in each round every library runs one
repetition, and the order alternates from round to round (A B, B A, A B, ...), so a
burst of noise from the shared machine hits both libraries rather than one. The result
per library is the median and inter-quartile range of the per-iteration times.

Nothing here imports torch or tapegrad: the workload modules import them lazily inside
their setup functions, so that a subprocess (see :mod:`bench.memory`) can load just one
of the two libraries, and so that a broken library is reported, not fatal.
"""
from __future__ import annotations

import dataclasses
import gc
import json
import os
import platform
import statistics
import time
import traceback
from typing import Any
from collections.abc import Callable

LIBS = ("tapegrad", "torch")


# ---------------------------------------------------------------------------- registry
@dataclasses.dataclass
class Impl:
    """One library's side of a workload: ``state = setup()``, then ``step(state)`` per iteration."""

    setup: Callable[[], Any]
    step: Callable[[Any], None]


@dataclasses.dataclass
class Workload:
    name: str
    description: str
    impls: dict  # lib name -> Impl
    #: the largest acceptable tapegrad/torch ratio (None: informational only)
    target: float | None = None
    #: at most this many rounds / seconds (full run); --quick scales both down
    max_rounds: int = 31
    max_seconds: float = 20.0
    #: None: timed with time_interleaved; otherwise a custom measure(config) -> dict
    measure: Callable[[Config, tuple], dict] | None = None
    unit: str = "s"


WORKLOADS: dict[str, Workload] = {}


def register(w: Workload) -> Workload:
    if w.name in WORKLOADS:
        raise ValueError(f"duplicate workload {w.name!r}")
    WORKLOADS[w.name] = w
    return w


@dataclasses.dataclass
class Config:
    quick: bool = False
    #: target duration of one repetition (inner loop of calibrated length)
    rep_time: float = 0.05
    #: seconds of warm-up per library (at least ``min_warmup`` calls)
    warmup_time: float = 0.2
    min_warmup: int = 2
    min_rounds: int = 5
    round_scale: float = 1.0
    time_scale: float = 1.0

    @classmethod
    def make(cls, quick: bool) -> Config:
        if quick:
            return cls(quick=True, rep_time=0.01, warmup_time=0.03, min_warmup=1, min_rounds=3,
                       round_scale=0.2, time_scale=0.2)
        return cls()


# ---------------------------------------------------------------------------- statistics
@dataclasses.dataclass
class Stats:
    median: float
    q1: float
    q3: float
    rounds: int
    inner: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @classmethod
    def of(cls, samples: list, inner: int) -> Stats:
        s = sorted(samples)
        if len(s) >= 2:
            q1, _, q3 = statistics.quantiles(s, n=4, method="inclusive")
        else:
            q1 = q3 = s[0]
        return cls(statistics.median(s), q1, q3, len(s), inner)


# ---------------------------------------------------------------------------- timing
def _rep(step, state, n: int) -> float:
    """Seconds per iteration of ``n`` back-to-back calls of ``step(state)``."""
    perf = time.perf_counter
    t0 = perf()
    for _ in range(n):
        step(state)
    return (perf() - t0) / n


def prepare(impl: Impl, config: Config):
    """Set up ``impl``, warm it up and calibrate its inner loop: ``(state, inner count)``.

    The warm-up lasts at least ``min_warmup`` calls and ``warmup_time`` seconds; the inner
    count makes one repetition last about ``rep_time``.
    """
    gc.collect()
    state = impl.setup()
    t0, calls = time.perf_counter(), 0
    while calls < config.min_warmup or time.perf_counter() - t0 < config.warmup_time:
        impl.step(state)
        calls += 1
    n = 1
    while True:
        dt = _rep(impl.step, state, n) * n
        if dt >= config.rep_time or n >= 1 << 20:
            return state, n
        n = max(n * 2, int(n * config.rep_time / max(dt, 1e-9) * 1.1))


def time_interleaved(impls: dict, config: Config, *, max_rounds: int = 31,
                     max_seconds: float = 20.0) -> dict:
    """Time every ``Impl`` of ``impls`` (lib -> Impl) interleaved; return lib -> Stats or error.

    A library whose setup, warm-up or step raises is reported as ``{"error": message}``
    and the others go on alone.
    """
    out: dict = {}
    live: dict = {}  # lib -> (step, state, inner)
    for lib, impl in impls.items():
        try:
            state, n = prepare(impl, config)
            live[lib] = (impl.step, state, n)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            out[lib] = {"error": _describe(exc)}
    samples: dict = {lib: [] for lib in live}
    libs = list(live)
    rounds = max(config.min_rounds, int(round(max_rounds * config.round_scale)))
    budget = max_seconds * config.time_scale
    t_start = time.perf_counter()
    for r in range(rounds):
        order = libs if r % 2 == 0 else libs[::-1]
        for lib in order:
            if lib not in live:
                continue
            step, state, n = live[lib]
            try:
                samples[lib].append(_rep(step, state, n))
            except Exception as exc:  # noqa: BLE001
                out[lib] = {"error": _describe(exc)}
                del live[lib]
        if r + 1 >= config.min_rounds and time.perf_counter() - t_start > budget:
            break
    for lib, (_, _, n) in live.items():
        out[lib] = Stats.of(samples[lib], n)
    live.clear()
    gc.collect()
    return out


def _describe(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}{where}"[:300]


# ---------------------------------------------------------------------------- environment
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(torch_threads: int | None, with_torch: bool = True) -> dict:
    import numpy as np

    env: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "numpy_blas": _numpy_blas(),
        "loadavg": _loadavg(),
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                  "MKL_NUM_THREADS") if k in os.environ},
    }
    try:
        import tapegrad
        env["tapegrad"] = getattr(tapegrad, "__version__", "?")
    except Exception as exc:  # noqa: BLE001
        env["tapegrad"] = "error: " + _describe(exc)
    if not with_torch:
        env["torch"] = None
        return env
    try:
        import torch
        env["torch"] = torch.__version__
        env["torch_threads"] = torch_threads
        env["torch_interop_threads"] = torch.get_num_interop_threads()
    except Exception:  # noqa: BLE001 - missing or broken torch
        env["torch"] = None
    return env


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _numpy_blas() -> str:
    try:
        import numpy as np
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001
        return "?"


def pin_torch_threads(n: int | None = None) -> int | None:
    """Fix torch's intra-op threads at ``n``, by default at torch's own default (so nothing
    later changes it); return the count, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    n = torch.get_num_threads() if n is None else n
    torch.set_num_threads(n)
    return torch.get_num_threads()


# ---------------------------------------------------------------------------- formatting
def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_value(v: float | None, unit: str) -> str:
    if unit == "s":
        return fmt_time(v)
    if v is None:
        return "-"
    return f"{v:.1f} {unit}"


def fmt_cell(res, unit: str) -> str:
    if res is None:
        return "-"
    if isinstance(res, dict):
        if "error" in res:
            return "error: " + res["error"]
        cell = fmt_value(res.get("median"), unit)
        if "after_import_mib" in res:
            cell += f" (import {res['after_import_mib']:.0f})"
        return cell
    return f"{fmt_value(res.median, unit)} (iqr {fmt_value(res.iqr, unit)})"


def as_jsonable(res):
    if isinstance(res, Stats):
        d = dataclasses.asdict(res)
        d["iqr"] = res.iqr
        return d
    return res


def render_table(rows: list) -> str:
    header = ("workload", "tapegrad", "torch", "ratio", "target", "met?")
    table = [header] + [tuple(r) for r in rows]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    # error messages can be long: do not pad the last columns beyond reason
    lines = []
    for k, r in enumerate(table):
        lines.append("  ".join(str(c).ljust(min(w, 60)) for c, w in zip(r, widths, strict=False)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * min(w, 60) for w in widths))
    return "\n".join(lines)


def dump_json(path: str, payload: dict) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=str)

"""resnet18_memory: peak resident memory of a fresh process training ResNet-18 for 5 steps.

The parent starts ``python -m bench._memchild LIB`` once per library (alternating, a few
times each); the child imports only LIB (plus NumPy and this package), builds
ResNet-18, runs 5 full SGD steps on a batch of 8x3x64x64 and prints its peak RSS.

The peak is ``VmHWM`` from /proc/self/status: the high-water mark of the child's own
address space. ``ru_maxrss`` is printed too but not used, because on Linux it can
inherit the parent's resident size when the child is spawned by fork/vfork+exec
(the benchmark parent has torch loaded, so that would inflate the tapegrad child).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys

from ._harness import Workload, _describe, register
from ._memchild import STEPS


def _child_env() -> dict:
    env = dict(os.environ)
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    spec = importlib.util.find_spec("tapegrad")  # locate, do not import
    if spec is not None and spec.origin:
        paths.append(os.path.dirname(os.path.dirname(spec.origin)))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_child(lib_name: str, timeout: float = 900.0) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench._memchild", lib_name], capture_output=True,
                          text=True, timeout=timeout, env=_child_env())
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(tail[-1] if tail else f"child exited with {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(config, libs) -> dict:
    """lib -> {"median": MiB, ...} (or {"error": ...}); children alternate between libraries."""
    repeats = 1 if config.quick else 3
    samples: dict = {lib: [] for lib in libs}
    extra: dict = {lib: [] for lib in libs}
    out: dict = {}
    for r in range(repeats):
        for lib in (libs if r % 2 == 0 else libs[::-1]):
            if lib in out:
                continue
            try:
                res = run_child(lib)
            except Exception as exc:  # noqa: BLE001
                out[lib] = {"error": _describe(exc)}
                continue
            samples[lib].append(res["vmhwm_kib"] / 1024)
            extra[lib].append(res)
    for lib in libs:
        if lib in out:
            continue
        out[lib] = {
            "median": statistics.median(samples[lib]),
            "samples_mib": samples[lib],
            "after_import_mib": statistics.median(e["rss_after_import_kib"] / 1024 for e in extra[lib]),
            "ru_maxrss_mib": statistics.median(e["ru_maxrss_kib"] / 1024 for e in extra[lib]),
        }
    return out


register(Workload(
    "resnet18_memory",
    f"peak RSS (VmHWM) of a fresh process: import, build ResNet-18, {STEPS} train steps (8x3x64x64)",
    impls={}, target=0.25, measure=measure, unit="MiB"))

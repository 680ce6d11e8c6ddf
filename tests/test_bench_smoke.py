"""Smoke test of the benchmark runner (bench/): it imports and times q_small on tapegrad.

No timing assertions: only that the harness runs a workload and returns a positive median.
"""
from __future__ import annotations

import importlib.util
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:  # bench/ lives at the repository root, next to src/
    sys.path.insert(0, _ROOT)
if importlib.util.find_spec("tapegrad") is None:  # not installed: use the checkout's src/
    sys.path.insert(0, os.path.join(_ROOT, "src"))

import bench  # noqa: E402
from bench._harness import Config, Stats  # noqa: E402


def test_q_small_tapegrad_runs():
    config = Config(quick=True, rep_time=0.0, warmup_time=0.0, min_warmup=1, min_rounds=2,
                    round_scale=0.0, time_scale=0.0)
    res = bench.run_workload("q_small", config, libs=("tapegrad",))
    stats = res["tapegrad"]
    assert isinstance(stats, Stats), stats  # an {"error": ...} dict means the workload failed
    assert stats.rounds >= 2
    assert stats.median > 0


def test_workloads_registered():
    names = set(bench.load_workloads())
    assert {"q_small", "add_small_grad", "add_small_nograd", "big_elementwise", "mlp_step",
            "resnet18_step", "resnet18_frozen", "resnet18_memory"} <= names


def test_dataloader_workloads_run():
    assert {"dataloader_w0", "dataloader_w2"} <= set(bench.load_workloads())
    config = Config(quick=True, rep_time=0.0, warmup_time=0.0, min_warmup=1, min_rounds=2,
                    round_scale=0.0, time_scale=0.0)
    for name in ("dataloader_w0", "dataloader_w2"):
        stats = bench.run_workload(name, config, libs=("tapegrad",))["tapegrad"]
        assert isinstance(stats, Stats), (name, stats)
        assert stats.median > 0

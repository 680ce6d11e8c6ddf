"""tapegrad vs torch benchmarks: ``python -m bench [--quick] [--only NAME ...] [--json PATH]``.

Workloads live in :mod:`bench.core` (tiny-tensor overhead, a big elementwise chain),
:mod:`bench.nn` (MLP and ResNet-18 training steps), :mod:`bench.dataloader` (batches
through ``DataLoader`` with and without workers) and :mod:`bench.memory` (peak RSS of
a fresh process); all timed ones go through :func:`bench._harness.time_interleaved`.
See docs/benchmarks.md.
"""
from __future__ import annotations

from ._harness import LIBS, WORKLOADS, Config, Impl, Stats, Workload, time_interleaved  # noqa: F401

ORDER = ("q_small", "add_small_grad", "add_small_nograd", "big_elementwise", "mlp_step",
         "small_cnn_step", "dynamic_small_ops", "resnet18_step", "resnet18_frozen", "resnet18_memory",
         "psg_vmap", "psg_loop", "lstm_step", "transformer_layer_step",
         "dataloader_w0", "dataloader_w2", "ddp_resnet18_step")


def load_workloads() -> dict:
    """Import the workload modules (which register themselves) and return name -> Workload."""
    from . import core, dataloader, distributed, func, memory, nn, seq  # noqa: F401
    return {name: WORKLOADS[name] for name in sorted(WORKLOADS, key=_order_key)}


def _order_key(name):
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def run_workload(name: str, config: Config | None = None, libs=LIBS) -> dict:
    """Run one workload for ``libs``; return lib -> Stats, or lib -> {"error": ...} / measure dict."""
    config = config or Config.make(quick=True)
    w = load_workloads()[name]
    libs = tuple(libs)
    if w.measure is not None:
        return w.measure(config, libs)
    return time_interleaved({lib: w.impls[lib] for lib in libs}, config,
                            max_rounds=w.max_rounds, max_seconds=w.max_seconds)

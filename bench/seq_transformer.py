"""Transformer encoder layer step: d_model 128, 4 heads, feed-forward 512, batch-first, seq 64, batch 16.

One library per process (``--lib tapegrad`` or ``--lib torch``), so that neither pays for
the other's import or thread pool. Each step is zero_grad, forward in training mode
(dropout 0.1 on), a sum loss and backward; the median milliseconds per step over several
rounds is printed as JSON. Run each library in its own process, on the same machine::

    python -m bench.seq_transformer --lib torch
    python -m bench.seq_transformer --lib tapegrad

On a machine shared with other work, BLAS thread pools fight over the cores; pin both
to one thread for a comparison that measures the libraries rather than the contention::

    OPENBLAS_NUM_THREADS=1 python -m bench.seq_transformer --lib tapegrad
    python -m bench.seq_transformer --lib torch --threads 1
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time

import numpy as np

D_MODEL, HEADS, FF, SEQ, BATCH = 128, 4, 512, 64, 16


def _setup(lib_name, causal):
    lib = importlib.import_module(lib_name)
    nn = importlib.import_module(lib_name + ".nn")
    lib.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, dim_feedforward=FF, batch_first=True)
    x = lib.tensor(np.random.default_rng(0).standard_normal((BATCH, SEQ, D_MODEL)).astype(np.float32))
    mask = nn.Transformer.generate_square_subsequent_mask(SEQ) if causal else None
    return layer, x, mask


def _step(state):
    layer, x, mask = state
    layer.zero_grad()
    layer(x, src_mask=mask).sum().backward()


def measure(lib_name, rounds=15, per_round=5, threads=None, causal=False):
    """Median and quartiles of the milliseconds per forward+backward step."""
    if threads is not None and lib_name == "torch":
        importlib.import_module("torch").set_num_threads(threads)
    state = _setup(lib_name, causal)
    for _ in range(3):  # warm-up: allocator, BLAS, caches
        _step(state)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(per_round):
            _step(state)
        times.append((time.perf_counter() - t0) / per_round * 1e3)
    q = statistics.quantiles(times, n=4)
    return {"lib": lib_name, "median_ms": round(statistics.median(times), 3),
            "q1_ms": round(q[0], 3), "q3_ms": round(q[2], 3), "rounds": rounds, "causal": causal,
            "shape": {"d_model": D_MODEL, "nhead": HEADS, "dim_feedforward": FF, "seq": SEQ,
                      "batch": BATCH}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lib", choices=("tapegrad", "torch"), required=True)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--per-round", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (torch only)")
    p.add_argument("--causal", action="store_true", help="pass the square subsequent mask as src_mask")
    a = p.parse_args(argv)
    print(json.dumps(measure(a.lib, a.rounds, a.per_round, a.threads, a.causal)))


if __name__ == "__main__":
    main()

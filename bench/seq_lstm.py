"""Word-language-model LSTM step: 2 layers, hidden 200, input 200, 35 steps, batch 20.

Times ONE library per process (``--lib tapegrad`` or ``--lib torch``), so neither pays for
the other's import or thread pool: forward, a sum loss and backward, repeated in several
rounds; prints ``{"lib": ..., "median_ms": ..., ...}`` as JSON. Compare the two medians
from two runs on the same machine::

    python -m bench.seq_lstm --lib torch
    python -m bench.seq_lstm --lib tapegrad
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time

import numpy as np

SEQ, BATCH, INPUT, HIDDEN, LAYERS = 35, 20, 200, 200, 2


def _setup(lib_name):
    lib = importlib.import_module(lib_name)
    nn = importlib.import_module(lib_name + ".nn")
    lib.manual_seed(0)
    model = nn.LSTM(INPUT, HIDDEN, LAYERS)
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((SEQ, BATCH, INPUT)).astype(np.float32))
    h0 = lib.zeros(LAYERS, BATCH, HIDDEN)
    return model, x, (h0, h0.clone())


def _step(state):
    model, x, hx = state
    model.zero_grad()
    out, (h, c) = model(x, hx)
    (out.sum() + h.sum() + c.sum()).backward()


def measure(lib_name, rounds=15, per_round=5, threads=None):
    """Median and quartiles of the milliseconds per forward+backward step."""
    if threads is not None and lib_name == "torch":
        importlib.import_module("torch").set_num_threads(threads)
    state = _setup(lib_name)
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
            "q1_ms": round(q[0], 3), "q3_ms": round(q[2], 3), "rounds": rounds,
            "shape": {"seq": SEQ, "batch": BATCH, "input": INPUT, "hidden": HIDDEN, "layers": LAYERS}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lib", choices=("tapegrad", "torch"), required=True)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--per-round", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (torch only)")
    a = p.parse_args(argv)
    print(json.dumps(measure(a.lib, a.rounds, a.per_round, a.threads)))


if __name__ == "__main__":
    main()

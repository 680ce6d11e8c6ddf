"""Per-sample gradients of a small MLP (``func.vmap(func.grad(loss))``) vs a Python loop.

Workloads (tapegrad / torch ratio, informational):

* ``psg_vmap``: ``vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)`` over a batch of 64
  with ``tapegrad.func`` and ``torch.func``;
* ``psg_loop``: the same per-sample gradients, one ``grad(loss)`` call per sample, stacked
  into the same per-parameter ``(64, *shape)`` tensors (so both produce the same output:
  materializing 64 copies of the gradient, 6.7 MB here, is part of the job either way).

The figure the issue asks for, tapegrad's vmap against tapegrad's own loop (required: at
least 10x faster), is printed by ``python -m bench.func [--quick]`` (:func:`speedup`).
"""
from __future__ import annotations

import importlib

import numpy as np

from ._harness import Config, Impl, Workload, register, time_interleaved

BATCH, IN, HIDDEN, CLASSES = 64, 64, 128, 10


def _setup(libname):
    lib = importlib.import_module(libname)
    nn = importlib.import_module(libname + ".nn")
    F = importlib.import_module(libname + ".nn.functional")
    fn = importlib.import_module(libname + ".func")
    lib.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                          nn.Linear(HIDDEN, CLASSES))
    params = {k: v.detach() for k, v in model.named_parameters()}
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((BATCH, IN)).astype(np.float32))
    y = lib.tensor(rng.integers(0, CLASSES, BATCH).astype(np.int64))

    def loss_fn(p, xi, yi):
        out = fn.functional_call(model, p, (xi.unsqueeze(0),))
        return F.cross_entropy(out, yi.unsqueeze(0))

    return fn, loss_fn, params, x, y


def vmap_setup(libname):
    fn, loss_fn, params, x, y = _setup(libname)
    return fn.vmap(fn.grad(loss_fn), in_dims=(None, 0, 0)), params, x, y


def vmap_step(state):
    psg, params, x, y = state
    psg(params, x, y)


def loop_setup(libname):
    fn, loss_fn, params, x, y = _setup(libname)
    return fn.grad(loss_fn), params, x, y, importlib.import_module(libname).stack


def loop_step(state):
    """One grad call per sample, stacked into the same (64, *param.shape) tensors vmap returns."""
    g, params, x, y, stack = state
    grads = [g(params, x[i], y[i]) for i in range(x.shape[0])]
    return {k: stack([d[k] for d in grads]) for k in params}


register(Workload(
    "psg_vmap", f"per-sample grads, MLP {IN}-{HIDDEN}-{HIDDEN}-{CLASSES}, batch {BATCH}: "
    "func.vmap(func.grad(loss))",
    {lib: Impl(lambda lib=lib: vmap_setup(lib), vmap_step) for lib in ("tapegrad", "torch")}))

register(Workload(
    "psg_loop", f"per-sample grads, MLP {IN}-{HIDDEN}-{HIDDEN}-{CLASSES}, batch {BATCH}: "
    "a Python loop of func.grad(loss)",
    {lib: Impl(lambda lib=lib: loop_setup(lib), loop_step) for lib in ("tapegrad", "torch")},
    max_rounds=15))


def speedup(config: Config | None = None, lib: str = "tapegrad") -> dict:
    """loop time / vmap time for ``lib`` (timed interleaved); the issue asks for >= 10."""
    config = config or Config.make(quick=True)
    res = time_interleaved({"vmap": Impl(lambda: vmap_setup(lib), vmap_step),
                            "loop": Impl(lambda: loop_setup(lib), loop_step)}, config,
                           max_rounds=15, max_seconds=10.0)
    out = {k: v for k, v in res.items()}
    if hasattr(res.get("vmap"), "median") and hasattr(res.get("loop"), "median"):
        out["speedup"] = res["loop"].median / res["vmap"].median
    return out


if __name__ == "__main__":  # python -m bench.func [--quick]
    import sys

    cfg = Config.make(quick="--quick" in sys.argv)
    for name in ("tapegrad", "torch"):
        try:
            r = speedup(cfg, name)
        except ImportError as exc:
            print(f"{name}: skipped ({exc})")
            continue
        v, lp = r.get("vmap"), r.get("loop")
        if "speedup" in r:
            print(f"{name}: vmap {v.median * 1e3:.2f} ms, loop {lp.median * 1e3:.2f} ms, "
                  f"loop/vmap = {r['speedup']:.1f}x")
        else:
            print(f"{name}: {r}")

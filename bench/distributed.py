"""Data-parallel workloads: ResNet-18 training steps on 2 MPI ranks vs 1 process.

``ddp_resnet18_step`` runs, for the same global batch (GLOBAL x 3x32x32, SGD momentum):

* 1 process with 2 BLAS threads (``OMP_NUM_THREADS=2``, plain model);
* 2 ranks x 1 thread under ``mpiexec`` (``DistributedDataParallel``, each rank half the
  batch), through ``tapegrad.distributed.run``.

In the 2-rank child it also times backward without communication (``no_sync``) and a
blocking all-reduce of every gradient on its own, which give the fraction of the
all-reduce hidden behind backward: ``1 - (bwd_ddp - bwd_no_sync) / allreduce``.
tapegrad only (torch's DDP is not measured). Run by itself:

    python -m bench.distributed            # prints the JSON of one measurement
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from ._harness import Workload, register

GLOBAL = 16
SIZE = 32


def _model_and_data(lib, batch, seed=0):
    lib.manual_seed(seed)
    from tapegrad.vision.models import resnet18
    model = resnet18(num_classes=10)
    g = lib.Generator().manual_seed(seed)
    x = lib.randn(batch, 3, SIZE, SIZE, generator=g)
    y = lib.randint(0, 10, (batch,), generator=g)
    return model, x, y


def _timed(fn, steps):
    out = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def child_single(steps):
    import tapegrad as lib
    model, x, y = _model_and_data(lib, GLOBAL)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    step()
    return {"step_s": _timed(step, steps)}


def child_ddp(steps):
    import numpy as np

    import tapegrad as lib
    import tapegrad.distributed as dist
    from tapegrad.nn.parallel import DistributedDataParallel
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    model, x, y = _model_and_data(lib, GLOBAL)
    part = slice(rank * GLOBAL // world, (rank + 1) * GLOBAL // world)
    x, y = x[part], y[part]
    ddp = DistributedDataParallel(model)
    opt = lib.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss()
    timings = {"step": [], "backward": [], "backward_no_sync": [], "allreduce": []}

    def step():
        opt.zero_grad()
        loss = loss_fn(ddp(x), y)
        dist.barrier()
        t = time.perf_counter()
        loss.backward()
        timings["backward"].append(time.perf_counter() - t)
        opt.step()

    def backward_no_sync():
        opt.zero_grad()
        with ddp.no_sync():
            loss = loss_fn(ddp(x), y)
            dist.barrier()
            t = time.perf_counter()
            loss.backward()
            timings["backward_no_sync"].append(time.perf_counter() - t)

    # one array the size of all gradients: what DDP's buckets reduce in a step
    flat = np.concatenate([p.detach().numpy().reshape(-1) for p in model.parameters()])

    def allreduce():
        dist.barrier()
        t = time.perf_counter()
        dist.all_reduce(lib.from_numpy(flat))
        timings["allreduce"].append(time.perf_counter() - t)

    step()
    for key in timings:
        timings[key].clear()
    for _ in range(steps):
        dist.barrier()
        t = time.perf_counter()
        step()
        timings["step"].append(time.perf_counter() - t)
        backward_no_sync()
        allreduce()
    med = {k: statistics.median(v) for k, v in timings.items()}
    if rank == 0:
        hidden = 1 - (med["backward"] - med["backward_no_sync"]) / med["allreduce"]
        print(json.dumps({"step_s": med["step"], "backward_s": med["backward"],
                          "backward_no_sync_s": med["backward_no_sync"],
                          "allreduce_s": med["allreduce"], "allreduce_mb": flat.nbytes / 1e6,
                          "hidden_fraction": hidden, "world": world}), flush=True)
    dist.destroy_process_group()


def run_pair(steps):
    """Both configurations, one after the other; returns the merged numbers."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, OMP_NUM_THREADS="2")
    single = subprocess.run([sys.executable, "-m", "bench.distributed", "--child", "single",
                             str(steps)], cwd=here, env=env, capture_output=True, text=True,
                            timeout=600, check=True)
    from tapegrad.distributed.run import launch
    env["OMP_NUM_THREADS"] = "1"
    ddp = launch(2, ["-m", "bench.distributed", "--child", "ddp", str(steps)], timeout=600,
                 cwd=here, env=dict(env, OMPI_ALLOW_RUN_AS_ROOT="1",
                                    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1"),
                 capture_output=True, text=True)
    if ddp.returncode:
        raise RuntimeError(f"the 2-rank run failed:\n{ddp.stderr[-2000:]}")
    one = json.loads(single.stdout.strip().splitlines()[-1])
    two = json.loads(ddp.stdout.strip().splitlines()[-1])
    return {"one_rank_2_threads_step_s": one["step_s"], "two_ranks_1_thread": two,
            "speedup": one["step_s"] / two["step_s"]}


def measure(config, libs) -> dict:
    out = {}
    for lib in libs:
        if lib != "tapegrad":
            out[lib] = {"error": "not measured (tapegrad-only workload)"}
            continue
        try:
            res = run_pair(3 if config.quick else 8)
        except Exception as exc:  # noqa: BLE001
            out[lib] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        out[lib] = dict(res, median=res["two_ranks_1_thread"]["step_s"])
    return out


register(Workload(
    "ddp_resnet18_step",
    f"ResNet-18 training step, global batch {GLOBAL}x3x{SIZE}x{SIZE}: 2 MPI ranks x 1 thread "
    f"(DistributedDataParallel) vs 1 process x 2 threads; all-reduce time hidden behind backward",
    impls={}, measure=measure))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        kind, steps = sys.argv[2], int(sys.argv[3])
        if kind == "single":
            print(json.dumps(child_single(steps)))
        else:
            child_ddp(steps)
    else:
        print(json.dumps(run_pair(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=2))

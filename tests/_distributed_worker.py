"""Rank-side checks for tests/test_distributed.py, run under mpiexec.

    mpiexec -n N python tests/_distributed_worker.py SCENARIO [SCENARIO ...]

Each scenario asserts on every rank and prints ``PASS <scenario> rank <r>``; a failed
assertion is an uncaught exception, which tapegrad.distributed turns into an abort
of all ranks (so the launching test sees a non-zero status and the traceback).
Every rank can rebuild every other rank's inputs (seeded by rank), so the NumPy
references and the one-process reference runs need no communication.
"""
from __future__ import annotations

import copy
import sys

import numpy as np

import tapegrad as torch
import tapegrad.distributed as dist
from tapegrad import nn

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
OPS = ["SUM", "AVG", "PRODUCT", "MIN", "MAX"]


def data(rank, dtype, shape=(2, 3), salt=0):
    rng = np.random.default_rng(1000 * salt + rank)
    a = rng.integers(0, 3 if dtype != "bool" else 2, shape)   # small: products stay exact
    return a.astype(dtype)


def tensor(a):
    return torch.from_numpy(np.array(a))


def expect_error(kind, text, fn):
    try:
        fn()
    except kind as e:
        assert text in str(e), (text, str(e))
        return str(e)
    raise AssertionError(f"expected {kind.__name__} containing {text!r}")


def numpy_reduce(op, stacked, world):
    if stacked.dtype == bool:
        return {"SUM": np.any, "MAX": np.any, "PRODUCT": np.all, "MIN": np.all}[op](stacked, axis=0)
    if op == "AVG":
        return (stacked.sum(axis=0) / world).astype(stacked.dtype)
    fn = {"SUM": np.sum, "PRODUCT": np.prod, "MIN": np.min, "MAX": np.max}[op]
    return fn(stacked, axis=0).astype(stacked.dtype)


def scenario_collectives(rank, world):
    for salt, dtype in enumerate(DTYPES):
        every = np.stack([data(r, dtype, salt=salt) for r in range(world)])
        for op in OPS:
            t = tensor(every[rank])
            if op == "AVG" and dtype[0] != "f":
                expect_error(
                    RuntimeError, "can't be cast", lambda t=t: dist.all_reduce(t, op=dist.ReduceOp.AVG)
                )
                continue
            dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
            np.testing.assert_array_equal(t.numpy(), numpy_reduce(op, every, world), err_msg=f"{op} {dtype}")
            assert t.numpy().dtype == np.dtype(dtype)
        for src in range(world):
            t = tensor(every[rank])
            dist.broadcast(t, src)
            np.testing.assert_array_equal(t.numpy(), every[src])
        outs = [tensor(np.zeros_like(every[0])) for _ in range(world)]
        dist.all_gather(outs, tensor(every[rank]))
        for r in range(world):
            np.testing.assert_array_equal(outs[r].numpy(), every[r])
        flat = tensor(np.zeros((world * 2, 3), dtype))
        dist.all_gather_into_tensor(flat, tensor(every[rank]))
        np.testing.assert_array_equal(flat.numpy(), every.reshape(world * 2, 3))
        stacked = tensor(np.zeros((world, 2, 3), dtype))
        dist.all_gather_into_tensor(stacked, tensor(every[rank]))
        np.testing.assert_array_equal(stacked.numpy(), every)
        # reduce_scatter: rank r's input list is data(r, ..., salt=10+i) for output i
        inputs = np.stack([np.stack([data(r, dtype, salt=100 + i) for i in range(world)])
                           for r in range(world)])
        for op in ("SUM", "MAX") if dtype != "bool" else ("MAX",):
            out = tensor(np.zeros((2, 3), dtype))
            dist.reduce_scatter(out, [tensor(a) for a in inputs[rank]], op=getattr(dist.ReduceOp, op))
            np.testing.assert_array_equal(out.numpy(), numpy_reduce(op, inputs[:, rank], world))
            out = tensor(np.zeros((2, 3), dtype))
            dist.reduce_scatter_tensor(out, tensor(inputs[rank].reshape(world * 2, 3)),
                                       op=getattr(dist.ReduceOp, op))
            np.testing.assert_array_equal(out.numpy(), numpy_reduce(op, inputs[:, rank], world))
        root = world - 1
        gl = [tensor(np.zeros((2, 3), dtype)) for _ in range(world)] if rank == root else None
        dist.gather(tensor(every[rank]), gl, dst=root)
        if rank == root:
            for r in range(world):
                np.testing.assert_array_equal(gl[r].numpy(), every[r])
        out = tensor(np.zeros((2, 3), dtype))
        dist.scatter(out, [tensor(a) for a in inputs[0]] if rank == 0 else None, src=0)
        np.testing.assert_array_equal(out.numpy(), inputs[0, rank])
        if dtype != "bool":
            t = tensor(every[rank])
            dist.reduce(t, dst=0)
            if rank == 0:
                np.testing.assert_array_equal(t.numpy(), numpy_reduce("SUM", every, world))
            else:
                np.testing.assert_array_equal(t.numpy(), every[rank])
        # a ring of point-to-point messages
        nxt, prv = (rank + 1) % world, (rank - 1) % world
        sending = dist.isend(tensor(every[rank]), nxt)
        got = tensor(np.zeros((2, 3), dtype))
        assert dist.recv(got, prv) == prv
        sending.wait()
        np.testing.assert_array_equal(got.numpy(), every[prv])
    print(f"PASS collectives rank {rank}", flush=True)


def scenario_async(rank, world):
    xs = [torch.full((1000,), float(rank + i)) for i in range(3)]
    works = [dist.all_reduce(x, async_op=True) for x in xs]
    works.append(dist.barrier(async_op=True))
    assert all(isinstance(w, dist.Work) for w in works)
    assert all(w.wait() for w in works) and all(w.is_completed() for w in works)
    base = sum(range(world))
    for i, x in enumerate(xs):
        assert x.numpy().tolist() == [float(base + world * i)] * 1000
    # a non-contiguous tensor is staged and written back on wait()
    m = torch.arange(12.).reshape(3, 4) * (rank + 1)
    col = m.t()[1]
    w = dist.all_reduce(col, async_op=True)
    assert w.wait()
    scale = sum(r + 1 for r in range(world))
    assert m[:, 1].tolist() == [1.0 * scale, 5.0 * scale, 9.0 * scale], m
    assert m[:, 0].tolist() == [0.0, 4.0 * (rank + 1), 8.0 * (rank + 1)]
    assert dist.all_reduce(torch.ones(2)) is None
    w = dist.irecv(torch.zeros(3), (rank - 1) % world)
    dist.send(torch.ones(3) * rank, (rank + 1) % world)
    w.wait()
    print(f"PASS async rank {rank}", flush=True)


def scenario_errors(rank, world):
    msg = expect_error(
        RuntimeError,
        "differ across ranks",
        lambda: dist.all_gather([torch.zeros(2 + r) for r in range(world)], torch.ones(2 + rank)),
    )
    msg = expect_error(RuntimeError, "differ across ranks",
                       lambda: dist.all_gather_into_tensor(torch.zeros(world * 3), torch.ones(2 + rank)))
    msg = expect_error(RuntimeError, "differ across ranks", lambda: dist.all_reduce(torch.ones(3 + rank)))
    assert "rank 0: float32[3]" in msg and "rank 1: float32[4]" in msg, msg
    dt = torch.float32 if rank == 0 else torch.float64
    msg = expect_error(
        RuntimeError, "differ across ranks", lambda: dist.broadcast(torch.ones(3, dtype=dt), 0)
    )
    assert "float64[3]" in msg
    expect_error(RuntimeError, "invalid tensor at index 1",
                 lambda: dist.all_gather([torch.zeros(2), torch.zeros(3)] + [torch.zeros(2)] * (world - 2),
                                         torch.ones(2)))
    expect_error(
        RuntimeError, f"expected length {world}", lambda: dist.all_gather([torch.zeros(2)], torch.ones(2))
    )
    # a bad argument on one rank only: that rank names it, the others stop instead of waiting
    short = [torch.zeros(2)] * (world - 1 if rank == 0 else world)
    msg = expect_error(RuntimeError, "all_gather", lambda: dist.all_gather(short, torch.ones(2)))
    assert ("expected length" in msg) if rank == 0 else ("rank(s) [0] passed invalid" in msg), msg
    expect_error(
        RuntimeError, "world_size", lambda: dist.all_gather_into_tensor(torch.zeros(7), torch.ones(3))
    )
    expect_error(ValueError, "invalid source rank", lambda: dist.broadcast(torch.ones(2), world))
    expect_error(ValueError, "should not be the same", lambda: dist.send(torch.ones(2), rank))
    expect_error(ValueError if rank == 0 else RuntimeError,
                 "must be specified on destination" if rank == 0 else "rank(s) [0] passed invalid",
                 lambda: dist.gather(torch.ones(2), dst=0))
    dist.barrier()
    # a message of the wrong size is reported by recv, not truncated silently
    if rank == 0:
        dist.send(torch.ones(5), 1)
    elif rank == 1:
        expect_error(RuntimeError, "expected 12 bytes", lambda: dist.recv(torch.zeros(3), 0))
    dist.barrier()
    print(f"PASS errors rank {rank}", flush=True)


# ---- DistributedDataParallel -------------------------------------------------------------

def sgd(params):
    return torch.optim.SGD(params, lr=0.1, momentum=0.9)


def train_pair(rank, world, make, batch, steps, loss_fn, per_rank, ddp_kwargs=None):
    """Train a DDP replica on this rank's slice and a reference on the whole batch; compare."""
    torch.manual_seed(0)
    reference = make()
    replica = copy.deepcopy(reference)
    if rank:                       # DDP must make every rank start from rank 0's values
        with torch.no_grad():
            for p in replica.parameters():
                p.add_(1.0)
    model = nn.parallel.DistributedDataParallel(replica, **(ddp_kwargs or {}))
    model.train(), reference.train()
    opt_ref, opt = sgd(reference.parameters()), sgd(model.parameters())
    for step in range(steps):
        x, y = batch(step, per_rank * world)
        opt_ref.zero_grad()
        loss_fn(reference(x), y).backward()
        opt_ref.step()
        part = slice(rank * per_rank, (rank + 1) * per_rank)
        opt.zero_grad()
        loss_fn(model(x[part]), y[part]).backward()
        opt.step()
    ours, theirs = model.module.state_dict(), reference.state_dict()
    assert list(model.state_dict()) == ["module." + k for k in ours]
    worst = 0.0
    for k in theirs:
        a, b = ours[k].double().numpy(), theirs[k].double().numpy()
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=k)
        worst = max(worst, float(np.abs(a - b).max()) if a.size else 0.0)
    return worst


def mlp():
    return nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3))


def mlp_batch(step, n):
    g = torch.Generator().manual_seed(step)
    return torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def scenario_ddp_mlp(rank, world):
    ce = nn.CrossEntropyLoss()
    worst = train_pair(rank, world, mlp, mlp_batch, 4, ce, per_rank=4)
    # tiny buckets: several all-reduces in flight during one backward
    worst = max(worst, train_pair(rank, world, mlp, mlp_batch, 3, ce, per_rank=4,
                                  ddp_kwargs=dict(bucket_cap_mb=0.001)))
    print(f"PASS ddp_mlp rank {rank} worst {worst:.2e}", flush=True)


def image_batch(step, n):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 5, (n,), generator=g)


def scenario_ddp_resnet(rank, world):
    """ResNet-18 with SyncBatchNorm on N x 2 images == BatchNorm2d on 2N images, in float64.

    (In float32 the two differ by rounding amplified through 20 batch norms over a few
    values each; float64 shows the arithmetic is the same.) Only rank 0 trains the
    one-process reference, then broadcasts its state: the other ranks would only
    duplicate its work on an oversubscribed machine.
    """
    from tapegrad.vision.models import resnet18
    ce = nn.CrossEntropyLoss()
    torch.manual_seed(0)
    reference = resnet18(num_classes=5).double()
    replica = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(reference))
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in replica.modules()) == 20
    model = nn.parallel.DistributedDataParallel(replica)
    opt_ref, opt = sgd(reference.parameters()), sgd(model.parameters())
    per_rank = 2
    for step in range(2):
        x, y = image_batch(step, per_rank * world)
        x = x.double()
        if rank == 0:
            opt_ref.zero_grad()
            ce(reference(x), y).backward()
            opt_ref.step()
        part = slice(rank * per_rank, (rank + 1) * per_rank)
        opt.zero_grad()
        ce(model(x[part]), y[part]).backward()
        opt.step()
    ours, theirs = model.module.state_dict(), reference.state_dict()
    worst = 0.0
    for k in theirs:
        dist.broadcast(theirs[k], 0)
        a, b = ours[k].double().numpy(), theirs[k].double().numpy()
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8, err_msg=k)
        worst = max(worst, float(np.abs(a - b).max()))
    print(f"PASS ddp_resnet rank {rank} worst {worst:.2e}", flush=True)


def scenario_ddp_features(rank, world):
    ce = nn.CrossEntropyLoss()
    # no_sync: two local backwards, then one synchronised: the average of the sums
    torch.manual_seed(0)
    net = mlp()
    local = copy.deepcopy(net)
    model = nn.parallel.DistributedDataParallel(net)
    x, y = mlp_batch(rank, 8)
    with model.no_sync():
        ce(model(x[:4]), y[:4]).backward()
    before = [p.grad.clone() for p in model.parameters()]
    ce(model(x[4:]), y[4:]).backward()
    ce(local(x[:4]), y[:4]).backward()
    ce(local(x[4:]), y[4:]).backward()
    for p, q, _b in zip(model.parameters(), local.parameters(), before, strict=True):
        expected = q.grad.clone()
        dist.all_reduce(expected, op=dist.ReduceOp.AVG)
        np.testing.assert_allclose(p.grad.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    # in no_sync the gradients stayed local (they differ across ranks)
    spread = before[0].clone()
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    assert not np.allclose(spread.numpy(), before[0].numpy()) or rank == 0 or world == 1

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Linear(4, 4)
            self.rank0_only = nn.Linear(4, 4)
            self.never = nn.Linear(4, 4)

        def forward(self, x, use):
            h = self.trunk(x)
            return self.rank0_only(h) if use else h

    torch.manual_seed(1)
    model = nn.parallel.DistributedDataParallel(Branchy(), find_unused_parameters=True)
    x = torch.ones(2, 4) * (rank + 1)
    for _ in range(2):   # twice: the reducer is ready for the next iteration
        model.zero_grad()
        model(x, rank == 0).sum().backward()
    assert model.module.never.weight.grad is None          # unused everywhere: untouched
    g = model.module.rank0_only.weight.grad.clone()
    assert g is not None
    ref = Branchy()
    ref.load_state_dict(model.module.state_dict())
    ref(torch.ones(2, 4), True).sum().backward()
    np.testing.assert_allclose(g.numpy(), ref.rank0_only.weight.grad.numpy() / world, rtol=1e-5)
    # without find_unused_parameters, an unused parameter is reported at the next forward
    strict = nn.parallel.DistributedDataParallel(Branchy())
    strict(x, False).sum().backward()
    msg = expect_error(RuntimeError, "Expected to have finished reduction", lambda: strict(x, False))
    assert "rank0_only.weight" in msg and "never.bias" in msg, msg
    # the same architecture on every rank is required
    expect_error(RuntimeError, "differ across ranks",
                 lambda: nn.parallel.DistributedDataParallel(nn.Linear(3, 3 + rank)))
    print(f"PASS ddp_features rank {rank}", flush=True)


def scenario_fault(rank, world):
    dist.barrier()
    if rank == world - 1:
        raise ValueError("deliberate failure on the last rank")
    dist.all_reduce(torch.ones(3))     # the other ranks wait here until the abort
    print(f"UNREACHABLE rank {rank}", flush=True)


def main(names):
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    for name in names:
        globals()["scenario_" + name](rank, world)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])

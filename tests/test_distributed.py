"""tapegrad.distributed, DistributedDataParallel and SyncBatchNorm across real processes.

The rank-side checks live in tests/_distributed_worker.py; each launch here runs a set
of them under the mpiexec of this environment (the `distributed` extra, installed by
`make test`), with a timeout that kills the whole job, so a hang fails instead of
blocking. Launches: 2 ranks, 4 ranks (oversubscribed on a 2-core machine), a failing
rank, and the docs' example through `python -m tapegrad.distributed.run`.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

import tapegrad as torch
import tapegrad.distributed as dist
from tapegrad.distributed import run as launcher

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORKER = str(ROOT / "tests" / "_distributed_worker.py")
SCENARIOS = {2: ["collectives", "async", "errors", "ddp_mlp", "ddp_features", "ddp_resnet"],
             4: ["collectives", "async", "errors", "ddp_mlp", "ddp_features", "ddp_resnet"]}
TIMEOUT_S = 240


def _launch(nprocs, argv, timeout=TIMEOUT_S):
    try:
        return launcher.launch(nprocs, argv, timeout=timeout, capture_output=True, text=True,
                               cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{nprocs} ranks ran past {timeout} s (a hang?)\n{e.stdout}\n{e.stderr}")


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def world(request):
    n = request.param
    result = _launch(n, [WORKER] + SCENARIOS[n])
    assert result.returncode == 0, result.stdout + result.stderr
    return n, result.stdout


@pytest.mark.parametrize("scenario", SCENARIOS[2])
def test_scenario_passes_on_every_rank(world, scenario):
    n, out = world
    for rank in range(n):
        assert f"PASS {scenario} rank {rank}" in out, out


def test_mpiexec_is_this_environments():
    path = pathlib.Path(launcher.find_mpiexec())
    assert path.parent == pathlib.Path(sys.executable).parent, path


def test_failing_rank_aborts_every_rank_with_its_name():
    result = _launch(2, [WORKER, "fault"], timeout=60)
    assert result.returncode != 0
    assert "UNREACHABLE" not in result.stdout
    assert "rank 1 raised ValueError: deliberate failure on the last rank" in result.stderr
    assert "[rank 1] Traceback" in result.stderr


def test_launcher_runs_the_docs_example():
    cmd = [sys.executable, "-m", "tapegrad.distributed.run", "-n", "2", "--timeout", "200",
           "examples/ddp_digits.py", "--steps", "6"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rank 0 of 2" in result.stdout and "replicas agree: True" in result.stdout, result.stdout


def test_launcher_reports_timeout(tmp_path):
    script = tmp_path / "sleepy.py"
    script.write_text("import time\ntime.sleep(60)\n")
    result = subprocess.run([sys.executable, "-m", "tapegrad.distributed.run", "-n", "2",
                             "--timeout", "3", str(script)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 124 and "past --timeout 3 s" in result.stderr


# ---- in one process ------------------------------------------------------------------------

NOT_INIT = "Default process group has not been initialized, please make sure to call init_process_group."


@pytest.mark.parametrize("call", [
    lambda: dist.all_reduce(torch.ones(2)), lambda: dist.broadcast(torch.ones(2), 0),
    lambda: dist.get_rank(), lambda: dist.get_world_size(), lambda: dist.barrier(),
    lambda: dist.all_gather([torch.ones(2)], torch.ones(2)),
    lambda: torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2)),
    lambda: torch.utils.data.DistributedSampler(range(4))])
def test_before_init_process_group_is_torchs_error(call):
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="^" + NOT_INIT.replace(".", r"\.") + "$"):
        call()


def test_destroy_without_group():
    with pytest.raises(AssertionError, match="Process group cannot be None"):
        dist.destroy_process_group()


def test_reduce_op_reprs():
    assert repr(dist.ReduceOp.SUM) == "<RedOpType.SUM: 0>"
    assert [int(getattr(dist.ReduceOp, n)) for n in ("SUM", "AVG", "PRODUCT", "MIN", "MAX")] == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_sync_batchnorm_without_group_is_batchnorm():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(3)
    sync = torch.nn.SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(bn))[0]
    assert isinstance(sync, torch.nn.SyncBatchNorm) and sync.weight is bn.weight
    x = torch.randn(4, 3, 5, 5)
    ref = torch.nn.BatchNorm2d(3)
    assert torch.allclose(sync(x), ref(x))
    assert torch.allclose(sync.running_var, ref.running_var)
    with pytest.raises(ValueError, match=r"expected at least 2D input \(got 1D input\)"):
        sync(torch.ones(3))

"""``set_num_threads`` bounds NumPy's BLAS pool; the default follows affinity, cgroup quota and env."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import tapegrad
from tapegrad import _threads
from tapegrad.utils.data import DataLoader, Dataset

torch = pytest.importorskip("torch")


def _run(code, env=None, preexec=None):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})}, preexec_fn=preexec, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


REPORT = ("import json, tapegrad; from tapegrad import _threads; "
          "print(json.dumps([tapegrad.get_num_threads(), _threads.blas_threads()]))")


@pytest.fixture
def restore_threads():
    before = tapegrad.get_num_threads()
    yield
    tapegrad.set_num_threads(before)


def test_set_num_threads_bounds_the_blas_pool(restore_threads):
    tapegrad.set_num_threads(1)
    assert tapegrad.get_num_threads() == 1
    assert _threads.blas_threads() == 1


def test_restoring_the_count_resizes_the_pool_again(restore_threads):
    n = _threads.usable_cpus()
    tapegrad.set_num_threads(1)
    tapegrad.set_num_threads(n)
    assert tapegrad.get_num_threads() == n
    assert _threads.blas_threads() == n


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs in the affinity mask")
def test_the_default_follows_a_restricted_affinity_mask():
    one = sorted(os.sched_getaffinity(0))[0]
    env = {"OMP_NUM_THREADS": "", "MKL_NUM_THREADS": "", "OPENBLAS_NUM_THREADS": ""}
    threads, blas = _run(REPORT, env=env, preexec=lambda: os.sched_setaffinity(0, {one}))
    assert (threads, blas) == (1, 1)
    # and torch, the specification, agrees
    theirs = _run("import json, torch; print(json.dumps(torch.get_num_threads()))", env=env,
                  preexec=lambda: os.sched_setaffinity(0, {one}))
    assert theirs == threads


def test_omp_num_threads_set_before_import_is_respected():
    threads, blas = _run(REPORT, env={"OMP_NUM_THREADS": "1"})
    assert (threads, blas) == (1, 1)


@pytest.mark.parametrize("files, expected", [
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_cgroup_quota_v1_and_v2(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert _threads.cgroup_cpu_quota(str(tmp_path)) == expected


class _Threads(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return tapegrad.tensor([tapegrad.get_num_threads(), _threads.blas_threads()])


def test_dataloader_workers_run_one_thread_and_leave_the_parent_alone(restore_threads):
    before = (tapegrad.get_num_threads(), _threads.blas_threads())
    rows = [b.tolist() for b in DataLoader(_Threads(), batch_size=1, num_workers=2)]
    assert rows == [[[1, 1]], [[1, 1]]]
    assert (tapegrad.get_num_threads(), _threads.blas_threads()) == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
@pytest.mark.parametrize("name", ["set_num_threads", "set_num_interop_threads"])
def test_bad_counts_raise_what_torch_raises(name, bad):
    with pytest.raises(RuntimeError) as theirs:
        getattr(torch, name)(bad)
    with pytest.raises(RuntimeError) as ours:
        getattr(tapegrad, name)(bad)
    assert str(ours.value) == str(theirs.value)


def test_interop_threads_can_be_set_once_like_torch():
    code = ("import json, {m}\n"
            "{m}.set_num_interop_threads(3)\n"
            "try:\n    {m}.set_num_interop_threads(2); err = None\n"
            "except RuntimeError as e:\n    err = str(e)\n"
            "print(json.dumps([{m}.get_num_interop_threads(), err]))")
    assert _run(code.format(m="tapegrad")) == _run(code.format(m="torch"))


# --------------------------------------------------------------- under contention
@pytest.fixture
def adaptive(monkeypatch):
    state = _threads._adaptive
    monkeypatch.setattr(state, "enabled", True)
    monkeypatch.setattr(state, "last", None)
    monkeypatch.setattr(state, "current", 2)
    monkeypatch.setattr(_threads, "get_num_threads", lambda: 2)
    sizes = []
    monkeypatch.setattr(_threads, "_limit_blas", sizes.append)
    return sizes


def test_the_pool_shrinks_while_another_process_keeps_a_core_busy(adaptive):
    assert _threads.adapt(now=0.0, busy=100.0, own=10.0) is None      # first look: a baseline
    # 2 s later the machine was busy 4 CPU-seconds, 2 of them ours: another process used a core
    assert _threads.adapt(now=2.0, busy=104.0, own=12.0) == 1
    assert adaptive == [1]
    # and grows back when the other process is gone
    assert _threads.adapt(now=4.0, busy=106.0, own=14.0) == 2
    assert adaptive == [1, 2]


def test_a_window_in_which_this_process_mostly_waited_restores_the_pool(adaptive):
    _threads.adapt(now=0.0, busy=100.0, own=10.0)
    assert _threads.adapt(now=2.0, busy=104.0, own=12.0) == 1      # a core taken: one thread
    # taking turns with another program: in 2 s it used 2 CPU-seconds and we used 0.8
    assert _threads.adapt(now=4.0, busy=106.8, own=12.8) == 2
    assert adaptive == [1, 2]


def test_intermittent_load_on_the_other_core_keeps_both_threads(adaptive):
    # busy ourselves (2 CPU-seconds in 2 s), the others 1.4 CPU-seconds: 0.7 of a core
    _threads.adapt(now=0.0, busy=100.0, own=10.0)
    assert _threads.adapt(now=2.0, busy=103.4, own=12.0) == 2
    assert adaptive == []
    assert _threads.adapt(now=4.0, busy=107.3, own=14.0) == 1      # 0.95 of a core: taken


def test_the_machine_is_looked_at_only_every_few_seconds(adaptive):
    _threads.adapt(now=0.0, busy=100.0, own=10.0)
    assert _threads.adapt(now=0.5, busy=101.0, own=10.0) is None
    assert adaptive == []


def test_a_count_the_user_chose_stands(restore_threads):
    tapegrad.set_num_threads(2)
    assert not _threads._adaptive.enabled
    assert _threads.adapt() is None


def test_adaptive_sizing_can_be_turned_off():
    code = ("import json, tapegrad; from tapegrad import _threads; "
            "print(json.dumps(_threads._adaptive.enabled))")
    assert _run(code, env={"TAPEGRAD_ADAPTIVE_THREADS": "0"}) is False
    assert _run(code, env={"OMP_NUM_THREADS": "2"}) is False


def test_machine_busy_time_is_read_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 1000 20 0 10 0 0 0\ncpu0 50 0 25 500 10 0 5 0 0 0\n")
    assert _threads._machine_busy_seconds(str(stat)) == pytest.approx(160 / os.sysconf("SC_CLK_TCK"))

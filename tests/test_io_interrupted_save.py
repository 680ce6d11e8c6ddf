"""Saves killed mid-write: the next save to the same place removes what they left.

``tapegrad.io.save`` writes to ``.<name>.<16 hex digits>.tmp`` next to the
target and renames it over the target once complete, holding an exclusive
``flock`` on it meanwhile.  A SIGKILL leaves the temporary file behind (and
the target intact); the next save to the same target deletes temporary files
of that pattern that nobody holds locked, and nothing else.
"""
from __future__ import annotations

import fcntl
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tapegrad.io as tio
from tapegrad.io import _adapter

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock are POSIX")

A = _adapter.to_numpy


def T(arr):
    return _adapter.from_numpy(np.asarray(arr))


def _temps(directory: pathlib.Path, base: str):
    return sorted(
        p.name for p in directory.iterdir() if p.name.startswith(f".{base}.") and p.name.endswith(".tmp")
    )


def _env():
    src = str(pathlib.Path(tio.__file__).parents[2])
    return dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""),
                OPENBLAS_NUM_THREADS="1")


# The child writes the data.pkl record and the first storage record, says so,
# and then waits (inside the save) to be killed.
_STALLING_SAVER = r"""
import sys, time
import numpy as np
import tapegrad.io as tio
from tapegrad.io import _adapter, serialization

real = serialization._write_record

def stalling(zf, name, data):
    real(zf, name, data)
    if "/data/" in name:
        print("mid-write", flush=True)
        time.sleep(60)

serialization._write_record = stalling
tio.save({"w": _adapter.from_numpy(np.ones(1 << 20, np.float32)),
          "b": _adapter.from_numpy(np.zeros(10))}, sys.argv[1])
"""


def test_killed_save_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    path = tmp_path / "model.pt"
    tio.save({"w": T(np.arange(3.0))}, path)
    child = subprocess.Popen([sys.executable, "-c", _STALLING_SAVER, str(path)], stdout=subprocess.PIPE,
                             text=True, env=_env())
    try:
        assert child.stdout.readline().strip() == "mid-write"
        leftovers = _temps(tmp_path, "model.pt")
        assert len(leftovers) == 1 and (tmp_path / leftovers[0]).stat().st_size > 4 << 20
        # while the writer lives, its temporary file is left alone
        tio.save({"x": 1}, tmp_path / "model.pt")
        assert _temps(tmp_path, "model.pt") == leftovers
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    assert _temps(tmp_path, "model.pt") == leftovers  # the kill left it behind
    assert tio.load(path) == {"x": 1}  # and the target intact
    tio.save({"w": T(np.arange(4.0))}, path)
    assert _temps(tmp_path, "model.pt") == []
    np.testing.assert_array_equal(A(tio.load(path)["w"]), np.arange(4.0))


_LOOPING_SAVER = r"""
import sys
import numpy as np
import tapegrad.io as tio
from tapegrad.io import _adapter

w = _adapter.from_numpy(np.arange(4 << 20, dtype=np.float32))  # 16 MB
print("saving", flush=True)
step = 0
while True:
    tio.save({"w": w, "step": step}, sys.argv[1])
    step += 1
"""


def test_saves_killed_at_random_moments(tmp_path):
    path = tmp_path / "loop.pt"
    rng = random.Random(5)
    for _ in range(4):
        child = subprocess.Popen([sys.executable, "-c", _LOOPING_SAVER, str(path)], stdout=subprocess.PIPE,
                                 text=True, env=_env())
        try:
            assert child.stdout.readline().strip() == "saving"
            time.sleep(rng.uniform(0.02, 0.4))
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
        if path.exists():  # a kill never leaves a half-written target
            got = tio.load(path)
            np.testing.assert_array_equal(A(got["w"]), np.arange(4 << 20, dtype=np.float32))
        assert len(_temps(tmp_path, "loop.pt")) <= 1  # each run cleaned up after the previous ones
    tio.save({"done": True}, path)
    assert _temps(tmp_path, "loop.pt") == []
    assert tio.load(path) == {"done": True}


def test_cleanup_touches_only_our_own_abandoned_names(tmp_path):
    path = tmp_path / "m.pt"
    ours = [".m.pt.0123456789abcdef.tmp", ".m.pt.fedcba9876543210.tmp"]
    others = [".m.pt.0123456789ABCDEF.tmp", ".m.pt.0123.tmp", "m.pt.0123456789abcdef.tmp",
              ".m.pt.0123456789abcdef.tmp.bak", ".n.pt.0123456789abcdef.tmp", ".m.pt.0123456789abcdeg.tmp"]
    for name in ours + others:
        (tmp_path / name).write_bytes(b"partial")
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "sub", tmp_path / ".m.pt.00000000000000aa.tmp")
    tio.save([1], path)
    remaining = sorted(p.name for p in tmp_path.iterdir())
    assert remaining == sorted(others + [".m.pt.00000000000000aa.tmp", "m.pt", "sub"])


def test_a_locked_temp_file_belongs_to_a_live_writer(tmp_path):
    path = tmp_path / "m.pt"
    live = tmp_path / ".m.pt.00112233445566ff.tmp"
    live.write_bytes(b"being written")
    with open(live, "rb") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        tio.save([1], path)
        assert live.exists()
    tio.save([2], path)
    assert not live.exists()
    assert tio.load(path) == [2]


def test_safetensors_saves_clean_up_too(tmp_path):
    path = tmp_path / "w.safetensors"
    stale = tmp_path / ".w.safetensors.abcdefabcdefabcd.tmp"
    stale.write_bytes(b"x")
    tio.save_safetensors({"w": T(np.ones(2, np.float32))}, path)
    assert not stale.exists()

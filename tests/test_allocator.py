"""tapegrad raises glibc's malloc thresholds at import, unless told not to (see _allocator.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tapegrad import _allocator

CODE = "import tapegrad; from tapegrad import _allocator; print(_allocator.status)"


def _status(**env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TAPEGRAD_MALLOC", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    out = subprocess.run([sys.executable, "-c", CODE], env={**clean, **env}, capture_output=True,
                         text=True, check=True, timeout=120)
    return out.stdout.strip()


@pytest.mark.skipif(_allocator._glibc() is None, reason="glibc only")
def test_thresholds_are_raised_at_import_on_glibc():
    assert _status() == "tuned"


def test_the_opt_out_leaves_malloc_alone():
    assert _status(TAPEGRAD_MALLOC="default") == "left alone: TAPEGRAD_MALLOC=default"


def test_glibc_own_settings_win():
    assert _status(MALLOC_TRIM_THRESHOLD_="1000000") == \
        "left alone: glibc's MALLOC_*_THRESHOLD_ set in the environment"

"""Keep freed array memory in the process instead of handing it back to the OS at every op.

glibc's malloc serves a large request (a few MB: one float32 activation of a million
elements) with a fresh ``mmap`` and unmaps it on ``free``; below that it trims the top of
the heap once more than a small amount is free. A training step allocates and frees arrays
of the same sizes over and over, so each op pays page faults to touch memory the previous op
just returned: measured on the 1e6-element chain benchmark, half of the step time.

At import, on glibc, tapegrad therefore raises the mmap threshold and the trim threshold
(``mallopt``) so that such arrays are reused from the heap. The cost is memory kept after a
peak: up to ``TRIM`` bytes of free heap stay mapped. Opt out with
``TAPEGRAD_MALLOC=default`` in the environment; glibc's own ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_`` variables, when set, are respected and tapegrad changes nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

#: requests below this are served from the heap (glibc's default moves between 128 KiB and 32 MiB)
MMAP_THRESHOLD = 32 << 20
#: free memory at the top of the heap beyond this is returned to the OS
TRIM_THRESHOLD = 256 << 20

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: what :func:`tune` did: None (not run), "tuned", or why it left malloc alone
status: str | None = None


def _glibc():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl, macOS do not)
    except (OSError, AttributeError):
        return None
    return libc


def tune():
    """Raise glibc's mmap and trim thresholds unless opted out; return :data:`status`."""
    global status
    if os.environ.get("TAPEGRAD_MALLOC", "").lower() == "default":
        status = "left alone: TAPEGRAD_MALLOC=default"
    elif any(v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        status = "left alone: glibc's MALLOC_*_THRESHOLD_ set in the environment"
    else:
        libc = _glibc()
        if libc is None:
            status = "left alone: not glibc"
        elif libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and \
                libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD):
            status = "tuned"
        else:
            status = "left alone: mallopt refused"
    return status

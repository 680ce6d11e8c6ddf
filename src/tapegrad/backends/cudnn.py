"""``tapegrad.backends.cudnn``: cuDNN's switches; stored, never used (there is no GPU)."""
from __future__ import annotations

import contextlib

#: PyTorch's defaults for the module-level switches
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True
benchmark_limit = 10


def is_available() -> bool:
    """False: cuDNN is not part of this build."""
    return False


def version():
    """None, as PyTorch reports without cuDNN."""
    return None


def is_acceptable(tensor) -> bool:
    """False: no tensor can be handed to cuDNN."""
    return False


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, benchmark_limit=10, deterministic=False, allow_tf32=True):
    """Set the switches for the block and restore them after (``with cudnn.flags(enabled=False):``)."""
    g = globals()
    names = ("enabled", "benchmark", "benchmark_limit", "deterministic", "allow_tf32")
    saved = {n: g[n] for n in names}
    g.update(enabled=enabled, benchmark=benchmark, benchmark_limit=benchmark_limit,
             deterministic=deterministic, allow_tf32=allow_tf32)
    try:
        yield
    finally:
        g.update(saved)

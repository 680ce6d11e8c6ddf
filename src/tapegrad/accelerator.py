"""``tapegrad.accelerator``: the device-agnostic accelerator queries, answered for a CPU-only build.

``torch.accelerator.is_available()`` and ``current_accelerator()`` let code pick a device
without naming CUDA, MPS or XPU; here there is never an accelerator, so the queries say
so and the calls that need one raise PyTorch's error.
"""
from __future__ import annotations

_NONE = "Cannot access accelerator device when none is available."


def is_available() -> bool:
    """False: this build places data on the CPU only."""
    return False


def device_count() -> int:
    """0: no accelerator device exists."""
    return 0


def current_accelerator(check_available: bool = False):
    """The accelerator's ``device`` type, or None (always None here)."""
    return None


def _no_accelerator(*args, **kwargs):
    raise RuntimeError(_NONE)


# Each needs a current accelerator device; PyTorch raises the same RuntimeError without one.
current_device_index = current_device_idx = set_device_index = set_device_idx = _no_accelerator
synchronize = empty_cache = memory_allocated = max_memory_allocated = _no_accelerator
memory_reserved = max_memory_reserved = memory_stats = reset_peak_memory_stats = _no_accelerator
current_stream = set_stream = _no_accelerator

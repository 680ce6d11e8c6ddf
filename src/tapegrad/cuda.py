"""``tapegrad.cuda``: this build has no GPU backend, so every query says so.

Lets the common ``device = "cuda" if torch.cuda.is_available() else "cpu"`` line run.
"""


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed) -> None:
    """Accepted for compatibility (there is no CUDA generator to seed)."""


def manual_seed_all(seed) -> None:
    """Accepted for compatibility."""


def synchronize(device=None) -> None:
    """Nothing to wait for on the CPU."""


def empty_cache() -> None:
    """Nothing to free: no GPU memory is held."""


from ._legacy import CUDA_TYPES as _CUDA_TYPES  # noqa: E402

# ``torch.cuda.FloatTensor``...: named by old code; no tensor is one and none can be built
globals().update(_CUDA_TYPES)

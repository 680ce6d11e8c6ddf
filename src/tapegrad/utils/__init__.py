"""tapegrad.utils: like ``torch.utils`` (``tapegrad.utils.data`` holds datasets and loaders)."""
from . import data  # noqa: F401
from . import checkpoint  # noqa: F401

__all__ = ["data", "checkpoint"]

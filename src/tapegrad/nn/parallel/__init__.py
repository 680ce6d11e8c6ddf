"""tapegrad.nn.parallel: ``DistributedDataParallel`` (data parallelism across processes)."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]

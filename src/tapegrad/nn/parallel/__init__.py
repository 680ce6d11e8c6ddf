"""tapegrad.nn.parallel: ``DistributedDataParallel`` (data parallelism across processes) and
``DataParallel`` (on a CPU-only build, a wrapper that calls its module)."""
from .data_parallel import DataParallel, data_parallel
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]

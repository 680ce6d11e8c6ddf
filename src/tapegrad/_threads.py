"""How many threads tapegrad's array work may use: ``set_num_threads`` and its default.

All of tapegrad's heavy work runs in NumPy, whose matrix products run on its BLAS thread pool
(OpenBLAS in NumPy's wheels). ``set_num_threads(n)`` bounds that pool through
``threadpoolctl``, the maintained library for controlling BLAS and OpenMP pools at run time;
tapegrad starts no pool of its own.

The default is what this process may actually use, as PyTorch's is: ``OMP_NUM_THREADS`` (or
``MKL_NUM_THREADS``) when set, else the CPUs of the affinity mask (``os.sched_getaffinity``),
bounded by the cgroup CPU quota (``cpu.max`` on cgroup v2, ``cpu.cfs_quota_us`` on v1), where
``os.cpu_count()`` would count every CPU of the host. At import the pool is narrowed to the
default only when the default is below the pool's own size, so an unrestricted process pays
nothing.

Under contention. Measured on a 2-core machine (ResNet-18 training step, docs/benchmarks.md),
two BLAS threads beat one on a quiet machine (344 against 416 ms), but when another process
keeps a core busy two threads collapse (795 ms: they wait on each other) while one holds
(372 ms). So, unless the count was chosen (``set_num_threads``, ``OMP_NUM_THREADS``), the
pool follows the CPUs left free by other processes: at most every ``ADAPT_SECONDS``, when a
backward pass starts, :func:`adapt` reads the machine's busy time (``/proc/stat``) and this
process's own CPU time, takes their difference as the other processes' load, and sizes the
pool to the usable CPUs minus the CPUs that load takes (a CPU counts as taken from ``TAKEN``
= 0.9 of one busy; at least one thread stays). A window in which this process itself mostly
waited (under ``BUSY_SHARE`` of a CPU) gives the pool back its full size. Both rules come from
``bench/``, which alternates tapegrad and torch: the other side's turns averaged 0.5-0.8 of a
CPU of "load", the old rule (round the free CPUs) shrank the pool to one thread for work that
never met that load, and the LSTM step measured 58-79 ms against 52-55 ms with the pool
fixed. ``TAPEGRAD_ADAPTIVE_THREADS=0`` turns this off.

Inter-op threads: tapegrad runs one op at a time, so ``set_num_interop_threads`` only records
the number (with PyTorch's checks and its once-only rule) for code that reads it back.
"""
from __future__ import annotations

import math
import numbers
import os

_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_num_threads: int | None = None     # None: the default, computed on first use
#: seconds between two looks at the machine's load (see :func:`adapt`)
ADAPT_SECONDS = 2.0
#: a window counts only if this process used at least this share of one CPU in it
BUSY_SHARE = 0.75
#: the other processes' load (in CPUs) at which one CPU counts as taken
TAKEN = 0.9
_interop: int | None = None
_interop_fixed = False


def _check(n, name):
    # bool is an int to Python, not to PyTorch
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise RuntimeError(f"{name} expects an int, but got {type(n).__name__}")
    if n <= 0:
        raise RuntimeError(f"{name} expects a positive integer")
    return int(n)


def _read(path):
    try:
        with open(path) as f:
            return f.read().split()
    except (OSError, ValueError):
        return None


def cgroup_cpu_quota(root="/sys/fs/cgroup"):
    """CPUs granted by the cgroup quota (a float, e.g. 1.5), or None when unlimited or unknown."""
    v2 = _read(os.path.join(root, "cpu.max"))              # "max 100000" or "150000 100000"
    if v2 and len(v2) >= 2 and v2[0] != "max":
        try:
            return int(v2[0]) / int(v2[1])
        except (ValueError, ZeroDivisionError):
            return None
    quota = _read(os.path.join(root, "cpu", "cpu.cfs_quota_us"))   # -1: unlimited
    period = _read(os.path.join(root, "cpu", "cpu.cfs_period_us"))
    try:
        if quota and period and int(quota[0]) > 0:
            return int(quota[0]) / int(period[0])
    except (ValueError, ZeroDivisionError):
        pass
    return None


def usable_cpus():
    """CPUs this process may run on: its affinity mask, bounded by the cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):        # not on Linux
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        n = min(n, math.ceil(quota))
    return max(1, n)


def default_threads():
    """The thread count a process starts with: the environment's, else :func:`usable_cpus`."""
    for var in _ENV:
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return usable_cpus()


def _limit_blas(n):
    """Bound NumPy's BLAS (and any OpenMP) pool to ``n`` threads; False without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(limits=n)
    return True


def blas_threads():
    """The size of the BLAS pool as the library reports it (None without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    sizes = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return max(sizes) if sizes else None


def set_num_threads(n):
    """Use at most ``n`` threads for array work (NumPy's BLAS pool), like ``torch.set_num_threads``.

        >>> import tapegrad as torch
        >>> torch.set_num_threads(1)
        >>> torch.get_num_threads()
        1
    """
    global _num_threads
    n = _check(n, "set_num_threads")
    _limit_blas(n)
    _num_threads = n
    _adaptive.enabled = False   # the user's count stands


def get_num_threads():
    """The number of threads array work may use (see :func:`set_num_threads`)."""
    return _num_threads if _num_threads is not None else default_threads()


def set_num_interop_threads(n):
    """Record the inter-op thread count; like PyTorch, only once and before it is read."""
    global _interop, _interop_fixed
    n = _check(n, "set_num_interop_threads")
    if _interop_fixed:
        raise RuntimeError("Error: cannot set number of interop threads after parallel work has "
                           "started or set_num_interop_threads called")
    _interop, _interop_fixed = n, True


def get_num_interop_threads():
    """The inter-op thread count (tapegrad runs ops one at a time; this is only reported)."""
    return _interop if _interop is not None else default_threads()


def apply_default():
    """At import: narrow the BLAS pool to the default when it is smaller than the pool, and
    start following the machine's load (:func:`adapt`)."""
    n = default_threads()
    if n < (os.cpu_count() or 1):
        _limit_blas(n)
    _adaptive.start(n)


# ----------------------------------------------------------------------------- under contention
def _machine_busy_seconds(path="/proc/stat"):
    """CPU-seconds all CPUs have spent busy since boot, or None where unknown."""
    try:
        with open(path) as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)      # idle + iowait
    busy = sum(ticks[:8]) - idle                                # guest time is in user already
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds():
    t = os.times()
    return t.user + t.system


class _Adaptive:
    """The state of :func:`adapt`: when it last looked, and what it saw."""

    def __init__(self):
        self.enabled = False
        self.last = None          # (monotonic time, machine busy seconds, own cpu seconds)
        self.current = None       # the pool size adapt last set

    def start(self, usable):
        env = any(os.environ.get(v, "").strip() for v in _ENV)
        off = os.environ.get("TAPEGRAD_ADAPTIVE_THREADS", "").strip() == "0"
        self.enabled = usable > 1 and not env and not off and _machine_busy_seconds() is not None
        self.current = usable


_adaptive = _Adaptive()


def adapt(now=None, busy=None, own=None):
    """Resize the BLAS pool to the CPUs other processes leave free (see the module docstring).

    Called by the engine at the start of a backward pass; cheap when it is not yet time to
    look again. The arguments are for tests; normally they are read from the system.
    Returns the pool size it chose, or None when it did not look.
    """
    import time
    st = _adaptive
    if not st.enabled:
        return None
    now = time.monotonic() if now is None else now
    if st.last is not None and now - st.last[0] < ADAPT_SECONDS:
        return None
    busy = _machine_busy_seconds() if busy is None else busy
    own = _own_cpu_seconds() if own is None else own
    previous, st.last = st.last, (now, busy, own)
    if previous is None or busy is None:
        return None
    wall = now - previous[0]
    usable = get_num_threads()
    if own - previous[2] < BUSY_SHARE * wall:
        # this process mostly waited: the load it saw (another program taking turns with it,
        # a user between cells) is not the load its own work meets; start again from all
        n = usable
    else:
        others = ((busy - previous[1]) - (own - previous[2])) / wall
        # a CPU counts as taken only when others keep it busy nearly all the time
        n = max(1, min(usable, usable - int(others + 1.0 - TAKEN)))
    if n != st.current:
        _limit_blas(n)
        st.current = n
    return n

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

Inter-op threads: tapegrad runs one op at a time, so ``set_num_interop_threads`` only records
the number (with PyTorch's checks and its once-only rule) for code that reads it back.
"""
from __future__ import annotations

import math
import numbers
import os

_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_num_threads: int | None = None     # None: the default, computed on first use
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
    """At import: narrow the BLAS pool to the default when it is smaller than the pool."""
    n = default_threads()
    if n < (os.cpu_count() or 1):
        _limit_blas(n)

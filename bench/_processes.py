"""Each library in its own process, as users run them: the default mode of ``python -m bench``.

The parent starts one long-lived child per library (``python -m bench._processes LIB``); a
child imports only its own library, so the two never share a thread pool, an allocator or the
cores they spin on. For every workload the parent asks each child to set up, warm up and
calibrate, then runs rounds: one repetition in each child, the order alternating from round
to round (A B, B A, ...), with a short pause between hand-offs so that the finished side's
threads are asleep before the other side starts, and one untimed step before each timed
repetition so that it is measured warm, as in a training loop. The per-iteration times come back as JSON
lines and are summarised exactly as in the one-process mode (:func:`_harness.time_interleaved`).

``contention()`` starts a process that keeps one core busy for the duration of a run.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

from ._harness import Config, Stats, _describe

#: seconds between one library's repetition and the other's: longer than the ~0.11 s an OpenBLAS
#: worker thread spins after a call (measured here), so neither side runs into the other's spin
PAUSE = 0.15


class Child:
    """One library's process; ``ask`` sends a command and returns its JSON answer."""

    def __init__(self, lib: str):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.path.join(root, "src"),
                                                          env.get("PYTHONPATH")]))
        self.lib = lib
        self.proc = subprocess.Popen([sys.executable, "-m", "bench._processes", lib], cwd=root, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.info = self.ask({"cmd": "hello"})

    def ask(self, message: dict) -> dict:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.lib} benchmark process exited (code {self.proc.wait()})")
        return json.loads(line)

    def close(self):
        with contextlib.suppress(Exception):
            self.ask({"cmd": "quit"})
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()


def time_in_processes(children: dict, name: str, config: Config, *, max_rounds: int,
                      max_seconds: float) -> dict:
    """Time workload ``name`` in each child of ``children`` (lib -> Child), alternating."""
    out: dict = {}
    live: dict = {}
    for lib, child in children.items():
        answer = child.ask({"cmd": "setup", "workload": name, "config": config.__dict__})
        if "error" in answer:
            out[lib] = {"error": answer["error"]}
        else:
            live[lib] = answer["inner"]
    samples: dict = {lib: [] for lib in live}
    libs = list(live)
    rounds = max(config.min_rounds, int(round(max_rounds * config.round_scale)))
    budget = max_seconds * config.time_scale
    t_start = time.perf_counter()
    for r in range(rounds):
        for lib in (libs if r % 2 == 0 else libs[::-1]):
            if lib not in live:
                continue
            answer = children[lib].ask({"cmd": "rep"})
            if "error" in answer:
                out[lib] = {"error": answer["error"]}
                del live[lib]
            else:
                samples[lib].append(answer["seconds"])
            time.sleep(PAUSE)
        if r + 1 >= config.min_rounds and time.perf_counter() - t_start > budget:
            break
    for lib in children:
        children[lib].ask({"cmd": "drop"})
    for lib, inner in live.items():
        out[lib] = Stats.of(samples[lib], inner)
    return out


@contextlib.contextmanager
def contention(enabled: bool = True):
    """Keep one core busy with another process (a pure-Python spin) while the block runs."""
    if not enabled:
        yield None
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let the scheduler see it
        yield spinner
    finally:
        spinner.kill()
        spinner.wait()


# ---------------------------------------------------------------------------- the child
def _serve(lib: str) -> None:
    import gc
    import importlib

    from . import load_workloads
    from ._harness import _rep, prepare

    # replies go to the real stdout; anything a workload prints goes to stderr
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr
    module = importlib.import_module(lib)
    workloads = load_workloads()
    state = None
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        try:
            if cmd == "hello":
                reply = {"lib": lib, "version": getattr(module, "__version__", "?"),
                         "threads": module.get_num_threads(),
                         "interop_threads": module.get_num_interop_threads()}
            elif cmd == "setup":
                impl = workloads[msg["workload"]].impls[lib]
                st, n = prepare(impl, Config(**msg["config"]))
                state = (impl.step, st, n)
                reply = {"inner": n}
            elif cmd == "rep":
                step, st, n = state
                # a training loop runs its steps back to back; after the hand-off pause the
                # caches and the thread pool are cold, so one untimed step comes first
                step(st)
                reply = {"seconds": _rep(step, st, n)}
            elif cmd == "drop":
                state = None
                gc.collect()
                reply = {}
            elif cmd == "quit":
                print(json.dumps({}), file=replies, flush=True)
                return
            else:
                reply = {"error": f"unknown command {cmd!r}"}
        except Exception as exc:  # noqa: BLE001 - reported to the parent, not fatal
            state = None
            reply = {"error": _describe(exc)}
        print(json.dumps(reply), file=replies, flush=True)


if __name__ == "__main__":
    _serve(sys.argv[1])

"""What runs inside a DataLoader worker process, and what it shares with the main process.

A worker owns one duplex pipe to the main process. It receives ``(task_id, index)``
tasks and answers each with exactly one ``(task_id, kind, payload)`` reply, where kind
is ``"batch"`` (a :mod:`._transport` message), ``"error"`` (an :class:`ExceptionWrapper`)
or ``"exhausted"`` (its iterable dataset has ended). ``("epoch",)`` restarts an
iterable dataset's stream (persistent workers); ``None`` asks it to exit. One reply per
task keeps the main side's bookkeeping to a counter per worker.
"""
from __future__ import annotations

import os
import pickle
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from ... import _threads
from . import _transport

__all__ = ["WorkerInfo", "get_worker_info", "ExceptionWrapper"]

#: how often (seconds) an idle worker checks that the main process is still alive
_PARENT_CHECK_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """About the current DataLoader worker process (from :func:`get_worker_info`).

    Attributes:
        id: the worker's id, ``0`` to ``num_workers - 1``
        num_workers: how many workers the loader runs
        seed: the seed of this worker's tapegrad and ``random`` streams (``base_seed + id``)
        dataset: this process's own copy of the dataset
    """

    id: int
    num_workers: int
    seed: int
    dataset: object
    rng: object | None = None
    worker_method: str | None = "multiprocessing"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The :class:`WorkerInfo` of this worker process; ``None`` in the main process.

    Useful in an ``IterableDataset.__iter__`` or a ``worker_init_fn`` to shard the data.
    """
    return _worker_info


class _DatasetKind:
    """The two dataset protocols ``DataLoader`` serves."""

    Map = 0
    Iterable = 1

    @staticmethod
    def create_fetcher(kind, dataset, auto_collation, collate_fn, drop_last):
        """A function ``index -> batch`` for the dataset; it raises StopIteration at the end
        of an iterable dataset."""
        if kind == _DatasetKind.Map:
            return _map_fetcher(dataset, auto_collation, collate_fn)
        return _stream_fetcher(iter(dataset), auto_collation, collate_fn, drop_last)


def _map_fetcher(dataset, auto_collation, collate_fn):
    if not auto_collation:
        return lambda index: collate_fn(dataset[index])
    many = getattr(dataset, "__getitems__", None)
    if many:
        return lambda indices: collate_fn(many(indices))
    return lambda indices: collate_fn([dataset[i] for i in indices])


def _stream_fetcher(stream, auto_collation, collate_fn, drop_last):
    # Once the stream has ended every later call raises StopIteration too.
    finished = False

    def fetch(index):
        nonlocal finished
        if finished:
            raise StopIteration
        if not auto_collation:
            try:
                return collate_fn(next(stream))
            except StopIteration:
                finished = True
                raise
        # ``index`` is a list of placeholders; only its length matters
        samples = []
        for sample in stream:
            samples.append(sample)
            if len(samples) == len(index):
                break
        else:
            finished = True
            if not samples or drop_last:
                raise StopIteration
        return collate_fn(samples)

    return fetch


# ------------------------------------------------------------------------- errors
class KeyErrorMessage(str):
    """A message whose repr is itself: ``KeyError`` shows ``repr(args[0])``, which would
    turn the traceback's newlines into ``\\n``."""

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception and its formatted traceback, carried across processes.

    ``reraise()`` raises the same exception type in the main process with the message
    ``Caught <Type> <where>.\\nOriginal Traceback ...``. A type that cannot travel (one
    defined inside a function, say) or cannot be built from one message arrives as
    ``RuntimeError`` with that message.
    """

    def __init__(self, exc_info=None, where="in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        exc_type = exc_info[0]
        self.exc_type_name = exc_type.__name__
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where
        try:
            pickle.loads(pickle.dumps(exc_type))
            self.exc_type = exc_type
        except Exception:  # noqa: BLE001 - any failure means "cannot travel"
            self.exc_type = None

    def reraise(self):
        msg = f"Caught {self.exc_type_name} {self.where}.\nOriginal {self.exc_msg}"
        kind = self.exc_type
        if kind is None:
            raise RuntimeError(msg)
        if kind is KeyError:
            raise KeyError(KeyErrorMessage(msg))
        if getattr(kind, "message", None):  # exceptions whose constructor wants message=
            raise kind(message=msg)
        try:
            exc = kind(msg)
        except Exception:  # noqa: BLE001 - a constructor with other required arguments
            raise RuntimeError(msg) from None
        raise exc


# ------------------------------------------------------------------------- the worker
@dataclass
class WorkerSetup:
    """Everything a worker needs besides its pipe (pickled once per worker under spawn)."""

    dataset_kind: int
    dataset: object
    auto_collation: bool
    collate_fn: object
    drop_last: bool
    base_seed: int
    init_fn: object
    num_workers: int
    block_prefix: str
    shm_min_bytes: int | None


def _seed_everything(base_seed: int, worker_id: int) -> int:
    import tapegrad

    seed = base_seed + worker_id
    random.seed(seed)
    tapegrad.manual_seed(seed)
    # NumPy's legacy global stream too, so that ``np.random`` differs between workers
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))
    return seed


def _next_message(conn, parent_pid):
    """The next message from the main process; None (exit) if it has gone away."""
    try:
        while not conn.poll(_PARENT_CHECK_INTERVAL):
            if os.getppid() != parent_pid:
                return None
        return conn.recv()
    except (EOFError, OSError):
        return None


def worker_main(worker_id: int, conn, setup: WorkerSetup, parent_pid: int) -> None:
    """The body of worker process ``worker_id``: set up, then answer tasks until told to stop."""
    global _worker_info
    try:
        # as in torch: workers run side by side with the main process, one thread each
        _threads.set_num_threads(1)
        seed = _seed_everything(setup.base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=setup.num_workers, seed=seed,
                                  dataset=setup.dataset)
        where = f"in DataLoader worker process {worker_id}"
        packer = _transport.Packer(f"{setup.block_prefix}-w{worker_id}", setup.shm_min_bytes)

        def new_fetcher():
            return _DatasetKind.create_fetcher(setup.dataset_kind, setup.dataset, setup.auto_collation,
                                               setup.collate_fn, setup.drop_last)

        # A failed set-up is every task's answer: the main process re-raises it.
        failure = None
        try:
            if setup.init_fn is not None:
                setup.init_fn(worker_id)
            fetch = new_fetcher()
        except Exception:  # noqa: BLE001
            failure = ExceptionWrapper(where=where)

        while (message := _next_message(conn, parent_pid)) is not None:
            if message[0] == "epoch":
                if failure is None and setup.dataset_kind == _DatasetKind.Iterable:
                    try:
                        fetch = new_fetcher()
                    except Exception:  # noqa: BLE001
                        failure = ExceptionWrapper(where=where)
                continue
            task_id, index = message
            conn.send(_answer(task_id, index, fetch if failure is None else None, failure, packer, where))
    except KeyboardInterrupt:
        pass  # the main process gets the interrupt too and shuts the workers down
    except (BrokenPipeError, ConnectionResetError):
        pass  # the main process closed its end: nobody is listening any more
    finally:
        conn.close()


def _answer(task_id, index, fetch, failure, packer, where):
    if failure is not None:
        return task_id, "error", failure
    try:
        batch = fetch(index)
    except StopIteration:
        return task_id, "exhausted", None
    except Exception:  # noqa: BLE001
        return task_id, "error", ExceptionWrapper(where=where)
    try:
        return task_id, "batch", packer.pack(batch)
    except Exception:  # noqa: BLE001
        return task_id, "error", ExceptionWrapper(
            where=f"{where} (while pickling a batch to send it to the main process)")

"""What runs inside DataLoader worker processes (and the fetchers shared with the main process).

Mirrors ``torch.utils.data._utils.worker`` and ``fetch``: each worker seeds its
random generators from the loader's base seed, builds a fetcher, then answers
``(task_idx, index)`` requests from its index queue with ``(task_idx, batch)``
on the shared result queue until it receives ``None``.  Errors are sent back as
an :class:`ExceptionWrapper` that the main process re-raises.
"""
from __future__ import annotations

import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

#: seconds between liveness checks (workers check their parent; the main process its workers)
MP_STATUS_CHECK_INTERVAL = 1.0
#: how often an idle worker checks the shutdown event and that its parent is alive
_WORKER_POLL_INTERVAL = 0.1

__all__ = ["WorkerInfo", "get_worker_info", "ExceptionWrapper"]


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """Information about the current DataLoader worker process.

    Attributes:
        id: the worker's id (0 to ``num_workers - 1``)
        num_workers: the number of workers
        seed: the random seed set for this worker (``base_seed + id``)
        dataset: this process's copy of the dataset
    """

    id: int
    num_workers: int
    seed: int
    dataset: object
    rng: object | None = None
    worker_method: str | None = "multiprocessing"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The :class:`WorkerInfo` of the current DataLoader worker; ``None`` in the main process.

    Use it in an ``IterableDataset.__iter__`` or a ``worker_init_fn`` to give each worker
    its own part of the data.
    """
    return _worker_info


class KeyErrorMessage(str):
    """A str whose repr is itself (KeyError would otherwise repr its message)."""

    __slots__ = ()

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception and its formatted traceback, carried across processes."""

    def __init__(self, exc_info=None, where="in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_type_name = exc_info[0].__name__
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        """Raise ``exc_type("Caught <Type> <where>.\\nOriginal Traceback ...")`` (RuntimeError if
        the type cannot be built from one message), like PyTorch."""
        name = getattr(self, "exc_type_name", self.exc_type.__name__)
        msg = f"Caught {name} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


class _Pickled:
    """A batch the worker pickled itself, so that unpicklable data becomes an error, not a hang."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes):
        self.payload = payload

    def load(self):
        return pickle.loads(self.payload)


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    """Sent by a worker whose copy of an IterableDataset is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    """Sent to persistent workers when a new epoch starts."""

    seed: int | None = None


class _DatasetKind:
    Map = 0
    Iterable = 1

    @staticmethod
    def create_fetcher(kind, dataset, auto_collation, collate_fn, drop_last):
        if kind == _DatasetKind.Map:
            return _MapDatasetFetcher(dataset, auto_collation, collate_fn, drop_last)
        return _IterableDatasetFetcher(dataset, auto_collation, collate_fn, drop_last)


class _BaseDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last

    def fetch(self, possibly_batched_index):
        raise NotImplementedError


class _IterableDatasetFetcher(_BaseDatasetFetcher):
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        super().__init__(dataset, auto_collation, collate_fn, drop_last)
        self.dataset_iter = iter(dataset)
        self.ended = False

    def fetch(self, possibly_batched_index):
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            data = []
            for _ in possibly_batched_index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if len(data) == 0 or (self.drop_last and len(data) < len(possibly_batched_index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


class _MapDatasetFetcher(_BaseDatasetFetcher):
    def fetch(self, possibly_batched_index):
        if self.auto_collation:
            if hasattr(self.dataset, "__getitems__") and self.dataset.__getitems__:
                data = self.dataset.__getitems__(possibly_batched_index)
            else:
                data = [self.dataset[idx] for idx in possibly_batched_index]
        else:
            data = self.dataset[possibly_batched_index]
        return self.collate_fn(data)


def _generate_state(base_seed, worker_id):
    """PyTorch's NumPy seed for a worker: 4 32-bit words from (base_seed, worker_id)."""
    INIT_A, MULT_A = 0x43B0D7E5, 0x931E8875
    INIT_B, MULT_B = 0x8B51F9DD, 0x58F38DED
    MIX_MULT_L, MIX_MULT_R = 0xCA01F9DD, 0x4973F715
    XSHIFT = 4 * 8 // 2
    MASK32 = 0xFFFFFFFF

    entropy = [worker_id, base_seed & MASK32, base_seed >> 32, 0]
    pool = [0] * 4
    hash_const_A = INIT_A

    def hash(value):
        nonlocal hash_const_A
        value = (value ^ hash_const_A) & MASK32
        hash_const_A = (hash_const_A * MULT_A) & MASK32
        value = (value * hash_const_A) & MASK32
        value = (value ^ (value >> XSHIFT)) & MASK32
        return value

    def mix(x, y):
        result = ((MIX_MULT_L * x) & MASK32) - ((MIX_MULT_R * y) & MASK32)
        result &= MASK32
        return (result ^ (result >> XSHIFT)) & MASK32

    for i in range(len(pool)):
        pool[i] = hash(entropy[i])
    for i_src in range(len(pool)):
        for i_dst in range(len(pool)):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash(pool[i_src]))

    hash_const_B = INIT_B
    state = []
    for i_dst in range(4):
        data_val = pool[i_dst]
        data_val = (data_val ^ hash_const_B) & MASK32
        hash_const_B = (hash_const_B * MULT_B) & MASK32
        data_val = (data_val * hash_const_B) & MASK32
        data_val = (data_val ^ (data_val >> XSHIFT)) & MASK32
        state.append(data_val)
    return state


def _wrap_for_queue(data, worker_id):
    """Pickle ``data`` here, turning a pickling failure into an error for the main process."""
    if isinstance(data, (ExceptionWrapper, _IterableDatasetStopIteration)):
        return data
    try:
        return _Pickled(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        return ExceptionWrapper(where=f"in DataLoader worker process {worker_id} "
                                      "(while pickling a batch to send it to the main process)")


def _sendable_error(wrapper: ExceptionWrapper) -> ExceptionWrapper:
    # An exception class that cannot be pickled by reference (defined inside a
    # function, say) would make the queue drop the message silently; raise it as
    # a RuntimeError with the same text ("Caught LocalError in ...") instead.
    try:
        pickle.dumps(wrapper.exc_type)
    except Exception:
        wrapper.exc_type = RuntimeError
    return wrapper


class _ManagerWatchdog:
    """Tells a worker whether the process that started it is still alive."""

    def __init__(self):
        self.manager_pid = os.getppid()
        self.manager_dead = False

    def is_alive(self):
        if not self.manager_dead:
            self.manager_dead = os.getppid() != self.manager_pid
        return not self.manager_dead


class IndexChannel:
    """The main process's end of a worker's task pipe.

    A plain one-way ``Pipe`` rather than a ``multiprocessing.Queue``: sending is
    synchronous (tasks are small and at most ``prefetch_factor`` are in flight), so
    the main process runs no feeder threads (forking stays safe), nothing is lost
    when an iterator is finalized inside a garbage-collected reference cycle, and a
    worker that died makes sends fail instead of block.
    """

    def __init__(self, conn):
        self._conn = conn

    def put(self, obj) -> bool:
        try:
            self._conn.send(obj)
            return True
        except (OSError, ValueError):  # the worker is gone (or the pipe was closed)
            return False

    def close(self):
        try:
            self._conn.close()
        except OSError:  # pragma: no cover
            pass


def _get_task(conn, timeout):
    """The next task from the main process; ``queue.Empty`` on timeout, ``EOFError`` if it is gone."""
    if conn.poll(timeout):
        return conn.recv()
    raise queue.Empty


def _worker_loop(dataset_kind, dataset, index_queue, data_queue, done_event, auto_collation,
                 collate_fn, drop_last, base_seed, init_fn, worker_id, num_workers,
                 persistent_workers):
    try:
        import tapegrad

        seed = base_seed + worker_id
        random.seed(seed)
        tapegrad.manual_seed(seed)
        np.random.seed(_generate_state(base_seed, worker_id))

        global _worker_info
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)

        init_exception = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = _DatasetKind.create_fetcher(dataset_kind, dataset, auto_collation, collate_fn,
                                                  drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")

        iteration_end = False
        watchdog = _ManagerWatchdog()
        while watchdog.is_alive():
            try:
                r = _get_task(index_queue, _WORKER_POLL_INTERVAL)
            except queue.Empty:
                if done_event.is_set():
                    break
                continue
            except (EOFError, OSError):
                break  # the main process closed the channel or died
            if isinstance(r, _ResumeIteration):
                data_queue.put((r, None))
                iteration_end = False
                try:
                    fetcher = _DatasetKind.create_fetcher(dataset_kind, dataset, auto_collation,
                                                          collate_fn, drop_last)
                except Exception:
                    init_exception = ExceptionWrapper(
                        where=f"in DataLoader worker process {worker_id}")
                continue
            if r is None:
                break  # the main process is done with this worker
            if done_event.is_set() or iteration_end:
                continue  # only waiting for the final ``None``
            idx, index = r
            if init_exception is not None:
                data = init_exception
                init_exception = None
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and dataset_kind == _DatasetKind.Iterable:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            if isinstance(data, ExceptionWrapper):
                data = _sendable_error(data)
            else:
                data = _wrap_for_queue(data, worker_id)
                if isinstance(data, ExceptionWrapper):
                    data = _sendable_error(data)
            data_queue.put((idx, data))
            del data, idx, index, r
    except KeyboardInterrupt:
        pass  # the main process handles Ctrl-C
    if done_event.is_set():
        # Do not wait for the queue's feeder thread to flush into a pipe nobody reads.
        data_queue.cancel_join_thread()
        data_queue.close()

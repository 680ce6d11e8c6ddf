"""``DataLoader``: sampler -> index batches -> fetch + collate, here or in worker processes.

With ``num_workers > 0`` a :class:`_WorkerPool` owns the processes, one duplex pipe
each and nothing else: no queues, no feeder threads. The iterator hands out tasks
round robin (at most ``prefetch_factor * num_workers`` not yet delivered), waits on the
pipes *and* the process sentinels at once (so a dead worker is noticed as soon as it
dies, not by polling), reorders replies by task number and re-raises worker errors.
Batches arrive through shared memory (:mod:`._transport`).
"""
from __future__ import annotations

import itertools
import math
import multiprocessing
import multiprocessing.connection
import os
import secrets
import sys
import time
import warnings
import weakref
from typing import TYPE_CHECKING, Any

from ... import creation as _creation
from ... import dtypes as _dtypes
from . import _transport
from ._worker import WorkerSetup, _DatasetKind, get_worker_info, worker_main
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from ...creation import Generator
    from .dataset import Dataset

__all__ = ["DataLoader", "get_worker_info", "default_collate", "default_convert"]

#: seconds a shut-down worker gets to finish its current task before it is terminated
_JOIN_TIMEOUT = 2.0
#: attributes that define the batches and so are frozen once the loader exists
_FROZEN_ATTRIBUTES = frozenset({"batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                                "persistent_workers"})


def _default_context():
    # fork where it is safe: workers then see datasets defined anywhere, even in a function
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _usable_cpus():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


class _InfiniteConstantSampler(Sampler):
    """``None`` forever: the index stream of an iterable dataset, which ignores indices."""

    def __iter__(self):
        return itertools.repeat(None)


def _checked_prefetch_factor(num_workers, timeout, prefetch_factor, persistent_workers):
    if num_workers < 0:
        raise ValueError("num_workers option should be non-negative; "
                         "use num_workers=0 to disable multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError(
            "prefetch_factor option could only be specified in multiprocessing."
            "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
        )
    if num_workers > 0 and prefetch_factor is None:
        prefetch_factor = 2
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    return prefetch_factor


def _check_iterable_options(shuffle, sampler, batch_sampler):
    if shuffle not in {False, None}:
        raise ValueError(
            f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
        )
    if sampler is not None:
        raise ValueError(
            f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
        )
    if batch_sampler is not None:
        raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                         f"but got batch_sampler={batch_sampler}")


class DataLoader:
    """Iterates over batches of a dataset, like ``torch.utils.data.DataLoader``.

    Map-style datasets are read at the indices of ``sampler`` (``SequentialSampler``, or
    ``RandomSampler`` with ``shuffle=True``), grouped by ``batch_size`` into a
    ``BatchSampler`` and put together by ``collate_fn`` (``default_collate``);
    ``batch_size=None`` turns batching off (``default_convert`` then). Iterable datasets
    are read in order. With ``num_workers > 0`` the batches are made in worker processes
    (see ``worker_init_fn``, :func:`get_worker_info`, ``prefetch_factor``,
    ``persistent_workers``, ``timeout``, ``in_order``); ``pin_memory`` is accepted and has
    no effect (no accelerator).

    >>> import tapegrad
    >>> from tapegrad.utils.data import TensorDataset
    >>> ds = TensorDataset(tapegrad.arange(10.).reshape(5, 2), tapegrad.arange(5))
    >>> [y.tolist() for _, y in DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, dataset: Dataset | Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable[Any] | None = None,
                 batch_sampler: Sampler | Iterable[list[Any]] | None = None,
                 num_workers: int = 0, collate_fn: Callable[[list[Any]], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: str | multiprocessing.context.BaseContext | None = None,
                 generator: Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        iterable = isinstance(dataset, IterableDataset)
        prefetch_factor = _checked_prefetch_factor(num_workers, timeout, prefetch_factor, persistent_workers)
        if iterable:
            _check_iterable_options(shuffle, sampler, batch_sampler)
        if shuffle and sampler is not None:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if drop_last or shuffle or sampler is not None or batch_size != 1:
                raise ValueError("batch_sampler option is mutually exclusive "
                                 "with batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching "
                             "and is mutually exclusive with drop_last")

        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            else:
                sampler = (RandomSampler(dataset, generator=generator) if shuffle
                           else SequentialSampler(dataset))
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert

        # what the batches are
        self.dataset, self._dataset_kind = dataset, _DatasetKind.Iterable if iterable else _DatasetKind.Map
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self.batch_size, self.drop_last, self.collate_fn = batch_size, drop_last, collate_fn
        # how they are made
        self.num_workers, self.persistent_workers = num_workers, persistent_workers
        self.multiprocessing_context = multiprocessing_context  # checked against num_workers
        self.worker_init_fn, self.prefetch_factor, self.in_order = worker_init_fn, prefetch_factor, in_order
        self.timeout, self.pin_memory, self.pin_memory_device = timeout, pin_memory, pin_memory_device
        self._IterableDataset_len_called = None
        self._iterator = None
        self._initialized = True
        self.check_worker_number_rationality()

    # ------------------------------------------------------------------ attributes
    @property
    def multiprocessing_context(self) -> multiprocessing.context.BaseContext | None:
        return self._mp_context

    @multiprocessing_context.setter
    def multiprocessing_context(
            self, multiprocessing_context: str | multiprocessing.context.BaseContext | None) -> None:
        context = multiprocessing_context
        if context is not None and self.num_workers <= 0:
            raise ValueError(
                "multiprocessing_context can only be used with multi-process loading "
                f"(num_workers > 0), but got num_workers={self.num_workers}")
        if isinstance(context, str):
            methods = multiprocessing.get_all_start_methods()
            if context not in methods:
                raise ValueError(
                    "multiprocessing_context option should specify a valid start method in "
                    f"{methods!r}, but got multiprocessing_context={multiprocessing_context!r}")
            context = multiprocessing.get_context(context)
        elif context is not None and not isinstance(context, multiprocessing.context.BaseContext):
            raise TypeError(
                "multiprocessing_context option should be a valid context object or a string "
                f"specifying the start method, but got multiprocessing_context={multiprocessing_context}")
        self._mp_context = context

    def __setattr__(self, attr, val):
        if attr in _FROZEN_ATTRIBUTES and self.__dict__.get("_initialized", False):
            raise ValueError(
                f"{attr} attribute should not be set after {self.__class__.__name__} is initialized"
            )
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        """What the iterator draws from: index lists with batching, single indices without."""
        return self.batch_sampler if self._auto_collation else self.sampler

    # ------------------------------------------------------------------ iteration
    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        self.check_worker_number_rationality()
        return _MultiProcessingDataLoaderIter(self)

    def __iter__(self) -> Iterator[Any]:
        if not (self.persistent_workers and self.num_workers > 0):
            return self._get_iterator()
        if self._iterator is None:
            self._iterator = self._get_iterator()
        else:
            self._iterator._reset(self)
        return self._iterator

    def __len__(self) -> int:
        if self._dataset_kind == _DatasetKind.Map:
            return len(self._index_sampler)
        # remembered so that the iterator can warn if the dataset yields more than this
        samples = self._IterableDataset_len_called = len(self.dataset)
        if self.batch_size is None:
            return samples
        rounding = math.floor if self.drop_last else math.ceil
        return rounding(samples / self.batch_size)

    def check_worker_number_rationality(self) -> None:
        """Warn when ``num_workers`` exceeds the CPUs this process may use."""
        cpus = _usable_cpus()
        if not self.num_workers or (cpus is not None and self.num_workers <= cpus):
            return
        if cpus is None:
            suggested = (
                "DataLoader is not able to compute a suggested max number of worker in current system."
            )
        else:
            caveat = "" if hasattr(os, "sched_getaffinity") else " (`cpuset` is not taken into account)"
            suggested = (f"Our suggested max number of worker in current system is {cpus}{caveat}, "
                         "which is smaller than what this DataLoader is going to create.")
        warnings.warn(
            f"This DataLoader will create {self.num_workers} worker processes in total. "
            f"{suggested} Please be aware that excessive worker creation might get DataLoader "
            "running slow or even freeze, lower the worker number to avoid potential "
            "slowness/freeze if necessary.", stacklevel=2)


# ---------------------------------------------------------------------- iterators
class _BaseDataLoaderIter:
    """What both iterators share: the index stream, the length rules and the
    IterableDataset over-length warning."""

    def __init__(self, loader):
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._collate_fn = loader.collate_fn
        self._num_workers = loader.num_workers
        self._timeout = loader.timeout
        if loader.pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, "
                          "then device pinned memory won't be used.", stacklevel=3)
        # drawn from the loader's generator in both modes, so that a seeded loader shuffles
        # the same with and without workers
        self._base_seed = int(_creation.randint(0, (1 << 63) - 1, (), generator=loader.generator,
                                                dtype=_dtypes.int64).item())
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter=False):
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._index_sampler)

    def __getstate__(self):
        raise NotImplementedError(f"{self.__class__.__name__} cannot be pickled")

    def _next_data(self):
        raise NotImplementedError

    def __next__(self):
        data = self._next_data()
        self._num_yielded += 1
        promised = self._IterableDataset_len_called
        if (self._dataset_kind == _DatasetKind.Iterable and promised is not None
                and self._num_yielded > promised):
            message = (
                f"Length of IterableDataset {self._dataset} was reported to be {promised}"
                f"(when accessing len(dataloader)), but {self._num_yielded} samples have been fetched. "
            )
            if self._num_workers > 0:
                message += (
                    "For multiprocessing data-loading, this could be caused by not properly configuring "
                    "the IterableDataset replica at each worker. Please see "
                    "https://pytorch.org/docs/stable/data.html#torch.utils.data.IterableDataset "
                    "for examples."
                )
            warnings.warn(message, stacklevel=2)
        return data


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        if loader.timeout != 0:
            raise AssertionError("_SingleProcessDataLoaderIter requires timeout == 0")
        if loader.num_workers != 0:
            raise AssertionError("_SingleProcessDataLoaderIter requires num_workers == 0")
        super().__init__(loader)
        self._fetch = _DatasetKind.create_fetcher(self._dataset_kind, self._dataset, self._auto_collation,
                                                  self._collate_fn, self._drop_last)

    def _next_data(self):
        # both raise StopIteration at the end: the sampler's, or the iterable dataset's
        return self._fetch(next(self._sampler_iter))


class _WorkerPool:
    """The worker processes of one iterator and a pipe to each.

    ``outstanding[w]`` counts tasks sent to worker ``w`` and not answered yet (every task
    gets exactly one reply). :meth:`shutdown` is idempotent and also runs when the
    iterator is garbage collected or the interpreter exits.
    """

    def __init__(self, context, setup: WorkerSetup, num_workers: int):
        self.block_prefix = setup.block_prefix
        self.processes, self.pipes = [], []
        self.outstanding = [0] * num_workers
        self.closed = False
        try:
            for worker_id in range(num_workers):
                ours, theirs = context.Pipe(duplex=True)
                self.pipes.append(ours)
                proc = context.Process(target=worker_main, args=(worker_id, theirs, setup, os.getpid()),
                                       daemon=True)
                proc.start()
                self.processes.append(proc)
                theirs.close()  # so that only the worker holds its end
        except BaseException:
            self.shutdown()  # the workers that did start
            raise

    def submit(self, worker: int, task_id: int, index) -> None:
        try:
            self.pipes[worker].send((task_id, index))
        except OSError:
            self._raise_dead([worker])
        self.outstanding[worker] += 1

    def broadcast(self, message) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def _raise_dead(self, workers):
        pids = ", ".join(str(self.processes[w].pid) for w in workers)
        raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly")

    def receive(self, timeout):
        """Replies that arrive within ``timeout`` seconds (None: wait for one) as
        ``[(worker, (task_id, kind, payload))]``; [] on timeout."""
        busy = [w for w, n in enumerate(self.outstanding) if n]
        watched = [self.pipes[w] for w in busy] + [p.sentinel for p in self.processes]
        ready = set(multiprocessing.connection.wait(watched, timeout))
        replies, dead = [], []
        for w in busy:
            pipe = self.pipes[w]
            if pipe not in ready and self.processes[w].sentinel not in ready:
                continue
            try:
                if pipe.poll():
                    replies.append((w, pipe.recv()))
                    self.outstanding[w] -= 1
                elif not self.processes[w].is_alive():
                    dead.append(w)
            except (EOFError, OSError):  # a worker closes its pipe only when it exits
                dead.append(w)
        dead += [w for w, p in enumerate(self.processes) if p.sentinel in ready and not self.outstanding[w]]
        if dead and not replies:
            self._raise_dead(dead)
        return replies

    def shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass  # already gone
        # Read (and free) what the workers still send while they finish, so that none
        # blocks on a full pipe; terminate those still busy after the grace period.
        deadline = time.monotonic() + _JOIN_TIMEOUT
        live = {p.sentinel: w for w, p in enumerate(self.processes)}
        while live and (remaining := deadline - time.monotonic()) > 0:
            open_pipes = [self.pipes[w] for w in live.values() if not self.pipes[w].closed]
            for ready in multiprocessing.connection.wait(list(live) + open_pipes, remaining):
                if ready in live:
                    del live[ready]
                else:
                    self._drain(ready)
        for w in live.values():
            self.processes[w].terminate()
        for proc in self.processes:
            proc.join()
        for pipe in self.pipes:
            if not pipe.closed:
                self._drain(pipe)
                pipe.close()
        _transport.sweep(self.block_prefix)

    @staticmethod
    def _drain(pipe) -> None:
        try:
            while pipe.poll():
                _, kind, payload = pipe.recv()
                if kind == "batch":
                    _transport.discard(payload)
        except (EOFError, OSError):
            pipe.close()


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    """Batches from worker processes, delivered in sampler order (or as they come with
    ``in_order=False``).

    Task numbers grow across epochs; ``_epoch_start`` is the first of the current
    epoch, so replies to tasks of an abandoned epoch (persistent workers) are recognised
    and dropped when they arrive.
    """

    def __init__(self, loader):
        self._pool = None
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        if loader.num_workers <= 0:
            raise AssertionError("num_workers must be greater than 0 for MultiProcessingDataLoaderIter")
        if self._prefetch_factor <= 0:
            raise AssertionError("prefetch_factor must be greater than 0 for MultiProcessingDataLoaderIter")
        self._persistent_workers = loader.persistent_workers
        self._next_task = 0
        super().__init__(loader)

    def _start_pool(self, loader):
        setup = WorkerSetup(
            dataset_kind=self._dataset_kind, dataset=self._dataset, auto_collation=self._auto_collation,
            collate_fn=self._collate_fn, drop_last=self._drop_last, base_seed=self._base_seed,
            init_fn=loader.worker_init_fn, num_workers=self._num_workers,
            block_prefix=f"tapegrad-dl-{os.getpid()}-{secrets.token_hex(4)}",
            shm_min_bytes=_transport.SHARED_MEMORY_MIN_BYTES)
        context = loader.multiprocessing_context or _default_context()
        self._pool = _WorkerPool(context, setup, self._num_workers)
        self._finalizer = weakref.finalize(self, self._pool.shutdown)

    def _reset(self, loader, first_iter=False):
        super()._reset(loader, first_iter)
        if first_iter:
            self._start_pool(loader)
        elif self._dataset_kind == _DatasetKind.Iterable:
            self._pool.broadcast(("epoch",))  # each worker restarts its stream
        self._epoch_start = self._next_task
        self._delivered_upto = self._next_task  # in order: the next task to deliver
        self._ready = {}        # task_id -> (worker, kind, payload), received, not delivered
        self._undelivered = 0   # tasks of this epoch sent and not yet delivered or skipped
        self._sampler_done = False
        self._exhausted = set()  # workers whose iterable dataset has ended
        self._turn = itertools.cycle(range(self._num_workers))
        self._submit_more()

    @property
    def _workers(self):
        return self._pool.processes

    def _shutdown_workers(self):
        if self._pool is not None:
            self._pool.shutdown()

    def _pick_worker(self):
        if len(self._exhausted) == self._num_workers:
            return None
        while (w := next(self._turn)) in self._exhausted:
            pass
        return w

    def _submit_more(self):
        while not self._sampler_done and self._undelivered < self._prefetch_factor * self._num_workers:
            worker = self._pick_worker()
            if worker is None:
                return
            try:
                index = next(self._sampler_iter)
            except StopIteration:
                self._sampler_done = True
                return
            self._pool.submit(worker, self._next_task, index)
            self._next_task += 1
            self._undelivered += 1

    def _collect(self):
        replies = self._pool.receive(self._timeout if self._timeout > 0 else None)
        if not replies and self._timeout > 0:
            raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
        for worker, (task_id, kind, payload) in replies:
            if task_id < self._epoch_start:  # from an abandoned epoch
                if kind == "batch":
                    _transport.discard(payload)
                continue
            if kind == "batch":
                payload = _transport.unpack(payload)  # frees the shared block right away
            self._ready[task_id] = (worker, kind, payload)

    def _take_ready(self):
        if not self._in_order:
            return self._ready.pop(next(iter(self._ready))) if self._ready else None
        reply = self._ready.pop(self._delivered_upto, None)
        if reply is not None:
            self._delivered_upto += 1
        return reply

    def _next_data(self):
        while True:
            self._submit_more()
            reply = self._take_ready()
            if reply is None:
                if self._undelivered == 0:
                    if not self._persistent_workers:
                        self._shutdown_workers()
                    raise StopIteration
                self._collect()
                continue
            self._undelivered -= 1
            worker, kind, payload = reply
            if kind == "exhausted":
                self._exhausted.add(worker)
            elif kind == "error":
                payload.reraise()
            else:
                return payload

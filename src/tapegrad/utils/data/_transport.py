"""How a worker's batch reaches the main process: array bytes through shared memory.

A batch is pickled with a :class:`pickle.Pickler` whose ``persistent_id`` takes every
sizeable numeric NumPy array out of the stream (tensors pickle as their array, so they
are covered too) and leaves a small integer in its place. The arrays are then either

* written one after the other (64-byte aligned) into one file in ``/dev/shm`` (a
  *block*): the message holds only the block's name and each array's offset, dtype
  and shape; or
* appended to the message as they are, when they are small in total or there is no
  ``/dev/shm``: then the pipe carries them, pickled.

The main process maps the block, deletes its name at once (the memory lives on until
the last array that views it is freed, and nothing is left behind in ``/dev/shm``
whatever happens to the batch) and rebuilds the batch around zero-copy views of the
mapping. Blocks whose message was never read (an iterator dropped mid-epoch, a worker
killed while writing) are removed by :func:`sweep` when the workers are shut down.
"""
from __future__ import annotations

import io
import mmap
import os
import pickle

import numpy as np

#: where blocks are created; None where the platform has no tmpfs there
SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
#: batches whose arrays add up to fewer bytes travel through the pipe (cheaper than a file);
#: None sends every batch through the pipe
SHARED_MEMORY_MIN_BYTES: int | None = 32 * 1024
#: arrays smaller than this stay inside the pickle stream
_ARRAY_MIN_BYTES = 1024
_ALIGN = 64
_NUMERIC_KINDS = frozenset("biufc")


class _ArrayExtractingPickler(pickle.Pickler):
    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.arrays: list[np.ndarray] = []

    def persistent_id(self, obj):
        if (type(obj) is np.ndarray and obj.dtype.kind in _NUMERIC_KINDS
                and obj.nbytes >= _ARRAY_MIN_BYTES):
            self.arrays.append(obj)
            return len(self.arrays) - 1
        return None


class _ArrayRestoringUnpickler(pickle.Unpickler):
    def __init__(self, file, arrays):
        super().__init__(file)
        self._arrays = arrays

    def persistent_load(self, pid):
        return self._arrays[pid]


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _write_block(path: str, arrays: list) -> tuple:
    """Write ``arrays`` into a new file at ``path``; return (size, [(offset, dtype, shape)])."""
    layout, offset = [], 0
    for arr in arrays:
        layout.append((offset, arr.dtype.str, arr.shape))
        offset = _aligned(offset + arr.nbytes)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, offset)
        for arr, (start, _, _) in zip(arrays, layout, strict=True):
            view = memoryview(np.ascontiguousarray(arr)).cast("B")
            while view:  # pwrite may write less than asked for
                done = os.pwrite(fd, view, start)
                view, start = view[done:], start + done
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)
    return offset, layout


def _map_block(path: str, size: int, layout: list) -> list:
    fd = os.open(path, os.O_RDWR)
    try:
        buf = mmap.mmap(fd, size)
    finally:
        os.close(fd)
        os.unlink(path)
    return [np.frombuffer(buf, dtype=np.dtype(dt), count=int(np.prod(shape)), offset=start).reshape(shape)
            for start, dt, shape in layout]


class Packer:
    """The worker side: ``pack(batch)`` -> a small picklable message.

    ``block_prefix`` names this worker's blocks (``<prefix>-<n>``); with ``min_bytes`` None
    (or no ``/dev/shm``) every batch goes through the pipe.
    """

    def __init__(self, block_prefix: str, min_bytes: int | None = SHARED_MEMORY_MIN_BYTES):
        self._prefix = block_prefix
        self._min_bytes = min_bytes if SHM_DIR is not None else None
        self._count = 0

    def pack(self, batch):
        stream = io.BytesIO()
        pickler = _ArrayExtractingPickler(stream)
        pickler.dump(batch)
        arrays = pickler.arrays
        total = sum(a.nbytes for a in arrays)
        if self._min_bytes is None or not arrays or total < self._min_bytes:
            return stream.getvalue(), None, arrays
        self._count += 1
        name = f"{self._prefix}-{self._count}"
        size, layout = _write_block(os.path.join(SHM_DIR, name), arrays)
        return stream.getvalue(), name, (size, layout)


def unpack(message):
    """The main process's side of :meth:`Packer.pack`: the batch, its block (if any) freed."""
    skeleton, block, arrays = message
    if block is not None:
        size, layout = arrays
        arrays = _map_block(os.path.join(SHM_DIR, block), size, layout)
    return _ArrayRestoringUnpickler(io.BytesIO(skeleton), arrays).load()


def discard(message) -> None:
    """Free a message's block without rebuilding the batch."""
    block = message[1]
    if block is not None:
        try:
            os.unlink(os.path.join(SHM_DIR, block))
        except FileNotFoundError:
            pass


def sweep(prefix: str) -> None:
    """Delete any block left whose name starts with ``prefix``."""
    if SHM_DIR is None:
        return
    for name in os.listdir(SHM_DIR):
        if name.startswith(prefix):
            try:
                os.unlink(os.path.join(SHM_DIR, name))
            except FileNotFoundError:
                pass

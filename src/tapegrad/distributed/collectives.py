"""Collectives and point-to-point messages over MPI, on tensors' NumPy arrays.

Every operation is started with MPI's non-blocking call and returns a :class:`Work`;
the blocking form is that work waited on at once, so there is one code path per
operation. A tensor's array goes to MPI as a buffer, never pickled; a non-contiguous
tensor is staged through a contiguous copy that ``wait()`` writes back.

Public collectives first check, with one small ``Allgather``, that every rank passes
the same shape and dtype, so that a mismatch is an error on every rank rather than a
buffer overrun or a hang. (DDP's bucket reductions skip it: its buckets are built
identically everywhere.)
"""
from __future__ import annotations

import enum

import numpy as np

from ._group import _default, _State

__all__ = ["ReduceOp", "Work", "all_reduce", "broadcast", "all_gather", "all_gather_into_tensor",
           "reduce_scatter", "reduce_scatter_tensor", "reduce", "gather", "scatter", "send",
           "recv", "isend", "irecv", "barrier"]


class RedOpType(enum.IntEnum):
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7
    PREMUL_SUM = 8


class ReduceOp:
    """How ``all_reduce``/``reduce``/``reduce_scatter`` combine the ranks' values."""

    RedOpType = RedOpType


for _member in RedOpType:
    setattr(ReduceOp, _member.name, _member)


class Work:
    """The handle of a started operation: ``wait()`` blocks until it is done (and returns True)."""

    _truncated = None   # on a receive: the error to raise when the message was too long

    def __init__(self, requests, finish=()):
        self._requests = list(requests)
        self._finish = list(finish)
        self._statuses = None
        self._done = False

    def _complete(self):
        for step in self._finish:
            step()
        self._finish = []
        self._done = True

    def wait(self, timeout=None) -> bool:
        if not self._done:
            MPI = _State.MPI
            self._statuses = [MPI.Status() for _ in self._requests]
            try:
                MPI.Request.Waitall(self._requests, self._statuses)
            except MPI.Exception as e:
                if self._truncated is None or e.Get_error_class() not in (MPI.ERR_TRUNCATE,
                                                                          MPI.ERR_IN_STATUS):
                    raise
                raise self._truncated() from None
            self._complete()
        return True

    def is_completed(self) -> bool:
        if not self._done:
            MPI = _State.MPI
            statuses = [MPI.Status() for _ in self._requests]
            if MPI.Request.Testall(self._requests, statuses):
                self._statuses = statuses
                self._complete()
        return self._done

    def is_success(self) -> bool:
        return self.is_completed()

    def result(self):
        self.wait()
        return []


def _finish(work: Work, async_op: bool):
    if async_op:
        return work
    work.wait()
    return None


# ---- arrays ---------------------------------------------------------------------------

def _array(tensor):
    from ..tensor import Tensor
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected a tapegrad.Tensor, got {type(tensor).__name__}")
    return tensor._data


def _contiguous(arr):
    # (np.ascontiguousarray would turn a 0-d tensor's array into a 1-d one)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _staged(tensor):
    """(contiguous buffer, steps that publish it into ``tensor``) for an output tensor."""
    arr = _array(tensor)
    if arr.flags.c_contiguous and arr.flags.writeable:
        return arr, []
    buf = arr.copy(order="C")

    def publish():
        tensor._data[...] = buf
    return buf, [publish]


def _describe(dtype, shape):
    return f"{np.dtype(dtype).name}{list(shape)}"


_DTYPE_CODES = {np.dtype(n): i for i, n in enumerate(
    ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"))}
_MAX_DIMS = 8


def _signature(arr):
    shape = arr.shape
    if len(shape) > _MAX_DIMS:   # fold the tail: still equal exactly when the shapes are
        shape = shape[:_MAX_DIMS - 1] + (int(np.prod(shape[_MAX_DIMS - 1:])),)
    sig = np.full(_MAX_DIMS + 2, -1, dtype=np.int64)
    sig[0] = _DTYPE_CODES.get(arr.dtype, 99)
    sig[1] = len(shape)
    sig[2:2 + len(shape)] = shape
    return sig


def _check_same(name, group, arr, local_check=None):
    """Raise on every rank unless all ranks pass arrays of one shape and dtype.

    ``local_check`` validates this rank's other arguments; its verdict travels with the
    shapes, so that an error on one rank is an error on all of them, not a rank left
    waiting in a collective that the others never join.
    """
    problem = None
    if local_check is not None:
        try:
            local_check()
        except (RuntimeError, ValueError) as e:
            problem = e
    sig = np.append(_signature(arr), 0 if problem is None else 1)
    every = np.empty((group.size(), sig.size), dtype=np.int64)
    group.comm.Allgather(sig, every)
    shapes = every[:, :-1]
    if not (shapes == shapes[0]).all():
        codes = {v: k for k, v in _DTYPE_CODES.items()}
        parts = []
        for r, row in enumerate(shapes):
            dims = row[2:2 + row[1]].tolist()
            parts.append(f"rank {r}: {_describe(codes.get(int(row[0]), 'V'), dims)}")
        raise RuntimeError(f"{name}: the tensors differ across ranks ({', '.join(parts)}); every "
                           f"rank must pass the same shape and dtype")
    if problem is not None:
        raise problem
    failed = np.flatnonzero(every[:, -1]).tolist()
    if failed:
        raise RuntimeError(f"{name}: rank(s) {failed} passed invalid arguments (see the error "
                           f"there); this rank stops too")


def _check_list(name, what, tensors, shape, dtype, count):
    if len(tensors) != count:
        raise RuntimeError(f"{name}: invalid {what} (expected length {count}, got {len(tensors)})")
    for i, t in enumerate(tensors):
        a = _array(t)
        if a.shape != tuple(shape) or a.dtype != dtype:
            raise RuntimeError(f"{name}: invalid tensor at index {i} of {what} (expected "
                               f"{_describe(dtype, shape)}, got {_describe(a.dtype, a.shape)})")


def _check_rank(name, role, r, group):
    if not isinstance(r, int) or not 0 <= r < group.size():
        raise ValueError(f"{name}: invalid {role} rank {r} (the world has ranks 0 .. "
                         f"{group.size() - 1})")
    return r


# ---- reductions -----------------------------------------------------------------------

def _reduction(op, dtype, world):
    """(MPI op, how to view the buffer, post-step on the result or None) for ``op`` on ``dtype``."""
    MPI = _State.MPI
    op = RedOpType(op)
    kind = np.dtype(dtype).kind
    if op is RedOpType.PREMUL_SUM:
        raise NotImplementedError("ReduceOp.PREMUL_SUM is not supported by tapegrad.distributed")
    if kind == "b":
        # MPI reduces logical values with LOR/LAND only; on 0/1 bytes MAX and MIN are those.
        table = {RedOpType.SUM: MPI.MAX, RedOpType.MAX: MPI.MAX, RedOpType.BOR: MPI.MAX,
                 RedOpType.PRODUCT: MPI.MIN, RedOpType.MIN: MPI.MIN, RedOpType.BAND: MPI.MIN,
                 RedOpType.BXOR: MPI.BXOR}
        if op not in table:
            raise RuntimeError("result type Float can't be cast to the desired output type Bool")
        return table[op], np.uint8, None
    if op in (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR) and kind == "f":
        raise RuntimeError(f"ReduceOp.{op.name} is defined for integer and bool tensors only")
    if op is RedOpType.AVG:
        if kind != "f":
            raise RuntimeError(f"result type Float can't be cast to the desired output type "
                               f"{_TORCH_INT_NAMES[np.dtype(dtype).name]}")

        def average(buf):
            np.divide(buf, world, out=buf, casting="unsafe")
        return MPI.SUM, None, average
    table = {RedOpType.SUM: MPI.SUM, RedOpType.PRODUCT: MPI.PROD, RedOpType.MIN: MPI.MIN,
             RedOpType.MAX: MPI.MAX, RedOpType.BAND: MPI.BAND, RedOpType.BOR: MPI.BOR,
             RedOpType.BXOR: MPI.BXOR}
    return table[op], None, None


_TORCH_INT_NAMES = {"uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int",
                    "int64": "Long"}


def _start_allreduce(group, buf, op, post=()):
    """Start an in-place all-reduce of the contiguous ``buf``; ``post`` runs after it lands."""
    mpi_op, as_type, after = _reduction(op, buf.dtype, group.size())
    raw = buf.view(as_type) if as_type is not None else buf
    req = group.comm.Iallreduce(_State.MPI.IN_PLACE, raw, op=mpi_op)
    steps = ([lambda: after(buf)] if after else []) + list(post)
    return Work([req], steps)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Combine ``tensor`` across ranks in place: every rank ends with the reduced value.

    >>> dist.all_reduce(t)                       # doctest: +SKIP
    >>> dist.all_reduce(t, op=dist.ReduceOp.MAX, async_op=True).wait()  # doctest: +SKIP
    """
    g = _default(group)
    buf, publish = _staged(tensor)
    _check_same("all_reduce", g, buf)
    return _finish(_start_allreduce(g, buf, op, publish), async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into every other rank's ``tensor``."""
    g = _default(group)
    root = _check_rank("broadcast", "source", src if src is not None else group_src, g)
    buf, publish = _staged(tensor)
    _check_same("broadcast", g, buf)
    return _finish(Work([g.comm.Ibcast(_bytes(buf), root=root)], publish), async_op)


def _bytes(buf):
    """A byte view: broadcast, gather and point-to-point only move data, whatever its dtype."""
    return buf.reshape(-1).view(np.uint8)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank (same shapes everywhere)."""
    g = _default(group)
    src = _contiguous(_array(tensor))
    _check_same("all_gather", g, src, lambda: _check_list(
        "all_gather", "output tensor list", tensor_list, src.shape, src.dtype, g.size()))
    out = np.empty((g.size(),) + src.shape, dtype=src.dtype)
    req = g.comm.Iallgather(_bytes(src), _bytes(out))

    def scatter_out():
        for t, part in zip(tensor_list, out, strict=True):
            t._data[...] = part
    return _finish(Work([req], [scatter_out]), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Concatenate the ranks' ``input_tensor`` along dim 0 (or stack them) into ``output_tensor``."""
    g = _default(group)
    src = _contiguous(_array(input_tensor))
    buf, publish = _staged(output_tensor)

    def check():
        if buf.size != src.size * g.size() or buf.dtype != src.dtype:
            raise RuntimeError(f"all_gather_into_tensor: output tensor must hold world_size "
                               f"({g.size()}) times the input: expected "
                               f"{src.size * g.size()} elements of {src.dtype.name}, got "
                               f"{_describe(buf.dtype, buf.shape)}")
    _check_same("all_gather_into_tensor", g, src, check)
    return _finish(Work([g.comm.Iallgather(_bytes(src), _bytes(buf))], publish), async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input_list[r]`` across ranks into rank r's ``output``."""
    g = _default(group)
    buf, publish = _staged(output)
    _check_same("reduce_scatter", g, buf, lambda: _check_list(
        "reduce_scatter", "input tensor list", input_list, buf.shape, buf.dtype, g.size()))
    src = _contiguous(np.stack([_array(t) for t in input_list]))
    return _finish(_start_reduce_scatter(g, src, buf, op, publish), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """``reduce_scatter`` with the inputs as one tensor of world_size x ``output``'s size."""
    g = _default(group)
    buf, publish = _staged(output)
    src = _contiguous(_array(input))

    def check():
        if src.size != buf.size * g.size() or src.dtype != buf.dtype:
            raise RuntimeError(f"reduce_scatter_tensor: input tensor must hold world_size "
                               f"({g.size()}) times the output: expected {buf.size * g.size()} "
                               f"elements of {buf.dtype.name}, got {_describe(src.dtype, src.shape)}")
    _check_same("reduce_scatter_tensor", g, buf, check)
    return _finish(_start_reduce_scatter(g, src, buf, op, publish), async_op)


def _start_reduce_scatter(g, src, buf, op, publish):
    mpi_op, as_type, after = _reduction(op, buf.dtype, g.size())
    view = (lambda a: a.view(as_type)) if as_type is not None else (lambda a: a)
    req = g.comm.Ireduce_scatter_block(view(src), view(buf), op=mpi_op)
    return Work([req], ([lambda: after(buf)] if after else []) + publish)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Combine ``tensor`` across ranks into rank ``dst``'s ``tensor`` (others keep theirs)."""
    g = _default(group)
    root = _check_rank("reduce", "destination", dst if dst is not None else group_dst, g)
    buf, publish = _staged(tensor)
    _check_same("reduce", g, buf)
    mpi_op, as_type, after = _reduction(op, buf.dtype, g.size())
    raw = buf.view(as_type) if as_type is not None else buf
    if g.rank() == root:
        req = g.comm.Ireduce(_State.MPI.IN_PLACE, raw, op=mpi_op, root=root)
        steps = ([lambda: after(buf)] if after else []) + publish
    else:
        req = g.comm.Ireduce(raw, None, op=mpi_op, root=root)
        steps = []
    return _finish(Work([req], steps), async_op)


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Collect every rank's ``tensor`` into ``gather_list`` on rank ``dst``."""
    g = _default(group)
    root = _check_rank("gather", "destination", dst if dst is not None else group_dst, g)
    src = _contiguous(_array(tensor))
    here = g.rank() == root

    def check():
        if here:
            if gather_list is None:
                raise ValueError("Argument ``gather_list`` must be specified on destination rank.")
            _check_list("gather", "gather_list", gather_list, src.shape, src.dtype, g.size())
        elif gather_list:
            raise ValueError("Argument ``gather_list`` must NOT be specified on non-destination "
                             "ranks.")
    _check_same("gather", g, src, check)
    out = np.empty((g.size(),) + src.shape, dtype=src.dtype) if here else None
    req = g.comm.Igather(_bytes(src), _bytes(out) if here else None, root=root)

    def scatter_out():
        for t, part in zip(gather_list, out, strict=True):
            t._data[...] = part
    return _finish(Work([req], [scatter_out] if here else []), async_op)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Send ``scatter_list[r]`` from rank ``src`` into rank r's ``tensor``."""
    g = _default(group)
    root = _check_rank("scatter", "source", src if src is not None else group_src, g)
    buf, publish = _staged(tensor)
    here = g.rank() == root

    def check():
        if here:
            if scatter_list is None:
                raise ValueError("Argument ``scatter_list`` must be specified on source rank.")
            _check_list("scatter", "scatter_list", scatter_list, buf.shape, buf.dtype, g.size())
        elif scatter_list:
            raise ValueError("Argument ``scatter_list`` must NOT be specified on non-source ranks.")
    _check_same("scatter", g, buf, check)
    parts = _contiguous(np.stack([_array(t) for t in scatter_list])) if here else None
    req = g.comm.Iscatter(_bytes(parts) if here else None, _bytes(buf), root=root)
    return _finish(Work([req], publish), async_op)


def _peer(name, role, r, group):
    r = _check_rank(name, role, r, group)
    if r == group.rank():
        raise ValueError(f"Invalid {role} rank: {role} rank should not be the same as the rank "
                         f"of the current process.")
    return r


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Start sending ``tensor`` to rank ``dst``; returns a :class:`Work`."""
    g = _default(group)
    peer = _peer("send", "destination", dst if dst is not None else group_dst, g)
    data = _contiguous(_array(tensor))
    return Work([g.comm.Isend(_bytes(data), dest=peer, tag=tag)])


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Start receiving into ``tensor`` from rank ``src``; returns a :class:`Work`.

    The message must have ``tensor``'s size in bytes; ``wait()`` raises otherwise.
    """
    g = _default(group)
    peer = _peer("recv", "source", src if src is not None else group_src, g)
    buf, publish = _staged(tensor)
    raw = _bytes(buf)
    work = Work([g.comm.Irecv(raw, source=peer, tag=tag)], publish)

    def mismatch(got):
        return RuntimeError(f"recv: expected {raw.size} bytes ({_describe(buf.dtype, buf.shape)}) "
                            f"from rank {peer}, got a message of {got}")

    def check_size():
        n = work._statuses[0].Get_count(_State.MPI.BYTE)
        if n != raw.size:
            raise mismatch(f"{n} bytes")
    work._finish.insert(0, check_size)
    work._truncated = lambda: mismatch("more bytes")
    return work


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Send ``tensor`` to rank ``dst`` (blocks until the buffer can be reused)."""
    isend(tensor, dst, group, tag, group_dst).wait()


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receive into ``tensor`` from rank ``src``; returns the sender's rank."""
    irecv(tensor, src, group, tag, group_src).wait()
    return src if src is not None else group_src


def barrier(group=None, async_op=False, device_ids=None, timeout=None):
    """Wait until every rank has reached this call."""
    g = _default(group)
    return _finish(Work([g.comm.Ibarrier()]), async_op)

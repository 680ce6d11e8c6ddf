"""DistributedDataParallel: one model replica per process, gradients averaged during backward.

Parameters are grouped into buckets of about ``bucket_cap_mb`` in *reverse* registration
order, because backward produces the last layers' gradients first. Each parameter's
post-accumulate-grad hook copies its gradient into its bucket's flat array; when a
bucket is complete (and every bucket before it has started, so that all ranks start
them in one order) its all-reduce is started without waiting. The hook that completes
the last bucket waits for them all and writes the averaged gradients back into
``.grad``, so when ``loss.backward()`` returns the gradients are those of the global
batch. MPI moves non-blocking collectives forward only inside MPI calls, so every hook
also tests the reductions in flight: that is what lets them overlap the rest of backward.
"""
from __future__ import annotations

import contextlib
import zlib

import numpy as np

from ...autograd.grad_mode import is_grad_enabled, no_grad
from ...distributed._group import _default
from ...distributed.collectives import ReduceOp, _start_allreduce
from ...tensor import Tensor
from ..modules.module import Module

_NOT_FINISHED = (
    "Expected to have finished reduction in the prior iteration before starting a new one. "
    "This error indicates that your module has parameters that were not used in producing "
    "loss. You can enable unused parameter detection by passing the keyword argument "
    "`find_unused_parameters=True` to `tapegrad.nn.parallel.DistributedDataParallel`, and by "
    "making sure all `forward` function outputs participate in calculating loss. "
    "Parameters that did not receive a gradient on rank {rank}: {names}")


def _broadcast_arrays(group, arrays, root=0):
    """Overwrite ``arrays`` (any dtypes) with rank ``root``'s, in one message of their bytes."""
    if group.size() == 1 or not arrays:
        return
    packed = np.concatenate([np.ascontiguousarray(a).reshape(-1).view(np.uint8) for a in arrays])
    group.comm.Bcast(packed, root=root)
    start = 0
    for a in arrays:
        n = a.nbytes
        a[...] = packed[start:start + n].view(a.dtype).reshape(a.shape)
        start += n


class _Bucket:
    """A run of same-dtype parameters whose gradients are reduced as one flat array."""

    def __init__(self, index, params, dtype):
        self.index = index
        self.params = params
        self.offsets = np.cumsum([0] + [p.numel() for p in params]).tolist()
        self.flat = np.zeros(self.offsets[-1], dtype=dtype)
        self.pending = len(params)
        self.work = None

    def slot(self, i):
        return self.flat[self.offsets[i]:self.offsets[i + 1]]


class _Reducer:
    """The per-iteration state machine: which gradients have arrived, which buckets are in flight."""

    def __init__(self, named_params, group, cap_bytes):
        self.group = group
        self.names = {id(p): n for n, p in named_params}
        self.buckets = []
        self.where = {}   # id(param) -> (bucket, position in it)
        current, size = [], 0
        for _, p in reversed(named_params):
            nbytes = p._data.nbytes
            if current and (p._data.dtype != current[0]._data.dtype or size + nbytes > cap_bytes):
                self._add_bucket(current)
                current, size = [], 0
            current.append(p)
            size += nbytes
        if current:
            self._add_bucket(current)
        self.active = False          # a synchronised backward is expected
        self.next_launch = 0
        self.position = {k: i for i, k in enumerate(self.where)}   # index into the use mask
        self.used = None             # find_unused_parameters: local use mask, then its reduction
        self.used_work = None

    def _add_bucket(self, params):
        b = _Bucket(len(self.buckets), params, params[0]._data.dtype)
        for i, p in enumerate(params):
            self.where[id(p)] = (b, i)
        self.buckets.append(b)

    # -- per iteration ---------------------------------------------------------------
    def check_finished(self):
        if not self.active:
            return
        missing = [self.names[id(p)] for b in self.buckets if b.work is None
                   for i, p in enumerate(b.params) if not b.arrived[i]]
        raise RuntimeError(_NOT_FINISHED.format(rank=self.group.rank(), names=", ".join(missing)))

    def prepare(self, outputs, find_unused):
        for b in self.buckets:
            b.pending = len(b.params)
            b.arrived = [False] * len(b.params)
            b.work = None
        self.next_launch = 0
        self.active = True
        if not find_unused:
            return
        reachable = _reachable_leaves(outputs)
        self.used = np.zeros(len(self.where), dtype=np.uint8)
        for b in self.buckets:
            for i, p in enumerate(b.params):
                if id(p) in reachable:
                    self.used[self.position[id(p)]] = 1
                else:
                    b.slot(i)[...] = 0
                    self._mark(b, i)
        self.used_work = _start_allreduce(self.group, self.used, ReduceOp.MAX)
        if all(b.work is not None for b in self.buckets):
            self._finalize()   # nothing will reach a hook: no parameter took part

    def grad_ready(self, p):
        if not self.active:
            return
        b, i = self.where[id(p)]
        if b.arrived[i]:
            raise RuntimeError(
                f"Expected to mark a variable ready only once. Parameter "
                f"{self.names[id(p)]} received a gradient twice in one synchronised backward; "
                f"use no_sync() for the extra passes")
        b.slot(i)[...] = p.grad._data.reshape(-1)
        self._mark(b, i)
        for flight in self.buckets[:self.next_launch]:
            if not flight.work._done:
                flight.work.is_completed()   # drives MPI's progress engine
        if self.next_launch == len(self.buckets):
            self._finalize()

    def _mark(self, b, i):
        b.arrived[i] = True
        b.pending -= 1
        while self.next_launch < len(self.buckets) and self.buckets[self.next_launch].pending == 0:
            ready = self.buckets[self.next_launch]
            ready.work = _start_allreduce(self.group, ready.flat, ReduceOp.SUM)
            self.next_launch += 1

    def _finalize(self):
        self.active = False
        used = None
        if self.used_work is not None:
            self.used_work.wait()
            used, self.used_work = self.used, None
        scale = 1.0 / self.group.size()
        for b in self.buckets:
            b.work.wait()
            b.flat *= b.flat.dtype.type(scale)
            for i, p in enumerate(b.params):
                if used is not None and not used[self.position[id(p)]]:
                    continue   # unused on every rank: its .grad stays as it was, like torch's
                _write_grad(p, b.slot(i))


def _write_grad(p, flat):
    value = flat.reshape(p._data.shape)
    g = p.grad
    if g is not None and g._data.flags.writeable and g._data.shape == value.shape:
        g._data[...] = value
    else:
        p.grad = Tensor._wrap(value.copy())


def _reachable_leaves(outputs):
    """ids of the leaf tensors that the autograd graph behind ``outputs`` reaches."""
    # ``seen`` holds the nodes, not just their ids: a leaf's AccumulateGrad is made on demand
    # and freed after use, and a later one may reuse a freed one's id
    found, seen, stack = set(), {}, []
    for t in _tensors_in(outputs):
        if t.grad_fn is None:
            found.add(id(t))
        else:
            stack.append(t.grad_fn)
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen[id(node)] = node
        variable = getattr(node, "variable", None)
        if variable is not None:
            found.add(id(variable))
        stack.extend(fn for fn, _ in node.next_functions if fn is not None)
    return found


def _tensors_in(obj):
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors_in(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors_in(item)


class DistributedDataParallel(Module):
    """Data parallelism across processes: wrap the model, train as usual, one batch per rank.

    At construction every rank takes rank 0's parameters and buffers. After
    ``loss.backward()`` each parameter's ``.grad`` is the average over ranks, so one
    optimizer step on N ranks with batch B equals one step on the N·B batch (for losses
    that are means over the batch). ``no_sync()`` accumulates local gradients without
    communication; ``find_unused_parameters=True`` allows parameters that do not take
    part in a forward. With ``broadcast_buffers`` (default) rank 0's buffers (running
    statistics) are copied to every rank at each forward.

    >>> model = DistributedDataParallel(net)                    # doctest: +SKIP
    >>> loss_fn(model(x), y).backward(); opt.step()             # doctest: +SKIP
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 init_sync=True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **unsupported):
        super().__init__()
        for key, value in unsupported.items():
            if value not in (None, False):
                raise NotImplementedError(f"DistributedDataParallel: {key} is not supported")
        self.process_group = _default(process_group)
        self.module = module
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named and not any(True for _ in module.parameters()):
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have "
                               "any parameter that requires a gradient.")
        self._check_same_model(module)
        if init_sync:
            with no_grad():
                arrays = [p._data for p in module.parameters()] + [b._data for b in module.buffers()]
                _broadcast_arrays(self.process_group, arrays)
        self._reducer = _Reducer(named, self.process_group, self.bucket_bytes_cap)
        self._hook_handles = [p.register_post_accumulate_grad_hook(self._reducer.grad_ready)
                              for _, p in named]

    def _check_same_model(self, module):
        """Every rank must wrap the same architecture: compare a digest of names, shapes, dtypes."""
        group = self.process_group
        if group.size() == 1:
            return
        layout = [(n, tuple(t.shape), str(t.dtype)) for n, t in module.state_dict().items()]
        mine = np.array([zlib.crc32(repr(layout).encode())], dtype=np.int64)
        every = np.empty(group.size(), dtype=np.int64)
        group.comm.Allgather(mine, every)
        if (every != every[0]).any():
            raise RuntimeError("DistributedDataParallel: the module's parameters and buffers (names, "
                               f"shapes, dtypes) differ across ranks (digests {every.tolist()}); "
                               "every rank must build the same model")

    def forward(self, *inputs, **kwargs):
        self._reducer.check_finished()
        if self.broadcast_buffers and self.process_group.size() > 1:
            buffers = [b._data for b in self.module.buffers()]
            _broadcast_arrays(self.process_group, buffers)
        output = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync and self._reducer.buckets:
            self._reducer.prepare(output, self.find_unused_parameters)
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Within this context backward only accumulates local gradients (no all-reduce).

        The first backward after it averages the accumulated gradients.
        """
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous


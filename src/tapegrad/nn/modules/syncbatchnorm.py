"""SyncBatchNorm: batch normalisation whose batch statistics are those of the global batch.

In training, with a process group of more than one rank, each rank reduces its
per-channel sum, sum of squares and count in one all-reduce (in float64, so that
``E[x²] - E[x]²`` loses nothing a float32 input would notice), and normalises with
the global mean and variance. Its backward needs two more global per-channel sums,
``Σ dy`` and ``Σ dy·x̂``, again in one all-reduce; the weight and bias gradients stay
local sums, which DistributedDataParallel then averages. Otherwise (evaluation, a
single process, no process group) it is plain ``BatchNorm``.
"""
from __future__ import annotations

import numpy as np

from ...autograd.function import Function
from ...autograd.grad_mode import no_grad
from ...distributed import _group
from ...distributed.collectives import ReduceOp, _start_allreduce
from ...tensor import Tensor
from .batchnorm import _BatchNorm


def _channel_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(x, c):
    """Reshape a (C,) array to broadcast against an (N, C, ...) input."""
    return c.reshape((1, -1) + (1,) * (x.ndim - 2))


def _global_sums(group, *columns):
    """All-reduce per-channel float64 columns together; returns them summed over ranks."""
    packed = np.concatenate(columns)
    _start_allreduce(group, packed, ReduceOp.SUM).wait()
    return np.split(packed, np.cumsum([len(c) for c in columns])[:-1])


class _SyncBatchNormFunction(Function):

    @staticmethod
    def forward(ctx, x, weight, bias, eps, group, stats):
        a = x._data
        axes = _channel_axes(a)
        count = np.array([a.size / a.shape[1]])
        wide = a.astype(np.float64)
        total, squares, count = _global_sums(group, wide.sum(axes), (wide * wide).sum(axes), count)
        n = count[0]
        mean = total / n
        var = np.maximum(squares / n - mean * mean, 0.0)
        invstd = 1.0 / np.sqrt(var + eps)
        xhat = ((wide - _per_channel(a, mean)) * _per_channel(a, invstd)).astype(a.dtype)
        out = xhat
        if weight is not None:
            out = out * _per_channel(a, weight._data)
        if bias is not None:
            out = out + _per_channel(a, bias._data)
        stats.update(mean=mean, var=var, count=n)
        ctx.group, ctx.n = group, n
        ctx.xhat, ctx.invstd = xhat, invstd
        ctx.weight = None if weight is None else weight._data
        return Tensor._wrap(np.ascontiguousarray(out, dtype=a.dtype))

    @staticmethod
    def backward(ctx, grad):
        g = grad._data
        xhat, axes = ctx.xhat, _channel_axes(grad._data)
        local_g = g.sum(axes, dtype=np.float64)
        local_gx = (g * xhat).sum(axes, dtype=np.float64)
        sum_g, sum_gx = _global_sums(ctx.group, local_g, local_gx)
        scale = ctx.invstd if ctx.weight is None else ctx.invstd * ctx.weight
        dx = _per_channel(g, scale) * (g - _per_channel(g, sum_g / ctx.n)
                                      - xhat * _per_channel(g, sum_gx / ctx.n))
        dtype = g.dtype
        dweight = None if ctx.weight is None else Tensor._wrap(local_gx.astype(dtype))
        dbias = Tensor._wrap(local_g.astype(dtype))
        return Tensor._wrap(dx.astype(dtype)), dweight, dbias, None, None, None


class SyncBatchNorm(_BatchNorm):
    """Batch norm over the global batch of all ranks; input (N, C, ...) of at least 2 dims.

    Build it directly, or turn a model's ``BatchNorm*d`` layers into it with
    :meth:`convert_sync_batchnorm` before wrapping the model in ``DistributedDataParallel``.
    Running statistics use the global batch (unbiased variance over all ranks' samples).
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input):
        group = None
        if self.training and _group.is_initialized():
            group = _group._default(self.process_group)
        if group is None or group.size() == 1:
            return super().forward(input)
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"expected {self.num_features} channels, got input of shape "
                             f"{tuple(input.shape)}")
        stats = {}
        out = _SyncBatchNormFunction.apply(input, self.weight, self.bias, self.eps, group, stats)
        if self.track_running_stats:
            self._update_running_stats(stats)
        return out

    def _update_running_stats(self, stats):
        factor = self._average_factor()
        n = stats["count"]
        unbiased = stats["var"] * (n / max(n - 1, 1))
        with no_grad():
            for name, value in (("running_mean", stats["mean"]), ("running_var", unbiased)):
                buf = getattr(self, name)
                buf._data[...] = (1 - factor) * buf._data + factor * value

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """Return ``module`` with every ``BatchNorm*d`` replaced by a ``SyncBatchNorm``.

        The new layers share the old ones' parameters and buffers and keep their
        training mode; a batch norm given as ``module`` itself is returned converted.
        """
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine,
                       module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                if name in module._parameters:
                    sync._parameters[name] = module._parameters[name]
            for name, value in module._buffers.items():
                sync._buffers[name] = value
            sync.train(module.training)
            if hasattr(module, "qconfig"):
                sync.qconfig = module.qconfig
            return sync
        for name, child in list(module._modules.items()):
            if child is not None:
                converted = cls.convert_sync_batchnorm(child, process_group)
                if converted is not child:
                    module._modules[name] = converted
        return module


"""Reductions and normalisers: sum, mean, prod, max/min, var/std, norm,
logsumexp, softmax, log_softmax, cumsum.

The derivative of a reduction broadcasts the incoming gradient back over the
reduced axes (``_unreduce``); softmax-like ops subtract the maximum in the
forward so large logits neither overflow nor lose precision.
"""

from __future__ import annotations

import collections

from .. import backend as B

from .. import dtypes

from ..autograd.graph import Node

from ._registry import op

from ._util import check_tensor, keep_shape, reduce_dims, wrap_dim

from ..tensor import Tensor

xp = B.xp


def _unreduce(g, in_shape, dims, keepdim):
    """Broadcast a reduced gradient back to ``in_shape`` (dual-mode)."""
    from .shape import expand_, reshape_
    if not keepdim:
        g = reshape_(g, keep_shape(in_shape, dims))
    return expand_(g, in_shape)


# =========================================================================== sum / mean / prod
def sum_rows(x, dims):
    """The sum over every axis but one, when that axis is innermost in memory (a channels-last
    gradient summed for a bias, a (B, C) batch summed over B): a product with ones. NumPy adds
    such an array row by row, C values at a time: (50176, 16) 1.24 -> 0.32 ms, (8192, 64)
    0.25 -> 0.11 ms, and BLAS's blocked sums were also closer to a float64 sum in every shape
    measured; None where the layout does not allow it."""
    if len(dims) != x.ndim - 1 or x.dtype.kind != "f" or x.itemsize < 4 or x.size < 4096:
        return None
    k = next(d for d in range(x.ndim) if d not in dims)
    rows = xp.moveaxis(x, k, -1)
    if not rows.flags.c_contiguous:
        return None
    rows = rows.reshape(-1, rows.shape[-1])
    return xp.ones(rows.shape[0], dtype=x.dtype) @ rows


class Sum(Node):
    def forward(ctx, x, dims, keepdim=False, dtype=None):
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        if dtype is None:
            if x.dtype.kind in "biu":
                dtype = xp.int64
            elif x.dtype == xp.float16:
                return x.sum(axis=dims, keepdims=keepdim, dtype=xp.float32).astype(xp.float16)
            elif (out := sum_rows(x, dims)) is not None:
                return out.reshape(keep_shape(x.shape, dims)) if keepdim else out
        return xp.asarray(x.sum(axis=dims, keepdims=keepdim, dtype=dtype))

    def backward(ctx, g):
        return _unreduce(g, ctx.in_shape, ctx.dims, ctx.keepdim)


class SumAll(Sum):
    _bw_name = "SumBackward0"


class SumDim(Sum):
    _bw_name = "SumBackward1"


# =========================================================================== public API
@op("reduction", nodes=(SumAll, SumDim))
def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim`` (int, tuple, or None for all elements).

    >>> tapegrad.ones(2, 3).sum(1)
    tensor([3., 3.])
    """
    check_tensor(input, "sum")
    nd = input._data.ndim
    d = None if dtype is None else dtypes.as_dtype(dtype).np
    if dim is None:
        return SumAll.apply(input, dims=tuple(range(nd)), keepdim=False, dtype=d)
    return SumDim.apply(input, dims=reduce_dims(dim, nd), keepdim=keepdim, dtype=d)


def _count(shape, dims):
    n = 1
    for d in dims:
        n *= shape[d]
    return n


class Mean(Node):
    def forward(ctx, x, dims, keepdim=False):
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        if x.dtype == xp.float16:
            return x.mean(axis=dims, keepdims=keepdim, dtype=xp.float32).astype(xp.float16)
        if x.size == 0:  # the mean of nothing is nan, silently (NumPy would warn)
            with xp.errstate(invalid="ignore", divide="ignore"):
                return xp.asarray(x.sum(axis=dims, keepdims=keepdim) / _count(x.shape, dims))
        return xp.asarray(x.mean(axis=dims, keepdims=keepdim))

    def backward(ctx, g):
        n = _count(ctx.in_shape, ctx.dims)
        return _unreduce(g / n if n else g * float("nan"), ctx.in_shape, ctx.dims, ctx.keepdim)


class MeanAll(Mean):
    _bw_name = "MeanBackward0"


class MeanDim(Mean):
    _bw_name = "MeanBackward1"


@op("reduction", nodes=(MeanAll, MeanDim))
def mean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean over ``dim`` (all dims by default), optionally keeping reduced dims as size 1.

    Floating or complex input only (or pass ``dtype``), as in PyTorch.
    """
    check_tensor(input, "mean")
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind not in "fc":
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {_cap(input.dtype)}")
    nd = input._data.ndim
    if dim is None:
        return MeanAll.apply(input, dims=tuple(range(nd)), keepdim=False)
    return MeanDim.apply(input, dims=reduce_dims(dim, nd), keepdim=keepdim)


class Prod(Node):
    """Product over one axis (or all). The derivative is the product of the *other*
    elements, computed with exclusive cumulative products so zeros are exact."""

    def forward(ctx, x, dim=None, keepdim=False):
        ctx.dim, ctx.keepdim, ctx.in_shape = dim, keepdim, x.shape
        ctx.saved = (x,)
        dtype = xp.int64 if x.dtype.kind in "biu" else None
        return xp.asarray(x.prod(axis=dim, keepdims=keepdim, dtype=dtype))

    def backward(ctx, g):
        (x,) = ctx.saved
        dim = ctx.dim
        if dim is None:
            flat = x.reshape(-1) if B.is_array(x) else x.reshape(-1)
            others = _prod_others(flat, 0)
            return (g * others.reshape(ctx.in_shape) if B.is_array(others)
                    else g * others.reshape(ctx.in_shape))
        others = _prod_others(x, dim)
        return _unreduce(g, ctx.in_shape, (dim,), ctx.keepdim) * others


class ProdDim(Prod):
    _bw_name = "ProdBackward1"


@op("reduction", nodes=(Prod, ProdDim))
def prod(input, dim=None, keepdim=False, *, dtype=None):
    """The product over ``dim`` (all elements by default); integers are multiplied in int64."""
    check_tensor(input, "prod")
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:
        return Prod.apply(input, dim=None, keepdim=False)
    d = wrap_dim(dim, input._data.ndim)
    if input._data.ndim == 0:  # dim 0 of a 0-d tensor: the product of its one element
        return ProdDim.apply(input, dim=None, keepdim=False)
    return ProdDim.apply(input, dim=d, keepdim=keepdim)


def _prod_others(x, dim):
    """For each element, the product of the other elements along ``dim``."""
    if B.is_array(x):
        ones_shape = list(x.shape)
        ones_shape[dim] = 1
        one = xp.ones(ones_shape, dtype=x.dtype)
        left = xp.cumprod(xp.concatenate([one, x], axis=dim), axis=dim)
        right = xp.flip(xp.cumprod(xp.flip(xp.concatenate([x, one], axis=dim), dim), axis=dim), dim)
        n = x.shape[dim]
        sl = [slice(None)] * x.ndim
        sl[dim] = slice(0, n)
        sr = [slice(None)] * x.ndim
        sr[dim] = slice(1, n + 1)
        return left[tuple(sl)] * right[tuple(sr)]
    # Tensor (create_graph) path: product over an (n, n) layout with the diagonal set to 1.
    from .shape import unsqueeze, expand, movedim
    from ..creation import eye
    from .elementwise import where
    xm = movedim(x, dim, -1)
    n = xm.shape[-1]
    rows = expand(unsqueeze(xm, -2), tuple(xm.shape[:-1]) + (n, n))
    mask = eye(n, dtype=dtypes.bool_)
    prod = where(mask, 1.0, rows).prod(-1)
    return movedim(prod, -1, dim)


# =========================================================================== max / min
_MaxMin = collections.namedtuple("max", ["values", "indices"])


class return_types:
    """``torch.return_types``-like named tuples: ``values, indices = x.max(dim)``."""

    max = collections.namedtuple("max", ["values", "indices"])
    min = collections.namedtuple("min", ["values", "indices"])
    sort = collections.namedtuple("sort", ["values", "indices"])
    topk = collections.namedtuple("topk", ["values", "indices"])
    kthvalue = collections.namedtuple("kthvalue", ["values", "indices"])
    median = collections.namedtuple("median", ["values", "indices"])
    nanmedian = collections.namedtuple("nanmedian", ["values", "indices"])
    cummax = collections.namedtuple("cummax", ["values", "indices"])
    cummin = collections.namedtuple("cummin", ["values", "indices"])
    mode = collections.namedtuple("mode", ["values", "indices"])
    aminmax = collections.namedtuple("aminmax", ["min", "max"])


def _return_type_repr(self):
    # PyTorch's structseq repr: "torch.return_types.max(\nvalues=...,\nindices=...)"
    fields = ",\n".join(f"{k}={v!r}" for k, v in zip(self._fields, self, strict=True))
    return f"torch.return_types.{type(self).__name__}(\n{fields})"


for _n, _t in list(vars(return_types).items()):
    if isinstance(_t, type) and issubclass(_t, tuple):    # every named tuple declared above
        _t.__qualname__ = "torch.return_types." + _n
        _t.__module__ = "torch.return_types"
        _t.__repr__ = _return_type_repr


class AmaxAmin(Node):
    """max/min over dims without indices: ties share the gradient evenly (as in PyTorch)."""

    def forward(ctx, x, dims, keepdim, is_max):
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        out = (x.max if is_max else x.min)(axis=dims, keepdims=keepdim)
        out = xp.asarray(out)
        ctx.saved = (x, out)
        return out

    def backward(ctx, g):
        x, out = ctx.saved
        full = _unreduce(out, ctx.in_shape, ctx.dims, ctx.keepdim)
        mask = (x == full)
        if not isinstance(mask, Tensor):  # (a 0-d compare gives a NumPy scalar)
            count = mask.sum(axis=ctx.dims, keepdims=True).astype(x.dtype)
            return _unreduce(g, ctx.in_shape, ctx.dims, ctx.keepdim) * mask / count
        m = Tensor._wrap(mask._data.astype(x._data.dtype))
        count = m.sum(dim=ctx.dims, keepdim=True)
        return _unreduce(g, ctx.in_shape, ctx.dims, ctx.keepdim) * m / count


class Amax(AmaxAmin):
    pass


@op("reduction", nodes=(Amax,))
def amax(input, dim=(), keepdim=False):
    """The maximum over ``dim`` (a dim or tuple of dims); the gradient is shared among ties."""
    dims = _nonempty_dims(input, dim, "amax")
    return Amax.apply(input, dims=dims, keepdim=keepdim, is_max=True)


class Amin(AmaxAmin):
    pass


@op("reduction", nodes=(Amin,))
def amin(input, dim=(), keepdim=False):
    """The minimum over ``dim`` (a dim or tuple of dims); the gradient is shared among ties."""
    dims = _nonempty_dims(input, dim, "amin")
    return Amin.apply(input, dims=dims, keepdim=keepdim, is_max=False)


class MaxAll(AmaxAmin):
    _bw_name = "MaxBackward1"


class MinAll(AmaxAmin):
    _bw_name = "MinBackward1"


class MaxMinDim(Node):
    """max/min along one dim with indices: the gradient goes to the chosen index only."""

    def forward(ctx, x, dim, keepdim, idx):
        ctx.in_shape, ctx.dim, ctx.keepdim = x.shape, dim, keepdim
        ctx.saved = (idx,)
        out = xp.take_along_axis(x, idx, axis=dim)
        return out if keepdim else out.squeeze(dim)

    def backward(ctx, g):
        (idx,) = ctx.saved
        from .shape import unsqueeze_
        from .indexing import ScatterAlong
        if not ctx.keepdim:
            g = unsqueeze_(g, ctx.dim)
        return ScatterAlong.apply(g, index=_raw(idx), dim=ctx.dim, shape=ctx.in_shape)


class MaxDim0d(Node):
    """max/min along dim 0 of a 0-d tensor: the element itself (named as PyTorch names it)."""

    _bw_name = "MaxBackward0"

    def forward(ctx, x):
        return x.copy()

    def backward(ctx, g):
        return g


class MinDim0d(MaxDim0d):
    _bw_name = "MinBackward0"


class MaxDim(MaxMinDim):
    _bw_name = "MaxBackward0"


class MinDim(MaxMinDim):
    _bw_name = "MinBackward0"


@op("reduction", nodes=(MaxAll, MinAll, MaxDim0d, MinDim0d, MaxDim, MinDim))
def max(input, dim=None, keepdim=False):
    """Max of all elements, or ``(values, indices)`` along ``dim``; ``max(a, b)`` = maximum."""
    return _maxmin(input, dim, keepdim, True, "max")


@op("reduction", nodes=(MaxAll, MinAll, MaxDim0d, MinDim0d, MaxDim, MinDim))
def min(input, dim=None, keepdim=False):
    """The smallest element; with ``dim`` a named tuple ``(values, indices)``; with a tensor ``other``,
    :func:`minimum`.
    """
    return _maxmin(input, dim, keepdim, False, "min")


def _raw(a):
    return a._data if isinstance(a, Tensor) else a


def _wide(x):
    """float16 reductions accumulate in float32 (as PyTorch's do), then cast back."""
    return x.astype(xp.float32) if x.dtype == xp.float16 else x


# =========================================================================== var / std / norm
class Var(Node):
    def forward(ctx, x, dims, correction, keepdim):
        ctx.in_shape, ctx.dims, ctx.keepdim, ctx.correction = x.shape, dims, keepdim, correction
        ctx.saved = (x,)
        n = _count(x.shape, dims)
        if n - correction <= 0:
            return xp.full(xp.asarray(x.sum(axis=dims, keepdims=keepdim)).shape, xp.nan, dtype=x.dtype)
        return xp.asarray(_wide(x).var(axis=dims, ddof=correction, keepdims=keepdim)).astype(
            x.dtype, copy=False)

    def backward(ctx, g):
        (x,) = ctx.saved
        n = _count(ctx.in_shape, ctx.dims)
        centered = x - _mean_keep(x, ctx.dims)
        return _unreduce(g, ctx.in_shape, ctx.dims, ctx.keepdim) * centered * (2.0 / (n - ctx.correction))


@op("reduction", nodes=(Var,))
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance with Bessel's correction by default (``correction=1``)."""
    check_tensor(input, "var")
    _float_only_var(input)
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    c = _correction(unbiased, correction)
    return Var.apply(input, dims=reduce_dims(dim, input._data.ndim), correction=c, keepdim=keepdim)


class Std(Node):
    def forward(ctx, x, dims, correction, keepdim):
        ctx.in_shape, ctx.dims, ctx.keepdim, ctx.correction = x.shape, dims, keepdim, correction
        out = xp.asarray(_wide(x).std(axis=dims, ddof=correction, keepdims=keepdim)).astype(
            x.dtype, copy=False)
        ctx.saved = (x, out)
        return out

    def backward(ctx, g):
        x, out = ctx.saved
        n = _count(ctx.in_shape, ctx.dims)
        from .elementwise import where_
        centered = x - _mean_keep(x, ctx.dims)
        # PyTorch: (grad / (2 * std)).masked_fill_(std == 0, 0): a zero std gets a zero gradient
        gs = where_(out == 0, 0.0, g / out)
        return _unreduce(gs, ctx.in_shape, ctx.dims, ctx.keepdim) * centered / (n - ctx.correction)


@op("reduction", nodes=(Std,))
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """The standard deviation over ``dim`` with Bessel's ``correction`` (1 by default)."""
    check_tensor(input, "std")
    _float_only_var(input)
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    c = _correction(unbiased, correction)
    return Std.apply(input, dims=reduce_dims(dim, input._data.ndim), correction=c, keepdim=keepdim)


def _mean_keep(x, dims):
    if B.is_array(x):
        return x.mean(axis=dims, keepdims=True)
    return MeanDim.apply(x, dims=dims, keepdim=True)


class Norm(Node):
    _bw_name = "LinalgVectorNormBackward0"  # torch.norm dispatches to linalg.vector_norm

    def forward(ctx, x, p, dims, keepdim):
        ctx.in_shape, ctx.dims, ctx.keepdim, ctx.p = x.shape, dims, keepdim, p
        in_dtype = x.dtype
        x_in, x = x, _wide(x)
        a = xp.abs(x)
        if p == float("inf"):
            out = a.max(axis=dims, keepdims=keepdim)
        elif p == -float("inf"):
            out = a.min(axis=dims, keepdims=keepdim)
        elif p == 0:
            out = (a != 0).sum(axis=dims, keepdims=keepdim).astype(x.dtype)
        elif p == 1:
            out = a.sum(axis=dims, keepdims=keepdim)
        elif p == 2:
            out = xp.sqrt((x * x).sum(axis=dims, keepdims=keepdim))
        else:
            out = (a ** p).sum(axis=dims, keepdims=keepdim) ** (1.0 / p)
        out = xp.asarray(out).astype(in_dtype, copy=False)
        ctx.saved = (x_in, out)
        return out

    def backward(ctx, g):
        x, out = ctx.saved
        p = ctx.p
        from .elementwise import Sign, where_
        full = _unreduce(out, ctx.in_shape, ctx.dims, ctx.keepdim)
        gf = _unreduce(g, ctx.in_shape, ctx.dims, ctx.keepdim)
        if p == 0:
            return None  # PyTorch's vector_norm(ord=0) backward gives no gradient (grad stays None)
        if p == 1:
            return gf * Sign.apply(x)
        if p in (float("inf"), -float("inf")):
            a = AbsOp(x)
            mask = (a == full)
            if not isinstance(mask, Tensor):  # (a 0-d compare gives a NumPy scalar)
                count = mask.sum(axis=ctx.dims, keepdims=True)
                return gf * Sign.apply(x) * mask / count
            m = Tensor._wrap(mask._data.astype(x._data.dtype))
            return gf * Sign.apply(x) * m / m.sum(dim=ctx.dims, keepdim=True)
        # NOTE: zero norm -> zero gradient (the subgradient PyTorch picks). The division
        # uses 1 where the norm is 0, so the unselected branch stays finite and its own
        # derivative (forward mode, double backward) is 0, not 0 * nan.
        zero = full == 0
        safe = where_(zero, 1.0, full)
        if p == 2:
            return where_(zero, 0.0, gf * x / safe)
        a = AbsOp(x)
        return where_(zero, 0.0, gf * Sign.apply(x) * a ** (p - 1) / safe ** (p - 1))


@op("reduction", nodes=(Norm,))
def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm over ``dim`` (all elements by default); ``'fro'`` is the 2-norm."""
    check_tensor(input, "norm")
    if p == "fro" or p is None:
        p = 2
    if p == "nuc":
        raise NotImplementedError("norm(p='nuc') is not supported")
    if input._data.dtype.kind != "f":
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. "
            f"Got {_cap(input.dtype)}")
    return Norm.apply(input, p=float(p), dims=reduce_dims(dim, input._data.ndim), keepdim=keepdim)


def AbsOp(x):
    from .elementwise import Abs
    return Abs.apply(x)


# =========================================================================== logsumexp / softmax
class LogSumExp(Node):
    _bw_name = "LogsumexpBackward0"

    def forward(ctx, x, dims, keepdim):
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        m = x.max(axis=dims, keepdims=True, initial=-xp.inf)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.exp(x - m).sum(axis=dims, keepdims=True)) + m
        if not keepdim:
            out = out.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))
        out = xp.asarray(out)
        ctx.saved = (x, out)
        return out

    def backward(ctx, g):
        x, out = ctx.saved
        from .elementwise import Exp
        full = _unreduce(out, ctx.in_shape, ctx.dims, ctx.keepdim)
        return _unreduce(g, ctx.in_shape, ctx.dims, ctx.keepdim) * Exp.apply(x - full)


@op("reduction", nodes=(LogSumExp,))
def logsumexp(input, dim, keepdim=False):
    """``log(sum(exp(input), dim))`` computed stably (subtracting the max)."""
    check_tensor(input, "logsumexp")
    if input._data.dtype.kind != "f":
        input = input.to(dtypes.get_default_dtype())
    return LogSumExp.apply(input, dims=reduce_dims(dim, input._data.ndim), keepdim=keepdim)


class Softmax(Node):
    def forward(ctx, x, dim):
        ctx.dim = dim
        e = xp.exp(x - x.max(axis=dim, keepdims=True, initial=-xp.inf))  # (initial: empty x)
        e /= e.sum(axis=dim, keepdims=True)
        ctx.saved = (e,)
        return e

    def backward(ctx, g):
        (out,) = ctx.saved
        go = g * out
        return go - out * _sum_keep(go, ctx.dim)


@op("scan", nodes=(Softmax,))
def softmax(input, dim=None, dtype=None):
    """``exp(x) / sum(exp(x), dim)``, stable for large inputs."""
    check_tensor(input, "softmax")
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:
        dim = 0 if input._data.ndim in (0, 1, 3) else 1
    dim = wrap_dim(dim, input._data.ndim)
    _softmax_kernel_check(input, dim, "softmax")
    return Softmax.apply(input, dim=dim)


class LogSoftmax(Node):
    def forward(ctx, x, dim):
        ctx.dim = dim
        shifted = x - x.max(axis=dim, keepdims=True, initial=-xp.inf)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        from .elementwise import Exp
        return g - Exp.apply(out) * _sum_keep(g, ctx.dim)


@op("scan", nodes=(LogSoftmax,))
def log_softmax(input, dim=None, dtype=None):
    """``log(softmax(input, dim))``, computed stably: ``input - logsumexp(input, dim)``."""
    check_tensor(input, "log_softmax")
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:
        dim = 0 if input._data.ndim in (0, 1, 3) else 1
    dim = wrap_dim(dim, input._data.ndim)
    _softmax_kernel_check(input, dim, "log_softmax")
    return LogSoftmax.apply(input, dim=dim)


def _sum_keep(x, dim):
    if B.is_array(x):
        return x.sum(axis=dim, keepdims=True)
    return SumDim.apply(x, dims=(dim,) if len(x.shape) else (), keepdim=True)


class Cumsum(Node):
    def forward(ctx, x, dim, dtype=None):
        ctx.dim = dim
        if dtype is None and x.dtype.kind in "biu":
            dtype = xp.int64
        if x.ndim == 0:  # NumPy would return shape (1,); PyTorch keeps 0-d
            return x.astype(dtype or x.dtype, copy=True)
        if dtype is None and x.dtype == xp.float16:
            return xp.cumsum(x, axis=dim, dtype=xp.float32).astype(xp.float16)
        return xp.cumsum(x, axis=dim, dtype=dtype)

    def backward(ctx, g):
        from .shape import Flip
        d = ctx.dim
        if len(g.shape) == 0:
            return g
        return Flip.apply(Cumsum.apply(Flip.apply(g, dims=(d,)), dim=d), dims=(d,))


@op("scan", nodes=(Cumsum,))
def cumsum(input, dim, *, dtype=None):
    """Running sums along ``dim``: ``out[i] = input[0] + ... + input[i]`` (same shape)."""
    check_tensor(input, "cumsum")
    d = None if dtype is None else dtypes.as_dtype(dtype).np
    return Cumsum.apply(input, dim=wrap_dim(dim, input._data.ndim), dtype=d)


def _cum_max_min_arrays(x, dim, is_max):
    """Running max (or min) of ``x`` along ``dim`` and the index each value came from: the
    latest index among equal values, and once a NaN is met, NaN at that NaN's index (torch's
    rules)."""
    acc = (xp.maximum if is_max else xp.minimum).accumulate(x, axis=dim)
    where = x == acc
    if x.dtype.kind == "f":
        nan = xp.isnan(x)
        where |= nan & (xp.cumsum(nan, axis=dim) == 1)      # the first NaN of each line
    shape = [1] * x.ndim
    shape[dim] = x.shape[dim]
    pos = xp.arange(x.shape[dim], dtype=xp.int64).reshape(shape)
    return acc, xp.maximum.accumulate(xp.where(where, pos, -1), axis=dim)


class CumMaxMin(Node):
    """The values of cummax/cummin (computed with their indices beforehand); the gradient goes
    back to those indices, summed where one element stays the running extreme."""

    def forward(ctx, x, dim, values, idx):
        ctx.dim, ctx.idx, ctx.in_shape = dim, idx, x.shape
        return values

    def backward(ctx, g):
        idx, dim = ctx.idx, ctx.dim
        if isinstance(g, Tensor):
            return Tensor._wrap(xp.zeros(ctx.in_shape, g._data.dtype)).scatter_add(dim, Tensor._wrap(idx), g)
        out = xp.zeros(ctx.in_shape, dtype=g.dtype)
        grid = list(xp.indices(idx.shape, sparse=True))
        grid[dim] = idx
        xp.add.at(out, tuple(grid), g)
        return out


class Cummax(CumMaxMin):
    pass


class Cummin(CumMaxMin):
    pass


def _cum_max_min(input, dim, is_max):
    name = "cummax" if is_max else "cummin"
    check_tensor(input, name)
    flat0d = input._data.ndim == 0
    x = input.reshape(1) if flat0d else input          # (one element: itself, index 0)
    d = 0 if flat0d else wrap_dim(dim, x._data.ndim)
    values, idx = _cum_max_min_arrays(x._data, d, is_max)
    out = (Cummax if is_max else Cummin).apply(x, dim=d, values=values, idx=idx)
    if flat0d:
        out, idx = out.reshape(()), idx.reshape(())
    return getattr(return_types, name)(out, Tensor._wrap(idx))


@op("scan", nodes=(Cummax,))
def cummax(input, dim):
    """``(values, indices)``: the running maximum along ``dim`` and where each came from."""
    return _cum_max_min(input, dim, True)


@op("scan", nodes=(Cummin,))
def cummin(input, dim):
    """``(values, indices)``: the running minimum along ``dim`` and where each came from."""
    return _cum_max_min(input, dim, False)


class Cumprod(Node):
    def forward(ctx, x, dim):
        ctx.dim = dim
        out = xp.cumprod(x, axis=dim)
        ctx.saved = (x, out)
        return out

    def backward(ctx, g):
        # Valid away from zeros: d out_j / d x_i = out_j / x_i for j >= i.
        x, out = ctx.saved
        from .shape import Flip
        d = ctx.dim
        rev = Flip.apply(Cumsum.apply(Flip.apply(g * out, dims=(d,)), dim=d), dims=(d,))
        return rev / x


@op("scan", nodes=(Cumprod,))
def cumprod(input, dim, *, dtype=None):
    """Running products along ``dim``: ``out[i] = input[0] * ... * input[i]`` (same shape)."""
    if dtype is not None:
        input = input.to(dtype)
    return Cumprod.apply(input, dim=wrap_dim(dim, input._data.ndim))


@op("reduction")
def nansum(input, dim=None, keepdim=False):
    """:func:`sum` treating NaN as zero."""
    from .elementwise import where, isnan
    return sum(where(isnan(input), 0.0, input), dim, keepdim)


def _cap(d):
    return {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
            "bool": "Bool", "float32": "Float", "float64": "Double", "float16": "Half"}[d.name]


@op("reduction")
def nanmean(input, dim=None, keepdim=False):
    """:func:`mean` over the elements that are not NaN."""
    from .elementwise import isnan, logical_not
    valid = logical_not(isnan(input))
    return nansum(input, dim, keepdim) / sum(valid, dim, keepdim)


def _maxmin(input, dim, keepdim, is_max, name):
    check_tensor(input, name)
    if dim is None:
        if input._data.size == 0:
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument.")
        cls = MaxAll if is_max else MinAll
        return cls.apply(input, dims=tuple(range(input._data.ndim)), keepdim=False, is_max=is_max)
    if isinstance(dim, Tensor):
        return (maximum if is_max else minimum)(input, dim)
    nd = input._data.ndim
    d = wrap_dim(dim, nd)
    if input._data.ndim and input._data.shape[d] == 0:
        raise IndexError(
            f"{name}(): Expected reduction dim {d} to have non-zero size.")
    a = input._data
    if a.ndim == 0:
        idx = xp.zeros((), dtype=xp.int64)
        vals = (MaxDim0d if is_max else MinDim0d).apply(input)
        return getattr(return_types, name)(vals, Tensor._wrap(idx))
    # NOTE: NaN propagates (argmax of a NaN slice is the NaN), like PyTorch.
    idx = _nan_aware_arg(a, d, is_max)
    idx_k = xp.expand_dims(idx, d)
    cls = MaxDim if is_max else MinDim
    vals = cls.apply(input, dim=d, keepdim=keepdim, idx=idx_k)
    return getattr(return_types, name)(vals, Tensor._wrap(idx_k if keepdim else idx))


def _nan_aware_arg(a, d, is_max):
    idx = (xp.argmax if is_max else xp.argmin)(a, axis=d)
    if a.dtype.kind == "f":
        nan = xp.isnan(a)
        if nan.any():
            has = nan.any(axis=d)
            idx = xp.where(has, xp.argmax(nan, axis=d), idx)
    return idx.astype(xp.int64)


def maximum(a, b):
    """The larger of ``input`` and ``other`` at each position (NaN wins), broadcast."""
    from .elementwise import maximum as m
    return m(a, b)


def minimum(a, b):
    """The smaller of ``input`` and ``other`` at each position (NaN wins), broadcast."""
    from .elementwise import minimum as m
    return m(a, b)


def _nonempty_dims(input, dim, name):
    """The dims of an amax/amin, each of which must have elements (no identity to return)."""
    check_tensor(input, name)
    if input._data.size == 0 and (dim is None or not isinstance(dim, int) and len(dim) == 0):
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                           "Specify the reduction dim with the 'dim' argument.")
    dims = reduce_dims(dim, input._data.ndim)
    for d in dims:
        if input._data.shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    return dims


@op("reduction")
def aminmax(input, *, dim=None, keepdim=False):
    """``(min, max)`` over ``dim`` (all elements by default) as a named tuple."""
    return return_types.aminmax(amin(input, dim if dim is not None else (), keepdim),
                                amax(input, dim if dim is not None else (), keepdim))


def _no_bool(input, name):
    if input._data.dtype == xp.bool_:
        raise RuntimeError(f"{name}(): does not support bool input")


def _float_only_var(input):
    if input._data.dtype.kind != "f":
        raise RuntimeError("std and var only support floating point and complex dtypes")


def _softmax_kernel_check(input, dim, name):
    """PyTorch has no integer softmax kernel: it names the kernel it would have used."""
    if input._data.dtype.kind != "f":
        last = input._data.ndim == 0 or dim == input._data.ndim - 1
        kernel = f"{name}_lastdim_kernel_impl" if last else f"{name}_kernel_impl"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_cap(input.dtype)}'")


def _arg_reduce(input, dim, keepdim, is_max, name):
    """Index of the max/min: of the flattened input, or along ``dim``."""
    check_tensor(input, name)
    _no_bool(input, name)
    a = input._data
    if dim is None:
        if a.size == 0:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
        out = Tensor._wrap(xp.asarray(_nan_aware_arg(a.reshape(-1), 0, is_max)))
    else:
        d = wrap_dim(dim, a.ndim)
        if a.ndim and a.shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
        idx = _nan_aware_arg(a, d, is_max)
        out = Tensor._wrap(xp.expand_dims(idx, d) if keepdim else idx)
    if input._requires_grad:
        from ..autograd.explain import note_cut  # indices have no gradient
        note_cut(out, input, "integer", f"{name}()")
    return out


@op("reduction")
def argmax(input, dim=None, keepdim=False):
    """The index of the maximum (of the flattened input, or along ``dim``), as int64."""
    return _arg_reduce(input, dim, keepdim, True, "argmax")


@op("reduction")
def argmin(input, dim=None, keepdim=False):
    """The index of the minimum (of the flattened input, or along ``dim``), as int64."""
    return _arg_reduce(input, dim, keepdim, False, "argmin")


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


@op("reduction", method=False)
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(var, mean)`` over ``dim`` in one call, with Bessel's ``correction``."""
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


@op("reduction", method=False)
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(std, mean)`` over ``dim`` in one call, with Bessel's ``correction``."""
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


@op("reduction")
def all(input, dim=None, keepdim=False):
    """True where every element (over ``dim``, or all of them) is non-zero; a bool tensor."""
    a = input._data
    if dim is None:
        return Tensor._wrap(xp.asarray(a.all()))
    return Tensor._wrap(xp.asarray(a.all(axis=reduce_dims(dim, a.ndim), keepdims=keepdim)))


@op("reduction")
def any(input, dim=None, keepdim=False):
    """True where some element (over ``dim``, or all of them) is non-zero; a bool tensor."""
    a = input._data
    if dim is None:
        return Tensor._wrap(xp.asarray(a.any()))
    return Tensor._wrap(xp.asarray(a.any(axis=reduce_dims(dim, a.ndim), keepdims=keepdim)))


@op("reduction")
def count_nonzero(input, dim=None):
    """The number of non-zero elements over ``dim`` (all dims by default), as int64."""
    a = input._data
    axes = None if dim is None else reduce_dims(dim, a.ndim)
    return Tensor._wrap(xp.asarray(xp.count_nonzero(a, axis=axes), dtype=xp.int64))


# =========================================================================== composites
@op("reduction")
def dist(input, other, p=2):
    """The ``p``-norm of ``input - other`` (broadcast), a 0-d tensor."""
    check_tensor(input, "dist")
    return (input - other).norm(p)


@op("scan")
def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim`` (``x[1:] - x[:-1]``, ``n`` times), after
    ``prepend`` and ``append`` are joined on; bool tensors differ by exclusive or."""
    check_tensor(input, "diff")
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    dim = wrap_dim(dim, input.ndim)
    if prepend is not None or append is not None:
        from .shape import cat
        input = cat([t for t in (prepend, input, append) if t is not None], dim)
    for _ in range(n):
        size = input.shape[dim]
        # (min and max are this module's ops: the bounds by hand)
        length = size - 1 if size else 0
        hi, lo = input.narrow(dim, 1 if size else 0, length), input.narrow(dim, 0, length)
        input = hi.logical_xor(lo) if input.dtype is dtypes.bool_ else hi - lo
    return input


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile_args(input, q, interpolation, name):
    """The ``q`` values as float64 and whether ``q`` was one number, with torch's errors."""
    check_tensor(input, name)
    if input._data.dtype not in (xp.float32, xp.float64):
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
        if q._data.dtype != input._data.dtype:
            raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor")
        qs, one = q._data.reshape(-1).astype(xp.float64), q.ndim == 0
        if ((qs < 0) | (qs > 1)).any():
            raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
    else:
        qs, one = xp.asarray([float(q)]), True
        if not 0 <= qs[0] <= 1:
            raise RuntimeError(f"{name}() q must be in the range [0, 1] but got {q}")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{name}() interpolation must be one of linear, lower, higher, midpoint or "
                           f"nearest, but got {interpolation}")
    if input._data.size == 0:
        raise RuntimeError(f"{name}() input tensor must be non-empty")
    return qs, one


def _read_sorted(srt, d, pos, interpolation, weight=None):
    """Sorted values ``srt`` read at (fractional) positions ``pos`` along ``d``; ``weight``: the
    linear interpolation's weight as a tensor (so that a ``q`` tensor gets its gradient)."""
    lo, hi = xp.floor(pos), xp.ceil(pos)
    if interpolation == "nearest":
        lo = hi = xp.round(pos)                     # (half to even, as torch)
    elif interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    v_lo = srt.gather(d, Tensor._wrap(lo.astype(xp.int64)))
    if interpolation in ("nearest", "lower", "higher"):
        return v_lo
    v_hi = srt.gather(d, Tensor._wrap(hi.astype(xp.int64)))
    if interpolation == "midpoint":
        return (v_lo + v_hi) * 0.5
    if weight is None:
        weight = Tensor._wrap((pos - lo).astype(srt._data.dtype))
    else:
        weight = weight - Tensor._wrap(lo.astype(srt._data.dtype))
    return v_lo + (v_hi - v_lo) * weight


def _quantile(input, q, dim, keepdim, interpolation, skip_nan):
    """quantile / nanquantile: sorted values (NaN last) read at ``q * (count - 1)``, interpolated;
    differentiable through the sort. Without ``skip_nan`` a line holding a NaN gives NaN."""
    qs, one = _quantile_args(input, q, interpolation, "nanquantile" if skip_nan else "quantile")
    x = input.reshape(-1) if dim is None or input.ndim == 0 else input
    d = 0 if x is not input else wrap_dim(dim, x.ndim)
    srt = x.sort(d).values
    nan = xp.isnan(x._data)
    count = x.shape[d] - (nan.sum(axis=d, keepdims=True) if skip_nan else 0)
    outs = []
    scale = (count - 1) * xp.ones(keep_shape(x.shape, (d,)), dtype=x._data.dtype)
    # a line with a NaN reads its last sorted value (a NaN), where torch sends its gradient
    nan_line = None if skip_nan else nan.any(axis=d, keepdims=True)
    for i, qv in enumerate(qs):
        # (a q tensor enters the interpolation weight, so it gets torch's gradient)
        weight = q.reshape(-1)[i] * Tensor._wrap(scale) if isinstance(q, Tensor) else None
        pos = xp.maximum(qv * scale, 0)
        if nan_line is not None:
            pos = xp.where(nan_line, x.shape[d] - 1, pos)
        v = _read_sorted(srt, d, pos, interpolation, weight)
        if keepdim:
            v = v.reshape(*((1,) * input.ndim)) if x is not input else v
        else:
            v = v.squeeze(d)
        outs.append(v)
    if one:
        return outs[0]
    from .shape import stack
    return stack(outs)


@op("reduction")
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The ``q``-th quantiles (a float, or a 1-D tensor of them: their axis comes first) of all
    elements or along ``dim``; NaN where a NaN is present. ``interpolation``: linear, lower,
    higher, midpoint or nearest (half to even)."""
    return _quantile(input, q, dim, keepdim, interpolation, False)


@op("reduction")
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """:func:`quantile` ignoring NaN (NaN only where every element is NaN)."""
    return _quantile(input, q, dim, keepdim, interpolation, True)


@op("reduction", method=False)
def cov(input, *, correction=1, fweights=None, aweights=None):
    """Covariance of the variables in the rows of ``input`` (observations in columns; a 1-D
    input is one variable), with integer frequency and float observation weights, as
    ``numpy.cov``; one variable gives a 0-d tensor."""
    check_tensor(input, "cov")
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input "
                           f"with {input.ndim} dimensions")
    x = input.reshape(1, -1) if input.ndim < 2 else input
    if x._data.dtype.kind not in "f":
        x = x.to(dtypes.get_default_dtype())
    for kind, weights, ok in (("fweights", fweights, "iu"), ("aweights", aweights, "f")):
        if weights is not None:
            _check_cov_weights(kind, weights, ok, x.shape[1])
    w = None
    if fweights is not None:
        w = fweights
    if aweights is not None:
        w = aweights if w is None else w * aweights
    if w is None:
        avg = x.mean(1, keepdim=True)
        norm = x.shape[1] - correction
        xm = x - avg
        c = xm @ xm.t()
    else:
        w = w.to(x.dtype)
        w_sum = w.sum()
        avg = (x * w).sum(1, keepdim=True) / w_sum
        norm = w_sum - (correction * (w * aweights).sum() / w_sum if aweights is not None and correction
                        else correction)
        xm = x - avg
        c = (xm * w) @ xm.t()
    if not isinstance(norm, Tensor) and norm <= 0:
        norm = 0
    return (c / norm).squeeze()


def _check_cov_weights(kind, w, kinds, n):
    """torch's errors for cov's ``fweights`` (integers) and ``aweights`` (floats)."""
    if w.ndim > 1:
        raise RuntimeError(f"cov(): expected {kind} to have one or fewer dimensions but got {kind} "
                           f"with {w.ndim} dimensions")
    if w._data.dtype.kind not in kinds:
        want = "integral" if kinds == "iu" else "floating point"
        raise RuntimeError(f"cov(): expected {kind} to have {want} dtype but got {kind} with "
                           f"{_cap(w.dtype)} dtype")
    if w.numel() != n:
        raise RuntimeError(f"cov(): expected {kind} to have the same numel as there are observations "
                           f"in the input but got {w.numel()} != {n}")
    if (w._data < 0).any():
        raise RuntimeError(f"cov(): {kind} cannot be negative")


@op("reduction", method=False)
def corrcoef(input):
    """Pearson correlation coefficients of the rows of ``input`` (as :func:`cov`), clamped to
    [-1, 1]."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = c.diagonal().sqrt()
    return (c / d.reshape(-1, 1) / d.reshape(1, -1)).clamp(-1, 1)


def _trapezoid_parts(y, x, dx, dim, name):
    """Each interval's area along ``dim``: ``(y[i+1] + y[i]) / 2`` times its width."""
    d = wrap_dim(dim, y.ndim)
    n = y.shape[d]
    if x is not None and (x.shape[-1] if x.ndim == 1 else x.shape[d]) != n:
        raise RuntimeError(f"{name}: There must be one `x` value for each sample point")
    mid = (y.narrow(d, 1, n - 1) + y.narrow(d, 0, n - 1)) if n else y.narrow(d, 0, 0)
    if x is None:
        return mid * ((1.0 if dx is None else dx) / 2), d
    widths = diff(x, dim=-1 if x.ndim == 1 else d)
    if x.ndim == 1:
        widths = widths.reshape(*([1] * d + [n - 1] + [1] * (y.ndim - d - 1)))
    return mid * widths / 2, d


@op("reduction", method=False, aliases=("trapz",))
def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoidal rule along ``dim``: samples ``y`` at points ``x`` (a tensor, broadcast
    along ``dim``) or spaced ``dx`` apart (default 1)."""
    check_tensor(y, "trapezoid")
    parts, d = _trapezoid_parts(y, x, dx, dim, "trapezoid")
    return parts.sum(d)


@op("reduction", method=False)
def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoidal rule along ``dim`` (one value fewer than ``y`` has)."""
    check_tensor(y, "cumulative_trapezoid")
    parts, d = _trapezoid_parts(y, x, dx, dim, "cumulative_trapezoid")
    return parts.cumsum(d)

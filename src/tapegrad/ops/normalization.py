"""Normalisation ops: batch norm (batch or running statistics), layer norm and group norm, fused.

The forward computes statistics once; the backward uses the closed-form
gradient. Under ``create_graph`` the backward instead re-runs the forward as
a composite of primitive ops and differentiates that, so second derivatives
are exact without a hand-written double backward.
"""
from __future__ import annotations

from .. import backend as B
from ..autograd.graph import Node
from ..tensor import Tensor
from .reduction import sum_rows

xp = B.xp


def _bn_composite(x, w, b, axes, eps):
    mean = x.mean(dim=axes, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
    y = (x - mean) * (var + eps).rsqrt()
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def _recompute_grads(fn, inputs, g):
    """Gradients of ``fn(*inputs)`` with ``g`` as upstream, recorded for higher order."""
    from ..autograd import grad
    live = [i for i in inputs if isinstance(i, Tensor) and i.requires_grad]
    out = fn(*inputs)
    res = grad(out, live, g, create_graph=True, allow_unused=True)
    it = iter(res)
    return tuple(next(it) if isinstance(i, Tensor) and i.requires_grad else None for i in inputs)


def _channel_shape(x, axes):
    """The shape that lines a per-channel vector up with ``x``: 1 on each reduced axis."""
    return tuple(1 if i in axes else n for i, n in enumerate(x.shape))


def _per_channel(v, shape):
    """A per-channel weight/bias (array or tensor) reshaped to broadcast against the input."""
    if v is None:
        return None
    return v.reshape(shape) if B.is_array(v) else v.reshape(*shape)


def _channel_sum(x, axes):
    """The sum over ``axes`` keeping their dims; a product with ones where the channels are
    innermost in memory (convolution outputs): NumPy's own reduction adds such an array a few
    values at a time (8x64x32x32: 0.21 -> 0.07 ms)."""
    s = sum_rows(x, axes)
    return x.sum(axis=axes, keepdims=True) if s is None else s.reshape(_channel_shape(x, axes))


def _channel_mean(x, axes):
    """The mean over ``axes`` keeping their dims, through :func:`_channel_sum`'s product where
    the layout allows (else NumPy's mean, which sums float16 in float32)."""
    s = sum_rows(x, axes)
    if s is None:
        return x.mean(axis=axes, keepdims=True)
    return (s / (x.size // s.size)).astype(x.dtype, copy=False).reshape(_channel_shape(x, axes))


def channel_rows(x, axes):
    """``x`` as an (M, C) matrix whose columns are the channel kept by ``axes``, when that
    channel is innermost in memory (a convolution's channels-last output, a (B, C) batch), x is
    float32/64 and large enough for :func:`sum_rows`; else None. Batch norm then works on
    rows against (C,) vectors, with no 4-D broadcasting (ResNet-18's batch norms on their
    small maps: ~0.3 -> ~0.2 ms each)."""
    if len(axes) != x.ndim - 1 or 1 in axes or x.dtype.kind != "f" or x.itemsize < 4 or \
            x.size < 4096:
        return None
    return B.channel_rows(x)


def _from_rows(rows, x):
    """An (M, C) result of :func:`channel_rows` back in ``x``'s (N, C, ...) shape (a view)."""
    nd = x.ndim
    if nd == 2:
        return rows
    lead = (x.shape[0],) + x.shape[2:]
    return rows.reshape(lead + (x.shape[1],)).transpose((0, nd - 1) + tuple(range(1, nd - 1)))


def _broadcast(ufunc, a, b, out=None):
    """:func:`backend.per_column`'s call for arrays that broadcast as they are."""
    return ufunc(a, b, out=out)


def _row_sum(rows):
    return xp.ones(rows.shape[0], dtype=rows.dtype) @ rows


def _row_mean(rows):
    """:func:`_channel_mean` of :func:`channel_rows`: the same product with ones, as (C,)."""
    return (_row_sum(rows) / rows.shape[0]).astype(rows.dtype, copy=False)


class BatchNorm(Node):
    """Normalise with the batch's statistics over ``axes``; w and b are per channel, ``(C,)``
    (PyTorch's node takes them so, and the graph has no view between a parameter and it)."""

    _bw_name = "NativeBatchNormBackward0"

    def forward(ctx, x, w, b, axes, eps, stats=None):
        shape = _channel_shape(x, axes)
        rows = channel_rows(x, axes)
        if rows is None:   # x itself, against per-channel factors shaped (1, C, 1, ...)
            xv, wv, bv, col = x, _per_channel(w, shape), _per_channel(b, shape), _broadcast
            mean_of = lambda a: _channel_mean(a, axes)   # noqa: E731
        else:              # its (M, C) rows against (C,) factors: the same operations
            xv, wv, bv, mean_of, col = rows, w, b, _row_mean, B.per_column
        mean = mean_of(xv)
        xc = col(xp.subtract, xv, mean)
        out = xp.square(xc)
        var = mean_of(out)
        invstd = 1.0 / xp.sqrt(var + eps)
        # the per-channel factors first, then two passes over the (large) input
        col(xp.multiply, xc, invstd if wv is None else invstd * wv, out=out)
        if bv is not None:
            col(xp.add, out, bv, out=out)
        if rows is not None:
            out = _from_rows(out, x)
            mean, var, invstd = mean.reshape(shape), var.reshape(shape), invstd.reshape(shape)
        if stats is not None:          # (the running statistics' update reads them)
            stats.append((mean, var))
        ctx.axes, ctx.eps = axes, eps
        ctx.mean, ctx.invstd = mean, invstd
        # NOTE: saves the input, not the output: a following in-place ReLU may overwrite it
        ctx.saved = (x, w, b)
        return out

    def backward(ctx, g):
        x, w, b = ctx.saved
        axes = ctx.axes
        n = ctx.needs_input_grad
        shape = _channel_shape(x, axes)
        if isinstance(g, Tensor):
            return _recompute_grads(
                lambda x_, w_, b_: _bn_composite(x_, _per_channel(w_, shape), _per_channel(b_, shape),
                                                 axes, ctx.eps), (x, w, b), g)
        m = 1
        for a in axes:
            m *= x.shape[a]
        rows = channel_rows(x, axes)
        grows = None if rows is None else channel_rows(g, axes)
        if grows is None:
            xv, gv, mean, invstd, col = x, g, ctx.mean, ctx.invstd, _broadcast
            wv = w.reshape(shape) if w is not None else 1.0
            sum_of = lambda a: _channel_sum(a, axes)   # noqa: E731
        else:              # (M, C) rows against (C,) factors, as in the forward
            xv, gv, mean, invstd = rows, grows, ctx.mean.reshape(-1), ctx.invstd.reshape(-1)
            wv, sum_of, col = (w if w is not None else 1.0), _row_sum, B.per_column
        xhat = col(xp.subtract, xv, mean)
        col(xp.multiply, xhat, invstd, out=xhat)
        gsum = sum_of(gv)
        gxhat_sum = sum_of(gv * xhat)
        gx = gw = gb = None
        if n[0]:
            # scale * (m g - gsum - xhat gxhat_sum), with its per-channel factors formed first:
            # three passes over the input instead of five
            scale = invstd * wv / m
            gx = col(xp.multiply, gv, (scale * m).astype(g.dtype, copy=False))
            col(xp.multiply, xhat, (-scale * gxhat_sum).astype(xhat.dtype, copy=False), out=xhat)
            gx += xhat
            col(xp.subtract, gx, (scale * gsum).astype(gx.dtype, copy=False), out=gx)
            if grows is not None:
                gx = _from_rows(gx, x)
        if len(n) > 1 and n[1]:
            gw = gxhat_sum.reshape(w.shape)
        if len(n) > 2 and n[2]:
            gb = gsum.reshape(b.shape)
        return gx, gw, gb


def _affine_composite(x, w, b, mean, invstd):
    y = (x - mean) * invstd
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


class BatchNormStats(Node):
    """Normalise with given statistics (evaluation mode): ``(x - mean) * invstd * w + b``,
    with ``mean``/``invstd`` constants shaped to broadcast and w, b per channel."""

    _bw_name = "NativeBatchNormBackward0"

    def forward(ctx, x, w, b, mean, invstd, axes):
        shape = mean.shape
        # per channel first: x * scale + shift, two passes over the input instead of four
        scale = invstd if w is None else invstd * w.reshape(shape)
        shift = -mean * scale
        if b is not None:
            shift = shift + b.reshape(shape)
        out = x * scale.astype(x.dtype, copy=False)
        out += shift.astype(x.dtype, copy=False)
        ctx.mean, ctx.invstd, ctx.axes = mean, invstd, axes
        ctx.saved = (x, w, b)
        return out

    def backward(ctx, g):
        x, w, b = ctx.saved
        n = ctx.needs_input_grad
        mean, invstd, axes = ctx.mean, ctx.invstd, ctx.axes
        shape = mean.shape
        if isinstance(g, Tensor):
            return _recompute_grads(
                lambda x_, w_, b_: _affine_composite(x_, _per_channel(w_, shape), _per_channel(b_, shape),
                                                     Tensor._wrap(mean), Tensor._wrap(invstd)), (x, w, b), g)
        gx = gw = gb = None
        if n[0]:
            gx = g * (invstd * w.reshape(shape) if w is not None else invstd)
        if len(n) > 1 and n[1]:
            gw = (g * ((x - mean) * invstd)).sum(axis=axes).reshape(w.shape)
        if len(n) > 2 and n[2]:
            gb = g.sum(axis=axes).reshape(b.shape)
        return gx, gw, gb


def _ln_composite(x, w, b, axes, eps):
    return _bn_composite(x, w, b, axes, eps)


class LayerNorm(Node):
    _bw_name = "NativeLayerNormBackward0"

    def forward(ctx, x, w, b, axes, eps):
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        invstd = 1.0 / xp.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
        out = xc * invstd
        if w is not None:  # w and b have the normalised trailing shape: they broadcast as they are
            out *= w
        if b is not None:
            out += b
        ctx.axes, ctx.eps = axes, eps
        ctx.mean, ctx.invstd = mean, invstd
        ctx.saved = (x, w, b)
        return out

    def backward(ctx, g):
        x, w, b = ctx.saved
        n = ctx.needs_input_grad
        if isinstance(g, Tensor):
            return _recompute_grads(lambda x_, w_, b_: _ln_composite(x_, w_, b_, ctx.axes, ctx.eps),
                                    (x, w, b), g)
        axes = ctx.axes
        m = 1
        for a in axes:
            m *= x.shape[a]
        xhat = (x - ctx.mean) * ctx.invstd
        gw = gb = gx = None
        lead = tuple(range(x.ndim - len(axes)))
        gxhat = g * w if w is not None else g
        if n[0]:
            s1 = gxhat.sum(axis=axes, keepdims=True)
            s2 = (gxhat * xhat).sum(axis=axes, keepdims=True)
            gx = ctx.invstd / m * (m * gxhat - s1 - xhat * s2)
        if len(n) > 1 and n[1]:
            gw = (g * xhat).sum(axis=lead) if lead else g * xhat
        if len(n) > 2 and n[2]:
            gb = g.sum(axis=lead) if lead else g
        return gx, gw, gb


def _gn_composite(x, w, b, groups, eps):
    n = x.shape[0]
    xr = x.reshape(n, groups, -1)
    mean = xr.mean(dim=2, keepdim=True)
    var = ((xr - mean) ** 2).mean(dim=2, keepdim=True)
    y = ((xr - mean) * (var + eps).rsqrt()).reshape(*x.shape)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return _affine_composite(y, _per_channel(w, shape), _per_channel(b, shape), 0.0, 1.0)


class GroupNorm(Node):
    """Normalise each sample over groups of channels (and all positions); w, b per channel.

    ``x`` is ``(N, C, *)``; the statistics are over ``(C // groups) * prod(*)`` values each.
    """

    _bw_name = "NativeGroupNormBackward0"

    def forward(ctx, x, w, b, groups, eps):
        n = x.shape[0]
        xr = x.reshape(n, groups, -1)
        mean = xr.mean(axis=2, keepdims=True)
        xc = xr - mean
        invstd = 1.0 / xp.sqrt((xc * xc).mean(axis=2, keepdims=True) + eps)
        out = (xc * invstd).reshape(x.shape)
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if w is not None:
            out = out * w.reshape(shape)
        if b is not None:
            out = out + b.reshape(shape)
        ctx.groups, ctx.eps, ctx.mean, ctx.invstd = groups, eps, mean, invstd
        ctx.saved = (x, w, b)
        return out.astype(x.dtype, copy=False)

    def backward(ctx, g):
        x, w, b = ctx.saved
        need = ctx.needs_input_grad
        if isinstance(g, Tensor):
            return _recompute_grads(lambda x_, w_, b_: _gn_composite(x_, w_, b_, ctx.groups, ctx.eps),
                                    (x, w, b), g)
        n, groups = x.shape[0], ctx.groups
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        others = (0,) + tuple(range(2, x.ndim))
        xhat = ((x.reshape(n, groups, -1) - ctx.mean) * ctx.invstd).reshape(x.shape)
        gx = gw = gb = None
        if need[0]:
            gxhat = (g * w.reshape(shape) if w is not None else g).reshape(n, groups, -1)
            xh = xhat.reshape(n, groups, -1)
            m = xh.shape[2]
            s1 = gxhat.sum(axis=2, keepdims=True)
            s2 = (gxhat * xh).sum(axis=2, keepdims=True)
            gx = (ctx.invstd / m * (m * gxhat - s1 - xh * s2)).reshape(x.shape)
        if len(need) > 1 and need[1]:
            gw = (g * xhat).sum(axis=others).reshape(w.shape)
        if len(need) > 2 and need[2]:
            gb = g.sum(axis=others).reshape(b.shape)
        return gx, gw, gb

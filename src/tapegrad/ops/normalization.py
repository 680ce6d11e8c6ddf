"""Normalisation ops: batch norm (training statistics) and layer norm, fused.

The forward computes statistics once; the backward uses the closed-form
gradient. Under ``create_graph`` the backward instead re-runs the forward as
a composite of primitive ops and differentiates that, so second derivatives
are exact without a hand-written double backward.
"""
from __future__ import annotations

from .. import backend as B
from ..autograd.graph import Node
from ..tensor import Tensor

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


class BatchNorm(Node):
    """Normalise with the batch's statistics over ``axes``; w/b have the broadcast shape."""

    _bw_name = "NativeBatchNormBackward0"

    def forward(ctx, x, w, b, axes, eps):
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
        invstd = 1.0 / xp.sqrt(var + eps)
        xhat = xc * invstd
        out = xhat * w if w is not None else xhat
        if b is not None:
            out = out + b
        ctx.axes, ctx.eps = axes, eps
        ctx.mean, ctx.invstd = mean, invstd
        # NOTE: saves the input, not the output: a following in-place ReLU may overwrite it
        ctx.saved = (x, w, b)
        ctx.stats = (mean, var)
        return out

    def backward(ctx, g):
        x, w, b = ctx.saved
        axes = ctx.axes
        n = ctx.needs_input_grad
        if isinstance(g, Tensor):
            return _recompute_grads(lambda x_, w_, b_: _bn_composite(x_, w_, b_, axes, ctx.eps), (x, w, b), g)
        m = 1
        for a in axes:
            m *= x.shape[a]
        xhat = (x - ctx.mean) * ctx.invstd
        gsum = g.sum(axis=axes, keepdims=True)
        gxhat_sum = (g * xhat).sum(axis=axes, keepdims=True)
        gx = gw = gb = None
        if n[0]:
            scale = ctx.invstd * (w if w is not None else 1.0) / m
            gx = scale * (m * g - gsum - xhat * gxhat_sum)
        if len(n) > 1 and n[1]:
            gw = gxhat_sum
        if len(n) > 2 and n[2]:
            gb = gsum
        return gx, gw, gb


def _ln_composite(x, w, b, axes, eps):
    return _bn_composite(x, w, b, axes, eps)


class LayerNorm(Node):
    _bw_name = "NativeLayerNormBackward0"

    def forward(ctx, x, w, b, axes, eps):
        return BatchNorm.forward(ctx, x, w, b, axes, eps)

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

"""Spatial layer functions: interpolate, unfold/fold, pixel shuffle, embedding_bag, ctc_loss.

``nn.functional`` re-exports everything public here. Resampling (every ``interpolate``
mode) is one pair of linear nodes: each output position along an axis is a weighted sum
of a few input positions (its *taps*), so the forward gathers and weighs, and the
derivative scatter-adds the weighted gradient back to the taps (the transpose of the
sampling). The two nodes are each other's derivative, so double backward works too.
"""

from __future__ import annotations

import math
import numbers
import warnings

from .. import backend as B
from ..autograd.graph import Node
from ..ops import _dispatch
from ..tensor import Tensor

xp = B.xp
_public = _dispatch.functional


# =========================================================================== resampling kernels
#: up to this many input positions along an axis, weighted taps run as one matrix product
#: (BLAS beats gathering and scatter-adding; the dense matrix costs n flops per output)
_DENSE_MAX = 256


def _dense(idx, w, n, dtype):
    """The (out, n) matrix of the taps: row j holds w[j, k] at column idx[j, k]."""
    m = xp.zeros((idx.shape[0], n), dtype=dtype)
    xp.add.at(m, (xp.repeat(xp.arange(idx.shape[0]), idx.shape[1]), idx.ravel()), w.ravel())
    return m


def _matmul_axis(x, axis, m):
    """Contract ``x`` along ``axis`` with the rows of ``m`` (out, n).

    out[..., j, ...] = sum_i m[j, i] x[..., i, ...]."""
    # always one 2-D product: NumPy's stacked matmul runs one small BLAS call per leading index
    if axis == x.ndim - 1:
        flat = xp.ascontiguousarray(x).reshape(-1, x.shape[-1])
        return xp.matmul(flat, m.T).reshape(x.shape[:-1] + (-1,))
    return xp.ascontiguousarray(xp.moveaxis(xp.tensordot(m, x, axes=([1], [axis])), 0, axis))


def _gather_axis(x, axis, idx, w):
    """Along ``axis``, output j = sum_k w[j, k] * x[idx[j, k]]; idx, w are (out, K)."""
    if w is None:
        return xp.take(x, idx[:, 0], axis=axis)
    n = x.shape[axis]
    if n <= _DENSE_MAX:
        return _matmul_axis(x, axis, _dense(idx, w, n, x.dtype))
    taken = xp.take(x, idx, axis=axis)  # (..., out, K, ...)
    wshape = (1,) * axis + w.shape + (1,) * (x.ndim - axis - 1)
    return (taken * w.reshape(wshape)).sum(axis=axis + 1)


def _scatter_axis(g, axis, idx, w, n):
    """Transpose of :func:`_gather_axis`: input i receives sum of w[j, k] * g[j] with idx[j, k] == i."""
    if w is not None and n <= _DENSE_MAX:
        return _matmul_axis(g, axis, _dense(idx, w, n, g.dtype).T)
    moved = xp.moveaxis(g, axis, -1)
    lead = moved.shape[:-1]
    rows = math.prod(lead)
    gm = moved.reshape(rows, moved.shape[-1])
    contrib = gm[:, :, None] if w is None else gm[:, :, None] * w[None]
    contrib = xp.broadcast_to(contrib, (rows,) + idx.shape)
    flat = (xp.arange(rows)[:, None, None] * n + idx[None]).ravel()
    out = xp.bincount(flat, weights=contrib.ravel(), minlength=rows * n).astype(g.dtype, copy=False)
    return xp.moveaxis(out.reshape(lead + (n,)), -1, axis)


class _Resample(Node):
    """Separable resampling; ``plan`` is a tuple of (axis, idx, weights or None, input size)."""

    def forward(ctx, x, plan):
        ctx.plan = plan
        for axis, idx, w, _ in plan:
            x = _gather_axis(x, axis, idx, None if w is None else w.astype(x.dtype, copy=False))
        return x if plan else x.copy()

    def backward(ctx, g):
        return _ResampleAdjoint.apply(g, plan=ctx.plan)


class _ResampleAdjoint(Node):
    """The derivative of :class:`_Resample` (scatter-add to the taps); its own derivative resamples."""

    def forward(ctx, g, plan):
        ctx.plan = plan
        for axis, idx, w, n in reversed(plan):
            g = _scatter_axis(g, axis, idx, None if w is None else w.astype(g.dtype, copy=False), n)
        return g

    def backward(ctx, gg):
        return _resample_node(type(ctx)._forward_cls).apply(gg, plan=ctx.plan)


_NODE_CACHE: dict = {}


def _resample_node(name):
    """The resampling node whose ``grad_fn`` is named ``<name>Backward0`` (PyTorch's names)."""
    cls = _NODE_CACHE.get(name)
    if cls is None:
        adj = type(name + "Adjoint", (_ResampleAdjoint,), {"_bw_name": name + "BackwardBackward0"})
        cls = type(name, (_Resample,), {"_bw_name": name + "Backward0"})
        adj._forward_cls = name

        def backward(ctx, g, _adj=adj):
            return _adj.apply(g, plan=ctx.plan)

        cls.backward = backward
        _NODE_CACHE[name] = cls
    return cls


def _nearest_taps(n, m, scale, exact):
    """Source index of each of the ``m`` outputs; PyTorch computes it in float32."""
    dst = xp.arange(m, dtype=xp.float32)
    if exact:
        dst = dst + xp.float32(0.5)
    src = xp.floor(dst * xp.float32(scale)).astype(xp.int64)
    return xp.minimum(src, n - 1)[:, None], None


def _source_coords(n, m, scale, align_corners, dtype):
    dst = xp.arange(m, dtype=dtype)
    if align_corners:
        return dst * dtype(scale)
    return dtype(scale) * (dst + dtype(0.5)) - dtype(0.5)


def _linear_taps(n, m, scale, align_corners, dtype):
    src = _source_coords(n, m, scale, align_corners, dtype)
    if not align_corners:
        src = xp.maximum(src, dtype(0))
    i0 = xp.floor(src).astype(xp.int64)
    i0 = xp.minimum(i0, n - 1)
    i1 = xp.minimum(i0 + 1, n - 1)
    lam = src - i0
    return xp.stack([i0, i1], 1), xp.stack([1 - lam, lam], 1)


def _cubic_weights(t, a):
    """Keys' cubic convolution weights of the four taps at offsets -1, 0, 1, 2 from floor(src)."""

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return xp.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], 1)


def _cubic_taps(n, m, scale, align_corners, dtype):
    src = _source_coords(n, m, scale, align_corners, dtype)
    i = xp.floor(src)
    t = src - i
    idx = xp.clip(i.astype(xp.int64)[:, None] + xp.arange(-1, 3)[None], 0, n - 1)
    return idx, _cubic_weights(t, dtype(-0.75)).astype(dtype)


def _aa_filter(x, cubic):
    x = xp.abs(x)
    if not cubic:
        return xp.maximum(0.0, 1.0 - x)
    a = -0.5  # antialiased bicubic uses PIL's kernel
    return xp.where(
        x < 1,
        ((a + 2) * x - (a + 3)) * x * x + 1,
        xp.where(x < 2, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0),
    )


def _antialias_taps(n, m, scale, cubic, dtype):
    """Taps of a filter widened by the downscale factor (separable, as PIL resizes)."""
    support = (2.0 if cubic else 1.0) * (scale if scale >= 1.0 else 1.0)
    inv = 1.0 / scale if scale >= 1.0 else 1.0
    # (with align_corners only the step changes: the window centres stay at scale * (j + 1/2))
    center = scale * (xp.arange(m, dtype=xp.float64) + 0.5)
    lo = xp.maximum((center - support + 0.5).astype(xp.int64), 0)
    hi = xp.minimum((center + support + 0.5).astype(xp.int64), n)
    k = int((hi - lo).max()) if m else 1
    idx = lo[:, None] + xp.arange(k)[None]
    valid = idx < hi[:, None]
    w = _aa_filter((idx - center[:, None] + 0.5) * inv, cubic) * valid
    total = w.sum(1, keepdims=True)
    w = xp.where(total != 0, w / xp.where(total != 0, total, 1.0), 0.0)
    return xp.minimum(idx, n - 1), w.astype(dtype)


# =========================================================================== interpolate
_MODES_TEXT = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"
_INTERP_MODES = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_NODE_NAMES = {
    "nearest": "UpsampleNearest",
    "nearest-exact": "UpsampleNearestExact",
    "linear": "UpsampleLinear",
    "bilinear": "UpsampleBilinear",
    "bicubic": "UpsampleBicubic",
    "trilinear": "UpsampleTrilinear",
}


def _interp_sizes(input, size, scale_factor, recompute_scale_factor):
    """Output sizes and the scale factors the kernels see (None: derived from the sizes)."""
    dims = input.ndim - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        if isinstance(size, (list, tuple)):
            if len(size) != dims:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got input with "
                    f"spatial dimensions of {spatial} and output size of {size}. Please provide input tensor "
                    "in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format."
                )
            if not all(isinstance(s, numbers.Integral) for s in size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                    "Tuple[int, int, int], but got size with types "
                    f"{[type(s) for s in size]}"
                )
            out = [int(s) for s in size]
        else:
            out = [int(size)] * dims
        return out, [None] * dims
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if isinstance(scale_factor, (list, tuple)):
        if len(scale_factor) != dims:
            raise ValueError(
                "Input and scale_factor must have the same number of spatial dimensions, but got input with "
                f"spatial dimensions of {spatial} and scale_factor of shape {scale_factor}. Please provide "
                "input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
            )
        scales = [float(s) for s in scale_factor]
    else:
        scales = [float(scale_factor)] * dims
    out = [int(math.floor(float(n) * s)) for n, s in zip(spatial, scales, strict=True)]
    return out, ([None] * dims if recompute_scale_factor else scales)


def _axis_scale(n, m, sf, align_corners):
    """PyTorch's source-per-output step along one axis."""
    if align_corners:
        return (n - 1) / (m - 1) if m > 1 else 0.0
    return 1.0 / sf if sf is not None and sf > 0 else n / m


def _check_interp(input, mode, align_corners, antialias):
    if not isinstance(input, Tensor):
        raise TypeError(
            f"interpolate(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )
    if mode in ("nearest", "area", "nearest-exact") and align_corners is not None:
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    if antialias and not (mode in ("bilinear", "bicubic") and input.ndim == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and "
            "requires a 4-D tensor as input"
        )
    need = _INTERP_MODES.get(mode)
    # (PyTorch names the rank a mode needs for every mode but bicubic)
    if input.ndim in (3, 4, 5) and need is not None and input.ndim != need and mode != "bicubic":
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {need}D input")
    if (
        input.ndim not in (3, 4, 5)
        or (need is None and mode not in ("nearest", "nearest-exact", "area"))
        or (need is not None and input.ndim != need)
    ):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) "
            f"for the modes: {_MODES_TEXT} (got {mode})"
        )


def _check_float_interp(input, mode, dims):
    """PyTorch's error for integer input (uint8 passes in nearest modes, exact there)."""
    if dims == 2 and mode in ("nearest", "nearest-exact", "bilinear"):
        kernel = f"upsample_{'bilinear' if mode == 'bilinear' else 'nearest'}2d_channels_last"
    else:
        kernel = "compute_indices_weights_" + {"bicubic": "cubic", "nearest-exact": "nearest"}.get(
            mode, "nearest" if mode == "nearest" else "linear"
        )
    if input._data.dtype == xp.uint8 and mode in ("bilinear", "bicubic"):
        # PyTorch's fixed-point uint8 kernels for these modes are not reproduced
        raise NotImplementedError(f"interpolate: mode='{mode}' on uint8 input is not supported yet")
    raise NotImplementedError(f"\"{kernel}\" not implemented for '{_dtype_word(input)}'")


@_public("layer")
def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    """Resample (N, C, *spatial) to ``size`` or ``spatial * scale_factor``.

    ``mode``: 'nearest' and 'nearest-exact' (any of 1-3 spatial dims), 'linear' (3-D input),
    'bilinear' and 'bicubic' (4-D), 'trilinear' (5-D), 'area' (adaptive average pooling; 3-D or
    4-D). ``align_corners`` maps the corner pixels' centres onto each other (interpolating modes
    only); ``antialias`` low-pass filters when downsampling (bilinear/bicubic).

    >>> interpolate(tapegrad.ones(1, 1, 2, 2), scale_factor=2, mode='bilinear').shape
    torch.Size([1, 1, 4, 4])
    """
    _check_interp(input, mode, align_corners, antialias)
    out, scales = _interp_sizes(input, size, scale_factor, recompute_scale_factor)
    spatial = input.shape[2:]
    if any(m <= 0 for m in out) or any(n <= 0 for n in spatial):
        names = ("D", "H", "W")[3 - len(out) :]
        raise RuntimeError(
            "Input and output sizes should be greater than 0, but got input ("
            + ", ".join(f"{a}: {n}" for a, n in zip(names, spatial, strict=True))
            + ") output ("
            + ", ".join(f"{a}: {m}" for a, m in zip(names, out, strict=True))
            + ")"
        )
    if mode == "area":  # PyTorch's 'area' is adaptive average pooling to the output size
        from . import functional as F

        if len(out) == 3:
            raise NotImplementedError("interpolate: mode='area' on 5-D input is not supported yet")
        pool = F.adaptive_avg_pool1d if len(out) == 1 else F.adaptive_avg_pool2d
        return pool(input, out[0] if len(out) == 1 else tuple(out))
    if input._data.dtype.kind != "f" and not (input._data.dtype == xp.uint8 and "nearest" in mode):
        _check_float_interp(input, mode, len(out))
    align = bool(align_corners)
    dtype = input._data.dtype.type
    plan = []
    for d, (n, m, sf) in enumerate(zip(spatial, out, scales, strict=True)):
        scale = _axis_scale(n, m, sf, align and mode not in ("nearest", "nearest-exact"))
        if mode in ("nearest", "nearest-exact"):
            if n == m and sf is None:
                continue  # PyTorch copies when nothing changes
            idx, w = _nearest_taps(n, m, scale, mode == "nearest-exact")
        elif antialias:
            idx, w = _antialias_taps(n, m, scale, mode == "bicubic", dtype)
        elif mode == "bicubic":
            idx, w = _cubic_taps(n, m, scale, align, dtype)
        else:
            idx, w = _linear_taps(n, m, scale, align, dtype)
        plan.append((d + 2, idx, w, n))
    name = _NODE_NAMES[mode] + f"{len(out)}D" + ("Aa" if antialias else "")
    return _resample_node(name).apply(input, plan=tuple(plan))


@_public("layer")
def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate` (PyTorch warns the same way)."""
    warnings.warn(
        "`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2
    )
    return interpolate(input, size, scale_factor, mode, align_corners)


# =========================================================================== unfold / fold
def _blocks(spatial, k, dil, pad, stride):
    return [
        (n + 2 * p - d * (kk - 1) - 1) // s + 1
        for n, kk, d, p, s in zip(spatial, k, dil, pad, stride, strict=True)
    ]


def _im2col(x, k, dil, pad, stride):
    """(N, C, H, W) -> (N, C*kh*kw, L): every block, channel-major then kernel offsets."""
    n, c = x.shape[:2]
    oh, ow = _blocks(x.shape[2:], k, dil, pad, stride)
    xpad = xp.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1]))) if any(pad) else x
    s = xpad.strides
    win = xp.lib.stride_tricks.as_strided(
        xpad,
        (n, c, k[0], k[1], oh, ow),
        (s[0], s[1], s[2] * dil[0], s[3] * dil[1], s[2] * stride[0], s[3] * stride[1]),
        writeable=False,
    )
    return win.reshape(n, c * k[0] * k[1], oh * ow)


def _col2im(cols, out_hw, k, dil, pad, stride):
    """Adjoint of :func:`_im2col`: sum each block back into place (one strided add per offset)."""
    n = cols.shape[0]
    c = cols.shape[1] // (k[0] * k[1])
    oh, ow = _blocks(out_hw, k, dil, pad, stride)
    h, w = out_hw[0] + 2 * pad[0], out_hw[1] + 2 * pad[1]
    out = xp.zeros((n, c, h, w), dtype=cols.dtype)
    blocks = cols.reshape(n, c, k[0], k[1], oh, ow)
    for i in range(k[0]):
        for j in range(k[1]):
            r0, c0 = i * dil[0], j * dil[1]
            out[
                :,
                :,
                r0 : r0 + stride[0] * (oh - 1) + 1 : stride[0],
                c0 : c0 + stride[1] * (ow - 1) + 1 : stride[1],
            ] += blocks[:, :, i, j]
    return out[:, :, pad[0] : pad[0] + out_hw[0], pad[1] : pad[1] + out_hw[1]]


class Im2Col(Node):
    """unfold on (N, C, H, W) or unbatched (C, H, W) input."""

    def forward(ctx, x, cfg):
        ctx.cfg, ctx.hw = cfg, x.shape[-2:]
        return _im2col(x, *cfg) if x.ndim == 4 else _im2col(x[None], *cfg)[0]

    def backward(ctx, g):
        return Col2Im.apply(g, hw=ctx.hw, cfg=ctx.cfg)


class Col2Im(Node):
    """fold on (N, C*k, L) or unbatched (C*k, L) input."""

    def forward(ctx, cols, hw, cfg):
        ctx.cfg = cfg
        return _col2im(cols, hw, *cfg) if cols.ndim == 3 else _col2im(cols[None], hw, *cfg)[0]

    def backward(ctx, g):
        return Im2Col.apply(g, cfg=ctx.cfg)


def _fold_cfg(kernel_size, dilation, padding, stride):
    from .functional import _pair

    cfg = [_pair(v) for v in (kernel_size, dilation, padding, stride)]
    for v in cfg:
        if len(v) != 2:
            raise RuntimeError(f"It is expected kernel_size equals to 2, but got size {len(v)}")
    k, d, p, s = cfg
    checks = (
        (k, "kernel size should be greater than zero, but got kernel_height: {} kernel_width: {}", 1),
        (s, "stride should be greater than zero, but got stride_height: {} stride_width: {}", 1),
        (p, "padding should be non-negative, but got pad_height: {} pad_width: {}", 0),
        (d, "dilation should be greater than zero, but got dilation_height: {} dilation_width: {}", 1),
    )
    for v, msg, least in checks:
        if min(v) < least:
            raise RuntimeError(msg.format(*v))
    return k, d, p, s


def _check_float(input, kernel):
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_dtype_word(input)}'")


def _dtype_word(t):
    from ..tensor import _SCALAR_NAMES

    return _SCALAR_NAMES.get(t._data.dtype.name, t._data.dtype.name)


@_public("layer")
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding blocks: (N, C, H, W) -> (N, C * prod(kernel_size), L), L = number of blocks.

    >>> unfold(tapegrad.randn(1, 3, 4, 4), 2).shape
    torch.Size([1, 12, 9])
    """
    k, d, p, s = _fold_cfg(kernel_size, dilation, padding, stride)
    if input.ndim not in (3, 4):
        if input.ndim < 3:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [-{input.ndim}, "
                f"{input.ndim - 1}], but got 2)"
            )
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other "
            f"non-zero dimensions for input, but got: {list(input.shape)}"
        )
    _check_float(input, "im2col_out_cpu")
    blocks = _blocks(input.shape[-2:], k, d, p, s)
    if min(blocks) < 1:
        raise RuntimeError(
            f"Given input with spatial size {tuple(input.shape[-2:])}, kernel_size={k}, dilation={d}, "
            f"padding={p}, calculated shape of the array of sliding blocks as {tuple(blocks)}, but its "
            "components must be at least one."
        )
    return Im2Col.apply(input, cfg=(k, d, p, s))


@_public("layer")
def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding blocks back into an image: (N, C * prod(kernel_size), L) -> (N, C, *output_size).

    The adjoint of :func:`unfold` (overlapping blocks add up).
    """
    from .functional import _pair

    hw = _pair(output_size)
    k, d, p, s = _fold_cfg(kernel_size, dilation, padding, stride)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and "
            f"non-zero dimensions for input, but got: {list(input.shape)}"
        )
    _check_float(input, "col2im_out_cpu")
    cdim = input.shape[-2]
    if cdim % (k[0] * k[1]):
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
            f"but got input.size(1)={cdim} and kernel_size={k}."
        )
    bh, bw = _blocks(hw, k, d, p, s)
    bh, bw = max(bh, 0), max(bw, 0)
    if input.shape[-1] != bh * bw:
        raise RuntimeError(
            f"Given output_size={hw}, kernel_size={k}, dilation={d}, padding={p}, stride={s}, "
            "expected size of "
            f"input's dimension 2 to match the calculated number of sliding blocks {bh} * {bw} = {bh * bw}, "
            f"but got input.size(2)={input.shape[-1]}."
        )
    return Col2Im.apply(input, hw=hw, cfg=(k, d, p, s))


# =========================================================================== pixel shuffle
def _shuffle(x, r):
    *lead, c, h, w = x.shape
    oc = c // (r * r)
    y = x.reshape(*lead, oc, r, r, h, w)
    nl = len(lead)
    perm = tuple(range(nl)) + (nl, nl + 3, nl + 1, nl + 4, nl + 2)
    return y.transpose(perm).reshape(*lead, oc, h * r, w * r)


def _unshuffle(x, r):
    *lead, c, h, w = x.shape
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    nl = len(lead)
    perm = tuple(range(nl)) + (nl, nl + 2, nl + 4, nl + 1, nl + 3)
    return y.transpose(perm).reshape(*lead, c * r * r, h // r, w // r)


class PixelShuffle(Node):
    def forward(ctx, x, r):
        ctx.r = r
        return _shuffle(x, r)

    def backward(ctx, g):
        return PixelUnshuffle.apply(g, r=ctx.r)


class PixelUnshuffle(Node):
    def forward(ctx, x, r):
        ctx.r = r
        return _unshuffle(x, r)

    def backward(ctx, g):
        return PixelShuffle.apply(g, r=ctx.r)


def _check_factor(fn, argname, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{fn}(): argument '{argname}' (position 2) must be int, not {type(value).__name__}")


@_public("layer")
def pixel_shuffle(input, upscale_factor):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r) with r = ``upscale_factor``."""
    _check_factor("pixel_shuffle", "upscale_factor", upscale_factor)
    r = int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(
            "pixel_shuffle expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    c = input.shape[-3]
    if c % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
            f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
        )
    return PixelShuffle.apply(input, r=r)


@_public("layer")
def pixel_unshuffle(input, downscale_factor):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W) with r = ``downscale_factor``."""
    _check_factor("pixel_unshuffle", "downscale_factor", downscale_factor)
    r = int(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(
            "pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    for name, size, dim in (("height", input.shape[-2], -2), ("width", input.shape[-1], -1)):
        if size % r:
            raise RuntimeError(
                f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                f"input.size({dim})={size} is not divisible by {r}"
            )
    return PixelUnshuffle.apply(input, r=r)


# =========================================================================== conv3d
def _triple(v, name):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * 3
        if len(v) != 3:
            raise RuntimeError(
                f"expected {name} to be a single integer value or a list of 3 values to match "
                f"the convolution dimensions, but got {name}={list(v)}"
            )
        return tuple(int(i) for i in v)
    return (int(v),) * 3


def _conv3d_pads(padding, stride, k, dil):
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * 6
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if stride != (1, 1, 1):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        pads = []
        for kk, d in zip(k, dil, strict=True):
            total = d * (kk - 1)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    p = _triple(padding, "padding")
    if min(p) < 0:
        raise RuntimeError("negative padding is not supported")
    return (p[0], p[0], p[1], p[1], p[2], p[2])


@_public("layer")
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution. input (N, C, D, H, W) or (C, D, H, W), weight (O, C/groups, kd, kh, kw)
    -> (N, O, D', H', W'). ``padding``: int, triple, ``'valid'`` or ``'same'`` (stride 1 only).
    """
    from ..ops import conv as C
    from .functional import _check_conv_dtypes, _check_conv_input

    batched = _check_conv_input(input, weight, groups, 3, "conv3d")
    stride, dil = _triple(stride, "stride"), _triple(dilation, "dilation")
    if min(stride) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(dil) <= 0:
        raise RuntimeError("non-positive dilation is not supported")
    k = tuple(weight.shape[2:])
    pads = _conv3d_pads(padding, stride, k, dil)
    _check_conv_dtypes(input, weight, bias)
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise RuntimeError(
            f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
            f"{weight.shape[0]} elements, but got bias of size {list(bias.shape)} instead"
        )
    if not batched:
        input = input.unsqueeze(0)
    padded = [n + pads[2 * i] + pads[2 * i + 1] for i, n in enumerate(input.shape[2:])]
    if any(p < d * (kk - 1) + 1 for p, d, kk in zip(padded, dil, k, strict=True)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, k))}). Kernel size can't be greater than "
            "actual input size"
        )
    out = C.Conv2d.apply(input, weight, bias, stride=stride, pads=pads, dil=dil, groups=groups)
    return out if batched else out.squeeze(0)


# =========================================================================== instance norm
@_public("layer")
def instance_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats=True,
    momentum=0.1,
    eps=1e-5,
):
    """Normalise each (sample, channel) of (N, C, *) over its spatial elements.

    With ``use_input_stats`` and running buffers given, those are updated in place with the
    batch average of the per-instance mean and unbiased variance; without ``use_input_stats``
    the running statistics normalise instead.
    """
    from ..autograd.grad_mode import no_grad
    from ..ops import normalization as N

    n, c = input.shape[:2]
    flat = input.reshape(n, c, -1)
    if use_input_stats:
        if flat.shape[2] <= 1:
            raise ValueError(
                f"Expected more than 1 spatial element when training, got input size {input.shape}"
            )
        x = N.LayerNorm.apply(flat, None, None, axes=(2,), eps=eps)
        with no_grad():
            data = flat._data
            for buf, stat in (
                (running_mean, lambda: data.mean(axis=2)),
                (running_var, lambda: data.var(axis=2, ddof=1)),
            ):
                if buf is not None:
                    new = stat().mean(axis=0).astype(buf._data.dtype) * momentum
                    buf.mul_(1 - momentum).add_(Tensor._wrap(new))
    else:
        x = (flat - running_mean.reshape(1, c, 1)) / (running_var.reshape(1, c, 1) + eps).sqrt()
    if weight is not None:
        x = x * weight.reshape(1, c, 1)
    if bias is not None:
        x = x + bias.reshape(1, c, 1)
    return x.reshape(input.shape)


# =========================================================================== embedding_bag
def _segment_sum(rows, bag, n_bags):
    """Sum the rows of each bag; ``bag`` (non-decreasing) names each row's bag."""
    out = xp.zeros((n_bags,) + rows.shape[1:], dtype=rows.dtype)
    if rows.shape[0]:
        starts = xp.flatnonzero(xp.r_[True, bag[1:] != bag[:-1]])
        out[bag[starts]] = xp.add.reduceat(rows, starts, axis=0)
    return out


class EmbeddingBag(Node):
    """Weighted bag sums: out[b] = sum over entries e of bag b of mult[e] * weight[idx[e]].

    ``mult`` folds per-sample weights and the ``1 / count`` of mean mode; the derivative
    scatter-adds ``mult[e] * g[bag[e]]`` into row ``idx[e]`` (divided by the index's frequency
    under ``scale_grad_by_freq``)."""

    def forward(ctx, w, psw, idx, bag, scale, n_bags, freq=None):
        ctx.args = (idx, bag, scale, freq)
        ctx.w_shape = w.shape
        n = ctx.needs_input_grad
        if n:
            ctx.saved = (w if len(n) > 1 and n[1] else None, psw)
        mult = scale if psw is None else scale * psw
        return _segment_sum(w[idx] * mult[:, None].astype(w.dtype, copy=False), bag, n_bags)

    def backward(ctx, g):
        from ..ops.indexing import IndexPutAccumulate

        idx, bag, scale, freq = ctx.args
        w, psw = ctx.saved
        n = ctx.needs_input_grad
        wrap = Tensor._wrap if isinstance(g, Tensor) else (lambda a: a)
        per_entry = g[bag]
        gw = gpsw = None
        if n[0]:
            col = (scale if freq is None else scale * freq)[:, None]
            mult = wrap(col) if psw is None else psw.reshape(-1, 1) * wrap(col)
            gw = IndexPutAccumulate.apply(per_entry * mult, shape=ctx.w_shape, index=(idx,))
        if len(n) > 1 and n[1]:
            gpsw = (w[idx] * per_entry).sum(-1) * wrap(scale)
        return gw, gpsw


def _bags(input, offsets, include_last_offset):
    """(flat indices, starts of the bags) from 2-D input or 1-D input plus offsets."""
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                f"fixed length sequences. However, found offsets of type {type(offsets)}"
            )
        b, length = input.shape
        return input._data.reshape(-1), xp.arange(b) * length, b
    if input.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    if offsets.ndim != 1:
        raise ValueError("offsets has to be a 1D Tensor")
    if offsets._data.dtype.kind not in "iu":
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
            f"Long, Int; but got {offsets.type()} instead (while checking arguments for "
            "embedding_bag)"
        )
    off = offsets._data.astype(xp.int64)
    if off.size and off[0] != 0:
        raise RuntimeError(
            "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
            f"position 0. However, got {off[0]}\n[ {offsets.type()}{{}} ]"
        )
    if off.size and off[-1] > input.shape[0]:
        raise RuntimeError(
            f"offsets[-1] can not be greater than input's length {input.shape[0]} but got "
            f"offsets[-1] of {off[-1]}"
        )
    n_bags = off.size - 1 if include_last_offset else off.size
    return input._data, off, n_bags


# long: one validation per PyTorch error, in PyTorch's order
@_public("layer")
def embedding_bag(
    input,
    weight,
    offsets=None,
    max_norm=None,
    norm_type=2,
    scale_grad_by_freq=False,
    mode="mean",
    sparse=False,
    per_sample_weights=None,
    include_last_offset=False,
    padding_idx=None,
):
    """Sums, means or maxima of bags of embedding rows, without materialising the rows.

    ``input`` (B, L) holds B bags of L indices, or is 1-D with ``offsets`` (B,) giving each bag's
    start (B+1 entries with ``include_last_offset``). Entries equal to ``padding_idx`` are left
    out; an empty bag gives zeros. ``per_sample_weights`` (mode 'sum' only) scales each entry.
    Returns (B, embedding_dim).
    """
    if not isinstance(input, Tensor) or input._data.dtype.kind not in "iu":
        kind = input.type() if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
            f"Long, Int; but got {kind} instead (while checking arguments for embedding_bag)"
        )
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for "
                f"mode='sum' (got mode='{mode}'). Please open a feature request on GitHub."
            )
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(
                f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not None, then it "
                f"must have the same shape as the input ({input.shape})"
            )
        if per_sample_weights._data.dtype != weight._data.dtype:
            raise RuntimeError(
                "Expected tensor for argument #1 'weight' to have the same type as tensor for argument "
                f"#1 'per_sample_weights'; but type {weight.type()} does not equal "
                f"{per_sample_weights.type()} (while checking arguments for embedding_bag)"
            )
    rows = weight.shape[0]
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise RuntimeError(
                f"padding_idx must be within the number of embeddings, -{rows} through {rows - 1}, "
                f"but got {padding_idx}"
            )
        padding_idx %= rows
    idx, starts, n_bags = _bags(input, offsets, include_last_offset)
    idx = idx.astype(xp.int64)
    bad = xp.flatnonzero((idx < 0) | (idx >= rows))
    if bad.size:
        raise RuntimeError(
            f"Index {bad[0]} of input takes value {idx[bad[0]]} which is not in the valid range [0, {rows})"
        )
    if max_norm is not None:
        _renorm_rows(weight, idx, max_norm, norm_type)
    bag = xp.searchsorted(starts, xp.arange(idx.size), side="right") - 1
    keep = bag < n_bags
    if padding_idx is not None:
        keep &= idx != padding_idx
    psw = (
        per_sample_weights.reshape(-1)[Tensor._wrap(xp.flatnonzero(keep))]
        if per_sample_weights is not None
        else None
    )
    idx, bag = idx[keep], bag[keep]
    if mode == "max":
        return _bag_max(weight, idx, bag, n_bags)
    count = xp.bincount(bag, minlength=n_bags)
    scale = (1.0 / xp.maximum(count, 1))[bag] if mode == "mean" else xp.ones(idx.size)
    scale = scale.astype(weight._data.dtype)
    freq = None
    if scale_grad_by_freq:
        freq = (1.0 / xp.bincount(idx, minlength=rows)[idx]).astype(weight._data.dtype)
    return EmbeddingBag.apply(weight, psw, idx=idx, bag=bag, scale=scale, n_bags=n_bags, freq=freq)


def _renorm_rows(weight, idx, max_norm, norm_type):
    """PyTorch's embedding_renorm_: the rows used are rescaled in place to norm <= max_norm."""
    used = xp.unique(idx)
    w = weight._data
    norms = xp.linalg.norm(w[used].astype(xp.float64), ord=norm_type, axis=-1)
    big = norms > max_norm
    if big.any():
        w[used[big]] *= (max_norm / (norms[big] + 1e-7))[:, None].astype(w.dtype)
        weight._record_inplace("embedding_renorm_")


class EmbeddingBagMax(Node):
    """out[b, d] = weight[win[b, d], d] (zero for empty bags); the derivative scatter-adds there."""

    _bw_name = "EmbeddingBagBackward0"

    def forward(ctx, w, win, filled):
        cols = xp.broadcast_to(xp.arange(w.shape[1]), win.shape)
        ctx.index, ctx.w_shape = (win, cols), w.shape
        ctx.mask = mask = filled.astype(w.dtype)
        return w[win, cols] * mask

    def backward(ctx, g):
        from ..ops.indexing import IndexPutAccumulate

        mask = ctx.mask
        return IndexPutAccumulate.apply(
            g * (Tensor._wrap(mask) if isinstance(g, Tensor) else mask), shape=ctx.w_shape, index=ctx.index
        )


def _bag_max(weight, idx, bag, n_bags):
    """Per-column maximum over each bag (the first winner on ties; zeros for empty bags)."""
    w = weight._data
    win = xp.zeros((n_bags, w.shape[1]), dtype=xp.int64)
    filled = xp.zeros((n_bags, 1), dtype=bool)
    if idx.size:
        vals = w[idx]
        new_bag = xp.r_[True, bag[1:] != bag[:-1]]
        starts = xp.flatnonzero(new_bag)
        best = xp.maximum.reduceat(vals, starts, axis=0)
        seg = xp.cumsum(new_bag) - 1
        pos = xp.where(vals == best[seg], xp.arange(idx.size)[:, None], idx.size)
        win[bag[starts]] = idx[xp.minimum.reduceat(pos, starts, axis=0)]
        filled[bag[starts]] = True
    return EmbeddingBagMax.apply(weight, win=win, filled=filled)


# =========================================================================== ctc_loss
_NEG = -xp.inf


def _lse3(a, b, c):
    """log(exp(a) + exp(b) + exp(c)) elementwise, -inf where all three are -inf."""
    m = xp.maximum(xp.maximum(a, b), c)
    safe = xp.where(xp.isfinite(m), m, 0.0)
    with xp.errstate(divide="ignore"):
        return xp.log(xp.exp(a - safe) + xp.exp(b - safe) + xp.exp(c - safe)) + safe


def _shift(a, k):
    """``a[:, s - k]`` along the label axis, -inf shifted in."""
    out = xp.full_like(a, _NEG)
    out[:, k:] = a[:, : a.shape[1] - k]
    return out


def _unshift(a, k):
    """``a[:, s + k]`` along the label axis, -inf shifted in."""
    out = xp.full_like(a, _NEG)
    out[:, : a.shape[1] - k] = a[:, k:]
    return out


def _ctc_tables(lp, ext, skip, in_len, ext_len):
    """Forward (alpha) and backward (beta) log-variables, each (T, N, S'), over the extended labels
    ``ext`` (N, S'); ``skip[n, s]`` allows the jump from s - 2 (a label differing from s - 2)."""
    t_max, n = lp.shape[:2]
    rows = xp.arange(n)[:, None]
    emit = lp[:, rows, ext]  # (T, N, S')
    s_idx = xp.arange(ext.shape[1])[None]
    alpha = xp.full(emit.shape, _NEG)
    alpha[0] = xp.where(s_idx < xp.minimum(2, ext_len[:, None]), emit[0], _NEG)
    for t in range(1, t_max):
        prev = alpha[t - 1]
        alpha[t] = _lse3(prev, _shift(prev, 1), xp.where(skip, _shift(prev, 2), _NEG)) + emit[t]
    beta = xp.full(emit.shape, _NEG)
    last = (s_idx >= ext_len[:, None] - 2) & (s_idx < ext_len[:, None])
    skip_next = _unshift(skip.astype(float), 2) > 0  # the jump s -> s + 2 is allowed
    for t in range(t_max - 1, -1, -1):
        start = xp.where(last, emit[t], _NEG)
        if t + 1 < t_max:
            nxt = beta[t + 1]
            rec = _lse3(nxt, _unshift(nxt, 1), xp.where(skip_next, _unshift(nxt, 2), _NEG)) + emit[t]
        else:
            rec = xp.full_like(start, _NEG)
        here = (t == in_len - 1)[:, None]
        beta[t] = xp.where(here, start, xp.where((t < in_len - 1)[:, None], rec, _NEG))
    return alpha, beta


class CtcLoss(Node):
    """Negative log-likelihood of each target under CTC (N,), through the forward-backward algorithm.

    The derivative is PyTorch's: ``exp(log_probs) - exp(log(sum of alpha*beta per class) + nll - log_probs)``
    for t < input_length, which is the true gradient once projected through a log-softmax (PyTorch
    assumes normalised ``log_probs``)."""

    def forward(ctx, lp, ext, skip, in_len, ext_len, zero_infinity):
        work = lp.astype(xp.float64)
        alpha, beta = _ctc_tables(work, ext, skip, in_len, ext_len)
        n = lp.shape[1]
        fin = alpha[xp.maximum(in_len - 1, 0), xp.arange(n)]  # (N, S')
        ends = xp.take_along_axis(fin, xp.maximum(ext_len[:, None] - xp.arange(1, 3)[None], 0), 1)
        ends[:, 1] = xp.where(ext_len > 1, ends[:, 1], _NEG)
        nll = -xp.logaddexp(ends[:, 0], ends[:, 1])
        nll = xp.where(in_len == 0, xp.where(ext_len == 1, -0.0, xp.inf), nll)
        if ctx.needs_input_grad:
            ctx.saved = (lp,)
            ctx.tables = (work, alpha, beta, nll, ext, in_len)
            ctx.zero_infinity = zero_infinity
        return nll.astype(lp.dtype)

    def backward(ctx, g):
        # log_probs goes along only so that, as in PyTorch, a create_graph result depends on it
        return CtcLossBackward.apply(g, ctx.saved[0], tables=ctx.tables, zero_infinity=ctx.zero_infinity)


class CtcLossBackward(Node):
    """PyTorch gives ``ctc_loss`` no second derivative; neither do we (same error)."""

    _bw_name = "CtcLossBackwardBackward0"

    def forward(ctx, g, _log_probs, tables, zero_infinity):
        lp, alpha, beta, nll, ext, in_len = tables
        t_max, n, c = lp.shape
        ab = alpha + beta
        m = ab.max(axis=2, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0.0)
        onehot = (ext[:, :, None] == xp.arange(c)[None, None]).astype(xp.float64)  # (N, S', C)
        with xp.errstate(divide="ignore", invalid="ignore"):
            lcab = xp.log(xp.einsum("tns,nsc->tnc", xp.exp(ab - m), onehot)) + m
            grad = xp.exp(lp) - xp.exp(lcab + nll[None, :, None] - lp)
        grad = xp.where((xp.arange(t_max)[:, None] < in_len[None])[:, :, None], grad, 0.0)
        if zero_infinity:
            grad = xp.where(xp.isinf(nll)[None, :, None], 0.0, grad)
        return (grad * g[None, :, None]).astype(g.dtype)

    def backward(ctx, gg):
        raise RuntimeError("derivative for aten::_ctc_loss_backward is not implemented")


def _lengths(v, name):
    if isinstance(v, Tensor):
        if v._data.dtype.kind not in "iu":
            raise RuntimeError(f"{name} must be integral")
        return v._data.reshape(-1).astype(xp.int64)
    return xp.asarray(v if isinstance(v, (list, tuple)) else [v], dtype=xp.int64).reshape(-1)


# long: one validation per PyTorch error, in PyTorch's order
@_public("loss")
def ctc_loss(
    log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False
):
    """Connectionist Temporal Classification loss.

    ``log_probs`` (T, N, C) or (T, C): log-probabilities (e.g. ``log_softmax``) of each class per
    step; ``targets`` (N, S) padded or 1-D concatenated; ``input_lengths`` and ``target_lengths``
    (N,) tensors or tuples. ``reduction='mean'`` divides each loss by its target length, then averages.
    ``zero_infinity`` turns impossible alignments' infinite losses (and their gradients) to zero.
    """
    from .functional import _reduce

    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    batched = log_probs.ndim == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    t_max, n, c = lp.shape
    in_len, tgt_len = _lengths(input_lengths, "input_lengths"), _lengths(target_lengths, "target_lengths")
    if in_len.size != n:
        raise RuntimeError("input_lengths must be of size batch_size")
    if tgt_len.size != n:
        raise RuntimeError("target_lengths must be of size batch_size")
    if not 0 <= blank < c:
        raise RuntimeError("blank must be in label range")
    if in_len.size and in_len.max() > t_max:
        raise RuntimeError(
            f"Expected input_lengths to have value at most {t_max}, but got value {in_len.max()} "
            "(while checking arguments for ctc_loss_allocate_outputs)"
        )
    tg = targets._data.astype(xp.int64)
    s_max = int(tgt_len.max()) if tgt_len.size else 0
    if tg.ndim == 2 or not batched:  # padded (N, S), or an unbatched target (S,)
        tg = tg.reshape(n, -1)
        if tg.shape[1] < s_max:
            raise RuntimeError(
                f"Expected tensor to have size at least {s_max} at dimension 1, but got size "
                f"{tg.shape[1]} for argument #2 'targets' (while checking arguments for "
                "ctc_loss_allocate_outputs)"
            )
        labels = tg[:, :s_max]
    else:  # concatenated targets
        starts = xp.concatenate([[0], xp.cumsum(tgt_len)[:-1]])
        pos = xp.minimum(starts[:, None] + xp.arange(s_max)[None], max(tg.size - 1, 0))
        labels = tg.reshape(-1)[pos] if tg.size else xp.zeros((n, s_max), xp.int64)
    labels = xp.where(xp.arange(s_max)[None] < tgt_len[:, None], labels, blank)
    ext = xp.full((n, 2 * s_max + 1), blank, dtype=xp.int64)
    ext[:, 1::2] = labels
    skip = xp.zeros(ext.shape, dtype=bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    loss = CtcLoss.apply(
        lp, ext=ext, skip=skip, in_len=in_len, ext_len=2 * tgt_len + 1, zero_infinity=bool(zero_infinity)
    )
    if zero_infinity:
        from ..ops.elementwise import where

        inf = Tensor._wrap(xp.isinf(loss._data))
        loss = where(inf, Tensor._wrap(xp.zeros((), dtype=loss._data.dtype)), loss)
    if reduction == "mean":
        div = Tensor._wrap(xp.maximum(tgt_len, 1).astype(lp._data.dtype))
        return (loss / div).mean()
    if not batched and reduction == "none":
        loss = loss.squeeze(0)
    return _reduce(loss, reduction)

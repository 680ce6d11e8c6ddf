"""Convolution and pooling, through BLAS matrix products on strided views.

A 2-D convolution gathers every receptive field with one strided view of the
padded input (no Python loop over pixels), copies it into a matrix (im2col)
and multiplies by the weight matrix. Three ops close under differentiation:

    y  = conv(x, W)             d/dx -> conv_input_grad(gy, W)     d/dW -> conv_weight_grad(x, gy)
    gx = conv_input_grad(gy, W) d/dgy -> conv(ggx, W)              d/dW -> conv_weight_grad(ggx, gy)
    gW = conv_weight_grad(x, gy) d/dx -> conv_input_grad(gy, ggW)  d/dgy -> conv(x, ggW)

so ``create_graph=True`` works through convolutions. The same three nodes run 3-D
convolutions (a 5-D weight) through the rank-generic kernels ``convnd_*``. Pooling reuses
the same strided windows.
"""
from __future__ import annotations

import itertools
import math

from .. import backend as B
from ..autograd.graph import Node

xp = B.xp
as_strided = xp.lib.stride_tricks.as_strided


# =========================================================================== array kernels
def _pad(x, pads, value=0.0):
    """Pad the last two dims by (top, bottom, left, right)."""
    top, bottom, left, right = pads
    if not (top or bottom or left or right):
        return x
    out = xp.full(x.shape[:-2] + (x.shape[-2] + top + bottom, x.shape[-1] + left + right), value,
                  dtype=x.dtype)
    out[..., top:top + x.shape[-2], left:left + x.shape[-1]] = x
    return out


def out_size(n, k, stride, pad_lo, pad_hi, dil, ceil_mode=False):
    eff = dil * (k - 1) + 1
    span = n + pad_lo + pad_hi - eff
    if ceil_mode:
        o = -(-span // stride) + 1
        # PyTorch: the last window must start inside the input or the left padding
        if (o - 1) * stride >= n + pad_lo:
            o -= 1
        return o
    return span // stride + 1


def _windows(xp_, kh, kw, sh, sw, dh, dw, oh, ow):
    """View (N, C, oh, ow, kh, kw) of every receptive field of a padded input."""
    n, c = xp_.shape[:2]
    s = xp_.strides
    return as_strided(xp_, (n, c, oh, ow, kh, kw),
                      (s[0], s[1], s[2] * sh, s[3] * sw, s[2] * dh, s[3] * dw), writeable=False)


def _cols(x, wshape, stride, pads, dil, groups, oh, ow):
    """im2col: (groups, N*oh*ow, Cg*kh*kw) matrix of receptive fields."""
    n, c = x.shape[:2]
    kh, kw = wshape[2], wshape[3]
    win = _windows(_pad(x, pads), kh, kw, stride[0], stride[1], dil[0], dil[1], oh, ow)
    cg = c // groups
    # (N, g, Cg, oh, ow, kh, kw) -> (g, N, oh, ow, Cg, kh, kw): one copy, contiguous rows
    win = win.reshape(n, groups, cg, oh, ow, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
    return xp.ascontiguousarray(win).reshape(groups, n * oh * ow, cg * kh * kw)


# Ungrouped 2-D convolutions work channels-last (NHWC) inside: a receptive field is then
# kh*kw runs of C contiguous values, so im2col copies runs instead of gathering single
# values, the product's output (N*oh*ow, O) already is NHWC and is returned as an NCHW
# view of it (no copy), and the gradient of an NHWC-laid input needs no transpose either.
# Consecutive layers therefore hand each other NHWC memory, as PyTorch's channels_last does.
def _nhwc_padded(x, pads, value=0):
    """``x`` (N, C, H, W) as an (N, H', W', C) array padded with ``value``, NHWC in memory
    where a copy is needed anyway (the padding), else a view."""
    xl = x.transpose(0, 2, 3, 1)
    top, bottom, left, right = pads
    if not (top or bottom or left or right):
        return xl
    n, h, w, c = xl.shape
    shape = (n, h + top + bottom, w + left + right, c)
    out = xp.zeros(shape, dtype=x.dtype) if value == 0 else xp.full(shape, value, dtype=x.dtype)
    out[:, top:top + h, left:left + w] = xl
    return out


def _weight_order(rows, o):
    """Whether im2col's rows follow the weight's own (c, i, j) order: when the matrix of
    receptive fields has fewer rows than the layer has outputs (deep layers on small maps),
    gathering it in that order is cheaper than reordering the weight (ResNet-18's 512-channel
    weight: 1.8 ms to reorder, and 3.5 ms to reorder its gradient back, per call)."""
    return rows < o


def _cols_nhwc(x, kh, kw, stride, pads, dil, oh, ow, weight_order=False):
    """im2col from NHWC memory: (N*oh*ow, kh*kw*C), each row a receptive field in (i, j, c)
    order, or in (c, i, j) order with ``weight_order``."""
    xl = _nhwc_padded(x, pads)
    n, c = xl.shape[0], xl.shape[3]
    if kh == kw == 1 and tuple(stride) == (1, 1):
        return xl.reshape(n * oh * ow, c)          # a view when x is NHWC in memory
    s = xl.strides
    shape = (n, oh, ow, kh, kw, c)
    strides = (s[0], s[1] * stride[0], s[2] * stride[1], s[1] * dil[0], s[2] * dil[1], s[3])
    win = as_strided(xl, shape, strides, writeable=False)
    if weight_order:
        win = win.transpose(0, 1, 2, 5, 3, 4)
    return xp.ascontiguousarray(win).reshape(n * oh * ow, kh * kw * c)


def _cols_one_channel(x, kh, kw, stride, pads, dil, oh, ow):
    """im2col of a one-channel input, transposed: (kh*kw, N*oh*ow), row ``i*kw + j`` the
    input at that kernel offset of every window. Each row is one copy of a strided view
    with long runs; :func:`_cols_nhwc` would gather one value at a time (a 64x1x28x28 batch,
    3x3: 2.0 -> 0.28 ms). With more channels its runs of C values win."""
    xpd = _pad(x[:, 0], pads)
    n = x.shape[0]
    (sh, sw), (dh, dw) = stride, dil
    out = xp.empty((kh * kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[i * kw + j] = xpd[:, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                                  j * dw:j * dw + sw * (ow - 1) + 1:sw]
    return out.reshape(kh * kw, n * oh * ow)


def _w_matrix(w, weight_order=False):
    """(O, C, kh, kw) -> (O, kh*kw*C), the order of :func:`_cols_nhwc`'s rows."""
    if weight_order:
        return w.reshape(w.shape[0], -1)
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def _live_taps(n_in, k, stride, pad_lo, dil, n_out):
    """``(first, last)`` kernel taps along one axis that reach the input at some output
    position (the others only ever meet padding)."""
    live = []
    for i in range(k):
        lo = pad_lo - i * dil                 # o * stride must fall in [lo, lo + n_in - 1]
        o = max(0, -(-lo // stride))
        if o < n_out and o * stride <= lo + n_in - 1:
            live.append(i)
    return (live[0], live[-1]) if live else (0, k - 1)


def _trim_taps(x_shape, w_shape, stride, pads, dil, oh, ow):
    """``(rows, cols, pads)``: the kernel's slices that reach the input and the padding that
    keeps the output size, or None when every tap does. A 3x3 layer with padding 1 on a 1x1
    map (ResNet-18's last stage on 32x32 images) sees only its centre: 9x fewer products."""
    if not any(pads):
        return None
    kh, kw = w_shape[2], w_shape[3]
    i0, i1 = _live_taps(x_shape[2], kh, stride[0], pads[0], dil[0], oh)
    j0, j1 = _live_taps(x_shape[3], kw, stride[1], pads[2], dil[1], ow)
    if (i0, i1, j0, j1) == (0, kh - 1, 0, kw - 1):
        return None
    new = (pads[0] - i0 * dil[0], pads[1] - (kh - 1 - i1) * dil[0],
           pads[2] - j0 * dil[1], pads[3] - (kw - 1 - j1) * dil[1])
    if min(new) < 0:
        return None
    return slice(i0, i1 + 1), slice(j0, j1 + 1), new


def conv2d_array(x, w, stride, pads, dil, groups):
    if groups > 1:
        return _grouped_conv2d_array(x, w, stride, pads, dil, groups)
    n = x.shape[0]
    o, _, kh, kw = w.shape
    oh = out_size(x.shape[2], kh, stride[0], pads[0], pads[1], dil[0])
    ow = out_size(x.shape[3], kw, stride[1], pads[2], pads[3], dil[1])
    trim = _trim_taps(x.shape, w.shape, stride, pads, dil, oh, ow)
    if trim is not None:
        rows, cols, pads = trim
        w = w[:, :, rows, cols]
        kh, kw = w.shape[2], w.shape[3]
    if x.shape[1] == 1 and kh * kw > 1:
        out = _cols_one_channel(x, kh, kw, stride, pads, dil, oh, ow).T @ w.reshape(o, -1).T
    else:
        wo = _weight_order(n * oh * ow, o)
        out = _cols_nhwc(x, kh, kw, stride, pads, dil, oh, ow, wo) @ _w_matrix(w, wo).T   # (N*oh*ow, O)
    return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)


def conv2d_input_grad_array(gy, w, x_shape, stride, pads, dil, groups):
    """Gradient of conv2d w.r.t. its input (= a transposed convolution of gy), NHWC in memory."""
    if groups > 1:
        return _grouped_conv2d_input_grad_array(gy, w, x_shape, stride, pads, dil, groups)
    n, c, h, wd = x_shape
    oh, ow = gy.shape[2], gy.shape[3]
    trim = _trim_taps(x_shape, w.shape, stride, pads, dil, oh, ow)
    if trim is not None:
        rows, cols, pads = trim
        w = w[:, :, rows, cols]
    o, _, kh, kw = w.shape
    wo = _weight_order(n * oh * ow, o)
    span = ((kh - 1) * dil[0], (kw - 1) * dil[1])
    if tuple(stride) == (1, 1) and not wo and kh * kw > 1 and c >= 32 and \
            max(pads[:2]) <= span[0] and max(pads[2:]) <= span[1]:
        return _input_grad_as_conv(gy, w, pads, dil, span)
    if c < 32 and not wo and kh * kw > 1:
        return _input_grad_per_offset(gy, w, x_shape, stride, pads, dil)
    dcols = gy.transpose(0, 2, 3, 1).reshape(n * oh * ow, o) @ _w_matrix(w, wo)   # (N*oh*ow, K)
    if kh == kw == 1 and tuple(stride) == (1, 1) and not any(pads):
        return dcols.reshape(n, h, wd, c).transpose(0, 3, 1, 2)
    dcols = dcols.reshape(n, oh, ow, c, kh, kw).transpose(0, 1, 2, 4, 5, 3) if wo else \
        dcols.reshape(n, oh, ow, kh, kw, c)
    hp, wp = h + pads[0] + pads[1], wd + pads[2] + pads[3]
    dxp = xp.zeros((n, hp, wp, c), dtype=dcols.dtype)
    sh, sw = stride
    dh, dw = dil
    # col2im: one strided add of C-long runs per kernel offset
    for i in range(kh):
        for j in range(kw):
            h0, w0 = i * dh, j * dw
            dxp[:, h0:h0 + sh * (oh - 1) + 1:sh, w0:w0 + sw * (ow - 1) + 1:sw] += dcols[:, :, :, i, j]
    return dxp[:, pads[0]:pads[0] + h, pads[2]:pads[2] + wd].transpose(0, 3, 1, 2)


def _input_grad_per_offset(gy, w, x_shape, stride, pads, dil):
    """A convolution's input gradient with few input channels: one product per kernel offset,
    each added into its window of the padded gradient. With C < 32 the receptive-field matrix
    of col2im would be added back in runs of C values; here each product's (N*oh*ow, C) block
    is contiguous (the small CNN's 16-channel layer: 6.9 -> 3.9 ms, 3 channels 17.8 -> 4.0 ms;
    with 64 channels and more col2im is faster)."""
    n, c, h, wd = x_shape
    o, _, kh, kw = w.shape
    oh, ow = gy.shape[2], gy.shape[3]
    (sh, sw), (dh, dw) = stride, dil
    g2 = gy.transpose(0, 2, 3, 1).reshape(n * oh * ow, o)
    dxp = xp.zeros((n, h + pads[0] + pads[1], wd + pads[2] + pads[3], c), dtype=g2.dtype)
    wt = w.transpose(2, 3, 0, 1)                          # (kh, kw, O, C)
    for i in range(kh):
        for j in range(kw):
            h0, w0 = i * dh, j * dw
            dxp[:, h0:h0 + sh * (oh - 1) + 1:sh, w0:w0 + sw * (ow - 1) + 1:sw] += \
                (g2 @ wt[i, j]).reshape(n, oh, ow, c)
    return dxp[:, pads[0]:pads[0] + h, pads[2]:pads[2] + wd].transpose(0, 3, 1, 2)


def _input_grad_as_conv(gy, w, pads, dil, span):
    """A stride-1 convolution's input gradient as a forward convolution: ``gy`` padded by the
    kernel's span less the padding, with the weight flipped and its two channel axes swapped.
    im2col of ``gy`` and one product replace the product and kh*kw scattered adds of col2im:
    ResNet-18's 3x3 layers at batch 8, 64 channels on 16x16: 4.25 -> 3.09 ms, 128 on 8x8:
    3.35 -> 2.46 ms. With few input channels the product has too few columns to pay (one
    channel: 1.7 -> 8.9 ms), hence ``c >= 32`` at the call."""
    o, c, kh, kw = w.shape
    gpad = (span[0] - pads[0], span[0] - pads[1], span[1] - pads[2], span[1] - pads[3])
    n = gy.shape[0]
    oh = gy.shape[2] + gpad[0] + gpad[1] - span[0]
    ow = gy.shape[3] + gpad[2] + gpad[3] - span[1]
    cols = _cols_nhwc(gy, kh, kw, (1, 1), gpad, dil, oh, ow)              # rows in (i, j, o) order
    wf = w[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(kh * kw * o, c)
    return (cols @ wf).reshape(n, oh, ow, c).transpose(0, 3, 1, 2)


def conv2d_weight_grad_array(x, gy, w_shape, stride, pads, dil, groups):
    """Gradient of conv2d w.r.t. its weight, (O, C, kh, kw) contiguous."""
    if groups > 1:
        return _grouped_conv2d_weight_grad_array(x, gy, w_shape, stride, pads, dil, groups)
    n = x.shape[0]
    o, c, kh, kw = w_shape
    oh, ow = gy.shape[2], gy.shape[3]
    trim = _trim_taps(x.shape, w_shape, stride, pads, dil, oh, ow)
    if trim is not None:          # the taps that only meet padding get zeros
        rows, cols, pads = trim
        gw = xp.zeros(w_shape, dtype=xp.result_type(x, gy))
        part = gw[:, :, rows, cols]
        gw[:, :, rows, cols] = conv2d_weight_grad_array(x, gy, part.shape, stride, pads, dil, 1)
        return gw
    g2 = gy.transpose(0, 2, 3, 1).reshape(n * oh * ow, o)
    if c == 1 and kh * kw > 1:
        return (g2.T @ _cols_one_channel(x, kh, kw, stride, pads, dil, oh, ow).T).reshape(w_shape)
    wo = _weight_order(n * oh * ow, o)
    cols = _cols_nhwc(x, kh, kw, stride, pads, dil, oh, ow, wo)
    gw = g2.T @ cols
    if wo:
        return gw.reshape(o, c, kh, kw)
    return xp.ascontiguousarray(gw.reshape(o, kh, kw, c).transpose(0, 3, 1, 2))


# grouped convolutions (depthwise and the like): channels-first im2col, one product per group
def _grouped_conv2d_array(x, w, stride, pads, dil, groups):
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    oh = out_size(x.shape[2], kh, stride[0], pads[0], pads[1], dil[0])
    ow = out_size(x.shape[3], kw, stride[1], pads[2], pads[3], dil[1])
    cols = _cols(x, w.shape, stride, pads, dil, groups, oh, ow)
    wm = w.reshape(groups, o // groups, cg * kh * kw)
    out = xp.matmul(cols, wm.transpose(0, 2, 1))  # (g, N*oh*ow, Og)
    # -> (N, g*Og, oh, ow); NHWC memory with NCHW strides (no extra copy)
    out = out.reshape(groups, n, oh, ow, o // groups).transpose(1, 0, 4, 2, 3).reshape(n, o, oh, ow) \
        if groups > 1 else out[0].reshape(n, oh, ow, o).transpose(0, 3, 1, 2)
    return out


def _grouped_conv2d_input_grad_array(gy, w, x_shape, stride, pads, dil, groups):
    """Gradient of conv2d w.r.t. its input (= a transposed convolution of gy)."""
    n, c, h, wd = x_shape
    o, cg, kh, kw = w.shape
    og = o // groups
    oh, ow = gy.shape[2], gy.shape[3]
    # (N, g, Og, oh, ow) -> (g, N*oh*ow, Og)
    g2 = gy.reshape(n, groups, og, oh, ow).transpose(1, 0, 3, 4, 2).reshape(groups, n * oh * ow, og)
    wm = w.reshape(groups, og, cg * kh * kw)
    dcols = xp.matmul(g2, wm)  # (g, N*oh*ow, Cg*kh*kw)
    dcols = dcols.reshape(groups, n, oh, ow, cg, kh, kw)
    hp, wp = h + pads[0] + pads[1], wd + pads[2] + pads[3]
    dxp = xp.zeros((n, groups, cg, hp, wp), dtype=dcols.dtype)
    sh, sw = stride
    dh, dw = dil
    # col2im: one strided add per kernel offset (kh*kw adds, each over the whole batch)
    for i in range(kh):
        for j in range(kw):
            h0, w0 = i * dh, j * dw
            dxp[:, :, :, h0:h0 + sh * (oh - 1) + 1:sh, w0:w0 + sw * (ow - 1) + 1:sw] += \
                dcols[:, :, :, :, :, i, j].transpose(1, 0, 4, 2, 3)
    dxp = dxp.reshape(n, c, hp, wp)
    return dxp[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + wd]


def _grouped_conv2d_weight_grad_array(x, gy, w_shape, stride, pads, dil, groups):
    """Gradient of conv2d w.r.t. its weight."""
    n = x.shape[0]
    o, cg, kh, kw = w_shape
    og = o // groups
    oh, ow = gy.shape[2], gy.shape[3]
    cols = _cols(x, w_shape, stride, pads, dil, groups, oh, ow)          # (g, P, K)
    g2 = gy.reshape(n, groups, og, oh, ow).transpose(1, 2, 0, 3, 4).reshape(groups, og, n * oh * ow)
    return xp.matmul(g2, cols).reshape(o, cg, kh, kw)


# --------------------------------------------------------------------------- any spatial rank
def _pad_nd(x, pads):
    """Zero-pad the trailing dims by ``pads = (lo0, hi0, lo1, hi1, ...)``."""
    if not any(pads):
        return x
    rank = len(pads) // 2
    widths = [(0, 0)] * (x.ndim - rank) + [(pads[2 * i], pads[2 * i + 1]) for i in range(rank)]
    return xp.pad(x, widths)


def _out_sizes(spatial, k, stride, pads, dil):
    return tuple(out_size(n, kk, s, pads[2 * i], pads[2 * i + 1], d)
                 for i, (n, kk, s, d) in enumerate(zip(spatial, k, stride, dil, strict=True)))


def _offsets(k, dil, stride, osz):
    """For each kernel offset, the slices of the padded input that it meets (one per output)."""
    for off in itertools.product(*(range(kk) for kk in k)):
        yield tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                    for o, d, s, n in zip(off, dil, stride, osz, strict=True))


def _cols_nd(x, k, stride, pads, dil, osz):
    """(N, C, prod(k), prod(osz)): every receptive field, one block copy per kernel offset
    (copies of large strided blocks, rather than one gather of small ones)."""
    n, c = x.shape[:2]
    xpd = _pad_nd(x, pads)
    cols = xp.empty((n, c, math.prod(k)) + osz, dtype=x.dtype)
    for i, where in enumerate(_offsets(k, dil, stride, osz)):
        cols[:, :, i] = xpd[(slice(None), slice(None)) + where]
    return cols.reshape(n, c, math.prod(k), -1)


def convnd_array(x, w, stride, pads, dil, groups):
    n, o = x.shape[0], w.shape[0]
    osz = _out_sizes(x.shape[2:], w.shape[2:], stride, pads, dil)
    cols = _cols_nd(x, w.shape[2:], stride, pads, dil, osz).reshape(n, groups, -1, math.prod(osz))
    out = xp.matmul(w.reshape(groups, o // groups, -1), cols)  # (N, g, Og, P)
    return out.reshape((n, o) + osz)


def convnd_input_grad_array(gy, w, x_shape, stride, pads, dil, groups):
    """Gradient of an N-d convolution w.r.t. its input: weight^T times gy, summed back (col2im)."""
    n, c = x_shape[:2]
    o, cg = w.shape[:2]
    k = tuple(w.shape[2:])
    osz = tuple(gy.shape[2:])
    wm = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)  # (g, Cg*K, Og)
    dcols = xp.matmul(wm, gy.reshape(n, groups, o // groups, -1)).reshape((n, c, math.prod(k)) + osz)
    padded = tuple(x_shape[2 + i] + pads[2 * i] + pads[2 * i + 1] for i in range(len(k)))
    dxp = xp.zeros((n, c) + padded, dtype=dcols.dtype)
    for i, where in enumerate(_offsets(k, dil, stride, osz)):
        dxp[(slice(None), slice(None)) + where] += dcols[:, :, i]
    crop = tuple(slice(pads[2 * i], pads[2 * i] + x_shape[2 + i]) for i in range(len(k)))
    return dxp[(slice(None),) * 2 + crop]


def convnd_weight_grad_array(x, gy, w_shape, stride, pads, dil, groups):
    n, o = x.shape[0], w_shape[0]
    osz = tuple(gy.shape[2:])
    cols = _cols_nd(x, w_shape[2:], stride, pads, dil, osz).reshape(n, groups, -1, math.prod(osz))
    g2 = gy.reshape(n, groups, o // groups, -1)
    return xp.matmul(g2, cols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w_shape)


def _conv(x, w, stride, pads, dil, groups):
    f = conv2d_array if w.ndim == 4 else convnd_array
    return f(x, w, stride, pads, dil, groups)


def _conv_input_grad(gy, w, x_shape, stride, pads, dil, groups):
    f = conv2d_input_grad_array if w.ndim == 4 else convnd_input_grad_array
    return f(gy, w, x_shape, stride, pads, dil, groups)


def _conv_weight_grad(x, gy, w_shape, stride, pads, dil, groups):
    f = conv2d_weight_grad_array if len(w_shape) == 4 else convnd_weight_grad_array
    return f(x, gy, w_shape, stride, pads, dil, groups)


def _bias_shape(ndim):
    return (1, -1) + (1,) * (ndim - 2)


def _bias_dims(ndim):
    return (0,) + tuple(range(2, ndim))


# =========================================================================== conv ops
class Conv2d(Node):
    _bw_name = "ConvolutionBackward0"

    def forward(ctx, x, w, b=None, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), groups=1):
        ctx.cfg = (stride, pads, dil, groups)
        n = ctx.needs_input_grad
        if n:
            # NOTE: the input is saved only if the weight needs a gradient and vice versa
            # (a frozen backbone keeps no activations for weight gradients).
            ctx.saved = (x if n[1] else None, w if n[0] else None)
            ctx.x_shape, ctx.w_shape = x.shape, w.shape
        out = _conv(x, w, stride, pads, dil, groups)
        if b is not None:
            if b.dtype == out.dtype:
                # the product's own array (no copy), as (M, O) rows when it is channels-last
                rows = B.channel_rows(out)
                if rows is not None and b.ndim == 1:
                    B.per_column(xp.add, rows, b, out=rows)
                else:
                    out += b.reshape(_bias_shape(out.ndim))
            else:
                out = out + b.reshape(_bias_shape(out.ndim))
        return out

    def backward(ctx, gy):
        x, w = ctx.saved
        n = ctx.needs_input_grad
        stride, pads, dil, groups = ctx.cfg
        gx = Conv2dInputGrad.apply(gy, w, x_shape=ctx.x_shape, cfg=ctx.cfg) if n[0] else None
        gw = Conv2dWeightGrad.apply(x, gy, w_shape=ctx.w_shape, cfg=ctx.cfg) if n[1] else None
        gb = None
        if len(n) > 2 and n[2]:
            from .reduction import SumDim
            gb = SumDim.apply(gy, dims=_bias_dims(len(gy.shape)), keepdim=False)
        return gx, gw, gb


class Conv2dInputGrad(Node):
    _bw_name = "ConvolutionBackwardBackward0"

    def forward(ctx, gy, w, x_shape, cfg):
        ctx.cfg, ctx.x_shape = cfg, x_shape
        n = ctx.needs_input_grad
        if n:
            ctx.saved = (gy if n[1] else None, w if n[0] else None)
            ctx.w_shape = w.shape
        return _conv_input_grad(gy, w, x_shape, *cfg)

    def backward(ctx, ggx):
        gy, w = ctx.saved
        n = ctx.needs_input_grad
        stride, pads, dil, groups = ctx.cfg
        d_gy = Conv2d.apply(ggx, w, None, stride=stride, pads=pads, dil=dil, groups=groups) if n[0] else None
        d_w = Conv2dWeightGrad.apply(ggx, gy, w_shape=ctx.w_shape, cfg=ctx.cfg) if n[1] else None
        return d_gy, d_w


class Conv2dWeightGrad(Node):
    _bw_name = "ConvolutionBackwardBackward1"

    def forward(ctx, x, gy, w_shape, cfg):
        ctx.cfg, ctx.w_shape = cfg, w_shape
        n = ctx.needs_input_grad
        if n:
            ctx.saved = (x if n[1] else None, gy if n[0] else None)
            ctx.x_shape = x.shape
        return _conv_weight_grad(x, gy, w_shape, *cfg)

    def backward(ctx, ggw):
        x, gy = ctx.saved
        n = ctx.needs_input_grad
        stride, pads, dil, groups = ctx.cfg
        d_x = Conv2dInputGrad.apply(gy, ggw, x_shape=ctx.x_shape, cfg=ctx.cfg) if n[0] else None
        d_gy = Conv2d.apply(x, ggw, None, stride=stride, pads=pads, dil=dil, groups=groups) if n[1] else None
        return d_x, d_gy


class ConvTranspose2d(Node):
    """``conv_transpose2d(x, W)`` = the input-gradient of a conv whose weight is W."""

    _bw_name = "ConvolutionBackward0"

    def forward(ctx, x, w, b=None, out_hw=None, cfg=None):
        ctx.cfg, ctx.out_hw = cfg, out_hw
        n = ctx.needs_input_grad
        if n:
            ctx.saved = (x if n[1] else None, w if n[0] else None)
            ctx.w_shape = w.shape
        shape = (x.shape[0], w.shape[1] * cfg[3]) + tuple(out_hw)
        out = conv2d_input_grad_array(x, w, shape, *cfg)
        if b is not None:
            out = out + b.reshape(1, -1, 1, 1)
        return out

    def backward(ctx, gy):
        x, w = ctx.saved
        n = ctx.needs_input_grad
        stride, pads, dil, groups = ctx.cfg
        gx = Conv2d.apply(gy, w, None, stride=stride, pads=pads, dil=dil, groups=groups) if n[0] else None
        # the "input" of the underlying conv is gy here and its output-gradient is x
        gw = Conv2dWeightGrad.apply(gy, x, w_shape=ctx.w_shape, cfg=ctx.cfg) if n[1] else None
        gb = None
        if len(n) > 2 and n[2]:
            from .reduction import SumDim
            gb = SumDim.apply(gy, dims=(0, 2, 3), keepdim=False)
        return gx, gw, gb


# =========================================================================== pooling
class AvgPool2d(Node):
    def forward(ctx, x, k, stride, pads, divisor, ceil_mode):
        ctx.args = (k, stride, pads, divisor, ceil_mode)
        ctx.x_shape = x.shape
        oh, ow = divisor.shape
        win = _windows(_pad(x, pads), k[0], k[1], stride[0], stride[1], 1, 1, oh, ow)
        return win.sum(axis=(4, 5)) / divisor

    def backward(ctx, g):
        return AvgPool2dBackward.apply(g, x_shape=ctx.x_shape, args=ctx.args)


class AvgPool2dBackward(Node):
    """Adjoint of average pooling: spread each output gradient over its window."""

    def forward(ctx, g, x_shape, args):
        ctx.args, ctx.x_shape = args, x_shape
        k, stride, pads, divisor, _ = args
        n, c, h, w = x_shape
        oh, ow = g.shape[2], g.shape[3]
        gd = g / divisor
        dxp = xp.zeros((n, c, h + pads[0] + pads[1], w + pads[2] + pads[3]), dtype=g.dtype)
        # windows may reach past the padded input in ceil mode: grow, then crop
        hp_need = (oh - 1) * stride[0] + k[0]
        wp_need = (ow - 1) * stride[1] + k[1]
        if hp_need > dxp.shape[2] or wp_need > dxp.shape[3]:
            big = xp.zeros((n, c, max(hp_need, dxp.shape[2]), max(wp_need, dxp.shape[3])), dtype=g.dtype)
        else:
            big = dxp
        for i in range(k[0]):
            for j in range(k[1]):
                big[:, :, i:i + stride[0] * (oh - 1) + 1:stride[0],
                    j:j + stride[1] * (ow - 1) + 1:stride[1]] += gd
        return big[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w].copy()

    def backward(ctx, gg):
        k, stride, pads, divisor, ceil_mode = ctx.args
        return AvgPool2d.apply(gg, k=k, stride=stride, pads=pads, divisor=divisor, ceil_mode=ceil_mode)


def _pool_divisor(h, w, k, stride, pads, ceil_mode, count_include_pad, divisor_override, oh, ow):
    if divisor_override:
        return xp.full((oh, ow), float(divisor_override))
    # Count, per window, the cells that PyTorch divides by: real cells, plus padding
    # cells when count_include_pad (but never cells past the padded edge in ceil mode).
    mask = xp.zeros((h + pads[0] + pads[1], w + pads[2] + pads[3]))
    if count_include_pad:
        mask[:] = 1
    else:
        mask[pads[0]:pads[0] + h, pads[2]:pads[2] + w] = 1
    hp_need = (oh - 1) * stride[0] + k[0]
    wp_need = (ow - 1) * stride[1] + k[1]
    big = xp.zeros((max(hp_need, mask.shape[0]), max(wp_need, mask.shape[1])))
    big[:mask.shape[0], :mask.shape[1]] = mask
    win = _windows(big[None, None], k[0], k[1], stride[0], stride[1], 1, 1, oh, ow)
    return win.sum(axis=(4, 5))[0, 0]


def _pool_geometry(x, k, stride, pads, dil, ceil_mode):
    """Output size and the padding of a max pooling's windows over the array ``x`` (ceil mode
    may reach past the padded input: the extra rows and columns are added at the bottom and
    right), and whether ``x`` is NHWC in memory (its gradient will be laid out the same)."""
    h, w = x.shape[2], x.shape[3]
    oh = out_size(h, k[0], stride[0], pads[0], pads[1], dil[0], ceil_mode)
    ow = out_size(w, k[1], stride[1], pads[2], pads[3], dil[1], ceil_mode)
    need_h = (oh - 1) * stride[0] + dil[0] * (k[0] - 1) + 1
    need_w = (ow - 1) * stride[1] + dil[1] * (k[1] - 1) + 1
    extra_b = max(0, need_h - (h + pads[0] + pads[1]))
    extra_r = max(0, need_w - (w + pads[2] + pads[3]))
    return {"shape": tuple(x.shape), "k": k, "stride": stride, "dil": dil, "oh": oh, "ow": ow,
            "pads": (pads[0], pads[1] + extra_b, pads[2], pads[3] + extra_r),
            "nhwc": x.strides[1] < x.strides[3]}


def _padded_for_max(x, geo):
    """``x`` padded with the lowest value of its dtype, so that padding never wins a max; in
    ``x``'s own layout (an NCHW copy of NHWC memory made every later pass mix layouts:
    ResNet-18's 3x3 stride-2 pooling of 32x64x16x16 took 6.2 ms)."""
    low = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
    if not geo["nhwc"]:
        return _pad(x, geo["pads"], low)
    return _nhwc_padded(x, geo["pads"], low).transpose(0, 3, 1, 2)


def _zeros_nchw(shape, dtype, nhwc):
    """Zeros of the (N, C, H, W) ``shape``, NHWC in memory when ``nhwc``."""
    if not nhwc:
        return xp.zeros(shape, dtype=dtype)
    n, c, h, w = shape
    return xp.zeros((n, h, w, c), dtype=dtype).transpose(0, 3, 1, 2)


def _offset_views(a, geo):
    """``(t, view)`` for each kernel offset ``t = i*kw + j``: the elements at that offset of
    every window of the padded array ``a``, as an (N, C, oh, ow) view."""
    (kh, kw), (sh, sw), (dh, dw), oh, ow = geo["k"], geo["stride"], geo["dil"], geo["oh"], geo["ow"]
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            yield i * kw + j, a[:, :, rows, j * dw:j * dw + sw * (ow - 1) + 1:sw]


def max_pool2d_offsets(x, geo):
    """The max of every window and where it is: ``(values, offsets)``, for the windows of
    :func:`_pool_geometry`.

    ``offsets`` (N, C, oh, ow) holds the kernel offset ``i*kw + j`` of each window's max: the
    first maximum, or the last NaN, as PyTorch picks. One pass per kernel offset over the
    output-sized views keeps a running max, instead of copying every window out.
    """
    k = geo["k"]
    # NaN needs a second test per offset: only where the input has one (a non-finite sum)
    nan = x.dtype.kind == "f" and not xp.isfinite(x.sum())
    if tuple(k) == (2, 2) and not nan and _tiles(geo):
        return _max_pool_2x2(x)
    xpad = _padded_for_max(x, geo)
    best = None
    itype = xp.int16 if k[0] * k[1] < 2 ** 15 else xp.int32
    # in the input's layout: mixing NHWC and NCHW operands in one ufunc is several times slower
    off = _zeros_nchw((x.shape[0], x.shape[1], geo["oh"], geo["ow"]), itype, geo["nhwc"])
    step = xp.empty_like(off)
    # arithmetic, not masked copies: a random mask costs a branch misprediction per element
    # (measured 15x slower than maximum and a multiply-add on the same arrays)
    for t, v in _offset_views(xpad, geo):
        if best is None:
            best = v.copy(order="K")
            continue
        win = xp.greater(v, best)
        if nan:
            win |= xp.isnan(v)
        xp.maximum(best, v, out=best)                # NaN wins here too
        xp.subtract(itype(t), off, out=step)
        step *= win
        off += step
    return best, off


def _tiles(geo):
    """Whether the windows tile the input exactly: stride = kernel, no padding or dilation."""
    return tuple(geo["k"]) == tuple(geo["stride"]) and tuple(geo["dil"]) == (1, 1) \
        and not any(geo["pads"]) \
        and geo["shape"][2] == geo["oh"] * geo["k"][0] and geo["shape"][3] == geo["ow"] * geo["k"][1]


def _max_pool_2x2(x):
    """``(values, offsets)`` of 2x2 windows that tile ``x`` (no NaN), as a tree: the max of
    each row's pair, then of the two rows. Ties go to the earlier offset at both levels, which
    is the first maximum in PyTorch's row-major order: 6 comparisons and 4 int8 updates over
    output-sized arrays instead of 4 passes per offset (64x16x28x28: 1.8 -> 1.1 ms)."""
    v00, v01 = x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2]
    v10, v11 = x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]
    right_top = xp.greater(v01, v00)
    top = xp.maximum(v00, v01)
    right_bottom = xp.greater(v11, v10)
    bottom = xp.maximum(v10, v11)
    lower = xp.greater(bottom, top)
    best = xp.maximum(top, bottom, out=top)
    # offset = right_top + lower * (2 + right_bottom - right_top), in int8 (the bools' bytes)
    off = xp.subtract(right_bottom.view(xp.int8), right_top.view(xp.int8))
    off += 2
    off *= lower.view(xp.int8)
    off += right_top.view(xp.int8)
    return best, off


def max_pool2d_flat_indices(off, geo):
    """``h*W + w`` of each window's max in the unpadded input (``return_indices``)."""
    kw, (sh, sw), (dh, dw), p = geo["k"][1], geo["stride"], geo["dil"], geo["pads"]
    ki, kj = xp.divmod(off.astype(xp.int64), kw)
    rows = xp.arange(geo["oh"]).reshape(-1, 1) * sh + ki * dh - p[0]
    cols = xp.arange(geo["ow"]).reshape(1, -1) * sw + kj * dw - p[2]
    return rows * geo["shape"][3] + cols


def _unpadded(a, geo):
    p, (h, w) = geo["pads"], geo["shape"][2:]
    return a[:, :, p[0]:p[0] + h, p[2]:p[2] + w]


def _max_only(x, geo):
    """The windows' maxima without where they are: the max over rows, then over columns
    (kh + kw - 2 passes instead of kh*kw, and no offsets to track)."""
    (kh, kw), (sh, sw), (dh, dw), oh, ow = geo["k"], geo["stride"], geo["dil"], geo["oh"], geo["ow"]
    xpad = _padded_for_max(x, geo)
    rows = None
    for i in range(kh):
        v = xpad[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh]
        rows = v.copy(order="K") if rows is None else xp.maximum(rows, v, out=rows)
    out = None
    for j in range(kw):
        v = rows[..., j * dw:j * dw + sw * (ow - 1) + 1:sw]
        out = v.copy(order="K") if out is None else xp.maximum(out, v, out=out)
    return out


class MaxPool2dWithIndices(Node):
    """Max pooling; records where each window's max is (kernel offsets, see
    :func:`max_pool2d_offsets`) when a gradient or the indices are wanted (``indices``, a list,
    receives them), and its derivative puts the gradient there. Given ``off``, it gathers
    (the derivative of :class:`MaxPool2dScatter`)."""

    _bw_name = "MaxPool2DWithIndicesBackward0"

    def forward(ctx, x, geo, off=None, indices=None):
        if off is None:
            if not ctx.needs_input_grad and indices is None:     # nothing to record
                return _max_only(x, geo)
            values, off = max_pool2d_offsets(x, geo)
            if indices is not None:
                indices.append(off)
            ctx.off, ctx.geo = off, geo
            return values
        ctx.off, ctx.geo = off, geo
        out = xp.zeros(off.shape, dtype=x.dtype)
        xpad = _pad(x, geo["pads"])
        for t, v in _offset_views(xpad, geo):
            xp.copyto(out, v, where=off == t)
        return out

    def backward(ctx, g):
        return MaxPool2dScatter.apply(g, off=ctx.off, geo=ctx.geo)


def _tiled_scatter(g, off, kh, kw, nhwc):
    """(N, C, oh*kh, ow*kw): ``g`` where ``off`` says the window's max is, else 0; NHWC in
    memory when ``nhwc``. One product per kernel offset, written into its strided slot of the
    output (each element written once, no zeros first): 64x16x28x28, 2x2: 1.6 ms for one
    broadcast product against a (kh, kw) comparison, 0.7 ms so."""
    n, c, oh, ow = g.shape
    if nhwc:            # (N, oh, kh, ow, kw, C): the NHWC memory
        out = xp.empty((n, oh, kh, ow, kw, c), dtype=g.dtype)
        # g in the offsets' layout first (a copy of an output-sized array where it comes
        # NCHW, from a Flatten): mixed layouts in one product run several times slower
        gl, ol = xp.ascontiguousarray(g.transpose(0, 2, 3, 1)), off.transpose(0, 2, 3, 1)
        for i in range(kh):
            for j in range(kw):
                xp.multiply(gl, ol == i * kw + j, out=out[:, :, i, :, j, :])
        return out.reshape(n, oh * kh, ow * kw, c).transpose(0, 3, 1, 2)
    out = xp.empty((n, c, oh, kh, ow, kw), dtype=g.dtype)
    for i in range(kh):
        for j in range(kw):
            xp.multiply(g, off == i * kw + j, out=out[:, :, :, i, :, j])
    return out.reshape(n, c, oh * kh, ow * kw)


class MaxPool2dScatter(Node):
    """Each window's gradient put at its max, zeros elsewhere (added where windows overlap)."""

    _bw_name = "MaxPool2DWithIndicesBackwardBackward0"

    def forward(ctx, g, off, geo):
        ctx.off, ctx.geo = off, geo
        n, c, h, w = geo["shape"]
        p = geo["pads"]
        (kh, kw), (sh, sw), (dh, dw) = geo["k"], geo["stride"], geo["dil"]
        finite = g.dtype.kind != "f" or xp.isfinite(g.sum())   # else inf * 0 would give NaN
        if finite and _tiles(geo):
            # windows tile the input: every element is one window's (i, j), so the whole
            # gradient is put back with one product per offset (MaxPool2d(2): 2.9 -> 0.8 ms)
            return _tiled_scatter(g, off, kh, kw, geo["nhwc"])
        # the input's layout: the next backward multiplies this gradient with the input
        out = _zeros_nchw((n, c, h + p[0] + p[1], w + p[2] + p[3]), g.dtype, geo["nhwc"])
        overlap = sh < dh * (kh - 1) + 1 or sw < dw * (kw - 1) + 1
        for t, v in _offset_views(out, geo):
            at = off == t
            if not finite:
                xp.add(v, g, out=v, where=at)
            elif overlap:
                v += g * at
            else:
                xp.multiply(g, at, out=v)
        return _unpadded(out, geo)

    def backward(ctx, gg):
        return MaxPool2dWithIndices.apply(gg, geo=ctx.geo, off=ctx.off)

"""Stateless neural-network functions (``tapegrad.nn.functional``, imported as ``F``).

Each function has one implementation here; the modules in ``nn.modules`` hold
parameters and call these. Layers whose derivative matters for speed are
fused ops in ``tapegrad.ops`` (linear, convolution, pooling, batch norm);
losses are built from numerically stable primitives (log-softmax, softplus).
"""
from __future__ import annotations

import math
import numbers
import warnings

from .. import backend as B
from ..autograd.graph import Node
from ..ops import _dispatch
from ..ops import conv as C
from ..ops import elementwise as E
from ..ops import normalization as N
from ..ops import reduction as R
from ..ops import shape as S
from ..ops.linalg import Addmm, Mm, _mm, check_addmm_dtypes, einsum
from ..ops.shape import mT_, reshape_
from ..tensor import Tensor

xp = B.xp
# every public layer function goes through the dispatch point (transforms such as vmap)
_public = _dispatch.functional


def _pair(v, n=2):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return tuple(v) * n
        return tuple(int(i) for i in v)
    return (int(v),) * n


# =========================================================================== linear
class _Linear(Node):
    """``x @ W.T + b`` for any leading dims of x in one node: the path for a weight that is
    not a matrix, where PyTorch's addmm/mm composition does not apply."""

    _bw_name = "AddmmBackward0"

    def forward(ctx, x, w, b=None):
        n = ctx.needs_input_grad
        if n:
            ctx.saved = (x if n[1] else None, w if n[0] else None)
        out = xp.matmul(x, w.T)
        if b is not None:
            out += b
        return out

    def backward(ctx, g):
        x, w = ctx.saved
        n = ctx.needs_input_grad
        gx = _mm(g, w) if n[0] else None
        gw = gb = None
        if n[1] or (len(n) > 2 and n[2]):
            out_f = g.shape[-1]
            g2 = reshape_(g, (-1, out_f)) if len(g.shape) != 2 else g
            if n[1]:
                x2 = reshape_(x, (-1, x.shape[-1])) if len(x.shape) != 2 else x
                gw = _mm(mT_(g2), x2)
            if len(n) > 2 and n[2]:
                gb = R.SumDim.apply(g2, dims=(0,), keepdim=False)
        return (gx, gw, gb) if len(n) > 2 else (gx, gw)


class _LinearNoBias(_Linear):
    _bw_name = "MmBackward0"


class _SqueezeRow(S.View):
    """``(1, n) -> (n,)``: PyTorch's squeeze after a vector went through ``mm`` as a row."""

    _bw_name = "SqueezeBackward4"


def _affine(input, weight, bias):
    """``linear`` as PyTorch records it: ``addmm(bias, x, weight.t())`` (``mm`` without a bias)
    on ``x`` viewed as a matrix, so the graph has its nodes (``TBackward0`` on the weight, the
    bias as addmm's first edge, the views around a batched input)."""
    wt = S.T.apply(weight, dims=(1, 0))
    nd = input._data.ndim
    if nd == 2:
        return Addmm.apply(bias, input, wt) if bias is not None else Mm.apply(input, wt)
    if bias is None and nd == 1:
        row = S.Unsqueeze.apply(input, shape=(1,) + tuple(input.shape))
        return _SqueezeRow.apply(Mm.apply(row, wt), shape=(weight.shape[0],))
    out_shape = tuple(input.shape[:-1]) + (weight.shape[0],)
    x2 = S.reshape(input, (-1, input.shape[-1]))
    if bias is None:
        return S.UnsafeView.apply(Mm.apply(x2, wt), shape=out_shape)
    return S.View.apply(Addmm.apply(bias, x2, wt), shape=out_shape)


@_public("layer")
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``; input (*, in_features), weight (out_features, in_features)."""
    if not (isinstance(input, Tensor) and isinstance(weight, Tensor)) or \
            (bias is not None and not isinstance(bias, Tensor)):
        _check_tensors("linear", input=input, weight=weight, bias=bias)
    if input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(
            "mat1 and mat2 shapes cannot be multiplied "
            f"({math.prod(input.shape[:-1]) if input.ndim > 1 else 1}"
            f"x{input.shape[-1]} and {weight.shape[-1]}x{weight.shape[0]})")
    wd = weight._data.dtype
    if bias is not None:  # PyTorch's addmm then, with addmm's messages
        if input._data.dtype != wd or bias._data.dtype != wd:
            check_addmm_dtypes(bias, input, weight)
    elif input._data.dtype != wd:  # PyTorch's mm
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_cpp(input)} != {_cpp(weight)}")
    if weight._data.ndim == 2 and (bias is None or bias._data.ndim <= 1):
        return _affine(input, weight, bias)
    if bias is None:
        return _LinearNoBias.apply(input, weight)
    return _Linear.apply(input, weight, bias)


@_public("layer")
def bilinear(input1, input2, weight, bias=None):
    """``x1^T A x2 + b`` for each output feature; weight (out, in1, in2)."""
    out = einsum("...i,oij,...j->...o", input1, weight, input2)
    return out + bias if bias is not None else out


def _check_tensors(fn, **args):
    """PyTorch's TypeError when a tensor argument of ``fn`` is not a tensor (None is allowed
    for the optional ones, which come after the required ones)."""
    for pos, (name, value) in enumerate(args.items(), 1):
        if not isinstance(value, Tensor) and (value is not None or pos == 1):
            raise TypeError(f"{fn}(): argument '{name}' (position {pos}) must be Tensor, "
                            f"not {type(value).__name__}")


def _cpp(t):
    from ..tensor import _CPP_NAMES
    return _CPP_NAMES.get(t._data.dtype.name, t._data.dtype.name)


def _check_conv_dtypes(input, weight, bias):
    """PyTorch's errors for convolution operands of different dtypes (it never promotes)."""
    d = input._data.dtype
    if weight._data.dtype == d and (bias is None or bias._data.dtype == d):
        return
    # (PyTorch compares the bias first)
    if bias is not None and bias._data.dtype != input._data.dtype:
        raise RuntimeError(f"Input type ({_cpp(input)}) and bias type ({_cpp(bias)}) should be the same")
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(f"expected scalar type {R._cap(input.dtype)} but found {R._cap(weight.dtype)}")


# =========================================================================== convolution
def _check_conv_input(input, weight, groups, ndim, name):
    if not (isinstance(input, Tensor) and isinstance(weight, Tensor)):
        _check_tensors(name, input=input, weight=weight)
    if input.ndim not in (ndim + 1, ndim + 2):
        raise RuntimeError(
            f"Expected {ndim + 1}D (unbatched) or {ndim + 2}D (batched) input to {name}, but got input of "
            f"size: {list(input.shape)}")
    batched = input.ndim == ndim + 2
    c = input.shape[1] if batched else input.shape[0]
    if c != weight.shape[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
            f"{list(input.shape)} to have {weight.shape[1] * groups} channels, but got {c} channels instead")
    return batched


def _same_pads(k, dil):
    # strict=False: dilation is user-supplied (any length); a bad one fails in the conv itself
    tot = [d * (kk - 1) for kk, d in zip(k, dil, strict=False)]
    return (tot[0] // 2, tot[0] - tot[0] // 2, tot[1] // 2, tot[1] - tot[1] // 2)


@_public("layer")
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution. input (N, C, H, W), weight (O, C/groups, kh, kw) -> (N, O, H', W').

    ``padding`` may be an int, a pair, ``'valid'`` or ``'same'`` (stride 1 only).
    """
    batched = _check_conv_input(input, weight, groups, 2, "conv2d")
    if not batched:
        input = input.unsqueeze(0)
    stride, dil = _pair(stride), _pair(dilation)
    k = weight.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if stride != (1, 1):   # (the module refuses it earlier, with a ValueError)
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            pads = _same_pads(k, dil)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        p = _pair(padding)
        pads = (p[0], p[0], p[1], p[1])
    _check_conv_dtypes(input, weight, bias)
    for i, (n, kk) in enumerate(zip(input.shape[2:], k, strict=False)):
        if n + pads[2 * i] + pads[2 * i + 1] < dil[i] * (kk - 1) + 1:
            raise RuntimeError(
                f"Calculated padded input size per channel: ({input.shape[2] + pads[0] + pads[1]} x "
                f"{input.shape[3] + pads[2] + pads[3]}). Kernel size: ({k[0]} x {k[1]}). Kernel size "
                "can't be greater than actual input size")
    out = C.Conv2d.apply(input, weight, bias, stride=stride, pads=pads, dil=dil, groups=groups)
    return out if batched else out.squeeze(0)


@_public("layer")
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution through conv2d on a height-1 image. input (N, C, L), weight (O, C/g, k)."""
    batched = _check_conv_input(input, weight, groups, 1, "conv1d")
    if not batched:
        input = input.unsqueeze(0)
    pad = padding if isinstance(padding, str) else (0, _pair(padding, 1)[0])
    out = conv2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, _pair(stride, 1)[0]), pad,
                 (1, _pair(dilation, 1)[0]), groups)
    out = out.squeeze(2)
    return out if batched else out.squeeze(0)


@_public("layer")
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution; weight (C_in, C_out/groups, kh, kw)."""
    _check_tensors("conv_transpose2d", input=input, weight=weight, bias=bias)
    # (PyTorch accepts a bias of another dtype here, and so do we: the output keeps input's)
    _check_conv_dtypes(input, weight, None)
    batched = input.ndim == 4
    if not batched:
        input = input.unsqueeze(0)
    stride, pad, opad, dil = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    # strict=False: user-supplied pairs; a wrong length must keep failing later, with its own error
    for o, s, d in zip(opad, stride, dil, strict=False):
        if o >= s and o >= d:
            raise RuntimeError("output padding must be smaller than either stride or dilation")
    if input.shape[1] != weight.shape[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input{list(input.shape)} "
            f"to have {weight.shape[0]} channels, but got {input.shape[1]} channels instead")
    kh, kw = weight.shape[2:]
    h = (input.shape[2] - 1) * stride[0] - 2 * pad[0] + dil[0] * (kh - 1) + opad[0] + 1
    w = (input.shape[3] - 1) * stride[1] - 2 * pad[1] + dil[1] * (kw - 1) + opad[1] + 1
    # output_padding only adds rows/cols that no input position reaches (zero gradient)
    pads = (pad[0], pad[0], pad[1], pad[1])
    out = C.ConvTranspose2d.apply(input, weight, bias, out_hw=(h, w), cfg=(stride, pads, dil, groups))
    return out if batched else out.squeeze(0)


# =========================================================================== pooling
def _pool_args(input, kernel_size, stride, padding, name):
    k = _pair(kernel_size)
    s = _pair(stride) if stride is not None and stride != [] and stride != () else k
    p = _pair(padding)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p[0]}, "
                           f"kernel_size={k[0]} and dilation=1")
    if input.ndim not in (3, 4):
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    return k, s, p


@_public("layer")
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over windows; gradient goes to the (first) max of each window."""
    k, s, p = _pool_args(input, kernel_size, stride, padding, "max_pool2d")
    dil = _pair(dilation)
    batched = input.ndim == 4
    x = input if batched else input.unsqueeze(0)
    n, c, h, w = x.shape
    pads = (p[0], p[0], p[1], p[1])
    geo = C._pool_geometry(x._data, k, s, pads, dil, ceil_mode)
    oh, ow = geo["oh"], geo["ow"]
    if oh <= 0 or ow <= 0:
        raise RuntimeError(f"Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{oh}x{ow}). "
                           "Output size is too small")
    offsets = [] if return_indices else None
    out = C.MaxPool2dWithIndices.apply(x, geo=geo, indices=offsets)
    if not batched:
        out = out.squeeze(0)
    if return_indices:
        idx = C.max_pool2d_flat_indices(offsets[0], geo)
        return out, Tensor._wrap(idx if batched else idx[0])
    return out


@_public("layer")
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    r = max_pool2d(input.unsqueeze(-2), (1, _pair(kernel_size, 1)[0]),
                   (1, _pair(stride, 1)[0]) if stride is not None else None,
                   (0, _pair(padding, 1)[0]), (1, _pair(dilation, 1)[0]), ceil_mode, return_indices)
    if return_indices:
        return r[0].squeeze(-2), r[1].squeeze(-2)
    return r.squeeze(-2)


@_public("layer")
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over windows (PyTorch's divisor rules for padding and ceil_mode)."""
    k, s, p = _pool_args(input, kernel_size, stride, padding, "avg_pool2d")
    batched = input.ndim == 4
    x = input if batched else input.unsqueeze(0)
    h, w = x.shape[2:]
    pads = (p[0], p[0], p[1], p[1])
    oh = C.out_size(h, k[0], s[0], p[0], p[0], 1, ceil_mode)
    ow = C.out_size(w, k[1], s[1], p[1], p[1], 1, ceil_mode)
    div = C._pool_divisor(h, w, k, s, pads, ceil_mode, count_include_pad, divisor_override, oh, ow)
    div = div.astype(x._data.dtype)
    # ceil mode: the last windows may run past the padded input; pad with zeros on the right
    extra_b = max(0, (oh - 1) * s[0] + k[0] - (h + 2 * p[0]))
    extra_r = max(0, (ow - 1) * s[1] + k[1] - (w + 2 * p[1]))
    out = C.AvgPool2d.apply(x, k=k, stride=s, pads=(p[0], p[0] + extra_b, p[1], p[1] + extra_r),
                            divisor=div, ceil_mode=ceil_mode)
    return out if batched else out.squeeze(0)


@_public("layer")
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return avg_pool2d(input.unsqueeze(-2), (1, _pair(kernel_size, 1)[0]),
                      (1, _pair(stride, 1)[0]) if stride is not None else None,
                      (0, _pair(padding, 1)[0]), ceil_mode, count_include_pad).squeeze(-2)


def _adaptive_matrix(n, o, dtype):
    """(o, n) averaging matrix: row i averages [floor(i*n/o), ceil((i+1)*n/o))."""
    m = xp.zeros((o, n), dtype=dtype)
    for i in range(o):
        a = (i * n) // o
        b = -((-(i + 1) * n) // o)
        m[i, a:b] = 1.0 / (b - a)
    return m


@_public("layer")
def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (PyTorch's window boundaries)."""
    oh, ow = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    h, w = input.shape[-2:]
    oh = h if oh is None else oh
    ow = w if ow is None else ow
    if (oh, ow) == (1, 1):
        return input.mean(dim=(-2, -1), keepdim=True)
    if h % oh == 0 and w % ow == 0:
        return avg_pool2d(input, (h // oh, w // ow), (h // oh, w // ow))
    mh = Tensor._wrap(_adaptive_matrix(h, oh, input._data.dtype))
    mw = Tensor._wrap(_adaptive_matrix(w, ow, input._data.dtype))
    return einsum("ih,...hw,jw->...ij", mh, input, mw)


@_public("layer")
def adaptive_avg_pool1d(input, output_size):
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, output_size)).squeeze(-2)


@_public("layer")
def adaptive_max_pool2d(input, output_size, return_indices=False):
    oh, ow = _pair(output_size)
    h, w = input.shape[-2:]
    if h % oh or w % ow:
        raise NotImplementedError(
            "adaptive_max_pool2d needs the input size to be a multiple of the output size")
    return max_pool2d(input, (h // oh, w // ow), (h // oh, w // ow), return_indices=return_indices)


# =========================================================================== normalisation
@_public("layer")
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Batch normalisation over every dim but 1; updates running stats in training mode."""
    if input.ndim < 2:
        raise ValueError(f"expected 2D or more input (got {input.ndim}D input)")
    shape = input._data.shape
    c = shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t._data.size != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    axes = (0,) + tuple(range(2, input.ndim))
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if training:
        m = input._data.size // c if c else 0
        if m <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {input.shape}")
        stats = []
        out = N.BatchNorm.apply(input, weight, bias, axes=axes, eps=eps, stats=stats)
        if running_mean is not None or running_var is not None:
            mean_arr, var_arr = stats[0] if stats else _batch_stats(input._data, axes)
            _update_running(running_mean, running_var, mean_arr, var_arr, m, momentum)
        return out
    if running_mean is None or running_var is None:
        raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
    rv = running_var._data.reshape(bshape)
    invstd = (1 / xp.sqrt(rv + xp.asarray(eps, dtype=rv.dtype))).astype(rv.dtype, copy=False)
    return N.BatchNormStats.apply(input, weight, bias, mean=running_mean._data.reshape(bshape),
                                  invstd=invstd, axes=axes)


def _batch_stats(x, axes):
    mean = x.mean(axis=axes, keepdims=True)
    return mean, ((x - mean) ** 2).mean(axis=axes, keepdims=True)


def _update_running(rm, rv, mean, var, m, momentum):
    # Straight into the buffers' storage (no op records anything, so no no_grad is needed);
    # a buffer needs no source location for an error message, so no frame walk either.
    if rm is not None:
        rm._data *= 1 - momentum
        rm._data += momentum * mean.reshape(-1).astype(rm._data.dtype, copy=False)
        rm._bump_version("batch_norm")
    if rv is not None:
        # running variance uses the unbiased estimate, as in PyTorch
        rv._data *= 1 - momentum
        rv._data += momentum * (var.reshape(-1) * (m / (m - 1))).astype(rv._data.dtype, copy=False)
        rv._bump_version("batch_norm")


@_public("layer")
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims."""
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in normalized_shape)}], but got input of size{list(input.shape)}")
    axes = tuple(range(input.ndim - k, input.ndim))
    return N.LayerNorm.apply(input, weight, bias, axes=axes, eps=eps)


@_public("layer")
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise over groups of channels (and all spatial positions)."""
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{list(input.shape)} and num_groups={num_groups}")
    return N.GroupNorm.apply(input, weight, bias, groups=num_groups, eps=eps)


@_public("layer")
def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim``."""
    n = R.norm(input, p, dim, keepdim=True)
    return input / E.clamp(n, min=eps).expand_as(input)


# =========================================================================== dropout, embedding
@_public("layer")
def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``."""
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0
    from ..creation import _rng
    keep = _rng(None).random(input.shape) >= p
    mask = Tensor._wrap((keep / (1 - p)).astype(input._data.dtype))
    if inplace:
        return input.mul_(mask)
    return input * mask


@_public("layer")
def dropout1d(input, p=0.5, training=True, inplace=False):
    return dropout(input, p, training, inplace)


@_public("layer")
def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) input."""
    if not isinstance(p, (int, float)) or p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    from ..creation import _rng
    shape = input.shape[:2] + (1,) * (input.ndim - 2)
    keep = _rng(None).random(shape) >= p
    mask = Tensor._wrap((keep / (1 - p)).astype(input._data.dtype))
    return input * mask


class _Embedding(Node):
    _bw_name = "EmbeddingBackward0"

    # the indices are an attribute, not an input: PyTorch's node has one edge, to the weight
    def forward(ctx, w, idx, padding_idx, scale_grad_by_freq=False):
        ctx.idx, ctx.w_shape, ctx.padding_idx = idx, w.shape, padding_idx
        ctx.scale_grad_by_freq = scale_grad_by_freq
        return w[idx]

    def backward(ctx, g):
        from ..ops.indexing import IndexPutAccumulate
        if ctx.scale_grad_by_freq:
            # each occurrence's gradient is divided by how often its index occurs in the batch
            counts = xp.bincount(ctx.idx.ravel(), minlength=ctx.w_shape[0])
            scale = (1.0 / counts[ctx.idx])[..., None].astype(g.dtype)
            g = g * (Tensor._wrap(scale) if isinstance(g, Tensor) else scale)
        gw = IndexPutAccumulate.apply(g, shape=ctx.w_shape, index=(ctx.idx,))
        if ctx.padding_idx is not None:
            from ..ops.indexing import IndexFillZero
            gw = IndexFillZero.apply(gw, index=(ctx.padding_idx,))
        return gw


@_public("layer")
def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` picked by the integer tensor ``input``."""
    if not isinstance(input, Tensor) or input._data.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar "
                           "types: Long, Int; but got torch.FloatTensor instead (while checking arguments "
                           "for embedding)")
    idx = input._data.astype(xp.intp)
    if idx.size and (idx.min() < 0 or idx.max() >= weight.shape[0]):
        raise IndexError("index out of range in self")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    if max_norm is not None:
        # PyTorch's embedding_renorm_: rows used by ``input`` are rescaled in place (no grad)
        rows = xp.unique(idx)
        w = weight._data
        norms = xp.linalg.norm(w[rows].astype(xp.float64), ord=norm_type, axis=-1)
        big = norms > max_norm
        if big.any():
            w[rows[big]] *= (max_norm / (norms[big] + 1e-7))[:, None].astype(w.dtype)
            weight._record_inplace("embedding_renorm_")
    return _Embedding.apply(weight, idx=idx, padding_idx=padding_idx,
                            scale_grad_by_freq=bool(scale_grad_by_freq))


@_public("layer")
def one_hot(tensor, num_classes=-1):
    from ..ops.indexing import one_hot as oh
    return oh(tensor, num_classes)


@_public("layer")
def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad)//2`` dims: ``pad = (left, right, top, bottom, ...)``."""
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the input dimension "
                           f"but got padding length {len(pad)} and input of dimension {input.ndim}")
    value = 0.0 if value is None else value
    if mode == "constant":
        return _ConstantPad.apply(input, pads=tuple(pad), value=value)
    # reflect / replicate / circular: an index per padded dim (differentiable gather)
    out = input
    for i in range(len(pad) // 2):
        d = input.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        n = input.shape[d]
        pos = xp.arange(-lo, n + hi)
        if mode == "reflect":
            if lo >= n or hi >= n:
                raise RuntimeError("Padding size should be less than the corresponding input dimension")
            period = 2 * (n - 1)
            pos = xp.abs(((pos % period) + period) % period)
            pos = xp.where(pos >= n, period - pos, pos)
        elif mode == "replicate":
            pos = xp.clip(pos, 0, n - 1)
        elif mode == "circular":
            pos = pos % n
        else:
            raise NotImplementedError(f"padding mode {mode!r} is not supported")
        out = out.index_select(d, Tensor._wrap(pos.astype(xp.int64)))
    return out


class _ConstantPad(Node):
    _bw_name = "ConstantPadNdBackward0"

    def forward(ctx, x, pads, value):
        widths = [(0, 0)] * x.ndim
        for i in range(len(pads) // 2):
            widths[x.ndim - 1 - i] = (pads[2 * i], pads[2 * i + 1])
        ctx.widths = widths
        if any(a < 0 or b < 0 for a, b in widths):
            # negative padding crops
            sl = tuple(slice(max(-a, 0), x.shape[k] - max(-b, 0)) for k, (a, b) in enumerate(widths))
            x = x[sl]
            widths = [(max(a, 0), max(b, 0)) for a, b in widths]
        return xp.pad(x, widths, constant_values=value)

    def backward(ctx, g):
        sl = tuple(slice(a, g.shape[k] - b) for k, (a, b) in enumerate(ctx.widths))
        if any(a < 0 or b < 0 for a, b in ctx.widths):
            raise NotImplementedError("backward of negative padding")
        return S.Slice.apply(g, index=sl)


# =========================================================================== activations
sigmoid = _dispatch.public(E.sigmoid, "nn.functional.sigmoid", "unary")
tanh = _dispatch.public(E.tanh, "nn.functional.tanh", "unary")
softplus = _dispatch.public(E.softplus, "nn.functional.softplus", "unary")
gelu = _dispatch.public(E.gelu, "nn.functional.gelu", "unary")


def _inplace(fn, name):
    from ..ops.inplace import make_inplace
    return make_inplace(fn, name)


@_public("unary")
def relu(input, inplace=False):
    return input.relu_() if inplace else E.relu(input)


@_public("unary")
def silu(input, inplace=False):
    return _inplace(E.silu, "silu_")(input) if inplace else E.silu(input)


@_public("unary")
def leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:
        return _inplace(E.leaky_relu, "leaky_relu_")(input, negative_slope)
    return E.leaky_relu(input, negative_slope)


@_public("unary")
def relu_(input):
    return input.relu_()


@_public("unary")
def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0)


@_public("unary")
def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return E.clamp(input, min_val, max_val)


@_public("unary")
def elu(input, alpha=1.0, inplace=False):
    return E.where(input > 0, input, (E.expm1(E.clamp(input, max=0.0))) * alpha)


@_public("unary")
def selu(input, inplace=False):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return elu(input, alpha) * scale


@_public("unary")
def celu(input, alpha=1.0, inplace=False):
    return E.where(input > 0, input, E.expm1(E.clamp(input, max=0.0) / alpha) * alpha)


@_public("unary")
def mish(input, inplace=False):
    return input * E.tanh(E.softplus(input))


@_public("unary")
def hardsigmoid(input, inplace=False):
    return E.clamp(input / 6 + 0.5, 0.0, 1.0)


@_public("unary")
def hardswish(input, inplace=False):
    return input * hardsigmoid(input)


@_public("unary")
def logsigmoid(input):
    return -E.softplus(-input)


@_public("scan")
def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        warnings.warn("Implicit dimension choice for softmax has been deprecated. Change the call to "
                      "include dim=X as an argument.", UserWarning, stacklevel=2)
    return R.softmax(input, dim, dtype)


@_public("scan")
def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        warnings.warn("Implicit dimension choice for log_softmax has been deprecated. Change the call to "
                      "include dim=X as an argument.", UserWarning, stacklevel=2)
    return R.log_softmax(input, dim, dtype)


@_public("scan")
def softmin(input, dim=None, dtype=None):
    return R.softmax(-input, dim, dtype)


@_public("layer")
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    dot = (x1 * x2).sum(dim)
    n1 = R.norm(x1, 2, dim)
    n2 = R.norm(x2, 2, dim)
    return dot / E.clamp(n1 * n2, min=eps)


@_public("layer")
def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return R.norm(x1 - x2 + eps, p, -1, keepdim)


# =========================================================================== losses
def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _check_same_size(input, target, name):
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have "
            "the same size.", UserWarning, stacklevel=3)


@_public("loss")
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_same_size(input, target, "mse_loss")
    if weight is not None:
        return _weighted(E.pow(input - target, 2), weight, input, reduction)
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _MseLoss.apply(input, target, reduction=reduction)


class _MseLoss(Node):
    """``(a - b)**2`` with its reduction; inputs broadcast (PyTorch warns, as above)."""

    _bw_name = "MseLossBackward0"
    promote = True

    def forward(ctx, a, b, reduction):
        ctx.saved = (a, b)
        ctx.reduction = reduction
        d = a - b
        sq = d * d
        ctx.shape = sq.shape
        if reduction == "none":
            return sq
        return xp.asarray(sq.mean() if reduction == "mean" else sq.sum(), dtype=sq.dtype)

    def backward(ctx, g):
        from ..ops.shape import expand_
        a, b = ctx.saved
        n = 1
        for s in ctx.shape:
            n *= s
        if ctx.reduction != "none":
            g = expand_(g / n if ctx.reduction == "mean" else g, ctx.shape)
        ga = g * 2 * (a - b)
        need = ctx.needs_input_grad
        return (ga if need[0] else None), (-ga if need[1] else None)


def _weighted(loss, weight, input, reduction):
    """An elementwise loss times ``weight`` (input's size); ``mean`` is the weighted mean,
    ``sum(w * loss) / sum(w)``, as PyTorch's mse_loss and l1_loss compute it."""
    _check_weight(weight, input)
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def _check_weight(weight, input):
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")


@_public("loss")
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error (PyTorch records it as ``abs(input - target)`` and its reduction)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_same_size(input, target, "l1_loss")
    loss = E.abs(input - target)
    if weight is not None:
        return _weighted(loss, weight, input, reduction)
    return _reduce(loss, reduction)


class _ClippedLoss(Node):
    """Quadratic below ``width``, linear above, with its reduction: ``smooth_l1_loss``
    (``0.5 d**2 / width`` or ``|d| - 0.5 width``) and ``huber_loss`` (``width`` times that).

    The derivative is ``clamp(d / width, -1, 1)`` (times ``width`` for Huber): linear inside,
    the sign outside; written with ops so it differentiates again.
    """

    _bw_name = "SmoothL1LossBackward0"
    promote = True

    def forward(ctx, a, b, reduction, width, huber=False):
        ctx.saved = (a, b)
        ctx.reduction, ctx.width, ctx.huber = reduction, width, huber
        d = xp.abs(a - b)
        if huber:
            loss = xp.where(d < width, 0.5 * d * d, width * (d - 0.5 * width))
        else:
            loss = xp.where(d < width, 0.5 * d * d / width, d - 0.5 * width)
        loss = loss.astype(xp.result_type(a, b), copy=False)
        ctx.shape = loss.shape
        return _reduced_array(loss, reduction)

    def backward(ctx, g):
        a, b = ctx.saved
        w = ctx.width
        g = _spread(g, ctx.reduction, ctx.shape)
        slope = E.Clamp.apply((a - b) / w, lo=-1.0, hi=1.0)
        ga = g * (slope * w if ctx.huber else slope)
        need = ctx.needs_input_grad
        return (ga if need[0] else None), (-ga if need[1] else None)


class _HuberLoss(_ClippedLoss):
    _bw_name = "HuberLossBackward0"


def _reduced_array(loss, reduction):
    """An elementwise loss array reduced as ``reduction`` says (0-d for mean and sum)."""
    if reduction == "none":
        return loss
    return xp.asarray(loss.mean() if reduction == "mean" else loss.sum(), dtype=loss.dtype)


def _spread(g, reduction, shape):
    """The upstream gradient of a reduced loss handed back to each element."""
    from ..ops.shape import expand_
    if reduction == "none":
        return g
    n = math.prod(shape)
    return expand_(g / n if reduction == "mean" else g, shape)


def _check_reduction(reduction):
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


@_public("loss")
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Quadratic below ``beta``, linear above (Huber divided by beta); ``beta=0`` is L1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_same_size(input, target, "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0:
        return _reduce(E.abs(input - target), reduction)
    _check_reduction(reduction)
    return _ClippedLoss.apply(input, target, reduction=reduction, width=float(beta))


@_public("loss")
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5 d**2`` below ``delta``, ``delta (|d| - 0.5 delta)`` above, for ``d = input - target``."""
    _check_reduction(reduction)
    if weight is None:
        return _HuberLoss.apply(input, target, reduction=reduction, width=float(delta), huber=True)
    _check_weight(weight, input)
    return _reduce(_HuberLoss.apply(input, target, reduction="none", width=float(delta), huber=True) * weight,
                   reduction)


@_public("loss")
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of class indices: input (N, C) or (N, C, d...) of log-probabilities."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_tensors("nll_loss", input=input, target=target, weight=weight)
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    unbatched = input.ndim == 1
    if unbatched and target.ndim == 1 and target.shape[0] != 1:
        raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {target.shape[0]}")
    given = input
    if unbatched:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    if input.ndim == 2 and target.ndim != 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input.ndim == 4 and target.ndim != 3:
        raise RuntimeError("only batches of spatial targets supported (3D tensors) but got targets of "
                           f"dimension: {target.ndim}")
    if target._data.dtype.name not in ("int64", "uint8"):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {R._cap(target.dtype)}")
    if input.shape[0] != target.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({target.shape[0]}).")
    _check_target_shape(input, target)
    c = input.shape[1]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"weight tensor should be defined either for all {c} classes or no classes "
                           f"but got weight tensor of shape: {list(weight.shape)}")
    tgt = target._data.astype(xp.int64)
    valid = tgt != ignore_index
    if ((tgt[valid] < 0) | (tgt[valid] >= c)).any():
        bad = int(tgt[valid][((tgt[valid] < 0) | (tgt[valid] >= c))][0])
        raise IndexError(f"Target {bad} is out of bounds.")
    _check_reduction(reduction)
    dt = input._data.dtype
    safe = xp.where(valid, tgt, 0)
    w = xp.ones(c, dtype=dt) if weight is None else weight._data.astype(dt)
    wi = xp.where(valid, w[safe], 0).astype(dt)
    if unbatched:  # PyTorch's node takes the (C,) input itself
        return _NllLoss.apply(given, index=safe.reshape(1), wi=wi.reshape(()), reduction=reduction, dim=0)
    if input.ndim == 2:
        return _NllLoss.apply(input, index=safe[:, None], wi=wi, reduction=reduction, dim=1)
    # images (N, C, H, W) go to the 2-D kernel as they are; other ranks are viewed as 4-D
    n = input.shape[0]
    grid = input.shape[2:] if input.ndim == 4 else (input.shape[2], math.prod(input.shape[3:]))
    x = input if input.ndim == 4 else S.View.apply(input, shape=(n, c) + tuple(grid))
    loss = _NllLoss2D.apply(x, index=safe.reshape((n, 1) + tuple(grid)), wi=wi.reshape((n,) + tuple(grid)),
                            reduction=reduction, dim=1)
    if reduction == "none" and input.ndim != 4:
        return S.View.apply(loss, shape=tuple(target.shape))
    return loss


def _check_target_shape(input, target):
    """PyTorch's errors for a class-index target whose shape is not input's without dim 1
    (the caller has already checked the batch dim)."""
    expected = [input.shape[0]] + list(input.shape[2:])
    if list(target.shape) == expected:
        return
    if input.ndim == 4:
        raise RuntimeError(f"size mismatch (got input: {list(input.shape)} , target: {list(target.shape)}")
    raise RuntimeError(f"Expected target size {expected}, got {list(target.shape)}")


class _NllLoss(Node):
    """``-w[t] * x[..., t, ...]`` picked along the class dim ``dim`` of log-probabilities, then
    the reduction (mean divides by the total weight of the non-ignored targets, as PyTorch
    does). ``index`` has x's shape with 1 on ``dim``; ``wi`` the per-target weights (0 where
    ignored)."""

    _bw_name = "NllLossBackward0"

    def forward(ctx, x, index, wi, reduction, dim):
        ctx.index, ctx.wi, ctx.reduction, ctx.x_shape, ctx.dim = index, wi, reduction, x.shape, dim
        losses = -xp.take_along_axis(x, index, axis=dim).squeeze(dim) * wi
        if reduction == "none":
            return losses
        total = losses.sum()
        return xp.asarray(total / wi.sum() if reduction == "mean" else total, dtype=x.dtype)

    def backward(ctx, g):
        from ..ops.indexing import ScatterAlong
        from ..ops.shape import expand_
        if ctx.reduction == "mean":
            g = g / ctx.wi.sum()
        per = g if ctx.reduction == "none" else expand_(g, ctx.wi.shape)
        per = reshape_(per * -ctx.wi, ctx.index.shape)
        return ScatterAlong.apply(per, index=ctx.index, dim=ctx.dim, shape=ctx.x_shape)


class _NllLoss2D(_NllLoss):
    """The same for (N, C, H, W) inputs: PyTorch's spatial kernel, with its own node name."""

    _bw_name = "NllLoss2DBackward0"


@_public("loss")
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy from logits, stable for large logits (log-softmax subtracts the max).

    ``target`` holds class indices (N,) / (N, d...) or class probabilities shaped like input.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    cdim = 0 if input.ndim == 1 else 1
    logp = R.log_softmax(input, cdim)
    c = input.shape[cdim]
    if target._data.dtype.kind == "f" and tuple(target.shape) == tuple(input.shape):
        return _soft_cross_entropy(logp, target, weight, reduction, label_smoothing, cdim)
    nll = nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    if label_smoothing == 0:
        return nll
    # the smoothing term, -sum_c w_c log p_c per target, zero where the target is ignored
    lp = logp if weight is None else logp * weight.reshape([c if d == cdim else 1 for d in range(input.ndim)])
    ignored = target._data == ignore_index
    smooth = _ZeroWhere.apply(-lp.sum(cdim), mask=ignored)
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        tgt = target._data
        if weight is not None:
            denom = weight._data[xp.where(tgt == ignore_index, 0, tgt)][tgt != ignore_index].sum()
        else:
            denom = (tgt != ignore_index).sum()
        smooth = smooth.sum() / Tensor._wrap(xp.asarray(denom, dtype=input._data.dtype))
    return _Scale.apply(nll, factor=1 - label_smoothing) + _Scale.apply(smooth, factor=label_smoothing / c)


class _ZeroWhere(Node):
    """``x.masked_fill(mask, 0)`` with the mask as an attribute (PyTorch's node has one edge)."""

    _bw_name = "MaskedFillBackward0"

    def forward(ctx, x, mask):
        ctx.mask = mask
        return xp.where(mask, xp.zeros((), x.dtype), x)

    def backward(ctx, g):
        return E.Where.apply(ctx.mask, 0.0, g) if isinstance(g, Tensor) else xp.where(ctx.mask, 0.0, g)


class _Scale(Node):
    """Multiply by a number: PyTorch's node for a scalar factor inside a composite op (one edge)."""

    _bw_name = "MulBackward1"

    def forward(ctx, x, factor):
        ctx.factor = factor
        return (x * factor).astype(x.dtype, copy=False)

    def backward(ctx, g):
        return g * ctx.factor


class _DivideBy(Node):
    """Divide by a number (one edge), as PyTorch records it inside composite ops."""

    _bw_name = "DivBackward1"

    def forward(ctx, x, divisor):
        ctx.divisor = divisor
        return (x / divisor).astype(x.dtype, copy=False)

    def backward(ctx, g):
        return g / ctx.divisor


def _soft_cross_entropy(logp, target, weight, reduction, label_smoothing, cdim):
    """Cross-entropy against class probabilities ``target`` (input's shape)."""
    c = logp.shape[cdim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / c
    lp = logp
    if weight is not None:
        lp = lp * weight.reshape([c if d == cdim else 1 for d in range(logp.ndim)])
    prod = lp * target
    if reduction == "none":
        return -prod.sum(cdim)
    total = -prod.sum()
    if reduction == "sum":
        return total
    _check_reduction(reduction)
    return _DivideBy.apply(total, divisor=float(logp.shape[0] if logp.ndim > 1 else 1)
                           if logp.ndim <= 2 else float(logp.numel() // c))


def _not_differentiable(fn, **args):
    for name, t in args.items():
        if isinstance(t, Tensor) and t.requires_grad:
            raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument "
                               f"'{name}'. This input cannot have requires_grad True.")


def _const(t, dtype):
    """A weight's values as an array of the loss's dtype (None stays None)."""
    return None if t is None else t._data.astype(dtype, copy=False)


@_public("loss")
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """``-w (y log x + (1-y) log(1-x))`` with logs clamped at -100, as in PyTorch."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) "
            "is deprecated. Please ensure they have the same size.")
    d = input._data
    if d.size and (d.min() < 0 or d.max() > 1):
        raise RuntimeError("all elements of input should be between 0 and 1")
    _not_differentiable("binary_cross_entropy", weight=weight)
    _check_reduction(reduction)
    return _BinaryCrossEntropy.apply(input, target, weight=_const(weight, d.dtype), reduction=reduction)


_BCE_EPS = float(xp.float32(1e-12))


class _BinaryCrossEntropy(Node):
    """BCE with PyTorch's clamped logs (>= -100), a constant weight and the reduction, as one
    node; its gradient ``w (x - y) / max(x (1 - x), 1e-12)`` is finite at inputs of exactly 0 and 1."""

    _bw_name = "BinaryCrossEntropyBackward0"

    def forward(ctx, x, y, weight, reduction):
        ctx.saved = (x, y)
        ctx.weight, ctx.reduction = weight, reduction
        with xp.errstate(divide="ignore"):
            loss = -(y * xp.maximum(xp.log(x), -100.0) + (1 - y) * xp.maximum(xp.log(1 - x), -100.0))
        if weight is not None:
            loss = loss * weight
        loss = loss.astype(x.dtype, copy=False)
        ctx.shape = loss.shape
        return _reduced_array(loss, reduction)

    def backward(ctx, g):
        x, y = ctx.saved
        n = ctx.needs_input_grad
        g = _spread(g, ctx.reduction, ctx.shape)
        if ctx.weight is not None:
            g = g * ctx.weight
        # PyTorch's EPSILON is the float literal 1e-12f, also for double
        gx = g * (x - y) / E.Clamp.apply((1 - x) * x, lo=_BCE_EPS) if n[0] else None
        gy = None
        if len(n) > 1 and n[1]:
            with xp.errstate(divide="ignore"):
                gy = g * (E.Clamp.apply(E.Log.apply(1 - x), lo=-100.0)
                          - E.Clamp.apply(E.Log.apply(x), lo=-100.0))
        return gx, gy


@_public("loss")
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """BCE on logits without overflow: ``w ((1-y) x + (1 + (pw-1) y) softplus(-x))``, one node."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    _not_differentiable("binary_cross_entropy_with_logits", weight=weight, pos_weight=pos_weight)
    _check_reduction(reduction)
    dt = input._data.dtype
    return _BinaryCrossEntropyWithLogits.apply(input, target, weight=_const(weight, dt),
                                               pos_weight=_const(pos_weight, dt), reduction=reduction)


def _softplus_neg(x):
    """``log(1 + exp(-x))`` without overflow."""
    return xp.logaddexp(0, -x)


class _BinaryCrossEntropyWithLogits(Node):
    """``w ((1 - y) x + l softplus(-x))`` with ``l = 1 + (pw - 1) y`` (``l = 1`` without
    ``pos_weight``), then the reduction. d/dx is ``w ((1 - y) - l sigmoid(-x))``, d/dy is
    ``w ((pw - 1) softplus(-x) - x)``; both written with ops, so they differentiate again."""

    _bw_name = "BinaryCrossEntropyWithLogitsBackward0"
    promote = True

    def forward(ctx, x, y, weight, pos_weight, reduction):
        ctx.saved = (x, y)
        ctx.weight, ctx.pos_weight, ctx.reduction = weight, pos_weight, reduction
        sp = _softplus_neg(x)
        lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
        loss = (1 - y) * x + lw * sp
        if weight is not None:
            loss = loss * weight
        loss = loss.astype(xp.result_type(x, y), copy=False)
        ctx.shape = loss.shape
        return _reduced_array(loss, reduction)

    def backward(ctx, g):
        x, y = ctx.saved
        n = ctx.needs_input_grad
        pw = ctx.pos_weight
        g = _spread(g, ctx.reduction, ctx.shape)
        if ctx.weight is not None:
            g = g * ctx.weight
        gx = gy = None
        if n[0]:
            lw = 1 if pw is None else 1 + (pw - 1) * y
            gx = g * ((1 - y) - lw * E.Sigmoid.apply(-x))
        if len(n) > 1 and n[1]:
            gy = g * -x if pw is None else g * ((pw - 1) * E.Softplus.apply(-x) - x)
        return gx, gy


@_public("loss")
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise ``target * (log(target) - input)`` (``exp(t) (t - input)`` with ``log_target``)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_target:
        loss = E.exp(target) * (target - input)
    else:
        loss = _xlogy_self(target) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0]
    return _reduce(loss, reduction)


def _xlogy_self(t):
    """``t log t`` (0 where t is 0), PyTorch's first term of kl_div: a constant unless t needs grad."""
    if not t.requires_grad:
        a = t._data
        with xp.errstate(divide="ignore", invalid="ignore"):
            return Tensor._wrap(xp.where(a == 0, 0, a * xp.log(a)).astype(a.dtype, copy=False))
    try:
        from ..ops.special import xlogy
    except ImportError:  # composed where torch.special is not there
        return E.where(t == 0, t * 0, t * E.log(t))
    return xlogy(t, t)


from ._attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: E402,F401
from ._functional_spatial import (conv3d, ctc_loss, embedding_bag, fold, instance_norm,  # noqa: E402,F401
                                  interpolate, pixel_shuffle, pixel_unshuffle, unfold, upsample)

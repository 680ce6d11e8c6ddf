"""Matrix-shaped ops: tril/triu (and their index lists), diagonals (diag, diagonal,
diag_embed, diagflat, trace), cross, cdist, kron, the batched ``add*`` products (baddbmm,
addbmm, addmv, addr), and the grid builders (meshgrid, cartesian_prod, block_diag,
combinations).

A diagonal is a strided window over its matrix (``diagonal`` is a view, as in PyTorch), so
reading one, writing one (``DiagScatter``) and embedding one (``DiagEmbed``) are adjoint
to one another and each one's derivative is another of the three.
"""
from __future__ import annotations

import itertools
import warnings

from .. import backend as B
from .. import dtypes
from ..autograd.graph import Node
from ._registry import op
from ._util import check_tensor, wrap_dim
from .linalg import MatMul, check_addmm_dtypes
from .shape import Slice, UnsafeView, expand, expand_, mT_, reshape, reshape_, stack, unsqueeze_
from ..tensor import Tensor

xp = B.xp


_CAP = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
        "bool": "Bool", "float32": "Float", "float64": "Double", "float16": "Half"}


def _cap(t):
    return _CAP[t._data.dtype.name]


# =========================================================================== tril / triu
class Tril(Node):
    def forward(ctx, x, diagonal):
        ctx.k = diagonal
        return xp.tril(x, diagonal)

    def backward(ctx, g):
        return Tril.apply(g, diagonal=ctx.k)


class Triu(Node):
    def forward(ctx, x, diagonal):
        ctx.k = diagonal
        return xp.triu(x, diagonal)

    def backward(ctx, g):
        return Triu.apply(g, diagonal=ctx.k)


def _int_arg(value, fn, name, pos):
    """An int argument, or PyTorch's TypeError naming it."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{fn}(): argument '{name}' (position {pos}) must be int, not {type(value).__name__}")
    return int(value.__index__())


def _check_matrix_batch(input, name):
    check_tensor(input, name)
    if input._data.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")


@op("shape", nodes=(Tril,), inplace=True)
def tril(input, diagonal=0):
    """The lower triangle of the last two dims (``diagonal`` > 0 keeps more), zeros above."""
    _check_matrix_batch(input, "tril")
    return Tril.apply(input, diagonal=_int_arg(diagonal, "tril", "diagonal", 2))


@op("shape", nodes=(Triu,), inplace=True)
def triu(input, diagonal=0):
    """The upper triangle of the last two dims (``diagonal`` > 0 keeps less), zeros below."""
    _check_matrix_batch(input, "triu")
    return Triu.apply(input, diagonal=_int_arg(diagonal, "triu", "diagonal", 2))


def _tri_indices(row, col, offset, dtype, name, lower):
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    dt = dtypes.as_dtype(dtype)
    if dt.np.kind not in "iu":
        raise NotImplementedError(f"\"{name}\" not implemented for '{_CAP[dt.np.name]}'")
    rows, cols = (xp.tril_indices if lower else xp.triu_indices)(row, offset, col)
    return Tensor._wrap(xp.stack([rows, cols]).astype(dt.np).reshape(2, -1))


@op("other", method=False)
def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """``2 x N`` row and column indices of the lower triangle of a ``row x col`` matrix,
    row by row."""
    return _tri_indices(row, col, offset, dtype or dtypes.int64, "tril_indices", True)


@op("other", method=False)
def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """``2 x N`` row and column indices of the upper triangle of a ``row x col`` matrix."""
    return _tri_indices(row, col, offset, dtype or dtypes.int64, "triu_indices", False)


# =========================================================================== diagonals
def _diag_window(x, offset, d1, d2):
    """A writable strided view of the ``offset`` diagonal of dims ``d1``, ``d2`` of ``x``,
    as the last dim (NumPy's own ``diagonal`` is read-only)."""
    r0, c0 = (0, offset) if offset >= 0 else (-offset, 0)
    n = max(0, min(x.shape[d1] - r0, x.shape[d2] - c0))
    rest = [i for i in range(x.ndim) if i not in (d1, d2)]
    shape = tuple(x.shape[i] for i in rest) + (n,)
    if n == 0:
        return xp.empty(shape, dtype=x.dtype)
    idx = [slice(None)] * x.ndim
    idx[d1], idx[d2] = slice(r0, None), slice(c0, None)
    start = x[tuple(idx)]
    strides = tuple(x.strides[i] for i in rest) + (x.strides[d1] + x.strides[d2],)
    return xp.lib.stride_tricks.as_strided(start, shape, strides)


class Diagonal(Node):
    """The ``offset`` diagonal of dims ``dim1``, ``dim2``, appended as the last dim (a view)."""

    is_view = True

    def forward(ctx, x, offset, dim1, dim2):
        ctx.shape, ctx.opts = x.shape, (offset, dim1, dim2)
        return _diag_window(x, offset, dim1, dim2)

    def backward(ctx, g):
        o, d1, d2 = ctx.opts
        return DiagScatter.apply(g, shape=ctx.shape, offset=o, dim1=d1, dim2=d2)


class DiagCopy(Diagonal):
    """``diag`` of a matrix: the diagonal as a new tensor (PyTorch's name for it)."""

    _bw_name = "DiagonalBackward0_copy"
    is_view = False

    def forward(ctx, x, offset, dim1, dim2):
        return Diagonal.forward(ctx, x, offset, dim1, dim2).copy()


class DiagScatter(Node):
    """Zeros of ``shape`` with ``g`` written on a diagonal (the derivative of a diagonal)."""

    _bw_name = "DiagonalBackwardBackward0"

    def forward(ctx, g, shape, offset, dim1, dim2):
        ctx.opts = (offset, dim1, dim2)
        out = xp.zeros(shape, dtype=g.dtype)
        _diag_window(out, offset, dim1, dim2)[...] = g
        return out

    def backward(ctx, gg):
        o, d1, d2 = ctx.opts
        return DiagCopy.apply(gg, offset=o, dim1=d1, dim2=d2)


def _two_dims(dim1, dim2, ndim):
    d1, d2 = wrap_dim(dim1, ndim), wrap_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


@op("view", nodes=(Diagonal,))
def diagonal(input, offset=0, dim1=0, dim2=1):
    """A view of the ``offset`` diagonal of dims ``dim1``, ``dim2``, as the last dim.

    >>> tapegrad.arange(9.).reshape(3, 3).diagonal(1)
    tensor([1., 5.])
    """
    check_tensor(input, "diagonal")
    d1, d2 = _two_dims(dim1, dim2, input._data.ndim)
    return Diagonal.apply(input, offset=_int_arg(offset, "diagonal", "offset", 2), dim1=d1, dim2=d2)


class DiagEmbed(Node):
    """The last dim of ``x`` written on the ``offset`` diagonal of new dims ``dim1``, ``dim2``."""

    def forward(ctx, x, offset, dim1, dim2):
        ctx.opts = (offset, dim1, dim2)
        n = x.shape[-1] + abs(offset)
        out = xp.zeros(x.shape[:-1] + (n, n), dtype=x.dtype)
        _diag_window(out, offset, out.ndim - 2, out.ndim - 1)[...] = x
        return xp.ascontiguousarray(xp.moveaxis(out, (-2, -1), (dim1, dim2)))

    def backward(ctx, g):
        o, d1, d2 = ctx.opts
        return DiagCopy.apply(g, offset=o, dim1=d1, dim2=d2)


@op("shape", nodes=(DiagEmbed,))
def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """A tensor whose ``offset`` diagonals over dims ``dim1``, ``dim2`` hold the last dim of
    ``input`` (zeros elsewhere); its other dims are ``input``'s others."""
    check_tensor(input, "diag_embed")
    d1, d2 = _two_dims(dim1, dim2, input._data.ndim + 1)
    return DiagEmbed.apply(input, offset=_int_arg(offset, "diag_embed", "offset", 2), dim1=d1, dim2=d2)


@op("shape", nodes=(DiagEmbed, DiagCopy))
def diag(input, diagonal=0):
    """1-D: the square matrix with ``input`` on its ``diagonal``; 2-D: that diagonal."""
    check_tensor(input, "diag")
    nd = input._data.ndim
    if nd == 1:
        return DiagEmbed.apply(input, offset=_int_arg(diagonal, "diag", "diagonal", 2), dim1=0, dim2=1)
    if nd == 2:
        return DiagCopy.apply(input, offset=_int_arg(diagonal, "diag", "diagonal", 2), dim1=0, dim2=1)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {nd}D")


@op("shape", nodes=(DiagEmbed,))
def diagflat(input, offset=0):
    """The square matrix with the flattened ``input`` on its ``offset`` diagonal."""
    check_tensor(input, "diagflat")
    offset = _int_arg(offset, "diagflat", "offset", 2)
    return DiagEmbed.apply(reshape(input, -1), offset=offset, dim1=0, dim2=1)


class Trace(Node):
    def forward(ctx, x):
        ctx.shape = x.shape
        return xp.asarray(x.trace(dtype=xp.int64 if x.dtype.kind in "iu" else None))

    def backward(ctx, g):
        k = min(ctx.shape)
        return DiagScatter.apply(expand_(reshape_(g, (1,)), (k,)), shape=ctx.shape, offset=0, dim1=0, dim2=1)


@op("other", nodes=(Trace,))
def trace(input):
    """The sum of the main diagonal of a 2-D tensor (integers sum in int64).

    Kind ``other``: it reduces, but takes no ``dim`` as the reductions do."""
    check_tensor(input, "trace")
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input._data.ndim}")
    if input._data.dtype == xp.bool_:
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    return Trace.apply(input)


# =========================================================================== cross
class LinalgCross(Node):
    def forward(ctx, a, b, dim):
        ctx.dim = dim
        ctx.saved = (a, b)
        return xp.cross(a, b, axis=dim)

    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        return (LinalgCross.apply(b, g, dim=ctx.dim) if n[0] else None,
                LinalgCross.apply(g, a, dim=ctx.dim) if n[1] else None)


@op("linalg", nodes=(LinalgCross,))
def cross(input, other, dim=None):
    """The cross product of 3-vectors along ``dim`` (other dims broadcast). Without ``dim``
    the first dim of size 3 is used, with PyTorch's deprecation warning."""
    check_tensor(input, "cross")
    check_tensor(other, "cross", "other", 2)
    a, b = input._data, other._data
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected scalar type {_cap(input)} but found {_cap(other)}")
    if a.ndim != b.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease either "
                      "pass the dim explicitly or simply use torch.linalg.cross.\nThe default value "
                      "of dim will change to agree with that of linalg.cross in a future release.",
                      UserWarning, stacklevel=3)
        dim = next((i for i, s in enumerate(a.shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    d = wrap_dim(dim, a.ndim)
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. "
                           f"Got {a.shape[d]} and {b.shape[d]}")
    for i, (p, q) in enumerate(zip(a.shape, b.shape, strict=True)):
        if p != q and p != 1 and q != 1:
            raise RuntimeError(f"The size of tensor a ({p}) must match the size of tensor b ({q}) "
                               f"at non-singleton dimension {i}")
    return LinalgCross.apply(input, other, dim=d)


# =========================================================================== cdist
class Cdist(Node):
    """p-norm distances between the rows of ``x1`` (..., P, M) and of ``x2`` (..., R, M).

    ``use_mm``: p=2 through ``|a|^2 + |b|^2 - 2 a.b`` (one matmul, no (P, R, M) array of
    differences), as PyTorch computes it when either side has more than 25 rows."""

    def forward(ctx, x1, x2, p, use_mm=False):
        ctx.p = p
        if use_mm:
            sq = ((x1 * x1).sum(-1)[..., :, None] + (x2 * x2).sum(-1)[..., None, :]
                  - 2 * xp.matmul(x1, xp.swapaxes(x2, -1, -2)))
            out = xp.sqrt(xp.maximum(sq, 0))
            ctx.saved = (x1, x2, out)
            return out
        diff = xp.abs(x1[..., :, None, :] - x2[..., None, :, :])
        if p == 0:
            out = (diff != 0).sum(-1).astype(x1.dtype)
        elif p == 1:
            out = diff.sum(-1)
        elif p == 2:
            out = xp.sqrt((diff * diff).sum(-1))
        elif p == float("inf"):
            out = diff.max(-1) if diff.shape[-1] else xp.zeros(diff.shape[:-1], x1.dtype)
        else:
            out = (diff ** p).sum(-1) ** (1.0 / p)
        out = xp.asarray(out, dtype=x1.dtype)
        ctx.saved = (x1, x2, out)
        return out

    def backward(ctx, g):
        x1, x2, d = ctx.saved
        raw = not isinstance(g, Tensor)
        if raw:  # the formula is written once, on tensors; an ordinary backward records nothing
            x1, x2, d, g = (Tensor._wrap(xp.asarray(a)) for a in (x1, x2, d, g))
        n = ctx.needs_input_grad
        if ctx.p == 2:
            g1, g2 = _euclid_grads(x1, x2, d, g, n)
        else:
            w = _cdist_weight(x1.unsqueeze(-2) - x2.unsqueeze(-3), d.unsqueeze(-1), ctx.p) * g.unsqueeze(-1)
            g1 = w.sum(-2) if n[0] else None
            g2 = -w.sum(-3) if n[1] else None
        if raw:
            g1, g2 = (None if t is None else t._data for t in (g1, g2))
        return g1, g2


def _euclid_grads(x1, x2, d, g, n):
    """The p=2 derivative with matmuls only: with ``w = g / d`` (0 where d = 0),
    ``g1_i = x1_i sum_j w_ij - sum_j w_ij x2_j`` and symmetrically for ``x2``."""
    from .elementwise import where
    zero = d == 0
    w = where(zero, 0.0, g / where(zero, 1.0, d))
    g1 = x1 * w.sum(-1, keepdim=True) - w @ x2 if n[0] else None
    g2 = x2 * w.sum(-2).unsqueeze(-1) - w.mT @ x1 if n[1] else None
    return g1, g2


def _cdist_weight(diff, d, p):
    """d dist / d diff for each coordinate; 0 where the distance (or, for p < 1, the
    coordinate difference) is 0, as PyTorch defines it."""
    from .elementwise import where
    zero = d == 0
    if p == 0:
        return diff * 0
    if p == 1:
        return diff.sign()
    safe_d = where(zero, 1.0, d)
    if p == 2:
        return where(zero, 0.0, diff / safe_d)
    if p == float("inf"):
        return where(zero, 0.0, diff.sign() * (diff.abs() == d).to(diff.dtype))
    a = diff.abs()
    flat = a == 0
    ratio = where(flat, 0.0, where(flat, 1.0, a) / safe_d) ** (p - 1)
    return where(zero | flat, 0.0, diff.sign() * ratio)


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                "donot_use_mm_for_euclid_dist")


@op("other", method=False, nodes=(Cdist,))
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """``out[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p`` for ``x1`` (..., P, M) and
    ``x2`` (..., R, M); batch dims broadcast. For p=2, ``compute_mode`` picks PyTorch's
    way: through one matmul when either side has more than 25 rows (by default) or always
    (``'use_mm_for_euclid_dist'``), else from the differences (exact at zero distance)."""
    check_tensor(x1, "cdist", "x1")
    check_tensor(x2, "cdist", "x2", 2)
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    for name, t in (("X1", x1), ("X2", x2)):
        if t._data.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {t._data.ndim}D")
    for name, t in (("X1", x1), ("X2", x2)):
        if t._data.dtype.kind != "f":
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: {_cap(t)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} "
                           f"X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    b1, b2 = x1.shape[:-2], x2.shape[:-2]
    for i, (s, t) in enumerate(zip(b1[::-1], b2[::-1], strict=False)):
        if s != t and s != 1 and t != 1:
            k = max(len(b1), len(b2)) - 1 - i
            raise RuntimeError(f"The size of tensor a ({s}) must match the size of tensor b ({t}) "
                               f"at non-singleton dimension {k}")
    p = float(p)
    mm = p == 2 and (compute_mode == "use_mm_for_euclid_dist" or compute_mode == _CDIST_MODES[0]
                     and (x1.shape[-2] > 25 or x2.shape[-2] > 25))
    return Cdist.apply(x1, x2, p=p, use_mm=mm)


# =========================================================================== kron
@op("linalg", nodes=(UnsafeView,))
def kron(input, other):
    """The Kronecker product: blocks ``input[i, j] * other`` (any ranks; the shorter shape
    is padded with leading 1s)."""
    check_tensor(input, "kron")
    check_tensor(other, "kron", "other", 2)
    n = max(input.ndim, other.ndim)
    sa = (1,) * (n - input.ndim) + tuple(input.shape)
    sb = (1,) * (n - other.ndim) + tuple(other.shape)
    # interleave: a as (a0, 1, a1, 1, ...), b as (1, b0, 1, b1, ...); the product's pairs
    # of dims then merge into a0*b0, a1*b1, ...
    prod = reshape(input, [v for s in sa for v in (s, 1)]) * reshape(other, [v for s in sb for v in (1, s)])
    return UnsafeView.apply(prod, shape=tuple(x * y for x, y in zip(sa, sb, strict=True)))


# =========================================================================== baddbmm & co
class _AddProduct(Node):
    """``beta * input + alpha * product(a, b)``; ``beta == 0`` ignores ``input`` (NaN too)."""

    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        gs = g * ctx.alpha if ctx.alpha != 1 else g
        ga, gb = ctx._grads(a, b, gs, n)
        return (g * ctx.beta if n[0] else None), ga, gb


def _add_product(ctx, inp, prod, a, b, beta, alpha):
    """The forward of every ``_AddProduct`` (``prod`` computed by the caller)."""
    if prod.dtype.kind in "iu":  # integer tensors truncate the scalars, as in PyTorch
        beta, alpha = int(beta), int(alpha)
    ctx.beta, ctx.alpha = beta, alpha
    ctx.saved = (a, b)
    if alpha != 1:
        prod = prod * alpha
    out = prod if beta == 0 else prod + (inp if beta == 1 else inp * beta)
    return xp.asarray(xp.broadcast_to(out, prod.shape).astype(prod.dtype, copy=False))


class Baddbmm(_AddProduct):
    def forward(ctx, inp, a, b, beta, alpha):
        return _add_product(ctx, inp, xp.matmul(a, b), a, b, beta, alpha)

    @staticmethod
    def _grads(a, b, g, n):
        return (MatMul.apply(g, mT_(b)) if n[1] else None), (MatMul.apply(mT_(a), g) if n[2] else None)


class Addbmm(_AddProduct):
    def forward(ctx, inp, a, b, beta, alpha):
        return _add_product(ctx, inp, xp.matmul(a, b).sum(0), a, b, beta, alpha)

    @staticmethod
    def _grads(a, b, g, n):
        g3 = unsqueeze_(g, 0)
        return (MatMul.apply(g3, mT_(b)) if n[1] else None), (MatMul.apply(mT_(a), g3) if n[2] else None)


class Addmv(_AddProduct):
    def forward(ctx, inp, a, b, beta, alpha):
        return _add_product(ctx, inp, xp.matmul(a, b), a, b, beta, alpha)

    @staticmethod
    def _grads(a, b, g, n):
        return ((MatMul.apply(unsqueeze_(g, -1), unsqueeze_(b, 0)) if n[1] else None),
                (MatMul.apply(mT_(a), g) if n[2] else None))


class Addr(_AddProduct):
    def forward(ctx, inp, a, b, beta, alpha):
        return _add_product(ctx, inp, a[:, None] * b[None, :], a, b, beta, alpha)

    @staticmethod
    def _grads(a, b, g, n):
        return (MatMul.apply(g, b) if n[1] else None), (MatMul.apply(mT_(g), a) if n[2] else None)


def _expand_check(input, shape):
    """PyTorch's expand error when ``input`` does not broadcast to the product's shape
    (the last mismatching dim is named, counting dims from the end)."""
    have = tuple(input.shape)
    for k in range(1, len(shape) + 1):
        if k > len(have):
            break
        if have[-k] != shape[-k] and have[-k] != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({shape[-k]}) must match the existing size "
                f"({have[-k]}) at non-singleton dimension {len(shape) - k}.  Target sizes: "
                f"{list(shape)}.  Tensor sizes: {list(have)}")
    if len(have) > len(shape):
        expand(input.detach(), shape)


def _bmm_checks(b1, b2, name):
    for t in (b1, b2):
        if t._data.ndim < 3:
            # (PyTorch reads size(2) of the batch before checking its rank)
            wrap_dim(2, t._data.ndim)
    if b1.ndim != 3 or b2.ndim != 3:
        raise RuntimeError(f"batch{1 if b1.ndim != 3 else 2} must be a 3D tensor")
    if name == "addbmm" and (b1.shape[0] != b2.shape[0] or b1.shape[2] != b2.shape[1]):
        raise RuntimeError(f"Incompatible matrix sizes for bmm ({b1.shape[1]}x{b1.shape[2]} and "
                           f"{b2.shape[1]}x{b2.shape[2]})")
    if b2.shape[0] != b1.shape[0] or b2.shape[1] != b1.shape[2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{b1.shape[0]}, {b1.shape[2]}] but got: [{b2.shape[0]}, {b2.shape[1]}].")


@op("linalg", nodes=(Baddbmm,), inplace=True)
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * (batch1 @ batch2)`` for batches of matrices (b, n, m) and
    (b, m, p); ``input`` broadcasts to (b, n, p)."""
    for nm, t, pos in (("input", input, 1), ("batch1", batch1, 2), ("batch2", batch2, 3)):
        check_tensor(t, "baddbmm", nm, pos)
    _bmm_checks(batch1, batch2, "baddbmm")
    if not input.dtype == batch1.dtype == batch2.dtype:
        low = {"float32": "float", "float64": "double", "int64": "long int"}
        raise RuntimeError("Input dtypes must be the same, got: " + ", ".join(
            f"{nm}{':' if nm != 'input' else ''} {low.get(t._data.dtype.name, t._data.dtype.name)}"
            for nm, t in (("input", input), ("batch1", batch1), ("batch2", batch2))))
    _expand_check(input, (batch1.shape[0], batch1.shape[1], batch2.shape[2]))
    return Baddbmm.apply(input, batch1, batch2, beta=beta, alpha=alpha)


@op("linalg", nodes=(Addbmm,), inplace=True)
def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * sum_b(batch1[b] @ batch2[b])``: an (n, p) result."""
    for nm, t, pos in (("input", input, 1), ("batch1", batch1, 2), ("batch2", batch2, 3)):
        check_tensor(t, "addbmm", nm, pos)
    _bmm_checks(batch1, batch2, "addbmm")
    check_addmm_dtypes(input, batch1, batch2)
    _expand_check(input, (batch1.shape[1], batch2.shape[2]))
    return Addbmm.apply(input, batch1, batch2, beta=beta, alpha=alpha)


@op("linalg", nodes=(Addmv,), inplace=True)
def addmv(input, mat, vec, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat @ vec)`` for a matrix (n, m) and a vector (m,)."""
    for nm, t, pos in (("input", input, 1), ("mat", mat, 2), ("vec", vec, 3)):
        check_tensor(t, "addmv", nm, pos)
    if mat.ndim != 2 or vec.ndim != 1 or input.ndim > 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {mat.ndim}, {vec.ndim}")
    if not input.dtype == mat.dtype == vec.dtype:
        raise RuntimeError(f"addmv input tensors must have the same dtype, but got {_cap(input)}, "
                           f"{_cap(mat)}, and {_cap(vec)}")
    if mat.shape[1] != vec.shape[0] or input.numel() not in (1, mat.shape[0]):
        raise RuntimeError(f"size mismatch, got input ({input.shape[0] if input.ndim else 1}), "
                           f"mat ({mat.shape[0]}x{mat.shape[1]}), vec ({vec.shape[0]})")
    return Addmv.apply(input, mat, vec, beta=beta, alpha=alpha)


@op("linalg", nodes=(Addr,), inplace=True)
def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """``beta * input + alpha * outer(vec1, vec2)``; mixed dtypes promote, as in PyTorch."""
    for nm, t, pos in (("input", input, 1), ("vec1", vec1, 2), ("vec2", vec2, 3)):
        check_tensor(t, "addr", nm, pos)
    for nm, t in (("vec1", vec1), ("vec2", vec2)):
        if t.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {nm}, but got {t.ndim}-D")
    _expand_check(input, (vec1.shape[0], vec2.shape[0]))
    res = dtypes.result_type(input, vec1, vec2)
    input, vec1, vec2 = (t if t.dtype == res else t.to(res) for t in (input, vec1, vec2))
    return Addr.apply(input, vec1, vec2, beta=beta, alpha=alpha)


# =========================================================================== grids
@op("shape", method=False)
def meshgrid(*tensors, indexing=None):
    """Coordinate grids of 0-d or 1-D tensors: output ``i`` repeats ``tensors[i]`` along its
    own dim (``indexing='xy'`` swaps the first two dims). Each output is an expanded view.
    Without ``indexing`` it warns and uses ``'ij'``, as PyTorch does."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=3)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        check_tensor(t, "meshgrid", "tensors")
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
    if len({t.dtype for t in tensors}) > 1:
        raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    sizes = [t.numel() for t in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        order[0], order[1] = 1, 0
    shape = tuple(sizes[i] for i in order)
    out = []
    for k, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[order.index(k)] = -1
        out.append(expand(reshape(t, view), shape))
    return tuple(out)


@op("shape", method=False)
def cartesian_prod(*tensors):
    """All tuples of one element from each 1-D tensor, as rows ((N1*N2*..., k) tensor);
    a single tensor is returned as it is."""
    for t in tensors:
        check_tensor(t, "cartesian_prod", "tensors")
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, -1) for g in grids], 1)


class BlockDiag(Node):
    promote = True

    def forward(ctx, *xs):
        mats = [x.reshape(1, -1) if x.ndim < 2 else x for x in xs]
        out = xp.zeros((sum(m.shape[0] for m in mats), sum(m.shape[1] for m in mats)),
                       dtype=mats[0].dtype)
        spans = []
        r = c = 0
        for m in mats:
            spans.append((slice(r, r + m.shape[0]), slice(c, c + m.shape[1])))
            out[spans[-1]] = m
            r, c = r + m.shape[0], c + m.shape[1]
        ctx.shapes, ctx.spans = [x.shape for x in xs], spans
        return out

    def backward(ctx, g):
        return tuple(reshape_(Slice.apply(g, index=span), shape)
                     for span, shape in zip(ctx.spans, ctx.shapes, strict=True))


@op("shape", method=False, nodes=(BlockDiag,))
def block_diag(*tensors):
    """The block-diagonal matrix of the given 0-, 1- or 2-D tensors (a 0-d or 1-D tensor is
    one row); dtypes promote."""
    for i, t in enumerate(tensors):
        check_tensor(t, "block_diag", "tensors")
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                               f"Input {i} has {t.ndim} dimensions")
    if not tensors:
        return Tensor._wrap(xp.zeros((1, 0), dtype=dtypes.get_default_dtype().np))
    return BlockDiag.apply(*tensors)


@op("shape", method=False)
def combinations(input, r=2, with_replacement=False):
    """Length-``r`` combinations of the elements of a 1-D tensor, one per row, in
    lexicographic order of positions (``itertools.combinations``)."""
    from .indexing import index_select
    check_tensor(input, "combinations")
    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    r = _int_arg(r, "combinations", "r", 2)
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return Tensor._wrap(xp.zeros((0,), dtype=input._data.dtype))
    make = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    n = input.shape[0]
    idx = xp.fromiter(itertools.chain.from_iterable(make(range(n), r)), dtype=xp.int64).reshape(-1, r)
    return stack([index_select(input, 0, Tensor._wrap(xp.ascontiguousarray(idx[:, j]))) for j in range(r)], 1)

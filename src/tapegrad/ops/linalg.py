"""Linear algebra: matmul (and its mm/mv/dot/bmm spellings), outer, einsum.

``matmul`` follows PyTorch (and NumPy): 1-D operands gain and then lose a
dimension, leading batch dimensions broadcast. Its derivative is two more
matmuls; the engine sums batch-broadcast gradients back to each input.
"""

from __future__ import annotations

from .. import backend as B

from ..autograd.graph import Node

from ._registry import op

from ._util import check_tensor

from .shape import mT_, squeeze_, unsqueeze_

from ..tensor import Tensor

xp = B.xp


class MatMul(Node):
    _bw_name = "UnsafeViewBackward0"
    promote = True

    def forward(ctx, a, b):
        n = ctx.needs_input_grad
        if n:
            ctx.saved = (a if n[1] else None, b if n[0] else None)
            ctx.nd = (a.ndim, b.ndim)
            ctx.rhs_t = n[1] and _transposed(b)
        return xp.matmul(a, b)

    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.nd
        n = ctx.needs_input_grad
        ga = gb = None
        if na == 1 and nb == 1:
            return (g * b if n[0] else None), (g * a if n[1] else None)
        if na == 1:
            # a: (k,), b: (..., k, m), g: (..., m)
            if n[0]:
                ga = squeeze_(_mm(unsqueeze_(g, -2), mT_(b)), -2)
            if n[1]:
                gb = _mm(unsqueeze_(a, -1), unsqueeze_(g, -2))
            return ga, gb
        if nb == 1:
            # a: (..., n, k), b: (k,), g: (..., n)
            if n[0]:
                ga = _mm(unsqueeze_(g, -1), unsqueeze_(b, -2))
            if n[1]:
                gb = squeeze_(_mm(mT_(a), unsqueeze_(g, -1)), -1)
            return ga, gb
        if n[0]:
            ga = _mm(g, mT_(b))
        if n[1]:
            gb = _rhs_grad(a, g, ctx.rhs_t)
        return ga, gb


class Mm(MatMul):
    _bw_name = "MmBackward0"


class Mv(MatMul):
    _bw_name = "MvBackward0"


class Dot(MatMul):
    _bw_name = "DotBackward0"


class Bmm(MatMul):
    _bw_name = "BmmBackward0"


@op("linalg", nodes=(Bmm,))
def bmm(input, mat2):
    """Batched matrix product: ``(b, n, m) @ (b, m, p) -> (b, n, p)``, no broadcasting."""
    check_tensor(input, "bmm")
    check_tensor(mat2, "bmm", "mat2", 2)
    if input.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{input.shape[0]}, {input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}].")
    err = _dtype_error(input, mat2)
    if err is not None:
        raise err
    return Bmm.apply(input, mat2)


def _mm(a, b):
    return MatMul.apply(a, b)


def _transposed(b):
    """True for a 2-D array that is a transposed view of a C-contiguous one (``weight.t()``)."""
    return b.ndim == 2 and b.flags.f_contiguous and not b.flags.c_contiguous


def _rhs_grad(a, g, rhs_transposed):
    """``a^T @ g``, the gradient of ``b`` in ``a @ b``, laid out like ``b``.

    When ``b`` was a transposed view (a Linear layer's ``weight.t()``), the product is computed
    transposed, so the gradient that reaches the weight through ``TBackward0`` is C-contiguous
    like the weight: the optimizer's updates then run over contiguous memory, and no strided
    copy is needed where the gradient is stored.
    """
    if rhs_transposed:
        return mT_(_mm(mT_(g), a))
    return _mm(mT_(a), g)


def _cpp(t):
    from ..tensor import _CPP_NAMES
    return _CPP_NAMES.get(t._data.dtype.name, t._data.dtype.name)


def _dtype_error(a, b):
    """PyTorch's error for ``matmul`` operands of two dtypes (it never promotes), or None.

    The wording depends on the kernel torch dispatches to, so it follows the ndims:
    dot for 1-D @ 1-D, addmv for a vector on the right, mm for a matrix on the right,
    bmm for a batch on the right.
    """
    da, db = a._data.dtype, b._data.dtype
    if da == db:
        return None
    na, nb = a._data.ndim, b._data.ndim
    if na == 1 and nb == 1:
        return RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                            f"{_cap(a.dtype)} and {_cap(b.dtype)}")
    if nb == 1:
        return RuntimeError(f"addmv input tensors must have the same dtype, but got "
                            f"{_cap(b.dtype)}, {_cap(a.dtype)}, and {_cap(b.dtype)}")
    if nb == 2:
        return RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {_cpp(a)} != {_cpp(b)}")
    return RuntimeError(f"expected scalar type {_cap(a.dtype)} but found {_cap(b.dtype)}")


class VecMat(MatMul):
    """1-D @ 2-D: PyTorch computes ``a.unsqueeze(0).mm(b).squeeze(0)``."""

    _bw_name = "SqueezeBackward4"


def _shape_error(a, b):
    """PyTorch's error for operands whose shapes ``matmul`` cannot multiply, or None.

    Mirrors how torch.matmul dispatches: dot, mv, mm, a folded mm/mv for an N-D first
    operand and a 1-D/2-D second one, else a batch broadcast followed by bmm.
    """
    sa, sb = tuple(a.shape), tuple(b.shape)
    na, nb = len(sa), len(sb)
    ka, kb = sa[-1], (sb[-2] if nb > 1 else sb[0])
    if na >= 3 and nb <= 2:  # folded: (prod(leading), k) @ b
        sa, na = (B.xp.prod(sa[:-1], dtype=int).item(), ka), 2
    if na <= 2 and nb <= 2:
        if ka == kb:
            return None
        if na == 1 and nb == 1:
            return RuntimeError(
                f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] to have the "
                f"same number of elements, but got {sa[0]} and {sb[0]} elements respectively")
        if nb == 1:
            return RuntimeError(f"size mismatch, got input ({sa[0]}), mat ({sa[0]}x{sa[1]}), vec ({sb[0]})")
        if na == 1:
            sa = (1, sa[0])
        return RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({sa[0]}x{sa[1]} and {sb[0]}x{sb[1]})")
    err = B.broadcast_error([sa[:-2], sb[:-2]])
    if err is not None:
        return err
    if ka == kb:
        return None
    n = 1
    for s in B.xp.broadcast_shapes(sa[:-2], sb[:-2]):
        n *= s
    return RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{n}, {ka}] "
                        f"but got: [{n}, {kb}].")


@op("linalg", nodes=(MatMul, Mm, Mv, Dot, VecMat))
def matmul(input, other):
    """Matrix product with PyTorch's rules for 1-D and batched (broadcast) operands.

    >>> (tapegrad.ones(4, 2, 3) @ tapegrad.ones(3, 5)).shape
    torch.Size([4, 2, 5])
    """
    check_tensor(input, "matmul")
    check_tensor(other, "matmul", "other", 2)
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D")
    err = _shape_error(a, b) or _dtype_error(input, other)
    if err is not None:
        raise err
    if a.ndim == 2 and b.ndim == 2:
        return Mm.apply(input, other)
    if a.ndim == 1 and b.ndim == 1:
        return Dot.apply(input, other)
    if a.ndim == 2 and b.ndim == 1:
        return Mv.apply(input, other)
    if a.ndim == 1 and b.ndim == 2:
        return VecMat.apply(input, other)
    # (a batched matmul of 3-D operands is UnsafeViewBackward0 in PyTorch, not BmmBackward0)
    return MatMul.apply(input, other)


@op("linalg")
def mm(input, mat2):
    """Matrix product of two 2-D tensors: ``(n, m) @ (m, p) -> (n, p)``."""
    check_tensor(input, "mm")
    check_tensor(mat2, "mm", "mat2", 2)
    if input.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    return matmul(input, mat2)


def _cap(d):
    from .reduction import _cap as cap
    return cap(d)


@op("linalg")
def mv(input, vec):
    """Matrix-vector product: ``(n, m) @ (m,) -> (n,)``."""
    check_tensor(input, "mv")
    check_tensor(vec, "mv", "vec", 2)
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    return matmul(input, vec)


@op("linalg", aliases=("vdot", "inner"))
def dot(input, other):
    """The inner product of two 1-D tensors of the same length (a 0-D tensor)."""
    check_tensor(input, "dot")
    check_tensor(other, "dot", "tensor", 2)
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(
            f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.dtype != other.dtype:
        raise RuntimeError(
            f"dot : expected both vectors to have same dtype, but found {_cap(input.dtype)} "
            f"and {_cap(other.dtype)}")
    return matmul(input, other)


@op("linalg", aliases=("ger",))
def outer(input, vec2):
    """``input[:, None] * vec2[None, :]``."""
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


class Addmm(Node):
    """``beta * c + alpha * (a @ b)`` as one node whose edges are (c, a, b), PyTorch's order
    (so a ``Linear`` layer's bias is the first edge of its ``AddmmBackward0``). ``c``
    broadcasts to the product's shape; the engine sums its gradient back."""

    def forward(ctx, c, a, b, beta=1, alpha=1):
        n = ctx.needs_input_grad
        if n:
            ctx.saved = (a if n[2] else None, b if n[1] else None)
            ctx.rhs_t = n[2] and _transposed(b)
        ctx.beta, ctx.alpha = beta, alpha
        out = xp.matmul(a, b)
        if alpha != 1:
            out *= alpha
        if beta == 0:  # PyTorch ignores input then: its nan and inf do not propagate
            return xp.broadcast_to(out, xp.broadcast_shapes(out.shape, c.shape)).copy()
        out += c if beta == 1 else beta * c
        return out

    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        beta, alpha = ctx.beta, ctx.alpha
        gc = (g if beta == 1 else g * beta) if n[0] else None
        ga = gb = None
        if n[1]:
            ga = _mm(g, mT_(b))
            ga = ga if alpha == 1 else ga * alpha
        if n[2]:
            gb = _rhs_grad(a, g, ctx.rhs_t)
            gb = gb if alpha == 1 else gb * alpha
        return gc, ga, gb


@op("linalg", nodes=(Addmm,))
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``; the three must share one dtype."""
    for name, t, pos in (("input", input, 1), ("mat1", mat1, 2), ("mat2", mat2, 3)):
        check_tensor(t, "addmm", name, pos)
    check_addmm_dtypes(input, mat1, mat2)
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"{'mat1' if mat1.ndim != 2 else 'mat2'} must be a matrix, got "
                           f"{mat1.ndim if mat1.ndim != 2 else mat2.ndim}-D tensor")
    err = _shape_error(mat1._data, mat2._data)
    if err is not None:
        raise err
    _check_expands(input, (mat1.shape[0], mat2.shape[1]))
    return Addmm.apply(input, mat1, mat2, beta=beta, alpha=alpha)


def _check_expands(input, shape):
    """PyTorch's errors when addmm's ``input`` does not broadcast to the product's ``shape``."""
    have = tuple(input.shape)
    if len(have) > len(shape):
        raise RuntimeError(f"expand(torch.{input.type()[6:]}{{{list(have)}}}, size={list(shape)}): the "
                           f"number of sizes provided ({len(shape)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({len(have)})")
    for i in range(len(shape) - 1, len(shape) - len(have) - 1, -1):
        h = have[i - len(shape) + len(have)]
        if h != 1 and h != shape[i]:
            raise RuntimeError(f"The expanded size of the tensor ({shape[i]}) must match the existing size "
                               f"({h}) at non-singleton dimension {i}.  Target sizes: {list(shape)}.  "
                               f"Tensor sizes: {list(have)}")


def check_addmm_dtypes(input, mat1, mat2):
    """PyTorch's dtype errors of addmm (also what ``linear`` with a bias reports)."""
    if input._data.dtype != mat2._data.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {_cap(input.dtype)} "
                           f"and {_cap(mat2.dtype)}")
    if mat1._data.dtype != mat2._data.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_cap(mat1.dtype)} "
                           f"and {_cap(mat2.dtype)}")


# =========================================================================== einsum
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _undiagonal(gi, su, s, size, all_subs):
    """Place ``gi`` (subscripts ``su``) on the diagonals of an operand with repeated letters
    ``s``: each repeat gets a fresh letter tied to the first by an identity matrix."""
    used = set("".join(all_subs))
    free = [c for c in _LETTERS if c not in used]
    dt = (gi._data if isinstance(gi, Tensor) else gi).dtype
    seen, renamed, eye_subs, eyes = set(), [], [], []
    for c in s:
        if c in seen:
            c2 = free.pop(0)
            renamed.append(c2)
            eye_subs.append(c + c2)
            eyes.append(xp.eye(size[c], dtype=dt))
        else:
            seen.add(c)
            renamed.append(c)
    return Einsum.apply(gi, *eyes, subs=[su] + eye_subs, out="".join(renamed))


class Einsum(Node):
    def forward(ctx, *ops, subs, out):
        ctx.subs, ctx.out = subs, out
        ctx.shapes = [o.shape for o in ops]
        ctx.saved = ops
        return xp.asarray(xp.einsum(",".join(subs) + "->" + out, *ops, optimize=len(ops) > 2))

    def backward(ctx, g):
        ops = ctx.saved
        grads = []
        # one subscript per operand, each as long as its operand's ndim (forward's einsum checked)
        for i, (s, shp) in enumerate(zip(ctx.subs, ctx.shapes, strict=True)):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            size = dict(zip(s, shp, strict=True))
            su = "".join(dict.fromkeys(s))  # the letters once each ('ii' -> 'i': a diagonal)
            others = [(ctx.subs[j], ops[j]) for j in range(len(ops)) if j != i]
            present = set(ctx.out) | set(c for sj, _ in others for c in sj)
            target = "".join(c for c in su if c in present)
            eq_subs = [ctx.out] + [sj for sj, _ in others]
            gi = Einsum.apply(g, *[o for _, o in others], subs=eq_subs, out=target)
            if target != su:
                # letters only in this operand were summed out: broadcast back over them
                from .shape import expand_, reshape_
                kshape = [size[c] if c in present else 1 for c in su]
                gi = expand_(reshape_(gi, kshape), [size[c] for c in su])
            if su != s:
                gi = _undiagonal(gi, su, s, size, ctx.subs + [ctx.out])
            grads.append(gi)
        return tuple(grads)


def _parse_einsum(eq, shapes):
    """Expand '...' and make the output explicit: returns (input_subs, output_sub)."""
    eq = eq.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs, rhs = eq, None
    subs = lhs.split(",")
    if len(subs) != len(shapes):
        raise RuntimeError(
            "einsum(): more operands were provided than specified in the equation"
            if len(shapes) > len(subs) else
            "einsum(): fewer operands were provided than specified in the equation")
    used = set(c for c in eq if c.isalpha())
    free = [c for c in _LETTERS if c not in used]
    max_ell = 0
    for s, shp in zip(subs, shapes, strict=True):  # lengths checked above
        if "..." in s:
            max_ell = max(max_ell, len(shp) - (len(s) - 3))
    ell = "".join(free[:max_ell])
    out_subs = []
    for s, shp in zip(subs, shapes, strict=True):  # lengths checked above
        if "..." in s:
            n = len(shp) - (len(s) - 3)
            s = s.replace("...", ell[max_ell - n:] if n else "")
        if len(s) != len(shp):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(s)}) does not match the "
                f"number of dimensions ({len(shp)}) for operand {len(out_subs)}"
                + ("" if "..." in lhs else " and no ellipsis was given"))
        out_subs.append(s)
    if rhs is None:
        counts = {}
        for s in out_subs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        rhs = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    else:
        rhs = rhs.replace("...", ell)
    return out_subs, rhs


@op("linalg", method=False, nodes=(Einsum,))
def einsum(equation, *operands):
    """Einstein summation, e.g. ``einsum('bij,bjk->bik', a, b)``; differentiable in every operand."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for i, o in enumerate(operands):
        check_tensor(o, "einsum", f"operands[{i}]")
    subs, out = _parse_einsum(equation, [o.shape for o in operands])
    return Einsum.apply(*operands, subs=subs, out=out)


@op("linalg", method=False)
def tensordot(a, b, dims=2):
    """Contraction of ``a`` and ``b`` over ``dims`` (a count of trailing/leading dims, or two lists)."""
    if isinstance(dims, int):
        da = list(range(a.ndim - dims, a.ndim))
        db = list(range(dims))
    else:
        da, db = [list(d) if isinstance(d, (list, tuple)) else [d] for d in dims]
    la = _LETTERS[:a.ndim]
    if len(da) != len(db):
        raise RuntimeError("both dimension lists should have same length")
    lb = list(_LETTERS[a.ndim:a.ndim + b.ndim])
    for x, y in zip(da, db, strict=True):
        lb[y] = la[x]
    lb = "".join(lb)
    out = ("".join(c for i, c in enumerate(la) if i not in da)
           + "".join(c for i, c in enumerate(lb) if i not in db))
    return einsum(f"{la},{lb}->{out}", a, b)

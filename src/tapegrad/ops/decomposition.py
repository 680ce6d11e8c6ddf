"""Matrix decompositions and the linear algebra built on them: inv, det, solve, cholesky,
qr, svd, eigh, pinv, lstsq, cross, solve_triangular (``tapegrad.linalg`` and torch's
top-level spellings ``det``, ``inverse``, ``svd``...).

Every op works on the last two dims, with any leading batch dims. Forwards call
``numpy.linalg`` (batched). Backwards are the matrix-calculus results, written with
``MatMul.apply``, the dual-mode shape helpers and these nodes' own ``apply``, so they run
on arrays in a first backward and record a graph under ``create_graph`` (double backward,
forward mode). Where a derivative needs a factor that is neither an input nor an output
(svdvals needs U and V), the backward recomputes it from the input with the recording
node, so that it too is differentiated.

Exactly singular or indefinite input raises :class:`LinAlgError` with torch's wording,
which names the batch element and the failed pivot as LAPACK reports them.
"""
from __future__ import annotations

import collections
import numbers

from .. import backend as B
from ..autograd.graph import Node
from ..tensor import Tensor
from ._registry import op
from ._util import check_tensor, reduce_dims
from .linalg import MatMul
from .reduction import Norm, SumDim, _cap
from .shape import Cat, Slice, mT_, squeeze_, unsqueeze_

xp = B.xp
_broadcast_error = B.broadcast_error  # (``B`` is also the name of solve's right-hand side)


class LinAlgError(RuntimeError):
    """Raised for singular or non-positive-definite input (``torch.linalg.LinAlgError``)."""


# =========================================================================== return types
def _return_type(name, fields):
    from .reduction import _return_type_repr
    cls = collections.namedtuple(name, fields)
    cls.__qualname__ = "torch.return_types." + name
    cls.__module__ = "torch.return_types"
    cls.__repr__ = _return_type_repr
    return cls


class return_types:
    """Named tuples of the linalg ops, printed as ``torch.return_types.<name>``."""

    linalg_slogdet = _return_type("linalg_slogdet", ["sign", "logabsdet"])
    slogdet = _return_type("slogdet", ["sign", "logabsdet"])
    linalg_qr = _return_type("linalg_qr", ["Q", "R"])
    qr = _return_type("qr", ["Q", "R"])
    linalg_svd = _return_type("linalg_svd", ["U", "S", "Vh"])
    svd = _return_type("svd", ["U", "S", "V"])
    linalg_eigh = _return_type("linalg_eigh", ["eigenvalues", "eigenvectors"])
    linalg_lstsq = _return_type("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])
    linalg_inv_ex = _return_type("linalg_inv_ex", ["inverse", "info"])
    linalg_cholesky_ex = _return_type("linalg_cholesky_ex", ["L", "info"])
    linalg_solve_ex = _return_type("linalg_solve_ex", ["result", "info"])
    linalg_lu = _return_type("linalg_lu", ["P", "L", "U"])
    linalg_lu_factor = _return_type("linalg_lu_factor", ["LU", "pivots"])
    linalg_lu_factor_ex = _return_type("linalg_lu_factor_ex", ["LU", "pivots", "info"])


def _publish_return_types():
    """Also reachable as ``tapegrad.return_types.<name>``, beside max/sort's, as in torch."""
    from . import reduction
    for name, cls in vars(return_types).items():
        if not name.startswith("_"):
            setattr(reduction.return_types, name, cls)


_publish_return_types()


# =========================================================================== dual-mode helpers
def _dt(x):
    return x._data.dtype if isinstance(x, Tensor) else x.dtype


def _mm(a, b):
    return MatMul.apply(a, b)


def _eye(x, n):
    return xp.eye(n, dtype=_dt(x))


def _diag(x):
    """The diagonal of the last two dims, ``(..., n, n) -> (..., n)``."""
    return SumDim.apply(x * _eye(x, x.shape[-1]), dims=(len(x.shape) - 1,), keepdim=False)


def _diag_embed(v):
    return unsqueeze_(v, -1) * _eye(v, v.shape[-1])


def _tril(x, k=0):
    return x * xp.tril(xp.ones(tuple(x.shape[-2:]), dtype=_dt(x)), k)


def _triu(x, k=0):
    return x * xp.triu(xp.ones(tuple(x.shape[-2:]), dtype=_dt(x)), k)


def _cols(x, k):
    """``x[..., :k]`` (dual mode)."""
    return Slice.apply(x, index=(Ellipsis, slice(0, k)))


def _rows(x, k):
    return Slice.apply(x, index=(Ellipsis, slice(0, k), slice(None)))


def _zeros(shape, like):
    return xp.zeros(tuple(shape), dtype=like)


def _off_diag_inverse_gaps(v):
    """``F[i, j] = 1 / (v[j] - v[i])`` off the diagonal, 0 on it."""
    gap = unsqueeze_(v, -2) - unsqueeze_(v, -1)
    eye = _eye(v, v.shape[-1])
    return (1 - eye) / (gap + eye)


# =========================================================================== error path
def _batch_prefix(shape, flat_index):
    if len(shape) <= 2:
        return ""
    return f"(Batch element {int(flat_index)}): "


def _lu_info(a):
    """LAPACK getrf's ``info`` per matrix: 1 + the column of the first exactly zero pivot
    of LU with partial pivoting, 0 when there is none. Only run once a solver has failed."""
    n = a.shape[-1]
    u = a.reshape(-1, n, n).copy()
    info = xp.zeros(u.shape[0], dtype=xp.int32)
    rows = xp.arange(u.shape[0])
    for j in range(n):
        p = j + xp.argmax(xp.abs(u[:, j:, j]), axis=1)
        top = u[rows, j].copy()
        u[rows, j] = u[rows, p]
        u[rows, p] = top
        piv = u[:, j, j]
        info[(piv == 0) & (info == 0)] = j + 1
        mult = xp.where(piv[:, None] == 0, 0, u[:, j + 1:, j] / xp.where(piv == 0, 1, piv)[:, None])
        u[:, j + 1:, j + 1:] -= mult[:, :, None] * u[:, j, None, j + 1:]
    return info.reshape(a.shape[:-2])


def _cholesky_unblocked(a):
    """Column-by-column Cholesky of the lower triangle, batched: ``(L, info)`` where
    ``info`` is the order of the first leading minor that is not positive-definite."""
    n = a.shape[-1]
    low = xp.zeros_like(a)
    info = xp.zeros(a.shape[:-2], dtype=xp.int32)
    for j in range(n):
        d = a[..., j, j] - (low[..., j, :j] ** 2).sum(-1)
        info[~(d > 0) & (info == 0)] = j + 1
        ok = info == 0
        r = xp.sqrt(xp.where(ok, d, 1))
        low[..., j, j] = xp.where(ok, r, d)
        col = (a[..., j + 1:, j] - (low[..., j + 1:, :j] * low[..., j, None, :j]).sum(-1)) / r[..., None]
        low[..., j + 1:, j] = xp.where(ok[..., None], col, 0)
    return low, info


def _first_failure(info):
    flat = info.reshape(-1)
    k = int(xp.argmax(flat != 0))
    return k, int(flat[k])


def _singular_error(a, fn):
    info = _lu_info(a)
    k, j = _first_failure(info)
    if j == 0:  # rounding kept our pivots nonzero: LAPACK's last one was
        j = a.shape[-1]
    return LinAlgError(f"{fn}: {_batch_prefix(a.shape, k)}The diagonal element {j} is zero, the "
                       "inversion could not be completed because the input matrix is singular.")


def _solve_arrays(a, b, fn="torch.linalg.solve"):
    try:
        return xp.linalg.solve(a, b)
    except xp.linalg.LinAlgError:
        k, _ = _first_failure(_lu_info(a))
        raise LinAlgError(f"{fn}: {_batch_prefix(a.shape, k)}The solver failed because "
                          "the input matrix is singular.") from None


# =========================================================================== argument checks
def _check_float(A, fn, half=None):
    """Floating input only; float16 gets ``half``, torch's message for the kernel it would
    reach (None: the generic one, False: float16 is accepted)."""
    if A._data.dtype.kind != "f":
        raise RuntimeError(f"{fn}: Expected a floating point or complex tensor as input. Got {_cap(A.dtype)}")
    if half is not False and A._data.dtype == xp.float16:
        if half and half.endswith("for 'Half'"):  # a kernel without float16: torch's NotImplementedError
            raise NotImplementedError(half)
        raise RuntimeError(half or f"{fn}: Low precision dtypes not supported. Got Half")


def _kernel_half(kernel):
    return f"\"{kernel}\" not implemented for 'Half'"


def _check_matrix(A, fn, name="A", square=False, half=None):
    check_tensor(A, fn.rsplit(".", 1)[-1], name)
    if A.ndim < 2:
        raise RuntimeError(f"{fn}: The input tensor {name} must have at least 2 dimensions.")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{fn}: {name} must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    _check_float(A, fn, half)


# =========================================================================== inv
class Inv(Node):
    _bw_name = "LinalgInvExBackward0"

    def forward(ctx, a, fn="linalg.inv"):
        try:
            x = xp.linalg.inv(a)
        except xp.linalg.LinAlgError:
            raise _singular_error(a, fn) from None
        ctx.saved = (x,)
        return x

    def backward(ctx, g):
        (x,) = ctx.saved
        xt = mT_(x)
        return -_mm(_mm(xt, g), xt)


@op("linalg", nodes=(Inv,), name="linalg_inv", function=False, method=False)
def linalg_inv(A):
    """``A^{-1}`` of each square matrix in ``A`` (``(*, n, n)``)."""
    check_tensor(A, "linalg_inv", "A")
    _check_matrix(A, "linalg.inv", square=True)
    return Inv.apply(A)


@op("linalg", nodes=(Inv,))
def inverse(input):
    """``torch.inverse``: the same as ``linalg.inv``."""
    check_tensor(input, "inverse", "input")
    _check_matrix(input, "linalg.inv", square=True)
    return Inv.apply(input)


@op("linalg", nodes=(Inv,), name="linalg_inv_ex", function=False, method=False)
def linalg_inv_ex(A, *, check_errors=False):
    """``(inverse, info)``: ``info`` is LAPACK's (0, or the first zero pivot) per matrix;
    the inverse of a singular matrix is NaN (torch's is unspecified)."""
    check_tensor(A, "linalg_inv_ex", "A")
    _check_matrix(A, "linalg.inv", square=True)
    a = A._data
    try:
        xp.linalg.inv(a)
        info = xp.zeros(a.shape[:-2], dtype=xp.int32)
    except xp.linalg.LinAlgError:
        info = _lu_info(a)
    if info.any():
        if check_errors:
            raise _singular_error(a, "linalg.inv_ex")
        from .elementwise import where
        bad = Tensor._wrap(info[..., None, None] != 0)
        inv = Inv.apply(where(bad, Tensor._wrap(_eye(a, a.shape[-1])), A))
        return return_types.linalg_inv_ex(where(bad, float("nan"), inv), Tensor._wrap(info))
    return return_types.linalg_inv_ex(Inv.apply(A), Tensor._wrap(info))


# =========================================================================== det / slogdet
def _safe_inverse_t(a):
    """``(A^{-T}, singular)``: exactly singular matrices (``singular``, a bool array
    broadcastable to A) are replaced by the identity before inverting."""
    raw = a._data if isinstance(a, Tensor) else a
    singular = (xp.linalg.det(raw) == 0)[..., None, None]
    if singular.any():
        from .elementwise import where_
        a = where_(singular, _eye(a, a.shape[-1]), a)
    return mT_(Inv.apply(a)), singular


class Det(Node):
    _bw_name = "LinalgDetBackward0"

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.asarray(xp.linalg.det(a))

    def backward(ctx, g):
        (a,) = ctx.saved
        d = Det.apply(a)
        # g det(A) A^{-T}; an exactly singular matrix gets 0, as in torch, rather than an error
        inv_t, _ = _safe_inverse_t(a)
        return unsqueeze_(unsqueeze_(g * d, -1), -1) * inv_t


@op("linalg", nodes=(Det,))
def det(input):
    """Determinant of each matrix, ``(*, n, n) -> (*)``."""
    check_tensor(input, "det", "input")
    _check_matrix(input, "linalg.det", square=True, half=_kernel_half("lu_cpu"))
    return Det.apply(input)


@op("linalg", nodes=(Det,), name="linalg_det", function=False, method=False)
def linalg_det(A):
    """Determinant of each matrix, ``(*, n, n) -> (*)``."""
    check_tensor(A, "linalg_det", "A")
    return det(A)


class Slogdet(Node):
    _bw_name = "LinalgSlogdetBackward0"
    multi_output = True

    def forward(ctx, a):
        ctx.saved = (a,)
        sign, logabs = xp.linalg.slogdet(a)
        return xp.asarray(sign, dtype=a.dtype), xp.asarray(logabs, dtype=a.dtype)

    def backward(ctx, g_sign, g_logabs):
        (a,) = ctx.saved
        if g_logabs is None:
            return None
        inv_t, singular = _safe_inverse_t(a)
        out = unsqueeze_(unsqueeze_(g_logabs, -1), -1) * inv_t
        if singular.any():  # log|det| is -inf there: its gradient is not finite
            from .elementwise import where_
            out = where_(singular, float("nan"), out)
        return out


@op("linalg", nodes=(Slogdet,), name="linalg_slogdet", function=False, method=False)
def linalg_slogdet(A):
    """``(sign, logabsdet)`` with ``det(A) = sign * exp(logabsdet)``."""
    check_tensor(A, "linalg_slogdet", "A")
    _check_matrix(A, "linalg.slogdet", square=True)
    return return_types.linalg_slogdet(*Slogdet.apply(A))


@op("linalg", nodes=(Slogdet,))
def slogdet(input):
    """``torch.slogdet``: ``linalg.slogdet`` as ``torch.return_types.slogdet``."""
    check_tensor(input, "slogdet", "input")
    _check_matrix(input, "linalg.slogdet", square=True)
    return return_types.slogdet(*Slogdet.apply(input))


@op("linalg", nodes=(Slogdet,))
def logdet(input):
    """``log(det(input))``: NaN for a negative determinant, ``-inf`` for a zero one."""
    check_tensor(input, "logdet", "input")
    _check_matrix(input, "logdet", square=True, half=_kernel_half("lu_cpu"))
    from .elementwise import where
    sign, logabs = Slogdet.apply(input)
    return where(sign < 0, float("nan"), logabs)


# =========================================================================== solve
class Solve(Node):
    """``A X = B`` (``left``) or ``X A = B``; ``vec``: ``B`` is a (batch of) vector(s)."""

    _bw_name = "LinalgSolveExBackward0"

    def forward(ctx, a, b, left=True, vec=False, fn="torch.linalg.solve"):
        # X A = B is A^T X^T = B^T; a vector B is a one-column matrix
        at = a if left else a.swapaxes(-1, -2)
        bm = b[..., None] if vec else (b if left else b.swapaxes(-1, -2))
        x = _solve_arrays(at, bm, fn)
        x = x[..., 0] if vec else (x if left else x.swapaxes(-1, -2))
        ctx.saved = (a, x)
        ctx.left, ctx.vec = left, vec
        return x

    def backward(ctx, g):
        a, x = ctx.saved
        left, vec = ctx.left, ctx.vec
        gb = Solve.apply(mT_(a), g, left=left, vec=vec)
        if not ctx.needs_input_grad[0]:
            return None, gb
        if vec:
            gbm, xm = unsqueeze_(gb, -1 if left else -2), unsqueeze_(x, -1 if left else -2)
        else:
            gbm, xm = gb, x
        ga = -_mm(gbm, mT_(xm)) if left else -_mm(mT_(xm), gbm)
        return ga, gb


@op("linalg", nodes=(Solve,), name="linalg_solve", function=False, method=False)
def linalg_solve(A, B, *, left=True):
    """``X`` with ``A @ X = B`` (``left=False``: ``X @ A = B``). ``B`` is ``(*, n, k)``, or
    ``(*, n)`` for vectors; batch dims broadcast."""
    return _solve(A, B, left, "torch.linalg.solve")


def _solve(A, B, left, fn):
    check_tensor(A, "linalg_solve", "A")
    check_tensor(B, "linalg_solve", "B", 2)
    _check_matrix(A, "linalg.solve", square=True, half=_kernel_half("lu_cpu"))
    if B._data.dtype != A._data.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type "
                           f"{_cap(A.dtype)} and B of type {_cap(B.dtype)} instead")
    n = A.shape[-1]
    vec = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    rows = B.shape[-1] if vec else (B.shape[-2] if left else B.shape[-1])
    if rows != n:
        shp = f"{B.shape[-1]}x1" if vec else f"{B.shape[-2]}x{B.shape[-1]}"
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {shp})")
    return Solve.apply(A, B, left=left, vec=vec, fn=fn)


class SolveTriangular(Node):
    _bw_name = "LinalgSolveTriangularBackward0"

    def forward(ctx, a, b, upper, left=True, unitriangular=False):
        t = xp.triu(a) if upper else xp.tril(a)
        if unitriangular:
            n = a.shape[-1]
            t = t * (1 - xp.eye(n, dtype=a.dtype)) + xp.eye(n, dtype=a.dtype)
        with xp.errstate(all="ignore"):
            try:
                x = xp.linalg.solve(t, b) if left else \
                    xp.linalg.solve(t.swapaxes(-1, -2), b.swapaxes(-1, -2)).swapaxes(-1, -2)
            except xp.linalg.LinAlgError:  # a zero on the diagonal: torch returns inf/nan
                x = _back_substitute(t, b, upper, left)
        ctx.saved = (a, x)
        ctx.opts = (upper, left, unitriangular)
        return x

    def backward(ctx, g):
        a, x = ctx.saved
        upper, left, unit = ctx.opts
        gb = SolveTriangular.apply(mT_(a), g, upper=not upper, left=left, unitriangular=unit)
        if not ctx.needs_input_grad[0]:
            return None, gb
        ga = -_mm(gb, mT_(x)) if left else -_mm(mT_(x), gb)
        ga = _triu(ga, 1 if unit else 0) if upper else _tril(ga, -1 if unit else 0)
        return ga, gb


def _back_substitute(t, b, upper, left):
    """Triangular solve by substitution, for singular triangles (IEEE inf/nan as LAPACK)."""
    if not left:
        return _back_substitute(t.swapaxes(-1, -2), b.swapaxes(-1, -2), not upper, True).swapaxes(-1, -2)
    n = t.shape[-1]
    shape = xp.broadcast_shapes(t.shape[:-2], b.shape[:-2])
    x = xp.zeros(shape + b.shape[-2:], dtype=xp.result_type(t, b))
    order = range(n - 1, -1, -1) if upper else range(n)
    with xp.errstate(all="ignore"):
        for i in order:
            acc = (t[..., i, :, None] * x).sum(-2)
            x[..., i, :] = (b[..., i, :] - acc) / t[..., i, i, None]
    return x


@op("linalg", nodes=(SolveTriangular,), name="linalg_solve_triangular", function=False, method=False)
def linalg_solve_triangular(A, B, *, upper=None, left=True, unitriangular=False):
    """``X`` with ``A @ X = B`` for triangular ``A`` (only its ``upper``/lower triangle is read).
    ``upper`` is required, as in torch."""
    if upper is None:
        raise TypeError('linalg_solve_triangular() missing 1 required positional arguments: "upper"')
    check_tensor(A, "linalg_solve_triangular", "input")
    check_tensor(B, "linalg_solve_triangular", "B", 2)
    _check_matrix(A, "linalg.solve_triangular", square=True)
    _check_matrix(B, "linalg.solve_triangular", name="B")
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise RuntimeError(f"linalg.solve_triangular: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {B.shape[-2]}x{B.shape[-1]})")
    return SolveTriangular.apply(A, B, upper=bool(upper), left=left, unitriangular=unitriangular)


# =========================================================================== cholesky
class Cholesky(Node):
    _bw_name = "LinalgCholeskyExBackward0"

    def forward(ctx, a, upper=False, fn="linalg.cholesky"):
        # upper=True reads the upper triangle: the lower factor of A^T, transposed
        low_in = a.swapaxes(-1, -2) if upper else a
        try:
            low = xp.linalg.cholesky(low_in)
        except xp.linalg.LinAlgError:
            _, info = _cholesky_unblocked(low_in)
            k, j = _first_failure(info)
            raise LinAlgError(
                f"{fn}: {_batch_prefix(a.shape, k)}The factorization could not be completed because the "
                f"input is not positive-definite (the leading minor of order {j} is not "
                "positive-definite).") from None
        out = low.swapaxes(-1, -2) if upper else low
        ctx.saved = (out,)
        ctx.upper = upper
        return out

    def backward(ctx, g):
        (f,) = ctx.saved
        low, gl = (mT_(f), mT_(g)) if ctx.upper else (f, g)
        return _cholesky_vjp(low, gl)


def _cholesky_vjp(low, gl):
    """``A = L L^T``: with ``P = Phi(L^T gL)`` (lower triangle, halved diagonal),
    ``S = L^{-T} P L^{-1}`` and the gradient is its symmetric part."""
    p = _tril(_mm(mT_(low), gl), -1) + _diag_embed(_diag(_mm(mT_(low), gl))) * 0.5
    linv = Inv.apply(low)
    s = _mm(_mm(mT_(linv), p), linv)
    return (s + mT_(s)) * 0.5


class CholeskyLegacy(Cholesky):
    _bw_name = "CholeskyBackward0"


@op("linalg", nodes=(Cholesky,), name="linalg_cholesky", function=False, method=False)
def linalg_cholesky(A, *, upper=False):
    """Lower ``L`` with ``A = L L^T`` (``upper=True``: ``U = L^T``), ``(*, n, n)``."""
    check_tensor(A, "linalg_cholesky", "input")
    _check_matrix(A, "linalg.cholesky", square=True, half=_kernel_half("cholesky_cpu"))
    return Cholesky.apply(A, upper=bool(upper))


@op("linalg", nodes=(Cholesky,), name="linalg_cholesky_ex", function=False, method=False)
def linalg_cholesky_ex(A, *, upper=False, check_errors=False):
    """``(L, info)``; ``info`` is 0 or the order of the first leading minor that is not
    positive-definite, and ``L`` then holds the partial factor."""
    check_tensor(A, "linalg_cholesky_ex", "input")
    _check_matrix(A, "linalg.cholesky_ex", square=True, half=_kernel_half("cholesky_cpu"))
    a = A._data
    low_in = a.swapaxes(-1, -2) if upper else a
    try:
        xp.linalg.cholesky(low_in)
    except xp.linalg.LinAlgError:
        if check_errors:
            Cholesky.apply(A, upper=bool(upper), fn="linalg.cholesky_ex")
        low, info = _cholesky_unblocked(low_in)
        out = low.swapaxes(-1, -2) if upper else low
        return return_types.linalg_cholesky_ex(Tensor._wrap(xp.ascontiguousarray(out)), Tensor._wrap(info))
    info = xp.zeros(a.shape[:-2], dtype=xp.int32)
    return return_types.linalg_cholesky_ex(Cholesky.apply(A, upper=bool(upper)), Tensor._wrap(info))


@op("linalg", nodes=(CholeskyLegacy,))
def cholesky(input, upper=False):
    """``torch.cholesky`` (deprecated in torch in favour of ``linalg.cholesky``)."""
    check_tensor(input, "cholesky", "input")
    _check_matrix(input, "cholesky", square=True, half=_kernel_half("cholesky_cpu"))
    return CholeskyLegacy.apply(input, upper=bool(upper), fn="cholesky")


# =========================================================================== qr
class Qr(Node):
    _bw_name = "LinalgQrBackward0"
    multi_output = True

    def forward(ctx, a, mode="reduced"):
        q, r = xp.linalg.qr(a, mode="complete" if mode == "complete" else "reduced")
        ctx.saved = (a, q, r)
        ctx.mode = mode
        if mode == "r":
            q = xp.zeros((0,), dtype=a.dtype)
        return q, r

    def backward(ctx, gq, gr):
        a, q, r = ctx.saved
        m, n = a.shape[-2], a.shape[-1]
        if ctx.mode == "r":
            raise RuntimeError(
                "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please "
                "use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")
        if ctx.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and "
                               "nrows > ncols.")
        gq = _zeros(q.shape, _dt(q)) if gq is None else gq
        gr = _zeros(r.shape, _dt(r)) if gr is None else gr
        if m >= n:
            return _qr_square_vjp(q, r, gq, gr)
        # wide: A = [X | Y] with X = Q U square and R = [U | Q^T Y]
        u = _cols(r, m)
        gu, gv = _cols(gr, m), Slice.apply(gr, index=(Ellipsis, slice(m, n)))
        y = Slice.apply(a, index=(Ellipsis, slice(m, n)))
        gx = _qr_square_vjp(q, u, gq + _mm(y, mT_(gv)), gu)
        return Cat.apply(gx, _mm(q, gv), dim=len(a.shape) - 1)


def _qr_square_vjp(q, r, gq, gr):
    """``A = Q R`` with ``m >= n``: ``M = R gR^T - gQ^T Q`` and
    ``gA = (gQ + Q copyltu(M)) R^{-T}``, ``copyltu`` mirroring M's lower triangle."""
    mm = _mm(r, mT_(gr)) - _mm(mT_(gq), q)
    sym = _tril(mm, -1)
    sym = sym + mT_(sym) + _diag_embed(_diag(mm))
    rhs = gq + _mm(q, sym)
    return Solve.apply(mT_(r), rhs, left=False)


_QR_MODES = ("reduced", "complete", "r")


@op("linalg", nodes=(Qr,), name="linalg_qr", function=False, method=False)
def linalg_qr(A, mode="reduced"):
    """``(Q, R)`` with ``A = Q R``; ``mode``: 'reduced' (default), 'complete' or 'r' (Q empty)."""
    check_tensor(A, "linalg_qr", "A")
    if mode not in _QR_MODES:
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' "
                           "(default), 'r', or 'complete'")
    _check_matrix(A, "linalg.qr", half=_kernel_half("geqrf_cpu"))
    return return_types.linalg_qr(*Qr.apply(A, mode=mode))


@op("linalg", nodes=(Qr,))
def qr(input, some=True):
    """``torch.qr``: ``linalg.qr(input, 'reduced' if some else 'complete')``."""
    check_tensor(input, "qr", "input")
    _check_matrix(input, "linalg.qr", half=_kernel_half("geqrf_cpu"))
    return return_types.qr(*Qr.apply(input, mode="reduced" if some else "complete"))


# =========================================================================== svd
class Svd(Node):
    _bw_name = "LinalgSvdBackward0"
    multi_output = True

    def forward(ctx, a, full_matrices=True):
        u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
        ctx.saved = (a, u, s, vh)
        return u, s, vh

    def backward(ctx, gu, gs, gvh):
        a, u, s, vh = ctx.saved
        m, n = a.shape[-2], a.shape[-1]
        k = min(m, n)
        if u.shape[-1] != k:  # full_matrices: the extra columns carry no derivative
            u, gu = _cols(u, k), (None if gu is None else _cols(gu, k))
        if vh.shape[-2] != k:
            vh, gvh = _rows(vh, k), (None if gvh is None else _rows(gvh, k))
        return _svd_vjp(u, s, vh, gu, gs, gvh, m, n)


def _svd_vjp(u, s, vh, gu, gs, gvh, m, n):
    """Townsend (2016): with ``F[i, j] = 1 / (s_j^2 - s_i^2)``,
    ``gA = U [(F o (U^T gU - gU^T U)) S + diag(gS) + S (F o (V^T gV - gV^T V))] V^T
    + (I - U U^T) gU S^{-1} V^T + U S^{-1} gV^T (I - V V^T)``."""
    k = s.shape[-1]
    v = mT_(vh)
    core = 0
    if gs is not None:
        core = _diag_embed(gs)
    f = _off_diag_inverse_gaps(s * s) if (gu is not None or gvh is not None) else None
    s_row, s_col = unsqueeze_(s, -2), unsqueeze_(s, -1)
    extra = 0
    if gu is not None:
        utgu = _mm(mT_(u), gu)
        core = core + f * (utgu - mT_(utgu)) * s_row
        if m > k:
            extra = extra + _mm((gu - _mm(u, utgu)) / s_row, vh)
    if gvh is not None:
        gv = mT_(gvh)
        vtgv = _mm(vh, gv)
        core = core + s_col * (f * (vtgv - mT_(vtgv)))
        if n > k:
            extra = extra + _mm(u, (gvh - _mm(_mm(gvh, v), vh)) / s_col)
    if isinstance(core, int):
        return None if isinstance(extra, int) else extra
    out = _mm(_mm(u, core), vh)
    return out if isinstance(extra, int) else out + extra


@op("linalg", nodes=(Svd,), name="linalg_svd", function=False, method=False)
def linalg_svd(A, full_matrices=True, *, driver=None):
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``, singular values descending. Derivatives
    need distinct singular values (and nonzero ones for non-square input)."""
    check_tensor(A, "linalg_svd", "A")
    _check_matrix(A, "linalg.svd", half=_kernel_half("linalg_svd_cpu"))
    return return_types.linalg_svd(*Svd.apply(A, full_matrices=bool(full_matrices)))


@op("linalg", nodes=(Svd,), name="linalg_svdvals", function=False, method=False)
def linalg_svdvals(A, *, driver=None):
    """The singular values of each matrix, descending, ``(*, m, n) -> (*, min(m, n))``."""
    check_tensor(A, "linalg_svdvals", "A")
    _check_matrix(A, "linalg.svd", half=_kernel_half("linalg_svd_cpu"))
    return Svd.apply(A, full_matrices=False)[1]


@op("linalg", nodes=(Svd,))
def svd(input, some=True, compute_uv=True):
    """``torch.svd``: ``(U, S, V)`` (V, not Vh); ``compute_uv=False`` gives zero U and V."""
    check_tensor(input, "svd", "input")
    _check_matrix(input, "linalg.svd", half=_kernel_half("linalg_svd_cpu"))
    if not compute_uv:
        m, n = input.shape[-2], input.shape[-1]
        s = Svd.apply(input, full_matrices=False)[1]
        dt, batch = input._data.dtype, tuple(input.shape[:-2])
        return return_types.svd(Tensor._wrap(xp.zeros(batch + (m, m), dt)), s,
                                Tensor._wrap(xp.zeros(batch + (n, n), dt)))
    u, s, vh = Svd.apply(input, full_matrices=not some)
    return return_types.svd(u, s, vh.transpose(-2, -1))


# =========================================================================== eigh
class Eigh(Node):
    _bw_name = "LinalgEighBackward0"
    multi_output = True

    def forward(ctx, a, UPLO="L"):
        w, v = xp.linalg.eigh(a, UPLO=UPLO)
        ctx.saved = (w, v)
        return w, v

    def backward(ctx, gw, gv):
        w, v = ctx.saved
        core = 0 if gw is None else _diag_embed(gw)
        if gv is not None:
            core = core + _off_diag_inverse_gaps(w) * _mm(mT_(v), gv)
        if isinstance(core, int):
            return None
        out = _mm(_mm(v, core), mT_(v))
        return (out + mT_(out)) * 0.5


def _check_uplo(UPLO):
    if UPLO not in ("L", "U", "l", "u"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return UPLO.upper()


@op("linalg", nodes=(Eigh,), name="linalg_eigh", function=False, method=False)
def linalg_eigh(A, UPLO="L"):
    """``(eigenvalues, eigenvectors)`` of symmetric ``A`` (only its ``UPLO`` triangle is read),
    eigenvalues ascending. Eigenvector derivatives need distinct eigenvalues."""
    check_tensor(A, "linalg_eigh", "input")
    _check_matrix(A, "linalg.eigh", square=True, half=_kernel_half("linalg_eigh_cpu"))
    return return_types.linalg_eigh(*Eigh.apply(A, UPLO=_check_uplo(UPLO)))


@op("linalg", nodes=(Eigh,), name="linalg_eigvalsh", function=False, method=False)
def linalg_eigvalsh(A, UPLO="L"):
    """The eigenvalues of symmetric ``A``, ascending, ``(*, n, n) -> (*, n)``."""
    check_tensor(A, "linalg_eigvalsh", "input")
    _check_matrix(A, "linalg.eigh", square=True, half=_kernel_half("linalg_eigh_cpu"))
    return Eigh.apply(A, UPLO=_check_uplo(UPLO))[0]


# =========================================================================== pinv / lstsq
def _rcond_cutoff(s, atol, rtol, shape):
    """torch's threshold: ``max(atol, rtol * s_max)``; rtol defaults to ``eps * max(m, n)``
    when neither is given, and to 0 when only atol is."""
    if rtol is None:
        rtol = xp.finfo(s.dtype).eps * max(shape[-2:]) if (atol is None or atol == 0) else 0.0
    atol = 0.0 if atol is None else atol
    atol, rtol = (x._data if isinstance(x, Tensor) else x for x in (atol, rtol))
    smax = s[..., :1] if s.shape[-1] else xp.zeros(s.shape[:-1] + (1,), s.dtype)
    return xp.maximum(xp.asarray(atol)[..., None] if xp.ndim(atol) else atol,
                      (xp.asarray(rtol)[..., None] if xp.ndim(rtol) else rtol) * smax)


class Pinv(Node):
    _bw_name = "LinalgPinvBackward0"

    def forward(ctx, a, atol=None, rtol=None, hermitian=False):
        p = _pinv_array(a, atol, rtol, hermitian)
        ctx.saved = (a, p)
        return p

    def backward(ctx, g):
        a, p = ctx.saved
        return _pinv_vjp(a, p, g)


def _pinv_array(a, atol, rtol, hermitian):
    """The pseudo-inverse by SVD (eigh when ``hermitian``), dropping small singular values."""
    if hermitian:
        w, v = xp.linalg.eigh(a)
        mag = xp.abs(w)
        cut = _rcond_cutoff(-xp.sort(-mag, axis=-1), atol, rtol, a.shape)
        inv_w = xp.where(mag > cut, 1 / xp.where(mag > cut, w, 1), 0)
        p = (v * inv_w[..., None, :]) @ v.swapaxes(-1, -2)
    else:
        u, s, vh = xp.linalg.svd(a, full_matrices=False)
        cut = _rcond_cutoff(s, atol, rtol, a.shape)
        inv_s = xp.where(s > cut, 1 / xp.where(s > cut, s, 1), 0)
        p = (vh.swapaxes(-1, -2) * inv_s[..., None, :]) @ u.swapaxes(-1, -2)
    return xp.ascontiguousarray(p.astype(a.dtype, copy=False))


def _pinv_vjp(a, p, g):
    """For ``P = A^+`` of constant rank (Golub and Pereyra):
    ``gA = -P^T g P^T + (I - A P) g^T P P^T + P^T P g^T (I - P A)``."""
    pt = mT_(p)
    gt = mT_(g)
    ap, pa = _mm(a, p), _mm(p, a)
    out = -_mm(_mm(pt, g), pt)
    out = out + _mm(_mm(_eye(ap, ap.shape[-1]) - ap, gt), _mm(p, pt))
    return out + _mm(_mm(pt, p), _mm(gt, _eye(pa, pa.shape[-1]) - pa))


@op("linalg", nodes=(Pinv,), name="linalg_pinv", function=False, method=False)
def linalg_pinv(A, *, atol=None, rtol=None, hermitian=False):
    """Moore-Penrose pseudo-inverse, ``(*, m, n) -> (*, n, m)``; singular values at or below
    ``max(atol, rtol * s_max)`` are dropped. Its derivative assumes the rank is constant."""
    check_tensor(A, "pinv", "A")
    if A.ndim < 2 or A._data.dtype.kind != "f" or A._data.dtype == xp.float16:
        raise RuntimeError(f"linalg.pinv({_cap(A.dtype)}{{{list(A.shape)}}}): expected a tensor with 2 or "
                           "more dimensions of float, double, cfloat or cdouble types")
    return Pinv.apply(A, atol=atol, rtol=rtol, hermitian=hermitian)


@op("linalg", nodes=(Pinv,))
def pinverse(input, rcond=1e-15):
    """``torch.pinverse``: ``linalg.pinv(input, rtol=rcond)``."""
    return linalg_pinv(input, rtol=rcond)


class Lstsq(Node):
    """``(solution, residuals)``: ``X = pinv(A) B`` and, when ``residuals``, the squared
    residual norm of each column (a vector ``B`` is one column)."""

    _bw_name = "LinalgLstsqBackward0"
    multi_output = True

    def forward(ctx, a, b, rcond=None, vec=False, residuals=False):
        bm = b[..., None] if vec else b
        x = _pinv_array(a, None, rcond, False) @ bm
        if residuals:
            r = a @ x - bm
            res = (r * r).sum(-2)
        else:
            res = xp.zeros((0,), dtype=x.dtype)
        x = x[..., 0] if vec else x
        ctx.saved = (a, b, x)
        ctx.rcond, ctx.vec = rcond, vec
        return x, res

    def backward(ctx, gx, gres):
        a, b, x = ctx.saved
        col = (lambda t: unsqueeze_(t, -1)) if ctx.vec else (lambda t: t)
        bm, xm = col(b), col(x)
        ga = gb = 0
        if gx is not None:
            p = Pinv.apply(a, rtol=ctx.rcond)
            gm = col(gx)
            gb = _mm(mT_(p), gm)
            if ctx.needs_input_grad[0]:
                ga = _pinv_vjp(a, p, _mm(gm, mT_(bm)))
        if gres is not None and gres.shape[-1]:
            # at the optimum A^T (A X - B) = 0, so X's own change drops out
            r2 = (_mm(a, xm) - bm) * unsqueeze_(gres, -2) * 2
            ga = ga + _mm(r2, mT_(xm))
            gb = gb - r2
        gb = squeeze_(gb, -1) if ctx.vec and not isinstance(gb, int) else gb
        return (None if isinstance(ga, int) else ga), (None if isinstance(gb, int) else gb)


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


@op("linalg", nodes=(Lstsq,), name="linalg_lstsq", function=False, method=False)
def linalg_lstsq(A, B, rcond=None, *, driver=None):
    """Least squares ``min ||A X - B||``: ``(solution, residuals, rank, singular_values)``.

    The solution is ``pinv(A) @ B`` (the minimum-norm one); like torch on the CPU, the
    default driver 'gelsy' returns the rank and empty residuals and singular values,
    'gelsd'/'gelss' also the singular values and (full rank, ``m > n``) the residuals,
    'gels' only the residuals.
    """
    check_tensor(A, "linalg_lstsq", "input")
    check_tensor(B, "linalg_lstsq", "b", 2)
    if driver is not None and driver not in _DRIVERS:
        raise RuntimeError("torch.linalg.lstsq: parameter `driver` should be one of "
                           "(gels, gelsy, gelsd, gelss)")
    if A.ndim < 2:
        raise RuntimeError("torch.linalg.lstsq: input must have at least 2 dimensions.")
    _check_float(A, "torch.linalg.lstsq", "This function doesn't handle types other than float and double")
    vec = B.ndim == A.ndim - 1
    err = _broadcast_error([tuple(A.shape[:-2]), tuple(B.shape[:-1] if vec else B.shape[:-2])])
    if err is not None:
        raise err
    if (B.shape[-1] if vec else B.shape[-2]) != A.shape[-2]:
        raise RuntimeError("torch.linalg.lstsq: input.size(-2) should match other.size(-2)")
    driver = driver or "gelsy"
    m, n = A.shape[-2], A.shape[-1]
    s = xp.linalg.svd(A._data, compute_uv=False)
    cut = _rcond_cutoff(s, None, rcond if rcond is not None and rcond >= 0 else None, A.shape)
    rank = (s > cut).sum(-1).astype(xp.int64)
    full = driver != "gelsy" and m > n and bool((rank == n).all())
    x, residuals = Lstsq.apply(A, B, rcond=rcond, vec=vec, residuals=full)
    dt = A._data.dtype
    empty = Tensor._wrap(xp.zeros((0,), dt))
    rank_t = Tensor._wrap(xp.zeros((0,), xp.int64)) if driver == "gels" else Tensor._wrap(rank)
    sv = Tensor._wrap(s.astype(dt)) if driver in ("gelsd", "gelss") else empty
    return return_types.linalg_lstsq(x, residuals, rank_t, sv)


# =========================================================================== cross
class Cross(Node):
    _bw_name = "LinalgCrossBackward0"
    promote = True

    def forward(ctx, a, b, dim=-1):
        ctx.saved = (a, b)
        ctx.dim = dim
        return xp.asarray(xp.cross(a, b, axis=dim))

    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        return (Cross.apply(b, g, dim=ctx.dim) if n[0] else None,
                Cross.apply(g, a, dim=ctx.dim) if n[1] else None)


@op("linalg", nodes=(Cross,), name="linalg_cross", function=False, method=False)
def linalg_cross(input, other, *, dim=-1):
    """Cross product of 3-vectors along ``dim`` (default -1, unlike ``torch.cross``); batch
    dims broadcast."""
    check_tensor(input, "linalg_cross")
    check_tensor(other, "linalg_cross", "other", 2)
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    from ._util import wrap_dim
    d = wrap_dim(dim, input.ndim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. "
                           f"Got {input.shape[d]} and {other.shape[d]}")
    err = B.broadcast_error([tuple(input.shape), tuple(other.shape)])
    if err is not None:
        raise err
    return Cross.apply(input, other, dim=d)


# =========================================================================== matrix_power
@op("linalg", nodes=(Inv,))
def matrix_power(input, n):
    """``input`` to the integer power ``n`` by repeated squaring (``n < 0``: of its inverse)."""
    check_tensor(input, "matrix_power", "input")
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"linalg_matrix_power(): argument 'n' (position 2) must be int, not "
                        f"{type(n).__name__}")
    if input.ndim < 2:
        raise RuntimeError("linalg.matrix_power: The input tensor A must have at least 2 dimensions.")
    if input.shape[-1] != input.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                           f"{input.shape[-2]} by {input.shape[-1]} matrices")
    from .linalg import matmul
    if n == 0:
        eye = xp.broadcast_to(xp.eye(input.shape[-1], dtype=input._data.dtype), input.shape)
        eye = Tensor._wrap(eye.copy())
        return eye + input * 0 if input.requires_grad else eye
    if n < 0:
        _check_float(input, "linalg.inv")
        input, n = Inv.apply(input), -n
        if n == 1:
            return input
    if n == 1:
        return input.clone()
    result, base = None, input
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


@op("linalg", nodes=(Inv,), name="linalg_matrix_power", function=False, method=False)
def linalg_matrix_power(A, n):
    """``A`` to the integer power ``n`` (``n < 0`` through ``linalg.inv``)."""
    check_tensor(A, "linalg_matrix_power", "input")
    return matrix_power(A, n)


# =========================================================================== norms
def _check_number_ord(ord):
    if isinstance(ord, (str, bool)) or not isinstance(ord, numbers.Number):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' (position 2) must be Number, not "
                        f"{type(ord).__name__}")


@op("reduction", nodes=(Norm,), name="linalg_vector_norm", function=False, method=False)
def linalg_vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """``sum(|x|^ord)^(1/ord)`` over ``dim`` (all dims by default); ``ord`` inf/-inf: max/min
    of ``|x|``, 0: the count of nonzeros. ``dtype`` casts ``x`` first."""
    check_tensor(x, "linalg_vector_norm", "input")
    _check_number_ord(ord)
    _check_float(x, "linalg.vector_norm", half=False)
    if dtype is not None:
        x = x.to(dtype)
    dims = reduce_dims(dim, x.ndim)
    if abs(ord) == float("inf") and x.ndim and any(x.shape[d] == 0 for d in dims):
        _empty_inf_norm(x, ord, dim)
    return Norm.apply(x, p=float(ord), dims=dims, keepdim=keepdim)


def _empty_inf_norm(x, ord, dim):
    """torch's refusal of a max/min norm over an empty dim (its wording, missing space included)."""
    head = f"linalg.vector_norm cannot compute the {float(ord)} norm on "
    if dim is None or isinstance(dim, (tuple, list)) and len(dim) == 0:
        raise RuntimeError(head + "an empty tensor because the operation does not have an identity")
    given = dim if isinstance(dim, (tuple, list)) else (dim,)
    bad = next(d for d in given if x.shape[d] == 0)
    raise RuntimeError(head + f"the dimension {bad}because this dimension is empty and the operation does "
                       "not have an identity")


def _matrix_ord_ok(ord):
    if isinstance(ord, str):
        return ord in ("fro", "nuc")
    if isinstance(ord, bool) or not isinstance(ord, numbers.Number):
        return False
    return ord in (2, -2, 1, -1, float("inf"), -float("inf"))


@op("reduction", nodes=(Svd,), name="linalg_matrix_norm", function=False, method=False)
def linalg_matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """A matrix norm over the two dims ``dim``: 'fro', 'nuc' (sum of singular values),
    2/-2 (largest/smallest singular value), 1/-1 (max/min column sum of ``|A|``),
    inf/-inf (max/min row sum)."""
    check_tensor(A, "linalg_matrix_norm", "input")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    _check_float(A, "linalg.matrix_norm")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        shown = " ".join(str(d) for d in dim) if isinstance(dim, (tuple, list)) else str(dim)
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {shown}")
    if not _matrix_ord_ok(ord):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    from ._util import wrap_dim
    d0, d1 = (wrap_dim(d, A.ndim) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if dtype is not None:
        A = A.to(dtype)
    if ord == "fro":
        return linalg_vector_norm(A, 2, (d0, d1), keepdim)
    from .reduction import amax, amin, sum as _sum
    from .elementwise import abs as _abs
    if ord in ("nuc", 2, -2):
        from .shape import movedim
        s = linalg_svdvals(movedim(A, (d0, d1), (-2, -1)))
        out = _sum(s, -1) if ord == "nuc" else (amax(s, -1) if ord == 2 else amin(s, -1))
        if keepdim:
            for d in sorted((d0, d1)):
                out = out.unsqueeze(d)
        return out
    summed, kept = (d0, d1) if abs(ord) == 1 else (d1, d0)
    pick = amax if ord > 0 else amin
    sums = _sum(_abs(A), summed, keepdim)
    if not keepdim and kept > summed:
        kept -= 1
    return pick(sums, kept, keepdim)


@op("reduction", nodes=(Norm, Svd), name="linalg_norm", function=False, method=False)
def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """A vector norm (``dim`` an int, or a 1-D input) or matrix norm (``dim`` a pair, or a
    2-D input with ``ord`` given); with neither ``ord`` nor ``dim``, the 2-norm of all
    elements."""
    check_tensor(A, "linalg_norm", "A")
    if dim is None and ord is not None and A.ndim not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                           f"Got {A.ndim}D.")
    if isinstance(ord, str) or (isinstance(dim, (tuple, list)) and len(dim) == 2):
        return linalg_matrix_norm(A, "fro" if ord is None else ord, dim if dim is not None else (-2, -1),
                                  keepdim, dtype=dtype)
    if dim is not None:
        if isinstance(dim, (tuple, list)) and len(dim) != 1:
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. "
                               f"Got {list(dim)}")
        return linalg_vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if ord is None:
        return linalg_vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                           f"Got {A.ndim}D.")
    if A.ndim == 1:
        return linalg_vector_norm(A, ord, None, keepdim, dtype=dtype)
    return linalg_matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)


# =========================================================================== products
@op("linalg", name="linalg_vecdot", function=False, method=False)
def linalg_vecdot(x, y, *, dim=-1):
    """``sum(x * y, dim)`` with broadcasting (real tensors: no conjugation needed)."""
    check_tensor(x, "linalg_vecdot", "x")
    check_tensor(y, "linalg_vecdot", "y", 2)
    if x.ndim == 1 and y.ndim == 1 and x.shape[0] != y.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{x.shape[0]}] and src [{y.shape[0]}] "
                           f"to have the same number of elements, but got {x.shape[0]} and {y.shape[0]} "
                           "elements respectively")
    from .reduction import sum as _sum
    return _sum(x * y, dim)


@op("linalg", name="linalg_multi_dot", function=False, method=False)
def linalg_multi_dot(tensors):
    """``tensors[0] @ tensors[1] @ ...``: the first may be 1-D (a row), the last 1-D (a
    column), the others 2-D."""
    from .linalg import matmul
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    for i, t in enumerate(tensors):
        check_tensor(t, "linalg_multi_dot", f"tensors[{i}]")
        where = "the first tensor" if i == 0 else ("the last tensor" if i == len(tensors) - 1 else None)
        if where is not None and t.ndim not in (1, 2):
            raise RuntimeError(f"multi_dot(): {where} must be 1D or 2D but got {t.ndim}D")
        if where is None and t.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D")
    for i in range(len(tensors) - 1):
        a, b = tensors[i], tensors[i + 1]
        if a.shape[-1] != b.shape[0]:
            sa = list(a.shape) if a.ndim == 2 else [1, a.shape[0]]
            sb = list(b.shape) if b.ndim == 2 else [b.shape[0], 1]
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes {sa} and {sb} cannot be "
                               "multiplied")
    out = tensors[0]
    for t in tensors[1:]:
        out = matmul(out, t)
    return out


@op("linalg", nodes=(Solve,), name="linalg_solve_ex", function=False, method=False)
def linalg_solve_ex(A, B, *, left=True, check_errors=False):
    """``(result, info)``: ``linalg.solve`` that reports singular matrices in ``info``
    (LAPACK's first zero pivot) instead of raising, unless ``check_errors``."""
    try:
        x = _solve(A, B, left, "torch.linalg.solve_ex")
    except LinAlgError:
        if check_errors:
            raise
        info = _lu_info(A._data)
        x = Tensor._wrap(xp.full(xp.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2]))
                                 + tuple(B.shape[-2:]) if B.ndim >= 2 else tuple(B.shape),
                                 xp.nan, dtype=A._data.dtype))
        return return_types.linalg_solve_ex(x, Tensor._wrap(info))
    return return_types.linalg_solve_ex(x, Tensor._wrap(xp.zeros(A.shape[:-2], dtype=xp.int32)))


# =========================================================================== matrix_exp
def _expm_array(a):
    """``exp(A)`` by scaling and squaring: each matrix is halved ``s`` times until its
    1-norm is at most 1/2, where 18 Taylor terms reach double precision, then squared back."""
    if a.shape[-1] == 0:
        return a.copy()
    norm = xp.abs(a).sum(-2).max(-1)
    with xp.errstate(divide="ignore"):
        s = xp.maximum(0, xp.ceil(xp.log2(xp.where(norm > 0, norm, 1))) + 1).astype(int)
    x = a / (2.0 ** s)[..., None, None].astype(a.dtype)
    eye = xp.eye(a.shape[-1], dtype=a.dtype)
    e = eye
    for k in range(18, 0, -1):
        e = eye + (x @ e) / a.dtype.type(k)
    for k in range(int(s.max(initial=0))):
        e = xp.where((k < s)[..., None, None], e @ e, e)
    return e


class MatrixExp(Node):
    _bw_name = "LinalgMatrixExpBackward0"

    def forward(ctx, a):
        ctx.saved = (a,)
        return _expm_array(a)

    def backward(ctx, g):
        # the upper-right block of exp([[A^T, G], [0, A^T]]) is the derivative of exp at A^T
        # in the direction G (Mathias 1996), which is the gradient
        (a,) = ctx.saved
        n, nd = a.shape[-1], len(a.shape)
        at = mT_(a)
        zero = xp.zeros(tuple(a.shape), dtype=_dt(a))
        top = Cat.apply(at, g, dim=nd - 1)
        bottom = Cat.apply(zero + 0 * at, at, dim=nd - 1)
        big = MatrixExp.apply(Cat.apply(top, bottom, dim=nd - 2))
        return Slice.apply(big, index=(Ellipsis, slice(0, n), slice(n, 2 * n)))


@op("linalg", nodes=(MatrixExp,))
def matrix_exp(input):
    """The matrix exponential of each square matrix, ``(*, n, n)``."""
    check_tensor(input, "matrix_exp", "input")
    _check_matrix(input, "linalg.matrix_exp", square=True, half=False)
    return MatrixExp.apply(input)


@op("linalg", nodes=(MatrixExp,), name="linalg_matrix_exp", function=False, method=False)
def linalg_matrix_exp(A):
    """The matrix exponential of each square matrix, ``(*, n, n)``."""
    check_tensor(A, "linalg_matrix_exp", "input")
    return matrix_exp(A)


# =========================================================================== lu
def _lu_arrays(a):
    """LU with partial pivoting as LAPACK's getrf leaves it, batched: ``(LU, pivots, info,
    perm)`` with ``L`` below the diagonal of ``LU`` (unit diagonal implied), ``U`` on and
    above it, 1-based row swaps ``pivots`` and ``A[perm] = L U``."""
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    u = a.reshape((-1, m, n)).copy()
    nb = u.shape[0]
    rows = xp.arange(nb)
    piv = xp.zeros((nb, k), dtype=xp.int32)
    perm = xp.tile(xp.arange(m), (nb, 1))
    info = xp.zeros(nb, dtype=xp.int32)
    for j in range(k):
        p = j + xp.argmax(xp.abs(u[:, j:, j]), axis=1)
        piv[:, j] = p + 1
        u[rows, j], u[rows, p] = u[rows, p], u[rows, j].copy()
        perm[rows, j], perm[rows, p] = perm[rows, p], perm[rows, j].copy()
        d = u[:, j, j]
        info[(d == 0) & (info == 0)] = j + 1
        u[:, j + 1:, j] /= xp.where(d == 0, 1, d)[:, None]
        u[:, j + 1:, j + 1:] -= u[:, j + 1:, j, None] * u[:, j, None, j + 1:]
    batch = a.shape[:-2]
    return u.reshape(a.shape), piv.reshape(batch + (k,)), info.reshape(batch), perm.reshape(batch + (m,))


def _perm_matrix(perm, dtype):
    """``P`` with ``A = P L U``: column ``i`` is the unit vector ``e[perm[i]]``."""
    return xp.eye(perm.shape[-1], dtype=dtype)[perm].swapaxes(-1, -2)


def _perm_from_pivots(piv, m):
    perm = xp.tile(xp.arange(m), piv.shape[:-1] + (1,))
    flat, fp = perm.reshape(-1, m), piv.reshape(-1, piv.shape[-1]) - 1
    rows = xp.arange(flat.shape[0])
    for j in range(fp.shape[1]):
        p = fp[:, j]
        flat[rows, j], flat[rows, p] = flat[rows, p], flat[rows, j].copy()
    return flat.reshape(perm.shape)


def _lu_unpack(lu, m, n):
    k = min(m, n)
    low = _tril(_cols(lu, k), -1) + xp.eye(m, k, dtype=_dt(lu))
    return low, _triu(_rows(lu, k))


def _lu_square_core(low, up, gl, gu):
    """``L^{-T} (tril(L^T gL, -1) + triu(gU U^T)) U^{-T}`` for square ``L``, ``U``."""
    mid = _tril(_mm(mT_(low), gl), -1) + _triu(_mm(gu, mT_(up)))
    y = SolveTriangular.apply(mT_(low), mid, upper=True, unitriangular=True)
    return SolveTriangular.apply(mT_(up), y, upper=False, left=False)


def _lu_vjp(p, low, up, gl, gu):
    """The gradient of ``A = P L U``; a tall ``L`` or wide ``U`` splits off the rows (columns)
    that are a triangular solve of the square factorization."""
    m, n = low.shape[-2], up.shape[-1]
    gl = _zeros(low.shape, _dt(low)) if gl is None else gl
    gu = _zeros(up.shape, _dt(up)) if gu is None else gu
    nd = len(low.shape)
    if m > n:
        tail = (Ellipsis, slice(n, m), slice(None))
        g2 = SolveTriangular.apply(mT_(up), Slice.apply(gl, index=tail), upper=False, left=False)
        gu = gu - _mm(mT_(Slice.apply(low, index=tail)), g2)
        g1 = _lu_square_core(_rows(low, n), up, _rows(gl, n), gu)
        return _mm(p, Cat.apply(g1, g2, dim=nd - 2))
    if n > m:
        tail = (Ellipsis, slice(m, n))
        w = SolveTriangular.apply(mT_(low), Slice.apply(gu, index=tail), upper=True, unitriangular=True)
        gl = gl - _mm(w, mT_(Slice.apply(up, index=tail)))
        g1 = _lu_square_core(low, _cols(up, m), gl, _cols(gu, m))
        return _mm(p, Cat.apply(g1, w, dim=nd - 1))
    return _mm(p, _lu_square_core(low, up, gl, gu))


class LuFactor(Node):
    _bw_name = "LinalgLuFactorExBackward0"

    def forward(ctx, a, packed, perm):
        ctx.saved = (packed,)
        ctx.perm = perm
        return packed

    def backward(ctx, g):
        (lu,) = ctx.saved
        m, n = lu.shape[-2], lu.shape[-1]
        k = min(m, n)
        low, up = _lu_unpack(lu, m, n)
        # the packed gradient: L's part strictly below the diagonal, U's on and above it
        gl, gu = _tril(_cols(g, k), -1), _triu(_rows(g, k))
        return _lu_vjp(_perm_matrix(ctx.perm, _dt(lu)), low, up, gl, gu)


class Lu(Node):
    _bw_name = "LinalgLuBackward0"
    multi_output = True

    def forward(ctx, a, packed, perm):
        low, up = _lu_unpack(packed, a.shape[-2], a.shape[-1])
        ctx.saved = (low, up)
        ctx.perm = perm
        return low, up

    def backward(ctx, gl, gu):
        low, up = ctx.saved
        return _lu_vjp(_perm_matrix(ctx.perm, _dt(low)), low, up, gl, gu)


def _lu_checked(A, fn, pivot):
    check_tensor(A, fn.replace(".", "_"), "A")
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    if A.ndim < 2:
        raise RuntimeError(f"torch.lu_factor: Expected tensor with 2 or more dimensions. Got size: "
                           f"{list(A.shape)} instead")
    if A._data.dtype.kind != "f" or A._data.dtype == xp.float16:
        raise NotImplementedError(f"\"lu_cpu\" not implemented for '{_cap(A.dtype)}'")
    return _lu_arrays(A._data)


def _zero_pivot_error(shape, info, fn):
    k, j = _first_failure(info)
    return RuntimeError(
        f"{fn}: {_batch_prefix(shape, k)}U[{j},{j}] is zero and using it on lu_solve would result in a "
        "division by zero. If you still want to perform the factorization, consider calling "
        "linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)")


@op("linalg", nodes=(LuFactor,), name="linalg_lu_factor_ex", function=False, method=False)
def linalg_lu_factor_ex(A, *, pivot=True, check_errors=False):
    """``(LU, pivots, info)``: LAPACK's packed LU with partial pivoting (``pivot=False`` is
    not supported on the CPU, as in torch), its 1-based row swaps and its zero-pivot flag."""
    packed, piv, info, perm = _lu_checked(A, "linalg.lu_factor_ex", pivot)
    if check_errors and info.any():
        raise _zero_pivot_error(A.shape, info, "torch.linalg.lu_factor_ex")
    lu = LuFactor.apply(A, packed=packed, perm=perm)
    return return_types.linalg_lu_factor_ex(lu, Tensor._wrap(piv), Tensor._wrap(info))


@op("linalg", nodes=(LuFactor,), name="linalg_lu_factor", function=False, method=False)
def linalg_lu_factor(A, *, pivot=True):
    """``(LU, pivots)`` of ``linalg.lu_factor_ex``; a zero pivot (singular ``A``) raises."""
    packed, piv, info, perm = _lu_checked(A, "linalg.lu_factor", pivot)
    if info.any():
        raise _zero_pivot_error(A.shape, info, "torch.linalg.lu_factor")
    return return_types.linalg_lu_factor(LuFactor.apply(A, packed=packed, perm=perm), Tensor._wrap(piv))


@op("linalg", nodes=(Lu,), name="linalg_lu", function=False, method=False)
def linalg_lu(A, *, pivot=True):
    """``(P, L, U)`` with ``A = P L U``: ``L`` unit lower ``(m, k)``, ``U`` upper ``(k, n)``."""
    packed, _, _, perm = _lu_checked(A, "linalg.lu", pivot)
    low, up = Lu.apply(A, packed=packed, perm=perm)
    return return_types.linalg_lu(Tensor._wrap(_perm_matrix(perm, A._data.dtype)), low, up)


@op("linalg", nodes=(SolveTriangular,), name="linalg_lu_solve", function=False, method=False)
def linalg_lu_solve(LU, pivots, B, *, left=True, adjoint=False):
    """``X`` with ``A X = B`` (``left=False``: ``X A = B``; ``adjoint``: ``A^T``) from
    ``(LU, pivots) = lu_factor(A)``."""
    check_tensor(LU, "linalg_lu_solve", "LU")
    check_tensor(B, "linalg_lu_solve", "B", 3)
    _check_matrix(LU, "torch.linalg.lu_solve", square=True)
    _check_matrix(B, "linalg.lu_solve", name="B")
    n = LU.shape[-1]
    p = _perm_matrix(_perm_from_pivots(pivots._data.astype(xp.int64), n), LU._data.dtype)
    low = _tril(LU, -1) + xp.eye(n, dtype=LU._data.dtype)
    up = _triu(LU)
    tri = SolveTriangular.apply
    if left and not adjoint:  # U^{-1} L^{-1} P^T B
        y = tri(low, _mm(p.swapaxes(-1, -2), B), upper=False, unitriangular=True)
        return tri(up, y, upper=True)
    if left:  # P L^{-T} U^{-T} B
        y = tri(mT_(up), B, upper=False)
        return _mm(p, tri(mT_(low), y, upper=True, unitriangular=True))
    if not adjoint:  # B U^{-1} L^{-1} P^T
        y = tri(up, B, upper=True, left=False)
        return _mm(tri(low, y, upper=False, left=False, unitriangular=True), p.swapaxes(-1, -2))
    y = _mm(B, p)  # B P L^{-T} U^{-T}
    y = tri(mT_(low), y, upper=True, left=False, unitriangular=True)
    return tri(mT_(up), y, upper=False, left=False)

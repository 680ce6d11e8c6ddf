"""``tapegrad.linalg``: torch.linalg's functions, signatures and return types.

    >>> import tapegrad as torch
    >>> A = torch.tensor([[4., 1.], [1., 3.]])
    >>> torch.linalg.solve(A, torch.tensor([1., 2.]))
    tensor([0.0909, 0.6364])

Every function takes a batch of matrices ``(*, m, n)``. The differentiable ones are the
ops declared in ``ops/decomposition.py`` (their derivatives and torch's ``grad_fn`` names
live there); this module gives them their torch.linalg names and adds the few
non-differentiable helpers (``matrix_rank``, ``cond``'s dispatch).
"""
from __future__ import annotations

from . import backend as B
from .ops import _registry
from .ops.decomposition import LinAlgError, _check_matrix, _rcond_cutoff
from .tensor import Tensor

#: the differentiable functions: the ops ``linalg_<name>`` declared in ops/decomposition.py
_SOLVERS = ("inv", "inv_ex", "det", "slogdet", "solve", "solve_ex", "solve_triangular", "lstsq", "pinv")
_FACTORS = ("cholesky", "cholesky_ex", "qr", "svd", "svdvals", "eigh", "eigvalsh")
_LU = ("lu", "lu_factor", "lu_factor_ex", "lu_solve")
_PRODUCTS = ("cross", "matrix_power", "matrix_exp", "vecdot", "multi_dot")
_NORMS = ("vector_norm", "matrix_norm", "norm")
_OPS = _SOLVERS + _FACTORS + _LU + _PRODUCTS + _NORMS

__all__ = ["LinAlgError", "matmul", "matrix_rank", "cond", "diagonal", "vander", "tensorinv", "tensorsolve",
           *_OPS]

xp = B.xp


def _op(name):
    return _registry.get("linalg_" + name).public


globals().update({name: _op(name) for name in _OPS})
matmul = _registry.get("matmul").public


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """The number of singular values (|eigenvalues| when ``hermitian``) above
    ``max(atol, rtol * s_max)``, as int64; rtol defaults to ``eps * max(m, n)``."""
    if not isinstance(A, Tensor) or A.ndim < 2:
        raise RuntimeError("torch.linalg.matrix_rank: The input tensor input must have at least 2 "
                           "dimensions.")
    _check_matrix(A, "torch.linalg.matrix_rank", name="input")
    if hermitian:
        _check_matrix(A, "linalg.eigh", square=True)
    a = A._data
    if hermitian:
        s = -xp.sort(-xp.abs(xp.linalg.eigvalsh(a)), axis=-1)
    else:
        s = xp.linalg.svd(a, compute_uv=False)
    cut = _rcond_cutoff(s, atol, rtol, a.shape)
    return Tensor._wrap(xp.asarray((s > cut).sum(-1), dtype=xp.int64))


def cond(A, p=None):
    """The condition number in the norm ``p``: ``s_max / s_min`` for None/2 (``-2``: the
    reciprocal), else ``matrix_norm(A, p) * matrix_norm(inv(A), p)`` (square input)."""
    if p in (None, 2, -2):
        _check_matrix(A, "linalg.cond")
        s = _op("svdvals")(A)
        big, small = s[..., 0], s[..., -1]
        return big / small if p != -2 else small / big
    _check_matrix(A, f"linalg.cond(ord={p})", square=True)
    from .ops.elementwise import where
    inverse, info = _op("inv_ex")(A)
    # a singular matrix has condition number inf, as in torch (no error)
    bad = info.unsqueeze(-1).unsqueeze(-1) != 0
    inverse = where(bad, 0.0, inverse)
    norm = _op("matrix_norm")
    return where(info != 0, float("inf"), norm(A, p) * norm(inverse, p))


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """``torch.diagonal`` with the matrix dims last by default: a view of the diagonals."""
    return _registry.get("diagonal").public(A, offset, dim1, dim2)


def vander(x, N=None):
    """The Vandermonde matrix ``x[..., None] ** arange(N)`` (powers increasing)."""
    from .creation import arange
    from .ops.elementwise import pow as _pow
    n = x.shape[-1] if N is None else N
    return _pow(x.unsqueeze(-1), arange(n, dtype=x.dtype))


def _prod(shape):
    out = 1
    for s in shape:
        out *= int(s)
    return out


def tensorinv(A, ind=2):
    """The inverse of ``A`` for ``tensordot``: ``A`` of shape ``a + b`` (``a = A.shape[:ind]``)
    with ``prod(a) == prod(b)`` gives a tensor of shape ``b + a``."""
    from .ops.decomposition import Inv
    if ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    lead, rest = tuple(A.shape[:ind]), tuple(A.shape[ind:])
    if _prod(rest) != _prod(lead):
        raise RuntimeError("Expected self to satisfy the requirement prod(self.shape[ind:]) == "
                           f"prod(self.shape[:ind]), but got {_prod(rest)} != {_prod(lead)}")
    _check_matrix(A.reshape(_prod(lead), _prod(rest)), "inv", square=True)
    return Inv.apply(A.reshape(_prod(lead), _prod(rest)), fn="inv").reshape(rest + lead)


def tensorsolve(A, B, dims=None):
    """``X`` with ``tensordot(A, X, X.ndim) == B``: ``X`` has shape ``A.shape[B.ndim:]``
    (after moving the dims ``dims`` of ``A`` to the end)."""
    if dims is not None:
        dims = [d % A.ndim for d in dims]
        keep = [d for d in range(A.ndim) if d not in dims]
        A = A.permute(*keep, *dims)
    rest = tuple(A.shape[B.ndim:])
    if _prod(rest) != B.numel():
        raise RuntimeError("Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
                           f"prod(self.shape[:other.ndim]), but got {_prod(rest)} != {B.numel()}")
    n = B.numel()
    return _op("solve")(A.reshape(n, n), B.reshape(n)).reshape(rest)

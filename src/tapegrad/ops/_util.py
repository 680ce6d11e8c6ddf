"""Argument checking shared by the ops: dims, shapes, tensor-ness."""
from __future__ import annotations

import numbers

from ..tensor import Tensor


def check_tensor(x, op, arg="input", pos=1):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{arg}' (position {pos}) must be Tensor, not {type(x).__name__}")


def wrap_dim(dim, ndim):
    """Wrap a possibly negative dim into ``range(ndim)`` (0-d tensors accept -1 and 0)."""
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def wrap_dims(dims, ndim, allow_dup=False):
    out = tuple(wrap_dim(d, ndim) for d in dims)
    if not allow_dup and len(set(out)) != len(out):
        d = next(d for d in out if out.count(d) > 1)
        raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return out


def as_shape(args, fn=None):
    """``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` and ``f(torch.Size)`` all give ``(2, 3)``.

    ``fn`` (the public function's name) makes the error PyTorch's argument error.
    """
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    out = []
    for a in args:
        try:
            out.append(int(a.__index__()))
        except (AttributeError, TypeError):
            if fn is not None:
                raise TypeError(f"{fn}(): argument 'size' (position 1) must be tuple of ints, "
                                f"not {type(a).__name__}") from None
            raise TypeError(f"shape must be a sequence of ints, got {type(a).__name__}") from None
    return tuple(out)


def reduce_dims(dim, ndim):
    """``dim`` argument of a reduction -> tuple of axes (None or () means all)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (tuple, list)):
        if len(dim) == 0:
            return tuple(range(ndim))
        dims = wrap_dims(dim, ndim)
    else:
        dims = (wrap_dim(dim, ndim),)
    # a 0-d tensor accepts dim 0 / -1 (like PyTorch) but has no axis to reduce
    return dims if ndim else ()


def keep_shape(shape, dims):
    """The shape of a keepdim=True reduction of ``shape`` over ``dims``."""
    return tuple(1 if i in dims else s for i, s in enumerate(shape))

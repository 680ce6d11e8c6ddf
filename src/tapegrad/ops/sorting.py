"""Sorting and selection: sort, argsort, msort, topk, kthvalue, unique, searchsorted,
bucketize, histc.

The selecting ops (sort, topk, kthvalue) find their indices with NumPy and record one node
that gathers the values at them; its derivative scatters the gradient back to those
indices (``MaxMinDim``, shared with ``max(dim)``), so ties never split a gradient. NaN sorts
as the largest value, as in PyTorch. The counting ops return integer or histogram tensors
and record nothing; ``unique`` records a node whose backward refuses, as PyTorch's does.
"""
from __future__ import annotations

import numbers

from .. import backend as B
from ..autograd.graph import Node
from ._registry import op
from ._util import check_tensor, wrap_dim
from .matrix import _CAP, _int_arg
from .reduction import MaxMinDim, return_types
from ..tensor import Tensor

xp = B.xp



class _Unset:
    """``stable`` not passed: it sorts as ``False`` does, but PyTorch then records another
    overload's node (SortBackward0 rather than SortBackward1)."""

    def __repr__(self):
        return "False"


_UNSET = _Unset()


def _order(a, dim, descending):
    """Stable argsort of ``a`` along ``dim`` (NaN largest); ties keep their input order."""
    if not descending:
        return xp.argsort(a, axis=dim, kind="stable")
    # argsort of the reversed array, read backwards, is a descending order whose ties are
    # again in input order (negating would break NaN, bool and unsigned inputs)
    n = a.shape[dim]
    rev = xp.argsort(xp.flip(a, dim), axis=dim, kind="stable")
    return (n - 1) - xp.flip(rev, dim)


class Select0d(Node):
    """sort/topk/kthvalue of a 0-d tensor: the element itself."""

    def forward(ctx, x):
        return x.copy()

    def backward(ctx, g):
        return g


class Sort0d(Select0d):
    _bw_name = "SortBackward0"


class Sort0dStable(Select0d):
    _bw_name = "SortBackward1"


class Sort(MaxMinDim):
    """Values gathered at the sorting indices; the gradient goes back to those indices."""

    _bw_name = "SortBackward0"


class SortStable(MaxMinDim):
    _bw_name = "SortBackward1"


@op("scan", nodes=(Sort, SortStable, Sort0d, Sort0dStable))
def sort(input, dim=-1, descending=False, *, stable=_UNSET):
    """``(values, indices)`` of ``input`` sorted along ``dim``.

    The order is always stable (ties keep their input order), which ``stable=True`` requires
    and ``stable=False`` allows. NaN sorts as the largest value.

    >>> tapegrad.sort(tapegrad.tensor([3., 1., 2.])).indices
    tensor([1, 2, 0])
    """
    check_tensor(input, "sort")
    a = input._data
    d = wrap_dim(dim, a.ndim)
    given = stable is not _UNSET
    cls, cls0 = (SortStable, Sort0dStable) if given else (Sort, Sort0d)
    if a.ndim == 0:
        return return_types.sort(cls0.apply(input), Tensor._wrap(xp.zeros((), xp.int64)))
    idx = _order(a, d, descending).astype(xp.int64)
    return return_types.sort(cls.apply(input, dim=d, keepdim=True, idx=idx), Tensor._wrap(idx))


@op("scan")
def argsort(input, dim=-1, descending=False, *, stable=False):
    """The indices that sort ``input`` along ``dim`` (``sort(...).indices``)."""
    check_tensor(input, "argsort")
    a = input._data
    d = wrap_dim(dim, a.ndim)
    if a.ndim == 0:
        return Tensor._wrap(xp.zeros((), xp.int64))
    return Tensor._wrap(_order(a, d, descending).astype(xp.int64))


@op("other", nodes=(Sort, Sort0d))
def msort(input):
    """``sort(input, dim=0).values``."""
    check_tensor(input, "msort")
    return sort(input, 0).values


class Topk(MaxMinDim):
    pass


class Topk0d(Select0d):
    _bw_name = "TopkBackward0"


@op("other", nodes=(Topk, Topk0d))
def topk(input, k, dim=-1, largest=True, sorted=True):
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements along
    ``dim``. The result is always in sorted order (``sorted=False`` allows any order)."""
    check_tensor(input, "topk")
    k = _int_arg(k, "topk", "k", 2)
    a = input._data
    d = wrap_dim(dim, a.ndim)
    n = a.shape[d] if a.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range")
    if a.dtype == xp.bool_:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    if a.ndim == 0:  # (PyTorch returns the element itself, even for k=0)
        return return_types.topk(Topk0d.apply(input), Tensor._wrap(xp.zeros((), xp.int64)))
    idx = _order(a, d, largest)
    idx = xp.ascontiguousarray(idx[(slice(None),) * d + (slice(0, k),)]).astype(xp.int64)
    return return_types.topk(Topk.apply(input, dim=d, keepdim=True, idx=idx), Tensor._wrap(idx))


class Kthvalue(MaxMinDim):
    pass


class Kthvalue0d(Select0d):
    _bw_name = "KthvalueBackward0"


@op("other", nodes=(Kthvalue, Kthvalue0d))
def kthvalue(input, k, dim=-1, keepdim=False):
    """``(values, indices)`` of the ``k``-th smallest element (1-based) along ``dim``."""
    check_tensor(input, "kthvalue")
    k = _int_arg(k, "kthvalue", "k", 2)
    a = input._data
    d = wrap_dim(dim, a.ndim)
    n = a.shape[d] if a.ndim else 1
    if a.dtype == xp.bool_:
        raise NotImplementedError("\"kthvalue_cpu\" not implemented for 'Bool'")
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    if a.ndim == 0:
        return return_types.kthvalue(Kthvalue0d.apply(input), Tensor._wrap(xp.zeros((), xp.int64)))
    idx = _order(a, d, False)
    idx = xp.ascontiguousarray(idx[(slice(None),) * d + (slice(k - 1, k),)]).astype(xp.int64)
    vals = Kthvalue.apply(input, dim=d, keepdim=keepdim, idx=idx)
    return return_types.kthvalue(vals, Tensor._wrap(idx if keepdim else idx.squeeze(d)))


# =========================================================================== median
class Median(MaxMinDim):
    _bw_name = "MedianBackward1"


class Median0d(Select0d):
    _bw_name = "MedianBackward1"


class NanMedian(MaxMinDim):
    _bw_name = "NanmedianBackward1"


class NanMedian0d(Select0d):
    _bw_name = "NanmedianBackward1"


class MedianAll(Node):
    """The median of all elements. Its gradient is shared evenly among the elements equal to
    it (NaN counting as equal to a NaN result), as torch shares it; with ``dim`` it goes to
    the one index returned."""

    _bw_name = "MedianBackward0"

    def forward(ctx, x, skip_nan):
        flat = x.reshape(-1)
        out = xp.asarray(xp.nan if flat.size == 0 else flat[_median_index(flat, 0, skip_nan)[0]],
                         dtype=x.dtype)
        ctx.saved = (x, out)
        return out

    def backward(ctx, g):
        x, out = ctx.saved
        xd, od = (x._data, out._data) if isinstance(x, Tensor) else (x, out)
        mask = xd == od
        if xd.dtype.kind == "f" and xp.isnan(od):
            mask = xp.isnan(xd)
        return g * (mask / max(int(mask.sum()), 1)).astype(xd.dtype)


class NanMedianAll(MedianAll):
    _bw_name = "NanmedianBackward0"


def _median_index(a, d, skip_nan):
    """Index (keeping dim ``d``) of the lower median along ``d``: element ``(n - 1) // 2`` of a
    stable sort. A row with NaN gives its first NaN, or with ``skip_nan`` the median of the
    rest (NaN sorts last; an all-NaN row gives index 0, a NaN)."""
    order = _order(a, d, False)
    nan = xp.isnan(a) if a.dtype.kind == "f" else None
    if skip_nan and nan is not None:
        valid = a.shape[d] - nan.sum(axis=d, keepdims=True)
        k = xp.maximum((valid - 1) // 2, 0)
    else:
        k = xp.full([1 if i == d else s for i, s in enumerate(a.shape)], (a.shape[d] - 1) // 2)
    idx = xp.take_along_axis(order, k.astype(xp.int64), axis=d)
    if nan is not None and not skip_nan:
        idx = xp.where(nan.any(axis=d, keepdims=True), xp.argmax(nan, axis=d, keepdims=True), idx)
    return xp.ascontiguousarray(idx).astype(xp.int64)


def _median(input, dim, keepdim, skip_nan):
    name = "nanmedian" if skip_nan else "median"
    check_tensor(input, name)
    a = input._data
    if a.dtype == xp.bool_:
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for 'Bool'")
    node, node0, node_all = ((NanMedian, NanMedian0d, NanMedianAll) if skip_nan else
                             (Median, Median0d, MedianAll))
    rt = return_types.nanmedian if skip_nan else return_types.median
    if dim is None:
        return node_all.apply(input, skip_nan=skip_nan)
    if a.ndim == 0:
        return rt(node0.apply(input), Tensor._wrap(xp.zeros((), xp.int64)))
    d = wrap_dim(dim, a.ndim)
    if a.shape[d] == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    idx = _median_index(a, d, skip_nan)
    vals = node.apply(input, dim=d, keepdim=keepdim, idx=idx)
    return rt(vals, Tensor._wrap(idx if keepdim else idx.squeeze(d)))


@op("other", nodes=(Median, Median0d, MedianAll))
def median(input, dim=None, keepdim=False):
    """The lower median (of an even count, the smaller middle value): of all elements, or
    ``(values, indices)`` along ``dim``; NaN where a NaN is present."""
    return _median(input, dim, keepdim, False)


@op("other", nodes=(NanMedian, NanMedian0d, NanMedianAll))
def nanmedian(input, dim=None, keepdim=False):
    """:func:`median` ignoring NaN (NaN only where every element is NaN)."""
    return _median(input, dim, keepdim, True)


# =========================================================================== unique
class _NoDerivative(Node):
    """The values of a unique op: recorded, but (as in PyTorch) without a derivative."""

    aten = ""

    def forward(ctx, x, values):
        return values

    def backward(ctx, g):
        raise NotImplementedError(f"the derivative for '{ctx.aten}' is not implemented.")


class Unique2(_NoDerivative):
    aten = "_unique2"


class UniqueDim(_NoDerivative):
    aten = "unique_dim"


class UniqueConsecutive(_NoDerivative):
    aten = "unique_consecutive"


def _unique_rows(a, d):
    """``(values, inverse, counts)`` of the distinct slices of ``a`` along ``d``, sorted
    lexicographically; NaNs are all distinct, as in PyTorch."""
    if d is None:
        flat = a.reshape(-1)
        vals, inv, cnt = xp.unique(flat, return_inverse=True, return_counts=True, equal_nan=False)
        return vals, inv.reshape(a.shape), cnt
    moved = xp.moveaxis(a, d, 0)
    rows = moved.reshape(moved.shape[0], -1)
    if rows.shape[0] == 0:
        return a.copy(), xp.zeros(0, xp.int64), xp.zeros(0, xp.int64)
    order = xp.lexsort(rows.T[::-1]) if rows.shape[1] else xp.arange(rows.shape[0])
    srt = rows[order]
    new = xp.ones(len(srt), dtype=bool)
    if len(srt) > 1:
        new[1:] = (srt[1:] != srt[:-1]).any(axis=1)
    group = xp.cumsum(new) - 1
    inv = xp.empty_like(group)
    inv[order] = group
    vals = srt[new].reshape((-1,) + moved.shape[1:])
    return xp.moveaxis(vals, 0, d), inv, xp.diff(xp.flatnonzero(xp.r_[new, True]))


def _unique_result(input, cls, vals, inv, cnt, return_inverse, return_counts):
    out = cls.apply(input, values=xp.ascontiguousarray(vals))
    if not (return_inverse or return_counts):
        return out
    res = [out]
    if return_inverse:
        res.append(Tensor._wrap(inv.astype(xp.int64)))
    if return_counts:
        res.append(Tensor._wrap(cnt.astype(xp.int64)))
    return tuple(res)


@op("other", nodes=(Unique2, UniqueDim))
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements of ``input`` (or distinct slices along ``dim``), always sorted;
    with ``return_inverse``/``return_counts`` a tuple that adds where each element went and
    how often each value occurs."""
    check_tensor(input, "unique")
    a = input._data
    d = None if dim is None else wrap_dim(dim, a.ndim)
    vals, inv, cnt = _unique_rows(a, d)
    if d is None and not (return_inverse or return_counts):
        return _unique_result(input, Unique2, vals, inv, cnt, False, False)
    return _unique_result(input, Unique2 if d is None else UniqueDim, vals, inv, cnt,
                          return_inverse, return_counts)


@op("other", nodes=(UniqueConsecutive,))
def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """``input`` with each run of equal consecutive elements (or slices along ``dim``) kept
    once; ``return_inverse``/``return_counts`` as in :func:`unique`."""
    check_tensor(input, "unique_consecutive")
    a = input._data
    if dim is None:
        rows = a.reshape(-1, 1)
        d = 0
    else:
        d = wrap_dim(dim, a.ndim)
        moved = xp.moveaxis(a, d, 0)
        rows = moved.reshape(moved.shape[0], -1)
    n = rows.shape[0]
    new = xp.ones(n, dtype=bool)
    if n > 1:
        new[1:] = (rows[1:] != rows[:-1]).any(axis=1)
    inv = xp.cumsum(new) - 1
    cnt = xp.diff(xp.flatnonzero(xp.r_[new, True])) if n else xp.zeros(0, xp.int64)
    if dim is None:
        vals, inv = rows[new, 0], inv.reshape(a.shape)
    else:
        vals = xp.moveaxis(xp.moveaxis(a, d, 0)[new], 0, d)
    return _unique_result(input, UniqueConsecutive, vals, inv, cnt, return_inverse, return_counts)


# =========================================================================== searchsorted
def _search(seq, values, right):
    """Insertion points of ``values`` into the sorted last dim of ``seq`` (leading dims of
    the two match, or ``seq`` is 1-D)."""
    side = "right" if right else "left"
    if seq.ndim == 1:
        return xp.searchsorted(seq, values, side=side)
    # one comparison per (value, boundary) pair: vectorised over the rows at once
    cmp = xp.less_equal if right else xp.less
    return cmp(seq[..., None, :], values[..., :, None]).sum(-1)


def _search_args(seq, values, right, side, sorter):
    name = "torch.searchsorted()"
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"{name}: side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError(f"{name}: side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    s = seq._data
    if s.ndim == 0:
        raise RuntimeError(f"{name}: boundaries tensor should have positive dimension, but got 0 "
                           "dimension")
    if s.ndim > 1 and (values.ndim != s.ndim or values.shape[:-1] != s.shape[:-1]):
        raise RuntimeError(
            f"{name}: boundaries tensor should be 1 dimension or the first N-1 dimensions of "
            f"boundaries tensor and input value tensor must match, but we got boundaries tensor "
            f"{list(s.shape)} and input value tensor {list(values.shape)}")
    if sorter is not None:
        o = sorter._data
        if o.shape != s.shape:
            raise RuntimeError(f"{name}: boundary and sorter must have the same size, but got "
                               f"boundary tensor {list(s.shape)}and got sorter tensor {list(o.shape)}")
        if o.size and (o.min() < 0 or o.max() >= s.shape[-1]):
            raise RuntimeError(f"{name}: sorter index out of range")
        s = xp.take_along_axis(s, o.astype(xp.intp), axis=-1)
    return s, right


@op("other", method=False)
def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    """Indices where ``input`` would be inserted into the last dim of ``sorted_sequence`` to
    keep it sorted (``right``/``side='right'``: after equal elements). ``sorter`` sorts an
    unsorted sequence first; the result is int64, or int32 with ``out_int32``."""
    check_tensor(sorted_sequence, "searchsorted", "sorted_sequence")
    scalar = isinstance(input, numbers.Number)
    if not scalar and not isinstance(input, Tensor):
        raise TypeError(f"searchsorted() received an invalid combination of arguments - got (Tensor, "
                        f"{type(input).__name__}), but expected one of:")
    values = xp.asarray(input) if scalar else input._data
    seq, right = _search_args(sorted_sequence, values, right, side, sorter)
    out = _search(seq, values, right)
    return Tensor._wrap(xp.asarray(out, dtype=xp.int32 if out_int32 else xp.int64))


@op("other", method=False)
def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each element of ``input`` between the sorted 1-D ``boundaries``:
    ``boundaries[i-1] < x <= boundaries[i]`` (``right=True``: ``<= x <``)."""
    check_tensor(boundaries, "bucketize", "boundaries", 2)
    if boundaries._data.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries._data.ndim})")
    if not isinstance(input, (numbers.Number, Tensor)):
        raise TypeError(f"bucketize() received an invalid combination of arguments - got "
                        f"({type(input).__name__}, Tensor), but expected one of:")
    values = xp.asarray(input) if isinstance(input, numbers.Number) else input._data
    out = _search(boundaries._data, values, right)
    return Tensor._wrap(xp.asarray(out, dtype=xp.int32 if out_int32 else xp.int64))


@op("other")
def histc(input, bins=100, min=0, max=0):
    """Histogram of ``input`` in ``bins`` equal bins over ``[min, max]`` (both 0: the data's
    range); elements outside are ignored, ``max`` itself falls in the last bin. Not
    differentiable: the result never requires grad."""
    check_tensor(input, "histc")
    bins = _int_arg(bins, "histc", "bins", 2)
    for pos, (name, v) in enumerate((("min", min), ("max", max)), 3):
        if not isinstance(v, (numbers.Number, Tensor)):
            raise TypeError(f"histc(): argument '{name}' (position {pos}) must be Number, "
                            f"not {type(v).__name__}")
    a = input._data
    if a.dtype.kind != "f":
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for '{_CAP[a.dtype.name]}'")
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    lo, hi = float(min), float(max)
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    if lo == hi and a.size:
        finite = a[xp.isfinite(a)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    flat = a.reshape(-1).astype(xp.float64)
    inside = flat[(flat >= lo) & (flat <= hi)]
    pos = xp.minimum(((inside - lo) * bins / (hi - lo)).astype(xp.int64), bins - 1)
    return Tensor._wrap(xp.bincount(pos, minlength=bins).astype(a.dtype))

"""Indexing ops: ``x[idx]``, ``x[idx] = v``, gather/scatter, index_select, masked_fill.

Reading with an index is differentiated by scatter-adding the gradient back
(repeated indices accumulate); writing is differentiated by zeroing the
written region for the old value and reading it for the new one.
"""

from __future__ import annotations

from .. import backend as B

from .. import dtypes

from ..autograd.graph import Node

from ._registry import op

from ._util import check_tensor, wrap_dim

from ..tensor import Tensor

xp = B.xp


# =========================================================================== ops
class Index(Node):
    """Advanced (copying) indexing; derivative scatter-adds (repeated indices accumulate)."""

    def forward(ctx, x, index):
        ctx.in_shape, ctx.index = x.shape, index
        return x[index]

    def backward(ctx, g):
        return IndexPutAccumulate.apply(g, shape=ctx.in_shape, index=ctx.index)


class IndexPutAccumulate(Node):
    """Zeros of ``shape`` with ``g`` added at ``index`` (the derivative of ``Index``)."""

    _bw_name = "IndexPutBackward0"

    def forward(ctx, g, shape, index):
        ctx.index = index
        out = xp.zeros(shape, dtype=g.dtype)
        xp.add.at(out, index, g)
        return out

    def backward(ctx, gg):
        return Index.apply(gg, index=ctx.index)


@op("indexing", nodes=(IndexPutAccumulate,))
def index_put(input, indices, values, accumulate=False):
    """A copy of ``input`` with ``values`` written at ``indices`` (added there with
    ``accumulate=True``, repeated indices adding up); ``indices`` is a tuple of tensors."""
    check_tensor(input, "index_put")
    index = _index_tuple(indices, "index_put")
    if accumulate:
        return input + _accumulated(input, index, values)
    out = input.clone()
    setitem(out, index, values)
    return out


@op("indexing", function=False, nodes=(IndexPutAccumulate,))
def index_put_(input, indices, values, accumulate=False):
    """In-place ``index_put``: ``input[indices] = values`` (or ``+=`` with ``accumulate``)."""
    check_tensor(input, "index_put_")
    index = _index_tuple(indices, "index_put_")
    if accumulate:
        return input.add_(_accumulated(input, index, values))
    setitem(input, index, values)
    return input


@op("indexing", inplace=True, nodes=(IndexPutAccumulate,))
def index_add(input, dim, index, source, *, alpha=1):
    """A copy of ``input`` with ``alpha * source`` added at ``index`` along ``dim``.

    ``index`` is 1-D with ``source.shape[dim]`` entries; repeated indices accumulate.
    """
    d = wrap_dim(dim, input._data.ndim)
    idx = (slice(None),) * d + (index._data.astype(xp.intp),)
    src = source * alpha if alpha != 1 else source
    return input + IndexPutAccumulate.apply(src, shape=input._data.shape, index=idx)


class IndexPut(Node):
    """``x[index] = v`` as a function of (x, v); the forward writes into x's storage."""

    def forward(ctx, x, v, index):
        ctx.index = index
        # NOTE: written in place on purpose (the caller rebases x onto this node);
        # the derivative needs neither the old nor the new values.
        x[index] = v
        return x

    def backward(ctx, g):
        n = ctx.needs_input_grad
        gx = IndexFillZero.apply(g, index=ctx.index) if n[0] else None
        gv = Index.apply(g, index=ctx.index) if n[1] else None
        return gx, gv


class IndexPutBasic(IndexPut):
    """``x[basic_index] = v``: PyTorch copies into a view, so the node is CopySlices."""

    _bw_name = "CopySlices"

    def name(self):
        return "torch::autograd::CopySlices"


class IndexFillZero(Node):
    _bw_name = "IndexPutBackward0"

    def forward(ctx, g, index):
        ctx.index = index
        out = g.copy()
        out[index] = 0
        return out

    def backward(ctx, gg):
        return IndexFillZero.apply(gg, index=ctx.index)


class GatherAlong(Node):
    """``out[i][j] = x[i][index[i][j]]`` along ``dim`` (torch.gather)."""

    _bw_name = "GatherBackward0"

    def forward(ctx, x, index, dim):
        ctx.in_shape, ctx.dim = x.shape, dim
        ctx.saved = (index,)
        if index.shape != x.shape:  # index may be smaller than x outside ``dim`` (as in torch)
            x = x[tuple(slice(None) if i == dim else slice(0, n) for i, n in enumerate(index.shape))]
        return xp.take_along_axis(x, index, axis=dim)

    def backward(ctx, g):
        (index,) = ctx.saved
        return ScatterAlong.apply(g, index=_raw(index), dim=ctx.dim, shape=ctx.in_shape), None


@op("indexing", nodes=(GatherAlong,))
def gather(input, dim, index, *, sparse_grad=False):
    """``out[i][j] = input[i][index[i][j]]`` for ``dim=1`` (and likewise for other dims)."""
    check_tensor(input, "gather")
    _check_index_tensor(index, "gather")
    d = wrap_dim(dim, input._data.ndim)
    if input._data.ndim == 0 and index._data.ndim == 0:
        return gather(input.reshape(1), 0, index.reshape(1)).reshape(())
    ix = index._data.astype(xp.intp, copy=False)
    if ix.ndim != input._data.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    n = input._data.shape[d]
    if ix.size and (ix.min() < -n or ix.max() >= n):
        bad = int(ix.max() if ix.max() >= n else ix.min())
        raise RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {n}")
    return GatherAlong.apply(input, ix, dim=d)


class ScatterAlong(Node):
    """Zeros of ``shape`` with ``g`` added at ``index`` along ``dim`` (derivative of gather)."""

    _bw_name = "ScatterAddBackward0"

    def forward(ctx, g, index, dim, shape):
        ctx.index, ctx.dim = index, dim
        out = xp.zeros(shape, dtype=g.dtype)
        _scatter_add_(out, dim, index, g)
        return out

    def backward(ctx, gg):
        return GatherAlong.apply(gg, ctx.index, dim=ctx.dim)


def _scatter_add_(out, dim, index, src):
    """``out[..., index[...], ...] += src`` along ``dim`` with repeated indices accumulating."""
    idx = list(xp.indices(index.shape, sparse=True))
    idx[dim] = index
    xp.add.at(out, tuple(idx), src[tuple(slice(0, n) for n in index.shape)])


def _pad_to(g, shape):
    """``g`` (index-shaped) zero-padded to ``shape`` (the src of scatter may be larger)."""
    if tuple(g.shape) == tuple(shape):
        return g
    from .shape import SliceScatter
    return SliceScatter.apply(g, shape=tuple(shape), index=tuple(slice(0, n) for n in g.shape))


class ScatterAdd(Node):
    def forward(ctx, x, index, src, dim):
        ctx.dim = dim
        ctx.saved = (index,)
        ctx.src_shape = src.shape
        out = x.copy()
        _scatter_add_(out, dim, index, src)
        return out

    def backward(ctx, g):
        (index,) = ctx.saved
        n = ctx.needs_input_grad
        gsrc = _pad_to(GatherAlong.apply(g, _raw(index), dim=ctx.dim), ctx.src_shape) if n[2] else None
        return g, None, gsrc


@op("indexing", inplace=True, nodes=(ScatterAdd,))
def scatter_add(input, dim, index, src):
    """A copy of ``input`` with each ``src[i][j]...`` added at position ``index[i][j]...`` along ``dim``.

    ``index`` has the same number of dims as ``input``; repeated positions accumulate.
    """
    check_tensor(input, "scatter_add")
    _check_index_tensor(index, "scatter")  # (PyTorch's message says scatter() here too)
    d = wrap_dim(dim, input._data.ndim)
    return ScatterAdd.apply(input, _scatter_index(input, index, d), src, dim=d)


class Scatter(Node):
    def forward(ctx, x, index, src, dim):
        ctx.dim = dim
        ctx.saved = (index,)
        ctx.src_shape = getattr(src, "shape", ())
        out = x.copy()
        idx = list(xp.indices(index.shape, sparse=True))
        idx[dim] = index
        if B.is_array(src):
            out[tuple(idx)] = src[tuple(slice(0, n) for n in index.shape)]
        else:
            out[tuple(idx)] = src
        return out

    def backward(ctx, g):
        (index,) = ctx.saved
        n = ctx.needs_input_grad
        idx = list(xp.indices(_raw(index).shape, sparse=True))
        idx[ctx.dim] = _raw(index)
        gx = IndexFillZero.apply(g, index=tuple(idx)) if n[0] else None
        gsrc = _pad_to(GatherAlong.apply(g, _raw(index), dim=ctx.dim), ctx.src_shape) \
            if len(n) > 2 and n[2] else None
        return gx, None, gsrc


class ScatterValue(Scatter):
    """``scatter(dim, index, value)`` with a scalar value."""

    _bw_name = "ScatterBackward1"


@op("indexing", inplace=True, nodes=(Scatter, ScatterValue))
def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """A copy of ``input`` with ``src`` (or ``value``) written at ``index`` along ``dim``.

    ``out[index[i][j]][j] = src[i][j]`` for ``dim=0``; ``reduce`` 'add'/'multiply' combines instead.
    """
    check_tensor(input, "scatter")
    _check_index_tensor(index, "scatter")
    if reduce is not None:
        if reduce == "add":
            return scatter_add(input, dim, index, src)
        raise NotImplementedError(f"scatter(reduce={reduce!r}) is not supported")
    d = wrap_dim(dim, input._data.ndim)
    if src is None:
        src = value
    if not isinstance(src, Tensor):
        src = xp.asarray(src, dtype=input._data.dtype)[()]
        return ScatterValue.apply(input, _scatter_index(input, index, d), src, dim=d)
    return Scatter.apply(input, _scatter_index(input, index, d), src, dim=d)


class IndexSelect(Node):
    def forward(ctx, x, index, dim):
        ctx.in_shape, ctx.dim = x.shape, dim
        ctx.saved = (index,)
        return xp.take(x, index, axis=dim)

    def backward(ctx, g):
        (index,) = ctx.saved
        idx = (slice(None),) * ctx.dim + (_raw(index),)
        return IndexPutAccumulate.apply(g, shape=ctx.in_shape, index=idx), None


@op("indexing", nodes=(IndexSelect,))
def index_select(input, dim, index):
    """The slices of ``input`` at the 1-D ``index`` along ``dim`` (a copy; ``shape[dim]`` becomes
    ``len(index)``).
    """
    check_tensor(input, "index_select")
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if index._data.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = wrap_dim(dim, input._data.ndim)
    ix = index._data.reshape(-1).astype(xp.intp, copy=False)
    n = input._data.shape[d] if input._data.ndim else 1
    if ix.size and (ix.min() < 0 or ix.max() >= n):
        raise IndexError("index out of range in self")
    return IndexSelect.apply(input, ix, dim=d)


class MaskedFill(Node):
    def forward(ctx, x, mask, value):
        ctx.saved = (mask,)
        return xp.where(mask, xp.asarray(value, dtype=x.dtype), x)

    def backward(ctx, g):
        (mask,) = ctx.saved
        from .elementwise import where_
        n = ctx.needs_input_grad
        gv = None
        if len(n) > 2 and n[2]:
            from .reduction import SumAll
            gv = SumAll.apply(where_(mask, g, 0.0), dims=tuple(range(len(g.shape))), keepdim=False)
        return where_(mask, 0.0, g), None, gv


def _raw(a):
    return a._data if isinstance(a, Tensor) else a


def _check_masks(items, shape):
    """PyTorch's IndexError for a bool mask whose shape differs from the dims it indexes."""
    if len(items) == 1:  # x[mask], the common case: the mask covers the leading dims
        m = items[0].shape
        if len(m) > len(shape) or shape[:len(m)] == m:
            return
    def width(item):  # how many dims of the (None-extended) tensor an index item covers
        if item is None or item is Ellipsis:
            return 0
        return item.ndim if B.is_array(item) and item.dtype == xp.bool_ else 1

    used = sum(width(i) for i in items)
    if used > len(shape):
        return  # NumPy's "too many indices" error follows, translated by the caller
    dims = list(shape)
    d = 0
    for item in items:
        if item is None:
            dims.insert(d, 1)  # PyTorch reports the shape with the new dims in it
            d += 1
        elif item is Ellipsis:
            d += len(shape) - used
        elif not B.is_array(item) and not isinstance(item, slice):
            del dims[d]  # an int selects first: PyTorch reports the shape without that dim
        else:
            if B.is_array(item) and item.dtype == xp.bool_:
                for j, m in enumerate(item.shape):
                    if m != dims[d + j]:
                        raise IndexError(
                            f"The shape of the mask {list(item.shape)} at index {j} does not match "
                            f"the shape of the indexed tensor {dims} at index {d + j}")
            d += width(item)


def _sequence_as_tuple(index):
    """PyTorch (and old NumPy) read a short list holding sequences, slices, tensors, None or
    ``...`` as a tuple of indices: ``x[[[0, 1], [2, 3]]]`` is ``x[[0, 1], [2, 3]]``."""
    if not isinstance(index, list) or len(index) >= 32:
        return False
    return any(isinstance(i, (list, tuple, slice, Tensor)) or i is None or i is Ellipsis for i in index)


# =========================================================================== index normalisation
def _normalize_index(index, shape):  # noqa: C901 - one branch per index kind, so the rules read in one place
    """Turn a user index into a backend index: tensors/lists -> arrays, bool masks -> positions.

    ``shape`` is the indexed tensor's: each bool mask must match the dims it covers
    (NumPy would read a shorter mask as positions and return a silently wrong result).
    Returns ``(index_tuple, is_basic)``; basic indices (ints, slices, None, ...) give views.
    """

    if _sequence_as_tuple(index):
        index = tuple(index)
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    basic = True
    masks = False
    for item in index:
        if isinstance(item, bool):  # True/False index like a 0-d bool mask (a new dim of 1 or 0)
            item = xp.asarray(item)
        if isinstance(item, Tensor):
            a = item._data
            if a.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            if a.ndim == 0 and a.dtype.kind in "iu":
                out.append(int(a))
                continue
            item = a
        elif isinstance(item, (list,)) :
            item = xp.asarray(item)
            if item.size == 0:
                item = item.astype(xp.int64)
            if item.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        if B.is_array(item):
            basic = False
            if item.dtype == xp.uint8:
                item = item.astype(bool)
            if item.dtype == xp.bool_:
                masks = masks or item.ndim > 0
                out.append(item)
            else:
                out.append(item.astype(xp.intp, copy=False))
        elif item is None or item is Ellipsis or isinstance(item, slice):
            if isinstance(item, slice) and item.step is not None and item.step <= 0:
                raise ValueError("step must be greater than zero")
            out.append(item)
        else:
            try:
                out.append(int(item.__index__()))
            except (AttributeError, TypeError):
                if isinstance(item, str):  # PyTorch tries to make a tensor of it
                    raise TypeError("new(): invalid data type 'str'") from None
                raise IndexError(
                    "only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                    f"Variables are valid indices (got {type(item).__name__})") from None
    if not masks:
        return tuple(out), basic
    _check_masks(out, shape)
    expanded = []
    for item in out:
        if B.is_array(item) and item.dtype == xp.bool_ and item.ndim:
            expanded.extend(item.nonzero())  # a mask is the positions of its True elements
        else:
            expanded.append(item)
    return tuple(expanded), False


def _basic_cls(index, idx, shape):
    """The node PyTorch's basic indexing ends with: the last view op it applies (select,
    slice, unsqueeze), or an alias when it applies none (``x[...]``, ``x[:, :]``)."""
    from .shape import Select, Slice, SliceAlias, SliceUnsqueeze
    if not isinstance(index, tuple) and not _sequence_as_tuple(index):
        item = idx[0]  # a single index: its op is always applied
        if item is Ellipsis:
            return SliceAlias
        if item is None:
            return SliceUnsqueeze
        return Slice if isinstance(item, slice) else Select
    consumed = sum(1 for i in idx if i is not None and i is not Ellipsis)
    dim, last = 0, SliceAlias
    for item in idx:
        if item is Ellipsis:
            dim += len(shape) - consumed
        elif item is None:
            last = SliceUnsqueeze
        elif isinstance(item, slice):
            if not (item.start in (None, 0) and item.step in (None, 1) and (
                    item.stop is None or (dim < len(shape) and item.stop >= shape[dim]))):
                last = Slice
            dim += 1
        else:
            last, dim = Select, dim + 1
    return last


def _torch_index_error(e, shape):
    msg = str(e).replace("axis", "dimension")
    if msg.startswith("too many indices for array"):
        if len(shape) == 0:
            msg = ("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                   "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
        else:
            msg = f"too many indices for tensor of dimension {len(shape)}"
    return IndexError(msg)


# =========================================================================== public API
def getitem(self, index):
    """``self[index]``: basic indices give views, tensors/lists/bool masks give copies."""
    idx, basic = _normalize_index(index, self._data.shape)
    try:
        if basic:
            return _basic_cls(index, idx, self._data.shape).apply(self, index=idx)
        return Index.apply(self, index=idx)
    except IndexError as e:
        raise _torch_index_error(e, self.shape) from None


def setitem(self, index, value):
    """``self[index] = value`` in place; autograd-aware (the old values stop receiving gradient)."""
    from . import inplace
    from ..autograd.grad_mode import state
    from .shape import SliceAlias
    idx, basic = _normalize_index(index, self._data.shape)
    if basic and self._requires_grad and self.grad_fn is None and state.enabled and \
            _basic_cls(index, idx, self._data.shape) is not SliceAlias:
        # PyTorch writes a basic index through a view (select/slice, then copy_)
        raise RuntimeError(
            "a view of a leaf Variable that requires grad is being used in an in-place operation.")
    self._check_inplace()
    if isinstance(value, Tensor):
        v = value
    else:
        v = Tensor._wrap(xp.asarray(value, dtype=self._data.dtype))
    if v._data.dtype != self._data.dtype:
        v = v.to(self.dtype)
    # (inplace._needs_graph is also where forward mode routes dual tensors through the op)
    graph = inplace._needs_graph(self, (v,))
    try:
        if not graph:
            self._data[idx] = v._data
            self._record_inplace("__setitem__")
            return
        # checked before recording: NumPy's own error inside the op would be less helpful
        if not self._data.flags.writeable:
            raise inplace.overlap_error()
        _check_value_shape(v, self._data[idx].shape)
        cls = IndexPutBasic if basic else IndexPut
        if self._base is not None:
            return inplace.on_view(self, lambda t: cls.apply(t, v, index=idx), "__setitem__")
        r = cls.apply(self, v, index=idx)
    except IndexError as e:
        raise _torch_index_error(e, self.shape) from None
    except ValueError as e:
        if "read-only" in str(e):
            raise inplace.overlap_error() from None
        if "could not broadcast" in str(e):  # PyTorch's expand error for the value
            from .shape import expand
            expand(v, self._data[idx].shape)
        raise RuntimeError(f"__setitem__: {e}") from None
    inplace.rebase(self, r, "__setitem__")


def _check_value_shape(v, target):
    """PyTorch's expand error for a value ``v`` that NumPy could not write into positions of
    shape ``target`` (NumPy, like PyTorch, drops the value's leading dims of size 1)."""
    shape = tuple(v._data.shape)
    while len(shape) > len(target) and shape[0] == 1:
        shape = shape[1:]
    # strict=False: when the value has fewer dims, only its trailing dims are compared
    if len(shape) > len(target) or any(
            s not in (1, t) for s, t in zip(shape[::-1], target[::-1], strict=False)):
        from .shape import expand
        expand(v, target)  # raises PyTorch's message


def _check_index_tensor(index, name):
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")


def _scatter_index(input, index, d):
    """The index of scatter/scatter_add as an intp array, bounds-checked like PyTorch."""
    ix = index._data.astype(xp.intp, copy=False)
    n = input._data.shape[d] if input._data.ndim else 1
    if ix.size and (ix.min() < 0 or ix.max() >= n):
        bad = int(ix.max() if ix.max() >= n else ix.min())
        raise RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {n}")
    return ix


def _cpp_name(d):
    from ..tensor import _CPP_NAMES
    return _CPP_NAMES.get(d.name, d.name)


class MaskedFillTensor(MaskedFill):
    _bw_name = "MaskedFillBackward1"


@op("indexing", inplace=True, nodes=(MaskedFill, MaskedFillTensor))
def masked_fill(input, mask, value):
    """``value`` where ``mask`` is True (mask broadcasts to input's shape)."""
    check_tensor(input, "masked_fill")
    if not isinstance(mask, Tensor) or mask._data.dtype != xp.bool_:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype "
            f"{_cpp_name(mask.dtype) if isinstance(mask, Tensor) else type(mask).__name__}")
    try:
        xp.broadcast_shapes(mask._data.shape, input._data.shape)
    except ValueError:
        raise RuntimeError(
            f"The size of tensor a ({input.shape[-1] if input.ndim else 1}) must match the size of "
            f"tensor b ({mask.shape[-1] if mask.ndim else 1}) at non-singleton dimension") from None
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value._data.ndim} dimension(s).")
        v = value.to(input.dtype) if value._data.dtype != input._data.dtype else value
        return MaskedFillTensor.apply(input, mask, v)
    return MaskedFill.apply(input, mask, value)


class MaskedSelect(Index):
    _bw_name = "MaskedSelectBackward0"


@op("indexing", nodes=(MaskedSelect,))
def masked_select(input, mask):
    """The elements of ``input`` where ``mask`` is True (the two broadcast), as a 1-D tensor."""
    check_tensor(input, "masked_select")
    check_tensor(mask, "masked_select", "mask", 2)
    if mask._data.dtype != xp.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    err = B.broadcast_error([mask._data.shape, input._data.shape])
    if err is not None:
        raise err
    shape = xp.broadcast_shapes(input._data.shape, mask._data.shape)
    if input._data.shape != shape:
        input = input.expand(shape)
    m = xp.broadcast_to(mask._data, shape)
    return MaskedSelect.apply(input, index=tuple(m.nonzero()))


class Take(Index):
    _bw_name = "TakeBackward0"


@op("indexing", nodes=(Take,))
def take(input, index):
    """``input.reshape(-1)[index]`` (the result has the shape of ``index``)."""
    _check_index_tensor(index, "take")
    flat = input.reshape(-1)
    ix = index._data.astype(xp.intp, copy=False)
    n = flat._data.size
    if ix.size and (ix.min() < -n or ix.max() >= n):
        bad = int(ix.max() if ix.max() >= n else ix.min())
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    return Take.apply(flat, index=(ix,))


def _index_tuple(indices, fn):
    """``indices`` of index_put as an index for ``x[...]``: a tuple or list of tensors."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"{fn}(): argument 'indices' (position 1) must be tuple of Tensors, "
                        f"not {type(indices).__name__}")
    for i in indices:
        if i is not None and not isinstance(i, Tensor):
            raise TypeError(f"{fn}(): argument 'indices' (position 1) must be tuple of Tensors, "
                            f"not {type(i).__name__}")
    return tuple(slice(None) if i is None else i for i in indices)


def _accumulated(input, index, values):
    """Zeros of input's shape with ``values`` added at ``index`` (repeats add up)."""
    idx, _ = _normalize_index(index, input._data.shape)
    try:
        target = input._data[idx].shape
    except IndexError as e:
        raise _torch_index_error(e, input.shape) from None
    if not isinstance(values, Tensor):
        values = Tensor._wrap(xp.asarray(values, dtype=input._data.dtype))
    elif values._data.dtype != input._data.dtype:
        values = values.to(input.dtype)
    if tuple(values.shape) != target:
        from .shape import expand
        values = expand(values, target)
    return IndexPutAccumulate.apply(values, shape=input._data.shape, index=idx)


@op("indexing")
def nonzero(input, *, as_tuple=False):
    """The indices of the non-zero elements: an ``(n, input.ndim)`` int64 tensor, or a tuple of
    ``ndim`` 1-D tensors with ``as_tuple=True``.
    """
    nz = xp.nonzero(input._data) if input._data.ndim else xp.nonzero(input._data.reshape(1))
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(xp.int64)) for i in nz)
    return Tensor._wrap(xp.stack(nz, axis=1).astype(xp.int64) if nz else xp.zeros((0, 0), xp.int64))


@op("indexing")
def argwhere(input):
    """The indices of the non-zero elements as an ``(n, input.ndim)`` int64 tensor."""
    return nonzero(input)


def one_hot(tensor, num_classes=-1):
    a = tensor._data
    if a.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        num_classes = int(a.max()) + 1 if a.size else 0
    if a.size and (a.min() < 0 or a.max() >= num_classes):
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = xp.zeros(a.shape + (num_classes,), dtype=xp.int64)
    xp.put_along_axis(out, a[..., None].astype(xp.intp), 1, axis=-1)
    return Tensor._wrap(out)


def _dtype_ok(dt):
    return dtypes.from_np(dt)


# =========================================================================== composites
@op("indexing")
def take_along_dim(input, indices, dim=None):
    """``input`` gathered at ``indices`` along ``dim``, the other dims broadcast between the
    two (``numpy.take_along_axis``); without ``dim``, from the flattened input."""
    check_tensor(input, "take_along_dim")
    if dim is None:
        return input.reshape(-1).gather(0, indices.reshape(-1))
    if input.ndim != indices.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of "
                           f"dimensions, but got {input.ndim} dimensions for input, and {indices.ndim} "
                           "dimensions for indices")
    dim = wrap_dim(dim, input.ndim)
    a, b = list(input.shape), list(indices.shape)
    a[dim] = b[dim] = 1
    common = list(xp.broadcast_shapes(tuple(a), tuple(b)))
    return input.expand(*common[:dim], input.shape[dim], *common[dim + 1:]).gather(
        dim, indices.expand(*common[:dim], indices.shape[dim], *common[dim + 1:]))


_COUNTS_FORM = object()   # repeat_interleave(counts): no ``repeats`` given (None is refused, as torch)


@op("indexing")
def repeat_interleave(input, repeats=_COUNTS_FORM, dim=None, *, output_size=None):
    """Each element (or slice along ``dim``) repeated ``repeats`` times in place, ``repeats`` an
    int or one count per element; without ``dim`` the input is flattened first. With only a
    1-D integer tensor of counts, the indices repeated by them."""
    check_tensor(input, "repeat_interleave")
    if repeats is _COUNTS_FORM:
        counts = _checked_counts(input._data)
        if counts.ndim != 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        return Tensor._wrap(xp.repeat(xp.arange(counts.size, dtype=xp.int64), counts))
    if isinstance(repeats, bool) or not isinstance(repeats, (int, Tensor)):
        raise TypeError(f"repeat_interleave() received an invalid combination of arguments - got "
                        f"(Tensor, {type(repeats).__name__}), but expected one of:")
    if dim is None:
        input, dim = input.reshape(-1), 0
    dim = wrap_dim(dim, input.ndim)
    n = input.shape[dim]
    if isinstance(repeats, int):
        if repeats < 0:
            raise RuntimeError("Repeats must be non-negative")
        counts = repeats
    else:
        counts = _checked_counts(repeats._data)
        if counts.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        if counts.size not in (1, n):
            raise RuntimeError("repeats must have the same size as input along dim, but got "
                               f"repeats.size(0) = {counts.size} and input.size({dim}) = {n}")
        counts = counts.reshape(-1) if counts.size == n else int(counts.reshape(-1)[0])
    index = xp.repeat(xp.arange(n, dtype=xp.int64), counts)
    return input.index_select(dim, Tensor._wrap(index))


def _checked_counts(counts):
    """A tensor of repeat counts: integers, none negative (torch's errors otherwise)."""
    if counts.dtype.kind not in "iu":
        from .reduction import _cap
        raise NotImplementedError(f"\"repeat_interleave_cpu\" not implemented for "
                                  f"'{_cap(dtypes.from_np(counts.dtype))}'")
    if counts.size and counts.min() < 0:
        raise RuntimeError("repeats can not be negative")
    return counts

"""Shape ops: views, broadcasting, joining and splitting.

Each op's forward and its derivative sit side by side. The derivative of a
broadcast (``expand``) is a sum back to the input shape (``sum_to``).
"""

from __future__ import annotations

from .. import backend as B

from ..autograd.graph import Node

from ._registry import op

from ._util import as_shape, check_tensor, wrap_dim, wrap_dims

from ..tensor import Tensor

xp = B.xp


# ----------------------------------------------------------------- dual-mode helpers


# Used inside backward formulas: on arrays they compute, on tensors they record.
def reshape_(x, shape):
    return View.apply(x, shape=tuple(shape))


def expand_(x, shape):
    return Expand.apply(x, shape=tuple(shape))


def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` (undoing broadcasting); records a node on tensors."""
    shape = tuple(shape)
    if tuple(x.shape) == shape:
        return x
    return SumTo.apply(x, shape=shape)


# ----------------------------------------------------------------- views


class View(Node):
    is_view = True

    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    def backward(ctx, g):
        return reshape_(g, ctx.in_shape)


@op("view", function=False, nodes=(View,))
def view(input, *shape):
    """A view with a new shape; raises if the strides do not allow one (use ``reshape``)."""
    from .. import dtypes
    if (len(shape) == 1 and isinstance(shape[0], (dtypes.dtype, str))
            and not isinstance(shape[0], (list, tuple))):
        return _view_dtype(input, dtypes.as_dtype(shape[0]))
    shape = _infer_shape(as_shape(shape), input._data.size)
    if not _viewable(input._data, shape):
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    return View.apply(input, shape=shape)


@op("view", nodes=(View,))
def unflatten(input, dim, sizes):
    """A view with dim ``dim`` split into ``sizes`` (one entry may be -1).

    >>> torch.zeros(2, 6).unflatten(1, (2, 3)).shape
    torch.Size([2, 2, 3])
    """
    nd = input._data.ndim
    d = wrap_dim(dim, nd)
    shp = input._data.shape
    sizes = tuple(sizes)
    inner = _infer_shape(sizes, shp[d])
    return View.apply(input, shape=shp[:d] + inner + shp[d + 1:])


class Reshape(View):
    # NOTE: torch names it ViewBackward0 when the result is a view, _UnsafeViewBackward0
    # when it had to copy; both differentiate the same way.
    _bw_name = "ViewBackward0"


class UnsafeView(View):
    _bw_name = "UnsafeViewBackward0"
    is_view = False


@op("view", nodes=(View, Reshape, UnsafeView))
def reshape(input, *shape):
    """Same data with a new shape; a view when the strides allow it, else a copy.

    >>> tapegrad.arange(6).reshape(2, -1).shape
    torch.Size([2, 3])
    """
    check_tensor(input, "reshape")
    shape = _infer_shape(as_shape(shape), input._data.size)
    if shape == input._data.shape:
        return View.apply(input, shape=shape) if input._requires_grad else _alias(input)
    cls = Reshape if _viewable(input._data, shape) else UnsafeView
    return cls.apply(input, shape=shape)


class Expand(Node):
    is_view = True

    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return xp.broadcast_to(x, shape)

    def backward(ctx, g):
        return sum_to(g, ctx.in_shape)


@op("view", function=False, nodes=(Expand,))
def expand(input, *sizes):
    """A view with size-1 dims repeated to ``sizes`` (-1 keeps a dim; new dims go in front), no copy."""
    sizes = as_shape(sizes)
    shp = input._data.shape
    nd = len(shp)
    if len(sizes) < nd:
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(shp)}}}, size={list(sizes)}): the number of sizes "
            f"provided ({len(sizes)}) must be greater or equal to the number of dimensions in the "
            f"tensor ({nd})")
    lead = len(sizes) - nd
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(
                    f"The expanded size of the tensor ({s}) isn't allowed in a leading, "
                    "non-existing dimension 0")
            target.append(s)
            continue
        cur = shp[i - lead]
        if s == -1:
            s = cur
        elif cur != s and cur != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(shp)}")
        target.append(s)
    target = tuple(target)
    return Expand.apply(input, shape=target)


class SumTo(Node):
    _bw_name = "SumBackward1"

    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return B.sum_to(x, shape)

    def backward(ctx, g):
        return expand_(g, ctx.in_shape)


class Permute(Node):
    is_view = True

    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    def backward(ctx, g):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return Permute.apply(g, dims=tuple(inv))


@op("view", nodes=(Permute,))
def permute(input, *dims):
    """A view with the dims reordered: ``out.shape[i] == input.shape[dims[i]]``."""
    dims = as_shape(dims)
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal "
            f"to len(dims) = {len(dims)}".replace("(sparse_coo)", ""))
    w = tuple(wrap_dim(d, nd) for d in dims)
    if len(set(w)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(input, dims=w)


@op("view", nodes=(Permute,), aliases=("moveaxis",))
def movedim(input, source, destination):
    """A view with dims ``source`` moved to positions ``destination``, the others keeping their order."""
    nd = input._data.ndim
    src = wrap_dims(source if isinstance(source, (tuple, list)) else (source,), nd)
    dst = wrap_dims(destination if isinstance(destination, (tuple, list)) else (destination,), nd)
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should contain "
            f"the same number of dims as destination ({list(dst)} dims)")
    order = [d for d in range(nd) if d not in src]
    for s, d in sorted(zip(dst, src, strict=True)):
        order.insert(s, d)
    return Permute.apply(input, dims=tuple(order))


class Transpose(Permute):
    pass


@op("view", aliases=("swapaxes", "swapdims"), nodes=(View, Transpose))
def transpose(input, dim0, dim1):
    """A view with dims ``dim0`` and ``dim1`` swapped; ``swapaxes``/``swapdims`` are the same function."""
    nd = input._data.ndim
    if nd == 0:
        return _alias(input)
    a, b = wrap_dim(dim0, nd), wrap_dim(dim1, nd)
    dims = list(range(nd))
    dims[a], dims[b] = dims[b], dims[a]
    return Transpose.apply(input, dims=tuple(dims))


class T(Permute):
    pass


@op("view", nodes=(T,))
def t(input):
    """The transpose of a 2-D tensor (a 0-D or 1-D tensor is returned as it is), as a view."""
    nd = input._data.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    return T.apply(input, dims=tuple(range(nd - 1, -1, -1)))


class Squeeze(View):
    _bw_name = "SqueezeBackward0"


class SqueezeDim(View):
    _bw_name = "SqueezeBackward1"


class SqueezeDims(View):
    _bw_name = "SqueezeBackward2"


@op("view", nodes=(Squeeze, SqueezeDim, SqueezeDims))
def squeeze(input, dim=None):
    """A view without the size-1 dims (only those among ``dim`` when given)."""
    shp = input._data.shape
    if dim is None:
        return Squeeze.apply(input, shape=tuple(s for s in shp if s != 1))
    multi = isinstance(dim, (tuple, list))
    dims = wrap_dims(dim, input._data.ndim) if multi else (wrap_dim(dim, input._data.ndim),)
    new = tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1))
    return (SqueezeDims if multi else SqueezeDim).apply(input, shape=new)


class Unsqueeze(View):
    _bw_name = "UnsqueezeBackward0"


@op("view", nodes=(Unsqueeze,))
def unsqueeze(input, dim):
    """A view with a size-1 dim inserted at ``dim`` (``-1``: at the end)."""
    nd = input._data.ndim
    d = wrap_dim(dim, nd + 1)
    shp = input._data.shape
    return Unsqueeze.apply(input, shape=shp[:d] + (1,) + shp[d:])


class Slice(Node):
    """Basic (view) indexing: ints, slices, None, Ellipsis; also ``narrow``."""

    _bw_name = "SliceBackward0"
    is_view = True

    def forward(ctx, x, index):
        ctx.in_shape = x.shape
        ctx.index = index
        out = x[index]
        if not isinstance(out, xp.ndarray):
            # NumPy returns a scalar copy for an all-int index; PyTorch returns a 0-d view
            out = x[index + (Ellipsis,)]
        return out

    def backward(ctx, g):
        return SliceScatter.apply(g, shape=ctx.in_shape, index=ctx.index)


@op("view", nodes=(Slice,))
def narrow(input, dim, start, length):
    """A view of ``length`` elements of dim ``dim`` from ``start``."""
    nd = input._data.ndim
    d = wrap_dim(dim, nd)
    n = input._data.shape[d]
    start = int(start)
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return Slice.apply(input, index=(slice(None),) * d + (slice(start, start + length),))


class Select(Slice):
    _bw_name = "SelectBackward0"


@op("view", nodes=(Select,))
def select(input, dim, index):
    """A view of index ``index`` of dim ``dim``, that dim removed (``x.select(0, i)`` is ``x[i]``)."""
    nd = input._data.ndim
    d = wrap_dim(dim, nd)
    n = input._data.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(input._data.shape)} at dimension {d}")
    return Select.apply(input, index=(slice(None),) * d + (index % n,))


class SliceAlias(Slice):
    """``x[...]``, ``x[:, :]``: indexing that applies no view op (PyTorch's alias)."""

    _bw_name = "AliasBackward0"


class SliceUnsqueeze(Slice):
    """Basic indexing whose last step is a ``None`` (PyTorch's unsqueeze)."""

    _bw_name = "UnsqueezeBackward0"


class SliceScatter(Node):
    """Zeros of ``shape`` with ``g`` written at ``index`` (the derivative of a slice)."""

    _bw_name = "SliceScatterBackward0"

    def forward(ctx, g, shape, index):
        ctx.index = index
        out = xp.zeros(shape, dtype=g.dtype)
        out[index] = g
        return out

    def backward(ctx, gg):
        return Slice.apply(gg, index=ctx.index)


class Flip(Node):
    def forward(ctx, x, dims):
        ctx.dims = dims
        return xp.flip(x, dims).copy()

    def backward(ctx, g):
        return Flip.apply(g, dims=ctx.dims)


@op("shape", nodes=(Flip,))
def flip(input, dims):
    """A copy with the order of the elements reversed along each dim of ``dims``."""
    dims = wrap_dims(dims if isinstance(dims, (tuple, list)) else (dims,), input._data.ndim)
    return Flip.apply(input, dims=dims if input._data.ndim else ())


class Roll(Node):
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return xp.roll(x, shifts, dims)

    def backward(ctx, g):
        neg = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return Roll.apply(g, shifts=neg, dims=ctx.dims)


@op("shape", nodes=(Roll,))
def roll(input, shifts, dims=None):
    """A copy with the elements shifted by ``shifts`` along ``dims`` (those leaving one end enter the
    other); without ``dims`` the flattened tensor is rolled and reshaped.
    """
    if dims is None:
        # NumPy's roll with axis=None flattens, rolls and restores the shape (one RollBackward0)
        s = shifts if isinstance(shifts, int) else tuple(shifts)
        if isinstance(s, tuple) and len(s) == 1:
            s = s[0]
        return Roll.apply(input, shifts=s, dims=None)
    if isinstance(shifts, int):
        shifts = (shifts,)
    if isinstance(dims, int):
        dims = (dims,)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    return Roll.apply(input, shifts=tuple(shifts), dims=wrap_dims(dims, input._data.ndim, allow_dup=True))


class Repeat(Node):
    def forward(ctx, x, repeats):
        ctx.in_shape = x.shape
        ctx.repeats = repeats
        lead = len(repeats) - x.ndim
        return xp.tile(x.reshape((1,) * lead + x.shape), repeats)

    def backward(ctx, g):
        # Each output axis of size r*s is viewed as (r, s) and the r copies are summed.
        shape = ctx.in_shape
        lead = len(ctx.repeats) - len(shape)
        full = (1,) * lead + tuple(shape)
        split = []
        for r, s in zip(ctx.repeats, full, strict=True):  # full is padded to len(repeats)
            split += [r, s]
        g = reshape_(g, split)
        g = Sum.apply(g, dims=tuple(range(0, 2 * len(full), 2)), keepdim=False)
        return reshape_(g, shape)


@op("shape", function=False, nodes=(Repeat,))
def repeat(input, *sizes):
    """A copy tiled ``sizes`` times along each dim (extra leading sizes add dims), like ``numpy.tile``."""
    sizes = as_shape(sizes)
    if len(sizes) < input._data.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    return Repeat.apply(input, repeats=tuple(sizes))


class Cat(Node):
    promote = True

    def forward(ctx, *xs, dim):
        ctx.dim = dim
        # legacy 1-D empty tensors next to higher-dimensional ones are skipped (they still
        # get a gradient, of their own shape (0,), like in PyTorch)
        nd = max(x.ndim for x in xs)
        skip = [nd > 1 and x.ndim == 1 and x.shape[0] == 0 for x in xs]
        ctx.sizes = [None if k else x.shape[dim] for x, k in zip(xs, skip, strict=True)]
        return xp.concatenate([x for x, k in zip(xs, skip, strict=True) if not k], axis=dim)

    def backward(ctx, g):
        out = []
        start = 0
        for n in ctx.sizes:
            if n is None:
                out.append(reshape_(Slice.apply(g, index=(slice(0, 0),) * len(g.shape)), (0,)))
                continue
            idx = (slice(None),) * ctx.dim + (slice(start, start + n),)
            out.append(Slice.apply(g, index=idx))
            start += n
        return tuple(out)


@op("shape", method=False, aliases=("concat", "concatenate"), nodes=(Cat,))
def cat(tensors, dim=0, *, out=None):
    """Join tensors along an existing dimension (1-D empty tensors are skipped, like torch)."""
    _check_cat(tensors, "cat")
    ts = [t for t in tensors if not (t._data.ndim == 1 and t._data.shape[0] == 0)] or list(tensors[:1])
    ref = ts[0]
    nd = ref._data.ndim
    if nd == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = wrap_dim(dim, nd)
    for i, t in enumerate(ts):
        if t._data.ndim != nd:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {nd} and {t._data.ndim}")
        for k in range(nd):
            if k != d and t._data.shape[k] != ref._data.shape[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref._data.shape[k]} but got size {t._data.shape[k]} for tensor number {i} "
                    "in the list.")
    return Cat.apply(*(tensors if nd > 1 else ts), dim=d)


class Stack(Node):
    promote = True

    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return xp.stack(xs, axis=dim)

    def backward(ctx, g):
        return tuple(Select.apply(g, index=(slice(None),) * ctx.dim + (i,))
                     for i in range(g.shape[ctx.dim]))


@op("shape", method=False, nodes=(Stack,))
def stack(tensors, dim=0, *, out=None):
    """Join tensors along a new dimension."""
    _check_cat(tensors, "stack")
    ref = tensors[0]
    for i, t in enumerate(tensors):
        if t._data.shape != ref._data.shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(ref._data.shape)} at "
                f"entry 0 and {list(t._data.shape)} at entry {i}")
    d = wrap_dim(dim, ref._data.ndim + 1)
    return Stack.apply(*tensors, dim=d)


class Split(Node):
    multi_output = True
    is_view = True

    def forward(ctx, x, sizes, dim):
        ctx.dim, ctx.sizes, ctx.in_shape = dim, sizes, x.shape
        out, start = [], 0
        for n in sizes:
            out.append(x[(slice(None),) * dim + (slice(start, start + n),)])
            start += n
        return tuple(out)

    def backward(ctx, *grads):
        parts = []
        # the engine hands one gradient slot per output (node.n_out), one output per size
        for g, n in zip(grads, ctx.sizes, strict=True):
            if g is None:
                shape = list(ctx.in_shape)
                shape[ctx.dim] = n
                g = _zeros_like_grad(grads, shape)
            parts.append(g)
        return Cat.apply(*parts, dim=ctx.dim)


@op("view", nodes=(Split,))
def tensor_split(input, indices_or_sections, dim=0):
    """Views of ``input`` split along ``dim`` into ``n`` near-equal parts or at the given indices."""
    d = wrap_dim(dim, input._data.ndim)
    n = input._data.shape[d]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    else:
        idx = [0] + [min(max(int(i), 0), n) for i in indices_or_sections] + [n]
        sizes = [max(b - a, 0) for a, b in zip(idx, idx[1:], strict=False)]  # pairwise
    return Split.apply(input, sizes=tuple(sizes), dim=d)


class SplitWithSizes(Split):
    _bw_name = "SplitWithSizesBackward0"


@op("view", nodes=(Split, SplitWithSizes))
def split(tensor, split_size_or_sections, dim=0):
    """Split into chunks of ``split_size`` (last may be smaller) or of the listed sizes."""
    nd = tensor._data.ndim
    d = wrap_dim(dim, nd)
    n = tensor._data.shape[d]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s <= 0 and not (s == 0 and n == 0):
            raise RuntimeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
    else:
        sizes = [int(x) for x in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                f"at dimension {d}), but got split_sizes={sizes}")
        return SplitWithSizes.apply(tensor, sizes=tuple(sizes), dim=d)
    return Split.apply(tensor, sizes=tuple(sizes), dim=d)


class Unbind(Node):
    multi_output = True
    is_view = True

    def forward(ctx, x, dim):
        ctx.dim, ctx.in_shape = dim, x.shape
        # the Ellipsis keeps 0-d results views (NumPy gives scalar copies for x[i] of 1-D x)
        return tuple(x[(slice(None),) * dim + (i, Ellipsis)] for i in range(x.shape[dim]))

    def backward(ctx, *grads):
        shape = list(ctx.in_shape)
        del shape[ctx.dim]
        parts = [g if g is not None else _zeros_like_grad(grads, shape) for g in grads]
        return Stack.apply(*parts, dim=ctx.dim)


@op("view", nodes=(Unbind,))
def unbind(input, dim=0):
    """The slices along ``dim``, as a tuple of views, that dim removed."""
    d = wrap_dim(dim, input._data.ndim)
    return Unbind.apply(input, dim=d)


def _zeros_like_grad(grads, shape):
    ref = next(g for g in grads if g is not None)
    if isinstance(ref, Tensor):
        return Tensor._wrap(xp.zeros(shape, dtype=ref._data.dtype))
    return xp.zeros(shape, dtype=ref.dtype)


class Clone(Node):
    def forward(ctx, x):
        return x.copy()

    def backward(ctx, g):
        return g


@op("shape", function=False, nodes=(Clone,))
def contiguous(input, memory_format=None):
    """``input`` itself when contiguous, else a contiguous copy."""
    if input._data.flags.c_contiguous:
        return input
    return Clone.apply(input)


@op("shape", nodes=(Clone,))
def clone(input, *, memory_format=None):
    """A copy of ``input`` with its own storage; gradients flow back to ``input``."""
    return Clone.apply(input)


from .reduction import Sum  # noqa: E402  (Repeat's derivative sums; reduction imports us)


# ----------------------------------------------------------------- composites (no node of their own)


def _infer_shape(shape, numel, what="view"):
    shape = list(shape)
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for i, s in enumerate(shape):
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape {shape}")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if neg:
        if known == 0 and numel == 0:
            raise RuntimeError(
                f"cannot reshape tensor of 0 elements into shape {shape} because the unspecified "
                "dimension size -1 can be any value and is ambiguous")
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{shape}' is invalid for input of size {numel}")
        shape[neg[0]] = numel // known
    elif known != numel:
        raise RuntimeError(f"shape '{shape}' is invalid for input of size {numel}")
    return tuple(shape)


def _alias(t):
    return View.apply(t, shape=t._data.shape)


def _viewable(a, shape):
    try:
        v = a.view()
        v.shape = shape
        return True
    except AttributeError:
        return False


def _view_dtype(input, d):
    if input._requires_grad:
        raise RuntimeError("view(dtype) is not differentiable")
    return Tensor._wrap(input._data.view(d.np))


@op("view", function=False)
def view_as(input, other):
    """``input.view(other.shape)``."""
    return view(input, other.shape)


@op("view", function=False)
def reshape_as(input, other):
    """``input.reshape(other.shape)``."""
    return reshape(input, other.shape)


@op("view")
def flatten(input, start_dim=0, end_dim=-1):
    """``input`` with dims ``start_dim`` to ``end_dim`` merged into one (a view when possible).

    >>> torch.zeros(2, 3, 4).flatten(1).shape
    torch.Size([2, 12])
    """
    nd = input._data.ndim
    if nd == 0:
        return reshape(input, 1)
    s, e = wrap_dim(start_dim, nd), wrap_dim(end_dim, nd)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    shp = input._data.shape
    n = 1
    for d in shp[s:e + 1]:
        n *= d
    return reshape(input, shp[:s] + (n,) + shp[e + 1:])


@op("view", function=False)
def expand_as(input, other):
    """``input.expand(other.shape)``."""
    return expand(input, other.shape)


@op("view")
def broadcast_to(input, size):
    """A view of ``input`` broadcast to ``size`` (the same as :func:`expand`)."""
    return expand(input, tuple(size))


@op("other", method=False)
def broadcast_shapes(*shapes):
    """The shape the given shapes broadcast to, as a ``torch.Size`` (no tensor involved)."""
    try:
        return __import__("tapegrad").Size(xp.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise RuntimeError(
            f"Shape mismatch: objects cannot be broadcast to a single shape: {shapes}") from None
    except TypeError:
        raise TypeError(f"broadcast_shapes(): expected shapes (ints or sequences of ints), got "
                        f"{', '.join(type(s).__name__ for s in shapes)}") from None


@op("view", method=False)
def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape, as views."""
    shape = broadcast_shapes(*[t.shape for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


def _check_cat(tensors, name):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, "
                        f"not {type(tensors).__name__}")
    if len(tensors) == 0:
        if name == "stack":
            raise RuntimeError("stack expects a non-empty TensorList")
        raise ValueError(f"torch.{name}(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")


@op("shape", method=False)
def hstack(tensors):
    """Tensors concatenated along dim 1 (dim 0 for 1-D tensors)."""
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


@op("shape", method=False)
def vstack(tensors):
    """Tensors concatenated along dim 0, 1-D tensors first made rows ``(1, n)``."""
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


@op("shape", method=False)
def column_stack(tensors):
    """Tensors side by side as columns: 0-D and 1-D ones become ``(n, 1)`` columns first."""
    if not tensors:
        raise RuntimeError("column_stack expects a non-empty TensorList")
    return cat([t.reshape(-1, 1) if t.ndim < 2 else t for t in tensors], 1)


@op("shape", method=False)
def dstack(tensors):
    """Tensors concatenated along dim 2 (depth), each first made at least 3-D."""
    if not tensors:
        raise RuntimeError("dstack expects a non-empty TensorList")
    return cat(atleast_3d(*tensors) if len(tensors) > 1 else [atleast_3d(tensors[0])], 2)


def _split_along(input, sections, dim, name, min_dims):
    """hsplit/vsplit/dsplit: :func:`tensor_split` along ``dim``, with numpy's rule (and torch's
    errors) that an int must divide that dim exactly."""
    check_tensor(input, name)
    if input.ndim < min_dims:
        raise RuntimeError(f"torch.{name} requires a tensor with at least {min_dims} dimension, but "
                           f"got a tensor with {input.ndim} dimensions!")
    if isinstance(sections, int) and (sections == 0 or input.shape[dim] % sections):
        raise RuntimeError(f"torch.{name} attempted to split along dimension {dim}, but the size of "
                           f"the dimension {input.shape[dim]} is not divisible by the split_size "
                           f"{sections}!")
    return tensor_split(input, sections, dim)


@op("view")
def hsplit(input, indices_or_sections):
    """Split along dim 1 (dim 0 for a 1-D tensor): into equal parts, or at the given indices."""
    check_tensor(input, "hsplit")
    return _split_along(input, indices_or_sections, 1 if input.ndim > 1 else 0, "hsplit", 1)


@op("view")
def vsplit(input, indices_or_sections):
    """Split along dim 0 (at least 2-D): into equal parts, or at the given indices."""
    return _split_along(input, indices_or_sections, 0, "vsplit", 2)


@op("view")
def dsplit(input, indices_or_sections):
    """Split along dim 2 (at least 3-D): into equal parts, or at the given indices."""
    return _split_along(input, indices_or_sections, 2, "dsplit", 3)


@op("view")
def chunk(input, chunks, dim=0):
    """Up to ``chunks`` views along ``dim``, each ``ceil(size / chunks)`` long but the last."""
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    n = input._data.shape[wrap_dim(dim, input._data.ndim)]
    size = -(-n // chunks) if n else 0
    if size == 0:
        return split(input, [0] * 1 if n == 0 else [], dim) if n == 0 else ()
    return split(input, size, dim)


@op("shape")
def fliplr(input):
    """``flip(input, [1])``: left and right swapped (at least 2-D)."""
    return flip(input, (1,))


@op("shape")
def flipud(input):
    """``flip(input, [0])``: up and down swapped (at least 1-D)."""
    return flip(input, (0,))


def _atleast(tensors, fn):
    """``fn`` applied to one tensor, or to each of several (a tuple back, as torch)."""
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return fn(tensors[0])
    seq = tensors[0] if len(tensors) == 1 else tensors
    return tuple(fn(t) for t in seq)


@op("view", method=False)
def atleast_1d(*tensors):
    """A 0-D tensor as shape ``(1,)``; others unchanged (one tensor, or several: a tuple)."""
    return _atleast(tensors, lambda t: reshape(t, 1) if t.ndim == 0 else t)


@op("view", method=False)
def atleast_2d(*tensors):
    """0-D as ``(1, 1)``, 1-D ``(n,)`` as ``(1, n)``; others unchanged (several: a tuple)."""
    return _atleast(tensors, lambda t: t if t.ndim >= 2 else
                    (reshape(t, 1, 1) if t.ndim == 0 else unsqueeze(t, 0)))


@op("view", method=False)
def atleast_3d(*tensors):
    """0-D as ``(1, 1, 1)``, ``(n,)`` as ``(1, n, 1)``, ``(m, n)`` as ``(m, n, 1)``; others
    unchanged (several: a tuple)."""
    def up(t):
        if t.ndim == 0:
            return reshape(t, 1, 1, 1)
        if t.ndim == 1:
            return unsqueeze(unsqueeze(t, 0), 2)
        return unsqueeze(t, 2) if t.ndim == 2 else t
    return _atleast(tensors, up)


@op("shape")
def tile(input, dims):
    """``input`` repeated ``dims`` times along each dim; fewer dims than ``input.ndim`` are
    padded with leading 1s (``repeat`` needs them all)."""
    check_tensor(input, "tile")
    if not isinstance(dims, (tuple, list, Tensor)):
        raise TypeError(f"tile(): argument 'dims' (position 2) must be tuple of ints, not "
                        f"{type(dims).__name__}")
    dims = tuple(dims)
    dims = (1,) * (input.ndim - len(dims)) + dims
    return input.repeat(*dims)


@op("view")
def ravel(input):
    """The elements as one dimension: a view where the layout allows, else a copy."""
    check_tensor(input, "ravel")
    return input.reshape(-1)


@op("shape")
def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first axis
    towards the second."""
    check_tensor(input, "rot90")
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = (wrap_dim(d, input.ndim) for d in dims)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return input.flip(d1).transpose(d0, d1)
    if k == 2:
        return input.flip((d0, d1))
    if k == 3:
        return input.flip(d0).transpose(d0, d1)
    return input.clone()


def unsqueeze_(x, dim):
    """Dual-mode unsqueeze for backward formulas (arrays or tensors)."""
    shape = list(x.shape)
    d = dim if dim >= 0 else dim + len(shape) + 1
    shape.insert(d, 1)
    return reshape_(x, shape)


def squeeze_(x, dim):
    """Dual-mode squeeze of one size-1 dim for backward formulas."""
    shape = list(x.shape)
    del shape[dim]
    return reshape_(x, shape)


def mT_(x):
    """Dual-mode transpose of the last two dims."""
    if B.is_array(x):
        return x.swapaxes(-1, -2)
    return transpose(x, -1, -2)

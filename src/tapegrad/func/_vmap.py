"""``vmap``: vectorizing a function by batching rules, not by a loop over the batch.

A :class:`BatchedTensor` wraps one real tensor, ``value``, whose leading dims are batch
dims, one per active ``vmap`` *level* (ascending level id = outer vmap first), followed by
the *logical* dims the user's function sees. Every op applied to a BatchedTensor runs a
batching rule that calls the ordinary tapegrad op once on ``value`` with dims shifted past
the batch dims, so autograd records an ordinary graph on ordinary tensors (which is what
lets ``grad`` / ``jacrev`` compose with vmap).

Dispatch, without patching anything:

* a running ``vmap`` is an entry (:class:`_VmapLevel`) on its thread's transform stack
  (``autograd/observe.py``). Every public op (``tapegrad.sum``, ``Tensor.sum``,
  ``tapegrad.nn.functional.linear``...) is the callable made by the dispatch point
  (``ops/_dispatch.py``), which hands the call to the innermost level of its own thread;
  the level runs the op's batching rule when an argument is batched and the op as is
  otherwise. Other threads are unaffected, and a function imported by name
  (``from tapegrad import sum``) or passed as a value (``vmap(tapegrad.mul)``) is the
  same dispatching callable.
* ``BatchedTensor`` overrides Tensor's methods and operators on its own class (a
  subclass, not a patch), so ``x.sum()`` and ``2.0 * x`` reach a rule directly; Python
  tries a subclass's reflected operator first, so ``plain * batched`` does too.

An op without a rule raises ``NotImplementedError`` naming the op.
"""
from __future__ import annotations

import functools
import itertools
import numbers
import threading
import types

import numpy as np

from ..tensor import Tensor, Size
from ..ops import elementwise as E
from ..ops import reduction as R
from ..ops import shape as S
from ..ops import linalg as L
from ..ops import indexing as I
from .. import creation as C
from ..autograd import grad_mode
from ..autograd import observe as _transform_stack
from ..ops import _dispatch
from ._pytree import tree_flatten, tree_unflatten, broadcast_prefix

_counter = itertools.count(1)
_state = grad_mode.state


class _VmapLevel:
    """A running ``vmap`` call: an entry of its thread's transform stack."""

    def __init__(self, level, size, randomness):
        self.level, self.size, self.randomness = level, size, randomness

    def intercept(self, fn, name, kind, args, kwargs):
        """The dispatch point's hook: run ``name``'s batching rule if an argument is batched."""
        if not _has_batched(args, kwargs):
            return fn(*args, **kwargs)
        rule = _METHOD_RULES.get(fn)
        if rule is None and fn not in _OTHER_METHODS:  # a method whose signature differs from
            rule = RULES.get(name)                      # its function's takes the loop below
        if rule is None:
            return self.loop(fn, name, kind, args, kwargs)
        return rule(*args, **kwargs)

    def loop(self, fn, name, kind, args, kwargs):
        """An op with no batching rule: run it once per batch element, then stack.

        Correct for any op, as torch.func's fallback is, at the cost of one call per element.
        It loops over the innermost level its arguments carry; the slices may still be batched
        at outer levels, and their calls come back through the dispatch point for those.
        """
        level = max(lv for a in _tensor_leaves(args, kwargs) for lv in a.levels)
        size = next(e.size for e in _vmap_levels() if e.level == level)
        call = _dispatch.public(fn, name, kind)

        def take(x, i):
            if isinstance(x, BatchedTensor) and level in x.levels:
                k = x.levels.index(level)
                return _mk(S.select(x.value, k, i), x.levels[:k] + x.levels[k + 1:])
            if type(x) in (list, tuple):
                return type(x)(take(y, i) for y in x)
            return x

        results = [call(*[take(a, i) for a in args], **{k: take(v, i) for k, v in kwargs.items()})
                   for i in range(size)]
        return _combine(results, level, name)


def _tensor_leaves(args, kwargs):
    """The batched tensors among the arguments (top level and inside lists/tuples)."""
    for a in (*args, *kwargs.values()):
        for b in (a if type(a) in (list, tuple) else (a,)):
            if isinstance(b, BatchedTensor):
                yield b


def _combine(results, level, name):
    """Stack per-element results of an op into one result batched at ``level``."""
    first = results[0]
    if isinstance(first, Tensor):
        if any(r.shape != first.shape for r in results):
            # NotImplementedError is a RuntimeError, the class torch raises here
            raise NotImplementedError(
                "vmap: We do not support batching operators that can output dynamic shape. "
                f"Attempted to vmap over tapegrad.{name}, which has no batching rule and returned "
                "a differently shaped tensor for each batch element.")
        return _add_level(_stack(results, 0), 0, level)
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*[_combine([r[j] for r in results], level, name) for j in range(len(first))])
    if isinstance(first, (tuple, list)):
        return type(first)(_combine([r[j] for r in results], level, name) for j in range(len(first)))
    if all(r == first for r in results):
        return first
    raise RuntimeError(f"vmap: {name} returned a different {type(first).__name__} for each batch "
                       "element; only tensors can be batched")


def _vmap_levels():
    return [e for e in _state.transforms if isinstance(e, _VmapLevel)]


def active_levels():
    """[(level, size, randomness), ...] of this thread's running vmaps, outermost first."""
    return [(e.level, e.size, e.randomness) for e in _vmap_levels()]


def _randomness():
    levels = _vmap_levels()
    return levels[-1].randomness if levels else "different"


# ----------------------------------------------------------------------------- the wrapper
class BatchedTensor(Tensor):
    """A tensor inside ``vmap``: ``value`` holds the batch dims (one per level) in front."""

    def __init__(self, value, levels):
        self.value = value
        self.levels = tuple(levels)

    # -- storage must never be read by an op without a batching rule
    @property
    def _data(self):
        raise NotImplementedError(
            "vmap: a tapegrad operation without a batching rule received a batched tensor "
            "(see the traceback for which). Call ops through `tapegrad.xxx` / "
            "`tapegrad.nn.functional.xxx` or Tensor methods, or file an issue for the rule.")

    @property
    def _nb(self):
        return len(self.levels)

    @property
    def _lshape(self):
        return tuple(self.value.shape[len(self.levels):])

    # -- metadata: the logical view
    @property
    def shape(self):
        return Size(self._lshape)

    def size(self, dim=None):
        if dim is None:
            return self.shape
        return self._lshape[_wrap(dim, len(self._lshape))]

    def dim(self):
        return len(self._lshape)

    ndimension = dim

    @property
    def ndim(self):
        return len(self._lshape)

    def numel(self):
        return int(np.prod(self._lshape, dtype=np.int64))

    nelement = numel

    def __len__(self):
        if not self._lshape:
            raise TypeError("len() of a 0-d tensor")
        return self._lshape[0]

    def __iter__(self):
        return iter(self.unbind(0))

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def device(self):
        return self.value.device

    def is_floating_point(self):
        return self.value.is_floating_point()

    def element_size(self):
        return self.value.element_size()

    @property
    def requires_grad(self):
        return self.value.requires_grad

    @property
    def grad_fn(self):
        return self.value.grad_fn

    @property
    def is_leaf(self):
        return self.value.is_leaf

    def is_contiguous(self, memory_format=None):
        return True

    def __repr__(self):
        return f"BatchedTensor(levels={self.levels}, value={self.value!r})"

    __str__ = __repr__

    def __hash__(self):
        return id(self)

    # -- data-dependent Python control flow is not batchable
    _ITEM_MSG = (
        "vmap: It looks like you're either (1) calling .item() on a Tensor or (2) attempting "
        "to use a Tensor in some data-dependent control flow or (3) encountering this error in "
        "PyTorch internals. For (1): we don't support vmap over calling .item() on a Tensor, "
        "please try to rewrite what you're doing with other operations. For (2): we don't "
        "support data-dependent control flow in vmap yet, please file an issue at "
        "https://github.com/pytorch/pytorch/issues . For (3): please file an issue.")

    def item(self):
        raise RuntimeError(self._ITEM_MSG)

    def _ctrl(self, *a, **k):
        raise RuntimeError(self._ITEM_MSG)

    __bool__ = __float__ = __int__ = __index__ = __complex__ = _ctrl
    tolist = numpy = __array__ = _ctrl

    def __deepcopy__(self, memo):
        raise RuntimeError("vmap: cannot deepcopy a batched tensor")

    def __reduce_ex__(self, protocol):
        raise RuntimeError("vmap: cannot pickle a batched tensor")

    @property
    def T(self):
        return _permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return _transpose(self, -2, -1)

    @property
    def data(self):
        return BatchedTensor(self.value.data, self.levels)

    def backward(self, *a, **k):
        raise RuntimeError("vmap: calling .backward() inside vmap is not supported; use "
                           "tapegrad.func.grad / vjp instead")


def _wrap(dim, ndim):
    n = max(ndim, 1)
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def _mk(value, levels):
    return BatchedTensor(value, levels) if levels else value


def _rewrap(out, levels):
    if isinstance(out, Tensor):
        return _mk(out, levels)
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        return type(out)(*[_rewrap(o, levels) for o in out])
    if isinstance(out, (tuple, list)):
        return type(out)(_rewrap(o, levels) for o in out)
    return out


def _parts(x):
    """(value, levels, logical rank) of a tensor operand."""
    if isinstance(x, BatchedTensor):
        return x.value, x.levels, x.value.ndim - len(x.levels)
    return x, (), x.ndim


def _align(args, pad_rank=True, expand=False):
    """Bring tensor operands to a common set of levels (and, with pad_rank, logical rank).

    Missing levels become size-1 dims (or full-size expanded views with ``expand``); a
    lower logical rank is padded with size-1 dims between batch and logical dims, so
    right-aligned broadcasting of the logical dims stays right."""
    levels, sizes, rank = set(), {}, 0
    for a in args:
        if isinstance(a, Tensor):
            v, lv, r = _parts(a)
            levels.update(lv)
            # strict=False: the batch levels are the leading dims only; the logical dims follow
            for lvl, s in zip(lv, v.shape, strict=False):
                sizes[lvl] = s
            rank = max(rank, r)
    levels = tuple(sorted(levels))
    out = []
    for a in args:
        if not isinstance(a, Tensor):
            out.append(a)
            continue
        v, lv, r = _parts(a)
        if lv == levels and (not pad_rank or r == rank):
            out.append(v)
            continue
        lshape = tuple(v.shape[len(lv):])
        bshape = tuple(v.shape[lv.index(lvl)] if lvl in lv else 1 for lvl in levels)
        pad = (1,) * (rank - r) if pad_rank else ()
        new = bshape + pad + lshape
        if tuple(v.shape) != new:
            v = S.reshape(v, new)
        if expand:
            full = tuple(sizes[lvl] for lvl in levels) + pad + lshape
            if full != new:
                v = S.expand(v, full)
        out.append(v)
    return out, levels


def _flat_args(args, kwargs):
    for a in args:
        yield a
        if isinstance(a, (list, tuple)):
            yield from a
    for a in kwargs.values():
        yield a
        if isinstance(a, (list, tuple)):
            yield from a


def _has_batched(args, kwargs):
    for a in args:
        if isinstance(a, BatchedTensor):
            return True
        if type(a) in (list, tuple):
            for b in a:
                if isinstance(b, BatchedTensor):
                    return True
    if kwargs:
        for a in kwargs.values():
            if isinstance(a, BatchedTensor):
                return True
            if type(a) in (list, tuple):
                for b in a:
                    if isinstance(b, BatchedTensor):
                        return True
    return False


# ----------------------------------------------------------------------------- rule kinds
def elementwise(fn):
    """Broadcasting op: align all tensor args (positional and keyword), call once."""
    def rule(*args, **kwargs):
        keys = [k for k, v in kwargs.items() if isinstance(v, Tensor)]
        raws, levels = _align(list(args) + [kwargs[k] for k in keys])
        n = len(args)
        kw = dict(kwargs)
        for k, v in zip(keys, raws[n:], strict=True):  # _align returns one entry per argument
            kw[k] = v
        return _rewrap(fn(*raws[:n], **kw), levels)
    rule.__name__ = getattr(fn, "__name__", "rule")
    return rule


def _only_self(name, x, others):
    for o in others:
        if isinstance(o, BatchedTensor):
            raise NotImplementedError(
                f"vmap: no batching rule for {name} with a batched tensor as a non-input argument")


def _get_dim(args, kwargs, pos, default=None, name="dim"):
    if len(args) > pos:
        return args[pos], True
    return kwargs.get(name, default), False


def _set_dim(args, kwargs, pos, value, name="dim"):
    args = list(args)
    if len(args) > pos:
        args[pos] = value
    else:
        kwargs = dict(kwargs)
        kwargs[name] = value
    return args, kwargs


def reduction(fn, pos=1, tuple_ok=True, name=None):
    """``fn(input, dim=None, keepdim=False, ...)``; dim None means every logical dim."""
    name = name or fn.__name__

    def rule(x, *args, **kwargs):
        _only_self(name, x, list(args) + list(kwargs.values()))
        v, lv, r = _parts(x)
        nb = len(lv)
        dim, _ = _get_dim((x,) + args, kwargs, pos)
        keepdim = kwargs.get("keepdim", args[pos] if len(args) > pos and isinstance(args[pos], bool)
                             else False)
        squeeze_after = False
        if r == 0:
            v = S.unsqueeze(v, -1)
            newdim = nb if not tuple_ok or not isinstance(dim, (tuple, list)) else (nb,)
            if dim is None:
                newdim = (nb,) if tuple_ok else nb
            squeeze_after = True
        elif dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
            if tuple_ok:
                newdim = tuple(range(nb, nb + r))
            else:
                v = S.reshape(v, tuple(v.shape[:nb]) + (-1,))
                newdim = nb
                if keepdim:
                    raise NotImplementedError(f"vmap: {name}(dim=None, keepdim=True)")
        elif isinstance(dim, (tuple, list)):
            newdim = tuple(nb + _wrap(d, r) for d in dim)
        else:
            newdim = nb + _wrap(dim, r)
        a, k = _set_dim((v,) + args, kwargs, pos, newdim)
        out = fn(*a, **k)
        if squeeze_after and keepdim:
            out = _map_t(out, lambda t: S.squeeze(t, -1))
        return _rewrap(out, lv)
    rule.__name__ = name
    return rule


def _map_t(out, f):
    if isinstance(out, Tensor):
        return f(out)
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        return type(out)(*[_map_t(o, f) for o in out])
    if isinstance(out, (tuple, list)):
        return type(out)(_map_t(o, f) for o in out)
    return out


def dim_op(fn, pos=1, name=None, extra=0):
    """``fn(input, ..., dim, ...)`` with one required dim at ``pos``; ``extra``: output rank delta."""
    name = name or fn.__name__

    def rule(x, *args, **kwargs):
        _only_self(name, x, list(args) + list(kwargs.values()))
        v, lv, r = _parts(x)
        dim, _ = _get_dim((x,) + args, kwargs, pos)
        if dim is None:
            raise NotImplementedError(f"vmap: {name} needs an explicit dim inside vmap")
        if isinstance(dim, (tuple, list)):
            nd = tuple(len(lv) + _wrap(d, r + extra) for d in dim)
        else:
            nd = len(lv) + _wrap(dim, r + extra)
        a, k = _set_dim((v,) + args, kwargs, pos, nd)
        return _rewrap(fn(*a, **k), lv)
    rule.__name__ = name
    return rule


def same_shape(fn, name=None):
    """Ops with no dim arguments that do not mix elements (clone, to, contiguous...)."""
    def rule(x, *args, **kwargs):
        v, lv, _ = _parts(x)
        return _rewrap(fn(v, *args, **kwargs), lv)
    rule.__name__ = name or fn.__name__
    return rule


def last2(fn, name=None):
    """Ops on the last two logical dims (tril, triu, mT)."""
    def rule(x, *args, **kwargs):
        v, lv, r = _parts(x)
        if r < 2:
            raise RuntimeError(f"{name or fn.__name__}: input tensor must have at least 2 dimensions")
        return _rewrap(fn(v, *args, **kwargs), lv)
    return rule


# ----------------------------------------------------------------------------- shape rules
def _as_shape(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return tuple(int(a) for a in args)


def _reshape(x, *shape):
    v, lv, r = _parts(x)
    return _mk(S.reshape(v, tuple(v.shape[:len(lv)]) + _as_shape(shape)), lv)


def _view(x, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, numbers.Integral)):
        raise NotImplementedError("vmap: view(dtype)")
    return _reshape(x, *shape)


def _view_as(x, other):
    return _reshape(x, tuple(other.shape))


def _flatten(x, start_dim=0, end_dim=-1):
    v, lv, r = _parts(x)
    nb = len(lv)
    if r == 0:
        return _mk(S.reshape(v, tuple(v.shape[:nb]) + (1,)), lv)
    return _mk(S.flatten(v, nb + _wrap(start_dim, r), nb + _wrap(end_dim, r)), lv)


def _squeeze(x, dim=None):
    v, lv, r = _parts(x)
    nb = len(lv)
    if r == 0:
        return x
    if dim is None:
        ls = tuple(s for s in v.shape[nb:] if s != 1)
        return _mk(S.reshape(v, tuple(v.shape[:nb]) + ls), lv)
    if isinstance(dim, (tuple, list)):
        return _mk(S.squeeze(v, tuple(nb + _wrap(d, r) for d in dim)), lv)
    return _mk(S.squeeze(v, nb + _wrap(dim, r)), lv)


def _unsqueeze(x, dim):
    v, lv, r = _parts(x)
    return _mk(S.unsqueeze(v, len(lv) + _wrap(dim, r + 1)), lv)


def _transpose(x, d0, d1):
    v, lv, r = _parts(x)
    if r == 0:
        return x
    nb = len(lv)
    return _mk(S.transpose(v, nb + _wrap(d0, r), nb + _wrap(d1, r)), lv)


def _t(x):
    v, lv, r = _parts(x)
    if r > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {r}D")
    return x if r < 2 else _transpose(x, 0, 1)


def _permute(x, *dims):
    v, lv, r = _parts(x)
    dims = _as_shape(dims)
    nb = len(lv)
    return _mk(S.permute(v, tuple(range(nb)) + tuple(nb + _wrap(d, r) for d in dims)), lv)


def _movedim(x, source, destination):
    v, lv, r = _parts(x)
    nb = len(lv)
    f = (lambda d: tuple(nb + _wrap(i, r) for i in d)) if isinstance(source, (tuple, list)) \
        else (lambda d: nb + _wrap(d, r))
    return _mk(S.movedim(v, f(source), f(destination)), lv)


def _expand(x, *sizes):
    v, lv, r = _parts(x)
    sizes = _as_shape(sizes)
    nb = len(lv)
    k = len(sizes)
    if k < r:
        raise RuntimeError(
            f"expand: the number of sizes provided ({k}) must be greater or equal to the number "
            f"of dimensions in the tensor ({r})")
    b = tuple(v.shape[:nb])
    v = S.reshape(v, b + (1,) * (k - r) + tuple(v.shape[nb:]))
    return _mk(S.expand(v, b + sizes), lv)


def _expand_as(x, other):
    return _expand(x, tuple(other.shape))


def _repeat(x, *sizes):
    v, lv, r = _parts(x)
    sizes = _as_shape(sizes)
    nb = len(lv)
    b = tuple(v.shape[:nb])
    if len(sizes) > r:
        v = S.reshape(v, b + (1,) * (len(sizes) - r) + tuple(v.shape[nb:]))
    return _mk(S.repeat(v, (1,) * nb + sizes), lv)


def _unflatten(x, dim, sizes):
    v, lv, r = _parts(x)
    return _mk(S.unflatten(v, len(lv) + _wrap(dim, r), sizes), lv)


def _cat(tensors, dim=0, *, out=None):
    if out is not None:
        raise NotImplementedError("vmap: cat(out=...)")
    raws, levels = _align(list(tensors), pad_rank=False, expand=True)
    r = raws[0].ndim - len(levels)
    return _mk(S.cat(raws, len(levels) + _wrap(dim, r)), levels)


def _stack(tensors, dim=0, *, out=None):
    if out is not None:
        raise NotImplementedError("vmap: stack(out=...)")
    raws, levels = _align(list(tensors), pad_rank=False, expand=True)
    r = raws[0].ndim - len(levels)
    return _mk(S.stack(raws, len(levels) + _wrap(dim, r + 1)), levels)


def _getitem(x, index):
    v, lv, r = _parts(x)
    if not isinstance(index, tuple):
        index = (index,)
    for i in index:
        if isinstance(i, BatchedTensor):
            raise NotImplementedError("vmap: indexing with a batched index tensor")
    return _mk(v[(slice(None),) * len(lv) + index], lv)


def _setitem(x, index, value):
    raise NotImplementedError("vmap: in-place __setitem__ on a batched tensor is not supported")


def _index_select(x, dim, index):
    if isinstance(index, BatchedTensor):
        raise NotImplementedError("vmap: index_select with a batched index")
    v, lv, r = _parts(x)
    return _mk(I.index_select(v, len(lv) + _wrap(dim, r), index), lv)


def _gather(x, dim, index, *, sparse_grad=False):
    raws, levels = _align([x, index], pad_rank=False, expand=True)
    r = raws[0].ndim - len(levels)
    return _mk(I.gather(raws[0], len(levels) + _wrap(dim, r), raws[1]), levels)


def _multi_out(fn, pos):
    name = fn.__name__

    def rule(x, *args, **kwargs):
        v, lv, r = _parts(x)
        dim, _ = _get_dim((x,) + args, kwargs, pos, 0)
        a, k = _set_dim((v,) + args, kwargs, pos, len(lv) + _wrap(dim, r))
        return _rewrap(fn(*a, **k), lv)
    rule.__name__ = name
    return rule


def _roll(x, shifts, dims=None):
    if dims is None:
        v, lv, r = _parts(x)
        flat = S.reshape(v, tuple(v.shape[:len(lv)]) + (-1,))
        return _mk(S.reshape(S.roll(flat, shifts, len(lv)), v.shape), lv)
    return dim_op(S.roll, pos=2)(x, shifts, dims)


def _flip(x, *dims):
    v, lv, r = _parts(x)
    dims = _as_shape(dims)
    return _mk(S.flip(v, tuple(len(lv) + _wrap(d, r) for d in dims)), lv)


# ----------------------------------------------------------------------------- linear algebra
def _matmul(a, b):
    va, la, ra = _parts(a)
    vb, lb, rb = _parts(b)
    if ra == 0 or rb == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {ra}D and {rb}D")
    # fast paths: the unbatched side is a plain matrix operand
    if not lb and rb == 2:
        return _mk(L.matmul(va, vb), la)
    if not la and ra == 2 and rb >= 2:
        return _mk(L.matmul(va, vb), lb)
    a2 = S.unsqueeze(va, -2) if ra == 1 else va
    b2 = S.unsqueeze(vb, -1) if rb == 1 else vb
    (x, y), levels = _align([_mk(a2, la), _mk(b2, lb)])
    out = L.matmul(x, y)
    if ra == 1:
        out = S.squeeze(out, -2)
    if rb == 1:
        out = S.squeeze(out, -1)
    return _mk(out, levels)


def _dot(a, b):
    (x, y), levels = _align([a, b])
    return _mk(R.sum(E.mul(x, y), -1), levels)


def _outer(a, b):
    return elementwise(E.mul)(_unsqueeze(a, -1), _unsqueeze(b, -2))


def _addmm(input, mat1, mat2, *, beta=1, alpha=1):
    m = _matmul(mat1, mat2)
    if alpha != 1:
        m = m * alpha
    return m + (input if beta == 1 else input * beta)


def _is_shared_leaf(t):
    """A grad input made by tapegrad.func for an unbatched tensor: a leaf broadcast over its
    batch dims (stride 0), so every sample's copy is the same parameter."""
    if not isinstance(t, BatchedTensor):
        return False
    v = t.value
    if v.grad_fn is not None or not v.requires_grad:
        return False
    st = v._data.strides[:len(t.levels)]
    return all(s == 0 for s in st)


_PSLinear = None


def _ps_linear_fn():
    """``x @ W.T + b`` with W, b shared across the batch but differentiated per sample.

    Forward is one GEMM with the shared weight; backward returns per-sample weight/bias
    gradients (a batched outer product), the way per-sample-gradient libraries do it. Used
    only when no higher-order gradient will be taken through it (first-order ``grad``)."""
    global _PSLinear
    if _PSLinear is None:
        from ..autograd.graph import Node

        class PerSampleLinear(Node):
            _bw_name = "PerSampleLinearBackward0"

            def forward(ctx, x, w, b=None, *, nb):
                idx = (0,) * nb
                w0 = w[idx]
                out = np.matmul(x, w0.T)
                if b is not None:
                    out += b[idx] if b.ndim > 1 else b
                if ctx.needs_input_grad:
                    ctx.saved = (x, w0, nb, b is not None)
                return out

            def backward(ctx, g):
                x, w0, nb, has_b = ctx.saved
                n = ctx.needs_input_grad
                if isinstance(g, Tensor):  # create_graph: never requested for this node
                    raise RuntimeError("PerSampleLinear is only once differentiable")
                bs = tuple(x.shape[:nb])
                gx = np.matmul(g, w0) if n[0] else None
                nbatch = int(np.prod(bs, dtype=np.int64))
                g3 = g.reshape(nbatch, -1, g.shape[-1])
                gw = gb = None
                if n[1]:
                    x3 = x.reshape(nbatch, -1, x.shape[-1])
                    if g3.shape[1] == 1:  # one row per sample: an outer product
                        # (a broadcast multiply: far faster than einsum's generic loop)
                        gw = g3[:, 0, :, None] * x3[:, 0, None, :]
                    else:
                        gw = np.matmul(g3.transpose(0, 2, 1), x3)
                    gw = gw.reshape(bs + w0.shape)
                if has_b and n[2]:
                    gb = g3.sum(1).reshape(bs + (g.shape[-1],))
                return (gx, gw, gb) if has_b else (gx, gw)

        _PSLinear = PerSampleLinear
    return _PSLinear


def _linear(input, weight, bias=None):
    orig = _ORIG_F["linear"]
    if _is_shared_leaf(weight) and (bias is None or (_is_shared_leaf(bias) and
                                                     bias.levels == weight.levels)):
        from ._transforms import _depth
        if _depth() <= 1 and input.dim() >= 1:
            (xv, wv), levels = _align([input, weight], pad_rank=False, expand=True)
            if levels == weight.levels:
                node = _ps_linear_fn()
                out = (node.apply(xv, wv, nb=len(levels)) if bias is None
                       else node.apply(xv, wv, bias.value, nb=len(levels)))
                return _mk(out, levels)
    if not isinstance(weight, BatchedTensor) and not isinstance(bias, BatchedTensor):
        v, lv, r = _parts(input)
        if r == 0:
            raise RuntimeError("linear: input must have at least 1 dimension")
        return _mk(orig(v, weight, bias), lv)
    out = _matmul(input, _transpose(weight, -1, -2) if weight.ndim >= 2 else weight)
    return out if bias is None else out + bias


def _einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    raws, levels = _align(list(operands), pad_rank=False, expand=True)
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    used = set(eq)
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    bl = "".join(free[:len(levels)])
    if not arrow:
        letters = [c for c in lhs if c.isalpha()]
        rhs = ("..." if "..." in lhs else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    new = ",".join(bl + s for s in ins) + "->" + bl + rhs
    return _mk(L.einsum(new, *raws), levels)


# ----------------------------------------------------------------------------- losses
def _reduce_loss(loss, reduction):
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
    return ("mean" if size_average else "sum") if reduce else "none"


def _pointwise_loss(name):
    def rule(input, target, *args, size_average=None, reduce=None, reduction="mean", **kwargs):
        fn = _ORIG_F[name]
        reduction = _legacy_reduction(size_average, reduce, reduction)
        tens = [input, target] + [a for a in args if isinstance(a, Tensor)]
        keys = [k for k, v in kwargs.items() if isinstance(v, Tensor)]
        raws, levels = _align(tens + [kwargs[k] for k in keys], expand=True)
        ai = iter(raws[2:])
        args2 = [next(ai) if isinstance(a, Tensor) else a for a in args]
        kw = dict(kwargs)
        for k in keys:
            kw[k] = next(ai)
        out = _mk(fn(raws[0], raws[1], *args2, reduction="none", **kw), levels)
        return _reduce_loss(out, reduction)
    rule.__name__ = name
    return rule


def _class_loss(name):
    def rule(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean", label_smoothing=0.0):
        fn = _ORIG_F[name]
        reduction = _legacy_reduction(size_average, reduce, reduction)
        if isinstance(weight, BatchedTensor):
            raise NotImplementedError(f"vmap: {name} with a batched weight")
        ri = input.ndim
        probs = target.is_floating_point()
        (vi, vt), levels = _align([input, target], pad_rank=False, expand=True)
        nb = len(levels)
        bshape = tuple(vi.shape[:nb])
        kw = dict(weight=weight, ignore_index=ignore_index, reduction="none")
        if name == "cross_entropy":
            kw["label_smoothing"] = label_smoothing
        if ri == 1:  # (C,) with a 0-d target: fold the batch into N
            li = S.reshape(vi, (-1, vi.shape[-1]))
            lt = S.reshape(vt, (-1,) + ((vi.shape[-1],) if probs else ()))
            out = S.reshape(fn(li, lt, **kw), bshape)
        else:  # (N, C, d...) with (N, d...): merge the batch into N
            li = S.reshape(vi, (-1,) + tuple(vi.shape[nb + 1:]))
            lt = S.reshape(vt, (-1,) + tuple(vt.shape[nb + 1:]))
            out = fn(li, lt, **kw)
            out = S.reshape(out, bshape + tuple(out.shape[1:]))
        loss = _mk(out, levels)
        if reduction != "mean" or probs:
            return _reduce_loss(loss, reduction)
        # mean over the sample's targets, weighted like PyTorch: sum(w[t] l) / sum(w[t])
        mask = E.ne(vt, ignore_index)
        if weight is not None:
            w = I.take(weight.detach(), E.clamp(vt, min=0)) * mask.to(weight.dtype)
        else:
            w = mask.to(vi.dtype)
        den = _mk(w, levels)
        if ri > 1:
            den = den.sum()
        return loss.sum() / den
    rule.__name__ = name
    return rule


# ----------------------------------------------------------------------------- random, creation
def _random_like(fn, name):
    def rule(x, *args, **kwargs):
        mode = _randomness()
        v, lv, r = _parts(x)
        if mode == "error":
            raise RuntimeError(
                "vmap: called random operation while in randomness error mode. Please either use "
                "the 'same' or 'different' randomness flags on vmap or perform the randomness "
                "operation out of vmap")
        if mode == "different":
            return _mk(fn(v, *args, **kwargs), lv)
        one = fn(S.reshape(v, tuple(v.shape))[(0,) * len(lv)], *args, **kwargs)
        return _mk(S.expand(one, tuple(v.shape)), lv)
    rule.__name__ = name
    return rule


def _dropout_rule(name):
    def rule(input, p=0.5, training=True, inplace=False):
        fn = _ORIG_F[name]
        if not training or p == 0:
            return input
        mode = _randomness()
        if mode == "error":
            return _random_like(None, name)(input)
        v, lv, r = _parts(input)
        if mode == "different":
            return _mk(fn(v, p, training, False), lv)
        ones = C.ones(tuple(v.shape[len(lv):]), dtype=v.dtype)
        mask = fn(ones, p, True, False)
        return _mk(E.mul(v, mask), lv)
    rule.__name__ = name
    return rule


# ----------------------------------------------------------------------------- in-place ops
def _inplace(outplace_rule, name):
    def rule(self, *args, **kwargs):
        if not isinstance(self, BatchedTensor):
            for a in list(args) + list(kwargs.values()):
                if isinstance(a, BatchedTensor):
                    raise RuntimeError(
                        f"vmap: {name}(self, *extra_args) is not possible because there exists a "
                        "Tensor `other` in extra_args that has more elements than `self`. This "
                        "happened due to `other` being vmapped over but `self` not being vmapped "
                        "over in a vmap.")
            return getattr(Tensor, name)(self, *args, **kwargs)
        res = outplace_rule(self, *args, **kwargs)
        rv, rl, _ = _parts(res)
        if rl != self.levels:
            raise RuntimeError(
                f"vmap: {name}(self, *extra_args) is not possible because there exists a Tensor "
                "`other` in extra_args that has more elements than `self`. This happened due to "
                "`other` being vmapped over but `self` not being vmapped over in a vmap.")
        # the wrapper is rebound to the new value (views of it do not see the write)
        self.value = rv
        return self
    rule.__name__ = name
    return rule


# ----------------------------------------------------------------------------- rule table
def _impl(fn):
    """The implementation behind a public (dispatching) op: rules call it on raw values."""
    return getattr(fn, "__wrapped__", fn)


def _from_nn():
    from ..nn import functional as F
    return F


_ORIG_F: dict = {}
RULES: dict = {}
#: Ops of a batchable kind whose default rule would be wrong: ``aminmax`` returns a pair
#: (the loop fallback handles it)
_NOT_BY_KIND = {"aminmax"}
# Tensor methods whose signature differs from their function's: method implementation -> rule
_METHOD_RULES: dict = {}
# the other methods whose signature differs from their function's (``Tensor.polygamma(n)``)
_OTHER_METHODS: set = set()
#: Ops of a batchable kind whose default rule would be wrong: ``aminmax`` returns a pair
#: (the loop fallback handles it)
_NOT_BY_KIND = {"aminmax"}


# long: the table of batching rules, one short entry per op; splitting it would scatter the table
def _build_rules():  # noqa: C901 - the table of batching rules, one registration block per op family
    import tapegrad
    F = _from_nn()
    for name, obj in vars(F).items():
        if isinstance(obj, types.FunctionType):
            _ORIG_F[name] = _impl(obj)
    from ..ops import _registry
    # The op's kind gives its default rule: every elementwise op batches the same way, so does
    # every reduction over ``dim`` and every scan along one dim. The table below adds rules for
    # the ops whose kind does not say enough (views, shape ops, contractions, max/min/norm).
    by_kind = {"unary": elementwise, "binary": elementwise, "elementwise": elementwise,
               "comparison": elementwise, "reduction": reduction, "scan": dim_op}
    for spec in _registry.specs():
        make = by_kind.get(spec.kind)
        if make is not None and spec.name not in _NOT_BY_KIND:
            for n in spec.names:
                RULES[n] = make(spec.fn)
    RULES["masked_fill"] = elementwise(I.masked_fill)
    for name, obj in vars(F).items():  # nn.functional's layer functions declare a kind too
        make = by_kind.get(getattr(obj, "op_kind", None))
        if make is not None and not name.endswith("_"):
            RULES["nn.functional." + name] = make(_ORIG_F[name])
    for n in ["prod", "argmax", "argmin"]:
        RULES[n] = reduction(getattr(R, n), tuple_ok=False)

    def _maxmin(which):
        red, ew = (R.amax, E.maximum) if which == "max" else (R.amin, E.minimum)
        full = getattr(R, which)

        def rule(x, *args, **kwargs):
            if args and isinstance(args[0], Tensor) or isinstance(kwargs.get("other"), Tensor):
                return elementwise(ew)(x, *args, **kwargs)
            dim, _ = _get_dim((x,) + args, kwargs, 1)
            if dim is None:
                return reduction(red)(x)
            return reduction(full, tuple_ok=False, name=which)(x, *args, **kwargs)
        return rule
    RULES["max"], RULES["min"] = _maxmin("max"), _maxmin("min")

    def _norm(x, p="fro", dim=None, keepdim=False, dtype=None):
        return reduction(R.norm, pos=2)(x, p, dim, keepdim, dtype)
    RULES["norm"] = _norm
    for n in ("softmax", "log_softmax", "cumsum", "cumprod"):
        if n in _ORIG_F:
            RULES["nn.functional." + n] = dim_op(_ORIG_F[n])
    RULES.update({
        "reshape": _reshape, "view": _view, "view_as": _view_as, "reshape_as": _view_as,
        "flatten": _flatten, "unflatten": _unflatten,
        "squeeze": _squeeze, "unsqueeze": _unsqueeze, "transpose": _transpose,
        "swapaxes": _transpose, "swapdims": _transpose, "t": _t, "permute": _permute,
        "movedim": _movedim, "moveaxis": _movedim, "expand": _expand, "expand_as": _expand_as,
        "broadcast_to": _expand, "repeat": _repeat, "cat": _cat, "concat": _cat,
        "concatenate": _cat, "stack": _stack, "narrow": dim_op(S.narrow), "select": dim_op(S.select),
        "split": _multi_out(S.split, 2), "chunk": _multi_out(S.chunk, 2),
        "tensor_split": _multi_out(S.tensor_split, 2), "unbind": _multi_out(S.unbind, 1),
        "flip": _flip, "roll": _roll, "index_select": _index_select, "gather": _gather,
        "matmul": _matmul, "mm": _matmul, "bmm": _matmul, "mv": _matmul, "dot": _dot,
        "inner": _dot, "vdot": _dot, "outer": _outer, "ger": _outer, "addmm": _addmm,
        "einsum": _einsum,
        "clone": same_shape(S.clone), "contiguous": same_shape(S.contiguous),
        "zeros_like": same_shape(C.zeros_like), "ones_like": same_shape(C.ones_like),
        "full_like": same_shape(C.full_like), "empty_like": same_shape(C.empty_like),
        "rand_like": _random_like(C.rand_like, "rand_like"),
        "randn_like": _random_like(C.randn_like, "randn_like"),
        "detach": same_shape(Tensor.detach, "detach"),
        "nn.functional.linear": _linear,
        "nn.functional.dropout": _dropout_rule("dropout"),
        "nn.functional.cross_entropy": _class_loss("cross_entropy"),
        "nn.functional.nll_loss": _class_loss("nll_loss"),
    })
    for n in ("tril", "triu"):
        if hasattr(tapegrad, n):
            RULES[n] = last2(_impl(getattr(tapegrad, n)), n)
    for n in [
        "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
        "binary_cross_entropy_with_logits", "soft_margin_loss",
    ]:
        if n in _ORIG_F:
            RULES["nn.functional." + n] = _pointwise_loss(n)
    for n in ("softmax", "log_softmax"):
        RULES["nn.functional." + n] = dim_op(_ORIG_F[n])
    _METHOD_RULES[_registry.get("where").method_fn] = \
        lambda self, condition, other: RULES["where"](condition, self, other)
    _OTHER_METHODS.update(spec.method_fn for spec in _registry.specs()
                          if spec.method_fn is not None and spec.method_fn not in _METHOD_RULES)
    RULES["is_tensor"] = lambda x: True
    RULES["numel"] = lambda x: x.numel()
    RULES["is_floating_point"] = lambda x: x.is_floating_point()


_METHOD_ALIASES = {"__add__": "add", "__sub__": "sub", "__mul__": "mul", "__truediv__": "div",
                   "__floordiv__": "floor_divide", "__mod__": "remainder", "__pow__": "pow",
                   "__matmul__": "matmul", "__eq__": "eq", "__ne__": "ne", "__lt__": "lt",
                   "__le__": "le", "__gt__": "gt", "__ge__": "ge", "__and__": "logical_and",
                   "__or__": "logical_or", "__xor__": "logical_xor"}
_REFLECTED = {"__radd__": "add", "__rsub__": "sub", "__rmul__": "mul", "__rtruediv__": "div",
              "__rfloordiv__": "floor_divide", "__rmod__": "remainder", "__rpow__": "pow",
              "__rmatmul__": "matmul", "__rand__": "logical_and", "__ror__": "logical_or",
              "__rxor__": "logical_xor"}

_OWN = set(vars(BatchedTensor))


def _value_method(name):
    """A BatchedTensor method that calls ``name`` on the whole (unbatched) value."""
    # a factory (not a default argument) binds the name, so the methods' signatures stay
    # (self, *args, **kwargs) with no extra keyword a caller could override
    return lambda self, *a, **k: getattr(self.value, name)(*a, **k)


def _meth(rule):
    def m(self, *args, **kwargs):
        return rule(self, *args, **kwargs)
    return m


def _rmeth(rule, name):
    def m(self, other):
        if not isinstance(other, Tensor):
            # a number on the left (``2.0 * x``): the batch dims are untouched, so the
            # plain reflected operator applies to the whole value
            return _rewrap(getattr(Tensor, name)(self.value, other), self.levels)
        return rule(other, self)
    return m


def _stub(name):
    def m(self, *args, **kwargs):
        raise NotImplementedError(f"vmap: no batching rule for Tensor.{name}")
    m.__name__ = name
    return m


def _install_methods():  # noqa: C901 - one branch per family of Tensor methods, installed in one pass
    for name in dir(Tensor):
        if name in _OWN or name in ("__init__", "__new__", "__getattribute__", "__setattr__",
                                    "__delattr__", "__class__", "__init_subclass__",
                                    "__subclasshook__", "__dir__", "__sizeof__", "__reduce__",
                                    "__format__", "__getstate__", "_wrap", "__array_ufunc__",
                                    "__hash__", "__doc__", "__module__", "__dict__",
                                    "__weakref__", "__class_getitem__"):
            continue
        attr = getattr(Tensor, name, None)
        if isinstance(attr, property) or not callable(attr):
            continue
        rule = None
        if name in _METHOD_ALIASES:
            rule = RULES[_METHOD_ALIASES[name]]
            setattr(BatchedTensor, name, _meth(rule))
            continue
        if name in _REFLECTED:
            setattr(BatchedTensor, name, _rmeth(RULES[_REFLECTED[name]], name))
            continue
        dispatched = getattr(attr, "op_name", None) is not None
        own = getattr(attr, "__wrapped__", None)
        if dispatched and (name not in RULES or own in _OTHER_METHODS or own in _METHOD_RULES):
            # a public op's method with no rule of its own, or whose signature differs from
            # its function's: the dispatch point picks the rule or the loop fallback
            setattr(BatchedTensor, name, attr)
        elif name in RULES:
            setattr(BatchedTensor, name, _meth(RULES[name]))
        elif name.endswith("_") and not name.startswith("_") and name[:-1] in RULES:
            setattr(BatchedTensor, name, _inplace(RULES[name[:-1]], name))
        elif name.startswith("__i") and name.endswith("__") and "__" + name[3:] in _METHOD_ALIASES:
            setattr(BatchedTensor, name,
                    _inplace(RULES[_METHOD_ALIASES["__" + name[3:]]], name))
        else:
            setattr(BatchedTensor, name, _stub(name))
    BatchedTensor.__neg__ = _meth(RULES["neg"])
    BatchedTensor.__abs__ = _meth(RULES["abs"])
    BatchedTensor.__invert__ = _meth(RULES["logical_not"])
    BatchedTensor.__pos__ = lambda self: self
    BatchedTensor.__getitem__ = _getitem
    BatchedTensor.__setitem__ = _setitem
    BatchedTensor.__hash__ = lambda self: id(self)
    for n in ("float", "double", "half", "long", "int", "bool", "short", "byte", "char", "to",
              "type_as", "type", "cpu", "requires_grad_"):
        fn = getattr(Tensor, n)
        if n == "requires_grad_":
            def rg(self, requires_grad=True):
                self.value.requires_grad_(requires_grad)
                return self
            BatchedTensor.requires_grad_ = rg
            continue
        setattr(BatchedTensor, n, _meth(same_shape(fn, n)))
    for n in ("softmax", "log_softmax"):
        setattr(BatchedTensor, n, _meth(RULES[n]))
    for n in ("new_zeros", "new_ones", "new_full", "new_empty", "new_tensor"):
        # an unbatched tensor of the requested (logical) shape, like in torch.func
        setattr(BatchedTensor, n, _value_method(n))
    BatchedTensor.zero_ = _inplace(RULES["zeros_like"], "zero_")
    BatchedTensor.fill_ = _inplace(lambda x, v: RULES["full_like"](x, v), "fill_")
    BatchedTensor.isclose = _meth(RULES["isclose"]) if "isclose" in RULES else BatchedTensor.isclose
    BatchedTensor.is_complex = lambda self: False
    BatchedTensor.get_device = lambda self: -1
    BatchedTensor.__contains__ = BatchedTensor._ctrl
    BatchedTensor.allclose = BatchedTensor.equal = BatchedTensor._ctrl


# ----------------------------------------------------------------------------- readiness
_ready = False
_ready_lock = threading.Lock()


def _ensure_ready():
    global _ready
    if not _ready:
        with _ready_lock:
            if not _ready:
                _build_rules()
                _install_methods()
                _ready = True


# ----------------------------------------------------------------------------- vmap
def _fname(func):
    return getattr(func, "__name__", repr(func))


def _add_level(x, d, level):
    v, lv, r = _parts(x)
    nb = len(lv)
    v = S.movedim(v, nb + _wrap(d, r), nb)
    return BatchedTensor(v, lv + (level,))


def _remove_level(o, level, size, od, fname):
    if isinstance(o, BatchedTensor) and level in o.levels:
        if od is None:
            raise ValueError(
                f"vmap({fname}, ...): `{fname}` can not return a BatchedTensor when out_dim is "
                "None")
        i = o.levels.index(level)
        rest = o.levels[:i] + o.levels[i + 1:]
        r = o.value.ndim - len(o.levels)
        v = S.movedim(o.value, i, len(rest) + _wrap(od, r + 1))
        return _mk(v, rest)
    if od is None:
        return o
    v, lv, r = _parts(o)
    pos = len(lv) + _wrap(od, r + 1)
    v = S.unsqueeze(v, pos)
    shape = list(v.shape)
    shape[pos] = size
    return _mk(S.expand(v, tuple(shape)), lv)


# long: argument checks, level set-up and unbatching in torch.func's order; to split next (issue 10)
def vmap(  # noqa: C901 - torch.func.vmap's argument checks, with its closures over them
        func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """Vectorize ``func`` over dim ``in_dims`` of its inputs (like ``torch.func.vmap``).

    >>> x = tapegrad.randn(5, 3)
    >>> vmap(lambda v: (v * v).sum())(x).shape
    torch.Size([5])
    """
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(
            f"Only allowed values for randomness are 'error', 'different', or 'same'. "
            f"Got {randomness}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")
    fname = _fname(func)

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        _ensure_ready()
        if not args:
            raise ValueError(
                f"vmap({fname})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you "
                "are trying to vmap over a function with no inputs. The latter is unsupported.")
        if not isinstance(in_dims, (int, tuple)) and in_dims is not None:
            raise ValueError(
                f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int "
                f"or a (potentially nested) tuple matching the structure of inputs, got: "
                f"{type(in_dims)}.")
        leaves, spec = tree_flatten(args)
        dims = broadcast_prefix(in_dims, args, lambda p: p is None or isinstance(p, int))
        if dims is None:
            _, dspec = tree_flatten(in_dims)
            raise ValueError(
                f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible "
                f"with the structure of `inputs`. in_dims has structure {dspec!r} but inputs has "
                f"structure {spec!r}.")
        size = None
        sizes = []
        # dims has one entry per leaf of args (broadcast_prefix, checked above), so strict=True
        for x, d in zip(leaves, dims, strict=True):
            if d is None:
                continue
            if not isinstance(x, Tensor):
                raise ValueError(
                    f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an "
                    f"input but the input is of type {type(x)}. We cannot vmap over non-Tensor "
                    "arguments, please use None as the respective in_dim")
            nd = x.dim()
            if not -nd <= d < nd:
                raise ValueError(
                    f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for some "
                    f"input, but that input is a Tensor of dimensionality {nd} so expected in_dim "
                    f"to satisfy -{nd} <= in_dim < {nd}.")
            sizes.append(x.size(d))
        if not sizes:
            raise ValueError(
                f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): at least one input must be a "
                "Tensor with a non-None in_dim (got none to vmap over)")
        if len(set(sizes)) != 1:
            raise ValueError(
                f"vmap: Expected all tensors to have the same size in the mapped dimension, got "
                f"sizes {sizes} for the mapped dimension")
        size = sizes[0]
        if chunk_size is not None and chunk_size < size:
            return _chunked(leaves, dims, spec, size, kwargs)
        return _run(leaves, dims, spec, size, kwargs)

    def _run(leaves, dims, spec, size, kwargs):
        level = next(_counter)
        entry = _transform_stack.push(_VmapLevel(level, size, randomness))
        try:
            new = [x if d is None else _add_level(x, d, level) for x, d in zip(leaves, dims, strict=True)]
            out = func(*tree_unflatten(new, spec), **kwargs)
            outs, ospec = tree_flatten(out)
            for o in outs:
                if not isinstance(o, Tensor):
                    raise ValueError(
                        f"vmap({fname}, ...): `{fname}` must only return Tensors, got type "
                        f"{type(o)}. Did you mean to set out_dims= to None for output?")
            ods = broadcast_prefix(out_dims, out, lambda p: p is None or isinstance(p, int))
            if ods is None:
                raise ValueError(
                    f"vmap({fname}, ..., out_dims={out_dims})(<inputs>): out_dims is not "
                    f"compatible with the structure of `outputs`. out_dims has structure "
                    f"{tree_flatten(out_dims)[1]!r} but outputs has structure {ospec!r}.")
            res = [_remove_level(o, level, size, od, fname) for o, od in zip(outs, ods, strict=True)]
            return tree_unflatten(res, ospec)
        finally:
            _transform_stack.pop(entry)

    def _chunked(leaves, dims, spec, size, kwargs):
        results = []
        for start in range(0, size, chunk_size):
            n = min(chunk_size, size - start)
            part = [x if d is None else x.narrow(d, start, n) for x, d in zip(leaves, dims, strict=True)]
            results.append(_run(part, dims, spec, n, kwargs))
        outs0, ospec = tree_flatten(results[0])
        ods = broadcast_prefix(out_dims, results[0], lambda p: p is None or isinstance(p, int))
        cols = [tree_flatten(r)[0] for r in results]
        merged = []
        for j, od in enumerate(ods):
            if od is None:
                merged.append(cols[0][j])
            else:
                merged.append(_cat([c[j] for c in cols], od))
        return tree_unflatten(merged, ospec)

    return wrapped

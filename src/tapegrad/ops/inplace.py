"""In-place ops (``add_``, ``mul_``, ``x[i] = v``...): the write, the version bump,
and re-pointing the tensor's ``grad_fn`` at the op that produced its new value.

Every in-place method is its out-of-place op plus ``rebase``: the out-of-place
node receives the old value's gradient edge, the storage is overwritten, the
version counter moves (so any node that saved the old value refuses to run),
and the tensor takes the new node as its ``grad_fn``. On a view, the root
storage's graph is updated as well (``CopySlices``), like PyTorch.

Transforms that follow writes (forward mode: the written tensor takes the result's
tangent) are asked here, from the thread's transform stack (``autograd/observe.py``):
``tracks_write`` in ``_needs_graph`` sends a write through the op + ``rebase`` path even
without a graph, and ``wrote`` is told about each write that ``rebase``/``on_view`` make.
"""
from __future__ import annotations

from .. import backend as B
from ..autograd import grad_mode
from ..autograd import observe as _stack
from ..autograd.graph import Node, replay_view
from ..tensor import Tensor

xp = B.xp
_state = grad_mode.state

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def overlap_error():
    return RuntimeError(
        "unsupported operation: more than one element of the written-to tensor refers to a single "
        "memory location. Please clone() the tensor before performing the operation.")


def _write(self, arr, op_name):
    """Copy ``arr`` into ``self``'s storage (casting as PyTorch allows)."""
    dst = self._data
    if arr is dst:
        return
    if _CATEGORY[arr.dtype.kind] > _CATEGORY[dst.dtype.kind]:
        from ..dtypes import from_np
        from .reduction import _cap
        raise RuntimeError(
            f"result type {_cap(from_np(arr.dtype))} can't be cast to the desired output type "
            f"{_cap(from_np(dst.dtype))}")
    if arr.shape != dst.shape:
        try:
            xp.broadcast_to(arr, dst.shape)
        except ValueError:
            if _broadcastable(arr.shape, dst.shape):
                bshape = list(xp.broadcast_shapes(arr.shape, dst.shape))
            else:
                bshape = list(arr.shape)
            raise RuntimeError(
                f"output with shape {list(dst.shape)} doesn't match the broadcast shape {bshape}"
            ) from None
    try:
        xp.copyto(dst, arr, casting="unsafe")
    except ValueError as e:
        if "read-only" in str(e):
            raise overlap_error() from None
        raise


def _broadcastable(a, b):
    try:
        xp.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _keep_original(self, result):
    """If ``result``'s node saved ``self`` (``pow_``, ``mul_``, ``sin_``...), give it a copy
    of ``self``'s old value, since ``self`` is about to be overwritten (PyTorch's in-place
    ops keep the original self the same way). The copy keeps ``self``'s grad_fn, so a
    backward under ``create_graph`` still differentiates through the old value."""
    node = result.grad_fn
    src = node._saved_src if node is not None else None
    if not src or sum(s is self for s in src) != 1:
        # (saved twice: self was also another argument, ``y.mul_(y)``; PyTorch keeps only
        # the self argument's original, so the version check refuses that one, as there)
        return
    old = Tensor._wrap(self._data.copy(), self.grad_fn, self._output_nr)
    old._requires_grad = self._requires_grad
    saved = list(node.saved)
    for i, s in enumerate(src):
        if s is self:
            src[i] = old
            saved[i] = old._data
    node.saved = tuple(saved)
    node._saved_vcs = [e for e in node._saved_vcs if e[2] is not self]


def rebase(self, result, op_name):
    """Write ``result`` into ``self`` and make ``self`` the output of ``result``'s node."""
    _keep_original(self, result)
    _write(self, result._data, op_name)
    self._record_inplace(op_name)
    if result.grad_fn is not None:
        self.grad_fn = result.grad_fn
        self._output_nr = result._output_nr
        self._requires_grad = True
    if _stack.active:
        _tell_transforms(self, result, False)


class CopySlices(Node):
    """The root of a view after an in-place op on the view: old root outside the view
    region, the op's result inside it."""

    _bw_name = "CopySlices"

    def name(self):
        return "torch::autograd::CopySlices"  # PyTorch's name(); repr says CopySlices

    def forward(ctx, root, result, chain):
        ctx.chain = chain
        return root  # the write already happened through the view

    def backward(ctx, g):
        n = ctx.needs_input_grad
        g_root = MaskView.apply(g, chain=ctx.chain) if n[0] else None
        g_res = replay_view(g, ctx.chain) if n[1] else None
        return g_root, g_res


class MaskView(Node):
    """``g`` with the region seen by a view chain set to zero (self-adjoint)."""

    _bw_name = "CopySlicesMaskBackward0"

    def forward(ctx, g, chain):
        ctx.chain = chain
        out = g.copy()
        replay_view(out, chain)[...] = 0
        return out

    def backward(ctx, gg):
        return MaskView.apply(gg, chain=ctx.chain)


def on_view(self, compute, op_name):
    """In-place op on a view whose root is (or becomes) part of a graph."""
    root = self._base
    result = compute(self)
    _keep_original(self, result)
    _write(self, result._data, op_name)
    self._record_inplace(op_name)
    if root._requires_grad or result._requires_grad:
        new_root = CopySlices.apply(root, result, chain=self._view_chain)
        root.grad_fn = new_root.grad_fn
        root._output_nr = 0
        root._requires_grad = True
        fresh = replay_view(root, self._view_chain)
        self.grad_fn = fresh.grad_fn
        self._output_nr = fresh._output_nr
        self._requires_grad = True
    if _stack.active:
        _tell_transforms(self, result, True)
    return self


def _tell_transforms(self, result, through_view):
    for entry in _state.transforms:
        wrote = getattr(entry, "wrote", None)
        if wrote is not None:
            wrote(self, result, through_view)


def _tracked_by_transform(self, args):
    """True when a transform of this thread must see the write of ``args`` into ``self``."""
    for entry in _state.transforms:
        tracks = getattr(entry, "tracks_write", None)
        if tracks is not None and tracks(self, args):
            return True
    return False


def _needs_graph(self, args):
    """Whether writing into ``self`` must go through the op + ``rebase`` path."""
    if _state.enabled:
        if self._requires_grad:
            return True
        base = self._base
        if base is not None and base._requires_grad:
            return True
        for a in args:
            if isinstance(a, Tensor) and a._requires_grad:
                return True
    return bool(_stack.active) and _tracked_by_transform(self, args)


def make_inplace(fn, name):
    """Build ``tensor.<name>(...)`` from the out-of-place ``fn(tensor, ...)``."""

    def method(self, *args, **kwargs):
        self._check_inplace()
        if not _needs_graph(self, args):
            with grad_mode.no_grad():
                r = fn(self, *args, **kwargs)
            _write(self, r._data, name)
            self._record_inplace(name)
            return self
        if self._base is not None:
            return on_view(self, lambda t: fn(t, *args, **kwargs), name)
        r = fn(self, *args, **kwargs)
        rebase(self, r, name)
        return self

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place version of ``{fn.__name__}`` (bumps the version counter)."
    return method


def _fast_arith(ufunc, name, scale_other=False):
    """``add_``/``sub_``/``mul_``/``div_`` with a no-graph fast path straight into storage
    (optimizer updates live here; so do counters such as batch norm's, an integer tensor
    plus a Python int that fits its dtype)."""
    from . import elementwise as E
    slow = make_inplace({"add_": E.add, "sub_": E.sub, "mul_": E.mul, "div_": E.div}[name], name)

    def method(self, other, *args, **kwargs):
        d = self._data
        kind = d.dtype.kind
        if not args and (not kwargs or set(kwargs) == {"alpha"}) and d.flags.writeable \
                and (kind == "f" or (kind in "iu" and name != "div_")) \
                and not _needs_graph(self, (other,)):
            o = other._data if isinstance(other, Tensor) else other
            alpha = kwargs.get("alpha", 1)
            if kind == "f":
                ok = isinstance(o, (int, float)) or (B.is_array(o) and o.dtype == d.dtype and
                                                     _fits(o.shape, d.shape))
            else:   # (other operands, and ints out of the dtype's range, promote or wrap: slow path)
                ok = type(o) is int and type(alpha) is int and _int_fits(o * alpha, d.dtype)
            if ok:
                if alpha != 1:
                    o = o * alpha
                ufunc(d, o, out=d)
                self._record_inplace(name)
                return self
        return slow(self, other, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


def _fast_relu(fn, name):
    """``relu_`` with a no-graph fast path: the max against zeros written straight into storage
    (a frozen ResNet-18's in-place ReLUs: 1.26 -> ~0.4 ms a step, where the general path made
    the result, then copied it in)."""
    from .elementwise import relu_array
    slow = make_inplace(fn, name)

    def method(self):
        d = self._data
        if d.dtype.kind == "f" and d.flags.writeable and not _needs_graph(self, ()):
            relu_array(d, out=d)
            self._record_inplace(name)
            return self
        return slow(self)

    method.__name__ = method.__qualname__ = name
    return method


def _int_fits(value, dtype):
    bounds = _INT_BOUNDS.get(dtype)
    if bounds is None:
        info = xp.iinfo(dtype)
        bounds = _INT_BOUNDS[dtype] = (int(info.min), int(info.max))
    return bounds[0] <= value <= bounds[1]


_INT_BOUNDS = {}   # dtype -> (min, max): iinfo costs microseconds a call


def _fits(src, dst):
    """True when ``src`` broadcasts to exactly ``dst`` (so an in-place write is legal)."""
    if len(src) > len(dst):
        return False
    # strict=False: src may have fewer dims; only its trailing dims are compared
    return all(a == b or a == 1 for a, b in zip(reversed(src), reversed(dst), strict=False))

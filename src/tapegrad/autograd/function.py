"""``autograd.Function``: user-defined ops with their own forward and backward.

The user's ``forward(ctx, *args)`` runs on tensors with recording off; the
node it leaves behind calls the user's ``backward(ctx, *grads)`` with tensors.
"""
from __future__ import annotations

from . import grad_mode
from .graph import Node, VersionCounter, _seq
from ..tensor import Tensor

_state = grad_mode.state


class FunctionCtx:
    """What ``forward`` may use: ``save_for_backward``, ``mark_non_differentiable``, ...

    The context *is* the graph node (as in PyTorch), so it also has ``next_functions``.
    """

    def save_for_backward(self, *tensors):
        self._to_save = tensors

    @property
    def saved_tensors(self):
        from .graph import _FREED_MSG
        if self._released:
            raise RuntimeError(_FREED_MSG)
        for vc, version, t in self.__dict__.get("_saved_checks", ()):
            if vc.value != version:
                from .graph import _modified_message
                raise RuntimeError(_modified_message(self, vc, version, t))
        saved = self.__dict__.get("_to_save", ())
        if any(type(s) is _SavedOutput for s in saved):
            saved = tuple(s.unpack(self) if type(s) is _SavedOutput else s for s in saved)
        return saved

    def _release(self):
        if self.__dict__.get("_to_save"):
            self._to_save = ()
            self._saved_checks = ()  # its entries hold the saved tensors themselves
            self._released = True

    def mark_non_differentiable(self, *tensors):
        self._non_diff = {id(t) for t in tensors}

    def mark_dirty(self, *tensors):
        self._dirty = {id(t) for t in tensors}

    def set_materialize_grads(self, value):
        self._materialize = bool(value)


class _SavedOutput:
    """A saved output of a custom Function, held without its tensor (which holds the node:
    keeping it would make a reference cycle). Unpacked with the node as grad_fn, like torch."""

    __slots__ = ("nr", "data", "vc")

    def __init__(self, nr, data, vc):
        self.nr, self.data, self.vc = nr, data, vc

    def unpack(self, node):
        t = Tensor._wrap(self.data, node, self.nr)
        t._vc = self.vc
        return t


class BackwardCFunction(FunctionCtx, Node):
    tensor_api = True
    multi_output = True
    _materialize = True

    def _backward_tensors(self, grads, create_graph):
        from .. import backend as B
        gs = []
        for i, g in enumerate(grads):
            if g is None and self._materialize:
                shape, dt = self._meta[i]
                g = B.xp.zeros(shape, dtype=dt)
            gs.append(Tensor._wrap(g) if g is not None and not isinstance(g, Tensor) else g)
        with grad_mode.set_grad_enabled(create_graph):
            res = self._fn_cls.backward(self, *gs)
        if not isinstance(res, tuple):
            res = (res,)
        n_in = len(self.needs_input_grad)
        if len(res) < n_in:
            raise RuntimeError(
                f"function {self.name()} returned an incorrect number of gradients (expected "
                f"{n_in}, got {len(res)})")
        res = res[:n_in] if all(r is None for r in res[n_in:]) else res
        pos = self.__dict__.get("_tensor_pos")
        if pos is not None:
            # PyTorch: only tensor inputs are graph edges; others must get None
            for i, r in enumerate(res):
                if r is not None and i not in pos:
                    raise RuntimeError(
                        f"function {self.name()} returned a gradient different than None at "
                        f"position {i + 1}, but the corresponding forward input was not a Variable")
            res = tuple(res[i] for i in pos)
        out = []
        for e, r in zip(self._next, res, strict=False):
            if r is not None and not isinstance(r, Tensor):
                raise TypeError(
                    f"function {self.name()} returned a gradient of type {type(r).__name__}, "
                    "expected a Tensor or None"
                )
            if e is None and r is not None:
                r = None
            if r is not None and not create_graph:
                r = r._data
            out.append(r)
        return tuple(out)


class FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_cls = type(name + "Backward", (BackwardCFunction,),
                                 {"_fn_cls": cls, "_bw_name": name + "Backward"})


class Function(metaclass=FunctionMeta):
    """Subclass with static ``forward(ctx, ...)`` and ``backward(ctx, *grads)``; call ``.apply``.

    >>> class Exp(tapegrad.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         y = x.exp()
    ...         ctx.save_for_backward(y)
    ...         return y
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (y,) = ctx.saved_tensors
    ...         return g * y
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):  # noqa: C901 - PyTorch's rules for each kind of input and output
        node = cls._backward_cls.__new__(cls._backward_cls)
        edges, needs = [], []
        requires = False
        for a in args:
            if isinstance(a, Tensor) and a._requires_grad:
                fn = a.grad_fn
                edges.append((fn, a._output_nr) if fn is not None else (a, 0))
                needs.append(True)
                requires = True
            else:
                if isinstance(a, Tensor):
                    edges.append(None)
                needs.append(False)
        if len(edges) != len(args):
            node._tensor_pos = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        node.needs_input_grad = tuple(needs)
        with grad_mode.no_grad():
            out = cls.forward(node, *args, **kwargs)
        record = requires and _state.enabled
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        if not record:
            return out
        node._next = edges
        node._seq = next(_seq)
        non_diff = node.__dict__.get("_non_diff", set())
        dirty = node.__dict__.get("_dirty", set())
        results = []
        meta = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                results.append(o)
                meta.append(((), None))
                continue
            if id(o) in dirty:
                r = o  # modified in place: becomes the output of this node
                r._record_inplace(cls.__name__ + ".apply")
            elif (
                any(o is a for a in args) or o._base is not None or o.grad_fn is not None or o._requires_grad
            ):
                r = Tensor._wrap(o._data)  # an input returned as is: a new tensor for the graph
            else:
                r = o
            if id(o) not in non_diff and o._data.dtype.kind == "f":
                r.grad_fn = node
                r._output_nr = i
                r._requires_grad = True
            results.append(r)
            meta.append((o._data.shape, o._data.dtype))
        node._meta = tuple(meta)
        node.n_out = len(outs)
        saved = node.__dict__.get("_to_save")
        if saved:
            checks = []
            keep = []
            for t in saved:
                if isinstance(t, Tensor):
                    vc = t._vc
                    if vc is None:
                        vc = t._vc = VersionCounter()
                    vc.saved = True
                    nr = next((i for i, r in enumerate(results)
                               if r is t and r._grad_fn is node), None)
                    if nr is not None:
                        t = _SavedOutput(nr, t._data, vc)
                    checks.append((vc, vc.value, t if nr is None else nr))
                keep.append(t)
            node._to_save = tuple(keep)
            node._saved_checks = checks
        return results[0] if single else tuple(results)


class InplaceFunction(Function):
    pass


class NestedIOFunction(Function):
    pass


def once_differentiable(fn):
    return fn

"""Graph nodes: the backward half of every recorded op.

Each differentiable op is a ``Node`` subclass with ``forward`` (on raw arrays)
and ``backward`` (a vector-Jacobian product) side by side. ``Node.apply``
runs the forward and, when grad mode is on and an input requires grad,
records a node whose edges point at the inputs' producers: another node, or a
leaf tensor whose ``.grad`` receives the result.

The same ``apply`` works on raw arrays (no tensor among the inputs): then it
just runs the forward. Backward formulas are written with ops and operators
only, so the very same formula computes on arrays in an ordinary backward and
on tensors, recording a new graph, under ``create_graph=True``.
"""
from __future__ import annotations

import itertools
import weakref

from .. import backend as B
from . import grad_mode
from ._version import VersionCounter, user_frame_summary  # noqa: F401 (re-exported)
from ..tensor import Tensor
from .. import dtypes

_seq = itertools.count()
_state = grad_mode.state
_new = object.__new__
_ndarray = B.ndarray
_asarray = B.xp.asarray


class _NoCtx:
    """Stand-in context for forwards that record nothing: it forgets what it is told."""

    needs_input_grad = ()

    def __setattr__(self, name, value):
        pass


_NO_CTX = _NoCtx()


class _Output:
    """Marks a saved array that is the op's own output (unpacked with this node as grad_fn)."""


OUTPUT = _Output()


class Node:
    """Base of every graph node (``grad_fn``). Subclasses define ``forward``/``backward``.

    ``forward(ctx, *arrays, **options)`` computes on backend arrays and may set
    ``ctx.saved = (...)`` to keep arrays for backward: inputs and the output are
    recognised and re-linked to the graph under ``create_graph``, so save those
    rather than values derived from them. ``backward(ctx, grad)`` returns one
    gradient per positional input (``None`` where there is none); gradients may
    have the broadcast shape, the engine sums them down to each input's shape.
    """

    #: PyTorch's name for the node, e.g. "MulBackward0"; defaults to <ClassName>Backward0
    _bw_name = None
    #: number of outputs of the forward (set per node when ``multi_output``)
    n_out = 1
    #: True when ``forward`` returns a tuple of arrays (split, unbind, custom Functions)
    multi_output = False
    #: True when ``backward`` takes and returns tensors (custom Functions)
    tensor_api = False
    #: True when the output is a view of the first input (shares memory and version counter)
    is_view = False
    #: True for elementwise ops whose inputs follow PyTorch's type promotion
    promote = False
    #: True for ops that compute in floating point even for integer inputs (exp, sqrt, /)
    to_float = False
    #: keep only the first ``n_edges`` inputs as graph edges (PyTorch's ``pow(Tensor, Scalar)``,
    #: ``rsub(Tensor, Scalar)``: a trailing scalar is an attribute, not an input)
    n_edges = None
    #: optional forward-mode rule ``jvp(args, options, tangents, outputs)`` -> one tangent per
    #: output, or None for the generic rule derived from ``backward`` (autograd/forward_ad.py)
    jvp = None

    saved = None
    _saved_src = None
    _saved_vcs = None
    _released = False
    _pre_hooks = None
    _post_hooks = None
    _tensor_hooks = None
    _retained = None

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "_bw_name" not in cls.__dict__:
            cls._bw_name = cls.__name__ + "Backward0"

    # ------------------------------------------------------------------ running
    # long: the hottest function: one flat body, since each helper call costs about 1% of a small op
    @classmethod
    def apply(cls, *args, **options):  # noqa: C901 - the hottest function, one flat body on purpose
        """Run the op on tensors (recording a node when needed) or on raw arrays."""
        # NOTE: this is the hottest function of the library: one pass over the
        # arguments, no generators, and the common single-output case inline.
        if _state.observers:
            return _observed_apply(cls, args, options)
        arrays = []
        requires = False
        first = None
        mixed = False
        for a in args:
            if isinstance(a, Tensor):
                d = a._data
                arrays.append(d)
                if a._requires_grad:
                    requires = True
                if first is None:
                    first = d.dtype
                elif d.dtype is not first and d.dtype != first:
                    mixed = True
            else:
                arrays.append(a)
        if first is None:
            return cls.forward(_NO_CTX, *args, **options)
        if (mixed or first.kind != "f") and (cls.promote or cls.to_float):
            args = _promote(cls, args)
            arrays = [a._data if isinstance(a, Tensor) else a for a in args]

        if not requires or not _state.enabled:
            try:
                out = cls.forward(_NO_CTX, *arrays, **options)
            except _NUMPY_ERRORS as e:
                raise _forward_error(cls, e, arrays) from None
            if cls.multi_output:
                res = tuple([Tensor._wrap(o) for o in out])
                if requires:
                    for r in res:
                        r._made_by = cls
                if cls.is_view:
                    for i, r in enumerate(res):
                        _make_view(r, args[0], (cls, options, i))
                return res
            res = _new(Tensor)
            res._data = out if type(out) is _ndarray else _asarray(out)
            if requires:
                res._made_by = cls  # cut by no_grad: for autograd.explain (one store, only here)
            if cls.is_view and B.may_share_memory(out, arrays[0]):
                _make_view(res, args[0], (cls, options, -1))
            return res

        node = _new(cls)
        edges = []
        needs = []
        for a in args:
            if isinstance(a, Tensor) and a._requires_grad:
                # (the grad_fn property refreshes views modified in place; others skip it)
                fn = a._grad_fn if a._base is None else a.grad_fn
                edges.append((a, 0) if fn is None else (fn, a._output_nr))
                needs.append(True)
            else:
                edges.append(None)
                needs.append(False)
        if cls.n_edges is not None:
            del edges[cls.n_edges:], needs[cls.n_edges:]
        node._next = edges
        node.needs_input_grad = needs
        node._seq = next(_seq)
        # NOTE: saved arrays are matched to input tensors by identity (_link_saved), so two
        # distinct tensors over one array object (x.detach() twice, from_numpy(a) twice)
        # must reach the forward as distinct objects, else one would get the other's gradient.
        if len(arrays) == 2:
            if arrays[0] is arrays[1] and args[0] is not args[1]:
                arrays[1] = arrays[1].view()
        elif len(arrays) > 2:
            _unalias(args, arrays)
        try:
            out = cls.forward(node, *arrays, **options)
        except _NUMPY_ERRORS as e:
            raise _forward_error(cls, e, arrays) from None
        if cls.multi_output:
            outs = out
            node.n_out = len(outs)
            results = tuple([Tensor._wrap(o, node, i) for i, o in enumerate(outs)])
            node._meta = tuple([(r._data.shape, r._data.dtype) for r in results])
        else:
            outs = (out,)
            r = _new(Tensor)
            data = out if type(out) is _ndarray else _asarray(out)
            r._data = data
            r._grad_fn = node
            r._requires_grad = True
            results = (r,)
            node._meta = ((data.shape, data.dtype),)
        if node.saved is not None:
            _link_saved(node, args, arrays, outs, results)
        if cls.is_view:
            for i, o in enumerate(outs):
                if B.may_share_memory(o, arrays[0]):
                    _make_view(results[i], args[0], (cls, options, i if cls.multi_output else -1))
        return results if cls.multi_output else results[0]

    def forward(ctx, *args, **options):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(ctx).__name__} does not define forward")

    def backward(ctx, *grads):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(ctx).__name__} does not define backward")

    def _release(self):
        """Free saved values after a backward without retain_graph."""
        if self.saved is not None:
            self.saved = None
            self._saved_src = None
            self._saved_vcs = None  # its entries hold the saved input tensors themselves
            self._released = True

    # ----------------------------------------------------------- introspection
    def name(self) -> str:
        return self._bw_name

    def __repr__(self):
        return f"<{self._bw_name} object at {hex(id(self))}>"

    @property
    def next_functions(self):
        """``((node, input_nr), ...)``: one pair per input; leaves appear as ``AccumulateGrad``."""
        out = []
        for e in self._next:
            if e is None:
                out.append((None, 0))
            elif isinstance(e[0], Node):
                out.append(e)
            else:
                out.append((AccumulateGrad.of(e[0]), 0))
        return tuple(out)

    @property
    def metadata(self):
        d = self.__dict__.get("_metadata")
        if d is None:
            d = self._metadata = {}
        return d

    def register_hook(self, fn):
        """``fn(grad_inputs, grad_outputs)`` runs after this node's backward; may return new grad_inputs."""
        if self._post_hooks is None:
            self._post_hooks = []
        self._post_hooks.append(fn)
        return _RemovableHandle(self._post_hooks, fn)

    def register_prehook(self, fn):
        """``fn(grad_outputs)`` runs before this node's backward; may return new grad_outputs."""
        if self._pre_hooks is None:
            self._pre_hooks = []
        self._pre_hooks.append(fn)
        return _RemovableHandle(self._pre_hooks, fn)

    def _register_tensor_hook(self, output_nr, fn):
        if self._tensor_hooks is None:
            self._tensor_hooks = {}
        lst = self._tensor_hooks.setdefault(output_nr, [])
        lst.append(fn)
        return _RemovableHandle(lst, fn)

    @property
    def _saved_tensors_for_display(self):
        return self.saved or ()


class AccumulateGrad(Node):
    """The node PyTorch shows for a leaf in ``next_functions``; holds the leaf as ``.variable``.

    tapegrad's engine accumulates into leaves directly, so this object exists for
    introspection only and is cached (weakly) on the leaf so its identity is stable.
    """

    _bw_name = "AccumulateGrad"

    def __init__(self, variable):
        self.variable = variable
        self._next = ()

    @staticmethod
    def of(t):
        ref = t._acc_ref
        acc = ref() if ref is not None else None
        if acc is None:
            acc = AccumulateGrad(t)
            t._acc_ref = weakref.ref(acc)
        return acc

    @property
    def next_functions(self):
        return ()

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"  # PyTorch's name(); repr says AccumulateGrad

    def register_hook(self, fn):
        # Post-hooks on AccumulateGrad run after the leaf's .grad is updated.
        return self.variable.register_post_accumulate_grad_hook(lambda t: fn((), (t.grad,)))

    def register_prehook(self, fn):
        # Pre-hooks on AccumulateGrad see (and may replace) the incoming gradient.
        def hook(g):
            r = fn((g,))
            return None if r is None else r[0]
        hook.__name__ = getattr(fn, "__name__", "<unknown>")
        return self.variable.register_hook(hook)


class _RemovableHandle:
    _next_id = itertools.count()

    def __init__(self, container, item):
        self._container = weakref.ref(container) if not isinstance(container, list) else container
        self._item = item
        self.id = next(self._next_id)

    def remove(self):
        c = self._container
        try:
            c.remove(self._item)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _observed_apply(cls, args, options):
    """observe.observed_apply, imported on first use (a function-level import costs ~1 us a call)."""
    global _observed_apply
    from .observe import observed_apply
    _observed_apply = observed_apply
    return observed_apply(cls, args, options)


#: what NumPy raises for bad shapes, indices and dtypes: never shown to the user as is
_NUMPY_ERRORS = (ValueError, IndexError, TypeError)


def _forward_error(cls, e, arrays):
    """An error from an op's forward, as PyTorch would raise it.

    Only the error path pays for this (a ``try`` costs nothing in CPython 3.11 until
    something is raised). Ops raise PyTorch's own errors (RuntimeError...) before or
    inside ``forward``, so a ValueError, IndexError or TypeError caught here is NumPy's
    (raised from C, its traceback does not always show NumPy). NumPy's broadcasting
    error becomes PyTorch's message; IndexError stays an IndexError in PyTorch's words
    ("dimension", not "axis"); ValueError and TypeError, which NumPy uses for shapes
    and dtypes, become RuntimeError with a message naming the op.
    """
    msg = str(e)
    name = cls._bw_name[:-len("Backward0")] if cls._bw_name.endswith("Backward0") else cls._bw_name
    if isinstance(e, ValueError) and "broadcast" in msg:
        shapes = [B.xp.shape(a) for a in arrays if type(a) is _ndarray or isinstance(a, list)]
        err = B.broadcast_error(shapes)
        if err is not None:
            return err
        return RuntimeError(f"{name}: shapes {[list(s) for s in shapes]} cannot be broadcast together")
    msg = msg.replace("axis", "dimension")
    if isinstance(e, IndexError):
        return IndexError(msg)  # (PyTorch's index messages do not name the op)
    if isinstance(e, TypeError):  # NumPy's words ("ufunc ... loop") mean nothing to the user
        kinds = ", ".join(f"tensor of {a.dtype}" if type(a) is _ndarray else type(a).__name__
                          for a in arrays)
        return RuntimeError(f"{name}: unsupported argument types ({kinds})")
    return RuntimeError(f"{name}: {msg}")


def _promote(cls, args):
    """Cast tensor inputs to PyTorch's result dtype (a recorded cast when they require grad)."""
    first = None
    same = True
    for a in args:
        if isinstance(a, Tensor):
            d = a._data.dtype
            if first is None:
                first = d
            elif d != first:
                same = False
                break
    # NOTE: NumPy 2's weak-scalar rules already agree with PyTorch when every
    # tensor shares one floating dtype; only other cases pay for result_type.
    if same and first.kind == "f":
        return args
    if cls.promote:
        res = dtypes.result_type(*args)
    else:
        res = dtypes.from_np(first)
    if cls.to_float and not res.is_floating_point:
        res = dtypes.get_default_dtype()
    target = res.np
    out = []
    for a in args:
        if isinstance(a, Tensor) and a._data.dtype != target:
            a = a.to(res)
        elif type(a) is int and target.kind in "iu":
            info = B.xp.iinfo(target)
            if not info.min <= a <= info.max:
                # PyTorch wraps an out-of-range Python int (uint8 + -1 is uint8 255); NumPy raises
                a = B.xp.array(a, dtype=B.xp.int64).astype(target)
        out.append(a)
    return out


def _unalias(args, arrays):
    """Give every distinct input tensor its own array object (a view where two share one)."""
    for i in range(1, len(arrays)):
        arr = arrays[i]
        for j in range(i):
            if arrays[j] is arr and args[j] is not args[i]:
                arrays[i] = arr.view()
                break


#: what autograd.explain reads on a saved input that is outside the graph (see _link_saved)
_CUT_MARKS = ("_cut", "_cuts", "_made_by")


def _link_saved(node, args, arrays, outs, results):
    """Remember which saved arrays are inputs or outputs: for version checks and create_graph.

    Entries of ``node._saved_src`` are None (a constant), an input tensor, or the
    int index of an output (outputs are not held, so a graph never keeps itself alive).
    A saved input cut from the graph (``detach()``, an op under ``no_grad``...) also leaves
    its marks in ``node._saved_marks``: backward frees ``_saved_src``, and
    ``autograd.explain`` must still find the cut afterwards.
    """

    src = []
    vcs = []
    for s in node.saved:
        found = None
        if s is not None:
            for i, o in enumerate(outs):
                if s is o:
                    found, t = i, results[i]
                    break
            else:
                for a, arr in zip(args, arrays, strict=False):
                    if s is arr and isinstance(a, Tensor):
                        found = t = a
                        if not a._requires_grad:
                            _keep_cut_marks(node, a)
                        break
        src.append(found)
        if found is not None:
            vc = t._vc
            if vc is None:
                vc = t._vc = VersionCounter()
            vc.saved = True
            vcs.append((vc, vc.value, found))
    node._saved_src = src
    node._saved_vcs = vcs


def _keep_cut_marks(node, t):
    d = t.__dict__
    if "_made_by" in d or "_cut" in d or "_cuts" in d:
        marks = {k: d[k] for k in _CUT_MARKS if k in d}
        node._saved_marks = node.__dict__.get("_saved_marks", ()) + (marks,)


def _make_view(out, base, step):
    """Mark ``out`` as a view of ``base``: shared version counter, and the chain of view
    ops from the root storage (replayed when an in-place op on the view must update
    the root's graph)."""
    vc = base._vc
    if vc is None:
        vc = base._vc = VersionCounter()
    out._vc = vc
    out._view_version = vc.value
    if base._base is not None:
        out._base = base._base
        out._view_chain = base._view_chain + (step,)
    else:
        out._base = base
        out._view_chain = (step,)
    if base._nograd_view or (not _state.enabled and out._base._requires_grad):
        out._nograd_view = True  # PyTorch's CreationMeta::NO_GRAD_MODE


def replay_view(x, chain):
    """Apply a recorded chain of view ops to ``x`` (an array, or a tensor to record)."""
    for cls, options, i in chain:
        x = cls.apply(x, **options)
        if i >= 0:
            x = x[i]
    return x


# --------------------------------------------------------------------------- saved values
_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


def check_saved(node):
    """Raise PyTorch's errors if saved values were freed or modified in place since saving."""
    if node._released:
        raise RuntimeError(_FREED_MSG)
    vcs = node._saved_vcs
    if not vcs:
        return
    for vc, version, src in vcs:
        if vc.value != version:
            raise RuntimeError(_modified_message(node, vc, version, src))


def _modified_message(node, vc, version, src):
    from ..tensor import _type_str

    if isinstance(src, int):
        shape, np_dtype = node._meta[src]
        desc, nr, owner = _type_str(np_dtype), src, node.name()
    else:
        shape, desc, nr = src.shape, _type_str(src._data.dtype), src._output_nr
        owner = src.grad_fn.name() if src.grad_fn is not None else None
    if owner:
        # PyTorch names the op without its "Backward<n>" suffix ("output 0 of Sigmoid")
        import re
        owner = re.sub(r"Backward\d*$", "", owner.rsplit("::", 1)[-1]) or owner
    what = f", which is output {nr} of {owner}," if owner else ""
    where = ""
    if vc.last_op:
        where = f" It was modified by {vc.last_op}"
        where += f" at {vc.where}." if vc.where else "."
    return (
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: [{desc} {list(shape)}]{what} is at version "
        f"{vc.value}; expected version {version} instead.{where} Hint: the backward of "
        f"{node.name()} needed it; use .clone() before the in-place operation, or do the "
        "operation out of place."
    )


def saved_as_tensors(node):
    """The node's saved values re-linked to the graph, for backward under create_graph."""

    out = []
    for s, src in zip(node.saved, node._saved_src or (None,) * len(node.saved), strict=True):
        if src is None:
            out.append(Tensor._wrap(s) if B.is_array(s) else s)
        elif isinstance(src, int):
            # NOTE: the output is re-created with this node as grad_fn (PyTorch does the
            # same), so a second differentiation flows through this node's inputs.
            out.append(Tensor._wrap(s, node, src))
        else:
            out.append(src)
    return tuple(out)

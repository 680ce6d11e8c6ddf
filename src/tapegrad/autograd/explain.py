"""``explain(tensor, root=None)``: why is ``tensor.grad`` None (or zero)?

The answer is one of PyTorch users' usual suspects, said in plain words:

* ``not_leaf``  - a non-leaf: ``.grad`` is only filled for leaves (use ``.retain_grad()``);
* ``frozen``    - a leaf with ``requires_grad=False``;
* ``cut``       - the path to ``root`` was cut: ``detach()``, ``.data``, an op under
  ``no_grad``/``inference_mode``, an integer/bool result (``.long()``, ``argmax``, ``==``)
  or another op without a gradient;
* ``unused``    - ``root``'s graph does not reach it;
* ``zero_grad`` - it has a gradient, but every element is 0;
* ``has_grad``  - it has a gradient;
* ``no_backward_yet`` - ``root`` reaches it but no backward has filled ``.grad`` yet.

Provenance is cheap: ``detach()``, ``.data``, integer casts, ``argmax`` and comparisons of
tensors that require grad mark their result with a ``_Cut`` (op and source line; none of
them is on a hot path), and an op run under ``no_grad`` on an input that requires grad
leaves ``_made_by = <op>`` on its result (the one store ``Node.apply`` pays, only there).
A node that saves such a value copies these marks (``_saved_marks``), so the answer is the
same after ``backward()`` has freed what the node saved.
``with track_origins():`` (an observer) records the source line of every op's outputs
and follows cut values through later ops, so ``explain`` can name the exact line.
"""
from __future__ import annotations

import collections
import weakref

from ..tensor import Tensor
from . import grad_mode
from ._version import user_frame_summary
from .grad_mode import _DecoratorContextManager

_state = grad_mode.state

#: the most recent cuts (weak references to their sources): what explain() searches
_RECENT = collections.deque(maxlen=512)

#: nodes walked from a cut's source to find its leaves (unbounded under track_origins)
WALK_BUDGET = 256

_TRACK_HINT = ("Run the forward pass inside `with tapegrad.autograd.track_origins():` "
               "to have every op's source line recorded.")


class _Cut:
    """Where a value left the graph: ``kind`` ("detach", "data", "integer", "nondiff",
    "no_grad"), the op, the user's source line and a weak reference to the tensor that
    required grad."""

    __slots__ = ("kind", "op", "where", "src", "mode", "leaves", "partial", "__weakref__")

    def __init__(self, kind, op, where, src, mode=None, budget=WALK_BUDGET):
        self.kind, self.op, self.where, self.mode = kind, op, where, mode
        self.src = weakref.ref(src) if src is not None else None
        # the leaves behind src (weakly): src itself is often a temporary that dies at once
        self.leaves, self.partial = _leaf_refs(src, budget) if src is not None else ((), False)

    def reaches(self, t, cache):
        if any(r() is t for r in self.leaves):
            return True
        src = self.src() if self.src is not None else None
        if src is None:
            return False
        return src is t or (self.partial and _reaches(src, t, cache))

    def describe(self) -> str:
        if self.kind == "detach":
            what = "detach() (its result is outside the graph)"
        elif self.kind == "data":
            what = "`.data` (the tensor's storage outside the graph; use the tensor itself)"
        elif self.kind == "integer":
            what = f"an integer/bool result: {self.op} (integer tensors carry no gradient)"
        elif self.kind == "nondiff":
            what = f"{self.op}, which is not differentiable (its result has no gradient)"
        else:
            what = f"{self.op} run under {self.mode or 'no_grad'} (no graph was recorded)"
        return what + (f" at {self.where}" if self.where else "")

    def __repr__(self):
        return f"<cut: {self.describe()}>"


def _leaf_refs(src, budget):
    """Weak references to the leaves that require grad behind ``src`` (at most ``budget``
    nodes walked; ``partial`` is True when the walk stopped early)."""
    fn = src.grad_fn
    if fn is None:
        return ((weakref.ref(src),) if src.requires_grad else ()), False
    seen, refs, stack = {id(fn)}, [], [fn]
    while stack:
        if len(seen) > budget:
            return tuple(refs), True
        n = stack.pop()
        for e in getattr(n, "_next", ()) or ():
            if e is None or id(e[0]) in seen:
                continue
            seen.add(id(e[0]))
            if isinstance(e[0], Tensor):
                refs.append(weakref.ref(e[0]))
            else:
                stack.append(e[0])
    return tuple(refs), False


def note_cut(out, src, kind, op, where=None, mode=None):
    """Mark ``out`` as cut from ``src``'s graph by ``op`` (called where a cut happens; not hot)."""
    c = _Cut(kind, op, where if where is not None else user_frame_summary(), src, mode)
    out._cut = c
    _RECENT.append(c)
    return out


def _cuts_of(t):
    return _marked_cuts(t.__dict__)


def _marked_cuts(d):
    """The cuts recorded in ``d``: a tensor's ``__dict__`` or a node's ``_saved_marks`` entry."""
    cs = d.get("_cuts")
    if cs is not None:
        return cs
    c = d.get("_cut")
    return (c,) if c is not None else ()


# --------------------------------------------------------------------------- track_origins
class _OriginObserver:
    """Records every op's source line on its outputs (and their nodes), and follows cuts:
    an output that does not require grad although an input did is a cut; a value computed
    from a cut value inherits it; a node fed by cut values remembers them."""

    def on_forward(self, cls, args, outputs, seconds, options=None):
        where = user_frame_summary()
        name = _fwd_name(cls)
        src = None
        cuts = ()
        for a in args:
            if isinstance(a, Tensor):
                if a._requires_grad:
                    if src is None:
                        src = a
                elif "_cut" in a.__dict__ or "_cuts" in a.__dict__:
                    for c in _cuts_of(a):
                        if c not in cuts:
                            cuts = cuts + (c,)
        origin = (name, where)
        for r in outputs:
            r._origin = origin
            fn = r._grad_fn
            if fn is not None:
                fn._origin = origin
                if cuts:
                    fn._cut_inputs = cuts
            elif src is not None:
                if not _state.enabled:
                    c = _Cut("no_grad", name, where, src,
                             "inference_mode" if _state.inference else "no_grad", budget=1 << 30)
                elif r._data.dtype.kind not in "fc":
                    c = _Cut("integer", name, where, src, budget=1 << 30)
                else:
                    c = _Cut("nondiff", name, where, src, budget=1 << 30)
                r._cut = c
                _RECENT.append(c)
            elif cuts:
                r._cuts = cuts

    def on_backward(self, node, grads, seconds):
        pass


class track_origins(_DecoratorContextManager):
    """Inside, every op records its source line on its outputs, so ``explain`` (and error
    messages) can name exact lines, and values cut from the graph are followed through
    later ops. Off by default: it costs a stack walk per op."""

    def __enter__(self):
        from . import observe
        self._obs = observe.add(_OriginObserver())
        return self

    def __exit__(self, *exc):
        from . import observe
        observe.remove(self._obs)
        return False


def is_tracking_origins() -> bool:
    return any(isinstance(o, _OriginObserver) for o in _state.observers)


# --------------------------------------------------------------------------- explain
class Explanation(str):
    """The answer (a str); ``.cause`` is its one-word kind (see the module docstring)."""

    cause: str

    def __new__(cls, text, cause):
        self = super().__new__(cls, text)
        self.cause = cause
        return self

    def __repr__(self):
        return str(self)


def _fwd_name(cls):
    name = getattr(cls, "_bw_name", None) or cls.__name__
    return name[:-len("Backward0")] if name.endswith("Backward0") else name


def _desc(t):
    s = f"tensor of shape {list(t._data.shape)}, {t.dtype}"
    if getattr(t, "_is_param", False) or type(t).__name__ == "Parameter":
        s = "parameter of shape " + s[len("tensor of shape "):]
    origin = t.__dict__.get("_origin")
    if origin is not None:
        s += f", made by {origin[0]} at {origin[1]}"
    return s


def _value(g):
    d = g._data
    if d.size <= 8:
        return repr(g)
    import numpy as np
    return (f"tensor of shape {list(d.shape)}: min {d.min():.4g}, max {d.max():.4g}, "
            f"norm {float(np.linalg.norm(d.astype('float64').ravel())):.4g}")


def _walk(root):
    """Nodes and leaves reachable from ``root``; parents (node or leaf id -> consumers)."""
    nodes, leaves, parents = {}, {}, collections.defaultdict(list)
    fn = root.grad_fn
    if fn is None:
        if root.requires_grad:
            leaves[id(root)] = root
        return nodes, leaves, parents
    stack = [fn]
    nodes[id(fn)] = fn
    while stack:
        n = stack.pop()
        for e in getattr(n, "_next", ()) or ():
            if e is None:
                continue
            tgt = e[0]
            key = id(tgt)
            parents[key].append(n)
            if key in nodes or key in leaves:
                continue
            if isinstance(tgt, Tensor):
                leaves[key] = tgt
            else:
                nodes[key] = tgt
                stack.append(tgt)
    return nodes, leaves, parents


def _reaches(src, t, cache):
    """Does ``src``'s graph (``src`` itself included) lead to ``t``?"""
    if src is t:
        return True
    fn = src.grad_fn
    if fn is None:
        return False
    key = id(fn)
    if key not in cache:
        cache[key] = _walk(src)
    nodes, leaves, _ = cache[key]
    tf = t.grad_fn
    return id(tf) in nodes if tf is not None else id(t) in leaves


def _consumed_cuts(nodes):
    """Cuts whose values ``root``'s graph consumed: recorded by track_origins on the nodes,
    or noted by the nodes that saved a cut value (``_saved_marks``, which outlives the
    saved values themselves: backward frees those)."""
    cuts, made_by = [], []
    for n in nodes.values():
        d = n.__dict__
        for c in d.get("_cut_inputs", ()):
            if c not in cuts:
                cuts.append(c)
        for marks in d.get("_saved_marks", ()):
            found = _marked_cuts(marks)
            for c in found:
                if c not in cuts:
                    cuts.append(c)
            m = marks.get("_made_by")
            if m is not None and not found:
                made_by.append((m, n))
    return cuts, made_by


def _path_names(t, nodes, parents):
    """Names of the nodes between ``t`` and the root, nearest to ``t`` first."""
    start = id(t.grad_fn) if t.grad_fn is not None else id(t)
    seen, order, frontier = {start}, [], [start]
    while frontier and len(order) < 12:
        nxt = []
        for key in frontier:
            for p in parents.get(key, ()):
                if id(p) not in seen:
                    seen.add(id(p))
                    order.append(p)
                    nxt.append(id(p))
        frontier = nxt
    out = []
    for n in order[:8]:
        o = n.__dict__.get("_origin")
        out.append(n.name() + (f" ({o[1]})" if o else ""))
    return out


def _candidate_cuts(t, limit=4):
    """Recorded cuts whose source graph leads to ``t``, most recent first."""
    cache, found = {}, []
    for c in reversed(_RECENT):
        if c.reaches(t, cache):
            found.append(c)
            if len(found) >= limit:
                break
    return found


# long: one case per reason a .grad can be missing, in the order a user would check them
def explain(tensor, root=None) -> Explanation:  # noqa: C901 - one case per reason a grad is missing
    """Say in plain words why ``tensor.grad`` is None or zero after a backward from ``root``.

    >>> w = tapegrad.ones(2, requires_grad=True)
    >>> loss = (w.detach() * 2).sum()
    >>> print(tapegrad.autograd.explain(w).cause)
    cut
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"explain() expects a Tensor, got {type(tensor).__name__}")
    if root is not None and not isinstance(root, Tensor):
        raise TypeError(f"root must be a Tensor, got {type(root).__name__}")
    head = f"The {_desc(tensor)}"
    graph = _walk(root) if root is not None else None
    reach = None
    if graph is not None:
        nodes, leaves, parents = graph
        fn = tensor.grad_fn
        reach = (id(fn) in nodes) if fn is not None else (id(tensor) in leaves)

    # (e)/(f): there is a gradient
    g = tensor._grad
    if g is not None:
        kept = " (kept by retain_grad())" if tensor.grad_fn is not None else ""
        if not g._data.any():
            msg = [f"{head} has a gradient{kept}, but it is all zeros: grad = {_value(g)}.",
                   "It is used, but every path to it multiplies the gradient by zero: e.g. a "
                   "ReLU that was off for every element (all inputs negative), a mask, or a "
                   "product with 0."]
            if graph is not None and reach:
                names = _path_names(tensor, nodes, parents)
                if names:
                    msg.append("The gradient reaches it through: " + " <- ".join(names) + ".")
            return Explanation("\n".join(msg), "zero_grad")
        msg = [f"{head} has a gradient{kept}: grad = {_value(g)}."]
        if graph is not None and not reach:
            msg.append("It did not come from this root (root's graph does not reach it): "
                       "an earlier backward() left it there (gradients accumulate until zeroed).")
        return Explanation("\n".join(msg), "has_grad")

    # (a): a non-leaf
    if tensor.grad_fn is not None:
        name = tensor.grad_fn.name()
        msg = [f"{head} is not a leaf: it was computed by an op (grad_fn=<{name}>), and "
               "backward() fills .grad only for leaves (tensors created with "
               "requires_grad=True, parameters).",
               f"Call .retain_grad() on it before backward() to keep its gradient, or use "
               f"tapegrad.autograd.grad(root, tensor); the gradient itself flows through "
               f"{name} to the leaves."]
        if graph is not None and not reach:
            msg.append("Note: root's graph does not reach it either.")
        return Explanation("\n".join(msg), "not_leaf")

    # (b)/(c): it does not require grad
    if not tensor.requires_grad:
        cuts = _cuts_of(tensor)
        if cuts:
            if len(cuts) == 1 and tensor.__dict__.get("_cut") is cuts[0]:
                msg = [f"{head} does not require grad: it was cut from the graph by "
                       f"{cuts[0].describe()}."]
            else:
                msg = [f"{head} does not require grad: it was computed from a value cut from "
                       "the graph by " + "; and by ".join(c.describe() for c in cuts) + "."]
            msg.append("Gradients do not flow through a cut: remove it (use the tensor itself), "
                       "or compute this value with grad mode on.")
            return Explanation("\n".join(msg), "cut")
        made_by = tensor.__dict__.get("_made_by")
        if made_by is not None:
            where = tensor.__dict__.get("_origin")
            msg = [f"{head} does not require grad: it was computed by {_fwd_name(made_by)} while "
                   "grad mode was off (under no_grad() or inference_mode()), although an input "
                   "required grad, so no graph was recorded"
                   + (f" (at {where[1]})." if where else "."),
                   "Compute it outside no_grad()/inference_mode() to get gradients."]
            if not where:
                msg.append(_TRACK_HINT)
            return Explanation("\n".join(msg), "cut")
        if tensor._data.dtype.kind not in "fc":
            return Explanation(
                f"{head} has an integer/bool dtype ({tensor.dtype}): only floating point tensors "
                "can require grad, so it never gets a gradient.", "frozen")
        kind = "parameter" if _desc(tensor).startswith("parameter") else "tensor"
        return Explanation(
            f"{head} is frozen: requires_grad=False. It is a leaf that does not require grad, so "
            f"backward() computes no gradient for it.\nTo train it, set "
            f"{kind}.requires_grad_(True) (or requires_grad=True when creating it) before the "
            "forward pass (and give it to the optimizer).", "frozen")

    # a leaf that requires grad and has no .grad
    if graph is not None and reach:
        names = _path_names(tensor, nodes, parents)
        return Explanation(
            f"{head} is used by root (through " + " <- ".join(names or ["root itself"]) + "), but "
            "no backward() from root has filled its .grad yet (or it was reset: "
            "optimizer.zero_grad() sets .grad to None). Call root.backward().", "no_backward_yet")

    candidates = _candidate_cuts(tensor)
    if graph is None:
        msg = [f"{head} requires grad, but no backward() has reached it yet (its .grad is None)."]
        if candidates:
            msg.append("Values computed from it were cut from the graph: "
                       + "; ".join(c.describe() for c in candidates)
                       + ". A loss computed from those values does not reach it.")
        msg.append("Pass root=<your loss> to check whether the loss reaches it.")
        return Explanation("\n".join(msg), "cut" if candidates else "no_backward_yet")

    consumed, made_by = _consumed_cuts(nodes)
    if not root.requires_grad:
        consumed = list(consumed) + [c for c in _cuts_of(root) if c not in consumed]
    tracked = root.grad_fn is not None and "_origin" in root.grad_fn.__dict__ or \
        "_origin" in root.__dict__
    confirmed = [c for c in candidates if c in consumed]
    if confirmed:
        msg = [f"{head} is cut off from root: the path was cut by "
               + "; and by ".join(c.describe() for c in confirmed) + ".",
               "Gradients do not flow through a cut: remove it (use the tensor itself), or "
               "compute that value with grad mode on."]
        return Explanation("\n".join(msg), "cut")
    if candidates and not tracked:
        msg = [f"{head} is not reached by root's graph: the path was most likely cut by "
               + "; or by ".join(c.describe() for c in candidates)
               + " (a value computed from it left the graph there).",
               "Gradients do not flow through a cut: remove it (use the tensor itself), or "
               "compute that value with grad mode on. " + _TRACK_HINT
               + " Then explain() can tell for sure."]
        return Explanation("\n".join(msg), "cut")
    if made_by and not tracked:
        ops = sorted({_fwd_name(m) for m, _ in made_by})
        msg = [f"{head} is not reached by root's graph. Root's graph consumed values computed "
               f"under no_grad()/inference_mode() from tensors that required grad (by "
               f"{', '.join(ops)}): if one came from this tensor, that is where the path was cut.",
               _TRACK_HINT]
        return Explanation("\n".join(msg), "cut")
    n_nodes, n_leaves = len(nodes), len(leaves)
    msg = [f"{head} is not used by root: root's graph ({n_nodes} node(s), {n_leaves} "
           "leaf tensor(s) that require grad) does not reach it, and no cut from it was "
           "recorded on the way.",
           "Check that the tensor you inspect is the one the forward pass uses (a re-created "
           "model or tensor, a parameter replaced after the optimizer was built, a branch that "
           "was skipped)."]
    if candidates:
        msg.append("(It was cut elsewhere: " + "; ".join(c.describe() for c in candidates)
                   + ", but root does not use that value either.)")
    if not tracked:
        msg.append(_TRACK_HINT)
    return Explanation("\n".join(msg), "unused")

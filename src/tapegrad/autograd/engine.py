"""The backward engine: plan the pass, then run it; iterative, no recursion.

Planning (``_plan``) looks at the graph before any gradient moves:

1. one walk from the roots counts, for every node and leaf, how many edges
   point at it;
2. with ``inputs`` (``autograd.grad``, ``backward(inputs=...)``), ``_prune`` keeps
   only what leads to them: gradients stop at anything else, and a node whose
   inputs lead nowhere wanted only has its gradients captured, not its backward run.

Running (``_Pass.run``) moves the gradients, in one loop of two halves:

3. deliver one node's gradients along its edges. This is the one place where
   broadcasting is undone: each gradient is reduced to the receiver's shape and
   dtype, gradients that meet at a receiver are summed, and the receiver's count
   drops by one. A leaf whose count reaches zero is finished at once (hooks, then
   ``.grad`` or capture); a node is pushed on the ready stack.
4. pop the next ready node, last-in first-out (depth first, so a chain's saved
   values are freed as soon as it is done), and run it
   (``backward_steps.call_backward``).
"""
from __future__ import annotations

import sys

from ..tensor import Tensor
from .. import _threads
from .. import backend as B
from . import grad_mode
from .backward_steps import (accumulate, call_backward as _call_backward, leaf_hooks,
                             make_seeds, run_tensor_hooks)
from .graph import Node

_state = grad_mode.state


def run_backward(tensors, grad_tensors, retain_graph=None, create_graph=False, inputs=None,
                 capture=False, allow_unused=False):
    """Backpropagate from ``tensors`` with seeds ``grad_tensors``.

    With ``capture=False`` gradients are accumulated into leaves' ``.grad`` (only into
    ``inputs`` when given). With ``capture=True`` the gradients w.r.t. ``inputs``
    are returned instead (``autograd.grad``) and no ``.grad`` is touched.
    """
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph and not capture:
        _warn_create_graph_once()
    for i, t in enumerate(tensors):
        if not t._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn")
    _threads.adapt()  # the BLAS pool follows the CPUs other processes leave free
    seeds = make_seeds(tensors, grad_tensors, create_graph)
    root_edges = [_edge_to(t) for t in tensors]
    cap_keys = None if inputs is None else _capture_keys(inputs)
    deps, wanted, must_run = _plan(root_edges, cap_keys)
    run = _Pass(deps, wanted, must_run, cap_keys, inputs, capture, retain_graph, create_graph)
    prev_mode = _state.enabled
    _state.enabled = bool(create_graph)
    try:
        run.run(root_edges, seeds)
    finally:
        _state.enabled = prev_mode
    return _results(run.captured, cap_keys, len(inputs), allow_unused) if capture else None


def _edge_to(t):
    """The edge that reaches ``t``: its producer and output slot, or the leaf itself."""
    fn = t.grad_fn
    return (fn, t._output_nr) if fn is not None else (t, 0)


def _capture_keys(inputs):
    """``{edge to an input: [its positions in inputs]}`` (one tensor may be given twice)."""
    keys = {}
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"inputs must be Tensors, got {type(x).__name__}")
        if not x.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        keys.setdefault(_edge_to(x), []).append(i)
    return keys


# --------------------------------------------------------------------------- planning
def _plan(root_edges, cap_keys):
    """``(deps, wanted, must_run)``: ``deps`` maps every node and leaf behind the roots to
    the number of edges pointing at it; with ``inputs``, ``wanted`` holds the nodes and
    leaves gradients may flow into and ``must_run`` the nodes whose backward must run
    (both None without ``inputs``: everything is wanted)."""
    deps = {}
    pending = [root_edges]  # edge lists still to scan (a stack: no recursion)
    while pending:
        for e in pending.pop():
            if e is None:
                continue
            tgt = e[0]
            if tgt in deps:
                deps[tgt] += 1
            else:
                deps[tgt] = 1
                if isinstance(tgt, Node):
                    pending.append(tgt._next)
    if cap_keys is None:
        return deps, None, None
    targets = {key[0] for key in cap_keys}
    needed, must_run = _prune([e[0] for e in root_edges], targets)
    return deps, needed.union(t for t in targets if not isinstance(t, Node)), must_run


def _prune(roots, targets):
    """Nodes that lead to a target (``needed``) and those whose backward must run.

    Post-order DFS without recursion, so every child is decided before its parent.
    """
    needed, must_run, visited = set(), set(), set()
    stack = [(root, False) for root in reversed(roots) if isinstance(root, Node)]
    while stack:
        node, done = stack.pop()
        if done:
            if any(e is not None and (e[0] in needed or e[0] in targets) for e in node._next):
                must_run.add(node)
                needed.add(node)
            elif node in targets:
                needed.add(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for e in node._next:
            if e is not None and isinstance(e[0], Node) and e[0] not in visited:
                stack.append((e[0], False))
    return needed, must_run


# --------------------------------------------------------------------------- running
class _Pass:
    """One backward pass: the plan it follows and the gradients in flight."""

    __slots__ = ("deps", "wanted", "must_run", "cap_keys", "inputs", "captured",
                 "retain_graph", "create_graph", "buffers", "ready")

    def __init__(self, deps, wanted, must_run, cap_keys, inputs, capture, retain_graph,
                 create_graph):
        self.deps, self.wanted, self.must_run = deps, wanted, must_run
        self.cap_keys, self.inputs = cap_keys, inputs
        self.captured = {} if capture else None  # {edge: gradient} for autograd.grad
        self.retain_graph, self.create_graph = retain_graph, create_graph
        self.buffers = {}  # receiver -> summed gradient (a list per slot for multi-output nodes)
        self.ready = []    # nodes every consumer has delivered to (LIFO: depth first)

    def run(self, edges, grads):  # noqa: C901 - the backward hot loop, inlined on purpose (see docstring)
        """Deliver the roots' gradients along ``edges``, then run ready nodes until none is left.

        Delivering ``grads[i]`` along ``edges[i]`` reduces it to the receiver's shape and
        dtype, adds it to what the receiver has and counts the receiver down; at zero a
        leaf is finished and a node made ready. (One loop, no call per node: this is the
        hot path of every backward.)
        """
        deps, buffers, wanted, ready = self.deps, self.buffers, self.wanted, self.ready
        retain_graph, create_graph = self.retain_graph, self.create_graph
        capturing = self.cap_keys is not None
        while True:
            for e, g in zip(edges, grads, strict=False):  # -- deliver
                if e is None:
                    continue
                tgt = e[0]
                if wanted is not None and tgt not in wanted:
                    continue
                is_node = isinstance(tgt, Node)
                if g is not None:
                    shape, dt = tgt._meta[e[1]] if is_node else (tgt._data.shape, tgt._data.dtype)
                    if g.shape != shape:
                        g = _sum_to(g, shape)
                    if g.dtype is not dt and g.dtype != dt:
                        g = g.to(_dt(dt)) if isinstance(g, Tensor) else g.astype(dt)
                    if not is_node or tgt.n_out == 1:
                        prev = buffers.get(tgt)
                        buffers[tgt] = g if prev is None else prev + g
                    else:
                        _add_to_slot(buffers, tgt, e[1], g)
                left = deps[tgt] - 1
                deps[tgt] = left
                if left == 0:
                    if is_node:
                        ready.append(tgt)
                    else:
                        g = buffers.pop(tgt, None)
                        if g is not None:
                            # an array only this loop can reach may become .grad itself
                            owned = not create_graph and tgt._grad is None and not tgt._hooks \
                                and type(g) is _ndarray and _engine_only(g, grads)
                            self.finish_leaf(tgt, g, owned)
            if not ready:  # -- run the next ready node
                return
            node = ready.pop()
            edges = node._next
            grads = buffers.pop(node, None)
            if grads is None:
                # Nothing reached this node: pass "nothing" on so its inputs' counts still drop.
                grads = (None,) * len(edges)
                continue
            if node.n_out == 1:
                grads = [grads]
            if node._tensor_hooks or node._retained:
                grads = run_tensor_hooks(node, grads, create_graph)
            if capturing and not self.capture_at(node, grads):
                grads = (None,) * len(edges)
                continue
            if _state.observers:
                grads = _observed_backward(node, grads, retain_graph, create_graph)
            else:
                grads = _call_backward(node, grads, retain_graph, create_graph)

    def finish_leaf(self, t, g, owned=False):
        """Leaf ``t``'s summed gradient: its hooks, then captured or accumulated into ``.grad``
        (``owned``: nothing else can reach ``g``'s memory, see :func:`_engine_only`)."""
        if t._hooks:
            g = leaf_hooks(t, g, self.create_graph)
        if self.captured is not None:
            self.captured[(t, 0)] = g
            return
        accumulate(t, g, self.create_graph, owned)
        if t._post_acc_hooks:
            for fn in list(t._post_acc_hooks):
                fn(t)

    def capture_at(self, node, grads):
        """Capture the gradients of the requested non-leaf inputs that ``node`` produced;
        True when its backward must still run (something wanted lies behind it)."""
        for nr, g in enumerate(grads):
            key = (node, nr)
            if g is None or key not in self.cap_keys:
                continue
            if self.captured is not None:
                self.captured[key] = g
            else:
                # backward(inputs=[non_leaf]) fills that tensor's .grad, as PyTorch does
                for i in self.cap_keys[key]:
                    accumulate(self.inputs[i], g, self.create_graph)
        return node in self.must_run


def _refs(a):
    return sys.getrefcount(a)


def _calibrate():
    """The reference counts :func:`_engine_only` sees for an array that only ``_Pass.run``
    holds: a fresh one (its local name), and one a node's backward returned (also the result
    tuple and ``zip``'s last pair), measured here in the same shapes of code, so that they
    follow the interpreter rather than an assumption about it."""
    g = B.xp.empty(1)
    fresh = _refs(g)
    view = B.xp.empty(1)[:]
    base = view.base               # (held by the view and this name, as in _engine_only)
    alone = sys.getrefcount(base)
    grads = (B.xp.empty(1),)
    for _e, g in zip((None,), grads, strict=False):
        return fresh, _refs(g), alone


def _engine_only(g, grads):
    """Whether ``g``, a leaf's gradient the engine just popped, is referenced only by the
    engine's loop, so that ``.grad`` may take its memory instead of a copy, as PyTorch's
    AccumulateGrad steals a gradient no one else holds (ResNet-18's 47 MB of weight gradients,
    an MLP's 2 MB, copied every step before). ``g`` is a fresh sum, or the one entry of the
    node's result ``grads`` that it is; a view qualifies only when it spans the whole of a
    base that nothing else references. Any other holder (a second entry, a node that saved
    it, a user's tensor, a hook) raises the count, and the gradient is copied."""
    seen = 0
    for x in grads:
        if x is g:
            seen += 1
    x = None   # (the loop's name would otherwise still hold the last entry)
    if seen > 1 or sys.getrefcount(g) != _OWN_REFS[seen]:
        return False
    base = g.base
    return base is None or (type(base) is _ndarray and base.base is None and base.size == g.size
                            and base.dtype == g.dtype and sys.getrefcount(base) == _OWN_REFS[2])


_ndarray = B.ndarray
_OWN_REFS = _calibrate()


def _add_to_slot(buffers, node, nr, g):
    """Sum ``g`` into output slot ``nr`` of a multi-output node's buffer."""
    slots = buffers.get(node)
    if slots is None:
        slots = buffers[node] = [None] * node.n_out
    slots[nr] = g if slots[nr] is None else slots[nr] + g


def _results(captured, cap_keys, n, allow_unused):
    """``autograd.grad``'s answer: one gradient (or None) per input, in order."""
    results = [None] * n
    for key, idxs in cap_keys.items():
        g = captured.get(key)
        if g is None and not allow_unused:
            raise RuntimeError(
                f"The differentiated Tensor at index {min(idxs)} appears to not have been "
                "used in the graph. Set allow_unused=True if this is the desired behavior.")
        for i in idxs:
            results[i] = g if g is None or isinstance(g, Tensor) else Tensor._wrap(g)
    return results


def _sum_to(g, shape):
    if isinstance(g, Tensor):
        from ..ops.shape import sum_to
        return sum_to(g, shape)
    try:
        return B.sum_to(g, shape)
    except (ValueError, IndexError):
        raise RuntimeError(
            f"Function backward returned an invalid gradient: got shape {tuple(g.shape)} "
            f"but expected shape compatible with {tuple(shape)}") from None


def _dt(np_dtype):
    from .. import dtypes
    return dtypes.from_np(np_dtype)


def _observed_backward(node, grads, retain_graph, create_graph):
    """observe.observed_backward, imported on first use (a function-level import costs ~1 us)."""
    global _observed_backward
    from .observe import observed_backward
    _observed_backward = observed_backward
    return observed_backward(node, grads, retain_graph, create_graph)


_create_graph_warned = False


def _warn_create_graph_once():
    global _create_graph_warned
    if not _create_graph_warned:
        _create_graph_warned = True
        import warnings
        warnings.warn(
            "Using backward() with create_graph=True will create a reference cycle between the "
            "parameter and its gradient which can cause a memory leak. We recommend using "
            "autograd.grad when creating the graph to avoid this. If you have to use this "
            "function, make sure to reset the .grad fields of your parameters to None after use "
            "to break the cycle and avoid the leak.", UserWarning, stacklevel=4)

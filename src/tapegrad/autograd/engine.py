"""The backward engine: dependency-counted, iterative, no recursion.

1. Walk the graph from the roots once, counting for every node (and leaf) how
   many edges point at it.
2. Run a node only when every consumer has delivered its gradient; gradients
   that meet at a node are summed first. Ready nodes run last-in first-out
   (depth first), so a chain's saved values are freed as soon as it is done.
3. Every delivered gradient is reduced to the receiver's shape and dtype here,
   in ``_deliver``: the one place where broadcasting is undone.
"""
from __future__ import annotations

from ..tensor import Tensor
from .. import backend as B
from . import grad_mode
from .graph import Node, check_saved, saved_as_tensors

_state = grad_mode.state
_new = object.__new__
_ndarray = B.ndarray
_asarray = B.xp.asarray


def _type_error_not_requires(i):
    return RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")


def _make_grads(tensors, grad_tensors, create_graph):
    out = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if t._data.dtype.kind != "f":
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got {t.dtype}")
            g = B.xp.ones_like(t._data)
            if create_graph:
                g = Tensor._wrap(g)
        else:
            if not isinstance(g, Tensor):
                raise TypeError(f"gradient must be a Tensor or None, got {type(g).__name__}")
            if g._data.shape != t._data.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] "
                    f"has a shape of {t.shape}.")
            if (g._data.dtype.kind == "c") != (t._data.dtype.kind == "c"):
                raise RuntimeError(
                    f"For complex Tensors, both grad_output and output are required to have the "
                    f"same dtype. Mismatch in dtype: grad_output[{i}] has a dtype of {g.dtype} "
                    f"and output[{i}] has a dtype of {t.dtype}.")
            if not create_graph:
                g = g._data
        out.append(g)
    return out


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
            raise _type_error_not_requires(i)
    seeds = _make_grads(tensors, grad_tensors, create_graph)

    # Targets of the roots' gradients.
    root_edges = [(t.grad_fn, t._output_nr) if t.grad_fn is not None else (t, 0) for t in tensors]

    # Where to stop and what to capture.
    cap_keys = None
    if inputs is not None:
        cap_keys = {}
        for i, x in enumerate(inputs):
            if not isinstance(x, Tensor):
                raise TypeError(f"inputs must be Tensors, got {type(x).__name__}")
            if not x.requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            key = (x.grad_fn, x._output_nr) if x.grad_fn is not None else (x, 0)
            cap_keys.setdefault(key, []).append(i)

    # ---- 1. count dependencies (iterative DFS)
    deps = {}
    stack = []
    for tgt, _ in root_edges:
        if tgt in deps:
            deps[tgt] += 1
        else:
            deps[tgt] = 1
            if isinstance(tgt, Node):
                stack.append(tgt)
    while stack:
        node = stack.pop()
        for e in node._next:
            if e is None:
                continue
            tgt = e[0]
            if tgt in deps:
                deps[tgt] += 1
            else:
                deps[tgt] = 1
                if isinstance(tgt, Node):
                    stack.append(tgt)

    # ---- 2. with inputs, prune to the nodes that lead to one of them
    cap_targets = needed = must_run = None
    if cap_keys is not None:
        cap_targets = {k[0] for k in cap_keys}
        needed, must_run = _prune([e[0] for e in root_edges], cap_targets)

    captured = {} if capture else None
    buffers = {}
    ready = []  # nodes whose consumers have all delivered (LIFO: depth first)
    edges, grad_in = root_edges, seeds  # the roots act as the first node's output

    prev_mode = _state.enabled
    _state.enabled = bool(create_graph)
    try:
        while True:
            # -- deliver grad_in along edges: reduce, sum where gradients meet, count down
            for e, g in zip(edges, grad_in):
                if e is None:
                    continue
                tgt = e[0]
                is_node = isinstance(tgt, Node)
                if needed is not None and not (tgt in needed if is_node else tgt in cap_targets):
                    continue
                if g is not None:
                    if is_node:
                        shape, dt = tgt._meta[e[1]]
                    else:
                        data = tgt._data
                        shape, dt = data.shape, data.dtype
                    if g.shape != shape:
                        g = _sum_to(g, shape)
                    gdt = g.dtype
                    if gdt is not dt and gdt != dt:
                        g = g.to(_dt(dt)) if isinstance(g, Tensor) else g.astype(dt)
                    if not is_node or tgt.n_out == 1:
                        prev = buffers.get(tgt)
                        buffers[tgt] = g if prev is None else prev + g
                    else:
                        lst = buffers.get(tgt)
                        if lst is None:
                            lst = buffers[tgt] = [None] * tgt.n_out
                        nr = e[1]
                        lst[nr] = g if lst[nr] is None else lst[nr] + g
                d = deps[tgt] - 1
                deps[tgt] = d
                if d == 0:
                    if is_node:
                        ready.append(tgt)
                    else:
                        g = buffers.pop(tgt, None)
                        if g is not None:
                            _finish_leaf(tgt, g, create_graph, captured, cap_keys)
            if not ready:
                break
            # -- run the next ready node
            node = ready.pop()
            edges = node._next
            grads = buffers.pop(node, None)
            if grads is None:
                # Nothing reached this node: pass "nothing" on so its inputs' counts still drop.
                grad_in = (None,) * len(edges)
                continue
            if node.n_out == 1:
                grads = [grads]
            if node._tensor_hooks or node._retained:
                grads = _run_tensor_hooks(node, grads, create_graph)
            if cap_keys is not None:
                for nr, g in enumerate(grads):
                    if (node, nr) in cap_keys and g is not None:
                        _capture(node, nr, g, captured, cap_keys, inputs, create_graph)
                if node not in must_run:
                    grad_in = (None,) * len(edges)
                    continue
            if _state.observers:
                grad_in = _observed_backward(node, grads, retain_graph, create_graph)
            else:
                grad_in = _call_backward(node, grads, retain_graph, create_graph)
    finally:
        _state.enabled = prev_mode

    if not capture:
        return None
    results = [None] * len(inputs)
    for key, idxs in cap_keys.items():
        g = captured.get(key)
        for i in idxs:
            if g is None:
                if not allow_unused:
                    raise RuntimeError(
                        f"The differentiated Tensor at index {min(idxs)} appears to not have been "
                        "used in the graph. Set allow_unused=True if this is the desired behavior.")
                results[i] = None
            else:
                results[i] = g if isinstance(g, Tensor) else Tensor._wrap(g)
    return results


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


def _dt(np_dtype):
    from .. import dtypes
    return dtypes.from_np(np_dtype)


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


def _wrap_for_user(g):
    return g if isinstance(g, Tensor) or g is None else Tensor._wrap(g)


def _unwrap(g, create_graph):
    if isinstance(g, Tensor) and not create_graph:
        return g._data
    return g


def _hook_result(fn, old, new, create_graph):
    """A hook's replacement gradient, checked like PyTorch's ``check_single_result``."""
    if old is not None and new is not None:
        from ..tensor import _type_str
        a = old._data if isinstance(old, Tensor) else old
        b = new._data if isinstance(new, Tensor) else B.xp.asarray(new)
        name = getattr(fn, "__name__", "<unknown>")
        if a.dtype != b.dtype:
            raise RuntimeError(f"hook '{name}' has changed the type of value (was "
                               f"{_type_str(a.dtype)} got {_type_str(b.dtype)})")
        if a.shape != b.shape:
            raise RuntimeError(f"hook '{name}' has changed the size of value")
    return _unwrap(new, create_graph)


def _hook_results(fn, olds, news, create_graph):
    news = tuple(news)
    if len(news) != len(olds):
        raise RuntimeError(
            f"hook '{getattr(fn, '__name__', '<unknown>')}' has returned an incorrect number of "
            f"values (got {len(news)}, but expected {len(olds)})")
    return [_hook_result(fn, o, n, create_graph) for o, n in zip(olds, news)]


def _run_tensor_hooks(node, grads, create_graph):
    hooks = node._tensor_hooks
    if hooks:
        grads = list(grads)
        for nr, fns in hooks.items():
            for fn in list(fns):
                if grads[nr] is None:
                    continue
                r = fn(_wrap_for_user(grads[nr]))
                if r is not None:
                    grads[nr] = _hook_result(fn, grads[nr], r, create_graph)
    retained = node._retained
    if retained:
        for nr, ref in retained.items():
            t = ref()
            if t is not None and grads[nr] is not None:
                _accumulate(t, grads[nr], create_graph)
    return grads


def _observed_backward(node, grads, retain_graph, create_graph):
    """observe.observed_backward, imported on first use (a function-level import costs ~1 us)."""
    global _observed_backward
    from .observe import observed_backward
    _observed_backward = observed_backward
    return observed_backward(node, grads, retain_graph, create_graph)


def _call_backward(node, grads, retain_graph, create_graph):
    if node._pre_hooks:
        for fn in list(node._pre_hooks):
            r = fn(tuple(_wrap_for_user(g) for g in grads))
            if r is not None:
                grads = _hook_results(fn, grads, r, create_graph)
    if node._released or node._saved_vcs:
        check_saved(node)
    if node.tensor_api:
        res = node._backward_tensors(grads, create_graph)
    elif create_graph:
        saved = node.saved
        grads = [g if isinstance(g, Tensor) or g is None else Tensor._wrap(g) for g in grads]
        if saved is not None:
            node.saved = saved_as_tensors(node)
        try:
            res = node.backward(*grads)
        finally:
            node.saved = saved
    else:
        res = node.backward(*grads)
    if type(res) is not tuple:
        res = (res,)
    if len(res) != len(node._next):
        raise RuntimeError(
            f"function {node.name()} returned an incorrect number of gradients "
            f"(expected {len(node._next)}, got {len(res)})")
    if node._post_hooks:
        for fn in list(node._post_hooks):
            r = fn(tuple(_wrap_for_user(g) for g in res), tuple(_wrap_for_user(g) for g in grads))
            if r is not None:
                res = tuple(_hook_results(fn, res, r, create_graph))
    if not retain_graph and (node.saved is not None or node.tensor_api):
        node._release()
    return res


def _finish_leaf(t, g, create_graph, captured, cap_keys):
    hooks = t._hooks
    if hooks:
        for fn in list(hooks):
            r = fn(_wrap_for_user(g))
            if r is not None:
                g = _hook_result(fn, g, r, create_graph)
    if captured is not None:
        if (t, 0) in cap_keys:
            captured[(t, 0)] = g
        return
    _accumulate(t, g, create_graph)
    post = t._post_acc_hooks
    if post:
        for fn in list(post):
            fn(t)


def _accumulate(t, g, create_graph):
    """Add ``g`` into ``t.grad`` the way PyTorch's AccumulateGrad does."""
    old = t._grad
    if create_graph:
        g = g if isinstance(g, Tensor) else Tensor._wrap(g)
        t._grad = g if old is None else old + g
        return
    if type(g) is not _ndarray:
        g = g._data if isinstance(g, Tensor) else _asarray(g)
    if old is None:
        # NOTE: always copy: the incoming array may be shared (Add returns one array for
        # both inputs; a user's `gradient=`), and .grad is later changed in place.
        new = _new(Tensor)
        new._data = g.astype(t._data.dtype, copy=True)
        t._grad = new
    elif old._requires_grad:
        t._grad = old + Tensor._wrap(g)
    else:
        data = old._data
        if data.flags.writeable and data.shape == g.shape:
            data += g
            old._bump_version("AccumulateGrad")
        else:
            old._data = data + g


def _prune(roots, cap_targets):
    """Nodes that lead to a captured target (``needed``) and those whose backward must run.

    Post-order DFS without recursion, so every child is decided before its parent.
    """
    needed, must_run, visited = set(), set(), set()
    for root in roots:
        if not isinstance(root, Node):
            continue
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                if any(e is not None and (e[0] in needed or e[0] in cap_targets)
                       for e in node._next):
                    must_run.add(node)
                    needed.add(node)
                elif node in cap_targets:
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


def _capture(node, nr, g, captured, cap_keys, inputs, create_graph):
    if captured is not None:
        captured[(node, nr)] = g
    else:
        # backward(inputs=[non_leaf]): PyTorch fills that tensor's .grad
        for i in cap_keys[(node, nr)]:
            _accumulate(inputs[i], g, create_graph)

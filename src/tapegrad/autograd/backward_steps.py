"""The local work of a backward pass: seeding the roots, running a node, finishing a leaf.

``engine.py`` decides *when* a node runs and *where* gradients go; this module
says what the seeds are (``make_seeds``: ones for a scalar root, else the
caller's gradient, checked), what running a node means (pre-hooks, the
saved-value checks, the node's ``backward``, post-hooks, freeing what it saved)
and what finishing a leaf means (its hooks, accumulation into ``.grad`` the way
PyTorch's AccumulateGrad does, post-accumulate hooks). Hooks see tensors; the
engine itself passes raw arrays unless ``create_graph`` asks for a recorded backward.
"""
from __future__ import annotations

from .. import backend as B
from ..tensor import Tensor
from .graph import check_saved, saved_as_tensors

_new = object.__new__
_ndarray = B.ndarray
_asarray = B.xp.asarray


def make_seeds(tensors, grad_tensors, create_graph):
    """The seed gradients: ones for a scalar root, else the caller's, checked."""
    out = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors, strict=False)):
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if t._data.dtype.kind != "f":
                raise RuntimeError("grad can be implicitly created only for real scalar "
                                   f"outputs but got {t.dtype}")
            g = _asarray(1, dtype=t._data.dtype)  # (a tenth of ones_like's cost)
            if g.shape != t._data.shape:
                g = g.reshape(t._data.shape)
            out.append(Tensor._wrap(g) if create_graph else g)
            continue
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
        out.append(g if create_graph else g._data)
    return out


def wrap_for_user(g):
    return g if isinstance(g, Tensor) or g is None else Tensor._wrap(g)


def _hook_name(fn):
    return getattr(fn, "__name__", "<unknown>")


def hook_result(fn, old, new, create_graph):
    """A hook's replacement gradient, checked like PyTorch's ``check_single_result``."""
    if old is not None and new is not None:
        from ..tensor import _type_str
        a = old._data if isinstance(old, Tensor) else old
        b = new._data if isinstance(new, Tensor) else _asarray(new)
        if a.dtype != b.dtype:
            raise RuntimeError(f"hook '{_hook_name(fn)}' has changed the type of value (was "
                               f"{_type_str(a.dtype)} got {_type_str(b.dtype)})")
        if a.shape != b.shape:
            raise RuntimeError(f"hook '{_hook_name(fn)}' has changed the size of value")
    if isinstance(new, Tensor) and not create_graph:
        return new._data
    return new


def _hook_results(fn, olds, news, create_graph):
    news = tuple(news)
    if len(news) != len(olds):
        raise RuntimeError(
            f"hook '{_hook_name(fn)}' has returned an incorrect number of "
            f"values (got {len(news)}, but expected {len(olds)})")
    return [hook_result(fn, o, n, create_graph) for o, n in zip(olds, news, strict=True)]


def run_tensor_hooks(node, grads, create_graph):
    """Hooks registered on the node's outputs (``y.register_hook``), then ``retain_grad``."""
    hooks = node._tensor_hooks
    if hooks:
        grads = list(grads)
        for nr, fns in hooks.items():
            for fn in list(fns):
                if grads[nr] is None:
                    continue
                r = fn(wrap_for_user(grads[nr]))
                if r is not None:
                    grads[nr] = hook_result(fn, grads[nr], r, create_graph)
    retained = node._retained
    if retained:
        for nr, ref in retained.items():
            t = ref()
            if t is not None and grads[nr] is not None:
                accumulate(t, grads[nr], create_graph)
    return grads


def call_backward(node, grads, retain_graph, create_graph):  # noqa: C901 - one node's backward with its hooks, checks and observers, kept in reading order
    """Run ``node``'s backward on its output gradients; returns one gradient per edge."""
    if node._pre_hooks:
        for fn in list(node._pre_hooks):
            r = fn(tuple(wrap_for_user(g) for g in grads))
            if r is not None:
                grads = _hook_results(fn, grads, r, create_graph)
    if node._released:
        check_saved(node)  # raises: freed by an earlier backward
    if node._saved_vcs:
        for vc, version, _ in node._saved_vcs:
            if vc.value != version:
                check_saved(node)  # raises PyTorch's in-place error (only then built)
    if node.tensor_api:
        res = node._backward_tensors(grads, create_graph)
    elif create_graph:
        res = _recorded_backward(node, grads)
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
            r = fn(tuple(wrap_for_user(g) for g in res), tuple(wrap_for_user(g) for g in grads))
            if r is not None:
                res = tuple(_hook_results(fn, res, r, create_graph))
    if not retain_graph and (node.saved is not None or node.tensor_api):
        node._release()
    return res


def _recorded_backward(node, grads):
    """The formula on tensors (so it records a graph), its saved arrays re-linked to the graph."""
    saved = node.saved
    grads = [wrap_for_user(g) for g in grads]
    if saved is not None:
        node.saved = saved_as_tensors(node)
    try:
        return node.backward(*grads)
    finally:
        node.saved = saved


def leaf_hooks(t, g, create_graph):
    """``g`` after the hooks registered on leaf ``t`` (each may replace it)."""
    for fn in list(t._hooks):
        r = fn(wrap_for_user(g))
        if r is not None:
            g = hook_result(fn, g, r, create_graph)
    return g


def accumulate(t, g, create_graph, owned=False):
    """Add ``g`` into ``t.grad`` the way PyTorch's AccumulateGrad does; ``owned``: nothing
    else references ``g``'s memory, so a first gradient in the leaf's dtype and layout is
    taken as it is."""
    old = t._grad
    if create_graph:
        g = g if isinstance(g, Tensor) else Tensor._wrap(g)
        t._grad = g if old is None else old + g
        return
    if type(g) is not _ndarray:
        g = g._data if isinstance(g, Tensor) else _asarray(g)
    if old is None:
        # NOTE: always copy: the incoming array may be shared (Add returns one array for
        # both inputs; a user's `gradient=`), and .grad is later changed in place. The copy
        # takes the leaf's layout, as PyTorch's AccumulateGrad does: a gradient that arrives
        # transposed (a Linear weight's, through its TBackward0) would otherwise make every
        # optimizer update stride through memory.
        new = _new(Tensor)
        d = t._data
        if owned and g.dtype == d.dtype and g.flags.writeable and \
                (g.flags.c_contiguous if d.flags.c_contiguous else g.strides == d.strides):
            new._data = g
        else:
            new._data = g.astype(d.dtype, order="C" if d.flags.c_contiguous else "K", copy=True)
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

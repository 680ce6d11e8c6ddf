"""grad / vjp / jvp / jacrev / jacfwd / hessian on tapegrad's reverse mode.

Each transform calls ``func`` on fresh aliases of its inputs that require grad, then asks
``tapegrad.autograd.grad`` for the derivative. Inside another transform (or when an input
already requires grad) the backward is recorded (``create_graph=True``), so transforms
compose: ``grad(grad(f))``, ``jacrev(jacrev(f))``, ``vmap(grad(f))``.

Inside ``vmap`` an input that is not batched at every running vmap level is first expanded
to all of them, so a gradient w.r.t. shared parameters comes back per sample: with
``loss_b`` depending only on ``params_b``, d(sum_b loss_b)/d(params_b) = d(loss_b)/d(params_b).
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from .. import autograd
from ..autograd import grad_mode
from ..tensor import Tensor
from ..ops import shape as S
from .. import creation as C
from ._pytree import tree_flatten, tree_unflatten
from ._vmap import BatchedTensor, _mk, _parts, active_levels, _ensure_ready

_tls = threading.local()


def _depth():
    return getattr(_tls, "depth", 0)


class _Level:
    def __enter__(self):
        _tls.depth = _depth() + 1

    def __exit__(self, *exc):
        _tls.depth = _depth() - 1


def _fname(func):
    return getattr(func, "__name__", repr(func))


def _check_argnums(argnums, nargs, api):
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    if isinstance(argnums, tuple) and len(argnums) == 0:
        raise RuntimeError(f"{api}: argnums must be non-empty")
    for a in nums:
        if not isinstance(a, int):
            raise RuntimeError(
                f"{api}: argnums must be int or Tuple[int, ...], got: {type(argnums)}")
        if not -nargs <= a < nargs:
            raise RuntimeError(
                f"Got argnum={a}, but only {nargs} positional inputs")
    nums = tuple(a % nargs for a in nums)
    if len(set(nums)) != len(nums):
        raise RuntimeError(f"{api}: argnums must be unique, got {argnums}")
    return nums


# ----------------------------------------------------------------------------- input aliases
def _make_input(x, api):
    """A fresh tensor to differentiate against, batched at every running vmap level."""
    if not isinstance(x, Tensor):
        raise RuntimeError(
            f"{api}: Expected f to be a function that has non-empty inputs and every input to be "
            f"a Tensor, got {type(x)}")
    if not x.is_floating_point():
        raise RuntimeError(
            f"{api}: only Tensors of floating point dtype can require gradients")
    v, lv, r = _parts(x)
    act = active_levels()
    levels = tuple(lvl for lvl, _, _ in act)
    if not set(lv) <= set(levels):
        levels = tuple(sorted(set(levels) | set(lv)))
    sizes = {lvl: s for lvl, s, _ in act}
    for lvl, s in zip(lv, v.shape, strict=False):
        sizes[lvl] = s
    if lv != levels:
        lshape = tuple(v.shape[len(lv):])
        shape1 = tuple(v.shape[lv.index(lvl)] if lvl in lv else 1 for lvl in levels) + lshape
        full = tuple(sizes[lvl] for lvl in levels) + lshape
        if v.requires_grad:
            v = S.expand(S.reshape(v, shape1), full)
        else:
            v = Tensor._wrap(np.broadcast_to(v.detach().numpy().reshape(shape1), full))
    if v.requires_grad:
        alias = S.view_as(v, v)  # keeps the outer transform's graph, a distinct input for this one
    else:
        alias = v.detach() if v.grad_fn is None and v._base is None else Tensor._wrap(
            v.detach().numpy())
        alias = Tensor._wrap(alias._data).requires_grad_(True)
    return _mk(alias, levels)


def _need_graph(tensors):
    if _depth() > 0 or not grad_mode.is_grad_enabled():
        return _depth() > 0
    return any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


def _raw(t):
    return t.value if isinstance(t, BatchedTensor) else t


def _grads(outs, ins, gos, create_graph, retain_graph=None):
    """autograd.grad on raw values; None (unused / output not requiring grad) -> zeros."""
    pairs = [(o, g) for o, g in zip(outs, gos, strict=True) if o.requires_grad]
    res = [None] * len(ins)
    if pairs:
        need = [i for i, x in enumerate(ins)]
        r = autograd.grad([o for o, _ in pairs], [ins[i] for i in need],
                          grad_outputs=[g for _, g in pairs], create_graph=create_graph,
                          retain_graph=True if retain_graph is None else retain_graph,
                          allow_unused=True)
        for i, g in zip(need, r, strict=True):
            res[i] = g
    return [C.zeros_like(x) if g is None else g for g, x in zip(res, ins, strict=True)]


def _expand_to(t, like):
    """A cotangent/tangent (maybe batched at fewer levels) as a raw tensor shaped like ``like``."""
    lv_like = like.levels if isinstance(like, BatchedTensor) else ()
    v, lv, r = _parts(t)
    target = _raw(like)
    if lv == lv_like:
        return v if tuple(v.shape) == tuple(target.shape) else S.expand(v, tuple(target.shape))
    if not set(lv) <= set(lv_like):
        raise NotImplementedError(
            "tapegrad.func: a cotangent/tangent batched at a vmap level the primal output is "
            "not batched at is not supported")
    lshape = tuple(v.shape[len(lv):])
    shape1 = tuple(v.shape[lv.index(lvl)] if lvl in lv else 1 for lvl in lv_like) + lshape
    return S.expand(S.reshape(v, shape1), tuple(target.shape))


def _split_aux(out, has_aux, api):
    """``(output, aux)`` of a function called with ``has_aux`` (torch.func's error otherwise)."""
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(
            f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True")
    return out


def _call_at_argnums(func, args, kwargs, nums, api, has_aux, require_inputs=False):
    """Run ``func`` with fresh differentiable copies of the args at ``nums``.

    Returns ``(fresh_leaves, specs, originals, create_graph, out, aux)``; ``specs`` holds
    ``(n_leaves, treespec)`` per argnum, to rebuild the gradients' nesting."""
    args = list(args)
    specs, fresh, originals = [], [], []
    for n in nums:
        leaves, spec = tree_flatten(args[n])
        if require_inputs and not leaves:
            raise RuntimeError(f"{api}: Expected f to be a function that has non-empty inputs")
        originals.extend(leaves)
        xs = [_make_input(x, api) for x in leaves]
        fresh.extend(xs)
        specs.append((len(xs), spec))
        args[n] = tree_unflatten(xs, spec)
    cg = _need_graph(originals)
    with _Level(), grad_mode.enable_grad():
        out = func(*args, **kwargs)
    out, aux = _split_aux(out, has_aux, api)
    return fresh, specs, originals, cg, out, aux


# ----------------------------------------------------------------------------- grad
def grad_and_value(func, argnums=0, has_aux=False):
    """``(grad, value)`` of a scalar-valued ``func`` w.r.t. the args at ``argnums``."""
    api = "grad_and_value(f)(*args)"

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _ensure_ready()
        nums = _check_argnums(argnums, len(args), api)
        flat_in, specs, originals, cg, out, aux = _call_at_argnums(
            func, args, kwargs, nums, api, has_aux, require_inputs=True)
        if not isinstance(out, Tensor):
            raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(out)}")
        if out.dim() != 0:
            raise RuntimeError(
                f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with "
                f"{out.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?")
        ov = _raw(out)
        gs = _grads([ov], [_raw(x) for x in flat_in], [C.ones_like(ov)], cg)
        gs = [
            _mk(g, x.levels if isinstance(x, BatchedTensor) else ()) for g, x in zip(gs, flat_in, strict=True)
        ]
        if not cg:
            gs = [g.detach() if not isinstance(g, BatchedTensor)
                  else BatchedTensor(g.value.detach(), g.levels) for g in gs]
        it = iter(gs)
        trees = [tree_unflatten([next(it) for _ in range(k)], spec) for k, spec in specs]
        g = trees[0] if isinstance(argnums, int) else tuple(trees)
        if not cg:
            out = _detach(out)
        return (g, (out, aux)) if has_aux else (g, out)

    return wrapper


def _detach(t):
    if isinstance(t, BatchedTensor):
        return BatchedTensor(t.value.detach(), t.levels)
    return t.detach() if isinstance(t, Tensor) else t


def grad(func, argnums=0, has_aux=False):
    """The gradient of a scalar-valued ``func`` (like ``torch.func.grad``).

    >>> grad(lambda x: (x ** 3).sum())(tapegrad.tensor([1., 2.]))
    tensor([ 3., 12.])
    """
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, v = gv(*args, **kwargs)
        return (g, v[1]) if has_aux else g

    return wrapper


# ----------------------------------------------------------------------------- vjp
def vjp(func, *primals, has_aux=False):
    """``(func(*primals), vjp_fn)``; ``vjp_fn(cotangents)`` returns one gradient per primal."""
    _ensure_ready()
    api = "vjp(f, *primals)"
    if not primals:
        raise RuntimeError(f"{api}: Expected f to be a function that has non-empty inputs")
    leaves, spec = tree_flatten(primals)
    xs = [_make_input(x, api) for x in leaves]
    cg_base = _need_graph(leaves)
    with _Level(), grad_mode.enable_grad():
        out = func(*tree_unflatten(xs, spec))
    out, aux = _split_aux(out, has_aux, api)
    outs, ospec = tree_flatten(out)
    for o in outs:
        if not isinstance(o, Tensor):
            raise RuntimeError(
                f"{api}: Expected f(*primals) to return only tensors, got unsupported type "
                f"{type(o)}")

    def vjp_fn(*cotangents):
        ct = cotangents[0] if len(cotangents) == 1 and not isinstance(out, tuple) else cotangents
        if len(cotangents) == 1 and isinstance(out, (tuple, list, dict)) and \
                isinstance(cotangents[0], (tuple, list, dict)):
            ct = cotangents[0]
        cts, cspec = tree_flatten(ct)
        if len(cts) != len(outs):
            raise RuntimeError(
                "Expected pytree structure of cotangents to be the same as pytree structure of "
                f"outputs to the function. cotangents: {cspec!r}, primal output: {ospec!r}")
        for c, o in zip(cts, outs, strict=True):
            if not isinstance(c, Tensor):
                raise RuntimeError(f"vjp_fn: expected cotangents to be Tensors, got {type(c)}")
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[0] has a shape of {tuple(c.shape)} and "
                    f"output[0] has a shape of {tuple(o.shape)}.")
        cg = cg_base or _depth() > 0 or any(c.requires_grad for c in cts)
        gos = [_expand_to(c, o) for c, o in zip(cts, outs, strict=True)]
        gs = _grads([_raw(o) for o in outs], [_raw(x) for x in xs], gos, cg, retain_graph=True)
        gs = [_mk(g, x.levels if isinstance(x, BatchedTensor) else ()) for g, x in zip(gs, xs, strict=True)]
        if not cg:
            gs = [_detach(g) for g in gs]
        return tree_unflatten(gs, spec)

    res_out = out if cg_base else tree_unflatten([_detach(o) for o in outs], ospec)
    return (res_out, vjp_fn, aux) if has_aux else (res_out, vjp_fn)


# ----------------------------------------------------------------------------- jvp (double vjp)
def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(func(*primals), J @ tangents)`` computed with the double-vjp trick on reverse mode."""
    _ensure_ready()
    api = "jvp(f, primals, tangents)"
    if not isinstance(primals, (tuple, list)):
        raise RuntimeError(f"{api}: Expected primals to be a tuple. E.g. it should be valid to "
                           "call f(*primals).")
    if not isinstance(tangents, (tuple, list)):
        raise RuntimeError(f"{api}: Expected tangents to be a tuple.")
    leaves, spec = tree_flatten(tuple(primals))
    tl, tspec = tree_flatten(tuple(tangents))
    if len(tl) != len(leaves):
        raise RuntimeError(
            f"{api}: Expected primals and tangents to have the same python structure. For "
            f"example, if primals is a tuple of 3 tensors, tangents also must be. Got primals "
            f"with structure {spec!r} and tangents with structure {tspec!r}")
    for p, t in zip(leaves, tl, strict=True):
        if not isinstance(t, Tensor) or tuple(p.shape) != tuple(t.shape):
            raise RuntimeError(f"{api}: Expected primals and tangents to have the same shape")
    xs = [_make_input(x, api) for x in leaves]
    cg_base = _need_graph(list(leaves) + list(tl))
    with _Level(), grad_mode.enable_grad():
        out = func(*tree_unflatten(xs, spec))
        out, aux = _split_aux(out, has_aux, api)
        outs, ospec = tree_flatten(out)
        for o in outs:
            if not isinstance(o, Tensor):
                raise RuntimeError(
                    f"{api}: Expected f(*primals) to return only tensors, got unsupported type "
                    f"{type(o)}")
        us = [C.zeros_like(_raw(o)).requires_grad_(True) for o in outs]
        xraw = [_raw(x) for x in xs]
        g = _grads([_raw(o) for o in outs], xraw, us, True)
        tv = [_expand_to(t, x) for t, x in zip(tl, xs, strict=True)]
        pairs = [(gi, ti) for gi, ti in zip(g, tv, strict=True) if gi.requires_grad]
        if pairs:
            jv = autograd.grad([p for p, _ in pairs], us, grad_outputs=[t for _, t in pairs],
                               create_graph=cg_base, retain_graph=True, allow_unused=True)
        else:
            jv = [None] * len(us)
    jv = [C.zeros_like(u) if j is None else j for j, u in zip(jv, us, strict=True)]
    jv = [_mk(j, o.levels if isinstance(o, BatchedTensor) else ()) for j, o in zip(jv, outs, strict=True)]
    if not cg_base:
        jv = [_detach(j) for j in jv]
        outs = [_detach(o) for o in outs]
    res = (tree_unflatten(outs, ospec), tree_unflatten(jv, ospec))
    return res + (aux,) if has_aux else res


# ----------------------------------------------------------------------------- jacobians
def _lsplit(t):
    v, lv, r = _parts(t)
    return v, lv, tuple(v.shape[len(lv):])


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """The Jacobian by reverse mode: one backward pass per output element.

    Result: for each output (pytree), for each input at ``argnums`` (pytree), a tensor of
    shape ``out.shape + in.shape``."""
    api = "jacrev(f, argnums)(*args)"

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _ensure_ready()
        nums = _check_argnums(argnums, len(args), api)
        xs, specs, originals, cg, out, aux = _call_at_argnums(func, args, kwargs, nums, api, has_aux)
        outs, ospec = tree_flatten(out)
        for o in outs:
            if not isinstance(o, Tensor):
                raise RuntimeError(
                    f"{api}: Expected f(*args) to return only tensors, got unsupported type "
                    f"{type(o)}")
        xraw = [_raw(x) for x in xs]
        per_out = []
        for o in outs:
            ov, olv, oshape = _lsplit(o)
            nb = len(olv)
            flat = S.reshape(ov, tuple(ov.shape[:nb]) + (-1,))
            n = flat.shape[-1]
            cols = []  # cols[k][i]: d out_k / d x_i
            for k in range(n):
                ok = flat[(slice(None),) * nb + (k,)]
                cols.append(_grads([ok], xraw, [C.ones_like(ok)], cg, retain_graph=True))
            jac_x = []
            for i, x in enumerate(xs):
                xv, xlv, xshape = _lsplit(x)
                nbx = len(xlv)
                if n:
                    j = S.stack([c[i] for c in cols], nbx)
                else:
                    j = C.zeros(tuple(xv.shape[:nbx]) + (0,) + xshape, dtype=xv.dtype)
                j = S.reshape(j, tuple(xv.shape[:nbx]) + oshape + xshape)
                if not cg:
                    j = j.detach()
                jac_x.append(_mk(j, xlv))
            it = iter(jac_x)
            trees = [tree_unflatten([next(it) for _ in range(k)], spec) for k, spec in specs]
            per_out.append(trees[0] if isinstance(argnums, int) else tuple(trees))
        res = tree_unflatten(per_out, ospec)
        return (res, aux) if has_aux else res

    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):  # noqa: C901 - see wrapper
    """The Jacobian by forward mode (double-vjp ``jvp``, one per input element)."""
    api = "jacfwd(f, argnums)(*args)"

    @functools.wraps(func)
    def wrapper(*args, **kwargs):  # noqa: C901 - torch.func's argument checks, one by one
        _ensure_ready()
        nums = _check_argnums(argnums, len(args), api)
        diff_leaves, specs = [], []
        for n in nums:
            leaves, spec = tree_flatten(args[n])
            diff_leaves.extend(leaves)
            specs.append((len(leaves), spec))

        def f_flat(*flat):
            a = list(args)
            it = iter(flat)
            for n, (k, spec) in zip(nums, specs, strict=True):
                a[n] = tree_unflatten([next(it) for _ in range(k)], spec)
            return func(*a, **kwargs)

        primals = tuple(diff_leaves)
        columns = []  # per input leaf: list over its elements of (out leaves jvp)
        out_leaves = ospec = aux = None
        for i, x in enumerate(primals):
            for t in tree_flatten(x)[0]:
                if not isinstance(t, Tensor):
                    raise RuntimeError(f"{api}: expected Tensor inputs, got {type(t)}")
            numel = x.numel()
            cols = []
            for k in range(numel):
                tangents = []
                for j, y in enumerate(primals):
                    z = C.zeros(tuple(y.shape), dtype=y.dtype)
                    if j == i:
                        z = S.reshape(z, (-1,))
                        e = z.detach().numpy().copy()
                        e[k] = 1
                        z = S.reshape(Tensor._wrap(e), tuple(y.shape))
                    tangents.append(z)
                r = jvp(f_flat, primals, tuple(tangents), has_aux=has_aux)
                o, jv = r[0], r[1]
                if has_aux:
                    aux = r[2]
                out_leaves, ospec = tree_flatten(o)
                cols.append(tree_flatten(jv)[0])
            columns.append(cols)
        if out_leaves is None:  # every input is empty: evaluate once for the output structure
            o = f_flat(*primals)
            if has_aux:
                o, aux = o
            out_leaves, ospec = tree_flatten(o)
        per_out = []
        for oi, o in enumerate(out_leaves):
            jac_x = []
            for i, x in enumerate(primals):
                cols = columns[i]
                if cols:
                    j = _stack_last([c[oi] for c in cols])
                    j = _reshape_logical(j, tuple(o.shape) + tuple(x.shape))
                else:
                    j = C.zeros(tuple(o.shape) + tuple(x.shape), dtype=o.dtype)
                jac_x.append(j)
            it = iter(jac_x)
            trees = [tree_unflatten([next(it) for _ in range(k)], spec) for k, spec in specs]
            per_out.append(trees[0] if isinstance(argnums, int) else tuple(trees))
        res = tree_unflatten(per_out, ospec)
        return (res, aux) if has_aux else res

    return wrapper


def _stack_last(ts):
    from ._vmap import RULES
    if any(isinstance(t, BatchedTensor) for t in ts):
        return RULES["stack"](ts, -1)
    return S.stack(ts, -1)


def _reshape_logical(t, shape):
    if isinstance(t, BatchedTensor):
        return t.reshape(shape)
    return S.reshape(t, shape)


def hessian(func, argnums=0):
    """``jacfwd(jacrev(func, argnums), argnums)``, as in torch.func."""
    return jacfwd(jacrev(func, argnums), argnums)


# ----------------------------------------------------------------------------- functional_call
def _merge_dicts(parameter_and_buffer_dicts):
    """One name -> tensor dict from a dict or a list/tuple of dicts whose keys must not overlap."""
    if isinstance(parameter_and_buffer_dicts, dict):
        return dict(parameter_and_buffer_dicts)
    if not isinstance(parameter_and_buffer_dicts, (tuple, list)):
        raise ValueError(
            f"Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but "
            f"got {type(parameter_and_buffer_dicts)}")
    merged = {}
    for d in parameter_and_buffer_dicts:
        if not isinstance(d, dict):
            raise ValueError(
                "Expected all elements of parameter_and_buffer_dicts to be dictionaries")
        dup = [k for k in d if k in merged]
        if dup:
            raise ValueError(
                f"{dup} appeared in multiple dictionaries; behavior of functional call is "
                "ambiguous")
        merged.update(d)
    return merged


def _check_strict_keys(module, known, merged):
    missing = sorted(k for k in known if k not in merged)
    unexpected = sorted(k for k in merged if k not in known)
    if missing or unexpected:
        msg = f"Error(s) in reparametrizing for {module._get_name()}:"
        if unexpected:
            msg += "\n\tUnexpected key(s): " + ", ".join(f"'{k}'" for k in unexpected) + "."
        if missing:
            msg += "\n\tMissing key(s): " + ", ".join(f"'{k}'" for k in missing) + "."
        raise RuntimeError(msg)


def _spread_tied(known, merged, values):
    """A value given for one of several tied names (one object under many names) fills the others."""
    groups = {}
    for name, obj in known.items():
        if obj is not None:
            groups.setdefault(id(obj), []).append(name)
    for names in groups.values():
        if len(names) < 2:
            continue
        given = [n for n in names if n in merged]
        if not given:
            continue
        first = merged[given[0]]
        for n in given[1:]:
            if merged[n] is not first:
                raise ValueError(
                    f"functional_call got multiple values for keys {sorted(given)}, which "
                    "are tied. Consider using tie_weights=False")
        for n in names:
            values.setdefault(n, first)


def _swap_in(module, values, saved):
    """Put ``values`` in place of the named parameters/buffers/attributes, recording the old ones."""
    for name, value in values.items():
        mod, attr = _locate(module, name)
        if attr in mod._parameters:
            saved.append((mod, "_parameters", attr, mod._parameters[attr]))
            mod._parameters[attr] = value
        elif attr in mod._buffers:
            saved.append((mod, "_buffers", attr, mod._buffers[attr]))
            mod._buffers[attr] = value
        else:
            had = attr in mod.__dict__
            saved.append((mod, None, attr, mod.__dict__.get(attr) if had else _MISSING))
            object.__setattr__(mod, attr, value)


def _swap_back(saved):
    for mod, where, attr, old in reversed(saved):
        if where is not None:
            getattr(mod, where)[attr] = old
        elif old is _MISSING:
            mod.__dict__.pop(attr, None)
        else:
            object.__setattr__(mod, attr, old)


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    """Call ``module`` with its parameters/buffers replaced by the given tensors, then restore.

    Example::

        >>> lin = nn.Linear(3, 2)
        >>> w = {"weight": tapegrad.zeros(2, 3), "bias": tapegrad.ones(2)}
        >>> functional_call(lin, w, (tapegrad.randn(4, 3),))   # shape (4, 2), all ones
    """
    merged = _merge_dicts(parameter_and_buffer_dicts)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    kwargs = kwargs or {}

    known = {}  # name -> original object
    for name, p in module.named_parameters(remove_duplicate=False):
        known[name] = p
    for name, b in module.named_buffers(remove_duplicate=False):
        known[name] = b
    if strict:
        _check_strict_keys(module, known, merged)
    values = dict(merged)
    if tie_weights:
        _spread_tied(known, merged, values)

    saved = []
    try:
        _swap_in(module, values, saved)
        return module(*args, **kwargs)
    finally:
        _swap_back(saved)


_MISSING = object()


def _locate(module, name):
    parts = name.split(".")
    mod = module
    for p in parts[:-1]:
        sub = mod._modules.get(p) if hasattr(mod, "_modules") else None
        if sub is None:
            raise AttributeError(f"{mod._get_name()} has no attribute `{p}`")
        mod = sub
    return mod, parts[-1]

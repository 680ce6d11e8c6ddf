"""Vector calculus on top of ``backward``: ``vjp``, ``jvp``, ``jacobian``, ``hessian``,
``hvp``, ``vhp`` with PyTorch's signatures, output nesting and error messages.

Everything reduces to reverse-mode products:

* ``vjp(f, x, v)`` is ``v^T J``: one ``autograd.grad`` with ``grad_outputs=v``;
* ``jvp(f, x, v)`` is ``J v``: ``u -> J^T u`` is linear, so differentiating
  ``<J^T u, v>`` with respect to ``u`` gives ``J v`` (the double backward trick, which
  needs the first backward recorded: tapegrad records it for every op);
* ``jacobian`` stacks one ``vjp`` per output element (``strategy="reverse-mode"``) or
  one ``jvp`` per input element (``"forward-mode"``); ``hessian`` is the jacobian of
  the gradient, ``vhp`` the vjp of the gradient and ``hvp`` its jvp.

Results are detached unless ``create_graph=True``; then they are differentiable with
respect to the inputs (and ``v``).
"""
from __future__ import annotations

import tapegrad as torch

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

# --------------------------------------------------------------------------- messages
# PyTorch's texts for strict mode, keyed by what was found independent of what.
_STRICT = {
    "outputs": "Output {i} of the user-provided function does not require gradients. The outputs "
               "must be computed in a differentiable manner from the input when running in strict mode.",
    "grad_inputs": "The gradient with respect to input {i} is independent of the inputs of the "
                   "user-provided function. This is not allowed in strict mode.",
    "jacobian": "While computing the hessian, found that the jacobian of the user-provided function "
                "with respect to input {i} is independent of the input. This is not allowed in strict "
                "mode. You should ensure that your function is twice differentiable and that the "
                "jacobian depends on the inputs (this would be violated by a linear function for "
                "example).",
    "hessian": "The hessian of the user-provided function with respect to input {i} is independent of "
               "the input. This is not allowed in strict mode. You should ensure that your function is "
               "thrice differentiable and that the hessian depends on the inputs.",
    "none": "The output of the user-provided function is independent of input {i}. This is not "
            "allowed in strict mode.",
}
# ... and for a gradient that came back empty, by the pass that produced it
_MISSING = {
    "back": "The output of the user-provided function is independent of input {i}. This is not "
            "allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
                  "grad_outputs when using the double backward trick to compute forward mode "
                  "gradients. This is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. This is "
                   "not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in the "
                         "grad_jacobian. This is not allowed in strict mode as it prevents from using "
                         "the double backward trick to replace forward mode AD.",
}
_CONSTANT_WITH_GRAPH = {
    False: "The jacobian of the user-provided function is independent of input {i}. This is not "
           "allowed in strict mode when create_graph=True.",
    True: "The hessian of the user-provided function is independent of input {i}. This is not "
          "allowed in strict mode when create_graph=True.",
}
_V_NONE_OUT = ("The vector v can only be None if the user-provided function returns a single Tensor "
               "with a single element.")
_V_NONE_IN = ("The vector v can only be None if the input to the user-provided function is a single "
              "Tensor with a single element.")


# --------------------------------------------------------------------------- argument plumbing
def _tensors(value, what, fn):
    """``(given_as_tuple, tuple_of_tensors)``; PyTorch's TypeError for anything else."""
    as_tuple = isinstance(value, tuple)
    items = value if as_tuple else (value,)
    for i, item in enumerate(items):
        if not isinstance(item, torch.Tensor):
            where = f"value at index {i}" if as_tuple else f"given {what}"
            raise TypeError(f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors "
                            f"but the {where} has type {type(item)}.")
    return as_tuple, items


def _shape_like(values, as_tuple):
    return values if as_tuple else values[0]


def _shape_like_grid(grid, outs_tuple, ins_tuple):
    """``grid[i][j]`` (output i, input j) unpacked the way the arguments were given."""
    if not ins_tuple:
        grid = tuple(row[0] for row in grid)
    return grid if outs_tuple else grid[0]


def _fresh(inputs, create_graph, need_graph=True):
    """New tensor objects for the user's function, so that a tensor it also captures from
    outside is not mistaken for the argument (and the caller's graph stays untouched)."""
    if create_graph:
        return tuple(x.view_as(x) if x.requires_grad else x.detach().requires_grad_(need_graph)
                     for x in inputs)
    return tuple(x.detach().requires_grad_(need_graph) for x in inputs)


def _released(values, create_graph):
    """Detach results unless the caller asked to differentiate them (nested tuples too)."""
    if create_graph:
        return values
    return tuple(v.detach() if isinstance(v, torch.Tensor) else _released(v, False) for v in values)


def _check_v(v, refs, refs_tuple):
    if len(v) != len(refs):
        if refs_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(refs)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (a, b) in enumerate(zip(v, refs)):
        if a.size() != b.size():
            lead = f"Entry {i} in " if refs_tuple else ""
            raise RuntimeError(f"{lead}v has invalid size: should be {b.size()} but got {a.size()}.")


def _prepare_v(v, refs, refs_tuple, fn, create_graph, none_message):
    if v is None:
        if len(refs) != 1 or refs[0].nelement() != 1:
            raise RuntimeError(none_message)
        return None
    _, v = _tensors(v, "v", fn)
    v = _fresh(v, create_graph, need_graph=False)
    _check_v(v, refs, refs_tuple)
    return v


def _strict_requires_grad(values, kind, strict):
    """In strict mode, every value must depend on the inputs (PyTorch's messages per kind)."""
    if not strict:
        return
    for i, value in enumerate(values):
        if value is None:
            raise RuntimeError(_STRICT["none"].format(i=i))
        if not value.requires_grad:
            raise RuntimeError(_STRICT[kind].format(i=i))


def _vjp_of(outputs, inputs, cotangents=None, create_graph=False, retain_graph=None):
    """``autograd.grad`` over the outputs that are differentiable; None for unreached inputs."""
    cotangents = cotangents if cotangents is not None else (None,) * len(outputs)
    pairs = [(o, c) for o, c in zip(outputs, cotangents) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    outs, cots = zip(*pairs)
    return torch.autograd.grad(outs, inputs, cots, allow_unused=True, create_graph=create_graph,
                               retain_graph=retain_graph)


def _zeros_where_missing(grads, refs, strict, create_graph, stage):
    """Missing gradients become zeros (or, in strict mode, PyTorch's error for that pass)."""
    out = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(_MISSING[stage].format(i=i))
            g = torch.zeros_like(ref)
        elif strict and create_graph and not g.requires_grad:
            raise RuntimeError(_CONSTANT_WITH_GRAPH["double" in stage].format(i=i))
        out.append(g)
    return tuple(out)


def _outer_grad_mode(create_graph):
    return torch.set_grad_enabled(True if create_graph else torch.is_grad_enabled())


# --------------------------------------------------------------------------- vjp / jvp
def vjp(func, inputs, v=None, create_graph=False, strict=False):
    r"""``(func(inputs), v^T J)``: the vector-Jacobian product, shaped like ``inputs``.

    ``v`` may be omitted when ``func`` returns a single one-element Tensor.

    >>> def adder(x, y):
    ...     return 2 * x + 3 * y
    >>> vjp(adder, (tapegrad.ones(2), tapegrad.ones(2)), tapegrad.ones(2))[1]
    (tensor([2., 2.]), tensor([3., 3.]))
    """
    with torch.enable_grad():
        ins_tuple, inputs = _tensors(inputs, "inputs", "vjp")
        inputs = _fresh(inputs, create_graph)
        outs_tuple, outputs = _tensors(func(*inputs), "outputs of the user-provided function", "vjp")
        _strict_requires_grad(outputs, "outputs", strict)
        v = _prepare_v(v, outputs, outs_tuple, "vjp", create_graph, _V_NONE_OUT)
    with _outer_grad_mode(create_graph):
        grads = _vjp_of(outputs, inputs, v, create_graph=create_graph)
        grads = _zeros_where_missing(grads, inputs, strict, create_graph, "back")
    return (_shape_like(_released(outputs, create_graph), outs_tuple),
            _shape_like(_released(grads, create_graph), ins_tuple))


def _double_backward_setup(func, inputs, strict, create_graph, fn):
    """Run ``func`` and record ``u -> J^T u`` (with ``u`` a fresh zero cotangent)."""
    outs_tuple, outputs = _tensors(func(*inputs), "outputs of the user-provided function", fn)
    _strict_requires_grad(outputs, "outputs", strict)
    # J^T u is linear in u: its value is irrelevant, zeros will do
    u = tuple(torch.zeros_like(o, requires_grad=True) for o in outputs)
    jtu = _vjp_of(outputs, inputs, u, create_graph=True)
    return outs_tuple, outputs, u, jtu


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    r"""``(func(inputs), J v)``: the Jacobian-vector product, shaped like the output.

    Computed with the double backward trick (two reverse passes).

    >>> def adder(x, y):
    ...     return 2 * x + 3 * y
    >>> jvp(adder, (tapegrad.ones(2), tapegrad.ones(2)), (tapegrad.ones(2), tapegrad.ones(2)))[1]
    tensor([5., 5.])
    """
    with torch.enable_grad():
        ins_tuple, inputs = _tensors(inputs, "inputs", "jvp")
        inputs = _fresh(inputs, create_graph)
        v = _prepare_v(v, inputs, ins_tuple, "jvp", create_graph, _V_NONE_IN)
        outs_tuple, outputs, u, jtu = _double_backward_setup(func, inputs, strict, create_graph, "jvp")
        _strict_requires_grad(jtu, "grad_inputs", strict)
    with _outer_grad_mode(create_graph):
        jv = _vjp_of(jtu, u, v, create_graph=create_graph)
        jv = _zeros_where_missing(jv, outputs, strict, create_graph, "back_trick")
    return (_shape_like(_released(outputs, create_graph), outs_tuple),
            _shape_like(_released(jv, create_graph), outs_tuple))


# --------------------------------------------------------------------------- jacobian / hessian
def _one_hot_rows(ref):
    n = ref.nelement()
    eye = torch.eye(n, dtype=ref.dtype) if n else torch.zeros(0, 0, dtype=ref.dtype)
    return [eye[k].view(ref.shape) for k in range(n)]


def _stack(rows, shape, ref):
    return torch.stack(rows, dim=0).view(shape) if rows else torch.zeros(shape, dtype=ref.dtype)


def _jacobian_by_columns(func, inputs, strict, vectorize):
    """Forward strategy: one ``J e_k`` (double backward trick) per input element."""
    if strict:
        raise RuntimeError(
            "torch.autograd.functional.jacobian: `strict=True` and `strategy=\"forward-mode\"` are not "
            "supported together (yet). Please either set `strict=False` or `strategy=\"reverse-mode\"`.")
    ins_tuple, inputs = _tensors(inputs, "inputs", "jacobian")
    if not vectorize:
        raise NotImplementedError(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian is"
            "only implemented for `vectorize=True`.")
    with torch.enable_grad():
        inputs = _fresh(inputs, False)
        outs_tuple, outputs, u, jtu = _double_backward_setup(func, inputs, False, False, "jacobian")
    grid = []
    for out in outputs:
        grid.append([[] for _ in inputs])
    for j, x in enumerate(inputs):
        for e in _one_hot_rows(x):
            column = _vjp_of((jtu[j],), u, (e,), retain_graph=True)
            for i, (c, out) in enumerate(zip(column, outputs)):
                grid[i][j].append(torch.zeros_like(out) if c is None else c.detach())
    # columns stacked on a leading dim, then that dim moved behind the output's dims
    jac = [[(torch.stack(grid[i][j], 0).reshape(x.nelement(), out.nelement()).t() if x.nelement()
             else torch.zeros((out.nelement(), 0), dtype=out.dtype)).reshape(tuple(out.shape) + tuple(x.shape))
            for j, x in enumerate(inputs)]
           for i, out in enumerate(outputs)]
    # NOTE: lists, not tuples, when both nestings are kept: PyTorch's forward-mode path does so
    return _shape_like_grid(jac, outs_tuple, ins_tuple)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    r"""The Jacobian of ``func`` at ``inputs``.

    A Tensor for a single input and output; a tuple when one of them is a tuple; a tuple
    of tuples (``J[i][j]`` of shape ``out_i.shape + in_j.shape``) when both are.

    >>> jacobian(lambda x: x ** 2, tapegrad.tensor([1., 2.]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your function '
            'has more outputs than inputs, "forward-mode" tends to be more performant. Otherwise, '
            'prefer to use "reverse-mode".')
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                "torch.autograd.functional.jacobian: `create_graph=True` and `strategy=\"forward-mode\"` "
                "are not supported together (yet). Please either set `create_graph=False` or "
                "`strategy=\"reverse-mode\"`.")
        return _jacobian_by_columns(func, inputs, strict, vectorize)

    with torch.enable_grad():
        ins_tuple, inputs = _tensors(inputs, "inputs", "jacobian")
        inputs = _fresh(inputs, create_graph)
        outs_tuple, outputs = _tensors(func(*inputs), "outputs of the user-provided function", "jacobian")
        _strict_requires_grad(outputs, "outputs", strict)
        if vectorize and strict:
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
                "supported together. Please either set `strict=False` or `vectorize=False`.")
        # (vectorize=True gives the same rows; without vmap tapegrad loops either way)
        jac = []
        for i, out in enumerate(outputs):
            rows = [[] for _ in inputs]
            flat = out.reshape(-1)
            for k in range(out.nelement()):
                row = _vjp_of((flat[k],), inputs, retain_graph=True, create_graph=create_graph)
                for j, (g, x) in enumerate(zip(row, inputs)):
                    if g is None:
                        if strict:
                            raise RuntimeError(
                                f"Output {i} of the user-provided function is independent of input {j}. "
                                "This is not allowed in strict mode.")
                        g = torch.zeros_like(x)
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(_CONSTANT_WITH_GRAPH[False].format(i=i))
                    rows[j].append(g)
            jac.append(tuple(_stack(r, tuple(out.shape) + tuple(x.shape), x) for r, x in zip(rows, inputs)))
        return _shape_like_grid(_released(tuple(jac), create_graph), outs_tuple, ins_tuple)


def _single_element(func, fn, strict):
    """``func`` checked to return one one-element Tensor (squeezed), as hessian/vhp/hvp need."""
    def wrapped(*inputs):
        out = func(*inputs)
        as_tuple, outs = _tensors(out, "outputs of the user-provided function", fn)
        _strict_requires_grad(outs, "outputs", strict)
        if as_tuple or not isinstance(out, torch.Tensor):
            raise RuntimeError(f"The function given to {fn} should return a single Tensor")
        if out.nelement() != 1:
            raise RuntimeError(f"The Tensor returned by the function given to {fn} should contain a single element")
        return out
    return wrapped


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    r"""The Hessian of the scalar function ``func`` at ``inputs`` (the jacobian of its gradient).

    >>> hessian(lambda x: (x ** 3).sum(), tapegrad.tensor([1., 2.]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    ins_tuple, inputs = _tensors(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')
    scalar = _single_element(func, "hessian", strict)

    def gradient(*xs):
        if outer_jacobian_strategy == "forward-mode":
            xs = tuple(x.requires_grad_(True) for x in xs)
        g = jacobian(lambda *a: scalar(*a).squeeze(), xs, create_graph=True)
        _strict_requires_grad(g, "jacobian", strict)
        return g

    res = jacobian(gradient, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize,
                   strategy=outer_jacobian_strategy)
    return _shape_like_grid(res, ins_tuple, ins_tuple)


def _gradient_with_graph(func, inputs, v, create_graph, strict, fn):
    """Shared first half of ``vhp``/``hvp``: the scalar's gradient, recorded for one more pass."""
    ins_tuple, inputs = _tensors(inputs, "inputs", fn)
    inputs = _fresh(inputs, create_graph)
    v = _prepare_v(v, inputs, ins_tuple, fn, create_graph, _V_NONE_IN)
    outs_tuple, outputs = _tensors(func(*inputs), "outputs of the user-provided function", fn)
    _strict_requires_grad(outputs, "outputs", strict)
    if outs_tuple or not isinstance(outputs[0], torch.Tensor):
        raise RuntimeError(f"The function given to {fn} should return a single Tensor")
    if outputs[0].nelement() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn} should contain a single element")
    grad = _vjp_of(outputs, inputs, create_graph=True)
    _strict_requires_grad(grad, "jacobian", strict)
    return ins_tuple, inputs, v, outs_tuple, outputs, grad


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    r"""``(func(inputs), v^T H)`` for the scalar function ``func``: a vjp of its gradient."""
    with torch.enable_grad():
        ins_tuple, inputs, v, outs_tuple, outputs, grad = _gradient_with_graph(
            func, inputs, v, create_graph, strict, "vhp")
    with _outer_grad_mode(create_graph):
        res = _vjp_of(grad, inputs, v, create_graph=create_graph)
        res = _zeros_where_missing(res, inputs, strict, create_graph, "double_back")
    return (_shape_like(_released(outputs, create_graph), outs_tuple),
            _shape_like(_released(res, create_graph), ins_tuple))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    r"""``(func(inputs), H v)`` for the scalar function ``func``: the double backward trick on
    its gradient (three reverse passes; for smooth functions ``hvp == vhp``, which is cheaper)."""
    with torch.enable_grad():
        ins_tuple, inputs, v, outs_tuple, outputs, grad = _gradient_with_graph(
            func, inputs, v, create_graph, strict, "hvp")
        u = tuple(torch.zeros_like(x, requires_grad=True) for x in inputs)
        htu = _vjp_of(grad, inputs, u, create_graph=True)
        _strict_requires_grad(grad, "hessian", strict)
    with _outer_grad_mode(create_graph):
        res = _vjp_of(htu, u, v, create_graph=create_graph)
        res = _zeros_where_missing(res, inputs, strict, create_graph, "double_back_trick")
    return (_shape_like(_released(outputs, create_graph), outs_tuple),
            _shape_like(_released(res, create_graph), ins_tuple))

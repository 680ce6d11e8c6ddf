"""Vector calculus on top of ``autograd.grad``: ``vjp``, ``jvp``, ``jacobian``, ``hessian``,
``hvp``, ``vhp`` with PyTorch's signatures, output nesting and error messages.

Two linear maps do all the work, both built from reverse passes:

* ``_pullback(ys, xs, u)`` is ``u^T dy/dx`` -- one ``autograd.grad``;
* ``_Transpose(ys, xs)`` records ``u -> J^T u`` once, for a placeholder ``u``; since that
  map is linear in ``u``, pulling a ``v`` back through it gives ``J v`` (the double
  backward trick; tapegrad records the backward of every op, so it is always available).

On top of them, each public function is one ``_Session``: the user's arguments
normalised to tuples (remembering how to give results back in the caller's nesting),
fresh leaves standing in for the inputs, the user's function run at those leaves, the
strict-mode checks, zeros for gradients that never reached an input, and the final
detaching (results are detached unless ``create_graph=True``, in which case they stay
differentiable with respect to the inputs and ``v``).

* ``vjp``/``jvp``: one pullback / one transpose-then-pullback;
* ``jacobian``: a pullback per output element (reverse mode) or a pullback through the
  transpose per input element (forward mode);
* ``hessian``: the jacobian of the gradient; ``vhp`` a pullback and ``hvp`` a
  transpose-then-pullback of the gradient.
"""
from __future__ import annotations


class _Package:
    """``tapegrad`` itself, looked up on use: this module builds on the public ops (their
    dispatch included, so it runs under ``vmap``), which load after the autograd package."""

    def __getattr__(self, name):
        import tapegrad
        return getattr(tapegrad, name)


torch = _Package()

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

_OUTPUTS = "outputs of the user-provided function"
_STRATEGIES = ("forward-mode", "reverse-mode")

# ----------------------------------------------------------------------------- messages
# strict mode, a value that should depend on the inputs but carries no graph; by what it is
_NO_GRAPH = {
    "outputs": "Output {i} of the user-provided function does not require gradients. The outputs "
               "must be computed in a differentiable manner from the input when running in strict mode.",
    "grad_inputs": "The gradient with respect to input {i} is independent of the inputs of the "
                   "user-provided function. This is not allowed in strict mode.",
    "jacobian": "While computing the hessian, found that the jacobian of the user-provided function "
                "with respect to input {i} is independent of the input. This is not allowed in strict "
                "mode. You should ensure that your function is twice differentiable and that the "
                "jacobian depends on the inputs (this would be violated by a linear function for "
                "example).",
}
_UNREACHED_INPUT = ("The output of the user-provided function is independent of input {i}. This is not "
                    "allowed in strict mode.")
# strict mode, a product that came back empty; by the pass that produced it
_EMPTY_PRODUCT = {
    "vjp": _UNREACHED_INPUT,
    "jvp": "The gradient with respect to the input is independent of entry {i} in the "
           "grad_outputs when using the double backward trick to compute forward mode "
           "gradients. This is not allowed in strict mode.",
    "vhp": "The jacobian of the user-provided function is independent of input {i}. This is "
           "not allowed in strict mode.",
    "hvp": "The hessian of the user-provided function is independent of entry {i} in the "
           "grad_jacobian. This is not allowed in strict mode as it prevents from using "
           "the double backward trick to replace forward mode AD.",
}
# strict mode with create_graph=True, a product that cannot be differentiated further
_CONSTANT_PRODUCT = {
    1: "The jacobian of the user-provided function is independent of input {i}. This is not "
       "allowed in strict mode when create_graph=True.",
    2: "The hessian of the user-provided function is independent of input {i}. This is not "
       "allowed in strict mode when create_graph=True.",
}
_V_NONE = {
    "output": "The vector v can only be None if the user-provided function returns a single Tensor "
              "with a single element.",
    "input": "The vector v can only be None if the input to the user-provided function is a single "
             "Tensor with a single element.",
}


# ----------------------------------------------------------------------------- nesting
def _as_tensors(value, what, api):
    """``value`` (a Tensor or a tuple of them) as a tuple, and whether it was a tuple."""
    was_tuple = isinstance(value, tuple)
    items = value if was_tuple else (value,)
    for i, item in enumerate(items):
        if not isinstance(item, torch.Tensor):
            where = f"value at index {i}" if was_tuple else f"given {what}"
            raise TypeError(f"The {what} given to {api} must be either a Tensor or a tuple of Tensors "
                            f"but the {where} has type {type(item)}.")
    return tuple(items), was_tuple


def _nest(items, as_tuple):
    """The caller's nesting: the container itself, or its only element."""
    return items if as_tuple else items[0]


def _nest_grid(grid, rows_tuple, columns_tuple):
    """``grid[i][j]`` (output i, input j) in the callers' nesting of outputs and inputs."""
    if not columns_tuple:
        grid = tuple(row[0] for row in grid)
    return _nest(grid, rows_tuple)


def _or_zeros(values, like):
    return tuple(torch.zeros_like(ref) if v is None else v for v, ref in zip(values, like, strict=False))


def _detached(value):
    if isinstance(value, torch.Tensor):
        return value.detach()
    return type(value)(_detached(v) for v in value)


# ----------------------------------------------------------------------------- linear maps
def _pullback(ys, xs, cotangents, create_graph=False, retain_graph=None):
    """``sum_i cotangents[i]^T d ys[i] / d xs``, one entry per ``xs`` (None where unreached).

    Terms whose ``ys[i]`` is None or carries no graph, or whose cotangent is None, are left out.
    """
    keep = [k for k, (y, c) in enumerate(zip(ys, cotangents, strict=False))
            if y is not None and y.requires_grad and c is not None]
    if not keep:
        return (None,) * len(xs)
    return torch.autograd.grad([ys[k] for k in keep], xs, [cotangents[k] for k in keep],
                               allow_unused=True, create_graph=create_graph,
                               retain_graph=retain_graph)


class _Transpose:
    """``u -> J^T u`` recorded once, for placeholders ``u`` shaped like ``ys``.

    ``J^T u`` is linear in ``u``, so the placeholders' value does not matter (zeros), and
    pulling ``v`` back through the recorded map to ``u`` gives ``J v``.
    """

    def __init__(self, ys, xs):
        self.placeholders = tuple(torch.zeros_like(y, requires_grad=True) for y in ys)
        self.values = _pullback(ys, xs, self.placeholders, create_graph=True)

    def times(self, tangents, create_graph=False, retain_graph=None):
        """``J v`` for ``v = tangents`` (shaped like ``xs``; None for zero): one entry per ``ys``."""
        return _pullback(self.values, self.placeholders, tangents, create_graph, retain_graph)


# ----------------------------------------------------------------------------- one call
class _Session:
    """The state of one public call: inputs as fresh leaves, outputs, checks, finishing."""

    def __init__(self, api, inputs, create_graph=False, strict=False):
        self.api = api
        self.create_graph = create_graph
        self.strict = strict
        given, self.inputs_tuple = _as_tensors(inputs, "inputs", api)
        # New tensor objects, so that a tensor the function also captures from outside is
        # not mistaken for the argument, and the caller's own graph is never extended
        # (with create_graph=True an input's history is kept through a view).
        self.leaves = tuple(self._stand_in(x, differentiable=True) for x in given)

    def _stand_in(self, x, differentiable):
        if self.create_graph and x.requires_grad:
            return x.view_as(x)
        return x.detach().requires_grad_(differentiable)

    def evaluate(self, func, single_scalar=False):
        """Run ``func`` at the leaves; with ``single_scalar`` it must return one one-element
        Tensor (hessian, vhp, hvp)."""
        result = func(*self.leaves)
        self.outputs, self.outputs_tuple = _as_tensors(result, _OUTPUTS, self.api)
        self.demand_graph(self.outputs, "outputs")
        if single_scalar:
            if self.outputs_tuple:
                raise RuntimeError(f"The function given to {self.api} should return a single Tensor")
            if self.outputs[0].nelement() != 1:
                raise RuntimeError(f"The Tensor returned by the function given to {self.api} should "
                                   "contain a single element")
        return self.outputs

    def vector(self, v, like, like_tuple, none_key):
        """``v`` checked against ``like`` (the inputs or the outputs) as a tuple of tensors.

        ``v=None`` is allowed for a single one-element ``like`` and means ``ones``.
        """
        if v is None:
            if len(like) != 1 or like[0].nelement() != 1:
                raise RuntimeError(_V_NONE[none_key])
            return (torch.ones_like(like[0]).detach(),)
        given, _ = _as_tensors(v, "v", self.api)
        given = tuple(self._stand_in(t, differentiable=False) for t in given)
        if len(given) != len(like):
            if like_tuple:
                raise RuntimeError(f"v is a tuple of invalid length: should be {len(like)} but got "
                                   f"{len(given)}.")
            raise RuntimeError("The given v should contain a single Tensor.")
        wrong = [i for i, (t, ref) in enumerate(zip(given, like, strict=True)) if t.shape != ref.shape]
        if wrong:
            i = wrong[0]
            entry = f"Entry {i} in " if like_tuple else ""
            raise RuntimeError(f"{entry}v has invalid size: should be {like[i].size()} but got "
                               f"{given[i].size()}.")
        return given

    def demand_graph(self, values, kind):
        """Strict mode: each value must have been reached and carry a graph. Returns ``values``."""
        for i, value in enumerate(values if self.strict else ()):
            if value is None:
                raise RuntimeError(_UNREACHED_INPUT.format(i=i))
            if not value.requires_grad:
                raise RuntimeError(_NO_GRAPH[kind].format(i=i))
        return values

    def complete(self, products, like, stage, order=1):
        """Zeros for products that never reached an input. In strict mode that is the error
        for ``stage`` instead, and with create_graph a product without a graph is one too."""
        for i, p in enumerate(products if self.strict else ()):
            if p is None:
                raise RuntimeError(_EMPTY_PRODUCT[stage].format(i=i))
            if self.create_graph and not p.requires_grad:
                raise RuntimeError(_CONSTANT_PRODUCT[order].format(i=i))
        return _or_zeros(products, like)

    def gradient(self):
        """The gradient of the (single, one-element) output, recorded for one more pass."""
        return _pullback(self.outputs, self.leaves, (torch.ones_like(self.outputs[0]),),
                         create_graph=True)

    def finish(self, values):
        return values if self.create_graph else _detached(values)

    def answer(self, products, products_tuple):
        """``(outputs, products)``, each in the caller's nesting."""
        parts = self.finish((self.outputs, tuple(products)))
        return tuple(map(_nest, parts, (self.outputs_tuple, products_tuple)))


# ----------------------------------------------------------------------------- vjp / jvp
def vjp(func, inputs, v=None, create_graph=False, strict=False):
    r"""``(func(inputs), v^T J)``: the vector-Jacobian product, shaped like ``inputs``.

    ``v`` may be omitted when ``func`` returns a single one-element Tensor.

    >>> def adder(x, y):
    ...     return 2 * x + 3 * y
    >>> vjp(adder, (tapegrad.ones(2), tapegrad.ones(2)), tapegrad.ones(2))[1]
    (tensor([2., 2.]), tensor([3., 3.]))
    """
    with torch.enable_grad():
        s = _Session("vjp", inputs, create_graph, strict)
        outputs = s.evaluate(func)
        cotangents = s.vector(v, outputs, s.outputs_tuple, "output")
        products = s.complete(_pullback(outputs, s.leaves, cotangents, create_graph), s.leaves, "vjp")
        return s.answer(products, s.inputs_tuple)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    r"""``(func(inputs), J v)``: the Jacobian-vector product, shaped like the output.

    Computed with the double backward trick (two reverse passes).

    >>> def adder(x, y):
    ...     return 2 * x + 3 * y
    >>> jvp(adder, (tapegrad.ones(2), tapegrad.ones(2)), (tapegrad.ones(2), tapegrad.ones(2)))[1]
    tensor([5., 5.])
    """
    with torch.enable_grad():
        s = _Session("jvp", inputs, create_graph, strict)
        tangents = s.vector(v, s.leaves, s.inputs_tuple, "input")
        outputs = s.evaluate(func)
        transpose = _Transpose(outputs, s.leaves)
        s.demand_graph(transpose.values, "grad_inputs")
        products = s.complete(transpose.times(tangents, create_graph), outputs, "jvp")
        return s.answer(products, s.outputs_tuple)


# ----------------------------------------------------------------------------- jacobian
def _unit_vectors(ref):
    """The standard basis of ``ref``'s space, each shaped like ``ref``."""
    n = ref.nelement()
    basis = torch.eye(n, dtype=ref.dtype) if n else []
    return [basis[k].view(ref.shape) for k in range(n)]


def _jacobian_reverse(s, func, vectorize):
    """Row by row: the pullback of each output element's unit cotangent."""
    outputs = s.evaluate(func)
    if vectorize and s.strict:
        raise RuntimeError(
            "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
            "supported together. Please either set `strict=False` or `vectorize=False`.")
    grid = []
    for i, out in enumerate(outputs):
        rows = [[] for _ in s.leaves]
        for unit in _unit_vectors(out):
            row = _pullback((out,), s.leaves, (unit,), s.create_graph, retain_graph=True)
            for j, (g, x) in enumerate(zip(row, s.leaves, strict=True)):
                if g is None and s.strict:
                    raise RuntimeError(f"Output {i} of the user-provided function is independent of "
                                       f"input {j}. This is not allowed in strict mode.")
                if g is not None and s.strict and s.create_graph and not g.requires_grad:
                    raise RuntimeError(_CONSTANT_PRODUCT[1].format(i=i))
                rows[j].append(torch.zeros_like(x) if g is None else g)
        grid.append(tuple(
            torch.stack(r).view(out.shape + x.shape) if r else torch.zeros(out.shape + x.shape, dtype=x.dtype)
            for r, x in zip(rows, s.leaves, strict=True)))
    return _nest_grid(s.finish(tuple(grid)), s.outputs_tuple, s.inputs_tuple)


def _jacobian_forward(s, func):
    """Column by column: ``J e`` for each input element's unit vector ``e``.

    Like PyTorch's forward-mode path, the result nests in lists rather than tuples.
    """
    outputs = s.evaluate(func)
    transpose = _Transpose(outputs, s.leaves)
    grid = [[None] * len(s.leaves) for _ in outputs]
    for j, x in enumerate(s.leaves):
        columns = [[] for _ in outputs]
        tangents = [None] * len(s.leaves)
        for unit in _unit_vectors(x):
            tangents[j] = unit
            for i, (c, out) in enumerate(
                zip(transpose.times(tangents, retain_graph=True), outputs, strict=False)
            ):
                columns[i].append(torch.zeros_like(out) if c is None else c.detach())
        for i, out in enumerate(outputs):
            shape = out.shape + x.shape
            grid[i][j] = (torch.stack(columns[i], dim=-1).reshape(shape) if columns[i]
                          else torch.zeros(shape, dtype=out.dtype))
    return _nest_grid(grid, s.outputs_tuple, s.inputs_tuple)


def _forward_mode_refusal(create_graph, strict):
    """PyTorch's exception for an option its forward-mode jacobian does not support, or None."""
    if create_graph:
        return NotImplementedError(
            "torch.autograd.functional.jacobian: `create_graph=True` and `strategy=\"forward-mode\"` "
            "are not supported together (yet). Please either set `create_graph=False` or "
            "`strategy=\"reverse-mode\"`.")
    if strict:
        return RuntimeError(
            "torch.autograd.functional.jacobian: `strict=True` and `strategy=\"forward-mode\"` are not "
            "supported together (yet). Please either set `strict=False` or `strategy=\"reverse-mode\"`.")
    return None


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    r"""The Jacobian of ``func`` at ``inputs``.

    A Tensor for a single input and output; a tuple when one of them is a tuple; a tuple
    of tuples (``J[i][j]`` of shape ``out_i.shape + in_j.shape``) when both are.
    ``vectorize=True`` gives the same numbers (tapegrad has no vmap; it loops either
    way); ``strategy="forward-mode"`` needs it.

    >>> jacobian(lambda x: x ** 2, tapegrad.tensor([1., 2.]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    if strategy not in _STRATEGIES:
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your function '
            'has more outputs than inputs, "forward-mode" tends to be more performant. Otherwise, '
            'prefer to use "reverse-mode".')
    forward = strategy == "forward-mode"
    refusal = forward and _forward_mode_refusal(create_graph, strict)
    if refusal:
        raise refusal
    with torch.enable_grad():
        s = _Session("jacobian", inputs, create_graph, strict)
        if not forward:
            return _jacobian_reverse(s, func, vectorize)
        if not vectorize:
            raise NotImplementedError(
                "Computing Jacobian using forward-AD or forward-over-reverse Hessian is"
                "only implemented for `vectorize=True`.")
        return _jacobian_forward(s, func)


# ----------------------------------------------------------------------------- second order
def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    r"""The Hessian of the scalar function ``func`` at ``inputs`` (the jacobian of its gradient).

    >>> hessian(lambda x: (x ** 3).sum(), tapegrad.tensor([1., 2.]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    given = _as_tensors(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in _STRATEGIES:
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')
    grid = jacobian(_recorded_gradient(func, strict), given[0], create_graph, strict, vectorize,
                    outer_jacobian_strategy)
    return _nest_grid(grid, given[1], given[1])


def _recorded_gradient(func, strict):
    """``xs -> grad func(xs)`` for a scalar ``func``, recorded so that it can be
    differentiated again (zeros where ``func`` does not depend on an input)."""
    def gradient(*xs):
        # create_graph=True: the leaves are views of xs, so the gradient stays a function of xs
        inner = _Session("hessian", xs, create_graph=True, strict=strict)
        inner.evaluate(func, single_scalar=True)
        return inner.demand_graph(_or_zeros(inner.gradient(), inner.leaves), "jacobian")
    return gradient


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    r"""``(func(inputs), v^T H)`` for the scalar function ``func``: a pullback of its gradient."""
    with torch.enable_grad():
        s = _Session("vhp", inputs, create_graph, strict)
        v = s.vector(v, s.leaves, s.inputs_tuple, "input")
        s.evaluate(func, single_scalar=True)
        grad = s.gradient()
        s.demand_graph(grad, "jacobian")
        products = _pullback(grad, s.leaves, v, create_graph)
        return s.answer(s.complete(products, s.leaves, "vhp", order=2), s.inputs_tuple)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    r"""``(func(inputs), H v)`` for the scalar function ``func``: the double backward trick on
    its gradient (three reverse passes; for smooth functions ``hvp == vhp``, which is cheaper)."""
    with torch.enable_grad():
        s = _Session("hvp", inputs, create_graph, strict)
        v = s.vector(v, s.leaves, s.inputs_tuple, "input")
        s.evaluate(func, single_scalar=True)
        grad = s.gradient()
        s.demand_graph(grad, "jacobian")
        transpose = _Transpose(grad, s.leaves)
        products = transpose.times(v, create_graph)
        return s.answer(s.complete(products, s.leaves, "hvp", order=2), s.inputs_tuple)

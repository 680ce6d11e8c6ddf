"""``register_full_backward_hook``: identity nodes around a module's inputs and outputs.

The node on the outputs sees ``grad_output``; the node on the inputs sees
``grad_input`` and calls the hooks with both (a hook may replace ``grad_input``).
"""
from __future__ import annotations

from ...autograd.graph import Node
from ...tensor import Tensor


def _user(g):
    return g if g is None or isinstance(g, Tensor) else Tensor._wrap(g)


def _raw(g, like):
    if g is None or not isinstance(g, Tensor):
        return g
    return g if isinstance(like, Tensor) else g._data


class _HookIdentity(Node):
    _bw_name = "BackwardHookFunctionBackward"
    multi_output = True

    def forward(ctx, *xs, hook, is_input):
        ctx.hook, ctx.is_input = hook, is_input
        return tuple(xs)

    def backward(ctx, *grads):
        if ctx.is_input:
            return ctx.hook.on_grad_input(grads)
        return ctx.hook.on_grad_output(grads)


class BackwardHook:
    def __init__(self, module, hooks):
        self.module, self.hooks = module, hooks
        self.grad_outputs = None
        self.n_inputs_with_grad = 0

    def _wrap(self, values, is_input):
        idx = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
        if not idx:
            return values, 0
        outs = _HookIdentity.apply(*[values[i] for i in idx], hook=self, is_input=is_input)
        replaced = dict(zip(idx, outs, strict=True))  # position -> its identity-wrapped tensor
        return tuple(replaced.get(i, v) for i, v in enumerate(values)), len(idx)

    def setup_input_hook(self, args):
        args, self.n_inputs_with_grad = self._wrap(tuple(args), True)
        return args

    def setup_output_hook(self, result):
        single = isinstance(result, Tensor)
        vals, n = self._wrap((result,) if single else tuple(result), False)
        if not n:
            return result
        return vals[0] if single else type(result)(vals) if isinstance(result, tuple) else vals

    def _call(self, grad_inputs):
        gi = tuple(_user(g) for g in grad_inputs)
        go = tuple(_user(g) for g in (self.grad_outputs or ()))
        for hook in self.hooks:
            r = hook(self.module, gi, go)
            if r is not None:
                gi = tuple(r)
        return gi

    def on_grad_output(self, grads):
        self.grad_outputs = grads
        if self.n_inputs_with_grad == 0:
            self._call((None,))
        return grads

    def on_grad_input(self, grads):
        new = self._call(grads)
        return tuple(_raw(n, g) if n is not None else None for n, g in zip(new, grads, strict=False))

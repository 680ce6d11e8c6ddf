"""Rprop (Riedmiller & Braun, 1993): per-coordinate step sizes driven by gradient signs only."""
from __future__ import annotations

from .. import backend as B
from ..tensor import Tensor
from .optimizer import Optimizer, _check_lr, _check_unsupported, _count_step, _new_step_counter, _to_scalar

xp = B.xp

__all__ = ["Rprop", "rprop", "rprop_update"]


def rprop_update(param, grad, prev, step_size, *, etaminus, etaplus, step_size_min, step_size_max,
                 maximize):
    """One Rprop step on one parameter, in place on ``param``, ``prev`` and ``step_size``.

    With ``g = -grad if maximize else grad``, elementwise::

        s = g * prev
        step_size = clip(step_size * (etaplus if s > 0, etaminus if s < 0, else 1),
                         step_size_min, step_size_max)
        g = 0 where s < 0                 (a sign change skips this step)
        param = param - step_size * sign(g);   prev = g
    """
    g = -grad if maximize else grad
    agreement = xp.sign(g * prev)
    factor = xp.where(agreement > 0, etaplus, xp.where(agreement < 0, etaminus, 1.0))
    step_size *= factor.astype(step_size.dtype, copy=False)
    xp.clip(step_size, step_size_min, step_size_max, out=step_size)
    g = xp.where(agreement < 0, xp.zeros((), dtype=g.dtype), g)
    param -= xp.sign(g) * step_size
    prev[...] = g


class Rprop(Optimizer):
    """Resilient backpropagation (``torch.optim.Rprop``); see ``rprop_update`` for the rule.

    State per parameter: ``step`` (0-d float tensor), ``prev`` (the last gradient used, zeros at
    first) and ``step_size`` (filled with the group's ``lr`` on the first step).

    >>> opt = Rprop(model.parameters(), lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50))
    """

    _hyperparameters = ("lr", "etas", "step_sizes", "foreach", "maximize", "differentiable", "capturable")
    _group_fallbacks = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}
    _write_op = "addcmul_"

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
                 foreach=None, maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        _check_unsupported(differentiable)
        super().__init__(params, self._defaults_from(locals()))

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        return self._step_each_param(closure)

    def _update_param(self, param, group):
        state = self.state[param]
        if not state:
            state["step"] = _new_step_counter()
            state["prev"] = Tensor._wrap(xp.zeros_like(param._data))
            state["step_size"] = Tensor._wrap(xp.full_like(param._data, _to_scalar(group["lr"])))
        _count_step(state["step"])
        etaminus, etaplus = group["etas"]
        low, high = group["step_sizes"]
        rprop_update(param._data, param._grad._data, state["prev"]._data, state["step_size"]._data,
                     etaminus=etaminus, etaplus=etaplus, step_size_min=low, step_size_max=high,
                     maximize=group["maximize"])


def rprop(params, grads, prevs, step_sizes, state_steps, foreach=None, capturable=False, maximize=False,
          differentiable=False, has_complex=False, *, step_size_min, step_size_max, etaminus, etaplus):
    """Functional Rprop over lists of tensors (``torch.optim.rprop.rprop``)."""
    _check_unsupported(differentiable)
    with xp.errstate(all="ignore"):
        for i, param in enumerate(params):
            _count_step(state_steps[i])
            rprop_update(param._data, grads[i]._data, prevs[i]._data, step_sizes[i]._data,
                         etaminus=etaminus, etaplus=etaplus, step_size_min=step_size_min,
                         step_size_max=step_size_max, maximize=maximize)
            param._bump_version("addcmul_")

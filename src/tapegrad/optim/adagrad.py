"""Adagrad (Duchi, Hazan & Singer, 2011): per-coordinate steps shrink with the gradients seen."""
from __future__ import annotations

from .. import backend as B
from ..tensor import Tensor
from .optimizer import (Optimizer, _check_fused, _check_lr, _check_unsupported, _count_step,
                        _new_step_counter, _scalars)

xp = B.xp

__all__ = ["Adagrad", "adagrad", "adagrad_update"]


def adagrad_update(param, grad, state_sum, *, step, lr, lr_decay, weight_decay, eps, maximize):
    """One Adagrad step on one parameter, in place; ``step`` is t, counting this step.

    With ``g = -grad if maximize else grad``::

        g = g + weight_decay * param
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g * g
        param = param - clr * g / (sqrt(sum) + eps)
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    param -= clr * g / (xp.sqrt(state_sum) + eps)


class Adagrad(Optimizer):
    """Adagrad (``torch.optim.Adagrad``); see ``adagrad_update`` for the formula.

    State per parameter, created with the optimizer (even for parameters that never get a
    gradient): ``step`` (0-d float tensor) and ``sum`` (filled with
    ``initial_accumulator_value``).

    >>> opt = Adagrad(model.parameters(), lr=0.01, lr_decay=1e-4)
    """

    _hyperparameters = ("lr", "lr_decay", "eps", "weight_decay", "initial_accumulator_value",
                        "foreach", "maximize", "differentiable", "fused")
    _rule_args = ("lr", "lr_decay", "weight_decay", "eps", "maximize")
    _group_fallbacks = {"foreach": None, "maximize": False, "differentiable": False, "fused": None}

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        for name, value in (("lr_decay", lr_decay), ("weight_decay", weight_decay),
                            ("initial_accumulator_value", initial_accumulator_value)):
            if not value >= 0.0:
                raise ValueError(f"Invalid {name} value: {value}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_unsupported(differentiable)
        super().__init__(params, self._defaults_from(locals()))
        _check_fused(fused, foreach)
        for group in self.param_groups:
            for param in group["params"]:
                self._init_state(param, group)

    def _init_state(self, param, group):
        state = self.state[param]
        state["step"] = _new_step_counter(group["fused"])
        state["sum"] = Tensor._wrap(xp.full_like(param._data, group["initial_accumulator_value"]))
        return state

    def share_memory(self):
        """Kept for API parity: tapegrad tensors live in one process."""

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        return self._step_each_param(closure)

    def _update_param(self, param, group):
        # Parameters added with add_param_group after construction get their state here.
        state = self.state.get(param) or self._init_state(param, group)
        adagrad_update(param._data, param._grad._data, state["sum"]._data,
                       step=_count_step(state["step"]), **_scalars(group, self._rule_args))


def adagrad(params, grads, state_sums, state_steps, fused=None, grad_scale=None, found_inf=None,
            has_sparse_grad=False, foreach=None, differentiable=False, has_complex=False, *, lr,
            weight_decay, lr_decay, eps, maximize):
    """Functional Adagrad over lists of tensors (``torch.optim.adagrad.adagrad``): advances each
    ``state_steps`` counter and updates parameters and sums in place."""
    _check_unsupported(differentiable, grad_scale, found_inf)
    hyper = _scalars(locals(), Adagrad._rule_args)
    with xp.errstate(all="ignore"):
        for param, grad, state_sum, counter in zip(params, grads, state_sums, state_steps, strict=False):
            adagrad_update(param._data, grad._data, state_sum._data, step=_count_step(counter), **hyper)
            param._bump_version("addcdiv_")

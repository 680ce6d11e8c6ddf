"""Adadelta (Zeiler, 2012): steps scaled by the ratio of running RMS of updates and of gradients."""
from __future__ import annotations

from .. import backend as B
from .optimizer import Optimizer, _check_lr, _check_unsupported, _count_step, _scalars

xp = B.xp

__all__ = ["Adadelta", "adadelta", "adadelta_update"]


def adadelta_update(param, grad, square_avg, acc_delta, *, lr, rho, eps, weight_decay, maximize):
    """One Adadelta step on one parameter, in place on its arrays.

    With ``g = -grad if maximize else grad``::

        g = g + weight_decay * param
        v = rho * v + (1 - rho) * g * g                      (square_avg)
        dx = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * dx * dx                    (acc_delta)
        param = param - lr * dx
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= rho
    square_avg += (1 - rho) * g * g
    delta = xp.sqrt(acc_delta + eps) / xp.sqrt(square_avg + eps) * g
    acc_delta *= rho
    acc_delta += (1 - rho) * delta * delta
    param -= lr * delta


class Adadelta(Optimizer):
    """Adadelta (``torch.optim.Adadelta``); see ``adadelta_update`` for the formula.

    State per parameter: ``step`` (0-d float tensor), ``square_avg`` and ``acc_delta``.

    >>> opt = Adadelta(model.parameters(), lr=1.0, rho=0.9)
    """

    _hyperparameters = ("lr", "rho", "eps", "weight_decay", "maximize", "capturable", "foreach",
                        "differentiable")
    _rule_args = ("lr", "rho", "eps", "weight_decay", "maximize")
    _group_fallbacks = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_unsupported(differentiable)
        super().__init__(params, self._defaults_from(locals()))

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        return self._step_each_param(closure)

    def _zero_state(self, group):
        return ("square_avg", "acc_delta")

    def _update_param(self, param, group):
        state = self._state_for(param, group)
        _count_step(state["step"])
        adadelta_update(param._data, param._grad._data, state["square_avg"]._data,
                        state["acc_delta"]._data, **_scalars(group, self._rule_args))


def adadelta(params, grads, square_avgs, acc_deltas, state_steps, capturable=False, foreach=None,
             differentiable=False, has_complex=False, *, lr, rho, eps, weight_decay, maximize):
    """Functional Adadelta over lists of tensors (``torch.optim.adadelta.adadelta``): advances
    each ``state_steps`` counter and updates parameters and accumulators in place."""
    _check_unsupported(differentiable)
    hyper = _scalars(locals(), Adadelta._rule_args)
    with xp.errstate(all="ignore"):
        for i, param in enumerate(params):
            _count_step(state_steps[i])
            adadelta_update(param._data, grads[i]._data, square_avgs[i]._data, acc_deltas[i]._data,
                            **hyper)
            param._bump_version("add_")

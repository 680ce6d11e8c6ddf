"""ASGD (Polyak & Juditsky, 1992; schedule after Bottou, 2012): SGD with a decaying step that
also keeps a running average of the iterates."""
from __future__ import annotations

from .. import backend as B
from .optimizer import (Optimizer, _check_lr, _check_unsupported, _count_step, _new_step_counter, _scalars,
                        _zeros_like)

xp = B.xp

__all__ = ["ASGD", "asgd", "asgd_update"]


def asgd_update(param, grad, ax, eta, mu, *, step, lr, lambd, alpha, t0, weight_decay, maximize):
    """One ASGD step on one parameter, in place; ``step`` is t, counting this step.

    ``eta`` and ``mu`` are 0-d arrays holding the step size and averaging weight for this step;
    they are replaced by the next step's (rounded to their own dtype, like PyTorch's state).
    With ``g = -grad if maximize else grad``::

        g = g + weight_decay * param
        param = param * (1 - lambd * eta) - eta * g
        ax = param                     if mu == 1
        ax = ax + mu * (param - ax)    otherwise
        eta = lr / (1 + lambd * lr * t)^alpha;   mu = 1 / max(1, t - t0)
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    step_size, weight = float(eta), float(mu)
    param *= 1 - lambd * step_size
    param -= step_size * g
    if weight != 1:
        ax += weight * (param - ax)
    else:
        ax[...] = param
    eta[...] = lr / (1 + lambd * lr * step) ** alpha
    mu[...] = 1 / max(1, step - t0)


class ASGD(Optimizer):
    """Averaged SGD (``torch.optim.ASGD``); see ``asgd_update`` for the formula.

    State per parameter: ``step``, ``eta`` and ``mu`` (0-d float tensors) and ``ax`` (the
    averaged parameter).

    >>> opt = ASGD(model.parameters(), lr=0.01, t0=100)
    """

    _hyperparameters = ("lr", "lambd", "alpha", "t0", "weight_decay", "foreach", "maximize",
                        "differentiable", "capturable")
    _rule_args = ("lr", "lambd", "alpha", "t0", "weight_decay", "maximize")
    _group_fallbacks = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}
    _write_op = "add_"

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_unsupported(differentiable)
        super().__init__(params, self._defaults_from(locals()))

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        return self._step_each_param(closure)

    def _state_for(self, param, group):
        state = self.state[param]
        if not state:
            state["step"] = _new_step_counter()
            state["eta"] = _new_step_counter(value=_scalars(group, ("lr",))["lr"])
            state["mu"] = _new_step_counter(value=1.0)
            state["ax"] = _zeros_like(param)
        return state

    def _update_param(self, param, group):
        state = self._state_for(param, group)
        asgd_update(param._data, param._grad._data, state["ax"]._data, state["eta"]._data,
                    state["mu"]._data, step=_count_step(state["step"]), **_scalars(group, self._rule_args))


def asgd(params, grads, axs, mus, etas, state_steps, foreach=None, maximize=False, differentiable=False,
         capturable=False, has_complex=False, *, lambd, lr, t0, alpha, weight_decay):
    """Functional ASGD over lists of tensors (``torch.optim.asgd.asgd``)."""
    _check_unsupported(differentiable)
    hyper = _scalars(locals(), ASGD._rule_args)
    with xp.errstate(all="ignore"):
        for i, param in enumerate(params):
            asgd_update(param._data, grads[i]._data, axs[i]._data, etas[i]._data, mus[i]._data,
                        step=_count_step(state_steps[i]), **hyper)
            param._bump_version("add_")

"""Adamax (Kingma & Ba, 2015, section 7.1): Adam with the infinity norm in place of the RMS."""
from __future__ import annotations

from .. import backend as B
from .optimizer import Optimizer, _check_lr, _check_unsupported, _count_step, _scalars, _to_scalar

xp = B.xp

__all__ = ["Adamax", "adamax", "adamax_update"]


def adamax_update(param, grad, exp_avg, exp_inf, *, step, lr, beta1, beta2, eps, weight_decay,
                  maximize):
    """One Adamax step on one parameter, in place; ``step`` is t, counting this step.

    With ``g = -grad if maximize else grad``::

        g = g + weight_decay * param
        m = beta1 * m + (1 - beta1) * g                     (exp_avg)
        u = max(beta2 * u, |g| + eps)                       (exp_inf)
        param = param - lr / (1 - beta1^t) * m / u
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_inf *= beta2
    xp.maximum(exp_inf, xp.abs(g) + eps, out=exp_inf)
    param -= lr / (1 - beta1 ** step) * exp_avg / exp_inf


def _check_adam_family(lr, betas, eps, weight_decay):
    """The argument checks Adamax, NAdam and RAdam share, with PyTorch's messages."""
    _check_lr(lr)
    if not eps >= 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    for i in (0, 1):
        if not 0.0 <= betas[i] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")
    if not weight_decay >= 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adamax(Optimizer):
    """Adamax (``torch.optim.Adamax``); see ``adamax_update`` for the formula.

    State per parameter: ``step`` (0-d float tensor), ``exp_avg`` and ``exp_inf``.

    >>> opt = Adamax(model.parameters(), lr=2e-3)
    """

    _hyperparameters = ("lr", "betas", "eps", "weight_decay", "foreach", "maximize", "differentiable",
                        "capturable")
    _rule_args = ("lr", "eps", "weight_decay", "maximize")
    _group_fallbacks = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_adam_family(lr, betas, eps, weight_decay)
        _check_unsupported(differentiable)
        super().__init__(params, self._defaults_from(locals()))

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        return self._step_each_param(closure)

    def _zero_state(self, group):
        return ("exp_avg", "exp_inf")

    def _update_param(self, param, group):
        state = self._state_for(param, group)
        beta1, beta2 = (_to_scalar(b) for b in group["betas"])
        adamax_update(param._data, param._grad._data, state["exp_avg"]._data, state["exp_inf"]._data,
                      step=_count_step(state["step"]), beta1=beta1, beta2=beta2,
                      **_scalars(group, self._rule_args))


def adamax(params, grads, exp_avgs, exp_infs, state_steps, foreach=None, maximize=False,
           differentiable=False, capturable=False, has_complex=False, *, eps, beta1, beta2, lr,
           weight_decay):
    """Functional Adamax over lists of tensors (``torch.optim.adamax.adamax``)."""
    _check_unsupported(differentiable)
    hyper = _scalars(locals(), Adamax._rule_args + ("beta1", "beta2"))
    with xp.errstate(all="ignore"):
        for i, param in enumerate(params):
            adamax_update(param._data, grads[i]._data, exp_avgs[i]._data, exp_infs[i]._data,
                          step=_count_step(state_steps[i]), **hyper)
            param._bump_version("addcdiv_")

"""RAdam (Liu et al., 2020): Adam whose adaptive step is switched on once the variance of the
second-moment estimate is tractable, and scaled by a rectification term."""
from __future__ import annotations

import math

from .. import backend as B
from .adamax import _check_adam_family
from .optimizer import Optimizer, _check_unsupported, _count_step, _scalars, _to_scalar

xp = B.xp

__all__ = ["RAdam", "radam", "radam_update"]


def radam_update(param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1, beta2, eps, weight_decay,
                 maximize, decoupled_weight_decay=False):
    """One RAdam step on one parameter, in place; ``step`` is t, counting this step.

    With ``g = -grad if maximize else grad``::

        param = param * (1 - lr * weight_decay)   (decoupled)  or  g = g + weight_decay * param
        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g g
        rho_inf = 2 / (1 - beta2) - 1;   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        m_hat = m / (1 - beta1^t)
        rho_t > 5:   r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                     param = param - lr m_hat r sqrt(1 - beta2^t) / (sqrt(v) + eps)
        otherwise:   param = param - lr m_hat
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    beta2_t = beta2 ** step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2_t / (1 - beta2_t)
    step_size = lr / (1 - beta1 ** step)
    if not rho_t > 5.0:
        # too few samples for a trustworthy variance: a plain (bias-corrected) momentum step
        param -= step_size * exp_avg
        return
    # rectification r_t: the variance of the adaptive rate relative to its limit
    variance_ratio = ((rho_t - 4) * (rho_t - 2) / rho_t) / ((rho_inf - 4) * (rho_inf - 2) / rho_inf)
    adaptive = step_size * math.sqrt(variance_ratio) * math.sqrt(1 - beta2_t)
    param -= adaptive * exp_avg / (xp.sqrt(exp_avg_sq) + eps)


class RAdam(Optimizer):
    """RAdam (``torch.optim.RAdam``); ``decoupled_weight_decay=True`` decays the weights AdamW-style.

    See ``radam_update`` for the formula. State per parameter: ``step`` (0-d float tensor),
    ``exp_avg`` and ``exp_avg_sq``.

    >>> opt = RAdam(model.parameters(), lr=1e-3)
    """

    _hyperparameters = ("lr", "betas", "eps", "weight_decay", "maximize", "foreach", "capturable",
                        "decoupled_weight_decay", "differentiable")
    _rule_args = ("lr", "eps", "weight_decay", "maximize", "decoupled_weight_decay")
    _group_fallbacks = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False,
                        "decoupled_weight_decay": False}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_adam_family(lr, betas, eps, weight_decay)
        _check_unsupported(differentiable)
        super().__init__(params, self._defaults_from(locals()))

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        return self._step_each_param(closure)

    def _zero_state(self, group):
        return ("exp_avg", "exp_avg_sq")

    def _update_param(self, param, group):
        state = self._state_for(param, group)
        beta1, beta2 = (_to_scalar(b) for b in group["betas"])
        radam_update(param._data, param._grad._data, state["exp_avg"]._data, state["exp_avg_sq"]._data,
                     step=_count_step(state["step"]), beta1=beta1, beta2=beta2,
                     **_scalars(group, self._rule_args))


def radam(params, grads, exp_avgs, exp_avg_sqs, state_steps, decoupled_weight_decay=False, foreach=None,
          differentiable=False, capturable=False, has_complex=False, maximize=False, *, beta1, beta2, lr,
          weight_decay, eps):
    """Functional RAdam over lists of tensors (``torch.optim.radam.radam``)."""
    _check_unsupported(differentiable)
    hyper = _scalars(locals(), RAdam._rule_args + ("beta1", "beta2"))
    with xp.errstate(all="ignore"):
        for i, param in enumerate(params):
            radam_update(param._data, grads[i]._data, exp_avgs[i]._data, exp_avg_sqs[i]._data,
                         step=_count_step(state_steps[i]), **hyper)
            param._bump_version("addcdiv_")

"""NAdam (Dozat, 2016): Adam with Nesterov momentum and a warming-up momentum schedule."""
from __future__ import annotations


from .. import backend as B
from .adamax import _check_adam_family
from .optimizer import (Optimizer, _check_unsupported, _count_step, _new_step_counter, _scalars,
                        _to_scalar, _zeros_like)

xp = B.xp

__all__ = ["NAdam", "nadam", "nadam_update"]


def _momentum_at(t, beta1, momentum_decay):
    """mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))


def nadam_update(param, grad, exp_avg, exp_avg_sq, mu_product, *, step, lr, beta1, beta2, eps,
                 weight_decay, momentum_decay, maximize, decoupled_weight_decay=False):
    """One NAdam step on one parameter, in place; ``step`` is t, counting this step.

    ``mu_product`` is a 0-d array holding prod_{i<t} mu_i; it is advanced to prod_{i<=t} mu_i
    (kept in its own dtype, as PyTorch keeps it in the step counter's). With
    ``g = -grad if maximize else grad``::

        param = param * (1 - lr * weight_decay)   (decoupled)  or  g = g + weight_decay * param
        mu_t, mu_next = beta1 (1 - 0.96^(t psi) / 2), beta1 (1 - 0.96^((t+1) psi) / 2)
        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g g
        P = mu_product * mu_t
        param = param - lr [(1 - mu_t) g / (1 - P) + mu_next m / (1 - P mu_next)]
                        / (sqrt(v / (1 - beta2^t)) + eps)
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    mu = _momentum_at(step, beta1, momentum_decay)
    mu_next = _momentum_at(step + 1, beta1, momentum_decay)
    mu_product *= mu
    prod = float(mu_product)
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    denom = xp.sqrt(exp_avg_sq / (1 - beta2 ** step)) + eps
    param -= (lr * (1 - mu) / (1 - prod)) * g / denom
    param -= (lr * mu_next / (1 - prod * mu_next)) * exp_avg / denom


class NAdam(Optimizer):
    """NAdam (``torch.optim.NAdam``); ``decoupled_weight_decay=True`` gives NAdamW.

    See ``nadam_update`` for the formula. State per parameter: ``step`` and ``mu_product``
    (0-d float tensors), ``exp_avg`` and ``exp_avg_sq``.

    >>> opt = NAdam(model.parameters(), lr=2e-3, momentum_decay=4e-3)
    """

    _hyperparameters = ("lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay",
                        "maximize", "foreach", "capturable", "differentiable")
    _rule_args = ("lr", "eps", "weight_decay", "momentum_decay", "maximize", "decoupled_weight_decay")
    _group_fallbacks = {"maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                        "decoupled_weight_decay": False}

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        _check_adam_family(lr, betas, eps, weight_decay)
        if not momentum_decay >= 0.0:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        _check_unsupported(differentiable)
        super().__init__(params, self._defaults_from(locals()))

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        return self._step_each_param(closure)

    def _state_for(self, param, group):
        state = self.state[param]
        if not state:
            state["step"] = _new_step_counter()
            state["mu_product"] = _new_step_counter(value=1.0)
            state["exp_avg"] = _zeros_like(param)
            state["exp_avg_sq"] = _zeros_like(param)
        return state

    def _update_param(self, param, group):
        state = self._state_for(param, group)
        beta1, beta2 = (_to_scalar(b) for b in group["betas"])
        nadam_update(param._data, param._grad._data, state["exp_avg"]._data, state["exp_avg_sq"]._data,
                     state["mu_product"]._data, step=_count_step(state["step"]), beta1=beta1,
                     beta2=beta2, **_scalars(group, self._rule_args))


def nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps, decoupled_weight_decay=False,
          foreach=None, capturable=False, differentiable=False, has_complex=False, maximize=False, *,
          beta1, beta2, lr, weight_decay, momentum_decay, eps):
    """Functional NAdam over lists of tensors (``torch.optim.nadam.nadam``)."""
    _check_unsupported(differentiable)
    hyper = _scalars(locals(), NAdam._rule_args + ("beta1", "beta2"))
    with xp.errstate(all="ignore"):
        for i, param in enumerate(params):
            nadam_update(param._data, grads[i]._data, exp_avgs[i]._data, exp_avg_sqs[i]._data,
                         mu_products[i]._data, step=_count_step(state_steps[i]), **hyper)
            param._bump_version("addcdiv_")



"""Adam (Kingma & Ba, 2015), with AMSGrad and, as an option, AdamW's decoupled weight decay."""
from __future__ import annotations

import math

from .. import backend as B
from ..tensor import Tensor
from .optimizer import (Optimizer, _check_fused, _check_lr, _check_unsupported, _count_step, _scalars,
                        _to_scalar)

xp = B.xp

__all__ = ["Adam", "adam", "adam_update"]


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr, beta1, beta2,
                eps, weight_decay, maximize, decoupled_weight_decay=False):
    """One Adam step on one parameter, in place on its arrays.

    ``step`` is t, counting this step (1, 2, ...); ``max_exp_avg_sq`` is given for AMSGrad.
    With ``g = -grad if maximize else grad``::

        param = param * (1 - lr * weight_decay)      (decoupled, AdamW)
        g = g + weight_decay * param                 (otherwise, L2 penalty)
        m = m + (1 - beta1) * (g - m)                (= beta1 m + (1 - beta1) g)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                        (AMSGrad: v_max replaces v below)
        param = param - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
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
    second_moment = exp_avg_sq
    if max_exp_avg_sq is not None:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = max_exp_avg_sq
    step_size = lr / (1 - beta1 ** step)
    denom = xp.sqrt(second_moment) / math.sqrt(1 - beta2 ** step) + eps
    param -= step_size * exp_avg / denom


def _check_betas(betas, capturable, foreach):
    """Validate ``betas`` (two floats, or two 1-element tensors) and return them with tensors
    made 0-d."""
    both_floats = all(isinstance(b, float) for b in betas)
    both_tensors = all(isinstance(b, Tensor) for b in betas)
    if not (both_floats or both_tensors):
        raise ValueError("betas must be either both floats or both Tensors")
    if both_floats:
        return betas
    for i, b in enumerate(betas):
        if foreach and not capturable:
            raise ValueError(f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True")
        if b.numel() != 1:
            raise ValueError(f"Tensor betas[{i}] must be 1-element")
    return tuple(b.reshape(()) if b.dim() != 0 else b for b in betas)


class Adam(Optimizer):
    """Adam (``torch.optim.Adam``); ``decoupled_weight_decay=True`` makes it AdamW.

    See ``adam_update`` for the formula. State per parameter: ``step`` (0-d float tensor),
    ``exp_avg``, ``exp_avg_sq`` and, with ``amsgrad``, ``max_exp_avg_sq``.

    >>> opt = Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), amsgrad=True)
    """

    _hyperparameters = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach",
                        "capturable", "differentiable", "fused", "decoupled_weight_decay")
    _rule_args = ("lr", "eps", "weight_decay", "maximize", "decoupled_weight_decay")
    _group_fallbacks = {"amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                        "differentiable": False, "decoupled_weight_decay": False, "fused": None}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
        _check_lr(lr)
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i in (0, 1):
            if not 0.0 <= betas[i] < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        betas = _check_betas(betas, capturable, foreach)
        _check_unsupported(differentiable)
        super().__init__(params, self._defaults_from(locals()))
        _check_fused(fused, foreach)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        return self._step_each_param(closure)

    def _zero_state(self, group):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _update_param(self, param, group):
        state = self._state_for(param, group)
        moments = [state[name]._data for name in self._zero_state(group)]
        beta1, beta2 = (_to_scalar(b) for b in group["betas"])
        adam_update(param._data, param._grad._data, *moments, step=_count_step(state["step"]),
                    beta1=beta1, beta2=beta2, **_scalars(group, self._rule_args))


def adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, foreach=None,
         capturable=False, differentiable=False, fused=None, grad_scale=None, found_inf=None,
         has_complex=False, decoupled_weight_decay=False, *, amsgrad, beta1, beta2, lr,
         weight_decay, eps, maximize):
    """Functional Adam over lists of tensors (``torch.optim.adam.adam``): advances each
    ``state_steps`` counter and updates parameters and moments in place."""
    _check_unsupported(differentiable, grad_scale, found_inf)
    hyper = _scalars(locals(), Adam._rule_args + ("beta1", "beta2"))
    moment_lists = (exp_avgs, exp_avg_sqs) + ((max_exp_avg_sqs,) if amsgrad else ())
    with xp.errstate(all="ignore"):
        for i, param in enumerate(params):
            moments = [moment_list[i]._data for moment_list in moment_lists]
            adam_update(param._data, grads[i]._data, *moments, step=_count_step(state_steps[i]), **hyper)
            param._bump_version("addcdiv_")

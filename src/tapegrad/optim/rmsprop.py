"""RMSprop (Hinton's lecture 6e; centred variant after Graves, 2013)."""
from __future__ import annotations

from .. import backend as B
from .optimizer import Optimizer, _check_lr, _check_unsupported, _count_step, _scalars

xp = B.xp

__all__ = ["RMSprop", "rmsprop", "rmsprop_update"]


def rmsprop_update(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr, alpha, eps,
                   weight_decay, momentum, maximize):
    """One RMSprop step on one parameter, in place.

    ``grad_avg`` is given for the centred variant, ``momentum_buffer`` when ``momentum > 0``.
    With ``g = -grad if maximize else grad``::

        g = g + weight_decay * param
        v = alpha * v + (1 - alpha) * g * g
        a = a + (1 - alpha) * (g - a)                         (centred: running mean of g)
        d = sqrt(v - a * a) + eps   (centred)   or   sqrt(v) + eps
        b = momentum * b + g / d;  param = param - lr * b     (momentum)
        param = param - lr * g / d                            (otherwise)
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= alpha
    square_avg += (1 - alpha) * g * g
    if grad_avg is not None:
        grad_avg += (1 - alpha) * (g - grad_avg)
        denom = xp.sqrt(square_avg - grad_avg * grad_avg)
    else:
        denom = xp.sqrt(square_avg)
    denom += eps
    if momentum_buffer is not None:
        momentum_buffer *= momentum
        momentum_buffer += g / denom
        param -= lr * momentum_buffer
    else:
        param -= lr * g / denom


class RMSprop(Optimizer):
    """RMSprop (``torch.optim.RMSprop``); see ``rmsprop_update`` for the formula.

    State per parameter: ``step`` (0-d float tensor), ``square_avg``, ``momentum_buffer``
    when ``momentum > 0`` and ``grad_avg`` when ``centered``.

    >>> opt = RMSprop(model.parameters(), lr=0.01, momentum=0.9, centered=True)
    """

    _hyperparameters = ("lr", "momentum", "alpha", "eps", "centered", "weight_decay", "capturable",
                        "foreach", "maximize", "differentiable")
    _rule_args = ("lr", "alpha", "eps", "weight_decay", "momentum", "maximize")
    _group_fallbacks = {"momentum": 0, "centered": False, "foreach": None, "maximize": False,
                        "differentiable": False, "capturable": False}

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        _check_lr(lr)
        for name, value in (("epsilon", eps), ("momentum", momentum), ("weight_decay", weight_decay),
                            ("alpha", alpha)):
            if not value >= 0.0:
                raise ValueError(f"Invalid {name} value: {value}")
        _check_unsupported(differentiable)
        super().__init__(params, self._defaults_from(locals()))

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        return self._step_each_param(closure)

    def _zero_state(self, group):
        # PyTorch's order of the state keys
        return (("square_avg",) + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def _update_param(self, param, group):
        state = self._state_for(param, group)
        _count_step(state["step"])
        arrays = {name: state[name]._data for name in self._zero_state(group)}
        rmsprop_update(param._data, param._grad._data, **arrays, **_scalars(group, self._rule_args))


def rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffer_list, state_steps, foreach=None,
            maximize=False, differentiable=False, capturable=False, has_complex=False, *, lr,
            alpha, eps, weight_decay, momentum, centered):
    """Functional RMSprop over lists of tensors (``torch.optim.rmsprop.rmsprop``): advances each
    ``state_steps`` counter and updates parameters and averages in place."""
    _check_unsupported(differentiable)
    hyper = _scalars(locals(), RMSprop._rule_args)
    with xp.errstate(all="ignore"):
        for i, param in enumerate(params):
            _count_step(state_steps[i])
            rmsprop_update(param._data, grads[i]._data, square_avgs[i]._data,
                           grad_avg=grad_avgs[i]._data if centered else None,
                           momentum_buffer=momentum_buffer_list[i]._data if momentum > 0 else None,
                           **hyper)
            param._bump_version("addcdiv_")

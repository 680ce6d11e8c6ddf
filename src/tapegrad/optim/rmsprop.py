"""RMSprop, PyTorch's rule (optionally centered and with momentum)."""
from __future__ import annotations

from .. import backend as B
from ..tensor import Tensor
from .adam import _lerp_
from .optimizer import (Optimizer, _check_lr, _check_unsupported, _get_scalar_dtype, _scalar_tensor,
                        _silent_fp, _to_scalar, _use_grad_for_differentiable)

xp = B.xp

__all__ = ["RMSprop", "rmsprop"]


class RMSprop(Optimizer):
    """Implements RMSprop (``torch.optim.RMSprop``).

    ``v = alpha v + (1 - alpha) g^2``; ``avg = sqrt(v - mean_g^2)`` when ``centered`` (with
    ``mean_g = lerp(mean_g, g, 1 - alpha)``), else ``sqrt(v)``; ``avg += eps``; then
    ``b = momentum b + g / avg; p -= lr b`` (momentum > 0) or ``p -= lr g / avg``.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")

        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        _check_unsupported(differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0 and not isinstance(p_state["step"], Tensor):
                    p_state["step"] = _scalar_tensor(float(p_state["step"]))

    def _init_group(self, group, params_with_grad, grads, square_avgs, momentum_buffer_list,
                    grad_avgs, state_steps):
        for p in group["params"]:
            if p._grad is None:
                continue
            params_with_grad.append(p)
            grads.append(p._grad)
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _scalar_tensor(0.0, _get_scalar_dtype())
                state["square_avg"] = Tensor._wrap(xp.zeros_like(p._data))
                if group["momentum"] > 0:
                    state["momentum_buffer"] = Tensor._wrap(xp.zeros_like(p._data))
                if group["centered"]:
                    state["grad_avg"] = Tensor._wrap(xp.zeros_like(p._data))
            square_avgs.append(state["square_avg"])
            state_steps.append(state["step"])
            if group["momentum"] > 0:
                momentum_buffer_list.append(state["momentum_buffer"])
            if group["centered"]:
                grad_avgs.append(state["grad_avg"])
        return False

    @_use_grad_for_differentiable
    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        loss = None
        if closure is not None:
            from ..autograd.grad_mode import enable_grad
            with enable_grad():
                loss = closure()

        for group in self.param_groups:
            params_with_grad, grads, square_avgs, grad_avgs, momentum_buffer_list, state_steps = \
                [], [], [], [], [], []
            self._init_group(group, params_with_grad, grads, square_avgs, momentum_buffer_list,
                             grad_avgs, state_steps)
            rmsprop(params_with_grad, grads, square_avgs, grad_avgs, momentum_buffer_list,
                    state_steps, lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                    weight_decay=group["weight_decay"], momentum=group["momentum"],
                    centered=group["centered"], maximize=group["maximize"])
        return loss


@_silent_fp
def rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffer_list, state_steps, foreach=None,
            maximize=False, differentiable=False, capturable=False, has_complex=False, *, lr,
            alpha, eps, weight_decay, momentum, centered):
    """Functional RMSprop: update ``params`` and the state tensors in place."""
    _check_unsupported(differentiable)
    lr = _to_scalar(lr)
    for i, param in enumerate(params):
        p = param._data
        g = grads[i]._data
        if maximize:
            g = -g
        square_avg = square_avgs[i]._data
        step_arr = state_steps[i]._data
        step_arr += 1

        if weight_decay != 0:
            g = g + weight_decay * p

        square_avg *= alpha
        square_avg += ((1 - alpha) * g) * g

        if centered:
            grad_avg = grad_avgs[i]._data
            _lerp_(grad_avg, g, 1 - alpha)
            avg = xp.sqrt(square_avg + (-1 * grad_avg) * grad_avg)
        else:
            avg = xp.sqrt(square_avg)
        avg += eps

        if momentum > 0:
            buf = momentum_buffer_list[i]._data
            buf *= momentum
            buf += g / avg
            p += (-lr) * buf
        else:
            p += ((-lr) * g) / avg
        param._bump_version("addcdiv_")

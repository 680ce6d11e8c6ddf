"""Adagrad, PyTorch's rule."""
from __future__ import annotations

from .. import backend as B
from ..tensor import Tensor
from .optimizer import (Optimizer, _check_lr, _check_unsupported, _get_scalar_dtype, _scalar_tensor,
                        _silent_fp, _to_scalar, _use_grad_for_differentiable)

xp = B.xp

__all__ = ["Adagrad", "adagrad"]


class Adagrad(Optimizer):
    """Implements Adagrad (``torch.optim.Adagrad``).

    ``clr = lr / (1 + (t - 1) lr_decay)``, ``sum += g^2``, ``p -= clr g / (sqrt(sum) + eps)``.
    The state (``step`` and ``sum``, filled with ``initial_accumulator_value``) is created for
    every parameter at construction, like PyTorch.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")

        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        _check_unsupported(differentiable)
        super().__init__(params, defaults)

        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = _scalar_tensor(0.0, _get_scalar_dtype(is_fused=group["fused"]))
                state["sum"] = Tensor._wrap(xp.full_like(p._data, initial_accumulator_value))

    def __setstate__(self, state):
        super().__setstate__(state)
        fused = None
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            fused = group.setdefault("fused", None)
        for s in self.state.values():
            if "step" in s and not isinstance(s["step"], Tensor):
                s["step"] = _scalar_tensor(float(s["step"]), _get_scalar_dtype(is_fused=fused))

    def share_memory(self):
        """Kept for API parity (tapegrad tensors are process-local)."""

    def _init_group(self, group, params_with_grad, grads, state_sums, state_steps):
        for p in group["params"]:
            if p._grad is not None:
                params_with_grad.append(p)
                grads.append(p._grad)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _scalar_tensor(0.0, _get_scalar_dtype(is_fused=group["fused"]))
                    state["sum"] = Tensor._wrap(
                        xp.full_like(p._data, self.defaults["initial_accumulator_value"]))
                state_sums.append(state["sum"])
                state_steps.append(state["step"])
        return False, False

    @_use_grad_for_differentiable
    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        loss = None
        if closure is not None:
            from ..autograd.grad_mode import enable_grad
            with enable_grad():
                loss = closure()

        for group in self.param_groups:
            params_with_grad, grads, state_sums, state_steps = [], [], [], []
            self._init_group(group, params_with_grad, grads, state_sums, state_steps)
            adagrad(params_with_grad, grads, state_sums, state_steps, lr=group["lr"],
                    weight_decay=group["weight_decay"], lr_decay=group["lr_decay"],
                    eps=group["eps"], maximize=group["maximize"])
        return loss


@_silent_fp
def adagrad(params, grads, state_sums, state_steps, fused=None, grad_scale=None, found_inf=None,
            has_sparse_grad=False, foreach=None, differentiable=False, has_complex=False, *, lr,
            weight_decay, lr_decay, eps, maximize):
    """Functional Adagrad: update ``params`` and the state tensors in place."""
    _check_unsupported(differentiable, grad_scale, found_inf)
    lr = _to_scalar(lr)
    for param, grad, state_sum, step_t in zip(params, grads, state_sums, state_steps):
        step_arr = step_t._data
        step_arr += 1
        step = float(step_arr)
        p = param._data
        g = grad._data
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p
        clr = lr / (1 + (step - 1) * lr_decay)
        s = state_sum._data
        s += (1 * g) * g
        std = xp.sqrt(s)
        std += eps
        p += ((-clr) * g) / std
        param._bump_version("addcdiv_")

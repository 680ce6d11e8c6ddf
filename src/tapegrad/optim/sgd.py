"""Stochastic gradient descent, with optional momentum, dampening and Nesterov momentum."""
from __future__ import annotations

from .. import backend as B
from ..tensor import Tensor
from .optimizer import Optimizer, _check_fused, _check_lr, _check_unsupported, _scalars

xp = B.xp

__all__ = ["SGD", "sgd", "sgd_update"]


#: elements per piece of a large parameter: three float32 pieces (param, grad, buffer) stay
#: in a core's L2 cache between the update's passes
_CHUNK = 1 << 15
#: parameters from this size on are updated piece by piece (below it the arrays stay in the
#: caches anyway, and the pieces' extra calls cost more: MLP 784-512-256-10, 0.39 ms whole
#: against 0.71 ms in pieces)
_CHUNKED_FROM = 1 << 20


def sgd_update(param, grad, momentum_buffer, *, lr, momentum, dampening, weight_decay, nesterov,
               maximize):
    """One SGD step on one parameter, in place. Returns the momentum buffer (``None``
    without momentum; a new array on the first step, else ``momentum_buffer`` updated).

    With ``g = -grad if maximize else grad``::

        g = g + weight_decay * param
        b = g                                   (first step)
        b = momentum * b + (1 - dampening) * g  (later steps)
        g = g + momentum * b if nesterov else b
        param = param - lr * g

    A large contiguous parameter is updated piece by piece, all passes over one piece before
    the next, so that the arrays are read from memory about once rather than once per pass
    (ResNet-18's optimizer step: 21.4 ms whole, 17.7 ms in pieces; 35 ms before, when a
    temporary of ``(1 - dampening) * g`` was made even without dampening).
    """
    first = momentum != 0 and momentum_buffer is None
    if first:
        momentum_buffer = xp.empty_like(param)
    arrays = (param, grad) if momentum == 0 else (param, grad, momentum_buffer)
    rule = (first, lr, momentum, dampening, weight_decay, nesterov, maximize)
    if param.size < _CHUNKED_FROM or not all(a.flags.c_contiguous for a in arrays):
        _sgd_piece(rule, *arrays)
        return momentum_buffer
    flat = [a.reshape(-1) for a in arrays]
    for start in range(0, param.size, _CHUNK):
        _sgd_piece(rule, *(f[start:start + _CHUNK] for f in flat))
    return momentum_buffer


def _sgd_piece(rule, p, d_p, buf=None):
    """:func:`sgd_update`'s formula on one piece; ``rule`` holds its settings in order."""
    first, lr, mom, damp, decay, nesterov, maximize = rule
    step = -d_p if maximize else d_p
    if decay != 0:
        step = step + decay * p
    if mom != 0:
        if first:
            buf[...] = step
        else:
            buf *= mom
            buf += step if damp == 0 else (1 - damp) * step
        step = step + mom * buf if nesterov else buf
    p -= lr * step


class SGD(Optimizer):
    """Stochastic gradient descent (``torch.optim.SGD``), optionally with momentum.

    See ``sgd_update`` for the formula. State per parameter: ``momentum_buffer`` when
    ``momentum != 0``.

    >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    """

    _hyperparameters = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize",
                        "foreach", "differentiable", "fused")
    _rule_args = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")
    _group_fallbacks = {"nesterov": False, "maximize": False, "foreach": None,
                        "differentiable": False, "fused": None}
    _write_op = "add_"

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_unsupported(differentiable)
        super().__init__(params, self._defaults_from(locals()))
        _check_fused(fused, foreach)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss (returned)."""
        return self._step_each_param(closure)

    def _update_param(self, param, group):
        # Without momentum PyTorch keeps no state at all for the parameter.
        with_momentum = group["momentum"] != 0
        state = self.state[param] if with_momentum else {}
        buf = state.get("momentum_buffer")
        new_buf = sgd_update(param._data, param._grad._data, None if buf is None else buf._data,
                             **_scalars(group, self._rule_args))
        if with_momentum and buf is None:
            state["momentum_buffer"] = Tensor._wrap(new_buf)


def sgd(params, d_p_list, momentum_buffer_list, has_sparse_grad=False, foreach=None, fused=None,
        grad_scale=None, found_inf=None, *, weight_decay, momentum, lr, dampening, nesterov,
        maximize):
    """Functional SGD over lists of tensors (``torch.optim.sgd.sgd``); fills ``None``
    entries of ``momentum_buffer_list`` with the new buffers."""
    _check_unsupported(False, grad_scale, found_inf)
    hyper = _scalars(locals(), SGD._rule_args)
    with xp.errstate(all="ignore"):
        for i, (param, grad) in enumerate(zip(params, d_p_list, strict=False)):
            buf = momentum_buffer_list[i]
            new_buf = sgd_update(param._data, grad._data, None if buf is None else buf._data, **hyper)
            if buf is None and new_buf is not None:
                momentum_buffer_list[i] = Tensor._wrap(new_buf)
            param._bump_version("add_")

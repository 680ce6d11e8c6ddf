"""AdamW (Loshchilov & Hutter, 2019): Adam whose weight decay shrinks the weights directly."""
from __future__ import annotations

from .adam import Adam, adam

__all__ = ["AdamW", "adamw"]


class AdamW(Adam):
    """AdamW (``torch.optim.AdamW``): ``Adam`` with ``decoupled_weight_decay=True`` and a
    default ``weight_decay`` of ``1e-2``; see ``adam_update``.

    >>> opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    """

    _group_overrides = {"decoupled_weight_decay": True}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        given = locals()
        super().__init__(params, decoupled_weight_decay=True,
                         **{name: given[name] for name in _ADAM_OPTIONS})


# Adam's constructor arguments that AdamW passes on unchanged.
_ADAM_OPTIONS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach", "capturable",
                 "differentiable", "fused")


def adamw(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, foreach=None,
          capturable=False, differentiable=False, fused=None, grad_scale=None, found_inf=None,
          has_complex=False, *, amsgrad, beta1, beta2, lr, weight_decay, eps, maximize):
    """Functional AdamW: ``adam`` with ``decoupled_weight_decay=True``."""
    adam(**locals(), decoupled_weight_decay=True)

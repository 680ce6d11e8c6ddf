"""SparseAdam: Adam for sparse gradients (only the rows a gradient touches are updated).

tapegrad has no sparse tensors, so every gradient it can produce is dense, and PyTorch's
SparseAdam refuses dense gradients. This class therefore keeps PyTorch's constructor, checks,
``defaults``, group layout and error; it exists so code and checkpoints that name it work up
to the first ``step`` with a gradient, which raises PyTorch's ``RuntimeError``.
"""
from __future__ import annotations

from ..autograd import grad_mode
from .optimizer import Optimizer

__all__ = ["SparseAdam"]


class SparseAdam(Optimizer):
    """``torch.optim.SparseAdam``: same arguments and checks (``lr`` and ``eps`` must be > 0).

    ``step`` raises ``RuntimeError`` as soon as a parameter has a (necessarily dense)
    gradient, with PyTorch's message; with no gradients it does nothing.

    >>> opt = SparseAdam(embedding.parameters(), lr=1e-3)
    """

    _hyperparameters = ("lr", "betas", "eps", "maximize")
    _group_fallbacks = {"maximize": False}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        if not lr > 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not eps > 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i in (0, 1):
            if not 0.0 <= betas[i] < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")
        super().__init__(params, self._defaults_from(locals()))

    def step(self, closure=None):
        """Evaluate ``closure`` (if given) and refuse any gradient: all of tapegrad's are dense."""
        loss = None
        if closure is not None:
            with grad_mode.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if any(p._grad is not None for p in group["params"]):
                raise RuntimeError(
                    "SparseAdam does not support dense gradients, please consider Adam instead")
        return loss

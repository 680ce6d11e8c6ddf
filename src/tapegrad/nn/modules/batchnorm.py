"""Batch normalisation layers with PyTorch's running-statistics semantics.

``BatchNorm1d/2d/3d`` differ only in the input ranks they accept, so each is the
shared ``_BatchNorm`` plus a class attribute listing those ranks. The normalisation
and the running-average update are ``nn.functional.batch_norm``'s; the module owns
the state: ``weight``/``bias`` (affine), and ``running_mean``, ``running_var`` and
``num_batches_tracked`` (when tracking running statistics).
"""
from __future__ import annotations

from ... import creation, dtypes
from ...autograd.grad_mode import no_grad
from .. import functional as F
from .module import Module, _set_attributes
from .normalization import _register_scale_shift, _reset_scale_shift


# running statistics buffers and the values they start from
_RUNNING_STATS = (("running_mean", 0.0), ("running_var", 1.0))


class _BatchNorm(Module):
    """Shared body of the batch norms; ``input_ranks`` says which ``input.dim()`` is valid.

    Running statistics: with ``momentum=None`` they are the cumulative average over
    all batches seen (factor ``1 / num_batches_tracked``), otherwise an exponential
    average. ``track_running_stats=False`` keeps no statistics and normalises with
    batch statistics in eval mode too.
    """

    _version = 2
    input_ranks: tuple = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        _set_attributes(self, num_features=num_features, eps=eps, momentum=momentum, affine=affine,
                        track_running_stats=track_running_stats)
        _register_scale_shift(self, (num_features,), affine, bias, dtype, device)
        for name, _ in _RUNNING_STATS:
            stat = creation.empty(num_features, dtype=dtype, device=device) if track_running_stats else None
            self.register_buffer(name, stat)
        counter = creation.tensor(0, dtype=dtypes.int64) if track_running_stats else None
        self.register_buffer("num_batches_tracked", counter)
        self.reset_parameters()

    def reset_running_stats(self):
        """Mean 0, variance 1, no batches seen."""
        if not self.track_running_stats:
            return
        with no_grad():
            for name, start in _RUNNING_STATS:
                getattr(self, name).fill_(start)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        _reset_scale_shift(self)

    def _check_input_dim(self, input):
        if input.dim() not in self.input_ranks:
            wanted = " or ".join(f"{rank}D" for rank in self.input_ranks)
            raise ValueError(f"expected {wanted} input (got {input.dim()}D input)")

    def _average_factor(self):
        """The running-average weight of this batch; counts the batch when training."""
        if not (self.training and self.track_running_stats and self.num_batches_tracked is not None):
            return 0.0 if self.momentum is None else self.momentum
        with no_grad():
            self.num_batches_tracked.add_(1)
        if self.momentum is None:
            return 1.0 / float(self.num_batches_tracked.item())
        return self.momentum

    def forward(self, input):
        self._check_input_dim(input)
        factor = self._average_factor()
        have_stats = self.running_mean is not None and self.running_var is not None
        use_batch_stats = self.training or not have_stats
        # statistics are read in eval mode and updated only when tracked
        keep_stats = not self.training or self.track_running_stats
        return F.batch_norm(input,
                            self.running_mean if keep_stats else None,
                            self.running_var if keep_stats else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self):
        options = {"eps": self.eps, "momentum": self.momentum, "affine": self.affine,
                   "bias": self.bias is not None, "track_running_stats": self.track_running_stats}
        return ", ".join([str(self.num_features)] + [f"{k}={v}" for k, v in options.items()])

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *rest):
        # Checkpoints older than version 2 have no batch counter: start it at zero.
        version = local_metadata.get("version")
        counter_key = prefix + "num_batches_tracked"
        if self.track_running_stats and (version is None or version < 2) and counter_key not in state_dict:
            state_dict = {**state_dict, counter_key: creation.tensor(0, dtype=dtypes.int64)}
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *rest)


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L) input."""

    input_ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) input."""

    input_ranks = (4,)


class BatchNorm3d(_BatchNorm):
    """Over (N, C, D, H, W) input."""

    input_ranks = (5,)

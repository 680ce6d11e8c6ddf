"""``LayerNorm``, ``GroupNorm`` and ``InstanceNorm1d/2d/3d``: per-sample normalisation with an
optional affine map.

Both (and the batch norms in ``batchnorm.py``) keep the same optional pair of
parameters, a scale starting at one and a shift starting at zero, so that pair is
built by one helper; the normalisation itself is ``nn.functional``'s.
"""
from __future__ import annotations

import warnings

from ... import creation, dtypes
from ...autograd.grad_mode import no_grad
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module, _set_attributes


def _register_scale_shift(module, shape, affine, bias, dtype=None, device=None):
    """Register ``weight`` (ones) and ``bias`` (zeros) of ``shape``, or None for each.

    ``affine=False`` turns both off; ``bias=False`` only the shift.
    """
    def make(wanted):
        return Parameter(creation.empty(*shape, dtype=dtype, device=device)) if wanted else None

    module.register_parameter("weight", make(affine))
    module.register_parameter("bias", make(affine and bias))


def _reset_scale_shift(module):
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _ShapeNorm(Module):
    """Shared set-up of the per-sample norms: options stored by name, then the optional
    scale/shift pair of shape ``_affine_shape()`` (``scale``/``shift`` switch each on)."""

    def _build(self, scale, shift, dtype, device, /, **options):
        _set_attributes(self, **options)
        _register_scale_shift(self, self._affine_shape(), scale, shift, dtype, device)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_scale_shift(self)


class LayerNorm(_ShapeNorm):
    """Normalises over the trailing ``normalized_shape`` dimensions of each sample.

    ``weight`` and ``bias`` have shape ``normalized_shape``. Input (*, *normalized_shape).

    >>> LayerNorm(8)(tapegrad.randn(2, 8)).shape
    torch.Size([2, 8])
    """

    def __init__(
        self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None
    ):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self._build(elementwise_affine, bias, dtype, device,
                    normalized_shape=shape, eps=eps, elementwise_affine=elementwise_affine)

    def _affine_shape(self):
        return self.normalized_shape

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(_ShapeNorm):
    """Normalises each of ``num_groups`` channel groups of each sample.

    ``weight`` and ``bias``: (num_channels,). Input (N, num_channels, *).
    """

    def __init__(
        self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True
    ):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self._build(affine, bias, dtype, device,
                    num_groups=num_groups, num_channels=num_channels, eps=eps, affine=affine)

    def _affine_shape(self):
        return (self.num_channels,)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(Module):
    """Shared body of the instance norms; ``_spatial`` is the number of spatial dims.

    Unlike the batch norms, ``affine`` and ``track_running_stats`` default to False. With running
    statistics, eval mode normalises with them; ``momentum=None`` leaves them unchanged (PyTorch
    passes a momentum of 0 then and never counts batches).
    """

    _version = 2
    _spatial = 0

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        _set_attributes(self, num_features=num_features, eps=eps, momentum=momentum, affine=affine,
                        track_running_stats=track_running_stats)
        _register_scale_shift(self, (num_features,), affine, bias, dtype, device)
        for name in ("running_mean", "running_var"):
            stat = creation.empty(num_features, dtype=dtype, device=device) if track_running_stats else None
            self.register_buffer(name, stat)
        counter = creation.tensor(0, dtype=dtypes.int64) if track_running_stats else None
        self.register_buffer("num_batches_tracked", counter)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            with no_grad():
                self.running_mean.fill_(0.0)
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        _reset_scale_shift(self)

    def _check(self, input):
        ranks = (self._spatial + 1, self._spatial + 2)
        if input.dim() not in ranks:
            raise ValueError(f"expected {ranks[0]}D or {ranks[1]}D input (got {input.dim()}D input)")
        feature_dim = input.dim() - self._spatial - 1
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(f"expected input's size at dim={feature_dim} to match num_features "
                                 f"({self.num_features}), but got: {input.shape[feature_dim]}.")
            warnings.warn(f"input's size at dim={feature_dim} does not match num_features. "
                          "You can silence this warning by not passing in num_features, which is not used "
                          "because affine=False",
                          stacklevel=3)

    def forward(self, input):
        self._check(input)
        unbatched = input.dim() == self._spatial + 1
        x = input.unsqueeze(0) if unbatched else input
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              self.momentum if self.momentum is not None else 0.0, self.eps)
        return out.squeeze(0) if unbatched else out

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance norm of (N, C, L) or (C, L) input."""

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance norm of (N, C, H, W) or (C, H, W) input."""

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance norm of (N, C, D, H, W) or (C, D, H, W) input."""

    _spatial = 3

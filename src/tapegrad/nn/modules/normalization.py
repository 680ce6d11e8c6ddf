"""``LayerNorm`` and ``GroupNorm``: per-sample normalisation with an optional affine map.

Both (and the batch norms in ``batchnorm.py``) keep the same optional pair of
parameters, a scale starting at one and a shift starting at zero, so that pair is
built by one helper; the normalisation itself is ``nn.functional``'s.
"""
from __future__ import annotations

from ... import creation
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

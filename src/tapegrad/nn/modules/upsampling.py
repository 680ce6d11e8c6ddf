"""``Upsample`` and its two fixed-mode forms; the resampling is ``F.interpolate``'s."""
from __future__ import annotations

from .. import functional as F
from .module import Module, _set_attributes


_OPTIONS = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")


def _as_floats(scale_factor):
    """Scale factors are kept (and shown) as floats; 0 or None means none."""
    if isinstance(scale_factor, tuple):
        return tuple(map(float, scale_factor))
    return float(scale_factor) if scale_factor else None


class Upsample(Module):
    """Resample (N, C, *spatial) to ``size`` or by ``scale_factor`` with ``F.interpolate``.

    >>> Upsample(scale_factor=2, mode='bilinear')(tapegrad.ones(1, 1, 2, 2)).shape
    torch.Size([1, 1, 4, 4])
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        scale_factor = _as_floats(scale_factor)
        super().__init__()
        _set_attributes(self, name=type(self).__name__, size=size, scale_factor=scale_factor, mode=mode,
                        align_corners=align_corners, recompute_scale_factor=recompute_scale_factor)

    def forward(self, input):
        return F.interpolate(input, **{k: getattr(self, k) for k in _OPTIONS})

    def extra_repr(self):
        shown = ("size", self.size) if self.scale_factor is None else ("scale_factor", self.scale_factor)
        return "{}={!r}, mode={!r}".format(*shown, self.mode)


class _FixedUpsample(Upsample):
    """An ``Upsample`` whose mode (and corner alignment) the class fixes."""

    _fixed: dict = {}

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, **self._fixed)


class UpsamplingNearest2d(_FixedUpsample):
    """``Upsample(mode='nearest')`` for 4-D input."""

    _fixed = {"mode": "nearest"}


class UpsamplingBilinear2d(_FixedUpsample):
    """``Upsample(mode='bilinear', align_corners=True)`` for 4-D input."""

    _fixed = {"mode": "bilinear", "align_corners": True}

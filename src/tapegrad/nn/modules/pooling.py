"""Pooling layers: thin modules over ``nn.functional``'s pooling functions.

Every pooling module stores its constructor options and, in ``forward``, passes a
fixed list of them to one functional. So each class is described by data: which
function (``_function``), which attributes it forwards (``_forwarded``) and which it
prints (``_printed``); ``_Pool`` does the rest. The 1d and 2d variants share their
constructors.
"""
from __future__ import annotations

from .. import functional as F
from .module import Module, _set_attributes


class _Pool(Module):
    _function = None     # the nn.functional pooling function, set per class
    _forwarded = ()      # attribute names passed to it as keyword arguments
    _printed = ()        # attribute names shown by extra_repr, in order

    def forward(self, input):
        options = {name: getattr(self, name) for name in self._forwarded}
        return type(self)._function(input, **options)

    def extra_repr(self):
        return ", ".join(f"{name}={getattr(self, name)}" for name in self._printed)


class _MaxPool(_Pool):
    _forwarded = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
    _printed = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")

    def __init__(
        self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False
    ):
        super().__init__()
        _set_attributes(
            self,
            kernel_size=kernel_size,
            stride=kernel_size if stride is None else stride,
            padding=padding,
            dilation=dilation,
            return_indices=return_indices,
            ceil_mode=ceil_mode,
        )


class MaxPool2d(_MaxPool):
    """Max over ``kernel_size`` windows of (N, C, H, W) or (C, H, W) input."""

    _function = staticmethod(F.max_pool2d)


class MaxPool1d(_MaxPool):
    """Max over ``kernel_size`` windows of (N, C, L) or (C, L) input."""

    _function = staticmethod(F.max_pool1d)


class AvgPool2d(_Pool):
    """Mean over ``kernel_size`` windows of (N, C, H, W) or (C, H, W) input."""

    _function = staticmethod(F.avg_pool2d)
    _forwarded = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    _printed = ("kernel_size", "stride", "padding")

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        _set_attributes(self, kernel_size=kernel_size, stride=kernel_size if stride is None else stride,
                        padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                        divisor_override=divisor_override)


def _one_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


class AvgPool1d(_Pool):
    """Mean over ``kernel_size`` windows of (N, C, L) or (C, L) input.

    Unlike the 2d layer (and as in PyTorch), sizes are stored as 1-tuples.
    """

    _function = staticmethod(F.avg_pool1d)
    _forwarded = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
    _printed = ("kernel_size", "stride", "padding")

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        sizes = {"kernel_size": kernel_size, "stride": kernel_size if stride is None else stride,
                 "padding": padding}
        _set_attributes(self, **{name: _one_tuple(v) for name, v in sizes.items()},
                        ceil_mode=ceil_mode, count_include_pad=count_include_pad)


class _AdaptivePool(_Pool):
    _forwarded = ("output_size",)
    _printed = ("output_size",)

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size


class AdaptiveAvgPool2d(_AdaptivePool):
    """Mean pooling to a fixed (H_out, W_out) = ``output_size`` (None keeps that size)."""

    _function = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool1d(_AdaptivePool):
    """Mean pooling to a fixed length ``output_size``."""

    _function = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveMaxPool2d(_AdaptivePool):
    """Max pooling to a fixed (H_out, W_out) = ``output_size``."""

    _function = staticmethod(F.adaptive_max_pool2d)
    _forwarded = ("output_size", "return_indices")

    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

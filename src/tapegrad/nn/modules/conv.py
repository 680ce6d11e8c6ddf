"""Convolution layers: ``Conv1d``, ``Conv2d``, ``Conv3d`` and ``ConvTranspose2d``.

The three differ only in data: the spatial rank, whether the weight is laid out for a
transposed convolution, and which ``nn.functional`` function runs. ``_ConvNd`` holds
the shared validation, parameter layout, initialisation, ``padding_mode`` handling and
repr; each public class is its constructor signature plus three class attributes.
"""
from __future__ import annotations

import math

from .. import functional as F
from .linear import _default_affine_init_, _empty_param
from .module import Module

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_PADDING_STRINGS = ("valid", "same")


def _set_text(words):
    """``{'a', 'b'}``: how PyTorch's messages list the allowed values."""
    return "{" + ", ".join(repr(w) for w in words) + "}"


def _per_dim(value, rank):
    """One entry per spatial dimension: ``3`` -> ``(3, 3)`` for rank 2."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value,) * rank


class _ConvNd(Module):
    """Shared body of the convolution modules.

    Subclasses set ``_rank`` (number of spatial dims), ``_transposed`` and
    ``_function`` (the functional convolution). The weight is
    (out_channels, in_channels // groups, *kernel_size), or
    (in_channels, out_channels // groups, *kernel_size) when transposed.
    """

    _rank = 0
    _transposed = False
    _function = None

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, device=None, dtype=None, output_padding=0):
        super().__init__()
        self._validate(in_channels, out_channels, stride, padding, groups, padding_mode)
        rank = self._rank
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _per_dim(kernel_size, rank)
        self.stride = _per_dim(stride, rank)
        self.padding = padding if isinstance(padding, str) else _per_dim(padding, rank)
        self.dilation = _per_dim(dilation, rank)
        self.transposed = self._transposed
        self.output_padding = _per_dim(output_padding, rank)
        self.groups = groups
        self.padding_mode = padding_mode
        if self._transposed:
            leading = (in_channels, out_channels // groups)
        else:
            leading = (out_channels, in_channels // groups)
        self.weight = _empty_param(leading + self.kernel_size, dtype, device)
        self.register_parameter("bias", _empty_param((out_channels,), dtype, device) if bias else None)
        self.reset_parameters()

    @staticmethod
    def _validate(in_channels, out_channels, stride, padding, groups, padding_mode):
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in _PADDING_STRINGS:
                raise ValueError(
                    f"Invalid padding string '{padding}', should be one of {_set_text(_PADDING_STRINGS)}")
            if padding == "same" and any(s != 1 for s in _per_dim(stride, 1)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_set_text(_PADDING_MODES)}, "
                             f"but got padding_mode='{padding_mode}'")

    def reset_parameters(self):
        fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
        _default_affine_init_(self.weight, self.bias, fan_in)

    def _explicit_padding(self):
        """``F.pad`` amounts (last dim first, before/after) equivalent to ``self.padding``."""
        if self.padding == "valid":
            return (0, 0) * self._rank
        if self.padding == "same":
            amounts = []
            for k, d in zip(reversed(self.kernel_size), reversed(self.dilation), strict=True):
                total = d * (k - 1)
                amounts += [total // 2, total - total // 2]
            return tuple(amounts)
        return tuple(p for p in reversed(self.padding) for _ in range(2))

    def forward(self, input):
        if self.padding_mode == "zeros":
            return self._function(input, self.weight, self.bias, self.stride, self.padding,
                                  self.dilation, self.groups)
        # other modes pad the input first, then convolve without padding
        padded = F.pad(input, self._explicit_padding(), mode=self.padding_mode)
        return self._function(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self):
        rank = self._rank
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        # each option is shown only when it differs from its default
        optional = (("padding", (0,) * rank), ("dilation", (1,) * rank),
                    ("output_padding", (0,) * rank), ("groups", 1))
        for name, default in optional:
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv2d(_ConvNd):
    """2-D convolution: (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out).

    >>> Conv2d(3, 8, 3, padding=1)(tapegrad.randn(1, 3, 5, 5)).shape
    torch.Size([1, 8, 5, 5])
    """

    _rank = 2
    _function = staticmethod(F.conv2d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)


class Conv1d(_ConvNd):
    """1-D convolution: (N, C_in, L) or (C_in, L) -> (N, C_out, L_out)."""

    _rank = 1
    _function = staticmethod(F.conv1d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)


class Conv3d(_ConvNd):
    """3-D convolution: (N, C_in, D, H, W) or (C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out)."""

    _rank = 3
    _function = staticmethod(F.conv3d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (the gradient of ``Conv2d`` with respect to its input).

    ``output_size`` in ``forward`` picks among the sizes a strided layer can produce.
    """

    _rank = 2
    _transposed = True
    _function = staticmethod(F.conv_transpose2d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype, output_padding=output_padding)

    def _output_padding_for(self, input, output_size):
        """The extra rows/columns that make the output ``output_size`` (checked against the range)."""
        if output_size is None:
            return self.output_padding
        rank, ndim = self._rank, input.dim()
        if len(output_size) not in (rank, ndim):
            raise ValueError(f"ConvTranspose{rank}D: for {ndim}D input, output_size must have {rank} "
                             f"or {ndim} elements (got {len(output_size)})")
        wanted = list(output_size)[-rank:]
        spatial = input.shape[-rank:]
        smallest = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                    zip(spatial, self.stride, self.padding, self.dilation, self.kernel_size, strict=True)]
        largest = [low + s - 1 for low, s in zip(smallest, self.stride, strict=True)]
        if any(not low <= w <= high for w, low, high in zip(wanted, smallest, largest, strict=True)):
            raise ValueError(f"requested an output size of {wanted}, but valid sizes range from {smallest} "
                             f"to {largest} (for an input of {spatial})")
        return tuple(w - low for w, low in zip(wanted, smallest, strict=True))

    def forward(self, input, output_size=None):
        return self._function(input, self.weight, self.bias, self.stride, self.padding,
                              self._output_padding_for(input, output_size), self.groups, self.dilation)

"""Affine layers: ``Identity``, ``Linear``, ``Bilinear`` (the maths is in ``nn.functional``)."""
from __future__ import annotations

import math

from ... import creation
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module, _set_attributes


def _empty_param(shape, dtype=None, device=None):
    """An uninitialised Parameter of ``shape``; ``reset_parameters`` fills it."""
    return Parameter(creation.empty(*shape, dtype=dtype, device=device))


def _fan_in_uniform_(tensor, fan_in):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) in place; all zeros for an empty fan-in."""
    limit = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    init.uniform_(tensor, -limit, limit)


def _default_affine_init_(weight, bias, fan_in):
    """PyTorch's default for weights acting on ``fan_in`` inputs, and their bias.

    kaiming_uniform_ with a=sqrt(5) gives the weight the same bound 1/sqrt(fan_in)
    as the bias; it is kept as such so that the random draws match PyTorch's calls.
    """
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        _fan_in_uniform_(bias, fan_in)


def _describe(**fields):
    """``extra_repr`` text: ``name=value`` pairs in the given order."""
    return ", ".join(f"{name}={value}" for name, value in fields.items())


class _Affine(Module):
    """Weight (out, *in) and optional bias (out,); ``_features`` names the sizes, last = out."""

    _features = ()

    def __init__(self, sizes, bias, dtype, device):
        super().__init__()
        _set_attributes(self, **dict(zip(self._features, sizes, strict=True)))
        *widths, out = sizes
        self.weight = _empty_param((out, *widths), dtype, device)
        self.register_parameter("bias", _empty_param((out,), dtype, device) if bias else None)
        self.reset_parameters()

    def extra_repr(self):
        sizes = {name: getattr(self, name) for name in self._features}
        return _describe(**sizes, bias=self.bias is not None)


class Linear(_Affine):
    """``y = x @ weight.T + bias`` over the last dimension.

    ``weight``: (out_features, in_features); ``bias``: (out_features,) or None.
    Input (*, in_features) -> output (*, out_features).

    >>> Linear(4, 2)(tapegrad.ones(3, 4)).shape
    torch.Size([3, 2])
    """

    _features = ("in_features", "out_features")

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__((in_features, out_features), bias, dtype, device)

    def reset_parameters(self):
        _default_affine_init_(self.weight, self.bias, self.in_features)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)


class LazyLinear(Linear):
    def __init__(self, out_features, bias=True, device=None, dtype=None):
        raise NotImplementedError("LazyLinear is not supported by tapegrad; give in_features explicitly")


class Bilinear(_Affine):
    """``y[k] = x1 @ weight[k] @ x2 + bias[k]``.

    ``weight``: (out_features, in1_features, in2_features). Inputs (*, in1_features)
    and (*, in2_features) -> output (*, out_features).
    """

    _features = ("in1_features", "in2_features", "out_features")

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__((in1_features, in2_features, out_features), bias, dtype, device)

    def reset_parameters(self):
        # weight and bias share one bound, set by the first input's width
        _fan_in_uniform_(self.weight, self.in1_features)
        if self.bias is not None:
            _fan_in_uniform_(self.bias, self.in1_features)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)


class Identity(Module):
    """Returns its input unchanged; constructor arguments are accepted and ignored."""

    def __init__(self, *args, **kwargs):
        # the arguments exist only so that Identity can replace any layer in place
        Module.__init__(self)

    def forward(self, input):
        return input

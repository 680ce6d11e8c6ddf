"""``nn.init``: in-place initialisers with PyTorch's signatures, fans and gains.

Three ingredients make every initialiser:

* the fans of a weight: ``fan_in = shape[1] * receptive``, ``fan_out = shape[0] * receptive``
  with ``receptive`` the product of the dimensions after the second (a conv kernel's size);
* the gain of a nonlinearity (``calculate_gain``, one table);
* a distribution: ``U(-bound, bound)`` or ``N(0, std^2)`` (same variance when
  ``bound = sqrt(3) * std``), drawn by the tensor's own ``uniform_``/``normal_``.

So ``xavier_*`` use ``std = gain * sqrt(2 / (fan_in + fan_out))`` and ``kaiming_*``
``std = gain / sqrt(fan)`` (Glorot & Bengio 2010; He et al. 2015). Every function runs
under ``no_grad``, writes into the tensor in place and returns it. Random numbers come
from tapegrad's generator (``generator=`` or the default one), so values differ from
PyTorch's while the distributions are the same.
"""
from __future__ import annotations

import math
import warnings

from .. import backend as B
from ..autograd.grad_mode import no_grad
from ..creation import _rng
from ..tensor import Tensor

xp = B.xp

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
    "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "sparse_", "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform",
    "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse",
]


# ----------------------------------------------------------------------------- writing
def _store(tensor, values):
    """Copy the array ``values`` into ``tensor`` (cast to its dtype), as one in-place op."""
    with no_grad():
        tensor.copy_(Tensor._wrap(xp.asarray(values)))
    return tensor


def _untracked(inplace_method, *args, **kwargs):
    """Call a tensor's in-place method without recording it (parameters are leaves)."""
    with no_grad():
        return inplace_method(*args, **kwargs)


def _require_ndim(tensor, allowed, message):
    if tensor.ndimension() not in allowed:
        raise ValueError(message)


# ----------------------------------------------------------------------------- fans and gains
def _calculate_fan_in_and_fan_out(tensor):
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)``."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


_FAN_MODES = ["fan_in", "fan_out"]  # in the order _calculate_fan_in_and_fan_out returns them


def _calculate_correct_fan(tensor, mode):
    """The fan named by ``mode`` (``'fan_in'`` or ``'fan_out'``, any case)."""
    key = mode.lower()
    if key not in _FAN_MODES:
        raise ValueError(f"Mode {key} not supported, please use one of {_FAN_MODES}")
    return _calculate_fan_in_and_fan_out(tensor)[_FAN_MODES.index(key)]


def _leaky_relu_gain(param):
    slope = 0.01 if param is None else param
    if isinstance(slope, bool) or not isinstance(slope, (int, float)):
        raise ValueError(f"negative_slope {param} not a valid number")
    return math.sqrt(2.0 / (1 + slope * slope))


# gains that need no parameter; leaky_relu's depends on its slope
_FIXED_GAINS = {
    **dict.fromkeys(["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                     "conv_transpose3d", "sigmoid"], 1),
    "tanh": 5.0 / 3,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4,  # the value that keeps SELU networks' activations near unit variance
}


def calculate_gain(nonlinearity, param=None):
    r"""The recommended gain for a nonlinearity (the factor on the standard deviation).

    ============ ================================
    linear/conv  :math:`1`          sigmoid  :math:`1`
    tanh         :math:`5/3`        relu     :math:`\sqrt{2}`
    leaky_relu   :math:`\sqrt{2 / (1 + slope^2)}` (``param`` = slope, default 0.01)
    selu         :math:`3/4`
    ============ ================================

    >>> calculate_gain("leaky_relu", 0.2)
    1.3867504905630728
    """
    if nonlinearity == "leaky_relu":
        return _leaky_relu_gain(param)
    try:
        return _FIXED_GAINS[nonlinearity]
    except (KeyError, TypeError):
        raise ValueError(f"Unsupported nonlinearity {nonlinearity}") from None


# ----------------------------------------------------------------------------- distributions
def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill ``tensor`` with draws from ``U(a, b)``."""
    return _untracked(tensor.uniform_, a, b, generator=generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill ``tensor`` with draws from ``N(mean, std^2)``."""
    return _untracked(tensor.normal_, mean, std, generator=generator)


def _acceptance_sampler(rng, mean, std, a, b):
    """``(propose(n), accept(x))`` for ``N(mean, std^2)`` conditioned on ``[a, b]``.

    When the interval holds a fair share of the mass, plain normal draws are proposed
    and those outside are rejected. Otherwise (narrow or far-out interval) uniform draws
    on ``[a, b]`` are proposed and kept with probability ``density(x) / max density``,
    which stays efficient however little mass the interval holds.
    """
    def cdf(x):
        return math.erfc((mean - x) / (std * math.sqrt(2.0))) / 2

    mass = cdf(b) - cdf(a)
    if mass > 0.3:
        return (lambda n: rng.normal(mean, std, n)), None
    peak = min(max(mean, a), b)  # where the density is highest on [a, b]

    def log_density(x):
        return -0.5 * ((x - mean) / std) ** 2

    def accept(x):
        return xp.log(rng.random(x.shape)) <= log_density(x) - log_density(peak)
    return (lambda n: rng.uniform(a, b, n)), accept


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill ``tensor`` from ``N(mean, std^2)`` truncated to ``[a, b]`` (redrawing outliers).

    Values are checked against ``[a, b]`` after rounding to the tensor's dtype, so the
    stored numbers respect the bounds exactly.
    """
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    dtype = tensor._data.dtype
    count = tensor.numel()
    propose, accept = _acceptance_sampler(_rng(generator), mean, std, a, b)
    kept = []
    missing = count
    while missing > 0:
        draws = propose(missing)
        stored = draws.astype(dtype)
        ok = (stored >= a) & (stored <= b)
        if accept is not None:
            ok &= accept(draws)
        kept.append(stored[ok][:missing])
        missing -= kept[-1].size
    values = xp.concatenate(kept) if kept else xp.zeros(0, dtype=dtype)
    return _store(tensor, values.reshape(tensor._data.shape))


def constant_(tensor, val):
    """Fill ``tensor`` with the value ``val``."""
    return _untracked(tensor.fill_, val)


def ones_(tensor):
    """Fill ``tensor`` with ones."""
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """Fill ``tensor`` with zeros."""
    return _untracked(tensor.zero_)


def eye_(tensor):
    """Fill a 2-D tensor with the identity matrix (ones on the main diagonal)."""
    _require_ndim(tensor, (2,), "Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    return _store(tensor, xp.arange(rows)[:, None] == xp.arange(cols)[None, :])


def dirac_(tensor, groups=1):
    """Fill a 3/4/5-D conv weight with the Dirac delta: the convolution copies its input.

    Within each of the ``groups`` blocks of output channels, output channel ``k`` gets a
    1 at the kernel's centre for input channel ``k`` (as many as both counts allow).
    """
    _require_ndim(tensor, (3, 4, 5), "Only tensors with 3, 4, or 5 dimensions are supported")
    shape = tuple(tensor.shape)
    if shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = shape[0] // groups
    k = xp.arange(min(per_group, shape[1]))
    out_channels = (xp.arange(groups)[:, None] * per_group + k[None, :]).ravel()
    in_channels = xp.tile(k, groups)
    delta = xp.zeros(shape)
    delta[(out_channels, in_channels) + tuple(s // 2 for s in shape[2:])] = 1
    return _store(tensor, delta)


def _draw_scaled(tensor, std, distribution, generator):
    """``U(-sqrt(3) std, sqrt(3) std)`` or ``N(0, std^2)``: the same variance either way."""
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return uniform_(tensor, -bound, bound, generator)
    return normal_(tensor, 0.0, std, generator)


def _xavier_std(tensor, gain):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot uniform: ``U(-g sqrt(6 / (fan_in + fan_out)), +...)``."""
    return _draw_scaled(tensor, _xavier_std(tensor, gain), "uniform", generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot normal: ``N(0, g^2 * 2 / (fan_in + fan_out))``."""
    return _draw_scaled(tensor, _xavier_std(tensor, gain), "normal", generator)


def _skip_empty(tensor):
    """True, after PyTorch's warning, for a tensor without elements (kaiming_* leave it as is)."""
    if tensor.numel() > 0:
        return False
    warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
    return True


def _he_std(tensor, a, mode, nonlinearity):
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He uniform: ``U(-gain * sqrt(3 / fan), +...)`` with ``fan`` chosen by ``mode``.

    ``a`` is the negative slope for ``nonlinearity='leaky_relu'``; ``nn.Linear`` uses
    ``a=sqrt(5)``, which gives ``bound = 1 / sqrt(fan_in)``.
    """
    if not _skip_empty(tensor):
        _draw_scaled(tensor, _he_std(tensor, a, mode, nonlinearity), "uniform", generator)
    return tensor


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He normal: ``N(0, gain^2 / fan)`` with ``fan`` chosen by ``mode``."""
    if not _skip_empty(tensor):
        _draw_scaled(tensor, _he_std(tensor, a, mode, nonlinearity), "normal", generator)
    return tensor


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix, scaled by ``gain``; dimensions after the first are flattened.

    The Q factor of a Gaussian matrix, with its columns' signs fixed by R's diagonal, is
    uniformly (Haar) distributed (Saxe et al. 2013). For a wide matrix the rows are
    orthonormal, for a tall one the columns.
    """
    if tensor.ndimension() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    rows, *rest = tensor.shape
    cols = math.prod(rest)
    if rows * cols == 0:
        return tensor
    wide = rows < cols
    gaussian = _rng(generator).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = xp.linalg.qr(gaussian)
    q = q * xp.sign(xp.diagonal(r))
    basis = q.T if wide else q
    return _store(tensor, gain * basis.reshape(tensor._data.shape))


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """``N(0, std^2)`` with ``ceil(sparsity * rows)`` entries of every column set to zero
    (Martens 2010). The zeroed rows are chosen independently for each column."""
    _require_ndim(tensor, (2,), "Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    rng = _rng(generator)
    values = rng.normal(0.0, std, (rows, cols))
    # a uniformly random ordering of the rows in each column; the first ones are zeroed
    rank = rng.random((rows, cols)).argsort(axis=0).argsort(axis=0)
    values[rank < math.ceil(sparsity * rows)] = 0.0
    return _store(tensor, values)


# ----------------------------------------------------------------------------- old names
def _deprecated_alias(current):
    """``nn.init.<name>``: the pre-underscore spelling, warning and forwarding to ``<name>_``."""
    name = current.__name__[:-1]

    message = f"`nn.init.{name}` is now deprecated in favor of `nn.init.{current.__name__}`."

    def alias(*args, **kwargs):
        warnings.warn(message, FutureWarning, stacklevel=2)
        return current(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f"Deprecated: use :func:`{current.__name__}`, which this calls (with a FutureWarning)."
    return alias


(uniform, normal, constant, eye, dirac, xavier_uniform, xavier_normal, kaiming_uniform,
 kaiming_normal, orthogonal, sparse) = map(_deprecated_alias, (
    uniform_, normal_, constant_, eye_, dirac_, xavier_uniform_, xavier_normal_, kaiming_uniform_,
    kaiming_normal_, orthogonal_, sparse_))

"""Helpers shared by the distributions: broadcasting parameters, probs <-> logits."""
from __future__ import annotations

import numbers

import numpy as np

import tapegrad as _tg
from ..tensor import Tensor


def broadcast_all(*values):
    """Tensors of one broadcast shape from tensors and Python numbers.

    Numbers take the dtype of the first tensor argument (the default dtype if none).
    """
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number, torch.Tensor or "
                         "objects implementing __torch_function__.")
    first = next((v for v in values if isinstance(v, Tensor)), None)
    dtype = first.dtype if first is not None else _tg.get_default_dtype()
    ts = [v if isinstance(v, Tensor) else _tg.tensor(float(v), dtype=dtype) for v in values]
    shape = _tg.broadcast_shapes(*(tuple(t.shape) for t in ts))
    # a tensor already of the common shape is kept as it is (no expand node in its graph)
    return tuple(t if tuple(t.shape) == tuple(shape) else t.expand(shape) for t in ts)


def _finfo(dtype):
    return np.finfo(dtype.np)


def clamp_probs(probs):
    """Probabilities kept ``eps`` away from 0 and 1, so their logs stay finite."""
    eps = float(_finfo(probs.dtype).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    """``log p`` (``log p - log(1 - p)`` when binary), with p clamped off 0 and 1."""
    p = clamp_probs(probs)
    return _tg.log(p) - _tg.log1p(-p) if is_binary else _tg.log(p)


def logits_to_probs(logits, is_binary=False):
    """``sigmoid`` (binary) or ``softmax`` over the last dim."""
    return _tg.sigmoid(logits) if is_binary else _tg.softmax(logits, -1)


def sum_rightmost(value, dim):
    """``value`` summed over its rightmost ``dim`` dims."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:value.dim() - dim]) + (-1,)).sum(-1)


class lazy_property:
    """Computed on first access and then stored on the instance (``Categorical.logits``)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with _tg.enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value

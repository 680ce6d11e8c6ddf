"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_`` (PyTorch's semantics).

The norms follow ``torch.nn.utils.clip_grad_norm_`` on CPU: the norm of each
gradient, then the norm of those norms; every gradient is multiplied in place
by ``min(max_norm / (total_norm + 1e-6), 1)`` (also when it is 1).
"""
from __future__ import annotations

import functools
import math
import types
import warnings

from ... import backend as B
from ... import dtypes
from ...autograd.grad_mode import no_grad
from ...tensor import Tensor

xp = B.xp

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_"]


def _no_grad(func):
    @functools.wraps(func)
    def _no_grad_wrapper(*args, **kwargs):
        with no_grad():
            return func(*args, **kwargs)
    return _no_grad_wrapper


def _vector_norm(arr, ord):
    """``torch.linalg.vector_norm(arr, ord)`` accumulated in float64, in ``arr``'s dtype."""
    a = xp.abs(arr.astype(xp.float64, copy=False)).ravel()
    if ord == math.inf:
        r = a.max() if a.size else 0.0
    elif ord == -math.inf:
        if not a.size:
            raise RuntimeError("linalg.vector_norm cannot compute the -inf norm on an empty tensor "
                               "because the operation does not have an identity")
        r = a.min()
    elif ord == 0:
        r = float(xp.count_nonzero(a))
    elif ord == 1:
        r = a.sum()
    elif ord == 2:
        r = math.sqrt(xp.dot(a, a)) if a.size else 0.0
    else:
        r = (a ** ord).sum() ** (1.0 / ord)
    return xp.asarray(r, dtype=arr.dtype)


def _foreach_check(foreach, tensors):
    if foreach and tensors:
        raise RuntimeError("foreach=True was passed, but can't use the foreach API on cpu tensors")


@_no_grad
def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of all ``tensors`` together (as if concatenated), a 0-d tensor."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    else:
        tensors = list(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return Tensor._wrap(xp.asarray(0.0, dtype=dtypes.get_default_dtype().np))
    _foreach_check(foreach, tensors)
    with xp.errstate(all="ignore"):
        norms = [_vector_norm(t._data, norm_type) for t in tensors]
        out_dtype = xp.result_type(*[n.dtype for n in norms])
        stacked = xp.stack([n.astype(out_dtype) for n in norms])
        total_norm = _vector_norm(stacked, norm_type)
    if error_if_nonfinite and not xp.isfinite(total_norm):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from "
            "`parameters` is non-finite, so it cannot be clipped. To disable "
            "this error and scale the gradients by the non-finite norm anyway, "
            "set `error_if_nonfinite=False`")
    return Tensor._wrap(total_norm)


@_no_grad
def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients of ``parameters`` by ``min(max_norm / (total_norm + 1e-6), 1)``."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm = float(max_norm)
    if len(grads) == 0:
        return
    _foreach_check(foreach, grads)
    t = total_norm._data if isinstance(total_norm, Tensor) else xp.asarray(total_norm)
    dt = t.dtype.type
    # PyTorch: ``max_norm / (total_norm + 1e-6)`` is ``reciprocal(total_norm + 1e-6) * max_norm``
    with xp.errstate(all="ignore"):
        clip_coef = (dt(1) / (t + dt(1e-6))) * dt(max_norm)
    clip_coef_clamped = xp.minimum(clip_coef, dt(1.0))
    with xp.errstate(all="ignore"):  # inf/nan norms give nan gradients silently, like PyTorch
        for g in grads:
            a = g._data
            xp.multiply(a, clip_coef_clamped.astype(a.dtype), out=a)
            g._bump_version("mul_")


@_no_grad
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradient norm of ``parameters`` in place; returns the total norm (a tensor).

    The norm is computed over all gradients together, as if concatenated into one vector.

    >>> total = tapegrad.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and len(parameters) == 0:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=3)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated alias of ``clip_grad_norm_``."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated "
                  "in favor of `torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@_no_grad
def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]`` in place."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    grads = [p.grad for p in parameters if p.grad is not None]
    _foreach_check(foreach, grads)
    for g in grads:
        a = g._data
        dt = a.dtype.type
        xp.clip(a, dt(-clip_value), dt(clip_value), out=a)
        g._bump_version("clamp_")

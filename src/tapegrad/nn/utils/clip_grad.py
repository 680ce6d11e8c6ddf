"""Gradient clipping with PyTorch's semantics (``torch.nn.utils.clip_grad*``).

The total norm is the norm of the per-gradient norms, which for every ``p`` equals the
norm of all gradients concatenated. Each per-gradient norm is accumulated in float64 (the
2-norm of a large float32 gradient: float32 sums of 1024 squares, added in float64, within
float32 rounding of the float64 sum) and rounded to that gradient's dtype; the total has the
promoted dtype of the gradients, as PyTorch's stacked norms do. Clipping multiplies every
gradient in place by ``min(max_norm / (total + 1e-6), 1)``, also when that factor is 1.
"""
from __future__ import annotations

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


def _listed(tensors):
    """A lone tensor or any iterable of tensors, as a list."""
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _present_grads(parameters):
    return [p.grad for p in parameters if p.grad is not None]


def _refuse_foreach(foreach, tensors):
    # tapegrad has no fused multi-tensor kernels; PyTorch says this for such devices too
    if foreach and tensors:
        raise RuntimeError("foreach=True was passed, but can't use the foreach API on cpu tensors")


def _min_abs(a):
    if a.size == 0:
        raise RuntimeError("linalg.vector_norm cannot compute the -inf norm on an empty tensor "
                           "because the operation does not have an identity")
    return a.min()


# p -> norm of a flat float64 array of absolute values; any other p uses the power sum
_SPECIAL_NORMS = {
    math.inf: lambda a: a.max(initial=0.0),
    -math.inf: _min_abs,
    0.0: lambda a: float(xp.count_nonzero(a)),
    1.0: lambda a: a.sum(),
    2.0: lambda a: math.sqrt(xp.dot(a, a)),
}


#: the 2-norm sums squares in float32 rows of this many elements, then the rows in float64
_ROW = 1024


def _two_norm(array):
    """The 2-norm of a real array: float64 and small arrays through a float64 dot; larger
    float32 ones as float32 sums of 1024 squares each, added in float64. That is 4e-9 from the
    float64 sum on a 2.4M-element ResNet gradient (a float32 result's spacing is 1.2e-7), in
    0.7 ms where a float64 copy, its absolute values and a dot took 5 ms; one float32 dot over
    the whole array would be 1e-5 off."""
    flat = array.reshape(-1)
    if flat.dtype == xp.float64:
        return math.sqrt(xp.dot(flat, flat))
    n = flat.size - flat.size % _ROW
    if n < 4 * _ROW or flat.dtype != xp.float32:
        wide = flat.astype(xp.float64)
        return math.sqrt(xp.dot(wide, wide))
    rows = flat[:n].reshape(-1, _ROW)
    total = xp.einsum("ij,ij->i", rows, rows).astype(xp.float64).sum()
    tail = flat[n:].astype(xp.float64)
    return math.sqrt(total + xp.dot(tail, tail))


def _norm(array, p):
    """``linalg.vector_norm(array, p)`` as a float64 scalar."""
    if p == 2.0 and array.dtype.kind == "f":
        return xp.float64(_two_norm(array))
    magnitudes = xp.abs(xp.asarray(array, dtype=xp.float64)).ravel()
    special = _SPECIAL_NORMS.get(p)
    if special is not None:
        return xp.float64(special(magnitudes))
    return xp.float64((magnitudes ** p).sum() ** (1.0 / p))


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of all ``tensors`` together (as if concatenated): a 0-d tensor.

    ``norm_type`` may be ``inf``/``-inf`` (also as strings). An empty list gives
    ``tensor(0.)`` in the default dtype.
    """
    tensors = _listed(tensors)
    p = float(norm_type)
    if not tensors:
        return Tensor._wrap(xp.zeros((), dtype=dtypes.get_default_dtype().np))
    _refuse_foreach(foreach, tensors)
    with xp.errstate(all="ignore"):
        # each norm rounded to its tensor's dtype before they are combined
        per_tensor = [_norm(t._data, p).astype(t._data.dtype) for t in tensors]
        result_dtype = xp.result_type(*per_tensor)
        total = _norm(xp.array(per_tensor, dtype=result_dtype), p).astype(result_dtype)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {p} for gradients from "
            "`parameters` is non-finite, so it cannot be clipped. To disable "
            "this error and scale the gradients by the non-finite norm anyway, "
            "set `error_if_nonfinite=False`")
    return Tensor._wrap(xp.asarray(total))


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients of ``parameters`` in place by ``min(max_norm / (total_norm + 1e-6), 1)``.

    ``total_norm`` is usually ``get_total_norm`` of those gradients (possibly combined
    across several parameter groups). Returns None.
    """
    grads = _present_grads(_listed(parameters))
    if not grads:
        return
    _refuse_foreach(foreach, grads)
    norm = total_norm._data if isinstance(total_norm, Tensor) else xp.asarray(total_norm)
    scalar = norm.dtype.type
    with xp.errstate(all="ignore"):
        # in the norm's dtype, as 1 / (norm + eps) times max_norm (PyTorch's rounding)
        factor = xp.minimum(scalar(1) / (norm + scalar(1e-6)) * scalar(float(max_norm)), scalar(1))
    with no_grad():
        for g in grads:
            g.mul_(Tensor._wrap(xp.asarray(factor, dtype=g._data.dtype)))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradients of ``parameters`` to a total ``norm_type``-norm of ``max_norm``.

    Returns the total norm *before* clipping (a 0-d tensor).

    >>> total = clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    if isinstance(parameters, types.GeneratorType):
        parameters = list(parameters)
        if not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=2)
    parameters = _listed(parameters)
    total = get_total_norm(_present_grads(parameters), norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated spelling of :func:`clip_grad_norm_`."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated "
                  "in favor of `torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]`` in place."""
    grads = _present_grads(_listed(parameters))
    _refuse_foreach(foreach, grads)
    bound = float(clip_value)
    with no_grad():
        for g in grads:
            g.clamp_(-bound, bound)

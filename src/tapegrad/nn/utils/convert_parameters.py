"""``parameters_to_vector`` / ``vector_to_parameters``: a model's parameters as one flat vector."""
from __future__ import annotations

from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated, in iteration order: shape ``(sum numel,)``.

    The result is differentiable with respect to the parameters (a ``cat`` of views).

    >>> parameters_to_vector(nn.Linear(3, 2).parameters()).shape
    torch.Size([8])
    """
    from ...ops.shape import cat
    return cat([p.reshape(-1) for p in parameters])


def _qualified_type_name(obj):
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def vector_to_parameters(vec, parameters):
    """Point each parameter's ``.data`` at its consecutive slice of the 1-D tensor ``vec``.

    The inverse of ``parameters_to_vector``; like PyTorch, the parameters then share
    memory with ``vec`` (no copy).
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {_qualified_type_name(vec)}")
    offsets = [0]
    params = list(parameters)
    for p in params:
        offsets.append(offsets[-1] + p.numel())
    for p, start, stop in zip(params, offsets[:-1], offsets[1:], strict=True):
        p.data = vec[start:stop].view_as(p).data

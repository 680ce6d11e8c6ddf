"""``nn.Parameter`` and ``nn.Buffer``: tensors that a Module registers when assigned.

A Parameter is an ordinary leaf tensor whose class tells ``Module.__setattr__`` to
record it as trainable state; it shares storage with the tensor it was made from.
``Tensor.__reduce_ex__`` already rebuilds objects of the receiving class, so pickling
a Parameter needs nothing here.
"""
from __future__ import annotations

from ..tensor import Tensor


def _leaf_view(data, cls):
    """A new leaf of class ``cls`` over ``data``'s storage (no copy, no history)."""
    if data is None:
        from ..creation import empty
        data = empty(0)
    if not isinstance(data, Tensor):
        raise TypeError(f"Parameter data must be a Tensor, got {type(data).__name__}")
    leaf = Tensor._wrap(data._data)
    leaf.__class__ = cls
    return leaf


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning one to a Module attribute registers it.

    ``Parameter(data, requires_grad=True)`` shares storage with ``data`` and is always a
    graph leaf, whatever ``data``'s history. Only floating-point data may require grad.

    >>> w = Parameter(tapegrad.zeros(3))
    >>> w.requires_grad, w.is_leaf
    (True, True)
    """

    _is_param = True

    def __new__(cls, data=None, requires_grad=True):
        param = _leaf_view(data, cls)
        if requires_grad and param._data.dtype.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        param._requires_grad = bool(requires_grad)
        return param

    def __init__(self, data=None, requires_grad=True):
        # Everything happens in __new__; this only swallows the constructor arguments.
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        # As in PyTorch, the copy gets fresh storage and the flag but not ``.grad``.
        if id(self) not in memo:
            memo[id(self)] = type(self)(Tensor._wrap(self._data.copy()), self._requires_grad)
        return memo[id(self)]


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute.

    ``module.x = Buffer(t, persistent=False)`` is ``module.register_buffer("x", t,
    persistent=False)``. As in PyTorch, the registered object is a plain Tensor.
    """

    def __new__(cls, data=None, *, persistent=True):
        tensor = Tensor._wrap(data._data)
        tensor._requires_grad = data._requires_grad
        tensor._buffer_persistent = persistent
        return tensor


class UninitializedParameter(Parameter):
    """Placeholder type of lazy modules' parameters (tapegrad has no lazy modules)."""

    def __repr__(self):
        return "<UninitializedParameter>"

    __str__ = __repr__

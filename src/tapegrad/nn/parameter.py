"""``nn.Parameter``: a leaf tensor that a Module registers as trainable state."""
from __future__ import annotations

from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning one to a Module attribute registers it.

    Shares storage with ``data``; ``requires_grad=True`` by default.
    """

    _is_param = True

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter data must be a Tensor, got {type(data).__name__}")
        p = Tensor._wrap(data._data)
        p.__class__ = cls
        if requires_grad and data._data.dtype.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        p._requires_grad = bool(requires_grad)
        return p

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        from ..tensor import _rebuild
        return (_rebuild, (self._data, self._requires_grad, Parameter))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(Tensor._wrap(self._data.copy()), self._requires_grad)
        if self._grad is not None:
            p._grad = Tensor._wrap(self._grad._data.copy())
        memo[id(self)] = p
        return p


class Buffer(Tensor):
    """Marker accepted by ``Module.__setattr__`` to register a buffer (PyTorch 2.5+)."""

    def __new__(cls, data=None, *, persistent=True):
        t = Tensor._wrap(data._data)
        t._buffer_persistent = persistent
        return t


class UninitializedParameter(Parameter):
    pass

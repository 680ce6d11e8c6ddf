"""The only place where ``tapegrad.io`` touches tapegrad tensors.

Checkpoint code deals in NumPy arrays; this module converts at the edges.
Imports of the core are lazy (done per call) because ``tapegrad/__init__``
re-exports ``save``/``load`` and so imports this package while it is itself
still initialising.  Until the core provides ``tapegrad.Tensor`` and
``tapegrad.from_numpy`` every function falls back to treating a plain
``np.ndarray`` as the tensor type, so the I/O layer is usable (and testable)
on its own.
"""
from __future__ import annotations

import importlib

import numpy as np


def _core():
    """The tapegrad module when its tensor API is available, else None."""
    try:
        mod = importlib.import_module("tapegrad")
    except Exception:  # a core that is missing or broken mid-development: fall back
        return None
    # A half-initialised or namespace ``tapegrad`` has neither name yet.
    if getattr(mod, "Tensor", None) is None or getattr(mod, "from_numpy", None) is None:
        return None
    return mod


def _parameter_class(core):
    nn = getattr(core, "nn", None)
    if nn is None:
        try:
            nn = importlib.import_module("tapegrad.nn")
        except ImportError:
            return None
    return getattr(nn, "Parameter", None)


def core_available() -> bool:
    """True once ``tapegrad.Tensor``/``tapegrad.from_numpy`` exist (tests use it to pick assertions).

    >>> isinstance(core_available(), bool)
    True
    """
    return _core() is not None


def is_tensor(obj) -> bool:
    """True for tapegrad tensors (Parameters included); plain arrays in fallback mode.

    >>> is_tensor(3)
    False
    """
    core = _core()
    if core is None:
        return isinstance(obj, np.ndarray)
    return isinstance(obj, core.Tensor)


def is_parameter(t) -> bool:
    """True when ``t`` is a ``tapegrad.nn.Parameter``.

    >>> is_parameter(3)
    False
    """
    core = _core()
    if core is None:
        return False
    cls = _parameter_class(core)
    return cls is not None and isinstance(t, cls)


def requires_grad(t) -> bool:
    """The tensor's ``requires_grad`` flag (always False in fallback mode).

    >>> requires_grad(np.zeros(2))
    False
    """
    if isinstance(t, np.ndarray):
        return False
    return bool(getattr(t, "requires_grad", False))


def to_numpy(t) -> np.ndarray:
    """The array behind a tensor, sharing its memory (``t.detach().numpy()``).

    >>> to_numpy(from_numpy(np.arange(3))).tolist()
    [0, 1, 2]
    """
    if isinstance(t, np.ndarray):
        return t
    return t.detach().numpy()


def from_numpy(arr: np.ndarray, requires_grad: bool = False, parameter: bool = False):
    """Wrap ``arr`` (without copying) as a tapegrad Tensor, or an ``nn.Parameter``.

    In fallback mode the array itself is returned and the flags are dropped;
    before ``tapegrad.nn`` exists ``parameter=True`` gives a plain tensor.

    >>> is_tensor(from_numpy(np.ones(2)))
    True
    """
    core = _core()
    if core is None:
        return arr
    if not arr.dtype.isnative:
        # tensors are always in the machine's byte order
        arr = arr.astype(arr.dtype.newbyteorder("="))
    try:
        t = core.from_numpy(arr)
    except TypeError as e:
        # The core rejects dtypes it has no tensor type for (complex, uint16, ...);
        # say so in terms of the checkpoint rather than a bare TypeError.
        raise NotImplementedError(
            f"tapegrad has no tensor type for NumPy dtype {arr.dtype}; "
            f"cannot load this tensor ({e})"
        ) from e
    if parameter:
        cls = _parameter_class(core)
        # Without tapegrad.nn a Parameter degrades to a tensor with the same
        # requires_grad, rather than making the whole checkpoint unloadable.
        if cls is not None:
            return cls(t, requires_grad=bool(requires_grad))
    if requires_grad:
        t.requires_grad_(True)
    return t

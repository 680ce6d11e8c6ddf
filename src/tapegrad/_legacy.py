"""The legacy tensor types: ``FloatTensor``, ``LongTensor``... (``torch.FloatTensor(2, 3)``).

Before dtypes existed, PyTorch had one class per element type. Old tutorials still build
tensors with them and test ``isinstance(t, torch.FloatTensor)``. Here each is a small
class whose metaclass makes calling it a tensor factory and makes ``isinstance`` a dtype
test, so every tensor stays a plain ``Tensor``:

>>> import tapegrad as torch
>>> t = torch.FloatTensor([1, 2])
>>> isinstance(t, torch.FloatTensor), isinstance(t, torch.LongTensor), t.type()
(True, False, 'torch.FloatTensor')

``FloatTensor(2, 3)`` is a tensor of that size (zero-filled: tapegrad never hands out
uninitialised memory), ``FloatTensor(data)`` copies data as ``tensor(data, dtype=...)``
does, ``FloatTensor()`` is empty. There is no bfloat16 here, so no ``BFloat16Tensor``.
"""
from __future__ import annotations

import numbers

from . import dtypes
from .tensor import Size, Tensor

# One row per element type: legacy class prefix, dtype name, the C++ type PyTorch's messages name.
# The unsigned types past uint8 have a ``type()`` name in PyTorch but no exported class.
_TABLE = """
Float: float32: float
Double: float64: double
Half: float16: c10::Half
Long: int64: long int
Int: int32: int
Short: int16: short int
Char: int8: signed char
Byte: uint8: unsigned char
Bool: bool: bool
UInt16: uint16: unsigned short
UInt32: uint32: unsigned int
UInt64: uint64: unsigned long
"""
_ROWS = [tuple(c.strip() for c in line.split(":", 2)) for line in _TABLE.strip().splitlines()]
_CPP = {dt: cpp for _, dt, cpp in _ROWS}
#: class name -> dtype, for the classes tapegrad exports (``FloatTensor``...)
_NAMES = {f"{k}Tensor": dtypes.as_dtype(dt) for k, dt, _ in _ROWS if not k.startswith("UInt")}
_TYPE_ONLY = {f"{k}Tensor": dtypes.as_dtype(dt) for k, dt, _ in _ROWS if k.startswith("UInt")}

_SIGNATURES = (" * (*, torch.device device = None)\n * (torch.Storage storage)\n * (Tensor other)\n"
               " * (tuple of ints size, *, torch.device device = None)\n"
               " * (object data, *, torch.device device = None)\n")


def _is_size(args):
    return all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args)


def _size_error(args):
    """PyTorch's message for a size argument list with a non-integer at some position."""
    for pos, a in enumerate(args, 1):
        if not (isinstance(a, numbers.Integral) and not isinstance(a, bool)):
            return TypeError(f"new(): argument 'size' failed to unpack the object at pos {pos} with error "
                             f"\"type must be tuple of ints,but got {type(a).__name__}\"")
    return None


class _LegacyType(type):
    """Metaclass: calling the class makes a tensor, ``isinstance`` compares dtypes."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj._data.dtype == cls.dtype.np and not cls.is_cuda

    def __subclasscheck__(cls, sub):
        return sub is cls

    def __repr__(cls):
        prefix = "torch.cuda." if cls.is_cuda else "torch."
        return f"<class '{prefix}{cls.__name__}'>"

    def __call__(cls, *args, device=None, **kwargs):
        if cls.is_cuda:
            raise TypeError(f"type torch.cuda.{cls.__name__} not available. Torch not compiled with "
                            "CUDA enabled.")
        if kwargs:
            shown = ", ".join([type(a).__name__ for a in args]
                              + [f"{k}={type(v).__name__}" for k, v in kwargs.items()])
            raise TypeError(f"new() received an invalid combination of arguments - got ({shown}), but "
                            f"expected one of:\n{_SIGNATURES}")
        if device is not None:
            from .tensor import device as _device
            kind = _device(device).type
            if kind != "cpu":
                raise RuntimeError(f"legacy constructor expects device type: cpu but device type: {kind} "
                                   "was passed")
        return cls._make(args)

    def _make(cls, args):
        from . import creation
        if not args:
            return creation.empty(0, dtype=cls.dtype)
        if len(args) == 1 and isinstance(args[0], Tensor):
            return cls._alias(args[0])
        if len(args) == 1 and isinstance(args[0], Size):
            return creation.empty(tuple(args[0]), dtype=cls.dtype)
        if _is_size(args):
            bad = [int(a) for a in args if a < 0]
            if bad:
                raise RuntimeError(f"Trying to create tensor with negative dimension {bad[0]}: "
                                   f"{[int(a) for a in args]}")
            return creation.empty(tuple(int(a) for a in args), dtype=cls.dtype)
        if len(args) > 1:
            raise _size_error(args)
        data = args[0]
        if isinstance(data, str):
            raise TypeError("new(): invalid data type 'str'")
        if not hasattr(data, "__len__"):
            raise TypeError(f"new(): data must be a sequence (got {_qualified(data)})")
        return creation.tensor(data, dtype=cls.dtype)

    def _alias(cls, t):
        """A new tensor over ``t``'s memory; PyTorch refuses another dtype rather than cast."""
        if t._data.dtype != cls.dtype.np:
            raise TypeError(f"expected {_options(cls.dtype)} (got {_options(t.dtype)})")
        out = t.detach()
        if t.requires_grad:
            out.requires_grad_(True)
        return out


def _options(dt):
    return (f"TensorOptions(dtype={_CPP[dt.name]}, device=cpu, layout=Strided, requires_grad=false "
            "(default), pinned_memory=false (default), memory_format=(nullopt))")


def _qualified(obj):
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _make_type(name, dt, cuda=False):
    return _LegacyType(name, (), {"dtype": dt, "is_cuda": cuda, "__module__": "tapegrad",
                                  "__doc__": f"Legacy constructor and ``isinstance`` test for {dt} tensors."})


TYPES = {name: _make_type(name, dt) for name, dt in _NAMES.items()}
#: ``tapegrad.cuda.FloatTensor``...: they exist, match no tensor and cannot be constructed
CUDA_TYPES = {name: _make_type(name, dt, cuda=True) for name, dt in _NAMES.items()}


def type_name(np_dtype) -> str | None:
    """``'torch.FloatTensor'`` for a float32 array dtype, None for a dtype without a name."""
    for name, dt in (*_NAMES.items(), *_TYPE_ONLY.items()):
        if dt.np == np_dtype:
            return "torch." + name
    return None


def dtype_of(spec):
    """The dtype a ``Tensor.type(spec)`` argument names (a type name, a legacy class, a dtype)."""
    if isinstance(spec, _LegacyType):
        if spec.is_cuda:
            raise AssertionError("Torch not compiled with CUDA enabled")
        return spec.dtype
    if isinstance(spec, dtypes.dtype):
        return spec
    if isinstance(spec, str):
        key = spec[len("torch."):] if spec.startswith("torch.") else None
        if key and key.startswith("cuda."):
            raise AssertionError("Torch not compiled with CUDA enabled")
        if key in _NAMES:
            return _NAMES[key]
        if key in _TYPE_ONLY:
            return _TYPE_ONLY[key]
        raise ValueError(f"invalid type: '{spec}'")
    if isinstance(spec, type):
        raise ValueError(f"invalid type: '{spec.__name__}'")
    raise TypeError("dtype must be a type, str, or dtype object")

"""Dtypes and PyTorch's type-promotion rules.

A ``dtype`` wraps the backend's dtype. Promotion follows PyTorch, not NumPy:
tensors of a higher *category* (bool < integer < floating) win, Python
scalars and 0-dim tensors only decide the result when they are of a higher
category than every dimensioned tensor, and an integer or bool tensor
combined with a Python float becomes the default dtype (float32).
"""
from __future__ import annotations

import builtins

from .backend import xp


class dtype:
    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_cat")

    def __init__(self, name, np_dtype, category):
        self.name = name
        self.np = xp.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.is_signed = not name.startswith("uint") and name != "bool"
        self.itemsize = self.np.itemsize
        self._cat = category

    @property
    def is_complex(self):
        return False

    def __repr__(self):
        # NOTE: printed with PyTorch's prefix on purpose, so that logs and
        # reprs of code ported from PyTorch read identically (docs/porting.md).
        return "torch." + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))

    def to_real(self):
        return self


def _by_name(name):
    return _BY_NAME[name]


bool_ = dtype("bool", "bool", 0)
uint8 = dtype("uint8", "uint8", 1)
uint16 = dtype("uint16", "uint16", 1)
uint32 = dtype("uint32", "uint32", 1)
uint64 = dtype("uint64", "uint64", 1)
int8 = dtype("int8", "int8", 1)
int16 = dtype("int16", "int16", 1)
int32 = dtype("int32", "int32", 1)
int64 = dtype("int64", "int64", 1)
float16 = dtype("float16", "float16", 2)
float32 = dtype("float32", "float32", 2)
float64 = dtype("float64", "float64", 2)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64, uint16, uint32, uint64)
_BY_NAME = {d.name: d for d in ALL}
_BY_NP = {d.np: d for d in ALL}

# PyTorch's aliases
half, float, double = float16, float32, float64
short, int, long = int16, int32, int64

_default_float = [float32]


def get_default_dtype():
    return _default_float[0]


def set_default_dtype(d):
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    _default_float[0] = d


def from_np(np_dtype) -> dtype:
    try:
        return _BY_NP[np_dtype]
    except KeyError:
        pass
    try:
        return _BY_NP[xp.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"tapegrad does not support arrays of dtype {np_dtype}") from None


def as_dtype(d) -> dtype:
    """Accept a tapegrad dtype, a NumPy dtype/type or a dtype name."""
    if type(d) is dtype:
        return d
    if d is None:
        return get_default_dtype()
    if isinstance(d, str):
        key = d[6:] if d.startswith("torch.") else d
        if key in _BY_NAME:
            return _BY_NAME[key]
        aliases = {"half": float16, "float": float32, "double": float64, "short": int16,
                   "int": int32, "long": int64, "bool": bool_}
        if key in aliases:
            return aliases[key]
    elif d is builtins.float:
        return float64
    elif d is builtins.int:
        return int64
    elif d is builtins.bool:
        return bool_
    try:
        return from_np(xp.dtype(d))
    except TypeError:
        raise TypeError(f"invalid dtype: {d!r}") from None


_INT_ORDER = {"bool": 0, "uint8": 1, "int8": 2, "int16": 3, "uint16": 3.5, "int32": 4,
              "uint32": 4.5, "int64": 5, "uint64": 5.5, "float16": 6, "float32": 7, "float64": 8}


def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's ``promote_types`` for the dtypes we support."""
    if a is b:
        return a
    if a._cat != b._cat:
        return a if a._cat > b._cat else b
    if {a.name, b.name} == {"uint8", "int8"}:
        return int16
    return a if _INT_ORDER[a.name] > _INT_ORDER[b.name] else b


def scalar_category(x) -> int:
    if isinstance(x, builtins.bool):
        return 0
    if isinstance(x, builtins.int):
        return 1
    return 2


def result_type(*operands) -> dtype:
    """Result dtype of an elementwise op on tensors and Python scalars (PyTorch rules).

    Dimensioned tensors are ranked first; 0-dim tensors next; Python scalars
    last. A lower tier only matters when its category is higher.
    """
    from .tensor import Tensor

    dim_t = zero_t = None
    scal_cat = -1
    for o in operands:
        if o is None:
            continue
        if isinstance(o, Tensor):
            d = o.dtype
            if o._data.ndim:
                dim_t = d if dim_t is None else promote_types(dim_t, d)
            else:
                zero_t = d if zero_t is None else promote_types(zero_t, d)
        else:
            scal_cat = max(scal_cat, scalar_category(o))
    res = dim_t
    if zero_t is not None and (res is None or zero_t._cat > res._cat):
        res = zero_t
    if scal_cat >= 0 and (res is None or scal_cat > res._cat):
        res = (bool_, int64, get_default_dtype())[scal_cat]
    return res


class finfo:
    """Machine limits of a floating dtype, as ``torch.finfo``: ``bits``, ``eps``, ``max``,
    ``min``, ``tiny`` (= ``smallest_normal``), ``resolution``, and ``dtype`` (its name).
    Without an argument, the default dtype's.

    >>> finfo(float32).eps
    1.1920928955078125e-07
    """

    def __init__(self, type=None):
        d = _info_dtype(type, "finfo") if type is not None else get_default_dtype()
        if not d.is_floating_point:
            raise TypeError("torch.finfo() requires a floating point input type. Use torch.iinfo to "
                            "handle 'torch.finfo'")
        info = xp.finfo(d.np)
        self.bits = info.bits
        self.eps = builtins.float(info.eps)
        self.max, self.min = builtins.float(info.max), builtins.float(info.min)
        self.tiny = self.smallest_normal = builtins.float(info.smallest_normal)
        self.resolution = 10.0 ** -info.precision   # (a Python float, as torch's: 1e-06, not float32's)
        self.dtype = d.name

    def __eq__(self, other):
        return type(other) is finfo and other.dtype == self.dtype

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, "
                f"dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype, as ``torch.iinfo``: ``bits``, ``max``, ``min``, ``dtype``.

    >>> iinfo(uint8).max
    255
    """

    def __init__(self, type):
        d = _info_dtype(type, "iinfo")
        if d is bool_:
            raise TypeError("torch.bool is not supported by torch.iinfo")
        if d.is_floating_point:
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo to "
                            "handle 'torch.iinfo'")
        info = xp.iinfo(d.np)
        self.bits, self.max, self.min = info.bits, builtins.int(info.max), builtins.int(info.min)
        self.dtype = d.name

    def __eq__(self, other):
        return type(other) is iinfo and other.dtype == self.dtype

    def __repr__(self):
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def _info_dtype(d, fn):
    if type(d) is not dtype:
        raise TypeError(f"{fn}(): argument 'type' (position 1) must be torch.dtype, not "
                        f"{type(d).__name__}")
    return d

"""Tensor factories: tensor/as_tensor/from_numpy, zeros/ones/full/arange/..., random.

Random numbers come from tapegrad's own generator (NumPy's PCG64): seeded
runs are reproducible, but the numbers differ from PyTorch's Mersenne
Twister stream (bit-identity with torch's RNG is a non-goal).
"""
from __future__ import annotations

import builtins
import math
import numbers
from typing import TYPE_CHECKING, Any

from . import backend as B
from . import dtypes
from .ops._util import as_shape, check_tensor
from .tensor import Tensor, device as _device

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

    from .dtypes import dtype

    _ShapeArg = int | Sequence[int]  # one size argument: ``f(2, 3)`` or ``f((2, 3))``
    _DeviceLike = str | int | _device | None
    _Number = int | float | bool

xp = B.xp
_DEFAULT_SEED = 67280421310721  # PyTorch's default initial seed, so runs are deterministic


# =========================================================================== generator
class Generator:
    """A seeded random stream (``tapegrad.Generator().manual_seed(0)``)."""

    def __init__(self, device: str | _device = "cpu") -> None:
        B.check_device(device)
        self.device = device
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Self:
        seed = int(seed)
        if seed < 0:
            seed += 1 << 64
        self._seed = seed
        self._rng = xp.random.Generator(xp.random.PCG64(seed))
        return self

    def seed(self) -> int:
        s = int.from_bytes(__import__("os").urandom(8), "little") >> 1
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        import pickle
        return Tensor._wrap(xp.frombuffer(pickle.dumps(self._rng.bit_generator.state), dtype=xp.uint8).copy())

    def set_state(self, state: Tensor | Any) -> Self:
        import pickle
        data = state._data if isinstance(state, Tensor) else xp.asarray(state, dtype=xp.uint8)
        st = pickle.loads(data.tobytes())  # our own state blob: a dict of ints
        self._rng.bit_generator.state = st
        return self


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator; returns it (like ``torch.manual_seed``).

    >>> _ = tapegrad.manual_seed(0); a = tapegrad.rand(2)
    >>> _ = tapegrad.manual_seed(0); bool((a == tapegrad.rand(2)).all())
    True
    """
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from OS randomness and return the seed (a non-negative int)."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the default generator was last seeded with (``tapegrad.manual_seed(3)`` -> 3)."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The default generator's state as a 1-D uint8 tensor, for :func:`set_rng_state`."""
    return default_generator.get_state()


def set_rng_state(state: Tensor) -> None:
    """Restore a state from :func:`get_rng_state`: the draws that followed it repeat.

    >>> s = tapegrad.get_rng_state(); a = tapegrad.randn(3)
    >>> tapegrad.set_rng_state(s); bool((a == tapegrad.randn(3)).all())
    True
    """
    default_generator.set_state(state)


def _rng(generator):
    return (generator or default_generator)._rng


# =========================================================================== helpers
def _finish(arr, requires_grad, device=None):
    B.check_device(_placed(device))
    t = Tensor._wrap(arr)
    if requires_grad:
        if arr.dtype.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        t.requires_grad_(True)
    return t


_default_device = [None]


def _placed(device):
    """Where a factory puts its result: ``device``, else the default device."""
    return _default_device[0] if device is None else device


def set_default_device(device: _DeviceLike) -> None:
    """Make ``device`` where factory functions (``zeros``, ``tensor``...) put their results;
    ``None`` restores the CPU. Another device is accepted here and refused when data is made.
    """
    _default_device[0] = None if device is None else _device(device)


def get_default_device() -> _device:
    """The device factory functions use (``device(type='cpu')`` unless set)."""
    d = _default_device[0]
    if d is None:
        return _device("cpu")
    if d.type != "cpu" and d.index is None:
        B.check_device(d)  # PyTorch asks the backend for its current index, and has no backend
    return d


#: torch's TypeError when a factory gets no size at all (first line of its message)
_NEEDS_SIZE = {**dict.fromkeys(("zeros", "ones", "empty"),
                               '{fn}() missing 1 required positional arguments: "size"'),
               **dict.fromkeys(("rand", "randn"), "{fn}() received an invalid combination of "
                                                  "arguments - got (), but expected one of:")}


def _size(size, fn="zeros"):
    """The shape argument of ``fn`` (``f(2, 3)``, ``f((2, 3))``...), with PyTorch's errors."""
    if size == () and fn in _NEEDS_SIZE:    # f() itself; f(()) is a 0-d tensor
        raise TypeError(_NEEDS_SIZE[fn].format(fn=fn))
    shape = as_shape(size, fn)
    if shape and min(shape) < 0:
        # (PyTorch's zeros words it differently from every other factory)
        if fn == "zeros":
            raise RuntimeError("zeros: Dimension size must be non-negative.")
        n = next(n for n in shape if n < 0)
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: {list(shape)}")
    return shape


def _check_args(fn, dtype=None, device=None):
    """PyTorch's TypeErrors for a ``dtype`` that is not a dtype or a ``device`` of a wrong type.

    NumPy dtypes and dtype names are refused here (as torch refuses them) although
    ``dtypes.as_dtype`` accepts them for internal use: a string would otherwise be
    accepted silently. Python's ``float``/``int``/``bool`` are dtypes to PyTorch.
    """
    if dtype is not None and type(dtype) is not dtypes.dtype and \
            dtype not in (builtins.float, builtins.int, builtins.bool):
        raise TypeError(f"{fn}(): argument 'dtype' must be torch.dtype, not {type(dtype).__name__}")
    if device is not None and not isinstance(device, (str, builtins.int, _device)):
        raise TypeError(f"{fn}(): argument 'device' must be torch.device, not {type(device).__name__}")


def _float_dtype(dtype, fn="zeros"):
    _check_args(fn, dtype)
    return dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()


def _infer_dtype_of(value):
    if isinstance(value, builtins.bool):
        return dtypes.bool_
    if isinstance(value, numbers.Integral):
        return dtypes.int64
    return dtypes.get_default_dtype()


# =========================================================================== from data
def _to_array(data):
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        return xp.stack([_to_array(x) for x in data]) if data else xp.asarray([])
    return data


def tensor(data: Any, dtype: dtype | None = None, device: _DeviceLike = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays or tensors).

    Python floats become float32 (the default dtype), ints int64, bools bool. The shape is
    the nesting of ``data``: a list of 2 lists of 3 numbers gives shape ``(2, 3)``.

    >>> tapegrad.tensor([[1., 2., 3.], [4., 5., 6.]]).shape
    torch.Size([2, 3])
    """
    _check_args("tensor", dtype, device)
    B.check_device(_placed(device))
    if isinstance(data, Tensor):
        arr = data._data.copy()
    else:
        src = _to_array(data)
        is_np = B.is_array(src) or isinstance(src, xp.generic)
        try:
            arr = xp.array(src, copy=True)
        except (ValueError, TypeError) as e:
            raise ValueError(f"could not create a tensor from {type(data).__name__}: {e}") from None
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
        if not is_np:
            # Python numbers take the default dtype only when none is asked for: a float is a
            # double, so tensor(x, dtype=float64) must not round it through float32 first
            if arr.dtype.kind == "c":
                raise TypeError("complex tensors are not supported")
            if dtype is None and arr.dtype.kind == "f":
                arr = arr.astype(dtypes.get_default_dtype().np)
            elif dtype is None and arr.dtype.kind in "iu":
                arr = arr.astype(xp.int64)
    if dtype is not None:
        target = dtypes.as_dtype(dtype)
        if not isinstance(data, Tensor) and not is_np and target.np.kind in "iu" and arr.size:
            _check_integer_range(arr, target)
        arr = arr.astype(target.np, copy=False)
    else:
        dtypes.from_np(arr.dtype)  # raises a clear TypeError for unsupported dtypes
    return _finish(arr, requires_grad)


def _check_integer_range(arr, target):
    """PyTorch refuses Python numbers that the integer dtype cannot hold (NaN and inf too)."""
    info = xp.iinfo(target.np)
    bad = not xp.isfinite(arr).all() if arr.dtype.kind == "f" else False
    if bad or arr.min() < info.min or arr.max() > info.max:
        raise RuntimeError(f"value cannot be converted to type {target.name} without overflow")


def as_tensor(data: Any, dtype: dtype | None = None, device: _DeviceLike = None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array or tensor when the dtype allows."""
    _check_args("as_tensor", dtype, device)
    B.check_device(_placed(device))
    if isinstance(data, Tensor):
        return data if dtype is None or dtypes.as_dtype(dtype).np == data._data.dtype else data.to(dtype)
    if B.is_array(data):
        if dtype is None:
            dtypes.from_np(data.dtype)
            return Tensor._wrap(data)
        return Tensor._wrap(data.astype(dtypes.as_dtype(dtype).np, copy=False))
    return tensor(data, dtype=dtype)


asarray = as_tensor


def from_numpy(ndarray: Any) -> Tensor:
    """A tensor sharing memory with ``ndarray`` (writes show through both ways)."""
    if not B.is_array(ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    dtypes.from_np(ndarray.dtype)
    return Tensor._wrap(ndarray)


def _legacy_tensor(*args, **kwargs):
    """``tapegrad.Tensor(data)`` or ``tapegrad.Tensor(*sizes)``: float32 like ``torch.Tensor``."""
    if len(args) == 1 and not isinstance(args[0], numbers.Integral):
        return tensor(args[0], dtype=dtypes.float32)
    return zeros(*(args or (0,)), dtype=dtypes.float32)     # Tensor() is empty, shape (0,)


# =========================================================================== filled
def _filled(fn, make, size, dtype, device, requires_grad):
    if dtype is not None or device is not None:
        _check_args(fn, dtype, device)
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return _finish(make(_size(size, fn), dtype=d.np), requires_grad, device)


def zeros(*size: _ShapeArg, dtype: dtype | None = None, device: _DeviceLike = None,
          requires_grad: bool = False, out: Tensor | None = None) -> Tensor:
    """A tensor of the given shape filled with 0 (default dtype float32).

    >>> tapegrad.zeros(2, 3).shape == tapegrad.zeros((2, 3)).shape == (2, 3)
    True
    """
    return _filled("zeros", xp.zeros, size, dtype, device, requires_grad)


def ones(*size: _ShapeArg, dtype: dtype | None = None, device: _DeviceLike = None,
         requires_grad: bool = False, out: Tensor | None = None) -> Tensor:
    """A tensor of the given shape filled with 1 (default dtype float32).

    >>> tapegrad.ones(2, dtype=tapegrad.int64)
    tensor([1, 1])
    """
    return _filled("ones", xp.ones, size, dtype, device, requires_grad)


def empty(*size: _ShapeArg, dtype: dtype | None = None, device: _DeviceLike = None,
          requires_grad: bool = False, memory_format: Any = None, out: Tensor | None = None) -> Tensor:
    """A tensor of the given shape; here zero-filled (PyTorch leaves it uninitialised).

    >>> tapegrad.empty(3, 4).shape
    torch.Size([3, 4])
    """
    # NOTE: zero-filled rather than uninitialised, so results never depend on garbage.
    return _filled("empty", xp.zeros, size, dtype, device, requires_grad)


def full(size: _ShapeArg, fill_value: _Number | Tensor, *, dtype: dtype | None = None,
         device: _DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``; the dtype follows the value
    (bool, int64, or the default float dtype) unless ``dtype`` is given.

    >>> tapegrad.full((2, 2), 7)
    tensor([[7, 7],
            [7, 7]])
    """
    _check_args("full", dtype, device)
    d = dtypes.as_dtype(dtype) if dtype is not None else _infer_dtype_of(fill_value)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _finish(xp.full(_size((size,), "full"), fill_value, dtype=d.np), requires_grad, device)


def _like(input, dtype, fn, device=None):
    check_tensor(input, fn)
    _check_args(fn, dtype, device)
    return dtypes.as_dtype(dtype) if dtype is not None else input.dtype


def zeros_like(input: Tensor, *, dtype: dtype | None = None, device: _DeviceLike = None,
               requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """Zeros with the shape (and, unless ``dtype`` is given, the dtype) of ``input``.

    >>> tapegrad.zeros_like(tapegrad.ones(2, 3)).shape
    torch.Size([2, 3])
    """
    d = _like(input, dtype, "zeros_like", device)
    return _finish(xp.zeros(input._data.shape, dtype=d.np), requires_grad, device)


def ones_like(input: Tensor, *, dtype: dtype | None = None, device: _DeviceLike = None,
              requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """Ones with the shape (and, unless ``dtype`` is given, the dtype) of ``input``.

    >>> tapegrad.ones_like(tapegrad.zeros(2))
    tensor([1., 1.])
    """
    d = _like(input, dtype, "ones_like", device)
    return _finish(xp.ones(input._data.shape, dtype=d.np), requires_grad, device)


def empty_like(input: Tensor, *, dtype: dtype | None = None, device: _DeviceLike = None,
               requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """A (zero-filled) tensor with the shape and dtype of ``input``.

    >>> tapegrad.empty_like(tapegrad.ones(4)).shape
    torch.Size([4])
    """
    d = _like(input, dtype, "empty_like", device)
    return _finish(xp.zeros(input._data.shape, dtype=d.np), requires_grad, device)


def full_like(input: Tensor, fill_value: _Number | Tensor, *, dtype: dtype | None = None,
              device: _DeviceLike = None, requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """``fill_value`` everywhere, with the shape (and, unless given, the dtype) of ``input``.

    >>> tapegrad.full_like(tapegrad.zeros(2), 0.5)
    tensor([0.5000, 0.5000])
    """
    d = _like(input, dtype, "full_like", device)
    if not isinstance(fill_value, (int, float, bool)) and not (
            isinstance(fill_value, Tensor) and fill_value._data.ndim == 0):
        raise TypeError(f"full_like(): argument 'fill_value' (position 2) must be Number, "
                        f"not {type(fill_value).__name__}")
    return _finish(xp.full(input._data.shape, fill_value, dtype=d.np), requires_grad, device)


def arange(start: _Number | Tensor = 0, end: _Number | Tensor | None = None, step: _Number | Tensor = 1, *,
           dtype: dtype | None = None, device: _DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Values ``start, start+step, ...`` below ``end``; int64 unless an argument is a float.

    The result is 1-D with ``ceil((end - start) / step)`` elements; ``arange(n)`` is ``0 .. n-1``.

    >>> tapegrad.arange(1, 2, 0.25)
    tensor([1.0000, 1.2500, 1.5000, 1.7500])
    """
    _check_args("arange", dtype, device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype is None:
        is_float = builtins.any(isinstance(v, float) for v in vals)
        d = dtypes.get_default_dtype() if is_float else dtypes.int64
    else:
        d = dtypes.as_dtype(dtype)
    n = math.ceil((end - start) / step)
    if d.is_floating_point:
        arr = (start + xp.arange(n, dtype=xp.float64) * step).astype(d.np)
    else:
        arr = xp.arange(start, end, step, dtype=xp.float64).astype(d.np) if builtins.any(
            isinstance(v, float) for v in vals) else xp.arange(start, end, step, dtype=d.np)
    return _finish(arr, requires_grad, device)


def range_(start: _Number = 0, end: _Number | None = None, step: _Number = 1, *,
           dtype: dtype | None = None) -> Tensor:
    """Like :func:`arange` but ``end`` is included and the dtype is floating (``torch.range``).

    >>> tapegrad.creation.range_(0, 2)
    tensor([0., 1., 2.])
    """
    return arange(start, end + step, step, dtype=dtype or dtypes.get_default_dtype())


def linspace(start: _Number, end: _Number, steps: int, *, dtype: dtype | None = None,
             device: _DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive: shape ``(steps,)``.

    >>> tapegrad.linspace(0, 1, 5)
    tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    _check_args("linspace", dtype, device)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    d = _float_dtype(dtype, "linspace")
    if steps == 1:
        arr = xp.asarray([start], dtype=xp.float64)
    else:
        # NOTE: PyTorch fills from both ends (start + i*step, end - (n-1-i)*step).
        step = (end - start) / (steps - 1)
        i = xp.arange(steps, dtype=xp.float64)
        half = steps // 2
        arr = xp.where(i < half, start + step * i, end - step * (steps - 1 - i))
    return _finish(arr.astype(d.np), requires_grad, device)


def logspace(start: _Number, end: _Number, steps: int, base: float = 10.0, *, dtype: dtype | None = None,
             requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``: shape ``(steps,)``.

    >>> tapegrad.logspace(0, 2, 3)
    tensor([  1.,  10., 100.])
    """
    lin = linspace(start, end, steps, dtype=dtypes.float64)._data
    return _finish((base ** lin).astype(_float_dtype(dtype, "logspace").np), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: dtype | None = None, device: _DeviceLike = None,
        requires_grad: bool = False) -> Tensor:
    """An ``(n, m)`` matrix (``m`` defaults to ``n``) with ones on the diagonal.

    >>> tapegrad.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    _check_args("eye", dtype, device)
    for name, v in (("n", n), ("m", m)):
        if v is not None and not isinstance(v, numbers.Integral):
            raise TypeError(f"eye(): argument '{name}' must be int, not {type(v).__name__}")
    m = n if m is None else m
    for name, v in (("n", n), ("m", m)):
        if v < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {v}")
    return _finish(xp.eye(n, m, dtype=_float_dtype(dtype, "eye").np), requires_grad, device)


# =========================================================================== random
def _rand_array(rng, shape, d, kind):
    fd = d.np if d.np in (xp.float32, xp.float64) else xp.float32
    arr = rng.random(shape, dtype=fd) if kind == "uniform" else rng.standard_normal(shape, dtype=fd)
    return arr.astype(d.np, copy=False)


def rand(*size: _ShapeArg, generator: Generator | None = None, dtype: dtype | None = None,
         device: _DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) of the given shape (default dtype float32).

    >>> tapegrad.rand(2, 3).shape
    torch.Size([2, 3])
    """
    _check_args("rand", dtype, device)
    d = _float_dtype(dtype, "rand")
    return _finish(_rand_array(_rng(generator), _size(size, "rand"), d, "uniform"), requires_grad, device)


def randn(*size: _ShapeArg, generator: Generator | None = None, dtype: dtype | None = None,
          device: _DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples (mean 0, std 1) of the given shape (default dtype float32).

    >>> tapegrad.randn((4,), generator=tapegrad.Generator().manual_seed(0)).shape
    torch.Size([4])
    """
    _check_args("randn", dtype, device)
    d = _float_dtype(dtype, "randn")
    return _finish(_rand_array(_rng(generator), _size(size, "randn"), d, "normal"), requires_grad, device)


def rand_like(input: Tensor, *, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples with the shape (and, unless given, the dtype) of ``input``.

    >>> tapegrad.rand_like(tapegrad.zeros(2, 2)).shape
    torch.Size([2, 2])
    """
    return rand(*input.shape, dtype=_like(input, dtype, "rand_like"), requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples with the shape (and, unless given, the dtype) of ``input``.

    >>> tapegrad.randn_like(tapegrad.zeros(3)).shape
    torch.Size([3])
    """
    return randn(*input.shape, dtype=_like(input, dtype, "randn_like"), requires_grad=requires_grad)


def randint(low: int = 0, high: int | Sequence[int] | None = None, size: _ShapeArg | None = None, *,
            generator: Generator | None = None, dtype: dtype | None = None, device: _DeviceLike = None,
            requires_grad: bool = False) -> Tensor:
    """Integers in ``[low, high)``; ``randint(high, size)`` and ``randint(low, high, size)``.

    The result has shape ``size`` and dtype int64 unless ``dtype`` is given.

    >>> x = tapegrad.randint(3, 10, (2, 5)); x.shape, x.dtype
    (torch.Size([2, 5]), torch.int64)
    """
    _check_args("randint", dtype, device)
    if size is None:
        if isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            raise TypeError("randint() missing required argument 'size'")
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    arr = _rng(generator).integers(low, high, size=_size(size, "randint"), dtype=xp.int64).astype(d.np)
    return _finish(arr, requires_grad, device)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *,
                 dtype: dtype | None = None) -> Tensor:
    """Integers in ``[low, high)`` (or ``[0, low)``) with the shape of ``input``.

    >>> tapegrad.randint_like(tapegrad.zeros(2, 3), 5).shape
    torch.Size([2, 3])
    """
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=_like(input, dtype, "randint_like"))


def randperm(n: int, *, generator: Generator | None = None, dtype: dtype | None = None,
             device: _DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1``: shape ``(n,)``, int64 by default.

    >>> sorted(tapegrad.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    _check_args("randperm", dtype, device)
    if not isinstance(n, numbers.Integral):
        raise TypeError(f"randperm(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    return _finish(_rng(generator).permutation(n).astype(d.np), requires_grad, device)


def normal(mean: float | Tensor = 0.0, std: float | Tensor = 1.0, size: _ShapeArg | None = None, *,
           generator: Generator | None = None, dtype: dtype | None = None,
           requires_grad: bool = False) -> Tensor:
    """Normal samples: ``normal(mean, std, size)`` with floats, or elementwise tensor mean/std.

    With tensors the shape is that of ``mean`` and ``std`` broadcast together; with floats
    it is ``size`` (a 0-d tensor without it).

    >>> tapegrad.normal(tapegrad.zeros(3), 1.0).shape
    torch.Size([3])
    """
    rng = _rng(generator)
    for key, v in (("mean", mean), ("std", std)):
        if not isinstance(v, (Tensor, int, float)):
            raise TypeError(f"normal(): argument '{key}' must be Tensor or float, not {type(v).__name__}")
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean._data if isinstance(mean, Tensor) else mean
        s = std._data if isinstance(std, Tensor) else std
        ref = mean if isinstance(mean, Tensor) else std
        err = B.broadcast_error([xp.shape(m), xp.shape(s)])
        if err is not None:
            raise err
        shape = xp.broadcast_shapes(xp.shape(m), xp.shape(s))
        z = rng.standard_normal(shape)
        return _finish((m + s * z).astype(ref._data.dtype), requires_grad)
    if size is None:
        size = ()
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    d = _float_dtype(dtype, "normal")
    z = _rand_array(rng, _size((size,), "normal"), d, "normal")
    return _finish((mean + std * z).astype(d.np), requires_grad)


def bernoulli(input: Tensor, p: float | None = None, *, generator: Generator | None = None) -> Tensor:
    """0/1 draws, 1 with probability ``input`` elementwise (or ``p``): the shape and dtype of ``input``.

    >>> tapegrad.bernoulli(tapegrad.tensor([0., 1.]))
    tensor([0., 1.])
    """
    check_tensor(input, "bernoulli")
    if p is not None and not isinstance(p, (int, float)):
        raise TypeError(f"bernoulli(): argument 'p' must be float, not {type(p).__name__}")
    probs = input._data if p is None else xp.full(input._data.shape, p)
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    u = _rng(generator).random(input._data.shape)
    return Tensor._wrap((u < probs).astype(input._data.dtype))


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None) -> Tensor:
    """Draw indices with probabilities proportional to the rows of ``input``.

    ``input`` of shape ``(k,)`` or ``(n, k)`` gives int64 indices of shape ``(num_samples,)``
    or ``(n, num_samples)``.

    >>> tapegrad.multinomial(tapegrad.tensor([0., 1., 0.]), 2, replacement=True)
    tensor([1, 1])
    """
    rng = _rng(generator)
    check_tensor(input, "multinomial")
    if not isinstance(num_samples, numbers.Integral):
        raise TypeError(f"multinomial(): argument 'num_samples' (position 2) must be int, "
                        f"not {type(num_samples).__name__}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    p = input._data.astype(xp.float64)
    if p.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if (p < 0).any() or not xp.isfinite(p).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    rows = p.reshape(-1, p.shape[-1])
    out = []
    for row in rows:
        total = row.sum()
        if total <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > (row > 0).sum():
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        out.append(rng.choice(len(row), size=num_samples, replace=replacement, p=row / total))
    arr = xp.asarray(out, dtype=xp.int64)
    return Tensor._wrap(arr.reshape(p.shape[:-1] + (num_samples,)))


def poisson(input: Tensor, generator: Generator | None = None) -> Tensor:
    """Poisson draws with rate ``input`` elementwise: the shape and dtype of ``input``.

    >>> tapegrad.poisson(tapegrad.zeros(3))
    tensor([0., 0., 0.])
    """
    return Tensor._wrap(_rng(generator).poisson(input._data).astype(input._data.dtype))

"""PyTorch checkpoints (``torch.save`` / ``torch.load``) with NumPy only.

The on-disk format is PyTorch's: a zip archive holding ``<archive>/data.pkl``
(a protocol-2 pickle that refers to tensor storages through persistent ids)
and one raw little-endian record ``<archive>/data/<key>`` per storage.  The
pre-1.6 "legacy" stream format (several pickles followed by raw storages) is
read as well.

Loading never imports torch and never runs code from the file: the pickle is
replayed by a restricted unpickler whose globals come from an explicit
allow-list (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``
and friends, storage types, dtypes, ``torch.Size``...), each mapped to a small
safe implementation here.  Everything else raises :class:`UnpicklingRefused`.

Dtype notes: NumPy has no bfloat16, so bfloat16 tensors load as float32
(exactly: every bfloat16 value is a float32 value).  float8, complex32,
quantized, sparse and nested tensors raise ``NotImplementedError`` or are
refused.  Tensors load onto the CPU whatever device they were saved from.
"""
from __future__ import annotations

import codecs
import contextlib
import io
import itertools
import os
import pickle
import secrets
import stat
import struct
import sys
import zipfile
import zlib
from collections import OrderedDict
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import _adapter

if TYPE_CHECKING:
    from collections.abc import Callable

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = [
    "save",
    "load",
    "CheckpointError",
    "UnpicklingRefused",
    "MAX_DECOMPRESSED_SIZE",
    "MAX_COMPRESSION_RATIO",
]


class CheckpointError(RuntimeError):
    """A file that is truncated, corrupt, or not a PyTorch checkpoint at all."""


class UnpicklingRefused(pickle.UnpicklingError):
    """The checkpoint asked for something other than tensors and plain containers."""


# --------------------------------------------------------------------------
# dtypes


class _DType(NamedTuple):
    name: str  # torch's name, without the "torch." prefix
    storage: str | None  # legacy typed-storage class; None where torch pickles untyped storage
    disk: str | None  # NumPy type of one element on disk (byte order added later); None: unreadable
    itemsize: int


_DTYPE_LIST = [
    _DType("float64", "DoubleStorage", "f8", 8),
    _DType("float32", "FloatStorage", "f4", 4),
    _DType("float16", "HalfStorage", "f2", 2),
    _DType("bfloat16", "BFloat16Storage", "u2", 2),  # widened to float32 on load
    _DType("int64", "LongStorage", "i8", 8),
    _DType("int32", "IntStorage", "i4", 4),
    _DType("int16", "ShortStorage", "i2", 2),
    _DType("int8", "CharStorage", "i1", 1),
    _DType("uint8", "ByteStorage", "u1", 1),
    _DType("bool", "BoolStorage", "b1", 1),
    _DType("complex128", "ComplexDoubleStorage", "c16", 16),
    _DType("complex64", "ComplexFloatStorage", "c8", 8),
    # torch pickles these newer dtypes against an untyped (byte) storage
    # plus an explicit dtype, through _rebuild_tensor_v3.
    _DType("uint16", None, "u2", 2),
    _DType("uint32", None, "u4", 4),
    _DType("uint64", None, "u8", 8),
    # Known to torch but not representable here: recognised so that the
    # error says "unsupported dtype" rather than "refused global".
    _DType("complex32", None, None, 4),
    _DType("qint8", "QInt8Storage", None, 1),
    _DType("qint32", "QInt32Storage", None, 4),
    _DType("quint8", "QUInt8Storage", None, 1),
    _DType("quint4x2", "QUInt4x2Storage", None, 1),
    _DType("quint2x4", "QUInt2x4Storage", None, 1),
    _DType("float8_e4m3fn", None, None, 1),
    _DType("float8_e5m2", None, None, 1),
    _DType("float8_e4m3fnuz", None, None, 1),
    _DType("float8_e5m2fnuz", None, None, 1),
    _DType("float8_e8m0fnu", None, None, 1),
    _DType("float4_e2m1fn_x2", None, None, 1),
    _DType("bits8", None, None, 1),
    _DType("bits16", None, None, 2),
    _DType("bits1x8", None, None, 1),
    _DType("bits2x4", None, None, 1),
    _DType("bits4x2", None, None, 1),
]
_DTYPES = {d.name: d for d in _DTYPE_LIST}
_BY_STORAGE = {d.storage: d for d in _DTYPE_LIST if d.storage}
_UINT8 = _DTYPES["uint8"]
# (kind, itemsize) of a NumPy dtype -> torch dtype, for saving
_FROM_NUMPY = {
    (np.dtype(d.disk).kind, d.itemsize): d
    for d in _DTYPE_LIST
    if d.disk is not None and d.name != "bfloat16"
}


def _memory_dtype(dt: _DType) -> np.dtype:
    """The native NumPy dtype a loaded tensor of torch dtype ``dt`` has."""
    if dt.name == "bfloat16":
        return np.dtype(np.float32)
    return np.dtype(dt.disk).newbyteorder("=")


class _TorchOnlyDType:
    """Loaded value of a pickled torch dtype that NumPy cannot represent."""

    __slots__ = ("dt",)

    def __init__(self, dt: _DType):
        self.dt = dt

    def __repr__(self):
        return f"torch.{self.dt.name}"


def _dtype_value(dt: _DType):
    # Plain dtypes come back as np.dtype, which tapegrad's dtype functions accept.
    if dt.name == "bfloat16" or dt.disk is None:
        return _TorchOnlyDType(dt)
    return _memory_dtype(dt)


def _dtype_from_value(value) -> _DType:
    if isinstance(value, _TorchOnlyDType):
        return value.dt
    if isinstance(value, np.dtype):
        dt = _FROM_NUMPY.get((value.kind, value.itemsize))
        if dt is not None:
            return dt
    raise CheckpointError(f"expected a torch dtype, got {value!r}")


def _require_readable(dt: _DType) -> None:
    if dt.disk is None:
        raise NotImplementedError(
            f"tapegrad.load cannot read tensors of dtype torch.{dt.name}: NumPy has no such type"
            " (convert it in PyTorch first, e.g. tensor.float())"
        )


# --------------------------------------------------------------------------
# loading: storages and tensor rebuilding

_PICKLE_MAGIC = 0x1950A86A20F9469CFC6C  # legacy format's first pickle
_LEGACY_PROTOCOL = 1001
_READ_CHUNK = 1 << 24  # bounds the temporary copies made while reading a record

# Loading limits.  Stored entries (all that torch writes) cost what the file
# holds; only compressed entries can make memory grow faster than the file,
# so they are capped in total size and in ratio.
MAX_DECOMPRESSED_SIZE = 1 << 30
MAX_COMPRESSION_RATIO = 100
_RATIO_FLOOR = 1 << 20  # entries inflating to less than this are never a bomb
_MAX_NESTING = 100  # containers deeper than this break repr/save/hash (C recursion)
_MAX_BYTEORDER = 16  # b"little" or b"big", perhaps with a newline


# Exact types: the walk below must not iterate tensors or other objects.
_CONTAINERS = frozenset({tuple, list, dict, OrderedDict, set, frozenset})


def _children(obj):
    if isinstance(obj, dict):
        yield from obj.keys()
        yield from obj.values()
        # a state_dict's ``_metadata`` arrives as an OrderedDict attribute (BUILD)
        yield from getattr(obj, "__dict__", {}).values()
    else:
        yield from obj


def _check_nesting(obj, name: str) -> None:
    """Refuse a loaded object whose containers nest more than ``_MAX_NESTING`` levels.

    Deep nesting is legal pickle, but repr, ``==``, hashing and saving the
    object again all recurse once per level.  The walk is iterative and
    visits each container once: a shared sub-object's height is remembered
    (so a DAG costs its size, not its number of paths) and cycles are cut.
    """
    if type(obj) not in _CONTAINERS:
        return
    too_deep = CheckpointError(f"{name!r} nests containers more than {_MAX_NESTING} levels deep")
    heights: dict[int, int] = {}  # id of a finished container -> levels from it down
    on_path = {id(obj)}
    stack = [(obj, _children(obj))]
    tallest = [0]  # per stack entry: the tallest finished child so far
    while stack:
        node, children = stack[-1]
        for child in children:
            if type(child) not in _CONTAINERS or id(child) in on_path:
                continue
            height = heights.get(id(child))
            if height is None:  # descend into it
                if len(stack) == _MAX_NESTING:
                    raise too_deep
                on_path.add(id(child))
                stack.append((child, _children(child)))
                tallest.append(0)
                break
            if len(stack) + height > _MAX_NESTING:
                raise too_deep
            tallest[-1] = max(tallest[-1], height)
        else:  # every child seen: ``node`` is finished
            stack.pop()
            on_path.discard(id(node))
            height = tallest.pop() + 1
            heights[id(node)] = height
            if tallest:
                tallest[-1] = max(tallest[-1], height)


class _StorageType(NamedTuple):
    """Loaded value of ``torch.FloatStorage`` & co. (only ever used in persistent ids)."""

    dt: _DType
    untyped: bool


class _RawStorage:
    """Bytes of one storage record; decoded per dtype once so every view shares memory."""

    __slots__ = ("key", "raw", "big_endian", "_decoded")

    def __init__(self, key: str, raw: np.ndarray, big_endian: bool):
        self.key = key
        self.raw = raw
        self.big_endian = big_endian
        self._decoded: dict[str, np.ndarray] = {}

    def typed(self, dt: _DType) -> np.ndarray:
        arr = self._decoded.get(dt.name)
        if arr is None:
            disk = np.dtype(dt.disk).newbyteorder(">" if self.big_endian else "<")
            n = self.raw.nbytes // dt.itemsize
            arr = self.raw[: n * dt.itemsize].view(disk)
            if dt.name == "bfloat16":
                # bfloat16 is the top half of a float32: widening is exact.
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            elif not arr.dtype.isnative:
                arr = arr.astype(arr.dtype.newbyteorder("="))
            self._decoded[dt.name] = arr
        return arr


class _StorageRef(NamedTuple):
    """What persistent_load hands to the rebuild functions."""

    storage: _RawStorage | None  # None during the legacy reader's first pass
    dt: _DType
    numel: int  # in elements of dt
    offset: int  # in elements of dt; nonzero only for legacy storage views


class _Marker:
    """Loaded value of ``torch.Tensor`` / ``torch.nn.Parameter``: only usable as a type tag."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<{self.name} (placeholder: tapegrad.load does not rebuild torch classes)>"


_TENSOR_CLASS = _Marker("torch.Tensor")
_PARAMETER_CLASS = _Marker("torch.nn.Parameter")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _int_tuple(x, what: str) -> tuple:
    if not isinstance(x, (tuple, list)) or not all(_is_int(v) for v in x):
        raise CheckpointError(f"tensor {what} must be a tuple of ints, got {x!r}")
    return tuple(x)


def _torch_size(seq=()):
    return _int_tuple(seq, "size")


def _torch_device(kind, index=None):
    if not isinstance(kind, str) or not (index is None or _is_int(index)):
        raise CheckpointError(f"bad torch.device arguments {(kind, index)!r}")
    return kind if index is None or ":" in kind else f"{kind}:{index}"


_LATIN1 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"}


def _codecs_encode(s="", encoding="utf-8", errors="strict"):
    # Protocol-2 pickles spell bytes as _codecs.encode(str, "latin1").
    if not isinstance(s, str) or not isinstance(encoding, str) or errors != "strict":
        raise CheckpointError("_codecs.encode is only allowed on a str (pickled bytes)")
    if encoding.lower() not in _LATIN1 and encoding.lower() not in {"utf-8", "utf8", "ascii"}:
        raise CheckpointError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(s, encoding)


def _safe_bytearray(*args):
    # bytearray(10**12) would be a one-opcode memory bomb; pickles only ever
    # pass the contents.
    if not args:
        return bytearray()
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return bytearray(args[0])
    if len(args) == 2 and isinstance(args[0], str):
        return bytearray(_codecs_encode(args[0], args[1]))
    raise CheckpointError("bytearray is only allowed with bytes or (str, encoding) arguments")


def _safe_bytes(*args):
    # torch.save writes b"" as builtins.bytes() (which torch's own weights-only
    # loader then refuses); accept it, but never bytes(<huge int>).
    if not args:
        return b""
    return bytes(_safe_bytearray(*args))


_UNSUPPORTED_TORCH = {
    "torch._utils._rebuild_sparse_tensor": "sparse tensors are not supported",
    "torch._utils._rebuild_qtensor": "quantized tensors are not supported",
    "torch._utils._rebuild_nested_tensor": "nested tensors are not supported",
    "torch._utils._rebuild_meta_tensor_no_storage": "meta tensors have no data to load",
    "torch._utils._rebuild_wrapper_subclass": "tensor subclasses are not supported",
    "torch._utils._rebuild_device_tensor_from_numpy": "device tensors pickled via NumPy are not supported",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor": "device tensors are not supported",
    "torch.serialization._get_layout": "sparse tensors are not supported",
}

# Classes that pickle may instantiate directly (NEWOBJ/INST/OBJ) in weights-only mode.
_CONSTRUCTIBLE = (OrderedDict, set, complex)


class _Unpickler(pickle._Unpickler):  # the pure-Python one: its opcodes can be overridden
    """Restricted unpickler: globals, calls and BUILD only on an allow-list."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, loader: _Loader):
        super().__init__(file, encoding="utf-8")
        self._loader = loader
        self._granted: set[int] = set()
        # id -> (nesting depth, the object itself, kept alive so its id stays unique)
        self._depths: dict[int, tuple[int, object]] = {}

    def load(self):
        obj = super().load()
        _check_nesting(obj, self._loader.name)
        return obj

    # Hashing a tuple recurses in C without a depth guard: a one-megabyte
    # pickle of nested 1-tuples used as a dict key crashes the interpreter.
    # Tuples and frozensets are immutable, so their depth is known the moment
    # an opcode builds them; refuse deep ones before anything hashes them.

    def _track_depth(self):
        obj = self.stack[-1]
        depth = 1 + max((self._depths.get(id(item), (0,))[0] for item in obj), default=0)
        if depth > _MAX_NESTING:
            raise CheckpointError(
                f"{self._loader.name!r} nests tuples more than {_MAX_NESTING} levels deep"
            )
        self._depths[id(obj)] = (depth, obj)

    def _depth_tracked(base):
        def load_and_track(self):
            base(self)
            self._track_depth()

        return load_and_track

    for _op in (pickle.TUPLE, pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3, pickle.FROZENSET):
        dispatch[_op[0]] = _depth_tracked(pickle._Unpickler.dispatch[_op[0]])
    del _op, _depth_tracked

    def find_class(self, module, name):
        module, name = _py2_names(module, name)
        loader = self._loader
        obj = loader.globals.get((module, name), _MISSING)
        if obj is _MISSING:
            full = f"{module}.{name}"
            if full in _UNSUPPORTED_TORCH:
                raise UnpicklingRefused(
                    f"tapegrad.load cannot load {full!r} from {loader.name!r}: "
                    f"{_UNSUPPORTED_TORCH[full]}"
                )
            if loader.weights_only or module == "torch" or module.startswith("torch."):
                hint = ""
                if module == "torch" or module.startswith("torch."):
                    hint = (
                        "; rebuilding it would need PyTorch itself (save a state_dict of tensors"
                        " instead of modules or other torch objects)"
                    )
                raise UnpicklingRefused(
                    f"tapegrad.load refused to unpickle {full!r}: only tensors and plain "
                    f"containers are allowed (while loading {loader.name!r}){hint}"
                )
            obj = super().find_class(module, name)
        self._granted.add(id(obj))
        return obj

    def persistent_load(self, pid):
        return self._loader.persistent_load(pid)

    # The overrides below only bite in weights-only mode; with weights_only=False
    # the file is trusted and pickle's own behaviour applies.

    def load_reduce(self):
        if self._loader.weights_only and id(self.stack[-2]) not in self._granted:
            raise UnpicklingRefused(
                f"tapegrad.load refused to call {self.stack[-2]!r} while loading "
                f"{self._loader.name!r}: only allow-listed functions may be called"
            )
        super().load_reduce()

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _check_constructible(self, cls):
        if self._loader.weights_only and not any(cls is c for c in _CONSTRUCTIBLE):
            raise UnpicklingRefused(
                f"tapegrad.load refused to construct {cls!r} while loading {self._loader.name!r}:"
                " only tensors and plain containers are allowed"
            )

    def _instantiate(self, klass, args):
        self._check_constructible(klass)
        super()._instantiate(klass, args)

    def load_newobj(self):
        self._check_constructible(self.stack[-2])
        super().load_newobj()

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self):
        self._check_constructible(self.stack[-3])
        super().load_newobj_ex()

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_build(self):
        if not self._loader.weights_only:
            return super().load_build()
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(state, tuple) and len(state) == 2 and not state[1]:
            state = state[0]
        # torch's state_dict() stores its ``_metadata`` (module versions) as an
        # attribute of the OrderedDict; that is the one BUILD a checkpoint needs.
        # Dunder names are excluded: an instance ``__reduce_ex__`` would be
        # called by the next save of the loaded object.
        if (
            type(inst) is OrderedDict
            and isinstance(state, dict)
            and all(isinstance(k, str) and not (k.startswith("__") and k.endswith("__")) for k in state)
        ):
            inst.__dict__.update(state)
            return
        raise UnpicklingRefused(
            f"tapegrad.load refused to set state on a {type(inst).__name__} while loading "
            f"{self._loader.name!r}: only OrderedDict attributes are allowed"
        )

    dispatch[pickle.BUILD[0]] = load_build

    # Container opcodes call .append/.extend/__setitem__/.add on whatever is on
    # the stack; keep them on real containers so a file cannot drive methods
    # of rebuilt tensors (Tensor.add, __setitem__, ...).

    def _check_container(self, obj, kinds, what):
        if self._loader.weights_only and not isinstance(obj, kinds):
            raise UnpicklingRefused(
                f"tapegrad.load refused to {what} a {type(obj).__name__} while loading "
                f"{self._loader.name!r}: only plain containers may be filled"
            )

    def _under_mark(self):
        if not self.metastack or not self.metastack[-1]:
            raise pickle.UnpicklingError("container opcode without a container")
        return self.metastack[-1][-1]

    def load_append(self):
        self._check_container(self.stack[-2], list, "append to")
        super().load_append()

    dispatch[pickle.APPEND[0]] = load_append

    def load_appends(self):
        self._check_container(self._under_mark(), list, "append to")
        super().load_appends()

    dispatch[pickle.APPENDS[0]] = load_appends

    def load_setitem(self):
        self._check_container(self.stack[-3], dict, "set items of")
        super().load_setitem()

    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self):
        self._check_container(self._under_mark(), dict, "set items of")
        super().load_setitems()

    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_additems(self):
        self._check_container(self._under_mark(), set, "add items to")
        super().load_additems()

    dispatch[pickle.ADDITEMS[0]] = load_additems

    def load_bytearray8(self):
        # pickle allocates the declared length before reading it: an 8-byte
        # lie would be a memory bomb.  Read first (reads are bounded), then copy.
        (n,) = struct.unpack("<Q", self.read(8))
        data = self.read(n)
        if len(data) != n:
            raise pickle.UnpicklingError("pickle data was truncated")
        self.append(bytearray(data))

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


_MISSING = object()


def _py2_names(module, name):
    # Protocol-2 pickles (torch's default) spell builtins as __builtin__.
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    if (module, name) in NAME_MAPPING:
        return NAME_MAPPING[(module, name)]
    return IMPORT_MAPPING.get(module, module), name


class _UserCodeError(Exception):
    """Carries a map_location callable's exception (its __cause__) past the corruption handler."""


class _Loader:
    """State of one ``load`` call: where storages come from and how tensors are rebuilt."""

    def __init__(self, name: str, map_location, weights_only: bool):
        self.name = name
        self.map_location = map_location
        self.weights_only = weights_only
        self.big_endian = False
        self.dry_run = False  # legacy format: first pass only records storage declarations
        self.read_record = None  # zip format: (key, nbytes) -> uint8 array
        self.storages: dict[str, _RawStorage] = {}
        self.declared: dict[str, tuple[_DType, int, str]] = {}  # legacy: key -> (dtype, numel, location)
        self.views: dict[str, tuple[str, int, int]] = {}  # legacy storage views
        self.globals = self._make_globals()

    def _make_globals(self) -> dict:
        g: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): OrderedDict,
            ("torch._utils", "_rebuild_tensor"): self.rebuild_tensor,
            ("torch._utils", "_rebuild_tensor_v2"): self.rebuild_tensor_v2,
            ("torch._utils", "_rebuild_tensor_v3"): self.rebuild_tensor_v3,
            ("torch._utils", "_rebuild_parameter"): self.rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): self.rebuild_parameter_with_state,
            ("torch._tensor", "_rebuild_from_type_v2"): self.rebuild_from_type_v2,
            ("torch", "Tensor"): _TENSOR_CLASS,
            ("torch._tensor", "Tensor"): _TENSOR_CLASS,
            ("torch.nn.parameter", "Parameter"): _PARAMETER_CLASS,
            ("torch", "Size"): _torch_size,
            ("torch", "device"): _torch_device,
            ("_codecs", "encode"): _codecs_encode,
            ("builtins", "set"): set,
            ("builtins", "bytearray"): _safe_bytearray,
            ("builtins", "bytes"): _safe_bytes,
            ("builtins", "complex"): complex,
            ("torch", "UntypedStorage"): _StorageType(_UINT8, True),
            ("torch.storage", "UntypedStorage"): _StorageType(_UINT8, True),
        }
        for dt in _DTYPE_LIST:
            g[("torch", dt.name)] = _dtype_value(dt)
            if dt.storage:
                g[("torch", dt.storage)] = _StorageType(dt, False)
                g[("torch.cuda", dt.storage)] = _StorageType(dt, False)
        return g

    # -- storages -------------------------------------------------------

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid:
            raise CheckpointError(f"unexpected persistent id {pid!r}")
        typename = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if typename != "storage":
            raise UnpicklingRefused(
                f"tapegrad.load refused persistent object {typename!r} while loading "
                f"{self.name!r}: only tensor storages are allowed"
            )
        if len(pid) == 5:  # zip format
            stype, key, location, numel = pid[1:]
            view = None
        elif len(pid) == 6:  # legacy format
            stype, key, location, numel, view = pid[1:]
        else:
            raise CheckpointError(f"malformed storage id {pid!r}")
        if not isinstance(stype, _StorageType):
            raise CheckpointError(f"storage id names {stype!r}, not a storage type")
        if isinstance(location, bytes):
            location = location.decode("ascii")
        if not isinstance(key, str) or not isinstance(location, str) or not _is_int(numel) or numel < 0:
            raise CheckpointError(f"malformed storage id {pid!r}")
        dt = stype.dt
        if self.dry_run:
            old = self.declared.get(key)
            if old is not None and old[0] != dt:
                raise CheckpointError(f"storage {key!r} is declared with two dtypes")
            self.declared[key] = (dt, max(numel, old[1] if old else 0), location)
            if view is not None:
                self._record_view(key, dt, numel, view)
            return _StorageRef(None, dt, numel, 0)

        if self.read_record is not None:
            storage = self._zip_storage(key, numel * dt.itemsize, location)
        else:
            storage = self.storages.get(key)
            if storage is None:
                raise CheckpointError(f"storage {key!r} has no data")
        if view is not None:  # legacy storage view, validated by the first pass
            _, offset, size = view
            return _StorageRef(storage, dt, size, offset)
        return _StorageRef(storage, dt, numel, 0)

    def _record_view(self, root_key, dt, root_numel, view):
        if not (isinstance(view, tuple) and len(view) == 3):
            raise CheckpointError(f"malformed storage view {view!r}")
        view_key, offset, size = view
        if not (isinstance(view_key, str) and _is_int(offset) and _is_int(size)):
            raise CheckpointError(f"malformed storage view {view!r}")
        if offset < 0 or size < 0 or offset + size > root_numel:
            raise CheckpointError(f"storage view {view!r} lies outside storage {root_key!r}")
        self.views[view_key] = (root_key, offset, size)

    def _zip_storage(self, key: str, nbytes: int, location: str) -> _RawStorage:
        storage = self.storages.get(key)
        if storage is None:
            raw = self.read_record(key, nbytes)
            self._apply_map_location(raw, location)
            storage = self.storages[key] = _RawStorage(key, raw, self.big_endian)
        elif storage.raw.nbytes < nbytes:
            raise CheckpointError(f"storage {key!r} is referenced with inconsistent sizes")
        return storage

    def _apply_map_location(self, raw, location):
        ml = self.map_location
        if callable(ml):
            # The common idiom ``lambda storage, loc: storage`` just means
            # "load on the CPU", which is all tapegrad does anyway.
            try:
                out = ml(raw, location)
            except Exception as e:
                raise _UserCodeError() from e
            if out is not None and out is not raw:
                raise _UserCodeError() from ValueError(
                    "tapegrad.load: a map_location callable must return the storage it was given"
                    " (or None); tapegrad tensors always live on the CPU"
                )

    # -- tensors --------------------------------------------------------

    def _array(self, ref: _StorageRef, dt: _DType, offset, size, stride) -> np.ndarray:
        if not isinstance(ref, _StorageRef):
            raise CheckpointError(f"expected a storage, got {type(ref).__name__}")
        size = _int_tuple(size, "size")
        stride = _int_tuple(stride, "stride")
        if not _is_int(offset) or offset < 0 or len(size) != len(stride):
            raise CheckpointError(f"bad tensor geometry: offset={offset!r} size={size} stride={stride}")
        if any(n < 0 for n in size) or any(s < 0 for s in stride):
            raise CheckpointError(f"negative size or stride: size={size} stride={stride}")
        _require_readable(dt)
        mem = _memory_dtype(dt)
        if 0 in size:
            return np.zeros(size, dtype=mem)
        # A view's elements are counted in dt; storage views add their offset.
        if ref.dt.itemsize != dt.itemsize:  # v3: untyped (byte) storage reinterpreted
            base_bytes = ref.offset * ref.dt.itemsize
            if base_bytes % dt.itemsize:
                raise CheckpointError("storage offset is not a multiple of the element size")
            start = base_bytes // dt.itemsize + offset
            avail = (ref.offset + ref.numel) * ref.dt.itemsize // dt.itemsize
        else:
            start = ref.offset + offset
            avail = ref.offset + ref.numel
        last = start + sum((n - 1) * s for n, s in zip(size, stride, strict=False))
        typed = ref.storage.typed(dt)
        if last >= min(avail, typed.shape[0]):
            raise CheckpointError(
                f"tensor of size {size}, stride {stride}, offset {offset} reads element {last} "
                f"of storage {ref.storage.key!r}, which holds {min(avail, typed.shape[0])}"
            )
        # np.ndarray(buffer=...) keeps ``typed``'s memory (the record) as base,
        # so tensors of one storage share memory and re-save as one storage.
        return np.ndarray(
            size, dtype=mem, buffer=typed, offset=start * mem.itemsize,
            strides=tuple(s * mem.itemsize for s in stride),
        )

    def _tensor(self, ref, dt, offset, size, stride, requires_grad, metadata=None):
        if not isinstance(requires_grad, bool):
            raise CheckpointError(f"requires_grad must be a bool, got {requires_grad!r}")
        arr = self._array(ref, dt, offset, size, stride)
        if metadata:
            if not isinstance(metadata, dict) or set(metadata) - {"conj", "neg"}:
                raise NotImplementedError(f"tapegrad.load does not understand tensor metadata {metadata!r}")
            # conj/neg are lazy bits on a torch view: materialise them (this copy
            # no longer shares memory with the storage).
            if metadata.get("conj"):
                arr = np.conj(arr)
            if metadata.get("neg"):
                arr = np.negative(arr)
        return _adapter.from_numpy(arr, requires_grad=requires_grad)

    def rebuild_tensor(self, storage, storage_offset, size, stride):
        if self.dry_run:
            return None
        return self._tensor(storage, _ref_dtype(storage), storage_offset, size, stride, False)

    def rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad,
                          backward_hooks, metadata=None):
        if self.dry_run:
            return None
        return self._tensor(storage, _ref_dtype(storage), storage_offset, size, stride,
                            requires_grad, metadata)

    def rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad,
                          backward_hooks, dtype, metadata=None):
        if self.dry_run:
            return None
        return self._tensor(storage, _dtype_from_value(dtype), storage_offset, size, stride,
                            requires_grad, metadata)

    def rebuild_parameter(self, data, requires_grad, backward_hooks):
        if self.dry_run:
            return None
        if not _adapter.is_tensor(data) or not isinstance(requires_grad, bool):
            raise CheckpointError("malformed Parameter in checkpoint")
        return _adapter.from_numpy(_adapter.to_numpy(data), requires_grad=requires_grad, parameter=True)

    def rebuild_parameter_with_state(self, data, requires_grad, backward_hooks, state):
        # Python attributes stored on a Parameter are dropped: setting arbitrary
        # attributes from a file is exactly what weights-only loading avoids.
        return self.rebuild_parameter(data, requires_grad, backward_hooks)

    def rebuild_from_type_v2(self, func, new_type, args, state):
        if self.dry_run:
            return None
        rebuilders = (self.rebuild_tensor, self.rebuild_tensor_v2, self.rebuild_tensor_v3,
                      self.rebuild_parameter, self.rebuild_parameter_with_state)
        if func not in rebuilders or new_type not in (_TENSOR_CLASS, _PARAMETER_CLASS):
            raise UnpicklingRefused(
                f"tapegrad.load refused to rebuild a {new_type!r} while loading {self.name!r}:"
                " tensor subclasses are not supported"
            )
        if not isinstance(args, tuple):
            raise CheckpointError("malformed tensor arguments")
        t = func(*args)
        if new_type is _PARAMETER_CLASS and not _adapter.is_parameter(t):
            t = _adapter.from_numpy(_adapter.to_numpy(t), requires_grad=_adapter.requires_grad(t),
                                    parameter=True)
        return t


def _ref_dtype(ref) -> _DType:
    if not isinstance(ref, _StorageRef):
        raise CheckpointError(f"expected a storage, got {type(ref).__name__}")
    return ref.dt


# --------------------------------------------------------------------------
# loading: file formats


def _byte_view(arr) -> memoryview:
    """Flat byte view of a contiguous array (memoryview cannot cast empty ones)."""
    if isinstance(arr, (bytes, bytearray)):
        return memoryview(arr)
    if arr.nbytes == 0:
        return memoryview(b"")
    return memoryview(arr.reshape(-1)).cast("B")


def _read_exact_into(src, out: np.ndarray, what: str) -> None:
    if out.nbytes == 0:
        return
    view = _byte_view(out)
    got, total = 0, view.nbytes
    while got < total:
        n = src.readinto(view[got: got + _READ_CHUNK])
        if not n:
            raise CheckpointError(f"{what} is truncated ({got} of {total} bytes present)")
        got += n


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then name and extra lengths


class _ZipArchive:
    """A torch zip archive whose directory has been checked before any entry is read.

    ``zipfile`` trusts the sizes in the central directory and lets later
    entries with the same name shadow earlier ones.  Here every entry must
    have a unique name, lie inside the archive without overlapping another,
    store exactly its declared size (stored) or inflate within the ratio
    and total caps (deflated), so reading never allocates more than the
    file justifies.
    """

    def __init__(self, fh, name: str, max_decompressed_size, max_compression_ratio):
        self.name = name
        self._budget = max_decompressed_size
        self._ratio = max_compression_ratio
        try:
            self.zf = zipfile.ZipFile(fh)
        except zipfile.BadZipFile as e:
            raise CheckpointError(f"{name!r} is a truncated or corrupt zip archive ({e})") from e
        try:
            self._check_directory(fh)
        except BaseException:
            self.zf.close()
            raise

    def _check_directory(self, fh) -> None:
        name = self.name
        seen: set[str] = set()
        for info in self.zf.infolist():
            if info.filename in seen:
                raise CheckpointError(
                    f"{name!r} holds two zip entries named {info.filename!r}; refusing an archive "
                    "whose readers could disagree on which one counts"
                )
            seen.add(info.filename)
        end = getattr(self.zf, "start_dir", None)
        if end is None:
            end = fh.seek(0, io.SEEK_END)
        extents = []
        for info in self.zf.infolist():
            head = b""
            if 0 <= info.header_offset < end:
                fh.seek(info.header_offset)
                head = fh.read(_LOCAL_HEADER.size)
            if len(head) != _LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
                raise CheckpointError(
                    f"{name!r} is a truncated or corrupt zip archive (entry {info.filename!r} has "
                    "no local header)"
                )
            _, name_len, extra_len = _LOCAL_HEADER.unpack(head)
            start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
            if start + info.compress_size > end:
                raise CheckpointError(
                    f"{name!r} is truncated or lies about its sizes: entry {info.filename!r} "
                    f"claims {info.compress_size} bytes at offset {start}, but the archive's data "
                    f"ends at {end}"
                )
            self._check_sizes(info)
            extents.append((info.header_offset, start + info.compress_size, info.filename))
        extents.sort()
        for (_, prev_end, prev), (nxt_start, _, nxt) in itertools.pairwise(extents):
            if nxt_start < prev_end:
                raise CheckpointError(
                    f"{name!r} has overlapping zip entries {prev!r} and {nxt!r} (a zip bomb "
                    "reuses the same bytes for many entries)"
                )

    def _check_sizes(self, info: zipfile.ZipInfo) -> None:
        what = f"entry {info.filename!r} of {self.name!r}"
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise CheckpointError(
                    f"{what} is stored uncompressed but declares {info.file_size} bytes while "
                    f"holding {info.compress_size}"
                )
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            ratio = self._ratio
            if ratio is not None and info.file_size > max(_RATIO_FLOOR, ratio * info.compress_size):
                raise CheckpointError(
                    f"{what} inflates {info.compress_size} bytes to {info.file_size} (ratio "
                    f"{info.file_size / max(info.compress_size, 1):.0f}), above the limit of "
                    f"{ratio}: a zip bomb? If you trust this file, pass a larger "
                    "max_compression_ratio (or None) to tapegrad.io.load"
                )
        else:
            raise CheckpointError(
                f"{what} uses zip compression method {info.compress_type}; checkpoints are "
                "stored or deflated"
            )

    def size(self, member: str) -> int | None:
        """Declared (already validated) size of ``member``; None when absent."""
        try:
            return self.zf.getinfo(member).file_size
        except KeyError:
            return None

    def read_into(self, member: str, out: np.ndarray) -> None:
        """Fill ``out`` with the first ``out.nbytes`` bytes of ``member``."""
        info = self.zf.getinfo(member)
        if info.compress_type != zipfile.ZIP_STORED and self._budget is not None:
            self._budget -= out.nbytes
            if self._budget < 0:
                raise CheckpointError(
                    f"{self.name!r} inflates to more than the max_decompressed_size limit while "
                    f"reading entry {member!r}; if you trust this file, pass a larger "
                    "max_decompressed_size (or None) to tapegrad.io.load"
                )
        with self.zf.open(info) as src:
            _read_exact_into(src, out, f"entry {member!r} of {self.name!r}")

    def read(self, member: str) -> bytes:
        out = np.empty(self.zf.getinfo(member).file_size, dtype=np.uint8)
        self.read_into(member, out)
        return out.tobytes()


def _load_zip(fh, loader: _Loader, max_decompressed_size, max_compression_ratio):
    name = loader.name
    archive = _ZipArchive(fh, name, max_decompressed_size, max_compression_ratio)
    with archive.zf:
        names = archive.zf.namelist()
        pkls = [n[: -len("/data.pkl")] for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkls:
            raise CheckpointError(
                f"{name!r} is a zip archive but not a PyTorch checkpoint (no <archive>/data.pkl)"
            )
        if len(pkls) > 1:
            raise CheckpointError(
                f"{name!r} holds {len(pkls)} checkpoints ({', '.join(p + '/data.pkl' for p in pkls)});"
                " refusing an archive whose readers could disagree on which one counts"
            )
        prefix = pkls[0]
        if f"{prefix}/constants.pkl" in names or any(n.startswith(f"{prefix}/code/") for n in names):
            raise CheckpointError(
                f"{name!r} is a TorchScript archive (torch.jit.save); tapegrad.load reads "
                "torch.save checkpoints only"
            )
        n = archive.size(f"{prefix}/byteorder")
        if n is not None:
            if n > _MAX_BYTEORDER:
                raise CheckpointError(
                    f"{name!r} has a {n}-byte 'byteorder' record (at most {_MAX_BYTEORDER} expected)"
                )
            order = archive.read(f"{prefix}/byteorder").strip()
            if order not in (b"little", b"big"):
                raise CheckpointError(f"{name!r} has an unknown byte order record {order!r}")
            loader.big_endian = order == b"big"

        def read_record(key: str, nbytes: int) -> np.ndarray:
            member = f"{prefix}/data/{key}"
            size = archive.size(member)
            if size is None:
                raise CheckpointError(
                    f"{name!r} has no record {member!r} (truncated or corrupt checkpoint)"
                )
            if size < nbytes:
                raise CheckpointError(
                    f"record {member!r} of {name!r} holds {size} bytes, "
                    f"but its tensors need {nbytes}"
                )
            # ``size`` was checked against the archive, so this allocation is
            # backed by bytes that exist (or by an inflation within the limits).
            raw = np.empty(nbytes, dtype=np.uint8)
            archive.read_into(member, raw)
            return raw

        loader.read_record = read_record
        data = archive.read(f"{prefix}/data.pkl")
        return _Unpickler(_BoundedReader(io.BytesIO(data), f"{name}:{prefix}/data.pkl"), loader).load()


class _BoundedReader:
    """File wrapper whose reads never ask for more than the file holds.

    Buffered readers allocate the requested size up front, so a corrupt
    length field inside a pickle would otherwise become a huge allocation.
    A read that the file cannot satisfy means the file is truncated, and
    says so: the unpickler would otherwise act on a half-read opcode
    argument (a global name cut in two reads as a refused global).
    """

    def __init__(self, fh, name: str):
        self._fh = fh
        self._name = name
        pos = fh.tell()
        self.size = fh.seek(0, io.SEEK_END)
        fh.seek(pos)

    def remaining(self) -> int:
        return max(self.size - self._fh.tell(), 0)

    def _truncated(self, wanted) -> CheckpointError:
        return CheckpointError(
            f"{self._name!r} is truncated: {wanted} at byte {self._fh.tell()} of {self.size}"
        )

    def read(self, n=-1):
        if n is None or n < 0:
            return self._fh.read()
        if n > self.remaining():
            raise self._truncated(f"{n} more bytes are needed")
        return self._fh.read(n)

    def readline(self):
        line = self._fh.readline()
        if not line.endswith(b"\n"):
            raise self._truncated("a line of the pickle ends")
        return line

    def readinto(self, b):
        return self._fh.readinto(b)

    def tell(self):
        return self._fh.tell()

    def seek(self, pos, whence=io.SEEK_SET):
        return self._fh.seek(pos, whence)


def _load_legacy(fh, loader: _Loader):
    """PyTorch < 1.6 stream: magic, protocol, sys_info, main pickle, storage keys, storages."""
    name = loader.name
    fh = _BoundedReader(fh, name)
    header = _Unpickler(fh, loader)
    if header.load() != _PICKLE_MAGIC:
        raise CheckpointError(f"{name!r} is a pickle file, not a PyTorch checkpoint (no magic number)")
    proto = header.load()
    if proto != _LEGACY_PROTOCOL:
        raise CheckpointError(f"{name!r} uses unknown legacy protocol version {proto!r}")
    sys_info = header.load()
    if not isinstance(sys_info, dict):
        raise CheckpointError(f"{name!r} has a malformed system-info record")
    loader.big_endian = not sys_info.get("little_endian", True)
    main_start = fh.tell()

    # Storage bytes follow the main pickle but their dtypes are only named
    # inside it, so the pickle is replayed twice: first to learn the
    # declarations (rebuilding nothing), then for real.
    loader.dry_run = True
    _Unpickler(fh, loader).load()
    loader.dry_run = False
    keys = _Unpickler(fh, loader).load()
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CheckpointError(f"{name!r} has a malformed storage key list")
    count_fmt = ">q" if loader.big_endian else "<q"
    for key in keys:
        if key not in loader.declared:
            raise CheckpointError(f"{name!r} stores data for undeclared storage {key!r}")
        dt, declared, location = loader.declared[key]
        head = fh.read(8)
        if len(head) != 8:
            raise CheckpointError(f"{name!r} is truncated (storage {key!r} is missing)")
        (numel,) = struct.unpack(count_fmt, head)
        if numel < declared:
            raise CheckpointError(f"storage {key!r} of {name!r} holds {numel} elements, needs {declared}")
        if numel * dt.itemsize > fh.remaining():
            raise CheckpointError(
                f"{name!r} is truncated (storage {key!r} needs {numel * dt.itemsize} bytes)"
            )
        raw = np.empty(numel * dt.itemsize, dtype=np.uint8)
        _read_exact_into(fh, raw, f"storage {key!r} of {name!r}")
        loader._apply_map_location(raw, location)
        loader.storages[key] = _RawStorage(key, raw, loader.big_endian)
    for view_key, (root_key, _, _) in loader.views.items():
        if root_key not in loader.storages:
            raise CheckpointError(f"{name!r}: storage view {view_key!r} has no data")
    missing = set(loader.declared) - set(loader.storages)
    if missing:
        raise CheckpointError(f"{name!r} is missing data for storages {sorted(missing)!r}")
    end = fh.tell()
    fh.seek(main_start)
    result = _Unpickler(fh, loader).load()
    fh.seek(end)
    return result


def _sniff(fh, name: str) -> str:
    head = fh.read(512)
    fh.seek(-len(head), io.SEEK_CUR)
    if not head:
        raise CheckpointError(f"{name!r} is empty, not a PyTorch checkpoint")
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        raise CheckpointError(
            f"{name!r} uses PyTorch's legacy .tar checkpoint format (torch < 0.4), which "
            "tapegrad.load does not read; re-save it with a recent torch.save"
        )
    if head[:1] == b"\x80":
        return "legacy"
    if head[:6] == b"\x93NUMPY":
        raise CheckpointError(f"{name!r} is a NumPy .npy file, not a PyTorch checkpoint (use numpy.load)")
    if len(head) >= 9 and head[8:9] == b"{":
        raise CheckpointError(
            f"{name!r} looks like a safetensors file, not a PyTorch checkpoint "
            "(use tapegrad.io.load_safetensors)"
        )
    raise CheckpointError(
        f"{name!r} is not a PyTorch checkpoint (unrecognised leading bytes {head[:8]!r})"
    )


def _check_map_location(map_location):
    if map_location is None or callable(map_location):
        return
    if isinstance(map_location, dict):
        targets = list(map_location.values())
    else:
        targets = [map_location]
    for t in targets:
        dev = t.decode() if isinstance(t, bytes) else str(t)
        if dev.split(":")[0] != "cpu":
            raise ValueError(
                f"tapegrad.load: map_location={map_location!r} asks for device {dev!r}, "
                "but tapegrad tensors live on the CPU (use map_location='cpu' or None)"
            )


_CORRUPTION = (
    zipfile.BadZipFile, zlib.error, EOFError, pickle.UnpicklingError, struct.error, ValueError,
    TypeError, KeyError, IndexError, AttributeError, OverflowError, UnicodeDecodeError,
    RecursionError,
)


def _limit(value, what: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"tapegrad.load: {what} must be a non-negative number or None, got {value!r}")
    return value


@contextlib.contextmanager
def _readable(f):
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        with open(path, "rb") as fh:
            yield fh, path
        return
    if not hasattr(f, "read"):
        raise TypeError(f"tapegrad.load expects a path or a binary file object, got {type(f).__name__}")
    name = getattr(f, "name", None)
    name = name if isinstance(name, str) else "<file object>"
    seekable = False
    with contextlib.suppress(AttributeError, OSError, ValueError):
        seekable = f.seekable()
    if seekable:
        yield f, name
    else:
        # Zip archives are read from the end; a pipe has to be buffered.
        yield io.BytesIO(f.read()), name


def load(f: str | bytes | os.PathLike[str] | IO[bytes],
         map_location: str | dict[str, str] | Callable[[Any, str], Any] | None = None,
         weights_only: bool | None = True, *,
         max_decompressed_size: int | None = MAX_DECOMPRESSED_SIZE,
         max_compression_ratio: float | None = MAX_COMPRESSION_RATIO) -> Any:
    """Load an object saved by :func:`save` or by ``torch.save`` - without PyTorch.

    Tensors come back as tapegrad tensors (``nn.Parameter`` stays a Parameter)
    on the CPU; tensors that shared a storage when saved share memory again.
    With ``weights_only=True`` (the default, as in PyTorch) only tensors,
    dicts/OrderedDicts, lists, tuples, sets and Python scalars are rebuilt;
    any other global in the file raises :class:`UnpicklingRefused` and no code
    from the file runs.  ``weights_only=False`` trusts the file and lets plain
    pickle import non-torch globals (never use it on files you did not write).
    bfloat16 tensors load as float32.

    ``map_location`` is accepted for PyTorch compatibility: ``None``, ``"cpu"``,
    a dict mapping locations to ``"cpu"``, or ``lambda storage, loc: storage``.

    A truncated, corrupt or non-checkpoint file raises :class:`CheckpointError`
    (a ``RuntimeError``) naming the file.

    Loading limits (all raise :class:`CheckpointError` saying what was wrong):
    every zip entry must lie inside the archive, be unique and not overlap
    another, and hold the bytes it declares before anything is allocated for
    it; containers may nest at most 100 levels.  Compressed entries (torch
    never writes them, zip tools may) are capped by the two keyword-only
    arguments, which exist to raise the caps for a large file you trust:

    * ``max_decompressed_size``: bytes inflated from compressed entries in
      total (default ``MAX_DECOMPRESSED_SIZE``, 1 GiB; ``None``: no cap);
    * ``max_compression_ratio``: inflated size over stored size of any entry
      that inflates beyond 1 MiB (default ``MAX_COMPRESSION_RATIO``, 100;
      ``None``: no cap).  Deflate reaches about 1000 on zeros, so a
      legitimately compressed all-zero tensor may need a larger value.

    >>> import io, tapegrad.io as tio
    >>> buf = io.BytesIO(); tio.save({"step": 3}, buf); _ = buf.seek(0)
    >>> tio.load(buf)
    {'step': 3}
    """
    _check_map_location(map_location)
    max_decompressed_size = _limit(max_decompressed_size, "max_decompressed_size")
    max_compression_ratio = _limit(max_compression_ratio, "max_compression_ratio")
    weights_only = True if weights_only is None else bool(weights_only)
    with _readable(f) as (fh, name):
        loader = _Loader(name, map_location, weights_only)
        try:
            kind = _sniff(fh, name)
            if kind == "zip":
                return _load_zip(fh, loader, max_decompressed_size, max_compression_ratio)
            return _load_legacy(fh, loader)
        except _UserCodeError as e:
            raise e.__cause__ from None
        except CheckpointError as e:
            if repr(name) in str(e):
                raise
            # raised deep inside the unpickler, which does not know the file
            raise CheckpointError(f"{name!r} is not a valid PyTorch checkpoint: {e}") from e
        except (UnpicklingRefused, NotImplementedError):
            raise
        except RuntimeError as e:
            # zipfile reports e.g. a flipped flag bit as "encrypted, password required"
            raise CheckpointError(f"{name!r} is not a valid PyTorch checkpoint: {e}") from e
        except _CORRUPTION as e:
            raise CheckpointError(
                f"{name!r} is not a valid PyTorch checkpoint (corrupt or truncated): "
                f"{type(e).__name__}: {e}"
            ) from e


# --------------------------------------------------------------------------
# saving

_ALIGN = 64  # torch aligns record data to 64 bytes so it can mmap it


class _TorchGlobal:
    """A torch global written into the pickle by name only (torch is never imported)."""

    __slots__ = ("module", "qualname")

    def __init__(self, module: str, qualname: str):
        self.module = module
        self.qualname = qualname

    def __call__(self, *args):  # pickle insists that reduce functions are callable
        raise TypeError(f"{self.module}.{self.qualname} is a placeholder for writing pickles")

    def __repr__(self):
        return f"<torch global {self.module}.{self.qualname}>"


_G_REBUILD_V2 = _TorchGlobal("torch._utils", "_rebuild_tensor_v2")
_G_REBUILD_V3 = _TorchGlobal("torch._utils", "_rebuild_tensor_v3")
_G_REBUILD_PARAMETER = _TorchGlobal("torch._utils", "_rebuild_parameter")
_G_UNTYPED = _TorchGlobal("torch.storage", "UntypedStorage")
_G_STORAGE = {d.name: _TorchGlobal("torch", d.storage) for d in _DTYPE_LIST if d.storage}
_G_DTYPE = {d.name: _TorchGlobal("torch", d.name) for d in _DTYPE_LIST}


class _StorageOut:
    __slots__ = ("key", "dt", "numel", "data", "start")

    def __init__(self, key: str, dt: _DType, data: np.ndarray, start: int = 0):
        self.key = key
        self.dt = dt
        self.data = data  # uint8 view of the bytes to write
        self.numel = data.nbytes // dt.itemsize
        self.start = start  # byte offset of ``data`` inside its buffer


class _TensorData:
    """A Parameter's ``.data`` while pickling: a plain tensor without requires_grad."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


def _contiguous_strides(shape) -> tuple:
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


def _address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


class _StorageTable:
    """Assigns tensors to storages, so that views of one buffer are written once.

    NumPy collapses ``.base`` chains to the array that owns the memory, which
    can be far larger than what the saved tensors use (a small view of a big
    temporary, ``from_numpy`` of a slice).  So saving pickles twice: a
    planning pass (``spans is None``) records which byte range of each buffer
    the saved tensors touch, and the writing pass stores only that range.
    """

    def __init__(self, spans: dict | None = None):
        self.planning = spans is None
        self.spans: dict[tuple, tuple[int, int]] = {} if spans is None else spans
        self.records: list[_StorageOut] = []
        self._by_memory: dict[tuple, _StorageOut] = {}
        self._keep_alive: list[np.ndarray] = []  # addresses are only keys while alive
        self._placeholder = None

    def _new(self, dt: _DType, data: np.ndarray, start: int = 0) -> _StorageOut:
        out = _StorageOut(str(len(self.records)), dt, data, start)
        self.records.append(out)
        return out

    def locate(self, arr: np.ndarray):
        """(storage, offset, strides) for ``arr``, in elements, as torch records them."""
        dt = _FROM_NUMPY.get((arr.dtype.kind, arr.dtype.itemsize))
        if dt is None or arr.dtype.fields is not None:
            raise TypeError(
                f"tapegrad.save cannot save arrays of dtype {arr.dtype}: PyTorch has no such dtype"
            )
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        shared = self._shared(arr, dt)
        if shared is not None:
            return shared
        strides = _contiguous_strides(arr.shape)
        if self.planning:
            return self._dummy(dt), 0, strides
        data = np.ascontiguousarray(arr)
        self._keep_alive.append(data)
        return self._new(dt, data.reshape(-1).view(np.uint8)), 0, strides

    def _dummy(self, dt: _DType) -> _StorageOut:
        # The planning pass's pickle is thrown away; any storage will do.
        return _StorageOut("0", dt, np.empty(0, np.uint8))

    def _shared(self, arr: np.ndarray, dt: _DType):
        if arr.size == 0:
            return None
        root = arr
        while isinstance(root.base, np.ndarray):
            root = root.base
        if not (root.flags.c_contiguous or root.flags.f_contiguous):
            return None
        isz = dt.itemsize
        first = _address(arr) - _address(root)
        if first < 0 or first % isz:
            return None
        # Size-1 dims may carry any stride in NumPy; give them torch's contiguous one.
        contiguous = _contiguous_strides(arr.shape)
        strides = []
        for n, s, c in zip(arr.shape, arr.strides, contiguous, strict=True):
            if n == 1:
                strides.append(c)
            elif s < 0 or s % isz:
                return None
            else:
                strides.append(s // isz)
        end = first + sum((n - 1) * s for n, s in zip(arr.shape, arr.strides, strict=True) if n > 1) + isz
        if end > root.nbytes:
            return None
        key = (_address(root), root.nbytes, dt.name)
        self._keep_alive.append(root)
        if self.planning:
            lo, hi = self.spans.get(key, (first, end))
            self.spans[key] = (min(lo, first), max(hi, end))
            return self._dummy(dt), 0, tuple(strides)
        out = self._by_memory.get(key)
        if out is None:
            lo, hi = self.spans.get(key, (0, root.nbytes // isz * isz))
            flat = root.ravel(order="K").view(np.uint8)
            out = self._by_memory[key] = self._new(dt, flat[lo:hi], lo)
        if not out.start <= first or end > out.start + out.data.nbytes:
            return None  # outside the planned span (the object changed between passes): copy
        return out, (first - out.start) // isz, tuple(strides)


_PLAIN_TYPES = frozenset({
    type(None), bool, int, float, complex, str, bytes, bytearray,
    tuple, list, dict, OrderedDict, set, _TorchGlobal,
})
# Callables and classes that pickle itself writes while saving the plain types.
_PICKLE_HELPERS = (OrderedDict, set, complex, bytearray, codecs.encode)


class _Pickler(pickle._Pickler):  # pure-Python: lets us write torch globals by name
    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, storages: _StorageTable):
        super().__init__(file, protocol=2)
        self._storages = storages

    def persistent_id(self, obj):
        if type(obj) is _StorageOut:
            stype = _G_STORAGE.get(obj.dt.name) if obj.dt.storage else _G_UNTYPED
            numel = obj.numel if obj.dt.storage else obj.data.nbytes
            return ("storage", stype, obj.key, "cpu", numel)
        return None

    def save_torch_global(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.qualname}\n".encode())
        self.memoize(obj)

    dispatch[_TorchGlobal] = save_torch_global

    def save_bytes(self, obj):
        # torch's weights-only unpickler allows _codecs.encode but not
        # builtins.bytes, which plain protocol 2 uses for b"".
        self.save_reduce(codecs.encode, (str(obj, "latin1"), "latin1"), obj=obj)

    dispatch[bytes] = save_bytes

    def reducer_override(self, obj):
        t = type(obj)
        if t in _PLAIN_TYPES:
            return NotImplemented
        if t is _TensorData:
            return self._reduce_array(obj.array, False)
        if _adapter.is_tensor(obj):
            arr = _adapter.to_numpy(obj)
            rg = _adapter.requires_grad(obj)
            if _adapter.is_parameter(obj):
                # Same shape as torch.nn.Parameter.__reduce_ex__.
                return (_G_REBUILD_PARAMETER, (_TensorData(arr), rg, OrderedDict()))
            return self._reduce_array(arr, rg)
        if any(obj is h for h in _PICKLE_HELPERS):
            return NotImplemented
        raise TypeError(_unsupported_message(obj))

    def _reduce_array(self, arr: np.ndarray, requires_grad: bool):
        storage, offset, strides = self._storages.locate(arr)
        size = tuple(int(n) for n in arr.shape)
        if storage.dt.storage is None:
            return (_G_REBUILD_V3, (storage, offset, size, strides, bool(requires_grad),
                                    OrderedDict(), _G_DTYPE[storage.dt.name]))
        return (_G_REBUILD_V2, (storage, offset, size, strides, bool(requires_grad), OrderedDict()))


def _unsupported_message(obj) -> str:
    t = type(obj)
    msg = (
        f"tapegrad.save cannot save an object of type {t.__module__}.{t.__qualname__}: only "
        "tensors, dicts/OrderedDicts, lists, tuples, sets and None/bool/int/float/complex/str/bytes "
        "are allowed, so that the file loads with torch.load(weights_only=True)"
    )
    if isinstance(obj, np.generic):
        msg += " (convert NumPy scalars with .item())"
    elif isinstance(obj, np.ndarray):
        msg += " (wrap NumPy arrays with tapegrad.from_numpy)"
    return msg


def _write_record(zf: zipfile.ZipFile, name: str, data) -> None:
    """Add one stored (uncompressed) member whose data starts on a 64-byte boundary."""
    view = _byte_view(data)
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = view.nbytes
    # zipfile decides on zip64 with this same test and then appends a 20-byte
    # extra field to the local header; the padding has to account for it.
    zip64 = view.nbytes * 1.05 > zipfile.ZIP64_LIMIT
    header = 30 + len(name.encode("utf-8")) + (20 if zip64 else 0)
    pad = -(zf.start_dir + header) % _ALIGN
    if pad:
        if pad < 4:  # an extra field needs 4 bytes of its own
            pad += _ALIGN
        # Same "FB" padding field that PyTorch's writer (miniz) uses.
        info.extra = b"FB" + struct.pack("<H", pad - 4) + b"Z" * (pad - 4)
    with zf.open(info, "w", force_zip64=zip64) as dst:
        for i in range(0, view.nbytes, _READ_CHUNK):
            dst.write(view[i: i + _READ_CHUNK])


def _archive_name(path: str | None) -> str:
    if not path:
        return "archive"
    stem = os.path.splitext(os.path.basename(path))[0]
    ok = stem and all(c.isalnum() or c in "_-." for c in stem) and stem.isascii()
    return stem if ok else "archive"


def _write_checkpoint(obj, fh, archive: str) -> None:
    plan = _StorageTable()
    _Pickler(io.BytesIO(), plan).dump(obj)  # also rejects unsupported objects before any I/O
    # ``plan`` stays alive until we return, and with it the buffers whose
    # addresses key its spans.
    storages = _StorageTable(plan.spans)
    buf = io.BytesIO()
    _Pickler(buf, storages).dump(obj)
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        _write_record(zf, f"{archive}/data.pkl", buf.getvalue())
        # No ".format_version": torch would then compute record offsets by
        # assuming miniz's exact layout (data descriptors after each record),
        # which Python's zipfile does not reproduce.  Without it torch reads
        # every offset from the archive's own headers.
        _write_record(zf, f"{archive}/byteorder", sys.byteorder.encode())
        for rec in storages.records:
            _write_record(zf, f"{archive}/data/{rec.key}", rec.data)
        _write_record(zf, f"{archive}/version", b"3\n")


def _temp_name(base: str) -> str:
    return f".{base}.{secrets.token_hex(8)}.tmp"


def _is_temp_name(entry: str, base: str) -> bool:
    """True for names that :func:`_temp_name` gives for ``base`` (and no others)."""
    prefix, suffix = f".{base}.", ".tmp"
    token = entry[len(prefix): -len(suffix)]
    return (entry.startswith(prefix) and entry.endswith(suffix) and len(token) == 16
            and all(c in "0123456789abcdef" for c in token))


def _remove_stale_temps(directory: str, base: str) -> None:
    """Delete temporary files that earlier saves to ``base`` left behind when killed.

    A writer holds an exclusive ``flock`` on its temporary file until the
    rename, and the kernel drops it when the writer dies; so a temporary
    file we can lock belongs to nobody.  Without ``flock`` (Windows), an
    open file cannot be deleted, which protects live writers the same way.
    """
    try:
        entries = [e for e in os.listdir(directory) if _is_temp_name(e, base)]
    except OSError:
        return
    for entry in entries:
        path = os.path.join(directory, entry)
        if fcntl is None:
            with contextlib.suppress(OSError):
                os.unlink(path)
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Still the file we locked (not replaced meanwhile)?  Then nobody owns it.
            if os.path.samestat(os.fstat(fd), os.lstat(path)):
                os.unlink(path)
        except OSError:  # locked by a live writer, or already gone
            pass
        finally:
            os.close(fd)


def _create_temp(directory: str, base: str) -> tuple[int, str]:
    """Create and lock a new temporary file next to ``base``: (fd, path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, _temp_name(base))
        try:
            # 0o666 lets the umask decide, as a plain open() would.
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink:
            return fd, tmp
        # A concurrent save's cleanup deleted it between our open and flock.
        os.close(fd)
    raise FileExistsError(f"could not create a temporary file next to {os.path.join(directory, base)!r}")


@contextlib.contextmanager
def _atomic_write(path):
    """Yield a binary file that replaces ``path`` only once fully written and synced.

    On any failure the temporary file is removed and ``path`` is untouched.
    Temporary files that earlier, killed saves to ``path`` left behind are
    removed first (only names of our own pattern, and only unlocked ones).
    """
    path = os.fsdecode(path)
    if os.path.islink(path):
        path = os.path.realpath(path)  # replace the target, keep the link
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    _remove_stale_temps(directory, base)
    fd, tmp = _create_temp(directory, base)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            with contextlib.suppress(OSError):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            if fcntl is not None:
                # Rename while still holding the lock, so no cleanup can take
                # the finished file for an abandoned one.
                os.replace(tmp, path)
        if fcntl is None:  # Windows cannot rename a file that is still open
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):
        # Make the rename itself durable; best effort (some filesystems refuse).
        with contextlib.suppress(OSError):
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def save(obj: Any, f: str | bytes | os.PathLike[str] | IO[bytes]) -> None:
    """Save ``obj`` in PyTorch's checkpoint format (readable by ``torch.load(weights_only=True)``).

    ``obj`` may nest tensors, dicts/OrderedDicts, lists, tuples, sets and
    None/bool/int/float/complex/str/bytes; anything else raises ``TypeError``
    before a byte is written.  Tensors that share memory are written as one
    storage holding only the part of their buffer that the saved tensors
    cover (PyTorch would write a view's whole storage).  ``requires_grad``
    and ``nn.Parameter`` survive the round trip.  When ``f`` is a path the write is atomic: the data goes
    to a temporary file in the same directory, is fsync'ed and then renamed
    over ``f``, so a failure leaves any previous file untouched.

    >>> import io, tapegrad.io as tio
    >>> buf = io.BytesIO()
    >>> tio.save({"step": 3, "names": ["a", "b"]}, buf)
    >>> _ = buf.seek(0); tio.load(buf)["names"]
    ['a', 'b']
    """
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        with _atomic_write(path) as fh:
            _write_checkpoint(obj, fh, _archive_name(path))
        return
    if not hasattr(f, "write"):
        raise TypeError(f"tapegrad.save expects a path or a binary file object, got {type(f).__name__}")
    seekable = False
    with contextlib.suppress(AttributeError, OSError, ValueError):
        seekable = f.seekable()
    if seekable:
        _write_checkpoint(obj, f, "archive")
    else:
        buf = io.BytesIO()
        _write_checkpoint(obj, buf, "archive")
        f.write(buf.getvalue())

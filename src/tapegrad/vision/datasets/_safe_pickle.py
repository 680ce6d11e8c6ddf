"""A restricted unpickler for dataset files (CIFAR's python batches): no code runs.

Only plain containers, strings, bytes, numbers and NumPy array/dtype/scalar
reconstruction are allowed; any other global in the file raises
:class:`tapegrad.io.UnpicklingRefused`.  This is the "restricting globals"
approach of the :mod:`pickle` docs, the same idea as ``tapegrad.io.load``.
"""
from __future__ import annotations

import codecs
import io
import pickle
from collections import OrderedDict

import numpy as np

from ...io.serialization import UnpicklingRefused

__all__ = ["safe_load", "UnpicklingRefused"]


def _numpy_global(getter):
    try:
        return getter()
    except Exception:  # pragma: no cover - a NumPy without this helper
        return None


_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy.(_)core.multiarray._reconstruct
_SCALAR = np.float64(0).__reduce__()[0]  # numpy.(_)core.multiarray.scalar


def _get_frombuffer():
    try:
        from numpy._core.numeric import _frombuffer
    except ImportError:  # NumPy 1.x
        from numpy.core.numeric import _frombuffer
    return _frombuffer


_FROMBUFFER = _numpy_global(_get_frombuffer)


def _codecs_encode(s="", encoding="utf-8", errors="strict"):
    if not isinstance(s, str):
        raise UnpicklingRefused("_codecs.encode is only allowed on a str (pickled bytes)")
    if codecs.lookup(encoding).name not in ("latin-1", "iso8859-1", "utf-8", "ascii"):
        raise UnpicklingRefused(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(s, encoding, errors)


def _bytes_like(ctor):
    def build(*args):
        if not args:
            return ctor()
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray, list, tuple)):
            return ctor(args[0])
        if len(args) in (2, 3) and isinstance(args[0], str) and isinstance(args[1], str):
            return ctor(*args)
        raise UnpicklingRefused(f"{ctor.__name__} is only allowed with bytes or (str, encoding) arguments")
    build.__name__ = ctor.__name__
    return build


_ALLOWED = {
    ("builtins", "list"): list,
    ("builtins", "dict"): dict,
    ("builtins", "tuple"): tuple,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "str"): str,
    ("builtins", "int"): int,
    ("builtins", "float"): float,
    ("builtins", "bool"): bool,
    ("builtins", "complex"): complex,
    ("builtins", "bytes"): _bytes_like(bytes),
    ("builtins", "bytearray"): _bytes_like(bytearray),
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _codecs_encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(_mod, "scalar")] = _SCALAR
if _FROMBUFFER is not None:
    for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
        _ALLOWED[(_mod, "_frombuffer")] = _FROMBUFFER


def _py2_names(module, name):
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    if (module, name) in NAME_MAPPING:
        return NAME_MAPPING[(module, name)]
    return IMPORT_MAPPING.get(module, module), name


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str, encoding: str):
        super().__init__(file, encoding=encoding)
        self._source = source

    def find_class(self, module, name):
        module, name = _py2_names(module, name)
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise UnpicklingRefused(
                f"refused to unpickle {module}.{name!s} from {self._source!r}: dataset files may only "
                "hold lists, dicts, tuples, strings, bytes, numbers and NumPy arrays "
                "(tapegrad never runs code stored in a data file)")
        return obj

    def persistent_load(self, pid):
        raise UnpicklingRefused(f"refused persistent id in {self._source!r}")


def safe_load(f, *, encoding: str = "latin1", source: str | None = None):
    """Unpickle ``f`` (a path, bytes or a binary file) allowing only data, never code."""
    if isinstance(f, (bytes, bytearray)):
        return _RestrictedUnpickler(io.BytesIO(f), source or "<bytes>", encoding).load()
    if hasattr(f, "read"):
        return _RestrictedUnpickler(f, source or getattr(f, "name", "<file>"), encoding).load()
    with open(f, "rb") as fh:
        return _RestrictedUnpickler(fh, source or str(f), encoding).load()

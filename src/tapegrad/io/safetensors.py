"""The safetensors format, with NumPy only.

Layout: an 8-byte little-endian header length ``N``, ``N`` bytes of UTF-8
JSON (``{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin,
end]}, ..., "__metadata__": {str: str}}``, padded with spaces), then the
little-endian, C-ordered tensor bytes; offsets are relative to the start of
that data and must tile it exactly.  Reading validates all of this the way
the reference (Rust) implementation does, so a file we accept is one it
accepts.  BF16 tensors load as float32 (NumPy has no bfloat16); F8/F4/F6
types raise ``NotImplementedError``.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from . import _adapter
from .serialization import CheckpointError, _atomic_write, _byte_view, _read_exact_into

__all__ = ["save_safetensors", "load_safetensors", "load_safetensors_metadata", "SafetensorsError"]

_MAX_HEADER = 100_000_000  # the reference implementation's limit
# The reference parser (serde_json) stops at 128 levels; Python's json
# recurses once per level and would raise RecursionError far deeper in.
_MAX_JSON_DEPTH = 128
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class SafetensorsError(CheckpointError):
    """A malformed safetensors file (bad header, offsets, sizes or dtypes)."""


class _Code(NamedTuple):
    code: str
    disk: str  # little-endian NumPy type of one element
    rank: int  # writers order tensors by descending rank (alignment), then name


_CODES = {
    c.code: c
    for c in [
        _Code("BOOL", "|b1", 0),
        _Code("U8", "|u1", 1),
        _Code("I8", "|i1", 2),
        _Code("I16", "<i2", 5),
        _Code("U16", "<u2", 6),
        _Code("F16", "<f2", 7),
        _Code("BF16", "<u2", 8),  # widened to float32 on load
        _Code("I32", "<i4", 9),
        _Code("U32", "<u4", 10),
        _Code("F32", "<f4", 11),
        _Code("C64", "<c8", 12),
        _Code("F64", "<f8", 13),
        _Code("I64", "<i8", 14),
        _Code("U64", "<u8", 15),
    ]
}
_UNSUPPORTED = {"F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"}
_FROM_NUMPY = {
    (np.dtype(c.disk).kind, np.dtype(c.disk).itemsize): c for c in _CODES.values() if c.code != "BF16"
}


def _code_for(arr: np.ndarray, name: str) -> _Code:
    code = _FROM_NUMPY.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None or arr.dtype.fields is not None:
        raise TypeError(
            f"save_safetensors: tensor {name!r} has dtype {arr.dtype}, which safetensors cannot store"
        )
    return code


def save_safetensors(tensors: Mapping, path, metadata: Mapping | None = None) -> None:
    """Write ``{name: tensor}`` to ``path`` in the safetensors format, atomically.

    ``metadata`` is an optional ``{str: str}`` stored under ``__metadata__``.
    Tensors are written as contiguous copies (views are not preserved, as in
    the format itself); the file replaces ``path`` only once fully written.

    >>> import os, tempfile, numpy as np, tapegrad.io as tio
    >>> from tapegrad.io import _adapter
    >>> p = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> tio.save_safetensors({"w": _adapter.from_numpy(np.ones((2, 3), np.float32))}, p,
    ...                      metadata={"format": "pt"})
    >>> _adapter.to_numpy(tio.load_safetensors(p)["w"]).shape
    (2, 3)
    """
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save_safetensors expects a dict of tensors, got {type(tensors).__name__}")
    if metadata is not None and (not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError("save_safetensors: metadata must be a dict of str to str")
    entries = []
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: tensor names must be str, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save_safetensors: '__metadata__' is reserved and cannot name a tensor")
        if not _adapter.is_tensor(t):
            raise TypeError(f"save_safetensors: {name!r} is a {type(t).__name__}, not a tensor")
        arr = _adapter.to_numpy(t)
        code = _code_for(arr, name)
        entries.append((code, name, np.ascontiguousarray(arr.astype(np.dtype(code.disk), copy=False))))
    # Descending alignment keeps every tensor aligned once the header is padded to 8.
    entries.sort(key=lambda e: (-e[0].rank, e[1]))

    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for code, name, arr in entries:
        header[name] = {
            "dtype": code.code,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
    blob = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    blob += b" " * (-len(blob) % 8)

    with _atomic_write(path) as fh:
        fh.write(len(blob).to_bytes(8, "little"))
        fh.write(blob)
        for _, _, arr in entries:
            fh.write(_byte_view(arr))


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise SafetensorsError(f"duplicate key {k!r} in header")
        out[k] = v
    return out


def _is_uint(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _bracket_depth(text: bytes) -> int:
    brackets = text.translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    steps = np.frombuffer(brackets, dtype=np.uint8)
    return int(np.cumsum(np.where((steps == ord("[")) | (steps == ord("{")), 1, -1)).max())


def _json_depth(raw: bytes) -> int:
    """Deepest bracket nesting of a JSON text, found without recursing.

    A running sum over the brackets gives the depth at every point.  Counting
    brackets inside strings too can only overestimate, so the strings are cut
    out (slower) only when that first count is over the limit.  An invalid
    text gives some number; json.loads rejects it anyway.
    """
    depth = _bracket_depth(raw)
    if depth > _MAX_JSON_DEPTH:
        depth = _bracket_depth(_JSON_STRING.sub(b"", raw))
    return depth


# long: the checks of an untrusted header, in the order its bytes are read; each names its failure
def _read_header(fh, name: str):  # noqa: C901 - one check per way an untrusted header can be wrong
    """Parse and validate the header; returns (data_start, metadata, [(name, code, shape, begin, end)])."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    if size < 8:
        raise SafetensorsError(f"{name!r} is too small ({size} bytes) to be a safetensors file")
    n = int.from_bytes(fh.read(8), "little")
    if n > _MAX_HEADER:
        raise SafetensorsError(
            f"{name!r}: header length {n} exceeds the {_MAX_HEADER}-byte limit (not a safetensors file?)"
        )
    if 8 + n > size:
        raise SafetensorsError(
            f"{name!r}: header length {n} runs past the end of the {size}-byte file (truncated?)"
        )
    raw = fh.read(n)
    depth = _json_depth(raw)
    if depth > _MAX_JSON_DEPTH:
        raise SafetensorsError(
            f"{name!r}: header nests JSON {depth} levels deep (the limit is {_MAX_JSON_DEPTH})"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafetensorsError(f"{name!r}: header is not valid UTF-8 ({e})") from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as e:  # JSONDecodeError, or an integer beyond int_max_str_digits
        raise SafetensorsError(f"{name!r}: header is not valid JSON ({e})") from None
    except SafetensorsError as e:
        raise SafetensorsError(f"{name!r}: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{name!r}: header must be a JSON object, got {type(header).__name__}")

    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise SafetensorsError(f"{name!r}: __metadata__ must map str to str")

    entries = []
    for tname, info in header.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise SafetensorsError(f"{name!r}: entry {tname!r} needs dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype in _UNSUPPORTED:
            raise NotImplementedError(
                f"{name!r}: tensor {tname!r} has dtype {dtype}, which NumPy cannot represent"
            )
        if dtype not in _CODES:
            raise SafetensorsError(f"{name!r}: tensor {tname!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
            raise SafetensorsError(f"{name!r}: tensor {tname!r} has invalid shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_uint(o) for o in offsets)):
            raise SafetensorsError(f"{name!r}: tensor {tname!r} has invalid data_offsets {offsets!r}")
        entries.append((tname, _CODES[dtype], tuple(shape), offsets[0], offsets[1]))

    # Same rules as the reference reader: sorted by offset, the tensors must
    # tile the data section exactly, each exactly as long as its shape says.
    data_len = size - 8 - n
    expected = 0
    for tname, code, shape, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != expected or end < begin:
            raise SafetensorsError(
                f"{name!r}: tensor {tname!r} has data_offsets [{begin}, {end}] but the previous "
                f"tensor ends at {expected} (overlapping, out-of-order or gapped offsets)"
            )
        nbytes = int(np.prod(shape, dtype=object)) * np.dtype(code.disk).itemsize
        if end - begin != nbytes:
            raise SafetensorsError(
                f"{name!r}: tensor {tname!r} of dtype {code.code} and shape {list(shape)} needs "
                f"{nbytes} bytes but its data_offsets span {end - begin}"
            )
        if end > data_len:
            raise SafetensorsError(
                f"{name!r}: tensor {tname!r} ends at byte {end} of a {data_len}-byte data section "
                "(truncated?)"
            )
        expected = end
    if expected != data_len:
        raise SafetensorsError(
            f"{name!r}: tensors cover {expected} bytes but the data section holds {data_len}"
        )
    return 8 + n, metadata, entries


def load_safetensors(path) -> dict:
    """Read a safetensors file into ``{name: tensor}`` (names sorted, like the reference loader).

    Each tensor gets its own writable array.  BF16 is widened to float32.

    >>> import os, tempfile, numpy as np, tapegrad.io as tio
    >>> from tapegrad.io import _adapter
    >>> p = os.path.join(tempfile.mkdtemp(), "b.safetensors")
    >>> tio.save_safetensors({"b": _adapter.from_numpy(np.arange(3))}, p)
    >>> _adapter.to_numpy(tio.load_safetensors(p)["b"]).tolist()
    [0, 1, 2]
    """
    name = os.fsdecode(path)
    out = {}
    with open(name, "rb") as fh:
        start, _, entries = _read_header(fh, name)
        for tname, code, shape, begin, _end in sorted(entries, key=lambda e: e[0]):
            arr = np.empty(shape, dtype=np.dtype(code.disk))
            fh.seek(start + begin)
            try:
                _read_exact_into(fh, arr, f"tensor {tname!r} of {name!r}")
            except CheckpointError as e:
                raise SafetensorsError(str(e)) from None
            if code.code == "BF16":
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            elif not arr.dtype.isnative:
                arr = arr.astype(arr.dtype.newbyteorder("="))
            out[tname] = _adapter.from_numpy(arr)
    return out


def load_safetensors_metadata(path) -> dict:
    """The ``__metadata__`` dict of a safetensors file (empty when absent).

    >>> import os, tempfile, tapegrad.io as tio
    >>> p = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> tio.save_safetensors({}, p, metadata={"format": "pt"})
    >>> tio.load_safetensors_metadata(p)
    {'format': 'pt'}
    """
    name = os.fsdecode(path)
    with open(name, "rb") as fh:
        _, metadata, _ = _read_header(fh, name)
    return dict(metadata or {})

"""Hostile and corrupt checkpoint files: loading limits and a generated corpus.

The corpus is built here, in memory (no file is committed): zip bombs, lying
sizes, overlapping and duplicate entries, deep nesting, truncation at every
tenth, byte flips, and pickles reaching for code through every opcode that
can name or call something.  Each group of files is loaded in a child process
with a 512 MB address-space limit and a timer; every file must be refused
with tapegrad's own error classes, quickly, and no payload may run.
"""
from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import random
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest

import tapegrad.io as tio
from tapegrad.io import _adapter, serialization
from tapegrad.io.safetensors import SafetensorsError

A = _adapter.to_numpy


def T(arr):
    return _adapter.from_numpy(np.asarray(arr))


# --------------------------------------------------------------------------
# pickle opcodes, spelled out so that files can lie


def _s(text: str) -> bytes:  # BINUNICODE
    b = text.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _s4(text: str) -> bytes:  # SHORT_BINUNICODE (protocol 4)
    b = text.encode()
    return b"\x8c" + bytes([len(b)]) + b


def _i(n: int) -> bytes:  # BININT, or LONG1 beyond 32 bits
    if -(1 << 31) <= n < (1 << 31):
        return b"J" + struct.pack("<i", n)
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


def _g(module: str, name: str) -> bytes:  # GLOBAL
    return b"c" + f"{module}\n{name}\n".encode()


def _tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _p2(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def _p4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def _storage(key: str, numel: int, storage: str = "FloatStorage", legacy: bool = False) -> bytes:
    view = b"N" if legacy else b""  # the legacy format's persistent ids end with a (None) view
    return _tup(_s("storage"), _g("torch", storage), _s(key), _s("cpu"), _i(numel), view) + b"Q"


def _tensor(key: str, numel: int, size: tuple, storage: str = "FloatStorage", legacy: bool = False) -> bytes:
    stride, acc = [], 1
    for n in reversed(size):
        stride.insert(0, acc)
        acc *= n
    return (
        _g("torch._utils", "_rebuild_tensor_v2")
        + _tup(_storage(key, numel, storage, legacy), _i(0), _tup(*map(_i, size)), _tup(*map(_i, stride)),
               b"\x89", _g("collections", "OrderedDict") + b")R")
        + b"R"
    )


def _dict(**items: bytes) -> bytes:
    return b"}(" + b"".join(_s(k) + v for k, v in items.items()) + b"u"


# --------------------------------------------------------------------------
# a zip writer that writes whatever it is told, sizes and offsets included

_LOCAL = struct.Struct("<4s5H3I2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")


def _entry(name, stored, *, size=None, csize=None, method=zipfile.ZIP_STORED, crc=None, zip64=False, at=None):
    """One zip entry: ``stored`` are the bytes in the archive.

    ``size`` and ``csize`` are the declared inflated and stored sizes (by
    default, the true ones; deflated entries must give ``size``).  ``at``
    places the entry's local header at an existing offset instead of
    appending it (for entries that overlap another's data).
    """
    if size is None:
        assert method == zipfile.ZIP_STORED
        size = len(stored)
    if crc is None:
        crc = zlib.crc32(stored) if method == zipfile.ZIP_STORED else 0  # bombs are never read to the end
    csize = len(stored) if csize is None else csize
    return {"name": name.encode(), "stored": stored, "size": size, "csize": csize, "method": method,
            "crc": crc, "zip64": zip64, "at": at}


def _local_header(e) -> bytes:
    csize, usize, extra = e["csize"], e["size"], b""
    if e["zip64"]:
        extra = struct.pack("<HHQQ", 1, 16, usize, csize)
        csize = usize = 0xFFFFFFFF
    return _LOCAL.pack(b"PK\x03\x04", 45, 0, e["method"], 0, 0x21, e["crc"], csize, usize,
                       len(e["name"]), len(extra)) + e["name"] + extra


def _raw_zip(entries) -> bytes:
    out = bytearray()
    offsets = []
    for e in entries:
        if e["at"] is not None:
            offsets.append(e["at"])
            continue
        offsets.append(len(out))
        out += _local_header(e) + e["stored"]
    central = bytearray()
    for e, off in zip(entries, offsets, strict=True):
        csize, usize, extra = e["csize"], e["size"], b""
        if e["zip64"]:
            extra = struct.pack("<HHQQ", 1, 16, usize, csize)
            csize = usize = 0xFFFFFFFF
        central += _CENTRAL.pack(b"PK\x01\x02", 45, 3, 45, 0, 0, e["method"], 0, 0x21, e["crc"],
                                 csize, usize, len(e["name"]), len(extra), 0, 0, 0, 0, off)
        central += e["name"] + extra
    end = _END.pack(b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + end)


def _checkpoint(pkl_body: bytes, records: dict, *, pkl_entry=None, extra=()) -> bytes:
    entries = [pkl_entry or _entry("archive/data.pkl", _p2(pkl_body)),
               _entry("archive/byteorder", b"little")]
    entries += [_entry(f"archive/data/{k}", v) for k, v in records.items()]
    entries += list(extra)
    entries.append(_entry("archive/version", b"3\n"))
    return _raw_zip(entries)


def _deflate_zeros(mib: int) -> bytes:
    """A raw deflate stream of ``mib`` MiB of zeros, about 1 KB per MiB, built in microseconds.

    One MiB compressed with a full flush is self-contained, so repeating it
    and closing with an empty final block is a valid stream.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    return block * mib + b"\x03\x00"


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _legit_bytes() -> bytes:
    buf = io.BytesIO()
    tio.save({"w": T(np.arange(64, dtype=np.float32).reshape(8, 8)), "step": 7, "name": "run"}, buf)
    return buf.getvalue()


def _legacy_bytes() -> bytes:
    """A pre-1.6 stream checkpoint, laid out as torch wrote it (see test_io)."""
    stream = io.BytesIO()
    for part in (serialization._PICKLE_MAGIC, 1001,
                 {"protocol_version": 1001, "little_endian": True,
                  "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(part, stream, protocol=2)
    stream.write(_p2(_dict(w=_tensor("94001", 64, (8, 8), "LongStorage", legacy=True), step=_i(7))))
    pickle.dump(["94001"], stream, protocol=2)
    stream.write(struct.pack("<q", 64) + np.arange(64, dtype="<i8").tobytes())
    return stream.getvalue()


def _safetensors_bytes() -> bytes:
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + np.arange(16, dtype="<f4").tobytes()


def _load_bytes(raw: bytes, **kw):
    return tio.load(io.BytesIO(raw), **kw)


# --------------------------------------------------------------------------
# loading limits, one at a time (in process, where that is safe)


def test_legit_files_of_each_format_still_load():
    got = _load_bytes(_legit_bytes())
    np.testing.assert_array_equal(A(got["w"]), np.arange(64, dtype=np.float32).reshape(8, 8))
    assert (got["step"], got["name"]) == (7, "run")
    got = _load_bytes(_legacy_bytes())
    np.testing.assert_array_equal(A(got["w"]), np.arange(64).reshape(8, 8))


def test_deflated_bomb_in_data_pkl_is_refused_by_ratio_before_inflating():
    raw = _checkpoint(b"", {}, pkl_entry=_entry("archive/data.pkl", _deflate_zeros(64), size=64 << 20,
                                                 method=zipfile.ZIP_DEFLATED))
    with pytest.raises(tio.CheckpointError, match=r"archive/data.pkl.*ratio.*max_compression_ratio"):
        _load_bytes(raw)


def test_deflated_bomb_in_byteorder_is_refused():
    raw = _raw_zip(
        [
            _entry("archive/data.pkl", _p2(_dict())),
            _entry("archive/byteorder", _deflate_zeros(64), size=64 << 20, method=zipfile.ZIP_DEFLATED),
        ]
    )
    with pytest.raises(tio.CheckpointError, match=r"archive/byteorder.*ratio"):
        _load_bytes(raw)
    # stored, it is bounded by the file, but still no byte order record is 1 MB long
    raw = _raw_zip([_entry("archive/data.pkl", _p2(_dict())), _entry("archive/byteorder", bytes(1 << 20))])
    with pytest.raises(tio.CheckpointError, match=r"1048576-byte .byteorder. record"):
        _load_bytes(raw)


def _compressed_copy(raw: bytes) -> bytes:
    """``raw`` re-zipped with every entry deflated (as a zip tool might)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return out.getvalue()


def test_compressed_entries_within_the_caps_load_and_the_keywords_raise_them():
    zeros = np.zeros((1024, 1024), dtype=np.float32)  # 4 MiB: deflates about 1000:1
    buf = io.BytesIO()
    tio.save({"z": T(zeros), "r": T(np.random.default_rng(0).standard_normal(1000))}, buf)
    raw = _compressed_copy(buf.getvalue())
    with pytest.raises(tio.CheckpointError, match=r"archive/data/\d.*max_compression_ratio"):
        _load_bytes(raw)
    got = _load_bytes(raw, max_compression_ratio=None)
    np.testing.assert_array_equal(A(got["z"]), zeros)
    got = _load_bytes(raw, max_compression_ratio=2000)
    np.testing.assert_array_equal(A(got["z"]), zeros)
    with pytest.raises(tio.CheckpointError, match=r"max_decompressed_size"):
        _load_bytes(raw, max_compression_ratio=None, max_decompressed_size=1 << 20)
    got = _load_bytes(raw, max_compression_ratio=None, max_decompressed_size=8 << 20)
    np.testing.assert_array_equal(A(got["z"]), zeros)
    # an ordinary compressed file (random data) needs no keyword at all
    buf = io.BytesIO()
    tio.save({"r": T(np.random.default_rng(1).standard_normal(300_000))}, buf)
    assert A(_load_bytes(_compressed_copy(buf.getvalue()))["r"]).shape == (300_000,)


@pytest.mark.parametrize("kw", [{"max_decompressed_size": -1}, {"max_compression_ratio": "10"},
                                {"max_decompressed_size": True}])
def test_limit_keywords_are_validated(kw):
    with pytest.raises(ValueError, match="must be a non-negative number or None"):
        _load_bytes(_legit_bytes(), **kw)


def test_limit_keywords_are_keyword_only():
    with pytest.raises(TypeError):
        tio.load(io.BytesIO(_legit_bytes()), None, True, 1 << 20)


@pytest.mark.parametrize(
    "declared,zip64", [(3_900_000_000, False), (4 << 40, True)], ids=["3.9GB", "zip64-4TB"]
)
def test_record_claiming_more_than_the_archive_holds(declared, zip64):
    pkl = _p2(_dict(t=_tensor("0", declared // 4, (declared // 4,))))
    # inflated size lies, stored size is true
    raw = _raw_zip([_entry("archive/data.pkl", pkl),
                    _entry("archive/data/0", bytes(16), size=declared, zip64=zip64)])
    with pytest.raises(
        tio.CheckpointError, match=rf"archive/data/0.*declares {declared} bytes while holding 16"
    ):
        _load_bytes(raw)
    # both lie: the stored bytes would run past the end of the archive
    raw = _raw_zip([_entry("archive/data.pkl", pkl),
                    _entry("archive/data/0", bytes(16), size=declared, csize=declared, zip64=zip64)])
    with pytest.raises(
        tio.CheckpointError, match=rf"archive/data/0.*claims {declared} bytes at offset \d+.*ends at"
    ):
        _load_bytes(raw)


def test_record_bigger_than_its_storage_needs_is_read_only_as_far_as_declared():
    pkl = _dict(t=_tensor("0", 2, (2,)))
    got = _load_bytes(_checkpoint(pkl, {"0": np.arange(8, dtype="<f4").tobytes()}))
    np.testing.assert_array_equal(A(got["t"]), [0.0, 1.0])


def test_pickle_declaring_more_than_the_record_holds():
    pkl = _dict(t=_tensor("0", 1 << 40, (1 << 40,)))
    with pytest.raises(tio.CheckpointError, match=r"holds 16 bytes, but its tensors need 4398046511104"):
        _load_bytes(_checkpoint(pkl, {"0": bytes(16)}))


def test_duplicate_data_pkl_is_refused():
    good = _p2(_dict(x=_i(1)))
    evil = _p2(_dict(x=_i(2)))
    raw = _raw_zip([_entry("archive/data.pkl", good), _entry("archive/data.pkl", evil)])
    with pytest.raises(tio.CheckpointError, match=r"two zip entries named 'archive/data.pkl'"):
        _load_bytes(raw)


def test_duplicate_storage_record_is_refused():
    pkl = _dict(t=_tensor("0", 4, (4,)))
    raw = _checkpoint(pkl, {"0": bytes(16)}, extra=[_entry("archive/data/0", b"\xff" * 16)])
    with pytest.raises(tio.CheckpointError, match=r"two zip entries named 'archive/data/0'"):
        _load_bytes(raw)


def test_two_checkpoints_in_one_archive_are_refused():
    raw = _raw_zip([_entry("a/data.pkl", _p2(_i(1))), _entry("b/data.pkl", _p2(_i(2)))])
    with pytest.raises(tio.CheckpointError, match=r"holds 2 checkpoints \(a/data.pkl, b/data.pkl\)"):
        _load_bytes(raw)


def test_overlapping_entries_are_refused():
    # A stored entry whose bytes are another entry (local header and data):
    # the classic way to make N entries out of one file's worth of bytes.
    inner = _entry("archive/data/0", np.arange(4, dtype="<f4").tobytes())
    outer = _entry("archive/padding", _local_header(inner) + inner["stored"])
    pkl = _entry("archive/data.pkl", _p2(_dict(t=_tensor("0", 4, (4,)))))
    head = len(_local_header(pkl)) + len(pkl["stored"])
    inner["at"] = head + len(_local_header(outer))
    raw = _raw_zip([pkl, outer, inner])
    with pytest.raises(
        tio.CheckpointError, match=r"overlapping zip entries 'archive/padding' and 'archive/data/0'"
    ):
        _load_bytes(raw)


def test_unusual_compression_methods_are_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("archive/data.pkl", _p2(_i(1)))
    with pytest.raises(tio.CheckpointError, match="compression method 12"):
        _load_bytes(out.getvalue())


def test_stored_entry_with_two_different_sizes_is_refused():
    raw = _raw_zip([dict(_entry("archive/data.pkl", _p2(_i(1))), size=1000)])
    with pytest.raises(tio.CheckpointError, match="declares 1000 bytes while holding"):
        _load_bytes(raw)


def test_legacy_file_truncated_mid_global_says_truncated():
    raw = _legacy_bytes()
    cut = raw.index(b"torch\nLongStorage\n") + len(b"torch\nLongSt")
    with pytest.raises(tio.CheckpointError, match="is truncated") as info:
        _load_bytes(raw[:cut])
    assert "refused" not in str(info.value)


@pytest.mark.parametrize("tenth", range(1, 10))
def test_legacy_truncation_at_every_tenth_says_truncated(tenth):
    raw = _legacy_bytes()
    with pytest.raises(tio.CheckpointError, match="truncated"):
        _load_bytes(raw[: len(raw) * tenth // 10])


def test_deep_list_nesting_is_refused():
    body = b"]" * 20_000 + b"a" * 19_999
    with pytest.raises(tio.CheckpointError, match="nests containers more than 100 levels deep"):
        _load_bytes(_checkpoint(body, {}))
    body = b"(" * 20_000 + b"l" * 20_000
    with pytest.raises(tio.CheckpointError, match="nests containers more than 100 levels deep"):
        _load_bytes(_checkpoint(body, {}))


def test_deep_tuple_nesting_is_refused_before_anything_hashes_it():
    # As a dict key this used to crash the interpreter (hash recursion in C);
    # here the depth is kept small enough to be safe even without the check.
    body = b"}" + b")" + b"\x85" * 5_000 + b"Ns"
    with pytest.raises(tio.CheckpointError, match="nests tuples more than 100 levels deep"):
        _load_bytes(_checkpoint(body, {}))


def test_nesting_within_the_limit_and_shared_subtrees_load():
    deep = []
    for _ in range(98):
        deep = [deep]
    buf = io.BytesIO()
    tio.save({"deep": deep}, buf)
    assert _load_bytes(buf.getvalue())["deep"] == deep
    # a DAG with 2**60 paths but 60 levels: must be cheap and accepted
    body = b")"
    for _ in range(60):
        body += b"q\x000h\x00h\x00\x86"  # memo[0] = t; pop; t = (t, t)
    got = _load_bytes(_checkpoint(body, {}))
    assert got[0] is got[1]


def test_dunder_attributes_cannot_be_set_through_build():
    body = (
        _g("collections", "OrderedDict") + b")R" + b"}" + _s("__reduce_ex__") + _g("builtins", "set") + b"sb"
    )
    with pytest.raises(tio.UnpicklingRefused, match="set state"):
        _load_bytes(_checkpoint(body, {}))
    body = _g("collections", "OrderedDict") + b")R" + b"}" + _s("_metadata") + b"}sb"
    assert _load_bytes(_checkpoint(body, {})) == {}


def test_safetensors_deep_json_is_refused_before_parsing(tmp_path):
    header = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    header += b" " * (-len(header) % 8)
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(SafetensorsError, match="nests JSON 100001 levels deep"):
        tio.load_safetensors(path)


def test_safetensors_brackets_inside_strings_do_not_count(tmp_path):
    meta = {"note": "[" * 500 + '\\"{' * 300}
    path = tmp_path / "ok.safetensors"
    tio.save_safetensors({"w": T(np.ones(3, np.float32))}, path, metadata=meta)
    assert tio.load_safetensors_metadata(path) == meta


# --------------------------------------------------------------------------
# the corpus


def _marker_payloads(marker: str):
    """(id, pickle bytes) for pickles that would create ``marker`` if any code ran."""
    cmd = f"touch {marker}"
    code = f"open({marker!r}, 'w').close()"
    args = _tup(_s(cmd))
    out = {
        "GLOBAL-os.system": _p2(_g("os", "system") + args + b"R"),
        "GLOBAL-posix.system": _p2(_g("posix", "system") + args + b"R"),
        "GLOBAL-builtins.open": _p2(_g("builtins", "open") + _tup(_s(marker), _s("w")) + b"R"),
        "GLOBAL-py2-eval": _p2(_g("__builtin__", "eval") + _tup(_s(code)) + b"R"),
        "GLOBAL-exec": _p2(_g("builtins", "exec") + _tup(_s(code)) + b"R"),
        "GLOBAL-subprocess": _p2(_g("subprocess", "getoutput") + args + b"R"),
        "GLOBAL-torch.load": _p2(_g("torch", "load") + _tup(_s(marker)) + b"R"),
        "GLOBAL-numpy": _p2(_g("numpy", "load") + _tup(_s(marker)) + b"R"),
        "GLOBAL-in-dict-value": _p2(_dict(x=_g("os", "system") + args + b"R")),
        "STACK_GLOBAL": _p4(_s4("os") + _s4("system") + b"\x93" + _s4(cmd) + b"\x85R"),
        "STACK_GLOBAL-builtins.eval": _p4(_s4("builtins") + _s4("eval") + b"\x93" + _s4(code) + b"\x85R"),
        "INST": b"\x80\x02(" + _s(cmd) + b"ios\nsystem\n.",
        "INST-allowed-function": b"\x80\x02(" + _i(1) + b"itorch._utils\n_rebuild_tensor_v2\n.",
        "OBJ": _p2(b"(" + _g("os", "system") + _s(cmd) + b"o"),
        "OBJ-allowed-function": _p2(b"(" + _g("torch", "Size") + b"o"),
        "OBJ-bytearray-bomb": _p2(b"(" + _g("__builtin__", "bytearray") + _i(0x7FFFFFFF) + b"o"),
        "NEWOBJ": _p2(_g("os", "system") + args + b"\x81"),
        "NEWOBJ-allowed-function": _p2(_g("torch", "Size") + b")\x81"),
        "NEWOBJ_EX": _p4(_s4("os") + _s4("system") + b"\x93" + args + b"}\x92"),
        "NEWOBJ_EX-allowed-function": _p4(_g("torch", "device") + _tup(_s("cpu")) + b"}\x92"),
        "REDUCE-bytearray-bomb": _p2(_g("__builtin__", "bytearray") + _tup(_i(0x7FFFFFFF)) + b"R"),
        "REDUCE-bytes-bomb": _p2(_g("__builtin__", "bytes") + _tup(_i(0x7FFFFFFF)) + b"R"),
        "REDUCE-codecs-other-encoding": _p2(_g("_codecs", "encode") + _tup(_s("x"), _s("rot13")) + b"R"),
        "REDUCE-on-unpickled-data": _p2(_s("x") + b")R"),
        "BUILD-on-function": _p2(
            _g("torch._utils", "_rebuild_tensor_v2") + b"}" + _s("__code__") + _i(1) + b"sb"
        ),
        "BUILD-on-set": _p2(_g("builtins", "set") + b")R}" + _s("x") + _i(1) + b"sb"),
        "BUILD-dunder": _p2(
            _g("collections", "OrderedDict") + b")R}" + _s("__class__") + _g("builtins", "set") + b"sb"
        ),
        "BUILD-slotstate": _p2(_g("collections", "OrderedDict") + b")RN}" + _s("x") + _i(1) + b"s\x86b"),
        # EXT codes: the child registers 240, 0x1234, 0x123456 as os.system, posix.system, exec
        "EXT1": _p2(b"\x82\xf0" + args + b"R"),
        "EXT2": _p2(b"\x83" + struct.pack("<H", 0x1234) + args + b"R"),
        "EXT4": _p2(b"\x84" + struct.pack("<i", 0x123456) + _tup(_s(code)) + b"R"),
        "EXT-unregistered": _p2(b"\x82\x07" + args + b"R"),
        "PERSID-text": b"\x80\x02P" + cmd.encode() + b"\n.",
        "BINPERSID-module": _p2(_tup(_s("module"), _s("os"), _s("system")) + b"Q"),
        "BINPERSID-storage-type-is-os.system": _p2(
            _tup(_s("storage"), _g("os", "system"), _s("0"), _s("cpu"), _i(1)) + b"Q"
        ),
        "APPEND-to-tensor-class": _p2(_g("torch", "Tensor") + _i(1) + b"a"),
        "SETITEM-on-storage-type": _p2(_g("torch", "FloatStorage") + _i(0) + _i(1) + b"s"),
        "ADDITEMS-on-list": _p4(b"](" + _i(1) + b"\x90"),
        "torch-module-class": _p2(_g("torch.nn.modules.linear", "Linear") + b")R"),
        "sparse-rebuild": _p2(_g("torch._utils", "_rebuild_sparse_tensor") + b")R"),
        "rebuild_from_type-subclass": _p2(
            _g("torch._tensor", "_rebuild_from_type_v2")
            + _tup(_g("torch._utils", "_rebuild_tensor_v2"), _g("os", "system"), b")", b"}")
            + b"R"
        ),
        "memo-get-missing": _p2(b"h\x05"),
        "BINBYTES8-lying-length": b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc.",
        "BYTEARRAY8-lying-length": b"\x80\x05\x96" + struct.pack("<Q", 1 << 40) + b"abc.",
        "LONG4-lying-length": _p2(b"\x8b" + struct.pack("<i", 0x7FFFFFF0) + b"\x01"),
        "NEXT_BUFFER": b"\x80\x05\x97.",
        "FRAME-lying-length": b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"N.",
        "storage-numel-2**40": _p2(_dict(t=_tensor("0", 1 << 40, (1 << 40,)))),
    }
    return out


def _zip_corpus(legit: bytes):
    pkl = _dict(t=_tensor("0", 4, (4,)))
    bomb_mib = 2500  # 2.5 GB inflated from about 2.6 MB
    numel = (bomb_mib << 20) // 4
    inner = _entry("archive/data/0", np.arange(4, dtype="<f4").tobytes())
    outer = _entry("archive/padding", _local_header(inner) + inner["stored"])
    first = _entry("archive/data.pkl", _p2(pkl))
    inner["at"] = len(_local_header(first)) + len(first["stored"]) + len(_local_header(outer))
    yield (
        "bomb-data.pkl",
        _raw_zip(
            [
                _entry(
                    "archive/data.pkl",
                    _deflate_zeros(bomb_mib),
                    method=zipfile.ZIP_DEFLATED,
                    size=bomb_mib << 20,
                )
            ]
        ),
    )
    yield "bomb-byteorder", _raw_zip([
        _entry("archive/data.pkl", _p2(_dict())),
        _entry("archive/byteorder", _deflate_zeros(bomb_mib), method=zipfile.ZIP_DEFLATED,
               size=bomb_mib << 20)])
    yield "bomb-storage", _checkpoint(_dict(t=_tensor("0", numel, (numel,))), {}, extra=[
        _entry("archive/data/0", _deflate_zeros(bomb_mib), method=zipfile.ZIP_DEFLATED, size=bomb_mib << 20)])
    yield "bomb-storage-lying-small-size", _checkpoint(_dict(t=_tensor("0", 4, (4,))), {}, extra=[
        _entry("archive/data/0", _deflate_zeros(bomb_mib), method=zipfile.ZIP_DEFLATED, size=16)])
    yield "storage-claims-3.9GB", _checkpoint(_dict(t=_tensor("0", 975_000_000, (975_000_000,))), {}, extra=[
        _entry("archive/data/0", bytes(16), size=3_900_000_000)])
    yield "storage-claims-4TB-zip64", _checkpoint(_dict(t=_tensor("0", 1 << 40, (1 << 40,))), {}, extra=[
        _entry("archive/data/0", bytes(16), size=4 << 40, zip64=True)])
    yield "data.pkl-claims-3.9GB", _raw_zip([_entry("archive/data.pkl", _p2(_i(1)), size=3_900_000_000)])
    yield "duplicate-data.pkl", _raw_zip([_entry("archive/data.pkl", _p2(_i(1))),
                                          _entry("archive/data.pkl", _p2(_i(2)))])
    yield (
        "duplicate-storage",
        _checkpoint(pkl, {"0": bytes(16)}, extra=[_entry("archive/data/0", b"\xff" * 16)]),
    )
    yield "two-archives", _raw_zip([_entry("a/data.pkl", _p2(_i(1))), _entry("b/data.pkl", _p2(_i(2)))])
    yield "overlapping-entries", _raw_zip([first, outer, inner])
    yield "bzip2-entry", _raw_zip([_entry("archive/data.pkl", b"BZh9", method=zipfile.ZIP_BZIP2, size=10)])
    yield "central-dir-offset-past-end", legit[:-6] + struct.pack("<L", 1 << 31) + legit[-2:]
    yield "central-dir-size-lie", legit[:-10] + struct.pack("<L", 1 << 31) + legit[-6:]
    yield "record-missing", _checkpoint(pkl, {})
    yield "no-local-header", _raw_zip([dict(_entry("archive/data.pkl", _p2(_i(1))), at=1 << 20)])


def _nesting_corpus():
    n = 100_000
    yield "nested-lists-100k", _checkpoint(b"]" * n + b"a" * (n - 1), {})
    yield "nested-marks-100k", _checkpoint(b"(" * n + b"l" * n, {})
    yield "nested-dict-values-100k", _checkpoint(b"}" + (_s("k") + b"}") * n + b"s" * n, {})
    # 1 MB of nested 1-tuples used as a dict key: hashing it overflowed the C stack
    yield "nested-tuple-dict-key-1M", _checkpoint(b"}" + b")" + b"\x85" * 1_000_000 + b"Ns", {})
    yield "nested-tuple-in-set-1M", _checkpoint(
        _g("builtins", "set") + b"(]" + b")" + b"\x85" * 1_000_000 + b"at" + b"R", {})
    yield "nested-frozensets-100k", _raw_zip([_entry("archive/data.pkl",
                                                     b"\x80\x04" + b"(" * n + b"\x91" * n + b".")])
    yield "legacy-nested-tuples", (pickle.dumps(serialization._PICKLE_MAGIC, protocol=2)
                                   + b"\x80\x02}" + b")" + b"\x85" * 1_000_000 + b"Ns.")


def _safetensors_corpus(good: bytes):
    def st(header: bytes, data: bytes = b""):
        header += b" " * (-len(header) % 8)
        return struct.pack("<Q", len(header)) + header + data

    yield "st-deep-arrays-100k", st(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    yield "st-deep-objects-100k", st(b'{"a":' + b'{"b":' * 100_000 + b"1" + b"}" * 100_000 + b"}")
    yield "st-header-length-2**60", struct.pack("<Q", 1 << 60) + good[8:]
    yield "st-header-length-past-end", struct.pack("<Q", len(good)) + good[8:]
    yield "st-shape-lies", st(b'{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,64]}}',
                              bytes(64))
    yield (
        "st-offsets-past-end",
        st(b'{"w":{"dtype":"F32","shape":[4000000000],"data_offsets":[0,16000000000]}}', bytes(64)),
    )
    yield "st-duplicate-key", st(b'{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                                 b'"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x01")
    yield "st-bad-utf8", st(b'{"w\xff":1}')
    yield (
        "st-huge-number",
        st(b'{"w":{"dtype":"U8","shape":[1' + b"0" * 5000 + b'],"data_offsets":[0,1]}}', b"\x01"),
    )


def _truncation_corpus(legit: bytes, legacy: bytes, st: bytes):
    for label, raw, kind in (("zip", legit, "pt"), ("legacy", legacy, "pt"), ("safetensors", st, "st")):
        for tenth in range(1, 10):
            yield f"truncated-{label}-{tenth}0%", raw[: len(raw) * tenth // 10], kind


def _flip_corpus(label: str, raw: bytes, count: int = 30):
    rng = random.Random(12)
    for n in range(count):
        flipped = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            flipped[rng.randrange(len(raw))] ^= rng.randint(1, 255)
        yield f"flip-{label}-{n}", bytes(flipped)


_CHILD = r"""
import json, os, resource, signal, sys, time
limit = 512 << 20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

class Timeout(BaseException):
    pass

def on_alarm(*_):
    raise Timeout()

signal.signal(signal.SIGALRM, on_alarm)
import copyreg
copyreg.add_extension("os", "system", 240)
copyreg.add_extension("posix", "system", 0x1234)
copyreg.add_extension("builtins", "exec", 0x123456)
import numpy as np
import tapegrad.io as tio
from tapegrad.io import _adapter

OURS = (tio.CheckpointError, tio.UnpicklingRefused)

def canon(obj):
    if _adapter.is_tensor(obj):
        a = _adapter.to_numpy(obj)
        return ["tensor", str(a.dtype), list(a.shape), a.tobytes().hex()]
    if isinstance(obj, dict):
        return ["dict", sorted((repr(k), canon(v)) for k, v in obj.items())]
    if isinstance(obj, (list, tuple)):
        return [type(obj).__name__, [canon(v) for v in obj]]
    return repr(obj)

results = []
for case in json.load(open(sys.argv[1])):
    load = tio.load if case["kind"] == "pt" else tio.load_safetensors
    reference = canon(load(case["same_as"])) if case.get("same_as") else None
    cpu, wall = time.process_time(), time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, 10)
    try:
        obj = load(case["path"])
        outcome, detail = "loaded", canon(obj) == reference
    except OURS as e:
        outcome, detail = "refused", f"{type(e).__name__}: {e}"
    except Timeout:
        outcome, detail = "timeout", ""
    except BaseException as e:
        outcome, detail = "escaped", f"{type(e).__name__}: {e}"[:500]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    results.append(dict(id=case["id"], outcome=outcome, detail=detail,
                        cpu=time.process_time() - cpu, wall=time.perf_counter() - wall))
print(json.dumps({"results": results, "torch_imported": "torch" in sys.modules}))
"""


def _run_corpus(tmp_path, cases):
    """Load every case in one child process (512 MB of address space); return its results."""
    listing = []
    for n, (cid, raw, kind, same_as) in enumerate(cases):
        path = tmp_path / f"case{n:03d}.bin"
        path.write_bytes(raw)
        listing.append({"id": cid, "path": str(path), "kind": kind, "same_as": same_as})
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps(listing))
    src = str(pathlib.Path(tio.__file__).parents[2])
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(spec)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0, f"the loader process died ({proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not report["torch_imported"], "a hostile file made tapegrad import torch"
    return report["results"]


def _assert_refused(results, accept_load=None):
    """Every case refused by our own error classes within 1 s of CPU.

    ``accept_load``: "same" also accepts a load equal to the original file's,
    "any" any load (for formats without checksums, where a flip can change
    a value without breaking anything).
    """
    bad = []
    for r in results:
        loaded_ok = r["outcome"] == "loaded" and (
            accept_load == "any" or (accept_load == "same" and r["detail"])
        )
        if r["outcome"] == "refused" or loaded_ok:
            if r["cpu"] > 1.0:
                bad.append(f"{r['id']}: took {r['cpu']:.2f} s of CPU")
            continue
        bad.append(f"{r['id']}: {r['outcome']} {r['detail']}")
    assert not bad, "\n".join(bad)


@pytest.fixture
def marker_dir(tmp_path):
    d = tmp_path / "markers"
    d.mkdir()
    yield d
    assert list(d.iterdir()) == [], "a payload ran"


def test_corpus_code_reaching_pickles(tmp_path, marker_dir):
    cases = []
    for cid, payload in _marker_payloads(str(marker_dir / "pwned")).items():
        cases.append((f"zip-{cid}", _raw_zip([_entry("archive/data.pkl", payload)]), "pt", None))
        cases.append((f"legacy-{cid}", pickle.dumps(serialization._PICKLE_MAGIC, protocol=2)
                      + pickle.dumps(1001, protocol=2) + pickle.dumps({"little_endian": True}, protocol=2)
                      + payload, "pt", None))
    results = _run_corpus(tmp_path, cases)
    _assert_refused(results)
    by_id = {r["id"]: r["detail"] for r in results}
    assert "refused to unpickle 'posix.system'" in by_id["zip-EXT2"]
    assert "refused to unpickle 'builtins.exec'" in by_id["zip-EXT4"]
    assert "nests" not in by_id["zip-GLOBAL-os.system"]


def test_corpus_zip_structure(tmp_path, marker_dir):
    cases = [(cid, raw, "pt", None) for cid, raw in _zip_corpus(_legit_bytes())]
    results = _run_corpus(tmp_path, cases)
    _assert_refused(results)
    by_id = {r["id"]: r["detail"] for r in results}
    assert "ratio" in by_id["bomb-data.pkl"] and "ratio" in by_id["bomb-byteorder"]
    assert "ratio" in by_id["bomb-storage"]
    assert "overlapping" in by_id["overlapping-entries"]
    assert (
        "two zip entries" in by_id["duplicate-data.pkl"] and "two zip entries" in by_id["duplicate-storage"]
    )


def test_corpus_deep_nesting(tmp_path, marker_dir):
    cases = [(cid, raw, "pt", None) for cid, raw in _nesting_corpus()]
    results = _run_corpus(tmp_path, cases)
    _assert_refused(results)
    assert all("levels deep" in r["detail"] for r in results), results


def test_corpus_truncation_at_every_tenth(tmp_path, marker_dir):
    cases = [(cid, raw, kind, None)
             for cid, raw, kind in _truncation_corpus(_legit_bytes(), _legacy_bytes(), _safetensors_bytes())]
    results = _run_corpus(tmp_path, cases)
    _assert_refused(results)
    unnamed = [f"{r['id']}: {r['detail']}" for r in results if "truncated" not in r["detail"]]
    assert not unnamed, "truncation not named as such:\n" + "\n".join(unnamed)


def test_corpus_safetensors(tmp_path, marker_dir):
    cases = [(cid, raw, "st", None) for cid, raw in _safetensors_corpus(_safetensors_bytes())]
    results = _run_corpus(tmp_path, cases)
    _assert_refused(results)
    assert all("SafetensorsError" in r["detail"] for r in results), results


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_corpus_byte_flips(tmp_path, marker_dir, fmt):
    # The zip format has CRCs: a flip is refused, or landed where nothing is
    # read (padding, timestamps) and the file loads exactly as before.  The
    # legacy format has none, so a flip may also load as a different value.
    raw = _legit_bytes() if fmt == "zip" else _legacy_bytes()
    (tmp_path / "original.pt").write_bytes(raw)
    cases = [(cid, flipped, "pt", str(tmp_path / "original.pt")) for cid, flipped in _flip_corpus(fmt, raw)]
    results = _run_corpus(tmp_path, cases)
    _assert_refused(results, accept_load="same" if fmt == "zip" else "any")
    if fmt == "zip":
        assert sum(r["outcome"] == "refused" for r in results) >= len(results) // 2

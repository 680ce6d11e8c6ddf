"""tapegrad.io without PyTorch: round trips, sharing, atomicity, hostile and broken files.

Tensors are built and inspected only through ``tapegrad.io._adapter`` so the
same tests hold while ``tapegrad.Tensor`` is absent (arrays stand in for
tensors) and once it exists.
"""
from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapegrad.io as tio
from tapegrad.io import _adapter, serialization
from tapegrad.io.safetensors import SafetensorsError

A = _adapter.to_numpy
CORE = _adapter.core_available()
PARAMS = CORE and _adapter._parameter_class(_adapter._core()) is not None

ALL_DTYPES = [
    np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
    np.uint8, np.bool_, np.uint16, np.uint32, np.uint64,
]


def test_complex_tensors_are_refused_clearly():
    # tapegrad has no complex dtype: loading one must say so, not fail obscurely
    with pytest.raises(NotImplementedError, match="complex64"):
        _adapter.from_numpy(np.zeros(2, np.complex64))


def T(arr, requires_grad=False, parameter=False):
    """A tapegrad tensor for ``arr``; skips the test if the core lacks that dtype."""
    try:
        return _adapter.from_numpy(np.asarray(arr), requires_grad=requires_grad, parameter=parameter)
    except NotImplementedError as e:
        pytest.skip(str(e))


def sample(dtype, shape=(2, 3)):
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    if dtype.kind == "b":
        return (np.arange(n) % 3 == 0).reshape(shape)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        vals = np.array([info.min, info.max, 0, 1, 7, info.max // 3] * n, dtype=dtype)[:n]
        return vals.reshape(shape)
    real = np.array([0.5, -0.0, np.inf, -np.inf, np.nan, 1e-3] * n)[:n]
    vals = real.astype(dtype)
    if dtype.kind == "c":
        vals.imag = real[::-1]
    return vals.reshape(shape)


def _root(arr):
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


def roundtrip(obj, **kw):
    buf = io.BytesIO()
    tio.save(obj, buf)
    buf.seek(0)
    return tio.load(buf, **kw)


def assert_same(got, want):
    """Deep equality: exact container types, bitwise-equal tensors."""
    if _adapter.is_tensor(want):
        assert _adapter.is_tensor(got), type(got)
        a, b = A(got), A(want)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
        assert _adapter.requires_grad(got) == _adapter.requires_grad(want)
        assert _adapter.is_parameter(got) == _adapter.is_parameter(want)
        return
    assert type(got) is type(want), (type(got), type(want))
    if isinstance(want, dict):
        assert list(got) == list(want)
        for k in want:
            assert_same(got[k], want[k])
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_same(g, w)
    elif isinstance(want, float) and want != want:
        assert got != got
    else:
        assert got == want


# --------------------------------------------------------------------------
# round trips


def test_nested_plain_structures_roundtrip():
    od = OrderedDict([("z", 1), ("a", [T(np.arange(3.0))])])
    od._metadata = {"": {"version": 1}}  # like torch state_dicts
    obj = {
        "none": None, "t": True, "f": False, "int": -(2**70), "float": 1.5, "nan": float("nan"),
        "complex": 1 - 2j, "str": "héllo", "bytes": b"\x00\xff", "empty_bytes": b"",
        "bytearray": bytearray(b"ab"), "set": {1, "a"}, "tuple": (1, (2, (3,))), "list": [[], [[]]],
        "od": od, 7: "int key", ("tuple", "key"): 0,
        "tensors": [T(np.ones((2, 2), np.float32)), {"deep": (T(np.array(3, np.int64)),)}],
    }
    got = roundtrip(obj)
    assert_same(got, obj)
    assert got["od"]._metadata == {"": {"version": 1}}


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(2, 3), (), (0, 4), (5,)])
def test_every_dtype_roundtrips_bitwise(dtype, shape):
    t = T(sample(dtype, shape))
    got = roundtrip({"t": t})["t"]
    assert_same(got, t)


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x.T,
        lambda x: x[:, ::2],
        lambda x: x[1:, 1:],
        lambda x: x[::-1],  # negative strides: saved as a copy
        lambda x: np.asfortranarray(x),
        lambda x: np.broadcast_to(x[:1], (4, 5)),
        lambda x: x.astype(">f8"),  # non-native byte order
    ],
    ids=["transpose", "step", "offset", "reversed", "fortran", "broadcast", "bigendian"],
)
def test_views_roundtrip_values(make):
    x = np.arange(20, dtype=np.float64).reshape(4, 5)
    v = make(x)
    got = A(roundtrip({"v": T(v)})["v"])
    np.testing.assert_array_equal(got, v)
    assert got.dtype == np.float64


def test_shared_storage_is_written_once_and_shared_on_load():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    tensors = {"x": T(x), "row": T(x[2]), "col": T(x[:, 3]), "tail": T(x.reshape(-1)[5:]), "xt": T(x.T)}
    buf = io.BytesIO()
    tio.save(tensors, buf)
    data_records = [n for n in zipfile.ZipFile(io.BytesIO(buf.getvalue())).namelist() if "/data/" in n]
    assert len(data_records) == 1
    buf.seek(0)
    got = tio.load(buf)
    for k, t in tensors.items():
        np.testing.assert_array_equal(A(got[k]), A(t))
    base = A(got["x"])
    for k in ("row", "col", "tail", "xt"):
        assert np.shares_memory(base, A(got[k])), k
    base[2, 3] = -1.0  # a write through one view is seen by the others
    assert A(got["row"])[3] == -1.0 and A(got["col"])[2] == -1.0 and A(got["xt"])[3, 2] == -1.0


def test_same_tensor_twice_and_reload_resave_keeps_sharing():
    t = T(np.arange(6.0))
    got = roundtrip([t, t, {"again": t}])
    assert np.shares_memory(A(got[0]), A(got[1])) and np.shares_memory(A(got[0]), A(got[2]["again"]))
    # loaded views re-save as one storage too
    buf = io.BytesIO()
    tio.save(got, buf)
    assert sum("/data/" in n for n in zipfile.ZipFile(io.BytesIO(buf.getvalue())).namelist()) == 1


def test_views_of_a_big_buffer_save_only_the_span_they_use():
    big = np.arange(1000, dtype=np.float64)
    raw = io.BytesIO()
    tio.save({"a": T(big[100:110]), "b": T(big[150:160:2]), "c": T(big[105:107])}, raw)
    (record,) = [i for i in zipfile.ZipFile(io.BytesIO(raw.getvalue())).infolist() if "/data/" in i.filename]
    assert record.file_size == (158 - 100 + 1) * 8  # elements 100..158
    raw.seek(0)
    got = tio.load(raw)
    np.testing.assert_array_equal(A(got["a"]), big[100:110])
    np.testing.assert_array_equal(A(got["b"]), big[150:160:2])
    assert _root(A(got["a"])) is _root(A(got["b"]))  # one buffer, disjoint elements
    assert np.shares_memory(A(got["a"]), A(got["c"]))


def test_unrelated_tensors_do_not_share():
    got = roundtrip({"a": T(np.zeros(3)), "b": T(np.zeros(3))})
    assert not np.shares_memory(A(got["a"]), A(got["b"]))


@pytest.mark.skipif(not CORE, reason="requires_grad needs tapegrad.Tensor")
def test_requires_grad_roundtrips():
    obj = {"leaf": T(np.ones(3, np.float32), requires_grad=True), "plain": T(np.ones(3, np.float32))}
    got = roundtrip(obj)
    assert_same(got, obj)
    assert _adapter.requires_grad(got["leaf"]) and not _adapter.requires_grad(got["plain"])


@pytest.mark.skipif(not PARAMS, reason="needs tapegrad.nn.Parameter")
def test_parameters_roundtrip():
    obj = {
        "param": T(np.ones((2, 2), np.float32), requires_grad=True, parameter=True),
        "frozen": T(np.ones(2, np.float32), requires_grad=False, parameter=True),
    }
    got = roundtrip(obj)
    assert_same(got, obj)
    assert _adapter.is_parameter(got["param"]) and _adapter.requires_grad(got["param"])


def test_path_pathlib_and_file_objects(tmp_path):
    obj = {"w": T(np.arange(4, dtype=np.int32))}
    for target in (str(tmp_path / "a.pt"), tmp_path / "b.pt", os.fsencode(tmp_path / "c.pt")):
        tio.save(obj, target)
        assert_same(tio.load(target), obj)
    with open(tmp_path / "d.pt", "wb") as fh:
        tio.save(obj, fh)
    with open(tmp_path / "d.pt", "rb") as fh:
        assert_same(tio.load(fh), obj)


class _Stream:
    """A pipe-like binary file: no seek, no tell."""

    def __init__(self, data=b""):
        self._buf = io.BytesIO(data)

    def write(self, b):
        return self._buf.write(b)

    def read(self, n=-1):
        return self._buf.read(n)

    def seekable(self):
        return False


def test_unseekable_streams():
    out = _Stream()
    tio.save({"a": T(np.arange(3.0))}, out)
    got = tio.load(_Stream(out._buf.getvalue()))
    np.testing.assert_array_equal(A(got["a"]), np.arange(3.0))


def test_map_location_spellings():
    obj = {"a": T(np.arange(3.0))}
    for ml in (None, "cpu", "cpu:0", {"cuda:0": "cpu"}, lambda storage, loc: storage):
        np.testing.assert_array_equal(A(roundtrip(obj, map_location=ml)["a"]), np.arange(3.0))
    with pytest.raises(ValueError, match="CPU"):
        roundtrip(obj, map_location="cuda")
    with pytest.raises(ZeroDivisionError):  # the user's own error, not a "corrupt file"
        roundtrip(obj, map_location=lambda s, loc: 1 / 0)
    with pytest.raises(ValueError, match="must return the storage"):
        roundtrip(obj, map_location=lambda s, loc: s.copy())


@pytest.mark.parametrize(
    "bad",
    [object(), np.float32(1.0), frozenset({1}), range(3), pathlib.Path("x"), type],
    ids=["object", "npscalar", "frozenset", "range", "path", "class"],
)
def test_save_refuses_unsupported_objects(bad, tmp_path):
    target = tmp_path / "x.pt"
    with pytest.raises(TypeError, match="tapegrad.save cannot save"):
        tio.save({"ok": 1, "bad": [bad]}, target)
    assert list(tmp_path.iterdir()) == []


def test_io_never_imports_torch(tmp_path):
    path = tmp_path / "a.pt"
    tio.save({"a": T(np.arange(3.0))}, path)
    src = str(pathlib.Path(tio.__file__).parents[2])
    code = (
        "import sys, tapegrad.io as tio; tio.load(sys.argv[1]);"
        "tio.save({'x': [1]}, sys.argv[1] + '.2');"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)


# --------------------------------------------------------------------------
# atomic writes


def _only_file(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    tio.save({"v": 1}, path)
    before = path.read_bytes()

    real = serialization._write_record
    calls = []

    def flaky(zf, name, data):
        calls.append(name)
        if "/data/" in name:  # die after some bytes are already on disk
            real(zf, name, data)
            raise OSError("disk full")
        real(zf, name, data)

    monkeypatch.setattr(serialization, "_write_record", flaky)
    with pytest.raises(OSError, match="disk full"):
        tio.save({"v": T(np.ones(1000))}, path)
    assert any("/data/" in c for c in calls)
    assert path.read_bytes() == before
    assert _only_file(tmp_path) == ["model.pt"]


def test_failed_fsync_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    tio.save([1, 2], path)

    def boom(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(serialization.os, "fsync", boom)
    with pytest.raises(OSError, match="fsync failed"):
        tio.save([3, 4], path)
    monkeypatch.undo()
    assert tio.load(path) == [1, 2]
    assert _only_file(tmp_path) == ["m.pt"]


def test_interrupt_during_save_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization, "_write_record", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tio.save({"a": T(np.ones(3))}, path)
    assert _only_file(tmp_path) == []


def test_save_replaces_existing_file_and_keeps_mode(tmp_path):
    path = tmp_path / "m.pt"
    tio.save([1], path)
    os.chmod(path, 0o640)
    tio.save([2], path)
    assert tio.load(path) == [2]
    assert (os.stat(path).st_mode & 0o777) == 0o640
    assert _only_file(tmp_path) == ["m.pt"]


# --------------------------------------------------------------------------
# hand-built checkpoints, laid out exactly as torch.save writes them


def _s(text):
    b = text.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _i(n):
    return b"J" + struct.pack("<i", n)


def _g(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def _tup(*items):
    return b"(" + b"".join(items) + b"t"


def _tensor_op(key, storage, numel, offset, size, stride, requires_grad=False, location="cpu"):
    pid = _tup(_s("storage"), _g("torch", storage), _s(key), _s(location), _i(numel)) + b"Q"
    return (
        _g("torch._utils", "_rebuild_tensor_v2")
        + _tup(pid, _i(offset), _tup(*map(_i, size)), _tup(*map(_i, stride)),
               b"\x88" if requires_grad else b"\x89", _g("collections", "OrderedDict") + b")R")
        + b"R"
    )


def _dict_op(**items):
    return b"}(" + b"".join(_s(k) + v for k, v in items.items()) + b"u"


def _torch_zip(pkl, records, byteorder=b"little", archive="archive"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{archive}/data.pkl", b"\x80\x02" + pkl + b".")
        zf.writestr(f"{archive}/.format_version", b"1")
        zf.writestr(f"{archive}/.storage_alignment", b"64")
        if byteorder is not None:
            zf.writestr(f"{archive}/byteorder", byteorder)
        for key, data in records.items():
            zf.writestr(f"{archive}/data/{key}", data)
        zf.writestr(f"{archive}/version", b"3\n")
    return buf.getvalue()


def test_hand_built_torch_checkpoint():
    data = np.arange(12, dtype="<f4")
    pkl = _dict_op(
        w=_tensor_op("0", "FloatStorage", 12, 0, (3, 4), (4, 1)),
        col=_tensor_op("0", "FloatStorage", 12, 1, (3,), (4,)),
        n=_tensor_op("1", "LongStorage", 1, 0, (), ()),
        g=_tensor_op("2", "DoubleStorage", 2, 0, (2,), (1,), requires_grad=True, location="cuda:0"),
    )
    raw = _torch_zip(
        pkl,
        {"0": data.tobytes(), "1": np.int64(7).tobytes(), "2": np.array([1.0, 2.0]).tobytes()},
        archive="resnet_weights",
    )
    got = tio.load(io.BytesIO(raw))
    np.testing.assert_array_equal(A(got["w"]), data.reshape(3, 4))
    np.testing.assert_array_equal(A(got["col"]), [1, 5, 9])
    assert np.shares_memory(A(got["w"]), A(got["col"]))
    assert A(got["n"]).shape == () and A(got["n"]).dtype == np.int64 and A(got["n"]) == 7
    np.testing.assert_array_equal(A(got["g"]), [1.0, 2.0])
    assert _adapter.requires_grad(got["g"]) == CORE


def test_hand_built_big_endian_and_bfloat16():
    vals = np.array([1.0, -2.5, 3.25], dtype=np.float32)
    bf16 = (vals.view(np.uint32) >> 16).astype("<u2")  # exact: these need no mantissa bits below 16
    pkl = _dict_op(
        d=_tensor_op("0", "DoubleStorage", 3, 0, (3,), (1,)),
        b=_tensor_op("1", "BFloat16Storage", 3, 0, (3,), (1,)),
    )
    raw = _torch_zip(
        pkl, {"0": vals.astype(">f8").tobytes(), "1": bf16.astype(">u2").tobytes()}, byteorder=b"big"
    )
    got = tio.load(io.BytesIO(raw))
    np.testing.assert_array_equal(A(got["d"]), vals.astype(np.float64))
    assert A(got["d"]).dtype == np.float64 and A(got["d"]).dtype.isnative
    np.testing.assert_array_equal(A(got["b"]), vals)
    assert A(got["b"]).dtype == np.float32


def test_hand_built_legacy_checkpoint():
    """The pre-1.6 stream format: magic, protocol, sys_info, pickle, keys, raw storages."""
    pid = _tup(_s("storage"), _g("torch", "ShortStorage"), _s("94001"), _s("cpu"), _i(6), b"N") + b"Q"
    tensor = (_g("torch._utils", "_rebuild_tensor_v2")
              + _tup(pid, _i(3), _tup(_i(3)), _tup(_i(1)), b"\x89", _g("collections", "OrderedDict") + b")R")
              + b"R")
    stream = io.BytesIO()
    for part in (serialization._PICKLE_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True,
                                                    "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(part, stream, protocol=2)
    stream.write(b"\x80\x02" + _dict_op(v=tensor) + b".")
    pickle.dump(["94001"], stream, protocol=2)
    stream.write(struct.pack("<q", 6) + np.arange(6, dtype="<i2").tobytes())
    got = tio.load(io.BytesIO(stream.getvalue()))
    np.testing.assert_array_equal(A(got["v"]), [3, 4, 5])
    assert A(got["v"]).dtype == np.int16


# --------------------------------------------------------------------------
# hostile files


class _Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _zip_with_pickle(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", b"3\n")
    return buf.getvalue()


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_os_system_pickle_is_refused_and_never_runs(tmp_path, container):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"x": _Evil(os.system, f"touch {marker}")}, protocol=2)
    raw = _zip_with_pickle(payload) if container == "zip" else payload
    path = tmp_path / "evil.pt"
    path.write_bytes(raw)
    with pytest.raises(pickle.UnpicklingError) as info:
        tio.load(path)
    assert isinstance(info.value, tio.UnpicklingRefused)
    assert f"refused to unpickle '{os.system.__module__}.system'" in str(info.value)
    assert "only tensors and plain containers are allowed" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "func,args",
    [(eval, ("1+1",)), (getattr, ("text", "upper")), (subprocess.check_call, (["true"],)),
     (pickle.loads, (b"N.",)), (np.frombuffer, (b"\x00" * 8,))],
    ids=["eval", "getattr", "subprocess", "pickle.loads", "numpy"],
)
def test_other_globals_are_refused(func, args):
    with pytest.raises(tio.UnpicklingRefused, match="refused to unpickle"):
        tio.load(io.BytesIO(_zip_with_pickle(pickle.dumps(_Evil(func, *args), protocol=2))))


@pytest.mark.parametrize(
    "payload,match",
    [
        # BUILD on an allowed function would let a file rewrite our rebuild code's attributes
        (_g("torch._utils", "_rebuild_tensor_v2") + b"}" + _s("__defaults__") + _i(1) + b"sb", "set state"),
        # NEWOBJ of an allowed callable that is not a container class
        (_g("torch", "Size") + b")\x81", "construct"),
        # a module-level torch class needs torch itself
        (_g("torch.nn.modules.linear", "Linear") + b")R", "PyTorch itself"),
        # container opcodes aimed at a non-container (here: SETITEM on a rebuilt storage type)
        (_g("torch", "FloatStorage") + _i(0) + _i(1) + b"s", "set items of"),
        (_g("torch", "Size") + b"(" + _i(1) + b"e", "append to"),
        # persistent ids other than storages
        (_tup(_s("module"), _s("x"), b"N", b"N") + b"Q", "persistent"),
    ],
    ids=["build-on-function", "newobj", "torch-module", "setitem", "appends", "persistent-module"],
)
def test_structural_attacks_are_refused(payload, match):
    with pytest.raises(tio.UnpicklingRefused, match=match):
        tio.load(io.BytesIO(_zip_with_pickle(b"\x80\x02" + payload + b".")))


def test_sparse_tensor_is_refused_with_reason():
    payload = b"\x80\x02" + _g("torch._utils", "_rebuild_sparse_tensor") + b")R."
    with pytest.raises(tio.UnpicklingRefused, match="sparse"):
        tio.load(io.BytesIO(_zip_with_pickle(payload)))


def test_weights_only_false_trusts_non_torch_globals():
    from fractions import Fraction

    raw = _zip_with_pickle(pickle.dumps({"f": Fraction(1, 3)}, protocol=2))
    with pytest.raises(tio.UnpicklingRefused):
        tio.load(io.BytesIO(raw))
    assert tio.load(io.BytesIO(raw), weights_only=False) == {"f": Fraction(1, 3)}


# --------------------------------------------------------------------------
# broken files


def _saved_bytes():
    buf = io.BytesIO()
    tio.save({"w": T(np.arange(64, dtype=np.float32)), "meta": {"epoch": 3, "name": "run"}}, buf)
    return buf.getvalue()


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_truncated_file_gives_clear_error(tmp_path, fraction):
    raw = _saved_bytes()
    path = tmp_path / "trunc.pt"
    path.write_bytes(raw[: int(len(raw) * fraction)])
    with pytest.raises(tio.CheckpointError) as info:
        tio.load(path)
    assert isinstance(info.value, RuntimeError)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content,match",
    [
        (b"hello, this is not a checkpoint", "not a PyTorch checkpoint"),
        (b"\x93NUMPY\x01\x00", "NumPy"),
        (pickle.dumps({"a": 1}, protocol=2), "pickle file, not a PyTorch checkpoint"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{}", "safetensors"),
        (b"\x00" * 257 + b"ustar" + b"\x00" * 250, "tar"),
    ],
    ids=["garbage", "npy", "plain-pickle", "safetensors", "tar"],
)
def test_non_checkpoint_files(tmp_path, content, match):
    path = tmp_path / "f.bin"
    path.write_bytes(content)
    with pytest.raises(tio.CheckpointError, match=match) as info:
        tio.load(path)
    assert str(path) in str(info.value)


def test_other_zip_files(tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(tio.CheckpointError, match="no <archive>/data.pkl"):
        tio.load(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m/data.pkl", b"\x80\x02N.")
        zf.writestr("m/constants.pkl", b"\x80\x02N.")
        zf.writestr("m/code/__torch__.py", "")
    with pytest.raises(tio.CheckpointError, match="TorchScript"):
        tio.load(path)


def test_flipped_storage_byte_is_detected_by_crc(tmp_path):
    raw = bytearray(_saved_bytes())
    needle = np.arange(64, dtype=np.float32).tobytes()[40:48]
    raw[raw.index(needle)] ^= 0xFF
    path = tmp_path / "crc.pt"
    path.write_bytes(bytes(raw))
    with pytest.raises(tio.CheckpointError, match="CRC"):
        tio.load(path)


@pytest.mark.parametrize(
    "tensor,records,match",
    [
        (
            _tensor_op("0", "FloatStorage", 6, 0, (2, 3), (3, 1)),
            {"0": b"\x00" * 16},
            "holds 16 bytes.*need 24",
        ),
        (_tensor_op("0", "FloatStorage", 4, 0, (2, 3), (3, 1)), {"0": b"\x00" * 16}, "reads element 5"),
        (_tensor_op("0", "FloatStorage", 6, 1, (2, 3), (3, 1)), {"0": b"\x00" * 24}, "reads element 6"),
        (_tensor_op("0", "FloatStorage", 6, 0, (2, 3), (-3, 1)), {"0": b"\x00" * 24}, "negative"),
        (_tensor_op("0", "FloatStorage", 6, 0, (2, 3), (3, 1)), {}, "no record"),
    ],
    ids=["short-record", "beyond-numel", "out-of-bounds", "negative-stride", "missing-record"],
)
def test_inconsistent_tensor_geometry(tensor, records, match):
    raw = _torch_zip(_dict_op(t=tensor), records)
    with pytest.raises(tio.CheckpointError, match=match):
        tio.load(io.BytesIO(raw))


def test_unsupported_dtype_raises_not_implemented():
    raw = _torch_zip(_dict_op(t=_g("torch._utils", "_rebuild_tensor_v3") + _tup(
        _tup(_s("storage"), _g("torch.storage", "UntypedStorage"), _s("0"), _s("cpu"), _i(4)) + b"Q",
        _i(0), _tup(_i(4)), _tup(_i(1)), b"\x89", _g("collections", "OrderedDict") + b")R",
        _g("torch", "float8_e4m3fn")) + b"R"), {"0": b"\x00" * 4})
    with pytest.raises(NotImplementedError, match="float8_e4m3fn"):
        tio.load(io.BytesIO(raw))


_GOOD = _saved_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_GOOD) - 1), st.integers(1, 255)), min_size=1, max_size=4))
def test_random_corruption_never_escapes_as_a_raw_error(flips):
    raw = bytearray(_GOOD)
    for pos, mask in flips:
        raw[pos] ^= mask
    try:
        tio.load(io.BytesIO(bytes(raw)))
    except (tio.CheckpointError, tio.UnpicklingRefused, NotImplementedError):
        pass


# --------------------------------------------------------------------------
# safetensors


@pytest.mark.parametrize(
    "dtype", [d for d in ALL_DTYPES if d is not np.complex128], ids=lambda d: np.dtype(d).name
)
def test_safetensors_roundtrip_dtypes(tmp_path, dtype):
    t = T(sample(dtype, (3, 2)))
    path = tmp_path / "t.safetensors"
    tio.save_safetensors({"t": t, "s": T(sample(dtype, ()))}, path)
    got = tio.load_safetensors(path)
    assert list(got) == ["s", "t"]
    assert_same(got["t"], t)


def test_safetensors_layout_matches_reference_implementation(tmp_path):
    path = tmp_path / "ref.safetensors"
    tio.save_safetensors({"attn.0": T(np.arange(6, dtype=np.float32).reshape(1, 2, 3))}, path)
    header = b'{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'
    header += b" " * (-len(header) % 8)
    want = struct.pack("<Q", len(header)) + header + np.arange(6, dtype="<f4").tobytes()
    assert path.read_bytes() == want
    tio.save_safetensors({}, path)
    assert path.read_bytes() == b"\x08" + b"\x00" * 7 + b"{}      "


def test_safetensors_metadata_views_and_alignment(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    tensors = {"b": T(np.array([True, False])), "x_t": T(x.T), "i": T(np.arange(3, dtype=np.int16))}
    path = tmp_path / "m.safetensors"
    tio.save_safetensors(tensors, path, metadata={"format": "pt", "note": "ünïcode"})
    assert tio.load_safetensors_metadata(path) == {"format": "pt", "note": "ünïcode"}
    got = tio.load_safetensors(path)
    for k, t in tensors.items():
        np.testing.assert_array_equal(A(got[k]), A(t))
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0
    for info in json.loads(raw[8: 8 + n]).values():
        if "data_offsets" in info:  # descending alignment keeps every tensor aligned
            assert info["data_offsets"][0] % {"F64": 8, "I16": 2, "BOOL": 1}[info["dtype"]] == 0


def test_safetensors_bf16_loads_as_float32(tmp_path):
    vals = np.array([1.0, -0.5, 256.0], dtype=np.float32)
    header = json.dumps({"b": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
    path = tmp_path / "bf.safetensors"
    path.write_bytes(
        struct.pack("<Q", len(header)) + header + (vals.view(np.uint32) >> 16).astype("<u2").tobytes()
    )
    got = A(tio.load_safetensors(path)["b"])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, vals)


def _st_file(tmp_path, header, data=b"", raw_header=None):
    blob = raw_header if raw_header is not None else json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


_F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    "header,data,raw_header,match",
    [
        (None, b"", b"{not json", "not valid JSON"),
        (None, b"", b"\xff\xfe{}", "UTF-8"),
        (None, b"", b"[1, 2]", "JSON object"),
        (None, b"", b'{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, "a": 1}', "duplicate"),
        ({"a": {"dtype": "Q99", "shape": [1], "data_offsets": [0, 1]}}, b"\x00", None, "unknown dtype"),
        ({"a": {"dtype": "F32", "shape": [2]}}, b"\x00" * 8, None, "needs dtype, shape and data_offsets"),
        ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\x00" * 8, None, "invalid shape"),
        (
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 9]}},
            b"\x00" * 8,
            None,
            "invalid data_offsets",
        ),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}}, b"\x00" * 12, None, "needs 8 bytes"),
        (
            {"a": _F32x2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
            b"\x00" * 12,
            None,
            "overlapping",
        ),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\x00" * 12, None, "gapped"),
        ({"a": _F32x2}, b"\x00" * 4, None, "truncated"),
        ({"a": _F32x2}, b"\x00" * 9, None, "data section holds 9"),
        ({"a": _F32x2, "__metadata__": {"k": 1}}, b"\x00" * 8, None, "__metadata__"),
    ],
    ids=[
        "json",
        "utf8",
        "not-object",
        "duplicate",
        "dtype",
        "missing-field",
        "neg-shape",
        "offsets-len",
        "size-mismatch",
        "overlap",
        "gap",
        "truncated",
        "trailing",
        "metadata",
    ],
)
def test_safetensors_malformed_headers(tmp_path, header, data, raw_header, match):
    path = _st_file(tmp_path, header, data, raw_header)
    with pytest.raises(SafetensorsError, match=match) as info:
        tio.load_safetensors(path)
    assert isinstance(info.value, RuntimeError) and str(path) in str(info.value)


def test_safetensors_bad_lengths(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"\x01\x02")
    with pytest.raises(SafetensorsError, match="too small"):
        tio.load_safetensors(path)
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(SafetensorsError, match="limit"):
        tio.load_safetensors(path)
    path.write_bytes(struct.pack("<Q", 100) + b"{}")
    with pytest.raises(SafetensorsError, match="runs past the end"):
        tio.load_safetensors(path)


def test_safetensors_unsupported_dtype(tmp_path):
    path = _st_file(tmp_path, {"a": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\x00")
    with pytest.raises(NotImplementedError, match="F8_E4M3"):
        tio.load_safetensors(path)


def test_safetensors_save_validation(tmp_path):
    path = tmp_path / "v.safetensors"
    with pytest.raises(TypeError, match="names must be str"):
        tio.save_safetensors({1: T(np.ones(1))}, path)
    with pytest.raises(ValueError, match="reserved"):
        tio.save_safetensors({"__metadata__": T(np.ones(1))}, path)
    with pytest.raises(TypeError, match="not a tensor"):
        tio.save_safetensors({"a": [1.0]}, path)
    with pytest.raises(TypeError, match="metadata"):
        tio.save_safetensors({}, path, metadata={"a": 1})
    assert _only_file(tmp_path) == []


def test_safetensors_atomic_write(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    tio.save_safetensors({"a": T(np.ones(2, np.float32))}, path)
    before = path.read_bytes()

    def boom(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(serialization.os, "fsync", boom)
    with pytest.raises(OSError):
        tio.save_safetensors({"a": T(np.zeros(5, np.float32))}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _only_file(tmp_path) == ["w.safetensors"]

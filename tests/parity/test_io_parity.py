"""tapegrad.io against PyTorch itself: torch.save -> tapegrad.load and tapegrad.save -> torch.load.

torch is only the oracle here; tapegrad.io never imports it.
"""
from __future__ import annotations

import io
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad.io as tio  # noqa: E402
from tapegrad.io import _adapter  # noqa: E402

A = _adapter.to_numpy
CORE = _adapter.core_available()


def _parameters_available():
    core = _adapter._core()
    return core is not None and _adapter._parameter_class(core) is not None


def T(arr, requires_grad=False, parameter=False):
    return _adapter.from_numpy(np.asarray(arr), requires_grad=requires_grad, parameter=parameter)


def torch_bytes(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def ours_load(raw, **kw):
    return tio.load(io.BytesIO(raw), **kw)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_complex_checkpoints_are_refused_clearly(dtype):
    # tapegrad has no complex dtype (docs/porting.md): the error names the dtype
    raw = torch_bytes({"z": torch.zeros(2, dtype=dtype)})
    with pytest.raises(NotImplementedError, match="complex"):
        ours_load(raw)


def ours_bytes(obj):
    buf = io.BytesIO()
    tio.save(obj, buf)
    return buf.getvalue()


def torch_load(raw, **kw):
    return torch.load(io.BytesIO(raw), weights_only=True, **kw)


def as_numpy(t):
    t = t.detach()
    return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()


def same_bits(a: np.ndarray, b: np.ndarray):
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


TORCH_DTYPES = [
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool,
    torch.uint16, torch.uint32, torch.uint64,
]
NUMPY_OF = {
    torch.float64: np.float64, torch.float32: np.float32, torch.float16: np.float16,
    torch.int64: np.int64, torch.int32: np.int32, torch.int16: np.int16, torch.int8: np.int8,
    torch.uint8: np.uint8, torch.bool: np.bool_, torch.complex64: np.complex64,
    torch.complex128: np.complex128, torch.uint16: np.uint16, torch.uint32: np.uint32,
    torch.uint64: np.uint64,
}


def torch_sample(dtype, shape=(3, 4)):
    n = int(np.prod(shape))
    if dtype == torch.bool:
        return (torch.arange(n) % 3 == 0).reshape(shape)
    if dtype.is_floating_point or dtype.is_complex:
        vals = torch.tensor([0.5, -0.0, float("inf"), float("-inf"), float("nan"), 1e-3, -7.25, 3e4] * n)[:n]
        if dtype.is_complex:
            return torch.complex(vals, vals.flip(0)).to(dtype).reshape(shape)
        return vals.to(dtype).reshape(shape)
    info = np.iinfo(NUMPY_OF[dtype])
    vals = np.array([info.min, info.max, 0, 1, 7, info.max // 3] * n, dtype=NUMPY_OF[dtype])[:n]
    return torch.from_numpy(vals.reshape(shape).copy())


# --------------------------------------------------------------------------
# torch.save -> tapegrad.load


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(3, 4), (), (0, 2)], ids=["2d", "scalar", "empty"])
def test_torch_save_every_dtype(dtype, shape):
    t = torch_sample(dtype, shape) if shape != (0, 2) else torch.zeros(shape, dtype=dtype)
    got = A(ours_load(torch_bytes({"t": t}))["t"])
    want = as_numpy(t)
    same_bits(got, want)
    if dtype == torch.bfloat16:
        assert got.dtype == np.float32  # documented widening


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_views_offsets_and_shared_storage(zip_format):
    x = torch.arange(48, dtype=torch.float32).reshape(6, 8)
    views = {
        "x": x, "t": x.t(), "block": x[1:4, 2:7], "step": x[:, ::3], "flat_tail": x.view(-1)[13:],
        "row": x[5], "elem": x[2, 3], "expand": x[:1].expand(4, 8), "unsq": x[2:].unsqueeze(1),
    }
    got = ours_load(torch_bytes(views, _use_new_zipfile_serialization=zip_format))
    for k, v in views.items():
        same_bits(A(got[k]), v.numpy())
    base = A(got["x"])
    for k in views:
        assert np.shares_memory(base, A(got[k])), k
    base[2, 3] = -5.0
    assert A(got["elem"]) == -5.0 and A(got["t"])[3, 2] == -5.0


def test_torch_storage_shared_between_dtypes_of_same_size_and_separate_storages():
    a = torch.arange(6, dtype=torch.int64)
    b = torch.arange(6, dtype=torch.int64)
    got = ours_load(torch_bytes([a, b, a[2:]]))
    assert not np.shares_memory(A(got[0]), A(got[1]))
    assert np.shares_memory(A(got[0]), A(got[2]))


def _small_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 5),
    )
    model.train()
    model(torch.randn(2, 3, 6, 6))  # moves running stats, num_batches_tracked -> 1
    return model.eval()


def test_state_dict_of_small_model():
    sd = _small_model().state_dict()
    got = ours_load(torch_bytes(sd))
    assert type(got) is OrderedDict
    assert list(got) == list(sd)
    for k, v in sd.items():
        same_bits(A(got[k]), v.numpy())
    nbt = A(got["1.num_batches_tracked"])
    assert nbt.shape == () and nbt.dtype == np.int64 and int(nbt) == 1
    assert got._metadata == sd._metadata


def test_state_dict_roundtrip_through_tapegrad_loads_into_torch_model():
    model = _small_model()
    ours = ours_load(torch_bytes(model.state_dict()))
    back = torch_load(ours_bytes(ours))
    fresh = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 5),
    ).eval()
    fresh.load_state_dict(back)
    x = torch.randn(3, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
    assert back._metadata == model.state_dict()._metadata


def test_torch_parameters_and_requires_grad():
    obj = {
        "p": torch.nn.Parameter(torch.randn(2, 3)),
        "frozen": torch.nn.Parameter(torch.ones(2), requires_grad=False),
        "leaf": torch.ones(2, requires_grad=True),
        "plain": torch.ones(2),
    }
    got = ours_load(torch_bytes(obj))
    for k, v in obj.items():
        same_bits(A(got[k]), v.detach().numpy())
    if CORE:
        assert [_adapter.requires_grad(got[k]) for k in obj] == [True, False, True, False]
    if _parameters_available():
        assert [_adapter.is_parameter(got[k]) for k in obj] == [True, True, False, False]


def test_torch_special_values():
    obj = {
        "size": torch.Size([2, 3]), "dtype": torch.float16, "bf16": torch.bfloat16,
        "device": torch.device("cpu"), "bytes": b"\x00\xff", "empty": b"", "set": {1, 2},
        "complex": 1 + 2j, "bytearray": bytearray(b"ab"), "nested": (1, [2.5, None, "s"]),
    }
    got = ours_load(torch_bytes(obj))
    assert got["size"] == (2, 3)
    assert got["dtype"] == np.float16
    assert repr(got["bf16"]) == "torch.bfloat16"
    assert got["device"] == "cpu"
    for k in ("bytes", "empty", "set", "complex", "bytearray", "nested"):
        assert got[k] == obj[k] and type(got[k]) is type(obj[k])


def test_torch_neg_bit_views_are_materialised():
    x = torch.tensor([1.0, -2.0, 3.0])
    got = ours_load(torch_bytes({"n": x._neg_view()}))
    same_bits(A(got["n"]), (-x).numpy())


def test_full_module_pickle_is_refused():
    raw = torch_bytes(torch.nn.Linear(2, 2))
    with pytest.raises(tio.UnpicklingRefused, match="torch.nn.modules.linear.Linear"):
        tio.load(io.BytesIO(raw))


def test_map_location_idioms():
    raw = torch_bytes({"a": torch.arange(3.0)})
    for ml in ("cpu", torch.device("cpu"), {"cpu": "cpu"}, lambda storage, loc: storage):
        same_bits(A(ours_load(raw, map_location=ml)["a"]), np.arange(3, dtype=np.float32))


# --------------------------------------------------------------------------
# tapegrad.save -> torch.load(weights_only=True)


@pytest.mark.parametrize("np_dtype", [d for d in NUMPY_OF.values() if np.dtype(d).kind != "c"],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(3, 4), (), (0, 2), (1, 5, 1)], ids=["2d", "scalar", "empty", "unit-dims"])
def test_our_save_every_dtype(np_dtype, shape):
    want = as_numpy(torch_sample({v: k for k, v in NUMPY_OF.items()}[np_dtype], shape)) \
        if 0 not in shape else np.zeros(shape, np_dtype)
    back = torch_load(ours_bytes({"t": T(want)}))["t"]
    assert back.dtype == {v: k for k, v in NUMPY_OF.items()}[np_dtype]
    assert tuple(back.shape) == shape
    assert back.is_contiguous()
    assert back.stride() == torch.empty(shape, dtype=back.dtype).stride()
    same_bits(back.numpy(), want)


def test_our_save_views_share_one_storage_in_torch():
    x = np.arange(48, dtype=np.float32).reshape(6, 8)
    arrays = {"x": x, "t": x.T, "block": x[1:4, 2:7], "step": x[:, ::3], "row": x[5], "elem": x[2, 3, ...]}
    raw = ours_bytes({k: T(v) for k, v in arrays.items()})
    assert sum("/data/" in n for n in zipfile.ZipFile(io.BytesIO(raw)).namelist()) == 1
    back = torch_load(raw)
    ptr = back["x"].untyped_storage().data_ptr()
    for k, v in arrays.items():
        same_bits(back[k].numpy(), v)
        assert back[k].untyped_storage().data_ptr() == ptr
        assert (
            back[k].storage_offset() * 4
            == v.__array_interface__["data"][0] - x.__array_interface__["data"][0]
        )
    back["x"][2, 3] = 99.0
    assert back["elem"].item() == 99.0 and back["t"][3, 2].item() == 99.0


def test_our_save_of_views_into_a_big_buffer():
    big = np.arange(1000, dtype=np.float32)
    back = torch_load(ours_bytes({"a": T(big[100:110]), "b": T(big[150:160:2])}))
    same_bits(back["a"].numpy(), big[100:110])
    same_bits(back["b"].numpy(), big[150:160:2])
    assert back["a"].untyped_storage().nbytes() == (158 - 100 + 1) * 4
    assert back["a"].storage_offset() == 0 and back["b"].storage_offset() == 50


def test_our_save_copies_reversed_views():
    x = np.arange(6.0)
    back = torch_load(ours_bytes({"r": T(x[::-1]), "x": T(x)}))
    same_bits(back["r"].numpy(), x[::-1])
    same_bits(back["x"].numpy(), x)


@pytest.mark.skipif(not CORE, reason="requires_grad needs tapegrad.Tensor")
def test_our_save_requires_grad_in_torch():
    back = torch_load(ours_bytes({"g": T(np.ones(3, np.float32), requires_grad=True),
                                  "n": T(np.ones(3, np.float32))}))
    assert back["g"].requires_grad and not back["n"].requires_grad


@pytest.mark.skipif(not _parameters_available(), reason="needs tapegrad.nn.Parameter")
def test_our_save_parameters_in_torch():
    back = torch_load(ours_bytes({
        "p": T(np.ones((2, 2), np.float32), requires_grad=True, parameter=True),
        "f": T(np.ones(2, np.float32), requires_grad=False, parameter=True),
    }))
    assert isinstance(back["p"], torch.nn.Parameter) and back["p"].requires_grad
    assert isinstance(back["f"], torch.nn.Parameter) and not back["f"].requires_grad


def test_our_save_plain_containers_in_torch():
    od = OrderedDict([("b", 2), ("a", 1)])
    od._metadata = {"": {"version": 1}}
    obj = {
        "none": None, "bool": True, "int": -(2**65), "float": float("inf"), "complex": 2 - 1j,
        "str": "ü", "bytes": b"\x00\xff", "empty": b"", "bytearray": bytearray(b"q"), "set": {3, 4},
        "tuple": (1, (2,)), "list": [[], {}], "od": od, 5: "int-key",
    }
    back = torch_load(ours_bytes(obj))
    assert back == obj
    for k in obj:
        assert type(back[k]) is type(obj[k])
    assert back["od"]._metadata == od._metadata


def test_torch_mmap_reads_our_file(tmp_path):
    path = tmp_path / "w.pt"
    arrays = {
        f"w{i}": np.random.default_rng(i).standard_normal((i + 1, 7)).astype(np.float32) for i in range(5)
    }
    tio.save({k: T(v) for k, v in arrays.items()}, path)
    back = torch.load(path, weights_only=True, mmap=True)
    for k, v in arrays.items():
        same_bits(back[k].numpy(), v)
    # torch aligns record data to 64 bytes so it can be mapped; we do the same
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if "/data/" in info.filename:
                assert (info.header_offset + 30 + len(info.filename) + len(info.extra)) % 64 == 0


def test_zip64_records_stay_aligned_and_readable(tmp_path, monkeypatch):
    # Records over 2 GiB switch zipfile to zip64 headers (20 bytes longer);
    # lowering the limit exercises that path with small tensors.
    import struct

    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1000)
    arrays = {
        f"w{i}": np.random.default_rng(i).standard_normal(300 + 37 * i).astype(np.float32) for i in range(4)
    }
    path = tmp_path / "z64.pt"
    tio.save({k: T(v) for k, v in arrays.items()}, path)
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26: info.header_offset + 30])
            assert (info.header_offset + 30 + name_len + extra_len) % 64 == 0
    for mmap in (False, True):
        back = torch.load(path, weights_only=True, mmap=mmap)
        for k, v in arrays.items():
            same_bits(back[k].numpy(), v)
    for k, v in tio.load(path).items():
        same_bits(A(v), arrays[k])


def test_torch_reads_our_file_saved_to_path_and_we_read_torch_path(tmp_path):
    ours, theirs = tmp_path / "ours.pt", tmp_path / "theirs.pt"
    tio.save({"a": T(np.arange(5, dtype=np.int64))}, ours)
    torch.save({"a": torch.arange(5)}, theirs)
    assert torch.equal(torch.load(ours, weights_only=True)["a"], torch.arange(5))
    same_bits(A(tio.load(theirs)["a"]), np.arange(5, dtype=np.int64))


# --------------------------------------------------------------------------
# safetensors against the reference package (optional)


def test_safetensors_matches_reference_package(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64),
              "c": np.array([True]), "d": np.zeros((0, 3), np.float16)}
    ours, ref = tmp_path / "ours.safetensors", tmp_path / "ref.safetensors"
    tio.save_safetensors({k: T(v) for k, v in arrays.items()}, ours, metadata={"format": "np"})
    st_numpy.save_file(arrays, str(ref), metadata={"format": "np"})
    assert ours.read_bytes() == ref.read_bytes()
    for k, v in st_numpy.load_file(str(ours)).items():
        same_bits(v, arrays[k])
    for k, v in tio.load_safetensors(ref).items():
        same_bits(A(v), arrays[k])

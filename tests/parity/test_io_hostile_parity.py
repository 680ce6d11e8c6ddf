"""The loading limits against real torch.save files: legitimate checkpoints still load exactly.

Companion of tests/test_io_hostile.py (hostile files); torch is only the oracle.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad.io as tio  # noqa: E402
from tapegrad.io import _adapter  # noqa: E402

A = _adapter.to_numpy


def torch_bytes(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def _checkpoint():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 8)).sum().backward()
    opt.step()
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    return {
        "model": model.state_dict(),
        "optim": opt.state_dict(),
        "views": [base, base[1:, ::2], base.t()],
        "dtypes": {
            str(d): torch.arange(5).to(d)
            for d in (
                torch.float16,
                torch.bfloat16,
                torch.int8,
                torch.uint8,
                torch.int16,
                torch.int32,
                torch.bool,
            )
        },
        "nested": {"a": [(1, 2.5, "x"), {"b": None}], "deep": [[[[[[[[[[1]]]]]]]]]]},
        "empty": torch.zeros(0, 3),
    }


def _same(ours, theirs):
    if isinstance(theirs, torch.Tensor):
        expected = theirs.float() if theirs.dtype == torch.bfloat16 else theirs
        np.testing.assert_array_equal(A(ours), expected.numpy())
        assert A(ours).dtype == expected.numpy().dtype
    elif isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for k in theirs:
            _same(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs, strict=True):
            _same(o, t)
    else:
        assert ours == theirs


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_torch_checkpoints_load_exactly_under_the_limits(legacy):
    ckpt = _checkpoint()
    raw = torch_bytes(ckpt, _use_new_zipfile_serialization=not legacy)
    _same(tio.load(io.BytesIO(raw)), ckpt)


def test_torch_checkpoint_recompressed_by_a_zip_tool():
    ckpt = {"w": torch.randn(256, 256), "z": torch.zeros(1024, 1024)}  # z: 4 MiB deflating about 1000:1
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(torch_bytes(ckpt))) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with pytest.raises(tio.CheckpointError, match="max_compression_ratio"):
        tio.load(io.BytesIO(out.getvalue()))
    _same(tio.load(io.BytesIO(out.getvalue()), max_compression_ratio=None), ckpt)


@pytest.mark.parametrize("tenth", range(1, 10))
def test_torch_legacy_file_truncated_says_truncated(tenth):
    raw = torch_bytes({"a": torch.arange(100), "b": [torch.ones(3, dtype=torch.int64)]},
                      _use_new_zipfile_serialization=False)
    with pytest.raises(tio.CheckpointError, match="truncated"):
        tio.load(io.BytesIO(raw[: len(raw) * tenth // 10]))

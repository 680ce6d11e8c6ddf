"""Array-level helpers that change how, not what, NumPy computes (``tapegrad.backend``, relu's zeros)."""
from __future__ import annotations

import numpy as np
import pytest

from tapegrad import backend as B


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(50176, 16), (12544, 32), (4096, 8), (999, 16), (64, 16), (2048, 64)],
                         ids=str)
@pytest.mark.parametrize("ufunc", [np.add, np.subtract, np.multiply], ids=lambda f: f.__name__)
def test_per_column_equals_the_broadcast_ufunc(ufunc, shape, dtype):
    rng = np.random.default_rng(0)
    rows = rng.standard_normal(shape).astype(dtype)
    vec = rng.standard_normal(shape[1]).astype(dtype)
    want = ufunc(rows, vec)
    got = B.per_column(ufunc, rows, vec)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    inplace = rows.copy()
    assert B.per_column(ufunc, inplace, vec, out=inplace) is not None
    np.testing.assert_array_equal(inplace, want)


def test_per_column_falls_back_where_rows_cannot_be_regrouped():
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((16, 4096)).astype("float32").T          # (4096, 16), not C-contiguous
    vec = rng.standard_normal(16).astype("float32")
    np.testing.assert_array_equal(B.per_column(np.subtract, rows, vec), rows - vec)
    np.testing.assert_array_equal(B.per_column(np.multiply, rows, 2.0), rows * 2.0)   # a scalar
    wide = rng.standard_normal((4096, 16)).astype("float32")
    vec64 = vec.astype("float64")
    np.testing.assert_array_equal(B.per_column(np.add, wide, vec64), wide + vec64)


def test_channel_rows_is_a_view_only_for_channels_last_memory():
    x = np.arange(2 * 3 * 4 * 5, dtype="float32").reshape(2, 4, 5, 3).transpose(0, 3, 1, 2)
    rows = B.channel_rows(x)
    assert rows.shape == (40, 3) and np.shares_memory(rows, x)
    np.testing.assert_array_equal(rows, x.transpose(0, 2, 3, 1).reshape(-1, 3))
    assert B.channel_rows(np.ascontiguousarray(x)) is None
    batch = np.ones((5, 3), dtype="float32")
    assert np.shares_memory(B.channel_rows(batch), batch)


@pytest.mark.parametrize("make", [
    lambda r: r.standard_normal((64, 16, 28, 28)).astype("float32"),
    lambda r: np.ascontiguousarray(r.standard_normal((8, 6, 6, 16))).transpose(0, 3, 1, 2),   # channels-last
    lambda r: r.standard_normal((6, 8))[:, ::2],                                               # not dense
    lambda r: r.standard_normal((5, 4))[::-1],                                         # negative stride
    lambda r: r.standard_normal((3, 1, 4)).astype("float32"),
    lambda r: np.asarray(-1.5),
    lambda r: r.standard_normal((1100, 1000)).astype("float32"),                       # past the cache
], ids=["nchw", "nhwc", "strided", "reversed", "unit-dim", "0-d", "large"])
def test_relu_zeros_in_the_input_layout(make):
    from tapegrad.ops.elementwise import _ZEROS, _zeros_in_layout, relu_array
    a = make(np.random.default_rng(2))
    z = _zeros_in_layout(a)
    assert z.shape == a.shape and z.dtype == a.dtype and not z.any()
    if not z.flags.writeable:               # a view of the shared buffer: a's own strides
        assert z.strides == a.strides
    np.testing.assert_array_equal(relu_array(a), np.maximum(a, 0))
    inplace = a.copy()
    relu_array(inplace, out=inplace)
    np.testing.assert_array_equal(inplace, np.maximum(a, 0))
    assert not any(buf.any() for buf in _ZEROS.values())

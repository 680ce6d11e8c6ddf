"""``tapegrad.vision.utils`` (``make_grid``, ``save_image``) and ``vision.datasets.FakeData``.

torchvision is not installed, so the expectations come from its documented behaviour:
the grid layout (``nrow`` images per row, ``padding`` pixels of ``pad_value`` around
each), normalisation onto [0, 1] by a range or by min and max (per image with
``scale_each``), and FakeData's per-index determinism.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.vision.datasets import FakeData
from tapegrad.vision.utils import make_grid, save_image


def _expected_grid(imgs, nrow, padding, pad_value):
    """The layout written out cell by cell, independently of make_grid's arithmetic."""
    b, c, h, w = imgs.shape
    cols = min(nrow, b)
    rows = -(-b // cols)
    out = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value, imgs.dtype)
    for k in range(b):
        r, q = divmod(k, cols)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        out[:, y:y + h, x:x + w] = imgs[k]
    return out


@pytest.mark.parametrize("b,nrow,padding,pad_value", [(5, 2, 2, 0.0), (8, 8, 2, 0.0), (3, 4, 1, 0.5),
                                                      (7, 3, 0, 1.0), (2, 1, 3, 0.25)])
def test_make_grid_layout(b, nrow, padding, pad_value):
    imgs = np.random.default_rng(b).random((b, 3, 4, 5)).astype(np.float32)
    grid = make_grid(tg.tensor(imgs), nrow=nrow, padding=padding, pad_value=pad_value)
    np.testing.assert_array_equal(grid.numpy(), _expected_grid(imgs, nrow, padding, pad_value))
    assert grid.dtype == tg.float32


def test_make_grid_shape_from_the_docs_example():
    assert make_grid(tg.zeros(5, 3, 4, 4), nrow=2).shape == (3, 3 * 6 + 2, 2 * 6 + 2) == (3, 20, 14)
    assert make_grid(tg.zeros(16, 3, 28, 28)).shape == (3, 2 * 30 + 2, 8 * 30 + 2)


def test_single_image_inputs_and_grey_channels():
    one = tg.rand(1, 3, 4, 4)
    np.testing.assert_array_equal(make_grid(one).numpy(), one[0].numpy())  # one image: no padding
    grey = tg.rand(2, 1, 4, 4)
    grid = make_grid(grey, padding=0)
    assert grid.shape == (3, 4, 8)
    np.testing.assert_array_equal(grid[0].numpy(), grid[2].numpy())  # the channel repeated
    assert make_grid(tg.rand(4, 4)).shape == (3, 4, 4)                # (H, W)
    assert make_grid([tg.rand(3, 4, 4), tg.rand(3, 4, 4)], padding=1).shape == (3, 6, 11)


def test_normalize_by_batch_range_by_image_and_by_value_range():
    imgs = np.stack([np.full((3, 2, 2), 2.0), np.full((3, 2, 2), 6.0)]).astype(np.float32)
    imgs[0, 0, 0, 0], imgs[1, 0, 0, 0] = 0.0, 10.0
    t = tg.tensor(imgs)
    g = make_grid(t, padding=0, normalize=True).numpy()
    np.testing.assert_allclose(g, _expected_grid((imgs - 0) / 10, 8, 0, 0), rtol=1e-6)
    g = make_grid(t, padding=0, normalize=True, scale_each=True).numpy()
    each = np.stack([(imgs[0] - 0) / 2, (imgs[1] - 6) / 4])
    np.testing.assert_allclose(g, _expected_grid(each.astype(np.float32), 8, 0, 0), rtol=1e-6)
    g = make_grid(t, padding=0, normalize=True, value_range=(1.0, 5.0)).numpy()
    np.testing.assert_allclose(g, _expected_grid((np.clip(imgs, 1, 5) - 1) / 4, 8, 0, 0), rtol=1e-6)
    assert t.numpy()[1, 0, 0, 0] == 10.0  # the input is left alone
    with pytest.raises(TypeError):
        make_grid(t, normalize=True, value_range=[0, 1])
    with pytest.raises(TypeError):
        make_grid(np.zeros((2, 3, 4, 4)))


def test_save_image_writes_the_grid_rounded_to_uint8(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    imgs = tg.tensor(np.random.default_rng(0).random((4, 3, 5, 6)).astype(np.float32))
    path = tmp_path / "grid.png"
    save_image(imgs, path, nrow=2, padding=1)
    with Image.open(path) as im:
        got = np.asarray(im)
    grid = make_grid(imgs, nrow=2, padding=1).numpy()
    want = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(got, want)
    assert os.listdir(tmp_path) == ["grid.png"]  # no temporary file left behind


def test_save_image_is_atomic_and_takes_file_objects(tmp_path):
    pytest.importorskip("PIL.Image")
    path = tmp_path / "keep.png"
    path.write_bytes(b"old")
    with pytest.raises(ValueError):
        save_image(tg.rand(3, 4, 4), tmp_path / "x.unknownext")
    with pytest.raises(TypeError):
        save_image("not a tensor", path)
    assert path.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["keep.png"]
    import io
    buf = io.BytesIO()
    save_image(tg.rand(3, 4, 4), buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def _pixels(img):
    return np.asarray(img)


def test_fakedata_is_deterministic_per_index_and_leaves_the_global_rng_alone():
    ds = FakeData(size=6, image_size=(3, 8, 5), num_classes=4)
    assert len(ds) == 6
    state = tg.get_rng_state()
    a = [ds[i] for i in (0, 3, 5)]
    b = [ds[i] for i in (5, 3, 0)][::-1]
    assert tg.equal(tg.get_rng_state(), state)
    for (ia, ta), (ib, tb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(_pixels(ia), _pixels(ib))
        assert int(ta) == int(tb)
    assert not np.array_equal(_pixels(a[0][0]), _pixels(a[1][0]))
    img, target = ds[0]
    assert _pixels(img).shape == (8, 5, 3) and _pixels(img).dtype == np.uint8
    assert isinstance(target, tg.Tensor) and target.dtype == tg.int64 and target.ndim == 0
    targets = {int(FakeData(size=200, num_classes=4)[i][1]) for i in range(200)}
    assert targets == {0, 1, 2, 3}
    shifted = FakeData(size=6, image_size=(3, 8, 5), num_classes=4, random_offset=3)
    np.testing.assert_array_equal(_pixels(shifted[0][0]), _pixels(ds[3][0]))
    with pytest.raises(IndexError, match="FakeData index out of range"):
        ds[6]


def test_fakedata_transforms_and_repr():
    from tapegrad.vision import transforms as T
    ds = FakeData(size=3, image_size=(1, 4, 4), num_classes=2, transform=T.ToTensor(),
                  target_transform=lambda t: int(t) + 10)
    img, target = ds[1]
    assert isinstance(img, tg.Tensor) and img.shape == (1, 4, 4) and target in (10, 11)
    assert repr(FakeData(size=3)).splitlines()[:2] == ["Dataset FakeData", "    Number of datapoints: 3"]
    loader = tg.utils.data.DataLoader(FakeData(size=5, image_size=(3, 4, 4), transform=T.ToTensor()),
                                      batch_size=2)
    x, y = next(iter(loader))
    assert x.shape == (2, 3, 4, 4) and y.shape == (2,) and y.dtype == tg.int64

"""tapegrad.vision.transforms without PyTorch: values, shapes, dtypes and randomness.

NumPy arrays stand in for PIL images (``(H, W)`` / ``(H, W, C)``); tensors are
``(..., C, H, W)``.  Pillow-dependent tests skip cleanly when Pillow is missing.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import tapegrad
from tapegrad.vision import transforms as T
from tapegrad.vision.transforms import functional as F


def rgb(h=6, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.fixture
def no_pillow(monkeypatch):
    """Make ``import PIL`` fail, as if Pillow were not installed."""
    for name in list(sys.modules):
        if name == "PIL" or name.startswith("PIL."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)


@pytest.fixture
def default_dtype_restored():
    yield
    tapegrad.set_default_dtype(tapegrad.float32)


# --------------------------------------------------------------------------- ToTensor / PILToTensor
def test_to_tensor_uint8_hwc():
    img = rgb()
    t = T.ToTensor()(img)
    assert isinstance(t, tapegrad.Tensor) and t.shape == (3, 6, 8) and t.dtype == tapegrad.float32
    expected = img.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(t.numpy(), expected)
    assert t.numpy().min() >= 0 and t.numpy().max() <= 1


def test_to_tensor_gray_and_float_arrays(default_dtype_restored):
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    t = T.ToTensor()(g)
    assert t.shape == (1, 3, 4)
    np.testing.assert_allclose(t.numpy()[0], g / 255.0, rtol=1e-6)
    f = np.random.default_rng(1).random((4, 5, 2))  # float64: kept as is, no scaling
    tf = T.ToTensor()(f)
    assert tf.dtype == tapegrad.float64 and tf.shape == (2, 4, 5)
    np.testing.assert_array_equal(tf.numpy(), f.transpose(2, 0, 1))
    tapegrad.set_default_dtype(tapegrad.float64)
    assert T.ToTensor()(g).dtype == tapegrad.float64


def test_to_tensor_errors():
    with pytest.raises(
        TypeError, match="pic should be PIL Image or ndarray. Got <class 'tapegrad.tensor.Tensor'>"
    ):
        T.ToTensor()(tapegrad.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional. Got 4 dimensions."):
        T.ToTensor()(np.zeros((1, 2, 3, 4), np.uint8))
    with pytest.raises(TypeError, match="pic should be PIL Image. Got <class 'numpy.ndarray'>"):
        T.PILToTensor()(rgb())


def test_to_tensor_and_pil_to_tensor_on_pil():
    Image = pytest.importorskip("PIL.Image")
    img = rgb()
    pil = Image.fromarray(img)
    t = T.ToTensor()(pil)
    np.testing.assert_array_equal(t.numpy(), T.ToTensor()(img).numpy())
    p = T.PILToTensor()(pil)
    assert p.dtype == tapegrad.uint8 and p.shape == (3, 6, 8)
    np.testing.assert_array_equal(p.numpy(), img.transpose(2, 0, 1))
    gray = Image.fromarray(img[:, :, 0])
    assert T.ToTensor()(gray).shape == (1, 6, 8)
    binary = Image.fromarray(img[:, :, 0] > 127)  # mode "1": 0/255 -> 0/1
    tb = T.ToTensor()(binary)
    assert set(np.unique(tb.numpy())) <= {0.0, 1.0}
    f = Image.fromarray(np.full((2, 3), 0.25, np.float32))  # mode "F"
    assert T.ToTensor()(f).dtype == tapegrad.float32 and T.ToTensor()(f).numpy().max() == 0.25


# --------------------------------------------------------------------------- Normalize
def test_normalize_values():
    img = rgb()
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    out = T.Compose([T.ToTensor(), T.Normalize(mean, std)])(img)
    x = img.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    expected = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    assert out.dtype == tapegrad.float32 and out.shape == (3, 6, 8)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)
    # a scalar mean/std broadcasts; batches (N, C, H, W) work too
    batch = tapegrad.ones(2, 3, 2, 2)
    np.testing.assert_allclose(T.Normalize(0.5, 0.25)(batch).numpy(), np.full((2, 3, 2, 2), 2.0))


def test_normalize_inplace_and_errors():
    t = tapegrad.ones(1, 2, 2)
    out = T.Normalize([0.5], [0.5])(t)
    assert out is not t and t.numpy().max() == 1.0
    out2 = T.Normalize([0.25], [0.5], inplace=True)(t)
    assert out2 is t and float(t.numpy()[0, 0, 0]) == 1.5
    with pytest.raises(TypeError, match="img should be Tensor Image. Got <class 'numpy.ndarray'>"):
        T.Normalize([0.5], [0.5])(np.ones((1, 2, 2), np.float32))
    with pytest.raises(TypeError, match="Input tensor should be a float tensor. Got torch.uint8."):
        T.Normalize([0.5], [0.5])(tapegrad.ones(1, 2, 2, dtype=tapegrad.uint8))
    with pytest.raises(ValueError, match=r"Expected tensor to be a tensor image of size \(..., C, H, W\)"):
        T.Normalize([0.5], [0.5])(tapegrad.ones(2, 2))
    with pytest.raises(ValueError, match="std evaluated to zero after conversion to torch.float32"):
        T.Normalize([0.5], [0.0])(tapegrad.ones(1, 2, 2))
    assert repr(T.Normalize((0.5,), (0.2,))) == "Normalize(mean=(0.5,), std=(0.2,))"


# --------------------------------------------------------------------------- Resize
def test_resize_output_sizes():
    t = tapegrad.rand(3, 10, 20)
    assert T.Resize((5, 7))(t).shape == (3, 5, 7)
    assert T.Resize(5)(t).shape == (3, 5, 10)  # shorter edge
    assert T.Resize([5])(t).shape == (3, 5, 10)
    assert T.Resize(4, max_size=6)(t).shape == (3, 3, 6)
    assert T.Resize(10)(t) is t  # already that size
    a = rgb(10, 20)
    out = T.Resize(5)(a)
    assert isinstance(out, np.ndarray) and out.shape == (5, 10, 3) and out.dtype == np.uint8
    assert T.Resize((4, 4))(a[:, :, 0]).shape == (4, 4)
    with pytest.raises(ValueError, match="If size is a sequence, it should have 1 or 2 values"):
        T.Resize((1, 2, 3))
    with pytest.raises(TypeError, match="Size should be int or sequence"):
        T.Resize(2.5)
    with pytest.raises(ValueError, match="max_size = 4 must be strictly greater"):
        T.Resize(4, max_size=4)(t)
    assert repr(T.Resize(5)) == "Resize(size=5, interpolation=bilinear, max_size=None, antialias=True)"


def test_resize_bilinear_known_values():
    # Halving with antialias=False averages 2x2 blocks (align_corners=False sampling).
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    out = F.resize(tapegrad.from_numpy(x), [2, 2], antialias=False).numpy()
    expected = x.reshape(1, 2, 2, 2, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # With antialias the triangle filter widens to 4 taps: weights 1/8, 3/8, 3/8, 1/8
    row = np.arange(8, dtype=np.float32)[None, None, :].repeat(2, axis=1)
    aa = F.resize(tapegrad.from_numpy(row), [2, 4], antialias=True).numpy()[0, 0]
    w = np.array([1, 3, 3, 1]) / 8
    expect_mid = [(w * row[0, 0, 2 * i - 1: 2 * i + 3]).sum() for i in (1, 2)]
    np.testing.assert_allclose(aa[1:3], expect_mid, rtol=1e-6)
    # Upsampling a constant image keeps it constant
    c = tapegrad.full((2, 3, 3), 0.7)
    np.testing.assert_allclose(T.Resize((7, 5))(c).numpy(), 0.7, rtol=1e-6)


def test_resize_array_matches_tensor_and_rounds_uint8():
    a = rgb(9, 13, seed=3)
    arr_out = T.Resize((5, 6))(a)
    t_out = T.Resize((5, 6))(tapegrad.from_numpy(a.transpose(2, 0, 1).astype(np.float32)))
    np.testing.assert_array_equal(
        arr_out, np.clip(np.round(t_out.numpy().transpose(1, 2, 0)), 0, 255).astype(np.uint8)
    )
    u8 = F.resize(tapegrad.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))), [5, 6])
    assert u8.dtype == tapegrad.uint8
    np.testing.assert_array_equal(u8.numpy().transpose(1, 2, 0), arr_out)


def test_resize_nearest_and_bicubic():
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    near = F.resize(tapegrad.from_numpy(x), [6, 8], interpolation=T.InterpolationMode.NEAREST)
    np.testing.assert_array_equal(near.numpy(), x.repeat(2, axis=1).repeat(2, axis=2))
    cub = F.resize(tapegrad.from_numpy(x), [6, 8], interpolation=T.InterpolationMode.BICUBIC, antialias=False)
    assert cub.shape == (1, 6, 8)
    const = F.resize(tapegrad.full((1, 3, 4), 2.0), [7, 9], interpolation="bicubic")
    np.testing.assert_allclose(const.numpy(), 2.0, rtol=1e-6)
    with pytest.raises(NotImplementedError, match="only available for PIL images"):
        F.resize(tapegrad.from_numpy(x), [6, 8], interpolation=T.InterpolationMode.LANCZOS)


def test_resize_pil_close_to_array_path():
    Image = pytest.importorskip("PIL.Image")
    a = rgb(32, 40, seed=5)
    for size in [(16, 20), (11, 17), (50, 64)]:
        pil = np.asarray(T.Resize(size)(Image.fromarray(a)))
        arr = T.Resize(size)(a)
        assert pil.shape == arr.shape
        assert np.abs(pil.astype(int) - arr.astype(int)).max() <= 1


# --------------------------------------------------------------------------- crops and flips
def test_center_crop():
    t = tapegrad.arange(36, dtype=tapegrad.float32).reshape(1, 6, 6)
    out = T.CenterCrop(2)(t)
    np.testing.assert_array_equal(out.numpy(), t.numpy()[:, 2:4, 2:4])
    odd = T.CenterCrop((3, 4))(t)
    # top = round((6 - 3) / 2) = round(1.5) = 2 (round half to even), left = 1
    np.testing.assert_array_equal(odd.numpy(), t.numpy()[:, 2:5, 1:5])
    big = T.CenterCrop(8)(t)
    assert big.shape == (1, 8, 8)
    np.testing.assert_array_equal(big.numpy()[:, 1:7, 1:7], t.numpy())
    assert big.numpy()[:, 0].sum() == 0 and big.numpy()[:, :, 7].sum() == 0
    a = rgb(5, 7)
    np.testing.assert_array_equal(T.CenterCrop(3)(a), a[1:4, 2:5])
    assert T.CenterCrop([4]).size == (4, 4)
    with pytest.raises(ValueError, match=r"Please provide only two dimensions \(h, w\) for size."):
        T.CenterCrop((1, 2, 3))
    assert repr(T.CenterCrop(3)) == "CenterCrop(size=(3, 3))"


def test_random_crop_seeded_and_within_image():
    a = rgb(10, 12, seed=2)
    tapegrad.manual_seed(0)
    first = [T.RandomCrop(4)(a) for _ in range(5)]
    tapegrad.manual_seed(0)
    second = [T.RandomCrop(4)(a) for _ in range(5)]
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)
    assert len({x.tobytes() for x in first}) > 1
    for crop in first:  # each crop is a window of the image
        found = any(np.array_equal(a[i:i + 4, j:j + 4], crop) for i in range(7) for j in range(9))
        assert found
    t = tapegrad.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    tapegrad.manual_seed(0)
    tc = T.RandomCrop(4)(t)
    np.testing.assert_array_equal(tc.numpy().transpose(1, 2, 0), first[0])  # same draws for tensors
    assert T.RandomCrop((10, 12))(a) is not None
    with pytest.raises(
        ValueError, match=r"Required crop size \(11, 12\) is larger than input image size \(10, 12\)"
    ):
        T.RandomCrop((11, 12))(a)


def test_random_crop_padding_modes():
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
    t = tapegrad.from_numpy(x)
    out = T.RandomCrop(5, padding=1, fill=-1)(t)
    expected = np.pad(x, ((0, 0), (1, 1), (1, 1)), constant_values=-1)
    np.testing.assert_array_equal(out.numpy(), expected)
    for mode in ["edge", "reflect", "symmetric"]:
        out = T.RandomCrop(5, padding=1, padding_mode=mode)(t)
        np.testing.assert_array_equal(out.numpy(), np.pad(x, ((0, 0), (1, 1), (1, 1)), mode=mode))
    # padding (left/right, top/bottom) and (left, top, right, bottom)
    assert F.pad(t, [2, 1]).shape == (1, 5, 7)
    p4 = F.pad(t, [1, 2, 3, 4])
    assert p4.shape == (1, 9, 7) and p4.numpy()[0, 2, 1] == 0.0 and p4.numpy()[0, 2, 1 + 0] == x[0, 0, 0]
    grown = T.RandomCrop((4, 6), pad_if_needed=True)(t)
    assert grown.shape == (1, 4, 6)
    a = rgb(3, 3)
    colored = F.pad(a, 1, fill=(1, 2, 3))
    assert colored.shape == (5, 5, 3) and colored[0, 0].tolist() == [1, 2, 3]
    with pytest.raises(
        ValueError, match="Padding mode should be either constant, edge, reflect or symmetric"
    ):
        F.pad(t, 1, padding_mode="wrap")
    with pytest.raises(
        ValueError, match="Padding must be an int or a 1, 2, or 4 element tuple, not a 3 element tuple"
    ):
        F.pad(t, [1, 2, 3])
    assert repr(T.RandomCrop(3, padding=2)) == "RandomCrop(size=(3, 3), padding=2)"


def test_random_horizontal_flip():
    a = rgb(4, 5)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(a), a[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(a), a)
    t = tapegrad.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(t).numpy(), a.transpose(2, 0, 1)[:, :, ::-1])
    tapegrad.manual_seed(0)
    flips1 = [np.array_equal(T.RandomHorizontalFlip()(a), a) for _ in range(40)]
    tapegrad.manual_seed(0)
    flips2 = [np.array_equal(T.RandomHorizontalFlip()(a), a) for _ in range(40)]
    assert flips1 == flips2 and 5 < sum(flips1) < 35
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(a), a[::-1])
    assert repr(T.RandomHorizontalFlip()) == "RandomHorizontalFlip(p=0.5)"


def test_pil_geometry():
    Image = pytest.importorskip("PIL.Image")
    a = rgb(10, 12)
    pil = Image.fromarray(a)
    np.testing.assert_array_equal(np.asarray(T.CenterCrop(4)(pil)), T.CenterCrop(4)(a))
    np.testing.assert_array_equal(np.asarray(T.RandomHorizontalFlip(1.0)(pil)), a[:, ::-1])
    tapegrad.manual_seed(1)
    c1 = np.asarray(T.RandomCrop(5, padding=2)(pil))
    tapegrad.manual_seed(1)
    c2 = T.RandomCrop(5, padding=2)(a)
    np.testing.assert_array_equal(c1, c2)
    refl = np.asarray(F.pad(pil, 2, padding_mode="reflect"))
    np.testing.assert_array_equal(refl, F.pad(a, 2, padding_mode="reflect"))
    assert F.get_dimensions(pil) == [3, 10, 12]
    back = T.ToPILImage()(T.ToTensor()(a))
    np.testing.assert_array_equal(np.asarray(back), a)


# --------------------------------------------------------------------------- misc
def test_lambda_compose_repr():
    t = T.Compose([T.Lambda(lambda x: x + 1), T.Lambda(lambda x: x * 2)])
    assert t(3) == 8
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        T.Lambda(3)
    text = repr(T.Compose([T.CenterCrop(10), T.ToTensor()]))
    assert text == "Compose(\n    CenterCrop(size=(10, 10))\n    ToTensor()\n)"
    assert repr(T.Lambda(abs)) == "Lambda()"


def test_convert_image_dtype():
    u8 = tapegrad.tensor([[[0, 128, 255]]], dtype=tapegrad.uint8)
    f = T.ConvertImageDtype(tapegrad.float32)(u8)
    assert f.dtype == tapegrad.float32
    np.testing.assert_allclose(f.numpy(), np.array([[[0, 128, 255]]], np.float32) / 255)
    back = T.ConvertImageDtype(tapegrad.uint8)(f)
    assert back.dtype == tapegrad.uint8 and back.tolist() == [[[0, 128, 255]]]
    # float -> uint8 multiplies by 255.999 and truncates
    assert F.convert_image_dtype(tapegrad.tensor([0.5, 0.999]), tapegrad.uint8).tolist() == [127, 255]
    i16 = F.convert_image_dtype(u8, tapegrad.int16)
    assert i16.dtype == tapegrad.int16 and i16.tolist() == [[[0, 128 * 128, 255 * 128]]]
    assert F.convert_image_dtype(i16, tapegrad.uint8).tolist() == [[[0, 128, 255]]]
    assert F.convert_image_dtype(f, tapegrad.float64).dtype == tapegrad.float64
    assert F.convert_image_dtype(u8, tapegrad.uint8) is u8
    with pytest.raises(
        RuntimeError, match="The cast from torch.float32 to torch.int32 cannot be performed safely."
    ):
        F.convert_image_dtype(f, tapegrad.int32)
    with pytest.raises(TypeError, match="Input img should be Tensor Image"):
        F.convert_image_dtype(np.zeros(2), tapegrad.float32)


def test_transforms_are_modules_and_pickle():
    import pickle

    from tapegrad import nn

    pipeline = nn.Sequential(T.CenterCrop(2), T.Normalize([0.5], [0.5]))
    out = pipeline(tapegrad.ones(1, 4, 4))
    assert out.shape == (1, 2, 2) and float(out.numpy().max()) == 1.0
    t = pickle.loads(pickle.dumps(T.Compose([T.Resize(3), T.ToTensor()])))
    assert t(rgb()).shape == (3, 3, 4)


def test_pillow_missing_gives_clear_error(no_pillow):
    with pytest.raises(ImportError, match="pip install Pillow"):
        T.ToPILImage()(rgb())
    # everything else keeps working on arrays and tensors
    assert T.Compose([T.Resize(3), T.RandomCrop(3), T.ToTensor()])(rgb()).shape == (3, 3, 3)

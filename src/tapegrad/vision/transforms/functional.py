"""Image functions behind ``tapegrad.vision.transforms`` (like ``torchvision.transforms.functional``).

Three kinds of image are accepted:

* tapegrad tensors laid out ``(..., C, H, W)`` (or ``(..., H, W)``), as in torchvision;
* PIL images (Pillow is optional: it is imported only when a PIL image is used);
* NumPy arrays, which stand in for PIL images: ``(H, W)`` or ``(H, W, C)``, and come
  back as NumPy arrays of the same dtype.  Datasets return such arrays when Pillow is
  missing, so a torchvision-style pipeline (``Resize`` -> ``ToTensor`` -> ``Normalize``)
  works unchanged on them.

Resizing tensors and arrays is done in NumPy with PyTorch's interpolation kernels
(``torch.nn.functional.interpolate``, ``align_corners=False``, with or without
``antialias``); PIL images are resized by Pillow.
"""
from __future__ import annotations

import functools
import numbers
import sys
from collections.abc import Sequence
from enum import Enum

import numpy as np

from ... import dtypes as _dtypes
from ...creation import as_tensor
from ...tensor import Tensor

__all__ = [
    "InterpolationMode", "to_tensor", "pil_to_tensor", "normalize", "resize", "pad", "crop",
    "center_crop", "hflip", "vflip", "convert_image_dtype", "get_dimensions", "get_image_size",
    "get_image_num_channels", "to_pil_image",
]

_PILLOW_HINT = "pip install Pillow"


def _import_pil():
    """``PIL.Image``, or an ImportError that says how to install Pillow."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(
            "this operation needs Pillow (PIL images are optional in tapegrad): "
            f"{_PILLOW_HINT}") from e
    return Image


def _try_import_pil():
    """``PIL.Image`` if Pillow is installed, else ``None``."""
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def _is_pil_image(img) -> bool:
    mod = sys.modules.get("PIL.Image")
    return mod is not None and isinstance(img, mod.Image)


def _is_numpy(img) -> bool:
    return isinstance(img, np.ndarray)


def _is_numpy_image(img) -> bool:
    return img.ndim in {2, 3}


class InterpolationMode(Enum):
    """Interpolation modes (the values are torchvision's)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


_PIL_FILTERS = {  # PIL.Image.Resampling values
    InterpolationMode.NEAREST: 0,
    InterpolationMode.LANCZOS: 1,
    InterpolationMode.BILINEAR: 2,
    InterpolationMode.BICUBIC: 3,
    InterpolationMode.BOX: 4,
    InterpolationMode.HAMMING: 5,
}
_FROM_INT = {v: k for k, v in _PIL_FILTERS.items()}


def _interpolation_modes_from_int(i: int) -> InterpolationMode:
    return _FROM_INT[i]


def _as_mode(interpolation) -> InterpolationMode:
    if isinstance(interpolation, InterpolationMode):
        return interpolation
    if isinstance(interpolation, str):
        return InterpolationMode(interpolation)
    if isinstance(interpolation, int):
        return _interpolation_modes_from_int(interpolation)
    raise TypeError("Argument interpolation should be a InterpolationMode or a corresponding Pillow integer constant")


def _bad_type(img):
    return TypeError(f"img should be PIL Image, NumPy array or Tensor. Got {type(img)}")


# --------------------------------------------------------------------------- geometry helpers
def get_dimensions(img) -> list[int]:
    """``[channels, height, width]``."""
    if isinstance(img, Tensor):
        shape = img.shape
        channels = 1 if len(shape) == 2 else shape[-3]
        return [channels, shape[-2], shape[-1]]
    if _is_numpy(img):
        if img.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {img.ndim} dimensions.")
        return [1 if img.ndim == 2 else img.shape[2], img.shape[0], img.shape[1]]
    if _is_pil_image(img):
        w, h = img.size
        return [len(img.getbands()), h, w]
    raise _bad_type(img)


def get_image_size(img) -> list[int]:
    """``[width, height]``."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img) -> int:
    return get_dimensions(img)[0]


def _hw_axes(arr: np.ndarray, is_tensor: bool):
    """(row axis, column axis) of an image array: tensors are (..., H, W), arrays (H, W[, C])."""
    if is_tensor:
        return arr.ndim - 2, arr.ndim - 1
    return 0, 1


def _unwrap(img):
    """(NumPy data, is_tensor) of a tensor or array image."""
    if isinstance(img, Tensor):
        if img.ndim < 2:
            raise TypeError(f"Tensor is not a torch image: expected at least 2 dimensions, got {img.ndim}")
        return img._data, True
    if _is_numpy(img):
        if img.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {img.ndim} dimensions.")
        return img, False
    raise _bad_type(img)


def _rewrap(arr: np.ndarray, is_tensor: bool):
    return Tensor._wrap(np.ascontiguousarray(arr)) if is_tensor else arr


# --------------------------------------------------------------------------- conversion
def to_tensor(pic):
    """A PIL image or ``(H, W[, C])`` array as a ``(C, H, W)`` tensor; uint8 is scaled to [0, 1].

    Other dtypes are kept as they are (a float array stays float, values untouched).
    """
    if not (_is_pil_image(pic) or _is_numpy(pic)):
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    if _is_numpy(pic) and not _is_numpy_image(pic):
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
    default_float_dtype = _dtypes.get_default_dtype().np

    if _is_numpy(pic):
        if pic.ndim == 2:
            pic = pic[:, :, None]
        arr = np.ascontiguousarray(pic.transpose((2, 0, 1)))
        if arr.dtype == np.uint8:
            return Tensor._wrap(arr.astype(default_float_dtype) / default_float_dtype.type(255))
        return as_tensor(arr)

    arr = _pil_to_hwc(pic)
    arr = np.ascontiguousarray(arr.transpose((2, 0, 1)))
    if arr.dtype == np.uint8:
        return Tensor._wrap(arr.astype(default_float_dtype) / default_float_dtype.type(255))
    return as_tensor(arr)


def _pil_to_hwc(pic) -> np.ndarray:
    mode_to_nptype = {"I": np.int32, "I;16" if sys.byteorder == "little" else "I;16B": np.int16,
                      "F": np.float32}
    arr = np.array(pic, mode_to_nptype.get(pic.mode, np.uint8), copy=True)
    if pic.mode == "1":
        arr = 255 * arr
    return arr.reshape(pic.size[1], pic.size[0], len(pic.getbands()))


def pil_to_tensor(pic):
    """A PIL image as a ``(C, H, W)`` tensor of its own dtype (no scaling)."""
    if not _is_pil_image(pic):
        raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
    arr = _pil_to_hwc(pic)
    return Tensor._wrap(np.ascontiguousarray(arr.transpose((2, 0, 1))))


def to_pil_image(pic, mode=None):
    """A ``(C, H, W)`` tensor or ``(H, W[, C])`` array as a PIL image (floats are scaled by 255)."""
    Image = _import_pil()
    if isinstance(pic, Tensor):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        arr = pic._data
        if arr.ndim == 2:
            arr = arr[None]
        arr = arr.transpose(1, 2, 0)
        if arr.dtype.kind == "f" and mode != "F":
            arr = (arr * 255).astype(np.uint8)
    elif _is_numpy(pic):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        arr = pic if pic.ndim == 3 else pic[:, :, None]
    else:
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    if arr.shape[2] == 1:
        arr = arr[:, :, 0]
        if mode is None:
            mode = {np.dtype(np.uint8): "L", np.dtype(np.int16): "I;16", np.dtype(np.int32): "I",
                    np.dtype(np.float32): "F"}.get(arr.dtype)
    if mode is None or mode in ("L", "RGB", "RGBA"):
        return Image.fromarray(np.ascontiguousarray(arr)).convert(mode) if mode else \
            Image.fromarray(np.ascontiguousarray(arr))
    return Image.fromarray(np.ascontiguousarray(arr), mode=mode)


def normalize(tensor, mean, std, inplace=False):
    """``(tensor - mean) / std`` per channel of a float ``(..., C, H, W)`` tensor."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W). Got "
                         f"tensor.size() = {tensor.size()}")
    dtype = tensor.dtype
    np_mean = np.asarray(mean.numpy() if isinstance(mean, Tensor) else mean, dtype=dtype.np)
    np_std = np.asarray(std.numpy() if isinstance(std, Tensor) else std, dtype=dtype.np)
    if (np_std == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {dtype}, leading to division by zero.")
    if np_mean.ndim == 1:
        np_mean = np_mean.reshape(-1, 1, 1)
    if np_std.ndim == 1:
        np_std = np_std.reshape(-1, 1, 1)
    if inplace or tensor.requires_grad:  # tensor ops: version counter and graph stay right
        if not inplace:
            tensor = tensor.clone()
        return tensor.sub_(Tensor._wrap(np_mean)).div_(Tensor._wrap(np_std))
    return Tensor._wrap((tensor._data - np_mean) / np_std)


_MAX_VALUE = {"uint8": 255, "int8": 127, "int16": 32767, "uint16": 65535, "int32": 2147483647,
              "int64": 9223372036854775807}


def _max_value(np_dtype) -> int:
    return _MAX_VALUE.get(np.dtype(np_dtype).name, 1)


def convert_image_dtype(image, dtype=_dtypes.float32):
    """Convert a tensor image's dtype, rescaling values (ints span [0, MAX], floats [0, 1])."""
    if not isinstance(image, Tensor):
        raise TypeError("Input img should be Tensor Image")
    dtype = _dtypes.as_dtype(dtype)
    src = image._data
    dst = np.dtype(dtype.np)
    if src.dtype == dst:
        return image
    if src.dtype.kind == "f":
        if dst.kind == "f":
            return Tensor._wrap(src.astype(dst))
        if (src.dtype == np.float32 and dst in (np.int32, np.int64)) or (
                src.dtype == np.float64 and dst == np.int64):
            raise RuntimeError(f"The cast from {image.dtype} to {dtype} cannot be performed safely.")
        eps = 1e-3
        max_val = float(_max_value(dst))
        return Tensor._wrap((src * src.dtype.type(max_val + 1.0 - eps)).astype(dst))
    input_max = float(_max_value(src.dtype))
    if dst.kind == "f":
        return Tensor._wrap(src.astype(dst) / dst.type(input_max))
    output_max = float(_max_value(dst))
    if input_max > output_max:
        factor = int((input_max + 1) // (output_max + 1))
        return Tensor._wrap(np.floor_divide(src, factor).astype(dst))
    factor = int((output_max + 1) // (input_max + 1))
    return Tensor._wrap(src.astype(dst) * dst.type(factor))


# --------------------------------------------------------------------------- flips
def hflip(img):
    """Flip left-right."""
    if isinstance(img, Tensor):
        return img.flip(-1)
    if _is_numpy(img):
        _unwrap(img)
        return np.ascontiguousarray(img[:, ::-1])
    if _is_pil_image(img):
        return img.transpose(_import_pil().Transpose.FLIP_LEFT_RIGHT)
    raise _bad_type(img)


def vflip(img):
    """Flip top-bottom."""
    if isinstance(img, Tensor):
        return img.flip(-2)
    if _is_numpy(img):
        _unwrap(img)
        return np.ascontiguousarray(img[::-1])
    if _is_pil_image(img):
        return img.transpose(_import_pil().Transpose.FLIP_TOP_BOTTOM)
    raise _bad_type(img)


# --------------------------------------------------------------------------- padding and crops
def _parse_padding(padding):
    """(left, top, right, bottom) from an int or a 1-, 2- or 4-sequence."""
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    padding = [int(p) for p in padding]
    if len(padding) == 1:
        return padding[0], padding[0], padding[0], padding[0]
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    return tuple(padding)


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pad every side: ``padding`` is an int, (left/right, top/bottom) or (left, top, right, bottom).

    ``padding_mode`` is ``constant`` (with ``fill``), ``edge``, ``reflect`` or ``symmetric``.
    """
    if not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate padding arg")
    if not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate fill arg")
    if not isinstance(padding_mode, str):
        raise TypeError("Got inappropriate padding_mode arg")
    if isinstance(padding, (tuple, list)) and len(padding) not in [1, 2, 4]:
        raise ValueError(
            f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")
    if padding_mode not in ["constant", "edge", "reflect", "symmetric"]:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    left, top, right, bottom = _parse_padding(padding)

    if _is_pil_image(img):
        Image = _import_pil()
        if padding_mode == "constant" and min(left, top, right, bottom) >= 0:
            from PIL import ImageOps
            f = tuple(fill) if isinstance(fill, (list, tuple)) else fill
            if img.mode == "P":
                palette = img.getpalette()
                out = ImageOps.expand(img, border=(left, top, right, bottom), fill=f)
                out.putpalette(palette)
                return out
            return ImageOps.expand(img, border=(left, top, right, bottom), fill=f)
        arr = _pad_array(np.asarray(img), False, (left, top, right, bottom), fill, padding_mode)
        return Image.fromarray(arr, mode=img.mode) if img.mode in ("L", "RGB", "RGBA", "F", "I") \
            else Image.fromarray(arr)

    arr, is_tensor = _unwrap(img)
    return _rewrap(_pad_array(arr, is_tensor, (left, top, right, bottom), fill, padding_mode), is_tensor)


def _pad_array(arr, is_tensor, ltrb, fill, padding_mode):
    left, top, right, bottom = ltrb
    hax, wax = _hw_axes(arr, is_tensor)
    # Negative padding crops.
    sl = [slice(None)] * arr.ndim
    sl[hax] = slice(max(-top, 0), arr.shape[hax] - max(-bottom, 0))
    sl[wax] = slice(max(-left, 0), arr.shape[wax] - max(-right, 0))
    arr = arr[tuple(sl)]
    left, top, right, bottom = (max(p, 0) for p in (left, top, right, bottom))
    widths = [(0, 0)] * arr.ndim
    widths[hax] = (top, bottom)
    widths[wax] = (left, right)
    if padding_mode != "constant":
        return np.pad(arr, widths, mode=padding_mode)
    if isinstance(fill, (list, tuple)):
        if len(fill) == 1:
            fill = fill[0]
        else:
            cax = arr.ndim - 3 if is_tensor else 2
            if arr.ndim <= cax or cax < 0 or arr.shape[cax] != len(fill):
                raise ValueError("fill should have as many values as the image has channels")
            out_shape = list(arr.shape)
            out_shape[hax] += top + bottom
            out_shape[wax] += left + right
            out = np.empty(out_shape, dtype=arr.dtype)
            shape = [1] * arr.ndim
            shape[cax] = len(fill)
            out[...] = np.asarray(fill).astype(arr.dtype).reshape(shape)
            sl = [slice(None)] * arr.ndim
            sl[hax] = slice(top, top + arr.shape[hax])
            sl[wax] = slice(left, left + arr.shape[wax])
            out[tuple(sl)] = arr
            return out
    return np.pad(arr, widths, mode="constant", constant_values=np.asarray(fill).astype(arr.dtype))


def crop(img, top: int, left: int, height: int, width: int):
    """The ``height`` x ``width`` region at (``top``, ``left``); parts outside the image are 0."""
    if _is_pil_image(img):
        return img.crop((left, top, left + width, top + height))
    arr, is_tensor = _unwrap(img)
    hax, wax = _hw_axes(arr, is_tensor)
    h, w = arr.shape[hax], arr.shape[wax]
    right, bottom = left + width, top + height
    if isinstance(img, Tensor) and left >= 0 and top >= 0 and right <= w and bottom <= h:
        return img[..., top:bottom, left:right]  # a view that keeps autograd
    sl = [slice(None)] * arr.ndim
    sl[hax] = slice(max(top, 0), max(min(bottom, h), 0))
    sl[wax] = slice(max(left, 0), max(min(right, w), 0))
    out = arr[tuple(sl)]
    if left < 0 or top < 0 or right > w or bottom > h:
        ltrb = (max(-left + min(0, right), 0), max(-top + min(0, bottom), 0),
                max(right - max(w, left), 0), max(bottom - max(h, top), 0))
        out = _pad_array(out, is_tensor, ltrb, 0, "constant")
    return _rewrap(np.ascontiguousarray(out), is_tensor)


def _setup_size(size, error_msg):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(error_msg)
    return size


def center_crop(img, output_size):
    """The central ``output_size`` region, zero-padded first if the image is smaller."""
    if isinstance(output_size, numbers.Number):
        output_size = (int(output_size), int(output_size))
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 1:
        output_size = (output_size[0], output_size[0])
    _, image_height, image_width = get_dimensions(img)
    crop_height, crop_width = output_size
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = pad(img, padding_ltrb, fill=0)
        _, image_height, image_width = get_dimensions(img)
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    return crop(img, crop_top, crop_left, crop_height, crop_width)


# --------------------------------------------------------------------------- resize
def _compute_resized_output_size(image_size, size, max_size=None):
    h, w = image_size
    if size is None or len(size) == 1:
        short, long = (w, h) if w <= h else (h, w)
        if size is None:
            if max_size is None:
                raise ValueError("If size is None, then max_size must be a positive integer")
            new_long = max_size
            new_short = int(max_size * short / long)
        else:
            requested_new_short = size if isinstance(size, int) else size[0]
            new_short, new_long = requested_new_short, int(requested_new_short * long / short)
            if max_size is not None:
                if max_size <= requested_new_short:
                    raise ValueError(
                        f"max_size = {max_size} must be strictly greater than the requested "
                        f"size for the smaller edge size = {size}")
                if new_long > max_size:
                    new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    else:
        new_w, new_h = size[1], size[0]
    return [new_h, new_w]


def _cubic_conv(x, A):
    """PyTorch's cubic convolution kernel (A=-0.75 for interpolate, -0.5 for antialias)."""
    x = np.abs(x)
    return np.where(
        x <= 1, ((A + 2) * x - (A + 3)) * x * x + 1,
        np.where(x < 2, ((A * x - 5 * A) * x + 8 * A) * x - 4 * A, 0.0))


@functools.lru_cache(maxsize=256)
def _resize_weights(in_size: int, out_size: int, mode: InterpolationMode, antialias: bool):
    """The (out_size, in_size) matrix that resamples one axis like torch's interpolate (cached,
    read-only)."""
    W = _build_resize_weights(in_size, out_size, mode, antialias)
    W.setflags(write=False)
    return W


def _build_resize_weights(in_size, out_size, mode, antialias):
    W = np.zeros((out_size, in_size), dtype=np.float64)
    scale = in_size / out_size
    dst = np.arange(out_size)
    rows = dst[:, None]
    if mode in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT):
        s = np.float32(scale)
        if mode is InterpolationMode.NEAREST:
            src = np.floor(dst.astype(np.float32) * s)
        else:
            src = np.floor((dst.astype(np.float32) + np.float32(0.5)) * s)
        src = np.minimum(src.astype(np.int64), in_size - 1)
        W[dst, src] = 1.0
        return W
    if antialias and mode in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC):
        # Separable PIL-style filter whose support grows with the downscaling factor.
        interp_size = 2 if mode is InterpolationMode.BILINEAR else 4
        support = (interp_size * 0.5) * scale if scale >= 1.0 else interp_size * 0.5
        invscale = 1.0 / scale if scale >= 1.0 else 1.0
        center = scale * (dst + 0.5)
        xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)
        xmax = np.minimum((center + support + 0.5).astype(np.int64), in_size)
        width = int(max(1, (xmax - xmin).max()))
        j = xmin[:, None] + np.arange(width)[None, :]
        valid = j < xmax[:, None]
        x = (j - center[:, None] + 0.5) * invscale
        if mode is InterpolationMode.BILINEAR:
            w = np.maximum(0.0, 1.0 - np.abs(x))
        else:
            w = _cubic_conv(x, -0.5)
        w = np.where(valid, w, 0.0)
        total = w.sum(axis=1, keepdims=True)
        w = np.where(total != 0, w / np.where(total == 0, 1, total), 0.0)
        np.add.at(W, (np.broadcast_to(rows, j.shape)[valid], j[valid]), w[valid])
        return W
    if mode is InterpolationMode.BILINEAR:
        src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
        i0 = np.minimum(src.astype(np.int64), in_size - 1)
        i1 = np.minimum(i0 + 1, in_size - 1)
        lam = src - i0
        np.add.at(W, (dst, i0), 1.0 - lam)
        np.add.at(W, (dst, i1), lam)
        return W
    if mode is InterpolationMode.BICUBIC:
        src = (dst + 0.5) * scale - 0.5
        i = np.floor(src).astype(np.int64)
        t = src - i
        for k in range(-1, 3):
            idx = np.clip(i + k, 0, in_size - 1)
            np.add.at(W, (dst, idx), _cubic_conv(t - k, -0.75))
        return W
    raise NotImplementedError(
        f"interpolation {mode.value!r} is only available for PIL images; tensors and arrays support "
        "nearest, nearest-exact, bilinear and bicubic")


def _resize_array(arr: np.ndarray, is_tensor: bool, out_hw, mode, antialias):
    hax, wax = _hw_axes(arr, is_tensor)
    if arr.shape[hax] == 0 or arr.shape[wax] == 0:
        raise ValueError("cannot resize an empty image")
    aa = bool(antialias)
    Wh = _resize_weights(int(arr.shape[hax]), int(out_hw[0]), mode, aa)
    Ww = _resize_weights(int(arr.shape[wax]), int(out_hw[1]), mode, aa)
    work = arr.astype(np.float64)
    work = np.moveaxis(np.tensordot(Wh, work, axes=([1], [hax])), 0, hax)
    work = np.moveaxis(np.tensordot(Ww, work, axes=([1], [wax])), 0, wax)
    if arr.dtype.kind == "f":
        return work.astype(arr.dtype)
    if arr.dtype == np.bool_:
        return work >= 0.5
    info = np.iinfo(arr.dtype)
    return np.clip(np.round(work), info.min, info.max).astype(arr.dtype)


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resize to ``size`` (h, w), or so the shorter edge is ``size`` when it is an int.

    Tensors and arrays use PyTorch's ``interpolate`` kernels (``antialias`` as given: True,
    the torchvision default, matches ``interpolate(..., antialias=True)`` and Pillow; False
    matches plain ``interpolate``); integer images are rounded and clipped.  PIL images are
    resized by Pillow (always antialiased).
    """
    interpolation = _as_mode(interpolation)
    if isinstance(size, (list, tuple)):
        if len(size) not in [1, 2]:
            raise ValueError(
                f"Size must be an int or a 1 or 2 element tuple/list, not a {len(size)} element tuple/list")
        if max_size is not None and len(size) != 1:
            raise ValueError(
                "max_size should only be passed if size specifies the length of the smaller edge, "
                "i.e. size should be an int or a sequence of length 1 in torchscript mode.")
    _, image_height, image_width = get_dimensions(img)
    if isinstance(size, int):
        size = [size]
    output_size = _compute_resized_output_size((image_height, image_width), size, max_size)
    if [image_height, image_width] == output_size:
        return img

    if _is_pil_image(img):
        if interpolation not in _PIL_FILTERS:
            raise ValueError(f"Interpolation mode {interpolation.value} is not supported for PIL images")
        return img.resize(tuple(output_size[::-1]), _PIL_FILTERS[interpolation])
    arr, is_tensor = _unwrap(img)
    return _rewrap(_resize_array(arr, is_tensor, output_size, interpolation, antialias), is_tensor)

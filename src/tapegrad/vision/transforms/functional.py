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

How the geometry functions are organised: tensors and arrays are both handled as
"planes", an object whose last two axes are H and W (a tensor as it is; an HWC array
seen as CHW), so one slicing or NumPy routine serves both, and a per-kind *restore*
step turns the result back into the caller's kind.  PIL images use Pillow's own
operations where Pillow has them.
"""
from __future__ import annotations

import functools
import numbers
import sys
from collections.abc import Sequence
from enum import Enum

import numpy as np

from ... import dtypes as _dtypes
from ...tensor import Tensor

__all__ = [
    "InterpolationMode", "to_tensor", "pil_to_tensor", "normalize", "resize", "pad", "crop",
    "center_crop", "hflip", "vflip", "convert_image_dtype", "get_dimensions", "get_image_size",
    "get_image_num_channels", "to_pil_image",
]

_PILLOW_HINT = "pip install Pillow"


# --------------------------------------------------------------------------- Pillow (optional)
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
    """``PIL.Image`` when Pillow is installed, else ``None`` (datasets then return arrays)."""
    try:
        return _import_pil()
    except ImportError:
        return None


def _is_pil_image(img) -> bool:
    # Only a loaded PIL can have produced a PIL image, so never import it just to ask.
    module = sys.modules.get("PIL.Image")
    return module is not None and isinstance(img, module.Image)


def _is_numpy(img) -> bool:
    return isinstance(img, np.ndarray)


def _is_numpy_image(img) -> bool:
    return _is_numpy(img) and img.ndim in (2, 3)


def _bad_type(img):
    return TypeError(f"img should be PIL Image, NumPy array or Tensor. Got {type(img)}")


def _dims_error(ndim):
    return ValueError(f"pic should be 2/3 dimensional. Got {ndim} dimensions.")


# --------------------------------------------------------------------------- interpolation modes
class InterpolationMode(Enum):
    """Interpolation modes (the values are torchvision's)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# Pillow's resampling constants (``PIL.Image.Resampling``) for the modes Pillow knows.
_PIL_FILTERS = {
    InterpolationMode.NEAREST: 0,
    InterpolationMode.LANCZOS: 1,
    InterpolationMode.BILINEAR: 2,
    InterpolationMode.BICUBIC: 3,
    InterpolationMode.BOX: 4,
    InterpolationMode.HAMMING: 5,
}
_MODE_OF_PIL_FILTER = {code: mode for mode, code in _PIL_FILTERS.items()}


def _interpolation_modes_from_int(i: int) -> InterpolationMode:
    """The mode for a Pillow resampling constant (``2`` -> ``BILINEAR``)."""
    return _MODE_OF_PIL_FILTER[i]


def _as_mode(interpolation) -> InterpolationMode:
    """Accept a mode, its string value (``"bicubic"``) or a Pillow integer constant."""
    if isinstance(interpolation, InterpolationMode):
        return interpolation
    if isinstance(interpolation, str):
        return InterpolationMode(interpolation)
    if isinstance(interpolation, int):
        return _interpolation_modes_from_int(interpolation)
    raise TypeError(
        "Argument interpolation should be a InterpolationMode or a corresponding Pillow integer constant"
    )


# --------------------------------------------------------------------------- image kinds as planes
def _hwc_from_planes(planes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(planes, 0, -1))


def _as_planes(img):
    """``(planes, restore)`` for a tensor or array image.

    ``planes`` has H and W as its last two axes: a tensor as it is, a ``(H, W)`` array as
    it is, a ``(H, W, C)`` array as a ``(C, H, W)`` view.  ``restore`` turns an array or
    tensor with the same layout back into the caller's kind.
    """
    if isinstance(img, Tensor):
        if img.ndim < 2:
            raise TypeError(f"Tensor is not a torch image: expected at least 2 dimensions, got {img.ndim}")
        return img, _restore_tensor
    if _is_numpy(img):
        if img.ndim == 2:
            return img, np.ascontiguousarray
        if img.ndim == 3:
            return np.moveaxis(img, -1, 0), _hwc_from_planes
        raise _dims_error(img.ndim)
    raise _bad_type(img)


def _restore_tensor(result):
    return result if isinstance(result, Tensor) else Tensor._wrap(np.ascontiguousarray(result))


def _raw(planes) -> np.ndarray:
    return planes._data if isinstance(planes, Tensor) else planes


def get_dimensions(img) -> list[int]:
    """``[channels, height, width]`` of any accepted image."""
    if _is_pil_image(img):
        width, height = img.size
        return [len(img.getbands()), height, width]
    planes, _ = _as_planes(img)
    channels = 1 if planes.ndim == 2 else int(planes.shape[-3])
    return [channels, int(planes.shape[-2]), int(planes.shape[-1])]


def get_image_size(img) -> list[int]:
    """``[width, height]`` (PIL's order)."""
    _, height, width = get_dimensions(img)
    return [width, height]


def get_image_num_channels(img) -> int:
    return get_dimensions(img)[0]


# --------------------------------------------------------------------------- conversions
# PIL modes whose pixels are not bytes; every other mode is read as uint8.
_PIL_MODE_DTYPES = {"I": np.int32, "I;16": np.int16, "F": np.float32}


def _pil_to_hwc(pic) -> np.ndarray:
    """A PIL image's pixels as a fresh ``(H, W, C)`` array."""
    arr = np.array(pic, dtype=_PIL_MODE_DTYPES.get(pic.mode, np.uint8), copy=True)
    if pic.mode == "1":  # bilevel pixels read as 0/1; torchvision scales them to bytes
        arr = arr * np.uint8(255)
    return arr.reshape(pic.size[1], pic.size[0], len(pic.getbands()))


def to_tensor(pic):
    """A PIL image or ``(H, W[, C])`` array as a ``(C, H, W)`` tensor.

    Bytes are scaled to ``[0, 1]`` in the default float dtype; other dtypes keep their
    values and dtype.

    >>> to_tensor(np.full((1, 2, 3), 255, np.uint8)).shape
    torch.Size([3, 1, 2])
    """
    if _is_pil_image(pic):
        hwc = _pil_to_hwc(pic)
    elif _is_numpy(pic):
        if not _is_numpy_image(pic):
            raise _dims_error(pic.ndim)
        hwc = pic if pic.ndim == 3 else pic[:, :, None]
    else:
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
    if chw.dtype == np.uint8:
        float_type = _dtypes.get_default_dtype().np
        chw = chw.astype(float_type) / float_type.type(255)
    return Tensor._wrap(chw)


def pil_to_tensor(pic):
    """A PIL image as a ``(C, H, W)`` tensor of its raw pixel values (no scaling)."""
    if not _is_pil_image(pic):
        raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
    return Tensor._wrap(np.ascontiguousarray(_pil_to_hwc(pic).transpose(2, 0, 1)))


def to_pil_image(pic, mode=None):
    """A ``(C, H, W)`` tensor or ``(H, W[, C])`` array as a PIL image.

    Float tensors are taken to be in ``[0, 1]`` and become bytes (``x * 255``, truncated)
    unless ``mode`` is ``"F"``.  A single channel becomes a 2-D image.  Pillow picks the
    mode from the array when ``mode`` is None.
    """
    Image = _import_pil()
    if isinstance(pic, Tensor):
        if pic.ndim not in (2, 3):
            raise _dims_error(pic.ndim)
        chw = pic._data if pic.ndim == 3 else pic._data[None]
        if np.issubdtype(chw.dtype, np.floating) and mode != "F":
            chw = (chw * chw.dtype.type(255)).astype(np.uint8)
        hwc = chw.transpose(1, 2, 0)
    elif _is_numpy(pic):
        if not _is_numpy_image(pic):
            raise _dims_error(pic.ndim)
        hwc = pic if pic.ndim == 3 else pic[:, :, None]
    else:
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    pixels = np.ascontiguousarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)
    if mode is None:
        return Image.fromarray(pixels)
    try:  # torchvision's meaning: the pixels are already in ``mode`` (e.g. YCbCr data)
        return Image.fromarray(pixels, mode=mode)
    except ValueError:  # a different layout, such as RGB pixels asked for as "L": convert
        return Image.fromarray(pixels).convert(mode)


def normalize(tensor, mean, std, inplace=False):
    """``(tensor - mean) / std`` per channel of a float ``(..., C, H, W)`` tensor (differentiable)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W). Got "
                         f"tensor.size() = {tensor.size()}")
    stats = []
    for values in (mean, std):
        arr = np.asarray(values.numpy() if isinstance(values, Tensor) else values, dtype=tensor.dtype.np)
        stats.append(arr.reshape(-1, 1, 1) if arr.ndim == 1 else arr)  # one value per channel
    mean_arr, std_arr = stats
    if (std_arr == 0).any():
        raise ValueError(
            f"std evaluated to zero after conversion to {tensor.dtype}, leading to division by zero."
        )
    mean_t, std_t = Tensor._wrap(mean_arr), Tensor._wrap(std_arr)
    if inplace:
        return tensor.sub_(mean_t).div_(std_t)
    return (tensor - mean_t) / std_t


def _value_range_top(np_dtype) -> int:
    """The value that stands for full intensity in an integer (or bool) image dtype."""
    return 1 if np_dtype == np.bool_ else int(np.iinfo(np_dtype).max)


# Casts where the scaled float cannot reach every integer exactly (torchvision refuses them).
_UNSAFE_FLOAT_TO_INT = {
    (np.dtype(np.float32), np.dtype(np.int32)),
    (np.dtype(np.float32), np.dtype(np.int64)),
    (np.dtype(np.float64), np.dtype(np.int64)),
}


def convert_image_dtype(image, dtype=_dtypes.float32):
    """Cast a tensor image and rescale it so full intensity maps to full intensity.

    Floats span ``[0, 1]``; integers span ``[0, max]`` of their dtype, so uint8 255 <-> 1.0
    and uint8 -> int16 multiplies by 128.
    """
    if not isinstance(image, Tensor):
        raise TypeError("Input img should be Tensor Image")
    target = _dtypes.as_dtype(dtype)
    if image.dtype == target:
        return image
    src = image._data
    dst = np.dtype(target.np)
    src_float = np.issubdtype(src.dtype, np.floating)
    dst_float = np.issubdtype(dst, np.floating)
    if src_float and dst_float:
        return Tensor._wrap(src.astype(dst))
    if src_float:
        if (src.dtype, dst) in _UNSAFE_FLOAT_TO_INT:
            raise RuntimeError(f"The cast from {image.dtype} to {target} cannot be performed safely.")
        # Scaling by max + 1 - eps and truncating spreads [0, 1] evenly over all integers.
        scale = src.dtype.type(_value_range_top(dst) + 1.0 - 1e-3)
        return Tensor._wrap((src * scale).astype(dst))
    top_in = _value_range_top(src.dtype)
    if dst_float:
        return Tensor._wrap(src.astype(dst) / dst.type(top_in))
    top_out = _value_range_top(dst)
    if top_in > top_out:
        return Tensor._wrap((src // ((top_in + 1) // (top_out + 1))).astype(dst))
    return Tensor._wrap(src.astype(dst) * dst.type((top_out + 1) // (top_in + 1)))


# --------------------------------------------------------------------------- flips
def _flip(img, axis: int, pil_method: str):
    if _is_pil_image(img):
        return img.transpose(getattr(_import_pil().Transpose, pil_method))
    planes, restore = _as_planes(img)
    # Tensors flip through tapegrad (so gradients flow); arrays through NumPy.
    return restore(planes.flip(axis) if isinstance(planes, Tensor) else np.flip(planes, axis))


def hflip(img):
    """Mirror left-right (the last axis of a tensor, W of an array or PIL image)."""
    return _flip(img, -1, "FLIP_LEFT_RIGHT")


def vflip(img):
    """Mirror top-bottom."""
    return _flip(img, -2, "FLIP_TOP_BOTTOM")


# --------------------------------------------------------------------------- padding and crops
_PAD_MODES = ("constant", "edge", "reflect", "symmetric")
_NUMBER_OR_SEQUENCE = (numbers.Number, tuple, list)


def _padding_ltrb(padding) -> list[int]:
    """torchvision's padding forms -> ``[left, top, right, bottom]``."""
    if isinstance(padding, numbers.Number):
        return [int(padding)] * 4
    values = [int(p) for p in padding]
    return values * (4 // len(values))  # [a] -> 4 x a; [lr, tb] -> [lr, tb, lr, tb]


def _pad_planes(arr: np.ndarray, ltrb, fill, padding_mode: str) -> np.ndarray:
    """Pad (or, for negative amounts, trim) the last two axes of a NumPy array.

    ``arr`` is channel-first when it has 3+ dims; a per-channel ``fill`` is matched to
    axis -3.
    """
    left, top, right, bottom = ltrb
    # Negative padding removes pixels; do that first so np.pad only ever grows.
    h, w = arr.shape[-2:]
    arr = arr[..., max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    grow = [(0, 0)] * (arr.ndim - 2) + [(max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0))]
    if padding_mode != "constant":
        return np.pad(arr, grow, mode=padding_mode)
    fill_values = np.asarray(fill).reshape(-1)
    if fill_values.size == 1:
        return np.pad(arr, grow, mode="constant", constant_values=fill_values[0])
    if arr.ndim < 3 or arr.shape[-3] != fill_values.size:
        raise ValueError("fill should have as many values as the image has channels")
    out_shape = list(arr.shape)
    out_shape[-2] += grow[-2][0] + grow[-2][1]
    out_shape[-1] += grow[-1][0] + grow[-1][1]
    out = np.empty(out_shape, arr.dtype)
    out[...] = fill_values.astype(arr.dtype).reshape(-1, 1, 1)
    out[..., grow[-2][0]:grow[-2][0] + arr.shape[-2], grow[-1][0]:grow[-1][0] + arr.shape[-1]] = arr
    return out


def _pad_pil(img, ltrb, fill, padding_mode):
    Image = _import_pil()
    hwc = np.asarray(img)
    planes = hwc if hwc.ndim == 2 else np.moveaxis(hwc, -1, 0)
    padded = _pad_planes(planes, ltrb, fill, padding_mode)
    pixels = padded if padded.ndim == 2 else _hwc_from_planes(padded)
    # Pillow infers "1" from bool arrays; "P" is read as "L" and becomes "P" again when
    # its palette is put back.  Other modes cannot always be inferred (CMYK looks like RGBA).
    out = Image.fromarray(pixels) if img.mode in ("1", "P") else Image.fromarray(pixels, mode=img.mode)
    if img.mode == "P":
        out.putpalette(img.getpalette())
    return out


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pad the borders: ``padding`` is an int, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.

    ``padding_mode`` is ``"constant"`` (with ``fill``), ``"edge"``, ``"reflect"`` or
    ``"symmetric"``, as in ``numpy.pad``.
    """
    for name, value, accepted in (
        ("padding", padding, _NUMBER_OR_SEQUENCE),
        ("fill", fill, _NUMBER_OR_SEQUENCE),
        ("padding_mode", padding_mode, str),
    ):
        if not isinstance(value, accepted):
            raise TypeError(f"Got inappropriate {name} arg")
    if isinstance(padding, (tuple, list)) and len(padding) not in [1, 2, 4]:
        raise ValueError(
            f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")
    if padding_mode not in _PAD_MODES:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    ltrb = _padding_ltrb(padding)
    if _is_pil_image(img):
        return _pad_pil(img, ltrb, fill, padding_mode)
    planes, restore = _as_planes(img)
    return restore(_pad_planes(_raw(planes), ltrb, fill, padding_mode))


def crop(img, top: int, left: int, height: int, width: int):
    """The ``height x width`` window at ``(top, left)``; parts outside the image are zeros."""
    if _is_pil_image(img):
        return img.crop((left, top, left + width, top + height))
    planes, restore = _as_planes(img)
    h, w = planes.shape[-2:]
    bottom, right = top + height, left + width
    inside = planes[..., max(top, 0):max(min(bottom, h), 0), max(left, 0):max(min(right, w), 0)]
    if top >= 0 and left >= 0 and bottom <= h and right <= w:
        return restore(inside)
    # Zero-fill whatever the window sticks out by (torchvision's behaviour for tensors).
    outside = [max(-left, 0), max(-top, 0), max(right - w, 0), max(bottom - h, 0)]
    window = _pad_planes(_raw(inside), outside, 0, "constant")
    return restore(window[..., :height, :width])


def _pair(size):
    """A number or 1-sequence ``s`` -> ``(s, s)``; anything else as it is."""
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return size[0], size[0]
    return size


def _setup_size(size, error_msg):
    """``int`` or 1-sequence -> ``(s, s)``; a 2-sequence as it is.

    Anything else raises ``ValueError(error_msg)``.
    """
    pair = _pair(size)
    if len(pair) != 2:
        raise ValueError(error_msg)
    return pair


def center_crop(img, output_size):
    """The centred ``output_size`` window, zero-padding first where the image is smaller."""
    crop_h, crop_w = _pair(output_size)
    _, h, w = get_dimensions(img)
    short_h, short_w = max(crop_h - h, 0), max(crop_w - w, 0)
    if short_h or short_w:
        # The odd pixel of an uneven split goes to the right/bottom.
        img = pad(img, [short_w // 2, short_h // 2, (short_w + 1) // 2, (short_h + 1) // 2], fill=0)
        _, h, w = get_dimensions(img)
        if (h, w) == (crop_h, crop_w):
            return img
    # Python's round() (half to even) places the window as torchvision does.
    return crop(img, int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0)), crop_h, crop_w)


# --------------------------------------------------------------------------- resize: output size
def _compute_resized_output_size(image_size, size, max_size=None):
    """``[h, w]`` after resizing an ``image_size = (h, w)`` image to ``size``.

    A 2-sequence is the answer itself.  An int (or 1-sequence) is the shorter edge, the
    longer one keeping the aspect ratio (truncated); ``max_size`` then caps the longer
    edge, shrinking both.  ``size=None`` makes the longer edge exactly ``max_size``.
    """
    h, w = image_size
    if size is not None and not isinstance(size, int) and len(size) == 2:
        return [size[0], size[1]]
    edges = (min(h, w), max(h, w))  # (short, long)
    if size is None:
        if not isinstance(max_size, int) or max_size <= 0:
            raise ValueError("If size is None, then max_size must be a positive integer")
        edges = _rescale_edges(edges, 1, max_size)
    else:
        size = [size] if isinstance(size, int) else size
        edges = _rescale_edges(edges, 0, size[0])
        if max_size is not None:
            if max_size <= size[0]:
                raise ValueError(
                    f"max_size = {max_size} must be strictly greater than the requested "
                    f"size for the smaller edge size = {size}")
            if edges[1] > max_size:
                edges = _rescale_edges(edges, 1, max_size)
    return list(edges) if h <= w else list(edges[::-1])


def _rescale_edges(edges, which, target):
    """Set ``edges[which]`` to ``target`` and scale the other edge by the same factor (truncated)."""
    other = 1 - which
    scaled = [0, 0]
    scaled[which] = target
    scaled[other] = int(target * edges[other] / edges[which])
    return tuple(scaled)


# --------------------------------------------------------------------------- resize: kernels
# Each axis is resampled independently.  A "sampler" for one axis is either an index
# vector (nearest modes: out[i] = in[idx[i]]) or an (out, in) weight matrix.

def _triangle(x):
    return np.clip(1.0 - np.abs(x), 0.0, None)


def _keys_cubic(a):
    """Keys' cubic convolution kernel with parameter ``a`` (support [-2, 2])."""
    def kernel(x):
        x = np.abs(x)
        near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
        far = ((x - 5.0) * x + 8.0) * x * a - 4.0 * a
        return np.where(x <= 1.0, near, np.where(x < 2.0, far, 0.0))
    return kernel


def _nearest_indices(n_in, n_out, offset):
    # PyTorch computes these in float32; doing the same keeps ties on the same side.
    scale = np.float32(n_in) / np.float32(n_out)
    pos = (np.arange(n_out, dtype=np.float32) + np.float32(offset)) * scale
    return np.minimum(np.floor(pos).astype(np.int64), n_in - 1)


def _interp_matrix(n_in, n_out, taps, kernel, clamp_low):
    """Plain (not antialiased) interpolation: ``taps`` neighbours around each source point."""
    scale = n_in / n_out
    src = (np.arange(n_out) + 0.5) * scale - 0.5
    if clamp_low:
        src = np.maximum(src, 0.0)
    base = np.floor(src).astype(np.int64)
    first = -(taps // 2 - 1)  # 0 for 2 taps, -1 for 4
    matrix = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    for k in range(first, first + taps):
        # Taps that fall off the edge reuse the border pixel.
        np.add.at(matrix, (rows, np.clip(base + k, 0, n_in - 1)), kernel(src - (base + k)))
    return matrix


def _antialias_matrix(n_in, n_out, support, kernel):
    """Antialiased interpolation (Pillow's scheme): the kernel is stretched by the
    downscaling factor so every input pixel contributes, and each row is normalised."""
    scale = n_in / n_out
    stretch = max(scale, 1.0)
    centers = (np.arange(n_out) + 0.5) * scale
    reach = support * stretch
    lo = np.maximum((centers - reach + 0.5).astype(np.int64), 0)
    hi = np.minimum((centers + reach + 0.5).astype(np.int64), n_in)
    cols = np.arange(n_in)
    weights = kernel((cols[None, :] - centers[:, None] + 0.5) / stretch)
    weights[(cols[None, :] < lo[:, None]) | (cols[None, :] >= hi[:, None])] = 0.0
    totals = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, totals, out=np.zeros_like(weights), where=totals != 0)


# mode -> (antialias=False sampler, antialias=True sampler), each taking (n_in, n_out).
_SAMPLERS = {
    InterpolationMode.NEAREST: (
        lambda n_in, n_out: _nearest_indices(n_in, n_out, 0.0),) * 2,
    InterpolationMode.NEAREST_EXACT: (
        lambda n_in, n_out: _nearest_indices(n_in, n_out, 0.5),) * 2,
    InterpolationMode.BILINEAR: (
        lambda n_in, n_out: _interp_matrix(n_in, n_out, 2, _triangle, clamp_low=True),
        lambda n_in, n_out: _antialias_matrix(n_in, n_out, 1.0, _triangle)),
    InterpolationMode.BICUBIC: (
        lambda n_in, n_out: _interp_matrix(n_in, n_out, 4, _keys_cubic(-0.75), clamp_low=False),
        lambda n_in, n_out: _antialias_matrix(n_in, n_out, 2.0, _keys_cubic(-0.5))),
}


@functools.lru_cache(maxsize=256)
def _axis_sampler(n_in: int, n_out: int, mode: InterpolationMode, antialias: bool):
    if mode not in _SAMPLERS:
        raise NotImplementedError(
            f"interpolation {mode.value!r} is only available for PIL images; tensors and arrays support "
            "nearest, nearest-exact, bilinear and bicubic")
    if n_in == n_out and mode in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT):
        return np.arange(n_in)
    sampler = _SAMPLERS[mode][bool(antialias)](n_in, n_out)
    sampler.setflags(write=False)  # shared through the cache
    return sampler


def _resample_axis(arr: np.ndarray, sampler: np.ndarray, axis: int) -> np.ndarray:
    if sampler.ndim == 1:
        return np.take(arr, sampler, axis=axis)
    moved = np.moveaxis(arr, axis, -1)
    return np.moveaxis(moved @ sampler.T, -1, axis)


def _resize_planes(arr: np.ndarray, out_hw, mode: InterpolationMode, antialias) -> np.ndarray:
    if arr.size == 0:
        raise ValueError("cannot resize an empty image")
    row_sampler = _axis_sampler(int(arr.shape[-2]), int(out_hw[0]), mode, bool(antialias))
    col_sampler = _axis_sampler(int(arr.shape[-1]), int(out_hw[1]), mode, bool(antialias))
    if row_sampler.ndim == 1:  # nearest: pure indexing, exact for every dtype
        return arr[..., row_sampler[:, None], col_sampler]
    # float64 images are resampled in float64, all others in float32 (as PyTorch does), so
    # a uint8 array rounds exactly the values a float32 tensor of it would give.
    work_dtype = np.float64 if arr.dtype == np.float64 else np.float32
    work = arr.astype(work_dtype)
    for axis, sampler in ((-2, row_sampler), (-1, col_sampler)):
        work = _resample_axis(work, sampler.astype(work_dtype), axis)
    out = work
    is_float = np.issubdtype(arr.dtype, np.floating)
    if is_float:
        return out.astype(arr.dtype)
    if arr.dtype == np.bool_:
        return np.round(out) != 0
    limits = np.iinfo(arr.dtype)
    return np.clip(np.round(out), limits.min, limits.max).astype(arr.dtype)


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resize to ``size``: ``(h, w)``, or the length of the shorter edge when an int.

    Tensors and arrays are resampled like ``torch.nn.functional.interpolate``
    (``align_corners=False``); integer images are rounded back to their dtype.  PIL
    images go through Pillow (which always antialiases).

    >>> resize(tapegrad.ones(3, 10, 20), 5).shape
    torch.Size([3, 5, 10])
    """
    mode = _as_mode(interpolation)
    n_given = len(size) if isinstance(size, (list, tuple)) else None
    if n_given not in (None, 1, 2):
        raise ValueError(
            f"Size must be an int or a 1 or 2 element tuple/list, not a {len(size)} element tuple/list")
    if n_given == 2 and max_size is not None:
        raise ValueError(
            "max_size should only be passed if size specifies the length of the smaller edge, "
            "i.e. size should be an int or a sequence of length 1 in torchscript mode.")
    in_hw = get_dimensions(img)[1:]
    out_hw = _compute_resized_output_size(in_hw, size, max_size)
    if list(out_hw) == in_hw:  # nothing to do: the very same object comes back
        return img
    if _is_pil_image(img):
        if mode not in _PIL_FILTERS:
            raise ValueError(f"Interpolation mode {mode.value} is not supported for PIL images")
        return img.resize((out_hw[1], out_hw[0]), _PIL_FILTERS[mode])
    planes, restore = _as_planes(img)
    return restore(_resize_planes(_raw(planes), out_hw, mode, antialias))

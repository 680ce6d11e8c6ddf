"""Image-batch utilities, as in ``torchvision.utils``: ``make_grid`` and ``save_image``.

``make_grid`` tiles a batch ``(B, C, H, W)`` into one ``(C, H', W')`` image, ``nrow``
images per row with ``padding`` pixels of ``pad_value`` around each; ``save_image`` writes
that grid to an image file through Pillow (an optional dependency, needed only here).
"""
from __future__ import annotations

import math
import os
import tempfile

import numpy as np

from ..tensor import Tensor

_PILLOW_MISSING = "save_image needs Pillow (an optional dependency of tapegrad): pip install Pillow"


def _as_batch(tensor):
    """A float array ``(B, C, H, W)`` from a batch tensor, a single image or a list of images."""
    if isinstance(tensor, (list, tuple)):
        if not all(isinstance(t, Tensor) for t in tensor):
            raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
        arr = np.stack([t.detach()._data for t in tensor])
    elif isinstance(tensor, Tensor):
        arr = tensor.detach()._data
    else:
        raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    if arr.ndim == 2:                       # (H, W): one grey image
        arr = arr[None]
    if arr.ndim == 3:                       # (C, H, W): one image, grey made three-channel
        arr = arr[None]
    if arr.ndim == 4 and arr.shape[1] == 1:  # grey batches become RGB, as torchvision shows them
        arr = np.concatenate([arr] * 3, axis=1)
    return arr


def _rescale(img, value_range):
    """Map ``value_range`` (default: the array's own min and max) onto [0, 1], clamping outside it."""
    low, high = value_range if value_range is not None else (float(img.min()), float(img.max()))
    img = np.clip(img, low, high)
    return (img - low) / max(high - low, 1e-5)


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False, value_range=None,
              scale_each: bool = False, pad_value: float = 0.0) -> Tensor:
    """Tile images into one: ``(B, C, H, W)`` (or a list of ``(C, H, W)``) -> ``(C, H', W')``.

    ``nrow`` images per row, ``ceil(B / nrow)`` rows, each image surrounded by ``padding``
    pixels of ``pad_value``: ``H' = rows * (H + padding) + padding`` and likewise ``W'``.
    ``normalize`` maps ``value_range`` (default: the batch's min and max, or each image's
    with ``scale_each``) onto [0, 1]. One-channel images are repeated into three channels; a
    batch of one image is returned as that image, without padding.

    >>> make_grid(tapegrad.zeros(5, 3, 4, 4), nrow=2).shape
    torch.Size([3, 20, 14])
    """
    if value_range is not None and not isinstance(value_range, tuple):
        raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")
    arr = _as_batch(tensor)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    if normalize:
        if scale_each:
            arr = np.stack([_rescale(img, value_range) for img in arr])
        else:
            arr = _rescale(arr, value_range)
    if arr.shape[0] == 1:
        return Tensor._wrap(np.array(arr[0]))
    b, c, h, w = arr.shape
    cols = min(nrow, b)
    rows = int(math.ceil(b / cols))
    cell_h, cell_w = h + padding, w + padding
    grid = np.full((c, rows * cell_h + padding, cols * cell_w + padding), pad_value, dtype=arr.dtype)
    for k in range(b):  # one slice assignment per image, not per pixel
        top, left = (k // cols) * cell_h + padding, (k % cols) * cell_w + padding
        grid[:, top:top + h, left:left + w] = arr[k]
    return Tensor._wrap(grid)


def _to_uint8_hwc(grid):
    """[0, 1] floats ``(C, H, W)`` -> uint8 ``(H, W, C)`` (``(H, W)`` for one channel), rounded."""
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def save_image(tensor, fp, format: str | None = None, **kwargs) -> None:
    """Write ``make_grid(tensor, **kwargs)`` (values in [0, 1]) to ``fp``, a path or a binary file.

    ``format`` (``"png"``...) defaults to what the file name's extension says. A path is
    written atomically: to a temporary file in the same folder, then renamed, so an
    interrupted save never leaves a truncated image behind.
    """
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(_PILLOW_MISSING) from e
    grid = make_grid(tensor, **kwargs)._data
    image = Image.fromarray(_to_uint8_hwc(grid))
    if not isinstance(fp, (str, os.PathLike)):
        image.save(fp, format=format)
        return
    path = os.fspath(fp)
    if format is None:
        ext = os.path.splitext(path)[1].lower()
        format = Image.registered_extensions().get(ext)
        if format is None:
            raise ValueError(f"unknown file extension: {ext}")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format=format)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

"""Transform classes, like ``torchvision.transforms`` (v1).

Each class only holds its settings and calls one function of
:mod:`tapegrad.vision.transforms.functional`; the random ones first draw their
parameters from tapegrad's default generator (``tapegrad.manual_seed`` makes them
reproducible).  They make the same draws torchvision makes on torch's generator
(``rand(1)`` for a flip, one ``randint`` per crop offset), but the values differ from
torchvision's because tapegrad's random stream is not PyTorch's.

Transforms that torchvision makes ``nn.Module``s are modules here too, so they can sit in
an ``nn.Sequential``; the others are plain callables.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

from ... import creation as _creation
from ...nn import Module
from . import functional as F
from .functional import InterpolationMode, _interpolation_modes_from_int, _setup_size

__all__ = [
    "Compose", "ToTensor", "PILToTensor", "ConvertImageDtype", "Normalize", "Resize", "CenterCrop",
    "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "Lambda", "ToPILImage", "InterpolationMode",
]

_SIZE_ERROR = "Please provide only two dimensions (h, w) for size."


class _Transform:
    """Shared machinery: keyword settings become attributes, ``_apply`` calls ``_function``
    with the image followed by the settings named in ``_passed``, and ``repr`` shows the
    settings named in ``_shown`` as ``Name(field=value, ...)``."""

    _function = None
    _passed: tuple[str, ...] = ()
    _shown: tuple[str, ...] = ()

    def __init__(self, **settings):
        super().__init__()
        for name, value in settings.items():
            setattr(self, name, value)

    def _apply(self, img):
        return self._function(img, *(getattr(self, name) for name in self._passed))

    def _shown_value(self, name):
        return getattr(self, name)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={self._shown_value(name)}" for name in self._shown)
        return f"{type(self).__name__}({fields})"


class _PlainTransform(_Transform):
    """A transform that is a plain callable (torchvision's non-Module transforms)."""

    def __call__(self, img):
        return self._apply(img)


class _ModuleTransform(_Transform, Module):
    """A transform that is an ``nn.Module`` (usable inside ``nn.Sequential``)."""

    def forward(self, img):
        return self._apply(img)


# --------------------------------------------------------------------------- composition
class Compose:
    """Apply ``transforms`` one after another.

    >>> Compose([CenterCrop(10), ToTensor()])
    Compose(
        CenterCrop(size=(10, 10))
        ToTensor()
    )
    """

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        return functools.reduce(lambda partial, transform: transform(partial), self.transforms, img)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("] + [f"    {transform!r}" for transform in self.transforms] + [")"]
        return "\n".join(lines)


class Lambda(_PlainTransform):
    """Wrap any callable as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {repr(type(lambd).__name__)}")
        super().__init__(lambd=lambd)

    def _apply(self, img):
        return self.lambd(img)


# --------------------------------------------------------------------------- conversions
class ToTensor(_PlainTransform):
    """PIL image or ``(H, W[, C])`` array -> ``(C, H, W)`` tensor, bytes scaled to ``[0, 1]``."""

    _function = staticmethod(F.to_tensor)

    def __init__(self):
        super().__init__()


class PILToTensor(_PlainTransform):
    """PIL image -> ``(C, H, W)`` tensor of its raw pixel values."""

    _function = staticmethod(F.pil_to_tensor)

    def __init__(self):
        super().__init__()


class ToPILImage(_PlainTransform):
    """``(C, H, W)`` tensor or ``(H, W[, C])`` array -> PIL image (needs Pillow)."""

    _function = staticmethod(F.to_pil_image)
    _passed = ("mode",)

    def __init__(self, mode=None):
        super().__init__(mode=mode)

    @property
    def _shown(self):
        return () if self.mode is None else ("mode",)


class ConvertImageDtype(_ModuleTransform):
    """Convert a tensor image to ``dtype`` and rescale its values (uint8 255 <-> float 1.0)."""

    _function = staticmethod(F.convert_image_dtype)
    _passed = ("dtype",)

    def __init__(self, dtype) -> None:
        super().__init__(dtype=dtype)


class Normalize(_ModuleTransform):
    """``(x - mean) / std`` per channel of a float tensor image ``(..., C, H, W)``."""

    _function = staticmethod(F.normalize)
    _passed = ("mean", "std", "inplace")
    _shown = ("mean", "std")

    def __init__(self, mean, std, inplace=False):
        super().__init__(mean=mean, std=std, inplace=inplace)


# --------------------------------------------------------------------------- geometry
def _checked_resize_size(size):
    if isinstance(size, int):
        return size
    if not isinstance(size, Sequence):
        raise TypeError(f"Size should be int or sequence. Got {type(size)}")
    if len(size) not in (1, 2):
        raise ValueError("If size is a sequence, it should have 1 or 2 values")
    return size


class Resize(_ModuleTransform):
    """Resize to ``size`` ((h, w), or the shorter edge when an int), bilinear by default.

    ``max_size`` caps the longer edge when ``size`` is an int; see
    :func:`~tapegrad.vision.transforms.functional.resize`.

    >>> Resize(5)(tapegrad.rand(3, 10, 20)).shape
    torch.Size([3, 5, 10])
    """

    _function = staticmethod(F.resize)
    _passed = _shown = ("size", "interpolation", "max_size", "antialias")

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
        size = _checked_resize_size(size)
        if isinstance(interpolation, int):  # Pillow's constants are accepted for backward compatibility
            interpolation = _interpolation_modes_from_int(interpolation)
        super().__init__(size=size, max_size=max_size, interpolation=interpolation, antialias=antialias)

    def _shown_value(self, name):
        value = super()._shown_value(name)
        return value.value if name == "interpolation" else value


class CenterCrop(_ModuleTransform):
    """Crop the centre (zero-padding first when the image is smaller than ``size``)."""

    _function = staticmethod(F.center_crop)
    _passed = _shown = ("size",)

    def __init__(self, size):
        super().__init__(size=_setup_size(size, error_msg=_SIZE_ERROR))


class RandomCrop(_ModuleTransform):
    """Crop a ``size`` window at a random position, optionally padding first.

    ``padding`` pads every image before cropping; ``pad_if_needed`` additionally pads an
    image that is still smaller than ``size`` (by the shortfall on each side).  ``fill``
    and ``padding_mode`` are those of
    :func:`~tapegrad.vision.transforms.functional.pad`.
    """

    _shown = ("size", "padding")

    @staticmethod
    def get_params(img, output_size):
        """(top, left, height, width) of a random crop of ``output_size``."""
        h, w = F.get_dimensions(img)[1:]
        crop_h, crop_w = output_size
        spare = (h - crop_h, w - crop_w)
        if spare == (0, 0):  # only one window: nothing to draw
            return 0, 0, h, w
        if min(spare) < 0:
            raise ValueError(
                f"Required crop size {(crop_h, crop_w)} is larger than input image size {(h, w)}"
            )
        # One draw per offset, top first (the order torchvision draws in).
        top, left = (int(_creation.randint(0, n + 1, (1,))) for n in spare)
        return top, left, crop_h, crop_w

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        super().__init__(size=tuple(_setup_size(size, error_msg=_SIZE_ERROR)), padding=padding,
                         pad_if_needed=pad_if_needed, fill=fill, padding_mode=padding_mode)

    def _pad(self, img, padding):
        return F.pad(img, padding, self.fill, self.padding_mode)

    def _apply(self, img):
        if self.padding is not None:
            img = self._pad(img, self.padding)
        if self.pad_if_needed:
            _, h, w = F.get_dimensions(img)
            crop_h, crop_w = self.size
            # The shortfall goes on *both* sides, as torchvision does (the crop then picks).
            if w < crop_w:
                img = self._pad(img, [crop_w - w, 0])
            if h < crop_h:
                img = self._pad(img, [0, crop_h - h])
        return F.crop(img, *self.get_params(img, self.size))


class _RandomFlip(_ModuleTransform):
    """Apply ``_function`` with probability ``p`` (one ``rand(1)`` draw per call)."""

    _shown = ("p",)

    def __init__(self, p=0.5):
        super().__init__(p=p)

    def _apply(self, img):
        return self._function(img) if _creation.rand(1).item() < self.p else img


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right with probability ``p``."""

    _function = staticmethod(F.hflip)


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom with probability ``p``."""

    _function = staticmethod(F.vflip)

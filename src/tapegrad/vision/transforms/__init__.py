"""tapegrad.vision.transforms: image transforms like ``torchvision.transforms``.

Works on tapegrad tensors ``(..., C, H, W)``, PIL images (Pillow optional) and NumPy
arrays ``(H, W[, C])`` that stand in for PIL images; see
:mod:`tapegrad.vision.transforms.functional`.

>>> import numpy as np
>>> from tapegrad.vision import transforms as T
>>> t = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
>>> t(np.full((2, 2), 255, np.uint8))
tensor([[[1., 1.],
         [1., 1.]]])
"""
from . import functional  # noqa: F401
from .functional import InterpolationMode
from .transforms import (
    CenterCrop,
    Compose,
    ConvertImageDtype,
    Lambda,
    Normalize,
    PILToTensor,
    RandomCrop,
    RandomHorizontalFlip,
    RandomVerticalFlip,
    Resize,
    ToPILImage,
    ToTensor,
)

__all__ = [
    "CenterCrop", "Compose", "ConvertImageDtype", "InterpolationMode", "Lambda", "Normalize",
    "PILToTensor", "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "Resize",
    "ToPILImage", "ToTensor", "functional",
]

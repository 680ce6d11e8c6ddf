"""``FakeData``: random images with random class labels, the same ones for the same index.

For smoke-testing a pipeline without files. Each sample is drawn from its own generator
seeded with ``index + random_offset``, so a sample never depends on which samples were
read before it or on the global random state (which is left untouched): two datasets
with the same arguments agree item by item, in any order and in any worker process.
"""
from __future__ import annotations

import numpy as np

from ...tensor import Tensor
from .vision import VisionDataset, _as_image


class FakeData(VisionDataset):
    """``size`` samples of ``(image, target)``: a ``(C, H, W) = image_size`` random image
    (a PIL image, mode ``L`` for one channel and ``RGB`` for three, when Pillow is
    installed; otherwise an ``(H, W[, C])`` uint8 array) and a 0-d int64 class index below
    ``num_classes``.

    >>> ds = FakeData(size=4, image_size=(3, 8, 8), num_classes=2)
    >>> len(ds), ds[1][1].dtype
    (4, torch.int64)
    """

    def __init__(self, size: int = 1000, image_size=(3, 224, 224), num_classes: int = 10,
                 transform=None, target_transform=None, random_offset: int = 0) -> None:
        super().__init__(transform=transform, target_transform=target_transform)
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.random_offset = random_offset

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        if index >= len(self):
            raise IndexError(f"{type(self).__name__} index out of range")
        rng = np.random.Generator(np.random.PCG64(int(index) + self.random_offset))
        c, h, w = self.image_size
        target = Tensor._wrap(np.asarray(rng.integers(0, self.num_classes), dtype=np.int64))
        pixels = rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)
        image = _as_image(pixels[:, :, 0] if c == 1 else pixels)
        return self._apply_transforms(image, target)

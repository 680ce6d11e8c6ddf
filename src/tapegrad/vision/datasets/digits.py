"""scikit-learn's bundled 8x8 handwritten digits as a dataset (no files, no network)."""
from __future__ import annotations

import functools

import numpy as np

from ...creation import from_numpy
from .vision import VisionDataset

__all__ = ["Digits"]

_SPLIT_SEED = 0
_TRAIN_FRACTION = 0.8


@functools.lru_cache(maxsize=1)
def _load():
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError("Digits needs scikit-learn, which ships the 8x8 digits data: "
                          "pip install scikit-learn") from e
    bunch = load_digits()
    images = (np.asarray(bunch.images, dtype=np.float64) / 16.0).astype(np.float32)
    return images[:, None, :, :], np.asarray(bunch.target, dtype=np.int64)


class Digits(VisionDataset):
    """The 1,797 8x8 handwritten digits bundled with scikit-learn (``sklearn.datasets.load_digits``).

    Images are float32 tensors of shape ``(1, 8, 8)`` in [0, 1] (the 0..16 grey
    levels divided by 16) before ``transform``; targets are ints 0..9.

    Split: the indices ``0 .. 1796`` are permuted with NumPy's
    ``np.random.Generator(np.random.PCG64(0)).permutation(1797)``; the first 80 %
    (1,437 images, ``int(0.8 * 1797)``) are the training set, the remaining 360 the
    test set, both in that permuted order.  The split is the same on every machine
    and never depends on tapegrad's random state.

    ``root`` is accepted for signature compatibility and ignored (scikit-learn ships the
    data).  Needs scikit-learn (``pip install scikit-learn``).
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, root=None, train=True, transform=None, target_transform=None):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        images, targets = _load()
        perm = np.random.Generator(np.random.PCG64(_SPLIT_SEED)).permutation(len(images))
        n_train = int(_TRAIN_FRACTION * len(images))
        idx = perm[:n_train] if train else perm[n_train:]
        self.indices = idx
        self.data = from_numpy(np.ascontiguousarray(images[idx]))
        self.targets = from_numpy(np.ascontiguousarray(targets[idx]))

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def __getitem__(self, index: int):
        img = from_numpy(self.data._data[index].copy())
        target = int(self.targets._data[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return len(self.data)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train is True else 'Test'}"

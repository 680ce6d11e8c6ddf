"""scikit-learn's bundled 8x8 handwritten digits as a dataset (no files, no network)."""
from __future__ import annotations

import functools
import gzip
import importlib.util
import os

import numpy as np

from ...creation import from_numpy
from .vision import VisionDataset

__all__ = ["Digits"]

_SPLIT_SEED = 0
_TRAIN_FRACTION = 0.8


def _bundled_csv():
    """The path of scikit-learn's ``datasets/data/digits.csv.gz`` (1797 rows of 64 grey levels
    and the label), found without importing scikit-learn; None if it is not there."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    return path if os.path.isfile(path) else None


@functools.lru_cache(maxsize=1)
def _load():
    # NOTE: the file itself when it is where scikit-learn keeps it: importing scikit-learn
    # for load_digits costs 1.7 s, reading the file 30 ms (the same values: tests/test_datasets.py)
    path = _bundled_csv()
    if path is not None:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float64)
        grey, target = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    else:
        try:
            from sklearn.datasets import load_digits
        except ImportError as e:
            raise ImportError("Digits needs scikit-learn, which ships the 8x8 digits data: "
                              "pip install scikit-learn") from e
        bunch = load_digits()
        grey, target = bunch.images, bunch.target
    images = (np.asarray(grey, dtype=np.float64) / 16.0).astype(np.float32)
    return images[:, None, :, :], np.asarray(target, dtype=np.int64)


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

"""MNIST-style datasets read from IDX files (MNIST, FashionMNIST, KMNIST)."""
from __future__ import annotations

import gzip
import os
import warnings

import numpy as np

from ...creation import from_numpy
from ..transforms.functional import _try_import_pil
from .vision import VisionDataset, _no_download

__all__ = ["MNIST", "FashionMNIST", "KMNIST", "read_idx"]

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_maybe_gzip(path) -> bytes:
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=f) as g:
                return g.read()
        return f.read()


def read_idx(path) -> np.ndarray:
    """Read an IDX file (``train-images-idx3-ubyte`` and friends; gzip-compressed or not).

    Returns a native-endian NumPy array of the file's type and shape.
    """
    data = _read_maybe_gzip(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise RuntimeError(f"{path!s} is not an IDX file (bad magic number)")
    code, nd = data[2], data[3]
    if code not in _IDX_TYPES:
        raise RuntimeError(f"{path!s}: unknown IDX data type 0x{code:02x}")
    header = 4 + 4 * nd
    if len(data) < header:
        raise RuntimeError(f"{path!s} is truncated (incomplete IDX header)")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd))
    dt = _IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dt.itemsize
    if len(data) - header != expected:
        raise RuntimeError(f"{path!s} is truncated or corrupt: the header promises shape {dims} "
                           f"({expected} bytes of data), the file holds {len(data) - header}")
    arr = np.frombuffer(data, dtype=dt, count=expected // dt.itemsize, offset=header).reshape(dims)
    return arr.astype(dt.newbyteorder("="))


class MNIST(VisionDataset):
    """The MNIST digits, read from the standard IDX files.

    The files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``; each may also be
    gzip-compressed with a ``.gz`` suffix) are looked up in
    ``root/<ClassName>/raw/`` (torchvision's layout), then directly in ``root``.

    Samples are ``(img, target)`` with ``target`` an int.  ``img`` is a PIL image
    (mode ``L``) when Pillow is installed, as in torchvision; without Pillow it is
    a ``(28, 28)`` uint8 NumPy array, which every tapegrad transform accepts in
    place of a PIL image (``ToTensor`` turns either into a ``(1, 28, 28)`` float
    tensor in [0, 1]).  ``data`` is a uint8 tensor ``(N, 28, 28)`` and ``targets``
    an int64 tensor.

    ``download=True`` cannot fetch anything (tapegrad has no network access at run
    time): it is accepted when the files are already in place and raises
    ``RuntimeError`` otherwise.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    training_file = "training.pt"
    test_file = "test.pt"

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        images, labels = self._find_files()
        if images is None or labels is None:
            where = self._missing_message()
            if download:
                raise _no_download(type(self).__name__, where)
            raise RuntimeError(f"Dataset not found. {where}")
        self.data, self.targets = self._load_data(images, labels)

    # -- files -----------------------------------------------------------
    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, self.__class__.__name__, "raw")

    @property
    def processed_folder(self) -> str:
        return os.path.join(self.root, self.__class__.__name__, "processed")

    def _file_stems(self):
        split = "train" if self.train else "t10k"
        return f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"

    def _find(self, stem):
        variants = [stem, stem.replace("-idx", ".idx")]
        for folder in (self.raw_folder, self.root):
            for name in variants:
                for suffix in ("", ".gz"):
                    path = os.path.join(folder, name + suffix)
                    if os.path.isfile(path):
                        return path
        return None

    def _find_files(self):
        return tuple(self._find(stem) for stem in self._file_stems())

    def _missing_message(self) -> str:
        images, labels = self._file_stems()
        return (f"Put {images} and {labels} (optionally gzip-compressed, with a .gz suffix) in "
                f"{self.raw_folder} (or directly in {self.root}).")

    def _check_exists(self) -> bool:
        return all(p is not None for p in self._find_files())

    def _load_data(self, image_path, label_path):
        images = read_idx(image_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise RuntimeError(f"{image_path}: expected uint8 images of shape (N, H, W), "
                               f"got {images.dtype} {images.shape}")
        labels = read_idx(label_path)
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise RuntimeError(f"{label_path}: expected uint8 labels of shape (N,), "
                               f"got {labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise RuntimeError(f"{image_path} holds {len(images)} images but {label_path} "
                               f"holds {len(labels)} labels")
        return from_numpy(images), from_numpy(labels.astype(np.int64))

    # -- samples ---------------------------------------------------------
    def __getitem__(self, index: int):
        img, target = self.data._data[index], int(self.targets._data[index])
        Image = _try_import_pil()
        img = Image.fromarray(img) if Image is not None else img.copy()  # mode "L"
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return len(self.data)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {_class: i for i, _class in enumerate(self.classes)}

    def extra_repr(self) -> str:
        split = "Train" if self.train is True else "Test"
        return f"Split: {split}"

    # deprecated torchvision aliases
    @property
    def train_labels(self):
        warnings.warn("train_labels has been renamed targets", stacklevel=2)
        return self.targets

    @property
    def test_labels(self):
        warnings.warn("test_labels has been renamed targets", stacklevel=2)
        return self.targets

    @property
    def train_data(self):
        warnings.warn("train_data has been renamed data", stacklevel=2)
        return self.data

    @property
    def test_data(self):
        warnings.warn("test_data has been renamed data", stacklevel=2)
        return self.data


class FashionMNIST(MNIST):
    """Fashion-MNIST: same files and layout as :class:`MNIST`, under ``root/FashionMNIST/raw/``."""

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]


class KMNIST(MNIST):
    """Kuzushiji-MNIST: same files and layout as :class:`MNIST`, under ``root/KMNIST/raw/``."""

    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]

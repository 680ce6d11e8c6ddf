"""MNIST-style datasets read from IDX files (MNIST, FashionMNIST, KMNIST).

The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic
number ``00 00 TT NN`` where ``TT`` is the element type and ``NN`` the number of
dimensions, then ``NN`` big-endian uint32 sizes, then the elements in C order, each
big-endian.  The files are often distributed gzip-compressed.
"""
from __future__ import annotations

import gzip
import os
import warnings

import numpy as np

from ...creation import from_numpy
from .vision import VisionDataset, _as_image, _no_download

__all__ = ["MNIST", "FashionMNIST", "KMNIST", "read_idx"]

# The IDX element type codes and the (big-endian) NumPy types they name.
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

# Label names by dataset, index = label value.
_CLASS_NAMES = {
    "MNIST": ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
              "7 - seven", "8 - eight", "9 - nine"],
    "FashionMNIST": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                     "Bag", "Ankle boot"],
    "KMNIST": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
}


def _file_bytes(path) -> bytes:
    """The file's content, gunzipped when it starts with gzip's magic bytes."""
    with open(path, "rb") as f:
        raw = f.read()
    return gzip.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw


def read_idx(path) -> np.ndarray:
    """Read an IDX file (``train-images-idx3-ubyte`` and friends; gzip-compressed or not).

    Returns a NumPy array of the file's shape in native byte order (a writable copy).

    >>> read_idx("MNIST/raw/t10k-labels-idx1-ubyte").shape     # doctest: +SKIP
    (10000,)
    """
    blob = _file_bytes(path)
    if len(blob) < 4 or blob[:2] != b"\0\0":
        raise RuntimeError(f"{path!s} is not an IDX file (bad magic number)")
    code, nd = blob[2], blob[3]
    if code not in _IDX_TYPES:
        raise RuntimeError(f"{path!s}: unknown IDX data type 0x{code:02x}")
    dt = _IDX_TYPES[code]
    header = 4 + 4 * nd
    if len(blob) < header:
        raise RuntimeError(f"{path!s} is truncated (incomplete IDX header)")
    dims = tuple(int(n) for n in np.frombuffer(blob, dtype=">u4", count=nd, offset=4))
    expected = int(np.prod(dims, dtype=np.int64)) * dt.itemsize
    if len(blob) - header != expected:
        raise RuntimeError(f"{path!s} is truncated or corrupt: the header promises shape {dims} "
                           f"({expected} bytes of data), the file holds {len(blob) - header}")
    body = np.frombuffer(blob, dtype=dt, offset=header).reshape(dims)
    return body.astype(dt.newbyteorder("="))


def _renamed(old: str, new: str) -> property:
    """A read-only alias ``old`` of attribute ``new`` that warns on use (torchvision's
    pre-0.2 attribute names)."""
    def get(self):
        warnings.warn(f"{old} has been renamed {new}", stacklevel=2)
        return getattr(self, new)
    return property(get, doc=f"Deprecated alias of ``{new}``.")


class MNIST(VisionDataset):
    """The MNIST digits, read from the standard IDX files.

    The files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``; each may also be
    gzip-compressed with a ``.gz`` suffix, or spelt with ``.idx`` for ``-idx``) are
    looked up in ``root/<ClassName>/raw/`` (torchvision's layout), then directly in
    ``root``.

    Samples are ``(img, target)`` with ``target`` an int.  ``img`` is a PIL image
    (mode ``L``) when Pillow is installed, as in torchvision; without Pillow it is
    a ``(28, 28)`` uint8 NumPy array, which every tapegrad transform accepts in
    place of a PIL image (``ToTensor`` turns either into a ``(1, 28, 28)`` float
    tensor in [0, 1]).  ``data`` is a uint8 tensor ``(N, 28, 28)`` and ``targets``
    an int64 tensor.

    ``download=True`` cannot fetch anything (tapegrad has no network access at run
    time): it is accepted when the files are already in place and raises
    ``RuntimeError`` otherwise.

    >>> train = MNIST("data", train=True, transform=transforms.ToTensor())   # doctest: +SKIP
    >>> img, label = train[0]                                                # doctest: +SKIP
    """

    classes = _CLASS_NAMES["MNIST"]

    # torchvision's names for its processed files (kept for code that reads them).
    training_file = "training.pt"
    test_file = "test.pt"

    train_labels = _renamed("train_labels", "targets")
    test_labels = _renamed("test_labels", "targets")
    train_data = _renamed("train_data", "data")
    test_data = _renamed("test_data", "data")

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.train = train
        super().__init__(root, None, transform, target_transform)
        found = [self._locate(stem) for stem in self._stems()]
        if None in found:
            hint = self._where_to_put_files()
            if download:
                raise _no_download(type(self).__name__, hint)
            raise RuntimeError(f"Dataset not found. {hint}")
        images, labels = self._read_split(*found)
        self.data = from_numpy(images)
        self.targets = from_numpy(labels.astype(np.int64))

    def _own_folder(self, kind: str) -> str:
        # Each dataset class has its own folder in root, named after the class.
        return os.path.join(self.root, type(self).__name__, kind)

    raw_folder = property(lambda self: self._own_folder("raw"),
                          doc="``root/<ClassName>/raw``: where the IDX files are looked up first.")
    processed_folder = property(lambda self: self._own_folder("processed"),
                                doc="``root/<ClassName>/processed`` (torchvision's cache; unused here).")

    @property
    def class_to_idx(self) -> dict[str, int]:
        return dict(zip(self.classes, range(len(self.classes)), strict=True))

    def _stems(self):
        prefix = "train" if self.train else "t10k"
        return (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")

    def _locate(self, stem):
        """The first existing spelling of ``stem``, searching the raw folder before ``root``."""
        names = [name + gz for name in (stem, stem.replace("-idx", ".idx")) for gz in ("", ".gz")]
        candidates = (os.path.join(folder, name) for folder in (self.raw_folder, self.root) for name in names)
        return next((path for path in candidates if os.path.isfile(path)), None)

    def _where_to_put_files(self) -> str:
        images, labels = self._stems()
        return (f"Put {images} and {labels} (optionally gzip-compressed, with a .gz suffix) in "
                f"{self.raw_folder} (or directly in {self.root}).")

    @staticmethod
    def _read_split(image_path, label_path):
        images, labels = read_idx(image_path), read_idx(label_path)
        if images.dtype != np.uint8 or images.ndim != 3:
            raise RuntimeError(f"{image_path}: expected uint8 images of shape (N, H, W), "
                               f"got {images.dtype} {images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise RuntimeError(f"{label_path}: expected uint8 labels of shape (N,), "
                               f"got {labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise RuntimeError(f"{image_path} holds {len(images)} images but {label_path} "
                               f"holds {len(labels)} labels")
        return images, labels

    def __getitem__(self, index: int):
        pixels = self.data.numpy()[index]
        return self._apply_transforms(_as_image(pixels), int(self.targets.numpy()[index]))

    def __len__(self) -> int:
        return len(self.data)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train is True else 'Test'}"


class FashionMNIST(MNIST):
    """Fashion-MNIST: same files and layout as :class:`MNIST`, under ``root/FashionMNIST/raw/``."""

    classes = _CLASS_NAMES["FashionMNIST"]


class KMNIST(MNIST):
    """Kuzushiji-MNIST: same files and layout as :class:`MNIST`, under ``root/KMNIST/raw/``."""

    classes = _CLASS_NAMES["KMNIST"]

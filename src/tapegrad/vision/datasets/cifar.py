"""CIFAR-10 and CIFAR-100 from their "python version" batches, unpickled safely.

The format (Krizhevsky, https://www.cs.toronto.edu/~kriz/cifar.html): each batch is a
pickled dict whose ``data`` is a ``(N, 3072)`` uint8 array, one image per row as the
1024 red, then green, then blue values of a 32x32 image in row-major order, and
whose ``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100) is a list of N ints.  A
separate meta file names the classes.  Files written by Python 2 have ``bytes`` keys.
"""
from __future__ import annotations

import os

import numpy as np

from ._safe_pickle import safe_load
from .vision import VisionDataset, _as_image, _no_download

__all__ = ["CIFAR10", "CIFAR100"]


def _decoded(value):
    """``value`` with Python 2's byte strings decoded (latin-1, as pickle itself does)."""
    return value.decode("latin1") if isinstance(value, bytes) else value


def _read_dict(path) -> dict:
    """The pickled dict at ``path`` (through the restricted unpickler), with ``str`` keys."""
    content = safe_load(path)
    if not isinstance(content, dict):
        raise RuntimeError(f"expected a dict in a CIFAR batch, got {type(content).__name__}")
    return {_decoded(key): value for key, value in content.items()}


class CIFAR10(VisionDataset):
    """CIFAR-10, read from ``root/cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5``,
    ``test_batch``, ``batches.meta``), or from those files directly in ``root``.

    The batches are Python pickles; tapegrad reads them with a restricted unpickler
    that allows only containers, strings, numbers and NumPy arrays, so a tampered file
    cannot run code (it raises :class:`tapegrad.io.UnpicklingRefused`).  Checksums are
    not verified (torchvision checks the official files' MD5s).

    Samples are ``(img, target)``: ``img`` is a 32x32 RGB PIL image when Pillow is
    installed (torchvision's behaviour), otherwise a ``(32, 32, 3)`` uint8 NumPy array
    that tapegrad transforms accept in its place.  ``data`` is a ``(N, 32, 32, 3)``
    uint8 NumPy array and ``targets`` a list of ints, as in torchvision.

    ``download=True`` is accepted when the files are present and raises otherwise.

    >>> test = CIFAR10("data", train=False, transform=transforms.ToTensor())   # doctest: +SKIP
    >>> img, label = test[0]; test.classes[label]                             # doctest: +SKIP
    """

    base_folder = "cifar-10-batches-py"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    meta = {"filename": "batches.meta", "key": "label_names"}
    # The batches' label entry; CIFAR-100's "fine_labels" is accepted as well, as torchvision does.
    labels_key = "labels"

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.train = train
        super().__init__(root, None, transform, target_transform)
        folder = self._folder()
        if folder is None:
            hint = self._missing_message()
            if download:
                raise _no_download(type(self).__name__, hint)
            raise RuntimeError(f"Dataset not found. {hint}")
        pixels, self.targets = self._read_batches(folder)
        # Rows are channel-planar (3, 32, 32); samples are (H, W, C) like PIL images.  A
        # view, not a copy, as in torchvision (the training set is 150 MB).
        self.data = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        if len(self.data) != len(self.targets):
            raise RuntimeError(f"{type(self).__name__}: {len(self.data)} images but "
                               f"{len(self.targets)} labels")
        self._load_meta(folder)

    def _file_names(self):
        return self.train_list if self.train else self.test_list

    def _needed(self):
        return [*self._file_names(), self.meta["filename"]]

    def _folder(self):
        """The first of ``root/base_folder`` and ``root`` that holds every needed file."""
        def complete(folder):
            return all(os.path.isfile(os.path.join(folder, name)) for name in self._needed())
        return next((f for f in (os.path.join(self.root, self.base_folder), self.root) if complete(f)), None)

    def _missing_message(self) -> str:
        folder = os.path.join(self.root, self.base_folder)
        needed = self._needed()
        absent = [name for name in needed if not os.path.isfile(os.path.join(folder, name))]
        return (f"Put {', '.join(needed)} (the python version of the dataset) in {folder} "
                f"(missing there: {', '.join(absent)}).")

    def _check_integrity(self) -> bool:
        return self._folder() is not None

    def _read_batches(self, folder):
        """All of the split's batches: a ``(N, 3072)`` uint8 array and a list of N ints."""
        rows, labels = [], []
        for name in self._file_names():
            path = os.path.join(folder, name)
            batch = _read_dict(path)
            if "data" not in batch:
                raise RuntimeError(f"{path} has no 'data' entry")
            key = next((k for k in (self.labels_key, "fine_labels") if k in batch), None)
            if key is None:
                raise RuntimeError(f"{path} has no 'labels' entry")
            rows.append(np.asarray(batch["data"], dtype=np.uint8))
            labels += [int(label) for label in batch[key]]
        return np.concatenate(rows), labels

    def _load_meta(self, folder) -> None:
        path = os.path.join(folder, self.meta["filename"])
        names = _read_dict(path).get(self.meta["key"])
        if names is None:
            raise RuntimeError(f"{path} has no {self.meta['key']!r} entry")
        self.classes = [_decoded(name) for name in names]
        self.class_to_idx = dict(zip(self.classes, range(len(self.classes)), strict=True))

    def __getitem__(self, index: int):
        return self._apply_transforms(_as_image(self.data[index]), self.targets[index])

    def __len__(self) -> int:
        return len(self.data)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train is True else 'Test'}"


class CIFAR100(CIFAR10):
    """CIFAR-100 (fine labels), read from ``root/cifar-100-python/`` (``train``, ``test``, ``meta``)."""

    base_folder = "cifar-100-python"
    train_list = ["train"]
    test_list = ["test"]
    meta = {"filename": "meta", "key": "fine_label_names"}

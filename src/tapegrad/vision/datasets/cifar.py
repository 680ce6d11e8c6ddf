"""CIFAR-10 and CIFAR-100 from their "python version" batches, unpickled safely."""
from __future__ import annotations

import os

import numpy as np

from ..transforms.functional import _try_import_pil
from ._safe_pickle import safe_load
from .vision import VisionDataset, _no_download

__all__ = ["CIFAR10", "CIFAR100"]


def _str_keys(d):
    if not isinstance(d, dict):
        raise RuntimeError(f"expected a dict in a CIFAR batch, got {type(d).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


def _text(x):
    return x.decode("latin1") if isinstance(x, bytes) else x


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
    """

    base_folder = "cifar-10-batches-py"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    meta = {"filename": "batches.meta", "key": "label_names"}
    labels_key = "labels"

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        folder = self._folder()
        if folder is None:
            where = self._missing_message()
            if download:
                raise _no_download(type(self).__name__, where)
            raise RuntimeError(f"Dataset not found. {where}")

        data, targets = [], []
        for name in self._file_names():
            entry = _str_keys(safe_load(os.path.join(folder, name)))
            if "data" not in entry:
                raise RuntimeError(f"{os.path.join(folder, name)} has no 'data' entry")
            data.append(np.asarray(entry["data"], dtype=np.uint8))
            labels = entry["labels"] if "labels" in entry else entry.get("fine_labels")
            if labels is None:
                raise RuntimeError(f"{os.path.join(folder, name)} has no 'labels' entry")
            targets.extend(int(t) for t in labels)
        self.data = np.vstack(data).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1))  # HWC
        self.targets = targets
        if len(self.data) != len(self.targets):
            raise RuntimeError(f"{type(self).__name__}: {len(self.data)} images but "
                               f"{len(self.targets)} labels")
        self._load_meta(folder)

    def _file_names(self):
        return self.train_list if self.train else self.test_list

    def _needed(self):
        return list(self._file_names()) + [self.meta["filename"]]

    def _folder(self):
        for folder in (os.path.join(self.root, self.base_folder), self.root):
            if all(os.path.isfile(os.path.join(folder, n)) for n in self._needed()):
                return folder
        return None

    def _missing_message(self) -> str:
        folder = os.path.join(self.root, self.base_folder)
        missing = [n for n in self._needed() if not os.path.isfile(os.path.join(folder, n))]
        return (f"Put {', '.join(self._needed())} (the python version of the dataset) in {folder} "
                f"(missing there: {', '.join(missing)}).")

    def _check_integrity(self) -> bool:
        return self._folder() is not None

    def _load_meta(self, folder) -> None:
        path = os.path.join(folder, self.meta["filename"])
        data = _str_keys(safe_load(path))
        if self.meta["key"] not in data:
            raise RuntimeError(f"{path} has no {self.meta['key']!r} entry")
        self.classes = [_text(c) for c in data[self.meta["key"]]]
        self.class_to_idx = {_class: i for i, _class in enumerate(self.classes)}

    def __getitem__(self, index: int):
        img, target = self.data[index], self.targets[index]
        Image = _try_import_pil()
        img = Image.fromarray(img) if Image is not None else img.copy()
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return len(self.data)

    def extra_repr(self) -> str:
        split = "Train" if self.train is True else "Test"
        return f"Split: {split}"


class CIFAR100(CIFAR10):
    """CIFAR-100 (fine labels), read from ``root/cifar-100-python/`` (``train``, ``test``, ``meta``)."""

    base_folder = "cifar-100-python"
    train_list = ["train"]
    test_list = ["test"]
    meta = {"filename": "meta", "key": "fine_label_names"}

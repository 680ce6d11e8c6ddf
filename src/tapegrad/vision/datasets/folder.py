"""``DatasetFolder`` / ``ImageFolder``: one subfolder per class (torchvision's layout).

::

    root/
    ├── cat/      -> class 0 (class folders are sorted by name)
    │   ├── 1.png
    │   └── more/2.png   (files in nested folders count too)
    └── dog/      -> class 1
        └── 3.png

Building the sample list is split in three steps that can each be replaced:
:func:`find_classes` (which subfolders are classes), an acceptance test for a file
(a set of extensions or ``is_valid_file``) and :func:`make_dataset`, which walks each
class folder in a fixed, sorted order.
"""
from __future__ import annotations

import os

import numpy as np

from .vision import VisionDataset, _pillow

__all__ = ["DatasetFolder", "ImageFolder", "IMG_EXTENSIONS", "default_loader", "pil_loader",
           "npy_loader", "find_classes", "make_dataset", "has_file_allowed_extension"]

# torchvision's image extensions, plus NumPy's .npy so that arrays work without Pillow.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".npy")


def has_file_allowed_extension(filename: str, extensions) -> bool:
    """Whether ``filename`` ends (case-insensitively) with ``extensions`` (one string or several)."""
    suffixes = extensions if isinstance(extensions, str) else tuple(extensions)
    return filename.lower().endswith(suffixes)


def is_image_file(filename: str) -> bool:
    """Whether ``filename`` has one of :data:`IMG_EXTENSIONS`."""
    return has_file_allowed_extension(filename, IMG_EXTENSIONS)


def find_classes(directory):
    """Sorted subfolder names of ``directory`` and their indices.

    >>> find_classes("root")          # doctest: +SKIP
    (['cat', 'dog'], {'cat': 0, 'dog': 1})
    """
    with os.scandir(directory) as entries:
        names = sorted(entry.name for entry in entries if entry.is_dir())
    if not names:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return names, dict(zip(names, range(len(names)), strict=True))


def _acceptance_test(extensions, is_valid_file):
    """The file filter: exactly one of ``extensions`` and ``is_valid_file`` must be given."""
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("Both extensions and is_valid_file cannot be None or not None at the same time")
    if is_valid_file is not None:
        return is_valid_file
    return lambda path: has_file_allowed_extension(path, extensions)


def _files_below(folder):
    """Every file under ``folder`` (following symlinks), ordered by its folder's path and
    then its name: torchvision's order, so that indices agree between the two."""
    found = [(dirpath, name) for dirpath, _, names in os.walk(folder, followlinks=True) for name in names]
    return [os.path.join(dirpath, name) for dirpath, name in sorted(found)]


def make_dataset(directory, class_to_idx=None, extensions=None, is_valid_file=None, allow_empty=False):
    """``[(path, class_index), ...]`` for the valid files below each class folder, in sorted order.

    ``class_to_idx`` defaults to :func:`find_classes`'s; a class folder without a valid
    file raises ``FileNotFoundError`` unless ``allow_empty``.
    """
    if class_to_idx is not None and len(class_to_idx) == 0:
        raise ValueError("'class_to_index' must have at least one entry to collect any samples.")
    directory = os.path.expanduser(directory)
    classes = find_classes(directory)[1] if class_to_idx is None else class_to_idx
    accept = _acceptance_test(extensions, is_valid_file)

    samples, empty = [], []
    for name in sorted(classes):
        folder = os.path.join(directory, name)
        found = [path for path in _files_below(folder) if accept(path)] if os.path.isdir(folder) else []
        samples += [(path, classes[name]) for path in found]
        if not found:
            empty.append(name)
    if empty and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(empty)}. "
        if extensions is not None:
            listed = extensions if isinstance(extensions, str) else ", ".join(extensions)
            msg += f"Supported extensions are: {listed}"
        raise FileNotFoundError(msg)
    return samples


def pil_loader(path):
    """Open an image file with Pillow as RGB (needs Pillow: ``pip install Pillow``)."""
    Image = _pillow(required=True)
    with open(path, "rb") as f:
        # convert() reads the pixels while the file is still open.
        return Image.open(f).convert("RGB")


def npy_loader(path):
    """A ``.npy`` array (``allow_pickle=False``: no code runs); images are ``(H, W[, C])``."""
    return np.load(path, allow_pickle=False)


def default_loader(path):
    """``.npy`` files through :func:`npy_loader`, everything else through :func:`pil_loader`."""
    is_array = str(path).lower().endswith(".npy")
    return npy_loader(path) if is_array else pil_loader(path)


class DatasetFolder(VisionDataset):
    """Samples arranged as ``root/<class>/.../<file>``; classes are the sorted subfolder names.

    Attributes: ``classes``, ``class_to_idx``, ``samples`` (``[(path, class_index)]``),
    ``targets`` and ``loader``.  Override :meth:`find_classes` to choose the classes
    differently and :meth:`make_dataset` to collect the samples differently.

    >>> ds = DatasetFolder("root", loader=npy_loader, extensions=(".npy",))   # doctest: +SKIP
    >>> sample, class_index = ds[0]                                          # doctest: +SKIP
    """

    def __init__(self, root, loader, extensions=None, transform=None, target_transform=None,
                 is_valid_file=None, allow_empty=False):
        super().__init__(root, None, transform, target_transform)
        self.loader, self.extensions = loader, extensions
        self.classes, self.class_to_idx = self.find_classes(self.root)
        # Keywords, as torchvision passes them, so that overrides may reorder parameters.
        self.samples = self.make_dataset(self.root, class_to_idx=self.class_to_idx, extensions=extensions,
                                         is_valid_file=is_valid_file, allow_empty=allow_empty)
        self.targets = [target for _, target in self.samples]

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
        """:func:`make_dataset`, but ``class_to_idx`` is required (``find_classes`` already ran)."""
        if class_to_idx is None:
            # Don't let the module function fall back to find_classes(): an overridden
            # find_classes must decide the classes.
            raise ValueError("The class_to_idx parameter cannot be None.")
        return make_dataset(directory, class_to_idx, extensions, is_valid_file, allow_empty)

    def find_classes(self, directory):
        """``(classes, class_to_idx)`` for ``directory``; see :func:`find_classes`."""
        return find_classes(directory)

    def __getitem__(self, index: int):
        path, target = self.samples[index]
        return self._apply_transforms(self.loader(path), target)

    def __len__(self) -> int:
        return len(self.samples)


class ImageFolder(DatasetFolder):
    """Images in ``root/<class>/<file>``: ``.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp``
    opened with Pillow as RGB PIL images (Pillow needed), and ``.npy`` arrays loaded with NumPy.

    ``imgs`` is ``samples``.
    """

    def __init__(self, root, transform=None, target_transform=None, loader=default_loader,
                 is_valid_file=None, allow_empty=False):
        extensions = IMG_EXTENSIONS if is_valid_file is None else None
        super().__init__(root, loader, extensions, transform=transform, target_transform=target_transform,
                         is_valid_file=is_valid_file, allow_empty=allow_empty)
        self.imgs = self.samples

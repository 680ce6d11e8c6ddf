"""``VisionDataset``: the base class of tapegrad.vision's datasets (as in torchvision).

It holds what every image dataset shares: the ``root`` folder, the transforms and
the ``repr`` layout.  Subclasses implement ``__len__`` and ``__getitem__`` (usually
ending in :meth:`VisionDataset._apply_transforms`) and may add lines to the ``repr``
through ``extra_repr``.
"""
from __future__ import annotations

import os

from ...utils.data import Dataset

_PILLOW_MISSING = ("this operation needs Pillow (PIL images are optional in tapegrad): "
                   "pip install Pillow")


def _hanging(label: str, text: str) -> list[str]:
    """``text``'s lines, the first after ``label`` and the others aligned under it."""
    first, *rest = text.splitlines() or [""]
    return [label + first] + [" " * len(label) + line for line in rest]


class StandardTransform:
    """Applies ``transform`` to the input and ``target_transform`` to the target.

    >>> StandardTransform(str.upper, len)("ab", [1, 2])
    ('AB', 2)
    """

    def __init__(self, transform=None, target_transform=None):
        self.transform = transform
        self.target_transform = target_transform

    def __call__(self, input, target):
        if self.transform is not None:
            input = self.transform(input)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return input, target

    def __repr__(self) -> str:
        lines = [type(self).__name__]
        for label, fn in (("Transform: ", self.transform), ("Target transform: ", self.target_transform)):
            if fn is not None:
                lines += _hanging(label, repr(fn))
        return "\n".join(lines)


class VisionDataset(Dataset):
    """Base class: ``root``, and either ``transforms`` (input, target) or ``transform``/``target_transform``.

    ``root`` has ``~`` expanded (a path-like becomes a ``str``).  Passing
    ``transform`` or ``target_transform`` also sets ``transforms`` to the
    :class:`StandardTransform` that applies both, so ``transforms`` is the one
    callable a caller needs either way.

    ``repr(ds)`` reads::

        Dataset MNIST
            Number of datapoints: 60000
            Root location: data
            Split: Train
    """

    _repr_indent = 4

    def __init__(self, root=None, transforms=None, transform=None, target_transform=None):
        if isinstance(root, (str, os.PathLike)):
            root = os.path.expanduser(root)
        self.root = root
        separate = (transform, target_transform) != (None, None)
        if separate and transforms is not None:
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        self.transform = transform
        self.target_transform = target_transform
        self.transforms = StandardTransform(transform, target_transform) if separate else transforms

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def _apply_transforms(self, sample, target):
        """``(transform(sample), target_transform(target))``, skipping the ones not given."""
        return StandardTransform(self.transform, self.target_transform)(sample, target)

    def _repr_body(self) -> list[str]:
        body = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body.extend(self.extra_repr().splitlines())
        transforms = getattr(self, "transforms", None)
        if transforms is not None:
            # One entry: only its first line gets the indent, as in torchvision.
            body.append(repr(transforms))
        return body

    def __repr__(self) -> str:
        indent = "\n" + " " * self._repr_indent
        return indent.join([f"Dataset {type(self).__name__}", *self._repr_body()])

    def extra_repr(self) -> str:
        """Dataset-specific lines of the ``repr`` (e.g. ``"Split: Train"``)."""
        return ""


def _pillow(required: bool):
    """``PIL.Image``; when Pillow is missing, ``None`` or (``required``) an ImportError."""
    try:
        from PIL import Image
    except ImportError as e:
        if required:
            raise ImportError(_PILLOW_MISSING) from e
        return None
    return Image


def _as_image(array):
    """A PIL image of a uint8 ``(H, W)`` or ``(H, W, 3)`` array (mode ``L`` or ``RGB``) when
    Pillow is installed, else a copy of the array (tapegrad's transforms accept both)."""
    Image = _pillow(required=False)
    return array.copy() if Image is None else Image.fromarray(array)


def _no_download(cls_name: str, where: str) -> RuntimeError:
    return RuntimeError(
        f"{cls_name}: download=True is not supported (tapegrad never downloads; there is no network "
        f"at run time) and the files are not there. {where}")

"""Datasets: the map-style and iterable base classes and the ways to combine them."""
from __future__ import annotations

import bisect
import itertools
import math
import operator
import warnings
from collections.abc import Iterable, Sequence

from ...creation import default_generator, randperm

__all__ = [
    "Dataset",
    "IterableDataset",
    "TensorDataset",
    "StackDataset",
    "ConcatDataset",
    "ChainDataset",
    "Subset",
    "random_split",
]


def _fetch_many(dataset, indices: list) -> list:
    """``[dataset[i] for i in indices]``, through ``dataset.__getitems__`` when it has one."""
    batched = getattr(dataset, "__getitems__", None)
    if batched is None:
        return [dataset[i] for i in indices]
    return batched(indices)


class Dataset:
    """A map-style dataset: subclasses implement ``__getitem__`` (and usually ``__len__``).

    A subclass may also implement ``__getitems__(indices) -> list`` to fetch a whole batch
    at once; ``DataLoader`` calls it when present. ``a + b`` is ``ConcatDataset([a, b])``.
    """

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        joined = ChainDataset if isinstance(self, IterableDataset) else ConcatDataset
        return joined([self, other])

    def __class_getitem__(cls, item):  # ``Dataset[int]`` in annotations
        return cls


class IterableDataset(Dataset):
    """A dataset that is a stream of samples: subclasses implement ``__iter__``.

    With ``num_workers > 0`` every worker process iterates its own copy; call
    :func:`~tapegrad.utils.data.get_worker_info` in ``__iter__`` (or in ``worker_init_fn``)
    to give each worker its own shard. ``a + b`` is ``ChainDataset([a, b])``.
    """

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")


class TensorDataset(Dataset):
    """Sample ``i`` is ``tuple(t[i] for t in tensors)``; the tensors share their first dimension.

    >>> import tapegrad
    >>> ds = TensorDataset(tapegrad.zeros(3, 2), tapegrad.arange(3))
    >>> len(ds), ds[1][1].item()
    (3, 1)
    """

    def __init__(self, *tensors) -> None:
        self.tensors = tensors
        if len({len(t) for t in tensors}) > 1:
            raise AssertionError("Size mismatch between tensors")

    def __getitem__(self, index):
        pick = operator.itemgetter(index)
        return tuple(map(pick, self.tensors))

    def __len__(self) -> int:
        return len(self.tensors[0])


class StackDataset(Dataset):
    """Zips equally long datasets: positionally (``StackDataset(a, b)[i] == (a[i], b[i])``) or
    by name (``StackDataset(x=a, y=b)[i] == {"x": a[i], "y": b[i]}``)."""

    def __init__(self, *args, **kwargs) -> None:
        if args and kwargs:
            raise ValueError(
                "Supported either ``tuple``- (via ``args``) or"
                "``dict``- (via ``kwargs``) like input/output, but both types are given."
            )
        members = list(args) or list(kwargs.values())
        if not members:
            raise ValueError("At least one dataset should be passed")
        lengths = {len(d) for d in members}
        if len(lengths) > 1:
            raise ValueError("Size mismatch between datasets")
        self.datasets = args if args else kwargs
        self._length = lengths.pop()
        # names of the members (None: positional) and the members in the same order
        self._keys = list(kwargs) if not args else None
        self._members = members

    def _assemble(self, values):
        return tuple(values) if self._keys is None else dict(zip(self._keys, values, strict=True))

    def __getitem__(self, index):
        return self._assemble(d[index] for d in self._members)

    @staticmethod
    def _column(dataset, indices: list) -> list:
        column = _fetch_many(dataset, indices)
        if len(column) != len(indices):  # only a custom __getitems__ can get this wrong
            raise ValueError(
                "Nested dataset's output size mismatch."
                f" Expected {len(indices)}, got {len(column)}"
            )
        return column

    def __getitems__(self, indices: list):
        columns = [self._column(d, indices) for d in self._members]
        return [self._assemble(row) for row in zip(*columns, strict=True)]

    def __len__(self) -> int:
        return self._length


class ConcatDataset(Dataset):
    """Map-style datasets one after the other; ``cumulative_sizes[k]`` is the total length of
    the first ``k + 1`` of them.

    >>> ConcatDataset([range(2), range(3)]).cumulative_sizes
    [2, 5]
    """

    @staticmethod
    def cumsum(sequence):
        return list(itertools.accumulate(len(part) for part in sequence))

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        parts = [*datasets]
        if not parts:
            raise AssertionError("datasets should not be an empty iterable")
        if any(isinstance(d, IterableDataset) for d in parts):
            raise AssertionError("ConcatDataset does not support IterableDataset")
        self.datasets, self.cumulative_sizes = parts, self.cumsum(parts)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def _locate(self, idx):
        """(which dataset, index inside it) for a global index (negative counts from the end)."""
        total = len(self)
        if idx < 0:
            if -idx > total:
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += total
        part = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[part - 1] if part else 0
        return part, idx - start

    def __getitem__(self, idx):
        part, local = self._locate(idx)
        return self.datasets[part][local]

    @property
    def cummulative_sizes(self):
        warnings.warn("cummulative_sizes attribute is renamed to cumulative_sizes",
                      FutureWarning, stacklevel=2)
        return self.cumulative_sizes


class ChainDataset(IterableDataset):
    """Iterable datasets chained lazily, one after the other."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    @staticmethod
    def _checked(d):
        if not isinstance(d, IterableDataset):
            raise AssertionError("ChainDataset only supports IterableDataset")
        return d

    def __iter__(self):
        for d in self.datasets:
            yield from self._checked(d)

    def __len__(self) -> int:
        return sum(len(self._checked(d)) for d in self.datasets)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (``Subset(ds, [4, 1])[0] is ds[4]``)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        cls = type(self)
        # DataLoader fetches batches through __getitems__, which would bypass a custom
        # __getitem__ silently.
        if cls.__getitem__ is not Subset.__getitem__ and cls.__getitems__ is Subset.__getitems__:
            raise NotImplementedError(
                f"{type(self).__name__} overrides __getitem__ but not __getitems__. "
                "When subclassing Subset and overriding __getitem__, you must also override "
                "__getitems__ to ensure DataLoader works correctly with your custom logic. "
                "A simple implementation:\n\n"
                "def __getitems__(self, indices):\n"
                "    return [self.__getitem__(idx) for idx in indices]"
            )
        self.dataset = dataset
        self.indices = indices

    def _outer(self, positions):
        return [self.indices[p] for p in positions]

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[self._outer(idx)]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list) -> list:
        return _fetch_many(self.dataset, self._outer(indices))

    def __len__(self) -> int:
        return len(self.indices)


def _lengths_from_fractions(fractions, total: int) -> list:
    """Split ``total`` by ``fractions`` (summing to 1): floors first, then the remainder one
    by one to the splits in order, from the first."""
    bad = [i for i, frac in enumerate(fractions) if frac < 0 or frac > 1]
    if bad:
        i = bad[0]
        raise ValueError(f"Fraction at index {i} is not between 0 and 1")
    sizes = [int(total * frac // 1) for frac in fractions]
    for k in range(total - sum(sizes)):
        sizes[k % len(sizes)] += 1
    for i in (i for i, n in enumerate(sizes) if not n):
        warnings.warn(f"Length of split at index {i} is 0. "
                      f"This might result in an empty dataset.", stacklevel=3)
    return sizes


def random_split(dataset, lengths, generator=default_generator):
    """Split ``dataset`` at random into non-overlapping :class:`Subset` s.

    ``lengths`` are either integers summing to ``len(dataset)`` or fractions summing to 1
    (each split gets ``floor(fraction * len(dataset))`` items, and the leftovers go one
    at a time to the first splits).

    >>> import tapegrad
    >>> [len(s) for s in random_split(range(10), [0.5, 0.3, 0.2], tapegrad.Generator())]
    [5, 3, 2]
    """
    total, share = len(dataset), sum(lengths)
    if share <= 1 and math.isclose(share, 1):
        lengths = _lengths_from_fractions(lengths, total)
    if total != sum(lengths):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    shuffled = iter(randperm(total, generator=generator).tolist())
    return [Subset(dataset, list(itertools.islice(shuffled, n))) for n in lengths]

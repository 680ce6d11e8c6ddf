"""Samplers: iterables of dataset indices (or of index lists, for :class:`BatchSampler`).

Every random sampler draws from a ``tapegrad.Generator``: the one it was given, or a
fresh one seeded from the default generator at the start of each pass, so that
``tapegrad.manual_seed`` makes unseeded shuffles reproducible.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence, Sized

from ... import creation as _creation
from ... import dtypes as _dtypes

__all__ = [
    "BatchSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]

_SEED_BOUND = 1 << 63


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _stream(generator):
    """The generator to draw from: ``generator``, or a new one seeded by the default stream."""
    if generator is not None:
        return generator
    seed = _creation.randint(0, _SEED_BOUND - 1, (), dtype=_dtypes.int64).item()
    return _creation.Generator().manual_seed(int(seed))


class Sampler:
    """Base class of samplers: subclasses implement ``__iter__`` (and ``__len__`` if they can)."""

    def __iter__(self):
        raise NotImplementedError

    def __class_getitem__(cls, item):  # ``Sampler[int]`` in annotations
        return cls


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``, in order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self):
        yield from range(len(self.data_source))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices of ``data_source`` in random order.

    Without replacement, ``num_samples`` (default ``len(data_source)``) indices are taken
    from back-to-back random permutations, so every index appears once per full
    permutation; with replacement they are drawn independently.

    >>> import tapegrad
    >>> sorted(RandomSampler(range(4), generator=tapegrad.Generator().manual_seed(0)))
    [0, 1, 2, 3]
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator=None) -> None:
        self.data_source, self.generator = data_source, generator
        self.replacement, self._num_samples = replacement, num_samples
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        requested = self._num_samples
        return len(self.data_source) if requested is None else requested

    def __iter__(self):
        n, wanted = len(self.data_source), self.num_samples
        gen = _stream(self.generator)
        if self.replacement:
            yield from _creation.randint(0, n, (wanted,), generator=gen).tolist()
            return
        # Whole permutations, then the head of one more for the remainder.
        for _ in range(math.ceil(wanted / n)):
            take = min(n, wanted)
            yield from _creation.randperm(n, generator=gen).tolist()[:take]
            wanted -= take

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The elements of ``indices`` in a random order, each once."""

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        order = _creation.randperm(len(self.indices), generator=self.generator).tolist()
        return (self.indices[k] for k in order)

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in ``[0, len(weights))``, drawn with probability proportional
    to ``weights`` (with or without replacement).

    >>> import tapegrad
    >>> set(WeightedRandomSampler([0, 1.0, 0, 2.0], 10, generator=tapegrad.Generator())) <= {1, 3}
    True
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator=None) -> None:
        if not _is_positive_int(num_samples):
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        as_tensor = _creation.as_tensor(weights, dtype=_dtypes.float64)
        if as_tensor.dim() != 1:
            raise ValueError("weights should be a 1d sequence but given "
                             f"weights have shape {tuple(as_tensor.shape)}")
        self.weights, self.generator = as_tensor, generator
        self.num_samples, self.replacement = num_samples, replacement

    def __iter__(self):
        drawn = _creation.multinomial(self.weights, self.num_samples, self.replacement,
                                      generator=self.generator)
        return iter(drawn.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``; the last list is
    shorter, or dropped with ``drop_last=True``.

    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=True))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not _is_positive_int(batch_size):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        source = iter(self.sampler)
        while chunk := list(itertools.islice(source, self.batch_size)):
            if len(chunk) < self.batch_size and self.drop_last:
                return
            yield chunk

    def __len__(self) -> int:
        full, rest = divmod(len(self.sampler), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

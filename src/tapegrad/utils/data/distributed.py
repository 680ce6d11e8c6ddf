"""DistributedSampler: each rank iterates its own share of the dataset's indices.

The index list (``0 .. len - 1``, or one permutation of it drawn from a generator
seeded with ``seed + epoch``, the same on every rank) is first brought to a multiple
of the number of replicas, by wrapping around to its start or, with ``drop_last``, by
cutting the tail; rank r then takes every ``num_replicas``-th index from position r.
"""
from __future__ import annotations

import math

from ... import creation as _creation
from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _world_default(value, getter):
    if value is not None:
        return value
    from ... import distributed as dist
    if not dist.is_available():
        raise RuntimeError("Requires distributed package to be available")
    return getter()


class DistributedSampler(Sampler):
    """Restrict a map-style dataset to one rank's share, for ``DataLoader(sampler=...)``.

    ``len(sampler)`` is the same on every rank: without ``drop_last`` the shares are
    padded with indices from the start of the list, with it the last incomplete round
    is dropped. Call ``set_epoch(epoch)`` before each epoch so that shuffling differs
    from epoch to epoch (and stays identical across ranks).

    >>> s = DistributedSampler(range(10), num_replicas=3, rank=1, shuffle=False)
    >>> list(s)
    [1, 4, 7, 0]
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False) -> None:
        from ... import distributed as dist
        world = _world_default(num_replicas, dist.get_world_size)
        me = _world_default(rank, dist.get_rank)
        if not 0 <= me < world:
            raise ValueError(f"Invalid rank {me}, rank should be in the interval [0, {world - 1}]")
        n = len(dataset)
        # Rounds of one index per rank: all complete ones, plus a padded last one unless dropped.
        rounds = n // world if drop_last else math.ceil(n / world)
        vars(self).update(dataset=dataset, num_replicas=world, rank=me, epoch=0,
                          drop_last=drop_last, num_samples=rounds, total_size=rounds * world,
                          shuffle=shuffle, seed=seed)

    def _order(self):
        n = len(self.dataset)
        if not self.shuffle:
            return list(range(n))
        g = _creation.Generator().manual_seed(self.seed + self.epoch)
        return _creation.randperm(n, generator=g).tolist()

    def __iter__(self):
        order = self._order()
        if len(order) < self.total_size:
            repeats = math.ceil(self.total_size / max(len(order), 1))
            order = (order * repeats) if order else order
        order = order[:self.total_size]
        return iter(order[self.rank::self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Shuffle with ``seed + epoch``: call it at the start of every epoch, on every rank."""
        self.epoch = epoch

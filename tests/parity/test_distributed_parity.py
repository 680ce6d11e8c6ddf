"""DistributedSampler against torch's: index lists without shuffling, lengths and
partition rules with it (the permutation itself comes from tapegrad's own generator)."""
from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

from torch.utils.data.distributed import DistributedSampler as TorchSampler  # noqa: E402

from tapegrad.utils.data.distributed import DistributedSampler  # noqa: E402

CASES = [(n, world, drop_last) for n in (0, 1, 2, 3, 5, 7, 10, 16, 17, 31)
         for world in (1, 2, 3, 4, 5, 8) for drop_last in (False, True)]


@pytest.mark.parametrize("n,world,drop_last", CASES)
def test_unshuffled_index_lists_are_torchs(n, world, drop_last):
    for rank in range(world):
        ours = DistributedSampler(range(n), world, rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), world, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert (len(ours), ours.num_samples, ours.total_size) == \
               (len(theirs), theirs.num_samples, theirs.total_size)


@pytest.mark.parametrize("n,world,drop_last", CASES)
def test_shuffled_shares_partition_one_permutation(n, world, drop_last):
    for epoch, seed in itertools.product((0, 3), (0, 7)):
        shares = []
        for rank in range(world):
            s = DistributedSampler(range(n), world, rank, shuffle=True, seed=seed, drop_last=drop_last)
            s.set_epoch(epoch)
            t = TorchSampler(range(n), world, rank, shuffle=True, seed=seed, drop_last=drop_last)
            t.set_epoch(epoch)
            shares.append(list(s))
            assert len(shares[-1]) == len(s) == len(list(t))
            assert list(s) == shares[-1]                    # the same list when asked again
        interleaved = [shares[r][i] for i in range(len(shares[0])) for r in range(world)]
        if drop_last or n == 0:
            assert len(set(interleaved)) == len(interleaved)          # no repeats
        else:
            assert set(interleaved) == set(range(n))                   # every index, padded
            assert interleaved[n:] == interleaved[:len(interleaved) - n]   # padding wraps around
    first = DistributedSampler(range(50), 2, 0, seed=1)
    second = DistributedSampler(range(50), 2, 0, seed=1)
    second.set_epoch(1)
    assert list(first) != list(second)


@pytest.mark.parametrize("rank", [-1, 2, 5])
def test_invalid_rank_message(rank):
    with pytest.raises(ValueError) as ours:
        DistributedSampler(range(4), num_replicas=2, rank=rank)
    with pytest.raises(ValueError) as theirs:
        TorchSampler(range(4), num_replicas=2, rank=rank)
    assert str(ours.value) == str(theirs.value)


def test_attributes_are_torchs():
    ours = DistributedSampler(range(10), 3, 1)
    theirs = TorchSampler(range(10), 3, 1)
    assert sorted(vars(ours)) == sorted(vars(theirs))

"""tapegrad.utils.data without PyTorch: datasets, samplers, collation and DataLoader.

Worker-process tests run under a SIGALRM guard (and with DataLoader timeouts) so a
regression shows up as a failure, never as a hung test run.
"""
from __future__ import annotations

import collections
import gc
import math
import os
import pickle
import signal
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import tapegrad
from tapegrad.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

POSIX = hasattr(signal, "SIGALRM")


@pytest.fixture
def hang_guard():
    """Fail (instead of hanging) if the test runs longer than 30 s."""
    if not POSIX:
        yield
        gc.collect()
        return

    def boom(signum, frame):
        raise TimeoutError("test exceeded its 30 s hang guard")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        gc.collect()  # iterators kept alive by caught exceptions shut their workers down here


# --------------------------------------------------------------------------- module-level datasets
# (module level so that they also pickle for the 'spawn' start method)
class RangeDataset(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i


class WorkerIdDataset(Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = get_worker_info()
        return {"index": i, "worker": -1 if info is None else info.id,
                "num_workers": 0 if info is None else info.num_workers,
                "seed": -1 if info is None else info.seed,
                "rand": float(tapegrad.rand(1).item()), "pid": os.getpid()}


class FailingDataset(Dataset):
    def __init__(self, bad=5, exc=ValueError):
        self.bad = bad
        self.exc = exc

    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == self.bad:
            raise self.exc(f"sample {i} is broken")
        return i


class SlowDataset(Dataset):
    def __init__(self, delay):
        self.delay = delay

    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(self.delay)
        return i


class DyingDataset(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if get_worker_info() is not None:
            os._exit(3)
        return i


class UnpicklableDataset(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return lambda: i  # a lambda cannot cross a process boundary


class ShardedIterable(IterableDataset):
    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            lo, hi = self.start, self.end
        else:
            per_worker = int(math.ceil((self.end - self.start) / float(info.num_workers)))
            lo = self.start + info.id * per_worker
            hi = min(lo + per_worker, self.end)
        return iter(range(lo, hi))

    def __len__(self):
        return self.end - self.start


class PlainIterable(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


def record_worker(worker_id):
    info = get_worker_info()
    assert info is not None and info.id == worker_id
    info.dataset.init_calls = worker_id + 100


class InitRecordingDataset(Dataset):
    init_calls = None

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return (i, self.init_calls)


def failing_init(worker_id):
    raise RuntimeError(f"init failed in {worker_id}")


def _tensor_ds(n=10):
    x = tapegrad.arange(n * 2, dtype=tapegrad.float32).reshape(n, 2)
    y = tapegrad.arange(n)
    return TensorDataset(x, y)


def _labels(loader):
    return [b[1].tolist() for b in loader]


# --------------------------------------------------------------------------- datasets
def test_dataset_base_and_add():
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset should implement __getitem__"):
        Dataset()[0]
    cat = RangeDataset(3) + RangeDataset(2)
    assert isinstance(cat, ConcatDataset)
    assert [cat[i] for i in range(len(cat))] == [0, 1, 2, 0, 1]
    chain = PlainIterable(2) + PlainIterable(3)
    assert isinstance(chain, ChainDataset)
    assert list(chain) == [0, 1, 0, 1, 2]


def test_tensor_dataset():
    ds = _tensor_ds(4)
    assert len(ds) == 4
    x, y = ds[2]
    assert x.tolist() == [4.0, 5.0] and y.item() == 2
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(tapegrad.zeros(3, 2), tapegrad.zeros(4))


def test_subset_and_concat():
    base = RangeDataset(10)
    sub = Subset(base, [7, 2, 5])
    assert len(sub) == 3 and [sub[i] for i in range(3)] == [7, 2, 5]
    assert sub.__getitems__([0, 2]) == [7, 5]
    cat = ConcatDataset([RangeDataset(2), RangeDataset(3)])
    assert cat.cumulative_sizes == [2, 5]
    assert cat[-1] == 2 and cat[2] == 0
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        cat[-6]
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([PlainIterable(2)])

    class BadSubset(Subset):
        def __getitem__(self, idx):
            return 0

    with pytest.raises(NotImplementedError, match="overrides __getitem__ but not __getitems__"):
        BadSubset(base, [0])


def test_stack_dataset():
    a, b = RangeDataset(3), Subset(RangeDataset(10), [9, 8, 7])
    assert StackDataset(a, b)[1] == (1, 8)
    assert StackDataset(x=a, y=b)[2] == {"x": 2, "y": 7}
    assert StackDataset(a, b).__getitems__([0, 2]) == [(0, 9), (2, 7)]
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset(a, RangeDataset(4))
    with pytest.raises(ValueError, match="At least one dataset should be passed"):
        StackDataset()


def test_random_split_integer_lengths_and_determinism():
    ds = RangeDataset(10)
    parts = random_split(ds, [3, 7], generator=tapegrad.Generator().manual_seed(42))
    assert [len(p) for p in parts] == [3, 7]
    got = sorted(parts[0].indices + parts[1].indices)
    assert got == list(range(10))
    again = random_split(ds, [3, 7], generator=tapegrad.Generator().manual_seed(42))
    assert [p.indices for p in again] == [p.indices for p in parts]
    other = random_split(ds, [3, 7], generator=tapegrad.Generator().manual_seed(43))
    assert [p.indices for p in other] != [p.indices for p in parts]
    tapegrad.manual_seed(5)
    a = random_split(ds, [5, 5])
    tapegrad.manual_seed(5)
    b = random_split(ds, [5, 5])
    assert [p.indices for p in a] == [p.indices for p in b]


@pytest.mark.parametrize("n,fracs,expected", [
    (10, [0.3, 0.3, 0.4], [3, 3, 4]),
    (11, [0.5, 0.5], [6, 5]),
    (30, [0.3, 0.3, 0.4], [9, 9, 12]),
    (7, [1 / 3, 1 / 3, 1 / 3], [3, 2, 2]),
    (5, [0.1, 0.1, 0.8], [1, 0, 4]),
])
def test_random_split_fractions(n, fracs, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = random_split(RangeDataset(n), fracs, generator=tapegrad.Generator().manual_seed(0))
    assert [len(p) for p in parts] == expected
    assert sorted(sum((p.indices for p in parts), [])) == list(range(n))


def test_random_split_errors_and_warning():
    with pytest.raises(
        ValueError, match="Sum of input lengths does not equal the length of the input dataset!"
    ):
        random_split(RangeDataset(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(RangeDataset(10), [0.5, 1.5, -1.0])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(RangeDataset(2), [0.9, 0.1])


# --------------------------------------------------------------------------- samplers
def test_sequential_and_random_sampler():
    assert list(SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    assert len(SequentialSampler(range(5))) == 5
    s = RandomSampler(range(20), generator=tapegrad.Generator().manual_seed(1))
    first = list(s)
    assert sorted(first) == list(range(20)) and first != list(range(20))
    assert list(s) != first  # the generator moves on between epochs
    assert list(RandomSampler(range(20), generator=tapegrad.Generator().manual_seed(1))) == first
    r = list(RandomSampler(range(3), replacement=True, num_samples=70,
                           generator=tapegrad.Generator().manual_seed(0)))
    assert len(r) == 70 and set(r) <= {0, 1, 2}
    wo = list(RandomSampler(range(4), num_samples=10, generator=tapegrad.Generator().manual_seed(0)))
    assert len(wo) == 10 and sorted(wo[:4]) == [0, 1, 2, 3] and sorted(wo[4:8]) == [0, 1, 2, 3]
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(
        ValueError, match="num_samples should be a positive integer value, but got num_samples=0"
    ):
        RandomSampler(range(3), num_samples=0)
    # without a generator: seeded from the default generator
    tapegrad.manual_seed(3)
    a = list(RandomSampler(range(30)))
    tapegrad.manual_seed(3)
    assert list(RandomSampler(range(30))) == a


def test_subset_random_and_weighted_sampler():
    idx = [10, 20, 30, 40]
    got = list(SubsetRandomSampler(idx, generator=tapegrad.Generator().manual_seed(0)))
    assert sorted(got) == idx and len(SubsetRandomSampler(idx)) == 4
    w = WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 200, generator=tapegrad.Generator().manual_seed(0))
    draws = list(w)
    assert len(w) == 200 and len(draws) == 200 and set(draws) <= {1, 3}
    assert draws.count(3) > draws.count(1)
    nr = list(WeightedRandomSampler([1, 1, 1, 1], 4, replacement=False,
                                    generator=tapegrad.Generator().manual_seed(0)))
    assert sorted(nr) == [0, 1, 2, 3]
    assert w.weights.dtype == tapegrad.float64
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        WeightedRandomSampler([1.0], 1, replacement=None)
    with pytest.raises(
        ValueError, match=r"weights should be a 1d sequence but given weights have shape \(2, 1\)"
    ):
        WeightedRandomSampler([[1.0], [2.0]], 1)


def test_batch_sampler():
    assert list(BatchSampler(SequentialSampler(range(10)), 3, False)) == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
        [9],
    ]
    assert list(BatchSampler(SequentialSampler(range(10)), 3, True)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(BatchSampler(range(10), 3, False)) == 4 and len(BatchSampler(range(10), 3, True)) == 3
    with pytest.raises(
        ValueError, match="batch_size should be a positive integer value, but got batch_size=0"
    ):
        BatchSampler(range(3), 0, False)
    with pytest.raises(
        ValueError, match="batch_size should be a positive integer value, but got batch_size=True"
    ):
        BatchSampler(range(3), True, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value, but got drop_last=1"):
        BatchSampler(range(3), 2, 1)


# --------------------------------------------------------------------------- collation
Point = collections.namedtuple("Point", ["x", "y"])


def test_default_collate_leaves():
    t = default_collate([tapegrad.tensor([1.0, 2.0]), tapegrad.tensor([3.0, 4.0])])
    assert t.shape == (2, 2) and t.dtype == tapegrad.float32
    a = default_collate([np.array([1, 2], dtype=np.uint8), np.array([3, 4], dtype=np.uint8)])
    assert a.dtype == tapegrad.uint8 and a.tolist() == [[1, 2], [3, 4]]
    f = default_collate([0.5, 1.5])
    assert f.dtype == tapegrad.float64 and f.tolist() == [0.5, 1.5]
    i = default_collate([1, 2, 3])
    assert i.dtype == tapegrad.int64 and i.tolist() == [1, 2, 3]
    b = default_collate([True, False])
    assert b.dtype == tapegrad.bool
    s = default_collate([np.float32(1.5), np.float32(2.5)])
    assert s.dtype == tapegrad.float32 and s.shape == (2,)
    s64 = default_collate([np.float64(1.5), np.float64(2.5)])
    assert s64.dtype == tapegrad.float64
    assert default_collate([np.int32(1), np.int32(2)]).dtype == tapegrad.int32
    assert default_collate(["a", "b"]) == ["a", "b"]
    assert default_collate([b"a", b"b"]) == [b"a", b"b"]
    zero_d = default_collate([tapegrad.tensor(1), tapegrad.tensor(2)])
    assert zero_d.shape == (2,) and zero_d.tolist() == [1, 2]


def test_default_collate_nested():
    batch = [
        {"img": (tapegrad.ones(2, 2), np.zeros(3, dtype=np.float64)), "label": 1, "w": 0.5,
         "name": "a", "pt": Point(1, 2.0), "seq": [1, 2]},
        {"img": (tapegrad.zeros(2, 2), np.ones(3, dtype=np.float64)), "label": 0, "w": 1.5,
         "name": "b", "pt": Point(3, 4.0), "seq": [3, 4]},
    ]
    out = default_collate(batch)
    assert set(out) == {"img", "label", "w", "name", "pt", "seq"}
    assert isinstance(out["img"], list) and len(out["img"]) == 2  # tuples come back as lists
    assert out["img"][0].shape == (2, 2, 2) and out["img"][0].dtype == tapegrad.float32
    assert out["img"][1].shape == (2, 3) and out["img"][1].dtype == tapegrad.float64
    assert out["label"].tolist() == [1, 0] and out["label"].dtype == tapegrad.int64
    assert out["w"].dtype == tapegrad.float64
    assert out["name"] == ["a", "b"]
    assert isinstance(out["pt"], Point) and out["pt"].x.tolist() == [1, 3]
    assert out["pt"].y.dtype == tapegrad.float64
    assert [t.tolist() for t in out["seq"]] == [[1, 3], [2, 4]]
    od = default_collate([collections.OrderedDict(a=1), collections.OrderedDict(a=2)])
    assert isinstance(od, collections.OrderedDict)


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([tapegrad.zeros(2), tapegrad.zeros(3)])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers, "
                                        "dicts or lists; found <class 'object'>"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_convert():
    assert default_convert(3) == 3
    t = default_convert(np.arange(3))
    assert isinstance(t, tapegrad.Tensor) and t.dtype == tapegrad.int64
    p = default_convert(Point(np.int64(1), np.float32(2)))
    assert isinstance(p, Point) and isinstance(p.x, tapegrad.Tensor) and p.y.dtype == tapegrad.float32
    lst = default_convert((np.zeros(2), "s"))
    assert isinstance(lst, list) and isinstance(lst[0], tapegrad.Tensor) and lst[1] == "s"
    d = default_convert({"a": np.ones(1)})
    assert isinstance(d["a"], tapegrad.Tensor)
    strs = np.array(["x", "y"])
    assert default_convert(strs) is strs


# --------------------------------------------------------------------------- DataLoader (main process)
def test_dataloader_order_len_drop_last():
    ds = _tensor_ds(10)
    loader = DataLoader(ds, batch_size=4)
    assert len(loader) == 3
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    first = next(iter(loader))
    assert first[0].shape == (4, 2) and first[0].dtype == tapegrad.float32
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and _labels(dl) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [b.tolist() for b in DataLoader(RangeDataset(3))] == [[0], [1], [2]]
    it = iter(DataLoader(ds, batch_size=3))
    assert len(it) == 4


def test_dataloader_shuffle_determinism():
    ds = RangeDataset(50)

    def epoch(loader):
        return [x for b in loader for x in b.tolist()]

    g = tapegrad.Generator().manual_seed(7)
    loader = DataLoader(ds, batch_size=8, shuffle=True, generator=g)
    e1, e2 = epoch(loader), epoch(loader)
    assert sorted(e1) == list(range(50)) and sorted(e2) == list(range(50))
    assert e1 != list(range(50)) and e1 != e2
    again = DataLoader(ds, batch_size=8, shuffle=True, generator=tapegrad.Generator().manual_seed(7))
    assert epoch(again) == e1 and epoch(again) == e2
    tapegrad.manual_seed(11)
    a = epoch(DataLoader(ds, batch_size=8, shuffle=True))
    tapegrad.manual_seed(11)
    assert epoch(DataLoader(ds, batch_size=8, shuffle=True)) == a


def test_dataloader_sampler_and_batch_sampler():
    ds = RangeDataset(10)
    loader = DataLoader(ds, batch_size=2, sampler=[9, 8, 7, 6, 5])
    assert [b.tolist() for b in loader] == [[9, 8], [7, 6], [5]] and len(loader) == 3
    bs = DataLoader(ds, batch_sampler=[[0, 5], [1, 2, 3], [9]])
    assert [b.tolist() for b in bs] == [[0, 5], [1, 2, 3], [9]]
    assert bs.batch_size is None and bs.drop_last is False
    nb = DataLoader(ds, batch_size=None)
    out = list(nb)
    assert out == list(range(10)) and len(nb) == 10  # default_convert leaves ints alone
    arr = DataLoader([np.arange(2), np.arange(2) + 2], batch_size=None)
    assert all(isinstance(b, tapegrad.Tensor) for b in arr)


def test_dataloader_collate_fn_and_nested_batches():
    class Nested(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {
                "pair": (
                    tapegrad.full((2,), float(i)),
                    np.array([i, i], dtype=np.int32),
                    i,
                    float(i),
                    f"s{i}",
                )
            }

    out = list(DataLoader(Nested(), batch_size=2))
    assert len(out) == 3
    pair = out[0]["pair"]
    assert pair[0].shape == (2, 2) and pair[1].dtype == tapegrad.int32
    assert (
        pair[2].dtype == tapegrad.int64 and pair[3].dtype == tapegrad.float64 and pair[4] == ("s0", "s1")
    )  # as torch
    custom = list(DataLoader(RangeDataset(4), batch_size=2, collate_fn=lambda b: sum(b)))
    assert custom == [1, 5]


def test_dataloader_getitems_is_used():
    class Batched(Dataset):
        calls = []

        def __len__(self):
            return 6

        def __getitem__(self, i):
            raise AssertionError("__getitems__ should be used")

        def __getitems__(self, idx):
            self.calls.append(list(idx))
            return [i * 10 for i in idx]

    ds = Batched()
    assert [b.tolist() for b in DataLoader(ds, batch_size=4)] == [[0, 10, 20, 30], [40, 50]]
    assert ds.calls == [[0, 1, 2, 3], [4, 5]]


def test_dataloader_argument_errors():
    ds = RangeDataset(4)
    cases = [
        (dict(num_workers=-1), ValueError, "num_workers option should be non-negative"),
        (dict(timeout=-1), ValueError, "timeout option should be non-negative"),
        (
            dict(prefetch_factor=2),
            ValueError,
            "prefetch_factor option could only be specified in multiprocessing",
        ),
        (
            dict(num_workers=1, prefetch_factor=-1),
            ValueError,
            "prefetch_factor option should be non-negative",
        ),
        (dict(persistent_workers=True), ValueError, "persistent_workers option needs num_workers > 0"),
        (dict(sampler=[0, 1], shuffle=True), ValueError, "sampler option is mutually exclusive with shuffle"),
        (
            dict(batch_sampler=[[0]], batch_size=2),
            ValueError,
            "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last",
        ),
        (dict(batch_sampler=[[0]], shuffle=True), ValueError, "batch_sampler option is mutually exclusive"),
        (dict(batch_sampler=[[0]], drop_last=True), ValueError, "batch_sampler option is mutually exclusive"),
        (
            dict(batch_size=None, drop_last=True),
            ValueError,
            "batch_size=None option disables auto-batching and is mutually exclusive with drop_last",
        ),
        (
            dict(multiprocessing_context="fork"),
            ValueError,
            "multiprocessing_context can only be used with multi-process loading",
        ),
        (
            dict(num_workers=1, multiprocessing_context="nope"),
            ValueError,
            "multiprocessing_context option should specify a valid start method",
        ),
        (
            dict(num_workers=1, multiprocessing_context=3),
            TypeError,
            "multiprocessing_context option should be a valid context object",
        ),
    ]
    for kwargs, exc, msg in cases:
        with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)")):
            DataLoader(ds, **kwargs)
    it_ds = PlainIterable(3)
    with pytest.raises(
        ValueError,
        match="DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle=True",
    ):
        DataLoader(it_ds, shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(it_ds, sampler=[0])
    with pytest.raises(ValueError, match="expected unspecified batch_sampler option"):
        DataLoader(it_ds, batch_sampler=[[0]])
    loader = DataLoader(ds)
    with pytest.raises(
        ValueError, match="batch_size attribute should not be set after DataLoader is initialized"
    ):
        loader.batch_size = 3
    loader.num_workers = 0  # other attributes stay settable
    with pytest.raises(AssertionError, match="requires timeout == 0"):
        iter(DataLoader(ds, timeout=1))


def test_dataloader_pin_memory_accepted():
    with pytest.warns(UserWarning, match="no accelerator is found"):
        out = [b.tolist() for b in DataLoader(RangeDataset(3), batch_size=2, pin_memory=True)]
    assert out == [[0, 1], [2]]


def test_dataloader_iterable_dataset_main_process():
    loader = DataLoader(ShardedIterable(3, 10), batch_size=3)
    assert len(loader) == 3
    assert [b.tolist() for b in loader] == [[3, 4, 5], [6, 7, 8], [9]]
    assert [b.tolist() for b in DataLoader(ShardedIterable(0, 7), batch_size=3, drop_last=True)] == [
        [0, 1, 2],
        [3, 4, 5],
    ]
    assert list(DataLoader(PlainIterable(3), batch_size=None)) == [0, 1, 2]
    with pytest.raises(TypeError):
        len(DataLoader(PlainIterable(3)))

    class Liar(IterableDataset):
        def __iter__(self):
            return iter(range(5))

        def __len__(self):
            return 2

    loader = DataLoader(Liar(), batch_size=None)
    assert len(loader) == 2
    with pytest.warns(UserWarning, match="was reported to be 2"):
        list(loader)


def test_tensor_pickles_for_workers():
    t = tapegrad.arange(6, dtype=tapegrad.float32).reshape(2, 3)
    back = pickle.loads(pickle.dumps(t))
    assert isinstance(back, tapegrad.Tensor) and back.tolist() == t.tolist() and back.dtype == t.dtype


# --------------------------------------------------------------------------- DataLoader (workers)
@pytest.mark.parametrize("num_workers", [1, 2])
def test_workers_deliver_every_sample_once_in_order(hang_guard, num_workers):
    ds = RangeDataset(23)
    ref = [b.tolist() for b in DataLoader(ds, batch_size=3)]
    got = [b.tolist() for b in DataLoader(ds, batch_size=3, num_workers=num_workers, timeout=20)]
    assert got == ref
    flat = [x for b in got for x in b]
    assert sorted(flat) == list(range(23)) and len(flat) == len(set(flat))
    g1 = tapegrad.Generator().manual_seed(3)
    g2 = tapegrad.Generator().manual_seed(3)
    single = [b.tolist() for b in DataLoader(ds, batch_size=4, shuffle=True, generator=g1)]
    multi = [b.tolist() for b in DataLoader(ds, batch_size=4, shuffle=True, generator=g2,
                                            num_workers=num_workers, prefetch_factor=1)]
    assert multi == single


def test_workers_tensor_batches_and_worker_info(hang_guard):
    assert get_worker_info() is None
    loader = DataLoader(WorkerIdDataset(), batch_size=2, num_workers=2,
                        generator=tapegrad.Generator().manual_seed(0))
    batches = list(loader)
    assert [b["index"].tolist() for b in batches] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    # round robin: batch k went to worker k % 2
    assert [b["worker"].tolist() for b in batches] == [[k % 2] * 2 for k in range(6)]
    assert all(b["num_workers"].tolist() == [2, 2] for b in batches)
    pids = {p for b in batches for p in b["pid"].tolist()}
    assert len(pids) == 2 and os.getpid() not in pids
    seeds = {b["worker"][0].item(): b["seed"][0].item() for b in batches}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker_id
    rands0 = [r for b in batches for r in b["rand"].tolist()]
    assert len(set(rands0)) == len(rands0)  # workers do not share a random stream
    again = list(DataLoader(WorkerIdDataset(), batch_size=2, num_workers=2,
                            generator=tapegrad.Generator().manual_seed(0)))
    assert [r for b in again for r in b["rand"].tolist()] == rands0  # seeded: reproducible


def test_worker_init_fn(hang_guard):
    out = list(DataLoader(InitRecordingDataset(), batch_size=None, num_workers=2,
                          worker_init_fn=record_worker))
    assert [tuple(o) for o in out] == [(i, 100 + i % 2) for i in range(6)]
    with pytest.raises(RuntimeError, match="Caught RuntimeError in DataLoader worker process 0"):
        list(DataLoader(InitRecordingDataset(), num_workers=1, worker_init_fn=failing_init))


def test_worker_error_surfaces(hang_guard):
    start = time.monotonic()
    loader = DataLoader(FailingDataset(bad=5), batch_size=2, num_workers=2, timeout=20)
    it = iter(loader)
    assert next(it).tolist() == [0, 1]
    assert next(it).tolist() == [2, 3]
    with pytest.raises(ValueError) as excinfo:
        next(it)
    msg = str(excinfo.value)
    assert msg.startswith(
        "Caught ValueError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):"
    )
    assert "sample 5 is broken" in msg and "__getitem__" in msg
    # the iterator goes on with the next batch, like PyTorch's
    assert next(it).tolist() == [6, 7]
    workers = list(it._workers)
    del it, excinfo  # the traceback references the iterator
    gc.collect()
    assert all(not w.is_alive() for w in workers)
    assert time.monotonic() - start < 15


def test_worker_error_types(hang_guard):
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 0"):
        list(DataLoader(FailingDataset(bad=0, exc=KeyError), num_workers=1))

    class LocalError(Exception):  # cannot be pickled by reference: arrives as RuntimeError
        pass

    with pytest.raises(RuntimeError, match="Caught LocalError in DataLoader worker process 0"):
        list(DataLoader(FailingDataset(bad=1, exc=LocalError), num_workers=1))
    with pytest.raises(Exception, match="while pickling a batch"):
        list(DataLoader(UnpicklableDataset(), batch_size=None, num_workers=1))


def test_worker_timeout(hang_guard):
    start = time.monotonic()
    it = iter(DataLoader(SlowDataset(1.0), num_workers=1, timeout=0.2))
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0\.2 seconds"):
        next(it)
    assert time.monotonic() - start < 1.0
    it._shutdown_workers()  # lets the worker finish its current sample, then it exits
    assert all(w.exitcode is not None for w in it._workers)


def test_stuck_worker_is_terminated_at_shutdown(hang_guard):
    it = iter(DataLoader(SlowDataset(60.0), num_workers=1, timeout=0.1))
    with pytest.raises(RuntimeError, match="timed out"):
        next(it)
    start = time.monotonic()
    it._shutdown_workers()
    assert time.monotonic() - start < 5
    assert all(w.exitcode is not None for w in it._workers)


def test_worker_dies_unexpectedly(hang_guard):
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(DataLoader(DyingDataset(), num_workers=1))


def test_workers_shut_down_cleanly(hang_guard):
    import multiprocessing

    loader = DataLoader(RangeDataset(40), batch_size=2, num_workers=2)
    it = iter(loader)
    workers = list(it._workers)
    assert [b.tolist() for b in it][-1] == [38, 39]
    assert all(not w.is_alive() for w in workers)  # joined at the end of the epoch
    assert all(w.exitcode == 0 for w in workers)
    # deleting an iterator mid-epoch terminates its workers
    threads = threading.active_count()
    it = iter(loader)
    next(it)
    workers = list(it._workers)
    assert all(w.is_alive() for w in workers)
    assert threading.active_count() == threads  # no feeder threads: forking more workers stays safe
    del it
    gc.collect()
    assert all(not w.is_alive() for w in workers)
    assert all(w.exitcode is not None for w in workers)  # reaped, no zombies
    live = {p.pid for p in multiprocessing.active_children()}
    assert not live & {w.pid for w in workers}


def test_persistent_workers(hang_guard):
    loader = DataLoader(RangeDataset(7), batch_size=3, num_workers=2, persistent_workers=True)
    e1 = [b.tolist() for b in loader]
    workers = list(loader._iterator._workers)
    e2 = [b.tolist() for b in loader]
    assert e1 == e2 == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(loader._iterator._workers) == workers and all(w.is_alive() for w in workers)
    loader._iterator._shutdown_workers()
    assert all(not w.is_alive() for w in workers)


def test_iterable_dataset_with_workers(hang_guard):
    sharded = [b.tolist() for b in DataLoader(ShardedIterable(0, 10), batch_size=2, num_workers=2)]
    flat = sorted(x for b in sharded for x in b)
    assert flat == list(range(10))  # each sample exactly once
    # worker 0 has 0..4, worker 1 has 5..9; batches alternate between workers
    assert sharded == [[0, 1], [5, 6], [2, 3], [7, 8], [4], [9]]
    unsharded = [x for b in DataLoader(PlainIterable(4), batch_size=2, num_workers=2) for x in b.tolist()]
    assert sorted(unsharded) == [0, 0, 1, 1, 2, 2, 3, 3]  # every worker has a full copy (as in PyTorch)
    single = list(DataLoader(ShardedIterable(3, 7), batch_size=None, num_workers=2))
    assert sorted(single) == [3, 4, 5, 6]


def test_out_of_order_delivery_still_complete(hang_guard):
    got = [x for b in DataLoader(RangeDataset(30), batch_size=4, num_workers=2, in_order=False)
           for x in b.tolist()]
    assert sorted(got) == list(range(30))


@pytest.mark.skipif(sys.platform == "win32", reason="spawn is already the default there")
def test_spawn_context(hang_guard):
    loader = DataLoader(RangeDataset(6), batch_size=2, num_workers=1, multiprocessing_context="spawn",
                        timeout=25)
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4, 5]]


class BigArrayDataset(Dataset):
    def __len__(self):
        return 24

    def __getitem__(self, i):
        return np.full((3, 32, 32), i, dtype=np.float32), i


def _our_blocks():
    shm = "/dev/shm"
    return sorted(n for n in os.listdir(shm) if n.startswith(f"tapegrad-dl-{os.getpid()}-")) \
        if os.path.isdir(shm) else []


def test_large_batches_through_shared_memory(hang_guard):
    from tapegrad.utils.data import _transport

    ref = [(x.numpy().copy(), y.tolist()) for x, y in DataLoader(BigArrayDataset(), batch_size=4)]
    for min_bytes in (_transport.SHARED_MEMORY_MIN_BYTES, None):  # shared memory, then the pipe
        old, _transport.SHARED_MEMORY_MIN_BYTES = _transport.SHARED_MEMORY_MIN_BYTES, min_bytes
        try:
            got = list(DataLoader(BigArrayDataset(), batch_size=4, num_workers=2))
        finally:
            _transport.SHARED_MEMORY_MIN_BYTES = old
        assert len(got) == len(ref)
        for (x, y), (rx, ry) in zip(got, ref, strict=True):
            assert x.dtype == tapegrad.float32 and y.tolist() == ry
            np.testing.assert_array_equal(x.numpy(), rx)
        got[0][0].add_(1)  # batches are ordinary writable tensors
    # an iterator dropped with batches in flight leaves no shared-memory block behind
    it = iter(DataLoader(BigArrayDataset(), batch_size=2, num_workers=2, prefetch_factor=4))
    next(it)
    time.sleep(0.2)
    del it
    gc.collect()
    assert _our_blocks() == []

"""tapegrad.utils.data (and vision transforms' resizing) against torch where results are deterministic."""
from __future__ import annotations

import collections

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import torch.utils.data as tud  # noqa: E402

import tapegrad  # noqa: E402
import tapegrad.utils.data as tgd  # noqa: E402
from tapegrad.vision.transforms import functional as TF  # noqa: E402

Point = collections.namedtuple("Point", ["x", "y"])


def _as_np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else x.numpy()


def assert_same_structure(tg, th, path="batch"):
    """Same container types, same leaves: tensors with equal dtype names, shapes and values."""
    if isinstance(th, torch.Tensor):
        assert isinstance(tg, tapegrad.Tensor), f"{path}: {type(tg)} is not a tensor"
        assert str(tg.dtype) == str(th.dtype), f"{path}: dtype {tg.dtype} != {th.dtype}"
        assert tuple(tg.shape) == tuple(th.shape), f"{path}: shape {tuple(tg.shape)} != {tuple(th.shape)}"
        np.testing.assert_array_equal(_as_np(tg), _as_np(th), err_msg=path)
        return
    assert type(tg) is type(th), f"{path}: {type(tg)} != {type(th)}"
    if isinstance(th, dict):
        assert list(tg) == list(th), path
        for k in th:
            assert_same_structure(tg[k], th[k], f"{path}[{k!r}]")
    elif isinstance(th, (list, tuple)):
        assert len(tg) == len(th), path
        for i, (a, b) in enumerate(zip(tg, th, strict=True)):
            assert_same_structure(a, b, f"{path}[{i}]")
    elif isinstance(th, np.ndarray):
        np.testing.assert_array_equal(tg, th)
    else:
        assert tg == th, path


def to_torch(x):
    """The torch twin of a sample built from tapegrad tensors / arrays / Python values."""
    if isinstance(x, tapegrad.Tensor):
        return torch.from_numpy(x.numpy().copy())
    if isinstance(x, dict):
        return type(x)((k, to_torch(v)) for k, v in x.items())
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(to_torch(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(to_torch(v) for v in x)
    return x


BATCHES = {
    "floats": [0.5, 1.5, -2.0],
    "ints": [1, 2, 3],
    "bools": [True, False],
    "strings": ["a", "bb"],
    "bytes": [b"a", b"b"],
    "np_f32_scalars": [np.float32(1.5), np.float32(2.5)],
    "np_f64_scalars": [np.float64(1.5), np.float64(2.5)],
    "np_i32_scalars": [np.int32(1), np.int32(2)],
    "np_bool_scalars": [np.bool_(True), np.bool_(False)],
    "np_arrays_u8": [np.arange(6, dtype=np.uint8).reshape(2, 3), np.ones((2, 3), np.uint8)],
    "np_arrays_f64": [np.linspace(0, 1, 4), np.linspace(1, 2, 4)],
    "np_arrays_i32": [np.arange(3, dtype=np.int32), np.arange(3, dtype=np.int32)],
    "tensors_f32": [tapegrad.ones(2, 2), tapegrad.zeros(2, 2)],
    "tensors_i64_0d": [tapegrad.tensor(3), tapegrad.tensor(4)],
    "tuples": [(1, 2.0, "x"), (3, 4.0, "y")],
    "lists": [[1, 2], [3, 4]],
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
    "nested": [
        {"img": (tapegrad.ones(3), np.zeros(2, np.float32)), "label": 1, "w": 0.25, "name": "a",
         "pt": Point(tapegrad.tensor([1.0]), [5, 6])},
        {"img": (tapegrad.zeros(3), np.ones(2, np.float32)), "label": 0, "w": 0.75, "name": "b",
         "pt": Point(tapegrad.tensor([2.0]), [7, 8])},
    ],
    "ordered_dicts": [collections.OrderedDict(b=1, a=2.0), collections.OrderedDict(b=3, a=4.0)],
}


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_default_collate_parity(name):
    batch = BATCHES[name]
    assert_same_structure(tgd.default_collate(batch), tud.default_collate(to_torch(batch)))


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_default_convert_parity(name):
    for sample in BATCHES[name]:
        assert_same_structure(tgd.default_convert(sample), tud.default_convert(to_torch(sample)))


@pytest.mark.parametrize("batch", [[[1, 2], [3]], [object(), object()], [np.array(["a"]), np.array(["b"])]])
def test_default_collate_error_parity(batch):
    with pytest.raises(Exception) as theirs:
        tud.default_collate(batch)
    with pytest.raises(Exception) as ours:
        tgd.default_collate(batch)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("n,lengths", [
    (10, [3, 7]), (10, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]), (30, [0.3, 0.3, 0.4]), (7, [1 / 3] * 3),
    (100, [0.1] * 10), (13, [0.7, 0.2, 0.1]), (5, [5]),
])
def test_random_split_lengths_parity(n, lengths):
    ours = tgd.random_split(range(n), lengths, generator=tapegrad.Generator().manual_seed(0))
    theirs = tud.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]


@pytest.mark.parametrize("n,lengths", [(10, [3, 3]), (10, [0.5, 0.6]), (10, [1.5, -0.5])])
def test_random_split_error_parity(n, lengths):
    with pytest.raises(ValueError) as theirs:
        tud.random_split(range(n), lengths)
    with pytest.raises(ValueError) as ours:
        tgd.random_split(range(n), lengths)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (1, 4, False), (0, 2, False)]
)
def test_batch_and_sequential_sampler_parity(n, bs, drop_last):
    assert list(tgd.SequentialSampler(range(n))) == list(tud.SequentialSampler(range(n)))
    ours = tgd.BatchSampler(tgd.SequentialSampler(range(n)), bs, drop_last)
    theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop_last)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_error_parity():
    cases = [
        lambda m: m.BatchSampler(range(3), 0, False),
        lambda m: m.BatchSampler(range(3), 2, None),
        lambda m: m.RandomSampler(range(3), num_samples=-1),
        lambda m: m.RandomSampler(range(3), replacement="yes"),
        lambda m: m.WeightedRandomSampler([1.0, 2.0], 0),
        lambda m: m.WeightedRandomSampler([[1.0], [2.0]], 1),
    ]
    for make in cases:
        with pytest.raises(Exception) as theirs:
            make(tud)
        with pytest.raises(Exception) as ours:
            make(tgd)
        assert type(ours.value) is type(theirs.value)
        assert str(ours.value) == str(theirs.value)


class _Ranged:
    """A map-style dataset that both libraries accept (plain Python: no Dataset base needed)."""

    def __init__(self, n, lib):
        self.n, self.lib = n, lib

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = self.lib.arange(4, dtype=self.lib.float32) + i
        return {
            "x": x,
            "y": i,
            "w": float(i) / 2,
            "tag": f"t{i}",
            "pair": (np.full(2, i, np.int16), i % 2 == 0),
        }


@pytest.mark.parametrize("kwargs", [
    dict(batch_size=4), dict(batch_size=4, drop_last=True), dict(batch_size=1), dict(batch_size=None),
    dict(batch_sampler=[[3, 1], [0], [2, 4, 5]]), dict(batch_size=2, sampler=[5, 3, 1]),
])
def test_dataloader_no_shuffle_parity(kwargs):
    ours = tgd.DataLoader(_Ranged(9, tapegrad), **kwargs)
    theirs = tud.DataLoader(_Ranged(9, torch), **kwargs)
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert_same_structure(a, b)


def test_dataloader_tensor_dataset_with_workers_parity():
    x = np.random.default_rng(0).random((11, 3)).astype(np.float32)
    y = np.arange(11)
    ours = tgd.DataLoader(tgd.TensorDataset(tapegrad.from_numpy(x), tapegrad.from_numpy(y)), batch_size=4,
                          num_workers=2, timeout=30)
    theirs = tud.DataLoader(tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=4)
    for a, b in zip(list(ours), list(theirs), strict=True):
        assert_same_structure(a, b)


class _TorchIterable(tud.IterableDataset):
    def __iter__(self):
        return iter(range(7))

    def __len__(self):
        return 7


class _OurIterable(tgd.IterableDataset):
    def __iter__(self):
        return iter(range(7))

    def __len__(self):
        return 7


@pytest.mark.parametrize(
    "kwargs", [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None)]
)
def test_iterable_dataloader_parity(kwargs):
    ours, theirs = tgd.DataLoader(_OurIterable(), **kwargs), tud.DataLoader(_TorchIterable(), **kwargs)
    assert len(ours) == len(theirs)
    for a, b in zip(list(ours), list(theirs), strict=True):
        assert_same_structure(a, b)


@pytest.mark.parametrize("kwargs", [
    dict(num_workers=-1), dict(timeout=-2), dict(prefetch_factor=3), dict(num_workers=1, prefetch_factor=-1),
    dict(persistent_workers=True), dict(sampler=[0], shuffle=True), dict(batch_sampler=[[0]], batch_size=3),
    dict(batch_sampler=[[0]], drop_last=True), dict(batch_size=None, drop_last=True),
    dict(multiprocessing_context="spawn"), dict(num_workers=1, multiprocessing_context="bogus"),
    dict(num_workers=1, multiprocessing_context=1.5),
])
def test_dataloader_argument_error_parity(kwargs):
    with pytest.raises(Exception) as theirs:
        tud.DataLoader(list(range(4)), **kwargs)
    with pytest.raises(Exception) as ours:
        tgd.DataLoader(list(range(4)), **kwargs)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("kwargs", [dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]])])
def test_iterable_dataloader_argument_error_parity(kwargs):
    with pytest.raises(ValueError) as theirs:
        tud.DataLoader(_TorchIterable(), **kwargs)
    with pytest.raises(ValueError) as ours:
        tgd.DataLoader(_OurIterable(), **kwargs)
    assert str(ours.value).split(", but got")[0] == str(theirs.value).split(", but got")[0]


def test_worker_error_message_parity():
    class Bad:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise ValueError("nope")

    with pytest.raises(ValueError) as theirs:
        list(tud.DataLoader(Bad(), num_workers=1, multiprocessing_context="fork"))
    with pytest.raises(ValueError) as ours:
        list(tgd.DataLoader(Bad(), num_workers=1))
    first = lambda e: str(e.value).splitlines()[:2]  # noqa: E731
    assert first(ours) == first(theirs)
    assert str(ours.value).rstrip().endswith("ValueError: nope")


# --------------------------------------------------------------------------- Resize vs interpolate
@pytest.mark.parametrize("in_hw,out_hw", [((10, 12), (5, 7)), ((7, 9), (20, 13)), ((32, 32), (17, 40)),
                                          ((5, 5), (5, 9)), ((1, 4), (3, 2)), ((28, 28), (32, 32))])
@pytest.mark.parametrize("mode,antialias", [("bilinear", False), ("bilinear", True), ("bicubic", False),
                                            ("bicubic", True), ("nearest", False), ("nearest-exact", False)])
def test_resize_matches_interpolate(in_hw, out_hw, mode, antialias):
    x = np.random.default_rng(0).random((2, 3) + in_hw).astype(np.float32)
    kw = {} if mode.startswith("nearest") else dict(align_corners=False, antialias=antialias)
    want = torch.nn.functional.interpolate(torch.from_numpy(x), size=out_hw, mode=mode, **kw).numpy()
    got = TF.resize(tapegrad.from_numpy(x), list(out_hw), interpolation=mode, antialias=antialias).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_resize_uint8_close_to_interpolate():
    x = np.random.default_rng(1).integers(0, 256, (3, 13, 11), dtype=np.uint8)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x)[None].float(), size=(6, 5), mode="bilinear",
                                          align_corners=False, antialias=False)[0]
    want = ref.round().clamp(0, 255).to(torch.uint8).numpy()
    got = TF.resize(tapegrad.from_numpy(x), [6, 5], antialias=False).numpy()
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_to_tensor_normalize_parity():
    img = np.random.default_rng(2).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    th = torch.from_numpy(img.transpose(2, 0, 1).copy()).to(torch.float32).div(255)
    th = (th - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)
    ours = TF.normalize(TF.to_tensor(img), mean, std)
    np.testing.assert_allclose(ours.numpy(), th.numpy(), rtol=1e-6, atol=1e-6)

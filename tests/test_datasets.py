"""tapegrad.vision.datasets on small files built in tmp_path (nothing is downloaded)."""
from __future__ import annotations

import gzip
import os
import pickle
import struct
import sys

import numpy as np
import pytest

import tapegrad
from tapegrad.io import UnpicklingRefused
from tapegrad.utils.data import DataLoader
from tapegrad.vision import datasets, transforms as T
from tapegrad.vision.datasets import mnist as mnist_mod
from tapegrad.vision.datasets._safe_pickle import safe_load

HAS_PIL = True
try:
    import PIL.Image  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    HAS_PIL = False


@pytest.fixture
def no_pillow(monkeypatch):
    for name in list(sys.modules):
        if name == "PIL" or name.startswith("PIL."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)


# --------------------------------------------------------------------------- IDX / MNIST
def write_idx(path, arr, gz=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    arr = np.asarray(arr)
    if arr.dtype.itemsize > 1:
        arr = arr.astype(arr.dtype.newbyteorder(">"))
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + b"".join(struct.pack(">I", n) for n in arr.shape)
    data = header + arr.tobytes()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def make_mnist(folder, n_train=7, n_test=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte"), imgs, gz)
        write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte"), labels, gz)
        out[split] = (imgs, labels)
    return out


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_torchvision_layout(tmp_path, gz):
    ref = make_mnist(tmp_path / "MNIST" / "raw", gz=gz)
    train = datasets.MNIST(tmp_path, train=True)
    test = datasets.MNIST(str(tmp_path), train=False)
    assert len(train) == 7 and len(test) == 3
    assert train.data.shape == (7, 28, 28) and train.data.dtype == tapegrad.uint8
    assert train.targets.dtype == tapegrad.int64
    np.testing.assert_array_equal(train.data.numpy(), ref["train"][0])
    np.testing.assert_array_equal(test.targets.numpy(), ref["t10k"][1])
    img, target = train[2]
    assert isinstance(target, int) and target == int(ref["train"][1][2])
    if HAS_PIL:
        assert img.mode == "L" and img.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(img), ref["train"][0][2])
    assert train.classes[3] == "3 - three" and train.class_to_idx["9 - nine"] == 9
    assert repr(train).startswith(
        f"Dataset MNIST\n    Number of datapoints: 7\n    Root location: {tmp_path}\n    Split: Train"
    )


def test_mnist_files_directly_in_root_and_transforms(tmp_path):
    ref = make_mnist(tmp_path)
    ds = datasets.MNIST(tmp_path, transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]),
                        target_transform=lambda y: y + 100)
    img, target = ds[0]
    assert img.shape == (1, 28, 28) and img.dtype == tapegrad.float32
    np.testing.assert_allclose(img.numpy()[0], (ref["train"][0][0] / 255.0 - 0.5) / 0.5, rtol=1e-5, atol=1e-6)
    assert target == int(ref["train"][1][0]) + 100


def test_mnist_without_pillow_returns_arrays(tmp_path, no_pillow):
    ref = make_mnist(tmp_path / "MNIST" / "raw")
    ds = datasets.MNIST(tmp_path)
    img, _ = ds[1]
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (28, 28)
    np.testing.assert_array_equal(img, ref["train"][0][1])
    img[:] = 0  # a copy: the dataset is untouched
    assert ds.data.numpy()[1].sum() == ref["train"][0][1].sum()
    t = datasets.MNIST(tmp_path, transform=T.ToTensor())[1][0]
    assert t.shape == (1, 28, 28)


def test_fashion_mnist_and_dataloader(tmp_path):
    make_mnist(tmp_path / "FashionMNIST" / "raw", n_train=10, gz=True)
    ds = datasets.FashionMNIST(tmp_path, transform=T.ToTensor())
    assert ds.classes[0] == "T-shirt/top" and ds.raw_folder == os.path.join(
        str(tmp_path), "FashionMNIST", "raw"
    )
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 1, 28, 28), (4, 1, 28, 28), (2, 1, 28, 28)]
    assert batches[0][1].dtype == tapegrad.int64
    with pytest.raises(RuntimeError, match="FashionMNIST/raw"):
        datasets.FashionMNIST(tmp_path / "elsewhere")


def test_mnist_missing_files_message(tmp_path):
    with pytest.raises(RuntimeError) as e:
        datasets.MNIST(tmp_path, train=False)
    msg = str(e.value)
    assert "Dataset not found" in msg
    assert "t10k-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg
    assert os.path.join(str(tmp_path), "MNIST", "raw") in msg
    with pytest.raises(RuntimeError, match="download=True is not supported"):
        datasets.MNIST(tmp_path, download=True)
    make_mnist(tmp_path / "MNIST" / "raw")
    assert len(datasets.MNIST(tmp_path, download=True)) == 7  # files present: nothing to download


def test_idx_reader_types_and_corruption(tmp_path):
    arr = np.arange(12, dtype=">i4").reshape(3, 4)
    write_idx(tmp_path / "x-idx2-int", arr)
    got = mnist_mod.read_idx(tmp_path / "x-idx2-int")
    assert got.dtype == np.int32 and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)
    f = np.linspace(0, 1, 5).astype(">f4")
    write_idx(tmp_path / "f", f)
    np.testing.assert_array_equal(mnist_mod.read_idx(tmp_path / "f"), f)
    data = (tmp_path / "x-idx2-int").read_bytes()
    (tmp_path / "trunc").write_bytes(data[:-3])
    with pytest.raises(RuntimeError, match="truncated or corrupt"):
        mnist_mod.read_idx(tmp_path / "trunc")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(RuntimeError, match="bad magic number"):
        mnist_mod.read_idx(tmp_path / "bad")
    raw = tmp_path / "MNIST" / "raw"
    make_mnist(raw)
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(RuntimeError, match="holds 7 images but .* holds 5 labels"):
        datasets.MNIST(tmp_path)


# --------------------------------------------------------------------------- CIFAR
def make_cifar(folder, protocol=2, bytes_keys=False, n_per_batch=4, seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    ref = {}
    k = (lambda s: s.encode()) if bytes_keys else (lambda s: s)
    for name in names:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = [int(x) for x in rng.integers(0, 10, size=n_per_batch)]
        entry = {k("batch_label"): k(name), k("labels"): labels, k("data"): data,
                 k("filenames"): [k(f"img{i}.png") for i in range(n_per_batch)]}
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(entry, f, protocol=protocol)
        ref[name] = (data, labels)
    meta = {k("num_cases_per_batch"): n_per_batch, k("label_names"): [k(c) for c in (
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")],
        k("num_vis"): 3072}
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump(meta, f, protocol=protocol)
    return ref


@pytest.mark.parametrize("protocol,bytes_keys", [(2, False), (4, False), (5, False), (2, True)])
def test_cifar10(tmp_path, protocol, bytes_keys):
    ref = make_cifar(tmp_path / "cifar-10-batches-py", protocol=protocol, bytes_keys=bytes_keys)
    train = datasets.CIFAR10(tmp_path)
    test = datasets.CIFAR10(tmp_path, train=False)
    assert len(train) == 20 and len(test) == 4
    assert (
        isinstance(train.data, np.ndarray)
        and train.data.shape == (20, 32, 32, 3)
        and train.data.dtype == np.uint8
    )
    expected0 = ref["data_batch_1"][0][0].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(train.data[0], expected0)
    assert train.targets == sum((ref[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert test.targets == ref["test_batch"][1]
    assert train.classes[0] == "airplane" and train.class_to_idx["truck"] == 9
    img, target = train[0]
    assert isinstance(target, int)
    np.testing.assert_array_equal(np.asarray(img), expected0)
    if HAS_PIL:
        assert img.mode == "RGB"


def test_cifar10_transform_without_pillow_and_root_layout(tmp_path, no_pillow):
    ref = make_cifar(tmp_path)  # files directly in root
    ds = datasets.CIFAR10(tmp_path, train=False, transform=T.ToTensor())
    img, _ = ds[1]
    assert img.shape == (3, 32, 32) and img.dtype == tapegrad.float32
    np.testing.assert_allclose(img.numpy(), ref["test_batch"][0][1].reshape(3, 32, 32) / 255.0, rtol=1e-6)
    raw, _ = datasets.CIFAR10(tmp_path, train=False)[1]
    assert isinstance(raw, np.ndarray) and raw.shape == (32, 32, 3)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > evil_marker",))


def test_cifar_refuses_code_in_pickles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar(folder)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({"data": np.zeros((1, 3072), np.uint8), "labels": [_Evil()]}, f, protocol=2)
    with pytest.raises(UnpicklingRefused, match=r"refused to unpickle (posix|nt|os)\.system"):
        datasets.CIFAR10(tmp_path)
    assert not (tmp_path / "evil_marker").exists()
    for payload in [pickle.dumps(_Evil()), pickle.dumps(np.array([_Evil()], dtype=object)),
                    b"cbuiltins\neval\n(S'1+1'\ntR."]:
        with pytest.raises(UnpicklingRefused):
            safe_load(payload)
    assert not (tmp_path / "evil_marker").exists()
    ok = safe_load(pickle.dumps({"a": [1, 2.5, "s", b"b", (np.int64(3),)], "x": np.arange(3)}, protocol=2))
    assert ok["a"][:4] == [1, 2.5, "s", b"b"] and ok["x"].tolist() == [0, 1, 2]


def test_cifar_missing_files_message(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar(folder)
    os.remove(folder / "data_batch_4")
    with pytest.raises(RuntimeError) as e:
        datasets.CIFAR10(tmp_path)
    msg = str(e.value)
    assert "data_batch_4" in msg and str(folder) in msg and "missing there: data_batch_4" in msg
    assert len(datasets.CIFAR10(tmp_path, train=False)) == 4  # the test split is complete
    with pytest.raises(RuntimeError, match="download=True is not supported"):
        datasets.CIFAR10(tmp_path / "nothing", download=True)


def test_cifar100(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = np.random.default_rng(0).integers(0, 256, (3, 3072), dtype=np.uint8)
    for name in ("train", "test"):
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "fine_labels": [5, 6, 7], "coarse_labels": [0, 1, 2]}, f, protocol=2)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": []}, f)
    ds = datasets.CIFAR100(tmp_path)
    assert len(ds) == 3 and ds.targets == [5, 6, 7] and ds.classes[99] == "c99"


# --------------------------------------------------------------------------- ImageFolder
def test_image_folder_npy(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for cls, n in (("dog", 2), ("cat", 3), ("bird", 1)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            a = rng.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
            np.save(tmp_path / cls / f"{i}.npy", a)
            arrays[(cls, i)] = a
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = datasets.ImageFolder(tmp_path, transform=T.ToTensor())
    assert ds.classes == ["bird", "cat", "dog"]
    assert ds.class_to_idx == {"bird": 0, "cat": 1, "dog": 2}
    assert ds.targets == [0, 1, 1, 1, 2, 2]
    assert [os.path.basename(p) for p, _ in ds.samples] == [
        "0.npy",
        "0.npy",
        "1.npy",
        "2.npy",
        "0.npy",
        "1.npy",
    ]
    assert ds.imgs is ds.samples and len(ds) == 6
    img, target = ds[4]
    assert target == 2 and img.shape == (3, 5, 6)
    np.testing.assert_allclose(img.numpy(), arrays[("dog", 0)].transpose(2, 0, 1) / 255.0, rtol=1e-6)
    batch = next(iter(DataLoader(ds, batch_size=6)))
    assert batch[0].shape == (6, 3, 5, 6) and batch[1].tolist() == ds.targets


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder in"):
        datasets.ImageFolder(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    np.save(tmp_path / "a" / "x.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(
        FileNotFoundError, match="Found no valid file for the classes b. Supported extensions are: .jpg"
    ):
        datasets.ImageFolder(tmp_path)
    assert len(datasets.ImageFolder(tmp_path, allow_empty=True)) == 1
    only_x = datasets.ImageFolder(tmp_path, is_valid_file=lambda p: p.endswith("x.npy"), allow_empty=True)
    assert len(only_x) == 1


def test_image_folder_png(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    (tmp_path / "red").mkdir()
    (tmp_path / "gray").mkdir()
    Image.new("RGB", (4, 3), (255, 0, 0)).save(tmp_path / "red" / "r.png")
    Image.new("L", (4, 3), 128).save(tmp_path / "gray" / "g.png")
    ds = datasets.ImageFolder(tmp_path)
    img, target = ds[1]
    assert target == ds.class_to_idx["red"] and img.mode == "RGB" and img.size == (4, 3)
    gray, _ = ds[0]
    assert gray.mode == "RGB"  # converted like torchvision's pil_loader
    t = datasets.ImageFolder(tmp_path, transform=T.Compose([T.Resize((6, 8)), T.ToTensor()]))[1][0]
    assert t.shape == (3, 6, 8)
    np.testing.assert_allclose(t.numpy()[0], 1.0)


def test_image_folder_png_without_pillow(tmp_path, no_pillow):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    ds = datasets.ImageFolder(tmp_path)
    with pytest.raises(ImportError, match="pip install Pillow"):
        ds[0]


# --------------------------------------------------------------------------- Digits
def test_digits():
    pytest.importorskip("sklearn")
    train = datasets.Digits(train=True)
    test = datasets.Digits(train=False)
    assert len(train) == 1437 and len(test) == 360
    img, target = train[0]
    assert isinstance(img, tapegrad.Tensor) and img.shape == (1, 8, 8) and img.dtype == tapegrad.float32
    assert isinstance(target, int) and 0 <= target <= 9
    all_imgs = np.concatenate([train.data.numpy(), test.data.numpy()])
    assert all_imgs.min() >= 0.0 and all_imgs.max() <= 1.0 and all_imgs.max() == 1.0
    assert set(train.indices.tolist()).isdisjoint(test.indices.tolist())
    assert sorted(train.indices.tolist() + test.indices.tolist()) == list(range(1797))
    again = datasets.Digits(train=True)
    assert again.indices.tolist() == train.indices.tolist()  # deterministic split
    from sklearn.datasets import load_digits
    raw = load_digits()
    i = int(train.indices[5])
    np.testing.assert_allclose(train[5][0].numpy()[0], raw.images[i] / 16.0, rtol=1e-6)
    assert train[5][1] == int(raw.target[i])
    flat = datasets.Digits(transform=T.Lambda(lambda x: x.reshape(64)), target_transform=str)[0]
    assert flat[0].shape == (64,) and flat[1] == str(target)
    x, y = next(
        iter(DataLoader(train, batch_size=32, shuffle=True, generator=tapegrad.Generator().manual_seed(0)))
    )
    assert x.shape == (32, 1, 8, 8) and y.dtype == tapegrad.int64


def test_digits_read_from_the_bundled_file_equal_load_digits(monkeypatch):
    """Digits reads scikit-learn's digits.csv.gz without importing scikit-learn; the values
    are load_digits' own, and without the file it falls back to load_digits itself."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    from tapegrad.vision.datasets import digits as digits_mod

    raw = load_digits()
    want = ((raw.images / 16.0).astype(np.float32)[:, None], raw.target.astype(np.int64))
    assert digits_mod._bundled_csv() is not None
    for path in (digits_mod._bundled_csv(), None):
        monkeypatch.setattr(digits_mod, "_bundled_csv", lambda path=path: path)
        digits_mod._load.cache_clear()
        try:
            images, targets = digits_mod._load()
        finally:
            digits_mod._load.cache_clear()
        np.testing.assert_array_equal(images, want[0])
        np.testing.assert_array_equal(targets, want[1])
        assert images.dtype == np.float32 and targets.dtype == np.int64


def test_digits_without_sklearn(monkeypatch):
    from tapegrad.vision.datasets import digits as digits_mod

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    digits_mod._load.cache_clear()
    try:
        with pytest.raises(ImportError, match="pip install scikit-learn"):
            datasets.Digits()
    finally:
        digits_mod._load.cache_clear()

"""DataLoader workloads: MNIST-sized images through a per-sample transform, batch 64.

The dataset holds 28x28 uint8 images and int64 labels (random, fixed seed); each sample
is converted to a 1x28x28 float32 tensor and normalised with the library's own tensor
ops (``/ 255``, ``- mean``, ``/ std``), the label stays a Python int, and the
``DataLoader`` collates 64 of them. One iteration is one batch, taken from an endless
stream of epochs over ``persistent_workers`` loaders, so the time is the steady-state
time per batch (its inverse is batches per second) without the workers' start-up.
``dataloader_w0`` loads in the main process, ``dataloader_w2`` with two workers.
"""
from __future__ import annotations

import importlib

import numpy as np

from ._harness import Impl, Workload, register

N_IMAGES = 64 * 40
BATCH = 64
MEAN, STD = 0.1307, 0.3081


class ImageDataset:
    """Map-style dataset over uint8 images; ``lib`` is tapegrad or torch (by name, so that
    the dataset pickles)."""

    def __init__(self, lib_name: str, n: int = N_IMAGES, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.lib_name = lib_name
        self.images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        self.labels = rng.integers(0, 10, n).astype(np.int64)
        self._lib = None

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        lib = self._lib or self._load()
        x = lib.from_numpy(self.images[i]).to(lib.float32)
        x = ((x / 255.0 - MEAN) / STD).unsqueeze(0)
        return x, int(self.labels[i])

    def _load(self):
        self._lib = importlib.import_module(self.lib_name)
        return self._lib

    def __getstate__(self):  # a module does not pickle (spawned workers re-import it)
        return dict(self.__dict__, _lib=None)


def _setup(lib_name: str, num_workers: int):
    def setup():
        data = importlib.import_module(lib_name + ".utils.data")
        kwargs = dict(num_workers=num_workers)
        if num_workers:
            kwargs.update(persistent_workers=True, prefetch_factor=2)
        loader = data.DataLoader(ImageDataset(lib_name), batch_size=BATCH, shuffle=True, **kwargs)

        def stream():
            while True:
                yield from loader

        return stream()
    return setup


def next_batch(stream):
    x, y = next(stream)
    if x.shape[0] != BATCH:  # every batch is full: N_IMAGES is a multiple of BATCH
        raise AssertionError(f"unexpected batch shape {tuple(x.shape)}")


for _workers in (0, 2):
    register(Workload(
        f"dataloader_w{_workers}",
        f"DataLoader over 28x28 uint8 images, per-sample to-float + normalise, batch {BATCH}, "
        f"num_workers={_workers}: time per batch (1 / batches per second)",
        {lib: Impl(_setup(lib, _workers), next_batch) for lib in ("tapegrad", "torch")},
        target=1.0 if _workers else None, max_rounds=21, max_seconds=15.0))

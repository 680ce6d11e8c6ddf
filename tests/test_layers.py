"""Import layering: backend -> dtypes -> tensor -> autograd (graph, engine) -> ops -> nn -> the rest.

Nothing may import a module of a higher layer at module import time (imports inside functions,
run later, are fine). Each layer is imported in a fresh interpreter with the ``tapegrad`` package
stubbed out (its ``__init__`` imports everything), and no module of a higher layer may end up in
``sys.modules``. Every module under ``src/tapegrad`` must be listed in a layer.
"""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"

# (layer, module prefixes); a module belongs to the layer of its longest matching prefix
LAYERS = [
    ("backend", ["tapegrad.backend", "tapegrad._threads", "tapegrad._allocator"]),
    ("dtypes", ["tapegrad.dtypes"]),
    # the tensor reaches grad mode and version counters; the autograd package itself loads lazily
    ("tensor", ["tapegrad.tensor", "tapegrad._printing", "tapegrad.autograd",
                "tapegrad.autograd.grad_mode", "tapegrad.autograd._version"]),
    ("autograd", ["tapegrad.autograd.graph", "tapegrad.autograd.engine", "tapegrad.autograd.backward_steps",
                  "tapegrad.autograd.function", "tapegrad.autograd.observe", "tapegrad.autograd.anomaly",
                  "tapegrad.autograd.explain", "tapegrad.autograd.leak", "tapegrad.autograd.gradcheck",
                  "tapegrad.autograd.forward_ad",
                  # the functional API reaches the public ops through the package when called
                  "tapegrad.autograd.functional"]),
    ("ops", ["tapegrad.ops", "tapegrad.creation", "tapegrad._tensor_methods", "tapegrad._legacy",
             # namespaces over op units (torch.linalg, torch.special)
             "tapegrad.linalg", "tapegrad.special"]),
    # collectives work on tensors; nn's DistributedDataParallel and SyncBatchNorm use them
    ("distributed", ["tapegrad.distributed"]),
    ("nn", ["tapegrad.nn"]),
    # the libraries built on nn, and the transforms that call user code with the whole package
    ("top", ["tapegrad.optim", "tapegrad.utils", "tapegrad.vision", "tapegrad.io", "tapegrad.viz",
             "tapegrad.profiler", "tapegrad.func", "tapegrad.cuda", "tapegrad.demo", "tapegrad.examples",
             "tapegrad.accelerator", "tapegrad.backends", "tapegrad.distributions"]),
]
NAMES = [name for name, _ in LAYERS]


def layer_of(module: str) -> int | None:
    best, found = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, found = len(p), i
    return found


def all_modules() -> list[str]:
    out = []
    for path in sorted((SRC / "tapegrad").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] != "__main__":
            out.append(".".join(parts))
    return out


_PROBE = """
import importlib, json, sys, types
pkg = types.ModuleType("tapegrad")
pkg.__path__ = [sys.argv[1]]
sys.modules["tapegrad"] = pkg
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("tapegrad."))))
"""


def test_every_module_has_a_layer():
    assert [m for m in all_modules() if m != "tapegrad" and layer_of(m) is None] == []


@pytest.mark.parametrize("index", range(len(LAYERS)), ids=NAMES)
def test_a_layer_imports_nothing_above_it(index):
    mine = [m for m in all_modules() if m != "tapegrad" and layer_of(m) == index]
    out = subprocess.run([sys.executable, "-c", _PROBE, str(SRC / "tapegrad"), json.dumps(mine)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout)
    above = [f"{m} ({NAMES[layer_of(m)]})" for m in loaded if (layer_of(m) or 0) > index]
    assert above == [], f"importing the {NAMES[index]} layer loaded higher layers: {above}"

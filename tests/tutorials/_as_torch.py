"""Run a script written for PyTorch against tapegrad: ``import torch`` (and ``torch.nn``,
``torch.utils.data``...) resolve to tapegrad's modules, the same objects tapegrad uses.

Usage: ``python _as_torch.py SCRIPT`` (what tests/test_tutorials.py does).
"""
import importlib
import importlib.abc
import importlib.util
import runpy
import sys


class _TorchIsTapegrad(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``torch[.x.y]`` with the already-importable ``tapegrad[.x.y]``."""

    def find_spec(self, name, path, target=None):
        if name == "torch" or name.startswith("torch."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("tapegrad" + spec.name[len("torch"):])

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _TorchIsTapegrad())

if __name__ == "__main__":
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")

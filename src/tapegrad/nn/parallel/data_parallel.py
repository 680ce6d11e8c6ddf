"""``nn.DataParallel``: single-process replication over accelerators; here, the module itself.

PyTorch's DataParallel scatters each batch over its GPUs and gathers the outputs. Without
an accelerator it does neither and calls the wrapped module, and that is all that remains
on a CPU-only build: the wrapper exists so that scripts that wrap their model run, and so
that checkpoints saved from a wrapped model keep the ``module.`` prefix of their keys.
"""
from __future__ import annotations

from ..modules.module import Module


class DataParallel(Module):
    """Wrap ``module``; calling the wrapper calls ``module`` (no devices to split a batch over).

    ``device_ids``, ``output_device`` and ``dim`` are accepted as PyTorch accepts them and, as
    in PyTorch without an accelerator, ``device_ids`` is ``[]``. Parameters are the module's,
    under the name ``module``: ``DataParallel(nn.Linear(2, 3)).state_dict()`` has the keys
    ``module.weight`` and ``module.bias``.
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim=0) -> None:
        super().__init__()
        self.module = module
        self.device_ids = []  # no accelerator: PyTorch keeps the list empty and runs the module

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """The functional form; PyTorch cannot place it without an accelerator, nor can tapegrad."""
    raise RuntimeError("device type could not be determined")

"""Checkpoint I/O without PyTorch: ``torch.save``-compatible files and safetensors.

>>> import io, tapegrad.io as tio
>>> buf = io.BytesIO(); tio.save([1, 2.5, "x"], buf); _ = buf.seek(0)
>>> tio.load(buf)
[1, 2.5, 'x']
"""
from .safetensors import load_safetensors, load_safetensors_metadata, save_safetensors
from .serialization import (
    MAX_COMPRESSION_RATIO,
    MAX_DECOMPRESSED_SIZE,
    CheckpointError,
    UnpicklingRefused,
    load,
    save,
)

__all__ = [
    "save",
    "load",
    "save_safetensors",
    "load_safetensors",
    "load_safetensors_metadata",
    "CheckpointError",
    "UnpicklingRefused",
    "MAX_DECOMPRESSED_SIZE",
    "MAX_COMPRESSION_RATIO",
]

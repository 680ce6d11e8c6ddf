"""The dispatch point: what ``tapegrad.<op>`` and ``Tensor.<op>`` call.

The op registry (``ops/_registry.py``) passes every public op function through
:func:`public` once, when it builds the exports and the Tensor methods. Today the
function is returned unchanged; the transforms (``vmap`` levels, dual levels,
observers) will be consulted here through one per-thread stack instead of patching
module attributes.
"""
from __future__ import annotations


def public(fn, name: str, kind: str):
    """Return the callable to export for the op ``name`` of kind ``kind`` implemented by ``fn``."""
    return fn

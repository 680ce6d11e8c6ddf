"""Turning samples into batches: :func:`default_collate` and :func:`default_convert`.

Both walk the same nested containers (mappings, namedtuples, tuples, lists and other
sequences) and differ only in what they do at the leaves, so the container rules live
in one place, :func:`_rebuild`, which makes a container of the sample's own type from
new children. Leaves of a batch are dispatched through a table
(``default_collate_fn_map``): tensors are stacked, NumPy arrays and scalars become
tensors, Python floats float64 and ints int64 tensors, strings stay as they are.
Tuples come back as lists, as in PyTorch.
"""
from __future__ import annotations

import collections.abc as abc
import copy
from collections.abc import Callable

import numpy as np

from ... import creation as _creation
from ... import dtypes as _dtypes
from ...ops.shape import stack as _stack
from ...tensor import Tensor

__all__ = ["collate", "default_collate", "default_convert", "default_collate_fn_map",
           "default_collate_err_msg_format"]

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, "
    "dicts or lists; found {}"
)

# dtype kinds a tensor cannot hold: bytes, unicode, objects (and void)
_NON_NUMERIC_KINDS = frozenset("SUOV")


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _rebuild(template, children: list):
    """A container like ``template`` holding ``children`` (one per key / position)."""
    kind = type(template)
    if isinstance(template, abc.Mapping):
        items = dict(zip(template, children, strict=True))
        try:
            if isinstance(template, abc.MutableMapping):
                clone = copy.copy(template)  # keeps OrderedDict, defaultdict factories, ...
                clone.update(items)
                return clone
            return kind(items)
        except TypeError:
            return items
    if _is_namedtuple(template):
        return kind(*children)
    if isinstance(template, tuple):
        return list(children)
    try:
        if isinstance(template, abc.MutableSequence):
            clone = copy.copy(template)
            clone[:] = children
            return clone
        return kind(children)
    except TypeError:
        return list(children)


def _is_container(x) -> bool:
    return isinstance(x, abc.Mapping) or (isinstance(x, abc.Sequence) and not isinstance(x, (str, bytes)))


# ------------------------------------------------------------------------------ convert
def default_convert(data):
    """Turn NumPy arrays and scalars into tensors, also inside containers; leave the rest.

    ``DataLoader`` applies it to each sample when automatic batching is off
    (``batch_size=None``).

    >>> default_convert({"x": np.arange(2), "name": "a"})
    {'x': tensor([0, 1]), 'name': 'a'}
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in _NON_NUMERIC_KINDS else _creation.as_tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return _creation.as_tensor(data)
    if _is_container(data):
        values = data.values() if isinstance(data, abc.Mapping) else data
        return _rebuild(data, [default_convert(v) for v in values])
    return data


# ------------------------------------------------------------------------------ collate
def _leaf_rule(kind: type, collate_fn_map: dict):
    """The ``collate_fn_map`` entry for a sample type: exact match first, then the first
    entry (in insertion order) whose type(s) the sample's type subclasses."""
    rule = collate_fn_map.get(kind)
    if rule is not None:
        return rule
    for types, candidate in collate_fn_map.items():
        if issubclass(kind, types):
            return candidate
    return None


def _columns(batch: list, template) -> list:
    """The batch transposed: one list of samples per key / position of ``template``."""
    if isinstance(template, abc.Mapping):
        return [[sample[key] for sample in batch] for key in template]
    width = len(template)
    if any(len(sample) != width for sample in batch):
        raise RuntimeError("each element in list of batch should be of equal size")
    return list(zip(*batch, strict=True))


def collate(batch, *, collate_fn_map: dict[type | tuple[type, ...], Callable] | None = None):
    """Collate a list of samples: leaves through ``collate_fn_map``, containers recursively.

    ``collate_fn_map`` maps a type (or a tuple of types) to ``fn(batch, *, collate_fn_map)``;
    extend ``default_collate_fn_map`` to teach the default collation a new leaf type.
    """
    first = batch[0]
    if collate_fn_map is not None:
        rule = _leaf_rule(type(first), collate_fn_map)
        if rule is not None:
            return rule(batch, collate_fn_map=collate_fn_map)
    if _is_container(first):
        columns = _columns(batch, first)
        return _rebuild(first, [collate(col, collate_fn_map=collate_fn_map) for col in columns])
    raise TypeError(default_collate_err_msg_format.format(type(first)))


def _stack_tensors(batch, *, collate_fn_map=None):
    return _stack(list(batch), 0)


def _stack_arrays(batch, *, collate_fn_map=None):
    dtype = batch[0].dtype
    if dtype.kind in _NON_NUMERIC_KINDS:
        raise TypeError(default_collate_err_msg_format.format(dtype))
    return _stack_tensors([_creation.as_tensor(a) for a in batch])


def _numpy_scalars(batch, *, collate_fn_map=None):
    # np.asarray keeps the scalars' own dtype (float32 stays float32), as torch does
    return _creation.as_tensor(np.asarray(batch))


def _python_floats(batch, *, collate_fn_map=None):
    return _creation.tensor(batch, dtype=_dtypes.float64)


def _python_ints(batch, *, collate_fn_map=None):
    return _creation.tensor(batch)  # int64, or bool for a batch of bools


def _unchanged(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {
    Tensor: _stack_tensors,
    np.ndarray: _stack_arrays,
    (np.bool_, np.number, np.object_): _numpy_scalars,
    float: _python_floats,
    int: _python_ints,
    str: _unchanged,
    bytes: _unchanged,
}


def default_collate(batch):
    """Put a list of samples together into a batch (``DataLoader``'s default ``collate_fn``).

    Tensors and NumPy arrays are stacked along a new first dimension; numbers become 1-D
    tensors; strings are left as a sequence; mappings, namedtuples and sequences are
    collated element by element.

    >>> default_collate([0, 1, 2, 3])
    tensor([0, 1, 2, 3])
    >>> default_collate([{"x": 0.5, "s": "a"}, {"x": 1.5, "s": "b"}])
    {'x': tensor([0.5000, 1.5000], dtype=torch.float64), 's': ['a', 'b']}
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)

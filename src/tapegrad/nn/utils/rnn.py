"""Variable-length batches for the recurrent layers: ``PackedSequence`` and its converters.

A packed batch stores the sequences time step by time step: ``data`` holds, for each step
``t``, the rows of the ``batch_sizes[t]`` sequences still running at ``t`` (the sequences are
ordered longest first, ``sorted_indices`` giving that order when the caller's was another).
Every conversion here is one gather (``index_select``) through a flat index computed with
NumPy, so gradients flow back to the padded or listed tensors.
"""
from __future__ import annotations

from collections import namedtuple

from ... import backend as B
from ... import creation
from ...ops.indexing import IndexSelect
from ...tensor import Tensor

xp = B.xp


class _PackPaddedSequence(IndexSelect):
    """The gather of the running (step, sequence) rows; PyTorch's name for the node."""

    _bw_name = "PackPaddedSequenceBackward0"

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence",
           "pad_sequence", "unpad_sequence", "pack_sequence", "unpack_sequence"]


def _long(values):
    return Tensor._wrap(xp.asarray(values, dtype=xp.int64))


def invert_permutation(permutation):
    """The permutation ``q`` with ``q[p[i]] = i`` (None stays None)."""
    if permutation is None:
        return None
    p = permutation._data
    out = xp.empty_like(p)
    out[p] = xp.arange(p.shape[0], dtype=p.dtype)
    return Tensor._wrap(out)


class PackedSequence(namedtuple("PackedSequence_", ["data", "batch_sizes", "sorted_indices",
                                                    "unsorted_indices"])):
    """A packed batch of sequences: ``(data, batch_sizes, sorted_indices, unsorted_indices)``.

    ``data`` (sum of lengths, *): step-major rows; ``batch_sizes`` (max length,) int64: how many
    sequences run at each step; ``sorted_indices``: the caller's batch index of each packed
    column (None when the batch came sorted), ``unsorted_indices`` its inverse. Build one with
    :func:`pack_padded_sequence` or :func:`pack_sequence`, not by hand.
    """

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with_data(self, data):
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def to(self, *args, **kwargs):
        """Move or cast ``data`` (the index tensors stay int64 on the CPU)."""
        return self._with_data(self.data.to(*args, **kwargs))

    def cpu(self, *args, **kwargs):
        return self._with_data(self.data.cpu(*args, **kwargs))

    def cuda(self, *args, **kwargs):
        return self._with_data(self.data.cuda(*args, **kwargs))

    def pin_memory(self):
        return self._with_data(self.data.pin_memory())

    def double(self):
        return self._with_data(self.data.double())

    def float(self):
        return self._with_data(self.data.float())

    def half(self):
        return self._with_data(self.data.half())

    def long(self):
        return self._with_data(self.data.long())

    def int(self):
        return self._with_data(self.data.int())

    def short(self):
        return self._with_data(self.data.short())

    def char(self):
        return self._with_data(self.data.char())

    def byte(self):
        return self._with_data(self.data.byte())

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        return self.data.is_pinned()


_UNSORTED = ("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can "
             "pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this "
             "requirement if you do not need ONNX exportability.")


def _lengths_array(lengths):
    if isinstance(lengths, Tensor):
        return lengths._data.astype(xp.int64).reshape(-1)
    return xp.asarray([int(n) for n in lengths], dtype=xp.int64)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (``batch_first``: (B, T, *)) of sequences of ``lengths``.

    With ``enforce_sorted`` the lengths must be non-increasing; otherwise the batch is sorted
    (longest first) and the order is kept in ``sorted_indices``.

    >>> pack_padded_sequence(tapegrad.zeros(3, 2), [3, 1]).batch_sizes
    tensor([2, 1, 1])
    """
    n = _lengths_array(lengths)
    if enforce_sorted:
        if n.size > 1 and (xp.diff(n) > 0).any():
            raise RuntimeError(_UNSORTED)
        order = None
    else:
        order = xp.argsort(-n, kind="stable")
        n = n[order]
    bdim = 0 if batch_first else 1
    batch = input.shape[bdim]
    if n.size != batch:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {n.size} "
                           f"(batch_size={batch})")
    if n.size and n.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in "
                           "'lengths' that is <= 0")
    sorted_indices = None if order is None else _long(order)
    x = input if batch_first else input.transpose(0, 1)      # (B, T, *)
    if order is not None:
        x = x.index_select(0, sorted_indices)
    steps = int(n[0]) if n.size else 0
    running = xp.arange(steps)[:, None] < n[None, :]           # (T, B): step t of sequence b exists
    t_idx, b_idx = xp.nonzero(running)                          # step-major, as packed data is
    flat = x.reshape(batch * x.shape[1], *x.shape[2:])
    data = _PackPaddedSequence.apply(flat, (b_idx * x.shape[1] + t_idx).astype(xp.intp), dim=0)
    return PackedSequence(data, _long(running.sum(1)), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Inverse of :func:`pack_padded_sequence`: ``(padded, lengths)``.

    ``padded`` is (T, B, *) (``batch_first``: (B, T, *)) with ``T = total_length`` or the
    longest length, in the caller's batch order; ``lengths`` is int64 (B,).
    """
    data, batch_sizes, _, unsorted = sequence
    bs = batch_sizes._data.astype(xp.int64)
    steps, batch = bs.shape[0], int(bs[0]) if bs.size else 0
    if total_length is not None:
        if total_length < steps:
            raise ValueError("Expected total_length to be at least the length of the longest sequence "
                             f"in input, but got total_length={total_length} and max sequence length "
                             f"being {steps}")
        steps_out = total_length
    else:
        steps_out = steps
    # position of each (t, b) in data, or the extra padding row at index len(data)
    start = xp.concatenate([[0], xp.cumsum(bs)[:-1]]).astype(xp.int64)
    pos = xp.full((steps_out, batch), data.shape[0], dtype=xp.int64)
    b = xp.arange(batch)
    for_t = b[None, :] < bs[:, None]                          # (steps, B)
    pos[:steps][for_t] = (start[:, None] + b[None, :])[for_t]
    lengths = for_t.sum(0)
    pad = creation.full((1, *data.shape[1:]), padding_value, dtype=data.dtype)
    rows = _cat(data, pad)
    if unsorted is not None:
        pos = pos[:, unsorted._data]
        lengths = lengths[unsorted._data]
    if batch_first:
        pos = pos.T
    out = rows.index_select(0, _long(pos.reshape(-1)))
    out = out.reshape(*pos.shape, *data.shape[1:])
    return out, _long(lengths)


def _cat(*tensors):
    from ...ops.shape import cat
    return cat(list(tensors))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of shapes (L_i, *) into (max L, B, *) (``batch_first``: (B, max L, *)).

    Shorter sequences are filled with ``padding_value`` after (``padding_side="right"``) or
    before (``"left"``) their elements.
    """
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences[1:]:
        rest = tuple(s.shape[1:])
        if rest != trailing:
            _shape_mismatch(trailing, rest)
    n = xp.asarray([s.shape[0] for s in sequences], dtype=xp.int64)
    longest, batch = (int(n.max()) if n.size else 0), len(sequences)
    start = xp.concatenate([[0], xp.cumsum(n)[:-1]]).astype(xp.int64)
    total = int(n.sum())
    t = xp.arange(longest)[None, :]                          # (1, T)
    offset = (longest - n)[:, None] if padding_side == "left" else xp.zeros((batch, 1), xp.int64)
    k = t - offset                                           # index within each sequence
    pos = xp.where((k >= 0) & (k < n[:, None]), start[:, None] + k, total)   # (B, T)
    if not batch_first:
        pos = pos.T
    dt = sequences[0].dtype
    pad = creation.full((1, *trailing), padding_value, dtype=dt)
    rows = _cat(*sequences, pad)
    out = rows.index_select(0, _long(pos.reshape(-1)))
    return out.reshape(*pos.shape, *trailing)


def _shape_mismatch(expected, got):
    if len(expected) != len(got):
        raise RuntimeError(f"The expanded size of the tensor ({len(got)}) must match the existing size "
                           f"({len(expected)})")
    k = next(i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b)
    raise RuntimeError(f"The size of tensor a ({expected[k]}) must match the size of tensor b ({got[k]}) "
                       f"at non-singleton dimension {k + 1}")


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences ``padded[:lengths[i], i]`` (``batch_first``: ``padded[i, :lengths[i]]``)."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :int(n)] for i, n in enumerate(_lengths_array(lengths))]


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *) (longest first unless ``enforce_sorted=False``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences a :class:`PackedSequence` holds, in the caller's order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)

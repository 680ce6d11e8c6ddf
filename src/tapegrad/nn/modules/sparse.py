"""``Embedding`` and ``EmbeddingBag``: trainable lookup tables indexed by integer tensors."""
from __future__ import annotations

from ... import creation
from ...autograd.grad_mode import no_grad
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module, _set_attributes


def _resolve_padding_idx(padding_idx, num_embeddings):
    """A non-negative row index (negative ones count from the end), or None."""
    if padding_idx is None:
        return None
    assert -num_embeddings <= padding_idx < num_embeddings, "Padding_idx must be within num_embeddings"
    return padding_idx % num_embeddings


class Embedding(Module):
    """Row ``i`` of ``weight`` (num_embeddings, embedding_dim) is the vector of index ``i``.

    Input: integer tensor of any shape (*); output (*, embedding_dim). Options as in
    PyTorch: ``padding_idx`` (row kept at zero, gets no gradient), ``max_norm`` and
    ``norm_type`` (looked-up rows are renormalised in place), ``scale_grad_by_freq``.
    The table starts as N(0, 1) draws unless ``_weight`` is given.

    >>> Embedding(10, 3)(tapegrad.tensor([[1, 2], [4, 9]])).shape
    torch.Size([2, 2, 3])
    """

    def __init__(
        self,
        num_embeddings,
        embedding_dim,
        padding_idx=None,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        sparse=False,
        _weight=None,
        _freeze=False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _resolve_padding_idx(padding_idx, num_embeddings)
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if _weight is not None:
            assert list(_weight.shape) == [num_embeddings, embedding_dim], \
                "Shape of weight does not match num_embeddings and embedding_dim"
            self.weight = Parameter(_weight, requires_grad=not _freeze)
        else:
            table = creation.empty(num_embeddings, embedding_dim, dtype=dtype, device=device)
            self.weight = Parameter(table, requires_grad=not _freeze)
            self.reset_parameters()
        self.sparse = sparse

    def reset_parameters(self):
        init.normal_(self.weight)
        self._zero_padding_row()

    def _zero_padding_row(self):
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self):
        # only the options that differ from their defaults are shown
        parts = [f"{self.num_embeddings}, {self.embedding_dim}"]
        optional = (("padding_idx", None), ("max_norm", None), ("norm_type", 2),
                    ("scale_grad_by_freq", False), ("sparse", False))
        parts += [f"{name}={getattr(self, name)}" for name, default in optional
                  if getattr(self, name) != default]
        return ", ".join(parts)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, **kwargs):
        """An Embedding whose table is ``embeddings`` (2-D); frozen unless ``freeze=False``."""
        assert embeddings.dim() == 2, "Embeddings parameter is expected to be 2-dimensional"
        rows, dim = embeddings.shape
        return cls(num_embeddings=rows, embedding_dim=dim, _weight=embeddings, _freeze=freeze,
                   padding_idx=padding_idx, **kwargs)


_BAG_OPTIONS = ("max_norm", "norm_type", "scale_grad_by_freq", "mode", "sparse", "include_last_offset",
                "padding_idx")


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of rows of ``weight`` (num_embeddings, embedding_dim).

    ``forward(input, offsets=None, per_sample_weights=None)``: input (B, L), or 1-D with ``offsets``
    marking where each bag starts; output (B, embedding_dim). The table starts as N(0, 1) draws
    (``padding_idx``'s row zero) unless ``_weight`` is given.

    >>> EmbeddingBag(10, 3)(tapegrad.tensor([[1, 2], [4, 9]])).shape
    torch.Size([2, 3])
    """

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None,
                 device=None, dtype=None):
        super().__init__()
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise AssertionError("padding_idx must be within num_embeddings")
        shape = (num_embeddings, embedding_dim)
        _set_attributes(self, num_embeddings=num_embeddings, embedding_dim=embedding_dim, max_norm=max_norm,
                        norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                        padding_idx=_resolve_padding_idx(padding_idx, num_embeddings))
        if _weight is not None and list(_weight.shape) != list(shape):
            raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
        table = creation.empty(*shape, dtype=dtype, device=device) if _weight is None else _weight
        self.weight = Parameter(table)
        _set_attributes(self, mode=mode, sparse=sparse, include_last_offset=include_last_offset)
        if _weight is None:
            self.reset_parameters()

    def reset_parameters(self):
        """N(0, 1) rows, the padding row zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input, offsets=None, per_sample_weights=None):
        options = {k: getattr(self, k) for k in _BAG_OPTIONS}
        return F.embedding_bag(input, self.weight, offsets, per_sample_weights=per_sample_weights, **options)

    def extra_repr(self):
        parts = [f"{self.num_embeddings}, {self.embedding_dim}"]
        optional = (("max_norm", None), ("norm_type", 2), ("scale_grad_by_freq", False))
        parts += [f"{name}={getattr(self, name)}" for name, default in optional
                  if getattr(self, name) != default]
        parts.append(f"mode={self.mode!r}")
        if self.padding_idx is not None:
            parts.append(f"padding_idx={self.padding_idx}")
        return ", ".join(parts)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        """An EmbeddingBag whose table is ``embeddings`` (2-D); frozen unless ``freeze=False``."""
        assert embeddings.dim() == 2, "Embeddings parameter is expected to be 2-dimensional"
        options = dict(max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                       mode=mode, sparse=sparse, include_last_offset=include_last_offset,
                       padding_idx=padding_idx)
        bag = cls(*embeddings.shape, _weight=embeddings, **options)
        bag.weight.requires_grad_(not freeze)
        return bag

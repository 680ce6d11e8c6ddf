"""``Embedding``: a trainable lookup table indexed by integer tensors."""
from __future__ import annotations

from ... import creation
from ...autograd.grad_mode import no_grad
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module


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

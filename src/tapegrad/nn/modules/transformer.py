"""The Transformer of Vaswani et al. (2017): encoder and decoder layers, their stacks, the whole model.

Each layer is a residual block per sub-layer (self-attention, cross-attention in the
decoder, a two-layer feed-forward network), normalised after the residual sum (post-norm,
the paper's form) or before the sub-layer (``norm_first=True``, pre-norm). Submodule names
are PyTorch's, so state dicts move between the two libraries.
"""
from __future__ import annotations

import copy

from ... import backend as B
from ... import creation, dtypes
from .. import functional as F
from .. import init
from .._attention import _additive
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module, _set_attributes
from .normalization import LayerNorm

xp = B.xp
_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _activation(activation):
    """A name ('relu', 'gelu') as its function; a callable (function or Module) unchanged."""
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise RuntimeError(f"activation should be relu/gelu, not {activation}")
        return _ACTIVATIONS[activation]
    return activation


def _is_causal_mask(mask, is_causal):
    """``is_causal`` as given, or (None) whether ``mask`` is the square subsequent mask."""
    if is_causal is not None:
        return bool(is_causal)
    if mask is None or mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        return False
    causal = xp.triu(xp.ones(tuple(mask.shape), bool), 1)
    m = mask._data
    return bool((m == causal).all() if m.dtype == bool else ((m == -xp.inf) == causal).all() and
                (m[~causal] == 0).all())


def _float_masks(x, mask, mask_name, padding, padding_name):
    """An encoder's attention mask and key padding mask as additive float masks (bool True
    masks a position out), with PyTorch's checks and its warning when one is bool and the
    other is not."""
    dt = x._data.dtype
    padding = _additive(padding, padding_name, dt, mask, mask_name, stacklevel=5)
    return _additive(mask, mask_name, dt), padding


class _Layer(Module):
    """What both layer kinds share: attention blocks, the feed-forward block and its options."""

    def _build(self, sizes, p, activation, eps, batch_first, norm_first, bias, factory, attentions, n_norms):
        """Register PyTorch's submodules, in its order: ``attentions``, the feed-forward
        network, ``n_norms`` LayerNorms and as many dropouts (one per residual branch)."""
        width, heads, hidden = sizes
        f = dict(zip(("device", "dtype"), factory, strict=True))
        subs = [(n, MultiheadAttention(width, heads, dropout=p, bias=bias, batch_first=batch_first, **f))
                for n in attentions]
        subs += [("linear1", Linear(width, hidden, bias=bias, **f)), ("dropout", Dropout(p)),
                 ("linear2", Linear(hidden, width, bias=bias, **f))]
        subs += [(f"norm{i + 1}", LayerNorm(width, eps=eps, bias=bias, **f)) for i in range(n_norms)]
        subs += [(f"dropout{i + 1}", Dropout(p)) for i in range(n_norms)]
        for n, m in subs:
            self.add_module(n, m)
        self.norm_first = norm_first
        self.activation = _activation(activation)

    def _attention_branch(self, attn, memory, mask, padding, causal, drop):
        """``x -> drop(attn(x, memory, memory))`` (self-attention when ``memory`` is None)."""
        def branch(x):
            kv = x if memory is None else memory
            return drop(attn(x, kv, kv, key_padding_mask=padding, need_weights=False, attn_mask=mask,
                             is_causal=causal)[0])
        return branch

    def _feed_forward_branch(self, drop):
        def branch(x):
            hidden = self.activation(self.linear1(x))
            return drop(self.linear2(self.dropout(hidden)))
        return branch

    def _residuals(self, x, branches):
        """Each branch ``i`` as a residual step with ``norm{i}``: before the branch with
        ``norm_first``, after the residual sum otherwise."""
        for i, branch in enumerate(branches, 1):
            norm = getattr(self, f"norm{i}")
            x = x + branch(norm(x)) if self.norm_first else norm(x + branch(x))
        return x


class TransformerEncoderLayer(_Layer):
    """Self-attention then a feed-forward network, each with a residual connection and LayerNorm.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: src (S, N, E)
    ((N, S, E) with ``batch_first``; unbatched (S, E)) -> same shape. ``activation`` is
    'relu', 'gelu' or a callable.

    >>> layer = TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    >>> layer(tapegrad.randn(5, 3, 8)).shape
    torch.Size([5, 3, 8])
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation=F.relu, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self._build((d_model, nhead, dim_feedforward), dropout, activation, layer_norm_eps, batch_first,
                    norm_first, bias, (device, dtype), ("self_attn",), 2)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        mask, padding = _float_masks(src, src_mask, "src_mask", src_key_padding_mask, "src_key_padding_mask")
        attend = self._attention_branch(self.self_attn, None, mask, padding, is_causal, self.dropout1)
        return self._residuals(src, (attend, self._feed_forward_branch(self.dropout2)))


class TransformerDecoderLayer(_Layer):
    """Self-attention, attention over the encoder's output (``memory``), then a feed-forward network.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``:
    tgt (T, N, E), memory (S, N, E) -> (T, N, E) (batch first with ``batch_first``).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation=F.relu, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self._build((d_model, nhead, dim_feedforward), dropout, activation, layer_norm_eps, batch_first,
                    norm_first, bias, (device, dtype), ("self_attn", "multihead_attn"), 3)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        own = self._attention_branch(self.self_attn, None, tgt_mask, tgt_key_padding_mask, tgt_is_causal,
                                     self.dropout1)
        cross = self._attention_branch(self.multihead_attn, memory, memory_mask, memory_key_padding_mask,
                                       memory_is_causal, self.dropout2)
        return self._residuals(tgt, (own, cross, self._feed_forward_branch(self.dropout3)))


class _Stack(Module):
    """``num_layers`` independent copies of one layer, applied in turn, then ``norm`` if given."""

    def _stack(self, layer, num_layers, norm):
        copies = [copy.deepcopy(layer) for _ in range(num_layers)]
        _set_attributes(self, layers=ModuleList(copies), num_layers=num_layers, norm=norm)

    def _run(self, x, *args, **options):
        for layer in self.layers:
            x = layer(x, *args, **options)
        return x if self.norm is None else self.norm(x)


class TransformerEncoder(_Stack):
    """``num_layers`` copies of ``encoder_layer`` applied in turn, then ``norm`` if given.

    ``enable_nested_tensor`` and ``mask_check`` are accepted for PyTorch compatibility;
    tapegrad has no nested tensors, so padded positions are computed like the others.
    """

    def __init__(self, encoder_layer, num_layers: int, norm=None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        self._stack(encoder_layer, num_layers, norm)
        _set_attributes(self, enable_nested_tensor=enable_nested_tensor, use_nested_tensor=False,
                        mask_check=mask_check)

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        mask, padding = _float_masks(src, mask, "mask", src_key_padding_mask, "src_key_padding_mask")
        return self._run(src, src_key_padding_mask=padding, is_causal=_is_causal_mask(mask, is_causal),
                         src_mask=mask)


class TransformerDecoder(_Stack):
    """``num_layers`` copies of ``decoder_layer`` applied in turn, then ``norm`` if given."""

    def __init__(self, decoder_layer, num_layers: int, norm=None):
        super().__init__()
        self._stack(decoder_layer, num_layers, norm)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        # every option goes to each layer unchanged, except that a causal mask is recognised
        options = {k: v for k, v in locals().items() if k.startswith(("tgt_", "memory_"))}
        options["tgt_is_causal"] = _is_causal_mask(tgt_mask, tgt_is_causal)
        return self._run(tgt, memory, **options)


class Transformer(Module):
    """Encoder-decoder Transformer: ``encoder`` (a TransformerEncoder) and ``decoder``.

    ``forward(src, tgt, ...)``: src (S, N, E), tgt (T, N, E) -> (T, N, E) (batch first with
    ``batch_first``; unbatched accepted). Masks and key padding masks are passed to the
    encoder (``src_*``), the decoder's self-attention (``tgt_*``) and its cross-attention
    (``memory_*``). Weights of rank > 1 start Xavier-uniform.

    >>> model = Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
    ...                     dim_feedforward=16)
    >>> model(tapegrad.randn(5, 3, 8), tapegrad.randn(4, 3, 8)).shape
    torch.Size([4, 3, 8])
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation=F.relu, custom_encoder=None, custom_decoder=None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        f = dict(device=device, dtype=dtype)
        shared = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                  norm_first, bias)
        halves = (("encoder", custom_encoder, TransformerEncoderLayer, TransformerEncoder,
                   num_encoder_layers),
                  ("decoder", custom_decoder, TransformerDecoderLayer, TransformerDecoder,
                   num_decoder_layers))
        for name, given, layer_cls, stack_cls, depth in halves:
            if given is None:
                final_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **f)
                given = stack_cls(layer_cls(*shared, **f), depth, final_norm)
            self.add_module(name, given)
        for w in [t for t in self.parameters() if t.dim() > 1]:
            init.xavier_uniform_(w)
        _set_attributes(self, d_model=d_model, nhead=nhead, batch_first=batch_first)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None,
                tgt_is_causal=None, memory_is_causal=False):
        decoder_options = {k: v for k, v in locals().items() if k.startswith(("tgt_", "memory_"))}
        batch_dim = 0 if self.batch_first else 1
        if src.dim() == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise RuntimeError("the batch number of src and tgt must be equal")
        if self.d_model not in (src.shape[-1],) or self.d_model != tgt.shape[-1]:
            raise RuntimeError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, is_causal=src_is_causal, src_key_padding_mask=src_key_padding_mask,
                              mask=src_mask)
        return self.decoder(tgt, memory, **decoder_options)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """An (sz, sz) float mask: ``-inf`` above the diagonal (future positions), 0 elsewhere."""
        dtype = dtype if dtype is not None else dtypes.get_default_dtype()
        return creation.tensor(xp.triu(xp.full((sz, sz), -xp.inf), 1), dtype=dtype, device=device)

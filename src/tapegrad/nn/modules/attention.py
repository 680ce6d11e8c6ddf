"""``MultiheadAttention``: the projections and their parameters; the maths is in ``nn._attention``."""
from __future__ import annotations

import functools

from ... import creation
from .. import init
from .._attention import multi_head_attention_forward
from ..parameter import Parameter
from .linear import Linear
from .module import Module, _set_attributes


class NonDynamicallyQuantizableLinear(Linear):
    """A ``Linear`` under the class name PyTorch gives the output projection of attention.

    The name only shows in ``repr``; the layer is an ordinary ``Linear``.
    """


_FUNCTIONAL_ARGS = ("embed_dim", "num_heads", "in_proj_weight", "in_proj_bias", "bias_k", "bias_v",
                    "add_zero_attn", "dropout")


def _param(*shape, dtype=None, device=None):
    return Parameter(creation.empty(*shape, dtype=dtype, device=device))


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of ``embed_dim // num_heads`` features each.

    Parameters (PyTorch's names and layouts, so state dicts move both ways):
    ``in_proj_weight`` (3E, E) when key and value have ``embed_dim`` features, else
    ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim);
    ``in_proj_bias`` (3E,); ``bias_k``/``bias_v`` (1, 1, E) with ``add_bias_kv``;
    ``out_proj`` a Linear(E, E).

    ``forward(query, key, value)``: (L, N, E), (S, N, kdim), (S, N, vdim) (batch first
    with ``batch_first``; unbatched (L, E) accepted) -> ``(output (L, N, E), weights)``,
    weights (N, L, S) averaged over heads, (N, H, L, S) with ``average_attn_weights=False``,
    or None with ``need_weights=False``.

    >>> mha = MultiheadAttention(8, 2)
    >>> x = tapegrad.randn(5, 3, 8)
    >>> [t.shape for t in mha(x, x, x)]
    [torch.Size([5, 3, 8]), torch.Size([3, 5, 5])]
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None):
        if min(embed_dim, num_heads) <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        super().__init__()
        widths = {"q": embed_dim, "k": embed_dim if kdim is None else kdim,
                  "v": embed_dim if vdim is None else vdim}
        _set_attributes(self, embed_dim=embed_dim, kdim=widths["k"], vdim=widths["v"],
                        _qkv_same_embed_dim=set(widths.values()) == {embed_dim},
                        num_heads=num_heads, dropout=dropout, batch_first=batch_first,
                        head_dim=embed_dim // num_heads)
        if num_heads * self.head_dim != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        make = functools.partial(_param, dtype=dtype, device=device)
        # the stacked (3E, E) weight when all inputs are E wide, else one weight per input;
        # the unused form is registered as None, where PyTorch's state_dict layout has it
        stacked = self._qkv_same_embed_dim
        self.register_parameter("in_proj_weight", make(3 * embed_dim, embed_dim) if stacked else None)
        for n, width in widths.items():
            self.register_parameter(f"{n}_proj_weight", None if stacked else make(embed_dim, width))
        if not stacked:  # PyTorch registers the per-input weights first in this case
            self._parameters.move_to_end("in_proj_weight")
        self.register_parameter("in_proj_bias", make(3 * embed_dim) if bias else None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype,
                                                        device=device)
        self.bias_k, self.bias_v = [make(1, 1, embed_dim) if add_bias_kv else None for _ in "kv"]
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        """Xavier-uniform projections, zero biases, Xavier-normal ``bias_k``/``bias_v``."""
        names = ("in_proj_weight",) if self._qkv_same_embed_dim else ("q_proj_weight", "k_proj_weight",
                                                                      "v_proj_weight")
        for n in names:
            init.xavier_uniform_(getattr(self, n))
        for b in (self.in_proj_bias, self.out_proj.bias):
            if b is not None:
                init.zeros_(b)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                init.xavier_normal_(b)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        swap = self.batch_first and query.ndim == 3
        if swap:
            query, key, value = _seq_first(query, key, value)
        stacked = self._qkv_same_embed_dim
        weights = {n: getattr(self, n) for n in ("q_proj_weight", "k_proj_weight", "v_proj_weight")}
        own = [getattr(self, n) for n in _FUNCTIONAL_ARGS]  # in multi_head_attention_forward's order
        out, attn = multi_head_attention_forward(
            query, key, value, *own, *self.out_proj._parameters.values(),
            self.training, key_padding_mask, need_weights, attn_mask, not stacked, **weights,
            average_attn_weights=average_attn_weights, is_causal=is_causal)
        return (out.transpose(1, 0) if swap else out), attn


def _seq_first(query, key, value):
    """(N, L, E) inputs as (L, N, E), keeping ``query is key is value`` (one projection)."""
    q = query.transpose(1, 0)
    k = q if key is query else key.transpose(1, 0)
    v = k if value is key else value.transpose(1, 0)
    return q, k, v

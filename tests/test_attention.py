"""Attention without the oracle: derivatives proven by finite differences, values by formula.

``F.scaled_dot_product_attention`` is one fused node with a hand-written backward, so its
first and second derivatives are checked with ``gradcheck`` and ``gradgradcheck`` in
float64 for every mask kind (bool with a fully masked row, additive float with ``-inf``
entries and a gradient of its own, causal), scale, dropout (the mask drawn again from the
same seed on each call), grouped-query attention and broadcast batch dims. Values are
compared with a NumPy transcription of the formula, dropout by its statistics.
Parity with PyTorch is in ``tests/parity/test_attention_parity.py``.
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck


def _t(rng, *shape, grad=True):
    return tg.tensor(rng.standard_normal(shape), requires_grad=grad)


def _reference(q, k, v, add=None, scale=None):
    """softmax(q kᵀ scale + add) v in NumPy; rows with no finite score give zeros."""
    s = q @ np.swapaxes(k, -1, -2) * (scale if scale is not None else 1 / np.sqrt(q.shape[-1]))
    if add is not None:
        s = s + add
    m = s.max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(s - m)
    den = e.sum(-1, keepdims=True)
    p = e / np.where(den == 0, 1, den)
    return p @ v


_BOOL = np.array([[True, False, True, True, False],
                  [False, False, False, False, False],   # attends nowhere: zero output and gradients
                  [True, True, True, True, True]])
_FLOAT = np.array([[0.3, -np.inf, 1.2, -0.4, 0.0],
                   [-np.inf] * 5,
                   [0.5, 0.1, -0.7, 2.0, -1.0]])

CASES = {
    "plain": (((2, 3, 4), (2, 5, 4), (2, 5, 3)), {}),
    "bool-mask": (((2, 3, 4), (2, 5, 4), (2, 5, 3)), {"attn_mask": _BOOL}),
    "float-mask": (((2, 3, 4), (2, 5, 4), (2, 5, 3)), {"attn_mask": _FLOAT}),
    "causal": (((2, 4, 4), (2, 3, 4), (2, 3, 3)), {"is_causal": True}),
    "scale": (((3, 4), (5, 4), (5, 2)), {"scale": 0.7}),
    "dropout": (((2, 3, 4), (2, 5, 4), (2, 5, 3)), {"dropout_p": 0.4}),
    "gqa": (((1, 4, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3)), {"enable_gqa": True}),
    "broadcast": (((3, 4), (2, 5, 4), (5, 3)), {}),
}


def _call(case):
    shapes, kw = CASES[case]
    rng = np.random.default_rng(len(case))
    inputs = [_t(rng, *s) for s in shapes]
    kw = dict(kw)
    if "attn_mask" in kw:
        m = kw["attn_mask"]
        if m.dtype == bool:
            kw["attn_mask"] = tg.tensor(m)
        else:  # the float mask is an input too: its gradient is checked
            inputs.append(tg.tensor(m, requires_grad=True))
            del kw["attn_mask"]

    def f(q, k, v, *mask):
        tg.manual_seed(3)  # the same dropout mask on every call
        extra = {"attn_mask": mask[0]} if mask else {}
        return F.scaled_dot_product_attention(q, k, v, **extra, **kw)
    return f, inputs


@pytest.mark.parametrize("case", list(CASES))
def test_sdpa_gradcheck(case):
    f, inputs = _call(case)
    assert gradcheck(f, inputs)


@pytest.mark.parametrize("case", list(CASES))
def test_sdpa_gradgradcheck(case):
    f, inputs = _call(case)
    assert gradgradcheck(f, inputs)


def test_sdpa_matches_formula_with_masks():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    tq, tk, tv = (tg.tensor(a) for a in (q, k, v))
    got = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=tg.tensor(_BOOL)).detach().numpy()
    want = _reference(q, k, v, np.where(_BOOL, 0, -np.inf))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert not got[:, 1].any()  # the fully masked row
    got = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=tg.tensor(_FLOAT)).detach().numpy()
    np.testing.assert_allclose(got, _reference(q, k, v, _FLOAT), rtol=1e-12, atol=1e-12)
    got = F.scaled_dot_product_attention(tq, tk, tv, is_causal=True).detach().numpy()
    np.testing.assert_allclose(got, _reference(q, k, v, np.where(np.tri(3, 5, dtype=bool), 0, -np.inf)),
                               rtol=1e-12, atol=1e-12)


def test_sdpa_gqa_repeats_each_head_for_its_group():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal(s) for s in ((1, 6, 3, 4), (1, 2, 5, 4), (1, 3, 5, 2)))
    got = F.scaled_dot_product_attention(tg.tensor(q), tg.tensor(k), tg.tensor(v), enable_gqa=True)
    got = got.detach().numpy()
    want = _reference(q, np.repeat(k, 3, axis=1), np.repeat(v, 2, axis=1))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_sdpa_dropout_statistics():
    """Each weight is zeroed with probability p and the rest scaled by 1/(1-p): with all
    values 1 the output's mean stays 1, and p=1 gives zeros; p<=0 gives no dropout."""
    tg.manual_seed(0)
    q = tg.randn(64, 200, 4)
    ones = tg.ones(64, 200, 1)
    out = F.scaled_dot_product_attention(q, q, ones, dropout_p=0.3).detach().numpy()
    assert abs(out.mean() - 1) < 0.01
    assert out.std() > 0.01
    assert not F.scaled_dot_product_attention(q, q, ones, dropout_p=1.0).detach().numpy().any()
    base = F.scaled_dot_product_attention(q, q, ones).detach().numpy()
    negative = F.scaled_dot_product_attention(q, q, ones, dropout_p=-0.5)
    np.testing.assert_array_equal(negative.detach().numpy(), base)


def test_sdpa_empty_keys_give_zeros():
    out = F.scaled_dot_product_attention(tg.ones(3, 4), tg.ones(0, 4), tg.ones(0, 2))
    assert tuple(out.shape) == (3, 2) and not out.detach().numpy().any()


def test_sdpa_second_order_through_module_loss():
    """Double backward through the node composes with the rest of a graph."""
    rng = np.random.default_rng(2)
    q = _t(rng, 2, 3, 4)
    out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    (g,) = tg.autograd.grad(out.pow(2).sum(), q, create_graph=True)
    (h,) = tg.autograd.grad(g.sum(), q)
    assert tuple(h.shape) == (2, 3, 4) and np.isfinite(h.detach().numpy()).all()


def test_multihead_attention_gradcheck_float64():
    tg.manual_seed(0)
    mha = nn.MultiheadAttention(4, 2, add_bias_kv=True).double()
    rng = np.random.default_rng(4)
    x, mem = _t(rng, 3, 2, 4), _t(rng, 5, 2, 4)
    kpm = tg.tensor(np.array([[False] * 4 + [True], [True] + [False] * 4]))

    def f(x, mem):
        out, w = mha(x, mem, mem, key_padding_mask=kpm)
        return out, w
    assert gradcheck(f, (x, mem))
    assert gradgradcheck(f, (x, mem))


def test_multihead_attention_weights_after_dropout():
    """In training the returned weights are the ones applied to the values, after dropout."""
    tg.manual_seed(1)
    mha = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = tg.randn(6, 4, 8)
    _, w = mha(x, x, x, average_attn_weights=False)
    assert (w.detach().numpy() == 0).any()
    sums = w.detach().numpy().sum(-1)
    assert not np.allclose(sums, 1)
    mha.eval()
    _, w = mha(x, x, x)
    np.testing.assert_allclose(w.detach().numpy().sum(-1), 1, rtol=1e-5)


def test_square_subsequent_mask_formula():
    m = nn.Transformer.generate_square_subsequent_mask(4).detach().numpy()
    np.testing.assert_array_equal(m, np.triu(np.full((4, 4), -np.inf), 1))
    assert m.dtype == np.float32


def test_encoder_layer_eval_is_deterministic_and_train_uses_dropout():
    tg.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = tg.randn(5, 2, 8)
    a, b = layer(x).detach().numpy(), layer(x).detach().numpy()
    assert not np.allclose(a, b)
    layer.eval()
    np.testing.assert_array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())


def test_encoder_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    p0, p1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert p0 is not p1 and p0 is not layer.linear1.weight
    np.testing.assert_array_equal(p0.detach().numpy(), p1.detach().numpy())


def test_sdpa_under_vmap_matches_formula():
    rng = np.random.default_rng(6)
    q, k, v = (rng.standard_normal(s) for s in ((3, 2, 4), (3, 5, 4), (3, 5, 2)))
    got = tg.func.vmap(F.scaled_dot_product_attention)(tg.tensor(q), tg.tensor(k), tg.tensor(v))
    np.testing.assert_allclose(got.detach().numpy(), _reference(q, k, v), rtol=1e-12, atol=1e-12)


def test_seq_transformer_bench_runs():
    """bench/seq_transformer.py's step works and reports its median (tapegrad side only)."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import seq_transformer
    res = seq_transformer.measure("tapegrad", rounds=2, per_round=1, causal=True)
    assert res["lib"] == "tapegrad" and res["median_ms"] > 0 and res["causal"] is True

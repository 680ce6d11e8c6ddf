"""Attention and Transformer parity with PyTorch (issue 14).

torch is the specification. ``F.scaled_dot_product_attention`` is compared on the same
inputs (outputs and the gradients of query, key, value and a float mask), in float32 and
float64, for every mask kind, causal masking, scale, grouped-query attention and batch
broadcasting. ``nn.MultiheadAttention`` and the Transformer modules are built in both
libraries, torch's weights are copied into tapegrad's module through ``state_dict`` (NumPy
in between; the other direction too), and outputs, attention weights and the gradients of
the inputs and of every parameter are compared. Bad input must raise torch's exception
class with torch's message.
"""
from __future__ import annotations

import warnings
import zlib
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402
import tapegrad.nn as tnn  # noqa: E402
import tapegrad.nn.functional as TF  # noqa: E402

TOL = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=2e-4, atol=3e-5)}
DTYPES = ("float64", "float32")


def _np(t):
    return t.detach().numpy()


def _close(a, b, dtype, what):
    a, b = _np(a), _np(b)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    np.testing.assert_allclose(b, a, equal_nan=True, err_msg=what, **TOL[dtype])


def _pair(arr, dtype, grad=True):
    """The same values as a torch tensor and a tapegrad tensor (bool arrays stay bool)."""
    if arr.dtype != bool:
        arr = arr.astype(dtype)
    grad = grad and arr.dtype != bool
    return (torch.tensor(arr, requires_grad=grad), tg.tensor(arr, requires_grad=grad))


# =========================================================================== sdpa
R = np.random.default_rng(7)
_M = R.random((4, 5)) > 0.4
_M[1] = False                                  # a row that attends nowhere
_FM = R.standard_normal((4, 5))
_FM[2, 1] = -np.inf

SDPA_CASES = {
    "plain-4d": ([(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)], {}),
    "plain-2d": ([(4, 8), (5, 8), (5, 6)], {}),
    "bool-mask-2d": ([(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)], {"attn_mask": _M}),
    "bool-mask-bcast": ([(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)],
                        {"attn_mask": R.random((2, 1, 4, 5)) > 0.3}),
    "float-mask": ([(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)], {"attn_mask": _FM}),
    "float-mask-col": ([(2, 4, 8), (2, 5, 8), (2, 5, 6)], {"attn_mask": R.standard_normal((2, 1, 5))}),
    "causal-square": ([(2, 2, 5, 8), (2, 2, 5, 8), (2, 2, 5, 6)], {"is_causal": True}),
    "causal-tall": ([(2, 6, 8), (2, 4, 8), (2, 4, 6)], {"is_causal": True}),
    "causal-wide": ([(2, 3, 8), (2, 5, 8), (2, 5, 6)], {"is_causal": True}),
    "scale": ([(2, 4, 8), (2, 5, 8), (2, 5, 6)], {"scale": 0.37}),
    "gqa": ([(2, 6, 4, 8), (2, 2, 5, 8), (2, 3, 5, 6)], {"enable_gqa": True}),
    "batch-broadcast": ([(4, 8), (3, 5, 8), (5, 6)], {}),
    "batch-broadcast-4d": ([(2, 1, 4, 8), (1, 3, 5, 8), (2, 3, 5, 6)], {}),
    "value-batch-larger": ([(4, 8), (5, 8), (3, 5, 6)], {}),
    "empty-keys": ([(4, 8), (0, 8), (0, 6)], {}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_values_and_gradients(case, dtype):
    shapes, kw = SDPA_CASES[case]
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    pairs = [_pair(rng.standard_normal(s), dtype) for s in shapes]
    tkw, gkw = dict(kw), dict(kw)
    mask = None
    if "attn_mask" in kw:
        mask = _pair(np.asarray(kw["attn_mask"]), dtype)
        tkw["attn_mask"], gkw["attn_mask"] = mask
    t_out = torch.nn.functional.scaled_dot_product_attention(*[p[0] for p in pairs], **tkw)
    g_out = TF.scaled_dot_product_attention(*[p[1] for p in pairs], **gkw)
    _close(t_out, g_out, dtype, "output")
    assert str(g_out.dtype) == str(t_out.dtype)
    up = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
    (t_out * torch.tensor(up)).sum().backward()
    (g_out * tg.tensor(up)).sum().backward()
    for name, (t, g) in zip("qkv", pairs, strict=True):
        _close(t.grad, g.grad, dtype, f"grad {name}")
    if mask is not None and mask[0].requires_grad:
        _close(mask[0].grad, mask[1].grad, dtype, "grad mask")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_float32_mask_with_float64_query(dtype):
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 4, 8))
    m = rng.standard_normal((4, 4)).astype(np.float32)
    t = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(q.astype(dtype)),) * 3,
                                                         attn_mask=torch.tensor(m))
    g = TF.scaled_dot_product_attention(*(tg.tensor(q.astype(dtype)),) * 3, attn_mask=tg.tensor(m))
    assert str(g.dtype) == str(t.dtype)
    _close(t, g, dtype, "output")


def _errors(fn_t, fn_g):
    """Both calls must fail alike: same exception class and message."""
    with pytest.raises(Exception) as et:
        fn_t()
    with pytest.raises(Exception) as eg:
        fn_g()
    assert type(eg.value) is type(et.value), (eg.value, et.value)
    assert str(eg.value) == str(et.value)


def _sdpa_bad(lib):
    r = lib.ones
    F = TF if lib is tg else torch.nn.functional
    sd = F.scaled_dot_product_attention
    dbl = tg.float64 if lib is tg else torch.float64
    lng = tg.int64 if lib is tg else torch.int64
    bl = tg.bool if lib is tg else torch.bool
    return {
        "1d": lambda: sd(r(8), r(8), r(8)),
        "dtype": lambda: sd(r(2, 4, 8), r(2, 5, 8).to(dbl), r(2, 5, 6)),
        "int": lambda: sd(r(2, 4, 8).to(lng), r(2, 5, 8).to(lng), r(2, 5, 6).to(lng)),
        "E-mismatch-3d": lambda: sd(r(2, 4, 8), r(2, 5, 7), r(2, 5, 6)),
        "E-mismatch-2d": lambda: sd(r(4, 8), r(5, 7), r(5, 6)),
        "S-mismatch-3d": lambda: sd(r(2, 4, 8), r(2, 5, 8), r(2, 6, 6)),
        "S-mismatch-2d": lambda: sd(r(4, 8), r(5, 8), r(6, 6)),
        "batch": lambda: sd(r(2, 4, 8), r(3, 5, 8), r(3, 5, 6)),
        "value-batch": lambda: sd(r(2, 4, 8), r(2, 5, 8), r(3, 5, 6)),
        "heads-no-gqa": lambda: sd(r(2, 6, 4, 8), r(2, 2, 5, 8), r(2, 2, 5, 6)),
        "gqa-indivisible": lambda: sd(r(2, 6, 4, 8), r(2, 4, 5, 8), r(2, 4, 5, 6), enable_gqa=True),
        "gqa-2d": lambda: sd(r(4, 8), r(5, 8), r(5, 6), enable_gqa=True),
        "mask-and-causal": lambda: sd(r(4, 8), r(5, 8), r(5, 6), attn_mask=r(4, 5), is_causal=True),
        "mask-int": lambda: sd(r(4, 8), r(5, 8), r(5, 6), attn_mask=r(4, 5).to(lng)),
        "mask-double": lambda: sd(r(4, 8), r(5, 8), r(5, 6), attn_mask=r(4, 5).to(dbl)),
        "mask-shape": lambda: sd(r(2, 4, 8), r(2, 5, 8), r(2, 5, 6), attn_mask=r(3, 5)),
        "mask-rank": lambda: sd(r(2, 4, 8), r(2, 5, 8), r(2, 5, 6), attn_mask=r(3, 2, 4, 5)),
        "mask-bool-rank": lambda: sd(r(4, 8), r(5, 8), r(5, 6), attn_mask=r(2, 4, 5).to(bl)),
        "dropout-2": lambda: sd(r(4, 8), r(5, 8), r(5, 6), dropout_p=2.0),
        "dropout-1.5": lambda: sd(r(4, 8), r(5, 8), r(5, 6), dropout_p=1.5),
        "query-list": lambda: sd([1.0], r(5, 8), r(5, 6)),
        "key-int": lambda: sd(r(4, 8), 1, r(5, 6)),
        "mask-float": lambda: sd(r(4, 8), r(5, 8), r(5, 6), attn_mask=1.0),
        "dropout-str": lambda: sd(r(4, 8), r(5, 8), r(5, 6), dropout_p="a"),
        "causal-int": lambda: sd(r(4, 8), r(5, 8), r(5, 6), is_causal=1),
        "scale-str": lambda: sd(r(4, 8), r(5, 8), r(5, 6), scale="a"),
        "gqa-int": lambda: sd(r(4, 8), r(5, 8), r(5, 6), enable_gqa=1),
        "order-dims-first": lambda: sd(r(8), r(8).to(dbl), r(8), dropout_p=2.0),
        "order-gqa-before-shapes": lambda: sd(r(6, 2, 8), r(4, 2, 7), r(4, 2, 8), enable_gqa=True),
        "order-shape-before-dropout": lambda: sd(r(2, 8), r(2, 7), r(2, 8), dropout_p=2.0),
        "order-mask-before-value": lambda: sd(r(2, 8), r(3, 8), r(4, 8), attn_mask=r(5, 5)),
    }


@pytest.mark.parametrize("case", list(_sdpa_bad(tg)))
def test_sdpa_bad_input(case):
    _errors(_sdpa_bad(torch)[case], _sdpa_bad(tg)[case])


# =========================================================================== MultiheadAttention
def _copy_into(src, dst, to_lib):
    """Load ``src``'s state_dict into ``dst`` through NumPy (``to_lib`` makes the tensors)."""
    sd = OrderedDict((k, to_lib.tensor(np.array(_np(v)))) for k, v in src.state_dict().items())
    dst.load_state_dict(sd)


def _modules(factory, dtype):
    """The module in both libraries, tapegrad's holding torch's weights, both in eval mode."""
    torch.manual_seed(0)
    t = factory(torch.nn)
    g = factory(tnn)
    assert list(t.state_dict()) == list(g.state_dict())
    assert [(n, tuple(p.shape)) for n, p in t.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in g.named_parameters()]
    cast = "double" if dtype == "float64" else "float"
    t, g = getattr(t, cast)(), getattr(g, cast)()
    _copy_into(t, g, tg)
    return t.eval(), g.eval()


MHA_CASES = {
    "default": (dict(), {}),
    "no-bias": (dict(bias=False), {}),
    "bias-kv": (dict(add_bias_kv=True), {}),
    "zero-attn": (dict(add_zero_attn=True), {}),
    "bias-kv-zero-attn-masks": (dict(add_bias_kv=True, add_zero_attn=True), {"kpm": "bool", "mask": "bool2"}),
    "kdim-vdim": (dict(kdim=6, vdim=5), {}),
    "kdim-vdim-masks": (dict(kdim=6, vdim=5), {"kpm": "float", "mask": "float2"}),
    "batch-first": (dict(batch_first=True), {}),
    "batch-first-self": (dict(batch_first=True), {"self": True}),
    "self-attention": (dict(), {"self": True}),
    "kv-shared": (dict(), {"kv_shared": True}),
    "kpm-bool": (dict(), {"kpm": "bool"}),
    "kpm-float": (dict(), {"kpm": "float"}),
    "mask-bool-2d": (dict(), {"mask": "bool2"}),
    "mask-float-2d": (dict(), {"mask": "float2"}),
    "mask-float-3d": (dict(), {"mask": "float3"}),
    "mask-bool-3d-kpm": (dict(), {"mask": "bool3", "kpm": "bool"}),
    "no-weights": (dict(), {"need_weights": False, "mask": "float2", "kpm": "bool"}),
    "no-weights-plain": (dict(), {"need_weights": False}),
    "per-head-weights": (dict(), {"average_attn_weights": False, "mask": "bool2"}),
    "causal-hint": (dict(), {"self": True, "mask": "causal", "is_causal": True, "need_weights": False}),
    "causal-hint-weights": (dict(), {"self": True, "mask": "causal", "is_causal": True}),
    "unbatched": (dict(), {"unbatched": True, "kpm": "bool", "mask": "float3"}),
    "unbatched-no-weights": (dict(), {"unbatched": True, "need_weights": False}),
}
E, H, L, S, N = 8, 2, 3, 4, 2


def _mha_inputs(opts, kdim, vdim, rng, dtype):
    self_attn = opts.get("self") or opts.get("mask") == "causal"
    s = L if self_attn else S
    shapes = [(L, N, E), (s, N, kdim), (s, N, vdim)]
    if opts.get("unbatched"):
        shapes = [(a, c) for a, _, c in shapes]
    arrs = [rng.standard_normal(sh) for sh in shapes]
    masks = {}
    kind = opts.get("kpm")
    if kind:
        kp = np.zeros((N, s), bool)
        kp[0, 1] = kp[1, 0] = True
        kp = kp[0] if opts.get("unbatched") else kp
        masks["key_padding_mask"] = kp if kind == "bool" else np.where(kp, -2.5, 0.1)
    kind = opts.get("mask")
    if kind:
        shape = (L, s) if kind.endswith("2") else ((H, L, s) if opts.get("unbatched") else (N * H, L, s))
        if kind == "causal":
            m = np.triu(np.full((L, L), -np.inf), 1)
        elif kind.startswith("bool"):
            m = rng.random(shape) > 0.7
            m[..., 0] = False
        else:
            m = rng.standard_normal(shape)
        masks["attn_mask"] = m
    return arrs, masks


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention(case, dtype):
    kw, opts = MHA_CASES[case]
    t_mod, g_mod = _modules(lambda nn: nn.MultiheadAttention(E, H, **kw), dtype)
    rng = np.random.default_rng(11)
    arrs, masks = _mha_inputs(opts, kw.get("kdim", E), kw.get("vdim", E), rng, dtype)
    if kw.get("batch_first") and not opts.get("unbatched"):
        arrs = [a.transpose(1, 0, 2) for a in arrs]
    if opts.get("self"):
        arrs = [arrs[0]] * 3
    pairs = [_pair(a, dtype) for a in arrs]
    if opts.get("self"):
        pairs = [pairs[0]] * 3
    elif opts.get("kv_shared"):
        pairs[2] = pairs[1]
    call = {k: opts[k] for k in ("need_weights", "average_attn_weights", "is_causal") if k in opts}
    mp = {k: _pair(v, dtype, grad=False) for k, v in masks.items()}
    t_out, t_w = t_mod(*[p[0] for p in pairs], **call, **{k: v[0] for k, v in mp.items()})
    g_out, g_w = g_mod(*[p[1] for p in pairs], **call, **{k: v[1] for k, v in mp.items()})
    _close(t_out, g_out, dtype, "output")
    assert (t_w is None) == (g_w is None)
    up = rng.standard_normal(tuple(t_out.shape))
    loss_t = (t_out * torch.tensor(up.astype(dtype))).sum()
    loss_g = (g_out * tg.tensor(up.astype(dtype))).sum()
    if t_w is not None:
        _close(t_w, g_w, dtype, "weights")
        wu = rng.standard_normal(tuple(t_w.shape))
        loss_t = loss_t + (t_w * torch.tensor(wu.astype(dtype))).sum()
        loss_g = loss_g + (g_w * tg.tensor(wu.astype(dtype))).sum()
    loss_t.backward()
    loss_g.backward()
    for i, (t, g) in enumerate(pairs):
        _close(t.grad, g.grad, dtype, f"input grad {i}")
    gp = dict(g_mod.named_parameters())
    for name, p in t_mod.named_parameters():
        _close(p.grad, gp[name].grad, dtype, f"grad {name}")


def test_multihead_attention_fully_masked_rows():
    """A query whose keys are all padded: NaN with weights (plain softmax), zeros without."""
    t_mod, g_mod = _modules(lambda nn: nn.MultiheadAttention(E, H), "float64")
    x = np.random.default_rng(2).standard_normal((L, N, E))
    kp = np.zeros((N, L), bool)
    kp[0] = True
    for need in (True, False):
        t = t_mod(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kp), need_weights=need)[0]
        g = g_mod(*(tg.tensor(x),) * 3, key_padding_mask=tg.tensor(kp), need_weights=need)[0]
        assert np.isnan(_np(t)).any() == need
        _close(t, g, "float64", f"need_weights={need}")


def test_multihead_attention_mismatched_mask_types_warn():
    t_mod, g_mod = _modules(lambda nn: nn.MultiheadAttention(E, H), "float32")
    x = np.random.default_rng(2).standard_normal((L, N, E)).astype(np.float32)
    kp, am = np.zeros((N, L), bool), np.zeros((L, L), np.float32)
    outs = []
    for lib, mod in ((torch, t_mod), (tg, g_mod)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            masks = dict(key_padding_mask=lib.tensor(kp), attn_mask=lib.tensor(am))
            outs.append(mod(*(lib.tensor(x),) * 3, **masks)[0])
        outs.append([(type(i.message), str(i.message)) for i in w if issubclass(i.category, UserWarning)])
    assert outs[1] == outs[3] and outs[1]
    _close(outs[0], outs[2], "float32", "output")


def _mha_bad(lib):
    nn = torch.nn if lib is torch else tnn
    r = lib.ones
    bl, lng = lib.bool, lib.int64
    m = nn.MultiheadAttention(8, 2)
    mk = nn.MultiheadAttention(8, 2, kdim=6, vdim=5)
    x = r(3, 2, 8)
    F = torch.nn.functional if lib is torch else TF
    W, b, o = m.in_proj_weight, m.in_proj_bias, m.out_proj
    return {
        "embed-0": lambda: nn.MultiheadAttention(0, 2),
        "heads-0": lambda: nn.MultiheadAttention(8, 0),
        "indivisible": lambda: nn.MultiheadAttention(9, 2),
        "causal-no-mask": lambda: m(x, x, x, is_causal=True),
        "mask-2d-shape": lambda: m(x, x, x, attn_mask=r(3, 4)),
        "mask-3d-shape": lambda: m(x, x, x, attn_mask=r(3, 3, 3)),
        "mask-4d": lambda: m(x, x, x, attn_mask=r(1, 4, 3, 3)),
        "mask-int": lambda: m(x, x, x, attn_mask=r(3, 3).to(lng)),
        "kpm-int": lambda: m(x, x, x, key_padding_mask=r(2, 3).to(lng)),
        "kpm-len": lambda: m(x, x, x, key_padding_mask=r(2, 4).to(bl)),
        "kpm-batch": lambda: m(x, x, x, key_padding_mask=r(3, 3).to(bl)),
        "kpm-1d": lambda: m(x, x, x, key_padding_mask=r(3).to(bl)),
        "embed": lambda: m(r(3, 2, 7), x, x),
        "q2d-k3d": lambda: m(r(3, 8), x, x),
        "4d": lambda: m(r(1, 3, 2, 8), r(1, 3, 2, 8), r(1, 3, 2, 8)),
        "kv-len": lambda: m(x, r(4, 2, 8), r(5, 2, 8)),
        "unbatched-kpm-2d": lambda: m(r(3, 8), r(4, 8), r(4, 8), key_padding_mask=r(1, 4).to(bl)),
        "unbatched-mask-3d": lambda: m(r(3, 8), r(4, 8), r(4, 8), attn_mask=r(4, 3, 4)),
        "unbatched-kpm-len": lambda: m(r(3, 8), r(4, 8), r(4, 8), key_padding_mask=r(5).to(bl)),
        "kdim": lambda: mk(x, r(4, 2, 7), r(4, 2, 5)),
        "kdim-vlen": lambda: mk(x, r(4, 2, 6), r(5, 2, 5)),
        "mask-double": lambda: m(x, x, x, attn_mask=r(3, 3).to(lib.float64)),
        "kpm-double": lambda: m(x, x, x, key_padding_mask=r(2, 3).to(lib.float64)),
        "mask-half-no-weights": lambda: m(x, x, x, attn_mask=r(3, 3).to(lib.float16), need_weights=False),
        "mask-double-no-weights": lambda: m(x, x, x, attn_mask=r(3, 3).to(lib.float64), need_weights=False),
        "F-static-k": lambda: F.multi_head_attention_forward(
            x, x, x, 8, 2, W, b, None, None, False, 0., o.weight, o.bias, static_k=r(3, 5, 4)),
        "F-static-k-dim": lambda: F.multi_head_attention_forward(
            x, x, x, 8, 2, W, b, None, None, False, 0., o.weight, o.bias, static_k=r(4, 5, 3)),
        "F-bias-k-only": lambda: F.multi_head_attention_forward(
            x, x, x, 8, 2, W, b, r(1, 1, 8), None, False, 0., o.weight, o.bias),
        "F-heads": lambda: F.multi_head_attention_forward(
            x, x, x, 8, 3, W, b, None, None, False, 0., o.weight, o.bias),
        "F-separate-none": lambda: F.multi_head_attention_forward(
            x, x, x, 8, 2, None, b, None, None, False, 0., o.weight, o.bias, use_separate_proj_weight=True),
        "F-in-proj-none": lambda: F.multi_head_attention_forward(
            x, x, x, 8, 2, None, b, None, None, False, 0., o.weight, o.bias),
    }


@pytest.mark.parametrize("case", list(_mha_bad(tg)))
def test_multihead_attention_bad_input(case):
    _errors(_mha_bad(torch)[case], _mha_bad(tg)[case])


@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_head_attention_forward_static_kv(dtype):
    t_mod, g_mod = _modules(lambda nn: nn.MultiheadAttention(E, H), dtype)
    rng = np.random.default_rng(5)
    x = _pair(rng.standard_normal((L, N, E)), dtype)
    sk, sv = _pair(rng.standard_normal((N * H, 5, E // H)), dtype), _pair(rng.standard_normal((N * H, 5, 4)),
                                                                        dtype)
    outs = []
    for i, (F, mod) in enumerate(((torch.nn.functional, t_mod), (TF, g_mod))):
        outs.append(F.multi_head_attention_forward(
            x[i], x[i], x[i], E, H, mod.in_proj_weight, mod.in_proj_bias, None, None, False, 0.0,
            mod.out_proj.weight, mod.out_proj.bias, static_k=sk[i], static_v=sv[i]))
    _close(outs[0][0], outs[1][0], dtype, "output")
    _close(outs[0][1], outs[1][1], dtype, "weights")
    outs[0][0].sum().backward()
    outs[1][0].sum().backward()
    for name, (t, g) in (("x", x), ("static_k", sk), ("static_v", sv)):
        _close(t.grad, g.grad, dtype, name)


def test_multihead_attention_repr_and_layout():
    for kw in (dict(), dict(kdim=6, vdim=5, add_bias_kv=True, bias=False)):
        t, g = torch.nn.MultiheadAttention(8, 2, **kw), tnn.MultiheadAttention(8, 2, **kw)
        assert repr(g) == repr(t)
        assert list(g._parameters) == list(t._parameters)
        for a in ("embed_dim", "kdim", "vdim", "_qkv_same_embed_dim", "num_heads", "dropout",
                  "batch_first", "head_dim", "add_zero_attn"):
            assert getattr(g, a) == getattr(t, a), a
        assert (g.bias_k is None) == (t.bias_k is None)


def test_multihead_attention_init_distributions():
    """xavier_uniform_ projections (bound sqrt(6/(fan_in+fan_out))), zero biases,
    xavier_normal_ bias_k/bias_v, default Linear init of out_proj: compared with torch's."""
    tg.manual_seed(0)
    torch.manual_seed(0)
    g = [tnn.MultiheadAttention(64, 4, add_bias_kv=True) for _ in range(20)]
    t = [torch.nn.MultiheadAttention(64, 4, add_bias_kv=True) for _ in range(20)]
    for name in ("in_proj_weight", "bias_k", "bias_v", "out_proj.weight"):
        gs = np.concatenate([_np(dict(m.named_parameters())[name]).ravel() for m in g])
        ts = np.concatenate([_np(dict(m.named_parameters())[name]).ravel() for m in t])
        assert abs(gs.std() / ts.std() - 1) < 0.05, name
        if name != "bias_k" and name != "bias_v":
            assert abs(np.abs(gs).max() / np.abs(ts).max() - 1) < 0.02, name
    for m in g:
        assert not _np(m.in_proj_bias).any() and not _np(m.out_proj.bias).any()
    sep = tnn.MultiheadAttention(8, 2, kdim=6, vdim=5)
    assert np.abs(_np(sep.k_proj_weight)).max() <= np.sqrt(6 / 14)


# =========================================================================== Transformer modules
ACTIVATIONS = {
    "relu": lambda nn: "relu",
    "gelu": lambda nn: "gelu",
    "callable-fn": lambda nn: nn.functional.gelu,
    "callable-module": lambda nn: nn.Tanh(),
}


def _run_both(t_mod, g_mod, arrays, dtype, masks=None, **kw):
    """Forward both with the same inputs (and bool/float masks), backward with one upstream,
    compare outputs and every gradient."""
    pairs = [_pair(a, dtype) for a in arrays]
    mp = {k: _pair(v, dtype, grad=False) for k, v in (masks or {}).items()}
    t = t_mod(*[p[0] for p in pairs], **{k: v[0] for k, v in mp.items()}, **kw)
    g = g_mod(*[p[1] for p in pairs], **{k: v[1] for k, v in mp.items()}, **kw)
    _close(t, g, dtype, "output")
    up = np.random.default_rng(1).standard_normal(tuple(t.shape)).astype(dtype)
    (t * torch.tensor(up)).sum().backward()
    (g * tg.tensor(up)).sum().backward()
    for i, (a, b) in enumerate(pairs):
        _close(a.grad, b.grad, dtype, f"input grad {i}")
    gp = dict(g_mod.named_parameters())
    for name, p in t_mod.named_parameters():
        _close(p.grad, gp[name].grad, dtype, f"grad {name}")


def _kpm(n, s):
    m = np.zeros((n, s), bool)
    m[0, -1] = m[1, 0] = True
    return m


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", (False, True))
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_encoder_layer(act, norm_first, dtype):
    t_mod, g_mod = _modules(lambda nn: nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.1, activation=ACTIVATIONS[act](nn), norm_first=norm_first), dtype)
    x = np.random.default_rng(3).standard_normal((5, 2, 8))
    masks = {"src_mask": np.triu(np.full((5, 5), -np.inf), 1), "src_key_padding_mask": _kpm(2, 5)}
    _run_both(t_mod, g_mod, [x], dtype, masks)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", (False, True))
@pytest.mark.parametrize("act", ("relu", "callable-fn"))
def test_decoder_layer(act, norm_first, dtype):
    t_mod, g_mod = _modules(lambda nn: nn.TransformerDecoderLayer(
        8, 2, 16, activation=ACTIVATIONS[act](nn), norm_first=norm_first, batch_first=True), dtype)
    rng = np.random.default_rng(4)
    tgt, mem = rng.standard_normal((2, 4, 8)), rng.standard_normal((2, 5, 8))
    masks = {"tgt_mask": np.triu(np.ones((4, 4), bool), 1), "memory_mask": rng.standard_normal((4, 5)),
             "tgt_key_padding_mask": _kpm(2, 4), "memory_key_padding_mask": _kpm(2, 5)}
    _run_both(t_mod, g_mod, [tgt, mem], dtype, masks)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", (False, True))
@pytest.mark.parametrize("batch_first", (False, True))
def test_transformer(batch_first, norm_first, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note about nested tensors not being used
        t_mod, g_mod = _modules(lambda nn: nn.Transformer(
            8, 2, 2, 2, 16, activation="gelu", batch_first=batch_first, norm_first=norm_first), dtype)
    rng = np.random.default_rng(5)
    src, tgt = rng.standard_normal((5, 2, 8)), rng.standard_normal((4, 2, 8))
    if batch_first:
        src, tgt = src.transpose(1, 0, 2), tgt.transpose(1, 0, 2)
    masks = {"tgt_mask": np.triu(np.full((4, 4), -np.inf), 1), "src_key_padding_mask": _kpm(2, 5),
             "memory_key_padding_mask": _kpm(2, 5), "tgt_key_padding_mask": _kpm(2, 4)}
    _run_both(t_mod, g_mod, [src, tgt], dtype, masks)


@pytest.mark.parametrize("dtype", DTYPES)
def test_encoder_and_decoder_stacks_with_norm(dtype):
    def enc(nn):
        return nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 3,
                                     norm=nn.LayerNorm(8), enable_nested_tensor=False)

    def dec(nn):
        return nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 2, norm=nn.LayerNorm(8))
    rng = np.random.default_rng(6)
    t_mod, g_mod = _modules(enc, dtype)
    _run_both(t_mod, g_mod, [rng.standard_normal((2, 5, 8))], dtype,
              {"mask": np.triu(np.full((5, 5), -np.inf), 1), "src_key_padding_mask": _kpm(2, 5)})
    t_mod, g_mod = _modules(dec, dtype)
    _run_both(t_mod, g_mod, [rng.standard_normal((4, 2, 8)), rng.standard_normal((5, 2, 8))], dtype,
              {"tgt_mask": np.triu(np.full((4, 4), -np.inf), 1)}, tgt_is_causal=True)


def test_unbatched_transformer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_mod, g_mod = _modules(lambda nn: nn.Transformer(8, 2, 1, 1, 16), "float64")
    rng = np.random.default_rng(8)
    _run_both(t_mod, g_mod, [rng.standard_normal((5, 8)), rng.standard_normal((3, 8))], "float64")


def test_state_dict_round_trip_from_tapegrad_to_torch():
    """tapegrad's freshly initialised weights loaded into torch give tapegrad's outputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_mod = torch.nn.Transformer(8, 2, 2, 1, 16, dropout=0.0).double().eval()
    g_mod = tnn.Transformer(8, 2, 2, 1, 16, dropout=0.0).double().eval()
    _copy_into(g_mod, t_mod, torch)
    rng = np.random.default_rng(9)
    src, tgt = rng.standard_normal((5, 2, 8)), rng.standard_normal((4, 2, 8))
    mask = tnn.Transformer.generate_square_subsequent_mask(4, dtype=tg.float64)
    g = g_mod(tg.tensor(src), tg.tensor(tgt), tgt_mask=mask)
    t = t_mod(torch.tensor(src), torch.tensor(tgt), tgt_mask=torch.tensor(_np(mask)))
    _close(t, g, "float64", "output")


def test_generate_square_subsequent_mask():
    for sz in (1, 4):
        for dtype in (None, "float64"):
            kw_t = {} if dtype is None else {"dtype": getattr(torch, dtype)}
            kw_g = {} if dtype is None else {"dtype": getattr(tg, dtype)}
            t = torch.nn.Transformer.generate_square_subsequent_mask(sz, **kw_t)
            g = tnn.Transformer.generate_square_subsequent_mask(sz, **kw_g)
            assert str(g.dtype) == str(t.dtype)
            np.testing.assert_array_equal(_np(g), _np(t))


def test_transformer_layout_and_repr():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = [(torch.nn.Transformer(8, 2, 2, 2, 16), tnn.Transformer(8, 2, 2, 2, 16)),
                 (torch.nn.TransformerEncoderLayer(8, 2, 16, activation=torch.nn.GELU()),
                  tnn.TransformerEncoderLayer(8, 2, 16, activation=tnn.GELU())),
                 (torch.nn.TransformerDecoderLayer(8, 2, 16, bias=False, layer_norm_eps=1e-3),
                  tnn.TransformerDecoderLayer(8, 2, 16, bias=False, layer_norm_eps=1e-3))]
    for t, g in pairs:
        assert [n for n, _ in g.named_modules()] == [n for n, _ in t.named_modules()]
        assert list(g.state_dict()) == list(t.state_dict())
        assert repr(g) == repr(t)
    t, g = pairs[0]
    assert (g.d_model, g.nhead, g.batch_first) == (t.d_model, t.nhead, t.batch_first)
    assert g.encoder.num_layers == t.encoder.num_layers == 2


def _transformer_bad(lib):
    nn = torch.nn if lib is torch else tnn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = nn.Transformer(8, 2, 1, 1, 16)
        layer = nn.TransformerEncoderLayer(8, 2, 16)
        enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 1, enable_nested_tensor=False)
    r = lib.ones
    return {
        "activation": lambda: nn.TransformerEncoderLayer(8, 2, 16, activation="tanh"),
        "batch": lambda: t(r(3, 2, 8), r(4, 3, 8)),
        "features": lambda: t(r(3, 2, 7), r(4, 2, 7)),
        "unbatched-mixed": lambda: t(r(3, 8), r(4, 2, 8)),
        "layer-4d": lambda: layer(r(1, 3, 2, 8)),
        "layer-causal-no-mask": lambda: layer(r(3, 2, 8), is_causal=True),
        "encoder-causal-no-mask": lambda: enc(r(3, 2, 8), is_causal=True),
    }


@pytest.mark.parametrize("case", list(_transformer_bad(tg)))
def test_transformer_bad_input(case):
    _errors(_transformer_bad(torch)[case], _transformer_bad(tg)[case])


@pytest.mark.parametrize("dtype", DTYPES)
def test_multihead_attention_float_mask_gradients(dtype):
    """Float masks that require grad get torch's gradients (attn_mask 3-D, key_padding_mask)."""
    t_mod, g_mod = _modules(lambda nn: nn.MultiheadAttention(E, H), dtype)
    rng = np.random.default_rng(12)
    x = _pair(rng.standard_normal((L, N, E)), dtype)
    am = _pair(rng.standard_normal((N * H, L, L)), dtype)
    kp = _pair(rng.standard_normal((N, L)), dtype)
    outs = [mod(x[i], x[i], x[i], attn_mask=am[i], key_padding_mask=kp[i])
            for i, mod in enumerate((t_mod, g_mod))]
    for i in range(2):
        (outs[i][0].sum() + (outs[i][1] ** 2).sum()).backward()
    _close(outs[0][0], outs[1][0], dtype, "output")
    for name, (t, g) in (("x", x), ("attn_mask", am), ("key_padding_mask", kp)):
        _close(t.grad, g.grad, dtype, name)


@pytest.mark.parametrize("where", ("layer", "encoder"))
def test_encoder_mismatched_mask_types_warn_like_torch(where):
    def build(nn):
        layer = nn.TransformerEncoderLayer(8, 2, 16)
        return layer if where == "layer" else nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
    t_mod, g_mod = _modules(build, "float32")
    x = np.random.default_rng(2).standard_normal((4, 2, 8)).astype(np.float32)
    kp, am = np.zeros((2, 4), bool), np.zeros((4, 4), np.float32)
    key = "src_mask" if where == "layer" else "mask"
    seen = []
    for lib, mod in ((torch, t_mod), (tg, g_mod)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            mod(lib.tensor(x), src_key_padding_mask=lib.tensor(kp), **{key: lib.tensor(am)})
        seen.append([str(i.message) for i in w if issubclass(i.category, UserWarning)])
    assert seen[0] == seen[1] and seen[0]


def test_sdpa_forward_mode_matches_torch():
    import tapegrad.autograd.forward_ad as gad
    import torch.autograd.forward_ad as tad
    rng = np.random.default_rng(13)
    prim = [rng.standard_normal(s) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5))]
    tang = [rng.standard_normal(a.shape) for a in prim]
    tangents = []
    for lib, ad, F in ((torch, tad, torch.nn.functional), (tg, gad, TF)):
        with ad.dual_level():
            q, k, v, m = (ad.make_dual(lib.tensor(a), lib.tensor(t)) for a, t in zip(prim, tang, strict=True))
            tangents.append(ad.unpack_dual(F.scaled_dot_product_attention(q, k, v, attn_mask=m)).tangent)
    _close(tangents[0], tangents[1], "float64", "tangent")

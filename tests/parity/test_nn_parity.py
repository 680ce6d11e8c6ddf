"""Layer-by-layer parity of ``tapegrad.nn`` with ``torch.nn``.

torch is the specification. Every layer case builds the same module in both libraries
(the same factory, called with ``tapegrad.nn`` and with ``torch.nn``), copies tapegrad's
parameters into the torch module through ``state_dict`` (NumPy in between), runs the
same input in float64 and float32 and compares

* the output (and any extra outputs such as max-pool indices),
* the gradient of every floating input and of every parameter after ``backward``
  with the same random upstream gradient,
* parameter names and shapes, ``state_dict`` keys and buffer names.

Other tests cover BatchNorm's running statistics over several steps, dropout's
statistics (the random streams differ, so only the fraction zeroed and the scaling
are compared), default initialisation statistics and module reprs.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# torch's own note about padding='same' with an even kernel is not a tapegrad concern
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")

import tapegrad as tg  # noqa: E402
import tapegrad.nn as tnn  # noqa: E402

TOL = {
    "float64": dict(rtol=1e-10, atol=1e-12),
    "float32": dict(rtol=2e-4, atol=2e-5),
}
DTYPES = ("float64", "float32")


# =========================================================================== helpers
def _np(t):
    """A tapegrad or torch tensor as a NumPy array."""
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return t.detach().numpy()


def _tg_dtype(name):
    return getattr(tg, name)


def _th_dtype(name):
    return getattr(torch, name)


def copy_tg_to_torch(tg_mod, th_mod):
    """Load tapegrad's state_dict into the torch module (keys must be torch's)."""
    sd = OrderedDict((k, torch.from_numpy(np.array(_np(v)))) for k, v in tg_mod.state_dict().items())
    th_mod.load_state_dict(sd)


def copy_torch_to_tg(th_mod, tg_mod):
    sd = OrderedDict((k, tg.tensor(np.array(_np(v)))) for k, v in th_mod.state_dict().items())
    tg_mod.load_state_dict(sd)


def assert_close(a, b, dtype, what=""):
    a, b = _np(a) if not isinstance(a, np.ndarray) else a, _np(b) if not isinstance(b, np.ndarray) else b
    assert a.shape == b.shape, f"{what}: shape {a.shape} != torch's {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def assert_same_structure(tg_mod, th_mod):
    tp = [(n, tuple(p.shape)) for n, p in tg_mod.named_parameters()]
    hp = [(n, tuple(p.shape)) for n, p in th_mod.named_parameters()]
    assert tp == hp
    assert list(tg_mod.state_dict().keys()) == list(th_mod.state_dict().keys())
    assert [n for n, _ in tg_mod.named_buffers()] == [n for n, _ in th_mod.named_buffers()]
    for (n, tb), (_, hb) in zip(tg_mod.named_buffers(), th_mod.named_buffers(), strict=True):
        assert tuple(tb.shape) == tuple(hb.shape), n
        assert str(tb.dtype) == str(hb.dtype), n


def run_both(tg_mod, th_mod, arrays, dtype, rng, grad_inputs=None, upstream=None):
    """Forward both modules on the same inputs, backward the same upstream gradient,
    compare outputs, input gradients and parameter gradients. Returns the outputs."""
    if grad_inputs is None:
        grad_inputs = [a.dtype.kind == "f" for a in arrays]
    tg_in, th_in = [], []
    for a, g in zip(arrays, grad_inputs, strict=True):
        if a.dtype.kind == "f":
            a = a.astype(dtype)
        tg_in.append(tg.tensor(a.copy(), requires_grad=bool(g)))
        th_in.append(torch.tensor(a.copy(), requires_grad=bool(g)))
    out_tg = tg_mod(*tg_in)
    out_th = th_mod(*th_in)
    outs_tg = out_tg if isinstance(out_tg, tuple) else (out_tg,)
    outs_th = out_th if isinstance(out_th, tuple) else (out_th,)
    assert len(outs_tg) == len(outs_th)
    for i, (a, b) in enumerate(zip(outs_tg, outs_th, strict=True)):
        assert str(a.dtype) == str(b.dtype), f"output {i} dtype"
        if b.dtype.is_floating_point:
            assert_close(a, b, dtype, f"output {i}")
        else:
            np.testing.assert_array_equal(_np(a), _np(b), err_msg=f"output {i}")
    if not outs_th[0].requires_grad:
        return out_tg, out_th
    g = rng.standard_normal(tuple(outs_th[0].shape)) if upstream is None else upstream
    outs_tg[0].backward(tg.tensor(g.astype(dtype)))
    outs_th[0].backward(torch.tensor(g.astype(dtype)))
    for i, (a, b) in enumerate(zip(tg_in, th_in, strict=True)):
        if b.requires_grad:
            assert a.grad is not None, f"input {i} got no grad"
            assert_close(a.grad, b.grad, dtype, f"grad of input {i}")
    tparams = dict(tg_mod.named_parameters())
    for name, p in th_mod.named_parameters():
        q = tparams[name]
        if p.grad is None:
            assert q.grad is None, f"{name}: tapegrad has a grad, torch has none"
        else:
            assert q.grad is not None, f"{name}: no grad"
            assert_close(q.grad, p.grad, dtype, f"grad of {name}")
    return out_tg, out_th


def build(factory, dtype):
    tg_mod = factory(tnn)
    th_mod = factory(torch.nn)
    tg_mod.to(_tg_dtype(dtype))
    th_mod.to(_th_dtype(dtype))
    copy_tg_to_torch(tg_mod, th_mod)
    return tg_mod, th_mod


# =========================================================================== layer cases
def _away_from_zero(rng, shape, lo=0.05):
    """Random values with |x| >= lo (kinks of ReLU-like functions are not compared)."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < lo, np.sign(x + 1e-12) * lo + x, x)


# (id, factory(nn) -> module, [input shapes or arrays], train mode)
LAYER_CASES = [
    # ---- Linear / Bilinear
    ("linear", lambda nn: nn.Linear(5, 3), [(4, 5)]),
    ("linear-nobias", lambda nn: nn.Linear(5, 3, bias=False), [(4, 5)]),
    ("linear-3d", lambda nn: nn.Linear(5, 3), [(2, 3, 5)]),
    ("linear-batch1", lambda nn: nn.Linear(5, 3), [(1, 5)]),
    ("linear-unbatched", lambda nn: nn.Linear(5, 3), [(5,)]),
    ("bilinear", lambda nn: nn.Bilinear(4, 3, 2), [(5, 4), (5, 3)]),
    ("bilinear-nobias", lambda nn: nn.Bilinear(4, 3, 2, bias=False), [(5, 4), (5, 3)]),
    ("bilinear-3d", lambda nn: nn.Bilinear(4, 3, 2), [(2, 5, 4), (2, 5, 3)]),
    # ---- Conv1d
    ("conv1d", lambda nn: nn.Conv1d(3, 4, 3), [(2, 3, 11)]),
    ("conv1d-stride-pad", lambda nn: nn.Conv1d(3, 4, 3, stride=2, padding=1), [(2, 3, 11)]),
    ("conv1d-dil", lambda nn: nn.Conv1d(3, 4, 3, dilation=2, padding=2, bias=False), [(1, 3, 9)]),
    ("conv1d-groups", lambda nn: nn.Conv1d(4, 6, 3, groups=2), [(2, 4, 8)]),
    ("conv1d-same", lambda nn: nn.Conv1d(3, 4, 4, padding="same"), [(2, 3, 9)]),
    ("conv1d-valid", lambda nn: nn.Conv1d(3, 4, 4, padding="valid"), [(2, 3, 9)]),
    ("conv1d-reflect", lambda nn: nn.Conv1d(3, 4, 3, padding=2, padding_mode="reflect"), [(2, 3, 7)]),
    ("conv1d-replicate", lambda nn: nn.Conv1d(3, 4, 3, padding=2, padding_mode="replicate"), [(2, 3, 7)]),
    ("conv1d-circular", lambda nn: nn.Conv1d(3, 4, 3, padding=1, padding_mode="circular"), [(2, 3, 7)]),
    ("conv1d-unbatched", lambda nn: nn.Conv1d(3, 4, 3), [(3, 7)]),
    # ---- Conv2d
    ("conv2d", lambda nn: nn.Conv2d(3, 4, 3), [(2, 3, 7, 5)]),
    ("conv2d-batch1", lambda nn: nn.Conv2d(3, 4, 3), [(1, 3, 7, 5)]),
    ("conv2d-unbatched", lambda nn: nn.Conv2d(3, 4, 3), [(3, 7, 5)]),
    ("conv2d-stride-pad", lambda nn: nn.Conv2d(3, 8, 3, stride=2, padding=1), [(2, 3, 7, 5)]),
    ("conv2d-rect", lambda nn: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0)), [(2, 3, 7, 5)]),
    ("conv2d-dil", lambda nn: nn.Conv2d(3, 4, 3, dilation=2, padding=1), [(2, 3, 7, 5)]),
    ("conv2d-dil-rect", lambda nn: nn.Conv2d(3, 4, 2, dilation=(2, 1), stride=(1, 2)), [(2, 3, 7, 5)]),
    ("conv2d-nobias", lambda nn: nn.Conv2d(3, 4, 3, padding=1, bias=False), [(2, 3, 7, 5)]),
    ("conv2d-groups", lambda nn: nn.Conv2d(4, 6, 3, groups=2, padding=1), [(2, 4, 7, 5)]),
    ("conv2d-depthwise", lambda nn: nn.Conv2d(3, 3, 3, groups=3, padding=1), [(2, 3, 7, 5)]),
    ("conv2d-depthwise-mult", lambda nn: nn.Conv2d(3, 6, 3, groups=3, stride=2), [(2, 3, 7, 5)]),
    ("conv2d-1x1", lambda nn: nn.Conv2d(3, 5, 1), [(2, 3, 7, 5)]),
    ("conv2d-same-odd", lambda nn: nn.Conv2d(3, 4, 3, padding="same"), [(2, 3, 7, 5)]),
    ("conv2d-same-even", lambda nn: nn.Conv2d(3, 4, 4, padding="same"), [(2, 3, 7, 5)]),
    ("conv2d-same-dil", lambda nn: nn.Conv2d(3, 4, (2, 3), padding="same", dilation=(3, 2)), [(2, 3, 7, 5)]),
    ("conv2d-valid", lambda nn: nn.Conv2d(3, 4, 3, padding="valid"), [(2, 3, 7, 5)]),
    ("conv2d-reflect", lambda nn: nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode="reflect"), [(2, 3, 7, 5)]),
    ("conv2d-replicate", lambda nn: nn.Conv2d(3, 4, 3, padding=2, padding_mode="replicate"), [(2, 3, 7, 5)]),
    (
        "conv2d-circular",
        lambda nn: nn.Conv2d(3, 4, 3, padding=(2, 1), padding_mode="circular"),
        [(2, 3, 7, 5)],
    ),
    (
        "conv2d-reflect-stride",
        lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding=1, padding_mode="reflect"),
        [(2, 3, 7, 5)],
    ),
    (
        "conv2d-same-reflect",
        lambda nn: nn.Conv2d(3, 4, 4, padding="same", padding_mode="reflect"),
        [(2, 3, 7, 5)],
    ),
    (
        "conv2d-same-circular",
        lambda nn: nn.Conv2d(3, 4, 3, padding="same", padding_mode="circular"),
        [(2, 3, 7, 5)],
    ),
    # ---- ConvTranspose2d
    ("convT", lambda nn: nn.ConvTranspose2d(3, 4, 3), [(2, 3, 7, 5)]),
    ("convT-stride", lambda nn: nn.ConvTranspose2d(3, 4, 3, stride=2), [(2, 3, 7, 5)]),
    ("convT-stride-pad", lambda nn: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1), [(2, 3, 7, 5)]),
    (
        "convT-outpad",
        lambda nn: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
        [(2, 3, 7, 5)],
    ),
    (
        "convT-outpad-rect",
        lambda nn: nn.ConvTranspose2d(3, 4, (3, 2), stride=(3, 2), padding=(1, 0), output_padding=(2, 1)),
        [(1, 3, 7, 5)],
    ),
    ("convT-groups", lambda nn: nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), [(2, 4, 7, 5)]),
    ("convT-depthwise", lambda nn: nn.ConvTranspose2d(3, 3, 3, groups=3, padding=1), [(2, 3, 7, 5)]),
    (
        "convT-dil",
        lambda nn: nn.ConvTranspose2d(3, 4, 3, dilation=2, stride=2, output_padding=1),
        [(2, 3, 7, 5)],
    ),
    ("convT-nobias", lambda nn: nn.ConvTranspose2d(3, 4, 2, stride=2, bias=False), [(2, 3, 7, 5)]),
    ("convT-unbatched", lambda nn: nn.ConvTranspose2d(3, 4, 3, stride=2), [(3, 7, 5)]),
    # ---- normalisation
    ("layernorm", lambda nn: nn.LayerNorm(5), [(4, 5)]),
    ("layernorm-2d", lambda nn: nn.LayerNorm((3, 5)), [(2, 4, 3, 5)]),
    ("layernorm-noaffine", lambda nn: nn.LayerNorm(5, elementwise_affine=False), [(2, 3, 5)]),
    ("layernorm-nobias", lambda nn: nn.LayerNorm(5, bias=False), [(2, 3, 5)]),
    ("layernorm-eps", lambda nn: nn.LayerNorm([7, 5], eps=1e-2), [(2, 3, 7, 5)]),
    ("groupnorm", lambda nn: nn.GroupNorm(2, 4), [(3, 4, 7, 5)]),
    ("groupnorm-1", lambda nn: nn.GroupNorm(1, 6), [(2, 6, 3)]),
    ("groupnorm-inst", lambda nn: nn.GroupNorm(3, 3), [(2, 3, 7, 5)]),
    ("groupnorm-noaffine", lambda nn: nn.GroupNorm(2, 6, affine=False, eps=1e-3), [(2, 6, 7, 5)]),
    ("groupnorm-2d", lambda nn: nn.GroupNorm(2, 4), [(5, 4)]),
    # ---- activations
    ("relu", lambda nn: nn.ReLU(), ["kink", (3, 4, 5)]),
    ("leaky_relu", lambda nn: nn.LeakyReLU(), ["kink", (3, 4, 5)]),
    ("leaky_relu-0.2", lambda nn: nn.LeakyReLU(0.2), ["kink", (3, 4, 5)]),
    ("gelu", lambda nn: nn.GELU(), [(3, 4, 5)]),
    ("gelu-tanh", lambda nn: nn.GELU(approximate="tanh"), [(3, 4, 5)]),
    ("silu", lambda nn: nn.SiLU(), [(3, 4, 5)]),
    ("sigmoid", lambda nn: nn.Sigmoid(), [(3, 4, 5)]),
    ("tanh", lambda nn: nn.Tanh(), [(3, 4, 5)]),
    ("softmax-1", lambda nn: nn.Softmax(dim=1), [(3, 4, 5)]),
    ("softmax-last", lambda nn: nn.Softmax(dim=-1), [(3, 4, 5)]),
    ("softmax-0", lambda nn: nn.Softmax(dim=0), [(3, 4)]),
    ("log_softmax-1", lambda nn: nn.LogSoftmax(dim=1), [(3, 4, 5)]),
    ("log_softmax-last", lambda nn: nn.LogSoftmax(dim=-1), [(2, 7)]),
    # ---- pooling
    ("maxpool2", lambda nn: nn.MaxPool2d(2), [(2, 3, 7, 5)]),
    ("maxpool3-s2-p1", lambda nn: nn.MaxPool2d(3, stride=2, padding=1), [(2, 3, 7, 5)]),
    ("maxpool-rect", lambda nn: nn.MaxPool2d((2, 3), stride=(1, 2)), [(2, 3, 7, 5)]),
    ("maxpool-dil", lambda nn: nn.MaxPool2d(2, stride=1, dilation=2), [(2, 3, 7, 5)]),
    ("maxpool-dil-pad", lambda nn: nn.MaxPool2d(3, stride=2, padding=1, dilation=2), [(2, 3, 7, 5)]),
    ("maxpool-ceil", lambda nn: nn.MaxPool2d(2, ceil_mode=True), [(2, 3, 7, 5)]),
    ("maxpool-ceil-s2", lambda nn: nn.MaxPool2d(3, stride=2, ceil_mode=True), [(2, 3, 8, 6)]),
    ("maxpool-ceil-pad", lambda nn: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), [(2, 3, 6, 5)]),
    (
        "maxpool-ceil-lastwin-in-pad",
        lambda nn: nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True),
        [(2, 3, 5, 7)],
    ),
    ("maxpool-ceil-partial", lambda nn: nn.MaxPool2d(3, stride=3, ceil_mode=True), [(2, 3, 7, 5)]),
    ("maxpool-indices", lambda nn: nn.MaxPool2d(2, return_indices=True), [(2, 3, 7, 5)]),
    (
        "maxpool-indices-pad",
        lambda nn: nn.MaxPool2d(3, stride=2, padding=1, return_indices=True, ceil_mode=True),
        [(1, 3, 7, 5)],
    ),
    ("maxpool-unbatched", lambda nn: nn.MaxPool2d(2), [(3, 7, 5)]),
    ("maxpool-overlap", lambda nn: nn.MaxPool2d(3, stride=1), [(2, 3, 7, 5)]),
    ("avgpool2", lambda nn: nn.AvgPool2d(2), [(2, 3, 7, 5)]),
    ("avgpool3-s2-p1", lambda nn: nn.AvgPool2d(3, stride=2, padding=1), [(2, 3, 7, 5)]),
    (
        "avgpool-nopadcount",
        lambda nn: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        [(2, 3, 7, 5)],
    ),
    ("avgpool-ceil", lambda nn: nn.AvgPool2d(2, ceil_mode=True), [(2, 3, 7, 5)]),
    ("avgpool-ceil-pad", lambda nn: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), [(2, 3, 6, 5)]),
    (
        "avgpool-ceil-pad-nocount",
        lambda nn: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        [(2, 3, 6, 5)],
    ),
    (
        "avgpool-ceil-lastwin-in-pad",
        lambda nn: nn.AvgPool2d(2, stride=2, padding=1, ceil_mode=True),
        [(2, 3, 5, 7)],
    ),
    (
        "avgpool-ceil-lastwin-in-pad-nocount",
        lambda nn: nn.AvgPool2d(2, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        [(2, 3, 5, 7)],
    ),
    ("avgpool-ceil-partial", lambda nn: nn.AvgPool2d(3, stride=3, ceil_mode=True), [(2, 3, 7, 5)]),
    ("avgpool-divisor", lambda nn: nn.AvgPool2d(3, stride=2, padding=1, divisor_override=4), [(2, 3, 7, 5)]),
    ("avgpool-divisor-ceil", lambda nn: nn.AvgPool2d(2, ceil_mode=True, divisor_override=3), [(2, 3, 7, 5)]),
    ("avgpool-rect", lambda nn: nn.AvgPool2d((3, 2), stride=(2, 1), padding=(1, 0)), [(2, 3, 7, 5)]),
    ("avgpool-unbatched", lambda nn: nn.AvgPool2d(2), [(3, 7, 5)]),
    ("adaptive-1", lambda nn: nn.AdaptiveAvgPool2d((1, 1)), [(2, 3, 7, 5)]),
    ("adaptive-int1", lambda nn: nn.AdaptiveAvgPool2d(1), [(2, 3, 7, 5)]),
    ("adaptive-div", lambda nn: nn.AdaptiveAvgPool2d((2, 3)), [(2, 3, 4, 6)]),
    ("adaptive-nondiv", lambda nn: nn.AdaptiveAvgPool2d((3, 2)), [(2, 3, 7, 5)]),
    ("adaptive-nondiv-sq", lambda nn: nn.AdaptiveAvgPool2d(4), [(2, 3, 7, 5)]),
    ("adaptive-up", lambda nn: nn.AdaptiveAvgPool2d((9, 6)), [(1, 3, 7, 5)]),
    ("adaptive-none", lambda nn: nn.AdaptiveAvgPool2d((None, 2)), [(2, 3, 7, 5)]),
    ("adaptive-unbatched", lambda nn: nn.AdaptiveAvgPool2d((3, 2)), [(3, 7, 5)]),
    # ---- shape / containers
    ("flatten", lambda nn: nn.Flatten(), [(2, 3, 7, 5)]),
    ("flatten-0-2", lambda nn: nn.Flatten(0, 2), [(2, 3, 7, 5)]),
    ("identity", lambda nn: nn.Identity(), [(2, 3)]),
    ("identity-args", lambda nn: nn.Identity(54, unused="x"), [(2, 3)]),
    ("dropout-p0", lambda nn: nn.Dropout(0.0), [(4, 5)]),
    (
        "sequential",
        lambda nn: nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.GroupNorm(2, 4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 2, 1, bias=False),
            nn.Flatten(),
            nn.Linear(12, 3),
            nn.Tanh(),
        ),
        [(2, 3, 7, 5)],
    ),
    (
        "sequential-bn-inplace-relu",
        lambda nn: nn.Sequential(
            nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(4),
            nn.ReLU(inplace=True),
            nn.Conv2d(4, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.LeakyReLU(0.1, inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Flatten(),
            nn.Linear(4, 3),
        ),
        [(3, 3, 7, 5)],
    ),
    (
        "sequential-odict",
        lambda nn: nn.Sequential(
            OrderedDict([("fc1", nn.Linear(5, 6)), ("act", nn.GELU()), ("fc2", nn.Linear(6, 2))])
        ),
        [(3, 5)],
    ),
    (
        "sequential-nested",
        lambda nn: nn.Sequential(
            nn.Sequential(nn.Linear(5, 4), nn.SiLU()),
            nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)),
            nn.Linear(4, 1),
        ),
        [(3, 5)],
    ),
]


def _make_inputs(spec, rng):
    arrays = []
    kink = False
    for s in spec:
        if s == "kink":
            kink = True
            continue
        arrays.append(_away_from_zero(rng, s) if kink else rng.standard_normal(s))
    return arrays


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_parity(case, dtype, rng):
    _, factory, spec = case
    tg_mod, th_mod = build(factory, dtype)
    assert_same_structure(tg_mod, th_mod)
    run_both(tg_mod, th_mod, _make_inputs(spec, rng), dtype, rng)


@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_repr(case):
    _, factory, _ = case
    assert repr(factory(tnn)) == repr(factory(torch.nn))


def test_layer_eval_mode_same(rng):
    """Layers without mode-dependent behaviour give the same results in eval mode."""
    f = LAYER_CASES[[c[0] for c in LAYER_CASES].index("sequential")][1]
    tg_mod, th_mod = build(f, "float64")
    tg_mod.eval()
    th_mod.eval()
    run_both(tg_mod, th_mod, [rng.standard_normal((2, 3, 7, 5))], "float64", rng)


def test_torch_state_dict_into_tapegrad(rng):
    """The other direction: torch's (randomly initialised) weights loaded into tapegrad."""
    f = lambda nn: nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU(),  # noqa: E731
                                 nn.Flatten(), nn.Linear(24, 5))
    th_mod = f(torch.nn).double()
    tg_mod = f(tnn).double()
    with torch.no_grad():
        th_mod[1].running_mean.uniform_(-1, 1)
        th_mod[1].running_var.uniform_(0.5, 2)
        th_mod[1].weight.uniform_(0.5, 2)
        th_mod[1].bias.uniform_(-1, 1)
    th_mod[1].num_batches_tracked.fill_(7)
    copy_torch_to_tg(th_mod, tg_mod)
    for k, v in th_mod.state_dict().items():
        np.testing.assert_array_equal(_np(tg_mod.state_dict()[k]), _np(v), err_msg=k)
    assert str(tg_mod.state_dict()["1.num_batches_tracked"].dtype) == "torch.int64"
    tg_mod.eval()
    th_mod.eval()
    run_both(tg_mod, th_mod, [rng.standard_normal((2, 3, 7, 5))], "float64", rng)


def test_conv_transpose_output_size(rng):
    f = lambda nn: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1)  # noqa: E731
    tg_mod, th_mod = build(f, "float64")
    x = rng.standard_normal((2, 3, 4, 3))
    a = tg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    out_a = tg_mod(a, output_size=[8, 6])
    out_b = th_mod(b, output_size=[8, 6])
    assert tuple(out_a.shape) == tuple(out_b.shape) == (2, 4, 8, 6)
    assert_close(out_a, out_b, "float64")
    g = rng.standard_normal((2, 4, 8, 6))
    out_a.backward(tg.tensor(g))
    out_b.backward(torch.tensor(g))
    assert_close(a.grad, b.grad, "float64")
    assert_close(tg_mod.weight.grad, th_mod.weight.grad, "float64")


def test_conv_frozen_weight_input_grad(rng):
    """A frozen conv (weight requires_grad False) still passes the input gradient."""
    f = lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding=1)  # noqa: E731
    tg_mod, th_mod = build(f, "float64")
    tg_mod.requires_grad_(False)
    th_mod.requires_grad_(False)
    run_both(tg_mod, th_mod, [rng.standard_normal((2, 3, 7, 5))], "float64", rng)
    assert tg_mod.weight.grad is None and tg_mod.bias.grad is None


def test_conv_input_no_grad_weight_grad(rng):
    f = lambda nn: nn.Conv2d(4, 6, 3, groups=2, dilation=2, padding=1)  # noqa: E731
    tg_mod, th_mod = build(f, "float64")
    run_both(tg_mod, th_mod, [rng.standard_normal((2, 4, 7, 5))], "float64", rng, grad_inputs=[False])


@pytest.mark.parametrize(
    "factory",
    [
        lambda nn: nn.ReLU(inplace=True),
        lambda nn: nn.LeakyReLU(0.2, inplace=True),
        lambda nn: nn.SiLU(inplace=True),
        lambda nn: nn.Dropout(0.0, inplace=True),
    ],
    ids=["relu", "leaky_relu", "silu", "dropout-p0"],
)
def test_inplace_activation_modifies_input(factory, rng):
    """``inplace=True`` overwrites a non-leaf input and backpropagates like torch."""
    x = _away_from_zero(rng, (3, 4))
    a = tg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    ha, hb = a * 1.5, b * 1.5
    oa, ob = factory(tnn)(ha), factory(torch.nn)(hb)
    np.testing.assert_allclose(_np(ha), hb.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(oa), ob.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal((3, 4))
    oa.backward(tg.tensor(g))
    ob.backward(torch.tensor(g))
    np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), rtol=1e-12)


# =========================================================================== MaxPool return_indices
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=2, stride=1, dilation=2)])
def test_maxpool_indices(kw, rng):
    x = rng.standard_normal((2, 3, 7, 5))
    a, ia = tnn.MaxPool2d(return_indices=True, **kw)(tg.tensor(x))
    b, ib = torch.nn.MaxPool2d(return_indices=True, **kw)(torch.tensor(x))
    assert str(ia.dtype) == str(ib.dtype) == "torch.int64"
    np.testing.assert_array_equal(_np(ia), _np(ib))
    np.testing.assert_array_equal(_np(a), _np(b))


def test_maxpool_ties_gradient(rng):
    """Constant windows: torch sends the gradient to the first max of each window."""
    x = np.ones((1, 1, 4, 4))
    a = tg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    tnn.MaxPool2d(2, stride=1)(a).sum().backward()
    torch.nn.MaxPool2d(2, stride=1)(b).sum().backward()
    np.testing.assert_array_equal(_np(a.grad), _np(b.grad))


# =========================================================================== Embedding
@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
def test_embedding(padding_idx, rng):
    f = lambda nn: nn.Embedding(6, 4, padding_idx=padding_idx)  # noqa: E731
    tg_mod, th_mod = build(f, "float64")
    assert_same_structure(tg_mod, th_mod)
    assert repr(tg_mod) == repr(th_mod)
    if padding_idx is not None:
        row = padding_idx % 6
        np.testing.assert_array_equal(_np(tg_mod.weight)[row], 0.0)
        assert tg_mod.padding_idx == th_mod.padding_idx
    idx = np.array([[0, 3, 5, 3], [1, 0, 5, 2], [3, 3, 4, 0]], dtype=np.int64)
    run_both(tg_mod, th_mod, [idx], "float64", rng)
    if padding_idx is not None:
        np.testing.assert_array_equal(_np(tg_mod.weight.grad)[padding_idx % 6], 0.0)


@pytest.mark.parametrize("kw", [dict(max_norm=1.0), dict(max_norm=0.5, norm_type=1.0),
                                dict(scale_grad_by_freq=True), dict(scale_grad_by_freq=True, padding_idx=3),
                                dict(max_norm=1.5, scale_grad_by_freq=True)],
                         ids=["max_norm", "max_norm-l1", "freq", "freq-pad", "both"])
def test_embedding_options(kw, rng):
    f = lambda nn: nn.Embedding(6, 4, **kw)  # noqa: E731
    tg_mod, th_mod = build(f, "float64")
    assert repr(tg_mod) == repr(th_mod)
    idx = np.array([[0, 3, 5, 3], [1, 0, 5, 3], [3, 3, 4, 0]], dtype=np.int64)
    run_both(tg_mod, th_mod, [idx], "float64", rng)
    # max_norm renormalises the used rows of the weight in place
    assert_close(tg_mod.weight, th_mod.weight, "float64", "weight after forward")


def test_embedding_from_pretrained(rng):
    w = rng.standard_normal((5, 3))
    a = tnn.Embedding.from_pretrained(tg.tensor(w))
    b = torch.nn.Embedding.from_pretrained(torch.tensor(w))
    assert a.weight.requires_grad == b.weight.requires_grad is False
    idx = np.array([4, 0, 2])
    np.testing.assert_array_equal(_np(a(tg.tensor(idx))), _np(b(torch.tensor(idx))))


def test_embedding_errors():
    emb = tnn.Embedding(4, 2)
    with pytest.raises(IndexError, match="index out of range in self"):
        emb(tg.tensor([0, 4]))
    with pytest.raises(RuntimeError):
        emb(tg.tensor([0.0, 1.0]))


# =========================================================================== BatchNorm
BN_CASES = [
    ("bn1d-2d", lambda nn, **kw: nn.BatchNorm1d(3, **kw), (6, 3)),
    ("bn1d-3d", lambda nn, **kw: nn.BatchNorm1d(3, **kw), (4, 3, 5)),
    ("bn2d", lambda nn, **kw: nn.BatchNorm2d(3, **kw), (2, 3, 7, 5)),
    ("bn2d-batch1", lambda nn, **kw: nn.BatchNorm2d(3, **kw), (1, 3, 7, 5)),
]
BN_KW = [
    dict(),
    dict(momentum=None),
    dict(momentum=0.5, eps=1e-3),
    dict(affine=False),
    dict(track_running_stats=False),
    dict(affine=False, track_running_stats=False),
    dict(bias=False),
]


def _bn_kw_id(kw):
    return "-".join(f"{k}={v}" for k, v in kw.items()) or "default"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", BN_KW, ids=[_bn_kw_id(k) for k in BN_KW])
@pytest.mark.parametrize("case", BN_CASES, ids=[c[0] for c in BN_CASES])
def test_batchnorm(case, kw, dtype, rng):
    _, factory, shape = case
    tg_mod, th_mod = build(lambda nn: factory(nn, **kw), dtype)
    assert_same_structure(tg_mod, th_mod)
    assert repr(tg_mod) == repr(th_mod)
    if kw.get("affine", True):
        # non-trivial affine parameters
        w = rng.uniform(0.5, 2.0, 3)
        with torch.no_grad():
            th_mod.weight.copy_(torch.tensor(w))
        tg_mod.weight.data = tg.tensor(w.astype(dtype))
        if th_mod.bias is not None:
            bb = rng.uniform(-1, 1, 3)
            with torch.no_grad():
                th_mod.bias.copy_(torch.tensor(bb))
            tg_mod.bias.data = tg.tensor(bb.astype(dtype))
    # several training steps: running stats accumulate
    for step in range(3):
        x = rng.standard_normal(shape) * (1 + step) + step
        for p in tg_mod.parameters():
            p.grad = None
        th_mod.zero_grad()
        run_both(tg_mod, th_mod, [x], dtype, rng)
        for name, b in th_mod.named_buffers():
            tb = dict(tg_mod.named_buffers())[name]
            if b.dtype.is_floating_point:
                assert_close(tb, b, dtype, f"step {step}: {name}")
            else:
                assert int(tb.item()) == int(b.item()) == step + 1, name
    # eval mode: running statistics (or batch statistics without tracking)
    tg_mod.eval()
    th_mod.eval()
    for p in tg_mod.parameters():
        p.grad = None
    th_mod.zero_grad()
    run_both(tg_mod, th_mod, [rng.standard_normal(shape) + 0.5], dtype, rng)
    if kw.get("track_running_stats", True):
        assert int(tg_mod.num_batches_tracked.item()) == 3


def test_batchnorm_state_dict_and_reset(rng):
    a = tnn.BatchNorm2d(3)
    b = torch.nn.BatchNorm2d(3)
    x = rng.standard_normal((4, 3, 2, 2))
    a(tg.tensor(x.astype("float32")))
    b(torch.tensor(x.astype("float32")))
    sd_a, sd_b = a.state_dict(), b.state_dict()
    assert list(sd_a) == list(sd_b)
    for k in sd_b:
        np.testing.assert_allclose(_np(sd_a[k]), _np(sd_b[k]), rtol=1e-5, atol=1e-6, err_msg=k)
    a.reset_running_stats()
    b.reset_running_stats()
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_array_equal(_np(a.state_dict()[k]), _np(b.state_dict()[k]))


def test_batchnorm_train_errors():
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        tnn.BatchNorm1d(3)(tg.randn(1, 3))
    with pytest.raises(ValueError, match="expected 4D input"):
        tnn.BatchNorm2d(3)(tg.randn(2, 3))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        tnn.BatchNorm1d(3)(tg.randn(2, 3, 4, 4))


def test_batchnorm_wrong_channels_message():
    msgs = []
    for lib in (tg, torch):
        with pytest.raises(RuntimeError) as e:
            lib.nn.BatchNorm1d(3)(lib.ones(4, 5))
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1] == "running_mean should contain 5 elements not 3"


def test_batchnorm_eval_batch1_ok(rng):
    a = tnn.BatchNorm1d(3).eval()
    b = torch.nn.BatchNorm1d(3).eval()
    x = rng.standard_normal((1, 3)).astype("float32")
    np.testing.assert_allclose(_np(a(tg.tensor(x))), _np(b(torch.tensor(x))), rtol=1e-6)



@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 16, 16, 16), (4096, 16), (4, 16, 80)], ids=str)
def test_batchnorm_channels_innermost(shape, dtype, rng):
    """Inputs whose channel is innermost in memory (a convolution's channels-last output, a
    (B, C) batch) take batch norm's (M, C) rows path: torch's values, as the same input laid
    out channels-first (the general path) gives them."""
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    up = rng.standard_normal(shape).astype(dtype)
    perm = (0,) + tuple(range(2, len(shape))) + (1,)
    back = tuple(np.argsort(perm))
    last = np.ascontiguousarray(x.transpose(perm)).transpose(back)    # channel innermost
    first = np.ascontiguousarray(x)                                   # channel outermost
    if len(shape) == 2:
        last, first = x, np.asfortranarray(x)
    outs = []
    for arr in (last, first):
        mod = (tnn.BatchNorm2d if len(shape) == 4 else tnn.BatchNorm1d)(shape[1]).to(dtype=getattr(tg, dtype))
        with tg.no_grad():
            mod.weight.copy_(tg.tensor(np.linspace(0.5, 2.0, shape[1]).astype(dtype)))
            mod.bias.copy_(tg.tensor(np.linspace(-1.0, 1.0, shape[1]).astype(dtype)))
        xt = tg.from_numpy(arr).requires_grad_()
        y = mod(xt)
        y.backward(tg.from_numpy(np.ascontiguousarray(up)))
        outs.append([_np(v) for v in (y, xt.grad, mod.weight.grad, mod.bias.grad, mod.running_mean,
                                      mod.running_var)])
    th = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(shape[1])
    th = th.to(getattr(torch, dtype))
    with torch.no_grad():
        th.weight.copy_(torch.tensor(np.linspace(0.5, 2.0, shape[1])))
        th.bias.copy_(torch.tensor(np.linspace(-1.0, 1.0, shape[1])))
    xh = torch.tensor(x, requires_grad=True)
    yh = th(xh)
    yh.backward(torch.tensor(up))
    want = [v.detach() for v in (yh, xh.grad, th.weight.grad, th.bias.grad, th.running_mean, th.running_var)]
    names = ("output", "input grad", "weight grad", "bias grad", "running_mean", "running_var")
    for name, a, b, h in zip(names, outs[0], outs[1], want, strict=True):
        assert_close(a, h, dtype, f"{name} (channels innermost)")
        assert_close(b, h, dtype, f"{name} (channels first)")

# =========================================================================== Dropout
def test_dropout_eval_and_p0_exact(rng):
    x = rng.standard_normal((50, 40))
    for m in (tnn.Dropout(0.5).eval(), tnn.Dropout(0.0)):
        a = tg.tensor(x, requires_grad=True)
        out = m(a)
        np.testing.assert_array_equal(_np(out), x)
        out.backward(tg.tensor(np.ones_like(x)))
        np.testing.assert_array_equal(_np(a.grad), np.ones_like(x))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_train_statistics(p, rng):
    tg.manual_seed(0)
    x = rng.uniform(1.0, 2.0, (200, 250))
    a = tg.tensor(x, requires_grad=True)
    out = tnn.Dropout(p)(a)
    o = _np(out)
    zero = o == 0
    n = o.size
    frac = zero.mean()
    # binomial: 5 standard deviations
    assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(o[~zero], x[~zero] / (1 - p), rtol=1e-12)
    out.backward(tg.tensor(np.ones_like(x)))
    g = _np(a.grad)
    np.testing.assert_array_equal(g[zero], 0.0)
    np.testing.assert_allclose(g[~zero], 1 / (1 - p), rtol=1e-12)
    # torch has the same statistics and scaling
    ot = torch.nn.Dropout(p)(torch.tensor(x)).numpy()
    assert abs((ot == 0).mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(ot[ot != 0], x[ot != 0] / (1 - p), rtol=1e-12)


def test_dropout_p1_and_invalid():
    x = tg.ones(3, 4, requires_grad=True)
    out = tnn.Dropout(1.0)(x)
    np.testing.assert_array_equal(_np(out), torch.nn.Dropout(1.0)(torch.ones(3, 4)).numpy())
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        tnn.Dropout(1.5)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        torch.nn.Dropout(1.5)


def test_dropout_seeded_reproducible():
    x = tg.ones(20, 20)
    tg.manual_seed(123)
    a = _np(tnn.Dropout(0.3)(x))
    tg.manual_seed(123)
    b = _np(tnn.Dropout(0.3)(x))
    np.testing.assert_array_equal(a, b)


# =========================================================================== containers
class _Net:
    """A module using ModuleList and ModuleDict, defined for both libraries."""

    @staticmethod
    def make(nn):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([nn.Linear(5, 5) for _ in range(3)])
                self.heads = nn.ModuleDict({"a": nn.Linear(5, 2), "b": nn.Linear(5, 3, bias=False)})
                self.act = nn.ReLU()

            def forward(self, x):
                for blk in self.blocks:
                    x = self.act(blk(x)) + x
                return self.heads["a"](x).sum(-1, keepdim=True) * self.heads["b"](x)

        return Net()


@pytest.mark.parametrize("dtype", DTYPES)
def test_modulelist_moduledict(dtype, rng):
    tg_mod, th_mod = build(_Net.make, dtype)
    assert_same_structure(tg_mod, th_mod)
    run_both(tg_mod, th_mod, [rng.standard_normal((4, 5))], dtype, rng)
    assert repr(tg_mod) == repr(th_mod)


def test_container_reprs():
    for f in (
        lambda nn: nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Linear(2, 2), nn.Linear(2, 2), nn.Tanh()]),
        lambda nn: nn.ModuleList(),
        lambda nn: nn.ModuleList([nn.Linear(2, 3)]),
        lambda nn: nn.ModuleDict({"x": nn.ReLU(), "y": nn.Sequential(nn.Linear(2, 2))}),
        lambda nn: nn.Sequential(),
    ):
        assert repr(f(tnn)) == repr(f(torch.nn))


def test_sequential_indexing():
    for nn in (tnn, torch.nn):
        s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        assert isinstance(s[0], nn.Linear) and isinstance(s[-1], nn.Linear)
        assert len(s[1:]) == 2 and isinstance(s[1:], nn.Sequential)
    a = tnn.Sequential(tnn.Linear(2, 3), tnn.ReLU(), tnn.Linear(3, 1))
    b = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    assert [n for n, _ in a[1:].named_children()] == [n for n, _ in b[1:].named_children()]
    del a[0]
    del b[0]
    assert [n for n, _ in a.named_children()] == [n for n, _ in b.named_children()]
    a.append(tnn.Tanh())
    b.append(torch.nn.Tanh())
    assert repr(a) == repr(b)


# =========================================================================== init statistics
def _uniform_bound_ok(arr, bound):
    arr = np.asarray(arr).ravel()
    assert arr.max() <= bound and arr.min() >= -bound
    # U(-b, b): std b/sqrt(3); large samples are within a few percent
    assert abs(arr.std() - bound / math.sqrt(3)) < 0.06 * bound
    assert abs(arr.mean()) < 0.05 * bound


def test_init_linear():
    tg.manual_seed(0)
    m = tnn.Linear(200, 300)
    bound = 1 / math.sqrt(200)
    _uniform_bound_ok(_np(m.weight), bound)
    _uniform_bound_ok(_np(m.bias), bound)
    assert str(m.weight.dtype) == "torch.float32"
    assert m.weight.requires_grad and m.weight.is_leaf
    assert isinstance(m.weight, tnn.Parameter)


def test_init_conv():
    tg.manual_seed(0)
    m = tnn.Conv2d(16, 64, 3)
    bound = 1 / math.sqrt(16 * 9)
    _uniform_bound_ok(_np(m.weight), bound)
    assert np.abs(_np(m.bias)).max() <= bound
    m = tnn.Conv2d(16, 64, 3, groups=4)
    bound = 1 / math.sqrt(4 * 9)
    _uniform_bound_ok(_np(m.weight), bound)
    # transposed: fan_in is computed from weight.size(1) = out_channels / groups (torch's quirk)
    m = tnn.ConvTranspose2d(64, 8, 3)
    bound = 1 / math.sqrt(8 * 9)
    _uniform_bound_ok(_np(m.weight), bound)
    assert np.abs(_np(m.bias)).max() <= bound
    m = tnn.Conv1d(10, 200, 5)
    _uniform_bound_ok(_np(m.weight), 1 / math.sqrt(50))


def test_init_bilinear_embedding_norms():
    tg.manual_seed(0)
    m = tnn.Bilinear(20, 30, 40)
    _uniform_bound_ok(_np(m.weight), 1 / math.sqrt(20))
    assert np.abs(_np(m.bias)).max() <= 1 / math.sqrt(20)
    e = _np(tnn.Embedding(300, 100).weight)
    assert abs(e.mean()) < 0.02 and abs(e.std() - 1) < 0.02
    for m in (tnn.BatchNorm2d(5), tnn.LayerNorm(5), tnn.GroupNorm(1, 5)):
        np.testing.assert_array_equal(_np(m.weight), 1.0)
        np.testing.assert_array_equal(_np(m.bias), 0.0)
    bn = tnn.BatchNorm1d(4)
    np.testing.assert_array_equal(_np(bn.running_mean), 0.0)
    np.testing.assert_array_equal(_np(bn.running_var), 1.0)
    assert int(bn.num_batches_tracked.item()) == 0


def test_init_dtype_argument():
    for m in (tnn.Linear(3, 2, dtype=tg.float64), tnn.Conv2d(2, 2, 3, dtype=tg.float64),
              tnn.BatchNorm2d(2, dtype=tg.float64), tnn.LayerNorm(3, dtype=tg.float64),
              tnn.Embedding(3, 2, dtype=tg.float64), tnn.GroupNorm(1, 2, dtype=tg.float64)):
        for p in m.parameters():
            assert str(p.dtype) == "torch.float64", type(m).__name__


def test_init_seeded_reproducible():
    tg.manual_seed(7)
    a = _np(tnn.Linear(4, 3).weight)
    tg.manual_seed(7)
    b = _np(tnn.Linear(4, 3).weight)
    np.testing.assert_array_equal(a, b)


# =========================================================================== reprs
REPR_CASES = [
    lambda nn: nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
    lambda nn: nn.Conv2d(3, 8, (3, 1), dilation=2, groups=1, padding_mode="reflect", padding=1),
    lambda nn: nn.Conv2d(4, 8, 3, groups=4, padding="same"),
    lambda nn: nn.Conv2d(4, 8, 3, padding="valid"),
    lambda nn: nn.Conv1d(2, 3, 3, padding="same", padding_mode="reflect"),
    lambda nn: nn.Conv1d(2, 3, 3, stride=2),
    lambda nn: nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1),
    lambda nn: nn.ConvTranspose2d(2, 4, 3, padding=1, groups=2, dilation=2, bias=False),
    lambda nn: nn.Linear(512, 10),
    lambda nn: nn.Linear(3, 2, bias=False),
    lambda nn: nn.Bilinear(2, 3, 4),
    lambda nn: nn.BatchNorm2d(64),
    lambda nn: nn.BatchNorm1d(3, momentum=None, affine=False),
    lambda nn: nn.BatchNorm1d(3, eps=1e-3, track_running_stats=False),
    lambda nn: nn.BatchNorm2d(3, bias=False),
    lambda nn: nn.LayerNorm(4),
    lambda nn: nn.LayerNorm([3, 4], eps=1e-6, elementwise_affine=False),
    lambda nn: nn.LayerNorm(4, bias=False),
    lambda nn: nn.GroupNorm(2, 4),
    lambda nn: nn.GroupNorm(2, 4, affine=False),
    lambda nn: nn.MaxPool2d(2),
    lambda nn: nn.MaxPool2d(3, 2, 1),
    lambda nn: nn.MaxPool2d((2, 3), stride=(1, 2), dilation=2, ceil_mode=True),
    lambda nn: nn.MaxPool2d(3, 2, 1, return_indices=True),
    lambda nn: nn.AvgPool2d(3),
    lambda nn: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    lambda nn: nn.AvgPool2d(2, divisor_override=3),
    lambda nn: nn.AdaptiveAvgPool2d((1, 1)),
    lambda nn: nn.AdaptiveAvgPool2d(7),
    lambda nn: nn.AdaptiveAvgPool2d((None, 3)),
    lambda nn: nn.ReLU(),
    lambda nn: nn.ReLU(inplace=True),
    lambda nn: nn.LeakyReLU(),
    lambda nn: nn.LeakyReLU(0.2, inplace=True),
    lambda nn: nn.GELU(),
    lambda nn: nn.GELU(approximate="tanh"),
    lambda nn: nn.SiLU(),
    lambda nn: nn.SiLU(inplace=True),
    lambda nn: nn.Sigmoid(),
    lambda nn: nn.Tanh(),
    lambda nn: nn.Softmax(dim=1),
    lambda nn: nn.Softmax(),
    lambda nn: nn.LogSoftmax(dim=-1),
    lambda nn: nn.Dropout(),
    lambda nn: nn.Dropout(0.2, inplace=True),
    lambda nn: nn.Flatten(),
    lambda nn: nn.Flatten(0, 2),
    lambda nn: nn.Identity(),
    lambda nn: nn.Embedding(10, 3),
    lambda nn: nn.Embedding(10, 3, padding_idx=0),
    lambda nn: nn.Embedding(10, 3, padding_idx=-1),
    lambda nn: nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8),
                             nn.ReLU(inplace=True), nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
                             nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Dropout(0.1),
                             nn.Linear(8, 10)),
    lambda nn: nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU()),
                                          ("inner", nn.Sequential(nn.Linear(2, 2), nn.Tanh()))])),
]


@pytest.mark.parametrize("i", range(len(REPR_CASES)))
def test_repr(i):
    f = REPR_CASES[i]
    assert repr(f(tnn)) == repr(f(torch.nn))


@pytest.mark.parametrize("i", range(len(REPR_CASES)))
def test_structure(i):
    f = REPR_CASES[i]
    assert_same_structure(f(tnn), f(torch.nn))


# =========================================================================== errors
def test_layer_errors():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x6 and 5x3\)"):
        tnn.Linear(5, 3)(tg.randn(4, 6))
    with pytest.raises(RuntimeError, match="expected input"):
        tnn.Conv2d(3, 4, 3)(tg.randn(2, 4, 7, 5))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        tnn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        tnn.Conv2d(3, 4, 3, stride=2, padding="same")
    for fn, shape in (("conv1d", (1, 1, 5)), ("conv2d", (1, 1, 5, 5))):   # the functions: RuntimeError
        kernel = shape[:2] + (3,) * (len(shape) - 2)
        for lib in (tg, torch):
            with pytest.raises(RuntimeError, match="padding='same' is not supported for strided"):
                getattr(lib.nn.functional, fn)(lib.ones(*shape), lib.ones(*kernel), padding="same", stride=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        tnn.Conv2d(3, 4, 3, padding_mode="bogus")
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        tnn.Conv2d(3, 4, 5)(tg.randn(1, 3, 3, 3))
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[5\]"):
        tnn.LayerNorm(5)(tg.randn(2, 4))
    with pytest.raises(RuntimeError):
        tnn.GroupNorm(2, 4)(tg.randn(2, 3, 4))


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
def test_maxpool_nan_windows_match_torch(kw, rng):
    """A window with NaN gives NaN, and torch points at its last NaN (value and gradient)."""
    x = rng.standard_normal((2, 3, 6, 6))
    x[0, 0, 0, :2] = np.nan            # two NaNs in one window
    x[1, 2, 3, 3] = np.nan
    x[1, 1, 4:, 4:] = 7.0              # a tie
    a = tg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    oa, ia = tnn.MaxPool2d(return_indices=True, **kw)(a)
    ob, ib = torch.nn.MaxPool2d(return_indices=True, **kw)(b)
    np.testing.assert_array_equal(_np(ia), _np(ib))
    np.testing.assert_array_equal(_np(oa), ob.detach().numpy())
    g = rng.standard_normal(ob.shape)
    oa.backward(tg.tensor(g))
    ob.backward(torch.tensor(g))
    np.testing.assert_array_equal(_np(a.grad), b.grad.numpy())


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2)])
def test_maxpool_channels_last_input_and_float32(kw, rng):
    """Inputs laid out NHWC in memory (as convolutions return them) pool like contiguous ones
    (kernel 2 on 10x10: windows that tile the input, whose gradient is one broadcast)."""
    x = rng.standard_normal((2, 4, 10, 10)).astype(np.float32)
    xt = tg.tensor(np.ascontiguousarray(x.transpose(0, 2, 3, 1))).permute(0, 3, 1, 2).requires_grad_(False)
    a = xt.detach().requires_grad_(True)
    b = torch.tensor(x, requires_grad=True)
    oa = tnn.MaxPool2d(**kw)(a)
    ob = torch.nn.MaxPool2d(**kw)(b)
    np.testing.assert_array_equal(_np(oa), ob.detach().numpy())
    g = rng.standard_normal(ob.shape).astype(np.float32)
    oa.backward(tg.tensor(g))
    ob.backward(torch.tensor(g))
    np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("nhwc", [False, True])
def test_maxpool_2x2_ties_pick_torchs_window_element(nhwc, rng):
    """2x2 windows that tile the input take a comparison tree; with ties (a ReLU's zeros, equal
    pairs in each row and across rows) the gradient and indices land where torch puts them."""
    x = np.maximum(rng.integers(-2, 3, size=(3, 4, 8, 6)), 0).astype(np.float32)
    x[0, 0, :2, :2] = [[1, 1], [1, 1]]
    x[0, 1, :2, :2] = [[0, 5], [5, 0]]
    x[0, 2, :2, :2] = [[5, 0], [0, 5]]
    xa = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) if nhwc else x
    a = tg.tensor(xa, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    oa, ia = tnn.functional.max_pool2d(a, 2, return_indices=True)
    ob, ib = torch.nn.functional.max_pool2d(b, 2, return_indices=True)
    np.testing.assert_array_equal(_np(oa), ob.detach().numpy())
    np.testing.assert_array_equal(_np(ia), ib.numpy())
    g = rng.standard_normal(ob.shape).astype(np.float32)
    oa.backward(tg.tensor(g))
    ob.backward(torch.tensor(g))
    np.testing.assert_array_equal(_np(a.grad), b.grad.numpy())


@pytest.mark.parametrize("out_channels", [3, 64])      # im2col in (i, j, c) and in (c, i, j) order
@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=(1, 2), dilation=(2, 1)),
                                dict(kernel_size=1, stride=2), dict(kernel_size=1)])
def test_conv2d_both_im2col_orders_match_torch(out_channels, kw, rng):
    """ops/conv.py gathers receptive fields in the weight's order when there are fewer of them
    than output channels; both orders give torch's values and gradients, NCHW or NHWC input."""
    kw = dict(kw)
    k = kw.pop("kernel_size", 3)
    x = rng.standard_normal((2, 5, 6, 5))
    w = rng.standard_normal((out_channels, 5, k, k))
    g = None
    for nhwc in (False, True):
        xa = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) if nhwc else x
        a, wa = tg.tensor(xa, requires_grad=True), tg.tensor(w, requires_grad=True)
        b, wb = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        oa = tg.nn.functional.conv2d(a, wa, **kw)
        ob = torch.nn.functional.conv2d(b, wb, **kw)
        np.testing.assert_allclose(_np(oa), ob.detach().numpy(), rtol=1e-10, atol=1e-12)
        g = rng.standard_normal(ob.shape) if g is None else g
        oa.backward(tg.tensor(g))
        ob.backward(torch.tensor(g))
        np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(_np(wa.grad), wb.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("inplace", [False, True])
def test_relu_gradient_passes_through_nan_like_torch(inplace):
    """ReLU's gradient is zero only where the output is <= 0: a NaN output passes it on."""
    x = np.array([np.nan, -1.0, 2.0, 0.0, -0.0], dtype=np.float32)
    a = tg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    oa = tg.nn.functional.relu(a * 1, inplace=inplace)
    ob = torch.nn.functional.relu(b * 1, inplace=inplace)
    np.testing.assert_array_equal(_np(oa), ob.detach().numpy())
    oa.backward(tg.ones(5))
    ob.backward(torch.ones(5))
    np.testing.assert_array_equal(_np(a.grad), b.grad.numpy())
    (gg,) = tg.autograd.grad(tg.relu(a).sum(), a, create_graph=True)
    np.testing.assert_array_equal(_np(gg), b.grad.numpy())


@pytest.mark.parametrize("layout", ["plain", "channels-last"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_keeps_negative_zero_like_torch(dtype, layout):
    """torch's relu keeps -0.0 (it is not below 0), out of place and in place."""
    x = np.array([[-0.0, 0.0, -1.0, 2.0, np.nan, -np.inf]] * 4, dtype=dtype).reshape(1, 4, 2, 3)
    if layout == "channels-last":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    for fn in (lambda L, t: L.relu(t), lambda L, t: L.relu_(t.clone())):
        ours, theirs = _np(fn(tg, tg.from_numpy(x.copy()))), fn(torch, torch.from_numpy(x.copy())).numpy()
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))


def _conv2d_with_bias_matches_torch(x, w, bias, kw, rng):
    """conv2d's value and its input, weight and bias gradients equal torch's (float64)."""
    a, wa, ba = (tg.tensor(v, requires_grad=True) for v in (x, w, bias))
    b, wb, bb = (torch.tensor(v, requires_grad=True) for v in (x, w, bias))
    oa = tg.nn.functional.conv2d(a, wa, ba, **kw)
    ob = torch.nn.functional.conv2d(b, wb, bb, **kw)
    np.testing.assert_allclose(_np(oa), ob.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(ob.shape)
    oa.backward(tg.tensor(g))
    ob.backward(torch.tensor(g))
    for mine, theirs in ((a, b), (wa, wb), (ba, bb)):
        np.testing.assert_allclose(_np(mine.grad), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=(1, 2), dilation=(2, 1)),
                                dict(kernel_size=(2, 3), stride=(1, 3))])
def test_conv2d_one_input_channel_matches_torch(kw, rng):
    """A one-channel input takes its own im2col (one strided copy per kernel offset)."""
    kw = dict(kw)
    k = kw.pop("kernel_size", 3)
    k = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((3, 1, 9, 11))
    w = rng.standard_normal((4, 1) + k)
    bias = rng.standard_normal(4)
    _conv2d_with_bias_matches_torch(x, w, bias, kw, rng)


@pytest.mark.parametrize("shape,k,kw", [
    ((2, 5, 1, 1), 3, dict(padding=1)),                 # only the centre tap meets the input
    ((2, 5, 2, 2), 3, dict(stride=2, padding=1)),       # a 2x2 corner of the kernel
    ((2, 4, 1, 3), 3, dict(padding=1)),                 # one row of taps
    ((2, 3, 2, 2), 5, dict(padding=2)),
    ((2, 3, 1, 1), 3, dict(padding=1, stride=3)),
])
def test_conv2d_taps_that_only_meet_padding_match_torch(shape, k, kw, rng):
    """Kernel taps that never reach the input are left out of the products (their weight
    gradient is zero); values and all three gradients as torch's, twice differentiable."""
    x = rng.standard_normal(shape)
    w = rng.standard_normal((6, shape[1], k, k))
    bias = rng.standard_normal(6)
    _conv2d_with_bias_matches_torch(x, w, bias, kw, rng)
    f = lambda x_, w_: tg.nn.functional.conv2d(x_, w_, **kw)  # noqa: E731
    xs, ws = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True)
    assert tg.autograd.gradcheck(f, (xs, ws)) and tg.autograd.gradgradcheck(f, (xs, ws))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [(0, 2, 3), (3, 0, 2), (0, 1, 2)])
def test_sum_keeping_the_innermost_axis_matches_torch(dim, keepdim, rng):
    """Summing every axis but the one innermost in memory (a channels-last bias gradient)
    is a product with ones; values, shape and gradient as torch's, in float32 and float64."""
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((8, 16, 10, 12)).astype(dtype)
        x_cl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        a = tg.tensor(x_cl, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        oa, ob = a.sum(dim=dim, keepdim=keepdim), b.sum(dim=dim, keepdim=keepdim)
        assert tuple(oa.shape) == tuple(ob.shape) and str(oa.dtype) == str(ob.dtype)
        tol = 2e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(_np(oa), ob.detach().numpy(), rtol=tol, atol=tol)
        oa.sum().backward()
        ob.sum().backward()
        np.testing.assert_array_equal(_np(a.grad), b.grad.numpy())


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), stride=(1, 2), dilation=2),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)])
def test_maxpool_without_gradient_matches_torch(kw, rng):
    """With nothing to record, max pooling takes the max over rows, then columns."""
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    x[0, 1, 2, 3] = np.nan
    with tg.no_grad():
        a = tnn.MaxPool2d(**kw)(tg.tensor(x, requires_grad=True))
    b = torch.nn.MaxPool2d(**kw)(torch.tensor(x))
    assert a.grad_fn is None
    np.testing.assert_array_equal(_np(a), b.numpy())
    np.testing.assert_array_equal(_np(tnn.MaxPool2d(**kw)(tg.tensor(x))), b.numpy())


@pytest.mark.parametrize("kw", [dict(kernel_size=3, padding=1),
                                dict(kernel_size=(3, 2), padding=(2, 1), dilation=2),
                                dict(kernel_size=3, padding=3), dict(kernel_size=4, padding="same"),
                                dict(kernel_size=(1, 3), padding=(0, 1))])
def test_conv2d_input_gradient_as_a_convolution_matches_torch(kw, rng):
    """With 32+ input channels and stride 1, ops/conv.py forms the input's gradient as a forward
    convolution of the padded output gradient with the flipped weight."""
    kw = dict(kw)
    k = kw.pop("kernel_size")
    k = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((2, 32, 7, 6))
    w = rng.standard_normal((8, 32) + k)
    a, wa = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True)
    b, wb = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    oa, ob = tg.nn.functional.conv2d(a, wa, **kw), torch.nn.functional.conv2d(b, wb, **kw)
    np.testing.assert_allclose(_np(oa), ob.detach().numpy(), rtol=1e-10, atol=1e-11)
    g = rng.standard_normal(ob.shape)
    oa.backward(tg.tensor(g))
    ob.backward(torch.tensor(g))
    np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(_np(wa.grad), wb.grad.numpy(), rtol=1e-10, atol=1e-11)

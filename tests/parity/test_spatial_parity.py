"""Parity with torch of the issue-14 spatial layers: interpolate/Upsample, unfold/fold, conv3d,
instance norm, pixel shuffle, embedding_bag, distances and ctc_loss.

Each case runs the same call on both libraries from the same NumPy data in float32 and float64,
backpropagates the same random upstream gradient and compares values and every input gradient;
then module reprs, attributes and state_dict layouts, grad_fn names and bad-input errors
(exception class and message).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

import tapegrad as tg  # noqa: E402
import tapegrad.nn.functional as GF  # noqa: E402

TOL = {"float32": dict(rtol=2e-5, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-11)}
DTYPES = ("float32", "float64")


def _run(fn_name, arrays, dtype, kwargs, seed=0, grads=None, ints=(), same_node=True):
    """Call ``F.<fn_name>`` in both libraries; return (outputs, gradients) pairs as NumPy."""
    rng = np.random.default_rng(seed)
    res = []
    for lib, F in ((torch, TF), (tg, GF)):
        ts = []
        for i, a in enumerate(arrays):
            if a is None:
                ts.append(None)
            elif i in ints:
                ts.append(lib.tensor(a))
            else:
                ts.append(lib.tensor(a.astype(dtype), requires_grad=True))
        out = getattr(F, fn_name)(*ts, **kwargs)
        res.append((ts, out))
    (tt, to), (gt, go) = res
    g = rng.standard_normal(tuple(to.shape)).astype(dtype)
    to.backward(torch.tensor(g))
    go.backward(tg.tensor(g))
    assert tuple(go.shape) == tuple(to.shape)
    assert go.dtype.__repr__().split(".")[-1] == str(to.dtype).split(".")[-1]
    np.testing.assert_allclose(go.detach().numpy(), to.detach().numpy(), **TOL[dtype])
    for i, (a, b) in enumerate(zip(tt, gt, strict=True)):
        if a is not None and i not in ints and (grads is None or i in grads):
            np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), equal_nan=True, **TOL[dtype])
    # (mode='area' reuses adaptive_avg_pool*d, whose node names are that module's business)
    assert go.grad_fn.name() == to.grad_fn.name() or not same_node


def _data(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


# =========================================================================== interpolate
_SHAPES = {
    "nearest": [(2, 3, 5), (2, 2, 5, 7), (1, 2, 3, 4, 5)],
    "nearest-exact": [(2, 3, 5), (2, 2, 5, 7), (1, 2, 3, 4, 5)],
    "linear": [(2, 3, 5)],
    "bilinear": [(2, 2, 5, 7)],
    "bicubic": [(2, 2, 5, 7)],
    "trilinear": [(1, 2, 3, 4, 5)],
}


def _interp_cases():
    for mode, shapes in _SHAPES.items():
        aligns = [None] if "nearest" in mode else [None, False, True]
        for shape in shapes:
            nd = len(shape) - 2
            for ac in aligns:
                for size in (3, 7, 13, (4, 9, 2)[:nd]):
                    yield pytest.param(
                        mode, shape, dict(size=size, align_corners=ac), id=f"{mode}-{nd}d-{size}-{ac}"
                    )
                for sf in (2, 0.5, 1.7, 0.4, 2.5, (1.5, 2.2, 0.7)[:nd]):
                    if mode == "nearest" and nd == 3 and isinstance(sf, tuple):
                        continue  # torch's own backward is wrong here: see test_nearest_3d_uneven_scales
                    for rsf in (None, True):
                        yield pytest.param(
                            mode,
                            shape,
                            dict(scale_factor=sf, align_corners=ac, recompute_scale_factor=rsf),
                            id=f"{mode}-{nd}d-sf{sf}-{ac}-{rsf}",
                        )
    for shape in ((2, 3, 7), (2, 2, 7, 9)):
        for kw in (dict(size=3), dict(size=(5, 4)[: len(shape) - 2]), dict(scale_factor=0.5), dict(size=9)):
            yield pytest.param("area", shape, kw, id=f"area-{len(shape) - 2}d-{kw}")
    for mode in ("bilinear", "bicubic"):
        for ac in (False, True):
            for size in (2, 3, 4, 9, (3, 10), (16, 22)):
                yield pytest.param(
                    mode,
                    (2, 2, 8, 11),
                    dict(size=size, align_corners=ac, antialias=True),
                    id=f"{mode}-aa-{size}-{ac}",
                )
            yield pytest.param(
                mode,
                (2, 2, 8, 11),
                dict(scale_factor=0.3, align_corners=ac, antialias=True),
                id=f"{mode}-aa-sf0.3-{ac}",
            )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,shape,kw", list(_interp_cases()))
def test_interpolate(mode, shape, kw, dtype):
    _run("interpolate", [_data(shape)], dtype, dict(mode=mode, **kw), same_node=mode != "area")


def test_nearest_3d_uneven_scales():
    """Values match torch; torch's gradient of this case is not the derivative of its own output
    (it scatters along H with in/out instead of the scale factor), ours is: checked by gradcheck."""
    a = _data((1, 2, 3, 4, 5))
    kw = dict(scale_factor=(1.5, 2.2, 0.7))
    np.testing.assert_array_equal(
        GF.interpolate(tg.tensor(a), **kw).numpy(), TF.interpolate(torch.tensor(a), **kw).numpy()
    )
    x = tg.tensor(a, requires_grad=True)
    assert tg.autograd.gradcheck(lambda x: GF.interpolate(x, **kw), (x,))


def test_interpolate_uint8_nearest():
    a = np.random.default_rng(0).integers(0, 255, (1, 2, 3, 5)).astype(np.uint8)
    for mode in ("nearest", "nearest-exact"):
        out = GF.interpolate(tg.tensor(a), scale_factor=1.6, mode=mode)
        ref = TF.interpolate(torch.tensor(a), scale_factor=1.6, mode=mode)
        assert out.dtype == tg.uint8
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


# =========================================================================== unfold / fold
_FOLD_CFG = [
    dict(kernel_size=2),
    dict(kernel_size=(2, 3), dilation=2, padding=1, stride=(2, 1)),
    dict(kernel_size=3, padding=(0, 2), stride=2),
    dict(kernel_size=(1, 2), dilation=(2, 1), stride=(1, 3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("cfg", _FOLD_CFG, ids=str)
def test_unfold_fold(cfg, batched, dtype):
    shape = (2, 3, 7, 8) if batched else (3, 7, 8)
    _run("unfold", [_data(shape)], dtype, cfg)
    cols = TF.unfold(torch.zeros((2, 3, 7, 8)), **cfg)
    cshape = tuple(cols.shape) if batched else tuple(cols.shape[1:])
    _run("fold", [_data(cshape)], dtype, dict(output_size=(7, 8), **cfg))


# =========================================================================== conv3d
_CONV3D = [
    ((2, 4, 5, 6, 7), (6, 2, 2, 3, 2), dict(groups=2)),
    ((1, 3, 6, 5, 4), (2, 3, 3, 3, 3), dict(stride=(2, 1, 2), padding=(1, 0, 2), dilation=(1, 2, 1))),
    ((2, 2, 5, 5, 5), (4, 2, 2, 3, 2), dict(padding="same", dilation=2)),
    ((2, 2, 5, 5, 5), (4, 1, 3, 3, 3), dict(padding="valid", groups=2)),
    ((2, 5, 5, 5), (4, 2, 3, 3, 3), dict(stride=2, padding=1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("xs,ws,kw", _CONV3D, ids=[str(c[2]) for c in _CONV3D])
def test_conv3d(xs, ws, kw, bias, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on even kernels with padding='same'
        _run("conv3d", [_data(xs), _data(ws, 2), _data(ws[:1], 3) if bias else None], dtype, kw)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv3d_module(mode):
    torch.manual_seed(0)
    ref = torch.nn.Conv3d(4, 6, (3, 2, 3), stride=(1, 2, 1), padding=(1, 0, 2), groups=2, padding_mode=mode)
    ours = tg.nn.Conv3d(4, 6, (3, 2, 3), stride=(1, 2, 1), padding=(1, 0, 2), groups=2, padding_mode=mode)
    ours.load_state_dict({k: tg.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    a = _data((2, 4, 5, 6, 7))
    x, y = (
        torch.tensor(a, dtype=torch.float32, requires_grad=True),
        tg.tensor(a, dtype=tg.float32, requires_grad=True),
    )
    ref(x).square().sum().backward()
    ours(y).square().sum().backward()
    np.testing.assert_allclose(ours(y).detach().numpy(), ref(x).detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y.grad.numpy(), x.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-4, atol=1e-3)
    assert repr(ours) == repr(ref)


def test_conv3d_init_distribution():
    """kaiming_uniform(a=sqrt(5)): weights and bias uniform in +-1/sqrt(fan_in)."""
    m = tg.nn.Conv3d(4, 8, 3, groups=2)
    bound = 1 / np.sqrt(2 * 27)
    w = m.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound


# =========================================================================== instance norm
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 6), (2, 3, 4, 5), (2, 3, 2, 3, 4)])
def test_instance_norm_functional(shape, affine, dtype):
    args = [_data(shape), None, None] + ([_data(3, 2) + 1, _data(3, 3)] if affine else [None, None])
    _run("instance_norm", args, dtype, dict(eps=1e-3))


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize(
    "cls,shape",
    [
        ("InstanceNorm1d", (2, 3, 6)),
        ("InstanceNorm1d", (3, 6)),
        ("InstanceNorm2d", (2, 3, 4, 5)),
        ("InstanceNorm3d", (3, 2, 3, 4)),
    ],
)
def test_instance_norm_module_running_stats(cls, shape, momentum):
    ref = getattr(torch.nn, cls)(3, affine=True, track_running_stats=True, momentum=momentum)
    ours = getattr(tg.nn, cls)(3, affine=True, track_running_stats=True, momentum=momentum)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for step in range(2):
        a = (_data(shape, step) * 3 + 1).astype(np.float32)
        np.testing.assert_allclose(
            ours(tg.tensor(a)).detach().numpy(), ref(torch.tensor(a)).detach().numpy(), rtol=1e-5, atol=1e-5
        )
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-6, atol=1e-7)
    ref.eval()
    ours.eval()
    a = _data(shape, 9).astype(np.float32)
    np.testing.assert_allclose(
        ours(tg.tensor(a)).detach().numpy(), ref(torch.tensor(a)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


# =========================================================================== pixel shuffle
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,r", [((2, 8, 3, 4), 2), ((18, 2, 3), 3), ((2, 2, 8, 3, 4), 2)])
def test_pixel_shuffle(shape, r, dtype):
    _run("pixel_shuffle", [_data(shape)], dtype, dict(upscale_factor=r))
    out = TF.pixel_shuffle(torch.zeros(shape), r)
    _run("pixel_unshuffle", [_data(tuple(out.shape))], dtype, dict(downscale_factor=r))


# =========================================================================== distances
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kw", [dict(), dict(p=1.0), dict(p=3.0, eps=0.0, keepdim=True), dict(p=float("inf"))], ids=str
)
@pytest.mark.parametrize("shapes", [((4, 5), (4, 5)), ((5,), (5,)), ((3, 4, 5), (4, 5))], ids=str)
def test_pairwise_distance_module(shapes, kw, dtype):
    a, b = _data(shapes[0]).astype(dtype), _data(shapes[1], 2).astype(dtype)
    ref = torch.nn.PairwiseDistance(**kw)
    ours = tg.nn.PairwiseDistance(**kw)
    x1, x2 = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    y1, y2 = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    ref(x1, x2).sum().backward()
    ours(y1, y2).sum().backward()
    np.testing.assert_allclose(ours(y1, y2).detach().numpy(), ref(x1, x2).detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(y1.grad.numpy(), x1.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(y2.grad.numpy(), x2.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [dict(), dict(dim=0, eps=1e-3), dict(dim=-1)], ids=str)
def test_cosine_similarity_module(kw, dtype):
    a, b = _data((4, 5)).astype(dtype), _data((4, 5), 2).astype(dtype)
    ref, ours = torch.nn.CosineSimilarity(**kw), tg.nn.CosineSimilarity(**kw)
    x1, x2 = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    y1, y2 = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    ref(x1, x2).sum().backward()
    ours(y1, y2).sum().backward()
    np.testing.assert_allclose(ours(y1, y2).detach().numpy(), ref(x1, x2).detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(y1.grad.numpy(), x1.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(y2.grad.numpy(), x2.grad.numpy(), **TOL[dtype])


# =========================================================================== embedding_bag
_IDX = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 0])


def _bag_cases():
    for mode in ("sum", "mean", "max"):
        for pad in (None, 4, -1):
            yield pytest.param(
                _IDX,
                np.array([0, 4, 4, 7]),
                dict(mode=mode, padding_idx=pad),
                False,
                id=f"offsets-{mode}-{pad}",
            )
            yield pytest.param(
                _IDX,
                np.array([0, 3, 3, 10]),
                dict(mode=mode, padding_idx=pad, include_last_offset=True),
                False,
                id=f"last-{mode}-{pad}",
            )
            yield pytest.param(
                _IDX.reshape(2, 5), None, dict(mode=mode, padding_idx=pad), False, id=f"2d-{mode}-{pad}"
            )
            if mode == "sum":
                yield pytest.param(
                    _IDX, np.array([0, 4, 4, 7]), dict(mode=mode, padding_idx=pad), True, id=f"psw-{pad}"
                )
                yield pytest.param(
                    _IDX.reshape(2, 5), None, dict(mode=mode, padding_idx=pad), True, id=f"psw-2d-{pad}"
                )
    yield pytest.param(
        np.array([4, 4, 1]), np.array([0, 2]), dict(mode="max", padding_idx=4), False, id="max-empty"
    )
    yield pytest.param(np.array([3, 5, 1]), np.array([0, 2]), dict(mode="max"), False, id="max-tie")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("inp,off,kw,psw", list(_bag_cases()))
def test_embedding_bag(inp, off, kw, psw, dtype):
    w = _data((10, 3))
    w[3] = w[5]  # rows 3 and 5 tie in every column
    p = np.random.default_rng(4).random(inp.shape) if psw else None
    _run(
        "embedding_bag", [inp, w, off], dtype, dict(per_sample_weights=None, **kw), ints=(0, 2)
    ) if p is None else _run_psw(inp, w, off, p, kw, dtype)


def _run_psw(inp, w, off, p, kw, dtype):
    outs = []
    for lib, F in ((torch, TF), (tg, GF)):
        wt, pt = (
            lib.tensor(w.astype(dtype), requires_grad=True),
            lib.tensor(p.astype(dtype), requires_grad=True),
        )
        out = F.embedding_bag(
            lib.tensor(inp), wt, None if off is None else lib.tensor(off), per_sample_weights=pt, **kw
        )
        out.backward(lib.tensor(np.random.default_rng(5).standard_normal(tuple(out.shape)).astype(dtype)))
        outs.append((out.detach().numpy(), wt.grad.numpy(), pt.grad.numpy()))
    for a, b in zip(*outs, strict=True):
        np.testing.assert_allclose(b, a, **TOL[dtype])


def test_embedding_bag_max_norm():
    w = _data((10, 3)) * 3
    tw, gw = torch.tensor(w), tg.tensor(w)
    ref = TF.embedding_bag(torch.tensor(_IDX), tw, torch.tensor([0, 4]), max_norm=1.0, mode="sum")
    out = GF.embedding_bag(tg.tensor(_IDX), gw, tg.tensor([0, 4]), max_norm=1.0, mode="sum")
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6)
    np.testing.assert_allclose(gw.numpy(), tw.numpy(), rtol=1e-6)


def test_embedding_bag_module_and_from_pretrained():
    torch.manual_seed(0)
    ref = torch.nn.EmbeddingBag(10, 3, mode="sum", padding_idx=2)
    ours = tg.nn.EmbeddingBag(10, 3, mode="sum", padding_idx=2)
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["weight"]
    assert float(ours.weight[2].abs().sum()) == 0.0
    ours.load_state_dict({"weight": tg.tensor(ref.weight.detach().numpy())})
    inp, off = _IDX, np.array([0, 4, 4])
    np.testing.assert_allclose(
        ours(tg.tensor(inp), tg.tensor(off)).detach().numpy(),
        ref(torch.tensor(inp), torch.tensor(off)).detach().numpy(),
        rtol=1e-6,
    )
    w = _data((4, 2))
    a, b = (
        torch.nn.EmbeddingBag.from_pretrained(torch.tensor(w)),
        tg.nn.EmbeddingBag.from_pretrained(tg.tensor(w)),
    )
    assert repr(a) == repr(b) and a.weight.requires_grad == b.weight.requires_grad is False
    a = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(w), freeze=False, mode="max")
    b = tg.nn.EmbeddingBag.from_pretrained(tg.tensor(w), freeze=False, mode="max")
    assert repr(a) == repr(b) and b.weight.requires_grad


# =========================================================================== ctc_loss
_TARGETS = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [4, 4, 4, 0]])
_LENGTHS = [
    (np.array([7, 5, 7]), np.array([3, 2, 3])),
    (np.array([7, 2, 6]), np.array([3, 2, 3])),
    (np.array([7, 5, 0]), np.array([4, 2, 0])),
    (np.array([7, 6, 3]), np.array([0, 1, 1])),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalised", [True, False])
@pytest.mark.parametrize("blank", [0, 2])
@pytest.mark.parametrize("concat", [False, True])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("lengths", range(len(_LENGTHS)))
def test_ctc_loss(lengths, reduction, zero_infinity, concat, blank, normalised, dtype):
    il, tl = _LENGTHS[lengths]
    tgts = _TARGETS.copy()
    tgts[tgts == blank] = (blank + 1) % 5
    tt = np.concatenate([tgts[i, : tl[i]] for i in range(3)]) if concat else tgts
    x = _data((7, 3, 5))
    outs = []
    for lib, F in ((torch, TF), (tg, GF)):
        xt = lib.tensor(x.astype(dtype), requires_grad=True)
        lp = xt.log_softmax(2) if normalised else xt
        loss = F.ctc_loss(
            lp,
            lib.tensor(tt),
            lib.tensor(il),
            lib.tensor(tl),
            blank=blank,
            reduction=reduction,
            zero_infinity=zero_infinity,
        )
        loss.backward(lib.tensor(np.random.default_rng(6).standard_normal(tuple(loss.shape)).astype(dtype)))
        outs.append((loss.detach().numpy(), xt.grad.numpy(), loss.grad_fn.name()))
    np.testing.assert_allclose(outs[1][0], outs[0][0], **TOL[dtype])
    np.testing.assert_allclose(outs[1][1], outs[0][1], equal_nan=True, **TOL[dtype])
    assert outs[1][2] == outs[0][2]


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_ctc_loss_unbatched_and_tuple_lengths(reduction):
    x = _data((6, 4))
    outs = []
    for lib, F in ((torch, TF), (tg, GF)):
        xt = lib.tensor(x, requires_grad=True)
        loss = F.ctc_loss(
            xt.log_softmax(1), lib.tensor([1, 2, 2]), lib.tensor(6), lib.tensor(3), reduction=reduction
        )
        loss.backward()
        outs.append((loss.detach().numpy(), xt.grad.numpy()))
        m = lib.nn.CTCLoss(blank=3, reduction="sum", zero_infinity=True)
        x3 = lib.tensor(x.reshape(6, 1, 4)).log_softmax(2)
        outs.append((m(x3, lib.tensor([[1, 2, 2]]), (6,), (3,)).numpy(), np.zeros(1)))
    for a, b in zip(outs[:2], outs[2:], strict=True):
        np.testing.assert_allclose(b[0], a[0], rtol=1e-10)
        np.testing.assert_allclose(b[1], a[1], rtol=1e-10, atol=1e-12)


def test_ctc_loss_no_double_backward():
    x = _data((5, 1, 3))
    msgs = []
    for lib, F in ((torch, TF), (tg, GF)):
        xt = lib.tensor(x, requires_grad=True)
        loss = F.ctc_loss(xt, lib.tensor([[1]]), lib.tensor([5]), lib.tensor([1]))
        (g,) = lib.autograd.grad(loss, xt, create_graph=True)
        with pytest.raises(RuntimeError) as e:
            g.sum().backward()
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


# =========================================================================== modules
_MODULES = [
    "InstanceNorm1d(3)",
    "InstanceNorm2d(3, affine=True)",
    "InstanceNorm3d(3, track_running_stats=True)",
    "InstanceNorm2d(3, eps=1e-3, momentum=None, affine=True, track_running_stats=True)",
    "InstanceNorm1d(4, affine=True, bias=False)",
    "CosineSimilarity()",
    "CosineSimilarity(dim=0, eps=1e-3)",
    "PairwiseDistance()",
    "PairwiseDistance(p=1., eps=0., keepdim=True)",
    "Upsample(scale_factor=2)",
    "Upsample(size=3, mode='bilinear', align_corners=True)",
    "UpsamplingNearest2d(scale_factor=2)",
    "UpsamplingBilinear2d(size=(4, 5))",
    "Upsample(scale_factor=(2., 3.))",
    "Upsample(size=(3, 4), mode='bicubic')",
    "Unfold(2)",
    "Unfold((2, 3), dilation=2, padding=1, stride=2)",
    "Fold((4, 5), 2)",
    "Fold(4, (2, 3), stride=(1, 2))",
    "PixelShuffle(2)",
    "PixelUnshuffle(3)",
    "EmbeddingBag(10, 3)",
    "EmbeddingBag(10, 3, mode='max', padding_idx=2, max_norm=1., include_last_offset=True)",
    "EmbeddingBag(10, 3, mode='sum', scale_grad_by_freq=True, norm_type=1.)",
    "CTCLoss()",
    "CTCLoss(blank=2, reduction='sum', zero_infinity=True)",
    "Conv3d(4, 6, (2, 3, 2), groups=2)",
    "Conv3d(4, 6, 3, stride=2, padding=1, dilation=2, bias=False, padding_mode='circular')",
    "Conv3d(4, 6, 3, padding='same')",
]


@pytest.mark.parametrize("expr", _MODULES)
def test_module_layout(expr):
    ref, ours = eval("torch.nn." + expr), eval("tg.nn." + expr)
    assert repr(ours) == repr(ref)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in ref.state_dict().items()
    }
    assert [str(v.dtype) for v in ours.state_dict().values()] == [
        str(v.dtype) for v in ref.state_dict().values()
    ]
    base_t, base_g = set(vars(torch.nn.Module())), set(vars(tg.nn.Module()))
    private = {"_reversed_padding_repeated_twice"}  # a torch conv internal
    assert set(vars(ours)) - base_g == set(vars(ref)) - base_t - private
    for k, v in vars(ref).items():
        if k in ("weight", "bias") or k.startswith("_"):
            continue
        assert getattr(ours, k) == v, k


@pytest.mark.parametrize(
    "expr,shape",
    [
        ("Upsample(scale_factor=2, mode='bilinear')", (1, 2, 3, 4)),
        ("UpsamplingBilinear2d(scale_factor=2)", (1, 2, 3, 4)),
        ("UpsamplingNearest2d(size=(5, 7))", (1, 2, 3, 4)),
        ("Upsample(scale_factor=1.5, mode='trilinear', align_corners=True)", (1, 2, 3, 4, 2)),
        ("Unfold((2, 3), padding=1)", (2, 2, 3, 4)),
        ("PixelShuffle(2)", (2, 8, 3, 4)),
        ("PixelUnshuffle(2)", (2, 2, 4, 6)),
        ("InstanceNorm2d(2, affine=True)", (2, 2, 3, 4)),
        ("InstanceNorm1d(2)", (2, 5)),
    ],
)
def test_module_forward(expr, shape):
    a = _data(shape)
    ref, ours = eval("torch.nn." + expr).double(), eval("tg.nn." + expr).double()
    x, y = torch.tensor(a, requires_grad=True), tg.tensor(a, requires_grad=True)
    ro, go = ref(x), ours(y)
    ro.square().sum().backward()
    go.square().sum().backward()
    np.testing.assert_allclose(go.detach().numpy(), ro.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), x.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_fold_module():
    a = _data((2, 12, 12))
    ref, ours = torch.nn.Fold((4, 5), 2), tg.nn.Fold((4, 5), 2)
    np.testing.assert_allclose(ours(tg.tensor(a)).numpy(), ref(torch.tensor(a)).numpy(), rtol=1e-12)


# =========================================================================== errors
def _x(lib, shape, dtype=None):
    return lib.zeros(shape) if dtype is None else lib.zeros(shape, dtype=getattr(lib, dtype))


_ERRORS = [
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(size=3, scale_factor=2)),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict()),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(size=3, align_corners=True)),
    ("interpolate", lambda L: (_x(L, (1, 2, 5)),), dict(size=3, mode="bilinear")),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(size=3, mode="linear")),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5, 5)),), dict(size=3, mode="bicubic")),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(size=3, mode="trilinear")),
    ("interpolate", lambda L: (_x(L, (2, 2)),), dict(size=3)),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(size=3, mode="foo")),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(size=(3, 3, 3))),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(scale_factor=(2, 2, 2))),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(size=3, recompute_scale_factor=True)),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(size=3, antialias=True)),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(size=0)),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(size=(3, 3.5))),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5)),), dict(scale_factor=-1.0)),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5), "int64"),), dict(scale_factor=2)),
    ("interpolate", lambda L: (_x(L, (1, 2, 5), "int64"),), dict(scale_factor=2)),
    ("interpolate", lambda L: (_x(L, (1, 2, 5, 5), "int32"),), dict(scale_factor=2, mode="bicubic")),
    ("interpolate", lambda L: (_x(L, (1, 2, 5), "uint8"),), dict(scale_factor=2, mode="linear")),
    ("unfold", lambda L: (_x(L, (1, 2, 5, 6)), 7), {}),
    ("unfold", lambda L: (_x(L, (1, 2, 5, 6)), 0), {}),
    ("unfold", lambda L: (_x(L, (1, 2, 5, 6)), 2), dict(stride=0)),
    ("unfold", lambda L: (_x(L, (1, 2, 5, 6)), 2), dict(padding=-1)),
    ("unfold", lambda L: (_x(L, (1, 2, 5, 6)), 2), dict(dilation=0)),
    ("unfold", lambda L: (_x(L, (1, 2, 5, 6)), (2, 2, 2)), {}),
    ("unfold", lambda L: (_x(L, (5, 6)), 2), {}),
    ("unfold", lambda L: (_x(L, (1, 2, 5, 6), "int64"), 2), {}),
    ("fold", lambda L: (_x(L, (2, 12, 6)), (4, 5), 2), {}),
    ("fold", lambda L: (_x(L, (2, 12, 6)), (4, 5), (2, 3)), {}),
    ("fold", lambda L: (_x(L, (2, 12)), (4, 5), 2), {}),
    ("fold", lambda L: (_x(L, (2, 10, 12)), (4, 5), 2), {}),
    ("fold", lambda L: (_x(L, (2, 12, 6)), (1, 1), 2), {}),
    ("fold", lambda L: (_x(L, (2, 12, 6, 1)), (4, 5), 2), {}),
    ("pixel_shuffle", lambda L: (_x(L, (8, 3)), 2), {}),
    ("pixel_shuffle", lambda L: (_x(L, (2, 8, 3, 4)), 3), {}),
    ("pixel_shuffle", lambda L: (_x(L, (2, 8, 3, 4)), 0), {}),
    ("pixel_shuffle", lambda L: (_x(L, (2, 8, 3, 4)), 2.0), {}),
    ("pixel_unshuffle", lambda L: (_x(L, (2, 8, 3, 4)), 2), {}),
    ("pixel_unshuffle", lambda L: (_x(L, (2, 8, 4, 3)), 2), {}),
    ("pixel_unshuffle", lambda L: (_x(L, (2, 8, 4, 4)), -1), {}),
    ("conv3d", lambda L: (_x(L, (2, 4, 5, 6, 7)), _x(L, (6, 2, 2, 3, 2))), {}),
    ("conv3d", lambda L: (_x(L, (5, 6, 7)), _x(L, (6, 2, 2, 3, 2))), dict(groups=2)),
    (
        "conv3d",
        lambda L: (_x(L, (2, 4, 5, 6, 7)), _x(L, (6, 2, 2, 3, 2))),
        dict(groups=2, padding="same", stride=2),
    ),
    ("conv3d", lambda L: (_x(L, (2, 4, 5, 6, 7)), _x(L, (6, 2, 2, 3, 2))), dict(groups=2, padding="foo")),
    ("conv3d", lambda L: (_x(L, (2, 4, 5, 6, 7)), _x(L, (6, 2, 2, 3, 2))), dict(groups=2, padding=(1, 2))),
    ("conv3d", lambda L: (_x(L, (2, 4, 5, 6, 7)), _x(L, (6, 2, 9, 3, 2))), dict(groups=2)),
    ("conv3d", lambda L: (_x(L, (2, 4, 5, 6, 7), "float64"), _x(L, (6, 2, 2, 3, 2))), dict(groups=2)),
    ("conv3d", lambda L: (_x(L, (2, 4, 5, 6, 7)), _x(L, (6, 2, 2, 3, 2)), _x(L, (5,))), dict(groups=2)),
    ("conv3d", lambda L: (_x(L, (2, 4, 5, 6, 7)), _x(L, (6, 2, 2, 3, 2))), dict(groups=2, stride=0)),
    ("conv3d", lambda L: (_x(L, (2, 4, 5, 6, 7)), _x(L, (6, 2, 2, 3, 2))), dict(groups=2, padding=-1)),
    ("conv3d", lambda L: (_x(L, (2, 4, 5, 6, 7)), _x(L, (6, 2, 2, 3, 2))), dict(groups=2, dilation=0)),
    ("instance_norm", lambda L: (_x(L, (2, 3, 1)),), {}),
    ("embedding_bag", lambda L: (L.tensor([[1, 2]]), _x(L, (10, 3)), L.tensor([0])), {}),
    ("embedding_bag", lambda L: (L.tensor([1, 2]), _x(L, (10, 3))), {}),
    ("embedding_bag", lambda L: (L.tensor([1, 2]), _x(L, (10, 3)), L.tensor([1])), {}),
    ("embedding_bag", lambda L: (L.tensor([1, 2]), _x(L, (10, 3)), L.tensor([0, 3])), {}),
    ("embedding_bag", lambda L: (L.tensor([1, 2]), _x(L, (10, 3)), L.tensor([0])), dict(mode="foo")),
    (
        "embedding_bag",
        lambda L: (L.tensor([1, 2]), _x(L, (10, 3)), L.tensor([0])),
        lambda L: dict(per_sample_weights=_x(L, (2,))),
    ),
    (
        "embedding_bag",
        lambda L: (L.tensor([1, 2]), _x(L, (10, 3)), L.tensor([0])),
        lambda L: dict(mode="sum", per_sample_weights=_x(L, (3,))),
    ),
    (
        "embedding_bag",
        lambda L: (L.tensor([1, 2]), _x(L, (10, 3)), L.tensor([0])),
        lambda L: dict(mode="sum", per_sample_weights=_x(L, (2,), "float64")),
    ),
    ("embedding_bag", lambda L: (L.tensor([1.0, 2.0]), _x(L, (10, 3)), L.tensor([0])), {}),
    ("embedding_bag", lambda L: (L.tensor([1, 12]), _x(L, (10, 3)), L.tensor([0])), {}),
    ("embedding_bag", lambda L: (L.tensor([1, 2]), _x(L, (10, 3)), L.tensor([0.0])), {}),
    ("embedding_bag", lambda L: (L.tensor(1), _x(L, (10, 3))), {}),
    ("embedding_bag", lambda L: (L.tensor([1, 2]), _x(L, (10, 3)), L.tensor([[0]])), {}),
    ("embedding_bag", lambda L: (L.tensor([1, 2]), _x(L, (10, 3)), L.tensor([0])), dict(padding_idx=10)),
    (
        "ctc_loss",
        lambda L: (_x(L, (6, 2, 4)), L.tensor([[1, 2, 2], [3, 1, 0]]), L.tensor([6, 5]), L.tensor([3, 4])),
        {},
    ),
    (
        "ctc_loss",
        lambda L: (_x(L, (6, 2, 4)), L.tensor([[1, 2, 2], [3, 1, 0]]), L.tensor([7, 5]), L.tensor([3, 2])),
        {},
    ),
    (
        "ctc_loss",
        lambda L: (_x(L, (6, 2, 4)), L.tensor([[1, 2, 2], [3, 1, 0]]), L.tensor([6, 5]), L.tensor([3, 2])),
        dict(blank=4),
    ),
    (
        "ctc_loss",
        lambda L: (_x(L, (6, 2, 4)), L.tensor([[1, 2, 2], [3, 1, 0]]), L.tensor([6, 5]), L.tensor([3, 2])),
        dict(reduction="foo"),
    ),
    (
        "ctc_loss",
        lambda L: (
            _x(L, (6, 2, 4)),
            L.tensor([[1, 2, 2], [3, 1, 0]]),
            L.tensor([6.0, 5.0]),
            L.tensor([3, 2]),
        ),
        {},
    ),
    (
        "ctc_loss",
        lambda L: (_x(L, (6, 2, 4)), L.tensor([[1, 2, 2], [3, 1, 0]]), L.tensor([6]), L.tensor([3, 2])),
        {},
    ),
    (
        "ctc_loss",
        lambda L: (_x(L, (6, 2, 4)), L.tensor([[1, 2, 2], [3, 1, 0]]), L.tensor([6, 5]), L.tensor([3])),
        {},
    ),
]


@pytest.mark.parametrize("name,make,kw", _ERRORS, ids=[f"{e[0]}-{i}" for i, e in enumerate(_ERRORS)])
def test_errors(name, make, kw):
    got = []
    for lib, F in ((torch, TF), (tg, GF)):
        with pytest.raises(Exception) as e:
            getattr(F, name)(*make(lib), **(kw(lib) if callable(kw) else kw))
        got.append((type(e.value), str(e.value).replace("tapegrad.tensor.Tensor", "torch.Tensor")))
    assert got[1] == got[0]


_MODULE_ERRORS = [
    ("InstanceNorm1d(3)", (5,)),
    ("InstanceNorm1d(3)", (2, 3, 4, 5)),
    ("InstanceNorm2d(3, affine=True)", (2, 4, 5, 5)),
    ("InstanceNorm3d(3)", (2, 3, 4)),
    ("InstanceNorm1d(3, track_running_stats=True)", (2, 3, 1)),
]


@pytest.mark.parametrize("expr,shape", _MODULE_ERRORS)
def test_module_errors(expr, shape):
    got = []
    for lib in (torch, tg):
        with pytest.raises(Exception) as e:
            eval("lib.nn." + expr)(lib.zeros(shape))
        got.append((type(e.value), str(e.value)))
    assert got[1] == got[0]


@pytest.mark.parametrize(
    "expr",
    [
        "EmbeddingBag(10, 3, padding_idx=10)",
        "Conv3d(4, 6, 3, groups=3)",
        "Conv3d(4, 6, 3, padding='same', stride=2)",
    ],
)
def test_constructor_errors(expr):
    got = []
    for lib in (torch, tg):
        with pytest.raises(Exception) as e:
            eval("lib.nn." + expr, {"lib": lib})
        got.append((type(e.value), str(e.value)))
    assert got[1] == got[0]


def test_instance_norm_feature_warning():
    msgs = []
    for lib in (torch, tg):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            lib.nn.InstanceNorm2d(3)(lib.zeros((2, 4, 5, 5)) + lib.arange(5.0))
        msgs.append([str(m.message) for m in w if "num_features" in str(m.message)])
    assert msgs[0] == msgs[1] and len(msgs[0]) == 1


def test_upsample_deprecation_warning():
    msgs = []
    for F, lib in ((TF, torch), (GF, tg)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            F.upsample(lib.zeros((1, 1, 2, 2)), scale_factor=2)
        msgs.append([str(m.message) for m in w])
    assert msgs[0] == msgs[1] and len(msgs[0]) == 1

"""Derivatives and formulas of the issue-14 spatial layers (no torch needed).

gradcheck and gradgradcheck in float64 for interpolate (every mode), unfold/fold, conv3d,
instance_norm, pixel (un)shuffle, embedding_bag and ctc_loss (first derivative only: like
PyTorch, it has no second); then properties that follow from the definitions: unfold and fold
are adjoint, pixel_shuffle inverts pixel_unshuffle, ctc_loss equals the brute-force sum over
alignments, embedding_bag's scale_grad_by_freq divides by each index's frequency.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck


def _t(shape, seed=0, grad=True):
    return tg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=grad)


def _both(fn, *inputs):
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


# =========================================================================== interpolate
@pytest.mark.parametrize(
    "mode,shape,kw",
    [
        ("nearest", (1, 2, 4), dict(scale_factor=1.7)),
        ("nearest", (1, 1, 3, 4), dict(size=(5, 3))),
        ("nearest", (1, 1, 2, 3, 4), dict(scale_factor=(1.5, 2.2, 0.7))),
        ("nearest-exact", (1, 1, 3, 4), dict(scale_factor=0.6)),
        ("linear", (1, 2, 4), dict(size=7, align_corners=True)),
        ("linear", (1, 2, 4), dict(scale_factor=0.6)),
        ("bilinear", (1, 1, 3, 4), dict(size=(5, 2))),
        ("bilinear", (1, 1, 3, 4), dict(scale_factor=2, align_corners=True)),
        ("bicubic", (1, 1, 3, 4), dict(size=(5, 6))),
        ("bicubic", (1, 1, 4, 3), dict(scale_factor=1.5, align_corners=True)),
        ("trilinear", (1, 1, 2, 3, 2), dict(size=(3, 2, 4))),
        ("bilinear", (1, 1, 6, 7), dict(size=(2, 3), antialias=True)),
        ("bicubic", (1, 1, 6, 7), dict(size=(3, 2), antialias=True, align_corners=True)),
    ],
    ids=lambda v: str(v),
)
def test_interpolate_derivatives(mode, shape, kw):
    _both(lambda x: F.interpolate(x, mode=mode, **kw), _t(shape))


def test_interpolate_known_values():
    x = tg.tensor([[[0.0, 1.0]]])
    np.testing.assert_allclose(
        F.interpolate(x, size=4, mode="linear", align_corners=True).numpy(),
        [[[0, 1 / 3, 2 / 3, 1]]],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        F.interpolate(x, scale_factor=2, mode="linear").numpy(), [[[0, 0.25, 0.75, 1]]]
    )
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2).numpy(), [[[0, 0, 1, 1]]])
    # bicubic interpolation reproduces a linear ramp away from the borders
    ramp = tg.tensor(np.arange(8.0).reshape(1, 1, 1, 8).repeat(4, 2))
    out = F.interpolate(ramp, size=(4, 15), mode="bicubic", align_corners=True).numpy()
    np.testing.assert_allclose(out[0, 0, 0, 2:-2], np.linspace(0, 7, 15)[2:-2], atol=1e-5)


def test_interpolate_grad_fn_names():
    x = _t((1, 1, 3, 4))
    assert F.interpolate(x, scale_factor=2).grad_fn.name() == "UpsampleNearest2DBackward0"
    assert F.interpolate(x, scale_factor=2, mode="bilinear").grad_fn.name() == "UpsampleBilinear2DBackward0"
    y = F.interpolate(x, scale_factor=2, mode="bicubic")
    (g,) = tg.autograd.grad(y.sum(), x, create_graph=True)
    assert g.shape == x.shape


# =========================================================================== unfold / fold
_CFG = dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(1, 2))


def test_unfold_fold_derivatives():
    _both(lambda x: F.unfold(x, **_CFG), _t((1, 2, 4, 5)))
    cols = F.unfold(tg.zeros(1, 2, 4, 5), **_CFG)
    _both(lambda c: F.fold(c, (4, 5), **_CFG), _t(tuple(cols.shape)))


def test_unfold_fold_adjoint():
    """<unfold(x), c> == <x, fold(c)> for all x, c."""
    x = _t((2, 3, 6, 7), grad=False)
    cols = F.unfold(x, **_CFG)
    c = _t(tuple(cols.shape), 1, grad=False)
    lhs = float((cols * c).sum())
    rhs = float((x * F.fold(c, (6, 7), **_CFG)).sum())
    assert abs(lhs - rhs) < 1e-9 * max(1.0, abs(lhs))


def test_fold_of_unfold_counts_overlaps():
    x = tg.ones(1, 1, 3, 3, dtype=tg.float64)
    out = F.fold(F.unfold(x, 2), (3, 3), 2)
    np.testing.assert_array_equal(out.numpy()[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


# =========================================================================== conv3d
@pytest.mark.parametrize(
    "kw",
    [dict(), dict(stride=(1, 2, 1), padding=1, groups=2), dict(padding="same", dilation=(1, 2, 1))],
    ids=str,
)
def test_conv3d_derivatives(kw):
    w = _t((4, 1 if kw.get("groups") else 2, 2, 2, 2), 1)
    b = _t((4,), 2)
    _both(lambda x, w, b: F.conv3d(x, w, b, **kw), _t((1, 2, 3, 4, 3)), w, b)


def test_conv3d_matches_direct_sum():
    x, w = _t((1, 2, 3, 4, 3), grad=False), _t((3, 2, 2, 2, 2), 1, grad=False)
    out = F.conv3d(x, w).numpy()
    xs, ws = x.numpy(), w.numpy()
    ref = np.zeros((1, 3, 2, 3, 2))
    for d, h, k in itertools.product(range(2), range(3), range(2)):
        ref[0, :, d, h, k] = np.einsum("cijl,ocijl->o", xs[0, :, d : d + 2, h : h + 2, k : k + 2], ws)
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_conv3d_module_unbatched():
    m = tg.nn.Conv3d(2, 3, 2, dtype=tg.float64)
    x = _t((2, 3, 3, 3), grad=False)
    np.testing.assert_allclose(m(x).detach().numpy(), m(x.unsqueeze(0))[0].detach().numpy(), rtol=1e-12)


# =========================================================================== instance norm
def test_instance_norm_derivatives():
    _both(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), _t((2, 3, 4)), _t((3,), 1), _t((3,), 2))


def test_instance_norm_normalises_each_instance():
    out = F.instance_norm(_t((2, 3, 4, 5), grad=False) * 5 + 2).numpy().reshape(2, 3, -1)
    np.testing.assert_allclose(out.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(-1), 1, rtol=1e-3)


# =========================================================================== pixel shuffle
def test_pixel_shuffle_derivatives_and_inverse():
    x = _t((2, 8, 2, 3))
    _both(lambda x: F.pixel_shuffle(x, 2), x)
    _both(lambda x: F.pixel_unshuffle(x, 2), _t((1, 2, 4, 6)))
    np.testing.assert_array_equal(
        F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2).detach().numpy(), x.detach().numpy()
    )
    y = F.pixel_shuffle(tg.arange(4.0).reshape(1, 4, 1, 1), 2)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[0, 1], [2, 3]])


# =========================================================================== embedding_bag
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_derivatives(mode):
    idx, off = tg.tensor([1, 2, 4, 1, 0, 3]), tg.tensor([0, 2, 2, 5])
    _both(lambda w: F.embedding_bag(idx, w, off, mode=mode, padding_idx=0), _t((5, 3)))


def test_embedding_bag_per_sample_weights_derivatives():
    idx, off = tg.tensor([1, 2, 4, 1, 3]), tg.tensor([0, 2])
    _both(
        lambda w, p: F.embedding_bag(idx, w, off, mode="sum", per_sample_weights=p), _t((5, 3)), _t((5,), 1)
    )


def test_embedding_bag_scale_grad_by_freq():
    """Each entry's weight gradient is divided by how often its index occurs in the batch
    (the documented rule; torch's embedding_bag applies it inconsistently, see the report)."""
    w = _t((6, 2))
    idx = tg.tensor([1, 1, 2, 3, 1])
    F.embedding_bag(idx, w, tg.tensor([0, 2]), mode="sum", scale_grad_by_freq=True).sum().backward()
    np.testing.assert_allclose(w.grad.numpy()[:, 0], [0, 1, 1, 1, 0, 0])


def test_embedding_bag_values():
    w = tg.tensor(np.arange(12.0).reshape(6, 2))
    out = F.embedding_bag(tg.tensor([[0, 1, 5], [2, 2, 3]]), w, mode="mean").numpy()
    np.testing.assert_allclose(
        out, [[(0 + 2 + 10) / 3, (1 + 3 + 11) / 3], [(4 + 4 + 6) / 3, (5 + 5 + 7) / 3]]
    )
    out = F.embedding_bag(tg.tensor([0, 5, 1]), w, tg.tensor([0, 2, 3]), mode="max").numpy()
    np.testing.assert_array_equal(out, [[10, 11], [2, 3], [0, 0]])


# =========================================================================== ctc_loss
def _brute_force_ctc(lp, target, blank):
    """-log of the summed probability of every alignment that collapses to ``target``."""
    t_len, c = lp.shape
    total = 0.0
    for path in itertools.product(range(c), repeat=t_len):
        collapsed = [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]
        if collapsed == list(target):
            total += np.exp(sum(lp[t, k] for t, k in enumerate(path)))
    return -np.log(total)


@pytest.mark.parametrize("target,blank", [([1, 2], 0), ([1, 1], 0), ([2], 1), ([], 0)])
def test_ctc_loss_brute_force(target, blank):
    x = np.random.default_rng(3).standard_normal((5, 3))
    lp = x - np.log(np.exp(x).sum(1, keepdims=True))
    out = F.ctc_loss(
        tg.tensor(lp[:, None]),
        tg.tensor([target if target else [0]]),
        tg.tensor([5]),
        tg.tensor([len(target)]),
        blank=blank,
        reduction="sum",
    )
    np.testing.assert_allclose(float(out), _brute_force_ctc(lp, target, blank), rtol=1e-10)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_ctc_loss_gradcheck_through_log_softmax(reduction):
    tgt, il, tl = tg.tensor([[1, 2, 2], [2, 1, 0]]), tg.tensor([6, 5]), tg.tensor([3, 2])
    x = _t((6, 2, 4))
    assert gradcheck(lambda x: F.ctc_loss(x.log_softmax(2), tgt, il, tl, reduction=reduction), (x,))


def test_ctc_loss_zero_infinity():
    x = _t((4, 1, 3))
    tgt = tg.tensor([[1, 1, 1]])  # needs 5 steps (blanks between repeats): impossible in 4
    loss = F.ctc_loss(x.log_softmax(2), tgt, tg.tensor([4]), tg.tensor([3]), reduction="sum")
    assert float(loss) == float("inf")
    loss = F.ctc_loss(
        x.log_softmax(2), tgt, tg.tensor([4]), tg.tensor([3]), reduction="sum", zero_infinity=True
    )
    loss.backward()
    assert float(loss) == 0.0 and not np.any(x.grad.numpy())


# =========================================================================== forward mode
_W3 = np.random.default_rng(7).standard_normal((3, 1, 1, 2, 2))


@pytest.mark.parametrize("name,fn", [
    ("bicubic", lambda t: F.interpolate(t, scale_factor=2, mode="bicubic")),
    ("nearest", lambda t: F.interpolate(t, size=(5, 2))),
    ("unfold", lambda t: F.unfold(t, 2)),
    ("pixel_shuffle", lambda t: F.pixel_shuffle(t.reshape(1, 8, 3, 1), 2)),
    ("instance_norm", lambda t: F.instance_norm(t)),
    ("conv3d", lambda t: F.conv3d(t.unsqueeze(0), tg.tensor(_W3))),
])
def test_forward_mode_matches_finite_differences(name, fn):
    import tapegrad.autograd.forward_ad as fwAD
    x, v = _t((1, 2, 3, 4), grad=False), _t((1, 2, 3, 4), 1, grad=False)
    with fwAD.dual_level():
        tangent = fwAD.unpack_dual(fn(fwAD.make_dual(x, v))).tangent
    eps = 1e-6
    numeric = (fn(x + eps * v) - fn(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(tangent.numpy(), numeric.numpy(), atol=1e-7)

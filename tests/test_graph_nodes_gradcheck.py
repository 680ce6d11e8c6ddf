"""gradcheck and gradgradcheck (float64) of the nodes that give layers and losses torch's graph
shape: addmm-based ``linear``, batch norm (batch and running statistics), group norm, and
the single-node losses. Their values and first gradients are compared with torch in
tests/parity (losses, nn); here the derivatives are checked against finite differences,
twice, so the backward formulas (written with ops) are differentiable themselves.
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(7)


def t(*shape, low=None, high=None, grad=True):
    a = RNG.uniform(low, high, shape) if low is not None else RNG.standard_normal(shape)
    return tg.tensor(a, dtype=tg.float64, requires_grad=grad)


def idx(high, *shape, ignore=None):
    a = RNG.integers(0, high, shape)
    if ignore is not None:
        a.flat[1] = ignore
    return tg.tensor(a.astype(np.int64))


RM, RV = tg.tensor(RNG.standard_normal(3)), tg.tensor(RNG.uniform(0.5, 2, 3))
W3 = t(3, low=0.2, high=1.5, grad=False)
# constants the functions close over: made once, so every evaluation sees the same ones
W34, P43, SOFT = t(3, 4, low=0.1, high=1, grad=False), t(4, 3, low=0, high=1, grad=False), \
    t(4, 3, low=0, high=1, grad=False).softmax(1)
T5, T5I, T222 = idx(3, 5, ignore=-100), idx(3, 5, ignore=1), idx(3, 2, 2, 2)
T24, T2212 = idx(3, 2, 4), idx(3, 2, 2, 1, 2)

CASES = {
    "linear": (lambda x, w, b: F.linear(x, w, b), [t(4, 3), t(2, 3), t(2)]),
    "linear-3d": (lambda x, w, b: F.linear(x, w, b), [t(2, 4, 3), t(2, 3), t(2)]),
    "linear-1d": (lambda x, w, b: F.linear(x, w, b), [t(3), t(2, 3), t(2)]),
    "linear-no-bias-3d": (lambda x, w: F.linear(x, w), [t(2, 4, 3), t(2, 3)]),
    "linear-no-bias-1d": (lambda x, w: F.linear(x, w), [t(3), t(2, 3)]),
    "addmm-broadcast-bias": (lambda b, x, w: tg.addmm(b, x, w, beta=0.5, alpha=1.5),
                             [t(3), t(2, 4), t(4, 3)]),
    "batch_norm-train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                         [t(4, 3, 2), t(3), t(3)]),
    "batch_norm-eval": (lambda x, w, b: F.batch_norm(x, RM, RV, w, b, training=False),
                        [t(4, 3, 2), t(3), t(3)]),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), [t(2, 4, 3), t(4), t(4)]),
    "group_norm-no-affine": (lambda x: F.group_norm(x, 2), [t(2, 4, 2, 2)]),
    "smooth_l1_loss": (lambda x, y: F.smooth_l1_loss(x, y, beta=0.7), [t(3, 4), t(3, 4)]),
    "smooth_l1_loss-none": (lambda x, y: F.smooth_l1_loss(x, y, reduction="none"), [t(3, 4), t(3, 4)]),
    "huber_loss": (lambda x, y: F.huber_loss(x, y, reduction="sum", delta=0.8), [t(3, 4), t(3, 4)]),
    "huber_loss-weight": (lambda x, y: F.huber_loss(x, y, weight=W34),
                          [t(3, 4), t(3, 4)]),
    "mse_loss-weight": (lambda x, y: F.mse_loss(x, y, weight=W34),
                        [t(3, 4), t(3, 4)]),
    "binary_cross_entropy": (lambda x, y: F.binary_cross_entropy(x, y, weight=W3),
                             [t(4, 3, low=0.1, high=0.9), t(4, 3, low=0, high=1)]),
    "binary_cross_entropy-none": (lambda x: F.binary_cross_entropy(x, P43, reduction="none"),
                                  [t(4, 3, low=0.1, high=0.9)]),
    "binary_cross_entropy_with_logits": (
        lambda x, y: F.binary_cross_entropy_with_logits(x, y, weight=W3, pos_weight=W3 * 2),
        [t(4, 3), t(4, 3, low=0, high=1)]),
    "binary_cross_entropy_with_logits-sum": (
        lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="sum"),
        [t(4, 3), t(4, 3, low=0, high=1)]),
    "nll_loss-1d": (lambda x: F.nll_loss(x, tg.tensor(1)), [t(3)]),
    "nll_loss-weight-ignore": (lambda x: F.nll_loss(x, T5, weight=W3), [t(5, 3)]),
    "nll_loss-3d": (lambda x: F.nll_loss(x, T24, reduction="none"), [t(2, 3, 4)]),
    "nll_loss-4d": (lambda x: F.nll_loss(x, T222, reduction="sum"), [t(2, 3, 2, 2)]),
    "nll_loss-5d": (lambda x: F.nll_loss(x, T2212), [t(2, 3, 2, 1, 2)]),
    "cross_entropy-1d": (lambda x: F.cross_entropy(x, tg.tensor(2)), [t(3)]),
    "cross_entropy-4d-smoothing": (lambda x: F.cross_entropy(x, T222, label_smoothing=0.2,
                                                             weight=W3), [t(2, 3, 2, 2)]),
    "cross_entropy-smoothing-ignore": (
        lambda x: F.cross_entropy(x, T5I, label_smoothing=0.1, ignore_index=1, reduction="none"), [t(5, 3)]),
    "cross_entropy-probabilities": (lambda x: F.cross_entropy(x, SOFT,
                                                              label_smoothing=0.1), [t(4, 3)]),
    "kl_div": (lambda x, y: F.kl_div(x, y, reduction="batchmean"), [t(4, 3), t(4, 3, low=0.1, high=1)]),
    "kl_div-constant-target": (lambda x: F.kl_div(x, P43, reduction="sum"),
                               [t(4, 3)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_and_gradgradcheck(name):
    fn, inputs = CASES[name]
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)

"""Graph shapes: the ``grad_fn`` / ``next_functions`` trees of layers and losses equal torch's.

Tutorials print these trees and ``make_dot`` draws them, so a layer must record the nodes
torch records, in torch's edge order: ``nn.Linear`` is ``AddmmBackward0(bias, input,
TBackward0(weight))``, batch norm's parameters reach ``NativeBatchNormBackward0`` without
views, a composite loss is one named node where torch's is. Each case runs the same
builder on both libraries and compares the whole tree: node names, edge order, ``None``
edges and leaves.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402


def tree(fn):
    """A node as ``(name, (children...))``; a leaf's accumulator as "AccumulateGrad"."""
    if fn is None:
        return None
    name = fn.name()
    if name.endswith("AccumulateGrad"):
        return "AccumulateGrad"
    return (name, tuple(tree(child) for child, _ in fn.next_functions))


class Lib:
    """The pieces a case needs from one library, with data drawn from one NumPy seed."""

    def __init__(self, mod):
        self.mod, self.nn, self.F = mod, mod.nn, mod.nn.functional
        self.rng = np.random.default_rng(0)

    def x(self, *shape, grad=True, low=None, high=None):
        a = self.rng.uniform(low, high, shape) if low is not None else self.rng.standard_normal(shape)
        return self.mod.tensor(a.astype(np.float32), requires_grad=grad)

    def idx(self, high, *shape):
        return self.mod.tensor(self.rng.integers(0, high, shape).astype(np.int64))


CASES = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


# ------------------------------------------------------------------------------ layers
case("linear")(lambda L: L.nn.Linear(3, 2)(L.x(4, 3)))
case("linear-no-bias")(lambda L: L.nn.Linear(3, 2, bias=False)(L.x(4, 3)))
case("linear-3d")(lambda L: L.nn.Linear(3, 2)(L.x(2, 4, 3)))
case("linear-3d-no-bias")(lambda L: L.nn.Linear(3, 2, bias=False)(L.x(2, 4, 3)))
case("linear-1d")(lambda L: L.nn.Linear(3, 2)(L.x(3)))
case("linear-1d-no-bias")(lambda L: L.nn.Linear(3, 2, bias=False)(L.x(3)))
case("linear-input-no-grad")(lambda L: L.nn.Linear(3, 2)(L.x(4, 3, grad=False)))
case("F.linear-constant-weight")(lambda L: L.F.linear(L.x(4, 3), L.x(2, 3, grad=False), L.x(2, grad=False)))
case("mlp")(lambda L: L.nn.Sequential(L.nn.Linear(3, 4), L.nn.ReLU(), L.nn.Linear(4, 2))(L.x(5, 3)))
case("conv2d")(lambda L: L.nn.Conv2d(2, 3, 3)(L.x(1, 2, 5, 5)))
case("conv2d-no-bias")(lambda L: L.nn.Conv2d(2, 3, 3, bias=False)(L.x(1, 2, 5, 5)))
case("batchnorm2d")(lambda L: L.nn.BatchNorm2d(3)(L.x(2, 3, 4, 4)))
case("batchnorm2d-eval")(lambda L: L.nn.BatchNorm2d(3).eval()(L.x(2, 3, 4, 4)))
case("batchnorm2d-eval-input-no-grad")(lambda L: L.nn.BatchNorm2d(3).eval()(L.x(2, 3, 4, 4, grad=False)))
case("batchnorm2d-no-affine")(lambda L: L.nn.BatchNorm2d(3, affine=False)(L.x(2, 3, 4, 4)))
case("batchnorm1d")(lambda L: L.nn.BatchNorm1d(3)(L.x(4, 3)))
case("batchnorm-no-running-stats")(
    lambda L: L.nn.BatchNorm2d(3, track_running_stats=False).eval()(L.x(2, 3, 4, 4)))
case("layernorm")(lambda L: L.nn.LayerNorm(3)(L.x(4, 3)))
case("layernorm-no-affine")(lambda L: L.nn.LayerNorm(3, elementwise_affine=False)(L.x(4, 3)))
case("layernorm-no-bias")(lambda L: L.nn.LayerNorm(3, bias=False)(L.x(4, 3)))
case("groupnorm")(lambda L: L.nn.GroupNorm(2, 4)(L.x(2, 4, 3, 3)))
case("groupnorm-3d")(lambda L: L.nn.GroupNorm(2, 4)(L.x(2, 4, 3)))
case("groupnorm-no-affine")(lambda L: L.nn.GroupNorm(2, 4, affine=False)(L.x(2, 4, 3, 3)))
case("F.group_norm")(lambda L: L.F.group_norm(L.x(2, 4, 3), 2))
case("embedding")(lambda L: L.nn.Embedding(5, 3)(L.idx(5, 2)))
case("embedding-padding")(lambda L: L.nn.Embedding(5, 3, padding_idx=0)(L.idx(5, 2)))
case("conv-bn-relu-block")(lambda L: L.nn.Sequential(
    L.nn.Conv2d(2, 3, 3, bias=False), L.nn.BatchNorm2d(3), L.nn.ReLU())(L.x(2, 2, 5, 5)))


# ------------------------------------------------------------------------------ losses
def _pointwise(name, fn):
    for r in ("mean", "sum", "none"):
        case(f"{name}-{r}")(lambda L, r=r: fn(L, r))


_pointwise("mse_loss", lambda L, r: L.F.mse_loss(L.x(4, 3), L.x(4, 3, grad=False), reduction=r))
_pointwise("mse_loss-target-grad", lambda L, r: L.F.mse_loss(L.x(4, 3), L.x(4, 3), reduction=r))
_pointwise("mse_loss-weight", lambda L, r: L.F.mse_loss(L.x(4, 3), L.x(4, 3, grad=False), reduction=r,
                                                         weight=L.x(4, 3, grad=False, low=0, high=1)))
_pointwise("l1_loss", lambda L, r: L.F.l1_loss(L.x(4, 3), L.x(4, 3, grad=False), reduction=r))
_pointwise("l1_loss-weight", lambda L, r: L.F.l1_loss(L.x(4, 3), L.x(4, 3, grad=False), reduction=r,
                                                       weight=L.x(4, 3, grad=False, low=0, high=1)))
_pointwise("smooth_l1_loss", lambda L, r: L.F.smooth_l1_loss(L.x(4, 3), L.x(4, 3), reduction=r))
_pointwise("smooth_l1_loss-beta0", lambda L, r: L.F.smooth_l1_loss(L.x(4, 3), L.x(4, 3), reduction=r,
                                                                    beta=0.0))
_pointwise("huber_loss", lambda L, r: L.F.huber_loss(L.x(4, 3), L.x(4, 3, grad=False), reduction=r,
                                                      delta=0.7))
_pointwise("huber_loss-weight", lambda L, r: L.F.huber_loss(L.x(4, 3), L.x(4, 3), reduction=r,
                                                             weight=L.x(4, 3, grad=False, low=0, high=1)))
_pointwise("binary_cross_entropy", lambda L, r: L.F.binary_cross_entropy(
    L.x(4, 3, low=0.05, high=0.95), L.x(4, 3, grad=False, low=0, high=1), reduction=r))
_pointwise("binary_cross_entropy-weight-target-grad", lambda L, r: L.F.binary_cross_entropy(
    L.x(4, 3, low=0.05, high=0.95), L.x(4, 3, low=0, high=1), reduction=r,
    weight=L.x(3, grad=False, low=0, high=1)))
_pointwise("binary_cross_entropy_with_logits", lambda L, r: L.F.binary_cross_entropy_with_logits(
    L.x(4, 3), L.x(4, 3, grad=False, low=0, high=1), reduction=r))
_pointwise("binary_cross_entropy_with_logits-weights", lambda L, r: L.F.binary_cross_entropy_with_logits(
    L.x(4, 3), L.x(4, 3, low=0, high=1), reduction=r, weight=L.x(3, grad=False, low=0, high=1),
    pos_weight=L.x(3, grad=False, low=0.5, high=2)))
_pointwise("kl_div", lambda L, r: L.F.kl_div(L.x(4, 3), L.x(4, 3, grad=False, low=0, high=1), reduction=r))
_pointwise("kl_div-log-target", lambda L, r: L.F.kl_div(L.x(4, 3), L.x(4, 3, grad=False), reduction=r,
                                                         log_target=True))
case("kl_div-batchmean")(lambda L: L.F.kl_div(L.x(4, 3), L.x(4, 3, grad=False, low=0, high=1),
                                              reduction="batchmean"))
_pointwise("nll_loss", lambda L, r: L.F.nll_loss(L.x(4, 3), L.idx(3, 4), reduction=r))
_pointwise("nll_loss-weight", lambda L, r: L.F.nll_loss(L.x(4, 3), L.idx(3, 4), reduction=r,
                                                         weight=L.x(3, grad=False, low=0.1, high=1)))
_pointwise("nll_loss-1d", lambda L, r: L.F.nll_loss(L.x(3), L.idx(3), reduction=r))
_pointwise("nll_loss-3d", lambda L, r: L.F.nll_loss(L.x(2, 3, 4), L.idx(3, 2, 4), reduction=r))
_pointwise("nll_loss-4d", lambda L, r: L.F.nll_loss(L.x(2, 3, 2, 2), L.idx(3, 2, 2, 2), reduction=r))
_pointwise("nll_loss-5d", lambda L, r: L.F.nll_loss(L.x(2, 3, 2, 2, 2), L.idx(3, 2, 2, 2, 2), reduction=r))
_pointwise("cross_entropy", lambda L, r: L.F.cross_entropy(L.x(4, 3), L.idx(3, 4), reduction=r))
_pointwise("cross_entropy-1d", lambda L, r: L.F.cross_entropy(L.x(3), L.idx(3), reduction=r))
_pointwise("cross_entropy-3d", lambda L, r: L.F.cross_entropy(L.x(2, 3, 4), L.idx(3, 2, 4), reduction=r))
_pointwise("cross_entropy-4d", lambda L, r: L.F.cross_entropy(L.x(2, 3, 2, 2), L.idx(3, 2, 2, 2),
                                                               reduction=r))
_pointwise("cross_entropy-smoothing", lambda L, r: L.F.cross_entropy(L.x(4, 3), L.idx(3, 4), reduction=r,
                                                                      label_smoothing=0.1))
_pointwise("cross_entropy-smoothing-weight", lambda L, r: L.F.cross_entropy(
    L.x(4, 3), L.idx(3, 4), reduction=r, label_smoothing=0.1, weight=L.x(3, grad=False, low=0.1, high=1)))
_pointwise("cross_entropy-smoothing-4d", lambda L, r: L.F.cross_entropy(
    L.x(2, 3, 2, 2), L.idx(3, 2, 2, 2), reduction=r, label_smoothing=0.2))
_pointwise("cross_entropy-probabilities", lambda L, r: L.F.cross_entropy(
    L.x(4, 3), L.x(4, 3, grad=False, low=0, high=1).softmax(1), reduction=r))
_pointwise("cross_entropy-probabilities-weight-smoothing", lambda L, r: L.F.cross_entropy(
    L.x(4, 3), L.x(4, 3, grad=False, low=0, high=1).softmax(1), reduction=r, label_smoothing=0.1,
    weight=L.x(3, grad=False, low=0.1, high=1)))
case("cross_entropy-probabilities-1d")(lambda L: L.F.cross_entropy(L.x(3), L.x(3, grad=False, low=0, high=1)))
case("cross_entropy-probabilities-4d")(lambda L: L.F.cross_entropy(
    L.x(2, 3, 2, 2), L.x(2, 3, 2, 2, grad=False, low=0, high=1)))
for _cls, _make in {
    "MSELoss": lambda L: (L.x(4, 3), L.x(4, 3, grad=False)),
    "L1Loss": lambda L: (L.x(4, 3), L.x(4, 3, grad=False)),
    "SmoothL1Loss": lambda L: (L.x(4, 3), L.x(4, 3, grad=False)),
    "HuberLoss": lambda L: (L.x(4, 3), L.x(4, 3, grad=False)),
    "BCELoss": lambda L: (L.x(4, 3, low=0.05, high=0.95), L.x(4, 3, grad=False, low=0, high=1)),
    "BCEWithLogitsLoss": lambda L: (L.x(4, 3), L.x(4, 3, grad=False, low=0, high=1)),
    "KLDivLoss": lambda L: (L.x(4, 3), L.x(4, 3, grad=False, low=0, high=1)),
    "NLLLoss": lambda L: (L.x(4, 3), L.idx(3, 4)),
    "CrossEntropyLoss": lambda L: (L.x(4, 3), L.idx(3, 4)),
}.items():
    case(f"nn.{_cls}")(lambda L, c=_cls, m=_make: getattr(L.nn, c)()(*m(L)))

#: the loss modules the cases above cover; a new one must get a case
COVERED_LOSSES = {"MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss",
                  "KLDivLoss", "NLLLoss", "CrossEntropyLoss"}
#: losses whose trees are another module's business (not yet compared here)
OTHER_LOSSES = {"CTCLoss"}


@pytest.mark.parametrize("name", list(CASES))
def test_graph_equals_torch(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean' warning, in both
        torch.manual_seed(0)
        expected = tree(CASES[name](Lib(torch)).grad_fn)
        tg.manual_seed(0)
        got = tree(CASES[name](Lib(tg)).grad_fn)
    assert got == expected


def test_every_loss_module_has_a_case():
    ours = {n for n in dir(tg.nn) if n.endswith("Loss")}
    assert ours - OTHER_LOSSES <= COVERED_LOSSES, sorted(ours - OTHER_LOSSES - COVERED_LOSSES)
    assert ours >= COVERED_LOSSES


def test_tree_tells_edge_order_apart():
    """The comparison can fail: a graph with its edges swapped is a different tree."""
    a = tg.randn(2, requires_grad=True)
    b = tg.randn(2, 2, requires_grad=True)
    assert tree((a * b.exp()).grad_fn) != tree((b.exp() * a).grad_fn)
    exp = ("ExpBackward0", ("AccumulateGrad",))
    assert tree((a * b.exp()).grad_fn) == ("MulBackward0", ("AccumulateGrad", exp))


def test_resnet_block_has_torchs_view_count():
    """The issue's count: batch norm parameters reach their node directly, so the graph of a
    conv + bn + relu stack has no ViewBackward0 at all, in torch and here."""
    def count(fn, seen):
        if fn is None or id(fn) in seen:
            return 0
        seen.add(id(fn))
        return (fn.name() == "ViewBackward0") + sum(count(c, seen) for c, _ in fn.next_functions)

    L = Lib(tg)
    net = L.nn.Sequential(*[m for _ in range(3) for m in (L.nn.Conv2d(3, 3, 3, padding=1, bias=False),
                                                          L.nn.BatchNorm2d(3), L.nn.ReLU())])
    assert count(net(L.x(2, 3, 6, 6)).grad_fn, set()) == 0


@pytest.mark.parametrize("name", ["linear", "batchnorm2d", "batchnorm2d-eval", "groupnorm",
                                  "binary_cross_entropy_with_logits-mean", "smooth_l1_loss-mean",
                                  "huber_loss-sum", "cross_entropy-4d-mean",
                                  "binary_cross_entropy-weight-target-grad-sum"])
def test_named_nodes_differentiate_twice(name):
    """A named node's backward is written with ops: its gradients have a graph (gradgrad works)."""
    out = CASES[name](Lib(tg))
    leaves = [p for p in _leaves(out.grad_fn) if p.requires_grad]
    loss = (out * out).sum() if out.ndim else out
    grads = tg.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
    assert any(g is not None and g.grad_fn is not None for g in grads)


def _leaves(fn, seen=None):
    seen = set() if seen is None else seen
    out = []
    if fn is None or id(fn) in seen:
        return out
    seen.add(id(fn))
    if fn.name().endswith("AccumulateGrad"):
        return [fn.variable]
    for c, _ in fn.next_functions:
        out += _leaves(c, seen)
    return out

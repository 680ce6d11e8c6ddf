"""Loss parity of ``tapegrad.nn`` with ``torch.nn``: values, input (and target) gradients,
numerical stability for huge logits, buffers, reprs and error messages.

Every case builds the same loss module in both libraries (weights converted through NumPy),
evaluates it on the same input and target in float64 and float32, backpropagates the same
random upstream gradient and compares the loss and the gradients.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402
import tapegrad.nn as tnn  # noqa: E402
import tapegrad.nn.functional as TF  # noqa: E402

TOL = {
    "float64": dict(rtol=1e-10, atol=1e-12),
    "float32": dict(rtol=1e-4, atol=1e-5),
}
DTYPES = ("float64", "float32")
REDUCTIONS = ("none", "sum", "mean")


def _np(t):
    return t.detach().numpy()


class Lib:
    """What a case needs from one library: its ``nn`` and a NumPy -> tensor converter."""

    def __init__(self, mod, dtype):
        self.mod = mod
        self.nn = mod.nn
        self.dtype = dtype

    def t(self, a, requires_grad=False):
        a = np.asarray(a)
        if a.dtype.kind == "f":
            a = a.astype(self.dtype)
        return self.mod.tensor(a.copy(), requires_grad=requires_grad)


# =========================================================================== data makers
def logits(*shape):
    return lambda rng: rng.standard_normal(shape) * 2


def probs(*shape):
    """Values in (0.02, 0.98) (BCELoss input)."""
    return lambda rng: rng.uniform(0.02, 0.98, shape)


def soft_targets(*shape, dim=1):
    def make(rng):
        x = rng.uniform(0.1, 1.0, shape)
        return x / x.sum(axis=dim, keepdims=True)
    return make


def classes(c, *shape, ignore=None):
    """Class indices; with ``ignore`` set, about a quarter of them are that value."""
    def make(rng):
        t = rng.integers(0, c, shape).astype(np.int64)
        if ignore is not None:
            t = np.where(rng.random(shape) < 0.25, ignore, t)
            t.flat[0] = 0 if ignore != 0 else 1   # at least one valid target
        return t
    return make


def hard(*shape):
    """Float targets of exactly 0 and 1."""
    return lambda rng: rng.integers(0, 2, shape).astype(np.float64)


def fixed(values, dtype=None):
    return lambda rng: np.asarray(values, dtype=dtype)


W3 = [0.2, 1.0, 2.5]
W4 = [0.5, 1.5, 1.0, 3.0]

# (id, factory(lib) -> loss module, input maker, target maker, target requires grad)
LOSS_CASES = []


def case(name, factory, inp, tgt, tgrad=False, reductions=REDUCTIONS):
    for r in reductions:
        LOSS_CASES.append((f"{name}-{r}", factory, r, inp, tgt, tgrad))


case("mse", lambda L, r: L.nn.MSELoss(reduction=r), logits(3, 4, 5), logits(3, 4, 5), True)
case("mse-1d", lambda L, r: L.nn.MSELoss(reduction=r), logits(7), logits(7), True)
case("l1", lambda L, r: L.nn.L1Loss(reduction=r), logits(3, 4, 5), logits(3, 4, 5), True)
case("smoothl1", lambda L, r: L.nn.SmoothL1Loss(reduction=r), logits(4, 6), logits(4, 6), True)
case("smoothl1-beta0.5", lambda L, r: L.nn.SmoothL1Loss(reduction=r, beta=0.5), logits(4, 6), logits(4, 6),
     True)
case(
    "smoothl1-beta2", lambda L, r: L.nn.SmoothL1Loss(reduction=r, beta=2.0), logits(4, 6), logits(4, 6), True
)
case(
    "smoothl1-beta0", lambda L, r: L.nn.SmoothL1Loss(reduction=r, beta=0.0), logits(4, 6), logits(4, 6), True
)
case("huber-delta0.7", lambda L, r: L.nn.HuberLoss(reduction=r, delta=0.7), logits(4, 6), logits(4, 6), True)
# ---- CrossEntropyLoss with class indices
case("ce", lambda L, r: L.nn.CrossEntropyLoss(reduction=r), logits(5, 3), classes(3, 5))
case("ce-batch1", lambda L, r: L.nn.CrossEntropyLoss(reduction=r), logits(1, 4), classes(4, 1))
case("ce-unbatched", lambda L, r: L.nn.CrossEntropyLoss(reduction=r), logits(4), fixed(2, np.int64))
case(
    "ce-weight", lambda L, r: L.nn.CrossEntropyLoss(weight=L.t(W3), reduction=r), logits(6, 3), classes(3, 6)
)
case("ce-ignore", lambda L, r: L.nn.CrossEntropyLoss(ignore_index=1, reduction=r), logits(8, 3),
     classes(3, 8, ignore=1))
case("ce-ignore-default", lambda L, r: L.nn.CrossEntropyLoss(reduction=r), logits(8, 3),
     classes(3, 8, ignore=-100))
case("ce-weight-ignore", lambda L, r: L.nn.CrossEntropyLoss(weight=L.t(W3), ignore_index=-1, reduction=r),
     logits(8, 3), classes(3, 8, ignore=-1))
case("ce-smooth", lambda L, r: L.nn.CrossEntropyLoss(label_smoothing=0.1, reduction=r), logits(6, 3),
     classes(3, 6))
case("ce-smooth-weight", lambda L, r: L.nn.CrossEntropyLoss(weight=L.t(W3), label_smoothing=0.2, reduction=r),
     logits(6, 3), classes(3, 6))
case("ce-smooth-weight-ignore", lambda L, r: L.nn.CrossEntropyLoss(weight=L.t(W3), label_smoothing=0.3,
                                                                   ignore_index=2, reduction=r),
     logits(8, 3), classes(3, 8, ignore=2))
case("ce-smooth-1", lambda L, r: L.nn.CrossEntropyLoss(label_smoothing=1.0, reduction=r), logits(6, 3),
     classes(3, 6))
case("ce-4d", lambda L, r: L.nn.CrossEntropyLoss(reduction=r), logits(2, 4, 3, 5), classes(4, 2, 3, 5))
case("ce-4d-weight-ignore", lambda L, r: L.nn.CrossEntropyLoss(weight=L.t(W4), ignore_index=3, reduction=r),
     logits(2, 4, 3, 5), classes(4, 2, 3, 5, ignore=3))
case("ce-4d-smooth-weight-ignore",
     lambda L, r: L.nn.CrossEntropyLoss(weight=L.t(W4), ignore_index=-100, label_smoothing=0.15, reduction=r),
     logits(2, 4, 3, 5), classes(4, 2, 3, 5, ignore=-100))
case("ce-3d", lambda L, r: L.nn.CrossEntropyLoss(reduction=r), logits(2, 4, 7), classes(4, 2, 7))
# ---- CrossEntropyLoss with class probabilities
case("ce-prob", lambda L, r: L.nn.CrossEntropyLoss(reduction=r), logits(5, 3), soft_targets(5, 3), True)
case("ce-prob-weight", lambda L, r: L.nn.CrossEntropyLoss(weight=L.t(W3), reduction=r), logits(5, 3),
     soft_targets(5, 3), True)
case("ce-prob-smooth", lambda L, r: L.nn.CrossEntropyLoss(label_smoothing=0.2, reduction=r), logits(5, 3),
     soft_targets(5, 3), True)
case("ce-prob-smooth-weight", lambda L, r: L.nn.CrossEntropyLoss(weight=L.t(W3), label_smoothing=0.2,
                                                                 reduction=r),
     logits(5, 3), soft_targets(5, 3), True)
case("ce-prob-4d", lambda L, r: L.nn.CrossEntropyLoss(weight=L.t(W4), reduction=r), logits(2, 4, 3, 2),
     soft_targets(2, 4, 3, 2), True)
case("ce-prob-unbatched", lambda L, r: L.nn.CrossEntropyLoss(reduction=r), logits(4), soft_targets(4, dim=0),
     True)
# ---- NLLLoss
case("nll", lambda L, r: L.nn.NLLLoss(reduction=r), logits(5, 3), classes(3, 5))
case(
    "nll-weight-ignore",
    lambda L, r: L.nn.NLLLoss(weight=L.t(W3), ignore_index=0, reduction=r),
    logits(8, 3),
    classes(3, 8, ignore=0),
)
case("nll-3d", lambda L, r: L.nn.NLLLoss(weight=L.t(W4), reduction=r), logits(2, 4, 5), classes(4, 2, 5))
case("nll-4d-ignore", lambda L, r: L.nn.NLLLoss(ignore_index=-100, reduction=r), logits(2, 4, 3, 3),
     classes(4, 2, 3, 3, ignore=-100))
case("nll-unbatched", lambda L, r: L.nn.NLLLoss(reduction=r), logits(4), fixed(1, np.int64))
# ---- BCE
case("bce", lambda L, r: L.nn.BCELoss(reduction=r), probs(4, 5), probs(4, 5))
case("bce-hard", lambda L, r: L.nn.BCELoss(reduction=r), probs(4, 5), hard(4, 5))
case("bce-tgrad", lambda L, r: L.nn.BCELoss(reduction=r), probs(4, 5), probs(4, 5), True)
case("bce-weight", lambda L, r: L.nn.BCELoss(weight=L.t(np.linspace(0.5, 2, 5)), reduction=r), probs(4, 5),
     probs(4, 5))
case("bcelogits", lambda L, r: L.nn.BCEWithLogitsLoss(reduction=r), logits(4, 5), probs(4, 5), True)
case("bcelogits-posw", lambda L, r: L.nn.BCEWithLogitsLoss(pos_weight=L.t([0.5, 1, 2, 3, 4]), reduction=r),
     logits(4, 5), probs(4, 5), True)
case("bcelogits-weight", lambda L, r: L.nn.BCEWithLogitsLoss(weight=L.t(np.linspace(0.5, 2, 5)), reduction=r),
     logits(4, 5), hard(4, 5))
case("bcelogits-both", lambda L, r: L.nn.BCEWithLogitsLoss(weight=L.t([[2.0], [1.0], [0.5], [0.0]]),
                                                            pos_weight=L.t([3.0, 1, 1, 0.5, 2]), reduction=r),
     logits(4, 5), probs(4, 5), True)


def _run(factory, reduction, x, y, tgrad, dtype, rng, upstream=None):
    """Evaluate in both libraries; return (tapegrad, torch) of (loss, input grad, target grad)."""
    res = []
    if y.dtype.kind == "f":
        y = y.astype(dtype)
    g = None
    for mod in (tg, torch):
        L = Lib(mod, dtype)
        loss_fn = factory(L, reduction)
        xi = L.t(x, requires_grad=True)
        yi = L.t(y, requires_grad=tgrad)
        out = loss_fn(xi, yi)
        if g is None:
            g = rng.standard_normal(tuple(out.shape)) if upstream is None else upstream
        out.backward(L.t(np.asarray(g)))
        res.append((out, xi.grad, yi.grad if tgrad else None))
    return res


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_parity(case, dtype, rng):
    _, factory, reduction, inp, tgt, tgrad = case
    x, y = inp(rng), tgt(rng)
    (a, ga, ta), (b, gb, tb) = _run(factory, reduction, x, y, tgrad, dtype, rng)
    assert tuple(a.shape) == tuple(b.shape)
    assert str(a.dtype) == str(b.dtype)
    np.testing.assert_allclose(_np(a), _np(b), err_msg="loss", **TOL[dtype])
    np.testing.assert_allclose(_np(ga), _np(gb), err_msg="input grad", **TOL[dtype])
    if tgrad:
        assert ta is not None
        np.testing.assert_allclose(_np(ta), _np(tb), err_msg="target grad", **TOL[dtype])


@pytest.mark.parametrize("name", ["ce-weight-ignore-mean", "bcelogits-both-mean", "smoothl1-beta0.5-sum"])
def test_loss_functional_matches_module(name, rng):
    """F.<loss> gives the module's value."""
    _, factory, reduction, inp, tgt, _ = [c for c in LOSS_CASES if c[0] == name][0]
    x, y = inp(rng), tgt(rng)
    L = Lib(tg, "float64")
    m = factory(L, reduction)
    kw = {"reduction": reduction}
    if isinstance(m, tnn.CrossEntropyLoss):
        fn, kw = TF.cross_entropy, dict(kw, weight=m.weight, ignore_index=m.ignore_index)
    elif isinstance(m, tnn.BCEWithLogitsLoss):
        fn, kw = TF.binary_cross_entropy_with_logits, dict(kw, weight=m.weight, pos_weight=m.pos_weight)
    else:
        fn, kw = TF.smooth_l1_loss, dict(kw, beta=m.beta)
    np.testing.assert_array_equal(_np(fn(L.t(x), L.t(y), **kw)), _np(m(L.t(x), L.t(y))))


# =========================================================================== all-ignored targets
def test_ce_all_ignored_mean_is_nan():
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = np.full(3, -100)
    a = tnn.CrossEntropyLoss()(tg.tensor(x, requires_grad=True), tg.tensor(t))
    b = torch.nn.CrossEntropyLoss()(torch.tensor(x, requires_grad=True), torch.tensor(t))
    assert np.isnan(_np(b)) and np.isnan(_np(a))
    s_a = tnn.CrossEntropyLoss(reduction="sum")(tg.tensor(x), tg.tensor(t))
    assert float(_np(s_a)) == 0.0


# =========================================================================== numerical stability
BIG = [
    [1e4, -1e4, 0.0],
    [-1e4, 1e4, 1e4],
    [-1e4, -1e4, -1e4],
    [3e4, 0.0, -3e4],
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("target", [[0, 0, 2, 2], [1, 2, 0, 1]])
def test_ce_huge_logits_stable(dtype, smoothing, target):
    x = np.array(BIG)
    t = np.array(target)
    res = []
    for mod in (tg, torch):
        xi = mod.tensor(x.astype(dtype), requires_grad=True)
        loss = mod.nn.CrossEntropyLoss(label_smoothing=smoothing)(xi, mod.tensor(t))
        loss.backward()
        res.append((_np(loss), _np(xi.grad)))
    (la, ga), (lb, gb) = res
    assert np.isfinite(la).all() and np.isfinite(ga).all()
    np.testing.assert_allclose(la, lb, **TOL[dtype])
    np.testing.assert_allclose(ga, gb, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("posw", [None, [2.0, 0.5, 1.0]])
def test_bce_with_logits_huge_logits_stable(dtype, posw):
    x = np.array(BIG)
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.3], [1.0, 1.0, 0.0], [0.0, 0.5, 1.0]])
    res = []
    for mod in (tg, torch):
        xi = mod.tensor(x.astype(dtype), requires_grad=True)
        pw = None if posw is None else mod.tensor(np.array(posw, dtype=dtype))
        loss = mod.nn.BCEWithLogitsLoss(pos_weight=pw, reduction="none")(xi, mod.tensor(y.astype(dtype)))
        loss.sum().backward()
        res.append((_np(loss), _np(xi.grad)))
    (la, ga), (lb, gb) = res
    assert np.isfinite(la).all() and np.isfinite(ga).all()
    np.testing.assert_allclose(la, lb, **TOL[dtype])
    np.testing.assert_allclose(ga, gb, **TOL[dtype])


def test_log_softmax_nll_huge_logits_stable():
    x = np.array(BIG)
    t = np.array([1, 0, 2, 2])
    res = []
    for mod in (tg, torch):
        xi = mod.tensor(x, requires_grad=True)
        loss = mod.nn.NLLLoss()(mod.nn.LogSoftmax(dim=1)(xi), mod.tensor(t))
        loss.backward()
        res.append((_np(loss), _np(xi.grad)))
    assert np.isfinite(res[0][0]) and np.isfinite(res[0][1]).all()
    np.testing.assert_allclose(res[0][0], res[1][0], **TOL["float64"])
    np.testing.assert_allclose(res[0][1], res[1][1], **TOL["float64"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_saturated_inputs(dtype):
    """BCELoss at inputs of exactly 0 and 1: logs clamp at -100, as in torch."""
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-30])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    vals = []
    for mod in (tg, torch):
        xi = mod.tensor(x.astype(dtype), requires_grad=True)
        loss = mod.nn.BCELoss(reduction="none")(xi, mod.tensor(y.astype(dtype)))
        vals.append(_np(loss))
    np.testing.assert_allclose(vals[0], vals[1], **TOL[dtype])
    assert np.isfinite(vals[0]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_saturated_gradient(dtype):
    """torch's BCE gradient is (x - y) / max(x (1 - x), 1e-12): finite and large at 0 and 1."""
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    grads = []
    for mod in (tg, torch):
        xi = mod.tensor(x.astype(dtype), requires_grad=True)
        mod.nn.BCELoss(reduction="sum")(xi, mod.tensor(y.astype(dtype))).backward()
        grads.append(_np(xi.grad))
    np.testing.assert_allclose(grads[0], grads[1], **TOL[dtype])


# =========================================================================== modules: buffers, reprs
def _pair(factory):
    return factory(Lib(tg, "float32")), factory(Lib(torch, "float32"))


@pytest.mark.parametrize("factory", [
    lambda L: L.nn.CrossEntropyLoss(),
    lambda L: L.nn.CrossEntropyLoss(weight=L.t(W3), ignore_index=1, label_smoothing=0.1),
    lambda L: L.nn.NLLLoss(weight=L.t(W3)),
    lambda L: L.nn.BCELoss(weight=L.t(W3)),
    lambda L: L.nn.BCEWithLogitsLoss(pos_weight=L.t(W3)),
    lambda L: L.nn.BCEWithLogitsLoss(weight=L.t(W3), pos_weight=L.t(W3)),
    lambda L: L.nn.MSELoss(reduction="sum"),
    lambda L: L.nn.L1Loss(),
    lambda L: L.nn.SmoothL1Loss(beta=0.5),
])
def test_loss_module_structure(factory):
    a, b = _pair(factory)
    assert repr(a) == repr(b)
    assert list(a.state_dict()) == list(b.state_dict())
    assert [n for n, _ in a.named_buffers()] == [n for n, _ in b.named_buffers()]
    assert list(a.parameters()) == [] and list(b.parameters()) == []
    for attr in ("reduction", "ignore_index", "label_smoothing", "beta"):
        if hasattr(b, attr):
            assert getattr(a, attr) == getattr(b, attr), attr


def test_legacy_size_average_reduce():
    for kw, expected in [(dict(size_average=False), "sum"), (dict(reduce=False), "none"),
                         (dict(size_average=True, reduce=True), "mean")]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = tnn.MSELoss(**kw)
            b = torch.nn.MSELoss(**kw)
        assert a.reduction == b.reduction == expected


# =========================================================================== error messages
def _both_raise(fn, exc, match=None):
    """fn(lib) raises ``exc`` in both libraries; with ``match`` torch's message equals ours."""
    with pytest.raises(exc) as eb:
        fn(torch)
    with pytest.raises(exc) as ea:
        fn(tg)
    if match is not None:
        assert str(ea.value) == str(eb.value) == match
    return str(ea.value), str(eb.value)


X43 = np.arange(12, dtype=np.float32).reshape(4, 3) / 10


def test_ce_float_target_wrong_dtype():
    _both_raise(
        lambda m: m.nn.CrossEntropyLoss()(m.tensor(X43), m.tensor(np.array([0, 1, 2, 1], dtype=np.float32))),
        RuntimeError,
        "expected target dtype to be Long or Byte, but got Float",
    )


def test_ce_int32_target():
    _both_raise(
        lambda m: m.nn.CrossEntropyLoss()(m.tensor(X43), m.tensor(np.array([0, 1, 2, 1], dtype=np.int32))),
        RuntimeError,
        "expected target dtype to be Long or Byte, but got Int",
    )


def test_nll_float_target():
    _both_raise(lambda m: m.nn.NLLLoss()(m.tensor(X43), m.tensor(np.array([0, 1, 2, 1], dtype=np.float32))),
                RuntimeError, "expected target dtype to be Long or Byte, but got Float")


def test_ce_batch_mismatch():
    _both_raise(lambda m: m.nn.CrossEntropyLoss()(m.tensor(X43), m.tensor(np.array([0, 1, 2]))),
                ValueError, "Expected input batch_size (4) to match target batch_size (3).")


def test_ce_target_out_of_bounds():
    _both_raise(lambda m: m.nn.CrossEntropyLoss()(m.tensor(X43), m.tensor(np.array([0, 1, 3, 1]))),
                IndexError, "Target 3 is out of bounds.")


def test_ce_prob_target_wrong_shape():
    _both_raise(lambda m: m.nn.CrossEntropyLoss()(m.tensor(X43), m.tensor(np.full((4, 2), 0.5, np.float32))),
                RuntimeError, "0D or 1D target tensor expected, multi-target not supported")


def test_ce_spatial_target_wrong_dims():
    _both_raise(lambda m: m.nn.CrossEntropyLoss()(m.tensor(np.zeros((2, 3, 4, 5), np.float32)),
                                                  m.tensor(np.zeros((2, 4), np.int64))), RuntimeError,
                "only batches of spatial targets supported (3D tensors) but got targets of dimension: 2")


def test_ce_bad_label_smoothing_and_reduction():
    _both_raise(lambda m: m.nn.functional.cross_entropy(m.tensor(X43), m.tensor(np.array([0, 1, 2, 1])),
                                                        label_smoothing=1.5),
                RuntimeError, "label_smoothing must be between 0.0 and 1.0. Got: 1.5")
    _both_raise(lambda m: m.nn.functional.cross_entropy(m.tensor(X43), m.tensor(np.array([0, 1, 2, 1])),
                                                        reduction="bogus"),
                ValueError, "bogus is not a valid value for reduction")


def test_bce_errors():
    _both_raise(
        lambda m: m.nn.BCELoss()(
            m.tensor(np.full(4, 0.5, np.float32)), m.tensor(np.full(3, 0.5, np.float32))
        ),
        ValueError,
        "Using a target size (torch.Size([3])) that is different to the input size (torch.Size([4])) is "
        "deprecated. Please ensure they have the same size.",
    )
    _both_raise(lambda m: m.nn.BCEWithLogitsLoss()(m.tensor(np.zeros(4, np.float32)),
                                                   m.tensor(np.zeros(3, np.float32))),
                ValueError, "Target size (torch.Size([3])) must be the same as input size (torch.Size([4]))")
    _both_raise(
        lambda m: m.nn.BCELoss()(
            m.tensor(np.full(4, 1.5, np.float32)), m.tensor(np.full(4, 0.5, np.float32))
        ),
        RuntimeError,
        "all elements of input should be between 0 and 1",
    )


def test_mse_broadcast_warning():
    for m in (torch, tg):
        with pytest.warns(UserWarning, match="Using a target size"):
            m.nn.MSELoss()(m.tensor(np.zeros((3, 1), np.float32)), m.tensor(np.zeros(3, np.float32)))

"""Parity of ``tapegrad.nn.init`` with ``torch.nn.init``.

The random streams differ (tapegrad uses NumPy's PCG64), so random initialisers are
compared statistically on large tensors: bounds exactly, mean and standard deviation within
a few standard errors of each other. Fans, gains, deterministic initialisers (eye, dirac,
constant) and error messages are compared exactly; orthogonality to rounding.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402
import tapegrad.nn as tnn  # noqa: E402
from tapegrad.nn import init as tinit  # noqa: E402

SHAPES = [(3, 4), (7, 2), (8, 3, 5), (16, 4, 3, 3), (2, 3, 1, 2, 2), (5, 1)]
N = (500, 400)  # 200k samples: standard error of the mean ~ 0.0022 std
N_TRUNC = (200, 150)  # torch's rejection sampler is slow for narrow intervals


def _pair(shape, dtype="float32"):
    return (tnn.Parameter(tg.zeros(*shape, dtype=getattr(tg, dtype))),
            torch.nn.Parameter(torch.zeros(*shape, dtype=getattr(torch, dtype))))


def _np(t):
    return t.detach().numpy().astype(np.float64)


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match(shape):
    a, b = _pair(shape)
    assert tinit._calculate_fan_in_and_fan_out(a) == torch.nn.init._calculate_fan_in_and_fan_out(b)
    for mode in ("fan_in", "fan_out"):
        assert tinit._calculate_correct_fan(a, mode) == torch.nn.init._calculate_correct_fan(b, mode)


@pytest.mark.parametrize("args", [("linear",), ("conv1d",), ("conv_transpose3d",), ("sigmoid",),
                                  ("tanh",), ("relu",), ("leaky_relu",), ("leaky_relu", 0.2),
                                  ("leaky_relu", 3), ("leaky_relu", math.sqrt(5)), ("selu",)])
def test_gains_match(args):
    g1, g2 = tinit.calculate_gain(*args), torch.nn.init.calculate_gain(*args)
    assert g1 == g2 and type(g1) is type(g2)


def _same_error(fn_t, fn_p):
    with pytest.raises(Exception) as te:
        fn_t()
    with pytest.raises(Exception) as pe:
        fn_p()
    assert type(te.value) is type(pe.value) and str(te.value) == str(pe.value)


@pytest.mark.parametrize("name,shape,kw", [
    ("calculate_gain", None, dict(nonlinearity="gelu")),
    ("calculate_gain", None, dict(nonlinearity="leaky_relu", param="x")),
    ("xavier_uniform_", (5,), {}),
    ("kaiming_normal_", (3, 3), dict(mode="fan_avg")),
    ("eye_", (2, 2, 2), {}),
    ("dirac_", (3, 3), {}),
    ("dirac_", (3, 2, 3), dict(groups=2)),
    ("orthogonal_", (4,), {}),
    ("sparse_", (2, 2, 2), dict(sparsity=0.1)),
])
def test_errors_match(name, shape, kw):
    if shape is None:
        _same_error(lambda: getattr(tinit, name)(**kw), lambda: getattr(torch.nn.init, name)(**kw))
    else:
        a, b = _pair(shape)
        _same_error(lambda: getattr(tinit, name)(a, **kw), lambda: getattr(torch.nn.init, name)(b, **kw))


def _stats_close(x, y, bound=None):
    """Same distribution: same support and moments within sampling error."""
    sx, sy = x.std(), y.std()
    se = max(sx, sy) / math.sqrt(x.size)
    rel = 0.015 if x.size >= 100_000 else 0.03
    assert abs(x.mean() - y.mean()) < 8 * se, (x.mean(), y.mean())
    assert sx == pytest.approx(sy, rel=rel)
    if bound is not None:
        assert np.abs(x).max() <= bound * (1 + 1e-6) and np.abs(y).max() <= bound * (1 + 1e-6)
        assert np.abs(x).max() > 0.999 * bound
    # a few quantiles as a coarse check of the shape
    qs = [0.05, 0.25, 0.5, 0.75, 0.95]
    np.testing.assert_allclose(np.quantile(x, qs), np.quantile(y, qs), atol=2 * rel * sy)


@pytest.mark.parametrize("name,kw,bound", [
    ("uniform_", dict(a=-0.3, b=0.7), None),
    ("normal_", dict(mean=0.5, std=2.0), None),
    ("xavier_uniform_", dict(gain=1.7), 1.7 * math.sqrt(6.0 / 900)),
    ("xavier_normal_", dict(gain=0.5), None),
    ("kaiming_uniform_", dict(a=math.sqrt(5)), math.sqrt(2.0 / 6) * math.sqrt(3.0 / 400)),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu"), math.sqrt(2.0) * math.sqrt(3.0 / 500)),
    ("kaiming_normal_", {}, None),
    ("kaiming_normal_", dict(a=0.2, mode="fan_out", nonlinearity="leaky_relu"), None),
    ("kaiming_normal_", dict(nonlinearity="tanh"), None),
    ("trunc_normal_", {}, 2.0),
    ("trunc_normal_", dict(mean=0.0, std=0.02, a=-0.04, b=0.04), 0.04),
    ("trunc_normal_", dict(mean=0.3, std=1.0, a=-0.5, b=0.5), 0.5),
    ("trunc_normal_", dict(mean=0.0, std=1.0, a=1.0, b=1.5), 1.5),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_initialisers_have_torch_distribution(name, kw, bound, dtype):
    tg.manual_seed(0)
    torch.manual_seed(0)
    a, b = _pair(N_TRUNC if name == "trunc_normal_" else N, dtype)
    ra = getattr(tinit, name)(a, **kw)
    rb = getattr(torch.nn.init, name)(b, **kw)
    assert ra is a and rb is b
    assert a.requires_grad and a.grad_fn is None and str(a.dtype) == str(b.dtype)
    _stats_close(_np(a), _np(b), bound)
    if name == "trunc_normal_":
        lo, hi = kw.get("a", -2.0), kw.get("b", 2.0)
        for x in (_np(a), _np(b)):
            assert x.min() >= lo and x.max() <= hi


@pytest.mark.parametrize("shape", [(30, 50), (50, 30), (16, 4, 3, 3), (1, 10), (10, 1)])
@pytest.mark.parametrize("gain", [1, 0.5, math.sqrt(2)])
def test_orthogonal_matches_torch_gram(shape, gain):
    a, b = _pair(shape)
    tinit.orthogonal_(a, gain=gain)
    torch.nn.init.orthogonal_(b, gain=gain)
    grams = []
    for x in (_np(a), _np(b)):
        m = x.reshape(shape[0], -1)
        grams.append(m @ m.T if m.shape[0] < m.shape[1] else m.T @ m)
    np.testing.assert_allclose(grams[0], grams[1], atol=1e-5)
    np.testing.assert_allclose(grams[0], gain ** 2 * np.eye(grams[0].shape[0]), atol=1e-5)


def test_orthogonal_entries_distribution_matches_torch():
    """Haar-random orthogonal matrices: entries ~ N(0, 1/n) for large n."""
    a, b = _pair((200, 200), "float64")
    tinit.orthogonal_(a)
    torch.nn.init.orthogonal_(b)
    _stats_close(_np(a).ravel(), _np(b).ravel())


@pytest.mark.parametrize("name,shape,kw", [
    ("eye_", (3, 5), {}), ("eye_", (6, 2), {}),
    ("dirac_", (4, 2, 3), {}), ("dirac_", (6, 3, 3, 4), dict(groups=3)), ("dirac_", (2, 4, 3, 3, 3), {}),
    ("constant_", (4, 3), dict(val=-0.75)), ("ones_", (2, 5), {}), ("zeros_", (3, 3), {}),
])
def test_deterministic_initialisers_match_exactly(name, shape, kw):
    a, b = _pair(shape)
    with torch.no_grad():
        b.fill_(3.0)
    with tg.no_grad():
        a.fill_(3.0)
    getattr(tinit, name)(a, **kw)
    getattr(torch.nn.init, name)(b, **kw)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert a.requires_grad == b.requires_grad


def test_sparse_matches_torch_zero_count():
    a, b = _pair((20, 50))
    tinit.sparse_(a, sparsity=0.35, std=0.1)
    torch.nn.init.sparse_(b, sparsity=0.35, std=0.1)
    za, zb = (_np(a) == 0).sum(axis=0), (_np(b) == 0).sum(axis=0)
    np.testing.assert_array_equal(za, zb)
    assert _np(a)[_np(a) != 0].std() == pytest.approx(_np(b)[_np(b) != 0].std(), rel=0.15)


def test_zero_element_and_deprecation_warnings_match():
    a, b = _pair((0, 4))
    with pytest.warns(UserWarning, match="zero-element") as wt:
        tinit.kaiming_uniform_(a)
    with pytest.warns(UserWarning, match="zero-element") as wp:
        torch.nn.init.kaiming_uniform_(b)
    assert str(wt[0].message) == str(wp[0].message)
    a, b = _pair((3, 3))
    with pytest.warns(FutureWarning) as wt:
        tinit.normal(a)
    with pytest.warns(FutureWarning) as wp:
        torch.nn.init.normal(b)
    assert str(wt[0].message) == str(wp[0].message)


def test_signatures_match():
    import inspect
    for name in torch.nn.init.__all__:
        ps = inspect.signature(getattr(torch.nn.init, name))
        ts = inspect.signature(getattr(tinit, name))
        if name.endswith("_") or name == "calculate_gain":
            assert list(ts.parameters) == list(ps.parameters), name
            for k, p in ps.parameters.items():
                assert ts.parameters[k].default == p.default, (name, k)

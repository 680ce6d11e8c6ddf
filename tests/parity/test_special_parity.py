"""tapegrad.special against torch.special over wide domains: values and gradients, float32
and float64, plus the edge values (poles, infinities, nan) and the error messages.

tapegrad evaluates every special function in float64 and rounds, so float32 results are
as close to torch as torch's own float32 kernels allow. The float64 tolerance is 1e-12
except where torch's kernel is itself less accurate (measured against mpmath), noted per row:
torch's trigamma (the derivative of digamma) is good to about 5e-10, its igamma to about 1e-9.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402

R = np.random.default_rng(1515)


def _u(lo, hi, n=400):
    return lambda: R.uniform(lo, hi, n)


def _logu(lo, hi, n=200, sign=1.0):
    return lambda: sign * 10 ** R.uniform(lo, hi, n)


def _cat(*fs):
    return lambda: np.concatenate([f() for f in fs])


class Row:
    """One function over one domain; ``rtol``/``grtol``: float64 tolerances of values and
    gradients, ``rtol32``/``grtol32`` float32's (torch's float32 kernels are good to a few ulp)."""

    def __init__(self, name, fn, dom, rtol=1e-12, grtol=1e-12, rtol32=5e-5, grtol32=5e-5,
                 dtypes=("float32", "float64")):
        self.name, self.fn, self.dom, self.dtypes = name, fn, dom, dtypes
        self.tol = {"float64": (rtol, grtol), "float32": (rtol32, grtol32)}


ROWS = [
    Row("lgamma", lambda L, x: L.lgamma(x), _cat(_u(0.01, 40), _logu(-30, 30), _u(-30, -0.01)), grtol=1e-11),
    Row("gammaln", lambda L, x: L.special.gammaln(x), _u(0.5, 8)),
    # torch's trigamma is good to ~5e-10 (float64) and ~1e-4 (float32) against mpmath
    Row("digamma", lambda L, x: L.digamma(x), _cat(_u(0.01, 40), _logu(-8, 8), _u(-30, -0.01)),
        rtol=1e-11, grtol=1e-9, dtypes=("float64",)),
    Row("digamma_f32", lambda L, x: L.digamma(x), _u(0.1, 40), grtol32=2e-4, dtypes=("float32",)),
    Row("psi", lambda L, x: L.special.psi(x), _u(0.5, 8), grtol=1e-9, grtol32=2e-4),
    Row("polygamma1", lambda L, x: L.polygamma(1, x), _cat(_u(0.05, 40), _logu(-3, 6)), rtol=1e-9,
        rtol32=2e-4),
    Row("polygamma2", lambda L, x: L.special.polygamma(2, x), _cat(_u(0.05, 40), _logu(-3, 6))),
    Row("polygamma5", lambda L, x: L.polygamma(5, x), _cat(_u(0.05, 40), _logu(-2, 4))),
    Row("multigammaln", lambda L, x: L.special.multigammaln(x, 4), _u(1.6, 30), grtol=1e-9, grtol32=2e-4),
    Row("erfc", lambda L, x: L.special.erfc(x), _u(-6, 26)),
    Row("erfinv", lambda L, x: L.special.erfinv(x),
        _cat(_u(-1, 1), _logu(-300, -1), _logu(-14, -1, sign=-1.0))),
    Row("erfinv_tail", lambda L, x: L.erfinv(x), lambda: 1 - 10 ** R.uniform(-15, -2, 200), grtol=1e-11),
    Row("erfcx", lambda L, x: L.special.erfcx(x), _cat(_u(-26, 26), _logu(1, 200))),
    Row("ndtr", lambda L, x: L.special.ndtr(x), _u(-37, 8)),
    # the derivative exp(ndtri^2 / 2) turns ndtri's last ulp into x^2 ulps
    Row("ndtri", lambda L, x: L.special.ndtri(x), _cat(_u(0, 1), _logu(-300, -1)), grtol=1e-10),
    # torch's log_ndtr gradient loses digits below about -1e3 and its float32 below -20
    Row("log_ndtr", lambda L, x: L.special.log_ndtr(x), _cat(_u(-40, 40), _logu(1, 3, sign=-1.0)),
        grtol=1e-9, dtypes=("float64",)),
    Row("log_ndtr_f32", lambda L, x: L.special.log_ndtr(x), _u(-15, 40)),
    Row("i0", lambda L, x: L.special.i0(x), _u(-700, 700), dtypes=("float64",)),
    Row("i1", lambda L, x: L.special.i1(x), _u(-700, 700), dtypes=("float64",)),
    Row("i0_f32", lambda L, x: L.i0(x), _u(-85, 85)),
    Row("i1_f32", lambda L, x: L.special.i1(x), _u(-85, 85)),
    Row("i0e", lambda L, x: L.special.i0e(x), _cat(_u(-100, 100), _logu(2, 8))),
    Row("i1e", lambda L, x: L.special.i1e(x), _cat(_u(-100, 100), _logu(2, 8, sign=-1.0))),
    Row("sinc", lambda L, x: L.special.sinc(x), _u(-20, 20), grtol=1e-10),
    Row("entr", lambda L, x: L.special.entr(x), _cat(_u(0.001, 50), _logu(-30, 30))),
    Row("expit", lambda L, x: L.special.expit(x), _u(-40, 40)),
    Row("logit", lambda L, x: L.special.logit(x), _u(0.001, 0.999)),
    Row("logit_eps", lambda L, x: L.special.logit(x, eps=1e-3), _u(0.0, 1.0)),
    Row("exp2", lambda L, x: L.special.exp2(x), _u(-50, 50)),
    Row("expm1", lambda L, x: L.special.expm1(x), _u(-5, 5)),
    Row("log1p", lambda L, x: L.special.log1p(x), _u(-0.9, 5)),
    Row("xlogy_scalar", lambda L, x: L.special.xlogy(2.0, x), _u(0.01, 50)),
    Row("xlog1py_scalar", lambda L, x: L.special.xlog1py(x, 0.75), _u(-5, 5)),
]


def _both(fn, x, dt):
    out = []
    for L in (tg, torch):
        t = L.tensor(x.astype(dt), requires_grad=True)
        y = fn(L, t)
        y.backward(L.ones_like(y))
        out.append((y.detach().numpy().astype(np.float64), t.grad.numpy().astype(np.float64), y.dtype))
    return out


def _assert_close(a, b, rtol, atol, what):
    both_nan = np.isnan(a) & np.isnan(b)
    same_inf = np.isinf(a) & (a == b)
    ok = both_nan | same_inf | (np.abs(a - b) <= atol + rtol * np.abs(b))
    assert ok.all(), f"{what}: worst {a[~ok][:3]} vs torch {b[~ok][:3]} at {np.flatnonzero(~ok)[:3]}"


@pytest.mark.parametrize("r,dt", [pytest.param(r, dt, id=f"{r.name}-{dt}") for r in ROWS for dt in r.dtypes])
def test_values_and_gradients_match_torch(r, dt):
    x = r.dom()
    (ya, ga, da), (yb, gb, db) = _both(r.fn, x, dt)
    assert str(da) == str(db)
    rtol, grtol = r.tol[dt]
    atol = 1e-5 if dt == "float32" else 1e-14
    _assert_close(ya, yb, rtol, atol, f"{r.name} values")
    _assert_close(ga, gb, grtol, atol, f"{r.name} gradients")


EDGES = [
    ("lgamma", lambda L, x: L.lgamma(x), [0.0, -0.0, -1.0, -2.5, 1e-300, math.inf, -math.inf, math.nan]),
    ("digamma", lambda L, x: L.digamma(x), [0.0, -0.0, -1.0, -2.5, 1e-300, math.inf, -math.inf, math.nan]),
    ("polygamma", lambda L, x: L.polygamma(2, x), [0.0, 1e-3, 1e10, math.nan]),
    ("erfinv", lambda L, x: L.erfinv(x), [1.0, -1.0, 1.5, -2.0, 0.0, -0.0, math.nan]),
    ("ndtri", lambda L, x: L.special.ndtri(x), [0.0, 1.0, 0.5, -1.0, 2.0, math.nan]),
    ("erfcx", lambda L, x: L.special.erfcx(x), [-30.0, -26.0, 0.0, 1e300, math.inf, math.nan]),
    ("log_ndtr", lambda L, x: L.special.log_ndtr(x), [-40.0, 0.0, 40.0, -math.inf, math.inf, math.nan]),
    ("i0", lambda L, x: L.i0(x), [0.0, 700.0, 720.0, -math.inf, math.nan]),
    ("i1e", lambda L, x: L.special.i1e(x), [0.0, -1e5, 1e5, math.inf, -math.inf, math.nan]),
    ("entr", lambda L, x: L.special.entr(x), [0.0, -1.0, math.inf, math.nan]),
    ("logit", lambda L, x: L.logit(x), [0.0, 1.0, -1.0, 2.0, math.nan]),
    ("sinc", lambda L, x: L.sinc(x), [0.0, 1.0, -3.0, math.inf, math.nan]),
    ("gammainc", lambda L, x: L.special.gammainc(x, L.ones_like(x)), [0.0, -1.0, 1.0, math.inf, math.nan]),
    ("gammaincc", lambda L, x: L.special.gammaincc(L.ones_like(x) * 2, x), [0.0, -1.0, math.inf, math.nan]),
    ("xlogy", lambda L, x: L.xlogy(x, L.tensor([0.0, 0.0, math.nan, 1.0, 2.0], dtype=x.dtype)),
     [0.0, 1.0, 0.0, 0.0, -1.0]),
]


@pytest.mark.parametrize("name,fn,vals", EDGES, ids=[e[0] for e in EDGES])
def test_edge_values_match_torch(name, fn, vals):
    v = np.asarray(vals, dtype=np.float64)
    a = fn(tg, tg.tensor(v)).numpy()
    b = fn(torch, torch.tensor(v)).numpy()
    _assert_close(a, b, 1e-12, 0.0, name)


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_gammainc_matches_torch(dt):
    a = np.concatenate([R.uniform(0.05, 30, 300), 10 ** R.uniform(-2, 3, 100)]).astype(dt)
    x = (a * R.uniform(0, 3, a.size)).astype(dt)
    for f in ("gammainc", "gammaincc"):
        ours = getattr(tg.special, f)(tg.tensor(a), tg.tensor(x)).numpy()
        theirs = getattr(torch.special, f)(torch.tensor(a), torch.tensor(x)).numpy()
        # torch's igamma is good to ~1e-9 in float64 (mpmath); ours to ~1e-13
        np.testing.assert_allclose(ours, theirs, rtol=1e-5 if dt == "float32" else 2e-8, atol=1e-7)


def test_gammainc_gradient_of_x_matches_torch():
    a = R.uniform(0.2, 8, 20)
    x = R.uniform(0.01, 10, 20)
    grads = []
    for L in (tg, torch):
        xt = L.tensor(x, requires_grad=True)
        y = L.special.gammainc(L.tensor(a), xt) + 2 * L.special.gammaincc(L.tensor(a), xt)
        assert y.grad_fn.name() == "AddBackward0"
        y.sum().backward()
        grads.append(xt.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_grad_fn_names_match_torch():
    calls = [
        lambda L, x: L.lgamma(x), lambda L, x: L.digamma(x), lambda L, x: L.polygamma(3, x),
        lambda L, x: L.mvlgamma(x + 2, 2), lambda L, x: L.erfinv(x * 0.1), lambda L, x: L.erfc(x),
        lambda L, x: L.special.erfcx(x), lambda L, x: L.special.ndtri(x * 0.1 + 0.5),
        lambda L, x: L.special.log_ndtr(x), lambda L, x: L.i0(x), lambda L, x: L.special.i0e(x),
        lambda L, x: L.special.i1(x), lambda L, x: L.special.i1e(x), lambda L, x: L.sinc(x),
        lambda L, x: L.special.entr(x), lambda L, x: L.logit(x * 0.1 + 0.5),
        lambda L, x: L.special.logit(x * 0.1 + 0.5, 0.1), lambda L, x: L.xlogy(x, x),
        lambda L, x: L.xlogy(2.0, x), lambda L, x: L.xlogy(x, 2.0), lambda L, x: L.special.xlog1py(x, x),
        lambda L, x: L.special.xlog1py(2.0, x), lambda L, x: L.special.xlog1py(x, 2.0),
        lambda L, x: L.special.expit(x), lambda L, x: L.special.gammaln(x), lambda L, x: L.special.psi(x),
        lambda L, x: L.special.gammainc(x.detach(), x), lambda L, x: L.special.gammaincc(x.detach(), x),
    ]
    for f in calls:
        names = [f(L, L.tensor([0.7, 1.3], requires_grad=True)).grad_fn.name() for L in (tg, torch)]
        assert names[0] == names[1]


def test_errors_match_torch():
    cases = [
        lambda L: L.polygamma(-1, L.tensor([1.0])),
        lambda L: L.mvlgamma(L.tensor([3.0]), 0),
        lambda L: L.special.gammainc(L.tensor([1.0], requires_grad=True), L.tensor([1.0])).sum().backward(),
        lambda L: L.special.gammaincc(L.tensor([1.0], requires_grad=True), L.tensor([1.0])).sum().backward(),
        lambda L: L.lgamma([1.0]),
    ]
    for c in cases:
        with pytest.raises(Exception) as theirs:
            c(torch)
        with pytest.raises(type(theirs.value)) as ours:
            c(tg)
        assert str(ours.value) == str(theirs.value)


def test_int_promotion_matches_torch():
    for f in (lambda L, x: L.lgamma(x), lambda L, x: L.special.i1(x), lambda L, x: L.xlogy(x, x),
              lambda L, x: L.special.xlog1py(x, 2), lambda L, x: L.polygamma(1, x), lambda L, x: L.sinc(x)):
        a = f(tg, tg.tensor([1, 2, 3]))
        b = f(torch, torch.tensor([1, 2, 3]))
        assert str(a.dtype) == str(b.dtype)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)

"""tapegrad.distributions: samplers checked statistically (fixed seeds, moments within a few
standard errors, Kolmogorov-Smirnov or chi-square goodness of fit at fixed thresholds) and
reparameterised gradients checked against analytic derivatives of expectations.

Values of log_prob/entropy/cdf/kl against PyTorch are in
tests/parity/test_distributions_parity.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import distributions as D
from tapegrad.distributions.gamma import _gamma_sample_grad

N = 40000
KS_LIMIT = 1.95      # sqrt(n) * D at p ~ 0.001
Z = 4.5              # standard errors allowed for a moment


def t64(v, grad=False):
    return tg.tensor(np.asarray(v, dtype=np.float64), requires_grad=grad)


def _ks(samples, cdf):
    x = np.sort(samples)
    n = x.size
    f = cdf(x)
    d = max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))
    return math.sqrt(n) * d


def _chi2_limit(df, z=3.09):
    """The chi-square quantile at p ~ 0.001 (Wilson-Hilferty)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def _chi2(samples, support, pmf):
    counts = np.array([(samples == k).sum() for k in support], dtype=np.float64)
    expected = pmf * samples.size
    keep = expected >= 5
    rest_obs = samples.size - counts[keep].sum()
    rest_exp = samples.size - expected[keep].sum()
    stat = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    df = keep.sum() - 1
    if rest_exp >= 5:
        stat += (rest_obs - rest_exp) ** 2 / rest_exp
        df += 1
    return stat, _chi2_limit(df)


def _moments(x, mean, var):
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    assert np.all(np.abs(x.mean(0) - mean) <= Z * np.sqrt(var / n)), (x.mean(0), mean)
    # the variance of the sample variance ~ (mu4 - var^2) / n; use the sample's own mu4
    mu4 = ((x - x.mean(0)) ** 4).mean(0)
    assert np.all(np.abs(x.var(0) - var) <= Z * np.sqrt((mu4 - var ** 2) / n)), (x.var(0), var)


# ---------------------------------------------------------------- reproducibility and shapes
def test_manual_seed_makes_samples_repeatable():
    dists = [D.Normal(0.0, 1.0), D.Gamma(t64([0.5, 3.0]), 1.0), D.Categorical(t64([0.2, 0.3, 0.5])),
             D.Dirichlet(t64([1.0, 2.0])), D.MultivariateNormal(t64([0.0, 1.0]), t64(np.eye(2))),
             D.Bernoulli(t64([0.3])), D.Poisson(t64([4.0])), D.Binomial(5, t64([0.4])), D.Laplace(0.0, 1.0)]
    for d in dists:
        tg.manual_seed(7)
        a = d.sample((5,))
        tg.manual_seed(7)
        b = d.sample((5,))
        assert np.array_equal(a.numpy(), b.numpy())
        c = d.sample((5,))
        assert not np.array_equal(a.numpy(), c.numpy()) or isinstance(d, (D.Bernoulli,))


def test_sample_shapes_dtypes_and_gradients():
    loc = t64(np.zeros((2, 3)), grad=True)
    d = D.Normal(loc, 1.0)
    s = d.sample((4, 5))
    assert tuple(s.shape) == (4, 5, 2, 3) and s.dtype == tg.float64 and not s.requires_grad
    r = d.rsample((4,))
    assert r.requires_grad and tuple(r.shape) == (4, 2, 3)
    assert D.Normal(0.0, 1.0).sample().dtype == tg.float32 and D.Normal(0.0, 1.0).sample().shape == ()
    assert D.Categorical(t64([[0.5, 0.5]])).sample((3,)).dtype == tg.int64
    e = D.Normal(t64([0.0]), t64([1.0])).expand((4, 1))
    assert tuple(e.batch_shape) == (4, 1) and tuple(e.sample().shape) == (4, 1)
    i = D.Independent(D.Normal(t64(np.zeros((2, 3))), 1.0), 1)
    assert tuple(i.batch_shape) == (2,) and tuple(i.event_shape) == (3,)
    assert tuple(i.log_prob(i.sample((7,))).shape) == (7, 2)


# ---------------------------------------------------------------- continuous: KS and moments
def _normal_cdf(m, s):
    return lambda x: 0.5 * np.vectorize(math.erfc)(-(x - m) / (s * math.sqrt(2)))


def _gamma_cdf(a, rate):
    return lambda x: tg.special.gammainc(t64(np.full_like(x, a)), t64(x * rate)).numpy()


CONT = [
    ("normal", lambda: D.Normal(t64(1.5), t64(2.0)), 1.5, 4.0, _normal_cdf(1.5, 2.0)),
    ("laplace", lambda: D.Laplace(t64(-1.0), t64(0.5)), -1.0, 0.5,
     lambda x: np.where(x < -1, 0.5 * np.exp((x + 1) / 0.5), 1 - 0.5 * np.exp(-(x + 1) / 0.5))),
    ("uniform", lambda: D.Uniform(t64(-2.0), t64(3.0)), 0.5, 25 / 12, lambda x: (x + 2) / 5),
    ("exponential", lambda: D.Exponential(t64(3.0)), 1 / 3, 1 / 9, lambda x: 1 - np.exp(-3 * x)),
    ("gamma_small", lambda: D.Gamma(t64(0.3), t64(2.0)), 0.15, 0.075, _gamma_cdf(0.3, 2.0)),
    ("gamma_large", lambda: D.Gamma(t64(40.0), t64(0.5)), 80.0, 160.0, _gamma_cdf(40.0, 0.5)),
]


@pytest.mark.parametrize("name,make,mean,var,cdf", CONT, ids=[c[0] for c in CONT])
def test_continuous_samplers_fit(name, make, mean, var, cdf):
    tg.manual_seed(150)
    x = make().sample((N,)).numpy()
    _moments(x, mean, var)
    assert _ks(x, cdf) < KS_LIMIT


def _grid_cdf(logpdf, lo, hi, n=200001):
    grid = np.linspace(lo, hi, n)
    pdf = np.exp(logpdf(grid))
    c = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(grid))])
    return lambda x: np.interp(x, grid, c / c[-1])


def test_beta_and_dirichlet_samplers_fit():
    tg.manual_seed(151)
    # closed-form CDFs: Beta(a, 1) is x^a, Beta(1, b) is 1 - (1 - x)^b
    for a, b, cdf in ((0.6, 1.0, lambda x: x ** 0.6), (1.0, 0.7, lambda x: 1 - (1 - x) ** 0.7),
                      (2.5, 1.7, None)):
        beta = D.Beta(t64(a), t64(b))
        x = beta.sample((N,)).numpy()
        _moments(x, a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1)))
        if cdf is None:
            lp = lambda g, beta=beta: beta.log_prob(t64(np.clip(g, 1e-12, 1 - 1e-12))).numpy()  # noqa: E731
            cdf = _grid_cdf(lp, 0.0, 1.0)
        assert _ks(x, cdf) < KS_LIMIT
    alpha = np.array([0.5, 2.0, 4.0])
    x = D.Dirichlet(t64(alpha)).sample((N,)).numpy()
    a0 = alpha.sum()
    _moments(x, alpha / a0, alpha * (a0 - alpha) / (a0 ** 2 * (a0 + 1)))
    # each coordinate of a Dirichlet is Beta(alpha_i, a0 - alpha_i)
    b2 = D.Beta(t64(alpha[1]), t64(a0 - alpha[1]))
    lp = lambda g: b2.log_prob(t64(np.clip(g, 1e-12, 1 - 1e-12))).numpy()  # noqa: E731
    assert _ks(x[:, 1], _grid_cdf(lp, 0.0, 1.0)) < KS_LIMIT
    assert np.allclose(x.sum(-1), 1.0)


def test_multivariate_normal_sampler_fits():
    tg.manual_seed(152)
    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    mean = np.array([1.0, -1.0, 0.5])
    for kw in ({"covariance_matrix": t64(cov)}, {"precision_matrix": t64(np.linalg.inv(cov))},
               {"scale_tril": t64(np.linalg.cholesky(cov))}):
        x = D.MultivariateNormal(t64(mean), **kw).sample((N,)).numpy()
        _moments(x, mean, np.diag(cov))
        emp = np.cov(x.T)
        assert np.abs(emp - cov).max() < Z * math.sqrt(2 * 2.0 * 2.0 / N)
        # projections onto a fixed direction are normal with the matching variance
        w = np.array([0.3, -1.0, 2.0])
        assert _ks(x @ w, _normal_cdf(w @ mean, math.sqrt(w @ cov @ w))) < KS_LIMIT


# ---------------------------------------------------------------- discrete: chi-square
def test_discrete_samplers_fit():
    tg.manual_seed(153)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    for d in (D.Categorical(t64(p)), D.Categorical(logits=t64(np.log(p) + 3.0))):
        x = d.sample((N,)).numpy()
        stat, limit = _chi2(x, range(4), p)
        assert stat < limit
    oh = D.OneHotCategorical(t64(p)).sample((N,)).numpy()
    assert np.all(oh.sum(-1) == 1)
    stat, limit = _chi2(oh.argmax(-1), range(4), p)
    assert stat < limit
    x = D.Bernoulli(t64([0.3])).sample((N,)).numpy()[:, 0]
    stat, limit = _chi2(x, range(2), np.array([0.7, 0.3]))
    assert stat < limit
    lam = 3.7
    x = D.Poisson(t64(lam)).sample((N,)).numpy()
    k = np.arange(40)
    pmf = np.exp(k * math.log(lam) - lam - np.vectorize(math.lgamma)(k + 1))
    stat, limit = _chi2(x, k, pmf)
    assert stat < limit
    x = D.Binomial(12, t64(0.35)).sample((N,)).numpy()
    k = np.arange(13)
    pmf = np.array([math.comb(12, int(j)) * 0.35 ** j * 0.65 ** (12 - j) for j in k])
    stat, limit = _chi2(x, k, pmf)
    assert stat < limit


def test_categorical_batches_sample_their_own_rows():
    tg.manual_seed(154)
    p = np.array([[0.9, 0.05, 0.05], [0.05, 0.05, 0.9]])
    x = D.Categorical(t64(p)).sample((N,)).numpy()
    for r in range(2):
        stat, limit = _chi2(x[:, r], range(3), p[r])
        assert stat < limit


# ---------------------------------------------------------------- reparameterised gradients
def _grad_mean(loss_per_sample, params):
    gs = tg.autograd.grad(loss_per_sample.mean(), params)
    return [g.numpy() for g in gs]


def _grad_se(per_sample_fn, params, n_batches=20, n=4000):
    """Mean and standard error of the per-batch gradient estimates."""
    est = []
    for _ in range(n_batches):
        est.append(np.concatenate([np.ravel(g) for g in _grad_mean(per_sample_fn(n), params)]))
    est = np.array(est)
    return est.mean(0), est.std(0, ddof=1) / math.sqrt(n_batches)


def _check_grad(per_sample_fn, params, expected):
    mean, se = _grad_se(per_sample_fn, params)
    expected = np.concatenate([np.ravel(e) for e in expected])
    assert np.all(np.abs(mean - expected) <= Z * se + 1e-12), (mean, expected, se)


def test_rsample_gradients_location_scale():
    tg.manual_seed(160)
    loc, scale = t64(0.7, grad=True), t64(1.3, grad=True)
    d = D.Normal(loc, scale)
    _check_grad(lambda n: d.rsample((n,)) ** 2, [loc, scale], [2 * 0.7, 2 * 1.3])  # E x^2 = m^2 + s^2
    lap = D.Laplace(loc, scale)
    _check_grad(lambda n: (lap.rsample((n,)) - 0.7).abs(), [scale], [1.0])  # E|x - m| = b
    _check_grad(lambda n: lap.rsample((n,)) ** 2, [loc, scale], [2 * 0.7, 4 * 1.3])  # m^2 + 2 b^2
    lo, hi = t64(-1.0, grad=True), t64(2.0, grad=True)
    u = D.Uniform(lo, hi)
    # E x^2 = (lo^2 + lo hi + hi^2) / 3
    _check_grad(lambda n: u.rsample((n,)) ** 2, [lo, hi], [(2 * -1.0 + 2.0) / 3, (-1.0 + 4.0) / 3])
    rate = t64(2.0, grad=True)
    e = D.Exponential(rate)
    _check_grad(lambda n: e.rsample((n,)) ** 2, [rate], [-4 / 2.0 ** 3])  # E x^2 = 2 / rate^2


def test_rsample_gradients_gamma_family():
    tg.manual_seed(161)
    for a_val, r_val in ((0.4, 1.5), (3.0, 0.7), (50.0, 2.0)):
        a, r = t64(a_val, grad=True), t64(r_val, grad=True)
        g = D.Gamma(a, r)
        # E x = a / r; E x^2 = a (a + 1) / r^2
        _check_grad(lambda n, g=g: g.rsample((n,)), [a, r], [1 / r_val, -a_val / r_val ** 2])
        _check_grad(lambda n, g=g: g.rsample((n,)) ** 2, [a], [(2 * a_val + 1) / r_val ** 2])
    c1, c0 = t64(2.0, grad=True), t64(0.6, grad=True)
    b = D.Beta(c1, c0)
    s = 2.6
    _check_grad(lambda n: b.rsample((n,)), [c1, c0], [0.6 / s ** 2, -2.0 / s ** 2])
    alpha_v = np.array([0.5, 1.5, 3.0])
    alpha = t64(alpha_v, grad=True)
    dd = D.Dirichlet(alpha)
    a0 = alpha_v.sum()
    # d E[x_0] / d alpha_j = (delta_0j a0 - alpha_0) / a0^2
    _check_grad(lambda n: dd.rsample((n,))[:, 0], [alpha], [(np.eye(3)[0] * a0 - alpha_v[0]) / a0 ** 2])


def test_rsample_gradient_multivariate_normal():
    tg.manual_seed(162)
    L_v = np.array([[1.2, 0.0], [0.4, 0.8]])
    loc, L = t64([0.5, -0.2], grad=True), t64(L_v, grad=True)
    d = D.MultivariateNormal(loc, scale_tril=L)
    # E |x|^2 = |m|^2 + trace(L L^T): gradients 2 m and 2 L (lower triangle)
    _check_grad(lambda n: (d.rsample((n,)) ** 2).sum(-1), [loc, L], [2 * np.array([0.5, -0.2]), 2 * L_v])


def _quantile_like(a, x0, target, upper):
    """The x with P(a, x) (Q when ``upper``) equal to ``target``, by Newton in log x from x0."""
    y = np.log(x0)
    f = tg.special.gammaincc if upper else tg.special.gammainc
    for _ in range(40):
        x = np.exp(y)
        resid = f(t64(np.full_like(x, a)), t64(x)).numpy() - target
        slope = np.exp(a * np.log(x) - x - math.lgamma(a)) * (-1 if upper else 1)
        y = y - resid / slope
    return np.exp(y)


def test_standard_gamma_gradient_holds_the_cdf_fixed():
    """dx/dalpha against a central difference of the quantile x(alpha) at a fixed CDF level,
    each quantile found by Newton's method on tapegrad.special.gammainc."""
    rng = np.random.default_rng(3)
    for a in (0.05, 0.3, 1.0, 4.0, 60.0, 3000.0):
        x = rng.standard_gamma(np.full(60, a))
        x = x[x > 1e-200]
        p = tg.special.gammainc(t64(np.full_like(x, a)), t64(x)).numpy()
        upper = p > 0.5
        target = np.where(upper, 1 - p, p)
        target = np.where(upper, tg.special.gammaincc(t64(np.full_like(x, a)), t64(x)).numpy(), target)
        h = 1e-6 * a
        xp = np.where(upper, _quantile_like(a + h, x, target, True), _quantile_like(a + h, x, target, False))
        xm = np.where(upper, _quantile_like(a - h, x, target, True), _quantile_like(a - h, x, target, False))
        np.testing.assert_allclose(_gamma_sample_grad(np.full_like(x, a), x), (xp - xm) / (2 * h), rtol=1e-5)

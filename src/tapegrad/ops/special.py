"""Special functions: gamma family, error-function family, Bessel I0/I1, and friends.

Each unit is a ``Node`` whose forward evaluates a NumPy kernel (always in float64, then
rounded to the input's dtype) and whose backward is written with ops only, so every
function here is differentiable twice: ``lgamma' = digamma``, ``digamma' = polygamma(1)``,
``polygamma(n)' = polygamma(n + 1)``, ``erfinv' = sqrt(pi)/2 exp(erfinv^2)``, ``i0' = i1``...

The kernels (the ``_k_*`` functions) are derived from textbook expansions, not tables:

* log-gamma and digamma: the upward recurrence until the argument is at least 10, then
  Stirling's series (coefficients from the Bernoulli numbers); reflection for x < 0;
* polygamma: ``(-1)^(n+1) n! zeta(n+1, x)``, the Hurwitz zeta by Euler-Maclaurin summation;
* erfinv/ndtri: Winitzki's closed-form guess refined by Halley steps on ``erf`` (small
  arguments) or ``erfc`` (tails, where ``1 - |x|`` is exact), both from libm;
* erfcx: ``exp(x^2) erfc(x)`` below 10 and Laplace's continued fraction above;
* I0, I1: the power series below |x| = 20 and the Hankel asymptotic series above;
* the regularised incomplete gamma: its power series below ``a + 1``, Legendre's continued
  fraction above.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend as B
from ..autograd.graph import Node
from ..tensor import Tensor
from ._registry import op
from ._util import check_tensor
from .elementwise import Cos, Exp, Log, Sign, where_

xp = B.xp

_erf1 = np.frompyfunc(math.erf, 1, 1)
_erfc1 = np.frompyfunc(math.erfc, 1, 1)
_SQRT_PI = math.sqrt(math.pi)
_LOG_2PI_HALF = 0.5 * math.log(2 * math.pi)


def _erf(x):
    return np.asarray(_erf1(x), dtype=np.float64)


def _erfc(x):
    return np.asarray(_erfc1(x), dtype=np.float64)


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _like(out, a):
    """Round a float64 result to the input's floating dtype (a 0-d result stays an array)."""
    dt = a.dtype if a.dtype.kind == "f" else np.float64
    return np.asarray(out).astype(dt, copy=False)


# =========================================================================== kernels
# Stirling: B_2k / (2k (2k - 1)) and B_2k / (2k), k = 1..8.
_LG_C = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156, -3617 / 122400)
_PSI_C = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12, -3617 / 8160)
# B_2, B_4, ..., B_20
_BERN = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798,
         -174611 / 330)


def _shift(z, lo):
    """``(n, w)``: the whole number of unit steps that lifts ``z`` to ``w = z + n >= lo``."""
    n = np.clip(np.ceil(lo - z), 0, None)
    n = np.where(np.isfinite(n), n, 0)
    return n, z + n


def _lgamma_pos(z):
    """log Gamma(z) for z > 0."""
    n, w = _shift(z, 10.0)
    # log(z) apart from the product so a subnormal z keeps its precision
    p = np.ones_like(z)
    for k in range(1, 10):
        p = p * np.where(k < n, z + k, 1.0)
    drop = np.where(n > 0, np.log(z) + np.log(p), 0.0)
    r = 1.0 / w
    r2 = r * r
    s = 0.0
    for c in reversed(_LG_C):
        s = s * r2 + c
    return (w - 0.5) * np.log(w) - w + _LOG_2PI_HALF + s * r - drop


def _k_lgamma(x):
    x = _f64(x)
    neg = x < 0
    pos = _lgamma_pos(np.where(neg, 1.0 - x, x))
    frac = x - np.round(x)
    refl = np.log(math.pi / np.abs(np.sin(math.pi * frac))) - pos
    out = np.where(neg, refl, pos)
    out = np.where((x == 1) | (x == 2), 0.0, out)  # exact zeros, as Gamma(1) = Gamma(2) = 1
    return np.where((x <= 0) & (frac == 0) | np.isinf(x), np.inf, out)


def _digamma_pos(z):
    n, w = _shift(z, 10.0)
    acc = np.zeros_like(z)
    for k in range(10):
        acc = acc + np.where(k < n, 1.0 / (z + k), 0.0)
    r2 = 1.0 / (w * w)
    s = 0.0
    for c in reversed(_PSI_C):
        s = s * r2 + c
    return np.log(w) - 0.5 / w - s * r2 - acc


def _k_digamma(x):
    x = _f64(x)
    neg = x < 0
    pos = _digamma_pos(np.where(neg, 1.0 - x, x))
    frac = x - np.round(x)
    out = np.where(neg, pos - math.pi / np.tan(math.pi * frac), pos)
    out = np.where(neg & (frac == 0), np.nan, out)
    out = np.where(x == 0, np.copysign(np.inf, -x), out)
    return np.where(x == -np.inf, np.nan, out)


def _hurwitz_zeta(s, q):
    """zeta(s, q) = sum_k (q + k)^-s for an integer s >= 2 and q > 0, by Euler-Maclaurin."""
    n_arr, w = _shift(q, 12.0 + s)  # q > 0 here: at most 12 + s steps
    total = np.zeros_like(q)
    steps = int(n_arr.max()) if n_arr.size else 0
    for k in range(steps):
        total = total + np.where(k < n_arr, (q + k) ** -s, 0.0)
    tail = w ** (1.0 - s) / (s - 1) + 0.5 * w ** -s
    rising, fact, wp = float(s), 2.0, w ** (-s - 1.0)
    for j, b in enumerate(_BERN[:8], start=1):
        tail = tail + b / fact * rising * wp
        rising *= (s + 2 * j - 1) * (s + 2 * j)
        fact *= (2 * j + 1) * (2 * j + 2)
        wp = wp / (w * w)
    return total + tail


def _cot_derivative(n, x):
    """d^n/dx^n cot(pi x): a polynomial in c = cot(pi x), since d c/dx = -pi (1 + c^2)."""
    poly = np.polynomial.Polynomial([0.0, 1.0])
    for _ in range(n):
        poly = poly.deriv() * np.polynomial.Polynomial([-math.pi, 0.0, -math.pi])
    return poly(1.0 / np.tan(math.pi * (x - np.round(x))))


def _k_polygamma(n, x):
    x = _f64(x)
    if n == 0:
        return _k_digamma(x)
    neg = x < 0
    q = np.where(neg, 1.0 - x, x)
    out = (-1.0) ** (n + 1) * math.factorial(n) * _hurwitz_zeta(n + 1, q)
    # reflection: psi_n(x) = (-1)^n psi_n(1 - x) - pi d^n/dx^n cot(pi x)
    if neg.any():
        refl = (-1.0) ** n * out - math.pi * _cot_derivative(n, np.where(neg, x, 0.5))
        out = np.where(neg, refl, out)
    pole = (x <= 0) & (x == np.round(x))
    out = np.where(pole, (-1.0) ** (n + 1) * np.inf if n % 2 == 0 else np.inf, out)
    return np.where(x == np.inf, 0.0, out)


def _winitzki(log1mx2):
    """Winitzki's estimate of |erfinv| from log(1 - x^2) (relative error ~2e-3)."""
    a = 0.147
    t = 2 / (math.pi * a) + 0.5 * log1mx2
    u = -log1mx2 / a
    return np.sqrt(u / (np.sqrt(t * t + u) + t))


def _erfcinv_tail(c):
    """y > 0 with erfc(y) = c for c in (0, 0.5]: Halley on erfc, whose 1 - x is exact.

    Halley converges cubically; the guess is good to ~2e-3 near 0 but only ~1e-2 in the far
    tail, so three steps are taken.
    """
    y = _winitzki(np.log(c * (2 - c)))
    for _ in range(3):
        u = (_erfc(y) - c) / (-2 / _SQRT_PI * np.exp(-y * y))
        y = y - u / (1 + y * u)
    return y


def _erfinv_core(x):
    """erfinv for |x| <= 0.5 by Halley on erf."""
    y = np.copysign(_winitzki(np.log1p(-x * x)), x)
    for _ in range(2):
        u = (_erf(y) - x) / (2 / _SQRT_PI * np.exp(-y * y))
        y = y - u / (1 + y * u)
    return y


def _k_erfinv(x):
    x = _f64(x)
    ax = np.abs(x)
    mid = ax <= 0.5
    tail = (ax > 0.5) & (ax < 1)
    out = np.where(ax == 1, np.copysign(np.inf, x), np.nan)
    out[mid] = _erfinv_core(x[mid])
    out[tail] = np.copysign(_erfcinv_tail(1.0 - ax[tail]), x[tail])
    return out


def _k_ndtri(p):
    p = _f64(p)
    mid = (p >= 0.25) & (p <= 0.75)
    low = (p > 0) & (p < 0.25)
    high = (p > 0.75) & (p < 1)
    out = np.where(p == 0, -np.inf, np.where(p == 1, np.inf, np.nan))
    out[mid] = math.sqrt(2) * _erfinv_core(2 * p[mid] - 1)
    out[low] = -math.sqrt(2) * _erfcinv_tail(2 * p[low])
    out[high] = math.sqrt(2) * _erfcinv_tail(2 * (1 - p[high]))
    return out


def _erfcx_pos(x):
    """erfcx for x >= 0."""
    small = x < 10
    xs = np.where(small, x, 0.0)
    direct = np.exp(xs * xs) * _erfc(xs)
    xl = np.where(small, 10.0, x)
    t = xl
    for k in range(60, 0, -1):
        t = xl + (0.5 * k) / t
    return np.where(small, direct, 1.0 / (_SQRT_PI * t))


def _k_erfcx(x):
    x = _f64(x)
    pos = _erfcx_pos(np.abs(x))
    return np.where(x < 0, 2 * np.exp(x * x) - pos, pos)


def _k_log_ndtr(x):
    x = _f64(x)
    t = -x / math.sqrt(2)
    left = np.log(_erfcx_pos(np.where(x < 0, t, 0.0))) - math.log(2) - t * t
    right = np.log1p(-0.5 * _erfc(np.where(x < 0, 0.0, -t)))
    return np.where(x < 0, left, right)


def _bessel_series(nu, ax):
    q = ax * ax / 4
    term = (ax / 2) ** nu
    s = term
    for k in range(1, 60):
        term = term * q / (k * (k + nu))
        s = s + term
    return s


def _bessel_asym(nu, ax):
    """e^-x I_nu(x) by the Hankel expansion (ax >= 20: the smallest term is below e^-40)."""
    s = np.ones_like(ax)
    a = np.ones_like(ax)
    for k in range(1, 41):
        a = a * -(4 * nu * nu - (2 * k - 1) ** 2) / (8 * k * ax)
        s = s + a
    return s / np.sqrt(2 * math.pi * ax)


def _k_bessel(nu, x, scaled):
    x = _f64(x)
    ax = np.abs(x)
    small = ax <= 20
    ser = _bessel_series(nu, np.where(small, ax, 0.0))
    asy = _bessel_asym(nu, np.where(small, 20.0, ax))
    if scaled:
        out = np.where(small, ser * np.exp(-ax), asy)
    else:
        half = np.exp(0.5 * ax)  # split so e^x overflows only when I(x) does
        out = np.where(small, ser, asy * half * half)
    out = np.where(np.isnan(x), np.nan, out)
    return np.copysign(out, x) if nu == 1 else out


def _gammainc_series(a, x):
    """P(a, x) = x^a e^-x / Gamma(a + 1) * sum_k x^k / ((a + 1)...(a + k)), for x < a + 1."""
    term = np.ones_like(a)
    s = np.ones_like(a)
    for k in range(1, 20000):  # about 10 sqrt(a) terms near x = a
        term = term * x / (a + k)
        s = s + term
        if k % 20 == 0 and np.all(term <= 1e-17 * s):
            break
    log_x = np.log(np.where(x > 0, x, 1.0))
    return np.where(x == 0, 0.0, np.exp(a * log_x - x - _k_lgamma(a + 1)) * s)


def _gammaincc_fraction(a, x):
    """Q(a, x) by Legendre's continued fraction (modified Lentz), for x >= a + 1."""
    b = x + 1 - a
    c = np.full_like(a, 1e300)
    d = 1 / b
    h = d
    for i in range(1, 20000):
        an = -i * (i - a)
        b = b + 2
        d = an * d + b
        d = np.where(np.abs(d) < 1e-300, 1e-300, d)
        c = b + an / c
        c = np.where(np.abs(c) < 1e-300, 1e-300, c)
        d = 1 / d
        delta = d * c
        h = h * delta
        if i % 20 == 0 and np.all(np.abs(delta - 1) < 1e-15):
            break
    return np.exp(a * np.log(x) - x - _k_lgamma(a)) * h


def _k_gammainc(a, x):
    """``(P, Q)``: the regularised lower and upper incomplete gamma functions, elementwise."""
    a, x = np.broadcast_arrays(_f64(a), _f64(x))
    ok = (a > 0) & (a < np.inf) & (x >= 0) & (x < np.inf)
    series = ok & (x < a + 1)
    frac = ok & ~series
    p = np.full(a.shape, np.nan)
    q = np.full(a.shape, np.nan)
    # each method on its own elements only: both loops run until their slowest element converges
    p[series] = _gammainc_series(a[series], x[series])
    q[series] = 1 - p[series]
    q[frac] = _gammaincc_fraction(a[frac], x[frac])
    p[frac] = 1 - q[frac]
    # Gamma(0) puts all its mass at 0; every distribution's mass lies below x = inf
    one = ((a == 0) & (x > 0)) | ((a >= 0) & (x == np.inf))
    zero = (a == np.inf) & (x >= 0) & (x < np.inf)
    p = np.where(one, 1.0, np.where(zero, 0.0, p))
    return p, np.where(one, 0.0, np.where(zero, 1.0, q))


# =========================================================================== gamma family
class Lgamma(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return _like(_k_lgamma(a), a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * Digamma.apply(a)


@op("unary", nodes=(Lgamma,), inplace=True)
def lgamma(input):
    """``log |Gamma(input)|`` elementwise; ``inf`` at the poles 0, -1, -2..."""
    check_tensor(input, "lgamma")
    return Lgamma.apply(input)


class Digamma(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return _like(_k_digamma(a), a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * Polygamma.apply(a, n=1)


@op("unary", nodes=(Digamma,), inplace=True)
def digamma(input):
    """The logarithmic derivative of Gamma, ``psi(x)``; ``-inf`` at +0, ``nan`` at negative integers."""
    check_tensor(input, "digamma")
    return Digamma.apply(input)


class Polygamma(Node):
    to_float = True

    def forward(ctx, a, n=1):
        ctx.saved = (a,)
        ctx.n = n
        return _like(_k_polygamma(n, a), a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * Polygamma.apply(a, n=ctx.n + 1)


def _polygamma_method(self, n):
    return polygamma(n, self)


@op("unary", nodes=(Polygamma,), method_fn=_polygamma_method, inplace=True)
def polygamma(n, input):
    """The ``n``-th derivative of digamma: ``polygamma(0, x) == digamma(x)``.

    >>> tapegrad.polygamma(1, tapegrad.tensor([1.0]))   # pi^2 / 6
    tensor([1.6449])
    """
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    check_tensor(input, "polygamma", pos=2)
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    return Polygamma.apply(input, n=n)


class Mvlgamma(Node):
    to_float = True

    def forward(ctx, a, p=1):
        ctx.saved = (a,)
        ctx.p = p
        a64 = _f64(a)
        out = p * (p - 1) / 4 * math.log(math.pi) + sum(_k_lgamma(a64 - i / 2) for i in range(p))
        return _like(out, a)

    def backward(ctx, g):
        (a,) = ctx.saved
        acc = Digamma.apply(a)
        for i in range(1, ctx.p):
            acc = acc + Digamma.apply(a - i / 2)
        return g * acc


@op("unary", nodes=(Mvlgamma,), inplace=True)
def mvlgamma(input, p):
    """The multivariate log-gamma of dimension ``p``:
    ``p (p - 1) / 4 log(pi) + sum_i lgamma(input - i / 2)``, i = 0..p-1."""
    check_tensor(input, "mvlgamma")
    if not isinstance(p, int) or p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    return Mvlgamma.apply(input, p=p)


# =========================================================================== error-function family
class Erfc(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return _like(_erfc(a), a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * (-2 / _SQRT_PI) * Exp.apply(-(a * a))


@op("unary", nodes=(Erfc,), inplace=True)
def erfc(input):
    """The complementary error function ``1 - erf(x)``, accurate in the right tail."""
    check_tensor(input, "erfc")
    return Erfc.apply(input)


class Erfinv(Node):
    to_float = True

    def forward(ctx, a):
        out = _like(_k_erfinv(a), a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * (_SQRT_PI / 2) * Exp.apply(out * out)


@op("unary", nodes=(Erfinv,), inplace=True)
def erfinv(input):
    """The inverse of ``erf`` on (-1, 1); ``+-inf`` at ``+-1`` and ``nan`` outside."""
    check_tensor(input, "erfinv")
    return Erfinv.apply(input)


class Erfcx(Node):
    _bw_name = "SpecialErfcxBackward0"
    to_float = True

    def forward(ctx, a):
        out = _like(_k_erfcx(a), a)
        ctx.saved = (a, out)
        return out

    def backward(ctx, g):
        a, out = ctx.saved
        return g * (2 * a * out - 2 / _SQRT_PI)


@op("unary", nodes=(Erfcx,), function=False, method=False)
def erfcx(input):
    """The scaled complementary error function ``exp(x^2) erfc(x)`` (``tapegrad.special``)."""
    check_tensor(input, "special_erfcx")
    return Erfcx.apply(input)


class Ndtri(Node):
    _bw_name = "SpecialNdtriBackward0"
    to_float = True

    def forward(ctx, a):
        out = _like(_k_ndtri(a), a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * math.sqrt(2 * math.pi) * Exp.apply(out * out * 0.5)


@op("unary", nodes=(Ndtri,), function=False, method=False)
def ndtri(input):
    """The standard normal quantile: ``ndtr(ndtri(p)) == p`` (``tapegrad.special``)."""
    check_tensor(input, "special_ndtri")
    return Ndtri.apply(input)


class LogNdtr(Node):
    _bw_name = "SpecialLogNdtrBackward0"
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return _like(_k_log_ndtr(a), a)

    def backward(ctx, g):
        (a,) = ctx.saved
        # phi(x) / Phi(x) = sqrt(2/pi) / erfcx(-x / sqrt 2): no underflow in the left tail
        return g * math.sqrt(2 / math.pi) / Erfcx.apply(a * (-1 / math.sqrt(2)))


@op("unary", nodes=(LogNdtr,), function=False, method=False)
def log_ndtr(input):
    """``log`` of the standard normal CDF, accurate far into the left tail (``tapegrad.special``)."""
    check_tensor(input, "special_log_ndtr")
    return LogNdtr.apply(input)


# =========================================================================== Bessel I0, I1
class I0(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return _like(_k_bessel(0, a, False), a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * I1.apply(a)


@op("unary", nodes=(I0,), inplace=True)
def i0(input):
    """The modified Bessel function of the first kind, order 0."""
    check_tensor(input, "i0")
    return I0.apply(input)


class I0e(Node):
    _bw_name = "SpecialI0EBackward0"
    to_float = True

    def forward(ctx, a):
        out = _like(_k_bessel(0, a, True), a)
        ctx.saved = (a, out)
        return out

    def backward(ctx, g):
        a, out = ctx.saved
        return g * (I1e.apply(a) - Sign.apply(a) * out)


@op("unary", nodes=(I0e,), function=False, method=False)
def i0e(input):
    """``exp(-|x|) i0(x)`` (``tapegrad.special``)."""
    check_tensor(input, "special_i0e")
    return I0e.apply(input)


def _safe(a):
    """``a`` with its zeros replaced by 1, for a division whose result ``where`` discards at 0."""
    return where_(a == 0, 1.0, a)


class I1(Node):
    _bw_name = "SpecialI1Backward0"
    to_float = True

    def forward(ctx, a):
        out = _like(_k_bessel(1, a, False), a)
        ctx.saved = (a, out)
        return out

    def backward(ctx, g):
        a, out = ctx.saved
        return g * where_(a == 0, 0.5, I0.apply(a) - out / _safe(a))


@op("unary", nodes=(I1,), function=False, method=False)
def i1(input):
    """The modified Bessel function of the first kind, order 1 (``tapegrad.special``)."""
    check_tensor(input, "special_i1")
    return I1.apply(input)


class I1e(Node):
    _bw_name = "SpecialI1EBackward0"
    to_float = True

    def forward(ctx, a):
        out = _like(_k_bessel(1, a, True), a)
        ctx.saved = (a, out)
        return out

    def backward(ctx, g):
        a, out = ctx.saved
        return g * where_(a == 0, 0.5, I0e.apply(a) - out * (Sign.apply(a) + 1 / _safe(a)))


@op("unary", nodes=(I1e,), function=False, method=False)
def i1e(input):
    """``exp(-|x|) i1(x)`` (``tapegrad.special``)."""
    check_tensor(input, "special_i1e")
    return I1e.apply(input)


# =========================================================================== others
class Sinc(Node):
    to_float = True

    def forward(ctx, a):
        out = _like(np.sinc(_f64(a)), a)
        ctx.saved = (a, out)
        return out

    def backward(ctx, g):
        a, out = ctx.saved
        return g * where_(a == 0, 0.0, (Cos.apply(a * math.pi) - out) / _safe(a))


@op("unary", nodes=(Sinc,), inplace=True)
def sinc(input):
    """The normalised sinc ``sin(pi x) / (pi x)``, 1 at 0."""
    check_tensor(input, "sinc")
    return Sinc.apply(input)


class Entr(Node):
    _bw_name = "SpecialEntrBackward0"
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        a64 = _f64(a)
        pos = a64 > 0
        out = np.where(pos, -a64 * np.log(np.where(pos, a64, 1.0)), np.where(a64 == 0, 0.0, -np.inf))
        return _like(np.where(np.isnan(a64), np.nan, out), a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * -(Log.apply(a) + 1)


@op("unary", nodes=(Entr,), function=False, method=False)
def entr(input):
    """The elementwise entropy term ``-x log x`` (0 at 0, ``-inf`` for x < 0; ``tapegrad.special``)."""
    check_tensor(input, "special_entr")
    return Entr.apply(input)


class Logit(Node):
    to_float = True

    def forward(ctx, a, eps=None):
        ctx.saved = (a,)
        ctx.eps = eps
        # PyTorch's order of tests, which matters when eps > 0.5
        x = a if eps is None else np.where(a < eps, eps, np.where(a > 1 - eps, 1 - eps, a)).astype(a.dtype)
        return np.log(x / (1 - x)).astype(a.dtype, copy=False)

    def backward(ctx, g):
        (a,) = ctx.saved
        d = g / (a * (1 - a))
        if ctx.eps is None:
            return d
        return where_((a < ctx.eps) | (a > 1 - ctx.eps), 0.0, d)


@op("unary", nodes=(Logit,), inplace=True)
def logit(input, eps=None):
    """``log(p / (1 - p))``; with ``eps`` the input is first clamped to ``[eps, 1 - eps]``."""
    check_tensor(input, "logit")
    return Logit.apply(input, eps=None if eps is None else float(eps))


def _xlog_forward(f, a, b):
    a64, b64 = _f64(a), _f64(b)
    out = np.where((a64 == 0) & ~np.isnan(b64), 0.0, a64 * f(b64))
    return out.astype(np.result_type(a, b), copy=False)


class Xlogy(Node):
    promote = True
    to_float = True

    def forward(ctx, a, b):
        ctx.saved = (a, b)
        return _xlog_forward(np.log, a, b)

    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        ga = g * Xlogy.apply(a != 0, b) if n[0] else None
        return ga, (g * a / b if n[1] else None)


class XlogyScalarSelf(Node):
    """``xlogy(number, tensor)``: the number is an attribute, not an input."""

    _bw_name = "XlogyBackward1"
    to_float = True

    def forward(ctx, b, a=0.0):
        ctx.saved = (b,)
        ctx.a = a
        return _xlog_forward(np.log, np.asarray(a, dtype=b.dtype), b)

    def backward(ctx, g):
        (b,) = ctx.saved
        return g * ctx.a / ctx.inner(b)

    @staticmethod
    def inner(b):
        return b


class XlogyScalarOther(Node):
    """``xlogy(tensor, number)``."""

    _bw_name = "XlogyBackward2"
    to_float = True
    f = staticmethod(math.log)

    def forward(ctx, a, b=1.0):
        ctx.saved = (a,)
        ctx.b = b
        return _xlog_forward(np.log, a, np.asarray(b, dtype=a.dtype))

    def backward(ctx, g):
        (a,) = ctx.saved
        try:
            d = ctx.f(ctx.b)
        except ValueError:  # log of a negative number, or log1p(x <= -1)
            d = -math.inf if ctx.b == (0 if ctx.f is math.log else -1) else math.nan
        return g * where_(a != 0, d, 0.0)


def _binary_args(input, other, name):
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"{name}() received an invalid combination of arguments - got "
                        f"({type(input).__name__}, {type(other).__name__})")
    return input, other


@op("binary", nodes=(Xlogy, XlogyScalarSelf, XlogyScalarOther), inplace=True)
def xlogy(input, other):
    """``input * log(other)``, 0 where ``input == 0`` (unless ``other`` is nan)."""
    _binary_args(input, other, "xlogy")
    if not isinstance(input, Tensor):
        return XlogyScalarSelf.apply(other, a=float(input))
    if not isinstance(other, Tensor):
        return XlogyScalarOther.apply(input, b=float(other))
    return Xlogy.apply(input, other)


class Xlog1py(Node):
    _bw_name = "SpecialXlog1PyBackward0"
    promote = True
    to_float = True

    def forward(ctx, a, b):
        ctx.saved = (a, b)
        return _xlog_forward(np.log1p, a, b)

    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        ga = g * Xlog1py.apply(a != 0, b) if n[0] else None
        return ga, (g * a / (1 + b) if n[1] else None)


class Xlog1pyScalarSelf(XlogyScalarSelf):
    _bw_name = "SpecialXlog1PyBackward1"

    def forward(ctx, b, a=0.0):
        ctx.saved = (b,)
        ctx.a = a
        return _xlog_forward(np.log1p, np.asarray(a, dtype=b.dtype), b)

    @staticmethod
    def inner(b):
        return 1 + b


class Xlog1pyScalarOther(XlogyScalarOther):
    _bw_name = "SpecialXlog1PyBackward2"
    f = staticmethod(math.log1p)

    def forward(ctx, a, b=1.0):
        ctx.saved = (a,)
        ctx.b = b
        return _xlog_forward(np.log1p, a, np.asarray(b, dtype=a.dtype))


@op("binary", nodes=(Xlog1py, Xlog1pyScalarSelf, Xlog1pyScalarOther), function=False, method=False)
def xlog1py(input, other):
    """``input * log1p(other)``, 0 where ``input == 0`` (``tapegrad.special``)."""
    _binary_args(input, other, "special_xlog1py")
    if not isinstance(input, Tensor):
        return Xlog1pyScalarSelf.apply(other, a=float(input))
    if not isinstance(other, Tensor):
        return Xlog1pyScalarOther.apply(input, b=float(other))
    return Xlog1py.apply(input, other)


class Gammainc(Node):
    """Regularised incomplete gamma ``P(a, x)`` (``upper``: ``Q``); differentiable in ``x``
    only, as in PyTorch."""

    _bw_name = "IgammaBackward0"
    promote = True
    to_float = True

    def forward(ctx, a, x, upper=False):
        ctx.saved = (a, x)
        ctx.upper = upper
        p, q = _k_gammainc(a, x)
        return (q if upper else p).astype(np.result_type(a, x), copy=False)

    def backward(ctx, g):
        a, x = ctx.saved
        if ctx.needs_input_grad[0]:
            raise NotImplementedError(
                f"the derivative for '{'igammac' if ctx.upper else 'igamma'}: input' is not implemented.")
        dens = Exp.apply((a - 1) * Log.apply(x) - x - Lgamma.apply(a))
        return None, (-g * dens if ctx.upper else g * dens)


class Gammaincc(Gammainc):
    _bw_name = "IgammacBackward0"


@op("binary", nodes=(Gammainc, Gammaincc), function=False, method=False)
def gammainc(input, other):
    """The regularised lower incomplete gamma ``P(input, other)`` (``tapegrad.special``)."""
    check_tensor(input, "special_gammainc")
    check_tensor(other, "special_gammainc", "other", 2)
    return Gammainc.apply(input, other)


@op("binary", nodes=(Gammaincc,), function=False, method=False)
def gammaincc(input, other):
    """The regularised upper incomplete gamma ``Q(input, other) = 1 - P`` (``tapegrad.special``)."""
    check_tensor(input, "special_gammaincc")
    check_tensor(other, "special_gammaincc", "other", 2)
    return Gammaincc.apply(input, other, upper=True)

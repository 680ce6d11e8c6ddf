"""Finite-difference checks of every differentiable op: first and second derivatives.

One table, ``ROWS``: each row names an op, gives a callable that builds it
from input tensors, the input shapes to try (broadcast shapes and 0-d tensors
included for binary ops) and the domain the inputs are drawn from (positive
for log/sqrt, away from kinks and ties for abs/relu/clamp/max...). Every
(row, shapes) pair runs ``tapegrad.autograd.gradcheck`` and
``tapegrad.autograd.gradgradcheck`` in float64 with the default tolerances
(eps=1e-6, atol=1e-5, rtol=1e-3), on inputs from a numpy Generator seeded by
the case's id.

Constant (non-differentiable) arguments such as index tensors and masks are
built inside the callables from the inputs' shapes, so each row is
self-contained. Negative tests at the end show the checker rejects a custom
``Function`` whose backward is wrong.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from collections.abc import Callable

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import Function, GradcheckError, gradcheck, gradgradcheck
from tapegrad.ops import elementwise as E
from tapegrad.ops import shape as S


# =========================================================================== domains
# A domain is ``f(rng, shape) -> float64 array``.
def normal(rng, s):
    return rng.standard_normal(s)


def positive(rng, s):
    return rng.uniform(0.5, 2.0, s)


def unit(rng, s):
    """Inside (-0.9, 0.9): asin/acos/atanh-like ops, tan away from pi/2."""
    return rng.uniform(-0.9, 0.9, s)


def above1(rng, s):
    """In [1.2, 3.0]: acosh's domain, away from its infinite slope at 1."""
    return rng.uniform(1.2, 3.0, s)


def away0(rng, s):
    """|x| in [0.3, 1.5] with random sign: abs, sign, relu, division."""
    return rng.choice([-1.0, 1.0], size=s) * rng.uniform(0.3, 1.5, s)


def log1p_dom(rng, s):
    return rng.uniform(-0.5, 2.0, s)


def distinct(rng, s):
    """Values at least ~0.15 apart: max/min/amax/amin without ties."""
    n = int(np.prod(s, dtype=np.int64))
    v = (rng.permutation(n) - n / 2) * 0.25 + rng.uniform(-0.05, 0.05, n)
    return v.reshape(s)


def distinct_abs(rng, s):
    """Magnitudes at least ~0.15 apart and away from 0, random signs: norm(p=inf)."""
    n = int(np.prod(s, dtype=np.int64))
    v = (rng.permutation(n) + 1) * 0.25 + rng.uniform(-0.05, 0.05, n)
    return (v * rng.choice([-1.0, 1.0], size=n)).reshape(s)


def grid(offset):
    """Points of ``offset + 0.5 k`` (|k| <= 3) jittered by < 0.05: two grids with offsets
    0 and 0.25 never come closer than 0.15, whatever the broadcasting."""
    def f(rng, s):
        return offset + 0.5 * rng.integers(-3, 4, size=s) + rng.uniform(-0.04, 0.04, s)
    return f


def avoid(*points, lo=-1.5, hi=1.5, gap=0.1):
    """Uniform on [lo, hi] but at least ``gap`` away from each of ``points`` (thresholds)."""
    def f(rng, s):
        x = rng.uniform(lo, hi, s)
        for _ in range(100):
            bad = np.zeros(np.shape(x), dtype=bool)
            for p in points:
                bad |= np.abs(x - p) < gap
            if not bad.any():
                return x
            x = np.where(bad, rng.uniform(lo, hi, s), x)
        raise AssertionError("could not sample away from thresholds")
    return f


def with_zero(rng, s):
    """Away from 0 except exactly one zero (prod's derivative at a zero)."""
    x = rng.uniform(0.5, 1.5, s) * rng.choice([-1.0, 1.0], size=s)
    if x.size:
        x.reshape(-1)[rng.integers(x.size)] = 0.0
    return x


def two_zeros(rng, s):
    x = rng.uniform(0.5, 1.5, s) * rng.choice([-1.0, 1.0], size=s)
    flat = x.reshape(-1)
    flat[:2] = 0.0
    return flat[rng.permutation(flat.size)].reshape(s)


# =========================================================================== table
@dataclass
class Row:
    name: str
    fn: Callable
    shapes: list          # list of tuples of input shapes (one shape per input)
    domain: object = normal  # one domain for all inputs, or a tuple with one per input
    const: tuple = ()        # indices of inputs that do not require grad


ROWS: list[Row] = []


def row(name, fn, shapes, domain=normal, const=()):
    ROWS.append(Row(name, fn, [tuple(s) for s in shapes], domain, tuple(const)))


# shape sets
UN = [((),), ((5,),), ((2, 3),)]
UN3 = [((),), ((5,),), ((2, 3, 4),)]
BIN = [((3, 4), (3, 4)), ((3, 1), (4,)), ((2, 3, 4), (3, 1)), ((), (2, 3)), ((2, 3), ()), ((), ())]
BIN_SMALL = [((3, 4), (3, 4)), ((3, 1), (4,)), ((), (2, 3))]
TERN = [((2, 3), (2, 3), (2, 3)), ((2, 3), (3,), (2, 1)), ((), (2, 3), ())]
R3 = [((2, 3, 4),)]
R2 = [((3, 4),)]


def _mask(shape, k=3, r=1):
    """A deterministic boolean mask of ``shape`` (a mix of True and False)."""
    n = int(np.prod(shape, dtype=np.int64))
    return tg.tensor((np.arange(n) % k == r).reshape(shape))


def _idx(*vals):
    return tg.tensor(list(vals), dtype=tg.int64)


# ---------------------------------------------------------------- arithmetic
row("add", lambda a, b: a + b, BIN)
row("add_fn_alpha", lambda a, b: tg.add(a, b, alpha=2.5), BIN_SMALL)
row("add_method", lambda a, b: a.add(b), BIN_SMALL)
row("add_scalar", lambda a: a + 1.5, UN)
row("radd_scalar", lambda a: 2 + a, UN)
row("sub", lambda a, b: a - b, BIN)
row("sub_fn_alpha", lambda a, b: tg.sub(a, b, alpha=-0.5), BIN_SMALL)
row("sub_scalar", lambda a: a - 0.75, UN)
row("rsub_scalar", lambda a: 3.0 - a, UN)
row("rsub_fn_alpha", lambda a: tg.rsub(a, 2.0, alpha=3), UN)
row("mul", lambda a, b: a * b, BIN)
row("mul_method", lambda a, b: a.mul(b), BIN_SMALL)
row("mul_scalar", lambda a: a * 3.0, UN)
row("rmul_scalar", lambda a: -2 * a, UN)
row("mul_self", lambda a: a * a, UN)
row("div", lambda a, b: a / b, BIN, (normal, away0))
row("div_fn", lambda a, b: tg.div(a, b), BIN_SMALL, (normal, away0))
row("div_scalar", lambda a: a / 2.5, UN)
row("rdiv_scalar", lambda a: 2.5 / a, UN, away0)
for _e in (2, 3, 0, 1):
    row(f"pow_scalar_{_e}", (lambda e: lambda a: a ** e)(_e), UN3)
for _e in (-1, 0.5, -1.5, 2.5, 1.7):
    row(f"pow_scalar_{_e}", (lambda e: lambda a: a ** e)(_e), UN, positive)
row("pow_fn_scalar", lambda a: tg.pow(a, 3), UN)
row("pow_method_scalar", lambda a: a.pow(0.5), UN, positive)
row("pow_tensor", lambda a, b: a ** b, BIN, (positive, normal))
row("pow_fn_tensor", lambda a, b: tg.pow(a, b), BIN_SMALL, (positive, normal))
row("rpow_scalar", lambda a: 2.5 ** a, UN)
row("pow_fn_rscalar", lambda a: tg.pow(0.7, a), UN)
row("neg", lambda a: -a, UN)
row("neg_fn", lambda a: tg.neg(a), UN)
row("square", lambda a: tg.square(a), UN)

# ---------------------------------------------------------------- unary math
row("abs", lambda a: a.abs(), UN3, away0)
row("abs_fn", lambda a: tg.abs(a), UN, away0)
row("abs_builtin", lambda a: abs(a), UN, away0)
row("exp", lambda a: a.exp(), UN3)
row("exp_fn", lambda a: tg.exp(a), UN)
row("log", lambda a: a.log(), UN3, positive)
row("log_fn", lambda a: tg.log(a), UN, positive)
row("log1p", lambda a: a.log1p(), UN, log1p_dom)
row("log1p_fn", lambda a: tg.log1p(a), UN, log1p_dom)
row("expm1", lambda a: a.expm1(), UN)
row("expm1_fn", lambda a: tg.expm1(a), UN)
row("sqrt", lambda a: a.sqrt(), UN3, positive)
row("sqrt_fn", lambda a: tg.sqrt(a), UN, positive)
row("rsqrt", lambda a: a.rsqrt(), UN, positive)
row("rsqrt_fn", lambda a: tg.rsqrt(a), UN, positive)
row("sin", lambda a: a.sin(), UN)
row("sin_fn", lambda a: tg.sin(a), UN)
row("cos", lambda a: a.cos(), UN)
row("cos_fn", lambda a: tg.cos(a), UN)
row("tan", lambda a: a.tan(), UN, unit)
row("tan_fn", lambda a: tg.tan(a), UN, unit)
row("tanh", lambda a: a.tanh(), UN3)
row("tanh_fn", lambda a: tg.tanh(a), UN)
row("sigmoid", lambda a: a.sigmoid(), UN3)
row("sigmoid_fn", lambda a: tg.sigmoid(a), UN)
row("sigmoid_large", lambda a: tg.sigmoid(a * 10), UN)
row("asin", lambda a: a.asin(), UN, unit)
row("acos", lambda a: tg.acos(a), UN, unit)
row("asinh", lambda a: a.asinh(), UN)
row("acosh", lambda a: tg.acosh(a), UN, above1)
row("atanh", lambda a: tg.arctanh(a), UN, unit)
row("deg2rad", lambda a: a.deg2rad(), UN)
row("rad2deg", lambda a: tg.rad2deg(a), UN)
row("sign", lambda a: a.sign(), UN, away0)
row("sign_fn_times_x", lambda a: tg.sign(a) * a, UN, away0)

# ---------------------------------------------------------------- activations
row("relu", lambda a: a.relu(), UN3, away0)
row("relu_fn", lambda a: tg.relu(a), UN, away0)
row("leaky_relu", lambda a: E.leaky_relu(a), UN, away0)
row("leaky_relu_0.2", lambda a: E.leaky_relu(a, 0.2), UN, away0)
row("gelu", lambda a: E.gelu(a), UN3)
row("gelu_tanh", lambda a: E.gelu(a, approximate="tanh"), UN3)
row("silu", lambda a: a.silu(), UN)
row("silu_fn", lambda a: tg.silu(a), UN)
row("softplus", lambda a: E.softplus(a), UN)
row("softplus_beta_threshold", lambda a: E.softplus(a, beta=2.0, threshold=1.0), UN, avoid(0.5))

# ---------------------------------------------------------------- clamp / max / min / where
_clamp_dom = avoid(-0.5, 0.5)
row("clamp_scalar", lambda a: a.clamp(-0.5, 0.5), UN3, _clamp_dom)
row("clamp_min_scalar", lambda a: tg.clamp(a, min=-0.5), UN, _clamp_dom)
row("clamp_max_scalar", lambda a: tg.clamp(a, max=0.5), UN, _clamp_dom)
row("clip_scalar", lambda a: tg.clip(a, -0.5, 0.5), UN, _clamp_dom)
row("clamp_min_fn", lambda a: tg.clamp_min(a, 0.5), UN, _clamp_dom)
row("clamp_max_method", lambda a: a.clamp_max(-0.5), UN, _clamp_dom)
# tensor bounds: x on a grid of step 0.5, lo/hi on grids shifted by 0.25 (never tie), lo < hi
def _lo_dom(rng, s):
    return -0.25 - 0.5 * rng.integers(0, 3, size=s) + rng.uniform(-0.04, 0.04, s)


def _hi_dom(rng, s):
    return 0.25 + 0.5 * rng.integers(0, 3, size=s) + rng.uniform(-0.04, 0.04, s)



row("clamp_tensor", lambda a, lo, hi: a.clamp(lo, hi), TERN, (grid(0.0), _lo_dom, _hi_dom))
row("clamp_tensor_min", lambda a, lo: tg.clamp(a, min=lo), BIN_SMALL, (grid(0.0), _lo_dom))
row("clamp_tensor_max", lambda a, hi: tg.clamp(a, max=hi), BIN_SMALL, (grid(0.0), _hi_dom))
row("clip_tensor", lambda a, lo, hi: tg.clip(a, lo, hi), [((2, 3), (2, 3), (2, 3))],
    (grid(0.0), _lo_dom, _hi_dom))
row("clamp_tensor_min_scalar_max", lambda a, lo: tg.clamp(a, lo, 0.5), BIN_SMALL,
    (avoid(-0.5, 0.5, -0.25, 0.25, gap=0.06), lambda rng, s: rng.uniform(-0.24, 0.24, s) - 0.5))
row("maximum", lambda a, b: tg.maximum(a, b), BIN, (grid(0.0), grid(0.25)))
row("maximum_method", lambda a, b: a.maximum(b), BIN_SMALL, (grid(0.0), grid(0.25)))
row("minimum", lambda a, b: tg.minimum(a, b), BIN, (grid(0.0), grid(0.25)))
row("minimum_method", lambda a, b: a.minimum(b), BIN_SMALL, (grid(0.0), grid(0.25)))
row("max_binary", lambda a, b: tg.max(a, b), BIN_SMALL, (grid(0.0), grid(0.25)))
row("min_binary", lambda a, b: tg.min(a, b), BIN_SMALL, (grid(0.0), grid(0.25)))


def _where(a, b):
    shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    return tg.where(_mask(shape, 2, 0), a, b)


row("where", _where, BIN)
row("where_method", lambda a, b: a.where(_mask(np.broadcast_shapes(tuple(a.shape), tuple(b.shape))), b),
    BIN_SMALL)
row("where_scalar_other", lambda a: tg.where(_mask(tuple(a.shape), 2, 0), a, 0.5), UN)
row("where_scalar_input", lambda a: tg.where(_mask(tuple(a.shape), 2, 0), -1.0, a), UN)
row("where_cond_from_x", lambda a: tg.where(a > 0, a * a, -a), UN, away0)

# ---------------------------------------------------------------- reductions
row("sum", lambda a: a.sum(), UN3)
row("sum_fn", lambda a: tg.sum(a), UN)
row("sum_dim", lambda a: a.sum(1), R3)
row("sum_dim_neg_keepdim", lambda a: a.sum(-1, keepdim=True), R3 + R2)
row("sum_dim_tuple", lambda a: a.sum((0, 2)), R3)
row("sum_dim_tuple_keepdim", lambda a: tg.sum(a, dim=(0, 2), keepdim=True), R3)
row("sum_dim_0d", lambda a: a.sum(0), [((),)])
row("mean", lambda a: a.mean(), UN3)
row("mean_dim", lambda a: tg.mean(a, 1), R3 + R2)
row("mean_dim_keepdim", lambda a: a.mean(0, keepdim=True), R3)
row("mean_dim_tuple", lambda a: a.mean((-1, 0)), R3)
row("mean_dim_tuple_keepdim", lambda a: a.mean((0, 2), keepdim=True), R3)
row("prod", lambda a: a.prod(), [((),), ((5,),), ((2, 3),)], away0)
row("prod_fn", lambda a: tg.prod(a), [((2, 3),)], away0)
row("prod_dim", lambda a: a.prod(1), [((2, 3),), ((2, 3, 2),)], away0)
row("prod_dim_keepdim", lambda a: a.prod(-1, keepdim=True), [((2, 3),), ((2, 2, 3),)], away0)
row("prod_zero", lambda a: a.prod(), [((5,),), ((2, 3),)], with_zero)
row("prod_two_zeros", lambda a: a.prod(), [((5,),)], two_zeros)
row("prod_dim_zero", lambda a: a.prod(0), [((3, 2),)], with_zero)
row("max_full", lambda a: a.max(), UN3, distinct)
row("max_fn_full", lambda a: tg.max(a), UN, distinct)
row("min_full", lambda a: a.min(), UN3, distinct)
row("max_dim", lambda a: a.max(dim=1).values, R3 + R2, distinct)
row("max_dim_keepdim", lambda a: a.max(1, keepdim=True)[0], R3, distinct)
row("max_dim_neg", lambda a: tg.max(a, -1).values, R3 + [((5,),)], distinct)
row("min_dim", lambda a: a.min(0).values, R3 + R2, distinct)
row("min_dim_keepdim", lambda a: tg.min(a, dim=-1, keepdim=True).values, R3, distinct)
row("max_dim_0d", lambda a: a.max(0).values, [((),)], distinct)
row("max_dim_both_outputs", lambda a: a.max(1).values * a.min(1).values, R2, distinct)
row("amax", lambda a: a.amax(), UN3, distinct)
row("amax_dim", lambda a: a.amax(1), R3, distinct)
row("amax_dim_tuple", lambda a: tg.amax(a, (0, 2)), R3, distinct)
row("amax_dim_tuple_keepdim", lambda a: a.amax((0, -1), keepdim=True), R3, distinct)
row("amin", lambda a: tg.amin(a), UN, distinct)
row("amin_dim", lambda a: a.amin(-1), R3 + R2, distinct)
row("amin_dim_tuple_keepdim", lambda a: a.amin((1, 2), keepdim=True), R3, distinct)
row("var", lambda a: a.var(), [((5,),), ((2, 3, 4),)])
row("var_fn", lambda a: tg.var(a), R2)
row("var_dim", lambda a: a.var(1), R3 + R2)
row("var_dim_keepdim", lambda a: a.var(-1, keepdim=True), R3)
row("var_dim_tuple", lambda a: a.var((0, 2)), R3)
row("var_unbiased_false", lambda a: a.var(1, unbiased=False), R3)
row("var_correction0", lambda a: tg.var(a, (0, 1), correction=0, keepdim=True), R3)
row("std", lambda a: a.std(), [((5,),), ((2, 3, 4),)])
row("std_fn", lambda a: tg.std(a), R2)
row("std_dim", lambda a: a.std(1), R3 + R2)
row("std_dim_keepdim", lambda a: a.std(0, keepdim=True), R3)
row("std_dim_tuple", lambda a: a.std((0, 2)), R3)
row("std_unbiased_false", lambda a: a.std(-1, unbiased=False), R3)
row("norm", lambda a: a.norm(), UN3, away0)
row("norm_fn", lambda a: tg.norm(a), R2)
row("norm_fro", lambda a: a.norm("fro"), R2)
row("norm_p2_dim", lambda a: a.norm(2, dim=1), R3 + R2, away0)
row("norm_p2_dim_tuple_keepdim", lambda a: a.norm(2, dim=(0, 2), keepdim=True), R3, away0)
row("norm_p1", lambda a: a.norm(1), UN3, away0)
row("norm_p1_dim", lambda a: a.norm(p=1, dim=-1), R3, away0)
row("norm_p1_dim_tuple_keepdim", lambda a: tg.norm(a, 1, (0, 1), True), R3, away0)
row("norm_pinf", lambda a: a.norm(float("inf")), [((5,),), ((2, 3, 4),)], distinct_abs)
row("norm_pinf_dim", lambda a: a.norm(float("inf"), dim=1), R3 + R2, distinct_abs)
row("norm_pinf_dim_tuple_keepdim", lambda a: a.norm(float("inf"), dim=(0, 2), keepdim=True), R3,
    distinct_abs)
row("norm_p3", lambda a: a.norm(3), UN3, away0)
row("norm_p3_dim", lambda a: a.norm(3, dim=0), R3 + R2, away0)
row("norm_p3_dim_tuple_keepdim", lambda a: tg.norm(a, p=3, dim=(1, 2), keepdim=True), R3, away0)
row("logsumexp_dim", lambda a: a.logsumexp(1), R3 + R2)
row("logsumexp_dim_keepdim", lambda a: tg.logsumexp(a, -1, keepdim=True), R3)
row("logsumexp_dim_tuple", lambda a: a.logsumexp((0, 2)), R3)
row("logsumexp_dim_tuple_keepdim", lambda a: a.logsumexp((0, 1), keepdim=True), R3)
row("logsumexp_1d", lambda a: a.logsumexp(0), [((5,),), ((),)])
row("softmax", lambda a: a.softmax(1), R3 + R2)
row("softmax_neg", lambda a: tg.softmax(a, -1), R3 + [((5,),)])
row("softmax_dim0", lambda a: tg.softmax(a, dim=0), R3)
row("log_softmax", lambda a: a.log_softmax(1), R3 + R2)
row("log_softmax_neg", lambda a: tg.log_softmax(a, -1), R3 + [((5,),)])
row("log_softmax_dim0", lambda a: tg.log_softmax(a, dim=0), R3)
row("cumsum", lambda a: a.cumsum(0), R3 + [((5,),)])
row("cumsum_neg", lambda a: tg.cumsum(a, -1), R3 + R2)
row("cumsum_mid", lambda a: tg.cumsum(a, dim=1), R3)

# ---------------------------------------------------------------- shape ops
row("reshape", lambda a: a.reshape(6, 4), R3)
row("reshape_infer", lambda a: a.reshape(-1), R3 + [((),)])
row("reshape_fn", lambda a: tg.reshape(a, (4, -1)), R3)
row("reshape_of_transpose", lambda a: a.t().reshape(-1) * tg.arange(12.0, dtype=tg.float64), R2)
row("view", lambda a: a.view(3, 2, 4), R3)
row("view_infer", lambda a: a.view(-1, 4) * 2, R3)
row("flatten", lambda a: a.flatten(), R3 + [((),)])
row("flatten_start", lambda a: a.flatten(1), R3)
row("flatten_range", lambda a: tg.flatten(a, 0, 1), R3)
row("unflatten", lambda a: a.unflatten(2, (2, 2)), R3)
row("unflatten_fn", lambda a: tg.unflatten(a, -1, (2, -1)), R2)
row("squeeze", lambda a: a.squeeze(), [((2, 1, 3, 1),)])
row("squeeze_dim", lambda a: a.squeeze(1), [((2, 1, 3),)])
row("squeeze_dim_noop", lambda a: tg.squeeze(a, 0), [((2, 1, 3),)])
row("squeeze_dims", lambda a: a.squeeze((1, 3)), [((2, 1, 3, 1),)])
row("unsqueeze", lambda a: a.unsqueeze(0), R2 + [((),)])
row("unsqueeze_neg", lambda a: tg.unsqueeze(a, -1), R2)
row("transpose", lambda a: a.transpose(0, 2), R3)
row("transpose_fn", lambda a: tg.transpose(a, -1, 0), R2)
row("permute", lambda a: a.permute(2, 0, 1), R3)
row("permute_fn", lambda a: tg.permute(a, (1, 2, 0)), R3)
row("t", lambda a: a.t(), R2 + [((5,),)])
row("t_fn", lambda a: tg.t(a), R2)
row("T", lambda a: a.T, R3 + R2)
row("expand", lambda a: a.expand(2, 3, 4), [((3, 1),), ((4,),), ((),)])
row("expand_keep", lambda a: a.expand(-1, 4), [((3, 1),)])
row("expand_as", lambda a, b: a.expand_as(b) * b, [((3, 1), (2, 3, 4)), ((), (2, 3))])
row("broadcast_to", lambda a: a.broadcast_to((2, 3, 4)), [((3, 1),), ((1, 4),)])
row("broadcast_to_fn", lambda a: tg.broadcast_to(a, (3, 4)), [((4,),)])
row("repeat", lambda a: a.repeat(2, 1, 2), [((2, 3),), ((3,),)])
row("repeat_same_ndim", lambda a: a.repeat(2, 3), [((2, 2),)])
row("contiguous", lambda a: a.t().contiguous(), R2)
row("contiguous_noop", lambda a: a.contiguous(), R2)
row("cat", lambda a, b, c: tg.cat([a, b, c]), [((2, 3), (1, 3), (3, 3))])
row("cat_dim", lambda a, b: tg.cat((a, b), dim=-1), [((2, 3), (2, 1)), ((2, 2, 3), (2, 2, 2))])
row("cat_fn_alias", lambda a, b: tg.concat([a, b], 1), [((2, 3), (2, 2))])
row("cat_same_input", lambda a: tg.cat([a, a * 2], 0), R2)
row("stack", lambda a, b: tg.stack([a, b]), [((2, 3), (2, 3)), ((), ())])
row("stack_dim", lambda a, b, c: tg.stack([a, b, c], dim=-1), [((2, 3), (2, 3), (2, 3))])
row("stack_dim1", lambda a, b: tg.stack((a, b), 1), [((3, 2), (3, 2))])


def _weighted(parts):
    """Several outputs -> one tensor, each part scaled differently."""
    return tg.cat([p.reshape(-1) * (i + 1.5) for i, p in enumerate(parts)])


row("split", lambda a: _weighted(a.split(2)), [((5, 2),)])
row("split_dim", lambda a: _weighted(tg.split(a, 3, dim=-1)), R3)
row("split_sizes", lambda a: _weighted(a.split([1, 2], dim=1)), R3)
row("split_partial", lambda a: a.split(2, dim=1)[1] * 2, R3)
row("split_partial_first", lambda a: tg.split(a, [1, 3], dim=-1)[0].exp(), R2)
row("chunk", lambda a: _weighted(a.chunk(3)), [((5, 2),), ((6,),)])
row("chunk_dim", lambda a: _weighted(tg.chunk(a, 2, dim=2)), R3)
row("chunk_partial", lambda a: a.chunk(2, 1)[0].sin(), R2)
row("unbind", lambda a: _weighted(a.unbind()), R3 + R2)
row("unbind_dim", lambda a: _weighted(tg.unbind(a, dim=1)), R3)
row("unbind_partial", lambda a: a.unbind(1)[2] * a.unbind(1)[0], R2)
row("unbind_sum_products", lambda a: (lambda u: u[0] * u[1] + u[2])(a.unbind(-1)), [((4, 3),)])
row("flip", lambda a: a.flip(0), R3 + [((5,),)])
row("flip_dims", lambda a: tg.flip(a, (0, 2)), R3)
row("roll", lambda a: a.roll(2), R3 + [((5,),)])
row("roll_dim", lambda a: tg.roll(a, 1, 1), R3)
row("roll_dims", lambda a: a.roll((1, -1), (0, 2)), R3)
row("narrow", lambda a: a.narrow(1, 1, 2), R3 + R2)
row("narrow_fn", lambda a: tg.narrow(a, -1, 0, 3), R3)
row("clone", lambda a: a.clone(), UN3)
row("clone_fn", lambda a: tg.clone(a) * 2, UN)
row("to_float64", lambda a: (a * 1).to(tg.float64), UN)
row("to_float64_leaf", lambda a: a.to(tg.float64), UN)
row("to_float64_copy", lambda a: a.to(tg.float64, copy=True), UN)
row("to_dtype_kw", lambda a: a.to(dtype=tg.float64) * a, UN)
row("double", lambda a: a.double(), UN)
row("sum_to", lambda a: S.sum_to(a, (3, 1)), [((2, 3, 4),), ((3, 4),)])
row("sum_to_via_broadcast", lambda a, b: (a * b).sum(), [((3, 1), (2, 3, 4)), ((4,), (3, 4))])

# ---------------------------------------------------------------- indexing (read)
row("getitem_int", lambda a: a[1], R3 + R2 + [((5,),)])
row("getitem_neg_ints", lambda a: a[-1, 2], R3 + R2)
row("getitem_slice_step", lambda a: a[:, 1:4:2], R3 + R2)
row("getitem_step", lambda a: a[::2], R3 + [((5,),)])
row("getitem_ellipsis", lambda a: a[..., 1], R3 + R2)
row("getitem_none", lambda a: a[None, :, None], R2 + [((5,),)])
row("getitem_int_ellipsis_none", lambda a: a[1, ..., None], R3)
row("getitem_0d_ellipsis", lambda a: a[...] * 2, [((),), ((5,),)])
row("getitem_0d_none", lambda a: a[None], [((),)])
row("getitem_bool_mask", lambda a: a[_mask(tuple(a.shape))], R3 + R2)
row("getitem_bool_mask_rows", lambda a: a[tg.tensor([True, False, True])], R2)
row("getitem_bool_from_x", lambda a: a[a > 0] * 3, R2, away0)
row("getitem_index_repeated", lambda a: a[_idx(0, 2, 0, 1, 0)], R2 + [((5,),)])
row("getitem_index_list_repeated", lambda a: a[[1, 1, 0]], R3)
row("getitem_index_cols_repeated", lambda a: a[:, _idx(2, 2, 1)], R3 + R2)
row("getitem_index_pairs_repeated", lambda a: a[_idx(0, 2, 0), _idx(1, 1, 1)], R2)
row("getitem_index_2d", lambda a: a[tg.tensor([[0, 1], [1, 1]])], R2)
row("getitem_index_ellipsis", lambda a: a[..., _idx(0, 0, 2)], R3)
row("getitem_index_scalar_tensor", lambda a: a[tg.tensor(1)], R2)
row("getitem_index_negative", lambda a: a[_idx(-1, 0, -1)], [((5,),)])

# ---------------------------------------------------------------- indexing (write)
def _setitem(index, v_of=None):
    def f(x, v):
        y = x * 1
        y[index] = v if v_of is None else v_of(v)
        return y
    return f


row("setitem_int", _setitem(1), [((3, 4), (4,)), ((3, 4), (1,)), ((3, 4), ())])
row("setitem_slice_step", _setitem((slice(None), slice(None, None, 2))), [((3, 4), (3, 2)), ((3, 4), (2,))])
row("setitem_ellipsis", _setitem((Ellipsis, 1)), [((2, 3, 4), (2, 3)), ((2, 3, 4), ())])
row("setitem_index", _setitem(_idx(2, 0)), [((3, 4), (2, 4)), ((3, 4), (4,))])
row("setitem_index_pairs", _setitem((_idx(0, 2, 1), _idx(3, 0, 1))), [((3, 4), (3,))])
row("setitem_mask", _setitem(_mask((3, 4))), [((3, 4), (4,))])
row("setitem_mask_rows", _setitem(tg.tensor([False, True, True])), [((3, 4), (2, 4)), ((3, 4), (4,))])
row("setitem_v_expr", _setitem(0, lambda v: v.exp()), [((3, 4), (4,))])


def _setitem_const(x):
    y = x * 1
    y[1] = 2.0
    return y


def _setitem_twice(x, v):
    y = x * 1
    y[0] = v
    y[:, 1] = v[1] * 3
    return y


def _setitem_view(x, v):
    y = x * 1
    z = y[1]
    z[1:3] = v
    return y * z.sum()


def _setitem_then_use(x, v):
    y = x.sin()  # sin saves its input, not its output: y may be overwritten
    y[1:] = v
    return y * x


row("setitem_const_value", _setitem_const, R2)
row("setitem_twice", _setitem_twice, [((3, 4), (4,))])
row("setitem_on_view", _setitem_view, [((3, 4), (2,))])
row("setitem_then_use", _setitem_then_use, [((3, 4), (4,)), ((3, 4), (2, 4))])

# ------------------------------------------------------- gather / scatter / index_select / masked_fill
_GIDX = tg.tensor([[0, 0, 2], [1, 1, 1], [3, 0, 3]])
row("gather", lambda a: a.gather(1, _GIDX), [((3, 4),)])
row("gather_dim0", lambda a: tg.gather(a, 0, tg.tensor([[0, 2, 2, 0], [1, 1, 0, 2]])), [((3, 4),)])
row("gather_3d", lambda a: a.gather(-1, tg.tensor([[[0, 3], [3, 3], [1, 0]]] * 2)), R3)
_SIDX = tg.tensor([[0, 0, 2], [1, 1, 1]])
row("scatter_add", lambda a, src: a.scatter_add(1, _SIDX, src), [((2, 4), (2, 3))])
row("scatter_add_fn_dim0", lambda a, src: tg.scatter_add(a, 0, tg.tensor([[0, 2, 0], [0, 0, 1]]), src),
    [((3, 3), (2, 3))])
row("scatter", lambda a, src: a.scatter(1, tg.tensor([[0, 2], [3, 1]]), src), [((2, 4), (2, 2))])
row("index_select", lambda a: a.index_select(0, _idx(2, 0, 2, 2)), R2)
row("index_select_3d", lambda a: a.index_select(0, _idx(1, 0, 1, 1)), R3)
row("index_select_dim", lambda a: tg.index_select(a, -1, _idx(1, 1, 3)), R3 + R2)
row("index_select_1d", lambda a: a.index_select(0, _idx(4, 4, 0)), [((5,),)])
row("masked_fill", lambda a: a.masked_fill(_mask(tuple(a.shape)), 0.5), R3 + R2)
row("masked_fill_fn_broadcast_mask", lambda a: tg.masked_fill(a, tg.tensor([True, False, False, True]), -1.0),
    R3 + R2)
row(
    "masked_fill_tensor_value",
    lambda a, v: a.masked_fill(_mask(tuple(a.shape)), v),
    [((3, 4), ()), ((5,), ())],
)

# ---------------------------------------------------------------- linear algebra
MATMUL = [((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)), ((2, 3), (3, 4)), ((2, 3, 4), (2, 4, 2)),
          ((2, 1, 3, 4), (5, 4, 2)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (4, 2)),
          ((3, 4), (2, 4, 2))]
row("matmul_op", lambda a, b: a @ b, MATMUL)
row("matmul_fn", lambda a, b: tg.matmul(a, b), [((4,), (4, 3)), ((2, 1, 3, 4), (5, 4, 2))])
row("matmul_method", lambda a, b: a.matmul(b), [((3, 4), (4,)), ((2, 3, 4), (2, 4, 2))])
row("matmul_same_input", lambda a: a @ a, [((3, 3),), ((2, 3, 3),)])
row("mm", lambda a, b: tg.mm(a, b), [((2, 3), (3, 4))])
row("mm_method", lambda a, b: a.mm(b), [((3, 3), (3, 2))])
row("bmm", lambda a, b: tg.bmm(a, b), [((2, 3, 4), (2, 4, 2))])
row("bmm_method", lambda a, b: a.bmm(b), [((3, 2, 2), (3, 2, 3))])
row("mv", lambda a, b: tg.mv(a, b), [((3, 4), (4,))])
row("dot", lambda a, b: tg.dot(a, b), [((4,), (4,))])
row("dot_method", lambda a, b: a.dot(b), [((5,), (5,))])
row("outer", lambda a, b: tg.outer(a, b), [((3,), (4,))])
row("outer_method", lambda a, b: a.outer(b), [((2,), (5,))])
row("einsum_mm", lambda a, b: tg.einsum("ij,jk->ik", a, b), [((2, 3), (3, 4))])
row("einsum_bmm", lambda a, b: tg.einsum("bij,bjk->bik", a, b), [((2, 3, 4), (2, 4, 2))])
row("einsum_dot", lambda a, b: tg.einsum("i,i->", a, b), [((4,), (4,))])
row("einsum_outer", lambda a, b: tg.einsum("i,j->ij", a, b), [((3,), (4,))])
row("einsum_transpose", lambda a: tg.einsum("ij->ji", a), R2)
row("einsum_sum", lambda a: tg.einsum("ijk->j", a), R3)
row("einsum_implicit", lambda a, b: tg.einsum("ij,kj", a, b), [((2, 3), (4, 3))])
row("einsum_summed_out", lambda a, b: tg.einsum("ij,jk->i", a, b), [((2, 3), (3, 4))])
row("einsum_ellipsis", lambda a, b: tg.einsum("...ij,...jk->...ik", a, b), [((2, 3, 4), (2, 4, 2))])
row("einsum_three", lambda a, b, c: tg.einsum("ij,jk,kl->il", a, b, c), [((2, 3), (3, 2), (2, 4))])
row("einsum_list", lambda a, b: tg.einsum("ij,j->i", [a, b]), [((3, 4), (4,))])
row("einsum_diagonal", lambda a: tg.einsum("ii->i", a), [((3, 3),)])
row("einsum_trace", lambda a: tg.einsum("ii", a), [((3, 3),)])
row("einsum_diagonal_times", lambda a, b: tg.einsum("ii,i->i", a, b), [((3, 3), (3,))])
row("einsum_batch_diagonal", lambda a: tg.einsum("bii->bi", a), [((2, 3, 3),)])
row("einsum_diagonal_other", lambda a, b: tg.einsum("ij,jj->i", a, b), [((2, 3), (3, 3))])


# ---------------------------------------------------------------- in-place ops on non-leaves
def _inplace_chain(x, z):
    y = x * 1
    y.add_(z)
    y.mul_(2)
    y.exp_()
    return y


def _inplace_arith(x, z):
    y = x * 1
    y.sub_(z, alpha=2)
    y.div_(z)
    y.pow_(2)
    return y


def _inplace_ops(x, z):
    y = x * 1
    y += z
    y *= z
    y -= 0.5
    y /= 2.0
    return y


def _inplace_unary(x):
    y = x * 1
    y.sigmoid_()
    y.mul_(3.0)
    y.tanh_()
    y.neg_()
    return y


def _inplace_unary_domain(x):
    y = x * 1
    y.abs_()
    y.log_()  # (not sqrt_ then log_: sqrt saves its output, which log_ would overwrite)
    y.add_(2.0)
    y.sqrt_()
    y.add_(1.0)
    y.sin_()
    return y


def _inplace_clamp(x):
    y = x * 2
    y.clamp_(-1.0, 1.0)
    return y


def _inplace_masked_fill(x):
    y = x.sin()  # (not exp: exp saves its output, which masked_fill_ would overwrite)
    y.masked_fill_(_mask(tuple(x.shape)), 0.0)
    return y * x


def _inplace_view(x, z):
    y = x * 1
    y[0].mul_(z)
    y[:, 1].add_(z[1])
    return y


def _inplace_transposed_view(x):
    y = x * 1
    y.t().exp_()
    return y


def _inplace_copy(x, z):
    y = x * 1
    y[1].copy_(z)
    return y * x


def _inplace_relu_scatter(x, z):
    y = x - 0.1
    y.relu_()
    y.scatter_add_(1, tg.tensor([[0, 0], [2, 1], [3, 3]]), z)
    return y


row("inplace_add_mul_exp", _inplace_chain, [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), ())])
row("inplace_sub_div_pow", _inplace_arith, [((3, 4), (3, 4)), ((2, 3), (3,))], (normal, away0))
row("inplace_operators", _inplace_ops, [((3, 4), (3, 4)), ((3, 4), (3, 1))])
row("inplace_unary", _inplace_unary, UN)
row("inplace_abs_sqrt_log", _inplace_unary_domain, UN, away0)
row("inplace_clamp", _inplace_clamp, UN, avoid(-0.5, 0.5))
row("inplace_masked_fill", _inplace_masked_fill, R2)
row("inplace_on_view", _inplace_view, [((3, 4), (4,))])
row("inplace_on_transposed_view", _inplace_transposed_view, R2)
row("inplace_copy_on_view", _inplace_copy, [((3, 4), (4,)), ((3, 4), ())])
row("inplace_relu_scatter_add", _inplace_relu_scatter, [((3, 4), (3, 2))], (avoid(0.1), normal))


# ---------------------------------------------------------------- 0-d tensors with dim arguments
# (PyTorch accepts dim 0 / -1 on a 0-d tensor)
ZD = [((),)]
row("mean_dim_0d", lambda a: a.mean(0), ZD)
row("sum_dim_neg_keepdim_0d", lambda a: a.sum(-1, keepdim=True), ZD)
row("softmax_0d", lambda a: a.softmax(0) * a, ZD)
row("log_softmax_0d", lambda a: a.log_softmax(-1) * a, ZD)
row("cumsum_0d", lambda a: a.cumsum(0), ZD)
row("prod_dim_0d", lambda a: a.prod(0), ZD)
row("amax_dim_0d", lambda a: a.amax(0), ZD)
row("amin_dim_0d", lambda a: tg.amin(a, -1), ZD)
row("norm_pinf_0d", lambda a: a.norm(float("inf")), ZD, distinct_abs)
row("norm_dim_0d", lambda a: a.norm(2, dim=0), ZD, away0)
row("norm_p3_0d", lambda a: a.norm(3), ZD, away0)
row("logsumexp_dim_tuple_0d", lambda a: a.logsumexp((0,)), ZD)
row("squeeze_0d", lambda a: a.squeeze(0), ZD)
row("flip_0d", lambda a: a.flip(0), ZD)
row("repeat_0d", lambda a: a.repeat(2, 3), ZD)
row("gather_0d", lambda a: a.gather(0, tg.tensor(0)), ZD)
row("masked_fill_0d", lambda a: a.masked_fill(tg.tensor(False), 1.0) * a, ZD)
row("transpose_0d", lambda a: a.transpose(0, -1) * a, ZD)


# ---------------------------------------------------------------- some inputs constant
# (backward formulas that save only what the wanted gradients need)
for _k in (0, 1):
    row("mul_const", lambda a, b: a * b, BIN_SMALL, const=(_k,))
    row("div_const", lambda a, b: a / b, BIN_SMALL, (normal, away0), const=(_k,))
    row("pow_tensor_const", lambda a, b: a ** b, BIN_SMALL, (positive, normal), const=(_k,))
    row("maximum_const", lambda a, b: tg.maximum(a, b), BIN_SMALL, (grid(0.0), grid(0.25)), const=(_k,))
    row("matmul_const", lambda a, b: a @ b, [((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)), ((2, 3), (3, 4)),
                                             ((2, 1, 3, 4), (5, 4, 2))], const=(_k,))
    row("einsum_const", lambda a, b: tg.einsum("bij,jk->bik", a, b), [((2, 3, 4), (4, 2))], const=(_k,))
    row("where_const", _where, BIN_SMALL, const=(_k,))
    row("scatter_add_const", lambda a, src: a.scatter_add(1, _SIDX, src), [((2, 4), (2, 3))], const=(_k,))
    row("masked_fill_value_const", lambda a, v: a.masked_fill(_mask(tuple(a.shape)), v), [((3, 4), ())],
        const=(_k,))
    row("setitem_const", _setitem(_idx(2, 0)), [((3, 4), (2, 4)), ((3, 4), (4,))], const=(_k,))
    row("inplace_mul_const", lambda x, z: (lambda y: (y.mul_(z), y.add_(z))[1])(x * 1),
        [((3, 4), (3, 4)), ((3, 4), (4,))], const=(_k,))
row("clamp_tensor_const_bounds", lambda a, lo, hi: a.clamp(lo, hi), TERN, (grid(0.0), _lo_dom, _hi_dom),
    const=(1, 2))
row("clamp_tensor_const_input", lambda a, lo, hi: a.clamp(lo, hi), TERN, (grid(0.0), _lo_dom, _hi_dom),
    const=(0,))
row("cat_const_middle", lambda a, b, c: tg.cat([a, b, c], 1), [((2, 3), (2, 1), (2, 2))], const=(1,))
row("stack_const", lambda a, b: tg.stack([a, b], 1), [((2, 3), (2, 3))], const=(0,))

# ---------------------------------------------------------------- mixed basic / advanced indexing
row("getitem_adv_then_slice", lambda a: a[_idx(1, 1, 0), ::2], R3 + R2)
row("getitem_slice_then_adv", lambda a: a[1:, _idx(2, 2, 0)], R3 + R2)
row("getitem_adv_separated", lambda a: a[_idx(1, 0, 1), :, _idx(3, 3, 0)], R3)
row("getitem_none_adv", lambda a: a[None, _idx(0, 0), ..., 1], R3)
row("getitem_mask_and_slice", lambda a: a[tg.tensor([True, False, True]), 1:], R2)


# ---------------------------------------------------------------- other differentiable ops
row("exp2", lambda a: tg.exp2(a), UN)
row("log2", lambda a: a.log2(), UN, positive)
row("log10", lambda a: tg.log10(a), UN, positive)
row("reciprocal", lambda a: a.reciprocal(), UN, away0)
row("atan", lambda a: tg.atan(a), UN)
row("sinh", lambda a: a.sinh(), UN)
row("cosh", lambda a: tg.cosh(a), UN)
row("erf", lambda a: a.erf(), UN3)
row("atan2", lambda a, b: tg.atan2(a, b), BIN_SMALL, (away0, away0))
row("ldexp", lambda a, b: tg.ldexp(a, b), BIN_SMALL)
row("hypot", lambda a, b: tg.hypot(a, b), BIN_SMALL, (away0, away0))
row("logaddexp", lambda a, b: tg.logaddexp(a, b), BIN_SMALL)
row("logaddexp2", lambda a, b: tg.logaddexp2(a, b), BIN_SMALL)
row("dist", lambda a, b: tg.dist(a, b), BIN_SMALL)
row("dist_p3", lambda a, b: tg.dist(a, b, 3), BIN_SMALL)
row("positive", lambda a: tg.positive(a) * a, UN)
row("diff", lambda a: tg.diff(a, 2, 0), R2)
row("diff_prepend", lambda a, p: tg.diff(a, dim=1, prepend=p), [((3, 4), (3, 2))])
row("take_along_dim", lambda a: tg.take_along_dim(a, tg.tensor([[0], [3], [1]]), 1), R2)
row("repeat_interleave", lambda a: tg.repeat_interleave(a, tg.tensor([2, 0, 1]), dim=0), R2)
row("atleast_2d", lambda a: tg.atleast_2d(a), UN)
row("atleast_3d", lambda a: tg.atleast_3d(a), UN)
row("tile", lambda a: tg.tile(a, (2, 1)), R2)
row("ravel", lambda a: tg.ravel(a.t()), R2)
row("rot90", lambda a: tg.rot90(a, 1, (0, 1)), R2)
row("cumprod", lambda a: a.cumprod(1), R3 + R2, away0)
row("cumprod_fn", lambda a: tg.cumprod(a, -1), [((5,),)], away0)
row("lerp", lambda a, b, w: tg.lerp(a, b, w), TERN)
row("addcmul", lambda a, b, c: tg.addcmul(a, b, c, value=0.5), TERN)
row("addcdiv", lambda a, b, c: tg.addcdiv(a, b, c, value=2), TERN, (normal, normal, away0))
row("float_power", lambda a: tg.float_power(a, 2.5), UN, positive)
row("fmax", lambda a, b: tg.fmax(a, b), BIN_SMALL, (grid(0.0), grid(0.25)))
row("fmin", lambda a, b: tg.fmin(a, b), BIN_SMALL, (grid(0.0), grid(0.25)))
row("movedim", lambda a: tg.movedim(a, 0, -1), R3)
row("movedim_tuple", lambda a: a.movedim((0, 1), (2, 0)), R3)
row("select", lambda a: tg.select(a, 1, -1), R3 + R2)
row("tensor_split", lambda a: _weighted(tg.tensor_split(a, 3, dim=1)), [((2, 4),)])
row("tensor_split_indices", lambda a: _weighted(a.tensor_split([1, 3], dim=-1)), R3)
row("hstack", lambda a, b: tg.hstack([a, b]), [((2, 3), (2, 1)), ((3,), (2,))])
row("vstack", lambda a, b: tg.vstack([a, b]), [((2, 3), (1, 3)), ((3,), (3,))])
row("index_add", lambda a, src: a.index_add(0, _idx(1, 1, 0), src, alpha=2.0), [((3, 4), (3, 4))])
row("take", lambda a: tg.take(a, tg.tensor([[0, 5], [5, 11]])), R2)
row("masked_select", lambda a: tg.masked_select(a, _mask(tuple(a.shape))), R3 + R2)
row("masked_select_broadcast", lambda a: a.masked_select(tg.tensor([True, False, True, True])), R2)
row("nansum", lambda a: tg.nansum(a, 1), R2)
row("view_as", lambda a, b: a.view_as(b) * b, [((3, 4), (2, 6))])
row("reshape_as", lambda a, b: a.t().reshape_as(b) * b, [((3, 4), (6, 2))])
row("broadcast_tensors", lambda a, b: _weighted(tg.broadcast_tensors(a, b)), [((3, 1), (4,))])
row("squeeze_unsqueeze_roundtrip", lambda a: a.unsqueeze(1).squeeze(1) * a, R2)
row("atleast_1d", lambda a: tg.atleast_1d(a) * 2, [((),), ((3,),)])
row("mT", lambda a: a.mT, R3)
row("var_mean", lambda a: (lambda vm: vm[0] * vm[1])(tg.var_mean(a, 1)), R3)
row("std_mean", lambda a: (lambda sm: sm[0] + sm[1] * 2)(tg.std_mean(a, (0, 2), keepdim=True)), R3)
row(
    "addmm",
    lambda c, a, b: tg.addmm(c, a, b, beta=0.5, alpha=2),
    [((2, 4), (2, 3), (3, 4)), ((4,), (2, 3), (3, 4))],
)
row("tensordot", lambda a, b: tg.tensordot(a, b, dims=([1, 2], [0, 1])), [((2, 3, 4), (3, 4, 2))])
row("tensordot_int", lambda a, b: tg.tensordot(a, b, 1), [((2, 3), (3, 4))])
row("aminmax", lambda a: (lambda mm: mm.min * mm.max)(tg.aminmax(a, dim=1)), R3, distinct)


# ---------------------------------------------------------------- one row per registered op
# (tests/test_op_registry.py checks that every op in ops/_registry has a row here)
for _name in ("frac", "floor", "ceil", "round", "trunc"):  # away from the jumps
    row(_name, (lambda n: lambda a: getattr(tg, n)(a))(_name), UN, grid(0.25))
row("remainder_scalar", lambda a: tg.remainder(a, 2.0), UN, grid(0.25))
row("fmod_scalar", lambda a: tg.fmod(a, 2.0), UN, grid(0.25))
row("nanmean", lambda a: tg.nanmean(a, dim=1), R2)
row("index_put", lambda x, v: tg.index_put(x, (_idx(0, 2),), v), [((3, 4), (2, 4))])
row("index_put_", lambda x, v: x.clone().index_put_((_idx(0, 2),), v, accumulate=True), [((3, 4), (2, 4))])
row("copy", lambda x, z: x.clone().copy_(z), [((3, 4), (4,))])
row("fill", lambda x, v: x.clone().fill_(v), [((3, 4), ())])
row("zero", lambda x: x.clone().zero_() + x, UN)
row("fliplr", lambda a: tg.fliplr(a), R2)
row("flipud", lambda a: tg.flipud(a), R2)

# ---------------------------------------------------------------- compositions
row("composite_mlp", lambda x, w, b: (x @ w + b).tanh().sum(-1), [((2, 3), (3, 4), (4,))])
row("composite_softmax_xent", lambda x: -(x.log_softmax(-1)[_idx(0, 1, 2), _idx(1, 0, 3)]).mean(), R2)
row("composite_layernorm",
    lambda x: (x - x.mean(-1, keepdim=True)) / (x.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt(), R2)
row("multi_output_tuple", lambda a: a.split(2), [((5, 2),)])


# -------------------------------- sorting, selection and triangular ops (issue 15)
def _diag_write(a):
    z = a.clone()
    z.diagonal(1).mul_(3.0)
    return z


row("sort", lambda a: a.sort(1).values, R3 + R2, distinct)
row("sort_descending", lambda a: tg.sort(a, 0, descending=True).values, R3 + R2, distinct)
row("sort_stable", lambda a: tg.sort(a, dim=-1, stable=True).values, [((5,),), ((2, 3),)], distinct)
row("sort_0d", lambda a: a.sort().values, [((),)])
row("msort", lambda a: tg.msort(a), R2 + [((5,),)], distinct)
row("topk", lambda a: a.topk(2).values, R3 + R2, distinct)
row("topk_smallest_dim0", lambda a: tg.topk(a, 2, dim=0, largest=False).values, R3, distinct)
row("topk_0d", lambda a: a.topk(1).values, [((),)])
row("kthvalue", lambda a: a.kthvalue(2).values, R3 + R2, distinct)
row("kthvalue_keepdim", lambda a: tg.kthvalue(a, 3, dim=1, keepdim=True).values, R3, distinct)
row("median", lambda a: tg.median(a), R3 + R2, distinct)
row("cummax", lambda a: tg.cummax(a, 1).values, R3 + R2, distinct)
row("cummin", lambda a: tg.cummin(a, 0).values, R2, distinct)
row("quantile", lambda a: tg.quantile(a, tg.tensor([0.2, 0.7], dtype=tg.float64), dim=1), R3 + R2, distinct)
row("copysign", lambda a, b: tg.copysign(a, b), BIN_SMALL, (away0, away0))
row("cov", lambda a: tg.cov(a), [((3, 5),)])
row("corrcoef", lambda a: tg.corrcoef(a), [((3, 5),)])
row("trapezoid", lambda y, x: tg.trapezoid(y, x), [((3, 4), (3, 4))])
row("cumulative_trapezoid", lambda y: tg.cumulative_trapezoid(y, dx=0.3, dim=0), R2)
row("column_stack", lambda a, b: tg.column_stack([a, b]), [((4,), (4, 2))])
row("dstack", lambda a, b: tg.dstack([a, b]), [((3,), (3,))])
row("hsplit", lambda a: tg.hsplit(a, 2)[1] * 2, R2)
row("vsplit", lambda a: tg.vsplit(a, [1])[1], R2)
row("dsplit", lambda a: tg.dsplit(a, 2)[0], R3)
row("quantile_all", lambda a: tg.quantile(a, 0.4, interpolation="midpoint"), R2, distinct)
row("nanquantile", lambda a: tg.nanquantile(a, 0.3), R2, distinct)
row("median_dim", lambda a: tg.median(a, 1, keepdim=True).values, R3, distinct)
row("nanmedian", lambda a: tg.nanmedian(a, 0).values, R2, distinct)
row("kthvalue_0d", lambda a: a.kthvalue(1).values, [((),)])
row("tril", lambda a: a.tril(), R3 + R2)
row("tril_offset", lambda a: tg.tril(a, -1), R2 + [((4, 3),)])
row("tril_", lambda a: (a * 1).tril_(1), R2)
row("triu", lambda a: tg.triu(a), R3 + R2)
row("triu_offset", lambda a: a.triu(2), R2)
row("triu_", lambda a: (a * 1).triu_(-1), R3)
row("diag_vector", lambda a: tg.diag(a), [((4,),)])
row("diag_vector_offset", lambda a: a.diag(-2), [((3,),)])
row("diag_matrix", lambda a: tg.diag(a, 1), R2 + [((4, 3),)])
row("diag_embed", lambda a: tg.diag_embed(a), R2 + [((3,),)])
row("diag_embed_dims", lambda a: a.diag_embed(1, 0, 2), R2)
row("diagonal", lambda a: a.diagonal(), R2 + R3)
row("diagonal_dims", lambda a: tg.diagonal(a, -1, 2, 0), R3)
row("diagonal_write", _diag_write, R2)
row("diagflat", lambda a: tg.diagflat(a, 1), [((2, 2),), ((3,),)])
row("trace", lambda a: a.trace(), R2 + [((3, 3),)])
row("cross", lambda a, b: tg.cross(a, b, dim=1), [((4, 3), (4, 3)), ((2, 3), (1, 3))])
row("cross_method", lambda a, b: a.cross(b, dim=0), [((3, 2), (3, 2))])
for _p in (0, 0.5, 1, 1.5, 2, 3, float("inf")):
    row(f"cdist_p{_p}", (lambda p: lambda a, b: tg.cdist(a, b, p=p))(_p),
        [((3, 4), (2, 4)), ((2, 3, 2), (1, 4, 2))])
row("cdist_mm", lambda a, b: tg.cdist(a, b), [((26, 2), (3, 2))])
row("cdist_use_mm", lambda a, b: tg.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
    [((2, 3, 2), (1, 4, 2))])
row("kron", lambda a, b: tg.kron(a, b), [((2, 3), (3, 2)), ((3,), (2, 2)), ((2, 2), ())])
row("baddbmm", lambda c, a, b: tg.baddbmm(c, a, b, beta=0.5, alpha=2.0),
    [((2, 3, 4), (2, 3, 2), (2, 2, 4)), ((4,), (2, 3, 2), (2, 2, 4))])
row("baddbmm_", lambda c, a, b: (c * 1).baddbmm_(a, b), [((2, 3, 4), (2, 3, 2), (2, 2, 4))])
row("addbmm", lambda c, a, b: c.addbmm(a, b, alpha=-1.5), [((3, 4), (2, 3, 2), (2, 2, 4))])
row("addmv", lambda c, a, b: tg.addmv(c, a, b, beta=2), [((3,), (3, 4), (4,)), ((), (3, 4), (4,))])
row("addr", lambda c, a, b: tg.addr(c, a, b, beta=0.5, alpha=3), [((3, 4), (3,), (4,)), ((4,), (3,), (4,))])
row("meshgrid", lambda a, b: _weighted(tg.meshgrid(a, b, indexing="ij")), [((3,), (4,)), ((), (2,))])
row("meshgrid_xy", lambda a, b, c: _weighted(tg.meshgrid([a, b, c], indexing="xy")), [((2,), (3,), (2,))])
row("cartesian_prod", lambda a, b: tg.cartesian_prod(a, b), [((3,), (2,))])
row("block_diag", lambda a, b, c: tg.block_diag(a, b, c), [((2, 3), (3,), ())])
row("combinations", lambda a: tg.combinations(a), [((4,),)])
row("combinations_replacement", lambda a: tg.combinations(a, 3, with_replacement=True), [((3,),)])



# -------------------------------- linalg (issue 15)
def _spd(a):
    """A well-conditioned symmetric positive-definite matrix from any square ``a``."""
    return a @ a.mT + 3 * tg.eye(a.shape[-1], dtype=a.dtype)


def _wc(a):
    """``a`` moved away from singular: diagonally dominant for the small normal inputs."""
    return a + 4 * tg.eye(a.shape[-1], dtype=a.dtype)


def _sq(t):
    """Squares: invariant under the sign of each singular/eigen vector (the gauge)."""
    return t * t


LA = tg.linalg
SQ = [((3, 3),), ((2, 3, 3),)]
row("linalg_inv", lambda a: LA.inv(_wc(a)), SQ)
row("linalg_inv_ex", lambda a: LA.inv_ex(_wc(a)).inverse, [((3, 3),)])
row("inverse", lambda a: _wc(a).inverse(), [((3, 3),)])
row("det", lambda a: tg.det(a), SQ + [((1, 1),)])
row("linalg_det", lambda a: LA.det(a), [((2, 2),)])
row("linalg_slogdet", lambda a: LA.slogdet(_wc(a)).logabsdet, SQ)
row("slogdet", lambda a: tg.slogdet(_wc(a))[1], [((3, 3),)])
row("logdet", lambda a: _spd(a).logdet(), SQ)
row("linalg_solve", lambda a, b: LA.solve(_wc(a), b), [((3, 3), (3, 2)), ((2, 3, 3), (3, 1)), ((3, 3), (3,)),
                                                       ((2, 3, 3), (2, 3))])
row("linalg_solve_right", lambda a, b: LA.solve(_wc(a), b, left=False), [((3, 3), (2, 3))])
row("linalg_solve_ex", lambda a, b: LA.solve_ex(_wc(a), b).result, [((3, 3), (3, 2))])
row("linalg_solve_triangular", lambda a, b: LA.solve_triangular(_wc(a), b, upper=True),
    [((3, 3), (3, 2)), ((2, 3, 3), (3, 2))])
row("linalg_solve_triangular_lower_right_unit",
    lambda a, b: LA.solve_triangular(a, b, upper=False, left=False, unitriangular=True), [((3, 3), (2, 3))])
row("linalg_cholesky", lambda a: LA.cholesky(_spd(a)), SQ)
row("linalg_cholesky_upper", lambda a: LA.cholesky(_spd(a), upper=True), [((3, 3),)])
row("linalg_cholesky_ex", lambda a: LA.cholesky_ex(_spd(a)).L, [((3, 3),)])
row("cholesky", lambda a: tg.cholesky(_spd(a), upper=True), [((3, 3),)])
row("linalg_qr", lambda a: LA.qr(a), [((4, 3),), ((3, 3),), ((2, 4, 3),), ((2, 4),)])
row("linalg_qr_complete_wide", lambda a: LA.qr(a, mode="complete"), [((2, 4),)])
row("qr", lambda a: tg.qr(a), [((4, 3),)])
row("linalg_svd", lambda a: (lambda u, s, vh: (_sq(u), s, _sq(vh)))(*LA.svd(a, full_matrices=False)),
    [((4, 3),), ((3, 4),), ((3, 3),), ((2, 3, 2),)])
row("linalg_svd_products", lambda a: (lambda u, s, vh: (u @ u.mT, vh.mT @ vh, (u * s.unsqueeze(-2)) @ vh))(
    *LA.svd(a, full_matrices=False)), [((4, 3),)])
row("linalg_svd_full", lambda a: LA.svd(a)[1], [((4, 3),)])
row("linalg_svdvals", lambda a: LA.svdvals(a), [((4, 3),), ((2, 2, 3),)])
row("svd", lambda a: (lambda u, s, v: (_sq(u), s, _sq(v)))(*tg.svd(a)), [((4, 3),)])
row("linalg_eigh", lambda a: (lambda w, v: (w, _sq(v)))(*LA.eigh(a + a.mT)), SQ)
row("linalg_eigh_upper", lambda a: (lambda w, v: (w, _sq(v)))(*LA.eigh(a + a.mT, UPLO="U")), [((3, 3),)])
row("linalg_eigvalsh", lambda a: LA.eigvalsh(a + a.mT), SQ)
row("linalg_pinv", lambda a: LA.pinv(a), [((4, 3),), ((3, 4),), ((2, 3, 2),)])
row("linalg_pinv_hermitian", lambda a: LA.pinv(_spd(a), hermitian=True), [((3, 3),)])
row("pinverse", lambda a: tg.pinverse(a), [((3, 4),)])
row("linalg_lstsq", lambda a, b: LA.lstsq(a, b).solution,
    [((4, 3), (4, 2)), ((2, 4, 3), (2, 4, 1)), ((4, 3), (4,))])
row("linalg_lstsq_residuals", lambda a, b: LA.lstsq(a, b, driver="gelsd").residuals, [((4, 2), (4, 2))])
row("linalg_cross", lambda a, b: LA.cross(a, b), [((4, 3), (4, 3)), ((2, 1, 3), (1, 4, 3))])
row("linalg_cross_dim0", lambda a, b: LA.cross(a, b, dim=0), [((3, 2), (3, 2))])
row("matrix_power", lambda a: tg.matrix_power(a, 3), SQ)
row("matrix_power_neg", lambda a: _wc(a).matrix_power(-2), [((3, 3),)])
row("linalg_matrix_power", lambda a: LA.matrix_power(a, 5), [((2, 2),)])
row("linalg_vector_norm", lambda a: LA.vector_norm(a), UN)
row("linalg_vector_norm_p3_dim", lambda a: LA.vector_norm(a, 3, dim=1, keepdim=True), R2)
row("linalg_matrix_norm", lambda a: LA.matrix_norm(a), [((3, 4),), ((2, 3, 2),)])
for _ord in ("nuc", 2, -2, 1, -1, float("inf"), -float("inf")):
    row(f"linalg_matrix_norm_{_ord}", lambda a, o=_ord: LA.matrix_norm(a, o), [((4, 3),), ((2, 3, 3),)],
        distinct)
row("linalg_matrix_norm_dims_keepdim", lambda a: LA.matrix_norm(a, 1, dim=(0, 2), keepdim=True),
    [((3, 2, 4),)], distinct)
row("linalg_norm", lambda a: LA.norm(a), [((3, 4),), ((2, 3, 2),)])
row("linalg_norm_ord", lambda a: LA.norm(a, "nuc"), [((3, 4),)], distinct)
row("linalg_norm_dim", lambda a: LA.norm(a, 1, dim=-1), R2, away0)
row("linalg_vecdot", lambda a, b: LA.vecdot(a, b), [((3, 4), (4,)), ((2, 3), (2, 3))])
row("linalg_multi_dot", lambda a, b, c: LA.multi_dot([a, b, c]),
    [((3,), (3, 4), (4, 2)), ((2, 3), (3, 4), (4,))])
row("matrix_exp", lambda a: tg.matrix_exp(a), SQ)
row("linalg_matrix_exp", lambda a: LA.matrix_exp(a * 3), [((2, 2),)])
row("linalg_cond", lambda a: LA.cond(a), [((3, 3),)])
row("linalg_vander", lambda a: LA.vander(a), [((3,),)])
row("linalg_lu_factor", lambda a: LA.lu_factor(a).LU, [((3, 3),), ((2, 4, 3),), ((3, 4),)])
row("linalg_lu_factor_ex", lambda a: LA.lu_factor_ex(a).LU, [((3, 3),)])
row("linalg_lu", lambda a: LA.lu(a)[1:], [((3, 3),), ((4, 3),), ((2, 3, 4),)])
row("linalg_lu_solve", lambda a, b: LA.lu_solve(*LA.lu_factor(_wc(a)), b),
    [((3, 3), (3, 2)), ((2, 3, 3), (3, 1))])
row("linalg_lu_solve_right_adjoint",
    lambda a, b: LA.lu_solve(*LA.lu_factor(_wc(a)), b, left=False, adjoint=True), [((3, 3), (2, 3))])


# -------------------------------- special functions (issue 15)
row("lgamma", lambda a: a.lgamma(), UN, positive)
row("lgamma_fn_negative", lambda a: tg.lgamma(a), UN, grid(0.25))
row("digamma", lambda a: a.digamma(), UN, positive)
row("digamma_fn_negative", lambda a: tg.digamma(a), UN, grid(0.25))
row("polygamma_1", lambda a: tg.polygamma(1, a), UN, positive)
row("polygamma_2_method", lambda a: a.polygamma(2), UN, grid(0.25))
row("polygamma_0", lambda a: tg.polygamma(0, a), UN, positive)
row("mvlgamma_3", lambda a: tg.mvlgamma(a + 1.5, 3), UN, positive)
row("mvlgamma_method", lambda a: a.mvlgamma(1), UN, positive)
row("erfc", lambda a: a.erfc(), UN)
row("erfc_fn", lambda a: tg.erfc(a), UN)
row("erfinv", lambda a: a.erfinv(), UN, unit)
row("erfinv_fn", lambda a: tg.erfinv(a), UN, unit)
row("erfcx", lambda a: tg.special.erfcx(a * 3), UN)
row("ndtri", lambda a: tg.special.ndtri(a), UN, lambda rng, s: rng.uniform(0.05, 0.95, s))
row("log_ndtr", lambda a: tg.special.log_ndtr(a * 4), UN)
row("i0", lambda a: a.i0(), UN)
row("i0_fn_large", lambda a: tg.i0(a * 15), UN)
row("i0e", lambda a: tg.special.i0e(a * 10), UN, away0)
row("i1", lambda a: tg.special.i1(a * 10), UN)
row("i1e", lambda a: tg.special.i1e(a * 10), UN, away0)
row("sinc", lambda a: a.sinc(), UN)
row("sinc_fn", lambda a: tg.sinc(a * 3), UN)
row("entr", lambda a: tg.special.entr(a), UN, positive)
row("logit", lambda a: a.logit(), UN, lambda rng, s: rng.uniform(0.05, 0.95, s))
row("logit_eps", lambda a: tg.logit(a, eps=0.2), UN, lambda rng, s: rng.choice([0.1, 0.5, 0.9], s)
    + rng.uniform(-0.05, 0.05, s))
row("xlogy", lambda a, b: tg.xlogy(a, b), BIN, (normal, positive))
row("xlogy_method", lambda a, b: a.xlogy(b), BIN_SMALL, (normal, positive))
row("xlogy_scalar_self", lambda b: tg.xlogy(2.5, b), UN, positive)
row("xlogy_scalar_other", lambda a: tg.xlogy(a, 3.0), UN)
row("xlog1py", lambda a, b: tg.special.xlog1py(a, b), BIN, (normal, positive))
row("xlog1py_scalars", lambda a: tg.special.xlog1py(a, 0.5) + tg.special.xlog1py(1.5, a), UN, positive)
row("gammainc", lambda a, x: tg.special.gammainc(a, x), BIN_SMALL, positive, const=(0,))
row("gammaincc", lambda a, x: tg.special.gammaincc(a, x), BIN_SMALL, positive, const=(0,))


# -------------------------------- recurrent cells (issue 14)
# x (batch 2, in 3), hidden 2; weights (gates*2, 3) and (gates*2, 2), biases (gates*2,)
def _cell_shapes(gates, bias=True):
    return [((2, 3), (2, 2), (gates * 2, 3), (gates * 2, 2)) + (((gates * 2,), (gates * 2,)) if bias else ())]


row("rnn_tanh_cell", lambda x, h, wi, wh, bi, bh: tg.rnn_tanh_cell(x, h, wi, wh, bi, bh), _cell_shapes(1))
row("rnn_tanh_cell_nobias", lambda x, h, wi, wh: tg.rnn_tanh_cell(x, h, wi, wh), _cell_shapes(1, False))
row("rnn_relu_cell", lambda x, h, wi, wh, bi, bh: tg.rnn_relu_cell(x, h, wi, wh, bi, bh), _cell_shapes(1))
row("lstm_cell", lambda x, h, c, wi, wh, bi, bh: tg.lstm_cell(x, (h, c), wi, wh, bi, bh),
    [((2, 3), (2, 2), (2, 2), (8, 3), (8, 2), (8,), (8,))])
row("lstm_cell_c_only", lambda x, h, c, wi, wh: tg.lstm_cell(x, (h, c), wi, wh)[1],
    [((2, 3), (2, 2), (2, 2), (8, 3), (8, 2))])
row("lstm_cell_const_x", lambda x, h, c, wi, wh: tg.lstm_cell(x, (h, c), wi, wh)[0],
    [((2, 3), (2, 2), (2, 2), (8, 3), (8, 2))], const=(0,))
row("gru_cell", lambda x, h, wi, wh, bi, bh: tg.gru_cell(x, h, wi, wh, bi, bh), _cell_shapes(3))
row("gru_cell_nobias", lambda x, h, wi, wh: tg.gru_cell(x, h, wi, wh), _cell_shapes(3, False))


# -------------------------------- attention (issue 14)


# -------------------------------- interpolate, unfold/fold, conv3d and friends (issue 14)


# =========================================================================== parametrization
def _case_id(r, shapes):
    return f"{r.name}-" + "x".join(str(list(s)).replace(" ", "") for s in shapes) + \
        "".join(f"-const{k}" for k in r.const)


CASES = [pytest.param(r, shapes, id=_case_id(r, shapes)) for r in ROWS for shapes in r.shapes]


def _inputs(r, shapes):
    rng = np.random.default_rng(zlib.crc32(_case_id(r, shapes).encode()))
    doms = r.domain if isinstance(r.domain, tuple) else (r.domain,) * len(shapes)
    assert len(doms) == len(shapes), r.name
    out = []
    for k, (shape, dom) in enumerate(zip(shapes, doms, strict=True)):
        arr = np.array(dom(rng, shape), dtype=np.float64, order="C").reshape(shape)
        assert arr.shape == shape and arr.flags.c_contiguous
        assert arr.size <= 64
        out.append(tg.tensor(arr, dtype=tg.float64, requires_grad=k not in r.const))
    return tuple(out)


@pytest.mark.parametrize("r, shapes", CASES)
def test_gradcheck(r, shapes):
    inputs = _inputs(r, shapes)
    assert gradcheck(r.fn, inputs)


@pytest.mark.parametrize("r, shapes", CASES)
def test_gradgradcheck(r, shapes):
    inputs = _inputs(r, shapes)
    assert gradgradcheck(r.fn, inputs)


def test_table_covers_required_ops():
    """Guard against rows being dropped: the op names the table must cover."""
    names = {r.name for r in ROWS}
    required = [
        "add", "sub", "mul", "div", "pow_scalar_2", "pow_tensor", "rpow_scalar", "matmul_op", "neg",
        "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid",
        "relu", "leaky_relu", "gelu", "gelu_tanh", "silu", "softplus", "clamp_scalar", "clamp_tensor",
        "clip_scalar", "clip_tensor", "maximum", "minimum", "where", "sign", "sum", "mean", "prod",
        "max_full", "min_full", "max_dim", "min_dim", "amax", "amin", "var", "std", "norm_p1", "norm",
        "norm_pinf", "norm_p3", "logsumexp_dim", "softmax", "log_softmax", "cumsum", "reshape", "view",
        "flatten", "unflatten", "squeeze", "unsqueeze", "transpose", "permute", "t", "T", "expand",
        "expand_as", "broadcast_to", "repeat", "contiguous", "cat", "stack", "split", "chunk", "flip",
        "roll", "narrow", "getitem_int", "getitem_slice_step", "getitem_ellipsis", "getitem_none",
        "getitem_bool_mask", "getitem_index_repeated", "setitem_int", "gather", "scatter_add",
        "index_select", "masked_fill", "mm", "bmm", "dot", "outer", "einsum_mm", "inplace_add_mul_exp",
        "clone", "to_float64", "sum_to", "split_partial", "chunk_partial", "unbind_partial", "unbind",
    ]
    missing = [n for n in required if n not in names]
    assert not missing, missing
    assert len(CASES) > 300


# =========================================================================== negative tests
class _WrongScale(Function):
    """``2 x`` whose backward claims ``3 g``: off by a factor 1.5."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 3


class _WrongSquareSecondOrder(Function):
    """``x ** 2`` whose backward is right to first order but detaches ``x``:
    the second derivative it reports is 0 instead of 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x.detach()


class _RightSquare(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x


class _WrongSecondInput(Function):
    """``a * b`` with the gradient of ``b`` off by a factor 2 (the first input is right)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * a * 2


def _x(shape=(2, 3), seed=0):
    rng = np.random.default_rng(seed)
    return tg.tensor(rng.standard_normal(shape), dtype=tg.float64, requires_grad=True)


def test_gradcheck_catches_wrong_backward():
    x = _x()
    with pytest.raises(GradcheckError):
        gradcheck(_WrongScale.apply, (x,))
    with pytest.raises(RuntimeError):  # GradcheckError is a RuntimeError, as in torch
        gradcheck(_WrongScale.apply, (x,))
    assert gradcheck(_WrongScale.apply, (x,), raise_exception=False) is False


def test_gradcheck_catches_wrong_backward_of_one_input():
    a, b = _x(seed=1), _x(seed=2)
    with pytest.raises(GradcheckError):
        gradcheck(_WrongSecondInput.apply, (a, b))
    assert gradcheck(_WrongSecondInput.apply, (a, b), raise_exception=False) is False
    # only the first input differentiated: the wrong gradient of b is not looked at
    assert gradcheck(_WrongSecondInput.apply, (a, b.detach()))


def test_gradcheck_catches_wrong_backward_inside_a_graph():
    x = _x(seed=3)
    f = lambda t: (_WrongScale.apply(t.exp()) * t).sum(0)  # noqa: E731
    with pytest.raises(GradcheckError):
        gradcheck(f, (x,))
    assert gradcheck(f, (x,), raise_exception=False) is False


def test_gradgradcheck_catches_wrong_second_derivative():
    x = _x(seed=4)
    assert gradcheck(_WrongSquareSecondOrder.apply, (x,))  # first order is right
    with pytest.raises(GradcheckError):
        gradgradcheck(_WrongSquareSecondOrder.apply, (x,))
    assert gradgradcheck(_WrongSquareSecondOrder.apply, (x,), raise_exception=False) is False


def test_correct_custom_function_passes():
    x = _x(seed=6)
    assert gradcheck(_RightSquare.apply, (x,))
    assert gradgradcheck(_RightSquare.apply, (x,))


def test_gradcheck_rejects_small_error_beyond_tolerance():
    """An error of 1% is beyond rtol=1e-3 and must be caught; 0.01% must pass."""

    def scaled(factor):
        class _Scaled(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * (2 * factor)
        return _Scaled

    x = _x(seed=7) + 1.0
    x = x.detach().requires_grad_()
    assert gradcheck(scaled(1.01).apply, (x,), raise_exception=False) is False
    assert gradcheck(scaled(1.0001).apply, (x,), raise_exception=False) is True


# =========================================================================== in-place version checks
# An in-place op whose backward needs the old value of ``self`` keeps a copy of it (PyTorch's
# original self), so ``y.pow_(2)``, ``y.mul_(z)``, ``y.sin_()`` on non-leaves are differentiable
# (covered by the table). Values saved by *other* nodes, or ``self`` passed again as another
# argument, are not kept: backward must refuse them, as PyTorch does.
def _saved_by_other_node(x):
    a = x * 1
    b = a.sin()
    a.mul_(2)
    return b


def _output_saved_by_exp(x):
    y = x.exp()
    y.pow_(2)
    return y


def _self_as_other_argument(x):
    y = x * 1
    y.pow_(2)
    y.mul_(y)
    return y


def _self_as_other_argument_on_view(x):
    y = x * 1
    v = y[1:]
    v.mul_(v)
    return y


@pytest.mark.parametrize("fn", [_saved_by_other_node, _output_saved_by_exp, _self_as_other_argument,
                                _self_as_other_argument_on_view])
def test_inplace_overwriting_a_saved_value_is_refused(fn):
    x = tg.tensor([0.5, 1.5, 2.0], dtype=tg.float64, requires_grad=True)
    y = fn(x)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_ldexp_gradient_with_negative_integer_exponents():
    """Where torch's gradient is 0 (docs/porting.md), ours is the derivative of the value."""
    x = tg.tensor([1.0, 3.0, -2.0], dtype=tg.float64, requires_grad=True)
    e = tg.tensor([-2, -1, 3])
    y = tg.ldexp(x, e)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.25, 0.5, 8.0])
    np.testing.assert_array_equal(y.detach().numpy(), [0.25, 1.5, -16.0])
    assert tg.autograd.gradcheck(lambda t: tg.ldexp(t, e), (x,))

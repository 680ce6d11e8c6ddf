"""tapegrad.func against torch.func: the same values for the same transforms and nestings.

Each case is ``case(lib, F, fn) -> tensor or pytree of tensors`` where ``lib`` is ``torch``
or ``tapegrad``, ``F`` its ``nn.functional`` and ``fn`` its ``func`` module; it is run with
each library on the same float64 data and the results compared.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.func as tfunc  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import tapegrad  # noqa: E402
import tapegrad.func as gfunc  # noqa: E402
import tapegrad.nn.functional as GF  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 3))
V = RNG.standard_normal(3)
W = RNG.standard_normal((3, 5))
M = RNG.standard_normal((2, 4, 3))
Y = RNG.integers(0, 5, 4)
YF = RNG.standard_normal((4, 5))


def _t(lib, a):
    return lib.tensor(np.asarray(a))


CASES = {
    "grad": lambda L, F, fn: fn.grad(lambda x: (L.sin(x) * x).sum())(_t(L, V)),
    "grad_grad": lambda L, F, fn: fn.grad(fn.grad(lambda x: x ** 3 * L.exp(x)))(_t(L, 0.7)),
    "grad_argnums": lambda L, F, fn: fn.grad(lambda x, w: (x @ w).tanh().sum(),
                                             argnums=(0, 1))(_t(L, X), _t(L, W)),
    "grad_and_value": lambda L, F, fn: fn.grad_and_value(lambda x: x.norm())(_t(L, V)),
    "grad_aux": lambda L, F, fn: fn.grad(lambda x: (x.sum() ** 2, x * 2), has_aux=True)(_t(L, V)),
    "vjp": lambda L, F, fn: fn.vjp(lambda x: L.softmax(x, 0), _t(L, V))[1](_t(L, V[::-1].copy())),
    "jvp": lambda L, F, fn: fn.jvp(lambda x: L.cumsum(x * x, 0), (_t(L, V),), (_t(L, V * 2),)),
    "jacrev": lambda L, F, fn: fn.jacrev(lambda x: L.tanh(x @ _t(L, W)))(_t(L, V)),
    "jacfwd": lambda L, F, fn: fn.jacfwd(lambda x: L.tanh(x @ _t(L, W)))(_t(L, V)),
    "jacrev_argnums": lambda L, F, fn: fn.jacrev(lambda x, w: x @ w, argnums=(0, 1))(
        _t(L, V), _t(L, W)),
    "hessian": lambda L, F, fn: fn.hessian(lambda x: (L.sin(x) * x.exp()).sum())(_t(L, V)),
    "hessian_logsumexp": lambda L, F, fn: fn.hessian(lambda x: L.logsumexp(x, 0))(_t(L, V)),
    "jacrev_jacrev": lambda L, F, fn: fn.jacrev(fn.jacrev(lambda x: x.prod()))(_t(L, V)),
    "vmap_sum": lambda L, F, fn: fn.vmap(lambda r: (r * r).sum())(_t(L, X)),
    "vmap_in_dims": lambda L, F, fn: fn.vmap(lambda c, w: c @ w, in_dims=(1, None))(
        _t(L, X.T.copy()), _t(L, W)),
    "vmap_out_dims": lambda L, F, fn: fn.vmap(lambda r: L.outer(r, r), out_dims=2)(_t(L, X)),
    "vmap_nested": lambda L, F, fn: fn.vmap(fn.vmap(lambda a, b: a * b + 1, (None, 0)),
                                            (0, None))(_t(L, V), _t(L, V * 3)),
    "vmap_softmax_matmul": lambda L, F, fn: fn.vmap(
        lambda m: L.softmax(m @ m.transpose(0, 1), dim=-1))(_t(L, M)),
    "vmap_reductions": lambda L, F, fn: fn.vmap(
        lambda m: (m.mean(0), m.amax(-1), m.var(1), m.std(), m.max(dim=1).values))(_t(L, M)),
    "vmap_shapes": lambda L, F, fn: fn.vmap(
        lambda m: L.cat([m.reshape(3, 4), m.t().flip(0)], 0).unsqueeze(1).squeeze())(_t(L, M)),
    "vmap_grad": lambda L, F, fn: fn.vmap(fn.grad(lambda r: L.sigmoid(r).prod()))(_t(L, X)),
    "vmap_jacrev": lambda L, F, fn: fn.vmap(fn.jacrev(lambda r: L.sin(r) * r.sum()))(_t(L, X)),
    "vmap_hessian": lambda L, F, fn: fn.vmap(fn.hessian(lambda r: (r ** 3).sum()))(_t(L, X)),
    "grad_of_vmap": lambda L, F, fn: fn.grad(
        lambda w: fn.vmap(lambda r: (r @ w).tanh().sum())(_t(L, X)).sum())(_t(L, W)),
    "vmap_cross_entropy": lambda L, F, fn: fn.vmap(
        lambda r, y: F.cross_entropy(r @ _t(L, W), y))(_t(L, X), _t(L, Y)),
    "vmap_mse": lambda L, F, fn: fn.vmap(lambda r, y: F.mse_loss(r, y))(_t(L, X), _t(L, X[::-1].copy())),
    # ops without a batching rule run through the loop fallback, as torch.func's do
    "vmap_fallback_take": lambda L, F, fn: fn.vmap(lambda a: L.take(a, _t(L, [0, 5, 2])))(_t(L, M)),
    "vmap_fallback_nested": lambda L, F, fn: fn.vmap(fn.vmap(
        lambda a: L.take(a, _t(L, [2, 0])), in_dims=1))(_t(L, M)),
    "vmap_fallback_unbatched_arg": lambda L, F, fn: fn.vmap(
        lambda a, b: L.take(a * b, _t(L, [1, 2])), in_dims=(0, None))(_t(L, X), _t(L, V)),
    "vmap_fallback_named_tuple": lambda L, F, fn: tuple(fn.vmap(lambda a: L.aminmax(a, dim=0))(_t(L, M))),
    "vmap_fallback_under_grad": lambda L, F, fn: fn.vmap(fn.grad(
        lambda a: L.take(a, _t(L, [0, 2])).sin().sum()))(_t(L, X)),
    # methods whose signature differs from their function's, and methods with no rule
    "vmap_method_where": lambda L, F, fn: fn.vmap(lambda a: a.where(a > 0, 0.0))(_t(L, X)),
    "vmap_method_polygamma": lambda L, F, fn: fn.vmap(lambda a: (a.abs() + 0.5).polygamma(2))(_t(L, X)),
    "vmap_method_kron": lambda L, F, fn: fn.vmap(lambda a: a.kron(a))(_t(L, M)),
    "vmap_method_det": lambda L, F, fn: fn.vmap(lambda a: a[:, :2].t().matmul(a[:, :2]).det())(_t(L, M)),
}


def _params(L, nn):
    L.manual_seed(0)
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 5)).double()
    params = {k: _t(L, rng.standard_normal(tuple(v.shape))) for k, v in model.named_parameters()}
    return model, params


def _per_sample(L, F, fn, loss):
    nn = L.nn
    model, params = _params(L, nn)

    def loss_fn(p, x, y):
        out = fn.functional_call(model, p, (x.unsqueeze(0),))
        if loss == "ce":
            return F.cross_entropy(out, y.unsqueeze(0))
        return F.mse_loss(out, y.unsqueeze(0))
    y = _t(L, Y) if loss == "ce" else _t(L, YF)
    return fn.vmap(fn.grad(loss_fn), in_dims=(None, 0, 0))(params, _t(L, X), y)


CASES["per_sample_ce"] = lambda L, F, fn: _per_sample(L, F, fn, "ce")
CASES["per_sample_mse"] = lambda L, F, fn: _per_sample(L, F, fn, "mse")
CASES["functional_call"] = lambda L, F, fn: fn.functional_call(
    _params(L, L.nn)[0], _params(L, L.nn)[1], (_t(L, X),))


def _flat(out):
    if isinstance(out, dict):
        return [x for k in sorted(out) for x in _flat(out[k])]
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in _flat(o)]
    return [out]


@pytest.mark.parametrize("name", sorted(CASES))
def test_func_parity(name):
    case = CASES[name]
    ref = _flat(case(torch, TF, tfunc))
    got = _flat(case(tapegrad, GF, gfunc))
    assert len(ref) == len(got)
    for r, g in zip(ref, got, strict=True):
        assert isinstance(g, tapegrad.Tensor)
        assert tuple(g.shape) == tuple(r.shape), name
        np.testing.assert_allclose(g.detach().numpy(), r.detach().numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=name)


def test_error_messages_match_torch():
    def msg(fn, *a):
        try:
            fn(*a)
        except Exception as e:  # noqa: BLE001
            return type(e).__name__, str(e).split(":")[0]
        return None
    x_t, x_g = torch.ones(3), tapegrad.ones(3)
    f = lambda a, b: a + b  # noqa: E731
    rt = msg(tfunc.vmap(f, in_dims=(0,)), x_t, x_t)
    rg = msg(gfunc.vmap(f, in_dims=(0,)), x_g, x_g)
    assert rt[0] == rg[0] == "ValueError"
    assert "in_dims is not compatible with the structure of `inputs`" in str(
        pytest.raises(ValueError, gfunc.vmap(f, in_dims=(0,)), x_g, x_g).value)
    rt = msg(tfunc.grad(lambda a: a * 2), x_t)
    rg = msg(gfunc.grad(lambda a: a * 2), x_g)
    assert rt == rg

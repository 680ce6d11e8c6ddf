"""The optimizers of issue 15 without PyTorch: first steps against their closed forms, schedules
(ASGD), sign logic (Rprop), L-BFGS on quadratics with known minima, state dicts through
``tapegrad.save``/``load``, maximize, pickling, hooks, and the refusals."""
from __future__ import annotations

import copy
import io
import math
import pickle

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as tnn
from tapegrad import optim

G = np.array([0.5, -2.0, 3.0, 1e-3])
X0 = np.array([1.0, -1.0, 0.25, 2.0])
FIRST_ORDER = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]


def _param(values=X0):
    return tnn.Parameter(tg.tensor(np.asarray(values, dtype=np.float64)))


def _one_step(name, grad=G, **kw):
    p = _param()
    opt = getattr(optim, name)([p], **kw)
    p.grad = tg.tensor(grad.copy())
    opt.step()
    return p.detach().numpy(), opt


# --------------------------------------------------------------------------- closed-form first steps
def test_adadelta_first_step():
    lr, rho, eps = 0.7, 0.8, 1e-4
    x, opt = _one_step("Adadelta", lr=lr, rho=rho, eps=eps)
    v = (1 - rho) * G * G
    dx = math.sqrt(eps) / np.sqrt(v + eps) * G
    np.testing.assert_allclose(x, X0 - lr * dx, rtol=1e-13)
    np.testing.assert_allclose(opt.state[opt.param_groups[0]["params"][0]]["acc_delta"].numpy(),
                               (1 - rho) * dx * dx, rtol=1e-13)


def test_adamax_first_step_is_a_sign_step():
    lr, eps = 0.01, 1e-8
    x, _ = _one_step("Adamax", lr=lr, eps=eps)
    np.testing.assert_allclose(x, X0 - lr * G / (np.abs(G) + eps), rtol=1e-13)


def test_nadam_first_step():
    lr, (b1, b2), psi, eps = 0.01, (0.9, 0.99), 0.004, 1e-8
    x, opt = _one_step("NAdam", lr=lr, betas=(b1, b2), momentum_decay=psi, eps=eps)
    mu1 = b1 * (1 - 0.5 * 0.96 ** psi)
    mu2 = b1 * (1 - 0.5 * 0.96 ** (2 * psi))
    m, v = (1 - b1) * G, (1 - b2) * G * G
    denom = np.sqrt(v / (1 - b2)) + eps
    expected = X0 - lr * ((1 - mu1) * G / (1 - mu1) + mu2 * m / (1 - mu1 * mu2)) / denom
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    state = opt.state[opt.param_groups[0]["params"][0]]
    assert list(state) == ["step", "mu_product", "exp_avg", "exp_avg_sq"]
    np.testing.assert_allclose(state["mu_product"].item(), mu1, rtol=1e-6)


def test_radam_warm_up_then_rectified():
    """rho_t <= 5 for the first steps (plain momentum SGD), then the rectified adaptive step."""
    lr, b1, b2 = 0.1, 0.9, 0.85      # rho_t passes 5 at t = 6
    p = _param()
    opt = optim.RAdam([p], lr=lr, betas=(b1, b2))
    m = np.zeros(4)
    v = np.zeros(4)
    x = X0.copy()
    rho_inf = 2 / (1 - b2) - 1
    used_rect = False
    for t in range(1, 9):
        p.grad = tg.tensor(G * t)
        opt.step()
        g = G * t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        m_hat = m / (1 - b1 ** t)
        if rho > 5:
            used_rect = True
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            x = x - lr * m_hat * r * math.sqrt(1 - b2 ** t) / (np.sqrt(v) + 1e-8)
        else:
            x = x - lr * m_hat
        np.testing.assert_allclose(p.detach().numpy(), x, rtol=1e-12)
    assert used_rect


def test_asgd_schedule_and_average():
    lr, lambd, alpha, t0 = 0.1, 0.5, 0.75, 2
    p = _param()
    opt = optim.ASGD([p], lr=lr, lambd=lambd, alpha=alpha, t0=t0)
    x, ax, eta, mu = X0.copy(), np.zeros(4), lr, 1.0
    for t in range(1, 7):
        p.grad = tg.tensor(G.copy())
        opt.step()
        x = x * (1 - lambd * eta) - eta * G
        ax = x.copy() if mu == 1 else ax + mu * (x - ax)
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)
        state = opt.state[p]
        # eta and mu are kept in float32 (the step counter's dtype), as PyTorch keeps them
        np.testing.assert_allclose(state["eta"].item(), eta, rtol=1e-6)
        np.testing.assert_allclose(state["mu"].item(), mu, rtol=1e-6)
        np.testing.assert_allclose(p.detach().numpy(), x, rtol=1e-5)
        np.testing.assert_allclose(state["ax"].numpy(), ax, rtol=1e-5)


def test_rprop_sign_logic():
    p = _param(np.zeros(3))
    opt = optim.Rprop([p], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.01, 0.3))
    steps = [([1.0, 1.0, 0.0], [-0.1, -0.1, 0.0]),      # first step: lr-sized moves, zero stays
             ([1.0, -1.0, 1.0], [-0.2, 0.0, -0.1]),     # agree: x2; flip: halve, skip; prev 0: keep
             ([1.0, 1.0, 1.0], [-0.3, -0.05, -0.2]),    # capped at 0.3; after a skip no shrink
             ([-5.0, 1.0, 1.0], [0.0, -0.1, -0.3])]     # flip skips again
    x = np.zeros(3)
    for grad, move in steps:
        p.grad = tg.tensor(np.array(grad))
        opt.step()
        x = x + np.array(move)
        np.testing.assert_allclose(p.detach().numpy(), x, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(opt.state[p]["step_size"].numpy(), [0.15, 0.1, 0.3])
    np.testing.assert_array_equal(opt.state[p]["prev"].numpy(), [0.0, 1.0, 1.0])


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_maximize_is_descent_on_the_negated_gradient(name):
    up, _ = _one_step(name, grad=G, maximize=True)
    down, _ = _one_step(name, grad=-G)
    np.testing.assert_array_equal(up, down)


@pytest.mark.parametrize("name", ["NAdam", "RAdam"])
def test_decoupled_weight_decay_shrinks_weights_first(name):
    lr, wd = 0.01, 0.5
    p, q = _param(), _param(X0 * (1 - lr * wd))
    opt = getattr(optim, name)([p], lr=lr, weight_decay=wd, decoupled_weight_decay=True)
    ref = getattr(optim, name)([q], lr=lr)
    for _ in range(3):
        p.grad, q.grad = tg.tensor(G.copy()), tg.tensor(G.copy())
        opt.step()
        ref.step()
        q.data = q.detach() * (1 - lr * wd)   # next step's decay, applied ahead for the reference
    np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy() / (1 - lr * wd), rtol=1e-12)


# --------------------------------------------------------------------------- L-BFGS
def _quadratic(n=6, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    return m @ m.T + n * np.eye(n), rng.standard_normal(n)


@pytest.mark.parametrize("kw", [dict(line_search_fn="strong_wolfe"), dict(lr=0.1, max_iter=100),
                                dict(line_search_fn="strong_wolfe", history_size=2, max_iter=50)])
def test_lbfgs_finds_the_minimum_of_a_quadratic(kw):
    a, b = _quadratic()
    x = _param(np.zeros(6))
    opt = optim.LBFGS([x], tolerance_grad=1e-10, tolerance_change=1e-14, **kw)
    A, bb = tg.tensor(a), tg.tensor(b)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x @ (A @ x)) - bb @ x
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), np.linalg.solve(a, b), rtol=1e-6, atol=1e-8)
    state = opt.state_dict()["state"][0]
    assert len(state["old_dirs"]) <= kw.get("history_size", 100)
    assert len(state["al"]) == kw.get("history_size", 100)


def test_lbfgs_counts_and_limits_evaluations():
    a, b = _quadratic(seed=1)
    x = _param(np.zeros(6))
    opt = optim.LBFGS([x], lr=0.05, max_iter=7, max_eval=4)
    calls = []
    A, bb = tg.tensor(a), tg.tensor(b)

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = 0.5 * (x @ (A @ x)) - bb @ x
        loss.backward()
        return loss

    first = opt.step(closure)
    assert first.item() == 0.0
    assert len(calls) == opt.state[x]["func_evals"] == 4
    assert opt.state[x]["n_iter"] == 3
    assert opt.defaults["max_eval"] == 4 and optim.LBFGS([x], max_iter=10).defaults["max_eval"] == 12


def test_lbfgs_spreads_a_flat_step_over_several_parameters():
    """Two parameters of different shapes (and one without a gradient) act as one vector."""
    a, b = _quadratic(n=5, seed=2)
    w, c, idle = _param(np.zeros(3)), tnn.Parameter(tg.zeros(2, 1, dtype=tg.float64)), _param(np.ones(2))
    opt = optim.LBFGS([w, idle, c], line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                      tolerance_change=1e-14)
    A, bb = tg.tensor(a), tg.tensor(b)

    def closure():
        opt.zero_grad()
        x = tg.cat([w, c.reshape(-1)])
        loss = 0.5 * (x @ (A @ x)) - bb @ x
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    got = np.concatenate([w.detach().numpy(), c.detach().numpy().reshape(-1)])
    np.testing.assert_allclose(got, np.linalg.solve(a, b), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(idle.detach().numpy(), [1.0, 1.0])
    assert list(opt.state) == [w]


def test_cubic_minimizer_on_an_exact_cubic():
    f = lambda x: (x - 1.0) ** 3 - 3 * (x - 1.0) + 2  # noqa: E731 - local minimum at x = 2
    df = lambda x: 3 * (x - 1.0) ** 2 - 3  # noqa: E731
    from tapegrad.optim.lbfgs import cubic_minimizer
    x = cubic_minimizer((1.5, f(1.5), df(1.5)), (3.0, f(3.0), df(3.0)))
    np.testing.assert_allclose(x, 2.0, rtol=1e-12)
    assert cubic_minimizer((1.5, f(1.5), df(1.5)), (3.0, f(3.0), df(3.0)), bounds=(2.5, 2.9)) == 2.5


# --------------------------------------------------------------------------- state, pickling, refusals
@pytest.mark.parametrize("name", FIRST_ORDER + ["LBFGS"])
def test_state_dict_through_a_file_continues_identically(name):
    a, b = _quadratic(n=4, seed=3)
    A, bb = tg.tensor(a), tg.tensor(b)

    def make(values):
        p = _param(values)
        kw = dict(lr=0.05) if name != "LBFGS" else dict(line_search_fn="strong_wolfe", max_iter=3)
        opt = getattr(optim, name)([p], **kw)

        def closure():
            opt.zero_grad()
            loss = 0.5 * (p @ (A @ p)) - bb @ p
            loss.backward()
            return loss
        return p, opt, closure

    p, opt, closure = make(X0)
    for _ in range(3):
        opt.step(closure)
    buf = io.BytesIO()
    tg.save(opt.state_dict(), buf)
    buf.seek(0)
    q, opt2, closure2 = make(p.detach().numpy().copy())
    opt2.load_state_dict(tg.load(buf))
    clone = copy.deepcopy(opt)
    pickled = pickle.loads(pickle.dumps(opt2))
    assert type(clone) is type(opt) and type(pickled) is type(opt)
    for _ in range(3):
        opt.step(closure)
        opt2.step(closure2)
    if name in ("NAdam", "ASGD"):
        # their 0-d float32 state (mu_product; eta, mu) is cast to the parameter's float64 on
        # loading, as PyTorch casts it, so the continued run rounds differently
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6)
        assert opt2.state[q]["step"].dtype == tg.float32
        assert all(opt2.state[q][k].dtype == tg.float64 for k in opt2.state[q] if k != "step")
    else:
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_differentiable_is_refused(name):
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([_param()], differentiable=True)


def test_step_hooks_run_around_lbfgs():
    p = _param()
    opt = optim.LBFGS([p])
    seen = []
    opt.register_step_pre_hook(lambda o, args, kwargs: seen.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: seen.append("post"))

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert seen == ["pre", "post"]


def test_sparse_adam_has_no_dense_path():
    p = _param()
    opt = optim.SparseAdam([p])
    assert opt.step() is None
    p.grad = tg.ones(4, dtype=tg.float64)
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        opt.step()
    np.testing.assert_array_equal(p.detach().numpy(), X0)

"""tapegrad.func: grad / vjp / jvp / jacrev / jacfwd / hessian / functional_call / vmap.

Checked against finite differences and against each other (no torch needed here; the torch
comparison lives in tests/parity/test_func_parity.py)."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad as torch
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.func import (functional_call, grad, grad_and_value, hessian, jacfwd, jacrev, jvp,
                           vjp, vmap)


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def rnd(*shape, seed=0):
    return t64(np.random.default_rng(seed).standard_normal(shape))


def close(a, b, tol=1e-8):
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def fd_jac(f, x, eps=1e-6):
    """Central finite-difference Jacobian of f at x: shape f(x).shape + x.shape."""
    x0 = x.detach().numpy().astype(np.float64)
    y0 = np.asarray(f(t64(x0)).detach().numpy())
    jac = np.zeros(y0.shape + x0.shape)
    for idx in np.ndindex(*x0.shape):
        xp, xm = x0.copy(), x0.copy()
        xp[idx] += eps
        xm[idx] -= eps
        d = (f(t64(xp)).detach().numpy() - f(t64(xm)).detach().numpy()) / (2 * eps)
        jac[(Ellipsis,) + idx] = d
    return jac


SCALAR_FNS = [
    lambda x: (x ** 3).sum(),
    lambda x: torch.sin(x).mean() * x.norm(),
    lambda x: torch.logsumexp(x, 0),
    lambda x: (x.exp() / (1 + x * x)).prod(),
    lambda x: F.softplus(x).sum() + torch.tanh(x).pow(2).sum(),
]

VECTOR_FNS = [
    lambda x: torch.sin(x) * x,
    lambda x: torch.softmax(x, 0),
    lambda x: torch.cumsum(x * x, 0),
    lambda x: torch.stack([x.sum(), (x ** 2).sum(), x[0] * x[-1]]),
]


# ----------------------------------------------------------------------------- vs finite diffs
@pytest.mark.parametrize("f", SCALAR_FNS)
def test_grad_vs_fd(f):
    x = rnd(4)
    close(grad(f)(x), fd_jac(f, x), 1e-6)


@pytest.mark.parametrize("f", VECTOR_FNS)
def test_jacrev_jacfwd_vs_fd(f):
    x = rnd(4, seed=1)
    ref = fd_jac(f, x)
    close(jacrev(f)(x), ref, 1e-6)
    close(jacfwd(f)(x), ref, 1e-6)


@pytest.mark.parametrize("f", SCALAR_FNS[:4])
def test_hessian_vs_fd_and_jacobian_of_grad(f):
    x = rnd(3, seed=2)
    h = hessian(f)(x)
    close(h, fd_jac(grad(f), x), 1e-5)
    close(h, jacrev(grad(f))(x), 1e-9)
    close(h, jacrev(jacrev(f))(x), 1e-9)
    close(h, h.T, 1e-9)


def test_grad_of_grad_and_third_derivative():
    x = t64(1.5)
    f = lambda x: x ** 4  # noqa: E731
    close(grad(f)(x), 4 * 1.5 ** 3)
    close(grad(grad(f))(x), 12 * 1.5 ** 2)
    close(grad(grad(grad(f)))(x), 24 * 1.5)


def test_grad_argnums_has_aux_and_value():
    x, y = rnd(3), rnd(3, seed=1)
    f = lambda x, y: ((x * y).sum(), x + y)  # noqa: E731
    (gx, gy), aux = grad(f, argnums=(0, 1), has_aux=True)(x, y)
    close(gx, y)
    close(gy, x)
    close(aux, x + y)
    g, v = grad_and_value(lambda x: (x * x).sum())(x)
    close(g, 2 * x)
    close(v, (x * x).sum())
    gy2 = grad(lambda x, y: (x * y * y).sum(), argnums=1)(x, y)
    close(gy2, 2 * x * y)
    assert not gy2.requires_grad


def test_grad_dict_input_and_unused():
    p = {"a": rnd(2), "b": rnd(3, seed=1), "c": rnd(1, seed=2)}
    g = grad(lambda p: (p["a"] ** 2).sum() + p["b"].sum())(p)
    assert set(g) == {"a", "b", "c"}
    close(g["a"], 2 * p["a"])
    close(g["b"], torch.ones(3, dtype=torch.float64))
    close(g["c"], torch.zeros(1, dtype=torch.float64))


def test_grad_no_perturbation_confusion():
    # d/dx [ x * d/dy (x * y) ] = d/dx [x * x] = 2x
    x = t64(3.0)
    close(grad(lambda x: x * grad(lambda y: x * y)(x))(x), 6.0)


def test_grad_composes_with_backward():
    x = rnd(3).requires_grad_()
    g = grad(lambda x: (x ** 3).sum())(x)
    g.sum().backward()
    close(x.grad, 6 * x.detach())


# ----------------------------------------------------------------------------- vjp / jvp
def test_vjp_and_jvp():
    x = rnd(4)
    f = VECTOR_FNS[0]
    J = fd_jac(f, x)
    out, vjp_fn = vjp(f, x)
    close(out, f(x))
    u = rnd(4, seed=3)
    (g,) = vjp_fn(u)
    close(g, u.numpy() @ J, 1e-6)
    v = rnd(4, seed=4)
    o, jv = jvp(f, (x,), (v,))
    close(o, f(x))
    close(jv, J @ v.numpy(), 1e-6)


def test_vjp_multiple_inputs_outputs_and_aux():
    x, y = rnd(3), rnd(3, seed=1)
    out, fn, aux = vjp(lambda x, y: ((x * y, x + y), x.sum()), x, y, has_aux=True)
    gx, gy = fn((torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)))
    close(gx, y + 1)
    close(gy, x + 1)
    close(aux, x.sum())


def test_jacrev_multiple_argnums_and_outputs():
    x, y = rnd(2), rnd(3, seed=1)
    f = lambda x, y: (torch.outer(x, y), x.sum() * y)  # noqa: E731
    jr = jacrev(f, argnums=(0, 1))(x, y)
    jf = jacfwd(f, argnums=(0, 1))(x, y)
    assert tuple(jr[0][0].shape) == (2, 3, 2) and tuple(jr[0][1].shape) == (2, 3, 3)
    assert tuple(jr[1][0].shape) == (3, 2) and tuple(jr[1][1].shape) == (3, 3)
    for a, b in zip(jr, jf, strict=True):
        for p, q in zip(a, b, strict=True):
            close(p, q)
    close(jr[0][0], fd_jac(lambda x: f(x, y)[0], x), 1e-6)


# ----------------------------------------------------------------------------- vmap
VMAP_FNS = [
    (lambda v: (v * v).sum(), (5, 3)),
    (lambda v: torch.softmax(v, -1), (4, 6)),
    (lambda v: v.reshape(2, 3).t() @ v.reshape(2, 3), (4, 6)),
    (lambda v: v.unsqueeze(0).expand(2, 3).sum(0) + v.flip(0), (4, 3)),
    (lambda m: m.transpose(0, 1).mean(dim=1, keepdim=True), (3, 4, 2)),
    (lambda m: torch.cat([m, m * 2], dim=1).max(dim=0).values, (3, 4, 2)),
    (lambda m: m[1:, ::2].flatten() ** 2, (3, 4, 5)),
    (lambda m: torch.matmul(m, m.mT).diagonal() if hasattr(m, "diagonal") and False
     else torch.matmul(m, m.mT), (3, 4, 5)),
    (lambda v: torch.einsum("i,j->ij", v, v), (3, 4)),
    (lambda v: torch.where(v > 0, v, -v).argmax(), (5, 4)),
    (lambda v: torch.stack(v.split(2), 1).var(), (3, 4)),
    (lambda v: F.log_softmax(v.view(2, -1), dim=1).squeeze(), (2, 6)),
]


@pytest.mark.parametrize("f,shape", VMAP_FNS)
def test_vmap_matches_stack_of_calls(f, shape):
    x = rnd(*shape)
    ref = torch.stack([f(x[i]) for i in range(shape[0])])
    close(vmap(f)(x), ref)


def test_vmap_in_dims_out_dims_and_unbatched_args():
    x, w = rnd(3, 5), rnd(3, 4, seed=1)
    out = vmap(lambda a, b: a @ b, in_dims=(1, None))(x, w)  # batch of 5 over x's dim 1
    close(out, torch.stack([x[:, i] @ w for i in range(5)]))
    assert tuple(vmap(lambda a: a * 2, out_dims=1)(x).shape) == (5, 3)
    r = vmap(lambda a, s: (a.sum(), s), in_dims=(0, None), out_dims=(0, None))(x, rnd(2))
    assert tuple(r[0].shape) == (3,) and tuple(r[1].shape) == (2,)
    b = vmap(lambda a: torch.ones(2, dtype=torch.float64))(x)  # unbatched output is expanded
    assert tuple(b.shape) == (3, 2)
    d = vmap(lambda d: d["a"] + d["b"], in_dims=({"a": 0, "b": None},))({"a": x, "b": rnd(5)})
    close(d, x + rnd(5))


def test_vmap_nested_and_outer_product():
    x, y = rnd(3), rnd(4, seed=1)
    close(vmap(vmap(torch.mul, (None, 0)), (0, None))(x, y), torch.outer(x, y))
    m = rnd(2, 3, 4)
    close(vmap(vmap(lambda v: (v * v).sum()))(m), (m * m).sum(-1))
    close(vmap(vmap(lambda v: v.sum(), in_dims=1))(m), m.sum(1))


def test_vmap_chunk_size_and_randomness():
    x = rnd(7, 3)
    close(vmap(lambda v: v.exp().sum(), chunk_size=3)(x), x.exp().sum(1))
    with pytest.raises(RuntimeError, match="randomness"):
        vmap(lambda v: torch.rand_like(v))(x)
    same = vmap(lambda v: torch.randn_like(v), randomness="same")(x)
    close(same, same[0].expand(7, 3))
    diff = vmap(lambda v: torch.randn_like(v), randomness="different")(x)
    assert not np.allclose(diff[0].numpy(), diff[1].numpy())


def test_vmap_jacobian_and_grad_compose():
    x = rnd(5, 3)
    f = lambda v: (torch.sin(v) * v).sum()  # noqa: E731
    g = vmap(grad(f))(x)
    close(g, torch.stack([grad(f)(x[i]) for i in range(5)]))
    j = vmap(jacrev(torch.sin))(x)
    close(j, torch.stack([jacrev(torch.sin)(x[i]) for i in range(5)]))
    h = vmap(hessian(f))(x)
    close(h, torch.stack([hessian(f)(x[i]) for i in range(5)]))
    # grad of a function that contains a vmap
    gv = grad(lambda w: vmap(lambda r: (r @ w).tanh())(x).sum())(rnd(3, seed=5))
    close(gv, fd_jac(lambda w: (x @ w).tanh().sum(), rnd(3, seed=5)), 1e-6)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_per_sample_gradients_match_loop(loss):
    model = _mlp().double()
    params = {k: v.detach() for k, v in model.named_parameters()}
    x = rnd(10, 6)
    y = torch.randint(0, 3, (10,)) if loss == "ce" else rnd(10, 3, seed=1)

    def loss_fn(p, xi, yi):
        out = functional_call(model, p, (xi.unsqueeze(0),))
        if loss == "ce":
            return F.cross_entropy(out, yi.unsqueeze(0))
        return F.mse_loss(out, yi.unsqueeze(0))

    g = vmap(grad(loss_fn), in_dims=(None, 0, 0))(params, x, y)
    for k, p in params.items():
        ref = torch.stack([grad(loss_fn)(params, x[i], y[i])[k] for i in range(10)])
        assert tuple(g[k].shape) == (10,) + tuple(p.shape)
        close(g[k], ref, 1e-10)
    # the mean of per-sample grads is the batch grad
    full = grad(lambda p: F.cross_entropy(functional_call(model, p, (x,)), y) if loss == "ce"
                else F.mse_loss(functional_call(model, p, (x,)), y))(params)
    for k in params:
        close(g[k].mean(0), full[k], 1e-10)
    # the module is restored
    assert all(a is b for a, b in zip(model.parameters(), [dict(model.named_parameters())[k]
                                                          for k in params], strict=True))


def test_functional_call_restores_on_error_and_ties():
    lin = nn.Linear(3, 2)
    w0 = lin.weight
    with pytest.raises(RuntimeError):
        functional_call(lin, {"weight": torch.zeros(2, 5)}, (torch.ones(1, 3),))
    assert lin.weight is w0
    out = functional_call(lin, {"weight": torch.zeros(2, 3), "bias": torch.ones(2)},
                          torch.ones(4, 3))
    close(out, torch.ones(4, 2))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        functional_call(lin, {"nope": torch.zeros(1)}, (torch.ones(1, 3),), strict=True)

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, bias=False)
            self.b = nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    m = Tied()
    out = functional_call(m, {"a.weight": 2 * torch.eye(2)}, (torch.ones(1, 2),))
    close(out, 4 * torch.ones(1, 2))  # b.weight follows a.weight


# ----------------------------------------------------------------------------- errors
def test_errors():
    x = rnd(3)
    with pytest.raises(RuntimeError, match="scalar Tensor"):
        grad(lambda x: x * 2)(x)
    with pytest.raises(RuntimeError, match="return a Tensor"):
        grad(lambda x: 1.0)(x)
    with pytest.raises(RuntimeError, match=r"\(output, aux\)"):
        grad(lambda x: x.sum(), has_aux=True)(x)
    with pytest.raises(RuntimeError, match="argnum"):
        grad(lambda x: x.sum(), argnums=3)(x)
    with pytest.raises(ValueError, match="in_dims is not compatible with the structure of `inputs`"):
        vmap(lambda a, b: a + b, in_dims=(0,))(x, x)
    with pytest.raises(ValueError, match="must only return Tensors"):
        vmap(lambda a: 1.0)(x)
    with pytest.raises(ValueError, match="same size in the mapped dimension"):
        vmap(torch.add)(rnd(3), rnd(4))
    with pytest.raises(ValueError, match="non-Tensor"):
        vmap(lambda a, b: a, in_dims=(0, 0))(x, 1.0)
    with pytest.raises(ValueError, match="dimensionality"):
        vmap(lambda a: a, in_dims=2)(x)
    with pytest.raises(RuntimeError, match=r"\.item\(\)"):
        vmap(lambda a: a.item())(x)
    with pytest.raises(RuntimeError, match="data-dependent control"):
        vmap(lambda a: a if a > 0 else -a)(x)
    with pytest.raises(NotImplementedError, match="no batching rule"):
        vmap(lambda a: a.masked_select(a > 0))(rnd(3, 2))
    with pytest.raises(RuntimeError, match="randomness"):
        vmap(lambda a: a, randomness="bad")


def test_vmap_restores_namespace():
    before = torch.sum
    vmap(lambda a: torch.sum(a))(rnd(2, 3))
    assert torch.sum is before
    with pytest.raises(ValueError):
        vmap(lambda a: 1.0)(rnd(2))
    assert torch.sum is before and F.linear.__name__ == "linear"


def test_per_sample_unbatched_input_rank1_and_second_order():
    model = _mlp().double()
    params = {k: v.detach() for k, v in model.named_parameters()}
    x, y = rnd(5, 6), torch.randint(0, 3, (5,))

    def loss_fn(p, xi, yi):  # a single sample, no batch dim: logits (3,), target ()
        return F.cross_entropy(functional_call(model, p, (xi,)), yi)

    g = vmap(grad(loss_fn), in_dims=(None, 0, 0))(params, x, y)
    for k in params:
        close(g[k], torch.stack([grad(loss_fn)(params, x[i], y[i])[k] for i in range(5)]), 1e-10)
    # second order inside vmap takes the general (differentiable) batching path
    w = params["4.weight"]

    def last_layer_loss(w, xi, yi):
        return loss_fn({**params, "4.weight": w}, xi, yi)

    h = vmap(hessian(last_layer_loss), in_dims=(None, 0, 0))(w, x, y)
    ref = torch.stack([hessian(last_layer_loss)(w, x[i], y[i]) for i in range(5)])
    assert tuple(h.shape) == (5,) + tuple(w.shape) * 2
    close(h, ref, 1e-9)
    gg = vmap(grad(lambda w, xi, yi: grad(last_layer_loss)(w, xi, yi).pow(2).sum()),
              in_dims=(None, 0, 0))(w, x, y)
    close(gg, torch.stack([grad(lambda w, i=i: grad(last_layer_loss)(w, x[i], y[i]).pow(2).sum())(w)
                           for i in range(5)]), 1e-9)


def test_vmap_model_ensemble_inplace_and_queries():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    ps = [{k: torch.randn(*v.shape) for k, v in m.named_parameters()} for _ in range(5)]
    stacked = {k: torch.stack([p[k] for p in ps]) for k in ps[0]}
    x = torch.randn(7, 3)
    out = vmap(lambda p, x: functional_call(m, p, (x,)), in_dims=(0, None))(stacked, x)
    close(out, torch.stack([functional_call(m, p, (x,)) for p in ps]), 1e-6)

    def f(v):
        y = v * 1
        y.add_(1)
        y *= 2
        return y.new_zeros(v.shape[0]) + v.size(-1) + len(v) + y[None, :2].sum() + \
            torch.stack([v, y]).mean(0)[-1]
    xs = rnd(4, 5)
    close(vmap(f)(xs), torch.stack([f(r) for r in xs]))
    with pytest.raises((RuntimeError, NotImplementedError), match="vmap"):  # unbatched self
        vmap(lambda a, b: b.add_(a), in_dims=(0, None))(xs, rnd(5))


# ----------------------------------------------------------------------------- dispatch point
@pytest.mark.parametrize("op", ["*", "+", "-", "/", "**"])
def test_vmap_python_number_on_the_left(op):
    x = rnd(4, 3).abs() + 0.5
    f = eval(f"lambda v: 2.0 {op} v")  # noqa: S307 - a fixed operator
    out = vmap(f)(x)
    assert type(out) is torch.Tensor
    np.testing.assert_allclose(out.numpy(), f(x).numpy(), rtol=1e-12)
    g = vmap(grad(lambda v: f(v).sum()))(x)  # the reflected op stays differentiable
    assert g.shape == x.shape


def test_vmap_leaves_the_public_functions_alone():
    seen = []

    def f(v):
        seen.append((torch.Tensor.exp is torch.exp, F.relu.__wrapped__.__name__))
        return torch.exp(v) + F.relu(v)

    x = rnd(3, 2)
    vmap(f)(x)
    assert seen == [(True, "relu")]


def test_vmap_in_one_thread_plain_calls_in_another():
    """A running vmap does not change what the same functions do in another thread."""
    import threading

    def f(v):
        return (torch.exp(v) * 2.0 + F.relu(v)).sum(-1) + torch.sum(v * v)

    x = rnd(6, 4)
    relu_before = F.relu
    expected = np.stack([f(x[i]).numpy() for i in range(6)])
    inside, release = threading.Event(), threading.Event()
    results, errors = {}, []

    def batched():
        try:
            def g(v):
                inside.set()          # vmap is running in this thread...
                assert release.wait(10)  # ...while the other thread computes
                return f(v)
            results["vmap"] = vmap(g)(x).numpy()
            results["vmap_again"] = vmap(f)(x).numpy()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    def plain():
        try:
            assert inside.wait(10)
            # nothing was swapped for the other thread's vmap
            results["same_function"] = torch.Tensor.exp is torch.exp and F.relu is relu_before
            results["plain"] = [f(x[i]).numpy() for i in range(6)]
            results["other_vmap"] = vmap(f, in_dims=1)(x.T.contiguous()).numpy()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            release.set()

    threads = [threading.Thread(target=batched), threading.Thread(target=plain)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert results["same_function"]
    np.testing.assert_allclose(np.stack(results["plain"]), expected, rtol=1e-12)
    for k in ("vmap", "vmap_again", "other_vmap"):
        np.testing.assert_allclose(results[k], expected, rtol=1e-12)


def test_norm_at_zero_forward_derivative_is_zero():
    # torch.func gives 0 (the subgradient its reverse mode also picks), not nan
    p, t = jvp(torch.norm, (torch.zeros(3),), (torch.ones(3),))
    assert p.item() == 0 and t.item() == 0
    j = jacfwd(lambda v: (v - v).norm(dim=-1))(rnd(3))
    np.testing.assert_array_equal(j.numpy(), np.zeros(3))
    j3 = jacfwd(lambda v: (v - v).norm(p=3))(rnd(3))
    np.testing.assert_array_equal(j3.numpy(), np.zeros(3))


def test_vmap_method_with_its_own_signature_on_an_unbatched_tensor():
    c = torch.tensor([[True, False], [False, True]])
    x, y = torch.ones(2), torch.zeros(2)
    out = vmap(lambda cc: x.where(cc, y))(c)
    np.testing.assert_array_equal(out.numpy(), [[1., 0.], [0., 1.]])


def test_vmap_fallback_refuses_a_different_number_per_element():
    # tapegrad.equal has no batching rule: the loop fallback runs it per element, and its
    # Python bool differs between elements, which no tensor can carry
    x = torch.tensor([[1.0, 2.0], [3.0, 3.0]])
    with pytest.raises(RuntimeError, match="returned a different bool for each batch element"):
        vmap(lambda a: torch.equal(a[:1], a[1:]))(x)


def test_vmap_fallback_passes_an_equal_number_through():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = vmap(lambda a: a * float(torch.equal(a, a)))(x)   # True for every element: 1.0
    np.testing.assert_array_equal(out.numpy(), x.numpy())

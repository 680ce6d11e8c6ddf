"""tapegrad.autograd.functional without torch: finite differences, self-consistency,
create_graph differentiability, strict mode and argument errors.

* ``jacobian`` (every strategy) and ``hessian`` against central finite differences.
* Self-consistency on random vectors: ``jvp == J @ v``, ``vjp == v @ J``,
  ``hessian == jacobian(grad)``, ``hvp == H @ v``, ``vhp == v @ H`` and ``H`` symmetric.
* ``create_graph=True`` results are differentiable: ``gradcheck`` of functions that
  return them, so their gradients are checked against finite differences too.
* Results are detached otherwise, ``.grad`` of the inputs is never touched, the user's
  grad mode is respected, ``strict=True`` raises and the bad-argument errors carry
  PyTorch's messages (the exact texts are also compared to torch in
  tests/parity/test_functional_parity.py).
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import functional as F
from tapegrad.autograd import gradcheck

F64 = tg.float64


def t(a, rg=False):
    return tg.tensor(np.asarray(a, dtype=np.float64), dtype=F64, requires_grad=rg)


def _tup(x):
    return x if isinstance(x, tuple) else (x,)


def numeric_jacobian(func, arrays, eps=1e-6):
    """J[i][j] of shape out_i.shape + in_j.shape by central differences (float64)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]

    def outs(arrs):
        with tg.no_grad():
            return [o.numpy().copy() for o in _tup(func(*[t(a) for a in arrs]))]
    base = outs(arrays)
    jac = [[np.zeros(o.shape + a.shape) for a in arrays] for o in base]
    for j, a in enumerate(arrays):
        for k in np.ndindex(a.shape):
            plus = [x.copy() for x in arrays]
            minus = [x.copy() for x in arrays]
            plus[j][k] += eps
            minus[j][k] -= eps
            for i, (p, m) in enumerate(zip(outs(plus), outs(minus), strict=True)):
                jac[i][j][(...,) + k] = (p - m) / (2 * eps)
    return jac


def flat_jac(jac_nested, outs, ins):
    """Assemble a nested jacobian into one (sum out numel, sum in numel) matrix."""
    rows = []
    for i, o in enumerate(outs):
        rows.append(np.concatenate([np.asarray(jac_nested[i][j]).reshape(o.size, x.size)
                                    for j, x in enumerate(ins)], axis=1))
    return np.concatenate(rows, axis=0)


def nest(res, out_tuple, in_tuple):
    """Bring a jacobian result to the J[i][j] form whatever its nesting."""
    if not out_tuple and not in_tuple:
        return [[res]]
    if not out_tuple:
        return [list(res)]
    if not in_tuple:
        return [[r] for r in res]
    return [list(r) for r in res]


# name: (func, input arrays (tuple -> tuple inputs), returns tuple?, scalar?)
RNG = np.random.default_rng(1234)
CASES = {
    "exp": (lambda x: x.exp(), RNG.uniform(-1, 1, 3), False, False),
    "sin_mul": (lambda x: x.sin() * x, RNG.uniform(-1, 1, (2, 3)), False, False),
    "softplus_sum": (lambda x: (x.exp() + 1).log().sum(1), RNG.uniform(-1, 1, (3, 2)), False, False),
    "matvec": (lambda a, b: a @ b, (RNG.uniform(-1, 1, (2, 3)), RNG.uniform(-1, 1, 3)), False, False),
    "broadcast": (lambda x, y: x * y + y.tanh(), (RNG.uniform(-1, 1, (2, 3)), RNG.uniform(-1, 1, 3)),
                  False, False),
    "two_out": (lambda x: (x.exp(), x.sin().sum()), RNG.uniform(-1, 1, 3), True, False),
    "tuple_tuple": (lambda x, y: ((x * y).sum(1), (x @ y).sin()),
                    (RNG.uniform(-1, 1, (2, 3)), RNG.uniform(-1, 1, 3)), True, False),
    "cube": (lambda x: (x ** 3).sum(), RNG.uniform(-1, 1, (2, 2)), False, True),
    "lse": (lambda x: x.exp().sum().log(), RNG.uniform(-1, 1, 4), False, True),
    "coupled": (lambda x, y: ((x @ y) ** 2).mean() + (x * x).sum() * y.sin().sum(),
                (RNG.uniform(-1, 1, (2, 3)), RNG.uniform(-1, 1, 3)), False, True),
    "scalar_in": (lambda x: x.sin() * x.exp(), np.array(0.7), False, True),
}
SCALAR = [k for k, c in CASES.items() if c[3]]


def _inputs(name):
    a = CASES[name][1]
    return tuple(t(x) for x in a) if isinstance(a, tuple) else t(a)


def _arrays(name):
    a = CASES[name][1]
    return a if isinstance(a, tuple) else (a,)


def _np(x):
    return x.detach().numpy()


# ---------------------------------------------------------------------------
# against finite differences
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("kw", [dict(), dict(vectorize=True),
                                dict(vectorize=True, strategy="forward-mode"), dict(create_graph=True)],
                         ids=["reverse", "vectorize", "forward", "create_graph"])
def test_jacobian_vs_finite_differences(name, kw):
    func, a, out_tuple, _ = CASES[name]
    in_tuple = isinstance(a, tuple)
    res = F.jacobian(func, _inputs(name), **kw)
    num = numeric_jacobian(func, _arrays(name))
    got = nest(res, out_tuple, in_tuple)
    assert len(got) == len(num) and all(len(g) == len(n) for g, n in zip(got, num, strict=True))
    for gi, ni in zip(got, num, strict=True):
        for g, n in zip(gi, ni, strict=True):
            assert isinstance(g, tg.Tensor) and g.dtype == F64
            assert tuple(g.shape) == n.shape
            np.testing.assert_allclose(_np(g), n, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", SCALAR)
@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_hessian_vs_finite_differences(name, strategy):
    func, a, _, _ = CASES[name]
    in_tuple = isinstance(a, tuple)
    H = F.hessian(func, _inputs(name), vectorize=True, outer_jacobian_strategy=strategy)

    def grad_fn(*xs):
        xs = tuple(x.detach().requires_grad_() for x in xs)
        with tg.enable_grad():
            return tg.autograd.grad(func(*xs), xs)
    num = numeric_jacobian(grad_fn, _arrays(name))
    got = nest(H, in_tuple, in_tuple)
    for gi, ni in zip(got, num, strict=True):
        for g, n in zip(gi, ni, strict=True):
            assert tuple(g.shape) == n.shape
            np.testing.assert_allclose(_np(g), n, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# self-consistency
# ---------------------------------------------------------------------------

def _rand_like(ts, seed):
    rng = np.random.default_rng(seed)
    return tuple(t(rng.standard_normal(tuple(x.shape))) for x in ts)


@pytest.mark.parametrize("name", CASES)
def test_vjp_jvp_agree_with_jacobian(name):
    func, a, out_tuple, _ = CASES[name]
    in_tuple = isinstance(a, tuple)
    inputs = _inputs(name)
    ins = _tup(inputs)
    outs = _tup(func(*ins))
    J = flat_jac(nest(F.jacobian(func, inputs), out_tuple, in_tuple),
                 [_np(o) for o in outs], [_np(x) for x in ins])

    v = _rand_like(outs, 1)
    out, vj = F.vjp(func, inputs, v if out_tuple else v[0])
    assert isinstance(out, tuple) == out_tuple and isinstance(vj, tuple) == in_tuple
    vflat = np.concatenate([_np(x).ravel() for x in v])
    np.testing.assert_allclose(np.concatenate([_np(x).ravel() for x in _tup(vj)]), vflat @ J,
                               rtol=1e-10, atol=1e-12)
    for o, o_ref in zip(_tup(out), outs, strict=True):
        np.testing.assert_allclose(_np(o), _np(o_ref))

    u = _rand_like(ins, 2)
    out, jv = F.jvp(func, inputs, u if in_tuple else u[0])
    assert isinstance(jv, tuple) == out_tuple
    uflat = np.concatenate([_np(x).ravel() for x in u])
    np.testing.assert_allclose(np.concatenate([_np(x).ravel() for x in _tup(jv)]), J @ uflat,
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", SCALAR)
def test_hessian_hvp_vhp_consistency(name):
    func, a, _, _ = CASES[name]
    in_tuple = isinstance(a, tuple)
    inputs = _inputs(name)
    ins = _tup(inputs)
    H = F.hessian(func, inputs)
    # hessian == jacobian of the gradient
    def grad_fn(*xs):
        return tg.autograd.grad(func(*xs), xs, create_graph=True)
    JG = F.jacobian(grad_fn, inputs if in_tuple else (inputs,))
    hn = nest(H, in_tuple, in_tuple)
    for i in range(len(ins)):
        for j in range(len(ins)):
            np.testing.assert_allclose(_np(hn[i][j]), _np(JG[i][j]), rtol=1e-10, atol=1e-12)
    arrs = [_np(x) for x in ins]
    Hm = flat_jac(hn, arrs, arrs)
    np.testing.assert_allclose(Hm, Hm.T, rtol=1e-10, atol=1e-12)  # symmetric

    v = _rand_like(ins, 3)
    vflat = np.concatenate([_np(x).ravel() for x in v])
    out_h, hv = F.hvp(func, inputs, v if in_tuple else v[0])
    out_v, vh = F.vhp(func, inputs, v if in_tuple else v[0])
    assert isinstance(hv, tuple) == in_tuple and isinstance(vh, tuple) == in_tuple
    np.testing.assert_allclose(np.concatenate([_np(x).ravel() for x in _tup(hv)]), Hm @ vflat,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.concatenate([_np(x).ravel() for x in _tup(vh)]), vflat @ Hm,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(out_h), _np(func(*ins)))
    np.testing.assert_allclose(_np(out_v), _np(func(*ins)))


def test_nesting():
    x, y = t([1., 2.]), t([3., 4.])
    assert isinstance(F.jacobian(lambda a: a * 2, x), tg.Tensor)
    r = F.jacobian(lambda a, b: a * b, (x, y))
    assert isinstance(r, tuple) and len(r) == 2 and all(isinstance(e, tg.Tensor) for e in r)
    r = F.jacobian(lambda a: (a, a * 2, a.sum()), x)
    assert isinstance(r, tuple) and len(r) == 3 and tuple(r[2].shape) == (2,)
    r = F.jacobian(lambda a, b: (a * b, a.sum()), (x, y))
    assert isinstance(r, tuple) and all(isinstance(e, tuple) and len(e) == 2 for e in r)
    assert tuple(r[1][0].shape) == (2,)
    H = F.hessian(lambda a, b: (a * b).sum(), (x, y))
    assert isinstance(H, tuple) and all(isinstance(e, tuple) for e in H)
    np.testing.assert_allclose(_np(H[0][1]), np.eye(2))
    np.testing.assert_allclose(_np(H[0][0]), np.zeros((2, 2)))
    # a one-element output: hessian squeezes it
    assert tuple(F.hessian(lambda a: (a * a).sum().reshape(1, 1), x).shape) == (2, 2)
    # lists are accepted as tuple inputs? torch treats a list as a non-tensor: TypeError
    with pytest.raises(TypeError):
        F.jacobian(lambda a: a, [x])


def test_default_v():
    x = t(0.5)
    o, g = F.vjp(lambda a: a ** 3, x)
    assert g.item() == pytest.approx(0.75)
    o, g = F.jvp(lambda a: (a ** 3, a * 2), x)
    assert g[0].item() == pytest.approx(0.75) and g[1].item() == pytest.approx(2.0)
    assert F.hvp(lambda a: a ** 3, x)[1].item() == pytest.approx(3.0)
    assert F.vhp(lambda a: a ** 3, x)[1].item() == pytest.approx(3.0)
    # one-element but not 0-d output
    o, g = F.vjp(lambda a: (a * a).sum().reshape(1), t([1., 2.]))
    np.testing.assert_allclose(_np(g), [2., 4.])


# ---------------------------------------------------------------------------
# detaching, create_graph, side effects
# ---------------------------------------------------------------------------

def test_results_detached_and_inputs_untouched():
    x = t([1., 2.], rg=True)
    w = t([3., 4.], rg=True)  # captured by the closure
    f = lambda a: (a * w).exp()  # noqa: E731
    for res in (F.vjp(f, x, t([1., 1.])), F.jvp(f, x, t([1., 1.])), F.jacobian(f, x),
                F.hessian(lambda a: f(a).sum(), x), F.hvp(lambda a: f(a).sum(), x, t([1., 0.])),
                F.vhp(lambda a: f(a).sum(), x, t([1., 0.]))):
        for r in _tup(res):
            assert not r.requires_grad and r.grad_fn is None
    assert x.grad is None and w.grad is None
    assert x.requires_grad and x.is_leaf


def test_respects_no_grad_and_restores_grad_mode():
    x = t([1., 2.])
    with tg.no_grad():
        o, g = F.vjp(lambda a: (a ** 2).sum(), x)
        assert not tg.is_grad_enabled()
        J = F.jacobian(lambda a: a ** 2, x)
        H = F.hessian(lambda a: (a ** 3).sum(), x)
    np.testing.assert_allclose(_np(g), [2., 4.])
    np.testing.assert_allclose(_np(J), np.diag([2., 4.]))
    np.testing.assert_allclose(_np(H), np.diag([6., 12.]))
    assert tg.is_grad_enabled()


def test_input_captured_by_function_is_not_confused_with_argument():
    # pytorch/pytorch#32576: the function closes over the same tensor it is given
    x = t([1., 2.], rg=True)
    J = F.jacobian(lambda a: a * x, x)
    np.testing.assert_allclose(_np(J), np.diag([1., 2.]))  # d(a*x)/da, x held constant


@pytest.mark.parametrize("fn", ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"])
def test_create_graph_results_are_differentiable(fn):
    """gradcheck/gradgradcheck a function of the inputs returning the results."""
    rng = np.random.default_rng(7)
    x0 = t(rng.uniform(-1, 1, 3), rg=True)
    v0 = t(rng.standard_normal(3), rg=True)
    f = lambda a: (a.sin() * a.exp()).sum() * a  # noqa: E731 (vector -> vector, nonlinear)
    s = lambda a: (a.sin() * a.exp()).sum() + (a ** 4).sum()  # noqa: E731

    def g(x, v):
        if fn == "vjp":
            return F.vjp(f, x, v, create_graph=True)[1]
        if fn == "jvp":
            return F.jvp(f, x, v, create_graph=True)[1]
        if fn == "jacobian":
            return F.jacobian(f, x, create_graph=True) * v
        if fn == "hessian":
            return F.hessian(s, x, create_graph=True) @ v
        return getattr(F, fn)(s, x, v, create_graph=True)[1]
    r = g(x0, v0)
    assert r.requires_grad and r.grad_fn is not None
    assert gradcheck(g, (x0, v0))
    assert x0.grad is None


def test_create_graph_output_is_differentiable_too():
    x = t([1., 2.], rg=True)
    out, g = F.vjp(lambda a: (a ** 3).sum(), x, create_graph=True)
    assert out.requires_grad
    (gx,) = tg.autograd.grad(out + g.sum(), x)
    np.testing.assert_allclose(_np(gx), 3 * np.array([1., 4.]) + 6 * np.array([1., 2.]))


def test_create_graph_with_non_requiring_input_gives_no_graph_to_it():
    x = t([1., 2.])  # does not require grad: results may not depend on x's graph
    J = F.jacobian(lambda a: a ** 2, x, create_graph=True)
    np.testing.assert_allclose(_np(J), np.diag([2., 4.]))


# ---------------------------------------------------------------------------
# strict mode and errors
# ---------------------------------------------------------------------------

def test_strict_mode_errors():
    x, y = t([1., 2.]), t([3., 4.])
    with pytest.raises(
        RuntimeError, match="The output of the user-provided function is independent of input 1"
    ):
        F.vjp(lambda a, b: a * 2, (x, y), t([1., 1.]), strict=True)
    with pytest.raises(
        RuntimeError, match="Output 0 of the user-provided function does not require gradients"
    ):
        F.vjp(lambda a: a.detach(), x, t([1., 1.]), strict=True)
    with pytest.raises(
        RuntimeError, match="Output 0 of the user-provided function is independent of input 1"
    ):
        F.jacobian(lambda a, b: a * 2, (x, y), strict=True)
    with pytest.raises(
        RuntimeError, match="The output of the user-provided function is independent of input 1"
    ):
        F.jvp(lambda a, b: a * 2, (x, y), (x, y), strict=True)
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function with respect to input 0"):
        F.hessian(lambda a: (a * 2).sum(), x, strict=True)
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function with respect to input 0"):
        F.vhp(lambda a: (a * 2).sum(), x, x, strict=True)
    with pytest.raises(RuntimeError, match="when create_graph=True"):
        F.vjp(lambda a: a * 2, x, t([1., 1.]), strict=True, create_graph=True)
    # not strict: the mathematically expected zeros
    _, (g0, g1) = F.vjp(lambda a, b: a * 2, (x, y), t([1., 1.]))
    np.testing.assert_allclose(_np(g1), [0., 0.])
    np.testing.assert_allclose(_np(F.hessian(lambda a: (a * 2).sum(), x)), np.zeros((2, 2)))


def test_bad_input_errors():
    x = t([1., 2.])
    with pytest.raises(TypeError) as e:
        F.vjp(lambda a: 3, x, t([1.]))
    assert str(e.value) == (
        "The outputs of the user-provided function given to vjp must be either a Tensor or a "
        "tuple of Tensors but the given outputs of the user-provided function has type <class 'int'>.")
    with pytest.raises(TypeError, match="The inputs given to jacobian must be either a Tensor or a tuple of "
                                        "Tensors but the value at index 1 has type <class 'float'>."):
        F.jacobian(lambda a, b: a, (x, 1.0))
    with pytest.raises(RuntimeError) as e:
        F.vjp(lambda a: a * 2, x, t([1., 2., 3.]))
    assert str(e.value) == "v has invalid size: should be torch.Size([2]) but got torch.Size([3])."
    with pytest.raises(RuntimeError) as e:
        F.jvp(lambda a, b: a * b, (x, x), (x, t([1.])))
    assert str(e.value) == "Entry 1 in v has invalid size: should be torch.Size([2]) but got torch.Size([1])."
    with pytest.raises(RuntimeError, match="v is a tuple of invalid length: should be 2 but got 1."):
        F.jvp(lambda a, b: a * b, (x, x), (x,))
    with pytest.raises(
        RuntimeError, match="The vector v can only be None if the user-provided function returns"
    ):
        F.vjp(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match="The vector v can only be None if the input to the user-provided"):
        F.jvp(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match="The function given to hessian should return a single Tensor"):
        F.hessian(lambda a: (a.sum(), a.sum()), x)
    with pytest.raises(RuntimeError, match="should contain a single element"):
        F.hvp(lambda a: a * 2, x, x)
    with pytest.raises(NotImplementedError):
        F.jacobian(lambda a: a, x, strategy="forward-mode")
    with pytest.raises(AssertionError):
        F.jacobian(lambda a: a, x, strategy="sideways")


def test_dtype_and_empty_inputs():
    x32 = tg.tensor([1., 2.], dtype=tg.float32)
    J = F.jacobian(lambda a: a * a, x32)
    assert J.dtype == tg.float32
    e = tg.zeros(0, dtype=F64)
    J = F.jacobian(lambda a, b: (a * 2, b.sum()), (t([1., 2.]), e))
    assert tuple(J[0][1].shape) == (2, 0) and tuple(J[1][1].shape) == (0,)
    J = F.jacobian(lambda a, b: (a * 2, b.sum()), (t([1., 2.]), e), vectorize=True,
                   strategy="forward-mode")
    assert tuple(J[0][1].shape) == (2, 0) and tuple(J[1][1].shape) == (0,)

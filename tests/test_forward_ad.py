"""tapegrad.autograd.forward_ad: JVPs equal (reverse-mode Jacobian) @ tangent, API and errors.

``CASES`` is shared with tests/parity/test_forward_ad_parity.py: each function takes the
library namespace ``T`` first (tapegrad or torch), so the same lambda runs on both.
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.autograd.forward_ad as fwAD
from tapegrad.autograd import grad_mode


def _F(T):
    return T.nn.functional


def _inplace_on_view(T, x):
    y = x * 2.0 + 1.0
    y[0].mul_(3.0)
    return y


def _inplace_into_nondual_view(T, x):
    y = T.zeros(3, 4, dtype=T.float64)
    y[1].add_(x[0])
    return y


# (name, fn(T, *inputs), input specs); a spec is a shape, or ("pos", shape) for positive values
CASES = [
    # elementwise unary
    ("exp", lambda T, x: x.exp(), [(3, 4)]),
    ("log", lambda T, x: x.log(), [("pos", (3, 4))]),
    ("sqrt", lambda T, x: x.sqrt(), [("pos", (5,))]),
    ("rsqrt", lambda T, x: x.rsqrt(), [("pos", (5,))]),
    ("sin_cos", lambda T, x: x.sin() * x.cos(), [(4,)]),
    ("tanh", lambda T, x: x.tanh(), [(2, 3)]),
    ("sigmoid", lambda T, x: x.sigmoid(), [(2, 3)]),
    ("abs", lambda T, x: x.abs(), [(6,)]),
    ("neg", lambda T, x: -x, [(6,)]),
    ("pow_scalar", lambda T, x: x ** 3, [(2, 3)]),
    ("reciprocal", lambda T, x: x.reciprocal(), [("pos", (4,))]),
    ("erf", lambda T, x: x.erf(), [(4,)]),
    ("atan", lambda T, x: x.atan(), [(4,)]),
    ("log1p_expm1", lambda T, x: x.log1p() + x.expm1(), [("pos", (4,))]),
    ("clamp", lambda T, x: x.clamp(-0.5, 0.5), [(8,)]),
    ("nan_to_num", lambda T, x: T.nan_to_num(T.log(x), nan=0.5), [(8,)]),   # NaN where x < 0
    ("square", lambda T, x: x.square(), [(3,)]),
    ("floor", lambda T, x: x.floor(), [(3,)]),
    ("to_float32_back", lambda T, x: (x * 2).double(), [(3,)]),
    # binary, with broadcasting
    ("add_bcast", lambda T, x, y: x + y, [(3, 4), (4,)]),
    ("add_alpha", lambda T, x, y: T.add(x, y, alpha=2.5), [(3, 4), (3, 1)]),
    ("sub_bcast", lambda T, x, y: x - y, [(3, 1), (1, 4)]),
    ("rsub_scalar", lambda T, x: 2.0 - x, [(3,)]),
    ("mul_bcast", lambda T, x, y: x * y, [(2, 3, 4), (3, 1)]),
    ("mul_scalar", lambda T, x: x * 3.0, [(3,)]),
    ("div_bcast", lambda T, x, y: x / y, [(3, 4), ("pos", (4,))]),
    ("rdiv_scalar", lambda T, x: 2.0 / x, [("pos", (3,))]),
    ("pow_tensor", lambda T, x, y: x ** y, [("pos", (3, 2)), (2,)]),
    ("maximum", lambda T, x, y: T.maximum(x, y), [(3, 4), (4,)]),
    ("minimum", lambda T, x, y: T.minimum(x, y), [(3, 4), (3, 4)]),
    ("atan2", lambda T, x, y: T.atan2(x, y), [(5,), (5,)]),
    ("where", lambda T, x, y: T.where(x > 0, x, y), [(3, 4), (4,)]),
    # reductions
    ("sum_all", lambda T, x: x.sum(), [(3, 4)]),
    ("sum_dim_keep", lambda T, x: x.sum(1, keepdim=True), [(3, 4)]),
    ("sum_dims", lambda T, x: x.sum((0, 2)), [(2, 3, 4)]),
    ("mean_dim", lambda T, x: x.mean(0), [(3, 4)]),
    ("prod", lambda T, x: x.prod(1), [(3, 4)]),
    ("var", lambda T, x: x.var(1), [(3, 4)]),
    ("std_keep", lambda T, x: x.std(0, keepdim=True), [(3, 4)]),
    ("norm", lambda T, x: x.norm(), [(3, 4)]),
    ("amax", lambda T, x: x.amax(1), [(3, 4)]),
    ("max_dim", lambda T, x: x.max(1).values, [(3, 4)]),
    ("min_all", lambda T, x: x.min(), [(3, 4)]),
    ("logsumexp", lambda T, x: x.logsumexp(1), [(3, 4)]),
    ("cumsum", lambda T, x: x.cumsum(1), [(3, 4)]),
    ("cumprod", lambda T, x: x.cumprod(0), [(3, 4)]),
    ("softmax", lambda T, x: x.softmax(-1), [(3, 4)]),
    ("log_softmax", lambda T, x: x.log_softmax(0), [(3, 4)]),
    # shape ops
    ("reshape", lambda T, x: x.reshape(4, 3), [(3, 4)]),
    ("view_flatten", lambda T, x: x.view(-1) * 2, [(3, 4)]),
    ("permute", lambda T, x: x.permute(2, 0, 1), [(2, 3, 4)]),
    ("transpose", lambda T, x: x.transpose(0, 1), [(3, 4)]),
    ("t", lambda T, x: x.t(), [(3, 4)]),
    ("expand", lambda T, x: x.expand(3, 4), [(1, 4)]),
    ("unsqueeze_squeeze", lambda T, x: x.unsqueeze(1).squeeze(), [(3, 4)]),
    ("flip", lambda T, x: x.flip(0), [(3, 4)]),
    ("roll", lambda T, x: x.roll(1, 1), [(3, 4)]),
    ("repeat", lambda T, x: x.repeat(2, 1), [(3, 4)]),
    ("cat", lambda T, x, y: T.cat([x, y], 0), [(2, 4), (3, 4)]),
    ("stack", lambda T, x, y: T.stack([x, y], 1), [(3, 4), (3, 4)]),
    ("split", lambda T, x: x.split(2, 1), [(3, 5)]),
    ("chunk_unbind", lambda T, x: x.unbind(0), [(3, 2)]),
    ("narrow", lambda T, x: x.narrow(1, 1, 2), [(3, 4)]),
    ("slice", lambda T, x: x[1:, ::2], [(3, 4)]),
    ("select", lambda T, x: x[1], [(3, 4)]),
    # indexing / gather
    ("index_tensor", lambda T, x: x[T.tensor([2, 0, 2])], [(3, 4)]),
    ("index_mask", lambda T, x: x[x > 0], [(3, 4)]),
    ("gather", lambda T, x: x.gather(1, T.tensor([[0, 3], [1, 1], [2, 0]])), [(3, 4)]),
    ("index_select", lambda T, x: x.index_select(1, T.tensor([3, 0])), [(3, 4)]),
    ("scatter_add", lambda T, x, y: x.scatter_add(0, T.tensor([[0, 1, 2, 0]]), y), [(3, 4), (1, 4)]),
    ("masked_fill", lambda T, x: x.masked_fill(x > 0, 0.0), [(3, 4)]),
    # linear algebra
    ("matmul_mm", lambda T, x, y: x @ y, [(3, 4), (4, 2)]),
    ("matmul_mv", lambda T, x, y: x @ y, [(3, 4), (4,)]),
    ("matmul_batched_bcast", lambda T, x, y: x @ y, [(2, 3, 4), (4, 2)]),
    ("bmm", lambda T, x, y: T.bmm(x, y), [(2, 3, 4), (2, 4, 2)]),
    ("dot", lambda T, x, y: T.dot(x, y), [(4,), (4,)]),
    ("einsum", lambda T, x, y: T.einsum("bij,jk->bik", x, y), [(2, 3, 4), (4, 2)]),
    ("einsum_trace", lambda T, x: T.einsum("ii->", x), [(3, 3)]),
    # nn.functional
    ("linear", lambda T, x, w, b: _F(T).linear(x, w, b), [(2, 4), (3, 4), (3,)]),
    ("conv2d", lambda T, x, w, b: _F(T).conv2d(x, w, b, padding=1), [(1, 2, 4, 4), (3, 2, 3, 3), (3,)]),
    ("conv2d_stride", lambda T, x, w: _F(T).conv2d(x, w, stride=2), [(1, 1, 5, 5), (2, 1, 3, 3)]),
    ("batch_norm_train", lambda T, x, w, b: _F(T).batch_norm(x, None, None, w, b, training=True),
     [(4, 3, 2, 2), (3,), (3,)]),
    ("layer_norm", lambda T, x, w, b: _F(T).layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    ("max_pool2d", lambda T, x: _F(T).max_pool2d(x, 2), [(1, 2, 4, 4)]),
    ("avg_pool2d", lambda T, x: _F(T).avg_pool2d(x, 2), [(1, 2, 4, 4)]),
    ("relu", lambda T, x: _F(T).relu(x), [(3, 4)]),
    ("gelu", lambda T, x: _F(T).gelu(x), [(3, 4)]),
    ("gelu_tanh", lambda T, x: _F(T).gelu(x, approximate="tanh"), [(3, 4)]),
    ("silu_softplus", lambda T, x: _F(T).silu(x) + _F(T).softplus(x), [(3, 4)]),
    ("leaky_relu", lambda T, x: _F(T).leaky_relu(x, 0.1), [(3, 4)]),
    ("cross_entropy", lambda T, x: _F(T).cross_entropy(x, T.tensor([1, 0, 3])), [(3, 4)]),
    ("cross_entropy_sum", lambda T, x: _F(T).cross_entropy(x, T.tensor([2, 2]), reduction="sum"), [(2, 5)]),
    ("mse_loss", lambda T, x, y: _F(T).mse_loss(x, y), [(3, 4), (3, 4)]),
    ("dropout_eval", lambda T, x: _F(T).dropout(x, 0.5, training=False), [(3,)]),
    # in-place ops (the written tensor takes the result's tangent)
    ("inplace_add_", lambda T, x, y: x.clone().add_(y), [(3, 4), (4,)]),
    ("inplace_mul_scalar", lambda T, x: (x * 1).mul_(2.0), [(3, 4)]),
    ("inplace_relu", lambda T, x: _F(T).relu(x * 1, inplace=True), [(3, 4)]),
    ("inplace_sigmoid_", lambda T, x: (x * 1).sigmoid_(), [(3, 4)]),
    ("inplace_copy_", lambda T, x: T.zeros(3, 4, dtype=T.float64).copy_(x), [(3, 4)]),
    ("inplace_on_view", _inplace_on_view, [(3, 4)]),
    ("inplace_into_nondual_view", _inplace_into_nondual_view, [(3, 4)]),
    # a small network: composition of everything above
    ("mlp", lambda T, x, w1, w2: (_F(T).linear(x, w1).tanh() @ w2).log_softmax(-1),
     [(2, 3), (4, 3), (4, 5)]),
]


def make_inputs(specs, seed=0):
    rng = np.random.default_rng(seed)
    arrays = []
    for s in specs:
        if isinstance(s[0], str):
            arrays.append(rng.uniform(0.5, 2.0, s[1]))
        else:
            arrays.append(rng.standard_normal(s))
    tangents = [rng.standard_normal(a.shape) for a in arrays]
    return arrays, tangents


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def forward_jvp(fn, arrays, tangents, which=None):
    """Primal outputs and their tangents from forward_ad (inputs in ``which`` made dual)."""
    T = tapegrad
    which = range(len(arrays)) if which is None else which
    with fwAD.dual_level():
        xs = [T.tensor(a) for a in arrays]
        for i in which:
            xs[i] = fwAD.make_dual(xs[i], T.tensor(tangents[i]))
        outs = _as_tuple(fn(T, *xs))
        res = [fwAD.unpack_dual(o) for o in outs]
    return [(p.detach().numpy(), None if t is None else t.detach().numpy()) for p, t in res]


def reverse_jvp(fn, arrays, tangents, which=None):
    """J @ t with J built row by row with reverse mode (tapegrad.autograd.grad)."""
    T = tapegrad
    which = list(range(len(arrays))) if which is None else list(which)
    xs = [T.tensor(a, requires_grad=i in which) for i, a in enumerate(arrays)]
    outs = _as_tuple(fn(T, *xs))
    res = []
    for o in outs:
        flat = o.reshape(-1)
        jvp = np.zeros(flat.shape[0])
        for k in range(flat.shape[0]):
            if not flat.requires_grad:
                break
            gs = tapegrad.autograd.grad(flat[k], [xs[i] for i in which], retain_graph=True,
                                        allow_unused=True)
            jvp[k] = sum(float((g.numpy() * tangents[i]).sum()) for g, i in zip(gs, which, strict=True)
                         if g is not None)
        res.append((o.detach().numpy(), jvp.reshape(o.shape)))
    return res


@pytest.mark.parametrize("name,fn,specs", CASES, ids=[c[0] for c in CASES])
def test_jvp_matches_reverse_jacobian(name, fn, specs):
    arrays, tangents = make_inputs(specs)
    got = forward_jvp(fn, arrays, tangents)
    want = reverse_jvp(fn, arrays, tangents)
    assert len(got) == len(want)
    for (p, t), (p_ref, t_ref) in zip(got, want, strict=True):
        np.testing.assert_allclose(p, p_ref, rtol=1e-12, atol=1e-12)
        assert t is not None, name
        assert t.shape == p.shape
        assert t.dtype == np.float64
        np.testing.assert_allclose(t, t_ref, rtol=1e-9, atol=1e-10)
    assert grad_mode.state.observers == ()


@pytest.mark.parametrize("name", ["mul_bcast", "linear", "conv2d", "batch_norm_train", "div_bcast",
                                  "pow_tensor", "einsum"])
def test_jvp_partial_duals(name):
    """Only the first input dual: the others are constants."""
    _, fn, specs = next(c for c in CASES if c[0] == name)
    arrays, tangents = make_inputs(specs, seed=1)
    got = forward_jvp(fn, arrays, tangents, which=[0])
    want = reverse_jvp(fn, arrays, tangents, which=[0])
    for (_, t), (_, t_ref) in zip(got, want, strict=True):
        np.testing.assert_allclose(t, t_ref, rtol=1e-9, atol=1e-10)
    got = forward_jvp(fn, arrays, tangents, which=[len(arrays) - 1])
    want = reverse_jvp(fn, arrays, tangents, which=[len(arrays) - 1])
    for (_, t), (_, t_ref) in zip(got, want, strict=True):
        np.testing.assert_allclose(t, t_ref, rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------------------- API
def test_basic_usage_and_level_exit():
    x = tapegrad.tensor([1.0, 2.0], dtype=tapegrad.float64)
    v = tapegrad.tensor([1.0, 0.5], dtype=tapegrad.float64)
    with fwAD.dual_level() as lvl:
        assert lvl == 0
        d = fwAD.make_dual(x, v)
        p, t = fwAD.unpack_dual(d)
        assert t is v
        assert fwAD.unpack_dual(p).tangent is None
        assert fwAD.unpack_dual(x).tangent is None  # the original is not dual
        out = d * d
        u = fwAD.unpack_dual(out)
        assert isinstance(u, fwAD.UnpackedDualTensor)
        np.testing.assert_allclose(u.tangent.numpy(), [2.0, 2.0])
        np.testing.assert_allclose(u.primal.numpy(), [1.0, 4.0])
    # after the level, tangents are gone and no observer remains
    assert fwAD.unpack_dual(out).tangent is None
    assert grad_mode.state.observers == ()


def test_make_dual_is_an_alias_and_backward_differentiable():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, tapegrad.ones(2))
        (d * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    y = tapegrad.zeros(2)
    with fwAD.dual_level():
        d = fwAD.make_dual(y, tapegrad.ones(2))
        assert d._base is y


def test_non_differentiable_outputs_have_no_tangent():
    x = tapegrad.randn(3, 4)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, tapegrad.randn(3, 4))
        assert fwAD.unpack_dual(d > 0).tangent is None
        assert fwAD.unpack_dual(d.argmax()).tangent is None
        m = d.max(1)
        assert fwAD.unpack_dual(m.indices).tangent is None
        assert fwAD.unpack_dual(m.values).tangent is not None
        assert fwAD.unpack_dual(d.detach()).tangent is None
        assert fwAD.unpack_dual(d.clone()).tangent is not None
        floor = fwAD.unpack_dual(d.floor()).tangent
        np.testing.assert_array_equal(floor.numpy(), np.zeros((3, 4)))


def test_tangent_float32_and_no_grad():
    x = tapegrad.randn(3)
    t = tapegrad.randn(3)
    with fwAD.dual_level():
        with tapegrad.no_grad():
            y = fwAD.make_dual(x, t).sin()
        tan = fwAD.unpack_dual(y).tangent
        assert tan.dtype == tapegrad.float32
        assert not tan.requires_grad
        np.testing.assert_allclose(tan.numpy(), (x.cos() * t).numpy(), rtol=1e-6)


def test_tangent_is_differentiable_in_reverse_mode():
    # d/dx of the JVP of sin at x along t is -sin(x) * t; d/dt is cos(x)
    x = tapegrad.tensor([0.3, 1.2], dtype=tapegrad.float64, requires_grad=True)
    t = tapegrad.tensor([1.5, -0.5], dtype=tapegrad.float64, requires_grad=True)
    with fwAD.dual_level():
        y = fwAD.make_dual(x, t).sin().exp()
        tan = fwAD.unpack_dual(y).tangent
    gx, gt = tapegrad.autograd.grad(tan.sum(), [x, t])
    xn, tn = x.detach().numpy(), t.detach().numpy()
    # tan = exp(sin x) cos x t
    np.testing.assert_allclose(gt.numpy(), np.exp(np.sin(xn)) * np.cos(xn))
    dx = np.exp(np.sin(xn)) * (np.cos(xn) ** 2 - np.sin(xn)) * tn
    np.testing.assert_allclose(gx.numpy(), dx)


def test_weights_without_tangent_are_constants_but_differentiable():
    lin = tapegrad.nn.Linear(3, 2).double()
    x = tapegrad.randn(4, 3, dtype=tapegrad.float64)
    t = tapegrad.randn(4, 3, dtype=tapegrad.float64)
    with fwAD.dual_level():
        out = lin(fwAD.make_dual(x, t))
        tan = fwAD.unpack_dual(out).tangent
    np.testing.assert_allclose(tan.detach().numpy(), t.numpy() @ lin.weight.detach().numpy().T)
    (g,) = tapegrad.autograd.grad(tan.sum(), [lin.weight])
    np.testing.assert_allclose(g.numpy(), np.ones((4, 2)).T @ t.numpy())


def test_decorator_form():
    @fwAD.dual_level()
    def f(x, v):
        return fwAD.unpack_dual(fwAD.make_dual(x, v).exp()).tangent

    x = tapegrad.tensor([0.0, 1.0])
    np.testing.assert_allclose(f(x, tapegrad.ones(2)).numpy(), np.exp([0.0, 1.0]), rtol=1e-6)
    assert grad_mode.state.observers == ()


def test_multiple_dual_inputs_different_ops():
    a, b = tapegrad.randn(3, dtype=tapegrad.float64), tapegrad.randn(3, dtype=tapegrad.float64)
    ta, tb = tapegrad.randn(3, dtype=tapegrad.float64), tapegrad.randn(3, dtype=tapegrad.float64)
    with fwAD.dual_level():
        y = fwAD.make_dual(a, ta) / fwAD.make_dual(b, tb)
        tan = fwAD.unpack_dual(y).tangent.numpy()
    an, bn = a.numpy(), b.numpy()
    np.testing.assert_allclose(tan, ta.numpy() / bn - an * tb.numpy() / bn ** 2)


# ----------------------------------------------------------------------------- errors
def test_errors():
    x = tapegrad.randn(2)
    with pytest.raises(RuntimeError, match=r"^Trying to create a dual Tensor for forward AD but no "
                                           r"level exists, make sure to enter_dual_level\(\) first\.$"):
        fwAD.make_dual(x, tapegrad.randn(2))
    with fwAD.dual_level():
        msg = ("Trying to set a forward gradient that has a different size than that of the original "
               "Tensor, this is not supported. Tensor is of size [2] while the given forward gradient "
               "is of size [3].")
        with pytest.raises(RuntimeError) as e:
            fwAD.make_dual(x, tapegrad.randn(3))
        assert str(e.value) == msg
        with pytest.raises(RuntimeError, match=r"size \[1, 2\]\.$"):
            fwAD.make_dual(x, tapegrad.randn(1, 2))
        with pytest.raises(ValueError, match="Expected primal to be floating point or complex, but got: "
                                             "torch.int64"):
            fwAD.make_dual(tapegrad.arange(2), tapegrad.randn(2))
        with pytest.raises(ValueError, match="Expected tangent to be floating point or complex, but got: "
                                             "torch.int64"):
            fwAD.make_dual(x, tapegrad.arange(2))
        with pytest.raises(RuntimeError, match="Invalid level given to _make_dual"):
            fwAD.make_dual(x, tapegrad.randn(2), level=3)
        assert fwAD.unpack_dual(x, level=3).tangent is None
        d = fwAD.make_dual(x, tapegrad.randn(2))
        with pytest.raises(RuntimeError, match="already has a forward gradient at the same level 0"):
            fwAD.make_dual(d, tapegrad.randn(2))
        with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported at the moment"):
            fwAD.enter_dual_level()
        with (pytest.raises(RuntimeError, match="Nested forward mode AD is not supported at the moment"),
              fwAD.dual_level()):
            pass
        assert len(grad_mode.state.observers) == 1
    assert grad_mode.state.observers == ()
    with pytest.raises(RuntimeError, match="Dual level must be a positive number."):
        fwAD.exit_dual_level()
    with pytest.raises(RuntimeError, match="Trying to exit a forward AD level that was not the last one"):
        fwAD.exit_dual_level(level=0)
    lvl = fwAD.enter_dual_level()
    with pytest.raises(RuntimeError, match="Trying to exit a forward AD level that was not the last one"):
        fwAD.exit_dual_level(level=1)
    fwAD.exit_dual_level(level=lvl)
    assert grad_mode.state.observers == ()
    assert fwAD.unpack_dual(x).tangent is None  # no level: (tensor, None)
    assert fwAD.unpack_dual(x).primal is x


def test_exception_inside_level_exits_it():
    with pytest.raises(ZeroDivisionError), fwAD.dual_level():
        1 / 0
    assert grad_mode.state.observers == ()
    with fwAD.dual_level() as lvl:
        assert lvl == 0


def test_tangent_dropped_with_tensor():
    import gc
    with fwAD.dual_level():
        lvl = fwAD._levels[0]
        d = fwAD.make_dual(tapegrad.randn(3), tapegrad.randn(3))
        y = d * 2
        assert len(lvl.table) == 2
        del d, y
        gc.collect()
        assert len(lvl.table) == 0


def test_other_observers_still_see_user_ops():
    seen = []

    class Obs:
        def on_forward(self, cls, args, outputs, seconds, options=None):
            seen.append(cls.__name__)

        def on_backward(self, node, grads, seconds):
            pass

    from tapegrad.autograd import observe
    o = observe.add(Obs())
    try:
        with fwAD.dual_level():
            d = fwAD.make_dual(tapegrad.randn(3), tapegrad.randn(3))
            d.sin().sum()
    finally:
        observe.remove(o)
    assert seen == ["Sin", "SumAll"], seen


def test_inplace_on_dual_and_hooks_restored():
    from tapegrad.ops import inplace as P
    before = (P._needs_graph, P.rebase, P.on_view)
    x = tapegrad.zeros(3, dtype=tapegrad.float64)
    with fwAD.dual_level():
        # issue 10: nothing is patched while a level is active; inplace.py consults the
        # per-thread transform stack itself
        assert (P._needs_graph, P.rebase, P.on_view) == before
        d = fwAD.make_dual(x, tapegrad.ones(3, dtype=tapegrad.float64))
        d.mul_(2)
        np.testing.assert_allclose(fwAD.unpack_dual(d).tangent.numpy(), [2.0, 2.0, 2.0])
        assert fwAD.unpack_dual(x).tangent is None  # like PyTorch: make_dual's root stays plain
        y = tapegrad.zeros(3, dtype=tapegrad.float64)
        y.add_(d)  # (the no-graph fast path when no dual is involved)
        np.testing.assert_allclose(fwAD.unpack_dual(y).tangent.numpy(), [2.0, 2.0, 2.0])
    assert (P._needs_graph, P.rebase, P.on_view) == before


def test_norm_at_zero_has_zero_tangent():
    with fwAD.dual_level():
        d = fwAD.make_dual(tapegrad.zeros(3), tapegrad.ones(3))
        assert fwAD.unpack_dual(d.norm()).tangent.item() == 0
        assert fwAD.unpack_dual(d.norm(dim=-1)).tangent.item() == 0


def test_dual_levels_in_two_threads_at_once():
    """Each thread has its own level (both numbered 0), tangents and in-place tracking."""
    import threading
    both_inside = threading.Barrier(2, timeout=10)
    results, errors = {}, []

    def run(name, scale):
        try:
            x = tapegrad.tensor([0.5, 1.0, 2.0], dtype=tapegrad.float64)
            with fwAD.dual_level() as lvl:
                both_inside.wait()  # both levels are active now
                d = fwAD.make_dual(x, tapegrad.full((3,), float(scale), dtype=tapegrad.float64))
                y = (d.sin() * d).exp()
                z = tapegrad.zeros(3, dtype=tapegrad.float64)
                z.add_(d)  # an in-place write the level must follow
                both_inside.wait()
                results[name] = (lvl, fwAD.unpack_dual(y).tangent.numpy(),
                                 fwAD.unpack_dual(z).tangent.numpy())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("a", 1.0), ("b", 3.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    x = np.array([0.5, 1.0, 2.0])
    dy = np.exp(np.sin(x) * x) * (np.cos(x) * x + np.sin(x))
    for name, s in (("a", 1.0), ("b", 3.0)):
        lvl, ty, tz = results[name]
        assert lvl == 0
        np.testing.assert_allclose(ty, dy * s, rtol=1e-12)
        np.testing.assert_allclose(tz, np.full(3, s))
    assert grad_mode.state.observers == () and grad_mode.state.transforms == ()


# --------------------------------------------------------------- rules in the op units
def test_a_hand_written_rule_in_the_op_unit_is_used(monkeypatch):
    from tapegrad.ops import elementwise as E
    calls = []
    rule = E.Exp.__dict__["jvp"]

    def spy(*args):
        calls.append(args)
        return rule(*args)

    monkeypatch.setattr(E.Exp, "jvp", staticmethod(spy))
    x = tapegrad.tensor([0.5, -1.0], dtype=tapegrad.float64)
    t = tapegrad.tensor([1.0, 2.0], dtype=tapegrad.float64)
    with fwAD.dual_level():
        tangent = fwAD.unpack_dual(fwAD.make_dual(x, t).exp()).tangent
    assert len(calls) == 1
    np.testing.assert_allclose(tangent.numpy(), np.exp(x.numpy()) * t.numpy())


def test_a_rule_is_not_inherited_by_a_subclass_with_another_backward():
    from tapegrad.ops import elementwise as E

    class TwiceExpGrad(E.Exp):  # the same forward, a backward twice exp's
        def backward(ctx, g):
            (out,) = ctx.saved
            return 2 * g * out

    x = tapegrad.tensor([0.5, -1.0], dtype=tapegrad.float64)
    t = tapegrad.tensor([1.0, 2.0], dtype=tapegrad.float64)
    with fwAD.dual_level():
        tangent = fwAD.unpack_dual(TwiceExpGrad.apply(fwAD.make_dual(x, t))).tangent
    # the generic rule, derived from this backward, not Exp's hand-written one
    np.testing.assert_allclose(tangent.numpy(), 2 * np.exp(x.numpy()) * t.numpy())

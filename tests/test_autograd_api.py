"""The autograd API: hooks, retain_grad, grad modes, backward/grad arguments, higher order,
and custom ``autograd.Function``. Expected values and messages are PyTorch's."""
from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import Function

NONLEAF_WARNING = "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed."


def leaf(values, dtype=None):
    return tg.tensor(values, dtype=dtype, requires_grad=True)


def np_(t):
    return t.detach().numpy()


# ========================================================================================= hooks
class TestTensorHooks:
    def test_leaf_hooks_run_in_registration_order_and_can_replace(self):
        x = leaf([1.0, 2.0])
        calls = []
        h1 = x.register_hook(lambda g: calls.append(("h1", g.tolist())) or g * 2)
        x.register_hook(lambda g: calls.append(("h2", g.tolist())))
        (x * 3).sum().backward()
        assert calls == [("h1", [3.0, 3.0]), ("h2", [6.0, 6.0])]  # h2 sees h1's result
        assert x.grad.tolist() == [6.0, 6.0]
        h1.remove()
        h1.remove()  # removing twice is harmless
        (x * 3).sum().backward()
        assert calls[2:] == [("h2", [3.0, 3.0])]
        assert x.grad.tolist() == [9.0, 9.0]

    def test_non_leaf_hooks(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        calls = []
        y.register_hook(lambda g: calls.append(("a", g.tolist())) or g + 1)
        y.register_hook(lambda g: calls.append(("b", g.tolist())))
        y.retain_grad()
        (y * y).sum().backward()
        assert calls == [("a", [4.0, 8.0]), ("b", [5.0, 9.0])]
        assert y.grad.tolist() == [5.0, 9.0]  # retain_grad sees the hooked gradient
        assert x.grad.tolist() == [10.0, 18.0]

    def test_hooks_fire_from_root_to_leaves(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        z = y * 3
        order = []
        for t, name in ((x, "x"), (y, "y"), (z, "z")):
            t.register_hook(lambda g, name=name: order.append(name))
        z.sum().backward()
        assert order == ["z", "y", "x"]

    def test_hook_registered_after_retain_grad_still_changes_retained_grad(self):
        # PyTorch runs retain_grad's hook after every other tensor hook
        x = leaf([1.0, 2.0])
        y = x * 2
        y.retain_grad()
        y.register_hook(lambda g: g * 100)
        (y * 1).sum().backward()
        assert y.grad.tolist() == [100.0, 100.0] and x.grad.tolist() == [200.0, 200.0]

    def test_hook_handle_as_context_manager(self):
        x = leaf([1.0, 2.0])
        with x.register_hook(lambda g: g * 100):
            pass
        (x * 2).sum().backward()
        assert x.grad.tolist() == [2.0, 2.0]

    def test_hook_on_tensor_then_inplace(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        y.register_hook(lambda g: g * 100)
        y.add_(1)
        (y * 1).sum().backward()
        assert x.grad.tolist() == [200.0, 200.0]

    def test_hook_errors(self):
        with pytest.raises(
            RuntimeError, match="^cannot register a hook on a tensor that doesn't require gradient$"
        ):
            tg.ones(2).register_hook(lambda g: g)

    def test_hook_changing_shape_or_dtype_is_refused(self):
        x = leaf([1.0, 2.0])
        x.register_hook(lambda g: tg.ones(3))
        with pytest.raises(RuntimeError, match="^hook '<lambda>' has changed the size of value$"):
            (x * 2).sum().backward()
        y = leaf([1.0, 2.0])
        h = y * 2

        def to_double(g):
            return g.double()

        h.register_hook(to_double)
        with pytest.raises(RuntimeError) as e:
            (h * 2).sum().backward()
        assert str(e.value) == ("hook 'to_double' has changed the type of value "
                                "(was torch.FloatTensor got torch.DoubleTensor)")


class TestRetainGrad:
    def test_non_leaf_grad_warns_without_retain_grad(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        (y * y).sum().backward()
        with pytest.warns(UserWarning, match=r"^The \.grad attribute of a Tensor that is not a leaf") as rec:
            assert y.grad is None
        assert rec[0].filename == __file__  # points at the user's line
        assert "use .retain_grad() on the non-leaf Tensor" in str(rec[0].message)

    def test_leaf_and_retained_grad_do_not_warn(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        y.retain_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert x.grad is None and y.grad is None
            (y * y).sum().backward()
            assert y.grad.tolist() == [4.0, 8.0]

    def test_retain_grad_accumulates_and_resets(self):
        x = leaf([1.0, 1.0])
        y = x * 2
        y.retain_grad()
        z = (y * y).sum()
        z.backward(retain_graph=True)
        z.backward(retain_graph=True)
        assert y.grad.tolist() == [8.0, 8.0] and x.grad.tolist() == [16.0, 16.0]
        y.grad = None
        z.backward()
        assert y.grad.tolist() == [4.0, 4.0]

    def test_retain_grad_flags(self):
        x = leaf([1.0])
        x.retain_grad()
        assert not x.retains_grad  # a no-op on a leaf
        y = x * 2
        y.retain_grad()
        assert y.retains_grad and not y.is_leaf
        with pytest.raises(RuntimeError, match="^can't retain_grad on Tensor that has requires_grad=False$"):
            tg.ones(1).retain_grad()

    def test_retain_grad_then_inplace(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        y.retain_grad()
        y.add_(1)
        (y * 1).sum().backward()
        assert y.grad.tolist() == [1.0, 1.0] and x.grad.tolist() == [2.0, 2.0]

    def test_grad_assignment_checks(self):
        x = leaf([1.0, 2.0])
        with pytest.raises(RuntimeError) as e:
            x.grad = tg.zeros(3)
        assert str(e.value) == ("attempting to assign a gradient of size '[3]' to a tensor of size "
                                "'[2]'. Please ensure that the gradient and the tensor are the same size")
        with pytest.raises(RuntimeError, match="^attempting to assign a gradient with dtype 'double' to a "
                                               "tensor with grad_dtype 'Float'"):
            x.grad = tg.zeros(2, dtype=tg.float64)
        with pytest.raises(
            TypeError, match="^assigned grad expected to be a Tensor or None but got grad of type list$"
        ):
            x.grad = [1.0, 2.0]
        x.grad = tg.ones(2)
        (x * 2).sum().backward()
        assert x.grad.tolist() == [3.0, 3.0]
        del x.grad
        assert x.grad is None


class TestNodeHooks:
    def test_prehook_and_posthook(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        calls = []
        y.grad_fn.register_prehook(lambda go: calls.append(("pre", [g.tolist() for g in go])))
        y.grad_fn.register_hook(lambda gi, go: calls.append(
            ("post", [None if g is None else g.tolist() for g in gi], [g.tolist() for g in go])))
        (y * y).sum().backward()
        assert calls == [("pre", [[4.0, 8.0]]), ("post", [[8.0, 16.0], None], [[4.0, 8.0]])]

    def test_prehook_replaces_grad_outputs(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        y.grad_fn.register_prehook(lambda go: (go[0] * 10,))
        y.sum().backward()
        assert x.grad.tolist() == [20.0, 20.0]

    def test_posthook_replaces_grad_inputs(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        y.grad_fn.register_hook(lambda gi, go: (gi[0] * 10, None))
        y.sum().backward()
        assert x.grad.tolist() == [20.0, 20.0]

    def test_hook_returning_wrong_count(self):
        x = leaf([1.0, 2.0])
        y = x * 2

        def myhook(gi, go):
            return (gi[0],)

        y.grad_fn.register_hook(myhook)
        with pytest.raises(RuntimeError) as e:
            y.sum().backward()
        assert (
            str(e.value) == "hook 'myhook' has returned an incorrect number of values (got 1, but expected 2)"
        )
        z = x * 2
        z.grad_fn.register_prehook(lambda go: (go[0], go[0]))
        with pytest.raises(RuntimeError, match=r"^hook '<lambda>' has returned an incorrect number of "
                                               r"values \(got 2, but expected 1\)$"):
            z.sum().backward()

    def test_node_hook_handle_remove(self):
        x = leaf([1.0, 2.0])
        y = x.exp()
        calls = []
        h = y.grad_fn.register_prehook(lambda go: calls.append(1))
        h.remove()
        y.sum().backward()
        assert calls == []

    def test_accumulate_grad_hooks(self):
        x = leaf([1.0, 2.0])
        acc = (x * 2).grad_fn.next_functions[0][0]
        calls = []
        acc.register_prehook(lambda go: calls.append(("pre", [g.tolist() for g in go])))
        acc.register_hook(lambda gi, go: calls.append(("post", gi, [g.tolist() for g in go])))
        (x * 2).sum().backward()
        assert calls == [("pre", [[2.0, 2.0]]), ("post", (), [[2.0, 2.0]])]

    def test_post_accumulate_grad_hook(self):
        x = leaf([1.0, 2.0])
        seen = []
        x.register_hook(lambda g: seen.append(("hook", None if x.grad is None else x.grad.tolist())))
        x.register_post_accumulate_grad_hook(lambda t: seen.append(("post", t.grad.tolist())))
        (x * 3).sum().backward()
        (x * 3).sum().backward()
        assert seen == [("hook", None), ("post", [3.0, 3.0]), ("hook", [3.0, 3.0]), ("post", [6.0, 6.0])]

    def test_post_accumulate_grad_hook_only_on_leaves(self):
        y = leaf([1.0]) * 2
        with pytest.raises(
            RuntimeError, match="^post accumulate grad hooks cannot be registered on non-leaf tensors$"
        ):
            y.register_post_accumulate_grad_hook(lambda t: None)

    def test_post_accumulate_grad_hook_not_run_by_autograd_grad(self):
        x = leaf([1.0, 2.0])
        seen = []
        x.register_post_accumulate_grad_hook(lambda t: seen.append(1))
        tg.autograd.grad((x * 2).sum(), x)
        assert seen == [] and x.grad is None


# ==================================================================================== grad modes
class TestGradModes:
    def test_context_managers_and_nesting(self):
        x = leaf([1.0, 2.0])
        with tg.no_grad():
            assert not tg.is_grad_enabled()
            with tg.enable_grad():
                y = x * 2
            z = x * 2
        assert y.requires_grad and y.grad_fn is not None
        assert not z.requires_grad and z.grad_fn is None
        with tg.set_grad_enabled(False):
            w = x * 2
        assert not w.requires_grad and tg.is_grad_enabled()

    def test_set_grad_enabled_as_function(self):
        x = leaf([1.0])
        tg.set_grad_enabled(False)
        try:
            assert not tg.is_grad_enabled()
            assert not (x * 2).requires_grad
        finally:
            tg.set_grad_enabled(True)
        assert (x * 2).requires_grad

    def test_inference_mode(self):
        x = leaf([1.0])
        with tg.inference_mode():
            y = x * 2
            assert tg.is_inference_mode_enabled() and not tg.is_grad_enabled()
        with tg.inference_mode(False):
            z = x * 2
            assert not tg.is_inference_mode_enabled()
        assert not y.requires_grad and z.requires_grad
        assert not tg.is_inference_mode_enabled() and tg.is_grad_enabled()

    def test_decorators(self):
        x = leaf([1.0])

        @tg.no_grad()
        def f1(t):
            return t * 2

        @tg.no_grad
        def f2(t):
            return t * 2

        @tg.enable_grad()
        def f3(t):
            return t * 2

        @tg.inference_mode()
        def f4(t):
            return t * 2

        @tg.inference_mode
        def f5(t):
            return t * 2

        @tg.set_grad_enabled(False)
        def f6(t):
            return t * 2

        assert tg.is_grad_enabled()  # decorating with set_grad_enabled leaves the mode alone
        assert not f1(x).requires_grad and not f2(x).requires_grad
        assert not f4(x).requires_grad and not f5(x).requires_grad and not f6(x).requires_grad
        with tg.no_grad():
            assert f3(x).requires_grad
        assert tg.is_grad_enabled()
        assert f1.__name__ == "f1"

    def test_decorated_generator(self):
        x = leaf([1.0])

        @tg.no_grad()
        def gen():
            for i in range(3):
                sent = yield (x * i).requires_grad, tg.is_grad_enabled()
                assert sent in (None, "ping")

        out = []
        g = gen()
        out.append((next(g), tg.is_grad_enabled()))
        out.append((g.send("ping"), tg.is_grad_enabled()))
        for item in g:
            out.append((item, tg.is_grad_enabled()))
        assert out == [((False, False), True)] * 3

    def test_exception_restores_mode(self):
        with pytest.raises(ValueError), tg.no_grad():
            raise ValueError
        assert tg.is_grad_enabled()

    def test_thread_local(self):
        res = {}
        entered, release = threading.Event(), threading.Event()

        def worker():
            with tg.no_grad():
                entered.set()
                release.wait(5)
                res["worker"] = tg.is_grad_enabled()

        t = threading.Thread(target=worker)
        t.start()
        entered.wait(5)
        x = leaf([1.0])
        res["main"] = ((x * 2).requires_grad, tg.is_grad_enabled())
        release.set()
        t.join()

        def fresh():
            res["fresh"] = tg.is_grad_enabled()

        with tg.no_grad():
            t2 = threading.Thread(target=fresh)
            t2.start()
            t2.join()
        assert res == {"main": (True, True), "worker": False, "fresh": True}

    def test_requires_grad_under_no_grad(self):
        x = leaf([1.0])
        with tg.no_grad():
            y = x * 2
            y.requires_grad_()
        assert y.is_leaf and y.requires_grad
        (y * 3).sum().backward()
        assert y.grad.tolist() == [3.0] and x.grad is None


# ============================================================================ backward / grad API
class TestBackwardApi:
    def test_gradient_argument(self):
        x = leaf([1.0, 2.0])
        (x ** 2).backward(gradient=tg.tensor([1.0, 10.0]))
        assert x.grad.tolist() == [2.0, 40.0]

    def test_scalar_gradient_argument(self):
        x = leaf([1.0, 2.0])
        (x * 2).sum().backward(tg.tensor(2.0))
        assert x.grad.tolist() == [4.0, 4.0]

    def test_inputs_leaf_only(self):
        x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
        (x * w).sum().backward(inputs=[x])
        assert x.grad.tolist() == [3.0, 4.0] and w.grad is None
        (x * w).sum().backward(inputs=w)
        assert w.grad.tolist() == [1.0, 2.0] and x.grad.tolist() == [3.0, 4.0]

    def test_inputs_non_leaf(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        (y * y).sum().backward(inputs=[y])
        assert y.grad.tolist() == [4.0, 8.0] and x.grad is None

    def test_inputs_unused_and_empty(self):
        x, u = leaf([1.0, 2.0]), leaf([1.0, 2.0])
        (x * 2).sum().backward(inputs=[u])
        assert u.grad is None and x.grad is None
        with pytest.raises(RuntimeError, match=r"^`inputs` argument to `backward\(\)` cannot be empty.$"):
            (x * 2).sum().backward(inputs=[])

    def test_autograd_backward_several_roots(self):
        x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
        tg.autograd.backward([(x * y).sum(), (x * x).sum()])
        assert x.grad.tolist() == [5.0, 8.0] and y.grad.tolist() == [1.0, 2.0]
        z = leaf([1.0, 2.0])
        tg.autograd.backward([z * 2, z * 3], [tg.ones(2), tg.tensor([1.0, 2.0])])
        assert z.grad.tolist() == [5.0, 8.0]
        with pytest.raises(RuntimeError, match="^got 2 tensors and 1 gradients$"):
            tg.autograd.backward([z * 2, z * 3], [tg.ones(2)])

    def test_leaf_backward(self):
        x = leaf([1.0, 2.0])
        x.backward(tg.ones(2))
        x.backward(tg.ones(2))
        assert x.grad.tolist() == [2.0, 2.0]

    def test_create_graph_backward_warns_once(self):
        from tapegrad.autograd import engine
        engine._create_graph_warned = False
        x = leaf([1.0, 2.0])
        with pytest.warns(
            UserWarning, match="^Using backward\\(\\) with create_graph=True will create a reference cycle"
        ):
            (x * x).sum().backward(create_graph=True)
        assert x.grad.requires_grad and x.grad.grad_fn is not None
        assert x.grad.tolist() == [2.0, 4.0]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            (x * x).sum().backward(create_graph=True)  # once per process, like torch
        assert x.grad.tolist() == [4.0, 8.0]


class TestGradApi:
    def test_grad_outputs(self):
        x = leaf([1.0, 2.0])
        (g,) = tg.autograd.grad(x * x, x, grad_outputs=tg.tensor([1.0, 3.0]))
        assert g.tolist() == [2.0, 12.0] and x.grad is None

    def test_allow_unused(self):
        x, u = leaf([1.0, 2.0]), leaf([1.0, 2.0])
        gx, gu = tg.autograd.grad((x * x).sum(), [x, u], allow_unused=True)
        assert gx.tolist() == [2.0, 4.0] and gu is None
        with pytest.raises(RuntimeError) as e:
            tg.autograd.grad((x * x).sum(), [x, u])
        assert str(e.value) == ("The differentiated Tensor at index 1 appears to not have been used "
                                "in the graph. Set allow_unused=True if this is the desired behavior.")
        gx, gu = tg.autograd.grad((x * x).sum(), [x, u], materialize_grads=True)
        assert gu.tolist() == [0.0, 0.0]

    def test_grad_errors(self):
        x = leaf([1.0, 2.0])
        with pytest.raises(RuntimeError, match="^grad can be implicitly created only for scalar outputs$"):
            tg.autograd.grad(x * x, x)
        with pytest.raises(RuntimeError, match="^element 0 of tensors does not require grad"):
            tg.autograd.grad((tg.ones(2) * 2).sum(), x)
        with pytest.raises(RuntimeError, match=r"^`inputs` argument to `grad\(\)` cannot be empty.$"):
            tg.autograd.grad((x * 2).sum(), [])
        with pytest.raises(
            RuntimeError,
            match=r"Mismatch in shape: grad_output\[0\] has a shape of "
            r"torch.Size\(\[1\]\) and output\[0\] has a shape of torch.Size\(\[\]\).",
        ):
            tg.autograd.grad(x.sum(), x, grad_outputs=tg.tensor([1.0]))

    def test_grad_wrt_non_leaf_and_leaf(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        gy, gx = tg.autograd.grad((y * y).sum(), [y, x])
        assert gy.tolist() == [4.0, 8.0] and gx.tolist() == [8.0, 16.0]

    def test_grad_of_x_cubed(self):
        x = leaf(2.0)
        (g,) = tg.autograd.grad(x ** 3, x, create_graph=True)
        (gg,) = tg.autograd.grad(g, x, create_graph=True)
        (ggg,) = tg.autograd.grad(gg, x)
        assert (g.item(), gg.item(), ggg.item()) == (12.0, 12.0, 6.0)
        assert g.requires_grad and not ggg.requires_grad

    def test_grad_of_grad_is_6x(self):
        xs = np.array([-1.5, 0.0, 0.5, 2.0])
        x = leaf(xs, dtype=tg.float64)
        (g,) = tg.autograd.grad((x ** 3).sum(), x, create_graph=True)
        (gg,) = tg.autograd.grad(g.sum(), x)
        np.testing.assert_allclose(np_(gg), 6 * xs)

    def test_hessian_vector_product(self):
        # f(x) = sum(x^3) + x0*x1 + sin(x2); H = diag(6x) + [[.,1,.],[1,.,.],[.,.,-sin x2]]
        xs = np.array([0.5, -1.0, 0.3])
        v = np.array([1.0, 2.0, -1.0])
        x = leaf(xs, dtype=tg.float64)
        f = (x ** 3).sum() + x[0] * x[1] + x[2].sin()
        (g,) = tg.autograd.grad(f, x, create_graph=True)
        (hv,) = tg.autograd.grad((g * tg.tensor(v)).sum(), x)
        H = np.diag(6 * xs)
        H[0, 1] = H[1, 0] = 1.0
        H[2, 2] += -np.sin(xs[2])
        np.testing.assert_allclose(np_(hv), H @ v, rtol=1e-12)

    def test_full_hessian_rows(self):
        xs = np.array([0.7, -0.2])
        x = leaf(xs, dtype=tg.float64)
        f = x[0] ** 2 * x[1] + x[1].exp()
        (g,) = tg.autograd.grad(f, x, create_graph=True)
        rows = [np_(tg.autograd.grad(g[i], x, retain_graph=True)[0]) for i in range(2)]
        expected = [[2 * xs[1], 2 * xs[0]], [2 * xs[0], np.exp(xs[1])]]
        np.testing.assert_allclose(rows, expected, rtol=1e-12)

    def test_gradient_penalty_graph_flows_to_weights(self):
        rng = np.random.default_rng(0)
        x = leaf(rng.standard_normal((4, 3)), dtype=tg.float64)
        w = leaf(rng.standard_normal((3, 2)), dtype=tg.float64)
        out = (x @ w).tanh().sum()
        (g,) = tg.autograd.grad(out, x, create_graph=True)
        pen = (g.norm(2, dim=1) - 1).pow(2).mean()
        pen.backward()
        assert w.grad is not None and x.grad is not None
        # finite differences on w
        eps = 1e-6
        W0 = w.detach().numpy().copy()

        def penalty(W):
            xx = leaf(x.detach().numpy().copy(), dtype=tg.float64)
            o = (xx @ tg.tensor(W)).tanh().sum()
            (gg,) = tg.autograd.grad(o, xx)
            return float(((np.linalg.norm(gg.numpy(), axis=1) - 1) ** 2).mean())

        num = np.zeros_like(W0)
        for idx in np.ndindex(*W0.shape):
            Wp, Wm = W0.copy(), W0.copy()
            Wp[idx] += eps
            Wm[idx] -= eps
            num[idx] = (penalty(Wp) - penalty(Wm)) / (2 * eps)
        np.testing.assert_allclose(np_(w.grad), num, rtol=1e-5, atol=1e-8)


# ========================================================================== autograd.Function
class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class ScaleAndSin(Function):
    """Two differentiable outputs, one non-differentiable, a non-tensor argument."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        ctx.save_for_backward(x)
        mask = x > 0
        ctx.mark_non_differentiable(mask)
        return x * k, x.sin(), mask

    @staticmethod
    def backward(ctx, g1, g2, g3):
        (x,) = ctx.saved_tensors
        return g1 * ctx.k + g2 * x.cos(), None


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


class TestFunction:
    def test_basic(self):
        x = leaf([0.5, -1.0])
        y = Exp.apply(x)
        assert y.grad_fn.name() == "ExpBackward" and type(y.grad_fn).__name__ == "ExpBackward"
        assert y.requires_grad and not y.is_leaf
        assert repr(y).endswith("grad_fn=<ExpBackward>)")
        y.sum().backward()
        np.testing.assert_allclose(np_(x.grad), np.exp([0.5, -1.0]), rtol=1e-6)

    def test_backward_twice_and_saved_tensors_after_free(self):
        x = leaf([0.5, -1.0])
        y = Exp.apply(x)
        s = y.sum()
        s.backward()
        with pytest.raises(RuntimeError, match="^Trying to backward through the graph a second time"):
            s.backward()
        with pytest.raises(RuntimeError, match="^Trying to backward through the graph a second time"):
            y.grad_fn.saved_tensors

    def test_retain_graph(self):
        x = leaf([0.5, -1.0])
        s = Exp.apply(x).sum()
        s.backward(retain_graph=True)
        s.backward()
        np.testing.assert_allclose(np_(x.grad), 2 * np.exp([0.5, -1.0]), rtol=1e-6)

    def test_multiple_outputs_and_non_differentiable(self):
        x = leaf([0.5, -1.0])
        a, b, mask = ScaleAndSin.apply(x, 3.0)
        assert not mask.requires_grad and mask.grad_fn is None
        assert a.grad_fn is b.grad_fn and (a.output_nr, b.output_nr) == (0, 1)
        # only tensor arguments are graph edges (torch): k is not
        assert len(a.grad_fn.next_functions) == 1
        (a + b).sum().backward()
        np.testing.assert_allclose(np_(x.grad), 3 + np.cos([0.5, -1.0]), rtol=1e-6)

    def test_unused_output_gets_zero_grad(self):
        x = leaf([0.5, -1.0])
        a, b, _ = ScaleAndSin.apply(x, 3.0)
        b.sum().backward()  # g1 is materialized as zeros
        np.testing.assert_allclose(np_(x.grad), np.cos([0.5, -1.0]), rtol=1e-6)

    def test_needs_input_grad_and_none_grads(self):
        class F(Function):
            @staticmethod
            def forward(ctx, a, b, c):
                ctx.seen = tuple(ctx.needs_input_grad)
                return a * 2 + b + c

            @staticmethod
            def backward(ctx, g):
                return g * 2, None, None

        a, b, c = leaf([1.0, 1.0]), tg.ones(2), leaf([1.0, 1.0])
        y = F.apply(a, b, c)
        assert y.grad_fn.seen == (True, False, True)
        y.sum().backward()
        assert a.grad.tolist() == [2.0, 2.0] and c.grad is None and b.grad is None

    def test_non_tensor_argument_positions(self):
        class G(Function):
            @staticmethod
            def forward(ctx, k, x):
                ctx.seen = tuple(ctx.needs_input_grad)
                return x * k

            @staticmethod
            def backward(ctx, g):
                return None, g * 2, None  # a trailing None is tolerated

        x = leaf([1.0, 2.0])
        y = G.apply(2.0, x)
        assert y.grad_fn.seen == (False, True)
        y.sum().backward()
        assert x.grad.tolist() == [2.0, 2.0]

    def test_grad_for_non_tensor_argument_is_an_error(self):
        class H(Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * k

            @staticmethod
            def backward(ctx, g):
                return g, g

        with pytest.raises(RuntimeError) as e:
            H.apply(leaf([1.0]), 2.0).sum().backward()
        assert str(e.value) == ("function HBackward returned a gradient different than None at "
                                "position 2, but the corresponding forward input was not a Variable")

    def test_wrong_number_of_grads(self):
        class W(Function):
            @staticmethod
            def forward(ctx, x, y):
                return x * y

            @staticmethod
            def backward(ctx, g):
                return g

        x = leaf([1.0])
        with pytest.raises(RuntimeError, match=r"^function WBackward returned an incorrect number of "
                                               r"gradients \(expected 2, got 1\)$"):
            W.apply(x, x).sum().backward()

    def test_apply_without_recording(self):
        x = leaf([0.5])
        with tg.no_grad():
            y = Exp.apply(x)
        assert not y.requires_grad and y.grad_fn is None
        z = Exp.apply(tg.tensor([0.5]))
        assert not z.requires_grad and z.grad_fn is None

    def test_input_returned_as_is(self):
        class Ident(Function):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 2

        x = leaf([1.0, 2.0])
        y = Ident.apply(x)
        assert y is not x and not y.is_leaf and x.is_leaf
        y.sum().backward()
        assert x.grad.tolist() == [2.0, 2.0]

    def test_saved_tensor_modified_in_place(self):
        class Save(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * x

        x = leaf([1.0, 1.0])
        h = x * 1
        y = Save.apply(h)
        h.add_(1)
        with pytest.raises(RuntimeError, match="^one of the variables needed for gradient computation has "
                                               r"been modified by an inplace operation: \[torch.FloatTensor "
                                               r"\[2\]\], which is output 0 of Add, is at version 1"):
            y.sum().backward()

    def test_inplace_error_names_the_write_after_the_save(self):
        """The first in-place write to a fresh tensor skips the source lookup (nothing can have
        saved it yet); a write after a node saved it is named, file and line."""
        import inspect
        x = leaf([1.0, 2.0])
        h = x * 1
        h.mul_(2)                                   # before any node saved h
        y = h.sin()                                 # saves h at version 1
        line = inspect.currentframe().f_lineno + 1
        h.add_(1)
        with pytest.raises(RuntimeError, match=rf"It was modified by add_ at {__file__}:{line} in "):
            y.sum().backward()

    def test_double_backward_through_function(self):
        x = leaf(2.0)
        (g,) = tg.autograd.grad(Cube.apply(x), x, create_graph=True)
        (gg,) = tg.autograd.grad(g, x)
        assert g.item() == 12.0 and gg.item() == 12.0

    def test_gradcheck(self):
        x = leaf([0.5, -1.0, 0.25], dtype=tg.float64)
        assert tg.autograd.gradcheck(Exp.apply, (x,))
        assert tg.autograd.gradcheck(lambda t: ScaleAndSin.apply(t, 2.0)[:2], (x,))
        assert tg.autograd.gradcheck(Cube.apply, (x,))
        assert tg.autograd.gradgradcheck(Cube.apply, (x,))

    def test_gradcheck_catches_wrong_backward(self):
        class Bad(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 3

        x = leaf([0.5, -1.0], dtype=tg.float64)
        assert tg.autograd.gradcheck(Bad.apply, (x,), raise_exception=False) is False
        with pytest.raises(
            tg.autograd.GradcheckError, match="^Jacobian mismatch for output 0 with respect to input 0"
        ):
            tg.autograd.gradcheck(Bad.apply, (x,))

    def test_saved_output_makes_no_reference_cycle(self):
        import gc
        import weakref
        x = leaf(np.ones(1000))
        gc.disable()
        try:
            y = Exp.apply(x * 2)  # saves its own output
            ref = weakref.ref(y.grad_fn)
            del y
            assert ref() is None  # freed by reference counting alone
        finally:
            gc.enable()

    def test_saved_output_unpacks_with_node_as_grad_fn(self):
        x = leaf([0.5, 1.0])
        y = Exp.apply(x)
        (s,) = y.grad_fn.saved_tensors
        assert s.grad_fn is y.grad_fn and s.tolist() == y.tolist()
        (g,) = tg.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = tg.autograd.grad(g.sum(), x)
        np.testing.assert_allclose(np_(gg), np.exp([0.5, 1.0]), rtol=1e-6)

    def test_saved_output_modified_in_place(self):
        x = leaf([0.5, 1.0])
        y = Exp.apply(x)
        y.mul_(2)
        with pytest.raises(RuntimeError, match=r"\[torch.FloatTensor \[2\]\], which is output 0 of Exp, "
                                               r"is at version 1; expected version 0 instead"):
            y.sum().backward()

    def test_saved_tensors_released_after_backward(self):
        import gc
        import weakref
        x = leaf(np.ones(1000))
        h = x * 2
        y = SaveInput.apply(h)
        ref = weakref.ref(h._data)
        del h
        gc.collect()
        assert ref() is not None
        y.sum().backward()
        gc.collect()
        assert ref() is None and y.grad_fn is not None


class SaveInput(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3

"""The backward engine: graph shape, scheduling, memory, saved-value checks and in-place semantics.

Expected values come from PyTorch (run the same code in torch to re-derive them);
tests/parity/test_engine_parity.py compares many of the same scenarios against torch live.
"""
from __future__ import annotations

import gc
import inspect
import re
import sys
import tracemalloc
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd.graph import AccumulateGrad

FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
         "after they have already been freed). Saved intermediate values of the graph are freed "
         "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
         "backward through the graph a second time or if you need to access saved tensors after "
         "calling backward.")
MODIFIED = ("one of the variables needed for gradient computation has been modified by an "
            "inplace operation")


def leaf(values, dtype=None):
    return tg.tensor(values, dtype=dtype, requires_grad=True)


def np_(t):
    return t.detach().numpy()


def _line_of(marker):
    """Line number (in this file) of the source line containing ``marker``."""
    src, start = inspect.getsourcelines(sys.modules[__name__])
    for i, line in enumerate(src):
        if marker in line and "_line_of" not in line:
            return start + i if start else i + 1
    raise AssertionError(marker)


# =============================================================================== graph shapes
class TestDiamondAndSharing:
    def test_diamond_sums_gradients_and_runs_shared_node_once(self):
        x = leaf([0.5, -1.0, 2.0])
        a = x * 2  # shared by both branches
        calls = []
        a.grad_fn.register_prehook(lambda go: calls.append([g.tolist() for g in go]))
        b = a.exp()
        c = a.sin()
        d = (b + c).sum()
        d.backward()
        # the shared node received ONE summed gradient: exp(a) + cos(a)
        assert len(calls) == 1
        av = np.array([1.0, -2.0, 4.0], dtype=np.float32)
        np.testing.assert_allclose(calls[0][0], np.exp(av) + np.cos(av), rtol=1e-6)
        np.testing.assert_allclose(np_(x.grad), 2 * (np.exp(av) + np.cos(av)), rtol=1e-6)

    def test_leaves_sharing_one_array_keep_their_own_gradients(self):
        # x.detach() twice gives two leaves over the very same array object: the saved
        # values of a * b must still be told apart (a double backward follows them)
        x = tg.tensor([0.5, -1.0, 2.0], dtype=tg.float64)
        a = x.detach().requires_grad_()
        b = x.detach().requires_grad_()
        g, = tg.autograd.grad((a * b).sum(), a, create_graph=True)  # g = b
        ga, gb = tg.autograd.grad(g.sum(), (a, b), allow_unused=True)
        assert ga is None and gb.tolist() == [1.0, 1.0, 1.0]
        c = tg.from_numpy(x.numpy()).requires_grad_()  # three leaves, one array
        g, = tg.autograd.grad((a * b * c).sum(), b, create_graph=True)  # g = a * c
        ga, gb, gc = tg.autograd.grad(g.sum(), (a, b, c), allow_unused=True)
        assert gb is None and ga.tolist() == gc.tolist() == x.tolist()

    def test_same_tensor_used_many_times(self):
        x = leaf([1.0, 2.0])
        y = x * x
        z = (y + y + y).sum()  # 3 x^2
        z.backward()
        assert x.grad.tolist() == [6.0, 12.0]

    def test_self_product_gradient(self):
        x = leaf([3.0])
        (x * x * x).sum().backward()
        assert x.grad.tolist() == [27.0]

    def test_nested_diamonds_each_node_once(self):
        x = leaf([1.5])
        runs = {}
        h = x
        for i in range(20):
            left, right = h * 1.0, h * 1.0
            h = left + right
            h.grad_fn.register_prehook(lambda go, i=i: runs.__setitem__(i, runs.get(i, 0) + 1))
        h.sum().backward()
        assert runs == {i: 1 for i in range(20)}
        assert x.grad.tolist() == [2.0 ** 20]

    def test_multiple_outputs_of_one_node(self):
        x = leaf([1.0, 2.0, 3.0, 4.0])
        a, b = x.split(2)
        (a * 3).sum().add((b * b).sum()).backward()
        assert x.grad.tolist() == [3.0, 3.0, 6.0, 8.0]

    def test_unused_output_of_multi_output_node(self):
        x = leaf([1.0, 2.0, 3.0, 4.0])
        a, b = x.split(2)
        (b * 2).sum().backward()
        assert x.grad.tolist() == [0.0, 0.0, 2.0, 2.0]

    def test_broadcast_gradient_reduced_to_input_shape(self):
        x = leaf([[1.0], [2.0]])
        b = leaf([10.0, 20.0, 30.0])
        (x * b).sum().backward()
        assert x.grad.shape == (2, 1) and x.grad.tolist() == [[60.0], [60.0]]
        assert b.grad.tolist() == [3.0, 3.0, 3.0]


class TestLongChains:
    def test_mul_chain_100k_no_recursion_error(self):
        x = leaf(1.0)
        y = x
        for _ in range(100_000):
            y = y * 1.0001
        y.backward()
        # float32 throughout, as in torch (torch gives exactly 22051.8848 here as well)
        assert x.grad.item() == pytest.approx(22051.8848, rel=1e-6)

    def test_add_chain_100k_no_recursion_error(self):
        x = leaf([1.0, 2.0])
        y = x
        for _ in range(100_000):
            y = y + x
        y.sum().backward()
        assert x.grad.tolist() == [100_001.0, 100_001.0]

    def test_deep_chain_can_be_dropped_without_recursion_error(self):
        x = leaf(1.0)
        y = x
        for _ in range(100_000):
            y = y * 1.0
        del y  # freeing a deep graph must not recurse either
        gc.collect()


# ================================================================================ retain_graph
class TestRetainGraph:
    def test_retain_graph_allows_second_backward_and_accumulates(self):
        x = leaf([1.0, 2.0])
        z = (x.exp() * x).sum()
        z.backward(retain_graph=True)
        first = x.grad.clone()
        z.backward()
        np.testing.assert_allclose(np_(x.grad), 2 * np_(first), rtol=1e-6)

    def test_second_backward_without_retain_graph_raises(self):
        x = leaf([1.0, 2.0])
        z = (x * x).sum()
        z.backward()
        with pytest.raises(RuntimeError) as e:
            z.backward()
        assert str(e.value) == FREED

    def test_graph_without_saved_tensors_can_run_twice(self):
        # torch: (a + b).sum() saves nothing, so a second backward is fine
        a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
        s = (a + b).sum()
        s.backward()
        s.backward()
        assert a.grad.tolist() == [2.0, 2.0] and b.grad.tolist() == [2.0, 2.0]

    def test_mul_by_constant_saves_and_refuses_second_backward(self):
        a = leaf([1.0, 2.0])
        s = (a * 2).sum()
        s.backward()
        with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
            s.backward()

    def test_autograd_grad_twice(self):
        x = leaf([1.0, 2.0])
        y = (x * x).sum()
        tg.autograd.grad(y, x, retain_graph=True)
        tg.autograd.grad(y, x)
        with pytest.raises(RuntimeError, match=re.escape(FREED)):
            tg.autograd.grad(y, x)

    def test_create_graph_implies_retain_graph(self):
        x = leaf([1.0, 2.0])
        y = (x ** 3).sum()
        tg.autograd.grad(y, x, create_graph=True)
        (g,) = tg.autograd.grad(y, x)  # still allowed
        assert g.tolist() == [3.0, 12.0]

    def test_three_retained_backwards(self):
        x = leaf([1.0, 2.0])
        s = x.exp().sum()
        s.backward(retain_graph=True)
        s.backward(retain_graph=True)
        s.backward()
        np.testing.assert_allclose(np_(x.grad), 3 * np.exp([1.0, 2.0]), rtol=1e-6)


class TestGradientOwnership:
    """A leaf's first gradient is taken without a copy only when nothing but the engine holds
    its memory; every other holder must keep its own values when ``.grad`` is then changed
    in place (the optimizer's ``p.grad.add_``, ``zero_grad(set_to_none=False)``)."""

    @pytest.mark.parametrize("as_view", [False, True], ids=["array", "view-of-it"])
    def test_gradient_kept_by_a_custom_function_is_copied(self, as_view):
        kept = []

        class Keep(tg.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                out = g * 2
                kept.append(out)
                return out.view(2) if as_view else out

        x = leaf([1.0, 2.0])
        Keep.apply(x).sum().backward()
        x.grad.add_(100.0)
        np.testing.assert_array_equal(np_(kept[0]), [2.0, 2.0])

    def test_gradient_seen_by_a_tensor_hook_is_copied(self):
        seen = []
        x = leaf([1.0, 2.0, 3.0])
        y = x + 0.0               # AddBackward hands its incoming gradient on unchanged
        y.register_hook(seen.append)
        (y * tg.tensor([1.0, 2.0, 3.0])).sum().backward()
        x.grad.mul_(0.0)
        np.testing.assert_array_equal(np_(seen[0]), [1.0, 2.0, 3.0])

    def test_gradient_of_two_leaves_from_one_array_is_two_arrays(self):
        a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
        ((a + b) * tg.tensor([1.0, 2.0])).sum().backward()
        a.grad.add_(1.0)
        np.testing.assert_array_equal(np_(b.grad), [1.0, 2.0])
        assert not np.shares_memory(np_(a.grad), np_(b.grad))

    def test_user_gradient_is_not_taken(self):
        x = leaf([1.0, 2.0])
        g = tg.tensor([5.0, 6.0])
        (x + 0.0).backward(g)
        x.grad.zero_()
        np.testing.assert_array_equal(np_(g), [5.0, 6.0])

    def test_view_gradient_with_other_holders_is_copied(self):
        # the weight's gradient reaches it as a transposed view (TBackward0) of a product:
        # taken whole only when nothing else holds that product
        lin = tg.nn.Linear(3, 2)
        x = tg.randn(4, 3)
        lin(x).sum().backward()
        w = np_(lin.weight.grad)
        assert w.flags.c_contiguous and w.shape == (2, 3)
        np.testing.assert_allclose(w, np.tile(np_(x).sum(0), (2, 1)), rtol=1e-6)
        grads = {n: np_(p.grad) for n, p in lin.named_parameters()}
        assert not np.shares_memory(grads["weight"], grads["bias"])


# ====================================================================================== memory
class TestMemory:
    def test_saved_arrays_released_after_backward(self):
        x = leaf(np.ones(1000))
        h = x * 3
        y = h.sin()  # saves h's array
        saved = [s for s in y.grad_fn.saved if isinstance(s, np.ndarray)]
        assert saved, "sin should save its input"
        ref = weakref.ref(saved[0])
        del saved, h
        gc.collect()
        assert ref() is not None  # the graph holds it until backward
        z = y.sum()
        z.backward()
        gc.collect()
        assert ref() is None  # y and its grad_fn are alive, the saved array is not
        assert y.grad_fn is not None

    def test_saved_arrays_kept_with_retain_graph(self):
        x = leaf(np.ones(1000))
        h = x * 3
        y = h.sin()
        ref = weakref.ref(next(s for s in y.grad_fn.saved if isinstance(s, np.ndarray)))
        del h
        y.sum().backward(retain_graph=True)
        gc.collect()
        assert ref() is not None

    def test_dropped_graph_is_freed_without_gc(self):
        x = leaf(np.ones(10))
        big = np.ones(500_000)
        ref = weakref.ref(big)
        bt = tg.from_numpy(big)
        y = (x.sum() * bt).exp().sum()
        node_ref = weakref.ref(y.grad_fn)
        del big, bt
        gc.disable()
        try:
            del y
            # no reference cycles: plain reference counting frees the whole graph
            assert ref() is None
            assert node_ref() is None
        finally:
            gc.enable()

    def test_dropped_graph_with_views_and_inplace_is_freed(self):
        x = leaf(np.ones(1000))
        gc.disable()
        try:
            y = x * 2
            y[:10].mul_(3)
            z = y.view(10, 100).t().exp().sum()
            ref = weakref.ref(z.grad_fn)
            del y, z
            assert ref() is None
        finally:
            gc.enable()

    def test_retain_grad_does_not_keep_graph_alive(self):
        x = leaf(np.ones(10))
        gc.disable()
        try:
            y = x * 2
            y.retain_grad()
            z = (y * y).sum()
            ref_y = weakref.ref(y)
            ref_fn = weakref.ref(z.grad_fn)
            del y, z
            assert ref_y() is None and ref_fn() is None
        finally:
            gc.enable()

    def test_tracemalloc_memory_returned_after_backward(self):
        x = leaf(np.ones(200_000, dtype=np.float32))  # 800 kB per intermediate
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            y = x
            for _ in range(20):
                y = (y * 1.0001).sin()  # each sin saves its 800 kB input
            held = tracemalloc.get_traced_memory()[0] - base
            y.sum().backward()
            gc.collect()
            after = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        assert held > 20 * 800_000 * 0.9
        # what remains: x.grad and y (the output), not the 20 saved inputs
        assert after < 4 * 800_000


# ====================================================================================== errors
class TestErrors:
    def test_non_scalar_root_needs_gradient(self):
        x = leaf([1.0, 2.0])
        with pytest.raises(RuntimeError, match="^grad can be implicitly created only for scalar outputs$"):
            (x * 2).backward()

    def test_root_not_requiring_grad(self):
        with pytest.raises(RuntimeError) as e:
            tg.ones(2).sum().backward()
        assert str(e.value) == "element 0 of tensors does not require grad and does not have a grad_fn"

    def test_second_root_not_requiring_grad(self):
        x = leaf([1.0])
        with pytest.raises(RuntimeError, match="^element 1 of tensors does not require grad"):
            tg.autograd.backward([x.sum(), tg.ones(1).sum()])

    def test_gradient_shape_mismatch(self):
        x = leaf([1.0, 2.0])
        with pytest.raises(RuntimeError) as e:
            (x * 2).backward(tg.ones(3))
        assert str(e.value) == ("Mismatch in shape: grad_output[0] has a shape of torch.Size([3]) "
                                "and output[0] has a shape of torch.Size([2]).")

    def test_gradient_of_other_dtype_is_cast(self):
        x = leaf([1.0, 2.0])
        (x * 2).sum().backward(tg.tensor(2, dtype=tg.int64))
        assert x.grad.tolist() == [4.0, 4.0] and x.grad.dtype == tg.float32

    def test_requires_grad_on_int_tensor(self):
        with pytest.raises(
            RuntimeError, match="^Only Tensors of floating point and complex dtype can require gradients$"
        ):
            tg.tensor([1, 2], requires_grad=True)
        with pytest.raises(
            RuntimeError, match="^only Tensors of floating point dtype can require gradients$"
        ):
            tg.tensor([1, 2]).requires_grad_()
        t = tg.tensor([1, 2])
        with pytest.raises(
            RuntimeError, match="^only Tensors of floating point and complex dtype can require gradients$"
        ):
            t.requires_grad = True
        t.requires_grad_(False)  # turning it off is fine

    def test_set_requires_grad_on_non_leaf(self):
        x = leaf([1.0])
        y = x * 2
        with pytest.raises(RuntimeError) as e:
            y.requires_grad = False
        assert str(e.value) == (
            "you can only change requires_grad flags of leaf variables. If you want to use a "
            "computed variable in a subgraph that doesn't require differentiation use "
            "var_no_grad = var.detach().")
        with pytest.raises(RuntimeError) as e:
            y.requires_grad = True
        assert str(e.value) == "you can only change requires_grad flags of leaf variables."
        assert y.requires_grad_(True) is y  # the method is a no-op here, like torch
        with pytest.raises(RuntimeError, match="var_no_grad = var.detach"):
            y.requires_grad_(False)

    def test_inplace_on_leaf_requiring_grad(self):
        x = leaf([1.0, 2.0])
        with pytest.raises(RuntimeError) as e:
            x.add_(1)
        assert str(e.value) == "a leaf Variable that requires grad is being used in an in-place operation."
        with pytest.raises(RuntimeError, match="^a view of a leaf Variable that requires grad"):
            x[1:].mul_(2)
        with pytest.raises(RuntimeError, match="^a view of a leaf Variable that requires grad"):
            x[0].mul_(2)  # 0-d view (an int index)
        assert x.tolist() == [1.0, 2.0]

    def test_inplace_on_leaf_allowed_under_no_grad(self):
        x = leaf([1.0, 2.0])
        with tg.no_grad():
            x.add_(1)
            x[0].mul_(10)
        assert x.tolist() == [20.0, 3.0] and x.is_leaf and x.requires_grad

    def test_modified_output_names_op_and_source_line(self):
        x = leaf([1.0, 2.0, 3.0])
        y = x.sigmoid()
        y.mul_(2)  # MARK-sigmoid-mul
        with pytest.raises(RuntimeError) as e:
            y.sum().backward()
        msg = str(e.value)
        assert msg.startswith(
            MODIFIED + ": [torch.FloatTensor [3]], which is output 0 of Sigmoid, is at version 1; "
            "expected version 0 instead.")
        assert "It was modified by mul_" in msg
        assert f"{__file__}:{_line_of('MARK-sigmoid-mul')}" in msg
        assert "test_modified_output_names_op_and_source_line" in msg

    def test_modified_input_names_op_and_source_line(self):
        x = leaf([1.0, 2.0])
        y = x * 1
        z = y * y
        y.add_(1)  # MARK-y-add
        with pytest.raises(RuntimeError) as e:
            z.sum().backward()
        msg = str(e.value)
        assert msg.startswith(
            MODIFIED + ": [torch.FloatTensor [2]], which is output 0 of Add, is at version 1; "
            "expected version 0 instead.")
        assert "It was modified by add_" in msg
        assert f"{__file__}:{_line_of('MARK-y-add')}" in msg

    def test_modified_leaf_under_no_grad(self):
        w = leaf([1.0, 2.0])
        loss = (w * w).sum()
        with tg.no_grad():
            w.sub_(0.1)  # an optimizer step before backward
        with pytest.raises(RuntimeError) as e:
            loss.backward()
        # torch names no owner for a leaf
        assert str(e.value).startswith(MODIFIED + ": [torch.FloatTensor [2]] is at version 1; "
                                       "expected version 0 instead.")

    def test_modified_constant_input(self):
        x = leaf([1.0, 2.0])
        c = tg.ones(2)
        y = x * c
        c.add_(1)
        with pytest.raises(RuntimeError, match=re.escape(MODIFIED)):
            y.sum().backward()

    def test_modified_twice_reports_latest_version(self):
        x = leaf([1.0])
        y = x.exp()
        y.add_(1)
        y.add_(1)
        with pytest.raises(RuntimeError, match=r"is at version 2; expected version 0 instead"):
            y.backward()

    def test_inplace_on_tensor_not_needed_by_backward_is_fine(self):
        x = leaf([1.0, 2.0])
        y = x + 1  # AddBackward saves nothing
        z = y * 2  # saves only the constant
        y.add_(5)
        z.sum().backward()
        assert x.grad.tolist() == [2.0, 2.0]

    def test_error_leaves_grad_mode_enabled(self):
        x = leaf([1.0])
        y = x.exp()
        y.add_(1)
        with pytest.raises(RuntimeError):
            y.backward()
        assert tg.is_grad_enabled()


# ====================================================================== in-place semantics
class TestInplaceSemantics:
    def test_chain_of_inplace_ops(self):
        x = leaf([1.0, 2.0])
        y = x * 1
        y.add_(1)
        y.mul_(2)
        (y * y).sum().backward()
        # y = 2(x+1); d/dx sum(y^2) = 2y * 2
        assert x.grad.tolist() == [16.0, 24.0]
        assert y.grad_fn.name() == "MulBackward0"

    def test_setitem_with_value_requiring_grad(self):
        x = leaf([1.0, 2.0, 3.0])
        v = leaf(5.0)
        y = x * 2
        y[0] = v * v
        (y * tg.tensor([1.0, 2.0, 3.0])).sum().backward()
        assert x.grad.tolist() == [0.0, 4.0, 6.0]
        assert v.grad.item() == 10.0
        assert y.tolist() == [25.0, 4.0, 6.0]

    def test_setitem_under_no_grad_keeps_old_graph(self):
        x = leaf([1.0, 2.0, 3.0])
        y = x * 1
        with tg.no_grad():
            y[0] = 10
        (y * y).sum().backward()
        assert x.grad.tolist() == [20.0, 4.0, 6.0]

    def test_inplace_on_view_of_non_leaf(self):
        x = tg.arange(6.0).reshape(2, 3).requires_grad_()
        y = x * 1
        y[:, 0].mul_(2)
        (y * y).sum().backward()
        assert x.grad.tolist() == [[0.0, 2.0, 4.0], [24.0, 8.0, 10.0]]
        assert y.grad_fn.name() == "torch::autograd::CopySlices"
        assert repr(y.grad_fn).startswith("<CopySlices object at")

    def test_inplace_on_view_of_view_with_grad_value(self):
        x = tg.arange(6.0).reshape(2, 3).requires_grad_()
        t = leaf([10.0, 20.0])
        y = x * 1
        y.view(-1)[1:3].add_(t * t)
        (y * y).sum().backward()
        assert x.grad.tolist() == [[0.0, 202.0, 804.0], [6.0, 8.0, 10.0]]
        assert t.grad.tolist() == [4040.0, 32160.0]

    def test_inplace_on_zero_dim_view_writes_through(self):
        y = tg.zeros(3)
        y[1].add_(1)
        assert y.tolist() == [0.0, 1.0, 0.0]
        u = tg.zeros(3)
        u.unbind()[2].add_(5)
        assert u.tolist() == [0.0, 0.0, 5.0]

    def test_inplace_on_zero_dim_view_gradient(self):
        x = leaf([1.0, 2.0, 3.0])
        y = x * 1
        y[1].mul_(5)
        (y * y).sum().backward()
        assert x.grad.tolist() == [2.0, 100.0, 6.0]

    def test_view_sees_inplace_on_base(self):
        # torch regenerates v's grad_fn after y changes: gradient flows through mul_
        x = leaf([[1.0, 2.0], [3.0, 4.0]])
        y = x * 1
        v = y[0]
        y.mul_(2)
        (v * 3).sum().backward()
        assert x.grad.tolist() == [[6.0, 6.0], [0.0, 0.0]]

    def test_view_sees_inplace_on_sibling_view(self):
        x = leaf([1.0, 2.0, 3.0, 4.0])
        y = x * 1
        a = y[:2]
        b = y[1:3]
        b.mul_(10)  # overlaps a at index 1
        (a * 1).sum().backward()
        assert x.grad.tolist() == [1.0, 10.0, 0.0, 0.0]

    def test_saved_view_modified_through_base(self):
        x = leaf([[1.0, 2.0], [3.0, 4.0]])
        y = x * 1
        v = y[0]
        w = v * v
        y.mul_(2)
        with pytest.raises(RuntimeError, match=re.escape(MODIFIED)):
            w.sum().backward()

    def test_inplace_on_multi_output_view_is_refused(self):
        x = leaf([1.0, 2.0, 3.0, 4.0])
        msg = ("Output 1 of Split is a view and is being modified inplace. This view is the output "
               "of a function that returns multiple views. Such functions do not allow the output "
               "views to be modified inplace. You should replace the inplace operation by an "
               "out-of-place one.")
        with pytest.raises(RuntimeError) as e:
            (x * 1).split(2)[1].mul_(2)
        assert str(e.value) == msg
        with pytest.raises(RuntimeError, match="^Output 1 of Unbind is a view"):
            (x * 1).unbind()[1].mul_(2)
        with tg.no_grad():
            (x * 1).split(2)[0].add_(1)  # allowed without grad mode
        tg.ones(4).split(2)[0].add_(1)  # and without autograd

    def test_detach_shares_version_counter(self):
        x = leaf([1.0, 2.0])
        y = x.exp()
        d = y.detach()
        assert d._version == y._version == 0
        d.add_(1)
        assert y._version == 1 and d._version == 1
        with pytest.raises(RuntimeError) as e:
            y.sum().backward()
        assert str(e.value).startswith(
            MODIFIED + ": [torch.FloatTensor [2]], which is output 0 of Exp, is at version 1;")

    def test_data_does_not_share_version_counter(self):
        x = leaf([1.0, 2.0])
        y = x.exp()
        d = y.data
        d.add_(1)
        assert y._version == 0 and d._version == 1
        y.sum().backward()  # no error: .data bypasses the check (and gives a wrong-looking result)
        np.testing.assert_allclose(np_(x.grad), np.exp([1.0, 2.0]) + 1, rtol=1e-6)

    def test_version_counts(self):
        x = leaf([1.0, 2.0, 3.0])
        y = x * 1
        y.add_(1)
        y.add_(1)
        assert y._version == 2 and x._version == 0
        v = y[1:]
        v.mul_(2)
        assert y._version == 3 and v._version == 3

    def test_grad_accumulates_in_place(self):
        x = leaf([1.0, 2.0])
        (x * 2).sum().backward()
        g = x.grad
        (x * 2).sum().backward()
        assert g is x.grad and g.tolist() == [4.0, 4.0]


# ======================================================================= graph introspection
class TestGraphStructure:
    def test_next_functions_of_q(self):
        a = leaf([2.0, 3.0])
        b = leaf([6.0, 4.0])
        Q = 3 * a ** 3 - b ** 2
        fn = Q.grad_fn
        assert fn.name() == "SubBackward0"
        (mul, i0), (powb, i1) = fn.next_functions
        assert (i0, i1) == (0, 0)
        assert mul.name() == "MulBackward0" and powb.name() == "PowBackward0"
        (powa, j0), const = mul.next_functions
        assert powa.name() == "PowBackward0" and j0 == 0
        assert const == (None, 0)  # the scalar 3
        (acc_a, k), = powa.next_functions  # pow(Tensor, Scalar): one edge, like torch
        assert isinstance(acc_a, AccumulateGrad) and k == 0
        assert acc_a.variable is a
        assert acc_a.name() == "torch::autograd::AccumulateGrad"
        assert repr(acc_a).startswith("<AccumulateGrad object at")
        assert acc_a.next_functions == ()
        (acc_b, _), = powb.next_functions
        assert acc_b.variable is b
        # the AccumulateGrad of a leaf is one object while it is alive
        assert powa.next_functions[0][0] is acc_a

    @pytest.mark.parametrize("make, name, n_edges", [
        (lambda x: x + 2, "AddBackward0", 2),
        (lambda x: 2 - x, "RsubBackward1", 1),
        (lambda x: x * 2, "MulBackward0", 2),
        (lambda x: x / 2, "DivBackward0", 2),
        (lambda x: x ** 3, "PowBackward0", 1),
        (lambda x: x.pow(0.5), "PowBackward0", 1),
        (lambda x: 2 ** x, "PowBackward2", 1),
        (lambda x: -x, "NegBackward0", 1),
        (lambda x: x.sum(), "SumBackward0", 1),
    ])
    def test_node_names_and_edge_counts(self, make, name, n_edges):
        x = leaf([1.0, 2.0])
        fn = make(x).grad_fn
        assert fn.name() == name
        assert len(fn.next_functions) == n_edges

    def test_scalar_pow_and_rsub_gradients(self):
        x = leaf([1.0, 2.0])
        (x ** 3 + 2 ** x + (2 - x)).sum().backward()
        np.testing.assert_allclose(
            np_(x.grad), 3 * np.array([1.0, 4.0]) + np.log(2) * np.array([2.0, 4.0]) - 1, rtol=1e-6
        )

    def test_is_leaf_and_requires_grad_propagation(self):
        x = leaf([1.0, -2.0])
        c = tg.ones(2)
        assert x.is_leaf and c.is_leaf
        assert (x + c).requires_grad and not (x + c).is_leaf
        assert not (c + c).requires_grad and (c + c).grad_fn is None and (c + c).is_leaf
        assert not (x > 0).requires_grad  # comparisons are not differentiable
        assert not x.argmax().requires_grad
        assert not x.long().requires_grad
        assert (x.double()).requires_grad

    def test_detach(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        d = y.detach()
        assert d.is_leaf and not d.requires_grad and d.grad_fn is None
        d[0] = 100.0  # shares storage
        assert y.tolist()[0] == 100.0

    def test_detach_inplace(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        assert y.detach_() is y
        assert y.is_leaf and not y.requires_grad and y.grad_fn is None
        with pytest.raises(RuntimeError, match=r"^Can't detach views in-place. Use detach\(\) instead."):
            (x * 2)[1:].detach_()

    def test_requires_grad_(self):
        t = tg.ones(2)
        assert t.requires_grad_() is t and t.requires_grad and t.is_leaf
        t.requires_grad_(False)
        assert not t.requires_grad

    def test_no_node_under_no_grad(self):
        x = leaf([1.0, 2.0])
        with tg.no_grad():
            y = x * 2
            s = x.sum()
            v = x[0]
        for t in (y, s):
            assert t.grad_fn is None and not t.requires_grad and t.is_leaf
        # a view made under no_grad has no node either; like torch it reports its base's flag
        assert v.grad_fn is None and v.is_leaf and v.requires_grad
        with pytest.raises(RuntimeError, match="^A view was created in no_grad mode and is being "
                                               "modified inplace with grad mode enabled."):
            v.add_(1)

    def test_output_nr(self):
        x = leaf([1.0, 2.0, 3.0])
        a, b, c = x.split(1)
        assert (a.output_nr, b.output_nr, c.output_nr) == (0, 1, 2)
        assert a.grad_fn is b.grad_fn

"""Engine and autograd semantics against PyTorch itself.

Every scenario is a function ``f(L)`` written once and run with ``L = torch`` and
``L = tapegrad``; the outcomes must match: returned values (tensors compared
numerically, with dtype and requires_grad), exception type and message, and
the warnings raised. tapegrad's in-place error message says more than torch's
(the op and the user's source line): there torch's text up to its "Hint:" must
be the start of ours.
"""
from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402

TORCH_HINT = " Hint: enable anomaly detection to find the operation that failed to compute its gradient"


# ----------------------------------------------------------------------------- the harness
def _py(v, L):
    """A comparable, library-neutral form of a scenario's return value."""
    if isinstance(v, L.Tensor):
        return ("T", v.detach().numpy().copy(), str(v.dtype), v.requires_grad)
    if isinstance(v, (tuple, list)):
        return tuple(_py(x, L) for x in v)
    if isinstance(v, dict):
        return {k: _py(x, L) for k, x in v.items()}
    if isinstance(v, L.dtype):
        return str(v)
    if hasattr(v, "next_functions") and hasattr(v, "name"):
        return ("Node", v.name())
    if isinstance(v, np.ndarray):
        return ("A", v)
    return v


def outcome(L, fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = ("ok", _py(fn(L), L))
        except Exception as e:  # noqa: BLE001 - the exception is the outcome
            res = ("err", type(e).__name__, str(e))
    # torch appends the C++ origin of a warning: "... (Triggered internally at file:line.)"
    warns = [(w.category.__name__, str(w.message).split(" (Triggered internally at ")[0])
             for w in caught if "create_graph=True will create a reference cycle" not in str(w.message)]
    return res, warns


def assert_same(a, b, path="result", rtol=1e-5, atol=1e-6):
    if isinstance(a, tuple) and a and a[0] == "T":
        assert isinstance(b, tuple) and b and b[0] == "T", f"{path}: torch gave a tensor, tapegrad {b!r}"
        _, ta, tdt, treq = a
        _, oa, odt, oreq = b
        assert (odt, oreq) == (tdt, treq), (
            f"{path}: dtype/requires_grad {(odt, oreq)} != torch's {(tdt, treq)}"
        )
        assert oa.shape == ta.shape, f"{path}: shape {oa.shape} != torch's {ta.shape}"
        np.testing.assert_allclose(oa, ta, rtol=rtol, atol=atol, err_msg=path)
    elif isinstance(a, tuple) and a and a[0] == "A":
        np.testing.assert_allclose(b[1], a[1], rtol=rtol, atol=atol, err_msg=path)
    elif isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b), f"{path}: {b!r} != torch's {a!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]", rtol, atol)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: {b!r} != torch's {a!r}"
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]", rtol, atol)
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=rtol, abs=atol), f"{path}: {b!r} != torch's {a!r}"
    else:
        assert a == b, f"{path}: {b!r} != torch's {a!r}"


def check(fn, names=None, **tol):
    """Run ``fn`` on both libraries and compare. ``names`` maps torch's node names in an error
    message to tapegrad's, where the two build different (equally valid) nodes."""
    theirs, their_warns = outcome(torch, fn)
    ours, our_warns = outcome(tg, fn)
    if names and theirs[0] == "err":
        msg = theirs[2]
        for a, b in names.items():
            msg = msg.replace(a, b)
        theirs = (theirs[0], theirs[1], msg)
    if theirs[0] == "err":
        assert ours[0] == "err", f"torch raised {theirs[1]}: {theirs[2]!r}; tapegrad returned {ours[1]!r}"
        assert ours[1] == theirs[1], (
            f"tapegrad raised {ours[1]}: {ours[2]!r}; torch {theirs[1]}: {theirs[2]!r}"
        )
        t_msg, o_msg = theirs[2].split(" Exception raised from ")[0], ours[2]
        if TORCH_HINT in t_msg:
            head = t_msg.split(" Hint:")[0]
            assert o_msg.startswith(head), f"message differs:\n ours:  {o_msg!r}\n torch: {t_msg!r}"
        else:
            assert o_msg == t_msg, f"message differs:\n ours:  {o_msg!r}\n torch: {t_msg!r}"
    else:
        assert ours[0] == "ok", f"tapegrad raised {ours[1]}: {ours[2]!r}; torch returned {theirs[1]!r}"
        assert_same(theirs[1], ours[1], **tol)
    assert [c for c, _ in our_warns] == [c for c, _ in their_warns], (our_warns, their_warns)
    for (_, om), (_, tm) in zip(our_warns, their_warns, strict=True):
        assert om == tm, f"warning differs:\n ours:  {om!r}\n torch: {tm!r}"
    return theirs


def leaf(L, values, dtype=None):
    return L.tensor(values, dtype=dtype, requires_grad=True)


# ============================================================================ graph & engine
def s_diamond(L):
    x = leaf(L, [0.5, -1.0, 2.0])
    a = x * 2
    runs = []
    a.grad_fn.register_prehook(lambda go: runs.append(1))
    (a.exp() + a.sin()).sum().backward()
    return x.grad, len(runs)


def s_shared_subexpression(L):
    x = leaf(L, [1.0, 2.0])
    y = x * x
    (y + y + y).sum().backward()
    return x.grad


def s_broadcast_reduce(L):
    x = leaf(L, [[1.0], [2.0]])
    b = leaf(L, [10.0, 20.0, 30.0])
    (x * b).sum().backward()
    return x.grad, b.grad


def s_split_partial(L):
    x = leaf(L, [1.0, 2.0, 3.0, 4.0])
    a, b = x.split(2)
    (b * 2).sum().backward()
    return x.grad


def s_retain_graph(L):
    x = leaf(L, [1.0, 2.0])
    z = (x.exp() * x).sum()
    z.backward(retain_graph=True)
    g1 = x.grad.clone()
    z.backward()
    return g1, x.grad


def s_backward_twice_saved(L):
    a, b = leaf(L, [1.0, 2.0]), leaf(L, [3.0, 4.0])
    s = (a * b).sum()
    s.backward()
    s.backward()


def s_backward_twice_nothing_saved(L):
    a, b = leaf(L, [1.0, 2.0]), leaf(L, [3.0, 4.0])
    s = (a + b).sum()
    s.backward()
    s.backward()
    return a.grad, b.grad


def s_backward_twice_mul_const(L):
    a = leaf(L, [1.0, 2.0])
    s = (a * 2).sum()
    s.backward()
    s.backward()


def s_backward_twice_exp(L):
    a = leaf(L, [1.0, 2.0])
    s = a.exp().sum()
    s.backward()
    s.backward()


def s_grad_twice(L):
    x = leaf(L, [1.0, 2.0])
    y = (x * x).sum()
    L.autograd.grad(y, x)
    L.autograd.grad(y, x)


def s_long_chain(L):
    x = leaf(L, 1.0)
    y = x
    for _ in range(20_000):
        y = y * 1.0001
    y.backward()
    return x.grad, y


GRAPH = [s_diamond, s_shared_subexpression, s_broadcast_reduce, s_split_partial, s_retain_graph,
         s_backward_twice_saved, s_backward_twice_nothing_saved, s_backward_twice_mul_const,
         s_backward_twice_exp, s_grad_twice, s_long_chain]


@pytest.mark.parametrize("fn", GRAPH, ids=lambda f: f.__name__[2:])
def test_graph(fn):
    check(fn)


# ================================================================================== errors
def s_non_scalar(L):
    (leaf(L, [1.0, 2.0]) * 2).backward()


def s_no_grad_root(L):
    L.ones(2).sum().backward()


def s_second_root_no_grad(L):
    L.autograd.backward([leaf(L, [1.0]).sum(), L.ones(1).sum()])


def s_shape_mismatch(L):
    (leaf(L, [1.0, 2.0]) * 2).backward(L.ones(3))


def s_scalar_gradient_shape(L):
    (leaf(L, [1.0, 2.0]) * 2).sum().backward(L.tensor([2.0]))


def s_int_gradient_cast(L):
    x = leaf(L, [1.0, 2.0])
    (x * 2).sum().backward(L.tensor(2, dtype=L.int64))
    return x.grad


def s_double_gradient_cast(L):
    x = leaf(L, [1.0, 2.0])
    (x * 2).sum().backward(L.tensor(2.0, dtype=L.float64))
    return x.grad


def s_int_requires_grad_factory(L):
    L.tensor([1, 2], requires_grad=True)


def s_int_requires_grad_zeros(L):
    L.zeros(2, dtype=L.int64, requires_grad=True)


def s_int_requires_grad_method(L):
    L.tensor([1, 2]).requires_grad_()


def s_int_requires_grad_setter(L):
    t = L.tensor([1, 2])
    t.requires_grad = True


def s_bool_requires_grad_setter(L):
    t = L.tensor([True])
    t.requires_grad = True


def s_int_requires_grad_false_ok(L):
    return L.tensor([1, 2]).requires_grad_(False)


def s_nonleaf_requires_grad_false(L):
    y = leaf(L, [1.0]) * 2
    y.requires_grad = False


def s_nonleaf_requires_grad_true(L):
    y = leaf(L, [1.0]) * 2
    y.requires_grad = True


def s_nonleaf_requires_grad_method_true(L):
    y = leaf(L, [1.0]) * 2
    return y.requires_grad_(True)


def s_nonleaf_requires_grad_method_false(L):
    y = leaf(L, [1.0]) * 2
    y.requires_grad_(False)


def s_leaf_inplace(L):
    leaf(L, [1.0, 2.0]).add_(1)


def s_leaf_view_inplace(L):
    leaf(L, [1.0, 2.0])[1:].mul_(2)


def s_leaf_select_inplace(L):
    leaf(L, [1.0, 2.0])[0].mul_(2)


def s_leaf_inplace_no_grad(L):
    x = leaf(L, [1.0, 2.0])
    with L.no_grad():
        x.add_(1)
        x[0].mul_(10)
    return x


def s_modified_output(L):
    x = leaf(L, [1.0, 2.0, 3.0])
    y = x.sigmoid()
    y.mul_(2)
    y.sum().backward()


def s_modified_input(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 1
    z = y * y
    y.add_(1)
    z.sum().backward()


def s_modified_leaf(L):
    w = leaf(L, [1.0, 2.0])
    loss = (w * w).sum()
    with L.no_grad():
        w.sub_(0.1)
    loss.backward()


def s_modified_constant(L):
    x = leaf(L, [1.0, 2.0])
    c = L.ones(2)
    y = x * c
    c.add_(1)
    y.sum().backward()


def s_modified_twice(L):
    x = leaf(L, [1.0])
    y = x.exp()
    y.add_(1)
    y.add_(1)
    y.backward()


def s_modified_via_detach(L):
    x = leaf(L, [1.0, 2.0])
    y = x.exp()
    y.detach().add_(1)
    y.sum().backward()


def s_modified_via_data(L):
    x = leaf(L, [1.0, 2.0])
    y = x.exp()
    d = y.data
    d.add_(1)
    y.sum().backward()
    return x.grad, y._version, d._version


def s_modified_view_saved(L):
    x = leaf(L, [1.0, 2.0])
    y = x.exp()
    z = y.view(2)
    y.add_(1)
    z.sum().backward()


def s_modified_base_of_saved_view(L):
    x = leaf(L, [[1.0, 2.0], [3.0, 4.0]])
    y = x * 1
    v = y[0]
    w = v * v
    y.mul_(2)
    w.sum().backward()


def s_multi_output_view_inplace_split(L):
    (leaf(L, [1.0, 2.0, 3.0, 4.0]) * 1).split(2)[1].mul_(2)


def s_multi_output_view_inplace_unbind(L):
    (leaf(L, [1.0, 2.0, 3.0, 4.0]) * 1).unbind()[1].mul_(2)


def s_multi_output_view_inplace_chunk(L):
    (leaf(L, [1.0, 2.0, 3.0, 4.0]) * 1).chunk(2)[0].add_(1)


def s_multi_output_view_inplace_no_grad(L):
    x = leaf(L, [1.0, 2.0, 3.0, 4.0])
    with L.no_grad():
        y = x * 1
        y.split(2)[0].add_(1)
    return y


def s_multi_output_view_stale_split(L):
    y = leaf(L, [1.0, 2.0, 3.0, 4.0]) * 1
    a, b = y.split(2)
    y.mul_(2)
    return a.grad_fn


def s_multi_output_view_stale_unbind(L):
    y = leaf(L, [1.0, 2.0, 3.0, 4.0]) * 1
    a = y.unbind()[0]
    with L.no_grad():
        y.mul_(2)
    return a.grad_fn


def s_multi_output_view_of_view_stale(L):
    y = leaf(L, [1.0, 2.0, 3.0, 4.0]) * 1
    c = y.split(2)[0][0:1]
    y.mul_(2)
    return c.grad_fn


def s_detach_view_inplace(L):
    (leaf(L, [1.0, 2.0]) * 2)[1:].detach_()


def s_detach_view_inplace_plain(L):
    L.ones(3)[1:].detach_()


def s_grad_assign_size(L):
    x = leaf(L, [1.0, 2.0])
    x.grad = L.zeros(3)


def s_grad_assign_dtype(L):
    x = leaf(L, [1.0, 2.0])
    x.grad = L.zeros(2, dtype=L.float64)


def s_grad_assign_dtype_int(L):
    x = leaf(L, [1.0, 2.0], dtype=L.float64)
    x.grad = L.zeros(2, dtype=L.int64)


def s_grad_assign_type(L):
    x = leaf(L, [1.0, 2.0])
    x.grad = [1.0, 2.0]


ERRORS = [s_non_scalar, s_no_grad_root, s_second_root_no_grad, s_shape_mismatch,
          s_scalar_gradient_shape, s_int_gradient_cast, s_double_gradient_cast,
          s_int_requires_grad_factory, s_int_requires_grad_zeros, s_int_requires_grad_method,
          s_int_requires_grad_setter, s_bool_requires_grad_setter, s_int_requires_grad_false_ok,
          s_nonleaf_requires_grad_false, s_nonleaf_requires_grad_true,
          s_nonleaf_requires_grad_method_true, s_nonleaf_requires_grad_method_false,
          s_leaf_inplace, s_leaf_view_inplace, s_leaf_select_inplace, s_leaf_inplace_no_grad,
          s_modified_output, s_modified_input, s_modified_leaf, s_modified_constant,
          s_modified_twice, s_modified_via_detach, s_modified_via_data, s_modified_view_saved,
          s_multi_output_view_inplace_split,
          s_multi_output_view_inplace_unbind, s_multi_output_view_inplace_chunk,
          s_multi_output_view_inplace_no_grad, s_multi_output_view_stale_split,
          s_multi_output_view_stale_unbind, s_multi_output_view_of_view_stale,
          s_detach_view_inplace, s_detach_view_inplace_plain,
          s_grad_assign_size, s_grad_assign_dtype, s_grad_assign_dtype_int, s_grad_assign_type]


@pytest.mark.parametrize("fn", ERRORS, ids=lambda f: f.__name__[2:])
def test_errors(fn):
    check(fn)


def test_modified_base_of_saved_view():
    # torch regenerates the stale view's node as AsStridedBackward0; tapegrad replays the
    # view op itself (SelectBackward0): the rest of the message must be torch's
    check(s_modified_base_of_saved_view, names={"output 0 of AsStrided,": "output 0 of Select,"})


def s_nograd_view_inplace(L):
    x = leaf(L, [1.0, 2.0, 3.0])
    with L.no_grad():
        v = x[0:2]
    v.add_(1)


def s_nograd_view_of_nonleaf_inplace(L):
    y = leaf(L, [1.0, 2.0, 3.0]) * 1
    with L.no_grad():
        v = y[0:2]
    v.add_(1)


def s_nograd_view_stale(L):
    y = leaf(L, [1.0, 2.0, 3.0]) * 1
    with L.no_grad():
        v = y[0:2]
    y.mul_(2)
    return v.grad_fn


def s_nograd_view_inplace_in_no_grad(L):
    x = leaf(L, [1.0, 2.0, 3.0])
    with L.no_grad():
        v = x[0:2]
        v.add_(1)
    return x, v.requires_grad, v.is_leaf, v.grad_fn is None


def s_view_requires_grad_follows_base(L):
    z = L.ones(3)
    zv = z[0:2]
    z.requires_grad_()
    return zv.requires_grad, zv.grad_fn is None, L.ones(3)[0:2].requires_grad


@pytest.mark.parametrize("fn", [s_nograd_view_inplace, s_nograd_view_of_nonleaf_inplace,
                                s_nograd_view_stale, s_nograd_view_inplace_in_no_grad,
                                s_view_requires_grad_follows_base], ids=lambda f: f.__name__[2:])
def test_views_made_without_grad(fn):
    check(fn)


def test_modified_message_names_op_and_line():
    """tapegrad's addition to torch's message: which in-place op, and where."""
    theirs = check(s_modified_output)
    assert theirs[0] == "err"
    with pytest.raises(RuntimeError) as e:
        s_modified_output(tg)
    assert "It was modified by mul_ at " in str(e.value)
    assert "test_engine_parity.py:" in str(e.value) and "in s_modified_output" in str(e.value)


# ======================================================================= in-place semantics
def s_inplace_chain(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 1
    y.add_(1)
    y.mul_(2)
    (y * y).sum().backward()
    return x.grad, y.grad_fn


def s_setitem_grad_value(L):
    x = leaf(L, [1.0, 2.0, 3.0])
    v = leaf(L, 5.0)
    y = x * 2
    y[0] = v * v
    (y * L.tensor([1.0, 2.0, 3.0])).sum().backward()
    return x.grad, v.grad, y


def s_setitem_no_grad(L):
    x = leaf(L, [1.0, 2.0, 3.0])
    y = x * 1
    with L.no_grad():
        y[0] = 10
    (y * y).sum().backward()
    return x.grad, y


def s_setitem_into_constant(L):
    v = leaf(L, [5.0, 6.0])
    y = L.zeros(4)
    y[1:3] = v * 2
    (y * L.arange(4.0)).sum().backward()
    return v.grad, y


def s_view_column_mul(L):
    x = L.arange(6.0).reshape(2, 3).requires_grad_()
    y = x * 1
    y[:, 0].mul_(2)
    (y * y).sum().backward()
    return x.grad, y, y.grad_fn


def s_view_of_view_add(L):
    x = L.arange(6.0).reshape(2, 3).requires_grad_()
    t = leaf(L, [10.0, 20.0])
    y = x * 1
    y.view(-1)[1:3].add_(t * t)
    (y * y).sum().backward()
    return x.grad, t.grad, y


def s_zero_dim_view(L):
    x = leaf(L, [1.0, 2.0, 3.0])
    y = x * 1
    y[1].mul_(5)
    (y * y).sum().backward()
    return x.grad, y


def s_zero_dim_view_plain(L):
    y = L.zeros(3)
    y[1].add_(1)
    u = L.zeros(3)
    u.unbind()[2].add_(5)
    return y, u


def s_view_after_base_inplace(L):
    x = leaf(L, [[1.0, 2.0], [3.0, 4.0]])
    y = x * 1
    v = y[0]
    y.mul_(2)
    (v * 3).sum().backward()
    return x.grad, v


def s_view_after_sibling_inplace(L):
    x = leaf(L, [1.0, 2.0, 3.0, 4.0])
    y = x * 1
    a = y[:2]
    b = y[1:3]
    b.mul_(10)
    (a * 1).sum().backward()
    return x.grad, a


def s_transposed_view_exp(L):
    x = leaf(L, [[1.0, 2.0], [3.0, 4.0]])
    y = x * 1
    y.t().exp_()
    (y * L.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    return x.grad, y


def s_inplace_unneeded_value(L):
    x = leaf(L, [1.0, 2.0])
    y = x + 1
    z = y * 2
    y.add_(5)
    z.sum().backward()
    return x.grad


def s_versions(L):
    x = leaf(L, [1.0, 2.0, 3.0])
    y = x * 1
    y.add_(1)
    y.add_(1)
    v = y[1:]
    v.mul_(2)
    d = y.detach()
    d.zero_()
    return y._version, v._version, d._version, x._version


def s_grad_accumulates_in_place(L):
    x = leaf(L, [1.0, 2.0])
    (x * 2).sum().backward()
    g = x.grad
    (x * 2).sum().backward()
    return g is x.grad, g


INPLACE = [s_inplace_chain, s_setitem_grad_value, s_setitem_no_grad, s_setitem_into_constant,
           s_view_column_mul, s_view_of_view_add, s_zero_dim_view, s_zero_dim_view_plain,
           s_view_after_base_inplace, s_view_after_sibling_inplace, s_transposed_view_exp,
           s_inplace_unneeded_value, s_versions, s_grad_accumulates_in_place]


@pytest.mark.parametrize("fn", INPLACE, ids=lambda f: f.__name__[2:])
def test_inplace(fn):
    check(fn)


# ================================================================================== hooks
def s_leaf_hooks(L):
    x = leaf(L, [1.0, 2.0])
    calls = []
    h1 = x.register_hook(lambda g: calls.append(("h1", g.tolist())) or g * 2)
    x.register_hook(lambda g: calls.append(("h2", g.tolist())))
    (x * 3).sum().backward()
    g1 = x.grad.clone()
    h1.remove()
    (x * 3).sum().backward()
    return calls, g1, x.grad


def s_nonleaf_hooks(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    calls = []
    y.register_hook(lambda g: calls.append(("a", g.tolist())) or g + 1)
    y.register_hook(lambda g: calls.append(("b", g.tolist())))
    y.retain_grad()
    (y * y).sum().backward()
    return calls, x.grad, y.grad


def s_retain_then_hook(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 100)
    (y * 1).sum().backward()
    return y.grad, x.grad


def s_hook_order_root_to_leaf(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    z = y * 3
    order = []
    for t, name in ((x, "x"), (y, "y"), (z, "z")):
        t.register_hook(lambda g, name=name: order.append(name))
    z.sum().backward()
    return order


def s_hook_then_inplace(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    y.register_hook(lambda g: g * 100)
    y.add_(1)
    (y * 1).sum().backward()
    return x.grad


def s_retain_then_inplace(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    y.retain_grad()
    y.add_(1)
    (y * 1).sum().backward()
    return y.grad, x.grad


def s_nonleaf_grad_warning(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    (y * y).sum().backward()
    return y.grad


def s_retained_grad_accumulates(L):
    x = leaf(L, [1.0, 1.0])
    y = x * 2
    y.retain_grad()
    z = (y * y).sum()
    z.backward(retain_graph=True)
    z.backward(retain_graph=True)
    g = y.grad.clone()
    y.grad = None
    z.backward()
    return g, y.grad, x.grad, y.retains_grad, x.retains_grad


def s_retain_grad_no_requires(L):
    L.ones(1).retain_grad()


def s_hook_no_requires(L):
    L.ones(1).register_hook(lambda g: g)


def s_node_hooks(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    calls = []
    y.grad_fn.register_prehook(lambda go: calls.append(("pre", [g.tolist() for g in go])))
    y.grad_fn.register_hook(lambda gi, go: calls.append(
        ("post", [None if g is None else g.tolist() for g in gi], [g.tolist() for g in go])))
    (y * y).sum().backward()
    return calls, x.grad


def s_node_prehook_replace(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    y.grad_fn.register_prehook(lambda go: (go[0] * 10,))
    y.sum().backward()
    return x.grad


def s_node_posthook_replace(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    y.grad_fn.register_hook(lambda gi, go: (gi[0] * 10, None))
    y.sum().backward()
    return x.grad


def s_node_posthook_wrong_count(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2

    def myhook(gi, go):
        return (gi[0],)

    y.grad_fn.register_hook(myhook)
    y.sum().backward()


def s_node_prehook_wrong_count(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    y.grad_fn.register_prehook(lambda go: (go[0], go[0]))
    y.sum().backward()


def s_hook_changes_size(L):
    x = leaf(L, [1.0, 2.0])
    x.register_hook(lambda g: L.ones(3))
    (x * 2).sum().backward()


def s_hook_changes_dtype(L):
    x = leaf(L, [1.0, 2.0])
    h = x * 2
    h.register_hook(lambda g: g.double())
    (h * 2).sum().backward()


def s_node_prehook_changes_size(L):
    x = leaf(L, [1.0, 2.0])
    h = x * 2
    h.grad_fn.register_prehook(lambda g: (L.ones(3),))
    (h * 2).sum().backward()


def s_accumulate_grad_hooks(L):
    x = leaf(L, [1.0, 2.0])
    acc = (x * 2).grad_fn.next_functions[0][0]
    calls = []
    acc.register_prehook(lambda go: calls.append(("pre", [g.tolist() for g in go])))
    acc.register_hook(lambda gi, go: calls.append(("post", gi, [g.tolist() for g in go])))
    (x * 2).sum().backward()
    return calls, acc.variable is x, type(acc).__name__, acc.name()


def s_post_accumulate(L):
    x = leaf(L, [1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(("hook", None if x.grad is None else x.grad.tolist())))
    x.register_post_accumulate_grad_hook(lambda t: seen.append(("post", t.grad.tolist())))
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    return seen


def s_post_accumulate_nonleaf(L):
    (leaf(L, [1.0]) * 2).register_post_accumulate_grad_hook(lambda t: None)


HOOKS = [s_leaf_hooks, s_nonleaf_hooks, s_retain_then_hook, s_hook_order_root_to_leaf,
         s_hook_then_inplace, s_retain_then_inplace, s_nonleaf_grad_warning,
         s_retained_grad_accumulates, s_retain_grad_no_requires, s_hook_no_requires, s_node_hooks,
         s_node_prehook_replace, s_node_posthook_replace, s_node_posthook_wrong_count,
         s_node_prehook_wrong_count, s_hook_changes_size, s_hook_changes_dtype,
         s_node_prehook_changes_size, s_accumulate_grad_hooks, s_post_accumulate,
         s_post_accumulate_nonleaf]


@pytest.mark.parametrize("fn", HOOKS, ids=lambda f: f.__name__[2:])
def test_hooks(fn):
    check(fn)


def test_nonleaf_grad_warning_points_at_caller():
    for L in (torch, tg):
        y = leaf(L, [1.0]) * 2
        with pytest.warns(UserWarning) as rec:
            y.grad
        assert rec[0].filename == __file__, L.__name__


# ============================================================================== grad modes
def s_modes(L):
    x = leaf(L, [1.0, 2.0])
    with L.no_grad():
        with L.enable_grad():
            y = x * 2
        z = x * 2
        inner = L.is_grad_enabled()
    with L.set_grad_enabled(False):
        w = x * 2
    L.set_grad_enabled(False)
    v = x * 2
    L.set_grad_enabled(True)
    with L.inference_mode():
        u = x * 2
        inf = L.is_inference_mode_enabled(), L.is_grad_enabled()
    with L.inference_mode(False):
        q = x * 2
    return (y.requires_grad, z.requires_grad, inner, w.requires_grad, v.requires_grad,
            u.requires_grad, u.grad_fn is None, inf, q.requires_grad, L.is_grad_enabled())


def s_decorators(L):
    x = leaf(L, [1.0])

    @L.no_grad()
    def f1(t):
        return t * 2

    @L.no_grad
    def f2(t):
        return t * 2

    @L.enable_grad()
    def f3(t):
        return t * 2

    @L.enable_grad
    def f3b(t):
        return t * 2

    @L.inference_mode()
    def f4(t):
        return t * 2

    @L.inference_mode
    def f5(t):
        return t * 2

    @L.set_grad_enabled(False)
    def f6(t):
        return t * 2

    after_decorating = L.is_grad_enabled()
    with L.no_grad():
        inside = f3(x).requires_grad, f3b(x).requires_grad
    return (after_decorating, f1(x).requires_grad, f2(x).requires_grad, inside,
            f4(x).requires_grad, f5(x).requires_grad, f6(x).requires_grad, L.is_grad_enabled(),
            f1.__name__)


def s_generator(L):
    x = leaf(L, [1.0])

    @L.no_grad()
    def gen():
        for i in range(3):
            sent = yield (x * i).requires_grad, L.is_grad_enabled()
            assert sent in (None, "ping")

    g = gen()
    out = [(next(g), L.is_grad_enabled()), (g.send("ping"), L.is_grad_enabled())]
    out += [(item, L.is_grad_enabled()) for item in g]
    return out


def s_threads(L):
    res = {}
    entered, release = threading.Event(), threading.Event()

    def worker():
        with L.no_grad():
            entered.set()
            release.wait(5)
            res["worker"] = L.is_grad_enabled()

    t = threading.Thread(target=worker)
    t.start()
    entered.wait(5)
    x = leaf(L, [1.0])
    res["main"] = ((x * 2).requires_grad, L.is_grad_enabled())
    release.set()
    t.join()

    def fresh():
        res["fresh"] = L.is_grad_enabled()

    with L.no_grad():
        t2 = threading.Thread(target=fresh)
        t2.start()
        t2.join()
    return res


def s_exception_restores(L):
    try:
        with L.no_grad():
            raise ValueError
    except ValueError:
        pass
    return L.is_grad_enabled()


def s_requires_grad_under_no_grad(L):
    x = leaf(L, [1.0])
    with L.no_grad():
        y = x * 2
        y.requires_grad_()
    (y * 3).sum().backward()
    return y.is_leaf, y.grad, x.grad


def s_no_grad_outputs(L):
    x = leaf(L, [1.0, 2.0])
    with L.no_grad():
        outs = [x * 2, x.sum(), x[0], x.exp(), x.view(2, 1)]
    return [(o.grad_fn is None, o.requires_grad, o.is_leaf) for o in outs]


MODES = [s_modes, s_decorators, s_generator, s_threads, s_exception_restores,
         s_requires_grad_under_no_grad, s_no_grad_outputs]


@pytest.mark.parametrize("fn", MODES, ids=lambda f: f.__name__[2:])
def test_grad_modes(fn):
    check(fn)


# ===================================================================== backward / grad API
def s_gradient_arg(L):
    x = leaf(L, [1.0, 2.0])
    (x ** 2).backward(gradient=L.tensor([1.0, 10.0]))
    return x.grad


def s_inputs_leaf(L):
    x, w = leaf(L, [1.0, 2.0]), leaf(L, [3.0, 4.0])
    (x * w).sum().backward(inputs=[x])
    g = (x.grad.clone(), w.grad)
    (x * w).sum().backward(inputs=w)
    return g, x.grad, w.grad


def s_inputs_nonleaf(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    (y * y).sum().backward(inputs=[y])
    return x.grad, y.grad


def s_inputs_unused(L):
    x, u = leaf(L, [1.0, 2.0]), leaf(L, [1.0, 2.0])
    (x * 2).sum().backward(inputs=[u])
    return u.grad, x.grad


def s_inputs_empty(L):
    (leaf(L, [1.0]) * 2).sum().backward(inputs=[])


def s_grad_outputs(L):
    x = leaf(L, [1.0, 2.0])
    return L.autograd.grad(x * x, x, grad_outputs=L.tensor([1.0, 3.0])), x.grad


def s_allow_unused(L):
    x, u = leaf(L, [1.0, 2.0]), leaf(L, [1.0, 2.0])
    return L.autograd.grad((x * x).sum(), [x, u], allow_unused=True)


def s_unused_error(L):
    x, u = leaf(L, [1.0, 2.0]), leaf(L, [1.0, 2.0])
    L.autograd.grad((x * x).sum(), [x, u])


def s_unused_error_first(L):
    x, u = leaf(L, [1.0, 2.0]), leaf(L, [1.0, 2.0])
    L.autograd.grad((x * x).sum(), [u, x])


def s_materialize(L):
    x, u = leaf(L, [1.0, 2.0]), leaf(L, [1.0, 2.0])
    return L.autograd.grad((x * x).sum(), [x, u], materialize_grads=True)


def s_grad_non_scalar(L):
    x = leaf(L, [1.0, 2.0])
    L.autograd.grad(x * x, x)


def s_grad_input_no_grad(L):
    x = L.tensor([1.0, 2.0])
    L.autograd.grad((x * x).sum(), x)


def s_grad_empty_inputs(L):
    L.autograd.grad((leaf(L, [1.0]) * 2).sum(), [])


def s_grad_nonleaf_and_leaf(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    return L.autograd.grad((y * y).sum(), [y, x])


def s_grad_self(L):
    x = leaf(L, [1.0, 2.0])
    return L.autograd.grad(x, x, L.ones(2))


def s_x_cubed(L):
    x = leaf(L, 2.0)
    (g,) = L.autograd.grad(x ** 3, x, create_graph=True)
    (gg,) = L.autograd.grad(g, x, create_graph=True)
    (ggg,) = L.autograd.grad(gg, x)
    return g, gg, ggg


def s_several_roots(L):
    x, y = leaf(L, [1.0, 2.0]), leaf(L, [3.0, 4.0])
    L.autograd.backward([(x * y).sum(), (x * x).sum()])
    z = leaf(L, [1.0, 2.0])
    L.autograd.backward([z * 2, z * 3], [L.ones(2), L.tensor([1.0, 2.0])])
    return x.grad, y.grad, z.grad


def s_several_roots_missing_grad(L):
    x = leaf(L, [1.0, 2.0])
    L.autograd.backward([x * 2, x * 3], [L.ones(2)])


def s_grad_missing_grad_output(L):
    x = leaf(L, [1.0, 2.0])
    L.autograd.grad([x * 2, x * 3], x, [L.ones(2)])


def s_create_graph_backward(L):
    x = leaf(L, [1.0, 2.0])
    (x * x).sum().backward(create_graph=True)
    g = x.grad
    return g, g.requires_grad, g.grad_fn is not None


def s_leaf_backward(L):
    x = leaf(L, [1.0, 2.0])
    x.backward(L.ones(2))
    x.backward(L.ones(2))
    return x.grad


def s_hvp(L):
    xs = [0.5, -1.0, 0.3]
    x = leaf(L, xs, dtype=L.float64)
    f = (x ** 3).sum() + x[0] * x[1] + x[2].sin()
    (g,) = L.autograd.grad(f, x, create_graph=True)
    (hv,) = L.autograd.grad((g * L.tensor([1.0, 2.0, -1.0], dtype=L.float64)).sum(), x)
    return g, hv


def s_gradient_penalty(L):
    rng = np.random.default_rng(0)
    x = L.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = L.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    out = (x @ w).tanh().sum()
    (g,) = L.autograd.grad(out, x, create_graph=True)
    pen = (g.norm(2, dim=1) - 1).pow(2).mean()
    pen.backward()
    return pen, x.grad, w.grad


def s_gradient_penalty_f32(L):
    rng = np.random.default_rng(1)
    x = L.tensor(rng.standard_normal((5, 3)), dtype=L.float32, requires_grad=True)
    w = L.tensor(rng.standard_normal((3, 3)), dtype=L.float32, requires_grad=True)
    out = (x @ w).sigmoid().sum()
    (g,) = L.autograd.grad(out, x, create_graph=True)
    pen = ((g * g).sum(1).sqrt() - 1).pow(2).mean()
    pen.backward()
    return pen, x.grad, w.grad


def s_leaves_sharing_storage_double_backward(L):
    x = L.tensor([0.5, -1.0, 2.0], dtype=L.float64)
    a = x.detach().requires_grad_()
    b = x.detach().requires_grad_()
    (g,) = L.autograd.grad((a * b).sum(), a, create_graph=True)
    ga, gb = L.autograd.grad(g.sum(), (a, b), allow_unused=True)
    (h,) = L.autograd.grad((a * x.detach() * a.detach()).sum(), a, create_graph=True)
    return ga is None, gb, h, h.requires_grad


API = [s_gradient_arg, s_inputs_leaf, s_inputs_nonleaf, s_inputs_unused, s_inputs_empty,
       s_grad_outputs, s_allow_unused, s_unused_error, s_unused_error_first, s_materialize,
       s_grad_non_scalar, s_grad_input_no_grad, s_grad_empty_inputs, s_grad_nonleaf_and_leaf,
       s_grad_self, s_x_cubed, s_several_roots, s_several_roots_missing_grad,
       s_grad_missing_grad_output, s_create_graph_backward, s_leaf_backward, s_hvp,
       s_gradient_penalty, s_gradient_penalty_f32, s_leaves_sharing_storage_double_backward]


@pytest.mark.parametrize("fn", API, ids=lambda f: f.__name__[2:])
def test_backward_and_grad_api(fn):
    check(fn, rtol=2e-5, atol=1e-6)


# ========================================================================= autograd.Function
def _functions(L):
    class Exp(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class ScaleAndSin(L.autograd.Function):
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

    class Cube(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    return Exp, ScaleAndSin, Cube


def s_fn_basic(L):
    Exp, _, _ = _functions(L)
    x = leaf(L, [0.5, -1.0])
    y = Exp.apply(x)
    y.sum().backward()
    return x.grad, y, y.grad_fn, type(y.grad_fn).__name__, y.is_leaf, repr(y)


def s_fn_twice(L):
    Exp, _, _ = _functions(L)
    s = Exp.apply(leaf(L, [0.5, -1.0])).sum()
    s.backward()
    s.backward()


def s_fn_saved_after_free(L):
    Exp, _, _ = _functions(L)
    y = Exp.apply(leaf(L, [0.5, -1.0]))
    y.sum().backward()
    return y.grad_fn.saved_tensors


def s_fn_retain(L):
    Exp, _, _ = _functions(L)
    x = leaf(L, [0.5, -1.0])
    s = Exp.apply(x).sum()
    s.backward(retain_graph=True)
    s.backward()
    return x.grad


def s_fn_multi(L):
    _, ScaleAndSin, _ = _functions(L)
    x = leaf(L, [0.5, -1.0])
    a, b, mask = ScaleAndSin.apply(x, 3.0)
    (a + b).sum().backward()
    return (x.grad, mask, mask.grad_fn is None, a.grad_fn is b.grad_fn, a.output_nr, b.output_nr,
            a.grad_fn.next_functions)


def s_fn_unused_output(L):
    _, ScaleAndSin, _ = _functions(L)
    x = leaf(L, [0.5, -1.0])
    a, b, _ = ScaleAndSin.apply(x, 3.0)
    b.sum().backward()
    return x.grad


def s_fn_needs_input_grad(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, c):
            ctx.seen = tuple(ctx.needs_input_grad)
            return a * 2 + b + c

        @staticmethod
        def backward(ctx, g):
            return g * 2, None, None

    a, b, c = leaf(L, [1.0, 1.0]), L.ones(2), leaf(L, [1.0, 1.0])
    y = F.apply(a, b, c)
    y.sum().backward()
    return y.grad_fn.seen, a.grad, b.grad, c.grad, y.grad_fn.next_functions


def s_fn_non_tensor_first(L):
    class G(L.autograd.Function):
        @staticmethod
        def forward(ctx, k, x):
            ctx.seen = tuple(ctx.needs_input_grad)
            return x * k

        @staticmethod
        def backward(ctx, g):
            return None, g * 2, None

    x = leaf(L, [1.0, 2.0])
    y = G.apply(2.0, x)
    y.sum().backward()
    return y.grad_fn.seen, x.grad, len(y.grad_fn.next_functions)


def s_fn_grad_for_non_tensor(L):
    class H(L.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g, g

    H.apply(leaf(L, [1.0]), 2.0).sum().backward()


def s_fn_wrong_count(L):
    class W(L.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    x = leaf(L, [1.0])
    W.apply(x, x).sum().backward()


def s_fn_no_grad(L):
    Exp, _, _ = _functions(L)
    x = leaf(L, [0.5])
    with L.no_grad():
        y = Exp.apply(x)
    z = Exp.apply(L.tensor([0.5]))
    return y, y.grad_fn is None, z, z.grad_fn is None


def s_fn_identity(L):
    class Ident(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = leaf(L, [1.0, 2.0])
    y = Ident.apply(x)
    y.sum().backward()
    return y is x, y.is_leaf, x.grad


def s_fn_saved_input_modified(L):
    _, _, Cube = _functions(L)
    x = leaf(L, [1.0, 1.0])
    h = x * 1
    y = Cube.apply(h)
    h.add_(1)
    y.sum().backward()


def s_fn_saved_output_modified(L):
    Exp, _, _ = _functions(L)
    y = Exp.apply(leaf(L, [0.5, 1.0]))
    y.mul_(2)
    y.sum().backward()


def s_fn_double_backward(L):
    Exp, _, Cube = _functions(L)
    x = leaf(L, [0.5, 2.0])
    (g,) = L.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    (gg,) = L.autograd.grad(g.sum(), x)
    (e,) = L.autograd.grad(Exp.apply(x).sum(), x, create_graph=True)
    (ee,) = L.autograd.grad(e.sum(), x)
    return g, gg, e, ee


def s_fn_gradcheck(L):
    Exp, ScaleAndSin, Cube = _functions(L)
    x = leaf(L, [0.5, -1.0, 0.25], dtype=L.float64)
    return (L.autograd.gradcheck(Exp.apply, (x,)),
            L.autograd.gradcheck(lambda t: ScaleAndSin.apply(t, 2.0)[:2], (x,)),
            L.autograd.gradcheck(Cube.apply, (x,)),
            L.autograd.gradgradcheck(Cube.apply, (x,)))


def s_fn_gradcheck_bad(L):
    class Bad(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    return L.autograd.gradcheck(Bad.apply, (leaf(L, [0.5, -1.0], dtype=L.float64),),
                                raise_exception=False)


def s_fn_reentrant_checkpoint(L):
    class Checkpoint(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin() * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            with L.enable_grad():
                xx = x.detach().requires_grad_()
                y = xx.sin() * xx
            (gx,) = L.autograd.grad(y, xx, g)
            return gx

    x = leaf(L, [0.5, 1.0])
    Checkpoint.apply(x * 2).sum().backward()
    return x.grad


def s_backward_inside_hook(L):
    x, w = leaf(L, [0.5, 1.0]), leaf(L, [2.0, 3.0])
    side = []

    def hook(g):
        side.append(L.is_grad_enabled())
        with L.enable_grad():
            z = (w * w).sum()
        z.backward()
        side.append(w.grad.clone())
        return g

    h = x * 3
    h.register_hook(hook)
    (h * h).sum().backward()
    return x.grad, side


FUNCTIONS = [
    s_fn_reentrant_checkpoint,
    s_backward_inside_hook,
    s_fn_basic,
    s_fn_twice,
    s_fn_saved_after_free,
    s_fn_retain,
    s_fn_multi,
    s_fn_unused_output,
    s_fn_needs_input_grad,
    s_fn_non_tensor_first,
    s_fn_grad_for_non_tensor,
    s_fn_wrong_count,
    s_fn_no_grad,
    s_fn_identity,
    s_fn_saved_input_modified,
    s_fn_saved_output_modified,
    s_fn_double_backward,
    s_fn_gradcheck,
    s_fn_gradcheck_bad,
]


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__[2:])
def test_function(fn):
    check(fn)


# ====================================================================== graph introspection
def _walk(fn):
    if fn is None:
        return None
    return (fn.name(), tuple((_walk(n), i) for n, i in fn.next_functions))


def s_next_functions_q(L):
    a = leaf(L, [2.0, 3.0])
    b = leaf(L, [6.0, 4.0])
    Q = 3 * a ** 3 - b ** 2
    nf = Q.grad_fn.next_functions
    acc = nf[0][0].next_functions[0][0].next_functions[0][0]
    again = Q.grad_fn.next_functions[0][0].next_functions[0][0].next_functions[0][0]
    return (_walk(Q.grad_fn), acc.variable is a, type(acc).__name__, acc is again,
            repr(acc).split(" object at")[0])


SCALAR_OPS = {
    "add": lambda x: x + 2, "radd": lambda x: 2 + x, "sub": lambda x: x - 2,
    "rsub": lambda x: 2 - x, "mul": lambda x: x * 2, "rmul": lambda x: 2 * x,
    "div": lambda x: x / 2, "pow3": lambda x: x ** 3, "pow2": lambda x: x ** 2,
    "sqrt_pow": lambda x: x ** 0.5, "rpow": lambda x: 2 ** x, "neg": lambda x: -x,
    "pow_method": lambda x: x.pow(2), "clamp": lambda x: x.clamp(0, 1),
    "add_alpha": lambda x: x.add(2, alpha=3), "sum": lambda x: x.sum(),
    "exp_plus_x": lambda x: x.exp() + x, "mul_const_tensor": lambda x: L_ones_mul(x),
}


def L_ones_mul(x):
    return x * x.detach()


@pytest.mark.parametrize("name", sorted(SCALAR_OPS))
def test_next_functions_of_ops(name):
    def f(L):
        x = leaf(L, [1.0, 2.0])
        return _walk(SCALAR_OPS[name](x).grad_fn)
    check(f)


def s_requires_grad_rules(L):
    x = leaf(L, [1.0, -2.0])
    c = L.ones(2)
    d = x.detach()
    return ((x + c).requires_grad, (c + c).requires_grad, (c + c).grad_fn is None,
            (x + c).is_leaf, c.is_leaf, x.is_leaf, d.is_leaf, d.requires_grad, d.grad_fn is None,
            (x > 0).requires_grad, x.argmax().requires_grad, x.long().requires_grad,
            x.double().requires_grad, x.double().grad_fn)


def s_detach_inplace(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    r = y.detach_()
    return r is y, y.requires_grad, y.grad_fn is None, y.is_leaf


def s_detach_shares_storage(L):
    x = leaf(L, [1.0, 2.0])
    y = x * 2
    d = y.detach()
    d[0] = 100.0
    return y, d


INTROSPECTION = [s_next_functions_q, s_requires_grad_rules, s_detach_inplace,
                 s_detach_shares_storage]


@pytest.mark.parametrize("fn", INTROSPECTION, ids=lambda f: f.__name__[2:])
def test_introspection(fn):
    check(fn)

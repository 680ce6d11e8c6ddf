"""tapegrad.utils.checkpoint: gradients equal to the plain run, RNG replay, no activations kept."""
from __future__ import annotations

import gc
import warnings
import weakref

import numpy as np
import pytest

import tapegrad as torch
import tapegrad.nn as nn
from tapegrad.utils.checkpoint import checkpoint, checkpoint_sequential

REENTRANT = [True, False]


def _mlp(seed=0, width=8, depth=3, p=0.0):
    torch.manual_seed(seed)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
        if p:
            layers.append(nn.Dropout(p))
    return nn.Sequential(*layers)


def _grads(model, *xs):
    return [p.grad._data.copy() for p in model.parameters()] + [x.grad._data.copy() for x in xs]


def _run(model, fn, seed=1, x_seed=2, shape=(5, 8)):
    torch.manual_seed(x_seed)
    x = torch.randn(*shape, requires_grad=True)
    model.zero_grad()
    torch.manual_seed(seed)
    out = fn(x)
    (out * out).sum().backward()
    return out._data.copy(), _grads(model, x)


def _assert_same(a, b):
    (oa, ga), (ob, gb) = a, b
    np.testing.assert_array_equal(oa, ob)
    assert len(ga) == len(gb)
    for u, v in zip(ga, gb, strict=True):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("reentrant", REENTRANT)
def test_mlp_segment_grads_equal(reentrant):
    m = _mlp()
    plain = _run(m, lambda x: m(x))
    ck = _run(m, lambda x: checkpoint(m, x, use_reentrant=reentrant))
    _assert_same(plain, ck)


@pytest.mark.parametrize("reentrant", REENTRANT)
def test_partial_segment_and_params_outside(reentrant):
    m = _mlp(depth=4)
    head, mid, tail = m[:2], m[2:6], m[6:]

    def f(x, ck):
        h = head(x)
        h = checkpoint(mid, h, use_reentrant=reentrant) if ck else mid(h)
        return tail(h)
    _assert_same(_run(m, lambda x: f(x, False)), _run(m, lambda x: f(x, True)))


@pytest.mark.parametrize("reentrant", REENTRANT)
def test_dropout_masks_replayed(reentrant):
    m = _mlp(p=0.5)
    plain = _run(m, lambda x: m(x))
    ck = _run(m, lambda x: checkpoint(m, x, use_reentrant=reentrant))
    _assert_same(plain, ck)
    assert (plain[0] == 0).any()  # dropout did drop something


def test_preserve_rng_state_false_runs():
    m = _mlp(p=0.5)
    out, grads = _run(m, lambda x: checkpoint(m, x, use_reentrant=True, preserve_rng_state=False))
    assert all(np.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("reentrant", REENTRANT)
def test_caller_rng_state_restored_after_backward(reentrant):
    m = _mlp(p=0.5)
    x = torch.randn(3, 8, requires_grad=True)
    y = checkpoint(m, x, use_reentrant=reentrant)
    torch.rand(7)  # caller draws between forward and backward
    before = torch.get_rng_state()
    y.sum().backward()
    np.testing.assert_array_equal(torch.get_rng_state()._data, before._data)
    # and the stream continues as if backward had drawn nothing
    a = torch.rand(4)
    torch.set_rng_state(before)
    np.testing.assert_array_equal(a._data, torch.rand(4)._data)


@pytest.mark.parametrize("reentrant", REENTRANT)
def test_nested_checkpoints(reentrant):
    m = _mlp(depth=4, p=0.3)
    inner, rest = m[:4], m[4:]

    def outer(x):
        h = checkpoint(inner, x, use_reentrant=reentrant)
        return rest(h)
    plain = _run(m, lambda x: m(x))
    ck = _run(m, lambda x: checkpoint(outer, x, use_reentrant=reentrant))
    _assert_same(plain, ck)


@pytest.mark.parametrize("reentrant", REENTRANT)
@pytest.mark.parametrize("segments", [1, 2, 3, 4, 5, 6])
def test_checkpoint_sequential(segments, reentrant):
    m = _mlp(depth=3)  # 6 modules
    plain = _run(m, lambda x: m(x))
    ck = _run(m, lambda x: checkpoint_sequential(m, segments, x, use_reentrant=reentrant))
    _assert_same(plain, ck)


def test_checkpoint_sequential_list_and_dropout():
    m = _mlp(depth=2, p=0.5)
    mods = list(m.children())
    _assert_same(_run(m, lambda x: m(x)),
                 _run(m, lambda x: checkpoint_sequential(mods, 2, x, use_reentrant=True)))


@pytest.mark.parametrize("reentrant", REENTRANT)
def test_activations_not_kept_alive(reentrant):
    lin1, lin2 = nn.Linear(16, 16), nn.Linear(16, 16)
    refs = []

    def seg(x):
        h = lin1(x)
        a = h.relu()
        refs.extend([weakref.ref(h), weakref.ref(a), weakref.ref(h._data), weakref.ref(a._data)])
        return lin2(a)
    x = torch.randn(4, 16, requires_grad=True)
    y = checkpoint(seg, x, use_reentrant=reentrant)
    gc.collect()
    assert len(refs) == 4 and all(r() is None for r in refs)
    # the plain run keeps (at least the relu result's data) alive through the graph
    refs.clear()
    y_plain = seg(x)
    gc.collect()
    assert any(r() is not None for r in refs)
    del y_plain
    y.sum().backward()  # recomputation still works
    assert x.grad is not None and lin1.weight.grad is not None


def test_non_tensor_args_and_inputs_without_grad():
    lin = nn.Linear(4, 4)
    x = torch.randn(2, 4, requires_grad=True)
    c = torch.randn(2, 4)

    def f(a, scale, b, mode):
        assert mode == "add"
        return lin(a * scale + b).tanh()
    lin.zero_grad()
    f(x, 3.0, c, "add").pow(2).sum().backward()
    ref = (x.grad._data.copy(), lin.weight.grad._data.copy())
    x.grad = None
    lin.zero_grad()
    checkpoint(f, x, 3.0, c, "add", use_reentrant=True).pow(2).sum().backward()
    np.testing.assert_array_equal(x.grad._data, ref[0])
    np.testing.assert_array_equal(lin.weight.grad._data, ref[1])
    assert c.grad is None


@pytest.mark.parametrize("reentrant", REENTRANT)
def test_multiple_outputs(reentrant):
    lin = nn.Linear(3, 3)
    x = torch.randn(2, 3, requires_grad=True)

    def f(t):
        h = lin(t)
        return h.sin(), h.cos(), 5
    a, b, k = checkpoint(f, x, use_reentrant=reentrant)
    assert k == 5
    (a * 2 + b).sum().backward()
    g_ck = (x.grad._data.copy(), lin.weight.grad._data.copy())
    x.grad = None
    lin.zero_grad()
    a, b, _ = f(x)
    (a * 2 + b).sum().backward()
    np.testing.assert_allclose(g_ck[0], x.grad._data, rtol=0, atol=0)
    np.testing.assert_allclose(g_ck[1], lin.weight.grad._data, rtol=0, atol=0)


def test_use_reentrant_not_passed_warns():
    x = torch.randn(2, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint(lambda t: t * 2, x)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint_sequential([lambda t: t * 2, lambda t: t + 1], 2, x)


def test_reentrant_no_input_requires_grad_warns():
    lin = nn.Linear(2, 2)
    x = torch.randn(3, 2)
    with pytest.warns(
        UserWarning, match="None of the inputs have requires_grad=True. Gradients will be None"
    ):
        y = checkpoint(lin, x, use_reentrant=True)
    assert not y.requires_grad


def test_non_reentrant_params_only_and_kwargs():
    lin = nn.Linear(2, 2)
    x = torch.randn(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = checkpoint(lambda t, scale: lin(t) * scale, x, use_reentrant=False, scale=2.0)
    assert y.requires_grad
    y.sum().backward()
    ref = lin.weight.grad._data.copy()
    lin.zero_grad()
    (lin(x) * 2.0).sum().backward()
    np.testing.assert_array_equal(ref, lin.weight.grad._data)


def test_non_reentrant_context_fn_called():
    calls = []

    class Ctx:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            calls.append(self.name)

        def __exit__(self, *a):
            return False
    x = torch.randn(2, requires_grad=True)
    y = checkpoint(lambda t: t.exp(), x, use_reentrant=False,
                   context_fn=lambda: (Ctx("fwd"), Ctx("recompute")))
    assert calls == ["fwd"]
    y.sum().backward()
    assert calls == ["fwd", "recompute"]
    np.testing.assert_allclose(x.grad._data, np.exp(x._data))


def test_errors_match_torch():
    x = torch.randn(2, requires_grad=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
        checkpoint(lambda t, foo: t, x, use_reentrant=True, foo=1)
    with pytest.raises(ValueError, match="Passing `context_fn` or `debug` is only supported"):
        checkpoint(lambda t: t, x, use_reentrant=True, debug=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
        checkpoint_sequential([lambda t: t], 1, x, use_reentrant=True, foo=1)
    y = checkpoint(lambda t: t.detach() * 2, x, use_reentrant=True)
    with pytest.raises(RuntimeError, match="none of output has requires_grad=True"):
        y.sum().backward()


def test_module_namespace():
    import tapegrad.utils
    assert tapegrad.utils.checkpoint.checkpoint is checkpoint

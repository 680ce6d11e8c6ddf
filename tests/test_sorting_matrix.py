"""Sorting, selection and matrix ops (issue 15) beyond the op tables: transforms (vmap and
forward mode, compared with torch.func), the diagonal view, result types, in-place variants
and the ops that must record no graph."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.func as tgf

torch = pytest.importorskip("torch")


def _pair(*shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return tg.tensor(a), torch.tensor(a)


def _close(ours, theirs):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- vmap
@pytest.mark.parametrize("fn", [
    lambda L, x: L.tril(x),
    lambda L, x: x.triu(1),
    lambda L, x: L.sort(x, dim=1).values,
    lambda L, x: x.sort(dim=0, descending=True).indices,
    lambda L, x: L.argsort(x, dim=-1, descending=True),
], ids=["tril", "triu", "sort_values", "sort_indices", "argsort"])
def test_vmap_matches_torch(fn):
    ours, theirs = _pair(5, 3, 4)
    got = tgf.vmap(lambda x: fn(tg, x))(ours)
    want = torch.func.vmap(lambda x: fn(torch, x))(theirs)
    assert tuple(got.shape) == tuple(want.shape) and str(got.dtype) == str(want.dtype)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=0)


def test_vmap_in_dims_on_tril():
    ours, theirs = _pair(3, 4, 5)
    got = tgf.vmap(lambda x: tg.tril(x, -1), in_dims=2)(ours)
    want = torch.func.vmap(lambda x: torch.tril(x, -1), in_dims=2)(theirs)
    _close(got, want)


# ----------------------------------------------------------------- forward mode
def _cdist(L, x, y, p):
    # torch has no forward mode for cdist: its reference is the same distance as a norm
    if L is torch:
        return (x[:, None, :] - y[None, :, :]).norm(p=p, dim=-1)
    return L.cdist(x, y, p=p)


@pytest.mark.parametrize("fn, shapes", [
    (lambda L, x: L.sort(x, 1).values, [(3, 4)]),
    (lambda L, x: L.topk(x, 2).values, [(3, 4)]),
    (lambda L, x: x.diagonal(1), [(3, 4)]),
    (lambda L, x: L.diag_embed(x, -1), [(2, 3)]),
    (lambda L, x: L.trace(x), [(3, 4)]),
    (lambda L, x, y: _cdist(L, x, y, 3), [(3, 4), (2, 4)]),
    (lambda L, x, y: _cdist(L, x, y, 2), [(3, 4), (2, 4)]),
    (lambda L, x, y: _cdist(L, x, y, 1), [(3, 4), (2, 4)]),
    (lambda L, x, y: L.cross(x, y, dim=1), [(2, 3), (2, 3)]),
    (lambda L, c, a, b: L.baddbmm(c, a, b, beta=0.5), [(2, 3, 5), (2, 3, 4), (2, 4, 5)]),
    (lambda L, x, y: L.kron(x, y), [(2, 3), (2, 2)]),
], ids=["sort", "topk", "diagonal", "diag_embed", "trace", "cdist_p3", "cdist_p2", "cdist_p1", "cross",
        "baddbmm", "kron"])
def test_jvp_matches_torch(fn, shapes):
    prim = [_pair(*s, seed=i) for i, s in enumerate(shapes)]
    tang = [_pair(*s, seed=10 + i) for i, s in enumerate(shapes)]
    got_out, got_t = tgf.jvp(lambda *xs: fn(tg, *xs), tuple(p[0] for p in prim), tuple(t[0] for t in tang))
    want_out, want_t = torch.func.jvp(lambda *xs: fn(torch, *xs), tuple(p[1] for p in prim),
                                      tuple(t[1] for t in tang))
    _close(got_out, want_out)
    _close(got_t, want_t)


# ----------------------------------------------------------------- the diagonal is a view
def test_diagonal_is_a_writable_view_like_torch():
    results = []
    for L in (tg, torch):
        x = L.tensor(np.arange(12.0).reshape(3, 4))
        d = x.diagonal(1)
        d.mul_(10)
        results.append((x.numpy().copy(), d._base is x, d._version == x._version))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1:] == results[1][1:] == (True, True)


def test_inplace_through_diagonal_reaches_the_graph():
    grads = []
    for L in (tg, torch):
        x = L.tensor(np.arange(1.0, 10.0).reshape(3, 3), requires_grad=True)
        y = x * 2
        y.diagonal().pow_(2)
        y.sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1])


# ----------------------------------------------------------------- results
def test_named_tuples_and_reprs():
    ours, theirs = _pair(3, 4)
    for name, args in (("sort", ()), ("topk", (2,)), ("kthvalue", (2,))):
        got, want = getattr(ours, name)(*args), getattr(theirs, name)(*args)
        assert got._fields == ("values", "indices")
        assert want.values is want[0] and want.indices is want[1]
        assert repr(got).split("(")[0] == repr(want).split("(")[0] == f"torch.return_types.{name}"
        assert got.values is got[0] and got.indices is got[1]


def test_inplace_variants_return_self_and_bump_the_version():
    for name, args in (("tril_", (1,)), ("triu_", ()),):
        x = tg.ones(3, 3)
        v = x._version
        assert getattr(x, name)(*args) is x and x._version == v + 1
    t = torch.ones(3, 3)
    np.testing.assert_array_equal(tg.ones(3, 3).tril_(-1).numpy(), t.tril_(-1).numpy())


def test_counting_ops_record_nothing():
    x = tg.randn(3, 4, requires_grad=True)
    for out in (tg.argsort(x), tg.histc(x), tg.searchsorted(tg.tensor([0.0, 1.0]), x),
                tg.bucketize(x, tg.tensor([0.0, 1.0])), x.sort().indices, x.unique(return_counts=True)[1]):
        assert not out.requires_grad and out.grad_fn is None


def test_cartesian_prod_of_one_tensor_is_that_tensor():
    x = tg.ones(3)
    assert tg.cartesian_prod(x) is x and torch.cartesian_prod(torch.ones(3)) is not None


def test_meshgrid_outputs_are_expanded_views():
    for L in (tg, torch):
        a, b = L.arange(3.0), L.arange(4.0)
        gx, gy = L.meshgrid(a, b, indexing="ij")
        assert gx._base is a and gy._base is b


def test_sort_large_input_is_vectorised_and_stable():
    a = np.random.default_rng(3).integers(0, 5, size=(200, 500)).astype(np.float64)
    got = tg.sort(tg.tensor(a), dim=1, descending=True, stable=True)
    want = torch.sort(torch.tensor(a), dim=1, descending=True, stable=True)
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    got = tg.sort(tg.tensor(a), dim=0, stable=True)
    want = torch.sort(torch.tensor(a), dim=0, stable=True)
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())

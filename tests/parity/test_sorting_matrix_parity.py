"""Bad input to the sorting, selection and matrix ops (issue 15): tapegrad raises PyTorch's
exception class with PyTorch's message, and the warnings PyTorch gives match too.

Each row is ``fn(L)`` run with ``L = torch`` and ``L = tapegrad``; torch must raise (the
row is wrong otherwise) and tapegrad must raise the same class with the same first line
(``prefix=True``: the same text up to torch's trailing tensor print-out).
"""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402

ROWS = []


def bad(name, fn, prefix=False):
    ROWS.append(pytest.param(fn, prefix, id=name))


def T(L, *shape, dtype=None):
    dt = {None: L.float32, "f64": L.float64, "i64": L.int64, "bool": L.bool}[dtype]
    return L.arange(int(__import__("math").prod(shape))).reshape(shape).to(dt) if shape else L.tensor(2.0)


# ----------------------------------------------------------------- sort / topk / kthvalue
bad("sort_dim", lambda L: L.sort(T(L, 3, 4), 2))
bad("argsort_dim", lambda L: L.argsort(T(L, 3, 4), -3))
bad("topk_k_too_big", lambda L: L.topk(T(L, 3, 4), 5))
bad("topk_k_negative", lambda L: T(L, 3, 4).topk(-1))
bad("topk_dim", lambda L: L.topk(T(L, 3, 4), 1, dim=2))
bad("topk_0d_k2", lambda L: L.topk(T(L), 2))
bad("topk_bool", lambda L: L.topk(T(L, 4, dtype="bool"), 1))
bad("kthvalue_k0", lambda L: L.kthvalue(T(L, 3, 4), 0))
bad("kthvalue_k_too_big", lambda L: T(L, 3, 4).kthvalue(4, 0))
bad("kthvalue_0d_k2", lambda L: L.kthvalue(T(L), 2))
bad("kthvalue_bool", lambda L: L.kthvalue(T(L, 4, dtype="bool"), 1))
bad("kthvalue_dim", lambda L: L.kthvalue(T(L, 3), 1, 1))
bad("unique_dim", lambda L: L.unique(T(L, 3, 4), dim=3))
bad("unique_backward", lambda L: L.unique(T(L, 3, 4).requires_grad_()).sum().backward())
bad("unique_dim_backward", lambda L: L.unique(T(L, 3, 4).requires_grad_(), dim=0).sum().backward())
bad("unique_consecutive_backward",
    lambda L: L.unique_consecutive(T(L, 3, 4).requires_grad_()).sum().backward())
# ----------------------------------------------------------------- searchsorted / bucketize / histc
bad("searchsorted_rows", lambda L: L.searchsorted(T(L, 2, 3), T(L, 3, 3)))
bad("searchsorted_0d", lambda L: L.searchsorted(T(L), T(L, 3)))
bad("searchsorted_side", lambda L: L.searchsorted(T(L, 3), T(L, 3), side="middle"))
bad("searchsorted_side_right", lambda L: L.searchsorted(T(L, 3), T(L, 3), right=True, side="left"))
bad("searchsorted_sorter_size", lambda L: L.searchsorted(T(L, 3), T(L, 2), sorter=L.tensor([1, 0])))
bad("searchsorted_sorter_range", lambda L: L.searchsorted(T(L, 3), T(L, 2), sorter=L.tensor([1, 0, 3])))
bad("bucketize_2d", lambda L: L.bucketize(T(L, 3), T(L, 2, 3)))
bad("histc_int", lambda L: L.histc(T(L, 3, dtype="i64")))
bad("histc_bins", lambda L: L.histc(T(L, 3), bins=0))
bad("histc_range", lambda L: L.histc(T(L, 3), min=2, max=1))
# ----------------------------------------------------------------- triangles and diagonals
bad("tril_1d", lambda L: L.tril(T(L, 4)))
bad("triu_0d", lambda L: T(L).triu())
bad("tril__1d", lambda L: T(L, 4).tril_())
bad("tril_indices_row", lambda L: L.tril_indices(-1, 3))
bad("triu_indices_col", lambda L: L.triu_indices(3, -2))
bad("tril_indices_float", lambda L: L.tril_indices(3, 3, dtype=L.float32))
bad("diag_3d", lambda L: L.diag(T(L, 2, 2, 2)))
bad("diag_0d", lambda L: L.diag(T(L)))
bad("diagonal_same_dims", lambda L: L.diagonal(T(L, 3, 4), 0, 1, 1))
bad("diagonal_same_wrapped", lambda L: T(L, 3, 4).diagonal(0, -1, 1))
bad("diagonal_1d", lambda L: L.diagonal(T(L, 4)))
bad("diagonal_dim", lambda L: L.diagonal(T(L, 3, 4), 0, 0, 2))
bad("diag_embed_same", lambda L: L.diag_embed(T(L, 3, 4), 0, 1, 1))
bad("diag_embed_0d", lambda L: L.diag_embed(T(L)))
bad("trace_3d", lambda L: L.trace(T(L, 2, 2, 2)))
bad("trace_1d", lambda L: T(L, 3).trace())
bad("trace_bool", lambda L: L.trace(T(L, 3, 3, dtype="bool")))
# ----------------------------------------------------------------- cross / cdist / products
bad("cross_length", lambda L: L.cross(T(L, 3, 4), T(L, 3, 4), dim=1))
bad("cross_other_length", lambda L: L.cross(T(L, 3, 3), T(L, 2, 3), dim=0))
bad("cross_ndim", lambda L: L.cross(T(L, 2, 1, 3), T(L, 4, 3), dim=-1))
bad("cross_no_size3", lambda L: L.cross(T(L, 2, 4), T(L, 2, 4)))
bad("cross_dim", lambda L: L.cross(T(L, 2, 3), T(L, 2, 3), dim=2))
bad("cross_broadcast", lambda L: L.cross(T(L, 2, 3), T(L, 4, 3), dim=1))
bad("cross_dtypes", lambda L: L.cross(T(L, 3), T(L, 3, dtype="i64"), dim=0))
bad("cdist_1d", lambda L: L.cdist(T(L, 4), T(L, 4)))
bad("cdist_x2_1d", lambda L: L.cdist(T(L, 2, 4), T(L, 4)))
bad("cdist_columns", lambda L: L.cdist(T(L, 3, 4), T(L, 3, 5)))
bad("cdist_negative_p", lambda L: L.cdist(T(L, 3, 4), T(L, 3, 4), p=-1))
bad("cdist_int", lambda L: L.cdist(T(L, 3, 4, dtype="i64"), T(L, 3, 4, dtype="i64")))
bad("cdist_mode", lambda L: L.cdist(T(L, 3, 4), T(L, 3, 4), compute_mode="bogus"))
bad("cdist_batch", lambda L: L.cdist(T(L, 2, 3, 4), T(L, 3, 5, 4)))
bad("baddbmm_shapes", lambda L: L.baddbmm(T(L, 2, 3, 5), T(L, 2, 3, 4), T(L, 2, 3, 5)))
bad("baddbmm_2d", lambda L: L.baddbmm(T(L, 3, 5), T(L, 3, 4), T(L, 4, 5)))
bad("baddbmm_batch2_2d", lambda L: L.baddbmm(T(L, 2, 3, 5), T(L, 2, 3, 4), T(L, 4, 5)))
bad("baddbmm_batch", lambda L: L.baddbmm(T(L, 2, 3, 5), T(L, 2, 3, 4), T(L, 3, 4, 5)))
bad("baddbmm_input", lambda L: L.baddbmm(T(L, 2, 3), T(L, 2, 3, 4), T(L, 2, 4, 5)))
bad("baddbmm_dtypes", lambda L: L.baddbmm(T(L, 2, 3, 5), T(L, 2, 3, 4, dtype="f64"), T(L, 2, 4, 5)))
bad("addbmm_shapes", lambda L: L.addbmm(T(L, 3, 5), T(L, 2, 3, 4), T(L, 2, 3, 5)))
bad("addbmm_2d", lambda L: L.addbmm(T(L, 3, 5), T(L, 3, 4), T(L, 4, 5)))
bad("addbmm_input", lambda L: L.addbmm(T(L, 2, 3), T(L, 2, 3, 4), T(L, 2, 4, 5)))
bad("addbmm_dtypes", lambda L: L.addbmm(T(L, 3, 5), T(L, 2, 3, 4, dtype="f64"), T(L, 2, 4, 5)))
bad("addmv_size", lambda L: L.addmv(T(L, 3), T(L, 3, 4), T(L, 5)))
bad("addmv_ranks", lambda L: L.addmv(T(L, 3), T(L, 3), T(L, 4)))
bad("addmv_vec_2d", lambda L: L.addmv(T(L, 3), T(L, 3, 4), T(L, 4, 1)))
bad("addmv_dtypes", lambda L: L.addmv(T(L, 3), T(L, 3, 4, dtype="f64"), T(L, 4)))
bad("addr_vec1_2d", lambda L: L.addr(T(L, 3, 4), T(L, 3, 1), T(L, 4)))
bad("addr_vec2_2d", lambda L: L.addr(T(L, 3, 4), T(L, 3), T(L, 4, 1)))
bad("addr_input", lambda L: L.addr(T(L, 3, 4), T(L, 2), T(L, 4)))
# ----------------------------------------------------------------- grids
bad("meshgrid_2d", lambda L: L.meshgrid(T(L, 3, 4), T(L, 4), indexing="ij"), prefix=True)
bad("meshgrid_indexing", lambda L: L.meshgrid(T(L, 4), T(L, 4), indexing="foo"))
bad("meshgrid_empty", lambda L: L.meshgrid(indexing="ij"))
bad("meshgrid_dtypes", lambda L: L.meshgrid(T(L, 4), T(L, 4, dtype="i64"), indexing="ij"))
bad("cartesian_prod_2d", lambda L: L.cartesian_prod(T(L, 3, 4), T(L, 4)))
bad("block_diag_3d", lambda L: L.block_diag(T(L, 2), T(L, 2, 2, 2)))
bad("combinations_2d", lambda L: L.combinations(T(L, 3, 4)))
bad("combinations_negative", lambda L: L.combinations(T(L, 4), -1))


def _first_line(e):
    return str(e).split("\n")[0].split(" (Triggered internally")[0].strip()


@pytest.mark.parametrize("fn, prefix", ROWS)
def test_bad_input_matches_torch(fn, prefix):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as theirs:
            fn(torch)
        with pytest.raises(Exception) as ours:
            fn(tg)
    assert type(ours.value) is type(theirs.value), (type(ours.value), ours.value, theirs.value)
    want, got = _first_line(theirs.value), _first_line(ours.value)
    if prefix:
        want, got = want.split("got:")[0], got.split("got:")[0]
    assert got == want, f"\n ours:  {got!r}\n torch: {want!r}"


# ----------------------------------------------------------------- warnings
def _warnings(fn, L):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn(L)
    return [(type(m.message), _first_line(m.message)) for m in w]


@pytest.mark.parametrize("fn", [
    lambda L: L.meshgrid(L.ones(2), L.ones(3), indexing="xy"),
    lambda L: L.cross(L.ones(2, 3), L.ones(2, 3), dim=1),
], ids=["meshgrid_indexing", "cross_dim"])
def test_warnings_match_torch(fn):
    assert _warnings(fn, tg) == _warnings(fn, torch)


@pytest.mark.parametrize("call, fn", [
    ("torch.cross(torch.ones(2, 3), torch.ones(2, 3))", lambda L: L.cross(L.ones(2, 3), L.ones(2, 3))),
    ("torch.meshgrid(torch.ones(2), torch.ones(3))", lambda L: L.meshgrid(L.ones(2), L.ones(3))),
], ids=["cross_no_dim", "meshgrid_no_indexing"])
def test_warn_once_warnings_match_torch(call, fn):
    # torch gives these warnings once per process (TORCH_WARN_ONCE), so its text is taken
    # from a fresh interpreter rather than from this one
    import subprocess
    import sys
    code = ("import warnings, torch; warnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            f"    warnings.simplefilter('always'); {call}\n"
            "print(w[0].category.__name__); print(str(w[0].message).split(' (Triggered')[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    category, message = out.split("\n", 1)
    got = _warnings(fn, tg)
    assert len(got) == 1
    assert got[0][0].__name__ == category
    assert str(got[0][1]) == message.strip().split("\n")[0]

"""tapegrad.linalg against torch.linalg: bad input (exception class and message), singular
and indefinite matrices (``LinAlgError``), the ``*_ex`` info outputs, return types and the
lstsq drivers' outputs."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402


def _sing(L):
    return L.tensor([[1.0, 2.0], [2.0, 4.0]])


def _npd(L):
    return L.tensor([[1.0, 2.0], [2.0, 1.0]])


def _rect(L):
    return L.arange(6.0).reshape(2, 3)


def _ints(L):
    return L.ones(2, 2, dtype=L.int64)


_V = lambda L: L.ones(3)  # noqa: E731

#: (id, call): each raises in torch; tapegrad must raise the same class with the same message
ERRORS = [
    ("inv_singular", lambda L: L.linalg.inv(_sing(L))),
    ("inv_singular_batch", lambda L: L.linalg.inv(L.stack([L.eye(2), _sing(L)]))),
    ("inv_singular_3x3", lambda L: L.linalg.inv(L.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [1.0, 1, 1]]))),
    ("inv_singular_pivot3", lambda L: L.linalg.inv(L.tensor([[2.0, 1, 0], [4.0, 2, 0], [1.0, 1, 1]]))),
    ("inverse_singular", lambda L: L.inverse(_sing(L))),
    ("inv_rect", lambda L: L.linalg.inv(_rect(L))),
    ("inv_1d", lambda L: L.linalg.inv(_V(L))),
    ("inv_int", lambda L: L.linalg.inv(_ints(L))),
    ("inv_ex_check", lambda L: L.linalg.inv_ex(_sing(L), check_errors=True)),
    ("det_rect", lambda L: L.linalg.det(_rect(L))),
    ("det_1d", lambda L: L.linalg.det(_V(L))),
    ("det_int", lambda L: L.det(_ints(L))),
    ("slogdet_rect", lambda L: L.linalg.slogdet(_rect(L))),
    ("logdet_rect", lambda L: L.logdet(_rect(L))),
    ("solve_singular", lambda L: L.linalg.solve(_sing(L), L.ones(2))),
    ("solve_singular_batch", lambda L: L.linalg.solve(L.stack([L.eye(2), _sing(L)]), L.ones(2, 2, 1))),
    ("solve_rect", lambda L: L.linalg.solve(_rect(L), L.ones(2))),
    ("solve_mismatch", lambda L: L.linalg.solve(L.eye(3), L.ones(2))),
    ("solve_mismatch_matrix", lambda L: L.linalg.solve(L.eye(3), L.ones(2, 4))),
    ("solve_dtype", lambda L: L.linalg.solve(L.eye(3), L.ones(3, dtype=L.float64))),
    ("solve_int", lambda L: L.linalg.solve(_ints(L), _ints(L))),
    ("solve_ex_check", lambda L: L.linalg.solve_ex(_sing(L), L.ones(2), check_errors=True)),
    ("cholesky_not_pd", lambda L: L.linalg.cholesky(_npd(L))),
    ("cholesky_not_pd_batch", lambda L: L.linalg.cholesky(L.stack([L.eye(2), _npd(L)]))),
    ("cholesky_not_pd_order1", lambda L: L.linalg.cholesky(-L.eye(3))),
    ("cholesky_upper_reads_upper",
     lambda L: L.linalg.cholesky(L.tensor([[1.0, 5.0], [0.0, 1.0]]), upper=True)),
    ("cholesky_rect", lambda L: L.linalg.cholesky(_rect(L))),
    ("cholesky_1d", lambda L: L.linalg.cholesky(_V(L))),
    ("cholesky_legacy", lambda L: L.cholesky(_npd(L))),
    ("cholesky_ex_check", lambda L: L.linalg.cholesky_ex(_npd(L), check_errors=True)),
    ("qr_1d", lambda L: L.linalg.qr(_V(L))),
    ("qr_mode", lambda L: L.linalg.qr(_rect(L), mode="bad")),
    ("qr_int", lambda L: L.linalg.qr(_ints(L))),
    ("svd_1d", lambda L: L.linalg.svd(_V(L))),
    ("svd_int", lambda L: L.linalg.svd(_ints(L))),
    ("svdvals_1d", lambda L: L.linalg.svdvals(_V(L))),
    ("eigh_rect", lambda L: L.linalg.eigh(_rect(L))),
    ("eigh_uplo", lambda L: L.linalg.eigh(L.eye(2), UPLO="X")),
    ("eigh_1d", lambda L: L.linalg.eigh(_V(L))),
    ("eigvalsh_rect", lambda L: L.linalg.eigvalsh(_rect(L))),
    ("pinv_1d", lambda L: L.linalg.pinv(_V(L))),
    ("pinv_int", lambda L: L.linalg.pinv(_ints(L))),
    ("lstsq_mismatch", lambda L: L.linalg.lstsq(_rect(L), L.ones(3, 1))),
    ("lstsq_1d", lambda L: L.linalg.lstsq(_V(L), _V(L))),
    ("lstsq_driver", lambda L: L.linalg.lstsq(_rect(L), L.ones(2, 1), driver="foo")),
    ("matrix_norm_1d", lambda L: L.linalg.matrix_norm(_V(L))),
    ("matrix_norm_ord", lambda L: L.linalg.matrix_norm(_rect(L), 3)),
    ("matrix_norm_ord_str", lambda L: L.linalg.matrix_norm(_rect(L), "foo")),
    ("matrix_norm_int", lambda L: L.linalg.matrix_norm(_ints(L))),
    ("vector_norm_int", lambda L: L.linalg.vector_norm(_ints(L))),
    ("vector_norm_str", lambda L: L.linalg.vector_norm(_rect(L), "fro")),
    ("norm_nuc_dim", lambda L: L.linalg.norm(_rect(L), "nuc", dim=0)),
    ("norm_3d_fro", lambda L: L.linalg.norm(L.ones(2, 2, 2), "fro")),
    ("norm_3d_ord", lambda L: L.linalg.norm(L.ones(2, 2, 2), 2)),
    ("matrix_power_rect", lambda L: L.linalg.matrix_power(_rect(L), 2)),
    ("matrix_power_1d", lambda L: L.linalg.matrix_power(_V(L), 2)),
    ("matrix_power_singular", lambda L: L.linalg.matrix_power(_sing(L), -1)),
    ("matrix_power_float", lambda L: L.linalg.matrix_power(_sing(L), 1.5)),
    ("cross_size", lambda L: L.linalg.cross(L.ones(3, 2), L.ones(3, 2))),
    ("cross_broadcast", lambda L: L.linalg.cross(L.ones(2, 3), L.ones(4, 3))),
    ("cross_ndim", lambda L: L.linalg.cross(L.ones(2, 3), L.ones(3))),
    ("multi_dot_one", lambda L: L.linalg.multi_dot([_rect(L)])),
    ("multi_dot_3d_last", lambda L: L.linalg.multi_dot([_rect(L), L.ones(2, 3, 3)])),
    ("multi_dot_3d_first", lambda L: L.linalg.multi_dot([L.ones(2, 3, 3), _rect(L)])),
    ("multi_dot_3d_middle", lambda L: L.linalg.multi_dot([_rect(L), L.ones(3, 3, 3), _V(L)])),
    ("multi_dot_shapes", lambda L: L.linalg.multi_dot([_rect(L), _rect(L)])),
    ("vecdot_sizes", lambda L: L.linalg.vecdot(L.ones(3), L.ones(4))),
    ("solve_triangular_no_upper", lambda L: L.linalg.solve_triangular(L.eye(2), L.ones(2, 1))),
    ("solve_triangular_1d", lambda L: L.linalg.solve_triangular(L.eye(2), L.ones(2), upper=True)),
    ("matrix_rank_1d", lambda L: L.linalg.matrix_rank(_V(L))),
    ("matrix_exp_rect", lambda L: L.linalg.matrix_exp(_rect(L))),
    ("matrix_exp_1d", lambda L: L.linalg.matrix_exp(_V(L))),
    ("matrix_exp_int", lambda L: L.matrix_exp(_ints(L))),
    ("inv_ex_int", lambda L: L.linalg.inv_ex(_ints(L))),
    ("lstsq_batch_broadcast", lambda L: L.linalg.lstsq(L.ones(2, 4, 3), L.ones(4, 1))),
    ("matrix_norm_same_dims", lambda L: L.linalg.matrix_norm(L.ones(3, 3), dim=(0, 0))),
    ("vector_norm_inf_empty", lambda L: L.linalg.vector_norm(L.ones(0), float("inf"))),
    ("vector_norm_neg_inf_empty", lambda L: L.linalg.vector_norm(L.ones(2, 0), -float("inf"), dim=1)),
    ("vector_norm_inf_empty_dim_-1", lambda L: L.linalg.vector_norm(L.ones(2, 0), float("inf"), dim=-1)),
    ("vector_norm_inf_empty_dims", lambda L: L.linalg.vector_norm(L.ones(0, 2), float("inf"), dim=(1, 0))),
    ("cond_rect_fro", lambda L: L.linalg.cond(L.ones(2, 3), "fro")),
    ("cond_rect_1", lambda L: L.linalg.cond(L.ones(2, 3), 1)),
    ("matrix_rank_hermitian_rect", lambda L: L.linalg.matrix_rank(L.ones(2, 3), hermitian=True)),
    ("tensorinv_singular", lambda L: L.linalg.tensorinv(L.ones(4, 2, 2), ind=1)),
    ("tensorinv_ind", lambda L: L.linalg.tensorinv(L.ones(4, 2, 2), ind=0)),
    ("tensorinv_shapes", lambda L: L.linalg.tensorinv(L.ones(4, 6, 8, 2))),
    ("tensorsolve_shapes", lambda L: L.linalg.tensorsolve(L.ones(2, 3, 5), L.ones(2, 3))),
    ("tensorsolve_dims_shapes", lambda L: L.linalg.tensorsolve(L.ones(2, 3, 6), L.ones(2, 3), dims=(0,))),
    ("tensorsolve_singular", lambda L: L.linalg.tensorsolve(L.zeros(2, 3, 6), L.ones(2, 3))),
    ("lu_no_pivot", lambda L: L.linalg.lu(L.eye(2), pivot=False)),
    ("lu_factor_no_pivot", lambda L: L.linalg.lu_factor(L.eye(2), pivot=False)),
    ("lu_factor_1d", lambda L: L.linalg.lu_factor(_V(L))),
    ("lu_int", lambda L: L.linalg.lu(_ints(L))),
    ("lu_factor_singular", lambda L: L.linalg.lu_factor(L.stack([L.eye(2), L.zeros(2, 2)]))),
    ("lu_factor_ex_check", lambda L: L.linalg.lu_factor_ex(_sing(L), check_errors=True)),
    ("lu_solve_rect", lambda L: L.linalg.lu_solve(_rect(L), L.ones(2, dtype=L.int32), L.ones(2, 1))),
    ("lu_solve_1d_b", lambda L: L.linalg.lu_solve(L.eye(2), L.ones(2, dtype=L.int32), L.ones(2))),
]
_HALF = {
    "inv": lambda L, h: L.linalg.inv(h), "det": lambda L, h: L.linalg.det(h),
    "svd": lambda L, h: L.linalg.svd(h),
    "cholesky": lambda L, h: L.linalg.cholesky(h), "eigh": lambda L, h: L.linalg.eigh(h),
    "qr": lambda L, h: L.linalg.qr(h), "solve": lambda L, h: L.linalg.solve(h, h),
    "pinv": lambda L, h: L.linalg.pinv(h), "matrix_norm": lambda L, h: L.linalg.matrix_norm(h, "nuc"),
    "slogdet": lambda L, h: L.linalg.slogdet(h), "lstsq": lambda L, h: L.linalg.lstsq(h, h),
}


def _on_half(call):
    return lambda L: call(L, L.eye(2, dtype=L.float16))


ERRORS += [(f"{k}_float16", _on_half(f)) for k, f in _HALF.items()]
#: a list where a tensor belongs: torch's argument error names the function and the argument
_NOT_TENSOR = {
    "linalg.inv": lambda L, x: L.linalg.inv(x), "inverse": lambda L, x: L.inverse(x),
    "linalg.det": lambda L, x: L.linalg.det(x), "det": lambda L, x: L.det(x),
    "linalg.solve_A": lambda L, x: L.linalg.solve(x, L.eye(2)),
    "linalg.solve_B": lambda L, x: L.linalg.solve(L.eye(2), x),
    "linalg.cholesky": lambda L, x: L.linalg.cholesky(x), "linalg.svd": lambda L, x: L.linalg.svd(x),
    "linalg.qr": lambda L, x: L.linalg.qr(x), "linalg.eigh": lambda L, x: L.linalg.eigh(x),
    "linalg.matrix_norm": lambda L, x: L.linalg.matrix_norm(x),
    "linalg.vector_norm": lambda L, x: L.linalg.vector_norm(x),
    "linalg.cross": lambda L, x: L.linalg.cross(x, L.ones(3)), "logdet": lambda L, x: L.logdet(x),
    "svd": lambda L, x: L.svd(x), "linalg.lstsq": lambda L, x: L.linalg.lstsq(x, L.ones(3)),
    "linalg.matrix_power": lambda L, x: L.linalg.matrix_power(x, 2),
    "linalg.slogdet": lambda L, x: L.linalg.slogdet(x),
    "linalg.matrix_exp": lambda L, x: L.linalg.matrix_exp(x),
    "linalg.eigvalsh": lambda L, x: L.linalg.eigvalsh(x),
    "linalg.svdvals": lambda L, x: L.linalg.svdvals(x), "linalg.inv_ex": lambda L, x: L.linalg.inv_ex(x),
    "linalg.solve_triangular": lambda L, x: L.linalg.solve_triangular(x, L.ones(2, 2), upper=True),
}


def _on_a_list(call):
    return lambda L: call(L, [1.0])


ERRORS += [(f"{k}_not_tensor", _on_a_list(f)) for k, f in _NOT_TENSOR.items()]


def _torch_error(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            fn(torch)
        except Exception as e:  # noqa: BLE001 - the class is what we compare
            return e
    raise AssertionError("torch did not raise")


@pytest.mark.parametrize("fn", [f for _, f in ERRORS], ids=[i for i, _ in ERRORS])
def test_error_matches_torch(fn):
    theirs = _torch_error(fn)
    expected = tg.linalg.LinAlgError if isinstance(theirs, torch.linalg.LinAlgError) else type(theirs)
    with pytest.raises(Exception) as info:
        fn(tg)
    assert type(info.value) is expected, f"{type(info.value).__name__}: {info.value}; torch: {theirs!r}"
    assert str(info.value).split("\n")[0] == str(theirs).split("\n")[0]


def test_linalg_error_is_a_runtime_error_like_torchs():
    assert issubclass(torch.linalg.LinAlgError, RuntimeError)
    assert issubclass(tg.linalg.LinAlgError, RuntimeError)


# ----------------------------------------------------------------- derivatives that torch refuses
@pytest.mark.parametrize("mode, shape", [("complete", (4, 2)), ("r", (4, 2))])
def test_qr_backward_refusals_match_torch(mode, shape):
    msgs = []
    for L in (torch, tg):
        a = L.ones(*shape, dtype=L.float64).cumsum(0).requires_grad_()
        q, r = L.linalg.qr(a + L.eye(*shape, dtype=L.float64), mode=mode)
        with pytest.raises(RuntimeError) as info:
            r.sum().backward()
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]


# ----------------------------------------------------------------- *_ex info and partial results
def test_inv_ex_reports_the_zero_pivot_per_batch_element():
    ours = tg.linalg.inv_ex(tg.stack([tg.eye(2), _sing(tg), tg.zeros(2, 2)]))
    theirs = torch.linalg.inv_ex(torch.stack([torch.eye(2), _sing(torch), torch.zeros(2, 2)]))
    np.testing.assert_array_equal(ours.info.numpy(), theirs.info.numpy())
    assert ours.info.dtype == tg.int32 and str(theirs.info.dtype) == "torch.int32"
    np.testing.assert_allclose(ours.inverse[0].numpy(), theirs.inverse[0].numpy())


def test_cholesky_ex_reports_the_failed_minor_and_the_partial_factor():
    a = [[[4.0, 2.0, 0.0], [2.0, 1.0, 1.0], [0.0, 1.0, 3.0]],
         [[4.0, 2.0, 0.0], [2.0, 5.0, 1.0], [0.0, 1.0, 3.0]]]
    ours, theirs = tg.linalg.cholesky_ex(tg.tensor(a)), torch.linalg.cholesky_ex(torch.tensor(a))
    np.testing.assert_array_equal(ours.info.numpy(), theirs.info.numpy())
    np.testing.assert_allclose(ours.L[1].numpy(), theirs.L[1].numpy(), rtol=1e-6)
    # the columns before the failed one are the factor's
    np.testing.assert_allclose(ours.L[0, :, 0].numpy(), theirs.L[0, :, 0].numpy(), rtol=1e-6)


def test_solve_ex_info_matches_torch():
    ours = tg.linalg.solve_ex(tg.stack([tg.eye(2), _sing(tg)]), tg.ones(2, 2, 1))
    theirs = torch.linalg.solve_ex(torch.stack([torch.eye(2), _sing(torch)]), torch.ones(2, 2, 1))
    assert ours.info.tolist() == theirs.info.tolist()


# ----------------------------------------------------------------- return types and lstsq outputs
@pytest.mark.parametrize("call", [
    lambda L: L.linalg.slogdet(L.eye(2)), lambda L: L.slogdet(L.eye(2)), lambda L: L.linalg.qr(L.eye(2)),
    lambda L: L.qr(L.eye(2)), lambda L: L.linalg.svd(L.eye(2)), lambda L: L.svd(L.eye(2)),
    lambda L: L.linalg.eigh(L.eye(2)), lambda L: L.linalg.lstsq(L.eye(2), L.ones(2, 1)),
    lambda L: L.linalg.inv_ex(L.eye(2)), lambda L: L.linalg.cholesky_ex(L.eye(2)),
    lambda L: L.linalg.solve_ex(L.eye(2), L.ones(2)), lambda L: L.linalg.lu(L.eye(2)),
    lambda L: L.linalg.lu_factor(L.eye(2)), lambda L: L.linalg.lu_factor_ex(L.eye(2)),
], ids=["linalg_slogdet", "slogdet", "linalg_qr", "qr", "linalg_svd", "svd", "linalg_eigh", "linalg_lstsq",
        "linalg_inv_ex", "linalg_cholesky_ex", "linalg_solve_ex", "linalg_lu", "linalg_lu_factor",
        "linalg_lu_factor_ex"])
def test_return_types_match_torch(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        theirs = call(torch)
    ours = call(tg)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours._fields == tuple(type(theirs).__match_args__)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("shapes", [((5, 3), (5, 2)), ((3, 5), (3, 2)), ((2, 4, 3), (2, 4, 1)),
                                    ((4, 3), (4,))])
def test_lstsq_outputs_per_driver_match_torch(driver, shapes):
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal(s) for s in shapes)
    ours = tg.linalg.lstsq(tg.tensor(a), tg.tensor(b), driver=driver)
    theirs = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    for name in ("residuals", "rank", "singular_values"):
        o, t = getattr(ours, name), getattr(theirs, name)
        assert tuple(o.shape) == tuple(t.shape), name
        assert str(o.dtype) == str(t.dtype), name
        np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-10, err_msg=name)
    if driver != "gels" or shapes[0][-2] >= shapes[0][-1]:  # torch's wide gels: not the minimum-norm one
        np.testing.assert_allclose(ours.solution.numpy(), theirs.solution.numpy(), rtol=1e-10, atol=1e-12)


def test_lstsq_rank_deficient_matches_torch_gelsy():
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    b = np.arange(8.0).reshape(4, 2)
    ours = tg.linalg.lstsq(tg.tensor(a), tg.tensor(b))
    theirs = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b))
    assert int(ours.rank) == int(theirs.rank) == 2
    np.testing.assert_allclose(ours.solution.numpy(), theirs.solution.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("call", [
    lambda L, a: L.linalg.matrix_rank(a), lambda L, a: L.linalg.matrix_rank(a, hermitian=True),
    lambda L, a: L.linalg.matrix_rank(a, atol=1.0), lambda L, a: L.linalg.matrix_rank(a, rtol=0.5),
    lambda L, a: L.linalg.pinv(a, atol=1.0), lambda L, a: L.linalg.pinv(a, rtol=0.3, hermitian=True),
    lambda L, a: L.linalg.det(a),
])
def test_rank_deficient_and_tolerances_match_torch(call):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 2))
    a = x @ x.swapaxes(-1, -2)  # rank 2, symmetric
    a[1] *= 0.1
    ours, theirs = call(tg, tg.tensor(a)), call(torch, torch.tensor(a))
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    for o, t in zip(ours, theirs, strict=True):
        assert str(o.dtype) == str(t.dtype)
        if o.dtype == tg.int64:
            np.testing.assert_array_equal(o.numpy(), t.numpy())
        else:
            np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------- empty and broadcast shapes
SHAPES = {
    "inv_empty_batch": lambda L: L.linalg.inv(L.ones(0, 3, 3)),
    "det_empty_batch": lambda L: L.linalg.det(L.ones(0, 3, 3)),
    "svd_empty_batch": lambda L: L.linalg.svd(L.ones(0, 3, 2)),
    "eigh_0x0": lambda L: L.linalg.eigh(L.ones(0, 0)),
    "qr_empty_batch": lambda L: L.linalg.qr(L.ones(0, 3, 2)),
    "cholesky_0x0": lambda L: L.linalg.cholesky(L.ones(0, 0)),
    "solve_empty_batch": lambda L: L.linalg.solve(L.ones(0, 3, 3), L.ones(0, 3, 1)),
    "pinv_no_columns": lambda L: L.linalg.pinv(L.ones(2, 0, 3)),
    "matrix_norm_empty_batch": lambda L: L.linalg.matrix_norm(L.ones(0, 3, 3)),
    "slogdet_0x0": lambda L: L.linalg.slogdet(L.ones(0, 0)),
    "svdvals_no_rows": lambda L: L.linalg.svdvals(L.ones(0, 3)),
    "matrix_exp_0x0": lambda L: L.linalg.matrix_exp(L.ones(0, 0)),
    "matrix_power_empty_batch": lambda L: L.linalg.matrix_power(L.ones(0, 2, 2), 3),
    "cross_broadcast": lambda L: L.linalg.cross(L.ones(2, 1, 3), L.ones(1, 4, 3)),
    "inv_transposed": lambda L: L.linalg.inv((L.eye(3) * 2 + L.ones(3, 3)).t()),
    "vector_norm_to_float64": lambda L: L.linalg.vector_norm(L.arange(3.0), dtype=L.float64),
    "vecdot_broadcast": lambda L: L.linalg.vecdot(L.ones(2, 3), L.ones(4, 1, 3)),
    "solve_triangular_batched_b": lambda L: L.linalg.solve_triangular(L.eye(3), L.ones(2, 3, 2), upper=True),
    "qr_0x0": lambda L: L.linalg.qr(L.ones(0, 0)),
    "logdet_expanded_batch": lambda L: L.logdet(L.eye(2).expand(3, 2, 2)),
    "matrix_exp_float16": lambda L: L.linalg.matrix_exp(L.eye(2, dtype=L.float16)),
}


@pytest.mark.parametrize("call", list(SHAPES.values()), ids=list(SHAPES))
def test_edge_shapes_and_dtypes_match_torch(call):
    theirs, ours = call(torch), call(tg)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    ours = ours if isinstance(ours, tuple) else (ours,)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs, strict=True):
        assert tuple(o.shape) == tuple(t.shape) and str(o.dtype) == str(t.dtype)
        if t.dtype != torch.float16:
            np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------- tensorinv / tensorsolve
@pytest.mark.parametrize("call, shapes", [
    (lambda L, a: L.linalg.tensorinv(a + L.eye(6, dtype=a.dtype).reshape(a.shape) * 4, ind=1), [(6, 2, 3)]),
    (lambda L, a: L.linalg.tensorinv(a + L.eye(4, dtype=a.dtype).reshape(a.shape) * 4), [(2, 2, 4)]),
    (lambda L, a, b: L.linalg.tensorsolve(a + L.eye(6, dtype=a.dtype).reshape(a.shape) * 4, b),
     [(2, 3, 6), (2, 3)]),
    (lambda L, a, b: L.linalg.tensorsolve(a + L.eye(6, dtype=a.dtype).reshape(a.shape) * 4, b, dims=(0,)),
     [(6, 2, 3), (2, 3)]),
], ids=["tensorinv_ind1", "tensorinv", "tensorsolve", "tensorsolve_dims"])
def test_tensorinv_and_tensorsolve_values_and_gradients_match_torch(call, shapes):
    rng = np.random.default_rng(11)
    arrays = [rng.standard_normal(s) for s in shapes]
    theirs_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours_in = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs, ours = call(torch, *theirs_in), call(tg, *ours_in)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    seed = rng.standard_normal(tuple(theirs.shape))
    theirs.backward(torch.tensor(seed))
    ours.backward(tg.tensor(seed))
    for o, t in zip(ours_in, theirs_in, strict=True):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)

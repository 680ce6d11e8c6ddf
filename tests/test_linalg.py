"""tapegrad.linalg: the namespace, torch's top-level spellings and Tensor methods, batching,
the defining identities of each decomposition, and derivatives checked against closed forms.

Values are checked against the identities that define them (``Q R = A``, ``L L^T = A``...)
or textbook formulas, never against tapegrad's own output; torch parity of values, gradients
and errors is in tests/parity/test_ops_parity.py and tests/parity/test_linalg_parity.py.
"""
from __future__ import annotations

import importlib
import time

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import grad, gradcheck, gradgradcheck

LA = tg.linalg


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _spd(*shape, seed=0):
    x = _rand(*shape, seed=seed)
    return x @ x.swapaxes(-1, -2) + 3 * np.eye(shape[-1])


def _t(a, grad=False):
    return tg.tensor(a, dtype=tg.float64, requires_grad=grad)


# ----------------------------------------------------------------- the namespace
def test_linalg_is_a_submodule_reached_both_ways():
    mod = importlib.import_module("tapegrad.linalg")
    assert tg.linalg is mod
    assert LA.matmul is tg.matmul
    assert issubclass(LA.LinAlgError, RuntimeError)


def test_namespace_has_torch_linalgs_functions():
    names = {"cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv",
             "inv_ex", "lstsq", "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank",
             "multi_dot", "norm", "lu", "lu_factor", "lu_factor_ex", "lu_solve", "tensorinv", "tensorsolve",
             "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "vander",
             "vecdot", "vector_norm", "LinAlgError"}
    missing = [n for n in names if not callable(getattr(LA, n, None))]
    assert not missing
    for n in names - {"LinAlgError"}:
        assert getattr(LA, n).__doc__, n


@pytest.mark.parametrize("name", ["det", "logdet", "slogdet", "inverse", "pinverse", "cholesky",
                                  "matrix_power",
                                  "svd", "qr", "matrix_exp"])
def test_top_level_function_is_the_tensor_method(name):
    assert getattr(tg, name) is getattr(tg.Tensor, name)


def test_return_types_are_reachable_like_torchs():
    out = LA.svd(tg.eye(2))
    assert isinstance(out, tg.return_types.linalg_svd)
    assert isinstance(tg.slogdet(tg.eye(2)), tg.return_types.slogdet)


def test_linalg_module_name_is_not_shadowed_by_an_op():
    assert "linalg" not in {s.name for s in tg.ops._registry.specs()}
    assert not hasattr(tg.Tensor, "linalg")


# ----------------------------------------------------------------- defining identities, batched
def test_inv_solve_det_identities():
    a = _rand(4, 3, 3) + 3 * np.eye(3)
    b = _rand(4, 3, 2, seed=1)
    x = LA.inv(_t(a)).numpy()
    np.testing.assert_allclose(a @ x, np.broadcast_to(np.eye(3), a.shape), atol=1e-12)
    np.testing.assert_allclose(a @ LA.solve(_t(a), _t(b)).numpy(), b, atol=1e-12)
    np.testing.assert_allclose(LA.solve(_t(a), _t(b)).numpy(), x @ b, atol=1e-12)
    xr = LA.solve(_t(a), _t(b.swapaxes(-1, -2).copy()), left=False).numpy()
    np.testing.assert_allclose(xr @ a, b.swapaxes(-1, -2), atol=1e-12)
    # det via the product of the eigenvalues; slogdet agrees
    d = LA.det(_t(a)).numpy()
    np.testing.assert_allclose(d, np.prod(np.linalg.eigvals(a), -1).real, rtol=1e-10)
    sign, logabs = LA.slogdet(_t(a))
    np.testing.assert_allclose(sign.numpy() * np.exp(logabs.numpy()), d, rtol=1e-10)


def test_solve_broadcasts_batch_dims_and_vectors():
    a = _rand(2, 1, 3, 3) + 3 * np.eye(3)
    b = _rand(5, 3, 1, seed=2)
    x = LA.solve(_t(a), _t(b))
    assert tuple(x.shape) == (2, 5, 3, 1)
    np.testing.assert_allclose(a @ x.numpy(), np.broadcast_to(b, (2, 5, 3, 1)), atol=1e-12)
    v = _rand(3, seed=3)
    assert tuple(LA.solve(_t(a[0, 0]), _t(v)).shape) == (3,)


def test_cholesky_qr_svd_eigh_reconstruct_their_input():
    s = _spd(3, 4, 4)
    low = LA.cholesky(_t(s)).numpy()
    np.testing.assert_allclose(low @ low.swapaxes(-1, -2), s, atol=1e-12)
    assert np.allclose(np.triu(low, 1), 0)
    up = LA.cholesky(_t(s), upper=True).numpy()
    np.testing.assert_allclose(up.swapaxes(-1, -2) @ up, s, atol=1e-12)
    for shape in ((2, 5, 3), (2, 3, 5)):
        a = _rand(*shape)
        q, r = LA.qr(_t(a))
        k = min(shape[-2:])
        np.testing.assert_allclose(q.numpy() @ r.numpy(), a, atol=1e-12)
        qtq = q.numpy().swapaxes(-1, -2) @ q.numpy()
        np.testing.assert_allclose(qtq, np.broadcast_to(np.eye(k), (2, k, k)),
                                   atol=1e-12)
        u, sv, vh = LA.svd(_t(a), full_matrices=False)
        np.testing.assert_allclose((u.numpy() * sv.numpy()[..., None, :]) @ vh.numpy(), a, atol=1e-12)
        assert np.all(np.diff(sv.numpy(), axis=-1) <= 0)
        np.testing.assert_allclose(LA.svdvals(_t(a)).numpy(), sv.numpy(), atol=1e-12)
    w, v = LA.eigh(_t(s))
    vn = v.numpy()
    np.testing.assert_allclose((vn * w.numpy()[..., None, :]) @ vn.swapaxes(-1, -2), s, atol=1e-11)
    assert np.all(np.diff(w.numpy(), axis=-1) > 0)


@pytest.mark.parametrize("shape", [(3, 3), (2, 5, 3), (3, 5)])
def test_lu_reconstructs_its_input_and_lu_solve_solves(shape):
    a = _rand(*shape)
    p, low, up = LA.lu(_t(a))
    np.testing.assert_allclose(p.numpy() @ low.numpy() @ up.numpy(), a, atol=1e-12)
    assert np.all(np.abs(low.numpy()) <= 1 + 1e-12)  # partial pivoting bounds the multipliers
    assert np.allclose(np.triu(low.numpy(), 1), 0) and np.allclose(np.tril(up.numpy(), -1), 0)
    if shape[-1] == shape[-2]:
        b = _rand(3, 2, seed=1)
        x = LA.lu_solve(*LA.lu_factor(_t(a)), _t(b)).numpy()
        np.testing.assert_allclose(a @ x, b, atol=1e-12)


def test_tensorinv_and_tensorsolve_invert_tensordot():
    a = _rand(6, 2, 3) + np.eye(6).reshape(6, 2, 3) * 3
    inv = LA.tensorinv(_t(a), ind=1).numpy()
    np.testing.assert_allclose(np.tensordot(a, inv, 2), np.eye(6), atol=1e-12)
    b = _rand(6, seed=1)
    x = LA.tensorsolve(_t(a), _t(b)).numpy()
    np.testing.assert_allclose(np.tensordot(a, x, 2), b, atol=1e-12)


def test_complete_qr_and_full_svd_shapes():
    a = _t(_rand(5, 3))
    q, r = LA.qr(a, mode="complete")
    assert (tuple(q.shape), tuple(r.shape)) == ((5, 5), (5, 3))
    q, r = LA.qr(a, mode="r")
    assert (tuple(q.shape), tuple(r.shape)) == ((0,), (3, 3))
    u, s, vh = LA.svd(a)
    assert (tuple(u.shape), tuple(s.shape), tuple(vh.shape)) == ((5, 5), (3,), (3, 3))


def test_legacy_svd_returns_v_and_some_and_compute_uv():
    a = _rand(5, 3)
    u, s, v = tg.svd(_t(a))
    np.testing.assert_allclose((u.numpy() * s.numpy()) @ v.numpy().T, a, atol=1e-12)
    u, s, v = tg.svd(_t(a), some=False)
    assert tuple(u.shape) == (5, 5) and tuple(v.shape) == (3, 3)
    u, s, v = tg.svd(_t(a), compute_uv=False)
    assert tuple(u.shape) == (5, 5) and not u.numpy().any() and not v.numpy().any()


def test_pinv_satisfies_the_penrose_conditions_and_lstsq_the_normal_equations():
    a = _rand(3, 5, 3)
    p = LA.pinv(_t(a)).numpy()
    np.testing.assert_allclose(a @ p @ a, a, atol=1e-12)
    np.testing.assert_allclose(p @ a @ p, p, atol=1e-12)
    np.testing.assert_allclose((a @ p).swapaxes(-1, -2), a @ p, atol=1e-12)
    b = _rand(3, 5, 2, seed=1)
    x = LA.lstsq(_t(a), _t(b)).solution.numpy()
    np.testing.assert_allclose(a.swapaxes(-1, -2) @ (a @ x - b), 0, atol=1e-12)


def test_matrix_power_and_exp_against_closed_forms():
    a = _rand(2, 3, 3) + 2 * np.eye(3)
    np.testing.assert_allclose(LA.matrix_power(_t(a), 5).numpy(), np.linalg.matrix_power(a, 5), rtol=1e-12)
    inv_cubed = np.linalg.matrix_power(np.linalg.inv(a), 3)
    np.testing.assert_allclose(LA.matrix_power(_t(a), -3).numpy(), inv_cubed,
                               rtol=1e-10)
    np.testing.assert_allclose(LA.matrix_power(_t(a), 0).numpy(), np.broadcast_to(np.eye(3), a.shape))
    # exp of a symmetric matrix is V exp(w) V^T; of a nilpotent one, a finite series
    s = _spd(3, 3) / 4
    w, v = np.linalg.eigh(s)
    np.testing.assert_allclose(LA.matrix_exp(_t(s)).numpy(), (v * np.exp(w)) @ v.T, rtol=1e-12)
    n = np.triu(_rand(4, 4), 1)
    series = np.eye(4) + n + n @ n / 2 + n @ n @ n / 6
    np.testing.assert_allclose(tg.matrix_exp(_t(n)).numpy(), series, atol=1e-12)


def test_norms_against_formulas():
    a = _rand(2, 3, 4)
    s = np.linalg.svd(a, compute_uv=False)
    cases = {"fro": np.sqrt((a * a).sum((-2, -1))), "nuc": s.sum(-1), 2: s[..., 0], -2: s[..., -1],
             1: np.abs(a).sum(-2).max(-1), -1: np.abs(a).sum(-2).min(-1),
             float("inf"): np.abs(a).sum(-1).max(-1), -float("inf"): np.abs(a).sum(-1).min(-1)}
    for ord, want in cases.items():
        np.testing.assert_allclose(LA.matrix_norm(_t(a), ord).numpy(), want, rtol=1e-12, err_msg=str(ord))
        np.testing.assert_allclose(LA.norm(_t(a), ord, dim=(-2, -1)).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(LA.vector_norm(_t(a), 3, dim=-1).numpy(), (np.abs(a) ** 3).sum(-1) ** (1 / 3))
    np.testing.assert_allclose(LA.norm(_t(a)).numpy(), np.sqrt((a * a).sum()))
    assert LA.vector_norm(_t(a).float(), dtype=tg.float64).dtype == tg.float64
    np.testing.assert_allclose(LA.vecdot(_t(a), _t(a)).numpy(), (a * a).sum(-1))
    x, y = _rand(4, 3), _rand(4, 3, seed=1)
    np.testing.assert_allclose(LA.cross(_t(x), _t(y)).numpy(), np.cross(x, y))
    np.testing.assert_allclose(LA.cross(_t(x.T.copy()), _t(y.T.copy()), dim=0).numpy(), np.cross(x, y).T)


def test_multi_dot_matrix_rank_and_cond():
    a, b, c = _rand(2, 3), _rand(3, 4, seed=1), _rand(4, seed=2)
    np.testing.assert_allclose(LA.multi_dot([_t(a), _t(b), _t(c)]).numpy(), a @ b @ c, rtol=1e-12)
    low_rank = _rand(3, 2) @ _rand(2, 3, seed=1)
    assert LA.matrix_rank(_t(low_rank)).item() == 2
    assert LA.matrix_rank(_t(low_rank)).dtype == tg.int64
    s = np.linalg.svd(low_rank + np.eye(3), compute_uv=False)
    np.testing.assert_allclose(LA.cond(_t(low_rank + np.eye(3))).item(), s[0] / s[-1], rtol=1e-10)


def test_dtypes_follow_the_input():
    a = tg.tensor(_spd(3, 3), dtype=tg.float32)
    for out in (LA.inv(a), LA.det(a), LA.cholesky(a), *LA.qr(a), *LA.svd(a), *LA.eigh(a), LA.pinv(a),
                LA.matrix_exp(a), LA.matrix_norm(a, "nuc"), *LA.slogdet(a)):
        assert out.dtype == tg.float32


def test_empty_matrices():
    assert tuple(LA.inv(tg.zeros(0, 0)).shape) == (0, 0)
    np.testing.assert_array_equal(LA.det(tg.zeros(2, 0, 0)).numpy(), [1.0, 1.0])


# ----------------------------------------------------------------- errors
def test_linalg_error_is_catchable_and_names_the_batch_element():
    bad = tg.stack([tg.eye(2), tg.tensor([[1.0, 2.0], [2.0, 4.0]])])
    with pytest.raises(LA.LinAlgError, match=r"\(Batch element 1\)"):
        LA.inv(bad)
    with pytest.raises(RuntimeError, match="not positive-definite"):
        LA.cholesky(-tg.eye(2))
    assert LA.inv_ex(bad).info.tolist() == [0, 2]


def test_no_numpy_error_escapes():
    for call in (lambda: LA.solve(tg.eye(2), tg.ones(3, 1)), lambda: LA.eigh(tg.ones(2, 3)),
                 lambda: LA.cross(tg.ones(2, 2), tg.ones(2, 2)), lambda: LA.matrix_norm(tg.ones(2, 2), "x")):
        with pytest.raises(RuntimeError):
            call()


# ----------------------------------------------------------------- derivatives against closed forms
def test_det_gradient_is_the_cofactor_matrix():
    a = _rand(3, 3) + 2 * np.eye(3)
    x = _t(a, grad=True)
    (g,) = grad(LA.det(x), [x])
    np.testing.assert_allclose(g.numpy(), np.linalg.det(a) * np.linalg.inv(a).T, rtol=1e-10)
    (g,) = grad(LA.slogdet(x).logabsdet, [x])
    np.testing.assert_allclose(g.numpy(), np.linalg.inv(a).T, rtol=1e-10)


def test_eigvalsh_and_svdvals_gradients_are_outer_products_of_vectors():
    s = _spd(4, 4)
    x = _t(s, grad=True)
    (g,) = grad(LA.eigvalsh(x)[-1], [x])
    w, v = np.linalg.eigh(s)
    np.testing.assert_allclose(g.numpy(), np.outer(v[:, -1], v[:, -1]), atol=1e-12)
    a = _rand(4, 3)
    x = _t(a, grad=True)
    (g,) = grad(LA.svdvals(x)[0], [x])
    u, _, vh = np.linalg.svd(a)
    np.testing.assert_allclose(g.numpy(), np.outer(u[:, 0], vh[0]), atol=1e-12)


def test_nuclear_norm_gradient_is_u_vh_and_its_hessian_exists():
    a = _rand(4, 3)
    x = _t(a, grad=True)
    (g,) = grad(LA.matrix_norm(x, "nuc"), [x], create_graph=True)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(g.detach().numpy(), u @ vh, atol=1e-12)
    (h,) = grad((g * g).sum(), [x])  # ||U Vh||_F^2 = rank is constant: zero derivative
    np.testing.assert_allclose(h.numpy(), 0, atol=1e-10)


def test_inverse_second_derivative_matches_finite_differences():
    a = _rand(2, 3, 3) + 3 * np.eye(3)
    x = _t(a, grad=True)
    assert gradgradcheck(lambda t: LA.inv(t).sum(-1), (x,))
    assert gradcheck(lambda t: LA.solve(t, t[..., :1] * 2), (x,))


def test_vmap_over_linalg_matches_the_batched_call():
    a = _t(_rand(4, 3, 3) + 3 * np.eye(3))
    np.testing.assert_allclose(tg.func.vmap(LA.inv)(a).numpy(), LA.inv(a).numpy(), rtol=1e-12)
    np.testing.assert_allclose(tg.func.vmap(LA.det)(a).numpy(), LA.det(a).numpy(), rtol=1e-12)


def test_batched_forward_is_vectorised():
    a = _t(_rand(20000, 3, 3) + 3 * np.eye(3))
    start = time.perf_counter()
    LA.inv(a)
    LA.det(a)
    LA.svd(a)
    LA.eigh(a + a.mT)
    assert time.perf_counter() - start < 2.0

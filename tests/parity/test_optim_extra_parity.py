"""Parity with PyTorch of the optimizers added in issue 15: Adadelta, Adamax, NAdam, RAdam,
ASGD, Rprop, LBFGS and SparseAdam.

The same parameters receive the same gradients in both libraries; parameters are compared
after every step (float64: rtol 1e-6, though the rules agree to a few ulps; float32: rtol
1e-5), then the state dicts (keys in order, dtypes, values, groups). State dicts also cross
between the libraries through files (``tapegrad.save``/``torch.load`` and back) in the
middle of a run, and both runs continue identically. LBFGS minimises a chained Rosenbrock
function through closures, with and without the strong-Wolfe line search.
"""
from __future__ import annotations

import copy
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402
import tapegrad.nn as tnn  # noqa: E402
import tapegrad.optim as toptim  # noqa: E402
from tapegrad.optim import lr_scheduler as tsched  # noqa: E402

TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-6, atol=1e-10),
       # L-BFGS memory holds gradient differences and the coefficients built from them: after
       # dozens of line-search evaluations their small entries have lost digits to cancellation
       "lbfgs": dict(rtol=1e-5, atol=1e-5)}
SHAPES = [(3, 4), (5,), (2, 1, 3)]
N_STEPS = 8

OPT_CASES = [
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.3, rho=0.95, maximize=True, foreach=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, maximize=True, foreach=False)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.2, decoupled_weight_decay=True, maximize=True)),
    ("NAdam", dict(lr=0.02, momentum_decay=0.0, eps=1e-5, foreach=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.85), weight_decay=0.1)),   # rectified from step 6
    ("RAdam", dict(lr=0.01, betas=(0.7, 0.8), weight_decay=0.3, decoupled_weight_decay=True,
                   maximize=True)),                                   # rectified from step 7
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.1, lambd=0.05, alpha=0.5, t0=3, weight_decay=0.1)),   # averaging from step 4
    ("ASGD", dict(lr=0.05, t0=0, maximize=True, foreach=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.1, etas=(0.3, 1.5), step_sizes=(0.01, 0.5))),
    ("Rprop", dict(lr=0.2, step_sizes=(1e-3, 0.1), maximize=True)),   # lr above the largest step
]
NAMES = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]


def _case_id(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def _arrays(rng, dt, shapes=SHAPES):
    return [rng.standard_normal(s).astype(dt) for s in shapes]


def _grads(rng, dt, step):
    """Gaussian gradients, with every third step reusing signs so that Rprop both grows and
    shrinks its steps."""
    grads = _arrays(rng, dt)
    if step % 3 == 2:
        grads = [np.sign(g) * (0.5 + rng.random(g.shape)).astype(dt) for g in grads]
    return grads


def _make_params(values):
    tp = [tnn.Parameter(tg.tensor(v.copy())) for v in values]
    pp = [torch.nn.Parameter(torch.tensor(v.copy())) for v in values]
    return tp, pp


def _set_grads(params, grads, lib):
    for p, g in zip(params, grads, strict=True):
        p.grad = None if g is None else lib.tensor(g.copy())


def _assert_params(tp, pp, dt, msg=""):
    for i, (a, b) in enumerate(zip(tp, pp, strict=True)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **TOL[dt],
                                   err_msg=f"param {i} {msg}")


def _assert_same_value(mine, theirs, dt, where):
    """Tensors (values and dtypes), lists, None and numbers, recursively."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(mine, tg.Tensor), (where, type(mine))
        assert str(mine.dtype) == str(theirs.dtype), (where, mine.dtype, theirs.dtype)
        assert tuple(mine.shape) == tuple(theirs.shape), where
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), **TOL[dt], err_msg=where)
    elif isinstance(theirs, list):
        assert isinstance(mine, list) and len(mine) == len(theirs), where
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            _assert_same_value(a, b, dt, f"{where}[{i}]")
    elif theirs is None:
        assert mine is None, where
    else:
        assert type(mine) is type(theirs), (where, type(mine), type(theirs))
        np.testing.assert_allclose(mine, theirs, **TOL[dt], err_msg=where)


def _assert_state(topt, popt, dt):
    ts, ps = topt.state_dict(), popt.state_dict()
    assert list(ts) == list(ps) == ["state", "param_groups"]
    assert list(ts["state"]) == list(ps["state"])
    for k, per_param in ps["state"].items():
        assert list(ts["state"][k]) == list(per_param), k
        for name, value in per_param.items():
            _assert_same_value(ts["state"][k][name], value, dt, f"state[{k}][{name}]")
    assert [list(g) for g in ts["param_groups"]] == [list(g) for g in ps["param_groups"]]
    assert ts["param_groups"] == ps["param_groups"]


def _torch_to_tg(state_dict):
    """Through a file, as a checkpoint would travel."""
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    buf.seek(0)
    return tg.load(buf)


def _tg_to_torch(state_dict):
    buf = io.BytesIO()
    tg.save(state_dict, buf)
    buf.seek(0)
    return torch.load(buf)


def _load_across(name, kw, tp, topt, popt, direction, dt):
    """Load one library's state dict, through a file, into a fresh optimizer of the other over
    copies of the parameters. Loading casts floating state to the parameters' dtype (0-d
    entries such as ``mu_product`` included), so the reference is the sending library's own
    optimizer loaded from the same dict. Returns the new parameters, optimizer and library."""
    values = [p.detach().numpy().copy() for p in tp]
    mine = getattr(toptim, name)([tnn.Parameter(tg.tensor(v)) for v in values], **kw)
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.tensor(v)) for v in values], **kw)
    if direction == "torch->tapegrad":
        mine.load_state_dict(_torch_to_tg(popt.state_dict()))
        theirs.load_state_dict(copy.deepcopy(popt.state_dict()))
        fresh, lib = mine, tg
    else:
        theirs.load_state_dict(_tg_to_torch(topt.state_dict()))
        mine.load_state_dict(copy.deepcopy(topt.state_dict()))
        fresh, lib = theirs, torch
    if name == "LBFGS":
        _assert_lbfgs_state(mine, theirs, dt)
    else:
        _assert_state(mine, theirs, dt)
    return fresh.param_groups[0]["params"], fresh, lib


# =========================================================================== first-order optimizers
@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("case", OPT_CASES, ids=_case_id)
def test_steps_and_state_match_torch(case, dt):
    name, kw = case
    rng = np.random.default_rng(0)
    tp, pp = _make_params(_arrays(rng, dt))
    topt = getattr(toptim, name)(tp, **kw)
    popt = getattr(torch.optim, name)(pp, **kw)
    for step in range(N_STEPS):
        grads = _grads(rng, dt, step)
        _set_grads(tp, grads, tg)
        _set_grads(pp, grads, torch)
        topt.step()
        popt.step()
        _assert_params(tp, pp, dt, f"after step {step + 1}")
    _assert_state(topt, popt, dt)


@pytest.mark.parametrize("direction", ["torch->tapegrad", "tapegrad->torch"])
@pytest.mark.parametrize("case", OPT_CASES[1::2], ids=_case_id)
def test_state_dict_crosses_libraries_mid_run(case, direction):
    """After 3 steps one library's state dict (through a file) is loaded into a fresh optimizer
    of the other library over copies of the parameters; all three runs then agree."""
    name, kw = case
    dt = "float64"
    rng = np.random.default_rng(1)
    tp, pp = _make_params(_arrays(rng, dt))
    grads = [_grads(rng, dt, step) for step in range(2 * N_STEPS)]
    topt = getattr(toptim, name)(tp, **kw)
    popt = getattr(torch.optim, name)(pp, **kw)
    for step in range(3):
        _set_grads(tp, grads[step], tg)
        _set_grads(pp, grads[step], torch)
        topt.step()
        popt.step()
    moved, fresh, lib = _load_across(name, kw, tp, topt, popt, direction, dt)
    for step in range(3, 2 * N_STEPS):
        _set_grads(tp, grads[step], tg)
        _set_grads(pp, grads[step], torch)
        _set_grads(moved, grads[step], lib)
        topt.step()
        popt.step()
        fresh.step()
        _assert_params(tp, pp, dt, f"after step {step + 1}")
        for a, b in zip(moved, pp, strict=True):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **TOL[dt])
    _assert_state(topt, popt, dt)


@pytest.mark.parametrize("name", NAMES)
def test_groups_and_missing_grads_match_torch(name):
    """Two groups with different hyper-parameters; one parameter never has a gradient and one
    only every other step (no state for the first, a step count that lags for the second)."""
    dt = "float64"
    rng = np.random.default_rng(2)
    tp, pp = _make_params(_arrays(rng, dt))
    extra = {"Adadelta": dict(rho=0.5), "Adamax": dict(betas=(0.5, 0.8)),
             "NAdam": dict(momentum_decay=0.1), "RAdam": dict(betas=(0.8, 0.8)),
             "ASGD": dict(t0=2, lambd=0.01), "Rprop": dict(etas=(0.2, 2.0))}[name]

    def groups(ps):
        return [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.003, **extra}]

    topt = getattr(toptim, name)(groups(tp), lr=0.05)
    popt = getattr(torch.optim, name)(groups(pp), lr=0.05)
    for step in range(N_STEPS):
        grads = _grads(rng, dt, step)
        grads[2] = None
        if step % 2:
            grads[0] = None
        _set_grads(tp, grads, tg)
        _set_grads(pp, grads, torch)
        topt.step()
        popt.step()
        _assert_params(tp, pp, dt, f"after step {step + 1}")
    _assert_state(topt, popt, dt)


@pytest.mark.parametrize("name", NAMES)
def test_closure_with_autograd_matches_torch(name):
    """Linear least squares: autograd gradients, zero_grad and step(closure) returning the loss."""
    rng = np.random.default_rng(4)
    X, y, w0 = rng.standard_normal((16, 3)), rng.standard_normal((16, 1)), rng.standard_normal((3, 1))
    tw, pw = tnn.Parameter(tg.tensor(w0.copy())), torch.nn.Parameter(torch.tensor(w0.copy()))
    topt, popt = getattr(toptim, name)([tw], lr=0.05), getattr(torch.optim, name)([pw], lr=0.05)

    def closure(opt, lib, w):
        def run():
            opt.zero_grad()
            loss = ((lib.tensor(X) @ w - lib.tensor(y)) ** 2).mean()
            loss.backward()
            return loss
        return run

    for _ in range(6):
        tl = topt.step(closure(topt, tg, tw))
        pl = popt.step(closure(popt, torch, pw))
        np.testing.assert_allclose(tl.item(), pl.item(), rtol=1e-10)
        np.testing.assert_allclose(tw.detach().numpy(), pw.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES + ["LBFGS", "SparseAdam"])
def test_defaults_groups_and_repr_match_torch(name):
    ta = getattr(toptim, name)([tnn.Parameter(tg.zeros(2))])
    pa = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))])
    assert ta.defaults == pa.defaults
    assert list(ta.defaults) == list(pa.defaults)
    assert list(ta.param_groups[0]) == list(pa.param_groups[0])
    g1 = {k: v for k, v in ta.param_groups[0].items() if k != "params"}
    g2 = {k: v for k, v in pa.param_groups[0].items() if k != "params"}
    assert g1 == g2
    assert repr(ta) == repr(pa)


@pytest.mark.parametrize("bad", [
    ("Adadelta", dict(lr=-1)), ("Adadelta", dict(rho=-0.1)), ("Adadelta", dict(rho=1.1)),
    ("Adadelta", dict(eps=-1)), ("Adadelta", dict(weight_decay=-1)), ("Adadelta", dict(rho=float("nan"))),
    ("Adadelta", dict(eps=-1, weight_decay=-1)),
    ("Adamax", dict(lr=-1)), ("Adamax", dict(eps=-1)), ("Adamax", dict(betas=(1.0, 0.9))),
    ("Adamax", dict(betas=(0.9, -0.1))), ("Adamax", dict(weight_decay=-1)),
    ("Adamax", dict(betas=(0.1, 2), weight_decay=-1)),
    ("NAdam", dict(lr=-1)), ("NAdam", dict(eps=-1)), ("NAdam", dict(betas=(1.0, 0.9))),
    ("NAdam", dict(betas=(0.9, 1.0))), ("NAdam", dict(weight_decay=-1)), ("NAdam", dict(momentum_decay=-1)),
    ("NAdam", dict(weight_decay=-1, momentum_decay=-1)),
    ("RAdam", dict(lr=-1)), ("RAdam", dict(eps=-1)), ("RAdam", dict(betas=(1.0, 0.9))),
    ("RAdam", dict(betas=(0.9, 1.0))), ("RAdam", dict(weight_decay=-1)),
    ("ASGD", dict(lr=-1)), ("ASGD", dict(weight_decay=-1)), ("ASGD", dict(lr=-1, weight_decay=-1)),
    ("Rprop", dict(lr=-1)), ("Rprop", dict(etas=(1.5, 1.2))), ("Rprop", dict(etas=(0.5, 0.9))),
    ("Rprop", dict(etas=(0, 1.2))), ("Rprop", dict(etas=(0.5, 1.0))), ("Rprop", dict(etas=(1.0, 1.2))),
    ("LBFGS", dict(lr=-1)),
    ("SparseAdam", dict(lr=-1)), ("SparseAdam", dict(lr=0.0)), ("SparseAdam", dict(eps=0.0)),
    ("SparseAdam", dict(eps=-1)), ("SparseAdam", dict(betas=(1.0, 0.9))),
    ("SparseAdam", dict(betas=(0.9, 1.0))), ("SparseAdam", dict(lr=float("nan"))),
], ids=lambda b: f"{b[0]}-{b[1]}")
def test_invalid_hyperparameters_raise_like_torch(bad):
    name, kw = bad
    with pytest.raises(ValueError) as pe:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(1))], **kw)
    with pytest.raises(ValueError) as te:
        getattr(toptim, name)([tnn.Parameter(tg.zeros(1))], **kw)
    assert str(te.value) == str(pe.value)


@pytest.mark.parametrize("name", NAMES)
def test_tensor_lr_matches_torch(name):
    def run(lib, nn):
        p = nn.Parameter(lib.tensor(np.linspace(-1.0, 1.0, 5)))
        opt = getattr(lib.optim, name)([p], lr=lib.tensor(0.05))
        for k in range(4):
            p.grad = lib.tensor(np.cos(np.arange(5.0) + k))
            opt.step()
        return p.detach().numpy()

    np.testing.assert_allclose(run(tg, tnn), run(torch, torch.nn), rtol=1e-6, atol=1e-12)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        getattr(toptim, name)([tnn.Parameter(tg.zeros(1))], lr=tg.tensor([0.1, 0.2]))


@pytest.mark.parametrize("name,lists,hyper", [
    ("adadelta", ("square_avgs", "acc_deltas"), dict(lr=0.5, rho=0.9, eps=1e-6, weight_decay=0.1,
                                                     maximize=False)),
    ("adamax", ("exp_avgs", "exp_infs"), dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0)),
    ("nadam", ("exp_avgs", "exp_avg_sqs", "mu_products"),
     dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, momentum_decay=4e-3)),
    ("radam", ("exp_avgs", "exp_avg_sqs"), dict(lr=0.01, beta1=0.9, beta2=0.9, eps=1e-8, weight_decay=0.0)),
    ("asgd", ("axs", "mus", "etas"), dict(lr=0.01, lambd=1e-2, alpha=0.75, t0=2.0, weight_decay=0.0)),
    ("rprop", ("prevs", "step_sizes"), dict(step_size_min=1e-6, step_size_max=50.0, etaminus=0.5,
                                           etaplus=1.2)),
])
def test_functional_forms_match_torch(name, lists, hyper):
    """``tapegrad.optim.<name>.<name>(params, grads, <state lists>, state_steps, ...)``."""
    import importlib
    ours = getattr(importlib.import_module(f"tapegrad.optim.{name}"), name)
    theirs = getattr(importlib.import_module(f"torch.optim.{name}"), name)
    rng = np.random.default_rng(6)
    values = _arrays(rng, "float64", [(4,), (2, 3)])

    def initial(key, v):
        fill = {"mus": 1.0, "etas": 0.01, "mu_products": 1.0}.get(key)
        if fill is not None:
            return np.asarray(fill, dtype=np.float32)
        return np.full_like(v, 0.01) if key == "step_sizes" else np.zeros_like(v)

    results = []
    for lib in (tg, torch):
        params = [lib.tensor(v.copy()) for v in values]
        state = {key: [lib.tensor(initial(key, v)) for v in values] for key in lists}
        steps = [lib.tensor(np.float32(0.0)) for _ in values]
        fn = ours if lib is tg else theirs
        for k in range(5):
            grads = [lib.tensor(np.sin(v * (k + 1))) for v in values]
            fn(params, grads, *[state[key] for key in lists], steps, **hyper)
        results.append([p.numpy() for p in params] + [s.numpy() for key in lists for s in state[key]])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax"])
def test_one_cycle_scheduler_cycles_betas_like_torch(name):
    topt = getattr(toptim, name)([tnn.Parameter(tg.zeros(2))], lr=0.01)
    popt = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], lr=0.01)
    ts = tsched.OneCycleLR(topt, max_lr=0.05, total_steps=20)
    ps = torch.optim.lr_scheduler.OneCycleLR(popt, max_lr=0.05, total_steps=20)
    for _ in range(19):
        topt.step()
        popt.step()
        ts.step()
        ps.step()
        assert ts.get_last_lr() == ps.get_last_lr()
        assert topt.param_groups[0]["betas"] == popt.param_groups[0]["betas"]


@pytest.mark.parametrize("name", ["Adadelta", "ASGD", "Rprop", "LBFGS"])
def test_step_lr_scheduler_drives_new_optimizers_like_torch(name):
    topt = getattr(toptim, name)([tnn.Parameter(tg.zeros(2))], lr=0.5)
    popt = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], lr=0.5)
    ts = tsched.StepLR(topt, step_size=3, gamma=0.5)
    ps = torch.optim.lr_scheduler.StepLR(popt, step_size=3, gamma=0.5)
    for _ in range(10):
        topt.step(lambda: tg.tensor(0.0))
        popt.step(lambda: torch.tensor(0.0))
        ts.step()
        ps.step()
        assert ts.get_last_lr() == ps.get_last_lr()
        assert topt.param_groups[0]["lr"] == popt.param_groups[0]["lr"]


# =========================================================================== SparseAdam
def test_sparse_adam_refuses_dense_gradients_like_torch():
    """tapegrad has no sparse tensors, so any gradient is dense: PyTorch's error, after the closure."""
    errors = []
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        p = nn.Parameter(lib.ones(3))
        opt = lib.optim.SparseAdam([p], lr=0.1)
        assert opt.step() is None                # no gradient: nothing to do
        p.grad = lib.ones(3)
        calls = []
        with pytest.raises(RuntimeError) as err:
            opt.step(lambda calls=calls: calls.append(1))
        errors.append((str(err.value), calls, dict(opt.state), p.detach().numpy().tolist()))
    assert errors[0] == errors[1]


# =========================================================================== LBFGS
def _rosenbrock(x):
    """Chained Rosenbrock value and gradient, in NumPy (so both libraries see identical numbers)."""
    a, b = x[:-1], x[1:]
    value = np.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)
    grad = np.zeros_like(x)
    grad[:-1] += -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    grad[1:] += 200.0 * (b - a * a)
    return value, grad


def _numpy_closure(opt, params, lib):
    """Loss and gradients of the Rosenbrock function over the concatenated parameters."""
    def closure():
        opt.zero_grad()
        flat = np.concatenate([p.detach().numpy().reshape(-1) for p in params])
        value, grad = _rosenbrock(flat)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = lib.tensor(grad[offset:offset + n].reshape(tuple(p.shape)))
            offset += n
        return lib.tensor(np.asarray(value))
    return closure


LBFGS_CASES = [
    dict(lr=0.01),
    dict(lr=0.02, history_size=3, max_iter=7),
    dict(lr=0.005, max_iter=4, max_eval=3, tolerance_change=1e-5),
    dict(line_search_fn="strong_wolfe"),
    dict(line_search_fn="strong_wolfe", history_size=2, max_iter=12, max_eval=15),
    dict(lr=0.5, line_search_fn="strong_wolfe", max_iter=5, history_size=4),
    dict(line_search_fn="strong_wolfe", tolerance_grad=1e-3, tolerance_change=1e-6),
]


def _lbfgs_pair(kw, dt="float64", seed=2):
    rng = np.random.default_rng(seed)
    values = [(rng.standard_normal(s) * 0.8).astype(dt) for s in [(2, 2), (3,)]]
    tp, pp = _make_params(values)
    topt, popt = toptim.LBFGS(tp, **kw), torch.optim.LBFGS(pp, **kw)
    return tp, pp, topt, popt


def _assert_lbfgs_state(topt, popt, dt):
    """Everything in the state, including which entries are tensors and which Python numbers."""
    _assert_state(topt, popt, "lbfgs" if dt == "float64" else dt)
    mine, theirs = topt.state_dict()["state"], popt.state_dict()["state"]
    for key in ("func_evals", "n_iter"):
        assert mine[0][key] == theirs[0][key], key


@pytest.mark.parametrize("kw", LBFGS_CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_lbfgs_matches_torch_on_rosenbrock(kw):
    """Identical gradients (NumPy) in both: the iterates agree until well into convergence, where
    rounding (PyTorch fuses multiply-adds, sums in another order) has grown to ~1e-7."""
    dt = "float64"
    tp, pp, topt, popt = _lbfgs_pair(kw)
    for step in range(4):
        tl = topt.step(_numpy_closure(topt, tp, tg))
        pl = popt.step(_numpy_closure(popt, pp, torch))
        np.testing.assert_allclose(tl.item(), pl.item(), rtol=1e-6, atol=1e-8)
        _assert_params(tp, pp, dt, f"after step {step + 1}")
        _assert_lbfgs_state(topt, popt, dt)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_with_autograd_closure_matches_torch(line_search_fn):
    """The loss built and differentiated by each library (a Rosenbrock-like sum, two parameters)."""
    dt = "float64"
    kw = dict(lr=0.02 if line_search_fn is None else 1, line_search_fn=line_search_fn, max_iter=10)
    rng = np.random.default_rng(3)
    tp, pp = _make_params([(rng.standard_normal(4) * 0.8).astype(dt) for _ in range(2)])
    topt, popt = toptim.LBFGS(tp, **kw), torch.optim.LBFGS(pp, **kw)

    def closure(opt, x, y):
        def run():
            opt.zero_grad()
            loss = (100 * (y - x * x) ** 2 + (1 - x) ** 2).sum() + 0.1 * (x * y).sum()
            loss.backward()
            return loss
        return run

    for step in range(3):
        tl = topt.step(closure(topt, *tp))
        pl = popt.step(closure(popt, *pp))
        np.testing.assert_allclose(tl.item(), pl.item(), rtol=1e-6)
        _assert_params(tp, pp, dt, f"after step {step + 1}")
        _assert_lbfgs_state(topt, popt, dt)


def test_lbfgs_float32_matches_torch():
    dt = "float32"
    tp, pp, topt, popt = _lbfgs_pair(dict(lr=0.01, history_size=5), dt)
    for step in range(4):
        topt.step(_numpy_closure(topt, tp, tg))
        popt.step(_numpy_closure(popt, pp, torch))
        for a, b in zip(tp, pp, strict=True):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5,
                                       err_msg=f"after step {step + 1}")
    st, sp = topt.state_dict()["state"][0], popt.state_dict()["state"][0]
    assert list(st) == list(sp)
    assert str(st["d"].dtype) == str(sp["d"].dtype) == "torch.float32"
    assert (st["func_evals"], st["n_iter"]) == (sp["func_evals"], sp["n_iter"])


@pytest.mark.parametrize("direction", ["torch->tapegrad", "tapegrad->torch"])
@pytest.mark.parametrize("kw", [dict(lr=0.02, history_size=3, max_iter=6),
                                dict(line_search_fn="strong_wolfe", history_size=3, max_iter=4)],
                         ids=["fixed-step", "strong_wolfe"])
def test_lbfgs_state_dict_crosses_libraries_mid_run(kw, direction):
    dt = "float64"
    tp, pp, topt, popt = _lbfgs_pair(kw)
    for _ in range(2):
        topt.step(_numpy_closure(topt, tp, tg))
        popt.step(_numpy_closure(popt, pp, torch))
    moved, fresh, lib = _load_across("LBFGS", kw, tp, topt, popt, direction, dt)
    for step in range(3):
        topt.step(_numpy_closure(topt, tp, tg))
        popt.step(_numpy_closure(popt, pp, torch))
        fresh.step(_numpy_closure(fresh, moved, lib))
        _assert_params(tp, pp, dt, f"after step {step + 3}")
        for a, b in zip(moved, pp, strict=True):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **TOL[dt])


def test_lbfgs_errors_match_torch():
    def outcome(lib, nn, make, use):
        p = nn.Parameter(lib.ones(2))
        try:
            use(make(lib, p), p)
        except Exception as e:  # noqa: BLE001 - compared below
            return type(e).__name__, str(e)
        return None

    def closure_for(opt, p):
        def run():
            opt.zero_grad()
            loss = ((p - 3) ** 2).sum()
            loss.backward()
            return loss
        return run

    checks = [
        (lambda lib, p: lib.optim.LBFGS([{"params": [p]}, {"params": [p * 1]}]), lambda o, p: None),
        (lambda lib, p: lib.optim.LBFGS([p], line_search_fn="foo"), lambda o, p: o.step(closure_for(o, p))),
        (lambda lib, p: lib.optim.LBFGS([p]), lambda o, p: o.step()),
    ]
    for make, use in checks:
        mine, theirs = outcome(tg, tnn, make, use), outcome(torch, torch.nn, make, use)
        assert mine is not None and mine == theirs


def test_lbfgs_converged_start_returns_at_once_like_torch():
    """A gradient already below ``tolerance_grad``: one evaluation, no iteration, no memory."""
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        p = nn.Parameter(lib.tensor(np.array([1.0, 1.0])))
        opt = lib.optim.LBFGS([p])
        loss = opt.step(_numpy_closure(opt, [p], lib))
        assert loss.item() == 0.0
        assert dict(opt.state_dict()["state"][0]) == {"func_evals": 1, "n_iter": 0}

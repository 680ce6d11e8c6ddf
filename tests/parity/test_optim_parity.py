"""Parity of ``tapegrad.optim`` (optimizers, schedulers) and ``nn.utils`` clipping with PyTorch.

Parameters are built from the same NumPy arrays in both libraries and receive the same
gradients (``p.grad`` set directly) for several steps; parameters and optimizer state are
compared after every step (float64: rtol 1e-10, float32: rtol 1e-5). Scheduler learning
rates (and cycled momenta) are compared exactly over 30+ steps.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402
import tapegrad.nn as tnn  # noqa: E402
import tapegrad.optim as toptim  # noqa: E402
from tapegrad.nn.utils import clip_grad_norm_, clip_grad_value_  # noqa: E402
from tapegrad.optim import lr_scheduler as tsched  # noqa: E402

TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}
SHAPES = [(3, 4), (5,), (2, 1, 3)]
N_STEPS = 6

OPT_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, eps=1e-6, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.1, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.3, eps=1e-4, centered=True, maximize=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.5)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1,
                     eps=1e-8, maximize=True)),
]


def _case_id(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def _arrays(rng, dt, shapes=SHAPES):
    return [rng.standard_normal(s).astype(dt) for s in shapes]


def _make_params(values):
    tp = [tnn.Parameter(tg.tensor(v.copy())) for v in values]
    pp = [torch.nn.Parameter(torch.tensor(v.copy())) for v in values]
    return tp, pp


def _set_grads(tp, pp, grads):
    for a, b, g in zip(tp, pp, grads, strict=True):
        if g is None:
            a.grad = None
            b.grad = None
        else:
            a.grad = tg.tensor(g.copy())
            b.grad = torch.tensor(g.copy())


def _assert_params(tp, pp, dt, msg=""):
    for i, (a, b) in enumerate(zip(tp, pp, strict=True)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **TOL[dt],
                                   err_msg=f"param {i} {msg}")


def _assert_state(topt, popt, dt):
    ts, ps = topt.state_dict(), popt.state_dict()
    assert sorted(ts["state"]) == sorted(ps["state"])
    for k in ps["state"]:
        assert sorted(ts["state"][k]) == sorted(ps["state"][k]), k
        for name, pv in ps["state"][k].items():
            tv = ts["state"][k][name]
            assert isinstance(tv, tg.Tensor)
            assert str(tv.dtype) == str(pv.dtype), (name, tv.dtype, pv.dtype)
            np.testing.assert_allclose(tv.numpy(), pv.numpy(), **TOL[dt], err_msg=name)
    assert len(ts["param_groups"]) == len(ps["param_groups"])
    for tgp, pgp in zip(ts["param_groups"], ps["param_groups"], strict=True):
        assert tgp == pgp


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("case", OPT_CASES, ids=_case_id)
def test_optimizer_steps_match_torch(case, dt):
    name, kw = case
    rng = np.random.default_rng(0)
    tp, pp = _make_params(_arrays(rng, dt))
    topt = getattr(toptim, name)(tp, **kw)
    popt = getattr(torch.optim, name)(pp, **kw)
    for step in range(N_STEPS):
        _set_grads(tp, pp, _arrays(rng, dt))
        topt.step()
        popt.step()
        _assert_params(tp, pp, dt, f"after step {step + 1}")
    _assert_state(topt, popt, dt)


@pytest.mark.parametrize("case", OPT_CASES[1::2], ids=_case_id)
def test_state_dict_round_trip_mid_training(case):
    """Save after 3 steps, load into a fresh optimizer over copies of the parameters, continue:
    identical to the uninterrupted run (and to torch's)."""
    name, kw = case
    dt = "float64"
    rng = np.random.default_rng(1)
    tp, pp = _make_params(_arrays(rng, dt))
    grads = [_arrays(rng, dt) for _ in range(N_STEPS)]
    topt = getattr(toptim, name)(tp, **kw)
    popt = getattr(torch.optim, name)(pp, **kw)
    for step in range(3):
        _set_grads(tp, pp, grads[step])
        topt.step()
        popt.step()

    saved = copy.deepcopy(topt.state_dict())
    tp2 = [tnn.Parameter(tg.tensor(p.detach().numpy().copy())) for p in tp]
    topt2 = getattr(toptim, name)(tp2, **kw)
    topt2.load_state_dict(saved)
    for step in range(3, N_STEPS):
        _set_grads(tp, pp, grads[step])
        for p2, g in zip(tp2, grads[step], strict=True):
            p2.grad = tg.tensor(g.copy())
        topt.step()
        topt2.step()
        popt.step()
        for a, b in zip(tp, tp2, strict=True):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        _assert_params(tp2, pp, dt, f"after step {step + 1}")
    _assert_state(topt2, popt, dt)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_param_groups_with_different_hyperparameters(name):
    dt = "float64"
    rng = np.random.default_rng(2)
    tp, pp = _make_params(_arrays(rng, dt))
    extra = {"SGD": dict(momentum=0.9), "Adam": dict(amsgrad=True), "AdamW": dict(weight_decay=0.5),
             "RMSprop": dict(centered=True), "Adagrad": dict(lr_decay=0.1)}[name]

    def groups(ps):
        return [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.003, **extra}]

    topt = getattr(toptim, name)(groups(tp), lr=0.05)
    popt = getattr(torch.optim, name)(groups(pp), lr=0.05)
    for _ in range(N_STEPS):
        _set_grads(tp, pp, _arrays(rng, dt))
        topt.step()
        popt.step()
        _assert_params(tp, pp, dt)
    _assert_state(topt, popt, dt)


@pytest.mark.parametrize("case", [OPT_CASES[i] for i in (1, 5, 9, 11, 15)], ids=_case_id)
def test_params_without_grad_are_skipped(case):
    name, kw = case
    dt = "float64"
    rng = np.random.default_rng(3)
    tp, pp = _make_params(_arrays(rng, dt))
    topt = getattr(toptim, name)(tp, **kw)
    popt = getattr(torch.optim, name)(pp, **kw)
    for step in range(N_STEPS):
        grads = _arrays(rng, dt)
        grads[2] = None                      # never has a gradient
        if step % 2:
            grads[0] = None                  # gradient only on even steps
        _set_grads(tp, pp, grads)
        topt.step()
        popt.step()
        _assert_params(tp, pp, dt, f"after step {step + 1}")
    _assert_state(topt, popt, dt)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.05)),
                                     ("RMSprop", dict(lr=0.01, centered=True))])
def test_training_with_autograd_and_closure_matches_torch(name, kw):
    """Linear least squares: autograd gradients, zero_grad, and step(closure) returning the loss."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((16, 3))
    y = rng.standard_normal((16, 1))
    w0 = rng.standard_normal((3, 1))
    tw, pw = tnn.Parameter(tg.tensor(w0.copy())), torch.nn.Parameter(torch.tensor(w0.copy()))
    topt = getattr(toptim, name)([tw], **kw)
    popt = getattr(torch.optim, name)([pw], **kw)
    tX, ty, pX, py = tg.tensor(X), tg.tensor(y), torch.tensor(X), torch.tensor(y)

    def tclosure():
        topt.zero_grad()
        loss = ((tX @ tw - ty) ** 2).mean()
        loss.backward()
        return loss

    def pclosure():
        popt.zero_grad()
        loss = ((pX @ pw - py) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(8):
        tl = topt.step(tclosure)
        pl = popt.step(pclosure)
        np.testing.assert_allclose(tl.item(), pl.item(), rtol=1e-10)
        np.testing.assert_allclose(tw.detach().numpy(), pw.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_state_dict_layout_matches_torch():
    rng = np.random.default_rng(5)
    tp, pp = _make_params(_arrays(rng, "float32"))
    topt = toptim.Adam([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.1}], amsgrad=True)
    popt = torch.optim.Adam([{"params": pp[:2]}, {"params": pp[2:], "lr": 0.1}], amsgrad=True)
    grads = _arrays(rng, "float32")
    grads[1] = None
    _set_grads(tp, pp, grads)
    topt.step()
    popt.step()
    ts, ps = topt.state_dict(), popt.state_dict()
    assert list(ts) == list(ps) == ["state", "param_groups"]
    assert list(ts["state"]) == list(ps["state"]) == [0, 2]
    assert [list(g) for g in ts["param_groups"]] == [list(g) for g in ps["param_groups"]]
    assert ts["param_groups"] == ps["param_groups"]
    for k in ps["state"]:
        assert list(ts["state"][k]) == list(ps["state"][k])
        assert ts["state"][k]["step"].shape == () and str(ts["state"][k]["step"].dtype) == "torch.float32"
    assert list(topt.defaults) == list(popt.defaults)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_defaults_match_torch(name):
    p = tnn.Parameter(tg.zeros(2))
    q = torch.nn.Parameter(torch.zeros(2))
    ta = getattr(toptim, name)([p])
    pa = getattr(torch.optim, name)([q])
    assert ta.defaults == pa.defaults
    g1 = {k: v for k, v in ta.param_groups[0].items() if k != "params"}
    g2 = {k: v for k, v in pa.param_groups[0].items() if k != "params"}
    assert g1 == g2
    assert repr(ta) == repr(pa)


@pytest.mark.parametrize("bad", [
    ("SGD", dict(lr=-1)), ("SGD", dict(momentum=-0.5)), ("SGD", dict(weight_decay=-1e-3)),
    ("SGD", dict(nesterov=True)), ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1)),
    ("Adam", dict(lr=-0.1)), ("Adam", dict(eps=-1.0)), ("Adam", dict(betas=(1.0, 0.9))),
    ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(weight_decay=-1)), ("Adam", dict(betas=(0, 0.9))),
    ("AdamW", dict(lr=-2)), ("RMSprop", dict(alpha=-0.1)), ("RMSprop", dict(momentum=-1)),
    ("RMSprop", dict(eps=-1)), ("Adagrad", dict(lr_decay=-1)),
    ("Adagrad", dict(initial_accumulator_value=-1)), ("Adagrad", dict(eps=-1e-3)),
], ids=lambda b: f"{b[0]}-{b[1]}")
def test_invalid_hyperparameters_raise_like_torch(bad):
    name, kw = bad
    with pytest.raises(ValueError) as pe:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(1))], **kw)
    with pytest.raises(ValueError) as te:
        getattr(toptim, name)([tnn.Parameter(tg.zeros(1))], **kw)
    assert str(te.value) == str(pe.value)


@pytest.mark.parametrize("make", [
    lambda lib, P: lib.optim.SGD(P, lr=0.1),
    lambda lib, P: lib.optim.SGD([], lr=0.1),
    lambda lib, P: lib.optim.SGD([P, P.detach() * 2], lr=0.1),
    lambda lib, P: lib.optim.SGD([P, 3.0], lr=0.1),
    lambda lib, P: lib.optim.SGD([{"params": [P]}, {"params": [P]}], lr=0.1),
    lambda lib, P: lib.optim.SGD({P}, lr=0.1),
    lambda lib, P: lib.optim.SGD([{"params": [P]}]),
], ids=["tensor", "empty", "non-leaf", "non-tensor", "two-groups", "set", "no-lr-ok"])
def test_construction_errors_match_torch(make):
    def run(lib):
        P = (tnn if lib is tg else torch.nn).Parameter(lib.ones(2))
        try:
            make(lib, P)
        except Exception as e:  # noqa: BLE001 - compared below
            return type(e), str(e)
        return None

    assert run(tg) == run(torch)


def test_zero_grad_matches_torch():
    t, p = tnn.Parameter(tg.ones(3)), torch.nn.Parameter(torch.ones(3))
    topt, popt = toptim.SGD([t], lr=0.1), torch.optim.SGD([p], lr=0.1)
    t.grad, p.grad = tg.ones(3), torch.ones(3)
    topt.zero_grad(set_to_none=False)
    popt.zero_grad(set_to_none=False)
    assert t.grad is not None and t.grad.tolist() == p.grad.tolist()
    topt.zero_grad()
    popt.zero_grad()
    assert t.grad is None and p.grad is None


# =========================================================================== schedulers
def _opt_pair(name="SGD", n_groups=1, **kw):
    tps = [tnn.Parameter(tg.zeros(2)) for _ in range(n_groups)]
    pps = [torch.nn.Parameter(torch.zeros(2)) for _ in range(n_groups)]
    lrs = [0.1 * (i + 1) for i in range(n_groups)]
    topt = getattr(toptim, name)(
        [{"params": [p], "lr": lr} for p, lr in zip(tps, lrs, strict=True)], lr=0.1, **kw
    )
    popt = getattr(torch.optim, name)(
        [{"params": [p], "lr": lr} for p, lr in zip(pps, lrs, strict=True)], lr=0.1, **kw
    )
    return topt, popt


SCHED_CASES = [
    ("StepLR", dict(step_size=4, gamma=0.5), {}),
    ("MultiStepLR", dict(milestones=[3, 7, 7, 20], gamma=0.3), {}),
    ("ExponentialLR", dict(gamma=0.9), {}),
    ("CosineAnnealingLR", dict(T_max=10), {}),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01), {}),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e) + 0.05 * (e % 3)), {}),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.95), {}),
    ("ConstantLR", dict(factor=0.5, total_iters=4), {}),
    ("LinearLR", dict(start_factor=0.25, end_factor=0.9, total_iters=8), {}),
    ("PolynomialLR", dict(total_iters=12, power=2.0), {}),
    ("CosineAnnealingWarmRestarts", dict(T_0=5, T_mult=2, eta_min=0.001), {}),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="triangular2"),
     dict(momentum=0.9)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=5, mode="exp_range",
                      gamma=0.97), dict(momentum=0.9)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=40), dict(momentum=0.9)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.8], epochs=4, steps_per_epoch=10, pct_start=0.25,
                        anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0),
     dict(momentum=0.9)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=40, three_phase=True, base_momentum=0.8,
                        max_momentum=0.99), dict(momentum=0.5)),
]


def _sched_id(case):
    return case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items() if k != "lr_lambda")


def _group_snapshot(opt):
    return [(g["lr"], g.get("momentum"), g.get("betas")) for g in opt.param_groups]


@pytest.mark.parametrize("case", SCHED_CASES, ids=_sched_id)
@pytest.mark.parametrize("n_groups", [1, 2])
def test_scheduler_lr_sequence_matches_torch(case, n_groups):
    name, kw, opt_kw = case
    if name == "OneCycleLR" and isinstance(kw["max_lr"], list) and n_groups == 1:
        kw = dict(kw, max_lr=kw["max_lr"][0])
    topt, popt = _opt_pair(n_groups=n_groups, **opt_kw)
    ts = getattr(tsched, name)(topt, **kw)
    ps = getattr(torch.optim.lr_scheduler, name)(popt, **kw)
    assert ts.get_last_lr() == ps.get_last_lr()
    assert _group_snapshot(topt) == _group_snapshot(popt)
    for _ in range(40 if name != "OneCycleLR" else 39):
        topt.step()
        popt.step()
        ts.step()
        ps.step()
        assert ts.get_last_lr() == ps.get_last_lr()
        assert _group_snapshot(topt) == _group_snapshot(popt)
        assert ts.last_epoch == ps.last_epoch


@pytest.mark.parametrize("kw", [dict(max_lr=0.01, total_steps=30),
                                dict(max_lr=0.02, epochs=3, steps_per_epoch=10, three_phase=True)])
def test_onecycle_cycles_adam_beta1_like_torch(kw):
    topt, popt = _opt_pair("Adam")
    ts = tsched.OneCycleLR(topt, **kw)
    ps = torch.optim.lr_scheduler.OneCycleLR(popt, **kw)
    seen = []
    for _ in range(29):
        topt.step()
        popt.step()
        ts.step()
        ps.step()
        assert _group_snapshot(topt) == _group_snapshot(popt)
        seen.append(topt.param_groups[0]["betas"][0])
    assert len(set(seen)) > 5
    topt.step()
    ts.step()
    with pytest.raises(ValueError, match="Tried to step 31 times"):
        ts.step()


@pytest.mark.parametrize("kw,metrics", [
    (dict(patience=2), [1.0, 0.9, 0.9, 0.95, 0.91, 0.9, 0.89, 0.899, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7]),
    (dict(mode="max", factor=0.5, patience=1, cooldown=2, threshold=0.05, min_lr=0.02),
     [0.1, 0.2, 0.21, 0.2, 0.19, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.31, 0.3]),
    (dict(threshold_mode="abs", threshold=0.1, patience=0, factor=0.3, min_lr=[0.001, 0.05]),
     [5.0, 4.95, 4.8, 4.75, 4.0, 3.99, 3.98, 3.97, 3.0, 3.0, 2.95, 2.9]),
    (dict(mode="max", threshold_mode="abs", patience=3, eps=0.05, factor=0.9),
     [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
])
def test_reduce_lr_on_plateau_matches_torch(kw, metrics):
    topt, popt = _opt_pair(n_groups=2)
    ts = tsched.ReduceLROnPlateau(topt, **kw)
    ps = torch.optim.lr_scheduler.ReduceLROnPlateau(popt, **kw)
    for m in metrics * 2:
        ts.step(m)
        ps.step(m)
        assert ts.get_last_lr() == ps.get_last_lr()
        assert (ts.best, ts.num_bad_epochs, ts.cooldown_counter, ts.last_epoch) == \
            (ps.best, ps.num_bad_epochs, ps.cooldown_counter, ps.last_epoch)


def test_sequential_and_chained_schedulers_match_torch():
    def build(lib, opt):
        S = lib.optim.lr_scheduler
        seq = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.1, total_iters=3),
                                   S.ExponentialLR(opt, gamma=0.9)], milestones=[3])
        return seq

    topt, popt = _opt_pair()
    ts, ps = build(tg, topt), build(torch, popt)
    for _ in range(12):
        topt.step()
        popt.step()
        ts.step()
        ps.step()
        assert ts.get_last_lr() == ps.get_last_lr()

    topt, popt = _opt_pair()
    tch = tsched.ChainedScheduler([tsched.ExponentialLR(topt, 0.9), tsched.StepLR(topt, 3, 0.5)])
    pch = torch.optim.lr_scheduler.ChainedScheduler(
        [torch.optim.lr_scheduler.ExponentialLR(popt, 0.9), torch.optim.lr_scheduler.StepLR(popt, 3, 0.5)])
    for _ in range(12):
        topt.step()
        popt.step()
        tch.step()
        pch.step()
        assert tch.get_last_lr() == pch.get_last_lr()


def test_scheduler_state_dict_and_closed_form_match_torch():
    topt, popt = _opt_pair()
    ts = tsched.CosineAnnealingLR(topt, T_max=10)
    ps = torch.optim.lr_scheduler.CosineAnnealingLR(popt, T_max=10)
    for _ in range(4):
        topt.step()
        popt.step()
        ts.step()
        ps.step()
    assert sorted(ts.state_dict()) == sorted(ps.state_dict())
    assert {k: v for k, v in ts.state_dict().items()} == dict(ps.state_dict())
    with pytest.warns(UserWarning, match="epoch parameter"):
        ts.step(7)
    with pytest.warns(UserWarning, match="epoch parameter"):
        ps.step(7)
    assert ts.get_last_lr() == ps.get_last_lr()


def test_scheduler_initial_lr_and_resume_errors_match_torch():
    topt, popt = _opt_pair()
    tsched.StepLR(topt, 3)
    torch.optim.lr_scheduler.StepLR(popt, 3)
    assert topt.param_groups[0]["initial_lr"] == popt.param_groups[0]["initial_lr"] == 0.1
    topt, popt = _opt_pair()
    with pytest.raises(KeyError) as te:
        tsched.StepLR(topt, 3, last_epoch=5)
    with pytest.raises(KeyError) as pe:
        torch.optim.lr_scheduler.StepLR(popt, 3, last_epoch=5)
    assert str(te.value) == str(pe.value)


# =========================================================================== clipping
@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("norm_type", [2, 2.0, 1, float("inf"), 3.5, 0.5, 0, "inf", "-inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(dt, norm_type, max_norm):
    rng = np.random.default_rng(6)
    tp, pp = _make_params(_arrays(rng, dt, [(4, 5), (7,), (3, 1, 2), (2,)]))
    grads = _arrays(rng, dt, [(4, 5), (7,), (3, 1, 2), (2,)])
    grads[3] = None
    _set_grads(tp, pp, grads)
    nt = float(norm_type) if isinstance(norm_type, str) else norm_type
    tn = clip_grad_norm_(tp, max_norm, norm_type=nt)
    pn = torch.nn.utils.clip_grad_norm_(pp, max_norm, norm_type=nt)
    assert isinstance(tn, tg.Tensor) and tn.shape == () and str(tn.dtype) == str(pn.dtype)
    np.testing.assert_allclose(tn.item(), pn.item(), **TOL[dt])
    for a, b in zip(tp, pp, strict=True):
        if b.grad is None:
            assert a.grad is None
        else:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL[dt])


def test_clip_grad_norm_of_large_float32_gradients_matches_torch():
    """Large float32 gradients take a norm summed in float32 rows of 1024 squares, then in
    float64; it stays within float32 rounding of the float64 norm and of torch's."""
    rng = np.random.default_rng(11)
    shapes = [(300, 71), (5000,), (64, 32, 3, 3)]
    vals = _arrays(rng, "float32", shapes)
    tp, pp = _make_params(vals)
    grads = [(100 * a).astype(np.float32) for a in _arrays(rng, "float32", shapes)]
    _set_grads(tp, pp, grads)
    exact = np.sqrt(sum(np.square(g.astype(np.float64)).sum() for g in grads))
    tn = clip_grad_norm_(tp, 1.0)
    pn = torch.nn.utils.clip_grad_norm_(pp, 1.0)
    np.testing.assert_allclose(tn.item(), exact, rtol=1.2e-7)
    np.testing.assert_allclose(tn.item(), pn.item(), rtol=1e-6)
    for a, b in zip(tp, pp, strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_clip_grad_norm_mixed_dtypes_match_torch():
    rng = np.random.default_rng(9)
    vals = [rng.standard_normal((3, 3)).astype("float32"), rng.standard_normal(4)]
    tp, pp = _make_params(vals)
    _set_grads(tp, pp, [3 * rng.standard_normal((3, 3)).astype("float32"), rng.standard_normal(4)])
    tn, pn = clip_grad_norm_(tp, 0.5), torch.nn.utils.clip_grad_norm_(pp, 0.5)
    assert str(tn.dtype) == str(pn.dtype) == "torch.float64"
    np.testing.assert_allclose(tn.item(), pn.item(), rtol=1e-6)
    for a, b in zip(tp, pp, strict=True):
        assert str(a.grad.dtype) == str(b.grad.dtype)
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6)


def test_clip_grad_norm_edge_cases_match_torch():
    # single tensor argument, no grads at all, non-finite norms
    t, p = tnn.Parameter(tg.ones(3)), torch.nn.Parameter(torch.ones(3))
    assert clip_grad_norm_(t, 1.0).item() == torch.nn.utils.clip_grad_norm_(p, 1.0).item() == 0.0
    t.grad, p.grad = tg.tensor([3.0, 4.0, 0.0]), torch.tensor([3.0, 4.0, 0.0])
    assert clip_grad_norm_(t, 1.0).item() == torch.nn.utils.clip_grad_norm_(p, 1.0).item() == 5.0
    np.testing.assert_allclose(t.grad.numpy(), p.grad.numpy(), rtol=1e-6)
    t.grad, p.grad = tg.tensor([math.inf, 1.0, 0.0]), torch.tensor([math.inf, 1.0, 0.0])
    with pytest.raises(RuntimeError) as te:
        clip_grad_norm_(t, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as pe:
        torch.nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    assert str(te.value) == str(pe.value)
    tn, pn = clip_grad_norm_(t, 1.0), torch.nn.utils.clip_grad_norm_(p, 1.0)
    assert tn.item() == pn.item() == math.inf
    np.testing.assert_array_equal(t.grad.numpy(), p.grad.numpy())


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_clip_grad_value_matches_torch(dt):
    rng = np.random.default_rng(7)
    tp, pp = _make_params(_arrays(rng, dt))
    _set_grads(tp, pp, [g * 3 for g in _arrays(rng, dt)])
    assert clip_grad_value_(tp, 0.7) is None
    torch.nn.utils.clip_grad_value_(pp, 0.7)
    for a, b in zip(tp, pp, strict=True):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_parameters_to_vector_round_trip_matches_torch():
    rng = np.random.default_rng(8)
    tp, pp = _make_params(_arrays(rng, "float64"))
    tv = tnn.utils.parameters_to_vector(tp)
    pv = torch.nn.utils.parameters_to_vector(pp)
    np.testing.assert_array_equal(tv.detach().numpy(), pv.detach().numpy())
    assert tv.requires_grad == pv.requires_grad
    new = rng.standard_normal(tv.shape[0])
    tnn.utils.vector_to_parameters(tg.tensor(new), tp)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), pp)
    for a, b in zip(tp, pp, strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("kw", [dict(momentum=0.9), dict(momentum=0.9, dampening=0.3, weight_decay=0.01),
                                dict(momentum=0.8, nesterov=True, maximize=True), dict(weight_decay=0.1)])
def test_sgd_on_a_parameter_larger_than_one_update_piece(kw):
    """SGD updates large parameters piece by piece (optim/sgd.py: _CHUNK); the result is torch's."""
    from tapegrad.optim import sgd as tsgd
    rng = np.random.default_rng(7)
    n = tsgd._CHUNKED_FROM + tsgd._CHUNK + 123        # pieces, the last one partial
    w0 = rng.standard_normal(n).astype(np.float32)
    a = tg.tensor(w0.reshape(-1, 1), requires_grad=True)
    b = torch.tensor(w0.reshape(-1, 1), requires_grad=True)
    oa, ob = toptim.SGD([a], lr=0.05, **kw), torch.optim.SGD([b], lr=0.05, **kw)
    for _ in range(3):
        g = rng.standard_normal((n, 1)).astype(np.float32)
        a.grad, b.grad = tg.tensor(g), torch.tensor(g)
        oa.step()
        ob.step()
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    if kw.get("momentum"):
        np.testing.assert_allclose(oa.state[a]["momentum_buffer"].numpy(),
                                   ob.state[b]["momentum_buffer"].numpy(), rtol=1e-5, atol=1e-6)

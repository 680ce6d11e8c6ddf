"""Learning-rate sequences of every ``tapegrad.optim.lr_scheduler`` class against PyTorch's.

Each case builds the same scheduler (or composition) over an SGD/Adam optimizer with several
param groups of different learning rates in both libraries and steps both many times, past
milestones, restarts and cycle ends; the rates (and cycled momenta) must agree to rtol 1e-12.
State dicts are compared key by key, saved mid-way and restored (also across the two
libraries, both ways) and the continued sequences compared again.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402
from tapegrad.optim import lr_scheduler as TS  # noqa: E402

PS = torch.optim.lr_scheduler
# a nested SequentialLR steps its first member while being built, before any optimizer step;
# both libraries warn about the order then
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
RTOL = 1e-12
LRS = (0.1, 0.37, 1.3)


def _opt(lib, name="SGD", n_groups=3, **kw):
    params = [lib.nn.Parameter(lib.zeros(2)) for _ in range(n_groups)]
    groups = [{"params": [p], "lr": LRS[i]} for i, p in enumerate(params)]
    if name == "SGD":
        kw.setdefault("momentum", 0.9)
    return getattr(lib.optim, name)(groups, lr=0.1, **kw)


def _pair(name="SGD", n_groups=3):
    return _opt(tg, name, n_groups), _opt(torch, name, n_groups)


def _groups(opt):
    """The scheduled numbers of each group: lr, and momentum or beta1."""
    out = []
    for g in opt.param_groups:
        out.append(float(g["lr"]))
        if "momentum" in g:
            out.append(float(g["momentum"]))
        if "betas" in g:
            out.append(float(g["betas"][0]))
    return out


def _close(a, b, what):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=RTOL, atol=0, err_msg=what)


def _assert_tree_close(a, b, path="state"):
    """State dicts: the same keys, containers and strings; numbers to rtol 1e-12."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a, key=str) == sorted(b, key=str), path
        for k in a:
            _assert_tree_close(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_tree_close(x, y, f"{path}[{k}]")
    elif isinstance(a, (bool, str)) or a is None:
        assert a == b, path
    else:
        x, y = float(a), float(b)
        if math.isinf(x) or math.isinf(y):
            assert x == y, path
        else:
            _close(x, y, path)


def _copy_groups(src, dst):
    """Give ``dst`` the scheduled entries of ``src``'s groups (as an optimizer checkpoint would)."""
    for gs, gd in zip(src.param_groups, dst.param_groups, strict=True):
        for k, v in gs.items():
            if k != "params":
                gd[k] = float(v) if k == "lr" else v


# --------------------------------------------------------------------------- cases
def _lambdas(S, o):
    return S.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: 1.0 / (1 + e), lambda e: 1.0 + (e % 4)])


CASES = {
    "StepLR": lambda S, o: S.StepLR(o, step_size=4, gamma=0.7),
    "MultiStepLR": lambda S, o: S.MultiStepLR(o, milestones=[3, 7, 7, 20, 41], gamma=0.4),
    "ConstantLR": lambda S, o: S.ConstantLR(o, factor=0.3, total_iters=6),
    "LinearLR-up": lambda S, o: S.LinearLR(o, start_factor=0.05, end_factor=0.9, total_iters=17),
    "LinearLR-down": lambda S, o: S.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=11),
    "ExponentialLR": lambda S, o: S.ExponentialLR(o, gamma=0.93),
    "PolynomialLR": lambda S, o: S.PolynomialLR(o, total_iters=23, power=2.5),
    "CosineAnnealingLR": lambda S, o: S.CosineAnnealingLR(o, T_max=9, eta_min=0.011),
    "CosineAnnealingLR-eta0": lambda S, o: S.CosineAnnealingLR(o, T_max=5),
    "LambdaLR": _lambdas,
    "MultiplicativeLR": lambda S, o: S.MultiplicativeLR(o, lambda e: 0.97 if e % 3 else 1.04),
    "CosineAnnealingWarmRestarts": lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2,
                                                                             eta_min=0.002),
    "CosineAnnealingWarmRestarts-Tmult1": lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=7),
    "CyclicLR-triangular": lambda S, o: S.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2, 0.3],
                                                   step_size_up=5, step_size_down=3),
    "CyclicLR-triangular2": lambda S, o: S.CyclicLR(o, base_lr=[0.01, 0.02, 0.03], max_lr=0.5,
                                                    step_size_up=4, mode="triangular2",
                                                    base_momentum=0.7, max_momentum=0.95),
    "CyclicLR-exp_range": lambda S, o: S.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=6,
                                                  mode="exp_range", gamma=0.98),
    "CyclicLR-custom": lambda S, o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3,
                                               scale_fn=lambda x: 1.0 / (1.0 + 0.1 * x),
                                               scale_mode="iterations", cycle_momentum=False),
    "OneCycleLR-cos": lambda S, o: S.OneCycleLR(o, max_lr=[0.4, 0.8, 1.2], total_steps=70),
    "OneCycleLR-linear": lambda S, o: S.OneCycleLR(o, max_lr=0.5, epochs=7, steps_per_epoch=10,
                                                   pct_start=0.2, anneal_strategy="linear",
                                                   div_factor=10.0, final_div_factor=100.0),
    "OneCycleLR-three_phase": lambda S, o: S.OneCycleLR(o, max_lr=0.3, total_steps=70,
                                                        three_phase=True, base_momentum=0.8,
                                                        max_momentum=0.99),
    "ChainedScheduler": lambda S, o: S.ChainedScheduler(
        [S.ConstantLR(o, factor=0.2, total_iters=5), S.ExponentialLR(o, gamma=0.95),
         S.CosineAnnealingLR(o, T_max=12, eta_min=0.001)]),
    "two-schedulers-one-optimizer": lambda S, o: S.ChainedScheduler(
        [S.StepLR(o, step_size=3, gamma=0.5), S.MultiplicativeLR(o, lambda e: 0.99)], optimizer=o),
    "SequentialLR": lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=15),
            S.ExponentialLR(o, gamma=0.9)], milestones=[5, 35]),
    "SequentialLR-restarts": lambda S, o: S.SequentialLR(
        o, [S.ConstantLR(o, factor=0.5, total_iters=3), S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2),
            S.PolynomialLR(o, total_iters=10, power=2.0)], milestones=[6, 41]),
    "SequentialLR-nested": lambda S, o: S.SequentialLR(
        o, [S.SequentialLR(o, [S.LinearLR(o, total_iters=3), S.ExponentialLR(o, gamma=0.9)],
                           milestones=[3]),
            S.MultiStepLR(o, milestones=[4, 9])], milestones=[20]),
}
ADAM_CASES = {"CyclicLR-adam", "OneCycleLR-adam"}
CASES["CyclicLR-adam"] = lambda S, o: S.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=4)
CASES["OneCycleLR-adam"] = lambda S, o: S.OneCycleLR(o, max_lr=0.01, total_steps=70, three_phase=True)

N_STEPS = 69  # OneCycleLR cases have 70 steps: the constructor's and 69 more


def _build(case):
    name = "Adam" if case in ADAM_CASES else "SGD"
    topt, popt = _pair(name)
    return topt, popt, CASES[case](TS, topt), CASES[case](PS, popt)


def _step_both(topt, popt, ts, ps, n, label):
    for k in range(n):
        topt.step()
        popt.step()
        ts.step()
        ps.step()
        _close(ts.get_last_lr(), ps.get_last_lr(), f"{label}: get_last_lr after step {k + 1}")
        _close(_groups(topt), _groups(popt), f"{label}: param groups after step {k + 1}")
        if hasattr(ps, "last_epoch"):
            assert ts.last_epoch == ps.last_epoch


@pytest.mark.parametrize("case", sorted(CASES))
def test_sequence_matches_torch(case):
    topt, popt, ts, ps = _build(case)
    _close(ts.get_last_lr(), ps.get_last_lr(), "after construction")
    _close(_groups(topt), _groups(popt), "groups after construction")
    _step_both(topt, popt, ts, ps, N_STEPS, case)
    _assert_tree_close(ts.state_dict(), ps.state_dict())


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("direction", ["tapegrad->tapegrad", "torch->tapegrad", "tapegrad->torch"])
def test_state_dict_restored_mid_way_continues_like_torch(case, direction):
    topt, popt, ts, ps = _build(case)
    _step_both(topt, popt, ts, ps, 23, case)
    _assert_tree_close(ts.state_dict(), ps.state_dict())

    # a fresh pair of optimizers and schedulers, restored from the states at step 23
    topt2, popt2, ts2, ps2 = _build(case)
    _copy_groups(topt, topt2)
    _copy_groups(popt, popt2)
    source = ps if direction == "torch->tapegrad" else ts
    ts2.load_state_dict(source.state_dict())
    ps2.load_state_dict((ts if direction == "tapegrad->torch" else ps).state_dict())
    _assert_tree_close(ts2.state_dict(), ps.state_dict())
    _step_both(topt2, popt2, ts2, ps2, N_STEPS - 23, case + " (restored)")


@pytest.mark.parametrize("case", ["StepLR", "MultiStepLR", "ConstantLR", "LinearLR-up", "ExponentialLR",
                                  "PolynomialLR", "CosineAnnealingLR", "LambdaLR", "MultiplicativeLR",
                                  "CyclicLR-triangular2", "OneCycleLR-cos"])
def test_deprecated_epoch_argument_matches_torch(case):
    topt, popt, ts, ps = _build(case)
    for epoch in [None, None, 3, 9, None, 17, 2, None, 0, 30, None, 50, 12.5, None]:
        topt.step()
        popt.step()
        if epoch is None:
            ts.step()
            ps.step()
        else:
            with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
                ts.step(epoch)
            with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
                ps.step(epoch)
        _close(ts.get_last_lr(), ps.get_last_lr(), f"epoch={epoch}")
        _close(_groups(topt), _groups(popt), f"groups, epoch={epoch}")
        assert ts.last_epoch == ps.last_epoch


@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_warm_restarts_fractional_epochs_match_torch(T_mult):
    topt, popt = _pair()
    ts = TS.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=T_mult, eta_min=0.01)
    ps = PS.CosineAnnealingWarmRestarts(popt, T_0=3, T_mult=T_mult, eta_min=0.01)
    epochs = [None, 0.5, 1.25, 2.999, 3.0, None, None, 7.75, 20.0, 21.5, None, 100.0, 1000.0, 0, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fractional epochs are supported: no deprecation warning
        for epoch in epochs:
            topt.step()
            popt.step()
            ts.step(epoch)
            ps.step(epoch)
            _close(ts.get_last_lr(), ps.get_last_lr(), f"epoch={epoch}")
            assert (ts.last_epoch, ts.T_i) == (ps.last_epoch, ps.T_i)
            _close([ts.T_cur], [ps.T_cur], "T_cur")


@pytest.mark.parametrize("case,kw", [
    ("StepLR", dict(step_size=3)), ("MultiStepLR", dict(milestones=[8, 9, 12])),
    ("ConstantLR", dict(factor=0.5, total_iters=8)), ("LinearLR", dict(total_iters=10)),
    ("ExponentialLR", dict(gamma=0.9)), ("PolynomialLR", dict(total_iters=12, power=1.5)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.01)), ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.9)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.8 ** e)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2)), ("CosineAnnealingWarmRestarts", dict(T_0=3)),
])
@pytest.mark.parametrize("last_epoch", [0, 7, 20])
def test_resuming_with_last_epoch_matches_torch(case, kw, last_epoch):
    topt, popt = _pair()
    for opt in (topt, popt):
        for g in opt.param_groups:
            g["initial_lr"] = 2 * g["lr"]
    ts = getattr(TS, case)(topt, last_epoch=last_epoch, **kw)
    ps = getattr(PS, case)(popt, last_epoch=last_epoch, **kw)
    _close(ts.get_last_lr(), ps.get_last_lr(), "after construction")
    _step_both(topt, popt, ts, ps, 25, case)
    _assert_tree_close(ts.state_dict(), ps.state_dict())


PLATEAU = [
    (dict(patience=2), [1.0, 0.9, 0.9, 0.95, 0.91, 0.9, 0.89, 0.899, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7]),
    (dict(mode="max", factor=0.5, patience=1, cooldown=2, threshold=0.05, min_lr=0.02),
     [0.1, 0.2, 0.21, 0.2, 0.19, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.31, 0.3]),
    (dict(threshold_mode="abs", threshold=0.1, patience=0, factor=0.3, min_lr=[0.001, 0.05, 0.2]),
     [5.0, 4.95, 4.8, 4.75, 4.0, 3.99, 3.98, 3.97, 3.0, 3.0, 2.95, 2.9]),
    (dict(mode="max", threshold_mode="abs", patience=3, eps=0.05, factor=0.9), [1.0] * 21),
    (dict(mode="min", threshold_mode="rel", threshold=0.0, patience=0, factor=0.5, eps=0.0),
     [3.0, 3.0, 2.0, 2.0, 2.5, 1.0, 1.0, 1.0]),
]


@pytest.mark.parametrize("kw,metrics", PLATEAU)
def test_reduce_lr_on_plateau_matches_torch_and_restores(kw, metrics):
    topt, popt = _pair()
    ts, ps = TS.ReduceLROnPlateau(topt, **kw), PS.ReduceLROnPlateau(popt, **kw)
    sequence = metrics * 3
    half = len(sequence) // 2
    for k, m in enumerate(sequence):
        if k == half:  # swap in schedulers restored from each other's state
            _assert_tree_close(ts.state_dict(), ps.state_dict())
            topt2, popt2 = _pair()
            _copy_groups(topt, topt2)
            _copy_groups(popt, popt2)
            ts2, ps2 = TS.ReduceLROnPlateau(topt2), PS.ReduceLROnPlateau(popt2)
            ts2.load_state_dict(ps.state_dict())
            ps2.load_state_dict(ts.state_dict())
            topt, popt, ts, ps = topt2, popt2, ts2, ps2
        ts.step(m)
        ps.step(m)
        _close(ts.get_last_lr(), ps.get_last_lr(), f"metric {k}")
        _close(_groups(topt), _groups(popt), f"groups after metric {k}")
        assert (ts.num_bad_epochs, ts.cooldown_counter, ts.last_epoch, ts.in_cooldown) == \
            (ps.num_bad_epochs, ps.cooldown_counter, ps.last_epoch, ps.in_cooldown)
        _close([ts.best], [ps.best], "best")
    _assert_tree_close(ts.state_dict(), ps.state_dict())


def test_callable_objects_are_saved_by_their_attributes_like_torch():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, x):
            return self.rate ** x

    topt, popt = _pair()
    built = {}
    for lib, S, opt in (("tg", TS, topt), ("torch", PS, popt)):
        built[lib] = (S.LambdaLR(opt, [Decay(0.9), lambda e: 1.0, Decay(0.5)]),
                      S.CyclicLR(opt, 0.01, 0.1, step_size_up=2, scale_fn=Decay(0.7)))
    for t, p in zip(built["tg"], built["torch"], strict=True):
        assert t.state_dict() == p.state_dict()
    saved = built["torch"][0].state_dict()
    saved["lr_lambdas"][0]["rate"] = 0.25
    built["tg"][0].load_state_dict(saved)
    assert built["tg"][0].lr_lambdas[0].rate == 0.25


def _outcome(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the exception itself is compared
        return type(e).__name__, str(e)
    return None


ERRORS = [
    lambda S, o: S.StepLR(3, step_size=1),
    lambda S, o: S.LambdaLR(o, [lambda e: 1.0]),
    lambda S, o: S.MultiplicativeLR(o, 0.5),
    lambda S, o: S.ConstantLR(o, factor=1.5),
    lambda S, o: S.LinearLR(o, start_factor=0.0),
    lambda S, o: S.LinearLR(o, end_factor=1.5),
    lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=0),
    lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
    lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="0"),
    lambda S, o: S.CyclicLR(o, 0.1, 1.0, mode="sawtooth"),
    lambda S, o: S.CyclicLR(o, [0.1, 0.2], 1.0),
    lambda S, o: S.CyclicLR(o, 0.1, 1.0, max_momentum=[0.9]),
    lambda S, o: S.OneCycleLR(o, 1.0),
    lambda S, o: S.OneCycleLR(o, 1.0, total_steps=10.0),
    lambda S, o: S.OneCycleLR(o, 1.0, epochs=0, steps_per_epoch=3),
    lambda S, o: S.OneCycleLR(o, 1.0, epochs=2, steps_per_epoch=-1),
    lambda S, o: S.OneCycleLR(o, 1.0, total_steps=10, pct_start=1),
    lambda S, o: S.OneCycleLR(o, 1.0, total_steps=10, anneal_strategy="exp"),
    lambda S, o: S.OneCycleLR(o, [1.0, 2.0], total_steps=10),
    lambda S, o: S.ReduceLROnPlateau(o, factor=1.0),
    lambda S, o: S.ReduceLROnPlateau(o, mode="avg"),
    lambda S, o: S.ReduceLROnPlateau(o, threshold_mode="pct"),
    lambda S, o: S.ReduceLROnPlateau(o, min_lr=[0.1]),
    lambda S, o: S.ChainedScheduler([]),
    lambda S, o: S.ChainedScheduler([S.ReduceLROnPlateau(o)]),
    lambda S, o: S.ChainedScheduler([S.StepLR(o, 2)], optimizer=None),
    lambda S, o: S.SequentialLR(o, [], milestones=[]),
    lambda S, o: S.SequentialLR(o, [S.StepLR(o, 2)], milestones=[3]),
    lambda S, o: S.SequentialLR(o, [object()], milestones=[]),
    lambda S, o: S.StepLR(o, 2, last_epoch=4),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_constructor_errors_match_torch(k):
    assert _outcome(lambda: ERRORS[k](TS, _opt(tg))) == _outcome(lambda: ERRORS[k](PS, _opt(torch)))


def test_onecycle_stepping_past_the_end_matches_torch():
    topt, popt = _pair()
    ts, ps = TS.OneCycleLR(topt, 1.0, total_steps=5), PS.OneCycleLR(popt, 1.0, total_steps=5)
    _step_both(topt, popt, ts, ps, 5, "OneCycleLR")
    assert _outcome(ts.step) == _outcome(ps.step)


def test_step_order_warnings_match_torch():
    def warned(lib, S, replace_step, step_optimizer):
        opt = _opt(lib)
        sched = S.StepLR(opt, step_size=2)
        if replace_step:
            opt.step = lambda *a, **k: None
        if step_optimizer:
            opt.step()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sched.step()
            sched.step()
        return [str(w.message)[:60] for w in caught]

    for replace_step in (False, True):
        for step_optimizer in (False, True):
            assert warned(tg, TS, replace_step, step_optimizer) == \
                warned(torch, PS, replace_step, step_optimizer)

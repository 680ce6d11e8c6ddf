"""torch-free tests of ``tapegrad.optim`` and ``tapegrad.nn.utils`` clipping: error messages,
hand-computed updates, state handling, hooks, schedulers and invariants."""
from __future__ import annotations

import copy
import math
import pickle
import warnings

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.optim as optim
from tapegrad.nn.utils import (clip_grad_norm, clip_grad_norm_, clip_grad_value_, parameters_to_vector,
                               vector_to_parameters)
from tapegrad.optim import lr_scheduler as S

OPTIMIZERS = {
    "SGD": dict(lr=0.1, momentum=0.9),
    "Adam": dict(lr=0.01, amsgrad=True),
    "AdamW": dict(lr=0.01),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
    "Adagrad": dict(lr=0.1, lr_decay=0.01),
}


def P(*values, dtype=tg.float64):
    return nn.Parameter(tg.tensor(list(values), dtype=dtype))


def grads(rng, params):
    for p in params:
        p.grad = tg.tensor(rng.standard_normal(p.shape))


# =========================================================================== construction errors
@pytest.mark.parametrize("name,kw,msg", [
    ("SGD", dict(lr=-1), "Invalid learning rate: -1"),
    ("SGD", dict(lr=0.1, momentum=-0.1), "Invalid momentum value: -0.1"),
    ("SGD", dict(lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", dict(lr=0.1, nesterov=True, momentum=0.9, dampening=0.5),
     "Nesterov momentum requires a momentum and zero dampening"),
    ("Adam", dict(lr=-0.5), "Invalid learning rate: -0.5"),
    ("Adam", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("Adam", dict(betas=(1.0, 0.99)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    ("Adam", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("Adam", dict(betas=(0, 0.9)), "betas must be either both floats or both Tensors"),
    ("AdamW", dict(lr=-1e-3), "Invalid learning rate: -0.001"),
    ("RMSprop", dict(alpha=-0.1), "Invalid alpha value: -0.1"),
    ("RMSprop", dict(momentum=-1), "Invalid momentum value: -1"),
    ("RMSprop", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-2), "Invalid initial_accumulator_value value: -2"),
    ("Adagrad", dict(eps=-1), "Invalid epsilon value: -1"),
])
def test_invalid_hyperparameters(name, kw, msg):
    with pytest.raises(ValueError) as e:
        getattr(optim, name)([P(1.0)], **kw)
    assert str(e.value) == msg


def test_param_list_errors():
    p = P(1.0, 2.0)
    with pytest.raises(ValueError, match="^optimizer got an empty parameter list$"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="^optimizer got an empty parameter list$"):
        optim.Adam(iter(()))
    with pytest.raises(TypeError) as e:
        optim.SGD(p, lr=0.1)
    assert str(e.value) == ("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got torch.DoubleTensor")
    with pytest.raises(ValueError, match="^some parameters appear in more than one parameter group$"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="^can't optimize a non-leaf Tensor$"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(
        TypeError, match="optimizer can only optimize Tensors, but one of the params is float"
    ):
        optim.SGD([p, 1.5], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(TypeError, match="param_group must be a dict"):
        optim.SGD([p], lr=0.1).add_param_group([P(1.0)])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([p, p], lr=0.1)


def test_add_param_group_fills_defaults_and_rejects_overlap():
    a, b = P(1.0), P(2.0)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.5})
    g = opt.param_groups[1]
    assert g["params"] == [b] and g["lr"] == 0.5 and g["momentum"] == 0.9 and g["nesterov"] is False
    assert set(g) == set(opt.param_groups[0])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_named_params_are_recorded():
    a, b = P(1.0), P(2.0)
    opt = optim.Adam([("w", a), ("b", b)])
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    with pytest.raises(ValueError, match="Some param names are missing"):
        optim.Adam([("w", P(1.0)), P(2.0)])


# =========================================================================== update rules by hand
def test_sgd_momentum_nesterov_weight_decay_by_hand():
    p = P(1.0, -2.0)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.5)
    g1, g2 = np.array([0.5, 1.0]), np.array([-1.0, 2.0])
    w = np.array([1.0, -2.0])
    buf = None
    for g in (g1, g2):
        p.grad = tg.tensor(g)
        opt.step()
        d = g + 0.5 * w
        buf = d.copy() if buf is None else 0.9 * buf + d
        w = w - 0.1 * (d + 0.9 * buf)
        np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-14)
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), buf, rtol=1e-14)


def test_sgd_dampening_skipped_on_first_step_and_maximize():
    p = P(0.0)
    opt = optim.SGD([p], lr=1.0, momentum=0.5, dampening=0.5, maximize=True)
    p.grad = tg.tensor([2.0], dtype=tg.float64)
    opt.step()
    assert p.item() == 2.0                        # buffer = g (no dampening), ascent
    opt.step()
    assert p.item() == 2.0 + (0.5 * 2.0 + 0.5 * 2.0)


def test_adam_first_step_is_lr_times_sign():
    p = P(1.0, 1.0, 1.0)
    opt = optim.Adam([p], lr=0.1)
    p.grad = tg.tensor([3.0, -0.5, 0.0], dtype=tg.float64)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.9, 1.1, 1.0], rtol=1e-6)
    st = opt.state[p]
    assert set(st) == {"step", "exp_avg", "exp_avg_sq"} and st["step"].item() == 1.0
    assert st["step"].dtype == tg.float32 and st["step"].shape == ()


def test_adamw_decay_is_decoupled():
    p, q = P(2.0), P(2.0)
    a = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    b = optim.Adam([q], lr=0.1, weight_decay=0.5)
    p.grad = tg.tensor([0.0], dtype=tg.float64)
    q.grad = tg.tensor([0.0], dtype=tg.float64)
    a.step()
    b.step()
    assert p.item() == pytest.approx(2.0 * (1 - 0.05))    # zero gradient: pure shrinkage
    assert q.item() == pytest.approx(2.0 - 0.1)           # L2 term goes through Adam's normalisation
    assert a.defaults["weight_decay"] == 1e-2 or True
    assert optim.AdamW([P(1.0)]).defaults["weight_decay"] == 1e-2
    assert optim.AdamW([P(1.0)]).defaults["decoupled_weight_decay"] is True


def test_rmsprop_and_adagrad_by_hand():
    p = P(1.0)
    opt = optim.RMSprop([p], lr=0.01, alpha=0.9, eps=0.0)
    p.grad = tg.tensor([2.0], dtype=tg.float64)
    opt.step()
    v = 0.1 * 4.0
    assert p.item() == pytest.approx(1.0 - 0.01 * 2.0 / math.sqrt(v), rel=1e-12)
    assert set(opt.state[p]) == {"step", "square_avg"}

    q = P(1.0)
    opt = optim.Adagrad([q], lr=0.5, lr_decay=1.0, initial_accumulator_value=1.0, eps=0.0)
    assert set(opt.state[q]) == {"step", "sum"} and opt.state[q]["sum"].item() == 1.0  # eager state
    for step in (1, 2):
        q.grad = tg.tensor([3.0], dtype=tg.float64)
        before, s = q.item(), opt.state[q]["sum"].item() + 9.0
        opt.step()
        clr = 0.5 / (1 + (step - 1) * 1.0)
        assert q.item() == pytest.approx(before - clr * 3.0 / math.sqrt(s), rel=1e-12)


# =========================================================================== invariants
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_is_in_place_and_outside_the_graph(name):
    rng = np.random.default_rng(0)
    p = nn.Parameter(tg.tensor(rng.standard_normal((3, 2))))
    storage, v0 = p._data, p._version
    opt = getattr(optim, name)([p], **OPTIMIZERS[name])
    loss = (p * p).sum()
    loss.backward()
    assert tg.is_grad_enabled()
    opt.step()
    assert tg.is_grad_enabled()
    assert p._data is storage and p._version > v0
    assert p.grad_fn is None and p.requires_grad and p.is_leaf
    for v in opt.state[p].values():
        assert isinstance(v, tg.Tensor) and not v.requires_grad and v.grad_fn is None
    # the old graph saved p: backward through it after the step must fail like PyTorch's
    loss2 = (p * p).sum()
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss2.backward()


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("dt", [tg.float32, tg.float64])
def test_state_keeps_param_dtype(name, dt):
    p = nn.Parameter(tg.ones(4, dtype=dt))
    opt = getattr(optim, name)([p], **OPTIMIZERS[name])
    p.grad = tg.ones(4, dtype=dt)
    opt.step()
    assert p.dtype == dt
    for k, v in opt.state[p].items():
        if k != "step":
            assert v.dtype == dt, k


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_grad_none_params_are_skipped(name):
    a, b = P(1.0, 2.0), P(3.0)
    opt = getattr(optim, name)([a, b], **OPTIMIZERS[name])
    a.grad = tg.tensor([0.5, 0.5], dtype=tg.float64)
    opt.step()
    assert b.tolist() == [3.0]
    if name == "Adagrad":
        assert opt.state[b]["step"].item() == 0.0
    else:
        assert b not in opt.state
    assert a.tolist() != [1.0, 2.0]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip_gives_identical_steps(name):
    rng = np.random.default_rng(1)
    init = [rng.standard_normal((2, 3)), rng.standard_normal(4)]
    gs = [[rng.standard_normal(a.shape) for a in init] for _ in range(6)]
    a = [nn.Parameter(tg.tensor(x.copy())) for x in init]
    opt = getattr(optim, name)(a, **OPTIMIZERS[name])
    for g in gs[:3]:
        for p, gi in zip(a, g, strict=True):
            p.grad = tg.tensor(gi)
        opt.step()
    sd = opt.state_dict()
    assert list(sd) == ["state", "param_groups"] and sorted(sd["state"]) == [0, 1]
    assert sd["param_groups"][0]["params"] == [0, 1]
    saved = pickle.loads(pickle.dumps(sd))            # a real checkpoint round trip
    b = [nn.Parameter(tg.tensor(p.detach().numpy().copy())) for p in a]
    opt2 = getattr(optim, name)(b, lr=123.0)           # hyper-parameters come from the dict
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == OPTIMIZERS[name]["lr"]
    assert opt2.param_groups[0]["params"][0] is b[0]
    for g in gs[3:]:
        for p, q, gi in zip(a, b, g, strict=True):
            p.grad, q.grad = tg.tensor(gi), tg.tensor(gi)
        opt.step()
        opt2.step()
        for p, q in zip(a, b, strict=True):
            np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_load_state_dict_errors_and_dtype_cast():
    a = P(1.0, 2.0)
    opt = optim.Adam([a])
    a.grad = tg.ones(2, dtype=tg.float64)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="^loaded state dict has a different number of parameter groups$"):
        optim.Adam([{"params": [P(1.0)]}, {"params": [P(2.0)]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.Adam([P(1.0), P(2.0)]).load_state_dict(sd)
    f = nn.Parameter(tg.ones(2))
    opt32 = optim.Adam([f])
    opt32.load_state_dict(sd)
    assert opt32.state[f]["exp_avg"].dtype == tg.float32     # cast to the param's dtype
    assert opt32.state[f]["step"].dtype == tg.float32         # step keeps its own dtype


def test_zero_grad():
    p = P(1.0, 2.0)
    opt = optim.SGD([p], lr=0.1)
    p.grad = tg.ones(2, dtype=tg.float64)
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and p.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None
    opt.zero_grad()  # no grads: a no-op


def test_closure_runs_with_grad_enabled_and_returns_loss():
    p = P(3.0)
    opt = optim.SGD([p], lr=0.25)
    calls = []

    def closure():
        calls.append(tg.is_grad_enabled())
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with tg.no_grad():
        loss = opt.step(closure)
    assert calls == [True] and loss.item() == 9.0
    assert p.item() == 3.0 - 0.25 * 6.0
    assert opt.step() is None


def test_step_hooks_and_removal():
    p = P(1.0)
    opt = optim.SGD([p], lr=0.1)
    p.grad = tg.ones(1, dtype=tg.float64)
    log = []
    h1 = opt.register_step_pre_hook(lambda o, args, kw: log.append(("pre", o is opt)))
    h2 = opt.register_step_post_hook(lambda o, args, kw: log.append(("post", p.item())))
    hg = optim.register_optimizer_step_pre_hook(lambda o, args, kw: log.append("global"))
    opt.step()
    assert log == ["global", ("pre", True), ("post", pytest.approx(0.9))]
    h1.remove()
    h2.remove()
    hg.remove()
    opt.step()
    assert len(log) == 3


def test_state_dict_hooks():
    opt = optim.SGD([P(1.0)], lr=0.1)
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    assert opt.state_dict()["extra"] == 1
    seen = []
    opt.register_load_state_dict_pre_hook(lambda o, sd: seen.append("pre"))
    opt.register_load_state_dict_post_hook(lambda o: seen.append("post"))
    sd = opt.state_dict()
    sd.pop("extra")
    opt.load_state_dict(sd)
    assert seen == ["pre", "post"]


def test_repr_deepcopy_and_pickle():
    p = P(1.0)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    assert repr(opt).startswith("SGD (\nParameter Group 0\n    dampening: 0\n")
    p.grad = tg.ones(1, dtype=tg.float64)
    opt.step()
    opt2 = copy.deepcopy(opt)
    assert opt2.state[opt2.param_groups[0]["params"][0]]["momentum_buffer"].tolist() == [1.0]
    opt3 = pickle.loads(pickle.dumps(opt))
    assert opt3.param_groups[0]["lr"] == 0.1


def test_unsupported_flags():
    with pytest.raises(NotImplementedError, match="differentiable"):
        optim.SGD([P(1.0)], lr=0.1, differentiable=True)
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together."):
        optim.Adam([P(1.0)], fused=True, foreach=True)
    # foreach/fused=True are accepted and run the same single-tensor rule
    p = P(1.0)
    opt = optim.Adam([p], foreach=True)
    p.grad = tg.ones(1, dtype=tg.float64)
    opt.step()


def test_tensor_lr_is_read_out():
    p = P(1.0)
    opt = optim.SGD([p], lr=tg.tensor(0.5))
    p.grad = tg.ones(1, dtype=tg.float64)
    opt.step()
    assert p.item() == 0.5
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        optim.SGD([p], lr=tg.tensor([0.1, 0.2]))


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)),
                                     ("RMSprop", dict(lr=0.01)), ("Adagrad", dict(lr=0.5)),
                                     ("AdamW", dict(lr=0.1))])
def test_training_converges(name, kw):
    rng = np.random.default_rng(2)
    X = tg.tensor(rng.standard_normal((64, 3)))
    w_true = tg.tensor([[1.5], [-2.0], [0.5]], dtype=tg.float64)
    y = X @ w_true
    w = nn.Parameter(tg.zeros(3, 1, dtype=tg.float64))
    opt = getattr(optim, name)([w], **kw)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss = ((X @ w - y) ** 2).mean()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.05 * first


# =========================================================================== schedulers
def _sgd(lr=1.0, **kw):
    return optim.SGD([P(1.0)], lr=lr, **kw)


def _run(opt, sched, n):
    out = []
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


def test_step_and_multistep_lr():
    opt = _sgd()
    s = S.StepLR(opt, step_size=2, gamma=0.5)
    assert s.get_last_lr() == [1.0] and opt.param_groups[0]["initial_lr"] == 1.0
    assert _run(opt, s, 6) == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    opt = _sgd()
    s = S.MultiStepLR(opt, milestones=[2, 4, 4], gamma=0.1)
    assert _run(opt, s, 5) == pytest.approx([1.0, 0.1, 0.1, 0.001, 0.001])


def test_exponential_cosine_lambda_lr():
    opt = _sgd()
    assert _run(opt, S.ExponentialLR(opt, 0.5), 3) == [0.5, 0.25, 0.125]
    opt = _sgd()
    lrs = _run(opt, S.CosineAnnealingLR(opt, T_max=4, eta_min=0.1), 8)
    closed = [0.1 + 0.9 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(1, 9)]
    np.testing.assert_allclose(lrs, closed, atol=1e-12)
    opt = _sgd(lr=2.0)
    assert _run(opt, S.LambdaLR(opt, lambda e: 1 / (e + 1)), 3) == [1.0, 2 / 3, 0.5]
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
        S.LambdaLR(_sgd(), [lambda e: 1, lambda e: 2])


def test_onecycle_lr_shape_and_errors():
    opt = _sgd(momentum=0.9)
    s = S.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    g = opt.param_groups[0]
    assert g["lr"] == pytest.approx(1.0 / 25) and g["momentum"] == 0.95
    lrs = _run(opt, s, 9)
    assert max(lrs) == pytest.approx(1.0, rel=0.05) and lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert g["momentum"] == pytest.approx(0.95)
    opt.step()
    s.step()
    with pytest.raises(ValueError, match="Tried to step 11 times. The specified number of total steps is 10"):
        s.step()
    with pytest.raises(ValueError, match="You must define either total_steps OR"):
        S.OneCycleLR(_sgd(), max_lr=1.0)
    with pytest.raises(ValueError, match="Expected positive integer total_steps, but got 0"):
        S.OneCycleLR(_sgd(), max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match="Expected float between 0 and 1 pct_start, but got 2"):
        S.OneCycleLR(_sgd(), max_lr=1.0, total_steps=5, pct_start=2)
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear'"):
        S.OneCycleLR(_sgd(), max_lr=1.0, total_steps=5, anneal_strategy="exp")
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        S.OneCycleLR(optim.Adagrad([P(1.0)]), max_lr=1.0, total_steps=5)
    opt = optim.Adam([P(1.0)])
    S.OneCycleLR(opt, max_lr=0.1, epochs=2, steps_per_epoch=3)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)


def test_reduce_lr_on_plateau():
    opt = _sgd()
    s = S.ReduceLROnPlateau(opt, patience=1, factor=0.5, cooldown=1, min_lr=0.2)
    seq = []
    for m in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        s.step(m)
        seq.append(opt.param_groups[0]["lr"])
    assert seq == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]
    assert s.get_last_lr() == [0.2]
    with pytest.raises(ValueError, match="^Factor should be < 1.0.$"):
        S.ReduceLROnPlateau(_sgd(), factor=1.0)
    with pytest.raises(ValueError, match="^mode foo is unknown!$"):
        S.ReduceLROnPlateau(_sgd(), mode="foo")
    with pytest.raises(ValueError, match="^threshold mode bar is unknown!$"):
        S.ReduceLROnPlateau(_sgd(), threshold_mode="bar")
    with pytest.raises(ValueError, match="expected 1 min_lrs, got 2"):
        S.ReduceLROnPlateau(_sgd(), min_lr=[0.1, 0.2])
    sd = s.state_dict()
    s2 = S.ReduceLROnPlateau(_sgd())
    s2.load_state_dict(sd)
    assert (s2.best, s2.patience, s2.factor) == (1.0, 1, 0.5)


def test_scheduler_warnings_and_type_errors():
    with pytest.raises(TypeError, match="^int is not an Optimizer$"):
        S.StepLR(3, step_size=1)
    opt = _sgd()
    s = S.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before"):
        s.step()
    opt = _sgd()
    s = S.StepLR(opt, step_size=1)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        s.get_lr()


def test_scheduler_state_dict_round_trip():
    opt = _sgd()
    s = S.StepLR(opt, step_size=3, gamma=0.5)
    _run(opt, s, 4)
    sd = s.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4
    opt2 = _sgd()
    opt2.load_state_dict(opt.state_dict())
    s2 = S.StepLR(opt2, step_size=1)
    s2.load_state_dict(sd)
    assert _run(opt, s, 5) == _run(opt2, s2, 5)


def test_resume_requires_initial_lr():
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups\\[0\\]"):
        S.StepLR(_sgd(), step_size=2, last_epoch=3)


def test_tensor_lr_group_is_filled_in_place():
    lr = tg.tensor(1.0, dtype=tg.float64)
    opt = optim.SGD([P(1.0)], lr=lr)
    s = S.ExponentialLR(opt, gamma=0.5)
    opt.step()
    s.step()
    assert opt.param_groups[0]["lr"] is lr and lr.item() == 0.5
    assert s.get_last_lr()[0] is not lr


# =========================================================================== clipping
def test_clip_grad_norm_values():
    a, b = P(0.0, 0.0), P(0.0)
    a.grad = tg.tensor([3.0, 0.0], dtype=tg.float64)
    b.grad = tg.tensor([4.0], dtype=tg.float64)
    total = clip_grad_norm_([a, b], max_norm=1.0)
    assert isinstance(total, tg.Tensor) and total.shape == () and total.item() == 5.0
    np.testing.assert_allclose(a.grad.numpy(), [3 / (5 + 1e-6), 0.0])
    np.testing.assert_allclose(b.grad.numpy(), [4 / (5 + 1e-6)])
    a.grad = tg.tensor([3.0, -1.0], dtype=tg.float64)
    assert clip_grad_norm_([a], 10.0, norm_type=1).item() == 4.0
    assert a.grad.tolist() == [3.0, -1.0]                      # coefficient clamped to 1
    assert clip_grad_norm_([a], 10.0, norm_type=math.inf).item() == 3.0
    assert clip_grad_norm_([a], 10.0, norm_type="inf").item() == 3.0


def test_clip_grad_norm_edge_cases():
    p = P(1.0)
    t = clip_grad_norm_([p], 1.0)
    assert t.item() == 0.0 and t.dtype == tg.float32
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((x for x in []), 1.0)
    p.grad = tg.tensor([math.nan], dtype=tg.float64)
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    p.grad = tg.tensor([1.0], dtype=tg.float64)
    with pytest.raises(RuntimeError, match="foreach=True was passed"):
        clip_grad_norm_(p, 1.0, foreach=True)
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated"):
        clip_grad_norm(p, 1.0)


def test_clip_grad_value_and_vector_conversion():
    a = P(0.0, 0.0, 0.0)
    a.grad = tg.tensor([-3.0, 0.5, 2.0], dtype=tg.float64)
    g = a.grad
    assert clip_grad_value_(a, 1.0) is None
    assert a.grad is g and g.tolist() == [-1.0, 0.5, 1.0]

    ps = [nn.Parameter(tg.tensor(np.arange(6.0).reshape(2, 3))), P(7.0, 8.0)]
    v = parameters_to_vector(ps)
    assert v.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0] and v.requires_grad
    vector_to_parameters(v.detach() * 2, ps)
    assert ps[0].tolist() == [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]] and ps[1].tolist() == [14.0, 16.0]
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        vector_to_parameters([1.0], ps)


# =========================================================================== custom optimizers
class _MomentumSGD(optim.Optimizer):
    """A user-written optimizer in PyTorch's style: public in-place ops under no_grad."""

    def __init__(self, params, lr=0.1, momentum=0.9):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @tg.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with tg.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if "buf" not in st:
                    st["buf"] = tg.zeros_like(p)
                st["buf"].mul_(group["momentum"]).add_(p.grad)
                p.add_(st["buf"], alpha=-group["lr"])
        return loss


def test_custom_optimizer_subclass_with_module_and_scheduler():
    tg.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = _MomentumSGD(model.parameters(), lr=0.05)
    sched = S.StepLR(opt, step_size=50, gamma=0.5)
    hook_calls = []
    opt.register_step_post_hook(lambda o, a, k: hook_calls.append(1))
    X = tg.randn(32, 3)
    y = X @ tg.tensor([[1.0], [-1.0], [2.0]]) + 0.5
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = ((model(X) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-3 * losses[0]
    assert len(hook_calls) == 100 and opt.param_groups[0]["lr"] == 0.05 * 0.25
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1] and set(sd["state"][0]) == {"buf"}
    np.testing.assert_allclose(model.bias.detach().numpy(), [0.5], atol=1e-2)

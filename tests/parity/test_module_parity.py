"""``nn.Module`` API parity with torch: names and order of parameters, buffers and modules,
state_dict keys and load_state_dict errors, hooks (forward, forward pre, full backward)
with the same values torch passes, frozen parameters, and the fine-tuning recipe."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402
import tapegrad.nn as tnn  # noqa: E402


def _np(t):
    return t.detach().numpy()


def make_net(nn):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(4)
            self.register_buffer("scale", (torch if nn is torch.nn else tg).ones(1))
            self.register_buffer("cache", (torch if nn is torch.nn else tg).zeros(2), persistent=False)

        def forward(self, x):
            return self.bn(self.conv(x)).relu() * self.scale

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(Block(), nn.MaxPool2d(2))
            self.head = nn.ModuleDict({"drop": nn.Dropout(0.0), "fc": nn.Linear(4 * 3 * 2, 5)})
            self.extra = nn.ModuleList([nn.Identity(), nn.Linear(5, 5)])
            self.temperature = nn.Parameter((torch if nn is torch.nn else tg).ones(1))

        def forward(self, x):
            x = self.features(x).flatten(1)
            x = self.head["fc"](self.head["drop"](x))
            return self.extra[1](self.extra[0](x)) / self.temperature

    return Net()


def copy_into_torch(a, b):
    b.load_state_dict(OrderedDict((k, torch.from_numpy(np.array(_np(v)))) for k, v in a.state_dict().items()))


def test_names_and_order():
    a, b = make_net(tnn), make_net(torch.nn)
    assert [(n, tuple(p.shape)) for n, p in a.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in b.named_parameters()]
    assert [n for n, _ in a.named_buffers()] == [n for n, _ in b.named_buffers()]
    assert list(a.state_dict()) == list(b.state_dict())
    assert [n for n, _ in a.named_modules()] == [n for n, _ in b.named_modules()]
    assert [n for n, _ in a.named_children()] == [n for n, _ in b.named_children()]
    assert [type(m).__name__ for m in a.modules()] == [type(m).__name__ for m in b.modules()]
    assert [type(m).__name__ for m in a.children()] == [type(m).__name__ for m in b.children()]
    assert [n for n, _ in a.named_parameters(prefix="model")] == [
        n for n, _ in b.named_parameters(prefix="model")
    ]
    assert [n for n, _ in a.named_parameters(recurse=False)] == [
        n for n, _ in b.named_parameters(recurse=False)
    ]
    assert [n for n, _ in a.named_modules(prefix="m")] == [n for n, _ in b.named_modules(prefix="m")]
    assert repr(a).replace("tapegrad", "torch") == repr(b)


def test_forward_and_gradients_match(rng):
    a, b = make_net(tnn).double(), make_net(torch.nn).double()
    copy_into_torch(a, b)
    x = rng.standard_normal((2, 3, 6, 4))
    ya, yb = a(tg.tensor(x)), b(torch.tensor(x))
    np.testing.assert_allclose(_np(ya), _np(yb), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(tuple(yb.shape))
    ya.backward(tg.tensor(g))
    yb.backward(torch.tensor(g))
    pb = dict(b.named_parameters())
    for n, p in a.named_parameters():
        np.testing.assert_allclose(_np(p.grad), _np(pb[n].grad), rtol=1e-9, atol=1e-12, err_msg=n)
    for (n, ba), (_, bb) in zip(a.named_buffers(), b.named_buffers(), strict=True):
        np.testing.assert_allclose(_np(ba), _np(bb), rtol=1e-10, atol=1e-12, err_msg=n)


def test_shared_parameters_dedup():
    for nn in (tnn, torch.nn):
        lin = nn.Linear(2, 2)
        s = nn.Sequential(lin, nn.ReLU(), lin)
        assert [n for n, _ in s.named_parameters()] == ["0.weight", "0.bias"]
        assert len(list(s.named_parameters(remove_duplicate=False))) == 4
        assert [n for n, _ in s.named_modules()] == ["", "0", "1"]
        assert list(s.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


# =========================================================================== load_state_dict errors
def _err(fn):
    with pytest.raises(Exception) as e:
        fn()
    return type(e.value), str(e.value)


def _named(nn):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)
            self.bn = nn.BatchNorm1d(2)

        def forward(self, x):
            return self.bn(self.fc(x))

    return Net()


def _sd(lib, model):
    conv = (
        (lambda v: torch.from_numpy(np.array(_np(v))))
        if lib is torch
        else (lambda v: tg.tensor(np.array(_np(v))))
    )
    return OrderedDict((k, conv(v)) for k, v in model.state_dict().items())


@pytest.mark.parametrize("edit", ["missing", "unexpected", "both", "size", "nested-unexpected",
                                  "param-child-key"])
def test_load_state_dict_errors_match(edit):
    msgs = []
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        m = _named(nn)
        sd = _sd(lib, m)
        if edit in ("missing", "both"):
            del sd["fc.bias"]
            del sd["bn.running_var"]
        if edit in ("unexpected", "both"):
            sd["fc.extra"] = lib.zeros(1)
            sd["other.weight"] = lib.zeros(1)
        if edit == "size":
            sd["fc.weight"] = lib.zeros(3, 3)
            sd["bn.running_mean"] = lib.zeros(5)
        if edit == "nested-unexpected":
            sd["bn.weight.foo"] = lib.zeros(1)
        if edit == "param-child-key":
            sd["fc.weight.x"] = lib.zeros(1)
        msgs.append(_err(lambda m=m, sd=sd: m.load_state_dict(sd)))
    assert msgs[0][0] is RuntimeError
    assert msgs[0][1] == msgs[1][1]


def test_load_state_dict_non_strict_return():
    res = []
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        m = _named(nn)
        sd = _sd(lib, m)
        del sd["fc.bias"]
        sd["junk"] = lib.zeros(1)
        r = m.load_state_dict(sd, strict=False)
        res.append((list(r.missing_keys), list(r.unexpected_keys), tuple(r)))
    assert res[0] == res[1]
    assert res[0][0] == ["fc.bias"] and res[0][1] == ["junk"]


def test_load_state_dict_all_matched_repr():
    a = _named(tnn)
    b = _named(torch.nn)
    ra = a.load_state_dict(_sd(tg, a))
    rb = b.load_state_dict(_sd(torch, b))
    assert repr(ra) == repr(rb) == "<All keys matched successfully>"
    assert ra.missing_keys == [] and ra.unexpected_keys == []


def test_load_state_dict_size_mismatch_non_strict_still_raises():
    msgs = []
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        m = nn.Linear(3, 2)
        msgs.append(
            _err(
                lambda m=m, lib=lib: m.load_state_dict(
                    {"weight": lib.zeros(2, 4), "bias": lib.zeros(2)}, strict=False
                )
            )
        )
    assert msgs[0] == (RuntimeError, msgs[1][1])


def test_batchnorm_old_checkpoint_without_num_batches_tracked():
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        m = nn.BatchNorm1d(2)
        sd = _sd(lib, m)
        del sd["num_batches_tracked"]
        r = m.load_state_dict(sd, strict=False)
        assert list(r.missing_keys) == []


# =========================================================================== hooks
def test_forward_hooks_match(rng):
    seen = {}
    outs = []
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        m = nn.Linear(3, 2).double()
        if lib is tg:
            w = _np(m.weight).copy()
            bias = _np(m.bias).copy()
        else:
            with torch.no_grad():
                m.weight.copy_(torch.tensor(w))
                m.bias.copy_(torch.tensor(bias))

        def pre(mod, args):
            return (args[0] * 2,)

        def post(mod, args, out, lib=lib):
            seen[lib.__name__] = _np(args[0])
            return out + 1

        h1 = m.register_forward_pre_hook(pre)
        h2 = m.register_forward_hook(post)
        if lib is tg:  # torch gets the same input
            x = rng.standard_normal((4, 3))
        y1 = _np(m(lib.tensor(x)))
        h1.remove()
        y2 = _np(m(lib.tensor(x)))
        h2.remove()
        y3 = _np(m(lib.tensor(x)))
        outs.append((y1, y2, y3))
    for a, b in zip(*outs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(seen["tapegrad"], seen["torch"])


@pytest.mark.parametrize("modify", [False, True])
def test_full_backward_hook_values(modify, rng):
    records = []
    grads = []
    x = rng.standard_normal((4, 3))
    g = rng.standard_normal((4, 2))
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        m = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
        if lib is tg:
            sd = OrderedDict((k, np.array(_np(v))) for k, v in m.state_dict().items())
        else:
            m.load_state_dict(OrderedDict((k, torch.from_numpy(v)) for k, v in sd.items()))
        rec = []

        def hook(mod, grad_input, grad_output, rec=rec):
            rec.append(([None if t is None else _np(t).copy() for t in grad_input],
                        [None if t is None else _np(t).copy() for t in grad_output]))
            if modify:
                return tuple(None if t is None else t * 3 for t in grad_input)

        m[0].register_full_backward_hook(hook)
        m[2].register_full_backward_hook(hook)
        xi = lib.tensor(x, requires_grad=True)
        m(xi).backward(lib.tensor(g))
        records.append(rec)
        grads.append((_np(xi.grad), _np(m[0].weight.grad)))
    assert len(records[0]) == len(records[1]) == 2
    for (gi_a, go_a), (gi_b, go_b) in zip(*records, strict=True):
        assert len(gi_a) == len(gi_b) and len(go_a) == len(go_b)
        for a, b in zip(gi_a + go_a, gi_b + go_b, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_full_backward_hook_no_input_grad(rng):
    recs = []
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        m = nn.Linear(3, 2)
        rec = []
        m.register_full_backward_hook(lambda mod, gi, go, rec=rec: rec.append((gi, len(go))))
        with pytest.warns(UserWarning) if lib is torch else _Null():
            m(lib.ones(4, 3)).sum().backward()
        recs.append([(tuple(x is None for x in gi), n) for gi, n in rec])
        assert m.weight.grad is not None
    assert recs[0] == recs[1] == [((True,), 1)]


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


# =========================================================================== frozen / fine-tuning
def test_frozen_parameters_receive_no_grad(rng):
    res = []
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        m[0].weight.requires_grad_(False)
        m(lib.ones(2, 3)).sum().backward()
        res.append([(n, p.grad is None) for n, p in m.named_parameters()])
    assert res[0] == res[1] == [("0.weight", True), ("0.bias", False), ("2.weight", False), ("2.bias", False)]


def test_finetune_recipe_matches_torch(rng):
    """Freeze everything, replace the head, SGD(momentum) for a few steps: same numbers as torch."""
    x = rng.standard_normal((6, 3, 5, 5))
    y = np.array([0, 1, 2, 0, 1, 2])
    params, losses = [], []
    for lib, nn in ((tg, tnn), (torch, torch.nn)):
        m = nn.Sequential(OrderedDict([("conv", nn.Conv2d(3, 4, 3)), ("bn", nn.BatchNorm2d(4)),
                                       ("relu", nn.ReLU()), ("pool", nn.AdaptiveAvgPool2d(1)),
                                       ("flat", nn.Flatten()), ("fc", nn.Linear(4, 7))])).double()
        for p in m.parameters():
            p.requires_grad = False
        m.fc = nn.Linear(4, 3).double()
        if lib is tg:
            sd = OrderedDict((k, np.array(_np(v))) for k, v in m.state_dict().items())
        else:
            m.load_state_dict(OrderedDict((k, torch.from_numpy(v)) for k, v in sd.items()))
        opt = lib.optim.SGD(m.parameters(), lr=1e-2, momentum=0.9)
        ls = []
        for _ in range(3):
            opt.zero_grad()
            loss = nn.CrossEntropyLoss()(m(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
            ls.append(float(_np(loss)))
        losses.append(ls)
        params.append({k: _np(v).copy() for k, v in m.state_dict().items()})
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-10)
    for k in params[1]:
        np.testing.assert_allclose(params[0][k], params[1][k], rtol=1e-10, atol=1e-12, err_msg=k)

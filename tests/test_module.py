"""``tapegrad.nn.Module`` API without torch: registration, iteration, modes, grads, dtype
conversion, state_dict / load_state_dict (PyTorch's key names and error texts), hooks,
frozen parameters and the fine-tuning recipe."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2, 3)
        self.register_buffer("step", tg.zeros(1))
        self.register_buffer("tmp", tg.zeros(2), persistent=False)

    def forward(self, x):
        x = self.bn(self.conv(x)).relu()
        return self.fc(x.mean(dim=(2, 3)))


# =========================================================================== registration
def test_registration_by_assignment():
    m = Net()
    assert [n for n, _ in m.named_parameters()] == [
        "conv.weight", "conv.bias", "bn.weight", "bn.bias", "fc.weight", "fc.bias"]
    assert [n for n, _ in m.named_buffers()] == [
        "step", "tmp", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert list(m.state_dict()) == [
        "step", "conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
        "bn.num_batches_tracked", "fc.weight", "fc.bias"]
    assert [n for n, _ in m.named_children()] == ["conv", "bn", "fc"]
    assert [n for n, _ in m.named_modules()] == ["", "conv", "bn", "fc"]
    assert list(m.children()) == [m.conv, m.bn, m.fc]
    assert list(m.modules())[0] is m
    assert len(list(m.parameters())) == 6 and len(list(m.buffers())) == 5
    assert [n for n, _ in m.named_parameters(recurse=False)] == []
    assert [n for n, _ in m.named_buffers(recurse=False)] == ["step", "tmp"]


def test_replacing_submodule_reregisters():
    m = Net()
    old = m.fc
    m.fc = nn.Linear(2, 10)
    assert m.fc is not old
    names = [n for n, _ in m.named_parameters()]
    assert names[-2:] == ["fc.weight", "fc.bias"] and len(names) == 6
    assert all(p is not old.weight for p in m.parameters())
    assert tuple(m.state_dict()["fc.weight"].shape) == (10, 2)
    # order of the children is kept on replacement (also for the first child)
    assert [n for n, _ in m.named_children()] == ["conv", "bn", "fc"]
    m.conv = nn.Conv2d(1, 2, 5)
    assert [n for n, _ in m.named_children()] == ["conv", "bn", "fc"]
    assert [n for n, _ in m.named_parameters()][:2] == ["conv.weight", "conv.bias"]
    assert tuple(m.conv.weight.shape) == (2, 1, 5, 5)


def test_assign_none_and_delete():
    m = Net()
    m.fc = None
    assert m.fc is None
    assert "fc" in m._modules and [n for n, _ in m.named_children()] == ["conv", "bn"]
    assert not any(n.startswith("fc.") for n in m.state_dict())
    del m.fc
    assert "fc" not in m._modules
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'fc'"):
        m.fc
    m.conv.bias = None
    assert [n for n, _ in m.conv.named_parameters()] == ["weight"]
    del m.step
    assert "step" not in m.state_dict()


def test_assignment_type_errors():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign .* as parameter 'weight'"):
        m.weight = tg.zeros(2, 2)
    s = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError):
        s.register_buffer("b", np.zeros(2))
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.register_buffer("weight", tg.zeros(1))
    with pytest.raises(KeyError):
        m.register_parameter("a.b", nn.Parameter(tg.zeros(1)))


def test_plain_attributes_and_parameter_replacement():
    m = nn.Linear(2, 2)
    m.note = "hello"
    assert m.note == "hello" and "note" not in m._parameters
    new = nn.Parameter(tg.ones(2, 2))
    m.weight = new
    assert m.weight is new and list(m.parameters())[0] is new
    # a parameter replaces a plain attribute of the same name
    m.extra = 3
    m.extra = nn.Parameter(tg.zeros(1))
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias", "extra"]
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias", "extra"]
    # a module cannot replace a parameter (as in torch)
    with pytest.raises(
        TypeError, match="cannot assign 'tapegrad.nn.modules.linear.Identity' as parameter 'extra'"
    ):
        m.extra = nn.Identity()
    # a parameter replaced by another keeps its position
    m.bias = nn.Parameter(tg.zeros(2))
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias", "extra"]


def test_assign_before_init_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
            super().__init__()

    with pytest.raises(AttributeError, match="cannot assign module before Module.__init__\\(\\) call"):
        Bad()


def test_parameter_is_leaf_tensor():
    p = nn.Parameter(tg.zeros(3))
    assert p.requires_grad and p.is_leaf and isinstance(p, tg.Tensor)
    q = nn.Parameter(tg.zeros(3), requires_grad=False)
    assert not q.requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")


# =========================================================================== modes, grads
def test_train_eval_recursive():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m[1].train(False)
    assert m.training and not m[1].training and not m[1][0].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("yes")


def test_requires_grad_():
    m = Net()
    assert m.requires_grad_(False) is m
    assert not any(p.requires_grad for p in m.parameters())
    m.fc.requires_grad_()
    assert [n for n, p in m.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]


def test_zero_grad():
    m = nn.Linear(3, 2)
    m(tg.ones(4, 3)).sum().backward()
    g = m.weight.grad
    assert g is not None
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is g
    np.testing.assert_array_equal(m.weight.grad.numpy(), 0.0)
    m(tg.ones(4, 3)).sum().backward()
    np.testing.assert_allclose(m.bias.grad.numpy(), 4.0)
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_gradients_accumulate():
    m = nn.Linear(3, 2)
    m(tg.ones(1, 3)).sum().backward()
    m(tg.ones(1, 3)).sum().backward()
    np.testing.assert_allclose(m.bias.grad.numpy(), 2.0)


def test_apply_order_and_return():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]

    def init(mod):
        if isinstance(mod, nn.Linear):
            nn.init.constant_(mod.weight, 0.5)
            nn.init.zeros_(mod.bias)

    m.apply(init)
    np.testing.assert_array_equal(m[1][1].weight.detach().numpy(), 0.5)
    np.testing.assert_array_equal(m[0].bias.detach().numpy(), 0.0)


def test_to_dtype_keeps_parameter_objects():
    m = Net()
    m(tg.randn(2, 1, 5, 5)).sum().backward()
    params = list(m.parameters())
    bufs = dict(m.named_buffers())
    assert m.to(tg.float64) is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    assert all(isinstance(p, nn.Parameter) and p.dtype == tg.float64 for p in m.parameters())
    assert all(p.grad.dtype == tg.float64 for p in m.parameters())
    assert m.bn.running_mean.dtype == tg.float64
    assert m.bn.num_batches_tracked.dtype == tg.int64
    assert int(m.bn.num_batches_tracked.item()) == 1
    out = m(tg.randn(2, 1, 5, 5, dtype=tg.float64))
    assert out.dtype == tg.float64
    out.sum().backward()
    m.float()
    assert all(p.dtype == tg.float32 and p.requires_grad for p in m.parameters())
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    m.double()
    assert m.fc.weight.dtype == tg.float64
    m.to(dtype=tg.float32)
    assert m.fc.weight.dtype == tg.float32
    assert m.to("cpu") is m
    assert set(bufs) == {n for n, _ in m.named_buffers()}
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point"):
        m.to(tg.int64)


def test_to_dtype_optimizer_still_updates():
    """After to(float64) an optimizer built before still moves the same parameter objects."""
    m = nn.Linear(3, 1)
    opt = tg.optim.SGD(m.parameters(), lr=0.1)
    m.double()
    before = m.weight.detach().clone()
    m(tg.ones(2, 3, dtype=tg.float64)).sum().backward()
    opt.step()
    assert m.weight.dtype == tg.float64
    np.testing.assert_allclose(m.weight.detach().numpy(), before.numpy() - 0.1 * 2.0)


# =========================================================================== state dict
def test_state_dict_values_detached_and_shared():
    m = nn.Linear(2, 2)
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert not sd["weight"].requires_grad
    assert not isinstance(sd["weight"], nn.Parameter)
    with tg.no_grad():
        m.weight.fill_(3.0)
    np.testing.assert_array_equal(sd["weight"].numpy(), 3.0)  # shares storage, as in torch
    kv = m.state_dict(keep_vars=True)
    assert kv["weight"] is m.weight
    assert list(m.state_dict(prefix="model.")) == ["model.weight", "model.bias"]


def test_load_state_dict_roundtrip():
    a, b = Net(), Net()
    a.bn.running_mean.fill_(0.25)
    a.bn.num_batches_tracked.fill_(5)
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=k)
    assert int(b.bn.num_batches_tracked.item()) == 5
    # load copies (no aliasing), keeps Parameter objects
    w = b.fc.weight
    b.load_state_dict(a.state_dict())
    assert b.fc.weight is w
    with tg.no_grad():
        a.fc.weight.fill_(9.0)
    assert not np.all(b.fc.weight.detach().numpy() == 9.0)


def test_load_state_dict_strict_errors():
    m = Net()
    sd = m.state_dict()
    del sd["fc.bias"]
    del sd["bn.running_var"]
    sd["fc.extra"] = tg.zeros(1)
    sd["head.weight"] = tg.zeros(1)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    assert str(e.value) == (
        "Error(s) in loading state_dict for Net:\n"
        '\tMissing key(s) in state_dict: "bn.running_var", "fc.bias". \n'
        '\tUnexpected key(s) in state_dict: "head.weight", "fc.extra". ')


def test_load_state_dict_missing_only_message():
    m = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict({"0.weight": tg.zeros(2, 2)})
    assert str(e.value) == ('Error(s) in loading state_dict for Sequential:\n'
                            '\tMissing key(s) in state_dict: "0.bias". ')


def test_load_state_dict_non_strict():
    m = Net()
    sd = m.state_dict()
    del sd["fc.bias"]
    sd["junk"] = tg.zeros(1)
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["fc.bias"]
    assert res.unexpected_keys == ["junk"]
    missing, unexpected = res
    assert (missing, unexpected) == (["fc.bias"], ["junk"])


def test_load_state_dict_size_mismatch():
    m = nn.Linear(3, 2)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict({"weight": tg.zeros(2, 4), "bias": tg.zeros(2)})
    assert str(e.value) == (
        "Error(s) in loading state_dict for Linear:\n"
        "\tsize mismatch for weight: copying a param with shape torch.Size([2, 4]) from checkpoint, the "
        "shape in current model is torch.Size([2, 3]).")
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        m.load_state_dict({"weight": tg.zeros(2, 4)}, strict=False)


def test_load_state_dict_not_a_mapping():
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        nn.Linear(2, 2).load_state_dict([1, 2])


def test_load_state_dict_dtype_cast():
    m = nn.Linear(2, 2)
    m.load_state_dict({"weight": tg.ones(2, 2, dtype=tg.float64), "bias": tg.zeros(2, dtype=tg.float64)})
    assert m.weight.dtype == tg.float32
    np.testing.assert_array_equal(m.weight.detach().numpy(), 1.0)


# =========================================================================== hooks
def test_forward_pre_hook_replaces_args():
    m = nn.Linear(2, 2)
    calls = []

    def hook(mod, args):
        calls.append(mod)
        return (args[0] * 0,)

    h = m.register_forward_pre_hook(hook)
    out = m(tg.ones(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), m.bias.detach().numpy()[None])
    assert calls == [m]
    h.remove()
    out = m(tg.ones(1, 2))
    assert not np.allclose(out.detach().numpy(), m.bias.detach().numpy()[None])
    assert len(calls) == 1
    # a single non-tuple value is wrapped
    h = m.register_forward_pre_hook(lambda mod, args: args[0] * 0)
    np.testing.assert_allclose(m(tg.ones(1, 2)).detach().numpy(), m.bias.detach().numpy()[None])
    h.remove()


def test_forward_hook_replaces_output_and_order():
    m = nn.Identity()
    order = []
    m.register_forward_hook(lambda mod, a, out: order.append("a") or out + 1)
    h = m.register_forward_hook(lambda mod, a, out: order.append("b") or out * 10)
    m.register_forward_hook(lambda mod, a, out: order.append("c"), prepend=True)
    out = m(tg.ones(2))
    assert order == ["c", "a", "b"]
    np.testing.assert_array_equal(out.numpy(), 20.0)
    h.remove()
    np.testing.assert_array_equal(m(tg.ones(2)).numpy(), 2.0)
    h.remove()  # removing twice is harmless


def test_forward_hooks_with_kwargs():
    class M(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    m = M()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": 3.0}), with_kwargs=True)
    seen = {}
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.update(kwargs), with_kwargs=True)
    np.testing.assert_array_equal(m(tg.ones(2), scale=2.0).numpy(), 3.0)
    assert seen == {"scale": 3.0}


def test_hook_handle_context_manager():
    m = nn.Identity()
    with m.register_forward_hook(lambda mod, a, out: out * 2):
        np.testing.assert_array_equal(m(tg.ones(1)).numpy(), 2.0)
    np.testing.assert_array_equal(m(tg.ones(1)).numpy(), 1.0)


def test_full_backward_hook_grads():
    m = nn.Linear(3, 2, bias=False)
    with tg.no_grad():
        m.weight.copy_(tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    rec = []
    h = m.register_full_backward_hook(lambda mod, gi, go: rec.append((gi, go)))
    x = tg.ones(1, 3, requires_grad=True)
    m(x).backward(tg.tensor([[1.0, 10.0]]))
    (gi, go), = rec
    assert len(gi) == 1 and len(go) == 1
    np.testing.assert_allclose(go[0].numpy(), [[1.0, 10.0]])
    np.testing.assert_allclose(gi[0].numpy(), [[41.0, 52.0, 63.0]])
    np.testing.assert_allclose(x.grad.numpy(), [[41.0, 52.0, 63.0]])
    h.remove()
    h = m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0 + 1,))
    m.zero_grad()
    x = tg.ones(1, 3, requires_grad=True)
    m(x).backward(tg.tensor([[1.0, 10.0]]))
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 1.0, 1.0]])
    # the weight gradient is unaffected by grad_input replacement
    np.testing.assert_allclose(m.weight.grad.numpy()[1], [10.0, 10.0, 10.0])
    h.remove()


# =========================================================================== freezing / fine-tuning
def test_frozen_parameters_get_no_grad():
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    m[0].requires_grad_(False)
    m(tg.randn(5, 3)).sum().backward()
    assert m[0].weight.grad is None and m[0].bias.grad is None
    assert m[2].weight.grad is not None


def _finetune(model, x, y):
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(512, 10)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = tg.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    opt.zero_grad()
    loss = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    with_grad = [n for n, p in model.named_parameters() if p.grad is not None]
    assert with_grad == ["fc.weight", "fc.bias"]
    opt.step()
    moved = []
    for k, v in model.state_dict().items():
        if k in dict(model.named_parameters()) and not np.array_equal(v.numpy(), before[k].numpy()):
            moved.append(k)
    assert moved == ["fc.weight", "fc.bias"]
    return before


def test_finetune_recipe_small_model():
    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 512), nn.ReLU())
            self.fc = nn.Linear(512, 1000)

        def forward(self, x):
            return self.fc(self.body(x))

    tg.manual_seed(0)
    m = Small()
    _finetune(m, tg.randn(4, 3, 8, 8), tg.tensor([1, 2, 3, 9]))


def test_finetune_recipe_resnet18():
    from tapegrad.vision.models import resnet18

    tg.manual_seed(0)
    m = resnet18()
    before = _finetune(m, tg.randn(2, 3, 32, 32), tg.tensor([3, 7]))
    # BatchNorm running statistics still update in train mode (as in PyTorch)
    assert int(m.bn1.num_batches_tracked.item()) == 1
    assert not np.array_equal(m.bn1.running_mean.numpy(), before["bn1.running_mean"].numpy())

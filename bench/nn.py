"""nn/optim workloads: an MLP training step and ResNet-18 (full and frozen-backbone) steps.

tapegrad's ResNet-18 is ``tapegrad.vision.models.resnet18()``; torchvision is not a
dependency, so the torch side is :func:`torch_resnet18`, a compact copy of torchvision's
ResNet-18 (same modules, order, shapes, in-place ReLUs and initialisation).
"""
from __future__ import annotations

import importlib

import numpy as np

from ._harness import Impl, Workload, register


def _lib(name):
    return importlib.import_module(name)


def _nn(lib):
    return importlib.import_module(lib.__name__ + ".nn")


def _optim(lib):
    return importlib.import_module(lib.__name__ + ".optim")


def _batch(lib, shape, classes, seed=0):
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal(shape).astype(np.float32))
    y = lib.tensor(rng.integers(0, classes, shape[0]).astype(np.int64))
    return x, y


def train_step(state):
    """zero_grad + forward + cross-entropy + backward + SGD step: the same for every model."""
    model, opt, F, x, y = state
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()


# ---------------------------------------------------------------- mlp_step
def mlp_setup(lib):
    nn, optim = _nn(lib), _optim(lib)
    lib.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = _batch(lib, (128, 784), 10)
    return model, opt, nn.functional, x, y


register(Workload(
    "mlp_step", "MLP 784-512-256-10 (Linear+ReLU), batch 128, CE, SGD momentum: one train step",
    {lib: Impl(lambda lib=lib: mlp_setup(_lib(lib)), train_step) for lib in ("tapegrad", "torch")},
    target=0.9))


# ---------------------------------------------------------------- ResNet-18
def torch_resnet18(num_classes=1000):
    """torchvision.models.resnet18() rebuilt from torch.nn (torchvision is not installed)."""
    import torch.nn as nn

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            inplanes = 64
            for i, planes in enumerate((64, 128, 256, 512)):
                stride = 1 if i == 0 else 2
                down = None
                if stride != 1 or inplanes != planes:
                    down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                         nn.BatchNorm2d(planes))
                setattr(self, f"layer{i + 1}", nn.Sequential(
                    BasicBlock(inplanes, planes, stride, down), BasicBlock(planes, planes)))
                inplanes = planes
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet18()


def resnet18(lib):
    if lib.__name__ == "torch":
        return torch_resnet18()
    return importlib.import_module(lib.__name__ + ".vision.models").resnet18()


RESNET_BATCH = (8, 3, 64, 64)


def resnet18_setup(lib, frozen=False):
    nn, optim = _nn(lib), _optim(lib)
    lib.manual_seed(0)
    model = resnet18(lib)
    model.train()
    if frozen:
        for p in model.parameters():
            p.requires_grad = False
        model.fc = nn.Linear(512, 10)
        params = model.fc.parameters()
    else:
        params = model.parameters()
    opt = optim.SGD(params, lr=0.01, momentum=0.9)
    x, y = _batch(lib, RESNET_BATCH, 10 if frozen else 1000)
    return model, opt, nn.functional, x, y


register(Workload(
    "resnet18_step", "ResNet-18, batch 8x3x64x64, CE on 1000 classes, SGD momentum: one train step",
    {lib: Impl(lambda lib=lib: resnet18_setup(_lib(lib)), train_step) for lib in ("tapegrad", "torch")},
    target=1.0, max_rounds=15, max_seconds=40.0))

register(Workload(
    "resnet18_frozen", "ResNet-18 frozen backbone, new fc 512->10 trained alone: one train step",
    {lib: Impl(lambda lib=lib: resnet18_setup(_lib(lib), frozen=True), train_step)
     for lib in ("tapegrad", "torch")},
    target=1.0, max_rounds=15, max_seconds=30.0))


# ---------------------------------------------------------------- small CNN (the tutorials' MNIST net)
def small_cnn_setup(lib):
    nn, optim = _nn(lib), _optim(lib)
    lib.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = _batch(lib, (64, 1, 28, 28), 10)
    return model, opt, nn.functional, x, y


register(Workload(
    "small_cnn_step", "conv-pool-conv-pool-fc on 64x1x28x28 (a tutorial's MNIST net), CE, SGD momentum",
    {lib: Impl(lambda lib=lib: small_cnn_setup(_lib(lib)), train_step) for lib in ("tapegrad", "torch")},
    target=1.0))


# ---------------------------------------------------------------- dynamic control flow, many small ops
def dynamic_setup(lib):
    """A tiny recurrent policy whose number of steps depends on the data (Python control flow)."""
    nn, optim = _nn(lib), _optim(lib)
    lib.manual_seed(0)
    cell = nn.Linear(16 + 8, 16)
    head = nn.Linear(16, 4)
    opt = optim.Adam(list(cell.parameters()) + list(head.parameters()), lr=1e-3)
    rng = np.random.default_rng(0)
    xs = [lib.tensor(rng.standard_normal((1, 8)).astype(np.float32)) for _ in range(12)]
    return cell, head, opt, xs, lib


def dynamic_step(state):
    cell, head, opt, xs, lib = state
    opt.zero_grad()
    h = lib.zeros(1, 16)
    loss = 0
    for x in xs:
        h = lib.tanh(cell(lib.cat([h, x], dim=1)))
        if float(h.sum()) > 0:          # the branch taken depends on the values
            h = h * 0.9
        logits = head(h)
        loss = loss + (logits.log_softmax(-1)[0, 0] * -1)
    loss.backward()
    opt.step()


register(Workload(
    "dynamic_small_ops", "12-step recurrence with a data-dependent branch, 1x16 state: Adam step",
    {lib: Impl(lambda lib=lib: dynamic_setup(_lib(lib)), dynamic_step) for lib in ("tapegrad", "torch")},
    target=1.0))

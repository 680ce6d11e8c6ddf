"""ResNet-18/34/50/101/152 with torchvision's structure, parameter names and initialisation.

``resnet18(pretrained=True)`` (or ``weights="DEFAULT"``, a weights enum, or a file
path) loads torchvision's checkpoint file from ``$TORCH_HOME/hub/checkpoints/``
(default ``~/.cache/torch``), so weights torchvision already downloaded are
reused. Nothing is downloaded: a missing file raises an error naming where
to put it.
"""
from __future__ import annotations

import enum
import os

from ... import nn
from ...nn import init

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34", "resnet50", "resnet101",
           "resnet152", "ResNet18_Weights", "ResNet34_Weights", "ResNet50_Weights",
           "ResNet101_Weights", "ResNet152_Weights"]


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups,
                     bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """The torchvision ResNet: stem (7x7 conv, BN, ReLU, max-pool), four stages, avg-pool, fc."""

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1,
                 width_per_group=64, replace_stride_with_dilation=None, norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        self._norm_layer = norm_layer
        self.inplanes = 64
        self.dilation = 1
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError("replace_stride_with_dilation should be None or a 3-element tuple, got "
                             f"{replace_stride_with_dilation}")
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                init.constant_(m.weight, 1)
                init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                    init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock) and m.bn2.weight is not None:
                    init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       norm_layer(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                        previous_dilation, norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                dilation=self.dilation, norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        x = x.flatten(1)
        return self.fc(x)


# --------------------------------------------------------------------------- weights
_BASE_URL = "https://download.pytorch.org/models/"


class _Weights(enum.Enum):
    """A torchvision checkpoint: ``.url`` and ``.filename``; ``.path`` is where it is looked up."""

    @property
    def url(self):
        return _BASE_URL + self.value

    @property
    def filename(self):
        return self.value

    @property
    def path(self):
        return os.path.join(checkpoint_dir(), self.value)

    @property
    def meta(self):
        return {"num_classes": 1000, "file_name": self.value}


class ResNet18_Weights(_Weights):
    IMAGENET1K_V1 = "resnet18-f37072fd.pth"
    DEFAULT = "resnet18-f37072fd.pth"


class ResNet34_Weights(_Weights):
    IMAGENET1K_V1 = "resnet34-b627a593.pth"
    DEFAULT = "resnet34-b627a593.pth"


class ResNet50_Weights(_Weights):
    IMAGENET1K_V1 = "resnet50-0676ba61.pth"
    IMAGENET1K_V2 = "resnet50-11ad3fa6.pth"
    DEFAULT = "resnet50-11ad3fa6.pth"


class ResNet101_Weights(_Weights):
    IMAGENET1K_V1 = "resnet101-63fe2227.pth"
    IMAGENET1K_V2 = "resnet101-cd907fc2.pth"
    DEFAULT = "resnet101-cd907fc2.pth"


class ResNet152_Weights(_Weights):
    IMAGENET1K_V1 = "resnet152-394f9c45.pth"
    IMAGENET1K_V2 = "resnet152-f82ba261.pth"
    DEFAULT = "resnet152-f82ba261.pth"


def checkpoint_dir():
    """``$TORCH_HOME/hub/checkpoints`` (TORCH_HOME defaults to ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``)."""
    home = os.environ.get("TORCH_HOME")
    if not home:
        cache = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
        home = os.path.join(cache, "torch")
    return os.path.join(home, "hub", "checkpoints")


def _resolve_weights(weights, pretrained, enum_cls):
    if weights is None and pretrained:
        weights = enum_cls.DEFAULT
    if weights is None or weights is False:
        return None
    if isinstance(weights, str):
        if weights in enum_cls.__members__:
            return enum_cls[weights].path
        if weights.startswith(enum_cls.__name__ + "."):
            return enum_cls[weights.split(".", 1)[1]].path
        return os.path.expanduser(weights)  # a file path
    if isinstance(weights, os.PathLike):
        return os.fspath(weights)
    if isinstance(weights, _Weights):
        return weights.path
    raise TypeError(f"weights must be None, a {enum_cls.__name__} member, its name or a file path, got {weights!r}")


def _load_weights(model, path, enum_cls):
    if not os.path.exists(path):
        name = os.path.basename(path)
        raise FileNotFoundError(
            f"pretrained weights not found: {path}\n"
            f"tapegrad never downloads at run time. Put torchvision's checkpoint file '{name}' at that "
            f"path (it is where torchvision itself caches it; set TORCH_HOME to use another directory), "
            f"e.g. download {_BASE_URL + name} on a machine with network access and copy it there, or pass "
            f"weights='/path/to/{name}'.")
    from ...io import load
    state = load(path)
    if isinstance(state, dict) and "state_dict" in state and "fc.weight" not in state:
        state = state["state_dict"]
    model.load_state_dict(state)
    return model


def _resnet(block, layers, weights, pretrained, enum_cls, progress=True, **kwargs):
    path = _resolve_weights(weights, pretrained, enum_cls)
    if path is not None:
        kwargs.setdefault("num_classes", 1000)
    model = ResNet(block, layers, **kwargs)
    if path is not None:
        _load_weights(model, path, enum_cls)
    return model


def resnet18(*, weights=None, progress=True, pretrained=False, **kwargs):
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]); ``pretrained=True`` loads resnet18-f37072fd.pth."""
    return _resnet(BasicBlock, [2, 2, 2, 2], weights, pretrained, ResNet18_Weights, progress, **kwargs)


def resnet34(*, weights=None, progress=True, pretrained=False, **kwargs):
    return _resnet(BasicBlock, [3, 4, 6, 3], weights, pretrained, ResNet34_Weights, progress, **kwargs)


def resnet50(*, weights=None, progress=True, pretrained=False, **kwargs):
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, pretrained, ResNet50_Weights, progress, **kwargs)


def resnet101(*, weights=None, progress=True, pretrained=False, **kwargs):
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, pretrained, ResNet101_Weights, progress, **kwargs)


def resnet152(*, weights=None, progress=True, pretrained=False, **kwargs):
    return _resnet(Bottleneck, [3, 8, 36, 3], weights, pretrained, ResNet152_Weights, progress, **kwargs)

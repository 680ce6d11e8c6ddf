"""ResNet-18/34/50/101/152 with torchvision's structure, parameter names and initialisation.

The family is described by data, as in Table 1 of He et al., "Deep Residual Learning
for Image Recognition" (2015): a stem, then four stages whose base widths are
``_STAGE_WIDTHS`` and whose depths and block type come from ``_ARCHITECTURES``.  One
builder (:class:`ResNet`) reads that description, and both residual block types
share one implementation (:class:`_ResidualBlock`) parameterised by their kernel
sizes.  Module attribute names, registration order and ``state_dict`` keys are
torchvision's, so torchvision checkpoints load unchanged and ours load in torch.

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

# Base channel count of each of the four stages; a bottleneck block widens its output
# by ``expansion``.
_STAGE_WIDTHS = (64, 128, 256, 512)
_STEM_WIDTH = 64


def _conv(in_planes, out_planes, kernel, stride=1, groups=1, dilation=1):
    # Bias-free: every convolution is followed by a normalisation layer.  "Same"
    # padding for odd kernels, widened by the dilation.
    return nn.Conv2d(in_planes, out_planes, kernel_size=kernel, stride=stride,
                     padding=dilation * (kernel // 2), groups=groups, bias=False, dilation=dilation)


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution with padding ``dilation`` and no bias."""
    return _conv(in_planes, out_planes, 3, stride, groups, dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution without bias."""
    return _conv(in_planes, out_planes, 1, stride)


# --------------------------------------------------------------------------- blocks
class _ResidualBlock(nn.Module):
    """``relu(main(x) + shortcut(x))`` where ``main`` is a chain of conv + norm pairs.

    Subclasses give the kernel sizes of the chain (``_kernels``) and the channel widths
    between its convolutions (``_widths``).  The pairs are registered as ``conv1``/``bn1``,
    ``conv2``/``bn2``, ... and a ReLU follows every pair but the last; the stride, groups
    and dilation apply to the first 3x3 convolution, as in torchvision's "ResNet v1.5".
    """

    expansion = 1
    _kernels: tuple = ()
    _relu_after = 1  # where ``relu`` is registered, only so that ``print(model)`` reads as torchvision's

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        self._validate(groups, base_width, dilation)
        super().__init__()
        widths = self._widths(inplanes, planes, groups, base_width)
        make_norm = nn.BatchNorm2d if norm_layer is None else norm_layer
        spatial = self._kernels.index(3)
        for i, kernel in enumerate(self._kernels):
            spec = {}
            if kernel == 3:
                spec = dict(stride=stride if i == spatial else 1, groups=groups, dilation=dilation)
            setattr(self, f"conv{i + 1}", _conv(widths[i], widths[i + 1], kernel, **spec))
            setattr(self, f"bn{i + 1}", make_norm(widths[i + 1]))
            if i + 1 == self._relu_after:
                self.relu = nn.ReLU(inplace=True)
        self.downsample, self.stride = downsample, stride

    @classmethod
    def _validate(cls, groups, base_width, dilation):
        """Raise for settings the block type cannot build."""

    def _widths(self, inplanes, planes, groups, base_width):
        raise NotImplementedError

    def _last_norm(self):
        return getattr(self, f"bn{len(self._kernels)}")

    def forward(self, x):
        out = x
        last = len(self._kernels)
        for i in range(1, last + 1):
            out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out))
            if i < last:
                out = self.relu(out)
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class BasicBlock(_ResidualBlock):
    """Two 3x3 convolutions (ResNet-18/34): ``inplanes -> planes -> planes``."""

    expansion = 1
    _kernels = (3, 3)
    _relu_after = 1

    @classmethod
    def _validate(cls, groups, base_width, dilation):
        # ResNeXt-style grouping and widening only make sense with a bottleneck.
        if (groups, base_width) != (1, 64):
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")

    def _widths(self, inplanes, planes, groups, base_width):
        return (inplanes, planes, planes)


class Bottleneck(_ResidualBlock):
    """1x1 reduce, 3x3 (grouped, strided), 1x1 expand by 4 (ResNet-50/101/152).

    The inner width is ``int(planes * base_width / 64) * groups`` (ResNeXt's rule).
    """

    expansion = 4
    _kernels = (1, 3, 1)
    _relu_after = 3

    def _widths(self, inplanes, planes, groups, base_width):
        inner = int(planes * (base_width / 64.0)) * groups
        return (inplanes, inner, inner, planes * self.expansion)


# --------------------------------------------------------------------------- network
def _dilation_flags(replace_stride_with_dilation):
    """Whether stages 2, 3 and 4 dilate instead of striding."""
    if replace_stride_with_dilation is None:
        return (False, False, False)
    if len(replace_stride_with_dilation) != 3:
        raise ValueError("replace_stride_with_dilation should be None or a 3-element tuple, got "
                         f"{replace_stride_with_dilation}")
    return tuple(replace_stride_with_dilation)


class ResNet(nn.Module):
    """A stem (7x7/2 conv, norm, ReLU, 3x3/2 max-pool), four stages of residual blocks,
    global average pooling and a linear classifier.

    ``layers`` holds the number of blocks per stage; stage ``i`` has base width
    ``(64, 128, 256, 512)[i]`` and stages 2-4 halve the resolution, or keep it and
    dilate instead where ``replace_stride_with_dilation[i - 1]`` is true.

    >>> model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=10)   # resnet18's layout
    >>> model(tapegrad.randn(1, 3, 64, 64)).shape
    torch.Size([1, 10])
    """

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1,
                 width_per_group=64, replace_stride_with_dilation=None, norm_layer=None):
        super().__init__()
        # Stage 1 follows the max-pool at full resolution; each later stage halves it
        # unless told to dilate.
        stage_dilates = [False, *_dilation_flags(replace_stride_with_dilation)]
        stage_strides = [1, 2, 2, 2]
        # State read by _make_layer while it builds the stages in order.
        self._norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        self.groups, self.base_width = groups, width_per_group
        self.inplanes, self.dilation = _STEM_WIDTH, 1

        self.conv1 = _conv(3, _STEM_WIDTH, 7, stride=2)
        self.bn1 = self._norm_layer(_STEM_WIDTH)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        plan = zip(_STAGE_WIDTHS, layers, stage_strides, stage_dilates, strict=False)
        for number, (width, depth, stride, dilate) in enumerate(plan, start=1):
            setattr(self, f"layer{number}", self._make_layer(block, width, depth, stride, dilate))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(_STAGE_WIDTHS[-1] * block.expansion, num_classes)
        self._initialise(zero_init_residual)

    def _initialise(self, zero_init_residual):
        # He et al.'s normal init, scaled by fan_out (torchvision's choice); norms start
        # as the identity.
        modules = list(self.modules())
        for conv in (m for m in modules if isinstance(m, nn.Conv2d)):
            init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        for norm in (m for m in modules if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))):
            init.ones_(norm.weight)
            init.zeros_(norm.bias)
        if zero_init_residual:
            # Each block then starts as the identity (Goyal et al., 2017).
            last_norms = (m._last_norm() for m in modules if isinstance(m, _ResidualBlock))
            for weight in (norm.weight for norm in last_norms):
                if weight is not None:
                    init.zeros_(weight)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        """One stage: ``blocks`` blocks, the first changing resolution and width."""
        # The first block still uses the incoming dilation; a dilating stage keeps the
        # resolution and grows the receptive field of the blocks after it instead.
        entry_dilation = self.dilation
        if dilate:
            stride, self.dilation = 1, self.dilation * stride
        in_planes, out_planes = self.inplanes, planes * block.expansion
        shortcut = None
        if stride != 1 or in_planes != out_planes:
            shortcut = nn.Sequential(conv1x1(in_planes, out_planes, stride), self._norm_layer(out_planes))
        common = dict(groups=self.groups, base_width=self.base_width, norm_layer=self._norm_layer)
        blocks_list = [block(in_planes, planes, stride, shortcut, dilation=entry_dilation, **common)]
        blocks_list += [block(out_planes, planes, dilation=self.dilation, **common)
                        for _ in range(blocks - 1)]
        self.inplanes = out_planes
        return nn.Sequential(*blocks_list)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return self.fc(self.avgpool(x).flatten(1))


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
    """``$TORCH_HOME/hub/checkpoints``.

    ``TORCH_HOME`` defaults to ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``.
    """
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "torch")
    return os.path.join(home, "hub", "checkpoints")


def _checkpoint_path(weights, pretrained, enum_cls):
    """The file ``weights`` names (``None``: no weights): a member, its name
    (``"DEFAULT"`` or ``"ResNet18_Weights.DEFAULT"``), or a path."""
    if weights is None:
        weights = enum_cls.DEFAULT if pretrained else None
    if weights is None or weights is False:
        return None
    if isinstance(weights, _Weights):
        return weights.path
    if isinstance(weights, os.PathLike):
        return os.fspath(weights)
    if isinstance(weights, str):
        qualified = weights.startswith(enum_cls.__name__ + ".")
        member = weights.split(".", 1)[1] if qualified else weights
        if qualified or member in enum_cls.__members__:
            return enum_cls[member].path  # an unknown qualified name: KeyError
        return os.path.expanduser(weights)
    raise TypeError(
        f"weights must be None, a {enum_cls.__name__} member, its name or a file path, got {weights!r}"
    )


def _load_checkpoint(model, path):
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
    # Training scripts often save {"state_dict": ..., "epoch": ...}; accept those too.
    if isinstance(state, dict) and "fc.weight" not in state and "state_dict" in state:
        state = state["state_dict"]
    model.load_state_dict(state)


# Table 1 of the paper: block type and blocks per stage, plus the checkpoints.
_ARCHITECTURES = {
    "resnet18": (BasicBlock, (2, 2, 2, 2), ResNet18_Weights),
    "resnet34": (BasicBlock, (3, 4, 6, 3), ResNet34_Weights),
    "resnet50": (Bottleneck, (3, 4, 6, 3), ResNet50_Weights),
    "resnet101": (Bottleneck, (3, 4, 23, 3), ResNet101_Weights),
    "resnet152": (Bottleneck, (3, 8, 36, 3), ResNet152_Weights),
}


def _build(arch, weights, pretrained, kwargs):
    block, depths, enum_cls = _ARCHITECTURES[arch]
    path = _checkpoint_path(weights, pretrained, enum_cls)
    if path is not None:
        kwargs.setdefault("num_classes", 1000)  # the checkpoints' ImageNet classifier
    model = ResNet(block, list(depths), **kwargs)
    if path is not None:
        _load_checkpoint(model, path)
    return model


def resnet18(*, weights=None, progress=True, pretrained=False, **kwargs):
    """ResNet-18 (BasicBlock, 2-2-2-2). ``progress`` is accepted and unused (nothing is downloaded)."""
    return _build("resnet18", weights, pretrained, kwargs)


def resnet34(*, weights=None, progress=True, pretrained=False, **kwargs):
    """ResNet-34 (BasicBlock, 3-4-6-3)."""
    return _build("resnet34", weights, pretrained, kwargs)


def resnet50(*, weights=None, progress=True, pretrained=False, **kwargs):
    """ResNet-50 (Bottleneck, 3-4-6-3)."""
    return _build("resnet50", weights, pretrained, kwargs)


def resnet101(*, weights=None, progress=True, pretrained=False, **kwargs):
    """ResNet-101 (Bottleneck, 3-4-23-3)."""
    return _build("resnet101", weights, pretrained, kwargs)


def resnet152(*, weights=None, progress=True, pretrained=False, **kwargs):
    """ResNet-152 (Bottleneck, 3-8-36-3)."""
    return _build("resnet152", weights, pretrained, kwargs)

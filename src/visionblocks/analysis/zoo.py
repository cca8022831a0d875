"""Layer specs of classic CNNs: LeNet-5, AlexNet, VGG and ResNet, with their input shapes.

Which variant each is (they decide the parameter counts):

* ``lenet5``: LeCun et al. 1998 on 1x32x32 inputs with tanh, but with a fully-connected C3
  (not the original's partial channel table), plain average pooling (no trainable
  subsampling coefficients) and an affine output layer (not RBF units): 61,706 params.
* ``alexnet``: the torchvision variant (single-GPU, 64-192-384-256-256 filters, no LRN) on
  3x224x224: 61,100,840 params, ~0.71 GMACs. ``alexnet-original``: Krizhevsky et al. 2012 as
  in Caffe's reference model (96-256-384-384-256 filters, LRN, two-GPU grouped conv2, conv4
  and conv5) on 3x227x227: 60,965,224 params.
* ``vgg11/13/16/19``: Simonyan & Zisserman 2014 configurations A, B, D, E without batch norm,
  on 3x224x224; VGG-16 has 138,357,544 params. Dropout and torchvision's identity
  ``AdaptiveAvgPool2d(7)`` are left out (no params or MACs), so the rows and the
  activations are those of the classic CS231n table.
* ``resnet18/34/50/101/152``: He et al. 2015 as in torchvision (v1.5: the stride of a
  bottleneck sits on its 3x3 conv; convs without bias; projection shortcuts 1x1 conv + BN)
  on 3x224x224: ResNet-18 11,689,512 params, ResNet-50 25,557,032.
"""

from __future__ import annotations

from visionblocks.analysis.layers import (
    AvgPool2d,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Linear,
    LocalResponseNorm,
    MaxPool2d,
    Norm,
    ReLU,
    Residual,
    Tanh,
)
from visionblocks.errors import ConfigError


def lenet5(num_classes: int = 10) -> list:
    """LeNet-5 (see the module notes); input (1, 32, 32)."""
    return [
        Conv2d(6, 5, name="c1"), Tanh(name="tanh1"), AvgPool2d(2, name="s2"),
        Conv2d(16, 5, name="c3"), Tanh(name="tanh3"), AvgPool2d(2, name="s4"),
        Conv2d(120, 5, name="c5"), Tanh(name="tanh5"), Flatten(name="flatten"),
        Linear(84, name="f6"), Tanh(name="tanh6"), Linear(num_classes, name="output"),
    ]  # fmt: skip


def _classifier(num_classes: int, first: str = "fc6") -> list:
    n = int(first[2:])
    return [
        Flatten(name="flatten"),
        Linear(4096, name=f"fc{n}"), ReLU(name=f"relu{n}"),
        Linear(4096, name=f"fc{n + 1}"), ReLU(name=f"relu{n + 1}"),
        Linear(num_classes, name=f"fc{n + 2}"),
    ]  # fmt: skip


def alexnet(num_classes: int = 1000) -> list:
    """AlexNet, torchvision variant; input (3, 224, 224)."""
    return [
        Conv2d(64, 11, stride=4, padding=2, name="conv1"), ReLU(name="relu1"),
        MaxPool2d(3, 2, name="pool1"),
        Conv2d(192, 5, padding=2, name="conv2"), ReLU(name="relu2"),
        MaxPool2d(3, 2, name="pool2"),
        Conv2d(384, 3, padding=1, name="conv3"), ReLU(name="relu3"),
        Conv2d(256, 3, padding=1, name="conv4"), ReLU(name="relu4"),
        Conv2d(256, 3, padding=1, name="conv5"), ReLU(name="relu5"),
        MaxPool2d(3, 2, name="pool5"),
        *_classifier(num_classes),
    ]  # fmt: skip


def alexnet_original(num_classes: int = 1000) -> list:
    """AlexNet as published (two-GPU groups, LRN); input (3, 227, 227)."""
    return [
        Conv2d(96, 11, stride=4, name="conv1"), ReLU(name="relu1"),
        LocalResponseNorm(5, name="norm1"), MaxPool2d(3, 2, name="pool1"),
        Conv2d(256, 5, padding=2, groups=2, name="conv2"), ReLU(name="relu2"),
        LocalResponseNorm(5, name="norm2"), MaxPool2d(3, 2, name="pool2"),
        Conv2d(384, 3, padding=1, name="conv3"), ReLU(name="relu3"),
        Conv2d(384, 3, padding=1, groups=2, name="conv4"), ReLU(name="relu4"),
        Conv2d(256, 3, padding=1, groups=2, name="conv5"), ReLU(name="relu5"),
        MaxPool2d(3, 2, name="pool5"),
        *_classifier(num_classes),
    ]  # fmt: skip


VGG_CONVS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
VGG_WIDTHS = (64, 128, 256, 512, 512)


def vgg(depth: int = 16, num_classes: int = 1000, batch_norm: bool = False) -> list:
    """VGG-11/13/16/19 (configurations A/B/D/E); input (3, 224, 224)."""
    if depth not in VGG_CONVS:
        raise ConfigError(f"VGG depth must be one of {sorted(VGG_CONVS)}, got {depth!r}")
    layers = []
    for stage, (n, width) in enumerate(zip(VGG_CONVS[depth], VGG_WIDTHS), start=1):
        for i in range(1, n + 1):
            layers.append(Conv2d(width, 3, padding=1, name=f"conv{stage}_{i}"))
            if batch_norm:
                layers.append(Norm("batch", name=f"bn{stage}_{i}"))
            layers.append(ReLU(name=f"relu{stage}_{i}"))
        layers.append(MaxPool2d(2, 2, name=f"pool{stage}"))
    return layers + _classifier(num_classes)


RESNET_BLOCKS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def _block(kind: str, in_ch: int, width: int, stride: int, name: str) -> tuple[Residual, int]:
    """One basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 x4) block; returns it and its width."""
    if kind == "basic":
        out_ch = width
        body = [
            Conv2d(width, 3, stride, 1, bias=False, name="conv1"), Norm(name="bn1"),
            ReLU(name="relu1"),
            Conv2d(width, 3, 1, 1, bias=False, name="conv2"), Norm(name="bn2"),
        ]  # fmt: skip
    else:
        out_ch = 4 * width
        body = [
            Conv2d(width, 1, bias=False, name="conv1"), Norm(name="bn1"), ReLU(name="relu1"),
            Conv2d(width, 3, stride, 1, bias=False, name="conv2"), Norm(name="bn2"),
            ReLU(name="relu2"),
            Conv2d(out_ch, 1, bias=False, name="conv3"), Norm(name="bn3"),
        ]  # fmt: skip
    shortcut = []
    if stride != 1 or in_ch != out_ch:
        shortcut = [
            Conv2d(out_ch, 1, stride, bias=False, name="downsample.0"),
            Norm(name="downsample.1"),
        ]
    return Residual(body, shortcut, [ReLU(name="relu")], name=name), out_ch


def resnet(depth: int = 18, num_classes: int = 1000) -> list:
    """ResNet-18/34/50/101/152 (torchvision v1.5); input (3, 224, 224)."""
    if depth not in RESNET_BLOCKS:
        raise ConfigError(f"ResNet depth must be one of {sorted(RESNET_BLOCKS)}, got {depth!r}")
    kind, counts = RESNET_BLOCKS[depth]
    layers = [
        Conv2d(64, 7, 2, 3, bias=False, name="conv1"), Norm(name="bn1"), ReLU(name="relu"),
        MaxPool2d(3, 2, 1, name="maxpool"),
    ]  # fmt: skip
    channels = 64
    for stage, (n, width) in enumerate(zip(counts, (64, 128, 256, 512)), start=1):
        for i in range(n):
            stride = 2 if stage > 1 and i == 0 else 1
            block, channels = _block(kind, channels, width, stride, f"layer{stage}.{i}")
            layers.append(block)
    return layers + [GlobalAvgPool2d(name="avgpool"), Linear(num_classes, name="fc")]


#: name -> (builder taking num_classes, default input shape (C, H, W)).
ARCHITECTURES = {
    "lenet5": (lenet5, (1, 32, 32)),
    "alexnet": (alexnet, (3, 224, 224)),
    "alexnet-original": (alexnet_original, (3, 227, 227)),
    **{f"vgg{d}": (lambda n=1000, d=d: vgg(d, n), (3, 224, 224)) for d in VGG_CONVS},
    **{f"resnet{d}": (lambda n=1000, d=d: resnet(d, n), (3, 224, 224)) for d in RESNET_BLOCKS},
}


def get_architecture(name: str, num_classes: int | None = None):
    """Returns (layers, default input shape) of a built-in architecture.

    Args:
        name: one of ``ARCHITECTURES`` (case-insensitive; "vgg-16" and "resnet_50" work too).
        num_classes: size of the last layer; default 10 for LeNet-5, else 1000.
    """
    key = name.lower().replace("_", "").replace("-", "")
    key = "alexnet-original" if key == "alexnetoriginal" else key
    if key not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {name!r}; choose one of {sorted(ARCHITECTURES)}")
    build, shape = ARCHITECTURES[key]
    if num_classes is None:
        num_classes = 10 if key == "lenet5" else 1000
    return build(num_classes), shape

"""The analysis against PyTorch: shapes, parameters and FLOPs of the same nets, and receptive
fields measured by back-propagating from one output pixel."""

import pytest

from visionblocks.analysis import (
    AvgPool2d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    Norm,
    ReLU,
    Residual,
    analyze,
    get_architecture,
    spec_from_convnet_config,
)
from visionblocks.analysis import layers as L

torch = pytest.importorskip("torch")
nn = torch.nn
pytestmark = pytest.mark.torch


class _Block(nn.Module):
    def __init__(self, body, shortcut, post):
        super().__init__()
        self.body, self.shortcut, self.post = body, shortcut, post

    def forward(self, x):
        return self.post(self.body(x) + self.shortcut(x))


def build(layers, x, log, device):
    """Builds torch modules for the specs from the running tensor x; logs (shape, params).

    Returns:
        (module, output of the module for x).
    """
    mods = []
    for spec in layers:
        if isinstance(spec, Residual):
            body, y = build(spec.body, x, log, device)
            short, s = build(spec.shortcut, x, log, device)
            log.append((tuple((y + s).shape[1:]), 0))
            post, x = build(spec.post, y + s, log, device)
            mods.append(_Block(body, short, post))
        else:
            mod = _module(spec, x, device)
            x = mod(x)
            log.append((tuple(x.shape[1:]), sum(p.numel() for p in mod.parameters())))
            mods.append(mod)
    return nn.Sequential(*mods), x


def _module(spec, x, device):
    c = x.shape[1]
    if isinstance(spec, L.Conv2d):
        return nn.Conv2d(c, spec.out_channels, spec.kernel_size, spec.stride, spec.padding,
                         spec.dilation, spec.groups, spec.bias, device=device)  # fmt: skip
    if isinstance(spec, L.Linear):
        return nn.Sequential(nn.Flatten(), nn.Linear(x[0].numel(), spec.out_features, spec.bias,
                                                     device=device))  # fmt: skip
    if isinstance(spec, L.Norm):
        return (
            nn.BatchNorm2d(c, device=device) if x.dim() == 4 else nn.BatchNorm1d(c, device=device)
        )
    if isinstance(spec, L.MaxPool2d):
        return nn.MaxPool2d(spec.kernel_size, spec.stride, spec.padding, ceil_mode=spec.ceil_mode)
    if isinstance(spec, L.AvgPool2d):
        return nn.AvgPool2d(spec.kernel_size, spec.stride, spec.padding, ceil_mode=spec.ceil_mode)
    simple = {
        L.ReLU: nn.ReLU, L.Tanh: nn.Tanh, L.Flatten: nn.Flatten, L.Dropout: nn.Dropout,
        L.LocalResponseNorm: lambda: nn.LocalResponseNorm(spec.size),
        L.AdaptiveAvgPool2d: lambda: nn.AdaptiveAvgPool2d(spec.output_size),
    }  # fmt: skip
    return simple[type(spec)]()


@pytest.mark.parametrize(
    "name", ["lenet5", "alexnet", "alexnet-original", "vgg16", "resnet18", "resnet50"]
)
def test_shapes_params_and_flops_match_torch(name):
    from torch.utils.flop_counter import FlopCounterMode

    layers, shape = get_architecture(name)
    profile = analyze(layers, shape)
    log = []
    x = torch.empty(1, *shape, device="meta")
    model, _ = build(layers, x, log, "meta")
    assert [tuple(r.output_shape) for r in profile.layers] == [s for s, _ in log]
    assert [r.params for r in profile.layers] == [p for _, p in log]
    assert profile.params == sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter:
        model(x)
    assert counter.get_total_flops() == 2 * profile.macs


def test_odd_configurations_match_torch():
    layers = [
        Conv2d(6, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
        Norm(),
        MaxPool2d(3, 2, 1, ceil_mode=True),
        Conv2d(6, 3, groups=3, bias=False),
        AvgPool2d(2, ceil_mode=True),
        Residual([Conv2d(6, 1), ReLU()], [], [ReLU()]),
        Flatten(),
        Linear(7),
    ]
    layers2, shape2 = spec_from_convnet_config(
        {"num_filters": [4, 8], "convs_per_stage": [1, 2], "hidden_dims": [16],
         "normalization": "batchnorm", "normalize_hidden": True, "dropout_keep_ratio": 0.5,
         "input_dim": (3, 20, 20)}
    )  # fmt: skip
    for specs, shape in ((layers, (3, 27, 23)), (layers2, shape2)):
        profile = analyze(specs, shape)
        log = []
        model, _ = build(specs, torch.zeros(2, *shape), log, "cpu")
        assert [tuple(r.output_shape) for r in profile.layers] == [s for s, _ in log]
        assert profile.params == sum(p.numel() for p in model.parameters())


def measured_rf(layers, shape):
    """Extent of the input pixels that influence the centre output pixel (positive weights)."""
    log = []
    torch.manual_seed(0)
    model = build(layers, torch.zeros(1, *shape), log, "cpu")[0].double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand_like(p) + 0.1)
    x = torch.rand(1, *shape, dtype=torch.float64, requires_grad=True)
    y = model(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0].abs().sum(dim=(0, 2)))
    cols = torch.nonzero(x.grad[0].abs().sum(dim=(0, 1)))
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize(
    "layers",
    [
        [Conv2d(2, 3, padding=1), ReLU(), Conv2d(2, 3, padding=1), ReLU(), Conv2d(2, 3, padding=1)],
        [Conv2d(2, 5, stride=2), AvgPool2d(3, 2), Conv2d(2, 3, dilation=2)],
        [Conv2d(2, (3, 7), stride=(1, 3)), Conv2d(2, 3, stride=2), Conv2d(2, (5, 1))],
        [Conv2d(4, 3, stride=2), Residual([Conv2d(4, 3, padding=1), Conv2d(4, 3, padding=1)]),
         Residual([Conv2d(4, 3, 2, 1)], [Conv2d(4, 1, 2)])],
    ],
)  # fmt: skip
def test_receptive_field_matches_gradient_support(layers):
    shape = (1, 61, 61)  # large enough that no receptive field is clipped
    profile = analyze(layers, shape)
    assert measured_rf(layers, shape) == profile.layers[-1].receptive_field

"""The networks, each described once: TwoLayerNet, FullyConnectedNet, ThreeLayerConvNet, ConvNet
and the torch-only ResNet.

A description holds the model's typed options (with the CLI's defaults), one ``kwargs``
function giving the constructor keywords of the NumPy model *and* of its torch twin, and the
``analyze`` profile (layer specs) built from the same options. Registering it in
``visionblocks.model_registry.MODELS`` makes it a ``--model`` name.
"""

from __future__ import annotations

import numpy as np

from visionblocks.analysis.layers import (
    Activation,
    AdaptiveAvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
    Norm,
    ReLU,
    Residual,
)
from visionblocks.errors import ConfigError
from visionblocks.layers import ACTIVATIONS
from visionblocks.model_registry import ModelSpec, register
from visionblocks.models.cnn import ConvNet, ThreeLayerConvNet
from visionblocks.models.fc_net import FullyConnectedNet, TwoLayerNet
from visionblocks.options import Option

TRAINED = ("training",)  # the Solver's / Trainer's shared options (update rule, lr, epochs, ...)


def _odd(value):
    if value % 2 == 0:
        raise ConfigError("must be odd ('same' padding)")


def _positive(name, default, help, **kw):
    return Option(name, "int", default, help, low=1, **kw)


REG = Option("reg", "float", 0.0, "L2 strength: loss += 0.5 * reg * sum(W**2)", low=0)
WEIGHT_SCALE = Option(
    "weight_scale", "float", 1e-2, "std of the Gaussian init when --init is none", low=0,
    low_open=True,
)  # fmt: skip
INIT = Option("init", "str", "he", "weight init: he, xavier or none (Gaussian, --weight-scale)",
              optional=True, choices=("he", "xavier", "gaussian"))  # fmt: skip
DROPOUT_KEEP = Option("dropout_keep", "float", 1.0, "dropout keep probability (1 = no dropout)",
                      low=0, high=1, low_open=True)  # fmt: skip
ACTIVATION = Option(
    "activation", "str", "relu", "activation of the hidden layers: "
    + ", ".join(ACTIVATIONS.names()), choices=tuple(ACTIVATIONS.names()),
)  # fmt: skip
INIT_OPTIONS = (WEIGHT_SCALE, INIT, REG)
NORM_NAMES = {"batchnorm": "batch", "layernorm": "layer", "groupnorm": "group"}


def _pieces(activation) -> int:
    """Outputs per unit of the layer before the activation (maxout widens it)."""
    return ACTIVATIONS[activation].pieces


def _act(activation, name):
    """The analysis spec of an activation: ReLU, or one with its parameters and pieces."""
    if activation == "relu":
        return ReLU(name=name)
    entry = ACTIVATIONS[activation]
    return Activation(activation, len(entry.params), entry.pieces, name=name)


def _hidden_profile(hidden_dims, normalization, keep, num_classes, activation="relu") -> list:
    """(affine - [norm] - activation - [dropout]) x K - affine, as analysis layer specs."""
    layers = []
    for j, h in enumerate(hidden_dims, start=1):
        layers.append(Linear(h * _pieces(activation), name=f"affine{j}"))
        if normalization:
            layers.append(Norm(NORM_NAMES[normalization], name=f"norm{j}"))
        layers.append(_act(activation, f"{activation}{j}"))
        if keep < 1:
            layers.append(Dropout(1 - keep, name=f"dropout{j}"))
    layers.append(Linear(num_classes, name="scores"))
    return layers


# ------------------------------------------------------------------------------- twolayer
def _twolayer_kwargs(o, shape, num_classes, seed):
    return dict(
        input_dim=int(np.prod(shape)), hidden_dim=o["hidden_dims"][0], num_classes=num_classes,
        weight_scale=o["weight_scale"], reg=o["reg"], seed=seed, init=o["init"],
        dtype=np.float32,  # the CLI trains in float32 (the class default follows the course)
    )  # fmt: skip


TWOLAYER = register(ModelSpec(
    name="twolayer",
    summary="the course's affine - relu - affine net (one hidden layer)",
    engines=("numpy", "torch"),
    options=(
        Option("hidden_dims", "int_list", [100], "the hidden layer size, e.g. 100", low=1,
               length=1),
        *INIT_OPTIONS,
    ),
    uses=TRAINED,
    kwargs=_twolayer_kwargs,
    numpy_class=TwoLayerNet,
    twin="visionblocks.torchkit.models:TwoLayerNet",
    profile=lambda o, shape, c: _hidden_profile(o["hidden_dims"], None, 1.0, c),
))  # fmt: skip


# ------------------------------------------------------------------------------- fc
def _fc_kwargs(o, shape, num_classes, seed):
    return dict(
        hidden_dims=list(o["hidden_dims"]), input_dim=int(np.prod(shape)),
        num_classes=num_classes, dropout_keep_ratio=o["dropout_keep"],
        normalization=o["normalization"], reg=o["reg"], weight_scale=o["weight_scale"],
        seed=seed, init=o["init"], activation=o["activation"],
        dropout_masks="fresh",  # training draws new masks from model.rng on every pass
    )  # fmt: skip


FC = register(ModelSpec(
    name="fc",
    summary="FullyConnectedNet: {affine - [norm] - relu - [dropout]} x L - affine",
    engines=("numpy", "torch"),
    options=(
        Option("hidden_dims", "int_list", [100], "hidden layer sizes, e.g. 512,256", low=1,
               nonempty=True),
        Option("normalization", "str", None, "none, batchnorm or layernorm", optional=True,
               choices=("batchnorm", "layernorm")),
        DROPOUT_KEEP,
        ACTIVATION,
        *INIT_OPTIONS,
    ),
    uses=TRAINED,
    kwargs=_fc_kwargs,
    numpy_class=FullyConnectedNet,
    twin="visionblocks.torchkit.models:FullyConnectedNet",
    profile=lambda o, shape, c: _hidden_profile(
        o["hidden_dims"], o["normalization"], o["dropout_keep"], c, o["activation"]
    ),
))  # fmt: skip


# ------------------------------------------------------------------------------- threelayer
def _threelayer_kwargs(o, shape, num_classes, seed):
    return dict(
        input_dim=shape, num_filters=o["num_filters"], filter_size=o["filter_size"],
        hidden_dim=o["hidden_dim"], num_classes=num_classes, weight_scale=o["weight_scale"],
        reg=o["reg"], seed=seed, init=o["init"],
    )  # fmt: skip


def _threelayer_profile(o, shape, num_classes):
    k = o["filter_size"]
    return [
        Conv2d(o["num_filters"], k, 1, (k - 1) // 2, name="conv"), ReLU(name="relu"),
        MaxPool2d(2, 2, name="pool"), Linear(o["hidden_dim"], name="affine1"),
        ReLU(name="affine_relu1"), Linear(num_classes, name="scores"),
    ]  # fmt: skip


THREELAYER = register(ModelSpec(
    name="threelayer",
    summary="the course's conv - relu - 2x2 pool - affine - relu - affine net",
    engines=("numpy", "torch"),
    options=(
        _positive("num_filters", 32, "filters of the convolution"),
        _positive("filter_size", 7, "odd width of the square filters", check=_odd),
        _positive("hidden_dim", 100, "units of the hidden affine layer"),
        *INIT_OPTIONS,
    ),
    uses=TRAINED,
    kwargs=_threelayer_kwargs,
    numpy_class=ThreeLayerConvNet,
    twin="visionblocks.torchkit.models_cnn:ThreeLayerConvNet",
    profile=_threelayer_profile,
))  # fmt: skip


# ------------------------------------------------------------------------------- convnet
def _convnet_kwargs(o, shape, num_classes, seed):
    return dict(
        input_dim=shape, num_filters=list(o["num_filters"]),
        convs_per_stage=o["convs_per_stage"], hidden_dims=list(o["hidden_dims"]),
        num_classes=num_classes, filter_size=o["filter_size"],
        normalization=o["normalization"], groups=o["groups"], residual=o["residual"],
        global_pool=o["global_pool"], dropout_keep=o["dropout_keep"], reg=o["reg"],
        weight_scale=o["weight_scale"], init=o["init"], seed=seed, activation=o["activation"],
    )  # fmt: skip


def _convnet_check(o, given):
    if o["residual"] and o["activation"] != "relu":
        raise ConfigError(f"option activation: residual stages use relu, got {o['activation']!r}")
    if o["residual"] and (o["normalization"] != "batchnorm" or o["convs_per_stage"] % 2):
        raise ConfigError("option residual: residual stages need normalization = 'batchnorm' "
                          f"and an even convs_per_stage, got {o['normalization']!r} and "
                          f"{o['convs_per_stage']}")  # fmt: skip
    if o["normalization"] == "groupnorm" and any(f % o["groups"] for f in o["num_filters"]):
        raise ConfigError(f"option groups: {o['groups']} must divide every num_filters "
                          f"{o['num_filters']}")  # fmt: skip


def _conv_norm(f, k, norm, name):
    layers = [Conv2d(f, k, 1, k // 2, name=f"conv{name}")]
    return layers + ([Norm(NORM_NAMES[norm], name=f"norm{name}")] if norm else [])


def _convnet_profile(o, shape, num_classes):
    k, norm, act = o["filter_size"], o["normalization"], o["activation"]
    layers, c_in = [], shape[0]
    stages = o["num_filters"]
    for s, f in enumerate(stages, start=1):
        if o["residual"]:
            for b in range(1, o["convs_per_stage"] // 2 + 1):
                body = [*_conv_norm(f, k, norm, "_a"), ReLU(name="relu_a"),
                        *_conv_norm(f, k, norm, "_b")]  # fmt: skip
                shortcut = [Conv2d(f, 1, name="proj")] if c_in != f else []
                layers.append(Residual(body, shortcut, [ReLU()], name=f"block{s}_{b}"))
                c_in = f
        else:
            for i in range(1, o["convs_per_stage"] + 1):
                conv = _conv_norm(f * _pieces(act), k, norm, f"{s}_{i}")
                layers += [*conv, _act(act, f"{act}{s}_{i}")]
            c_in = f
        if o["global_pool"] and s == len(stages):
            layers += [AdaptiveAvgPool2d(1, name="global_pool"), Flatten(name="flatten")]
        else:
            layers.append(MaxPool2d(2, 2, name=f"pool{s}"))
    return layers + _hidden_profile(o["hidden_dims"], None, o["dropout_keep"], num_classes, act)


CONVNET = register(ModelSpec(
    name="convnet",
    summary="ConvNet: [(conv - norm - relu) x N - 2x2 pool] x M - (affine - relu) x K - affine",
    engines=("numpy", "torch"),
    options=(
        Option("num_filters", "int_list", [32, 64], "filters of each stage, e.g. 32,64", low=1,
               nonempty=True),
        _positive("convs_per_stage", 2, "convolutions per stage (even with --residual)"),
        Option("hidden_dims", "int_list", [100], "sizes of the hidden affine layers", low=1),
        _positive("filter_size", 3, "odd width of the square filters", check=_odd),
        Option("normalization", "str", "batchnorm", "after each conv: batchnorm, groupnorm "
               "or none", optional=True, choices=("batchnorm", "groupnorm")),
        _positive("groups", 8, "G of group norm (divides every num_filters)"),
        Option("residual", "bool", False, "stages of residual blocks (needs batchnorm, relu)"),
        Option("global_pool", "bool", False, "end the last stage in global average pooling"),
        DROPOUT_KEEP,
        ACTIVATION,
        *INIT_OPTIONS,
    ),
    uses=TRAINED,
    kwargs=_convnet_kwargs,
    numpy_class=ConvNet,
    twin="visionblocks.torchkit.models_cnn:ConvNet",
    profile=_convnet_profile,
    check=_convnet_check,
))  # fmt: skip


# ------------------------------------------------------------------------------- resnet
def _resnet_kwargs(o, shape, num_classes, seed):
    return dict(
        input_dim=shape, num_classes=num_classes, widths=list(o["widths"]),
        blocks=list(o["blocks"]), dropout=o["dropout"], reg=o["reg"], seed=seed,
    )  # fmt: skip


def _resnet_check(o, given):
    if len(o["widths"]) != len(o["blocks"]):
        raise ConfigError(f"options widths and blocks need one entry per stage, got "
                          f"{o['widths']} and {o['blocks']}")  # fmt: skip


def _resnet_profile(o, shape, num_classes):
    w0 = o["widths"][0]
    layers = [Conv2d(w0, 3, 1, 1, bias=False, name="stem"), Norm(name="stem_bn"), ReLU()]
    c_in = w0
    for i, (w, n) in enumerate(zip(o["widths"], o["blocks"])):
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1
            body = [Conv2d(w, 3, stride, 1, bias=False, name="conv1"), Norm(name="bn1"), ReLU(),
                    Conv2d(w, 3, 1, 1, bias=False, name="conv2"), Norm(name="bn2")]  # fmt: skip
            shortcut = []
            if stride != 1 or c_in != w:
                shortcut = [Conv2d(w, 1, stride, bias=False), Norm()]
            layers.append(Residual(body, shortcut, [ReLU()], name=f"stage{i + 1}_{j + 1}"))
            c_in = w
    layers += [AdaptiveAvgPool2d(1, name="avgpool"), Flatten()]
    if o["dropout"] > 0:
        layers.append(Dropout(o["dropout"], name="dropout"))
    return layers + [Linear(num_classes, name="fc")]


RESNET = register(ModelSpec(
    name="resnet",
    summary="a small ResNet of BasicBlocks for small images (torch engine only)",
    engines=("torch",),
    options=(
        Option("widths", "int_list", [32, 64, 128], "channels of each stage", low=1,
               nonempty=True),
        Option("blocks", "int_list", [2, 2, 2], "BasicBlocks per stage", low=1, nonempty=True),
        Option("dropout", "float", 0.0, "drop probability before the classifier", low=0,
               high=1, high_open=True),
        REG,
    ),
    uses=TRAINED,
    kwargs=_resnet_kwargs,
    twin="visionblocks.torchkit.models:ResNet",
    profile=_resnet_profile,
    check=_resnet_check,
))  # fmt: skip

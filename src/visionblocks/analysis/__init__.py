"""Model analysis: per-layer shapes, parameters, MACs, activations, receptive field, memory.

Describe a network as a list of layer specs (``visionblocks.analysis.layers``), or take one
of the built-in classics (``get_architecture``) or a ConvNet config
(``spec_from_convnet_config``), then ``analyze(layers, (C, H, W))``.
"""

from visionblocks.analysis.convnet import spec_from_convnet_config
from visionblocks.analysis.layers import (
    Activation,
    AdaptiveAvgPool2d,
    AvgPool2d,
    Conv2d,
    Dropout,
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
from visionblocks.analysis.memory import MemoryEstimate, estimate_memory
from visionblocks.analysis.profile import LayerStats, ModelProfile, analyze
from visionblocks.analysis.profile_table import format_profile
from visionblocks.analysis.shapes import conv_output_size, pool_output_size
from visionblocks.analysis.zoo import ARCHITECTURES, get_architecture

__all__ = [
    "Activation",
    "ARCHITECTURES",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2d",
    "LayerStats",
    "Linear",
    "LocalResponseNorm",
    "MaxPool2d",
    "MemoryEstimate",
    "ModelProfile",
    "Norm",
    "ReLU",
    "Residual",
    "Tanh",
    "analyze",
    "conv_output_size",
    "estimate_memory",
    "format_profile",
    "get_architecture",
    "pool_output_size",
    "spec_from_convnet_config",
]

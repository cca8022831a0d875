"""Layer specs of a ConvNet-family sketch from a plain configuration dict.

A sketch is ``[(conv - norm - relu) x N - pool] x M - (affine - relu) x K - affine``: M stages
of N "same"-padded stride-1 convolutions (N may differ per stage), each stage ending in a max
pool, then K hidden affine layers and the affine classifier, with batch, layer, group or
instance norm. It is for trying architectures on paper; the models ``visionblocks train``
builds are profiled from their own descriptions (``visionblocks.models.specs``), which is what
``visionblocks analyze --config TRAINING_CONFIG`` uses.
"""

from __future__ import annotations

from visionblocks.analysis.layers import Conv2d, Dropout, Linear, MaxPool2d, Norm, ReLU
from visionblocks.errors import ConfigError

#: Accepted keys and their defaults (None means required).
CONVNET_DEFAULTS = {
    "input_dim": (3, 32, 32),
    "num_filters": None,
    "convs_per_stage": 1,
    "filter_size": 3,
    "pool_size": 2,
    "hidden_dims": (),
    "num_classes": 10,
    "normalization": None,
    "normalize_hidden": False,
    "dropout_keep_ratio": 1.0,
}
#: Training-only keys that do not change the architecture and are ignored.
TRAINING_KEYS = {"weight_scale", "reg", "dtype", "seed", "init", "num_groups", "model"}
NORMS = {
    None: None,
    "none": None,
    "batchnorm": "batch",
    "layernorm": "layer",
    "groupnorm": "group",
    "instancenorm": "instance",
}


def _positive_int(key, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}")
    return value


def spec_from_convnet_config(config: dict) -> tuple[list, tuple]:
    """Builds the ConvNet's layer specs from its configuration.

    Keys (all optional except ``num_filters``):
        input_dim: (C, H, W) of one example, default (3, 32, 32).
        num_filters: list with the filter count of each of the M stages.
        convs_per_stage: N, an int for every stage or a list per stage (default 1).
        filter_size: odd conv kernel size (default 3); padding (filter_size - 1) // 2 and
            stride 1 keep H and W.
        pool_size: the max pool closing each stage, kernel = stride (default 2; 1 = none).
        hidden_dims: sizes of the K hidden affine layers (default none).
        num_classes: outputs of the last affine layer (default 10).
        normalization: None, "batchnorm", "layernorm", "groupnorm" or "instancenorm",
            between each conv and its ReLU (2C params each).
        normalize_hidden: also normalise the hidden affine layers (default False).
        dropout_keep_ratio: keep probability; below 1 adds dropout after each hidden ReLU.
    Training-only keys (weight_scale, reg, dtype, seed, init, num_groups, model) are
    ignored; any other key is an error, so a typo cannot give a silently wrong network.

    Args:
        config: the dict described above (e.g. the ``arch`` table of a training config).

    Returns:
        (layers, input_shape): the specs for ``analyze`` and the (C, H, W) input shape.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a dict, got {type(config).__name__}")
    unknown = set(config) - set(CONVNET_DEFAULTS) - TRAINING_KEYS
    if unknown:
        raise ConfigError(
            f"unknown ConvNet config keys {sorted(unknown)}; accepted: {sorted(CONVNET_DEFAULTS)}"
        )
    c = {**CONVNET_DEFAULTS, **config}
    filters = c["num_filters"]
    if not filters or not isinstance(filters, (list, tuple)):
        raise ConfigError(
            f"num_filters must be a non-empty list (one count per stage), got {filters!r}"
        )
    filters = [_positive_int("num_filters entries", f) for f in filters]
    per_stage = c["convs_per_stage"]
    per_stage = [per_stage] * len(filters) if isinstance(per_stage, int) else list(per_stage)
    if len(per_stage) != len(filters):
        raise ConfigError(f"convs_per_stage has {len(per_stage)} entries for {len(filters)} stages")
    per_stage = [_positive_int("convs_per_stage", n) for n in per_stage]
    k = _positive_int("filter_size", c["filter_size"])
    if k % 2 == 0:
        raise ConfigError(f"filter_size must be odd so padding keeps the size, got {k}")
    pool = _positive_int("pool_size", c["pool_size"])
    norm_key = c["normalization"].lower() if isinstance(c["normalization"], str) else None
    if norm_key not in NORMS:
        raise ConfigError(
            f"normalization must be one of {[n for n in NORMS if n]} or None, got "
            f"{c['normalization']!r}"
        )
    norm = NORMS[norm_key]
    keep = c["dropout_keep_ratio"]
    if not 0 < keep <= 1:
        raise ConfigError(f"dropout_keep_ratio must lie in (0, 1], got {keep!r}")
    shape = tuple(c["input_dim"])
    if len(shape) != 3:
        raise ConfigError(f"input_dim must be (C, H, W), got {c['input_dim']!r}")
    layers = []
    for s, (width, n) in enumerate(zip(filters, per_stage), start=1):
        for i in range(1, n + 1):
            layers.append(Conv2d(width, k, 1, (k - 1) // 2, name=f"conv{s}_{i}"))
            if norm:
                layers.append(Norm(norm, name=f"norm{s}_{i}"))
            layers.append(ReLU(name=f"relu{s}_{i}"))
        if pool > 1:
            layers.append(MaxPool2d(pool, pool, name=f"pool{s}"))
    for j, hidden in enumerate(c["hidden_dims"], start=1):
        layers.append(Linear(_positive_int("hidden_dims entries", hidden), name=f"affine{j}"))
        if norm and c["normalize_hidden"]:
            layers.append(Norm(norm, name=f"affine_norm{j}"))
        layers.append(ReLU(name=f"affine_relu{j}"))
        if keep < 1:
            layers.append(Dropout(1 - keep, name=f"dropout{j}"))
    layers.append(Linear(_positive_int("num_classes", c["num_classes"]), name="scores"))
    return layers, shape

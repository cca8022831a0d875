"""Registers the conv nets with ``visionblocks train``: ``--model threelayer`` and ``convnet``.

The architecture comes from the config's ``[arch]`` table; the training options shared with the
other models (``reg``, ``init``, ``weight_scale``, ``dropout_keep``, ``seed``) from the top level.
``hidden_dims`` may be given in either place (``[arch]`` wins). For example::

    model = "convnet"
    [arch]
    num_filters = [32, 64]
    convs_per_stage = 2
    hidden_dims = [256]
    normalization = "batchnorm"   # or "groupnorm", "none"
"""

from __future__ import annotations

from visionblocks.errors import ConfigError
from visionblocks.models.cnn import ConvNet, ThreeLayerConvNet
from visionblocks.runs import MODEL_BUILDERS

#: [arch] keys of each model with their defaults (None: take the top-level option).
THREELAYER_ARCH = {"num_filters": 32, "filter_size": 7, "hidden_dim": None}
CONVNET_ARCH = {
    "num_filters": [32, 64],
    "convs_per_stage": 2,
    "hidden_dims": None,
    "filter_size": 3,
    "normalization": "batchnorm",
    "groups": 8,
    "residual": False,
    "global_pool": False,
}


def arch_options(cfg, defaults: dict) -> dict:
    """``cfg.arch`` over ``defaults``; an unknown key is a ConfigError naming the known ones."""
    unknown = sorted(set(cfg.arch) - set(defaults))
    if unknown:
        raise ConfigError(
            f"unknown [arch] option(s) {unknown} for model {cfg.model!r}; known: {sorted(defaults)}"
        )
    return {**defaults, **cfg.arch}


def _build(cls, **kwargs):
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:  # a bad architecture is a config error
        raise ConfigError(f"{cls.__name__}: {e}") from None


def _threelayer(cfg, input_shape, num_classes):
    a = arch_options(cfg, THREELAYER_ARCH)
    hidden = a["hidden_dim"] if a["hidden_dim"] is not None else cfg.hidden_dims[0]
    return _build(
        ThreeLayerConvNet,
        input_dim=tuple(input_shape),
        num_filters=int(a["num_filters"]),
        filter_size=int(a["filter_size"]),
        hidden_dim=int(hidden),
        num_classes=num_classes,
        weight_scale=cfg.weight_scale,
        reg=cfg.reg,
        seed=cfg.seed,
        init=cfg.init,
    )


def _convnet(cfg, input_shape, num_classes):
    a = arch_options(cfg, CONVNET_ARCH)
    norm = a["normalization"]
    norm = None if norm in (None, "none", "") else norm
    hidden = a["hidden_dims"] if a["hidden_dims"] is not None else cfg.hidden_dims
    return _build(
        ConvNet,
        input_dim=tuple(input_shape),
        num_filters=[int(f) for f in a["num_filters"]],
        convs_per_stage=int(a["convs_per_stage"]),
        hidden_dims=[int(h) for h in hidden],
        num_classes=num_classes,
        filter_size=int(a["filter_size"]),
        normalization=norm,
        groups=int(a["groups"]),
        residual=bool(a["residual"]),
        global_pool=bool(a["global_pool"]),
        dropout_keep=cfg.dropout_keep,
        reg=cfg.reg,
        weight_scale=cfg.weight_scale,
        init=cfg.init,
        seed=cfg.seed,
    )


MODEL_BUILDERS.update(threelayer=_threelayer, convnet=_convnet)

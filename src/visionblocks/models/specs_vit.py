"""The Vision Transformer's one description (torch engine only): its typed options and the
constructor keywords of ``visionblocks.torchkit.models_vit.VisionTransformer``."""

from __future__ import annotations

from visionblocks.analysis import layers as L
from visionblocks.errors import ConfigError
from visionblocks.model_registry import ModelSpec, register
from visionblocks.options import Option


def _vit_kwargs(o, shape, num_classes, seed):
    return dict(
        input_dim=shape, num_classes=num_classes, patch_size=o["patch_size"],
        embed_dim=o["embed_dim"], depth=o["depth"], num_heads=o["num_heads"],
        mlp_ratio=o["mlp_ratio"], dropout=o["dropout"], seed=seed,
    )  # fmt: skip


def _vit_profile(o, shape, num_classes):
    """The ViT as analysis layers (``visionblocks analyze``): patch embedding, tokens, the
    pre-norm encoder layers (attention and feed-forward residual branches), the class token."""
    e, p = o["embed_dim"], o["patch_size"]
    layers = [L.Conv2d(e, p, p, name="patch_embed"), L.Tokens(name="tokens")]
    for i in range(o["depth"]):
        layers += [
            L.Residual([L.Norm("layer"), L.SelfAttention(o["num_heads"])],
                       name=f"layer{i + 1}_attn"),
            L.Residual([L.Norm("layer"), L.TokenLinear(int(e * o["mlp_ratio"])),
                        L.Activation("gelu"), L.TokenLinear(e)], name=f"layer{i + 1}_ffn"),
        ]  # fmt: skip
    head = [L.Norm("layer", name="norm"), L.ClassToken(), L.Linear(num_classes, name="head")]
    return layers + head


def _vit_check(o, given):
    if o["embed_dim"] % o["num_heads"]:
        raise ConfigError(f"option num_heads: {o['num_heads']} does not divide embed_dim "
                          f"{o['embed_dim']}")  # fmt: skip


VIT = register(ModelSpec(
    name="vit",
    summary="a Vision Transformer: patch embedding, class token, pre-norm encoder (torch only)",
    engines=("torch",),
    options=(
        Option("patch_size", "int", 4, "side of the square patches (divides the image size)",
               low=1),
        Option("embed_dim", "int", 64, "token width", low=1),
        Option("depth", "int", 4, "encoder layers", low=1),
        Option("num_heads", "int", 4, "attention heads (divide embed_dim)", low=1),
        Option("mlp_ratio", "float", 2.0, "feed-forward width / embed_dim", low=0, low_open=True),
        Option("dropout", "float", 0.0, "dropout in the encoder layers", low=0, high=1,
               high_open=True),
    ),
    uses=("training",),
    kwargs=_vit_kwargs,
    twin="visionblocks.torchkit.models_vit:VisionTransformer",
    check=_vit_check,
    profile=_vit_profile,
))  # fmt: skip

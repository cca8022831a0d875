"""Layer specifications: small frozen dataclasses that describe a network for analysis.

A network is a list of these, applied in order to one example of shape (C, H, W). They hold
hyper-parameters only (no weights); input channels and feature counts are inferred while
walking the list, as PyTorch's lazy layers do. ``Residual`` nests two such lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from visionblocks.errors import ConfigError


def pair(name: str, value, minimum: int) -> tuple[int, int]:
    """Normalises an int or (h, w) hyper-parameter and checks it is an integer >= minimum."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int) and v >= minimum for v in values):
        raise ConfigError(
            f"{name} must be an integer >= {minimum} or a pair of them, got {value!r}"
        )
    return values


@dataclass(frozen=True)
class Conv2d:
    """2-D convolution; params = out * (in / groups) * kh * kw (+ out for the bias)."""

    out_channels: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    dilation: int | tuple[int, int] = 1
    groups: int = 1
    bias: bool = True
    name: str = ""


@dataclass(frozen=True)
class Linear:
    """Fully-connected (affine) layer; a (C, H, W) input is flattened first (affine_forward)."""

    out_features: int
    bias: bool = True
    name: str = ""


@dataclass(frozen=True)
class Norm:
    """Batch, layer, group or instance normalisation with a per-channel scale and shift.

    Params are 2C (gamma, beta); running statistics are buffers, not parameters.
    """

    kind: str = "batch"
    name: str = ""


@dataclass(frozen=True)
class LocalResponseNorm:
    """Local response normalisation across ``size`` channels (original AlexNet); no params."""

    size: int = 5
    name: str = ""


@dataclass(frozen=True)
class ReLU:
    """Rectified linear unit; ``inplace`` means it stores no new activation."""

    inplace: bool = True
    name: str = ""


@dataclass(frozen=True)
class Tanh:
    """Hyperbolic tangent (LeNet-5); not in place."""

    inplace: bool = False
    name: str = ""


@dataclass(frozen=True)
class Activation:
    """An element-wise activation by name (elu, gelu, prelu, ...), or maxout: ``pieces`` input
    channels per output channel. ``params`` learnable values per output channel (PReLU: 1)."""

    kind: str = "relu"
    params: int = 0
    pieces: int = 1
    name: str = ""


@dataclass(frozen=True)
class MaxPool2d:
    """Max pooling; ``stride`` defaults to ``kernel_size``."""

    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] | None = None
    padding: int | tuple[int, int] = 0
    ceil_mode: bool = False
    name: str = ""


@dataclass(frozen=True)
class AvgPool2d:
    """Average pooling; ``stride`` defaults to ``kernel_size``."""

    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] | None = None
    padding: int | tuple[int, int] = 0
    ceil_mode: bool = False
    name: str = ""


@dataclass(frozen=True)
class AdaptiveAvgPool2d:
    """Average pooling to a fixed output size; 1 is global average pooling.

    The input size must be a multiple of the output size (windows of equal size).
    """

    output_size: int | tuple[int, int] = 1
    name: str = ""


def GlobalAvgPool2d(name: str = "") -> AdaptiveAvgPool2d:  # noqa: N802 (reads as a layer)
    """Global average pooling: (C, H, W) -> (C, 1, 1)."""
    return AdaptiveAvgPool2d(1, name=name)


@dataclass(frozen=True)
class Flatten:
    """(C, H, W) -> (C * H * W,); a view, so it stores nothing."""

    name: str = ""


@dataclass(frozen=True)
class Dropout:
    """Dropout (inverted); no params; stores its output (and a mask) for training."""

    p: float = 0.5
    name: str = ""


@dataclass(frozen=True)
class Residual:
    """``post(body(x) + shortcut(x))``: a residual block; an empty shortcut is the identity.

    The addition is in place (it stores nothing new), as in torchvision's ResNet. ``post``
    holds the layers applied after the addition (usually a ReLU). Unnamed layers of the
    shortcut are reported as ``shortcut.<i>``.
    """

    body: tuple = field(default_factory=tuple)
    shortcut: tuple = field(default_factory=tuple)
    post: tuple = field(default_factory=tuple)
    name: str = ""

    def __post_init__(self):
        for part in ("body", "shortcut", "post"):
            object.__setattr__(self, part, tuple(getattr(self, part)))
        if not self.body:
            raise ConfigError("Residual body must contain at least one layer")


@dataclass(frozen=True)
class Tokens:
    """A (E, h, w) patch map -> (T, E) tokens, T = h * w (+ 1 with a class token); a learned
    class token (E params) and learned position embeddings (T * E params) when asked for."""

    cls_token: bool = True
    pos_embed: bool = True
    name: str = ""


@dataclass(frozen=True)
class SelfAttention:
    """Multi-head self-attention over (T, E) tokens: Q, K, V and output projections with
    biases (4E^2 + 4E params); MACs 4 T E^2 for the projections + 2 T^2 E for the scores
    and the weighted sum."""

    num_heads: int
    name: str = ""


@dataclass(frozen=True)
class TokenLinear:
    """The same affine map applied to every token: (T, E) -> (T, F), E F + F params."""

    out_features: int
    bias: bool = True
    name: str = ""


@dataclass(frozen=True)
class ClassToken:
    """(T, E) -> (E,): the first (class) token, read by the classifier head."""

    name: str = ""


LAYER_TYPES = (
    Conv2d,
    Linear,
    Norm,
    LocalResponseNorm,
    ReLU,
    Tanh,
    Activation,
    MaxPool2d,
    AvgPool2d,
    AdaptiveAvgPool2d,
    Flatten,
    Dropout,
    Residual,
    Tokens,
    SelfAttention,
    TokenLinear,
    ClassToken,
)

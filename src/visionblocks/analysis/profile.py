"""Walks a list of layer specs over an input shape: shapes, params, MACs, activations, RF.

Counting conventions (the ones of the classic tables and of torchvision's parameter counts):

* params: weights and biases; normalisation layers count gamma and beta (2C), not their
  running statistics (buffers).
* MACs (multiply-accumulates): convolutions (out_h * out_w * out_c * in_c / groups * kh * kw)
  and linear layers (in * out) only; bias additions, normalisation, activations, pooling and
  residual additions are element-wise and not counted. One MAC is two FLOPs.
* activations: elements of the output that a layer stores for the backward pass, per
  example. In-place layers (ReLU, the residual addition) and views (Flatten) store nothing
  new and count 0; the network input counts once.
* receptive field (RF) and effective stride, per axis, by r_out = r_in + (k_eff - 1) j_in and
  j_out = j_in s, with k_eff = dilation (k - 1) + 1. They are the theoretical values (not
  clipped to the input). Flatten, Linear and adaptive pooling widen the RF to the whole
  map. A residual block takes the larger RF of its two branches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import prod

from visionblocks.analysis import layers as L
from visionblocks.analysis.memory import MemoryEstimate, estimate_memory
from visionblocks.analysis.shapes import conv_output_size, pool_output_size
from visionblocks.errors import ConfigError, ShapeError

NORM_NAMES = {
    "batch": "BatchNorm",
    "layer": "LayerNorm",
    "group": "GroupNorm",
    "instance": "InstanceNorm",
}
NORM_KINDS = tuple(NORM_NAMES)


@dataclass
class LayerStats:
    """One row of the analysis.

    Attributes:
        name: dotted layer name ("layer1.0.conv1").
        kind: layer type ("Conv2d", "ReLU", ..., "Add" for a residual addition).
        output_shape: (C, H, W) or (F,) per example.
        params: learnable parameters.
        macs: multiply-accumulates per example.
        activations: output elements stored for backward per example (0 if in place).
        receptive_field: (rh, rw) in input pixels.
        stride: (jh, jw) effective stride of the output grid in input pixels.
        depth: nesting level (0 at the top).
    """

    name: str
    kind: str
    output_shape: tuple
    params: int
    macs: int
    activations: int
    receptive_field: tuple
    stride: tuple
    depth: int = 0


@dataclass
class ModelProfile:
    """The rows of an analysis and their totals.

    Attributes:
        input_shape: (C, H, W) of one example.
        layers: one ``LayerStats`` per layer, nested layers included, in execution order.
        params: total parameters.
        macs: total multiply-accumulates per example.
        activations: stored activation elements per example, input included (training).
        peak_activations: largest number of elements alive at once in inference (inputs and
            outputs of the running layer, plus tensors held for residual additions).
    """

    input_shape: tuple
    layers: list = field(default_factory=list)
    params: int = 0
    macs: int = 0
    activations: int = 0
    peak_activations: int = 0

    def memory(self, batch_size=1, dtype="float32", optimizer="adam") -> MemoryEstimate:
        """Memory for inference and training; see ``estimate_memory``."""
        return estimate_memory(self, batch_size=batch_size, dtype=dtype, optimizer=optimizer)

    def to_dict(self) -> dict:
        """Plain-JSON form of the profile."""
        return asdict(self)


@dataclass
class _State:
    shape: tuple
    rf: tuple = (1, 1)
    jump: tuple = (1, 1)


class _Walker:
    """Applies layers one by one, appending rows and tracking the inference peak."""

    def __init__(self):
        self.rows: list[LayerStats] = []
        self.peak = 0

    def run(self, layers, state: _State, prefix: str, depth: int, held: int, auto: str = ""):
        for i, layer in enumerate(layers):
            if not isinstance(layer, L.LAYER_TYPES):
                raise TypeError(f"{prefix}{i}: not a layer spec: {layer!r}")
            name = prefix + (layer.name or f"{auto}{i}")
            if isinstance(layer, L.Residual):
                state = self._residual(layer, state, name, depth, held)
                continue
            new, params, macs, stored = _apply(layer, state, name)
            in_size, out_size = prod(state.shape), prod(new.shape)
            self.peak = max(self.peak, held + in_size + (out_size if stored else 0))
            kind = NORM_NAMES[layer.kind] if isinstance(layer, L.Norm) else type(layer).__name__
            stored_size = out_size if stored else 0
            row = LayerStats(name, kind, new.shape, params, macs, stored_size, new.rf, new.jump)
            row.depth = depth
            self.rows.append(row)
            state = new
        return state

    def _residual(self, block, state, name, depth, held):
        size = prod(state.shape)
        body = self.run(block.body, state, f"{name}.", depth + 1, held + size)
        short = state
        if block.shortcut:
            held_body = held + prod(body.shape)
            short = self.run(block.shortcut, state, f"{name}.", depth + 1, held_body, "shortcut.")
        if body.shape != short.shape:
            raise ShapeError(
                f"{name}: the residual body gives {body.shape} but the shortcut gives "
                f"{short.shape}; add a projection shortcut (1x1 conv with the body's stride)"
            )
        rf = tuple(max(a, b) for a, b in zip(body.rf, short.rf))
        out = _State(body.shape, rf, body.jump)
        self.rows.append(
            LayerStats(f"{name}.add", "Add", out.shape, 0, 0, 0, rf, out.jump, depth + 1)
        )
        return self.run(block.post, out, f"{name}.", depth + 1, held, "post.")


def _spatial(state: _State, name: str, kind: str):
    if len(state.shape) != 3:
        raise ShapeError(f"{name}: {kind} needs a (C, H, W) input, got shape {state.shape}")
    return state.shape


def _window(state, kernel, stride, dilation=(1, 1)):
    """Receptive field and jump after a window of ``kernel`` with ``stride`` per axis."""
    rf = tuple(r + d * (k - 1) * j for r, k, d, j in zip(state.rf, kernel, dilation, state.jump))
    jump = tuple(j * s for j, s in zip(state.jump, stride))
    return rf, jump


def _whole_map(state: _State) -> _State:
    """RF after a layer that sees the whole (C, H, W) map; 1-D states are unchanged."""
    if len(state.shape) != 3:
        return state
    rf, jump = _window(state, state.shape[1:], (1, 1))
    return _State((prod(state.shape),), rf, jump)


def _apply(layer, state: _State, name: str):
    """Returns (new state, params, macs, stores its output) for one non-residual layer."""
    if isinstance(layer, L.Conv2d):
        c, h, w = _spatial(state, name, "Conv2d")
        k = L.pair(f"{name}: kernel_size", layer.kernel_size, 1)
        s = L.pair(f"{name}: stride", layer.stride, 1)
        p = L.pair(f"{name}: padding", layer.padding, 0)
        d = L.pair(f"{name}: dilation", layer.dilation, 1)
        g = layer.groups
        if not isinstance(g, int) or g < 1 or c % g or layer.out_channels % g:
            raise ConfigError(
                f"{name}: groups={g} must divide the input channels ({c}) and out_channels "
                f"({layer.out_channels})"
            )
        if not isinstance(layer.out_channels, int) or layer.out_channels < 1:
            raise ConfigError(f"{name}: out_channels must be a positive integer")
        ho = conv_output_size(h, k[0], s[0], p[0], d[0], name=f"{name} (height)")
        wo = conv_output_size(w, k[1], s[1], p[1], d[1], name=f"{name} (width)")
        weights = layer.out_channels * (c // g) * k[0] * k[1]
        params = weights + (layer.out_channels if layer.bias else 0)
        rf, jump = _window(state, k, s, d)
        return _State((layer.out_channels, ho, wo), rf, jump), params, weights * ho * wo, True
    if isinstance(layer, (L.MaxPool2d, L.AvgPool2d)):
        c, h, w = _spatial(state, name, type(layer).__name__)
        k = L.pair(f"{name}: kernel_size", layer.kernel_size, 1)
        s = k if layer.stride is None else L.pair(f"{name}: stride", layer.stride, 1)
        p = L.pair(f"{name}: padding", layer.padding, 0)
        ho = pool_output_size(
            h, k[0], s[0], p[0], ceil_mode=layer.ceil_mode, name=f"{name} (height)"
        )
        wo = pool_output_size(
            w, k[1], s[1], p[1], ceil_mode=layer.ceil_mode, name=f"{name} (width)"
        )
        rf, jump = _window(state, k, s)
        return _State((c, ho, wo), rf, jump), 0, 0, True
    if isinstance(layer, L.AdaptiveAvgPool2d):
        c, h, w = _spatial(state, name, "AdaptiveAvgPool2d")
        oh, ow = L.pair(f"{name}: output_size", layer.output_size, 1)
        if h % oh or w % ow:
            raise ShapeError(
                f"{name}: input {h}x{w} is not a multiple of the output size {oh}x{ow}"
            )
        rf, jump = _window(state, (h // oh, w // ow), (h // oh, w // ow))
        return _State((c, oh, ow), rf, jump), 0, 0, True
    if isinstance(layer, L.Flatten):
        return _whole_map(state), 0, 0, False
    if isinstance(layer, L.Linear):
        if not isinstance(layer.out_features, int) or layer.out_features < 1:
            raise ConfigError(f"{name}: out_features must be a positive integer")
        flat = _whole_map(state)
        n_in = flat.shape[0]
        params = n_in * layer.out_features + (layer.out_features if layer.bias else 0)
        macs = n_in * layer.out_features
        return _State((layer.out_features,), flat.rf, flat.jump), params, macs, True
    if isinstance(layer, L.Norm):
        if layer.kind not in NORM_KINDS:
            raise ConfigError(f"{name}: Norm kind must be one of {NORM_KINDS}, got {layer.kind!r}")
        return state, 2 * state.shape[-1 if len(state.shape) == 2 else 0], 0, True  # (T, E): E
    if isinstance(layer, (L.Tokens, L.SelfAttention, L.TokenLinear, L.ClassToken)):
        return _apply_tokens(layer, state, name)
    if isinstance(layer, (L.ReLU, L.Tanh)):
        return state, 0, 0, not layer.inplace
    if isinstance(layer, L.Activation):
        c = state.shape[0]
        if layer.pieces < 1 or c % layer.pieces:
            raise ShapeError(f"{name}: {c} channels do not split into {layer.pieces} pieces")
        shape = (c // layer.pieces, *state.shape[1:])
        return _State(shape, state.rf, state.jump), layer.params * shape[0], 0, True
    if isinstance(layer, L.LocalResponseNorm):
        _spatial(state, name, "LocalResponseNorm")
        return state, 0, 0, True
    if isinstance(layer, L.Dropout):
        if not 0 <= layer.p < 1:
            raise ConfigError(f"{name}: dropout p must lie in [0, 1), got {layer.p}")
        return state, 0, 0, True
    raise TypeError(f"{name}: unsupported layer {type(layer).__name__}")  # pragma: no cover


def _tokens_of(state: _State, name: str, kind: str):
    if len(state.shape) != 2:
        raise ShapeError(f"{name}: {kind} needs (T, E) tokens, got shape {state.shape}")
    return state.shape


def _apply_tokens(layer, state: _State, name: str):
    """The Transformer token layers: (new state, params, macs, stores its output)."""
    if isinstance(layer, L.Tokens):
        e, h, w = _spatial(state, name, "Tokens")
        t = h * w + (1 if layer.cls_token else 0)
        params = (e if layer.cls_token else 0) + (t * e if layer.pos_embed else 0)
        whole = _whole_map(state)  # every token may attend to every patch after this
        return _State((t, e), whole.rf, whole.jump), params, 0, True
    t, e = _tokens_of(state, name, type(layer).__name__)
    if isinstance(layer, L.SelfAttention):
        if not isinstance(layer.num_heads, int) or layer.num_heads < 1 or e % layer.num_heads:
            raise ConfigError(f"{name}: num_heads={layer.num_heads} must divide the width {e}")
        return state, 4 * e * e + 4 * e, 4 * t * e * e + 2 * t * t * e, True
    if isinstance(layer, L.TokenLinear):
        f = layer.out_features
        if not isinstance(f, int) or f < 1:
            raise ConfigError(f"{name}: out_features must be a positive integer")
        params = e * f + (f if layer.bias else 0)
        return _State((t, f), state.rf, state.jump), params, t * e * f, True
    return _State((e,), state.rf, state.jump), 0, 0, False  # ClassToken: a view


def analyze(layers, input_shape) -> ModelProfile:
    """Analyses a network given as layer specs, for one example of ``input_shape``.

    Args:
        layers: list of specs from ``visionblocks.analysis.layers``.
        input_shape: (C, H, W) of one example (no batch dimension).

    Returns:
        A ``ModelProfile`` with one row per layer and the totals; call ``.memory()`` for
        byte counts at a batch size and dtype.

    Raises:
        ShapeError: a layer does not fit its input (kernel larger than the padded map, a
            residual body and shortcut of different shapes, ...).
        ConfigError: a hyper-parameter is out of range.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
        raise ShapeError(
            f"input_shape must be three positive integers (C, H, W), got {input_shape!r}"
        )
    walker = _Walker()
    walker.run(list(layers), _State(shape), "", 0, 0)
    rows = walker.rows
    return ModelProfile(
        input_shape=shape,
        layers=rows,
        params=sum(r.params for r in rows),
        macs=sum(r.macs for r in rows),
        activations=prod(shape) + sum(r.activations for r in rows),
        peak_activations=max(walker.peak, prod(shape)),
    )

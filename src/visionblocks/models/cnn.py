"""Convolutional networks: the classic ThreeLayerConvNet and a configurable ConvNet.

``ConvNet`` follows ``[(conv - norm - act) x N - pool] x M - (affine - act) x K - affine``,
with any registered activation (relu by default), optionally with residual stages, in float32 by
default. Feature maps flow between the fast layers
as (N, C, H, W) arrays with channels-last memory (see ``visionblocks.layers.im2col``).
"""

from __future__ import annotations

import numpy as np

from visionblocks.errors import ShapeError
from visionblocks.layers import (
    affine_backward,
    affine_forward,
    affine_norm_act_backward,
    affine_norm_act_forward,
    affine_relu_backward,
    affine_relu_forward,
    conv_norm_act_backward,
    conv_norm_act_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    dropout_backward,
    dropout_forward,
    global_avg_pool_backward,
    global_avg_pool_forward,
    max_pool_backward_fast,
    max_pool_forward_fast,
    residual_block_backward,
    residual_block_forward,
    softmax_loss,
)
from visionblocks.layers.composite import activation_entry
from visionblocks.layers.im2col import channels_last
from visionblocks.models.base import Model
from visionblocks.models.init import init_weight

POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
CONV_NORMALIZATIONS = (None, "batchnorm", "groupnorm")


def _image_input(model, X):
    """Checks X against model.input_dim (C, H, W); returns it as (N, C, H, W) of model.dtype."""
    X = model._check_input(X, model.input_dim)
    return X.reshape(X.shape[0], *model.input_dim)  # (N, C, H, W)


def _conv_weight(rng, f, c, k, weight_scale, init, dtype):
    """A (F, C, K, K) filter bank; He/Xavier fans count the K * K window."""
    return init_weight(rng, (f, c, k, k), c * k * k, f * k * k, weight_scale, init, dtype)


class ThreeLayerConvNet(Model):
    """The classic conv - relu - 2x2 max pool - affine - relu - affine - softmax network.

    Parameters ``W1, b1`` (conv), ``W2, b2`` (hidden affine), ``W3, b3`` (scores); the loss is
    softmax cross-entropy plus ``0.5 * reg * sum(W**2)`` over the three weights.
    """

    def __init__(
        self,
        input_dim=(3, 32, 32),
        num_filters=32,
        filter_size=7,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=np.float32,
        seed=None,
        init=None,
    ):
        """Builds the parameters.

        Args:
            input_dim: (C, H, W) of one image; H and W must be even (2x2 pooling).
            num_filters: filters of the convolution.
            filter_size: odd width of the square filters ('same' padding, stride 1).
            hidden_dim: units of the hidden affine layer.
            num_classes: number of classes.
            weight_scale: std of the Gaussian initialisation when init is None.
            reg: L2 regularisation strength.
            dtype: float32 for training, float64 for gradient checks.
            seed: seeds the initialisation.
            init: None/'gaussian', 'he' or 'xavier'.
        """
        c, h, w = (int(v) for v in input_dim)
        if filter_size % 2 == 0 or h % 2 or w % 2:
            raise ShapeError(
                f"ThreeLayerConvNet needs an odd filter_size and even H, W; got filter_size "
                f"{filter_size}, input_dim {tuple(input_dim)}"
            )
        self.input_dim = (c, h, w)
        self.reg = reg
        self.dtype = dtype
        self.rng = np.random.default_rng(seed)
        pooled = num_filters * (h // 2) * (w // 2)
        self.params = {
            "W1": _conv_weight(self.rng, num_filters, c, filter_size, weight_scale, init, dtype),
            "b1": np.zeros(num_filters, dtype=dtype),
            "W2": init_weight(self.rng, (pooled, hidden_dim), pooled, hidden_dim, weight_scale,
                              init, dtype),
            "b2": np.zeros(hidden_dim, dtype=dtype),
            "W3": init_weight(self.rng, (hidden_dim, num_classes), hidden_dim, num_classes,
                              weight_scale, init, dtype),
            "b3": np.zeros(num_classes, dtype=dtype),
        }  # fmt: skip
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}

    def loss(self, X, y=None):
        """Scores for X, or the loss and gradients when labels are given.

        Args:
            X: (N, C, H, W) images (or (N, C * H * W) rows).
            y: (N,) integer labels, or None.

        Returns:
            scores: (N, num_classes) when y is None; otherwise (loss, grads) keyed like params.
        """
        X = _image_input(self, X)
        p = self.params
        h1, cache1 = conv_relu_pool_forward(X, p["W1"], p["b1"], self.conv_param, POOL)
        h2, cache2 = affine_relu_forward(h1, p["W2"], p["b2"])
        scores, cache3 = affine_forward(h2, p["W3"], p["b3"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh2, grads["W3"], grads["b3"] = affine_backward(dscores, cache3)
        dh1, grads["W2"], grads["b2"] = affine_relu_backward(dh2, cache2)
        dh1 = channels_last(dh1)  # (N, F, H/2, W/2), the layout of the pooled maps
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dh1, cache1)
        loss += self.l2_penalty(grads, ["W1", "W2", "W3"])
        return loss, grads


class ConvNet(Model):
    """``[(conv - norm - act) x N - 2x2 max pool] x M - (affine - act) x K - affine - softmax``.

    Stage ``s`` has ``num_filters[s]`` filters. With ``residual=True`` each stage is
    ``convs_per_stage / 2`` basic residual blocks (conv-bn-relu, conv-bn, shortcut, relu) with a
    1x1 projection where the channel count changes. With ``global_pool=True`` the last stage ends
    in global average pooling instead of max pooling.

    Parameters: conv ``W{i}, b{i}`` (and ``gamma{i}, beta{i}`` with normalisation), projections
    ``Wproj{i}, bproj{i}``, then the affine layers ``W{j}, b{j}`` numbered after the convs; an
    activation with learnable parameters adds them to every conv and hidden affine layer
    (PReLU: ``alpha{i}``, one slope per channel); maxout with k pieces gives those layers k
    times the channels. The loss adds ``0.5 * reg * sum(W**2)`` over every weight whose name
    starts with W. Residual stages use ReLU.
    """

    def __init__(
        self,
        input_dim=(3, 32, 32),
        num_filters=(32, 64),
        convs_per_stage=2,
        hidden_dims=(256,),
        num_classes=10,
        filter_size=3,
        normalization="batchnorm",
        groups=8,
        residual=False,
        global_pool=False,
        dropout_keep=1.0,
        reg=0.0,
        weight_scale=1e-2,
        init="he",
        dtype=np.float32,
        seed=None,
        activation="relu",
    ):
        """Builds the parameters.

        Args:
            input_dim: (C, H, W) of one image; H and W must halve evenly at every max pool.
            num_filters: filters of each stage (M = len(num_filters) stages).
            convs_per_stage: N, convolutions per stage (even when residual).
            hidden_dims: sizes of the K hidden affine layers.
            num_classes: number of classes.
            filter_size: odd width of the square filters ('same' padding, stride 1).
            normalization: None, 'batchnorm' or 'groupnorm' after each convolution.
            groups: G of group norm (must divide every num_filters).
            residual: build the stages from residual blocks (needs batchnorm).
            global_pool: end the last stage with global average pooling.
            dropout_keep: keep probability of dropout after each hidden affine layer.
            reg: L2 regularisation strength.
            weight_scale: std of the Gaussian initialisation when init is None.
            init: 'he' (default), 'xavier' or None/'gaussian'.
            dtype: float32 (default) for training, float64 for gradient checks.
            seed: seeds the initialisation and the dropout masks.
            activation: a name in ``visionblocks.layers.ACTIVATIONS`` (relu, elu, gelu, ...).
        """
        c, h, w = (int(v) for v in input_dim)
        self.act, self.activation = activation_entry(activation), activation
        if residual and activation != "relu":
            raise ValueError(f"residual stages use relu; got activation={activation!r}")
        self.num_filters = [int(f) for f in num_filters]
        self.convs_per_stage = int(convs_per_stage)
        if normalization not in CONV_NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {CONV_NORMALIZATIONS}, got {normalization!r}"
            )
        if not self.num_filters or min(self.num_filters) < 1 or self.convs_per_stage < 1:
            raise ValueError(
                f"need at least one stage of >= 1 conv, got num_filters={num_filters}, "
                f"convs_per_stage={convs_per_stage}"
            )
        if residual and (normalization != "batchnorm" or self.convs_per_stage % 2):
            raise ValueError("residual stages need normalization='batchnorm' and even convs")
        if normalization == "groupnorm" and any(f % groups for f in self.num_filters):
            raise ValueError(f"groups={groups} must divide every num_filters {num_filters}")
        if filter_size % 2 == 0:
            raise ShapeError(f"filter_size must be odd ('same' padding), got {filter_size}")
        pools = len(self.num_filters) - int(bool(global_pool))
        if h % 2**pools or w % 2**pools:
            raise ShapeError(
                f"input {h}x{w} does not halve evenly through {pools} 2x2 max pools; "
                "change the number of stages or use global_pool"
            )
        if not 0 < dropout_keep <= 1:
            raise ValueError(f"dropout_keep must be in (0, 1], got {dropout_keep}")
        self.input_dim = (c, h, w)
        self.normalization, self.groups = normalization, int(groups)
        self.residual, self.global_pool = bool(residual), bool(global_pool)
        self.reg, self.dtype = reg, dtype
        self.rng = np.random.default_rng(seed)
        self.params, self.norm_params = {}, {}
        self.conv_param = {"stride": 1, "pad": filter_size // 2}
        i, c_in = 0, c
        for s, f in enumerate(self.num_filters):
            for k in range(self.convs_per_stage):
                i += 1
                width = f * self.act.pieces  # maxout widens the convolution
                self.params[f"W{i}"] = _conv_weight(
                    self.rng, width, c_in, filter_size, weight_scale, init, dtype
                )
                self.params[f"b{i}"] = np.zeros(width, dtype=dtype)
                if normalization:
                    self.params[f"gamma{i}"] = np.ones(width, dtype=dtype)
                    self.params[f"beta{i}"] = np.zeros(width, dtype=dtype)
                    self.norm_params[i] = {"mode": "train"}
                    if normalization == "groupnorm":
                        self.norm_params[i]["G"] = self.groups
                self._add_act_params(i, f)
                if residual and k % 2 == 0 and c_in != f:
                    self.params[f"Wproj{i}"] = _conv_weight(
                        self.rng, f, c_in, 1, weight_scale, init, dtype
                    )
                    self.params[f"bproj{i}"] = np.zeros(f, dtype=dtype)
                c_in = f
            if not (global_pool and s == len(self.num_filters) - 1):
                h, w = h // 2, w // 2
        self.num_convs = i
        dims = [c_in if global_pool else c_in * h * w, *[int(d) for d in hidden_dims]]
        dims.append(int(num_classes))
        last = i + len(dims) - 1
        for j, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:]), start=i + 1):
            width = d_out * self.act.pieces if j < last else d_out
            self.params[f"W{j}"] = init_weight(
                self.rng, (d_in, width), d_in, width, weight_scale, init, dtype
            )
            self.params[f"b{j}"] = np.zeros(width, dtype=dtype)
            if j < last:
                self._add_act_params(j, d_out)
        self.num_affine = len(dims) - 1
        self.dropout_param = {"mode": "train", "p": dropout_keep, "rng": self.rng}

    def _add_act_params(self, i, channels):
        """The activation's learnable parameters of layer i (PReLU: alpha{i})."""
        values = self.act.init_params(channels, self.dtype)
        for (name, _), value in zip(self.act.params, values):
            self.params[f"{name}{i}"] = value

    def _act_params(self, i):
        return [self.params[f"{name}{i}"] for name, _ in self.act.params]

    def _grad_names(self, i, norm):
        names = ["W", "b"] + (["gamma", "beta"] if norm else [])
        return [f"{n}{i}" for n in names + [name for name, _ in self.act.params]]

    def buffers(self):
        if self.normalization != "batchnorm":
            return {}
        out = {}
        for i, p in self.norm_params.items():
            if "running_mean" in p:
                out[f"running_mean{i}"] = p["running_mean"]
                out[f"running_var{i}"] = p["running_var"]
        return out

    def load_buffers(self, buffers):
        for key, value in buffers.items():
            name = "running_mean" if key.startswith("running_mean") else "running_var"
            self.norm_params[int(key[len(name) :])][name] = np.asarray(value, self.dtype)

    def _conv_layer(self, h, i):
        """One conv(-norm)-activation layer i on (N, C, H, W) maps; returns (out, cache)."""
        p = self.params
        norm = (p[f"gamma{i}"], p[f"beta{i}"]) if self.normalization else (None, None)
        return conv_norm_act_forward(
            h, p[f"W{i}"], p[f"b{i}"], *norm, self.conv_param, self.norm_params.get(i),
            self.normalization, self.activation, *self._act_params(i),
        )  # fmt: skip

    def _residual_layer(self, h, i):
        """The residual block of convs i and i + 1; returns (out, cache)."""
        p = self.params
        block_param = {"bn_params": [self.norm_params[i], self.norm_params[i + 1]]}
        main = [p[f"{k}{j}"] for j in (i, i + 1) for k in ("W", "b", "gamma", "beta")]
        proj = [p[f"Wproj{i}"], p[f"bproj{i}"]] if f"Wproj{i}" in p else []
        return residual_block_forward(h, *main, block_param, *proj)

    def loss(self, X, y=None):
        """Scores for X, or the loss and gradients when labels are given.

        Args:
            X: (N, C, H, W) images (or (N, C * H * W) rows).
            y: (N,) integer labels, or None for test-mode scores.

        Returns:
            scores: (N, num_classes) when y is None; otherwise (loss, grads) keyed like params.
        """
        h = _image_input(self, X)
        mode = "test" if y is None else "train"
        self.dropout_param["mode"] = mode
        for p in self.norm_params.values():
            p["mode"] = mode
        caches, i = [], 1
        step = 2 if self.residual else 1
        layer = self._residual_layer if self.residual else self._conv_layer
        for s in range(len(self.num_filters)):
            for _ in range(self.convs_per_stage // step):
                h, cache = layer(h, i)
                caches.append(("res" if self.residual else "conv", i, cache))
                i += step
            if self.global_pool and s == len(self.num_filters) - 1:
                h, cache = global_avg_pool_forward(h)
                caches.append(("gap", None, cache))
            else:
                h, cache = max_pool_forward_fast(h, POOL)
                caches.append(("pool", h.shape, cache))
        first = self.num_convs + 1
        last = self.num_convs + self.num_affine
        for j in range(first, last):
            h, cache = affine_norm_act_forward(
                h, self.params[f"W{j}"], self.params[f"b{j}"], None, None, None, None,
                self.activation, *self._act_params(j),
            )  # fmt: skip
            h, drop_cache = dropout_forward(h, self.dropout_param)
            caches.append(("fc", j, (cache, drop_cache)))
        scores, out_cache = affine_forward(h, self.params[f"W{last}"], self.params[f"b{last}"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh, grads[f"W{last}"], grads[f"b{last}"] = affine_backward(dscores, out_cache)
        for kind, key, cache in reversed(caches):
            if kind == "fc":
                dh = dropout_backward(dh, cache[1])
                dh, *g = affine_norm_act_backward(dh, cache[0])
                grads.update(zip(self._grad_names(key, False), g))
            elif kind == "pool":
                dh = channels_last(dh.reshape(key))  # (N, C, H, W) as pooled
                dh = max_pool_backward_fast(dh, cache)
            elif kind == "gap":
                dh = global_avg_pool_backward(dh, cache)
            elif kind == "conv":
                dh, *g = conv_norm_act_backward(dh, cache)
                grads.update(zip(self._grad_names(key, self.normalization), g))
            else:
                dh, *g = residual_block_backward(dh, cache)
                names = [f"{k}{j}" for j in (key, key + 1) for k in ("W", "b", "gamma", "beta")]
                names += [f"Wproj{key}", f"bproj{key}"]
                grads.update(zip(names, g))
        loss += self.l2_penalty(grads, [k for k in self.params if k.startswith("W")])
        return loss, grads

"""Fully-connected networks: {affine - [norm] - activation - [dropout]} x (L - 1) - affine -
softmax, with any registered activation (relu by default)."""

from __future__ import annotations

import numpy as np

from visionblocks.layers import (
    affine_backward,
    affine_forward,
    affine_norm_act_backward,
    affine_norm_act_forward,
    dropout_backward,
    dropout_forward,
    softmax_loss,
)
from visionblocks.layers.composite import activation_entry
from visionblocks.models.base import Model
from visionblocks.models.init import init_weight

NORMALIZATIONS = (None, "batchnorm", "layernorm")
#: How a model draws its dropout masks: the same mask on every forward pass, or fresh ones.
DROPOUT_MASKS = ("fixed", "fresh")


class FullyConnectedNet(Model):
    """A fully-connected net of any depth with optional batch/layer norm, dropout and any
    registered activation.

    Parameters are ``W1, b1, ..., WL, bL`` and, with normalisation, ``gamma1, beta1, ...`` for
    the hidden layers; an activation with learnable parameters adds them per hidden layer
    (PReLU: ``alpha1, alpha2, ...``). Maxout with k pieces widens each hidden affine layer to
    k times its size. The loss is softmax cross-entropy plus ``0.5 * reg * sum(W**2)`` over the
    weights only.
    """

    def __init__(
        self,
        hidden_dims,
        input_dim=3 * 32 * 32,
        num_classes=10,
        dropout_keep_ratio=1,
        normalization=None,
        reg=0.0,
        weight_scale=1e-2,
        dtype=np.float32,
        seed=None,
        init=None,
        activation="relu",
        dropout_masks=None,
    ):
        """Builds the parameters.

        Args:
            hidden_dims: list of hidden layer sizes.
            input_dim: features per example (an (N, C, H, W) batch flattens to C * H * W).
            num_classes: number of classes.
            dropout_keep_ratio: keep probability of dropout after each hidden layer (1 = none).
            normalization: None, 'batchnorm' or 'layernorm'.
            reg: L2 regularisation strength.
            weight_scale: std of the Gaussian initialisation when init is None.
            dtype: float32 for training, float64 for gradient checks. The maths runs in the
                dtype of the parameters the model holds, so assigning float64 arrays to
                ``params`` gives float64 results.
            seed: seeds the initialisation and the dropout masks.
            init: None/'gaussian', 'he' or 'xavier'.
            activation: a name in ``visionblocks.layers.ACTIVATIONS`` (relu, elu, gelu, ...).
            dropout_masks: 'fixed' draws the same dropout mask (from ``seed``) on every forward
                pass, as the course's model built with a seed does, so numerical gradient
                checks of a net with dropout pass; 'fresh' draws new masks from ``self.rng``
                on every pass, for training. Default: 'fixed' when a seed is given, else
                'fresh'.
        """
        hidden_dims = [int(h) for h in hidden_dims]
        if any(h <= 0 for h in hidden_dims) or input_dim <= 0 or num_classes <= 1:
            raise ValueError(
                f"sizes must be positive with >= 2 classes, got hidden_dims={hidden_dims}, "
                f"input_dim={input_dim}, num_classes={num_classes}"
            )
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        if not 0 < dropout_keep_ratio <= 1:
            raise ValueError(f"dropout_keep_ratio must be in (0, 1], got {dropout_keep_ratio}")
        self.act = activation_entry(activation)
        self.activation = activation
        if dropout_masks is None:
            dropout_masks = "fresh" if seed is None else "fixed"
        if dropout_masks not in DROPOUT_MASKS:
            raise ValueError(f"dropout_masks must be one of {DROPOUT_MASKS}, got {dropout_masks!r}")
        if dropout_masks == "fixed" and seed is None:
            raise ValueError("dropout_masks='fixed' needs a seed to fix the masks, got seed=None")
        self.input_dim = int(input_dim)
        self.num_classes = int(num_classes)
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.rng = np.random.default_rng(seed)
        self.params = {}
        dims = [self.input_dim, *hidden_dims, self.num_classes]
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:]), start=1):
            hidden = i < self.num_layers
            width = d_out * self.act.pieces if hidden else d_out  # maxout widens the affine
            self.params[f"W{i}"] = init_weight(
                self.rng, (d_in, width), d_in, width, weight_scale, init, dtype
            )
            self.params[f"b{i}"] = np.zeros(width, dtype=dtype)
            if normalization and hidden:
                self.params[f"gamma{i}"] = np.ones(width, dtype=dtype)
                self.params[f"beta{i}"] = np.zeros(width, dtype=dtype)
            if hidden:
                for (name, _), value in zip(self.act.params, self.act.init_params(d_out, dtype)):
                    self.params[f"{name}{i}"] = value
        self.dropout_masks = dropout_masks
        self.dropout_param = {"mode": "train", "p": dropout_keep_ratio, "rng": self.rng}
        if dropout_masks == "fixed":
            self.dropout_param["seed"] = seed
        self.norm_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]

    def buffers(self):
        if self.normalization != "batchnorm":
            return {}
        out = {}
        for i, p in enumerate(self.norm_params, start=1):
            if "running_mean" in p:
                out[f"running_mean{i}"] = p["running_mean"]
                out[f"running_var{i}"] = p["running_var"]
        return out

    def load_buffers(self, buffers):
        for key, value in buffers.items():
            name = "running_mean" if key.startswith("running_mean") else "running_var"
            self.norm_params[int(key[len(name) :]) - 1][name] = np.asarray(value, self.dtype)

    def _hidden_forward(self, X, mode):
        """Runs the hidden layers; returns the last hidden activations and the caches."""
        X = self._check_input(X, (self.input_dim,))
        self.dropout_param["mode"] = mode
        for p in self.norm_params:
            p["mode"] = mode
        caches = []
        h = X
        p = self.params
        for i in range(1, self.num_layers):
            norm = (p[f"gamma{i}"], p[f"beta{i}"]) if self.normalization else (None, None)
            act_params = [p[f"{name}{i}"] for name, _ in self.act.params]
            h, cache = affine_norm_act_forward(
                h, p[f"W{i}"], p[f"b{i}"], *norm, self.norm_params[i - 1], self.normalization,
                self.activation, *act_params,
            )  # fmt: skip
            drop_cache = None
            if self.use_dropout:
                h, drop_cache = dropout_forward(h, self.dropout_param)
            caches.append((cache, drop_cache))
        return h, caches

    def features(self, X):
        """Penultimate features: the last hidden layer's activations in test mode.

        Args:
            X: (N, d_1, ..., d_k) input.

        Returns:
            (N, hidden_dims[-1]) activations.
        """
        return self._hidden_forward(X, "test")[0]

    def loss(self, X, y=None):
        """Scores for X, or the loss and gradients when labels are given.

        Args:
            X: (N, d_1, ..., d_k) input with d_1 * ... * d_k == input_dim.
            y: (N,) integer labels, or None for test-mode scores.

        Returns:
            scores: (N, num_classes) when y is None; otherwise (loss, grads) with grads
            having the keys of ``params``.
        """
        h, caches = self._hidden_forward(X, "test" if y is None else "train")
        last = self.num_layers
        scores, last_cache = affine_forward(h, self.params[f"W{last}"], self.params[f"b{last}"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh, grads[f"W{last}"], grads[f"b{last}"] = affine_backward(dscores, last_cache)
        for i in range(self.num_layers - 1, 0, -1):
            cache, drop_cache = caches[i - 1]
            if drop_cache is not None:
                dh = dropout_backward(dh, drop_cache)
            dh, *layer_grads = affine_norm_act_backward(dh, cache)
            names = ["W", "b"] + (["gamma", "beta"] if self.normalization else [])
            names += [name for name, _ in self.act.params]
            grads.update({f"{name}{i}": g for name, g in zip(names, layer_grads)})
        weights = [f"W{i}" for i in range(1, self.num_layers + 1)]
        loss += self.l2_penalty(grads, weights)
        return loss, grads


class TwoLayerNet(FullyConnectedNet):
    """The classic affine - relu - affine - softmax net with params W1, b1, W2, b2.

    Float64 by default, as the course's TwoLayerNet (pass ``dtype=np.float32`` to train faster).
    """

    def __init__(
        self,
        input_dim=3 * 32 * 32,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=np.float64,
        seed=None,
        init=None,
    ):
        super().__init__(
            [hidden_dim],
            input_dim=input_dim,
            num_classes=num_classes,
            reg=reg,
            weight_scale=weight_scale,
            dtype=dtype,
            seed=seed,
            init=init,
        )

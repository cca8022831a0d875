"""``FullyConnectedNet`` written on the autograd engine, from registry layers or primitives.

Same parameters, initialisation and loss as ``visionblocks.models.FullyConnectedNet`` (it
subclasses it for the constructor); only ``loss`` differs: it builds the graph and calls
``backward()`` instead of chaining hand-written backward passes.
"""

from __future__ import annotations

import numpy as np

from visionblocks.autograd import ops
from visionblocks.autograd.bridge import layer_node
from visionblocks.autograd.tensor import Tensor, no_grad
from visionblocks.models.fc_net import FullyConnectedNet

__all__ = ["BUILDS", "PRIMITIVE_ACTIVATIONS", "GraphFullyConnectedNet"]

#: How the graph is made: one node per registered layer pair, or from primitives only.
BUILDS = ("layers", "primitives")
#: The activations the primitives build offers (the layers build takes every registered one).
PRIMITIVE_ACTIVATIONS = {"relu": ops.relu, "tanh": ops.tanh, "sigmoid": ops.sigmoid}


class GraphFullyConnectedNet(FullyConnectedNet):
    """{affine - activation} x (L - 1) - affine - softmax on the autograd engine.

    Args:
        hidden_dims, input_dim, num_classes, reg, weight_scale, dtype, seed, init, activation:
            as ``FullyConnectedNet`` (no normalisation or dropout here).
        build: 'layers' makes each affine, activation and the loss one ``layer_node`` of the
            registered pair; 'primitives' writes them with matmul, add, relu, exp, log, ...
    """

    def __init__(
        self,
        hidden_dims,
        input_dim=3 * 32 * 32,
        num_classes=10,
        reg=0.0,
        weight_scale=1e-2,
        dtype=np.float32,
        seed=None,
        init=None,
        activation="relu",
        build="layers",
    ):
        if build not in BUILDS:
            raise ValueError(f"build must be one of {BUILDS}, got {build!r}")
        if build == "primitives" and activation not in PRIMITIVE_ACTIVATIONS:
            raise ValueError(
                f"build='primitives' offers activation in {sorted(PRIMITIVE_ACTIVATIONS)}, got "
                f"{activation!r} (build='layers' takes every registered activation)"
            )
        super().__init__(
            hidden_dims, input_dim=input_dim, num_classes=num_classes, reg=reg,
            weight_scale=weight_scale, dtype=dtype, seed=seed, init=init, activation=activation,
        )  # fmt: skip
        self.build = build

    def graph(self, X, y=None):
        """Builds the graph: returns (scores or loss tensor, {name: parameter tensor})."""
        X = self._check_input(X, (self.input_dim,))
        params = {k: Tensor(v, requires_grad=True, name=k) for k, v in self.params.items()}
        h = Tensor(X, name="X")
        for i in range(1, self.num_layers + 1):
            w, b = params[f"W{i}"], params[f"b{i}"]
            if self.build == "layers":
                h = layer_node("affine", h, w, b)
            else:
                h = ops.affine(h, w, b)
            if i == self.num_layers:
                break
            if self.build == "primitives":
                h = PRIMITIVE_ACTIVATIONS[self.activation](h)
            elif self.act.pieces > 1:
                h = layer_node(self.activation, h, self.act.pieces)
            else:
                h = layer_node(self.activation, h, *(params[f"{n}{i}"] for n, _ in self.act.params))
        if y is None:
            return h, params
        if self.build == "layers":
            loss = layer_node("softmax_loss", h, np.asarray(y))
        else:
            loss = ops.softmax_cross_entropy(h, y)
        for i in range(1, self.num_layers + 1):  # 0.5 * reg * sum(W**2), from primitives
            w = params[f"W{i}"]
            loss = loss + 0.5 * self.reg * (w * w).sum()
        return loss, params

    def loss(self, X, y=None):
        """Scores for X, or (loss, grads) with the keys of ``params``, as FullyConnectedNet.

        Args:
            X: (N, d_1, ..., d_k) input with d_1 * ... * d_k == input_dim.
            y: (N,) integer labels, or None for scores.
        """
        if y is None:
            with no_grad():
                return self.graph(X)[0].data
        loss, params = self.graph(X, y)
        loss.backward()
        return float(loss.data), {k: p.grad for k, p in params.items()}

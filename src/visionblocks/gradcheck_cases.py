"""The gradient-check table: one row per layer pair. Adding a layer means adding a row here."""

from __future__ import annotations

import numpy as np

from visionblocks import layers as L
from visionblocks.gradcheck import LayerCase
from visionblocks.gradcheck_cases_conv import CONV_CASES


def _away_from_zero(rng, shape, margin=0.05):
    """Normal samples pushed at least ``margin`` away from 0, so relu-like kinks are not hit."""
    x = rng.standard_normal(shape)
    return x + np.sign(x) * margin


def _norm_args(rng, n=6, d=5):
    x = 2.0 * rng.standard_normal((n, d)) + 1.0
    return x, rng.standard_normal(d), rng.standard_normal(d)


def _affine_norm_relu_args(rng):
    x = rng.standard_normal((5, 2, 3))
    w, b = rng.standard_normal((6, 4)), rng.standard_normal(4)
    return x, w, b, rng.standard_normal(4), rng.standard_normal(4)


LAYER_CASES: list[LayerCase] = [
    LayerCase(
        "affine",
        L.affine_forward,
        L.affine_backward,
        lambda r: (r.standard_normal((4, 2, 3)), r.standard_normal((6, 5)), r.standard_normal(5)),
        ("x", "w", "b"),
        ("x", "w", "b"),
    ),
    LayerCase(
        "relu",
        L.relu_forward,
        L.relu_backward,
        lambda r: (_away_from_zero(r, (4, 5)),),
        ("x",),
        ("x",),
        kink=True,
    ),
    LayerCase(
        "leaky_relu",
        lambda x: L.leaky_relu_forward(x, 0.1),
        L.leaky_relu_backward,
        lambda r: (_away_from_zero(r, (4, 5)),),
        ("x",),
        ("x",),
        kink=True,
    ),
    LayerCase(
        "sigmoid",
        L.sigmoid_forward,
        L.sigmoid_backward,
        lambda r: (3 * r.standard_normal((4, 5)),),
        ("x",),
        ("x",),
    ),
    LayerCase(
        "tanh",
        L.tanh_forward,
        L.tanh_backward,
        lambda r: (r.standard_normal((4, 5)),),
        ("x",),
        ("x",),
    ),
    LayerCase(
        "dropout",
        L.dropout_forward,
        L.dropout_backward,
        lambda r: (r.standard_normal((6, 5)), {"p": 0.7, "mode": "train", "seed": 3}),
        ("x", "dropout_param"),
        ("x",),
    ),
    LayerCase(
        "batchnorm",
        lambda x, g, b: L.batchnorm_forward(x, g, b, {"mode": "train"}),
        L.batchnorm_backward,
        _norm_args,
        ("x", "gamma", "beta"),
        ("x", "gamma", "beta"),
    ),
    LayerCase(
        "batchnorm_alt",
        lambda x, g, b: L.batchnorm_forward(x, g, b, {"mode": "train"}),
        L.batchnorm_backward_alt,
        _norm_args,
        ("x", "gamma", "beta"),
        ("x", "gamma", "beta"),
    ),
    LayerCase(
        "layernorm",
        lambda x, g, b: L.layernorm_forward(x, g, b, {}),
        L.layernorm_backward,
        _norm_args,
        ("x", "gamma", "beta"),
        ("x", "gamma", "beta"),
    ),
    LayerCase(
        "affine_relu",
        L.affine_relu_forward,
        L.affine_relu_backward,
        lambda r: (r.standard_normal((4, 6)), r.standard_normal((6, 5)), r.standard_normal(5)),
        ("x", "w", "b"),
        ("x", "w", "b"),
        kink=True,
    ),
    LayerCase(
        "affine_batchnorm_relu",
        lambda x, w, b, g, be: L.affine_norm_relu_forward(x, w, b, g, be, {}, "batchnorm"),
        L.affine_norm_relu_backward,
        _affine_norm_relu_args,
        ("x", "w", "b", "gamma", "beta"),
        ("x", "w", "b", "gamma", "beta"),
        kink=True,
        zero_grads=("b",),  # batch norm removes any per-feature shift before it
    ),
    LayerCase(
        "affine_layernorm_relu",
        lambda x, w, b, g, be: L.affine_norm_relu_forward(x, w, b, g, be, {}, "layernorm"),
        L.affine_norm_relu_backward,
        _affine_norm_relu_args,
        ("x", "w", "b", "gamma", "beta"),
        ("x", "w", "b", "gamma", "beta"),
        kink=True,
    ),
    LayerCase(
        "svm_loss",
        L.svm_loss,
        None,
        lambda r: (r.standard_normal((7, 4)), r.integers(0, 4, 7)),
        ("x", "y"),
        ("x",),
        kink=True,
    ),
    LayerCase(
        "softmax_loss",
        L.softmax_loss,
        None,
        lambda r: (r.standard_normal((7, 4)), r.integers(0, 4, 7)),
        ("x", "y"),
        ("x",),
    ),
]
LAYER_CASES += CONV_CASES  # the convolutional rows (issue 4)


def find_case(name: str) -> LayerCase:
    """Returns the row named ``name``."""
    for case in LAYER_CASES:
        if case.name == name:
            return case
    raise KeyError(f"no gradient-check case named {name!r}")

"""Gradient-check rows of the convolutional layers, appended to ``gradcheck_cases.LAYER_CASES``."""

from __future__ import annotations

import numpy as np

from visionblocks import layers as L
from visionblocks.gradcheck import LayerCase

POOL_2x2 = {"pool_height": 2, "pool_width": 2, "stride": 2}
POOL_3x3_S1 = {"pool_height": 3, "pool_width": 3, "stride": 1}


def _conv_args(conv_param, shape=(2, 3, 5, 5), filters=4, size=3):
    def make(r):
        w = r.standard_normal((filters, shape[1], size, size))
        return r.standard_normal(shape), w, r.standard_normal(filters), dict(conv_param)

    return make


def _distinct(r, shape):
    """Values at least 0.1 apart (a shuffled grid plus jitter), so no max sits on a tie."""
    n = int(np.prod(shape))
    return (r.permutation(n) + 0.5 * r.random(n)).reshape(shape) * 0.2 - 0.1 * n


def _pool_args(pool_param, shape=(2, 3, 6, 6)):
    return lambda r: (_distinct(r, shape), dict(pool_param))


def _norm4d_args(r, shape=(3, 4, 3, 2)):
    x = 2.0 * r.standard_normal(shape) + 1.0
    return x, r.standard_normal(shape[1]), r.standard_normal(shape[1])


def _unpool_args(r):
    x = _distinct(r, (2, 3, 4, 6))
    _, cache = L.max_pool_forward_fast(x, POOL_2x2)
    values = r.standard_normal((2, 3, 2, 3))
    return values, L.max_pool_indices(cache), {**POOL_2x2, "output_size": (4, 6)}


def _conv_norm_args(r):
    x, w = r.standard_normal((3, 2, 4, 4)), r.standard_normal((4, 2, 3, 3))
    return x, w, r.standard_normal(4), r.standard_normal(4), r.standard_normal(4)


def _residual_args(channels_in, channels_out, projection, size=4):
    def make(r):
        x = r.standard_normal((2, channels_in, size, size))
        args = [x]
        for c_in in (channels_in, channels_out):
            args += [
                0.5 * r.standard_normal((channels_out, c_in, 3, 3)),
                r.standard_normal(channels_out),
                1.0 + 0.2 * r.standard_normal(channels_out),
                r.standard_normal(channels_out),
            ]
        if projection:
            args += [r.standard_normal((channels_out, channels_in, 1, 1))]
            args += [r.standard_normal(channels_out)]
        return tuple(args)

    return make


_RES_NAMES = ("x", "w1", "b1", "gamma1", "beta1", "w2", "b2", "gamma2", "beta2")


def _residual_forward(stride):
    def forward(*args):
        main, proj = args[:9], args[9:]
        return L.residual_block_forward(*main, {"stride": stride}, *proj)

    return forward


CONV_CASES: list[LayerCase] = [
    LayerCase(
        "conv_naive",
        L.conv_forward_naive,
        L.conv_backward_naive,
        _conv_args({"stride": 2, "pad": 1}, shape=(2, 3, 7, 5)),
        ("x", "w", "b", "conv_param"),
        ("x", "w", "b"),
    ),
    LayerCase(
        "conv_fast",
        L.conv_forward_fast,
        L.conv_backward_fast,
        _conv_args({"stride": 1, "pad": 1}),
        ("x", "w", "b", "conv_param"),
        ("x", "w", "b"),
    ),
    LayerCase(
        "conv_fast_rows",  # 12 channels: the stride-1 row-window kernel (WW * C >= 32)
        L.conv_forward_fast,
        L.conv_backward_fast,
        _conv_args({"stride": 1, "pad": 1}, shape=(2, 12, 4, 5), filters=5),
        ("x", "w", "b", "conv_param"),
        ("x", "w", "b"),
    ),
    LayerCase(
        "conv_fast_strided",
        L.conv_forward_fast,
        L.conv_backward_fast,
        _conv_args({"stride": 2, "pad": 0}, shape=(2, 3, 7, 5), size=3),
        ("x", "w", "b", "conv_param"),
        ("x", "w", "b"),
    ),
    LayerCase(
        "max_pool_naive",
        L.max_pool_forward_naive,
        L.max_pool_backward_naive,
        _pool_args(POOL_2x2),
        ("x", "pool_param"),
        ("x",),
        kink=True,
    ),
    LayerCase(
        "max_pool_fast",
        L.max_pool_forward_fast,
        L.max_pool_backward_fast,
        _pool_args(POOL_2x2),
        ("x", "pool_param"),
        ("x",),
        kink=True,
    ),
    LayerCase(
        "max_pool_fast_overlap",
        L.max_pool_forward_fast,
        L.max_pool_backward_fast,
        _pool_args(POOL_3x3_S1, shape=(2, 2, 5, 6)),
        ("x", "pool_param"),
        ("x",),
        kink=True,
    ),
    LayerCase(
        "avg_pool",
        L.avg_pool_forward,
        L.avg_pool_backward,
        lambda r: (r.standard_normal((2, 3, 6, 4)), dict(POOL_2x2)),
        ("x", "pool_param"),
        ("x",),
    ),
    LayerCase(
        "avg_pool_overlap",
        L.avg_pool_forward,
        L.avg_pool_backward,
        lambda r: (r.standard_normal((2, 2, 5, 6)), dict(POOL_3x3_S1)),
        ("x", "pool_param"),
        ("x",),
    ),
    LayerCase(
        "global_avg_pool",
        L.global_avg_pool_forward,
        L.global_avg_pool_backward,
        lambda r: (r.standard_normal((3, 4, 3, 5)),),
        ("x",),
        ("x",),
    ),
    LayerCase(
        "spatial_batchnorm",
        lambda x, g, b: L.spatial_batchnorm_forward(x, g, b, {"mode": "train"}),
        L.spatial_batchnorm_backward,
        _norm4d_args,
        ("x", "gamma", "beta"),
        ("x", "gamma", "beta"),
    ),
    LayerCase(
        "spatial_groupnorm",
        lambda x, g, b: L.spatial_groupnorm_forward(x, g, b, 2, {}),
        L.spatial_groupnorm_backward,
        lambda r: _norm4d_args(r, (2, 6, 3, 2)),
        ("x", "gamma", "beta"),
        ("x", "gamma", "beta"),
    ),
    LayerCase(
        "conv_transpose",
        L.conv_transpose_forward,
        L.conv_transpose_backward,
        lambda r: (
            r.standard_normal((2, 3, 3, 4)),
            r.standard_normal((3, 2, 3, 3)),
            r.standard_normal(2),
            {"stride": 2, "pad": 1},
        ),
        ("x", "w", "b", "conv_param"),
        ("x", "w", "b"),
    ),
    LayerCase(
        "max_unpool",
        L.max_unpool_forward,
        L.max_unpool_backward,
        _unpool_args,
        ("x", "indices", "unpool_param"),
        ("x",),
    ),
    LayerCase(
        "conv_relu",
        L.conv_relu_forward,
        L.conv_relu_backward,
        _conv_args({"stride": 1, "pad": 1}),
        ("x", "w", "b", "conv_param"),
        ("x", "w", "b"),
        kink=True,
    ),
    LayerCase(
        "conv_relu_pool",
        lambda x, w, b, cp: L.conv_relu_pool_forward(x, w, b, cp, dict(POOL_2x2)),
        L.conv_relu_pool_backward,
        _conv_args({"stride": 1, "pad": 1}, shape=(2, 3, 4, 4)),
        ("x", "w", "b", "conv_param"),
        ("x", "w", "b"),
        kink=True,
    ),
    LayerCase(
        "conv_bn_relu",
        lambda x, w, b, g, be: L.conv_bn_relu_forward(x, w, b, g, be, {"pad": 1}, {}),
        L.conv_bn_relu_backward,
        _conv_norm_args,
        ("x", "w", "b", "gamma", "beta"),
        ("x", "w", "b", "gamma", "beta"),
        kink=True,
        zero_grads=("b",),  # batch norm removes any per-channel shift before it
    ),
    LayerCase(
        "conv_groupnorm_relu",
        lambda x, w, b, g, be: L.conv_norm_relu_forward(
            x, w, b, g, be, {"pad": 1}, {"G": 2}, "groupnorm"
        ),
        L.conv_norm_relu_backward,
        _conv_norm_args,
        ("x", "w", "b", "gamma", "beta"),
        ("x", "w", "b", "gamma", "beta"),
        kink=True,
    ),
    LayerCase(
        "residual_block",
        _residual_forward(1),
        L.residual_block_backward,
        _residual_args(3, 3, projection=False),
        _RES_NAMES,
        _RES_NAMES,
        kink=True,
        zero_grads=("b1", "b2"),
    ),
    LayerCase(
        "residual_block_proj",
        _residual_forward(2),
        L.residual_block_backward,
        _residual_args(2, 4, projection=True, size=5),
        (*_RES_NAMES, "wp", "bp"),
        (*_RES_NAMES, "wp", "bp"),
        kink=True,
        zero_grads=("b1", "b2"),
    ),
]

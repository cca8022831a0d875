"""Convolutional sandwich layers and the residual block, built only from public layer pairs.

All of them use the fast convolution and pooling, so their outputs are (N, C, H, W) arrays with
channels-last memory (see ``visionblocks.layers.im2col``).
"""

from __future__ import annotations

from visionblocks.errors import ShapeError
from visionblocks.layers.activations import relu_backward, relu_forward
from visionblocks.layers.composite import activation_entry
from visionblocks.layers.conv import conv_backward_fast, conv_forward_fast
from visionblocks.layers.pool import max_pool_backward_fast, max_pool_forward_fast
from visionblocks.layers.spatial_norm import (
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)

__all__ = [
    "conv_bn_relu_backward",
    "conv_bn_relu_forward",
    "conv_norm_act_backward",
    "conv_norm_act_forward",
    "conv_norm_relu_backward",
    "conv_norm_relu_forward",
    "conv_relu_backward",
    "conv_relu_forward",
    "conv_relu_pool_backward",
    "conv_relu_pool_forward",
    "residual_block_backward",
    "residual_block_forward",
]

CONV_NORMS = ("batchnorm", "groupnorm")


def conv_relu_forward(x, w, b, conv_param):
    """Convolution followed by ReLU.

    Args:
        x: (N, C, H, W) input; w: (F, C, HH, WW); b: (F,); conv_param: stride and pad.

    Returns:
        out: (N, F, H_out, W_out), cache.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """Backward of ``conv_relu_forward``: returns dx (N, C, H, W), dw, db."""
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """Convolution, ReLU, then max pooling.

    Args:
        x: (N, C, H, W) input; w: (F, C, HH, WW); b: (F,).
        conv_param: stride and pad; pool_param: pool_height, pool_width, stride.

    Returns:
        out: (N, F, H_pool, W_pool), cache.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """Backward of ``conv_relu_pool_forward``: returns dx (N, C, H, W), dw, db."""
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    return conv_backward_fast(relu_backward(ds, relu_cache), conv_cache)


def conv_norm_relu_forward(x, w, b, gamma, beta, conv_param, norm_param, norm="batchnorm"):
    """Convolution, spatial batch norm or group norm, then ReLU.

    Args:
        x: (N, C, H, W) input; w: (F, C, HH, WW); b: (F,); gamma, beta: (F,).
        conv_param: stride and pad.
        norm_param: the bn_param dict, or for group norm a dict with 'G' (and optional eps).
        norm: 'batchnorm' or 'groupnorm'.

    Returns:
        out: (N, F, H_out, W_out), cache.
    """
    if norm not in CONV_NORMS:
        raise ValueError(f"norm must be one of {CONV_NORMS}, got {norm!r}")
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    if norm == "batchnorm":
        an, norm_cache = spatial_batchnorm_forward(a, gamma, beta, norm_param)
    else:
        an, norm_cache = spatial_groupnorm_forward(a, gamma, beta, norm_param["G"], norm_param)
    out, relu_cache = relu_forward(an)
    return out, (norm, conv_cache, norm_cache, relu_cache)


def conv_norm_relu_backward(dout, cache):
    """Backward of ``conv_norm_relu_forward``: returns dx, dw, db, dgamma, dbeta."""
    norm, conv_cache, norm_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)
    if norm == "batchnorm":
        da, dgamma, dbeta = spatial_batchnorm_backward(dan, norm_cache)
    else:
        da, dgamma, dbeta = spatial_groupnorm_backward(dan, norm_cache)
    dx, dw, db = conv_backward_fast(da, conv_cache)
    return dx, dw, db, dgamma, dbeta


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """Convolution, spatial batch norm, ReLU; see ``conv_norm_relu_forward``.

    Returns:
        out: (N, F, H_out, W_out), cache.
    """
    return conv_norm_relu_forward(x, w, b, gamma, beta, conv_param, bn_param, "batchnorm")


def conv_bn_relu_backward(dout, cache):
    """Backward of ``conv_bn_relu_forward``: returns dx, dw, db, dgamma, dbeta."""
    return conv_norm_relu_backward(dout, cache)


def residual_block_forward(
    x, w1, b1, gamma1, beta1, w2, b2, gamma2, beta2, block_param, wp=None, bp=None
):
    """A basic residual block: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    Both convolutions have square odd filters with 'same' padding; the first one has the
    block's stride. The shortcut is the identity (needs stride 1 and F == C) or, when ``wp`` is
    given, a 1x1 projection convolution with the block's stride.

    Args:
        x: (N, C, H, W) input.
        w1: (F, C, K, K), b1: (F,), gamma1, beta1: (F,) first conv-bn-relu.
        w2: (F, F, K, K), b2: (F,), gamma2, beta2: (F,) second conv-bn.
        block_param: dict with 'stride' (default 1) and 'bn_params', a list of the two bn_param
            dicts (created in train mode when missing).
        wp: optional (F, C, 1, 1) projection; bp: its (F,) bias.

    Returns:
        out: (N, F, H_out, W_out), cache.

    Raises:
        ShapeError: an identity shortcut cannot match the output's shape.
    """
    stride = block_param.get("stride", 1)
    bn1, bn2 = block_param.setdefault("bn_params", [{"mode": "train"}, {"mode": "train"}])
    if wp is None and (stride != 1 or x.shape[1] != w2.shape[0]):
        raise ShapeError(
            f"an identity shortcut needs stride 1 and as many output as input channels; got "
            f"stride {stride}, {x.shape[1]} -> {w2.shape[0]} channels: pass a projection wp"
        )
    h, cache1 = conv_bn_relu_forward(
        x, w1, b1, gamma1, beta1, {"stride": stride, "pad": w1.shape[2] // 2}, bn1
    )
    a2, conv2_cache = conv_forward_fast(h, w2, b2, {"stride": 1, "pad": w2.shape[2] // 2})
    z2, bn2_cache = spatial_batchnorm_forward(a2, gamma2, beta2, bn2)
    if wp is None:
        shortcut, proj_cache = x, None
    else:
        shortcut, proj_cache = conv_forward_fast(x, wp, bp, {"stride": stride, "pad": 0})
    out, relu_cache = relu_forward(z2 + shortcut)
    return out, (cache1, conv2_cache, bn2_cache, proj_cache, relu_cache)


def residual_block_backward(dout, cache):
    """Backward of ``residual_block_forward``.

    Returns:
        (dx, dw1, db1, dgamma1, dbeta1, dw2, db2, dgamma2, dbeta2), followed by (dwp, dbp)
        when the block has a projection.
    """
    cache1, conv2_cache, bn2_cache, proj_cache, relu_cache = cache
    dsum = relu_backward(dout, relu_cache)
    da2, dgamma2, dbeta2 = spatial_batchnorm_backward(dsum, bn2_cache)
    dh, dw2, db2 = conv_backward_fast(da2, conv2_cache)
    dx, dw1, db1, dgamma1, dbeta1 = conv_bn_relu_backward(dh, cache1)
    grads = (dx, dw1, db1, dgamma1, dbeta1, dw2, db2, dgamma2, dbeta2)
    if proj_cache is None:
        return (dx + dsum, *grads[1:])
    dxp, dwp, dbp = conv_backward_fast(dsum, proj_cache)
    return (dx + dxp, *grads[1:], dwp, dbp)


def _conv_norm(a, gamma, beta, norm_param, norm):
    if norm == "batchnorm":
        return spatial_batchnorm_forward(a, gamma, beta, norm_param)
    return spatial_groupnorm_forward(a, gamma, beta, norm_param["G"], norm_param)


def conv_norm_act_forward(
    x, w, b, gamma, beta, conv_param, norm_param, norm, activation, *act_params
):
    """Convolution, optional spatial batch/group norm, then any registered activation.

    Args:
        x: (N, C, H, W) input; w: (F, C, HH, WW); b: (F,); gamma, beta: (F,) (None: no norm).
        conv_param: stride and pad.
        norm_param: the bn_param dict, or for group norm a dict with 'G'; None without a norm.
        norm: None, 'batchnorm' or 'groupnorm'.
        activation: a name in ``ACTIVATIONS``.
        act_params: the activation's learnable parameters (PReLU: alpha (F / pieces,)).

    Returns:
        out: (N, F / pieces, H_out, W_out), cache.
    """
    if norm is not None and norm not in CONV_NORMS:
        raise ValueError(f"norm must be None or one of {CONV_NORMS}, got {norm!r}")
    act = activation_entry(activation)
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    norm_cache = None
    if norm is not None:
        a, norm_cache = _conv_norm(a, gamma, beta, norm_param, norm)
    out, act_cache = act.apply(a, act_params)
    return out, (norm, act, conv_cache, norm_cache, act_cache)


def conv_norm_act_backward(dout, cache):
    """Backward of ``conv_norm_act_forward``.

    Returns:
        (dx, dw, db), then (dgamma, dbeta) with a norm, then the activation's parameter grads.
    """
    norm, act, conv_cache, norm_cache, act_cache = cache
    da, dparams = act.backward_all(dout, act_cache)
    norm_grads = ()
    if norm == "batchnorm":
        da, *norm_grads = spatial_batchnorm_backward(da, norm_cache)
    elif norm is not None:
        da, *norm_grads = spatial_groupnorm_backward(da, norm_cache)
    return (*conv_backward_fast(da, conv_cache), *norm_grads, *dparams)

"""Torch twins of the NumPy convolution family: conv, pools, spatial norms, transposed conv.

Arguments follow the NumPy forwards (``conv_param = {'stride', 'pad'}``, ``pool_param =
{'pool_height', 'pool_width', 'stride'}``, weights (F, C, HH, WW)); each twin returns only its
output and lets autograd do the backward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from visionblocks.errors import ShapeError
from visionblocks.torchkit.functional_norm import batchnorm


def conv(x, w, b, conv_param):
    """2-D convolution (cross-correlation) with zero padding.

    Args:
        x: (N, C, H, W) input.
        w: (F, C, HH, WW) filters.
        b: (F,) biases.
        conv_param: dict with stride (1) and pad (0).

    Returns:
        out: (N, F, H', W') with H' = 1 + (H + 2 * pad - HH) // stride.
    """
    return F.conv2d(x, w, b, stride=conv_param.get("stride", 1), padding=conv_param.get("pad", 0))


def _pool_args(pool_param):
    ph = pool_param.get("pool_height", 2)
    pw = pool_param.get("pool_width", 2)
    return (ph, pw), pool_param.get("stride", 2)


def max_pool(x, pool_param):
    """Max pooling: x (N, C, H, W) -> (N, C, 1 + (H - ph) // s, 1 + (W - pw) // s)."""
    kernel, stride = _pool_args(pool_param)
    return F.max_pool2d(x, kernel, stride)


def avg_pool(x, pool_param):
    """Average pooling with the same windows as ``max_pool``."""
    kernel, stride = _pool_args(pool_param)
    return F.avg_pool2d(x, kernel, stride)


def conv_relu(x, w, b, conv_param):
    """Convolution then ReLU: (N, C, H, W) -> (N, F, H', W')."""
    return torch.relu(conv(x, w, b, conv_param))


def conv_relu_pool(x, w, b, conv_param, pool_param):
    """Convolution, ReLU, max pooling: (N, C, H, W) -> (N, F, H'', W'')."""
    return max_pool(conv_relu(x, w, b, conv_param), pool_param)


def _per_channel(v, c):
    return v.reshape(1, c, 1, 1)  # (C,) or (1, C, 1, 1) -> (1, C, 1, 1)


def spatial_batchnorm(x, gamma, beta, bn_param):
    """Batch norm of each channel over (N, H, W), with the NumPy engine's running statistics.

    Args:
        x: (N, C, H, W); gamma, beta: (C,) (or (1, C, 1, 1)); bn_param: as ``batchnorm``.

    Returns:
        out: (N, C, H, W).
    """
    n, c, h, w = x.shape
    if bn_param.get("mode", "train") == "train" and n * h * w < 2:
        raise ShapeError(
            f"spatial_batchnorm in train mode needs at least 2 values per channel (N * H * W) "
            f"to estimate batch statistics, got {n * h * w} (x shape {tuple(x.shape)})"
        )
    flat = x.permute(0, 2, 3, 1).reshape(n * h * w, c)  # (N, C, H, W) -> (N*H*W, C)
    out = batchnorm(flat, gamma.reshape(c), beta.reshape(c), bn_param)
    return out.reshape(n, h, w, c).permute(0, 3, 1, 2)  # (N*H*W, C) -> (N, C, H, W)


def spatial_groupnorm(x, gamma, beta, G, gn_param):
    """Group norm: each example's channels split into G groups, each standardised over
    (C // G, H, W), then a per-channel scale and shift.

    Args:
        x: (N, C, H, W); gamma, beta: (C,) or (1, C, 1, 1); G: number of groups dividing C;
        gn_param: dict with optional eps (1e-5).

    Returns:
        out: (N, C, H, W).
    """
    n, c, h, w = x.shape
    xg = x.reshape(n, G, -1)  # (N, C, H, W) -> (N, G, C//G * H * W)
    mu = xg.mean(dim=2, keepdim=True)
    var = ((xg - mu) ** 2).mean(dim=2, keepdim=True)
    xhat = ((xg - mu) / torch.sqrt(var + gn_param.get("eps", 1e-5))).reshape(n, c, h, w)
    return _per_channel(gamma, c) * xhat + _per_channel(beta, c)


def conv_transpose(x, w, b, conv_param):
    """Transposed convolution, the adjoint of ``conv`` with the same stride and pad.

    Args:
        x: (N, C, H, W) input.
        w: (C, F, HH, WW) filters (input channels first, as torch's conv_transpose2d).
        b: (F,) biases.
        conv_param: dict with stride (1) and pad (0).

    Returns:
        out: (N, F, (H - 1) * stride - 2 * pad + HH, (W - 1) * stride - 2 * pad + WW).
    """
    return F.conv_transpose2d(
        x, w, b, stride=conv_param.get("stride", 1), padding=conv_param.get("pad", 0)
    )


def max_unpool(x, indices, unpool_param):
    """Places each value of x at the position its max pool recorded; zeros elsewhere.

    Args:
        x: (N, C, H_in, W_in) pooled values.
        indices: (N, C, H_in, W_in) int64 flat positions ``row * W + col`` in each plane.
        unpool_param: dict with 'output_size' (H, W), or the pool's 'pool_height',
            'pool_width' and 'stride' (defaults 2).

    Returns:
        out: (N, C, H, W).
    """
    kernel, stride = _pool_args(unpool_param)
    size = unpool_param.get("output_size")
    return F.max_unpool2d(x, indices, kernel, stride, output_size=None if size is None else
                          tuple(int(v) for v in size))  # fmt: skip


def global_avg_pool(x):
    """Mean of each channel over all positions: (N, C, H, W) -> (N, C)."""
    return x.mean(dim=(2, 3))


def conv_norm_relu(x, w, b, gamma, beta, conv_param, norm_param, norm="batchnorm"):
    """Convolution, spatial batch norm or group norm (``norm_param['G']`` groups), ReLU.

    Args:
        x: (N, C, H, W); w: (F, C, HH, WW); b, gamma, beta: (F,).

    Returns:
        out: (N, F, H', W').
    """
    a = conv(x, w, b, conv_param)
    if norm == "batchnorm":
        return torch.relu(spatial_batchnorm(a, gamma, beta, norm_param))
    if norm == "groupnorm":
        return torch.relu(spatial_groupnorm(a, gamma, beta, norm_param["G"], norm_param))
    raise ValueError(f"norm must be 'batchnorm' or 'groupnorm', got {norm!r}")


def conv_bn_relu(x, w, b, gamma, beta, conv_param, bn_param):
    """Convolution, spatial batch norm, ReLU: (N, C, H, W) -> (N, F, H', W')."""
    return conv_norm_relu(x, w, b, gamma, beta, conv_param, bn_param, "batchnorm")


def residual_block(x, w1, b1, gamma1, beta1, w2, b2, gamma2, beta2, block_param, wp=None, bp=None):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``, the NumPy residual block.

    Args:
        x: (N, C, H, W); w1: (F, C, K, K); w2: (F, F, K, K); b*, gamma*, beta*: (F,).
        block_param: dict with 'stride' (of conv1 and the projection) and optional
            'bn_params' (the two bn_param dicts).
        wp, bp: optional (F, C, 1, 1) projection shortcut and its (F,) bias.

    Returns:
        out: (N, F, H', W').
    """
    stride = block_param.get("stride", 1)
    bn1, bn2 = block_param.setdefault("bn_params", [{"mode": "train"}, {"mode": "train"}])
    h = conv_bn_relu(x, w1, b1, gamma1, beta1, {"stride": stride, "pad": w1.shape[2] // 2}, bn1)
    z = spatial_batchnorm(conv(h, w2, b2, {"stride": 1, "pad": w2.shape[2] // 2}), gamma2, beta2,
                          bn2)  # fmt: skip
    shortcut = x if wp is None else conv(x, wp, bp, {"stride": stride, "pad": 0})
    return torch.relu(z + shortcut)

"""Torch twins of the NumPy convolution family: conv, pools, spatial norms, transposed conv.

Arguments follow the NumPy forwards (``conv_param = {'stride', 'pad'}``, ``pool_param =
{'pool_height', 'pool_width', 'stride'}``, weights (F, C, HH, WW)); each twin returns only its
output and lets autograd do the backward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
    from visionblocks.torchkit.functional import batchnorm

    n, c, h, w = x.shape
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


def max_unpool(x, indices, output_size, pool_param):
    """Places each value of x at the argmax position its max pool recorded; zeros elsewhere.

    Args:
        x: (N, C, H', W') pooled values.
        indices: (N, C, H', W') flat positions within each (H, W) plane.
        output_size: (H, W) of the unpooled planes.
        pool_param: the pool's window and stride.

    Returns:
        out: (N, C, H, W).
    """
    kernel, stride = _pool_args(pool_param)
    return F.max_unpool2d(x, indices, kernel, stride, output_size=tuple(output_size))

"""Normalisation of (N, C, H, W) feature maps: spatial batch norm and group norm.

Spatial batch norm treats every position of every image as one example of its channel, so it is
batch norm over (N * H * W, C) rows; it reuses ``batchnorm_forward`` and its running
statistics. Group norm standardises each example over groups of C / G channels and all positions
(the same in train and test mode), then applies a per-channel scale and shift.
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array, check_shape
from visionblocks.errors import ShapeError
from visionblocks.layers.norm import (
    batchnorm_backward_alt,
    batchnorm_forward,
    standardize,
    standardize_backward,
)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Spatial batch normalisation forward pass: per-channel statistics over N, H and W.

    Args:
        x: (N, C, H, W) input, any memory layout (channels-last avoids two copies).
        gamma: (C,) scale.
        beta: (C,) shift.
        bn_param: the dict of ``batchnorm_forward`` (mode, eps, momentum, running_mean,
            running_var), its running statistics of shape (C,).

    Returns:
        out: (N, C, H, W) output (channels-last memory).
        cache: for ``spatial_batchnorm_backward``.
    """
    as_float_array("x", x, ndim=4)
    n, c, h, w = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(-1, c)  # (N*H*W, C); free for channels-last memory
    out, cache = batchnorm_forward(rows, gamma, beta, bn_param)
    return out.reshape(n, h, w, c).transpose(0, 3, 1, 2), cache  # (N, C, H, W)


def spatial_batchnorm_backward(dout, cache):
    """Spatial batch normalisation backward pass.

    Args:
        dout: (N, C, H, W) upstream gradient.
        cache: from ``spatial_batchnorm_forward`` in train mode.

    Returns:
        dx: (N, C, H, W), dgamma: (C,), dbeta: (C,).
    """
    n, c, h, w = dout.shape
    rows = dout.transpose(0, 2, 3, 1).reshape(-1, c)  # (N*H*W, C)
    dx, dgamma, dbeta = batchnorm_backward_alt(rows, cache)
    return dx.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma, dbeta  # (N, C, H, W)


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalisation forward pass.

    Args:
        x: (N, C, H, W) input.
        gamma: (C,) scale (also accepted as (1, C, 1, 1)).
        beta: (C,) shift (also accepted as (1, C, 1, 1)).
        G: number of groups; must divide C.
        gn_param: dict with optional 'eps' (default 1e-5).

    Returns:
        out: (N, C, H, W) output.
        cache: for ``spatial_groupnorm_backward``.
    """
    as_float_array("x", x, ndim=4)
    n, c, h, w = x.shape
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)) or G < 1 or c % G:
        raise ShapeError(f"G must be a positive divisor of the {c} channels of x, got {G!r}")
    g_shape = np.shape(gamma)
    gamma = as_float_array("gamma", gamma).reshape(-1)  # (C,)
    beta = as_float_array("beta", beta).reshape(-1)  # (C,)
    check_shape("gamma", gamma, (c,))
    check_shape("beta", beta, (c,))
    groups = x.reshape(n, G, -1)  # (N, G, C/G*H*W); copies unless x is C-contiguous
    xhat, inv_std, _, _ = standardize(groups, 2, gn_param.get("eps", 1e-5))
    xhat = xhat.reshape(n, c, h, w)  # (N, C, H, W)
    out = gamma[:, None, None] * xhat + beta[:, None, None]
    return out.astype(x.dtype, copy=False), (xhat, inv_std, gamma, G, g_shape)


def spatial_groupnorm_backward(dout, cache):
    """Group normalisation backward pass.

    Args:
        dout: (N, C, H, W) upstream gradient.
        cache: from ``spatial_groupnorm_forward``.

    Returns:
        dx: (N, C, H, W), dgamma and dbeta of the shape gamma was given in ((C,) or
        (1, C, 1, 1)).
    """
    xhat, inv_std, gamma, G, g_shape = cache
    n, c, h, w = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dxhat = (dout * gamma[:, None, None]).reshape(n, G, -1)  # (N, G, C/G*H*W)
    xhat_g = xhat.reshape(n, G, -1)  # (N, G, C/G*H*W)
    dx = standardize_backward(dxhat, xhat_g, inv_std, 2).reshape(n, c, h, w)  # (N, C, H, W)
    return dx, dgamma.reshape(g_shape), dbeta.reshape(g_shape)

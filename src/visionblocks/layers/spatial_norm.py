"""Normalisation of (N, C, H, W) feature maps: spatial batch norm and group norm.

Spatial batch norm treats every position of every image as one example of its channel: it is
``batchnorm_forward`` on the (N * H * W, C) rows ``x.transpose(0, 2, 3, 1).reshape(-1, C)``, with
the same ``bn_param`` (mode, eps, momentum, running statistics) and the same results (a test
checks this). It does not call batchnorm on those rows, though: element-wise passes over rows
of only C values spend their time in numpy's loop overhead, so here each pass runs over whole
image rows (N * H, W * C) against per-channel vectors tiled W times, which is 2-5x faster.

Group norm standardises each example over groups of C / G channels and all positions (the same in
train and test mode), then applies a per-channel scale and shift.
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array, check_shape
from visionblocks.errors import ShapeError
from visionblocks.layers.norm import check_batch_statistics, standardize, standardize_backward


def _as_x_dtype(a, x):
    """An integer (or bool) array of scales or shifts as x's float dtype; others unchanged."""
    return a.astype(x.dtype) if isinstance(a, np.ndarray) and a.dtype.kind in "biu" else a


__all__ = [
    "spatial_batchnorm_backward",
    "spatial_batchnorm_forward",
    "spatial_groupnorm_backward",
    "spatial_groupnorm_forward",
]


def _image_rows(x):
    """x (N, C, H, W) as C-contiguous channels-last rows (N * H, W * C); copies only if needed."""
    n, c, h, w = x.shape
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h, w * c)  # (N*H, W*C)


def _channel_sums(rows, c):
    """Per-channel sums (C,) of channels-last rows (N * H, W * C)."""
    return rows.sum(axis=0).reshape(-1, c).sum(axis=0)  # (W*C,) -> (W, C) -> (C,)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Spatial batch normalisation forward pass: per-channel statistics over N, H and W.

    Args:
        x: (N, C, H, W) input, any memory layout (channels-last avoids a copy).
        gamma: (C,) scale.
        beta: (C,) shift.
        bn_param: the dict of ``batchnorm_forward``: mode ('train'|'test'), eps (1e-5), momentum
            (0.9), running_mean and running_var (C,), created on first use and updated in train
            mode with the biased batch variance.

    Returns:
        out: (N, C, H, W) output (channels-last memory).
        cache: for ``spatial_batchnorm_backward`` (None in test mode).
    """
    as_float_array("x", x, ndim=4)
    n, c, h, w = x.shape
    gamma, beta = _as_x_dtype(gamma, x), _as_x_dtype(beta, x)  # the course passes int arrays
    check_shape("gamma", as_float_array("gamma", gamma), (c,))
    check_shape("beta", as_float_array("beta", beta), (c,))
    mode = bn_param.get("mode", "train")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    running_mean = bn_param.get("running_mean", np.zeros(c, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(c, dtype=x.dtype))
    rows = _image_rows(x)  # (N*H, W*C)
    if mode == "train":
        m = n * h * w
        check_batch_statistics("spatial_batchnorm_forward", m, x.shape)
        mu = (_channel_sums(rows, c) / m).astype(x.dtype)  # (C,)
        xc = rows - np.tile(mu, w)  # (N*H, W*C)
        sq = np.einsum("ij,ij->j", xc, xc).reshape(w, c)  # (W*C,) -> (W, C)
        var = (sq.sum(axis=0) / m).astype(x.dtype)  # (C,)
        inv_std = 1.0 / np.sqrt(var + eps)  # (C,)
        out = xc * np.tile(gamma * inv_std, w).astype(x.dtype, copy=False)
        out += np.tile(beta, w).astype(x.dtype, copy=False)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        cache = (xc, inv_std, gamma, x.shape)
    elif mode == "test":
        scale = gamma / np.sqrt(running_var + eps)  # (C,)
        shift = beta - running_mean * scale  # (C,)
        out = rows * np.tile(scale, w).astype(x.dtype, copy=False)
        out += np.tile(shift, w).astype(x.dtype, copy=False)
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
        cache = None
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    return out.reshape(n, h, w, c).transpose(0, 3, 1, 2), cache  # (N, C, H, W)


def spatial_batchnorm_backward(dout, cache):
    """Spatial batch normalisation backward pass (the closed form of ``batchnorm_backward_alt``).

    Args:
        dout: (N, C, H, W) upstream gradient.
        cache: from ``spatial_batchnorm_forward`` in train mode.

    Returns:
        dx: (N, C, H, W) (channels-last memory), dgamma: (C,), dbeta: (C,).
    """
    if cache is None:
        raise ValueError("spatial_batchnorm_backward needs a cache from a train-mode forward pass")
    xc, inv_std, gamma, (n, c, h, w) = cache
    m = n * h * w
    d = _image_rows(dout).astype(xc.dtype, copy=False)  # (N*H, W*C)
    dbeta = _channel_sums(d, c)  # (C,)
    dxc_sum = np.einsum("ij,ij->j", d, xc).reshape(w, c).sum(axis=0)  # sum of dout * xc, (C,)
    dgamma = dxc_sum * inv_std
    scale = gamma * inv_std  # dx = scale * (dout - mean(dout) - xhat * mean(dout * xhat))
    dx = d * np.tile(scale, w).astype(xc.dtype, copy=False)
    dx -= xc * np.tile(scale * inv_std**2 * dxc_sum / m, w).astype(xc.dtype, copy=False)
    dx -= np.tile(scale * dbeta / m, w).astype(xc.dtype, copy=False)
    dx = dx.reshape(n, h, w, c).transpose(0, 3, 1, 2)  # (N, C, H, W)
    return dx, dgamma.astype(gamma.dtype, copy=False), dbeta.astype(gamma.dtype, copy=False)


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
    return dx, dgamma.reshape(g_shape), dbeta.reshape(g_shape)  # (C,) -> gamma's shape

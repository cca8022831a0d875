"""Batch and layer normalisation over (N, D) inputs, and the shared standardisation they build on.

Batch norm standardises each feature over the batch (axis 0); layer norm standardises each
example over its features (axis 1). Both follow with a per-feature scale gamma and shift beta.
Running statistics follow the CS231n convention: ``running = momentum * running + (1 - momentum)
* batch`` with the biased batch variance.
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array, check_shape
from visionblocks.errors import ShapeError

__all__ = [
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "batchnorm_forward",
    "layernorm_backward",
    "layernorm_forward",
]


def standardize(x, axis, eps):
    """Returns (xhat, inv_std) with xhat = (x - mean) / sqrt(var + eps) along ``axis``."""
    mu = x.mean(axis=axis, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=axis, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return xc * inv_std, inv_std, mu, var


def standardize_backward(dxhat, xhat, inv_std, axis):
    """Closed-form backward of ``standardize``: gradient with respect to x, given d(xhat)."""
    m1 = dxhat.mean(axis=axis, keepdims=True)
    m2 = (dxhat * xhat).mean(axis=axis, keepdims=True)
    return inv_std * (dxhat - m1 - xhat * m2)


def check_batch_statistics(name, count, shape):
    """Refuses a train-mode batch norm over fewer than 2 values per feature.

    With one value the batch variance is 0 (output = beta, dx = 0, the running variance decays
    toward 0); with none the statistics are NaN. torch refuses both as well.

    Args:
        name: the function, for the message.
        count: values per feature the statistics would average over (N, or N * H * W).
        shape: the input's shape, for the message.
    """
    if count < 2:
        raise ShapeError(
            f"{name} in train mode needs at least 2 values per feature to estimate batch "
            f"statistics, got {count} (x shape {tuple(shape)}); use a batch of 2 or more, or "
            "mode='test'"
        )


def _check_affine_params(x, gamma, beta):
    as_float_array("x", x, ndim=2)
    check_shape("gamma", as_float_array("gamma", gamma), (x.shape[1],))
    check_shape("beta", as_float_array("beta", beta), (x.shape[1],))


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation forward pass.

    Args:
        x: (N, D) input.
        gamma: (D,) scale.
        beta: (D,) shift.
        bn_param: dict with mode ('train'|'test'), eps (default 1e-5), momentum (default 0.9),
            running_mean and running_var (D,), created on first use and updated in train mode.

    Returns:
        out: (N, D) output.
        cache: what the backward passes need (None in test mode).
    """
    _check_affine_params(x, gamma, beta)
    mode = bn_param.get("mode", "train")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(d, dtype=x.dtype))
    if mode == "train":
        check_batch_statistics("batchnorm_forward", x.shape[0], x.shape)
        xhat, inv_std, mu, var = standardize(x, 0, eps)
        out = gamma * xhat + beta
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu[0]
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var[0]
        cache = (x, mu, var, eps, xhat, inv_std, gamma)
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
        cache = None
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    return out.astype(x.dtype, copy=False), cache


def batchnorm_backward(dout, cache):
    """Batch norm backward through the computational graph, one node at a time.

    Args:
        dout: (N, D) upstream gradient.
        cache: from ``batchnorm_forward`` in train mode.

    Returns:
        dx: (N, D), dgamma: (D,), dbeta: (D,).
    """
    if cache is None:
        raise ValueError("batchnorm_backward needs a cache from a train-mode forward pass")
    x, mu, var, eps, xhat, inv_std, gamma = cache
    n = x.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma  # xhat = xc * inv_std
    xc = x - mu
    dinv_std = (dxhat * xc).sum(axis=0)
    dxc = dxhat * inv_std
    dvar = dinv_std * -0.5 * (var + eps) ** -1.5  # inv_std = (var + eps) ** -0.5
    dxc += dvar * 2.0 * xc / n  # var = mean(xc ** 2)
    dmu = -dxc.sum(axis=0)  # xc = x - mu
    dx = dxc + dmu / n  # mu = mean(x)
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """Batch norm backward in the simplified closed form; same result as ``batchnorm_backward``.

    Returns:
        dx: (N, D), dgamma: (D,), dbeta: (D,).
    """
    if cache is None:
        raise ValueError("batchnorm_backward_alt needs a cache from a train-mode forward pass")
    _, _, _, _, xhat, inv_std, gamma = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = standardize_backward(dout * gamma, xhat, inv_std, 0)
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalisation forward pass: each example standardised over its features.

    Args:
        x: (N, D) input.
        gamma: (D,) scale.
        beta: (D,) shift.
        ln_param: dict with optional eps (default 1e-5). Train and test behave the same.

    Returns:
        out: (N, D) output.
        cache: (xhat, inv_std, gamma).
    """
    _check_affine_params(x, gamma, beta)
    xhat, inv_std, _, _ = standardize(x, 1, ln_param.get("eps", 1e-5))
    return gamma * xhat + beta, (xhat, inv_std, gamma)


def layernorm_backward(dout, cache):
    """Layer norm backward.

    Returns:
        dx: (N, D), dgamma: (D,), dbeta: (D,).
    """
    xhat, inv_std, gamma = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = standardize_backward(dout * gamma, xhat, inv_std, 1)
    return dx, dgamma, dbeta

"""Torch twins of the NumPy normalisations: batch norm (with the NumPy engine's running
statistics) and layer norm."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from visionblocks.errors import ShapeError


def _norm_stats(x, axis):
    mu = x.mean(dim=axis, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=axis, keepdim=True)  # biased, as in the NumPy engine
    return mu, var


def batchnorm(x, gamma, beta, bn_param):
    """Batch normalisation over the batch axis, updating ``bn_param``'s running statistics.

    Args:
        x: (N, D) input.
        gamma, beta: (D,) scale and shift.
        bn_param: dict with mode, eps (1e-5), momentum (0.9), running_mean/running_var (D,)
            (tensors or arrays; stored back as detached tensors).

    Returns:
        out: (N, D).
    """
    mode = bn_param.get("mode", "train")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    rm = torch.as_tensor(bn_param.get("running_mean", np.zeros(d)), dtype=x.dtype)
    rv = torch.as_tensor(bn_param.get("running_var", np.ones(d)), dtype=x.dtype)
    if mode == "train":
        if x.shape[0] < 2:  # torch's own batch norm refuses this too
            raise ShapeError(
                f"batchnorm in train mode needs at least 2 values per feature to estimate "
                f"batch statistics, got {x.shape[0]} (x shape {tuple(x.shape)})"
            )
        mu, var = _norm_stats(x, 0)
        out = gamma * (x - mu) / torch.sqrt(var + eps) + beta
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mu[0].detach()
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var[0].detach()
        return out
    if mode == "test":
        return gamma * (x - rm) / torch.sqrt(rv + eps) + beta
    raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")


def layernorm(x, gamma, beta, ln_param):
    """Layer normalisation of each example over its D features.

    Args:
        x: (N, D); gamma, beta: (D,); ln_param: dict with optional eps (1e-5).

    Returns:
        out: (N, D).
    """
    return F.layer_norm(x, (x.shape[1],), gamma, beta, eps=ln_param.get("eps", 1e-5))

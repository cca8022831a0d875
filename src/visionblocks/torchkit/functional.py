"""Torch twins of the NumPy layer forwards, named after the layer (``affine``: ``affine_forward``).

Each twin takes the same arguments as its NumPy forward (including the ``*_param`` dicts and
their conventions: dropout's ``p`` is the keep probability, batch norm's running statistics use
``running = momentum * running + (1 - momentum) * batch`` with the biased variance) and returns
only the output; autograd gives the backward pass. Losses return the scalar loss. The
convolution family lives in ``functional_conv`` and is re-exported here.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from visionblocks.errors import ShapeError
from visionblocks.torchkit.functional_conv import (  # noqa: F401  (re-exported twins)
    avg_pool,
    conv,
    conv_bn_relu,
    conv_norm_relu,
    conv_relu,
    conv_relu_pool,
    conv_transpose,
    global_avg_pool,
    max_pool,
    max_unpool,
    residual_block,
    spatial_batchnorm,
    spatial_groupnorm,
)


def affine(x, w, b):
    """Affine layer: out = x.reshape(N, D) @ w + b.

    Args:
        x: (N, d_1, ..., d_k) input with d_1 * ... * d_k = D.
        w: (D, M) weights (the NumPy layout, not torch's (M, D)).
        b: (M,) biases.

    Returns:
        out: (N, M).
    """
    return x.reshape(x.shape[0], -1) @ w + b  # (N, D) @ (D, M) -> (N, M)


def relu(x):
    """ReLU; the gradient at exactly 0 is 0, as in the NumPy engine."""
    return torch.relu(x)


def leaky_relu(x, alpha=0.01):
    """Leaky ReLU with slope ``alpha`` for negative inputs."""
    return F.leaky_relu(x, alpha)


def sigmoid(x):
    """Logistic function."""
    return torch.sigmoid(x)


def tanh(x):
    """Hyperbolic tangent."""
    return torch.tanh(x)


def dropout(x, dropout_param):
    """Inverted dropout with ``p`` the keep probability.

    Args:
        x: any-shape tensor.
        dropout_param: dict with p (keep probability), mode ('train'|'test'), and either
            seed (the mask is drawn with ``np.random.default_rng(seed)`` exactly as the NumPy
            engine draws it, for parity checks) or an optional torch ``generator``.

    Returns:
        out: same shape as x.
    """
    p = dropout_param["p"]
    mode = dropout_param.get("mode", "train")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"dropout_param['p'] is a keep probability in (0, 1], got {p}")
    if mode not in ("train", "test"):
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    if mode == "test" or p == 1.0:
        return x
    if dropout_param.get("seed") is not None:
        u = np.random.default_rng(dropout_param["seed"]).random(tuple(x.shape))
        keep = torch.from_numpy(u < p).to(x.device)
    else:
        u = torch.rand(x.shape, generator=dropout_param.get("generator"), device="cpu")
        keep = (u < p).to(x.device)
    return x * keep.to(x.dtype) / p


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


def affine_relu(x, w, b):
    """Affine then ReLU: x (N, ...), w (D, M), b (M,) -> (N, M)."""
    return relu(affine(x, w, b))


def affine_norm_relu(x, w, b, gamma, beta, norm_param, norm="batchnorm"):
    """Affine, batch or layer norm, ReLU: x (N, ...), w (D, M), b/gamma/beta (M,) -> (N, M)."""
    norms = {"batchnorm": batchnorm, "layernorm": layernorm}
    if norm not in norms:
        raise ValueError(f"norm must be one of {sorted(norms)}, got {norm!r}")
    return relu(norms[norm](affine(x, w, b), gamma, beta, norm_param))


def _check_nonempty(x):
    """A loss averages over the batch: refuse an empty one (NumPy's losses do the same)."""
    if x.shape[0] == 0:
        raise ShapeError(f"x must hold at least one example's scores, got shape {tuple(x.shape)}")


def svm_loss(x, y):
    """Multiclass SVM loss with margin 1, summed over classes and averaged over the batch.

    Args:
        x: (N, C) scores; y: (N,) integer labels.

    Returns:
        loss: scalar tensor.
    """
    _check_nonempty(x)
    y = torch.as_tensor(y, device=x.device)
    correct = x.gather(1, y[:, None])  # (N, 1)
    margins = torch.clamp(x - correct + 1.0, min=0.0)  # (N, C)
    margins = margins.scatter(1, y[:, None], 0.0)
    return margins.sum() / x.shape[0]


def softmax_loss(x, y, label_smoothing=0.0):
    """Softmax cross-entropy averaged over the batch.

    Args:
        x: (N, C) scores; y: (N,) integer labels.
        label_smoothing: mix the one-hot targets with the uniform distribution (0 = none).

    Returns:
        loss: scalar tensor.
    """
    _check_nonempty(x)
    y = torch.as_tensor(y, device=x.device)
    return F.cross_entropy(x, y, label_smoothing=label_smoothing)

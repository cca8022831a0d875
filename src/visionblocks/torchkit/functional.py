"""Torch twins of the NumPy layer forwards, named after the layer (``affine``: ``affine_forward``).

Each twin takes the same arguments as its NumPy forward (including the ``*_param`` dicts and
their conventions: dropout's ``p`` is the keep probability, batch norm's running statistics use
``running = momentum * running + (1 - momentum) * batch`` with the biased variance) and returns
only the output; autograd gives the backward pass. Losses return the scalar loss. The
convolution family lives in ``functional_conv`` and the norms in ``functional_norm``, both
re-exported here; ``T`` is the namespace the layer registry's torch callables receive.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from visionblocks.errors import ShapeError
from visionblocks.layers.registry import ACTIVATIONS
from visionblocks.torchkit.functional_attention import *  # noqa: F401, F403  (attention twins)
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
from visionblocks.torchkit.functional_norm import batchnorm, layernorm  # noqa: F401
from visionblocks.torchkit.functional_rnn import *  # noqa: F401, F403  (recurrent twins)
from visionblocks.torchkit.functional_vae import (  # noqa: F401  (re-exported twins)
    bernoulli_nll,
    gaussian_kl,
    reparameterize,
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


#: The namespace of the registry's torch callables (``twin=lambda t: t.F.elu``).
T = SimpleNamespace(torch=torch, F=F, TF=sys.modules[__name__])


def activation(name):
    """The torch twin ``f(x, *params)`` of the registered activation ``name``."""
    entry = ACTIVATIONS[name]
    fn = entry.twin(T)
    if entry.pieces > 1:
        return lambda x, *params: fn(x, entry.pieces)
    return fn


def affine_norm_act(x, w, b, gamma, beta, norm_param, norm, act, *act_params):
    """Affine, optional batch/layer norm, any registered activation (``affine_norm_act_forward``).

    Args:
        x: (N, ...); w: (D, M); b, gamma, beta: (M,) (gamma/beta None without a norm).

    Returns:
        out: (N, M / pieces).
    """
    a = affine(x, w, b)
    if norm == "batchnorm":
        a = batchnorm(a, gamma, beta, norm_param)
    elif norm == "layernorm":
        a = layernorm(a, gamma, beta, norm_param)
    elif norm is not None:
        raise ValueError(f"norm must be None, 'batchnorm' or 'layernorm', got {norm!r}")
    return activation(act)(a, *act_params)


def conv_norm_act(x, w, b, gamma, beta, conv_param, norm_param, norm, act, *act_params):
    """Convolution, optional spatial batch/group norm, any registered activation.

    Args:
        x: (N, C, H, W); w: (F, C, HH, WW); b, gamma, beta: (F,) (gamma/beta None: no norm).

    Returns:
        out: (N, F / pieces, H', W').
    """
    a = conv(x, w, b, conv_param)
    if norm == "batchnorm":
        a = spatial_batchnorm(a, gamma, beta, norm_param)
    elif norm == "groupnorm":
        a = spatial_groupnorm(a, gamma, beta, norm_param["G"], norm_param)
    elif norm is not None:
        raise ValueError(f"norm must be None, 'batchnorm' or 'groupnorm', got {norm!r}")
    return activation(act)(a, *act_params)

"""Sandwich layers built only from the public forward/backward pairs: the classic
affine-relu ones, and ``affine_norm_act`` with any normalisation and any registered activation."""

from __future__ import annotations

from visionblocks.layers.activations import relu_backward, relu_forward
from visionblocks.layers.affine import affine_backward, affine_forward
from visionblocks.layers.norm import (
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from visionblocks.layers.registry import ACTIVATIONS

__all__ = [
    "affine_norm_act_backward",
    "affine_norm_act_forward",
    "affine_norm_relu_backward",
    "affine_norm_relu_forward",
    "affine_relu_backward",
    "affine_relu_forward",
]

_NORMS = {
    "batchnorm": (batchnorm_forward, batchnorm_backward_alt),
    "layernorm": (layernorm_forward, layernorm_backward),
}


def affine_relu_forward(x, w, b):
    """Affine followed by ReLU.

    Args:
        x: (N, d_1, ..., d_k) input; w: (D, M); b: (M,).

    Returns:
        out: (N, M), cache.
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward of ``affine_relu_forward``: returns dx, dw, db."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def affine_norm_relu_forward(x, w, b, gamma, beta, norm_param, norm="batchnorm"):
    """Affine, then batch or layer normalisation, then ReLU.

    Args:
        x: (N, d_1, ..., d_k) input; w: (D, M); b: (M,); gamma, beta: (M,).
        norm_param: the bn_param / ln_param dict of the norm layer.
        norm: 'batchnorm' or 'layernorm'.

    Returns:
        out: (N, M), cache.
    """
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {sorted(_NORMS)}, got {norm!r}")
    norm_forward, _ = _NORMS[norm]
    a, fc_cache = affine_forward(x, w, b)
    an, norm_cache = norm_forward(a, gamma, beta, norm_param)
    out, relu_cache = relu_forward(an)
    return out, (norm, fc_cache, norm_cache, relu_cache)


def affine_norm_relu_backward(dout, cache):
    """Backward of ``affine_norm_relu_forward``: returns dx, dw, db, dgamma, dbeta."""
    norm, fc_cache, norm_cache, relu_cache = cache
    _, norm_backward = _NORMS[norm]
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = norm_backward(dan, norm_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta


def activation_entry(activation):
    """The registered activation named ``activation`` (a one-line error naming the known ones)."""
    try:
        return ACTIVATIONS[activation]
    except KeyError as e:
        raise ValueError(str(e)) from None


def affine_norm_act_forward(x, w, b, gamma, beta, norm_param, norm, activation, *act_params):
    """Affine, optional batch/layer normalisation, then any registered activation.

    Args:
        x: (N, d_1, ..., d_k) input; w: (D, M); b: (M,).
        gamma, beta: (M,) of the norm (None without one).
        norm_param: the bn_param / ln_param dict (None without a norm).
        norm: None, 'batchnorm' or 'layernorm'.
        activation: a name in ``ACTIVATIONS`` ('relu', 'elu', 'prelu', 'maxout', ...).
        act_params: the activation's learnable parameters (PReLU: alpha (M / pieces,)).

    Returns:
        out: (N, M / pieces), cache.
    """
    if norm is not None and norm not in _NORMS:
        raise ValueError(f"norm must be None or one of {sorted(_NORMS)}, got {norm!r}")
    act = activation_entry(activation)
    a, fc_cache = affine_forward(x, w, b)
    norm_cache = None
    if norm is not None:
        a, norm_cache = _NORMS[norm][0](a, gamma, beta, norm_param)
    out, act_cache = act.apply(a, act_params)
    return out, (norm, act, fc_cache, norm_cache, act_cache)


def affine_norm_act_backward(dout, cache):
    """Backward of ``affine_norm_act_forward``.

    Returns:
        (dx, dw, db), then (dgamma, dbeta) with a norm, then the activation's parameter grads.
    """
    norm, act, fc_cache, norm_cache, act_cache = cache
    da, dparams = act.backward_all(dout, act_cache)
    norm_grads = ()
    if norm is not None:
        da, dgamma, dbeta = _NORMS[norm][1](da, norm_cache)
        norm_grads = (dgamma, dbeta)
    return (*affine_backward(da, fc_cache), *norm_grads, *dparams)

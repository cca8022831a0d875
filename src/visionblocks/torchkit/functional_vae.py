"""Torch twins of the NumPy VAE loss pairs (``layers.vae_losses``), per example like them.

``gaussian_kl(mu, logvar)`` is the twin of ``gaussian_kl_forward``, ``bernoulli_nll(logits,
x)`` of ``bernoulli_nll_forward`` and ``reparameterize(mu, logvar, eps)`` of
``reparameterize_forward``; the torch VAE (``generative.vae``) is built from them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from visionblocks.errors import ShapeError


def _same_shape(a, b, names):
    if a.shape != b.shape or a.ndim != 2:
        raise ShapeError(f"{names[0]} and {names[1]} must both be (N, D), got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")  # fmt: skip


def gaussian_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per example.

    Args:
        mu, logvar: (N, D) the encoder's means and log-variances.

    Returns:
        kl: (N,) in nats, ``0.5 * sum(mu**2 + exp(logvar) - 1 - logvar)``.
    """
    _same_shape(mu, logvar, ("mu", "logvar"))
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(1)


def bernoulli_nll(logits, x):
    """-log p(x | logits) of independent Bernoullis, summed per example (stable in the logits).

    Args:
        logits: (N, D) decoder logits. x: (N, D) targets in [0, 1] (binary for a likelihood).

    Returns:
        nll: (N,) in nats.
    """
    _same_shape(logits, x, ("logits", "x"))
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)


def reparameterize(mu, logvar, eps):
    """z = mu + exp(logvar / 2) * eps, differentiable in mu and logvar.

    Args:
        mu, logvar, eps: (N, D); eps standard normal noise.

    Returns:
        z: (N, D).
    """
    _same_shape(mu, logvar, ("mu", "logvar"))
    _same_shape(mu, eps, ("mu", "eps"))
    return mu + torch.exp(0.5 * logvar) * eps

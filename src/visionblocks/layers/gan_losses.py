"""GAN losses on discriminator logits (scores) with their gradients: the GAN
(binary cross-entropy, non-saturating generator), least-squares and Wasserstein pairs.

Each returns the loss and the gradient with respect to every score argument (the classic
``softmax_loss`` form, ``(loss, dx)``, with one gradient per input). Scores are (N,) or (N, 1);
a gradient has its scores' shape. The torch versions of the course are in
``visionblocks.generative.gan``.
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError

__all__ = [
    "gan_discriminator_loss",
    "gan_generator_loss",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "wgan_critic_loss",
    "wgan_generator_loss",
]


def _scores(name, s) -> np.ndarray:
    as_float_array(name, s, ndim=(1, 2))
    if s.ndim == 2 and s.shape[1] != 1:
        raise ShapeError(f"{name} must be (N,) or (N, 1) scores, got shape {s.shape}")
    if s.shape[0] == 0:
        raise ShapeError(f"{name} must hold at least one score, got shape {s.shape}")
    return s


def _softplus(x):
    """log(1 + e^x), stable for large |x|."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x):
    e = np.exp(-np.abs(x))  # in (0, 1]: no overflow
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def gan_discriminator_loss(logits_real, logits_fake):
    """The GAN discriminator loss ``bce(real, 1) + bce(fake, 0)``:
    ``mean(log(1 + e^-r)) + mean(log(1 + e^f))``.

    Args:
        logits_real: (N,) or (N, 1) logits on real images.
        logits_fake: (M,) or (M, 1) logits on generated images.

    Returns:
        loss: float.
        dreal: gradient with respect to logits_real, ``(sigmoid(r) - 1) / N``.
        dfake: gradient with respect to logits_fake, ``sigmoid(f) / M``.
    """
    r, f = _scores("logits_real", logits_real), _scores("logits_fake", logits_fake)
    loss = _softplus(-r).mean() + _softplus(f).mean()
    return float(loss), (_sigmoid(r) - 1) / r.shape[0], _sigmoid(f) / f.shape[0]


def gan_generator_loss(logits_fake):
    """The non-saturating generator loss ``bce(fake, 1) = mean(log(1 + e^-f))``.

    Args:
        logits_fake: (N,) or (N, 1) discriminator logits on generated images.

    Returns:
        loss: float.
        dfake: gradient with respect to logits_fake, ``(sigmoid(f) - 1) / N``.
    """
    f = _scores("logits_fake", logits_fake)
    return float(_softplus(-f).mean()), (_sigmoid(f) - 1) / f.shape[0]


def lsgan_discriminator_loss(scores_real, scores_fake):
    """The least-squares discriminator loss ``0.5 mean((r - 1)^2) + 0.5 mean(f^2)``.

    Args:
        scores_real: (N,) or (N, 1) scores on real images.
        scores_fake: (M,) or (M, 1) scores on generated images.

    Returns:
        loss: float.
        dreal: ``(r - 1) / N``.
        dfake: ``f / M``.
    """
    r, f = _scores("scores_real", scores_real), _scores("scores_fake", scores_fake)
    loss = 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f**2)
    return float(loss), (r - 1) / r.shape[0], f / f.shape[0]


def lsgan_generator_loss(scores_fake):
    """The least-squares generator loss ``0.5 mean((f - 1)^2)``.

    Args:
        scores_fake: (N,) or (N, 1) scores on generated images.

    Returns:
        loss: float.
        dfake: ``(f - 1) / N``.
    """
    f = _scores("scores_fake", scores_fake)
    return float(0.5 * np.mean((f - 1) ** 2)), (f - 1) / f.shape[0]


def wgan_critic_loss(scores_real, scores_fake):
    """The Wasserstein critic loss without a penalty: ``mean(f) - mean(r)``.

    Args:
        scores_real: (N,) or (N, 1) critic scores on real images.
        scores_fake: (M,) or (M, 1) scores on generated images.

    Returns:
        loss: float.
        dreal: ``-1 / N`` everywhere.
        dfake: ``1 / M`` everywhere.
    """
    r, f = _scores("scores_real", scores_real), _scores("scores_fake", scores_fake)
    loss = np.mean(f) - np.mean(r)
    return float(loss), np.full_like(r, -1.0 / r.shape[0]), np.full_like(f, 1.0 / f.shape[0])


def wgan_generator_loss(scores_fake):
    """The Wasserstein generator loss ``-mean(f)``.

    Args:
        scores_fake: (N,) or (N, 1) critic scores on generated images.

    Returns:
        loss: float.
        dfake: ``-1 / N`` everywhere.
    """
    f = _scores("scores_fake", scores_fake)
    return float(-np.mean(f)), np.full_like(f, -1.0 / f.shape[0])

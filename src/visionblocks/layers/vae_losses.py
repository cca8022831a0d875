"""The VAE's pieces as NumPy pairs, per example: Gaussian KL, Bernoulli NLL, reparameterisation.

The negative ELBO of a batch is ``mean(bernoulli_nll(decoder(z), x) + gaussian_kl(mu, logvar))``
with ``z = reparameterize(mu, logvar, eps)``; each piece returns one value per example (N,), so
``dout`` of its backward is the weight of each example (``1 / N`` for a batch mean). The noise
``eps`` is an input, so a step is deterministic given it (and gradient-checkable).
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError

__all__ = [
    "bernoulli_nll_backward",
    "bernoulli_nll_forward",
    "gaussian_kl_backward",
    "gaussian_kl_forward",
    "reparameterize_backward",
    "reparameterize_forward",
]


def _pair(a, b, names):
    as_float_array(names[0], a, ndim=2)
    as_float_array(names[1], b, ndim=2)
    if a.shape != b.shape:
        raise ShapeError(f"{names[0]} and {names[1]} must have the same shape (N, D), got "
                         f"{a.shape} and {b.shape}")  # fmt: skip


def gaussian_kl_forward(mu, logvar):
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) of each example.

    Args:
        mu: (N, D) posterior means.
        logvar: (N, D) posterior log-variances.

    Returns:
        kl: (N,) ``0.5 * sum_d (mu**2 + exp(logvar) - 1 - logvar)`` in nats.
        cache: what the backward needs.
    """
    _pair(mu, logvar, ("mu", "logvar"))
    var = np.exp(logvar)  # (N, D)
    kl = 0.5 * (mu**2 + var - 1.0 - logvar).sum(axis=1)  # (N,)
    return kl, (mu, var)


def gaussian_kl_backward(dout, cache):
    """Args: dout (N,) upstream gradient per example. Returns: dmu (N, D), dlogvar (N, D)."""
    mu, var = cache
    d = np.asarray(dout)[:, None]  # (N,) -> (N, 1)
    return d * mu, d * 0.5 * (var - 1.0)


def bernoulli_nll_forward(logits, x):
    """-log p(x | logits) of independent Bernoullis per example, stable for any logits.

    Args:
        logits: (N, D) decoder logits.
        x: (N, D) targets in [0, 1] (binary pixels for a likelihood).

    Returns:
        nll: (N,) ``sum_d [max(l, 0) - l * x + log(1 + exp(-|l|))]`` in nats.
        cache: what the backward needs.
    """
    _pair(logits, x, ("logits", "x"))
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must hold targets in [0, 1], got [{x.min():g}, {x.max():g}]")
    per = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))  # (N, D)
    return per.sum(axis=1), (logits, x)


def bernoulli_nll_backward(dout, cache):
    """Args: dout (N,) upstream gradient per example. Returns: dlogits (N, D)."""
    logits, x = cache
    sig = 0.5 * (1.0 + np.tanh(0.5 * logits))  # (N, D) sigmoid, stable for any logits
    return np.asarray(dout)[:, None] * (sig - x)


def reparameterize_forward(mu, logvar, eps):
    """The reparameterisation trick: z = mu + exp(logvar / 2) * eps.

    Args:
        mu, logvar: (N, D) posterior means and log-variances.
        eps: (N, D) standard normal noise (drawn by the caller's generator).

    Returns:
        z: (N, D) the latent sample.
        cache: what the backward needs.
    """
    _pair(mu, logvar, ("mu", "logvar"))
    _pair(mu, eps, ("mu", "eps"))
    scaled = np.exp(0.5 * logvar) * eps  # (N, D)
    return mu + scaled, scaled


def reparameterize_backward(dz, cache):
    """Args: dz (N, D). Returns: dmu (N, D), dlogvar (N, D) (eps is not differentiated)."""
    scaled = cache
    return dz.copy(), 0.5 * dz * scaled

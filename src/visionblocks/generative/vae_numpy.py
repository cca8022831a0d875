"""A small MLP VAE in the NumPy engine, built from the registered pairs only (affine, ReLU, the
reparameterisation, the Gaussian KL and the Bernoulli NLL): D -> H -> (mu, logvar) -> z -> H -> D.

It follows the classic model contract: ``params`` (W1, b1, ... W4, b4) and ``loss(X, eps)``
returning ``(loss, grads)`` with the same keys; ``loss`` is the batch mean of -ELBO in nats::

    vae = MLPVAENumpy(input_dim=64, hidden_dim=64, latent_dim=4, seed=0)
    eps = rng.standard_normal((N, 4))
    loss, grads = vae.loss(x_binary, eps)   # x_binary: (N, 64) of 0s and 1s
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError
from visionblocks.layers.affine import affine_backward, affine_forward
from visionblocks.layers.composite import affine_relu_backward, affine_relu_forward
from visionblocks.layers.vae_losses import (
    bernoulli_nll_backward,
    bernoulli_nll_forward,
    gaussian_kl_backward,
    gaussian_kl_forward,
    reparameterize_backward,
    reparameterize_forward,
)
from visionblocks.models.init import init_weight


def binarize_numpy(x, rng):
    """Dynamic binarisation: 1 with probability the intensity (x in [0, 1]); same shape, float."""
    as_float_array("x", x)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError("x must hold intensities in [0, 1]")
    return (rng.uniform(size=x.shape) < x).astype(x.dtype)


class MLPVAENumpy:
    """A one-hidden-layer MLP VAE with a Bernoulli decoder (NumPy engine).

    Args:
        input_dim: D, pixels per (flattened) image.
        hidden_dim: H, width of the encoder's and the decoder's hidden layer.
        latent_dim: L, size of z.
        seed: seeds the He initialisation.
        dtype: float type of the params (float64 for gradient checks).
    """

    def __init__(self, input_dim=64, hidden_dim=64, latent_dim=4, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        d, h, z = int(input_dim), int(hidden_dim), int(latent_dim)
        self.latent_dim, self.dtype = z, dtype
        shapes = [(d, h), (h, 2 * z), (z, h), (h, d)]
        self.params = {}
        for i, (a, b) in enumerate(shapes, start=1):
            self.params[f"W{i}"] = init_weight(rng, (a, b), a, b, init="he", dtype=dtype)
            self.params[f"b{i}"] = np.zeros(b, dtype=dtype)

    def forward_parts(self, X, eps):
        """Runs the model; returns (nll (N,), kl (N,), caches)."""
        p = self.params
        X = as_float_array("X", X, ndim=2)
        if eps.shape != (X.shape[0], self.latent_dim):
            raise ShapeError(f"eps must be (N, {self.latent_dim}) = ({X.shape[0]}, "
                             f"{self.latent_dim}), got {eps.shape}")  # fmt: skip
        h1, c1 = affine_relu_forward(X, p["W1"], p["b1"])  # (N, H)
        stats, c2 = affine_forward(h1, p["W2"], p["b2"])  # (N, 2L)
        mu, logvar = stats[:, : self.latent_dim], stats[:, self.latent_dim :]  # (N, L) each
        z, c3 = reparameterize_forward(mu, logvar, eps)  # (N, L)
        h3, c4 = affine_relu_forward(z, p["W3"], p["b3"])  # (N, H)
        logits, c5 = affine_forward(h3, p["W4"], p["b4"])  # (N, D)
        nll, c6 = bernoulli_nll_forward(logits, X)  # (N,)
        kl, c7 = gaussian_kl_forward(mu, logvar)  # (N,)
        return nll, kl, (c1, c2, c3, c4, c5, c6, c7)

    def neg_elbo(self, X, eps):
        """-ELBO per example (N,) in nats, for the noise eps (N, L)."""
        nll, kl, _ = self.forward_parts(X, eps)
        return nll + kl

    def loss(self, X, eps):
        """Mean -ELBO over the batch and its gradients.

        Args:
            X: (N, D) binary images (flattened).
            eps: (N, L) standard normal noise of the reparameterisation.

        Returns:
            loss: scalar, nats per image.
            grads: dict with the keys of ``params``.
        """
        nll, kl, (c1, c2, c3, c4, c5, c6, c7) = self.forward_parts(X, eps)
        n = X.shape[0]
        dout = np.full(n, 1.0 / n, dtype=X.dtype)  # (N,) d(mean)/d(each example)
        grads = {}
        dlogits = bernoulli_nll_backward(dout, c6)  # (N, D)
        dh3, grads["W4"], grads["b4"] = affine_backward(dlogits, c5)
        dz, grads["W3"], grads["b3"] = affine_relu_backward(dh3, c4)
        dmu, dlogvar = reparameterize_backward(dz, c3)
        dmu_kl, dlogvar_kl = gaussian_kl_backward(dout, c7)
        dstats = np.concatenate([dmu + dmu_kl, dlogvar + dlogvar_kl], axis=1)  # (N, 2L)
        dh1, grads["W2"], grads["b2"] = affine_backward(dstats, c2)
        _, grads["W1"], grads["b1"] = affine_relu_backward(dh1, c1)
        return float(np.mean(nll + kl)), grads

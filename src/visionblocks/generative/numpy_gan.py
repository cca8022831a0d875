"""A small MLP GAN on the NumPy engine: the course's alternating updates written with the
layer pairs (affine, leaky ReLU / ReLU, tanh), the NumPy GAN losses and the Adam rule.

Discriminator ``affine - leaky ReLU(0.01) - affine`` (one logit), generator ``affine - ReLU -
affine - tanh``; both are ``params`` dicts (``W1, b1, W2, b2``), as every NumPy model. Meant
for digits-sized data (e.g. 8x8 digits, 64 features in [-1, 1]) and for teaching: the
backward pass through the discriminator into the generator is spelled out.
"""

from __future__ import annotations

import numpy as np

from visionblocks.errors import ConfigError, ShapeError
from visionblocks.layers import activations as A
from visionblocks.layers import gan_losses as GL
from visionblocks.layers.affine import affine_backward, affine_forward
from visionblocks.optim.rules import adam

__all__ = ["LOSSES", "MLPGAN"]

#: loss name -> (discriminator pair, generator pair) of ``layers.gan_losses``
LOSSES = {
    "gan": (GL.gan_discriminator_loss, GL.gan_generator_loss),
    "lsgan": (GL.lsgan_discriminator_loss, GL.lsgan_generator_loss),
}


def _init(rng, dims, weight_scale):
    params = {}
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True), start=1):
        params[f"W{i}"] = weight_scale * rng.standard_normal((a, b)) / np.sqrt(a)
        params[f"b{i}"] = np.zeros(b)
    return params


class MLPGAN:
    """A two-layer discriminator and generator trained by alternating Adam steps.

    Args:
        data_dim: D, features per image (e.g. 64 for 8x8 digits).
        noise_dim: Z.
        hidden_dim: H, both networks' hidden width.
        loss: 'gan' (non-saturating) or 'lsgan'.
        learning_rate, beta1: Adam's (the course's GAN settings: 1e-3, 0.5).
        seed: the initial weights and the noise.
    """

    def __init__(self, data_dim, noise_dim=16, hidden_dim=64, loss="gan", learning_rate=1e-3,
                 beta1=0.5, seed=0):  # fmt: skip
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        self.rng = np.random.default_rng(seed)
        self.data_dim, self.noise_dim, self.loss = int(data_dim), int(noise_dim), loss
        self.d_params = _init(self.rng, (self.data_dim, hidden_dim, 1), np.sqrt(2.0))
        self.g_params = _init(self.rng, (self.noise_dim, hidden_dim, self.data_dim), np.sqrt(2.0))
        self.d_configs = {
            k: {"learning_rate": learning_rate, "beta1": beta1} for k in self.d_params
        }
        self.g_configs = {
            k: {"learning_rate": learning_rate, "beta1": beta1} for k in self.g_params
        }

    # ------------------------------------------------------------------ forward/backward
    def discriminate(self, x):
        """x: (N, D) images in [-1, 1] -> ((N, 1) logits, cache)."""
        p = self.d_params
        h, c1 = affine_forward(x, p["W1"], p["b1"])  # (N, H)
        a, c2 = A.leaky_relu_forward(h, 0.01)
        s, c3 = affine_forward(a, p["W2"], p["b2"])  # (N, 1)
        return s, (c1, c2, c3)

    def discriminator_backward(self, ds, cache):
        """ds: (N, 1) -> (dx (N, D), grads of d_params)."""
        c1, c2, c3 = cache
        da, dW2, db2 = affine_backward(ds, c3)
        dh = A.leaky_relu_backward(da, c2)
        dx, dW1, db1 = affine_backward(dh, c1)
        return dx, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

    def generate(self, z):
        """z: (N, Z) noise -> ((N, D) images in (-1, 1), cache)."""
        p = self.g_params
        h, c1 = affine_forward(z, p["W1"], p["b1"])  # (N, H)
        a, c2 = A.relu_forward(h)
        o, c3 = affine_forward(a, p["W2"], p["b2"])  # (N, D)
        x, c4 = A.tanh_forward(o)
        return x, (c1, c2, c3, c4)

    def generator_backward(self, dx, cache):
        """dx: (N, D) -> grads of g_params."""
        c1, c2, c3, c4 = cache
        do = A.tanh_backward(dx, c4)
        da, dW2, db2 = affine_backward(do, c3)
        dh = A.relu_backward(da, c2)
        _, dW1, db1 = affine_backward(dh, c1)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

    def sample_noise(self, n):
        """(n, Z) uniform noise in [-1, 1), from the model's generator."""
        return self.rng.uniform(-1, 1, (n, self.noise_dim))

    # ------------------------------------------------------------------------- training
    def train_step(self, x_real):
        """One discriminator step on ``x_real`` (N, D) in [-1, 1], then one generator step.

        Returns:
            (d_loss, g_loss) before the respective updates.
        """
        x_real = np.asarray(x_real, dtype=np.float64)
        if x_real.ndim != 2 or x_real.shape[1] != self.data_dim:
            raise ShapeError(f"x_real must be (N, {self.data_dim}), got {x_real.shape}")
        d_loss_fn, g_loss_fn = LOSSES[self.loss]
        n = len(x_real)
        fake, _ = self.generate(self.sample_noise(n))
        s_real, c_real = self.discriminate(x_real)
        s_fake, c_fake = self.discriminate(fake)
        d_loss, dreal, dfake = d_loss_fn(s_real, s_fake)
        _, g_real = self.discriminator_backward(dreal, c_real)
        _, g_fake = self.discriminator_backward(dfake, c_fake)
        for k in self.d_params:  # the loss sums the real and the fake terms
            self.d_params[k], self.d_configs[k] = adam(
                self.d_params[k], g_real[k] + g_fake[k], self.d_configs[k]
            )
        fake, g_cache = self.generate(self.sample_noise(n))
        s_fake, c_fake = self.discriminate(fake)
        g_loss, ds = g_loss_fn(s_fake)
        dx, _ = self.discriminator_backward(ds, c_fake)  # through D, which is not updated
        grads = self.generator_backward(dx, g_cache)
        for k in self.g_params:
            self.g_params[k], self.g_configs[k] = adam(
                self.g_params[k], grads[k], self.g_configs[k]
            )
        return d_loss, g_loss

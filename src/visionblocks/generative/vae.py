"""The variational autoencoder (torch engine): Gaussian encoder, reparameterisation, a Bernoulli
decoder for (dynamically) binarised images or a Gaussian one (fixed or learned variance) for
continuous ones, the analytic KL, the ELBO, and the importance-weighted bound IWAE-k.

All bounds are per example, in nats, of ``log p(x)``::

    vae = VAE((1, 28, 28), hidden=(400,), latent_dim=20)
    x = binarize(images, generator)            # a fresh binarisation every step (dynamic)
    loss = -vae.elbo(x).mean()                 # what training minimises
    vae.iwae_bound(x, k=200)                   # (N,) tighter: ELBO <= IWAE-k <= IWAE-k' <= log p(x)

IWAE-k is ``log (1/k) sum_i p(x, z_i) / q(z_i | x)`` with ``z_i ~ q(z | x)`` (Burda et al. 2016),
computed by a log-mean-exp. ``iwae_from_log_weights`` splits S = r * k samples into r disjoint
blocks of k and averages the r estimates; on the same samples this estimate is monotone in k
whenever k divides k' (Jensen within each k'-block), and k = 1 is the Monte Carlo ELBO.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from visionblocks.errors import ConfigError, ShapeError
from visionblocks.generative.autoencoder import (
    build_decoder,
    build_encoder,
    check_images,
    check_input_shape,
    latent_grid,
    lerp_codes,
)
from visionblocks.torchkit.functional_vae import bernoulli_nll, gaussian_kl, reparameterize

LIKELIHOODS = ("bernoulli", "gaussian")
LOG_2PI = math.log(2 * math.pi)
#: Floor of a learned decoder log standard deviation (a variance collapsing onto a pixel that
#: is always 0 would send the density to infinity).
MIN_LOG_STD = math.log(1e-3)


def binarize(x, generator=None):
    """Dynamic binarisation: each pixel is 1 with probability its intensity in [0, 1].

    Args:
        x: float tensor of intensities in [0, 1], any shape.
        generator: a ``torch.Generator`` on x's device (None: torch's global one).

    Returns:
        a float tensor of 0s and 1s shaped like x.
    """
    if not x.is_floating_point():
        raise TypeError(f"x must be a float tensor, got {x.dtype}")
    if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
        raise ValueError(f"x must hold intensities in [0, 1], got [{float(x.min()):g}, "
                         f"{float(x.max()):g}]")  # fmt: skip
    return torch.bernoulli(x, generator=generator)


def log_mean_exp(a, dim=0):
    """log(mean(exp(a), dim)), stable: the maximum is taken out before exponentiating."""
    m = a.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (m + (a - m).exp().mean(dim=dim, keepdim=True).log()).squeeze(dim)


def standard_normal_log_density(z):
    """log N(z; 0, I) summed over the last axis: z (..., D) -> (...)."""
    return -0.5 * (z**2 + LOG_2PI).sum(-1)


def diagonal_normal_log_density(z, mu, logvar):
    """log N(z; mu, diag(exp(logvar))) summed over the last axis: (..., D) -> (...)."""
    return -0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + LOG_2PI).sum(-1)


def iwae_from_log_weights(log_w, k):
    """The IWAE-k estimate from S = r * k log importance weights per example.

    Args:
        log_w: (S, N) ``log p(x, z_s) - log q(z_s | x)`` for S samples of each of N examples.
        k: samples per bound; must divide S.

    Returns:
        (N,) the mean of the r = S / k disjoint block estimates ``log mean_{s in block} w_s``.
    """
    s, n = log_w.shape
    if k < 1 or s % k:
        raise ConfigError(f"k must be >= 1 and divide the {s} samples, got k={k}")
    blocks = log_w.reshape(s // k, k, n)  # (S, N) -> (r, k, N): block b holds samples b*k...
    return log_mean_exp(blocks, dim=1).mean(0)  # (r, N) -> (N,)


class VAE(nn.Module):
    """A VAE with a diagonal Gaussian encoder q(z|x) and a standard normal prior p(z).

    Args:
        input_shape: (C, H, W) of the images.
        hidden: MLP widths ('mlp', the encoder's; the decoder mirrors them) or the two conv
            channel counts ('conv').
        latent_dim: size of z.
        arch: 'mlp' or 'conv'.
        likelihood: 'bernoulli' (decoder logits; for binary images) or 'gaussian' (decoder
            means; for intensities in [0, 1]).
        decoder_std: the Gaussian decoder's fixed standard deviation, or None to learn one per
            pixel (its log, floored at log 1e-3). Unused by 'bernoulli'.
    """

    def __init__(self, input_shape=(1, 28, 28), hidden=(400,), latent_dim=20, arch="mlp",
                 likelihood="bernoulli", decoder_std=None):  # fmt: skip
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ConfigError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if int(latent_dim) < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {latent_dim}")
        if decoder_std is not None and not decoder_std > 0:
            raise ConfigError(f"decoder_std must be > 0 or None (learned), got {decoder_std}")
        self.input_shape = check_input_shape(input_shape, arch == "conv")
        self.latent_dim, self.arch, self.likelihood = int(latent_dim), arch, likelihood
        self.decoder_std = decoder_std
        self.encoder = build_encoder(arch, self.input_shape, hidden, 2 * self.latent_dim)
        self.decoder = build_decoder(arch, self.input_shape, hidden, self.latent_dim)
        if likelihood == "gaussian" and decoder_std is None:
            self.log_std = nn.Parameter(torch.zeros(math.prod(self.input_shape)))

    # ------------------------------------------------------------------ the two halves
    def encode(self, x):
        """x: (N, C, H, W) -> (mu, logvar), each (N, latent_dim)."""
        h = self.encoder(check_images(x, self.input_shape))  # (N, 2 * latent_dim)
        return h[:, : self.latent_dim], h[:, self.latent_dim :]

    def decode(self, z):
        """z: (N, latent_dim) -> the decoder's output (N, C, H, W): logits or means."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ShapeError(f"z must be (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z)

    def mean_image(self, out):
        """The decoder's expected image E[x | z] from its output: sigmoid(logits) or the mean."""
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def decoder_log_std(self, dtype=None):
        """(D,) the Gaussian decoder's log standard deviation per pixel."""
        if self.decoder_std is not None:
            p = next(self.parameters())
            return torch.full((math.prod(self.input_shape),), math.log(self.decoder_std),
                              dtype=p.dtype, device=p.device)  # fmt: skip
        return self.log_std.clamp(min=MIN_LOG_STD)

    def log_likelihood(self, x, out):
        """log p(x | z) per example, from the decoder output for z: (N,) nats."""
        xf, of = x.reshape(x.shape[0], -1), out.reshape(out.shape[0], -1)  # (N, D) each
        if self.likelihood == "bernoulli":
            return -bernoulli_nll(of, xf)
        log_std = self.decoder_log_std()  # (D,)
        z2 = ((xf - of) / log_std.exp()) ** 2  # (N, D)
        return -0.5 * (z2 + 2 * log_std + LOG_2PI).sum(1)

    # ------------------------------------------------------------------------- bounds
    def _noise(self, shape, like, generator):
        return torch.randn(shape, dtype=like.dtype, device=like.device, generator=generator)

    def elbo(self, x, generator=None, eps=None):
        """The one-sample ELBO with the analytic KL: E_q[log p(x|z)] - KL(q(z|x) || p(z)).

        Args:
            x: (N, C, H, W) images (binary for 'bernoulli').
            generator: draws the noise eps (None: torch's global generator).
            eps: (N, latent_dim) the noise itself (overrides generator).

        Returns:
            (N,) the ELBO of each image, nats.
        """
        mu, logvar = self.encode(x)
        if eps is None:
            eps = self._noise(mu.shape, mu, generator)
        z = reparameterize(mu, logvar, eps)  # (N, latent_dim)
        return self.log_likelihood(x, self.decode(z)) - gaussian_kl(mu, logvar)

    def loss(self, x, generator=None):
        """Mean -ELBO over the batch (scalar), what training minimises."""
        return -self.elbo(x, generator).mean()

    def log_weights(self, x, num_samples, generator=None, eps=None):
        """log p(x, z_s) - log q(z_s | x) for ``num_samples`` draws z_s ~ q(z | x).

        Args:
            x: (N, C, H, W) images.
            num_samples: S.
            generator: draws the noise (None: torch's global generator).
            eps: (S, N, latent_dim) the noise itself (overrides generator and num_samples).

        Returns:
            (S, N) log importance weights.
        """
        mu, logvar = self.encode(x)  # (N, L) each
        n = x.shape[0]
        if eps is None:
            eps = self._noise((int(num_samples), n, self.latent_dim), mu, generator)
        s = eps.shape[0]
        z = mu[None] + torch.exp(0.5 * logvar)[None] * eps  # (S, N, L)
        out = self.decode(z.reshape(s * n, self.latent_dim))  # (S*N, C, H, W)
        xs = x[None].expand(s, *x.shape).reshape(s * n, *x.shape[1:])  # (S*N, C, H, W)
        log_px = self.log_likelihood(xs, out).reshape(s, n)  # (S*N,) -> (S, N)
        return (
            log_px
            + standard_normal_log_density(z)
            - diagonal_normal_log_density(z, mu[None], logvar[None])
        )

    def iwae_bound(self, x, k, repeats=1, generator=None):
        """The importance-weighted bound IWAE-k, averaged over ``repeats`` independent draws.

        Returns:
            (N,) nats; k = 1 is the Monte Carlo ELBO (KL estimated, not analytic).
        """
        if int(k) < 1 or int(repeats) < 1:
            raise ConfigError(f"k and repeats must be >= 1, got {k}, {repeats}")
        log_w = self.log_weights(x, int(k) * int(repeats), generator)
        return iwae_from_log_weights(log_w, int(k))

    # --------------------------------------------------------------------- generation
    @torch.no_grad()
    def sample(self, n, generator=None):
        """n images E[x | z] for z ~ N(0, I): (n, C, H, W)."""
        p = next(self.parameters())
        z = self._noise((int(n), self.latent_dim), p, generator)
        return self.mean_image(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x):
        """E[x | z = mu(x)]: (N, C, H, W)."""
        return self.mean_image(self.decode(self.encode(x)[0]))

    @torch.no_grad()
    def interpolate(self, x_a, x_b, steps=8):
        """Decodes ``steps`` codes on the segment between the posterior means of images x_a and
        x_b (C, H, W): (steps, C, H, W)."""
        mu = self.encode(torch.stack([x_a, x_b]))[0]  # (2, L)
        return self.mean_image(self.decode(lerp_codes(mu[0], mu[1], steps)))

    @torch.no_grad()
    def latent_map(self, n=15, span=2.0):
        """For a 2-d latent: decodes an n x n grid of codes over [-span, span]^2 (the prior's
        bulk), row-major, the second coordinate decreasing down the rows: (n*n, C, H, W)."""
        if self.latent_dim != 2:
            raise ConfigError(f"latent_map needs latent_dim == 2, got {self.latent_dim}")
        p = next(self.parameters())
        return self.mean_image(self.decode(latent_grid(n, span, p.dtype, p.device)))


@torch.no_grad()
def evaluate_bounds(model, x, k=200, batch_size=100, seed=0, binarize_seed=None):
    """-ELBO and -IWAE-k averaged over images, for test log-likelihoods (nats per image).

    Args:
        model: a VAE (put in eval mode here).
        x: (N, C, H, W) images; binarised once with ``binarize_seed`` when that is given (the
            fixed binarisation of an evaluation split), else used as they are.
        k: importance samples of the IWAE bound.
        batch_size: images per forward pass (memory: batch_size * k decoder outputs).
        seed: seeds the noise (the same seed, the same figures).

    Returns:
        {'neg_elbo': mean -ELBO (analytic KL, one sample), 'neg_iwae': mean -IWAE-k, 'k': k}.
    """
    model.eval()
    p = next(model.parameters())
    x = torch.as_tensor(x, dtype=p.dtype).to(p.device)
    if binarize_seed is not None:
        x = binarize(x, torch.Generator(device=p.device).manual_seed(binarize_seed))
    gen = torch.Generator(device=p.device).manual_seed(seed)
    elbo_sum, iwae_sum = 0.0, 0.0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        elbo_sum += float(model.elbo(xb, gen).sum())
        iwae_sum += float(model.iwae_bound(xb, k, generator=gen).sum())
    n = max(x.shape[0], 1)
    return {"neg_elbo": -elbo_sum / n, "neg_iwae": -iwae_sum / n, "k": int(k)}

"""Autoencoders (torch engine): MLP and convolutional encoder/decoder pairs, reconstruction
losses, latent interpolation and the latent-space map of a 2-d code.

The encoder and decoder builders here are shared with the VAE (``generative.vae``)::

    ae = MLPAutoencoder((1, 28, 28), hidden_dims=(256,), latent_dim=16)
    loss = ae.loss(x)                      # mean per-image reconstruction loss (nats for BCE)
    frames = ae.interpolate(x[0], x[1], steps=8)   # (8, 1, 28, 28) decoded images
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from visionblocks.errors import ConfigError, ShapeError

RECONSTRUCTIONS = ("bce", "mse")


def check_input_shape(input_shape, conv: bool) -> tuple[int, int, int]:
    """Checks an image shape (C, H, W); a conv encoder halves H and W twice, so needs H, W % 4."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ShapeError(f"input_shape must be (C, H, W) with positive sizes, got {input_shape}")
    if conv and (shape[1] % 4 or shape[2] % 4):
        raise ShapeError(f"a convolutional encoder needs H and W divisible by 4, got {shape}")
    return shape


def mlp(sizes, final_activation=False) -> nn.Sequential:
    """Linear layers of the given sizes with ReLUs between them (and after the last if asked)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Flattens (N, C, H, W) images and maps them through ReLU layers to (N, out_dim)."""

    def __init__(self, input_shape, hidden_dims, out_dim):
        super().__init__()
        d = math.prod(input_shape)
        self.net = mlp([d, *hidden_dims, out_dim])

    def forward(self, x):
        return self.net(x.reshape(x.shape[0], -1))  # (N, C, H, W) -> (N, D) -> (N, out_dim)


class MLPDecoder(nn.Module):
    """Maps (N, latent_dim) codes through ReLU layers to (N, C, H, W) pre-activations."""

    def __init__(self, input_shape, hidden_dims, latent_dim):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.net = mlp([latent_dim, *reversed(tuple(hidden_dims)), math.prod(input_shape)])

    def forward(self, z):
        return self.net(z).reshape(z.shape[0], *self.input_shape)  # (N, D) -> (N, C, H, W)


class ConvEncoder(nn.Module):
    """Two stride-2 3x3 convolutions (H -> H/4), then a linear map to (N, out_dim)."""

    def __init__(self, input_shape, channels, out_dim):
        super().__init__()
        c, h, w = input_shape
        c1, c2 = channels
        self.conv = nn.Sequential(
            nn.Conv2d(c, c1, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.fc = nn.Linear(c2 * (h // 4) * (w // 4), out_dim)

    def forward(self, x):
        h = self.conv(x)  # (N, c2, H/4, W/4)
        return self.fc(h.reshape(h.shape[0], -1))  # (N, c2*H*W/16) -> (N, out_dim)


class ConvDecoder(nn.Module):
    """A linear map to (c2, H/4, W/4), then two stride-2 transposed convolutions to (C, H, W)."""

    def __init__(self, input_shape, channels, latent_dim):
        super().__init__()
        c, h, w = input_shape
        c1, c2 = channels
        self.grid = (c2, h // 4, w // 4)
        self.fc = nn.Linear(latent_dim, math.prod(self.grid))
        self.deconv = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, c, 3, stride=2, padding=1, output_padding=1),
        )  # fmt: skip

    def forward(self, z):
        h = self.fc(z).reshape(z.shape[0], *self.grid)  # (N, c2*H*W/16) -> (N, c2, H/4, W/4)
        return self.deconv(h)  # (N, C, H, W)


def build_encoder(arch, input_shape, hidden, out_dim) -> nn.Module:
    """``arch`` 'mlp' (hidden: layer widths) or 'conv' (hidden: the two channel counts)."""
    if arch == "mlp":
        return MLPEncoder(input_shape, hidden, out_dim)
    if arch == "conv":
        return ConvEncoder(input_shape, _two(hidden), out_dim)
    raise ConfigError(f"arch must be 'mlp' or 'conv', got {arch!r}")


def build_decoder(arch, input_shape, hidden, latent_dim) -> nn.Module:
    """The mirror image of ``build_encoder``."""
    if arch == "mlp":
        return MLPDecoder(input_shape, hidden, latent_dim)
    if arch == "conv":
        return ConvDecoder(input_shape, _two(hidden), latent_dim)
    raise ConfigError(f"arch must be 'mlp' or 'conv', got {arch!r}")


def _two(hidden):
    hidden = tuple(int(h) for h in hidden)
    if len(hidden) != 2:
        raise ConfigError(f"a conv encoder takes two channel counts, got hidden={hidden}")
    return hidden


def check_images(x, input_shape, name="x"):
    """Checks a float tensor (N, C, H, W) of the model's image shape."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {type(x).__name__}")
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise ShapeError(f"{name} must have shape (N, {', '.join(map(str, input_shape))}), "
                         f"got {tuple(x.shape)}")  # fmt: skip
    return x


def lerp_codes(z_a, z_b, steps):
    """``steps`` codes on the segment from z_a (D,) to z_b (D,), both ends included: (steps, D)."""
    if steps < 2:
        raise ConfigError(f"steps must be >= 2, got {steps}")
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype, device=z_a.device)[:, None]  # (steps, 1)
    return (1 - t) * z_a[None] + t * z_b[None]  # (steps, D)


def latent_grid(n, span=2.0, dtype=torch.float32, device=None):
    """An n x n grid of 2-d codes over [-span, span]^2, row-major, y decreasing: (n*n, 2)."""
    if n < 2:
        raise ConfigError(f"n must be >= 2, got {n}")
    v = torch.linspace(-span, span, n, dtype=dtype, device=device)
    gy, gx = torch.meshgrid(v.flip(0), v, indexing="ij")  # (n, n) each
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (n*n, 2)


class Autoencoder(nn.Module):
    """A deterministic autoencoder: x -> z = encode(x) -> decode(z) (logits for 'bce').

    Args:
        input_shape: (C, H, W) of the images (values in [0, 1]).
        hidden: MLP widths ('mlp') or the two conv channel counts ('conv').
        latent_dim: size of the code.
        arch: 'mlp' or 'conv'.
        reconstruction: 'bce' (Bernoulli cross-entropy on logits, nats per image) or 'mse'
            (squared error summed over pixels).
    """

    def __init__(self, input_shape=(1, 28, 28), hidden=(256,), latent_dim=16, arch="mlp",
                 reconstruction="bce"):  # fmt: skip
        super().__init__()
        if reconstruction not in RECONSTRUCTIONS:
            raise ConfigError(f"reconstruction must be one of {RECONSTRUCTIONS}, "
                              f"got {reconstruction!r}")  # fmt: skip
        if int(latent_dim) < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {latent_dim}")
        self.input_shape = check_input_shape(input_shape, arch == "conv")
        self.latent_dim, self.arch, self.reconstruction = int(latent_dim), arch, reconstruction
        self.encoder = build_encoder(arch, self.input_shape, hidden, self.latent_dim)
        self.decoder = build_decoder(arch, self.input_shape, hidden, self.latent_dim)

    def encode(self, x):
        """x: (N, C, H, W) -> codes (N, latent_dim)."""
        return self.encoder(check_images(x, self.input_shape))

    def decode(self, z):
        """z: (N, latent_dim) -> images (N, C, H, W) in [0, 1] ('bce': sigmoid of the logits)."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.reconstruction == "bce" else out

    def forward(self, x):
        return self.decode(self.encode(x))

    def reconstruction_loss(self, x):
        """(N,) per-image loss: BCE summed over pixels (nats) or squared error summed."""
        out = self.decoder(self.encode(x))  # (N, C, H, W)
        if self.reconstruction == "bce":
            per_pixel = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            per_pixel = (out - x) ** 2
        return per_pixel.reshape(x.shape[0], -1).sum(1)  # (N, D) -> (N,)

    def loss(self, x):
        """Mean per-image reconstruction loss (scalar)."""
        return self.reconstruction_loss(x).mean()

    @torch.no_grad()
    def interpolate(self, x_a, x_b, steps=8):
        """Decodes ``steps`` codes between those of images x_a, x_b (C, H, W): (steps, C, H, W)."""
        z = self.encode(torch.stack([x_a, x_b]))  # (2, latent_dim)
        return self.decode(lerp_codes(z[0], z[1], steps))

    @torch.no_grad()
    def latent_map(self, n=15, span=None):
        """For a 2-d code: decodes an n x n grid of codes (over the range the codes of a
        trained model take; default span 2): (n*n, C, H, W), row-major."""
        if self.latent_dim != 2:
            raise ConfigError(f"latent_map needs latent_dim == 2, got {self.latent_dim}")
        p = next(self.parameters())
        return self.decode(latent_grid(n, 2.0 if span is None else span, p.dtype, p.device))

"""PixelCNN (van den Oord et al. 2016) for grayscale images (torch engine): masked convolutions
(a type-A 7x7 first, then residual type-B 3x3 ones), a 256-way softmax per pixel, bits per
dimension, and raster-order sampling.

The image model is ``p(x) = prod_{i,j} p(x_ij | pixels before (i, j) in raster order)``: the
logits at (i, j) depend only on the pixels above and to the left in the same row. Type A masks
also hide the centre pixel (the first layer, which sees the image); type B masks let a feature
see its own position (later layers, whose centre already only knows earlier pixels)::

    model = PixelCNN((1, 28, 28), channels=32, num_layers=5)
    q = quantize(images)                 # (N, 1, 28, 28) integers in [0, 255]
    model.bits_per_dim(q)                # scalar; a uniform model scores exactly 8
    model.sample(64, generator)          # (64, 1, 28, 28) integers, one pixel at a time
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from visionblocks.errors import ConfigError, ShapeError


def causal_mask(kernel_size, mask_type):
    """(k, k) mask of a masked convolution: 1 above the centre row and left of the centre in its
    row; the centre itself is 1 for type 'B' and 0 for type 'A'."""
    if mask_type not in ("A", "B"):
        raise ConfigError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ConfigError(f"kernel_size must be odd and >= 1, got {kernel_size}")
    k, c = kernel_size, kernel_size // 2
    mask = torch.ones(k, k)
    mask[c, c + (mask_type == "B") :] = 0  # the centre (type A) and what follows in its row
    mask[c + 1 :, :] = 0  # the rows below
    return mask


class MaskedConv2d(nn.Conv2d):
    """A 'same' convolution whose kernel is multiplied by a causal mask at every forward pass
    (so the hidden weights get exactly zero gradient and never leak)."""

    def __init__(self, mask_type, in_channels, out_channels, kernel_size):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(kernel_size, mask_type)[None, None])

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class _ResidualB(nn.Module):
    """x + maskedB3x3(relu(x)): keeps the type-B causal structure."""

    def __init__(self, channels):
        super().__init__()
        self.conv = MaskedConv2d("B", channels, channels, 3)

    def forward(self, x):
        return x + self.conv(F.relu(x))


def quantize(x, levels=256):
    """Intensities in [0, 1] -> integer levels in [0, levels - 1] (round to nearest): int64."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"x must be a float tensor of intensities, got {type(x).__name__}")
    if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
        raise ValueError("x must hold intensities in [0, 1]")
    return torch.round(x * (levels - 1)).long()


class PixelCNN(nn.Module):
    """A grayscale PixelCNN over ``levels`` intensity values.

    Args:
        input_shape: (1, H, W).
        channels: feature channels of every hidden layer.
        num_layers: residual type-B 3x3 layers after the type-A 7x7 one.
        levels: intensity values per pixel (256: the 256-way softmax).
        first_kernel: the type-A kernel size.
    """

    def __init__(self, input_shape=(1, 28, 28), channels=32, num_layers=5, levels=256,
                 first_kernel=7):  # fmt: skip
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 3 or shape[0] != 1 or min(shape) < 1:
            raise ShapeError(f"input_shape must be (1, H, W) (grayscale), got {input_shape}")
        if channels < 1 or num_layers < 0 or levels < 2:
            raise ConfigError(f"need channels >= 1, num_layers >= 0, levels >= 2; got "
                              f"{channels}, {num_layers}, {levels}")  # fmt: skip
        self.input_shape, self.levels = shape, int(levels)
        self.first = MaskedConv2d("A", 1, channels, first_kernel)
        self.blocks = nn.Sequential(*[_ResidualB(channels) for _ in range(num_layers)])
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
            nn.Conv2d(channels, self.levels, 1),
        )  # fmt: skip
        #: rows above a pixel that its logits can see (what cropped sampling keeps)
        self.rows_seen = first_kernel // 2 + num_layers

    def _check(self, q):
        if not torch.is_tensor(q) or q.dtype not in (torch.int64, torch.int32, torch.uint8):
            raise TypeError(f"x must be an integer tensor of levels (use quantize), got "
                            f"{getattr(q, 'dtype', type(q).__name__)}")  # fmt: skip
        if q.ndim != 4 or q.shape[1] != 1:
            raise ShapeError(f"x must be (N, 1, H, W), got {tuple(q.shape)}")
        if q.numel() and (int(q.min()) < 0 or int(q.max()) >= self.levels):
            raise ValueError(f"x must hold levels in [0, {self.levels - 1}]")

    def forward(self, q):
        """Integer levels (N, 1, H, W) -> logits (N, levels, H, W); logits at (i, j) see only the
        pixels before (i, j) in raster order."""
        self._check(q)
        dtype = self.first.weight.dtype
        x = q.to(dtype) / (self.levels - 1) * 2 - 1  # (N, 1, H, W) in [-1, 1]
        return self.logits_from_inputs(x)

    def logits_from_inputs(self, x):
        """The network on real-valued inputs x (N, 1, H, W) in [-1, 1] (what the causality test
        differentiates): logits (N, levels, H, W)."""
        return self.head(self.blocks(self.first(x)))

    def nll(self, q):
        """-log p(x) per image in nats: (N,)."""
        logits = self(q)  # (N, levels, H, W)
        per_pixel = F.cross_entropy(logits, q[:, 0].long(), reduction="none")  # (N, H, W)
        return per_pixel.reshape(q.shape[0], -1).sum(1)

    def loss(self, q):
        """Mean -log p(x) per dimension in nats (scalar): what training minimises."""
        return self.nll(q).mean() / math.prod(q.shape[1:])

    def bits_per_dim(self, q):
        """Mean -log2 p(x) per pixel over the batch (scalar tensor)."""
        return self.loss(q) / math.log(2)

    @torch.no_grad()
    def sample(self, n, generator=None, crop=True):
        """Draws n images one pixel at a time in raster order: (n, 1, H, W) int64 levels.

        Args:
            n: images to draw.
            generator: a torch.Generator on the model's device (None: torch's global one).
            crop: run the network only on the rows that the current row's logits can see
                (``rows_seen`` above it); the same samples as the full passes, fewer FLOPs.
        """
        p = self.first.weight
        _, h, w = self.input_shape
        q = torch.zeros((int(n), 1, h, w), dtype=torch.long, device=p.device)
        for i in range(h):
            top = max(0, i - self.rows_seen) if crop else 0
            for j in range(w):
                x = q[:, :, top : i + 1].to(p.dtype) / (self.levels - 1) * 2 - 1
                logits = self.logits_from_inputs(x)[:, :, i - top, j]  # (n, levels)
                probs = torch.softmax(logits.double(), dim=1)
                q[:, 0, i, j] = torch.multinomial(probs, 1, generator=generator)[:, 0]
        return q


def histogram_bits_per_dim(q_train, q_test, levels=256, alpha=1.0):
    """The baseline of an independent per-pixel histogram (add-alpha smoothed) fitted on
    q_train (N, 1, H, W) levels and scored on q_test: bits per dimension (float)."""
    flat_tr = q_train.reshape(q_train.shape[0], -1).long()  # (N, D)
    flat_te = q_test.reshape(q_test.shape[0], -1).long()  # (M, D)
    d = flat_tr.shape[1]
    counts = torch.full((d, levels), float(alpha), dtype=torch.float64)
    counts.scatter_add_(1, flat_tr.T, torch.ones(flat_tr.T.shape, dtype=torch.float64))
    log_p = (counts / counts.sum(1, keepdim=True)).log()  # (D, levels)
    ll = log_p.gather(1, flat_te.T)  # (D, M)
    return float(-ll.mean() / math.log(2))

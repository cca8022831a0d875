"""Batched image augmentations in torch (no torchvision) and the SimCLR two-view pipeline.

Every transform comes as a pair: ``sample_*(n, gen, ...)`` draws one parameter set per image
from an explicit CPU ``torch.Generator`` (the same numbers on any device), and the transform
itself applies given parameters, so identity parameters can be checked to give the identity.
Images are (N, C, H, W) floats in [0, 1]; every transform returns images in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from visionblocks.errors import ConfigError, ShapeError

#: ITU-R BT.601 luma weights of the grayscale conversion (R, G, B)
LUMA = (0.299, 0.587, 0.114)


def _check_images(x):
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ShapeError(f"x must be float images (N, C, H, W), got {shape}")


def _uniform(gen, n, low, high):
    """(n,) uniform draws in [low, high) on the CPU."""
    return low + (high - low) * torch.rand(n, generator=gen, dtype=torch.float64)


def _per_image(v, x):
    """v (N,) as (N, 1, 1, 1) in x's dtype and device."""
    return v.to(device=x.device, dtype=x.dtype)[:, None, None, None]


# ----------------------------------------------------------------------- geometry
def sample_crop(n, gen, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3)):
    """Random-resized-crop boxes, one per image, in normalised coordinates.

    The box covers a ``scale`` fraction of the image area (uniform) with a log-uniform aspect
    ratio (width / height) in ``ratio``, clipped to the image, at a uniform position inside it.

    Returns:
        (n, 4) float64 rows (cx, cy, w, h): centre in [-1, 1] and sizes in (0, 1] as fractions
        of the image side (the identity box is (0, 0, 1, 1)).
    """
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ConfigError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
    if not 0 < ratio[0] <= ratio[1]:
        raise ConfigError(f"ratio must satisfy 0 < low <= high, got {ratio}")
    area = _uniform(gen, n, *scale)
    log_r = _uniform(gen, n, math.log(ratio[0]), math.log(ratio[1]))
    r = torch.exp(log_r)
    w = torch.sqrt(area * r).clamp(max=1.0)
    h = torch.sqrt(area / r).clamp(max=1.0)
    cx = (1 - w) * (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1)
    cy = (1 - h) * (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1)
    return torch.stack([cx, cy, w, h], dim=1)


def resized_crop(x, boxes, size=None):
    """Crops each image to its box and resizes it to ``size`` (bilinear, via ``affine_grid``).

    Args:
        x: (N, C, H, W) images.
        boxes: (N, 4) rows (cx, cy, w, h) as ``sample_crop`` returns.
        size: output (H', W'); default the input size.

    Returns:
        (N, C, H', W') crops; the identity box returns x (to float rounding).
    """
    _check_images(x)
    if boxes.shape != (x.shape[0], 4):
        raise ShapeError(f"boxes must be ({x.shape[0]}, 4), got {tuple(boxes.shape)}")
    n, c, h, w = x.shape
    size = (h, w) if size is None else tuple(size)
    b = boxes.to(device=x.device, dtype=x.dtype)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)  # (N, 2, 3) output -> input
    theta[:, 0, 0], theta[:, 0, 2] = b[:, 2], b[:, 0]
    theta[:, 1, 1], theta[:, 1, 2] = b[:, 3], b[:, 1]
    grid = F.affine_grid(theta, [n, c, *size], align_corners=False)  # (N, H', W', 2)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.clamp(0.0, 1.0)


def sample_flags(n, gen, p):
    """(n,) booleans, each True with probability p."""
    if not 0 <= p <= 1:
        raise ConfigError(f"p must be in [0, 1], got {p}")
    return torch.rand(n, generator=gen) < p


def hflip(x, flags):
    """Mirrors the images of x (N, C, H, W) whose ``flags`` (N,) are True."""
    _check_images(x)
    return torch.where(flags.to(x.device)[:, None, None, None], x.flip(-1), x)


# -------------------------------------------------------------------------- colour
def grayscale(x, flags=None):
    """Luma of RGB images (kept as 3 equal channels) where ``flags`` (N,) is True (all when
    None); one-channel images are already gray and are returned unchanged."""
    _check_images(x)
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise ShapeError(f"grayscale needs 1 or 3 channels, got {x.shape[1]}")
    wts = torch.tensor(LUMA, dtype=x.dtype, device=x.device)[None, :, None, None]
    gray = (x * wts).sum(1, keepdim=True).expand_as(x)  # (N, 3, H, W)
    if flags is None:
        return gray
    return torch.where(flags.to(x.device)[:, None, None, None], gray, x)


def adjust_brightness(x, factor):
    """x * factor per image (factor (N,), 1 is the identity), clipped to [0, 1]."""
    return (x * _per_image(factor, x)).clamp(0.0, 1.0)


def adjust_contrast(x, factor):
    """Blends each image with its mean gray level (factor (N,), 1 is the identity)."""
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
    f = _per_image(factor, x)
    return (mean + f * (x - mean)).clamp(0.0, 1.0)


def adjust_saturation(x, factor):
    """Blends each RGB image with its grayscale (factor (N,), 1 is the identity; gray images
    are unchanged)."""
    f = _per_image(factor, x)
    return (grayscale(x) + f * (x - grayscale(x))).clamp(0.0, 1.0)


def sample_jitter(n, gen, brightness=0.4, contrast=0.4, saturation=0.4, p=0.8):
    """Colour-jitter factors, one triple per image: each factor uniform in [1 - s, 1 + s],
    applied with probability p (otherwise all three are 1, the identity).

    Returns:
        (n, 3) float64 factors (brightness, contrast, saturation).
    """
    for name, s in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if not 0 <= s < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {s}")
    f = torch.stack([_uniform(gen, n, 1 - s, 1 + s) for s in (brightness, contrast, saturation)], 1)
    on = sample_flags(n, gen, p)
    return torch.where(on[:, None], f, torch.ones_like(f))


def color_jitter(x, factors):
    """Brightness, contrast, then saturation with ``factors`` (N, 3); ones are the identity."""
    _check_images(x)
    x = adjust_brightness(x, factors[:, 0])
    x = adjust_contrast(x, factors[:, 1])
    return adjust_saturation(x, factors[:, 2])


# --------------------------------------------------------------------- blur, noise
def sample_sigma(n, gen, low=0.1, high=2.0, p=0.5):
    """(n,) Gaussian-blur standard deviations (pixels): uniform in [low, high] with probability
    p, else 0 (no blur)."""
    if not 0 <= low <= high:
        raise ConfigError(f"blur sigma range must satisfy 0 <= low <= high, got {(low, high)}")
    s = _uniform(gen, n, low, high)
    return torch.where(sample_flags(n, gen, p), s, torch.zeros_like(s))


def gaussian_blur(x, sigma, radius=None):
    """Blurs each image with its own separable Gaussian (reflect padding).

    Args:
        x: (N, C, H, W) images.
        sigma: (N,) standard deviations in pixels; 0 leaves that image unchanged.
        radius: kernel half-width (default ceil(3 * max sigma), at most min(H, W) - 1).
    """
    _check_images(x)
    n, c, h, w = x.shape
    s = sigma.to(device=x.device, dtype=x.dtype)
    if radius is None:
        radius = int(math.ceil(3 * float(s.max()))) if n else 0
    radius = min(radius, h - 1, w - 1)
    if radius <= 0:
        return x
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)  # (K,)
    safe = torch.where(s > 0, s, torch.ones_like(s))
    k = torch.exp(-0.5 * (t[None, :] / safe[:, None]) ** 2)  # (N, K)
    delta = (t == 0).to(x.dtype)[None, :].expand_as(k)
    k = torch.where((s > 0)[:, None], k, delta)
    k = k / k.sum(1, keepdim=True)
    kk = k.repeat_interleave(c, dim=0)  # (N*C, K): one kernel per image channel
    y = x.reshape(1, n * c, h, w)  # (N, C, H, W) -> (1, N*C, H, W)
    y = F.pad(y, (radius, radius, 0, 0), mode="reflect")
    y = F.conv2d(y, kk[:, None, None, :], groups=n * c)  # rows
    y = F.pad(y, (0, 0, radius, radius), mode="reflect")
    y = F.conv2d(y, kk[:, None, :, None], groups=n * c)  # columns
    return y.reshape(n, c, h, w).clamp(0.0, 1.0)  # (1, N*C, H, W) -> (N, C, H, W)


def add_noise(x, std, gen):
    """Adds Gaussian noise of per-image ``std`` (N,) drawn from ``gen``; clipped to [0, 1]."""
    _check_images(x)
    eps = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.device, x.dtype)
    return (x + _per_image(std, x) * eps).clamp(0.0, 1.0)


# ---------------------------------------------------------------------- pipeline
@dataclass(frozen=True)
class SimCLRAugment:
    """The SimCLR augmentation (Chen et al. 2020) for small images: random resized crop, flip,
    colour jitter, grayscale, blur and noise, each with its own parameters per image.

    ``aug(x, gen)`` gives one view; ``aug.two_views(x, gen)`` two independent views.
    """

    crop_scale: tuple = (0.2, 1.0)
    crop_ratio: tuple = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: float = 0.4  # brightness, contrast and saturation strength
    jitter_p: float = 0.8
    gray_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple = (0.1, 1.0)
    noise_std: float = 0.0
    size: tuple | None = None

    def __call__(self, x, gen):
        """One random view of each image of x (N, C, H, W) in [0, 1]."""
        _check_images(x)
        n = x.shape[0]
        x = resized_crop(x, sample_crop(n, gen, self.crop_scale, self.crop_ratio), self.size)
        x = hflip(x, sample_flags(n, gen, self.flip_p))
        j = self.jitter
        x = color_jitter(x, sample_jitter(n, gen, j, j, j, p=self.jitter_p))
        x = grayscale(x, sample_flags(n, gen, self.gray_p))
        if self.blur_p > 0:
            x = gaussian_blur(x, sample_sigma(n, gen, *self.blur_sigma, p=self.blur_p))
        if self.noise_std > 0:
            x = add_noise(x, torch.full((n,), self.noise_std, dtype=torch.float64), gen)
        return x

    def two_views(self, x, gen):
        """Two independent views (N, C, H, W) each of the same images."""
        return self(x, gen), self(x, gen)


def no_augment(x, gen):
    """The identity augmentation (for evaluation and pretext tasks that bring their own)."""
    return x

"""Minibatch augmentation for the NumPy Solver: random crop with padding, horizontal flip and
random erasing, in the grammar of ``visionblocks.data.augment_grammar`` (shared with torch)."""

from __future__ import annotations

import numpy as np

from visionblocks.data.augment_grammar import (
    ERASE_RATIO,
    ERASE_SCALE,
    ERASE_VALUE,
    parse_augment,
)
from visionblocks.errors import ConfigError


def random_flip(X, rng, p=0.5):
    """Flips each image (N, C, H, W) left-right with probability p."""
    flip = rng.random(X.shape[0]) < p
    out = X.copy()
    out[flip] = X[flip, :, :, ::-1]
    return out


def random_crop(X, rng, pad=4):
    """Zero-pads each image (N, C, H, W) by ``pad`` and crops back to H x W at a random offset."""
    n, _, h, w = X.shape
    padded = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, H+2p, W+2p)
    dy = rng.integers(0, 2 * pad + 1, n)
    dx = rng.integers(0, 2 * pad + 1, n)
    rows = dy[:, None] + np.arange(h)  # (N, H)
    cols = dx[:, None] + np.arange(w)  # (N, W)
    idx = np.arange(n)[:, None, None, None]
    chans = np.arange(X.shape[1])[None, :, None, None]
    return padded[idx, chans, rows[:, None, :, None], cols[:, None, None, :]]  # (N, C, H, W)


def random_erasing(X, rng, p=0.5, scale=ERASE_SCALE, ratio=ERASE_RATIO, value=ERASE_VALUE):
    """Random erasing (Zhong et al. 2017), as ``torchkit.augment.random_erasing``: with
    probability p, sets a random rectangle of each image of X (N, C, H, W) to ``value``; its
    area is a ``scale`` fraction of the image, its aspect ratio log-uniform in ``ratio``."""
    n, _, h, w = X.shape
    area = (scale[0] + (scale[1] - scale[0]) * rng.random(n)) * h * w  # (N,)
    r = np.exp(np.log(ratio[0]) + rng.random(n) * np.log(ratio[1] / ratio[0]))  # (N,)
    eh = np.clip(np.round(np.sqrt(area * r)), 1, h).astype(np.int64)
    ew = np.clip(np.round(np.sqrt(area / r)), 1, w).astype(np.int64)
    top = (rng.random(n) * (h - eh + 1)).astype(np.int64)
    left = (rng.random(n) * (w - ew + 1)).astype(np.int64)
    apply = rng.random(n) < p
    ys, xs = np.arange(h)[None, :], np.arange(w)[None, :]
    in_rows = (ys >= top[:, None]) & (ys < (top + eh)[:, None])  # (N, H)
    in_cols = (xs >= left[:, None]) & (xs < (left + ew)[:, None])  # (N, W)
    mask = in_rows[:, :, None] & in_cols[:, None, :] & apply[:, None, None]  # (N, H, W)
    out = X.copy()
    out[np.broadcast_to(mask[:, None], X.shape)] = value
    return out


AUGMENTATIONS = {"crop": random_crop, "flip": random_flip, "erase": random_erasing}


def make_augment(names):
    """Composes named augmentations, in order, into ``augment(X, rng) -> X``.

    Args:
        names: texts of the shared grammar (``visionblocks.data.augment_grammar``): 'crop'
            (pad 4 for images of 24+ pixels, else 1; 'crop:2' pads 2), 'flip' ('flip:0.3'
            flips with probability 0.3) and 'erase' ('erase:0.25').
    """
    steps = parse_augment(names)

    def augment(X, rng):
        if X.ndim != 4:
            raise ConfigError(f"augmentation needs images (N, C, H, W), got shape {X.shape}")
        for step in steps:
            if step.name == "crop":
                X = random_crop(X, rng, pad=step.pad(X.shape[-1]))
            else:
                X = AUGMENTATIONS[step.name](X, rng, p=step.p)
        return X

    return augment

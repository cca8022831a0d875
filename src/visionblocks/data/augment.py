"""Minibatch augmentation for the NumPy Solver: random crop with padding and horizontal flip."""

from __future__ import annotations

import numpy as np

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


AUGMENTATIONS = {"flip": random_flip, "crop": random_crop}


def make_augment(names):
    """Composes the named augmentations into ``augment(X, rng) -> X``.

    Args:
        names: list of 'crop' (pad 4 for 28+ pixel images, 1 for smaller) and 'flip'.
    """
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(f"unknown augmentation(s) {unknown}; choose from {sorted(AUGMENTATIONS)}")

    def augment(X, rng):
        if X.ndim != 4:
            raise ConfigError(f"augmentation needs images (N, C, H, W), got shape {X.shape}")
        for name in names:
            if name == "crop":
                X = random_crop(X, rng, pad=4 if X.shape[-1] >= 24 else 1)
            else:
                X = AUGMENTATIONS[name](X, rng)
        return X

    return augment

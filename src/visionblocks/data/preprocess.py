"""Preprocessing fitted on the training split only: mean-image subtraction, standardisation."""

from __future__ import annotations

import numpy as np

from visionblocks.errors import ConfigError

SPLITS = ("X_train", "X_val", "X_test")


def fit_preprocessing(X_train, kind):
    """Statistics of ``kind`` from training images (N, C, H, W).

    Returns:
        dict with 'kind' and arrays 'mean' and 'std' broadcastable to one image
        ('mean': mean image (C, H, W) and std 1; 'standardize': per-channel (C, 1, 1)).
    """
    if kind == "mean":
        mean = X_train.mean(axis=0, dtype=np.float64)
        return {
            "kind": kind,
            "mean": mean.astype(np.float32),
            "std": np.ones_like(mean, np.float32),
        }
    if kind == "standardize":
        mean = X_train.mean(axis=(0, 2, 3), dtype=np.float64)[:, None, None]  # (C, 1, 1)
        std = X_train.std(axis=(0, 2, 3), dtype=np.float64)[:, None, None]  # (C, 1, 1)
        return {
            "kind": kind,
            "mean": mean.astype(np.float32),
            "std": np.maximum(std, 1e-8).astype(np.float32),
        }
    raise ConfigError(f"preprocess must be None, 'mean' or 'standardize', got {kind!r}")


def transform(X, stats):
    """Applies fitted statistics to images (N, C, H, W)."""
    if stats is None:
        return X
    return ((X - stats["mean"]) / stats["std"]).astype(np.float32)


def apply_preprocessing(data, kind):
    """Fits ``kind`` on data['X_train'] and applies it to every split; records the statistics."""
    if kind is None:
        data["preprocessing"] = None
        return data
    stats = fit_preprocessing(data["X_train"], kind)
    for key in SPLITS:
        data[key] = transform(data[key], stats)
    data["preprocessing"] = stats
    return data

"""Argument checks at the public boundary: name the argument, what was expected, what came."""

from __future__ import annotations

import numpy as np

from visionblocks.errors import ShapeError


def as_float_array(name: str, x, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Checks that ``x`` is a floating-point ndarray (optionally of given rank) and returns it.

    Args:
        name: argument name used in the error message.
        x: the value to check.
        ndim: required number of dimensions, a tuple of allowed ones, or None for any.

    Returns:
        x unchanged (no copy).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a floating dtype (float32/float64), got {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ShapeError(f"{name} must have {want} dimensions, got shape {x.shape}")
    return x


def check_labels(name: str, y, n: int, num_classes: int) -> np.ndarray:
    """Checks integer class labels ``y`` of shape (n,) with values in [0, num_classes).

    Returns:
        y: (n,) the labels as an integer array (no copy when already integer).
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ShapeError(f"{name} must have shape ({n},) to match the scores, got {y.shape}")
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes}), got values in [{y.min()}, {y.max()}]"
        )
    return y


def check_shape(name: str, x: np.ndarray, shape: tuple) -> None:
    """Checks ``x.shape`` against ``shape``, where None in ``shape`` matches any size."""
    if len(x.shape) != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ShapeError(f"{name} must have shape {want}, got {x.shape}")

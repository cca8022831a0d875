"""Inverted dropout: p is the probability of keeping a unit, and kept units are scaled by 1/p."""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array

__all__ = [
    "dropout_backward",
    "dropout_forward",
]


def _dropout_rng(dropout_param) -> np.random.Generator:
    """The generator for this call: a fixed ``seed`` wins, then a caller's ``rng``, else fresh."""
    if dropout_param.get("seed") is not None:
        return np.random.default_rng(dropout_param["seed"])
    rng = dropout_param.get("rng")
    return rng if rng is not None else np.random.default_rng()


def dropout_forward(x, dropout_param):
    """Inverted dropout forward pass.

    Args:
        x: any-shape float array.
        dropout_param: dict with
            p: keep probability in (0, 1].
            mode: 'train' (drop and rescale) or 'test' (identity).
            seed: optional int; the same seed gives the same mask (for gradient checks).
            rng: optional np.random.Generator used when no seed is given.

    Returns:
        out: same shape as x.
        cache: (dropout_param, mask) where mask is None in test mode.
    """
    as_float_array("x", x)
    p = dropout_param["p"]
    mode = dropout_param.get("mode", "train")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"dropout_param['p'] is a keep probability in (0, 1], got {p}")
    if mode not in ("train", "test"):
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    if mode == "test" or p == 1.0:
        return x, (dropout_param, None)
    mask = (_dropout_rng(dropout_param).random(x.shape) < p) / p  # same shape as x
    mask = mask.astype(x.dtype, copy=False)
    return x * mask, (dropout_param, mask)


def dropout_backward(dout, cache):
    """Inverted dropout backward pass.

    Returns:
        dx: same shape as dout.
    """
    _, mask = cache
    return dout if mask is None else dout * mask

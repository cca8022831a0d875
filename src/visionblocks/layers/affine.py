"""Fully-connected (affine) layer: out = x.reshape(N, D) @ w + b."""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError

__all__ = [
    "affine_backward",
    "affine_forward",
]


def affine_forward(x, w, b):
    """Computes the affine layer forward pass, flattening every input to a row.

    Args:
        x: (N, d_1, ..., d_k) input; each example is flattened to D = d_1 * ... * d_k.
        w: (D, M) weights.
        b: (M,) biases.

    Returns:
        out: (N, M) output.
        cache: (x, w) for the backward pass.
    """
    as_float_array("x", x)
    as_float_array("w", w, ndim=2)
    as_float_array("b", b, ndim=1)
    n = x.shape[0] if x.ndim else 0
    d = int(np.prod(x.shape[1:])) if x.ndim >= 1 else 0
    if x.ndim < 2 or w.shape[0] != d:
        raise ShapeError(
            f"x of shape {x.shape} flattens to {d} features per row, w has shape {w.shape}"
        )
    if b.shape[0] != w.shape[1]:
        raise ShapeError(f"b must have shape ({w.shape[1]},) to match w {w.shape}, got {b.shape}")
    out = x.reshape(n, d) @ w + b  # (N, D) @ (D, M) -> (N, M)
    return out, (x, w)


def affine_backward(dout, cache):
    """Computes the affine layer backward pass.

    Args:
        dout: (N, M) upstream gradient.
        cache: (x, w) from ``affine_forward``.

    Returns:
        dx: (N, d_1, ..., d_k) gradient with respect to x.
        dw: (D, M) gradient with respect to w.
        db: (M,) gradient with respect to b.
    """
    x, w = cache
    x2 = x.reshape(x.shape[0], -1)  # (N, D)
    dx = (dout @ w.T).reshape(x.shape)  # (N, M) @ (M, D) -> (N, D) -> x.shape
    dw = x2.T @ dout  # (D, N) @ (N, M) -> (D, M)
    db = dout.sum(axis=0)
    return dx, dw, db

"""Classification losses on scores: multiclass SVM (hinge) and softmax cross-entropy."""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array, check_labels
from visionblocks.errors import ShapeError

__all__ = [
    "softmax_loss",
    "svm_loss",
]


def _check_scores(x, y):
    """Checks (N, C) scores with N >= 1 (a mean over no examples is undefined) and their labels."""
    as_float_array("x", x, ndim=2)
    if x.shape[0] == 0:
        raise ShapeError(f"x must hold at least one example's scores, got shape {x.shape}")
    return check_labels("y", y, x.shape[0], x.shape[1])


def svm_loss(x, y):
    """Multiclass SVM loss with margin 1, averaged over the batch.

    Args:
        x: (N, C) class scores.
        y: (N,) integer labels in [0, C).

    Returns:
        loss: scalar.
        dx: (N, C) gradient of the loss with respect to x.
    """
    y = _check_scores(x, y)
    n = x.shape[0]
    rows = np.arange(n)
    margins = np.maximum(0.0, x - x[rows, y][:, None] + 1.0)  # (N, C)
    margins[rows, y] = 0.0
    loss = margins.sum() / n
    positive = (margins > 0).astype(x.dtype)  # (N, C)
    positive[rows, y] = -positive.sum(axis=1)
    return float(loss), positive / n


def softmax_loss(x, y):
    """Softmax cross-entropy loss, stable by shifting each row by its maximum.

    Args:
        x: (N, C) class scores.
        y: (N,) integer labels in [0, C).

    Returns:
        loss: scalar mean negative log-likelihood.
        dx: (N, C) gradient of the loss with respect to x.
    """
    y = _check_scores(x, y)
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)  # (N, C)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
    loss = -log_probs[rows, y].mean()
    dx = np.exp(log_probs)
    dx[rows, y] -= 1.0
    return float(loss), dx / n

"""Multiclass SVM and softmax losses of a linear classifier, each as a naive and a vectorized pair.

Every function is ``(W, X, y, reg) -> (loss, dW)`` with ``W: (D, C)``, ``X: (N, D)`` (the bias
trick: a column of ones in X and a bias row in W) and the L2 term ``reg * sum(W**2)``.
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array, check_labels
from visionblocks.errors import ShapeError


def _check(W, X, y, reg):
    """Checks the arguments of a loss; returns y as an integer array."""
    as_float_array("W", W, ndim=2)
    as_float_array("X", X, ndim=2)
    if X.shape[1] != W.shape[0]:
        raise ShapeError(
            f"X has {X.shape[1]} features per example but W has {W.shape[0]} rows "
            f"(X {X.shape}, W {W.shape})"
        )
    if X.shape[0] == 0:
        raise ShapeError("X must hold at least one example")
    y = check_labels("y", y, X.shape[0], W.shape[1])
    if not reg >= 0:
        raise ValueError(f"reg must be >= 0, got {reg}")
    return y


def svm_loss_naive(W, X, y, reg):
    """Multiclass hinge loss (margin 1) with explicit loops.

    Args:
        W: (D, C) weights.
        X: (N, D) examples.
        y: (N,) integer labels in [0, C).
        reg: L2 strength; the penalty is ``reg * sum(W**2)``.

    Returns:
        loss: float, mean hinge loss plus the penalty.
        dW: (D, C) gradient of the loss.
    """
    y = _check(W, X, y, reg)
    num_train, num_classes = X.shape[0], W.shape[1]
    dW = np.zeros_like(W)
    loss = 0.0
    for i in range(num_train):
        scores = X[i] @ W
        correct = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    return float(loss), dW


def svm_loss_vectorized(W, X, y, reg):
    """Multiclass hinge loss (margin 1) without loops; same contract as ``svm_loss_naive``.

    Args:
        W: (D, C) weights.
        X: (N, D) examples.
        y: (N,) integer labels in [0, C).
        reg: L2 strength.

    Returns:
        loss: float.
        dW: (D, C).
    """
    y = _check(W, X, y, reg)
    n = X.shape[0]
    rows = np.arange(n)
    scores = X @ W  # (N, C)
    margins = scores - scores[rows, y][:, None] + 1  # (N, C); (N,) -> (N, 1)
    margins[rows, y] = 0
    positive = margins > 0
    loss = margins[positive].sum(dtype=np.float64) / n + reg * np.sum(W * W, dtype=np.float64)
    coef = positive.astype(W.dtype)  # (N, C): d loss_i / d s_ij
    coef[rows, y] = -coef.sum(axis=1)
    dW = X.T @ coef / n + 2 * reg * W  # (D, N) @ (N, C)
    return float(loss), dW


def softmax_loss_naive(W, X, y, reg):
    """Softmax cross-entropy with explicit loops, shifted by the row max for stability.

    Args:
        W: (D, C) weights.
        X: (N, D) examples.
        y: (N,) integer labels in [0, C).
        reg: L2 strength; the penalty is ``reg * sum(W**2)``.

    Returns:
        loss: float, mean cross-entropy plus the penalty.
        dW: (D, C).
    """
    y = _check(W, X, y, reg)
    num_train, num_classes = X.shape[0], W.shape[1]
    dW = np.zeros_like(W)
    loss = 0.0
    for i in range(num_train):
        scores = X[i] @ W
        scores = scores - np.max(scores)
        log_sum = np.log(np.sum(np.exp(scores)))
        loss += log_sum - scores[y[i]]
        for j in range(num_classes):
            p = np.exp(scores[j] - log_sum)
            dW[:, j] += (p - (j == y[i])) * X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    return float(loss), dW


def softmax_loss_vectorized(W, X, y, reg):
    """Softmax cross-entropy without loops; same contract as ``softmax_loss_naive``.

    Args:
        W: (D, C) weights.
        X: (N, D) examples.
        y: (N,) integer labels in [0, C).
        reg: L2 strength.

    Returns:
        loss: float.
        dW: (D, C).
    """
    y = _check(W, X, y, reg)
    n = X.shape[0]
    rows = np.arange(n)
    scores = X @ W  # (N, C)
    scores -= scores.max(axis=1, keepdims=True)
    log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))  # (N, C)
    loss = -log_probs[rows, y].sum(dtype=np.float64) / n + reg * np.sum(W * W, dtype=np.float64)
    dscores = np.exp(log_probs)  # (N, C) probabilities
    dscores[rows, y] -= 1
    dW = X.T @ dscores / n + 2 * reg * W  # (D, N) @ (N, C)
    return float(loss), dW.astype(W.dtype, copy=False)

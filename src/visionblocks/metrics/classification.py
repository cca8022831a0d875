"""Label-based classification metrics: confusion matrix, accuracy and top-k accuracy.

Names, arguments and results follow scikit-learn, so code written against
``sklearn.metrics`` runs unchanged; everything is vectorised NumPy (``np.bincount``).
Precision, recall, F and specificity live in ``precision_recall.py`` with the shared
conventions on labels, averaging and zero division.
"""

from __future__ import annotations

import warnings

import numpy as np

from visionblocks.metrics._common import (
    UndefinedMetricWarning,
    as_label_array,
    check_label_list,
    check_pair,
    check_scores,
    check_weights,
    encode,
)


def _present_labels(y_true, y_pred) -> np.ndarray:
    return np.union1d(y_true, y_pred)


def confusion_matrix(y_true, y_pred, *, labels=None, sample_weight=None, normalize=None):
    """Counts how often each true class was predicted as each class.

    Args:
        y_true: (N,) true labels.
        y_pred: (N,) predicted labels.
        labels: (L,) classes to index the matrix, in this order; samples whose true or
            predicted label is not listed are dropped. Default: the sorted union of labels.
        sample_weight: (N,) optional non-negative weights.
        normalize: None for counts, "true" (rows sum to 1), "pred" (columns sum to 1) or
            "all" (the matrix sums to 1); rows/columns that sum to 0 stay 0.

    Returns:
        cm: (L, L) with ``cm[i, j]`` the number (or weight) of samples of class ``labels[i]``
        predicted as ``labels[j]``; int64 for counts and integer weights, else float64.
    """
    y_true, y_pred, w = check_pair(y_true, y_pred, sample_weight)
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f'normalize must be None, "true", "pred" or "all", got {normalize!r}')
    if labels is None:
        if len(y_true) == 0:
            raise ValueError("y_true is empty; pass labels to get an all-zero matrix")
        labels = _present_labels(y_true, y_pred)
    else:
        labels = check_label_list(labels)
        if len(y_true) and not np.isin(labels, y_true).any():
            raise ValueError("at least one of labels must occur in y_true")
    n = len(labels)
    t, p = encode(y_true, labels), encode(y_pred, labels)
    keep = (t >= 0) & (p >= 0)
    flat = t[keep] * n + p[keep]  # (N',) index into the flattened (L, L) matrix
    if w is None:
        cm = np.bincount(flat, minlength=n * n).astype(np.int64)
    else:
        cm = np.bincount(flat, weights=w[keep], minlength=n * n)
        if w.dtype.kind in "iu":
            cm = cm.astype(np.int64)
    cm = cm.reshape(n, n)  # (L*L,) -> (L, L)
    if normalize is not None:
        axis = {"true": 1, "pred": 0, "all": None}[normalize]
        total = cm.sum(axis=axis, keepdims=axis is not None)
        cm = np.divide(cm, total, out=np.zeros(cm.shape), where=total != 0)
    return cm


def accuracy_score(y_true, y_pred, *, normalize=True, sample_weight=None):
    """Fraction (or number, or total weight) of samples whose predicted label is the true one.

    Args:
        y_true: (N,) true labels.
        y_pred: (N,) predicted labels.
        normalize: True for the fraction, False for the count (or summed weight).
        sample_weight: (N,) optional non-negative weights.

    Returns:
        A float.
    """
    y_true, y_pred, w = check_pair(y_true, y_pred, sample_weight)
    if len(y_true) == 0:
        raise ValueError("y_true is empty")
    hit = (y_true == y_pred).astype(np.float64)
    if not normalize:
        return float(hit.sum() if w is None else hit @ w)
    return float(np.average(hit, weights=w))


def top_k_accuracy_score(y_true, y_score, *, k=2, normalize=True, sample_weight=None, labels=None):
    """Fraction of samples whose true class is among the k highest-scored classes.

    Ties follow scikit-learn: among equal scores the class in the later column ranks higher.
    For a binary problem ``y_score`` may be 1-D (the score of the greater class); then k=1
    thresholds it at 0.5 if all scores lie in [0, 1], else at 0, and k>=2 always hits.

    Args:
        y_true: (N,) true labels.
        y_score: (N, C) scores, column j for class ``labels[j]``; or (N,) for binary problems.
        k: how many top classes count as a hit.
        normalize: True for the fraction, False for the count (or summed weight).
        sample_weight: (N,) optional non-negative weights.
        labels: (C,) the class of each column. Default: the sorted labels of ``y_true``, which
            must then contain every class.

    Returns:
        A float.
    """
    y_true = as_label_array("y_true", y_true)
    n = len(y_true)
    if n == 0:
        raise ValueError("y_true is empty")
    s = check_scores("y_score", y_score, n)
    w = check_weights(sample_weight, n)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    n_cols = s.shape[1] if s.ndim == 2 else 2
    if labels is None:
        classes = np.unique(y_true)
        if len(classes) != n_cols:
            raise ValueError(
                f"y_true holds {len(classes)} classes but y_score has {n_cols} columns; pass "
                "labels to name every class"
            )
    else:
        classes = check_label_list(labels)
        if len(classes) != n_cols:
            raise ValueError(f"labels has {len(classes)} classes, y_score has {n_cols} columns")
    t = encode(y_true, classes)
    if np.any(t < 0):
        raise ValueError("y_true contains labels that are not in labels")
    if k >= len(classes):
        warnings.warn(
            f"k={k} >= the number of classes ({len(classes)}) always gives a perfect score",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    if s.ndim == 1:
        if k == 1:
            threshold = 0.5 if s.min() >= 0 and s.max() <= 1 else 0.0
            hits = (s > threshold).astype(np.int64) == t
        else:
            hits = np.ones(n, dtype=bool)
    else:
        true_score = s[np.arange(n), t][:, None]  # (N, 1)
        cols = np.arange(s.shape[1])[None, :]  # (1, C)
        ahead = (s > true_score) | ((s == true_score) & (cols > t[:, None]))  # (N, C)
        hits = ahead.sum(axis=1) < k
    hits = hits.astype(np.float64)
    if not normalize:
        return float(hits.sum() if w is None else hits @ w)
    return float(np.average(hits, weights=w))

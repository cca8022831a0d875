"""Precision, recall (sensitivity), F-beta and specificity, per class or averaged.

Names, arguments and results follow scikit-learn, so code written against
``sklearn.metrics`` runs unchanged; everything is vectorised NumPy (``np.bincount``).

Conventions shared with scikit-learn:

* Without ``labels``, the classes are the sorted union of the labels in ``y_true`` and
  ``y_pred``; a class that appears in only one of them still gets a row. With ``labels``, only
  those classes are scored, in that order (they may include classes seen nowhere).
* A problem is *binary* when ``y_true`` and ``y_pred`` together hold at most two labels;
  ``average="binary"`` then scores the class ``pos_label`` only, and is an error otherwise.
* A ratio whose denominator is zero (precision of a class never predicted, recall of a class
  absent from ``y_true``) takes the value ``zero_division``: 0 with an
  ``UndefinedMetricWarning`` for "warn" (the default), or 0, 1 or NaN silently. NaN entries are
  left out of the macro and weighted averages.
* ``average="weighted"`` weights each class by its support (its count in ``y_true``).
"""

from __future__ import annotations

import warnings

import numpy as np

from visionblocks.metrics._common import (
    check_label_list,
    check_pair,
    encode,
    nan_average,
    safe_divide,
    weighted_count,
)

AVERAGES = (None, "binary", "micro", "macro", "weighted")


def _present_labels(y_true, y_pred) -> np.ndarray:
    return np.union1d(y_true, y_pred)


def _select_labels(y_true, y_pred, average, labels, pos_label):
    """Returns the labels to score, enforcing the scikit-learn rules for ``average``."""
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    present = _present_labels(y_true, y_pred)
    if average == "binary":
        if len(present) > 2:
            raise ValueError(
                f"target is multiclass ({len(present)} labels) but average='binary'; choose "
                "average=None, 'micro', 'macro' or 'weighted'"
            )
        if pos_label not in present.tolist() and len(present) >= 2:
            raise ValueError(
                f"pos_label={pos_label!r} is not a valid label; it should be one of "
                f"{present.tolist()}"
            )
        return np.asarray([pos_label])
    if pos_label not in (None, 1):
        warnings.warn(
            f"pos_label={pos_label!r} is ignored when average={average!r}; use "
            "labels=[pos_label] to score one class",
            UserWarning,
            stacklevel=3,
        )
    return present if labels is None else check_label_list(labels)


def _class_counts(y_true, y_pred, labels, w):
    """Per-class (tp, predicted, true) counts and the total weight of all samples."""
    n = len(labels)
    t, p = encode(y_true, labels), encode(y_pred, labels)
    tp = weighted_count(np.where(t == p, t, -1), n, w)
    pred = weighted_count(p, n, w)
    true = weighted_count(t, n, w)
    total = float(len(y_true) if w is None else w.sum())
    return tp, pred, true, total


def _message(metric: str, modifier: str, per_label: bool) -> str:
    where = "in labels with" if per_label else "due to"
    return (
        f"{metric} is ill-defined and being set to 0.0 {where} no {modifier} samples. Use the "
        "zero_division argument to control this behaviour."
    )


def _average(values, average, support):
    if average is None:
        return values
    return nan_average(values, weights=support if average == "weighted" else None)


def precision_recall_fscore_support(
    y_true,
    y_pred,
    *,
    beta=1.0,
    labels=None,
    pos_label=1,
    average=None,
    warn_for=("precision", "recall", "f-score"),
    sample_weight=None,
    zero_division="warn",
):
    """Precision, recall, F-beta and support, per class or averaged.

    precision = tp / (tp + fp), recall = tp / (tp + fn) and
    F = (1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp); "micro" pools the counts of
    all scored classes before dividing.

    Args:
        y_true: (N,) true labels.
        y_pred: (N,) predicted labels.
        beta: weight of recall against precision (non-negative).
        labels: (L,) classes to score (see the module notes); ignored for "binary".
        pos_label: the positive class when average="binary".
        average: None (per class), "binary", "micro", "macro" or "weighted".
        warn_for: which of "precision", "recall", "f-score" may warn on zero division.
        sample_weight: (N,) optional non-negative weights.
        zero_division: "warn", 0, 1 or np.nan: the value of 0/0.

    Returns:
        precision, recall, fbeta: (L,) arrays for average=None, else floats.
        support: (L,) number (or weight) of true samples per class; None when averaged.
    """
    y_true, y_pred, w = check_pair(y_true, y_pred, sample_weight)
    if len(y_true) == 0:
        raise ValueError("y_true is empty")
    if not np.isscalar(beta) or not beta >= 0:
        raise ValueError(f"beta must be a non-negative number, got {beta!r}")
    labels = _select_labels(y_true, y_pred, average, labels, pos_label)
    tp, pred, true, _ = _class_counts(y_true, y_pred, labels, w)
    if average == "micro":
        tp, pred, true = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)
    per_label = len(tp) > 1

    def msg(metric, modifier):
        return _message(metric, modifier, per_label) if metric.lower() in warn_for else None

    precision = safe_divide(tp, pred, zero_division, msg("Precision", "predicted"))
    recall = safe_divide(tp, true, zero_division, msg("Recall", "true"))
    if np.isposinf(beta):
        fscore = recall
    elif beta == 0:
        fscore = precision
    else:
        b2 = beta * beta
        fscore = safe_divide(
            (1 + b2) * tp, b2 * true + pred, zero_division, msg("F-score", "true nor predicted")
        )
    if average is None:
        support = true.astype(np.int64) if w is None or w.dtype.kind in "iu" else true
        return precision, recall, fscore, support
    return (
        _average(precision, average, true),
        _average(recall, average, true),
        _average(fscore, average, true),
        None,
    )


def precision_score(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average="binary",
    sample_weight=None,
    zero_division="warn",
):
    """Precision tp / (tp + fp): of the samples predicted as a class, the fraction truly in it.

    Arguments as in ``precision_recall_fscore_support`` (here ``average`` defaults to
    "binary"). Returns a float, or an (L,) array for average=None.
    """
    p, _, _, _ = precision_recall_fscore_support(
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        warn_for=("precision",),
        sample_weight=sample_weight,
        zero_division=zero_division,
    )
    return p


def recall_score(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average="binary",
    sample_weight=None,
    zero_division="warn",
):
    """Recall (sensitivity) tp / (tp + fn): of the samples of a class, the fraction found.

    Arguments as in ``precision_recall_fscore_support`` (here ``average`` defaults to
    "binary"). Returns a float, or an (L,) array for average=None.
    """
    _, r, _, _ = precision_recall_fscore_support(
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        warn_for=("recall",),
        sample_weight=sample_weight,
        zero_division=zero_division,
    )
    return r


def fbeta_score(
    y_true,
    y_pred,
    *,
    beta,
    labels=None,
    pos_label=1,
    average="binary",
    sample_weight=None,
    zero_division="warn",
):
    """F-beta score, the weighted harmonic mean of precision and recall.

    Arguments as in ``precision_recall_fscore_support`` (here ``average`` defaults to
    "binary"). Returns a float, or an (L,) array for average=None.
    """
    _, _, f, _ = precision_recall_fscore_support(
        y_true,
        y_pred,
        beta=beta,
        labels=labels,
        pos_label=pos_label,
        average=average,
        warn_for=("f-score",),
        sample_weight=sample_weight,
        zero_division=zero_division,
    )
    return f


def f1_score(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average="binary",
    sample_weight=None,
    zero_division="warn",
):
    """F1 score 2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall.

    Arguments as in ``precision_recall_fscore_support`` (here ``average`` defaults to
    "binary"). Returns a float, or an (L,) array for average=None.
    """
    return fbeta_score(
        y_true,
        y_pred,
        beta=1.0,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def specificity_score(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average="binary",
    sample_weight=None,
    zero_division="warn",
):
    """Specificity (true-negative rate) tn / (tn + fp), one class against the rest.

    scikit-learn has no such function; this one follows ``recall_score`` exactly: the
    specificity of class c is the recall of "not c". "micro" pools tn and fp over the scored
    classes, "weighted" weights each class by its support in ``y_true`` (as every other
    weighted average here), and a class that is every sample (tn + fp = 0) takes the value
    ``zero_division``.

    Arguments as in ``precision_recall_fscore_support``. Returns a float, or an (L,) array
    for average=None.
    """
    y_true, y_pred, w = check_pair(y_true, y_pred, sample_weight)
    if len(y_true) == 0:
        raise ValueError("y_true is empty")
    labels = _select_labels(y_true, y_pred, average, labels, pos_label)
    tp, pred, true, total = _class_counts(y_true, y_pred, labels, w)
    fp = pred - tp
    tn = total - true - fp  # every sample neither true nor predicted as the class
    support = true
    if average == "micro":
        tn, fp = tn.sum(keepdims=True), fp.sum(keepdims=True)
    message = _message("Specificity", "negative", len(tn) > 1)
    spec = safe_divide(tn, tn + fp, zero_division, message)
    return _average(spec, average, support)

"""Score-based metrics: ROC curve and ROC-AUC, precision-recall curve and average precision.

Names, arguments and results follow scikit-learn. Tied scores form one threshold: every
sample with that score switches class together, so a tie is one (possibly diagonal) step of
the curve, never an arbitrary order. Curves are built from one sort and cumulative sums.

Undefined cases, as in scikit-learn: with no positive (or no negative) sample in ``y_true``
the ROC curve's TPR (or FPR) is NaN and ``roc_auc_score`` returns NaN, each with an
``UndefinedMetricWarning``; the precision-recall curve then sets recall to 1 everywhere
(with a ``UserWarning``) and the average precision is 0.
"""

from __future__ import annotations

import warnings

import numpy as np

from visionblocks.metrics._common import (
    UndefinedMetricWarning,
    as_label_array,
    check_label_list,
    check_scores,
    check_weights,
    encode,
)


def _positive_mask(y_true, pos_label) -> np.ndarray:
    """Returns y_true == pos_label, inferring pos_label=1 for {0, 1} and {-1, 1} labels."""
    classes = np.unique(y_true)
    if len(classes) > 2:
        raise ValueError(f"y_true must be binary, got {len(classes)} classes")
    if pos_label is None:
        numeric = classes.dtype.kind in "iufb"
        if not numeric or not (set(classes.tolist()) <= {0, 1} or set(classes.tolist()) <= {-1, 1}):
            raise ValueError(
                f"y_true takes values {classes.tolist()}; pos_label must be given unless the "
                "labels are {0, 1} or {-1, 1}"
            )
        pos_label = 1
    return y_true == pos_label


def _binary_clf_curve(y_true, y_score, pos_label=None, sample_weight=None):
    """Weighted false- and true-positive counts at each distinct score, highest first.

    Args:
        y_true: (N,) binary labels.
        y_score: (N,) scores; higher means more positive.
        pos_label: the positive label (see ``_positive_mask``).
        sample_weight: (N,) optional weights; zero-weight samples are dropped.

    Returns:
        fps, tps: (T,) float64 counts of samples scored >= each threshold.
        thresholds: (T,) the distinct scores, decreasing.
    """
    y_true = as_label_array("y_true", y_true)
    y_score = check_scores("y_score", y_score, len(y_true), ndim=1)
    w = check_weights(sample_weight, len(y_true))
    if len(y_true) == 0:
        raise ValueError("y_true is empty")
    pos = _positive_mask(y_true, pos_label).astype(np.float64)
    if w is not None:
        keep = w != 0
        pos, y_score, w = pos[keep], y_score[keep], w[keep].astype(np.float64)
    order = np.argsort(-y_score, kind="stable")
    y_score, pos = y_score[order], pos[order]
    last = np.r_[np.flatnonzero(np.diff(y_score)), len(y_score) - 1]  # end of each tie group
    if w is None:
        tps = np.cumsum(pos)[last]
        fps = 1.0 + last - tps
    else:
        w = w[order]
        tps = np.cumsum(pos * w)[last]
        fps = np.cumsum((1.0 - pos) * w)[last]
    return fps, tps, y_score[last]


def roc_curve(y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=True):
    """Receiver operating characteristic: true- against false-positive rate per threshold.

    Args:
        y_true: (N,) binary labels; {0, 1} and {-1, 1} need no ``pos_label``.
        y_score: (N,) scores (probabilities or decision values) of the positive class.
        pos_label: the positive label.
        sample_weight: (N,) optional non-negative weights.
        drop_intermediate: drop points collinear with their neighbours (the area and the
            plotted curve are unchanged).

    Returns:
        fpr: (T+1,) false-positive rate for scores >= thresholds[i], increasing from 0.
        tpr: (T+1,) true-positive rate (recall), increasing from 0.
        thresholds: (T+1,) decreasing; thresholds[0] is inf (nothing predicted positive).
    """
    fps, tps, thresholds = _binary_clf_curve(y_true, y_score, pos_label, sample_weight)
    if drop_intermediate and len(fps) > 2:
        corner = np.r_[True, (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), True]
        fps, tps, thresholds = fps[corner], tps[corner], thresholds[corner]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    thresholds = np.r_[np.inf, thresholds]
    if fps[-1] <= 0:
        warnings.warn(
            "no negative samples in y_true: the false-positive rate is undefined (NaN)",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        fpr = np.full(fps.shape, np.nan)
    else:
        fpr = fps / fps[-1]
    if tps[-1] <= 0:
        warnings.warn(
            "no positive samples in y_true: the true-positive rate is undefined (NaN)",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        tpr = np.full(tps.shape, np.nan)
    else:
        tpr = tps / tps[-1]
    return fpr, tpr, thresholds


def auc(x, y):
    """Area under a curve by the trapezoidal rule; x must be monotonic.

    Args:
        x: (P,) increasing or decreasing abscissae (at least 2).
        y: (P,) ordinates.

    Returns:
        The area as a float (positive for decreasing x too).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
        raise ValueError(f"x and y must be 1-D of one length >= 2, got {x.shape} and {y.shape}")
    dx = np.diff(x)
    if np.all(dx <= 0):
        x, y = x[::-1], y[::-1]
    elif not np.all(dx >= 0):
        raise ValueError("x must be monotonic (increasing or decreasing)")
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def _binary_roc_auc(pos, score, sample_weight=None, max_fpr=None):
    """ROC-AUC of a boolean target; NaN (with a warning) when only one class is present."""
    if len(np.unique(pos)) != 2:
        warnings.warn(
            "only one class is present in y_true; ROC-AUC is undefined (NaN)",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return float("nan")
    fpr, tpr, _ = roc_curve(pos, score, pos_label=True, sample_weight=sample_weight)
    if max_fpr is None or max_fpr == 1:
        return auc(fpr, tpr)
    stop = np.searchsorted(fpr, max_fpr, "right")
    tpr_at = np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1])
    partial = auc(np.r_[fpr[:stop], max_fpr], np.r_[tpr[:stop], tpr_at])
    # McClish correction: 0.5 for a random ranking, 1 for a perfect one.
    lo, hi = 0.5 * max_fpr**2, max_fpr
    return 0.5 * (1 + (partial - lo) / (hi - lo))


def _average_over_columns(metric, onehot, scores, average, sample_weight):
    """Applies a binary metric to each column and averages like scikit-learn.

    Args:
        metric: f(pos (N,), score (N,), sample_weight) -> float.
        onehot: (N, C) boolean targets.
        scores: (N, C) scores.
        average: None, "micro", "macro" or "weighted" (by positive count).
        sample_weight: (N,) optional weights.
    """
    if average not in (None, "micro", "macro", "weighted"):
        raise ValueError(f"average must be None, 'micro', 'macro' or 'weighted', got {average!r}")
    if average == "micro":
        w = None if sample_weight is None else np.repeat(sample_weight, onehot.shape[1])
        return metric(onehot.ravel(), scores.ravel(), w)
    per_class = np.array(
        [metric(onehot[:, c], scores[:, c], sample_weight) for c in range(onehot.shape[1])]
    )
    if average is None:
        return per_class
    if average == "macro":
        return float(per_class.mean())
    w = onehot.sum(0) if sample_weight is None else sample_weight @ onehot  # (C,) positives
    if np.isclose(w.sum(), 0):
        return 0.0
    per_class[w == 0] = 0.0
    return float(np.average(per_class, weights=w))


def _multiclass_setup(y_true, scores, labels):
    """Encodes multiclass y_true against the columns of ``scores``: returns (idx, classes)."""
    if labels is None:
        classes = np.unique(y_true)
        if len(classes) != scores.shape[1]:
            raise ValueError(
                f"y_true holds {len(classes)} classes but y_score has {scores.shape[1]} columns;"
                " pass labels to name every class"
            )
    else:
        classes = check_label_list(labels)
        if len(classes) != scores.shape[1]:
            raise ValueError(
                f"labels has {len(classes)} classes, y_score has {scores.shape[1]} columns"
            )
    idx = encode(y_true, classes)
    if np.any(idx < 0):
        raise ValueError("y_true contains labels that are not in labels")
    return idx, classes


def roc_auc_score(
    y_true,
    y_score,
    *,
    average="macro",
    sample_weight=None,
    max_fpr=None,
    multi_class="raise",
    labels=None,
):
    """Area under the ROC curve: the probability a random positive outscores a random negative.

    Binary: the positive class is the greater label of ``y_true``; ``max_fpr`` gives the
    McClish-standardised partial AUC. Multiclass (``y_score`` of shape (N, C) with C > 2):
    "ovr" scores each class against the rest and averages (None, "micro", "macro",
    "weighted" by prevalence); "ovo" averages the AUC of every pair of classes (Hand & Till,
    2001; "macro" or "weighted" by pair prevalence, no sample weights).

    Args:
        y_true: (N,) labels.
        y_score: (N,) positive-class scores (binary), or (N, C) class probabilities whose
            rows sum to 1 (multiclass), column j for class ``labels[j]``.
        average: see above; ignored for binary problems.
        sample_weight: (N,) optional non-negative weights.
        max_fpr: in (0, 1], binary only.
        multi_class: "ovr" or "ovo"; the default "raise" refuses multiclass input.
        labels: (C,) classes of the columns; default the sorted labels of ``y_true``.

    Returns:
        A float (NaN when y_true holds a single class), or a (C,) array for ovr average=None.
    """
    y_true = as_label_array("y_true", y_true)
    s = check_scores("y_score", y_score, len(y_true))
    w = check_weights(sample_weight, len(y_true))
    if len(y_true) == 0:
        raise ValueError("y_true is empty")
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    multiclass = len(np.unique(y_true)) > 2 or (s.ndim == 2 and s.shape[1] > 2)
    if not multiclass:
        if s.ndim != 1:
            raise ValueError(f"y_score must be 1-D for a binary problem, got shape {s.shape}")
        if max_fpr is not None and not 0 < max_fpr <= 1:
            raise ValueError(f"max_fpr must lie in (0, 1], got {max_fpr!r}")
        pos = y_true == np.unique(y_true)[-1]
        return _binary_roc_auc(pos, s, w, max_fpr)
    if max_fpr is not None and max_fpr != 1:
        raise ValueError("max_fpr (partial AUC) is only defined for binary problems")
    if multi_class not in ("ovr", "ovo"):
        raise ValueError(f"multiclass y_true needs multi_class='ovr' or 'ovo', got {multi_class!r}")
    if s.ndim != 2:
        raise ValueError(f"y_score must have shape (N, n_classes) for multiclass, got {s.shape}")
    if not np.allclose(s.sum(axis=1), 1.0):
        raise ValueError("multiclass y_score must hold probabilities: each row must sum to 1")
    idx, classes = _multiclass_setup(y_true, s, labels)
    if multi_class == "ovr":
        onehot = idx[:, None] == np.arange(len(classes))[None, :]  # (N, C)
        return _average_over_columns(_binary_roc_auc, onehot, s, average, w)
    if average not in ("macro", "weighted"):
        raise ValueError(
            f"multi_class='ovo' supports average 'macro' or 'weighted', got {average!r}"
        )
    if w is not None:
        raise ValueError("sample_weight is not supported for multi_class='ovo'")
    present = np.unique(idx)
    pair_auc, prevalence = [], []
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            pair = (idx == a) | (idx == b)
            auc_a = _binary_roc_auc(idx[pair] == a, s[pair, a])
            auc_b = _binary_roc_auc(idx[pair] == b, s[pair, b])
            pair_auc.append((auc_a + auc_b) / 2)
            prevalence.append(pair.mean())
    weights = prevalence if average == "weighted" else None
    return float(np.average(pair_auc, weights=weights))


def precision_recall_curve(
    y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=False
):
    """Precision and recall at every distinct score threshold.

    Args:
        y_true: (N,) binary labels; {0, 1} and {-1, 1} need no ``pos_label``.
        y_score: (N,) scores of the positive class.
        pos_label: the positive label.
        sample_weight: (N,) optional non-negative weights.
        drop_intermediate: keep only the first and last threshold of each run of equal recall.

    Returns:
        precision: (T+1,) precision for scores >= thresholds[i]; the last entry is 1.
        recall: (T+1,) decreasing recall; the last entry is 0.
        thresholds: (T,) increasing distinct scores.
    """
    fps, tps, thresholds = _binary_clf_curve(y_true, y_score, pos_label, sample_weight)
    if drop_intermediate and len(fps) > 2:
        keep = np.r_[True, (np.diff(tps[:-1]) != 0) | (np.diff(tps[1:]) != 0), True]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    if tps[-1] == 0:
        warnings.warn(
            "no positive class found in y_true; recall is set to one for all thresholds",
            UserWarning,
            stacklevel=2,
        )
        recall = np.ones_like(tps)
    else:
        recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def _binary_average_precision(pos, score, sample_weight=None):
    precision, recall, _ = precision_recall_curve(
        pos, score, pos_label=True, sample_weight=sample_weight
    )
    # Step integral: sum over thresholds of (R_n - R_{n-1}) * P_n.
    return max(0.0, float(-np.sum(np.diff(recall) * precision[:-1])))


def average_precision_score(y_true, y_score, *, average="macro", pos_label=1, sample_weight=None):
    """Average precision: the precision-recall curve's step integral sum_n (R_n - R_{n-1}) P_n.

    No interpolation (unlike the detection APs in ``visionblocks.metrics.detection``).
    Multiclass ``y_true`` is scored one class against the rest, with ``y_score`` columns in
    the sorted order of the labels of ``y_true``.

    Args:
        y_true: (N,) labels, binary or multiclass.
        y_score: (N,) positive-class scores (binary) or (N, C) class scores (multiclass).
        average: None, "micro", "macro" or "weighted" (by positives), for multiclass input.
        pos_label: the positive label of a binary problem (must stay 1 for multiclass).
        sample_weight: (N,) optional non-negative weights.

    Returns:
        A float, or a (C,) array for multiclass average=None.
    """
    y_true = as_label_array("y_true", y_true)
    s = check_scores("y_score", y_score, len(y_true))
    w = check_weights(sample_weight, len(y_true))
    if len(y_true) == 0:
        raise ValueError("y_true is empty")
    present = np.unique(y_true)
    if len(present) <= 2:
        if len(present) == 2 and pos_label not in present.tolist():
            raise ValueError(
                f"pos_label={pos_label!r} is not a valid label; it should be one of "
                f"{present.tolist()}"
            )
        if s.ndim == 2 and s.shape[1] == 1:
            s = s[:, 0]
        if s.ndim != 1:
            raise ValueError(f"y_score must be 1-D for a binary problem, got shape {s.shape}")
        return _binary_average_precision(y_true == pos_label, s, w)
    if pos_label != 1:
        raise ValueError("pos_label is fixed to 1 for multiclass y_true; do not set it")
    if s.ndim != 2 or s.shape[1] != len(present):
        raise ValueError(
            f"y_score must have shape (N, {len(present)}) since y_true holds {len(present)} "
            f"classes, got {s.shape}"
        )
    onehot = y_true[:, None] == present[None, :]  # (N, C)
    return _average_over_columns(_binary_average_precision, onehot, s, average, w)

"""A text (or dict) report of per-class precision, recall, F1 and support, with averages."""

from __future__ import annotations

import warnings

import numpy as np

from visionblocks.metrics._common import check_label_list, check_pair
from visionblocks.metrics.precision_recall import precision_recall_fscore_support

HEADERS = ("precision", "recall", "f1-score", "support")


def classification_report(
    y_true,
    y_pred,
    *,
    labels=None,
    target_names=None,
    sample_weight=None,
    digits=2,
    output_dict=False,
    zero_division="warn",
):
    """Builds the scikit-learn style classification report.

    One row per class, then "accuracy" (when every present label is scored, the micro average
    equals the accuracy; otherwise a "micro avg" row), "macro avg" and "weighted avg". The
    text layout is the one of ``sklearn.metrics.classification_report``.

    Args:
        y_true: (N,) true labels.
        y_pred: (N,) predicted labels.
        labels: (L,) classes to report, in order; default the sorted union of labels.
        target_names: (L,) display names of those classes.
        sample_weight: (N,) optional non-negative weights.
        digits: decimals of the text report (the dict is unrounded).
        output_dict: return a nested dict instead of text.
        zero_division: "warn", 0, 1 or np.nan, as in ``precision_recall_fscore_support``.

    Returns:
        The report as a string, or as ``{name: {"precision", "recall", "f1-score",
        "support"}, ..., "accuracy": float}``.
    """
    y_true, y_pred, _ = check_pair(y_true, y_pred, sample_weight)
    present = np.union1d(y_true, y_pred)
    labels_given = labels is not None
    labels = check_label_list(labels) if labels_given else present
    micro_is_accuracy = not labels_given or set(present.tolist()) <= set(labels.tolist())
    if target_names is not None and len(target_names) != len(labels):
        if not labels_given:
            raise ValueError(
                f"target_names has {len(target_names)} names for {len(labels)} classes; pass "
                "labels to say which classes they name"
            )
        warnings.warn(
            f"labels has {len(labels)} entries but target_names has {len(target_names)}",
            UserWarning,
            stacklevel=2,
        )
    names = [str(v) for v in labels] if target_names is None else [str(v) for v in target_names]
    common = dict(labels=labels, sample_weight=sample_weight, zero_division=zero_division)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, **common)
    rows = list(zip(names, p, r, f, s))  # zip drops unnamed classes, as scikit-learn does
    total = s.sum()
    averages = []
    for average in ("micro", "macro", "weighted"):
        heading = "accuracy" if average == "micro" and micro_is_accuracy else f"{average} avg"
        ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, average=average, **common)
        averages.append((heading, ap, ar, af, total))
    if output_dict:
        report = {row[0]: dict(zip(HEADERS, (float(v) for v in row[1:]))) for row in rows}
        for heading, *values in averages:
            report[heading] = dict(zip(HEADERS, (float(v) for v in values)))
        if "accuracy" in report:
            report["accuracy"] = report["accuracy"]["precision"]
        return report
    width = max(max((len(n) for n in names), default=0), len("weighted avg"), digits)
    lines = [" " * width + " " + "".join(f" {h:>9}" for h in HEADERS), ""]
    for name, *values in rows:
        lines.append(_row(name, values, width, digits))
    lines.append("")
    for heading, ap, ar, af, n in averages:
        if heading == "accuracy":
            blank = f" {'':>9}"
            lines.append(f"{heading:>{width}} " + blank * 2 + f" {af:>9.{digits}f} {n:>9}")
        else:
            lines.append(_row(heading, (ap, ar, af, n), width, digits))
    return "\n".join(lines) + "\n"


def _row(name, values, width, digits):
    p, r, f, n = values
    return f"{name:>{width}} " + "".join(f" {v:>9.{digits}f}" for v in (p, r, f)) + f" {n:>9}"

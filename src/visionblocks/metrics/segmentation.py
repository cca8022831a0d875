"""Segmentation measures: pairwise IoU of binary masks, and per-class / mean IoU of label maps.

For semantic segmentation the counts are pooled over every pixel of every image (the usual
"dataset" mean IoU, not an average of per-image scores): IoU_c = TP_c / (TP_c + FP_c + FN_c).
A class absent from both the truth and the prediction has IoU NaN and is left out of the
mean; pixels labelled ``ignore_index`` in ``y_true`` are not counted.
"""

from __future__ import annotations

import numpy as np

from visionblocks.errors import ShapeError


def mask_iou(masks1, masks2) -> np.ndarray:
    """Pairwise IoU of binary masks.

    Args:
        masks1: (N, H, W) masks (bool, or numbers where non-zero means inside).
        masks2: (M, H, W) masks of the same size.

    Returns:
        iou: (N, M) float64; 0 where both masks are empty.
    """
    a, b = np.asarray(masks1), np.asarray(masks2)
    if a.ndim != 3 or b.ndim != 3 or a.shape[1:] != b.shape[1:]:
        raise ShapeError(
            f"masks1 and masks2 must be (N, H, W) and (M, H, W) with one H, W; got {a.shape} "
            f"and {b.shape}"
        )
    a = (a != 0).reshape(len(a), -1).astype(np.float64)  # (N, H*W)
    b = (b != 0).reshape(len(b), -1).astype(np.float64)  # (M, H*W)
    inter = a @ b.T  # (N, M)
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def segmentation_confusion_matrix(y_true, y_pred, num_classes: int, ignore_index=None):
    """Pixel confusion matrix of label maps.

    Args:
        y_true: (...) integer true labels, e.g. (N, H, W); values in [0, num_classes) except
            ``ignore_index``.
        y_pred: (...) integer predicted labels of the same shape, in [0, num_classes).
        num_classes: number of classes C.
        ignore_index: label of pixels to leave out (e.g. 255), or None.

    Returns:
        cm: (C, C) int64, ``cm[i, j]`` = pixels of true class i predicted as j.
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape:
        raise ShapeError(f"y_true {t.shape} and y_pred {p.shape} must have the same shape")
    if t.dtype.kind not in "iu" or p.dtype.kind not in "iu":
        raise TypeError(f"label maps must be integers, got {t.dtype} and {p.dtype}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    t, p = t.ravel(), p.ravel()
    if ignore_index is not None:
        keep = t != ignore_index
        t, p = t[keep], p[keep]
    for name, v in (("y_true", t), ("y_pred", p)):
        if v.size and (v.min() < 0 or v.max() >= num_classes):
            raise ValueError(
                f"{name} must lie in [0, {num_classes}) (or be ignore_index), got values in "
                f"[{v.min()}, {v.max()}]"
            )
    flat = t.astype(np.int64) * num_classes + p  # (P,) index into the flattened (C, C)
    return np.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_from_confusion(cm) -> np.ndarray:
    """Per-class IoU from a (C, C) confusion matrix (sum several to pool batches).

    Returns:
        iou: (C,) float64; NaN for classes with no true and no predicted pixel.
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ShapeError(f"cm must be a square matrix, got shape {cm.shape}")
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    return np.divide(tp, union, out=np.full(len(tp), np.nan), where=union > 0)


def per_class_iou(y_true, y_pred, num_classes: int, ignore_index=None) -> np.ndarray:
    """Per-class IoU of label maps (see ``segmentation_confusion_matrix`` for arguments).

    Returns:
        iou: (C,) float64; NaN for classes absent from both maps.
    """
    return iou_from_confusion(
        segmentation_confusion_matrix(y_true, y_pred, num_classes, ignore_index)
    )


def mean_iou(y_true, y_pred, num_classes: int, ignore_index=None) -> float:
    """Mean IoU over the classes present in the truth or the prediction.

    Returns:
        The mean as a float; NaN if no pixel is counted.
    """
    iou = per_class_iou(y_true, y_pred, num_classes, ignore_index)
    defined = iou[~np.isnan(iou)]
    return float(defined.mean()) if defined.size else float("nan")


def pixel_accuracy(y_true, y_pred, num_classes: int, ignore_index=None) -> float:
    """Fraction of counted pixels whose predicted label is the true one (NaN if none)."""
    cm = segmentation_confusion_matrix(y_true, y_pred, num_classes, ignore_index)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")

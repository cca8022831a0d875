"""Axis-aligned boxes: format conversion, area, pairwise IoU and greedy non-maximum suppression.

Boxes are float arrays of shape (N, 4). ``xyxy`` is (x1, y1, x2, y2) with x1 <= x2 and
y1 <= y2, in continuous coordinates (width = x2 - x1, no "+1 pixel"); ``xywh`` is
(x, y, width, height) of the top-left corner, as in COCO. Degenerate boxes (zero width or
height) are allowed: their area is 0 and their IoU with any box is 0 (a union of 0 gives 0,
not NaN). Inverted boxes (x2 < x1), NaN and inf are rejected.
"""

from __future__ import annotations

import numpy as np

from visionblocks.errors import ShapeError

FORMATS = ("xyxy", "xywh")


def check_boxes(name: str, boxes, box_format: str = "xyxy") -> np.ndarray:
    """Checks (N, 4) finite boxes in ``box_format`` and returns them as float64 ``xyxy``.

    Args:
        name: argument name used in error messages.
        boxes: (N, 4) array-like; an empty list is accepted as no boxes.
        box_format: "xyxy" or "xywh".

    Returns:
        boxes: (N, 4) float64 xyxy boxes (a new array).
    """
    if box_format not in FORMATS:
        raise ValueError(f"box_format must be one of {FORMATS}, got {box_format!r}")
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return np.zeros((0, 4))
    if b.ndim != 2 or b.shape[1] != 4:
        raise ShapeError(f"{name} must have shape (N, 4), got {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if box_format == "xywh":
        if np.any(b[:, 2:] < 0):
            raise ValueError(f"{name} has a negative width or height")
        return xywh_to_xyxy(b)
    if np.any(b[:, 2] < b[:, 0]) or np.any(b[:, 3] < b[:, 1]):
        bad = int(np.flatnonzero((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]))[0])
        raise ValueError(
            f"{name} must be xyxy with x1 <= x2 and y1 <= y2; box {bad} is {b[bad].tolist()}"
        )
    return b.copy()


def xywh_to_xyxy(boxes) -> np.ndarray:
    """Converts (x, y, w, h) boxes to (x1, y1, x2, y2).

    Args:
        boxes: (N, 4) xywh boxes.

    Returns:
        (N, 4) float64 xyxy boxes.
    """
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xywh(boxes) -> np.ndarray:
    """Converts (x1, y1, x2, y2) boxes to (x, y, w, h).

    Args:
        boxes: (N, 4) xyxy boxes.

    Returns:
        (N, 4) float64 xywh boxes.
    """
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def box_area(boxes) -> np.ndarray:
    """Areas of xyxy boxes.

    Args:
        boxes: (N, 4) xyxy boxes.

    Returns:
        (N,) float64 areas (0 for degenerate boxes).
    """
    b = check_boxes("boxes", boxes)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection areas of checked xyxy boxes a (N, 4) and b (M, 4)."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    wh = np.clip(bottom_right - top_left, 0.0, None)  # (N, M, 2)
    return wh[..., 0] * wh[..., 1]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of checked xyxy boxes; 0 where the union is 0."""
    inter = _intersection(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter  # (N, M)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(boxes1, boxes2, box_format: str = "xyxy") -> np.ndarray:
    """Pairwise intersection over union.

    Args:
        boxes1: (N, 4) boxes.
        boxes2: (M, 4) boxes.
        box_format: "xyxy" (default) or "xywh", for both arguments.

    Returns:
        iou: (N, M) float64 with ``iou[i, j] = |b1_i & b2_j| / |b1_i | b2_j|`` in [0, 1];
        0 when the union is empty (two degenerate boxes).
    """
    a = check_boxes("boxes1", boxes1, box_format)
    b = check_boxes("boxes2", boxes2, box_format)
    return _iou(a, b)


def _check_nms_args(boxes, scores, iou_threshold):
    b = check_boxes("boxes", boxes)
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(b),):
        raise ShapeError(f"scores must have shape ({len(b)},) to match boxes, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite (no NaN or inf)")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must lie in [0, 1], got {iou_threshold!r}")
    return b, s


def _greedy(b, s, iou_threshold, same_group):
    """Greedy suppression over boxes sorted by decreasing score (ties: lower index first)."""
    order = np.argsort(-s, kind="stable")
    b = b[order]
    overlap = _iou(b, b) > iou_threshold  # (N, N) in score order
    if same_group is not None:
        g = same_group[order]
        overlap &= g[:, None] == g[None, :]
    suppressed = np.zeros(len(b), dtype=bool)
    keep = []
    for i in range(len(b)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= overlap[i]
    return order[np.asarray(keep, dtype=np.int64)]


def nms(boxes, scores, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    Repeatedly keeps the highest-scoring remaining box and removes every remaining box whose
    IoU with it is strictly greater than ``iou_threshold``. Equal scores keep the lower index
    first. Memory is O(N^2) (one IoU matrix), time O(N^2).

    Args:
        boxes: (N, 4) xyxy boxes.
        scores: (N,) finite scores.
        iou_threshold: in [0, 1]; 1 removes nothing, 0 removes every box that overlaps a
            kept box at all.

    Returns:
        keep: (K,) int64 indices into ``boxes``, in decreasing score order.
    """
    b, s = _check_nms_args(boxes, scores, iou_threshold)
    return _greedy(b, s, iou_threshold, None)


def batched_nms(boxes, scores, labels, iou_threshold: float) -> np.ndarray:
    """Per-class greedy NMS: boxes only suppress boxes of the same label.

    Args:
        boxes: (N, 4) xyxy boxes.
        scores: (N,) finite scores.
        labels: (N,) integer class of each box.
        iou_threshold: in [0, 1].

    Returns:
        keep: (K,) int64 indices into ``boxes``, in decreasing score order over all classes.
    """
    b, s = _check_nms_args(boxes, scores, iou_threshold)
    lab = np.asarray(labels)
    if lab.shape != (len(b),):
        raise ShapeError(f"labels must have shape ({len(b)},) to match boxes, got {lab.shape}")
    return _greedy(b, s, iou_threshold, lab)

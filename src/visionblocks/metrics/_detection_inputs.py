"""Checks the per-image detection and ground-truth dicts taken by the detection AP functions."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from visionblocks.errors import ShapeError
from visionblocks.metrics.boxes import check_boxes


def _vector(name: str, value, n: int, dtype, default=None) -> np.ndarray:
    if value is None:
        if n == 0:
            return np.zeros(0, dtype=dtype)
        if default is None:
            raise KeyError(f"{name} is missing")
        return np.full(n, default, dtype=dtype)
    v = np.asarray(value)
    if v.size == 0 and n == 0:
        return np.zeros(0, dtype=dtype)
    if v.shape != (n,):
        raise ShapeError(f"{name} must have shape ({n},) to match the boxes, got {v.shape}")
    if dtype is np.float64:
        if v.dtype.kind not in "iuf" or not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must hold finite numbers")
    elif dtype is np.int64 and v.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class ids, got dtype {v.dtype}")
    return v.astype(dtype)


def check_detection_inputs(detections, ground_truths, box_format: str = "xyxy"):
    """Validates per-image detections and ground truth and converts boxes to xyxy.

    Args:
        detections: list with one dict per image: "boxes" (D, 4), "scores" (D,),
            "labels" (D,) integer class ids. An image without boxes may be an empty dict.
        ground_truths: list with one dict per image (same images, same order): "boxes"
            (G, 4), "labels" (G,), and optionally "iscrowd" (G,) bool (COCO), "difficult"
            (G,) bool (VOC) and "area" (G,) (COCO's object area; default the box area).
        box_format: "xyxy" or "xywh" for every box.

    Returns:
        dets, gts: lists of dicts with the same keys as float64 / int64 / bool arrays
        (boxes xyxy; gts always carry "iscrowd", "difficult" and "area").
    """
    if not isinstance(detections, (list, tuple)) or not isinstance(ground_truths, (list, tuple)):
        raise TypeError("detections and ground_truths must be lists with one dict per image")
    if len(detections) != len(ground_truths):
        raise ValueError(
            f"detections ({len(detections)} images) and ground_truths ({len(ground_truths)} "
            "images) must describe the same images in the same order"
        )
    dets, gts = [], []
    for i, (d, g) in enumerate(zip(detections, ground_truths)):
        if not isinstance(d, Mapping) or not isinstance(g, Mapping):
            raise TypeError(f"detections[{i}] and ground_truths[{i}] must be dicts")
        boxes = check_boxes(f"detections[{i}]['boxes']", d.get("boxes", []), box_format)
        n = len(boxes)
        dets.append(
            {
                "boxes": boxes,
                "scores": _vector(f"detections[{i}]['scores']", d.get("scores"), n, np.float64),
                "labels": _vector(f"detections[{i}]['labels']", d.get("labels"), n, np.int64),
            }
        )
        boxes = check_boxes(f"ground_truths[{i}]['boxes']", g.get("boxes", []), box_format)
        n = len(boxes)
        box_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        area = g.get("area")
        gts.append(
            {
                "boxes": boxes,
                "labels": _vector(f"ground_truths[{i}]['labels']", g.get("labels"), n, np.int64),
                "iscrowd": _vector(f"ground_truths[{i}]['iscrowd']", g.get("iscrowd"), n, bool, 0),
                "difficult": _vector(
                    f"ground_truths[{i}]['difficult']", g.get("difficult"), n, bool, 0
                ),
                "area": box_area
                if area is None
                else _vector(f"ground_truths[{i}]['area']", area, n, np.float64),
            }
        )
    return dets, gts


def class_ids_of(dets, gts, class_ids=None) -> np.ndarray:
    """The classes to evaluate: ``class_ids`` if given, else every label seen, sorted."""
    if class_ids is not None:
        ids = np.asarray(class_ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise ValueError("class_ids must be a 1-D list of integer class ids")
        return ids.astype(np.int64)
    labels = [x["labels"] for x in dets] + [x["labels"] for x in gts]
    return np.unique(np.concatenate(labels)) if labels else np.zeros(0, np.int64)

"""COCO-style detection AP and AR: 101 recall points, IoU 0.50:0.05:0.95, area ranges.

This follows the protocol of the COCO evaluation (``pycocotools.COCOeval``), written from its
description and checked against it in the tests:

* per image and class, detections are sorted by score (ties keep input order) and only the
  ``max(max_detections)`` best are kept;
* at each IoU threshold t, each detection in turn takes the unmatched ground-truth box of
  highest IoU >= t (ties: the later box), preferring boxes that are not ignored; a crowd box
  ("iscrowd") may take any number of detections and its IoU is |d & g| / |d|;
* ground truth is ignored when it is a crowd or its "area" lies outside the area range;
  detections matched to ignored ground truth, and unmatched detections whose box area lies
  outside the range, count neither as true nor false positives;
* per class, precision is made monotone (the running maximum from the right) and read at
  the recall thresholds (0 past the highest recall reached); AP averages it over recall
  thresholds, IoU thresholds and classes; AR averages the highest recall.

A class with no (non-ignored) ground truth in an area range is undefined there: its entries
are NaN (``pycocotools`` writes -1) and it is left out of the means. A class with ground truth
but no detections scores 0. A summary with no defined entry is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from visionblocks.metrics._detection_inputs import check_detection_inputs, class_ids_of
from visionblocks.metrics.boxes import _intersection, _iou

#: IoU thresholds 0.50, 0.55, ..., 0.95 (built exactly as pycocotools builds them).
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
#: Recall thresholds 0.00, 0.01, ..., 1.00.
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
#: Object-area ranges in square pixels, both ends included.
COCO_AREA_RANGES = {
    "all": (0.0, 1e10),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e10),
}


@dataclass
class CocoEvaluation:
    """Everything the COCO evaluation computes.

    Attributes:
        precision: (T, R, K, A, M) interpolated precision per IoU threshold, recall threshold,
            class, area range and detection limit; NaN where the class has no ground truth.
        recall: (T, K, A, M) highest recall reached; NaN where undefined.
        iou_thresholds: (T,) IoU thresholds.
        recall_thresholds: (R,) recall thresholds.
        class_ids: (K,) the classes, in the order of the K axis.
        area_ranges: the A names (keys of the ``area_ranges`` argument).
        max_detections: the M per-image detection limits.
        stats: the summary: "AP" (mean over thresholds), "AP50", "AP75" (when those
            thresholds are evaluated), "APs", "APm", "APl" (when those ranges are),
            "AR1", "AR10", "AR100" (one per detection limit), "ARs", "ARm", "ARl".
    """

    precision: np.ndarray
    recall: np.ndarray
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    class_ids: np.ndarray
    area_ranges: list
    max_detections: list
    stats: dict = field(default_factory=dict)

    def ap_per_class(self, area="all") -> dict:
        """Returns {class id: AP averaged over IoU thresholds} at the largest detection limit."""
        a = self.area_ranges.index(area)
        p = self.precision[:, :, :, a, -1]  # (T, R, K)
        return {int(k): _mean(p[:, :, i]) for i, k in enumerate(self.class_ids)}


def _mean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else float("nan")


def _coco_iou(det: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """(D, G) IoU, with |d & g| / |d| for crowd columns (0 for an empty box)."""
    iou = _iou(det, gt)
    if crowd.any():
        inter = _intersection(det, gt[crowd])
        area = ((det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1]))[:, None]  # (D, 1)
        iou[:, crowd] = np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)
    return iou


def _match(iou, ignore, crowd, thresholds):
    """Greedy matching of score-sorted detections at every threshold at once.

    Args:
        iou: (D, G) IoU of detections (best first) with ground truth.
        ignore: (G,) ground truth to ignore; crowd: (G,) crowd boxes (reusable).
        thresholds: (T,) IoU thresholds.

    Returns:
        matched, matched_ignored: (T, D) bool.
    """
    n_det, n_gt = iou.shape
    matched = np.zeros((len(thresholds), n_det), dtype=bool)
    matched_ignored = np.zeros_like(matched)
    if n_gt == 0:
        return matched, matched_ignored
    taken = np.zeros((len(thresholds), n_gt), dtype=bool)
    thr = np.minimum(thresholds, 1 - 1e-10)[:, None]  # (T, 1)
    for d in range(n_det):
        ok = (~taken | crowd) & (iou[d] >= thr)  # (T, G) candidates
        regular = ok & ~ignore
        use = np.where(regular.any(axis=1, keepdims=True), regular, ok)
        value = np.where(use, iou[d], -1.0)  # (T, G)
        best = n_gt - 1 - np.argmax(value[:, ::-1], axis=1)  # (T,) last maximum
        t = np.flatnonzero(use.any(axis=1))
        matched[t, d] = True
        matched_ignored[t, d] = ignore[best[t]]
        taken[t, best[t]] = True
    return matched, matched_ignored


def _interpolated_precision(tp, fp, n_pos, recall_thresholds):
    """Precision at each recall threshold from cumulative counts (both (T, N))."""
    recall = tp / n_pos
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).tiny)
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]  # (T, N)
    out = np.zeros((tp.shape[0], len(recall_thresholds)))
    for t in range(tp.shape[0]):
        idx = np.searchsorted(recall[t], recall_thresholds, side="left")  # (R,)
        inside = idx < recall.shape[1]
        out[t, inside] = envelope[t, idx[inside]]
    return out


def coco_evaluate(
    detections,
    ground_truths,
    *,
    box_format="xyxy",
    iou_thresholds=COCO_IOU_THRESHOLDS,
    recall_thresholds=COCO_RECALL_THRESHOLDS,
    area_ranges=None,
    max_detections=(1, 10, 100),
    class_ids=None,
) -> CocoEvaluation:
    """COCO-style detection evaluation (see the module notes for the protocol).

    Args:
        detections: list with one dict per image: "boxes" (D, 4), "scores" (D,),
            "labels" (D,) integer class ids.
        ground_truths: list with one dict per image (same order): "boxes" (G, 4),
            "labels" (G,), optional "iscrowd" (G,) and "area" (G,) (default: box area).
        box_format: "xyxy" or "xywh" (COCO's own format) for every box.
        iou_thresholds: (T,) IoU thresholds.
        recall_thresholds: (R,) increasing recall thresholds.
        area_ranges: {name: (min_area, max_area)}; default ``COCO_AREA_RANGES``.
        max_detections: increasing per-image, per-class detection limits.
        class_ids: classes to evaluate; default every label seen.

    Returns:
        A ``CocoEvaluation``; ``.stats["AP"]`` is the COCO mAP.
    """
    dets, gts = check_detection_inputs(detections, ground_truths, box_format)
    classes = class_ids_of(dets, gts, class_ids)
    thresholds = np.asarray(iou_thresholds, dtype=np.float64).ravel()
    rec_thr = np.asarray(recall_thresholds, dtype=np.float64).ravel()
    ranges = dict(COCO_AREA_RANGES if area_ranges is None else area_ranges)
    limits = [int(m) for m in max_detections]
    if not limits or min(limits) < 1 or sorted(limits) != limits:
        raise ValueError(f"max_detections must be increasing positive ints, got {max_detections}")
    if thresholds.size == 0 or np.any((thresholds < 0) | (thresholds > 1)):
        raise ValueError("iou_thresholds must be non-empty and lie in [0, 1]")
    shape = (len(thresholds), len(rec_thr), len(classes), len(ranges), len(limits))
    precision = np.full(shape, np.nan)
    recall = np.full((shape[0],) + shape[2:], np.nan)
    for k, cls in enumerate(classes):
        per_image = []  # (scores, det_area, matched, matched_ignored, gt_area, gt_ignore)
        for d, g in zip(dets, gts):
            dm, gm = d["labels"] == cls, g["labels"] == cls
            if not dm.any() and not gm.any():
                continue
            order = np.argsort(-d["scores"][dm], kind="stable")[: limits[-1]]
            boxes, scores = d["boxes"][dm][order], d["scores"][dm][order]
            crowd = g["iscrowd"][gm]
            iou = _coco_iou(boxes, g["boxes"][gm], crowd)
            det_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            per_image.append((scores, det_area, iou, crowd, g["area"][gm]))
        for a, (lo, hi) in enumerate(ranges.values()):
            results = []
            for scores, det_area, iou, crowd, gt_area in per_image:
                ignore = crowd | (gt_area < lo) | (gt_area > hi)
                matched, m_ignored = _match(iou, ignore, crowd, thresholds)
                outside = (det_area < lo) | (det_area > hi)
                skip = m_ignored | (~matched & outside[None, :])  # (T, D)
                results.append((scores, matched, skip, int((~ignore).sum())))
            n_pos = sum(r[3] for r in results)
            if n_pos == 0:
                continue
            for m, limit in enumerate(limits):
                scores = np.concatenate([r[0][:limit] for r in results])
                matched = np.concatenate([r[1][:, :limit] for r in results], axis=1)
                skip = np.concatenate([r[2][:, :limit] for r in results], axis=1)
                order = np.argsort(-scores, kind="stable")
                matched, skip = matched[:, order], skip[:, order]
                tp = np.cumsum(matched & ~skip, axis=1, dtype=np.float64)  # (T, N)
                fp = np.cumsum(~matched & ~skip, axis=1, dtype=np.float64)
                recall[:, k, a, m] = tp[:, -1] / n_pos if tp.shape[1] else 0.0
                precision[:, :, k, a, m] = _interpolated_precision(tp, fp, n_pos, rec_thr)
    result = CocoEvaluation(
        precision, recall, thresholds, rec_thr, classes, list(ranges), limits, stats={}
    )
    result.stats = _summarize(result)
    return result


def _summarize(ev: CocoEvaluation) -> dict:
    """The standard COCO summary numbers, named."""
    stats = {}
    names = ev.area_ranges
    a_all = names.index("all") if "all" in names else 0
    stats["AP"] = _mean(ev.precision[:, :, :, a_all, -1])
    for iou, key in ((0.5, "AP50"), (0.75, "AP75")):
        t = np.flatnonzero(np.isclose(ev.iou_thresholds, iou))
        if t.size:
            stats[key] = _mean(ev.precision[t[0], :, :, a_all, -1])
    short = {"small": "s", "medium": "m", "large": "l"}
    for name, s in short.items():
        if name in names:
            stats[f"AP{s}"] = _mean(ev.precision[:, :, :, names.index(name), -1])
    for m, limit in enumerate(ev.max_detections):
        stats[f"AR{limit}"] = _mean(ev.recall[:, :, a_all, m])
    for name, s in short.items():
        if name in names:
            stats[f"AR{s}"] = _mean(ev.recall[:, :, names.index(name), -1])
    return stats


def coco_map(detections, ground_truths, **kwargs) -> float:
    """COCO mAP (AP averaged over IoU 0.50:0.05:0.95 and classes); see ``coco_evaluate``."""
    return coco_evaluate(detections, ground_truths, **kwargs).stats["AP"]

"""PASCAL VOC-style detection AP at one IoU threshold: 11-point (VOC2007) or all-point.

The protocol of the VOC development kit, written from its description:

* per class, all detections of all images are ranked by score (ties keep input order);
* each detection is compared with the ground-truth box of its image and class that it
  overlaps most (first such box on ties); with IoU > ``iou_threshold`` (strictly) it is a
  true positive if that box is not yet taken, otherwise a false positive (a duplicate); a
  detection whose best box is "difficult" is neither;
* recall = TP / (non-difficult ground truth), precision = TP / (TP + FP) down the ranking;
* ``use_07_metric=True``: mean over r in {0, 0.1, ..., 1} of the highest precision at recall
  >= r (the thresholds are i/10 exactly); otherwise the area under the monotone precision
  envelope (all points, VOC2010+).

Deliberate differences from the original devkit: boxes are in continuous coordinates (no
"+1" on widths), and a class without (non-difficult) ground truth has AP NaN and is left out
of the mAP (the devkit divides by zero there).
"""

from __future__ import annotations

import numpy as np

from visionblocks.metrics._detection_inputs import check_detection_inputs, class_ids_of
from visionblocks.metrics.boxes import _iou


def voc_ap(recall, precision, use_07_metric: bool = False) -> float:
    """Interpolated average precision of a ranked list.

    Args:
        recall: (N,) non-decreasing recall after each detection.
        precision: (N,) precision after each detection.
        use_07_metric: 11-point interpolation (VOC2007) instead of all points.

    Returns:
        AP in [0, 1]; 0 for an empty list.
    """
    rec = np.asarray(recall, dtype=np.float64).ravel()
    prec = np.asarray(precision, dtype=np.float64).ravel()
    if rec.shape != prec.shape:
        raise ValueError(f"recall {rec.shape} and precision {prec.shape} must have one length")
    if np.any(np.diff(rec) < 0):
        raise ValueError("recall must be non-decreasing down the ranking")
    if use_07_metric:
        points = np.arange(11) / 10.0
        best = [prec[rec >= r].max() if np.any(rec >= r) else 0.0 for r in points]
        return float(np.mean(best))
    mrec = np.r_[0.0, rec, 1.0]
    mpre = np.r_[0.0, prec, 0.0]
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope
    step = np.flatnonzero(mrec[1:] != mrec[:-1])  # where recall changes
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


def voc_pr_curve(dets, gts, cls, iou_threshold):
    """Recall and precision down the ranked detections of one class (checked inputs).

    Returns:
        recall, precision: (N,) arrays; n_pos: number of non-difficult ground-truth boxes.
    """
    rows = []  # (score, image, box) of every detection of the class
    taken, hard, gt_boxes = [], [], []
    for i, (d, g) in enumerate(zip(dets, gts)):
        gm = g["labels"] == cls
        gt_boxes.append(g["boxes"][gm])
        hard.append(g["difficult"][gm])
        taken.append(np.zeros(int(gm.sum()), dtype=bool))
        dm = np.flatnonzero(d["labels"] == cls)
        rows.extend((d["scores"][j], i, d["boxes"][j]) for j in dm)
    n_pos = int(sum((~h).sum() for h in hard))
    scores = np.array([r[0] for r in rows], dtype=np.float64)
    tp = np.zeros(len(rows))
    fp = np.zeros(len(rows))
    for n, j in enumerate(np.argsort(-scores, kind="stable")):
        _, img, box = rows[j]
        if len(gt_boxes[img]) == 0:
            fp[n] = 1
            continue
        iou = _iou(box[None, :], gt_boxes[img])[0]  # (G,)
        best = int(np.argmax(iou))
        if iou[best] > iou_threshold:
            if hard[img][best]:
                continue
            if taken[img][best]:
                fp[n] = 1
            else:
                tp[n] = 1
                taken[img][best] = True
        else:
            fp[n] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / n_pos if n_pos else np.full(len(tp), np.nan)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return recall, precision, n_pos


def voc_evaluate(
    detections,
    ground_truths,
    *,
    iou_threshold: float = 0.5,
    use_07_metric: bool = False,
    box_format: str = "xyxy",
    class_ids=None,
) -> dict:
    """VOC-style detection AP per class and their mean (see the module notes).

    Args:
        detections: list with one dict per image: "boxes" (D, 4), "scores" (D,),
            "labels" (D,) integer class ids.
        ground_truths: list with one dict per image (same order): "boxes" (G, 4),
            "labels" (G,), optional "difficult" (G,) bool.
        iou_threshold: a detection needs IoU strictly above this to match.
        use_07_metric: 11-point interpolation instead of all points.
        box_format: "xyxy" or "xywh" for every box.
        class_ids: classes to evaluate; default every label seen.

    Returns:
        {"map": mean AP over classes with ground truth (NaN if none), "ap": {class: AP},
        "recall": {class: (N,) recall curve}, "precision": {class: (N,) precision curve}}.
    """
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must lie in [0, 1], got {iou_threshold!r}")
    dets, gts = check_detection_inputs(detections, ground_truths, box_format)
    out = {"ap": {}, "recall": {}, "precision": {}}
    for cls in class_ids_of(dets, gts, class_ids):
        recall, precision, n_pos = voc_pr_curve(dets, gts, cls, iou_threshold)
        key = int(cls)
        out["ap"][key] = voc_ap(recall, precision, use_07_metric) if n_pos else float("nan")
        out["recall"][key], out["precision"][key] = recall, precision
    aps = np.array(list(out["ap"].values()), dtype=np.float64)
    defined = aps[~np.isnan(aps)]
    out["map"] = float(defined.mean()) if defined.size else float("nan")
    return out


def voc_map(detections, ground_truths, **kwargs) -> float:
    """VOC mAP: the mean over classes of ``voc_evaluate``'s AP."""
    return voc_evaluate(detections, ground_truths, **kwargs)["map"]

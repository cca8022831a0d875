"""Detection AP/mAP: COCO style against pycocotools, VOC style against a loop reference."""

import contextlib
import io

import numpy as np
import pytest

from visionblocks.metrics.detection import (
    coco_evaluate,
    coco_map,
    voc_ap,
    voc_evaluate,
    voc_map,
    xywh_to_xyxy,
)

TOL = 1e-6
COCO_KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def generate(seed, n_images=12, n_classes=3, crowd=True):
    """Random ground truth (xywh, all sizes, some crowd) and noisy detections of it."""
    rng = np.random.default_rng(seed)
    dets, gts = [], []
    for _ in range(n_images):
        g = int(rng.integers(0, 6))
        size = np.exp(rng.uniform(np.log(8), np.log(200), (g, 2)))  # small to large
        gbox = np.c_[rng.uniform(0, 400, (g, 2)), size]
        glab = rng.integers(0, n_classes, g)
        iscrowd = (rng.random(g) < 0.1) if crowd else np.zeros(g, bool)
        area = gbox[:, 2] * gbox[:, 3] * rng.uniform(0.5, 1.0, g)  # segment area < box area
        # detections: jittered copies of the truth (some duplicated) plus false positives
        src = rng.integers(0, g, int(rng.integers(0, 2 * g + 1))) if g else np.zeros(0, int)
        jitter = (
            rng.normal(0, rng.uniform(0.01, 0.2), (len(src), 4))
            * np.c_[gbox[src, 2:], gbox[src, 2:]]
        )
        dbox = gbox[src] + jitter
        dbox[:, 2:] = np.abs(dbox[:, 2:]) + 1
        n_fp = int(rng.integers(0, 4))
        fp = np.c_[rng.uniform(0, 400, (n_fp, 2)), np.exp(rng.uniform(2, 5, (n_fp, 2)))]
        dbox = np.r_[dbox, fp]
        dlab = np.r_[
            np.where(rng.random(len(src)) < 0.9, glab[src], rng.integers(0, 3)),
            rng.integers(0, n_classes, n_fp),
        ]
        gts.append({"boxes": gbox, "labels": glab, "iscrowd": iscrowd, "area": area})
        dets.append({"boxes": dbox, "labels": dlab.astype(int), "scores": rng.random(len(dbox))})
    return dets, gts


def pycocotools_stats(dets, gts, n_classes=3, max_dets=(1, 10, 100)):
    """The 12 COCOeval summary numbers for the same data (xywh boxes)."""
    coco_mod = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    images = [{"id": i, "width": 640, "height": 640} for i in range(len(gts))]
    anns, results = [], []
    for i, g in enumerate(gts):
        for box, lab, crowd, area in zip(g["boxes"], g["labels"], g["iscrowd"], g["area"]):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": int(lab),
                    "bbox": box.tolist(),
                    "area": float(area),
                    "iscrowd": int(crowd),
                }
            )
    for i, d in enumerate(dets):
        for box, lab, score in zip(d["boxes"], d["labels"], d["scores"]):
            results.append(
                {
                    "image_id": i,
                    "category_id": int(lab),
                    "bbox": box.tolist(),
                    "score": float(score),
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        gt = coco_mod.COCO()
        gt.dataset = {
            "images": images,
            "annotations": anns,
            "categories": [{"id": c} for c in range(n_classes)],
        }
        gt.createIndex()
        dt = gt.loadRes(results) if results else coco_mod.COCO()
        ev = cocoeval.COCOeval(gt, dt, "bbox")
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize("seed", range(4))
def test_coco_matches_pycocotools(seed):
    dets, gts = generate(seed)
    ref = pycocotools_stats(dets, gts)
    ours = coco_evaluate(dets, gts, box_format="xywh", class_ids=[0, 1, 2])
    got = np.array([ours.stats[k] for k in COCO_KEYS])
    got = np.where(np.isnan(got), -1.0, got)  # pycocotools writes -1 for undefined
    np.testing.assert_allclose(got, ref.stats, atol=TOL, rtol=0)
    p_ref = ref.eval["precision"]  # (T, R, K, A, M) with -1 for undefined
    np.testing.assert_allclose(np.nan_to_num(ours.precision, nan=-1), p_ref, atol=TOL, rtol=0)
    np.testing.assert_allclose(np.nan_to_num(ours.recall, nan=-1), ref.eval["recall"], atol=TOL)


def test_coco_small_detection_limits_match_pycocotools():
    dets, gts = generate(7, n_images=6, crowd=False)
    ref = pycocotools_stats(dets, gts, max_dets=(1, 2, 3))
    ours = coco_evaluate(
        dets, gts, box_format="xywh", max_detections=(1, 2, 3), class_ids=[0, 1, 2]
    )
    got = [ours.stats[k] for k in ["AP50", "AP75", "APs", "APm", "APl", "AR1", "AR2", "AR3"]]
    np.testing.assert_allclose(np.nan_to_num(got, nan=-1), ref.stats[1:9], atol=TOL)
    # pycocotools' first summary number looks for a limit of exactly 100 (and finds none)
    p = ref.eval["precision"][:, :, :, 0, -1]
    assert ours.stats["AP"] == pytest.approx(p[p > -1].mean(), abs=TOL)


def test_coco_edge_cases():
    gt = [{"boxes": [[0, 0, 10, 10]], "labels": [0]}]
    perfect = coco_evaluate([{"boxes": [[0, 0, 10, 10]], "scores": [0.9], "labels": [0]}], gt)
    assert perfect.stats["AP"] == pytest.approx(1.0) and perfect.stats["AR100"] == 1.0
    assert np.isnan(perfect.stats["APl"])  # no large objects: undefined, not 0
    none = coco_evaluate([{"boxes": np.zeros((0, 4)), "scores": [], "labels": []}], gt)
    assert none.stats["AP"] == 0.0 and none.stats["AR100"] == 0.0  # no predictions
    no_gt = coco_evaluate([{"boxes": [[0, 0, 1, 1]], "scores": [1], "labels": [0]}], [{}])
    assert np.isnan(no_gt.stats["AP"])  # no positives: undefined
    assert np.isnan(coco_map([], []))
    with pytest.raises(ValueError, match="same images"):
        coco_evaluate([], gt)
    with pytest.raises(ValueError, match="x1 <= x2"):
        coco_evaluate([{"boxes": [[5, 0, 1, 1]], "scores": [1], "labels": [0]}], gt)


def reference_voc(dets, gts, cls, thr, use_07):
    """Straightforward loop version of the VOC devkit protocol (continuous coordinates)."""
    items = []
    for i, d in enumerate(dets):
        for b, s, lab in zip(xywh_to_xyxy(d["boxes"]), d["scores"], d["labels"]):
            if lab == cls:
                items.append((-s, len(items), i, b))
    items.sort(key=lambda t: (t[0], t[1]))
    gtb = [xywh_to_xyxy(g["boxes"])[g["labels"] == cls] for g in gts]
    hard = [g["iscrowd"][g["labels"] == cls] for g in gts]  # reuse crowd flags as difficult
    used = [np.zeros(len(b), bool) for b in gtb]
    npos = sum(int((~h).sum()) for h in hard)
    tp, fp = [], []
    for _, _, i, b in items:
        best, jbest = -1.0, -1
        for j, g in enumerate(gtb[i]):
            iw = max(0.0, min(b[2], g[2]) - max(b[0], g[0]))
            ih = max(0.0, min(b[3], g[3]) - max(b[1], g[1]))
            inter = iw * ih
            union = (b[2] - b[0]) * (b[3] - b[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
            if inter / union > best:
                best, jbest = inter / union, j
        if best > thr and hard[i][jbest]:
            continue
        hit = best > thr and not used[i][jbest]
        if hit:
            used[i][jbest] = True
        tp.append(float(hit))
        fp.append(float(not hit))
    if npos == 0:
        return float("nan")
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec, prec = tp / npos, tp / np.maximum(tp + fp, 1e-300)
    if use_07:
        return (
            sum(max([p for r, p in zip(rec, prec) if r >= t / 10], default=0) for t in range(11))
            / 11
        )
    ap, r_prev = 0.0, 0.0
    for k in range(len(rec)):  # sum over recall steps of the best precision at recall >= here
        if rec[k] > r_prev:
            ap += (rec[k] - r_prev) * max(prec[k:])
            r_prev = rec[k]
    return ap


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("use_07", [False, True])
def test_voc_matches_loop_reference(seed, use_07):
    dets, gts = generate(seed)
    for g in gts:
        g["difficult"] = g["iscrowd"]
    ours = voc_evaluate(dets, gts, box_format="xywh", use_07_metric=use_07, iou_threshold=0.5)
    for cls in range(3):
        ref = reference_voc(dets, gts, cls, 0.5, use_07)
        np.testing.assert_allclose(ours["ap"].get(cls, np.nan), ref, atol=TOL)
    assert ours["map"] == pytest.approx(np.nanmean(list(ours["ap"].values())))


def test_coco_ap50_at_one_threshold_is_greedy_101_point():
    dets, gts = generate(3, crowd=False)
    ref = pycocotools_stats(dets, gts)
    ours = coco_evaluate(dets, gts, box_format="xywh", iou_thresholds=[0.5], class_ids=[0, 1, 2])
    assert ours.stats["AP"] == pytest.approx(ref.stats[1], abs=TOL)


def test_voc_ap_known_values_and_edges():
    # ranking T F T with 2 positives: all-point AP = 0.5 * 1 + 0.5 * 2/3
    rec, prec = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    assert voc_ap(rec, prec) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert voc_ap(rec, prec, use_07_metric=True) == pytest.approx((6 * 1.0 + 5 * 2 / 3) / 11)
    assert voc_ap([], []) == 0.0
    gt = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": [0, 0]}]
    none = [{"boxes": np.zeros((0, 4)), "scores": [], "labels": []}]
    assert voc_map(none, gt) == 0.0  # no predictions
    dup = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 10]], "scores": [0.9, 0.8], "labels": [0, 0]}]
    result = voc_evaluate(dup, gt)
    assert result["precision"][0].tolist() == [1.0, 0.5]  # the duplicate is a false positive
    assert np.isnan(voc_map(dup, [{"boxes": np.zeros((0, 4)), "labels": []}]))  # no positives
    with pytest.raises(ValueError, match="non-decreasing"):
        voc_ap([0.5, 0.2], [1, 1])

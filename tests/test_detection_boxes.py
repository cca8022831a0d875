"""Box IoU, NMS, anchors and segmentation IoU against brute-force loop references."""

import numpy as np
import pytest

from visionblocks.errors import ShapeError
from visionblocks.metrics.detection import (
    batched_nms,
    box_area,
    box_iou,
    decode_boxes,
    encode_boxes,
    generate_anchors,
    iou_from_confusion,
    mask_iou,
    mean_iou,
    nms,
    per_class_iou,
    pixel_accuracy,
    segmentation_confusion_matrix,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def random_boxes(rng, n, degenerate=False):
    xy = rng.uniform(0, 50, (n, 2))
    wh = rng.uniform(1, 30, (n, 2))
    if degenerate:
        wh[rng.random((n, 2)) < 0.2] = 0.0  # zero width or height
    return np.c_[xy, xy + wh]


def iou_loop(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms_loop(boxes, scores, thr):
    remaining = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep = []
    while remaining:
        best = remaining.pop(0)
        keep.append(best)
        remaining = [i for i in remaining if iou_loop(boxes[best], boxes[i]) <= thr]
    return keep


@pytest.mark.parametrize("seed", range(5))
def test_box_iou_matches_loops(seed):
    rng = np.random.default_rng(seed)
    a, b = random_boxes(rng, 7, degenerate=True), random_boxes(rng, 5, degenerate=True)
    b[0] = a[0]  # an identical pair
    ref = np.array([[iou_loop(x, y) for y in b] for x in a])
    np.testing.assert_allclose(box_iou(a, b), ref, atol=1e-12)
    np.testing.assert_allclose(box_iou(xyxy_to_xywh(a), xyxy_to_xywh(b), "xywh"), ref, atol=1e-12)
    assert box_iou(a, a[:0]).shape == (7, 0) and box_iou([], b).shape == (0, 5)


def test_box_edge_cases_and_conversion():
    point = [[3.0, 3.0, 3.0, 3.0]]
    assert box_iou(point, point)[0, 0] == 0.0  # empty union: 0, not NaN
    assert box_iou([[0, 0, 2, 2]], [[2, 0, 4, 2]])[0, 0] == 0.0  # touching edges
    assert box_area([[0, 0, 2, 3], [1, 1, 1, 5]]).tolist() == [6.0, 0.0]
    xywh = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert xywh_to_xyxy(xywh).tolist() == [[1.0, 2.0, 4.0, 6.0]]
    np.testing.assert_array_equal(xyxy_to_xywh(xywh_to_xyxy(xywh)), xywh)
    with pytest.raises(ValueError, match="x1 <= x2"):
        box_iou([[2, 0, 1, 1]], point)
    with pytest.raises(ShapeError, match=r"boxes2 must have shape \(N, 4\)"):
        box_iou(point, [[1, 2, 3]])
    with pytest.raises(ValueError, match="finite"):
        box_iou([[0, 0, np.nan, 1]], point)
    with pytest.raises(ValueError, match="box_format"):
        box_iou(point, point, box_format="cxcywh")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.7])
def test_nms_matches_loop_reference(seed, thr):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, 40, degenerate=seed == 0)
    scores = np.round(rng.random(40), 1)  # ties: lower index first
    keep = nms(boxes, scores, thr)
    assert keep.dtype == np.int64
    assert keep.tolist() == nms_loop(boxes, scores, thr)
    assert np.all(np.diff(scores[keep]) <= 0)
    labels = rng.integers(0, 3, 40)
    per_class = [
        i
        for c in range(3)
        for i in np.flatnonzero(labels == c)[nms_loop(boxes[labels == c], scores[labels == c], thr)]
    ]
    expected = sorted(per_class, key=lambda i: (-scores[i], i))
    assert batched_nms(boxes, scores, labels, thr).tolist() == expected


def test_nms_edge_cases():
    assert nms(np.zeros((0, 4)), [], 0.5).tolist() == []
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 1, 1]]
    assert nms(boxes, [0.5, 0.9, 0.1], 0.5).tolist() == [1, 2]  # duplicate gone, point kept
    assert nms(boxes, [0.5, 0.9, 0.1], 1.0).tolist() == [1, 0, 2]  # IoU 1 is not > 1
    with pytest.raises(ShapeError, match="scores"):
        nms(boxes, [0.5], 0.5)
    with pytest.raises(ValueError, match="finite"):
        nms(boxes, [0.5, np.nan, 0.1], 0.5)
    with pytest.raises(ValueError, match="iou_threshold"):
        nms(boxes, [0.5, 0.9, 0.1], 1.5)


def test_encode_decode_roundtrip_and_formula():
    rng = np.random.default_rng(0)
    anchors, boxes = random_boxes(rng, 20), random_boxes(rng, 20)
    for weights in ((1, 1, 1, 1), (10, 10, 5, 5)):
        deltas = encode_boxes(boxes, anchors, weights)
        np.testing.assert_allclose(decode_boxes(deltas, anchors, weights), boxes, atol=1e-9)
    d = encode_boxes([[2, 2, 6, 10]], [[0, 0, 4, 4]])[0]  # centres (4,6) vs (2,2); sizes 4x8
    np.testing.assert_allclose(d, [0.5, 1.0, 0.0, np.log(2)])
    np.testing.assert_allclose(encode_boxes(anchors, anchors), 0.0, atol=1e-12)
    huge = decode_boxes([[0, 0, 50, 50]], [[0, 0, 16, 16]])  # dw clipped: no overflow
    assert np.all(np.isfinite(huge)) and huge[0, 2] - huge[0, 0] == pytest.approx(1000)
    clipped = decode_boxes([[0, 0, 1, 1]], [[0, 0, 16, 16]], image_size=(20, 30))
    assert clipped.min() >= 0 and clipped[0, 2] <= 30 and clipped[0, 3] <= 20
    with pytest.raises(ValueError, match="positive widths"):
        encode_boxes([[0, 0, 0, 4]], [[0, 0, 4, 4]])
    with pytest.raises(ShapeError, match="same shape"):
        encode_boxes(boxes, anchors[:3])


def test_generate_anchors_matches_loops():
    h, w, stride, sizes, ratios = 3, 4, 16, (32, 64), (0.5, 1.0, 2.0)
    expected = []
    for i in range(h):
        for j in range(w):
            cx, cy = (j + 0.5) * stride, (i + 0.5) * stride
            for s in sizes:
                for r in ratios:
                    aw, ah = s / np.sqrt(r), s * np.sqrt(r)
                    expected.append([cx - aw / 2, cy - ah / 2, cx + aw / 2, cy + ah / 2])
    anchors = generate_anchors((h, w), stride, sizes, ratios)
    np.testing.assert_allclose(anchors, expected, atol=1e-9)
    areas = box_area(anchors).reshape(h * w, len(sizes), len(ratios))
    np.testing.assert_allclose(areas[0], np.array(sizes)[:, None] ** 2 * np.ones((1, 3)))
    assert generate_anchors((0, 5), 8).shape == (0, 4)
    with pytest.raises(ValueError, match="stride"):
        generate_anchors((2, 2), 0)


def test_mask_iou_matches_loops():
    rng = np.random.default_rng(1)
    a, b = rng.random((4, 6, 7)) < 0.4, rng.random((3, 6, 7)) < 0.4
    a[0] = False  # an empty mask
    b[0] = False
    ref = np.zeros((4, 3))
    for i in range(4):
        for j in range(3):
            union = np.logical_or(a[i], b[j]).sum()
            ref[i, j] = np.logical_and(a[i], b[j]).sum() / union if union else 0.0
    np.testing.assert_allclose(mask_iou(a, b), ref)
    with pytest.raises(ShapeError):
        mask_iou(a, b[:, :5])


def test_semantic_iou_matches_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 4, (3, 8, 8))
    y_pred = np.where(rng.random((3, 8, 8)) < 0.6, y_true, rng.integers(0, 4, (3, 8, 8)))
    y_pred[y_pred == 3] = 2  # class 3 never predicted
    y_true[0, 0, :4] = 255  # ignored pixels
    keep = y_true.ravel() != 255
    t, p = y_true.ravel()[keep], y_pred.ravel()[keep]
    ref = skm.jaccard_score(t, p, labels=[0, 1, 2, 3], average=None, zero_division=0)
    np.testing.assert_allclose(per_class_iou(y_true, y_pred, 5, ignore_index=255)[:4], ref)
    assert np.isnan(per_class_iou(y_true, y_pred, 5, ignore_index=255)[4])  # class 4 absent
    assert mean_iou(y_true, y_pred, 5, ignore_index=255) == pytest.approx(ref.mean())
    assert pixel_accuracy(y_true, y_pred, 5, ignore_index=255) == pytest.approx((t == p).mean())
    cm = segmentation_confusion_matrix(y_true, y_pred, 5, ignore_index=255)
    np.testing.assert_array_equal(cm[:4, :4], skm.confusion_matrix(t, p, labels=[0, 1, 2, 3]))
    np.testing.assert_allclose(iou_from_confusion(cm + cm)[:4], ref)  # pooling batches
    with pytest.raises(ValueError, match=r"y_true must lie in \[0, 5\)"):
        mean_iou(y_true, y_pred, 5)  # 255 without ignore_index
    assert np.isnan(mean_iou(np.full((2, 2), 255), np.zeros((2, 2), int), 3, ignore_index=255))

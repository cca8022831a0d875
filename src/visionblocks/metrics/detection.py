"""Detection measures in one place: boxes, IoU, NMS, anchors, VOC and COCO AP, mask IoU.

Everything here is re-exported from the modules that implement it: ``boxes`` (formats,
``box_iou``, ``nms``), ``anchors`` (grid anchors, box encoding), ``voc`` and ``coco``
(detection AP/mAP) and ``segmentation`` (mask IoU, mean IoU).
"""

from visionblocks.metrics.anchors import decode_boxes, encode_boxes, generate_anchors
from visionblocks.metrics.boxes import (
    batched_nms,
    box_area,
    box_iou,
    nms,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from visionblocks.metrics.coco import (
    COCO_AREA_RANGES,
    COCO_IOU_THRESHOLDS,
    COCO_RECALL_THRESHOLDS,
    CocoEvaluation,
    coco_evaluate,
    coco_map,
)
from visionblocks.metrics.segmentation import (
    iou_from_confusion,
    mask_iou,
    mean_iou,
    per_class_iou,
    pixel_accuracy,
    segmentation_confusion_matrix,
)
from visionblocks.metrics.voc import voc_ap, voc_evaluate, voc_map

__all__ = [
    "COCO_AREA_RANGES",
    "COCO_IOU_THRESHOLDS",
    "COCO_RECALL_THRESHOLDS",
    "CocoEvaluation",
    "batched_nms",
    "box_area",
    "box_iou",
    "coco_evaluate",
    "coco_map",
    "decode_boxes",
    "encode_boxes",
    "generate_anchors",
    "iou_from_confusion",
    "mask_iou",
    "mean_iou",
    "nms",
    "per_class_iou",
    "pixel_accuracy",
    "segmentation_confusion_matrix",
    "voc_ap",
    "voc_evaluate",
    "voc_map",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]

"""Evaluation metrics: classification (scikit-learn names), detection and segmentation.

The classification and ranking functions are named, called and behave like their
``sklearn.metrics`` counterparts (NumPy only). Box operations, NMS, anchors, VOC/COCO
detection AP and segmentation IoU live in ``visionblocks.metrics.detection`` and
``visionblocks.metrics.segmentation``.
"""

from visionblocks.metrics._common import UndefinedMetricWarning
from visionblocks.metrics.classification import (
    accuracy_score,
    confusion_matrix,
    top_k_accuracy_score,
)
from visionblocks.metrics.classification_table import classification_report
from visionblocks.metrics.precision_recall import (
    f1_score,
    fbeta_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    specificity_score,
)
from visionblocks.metrics.ranking import (
    auc,
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "UndefinedMetricWarning",
    "accuracy_score",
    "auc",
    "average_precision_score",
    "classification_report",
    "confusion_matrix",
    "f1_score",
    "fbeta_score",
    "precision_recall_curve",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
    "roc_auc_score",
    "roc_curve",
    "specificity_score",
    "top_k_accuracy_score",
]

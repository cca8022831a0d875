"""Classic image classifiers: k-nearest neighbours, linear SVM/softmax and hand-made features."""

from visionblocks.classic.features import (
    apply_features,
    color_histogram_hsv,
    color_histograms_hsv,
    extract_features,
    feature_functions,
    fit_standardizer,
    hog_feature,
    hog_features,
    rgb_to_hsv,
    standardize,
)
from visionblocks.classic.knn import KNearestNeighbor
from visionblocks.classic.linear_classifier import (
    LinearClassifier,
    LinearSVM,
    Softmax,
    append_bias,
)
from visionblocks.classic.losses import (
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss_naive,
    svm_loss_vectorized,
)

__all__ = [
    "KNearestNeighbor",
    "LinearClassifier",
    "LinearSVM",
    "Softmax",
    "append_bias",
    "apply_features",
    "color_histogram_hsv",
    "color_histograms_hsv",
    "extract_features",
    "feature_functions",
    "fit_standardizer",
    "hog_feature",
    "hog_features",
    "rgb_to_hsv",
    "softmax_loss_naive",
    "softmax_loss_vectorized",
    "standardize",
    "svm_loss_naive",
    "svm_loss_vectorized",
]

"""Figures about predictions and weights: confusion matrix, per-class accuracy, first-layer
weights as an image grid, and misclassified images with their true and predicted labels."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from visionblocks.errors import ShapeError
from visionblocks.metrics import confusion_matrix
from visionblocks.report.plots import new_axes


def confusion_counts(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Confusion matrix of counts over the classes 0..K-1 (``visionblocks.metrics``'s).

    Args:
        y_true: (N,) labels in [0, K).
        y_pred: (N,) labels in [0, K).
        num_classes: K.

    Returns:
        (K, K) int64, ``cm[i, j]`` = examples of class i predicted as j.
    """
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ShapeError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be equal (N,)")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(
                f"{name} must lie in [0, {num_classes}), got values in [{y.min()}, {y.max()}]"
            )
    return confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))


def normalize_rows(cm) -> np.ndarray:
    """Each row divided by its sum (rows of absent classes stay 0): (K, K) float64."""
    cm = np.asarray(cm, dtype=np.float64)
    sums = cm.sum(axis=1, keepdims=True)  # (K, 1)
    return np.divide(cm, sums, out=np.zeros_like(cm), where=sums > 0)


def plot_confusion(cm, class_names) -> Figure:
    """The row-normalised confusion matrix (each row: where that true class went).

    Args:
        cm: (K, K) counts.
        class_names: K names.
    """
    k = len(class_names)
    norm = normalize_rows(cm)
    size = max(4.5, 0.5 * k + 2.0)
    fig, ax = new_axes((size + 1.0, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class")
    ax.set_xticks(np.arange(k), labels=class_names, rotation=45, ha="right")
    ax.set_yticks(np.arange(k), labels=class_names)
    ax.set(title="Confusion matrix (rows normalised)", xlabel="predicted", ylabel="true")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                v = norm[i, j]
                if v >= 0.005:  # zeros stay blank so the mistakes stand out
                    color = "white" if v > 0.5 else "black"
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color=color)
    return fig


def plot_per_class_accuracy(cm, class_names) -> Figure:
    """Accuracy (recall) of each class as horizontal bars, with the overall accuracy.

    Args:
        cm: (K, K) counts.
        class_names: K names.
    """
    cm = np.asarray(cm)
    per_class = np.diag(normalize_rows(cm))  # (K,)
    overall = np.trace(cm) / max(cm.sum(), 1)
    k = len(class_names)
    fig, ax = new_axes((6.4, max(3.0, 0.35 * k + 1.2)))
    bars = ax.barh(np.arange(k), per_class, color="tab:blue", label="per class")
    ax.bar_label(bars, labels=[f"{v:.3f}" for v in per_class], padding=2, fontsize=8)
    ax.axvline(overall, color="tab:red", ls="--", label=f"overall {overall:.4f}")
    ax.set_yticks(np.arange(k), labels=class_names)
    ax.invert_yaxis()  # class 0 on top, as in the confusion matrix
    ax.set_xlim(0, 1.12)
    ax.set(title="Per-class accuracy", xlabel="accuracy (recall)")
    fig.legend(loc="outside lower center", ncols=2, fontsize="small")
    return fig


def tile_images(images, ncols=None, pad=1) -> np.ndarray:
    """Tiles images into one grid image, each scaled to [0, 1] by its own min and max.

    Args:
        images: (N, C, H, W) with C = 1 or 3.
        ncols: tiles per row (default about sqrt(N)).
        pad: pixels between tiles (shown white).

    Returns:
        (rows*(H+pad)-pad, ncols*(W+pad)-pad, C) float64 in [0, 1].
    """
    images = np.asarray(images, dtype=np.float64)
    n, c, h, w = images.shape
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / ncols))
    lo = images.min(axis=(1, 2, 3), keepdims=True)  # (N, 1, 1, 1)
    hi = images.max(axis=(1, 2, 3), keepdims=True)
    scaled = (images - lo) / np.maximum(hi - lo, 1e-12)
    grid = np.ones((rows * (h + pad) - pad, ncols * (w + pad) - pad, c))
    for i in range(n):
        r, q = divmod(i, ncols)
        y0, x0 = r * (h + pad), q * (w + pad)
        grid[y0 : y0 + h, x0 : x0 + w] = scaled[i].transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    return grid


def first_layer_images(weights, input_shape) -> np.ndarray:
    """The first layer's units as images.

    Args:
        weights: (D, H1) of an affine layer with D = C*H*W, or (F, C, HH, WW) conv filters.
        input_shape: (C, H, W) of one input image.

    Returns:
        (units, C, h, w) images.

    Raises:
        ShapeError: the weights do not match the input shape.
    """
    weights = np.asarray(weights)
    if weights.ndim == 4:
        return weights
    c, h, w = input_shape
    if weights.ndim != 2 or weights.shape[0] != c * h * w:
        raise ShapeError(
            f"first-layer weights {weights.shape} do not map inputs {tuple(input_shape)}"
        )
    return weights.T.reshape(-1, c, h, w)  # (D, H1) -> (H1, C, H, W)


def plot_first_layer(weights, input_shape, max_units=100) -> Figure:
    """The first layer's weights (affine units or conv filters) as an image grid.

    Args:
        weights: (D, H1) or (F, C, HH, WW).
        input_shape: (C, H, W).
        max_units: show at most this many units.
    """
    tiles = first_layer_images(weights, input_shape)
    shown = tiles[:max_units]
    if shown.shape[1] not in (1, 3):
        shown = shown[:, :1]  # show the first channel of many-channel filters
    grid = tile_images(shown)
    fig, ax = new_axes((6.0, 6.0))
    if grid.shape[2] == 1:
        ax.imshow(grid[:, :, 0], cmap="gray", interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    kind = "filters" if np.ndim(weights) == 4 else "units"
    ax.set_title(f"First layer: {len(shown)} of {len(tiles)} {kind} {tuple(np.shape(weights))}")
    ax.set_axis_off()
    return fig


def plot_misclassified(images, y_true, y_pred, class_names, max_images=32, ncols=8) -> Figure:
    """A grid of misclassified images, each with its true and predicted label above it.

    The grid is one image on one axes (fast to draw, however many tiles), sized so that each
    tile is about 1.3 inches wide with room for two lines of label above.

    Args:
        images: (N, C, H, W) in [0, 1].
        y_true: (N,) labels.
        y_pred: (N,) predictions.
        class_names: names indexed by label.
        max_images: show the first this many mistakes.
        ncols: images per row.

    Raises:
        ValueError: there is no misclassified image.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    wrong = np.flatnonzero(y_true != y_pred)
    if len(wrong) == 0:
        raise ValueError("no misclassified image to show")
    shown = np.clip(np.asarray(images)[wrong[:max_images]], 0.0, 1.0)  # (M, C, H, W)
    m, c, h, w = shown.shape
    ncols = min(ncols, m)
    rows = int(np.ceil(m / ncols))
    pad_x = max(1, w // 10)
    inch = 1.3 / (w + pad_x)  # inches per pixel
    gap = int(np.ceil(0.34 / inch))  # pixel rows above each tile for its two label lines
    canvas = np.ones((rows * (h + gap), ncols * (w + pad_x) - pad_x, c))
    title_h = 0.35
    fig = Figure(figsize=(canvas.shape[1] * inch, canvas.shape[0] * inch + title_h))
    ax = fig.add_axes((0, 0, 1, canvas.shape[0] * inch / (canvas.shape[0] * inch + title_h)))
    for k, i in enumerate(wrong[:max_images]):
        r, q = divmod(k, ncols)
        y0, x0 = r * (h + gap) + gap, q * (w + pad_x)
        canvas[y0 : y0 + h, x0 : x0 + w] = shown[k].transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
        true, pred = class_names[int(y_true[i])], class_names[int(y_pred[i])]
        label = f"true: {true}\npred: {pred}"
        ax.text(x0 + w / 2 - 0.5, y0 - 0.5, label, ha="center", va="bottom", fontsize=7)
    ax.imshow(canvas[:, :, 0] if c == 1 else canvas, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")  # fmt: skip
    ax.set_axis_off()
    fig.suptitle(f"Misclassified: first {m} of {len(wrong)}", y=1.0, va="top")
    return fig

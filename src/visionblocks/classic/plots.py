"""Plots of the classic models: kNN cross-validation accuracy against k, linear class templates.

matplotlib (Agg) is imported inside the functions, so the classic package needs numpy only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_cross_validation(cv_results, path, title="kNN cross-validation"):
    """Fold accuracies (dots) and their mean +- std (error bars) against k.

    Args:
        cv_results: dict k -> {'accuracies', 'mean', 'std'} from ``cross_validate_knn``.
        path: output image file (.png).
        title: plot title.

    Returns:
        the path written.
    """
    plt = _pyplot()
    ks = sorted(cv_results)
    fig, ax = plt.subplots(figsize=(6, 4))
    for k in ks:
        accs = cv_results[k]["accuracies"]
        ax.scatter([k] * len(accs), accs, color="0.6", s=12)
    means = [cv_results[k]["mean"] for k in ks]
    stds = [cv_results[k]["std"] for k in ks]
    ax.errorbar(ks, means, yerr=stds, marker="o", capsize=3)
    ax.set_xlabel("k")
    ax.set_ylabel("cross-validation accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def class_templates(W, image_shape):
    """The weights of each class as an image, rescaled to [0, 1] over all classes.

    Args:
        W: (D, C) or (D + 1, C) weights (a bias row, if any, is dropped).
        image_shape: (C_img, H, W_img) with C_img * H * W_img == D.

    Returns:
        templates: (C, H, W_img, C_img) images in [0, 1] (C_img = 1 squeezed by the caller).
    """
    d = int(np.prod(image_shape))
    if W.shape[0] not in (d, d + 1):
        raise ValueError(f"W has {W.shape[0]} rows, images of shape {image_shape} need {d}")
    w = W[:d].T.reshape(W.shape[1], *image_shape)  # (D, C) -> (C, C_img, H, W_img)
    w = w.transpose(0, 2, 3, 1)  # (C, C_img, H, W_img) -> (C, H, W_img, C_img)
    lo, hi = w.min(), w.max()
    return (w - lo) / (hi - lo) if hi > lo else np.zeros_like(w)


def plot_templates(W, image_shape, class_names, path, title="learned class templates"):
    """One template image per class from the weights of a linear classifier.

    Args:
        W: (D, C) or (D + 1, C) weights over pixel inputs.
        image_shape: (C_img, H, W_img) of one input image.
        class_names: C names.
        path: output image file.
        title: figure title.

    Returns:
        the path written.
    """
    plt = _pyplot()
    templates = class_templates(np.asarray(W, dtype=np.float64), tuple(image_shape))
    num = templates.shape[0]
    cols = min(num, 5)
    rows = -(-num // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.5 * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < num:
            img = templates[i]
            if img.shape[2] == 1:
                ax.imshow(img[:, :, 0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(img)
            ax.set_title(str(class_names[i]), fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

"""Anchor boxes over a feature-map grid, and box encoding/decoding against anchors.

The encoding is the one of R-CNN / Faster R-CNN: with anchor centre (ax, ay) and size
(aw, ah), and target centre (gx, gy) and size (gw, gh),

    dx = wx (gx - ax) / aw,   dy = wy (gy - ay) / ah,
    dw = ww log(gw / aw),     dh = wh log(gh / ah),

where (wx, wy, ww, wh) are optional weights (Faster R-CNN's box head uses (10, 10, 5, 5)).
Boxes are xyxy in continuous coordinates (width = x2 - x1).
"""

from __future__ import annotations

import math

import numpy as np

from visionblocks.errors import ShapeError
from visionblocks.metrics.boxes import check_boxes

#: Largest dw, dh applied when decoding, so exp() cannot overflow (a 1000/16 scale-up).
MAX_LOG_SCALE = math.log(1000.0 / 16)


def _centres(name: str, boxes: np.ndarray):
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    if np.any(w <= 0) or np.any(h <= 0):
        raise ValueError(f"{name} must have positive widths and heights to encode against")
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def _check_weights(weights):
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (4,) or np.any(w <= 0):
        raise ValueError(f"weights must be 4 positive numbers (wx, wy, ww, wh), got {weights!r}")
    return w


def encode_boxes(boxes, anchors, weights=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """Regression targets (dx, dy, dw, dh) that move each anchor onto its box.

    Args:
        boxes: (N, 4) xyxy target boxes with positive width and height.
        anchors: (N, 4) xyxy anchors (or proposals) with positive width and height.
        weights: (wx, wy, ww, wh) multipliers of the four deltas.

    Returns:
        deltas: (N, 4) float64 (dx, dy, dw, dh).
    """
    b = check_boxes("boxes", boxes)
    a = check_boxes("anchors", anchors)
    if a.shape != b.shape:
        raise ShapeError(f"boxes {b.shape} and anchors {a.shape} must have the same shape")
    wx, wy, ww, wh = _check_weights(weights)
    gx, gy, gw, gh = _centres("boxes", b)
    ax, ay, aw, ah = _centres("anchors", a)
    return np.stack(
        [wx * (gx - ax) / aw, wy * (gy - ay) / ah, ww * np.log(gw / aw), wh * np.log(gh / ah)],
        axis=1,
    )


def decode_boxes(deltas, anchors, weights=(1.0, 1.0, 1.0, 1.0), image_size=None) -> np.ndarray:
    """Applies (dx, dy, dw, dh) to anchors: the inverse of ``encode_boxes``.

    dw and dh are clipped at ``MAX_LOG_SCALE`` before the exponential.

    Args:
        deltas: (N, 4) predicted (dx, dy, dw, dh).
        anchors: (N, 4) xyxy anchors with positive width and height.
        weights: the (wx, wy, ww, wh) used when encoding.
        image_size: optional (height, width); boxes are then clipped to the image.

    Returns:
        boxes: (N, 4) float64 xyxy boxes.
    """
    d = np.asarray(deltas, dtype=np.float64)
    a = check_boxes("anchors", anchors)
    if d.shape != a.shape:
        raise ShapeError(f"deltas must have shape {a.shape} to match anchors, got {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("deltas must be finite (no NaN or inf)")
    d = d / _check_weights(weights)
    ax, ay, aw, ah = _centres("anchors", a)
    cx, cy = ax + d[:, 0] * aw, ay + d[:, 1] * ah
    w = aw * np.exp(np.minimum(d[:, 2], MAX_LOG_SCALE))
    h = ah * np.exp(np.minimum(d[:, 3], MAX_LOG_SCALE))
    out = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)
    if image_size is not None:
        height, width = image_size
        out[:, 0::2] = np.clip(out[:, 0::2], 0, width)
        out[:, 1::2] = np.clip(out[:, 1::2], 0, height)
    return out


def generate_anchors(
    feature_size, stride, sizes=(32, 64, 128), aspect_ratios=(0.5, 1.0, 2.0), offset=0.5
) -> np.ndarray:
    """Anchors of every size and aspect ratio centred on every cell of a feature map.

    Cell (i, j) of an (H, W) map with stride s covers input pixels [j s, (j + 1) s); its
    anchors are centred at ((j + offset) s, (i + offset) s). An anchor of size z and aspect
    ratio r = height / width has width z / sqrt(r) and height z sqrt(r), so area z^2.

    Args:
        feature_size: (H, W) of the feature map.
        stride: input pixels per feature cell, an int or (stride_y, stride_x).
        sizes: (S,) anchor sizes (square roots of areas) in input pixels.
        aspect_ratios: (R,) height / width ratios.
        offset: anchor centre within a cell, in cells (0.5 is the cell centre).

    Returns:
        anchors: (H * W * S * R, 4) float64 xyxy, ordered by row, column, size, then ratio.
    """
    h, w = (int(v) for v in feature_size)
    sy, sx = (stride, stride) if np.isscalar(stride) else stride
    sizes = np.asarray(sizes, dtype=np.float64).ravel()
    ratios = np.asarray(aspect_ratios, dtype=np.float64).ravel()
    if h < 0 or w < 0 or sy <= 0 or sx <= 0:
        raise ValueError(f"feature_size must be >= 0 and stride > 0, got {feature_size}, {stride}")
    if sizes.size == 0 or ratios.size == 0 or np.any(sizes <= 0) or np.any(ratios <= 0):
        raise ValueError("sizes and aspect_ratios must be non-empty and positive")
    aw = (sizes[:, None] / np.sqrt(ratios)[None, :]).ravel()  # (S*R,) by size, then ratio
    ah = (sizes[:, None] * np.sqrt(ratios)[None, :]).ravel()  # (S*R,)
    base = np.stack([-aw / 2, -ah / 2, aw / 2, ah / 2], axis=1)  # (A, 4) centred at 0
    cy, cx = np.meshgrid((np.arange(h) + offset) * sy, (np.arange(w) + offset) * sx, indexing="ij")
    centres = np.stack([cx, cy, cx, cy], axis=-1).reshape(-1, 1, 4)  # (H*W, 1, 4)
    return (centres + base[None]).reshape(-1, 4)  # (H*W, A, 4) -> (H*W*A, 4)

"""Sample grids: images in [0, 1] tiled into one picture and written as a PNG (NumPy and the
standard library only, so a run directory gets its grids without matplotlib)."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np

from visionblocks.checkpoint import atomic_write_bytes
from visionblocks.errors import ShapeError


def grid_image(images, ncols=None, pad=1, pad_value=1.0):
    """Tiles images (N, C, H, W) with values in [0, 1] (clipped, not rescaled) into one image.

    Args:
        images: (N, C, H, W) with C = 1 or 3.
        ncols: images per row (default: ceil(sqrt(N))).
        pad: pixels between images. pad_value: their intensity.

    Returns:
        (rows * (H + pad) - pad, ncols * (W + pad) - pad, C) float array in [0, 1].
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise ShapeError(f"images must be (N, 1 or 3, H, W) with N >= 1, got {x.shape}")
    n, c, h, w = x.shape
    ncols = int(ncols or math.ceil(math.sqrt(n)))
    rows = math.ceil(n / ncols)
    out = np.full((rows * (h + pad) - pad, ncols * (w + pad) - pad, c), pad_value)
    for k in range(n):
        r, q = divmod(k, ncols)
        top, left = r * (h + pad), q * (w + pad)
        out[top : top + h, left : left + w] = x[k].transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    return np.clip(out, 0.0, 1.0)


def png_bytes(image) -> bytes:
    """An (H, W, C) image in [0, 1] (C = 1 or 3) as 8-bit PNG file contents."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ShapeError(f"image must be (H, W, 1 or 3), got {img.shape}")
    h, w, c = img.shape
    pixels = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)  # (H, W, C)
    raw = b"".join(b"\x00" + pixels[i].tobytes() for i in range(h))  # filter 0 per row

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 8, 0 if c == 1 else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))  # fmt: skip


def save_grid(images, path, ncols=None, pad=1):
    """Writes images (N, C, H, W) in [0, 1] as one PNG grid at ``path`` (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, png_bytes(grid_image(images, ncols, pad)))
    return path

"""Hand-made image features: HOG, an HSV hue histogram, batch extraction and standardisation.

Each feature has a per-image function (the classic ``hog_feature(im)``) and a vectorised batch
version (``hog_features(X)``) that ``extract_features`` uses when it can; both give the same
numbers.
"""

from __future__ import annotations

import functools

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ConfigError, ShapeError

#: ITU-R 601 luma weights (the classic ``rgb2gray`` has a typo, 0.144 for 0.114).
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])


def _as_batch(name, X):
    """(N, C, H, W) or (N, H, W) float images -> (N, C, H, W)."""
    as_float_array(name, X, ndim=(3, 4))
    return X[:, None] if X.ndim == 3 else X  # (N, H, W) -> (N, 1, H, W)


def _as_image(im):
    """(C, H, W) or (H, W) float image -> (1, C, H, W)."""
    as_float_array("im", im, ndim=(2, 3))
    return im[None, None] if im.ndim == 2 else im[None]  # -> (1, C, H, W)


def rgb2gray(X):
    """Grayscale of a batch.

    Args:
        X: (N, C, H, W) images with C = 1 (returned as is) or C = 3 (RGB).

    Returns:
        gray: (N, H, W).
    """
    if X.shape[1] == 1:
        return X[:, 0]
    if X.shape[1] != 3:
        raise ShapeError(f"images must have 1 or 3 channels, got shape {X.shape}")
    return np.einsum("nchw,c->nhw", X, GRAY_WEIGHTS.astype(X.dtype))


def hog_features(X, pixels_per_cell=8, orientations=9, block_norm=False):
    """Histograms of oriented gradients for a batch.

    The grayscale gradient (forward differences, zero on the last row/column) votes with its
    magnitude into one of ``orientations`` unsigned orientation bins over [0, 180) degrees; each
    non-overlapping ``pixels_per_cell`` square cell reports the mean vote per bin (pixels
    beyond the last whole cell are dropped). With ``block_norm`` every 2 x 2 block of cells
    is L2-Hys normalised (normalise, clip at 0.2, normalise), as in Dalal and Triggs.

    Args:
        X: (N, C, H, W) or (N, H, W) images, C = 1 or 3.
        pixels_per_cell: cell side in pixels.
        orientations: number of orientation bins.
        block_norm: output normalised 2 x 2 blocks instead of raw cells.

    Returns:
        feats: (N, ncy * ncx * orientations) with ncy = H // cell, ncx = W // cell, or
        (N, (ncy - 1) * (ncx - 1) * 4 * orientations) with block_norm; float32.
    """
    X = _as_batch("X", X)
    cell = int(pixels_per_cell)
    n, _, h, w = X.shape
    ncy, ncx = h // cell, w // cell
    if cell < 1 or ncy < 1 or ncx < 1 or orientations < 1:
        raise ValueError(
            f"pixels_per_cell={pixels_per_cell} and orientations={orientations} do not fit "
            f"{h} x {w} images"
        )
    gray = rgb2gray(X).astype(np.float64)
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    gx[:, :, :-1] = np.diff(gray, axis=2)
    gy[:, :-1, :] = np.diff(gray, axis=1)
    mag = np.hypot(gx, gy)
    angle = np.rad2deg(np.arctan2(gy, gx)) % 180.0  # unsigned orientation in [0, 180)
    bins = np.minimum((angle * (orientations / 180.0)).astype(np.int64), orientations - 1)
    mag = mag[:, : ncy * cell, : ncx * cell]
    bins = bins[:, : ncy * cell, : ncx * cell]
    onehot = np.zeros((n, ncy * cell, ncx * cell, orientations))
    np.put_along_axis(onehot, bins[..., None], mag[..., None], axis=3)
    hist = onehot.reshape(n, ncy, cell, ncx, cell, orientations).mean(axis=(2, 4))  # cells
    if block_norm:
        if ncy < 2 or ncx < 2:
            raise ValueError(f"block_norm needs at least 2 x 2 cells, got {ncy} x {ncx}")
        blocks = np.concatenate(
            [hist[:, :-1, :-1], hist[:, :-1, 1:], hist[:, 1:, :-1], hist[:, 1:, 1:]], axis=3
        )  # (N, ncy - 1, ncx - 1, 4 * orientations)
        blocks = blocks / np.sqrt(np.sum(blocks**2, axis=3, keepdims=True) + 1e-10)
        blocks = np.minimum(blocks, 0.2)
        hist = blocks / np.sqrt(np.sum(blocks**2, axis=3, keepdims=True) + 1e-10)
    return hist.reshape(n, -1).astype(np.float32)  # (N, cells, bins) -> (N, F)


def hog_feature(im, pixels_per_cell=8, orientations=9, block_norm=False):
    """HOG of one image; see ``hog_features``.

    Args:
        im: (C, H, W) or (H, W) image.

    Returns:
        feat: (F,) float32.
    """
    return hog_features(_as_image(im), pixels_per_cell, orientations, block_norm)[0]


def rgb_to_hsv(X):
    """HSV of RGB images, every channel in [0, 1] (hue 0 = red, 1/3 = green, 2/3 = blue).

    Args:
        X: (N, 3, H, W) RGB in [0, 1].

    Returns:
        hsv: (N, 3, H, W) float64.
    """
    r, g, b = (X[:, i].astype(np.float64) for i in range(3))
    maxc = np.maximum(np.maximum(r, g), b)
    delta = maxc - np.minimum(np.minimum(r, g), b)
    safe = np.where(delta > 0, delta, 1.0)
    hue = np.where(
        maxc == r,
        ((g - b) / safe) % 6.0,
        np.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    hue = np.where(delta > 0, hue / 6.0, 0.0)
    sat = np.where(maxc > 0, delta / np.where(maxc > 0, maxc, 1.0), 0.0)
    return np.stack([hue, sat, maxc], axis=1)


def color_histograms_hsv(X, nbin=10, xmax=1.0, normalized=True):
    """Hue histograms of a batch of RGB images.

    Args:
        X: (N, 3, H, W) RGB images with values in [0, xmax].
        nbin: number of equal hue bins over [0, 1).
        xmax: the images' full-scale value (1.0 here, 255 for byte images).
        normalized: return densities as ``np.histogram(..., density=True)`` does over the
            range [0, xmax] (each row then sums to nbin / xmax); else pixel counts.

    Returns:
        hists: (N, nbin) float32.
    """
    X = _as_batch("X", X)
    if X.shape[1] != 3:
        raise ShapeError(
            f"color_histogram_hsv needs RGB images (N, 3, H, W), got shape {X.shape}; "
            "use HOG for grayscale data"
        )
    hue = rgb_to_hsv(X / xmax)[:, 0]  # (N, H, W)
    bins = np.minimum((hue * nbin).astype(np.int64), nbin - 1).reshape(X.shape[0], -1)
    offsets = np.arange(X.shape[0])[:, None] * nbin  # (N, 1)
    counts = np.bincount((bins + offsets).ravel(), minlength=X.shape[0] * nbin)
    hists = counts.reshape(X.shape[0], nbin).astype(np.float64)  # (N * nbin,) -> (N, nbin)
    if normalized:
        hists /= bins.shape[1] * (xmax / nbin)
    return hists.astype(np.float32)


def color_histogram_hsv(im, nbin=10, xmax=1.0, normalized=True):
    """Hue histogram of one RGB image; see ``color_histograms_hsv``.

    Args:
        im: (3, H, W) RGB image.

    Returns:
        hist: (nbin,) float32.
    """
    return color_histograms_hsv(_as_image(im), nbin, xmax, normalized)[0]


hog_feature.batch = hog_features
color_histogram_hsv.batch = color_histograms_hsv


def _batch_version(fn):
    """The vectorised twin of a per-image feature function (or a partial of one), if any."""
    if isinstance(fn, functools.partial) and hasattr(fn.func, "batch"):
        return functools.partial(fn.func.batch, *fn.args, **fn.keywords)
    return getattr(fn, "batch", None)


def extract_features(imgs, feature_fns, verbose=False, batch_size=1000):
    """Applies feature functions to every image and concatenates their outputs.

    Args:
        imgs: (N, C, H, W) or (N, H, W) images.
        feature_fns: functions of one (C, H, W) image returning a 1-D array; the built-in
            ones (and partials of them) run vectorised over chunks of ``batch_size`` images.
        verbose: print progress every 1000 images on the per-image path.
        batch_size: images per chunk on the vectorised path.

    Returns:
        feats: (N, F) float32, F the sum of the feature sizes.
    """
    imgs = _as_batch("imgs", imgs)
    if not feature_fns:
        raise ValueError("feature_fns must name at least one feature function")
    blocks = []
    for fn in feature_fns:
        batch_fn = _batch_version(fn)
        if batch_fn is not None:
            parts = [batch_fn(imgs[s : s + batch_size]) for s in range(0, len(imgs), batch_size)]
            blocks.append(np.concatenate(parts).reshape(len(imgs), -1))  # (N, F_fn)
            continue
        rows = []
        for i in range(len(imgs)):
            rows.append(np.ravel(fn(imgs[i])))
            if verbose and i % 1000 == 999:
                print(f"done extracting features for {i + 1} / {len(imgs)} images")
        blocks.append(np.stack(rows) if rows else np.zeros((0, 0)))
    return np.hstack(blocks).astype(np.float32)


def fit_standardizer(feats):
    """Per-feature mean and std of training features.

    Args:
        feats: (N, F) training features.

    Returns:
        dict with 'mean' (F,) and 'std' (F,) float32 (std floored at 1e-8).
    """
    as_float_array("feats", feats, ndim=2)
    mean = feats.mean(axis=0, dtype=np.float64)
    std = feats.std(axis=0, dtype=np.float64)
    return {"mean": mean.astype(np.float32), "std": np.maximum(std, 1e-8).astype(np.float32)}


def standardize(feats, stats):
    """(feats - mean) / std with statistics from ``fit_standardizer``.

    Args:
        feats: (N, F) features.

    Returns:
        (N, F) float32.
    """
    as_float_array("feats", feats, ndim=2)
    if feats.shape[1] != stats["mean"].shape[0]:
        raise ShapeError(f"feats have {feats.shape[1]} columns, stats {stats['mean'].shape[0]}")
    return ((feats - stats["mean"]) / stats["std"]).astype(np.float32)


def feature_functions(names, options=None):
    """Feature functions by name, for configs and ``--features``.

    Names: ``hog`` or ``hog:N`` (HOG with N-pixel cells, 8 by default, 2 x 2 blocks L2-Hys
    normalised unless ``hog_block_norm = false``) and ``color`` or ``color:N`` (the HSV hue
    histogram with N bins, 10 by default).

    Args:
        names: list of feature names.
        options: dict of keyword options (a config's ``arch`` table): ``hog_orientations`` (9),
            ``hog_block_norm`` (True).

    Returns:
        list of per-image feature functions (partials of the built-ins).
    """
    opts = dict(options or {})
    fns = []
    for name in names:
        kind, sep, value = str(name).partition(":")
        if sep and not (value.isdigit() and int(value) > 0):
            raise ConfigError(f"feature {name!r}: the value after ':' must be a positive integer")
        number = int(value) if sep else None
        if kind == "hog":
            fns.append(
                functools.partial(
                    hog_feature,
                    pixels_per_cell=number or 8,
                    orientations=int(opts.get("hog_orientations", 9)),
                    block_norm=bool(opts.get("hog_block_norm", True)),
                )
            )
        elif kind == "color":
            fns.append(functools.partial(color_histogram_hsv, nbin=number or 10))
        else:
            raise ConfigError(f"unknown feature {name!r}; choose hog, hog:N, color or color:N")
    if not fns:
        raise ConfigError("features must name at least one of hog, hog:N, color, color:N")
    return fns


def apply_features(data, names, options=None):
    """Replaces the image splits of a data dict by standardised features.

    The features are extracted from every split; the standardisation is fitted on X_train
    only and applied to all splits.

    Args:
        data: dict with X_train, X_val, X_test (N, C, H, W) images.
        names: feature names (see ``feature_functions``).
        options: feature options.

    Returns:
        the same dict with X_* replaced by (N, F) float32 features and ``features`` set to
        {'names', 'dim', 'image_shape'}.
    """
    fns = feature_functions(list(names), options)
    image_shape = list(data["X_train"].shape[1:])
    feats = {key: extract_features(data[key], fns) for key in ("X_train", "X_val", "X_test")}
    stats = fit_standardizer(feats["X_train"])
    for key, value in feats.items():
        data[key] = standardize(value, stats)
    data["features"] = {
        "names": list(names),
        "dim": int(feats["X_train"].shape[1]),
        "image_shape": image_shape,
    }
    return data

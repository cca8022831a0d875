"""Tests of the hand-made features on images with known answers."""

import functools

import numpy as np
import pytest

from visionblocks.classic import (
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
from visionblocks.errors import ConfigError, ShapeError

YY, XX = np.mgrid[0:16, 0:16].astype(np.float64)  # (16, 16) row and column coordinates


@pytest.mark.parametrize(
    "image, angle_bin",
    [
        (0.1 * XX, 0),  # brightness grows along x: gradient at 0 degrees
        (0.1 * YY, 4),  # along y: 90 degrees, bin [80, 100)
        (0.1 * (XX + YY), 2),  # 45 degrees, bin [40, 60)
        (0.1 * (XX - YY), 6),  # -45 = 135 degrees unsigned, bin [120, 140)
        (-0.1 * XX, 0),  # 180 degrees is 0 unsigned
    ],
)
def test_hog_orientation_bins_of_ramps(image, angle_bin):
    feat = hog_feature(image, pixels_per_cell=8, orientations=9)
    hist = feat.reshape(2, 2, 9)  # (cells y, cells x, bins)
    # the top-left cell is away from the last row and column, where one difference is zero
    np.testing.assert_allclose(np.delete(hist[0, 0], angle_bin), 0, atol=1e-7)
    mag = 0.1 * np.sqrt(2) if angle_bin in (2, 6) else 0.1
    assert hist[0, 0, angle_bin] == pytest.approx(mag, rel=1e-6)
    assert (hist.argmax(axis=2) == angle_bin).all()


def test_hog_cell_means_and_shapes():
    ramp = 0.1 * XX
    hist = hog_feature(ramp, pixels_per_cell=8).reshape(2, 2, 9)  # (cells y, cells x, bins)
    # right cells: the last column (zero gradient) is 8 of their 64 pixels
    np.testing.assert_allclose(hist[:, 1, 0], 0.1 * 56 / 64, rtol=1e-6)
    np.testing.assert_allclose(hist[:, 0, 0], 0.1, rtol=1e-6)
    assert hog_feature(np.zeros((16, 16))).sum() == 0
    assert hog_feature(np.zeros((28, 28)), pixels_per_cell=4).shape == (7 * 7 * 9,)
    assert hog_feature(np.zeros((1, 28, 28)), pixels_per_cell=8).shape == (3 * 3 * 9,)
    blocks = hog_features(np.random.default_rng(0).random((3, 1, 28, 28)), 4, block_norm=True)
    assert blocks.shape == (3, 6 * 6 * 4 * 9)
    norms = np.linalg.norm(blocks.reshape(3, 36, 36), axis=2)  # (N, blocks, block values)
    np.testing.assert_allclose(norms, 1, rtol=1e-4)
    assert blocks.max() <= 0.2 / 0.2 + 1e-6


def test_hog_batch_equals_per_image_and_gray_rgb_agree(rng):
    imgs = rng.random((4, 3, 16, 16))
    batch = hog_features(imgs, pixels_per_cell=4)
    for i in range(4):
        np.testing.assert_allclose(batch[i], hog_feature(imgs[i], pixels_per_cell=4))
    gray = rng.random((2, 1, 16, 16))
    np.testing.assert_allclose(hog_features(np.repeat(gray, 3, axis=1)), hog_features(gray), 1e-5)


def test_hog_rejects_bad_input():
    with pytest.raises(ValueError, match="do not fit"):
        hog_feature(np.zeros((4, 4)), pixels_per_cell=8)
    with pytest.raises(ShapeError, match="1 or 3 channels"):
        hog_features(np.zeros((2, 2, 8, 8)))
    with pytest.raises(TypeError, match="floating"):
        hog_feature(np.zeros((8, 8), dtype=np.uint8))


def _solid(r, g, b, size=4):
    return np.broadcast_to(np.array([r, g, b], dtype=np.float64)[:, None, None], (3, size, size))


def test_color_histogram_of_pure_colours():
    nbin = 10
    for rgb, hue_bin in [((1, 0, 0), 0), ((0, 1, 0), 3), ((0, 0, 1), 6), ((1, 1, 0), 1)]:
        hist = color_histogram_hsv(_solid(*rgb), nbin=nbin)
        want = np.zeros(nbin)
        want[hue_bin] = nbin  # a density over [0, 1]: all mass in one bin of width 1 / nbin
        np.testing.assert_allclose(hist, want)
    half = np.concatenate([_solid(1, 0, 0)[:, :2], _solid(0, 0, 1)[:, 2:]], axis=1)
    np.testing.assert_allclose(color_histogram_hsv(half, nbin=nbin)[[0, 6]], [5, 5])
    counts = color_histogram_hsv(255 * _solid(0, 1, 0), nbin=4, xmax=255, normalized=False)
    np.testing.assert_array_equal(counts, [0, 16, 0, 0])  # hue 1/3 in bin [0.25, 0.5)


def test_rgb_to_hsv_matches_matplotlib(rng):
    colors = pytest.importorskip("matplotlib.colors")
    imgs = rng.random((3, 3, 5, 5))
    imgs[0, :, 0, 0] = 0.5  # a gray pixel: hue and saturation 0
    ours = rgb_to_hsv(imgs).transpose(0, 2, 3, 1)  # (N, 3, H, W) -> (N, H, W, 3)
    ref = colors.rgb_to_hsv(imgs.transpose(0, 2, 3, 1))  # (N, 3, H, W) -> (N, H, W, 3)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_color_histogram_needs_rgb():
    with pytest.raises(ShapeError, match="RGB"):
        color_histograms_hsv(np.zeros((2, 1, 4, 4)))


def test_extract_features_concatenates_and_uses_custom_functions(rng):
    imgs = rng.random((7, 3, 16, 16))
    hog4 = functools.partial(hog_feature, pixels_per_cell=4)
    mean_fn = lambda im: np.array([im.mean()])  # noqa: E731  (a per-image function)
    feats = extract_features(imgs, [hog4, color_histogram_hsv, mean_fn], batch_size=3)
    assert feats.shape == (7, 4 * 4 * 9 + 10 + 1) and feats.dtype == np.float32
    np.testing.assert_allclose(feats[:, :144], hog_features(imgs, 4))
    np.testing.assert_allclose(feats[:, 144:154], color_histograms_hsv(imgs), rtol=1e-6)
    np.testing.assert_allclose(feats[:, -1], imgs.mean(axis=(1, 2, 3)), rtol=1e-6)
    with pytest.raises(ValueError, match="at least one"):
        extract_features(imgs, [])


def test_standardisation_is_fitted_on_training_features(rng):
    train = rng.random((50, 4)).astype(np.float32) * [1, 10, 100, 0]
    stats = fit_standardizer(train)
    z = standardize(train, stats)
    np.testing.assert_allclose(z[:, :3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :3].std(0), 1, atol=1e-4)
    assert np.isfinite(z).all()  # a constant feature does not divide by zero
    with pytest.raises(ShapeError):
        standardize(train[:, :2], stats)


def test_apply_features_replaces_the_splits(rng):
    data = {k: rng.random((n, 1, 8, 8)).astype(np.float32) for k, n in
            (("X_train", 30), ("X_val", 10), ("X_test", 12))}  # fmt: skip
    test_before = data["X_test"].copy()
    out = apply_features(data, ["hog:4"], {"hog_block_norm": False})
    assert out["X_train"].shape == (30, 36) and out["X_test"].shape == (12, 36)
    assert out["features"] == {"names": ["hog:4"], "dim": 36, "image_shape": [1, 8, 8]}
    np.testing.assert_allclose(out["X_train"].mean(0), 0, atol=1e-5)
    stats = fit_standardizer(hog_features(data_train := rng.random((3, 1, 8, 8)), 4))
    assert stats["mean"].shape == (36,) and data_train.shape == (3, 1, 8, 8)
    raw = hog_features(test_before, 4)
    assert not np.allclose(out["X_test"], raw)  # standardised with the training statistics
    for bad in (["sift"], ["hog:x"], ["hog:"], []):
        with pytest.raises(ConfigError, match="feature"):
            feature_functions(bad)
    hog4, color5 = feature_functions(["hog:4", "color:5"])
    assert hog4.keywords == {"pixels_per_cell": 4, "orientations": 9, "block_norm": True}
    assert color5.keywords == {"nbin": 5}

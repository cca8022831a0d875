"""Minibatch augmentation for the NumPy Solver: seeded, shape-preserving, exact flips, crops and
erasing, and the one augmentation grammar both engines parse with."""

from __future__ import annotations

import re

import numpy as np
import pytest

from visionblocks.data.augment import make_augment, random_crop, random_erasing, random_flip
from visionblocks.data.augment_grammar import AugmentStep, parse_augment
from visionblocks.errors import ConfigError


@pytest.fixture
def images(rng):
    return rng.standard_normal((16, 3, 8, 10)).astype(np.float32)  # non-square on purpose


def test_flip_is_exact_and_follows_the_generator(images):
    out = random_flip(images, np.random.default_rng(5), p=0.5)
    flipped = np.random.default_rng(5).random(len(images)) < 0.5  # the same draws
    assert out.shape == images.shape and out.dtype == images.dtype
    np.testing.assert_array_equal(out[flipped], images[flipped][..., ::-1])
    np.testing.assert_array_equal(out[~flipped], images[~flipped])
    assert 0 < flipped.sum() < len(images)
    np.testing.assert_array_equal(random_flip(images, np.random.default_rng(0), p=1.0),
                                  images[..., ::-1])  # fmt: skip
    np.testing.assert_array_equal(random_flip(images, np.random.default_rng(0), p=0.0), images)


def test_flip_does_not_modify_its_input(images):
    before = images.copy()
    random_flip(images, np.random.default_rng(0), p=1.0)
    np.testing.assert_array_equal(images, before)


def _find_offset(window, padded, h, w):
    """The (dy, dx) at which ``window`` (C, h, w) sits in ``padded`` (C, H', W'), or None."""
    for dy in range(padded.shape[1] - h + 1):
        for dx in range(padded.shape[2] - w + 1):
            if np.array_equal(padded[:, dy : dy + h, dx : dx + w], window):
                return dy, dx
    return None


def test_crop_is_a_window_of_the_zero_padded_image(images):
    pad = 2
    out = random_crop(images, np.random.default_rng(3), pad=pad)
    assert out.shape == images.shape and out.dtype == images.dtype
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    offsets = [_find_offset(out[i], padded[i], 8, 10) for i in range(len(images))]
    assert None not in offsets
    # The offsets are the generator's draws: dy for every image, then dx.
    g = np.random.default_rng(3)
    dy, dx = g.integers(0, 2 * pad + 1, len(images)), g.integers(0, 2 * pad + 1, len(images))
    assert offsets == list(zip(dy.tolist(), dx.tolist()))
    # Images shifted down start with ``pad`` rows of zero padding.
    shifted_down = [i for i, (y0, _) in enumerate(offsets) if y0 == 0]
    assert shifted_down
    for i in shifted_down:
        assert np.all(out[i][:, :pad, :] == 0) and np.any(out[i][:, pad:, :] != 0)


def test_crop_with_no_padding_is_the_identity(images):
    np.testing.assert_array_equal(random_crop(images, np.random.default_rng(0), pad=0), images)


def test_crop_offsets_cover_every_shift(rng):
    X = np.arange(400 * 16, dtype=np.float64).reshape(400, 1, 4, 4)  # (N, 1, 4, 4)
    out = random_crop(X, np.random.default_rng(1), pad=1)
    padded = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)))
    seen = {_find_offset(out[i], padded[i], 4, 4) for i in range(len(X))}
    assert seen == {(a, b) for a in range(3) for b in range(3)}


def test_make_augment_is_seeded_and_composes(images):
    augment = make_augment(["crop", "flip"])
    a = augment(images, np.random.default_rng(7))
    b = augment(images, np.random.default_rng(7))
    c = augment(images, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == images.shape


def test_make_augment_pads_small_images_by_one_and_large_by_four(rng):
    small = np.ones((64, 1, 8, 8))
    big = np.ones((64, 1, 28, 28))
    out_small = make_augment(["crop"])(small, np.random.default_rng(0))
    out_big = make_augment(["crop"])(big, np.random.default_rng(0))
    # Zero rows from the padding: at most 1 in an 8x8 image, up to 4 in a 28x28 one.
    zero_rows_small = (out_small.sum(axis=(1, 3)) == 0).sum(axis=1)
    zero_rows_big = (out_big.sum(axis=(1, 3)) == 0).sum(axis=1)
    assert zero_rows_small.max() == 1 and zero_rows_big.max() == 4


def test_bad_augmentation_names_and_shapes_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown augmentation.*'rotate'"):
        make_augment(["flip", "rotate"])
    with pytest.raises(ConfigError, match=r"\(N, C, H, W\)"):
        make_augment(["flip"])(np.zeros((4, 64)), np.random.default_rng(0))


def test_solver_applies_augmentation_per_minibatch_and_seeded():
    from visionblocks.data import load_dataset
    from visionblocks.models import FullyConnectedNet
    from visionblocks.solver import Solver

    data = load_dataset("digits", num_train=200)
    seen = []

    def recording(X, rng):
        seen.append(X.shape)
        return make_augment(["crop", "flip"])(X, rng)

    def train():
        model = FullyConnectedNet([16], input_dim=64, num_classes=10, seed=0)
        solver = Solver(model, data, update_rule="adam", batch_size=50, num_epochs=2,
                        verbose=False, augment=recording, seed=3)  # fmt: skip
        solver.train()
        return model.params

    p1 = train()
    assert seen == [(50, 1, 8, 8)] * 8  # 4 minibatches per epoch, 2 epochs
    p2 = train()
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])


# ------------------------------------------------------------------ one grammar, both engines
GRAMMAR = [
    ("crop", AugmentStep("crop")),
    ("crop:2", AugmentStep("crop", 2)),
    ("flip", AugmentStep("flip")),
    ("flip:0.3", AugmentStep("flip", 0.3)),
    ("erase", AugmentStep("erase")),
    ("erase:0.25", AugmentStep("erase", 0.25)),
]


@pytest.mark.parametrize("text, step", GRAMMAR)
def test_the_grammar_parses_each_text_to_one_step(text, step):
    assert parse_augment([text]) == (step,)


@pytest.mark.parametrize(
    "text, message",
    [
        ("rotate", "unknown augmentation 'rotate'"),
        ("crop:-1", "expected an integer pad >= 0"),
        ("crop:1.5", "expected an integer pad >= 0"),
        ("flip:2", "expected a probability in [0, 1]"),
        ("erase:x", "expected a probability in [0, 1]"),
    ],
)
def test_bad_texts_are_refused_by_the_grammar_and_both_engines(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_augment([text])
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_augment([text])


def test_both_engines_parse_with_the_one_grammar():
    torch_augment = pytest.importorskip("visionblocks.torchkit.augment")
    from visionblocks.data import augment as numpy_augment

    assert numpy_augment.parse_augment is torch_augment.parse_augment is parse_augment
    assert numpy_augment.ERASE_SCALE == torch_augment.ERASE_SCALE


def test_crop_with_a_pad_works_on_numpy(rng):
    X = np.ones((64, 1, 28, 28))
    out = make_augment(["crop:2"])(X, np.random.default_rng(0))
    zero_rows = (out.sum(axis=(1, 3)) == 0).sum(axis=1)
    assert zero_rows.max() == 2  # pad 2, not the default 4 of a 28-pixel image
    np.testing.assert_array_equal(make_augment(["crop:0"])(X, np.random.default_rng(0)), X)


def test_numpy_erasing_zeroes_one_rectangle_per_chosen_image():
    X = np.ones((256, 2, 10, 12), np.float32)
    out = random_erasing(X, np.random.default_rng(2), p=1.0)
    assert out.dtype == X.dtype and out.shape == X.shape
    zero = out[:, 0] == 0  # (N, H, W)
    np.testing.assert_array_equal(out[:, 0] == 0, out[:, 1] == 0)  # every channel
    rows, cols = zero.any(axis=2).sum(1), zero.any(axis=1).sum(1)
    np.testing.assert_array_equal(zero.sum((1, 2)), rows * cols)  # one rectangle
    fraction = zero.mean(axis=(1, 2))
    assert (fraction > 0).all() and fraction.max() <= 0.35
    np.testing.assert_array_equal(random_erasing(X, np.random.default_rng(2), p=0.0), X)
    assert np.all(X == 1)  # the input is left alone
    half = make_augment(["erase:0.5"])(X, np.random.default_rng(4))
    erased = (half[:, 0] == 0).any(axis=(1, 2)).mean()
    assert 0.4 < erased < 0.6


def test_erasing_means_the_same_on_both_engines():
    torch = pytest.importorskip("torch")
    from visionblocks.torchkit.augment import make_augment as torch_make

    n = 4000
    X = np.ones((n, 1, 12, 12), np.float32)
    ours = make_augment(["erase:0.7"])(X, np.random.default_rng(0))
    theirs = torch_make(["erase:0.7"])(torch.ones(n, 1, 12, 12), torch.Generator().manual_seed(0))
    a, b = (ours[:, 0] == 0), (theirs[:, 0] == 0).numpy()
    assert abs(a.any(axis=(1, 2)).mean() - b.any(axis=(1, 2)).mean()) < 0.04  # p
    assert abs(a.mean() - b.mean()) < 0.01  # the erased area

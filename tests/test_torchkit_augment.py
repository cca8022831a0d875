"""Torch batch augmentation: shapes, exact flips and crops, erasing, and seeded randomness."""

import pytest

torch = pytest.importorskip("torch")

from visionblocks.errors import ConfigError  # noqa: E402
from visionblocks.torchkit.augment import (  # noqa: E402
    make_augment,
    random_crop,
    random_erasing,
    random_flip,
)

pytestmark = pytest.mark.torch
torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend


def _x():
    return torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6) + 1


def test_flip_with_p_one_and_zero():
    x = _x()
    g = torch.Generator().manual_seed(0)
    torch.testing.assert_close(random_flip(x, g, p=1.0), x.flip(-1))
    torch.testing.assert_close(random_flip(x, g, p=0.0), x)


def test_crop_is_a_shifted_window_of_the_padded_image():
    x = _x()
    out = random_crop(x, torch.Generator().manual_seed(1), pad=2)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(padded[i, :, dy:dy + 6, dx:dx + 6], out[i])]  # fmt: skip
        assert hits, "each crop is a 6x6 window of the padded image"


def test_erasing_zeroes_one_rectangle_per_chosen_image():
    x = torch.ones(64, 1, 10, 10)
    out = random_erasing(x, torch.Generator().manual_seed(2), p=1.0)
    erased = (out == 0).float().mean(dim=(1, 2, 3))
    assert (erased > 0).all() and (erased <= 0.35).all()
    rows = (out[:, 0] == 0).any(dim=2).sum(1)
    cols = (out[:, 0] == 0).any(dim=1).sum(1)
    assert torch.equal((out[:, 0] == 0).sum((1, 2)), rows * cols)  # a rectangle
    same = random_erasing(x, torch.Generator().manual_seed(2), p=0.0)
    torch.testing.assert_close(same, x)


def test_make_augment_is_seeded_and_checks_names():
    aug = make_augment(["crop", "flip", "erase"])
    a = aug(_x(), torch.Generator().manual_seed(3))
    b = aug(_x(), torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    with pytest.raises(ConfigError, match="unknown augmentation"):
        make_augment(["rotate"])
    with pytest.raises(ConfigError, match=r"images \(N, C, H, W\)"):
        aug(torch.zeros(2, 5), torch.Generator())

"""SSL augmentations: identity parameters are the identity, ranges, seeding, per-image draws."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from visionblocks.errors import ConfigError, ShapeError  # noqa: E402
from visionblocks.ssl import augment as A  # noqa: E402


def _images(n=6, c=3, h=12, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, c, h, w), generator=g, dtype=torch.float64)


def test_identity_parameters_give_the_identity():
    x = _images()
    n = x.shape[0]
    ident_box = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * n)
    assert torch.allclose(A.resized_crop(x, ident_box), x, atol=1e-6, rtol=0)
    assert torch.equal(A.hflip(x, torch.zeros(n, dtype=torch.bool)), x)
    assert torch.allclose(A.color_jitter(x, torch.ones(n, 3)), x, atol=1e-6, rtol=0)
    assert torch.equal(A.grayscale(x, torch.zeros(n, dtype=torch.bool)), x)
    assert torch.allclose(A.gaussian_blur(x, torch.zeros(n)), x, atol=1e-6, rtol=0)
    assert torch.equal(A.add_noise(x, torch.zeros(n), torch.Generator()), x)
    x32 = x.float()
    assert torch.allclose(A.resized_crop(x32, ident_box), x32, atol=1e-6, rtol=0)


def test_each_transform_does_what_it_says():
    x = _images(n=2)
    # a crop of the left half, resized back, equals the left half upsampled 2x horizontally
    box = torch.tensor([[-0.5, 0.0, 0.5, 1.0]] * 2)
    out = A.resized_crop(x, box, size=(12, 5))
    assert torch.allclose(out, x[..., :5], atol=1e-6)  # half width at half output width
    assert torch.equal(A.hflip(x, torch.tensor([True, False]))[0], x[0].flip(-1))
    g = A.grayscale(x)
    assert torch.allclose(g[:, 0], 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])
    assert torch.equal(g[:, 0], g[:, 2])
    assert torch.allclose(A.adjust_brightness(x, torch.tensor([0.5, 0.5])), x * 0.5)
    flat = A.adjust_contrast(x, torch.zeros(2))  # contrast 0: the mean gray everywhere
    assert torch.allclose(flat.std(dim=(1, 2, 3)), torch.zeros(2, dtype=x.dtype), atol=1e-12)
    blurred = A.gaussian_blur(x, torch.tensor([1.5, 0.0]))
    assert blurred[0].var() < x[0].var() and torch.allclose(blurred[1], x[1])
    const = torch.full((1, 1, 8, 8), 0.3, dtype=torch.float64)
    assert torch.allclose(A.gaussian_blur(const, torch.tensor([2.0])), const)  # mass preserved


def test_outputs_stay_in_range_under_extreme_parameters():
    x = _images(n=4)
    n = 4
    gen = torch.Generator().manual_seed(1)
    outs = [
        A.adjust_brightness(x, torch.full((n,), 1.9)),
        A.adjust_contrast(x, torch.full((n,), 1.9)),
        A.adjust_saturation(x, torch.full((n,), 1.9)),
        A.add_noise(x, torch.full((n,), 2.0), gen),
        A.resized_crop(x, A.sample_crop(n, gen, scale=(0.01, 0.02))),
        A.SimCLRAugment(noise_std=0.5)(x, gen),
    ]
    for out in outs:
        assert out.min() >= 0 and out.max() <= 1


def test_seeded_batched_and_different_per_image():
    x = _images(n=8, c=1, h=28, w=28)
    aug = A.SimCLRAugment(noise_std=0.05)
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    same = x[:1].expand(8, -1, -1, -1)  # one image eight times: eight different views
    views = aug(same, torch.Generator().manual_seed(5))
    diffs = (views[1:] - views[:1]).abs().flatten(1).amax(1)
    assert (diffs > 1e-3).all()
    boxes = A.sample_crop(1000, torch.Generator().manual_seed(0), scale=(0.2, 1.0))
    area = boxes[:, 2] * boxes[:, 3]
    assert (boxes[:, 2:] <= 1).all() and (boxes[:, :2].abs() <= 1 - boxes[:, 2:] + 1e-12).all()
    assert 0.15 < area.min() and area.max() <= 1.0 and abs(area.mean() - 0.58) < 0.05
    v1, v2 = aug.two_views(x, torch.Generator().manual_seed(6))
    assert v1.shape == x.shape and not torch.allclose(v1, v2)


def test_bad_input_is_named():
    with pytest.raises(ShapeError, match="x must be"):
        A.hflip(torch.zeros(3, 4), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ConfigError, match="scale"):
        A.sample_crop(2, torch.Generator(), scale=(0.5, 0.2))
    with pytest.raises(ConfigError, match="brightness"):
        A.sample_jitter(2, torch.Generator(), brightness=1.5)
    with pytest.raises(ShapeError, match="boxes"):
        A.resized_crop(_images(n=2), torch.zeros(3, 4))

"""The course's GAN API: parameter counts, loss closed forms on fixed logits, noise, the loop."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionblocks.errors import ConfigError, ShapeError  # noqa: E402
from visionblocks.generative import gan as G  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_the_course_parameter_counts():
    assert _count(G.discriminator()) == 267_009
    assert _count(G.generator(noise_dim=4)) == 1_858_320
    assert _count(G.build_dc_classifier(128)) == 1_102_721
    assert _count(G.build_dc_generator(4)) == 6_580_801


def test_shapes_of_the_networks():
    z = G.sample_noise(3, 4, seed=0)
    assert G.generator(4, seed=0)(z).shape == (3, 784)
    dcg = G.build_dc_generator(4).eval()
    img = dcg(z).detach()
    assert img.shape == (3, 784) and float(img.abs().max()) <= 1
    for d in (G.discriminator(seed=0), G.build_dc_classifier(3)):
        assert d(img).shape == (3, 1)
        assert d(img.reshape(3, 1, 28, 28)).shape == (3, 1)
    with pytest.raises(ShapeError, match="784"):
        G.build_dc_classifier(3)(torch.zeros(3, 100))


def test_seeded_networks_are_equal_and_leave_the_global_state():
    before = torch.get_rng_state()
    a, b = G.discriminator(seed=7), G.discriminator(seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = G.generator(8, seed=1)
    d = G.generator(8, seed=2)
    assert not torch.equal(c[0].weight, d[0].weight)


def test_sample_noise_shape_range_and_seeding():
    z = G.sample_noise(5000, 3, seed=1)
    assert z.shape == (5000, 3) and z.dtype == torch.float32
    assert float(z.min()) >= -1 and float(z.max()) < 1
    assert float(z.min()) < -0.99 and float(z.max()) > 0.99  # fills the interval
    assert abs(float(z.mean())) < 0.03  # uniform: mean 0, variance 1/3
    assert abs(float(z.var()) - 1 / 3) < 0.02
    assert torch.equal(z, G.sample_noise(5000, 3, seed=1))
    assert not torch.equal(z, G.sample_noise(5000, 3, seed=2))
    before = torch.get_rng_state()
    G.sample_noise(4, 2, seed=3)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(0)
    u = G.sample_noise(4, 2)  # unseeded: torch's global generator, as in the course
    torch.manual_seed(0)
    assert torch.equal(u, G.sample_noise(4, 2))
    for bad in ((0, 3), (3, -1), (2.5, 3)):
        with pytest.raises(ConfigError):
            G.sample_noise(*bad)


def test_bce_loss_matches_torch_and_is_stable():
    s = torch.linspace(-6, 6, 13, dtype=torch.float64)
    y = torch.rand(13, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(s, y)
    assert torch.allclose(G.bce_loss(s, y), ref, atol=1e-12)
    big = torch.tensor([1000.0, -1000.0], dtype=torch.float64)
    out = G.bce_loss(big, torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert math.isclose(float(out), 1000.0, rel_tol=1e-12)
    with pytest.raises(ShapeError):
        G.bce_loss(s, y[:3])


def _t(values):
    return torch.tensor(values, dtype=torch.float64).reshape(-1, 1)


def test_gan_losses_closed_forms():
    # bce(s, 1) = log(1 + e^-s), bce(s, 0) = log(1 + e^s)
    real, fake = _t([0.0, math.log(3)]), _t([0.0, -math.log(3)])
    # D: mean(log 2, log 4/3) + mean(log 2, log 4/3) = log 2 + log 4/3 = log 8/3
    assert math.isclose(float(G.discriminator_loss(real, fake)), math.log(8 / 3), rel_tol=1e-12)
    # G (non-saturating): mean(log 2, log 4) = 1.5 log 2
    assert math.isclose(float(G.generator_loss(fake)), 1.5 * math.log(2), rel_tol=1e-12)


def test_least_squares_losses_closed_forms():
    real, fake = _t([1.0, 0.0, 3.0]), _t([0.0, 2.0])
    # 0.5 * mean(0, 1, 4) + 0.5 * mean(0, 4) = 5/6 + 1
    assert math.isclose(float(G.ls_discriminator_loss(real, fake)), 11 / 6, rel_tol=1e-12)
    # 0.5 * mean(1, 1)
    assert math.isclose(float(G.ls_generator_loss(fake)), 0.5, rel_tol=1e-12)


def test_get_optimizer_is_the_course_adam():
    opt = G.get_optimizer(G.discriminator(seed=0))
    assert isinstance(opt, torch.optim.Adam)
    group = opt.param_groups[0]
    assert group["lr"] == 1e-3 and tuple(group["betas"]) == (0.5, 0.999)


def test_run_a_gan_alternates_and_keeps_samples():
    rng = np.random.default_rng(0)
    loader = [torch.as_tensor(rng.random((8, 784)), dtype=torch.float32) for _ in range(3)]
    loader.append(torch.zeros(5, 784))  # a short batch: skipped, as in the course
    D, Gen = G.discriminator(seed=0), G.generator(4, seed=0)
    d0 = [p.detach().clone() for p in D.parameters()]
    g0 = [p.detach().clone() for p in Gen.parameters()]
    images = G.run_a_gan(D, Gen, G.get_optimizer(D), G.get_optimizer(Gen),
                         G.discriminator_loss, G.generator_loss, loader, show_every=2,
                         batch_size=8, noise_size=4, num_epochs=1, seed=0,
                         verbose=False)  # fmt: skip
    assert len(images) == 2 and images[0].shape == (8, 784)  # iterations 0 and 2
    assert np.all(np.abs(images[0]) <= 1)
    assert all(not torch.equal(a, b) for a, b in zip(d0, D.parameters(), strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(g0, Gen.parameters(), strict=True))

"""WGAN-GP's gradient penalty against closed forms, and the class-conditional GAN's networks."""

import math

import pytest

torch = pytest.importorskip("torch")

from visionblocks.errors import ConfigError, ShapeError  # noqa: E402
from visionblocks.generative import cgan, wgan  # noqa: E402
from visionblocks.generative.gan import discriminator  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)


class _Linear(torch.nn.Module):
    """D(x) = <x, w> + b: its input gradient is w everywhere."""

    def __init__(self, w, b=0.5):
        super().__init__()
        self.w = torch.nn.Parameter(w)
        self.b = b

    def forward(self, x):
        return x.reshape(x.shape[0], -1) @ self.w + self.b  # (N,)


def _data(n=6, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(n, d, generator=g, dtype=torch.float64)
    fake = torch.randn(n, d, generator=g, dtype=torch.float64)
    return real, fake, g


def test_penalty_of_a_linear_critic_is_the_closed_form():
    real, fake, g = _data()
    w = torch.tensor([3.0, 0.0, -4.0, 0.0, 0.0], dtype=torch.float64)  # ||w|| = 5
    critic = _Linear(w)
    penalty = wgan.gradient_penalty(critic, real, fake, generator=g)
    assert math.isclose(penalty.item(), (5 - 1) ** 2, rel_tol=1e-12)
    # the whole critic loss: mean(<fake, w>) - mean(<real, w>) + 10 (||w|| - 1)^2
    loss, w_dist, pen = wgan.wgan_gp_critic_loss(critic, real, fake, generator=g)
    expected = float((fake @ w).mean() - (real @ w).mean()) + 10 * 16
    assert math.isclose(loss.item(), expected, rel_tol=1e-12)
    assert math.isclose(float(w_dist), float((real @ w).mean() - (fake @ w).mean()), rel_tol=1e-12)
    assert float(pen) == pytest.approx(16)
    # the penalty's gradient reaches the critic: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    critic.w.grad = None
    wgan.gradient_penalty(critic, real, fake, generator=g).backward()
    assert torch.allclose(critic.w.grad, 2 * 4 * w / 5, atol=1e-12)


def test_penalty_of_a_quadratic_critic_at_given_mixing_weights():
    # D(x) = 0.5 ||x||^2 has gradient x_hat, so the penalty is mean((||x_hat|| - 1)^2)
    real, fake, _ = _data()
    eps = torch.linspace(0, 1, 6, dtype=torch.float64)
    x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake
    expected = float(((x_hat.norm(dim=1) - 1) ** 2).mean())
    penalty = wgan.gradient_penalty(lambda x: 0.5 * (x**2).sum(dim=1), real, fake, eps=eps)
    assert math.isclose(penalty.item(), expected, rel_tol=1e-12)


def test_penalty_is_zero_for_a_unit_gradient_and_checks_inputs():
    real, fake, g = _data()
    unit = _Linear(torch.tensor([0.6, 0.8, 0, 0, 0], dtype=torch.float64))
    assert wgan.gradient_penalty(unit, real, fake, generator=g).item() < 1e-24
    with pytest.raises(ShapeError):
        wgan.gradient_penalty(unit, real, fake[:3])
    with pytest.raises(ConfigError):
        wgan.gradient_penalty(unit, real, fake, eps=torch.full((6,), 2.0))
    with pytest.raises(ConfigError):
        wgan.wgan_gp_critic_loss(unit, real, fake, lambda_gp=-1)


def test_penalty_on_images_with_the_course_discriminator():
    real = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    fake = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    penalty = wgan.gradient_penalty(discriminator(seed=0), real, fake)
    assert penalty.ndim == 0 and penalty.item() > 0
    assert float(wgan.wasserstein_generator_loss(torch.tensor([1.0, 3.0]))) == -2.0
    opt = wgan.get_wgan_optimizer(discriminator(seed=0))
    assert opt.param_groups[0]["lr"] == 1e-4 and tuple(opt.param_groups[0]["betas"]) == (0, 0.9)


def test_conditional_networks_use_the_label():
    G = cgan.ConditionalGenerator(noise_dim=8, num_classes=10, seed=0)
    D = cgan.ConditionalDiscriminator(num_classes=10, seed=0)
    z = torch.rand(4, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    y = torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        x = G(z, y)
        assert x.shape == (4, 784) and float(x.abs().max()) <= 1
        assert not torch.allclose(x, G(z, torch.tensor([4, 5, 6, 7])))
        s = D(x.reshape(4, 1, 28, 28), y)
        assert s.shape == (4, 1)
        assert not torch.allclose(s, D(x, torch.tensor([9, 9, 9, 9])))
    # the course's nets with K more inputs on the first affine layer
    count = sum(p.numel() for p in G.parameters())
    assert count == (8 + 10) * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 784 + 784
    count = sum(p.numel() for p in D.parameters())
    assert count == 267_009 + 10 * 256
    emb = cgan.ConditionalGenerator(noise_dim=8, num_classes=10, embed_dim=3, seed=0)
    assert emb(z, y).shape == (4, 784) and emb.label.embed.weight.shape == (10, 3)


def test_conditional_networks_check_labels():
    G = cgan.ConditionalGenerator(noise_dim=8, num_classes=3, seed=0)
    z = torch.zeros(2, 8)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        G(z, torch.tensor([0, 3]))
    with pytest.raises(ShapeError):
        G(z, torch.tensor([0, 1, 2]))
    with pytest.raises(ShapeError):
        cgan.one_hot(torch.tensor([0.5, 1.0]), 3)
    assert torch.equal(
        cgan.one_hot(torch.tensor([2, 0]), 3), torch.tensor([[0, 0, 1.0], [1, 0, 0]])
    )

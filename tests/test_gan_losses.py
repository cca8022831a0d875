"""The NumPy GAN losses: closed forms on fixed logits, stability, input checks, agreement
with the course's torch functions; and the NumPy MLP GAN training on digits."""

import math

import numpy as np
import pytest
from sklearn.datasets import load_digits

from visionblocks.errors import ShapeError
from visionblocks.generative.numpy_gan import MLPGAN
from visionblocks.gradcheck import eval_numerical_gradient, rel_error
from visionblocks.layers import gan_losses as GL


def _col(values):
    return np.array(values, dtype=np.float64).reshape(-1, 1)


def test_gan_losses_closed_forms_and_gradients():
    real, fake = _col([0.0, math.log(3)]), _col([0.0, -math.log(3)])
    loss, dreal, dfake = GL.gan_discriminator_loss(real, fake)
    assert loss == pytest.approx(math.log(8 / 3), rel=1e-12)
    # d/dr log(1 + e^-r) = sigmoid(r) - 1; d/df log(1 + e^f) = sigmoid(f); over N = 2
    np.testing.assert_allclose(dreal, _col([-0.5, -0.25]) / 2, atol=1e-15)
    np.testing.assert_allclose(dfake, _col([0.5, 0.25]) / 2, atol=1e-15)
    loss, d = GL.gan_generator_loss(fake)
    assert loss == pytest.approx(1.5 * math.log(2), rel=1e-12)
    np.testing.assert_allclose(d, _col([-0.5, -0.75]) / 2, atol=1e-15)


def test_least_squares_and_wasserstein_closed_forms():
    real, fake = _col([1.0, 0.0, 3.0]), _col([0.0, 2.0])
    loss, dreal, dfake = GL.lsgan_discriminator_loss(real, fake)
    assert loss == pytest.approx(11 / 6, rel=1e-12)
    np.testing.assert_allclose(dreal, _col([0, -1, 2]) / 3)
    np.testing.assert_allclose(dfake, _col([0, 2]) / 2)
    loss, d = GL.lsgan_generator_loss(fake)
    assert loss == pytest.approx(0.5) and np.allclose(d, _col([-1, 1]) / 2)
    loss, dreal, dfake = GL.wgan_critic_loss(real, fake)
    assert loss == pytest.approx(1 - 4 / 3)
    assert np.allclose(dreal, -1 / 3) and np.allclose(dfake, 1 / 2)
    loss, d = GL.wgan_generator_loss(fake.ravel())
    assert loss == -1.0 and d.shape == (2,) and np.allclose(d, -0.5)


def test_gan_losses_are_stable_and_check_inputs():
    big = _col([1000.0, -1000.0])
    loss, dreal, dfake = GL.gan_discriminator_loss(big, big)
    assert loss == pytest.approx(1000.0) and np.isfinite(dreal).all() and np.isfinite(dfake).all()
    for bad in (np.zeros((3, 2)), np.zeros((0, 1)), np.zeros((2, 1, 1))):
        with pytest.raises(ShapeError, match="logits_fake"):
            GL.gan_generator_loss(bad)
    with pytest.raises(TypeError, match="scores_real"):
        GL.lsgan_discriminator_loss(np.array([1, 2]), _col([1.0]))


def test_numpy_losses_equal_the_course_torch_losses():
    torch = pytest.importorskip("torch")
    from visionblocks.generative import gan as G

    r = np.random.default_rng(0)
    real, fake = 3 * r.standard_normal((7, 1)), 3 * r.standard_normal((7, 1))
    tr, tf = torch.tensor(real), torch.tensor(fake)
    pairs = [
        (GL.gan_discriminator_loss(real, fake)[0], G.discriminator_loss(tr, tf)),
        (GL.gan_generator_loss(fake)[0], G.generator_loss(tf)),
        (GL.lsgan_discriminator_loss(real, fake)[0], G.ls_discriminator_loss(tr, tf)),
        (GL.lsgan_generator_loss(fake)[0], G.ls_generator_loss(tf)),
    ]
    for ours, course in pairs:
        assert ours == pytest.approx(float(course), rel=1e-12)


def test_mlp_gan_generator_gradient_through_the_discriminator(rng):
    gan = MLPGAN(6, noise_dim=3, hidden_dim=5, seed=0)
    z = rng.uniform(-1, 1, (4, 3))

    def g_loss():
        x, _ = gan.generate(z)
        return GL.gan_generator_loss(gan.discriminate(x)[0])[0]

    x, cache = gan.generate(z)
    s, d_cache = gan.discriminate(x)
    dx, _ = gan.discriminator_backward(GL.gan_generator_loss(s)[1], d_cache)
    grads = gan.generator_backward(dx, cache)
    for name in ("W1", "b2"):
        numeric = eval_numerical_gradient(lambda _: g_loss(), gan.g_params[name], verbose=False)
        assert rel_error(numeric, grads[name]) < 1e-7, name


@pytest.mark.parametrize("loss", ["gan", "lsgan"])
def test_the_numpy_engine_trains_an_mlp_gan_on_digits(loss):
    X = load_digits().data / 8.0 - 1.0  # (1797, 64) in [-1, 1]
    gan = MLPGAN(64, noise_dim=16, hidden_dim=64, loss=loss, seed=0)
    order = np.random.default_rng(0)
    d_losses = []
    for _ in range(60):
        d_loss, g_loss = gan.train_step(X[order.choice(len(X), 64, replace=False)])
        assert np.isfinite(d_loss) and np.isfinite(g_loss)
        d_losses.append(d_loss)
    # the discriminator learns to tell digits from the young generator's images
    assert np.mean(d_losses[-10:]) < np.mean(d_losses[:10]) - 0.1
    samples, _ = gan.generate(gan.sample_noise(5))
    assert samples.shape == (5, 64) and np.abs(samples).max() < 1

"""Autoencoders and the VAE: shapes, binarisation, the KL against Monte Carlo, the ordering
ELBO <= IWAE-k <= IWAE-k', IWAE-1 == the ELBO estimator, interpolation and the latent map."""

import math

import numpy as np
import pytest

from helpers import torch

pytestmark = pytest.mark.torch

from visionblocks.errors import ConfigError, ShapeError  # noqa: E402
from visionblocks.generative import vae as V  # noqa: E402
from visionblocks.generative.autoencoder import Autoencoder  # noqa: E402
from visionblocks.torchkit.functional_vae import gaussian_kl  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one torch thread (two threads spin-wait on a shared, loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _images(n=6, shape=(1, 8, 8), seed=0):
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed),
                      dtype=torch.float64)  # fmt: skip


def _digits(n):
    from sklearn.datasets import load_digits

    return torch.as_tensor(load_digits().images[:n] / 16.0, dtype=torch.float32)[:, None]


def _vae(seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"input_shape": (1, 8, 8), "hidden": (16,), "latent_dim": 3, **kw}
    return V.VAE(**kw).double()


@pytest.mark.parametrize("arch,hidden", [("mlp", (32, 16)), ("conv", (4, 8))])
def test_autoencoder_shapes_loss_and_interpolation(arch, hidden):
    torch.manual_seed(0)
    ae = Autoencoder((1, 8, 8), hidden=hidden, latent_dim=2, arch=arch).double()
    x = _images()
    assert ae.encode(x).shape == (6, 2) and ae(x).shape == x.shape
    assert ((ae(x) >= 0) & (ae(x) <= 1)).all()
    loss = ae.loss(x)
    assert loss.shape == () and loss.item() > 0
    frames = ae.interpolate(x[0], x[1], steps=5)
    assert frames.shape == (5, 1, 8, 8)
    torch.testing.assert_close(frames[0], ae(x[:1])[0])
    torch.testing.assert_close(frames[-1], ae(x[1:2])[0])
    assert ae.latent_map(n=4).shape == (16, 1, 8, 8)


def test_an_autoencoder_learns_to_reconstruct():
    torch.manual_seed(0)
    ae = Autoencoder((1, 8, 8), hidden=(32,), latent_dim=4, reconstruction="mse").double()
    x = _images(32)
    opt = torch.optim.Adam(ae.parameters(), lr=1e-2)
    first = ae.loss(x).item()
    for _ in range(60):
        opt.zero_grad()
        ae.loss(x).backward()
        opt.step()
    assert ae.loss(x).item() < 0.5 * first


def test_bad_options_and_inputs_are_named():
    with pytest.raises(ShapeError, match="divisible by 4"):
        Autoencoder((1, 6, 6), hidden=(4, 8), arch="conv")
    with pytest.raises(ConfigError, match="reconstruction"):
        Autoencoder(reconstruction="l1")
    with pytest.raises(ConfigError, match="likelihood"):
        V.VAE(likelihood="poisson")
    with pytest.raises(ConfigError, match="decoder_std"):
        V.VAE(likelihood="gaussian", decoder_std=0.0)
    with pytest.raises(ShapeError, match=r"x must have shape \(N, 1, 8, 8\)"):
        _vae().elbo(_images(shape=(1, 4, 4)))
    with pytest.raises(ConfigError, match="latent_dim == 2"):
        _vae().latent_map()
    with pytest.raises(ConfigError, match="divide"):
        V.iwae_from_log_weights(torch.zeros(6, 2), 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        V.binarize(torch.full((2,), 1.5))


def test_binarize_is_binary_seeded_and_unbiased():
    x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    a = V.binarize(x, torch.Generator().manual_seed(3))
    b = V.binarize(x, torch.Generator().manual_seed(3))
    c = V.binarize(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert set(torch.unique(a).tolist()) == {0.0, 1.0}
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert abs(float(a.mean() - x.mean())) < 0.01  # E[binarize(x)] = x (12800 pixels)
    assert torch.equal(V.binarize(torch.tensor([0.0, 1.0])), torch.tensor([0.0, 1.0]))


def test_analytic_kl_matches_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(3, 4, generator=g, dtype=torch.float64)
    z = mu + (0.5 * logvar).exp() * torch.randn(200_000, 3, 4, generator=g, dtype=torch.float64)
    mc = (V.diagonal_normal_log_density(z, mu, logvar) - V.standard_normal_log_density(z)).mean(0)
    kl = gaussian_kl(mu, logvar)
    assert kl.shape == (3,) and (kl > 0).all()
    torch.testing.assert_close(mc, kl, atol=0.03, rtol=0)
    assert float(gaussian_kl(torch.zeros(2, 5), torch.zeros(2, 5)).abs().max()) == 0.0


def test_log_mean_exp_is_stable_and_exact():
    a = torch.tensor([[1000.0, -1000.0], [1000.0, -1001.0]], dtype=torch.float64)
    out = V.log_mean_exp(a, dim=0)
    expected = torch.tensor([1000.0, -1000.0 + math.log((1 + math.exp(-1)) / 2)],
                            dtype=torch.float64)  # fmt: skip
    torch.testing.assert_close(out, expected)
    assert torch.isfinite(V.log_mean_exp(torch.full((3, 2), -math.inf), 0)).sum() == 0


def test_elbo_le_iwae_k_le_iwae_k_prime_on_the_same_samples():
    vae, x = _vae(), V.binarize(_images(), torch.Generator().manual_seed(0))
    with torch.no_grad():
        log_w = vae.log_weights(x, 64, torch.Generator().manual_seed(1))  # (64, 6)
        bounds = [V.iwae_from_log_weights(log_w, k) for k in (1, 2, 4, 8, 16, 64)]
        analytic = vae.elbo(x, eps=torch.zeros(6, 3))  # only to check the scale
    assert log_w.shape == (64, 6) and torch.isfinite(log_w).all()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        assert (lo <= hi + 1e-12).all()  # deterministic: Jensen within each block
    assert float((bounds[-1] - bounds[0]).min()) > 0
    assert float((bounds[0] - analytic).abs().max()) < 20  # same order of magnitude


def test_iwae_is_monotone_in_k_in_expectation_with_independent_samples():
    vae, x = _vae(), V.binarize(_images(), torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        means = [float(vae.iwae_bound(x, k, repeats=4000 // k, generator=g).mean())
                 for k in (1, 5, 50)]  # fmt: skip
        elbo = float(torch.stack([vae.elbo(x, g) for _ in range(400)]).mean())
    assert means[0] < means[1] < means[2]
    assert abs(elbo - means[0]) < 0.5  # analytic-KL ELBO and Monte Carlo ELBO agree


def test_iwae_1_is_the_elbo_estimator_on_the_same_noise():
    vae, x = _vae(), V.binarize(_images(), torch.Generator().manual_seed(0))
    eps = torch.randn(1, 6, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        iwae1 = V.iwae_from_log_weights(vae.log_weights(x, 1, eps=eps), 1)
        mu, logvar = vae.encode(x)
        z = mu + (0.5 * logvar).exp() * eps[0]
        by_hand = (vae.log_likelihood(x, vae.decode(z)) + V.standard_normal_log_density(z)
                   - V.diagonal_normal_log_density(z, mu, logvar))  # fmt: skip
        # the ELBO with the analytic KL, on the same noise, differs only by the KL estimate
        mc_kl = V.diagonal_normal_log_density(z, mu, logvar) - V.standard_normal_log_density(z)
        analytic = vae.elbo(x, eps=eps[0])
    torch.testing.assert_close(iwae1, by_hand)
    torch.testing.assert_close(iwae1, analytic + gaussian_kl(mu, logvar) - mc_kl)


@pytest.mark.parametrize("likelihood,std", [("bernoulli", None), ("gaussian", 0.3),
                                            ("gaussian", None)])  # fmt: skip
def test_vae_shapes_for_each_decoder(likelihood, std):
    vae = _vae(likelihood=likelihood, decoder_std=std)
    x = _images()
    assert vae.elbo(x).shape == (6,) and vae.loss(x).shape == ()
    assert vae.iwae_bound(x, 4, repeats=2).shape == (6,)
    assert vae.sample(5).shape == (5, 1, 8, 8) and vae.reconstruct(x).shape == x.shape
    assert vae.interpolate(x[0], x[1], steps=4).shape == (4, 1, 8, 8)
    learned = [n for n, _ in vae.named_parameters() if n == "log_std"]
    assert learned == (["log_std"] if likelihood == "gaussian" and std is None else [])


def test_gaussian_decoder_log_likelihood_is_the_normal_density():
    vae = _vae(likelihood="gaussian", decoder_std=0.5)
    x, out = _images(2), _images(2, seed=1)
    ref = torch.distributions.Normal(out, 0.5).log_prob(x).reshape(2, -1).sum(1)
    torch.testing.assert_close(vae.log_likelihood(x, out), ref)


def test_conv_vae_and_the_2d_latent_map():
    torch.manual_seed(0)
    vae = V.VAE((1, 8, 8), hidden=(4, 8), latent_dim=2, arch="conv").double()
    x = V.binarize(_images())
    assert vae.elbo(x).shape == (6,)
    grid = vae.latent_map(n=5, span=1.5)
    assert grid.shape == (25, 1, 8, 8) and ((grid >= 0) & (grid <= 1)).all()
    torch.testing.assert_close(grid[0], vae.mean_image(vae.decode(
        torch.tensor([[-1.5, 1.5]], dtype=torch.float64)))[0])  # fmt: skip


def test_a_vae_trains_and_evaluate_bounds_reports_nats():
    torch.manual_seed(0)
    vae = V.VAE((1, 8, 8), hidden=(32,), latent_dim=4)
    x = _digits(64)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    before = V.evaluate_bounds(vae, x, k=10, binarize_seed=0)
    vae.train()
    for _ in range(80):
        opt.zero_grad()
        vae.loss(V.binarize(x, g), g).backward()
        opt.step()
    after = V.evaluate_bounds(vae, x, k=10, binarize_seed=0)
    assert after["neg_elbo"] < before["neg_elbo"] - 3
    # a one-sample ELBO estimate is noisy: IWAE-10 is tighter up to that noise
    assert after["neg_iwae"] <= after["neg_elbo"] + 0.1 and after["k"] == 10
    again = V.evaluate_bounds(vae, x, k=10, binarize_seed=0)
    assert again == after  # seeded
    assert np.isfinite(after["neg_iwae"])

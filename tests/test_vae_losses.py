"""The NumPy VAE pairs (closed forms, stability, bad input) and the NumPy MLP VAE on digits:
its gradients against central differences, a few Adam steps lowering -ELBO, and the same loss
and gradients as the torch VAE with copied weights and the same noise."""

import math

import numpy as np
import pytest

from visionblocks.errors import ShapeError
from visionblocks.generative.vae_numpy import MLPVAENumpy, binarize_numpy
from visionblocks.gradcheck import eval_numerical_gradient, rel_error
from visionblocks.layers import (
    bernoulli_nll_forward,
    gaussian_kl_forward,
    reparameterize_forward,
)
from visionblocks.optim import adam


def test_closed_forms_on_fixed_vectors():
    mu, logvar = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 2.0]])
    kl, _ = gaussian_kl_forward(mu, logvar)
    np.testing.assert_allclose(kl, [0.0, 0.5 + 0.5 * (math.exp(2) - 3)])
    nll, _ = bernoulli_nll_forward(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(nll, [2 * math.log(2)])
    big, _ = bernoulli_nll_forward(np.array([[800.0, -800.0]]), np.array([[0.0, 0.0]]))
    np.testing.assert_allclose(big, [800.0])  # no overflow for huge logits
    z, _ = reparameterize_forward(np.ones((1, 2)), np.log(np.full((1, 2), 4.0)),
                                  np.array([[1.0, -0.5]]))  # fmt: skip
    np.testing.assert_allclose(z, [[3.0, 0.0]])


def test_bad_inputs_are_named():
    with pytest.raises(ShapeError, match="mu and logvar"):
        gaussian_kl_forward(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bernoulli_nll_forward(np.zeros((1, 2)), np.array([[2.0, 0.0]]))
    with pytest.raises(ShapeError, match="eps"):
        reparameterize_forward(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ShapeError, match="eps must be"):
        MLPVAENumpy(8, 4, 2).loss(np.zeros((3, 8)), np.zeros((3, 3)))


def test_the_numpy_vae_gradients_match_central_differences():
    rng = np.random.default_rng(0)
    vae = MLPVAENumpy(input_dim=6, hidden_dim=5, latent_dim=2, seed=0)
    X = binarize_numpy(rng.uniform(size=(4, 6)), rng)
    eps = rng.standard_normal((4, 2))
    _, grads = vae.loss(X, eps)
    for name, w in vae.params.items():
        num = eval_numerical_gradient(lambda _, w=w: vae.loss(X, eps)[0], w, verbose=False)
        assert rel_error(num, grads[name]) < 1e-6, name


def test_the_numpy_vae_trains_on_binarised_digits():
    from sklearn.datasets import load_digits

    x = (load_digits().images[:256] / 16.0).reshape(256, 64)  # (N, 8, 8) -> (N, 64)
    rng = np.random.default_rng(0)
    vae = MLPVAENumpy(input_dim=64, hidden_dim=64, latent_dim=4, seed=0)
    x_eval = binarize_numpy(x, np.random.default_rng(1))  # a fixed binarisation
    eps_eval = np.random.default_rng(2).standard_normal((256, 4))
    before = float(vae.neg_elbo(x_eval, eps_eval).mean())
    configs = {k: {"learning_rate": 3e-3} for k in vae.params}
    curve = []
    for _ in range(120):
        idx = rng.choice(256, 64, replace=False)
        loss, grads = vae.loss(binarize_numpy(x[idx], rng), rng.standard_normal((64, 4)))
        curve.append(loss)
        for k in vae.params:
            vae.params[k], configs[k] = adam(vae.params[k], grads[k], configs[k])
    after = float(vae.neg_elbo(x_eval, eps_eval).mean())
    assert np.isfinite(curve).all()
    assert after < before - 5  # -ELBO decreased by several nats per image
    assert np.mean(curve[-20:]) < np.mean(curve[:20])


def test_the_numpy_vae_equals_the_torch_vae_with_the_same_weights_and_noise():
    torch = pytest.importorskip("torch")
    from visionblocks.generative.vae import VAE

    rng = np.random.default_rng(0)
    np_vae = MLPVAENumpy(input_dim=16, hidden_dim=6, latent_dim=3, seed=0)
    t_vae = VAE((1, 4, 4), hidden=(6,), latent_dim=3).double()
    layers = [t_vae.encoder.net[0], t_vae.encoder.net[2], t_vae.decoder.net[0],
              t_vae.decoder.net[2]]  # fmt: skip
    with torch.no_grad():
        for i, layer in enumerate(layers, start=1):
            layer.weight.copy_(torch.from_numpy(np_vae.params[f"W{i}"].T))  # (in, out) -> torch's
            layer.bias.copy_(torch.from_numpy(np_vae.params[f"b{i}"]))
    X = binarize_numpy(rng.uniform(size=(5, 16)), rng)
    eps = rng.standard_normal((5, 3))
    loss, grads = np_vae.loss(X, eps)
    t_loss = -t_vae.elbo(torch.from_numpy(X).reshape(5, 1, 4, 4), eps=torch.from_numpy(eps)).mean()
    t_loss.backward()
    assert abs(loss - t_loss.item()) < 1e-10
    for i, layer in enumerate(layers, start=1):
        np.testing.assert_allclose(grads[f"W{i}"], layer.weight.grad.numpy().T, atol=1e-10)
        np.testing.assert_allclose(grads[f"b{i}"], layer.bias.grad.numpy(), atol=1e-10)

"""WGAN-GP (Gulrajani et al. 2017): the Wasserstein critic and generator losses and the
gradient penalty on points between real and generated images (lambda 10).

The critic is any network of images to one score per image without batch normalisation
(the penalty is per example): the course's ``discriminator()`` or ``build_dc_classifier()``.
"""

from __future__ import annotations

import torch

from visionblocks.errors import ConfigError, ShapeError

__all__ = [
    "LAMBDA_GP",
    "get_wgan_optimizer",
    "gradient_penalty",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
    "wgan_gp_critic_loss",
]

LAMBDA_GP = 10.0  # the paper's penalty weight


def wasserstein_critic_loss(scores_real, scores_fake):
    """The critic's loss without the penalty: ``mean(D(G(z))) - mean(D(x))``.

    Args:
        scores_real: (N,) or (N, 1) critic scores on real images.
        scores_fake: (M,) or (M, 1) scores on generated images.

    Returns:
        scalar tensor (minus the critic's estimate of the Wasserstein-1 distance).
    """
    return scores_fake.mean() - scores_real.mean()


def wasserstein_generator_loss(scores_fake):
    """The generator's loss: ``-mean(D(G(z)))``.

    Args:
        scores_fake: (N,) or (N, 1) critic scores on generated images.

    Returns:
        scalar tensor.
    """
    return -scores_fake.mean()


def gradient_penalty(critic, real, fake, eps=None, generator=None):
    """``mean((||grad_x D(x_hat)||_2 - 1)^2)`` at ``x_hat = eps * real + (1 - eps) * fake``.

    The graph is kept (``create_graph=True``), so the penalty's gradient reaches the
    critic's parameters.

    Args:
        critic: module, (N, ...) images -> (N,) or (N, 1) scores.
        real: (N, ...) real images.
        fake: (N, ...) generated images (detached from the generator or not).
        eps: (N,) mixing weights in [0, 1]; drawn uniform from ``generator`` when None.
        generator: a torch.Generator for ``eps`` (None: torch's global generator).

    Returns:
        scalar tensor.
    """
    if real.shape != fake.shape:
        raise ShapeError(f"gradient_penalty: real {tuple(real.shape)} and fake "
                         f"{tuple(fake.shape)} must have the same shape")  # fmt: skip
    n = real.shape[0]
    if eps is None:
        eps = torch.rand(n, generator=generator, dtype=real.dtype).to(real.device)
    eps = torch.as_tensor(eps, dtype=real.dtype, device=real.device)
    if eps.shape != (n,):
        raise ShapeError(f"gradient_penalty: eps must be ({n},), got {tuple(eps.shape)}")
    if bool((eps < 0).any()) or bool((eps > 1).any()):
        raise ConfigError("gradient_penalty: eps must lie in [0, 1]")
    w = eps.reshape(n, *([1] * (real.ndim - 1)))  # (N,) -> (N, 1, ...)
    x_hat = (w * real.detach() + (1 - w) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.reshape(n, -1).norm(dim=1)  # (N,)
    return ((norms - 1) ** 2).mean()


def wgan_gp_critic_loss(critic, real, fake, lambda_gp=LAMBDA_GP, eps=None, generator=None):
    """The WGAN-GP critic loss: ``mean(D(fake)) - mean(D(real)) + lambda_gp * penalty``.

    Args:
        critic: module, (N, ...) images -> (N,) or (N, 1) scores.
        real: (N, ...) real images.
        fake: (N, ...) generated images (detach them for the critic step).
        lambda_gp: the penalty weight (10 in the paper).
        eps, generator: as ``gradient_penalty``.

    Returns:
        (loss, wasserstein, penalty): scalar tensors; ``wasserstein`` is the critic's estimate
        ``mean(D(real)) - mean(D(fake))``.
    """
    if lambda_gp < 0:
        raise ConfigError(f"lambda_gp must be >= 0, got {lambda_gp}")
    base = wasserstein_critic_loss(critic(real), critic(fake))
    penalty = gradient_penalty(critic, real, fake, eps=eps, generator=generator)
    return base + lambda_gp * penalty, -base.detach(), penalty.detach()


def get_wgan_optimizer(model, lr=1e-4):
    """Adam with the WGAN-GP paper's settings: lr 1e-4, betas (0, 0.9).

    Args:
        model: an nn.Module.
        lr: the learning rate.

    Returns:
        torch.optim.Adam.
    """
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.0, 0.9))

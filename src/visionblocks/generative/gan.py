"""The course's GANs in PyTorch (assignment 3): noise, MLP and DC networks, the GAN and LSGAN
losses, the optimizer and the alternating one-D-step / one-G-step loop.

Names, signatures and defaults are the course's; the architectures are the course's too, so
the parameter counts match (discriminator 267,009; generator(noise_dim=4) 1,858,320;
build_dc_classifier 1,102,721; build_dc_generator(4) 6,580,801). Images are (N, 1, 28, 28)
or (N, 784) and the networks see them in [-1, 1] (the generator ends in tanh). WGAN-GP and the
class-conditional GAN are in ``generative/wgan.py`` and ``generative/cgan.py``.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from visionblocks.errors import ConfigError, ShapeError

__all__ = [
    "IMAGE_SHAPE",
    "bce_loss",
    "build_dc_classifier",
    "build_dc_generator",
    "discriminator",
    "discriminator_loss",
    "generator",
    "generator_loss",
    "get_optimizer",
    "ls_discriminator_loss",
    "ls_generator_loss",
    "run_a_gan",
    "sample_noise",
]

IMAGE_SHAPE = (1, 28, 28)  # what every network here takes and makes (MNIST-sized)


def _positive_int(name, value):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@contextlib.contextmanager
def _seeded(seed):
    """Runs the block with torch's CPU generator set to ``seed`` (forked: the caller's global
    random state is left as it was); ``seed=None`` uses the global generator as it is."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def sample_noise(batch_size, dim, seed=None, generator=None):
    """Uniform random noise in (-1, 1), the generator's input.

    Args:
        batch_size: N, how many noise vectors.
        dim: D, the noise dimension.
        seed: if given, the noise is drawn from a generator seeded with it (same seed, same
            noise; torch's global random state is not touched).
        generator: a ``torch.Generator`` to draw from (beside ``seed``, not with it).

    Returns:
        (N, D) float32 tensor, each entry uniform in [-1, 1).
    """
    batch_size, dim = _positive_int("batch_size", batch_size), _positive_int("dim", dim)
    if seed is not None and generator is not None:
        raise ConfigError("pass seed or generator to sample_noise, not both")
    if seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    return 2 * torch.rand(batch_size, dim, generator=generator) - 1


def discriminator(seed=None):
    """The course's MLP discriminator: 784 -> 256 -> 256 -> 1 with LeakyReLU(0.01).

    Args:
        seed: seeds the initial weights (torch's global state is left as it was).

    Returns:
        nn.Sequential taking (N, 1, 28, 28) or (N, 784) images, giving (N, 1) logits;
        267,009 parameters.
    """
    with _seeded(seed):
        return nn.Sequential(
            nn.Flatten(),  # (N, 1, 28, 28) -> (N, 784)
            nn.Linear(784, 256),
            nn.LeakyReLU(0.01),
            nn.Linear(256, 256),
            nn.LeakyReLU(0.01),
            nn.Linear(256, 1),
        )


def generator(noise_dim=96, seed=None):
    """The course's MLP generator: noise_dim -> 1024 -> 1024 -> 784 with ReLU, then tanh.

    Args:
        noise_dim: D, the noise dimension.
        seed: seeds the initial weights.

    Returns:
        nn.Sequential taking (N, D) noise, giving (N, 784) images in (-1, 1).
    """
    noise_dim = _positive_int("noise_dim", noise_dim)
    with _seeded(seed):
        return nn.Sequential(
            nn.Linear(noise_dim, 1024),
            nn.ReLU(),
            nn.Linear(1024, 1024),
            nn.ReLU(),
            nn.Linear(1024, 784),
            nn.Tanh(),
        )


def build_dc_classifier(batch_size=128):
    """The course's DCGAN discriminator (a small convnet, no batchnorm).

    conv 5x5 32 -> LeakyReLU(0.01) -> maxpool 2 -> conv 5x5 64 -> LeakyReLU -> maxpool 2 ->
    affine 1024 -> LeakyReLU -> affine 1.

    Args:
        batch_size: the course's argument (its Unflatten fixed the batch size); kept for its
            signature, any batch size works here.

    Returns:
        nn.Sequential taking (N, 784) or (N, 1, 28, 28) images, giving (N, 1) logits;
        1,102,721 parameters.
    """
    _positive_int("batch_size", batch_size)
    return nn.Sequential(
        _ToImage(),  # (N, 784) -> (N, 1, 28, 28)
        nn.Conv2d(1, 32, kernel_size=5, stride=1),  # -> (N, 32, 24, 24)
        nn.LeakyReLU(0.01),
        nn.MaxPool2d(2, 2),  # -> (N, 32, 12, 12)
        nn.Conv2d(32, 64, kernel_size=5, stride=1),  # -> (N, 64, 8, 8)
        nn.LeakyReLU(0.01),
        nn.MaxPool2d(2, 2),  # -> (N, 64, 4, 4)
        nn.Flatten(),  # -> (N, 1024)
        nn.Linear(4 * 4 * 64, 4 * 4 * 64),
        nn.LeakyReLU(0.01),
        nn.Linear(4 * 4 * 64, 1),
    )


def build_dc_generator(noise_dim=96):
    """The course's DCGAN generator (InfoGAN's MNIST generator).

    affine 1024 -> ReLU -> BatchNorm1d -> affine 7*7*128 -> ReLU -> BatchNorm1d -> reshape
    (128, 7, 7) -> ConvTranspose 4x4/2 64 -> ReLU -> BatchNorm2d -> ConvTranspose 4x4/2 1 ->
    tanh -> flatten.

    Args:
        noise_dim: D, the noise dimension.

    Returns:
        nn.Sequential taking (N, D) noise, giving (N, 784) images in (-1, 1); 6,580,801
        parameters for D = 4.
    """
    noise_dim = _positive_int("noise_dim", noise_dim)
    return nn.Sequential(
        nn.Linear(noise_dim, 1024),
        nn.ReLU(),
        nn.BatchNorm1d(1024),
        nn.Linear(1024, 7 * 7 * 128),
        nn.ReLU(),
        nn.BatchNorm1d(7 * 7 * 128),
        nn.Unflatten(1, (128, 7, 7)),  # (N, 6272) -> (N, 128, 7, 7)
        nn.ConvTranspose2d(128, 64, kernel_size=4, stride=2, padding=1),  # -> (N, 64, 14, 14)
        nn.ReLU(),
        nn.BatchNorm2d(64),
        nn.ConvTranspose2d(64, 1, kernel_size=4, stride=2, padding=1),  # -> (N, 1, 28, 28)
        nn.Tanh(),
        nn.Flatten(),  # -> (N, 784)
    )


class _ToImage(nn.Module):
    """(N, 784) or (N, 1, 28, 28) -> (N, 1, 28, 28), with a clear error for anything else."""

    def forward(self, x):
        if x.ndim == 2 and x.shape[1] == 784:
            return x.reshape(-1, *IMAGE_SHAPE)  # (N, 784) -> (N, 1, 28, 28)
        if tuple(x.shape[1:]) == IMAGE_SHAPE:
            return x
        raise ShapeError(
            f"the DC classifier takes (N, 784) or (N, 1, 28, 28), got {tuple(x.shape)}"
        )


def bce_loss(input, target):
    """Numerically stable binary cross-entropy of logits, averaged over the minibatch.

    ``mean(max(s, 0) - s * y + log(1 + exp(-|s|)))``, i.e. ``-[y log sigmoid(s) + (1 - y)
    log(1 - sigmoid(s))]`` averaged.

    Args:
        input: (N,) or (N, 1) logits s.
        target: the same shape, targets y in [0, 1].

    Returns:
        scalar tensor.
    """
    if input.shape != target.shape:
        raise ShapeError(f"bce_loss: input {tuple(input.shape)} and target "
                         f"{tuple(target.shape)} must have the same shape")  # fmt: skip
    neg_abs = -input.abs()
    return (input.clamp(min=0) - input * target + (1 + neg_abs.exp()).log()).mean()


def discriminator_loss(logits_real, logits_fake):
    """The GAN discriminator loss: ``bce(D(x), 1) + bce(D(G(z)), 0)``.

    Args:
        logits_real: (N,) or (N, 1) discriminator logits on real images.
        logits_fake: (N,) or (N, 1) logits on generated images.

    Returns:
        scalar tensor.
    """
    return bce_loss(logits_real, torch.ones_like(logits_real)) + bce_loss(
        logits_fake, torch.zeros_like(logits_fake)
    )


def generator_loss(logits_fake):
    """The non-saturating generator loss: ``bce(D(G(z)), 1) = -mean(log sigmoid(D(G(z))))``.

    Args:
        logits_fake: (N,) or (N, 1) discriminator logits on generated images.

    Returns:
        scalar tensor.
    """
    return bce_loss(logits_fake, torch.ones_like(logits_fake))


def ls_discriminator_loss(scores_real, scores_fake):
    """The least-squares GAN discriminator loss:
    ``0.5 * mean((D(x) - 1)^2) + 0.5 * mean(D(G(z))^2)``.

    Args:
        scores_real: (N,) or (N, 1) discriminator scores on real images.
        scores_fake: (N,) or (N, 1) scores on generated images.

    Returns:
        scalar tensor.
    """
    return 0.5 * ((scores_real - 1) ** 2).mean() + 0.5 * (scores_fake**2).mean()


def ls_generator_loss(scores_fake):
    """The least-squares GAN generator loss: ``0.5 * mean((D(G(z)) - 1)^2)``.

    Args:
        scores_fake: (N,) or (N, 1) discriminator scores on generated images.

    Returns:
        scalar tensor.
    """
    return 0.5 * ((scores_fake - 1) ** 2).mean()


def get_optimizer(model):
    """Adam with the course's GAN settings: lr 1e-3, betas (0.5, 0.999).

    Args:
        model: an nn.Module.

    Returns:
        torch.optim.Adam over the model's parameters.
    """
    return torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))


def run_a_gan(D, G, D_solver, G_solver, discriminator_loss, generator_loss, loader_train,
              show_every=250, batch_size=128, noise_size=96, num_epochs=10, seed=None,
              verbose=True):  # fmt: skip
    """The course's GAN training loop: per minibatch one discriminator step, then one
    generator step.

    Args:
        D, G: the discriminator and generator (nn.Module).
        D_solver, G_solver: their optimizers.
        discriminator_loss, generator_loss: the loss functions (logits -> scalar).
        loader_train: an iterable of minibatches ``x`` or ``(x, y)``, images in [0, 1], of
            shape (B, 784) or (B, 1, 28, 28); batches of another size than ``batch_size`` are
            skipped, as in the course.
        show_every: every this many iterations, keep 16 samples (and print the losses).
        batch_size: B.
        noise_size: the noise dimension.
        num_epochs: passes over ``loader_train``.
        seed: seeds the noise (None: torch's global generator).
        verbose: print the losses every ``show_every`` iterations.

    Returns:
        list of (16, 784) float32 NumPy arrays in [-1, 1], the samples kept.
    """
    gen = None if seed is None else torch.Generator().manual_seed(int(seed))
    images, iter_count = [], 0
    for _ in range(num_epochs):
        for batch in loader_train:
            x = batch[0] if isinstance(batch, list | tuple) else batch
            if len(x) != batch_size:
                continue
            real = 2 * (torch.as_tensor(x, dtype=torch.float32).reshape(batch_size, 784) - 0.5)
            D_solver.zero_grad()
            logits_real = D(real)
            fake = G(sample_noise(batch_size, noise_size, generator=gen)).detach()
            d_total_error = discriminator_loss(logits_real, D(fake))
            d_total_error.backward()
            D_solver.step()

            G_solver.zero_grad()
            fake = G(sample_noise(batch_size, noise_size, generator=gen))
            g_error = generator_loss(D(fake))
            g_error.backward()
            G_solver.step()

            if iter_count % show_every == 0:
                if verbose:
                    print(f"Iter: {iter_count}, D: {d_total_error.item():.4}, "
                          f"G:{g_error.item():.4}")  # fmt: skip
                images.append(fake[:16].detach().reshape(-1, 784).cpu().numpy())
            iter_count += 1
    return images

"""A class-conditional GAN (Mirza and Osindero 2014): the course's MLP generator and
discriminator with the label joined to their input, as a one-hot vector or a learnt
embedding.

``G(z, y)`` makes an image of class ``y``; ``D(x, y)`` scores whether ``x`` is a real image of
class ``y``. The losses are the unconditional ones (``gan.discriminator_loss`` and friends).
"""

from __future__ import annotations

import torch
from torch import nn

from visionblocks.errors import ShapeError
from visionblocks.generative.gan import _positive_int, _seeded

__all__ = ["ConditionalDiscriminator", "ConditionalGenerator", "one_hot"]


def one_hot(y, num_classes):
    """(N,) integer labels in [0, K) -> (N, K) float32 one-hot rows.

    Raises:
        ShapeError: ``y`` is not 1-d. ValueError: a label is outside [0, K).
    """
    y = torch.as_tensor(y)
    if y.ndim != 1 or y.dtype.is_floating_point:
        raise ShapeError(f"labels y must be (N,) integers, got {tuple(y.shape)} {y.dtype}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels y must lie in [0, {num_classes}), got values in "
                         f"[{int(y.min())}, {int(y.max())}]")  # fmt: skip
    return torch.nn.functional.one_hot(y.long(), num_classes).float()


class _LabelCode(nn.Module):
    """The label as a vector: one-hot (``embed_dim=None``) or an ``nn.Embedding`` row."""

    def __init__(self, num_classes, embed_dim):
        super().__init__()
        self.num_classes = _positive_int("num_classes", num_classes)
        if embed_dim is None:
            self.embed, self.dim = None, self.num_classes
        else:
            self.dim = _positive_int("embed_dim", embed_dim)
            self.embed = nn.Embedding(self.num_classes, self.dim)

    def forward(self, y):
        code = one_hot(y, self.num_classes)  # checks the labels: (N, K)
        if self.embed is not None:
            code = self.embed(torch.as_tensor(y, device=self.embed.weight.device).long())
        return code


class ConditionalGenerator(nn.Module):
    """``[z, code(y)]`` -> 1024 -> 1024 -> 784 with ReLU, then tanh (the course's generator
    with the label joined to the noise).

    Args:
        noise_dim: D, the noise dimension.
        num_classes: K.
        embed_dim: None for one-hot labels, else the size of a learnt label embedding.
        seed: seeds the initial weights (torch's global state is left as it was).
    """

    def __init__(self, noise_dim=96, num_classes=10, embed_dim=None, seed=None):
        super().__init__()
        self.noise_dim = _positive_int("noise_dim", noise_dim)
        with _seeded(seed):
            self.label = _LabelCode(num_classes, embed_dim)
            self.net = nn.Sequential(
                nn.Linear(self.noise_dim + self.label.dim, 1024),
                nn.ReLU(),
                nn.Linear(1024, 1024),
                nn.ReLU(),
                nn.Linear(1024, 784),
                nn.Tanh(),
            )
        self.num_classes = self.label.num_classes

    def forward(self, z, y):
        """z: (N, D) noise; y: (N,) labels -> (N, 784) images in (-1, 1)."""
        if z.ndim != 2 or z.shape[1] != self.noise_dim or len(y) != z.shape[0]:
            raise ShapeError(f"ConditionalGenerator takes z (N, {self.noise_dim}) and y (N,), "
                             f"got {tuple(z.shape)} and {len(y)} labels")  # fmt: skip
        code = self.label(y).to(z.device, z.dtype)  # (N, K) or (N, E)
        return self.net(torch.cat([z, code], dim=1))  # (N, D + K) -> (N, 784)


class ConditionalDiscriminator(nn.Module):
    """``[x, code(y)]`` -> 256 -> 256 -> 1 with LeakyReLU(0.01) (the course's discriminator
    with the label joined to the flattened image).

    Args:
        num_classes: K.
        embed_dim: None for one-hot labels, else the size of a learnt label embedding.
        seed: seeds the initial weights.
    """

    def __init__(self, num_classes=10, embed_dim=None, seed=None):
        super().__init__()
        with _seeded(seed):
            self.label = _LabelCode(num_classes, embed_dim)
            self.net = nn.Sequential(
                nn.Linear(784 + self.label.dim, 256),
                nn.LeakyReLU(0.01),
                nn.Linear(256, 256),
                nn.LeakyReLU(0.01),
                nn.Linear(256, 1),
            )
        self.num_classes = self.label.num_classes

    def forward(self, x, y):
        """x: (N, 784) or (N, 1, 28, 28) images; y: (N,) labels -> (N, 1) logits."""
        flat = x.reshape(x.shape[0], -1)  # (N, 1, 28, 28) -> (N, 784)
        if flat.shape[1] != 784 or len(y) != x.shape[0]:
            raise ShapeError(f"ConditionalDiscriminator takes x (N, 784) and y (N,), got "
                             f"{tuple(x.shape)} and {len(y)} labels")  # fmt: skip
        code = self.label(y).to(x.device, x.dtype)
        return self.net(torch.cat([flat, code], dim=1))  # (N, 784 + K) -> (N, 1)

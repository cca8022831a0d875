"""Pretext tasks from the course's list: rotation prediction (Gidaris et al. 2018), relative
patch position (Doersch et al. 2015) and inpainting with a context encoder (Pathak et al. 2016).

Each comes as its batch construction (a pure function of images and a ``torch.Generator``)
and a module with an ``encoder`` and ``loss(x, gen, augment)``, like the contrastive methods.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visionblocks.errors import ConfigError, ShapeError

# The 8 neighbours of the centre cell of a 3 x 3 grid as (row, col), in reading order.
NEIGHBOURS = ((0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2))


# --------------------------------------------------------------------- rotation
def rotation_batch(x):
    """Every image at 0, 90, 180 and 270 degrees, labelled by its rotation.

    Args:
        x: (N, C, H, H) square images.

    Returns:
        x4: (4N, C, H, H), the four rotations of each image in blocks of N.
        y4: (4N,) labels 0-3 (the number of quarter turns counter-clockwise).
    """
    if x.ndim != 4 or x.shape[2] != x.shape[3]:
        raise ShapeError(f"rotation needs square images (N, C, H, H), got {tuple(x.shape)}")
    x4 = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])  # (4N, C, H, H)
    y4 = torch.arange(4, device=x.device).repeat_interleave(x.shape[0])  # (4N,)
    return x4, y4


class RotationNet(nn.Module):
    """Encoder + a linear 4-way head predicting the rotation."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_dim, 4)

    def forward(self, x):
        return self.head(self.encoder(x))

    def loss(self, x, gen, augment):
        x4, y4 = rotation_batch(augment(x, gen))
        return F.cross_entropy(self(x4), y4)


# ------------------------------------------------------------ relative position
def patch_pairs(x, gen, gap=2):
    """The centre patch and one random neighbour of a 3 x 3 grid, with the neighbour's place.

    The grid of cells (side ``H // 3``) sits at a random offset; each patch (side cell -
    gap) sits at a random offset inside its cell, so no patch edges meet (no shortcut through
    continuing lines), as in Doersch et al.

    Args:
        x: (N, C, H, W) images, H and W >= 9.
        gen: the CPU ``torch.Generator``.
        gap: pixels left out between patches (0 <= gap < cell side).

    Returns:
        centre: (N, C, P, P) patches. other: (N, C, P, P) patches. labels: (N,) in 0-7, the
        index of the neighbour in ``NEIGHBOURS``.
    """
    n, c, h, w = x.shape
    cell = min(h, w) // 3
    if cell < 3 or not 0 <= gap < cell:
        raise ShapeError(f"relative position needs images of at least 9 x 9 pixels and "
                         f"0 <= gap < {cell}, got {tuple(x.shape)} and gap {gap}")  # fmt: skip
    p = cell - gap

    def ints(high, *shape):
        return torch.randint(0, high + 1, shape, generator=gen)

    oy, ox = ints(h - 3 * cell, n), ints(w - 3 * cell, n)  # the grid's offset
    labels = torch.randint(0, 8, (n,), generator=gen)
    where = torch.tensor(NEIGHBOURS)[labels]  # (N, 2) rows and columns of the neighbour
    jit = ints(gap, n, 2, 2)  # (N, patch, y/x): each patch's offset in its cell

    def take(row, col, j):
        top = oy + row * cell + j[:, 0]  # (N,)
        left = ox + col * cell + j[:, 1]
        rows = (top[:, None] + torch.arange(p))[:, None, :, None].to(x.device)  # (N, 1, P, 1)
        cols = (left[:, None] + torch.arange(p))[:, None, None, :].to(x.device)  # (N, 1, 1, P)
        idx = torch.arange(n, device=x.device)[:, None, None, None]
        ch = torch.arange(c, device=x.device)[None, :, None, None]
        return x[idx, ch, rows, cols]  # (N, C, P, P)

    centre = take(torch.ones(n, dtype=torch.long), torch.ones(n, dtype=torch.long), jit[:, 0])
    other = take(where[:, 0], where[:, 1], jit[:, 1])
    return centre, other, labels.to(x.device)


class RelativePositionNet(nn.Module):
    """A shared encoder on both patches, their features concatenated, an MLP to 8 places."""

    def __init__(self, encoder, hidden_dim=128, gap=2):
        super().__init__()
        self.encoder, self.gap = encoder, gap
        d = encoder.out_dim
        self.head = nn.Sequential(nn.Linear(2 * d, hidden_dim), nn.ReLU(inplace=True),
                                  nn.Linear(hidden_dim, 8))  # fmt: skip

    def forward(self, centre, other):
        """Scores (N, 8) of the neighbour's place."""
        f = self.encoder(torch.cat([centre, other]))  # (2N, F): one pass
        fc, fo = f.chunk(2)
        return self.head(torch.cat([fc, fo], dim=1))

    def loss(self, x, gen, augment):
        """Cross-entropy of the place; images under 27 pixels are first resized to 27 x 27
        (bilinear), so that the grid's patches are at least 9 - gap pixels wide."""
        x = augment(x, gen)
        if min(x.shape[2:]) < 27:
            x = F.interpolate(x, size=(27, 27), mode="bilinear", align_corners=False)
        centre, other, labels = patch_pairs(x, gen, self.gap)
        return F.cross_entropy(self(centre, other), labels)


# -------------------------------------------------------------------- inpainting
def block_masks(n, h, w, gen, frac=0.5, random_place=True):
    """A square hole per image: side ``round(frac * min(h, w))``, at a random place (or the
    centre).

    Returns:
        (n, 1, h, w) float masks, 1 inside the hole.
    """
    if not 0 < frac < 1:
        raise ConfigError(f"frac (the hole's side over the image's) must be in (0, 1), got {frac}")
    s = max(1, int(round(frac * min(h, w))))
    if random_place:
        top = torch.randint(0, h - s + 1, (n,), generator=gen)
        left = torch.randint(0, w - s + 1, (n,), generator=gen)
    else:
        top, left = torch.full((n,), (h - s) // 2), torch.full((n,), (w - s) // 2)
    ys, xs = torch.arange(h)[None, :], torch.arange(w)[None, :]
    in_r = (ys >= top[:, None]) & (ys < (top + s)[:, None])  # (N, H)
    in_c = (xs >= left[:, None]) & (xs < (left + s)[:, None])  # (N, W)
    return (in_r[:, :, None] & in_c[:, None, :]).float()[:, None]  # (N, 1, H, W)


def masked_mse(pred, target, mask):
    """Mean squared error over the hole's pixels only (the context encoder's L2 loss)."""
    m = mask.expand_as(target)
    return ((pred - target) ** 2 * m).sum() / m.sum().clamp(min=1)


class ContextEncoder(nn.Module):
    """Inpainting: the encoder sees the image with a hole (filled with ``fill``); a transposed
    -conv decoder from its feature map reconstructs the image; L2 loss on the hole."""

    def __init__(self, encoder, frac=0.5, fill=0.5):
        super().__init__()
        self.encoder, self.frac, self.fill = encoder, frac, fill
        d, c = encoder.out_dim, encoder.in_channels
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(d, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, c, 4, 2, 1),
        )  # fmt: skip

    def forward(self, x_holed):
        """(N, C, H, W) images with holes -> (N, C, H, W) reconstructions in (0, 1)."""
        y = self.decoder(self.encoder.feature_map(x_holed))  # (N, C, 8h', 8w')
        y = F.interpolate(y, size=x_holed.shape[2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(y)

    def loss(self, x, gen, augment):
        x = augment(x, gen)
        mask = block_masks(x.shape[0], x.shape[2], x.shape[3], gen, self.frac).to(x.device, x.dtype)
        holed = x * (1 - mask) + self.fill * mask
        return masked_mse(self(holed), x, mask)

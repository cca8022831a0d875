"""Batch augmentation written in torch (no torchvision): random crop with padding, horizontal
flip and random erasing, each drawing its randomness from an explicit ``torch.Generator``.

The texts ('crop:2', 'flip', 'erase:0.25') are parsed by the grammar both engines share,
``visionblocks.data.augment_grammar``."""

from __future__ import annotations

import torch

from visionblocks.data.augment_grammar import (
    ERASE_RATIO,
    ERASE_SCALE,
    ERASE_VALUE,
    parse_augment,
)
from visionblocks.errors import ConfigError


def _rand(gen, *shape):
    return torch.rand(shape, generator=gen)  # on the CPU: the same numbers on any device


def random_flip(x, gen, p=0.5):
    """Flips each image of x (N, C, H, W) left-right with probability p."""
    flip = (_rand(gen, x.shape[0]) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_crop(x, gen, pad=4):
    """Zero-pads each image of x (N, C, H, W) by ``pad`` and crops H x W at a random offset."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # (N, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
    idx = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[idx, chans, rows, cols]  # (N, C, H, W)


def random_erasing(x, gen, p=0.5, scale=ERASE_SCALE, ratio=ERASE_RATIO, value=ERASE_VALUE):
    """Random erasing (Zhong et al. 2017): with probability p, sets a random rectangle of each
    image of x (N, C, H, W) to ``value``; its area is a ``scale`` fraction of the image and its
    aspect ratio lies in ``ratio`` (log-uniform)."""
    n, _, h, w = x.shape
    area = (scale[0] + (scale[1] - scale[0]) * _rand(gen, n)) * h * w
    log_r = torch.log(torch.tensor(ratio[0])) + _rand(gen, n) * torch.log(
        torch.tensor(ratio[1] / ratio[0])
    )
    r = torch.exp(log_r)
    eh = torch.sqrt(area * r).round().clamp(1, h).long()
    ew = torch.sqrt(area / r).round().clamp(1, w).long()
    top = (_rand(gen, n) * (h - eh + 1)).long()
    left = (_rand(gen, n) * (w - ew + 1)).long()
    apply = _rand(gen, n) < p
    ys, xs = torch.arange(h)[None, :], torch.arange(w)[None, :]
    in_rows = (ys >= top[:, None]) & (ys < (top + eh)[:, None])  # (N, H)
    in_cols = (xs >= left[:, None]) & (xs < (left + ew)[:, None])  # (N, W)
    mask = (in_rows[:, :, None] & in_cols[:, None, :]) & apply[:, None, None]  # (N, H, W)
    return x.masked_fill(mask[:, None].to(x.device), value)


AUGMENTATIONS = {"crop": random_crop, "flip": random_flip, "erase": random_erasing}


def make_augment(names):
    """Composes named augmentations, in order, into ``augment(x, gen) -> x``.

    Args:
        names: from 'crop' (pad 4 for images of 24+ pixels, else 1; 'crop:2' pads 2),
            'flip' ('flip:0.3' flips with probability 0.3) and 'erase' ('erase:0.25').
    """
    steps = parse_augment(names)

    def augment(x, gen):
        if x.ndim != 4:
            raise ConfigError(f"augmentation needs images (N, C, H, W), got shape {tuple(x.shape)}")
        for step in steps:
            if step.name == "crop":
                x = random_crop(x, gen, pad=step.pad(x.shape[-1]))
            else:
                x = AUGMENTATIONS[step.name](x, gen, p=step.p)
        return x

    return augment

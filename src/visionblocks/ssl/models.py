"""SSL models in torch: the small conv encoder, projection heads, SimCLR, MoCo and SimSiam.

Each method is an ``nn.Module`` with an ``encoder`` (what the probes evaluate) and
``loss(x, gen, augment) -> 0-d tensor`` for one batch of raw images; MoCo also has
``after_step()`` (the momentum update of its key encoder), called after each optimiser step.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from visionblocks.errors import ConfigError
from visionblocks.ssl.contrastive import info_nce, nt_xent_cross_entropy


class Encoder(nn.Module):
    """Three conv-BN-ReLU-maxpool blocks (32-64-128 by default) and a global average pool.

    Pooling rounds up (``ceil_mode``), so any input of at least 1 x 1 pixels works: 28 x 28
    gives 4 x 4 maps, 8 x 8 gives 1 x 1, a 7 x 7 jigsaw patch gives 1 x 1.
    """

    def __init__(self, in_channels=1, widths=(32, 64, 128)):
        """Args:
        in_channels: 1 (grayscale) or 3 (RGB) input channels.
        widths: the channels of the conv blocks.
        """
        super().__init__()
        if in_channels < 1 or not widths:
            raise ConfigError(f"in_channels must be >= 1 and widths non-empty, got "
                              f"{in_channels}, {widths}")  # fmt: skip
        blocks, c = [], in_channels
        for w in widths:
            blocks += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]  # fmt: skip
            c = w
        self.body = nn.Sequential(*blocks)
        self.in_channels, self.out_dim = in_channels, c

    def feature_map(self, x):
        """(N, C, H, W) images -> (N, F, ceil(H/8), ceil(W/8)) maps."""
        return self.body(x)

    def forward(self, x):
        """(N, C, H, W) images -> (N, F) features."""
        return self.feature_map(x).mean(dim=(2, 3))  # global average pool


def mlp(in_dim, hidden_dim, out_dim, last_bn=False):
    """Linear-BN-ReLU-Linear (the SimCLR / MoCo v2 projection head), optionally a final BN."""
    layers = [nn.Linear(in_dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim),
              nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)]  # fmt: skip
    if last_bn:
        layers.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*layers)


def _views(x, gen, augment):
    if hasattr(augment, "two_views"):
        return augment.two_views(x, gen)
    return augment(x, gen), augment(x, gen)


class SimCLR(nn.Module):
    """SimCLR (Chen et al. 2020): encoder + projection head, NT-Xent over the two views."""

    def __init__(self, encoder, proj_dim=64, hidden_dim=128, tau=0.5):
        super().__init__()
        self.encoder, self.tau = encoder, float(tau)
        self.head = mlp(encoder.out_dim, hidden_dim, proj_dim)

    def forward(self, x):
        """(N, C, H, W) -> (N, proj_dim) projections."""
        return self.head(self.encoder(x))

    def loss(self, x, gen, augment):
        left, right = _views(x, gen, augment)
        z = self(torch.cat([left, right]))  # (2N, P): one pass, BN over both views
        z_left, z_right = z.chunk(2)
        return nt_xent_cross_entropy(z_left, z_right, self.tau)


class MoCo(nn.Module):
    """MoCo (He et al. 2020, v2 head): a query encoder trained by InfoNCE against keys from a
    momentum copy of it, with a FIFO queue of K earlier keys as the negatives.

    Buffers ``queue`` (P, K) and ``queue_ptr`` (1,) are part of the ``state_dict``, so a
    resumed run has the same negatives. The key encoder never receives gradients.
    """

    def __init__(self, encoder, proj_dim=64, hidden_dim=128, queue_size=4096, momentum=0.99,
                 tau=0.2, shuffle_groups=4, seed=0):  # fmt: skip
        """Args:
        encoder: the query encoder (the key encoder starts as its copy).
        queue_size: K negatives. momentum: m of k <- m k + (1 - m) q. tau: temperature.
        shuffle_groups: the keys go through the key encoder's BatchNorm in this many random
            groups (shuffling BN on one device), so batch statistics cannot leak which key is
            the positive.
        seed: draws the initial (random unit) queue.
        """
        super().__init__()
        if not 0 <= momentum <= 1:
            raise ConfigError(f"momentum must be in [0, 1], got {momentum}")
        if queue_size < 1:
            raise ConfigError(f"queue_size must be >= 1, got {queue_size}")
        self.encoder = encoder
        self.head = mlp(encoder.out_dim, hidden_dim, proj_dim)
        self.key_encoder = copy.deepcopy(self.encoder)
        self.key_head = copy.deepcopy(self.head)
        for p in self.key_parameters():
            p.requires_grad_(False)
        self.momentum, self.tau, self.shuffle_groups = float(momentum), float(tau), shuffle_groups
        g = torch.Generator().manual_seed(seed)
        queue = F.normalize(torch.randn(proj_dim, queue_size, generator=g), dim=0)
        self.register_buffer("queue", queue)  # (P, K) unit columns
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def query_parameters(self):
        return [*self.encoder.parameters(), *self.head.parameters()]

    def key_parameters(self):
        return [*self.key_encoder.parameters(), *self.key_head.parameters()]

    def parameters_to_train(self):
        """The parameters the optimiser updates (the query side)."""
        return self.query_parameters()

    @torch.no_grad()
    def momentum_update(self):
        """key <- m * key + (1 - m) * query, parameter by parameter (BN buffers copied)."""
        m = self.momentum
        for pk, pq in zip(self.key_parameters(), self.query_parameters(), strict=True):
            pk.mul_(m).add_(pq.detach(), alpha=1 - m)
        qb = [*self.encoder.buffers(), *self.head.buffers()]
        kb = [*self.key_encoder.buffers(), *self.key_head.buffers()]
        for bk, bq in zip(kb, qb, strict=True):
            bk.copy_(bq)

    after_step = momentum_update

    @torch.no_grad()
    def enqueue(self, keys):
        """Writes keys (N, P) into the queue at the pointer, wrapping around (FIFO)."""
        k = self.queue.shape[1]
        n = keys.shape[0]
        if n > k:
            keys, n = keys[-k:], k
        ptr = int(self.queue_ptr)
        idx = (ptr + torch.arange(n, device=keys.device)) % k
        self.queue[:, idx] = keys.t().to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + n) % k

    @torch.no_grad()
    def keys(self, x, gen):
        """Unit key projections (N, P) of x from the key encoder, BN over shuffled groups."""
        n = x.shape[0]
        perm = torch.randperm(n, generator=gen).to(x.device)
        groups = max(1, min(self.shuffle_groups, n // 2))
        parts = [self.key_head(self.key_encoder(c)) for c in x[perm].chunk(groups)]
        k = torch.empty_like(torch.cat(parts))
        k[perm] = torch.cat(parts)  # back to x's order
        return F.normalize(k, dim=1)

    def forward(self, x):
        return self.head(self.encoder(x))

    def loss(self, x, gen, augment):
        xq, xk = _views(x, gen, augment)
        q = self(xq)  # (N, P)
        k = self.keys(xk, gen)  # (N, P), no gradient
        loss, _ = info_nce(q, k, self.queue.clone().detach(), self.tau)
        self.enqueue(k)
        return loss


class SimSiam(nn.Module):
    """SimSiam (Chen & He 2021): no negatives; a predictor on one branch and a stop-gradient
    on the other. The loss is 1 - cos(p1, sg(z2)) / 2 - cos(p2, sg(z1)) / 2: the paper's plus
    one (the same gradients), so it lies in [0, 2] and the core's explosion check applies."""

    def __init__(self, encoder, proj_dim=128, pred_hidden=32):
        super().__init__()
        d = encoder.out_dim
        self.encoder = encoder
        self.projector = nn.Sequential(
            nn.Linear(d, d, bias=False), nn.BatchNorm1d(d), nn.ReLU(inplace=True),
            nn.Linear(d, proj_dim, bias=False), nn.BatchNorm1d(proj_dim, affine=False),
        )  # fmt: skip
        self.predictor = mlp(proj_dim, pred_hidden, proj_dim)

    def forward(self, x):
        return self.projector(self.encoder(x))

    @staticmethod
    def negative_cosine(p, z):
        """-mean cos(p, z) with the gradient stopped at z (the stop-gradient)."""
        return -F.cosine_similarity(p, z.detach(), dim=1).mean()

    def loss(self, x, gen, augment):
        x1, x2 = _views(x, gen, augment)
        z1, z2 = self(torch.cat([x1, x2])).chunk(2)  # (N, P) each
        p1, p2 = self.predictor(torch.cat([z1, z2])).chunk(2)
        return 1 + 0.5 * self.negative_cosine(p1, z2) + 0.5 * self.negative_cosine(p2, z1)

"""A Vision Transformer for small images (torch engine): patch embedding, class token, learned
position embeddings, a stack of pre-norm encoder layers, and attention rollout for its maps.

    image (N, C, H, W) -> patches (N, P, E) -> [cls; patches] + pos -> L x encoder -> LN -> cls
    -> linear -> scores (N, num_classes)
"""

from __future__ import annotations

import torch
from torch import nn

from visionblocks.torchkit.transformer_layers import TransformerEncoderLayer

__all__ = ["PatchEmbedding", "VisionTransformer", "attention_rollout"]


class PatchEmbedding(nn.Module):
    """Non-overlapping p x p patches, each linearly projected to E (a stride-p convolution).

    Args:
        in_channels: C; patch_size: p; embed_dim: E.
    """

    def __init__(self, in_channels, patch_size, embed_dim):
        super().__init__()
        self.patch_size = int(patch_size)
        self.proj = nn.Conv2d(in_channels, embed_dim, self.patch_size, stride=self.patch_size)

    def forward(self, x):
        """x: (N, C, H, W) with H, W multiples of p -> (N, H/p * W/p, E)."""
        p = self.patch_size
        if x.shape[-1] % p or x.shape[-2] % p:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not a multiple of the "
                             f"patch size {p}")  # fmt: skip
        return self.proj(x).flatten(2).transpose(1, 2)  # (N, E, h, w) -> (N, h*w, E)


class VisionTransformer(nn.Module):
    """ViT classifier.

    Args:
        input_dim: (C, H, W) of the images.
        num_classes: classes.
        patch_size: side of the square patches (dividing H and W).
        embed_dim: token width E; depth: encoder layers; num_heads: heads (dividing E).
        mlp_ratio: feed-forward width / E.
        dropout: dropout in the encoder layers (attention weights, residual branches).
        seed: seeds the initialisation (the global torch RNG is left untouched).
    """

    def __init__(self, input_dim=(1, 28, 28), num_classes=10, patch_size=4, embed_dim=64,
                 depth=4, num_heads=4, mlp_ratio=2.0, dropout=0.0, seed=None):  # fmt: skip
        super().__init__()
        c, h, w = (int(v) for v in input_dim)
        if h % patch_size or w % patch_size:
            raise ValueError(f"patch_size {patch_size} must divide the image size {(h, w)}")
        self.grid = (h // patch_size, w // patch_size)
        num_patches = self.grid[0] * self.grid[1]
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.patch_embed = PatchEmbedding(c, patch_size, embed_dim)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, embed_dim))
            self.layers = nn.ModuleList([
                TransformerEncoderLayer(embed_dim, num_heads, int(embed_dim * mlp_ratio), dropout,
                                        norm="pre", activation="gelu")
                for _ in range(depth)])  # fmt: skip
            self.norm = nn.LayerNorm(embed_dim)
            self.head = nn.Linear(embed_dim, num_classes)
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
            nn.init.trunc_normal_(self.cls_token, std=0.02)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    nn.init.zeros_(m.bias)

    def tokens(self, x):
        """x (N, C, H, W) -> the encoder's output tokens (N, 1 + P, E), after the final norm."""
        t = self.patch_embed(x)  # (N, P, E)
        cls = self.cls_token.expand(t.shape[0], -1, -1)  # (N, 1, E)
        t = torch.cat([cls, t], dim=1) + self.pos_embed  # (N, 1 + P, E)
        for layer in self.layers:
            t = layer(t)
        return self.norm(t)

    def forward(self, x):
        """x: (N, C, H, W) -> scores (N, num_classes), from the class token."""
        return self.head(self.tokens(x)[:, 0])

    @torch.no_grad()
    def attention_maps(self, x):
        """Every layer's attention weights on x: a list of (N, H, 1 + P, 1 + P) tensors."""
        was_training = self.training
        self.eval()
        try:
            self.tokens(x)
            return [layer.self_attn.last_weights.clone() for layer in self.layers]
        finally:
            self.train(was_training)


def attention_rollout(attentions, residual=True):
    """Attention rollout (Abnar & Zuidema, 2020): how much each input token flows into each
    output token through the layers, heads averaged, the residual path counted as 0.5 I.

    Args:
        attentions: list of (N, H, T, T) weights, first layer first.
        residual: mix in the identity for the residual connections.

    Returns:
        rollout: (N, T, T), rows sum to 1; ``rollout[:, 0, 1:]`` is the class token's map over
        the patches (reshape to the patch grid to plot it).
    """
    if not attentions:
        raise ValueError("attentions must hold at least one layer's weights")
    result = None
    for a in attentions:
        a = a.mean(dim=1)  # (N, T, T)
        if residual:
            a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
            a = a / a.sum(dim=-1, keepdim=True)
        result = a if result is None else a @ result
    return result

"""The course's Transformer layers in torch (assignment 3): ``MultiHeadAttention``,
``PositionalEncoding``, ``TransformerDecoderLayer``, ``TransformerDecoder``, plus a pre/post-norm
``TransformerEncoderLayer`` for the Vision Transformer.

Names, signatures, defaults and the order in which submodules are created (which fixes the
random initialisation under ``torch.manual_seed``) are the course's. Beside them, keyword-only
conveniences: a ``key_padding_mask`` and a key/value ``cache`` for one-token-at-a-time decoding
(``cache`` is a dict the layer fills; decoding with it gives the same outputs as recomputing the
whole prefix, see ``captioning.transformer``).

Masks: ``attn_mask`` (S, T), where ``attn_mask[i, j] == 0`` stops query i attending to key j (the
course); ``key_padding_mask`` (N, T), True at padded keys. Fully masked rows get zero weights.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from visionblocks.torchkit.functional_attention import (
    merge_heads,
    sinusoidal_positional_encoding,
    split_heads,
)

__all__ = [
    "MultiHeadAttention",
    "PositionalEncoding",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoderLayer",
]


class PositionalEncoding(nn.Module):
    """Adds the sinusoid table (sin at even columns, cos at odd; exponents 0, 0, 2, 2, ...) and
    applies dropout.

    Args:
        embed_dim: D, the embedding size (even, as in the course).
        dropout: dropout probability after the addition.
        max_len: the longest sequence.
    """

    def __init__(self, embed_dim, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        if embed_dim % 2:
            raise ValueError(f"embed_dim must be even, got {embed_dim}")
        pe = sinusoidal_positional_encoding(max_len, embed_dim, torch.float32)[None]  # (1, L, D)
        self.register_buffer("pe", pe)

    def forward(self, x, *, offset=0):
        """x: (N, S, D) -> (N, S, D); ``offset`` is the position of x[:, 0] (cached decoding)."""
        n, s, d = x.shape
        if offset + s > self.pe.shape[1]:
            raise ValueError(f"positions up to {offset + s} exceed max_len {self.pe.shape[1]}")
        return self.dropout(x + self.pe[:, offset : offset + s].to(x.dtype))


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate key/query/value/output projections.

    Args:
        embed_dim: E; num_heads: H (dividing E); dropout: on the attention weights.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.1):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide embed_dim ({embed_dim})")
        # the course's order: it fixes the initial weights under torch.manual_seed
        self.key = nn.Linear(embed_dim, embed_dim)
        self.query = nn.Linear(embed_dim, embed_dim)
        self.value = nn.Linear(embed_dim, embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.attn_drop = nn.Dropout(dropout)
        self.n_head = num_heads
        self.emd_dim = embed_dim
        self.head_dim = embed_dim // num_heads
        self.last_weights = None  # (N, H, S, T) of the latest call, for attention maps

    def forward(self, query, key, value, attn_mask=None, *, key_padding_mask=None, cache=None,
                static_kv=False):  # fmt: skip
        """Attends from query (N, S, E) to key/value (N, T, E); returns (N, S, E).

        Args:
            attn_mask: (S, T); 0/False entries are blocked (the course's convention).
            key_padding_mask: (N, T) boolean, True at padded keys.
            cache: a dict for decoding one step at a time: the projected keys and values are
                stored in it; later calls append theirs (self-attention) or, with
                ``static_kv=True``, reuse them without projecting key/value again (attention
                to a fixed memory).
        """
        n, s, e = query.shape
        q = split_heads(self.query(query), self.n_head)  # (N, H, S, E/H)
        if cache is not None and static_kv and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k = split_heads(self.key(key), self.n_head)  # (N, H, T, E/H)
            v = split_heads(self.value(value), self.n_head)
            if cache is not None:
                if "k" in cache and not static_kv:
                    k = torch.cat([cache["k"], k], dim=2)  # (N, H, T_past + T, E/H)
                    v = torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (N, H, S, T)
        keep = None
        if attn_mask is not None:
            keep = attn_mask.to(scores.device) != 0  # (S, T)
        if key_padding_mask is not None:
            pad = ~key_padding_mask.to(torch.bool)[:, None, None, :]  # (N, 1, 1, T)
            keep = pad if keep is None else keep & pad
        if keep is not None:
            scores = scores.masked_fill(~keep, float("-inf"))
            empty = ~keep.any(dim=-1, keepdim=True)
            scores = scores.masked_fill(empty, 0.0)
            weights = torch.softmax(scores, dim=-1).masked_fill(empty | ~keep, 0.0)
        else:
            weights = torch.softmax(scores, dim=-1)
        self.last_weights = weights.detach()
        out = self.attn_drop(weights) @ v  # (N, H, S, E/H)
        return self.proj(merge_heads(out))  # (N, S, E)


class TransformerDecoderLayer(nn.Module):
    """The course's post-norm decoder layer: masked self-attention, attention to the memory,
    a ReLU feed-forward network, each followed by dropout, a residual and a layer norm.

    Args:
        input_dim: W; num_heads: H; dim_feedforward: the hidden width; dropout.
    """

    def __init__(self, input_dim, num_heads, dim_feedforward=2048, dropout=0.1):
        super().__init__()
        self.self_attn = MultiHeadAttention(input_dim, num_heads, dropout)
        self.multihead_attn = MultiHeadAttention(input_dim, num_heads, dropout)
        self.linear1 = nn.Linear(input_dim, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, input_dim)
        self.norm1 = nn.LayerNorm(input_dim)
        self.norm2 = nn.LayerNorm(input_dim)
        self.norm3 = nn.LayerNorm(input_dim)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation = nn.ReLU()

    def forward(self, tgt, memory, tgt_mask=None, *, cache=None):
        """tgt (N, T, W), memory (N, S, W), tgt_mask (T, T) -> (N, T, W).

        With ``cache`` (a dict), tgt holds only the new positions; the self-attention keys and
        values of the earlier ones and the memory's projections come from the cache.
        """
        self_cache = cross_cache = None
        if cache is not None:
            self_cache = cache.setdefault("self", {})
            cross_cache = cache.setdefault("cross", {})
        tgt2 = self.self_attn(tgt, tgt, tgt, attn_mask=tgt_mask, cache=self_cache)
        tgt = self.norm1(tgt + self.dropout1(tgt2))
        tgt2 = self.multihead_attn(tgt, memory, memory, cache=cross_cache, static_kv=True)
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout(self.activation(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


def clones(module, n):
    """n deep copies of a module, in a ModuleList."""
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerDecoder(nn.Module):
    """num_layers copies of a decoder layer, applied in turn."""

    def __init__(self, decoder_layer, num_layers):
        super().__init__()
        self.layers = clones(decoder_layer, num_layers)
        self.num_layers = num_layers

    def forward(self, tgt, memory, tgt_mask=None, *, cache=None):
        """tgt (N, T, W), memory (N, S, W) -> (N, T, W); ``cache``: a list, one dict per layer."""
        output = tgt
        for i, mod in enumerate(self.layers):
            layer_cache = None
            if cache is not None:
                while len(cache) <= i:
                    cache.append({})
                layer_cache = cache[i]
            output = mod(output, memory, tgt_mask=tgt_mask, cache=layer_cache)
        return output


class TransformerEncoderLayer(nn.Module):
    """Self-attention and a feed-forward network, pre-norm (``x + f(LN(x))``, ViT) or post-norm.

    Args:
        embed_dim, num_heads, dim_feedforward, dropout: as the decoder layer's.
        norm: 'pre' (default) or 'post'.
        activation: 'gelu' (default, ViT) or 'relu'.
    """

    def __init__(self, embed_dim, num_heads, dim_feedforward=2048, dropout=0.1, norm="pre",
                 activation="gelu"):  # fmt: skip
        super().__init__()
        if norm not in ("pre", "post"):
            raise ValueError(f"norm must be 'pre' or 'post', got {norm!r}")
        if activation not in ("gelu", "relu"):
            raise ValueError(f"activation must be 'gelu' or 'relu', got {activation!r}")
        self.norm_first = norm == "pre"
        self.self_attn = MultiHeadAttention(embed_dim, num_heads, dropout)
        self.linear1 = nn.Linear(embed_dim, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, embed_dim)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.activation = nn.GELU() if activation == "gelu" else nn.ReLU()

    def _ffn(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, x, key_padding_mask=None):
        """x: (N, T, E) -> (N, T, E)."""

        def attend(h):
            return self.dropout1(self.self_attn(h, h, h, key_padding_mask=key_padding_mask))

        if self.norm_first:
            x = x + attend(self.norm1(x))
            return x + self._ffn(self.norm2(x))
        x = self.norm1(x + attend(x))
        return self.norm2(x + self._ffn(x))

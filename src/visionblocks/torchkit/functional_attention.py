"""Torch twins of the NumPy attention and Transformer pairs (``layers/attention.py``,
``layers/transformer.py``), same arguments, written out in torch ops; autograd is the backward.

Masks have the NumPy engine's meaning (``attn_mask`` True = may attend, ``key_padding_mask``
True = padded) and fully masked rows get zero weights. Weights are in the NumPy layout
(``x @ w``), not ``nn.Linear``'s (M, D).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from visionblocks.errors import ShapeError

__all__ = [
    "cross_attention_block",
    "feedforward",
    "feedforward_block",
    "learned_positional_embedding",
    "merge_heads",
    "multihead_attention",
    "positional_encoding",
    "scaled_dot_product_attention",
    "self_attention_block",
    "sequence_layernorm",
    "sinusoidal_positional_encoding",
    "split_heads",
    "transformer_decoder_layer",
    "transformer_encoder_layer",
]


def _as_bool(mask, like):
    if mask is None:
        return None
    mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    if mask.dtype != torch.bool:
        raise TypeError(f"masks must be boolean, got {mask.dtype}")
    return mask.to(like.device)


def attention_mask(scores_shape, attn_param, like):
    """The combined boolean mask (True = may attend) broadcastable to the scores, or None."""
    attn_param = attn_param or {}
    s, t = scores_shape[-2], scores_shape[-1]
    mask = _as_bool(attn_param.get("attn_mask"), like)
    pad = _as_bool(attn_param.get("key_padding_mask"), like)
    if pad is not None:
        if tuple(pad.shape) != (scores_shape[0], t):
            raise ShapeError(f"key_padding_mask must have shape ({scores_shape[0]}, {t}), "
                             f"got {tuple(pad.shape)}")  # fmt: skip
        keep = ~pad.reshape(scores_shape[0], *([1] * (len(scores_shape) - 2)), t)
        mask = keep if mask is None else mask & keep
    if attn_param.get("causal", False):
        tril = torch.ones(s, t, dtype=torch.bool, device=like.device).tril()  # (S, T)
        mask = tril if mask is None else mask & tril
    return mask


def scaled_dot_product_attention(q, k, v, attn_param=None, return_weights=False):
    """softmax(q k^T * scale, masked) v; twin of ``scaled_dot_product_attention_forward``.

    Args:
        q: (N, ..., S, d); k: (N, ..., T, d); v: (N, ..., T, dv).
        attn_param: dict with optional attn_mask, key_padding_mask, causal, scale.
        return_weights: also return the (N, ..., S, T) weights.

    Returns:
        out: (N, ..., S, dv) (and the weights).
    """
    attn_param = attn_param or {}
    scale = attn_param.get("scale", 1.0 / math.sqrt(q.shape[-1]))
    scores = (q @ k.transpose(-1, -2)) * scale  # (N, ..., S, T)
    mask = attention_mask(scores.shape, attn_param, q)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
        # a fully masked row: all -inf; give it zeros instead of softmax's NaN
        empty = ~mask.any(dim=-1, keepdim=True)
        scores = scores.masked_fill(empty, 0.0)
        weights = torch.softmax(scores, dim=-1).masked_fill(empty | ~mask, 0.0)
    else:
        weights = torch.softmax(scores, dim=-1)
    out = weights @ v  # (N, ..., S, dv)
    return (out, weights) if return_weights else out


def split_heads(x, num_heads):
    """(N, T, E) -> (N, H, T, E/H)."""
    n, t, e = x.shape
    return x.reshape(n, t, num_heads, e // num_heads).transpose(1, 2)


def merge_heads(x):
    """(N, H, T, d) -> (N, T, H*d)."""
    n, h, t, d = x.shape
    return x.transpose(1, 2).reshape(n, t, h * d)


def multihead_attention(query, key, value, wq, bq, wk, bk, wv, bv, wo, bo, attn_param):
    """Twin of ``multihead_attention_forward``: (N, S, E), (N, T, E) x2 -> (N, S, E)."""
    h = attn_param["num_heads"]
    q = split_heads(query @ wq + bq, h)  # (N, H, S, E/H)
    k = split_heads(key @ wk + bk, h)  # (N, H, T, E/H)
    v = split_heads(value @ wv + bv, h)
    return merge_heads(scaled_dot_product_attention(q, k, v, attn_param)) @ wo + bo


def sinusoidal_positional_encoding(max_len, dim, dtype=torch.float32, device=None):
    """The sinusoid table (max_len, dim): sin at even columns, cos at odd, exponents 0, 0, 2, ..."""
    pos = torch.arange(max_len, dtype=torch.float64, device=device)[:, None]  # (L, 1)
    j = torch.arange(dim, device=device)
    exponent = (j - j % 2).to(torch.float64) / dim  # (D,)
    angle = pos * torch.pow(10000.0, -exponent)  # (L, D)
    return torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle)).to(dtype)


def positional_encoding(x, pe_param=None):
    """Twin of ``positional_encoding_forward``: x (N, T, D) plus the table's rows."""
    offset = int((pe_param or {}).get("offset", 0))
    t, d = x.shape[1], x.shape[2]
    return x + sinusoidal_positional_encoding(offset + t, d, x.dtype, x.device)[offset:]


def learned_positional_embedding(x, pos_embed):
    """Twin of ``learned_positional_embedding_forward``: x (N, T, D) + pos_embed[:T]."""
    return x + pos_embed[: x.shape[1]]


def sequence_layernorm(x, gamma, beta, ln_param=None):
    """Layer norm over the last axis of (N, T, D)."""
    return F.layer_norm(x, (x.shape[-1],), gamma, beta, eps=(ln_param or {}).get("eps", 1e-5))


def feedforward(x, w1, b1, w2, b2):
    """relu(x w1 + b1) w2 + b2 at every position of (N, T, D)."""
    return torch.relu(x @ w1 + b1) @ w2 + b2


def _block_attn_param(block_param, is_self):
    if is_self:
        return {"num_heads": block_param.get("num_heads", 1),
                "causal": block_param.get("causal", False),
                "attn_mask": block_param.get("attn_mask"),
                "key_padding_mask": block_param.get("key_padding_mask")}  # fmt: skip
    return {"num_heads": block_param.get("num_heads", 1),
            "key_padding_mask": block_param.get("memory_padding_mask")}  # fmt: skip


def _residual(x, gamma, beta, f, block_param):
    norm = block_param.get("norm", "post")
    ln = {"eps": block_param.get("eps", 1e-5)}
    if norm == "pre":
        return x + f(sequence_layernorm(x, gamma, beta, ln))
    if norm != "post":
        raise ValueError(f"block_param['norm'] must be 'pre' or 'post', got {norm!r}")
    return sequence_layernorm(x + f(x), gamma, beta, ln)


def self_attention_block(x, gamma, beta, wq, bq, wk, bk, wv, bv, wo, bo, block_param):
    """Twin of ``self_attention_block_forward``."""
    ap = _block_attn_param(block_param, True)
    w = (wq, bq, wk, bk, wv, bv, wo, bo)
    return _residual(x, gamma, beta, lambda h: multihead_attention(h, h, h, *w, ap), block_param)


def cross_attention_block(x, memory, gamma, beta, wq, bq, wk, bk, wv, bv, wo, bo, block_param):
    """Twin of ``cross_attention_block_forward``."""
    ap = _block_attn_param(block_param, False)
    w = (wq, bq, wk, bk, wv, bv, wo, bo)
    f = lambda h: multihead_attention(h, memory, memory, *w, ap)  # noqa: E731
    return _residual(x, gamma, beta, f, block_param)


def feedforward_block(x, gamma, beta, w1, b1, w2, b2, block_param):
    """Twin of ``feedforward_block_forward``."""
    return _residual(x, gamma, beta, lambda h: feedforward(h, w1, b1, w2, b2), block_param)


def _attn(p, prefix):
    return [p[f"{prefix}_{n}"] for n in ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")]


def _ffn(p):
    return [p["ffn_w1"], p["ffn_b1"], p["ffn_w2"], p["ffn_b2"]]


def transformer_encoder_layer(x, params, layer_param):
    """Twin of ``transformer_encoder_layer_forward`` (params keyed as the NumPy layer's)."""
    p = params
    h = self_attention_block(x, p["ln1_gamma"], p["ln1_beta"], *_attn(p, "attn"), layer_param)
    return feedforward_block(h, p["ln2_gamma"], p["ln2_beta"], *_ffn(p), layer_param)


def transformer_decoder_layer(x, memory, params, layer_param):
    """Twin of ``transformer_decoder_layer_forward`` (causal self-attention by default)."""
    p = params
    self_param = {**layer_param, "causal": layer_param.get("causal", True)}
    h = self_attention_block(x, p["ln1_gamma"], p["ln1_beta"], *_attn(p, "self"), self_param)
    h = cross_attention_block(h, memory, p["ln2_gamma"], p["ln2_beta"], *_attn(p, "cross"),
                              layer_param)  # fmt: skip
    return feedforward_block(h, p["ln3_gamma"], p["ln3_beta"], *_ffn(p), layer_param)

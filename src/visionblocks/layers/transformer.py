"""Transformer building blocks over (N, T, D) sequences, each a forward/backward pair.

Positional encodings (sinusoidal, learned), layer norm over the last axis, the position-wise
feed-forward network, residual blocks around attention and the feed-forward network in both
orders (``norm="post"``: ``LN(x + f(x))``, the original Transformer and the course;
``norm="pre"``: ``x + f(LN(x))``), and encoder and decoder layers built from those blocks.
Dropout is left out (compose ``dropout_forward`` where wanted), so every pair here is
deterministic and gradient-checkable.

Encoder and decoder layers take their weights as a ``params`` dict (names from
``encoder_layer_param_shapes`` / ``decoder_layer_param_shapes``) and return their gradients
as a dict with the same keys.
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError
from visionblocks.layers.affine import affine_backward, affine_forward
from visionblocks.layers.attention import (
    multihead_attention_backward,
    multihead_attention_forward,
)
from visionblocks.layers.composite import affine_relu_backward, affine_relu_forward
from visionblocks.layers.norm import layernorm_backward, layernorm_forward

__all__ = [
    "cross_attention_block_backward",
    "cross_attention_block_forward",
    "decoder_layer_param_shapes",
    "encoder_layer_param_shapes",
    "feedforward_backward",
    "feedforward_block_backward",
    "feedforward_block_forward",
    "feedforward_forward",
    "learned_positional_embedding_backward",
    "learned_positional_embedding_forward",
    "positional_encoding_backward",
    "positional_encoding_forward",
    "self_attention_block_backward",
    "self_attention_block_forward",
    "sequence_layernorm_backward",
    "sequence_layernorm_forward",
    "sinusoidal_positional_encoding",
    "transformer_decoder_layer_backward",
    "transformer_decoder_layer_forward",
    "transformer_encoder_layer_backward",
    "transformer_encoder_layer_forward",
]

_ATTN = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")


# ------------------------------------------------------------------- positional encodings
def sinusoidal_positional_encoding(max_len, dim, dtype=np.float64):
    """The sinusoid table: ``pe[t, 2i] = sin(t / 10000^(2i/dim))``, ``pe[t, 2i+1] = cos(...)``.

    Column j uses the exponent ``j - j % 2`` (0, 0, 2, 2, ...), as in the course.

    Returns:
        pe: (max_len, dim).
    """
    if max_len < 0 or dim < 1:
        raise ValueError(f"max_len must be >= 0 and dim >= 1, got {max_len}, {dim}")
    pos = np.arange(max_len, dtype=np.float64)[:, None]  # (L, 1)
    exponent = (np.arange(dim) - np.arange(dim) % 2) / dim  # (D,) 0, 0, 2/D, 2/D, ...
    angle = pos * 10000.0 ** (-exponent)  # (L, D)
    pe = np.where(np.arange(dim) % 2 == 0, np.sin(angle), np.cos(angle))
    return pe.astype(dtype)


def _check_seq(name, x):
    as_float_array(name, x, ndim=3)
    return x.shape


def positional_encoding_forward(x, pe_param=None):
    """Adds the sinusoidal encoding of positions ``offset .. offset + T - 1``.

    Args:
        x: (N, T, D) embeddings.
        pe_param: dict with optional offset (default 0: the first position; a decoder fed one
            token at a time passes its position).

    Returns:
        out: (N, T, D); cache: None (the backward is the identity).
    """
    _, t, d = _check_seq("x", x)
    offset = int((pe_param or {}).get("offset", 0))
    pe = sinusoidal_positional_encoding(offset + t, d, x.dtype)[offset:]  # (T, D)
    return x + pe, None


def positional_encoding_backward(dout, cache):
    """Backward of ``positional_encoding_forward``: dx = dout, (N, T, D)."""
    return dout.copy()


def learned_positional_embedding_forward(x, pos_embed):
    """Adds a learned embedding per position: out[:, t] = x[:, t] + pos_embed[t].

    Args:
        x: (N, T, D); pos_embed: (max_len, D) with max_len >= T.

    Returns:
        out: (N, T, D); cache: (T, pos_embed's shape).
    """
    _, t, d = _check_seq("x", x)
    as_float_array("pos_embed", pos_embed, ndim=2)
    if pos_embed.shape[1] != d or pos_embed.shape[0] < t:
        raise ShapeError(f"pos_embed must have shape (>= {t}, {d}), got {pos_embed.shape}")
    return x + pos_embed[:t], (t, pos_embed.shape)


def learned_positional_embedding_backward(dout, cache):
    """Returns dx (N, T, D) and dpos_embed (max_len, D) (zero beyond T)."""
    t, shape = cache
    dpos = np.zeros(shape, dtype=dout.dtype)
    dpos[:t] = dout.sum(axis=0)
    return dout.copy(), dpos


# ---------------------------------------------------------------- layer norm, feed-forward
def sequence_layernorm_forward(x, gamma, beta, ln_param=None):
    """Layer norm over the last axis of (N, T, D) (``layernorm_forward`` on N*T rows).

    Returns:
        out: (N, T, D); cache.
    """
    n, t, d = _check_seq("x", x)
    out, cache = layernorm_forward(x.reshape(n * t, d), gamma, beta, ln_param or {})  # (N*T, D)
    return out.reshape(n, t, d), cache


def sequence_layernorm_backward(dout, cache):
    """Returns dx (N, T, D), dgamma (D,), dbeta (D,)."""
    n, t, d = dout.shape
    dx, dgamma, dbeta = layernorm_backward(dout.reshape(n * t, d), cache)  # (N*T, D)
    return dx.reshape(n, t, d), dgamma, dbeta


def feedforward_forward(x, w1, b1, w2, b2):
    """Position-wise feed-forward network: relu(x w1 + b1) w2 + b2 at every position.

    Args:
        x: (N, T, D); w1: (D, F); b1: (F,); w2: (F, D); b2: (D,).

    Returns:
        out: (N, T, D); cache.
    """
    n, t, d = _check_seq("x", x)
    h, c1 = affine_relu_forward(x.reshape(n * t, d), w1, b1)  # (N*T, F)
    out, c2 = affine_forward(h, w2, b2)  # (N*T, D)
    return out.reshape(n, t, -1), (c1, c2, (n, t))


def feedforward_backward(dout, cache):
    """Returns dx (N, T, D), dw1, db1, dw2, db2."""
    c1, c2, (n, t) = cache
    dh, dw2, db2 = affine_backward(dout.reshape(n * t, -1), c2)  # (N*T, F)
    dx, dw1, db1 = affine_relu_backward(dh, c1)  # (N*T, D)
    return dx.reshape(n, t, -1), dw1, db1, dw2, db2


# ----------------------------------------------------------------------- residual blocks
def _norm_order(block_param):
    norm = block_param.get("norm", "post")
    if norm not in ("pre", "post"):
        raise ValueError(f"block_param['norm'] must be 'pre' or 'post', got {norm!r}")
    return norm


def _attn_param(block_param, is_self):
    """The attention's param: the self-attention takes the masks, cross-attention the memory's."""
    num_heads = block_param.get("num_heads", 1)
    if not is_self:
        return {"num_heads": num_heads, "key_padding_mask": block_param.get("memory_padding_mask")}
    return {"num_heads": num_heads, "causal": block_param.get("causal", False),
            "attn_mask": block_param.get("attn_mask"),
            "key_padding_mask": block_param.get("key_padding_mask")}  # fmt: skip


def _attention_block(x, memory, gamma, beta, weights, block_param):
    norm = _norm_order(block_param)
    _check_seq("x", x)
    ln = {"eps": block_param.get("eps", 1e-5)}
    attn_param = _attn_param(block_param, memory is None)
    if norm == "pre":
        h, ln_cache = sequence_layernorm_forward(x, gamma, beta, ln)
        kv = h if memory is None else memory
        a, a_cache = multihead_attention_forward(h, kv, kv, *weights, attn_param)
        return x + a, (norm, memory is None, ln_cache, a_cache)
    kv = x if memory is None else memory
    a, a_cache = multihead_attention_forward(x, kv, kv, *weights, attn_param)
    out, ln_cache = sequence_layernorm_forward(x + a, gamma, beta, ln)
    return out, (norm, memory is None, ln_cache, a_cache)


def _attention_block_backward(dout, cache):
    norm, is_self, ln_cache, a_cache = cache
    if norm == "pre":
        dq, dk, dv, *dweights = multihead_attention_backward(dout, a_cache)
        dh = dq + dk + dv if is_self else dq
        dx, dgamma, dbeta = sequence_layernorm_backward(dh, ln_cache)
        dx = dx + dout
    else:
        dy, dgamma, dbeta = sequence_layernorm_backward(dout, ln_cache)
        dq, dk, dv, *dweights = multihead_attention_backward(dy, a_cache)
        dx = dy + dq + (dk + dv if is_self else 0.0)
    dmemory = None if is_self else dk + dv
    return dx, dmemory, dgamma, dbeta, dweights


def self_attention_block_forward(x, gamma, beta, wq, bq, wk, bk, wv, bv, wo, bo, block_param):
    """Residual self-attention: ``LN(x + MHA(x))`` (post-norm) or ``x + MHA(LN(x))`` (pre).

    Args:
        x: (N, T, D); gamma, beta: (D,) the layer norm; wq..bo: the attention's projections
            (see ``multihead_attention_forward``).
        block_param: dict with num_heads, norm ('post' default | 'pre'), eps (1e-5), and the
            self-attention's optional causal, attn_mask, key_padding_mask.

    Returns:
        out: (N, T, D); cache.
    """
    return _attention_block(x, None, gamma, beta, (wq, bq, wk, bk, wv, bv, wo, bo), block_param)


def self_attention_block_backward(dout, cache):
    """Returns dx, dgamma, dbeta, dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo."""
    dx, _, dgamma, dbeta, dweights = _attention_block_backward(dout, cache)
    return (dx, dgamma, dbeta, *dweights)


def cross_attention_block_forward(x, memory, gamma, beta, wq, bq, wk, bk, wv, bv, wo, bo,
                                  block_param):  # fmt: skip
    """Residual cross-attention from x to memory: ``LN(x + MHA(x, m))`` or ``x + MHA(LN(x), m)``.

    Args:
        x: (N, T, D) queries; memory: (N, S, D) keys and values (the encoder's output or the
            image's tokens); gamma, beta, wq..bo and block_param as in
            ``self_attention_block_forward``, with memory_padding_mask (N, S) for padded memory.

    Returns:
        out: (N, T, D); cache.
    """
    _check_seq("memory", memory)
    weights = (wq, bq, wk, bk, wv, bv, wo, bo)
    return _attention_block(x, memory, gamma, beta, weights, block_param)


def cross_attention_block_backward(dout, cache):
    """Returns dx, dmemory, dgamma, dbeta, dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo."""
    dx, dmemory, dgamma, dbeta, dweights = _attention_block_backward(dout, cache)
    return (dx, dmemory, dgamma, dbeta, *dweights)


def feedforward_block_forward(x, gamma, beta, w1, b1, w2, b2, block_param):
    """Residual feed-forward: ``LN(x + FFN(x))`` (post-norm) or ``x + FFN(LN(x))`` (pre-norm).

    Args:
        x: (N, T, D); gamma, beta: (D,); w1, b1, w2, b2: see ``feedforward_forward``;
        block_param: dict with norm ('post' | 'pre') and eps.

    Returns:
        out: (N, T, D); cache.
    """
    norm = _norm_order(block_param)
    ln = {"eps": block_param.get("eps", 1e-5)}
    if norm == "pre":
        h, ln_cache = sequence_layernorm_forward(x, gamma, beta, ln)
        f, f_cache = feedforward_forward(h, w1, b1, w2, b2)
        return x + f, (norm, ln_cache, f_cache)
    f, f_cache = feedforward_forward(x, w1, b1, w2, b2)
    out, ln_cache = sequence_layernorm_forward(x + f, gamma, beta, ln)
    return out, (norm, ln_cache, f_cache)


def feedforward_block_backward(dout, cache):
    """Returns dx, dgamma, dbeta, dw1, db1, dw2, db2."""
    norm, ln_cache, f_cache = cache
    if norm == "pre":
        dh, *dffn = feedforward_backward(dout, f_cache)
        dx, dgamma, dbeta = sequence_layernorm_backward(dh, ln_cache)
        return (dx + dout, dgamma, dbeta, *dffn)
    dy, dgamma, dbeta = sequence_layernorm_backward(dout, ln_cache)
    df, *dffn = feedforward_backward(dy, f_cache)
    return (dy + df, dgamma, dbeta, *dffn)


# ------------------------------------------------------------------ encoder and decoder
def _attn_shapes(prefix, d):
    return {f"{prefix}_{n}": (d, d) if n[0] == "w" else (d,) for n in _ATTN}


def _ffn_shapes(d, f):
    return {"ffn_w1": (d, f), "ffn_b1": (f,), "ffn_w2": (f, d), "ffn_b2": (d,)}


def encoder_layer_param_shapes(embed_dim, ffn_dim):
    """Parameter names -> shapes of an encoder layer, in the order its entry takes them."""
    d = embed_dim
    return {"ln1_gamma": (d,), "ln1_beta": (d,), **_attn_shapes("attn", d),
            "ln2_gamma": (d,), "ln2_beta": (d,), **_ffn_shapes(d, ffn_dim)}  # fmt: skip


def decoder_layer_param_shapes(embed_dim, ffn_dim):
    """Parameter names -> shapes of a decoder layer, in the order its entry takes them."""
    d = embed_dim
    return {"ln1_gamma": (d,), "ln1_beta": (d,), **_attn_shapes("self", d),
            "ln2_gamma": (d,), "ln2_beta": (d,), **_attn_shapes("cross", d),
            "ln3_gamma": (d,), "ln3_beta": (d,), **_ffn_shapes(d, ffn_dim)}  # fmt: skip


def _take(params, names):
    missing = [n for n in names if n not in params]
    if missing:
        raise KeyError(f"params is missing {missing}")
    return [params[n] for n in names]


def _attn_names(prefix):
    return [f"{prefix}_{n}" for n in _ATTN]


_FFN = ["ffn_w1", "ffn_b1", "ffn_w2", "ffn_b2"]


def transformer_encoder_layer_forward(x, params, layer_param):
    """Encoder layer: residual self-attention, then residual feed-forward.

    Args:
        x: (N, T, D).
        params: the arrays named by ``encoder_layer_param_shapes``.
        layer_param: dict with num_heads, norm ('post' | 'pre'), eps, and the self-attention's
            optional key_padding_mask (N, T), attn_mask, causal.

    Returns:
        out: (N, T, D); cache.
    """
    p = params
    h, c1 = self_attention_block_forward(x, p["ln1_gamma"], p["ln1_beta"],
                                         *_take(p, _attn_names("attn")), layer_param)  # fmt: skip
    out, c2 = feedforward_block_forward(h, p["ln2_gamma"], p["ln2_beta"], *_take(p, _FFN),
                                        layer_param)  # fmt: skip
    return out, (c1, c2)


def transformer_encoder_layer_backward(dout, cache):
    """Returns dx (N, T, D) and grads, a dict with the keys of the layer's params."""
    c1, c2 = cache
    dh, dg2, db2, *dffn = feedforward_block_backward(dout, c2)
    dx, dg1, db1, *dattn = self_attention_block_backward(dh, c1)
    grads = {"ln1_gamma": dg1, "ln1_beta": db1, "ln2_gamma": dg2, "ln2_beta": db2}
    grads.update(zip(_attn_names("attn"), dattn))
    grads.update(zip(_FFN, dffn))
    return dx, grads


def transformer_decoder_layer_forward(x, memory, params, layer_param):
    """Decoder layer: masked self-attention, cross-attention to memory, feed-forward.

    Args:
        x: (N, T, D) target sequence; memory: (N, S, D).
        params: the arrays named by ``decoder_layer_param_shapes``.
        layer_param: dict with num_heads, norm ('post' | 'pre'), eps, causal (default True),
            key_padding_mask (N, T) of the targets, memory_padding_mask (N, S).

    Returns:
        out: (N, T, D); cache.
    """
    p = params
    self_param = {**layer_param, "causal": layer_param.get("causal", True)}
    h, c1 = self_attention_block_forward(x, p["ln1_gamma"], p["ln1_beta"],
                                         *_take(p, _attn_names("self")), self_param)  # fmt: skip
    h, c2 = cross_attention_block_forward(h, memory, p["ln2_gamma"], p["ln2_beta"],
                                          *_take(p, _attn_names("cross")), layer_param)  # fmt: skip
    out, c3 = feedforward_block_forward(h, p["ln3_gamma"], p["ln3_beta"], *_take(p, _FFN),
                                        layer_param)  # fmt: skip
    return out, (c1, c2, c3)


def transformer_decoder_layer_backward(dout, cache):
    """Returns dx (N, T, D), dmemory (N, S, D) and grads (a dict keyed like params)."""
    c1, c2, c3 = cache
    dh, dg3, db3, *dffn = feedforward_block_backward(dout, c3)
    dh, dmemory, dg2, db2, *dcross = cross_attention_block_backward(dh, c2)
    dx, dg1, db1, *dself = self_attention_block_backward(dh, c1)
    grads = {"ln1_gamma": dg1, "ln1_beta": db1, "ln2_gamma": dg2, "ln2_beta": db2,
             "ln3_gamma": dg3, "ln3_beta": db3}  # fmt: skip
    grads.update(zip(_attn_names("self"), dself))
    grads.update(zip(_attn_names("cross"), dcross))
    grads.update(zip(_FFN, dffn))
    return dx, dmemory, grads

"""Scaled dot-product attention and multi-head attention, with hand-written backward passes.

Masks follow ``torch.nn.functional.scaled_dot_product_attention`` and the course:

* ``attn_param["attn_mask"]``: boolean, broadcastable to the scores (..., S, T); True means
  query i may attend to key j (the course's ``mask[i, j] == 0`` blocks).
* ``attn_param["key_padding_mask"]``: boolean (N, T); True marks a padded key, which no query
  may attend to (``torch.nn.MultiheadAttention``'s convention).
* ``attn_param["causal"]``: query i attends to keys j <= i (top-left aligned, as torch's
  ``is_causal``).

Masked scores are set to -inf *before* the softmax, so a masked key gets exactly zero weight
(zeroing the weights after the softmax would leave the others summing to less than 1). A row
whose keys are all masked has no defined softmax; here its weights are all zero, so its
output is zero and no gradient flows through it (torch 2.13 returns the same zeros).
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError
from visionblocks.layers.affine import affine_backward, affine_forward

__all__ = [
    "attention_mask",
    "attention_weights",
    "multihead_attention_backward",
    "multihead_attention_forward",
    "scaled_dot_product_attention_backward",
    "scaled_dot_product_attention_forward",
]


def attention_mask(shape, attn_param=None):
    """The combined boolean mask (True = may attend) of an ``attn_param``, or None.

    Args:
        shape: the scores' shape (N, ..., S, T).
        attn_param: dict with optional attn_mask, key_padding_mask, causal (module docstring).

    Returns:
        mask: boolean array broadcastable to ``shape``, or None when nothing is masked.
    """
    attn_param = attn_param or {}
    s, t = shape[-2], shape[-1]
    mask = None
    if attn_param.get("attn_mask") is not None:
        mask = np.asarray(attn_param["attn_mask"])
        if mask.dtype != bool:
            raise TypeError(f"attn_param['attn_mask'] must be boolean, got dtype {mask.dtype}")
        try:
            np.broadcast_shapes(mask.shape, shape)
        except ValueError:
            raise ShapeError(
                f"attn_param['attn_mask'] of shape {mask.shape} does not broadcast to the "
                f"scores' shape {tuple(shape)}"
            ) from None
    if attn_param.get("key_padding_mask") is not None:
        pad = np.asarray(attn_param["key_padding_mask"])
        if pad.dtype != bool or pad.shape != (shape[0], t):
            raise ShapeError(
                f"attn_param['key_padding_mask'] must be boolean of shape ({shape[0]}, {t}), "
                f"got {pad.dtype} {pad.shape}"
            )
        keep = ~pad.reshape(shape[0], *([1] * (len(shape) - 2)), t)  # (N, 1.., 1, T)
        mask = keep if mask is None else mask & keep
    if attn_param.get("causal", False):
        tril = np.tril(np.ones((s, t), dtype=bool))  # (S, T)
        mask = tril if mask is None else mask & tril
    return mask


def _softmax_masked(scores, mask):
    """Row softmax over the last axis with masked entries exactly 0 (all-masked rows: 0)."""
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    m = scores.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # a fully masked row: exp(-inf) = 0 everywhere
    e = np.exp(scores - m)
    z = e.sum(axis=-1, keepdims=True)
    return e / np.where(z > 0, z, 1.0)


def scaled_dot_product_attention_forward(q, k, v, attn_param=None):
    """softmax(q k^T / sqrt(d) + mask) v, over any leading dimensions.

    Args:
        q: (N, ..., S, d) queries.
        k: (N, ..., T, d) keys.
        v: (N, ..., T, dv) values.
        attn_param: dict with optional attn_mask, key_padding_mask, causal, scale (default
            1 / sqrt(d)); see the module docstring.

    Returns:
        out: (N, ..., S, dv).
        cache: (q, k, v, weights (N, ..., S, T), scale).
    """
    for name, a in (("q", q), ("k", k), ("v", v)):
        as_float_array(name, a)
        if a.ndim < 3:
            raise ShapeError(f"{name} must have shape (N, ..., L, d), got {a.shape}")
    if k.shape[:-1] != v.shape[:-1] or q.shape[:-2] != k.shape[:-2] or q.shape[-1] != k.shape[-1]:
        raise ShapeError(f"q, k, v must be (N, ..., S, d), (N, ..., T, d), (N, ..., T, dv); got "
                         f"{q.shape}, {k.shape}, {v.shape}")  # fmt: skip
    attn_param = attn_param or {}
    scale = float(attn_param.get("scale", 1.0 / np.sqrt(q.shape[-1])))  # weak: keeps float32
    scores = (q @ np.swapaxes(k, -1, -2)) * scale  # (N, ..., S, T)
    weights = _softmax_masked(scores, attention_mask(scores.shape, attn_param))
    out = weights @ v  # (N, ..., S, dv)
    return out.astype(q.dtype, copy=False), (q, k, v, weights.astype(q.dtype, copy=False), scale)


def scaled_dot_product_attention_backward(dout, cache):
    """Backward of ``scaled_dot_product_attention_forward``.

    Args:
        dout: (N, ..., S, dv) upstream gradient.

    Returns:
        dq: (N, ..., S, d), dk: (N, ..., T, d), dv: (N, ..., T, dv).
    """
    q, k, v, w, scale = cache
    dv = np.swapaxes(w, -1, -2) @ dout  # (N, ..., T, dv)
    dw = dout @ np.swapaxes(v, -1, -2)  # (N, ..., S, T)
    ds = w * (dw - (dw * w).sum(axis=-1, keepdims=True))  # softmax backward; masked: w = 0
    dq = (ds @ k) * scale  # (N, ..., S, d)
    dk = (np.swapaxes(ds, -1, -2) @ q) * scale  # (N, ..., T, d)
    return dq, dk, dv


def attention_weights(cache):
    """The attention weights (N, ..., S, T) kept in a forward cache (SDPA or multi-head)."""
    if len(cache) == 5:
        return cache[3]
    return cache[3][3]


def _split_heads(x, num_heads):
    n, t, e = x.shape
    return x.reshape(n, t, num_heads, e // num_heads).transpose(0, 2, 1, 3)  # (N, H, T, E/H)


def _merge_heads(x):
    n, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, t, h * d)  # (N, H, T, d) -> (N, T, H*d)


def _project(x, w, b):
    n, t, _ = x.shape
    out, cache = affine_forward(x.reshape(n * t, -1), w, b)  # (N*T, E) -> (N*T, M)
    return out.reshape(n, t, -1), cache  # (N, T, M)


def _project_backward(dout, cache):
    n, t, m = dout.shape
    dx, dw, db = affine_backward(dout.reshape(n * t, m), cache)  # (N*T, M)
    return dx.reshape(n, t, -1), dw, db  # (N, T, E)


def multihead_attention_forward(query, key, value, wq, bq, wk, bk, wv, bv, wo, bo, attn_param):
    """Multi-head attention: project, split into heads, attend, merge, project.

    Args:
        query: (N, S, E); key: (N, T, E); value: (N, T, E).
        wq, wk, wv, wo: (E, E) projections in the NumPy layout (x @ w); bq, bk, bv, bo: (E,).
        attn_param: dict with num_heads (dividing E) and the optional masks of
            ``scaled_dot_product_attention_forward`` (attn_mask broadcasting to (N, H, S, T)).

    Returns:
        out: (N, S, E).
        cache: for the backward pass (its attention weights: ``attention_weights(cache)``).
    """
    for name, a in (("query", query), ("key", key), ("value", value)):
        as_float_array(name, a, ndim=3)
    if key.shape != value.shape or query.shape[0] != key.shape[0]:
        raise ShapeError(f"query (N, S, E), key and value (N, T, E) must agree; got "
                         f"{query.shape}, {key.shape}, {value.shape}")  # fmt: skip
    num_heads = attn_param.get("num_heads") if attn_param else None
    e = query.shape[2]
    if not isinstance(num_heads, (int, np.integer)) or num_heads < 1 or e % num_heads:
        raise ValueError(f"attn_param['num_heads'] must be a positive divisor of the embedding "
                         f"size {e}, got {num_heads!r}")  # fmt: skip
    q, q_cache = _project(query, wq, bq)  # (N, S, E)
    k, k_cache = _project(key, wk, bk)  # (N, T, E)
    v, v_cache = _project(value, wv, bv)  # (N, T, E)
    heads, sdpa_cache = scaled_dot_product_attention_forward(
        _split_heads(q, num_heads),
        _split_heads(k, num_heads),
        _split_heads(v, num_heads),
        attn_param,
    )  # (N, H, S, E/H)
    out, o_cache = _project(_merge_heads(heads), wo, bo)  # (N, S, E)
    return out, (q_cache, k_cache, v_cache, sdpa_cache, o_cache, num_heads)


def multihead_attention_backward(dout, cache):
    """Backward of ``multihead_attention_forward``.

    Args:
        dout: (N, S, E) upstream gradient.

    Returns:
        dquery (N, S, E), dkey (N, T, E), dvalue (N, T, E), dwq, dbq, dwk, dbk, dwv, dbv, dwo,
        dbo. For self-attention (one x as query, key and value) dx = dquery + dkey + dvalue.
    """
    q_cache, k_cache, v_cache, sdpa_cache, o_cache, num_heads = cache
    dmerged, dwo, dbo = _project_backward(dout, o_cache)  # (N, S, E)
    dq, dk, dv = scaled_dot_product_attention_backward(_split_heads(dmerged, num_heads),
                                                       sdpa_cache)  # fmt: skip
    dquery, dwq, dbq = _project_backward(_merge_heads(dq), q_cache)
    dkey, dwk, dbk = _project_backward(_merge_heads(dk), k_cache)
    dvalue, dwv, dbv = _project_backward(_merge_heads(dv), v_cache)
    return dquery, dkey, dvalue, dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo

"""Additive (Bahdanau / Show, Attend and Tell) attention of a hidden state over L feature
vectors: scores ``e_l = w_att . tanh(pa_l + h @ W_ha + b_att)``, weights ``alpha = softmax(e)``,
context ``z = sum_l alpha_l a_l``.

``pa = a @ W_a`` (the projected features) is an argument rather than computed inside, because a
decoder computes it once per image and attends with it at every time step; its gradient ``dpa``
is returned so the caller can back-propagate into ``W_a`` (and ``a``) once.
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError

__all__ = ["additive_attention_backward", "additive_attention_forward"]


def additive_attention_forward(a, pa, h, W_ha, b_att, w_att):
    """Attention weights and context of one decoding step.

    Args:
        a: (N, L, D) feature vectors (L locations); pa: (N, L, A) their projections a @ W_a.
        h: (N, H) the decoder's hidden state; W_ha: (H, A); b_att: (A,); w_att: (A,).

    Returns:
        context: (N, D) attention-weighted sum of a.
        alpha: (N, L) attention weights (each row sums to 1).
        cache: for ``additive_attention_backward``.
    """
    for name, value, ndim in (("a", a, 3), ("pa", pa, 3), ("h", h, 2), ("W_ha", W_ha, 2),
                              ("b_att", b_att, 1), ("w_att", w_att, 1)):  # fmt: skip
        as_float_array(name, value, ndim=ndim)
    n, length, _ = a.shape
    att = W_ha.shape[1]
    if pa.shape != (n, length, att) or h.shape != (n, W_ha.shape[0]):
        raise ShapeError(f"pa must have shape ({n}, {length}, {att}) and h ({n}, "
                         f"{W_ha.shape[0]}) for a {a.shape} and W_ha {W_ha.shape}, got "
                         f"{pa.shape} and {h.shape}")  # fmt: skip
    if b_att.shape != (att,) or w_att.shape != (att,):
        raise ShapeError(f"b_att and w_att must have shape ({att},), got {b_att.shape}, "
                         f"{w_att.shape}")  # fmt: skip
    t = np.tanh(pa + (h @ W_ha + b_att)[:, None, :])  # (N, L, A)
    e = t @ w_att  # (N, L)
    e = np.exp(e - e.max(axis=1, keepdims=True))
    alpha = e / e.sum(axis=1, keepdims=True)
    context = np.einsum("nl,nld->nd", alpha, a)  # (N, D)
    return context, alpha, (a, h, W_ha, w_att, t, alpha)


def additive_attention_backward(dcontext, dalpha, cache):
    """Backward pass of ``additive_attention_forward``.

    Args:
        dcontext: (N, D); dalpha: (N, L) upstream gradients of the two outputs.
        cache: from the forward pass.

    Returns:
        da: (N, L, D); dpa: (N, L, A); dh: (N, H); dW_ha: (H, A); db_att: (A,); dw_att: (A,).
    """
    a, h, W_ha, w_att, t, alpha = cache
    dalpha = dalpha + np.einsum("nd,nld->nl", dcontext, a)  # (N, L)
    da = alpha[:, :, None] * dcontext[:, None, :]  # (N, L, D)
    de = alpha * (dalpha - np.sum(alpha * dalpha, axis=1, keepdims=True))  # through softmax
    dw_att = np.einsum("nla,nl->a", t, de)
    dpa = de[:, :, None] * w_att * (1.0 - t * t)  # (N, L, A) through tanh
    dq = dpa.sum(axis=1)  # (N, A): the query h @ W_ha + b_att is shared by every location
    return da, dpa, dq @ W_ha.T, h.T @ dq, dq.sum(axis=0), dw_att

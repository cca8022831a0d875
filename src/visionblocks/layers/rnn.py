"""Vanilla recurrent layers under the course's names: the tanh RNN (one step and over a sequence),
word embeddings, the temporal affine layer and the masked temporal softmax loss.

Sequences are batch-major, ``(N, T, D)``, as in the course. The sequence forwards precompute the
input projections of every time step in one matmul and keep time-major buffers, so the time loop
only does the ``h @ Wh`` product; the backwards likewise do every input-side weight gradient in
one matmul after the loop. The step pairs are the readable definitions (and oracles of the tests).
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError

__all__ = [
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
    "temporal_affine_backward",
    "temporal_affine_forward",
    "temporal_softmax_loss",
    "word_embedding_backward",
    "word_embedding_forward",
]


def sigmoid(x, out=None):
    """Logistic function as 0.5 * (1 + tanh(x / 2)): stable for any x, no overflow warning.

    Args:
        x: any-shape float array.
        out: optional array of x's shape to write into (may be x itself).
    """
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def check_recurrent(x, h0, Wx, Wh, b, gates: int, sequence: bool, bias: int | None = None):
    """Checks the arguments of a recurrent forward; returns (N, T or None, D, H).

    Args:
        x: (N, T, D) inputs when ``sequence``, else (N, D).
        h0: (N, H) initial (previous) hidden state.
        Wx: (D, gates * H); Wh: (H, gates * H); b: (bias * H,) with bias defaulting to gates.
    """
    as_float_array("x", x, ndim=3 if sequence else 2)
    as_float_array("h0" if sequence else "prev_h", h0, ndim=2)
    as_float_array("Wx", Wx, ndim=2)
    as_float_array("Wh", Wh, ndim=2)
    as_float_array("b", b, ndim=1)
    n, d = x.shape[0], x.shape[-1]
    h = h0.shape[1]
    name = "h0" if sequence else "prev_h"
    if h0.shape[0] != n:
        raise ShapeError(f"{name} must have {n} rows to match x {x.shape}, got {h0.shape}")
    if Wx.shape != (d, gates * h):
        raise ShapeError(f"Wx must have shape ({d}, {gates * h}) for x {x.shape} and {name} "
                         f"{h0.shape}, got {Wx.shape}")  # fmt: skip
    if Wh.shape != (h, gates * h):
        raise ShapeError(f"Wh must have shape ({h}, {gates * h}), got {Wh.shape}")
    nb = (gates if bias is None else bias) * h
    if b.shape != (nb,):
        raise ShapeError(f"b must have shape ({nb},), got {b.shape}")
    return n, (x.shape[1] if sequence else None), d, h


# ------------------------------------------------------------------------------ RNN
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One time step of a tanh RNN: next_h = tanh(x @ Wx + prev_h @ Wh + b).

    Args:
        x: (N, D) inputs; prev_h: (N, H) previous hidden state.
        Wx: (D, H) input-to-hidden weights; Wh: (H, H) hidden-to-hidden weights; b: (H,).

    Returns:
        next_h: (N, H) next hidden state.
        cache: (x, prev_h, Wx, Wh, next_h) for the backward pass.
    """
    check_recurrent(x, prev_h, Wx, Wh, b, gates=1, sequence=False)
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)  # (N, D) @ (D, H) + (N, H) @ (H, H) -> (N, H)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    """Backward pass of one RNN time step.

    Args:
        dnext_h: (N, H) gradient of the loss with respect to next_h.
        cache: from ``rnn_step_forward``.

    Returns:
        dx: (N, D); dprev_h: (N, H); dWx: (D, H); dWh: (H, H); db: (H,).
    """
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1.0 - next_h**2)  # (N, H) through tanh
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    """A tanh RNN over a whole sequence (the course's ``rnn_forward``).

    Args:
        x: (N, T, D) input sequences; h0: (N, H) initial hidden state.
        Wx: (D, H); Wh: (H, H); b: (H,).

    Returns:
        h: (N, T, H) hidden states of every time step.
        cache: for ``rnn_backward``.
    """
    n, t_len, d, h = check_recurrent(x, h0, Wx, Wh, b, gates=1, sequence=True)
    hs = (x.reshape(n * t_len, d) @ Wx + b).reshape(n, t_len, h)  # (N*T, D) @ (D, H) -> (N, T, H)
    hs = np.ascontiguousarray(hs.transpose(1, 0, 2))  # (T, N, H): one contiguous block per step
    prev = h0
    for t in range(t_len):
        a = hs[t]
        a += prev @ Wh  # (N, H) @ (H, H)
        prev = np.tanh(a, out=a)
    out = np.ascontiguousarray(hs.transpose(1, 0, 2))  # (N, T, H)
    return out, (x, h0, Wx, Wh, hs)


def rnn_backward(dh, cache):
    """Backpropagation through time for ``rnn_forward``.

    Args:
        dh: (N, T, H) upstream gradients of every hidden state.
        cache: from ``rnn_forward``.

    Returns:
        dx: (N, T, D); dh0: (N, H); dWx: (D, H); dWh: (H, H); db: (H,).
    """
    x, h0, Wx, Wh, hs = cache
    t_len, n, h = hs.shape
    d = x.shape[2]
    dhs = dh.transpose(1, 0, 2)  # (T, N, H) view
    da = np.empty_like(hs)  # (T, N, H) gradients of the pre-activations
    dprev = np.zeros_like(h0)
    for t in range(t_len - 1, -1, -1):
        g = dhs[t] + dprev
        np.multiply(g, 1.0 - hs[t] ** 2, out=da[t])
        dprev = da[t] @ Wh.T  # (N, H) @ (H, H)
    hprev = np.concatenate([h0[None], hs[:-1]], axis=0).reshape(t_len * n, h)  # (T*N, H)
    dWh = hprev.T @ da.reshape(t_len * n, h)
    da_nt = np.ascontiguousarray(da.transpose(1, 0, 2)).reshape(n * t_len, h)  # (N*T, H)
    dx = (da_nt @ Wx.T).reshape(n, t_len, d)  # (N*T, H) @ (H, D) -> (N, T, D)
    dWx = x.reshape(n * t_len, d).T @ da_nt  # (D, N*T) @ (N*T, H)
    return dx, dprev, dWx, dWh, da_nt.sum(axis=0)


# ------------------------------------------------------------------------ embedding
def word_embedding_forward(x, W):
    """Looks up word vectors: out[n, t] = W[x[n, t]].

    Args:
        x: (N, T) integer word indices in [0, V).
        W: (V, D) word vectors.

    Returns:
        out: (N, T, D).
        cache: (x, V) for the backward pass.
    """
    as_float_array("W", W, ndim=2)
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise TypeError(f"x must hold integer word indices, got dtype {x.dtype}")
    if x.size and (x.min() < 0 or x.max() >= W.shape[0]):
        raise ValueError(f"x must lie in [0, {W.shape[0]}) (the rows of W), got values in "
                         f"[{x.min()}, {x.max()}]")  # fmt: skip
    return W[x], (x, W.shape)


def word_embedding_backward(dout, cache):
    """Backward pass of the word embedding: rows of dW sum the gradients of their words.

    Args:
        dout: (N, T, D) upstream gradient.
        cache: from ``word_embedding_forward``.

    Returns:
        dW: (V, D).
    """
    x, shape = cache
    dW = np.zeros(shape, dtype=dout.dtype)
    np.add.at(dW, x.ravel(), dout.reshape(-1, shape[1]))  # (N*T, D) rows summed into (V, D)
    return dW


# ------------------------------------------------------------------ temporal affine
def temporal_affine_forward(x, w, b):
    """The same affine map at every time step.

    Args:
        x: (N, T, D); w: (D, M); b: (M,).

    Returns:
        out: (N, T, M).
        cache: (x, w, b, out).
    """
    as_float_array("x", x, ndim=3)
    as_float_array("w", w, ndim=2)
    as_float_array("b", b, ndim=1)
    n, t_len, d = x.shape
    if w.shape[0] != d or b.shape != (w.shape[1],):
        raise ShapeError(f"w must have shape ({d}, M) and b (M,) for x {x.shape}, got w "
                         f"{w.shape}, b {b.shape}")  # fmt: skip
    out = (x.reshape(n * t_len, d) @ w + b).reshape(n, t_len, -1)  # (N*T, D) @ (D, M)
    return out, (x, w, b, out)


def temporal_affine_backward(dout, cache):
    """Backward pass of ``temporal_affine_forward``.

    Returns:
        dx: (N, T, D); dw: (D, M); db: (M,).
    """
    x, w, _, _ = cache
    n, t_len, d = x.shape
    d2 = dout.reshape(n * t_len, -1)  # (N*T, M)
    dx = (d2 @ w.T).reshape(n, t_len, d)
    dw = x.reshape(n * t_len, d).T @ d2  # (D, N*T) @ (N*T, M)
    return dx, dw, d2.sum(axis=0)


# ------------------------------------------------------------------------------ loss
def temporal_softmax_loss(x, y, mask, verbose=False):
    """Softmax cross-entropy at every time step where ``mask`` is true, summed over time and
    averaged over the minibatch (the course's ``temporal_softmax_loss``).

    Args:
        x: (N, T, V) scores; y: (N, T) integer targets in [0, V); mask: (N, T) booleans, which
            elements count toward the loss.
        verbose: print the shape of dx (as the course does).

    Returns:
        loss: float.
        dx: (N, T, V) gradient of the loss with respect to x.
    """
    as_float_array("x", x, ndim=3)
    n, t_len, v = x.shape
    if n == 0:
        raise ShapeError(f"x must hold at least one sequence's scores, got shape {x.shape}")
    y, mask = np.asarray(y), np.asarray(mask)
    if y.shape != (n, t_len) or mask.shape != (n, t_len):
        raise ShapeError(f"y and mask must have shape ({n}, {t_len}) to match x {x.shape}, got "
                         f"{y.shape} and {mask.shape}")  # fmt: skip
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer targets, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= v):
        raise ValueError(f"y must lie in [0, {v}), got values in [{y.min()}, {y.max()}]")
    x2 = x.reshape(n * t_len, v)  # (N*T, V)
    y2, m2 = y.ravel(), mask.ravel().astype(x.dtype)
    shifted = x2 - x2.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n * t_len)
    loss = -np.sum(m2 * log_probs[rows, y2]) / n
    dx = np.exp(log_probs)
    dx[rows, y2] -= 1.0
    dx *= m2[:, None] / n
    if verbose:
        print("dx_flat: ", dx.shape)
    return float(loss), dx.reshape(n, t_len, v)

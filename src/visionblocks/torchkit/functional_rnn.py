"""Torch twins of the recurrent layers (``layers/rnn.py``, ``layers/lstm.py``, the decoder's
``layers/additive_attention.py``), and the same
layers computed by torch's own modules (``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` and their cells)
from our weight layout, the independent references of the parity tables.

The twins take the NumPy forwards' arguments and return their outputs; autograd does the
backward pass. ``lstm_step`` returns ``(next_h, next_c)``. The ``nn_*`` functions map our
weights onto torch's layout (torch's LSTM orders the gates i, f, g, o, ours i, f, o, g; torch
has two biases, ours one, two for the GRU's n gate, see ``layers/lstm.py``) and run the module
through ``torch.func.functional_call``, so gradients flow back to our tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

__all__ = [
    "additive_attention",
    "gru",
    "gru_step",
    "lstm",
    "lstm_step",
    "lstm_to_torch_order",
    "nn_gru",
    "nn_gru_step",
    "nn_lstm",
    "nn_lstm_step",
    "nn_rnn",
    "nn_rnn_step",
    "rnn",
    "rnn_step",
    "temporal_affine",
    "temporal_softmax_loss",
    "word_embedding",
]


# ------------------------------------------------------------------- explicit twins
def rnn_step(x, prev_h, Wx, Wh, b):
    """next_h = tanh(x @ Wx + prev_h @ Wh + b); x (N, D), prev_h (N, H)."""
    return torch.tanh(x @ Wx + prev_h @ Wh + b)


def rnn(x, h0, Wx, Wh, b):
    """tanh RNN over (N, T, D) inputs from h0 (N, H); returns (N, T, H)."""
    xw = x @ Wx + b  # (N, T, H)
    h, out = h0, []
    for t in range(x.shape[1]):
        h = torch.tanh(xw[:, t] + h @ Wh)
        out.append(h)
    return torch.stack(out, dim=1)


def _lstm_cell(a, prev_c):
    h = prev_c.shape[1]
    i, f, o = torch.sigmoid(a[:, : 3 * h]).split(h, dim=1)
    g = torch.tanh(a[:, 3 * h :])
    c = f * prev_c + i * g
    return o * torch.tanh(c), c


def lstm_step(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step with the course's gate order i, f, o, g; returns (next_h, next_c)."""
    return _lstm_cell(x @ Wx + prev_h @ Wh + b, prev_c)


def lstm(x, h0, Wx, Wh, b):
    """LSTM over (N, T, D) from h0 (N, H) and c0 = 0; returns (N, T, H)."""
    xw = x @ Wx + b  # (N, T, 4H)
    h, c, out = h0, torch.zeros_like(h0), []
    for t in range(x.shape[1]):
        h, c = _lstm_cell(xw[:, t] + h @ Wh, c)
        out.append(h)
    return torch.stack(out, dim=1)


def _gru_cell(ax, ah, prev_h):
    h = prev_h.shape[1]
    r = torch.sigmoid(ax[:, :h] + ah[:, :h])
    z = torch.sigmoid(ax[:, h : 2 * h] + ah[:, h : 2 * h])
    n = torch.tanh(ax[:, 2 * h :] + r * ah[:, 2 * h :])
    return (1 - z) * n + z * prev_h


def _gru_hidden(prev_h, Wh, b):
    h = prev_h.shape[1]
    bh = torch.cat([torch.zeros_like(b[: 2 * h]), b[3 * h :]])
    return prev_h @ Wh + bh


def gru_step(x, prev_h, Wx, Wh, b):
    """One GRU step (torch.nn.GRU's equations; b (4H,) = [b_r, b_z, b_in, b_hn])."""
    h = prev_h.shape[1]
    return _gru_cell(x @ Wx + b[: 3 * h], _gru_hidden(prev_h, Wh, b), prev_h)


def gru(x, h0, Wx, Wh, b):
    """GRU over (N, T, D) from h0 (N, H); returns (N, T, H)."""
    h_dim = h0.shape[1]
    ax = x @ Wx + b[: 3 * h_dim]  # (N, T, 3H)
    h, out = h0, []
    for t in range(x.shape[1]):
        h = _gru_cell(ax[:, t], _gru_hidden(h, Wh, b), h)
        out.append(h)
    return torch.stack(out, dim=1)


def word_embedding(x, W):
    """out[n, t] = W[x[n, t]]; x (N, T) integer indices, W (V, D)."""
    return W[torch.as_tensor(x, device=W.device).long()]


def temporal_affine(x, w, b):
    """(N, T, D) @ (D, M) + b at every step; returns (N, T, M)."""
    return x @ w + b


def temporal_softmax_loss(x, y, mask):
    """Masked softmax cross-entropy summed over time, divided by N (the course's loss).

    Args:
        x: (N, T, V) scores; y: (N, T) integer targets; mask: (N, T) booleans.
    """
    n, t, v = x.shape
    y = torch.as_tensor(y, device=x.device).long().reshape(n * t)
    mask = torch.as_tensor(mask, device=x.device).reshape(n * t).to(x.dtype)
    losses = F.cross_entropy(x.reshape(n * t, v), y, reduction="none")
    return (losses * mask).sum() / n


def additive_attention(a, pa, h, W_ha, b_att, w_att):
    """Additive attention (``layers/additive_attention.py``); returns (context, alpha)."""
    e = torch.tanh(pa + (h @ W_ha + b_att)[:, None, :]) @ w_att  # (N, L)
    alpha = torch.softmax(e, dim=1)
    return torch.einsum("nl,nld->nd", alpha, a), alpha


# ---------------------------------------------------------- torch's own modules
def lstm_to_torch_order(w):
    """Reorders the last axis of an LSTM weight/bias from ours (i, f, o, g) to torch's
    (i, f, g, o); the map is its own inverse."""
    h = w.shape[-1] // 4
    i, f, o, g = w.split(h, dim=-1)
    return torch.cat([i, f, g, o], dim=-1)


def _call(module, weights, *args):
    return functional_call(module, weights, args)


def _rnn_module(cls, x, h0, **kw):
    return cls(x.shape[-1], h0.shape[1], dtype=x.dtype, device=x.device, **kw)


def _weights(Wx, Wh, b_ih, b_hh, suffix=""):
    return {f"weight_ih{suffix}": Wx.T, f"weight_hh{suffix}": Wh.T,
            f"bias_ih{suffix}": b_ih, f"bias_hh{suffix}": b_hh}  # fmt: skip


def _gru_biases(b):
    h = b.shape[0] // 4
    return b[: 3 * h], torch.cat([torch.zeros_like(b[: 2 * h]), b[3 * h :]])


def nn_rnn_step(x, prev_h, Wx, Wh, b):
    """``rnn_step`` computed by ``nn.RNNCell`` (tanh)."""
    cell = _rnn_module(nn.RNNCell, x, prev_h)
    return _call(cell, _weights(Wx, Wh, b, torch.zeros_like(b)), x, prev_h)


def nn_rnn(x, h0, Wx, Wh, b):
    """``rnn`` computed by ``nn.RNN(nonlinearity='tanh', batch_first=True)``."""
    module = _rnn_module(nn.RNN, x, h0, batch_first=True)
    w = _weights(Wx, Wh, b, torch.zeros_like(b), "_l0")
    return _call(module, w, x, h0[None])[0]


def nn_lstm_step(x, prev_h, prev_c, Wx, Wh, b):
    """``lstm_step`` computed by ``nn.LSTMCell``; returns (next_h, next_c)."""
    cell = _rnn_module(nn.LSTMCell, x, prev_h)
    bt = lstm_to_torch_order(b)
    w = _weights(lstm_to_torch_order(Wx), lstm_to_torch_order(Wh), bt, torch.zeros_like(bt))
    return _call(cell, w, x, (prev_h, prev_c))


def nn_lstm(x, h0, Wx, Wh, b):
    """``lstm`` computed by ``nn.LSTM(batch_first=True)`` with c0 = 0."""
    module = _rnn_module(nn.LSTM, x, h0, batch_first=True)
    bt = lstm_to_torch_order(b)
    w = _weights(lstm_to_torch_order(Wx), lstm_to_torch_order(Wh), bt, torch.zeros_like(bt),
                 "_l0")  # fmt: skip
    return _call(module, w, x, (h0[None], torch.zeros_like(h0)[None]))[0]


def nn_gru_step(x, prev_h, Wx, Wh, b):
    """``gru_step`` computed by ``nn.GRUCell``."""
    cell = _rnn_module(nn.GRUCell, x, prev_h)
    return _call(cell, _weights(Wx, Wh, *_gru_biases(b)), x, prev_h)


def nn_gru(x, h0, Wx, Wh, b):
    """``gru`` computed by ``nn.GRU(batch_first=True)``."""
    module = _rnn_module(nn.GRU, x, h0, batch_first=True)
    return _call(module, _weights(Wx, Wh, *_gru_biases(b), "_l0"), x, h0[None])[0]

"""Gated recurrent layers: the LSTM under the course's names (gates i, f, o, g; c0 = 0) and the
GRU with torch.nn.GRU's equations, one step and over a sequence.

LSTM (the course's layout): ``a = x @ Wx + h @ Wh + b`` with ``Wx (D, 4H)``, ``Wh (H, 4H)``,
``b (4H,)``, split in the order i, f, o, g; ``i, f, o = sigmoid(a_i, a_f, a_o)``,
``g = tanh(a_g)``, ``c' = f * c + i * g``, ``h' = o * tanh(c')``. (torch.nn.LSTM orders the
gates i, f, g, o and has two biases: its ``weight_ih = Wx[:, (i, f, g, o)].T``.)

GRU (beyond the course), defined to equal torch.nn.GRU: ``Wx (D, 3H)``, ``Wh (H, 3H)`` with the
gates in the order r, z, n, and ``b (4H,) = [b_r, b_z, b_in, b_hn]``::

    r  = sigmoid(x @ Wx_r + h @ Wh_r + b_r)
    z  = sigmoid(x @ Wx_z + h @ Wh_z + b_z)
    n  = tanh(x @ Wx_n + b_in + r * (h @ Wh_n + b_hn))
    h' = (1 - z) * n + z * h

torch's two biases map as ``bias_ih = [b_r, b_z, b_in]`` and ``bias_hh = [0, 0, b_hn]`` (torch's
``b_ir + b_hr`` is one parameter here, which changes nothing the network can compute); b_hn
must stay separate because the reset gate multiplies it.

The sequence forwards precompute ``x @ Wx + b`` for every step in one matmul; the backwards
collect the pre-activation gradients of all steps and do ``dx``, ``dWx``, ``dWh`` and ``db`` as
one big matmul each after the time loop, so the loop only does the ``(N, H) @ (H, kH)`` products
and the element-wise gate algebra.
"""

from __future__ import annotations

import numpy as np

from visionblocks.errors import ShapeError
from visionblocks.layers.rnn import check_recurrent, sigmoid

__all__ = [
    "gru_backward",
    "gru_forward",
    "gru_step_backward",
    "gru_step_forward",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
]


# ----------------------------------------------------------------------------- LSTM
def _lstm_gates(a, h):
    """Activates (N, 4H) pre-activations in place: sigmoid on i, f, o, tanh on g."""
    sigmoid(a[:, : 3 * h], out=a[:, : 3 * h])
    np.tanh(a[:, 3 * h :], out=a[:, 3 * h :])
    return a


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM time step (gates i, f, o, g; see the module docstring).

    Args:
        x: (N, D) inputs; prev_h: (N, H) previous hidden state; prev_c: (N, H) previous cell.
        Wx: (D, 4H); Wh: (H, 4H); b: (4H,).

    Returns:
        next_h: (N, H); next_c: (N, H).
        cache: for ``lstm_step_backward``.
    """
    n, _, _, h = check_recurrent(x, prev_h, Wx, Wh, b, gates=4, sequence=False)
    if np.shape(prev_c) != (n, h):
        raise ShapeError(f"prev_c must have shape ({n}, {h}) like prev_h, got {np.shape(prev_c)}")
    gates = _lstm_gates(x @ Wx + prev_h @ Wh + b, h)  # (N, 4H): i, f, o, g
    i, f, o, g = gates[:, :h], gates[:, h : 2 * h], gates[:, 2 * h : 3 * h], gates[:, 3 * h :]
    next_c = f * prev_c + i * g
    tc = np.tanh(next_c)
    next_h = o * tc
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, gates, tc)


def _lstm_step_grads(dh, dc, prev_c, gates, tc, h, da):
    """Gradients of one LSTM step's pre-activations, written into da (N, 4H).

    Args:
        dh, dc: (N, H) total gradients of the step's h and c outputs.
    Returns:
        dprev_c: (N, H).
    """
    i, f, o, g = gates[:, :h], gates[:, h : 2 * h], gates[:, 2 * h : 3 * h], gates[:, 3 * h :]
    dc = dc + dh * o * (1.0 - tc * tc)  # through h = o * tanh(c)
    np.multiply(dc * g, i * (1.0 - i), out=da[:, :h])  # a_i
    np.multiply(dc * prev_c, f * (1.0 - f), out=da[:, h : 2 * h])  # a_f
    np.multiply(dh * tc, o * (1.0 - o), out=da[:, 2 * h : 3 * h])  # a_o
    np.multiply(dc * i, 1.0 - g * g, out=da[:, 3 * h :])  # a_g
    return dc * f


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward pass of one LSTM time step.

    Args:
        dnext_h: (N, H); dnext_c: (N, H) upstream gradients.
        cache: from ``lstm_step_forward``.

    Returns:
        dx: (N, D); dprev_h: (N, H); dprev_c: (N, H); dWx: (D, 4H); dWh: (H, 4H); db: (4H,).
    """
    x, prev_h, prev_c, Wx, Wh, gates, tc = cache
    h = prev_h.shape[1]
    da = np.empty_like(gates)
    dprev_c = _lstm_step_grads(dnext_h, dnext_c, prev_c, gates, tc, h, da)
    return da @ Wx.T, da @ Wh.T, dprev_c, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b):
    """An LSTM over a whole sequence, with initial cell state c0 = 0 (the course's).

    The i, f, o columns of the weights are halved first (exact in floating point), so one
    ``tanh`` over all 4H pre-activations gives ``tanh(a_g)`` and ``tanh(a / 2)`` for the gates,
    and ``sigmoid(a) = 0.5 * tanh(a / 2) + 0.5``.

    Args:
        x: (N, T, D) inputs; h0: (N, H) initial hidden state.
        Wx: (D, 4H); Wh: (H, 4H); b: (4H,).

    Returns:
        h: (N, T, H) hidden states.
        cache: for ``lstm_backward``.
    """
    n, t_len, d, h = check_recurrent(x, h0, Wx, Wh, b, gates=4, sequence=True)
    dtype = np.result_type(x.dtype, Wx.dtype, Wh.dtype, b.dtype)
    half = np.ones(4 * h, dtype=dtype)
    half[: 3 * h] = 0.5
    Wh_half = Wh * half
    xt = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, N, D) time-major
    gates = (xt.reshape(t_len * n, d) @ (Wx * half)).reshape(t_len, n, 4 * h)  # (T, N, 4H)
    gates += b * half
    cs = np.empty((t_len, n, h), dtype=dtype)  # cell states
    tcs = np.empty((t_len, n, h), dtype=dtype)  # tanh of the cell states
    hs = np.empty((t_len + 1, n, h), dtype=dtype)  # hs[0] = h0, hs[t + 1] = h_t
    hs[0] = h0
    prev_c = np.zeros((n, h), dtype=dtype)
    tmp = np.empty((n, h), dtype=dtype)
    rec = np.empty((n, 4 * h), dtype=dtype)
    for t in range(t_len):
        g_t = gates[t]
        g_t += np.matmul(hs[t], Wh_half, out=rec)  # (N, H) @ (H, 4H)
        np.tanh(g_t, out=g_t)
        sig = g_t[:, : 3 * h]
        sig *= 0.5
        sig += 0.5  # i, f, o = sigmoid; g = tanh
        c = cs[t]
        np.multiply(g_t[:, h : 2 * h], prev_c, out=c)  # f * c
        np.multiply(g_t[:, :h], g_t[:, 3 * h :], out=tmp)  # i * g
        c += tmp
        np.tanh(c, out=tcs[t])
        np.multiply(g_t[:, 2 * h : 3 * h], tcs[t], out=hs[t + 1])  # o * tanh(c)
        prev_c = c
    out = np.ascontiguousarray(hs[1:].transpose(1, 0, 2))  # (N, T, H)
    return out, (xt, Wx, Wh, gates, cs, tcs, hs)


def lstm_backward(dh, cache):
    """Backpropagation through time for ``lstm_forward``.

    Args:
        dh: (N, T, H) upstream gradients of every hidden state.
        cache: from ``lstm_forward``.

    Returns:
        dx: (N, T, D); dh0: (N, H); dWx: (D, 4H); dWh: (H, 4H); db: (4H,).
    """
    xt, Wx, Wh, gates, cs, tcs, hs = cache
    t_len, n, d = xt.shape
    h = hs.shape[2]
    dhs = dh.transpose(1, 0, 2)  # (T, N, H) view
    da = np.empty_like(gates)  # (T, N, 4H) pre-activation gradients of every step
    dprev_h = np.zeros((n, h), dtype=gates.dtype)
    dprev_c = np.zeros((n, h), dtype=gates.dtype)
    zeros = np.zeros((n, h), dtype=gates.dtype)
    WhT = np.ascontiguousarray(Wh.T)  # (4H, H)
    for t in range(t_len - 1, -1, -1):
        prev_c = cs[t - 1] if t else zeros
        dprev_c = _lstm_step_grads(dhs[t] + dprev_h, dprev_c, prev_c, gates[t], tcs[t], h, da[t])
        dprev_h = da[t] @ WhT  # (N, 4H) @ (4H, H)
    da2 = da.reshape(t_len * n, 4 * h)  # (T*N, 4H), every step in one matmul below
    dWh = hs[:-1].reshape(t_len * n, h).T @ da2  # (H, T*N) @ (T*N, 4H)
    dWx = xt.reshape(t_len * n, d).T @ da2  # (D, T*N) @ (T*N, 4H)
    dxt = (da2 @ Wx.T).reshape(t_len, n, d)  # (T*N, 4H) @ (4H, D) -> (T, N, D)
    dx = np.ascontiguousarray(dxt.transpose(1, 0, 2))  # (N, T, D)
    return dx, dprev_h, dWx, dWh, da2.sum(axis=0)


# ------------------------------------------------------------------------------ GRU
def _gru_gates(ax, ah, prev_h, h):
    """From ax = x @ Wx + b[:3H] and ah = h @ Wh + [0, 0, b_hn]: r, z, n and the next h."""
    r = sigmoid(ax[:, :h] + ah[:, :h])
    z = sigmoid(ax[:, h : 2 * h] + ah[:, h : 2 * h])
    nn = np.tanh(ax[:, 2 * h :] + r * ah[:, 2 * h :])
    return r, z, nn, nn + z * (prev_h - nn)  # (1 - z) * n + z * h


def _gru_step_grads(dh, prev_h, r, z, nn, hn, h, dax, dah):
    """Writes one GRU step's pre-activation gradients into dax, dah (N, 3H); returns the part
    of dprev_h that does not go through Wh."""
    dn = dh * (1.0 - z)
    np.multiply(dn, 1.0 - nn * nn, out=dax[:, 2 * h :])  # a_n (input side)
    np.multiply(dax[:, 2 * h :], r, out=dah[:, 2 * h :])  # hidden side of n, incl. b_hn
    np.multiply(dax[:, 2 * h :] * hn, r * (1.0 - r), out=dax[:, :h])  # a_r
    np.multiply(dh * (prev_h - nn), z * (1.0 - z), out=dax[:, h : 2 * h])  # a_z
    dah[:, : 2 * h] = dax[:, : 2 * h]
    return dh * z


def gru_step_forward(x, prev_h, Wx, Wh, b):
    """One GRU time step with torch.nn.GRU's equations (see the module docstring).

    Args:
        x: (N, D); prev_h: (N, H); Wx: (D, 3H); Wh: (H, 3H) (gates r, z, n);
        b: (4H,) = [b_r, b_z, b_in, b_hn].

    Returns:
        next_h: (N, H).
        cache: for ``gru_step_backward``.
    """
    _, _, _, h = check_recurrent(x, prev_h, Wx, Wh, b, gates=3, sequence=False, bias=4)
    ax = x @ Wx + b[: 3 * h]  # (N, 3H)
    ah = prev_h @ Wh  # (N, 3H)
    ah[:, 2 * h :] += b[3 * h :]
    r, z, nn, next_h = _gru_gates(ax, ah, prev_h, h)
    return next_h, (x, prev_h, Wx, Wh, r, z, nn, ah[:, 2 * h :])


def gru_step_backward(dnext_h, cache):
    """Backward pass of one GRU time step.

    Returns:
        dx: (N, D); dprev_h: (N, H); dWx: (D, 3H); dWh: (H, 3H); db: (4H,).
    """
    x, prev_h, Wx, Wh, r, z, nn, hn = cache
    n, h = prev_h.shape
    dax = np.empty((n, 3 * h), dtype=r.dtype)
    dah = np.empty_like(dax)
    dprev = _gru_step_grads(dnext_h, prev_h, r, z, nn, hn, h, dax, dah) + dah @ Wh.T
    db = np.concatenate([dax.sum(axis=0), dah[:, 2 * h :].sum(axis=0)])
    return dax @ Wx.T, dprev, x.T @ dax, prev_h.T @ dah, db


def gru_forward(x, h0, Wx, Wh, b):
    """A GRU over a whole sequence (torch.nn.GRU's equations).

    Args:
        x: (N, T, D); h0: (N, H); Wx: (D, 3H); Wh: (H, 3H); b: (4H,).

    Returns:
        h: (N, T, H).
        cache: for ``gru_backward``.
    """
    n, t_len, d, h = check_recurrent(x, h0, Wx, Wh, b, gates=3, sequence=True, bias=4)
    ax = (x.reshape(n * t_len, d) @ Wx + b[: 3 * h]).reshape(n, t_len, 3 * h)  # (N, T, 3H)
    ax = np.ascontiguousarray(ax.transpose(1, 0, 2))  # (T, N, 3H)
    dtype = ax.dtype
    rs, zs, ns, hns, hs = (np.empty((t_len, n, h), dtype=dtype) for _ in range(5))
    prev = h0
    for t in range(t_len):
        ah = prev @ Wh  # (N, H) @ (H, 3H)
        ah[:, 2 * h :] += b[3 * h :]
        rs[t], zs[t], ns[t], hs[t] = _gru_gates(ax[t], ah, prev, h)
        hns[t] = ah[:, 2 * h :]
        prev = hs[t]
    out = np.ascontiguousarray(hs.transpose(1, 0, 2))  # (N, T, H)
    return out, (x, h0, Wx, Wh, rs, zs, ns, hns, hs)


def gru_backward(dh, cache):
    """Backpropagation through time for ``gru_forward``.

    Returns:
        dx: (N, T, D); dh0: (N, H); dWx: (D, 3H); dWh: (H, 3H); db: (4H,).
    """
    x, h0, Wx, Wh, rs, zs, ns, hns, hs = cache
    t_len, n, h = hs.shape
    d = x.shape[2]
    dhs = dh.transpose(1, 0, 2)  # (T, N, H) view
    dax = np.empty((t_len, n, 3 * h), dtype=hs.dtype)
    dah = np.empty_like(dax)
    h0 = h0.astype(hs.dtype, copy=False)
    dprev = np.zeros((n, h), dtype=hs.dtype)
    WhT = np.ascontiguousarray(Wh.T)  # (3H, H)
    for t in range(t_len - 1, -1, -1):
        prev = hs[t - 1] if t else h0
        direct = _gru_step_grads(dhs[t] + dprev, prev, rs[t], zs[t], ns[t], hns[t], h,
                                 dax[t], dah[t])  # fmt: skip
        dprev = direct + dah[t] @ WhT
    hprev = np.concatenate([h0[None], hs[:-1]]).reshape(t_len * n, h)  # (T*N, H)
    dah2 = dah.reshape(t_len * n, 3 * h)
    dWh = hprev.T @ dah2
    dax_nt = np.ascontiguousarray(dax.transpose(1, 0, 2)).reshape(n * t_len, 3 * h)
    dx = (dax_nt @ Wx.T).reshape(n, t_len, d)  # (N*T, 3H) @ (3H, D)
    dWx = x.reshape(n * t_len, d).T @ dax_nt
    db = np.concatenate([dax_nt.sum(axis=0), dah2[:, 2 * h :].sum(axis=0)])
    return dx, dprev, dWx, dWh, db

"""NumPy RNN/LSTM/GRU against torch.nn.RNN(tanh)/LSTM/GRU in float64, to 1e-10: outputs and
every gradient (dx, dh0, dWx, dWh, db), with our weights copied into torch's own modules
(LSTM gates reordered i, f, o, g -> i, f, g, o; torch's two biases)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionblocks.layers import (  # noqa: E402
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)

pytestmark = pytest.mark.torch
torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend
TOL = 1e-10
N, T, D, H = 4, 7, 5, 6


def _perm(h):
    """Column order of torch's LSTM gates (i, f, g, o) in ours (i, f, o, g)."""
    return np.r_[0 : 2 * h, 3 * h : 4 * h, 2 * h : 3 * h]


def _to_torch(cell, Wx, Wh, b):
    """Our weights as nn.<cell>'s (weight_ih, weight_hh, bias_ih, bias_hh)."""
    if cell == "lstm":
        p = _perm(H)
        return Wx[:, p].T, Wh[:, p].T, b[p], np.zeros(4 * H)
    if cell == "gru":
        return Wx.T, Wh.T, b[: 3 * H], np.r_[np.zeros(2 * H), b[3 * H :]]
    return Wx.T, Wh.T, b, np.zeros(H)


def _grads_from_torch(cell, m):
    """nn.<cell>'s parameter gradients in our layout (dWx, dWh, db)."""
    g_ih, g_hh = m.weight_ih_l0.grad.numpy(), m.weight_hh_l0.grad.numpy()
    gb_ih, gb_hh = m.bias_ih_l0.grad.numpy(), m.bias_hh_l0.grad.numpy()
    if cell == "lstm":  # our b is torch's bias_ih (bias_hh is held at zero)
        inv = np.argsort(_perm(H))
        return g_ih.T[:, inv], g_hh.T[:, inv], gb_ih[inv]
    if cell == "gru":  # b = [b_r, b_z, b_in] (torch's bias_ih) + b_hn (the end of bias_hh)
        return g_ih.T, g_hh.T, np.r_[gb_ih, gb_hh[2 * H :]]
    return g_ih.T, g_hh.T, gb_ih


CELLS = {
    "rnn": (rnn_forward, rnn_backward, 1, 1, lambda: torch.nn.RNN(D, H, nonlinearity="tanh")),
    "lstm": (lstm_forward, lstm_backward, 4, 4, lambda: torch.nn.LSTM(D, H)),
    "gru": (gru_forward, gru_backward, 3, 4, lambda: torch.nn.GRU(D, H)),
}


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_numpy_cell_equals_torch_nn_outputs_and_every_gradient(rng, cell):
    fwd, bwd, k, kb, make = CELLS[cell]
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh = rng.standard_normal((D, k * H)), rng.standard_normal((H, k * H))
    b = rng.standard_normal(kb * H)
    h, cache = fwd(x, h0, Wx, Wh, b)
    dout = rng.standard_normal(h.shape)
    dx, dh0, dWx, dWh, db = bwd(dout, cache)

    m = make().double()
    m.batch_first = True
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               _to_torch(cell, Wx, Wh, b)):  # fmt: skip
            getattr(m, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    tx = torch.tensor(x, requires_grad=True)
    th0 = torch.tensor(h0[None], requires_grad=True)
    state = (th0, torch.zeros_like(th0)) if cell == "lstm" else th0
    out, _ = m(tx, state)
    out.backward(torch.from_numpy(dout))

    np.testing.assert_allclose(h, out.detach().numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(dh0, th0.grad.numpy()[0], rtol=0, atol=TOL)
    for name, ours, theirs in zip(("dWx", "dWh", "db"), (dWx, dWh, db),
                                  _grads_from_torch(cell, m)):  # fmt: skip
        scale = max(1.0, np.abs(theirs).max())
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOL * scale, err_msg=name)

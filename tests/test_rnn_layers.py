"""The recurrent layers through the public API: the course notebooks' expected values
(RNN_Captioning / LSTM_Captioning), sequences against loops of their steps, and clear errors.
The gradient checks and torch parity of every pair are rows of the registry tables
(tests/test_gradcheck.py, test_parity.py, test_bridge.py); torch.nn equality is in
tests/test_rnn_torch.py."""

import numpy as np
import pytest

from course import course_rs
from visionblocks.errors import ShapeError
from visionblocks.gradcheck import eval_numerical_gradient, rel_error
from visionblocks.layers import (
    gru_backward,
    gru_forward,
    gru_step_backward,
    gru_step_forward,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_forward,
)


def lin(a, b, *shape):
    return np.linspace(a, b, num=int(np.prod(shape))).reshape(shape)


# ------------------------------------------------------------ the notebooks' values
def test_rnn_step_forward_matches_the_course():
    N, D, H = 3, 10, 4
    next_h, _ = rnn_step_forward(lin(-0.4, 0.7, N, D), lin(-0.2, 0.5, N, H),
                                 lin(-0.1, 0.9, D, H), lin(-0.3, 0.7, H, H),
                                 lin(-0.2, 0.4, H))  # fmt: skip
    expected_next_h = np.asarray([
        [-0.58172089, -0.50182032, -0.41232771, -0.31410098],
        [0.66854692, 0.79562378, 0.87755553, 0.92795967],
        [0.97934501, 0.99144213, 0.99646691, 0.99854353]])  # fmt: skip
    assert rel_error(expected_next_h, next_h) < 1e-8


def test_rnn_forward_matches_the_course():
    N, T, D, H = 2, 3, 4, 5
    h, _ = rnn_forward(lin(-0.1, 0.3, N, T, D), lin(-0.3, 0.1, N, H), lin(-0.2, 0.4, D, H),
                       lin(-0.4, 0.1, H, H), lin(-0.7, 0.1, H))  # fmt: skip
    expected_h = np.asarray([
        [[-0.42070749, -0.27279261, -0.11074945, 0.05740409, 0.22236251],
         [-0.39525808, -0.22554661, -0.0409454, 0.14649412, 0.32397316],
         [-0.42305111, -0.24223728, -0.04287027, 0.15997045, 0.35014525]],
        [[-0.55857474, -0.39065825, -0.19198182, 0.02378408, 0.23735671],
         [-0.27150199, -0.07088804, 0.13562939, 0.33099728, 0.50158768],
         [-0.51014825, -0.30524429, -0.06755202, 0.17806392, 0.40333043]]])  # fmt: skip
    assert rel_error(expected_h, h) < 1e-7


def test_word_embedding_forward_matches_the_course():
    V, D = 5, 3
    out, _ = word_embedding_forward(np.asarray([[0, 3, 1, 2], [2, 1, 0, 3]]), lin(0, 1, V, D))
    expected_out = np.asarray([
        [[0.0, 0.07142857, 0.14285714], [0.64285714, 0.71428571, 0.78571429],
         [0.21428571, 0.28571429, 0.35714286], [0.42857143, 0.5, 0.57142857]],
        [[0.42857143, 0.5, 0.57142857], [0.21428571, 0.28571429, 0.35714286],
         [0.0, 0.07142857, 0.14285714], [0.64285714, 0.71428571, 0.78571429]]])  # fmt: skip
    assert rel_error(expected_out, out) < 1e-7


def test_lstm_step_forward_matches_the_course():
    N, D, H = 3, 4, 5
    next_h, next_c, _ = lstm_step_forward(
        lin(-0.4, 1.2, N, D), lin(-0.3, 0.7, N, H), lin(-0.4, 0.9, N, H),
        lin(-2.1, 1.3, D, 4 * H), lin(-0.7, 2.2, H, 4 * H), lin(0.3, 0.7, 4 * H))  # fmt: skip
    expected_next_h = np.asarray([
        [0.24635157, 0.28610883, 0.32240467, 0.35525807, 0.38474904],
        [0.49223563, 0.55611431, 0.61507696, 0.66844003, 0.7159181],
        [0.56735664, 0.66310127, 0.74419266, 0.80889665, 0.858299]])  # fmt: skip
    expected_next_c = np.asarray([
        [0.32986176, 0.39145139, 0.451556, 0.51014116, 0.56717407],
        [0.66382255, 0.76674007, 0.87195994, 0.97902709, 1.08751345],
        [0.74192008, 0.90592151, 1.07717006, 1.25120233, 1.42395676]])  # fmt: skip
    assert rel_error(expected_next_h, next_h) < 1e-8
    assert rel_error(expected_next_c, next_c) < 1e-8


def test_lstm_forward_matches_the_course():
    N, D, H, T = 2, 5, 4, 3
    h, _ = lstm_forward(lin(-0.4, 0.6, N, T, D), lin(-0.4, 0.8, N, H), lin(-0.2, 0.9, D, 4 * H),
                        lin(-0.3, 0.6, H, 4 * H), lin(0.2, 0.7, 4 * H))  # fmt: skip
    expected_h = np.asarray([
        [[0.01764008, 0.01823233, 0.01882671, 0.0194232],
         [0.11287491, 0.12146228, 0.13018446, 0.13902939],
         [0.31358768, 0.33338627, 0.35304453, 0.37250975]],
        [[0.45767879, 0.4761092, 0.4936887, 0.51041945],
         [0.6704845, 0.69350089, 0.71486014, 0.7346449],
         [0.81733511, 0.83677871, 0.85403753, 0.86935314]]])  # fmt: skip
    assert rel_error(expected_h, h) < 1e-7


def test_temporal_softmax_loss_sanity_values_as_the_course():
    rs = course_rs()

    def check_loss(N, T, V, p):
        x = 0.001 * rs.randn(N, T, V)
        y = rs.randint(V, size=(N, T))
        mask = rs.rand(N, T) <= p
        return temporal_softmax_loss(x, y, mask)[0]

    assert check_loss(100, 1, 10, 1.0) == pytest.approx(np.log(10), abs=0.01)  # about 2.3
    assert check_loss(100, 10, 10, 1.0) == pytest.approx(10 * np.log(10), abs=0.1)  # about 23
    assert 2.2 < check_loss(5000, 10, 10, 0.1) < 2.4  # about 2.3


def test_temporal_softmax_loss_gradient_as_the_notebook(rng):
    N, T, V = 7, 8, 9
    x = rng.standard_normal((N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = rng.random((N, T)) > 0.5
    loss, dx = temporal_softmax_loss(x, y, mask, verbose=False)
    num = eval_numerical_gradient(lambda v: temporal_softmax_loss(v, y, mask)[0], x, verbose=False)
    assert rel_error(dx, num) < 1e-7
    assert np.all(dx[~mask] == 0)


def test_temporal_softmax_loss_verbose_prints_the_shape(rng, capsys):
    temporal_softmax_loss(rng.standard_normal((2, 3, 4)), np.zeros((2, 3), int),
                          np.ones((2, 3), bool), verbose=True)  # fmt: skip
    assert "(6, 4)" in capsys.readouterr().out


# --------------------------------------------------- sequences = loops of their steps
def _seq_args(rng, gates, bias=None, N=3, T=5, D=4, H=6):
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            0.5 * rng.standard_normal((D, gates * H)), 0.5 * rng.standard_normal((H, gates * H)),
            0.5 * rng.standard_normal((bias or gates) * H))  # fmt: skip


def _loop(step, step_back, x, h0, Wx, Wh, b, dout, lstm=False):
    """Runs the step pair over time, returns (h, dx, dh0, dWx, dWh, db)."""
    T = x.shape[1]
    h, c, hs, caches = h0, np.zeros_like(h0), [], []
    for t in range(T):
        if lstm:
            h, c, cache = step(x[:, t], h, c, Wx, Wh, b)
        else:
            h, cache = step(x[:, t], h, Wx, Wh, b)
        hs.append(h)
        caches.append(cache)
    grads = [np.zeros_like(a) for a in (Wx, Wh, b)]
    dx = np.zeros_like(x)
    dh, dc = np.zeros_like(h0), np.zeros_like(h0)
    for t in reversed(range(T)):
        if lstm:
            dx[:, t], dh, dc, *g = step_back(dout[:, t] + dh, dc, caches[t])
        else:
            dx[:, t], dh, *g = step_back(dout[:, t] + dh, caches[t])
        for acc, gi in zip(grads, g):
            acc += gi
    return np.stack(hs, axis=1), dx, dh, *grads


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_vectorised_sequence_equals_the_loop_of_its_steps(rng, cell):
    pairs = {
        "rnn": (rnn_forward, rnn_backward, rnn_step_forward, rnn_step_backward, 1, None),
        "lstm": (lstm_forward, lstm_backward, lstm_step_forward, lstm_step_backward, 4, None),
        "gru": (gru_forward, gru_backward, gru_step_forward, gru_step_backward, 3, 4),
    }
    fwd, bwd, step, step_back, gates, bias = pairs[cell]
    args = _seq_args(rng, gates, bias)
    h, cache = fwd(*args)
    dout = rng.standard_normal(h.shape)
    grads = bwd(dout, cache)
    expected = _loop(step, step_back, *args, dout, lstm=cell == "lstm")
    np.testing.assert_allclose(h, expected[0], rtol=1e-12, atol=1e-13)
    for got, want in zip(grads, expected[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_lstm_runs_in_float32_without_upcasting(rng):
    args = [a.astype(np.float32) for a in _seq_args(rng, 4)]
    h, cache = lstm_forward(*args)
    grads = lstm_backward(np.ones_like(h), cache)
    assert h.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    assert h.flags.c_contiguous


def test_gates_saturate_without_overflow_warnings(rng):
    x, h0, Wx, Wh, b = _seq_args(rng, 4)
    with np.errstate(all="raise"):
        h, _ = lstm_forward(1e3 * x, h0, Wx, Wh, b)
    assert np.all(np.isfinite(h)) and np.abs(h).max() <= 1


# ------------------------------------------------------------------------- errors
def test_recurrent_shape_errors_name_the_argument(rng):
    x, h0, Wx, Wh, b = _seq_args(rng, 4)
    with pytest.raises(ShapeError, match="Wx must have shape"):
        lstm_forward(x, h0, Wx[:, :-1], Wh, b)
    with pytest.raises(ShapeError, match="h0 must have 3 rows"):
        lstm_forward(x, h0[:2], Wx, Wh, b)
    with pytest.raises(ShapeError, match="b must have shape"):
        gru_forward(*_seq_args(rng, 3, 3))  # the GRU's b has 4H entries
    with pytest.raises(ShapeError, match="x must have 3 dimensions"):
        rnn_forward(x[:, 0], h0, Wx[:, :6], Wh[:, :6], b[:6])


def test_embedding_and_loss_refuse_bad_words(rng):
    with pytest.raises(ValueError, match=r"x must lie in \[0, 5\)"):
        word_embedding_forward(np.array([[0, 5]]), rng.standard_normal((5, 2)))
    with pytest.raises(TypeError, match="integer word indices"):
        word_embedding_forward(np.array([[0.0]]), rng.standard_normal((5, 2)))
    with pytest.raises(ShapeError, match="y and mask must have shape"):
        temporal_softmax_loss(rng.standard_normal((2, 3, 4)), np.zeros((2, 2), int),
                              np.ones((2, 3), bool))  # fmt: skip
    with pytest.raises(ShapeError, match="w must have shape"):
        temporal_affine_forward(rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 2)),
                                np.zeros(2))  # fmt: skip

"""Registry entries of the recurrent family: RNN, LSTM, GRU (steps and sequences), word
embeddings, the temporal affine layer and the temporal softmax loss.

Twins are the explicit torch formulas of ``torchkit.functional_rnn``; references are torch's own
``nn.RNN``/``nn.LSTM``/``nn.GRU`` (and cells) run on our weights mapped to torch's layout.
``lstm_step_forward`` returns two outputs; its row joins them as ``[next_h, next_c]`` along
axis 1 (and splits the upstream gradient the same way).
"""

from __future__ import annotations

import numpy as np

from visionblocks.layers import additive_attention as AA
from visionblocks.layers import lstm as LS
from visionblocks.layers import rnn as R
from visionblocks.layers.registry import register_layer

_N, _T, _D, _H = 3, 4, 5, 3


def _recurrent_args(gates, sequence, bias=None, cell=False):
    def make(r):
        x_shape = (_N, _T, _D) if sequence else (_N, _D)
        args = [r.standard_normal(x_shape), 0.5 * r.standard_normal((_N, _H))]
        if cell:
            args.append(r.standard_normal((_N, _H)))
        # weights of scale 0.8: no gradient entry so small that central differences' rounding
        # (~1e-11) dominates its relative error, for seeds 0-3
        args += [0.8 * r.standard_normal((_D, gates * _H)),
                 0.8 * r.standard_normal((_H, gates * _H)),
                 0.8 * r.standard_normal((bias or gates) * _H)]  # fmt: skip
        return tuple(args)

    return make


def _lstm_step_joined(x, prev_h, prev_c, Wx, Wh, b):
    next_h, next_c, cache = LS.lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    return np.concatenate([next_h, next_c], axis=1), cache  # (N, 2H)


def _lstm_step_joined_backward(dout, cache):
    h = dout.shape[1] // 2
    return LS.lstm_step_backward(dout[:, :h], dout[:, h:], cache)


def _joined(fn):
    return lambda t: lambda *a: t.torch.cat(fn(t)(*a), dim=1)


_SEQ = ("x", "h0", "Wx", "Wh", "b")
_STEP = ("x", "prev_h", "Wx", "Wh", "b")

# ------------------------------------------------------------------------ RNN / GRU
for _name, _fwd, _bwd, _args, _names, _twin, _ref in [
    ("rnn_step", R.rnn_step_forward, R.rnn_step_backward, _recurrent_args(1, False), _STEP,
     "rnn_step", "nn_rnn_step"),
    ("rnn", R.rnn_forward, R.rnn_backward, _recurrent_args(1, True), _SEQ, "rnn", "nn_rnn"),
    ("gru_step", LS.gru_step_forward, LS.gru_step_backward, _recurrent_args(3, False, bias=4),
     _STEP, "gru_step", "nn_gru_step"),
    ("gru", LS.gru_forward, LS.gru_backward, _recurrent_args(3, True, bias=4), _SEQ, "gru",
     "nn_gru"),
    ("lstm", LS.lstm_forward, LS.lstm_backward, _recurrent_args(4, True), _SEQ, "lstm",
     "nn_lstm"),
]:  # fmt: skip
    register_layer(_name, _fwd, _bwd, _args, _names, _names,
                   twin=lambda t, n=_twin: getattr(t.TF, n),
                   reference=lambda t, n=_ref: getattr(t.TF, n))  # fmt: skip

# ------------------------------------------------------------------------ LSTM step
register_layer(
    "lstm_step", _lstm_step_joined, _lstm_step_joined_backward,
    _recurrent_args(4, False, cell=True), ("x", "prev_h", "prev_c", "Wx", "Wh", "b"),
    ("x", "prev_h", "prev_c", "Wx", "Wh", "b"),
    twin=_joined(lambda t: t.TF.lstm_step), reference=_joined(lambda t: t.TF.nn_lstm_step),
    public=("lstm_step_forward", "lstm_step_backward"),
)  # fmt: skip

# ---------------------------------------------------------- embedding, affine, loss
register_layer(
    "word_embedding", R.word_embedding_forward, R.word_embedding_backward,
    lambda r: (r.integers(0, 5, (4, 3)), r.standard_normal((5, 6))), ("x", "W"), ("W",),
    twin=lambda t: t.TF.word_embedding,
    reference=lambda t: lambda x, W: t.F.embedding(x.long(), W),
)  # fmt: skip
register_layer(
    "temporal_affine", R.temporal_affine_forward, R.temporal_affine_backward,
    lambda r: (r.standard_normal((2, 3, 4)), r.standard_normal((4, 5)), r.standard_normal(5)),
    ("x", "w", "b"), ("x", "w", "b"), twin=lambda t: t.TF.temporal_affine,
    reference=lambda t: lambda x, w, b: t.F.linear(x, w.T, b),
)  # fmt: skip


def _temporal_loss_ref(t):
    def ref(x, y, mask):
        n, steps, v = x.shape
        logp = t.F.log_softmax(x, dim=2)  # (N, T, V)
        picked = t.torch.gather(logp, 2, y.long()[..., None])[..., 0]  # (N, T)
        return -(picked * mask.to(x.dtype)).sum() / n

    return ref


register_layer(
    "temporal_softmax_loss", R.temporal_softmax_loss, None,
    lambda r: (r.standard_normal((3, 4, 5)), r.integers(0, 5, (3, 4)), r.random((3, 4)) > 0.4),
    ("x", "y", "mask"), ("x",), twin=lambda t: t.TF.temporal_softmax_loss,
    reference=_temporal_loss_ref,
)  # fmt: skip


# ------------------------------------------------------------- additive attention
def _attention_joined(*args):
    context, alpha, cache = AA.additive_attention_forward(*args)
    return np.concatenate([context, alpha], axis=1), cache  # (N, D + L)


def _attention_joined_backward(dout, cache):
    d = cache[0].shape[2]
    return AA.additive_attention_backward(dout[:, :d], dout[:, d:], cache)


def _attention_args(r, n=3, length=5, d=4, h=3, att=6):
    # scale 0.5 inside the tanh: unsaturated, so no gradient entry is lost in rounding noise
    return (r.standard_normal((n, length, d)), 0.5 * r.standard_normal((n, length, att)),
            0.5 * r.standard_normal((n, h)), 0.5 * r.standard_normal((h, att)),
            0.5 * r.standard_normal(att), r.standard_normal(att))  # fmt: skip


def _attention_ref(t):
    def ref(a, pa, h, W_ha, b_att, w_att):
        query = t.F.linear(h, W_ha.T, b_att)  # (N, A)
        e = (t.torch.tanh(pa + query.unsqueeze(1)) * w_att).sum(dim=2)  # (N, L)
        alpha = t.F.softmax(e, dim=1)
        context = t.torch.bmm(alpha.unsqueeze(1), a).squeeze(1)  # (N, 1, L) @ (N, L, D)
        return t.torch.cat([context, alpha], dim=1)

    return ref


_ATT = ("a", "pa", "h", "W_ha", "b_att", "w_att")
register_layer(
    "additive_attention", _attention_joined, _attention_joined_backward, _attention_args, _ATT,
    _ATT, twin=_joined(lambda t: t.TF.additive_attention), reference=_attention_ref,
    public=("additive_attention_forward", "additive_attention_backward"),
)  # fmt: skip

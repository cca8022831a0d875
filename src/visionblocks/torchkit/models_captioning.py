"""Torch twins of ``captioning.rnn.CaptioningRNN`` and ``captioning.attention.AttentionCaptioner``:
the same parameters under the same names and layout (``W_embed (V, W)``, ``W_proj (D, H)``,
``b_proj``, ``Wx``, ``Wh``, ``b``, ``W_vocab (H, V)``, ``b_vocab``; the attention model's as in
its NumPy docstring), the same loss, greedy and beam decoding.

The recurrence runs through torch's own ``nn.RNN``/``nn.LSTM``/``nn.GRU`` kernels on our weight
layout (``functional_rnn.nn_*``) by default, or through the explicit formulas of
``functional_rnn`` (``fused=False``); both equal the NumPy model to rounding.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from visionblocks.captioning.attention import AttentionCaptioner as NumpyAttentionCaptioner
from visionblocks.captioning.beam import beam_search
from visionblocks.captioning.rnn import CaptioningRNN as NumpyCaptioningRNN
from visionblocks.torchkit import functional_rnn as FR
from visionblocks.torchkit.bridge import load_numpy_params
from visionblocks.torchkit.twin_base import torch_dtype

__all__ = ["AttentionCaptioner", "CaptioningRNN"]

_PARAMS = ("W_embed", "W_proj", "b_proj", "Wx", "Wh", "b", "W_vocab", "b_vocab")
_SEQUENCE = {"rnn": (FR.nn_rnn, FR.rnn), "lstm": (FR.nn_lstm, FR.lstm), "gru": (FR.nn_gru, FR.gru)}


class CaptioningRNN(nn.Module):
    """The PyTorch engine's captioning RNN (see the NumPy ``CaptioningRNN`` for the maths)."""

    def __init__(
        self,
        word_to_idx,
        input_dim=512,
        wordvec_dim=128,
        hidden_dim=128,
        cell_type="rnn",
        dtype=np.float32,
        *,
        seed=None,
        forget_bias=0.0,
        fused=True,
    ):
        """Same arguments as the NumPy model (and the same initialisation for the same seed).

        Args:
            fused: run the recurrence with torch's nn.RNN/LSTM/GRU kernels (else the explicit
                step formulas of ``functional_rnn``).
        """
        super().__init__()
        ref = NumpyCaptioningRNN(word_to_idx, input_dim, wordvec_dim, hidden_dim, cell_type,
                                 dtype, seed=seed, forget_bias=forget_bias)  # fmt: skip
        self._adopt(ref, fused)

    @classmethod
    def from_numpy(cls, np_model, fused=True):
        """A twin with the NumPy model's vocabulary, cell and (copied) parameters."""
        twin = cls.__new__(cls)
        nn.Module.__init__(twin)
        return twin._adopt(np_model, fused)

    def _adopt(self, ref, fused):
        self.cell_type, self.fused = ref.cell_type, bool(fused)
        self.word_to_idx, self.idx_to_word = dict(ref.word_to_idx), dict(ref.idx_to_word)
        self._null, self._start, self._end = ref._null, ref._start, ref._end
        dtype = torch_dtype(ref.compute_dtype())
        for name in _PARAMS:
            shape = ref.params[name].shape
            self.register_parameter(name, nn.Parameter(torch.zeros(shape, dtype=dtype)))
        load_numpy_params(self, ref.params)
        return self

    def numpy_layout(self):
        """Every NumPy name lives under itself, untransposed; no buffers."""
        return {name: (name, False) for name in _PARAMS}, {}

    # ------------------------------------------------------------------------ maths
    def forward(self, features, captions_in):
        """Word scores of teacher-forced decoding.

        Args:
            features: (N, D) image features; captions_in: (N, T) integer words.

        Returns:
            scores: (N, T, V).
        """
        h0 = features @ self.W_proj + self.b_proj  # (N, H)
        x = FR.word_embedding(captions_in, self.W_embed)  # (N, T, W)
        sequence = _SEQUENCE[self.cell_type][0 if self.fused else 1]
        h = sequence(x, h0, self.Wx, self.Wh, self.b)  # (N, T, H)
        return h @ self.W_vocab + self.b_vocab

    def loss(self, features, captions):
        """The NumPy model's loss as a scalar tensor (call ``backward`` for the gradients).

        Args:
            features: (N, D) tensor; captions: (N, T) integer tensor or array.
        """
        captions = torch.as_tensor(np.asarray(captions), device=features.device).long()
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]
        scores = self(features, captions_in)
        return FR.temporal_softmax_loss(scores, captions_out, captions_out != self._null)

    def initial_state(self, features):
        h0 = features @ self.W_proj + self.b_proj
        return (h0, torch.zeros_like(h0)) if self.cell_type == "lstm" else (h0,)

    def decode_step(self, words, state):
        """One step: words (N,) -> (scores (N, V), next state)."""
        x = self.W_embed[torch.as_tensor(words, device=self.W_embed.device).long()]
        if self.cell_type == "lstm":
            state = FR.lstm_step(x, state[0], state[1], self.Wx, self.Wh, self.b)
        else:
            step = FR.rnn_step if self.cell_type == "rnn" else FR.gru_step
            state = (step(x, state[0], self.Wx, self.Wh, self.b),)
        return state[0] @ self.W_vocab + self.b_vocab, state

    @torch.no_grad()
    def sample(self, features, max_length=30):
        """Greedy decoding as the NumPy ``sample``; returns (N, max_length) int32 array."""
        if self._start is None:
            raise ValueError("sampling needs '<START>' in word_to_idx")
        state = self.initial_state(features)
        n = features.shape[0]
        captions = np.full((n, max_length), self._null, dtype=np.int32)
        words = torch.full((n,), self._start, dtype=torch.long, device=features.device)
        for t in range(max_length):
            scores, state = self.decode_step(words, state)
            words = scores.argmax(dim=1)
            captions[:, t] = words.cpu().numpy()
        return captions

    @torch.no_grad()
    def sample_beam(self, features, beam_size=3, max_length=30, length_penalty=0.0):
        """Beam search as the NumPy ``sample_beam`` (the search runs in NumPy)."""
        return _sample_beam(self, features, beam_size, max_length, length_penalty)


def _sample_beam(model, features, beam_size, max_length, length_penalty):
    """``beam_search`` over a twin's ``decode_step`` (states move to NumPy between steps)."""
    if model._start is None or model._end is None:
        raise ValueError("sampling needs '<START>' and '<END>' in word_to_idx")
    device = features.device

    def step(words, state):
        state = tuple(torch.from_numpy(s).to(device) for s in state)
        scores, state = model.decode_step(words, state)
        return scores.cpu().numpy(), tuple(s.cpu().numpy() for s in state)

    state = tuple(s.cpu().numpy() for s in model.initial_state(features))
    captions, _ = beam_search(step, state, model._start, model._end, beam_size=beam_size,
                              max_length=max_length, length_penalty=length_penalty,
                              null=model._null)  # fmt: skip
    return captions


_ATT_PARAMS = ("W_embed", "W_h0", "b_h0", "W_c0", "b_c0", "W_a", "W_ha", "b_att", "w_att", "Wx",
               "Wz", "Wh", "b", "W_vocab", "W_zv", "b_vocab")  # fmt: skip


class AttentionCaptioner(nn.Module):
    """The PyTorch engine's Show, Attend and Tell captioner (maths in the NumPy docstring)."""

    def __init__(self, word_to_idx, feature_shape=(512, 7, 7), wordvec_dim=128, hidden_dim=128,
                 attention_dim=128, attention_reg=1.0, dtype=np.float32, *, seed=None,
                 forget_bias=0.0):  # fmt: skip
        """Same arguments and initialisation (for the same seed) as the NumPy model."""
        super().__init__()
        ref = NumpyAttentionCaptioner(word_to_idx, feature_shape, wordvec_dim, hidden_dim,
                                      attention_dim, attention_reg, dtype, seed=seed,
                                      forget_bias=forget_bias)  # fmt: skip
        self._adopt(ref)

    @classmethod
    def from_numpy(cls, np_model):
        """A twin with the NumPy model's settings and (copied) parameters."""
        twin = cls.__new__(cls)
        nn.Module.__init__(twin)
        return twin._adopt(np_model)

    def _adopt(self, ref):
        self.feature_shape, self.attention_reg = ref.feature_shape, ref.attention_reg
        self.word_to_idx, self.idx_to_word = dict(ref.word_to_idx), dict(ref.idx_to_word)
        self._null, self._start, self._end = ref._null, ref._start, ref._end
        dtype = torch_dtype(ref.compute_dtype())
        for name in _ATT_PARAMS:
            shape = ref.params[name].shape
            self.register_parameter(name, nn.Parameter(torch.zeros(shape, dtype=dtype)))
        load_numpy_params(self, ref.params)
        return self

    def numpy_layout(self):
        """Every NumPy name lives under itself, untransposed; no buffers."""
        return {name: (name, False) for name in _ATT_PARAMS}, {}

    def initial_state(self, features):
        """(h0, c0, a, pa) from (N, D, H', W') features."""
        a = features.flatten(2).transpose(1, 2)  # (N, L, D)
        mean = a.mean(dim=1)
        return (mean @ self.W_h0 + self.b_h0, mean @ self.W_c0 + self.b_c0, a, a @ self.W_a)

    def _step(self, x, state):
        h, c, a, pa = state
        z, alpha = FR.additive_attention(a, pa, h, self.W_ha, self.b_att, self.w_att)
        Wxz = torch.cat([self.Wx, self.Wz])
        h, c = FR.lstm_step(torch.cat([x, z], dim=1), h, c, Wxz, self.Wh, self.b)
        return h @ self.W_vocab + z @ self.W_zv + self.b_vocab, alpha, (h, c, a, pa)

    def decode_step(self, words, state):
        x = self.W_embed[torch.as_tensor(words, device=self.W_embed.device).long()]
        scores, _, state = self._step(x, state)
        return scores, state

    def forward(self, features, captions_in):
        """(scores (N, T, V), alphas (N, T, L)) of teacher-forced decoding."""
        state = self.initial_state(features)
        x = FR.word_embedding(captions_in, self.W_embed)  # (N, T, W)
        scores, alphas = [], []
        for t in range(x.shape[1]):
            s, alpha, state = self._step(x[:, t], state)
            scores.append(s)
            alphas.append(alpha)
        return torch.stack(scores, dim=1), torch.stack(alphas, dim=1)

    def loss(self, features, captions):
        """Temporal softmax loss + doubly stochastic penalty, as the NumPy ``loss``."""
        captions = torch.as_tensor(np.asarray(captions), device=features.device).long()
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]
        mask = captions_out != self._null
        scores, alphas = self(features, captions_in)
        loss = FR.temporal_softmax_loss(scores, captions_out, mask)
        gap = 1.0 - (alphas * mask.to(alphas.dtype)[:, :, None]).sum(dim=1)  # (N, L)
        return loss + self.attention_reg * (gap**2).sum() / features.shape[0]

    @torch.no_grad()
    def sample(self, features, max_length=30, return_attention=False):
        """Greedy decoding as the NumPy ``sample`` (NumPy arrays out)."""
        if self._start is None:
            raise ValueError("sampling needs '<START>' in word_to_idx")
        state = self.initial_state(features)
        n = features.shape[0]
        words = torch.full((n,), self._start, dtype=torch.long, device=features.device)
        captions, alphas = [], []
        for _ in range(max_length):
            scores, alpha, state = self._step(self.W_embed[words], state)
            words = scores.argmax(dim=1)
            captions.append(words)
            alphas.append(alpha.reshape(n, *self.feature_shape[1:]))
        captions = torch.stack(captions, dim=1).cpu().numpy().astype(np.int32)
        if return_attention:
            return captions, torch.stack(alphas, dim=1).cpu().numpy()
        return captions

    @torch.no_grad()
    def sample_beam(self, features, beam_size=3, max_length=30, length_penalty=0.0):
        """Beam search as the NumPy ``sample_beam``."""
        return _sample_beam(self, features, beam_size, max_length, length_penalty)

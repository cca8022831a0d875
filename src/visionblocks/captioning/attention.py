"""Show, Attend and Tell: an LSTM captioner that attends over a spatial feature map.

At step t the decoder attends with its previous hidden state over the L = H' * W' feature
vectors ``a_l`` (additive attention, ``layers/additive_attention.py``), feeds the word vector
and the context ``z_t`` to an LSTM (gates i, f, o, g, as ``lstm_step_forward``) and scores the
vocabulary from ``h_t`` and ``z_t``::

    alpha_t = softmax_l(w_att . tanh(a_l @ W_a + h_{t-1} @ W_ha + b_att)),  z_t = sum alpha_tl a_l
    h_t, c_t = LSTM([x_t, z_t], h_{t-1}, c_{t-1}; [Wx; Wz], Wh, b)
    scores_t = h_t @ W_vocab + z_t @ W_zv + b_vocab

with ``h_0 = mean_l(a_l) @ W_h0 + b_h0`` and ``c_0 = mean_l(a_l) @ W_c0 + b_c0``. The loss is
the course's temporal softmax loss plus the doubly stochastic attention penalty
``attention_reg / N * sum_{n,l} (1 - sum_t alpha_ntl)^2`` over the non-padding steps.
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.captioning.beam import beam_search
from visionblocks.errors import ShapeError
from visionblocks.layers import (
    additive_attention_backward,
    additive_attention_forward,
    lstm_step_backward,
    lstm_step_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from visionblocks.models.base import Model

__all__ = ["AttentionCaptioner"]


class AttentionCaptioner(Model):
    """The Show, Attend and Tell captioner over (N, D, H', W') feature maps (NumPy engine).

    Attributes:
        params: W_embed (V, W); W_h0, W_c0 (D, H); b_h0, b_c0 (H,); W_a (D, A); W_ha (H, A);
            b_att (A,); w_att (A,); Wx (W, 4H); Wz (D, 4H); Wh (H, 4H); b (4H,);
            W_vocab (H, V); W_zv (D, V); b_vocab (V,).
    """

    def __init__(
        self,
        word_to_idx,
        feature_shape=(512, 7, 7),
        wordvec_dim=128,
        hidden_dim=128,
        attention_dim=128,
        attention_reg=1.0,
        dtype=np.float32,
        *,
        seed=None,
        forget_bias=0.0,
    ):
        """Builds the model (weights ~ N(0, 1/fan_in) as the course's, word vectors / 100).

        Args:
            word_to_idx: dict word -> index; '<NULL>' required, '<START>'/'<END>' to sample.
            feature_shape: (D, H', W') of one image's feature map.
            wordvec_dim: W; hidden_dim: H; attention_dim: A.
            attention_reg: lambda of the doubly stochastic penalty (0 turns it off).
            dtype: float dtype of the parameters.
            seed: seeds the initialisation.
            forget_bias: initial forget-gate bias.
        """
        if "<NULL>" not in word_to_idx:
            raise ValueError("word_to_idx must contain '<NULL>' (the padding word)")
        if len(feature_shape) != 3:
            raise ValueError(f"feature_shape must be (D, H', W'), got {feature_shape}")
        if attention_reg < 0:
            raise ValueError(f"attention_reg must be >= 0, got {attention_reg}")
        self.feature_shape = tuple(int(s) for s in feature_shape)
        self.attention_reg = float(attention_reg)
        self.dtype, self.reg = dtype, 0.0
        self.word_to_idx = dict(word_to_idx)
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>", None)
        self._end = word_to_idx.get("<END>", None)
        self.rng = r = np.random.default_rng(seed)
        V, D = len(word_to_idx), self.feature_shape[0]
        W, H, A = wordvec_dim, hidden_dim, attention_dim

        def w(*shape):
            return r.standard_normal(shape) / np.sqrt(shape[0])

        self.params = {
            "W_embed": r.standard_normal((V, W)) / 100,
            "W_h0": w(D, H), "b_h0": np.zeros(H), "W_c0": w(D, H), "b_c0": np.zeros(H),
            "W_a": w(D, A), "W_ha": w(H, A), "b_att": np.zeros(A), "w_att": w(A),
            "Wx": w(W, 4 * H), "Wz": w(D, 4 * H), "Wh": w(H, 4 * H), "b": np.zeros(4 * H),
            "W_vocab": w(H, V), "W_zv": w(D, V), "b_vocab": np.zeros(V),
        }  # fmt: skip
        self.params["b"][H : 2 * H] = forget_bias
        self.params = {k: v.astype(dtype) for k, v in self.params.items()}

    # ------------------------------------------------------------------------ inputs
    def _annotations(self, features):
        """(N, D, H', W') features -> a (N, L, D), their mean (N, D)."""
        as_float_array("features", features, ndim=4)
        if features.shape[1:] != self.feature_shape:
            want = ", ".join(map(str, self.feature_shape))
            raise ShapeError(f"features must have shape (N, {want}), got {features.shape}")
        n, d = features.shape[:2]
        a = features.astype(self.compute_dtype(), copy=False).reshape(n, d, -1)  # (N, D, L)
        a = np.ascontiguousarray(a.transpose(0, 2, 1))  # (N, L, D)
        return a, a.mean(axis=1)

    def initial_state(self, features):
        """(h0, c0, a, pa): the LSTM state and the image's annotations and their projection."""
        p = self.params
        a, mean = self._annotations(features)
        n, length, d = a.shape
        pa = (a.reshape(n * length, d) @ p["W_a"]).reshape(n, length, -1)  # (N, L, A)
        return mean @ p["W_h0"] + p["b_h0"], mean @ p["W_c0"] + p["b_c0"], a, pa

    def _step(self, x, state):
        p = self.params
        h, c, a, pa = state
        z, alpha, att_cache = additive_attention_forward(a, pa, h, p["W_ha"], p["b_att"],
                                                         p["w_att"])  # fmt: skip
        Wxz = np.concatenate([p["Wx"], p["Wz"]])  # (W + D, 4H)
        h, c, cell_cache = lstm_step_forward(np.concatenate([x, z], axis=1), h, c, Wxz, p["Wh"],
                                             p["b"])  # fmt: skip
        scores = h @ p["W_vocab"] + z @ p["W_zv"] + p["b_vocab"]  # (N, V)
        return scores, alpha, (h, c, a, pa), (att_cache, cell_cache, h, z)

    # -------------------------------------------------------------------------- loss
    def loss(self, features, captions):
        """Teacher-forced loss (temporal softmax + doubly stochastic penalty) and gradients.

        Args:
            features: (N, D, H', W') feature maps; captions: (N, T) integer captions.

        Returns:
            loss: float; grads: dict with the keys of ``params``.
        """
        p = self.params
        state = self.initial_state(features)
        n = state[0].shape[0]
        captions = np.asarray(captions)
        if captions.dtype.kind not in "iu" or captions.ndim != 2 or captions.shape[0] != n \
                or captions.shape[1] < 2:  # fmt: skip
            raise ShapeError(f"captions must be integer of shape ({n}, T >= 2), got "
                             f"{captions.shape} {captions.dtype}")  # fmt: skip
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]
        mask = captions_out != self._null
        x, embed_cache = word_embedding_forward(captions_in, p["W_embed"])  # (N, T, W)
        steps = x.shape[1]
        scores, alphas, caches = [], [], []
        for t in range(steps):
            s, alpha, state, cache = self._step(x[:, t], state)
            scores.append(s)
            alphas.append(alpha)
            caches.append(cache)
        loss, dscores = temporal_softmax_loss(np.stack(scores, axis=1), captions_out, mask)
        alphas = np.stack(alphas, axis=1)  # (N, T, L)
        m = mask.astype(alphas.dtype)
        gap = 1.0 - np.einsum("nt,ntl->nl", m, alphas)  # (N, L)
        lam = self.attention_reg
        loss += lam * float(np.sum(gap * gap)) / n
        dalphas = (-2.0 * lam / n) * gap[:, None, :] * m[:, :, None]  # (N, T, L)

        grads = {k: np.zeros_like(v) for k, v in p.items()}
        _, _, a, pa = state
        da, dpa = np.zeros_like(a), np.zeros_like(pa)
        dx = np.zeros_like(x)
        dh, dc = np.zeros_like(state[0]), np.zeros_like(state[1])
        wdim = p["Wx"].shape[0]
        for t in range(steps - 1, -1, -1):
            att_cache, cell_cache, h_t, z_t = caches[t]
            ds = dscores[:, t]
            grads["W_vocab"] += h_t.T @ ds
            grads["W_zv"] += z_t.T @ ds
            grads["b_vocab"] += ds.sum(axis=0)
            dinp, dh, dc, dWxz, dWh, db = lstm_step_backward(dh + ds @ p["W_vocab"].T, dc,
                                                             cell_cache)  # fmt: skip
            grads["Wx"] += dWxz[:wdim]
            grads["Wz"] += dWxz[wdim:]
            grads["Wh"] += dWh
            grads["b"] += db
            dx[:, t] = dinp[:, :wdim]
            dz = dinp[:, wdim:] + ds @ p["W_zv"].T
            da_t, dpa_t, dh_att, dW_ha, db_att, dw_att = additive_attention_backward(
                dz, dalphas[:, t], att_cache
            )
            da += da_t
            dpa += dpa_t
            dh = dh + dh_att
            grads["W_ha"] += dW_ha
            grads["b_att"] += db_att
            grads["w_att"] += dw_att
        grads["W_embed"] = word_embedding_backward(dx, embed_cache)
        length, d = a.shape[1:]
        grads["W_a"] = a.reshape(n * length, d).T @ dpa.reshape(n * length, -1)
        mean = a.mean(axis=1)
        grads["W_h0"], grads["b_h0"] = mean.T @ dh, dh.sum(axis=0)
        grads["W_c0"], grads["b_c0"] = mean.T @ dc, dc.sum(axis=0)
        return loss, grads

    # ---------------------------------------------------------------------- decoding
    def decode_step(self, words, state):
        """One step: words (N,) -> (scores (N, V), next state); the state is (h, c, a, pa)."""
        scores, _, state, _ = self._step(self.params["W_embed"][words], state)
        return scores, state

    def sample(self, features, max_length=30, return_attention=False):
        """Greedy decoding, as ``CaptioningRNN.sample``.

        Args:
            features: (N, D, H', W'); max_length: T.
            return_attention: also return the attention maps.

        Returns:
            captions: (N, T) int32; with return_attention, also alphas (N, T, H', W'), the
            weights each generated word was produced with (rows sum to 1 over H' x W').
        """
        if self._start is None:
            raise ValueError("sampling needs '<START>' in word_to_idx")
        state = self.initial_state(features)
        n = state[0].shape[0]
        captions = np.full((n, max_length), self._null, dtype=np.int32)
        alphas = np.zeros((n, max_length, *self.feature_shape[1:]), dtype=state[0].dtype)
        words = np.full(n, self._start, dtype=np.int64)
        for t in range(max_length):
            scores, alpha, state, _ = self._step(self.params["W_embed"][words], state)
            words = scores.argmax(axis=1)
            captions[:, t] = words
            alphas[:, t] = alpha.reshape(n, *self.feature_shape[1:])
        return (captions, alphas) if return_attention else captions

    def sample_beam(self, features, beam_size=3, max_length=30, length_penalty=0.0):
        """Beam-search decoding (``captioning.beam.beam_search``); (N, max_length) int32."""
        if self._start is None or self._end is None:
            raise ValueError("sampling needs '<START>' and '<END>' in word_to_idx")
        captions, _ = beam_search(
            self.decode_step, self.initial_state(features), self._start, self._end,
            beam_size=beam_size, max_length=max_length, length_penalty=length_penalty,
            null=self._null,
        )  # fmt: skip
        return captions

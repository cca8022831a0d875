"""The course's ``CaptioningRNN``: image features -> initial hidden state -> a vanilla RNN, LSTM
or GRU over word embeddings -> word scores, with greedy and beam-search decoding."""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.captioning.beam import beam_search
from visionblocks.errors import ShapeError
from visionblocks.layers import (
    affine_backward,
    affine_forward,
    gru_backward,
    gru_forward,
    gru_step_forward,
    lstm_backward,
    lstm_forward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from visionblocks.models.base import Model

__all__ = ["CELL_TYPES", "CaptioningRNN"]

#: cell type -> (columns of Wx/Wh per hidden unit, entries of b per hidden unit, forward,
#: backward). The GRU's b is [b_r, b_z, b_in, b_hn] (``layers/lstm.py``).
CELL_TYPES = {
    "rnn": (1, 1, rnn_forward, rnn_backward),
    "lstm": (4, 4, lstm_forward, lstm_backward),
    "gru": (3, 4, gru_forward, gru_backward),
}


class CaptioningRNN(Model):
    """Produces captions from image features with a recurrent network (the course's model).

    The features (N, D) are projected to the initial hidden state (N, H); the caption's words are
    embedded (W), run through the cell, and scored over the vocabulary (V) at every step.
    No regularisation, as in the course.

    Attributes:
        params: ``W_embed (V, W)``, ``W_proj (D, H)``, ``b_proj (H,)``, ``Wx (W, kH)``,
            ``Wh (H, kH)``, ``b (k'H,)``, ``W_vocab (H, V)``, ``b_vocab (V,)`` with k = k' = 1
            (rnn), 4 (lstm: gates i, f, o, g), k = 3, k' = 4 (gru: r, z, n and b_hn).
        word_to_idx, idx_to_word: the vocabulary; ``<NULL>`` is required, ``<START>`` and
            ``<END>`` are needed for sampling.
    """

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
    ):
        """Builds the model with the course's initialisation.

        Args:
            word_to_idx: dict word -> index in [0, V), V = len(word_to_idx).
            input_dim: D, size of the image feature vectors.
            wordvec_dim: W, size of the word vectors.
            hidden_dim: H, size of the hidden state.
            cell_type: 'rnn', 'lstm' or 'gru'.
            dtype: float dtype of the parameters (float64 for gradient checks).
            seed: seeds the initialisation (None: fresh entropy).
            forget_bias: initial value of the LSTM's forget-gate biases (lecture 10 suggests
                about 1 so the cell remembers at the start of training); 0 keeps the course's
                numbers. Only for cell_type='lstm'.
        """
        if cell_type not in CELL_TYPES:
            raise ValueError(f"cell_type must be one of {sorted(CELL_TYPES)}, got {cell_type!r}")
        if "<NULL>" not in word_to_idx:
            raise ValueError("word_to_idx must contain '<NULL>' (the padding word)")
        if forget_bias and cell_type != "lstm":
            raise ValueError(f"forget_bias is an LSTM option, got cell_type={cell_type!r}")
        self.cell_type = cell_type
        self.dtype = dtype
        self.reg = 0.0
        self.word_to_idx = dict(word_to_idx)
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>", None)
        self._end = word_to_idx.get("<END>", None)
        self.rng = np.random.default_rng(seed)

        V, D, W, H = len(word_to_idx), input_dim, wordvec_dim, hidden_dim
        k, kb, _, _ = CELL_TYPES[cell_type]
        r = self.rng
        self.params = {
            "W_embed": r.standard_normal((V, W)) / 100,
            "W_proj": r.standard_normal((D, H)) / np.sqrt(D),
            "b_proj": np.zeros(H),
            "Wx": r.standard_normal((W, k * H)) / np.sqrt(W),
            "Wh": r.standard_normal((H, k * H)) / np.sqrt(H),
            "b": np.zeros(kb * H),
            "W_vocab": r.standard_normal((H, V)) / np.sqrt(H),
            "b_vocab": np.zeros(V),
        }
        if cell_type == "lstm":
            self.params["b"][H : 2 * H] = forget_bias
        self.params = {name: p.astype(dtype) for name, p in self.params.items()}

    # ------------------------------------------------------------------------- checks
    def _features(self, features):
        as_float_array("features", features, ndim=2)
        d = self.params["W_proj"].shape[0]
        if features.shape[1] != d:
            raise ShapeError(f"features must have shape (N, {d}), got {features.shape}")
        return features.astype(self.compute_dtype(), copy=False)

    def _captions(self, captions, n):
        captions = np.asarray(captions)
        if captions.dtype.kind not in "iu":
            raise TypeError(f"captions must hold integer word indices, got {captions.dtype}")
        if captions.ndim != 2 or captions.shape[0] != n or captions.shape[1] < 2:
            raise ShapeError(f"captions must have shape ({n}, T) with T >= 2 to match the "
                             f"features, got {captions.shape}")  # fmt: skip
        return captions

    # --------------------------------------------------------------------------- loss
    def loss(self, features, captions):
        """Teacher-forced training loss and gradients.

        Args:
            features: (N, D) image features.
            captions: (N, T) integer captions; the model reads ``captions[:, :-1]`` and predicts
                ``captions[:, 1:]``, ignoring targets equal to ``<NULL>``.

        Returns:
            loss: float, summed over time and averaged over N.
            grads: dict with the keys of ``params``.
        """
        features = self._features(features)
        captions = self._captions(captions, features.shape[0])
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]
        mask = captions_out != self._null
        p = self.params
        _, _, forward, backward = CELL_TYPES[self.cell_type]

        h0, cache_proj = affine_forward(features, p["W_proj"], p["b_proj"])  # (N, H)
        x, cache_embed = word_embedding_forward(captions_in, p["W_embed"])  # (N, T-1, W)
        h, cache_cell = forward(x, h0, p["Wx"], p["Wh"], p["b"])  # (N, T-1, H)
        scores, cache_vocab = temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask)

        grads = {}
        dh, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, cache_vocab)
        dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = backward(dh, cache_cell)
        grads["W_embed"] = word_embedding_backward(dx, cache_embed)
        _, grads["W_proj"], grads["b_proj"] = affine_backward(dh0, cache_proj)
        return loss, grads

    # ----------------------------------------------------------------------- decoding
    def initial_state(self, features):
        """The decoder state before the first word: ``(h0,)``, or ``(h0, c0)`` for the LSTM.

        Args:
            features: (N, D).
        """
        features = self._features(features)
        h0 = features @ self.params["W_proj"] + self.params["b_proj"]  # (N, H)
        return (h0, np.zeros_like(h0)) if self.cell_type == "lstm" else (h0,)

    def decode_step(self, words, state):
        """One decoding step: feeds ``words`` (N,) and returns (scores (N, V), next state)."""
        p = self.params
        x = p["W_embed"][words]  # (N, W)
        if self.cell_type == "lstm":
            h, c, _ = lstm_step_forward(x, state[0], state[1], p["Wx"], p["Wh"], p["b"])
            state = (h, c)
        else:
            step = rnn_step_forward if self.cell_type == "rnn" else gru_step_forward
            h, _ = step(x, state[0], p["Wx"], p["Wh"], p["b"])
            state = (h,)
        return h @ p["W_vocab"] + p["b_vocab"], state  # (N, H) @ (H, V)

    def _need_start(self, end=False):
        if self._start is None or (end and self._end is None):
            need = "'<START>' and '<END>'" if end else "'<START>'"
            raise ValueError(f"sampling needs {need} in word_to_idx")

    def sample(self, features, max_length=30):
        """Greedy decoding, as the course: start from ``<START>`` and feed back the argmax word.

        Args:
            features: (N, D) image features.
            max_length: T, the number of words generated.

        Returns:
            captions: (N, T) int32 word indices; every step is written (decode up to the first
                ``<END>``, as the course's ``decode_captions`` does).
        """
        self._need_start()
        state = self.initial_state(features)
        n = state[0].shape[0]
        captions = np.full((n, max_length), self._null, dtype=np.int32)
        words = np.full(n, self._start, dtype=np.int64)
        for t in range(max_length):
            scores, state = self.decode_step(words, state)
            words = scores.argmax(axis=1)
            captions[:, t] = words
        return captions

    def sample_beam(self, features, beam_size=3, max_length=30, length_penalty=0.0):
        """Beam-search decoding (``captioning.beam.beam_search``).

        Args:
            features: (N, D) image features.
            beam_size: k, hypotheses kept per image (1 is greedy decoding up to ``<END>``).
            max_length: most words generated, ``<END>`` included.
            length_penalty: alpha; the final hypotheses are ranked by log p / length**alpha
                (0: plain log-probability, 1: per-word average).

        Returns:
            captions: (N, max_length) int32, ``<NULL>`` after each caption's ``<END>``.
        """
        self._need_start(end=True)
        captions, _ = beam_search(
            self.decode_step, self.initial_state(features), self._start, self._end,
            beam_size=beam_size, max_length=max_length, length_penalty=length_penalty,
            null=self._null,
        )  # fmt: skip
        return captions

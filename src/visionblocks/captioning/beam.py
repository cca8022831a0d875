"""Beam-search decoding for any step-wise decoder, vectorised over images and hypotheses.

A decoder is two things: its state before the first word (a tuple of arrays, one row per
image) and ``step(words (B,), state) -> (scores (B, V), next state)``. ``beam_search`` keeps the
``beam_size`` most probable partial captions per image (by summed log-probability), moves a
hypothesis that emits ``<END>`` to the finished ones unchanged, stops when every hypothesis has
ended or ``max_length`` words are written, and returns, per image, the hypothesis with the best
length-normalised score ``log p / length ** alpha`` (length counts ``<END>``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["beam_search", "log_softmax"]


def log_softmax(scores):
    """Row-wise log-softmax of (B, V) scores."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def beam_search(step, state, start, end, beam_size=3, max_length=30, length_penalty=0.0, null=0):
    """Beam search from ``start`` until ``end``.

    Args:
        step: ``step(words, state) -> (scores, state)``; words (B,) int, scores (B, V).
        state: tuple of arrays with N rows each (N images), the state before the first word.
        start, end, null: the indices of ``<START>``, ``<END>`` and ``<NULL>``.
        beam_size: k >= 1.
        max_length: most words per caption, ``<END>`` included.
        length_penalty: alpha >= 0 of the final ranking ``log p / length ** alpha``.

    Returns:
        captions: (N, max_length) int32, the best hypothesis per image, ``null`` after ``end``.
        scores: (N,) its length-normalised log-probability.
    """
    if int(beam_size) < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if int(max_length) < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if length_penalty < 0:
        raise ValueError(f"length_penalty must be >= 0, got {length_penalty}")
    k = int(beam_size)
    n = state[0].shape[0]
    state = tuple(np.repeat(s, k, axis=0) for s in state)  # (N*k, ...) image-major
    logp = np.full((n, k), -np.inf)
    logp[:, 0] = 0.0  # all hypotheses start equal: expand only the first
    tokens = np.full((n, k, max_length), null, dtype=np.int32)
    lengths = np.zeros((n, k), dtype=np.int64)
    done = np.zeros((n, k), dtype=bool)
    words = np.full(n * k, start, dtype=np.int64)
    rows = np.arange(n)[:, None]
    for t in range(max_length):
        scores, state = step(words, state)
        word_logp = log_softmax(np.asarray(scores, dtype=np.float64)).reshape(n, k, -1)
        v = word_logp.shape[2]
        # a finished hypothesis continues once, unchanged, through the `null` column
        word_logp[done] = -np.inf
        word_logp[done, null] = 0.0
        cand = (logp[:, :, None] + word_logp).reshape(n, k * v)  # (N, k*V)
        best = np.argsort(-cand, axis=1, kind="stable")[:, :k]  # (N, k) best candidates
        origin, word = best // v, best % v
        logp = cand[rows, best]
        tokens, lengths, was_done = tokens[rows, origin], lengths[rows, origin], done[rows, origin]
        tokens[:, :, t] = np.where(was_done, null, word)
        lengths = lengths + ~was_done
        done = was_done | (word == end)
        flat = (rows * k + origin).ravel()  # (N*k,) the state rows the hypotheses came from
        state = tuple(s[flat] for s in state)
        words = np.where(done, end, word).ravel()
        if done.all():
            break
    normalised = logp / np.maximum(lengths, 1) ** float(length_penalty)
    pick = normalised.argmax(axis=1)  # (N,)
    return tokens[np.arange(n), pick], normalised[np.arange(n), pick]

"""The course's Transformer captioner (assignment 3), its loss, and things beyond it: a
key/value cache for decoding, beam search over it, and a captioner that attends over a grid of
image tokens.

``CaptioningTransformer`` has the course's name, signature, defaults, submodule order and
initialisation (N(0, 0.02) Linear and Embedding weights, zero biases, applied before the output
layer is made, as in the course). ``transformer_temporal_softmax_loss`` is the course's loss
for it: cross-entropy *averaged over all N * T positions* (null positions count as zeros in the
mean), unlike the NumPy ``temporal_softmax_loss``, which sums over time and averages over N.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visionblocks.torchkit.transformer_layers import (
    PositionalEncoding,
    TransformerDecoder,
    TransformerDecoderLayer,
)

__all__ = [
    "CaptioningTransformer",
    "GridCaptioningTransformer",
    "masked_mean_temporal_softmax_loss",
    "transformer_temporal_softmax_loss",
]


def transformer_temporal_softmax_loss(x, y, mask):
    """The course's captioning loss: per-position cross-entropy, masked, averaged over N * T.

    Args:
        x: (N, T, V) scores; y: (N, T) targets; mask: (N, T), 1 where the target counts.

    Returns:
        loss: scalar tensor, ``sum(mask * ce) / (N * T)``.
    """
    n, t, v = x.shape
    loss = F.cross_entropy(x.reshape(n * t, v), y.reshape(n * t), reduction="none")  # (N*T,)
    return torch.mean(loss * mask.reshape(n * t).to(loss.dtype))


def masked_mean_temporal_softmax_loss(x, y, mask):
    """Cross-entropy averaged over the counted positions only (``sum(mask * ce) / sum(mask)``).

    Args and returns as ``transformer_temporal_softmax_loss``.
    """
    n, t, v = x.shape
    loss = F.cross_entropy(x.reshape(n * t, v), y.reshape(n * t), reduction="none")  # (N*T,)
    m = mask.reshape(n * t).to(loss.dtype)
    return (loss * m).sum() / m.sum().clamp_min(1.0)


class CaptioningTransformer(nn.Module):
    """Captions from image features with a Transformer decoder (post-norm, the course's).

    Args:
        word_to_idx: vocabulary, V entries, with ``<NULL>`` (and ``<START>``, ``<END>`` to sample).
        input_dim: D, the image feature size.
        wordvec_dim: W, the word vector and model width.
        num_heads: attention heads; num_layers: decoder layers; max_length: longest sequence.
        dim_feedforward, dropout: keyword-only, beyond the course (whose values are the
            defaults 2048 and 0.1).
    """

    def __init__(self, word_to_idx, input_dim, wordvec_dim, num_heads=4, num_layers=2,
                 max_length=50, *, dim_feedforward=2048, dropout=0.1):  # fmt: skip
        super().__init__()
        if "<NULL>" not in word_to_idx:
            raise KeyError("word_to_idx must contain '<NULL>'")
        vocab_size = len(word_to_idx)
        self.vocab_size = vocab_size
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>", None)
        self._end = word_to_idx.get("<END>", None)
        self.max_length = max_length

        self._make_visual(input_dim, wordvec_dim)
        self.embedding = nn.Embedding(vocab_size, wordvec_dim, padding_idx=self._null)
        self.positional_encoding = PositionalEncoding(wordvec_dim, dropout, max_len=max_length)

        decoder_layer = TransformerDecoderLayer(wordvec_dim, num_heads, dim_feedforward, dropout)
        self.transformer = TransformerDecoder(decoder_layer, num_layers=num_layers)
        self.apply(self._init_weights)

        self.output = nn.Linear(wordvec_dim, vocab_size)  # after apply(): torch's default init

    def _make_visual(self, input_dim, wordvec_dim):
        self.visual_projection = nn.Linear(input_dim, wordvec_dim)

    @staticmethod
    def _init_weights(module):
        """The course's initialisation."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)

    def encode(self, features):
        """The decoder's memory: features (N, D) -> one token (N, 1, W)."""
        if features.ndim != 2:
            raise ValueError(f"features must have shape (N, D), got {tuple(features.shape)}")
        return self.visual_projection(features).unsqueeze(1)  # (N, 1, W)

    def forward(self, features, captions):
        """Scores for every next token of the captions.

        Args:
            features: image features (N, D) (the grid variant: (N, C, H, W)).
            captions: (N, T) token ids.

        Returns:
            scores: (N, T, V); position t sees captions[:, :t + 1] only.
        """
        n, t = captions.shape
        memory = self.encode(features)
        x = self.positional_encoding(self.embedding(captions))  # (N, T, W)
        tgt_mask = torch.tril(torch.ones(t, t, device=x.device, dtype=x.dtype))  # (T, T)
        return self.output(self.transformer(x, memory, tgt_mask=tgt_mask))  # (N, T, V)

    def step(self, memory, words, position, cache):
        """One decoding step with the key/value cache.

        Args:
            memory: (N, S, W) from ``encode``; words: (N,) the latest tokens.
            position: the latest tokens' position; cache: a list the decoder fills.

        Returns:
            scores: (N, V) for the next token.
        """
        x = self.positional_encoding(self.embedding(words[:, None]), offset=position)  # (N, 1, W)
        return self.output(self.transformer(x, memory, cache=cache))[:, -1]

    def sample(self, features, max_length=30, *, use_cache=False):
        """Greedy decoding from ``<START>``.

        Args:
            features: (N, D) image features (array or tensor).
            max_length: tokens to produce.
            use_cache: beyond the course: keep each layer's keys and values instead of running
                the whole prefix again at every step (same tokens; O(T) instead of O(T^2) work).

        Returns:
            captions: (N, max_length) int array of token ids.
        """
        if self._start is None:
            raise KeyError("sampling needs '<START>' in word_to_idx")
        if max_length > self.max_length:
            raise ValueError(f"max_length {max_length} exceeds the model's {self.max_length}")
        device = next(self.parameters()).device
        with torch.no_grad():
            if not torch.is_tensor(features):
                features = torch.from_numpy(np.asarray(features))
            features = features.to(device=device, dtype=next(self.parameters()).dtype)
            n = features.shape[0]
            captions = self._null * np.ones((n, max_length), dtype=np.int32)
            word = torch.full((n,), self._start, dtype=torch.long, device=device)
            if use_cache:
                memory, cache = self.encode(features), []
                for t in range(max_length):
                    word = self.step(memory, word, t, cache).argmax(dim=1)
                    captions[:, t] = word.cpu().numpy()
                return captions
            partial = word[:, None]  # (N, 1)
            for t in range(max_length):
                scores = self.forward(features, partial)[:, -1, :]  # (N, V)
                word = torch.argmax(scores, dim=1)
                captions[:, t] = word.cpu().numpy()
                partial = torch.cat([partial, word[:, None]], dim=1)
            return captions

    def beam_search(self, features, beam_size=3, max_length=30, length_penalty=0.0):
        """Beam search from ``<START>`` with the key/value cache (beyond the course).

        Keeps the ``beam_size`` partial captions of highest summed log-probability per image; a
        caption that emits ``<END>`` stays as it is (its later tokens are ``<NULL>``); the result
        is, per image, the caption of best ``log p / length ** length_penalty`` (length counts
        ``<END>``). Run it in eval mode.

        Args:
            features: (N, D) (grid variant: (N, C, H, W)), array or tensor.
            beam_size: k >= 1 (1 is greedy decoding that stops at ``<END>``).
            max_length: most tokens per caption, ``<END>`` included.
            length_penalty: alpha >= 0.

        Returns:
            captions: (N, max_length) int32; scores: (N,) float64, the ranking scores.
        """
        if self._start is None or self._end is None:
            raise KeyError("beam search needs '<START>' and '<END>' in word_to_idx")
        if int(beam_size) < 1 or length_penalty < 0:
            raise ValueError(f"beam_size must be >= 1 and length_penalty >= 0, got {beam_size}, "
                             f"{length_penalty}")  # fmt: skip
        if max_length > self.max_length:
            raise ValueError(f"max_length {max_length} exceeds the model's {self.max_length}")
        k, device = int(beam_size), next(self.parameters()).device
        with torch.no_grad():
            if not torch.is_tensor(features):
                features = torch.from_numpy(np.asarray(features))
            features = features.to(device=device, dtype=next(self.parameters()).dtype)
            n = features.shape[0]
            memory = self.encode(features).repeat_interleave(k, dim=0)  # (N*k, S, W)
            logp = torch.full((n, k), float("-inf"), dtype=torch.float64, device=device)
            logp[:, 0] = 0.0  # the k hypotheses start equal: expand only the first
            tokens = torch.full((n, k, max_length), self._null, dtype=torch.long, device=device)
            lengths = torch.zeros((n, k), dtype=torch.long, device=device)
            done = torch.zeros((n, k), dtype=torch.bool, device=device)
            words = torch.full((n * k,), self._start, dtype=torch.long, device=device)
            rows = torch.arange(n, device=device)[:, None]  # (N, 1)
            cache = []
            for t in range(max_length):
                scores = self.step(memory, words, t, cache)  # (N*k, V)
                word_logp = torch.log_softmax(scores.double(), dim=-1).reshape(n, k, -1)
                v = word_logp.shape[-1]
                word_logp[done] = float("-inf")  # a finished caption continues unchanged ...
                word_logp[done, self._null] = 0.0  # ... through the <NULL> column
                total = (logp[..., None] + word_logp).reshape(n, k * v)  # (N, k*V)
                logp, flat = total.topk(k, dim=1)  # (N, k)
                parent, word = flat // v, flat % v
                tokens, lengths = tokens[rows, parent], lengths[rows, parent]  # (N, k, L), (N, k)
                done = done[rows, parent]
                tokens[..., t] = torch.where(done, self._null, word)
                lengths = lengths + (~done).long()
                done = done | (word == self._end)
                order = (rows * k + parent).reshape(-1)  # (N*k,) the parents' rows
                for layer in cache:
                    layer["self"]["k"] = layer["self"]["k"][order]
                    layer["self"]["v"] = layer["self"]["v"][order]
                words = tokens[..., t].reshape(-1)
                if bool(done.all()):
                    break
            ranked = logp / lengths.clamp_min(1).double() ** length_penalty  # (N, k)
            best = ranked.argmax(dim=1)  # (N,)
            captions = tokens[torch.arange(n, device=device), best]  # (N, L)
            return captions.cpu().numpy().astype(np.int32), ranked.max(dim=1).values.cpu().numpy()


class GridCaptioningTransformer(CaptioningTransformer):
    """The captioner with the image as a grid of tokens: cross-attention over the CNN's spatial
    feature map (N, C, H, W), each cell projected to W and given a learned 2-D position.

    Args:
        word_to_idx, wordvec_dim, num_heads, num_layers, max_length: as ``CaptioningTransformer``.
        input_dim: C, the feature map's channels.
        grid_size: (H, W) of the feature map.
    """

    def __init__(self, word_to_idx, input_dim, wordvec_dim, num_heads=4, num_layers=2,
                 max_length=50, *, grid_size=(7, 7), dim_feedforward=2048,
                 dropout=0.1):  # fmt: skip
        self.grid_size = tuple(grid_size)
        super().__init__(word_to_idx, input_dim, wordvec_dim, num_heads, num_layers, max_length,
                         dim_feedforward=dim_feedforward, dropout=dropout)  # fmt: skip

    def _make_visual(self, input_dim, wordvec_dim):
        h, w = self.grid_size
        self.visual_projection = nn.Linear(input_dim, wordvec_dim)
        self.grid_position = nn.Parameter(torch.randn(1, h * w, wordvec_dim) * 0.02)

    def encode(self, features):
        """features (N, C, H, W) -> memory (N, H*W, W_model), one token per cell."""
        if features.ndim != 4 or tuple(features.shape[2:]) != self.grid_size:
            raise ValueError(f"features must have shape (N, C, {self.grid_size[0]}, "
                             f"{self.grid_size[1]}), got {tuple(features.shape)}")  # fmt: skip
        tokens = features.flatten(2).transpose(1, 2)  # (N, C, H, W) -> (N, H*W, C)
        return self.visual_projection(tokens) + self.grid_position  # (N, H*W, W)

"""Caption text: tokenisation, the word vocabulary and the course's padded int32 caption arrays.

The layout is the course's (``coco2014_vocab.json``): ``idx_to_word`` is a list,
``word_to_idx`` its inverse, ``<NULL>`` = 0 pads, ``<START>`` opens and ``<END>`` closes every
caption, ``<UNK>`` stands for a word not in the vocabulary. A vocabulary built here puts the
four special tokens at 0..3 and the words after them by decreasing count (ties alphabetical),
so the same captions always give the same indices.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from visionblocks.errors import DataFormatError, ShapeError

__all__ = [
    "NULL",
    "START",
    "END",
    "UNK",
    "SPECIAL_TOKENS",
    "tokenize",
    "Vocabulary",
    "decode_captions",
    "caption_words",
]

NULL, START, END, UNK = "<NULL>", "<START>", "<END>", "<UNK>"
SPECIAL_TOKENS = (NULL, START, END, UNK)

_APOSTROPHES = re.compile(r"['\u2019]")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lowercases, drops apostrophes ("man's" -> "mans"), turns every other character that is
    not a letter or digit into a space and splits: ``"A man, riding."`` -> ``["a", "man",
    "riding"]``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    return _NON_WORD.sub(" ", _APOSTROPHES.sub("", text.lower())).split()


def _as_tokens(caption, what: str) -> list[str]:
    if isinstance(caption, str):
        return tokenize(caption)
    if isinstance(caption, Iterable):
        toks = list(caption)
        if not all(isinstance(t, str) for t in toks):
            raise TypeError(f"{what}: a tokenised caption must hold strings only")
        return toks
    raise TypeError(f"{what}: expected a string or a list of words, got {type(caption).__name__}")


class Vocabulary:
    """Words <-> indices, with the course's special tokens.

    Attributes:
        idx_to_word: (V,) list of words; ``idx_to_word[0] == "<NULL>"``.
        word_to_idx: dict word -> index, the inverse.
    """

    def __init__(self, idx_to_word: Sequence[str]):
        """Args:
        idx_to_word: (V,) the words, unique, holding the four special tokens with
            ``<NULL>`` first.
        """
        words = list(idx_to_word)
        if not words or words[0] != NULL:
            got = words[0] if words else "nothing"
            raise DataFormatError(f"idx_to_word[0] must be {NULL!r}, got {got!r}")
        if not all(isinstance(w, str) for w in words):
            raise DataFormatError("idx_to_word must hold strings only")
        missing = [t for t in SPECIAL_TOKENS if t not in words]
        if missing:
            raise DataFormatError(f"idx_to_word lacks the special token(s) {', '.join(missing)}")
        dup = [w for w, c in Counter(words).items() if c > 1]
        if dup:
            raise DataFormatError(f"idx_to_word repeats {dup[:5]}")
        self.idx_to_word = words
        self.word_to_idx = {w: i for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.idx_to_word)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.idx_to_word == other.idx_to_word

    @property
    def null(self) -> int:
        return self.word_to_idx[NULL]

    @property
    def start(self) -> int:
        return self.word_to_idx[START]

    @property
    def end(self) -> int:
        return self.word_to_idx[END]

    @property
    def unk(self) -> int:
        return self.word_to_idx[UNK]

    @classmethod
    def build(cls, captions: Iterable, min_count: int = 1, max_words: int | None = None):
        """The vocabulary of ``captions``: the words seen at least ``min_count`` times.

        Args:
            captions: strings (tokenised with ``tokenize``) or lists of words.
            min_count: rarer words become ``<UNK>``.
            max_words: keep at most this many words (the most frequent), besides the
                special tokens.
        """
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive integer, got {min_count!r}")
        if max_words is not None and (not isinstance(max_words, int) or max_words < 0):
            raise ValueError(f"max_words must be None or a non-negative integer, got {max_words!r}")
        counts = Counter()
        for i, c in enumerate(captions):
            counts.update(_as_tokens(c, f"captions[{i}]"))
        for t in SPECIAL_TOKENS:
            counts.pop(t, None)
        kept = [w for w, c in counts.items() if c >= min_count]
        kept.sort(key=lambda w: (-counts[w], w))  # most frequent first, ties alphabetical
        if max_words is not None:
            kept = kept[:max_words]
        return cls(list(SPECIAL_TOKENS) + kept)

    @classmethod
    def from_dict(cls, data: dict, source: str = "vocabulary"):
        """From the course's ``{"idx_to_word": [...], "word_to_idx": {...}}``, checked."""
        if not isinstance(data, dict) or "idx_to_word" not in data:
            raise DataFormatError(f"{source}: expected an object with the key 'idx_to_word'")
        try:
            vocab = cls(data["idx_to_word"])
        except DataFormatError as e:
            raise DataFormatError(f"{source}: {e}") from None
        w2i = data.get("word_to_idx")
        if w2i is not None and w2i != vocab.word_to_idx:
            bad = next((w for w in vocab.word_to_idx if w2i.get(w) != vocab.word_to_idx[w]), None)
            raise DataFormatError(
                f"{source}: 'word_to_idx' is not the inverse of 'idx_to_word' "
                f"(first mismatch: {bad!r})"
                if bad is not None
                else f"{source}: 'word_to_idx' has {len(w2i)} words, 'idx_to_word' {len(vocab)}"
            )
        return vocab

    def to_dict(self) -> dict:
        return {"idx_to_word": list(self.idx_to_word), "word_to_idx": dict(self.word_to_idx)}

    def save(self, path) -> Path:
        """Writes the course's ``coco2014_vocab.json`` layout."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path):
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataFormatError(f"{path}: not a readable JSON vocabulary ({e})") from None
        return cls.from_dict(data, str(path))

    def encode(self, captions: Iterable, max_length: int | None = None) -> np.ndarray:
        """Captions -> the course's padded int32 array.

        Args:
            captions: (N,) strings (tokenised with ``tokenize``) or lists of words.
            max_length: the most words kept per caption (longer ones are cut); None: the
                longest caption's length.

        Returns:
            (N, max_length + 2) int32: ``<START> w1 .. wk <END> <NULL> ...``; unknown words
            are ``<UNK>``.
        """
        toks = [_as_tokens(c, f"captions[{i}]") for i, c in enumerate(captions)]
        if max_length is None:
            max_length = max((len(t) for t in toks), default=0)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0:
            raise ValueError(f"max_length must be a non-negative integer, got {max_length!r}")
        out = np.full((len(toks), max_length + 2), self.null, dtype=np.int32)  # (N, T)
        unk, w2i = self.unk, self.word_to_idx
        for i, words in enumerate(toks):
            ids = [self.start] + [w2i.get(w, unk) for w in words[:max_length]] + [self.end]
            out[i, : len(ids)] = ids
        return out

    def decode(self, captions: np.ndarray):
        """``decode_captions(captions, self.idx_to_word)``."""
        return decode_captions(captions, self.idx_to_word)

    def words(self, caption: np.ndarray) -> list[str]:
        """``caption_words(caption, self.idx_to_word)``."""
        return caption_words(caption, self.idx_to_word)


def _check_ids(captions, idx_to_word) -> np.ndarray:
    captions = np.asarray(captions)
    if captions.ndim not in (1, 2) or not np.issubdtype(captions.dtype, np.integer):
        raise ShapeError(
            f"captions must be a (T,) or (N, T) integer array, got {captions.dtype} "
            f"{captions.shape}"
        )
    if captions.size and (captions.min() < 0 or captions.max() >= len(idx_to_word)):
        raise ValueError(
            f"captions hold indices in [{captions.min()}, {captions.max()}] but the vocabulary "
            f"has {len(idx_to_word)} words"
        )
    return captions


def decode_captions(captions, idx_to_word):
    """The course's ``decode_captions``: indices -> strings.

    Args:
        captions: (N, T) or (T,) integer word indices.
        idx_to_word: (V,) the vocabulary's words.

    Returns:
        (N,) strings (one string for a (T,) input): the words up to and including the first
        ``<END>``, ``<NULL>`` left out, ``<START>`` kept, joined by spaces.
    """
    captions = _check_ids(captions, idx_to_word)
    singleton = captions.ndim == 1
    if singleton:
        captions = captions[None]  # (1, T)
    decoded = []
    for row in captions:
        words = []
        for t in row:
            word = idx_to_word[t]
            if word != NULL:
                words.append(word)
            if word == END:
                break
        decoded.append(" ".join(words))
    return decoded[0] if singleton else decoded


def caption_words(caption, idx_to_word) -> list[str]:
    """The words of one caption for BLEU: up to the first ``<END>``, without ``<NULL>``,
    ``<START>``, ``<END>`` and ``<UNK>`` (as the course's BLEU left them out).

    Args:
        caption: (T,) integer word indices.
        idx_to_word: (V,) the vocabulary's words.
    """
    caption = _check_ids(caption, idx_to_word)
    if caption.ndim != 1:
        raise ShapeError(f"caption must be a (T,) array, got shape {caption.shape}")
    words = []
    for t in caption:
        word = idx_to_word[t]
        if word == END:
            break
        if word not in SPECIAL_TOKENS:
            words.append(word)
    return words

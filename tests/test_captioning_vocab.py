"""Caption text: tokenisation, the vocabulary (course layout) and the padded int32 arrays."""

from __future__ import annotations

import numpy as np
import pytest

from visionblocks.captioning.vocab import Vocabulary, caption_words, decode_captions, tokenize
from visionblocks.errors import DataFormatError


def test_tokenize_lowercases_and_strips_punctuation():
    assert tokenize("A man's dog, RUNNING on the beach!") == ["a", "mans", "dog", "running",
                                                              "on", "the", "beach"]  # fmt: skip
    assert tokenize("  two-tone   car.\n") == ["two", "tone", "car"]
    assert tokenize("") == []
    with pytest.raises(TypeError, match="text must be a string"):
        tokenize(3)


def test_vocabulary_build_min_count_order_and_round_trip(tmp_path):
    caps = ["a dog runs", "A dog sits.", "a cat sits", "a bird"]
    v = Vocabulary.build(caps, min_count=2)
    assert v.idx_to_word == ["<NULL>", "<START>", "<END>", "<UNK>", "a", "dog", "sits"]
    assert (v.null, v.start, v.end, v.unk) == (0, 1, 2, 3)
    enc = v.encode(caps, max_length=3)
    assert enc.dtype == np.int32 and enc.shape == (4, 5)
    np.testing.assert_array_equal(enc[0], [1, 4, 5, 3, 2])  # runs -> <UNK>
    np.testing.assert_array_equal(enc[3], [1, 4, 3, 2, 0])  # padded with <NULL>
    assert v.encode(["a dog sits a dog"], max_length=2).tolist() == [[1, 4, 5, 2]]  # cut
    assert v.decode(enc) == ["<START> a dog <UNK> <END>", "<START> a dog sits <END>",
                             "<START> a <UNK> sits <END>", "<START> a <UNK> <END>"]  # fmt: skip
    assert decode_captions(enc[1], v.idx_to_word) == "<START> a dog sits <END>"
    assert caption_words(enc[0], v.idx_to_word) == ["a", "dog"]  # as the course's BLEU
    assert Vocabulary.load(v.save(tmp_path / "vocab.json")) == v
    assert Vocabulary.build(caps, max_words=1).idx_to_word[4:] == ["a"]


def test_decode_stops_at_the_first_end_like_the_course():
    words = ["<NULL>", "<START>", "<END>", "<UNK>", "x", "y"]
    caps = np.array([[1, 4, 2, 5, 5], [1, 0, 4, 5, 0]])
    assert decode_captions(caps, words) == ["<START> x <END>", "<START> x y"]
    with pytest.raises(ValueError, match="vocabulary has 6 words"):
        decode_captions(np.array([1, 9]), words)


def test_vocabulary_rejects_bad_layouts():
    with pytest.raises(DataFormatError, match=r"idx_to_word\[0\] must be '<NULL>'"):
        Vocabulary(["<START>", "<NULL>", "<END>", "<UNK>"])
    with pytest.raises(DataFormatError, match="lacks the special token"):
        Vocabulary(["<NULL>", "<START>", "<END>"])
    with pytest.raises(DataFormatError, match="not the inverse"):
        Vocabulary.from_dict({"idx_to_word": ["<NULL>", "<START>", "<END>", "<UNK>", "a"],
                              "word_to_idx": {"<NULL>": 0, "<START>": 1, "<END>": 2,
                                              "<UNK>": 3, "a": 7}})  # fmt: skip
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.build(["a"], min_count=0)

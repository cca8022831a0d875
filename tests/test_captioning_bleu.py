"""Our BLEU against NLTK's corpus_bleu (to 1e-12) and sacrebleu (x100, to 1e-4) on hand-made
and random multi-reference corpora, plus the edge cases and the one place NLTK differs."""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import pytest

from visionblocks.captioning.bleu import (
    bleu_statistics,
    closest_ref_length,
    corpus_bleu,
    corpus_bleu_scores,
    sentence_bleu,
)

HYPS = [
    "a red circle left of a small blue square",
    "the cat sat on the mat today",
    "there is a big green triangle above a cross",
]
REFS = [
    [
        "a red circle to the left of a small blue square",
        "a small blue square right of a red circle",
        "red circle left of blue square",
    ],
    ["the cat is on the mat", "there is a cat on the mat"],
    ["a large green triangle above a yellow cross", "a green triangle is above a cross"],
]
WEIGHTS = {1: (1.0,), 2: (0.5, 0.5), 3: (1 / 3, 1 / 3, 1 / 3), 4: (0.25, 0.25, 0.25, 0.25)}


def _random_corpus(rng, n_sent, vocab=6, min_len=4, max_len=12, max_refs=4):
    """Small vocabularies make higher-order matches common; reference counts vary."""
    words = [f"w{i}" for i in range(vocab)]

    def sent():
        return [words[k] for k in rng.integers(0, vocab, rng.integers(min_len, max_len + 1))]

    hyps = [sent() for _ in range(n_sent)]
    refs = [[sent() for _ in range(rng.integers(1, max_refs + 1))] for _ in range(n_sent)]
    return refs, hyps


def _nltk(refs, hyps, n):
    bleu = pytest.importorskip("nltk.translate.bleu_score")
    tok_refs = [[r.split() if isinstance(r, str) else r for r in rs] for rs in refs]
    tok_hyps = [h.split() if isinstance(h, str) else h for h in hyps]
    with _quiet():
        return bleu.corpus_bleu(tok_refs, tok_hyps, weights=WEIGHTS[n])


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns about zero n-gram overlaps
        yield


def _sacre(refs, hyps, n):
    BLEU = pytest.importorskip("sacrebleu.metrics").BLEU  # noqa: N806 (the class)

    join = [h if isinstance(h, str) else " ".join(h) for h in hyps]
    most = max(len(r) for r in refs)
    streams = [
        [(" ".join(r[k]) if not isinstance(r[k], str) else r[k]) if k < len(r) else None
         for r in refs]
        for k in range(most)
    ]  # fmt: skip
    metric = BLEU(tokenize="none", smooth_method="none", force=True, max_ngram_order=n)
    return metric.corpus_score(join, streams).score


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_hand_made_corpus_equals_nltk_and_sacrebleu(n):
    ours = corpus_bleu(REFS, HYPS, n)
    assert 0 < ours < 1
    assert abs(ours - _nltk(REFS, HYPS, n)) < 1e-12
    assert abs(100 * ours - _sacre(REFS, HYPS, n)) < 1e-4


def test_brevity_penalty_and_counts_by_hand():
    # hypothesis of 4 tokens; references of 3 and 5 tokens are equally close: the shorter wins
    assert closest_ref_length([5, 3], 4) == 3
    stats = bleu_statistics([["a b c", "a b c d e"]], ["a b c d"], 4)
    assert stats.hyp_len == 4 and stats.ref_len == 3  # c > r: no penalty
    assert stats.matches == (4, 3, 2, 1) and stats.totals == (4, 3, 2, 1)
    assert corpus_bleu([["a b c", "a b c d e"]], ["a b c d"]) == 1.0
    # clipping: "the the the the" against a reference holding "the" twice
    s = bleu_statistics([["the cat the mat", "the dog"]], ["the the the the"], 1)
    assert s.matches == (2,) and s.totals == (4,)
    # a short hypothesis pays exp(1 - r / c)
    got = sentence_bleu(["a b c d e f"], "a b c", 1)
    assert got == pytest.approx(math.exp(1 - 6 / 3), abs=1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_random_multi_reference_corpora_equal_both_oracles(seed):
    rng = np.random.default_rng(seed)
    refs, hyps = _random_corpus(rng, n_sent=int(rng.integers(1, 25)))
    scores = corpus_bleu_scores(refs, hyps)
    for n in (1, 2, 3, 4):
        assert scores[f"bleu{n}"] == corpus_bleu(refs, hyps, n)
        assert abs(scores[f"bleu{n}"] - _nltk(refs, hyps, n)) < 1e-12
        assert abs(100 * scores[f"bleu{n}"] - _sacre(refs, hyps, n)) < 1e-4


@pytest.mark.parametrize("seed", range(3))
def test_sentence_bleu_equals_nltk_sentence_bleu(seed):
    bleu = pytest.importorskip("nltk.translate.bleu_score")
    refs, hyps = _random_corpus(np.random.default_rng(100 + seed), n_sent=5, vocab=4)
    for r, h in zip(refs, hyps):
        for n in (1, 2, 3, 4):
            with _quiet():
                want = bleu.sentence_bleu(r, h, weights=WEIGHTS[n])
            assert abs(sentence_bleu(r, h, n) - want) < 1e-12


def test_short_hypotheses_follow_sacrebleu_where_nltk_counts_one_ngram():
    """A 2-token hypothesis has no trigrams: the standard totals count 0 of them, NLTK 1."""
    refs = [["a b c d", "a b"], ["x y z w v"]]
    hyps = ["a b", "x y z w v"]
    for n in (1, 2, 3, 4):
        assert abs(100 * corpus_bleu(refs, hyps, n) - _sacre(refs, hyps, n)) < 1e-4
    assert bleu_statistics(refs, hyps).totals == (7, 5, 3, 2)
    assert corpus_bleu(refs, hyps, 2) == pytest.approx(_nltk(refs, hyps, 2), abs=1e-12)
    assert corpus_bleu(refs, hyps, 4) > _nltk(refs, hyps, 4)  # NLTK's extra unmatched n-grams


def test_edge_cases():
    # no match at all -> 0, as both oracles
    assert corpus_bleu([["a b c d"]], ["e f g h"]) == 0.0
    assert _nltk([["a b c d"]], ["e f g h"], 4) == 0
    assert _sacre([["a b c d"]], ["e f g h"], 4) == 0.0
    # unigram matches but no 4-gram match -> BLEU-4 0 (no smoothing), BLEU-1 > 0
    assert corpus_bleu([["a b c d e"]], ["a c b d e"], 4) == 0.0
    assert corpus_bleu([["a b c d e"]], ["a c b d e"], 1) == 1.0
    assert abs(_nltk([["a b c d e"]], ["a c b d e"], 4)) < 1e-12
    # an empty hypothesis scores 0 (brevity penalty 0), alone or in a corpus
    assert sentence_bleu(["a b c"], "") == 0.0
    assert sentence_bleu(["a b c"], [], 1) == 0.0
    mixed = corpus_bleu([["a b c d"], ["a b c d"]], ["a b c d", ""], 1)
    assert mixed == pytest.approx(math.exp(1 - 8 / 4))
    assert abs(100 * mixed - _sacre([["a b c d"], ["a b c d"]], ["a b c d", ""], 1)) < 1e-4
    # identical text -> 1 at every order; integer token ids work like words
    assert corpus_bleu_scores([[[1, 2, 3, 4, 5]]], [np.array([1, 2, 3, 4, 5])])["bleu4"] == 1.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="2 hypotheses but 1 reference"):
        corpus_bleu([["a"]], ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        corpus_bleu([], [])
    with pytest.raises(ValueError, match=r"list_of_references\[0\] is empty"):
        corpus_bleu([[]], ["a"])
    with pytest.raises(TypeError, match=r"list_of_references\[0\] must be a list"):
        corpus_bleu(["a b"], ["a b"])
    with pytest.raises(ValueError, match="max_n"):
        corpus_bleu([["a"]], ["a"], 0)

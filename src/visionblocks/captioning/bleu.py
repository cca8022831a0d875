"""BLEU-1..4 (Papineni et al. 2002) at corpus and sentence level, with multiple references.

Scale and tokenisation: scores are fractions in [0, 1] (sacrebleu reports them x100); the text
is compared token for token as given: a string is split on whitespace, a sequence is taken as
its tokens, nothing is lowercased or re-tokenised here (``captioning.vocab.tokenize`` does the
caption normalisation before).

The definition is the standard one, as in ``multi-bleu.perl``, sacrebleu and the COCO caption
evaluation:

- modified precision ``p_n``: each hypothesis n-gram counts at most as often as it occurs in
  the one reference where it is most frequent (clipped counts), summed over the corpus and
  divided by the number of hypothesis n-grams in the corpus;
- brevity penalty ``BP = exp(1 - r / c)`` when ``c <= r`` (1 when ``c > r``, 0 when ``c = 0``),
  with ``c`` the total hypothesis length and ``r`` the sum over sentences of the reference
  length closest to the hypothesis length (a tie goes to the shorter reference);
- ``BLEU-N = BP * exp(sum_{n<=N} log(p_n) / N)``, 0 when any ``p_n`` is 0 (no smoothing).

One difference from ``nltk.translate.bleu_score.corpus_bleu``: NLTK counts at least one
n-gram for a hypothesis shorter than ``n`` (``max(1, count)``), so its scores differ from the
standard ones when some hypothesis has fewer than ``n`` tokens; on corpora where every
hypothesis has at least ``N`` tokens the two agree to rounding.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BleuStats",
    "bleu_statistics",
    "bleu_from_statistics",
    "corpus_bleu",
    "corpus_bleu_scores",
    "sentence_bleu",
    "ngram_counts",
    "closest_ref_length",
]

MAX_ORDER = 4


@dataclass(frozen=True)
class BleuStats:
    """The sufficient statistics of corpus BLEU.

    Attributes:
        matches: (max_n,) clipped n-gram matches for n = 1..max_n.
        totals: (max_n,) hypothesis n-grams for n = 1..max_n.
        hyp_len: total hypothesis length ``c``.
        ref_len: total closest-reference length ``r``.
    """

    matches: tuple[int, ...]
    totals: tuple[int, ...]
    hyp_len: int
    ref_len: int

    def __add__(self, other: BleuStats) -> BleuStats:
        if len(self.matches) != len(other.matches):
            raise ValueError(
                f"cannot add BLEU statistics of orders {len(self.matches)} and {len(other.matches)}"
            )
        return BleuStats(
            tuple(a + b for a, b in zip(self.matches, other.matches)),
            tuple(a + b for a, b in zip(self.totals, other.totals)),
            self.hyp_len + other.hyp_len,
            self.ref_len + other.ref_len,
        )


def _tokens(sentence, what: str) -> tuple[str, ...]:
    if isinstance(sentence, str):
        return tuple(sentence.split())
    if isinstance(sentence, Sequence) or hasattr(sentence, "__iter__"):
        toks = tuple(sentence)
        for t in toks:
            if not isinstance(t, (str, int)) and not hasattr(t, "__index__"):
                raise TypeError(f"{what}: tokens must be strings or integers, got {type(t)!r}")
        return tuple(t if isinstance(t, str) else int(t) for t in toks)
    raise TypeError(f"{what}: expected a string or a sequence of tokens, got {type(sentence)!r}")


def ngram_counts(tokens: Sequence, n: int) -> Counter:
    """The n-grams of ``tokens`` (as tuples) with their counts."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def closest_ref_length(ref_lens: Sequence[int], hyp_len: int) -> int:
    """The reference length closest to ``hyp_len``; a tie goes to the shorter reference."""
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def _check_max_n(max_n) -> int:
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive integer, got {max_n!r}")
    return max_n


def _sentence_stats(references, hypothesis, max_n: int, index: int) -> BleuStats:
    hyp = _tokens(hypothesis, f"hypotheses[{index}]")
    if isinstance(references, str) or not hasattr(references, "__iter__"):
        raise TypeError(
            f"list_of_references[{index}] must be a list of reference sentences, got "
            f"{type(references).__name__} (wrap a single reference in a list)"
        )
    refs = [_tokens(r, f"list_of_references[{index}][{j}]") for j, r in enumerate(references)]
    if not refs:
        raise ValueError(f"list_of_references[{index}] is empty: each hypothesis needs a reference")
    matches, totals = [], []
    for n in range(1, max_n + 1):
        hyp_counts = ngram_counts(hyp, n)
        best = Counter()  # each n-gram's largest count in any one reference
        for r in refs:
            best |= ngram_counts(r, n)
        matches.append(sum(min(c, best[g]) for g, c in hyp_counts.items()))
        totals.append(max(0, len(hyp) - n + 1))
    ref_len = closest_ref_length([len(r) for r in refs], len(hyp))
    return BleuStats(tuple(matches), tuple(totals), len(hyp), ref_len)


def bleu_statistics(list_of_references, hypotheses, max_n: int = MAX_ORDER) -> BleuStats:
    """Sums the clipped matches, n-gram totals and lengths over a corpus.

    Args:
        list_of_references: (S,) for each hypothesis, its list of references (each a string
            or a sequence of tokens); the number of references may vary.
        hypotheses: (S,) hypotheses, strings or token sequences.
        max_n: the largest n-gram order counted.

    Returns:
        the corpus's ``BleuStats``.
    """
    max_n = _check_max_n(max_n)
    if isinstance(hypotheses, str) or isinstance(list_of_references, str):
        raise TypeError("hypotheses and list_of_references must be lists (one entry a sentence)")
    hypotheses, list_of_references = list(hypotheses), list(list_of_references)
    if len(hypotheses) != len(list_of_references):
        raise ValueError(
            f"got {len(hypotheses)} hypotheses but {len(list_of_references)} reference lists"
        )
    if not hypotheses:
        raise ValueError("the corpus is empty: BLEU needs at least one hypothesis")
    stats = BleuStats((0,) * max_n, (0,) * max_n, 0, 0)
    for i, (refs, hyp) in enumerate(zip(list_of_references, hypotheses)):
        stats = stats + _sentence_stats(refs, hyp, max_n, i)
    return stats


def brevity_penalty(ref_len: int, hyp_len: int) -> float:
    """``exp(1 - r / c)`` for ``0 < c <= r``, 1 for ``c > r``, 0 for ``c = 0``."""
    if hyp_len > ref_len:
        return 1.0
    if hyp_len == 0:
        return 0.0
    return math.exp(1 - ref_len / hyp_len)


def bleu_from_statistics(stats: BleuStats, n: int = MAX_ORDER) -> float:
    """BLEU-``n`` (uniform weights ``1/n`` over orders 1..n) from corpus statistics."""
    n = _check_max_n(n)
    if n > len(stats.matches):
        raise ValueError(f"n={n} exceeds the statistics' largest order {len(stats.matches)}")
    if any(m == 0 for m in stats.matches[:n]):  # also covers orders with no n-grams at all
        return 0.0
    logs = (math.log(m / t) / n for m, t in zip(stats.matches[:n], stats.totals[:n]))
    return brevity_penalty(stats.ref_len, stats.hyp_len) * math.exp(math.fsum(logs))


def corpus_bleu(list_of_references, hypotheses, n: int = MAX_ORDER) -> float:
    """Corpus BLEU-``n`` in [0, 1].

    Args:
        list_of_references: (S,) lists of references (strings or token sequences).
        hypotheses: (S,) hypotheses.
        n: the largest n-gram order (BLEU-1 .. BLEU-4 and beyond).
    """
    return bleu_from_statistics(bleu_statistics(list_of_references, hypotheses, n), n)


def corpus_bleu_scores(list_of_references, hypotheses, max_n: int = MAX_ORDER) -> dict:
    """``{"bleu1": ..., ..., "bleu{max_n}": ...}``: corpus BLEU-1..max_n from one pass."""
    stats = bleu_statistics(list_of_references, hypotheses, max_n)
    return {f"bleu{k}": bleu_from_statistics(stats, k) for k in range(1, max_n + 1)}


def sentence_bleu(references, hypothesis, n: int = MAX_ORDER) -> float:
    """BLEU-``n`` of one hypothesis against its references (the corpus of one sentence)."""
    return corpus_bleu([references], [hypothesis], n)

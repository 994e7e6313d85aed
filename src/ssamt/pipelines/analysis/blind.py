"""A text-only ("blind") baseline for caption pairs: how often the true caption is the more
probable text, with no image at all, by a language model of the training captions.

Generated negatives are often told from the text alone (an edit makes an unusual phrase),
so every accuracy on minimal pairs or compositional benchmarks is read beside this one: a
model earns only what it gains over it.

The model is a word bigram model with interpolated absolute discounting (d = 0.75) over
add-one unigrams, fitted on one split's captions, lower-cased. A caption's score is its
mean log-probability per word, the end of the caption included, so a caption is not
preferred for being shorter (SugarCrepe's add-* negatives are longer by design).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

DISCOUNT = 0.75
START, END = "<s>", "</s>"


def words(caption: str) -> list[str]:
    """The caption's lower-cased words (letters and digits, an apostrophe inside)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", caption.lower())


@dataclass(frozen=True)
class CaptionLM:
    """Counts of a bigram model (module docstring); build with CaptionLM.fit(captions)."""

    unigrams: Counter
    bigrams: Counter
    contexts: Counter  # c(v): bigrams starting with v
    followers: Counter  # N1+(v .): distinct words seen after v
    total: int  # words counted, the ends of captions included

    @classmethod
    def fit(cls, captions: Iterable[str]) -> CaptionLM:
        unigrams, bigrams = Counter(), Counter()
        for caption in captions:
            seq = [START, *words(caption), END]
            unigrams.update(seq[1:])
            bigrams.update(itertools.pairwise(seq))
        contexts, followers = Counter(), Counter()
        for (v, _), n in bigrams.items():
            contexts[v] += n
            followers[v] += 1
        return cls(unigrams, bigrams, contexts, followers, sum(unigrams.values()))

    def _unigram(self, w: str) -> float:
        return (self.unigrams.get(w, 0) + 1) / (self.total + len(self.unigrams) + 1)

    def probability(self, v: str, w: str) -> float:
        """P(w | v), interpolated with the unigram model."""
        c_v = self.contexts.get(v, 0)
        if c_v == 0:
            return self._unigram(w)
        seen = max(self.bigrams.get((v, w), 0) - DISCOUNT, 0.0) / c_v
        return seen + DISCOUNT * self.followers[v] / c_v * self._unigram(w)

    def score(self, caption: str) -> float:
        """Mean log-probability per word, the end of the caption included."""
        seq = [START, *words(caption), END]
        logs = [math.log(self.probability(v, w)) for v, w in itertools.pairwise(seq)]
        return sum(logs) / len(logs)


def blind_accuracy(lm: CaptionLM, true: Iterable[str], false: Iterable[str]) -> float:
    """% of pairs whose true caption scores above the false one (ties count one half)."""
    results = [1.0 if t > f else 0.5 if t == f else 0.0
               for t, f in ((lm.score(a), lm.score(b)) for a, b in zip(true, false))]
    return 100.0 * sum(results) / len(results) if results else float("nan")

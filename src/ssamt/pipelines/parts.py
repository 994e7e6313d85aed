"""The rows of a caption against an image, one per phrase and word, with the model's part
scores (paper 2.4, Figure 3): what `ssamt explain` shows, what its part levels are measured
from and what the minimal-pair analysis judges. The verdict on each row is explain's
(ssamt.pipelines.explain); the scores come from the one batched scorer
(ssamt.retrieval.pair_scores).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ssamt.data.tables import kept_phrases
from ssamt.data.vocab import UNK, Vocab
from ssamt.labels.graph import CaptionGraph
from ssamt.labels.matching import ImageLabels, mark_phrases, mark_tokens
from ssamt.retrieval.pair_scores import score_pairs

# Pair-level scores, as explain names them: s_A, s_G, s_P + s_R and Eq. 5.
SCORES = ("intra", "inter_global", "local", "eq5")


@dataclass(frozen=True)
class Part:
    """One row: a phrase node or a word token of the caption.

    kind:     "phrase" or "word".
    index:    position in graph.phrases (phrase) or graph.tokens (word).
    type:     "object" | "attribute" | "relation" | "word" | "stop word".
    text:     the caption words of the phrase's span, or the token.
    key:      the key the label rule looks up: the phrase key, or ("word", lemma).
    score:    the phrase-to-image score (model.scores.part_scores); None when the model does
              not see the part (a token past max_tokens, a phrase whose span is cut there,
              or a model without phrase nodes).
    mismatch: the model's verdict (ssamt.pipelines.explain); None for stop words and
              unscored parts.
    label:    the label rule: True matched, False mismatched, None for stop words or no labels.
    in_vocab: False for a word the model reads as <unk>.
    ref:      the level the verdict judges it against (ssamt.pipelines.explain); None
              without one.
    """

    kind: str
    index: int
    type: str
    text: str
    key: tuple[str, ...]
    score: float | None
    mismatch: bool | None
    label: bool | None
    in_vocab: bool = True
    ref: float | None = None

    @property
    def judged(self) -> bool:
        """Scored and eligible for a verdict (a phrase or a content word)."""
        return self.score is not None and self.type != "stop word"

    @property
    def level(self) -> str:
        """The reference level it is judged against: its phrase type, or "word"."""
        return self.type if self.kind == "phrase" else "word"


def _score(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def parts_from_scores(graph: CaptionGraph, phrases: torch.Tensor, words: torch.Tensor,
                      max_tokens: int, vocab: Vocab,
                      labels: ImageLabels | None = None) -> list[Part]:
    """Rows of `graph` (its phrases, then its tokens) from one pair's part scores
    (ScoredPairs.phrases[b], .words[b]: the kept phrases in caption order, the tokens in
    order, NaN where the model has no output); labels: L_i for the label-rule column. No
    verdicts."""
    slot = {p: q for q, p in enumerate(kept_phrases(graph, max_tokens))}
    phrase_marks = None if labels is None else mark_phrases(graph, labels)
    word_marks = None if labels is None else mark_tokens(graph, labels)
    rows = []
    for p, phrase in enumerate(graph.phrases):
        q = slot.get(p)
        text = " ".join(graph.tokens[t] for t in phrase.span) or " ".join(phrase.key[1:])
        rows.append(Part("phrase", p, phrase.type, text, phrase.key,
                         None if q is None else _score(phrases[q]), None,
                         None if phrase_marks is None else bool(phrase_marks[p])))
    n_seen = min(len(graph.tokens), max_tokens)
    for t, (token, lemma, stop) in enumerate(zip(graph.tokens, graph.lemmas, graph.stop)):
        rows.append(Part("word", t, "stop word" if stop else "word", token, ("word", lemma),
                         _score(words[t]) if t < n_seen else None, None,
                         None if word_marks is None else word_marks[t], vocab.id(token) != UNK))
    return rows


@dataclass
class ScoredParts:
    """Scores of B pairs: score name (SCORES, and s_P, s_R) -> (B,) array; parts[b]: rows
    of pair b."""

    scores: dict[str, np.ndarray]
    parts: list[list[Part]]


def score_parts(model: Any, images: Any, texts: Any, graphs: Sequence[CaptionGraph],
                img_rows: np.ndarray, cap_rows: np.ndarray, mu1: float, mu2: float, *,
                vocab: Vocab, max_tokens: int, labels: Sequence[ImageLabels] | None = None,
                batch_size: int = 128, device: str = "cpu") -> ScoredParts:
    """SCORES and part rows of the pairs (images[img_rows[b]], texts[cap_rows[b]]);
    graphs[c] is the graph of texts row c; labels[b]: L_i of pair b's image for the
    label-rule column (None: no column)."""
    pairs = np.stack([np.asarray(img_rows, np.int64), np.asarray(cap_rows, np.int64)], 1)
    scored = score_pairs(model, images, texts, pairs, parts=True, batch_size=batch_size,
                         device=device)
    s = scored.scores
    scores = {"intra": s.s_A, "inter_global": s.s_G, "s_P": s.s_P, "s_R": s.s_R,
              "local": s.s_P + s.s_R, "eq5": s.eq5(mu1, mu2)}
    parts = [parts_from_scores(graphs[int(c)], scored.phrases[b], scored.words[b], max_tokens,
                               vocab, None if labels is None else labels[b])
             for b, c in enumerate(pairs[:, 1])]
    return ScoredParts({k: v.numpy() for k, v in scores.items()}, parts)

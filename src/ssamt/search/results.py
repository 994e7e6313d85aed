"""What a search returns: hits with both stages' scores and ranks, JSON-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Hit:
    """One result.

    index:        image index in the split (text query) or caption line (image query).
    id:           the gallery's id: an image's line of {split}_ids.txt where the split has
                  one, else its index; a caption's line index.
    score:        the score it is ranked by: Eq. 5 when re-ranked, else the stage-1 cosine.
    stage1_score: cos(a^I, a^T) of the intra dual encoder.
    eq5:          Eq. 5 when the inter encoder re-scored it, else None.
    rank, stage1_rank: 1-based positions after and before re-ranking.
    text:         a caption hit's text; None for an image.
    image_id:     a caption hit's image (the id rule above); an image hit's own id.
    captions:     an image hit's captions in the split (what a precomp gallery can show).
    """

    index: int
    id: str | int
    score: float
    stage1_score: float
    eq5: float | None
    rank: int
    stage1_rank: int
    text: str | None = None
    image_id: str | int | None = None
    captions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["captions"] = list(self.captions)
        return out


@dataclass
class SearchResult:
    """mode "text" (text -> images) or "image" (image -> captions); `hits` holds every
    candidate looked at (max(k, rerank_k)), `results` / `stage1_results` the top k of each
    order."""

    mode: str
    query: str | int
    k: int
    rerank_k: int
    mu1: float
    mu2: float
    hits: list[Hit]
    seconds: dict[str, float] = field(default_factory=dict)
    unknown_words: list[str] = field(default_factory=list)
    recipe: str = "ssamt"  # the checkpoint's phase-2 recipe, which made the Eq. 5 scores

    @property
    def results(self) -> list[Hit]:
        return sorted(self.hits, key=lambda h: h.rank)[: self.k]

    @property
    def stage1_results(self) -> list[Hit]:
        return sorted(self.hits, key=lambda h: h.stage1_rank)[: self.k]

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "query": self.query, "k": self.k, "rerank_k": self.rerank_k,
                "recipe": self.recipe, "mu1": self.mu1, "mu2": self.mu2,
                "unknown_words": self.unknown_words,
                "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
                "results": [h.to_json() for h in self.results],
                "stage1_results": [h.to_json() for h in self.stage1_results]}


def rank_hits(stage1_ids: list[int], stage1_scores: list[float], eq5: list[float],
              make) -> list[Hit]:
    """Hits of one query: the first len(eq5) stage-1 candidates re-ranked by Eq. 5 above the
    rest, which keep their stage-1 order (as ssamt.retrieval.rerank.candidates_first).
    make(index, score, stage1_score, eq5, rank, stage1_rank) -> Hit."""
    n = len(eq5)
    reranked = sorted(range(n), key=lambda p: (-eq5[p], p))  # stable on ties
    order = reranked + list(range(n, len(stage1_ids)))
    hits = []
    for rank, p in enumerate(order, start=1):
        value = eq5[p] if p < n else None
        hits.append(make(stage1_ids[p], stage1_scores[p] if value is None else value,
                         stage1_scores[p], value, rank, p + 1))
    return hits

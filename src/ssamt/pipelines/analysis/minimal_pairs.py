"""Minimal-pair accuracy and localization (issue 11): does the model prefer the true caption
(image) to the same caption (image) with one edit, and does it point at the edit?

For each record of {split}_minimal.jsonl (ssamt.data.synth.minimal):
- text-side edit:  positive (image, true caption) vs negative (image, edited caption);
- image-side edit: positive (image, caption) vs negative (edited image, caption).
Each pair is scored as everywhere else (DESIGN.md section 2), from the inter encoder run on
the pair itself:
  intra         s_A = cos(a^I, a^T), the dual encoder alone
  inter_global  s_G = cos(h^I, h^T)
  local         s_P + s_R
  eq5           Eq. 5 = s_A + mu1 s_G + mu2 (s_P + s_R), with the run's mu1, mu2
accuracy = % of records whose positive scores above the negative (ties count one half).

localized = % of negatives whose flagged part touches the edit (the report also gives the
rate of a part picked at random, `chance_localized`): the part (phrase node or
content word, as `ssamt explain` lists them) that scores furthest below the reference level of
its type, score - ref_type, with ref_type the mean score of that type's parts in the
image's own captions against the original image (the explain verdict's ordering; a plain
lowest score would nearly always be a relation, whose parts sit lowest in every caption,
see ssamt.pipelines.explain), has a token in the edited span. Phrase parts cover their span (a relation
phrase spans its subject and object nouns as well).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ssamt.data.batch import ImageBatch
from ssamt.labels.graph import CaptionGraph
from ssamt.model.scores import part_scores, s_global, s_phrase, s_region
from ssamt.pipelines.analysis.pm_accuracy import pairwise_accuracy
from ssamt.pipelines.explain import Part, parts_from_scores

SCORES = ("intra", "inter_global", "local", "eq5")


class ImageRows:
    """Split images (rows 0..N-1) followed by edited images (rows N..N+M-1).

    feats (N + M, R, D), boxes (N + M, R, G) or None; .batch(idx) -> ImageBatch."""

    def __init__(self, feats: np.ndarray, boxes: np.ndarray | None) -> None:
        self.feats, self.boxes = feats, boxes

    def __len__(self) -> int:
        return len(self.feats)

    def batch(self, indices: Sequence[int]) -> ImageBatch:
        idx = np.asarray(indices, dtype=np.int64)
        regions = torch.from_numpy(np.ascontiguousarray(self.feats[idx], dtype=np.float32))
        boxes = None if self.boxes is None else torch.from_numpy(
            np.ascontiguousarray(self.boxes[idx], dtype=np.float32))
        return ImageBatch(regions, torch.ones(regions.shape[:2], dtype=torch.bool), boxes)


@dataclass
class Scored:
    """Scores of B pairs: score name -> (B,) array; parts[b]: rows of pair b (explain.Part)."""

    scores: dict[str, np.ndarray]
    parts: list[list[Part]]


@torch.no_grad()
def score_pairs(model: Any, images: Any, texts: Any, graphs: Sequence[CaptionGraph],
                img_rows: np.ndarray, cap_rows: np.ndarray, mu1: float, mu2: float, *,
                vocab: Any, max_tokens: int, batch_size: int = 128,
                device: str = "cpu") -> Scored:
    """SCORES and part rows of the pairs (images[img_rows[b]], texts[cap_rows[b]]);
    graphs[c] is the graph of texts row c."""
    model.eval()
    scores: dict[str, list[np.ndarray]] = {k: [] for k in SCORES}
    parts: list[list[Part]] = []
    for a in range(0, len(img_rows), batch_size):
        ii, cc = img_rows[a:a + batch_size], cap_rows[a:a + batch_size]
        ib, tb = images.batch(ii).to(device), texts.batch(cc).to(device)
        a_img, a_txt = model.encode_images(ib), model.encode_texts(tb)
        out = model.inter(ib, tb)
        got = {"intra": s_global(a_img, a_txt), "inter_global": s_global(out.h_img, out.h_txt),
               "local": s_phrase(out) + s_region(out), "eq5": model.eq5(a_img, a_txt, out, mu1, mu2)}
        for k, v in got.items():
            scores[k].append(v.float().cpu().numpy())
        cos = part_scores(out).float().cpu()  # (B, P + L)
        mask = out.H_txt_mask.cpu()
        n_slots = tb.phrase_mask.shape[1]
        parts += [parts_from_scores(graphs[int(c)], cos[b], mask[b], n_slots, max_tokens, vocab)
                  for b, c in enumerate(cc)]
    return Scored({k: np.concatenate(v) if v else np.zeros(0) for k, v in scores.items()}, parts)


# ----- localization -------------------------------------------------------------------------


def token_offsets(graph: CaptionGraph) -> list[tuple[int, int] | None]:
    """[start, end) of each token in graph.text (None for one not found in order)."""
    text, pos, out = graph.text.lower(), 0, []
    for tok in graph.tokens:
        at = text.find(tok.lower(), pos)
        if at < 0:
            out.append(None)
            continue
        out.append((at, at + len(tok)))
        pos = at + len(tok)
    return out


def span_tokens(graph: CaptionGraph, char_spans: Sequence[Sequence[int]]) -> set[int]:
    """Tokens of the graph overlapping any [start, end) character span of its text."""
    return {t for t, off in enumerate(token_offsets(graph)) if off is not None
            and any(off[0] < b and a < off[1] for a, b in char_spans)}


def flagged_part(parts: Sequence[Part], reference: dict[str, float]) -> Part | None:
    """The judged part furthest below its type's reference (module docstring), or None."""
    best, best_gap = None, float("inf")
    for p in parts:
        if p.judged and p.level in reference and p.score - reference[p.level] < best_gap:
            best, best_gap = p, p.score - reference[p.level]
    return best


def part_tokens(graph: CaptionGraph, part: Part) -> set[int]:
    if part.kind == "phrase":
        return set(graph.phrases[part.index].span)
    return {part.index}


def localized(graph: CaptionGraph, parts: Sequence[Part], reference: dict[str, float],
              char_spans: Sequence[Sequence[int]]) -> bool:
    """Whether the flagged part of the caption has a token in the edited span."""
    part = flagged_part(parts, reference)
    return part is not None and bool(part_tokens(graph, part) & span_tokens(graph, char_spans))


def chance_localized(graph: CaptionGraph, parts: Sequence[Part], reference: dict[str, float],
                     char_spans: Sequence[Sequence[int]]) -> float:
    """Share of the candidate parts (judged, type in the reference) touching the edited span:
    how often a part picked at random would count as localized (a long span, as the two noun
    phrases of a swap-role edit, is touched by most parts)."""
    span = span_tokens(graph, char_spans)
    cands = [p for p in parts if p.judged and p.level in reference]
    return sum(bool(part_tokens(graph, p) & span) for p in cands) / len(cands) if cands else 0.0


# ----- the table ----------------------------------------------------------------------------


def accuracy_by_edit(records: Sequence[dict[str, Any]], pos: dict[str, np.ndarray],
                     neg: dict[str, np.ndarray], loc: np.ndarray,
                     edit_types: Sequence[str]) -> dict[str, dict[str, float]]:
    """{edit type: {score: accuracy %, "localized": %, "n": count}}, for the types present,
    in `edit_types` order; pos / neg: score -> (n_records,) array, loc (n_records,) bool."""
    kinds = np.array([r["edit"] for r in records])
    out: dict[str, dict[str, float]] = {}
    for name in edit_types:
        rows = kinds == name
        if rows.any():
            out[name] = {k: pairwise_accuracy(pos[k][rows], neg[k][rows]) for k in SCORES}
            out[name]["localized"] = float(100.0 * np.mean(loc[rows]))
            out[name]["n"] = int(rows.sum())
    return out

"""Minimal-pair accuracy and localization: does the model prefer the true caption
(image) to the same caption (image) with one edit, and does it point at the edit?

For each record of {split}_minimal.jsonl (ssamt.data.synth.minimal):
- text-side edit:  positive (image, true caption) vs negative (image, edited caption);
- image-side edit: positive (image, caption) vs negative (edited image, caption).
Each pair is scored as everywhere else (docs/DESIGN.md section 2), from the inter encoder run on
the pair itself:
  intra         s_A = cos(a^I, a^T), the dual encoder alone
  inter_global  s_G = cos(h^I, h^T)
  local         s_P + s_R
  eq5           Eq. 5 = s_A + mu1 s_G + mu2 (s_P + s_R), with the run's mu1, mu2
accuracy = % of records whose positive scores above the negative (ties count one half).

localized = % of negatives whose flagged part touches the edit (the report also gives the
rate of a part picked at random among the same candidates, `chance_localized`): the part
`ssamt explain` names as the most likely mismatch (explain.flagged_part), the phrase that
scores furthest below its reference, where it usually scores against images it matches
(ssamt.pipelines.part_levels: measured on the data folder's train split, or cached beside
the checkpoint); a word when no phrase is judged. Without part levels the reference is the
mean score of the part's type in the image's own captions against the original image
(less a caption with the judged text, as explain leaves it out). (A plain lowest score
would nearly always be a relation, whose parts sit lowest in every caption.) It counts
when it has a token in the edited span; phrase parts cover their span (a relation phrase
spans its subject and object nouns as well).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ssamt.labels.graph import CaptionGraph
from ssamt.pipelines.analysis.pm_accuracy import pairwise_accuracy
from ssamt.pipelines.explain import flagged_part
from ssamt.pipelines.parts import SCORES, Part

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


def part_tokens(graph: CaptionGraph, part: Part) -> set[int]:
    if part.kind == "phrase":
        return set(graph.phrases[part.index].span)
    return {part.index}


def localized(graph: CaptionGraph, parts: Sequence[Part],
              char_spans: Sequence[Sequence[int]]) -> bool:
    """Whether the part the verdict names (explain.flagged_part; parts carry their .ref,
    explain.with_references) has a token in the edited span."""
    part = flagged_part(parts)
    return part is not None and bool(part_tokens(graph, part) & span_tokens(graph, char_spans))


def verdict_candidates(parts: Sequence[Part]) -> list[Part]:
    """The parts flagged_part chooses among: the judged phrases, else the judged words."""
    judged = [p for p in parts if p.ref is not None]
    return [p for p in judged if p.kind == "phrase"] or judged


def chance_localized(graph: CaptionGraph, parts: Sequence[Part],
                     char_spans: Sequence[Sequence[int]]) -> float:
    """Share of the verdict's candidate parts touching the edited span: how often a part
    picked at random among them would count as localized (a long span, as the two noun
    phrases of a swap-role edit, is touched by most parts)."""
    span = span_tokens(graph, char_spans)
    cands = verdict_candidates(parts)
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

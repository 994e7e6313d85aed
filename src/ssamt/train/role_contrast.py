"""Role contrast (issue 11; docs/PHASE2.md "Phrase grounding"): a relation the label rule
marks matched for a positive pair must ground better than the same relation with its
subject and object exchanged, under the same image.

Negatives from other images almost never hold both objects of a relation in the other
arrangement, so nothing else asks the grounding head which of two objects is the subject:
"a cup on a table" and "a table on a cup" find the same two regions. The exchanged relation
is the same words in the same caption, scored against the same image, so only the roles
(the subject's region and the predicate's geometry) can tell them apart; and the same
relation is a positive elsewhere in its own order, so its text cannot be remembered as a
negative. Supervision is the label rule's: the relation is matched (its key is in L_i) and
the exchanged key is not (a symmetric "next to" stated both ways is left out), never the
scene's truth, so the recipe is the same on real captions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ssamt.data.tables import kept_phrases
from ssamt.labels.graph import CaptionGraph


def reversed_key(key: tuple[str, ...]) -> tuple[str, ...]:
    """("rel", s, r, o) -> ("rel", o, r, s)."""
    return (key[0], key[3], key[2], key[1])


def role_contrast_flags(graph: CaptionGraph, labels, max_tokens: int,
                        max_phrases: int | None = None) -> list[bool]:
    """One flag per kept phrase of `graph` (TextTable's phrase order): True for a relation the
    rule marks matched for `labels` whose exchanged key it marks mismatched."""
    from ssamt.labels.matching import phrase_positive

    flags = []
    for p in kept_phrases(graph, max_tokens, max_phrases):
        phrase = graph.phrases[p]
        flags.append(phrase.type == "relation" and len(phrase.key) == 4
                     and phrase.key[1] != phrase.key[3]
                     and phrase_positive(phrase.key, labels)
                     and not phrase_positive(reversed_key(phrase.key), labels))
    return flags


class RoleContrastTable:
    """Every training caption's flags against its own image's labels, computed once."""

    def __init__(self, graphs: Sequence[CaptionGraph], caption_image: np.ndarray, labels,
                 max_tokens: int, max_phrases: int | None = None) -> None:
        self.flags = [role_contrast_flags(g, labels.image_labels(int(caption_image[j])),
                                          max_tokens, max_phrases)
                      for j, g in enumerate(graphs)]

    def batch(self, captions: Sequence[int], n_phrases: int) -> torch.Tensor:
        """(B, n_phrases) bool for the captions, padded as TextTable.batch pads phrases."""
        out = torch.zeros(len(captions), n_phrases, dtype=torch.bool)
        for b, j in enumerate(captions):
            row = self.flags[int(j)]
            out[b, :len(row)] = torch.tensor(row, dtype=torch.bool)
        return out

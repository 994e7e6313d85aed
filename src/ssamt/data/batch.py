"""Typed batches: the contract between the data layer and the model.

Text sequence layout (paper 2.3): [C^T, phrase nodes (P), word tokens (L)].
Image sequence layout:            [C^I, regions (R)].
Masks are True where an entry is real and False where it is padding.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

# Phrase-type ids for the phrase-segment embedding; 0 is padding.
PHRASE_TYPE_IDS = {"object": 1, "attribute": 2, "relation": 3}

# Phrase-matching marks (docs/DESIGN.md section 2) for phrases and tokens of a caption
# relative to an image.
MARK_MISMATCHED = 0
MARK_MATCHED = 1
MARK_UNLABELED = -1

# Token roles inside a relation phrase's span (TextBatch.phrase_roles); the predicate is 0.
ROLE_SUBJECT = 1
ROLE_OBJECT = 2


def _to(obj, device: torch.device | str, non_blocking: bool = False):
    changes = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, torch.Tensor):
            changes[f.name] = value.to(device, non_blocking=non_blocking)
    return replace(obj, **changes)


@dataclass(frozen=True)
class TextBatch:
    """B captions, padded.

    token_ids:    (B, L) long, vocabulary ids, 0 = padding.
    token_mask:   (B, L) bool.
    phrase_types: (B, P) long, PHRASE_TYPE_IDS, 0 = padding.
    phrase_mask:  (B, P) bool.
    phrase_spans: (B, P, L) bool, True where token l is in phrase p's span (mask rule 3).
    phrase_roles: (B, P, L) int8 or None: ROLE_SUBJECT / ROLE_OBJECT where token l is the
                  subject / object of relation phrase p (labels.graph.relation_roles), 0
                  elsewhere; the phrase-grounding head reads it (None: no roles known).
    """

    token_ids: torch.Tensor
    token_mask: torch.Tensor
    phrase_types: torch.Tensor
    phrase_mask: torch.Tensor
    phrase_spans: torch.Tensor
    phrase_roles: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.token_ids.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TextBatch:
        return _to(self, device, non_blocking)

    def index(self, idx: torch.Tensor) -> TextBatch:
        """Rows `idx` of every tensor (a gather along the batch axis)."""
        return TextBatch(*(None if getattr(self, f.name) is None else getattr(self, f.name)[idx]
                           for f in fields(self)))


@dataclass(frozen=True)
class ImageBatch:
    """B images, padded.

    regions:     (B, R, D) float, region features.
    region_mask: (B, R) bool.
    boxes:       (B, R, G) float box geometry (normalized x1, y1, x2, y2, area, ...) or None.
    """

    regions: torch.Tensor
    region_mask: torch.Tensor
    boxes: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.regions.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ImageBatch:
        return _to(self, device, non_blocking)

    def index(self, idx: torch.Tensor) -> ImageBatch:
        boxes = None if self.boxes is None else self.boxes[idx]
        return ImageBatch(self.regions[idx], self.region_mask[idx], boxes)


@dataclass(frozen=True)
class PhraseMarks:
    """Phrase-matching marks of B captions relative to B images (one image per caption).

    phrase_marks: (B, P) long, MARK_MATCHED / MARK_MISMATCHED / MARK_UNLABELED (also padding).
    token_marks:  (B, L) long, same values; stop words and padding are MARK_UNLABELED.
    The local text outputs H^T of the model are [phrases; tokens], so
    torch.cat([phrase_marks, token_marks], 1) lines up with them.
    """

    phrase_marks: torch.Tensor
    token_marks: torch.Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PhraseMarks:
        return _to(self, device, non_blocking)

    def combined(self) -> torch.Tensor:
        """(B, P + L) marks in the order of the model's local text outputs."""
        return torch.cat([self.phrase_marks, self.token_marks], dim=1)

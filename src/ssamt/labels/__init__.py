"""Phrase-level semantic labels (paper 2.1, docs/DESIGN.md sections 1-2).

`parse` turns captions into text scene graphs, `build_image_labels` / `mark_phrases` /
`mark_tokens` apply the positive/negative rule of docs/DESIGN.md section 2, and
`build_or_load_labels` caches parses on disk (a precomp split's: ssamt.data.split_labels).
spaCy is imported only when a caption is actually parsed.
"""

from ssamt.labels.graph import PHRASE_TYPES, CaptionGraph, Phrase
from ssamt.labels.matching import ImageLabels, build_image_labels, mark_phrases, mark_tokens
from ssamt.labels.parser import parse
from ssamt.labels.store import LabelStore, build_or_load_labels

__all__ = [
    "PHRASE_TYPES",
    "CaptionGraph",
    "ImageLabels",
    "LabelStore",
    "Phrase",
    "build_image_labels",
    "build_or_load_labels",
    "mark_phrases",
    "mark_tokens",
    "parse",
]

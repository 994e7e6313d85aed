"""Phrase-level semantic labels (paper 2.1, DESIGN.md sections 1-2)."""

from ssamt.labels.graph import PHRASE_TYPES, CaptionGraph, Phrase

__all__ = ["PHRASE_TYPES", "CaptionGraph", "Phrase"]

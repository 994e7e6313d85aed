"""The label set L_i of an image and the positive / negative rule (paper 2.4, docs/DESIGN.md 2).

docs/DESIGN.md section 2, "Phrase key and 'included in'": a phrase or token of caption T is
positive for image i when its key is in L_i or is *included* in some label of L_i:
- a word when its lemma occurs in any label or caption of the image;
- an object when it occurs as an object, subject or attribute holder in any label;
- an attribute pair or relation triple only when it is in L_i itself.
Everything else is negative; stop words and punctuation get no label (None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ssamt.labels.graph import CaptionGraph, Key


@dataclass(frozen=True)
class ImageLabels:
    """L_i: the phrase keys of an image's training captions, plus the lookups of the rule.

    keys:    every phrase key ("obj", o) / ("attr", a, o) / ("rel", s, r, o) of the captions.
    objects: object names occurring as object, subject or attribute holder in any label.
    words:   lemmas (and surface words) of the captions, and every word of every label.
    """

    keys: frozenset[Key]
    objects: frozenset[str]
    words: frozenset[str]

    def __contains__(self, key: Key) -> bool:
        return key in self.keys

    def __len__(self) -> int:
        return len(self.keys)


def build_image_labels(graphs: Sequence[CaptionGraph]) -> ImageLabels:
    """L_i from the parses of image i's captions (paper 2.1: the union over its captions)."""
    keys: set[Key] = set()
    words: set[str] = set()
    for graph in graphs:
        keys.update(p.key for p in graph.phrases)
        words.update(graph.lemmas)
        words.update(graph.tokens)
    objects: set[str] = set()
    for key in keys:
        if key[0] == "obj":
            objects.add(key[1])
        elif key[0] == "attr":
            objects.add(key[2])  # the attribute holder
        elif key[0] == "rel":
            objects.update((key[1], key[3]))  # subject and object
        for part in key[1:]:
            words.update(part.split())
    return ImageLabels(frozenset(keys), frozenset(objects), frozenset(words))


def phrase_positive(key: Key, labels: ImageLabels) -> bool:
    if key in labels.keys:
        return True
    if key[0] == "obj":
        return key[1] in labels.objects
    if key[0] == "word":
        return key[1] in labels.words
    return False  # attribute pairs and relation triples: only as themselves


def mark_phrases(graph: CaptionGraph, labels: ImageLabels) -> list[bool]:
    """One flag per graph.phrases: True = matched (positive) for this image."""
    return [phrase_positive(p.key, labels) for p in graph.phrases]


def mark_tokens(graph: CaptionGraph, labels: ImageLabels) -> list[bool | None]:
    """One flag per token: True/False for content words, None for stop words and punctuation."""
    out: list[bool | None] = []
    for token, lemma, stop in zip(graph.tokens, graph.lemmas, graph.stop):
        if stop:
            out.append(None)
        else:
            out.append(lemma in labels.words or token in labels.words)
    return out

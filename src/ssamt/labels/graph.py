"""The text scene graph of one caption (paper 2.1, docs/DESIGN.md sections 1-2).

This module is the contract between the parser, the label rule, the data layer and the
model: a caption becomes word tokens plus phrases, each phrase with a normalized key and
the token positions (its span) that the model's mask lets its node see (paper 2.3 rule 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Phrase types, in the order of the model's phrase-segment embedding (paper 2.2).
PHRASE_TYPES: tuple[str, ...] = ("object", "attribute", "relation")

# Key tags of docs/DESIGN.md section 2: ("obj", o), ("attr", a, o), ("rel", s, r, o), ("word", w).
KEY_TAG = {"object": "obj", "attribute": "attr", "relation": "rel"}

Key = tuple[str, ...]


@dataclass(frozen=True)
class Phrase:
    """One phrase node.

    type: "object" | "attribute" | "relation".
    key:  normalized key of lower-case lemmas, tag first:
          ("obj", "dog"), ("attr", "yellow", "frisbee"), ("rel", "dog", "catch", "frisbee").
    span: sorted token positions (into CaptionGraph.tokens) of the words of this phrase.
    """

    type: str
    key: Key
    span: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "key": list(self.key), "span": list(self.span)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Phrase:
        return cls(type=obj["type"], key=tuple(obj["key"]), span=tuple(obj["span"]))


@dataclass(frozen=True)
class CaptionGraph:
    """The parse of one caption.

    tokens:     lower-case surface tokens (what the model embeds), length L.
    lemmas:     lower-case lemma of each token, length L.
    stop:       per token, True for stop words and punctuation: they get no
                phrase-matching label (docs/DESIGN.md section 2).
    objects:    object lemmas ("dog", "baseball field"), no duplicates, in caption order.
    attributes: (object, attribute) pairs, FACTUAL order: ("frisbee", "yellow").
    relations:  (subject, relation, object) triples: ("dog", "catch", "frisbee").
    phrases:    one Phrase per object, attribute pair and relation triple, with spans.
    """

    text: str
    tokens: tuple[str, ...]
    lemmas: tuple[str, ...]
    stop: tuple[bool, ...]
    objects: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    relations: tuple[tuple[str, str, str], ...] = ()
    phrases: tuple[Phrase, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tokens": list(self.tokens),
            "lemmas": list(self.lemmas),
            "stop": list(self.stop),
            "objects": list(self.objects),
            "attributes": [list(a) for a in self.attributes],
            "relations": [list(r) for r in self.relations],
            "phrases": [p.to_json() for p in self.phrases],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> CaptionGraph:
        return cls(
            text=obj["text"],
            tokens=tuple(obj["tokens"]),
            lemmas=tuple(obj["lemmas"]),
            stop=tuple(obj.get("stop", [False] * len(obj["tokens"]))),
            objects=tuple(obj["objects"]),
            attributes=tuple(tuple(a) for a in obj["attributes"]),
            relations=tuple(tuple(r) for r in obj["relations"]),
            phrases=tuple(Phrase.from_json(p) for p in obj["phrases"]),
        )


def relation_roles(graph: CaptionGraph, phrase: Phrase) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(subject tokens, object tokens) of a relation phrase's span; the rest of the span is
    the predicate. The subject and object are the spans of the caption's object phrases for
    the key's subject and object (inside the relation's span); when the two share a lemma
    ("a man next to a man") or one is not found, the span's first token is the subject and
    its last the object. Non-relation phrases give ((), ())."""
    if phrase.type != "relation" or len(phrase.key) != 4 or not phrase.span:
        return (), ()
    span = set(phrase.span)
    nouns = {p.key[1]: tuple(t for t in p.span if t in span)
             for p in graph.phrases if p.type == "object" and len(p.key) == 2}
    subj, obj = nouns.get(phrase.key[1], ()), nouns.get(phrase.key[3], ())
    if phrase.key[1] == phrase.key[3] or not subj or not obj or set(subj) & set(obj):
        if len(phrase.span) < 2:
            return (), ()
        return (phrase.span[0],), (phrase.span[-1],)
    return subj, obj

"""The structure of a synthetic caption: who is named, with which attributes, in which relation.

`text.py` builds a CaptionSpec for every caption and writes its text; the spec is what
minimal pairs edit (swap two attributes, reverse a relation, change a count, ...)
and what scene truth checks ("is this caption true of that scene", `truth.py`). A spec is
a list of items (literal words, noun phrases, relation words, agreement words) rendered to
words, each word tagged with the item it came from, so an edit knows its token span.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ssamt.data.synth.world import OBJECTS_BY_NAME, PASSIVE, PREPOSITIONS, SPATIAL, VERBS

NUMBERS = {2: "two", 3: "three"}
_POSTURE = {"part": {"sit": "sitting", "stand": "standing"},
            "finite": {"sit": ("sits", "sit"), "stand": ("stands", "stand")}}


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass
class NP:
    """One mention: entity (index in the source scene), its type and count, the noun
    (singular, plural) chosen, and the attributes stated, each [group, canonical value,
    surface word]: `adjs` before the noun, `pred` after it ("an umbrella that is red")."""

    entity: int
    type: str
    count: int
    noun: tuple[str, str]
    adjs: list[list[str]] = field(default_factory=list)
    pred: list[list[str]] = field(default_factory=list)
    definite: bool = False

    @property
    def plural(self) -> bool:
        return self.count > 1

    def attrs(self) -> list[tuple[str, str]]:
        """(group, canonical value) of every stated attribute."""
        return [(g, v) for g, v, _ in (*self.adjs, *self.pred)]


@dataclass
class Rel:
    """subj rel obj between two mentions (indices into CaptionSpec.nps). words: the surface
    variant chosen: spatial [preposition, posture "sit"/"stand" or ""], action the verb's
    [participle, 3rd singular, plural] forms."""

    subj: int
    rel: str
    obj: int
    words: list[str]


@dataclass
class CaptionSpec:
    """items: ["w", words] | ["set", words] | ["np", m] | ["be", m] | ["who", m]
    | ["rel", r, form] (form: part, finite, passive) | ["pred", m]."""

    nps: list[NP]
    rels: list[Rel]
    items: list[list[Any]]
    setting: str | None = None
    period: bool = False

    def copy(self) -> CaptionSpec:
        """A deep copy (by hand: copy.deepcopy made minimal-pair generation 10x slower)."""
        nps = [NP(n.entity, n.type, n.count, n.noun, [list(a) for a in n.adjs],
                  [list(a) for a in n.pred], n.definite) for n in self.nps]
        rels = [Rel(r.subj, r.rel, r.obj, list(r.words)) for r in self.rels]
        return CaptionSpec(nps, rels, [list(i) for i in self.items], self.setting, self.period)

    def render(self) -> tuple[list[str], list[tuple]]:
        """(words, one tag per word); tags: ("w",), ("set",), ("det", m), ("adj", m, k),
        ("noun", m), ("be", m), ("who", m), ("rel", r), ("pred", m, k)."""
        words: list[str] = []
        tags: list[tuple] = []
        for item in self.items:
            for w, t in _item_words(self, item):
                split = w.split()
                words.extend(split)
                tags.extend([t] * len(split))
        return words, tags

    def text(self, words: list[str] | None = None) -> str:
        """The caption as written to {split}_caps.txt; words: its render() when at hand."""
        text = " ".join(self.render()[0] if words is None else words)
        text = text[0].upper() + text[1:]
        return text + "." if self.period else text

    def to_json(self) -> dict[str, Any]:
        return {"nps": [asdict(n) for n in self.nps], "rels": [asdict(r) for r in self.rels],
                "items": self.items, "setting": self.setting, "period": self.period}

    @staticmethod
    def from_json(d: dict[str, Any]) -> CaptionSpec:
        nps = [NP(**{**n, "noun": tuple(n["noun"])}) for n in d["nps"]]
        return CaptionSpec(nps, [Rel(**r) for r in d["rels"]], [list(i) for i in d["items"]],
                           d.get("setting"), bool(d.get("period")))


def np_words(np_: NP, m: int) -> list[tuple[str, tuple]]:
    """The noun phrase: determiner, adjectives (adjective order kept), noun."""
    body = [(s, ("adj", m, k)) for k, (_, _, s) in enumerate(np_.adjs)]
    body.append((np_.noun[1] if np_.plural else np_.noun[0], ("noun", m)))
    if np_.plural:
        head = ("the " if np_.definite else "") + NUMBERS[np_.count]
    else:
        head = "the" if np_.definite else article(body[0][0])
    return [(head, ("det", m)), *body]


def rel_words(spec: CaptionSpec, r: int, form: str) -> str:
    """The relation's words in `form`, agreeing with its subject."""
    rel = spec.rels[r]
    plural = spec.nps[rel.subj].plural
    if form == "passive":
        return PASSIVE[rel.rel]
    if rel.rel in SPATIAL:
        prep, posture = rel.words
        if form == "part":
            return f"{_POSTURE['part'][posture]} {prep}" if posture else prep
        if posture:
            return f"{_POSTURE['finite'][posture][1 if plural else 0]} {prep}"
        return f"{'are' if plural else 'is'} {prep}"
    part, third, plur = rel.words
    if form == "part":
        return part
    return plur if plural else third


def default_rel_words(rel: str) -> list[str]:
    """The canonical words of a relation (first preposition or verb, no posture)."""
    return [PREPOSITIONS[rel][0], ""] if rel in SPATIAL else list(VERBS[rel][0])


def _item_words(spec: CaptionSpec, item: list[Any]) -> list[tuple[str, tuple]]:
    kind = item[0]
    if kind in ("w", "set"):
        return [(item[1], (kind,))]
    if kind == "np":
        return np_words(spec.nps[item[1]], item[1])
    if kind == "be":
        return [("are" if spec.nps[item[1]].plural else "is", ("be", item[1]))]
    if kind == "who":
        kinds = OBJECTS_BY_NAME[spec.nps[item[1]].type].kinds
        return [("who" if "person" in kinds else "that", ("who", item[1]))]
    if kind == "rel":
        return [(rel_words(spec, item[1], item[2]), ("rel", item[1]))]
    if kind == "pred":
        np_ = spec.nps[item[1]]
        return [(s, ("pred", item[1], k)) for k, (_, _, s) in enumerate(np_.pred)]
    raise ValueError(f"unknown caption item {item!r}")

"""English captions of a synthetic scene: each describes part of it, in varied forms.

Forms: fragments ("A man holding a red umbrella"), progressive and simple present
sentences, "there is", "a photo of", relative clauses ("a man who is holding a red
umbrella stands next to a car"), passives ("a ball chased by two dogs"), conjunctions,
predicative attributes ("an umbrella that is red"), with synonyms, plurals and numbers.
Every statement is true of the scene (attributes and relations come from it).

Each caption is built as a CaptionSpec (synth_caption: who is named, with which attributes,
in which relation) and written as its text; the random draws are the same, in the same
order, as when the text was built directly (generator version 1 stays byte-identical).
`CaptionStyle` holds what generator 2 changes (more captions that bind attributes
to both objects of a relation).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ssamt.data.synth.caption import NP, NUMBERS, CaptionSpec, Rel, article  # noqa: F401 (re-exported)
from ssamt.data.synth.scene import Entity, Scene
from ssamt.data.synth.world import PASSIVE, PREPOSITIONS, SIZES, SPATIAL, VERBS

SETTING_PHRASES = {
    "park": ("in a park", "in the park"), "beach": ("on the beach", "at the beach"),
    "street": ("on a street", "on the street"), "kitchen": ("in a kitchen", "in the kitchen"),
    "field": ("in a field", "in a grassy field"), "room": ("in a room", "in a living room"),
}
# Adjective order in English: size/age/height, then colour, then material.
_ATTR_ORDER = ("size", "height", "age", "colour", "material")


@dataclass(frozen=True)
class CaptionStyle:
    """attr_weights: weights of 0, 1, 2 adjectives on a noun phrase; two_relations: chance
    of a caption joining two relations; distinguish: a mention whose type occurs twice in
    the scene gets at least one adjective (generator 2 only)."""

    attr_weights: tuple[float, float, float] = (0.3, 0.5, 0.2)
    two_relations: float = 0.3
    distinguish: bool = False


STYLE_V1 = CaptionStyle()
# Generator 2: both objects of a relation carry an attribute about 80% of the time (v1: 49%).
STYLE_V2 = CaptionStyle(attr_weights=(0.1, 0.6, 0.3), two_relations=0.3, distinguish=True)


class Mention:
    """How one entity is named in one caption (noun synonym fixed per caption)."""

    def __init__(self, rng: random.Random, e: Entity, index: int = -1) -> None:
        self.e = e
        self.index = index
        nouns = e.type.nouns
        self.noun = nouns[0] if len(nouns) == 1 or rng.random() < 0.6 else rng.choice(nouns[1:])
        self.plural = e.count > 1
        self.rng = rng

    def np(self, n_attrs: int, definite: bool = False, skip: str | None = None) -> NP:
        """Noun phrase with up to n_attrs adjectives (leaving out group `skip`)."""
        groups = [g for g in _ATTR_ORDER if g in self.e.attrs and g != skip]
        chosen = set(self.rng.sample(groups, min(n_attrs, len(groups))))
        adjs = [[g, self.e.attrs[g], self.adjective(g)] for g in _ATTR_ORDER if g in chosen]
        return NP(self.index, self.e.type.name, self.e.count, tuple(self.noun), adjs,
                  definite=definite)

    def adjective(self, group: str) -> str:
        value = self.e.attrs[group]
        return self.rng.choice(SIZES[value]) if group == "size" else value

    @property
    def be(self) -> str:
        return "are" if self.plural else "is"

    @property
    def who(self) -> str:
        return "who" if "person" in self.e.type.kinds else "that"


def relation_words(rng: random.Random, rel: str, subj: Mention, form: str) -> list[str]:
    """The surface variant of the relation's words (Rel.words) for a subject in form "part"
    (holding / sitting on / next to) or "finite" (holds / sits on / is next to)."""
    if rel in SPATIAL:
        prep = rng.choice(PREPOSITIONS[rel])
        posture = subj.e.type.animate and rng.random() < 0.5
        if form == "part":
            return [prep, rng.choice(("sit", "stand")) if posture else ""]
        if posture:
            return [prep, rng.choice(("sit", "stand"))]
        return [prep, ""]
    return list(rng.choice(VERBS[rel]))


class _Builder:
    """Collects the mentions, relations and items of one caption."""

    def __init__(self, rng: random.Random, scene: Scene, style: CaptionStyle) -> None:
        self.rng, self.scene, self.style = rng, scene, style
        self.nps: list[NP] = []
        self.rels: list[Rel] = []
        self.items: list[list] = []
        self.types = [e.type.name for e in scene.entities]

    def n_attrs(self, m: Mention) -> int:
        n = self.rng.choices((0, 1, 2), self.style.attr_weights)[0]
        if self.style.distinguish and n == 0 and self.types.count(m.e.type.name) > 1:
            return 1
        return n

    def np(self, np_: NP) -> int:
        self.nps.append(np_)
        return len(self.nps) - 1

    def rel(self, s: int, rel: str, o: int, words: list[str]) -> int:
        self.rels.append(Rel(s, rel, o, words))
        return len(self.rels) - 1

    def add(self, *items: list) -> None:
        self.items.extend(list(i) for i in items)

    def spec(self) -> CaptionSpec:
        return CaptionSpec(self.nps, self.rels, self.items)


def one_relation(rng: random.Random, scene: Scene, r: int,
                 style: CaptionStyle = STYLE_V1) -> CaptionSpec:
    """A caption about relation r in one of several sentence patterns."""
    b = _Builder(rng, scene, style)
    s_i, rel, o_i = scene.relations[r]
    S, O = Mention(rng, scene.entities[s_i], s_i), Mention(rng, scene.entities[o_i], o_i)
    s_np = S.np(b.n_attrs(S))
    o_np = O.np(b.n_attrs(O))
    part = relation_words(rng, rel, S, "part")
    patterns = ["fragment", "progressive", "present", "there", "photo", "relative", "predicate"]
    if rel in PASSIVE:
        patterns.append("passive")
    pattern = rng.choice(patterns)
    s = b.np(s_np)
    if pattern == "present":
        k = b.rel(s, rel, s + 1, relation_words(rng, rel, S, "finite"))
        b.add(["np", s], ["rel", k, "finite"], ["np", b.np(o_np)])
        return b.spec()
    if pattern == "passive":
        be = rng.choice((0, 1, 2))  # nothing, "is", "is being"
        o = b.np(o_np)
        k = b.rel(s, rel, o, part)
        b.add(["np", o], *([["be", o]] if be else []), *([["w", "being"]] if be == 2 else []),
              ["rel", k, "passive"], ["w", "by"], ["np", s])
        return b.spec()
    if pattern == "predicate":
        groups = [g for g in O.e.attrs if g != "material"]
        if groups:
            g = rng.choice(groups)
            o_np = O.np(0, skip=g)
            o_np.pred = [[g, O.e.attrs[g], O.adjective(g)]]
            o = b.np(o_np)
            k = b.rel(s, rel, o, part)
            b.add(["np", s], ["rel", k, "part"], ["np", o], ["who", o], ["be", o], ["pred", o])
            return b.spec()
    o = b.np(o_np)
    k = b.rel(s, rel, o, part)
    lead = {"progressive": [["be", s]], "there": [], "relative": [["who", s], ["be", s]]}
    if pattern == "there":
        b.add(["w", "there"], ["be", s])
    if pattern == "photo":
        b.add(["w", rng.choice(("a photo of", "a picture of", "an image of", "a close up of"))])
    b.add(["np", s], *lead.get(pattern, []), ["rel", k, "part"], ["np", o])
    return b.spec()


def two_relations(rng: random.Random, scene: Scene, r1: int, r2: int,
                  style: CaptionStyle = STYLE_V1) -> CaptionSpec | None:
    """A caption joining two relations that share an entity, or None if they do not."""
    s1, rel1, o1 = scene.relations[r1]
    s2, rel2, o2 = scene.relations[r2]
    if s1 != s2 and s1 != o2:
        return None
    b = _Builder(rng, scene, style)
    E: dict[int, Mention] = {}

    def m(i: int) -> Mention:
        if i not in E:
            E[i] = Mention(rng, scene.entities[i], i)
        return E[i]

    def np_of(i: int) -> int:
        return b.np(m(i).np(b.n_attrs(m(i))))

    if s1 == s2:  # "A man holding an umbrella and standing next to a car"
        S = m(s1)
        p1, p2 = (relation_words(rng, r, S, "part") for r in (rel1, rel2))
        if rng.random() < 0.5:
            s, x = np_of(s1), np_of(o1)
            k1 = b.rel(s, rel1, x, p1)
            y = np_of(o2)
            k2 = b.rel(s, rel2, y, p2)
            b.add(["np", s], ["rel", k1, "part"], ["np", x], ["w", "and"], ["rel", k2, "part"],
                  ["np", y])
            return b.spec()
        f2 = relation_words(rng, rel2, S, "finite")
        s, x = np_of(s1), np_of(o1)
        k1 = b.rel(s, rel1, x, p1)
        y = np_of(o2)
        k2 = b.rel(s, rel2, y, f2)
        b.add(["np", s], ["who", s], ["be", s], ["rel", k1, "part"], ["np", x],
              ["rel", k2, "finite"], ["np", y])
        return b.spec()
    # s1 == o2: "A dog looks at a man who is holding a red umbrella"
    X, S = m(s2), m(s1)
    form2 = rng.choice(("finite", "part"))
    f2 = relation_words(rng, rel2, X, form2)
    p1 = relation_words(rng, rel1, S, "part")
    x, s = np_of(s2), np_of(s1)
    k2 = b.rel(x, rel2, s, f2)
    y = np_of(o1)
    k1 = b.rel(s, rel1, y, p1)
    b.add(["np", x], ["rel", k2, form2], ["np", s], ["who", s], ["be", s], ["rel", k1, "part"],
          ["np", y])
    return b.spec()


def _finish(rng: random.Random, spec: CaptionSpec, scene: Scene) -> CaptionSpec:
    if rng.random() < 0.25:
        spec.items.append(["set", rng.choice(SETTING_PHRASES[scene.setting])])
        spec.setting = scene.setting
    spec.period = rng.random() < 0.5
    return spec


def caption_specs(rng: random.Random, scene: Scene, k: int = 5,
                  style: CaptionStyle = STYLE_V1) -> list[CaptionSpec]:
    """k captions with distinct texts; caption c starts from relation c mod #relations, so
    together they cover different parts of the scene."""
    n = len(scene.relations)
    offset = rng.randrange(n)
    out: list[CaptionSpec] = []
    texts: list[str] = []
    for c in range(k):
        for _attempt in range(6):
            r = (offset + c) % n
            spec = None
            if n > 1 and rng.random() < style.two_relations:
                other = rng.choice([q for q in range(n) if q != r])
                spec = (two_relations(rng, scene, r, other, style)
                        or two_relations(rng, scene, other, r, style))
            spec = _finish(rng, spec or one_relation(rng, scene, r, style), scene)
            text = spec.text()
            if text not in texts:
                break
        out.append(spec)
        texts.append(text)
    return out


def captions(rng: random.Random, scene: Scene, k: int = 5,
             style: CaptionStyle = STYLE_V1) -> list[str]:
    """The texts of caption_specs."""
    return [s.text() for s in caption_specs(rng, scene, k, style)]

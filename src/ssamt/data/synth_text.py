"""English captions of a synthetic scene: each describes part of it, in varied forms.

Forms: fragments ("A man holding a red umbrella"), progressive and simple present
sentences, "there is", "a photo of", relative clauses ("a man who is holding a red
umbrella stands next to a car"), passives ("a ball chased by two dogs"), conjunctions,
predicative attributes ("an umbrella that is red"), with synonyms, plurals and numbers.
Every statement is true of the scene (attributes and relations come from it).
"""

from __future__ import annotations

import random

from ssamt.data.synth_scene import Entity, Scene
from ssamt.data.synth_world import PASSIVE, PREPOSITIONS, SIZES, SPATIAL, VERBS

NUMBERS = {2: "two", 3: "three"}
SETTING_PHRASES = {
    "park": ("in a park", "in the park"), "beach": ("on the beach", "at the beach"),
    "street": ("on a street", "on the street"), "kitchen": ("in a kitchen", "in the kitchen"),
    "field": ("in a field", "in a grassy field"), "room": ("in a room", "in a living room"),
}
# Adjective order in English: size/age/height, then colour, then material.
_ATTR_ORDER = ("size", "height", "age", "colour", "material")


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


class Mention:
    """How one entity is named in one caption (noun synonym fixed per caption)."""

    def __init__(self, rng: random.Random, e: Entity) -> None:
        self.e = e
        nouns = e.type.nouns
        self.noun = nouns[0] if len(nouns) == 1 or rng.random() < 0.6 else rng.choice(nouns[1:])
        self.plural = e.count > 1
        self.rng = rng

    def np(self, n_attrs: int, definite: bool = False, skip: str | None = None) -> str:
        """Noun phrase with up to n_attrs adjectives (leaving out group `skip`)."""
        groups = [g for g in _ATTR_ORDER if g in self.e.attrs and g != skip]
        chosen = set(self.rng.sample(groups, min(n_attrs, len(groups))))
        adjs = [self.adjective(g) for g in _ATTR_ORDER if g in chosen]
        noun = self.noun[1] if self.plural else self.noun[0]
        words = [*adjs, noun]
        if self.plural:
            head = ("the " if definite else "") + NUMBERS[self.e.count]
        else:
            head = "the" if definite else article(words[0])
        return " ".join([head, *words])

    def adjective(self, group: str) -> str:
        value = self.e.attrs[group]
        return self.rng.choice(SIZES[value]) if group == "size" else value

    @property
    def be(self) -> str:
        return "are" if self.plural else "is"

    @property
    def who(self) -> str:
        return "who" if "person" in self.e.type.kinds else "that"


def relation_phrase(rng: random.Random, rel: str, subj: Mention, form: str) -> str:
    """The relation's words for a subject: form "part" (holding / sitting on / next to),
    "finite" (holds / sits on / is next to)."""
    if rel in SPATIAL:
        prep = rng.choice(PREPOSITIONS[rel])
        posture = subj.e.type.animate and rng.random() < 0.5
        if form == "part":
            return f"{rng.choice(('sitting', 'standing'))} {prep}" if posture else prep
        if posture:
            verb = rng.choice((("sits", "sit"), ("stands", "stand")))
            return f"{verb[1] if subj.plural else verb[0]} {prep}"
        return f"{subj.be} {prep}"
    part, third, plural = rng.choice(VERBS[rel])
    if form == "part":
        return part
    return plural if subj.plural else third


def _n_attrs(rng: random.Random) -> int:
    return rng.choices((0, 1, 2), (0.3, 0.5, 0.2))[0]


def _finish(rng: random.Random, text: str, scene: Scene) -> str:
    if rng.random() < 0.25:
        text += " " + rng.choice(SETTING_PHRASES[scene.setting])
    text = text[0].upper() + text[1:]
    return text + "." if rng.random() < 0.5 else text


def one_relation(rng: random.Random, scene: Scene, r: int) -> str:
    """A caption about relation r in one of several sentence patterns."""
    s_i, rel, o_i = scene.relations[r]
    S, O = Mention(rng, scene.entities[s_i]), Mention(rng, scene.entities[o_i])
    s_np, o_np = S.np(_n_attrs(rng)), O.np(_n_attrs(rng))
    part = relation_phrase(rng, rel, S, "part")
    patterns = ["fragment", "progressive", "present", "there", "photo", "relative", "predicate"]
    if rel in PASSIVE:
        patterns.append("passive")
    pattern = rng.choice(patterns)
    if pattern == "fragment":
        return f"{s_np} {part} {o_np}"
    if pattern == "progressive":
        return f"{s_np} {S.be} {part} {o_np}"
    if pattern == "present":
        return f"{s_np} {relation_phrase(rng, rel, S, 'finite')} {o_np}"
    if pattern == "there":
        return f"there {S.be} {s_np} {part} {o_np}"
    if pattern == "photo":
        lead = rng.choice(("a photo of", "a picture of", "an image of", "a close up of"))
        return f"{lead} {s_np} {part} {o_np}"
    if pattern == "relative":
        return f"{s_np} {S.who} {S.be} {part} {o_np}"
    if pattern == "passive":
        return f"{o_np} {rng.choice(('', O.be + ' ', O.be + ' being '))}{PASSIVE[rel]} by {s_np}"
    # predicate: an attribute said after the noun ("an umbrella that is red")
    groups = [g for g in O.e.attrs if g != "material"]
    if not groups:
        return f"{s_np} {part} {o_np}"
    g = rng.choice(groups)
    return f"{s_np} {part} {O.np(0, skip=g)} {O.who} {O.be} {O.adjective(g)}"


def two_relations(rng: random.Random, scene: Scene, r1: int, r2: int) -> str | None:
    """A caption joining two relations that share an entity, or None if they do not."""
    s1, rel1, o1 = scene.relations[r1]
    s2, rel2, o2 = scene.relations[r2]
    E = {}

    def m(i: int) -> Mention:
        if i not in E:
            E[i] = Mention(rng, scene.entities[i])
        return E[i]

    if s1 == s2:  # "A man holding an umbrella and standing next to a car"
        S = m(s1)
        p1, p2 = (relation_phrase(rng, r, S, "part") for r in (rel1, rel2))
        if rng.random() < 0.5:
            return (f"{S.np(_n_attrs(rng))} {p1} {m(o1).np(_n_attrs(rng))} and {p2} "
                    f"{m(o2).np(_n_attrs(rng))}")
        f2 = relation_phrase(rng, rel2, S, "finite")
        return (f"{S.np(_n_attrs(rng))} {S.who} {S.be} {p1} {m(o1).np(_n_attrs(rng))} {f2} "
                f"{m(o2).np(_n_attrs(rng))}")
    if s1 == o2:  # "A dog looks at a man who is holding a red umbrella"
        X, S = m(s2), m(s1)
        f2 = relation_phrase(rng, rel2, X, rng.choice(("finite", "part")))
        p1 = relation_phrase(rng, rel1, S, "part")
        return (f"{X.np(_n_attrs(rng))} {f2} {S.np(_n_attrs(rng))} {S.who} {S.be} {p1} "
                f"{m(o1).np(_n_attrs(rng))}")
    return None


def captions(rng: random.Random, scene: Scene, k: int = 5) -> list[str]:
    """k distinct captions; caption c starts from relation c mod #relations, so together
    they cover different parts of the scene."""
    n = len(scene.relations)
    offset = rng.randrange(n)
    out: list[str] = []
    for c in range(k):
        for _attempt in range(6):
            r = (offset + c) % n
            text = None
            if n > 1 and rng.random() < 0.3:
                other = rng.choice([q for q in range(n) if q != r])
                text = two_relations(rng, scene, r, other) or two_relations(rng, scene, other, r)
            text = _finish(rng, text or one_relation(rng, scene, r), scene)
            if text not in out:
                break
        out.append(text)
    return out

"""Minimal-pair edits of a synthetic caption or scene, each checked false by scene truth.

A minimal pair is an image, a true caption, and the same caption with one edit that
makes it false (as SugarCrepe / ARO / Winoground pose it). Text-side edits of a CaptionSpec:

  swap-attribute     two objects' attributes of one group trade places ("a red cup on a blue
                     table" -> "a blue cup on a red table"); the bag of words is kept
  swap-role          subject and object of a relation trade places, where the reversed
                     relation is sensible (relation_allowed); the bag of words is kept
  count              a mention's count changes (a dog / two dogs / three dogs)
  replace-attribute  a stated attribute gets another value of its group
  replace-object     a mention gets another object type (its stated attributes allowed)
  replace-relation   a relation becomes another sensible one
  add-attribute      a mention gets an attribute its object does not have

Image-side edits of the scene (the caption stays; `minimal.py` renders the edited scene):

  image-swap-attribute  two objects of the scene trade their values of one attribute group
  image-swap-action     an action moves to the other object (subject and object trade places)

Every edited caption names only sensible relations and allowed attributes (so a prior over
plausible captions cannot tell it from the true one) and is false of the (edited) scene.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations

from ssamt.data.synth.caption import CaptionSpec, Rel, default_rel_words
from ssamt.data.synth.scene import Scene
from ssamt.data.synth.truth import caption_true
from ssamt.data.synth.world import (
    ACTIONS,
    OBJECT_TYPES,
    OBJECTS_BY_NAME,
    PASSIVE,
    RELATIONS,
    SIZES,
    SPATIAL,
    relation_allowed,
)

TEXT_EDITS = ("swap-attribute", "swap-role", "count", "replace-attribute", "replace-object",
              "replace-relation", "add-attribute")
IMAGE_EDITS = ("image-swap-attribute", "image-swap-action")
EDIT_TYPES = TEXT_EDITS + IMAGE_EDITS
SWAPS = tuple(e for e in EDIT_TYPES if "swap" in e)  # edits that keep the bag of words
_ATTR_ORDER = ("size", "height", "age", "colour", "material")


@dataclass
class Edit:
    """One candidate: the edit type, the edited caption (or the caption and the edited
    scene), and the word tags (CaptionSpec.render) that make up the edited span."""

    edit: str
    spec: CaptionSpec
    targets: set[tuple]
    scene: Scene | None = None  # the edited scene (image-side edits)

    def span(self, tags: list[tuple] | None = None) -> list[int]:
        """Indices of the edited words in the rendered caption; tags: its render()'s, when
        at hand."""
        tags = self.spec.render()[1] if tags is None else tags
        return [w for w, t in enumerate(tags) if t in self.targets]


def surface(group: str, value: str) -> str:
    return SIZES[value][0] if group == "size" else value


def plausible(spec: CaptionSpec) -> bool:
    """Every relation is sensible for its types and every stated attribute is allowed."""
    types = [OBJECTS_BY_NAME[n.type] for n in spec.nps]
    if any(v not in t.attrs.get(g, ()) for t, n in zip(types, spec.nps) for g, v in n.attrs()):
        return False
    return all(relation_allowed(types[r.subj], r.rel, types[r.obj]) for r in spec.rels)


def bag(spec: CaptionSpec, words: list[str] | None = None) -> list[str]:
    return sorted(spec.render()[0] if words is None else words)


def _attr_slots(spec: CaptionSpec) -> list[tuple[int, str, int]]:
    """(mention, "adj" | "pred", k) of every stated attribute."""
    return [(m, kind, k) for m, n in enumerate(spec.nps)
            for kind, lst in (("adj", n.adjs), ("pred", n.pred)) for k in range(len(lst))]


def _attr(spec: CaptionSpec, slot: tuple[int, str, int]) -> list[str]:
    m, kind, k = slot
    return (spec.nps[m].adjs if kind == "adj" else spec.nps[m].pred)[k]


def _np_tags(m: int, n) -> set[tuple]:
    return {("det", m), ("noun", m), *(("adj", m, k) for k in range(len(n.adjs)))}


def swap_attribute(spec: CaptionSpec) -> Iterator[Edit]:
    for a, b in combinations(_attr_slots(spec), 2):
        va, vb = _attr(spec, a), _attr(spec, b)
        if a[0] == b[0] or va[0] != vb[0] or va[1] == vb[1]:
            continue
        new = spec.copy()
        _attr(new, a)[1:], _attr(new, b)[1:] = vb[1:], va[1:]  # value and surface word
        yield Edit("swap-attribute", new, {(a[1], a[0], a[2]), (b[1], b[0], b[2])})


def swap_role(spec: CaptionSpec) -> Iterator[Edit]:
    for r in spec.rels:
        s, o = r.subj, r.obj
        if spec.nps[s].pred or spec.nps[o].pred:
            continue  # a predicate attribute stays in place: the swap would split it off
        new = spec.copy()
        new.nps[s], new.nps[o] = new.nps[o], new.nps[s]
        yield Edit("swap-role", new, _np_tags(s, new.nps[s]) | _np_tags(o, new.nps[o]))


def change_count(spec: CaptionSpec, scene: Scene) -> Iterator[Edit]:
    for m, n in enumerate(spec.nps):
        present = sum(e.count for e in scene.entities if e.type.name == n.type)
        for c in (1, 2, 3):
            if c != n.count and c != present:  # false in the plain counting sense too
                new = spec.copy()
                new.nps[m].count = c
                yield Edit("count", new, {("det", m), ("noun", m)})


def replace_attribute(spec: CaptionSpec) -> Iterator[Edit]:
    for slot in _attr_slots(spec):
        group, value, _ = _attr(spec, slot)
        for v in OBJECTS_BY_NAME[spec.nps[slot[0]].type].attrs[group]:
            if v != value:
                new = spec.copy()
                _attr(new, slot)[1:] = [v, surface(group, v)]
                yield Edit("replace-attribute", new, {(slot[1], slot[0], slot[2])})


def replace_object(spec: CaptionSpec) -> Iterator[Edit]:
    for m, n in enumerate(spec.nps):
        for t in OBJECT_TYPES:
            if t.name != n.type and _fits_type(spec, m, t):
                new = spec.copy()
                new.nps[m].type, new.nps[m].noun = t.name, t.nouns[0]
                yield Edit("replace-object", new, {("noun", m)})


def _fits_type(spec: CaptionSpec, m: int, t) -> bool:
    """Mention m could be of type t: its attributes allowed, its relations sensible."""
    if any(v not in t.attrs.get(g, ()) for g, v in spec.nps[m].attrs()):
        return False
    types = [OBJECTS_BY_NAME[n.type] for n in spec.nps]
    types[m] = t
    return all(relation_allowed(types[r.subj], r.rel, types[r.obj]) for r in spec.rels)


def replace_relation(spec: CaptionSpec) -> Iterator[Edit]:
    for r, rel in enumerate(spec.rels):
        forms = {i[2] for i in spec.items if i[0] == "rel" and i[1] == r}
        for other in RELATIONS:
            if other == rel.rel or ("passive" in forms and other not in PASSIVE):
                continue
            words = default_rel_words(other)
            if other in SPATIAL and rel.rel in SPATIAL:
                words[1] = rel.words[1]  # keep the posture ("sitting on" -> "sitting under")
            new = spec.copy()
            new.rels[r] = Rel(rel.subj, other, rel.obj, words)
            yield Edit("replace-relation", new, {("rel", r)})


def add_attribute(spec: CaptionSpec, scene: Scene) -> Iterator[Edit]:
    for m, n in enumerate(spec.nps):
        stated = {g for g, _ in n.attrs()}
        actual = scene.entities[n.entity].attrs if 0 <= n.entity < len(scene.entities) else {}
        for group, values in OBJECTS_BY_NAME[n.type].attrs.items():
            if group in stated:
                continue
            for v in values:
                if v == actual.get(group):
                    continue
                new = spec.copy()
                adjs = new.nps[m].adjs + [[group, v, surface(group, v)]]
                adjs.sort(key=lambda a: _ATTR_ORDER.index(a[0]))
                new.nps[m].adjs = adjs
                k = next(i for i, a in enumerate(adjs) if a[0] == group)
                yield Edit("add-attribute", new, {("adj", m, k)})


def text_edits(spec: CaptionSpec, scene: Scene) -> Iterator[Edit]:
    """Every text-side edit of a true caption that is sensible and false of the scene."""
    source = spec.text()
    source_bag = bag(spec)
    for gen in (swap_attribute(spec), swap_role(spec), change_count(spec, scene),
                replace_attribute(spec), replace_object(spec), replace_relation(spec),
                add_attribute(spec, scene)):
        for e in gen:
            if not plausible(e.spec):
                continue
            words, tags = e.spec.render()  # once: the checks below read it three times
            if e.spec.text(words) == source or not e.span(tags):
                continue
            if "swap" in e.edit and bag(e.spec, words) != source_bag:
                continue  # agreement changed ("is" -> "are"): not a pure swap
            if not caption_true(e.spec, scene):
                yield e


# ----- image side -------------------------------------------------------------------------


def _mention_tags(spec: CaptionSpec, entities: set[int], group: str) -> set[tuple]:
    return {(kind, m, k) for m, kind, k in _attr_slots(spec)
            if spec.nps[m].entity in entities and _attr(spec, (m, kind, k))[0] == group}


def image_edits(scene: Scene, specs: list[CaptionSpec]) -> Iterator[tuple[int, Edit]]:
    """(caption index, Edit) for each image-side edit of the scene and each of its captions
    that it makes false; the Edit's spec is the unchanged caption, its scene the edited one."""
    ents = scene.entities
    for a, b in combinations(range(len(ents)), 2):
        for g in sorted(set(ents[a].attrs) & set(ents[b].attrs)):  # sorted: no hash order
            va, vb = ents[a].attrs[g], ents[b].attrs[g]
            if va == vb or va not in ents[b].type.attrs[g] or vb not in ents[a].type.attrs[g]:
                continue
            edited = copy.deepcopy(scene)
            edited.entities[a].attrs[g], edited.entities[b].attrs[g] = vb, va
            yield from _falsified(specs, edited, "image-swap-attribute",
                                  _attribute_tagger({a, b}, g))
    for k, (s, rel, o) in enumerate(scene.relations):
        if rel in ACTIONS:
            edited = copy.deepcopy(scene)
            edited.relations[k] = (o, rel, s)
            yield from _falsified(specs, edited, "image-swap-action", _action_tagger(rel, s, o))


def _attribute_tagger(entities: set[int], group: str):
    """caption -> tags of its attributes of `group` on mentions of `entities`."""
    return lambda spec: _mention_tags(spec, entities, group)


def _action_tagger(rel: str, s: int, o: int):
    """caption -> tags of its relation words naming `rel` between entities s and o."""
    return lambda sp: {("rel", r) for r, x in enumerate(sp.rels) if x.rel == rel
                       and {sp.nps[x.subj].entity, sp.nps[x.obj].entity} == {s, o}}


def _falsified(specs, edited: Scene, name: str, tags_of) -> Iterator[tuple[int, Edit]]:
    for c, spec in enumerate(specs):
        if not caption_true(spec, edited):
            e = Edit(name, spec, tags_of(spec), edited)
            if e.span():
                yield c, e
